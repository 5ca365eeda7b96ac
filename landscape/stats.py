"""Basin statistics: binomial intervals, shares of runs per basin and restart curves.

How much of the initialization space drains into each basin, with honest error bars:
:func:`wilson_interval` and :func:`bootstrap_interval` for one share, :func:`basin_shares` for
every cluster and run category (per value of a swept parameter), and :func:`restart_curve`
(P(success within k restarts), from the runs themselves beside ``1 - (1 - p)^k``). Labels are
those of :func:`landscape.minima.cluster_runs`: clusters ``>= 0``, run categories < 0
(:data:`landscape.status.CATEGORY`). Host-side NumPy and SciPy.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from . import _checks
from . import status as st

__all__ = ["wilson_interval", "bootstrap_interval", "BasinShares", "basin_shares", "RestartCurve",
           "restart_curve"]

def _z(confidence) -> float:
    confidence = _checks.real("confidence", confidence, low=0.0, high=1.0, low_open=True,
                              high_open=True)
    from scipy.stats import norm

    return float(norm.ppf(0.5 + confidence / 2))


def wilson_interval(successes, trials, *, confidence: float = 0.95):
    """Wilson score interval ``(lo, hi)`` for a binomial proportion ``successes / trials``
    (arrays broadcast). With ``z`` the normal quantile of ``(1 + confidence) / 2`` and
    ``p = k / n``::

        center = (p + z^2 / 2n) / (1 + z^2 / n)
        half   = z sqrt(p (1 - p) / n + z^2 / 4n^2) / (1 + z^2 / n)

    It stays inside ``[0, 1]``, is not degenerate at ``k = 0`` or ``k = n`` and covers the true
    share close to the nominal rate even for small ``n`` (Wilson 1927; Brown, Cai & DasGupta
    2001). ``trials = 0`` gives the uninformative ``(0, 1)``.

    >>> lo, hi = wilson_interval(0, 4000)              # no success in 4,000 runs
    >>> float(lo), round(float(hi), 5)
    (0.0, 0.00096)
    """
    k = np.asarray(successes, np.float64)
    n = np.asarray(trials, np.float64)
    if np.any(n < 0) or np.any(k < 0) or np.any(k > n) or not np.all(np.isfinite(k + n)):
        raise ValueError(f"need 0 <= successes <= trials, got successes={successes!r}, trials={trials!r}")
    z = _z(confidence)
    safe = np.where(n > 0, n, 1.0)
    p = k / safe
    denom = 1 + z * z / safe
    center = (p + z * z / (2 * safe)) / denom
    half = z * np.sqrt(p * (1 - p) / safe + z * z / (4 * safe * safe)) / denom
    # the ends are exact at k = 0 and k = n (rounding would leave 1e-17 off)
    lo = np.where((n > 0) & (k > 0), np.clip(center - half, 0.0, 1.0), 0.0)
    hi = np.where((n > 0) & (k < n), np.clip(center + half, 0.0, 1.0), 1.0)
    return lo, hi


def bootstrap_interval(labels, category, *, confidence: float = 0.95, n_boot: int = 2000,
                       seed: int = 0):
    """Percentile bootstrap interval ``(lo, hi)`` of the share of runs with label ``category``.

    Resampling the ``n`` runs with replacement makes the count of ``category`` in a resample
    ``Binomial(n, share)``; the ``n_boot`` resampled shares are drawn that way
    (``numpy.random.default_rng(seed)``), which is the same distribution without the
    ``n_boot x n`` index array.

    >>> import numpy as np
    >>> lo, hi = bootstrap_interval(np.array([0] * 70 + [1] * 30), 1)
    >>> bool(lo < 0.3 < hi)
    True
    """
    labels = np.asarray(labels).ravel()
    _z(confidence)
    n_boot = _checks.count("n_boot", n_boot)
    if labels.size == 0:
        return 0.0, 1.0
    hits = (labels == category).astype(np.float64)
    rng = np.random.default_rng(seed)
    shares = rng.binomial(labels.size, hits.mean(), size=n_boot) / labels.size
    alpha = (1 - confidence) / 2
    return float(np.quantile(shares, alpha)), float(np.quantile(shares, 1 - alpha))


@dataclasses.dataclass(frozen=True, eq=False)
class BasinShares:
    """Shares of runs per category (clusters and the moving/diverged/nonfinite codes), per value
    of a swept parameter.

    categories: ``(C,)`` label codes; names: their names (``"cluster 0"``, ``"moving"``...).
    groups:     ``(G,)`` the swept parameter's values (``[nan]`` when there is none).
    counts:     ``(G, C)`` runs; totals ``(G,)``; shares, lo, hi ``(G, C)``: fraction of all
                runs of the group and its confidence interval (``method``).
    """

    categories: np.ndarray
    names: tuple[str, ...]
    groups: np.ndarray
    counts: np.ndarray
    totals: np.ndarray
    shares: np.ndarray
    lo: np.ndarray
    hi: np.ndarray
    confidence: float
    method: str


def _category_name(code: int) -> str:
    return st.CATEGORY[code] if int(code) in st.CATEGORY.codes else f"cluster {int(code)}"


def basin_shares(labels, *, groups=None, categories=None, confidence: float = 0.95,
                 method: str = "wilson", n_boot: int = 2000, seed: int = 0) -> BasinShares:
    """The fraction of runs that ended in each category (cluster label or category code), with
    confidence intervals: ``method="wilson"`` (:func:`wilson_interval`, default) or
    ``"bootstrap"`` (:func:`bootstrap_interval`). Shares are of *all* runs of a group, moving and
    diverged ones included, so they are probabilities per run started.

    ``groups``: ``(n_runs,)`` value of a swept parameter per run (init scale, width, learning
    rate): one row of shares per distinct value, in ascending order. ``categories``: which
    label codes to report (default: every code present, clusters first).

    >>> import numpy as np
    >>> s = basin_shares(np.array([0, 0, 1, 0, 1, 1]), groups=np.array([1., 1., 1., 2., 2., 2.]))
    >>> s.shares.round(3).tolist(), s.groups.tolist()
    ([[0.667, 0.333], [0.333, 0.667]], [1.0, 2.0])
    """
    labels = np.asarray(labels)
    if labels.ndim != 1 or not np.issubdtype(labels.dtype, np.integer):
        raise ValueError(f"labels must be a 1-D integer array of cluster labels, got shape "
                         f"{labels.shape} and dtype {labels.dtype}")
    if method not in ("wilson", "bootstrap"):
        raise ValueError(f"method={method!r} is not known; expected 'wilson' or 'bootstrap'")
    _z(confidence)
    if groups is None:
        group_of = np.zeros(labels.size, np.int64)
        values = np.array([np.nan])
    else:
        g = _checks.per_item("groups", groups, labels.size)
        values, group_of = np.unique(g, return_inverse=True)
    if categories is None:
        present = np.unique(labels)
        categories = np.concatenate([present[present >= 0], np.sort(present[present < 0])[::-1]])
    categories = np.asarray(categories, np.int64).ravel()
    counts = np.array([[np.sum((group_of == i) & (labels == c)) for c in categories]
                       for i in range(len(values))], np.int64).reshape(len(values), len(categories))
    totals = np.bincount(group_of, minlength=len(values))
    shares = counts / np.maximum(totals, 1)[:, None]
    if method == "wilson":
        lo, hi = wilson_interval(counts, np.broadcast_to(totals[:, None], counts.shape),
                                 confidence=confidence)
    else:
        lo = np.zeros(counts.shape)
        hi = np.ones(counts.shape)
        for i in range(len(values)):
            for j, c in enumerate(categories):
                lo[i, j], hi[i, j] = bootstrap_interval(labels[group_of == i], c, confidence=confidence,
                                                        n_boot=n_boot, seed=seed)
    return BasinShares(categories, tuple(_category_name(c) for c in categories), values, counts,
                       totals, shares, np.asarray(lo), np.asarray(hi), float(confidence), method)


@dataclasses.dataclass(frozen=True, eq=False)
class RestartCurve:
    """P(at least one of ``k`` independent restarts succeeds), ``k = ks``.

    p, p_lo, p_hi: the per-run success share and its Wilson interval.
    formula, lo, hi: ``1 - (1 - p)^k`` and the same map applied to the interval ends (the map is
                    increasing in ``p``, so the interval carries over with its coverage).
    empirical:    estimated from the runs themselves, without the independence formula: the
                  fraction of all ``k``-subsets of the ``n`` runs that contain a success,
                  ``1 - C(n - s, k) / C(n, k)`` (NaN for ``k > n``).
    """

    ks: np.ndarray
    n: int
    successes: int
    p: float
    p_lo: float
    p_hi: float
    formula: np.ndarray
    lo: np.ndarray
    hi: np.ndarray
    empirical: np.ndarray
    confidence: float


def restart_curve(success, ks=None, *, confidence: float = 0.95) -> RestartCurve:
    """The success-against-restarts curve from per-run outcomes.

    ``success``: ``(n_runs,)`` bool, e.g. ``labels == 0`` (the run reached the global class);
    runs that diverged or are still moving count as failures. ``ks``: restart counts (default
    ``1 .. 20``). See :class:`RestartCurve`.

    >>> import numpy as np
    >>> curve = restart_curve(np.array([True, False, False, False]), ks=[1, 2, 3])
    >>> curve.formula.round(4).tolist()               # 1 - 0.75^k
    [0.25, 0.4375, 0.5781]
    """
    s = np.asarray(success)
    if s.ndim != 1 or s.dtype != bool:
        raise ValueError(f"success must be a 1-D bool array (one outcome per run), got shape "
                         f"{s.shape} and dtype {s.dtype}")
    if s.size == 0:
        raise ValueError("success is empty: no runs to estimate from")
    ks = np.arange(1, 21) if ks is None else np.asarray(ks)
    if ks.ndim != 1 or ks.size == 0 or not np.issubdtype(ks.dtype, np.integer) or np.any(ks < 1):
        raise ValueError(f"ks={ks!r} must be a non-empty 1-D array of positive integers")
    n, k_s = int(s.size), int(s.sum())
    lo, hi = wilson_interval(k_s, n, confidence=confidence)
    p = k_s / n
    curve = lambda q: 1.0 - (1.0 - q) ** ks  # noqa: E731
    from scipy.special import gammaln

    def log_choose(a, b):
        return gammaln(a + 1) - gammaln(b + 1) - gammaln(a - b + 1)

    fails = n - k_s
    # P(a random k-subset holds no success) = C(n - s, k) / C(n, k); 0 once k > n - s
    kk = np.minimum(ks, fails)
    none = np.where(ks <= fails, np.exp(log_choose(fails, kk) - log_choose(n, np.minimum(ks, n))), 0.0)
    empirical = np.where(ks <= n, 1.0 - none, np.nan)
    return RestartCurve(ks, n, k_s, p, float(lo), float(hi), curve(p), curve(float(lo)),
                        curve(float(hi)), empirical, float(confidence))


"""Symmetry plots: the symmetry gap over training, each hidden unit's weights, success rates
with confidence intervals, escape steps against the initial perturbation."""

from __future__ import annotations

import numpy as np
from matplotlib.colors import ListedColormap
from matplotlib.lines import Line2D
from matplotlib.patches import Patch

from landscape.status import GAP

from ._style import _check_ax, _runs_matrix, _vector
from .training import plot_quantile_band

__all__ = ["plot_symmetry_gap", "plot_unit_weights", "plot_unit_signals", "plot_success_rates",
           "plot_escape_steps", "plot_gap_status_grid"]

_UNIT_STYLES = ("-", "--", ":", "-.", (0, (5, 1, 1, 1)), (0, (1, 3)), (0, (8, 2)))


def plot_symmetry_gap(ax, steps, gaps, *, quantiles=(0.1, 0.9), floor=None, color=None, label=None):
    """The symmetry gap over training on a log scale: median and quantile band over runs of
    ``gaps (n_runs, n_records)`` (e.g. :func:`landscape.symmetry.gap_history`) at ``steps``.

    A gap of exactly 0 (bit-identical units) has no place on a log axis: it is drawn at
    ``floor`` (default ``1e-20``, or a thousandth of the smallest positive gap if that is lower),
    marked by a dotted line labelled "exactly 0". Returns the dict of
    :func:`plot_quantile_band` plus ``"floor"`` (the Line2D of the floor).

    >>> import numpy as np
    >>> from matplotlib.figure import Figure
    >>> from landscape import plotting
    >>> ax = Figure().add_subplot()
    >>> steps = np.arange(0, 101, 10)
    >>> gaps = np.zeros((8, steps.size))              # bit-identical units: drawn at the floor
    >>> sorted(plotting.plot_symmetry_gap(ax, steps, gaps, label="constant start"))
    ['band', 'floor', 'line']
    """
    gaps = _runs_matrix("gaps", gaps)
    if np.any(gaps < 0):
        raise ValueError("gaps must be non-negative (distances to the symmetric subspace)")
    if floor is None:
        positive = gaps[gaps > 0]
        floor = min(1e-20, float(positive.min()) / 1e3) if positive.size else 1e-20
    art = plot_quantile_band(ax, steps, gaps, quantiles=quantiles, log=True, floor=floor,
                             color=color, label=label)
    art["floor"] = ax.axhline(floor, color="gray", linestyle=":", linewidth=1.0)
    ax.annotate("exactly 0", (0.99, floor), xycoords=("axes fraction", "data"), ha="right",
                va="bottom", fontsize="small", color="gray")
    ax.set_xlabel("step")
    ax.set_ylabel("symmetry gap (distance to equal units)")
    return art


def plot_unit_weights(ax, steps, units, *, names=None, colors=None, legend=True):
    """Each hidden unit's parameters over training: ``units (n_records, H, k)`` (e.g.
    :func:`landscape.symmetry.unit_params` of a recorded trajectory: incoming weights, bias,
    outgoing weights), one colour per unit and one line style per parameter (``names``: ``k``
    labels for the legend). Units that stay identical draw on top of each other.

    Returns ``{"lines": [[Line2D] * k] * H, "legend": Legend or None}``; the legend (outside the
    axes, on the right) has one entry per unit (its colour) and one per parameter (its style).

    >>> import numpy as np
    >>> from matplotlib.figure import Figure
    >>> from landscape import plotting
    >>> ax = Figure().add_subplot()
    >>> units = np.ones((11, 2, 4)) * np.linspace(0, 1, 11)[:, None, None]  # 2 equal units
    >>> art = plotting.plot_unit_weights(ax, np.arange(11), units, names=["w1", "w2", "b", "out"])
    >>> len(art["lines"]), len(art["lines"][0]), len(art["legend"].get_lines())
    (2, 4, 6)
    """
    _check_ax(ax)
    steps = _vector("steps", steps)
    units = np.asarray(units, dtype=float)
    if units.ndim != 3 or units.shape[0] != steps.size or units.size == 0:
        raise ValueError(f"units of shape {units.shape} must be (n_records, H, k) with "
                         f"n_records = len(steps) = {steps.size}")
    n_units, k = units.shape[1:]
    if names is None:
        names = [f"param {i}" for i in range(k)]
    if len(names) != k:
        raise ValueError(f"names={names!r} must give {k} parameter names")
    if colors is None:
        colors = [f"C{j % 10}" for j in range(n_units)]
    if len(colors) != n_units:
        raise ValueError(f"colors={colors!r} must give {n_units} colours, one per unit")
    lines = []
    for j in range(n_units):
        row = []
        for i in range(k):
            # later units drawn thinner on top, so identical units show as one line
            (line,) = ax.plot(steps, units[:, j, i], color=colors[j],
                              linestyle=_UNIT_STYLES[i % len(_UNIT_STYLES)],
                              linewidth=_unit_width(j, n_units), alpha=0.9)
            row.append(line)
        lines.append(row)
    ax.set_xlabel("step")
    ax.set_ylabel("parameter value")
    handles = None
    if legend:
        handles = ([Line2D([], [], color=c, label=f"unit {j}") for j, c in enumerate(colors)]
                   + [Line2D([], [], color="gray", linestyle=_UNIT_STYLES[i % len(_UNIT_STYLES)],
                             label=name) for i, name in enumerate(names)])
        handles = ax.legend(handles=handles, fontsize="small", loc="upper left",
                            bbox_to_anchor=(1.01, 1.0), borderaxespad=0)
    return {"lines": lines, "legend": handles}


def _unit_width(j: int, n_units: int) -> float:
    """Line width of unit ``j``: later units thinner, so identical units show as one line."""
    return 2.6 - 1.4 * j / max(n_units - 1, 1)


def plot_unit_signals(ax, steps, values, *, colors=None, log=True, label="unit"):
    """One line per hidden unit of ``values (n_records, H)`` over ``steps``: e.g. each unit's
    error signal or update size. Later units are drawn thinner and dashed on top, so units that
    get identical values show as one line with a dashed core; with ``log`` the absolute values
    on a log axis (zeros at a tenth of the smallest positive value). Returns ``{"lines": [Line2D] * H}``.

    >>> import numpy as np
    >>> from matplotlib.figure import Figure
    >>> from landscape import plotting
    >>> ax = Figure().add_subplot()
    >>> same = np.exp(-np.linspace(0, 3, 11))[:, None] * np.ones((1, 2))  # 2 identical units
    >>> len(plotting.plot_unit_signals(ax, np.arange(11), same)["lines"])
    2
    """
    _check_ax(ax)
    steps = _vector("steps", steps)
    values = np.asarray(values, dtype=float)
    if values.ndim != 2 or values.shape[0] != steps.size or values.size == 0:
        raise ValueError(f"values of shape {values.shape} must be (n_records, H) with "
                         f"n_records = len(steps) = {steps.size}")
    n_units = values.shape[1]
    if colors is None:
        colors = [f"C{j % 10}" for j in range(n_units)]
    if len(colors) != n_units:
        raise ValueError(f"colors={colors!r} must give {n_units} colours, one per unit")
    if log:
        values = np.abs(values)
        positive = values[values > 0]
        values = np.maximum(values, positive.min() / 10 if positive.size else 1e-300)
    lines = [ax.plot(steps, values[:, j], color=colors[j], label=f"{label} {j}",
                     linewidth=_unit_width(j, n_units), linestyle="-" if j == 0 else "--")[0]
             for j in range(n_units)]
    if log:
        ax.set_yscale("log")
    ax.set_xlabel("step")
    return {"lines": lines}


def plot_success_rates(ax, names, successes, n, lo, hi, *, colors=None, annotate=True):
    """One bar per group: the success rate ``successes / n`` with the interval ``[lo, hi]``
    (e.g. :func:`landscape.stats.wilson_interval`) as an error bar, and ``k/n`` written above.

    Returns ``{"bars": BarContainer, "errorbar": ErrorbarContainer, "labels": [Text]}``.

    >>> import numpy as np
    >>> from matplotlib.figure import Figure
    >>> from landscape import plotting
    >>> ax = Figure().add_subplot()
    >>> from landscape import stats
    >>> k, n = np.array([0, 3111]), 4000
    >>> lo, hi = stats.wilson_interval(k, n)
    >>> art = plotting.plot_success_rates(ax, ["constant", "random"], k, n, lo, hi)
    """
    _check_ax(ax)
    k = _vector("successes", successes).astype(float)
    n = np.broadcast_to(np.asarray(n, dtype=float), k.shape)
    lo = _vector("lo", lo).astype(float)
    hi = _vector("hi", hi).astype(float)
    if not (len(names) == k.size == lo.size == hi.size):
        raise ValueError(f"names ({len(names)}), successes ({k.size}), lo ({lo.size}) and hi "
                         f"({hi.size}) must have one entry per group")
    if np.any(n <= 0) or np.any(k < 0) or np.any(k > n):
        raise ValueError("need 0 <= successes <= n and n > 0 for every group")
    rate = k / n
    if np.any(lo > rate + 1e-12) or np.any(hi < rate - 1e-12):
        raise ValueError("each interval [lo, hi] must contain its rate successes / n")
    x = np.arange(k.size)
    bars = ax.bar(x, rate, color=colors, alpha=0.8)
    err = ax.errorbar(x, rate, yerr=np.stack([rate - lo, hi - rate]), fmt="none", ecolor="black",
                      capsize=6)
    labels = []
    if annotate:
        for xi, ki, ni, top in zip(x, k, n, hi):
            labels.append(ax.text(xi, min(top + 0.02, 1.02), f"{int(ki)}/{int(ni)}", ha="center",
                                  va="bottom", fontsize="small"))
    ax.set_xticks(x, list(names))
    ax.set_ylim(0, 1.1)
    ax.set_ylabel("success rate")
    return {"bars": bars, "errorbar": err, "labels": labels}


def plot_escape_steps(ax, eps, steps, *, predicted=None, max_steps=None, color=None, label=None):
    """Steps until the symmetry gap passed a threshold against the initial perturbation ``eps``
    (log x axis): measured points; runs that never escaped (``steps < 0``) as open triangles at
    ``max_steps`` (default: the largest measured value); the linearized law ``predicted`` (e.g.
    :attr:`landscape.symmetry.Escape.predicted`, ``ln(thr/eps) / ln(1 + lr |lambda|)``) as a
    dashed line where it is finite, labelled "linear law".

    Returns ``{"measured": PathCollection, "never": PathCollection or None, "predicted": Line2D or None}``.

    >>> import numpy as np
    >>> from matplotlib.figure import Figure
    >>> from landscape import plotting
    >>> ax = Figure().add_subplot()
    >>> eps = np.logspace(-8, -3, 6)
    >>> predicted = np.log(1e-2 / eps) / np.log1p(0.5 * 0.1)
    >>> art = plotting.plot_escape_steps(ax, eps, np.round(predicted), predicted=predicted)
    """
    _check_ax(ax)
    eps = _vector("eps", eps).astype(float)
    steps = _vector("steps", steps).astype(float)
    if eps.shape != steps.shape:
        raise ValueError(f"eps {eps.shape} and steps {steps.shape} must have the same shape")
    if np.any(eps <= 0):
        raise ValueError("eps must be positive (log axis)")
    ok = steps >= 0
    measured = ax.scatter(eps[ok], steps[ok], color=color, label=label, zorder=3, s=22)
    never = None
    if np.any(~ok):
        if max_steps is None:
            max_steps = float(steps[ok].max()) if np.any(ok) else 1.0
        never = ax.scatter(eps[~ok], np.full(np.sum(~ok), float(max_steps)), marker="^",
                           facecolors="none", edgecolors=measured.get_facecolor()[0],
                           label=f"{label}: not escaped" if label else "not escaped", zorder=3, s=30)
    line = None
    if predicted is not None:
        pred = _vector("predicted", predicted).astype(float)
        if pred.shape != eps.shape:
            raise ValueError(f"predicted {pred.shape} must have the shape of eps {eps.shape}")
        finite = np.isfinite(pred)
        if np.any(finite):
            order = np.argsort(eps[finite])
            (line,) = ax.plot(eps[finite][order], pred[finite][order], linestyle="--",
                              color=measured.get_facecolor()[0],
                              label=f"{label}: linear law" if label else
                              "linear law ln(thr/eps) / ln(1 + lr|lambda|)")
    ax.set_xscale("log")
    ax.set_xlabel("initial symmetry-breaking perturbation eps")
    ax.set_ylabel("steps until the gap passes the threshold")
    return {"measured": measured, "never": never, "predicted": line}


_GAP_COLORS = ("#2ca02c", "#bcbd22", "#ff7f0e", "#d62728")
"""Colours of the symmetry-gap statuses exact, rounding, amplified, broken (green to red)."""
_GAP_LABELS = ("bit-identical", "equal within rounding", "apart by grown rounding", "separated")
"""The legend's plain words for the symmetry-gap statuses exact, rounding, amplified, broken."""


def plot_gap_status_grid(ax, status, max_gap=None, *, rows, columns, legend=True):
    """A grid of symmetry-gap statuses (codes of :data:`landscape.status.GAP`), ``status
    (len(rows), len(columns))``: one coloured cell each, green (exact) to red (broken), with the
    largest gap ``max_gap`` written in it. Returns ``{"image": AxesImage, "texts": [Text],
    "legend": Legend or None}``.

    >>> import numpy as np
    >>> from matplotlib.figure import Figure
    >>> from landscape import plotting
    >>> ax = Figure().add_subplot()
    >>> art = plotting.plot_gap_status_grid(ax, np.array([[0, 3]]), np.array([[0.0, 0.8]]),
    ...                                     rows=["sgd"], columns=["fast", "vmap"])
    >>> [t.get_text() for t in art["texts"]]
    ['0', '0.8']
    """
    _check_ax(ax)
    status = np.asarray(status)
    if status.shape != (len(rows), len(columns)):
        raise ValueError(f"status of shape {status.shape} must be (len(rows), len(columns)) = "
                         f"{(len(rows), len(columns))}")
    if status.size and (status.min() < 0 or status.max() >= len(GAP)):
        raise ValueError(f"status codes must be GAP codes 0..{len(GAP) - 1}")
    image = ax.imshow(status, cmap=ListedColormap(_GAP_COLORS), vmin=-0.5,
                      vmax=len(_GAP_COLORS) - 0.5, aspect="auto")
    texts = []
    if max_gap is not None:
        max_gap = np.asarray(max_gap, dtype=float)
        for (i, j), gap in np.ndenumerate(max_gap):
            texts.append(ax.text(j, i, "0" if gap == 0 else f"{gap:.2g}", ha="center",
                                 va="center", fontsize="small"))
    ax.set_xticks(np.arange(len(columns)), list(columns))
    ax.set_yticks(np.arange(len(rows)), list(rows))
    handle = None
    if legend:
        handle = ax.legend(handles=[Patch(color=c, label=label)
                                    for c, label in zip(_GAP_COLORS, _GAP_LABELS)],
                           fontsize="small", loc="upper left", bbox_to_anchor=(1.01, 1.0),
                           borderaxespad=0, title="hidden units end", title_fontsize="small")
    return {"image": image, "texts": texts, "legend": handle}

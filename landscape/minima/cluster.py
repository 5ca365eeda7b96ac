"""Clustering the end points of many runs modulo the symmetry group: run categories (moving,
diverged, non-finite: :data:`landscape.status.CATEGORY`), loss windows, tolerances read from the
data, exact single linkage, and :func:`cluster_runs` with its :class:`ClusterOptions`.
"""

from __future__ import annotations

import dataclasses
import math

import jax
import jax.numpy as jnp
import numpy as np

from .. import _checks
from .. import status as st
from .canonical import _flatten, _flips_on, _one_axis, _resolve, flat_centered
from .distances import AUTO_ORBIT, SYMMETRY_MODES, _check_symmetry, _outputs, orbit_vectors
from ._union_find import UnionFind
from .hierarchy import (LEVELS, MAX_ALONE, MIN_GAP, Level, _classes_within, _first_appearance,
                        groups_and_classes, hierarchy)

_MOVING = st.CATEGORY.code("moving")
_DIVERGED = st.CATEGORY.code("diverged")
_NONFINITE = st.CATEGORY.code("nonfinite")
SPACES = ("function", "param", "both")
GRAD_GAP = 10.0
"""Default moving rule: a run is still moving when its final gradient norm is more than this
factor (one decade) above the median run's (and above the dtype floor)."""
LOSS_QUANTILE = 0.9
"""The loss scale of the moving rule's floor: this quantile of the runs' final |loss|."""
LOSS_GAP = 0.05
"""Default loss-window split: a gap of more than this many decades between sorted final losses."""
LOSS_ATOL_RTOL = 0.01
"""Default absolute loss-window gap, as a fraction of the range of the final losses."""


def single_linkage(features, tol: float) -> np.ndarray:
    """``(n,)`` component labels of the graph joining points closer than ``tol`` (Euclidean):
    exactly single-linkage clustering cut at ``tol``, without the ``n^2`` distances.

    A greedy cover picks leaders so that every point lies within ``tol / 2`` of its leader
    (one KD-tree ball query per leader). Every point is joined to its leader and to each leader
    within ``tol`` of it (sparse KD-tree distances, then connected components); two leaders
    whose components still differ can only be linked through two non-leader members if the
    leaders are within ``2 tol``: such pairs are settled by checking their member sets with
    KD-trees. Labels count from 0 in order of first appearance.

    >>> import numpy as np
    >>> single_linkage(np.array([[0.0], [0.1], [0.2], [5.0]]), 0.15).tolist()  # a chain
    [0, 0, 0, 1]
    """
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components
    from scipy.spatial import cKDTree

    x = np.asarray(features, np.float64)
    if x.ndim != 2:
        raise ValueError(f"features of shape {x.shape} must be (n_points, n_features)")
    n = x.shape[0]
    if n == 0:
        return np.zeros(0, np.int64)
    if not np.isfinite(tol):
        return np.zeros(n, np.int64)
    if not tol > 0:
        raise ValueError(f"tol={tol!r} must be > 0")
    tree = cKDTree(x)
    leader_of = np.full(n, -1, np.int64)
    leaders = []
    for i in range(n):
        if leader_of[i] >= 0:
            continue
        near = np.asarray(tree.query_ball_point(x[i], tol / 2), np.int64)
        near = near[leader_of[near] < 0]
        leader_of[near] = len(leaders)
        leader_of[i] = len(leaders)
        leaders.append(i)
    m = len(leaders)
    if m == 1:
        return np.zeros(n, np.int64)
    leaders = np.asarray(leaders)
    ltree = cKDTree(x[leaders])
    near = tree.sparse_distance_matrix(ltree, tol, output_type="ndarray")  # point i, leader j
    rows = np.concatenate([leader_of, leader_of[near["i"]]])
    cols = np.concatenate([leader_of, near["j"]])
    graph = coo_matrix((np.ones(rows.size), (rows, cols)), shape=(m, m))
    _, comp = connected_components(graph, directed=False)
    sets = UnionFind(int(comp.max()) + 1)
    pairs = ltree.query_pairs(2 * tol, output_type="ndarray")
    pairs = pairs[comp[pairs[:, 0]] != comp[pairs[:, 1]]] if len(pairs) else pairs
    if len(pairs):
        order = np.argsort(leader_of, kind="stable")
        bounds = np.searchsorted(leader_of[order], np.arange(m + 1))
        members = lambda k: order[bounds[k]:bounds[k + 1]]  # noqa: E731
        trees = {}
        for a, b in pairs:
            if sets.find(comp[a]) == sets.find(comp[b]):
                continue
            small, big = (a, b) if bounds[a + 1] - bounds[a] <= bounds[b + 1] - bounds[b] else (b, a)
            if big not in trees:
                trees[big] = cKDTree(x[members(big)])
            d, _ = trees[big].query(x[members(small)], distance_upper_bound=tol * (1 + 1e-12))
            if np.any(d <= tol):
                sets.union(comp[a], comp[b])
    return _first_appearance(sets.labels()[comp][leader_of])


def loss_windows(loss, *, loss_gap: float = LOSS_GAP, loss_atol: float | None = None) -> np.ndarray:
    """``(n,)`` window index of each loss, numbered from the lowest loss up.

    The sorted losses are split between two neighbours ``l < l'`` when they are both more than
    ``loss_gap`` decades apart (``log10(l' / l) > loss_gap``; zero and negative losses count as
    the smallest positive float) and more than ``loss_atol`` apart. The default ``loss_atol`` is
    ``LOSS_ATOL_RTOL`` (1%) of the range of the losses: near a zero loss, runs at 1e-4 and
    7e-4 are the same level, while plateaus at 0.125 and 0.167 are not.

    >>> loss_windows([1e-4, 0.167, 7e-4, 0.125]).tolist()
    [0, 2, 0, 1]
    """
    loss = np.asarray(loss, np.float64).ravel()
    if not np.all(np.isfinite(loss)):
        raise ValueError("loss must be finite (keep non-finite runs out before windowing)")
    loss_gap = _checks.real("loss_gap", loss_gap, low=0.0, low_open=True)
    if loss.size == 0:
        return np.zeros(0, np.int64)
    loss_atol = _checks.tolerance("loss_atol", loss_atol, LOSS_ATOL_RTOL * float(loss.max() - loss.min()))
    logs = np.log10(np.maximum(loss, np.finfo(np.float64).tiny))
    order = np.argsort(loss, kind="stable")
    split = (np.diff(logs[order]) > loss_gap) & (np.diff(loss[order]) > loss_atol)
    out = np.empty(loss.size, np.int64)
    out[order] = np.concatenate([[0], np.cumsum(split)])
    return out


@dataclasses.dataclass(frozen=True, eq=False)
class Clustering:
    """What :func:`cluster_runs` returns.

    labels:     ``(n_runs,)`` int: the cluster of each run (``0 .. n_clusters - 1``, numbered by
                ascending mean loss), or a negative run-category code
                (:data:`landscape.status.CATEGORY`: moving, diverged, nonfinite).
    n_clusters: number of clusters.
    level:      :class:`landscape.minima.Level`: the distance threshold and how it was chosen:
                the chosen cut of the largest loss window (its largest group's parameter
                classes for ``"both"``), or, with ``tol``, a ``"given"`` cut over every
                clustered run (:meth:`describe_tolerance` in words).
    windows:    ``(n_runs,)`` int: the loss window of each clustered run (-1 for the others).
    window_edges: ``(n_windows, 2)``: lowest and highest final loss in each window.
    space:      ``"function"`` or ``"param"``; ``symmetry``: how parameter distances were
                made symmetry-aware (``"canonical"`` or ``"orbit"``; ``"none"`` in function space).
    features:   ``(n_runs, d)`` float64 clustering features (NaN rows for unclustered runs;
                parameter features for ``space="both"``).
    hierarchies: one per loss window (empty when ``tol`` was given): a
                :class:`landscape.minima.Hierarchy` (``space="function"`` or ``"param"``) or a
                :class:`landscape.minima.GroupsAndClasses` (``"both"``): every merge height,
                cut, gap ratio and rejected gap.
    groups:     ``(n_runs,)`` the function-space group of each clustered run (``"both"``; the
                cluster itself for ``"function"``; -1 where unknown: ``"param"``, unclustered).
    grad_tol:   :class:`GradTolerance`, how the moving threshold was chosen (None without
                ``grad_norm``).
    """

    labels: np.ndarray
    n_clusters: int
    level: Level
    windows: np.ndarray
    window_edges: np.ndarray
    space: str
    symmetry: str
    features: np.ndarray
    hierarchies: tuple = ()
    groups: np.ndarray | None = None
    grad_tol: GradTolerance | None = None

    def describe(self) -> str:
        """Every threshold used, in words: moving runs, loss windows, each window's hierarchy
        (cuts, the gaps that justify them, rejected gaps)."""
        lines = []
        if self.grad_tol is not None:
            lines.append(self.grad_tol.describe())
        lines.append(f"{len(self.window_edges)} loss window(s): "
                     + ", ".join(f"[{lo:.3g}, {hi:.3g}]" for lo, hi in self.window_edges))
        lines.append(f"space {self.space!r}, symmetry {self.symmetry!r}; "
                     f"{self.describe_tolerance()}")
        for w, h in enumerate(self.hierarchies):
            lines.append(f"window {w}:")
            lines.extend("  " + line for line in h.describe().splitlines())
        return "\n".join(lines)

    def describe_tolerance(self) -> str:
        """The distance threshold (:attr:`level`) in words, with the runs it was read from."""
        lv, runs = self.level, self.level.labels.size
        if lv.rule == "given":
            return f"tolerance {lv.cut:.3g} (given)"
        if lv.rule == "floor":
            return (f"tolerance {lv.cut:.3g}: the first gap above rounding noise in the "
                    f"single-linkage merge heights of {runs} runs, between the floor "
                    f"{lv.lower:.3g} and merge height {lv.upper:.3g} (ratio {lv.ratio:.3g})")
        if lv.rule == "gap":
            return (f"tolerance {lv.cut:.3g}: a gap in the single-linkage merge heights of "
                    f"{runs} runs, between {lv.lower:.3g} and {lv.upper:.3g} (ratio "
                    f"{lv.ratio:.3g})")
        return f"no gap in the merge heights of {runs} runs (rule {lv.rule!r}): they form one cluster"

    def members(self, cluster: int) -> np.ndarray:
        """Run indices of ``cluster`` (or of a category code, e.g.
        ``status.CATEGORY.code("moving")``)."""
        return np.flatnonzero(self.labels == cluster)

    def counts(self) -> dict[str, int]:
        """Runs per category: ``clustered``, ``moving``, ``diverged``, ``nonfinite``."""
        out = {"clustered": int(np.sum(self.labels >= 0))}
        out.update(st.CATEGORY.counts(self.labels))
        return out


@dataclasses.dataclass(frozen=True)
class ClusterOptions:
    """How :func:`cluster_runs` (and :func:`landscape.minima.census`) cluster (immutable;
    checked at construction).

    space:       ``"function"`` (default for :func:`cluster_runs`: outputs on ``x``),
                 ``"param"`` (centered parameters modulo the group) or ``"both"`` (the census'
                 default: function-space groups, then the parameter-space classes inside each
                 group; the labels are the classes).
    symmetry:    for parameter space: ``"auto"`` (default), ``"orbit"``, ``"canonical"`` or
                 ``"none"`` (see :func:`param_distances`); flips: include sign flips (None:
                 whenever the activation allows).
    tol:         the distance threshold (single linkage at ``tol``, in every space used); None
                 (default): read from the data by :func:`landscape.minima.hierarchy` in each
                 loss window: cuts at gaps of at least ``min_gap`` between the log-spaced
                 merge heights above ``floor`` (None: rounding of the params' dtype times the
                 features' norm), a cut with more than ``max_alone`` single-run clusters
                 rejected; ``level`` picks the cut: ``"finest"`` (default), ``"coarsest"`` or an
                 index into the levels (finest first; past the last, the coarsest).
    loss_gap, loss_atol: the loss-window split (:func:`loss_windows`).
    seed:        draws the members compared by the orbit merge (``symmetry="orbit"``).

    >>> from landscape import minima
    >>> minima.ClusterOptions(space="param", seed=3).symmetry
    'auto'
    """

    space: str = "function"
    symmetry: str = "auto"
    flips: bool | None = None
    tol: float | None = None
    min_gap: float = MIN_GAP
    floor: float | None = None
    max_alone: float = MAX_ALONE
    level: str | int = "finest"
    loss_gap: float = LOSS_GAP
    loss_atol: float | None = None
    seed: int = 0

    def __post_init__(self):
        _checks.choice("space", self.space, SPACES)
        _checks.choice("symmetry", self.symmetry, SYMMETRY_MODES)
        if self.tol is not None:
            _checks.real("tol", self.tol, low=0.0, low_open=True)
        _checks.real("min_gap", self.min_gap, low=1.0, low_open=True)
        _checks.tolerance("floor", self.floor, None)
        _checks.real("max_alone", self.max_alone, low=0.0, high=1.0)
        if isinstance(self.level, str):
            _checks.choice("level", self.level, LEVELS)
        else:
            _checks.count("level", self.level, minimum=0)
        _checks.real("loss_gap", self.loss_gap, low=0.0, low_open=True)
        _checks.tolerance("loss_atol", self.loss_atol, None)
        _checks.count("seed", self.seed, minimum=0)


@dataclasses.dataclass(frozen=True, eq=False)
class GradTolerance:
    """How the *moving* threshold on the final gradient norms was chosen.

    value: the threshold (a run with a larger final gradient norm is still moving).
    rule:  ``"given"`` or ``"data"``: ``max(floor, GRAD_GAP * median)``.
    floor: ``sqrt(eps(dtype)) * loss_scale``: a gradient that moves the loss by less than the
           square root of rounding over a unit step is zero at this precision.
    loss_scale: the ``LOSS_QUANTILE`` quantile of the runs' final ``|loss|`` (at least
           ``eps``); median: the median final gradient norm of the finite runs.
    dtype: the params' dtype.
    """

    value: float
    rule: str
    floor: float = float("nan")
    loss_scale: float = float("nan")
    median: float = float("nan")
    dtype: str = ""

    def describe(self) -> str:
        if self.rule == "given":
            return f"moving: final gradient norm above {self.value:.3g} (given)"
        return (f"moving: final gradient norm above {self.value:.3g} = max(floor {self.floor:.3g} "
                f"= sqrt(eps {self.dtype}) x loss scale {self.loss_scale:.3g} ({LOSS_QUANTILE:g} "
                f"quantile of |final loss|), {GRAD_GAP:g} x median final gradient norm "
                f"{self.median:.3g})")


def grad_tolerance(grad_norm, loss, *, dtype, grad_tol: float | None = None) -> GradTolerance:
    """The threshold above which a run's final gradient norm says it is still moving.

    Given ``grad_tol``: that. Else from the data: ``max(floor, GRAD_GAP * median)`` over the
    finite runs, where ``floor = sqrt(eps(dtype)) * loss_scale`` (``loss_scale``: the
    ``LOSS_QUANTILE`` quantile of ``|loss|``, at least ``eps``) and ``median`` is the median
    final gradient norm. Why: training stops every run after the same number of steps, so the
    runs that settled share a gradient level set by the optimizer and the step count (not by
    the dtype: in float64 after 10^4 steps it is ~1e-5, far above ``sqrt(eps)``); a run still
    on its way sits a decade or more above that level. When most runs are settled (the case the
    census is for) the median is a settled run's. The floor keeps gradients at rounding level
    from ever counting as moving.

    >>> t = grad_tolerance([3e-5, 2e-5, 4e-5, 0.5], [1e-3, 1e-3, 1e-3, 0.2], dtype="float64")
    >>> round(t.value, 6), t.rule
    (0.00035, 'data')
    """
    dtype = np.dtype(_checks.floating_dtype("dtype", dtype))
    if grad_tol is not None:
        return GradTolerance(_checks.real("grad_tol", grad_tol, low=0.0, low_open=True), "given",
                             dtype=dtype.name)
    g = np.asarray(grad_norm, np.float64).ravel()
    lv = np.abs(np.asarray(loss, np.float64).ravel())
    eps = float(np.finfo(dtype).eps)
    lv = lv[np.isfinite(lv)]
    scale = max(float(np.quantile(lv, LOSS_QUANTILE)) if lv.size else 1.0, eps)
    floor = math.sqrt(eps) * scale
    g = g[np.isfinite(g)]
    median = float(np.median(g)) if g.size else 0.0
    return GradTolerance(max(floor, GRAD_GAP * median), "data", floor, scale, median, dtype.name)


def _params_dtype(params):
    """The dtype JAX computes the params in (read without a device conversion)."""
    return np.dtype(jnp.result_type(jax.tree.leaves(params)[0]))


def run_categories(params, *, model, loss, status=None, grad_norm=None,
                   grad_tol: float | None = None) -> np.ndarray:
    """``(n_runs,)`` int: 0 for runs that can be clustered, else the code of their run category
    (:data:`landscape.status.CATEGORY`: ``moving``, ``diverged``, ``nonfinite``; precedence:
    diverged, non-finite, moving).

    ``status`` as in :class:`landscape.TrainResult` (0 = ok); ``grad_norm`` the final gradient
    norm (a run is *moving* when it is above ``grad_tol``; default from the data,
    :func:`grad_tolerance`: a decade above the median run's final gradient norm, and above
    ``sqrt(eps)`` of the params dtype times the loss scale). Params are flattened to one run axis. ``model``: anything
    :func:`landscape.units.layout` takes (a Flax linen module: params with one run axis).

    The moving threshold is read from the runs that are neither diverged nor non-finite.

    >>> import jax, numpy as np, landscape as ls
    >>> from landscape import minima, status
    >>> model = ls.mlp([2, 2, 1])
    >>> runs = jax.vmap(model.init)(jax.random.split(jax.random.key(0), 4))
    >>> cat = minima.run_categories(runs, model=model, loss=[0.1] * 4, status=[0, 1, 0, 0],
    ...                             grad_norm=[0.0, 0.0, 1.0, 0.0])
    >>> [status.CATEGORY[c] if c < 0 else "clusterable" for c in cat]
    ['clusterable', 'diverged', 'moving', 'clusterable']
    """
    spec, batch = _resolve(model, params, n_batch_axes=1)
    return _categories(spec, params, math.prod(batch), loss, status, grad_norm, grad_tol)[0]


def _categories(spec, params, n, loss, status, grad_norm, grad_tol):
    """:func:`run_categories` on a resolved layout, and the :class:`GradTolerance` of its
    moving rule (None without ``grad_norm``): the one place the threshold is derived."""
    loss = _checks.per_item("loss", loss, n, dtype=np.float64)
    flat = _flatten(jax.tree.leaves(_one_axis(spec, params)))
    finite = np.isfinite(loss) & np.all(np.isfinite(flat), axis=1)
    ok = np.ones(n, bool)
    if status is not None:
        status = _checks.per_item("status", status, n)
        if not np.issubdtype(status.dtype, np.integer):
            raise TypeError(f"status must hold integer status codes (0 = ok), got dtype {status.dtype}")
        ok = status == 0
    cat = np.zeros(n, np.int64)
    threshold = None
    if grad_norm is not None:
        grad_norm = _checks.per_item("grad_norm", grad_norm, n, dtype=np.float64)
        finite &= np.isfinite(grad_norm)
        read = finite & ok
        threshold = grad_tolerance(grad_norm[read], loss[read], dtype=_params_dtype(params),
                                   grad_tol=grad_tol)
        cat[finite & (grad_norm > threshold.value)] = _MOVING
    cat[~finite] = _NONFINITE
    cat[~ok] = _DIVERGED
    return cat, threshold


def _features(model, spec, params, space, x, apply, symmetry, flips):
    """Clustering features of runs (one leading axis) and the symmetry mode used."""
    if space == "function":
        out = _outputs(model, spec, params, x, apply)
        k = out.shape[-2] * out.shape[-1]
        return out.reshape(out.shape[0], k) / math.sqrt(k), "none"
    mode = _check_symmetry(spec, symmetry, flips, AUTO_ORBIT)
    if mode == "align":
        raise ValueError("symmetry='align' is for pairwise distances; cluster with 'orbit', "
                         "'canonical' or 'none'")
    return flat_centered(params, canonical=mode != "none", flips=flips, model=spec), mode


def _orbit_merge(spec, params, labels, tol, flips, rng, per_cluster=200):
    """Merge clusters that come within ``tol`` of each other modulo the group (orbit distance
    between up to ``per_cluster`` members of each): canonical forms split a cluster that
    straddles a boundary of the canonical rule; the orbit distance joins it again."""
    k = int(labels.max()) + 1 if labels.size else 0
    if k < 2:
        return labels
    picks = []
    for c in range(k):
        idx = np.flatnonzero(labels == c)
        picks.append(np.sort(rng.choice(idx, min(per_cluster, idx.size), replace=False)))
    sel = np.concatenate(picks)
    sub = jax.tree.map(lambda a: a[sel], params)
    images = orbit_vectors(sub, flips=flips, model=spec)
    base = images[:, 0]
    owner = np.repeat(np.arange(k), [len(p) for p in picks])
    sets = UnionFind(k)
    from scipy.spatial import cKDTree

    for c in range(k):
        other = owner != c
        if not np.any(other):
            continue
        tree = cKDTree(base[other])
        q = images[owner == c].reshape(-1, images.shape[-1])
        d, j = tree.query(q, distance_upper_bound=tol)
        hit = np.isfinite(d)
        for target in np.unique(owner[other][j[hit]]):
            sets.union(c, int(target))
    return sets.labels()[labels]


def cluster_runs(params, *, model, loss, x=None, apply=None, status=None, grad_norm=None,
                 grad_tol: float | None = None,
                 options: ClusterOptions = ClusterOptions()) -> Clustering:
    """Cluster the end points of many runs modulo the symmetry group.

    1. **Categories.** Diverged (``status != 0``), non-finite and still-moving runs
       (``grad_norm > grad_tol``) are set apart with their own label codes and counted; they
       never enter a cluster (:func:`run_categories`).
    2. **Loss windows.** The remaining runs are split where their sorted final losses leave a
       gap of more than ``loss_gap`` decades and ``loss_atol`` (:func:`loss_windows`); clusters
       never span windows.
    3. **Distance.** ``space="function"`` (default): the root-mean-square difference of the
       outputs on ``x`` (the data or a probe set), invariant under the group by construction
       and bounded, which suits runs drifting off to infinity. ``space="param"``: centered
       parameters (:func:`centered_params`) in canonical form, and, with ``symmetry="orbit"``
       (the default for groups of at most :data:`AUTO_ORBIT` elements), clusters that come within
       the tolerance of each other under some group element are merged afterwards.
    4. **Clusters at every scale.** Unless ``tol`` is given, each window's runs go to
       :func:`landscape.minima.hierarchy`: exact duplicates collapsed, the exact single-linkage
       tree of all its runs (no ``n^2`` matrix above ``DENSE_MAX`` distinct points), cuts at
       gaps of at least ``min_gap`` between log-spaced merge heights above the rounding floor;
       the clusters are those of the chosen ``level`` (finest by default) and its cut is the
       tolerance of the orbit merge. No gap: the window is one cluster. ``space="both"``:
       function-space groups first, then parameter-space classes inside each group (each with
       its own hierarchy): :func:`landscape.minima.groups_and_classes`, with the orbit merge as
       its ``merge`` step. With ``tol``: single linkage at ``tol`` (:func:`single_linkage`).
    5. **Numbering.** Clusters are numbered by ascending mean loss.

    Args:
      params, model: the final params, leaves ``(n_runs, ...)``, and the network: anything
        :func:`landscape.units.layout` takes (``ls.mlp``, Equinox, Flax NNX or linen, a
        ``UnitLayout``). ``space="param"`` reads only its unit layout (ReLU-like units
        normalized: positive rescaling is quotiented out, :func:`normalized_params`).
      loss: ``(n_runs,)`` final losses. status, grad_norm: as in :class:`landscape.TrainResult`.
      x: inputs for ``space="function"`` (``data.x``); apply: the forward function
        ``apply(params, x)`` of one network there (default: read from ``model``, see
        :func:`function_outputs`; needed for a ``UnitLayout``).
      options: :class:`ClusterOptions` (space, symmetry, tolerance rule, loss windows, seed).
      grad_tol: the moving threshold; None: from the data (:func:`grad_tolerance`).
    Returns :class:`Clustering`.

    >>> import jax, numpy as np, landscape as ls
    >>> from landscape import minima, symmetry
    >>> import optax
    >>> model = ls.mlp([2, 2, 1])
    >>> r = ls.train_many(ls.objectives.loss(model, "mse"), ls.inits.normal(model, 1.0),
    ...                   optax.sgd(2.0), ls.datasets.xor(), key=jax.random.key(0),
    ...                   n_runs=64, steps=2000, progress=False)
    >>> clustering = minima.cluster_runs(r.params, loss=r.final_loss, x=ls.datasets.xor().x,
    ...                                  status=r.status, grad_norm=r.grad_norm, grad_tol=0.01, model=model)
    >>> clustering.labels.shape                       # cluster index, or a category code < 0
    (64,)
    """
    spec, batch = _resolve(model, params, n_batch_axes=1)
    n = math.prod(batch)
    if not isinstance(options, ClusterOptions):
        raise TypeError(f"options={options!r} must be a landscape.minima.ClusterOptions")
    space, symmetry, tol = options.space, options.symmetry, options.tol
    if space in ("function", "both") and x is None:
        raise ValueError(f"space={space!r} needs x: the inputs (data.x or a probe set) on which "
                         "outputs are compared")
    flips = _flips_on(spec, options.flips)
    loss = _checks.per_item("loss", loss, n, dtype=np.float64)
    labels, gtol = _categories(spec, params, n, loss, status, grad_norm, grad_tol)
    ok = np.flatnonzero(labels == 0)
    windows = np.full(n, -1, np.int64)
    groups = np.full(n, -1, np.int64)
    if ok.size == 0:
        none = Level(np.zeros(0, np.int64), 0, np.zeros(0, np.int64), float("inf"), float("nan"),
                     float("nan"), float("nan"), "no gap", 0)
        return Clustering(labels, 0, none, windows, np.zeros((0, 2)), space,
                          "none" if space == "function" else symmetry, np.full((n, 0), np.nan),
                          (), groups, gtol)
    good = jax.tree.map(lambda a: a[ok], _one_axis(spec, params))
    if space == "both":
        ffeats, _ = _features(model, spec, good, "function", x, apply, symmetry, flips)
        feats, mode = _features(model, spec, good, "param", x, apply, symmetry, flips)
    else:
        feats, mode = _features(model, spec, good, space, x, apply, symmetry, flips)
        ffeats = feats if space == "function" else None
    features = np.full((n, feats.shape[1]), np.nan)
    features[ok] = feats
    win = loss_windows(loss[ok], loss_gap=options.loss_gap, loss_atol=options.loss_atol)
    windows[ok] = win
    rng = np.random.default_rng(options.seed)
    hopts = dict(min_gap=options.min_gap, floor=options.floor, dtype=_params_dtype(params),
                 max_alone=options.max_alone)
    local, local_group = np.zeros(ok.size, np.int64), np.zeros(ok.size, np.int64)
    offset = goffset = 0
    hierarchies, chosen = [], []
    for w in range(int(win.max()) + 1):
        idx = np.flatnonzero(win == w)

        def merge(sub, part, cut, idx=idx):
            """Classes of the window's points ``sub`` that meet modulo the group, joined."""
            if mode != "orbit" or not np.isfinite(cut) or part.max() == 0:
                return part
            return _orbit_merge(spec, jax.tree.map(lambda a: a[idx[sub]], good), part, cut, flips,
                                rng)

        every = np.arange(idx.size)
        if tol is not None:
            if space == "both":
                group = single_linkage(ffeats[idx], tol)
                part = _classes_within(group, lambda sub: (
                    merge(sub, single_linkage(feats[idx[sub]], tol), tol), None))[0]
            else:
                group = part = merge(every, single_linkage(feats[idx], tol), tol)
        elif space == "both":
            gc = groups_and_classes(ffeats[idx], feats[idx], level=options.level, merge=merge,
                                    **hopts)
            group, part = gc.group, gc.classes
            hierarchies.append(gc)
            chosen.extend(h.level(options.level) for h in gc.within)
        else:
            h = hierarchy(feats[idx], **hopts)
            cut = h.level(options.level)
            group = part = merge(every, cut.labels, cut.cut)
            hierarchies.append(h)
            chosen.append(cut)
        local[idx] = part + offset
        offset += int(part.max()) + 1
        local_group[idx] = group + goffset
        goffset += int(group.max()) + 1
    # number clusters by ascending mean loss (ties: larger first, then first run)
    k = offset
    mean = np.bincount(local, weights=loss[ok], minlength=k) / np.bincount(local, minlength=k)
    size = np.bincount(local, minlength=k)
    first = np.full(k, ok.size)
    np.minimum.at(first, local, np.arange(ok.size))
    order = np.lexsort((first, -size, mean))
    rank = np.empty(k, np.int64)
    rank[order] = np.arange(k)
    labels[ok] = rank[local]
    if space == "both":  # groups numbered by their lowest-numbered class
        low = np.full(goffset, k)
        np.minimum.at(low, local_group, rank[local])
        grank = np.empty(goffset, np.int64)
        grank[np.argsort(low, kind="stable")] = np.arange(goffset)
        groups[ok] = grank[local_group]
    elif space == "function":
        groups[ok] = labels[ok]
    if tol is None:
        level = max(chosen, key=lambda lv: lv.labels.size)
    else:
        sizes = np.bincount(labels[ok], minlength=k)
        level = Level(labels[ok], k, sizes, float(tol), float("nan"), float("nan"), float("nan"),
                      "given", int(np.sum(sizes == 1)))
    edges = np.array([[loss[ok][win == w].min(), loss[ok][win == w].max()]
                      for w in range(int(win.max()) + 1)])
    return Clustering(labels, k, level, windows, edges, space, mode, features,
                      tuple(hierarchies), groups, gtol)

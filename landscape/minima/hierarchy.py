"""Clusters at every scale, without a hand tolerance: exact duplicates collapsed, an exact
single-linkage tree (a Euclidean minimum spanning tree) of the distinct points, and cuts where
the log-spaced merge heights leave gaps (possibly several nested levels).

Pure NumPy/SciPy on feature vectors ``(n, d)`` (canonical forms modulo symmetry, or function
outputs): no model knowledge. :func:`hierarchy` builds one :class:`Hierarchy`;
:func:`groups_and_classes` builds function-space groups and the parameter-space classes inside
each group.

**The rule.** Sort the merge heights ``h`` of the distinct points. Heights at or below the
*floor* (``FLOOR_ULPS`` units of rounding of the features' dtype times their typical norm) are
rounding noise: such points are identical. A *gap* is a place where the next height is at least
``min_gap`` times the one below it (the lower side of the lowest gap is the floor). Each gap is
a candidate cut at the geometric mean of its two sides; the cut's clusters are the components of
the tree edges below it. A candidate becomes a *level* unless more than ``max_alone`` of its
clusters hold a single run: a gap low in a continuum of noise (one pair of points happens to be
close) leaves almost every point alone, and is reported as rejected, with why. Levels are nested
(finest first); no level at all is the honest "no gap": one cluster.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np

from .. import _checks
from ._union_find import UnionFind

MIN_GAP = 10.0
"""Default smallest ratio of consecutive merge heights that counts as a gap (one decade)."""
FLOOR_ULPS = 16.0
"""Default floor: merge heights up to this many units of rounding (``eps`` of the dtype) times
the median row norm are rounding noise (the points are the same)."""
MAX_ALONE = 0.5
"""Default: a cut whose clusters are more than this fraction single runs is not a level."""
DENSE_MAX = 2048
"""Up to this many distinct points the tree comes from the dense distance matrix (exact, fast);
above, from the KD-tree Boruvka algorithm (exact, memory linear in the points)."""
METHODS = ("auto", "dense", "boruvka")
LEVELS = ("finest", "coarsest")
"""Names of the levels :meth:`Hierarchy.level` picks (or pass an index, finest first)."""


@dataclasses.dataclass(frozen=True, eq=False)
class Level:
    """One cut of a :class:`Hierarchy`.

    labels:     ``(n,)`` int cluster of each point (numbered in order of first appearance).
    n_clusters: number of clusters; sizes: ``(n_clusters,)`` points per cluster.
    cut:        the distance threshold (merges below it join a cluster).
    lower, upper: the merge heights on either side of the gap (``lower`` is the floor for the
                level of points identical up to rounding); ratio: ``upper / lower``.
    rule:       ``"floor"`` (the lowest gap: above rounding noise), ``"gap"`` (a gap between two
                merge heights), ``"no gap"`` (no level found: one cluster, ``cut = inf``) or
                ``"given"`` (a cut passed in, :class:`landscape.minima.ClusterOptions` ``tol``).
    n_alone:    clusters that hold a single point.
    """

    labels: np.ndarray
    n_clusters: int
    sizes: np.ndarray
    cut: float
    lower: float
    upper: float
    ratio: float
    rule: str
    n_alone: int

    def describe(self) -> str:
        if self.rule == "no gap":
            return "no gap: one cluster"
        if self.rule == "given":
            return f"{self.n_clusters} clusters: cut at {self.cut:.3g} (given)"
        below = "the floor" if self.rule == "floor" else "merge height"
        return (f"{self.n_clusters} clusters: cut at {self.cut:.3g}, between {below} "
                f"{self.lower:.3g} and merge height {self.upper:.3g} (ratio {self.ratio:.3g})")


@dataclasses.dataclass(frozen=True, eq=False)
class Hierarchy:
    """What :func:`hierarchy` returns.

    levels:       :class:`Level` tuple, finest first, nested (each cluster of a level lies in one
                  cluster of the next). Always at least one: ``("no gap",)`` when none was found.
    rejected:     ``((lower, upper, ratio, n_clusters, n_alone), ...)``: gaps that were not made
                  levels because more than ``max_alone`` of their clusters hold a single point.
    n_points, n_distinct: points and distinct points (bit-identical rows collapsed).
    inverse:      ``(n,)`` the distinct point of each point; multiplicity: ``(n_distinct,)``.
    edges:        ``(n_distinct - 1, 3)`` the single-linkage tree (minimum spanning tree) of the
                  distinct points: ``i, j, height``, by ascending height.
    linkage:      ``(n_distinct - 1, 4)`` the same tree as a SciPy linkage matrix (for
                  ``scipy.cluster.hierarchy.dendrogram``; leaves are distinct points).
    floor, min_gap, max_alone, dtype: the thresholds used; method: how the tree was built.
    """

    levels: tuple
    rejected: tuple
    n_points: int
    n_distinct: int
    inverse: np.ndarray
    multiplicity: np.ndarray
    edges: np.ndarray
    linkage: np.ndarray
    floor: float
    min_gap: float
    max_alone: float
    dtype: str
    method: str

    @property
    def labels(self) -> np.ndarray:
        """The finest level's labels (the classes)."""
        return self.levels[0].labels

    @property
    def n_clusters(self) -> int:
        return self.levels[0].n_clusters

    @property
    def counts(self) -> tuple[int, ...]:
        """Clusters at each level, finest first."""
        return tuple(level.n_clusters for level in self.levels)

    def level(self, which: str | int = "finest") -> Level:
        """The :class:`Level` named by ``which``: ``"finest"``, ``"coarsest"`` or an index into
        :attr:`levels` (finest first; past the last, the coarsest)."""
        if which == "finest":
            return self.levels[0]
        if which == "coarsest":
            return self.levels[-1]
        if isinstance(which, str):
            raise ValueError(f"level={which!r} must be one of {LEVELS} or a level index")
        return self.levels[min(int(which), len(self.levels) - 1)]

    def describe(self) -> str:
        """In words: the points, the thresholds, each chosen cut and why, and rejected gaps."""
        lines = [f"{self.n_points} points, {self.n_distinct} distinct (bit-identical rows "
                 f"collapsed); single-linkage tree by {self.method}; floor {self.floor:.3g} "
                 f"({self.dtype} rounding), gap = ratio >= {self.min_gap:g} between merge "
                 f"heights, a level has at most {self.max_alone:.0%} single-point clusters"]
        if self.levels[0].rule == "no gap":
            ratio = self.levels[0].ratio
            lines.append("no gap: one cluster (" + (
                f"largest ratio of merge heights {ratio:.3g})" if np.isfinite(ratio)
                else "fewer than two merge heights to compare)"))
        else:
            for k, level in enumerate(self.levels):
                lines.append(f"level {k}: {level.describe()}")
        for lower, upper, ratio, n, alone in self.rejected:
            lines.append(f"rejected: gap {lower:.3g} -> {upper:.3g} (ratio {ratio:.3g}): {alone} "
                         f"of its {n} clusters hold a single point")
        return "\n".join(lines)


# --------------------------------------------------------------------------------------------
# the tree


def _union_find_edges(n, i, j):
    """Keep the edges (in the given order) that join two different components (Kruskal)."""
    sets = UnionFind(n)
    return np.array([sets.union(a, b) for a, b in zip(i.tolist(), j.tolist())], bool)


def _mst_dense(x):
    """Prim's algorithm on the dense distance matrix (SciPy's ``minimum_spanning_tree`` is not
    used: on a dense matrix it drops entries close to 0, i.e. merges at rounding noise)."""
    from scipy.spatial.distance import cdist

    m = x.shape[0]
    dist = cdist(x, x)
    best, frm = dist[0].copy(), np.zeros(m, np.int64)
    done = np.zeros(m, bool)
    done[0] = True
    best[0] = np.inf
    rows, cols = np.zeros(m - 1, np.int64), np.zeros(m - 1, np.int64)
    for k in range(m - 1):
        j = int(np.argmin(best))
        rows[k], cols[k] = frm[j], j
        done[j] = True
        best[j] = np.inf
        closer = (dist[j] < best) & ~done
        best[closer], frm[closer] = dist[j][closer], j
    return rows, cols, dist[rows, cols]


def _closest_foreign(x, inside, outside, open_, bound):
    """The closest pair ``(u, j, d)`` with ``u`` in ``inside`` (a big component) and ``j`` in
    ``outside`` when closer than ``bound`` (which the component's certified points reach), else
    ``(-1, -1, inf)``. An upper bound from a sample of the open points prunes the KD-tree
    searches; the search runs from the side that a probe of 128 points finds cheaper (a tight
    cluster's tree answers far queries at once, a diffuse one's does not): either is exact, only
    the cost differs."""
    import time

    from scipy.spatial import cKDTree

    t_out = cKDTree(x[outside])
    sample = open_[:: max(1, open_.size // 256)]
    d0, i0 = t_out.query(x[sample], k=1)
    k0 = int(np.argmin(d0))
    best = (float(d0[k0]), int(sample[k0]), int(outside[i0[k0]]))
    ub = min(best[0], bound) * (1 + 1e-12)
    t_in = cKDTree(x[inside])
    probe_a, probe_b = open_[:128], outside[:128]
    t0 = time.perf_counter()
    t_out.query(x[probe_a], k=1, distance_upper_bound=ub)
    t1 = time.perf_counter()
    t_in.query(x[probe_b], k=1, distance_upper_bound=ub)
    t2 = time.perf_counter()
    if (t1 - t0) / probe_a.size * open_.size <= (t2 - t1) / probe_b.size * outside.size:
        d, i = t_out.query(x[open_], k=1, distance_upper_bound=ub)
        k = int(np.argmin(d))
        pair = (float(d[k]), int(open_[k]), int(outside[min(i[k], outside.size - 1)]))
    else:
        d, i = t_in.query(x[outside], k=1, distance_upper_bound=ub)
        k = int(np.argmin(d))
        pair = (float(d[k]), int(inside[min(i[k], inside.size - 1)]), int(outside[k]))
    best = min(best, pair)
    if not best[0] < bound:
        return -1, -1, np.inf
    return best[1], best[2], best[0]


def _mst_boruvka(x, k_near=16, k_max=128):
    """Exact Euclidean minimum spanning tree (Boruvka): each round, every component takes its
    shortest edge to another component. A point's nearest foreign point is read from its
    ``k_near`` nearest neighbours (one KD-tree query, reused every round) when one of them is
    foreign; a component whose best edge is not certified that way (a point of it has no foreign
    neighbour among them and a ``k``-th neighbour closer than the best so far) is settled
    exactly: with ``|c| + 1`` neighbours for components of at most ``k_max`` points, else with a
    KD-tree of the other points. Memory is linear in the points."""
    from scipy.spatial import cKDTree

    m = x.shape[0]
    tree = cKDTree(x)
    kn = min(k_near + 1, m)
    dk, ik = tree.query(x, k=kn)
    dk, ik = dk[:, 1:], ik[:, 1:]  # the point itself first (distinct points)
    comp = np.arange(m)
    rows, cols, hs = [], [], []
    n_comp = m
    ar = np.arange(m)
    while n_comp > 1:
        foreign = comp[ik] != comp[:, None]
        has = foreign.any(axis=1)
        first = foreign.argmax(axis=1)
        cd = np.where(has, dk[ar, first], np.inf)
        cj = np.where(has, ik[ar, first], -1)
        best = np.full(m, np.inf)
        np.minimum.at(best, comp, cd)
        open_ = (~has) & (dk[:, -1] < best[comp])
        if np.any(open_):
            sizes = np.bincount(comp, minlength=m)
            pts = np.flatnonzero(open_)
            small = pts[sizes[comp[pts]] + 1 <= k_max]
            for kq in np.unique(np.minimum(2 ** np.ceil(np.log2(sizes[comp[small]] + 1)), m)):
                q = small[np.minimum(2 ** np.ceil(np.log2(sizes[comp[small]] + 1)), m) == kq]
                d2, i2 = tree.query(x[q], k=int(kq))
                f2 = (comp[np.minimum(i2, m - 1)] != comp[q][:, None]) & (i2 < m)
                h2 = f2.any(axis=1)
                a2 = f2.argmax(axis=1)
                cd[q] = np.where(h2, d2[np.arange(q.size), a2], np.inf)
                cj[q] = np.where(h2, i2[np.arange(q.size), a2], -1)
            for c in np.unique(comp[pts[sizes[comp[pts]] + 1 > k_max]]):
                q = pts[comp[pts] == c]
                u, j, d3 = _closest_foreign(x, np.flatnonzero(comp == c),
                                            np.flatnonzero(comp != c), q, best[c])
                cd[q], cj[q] = np.inf, -1  # the component's best edge, from its closest point
                if u >= 0 and d3 <= cd[u]:
                    cd[u], cj[u] = d3, j
        # each component's best edge; ties broken by (height, lower index, higher index)
        lo, hi = np.minimum(ar, cj), np.maximum(ar, cj)
        order = np.lexsort((hi, lo, cd, comp))
        order = order[np.isfinite(cd[order])]
        head = order[np.r_[True, comp[order][1:] != comp[order][:-1]]]
        e_i, e_j, e_h = lo[head], hi[head], cd[head]
        # the same edge may be chosen by both its components
        _, uniq = np.unique(e_i * m + e_j, return_index=True)
        e_i, e_j, e_h = e_i[uniq], e_j[uniq], e_h[uniq]
        o = np.lexsort((e_j, e_i, e_h))
        e_i, e_j, e_h = e_i[o], e_j[o], e_h[o]
        keep = _union_find_edges(m, comp[e_i], comp[e_j])  # on components: new edges only
        if not np.any(keep):  # cannot happen: every component has a closest foreign point
            raise RuntimeError("Boruvka round added no edge")
        rows.extend(e_i[keep].tolist()), cols.extend(e_j[keep].tolist()), hs.extend(e_h[keep].tolist())
        from scipy.sparse import coo_matrix
        from scipy.sparse.csgraph import connected_components

        g = coo_matrix((np.ones(len(rows)), (rows, cols)), shape=(m, m))
        n_comp, comp = connected_components(g, directed=False)
    return np.asarray(rows, np.int64), np.asarray(cols, np.int64), np.asarray(hs, np.float64)


def _tree(x, method):
    """Sorted minimum-spanning-tree edges ``(i, j, h)`` of distinct points, and the method."""
    m = x.shape[0]
    if m < 2:
        return np.zeros((0, 3)), "none"
    if method == "auto":
        method = "dense" if m <= DENSE_MAX else "boruvka"
    i, j, h = _mst_dense(x) if method == "dense" else _mst_boruvka(x)
    # exact heights, the same whichever route found the edge
    h = np.sqrt(np.sum((x[i] - x[j]) ** 2, axis=1))
    lo, hi = np.minimum(i, j), np.maximum(i, j)
    o = np.lexsort((hi, lo, h))
    return np.column_stack([lo[o], hi[o], h[o]]).astype(np.float64), method


def _linkage(edges, m):
    """The tree as a SciPy linkage matrix (clusters ``m + k`` for the ``k``-th merge)."""
    sets = UnionFind(m)
    cluster = np.arange(m)  # the linkage cluster of each set (by its smallest point)
    size = np.ones(m, np.int64)
    z = np.zeros((len(edges), 4))
    for k, (i, j, h) in enumerate(edges):
        ra, rb = sets.find(int(i)), sets.find(int(j))
        a, b = sorted((cluster[ra], cluster[rb]))
        sets.union(ra, rb)
        root = min(ra, rb)
        cluster[root], size[root] = m + k, size[ra] + size[rb]
        z[k] = a, b, h, size[root]
    return z


def _components(edges, m, cut):
    """Labels of the distinct points joined by tree edges below ``cut``."""
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    e = edges[edges[:, 2] < cut]
    g = coo_matrix((np.ones(len(e)), (e[:, 0].astype(np.int64), e[:, 1].astype(np.int64))),
                   shape=(m, m))
    return connected_components(g, directed=False)[1]


def _first_appearance(labels):
    """Renumber labels ``0, 1, ...`` in order of first appearance."""
    if labels.size == 0:
        return labels.astype(np.int64)
    _, first, inv = np.unique(labels, return_index=True, return_inverse=True)
    rank = np.empty(first.size, np.int64)
    rank[np.argsort(first, kind="stable")] = np.arange(first.size)
    return rank[inv.ravel()]


# --------------------------------------------------------------------------------------------
# the public functions


def _check_features(name, features):
    x = np.asarray(features)
    if x.ndim != 2:
        raise ValueError(f"{name} of shape {x.shape} must be (n_points, n_features)")
    if not np.issubdtype(x.dtype, np.number) or np.issubdtype(x.dtype, np.complexfloating):
        raise TypeError(f"{name} must hold real numbers, got dtype {x.dtype}")
    if not np.all(np.isfinite(x)):
        raise ValueError(f"{name} must be finite (keep non-finite runs out before clustering)")
    return x


def hierarchy(features, *, min_gap: float = MIN_GAP, floor: float | None = None, dtype=None,
              max_alone: float = MAX_ALONE, method: str = "auto") -> Hierarchy:
    """Clusters of ``features`` at every scale that shows a gap (the rule in the module notes).

    Args:
      features: ``(n, d)`` real, finite.
      min_gap: smallest ratio of consecutive merge heights that is a gap.
      floor: merge heights at or below it are rounding noise; None (default): ``FLOOR_ULPS *
        eps(dtype) * median row norm``.
      dtype: whose rounding sets the default floor; None: the features' dtype (float64 for
        integers). Pass the dtype the features were computed in when they were cast up.
      max_alone: a cut whose clusters are more than this fraction single points is rejected.
      method: ``"auto"`` (dense distances up to ``DENSE_MAX`` distinct points, else Boruvka),
        ``"dense"`` or ``"boruvka"``: the same tree, only the cost differs.

    >>> import numpy as np
    >>> x = np.array([[0.0], [0.0], [1e-4], [1.0], [1.0001], [100.0]])
    >>> h = hierarchy(x)
    >>> h.counts, h.n_distinct                  # {0, 1e-4}, {1, 1.0001}, {100}; then {.., 100}
    ((3, 2), 5)
    >>> h.labels.tolist()
    [0, 0, 0, 1, 1, 2]
    """
    x = _check_features("features", features)
    min_gap = _checks.real("min_gap", min_gap, low=1.0, low_open=True)
    max_alone = _checks.real("max_alone", max_alone, low=0.0, high=1.0)
    _checks.choice("method", method, METHODS)
    if dtype is None:
        dtype = x.dtype if np.issubdtype(x.dtype, np.floating) else np.float64
    dtype = _checks.floating_dtype("dtype", dtype)
    x = x.astype(np.float64) + 0.0  # -0.0 -> 0.0: equal rows are bit-identical
    n = x.shape[0]
    if n == 0:
        distinct, inverse, mult = x, np.zeros(0, np.int64), np.zeros(0, np.int64)
    else:
        distinct, inverse, mult = np.unique(x, axis=0, return_inverse=True, return_counts=True)
        inverse = inverse.ravel()
    m = distinct.shape[0]
    scale = float(np.median(np.linalg.norm(x, axis=1))) if n else 0.0
    floor = _checks.tolerance("floor", floor, FLOOR_ULPS * float(np.finfo(dtype).eps) * scale)
    edges, used = _tree(distinct, method)
    heights = edges[:, 2]
    # candidate gaps: [floor] + heights above it, consecutive ratios >= min_gap
    above = heights[heights > floor]
    sides = np.r_[floor, above]
    with np.errstate(divide="ignore", invalid="ignore"):
        ratios = sides[1:] / sides[:-1]
    ratios = np.where(sides[:-1] > 0, ratios, np.inf)
    levels, rejected = [], []
    for g in np.flatnonzero(ratios >= min_gap):
        lower, upper = float(sides[g]), float(sides[g + 1])
        cut = math.sqrt(lower * upper) if lower > 0 else upper / 2
        distinct_labels = _components(edges, m, cut) if m else np.zeros(0, np.int64)
        labels = _first_appearance(distinct_labels[inverse])
        sizes = np.bincount(labels)
        alone = int(np.sum(sizes == 1))
        k = int(sizes.size)
        if k == 1:
            continue
        if alone > max_alone * k:
            rejected.append((lower, upper, float(ratios[g]), k, alone))
            continue
        levels.append(Level(labels, k, sizes, float(cut), lower, upper, float(ratios[g]),
                            "floor" if g == 0 else "gap", alone))
    if not levels:
        inner = above[1:] / above[:-1] if above.size > 1 else np.zeros(0)
        worst = float(inner.max()) if inner.size else float("nan")
        levels.append(Level(np.zeros(n, np.int64), 1 if n else 0, np.array([n]), float("inf"),
                            float("nan"), float("nan"), worst, "no gap", int(n == 1)))
    return Hierarchy(tuple(levels), tuple(rejected), n, m, inverse.astype(np.int64),
                     mult.astype(np.int64), edges, _linkage(edges, m), float(floor), min_gap,
                     max_alone, np.dtype(dtype).name, used)


@dataclasses.dataclass(frozen=True, eq=False)
class GroupsAndClasses:
    """What :func:`groups_and_classes` returns.

    groups:        :class:`Hierarchy` of the function features; group: ``(n,)`` the labels of
                   its chosen level (points with the same outputs up to the noise).
    within:        one :class:`Hierarchy` of the parameter features per group (in group order).
    classes:       ``(n,)`` global class of each point: numbered group by group, in order of
                   first appearance within each group (after ``merge``, when given).
    n_groups; n_classes: ``(n_groups,)`` classes in each group.
    """

    groups: Hierarchy
    group: np.ndarray
    within: tuple
    classes: np.ndarray
    n_groups: int
    n_classes: np.ndarray

    def describe(self) -> str:
        lines = [f"function space: {self.groups.describe()}"]
        for g, h in enumerate(self.within):
            lines.append(f"group {g} ({h.n_points} points): {self.n_classes[g]} parameter-space "
                         "classes")
            lines.extend("  " + line for line in h.describe().splitlines())
        return "\n".join(lines)


def groups_and_classes(function_features, param_features, *, level: str | int = "finest",
                       merge=None, **options) -> GroupsAndClasses:
    """Function-space groups (:func:`hierarchy` of ``function_features``, its ``level``), then
    parameter-space classes inside each group (:func:`hierarchy` of the members'
    ``param_features``, its ``level``; :meth:`Hierarchy.level` names them). ``options`` go to
    both calls (``min_gap``, ``floor``, ``dtype``, ``max_alone``, ``method``). ``merge``:
    ``merge(idx, labels, cut) -> labels``, an optional last step on the classes of the points
    ``idx`` of each group (:func:`landscape.minima.cluster_runs` joins classes that meet modulo
    the symmetry group there).

    >>> import numpy as np
    >>> f = np.zeros((6, 2))                            # one function
    >>> p = np.repeat([[0.0, 1.0], [3.0, 0.0]], 3, axis=0)  # two weight patterns, 3 copies each
    >>> r = groups_and_classes(f, p)
    >>> r.n_groups, r.n_classes.tolist(), r.classes.tolist()
    (1, [2], [0, 0, 0, 1, 1, 1])
    """
    f = _check_features("function_features", function_features)
    p = _check_features("param_features", param_features)
    if f.shape[0] != p.shape[0]:
        raise ValueError(f"function_features ({f.shape[0]} rows) and param_features "
                         f"({p.shape[0]} rows) must describe the same points")
    groups = hierarchy(f, **options)
    group = groups.level(level).labels

    def classes_of(idx):
        h = hierarchy(p[idx], **options)
        cut = h.level(level)
        return (cut.labels if merge is None else merge(idx, cut.labels, cut.cut)), h

    classes, within, n_classes = _classes_within(group, classes_of)
    return GroupsAndClasses(groups, group, within, classes, len(within), n_classes)


def _classes_within(group, classes_of):
    """Classes inside each group, numbered group by group: ``classes_of(idx) -> (labels, info)``
    clusters the points ``idx`` of one group (labels ``0 .. k - 1``). Returns ``(classes (n,),
    infos (one per group), n_classes (n_groups,))``.

    >>> _classes_within(np.array([0, 1, 0]), lambda idx: (np.arange(idx.size), None))[0].tolist()
    [0, 2, 1]
    """
    n_groups = int(group.max()) + 1 if group.size else 0
    classes = np.zeros(group.size, np.int64)
    infos, n_classes = [], []
    for g in range(n_groups):
        idx = np.flatnonzero(group == g)
        labels, info = classes_of(idx)
        classes[idx] = labels + sum(n_classes)
        infos.append(info)
        n_classes.append(int(labels.max()) + 1)
    return classes, tuple(infos), np.asarray(n_classes, np.int64)

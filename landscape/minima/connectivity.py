"""Connectivity between minima: the closest group image of one network to another, loss
barriers along straight paths between aligned points, and the disconnectivity tree.
"""

from __future__ import annotations

import dataclasses

import jax
import numpy as np

from .. import _checks
from .. import symmetry as sy
from .. import units
from .align import _align
from .canonical import _flatten, _flips_on, _host, _one_axis, _resolve
from ._union_find import UnionFind
from .distances import small_group

@dataclasses.dataclass(frozen=True, eq=False)
class Connectivity:
    """Loss along straight paths between cluster representatives, after aligning each second
    end to the first modulo the group.

    names:   ``(k,)`` names of the points; losses ``(k,)``: the loss at each.
    ts:      ``(n_points,)`` path positions; paths ``(k, k, n_points)``: the loss at
             ``a + t (g b - a)`` (``g b``: ``b`` moved to its closest group image to ``a``);
             diagonal NaN.
    saddle:  ``(k, k)``: the highest loss along each path (its ends included);
    barrier: ``(k, k)``: ``saddle - max(loss_a, loss_b)`` (as :func:`landscape.surface.interpolate`).
    merges:  ``(k - 1, 3)``: the disconnectivity tree: clusters (``i``, ``j``, as the smallest
             point index of each group) join at ``level``, the lowest saddle connecting the two
             groups (minimax path over the straight-path graph), in increasing order.
    alignment: ``"orbit"`` (best of all group images) or ``"align"`` (weight matching).
    """

    names: tuple[str, ...]
    losses: np.ndarray
    ts: np.ndarray
    paths: np.ndarray
    saddle: np.ndarray
    barrier: np.ndarray
    merges: np.ndarray
    alignment: str


def closest_image(params, reference, *, model, alignment: str = "auto",
                  flips: bool | None = None):
    """``params`` (one network) moved by the group element (permutations and flips of hidden
    units) that brings it closest to ``reference`` in centered coordinates:
    ``alignment="orbit"`` tries every element (exact; the default for groups of at most
    :data:`AUTO_ORBIT` elements), ``"align"`` uses weight matching (:func:`align`). The
    positive rescaling of ReLU-like units is not applied (the image is the params moved by a
    signed permutation, so straight paths start from the params as trained). ``model``:
    anything :func:`landscape.units.layout` takes.

    >>> import jax, numpy as np, landscape as ls
    >>> from landscape import minima, symmetry
    >>> model = ls.mlp([2, 3, 1], activation="tanh")
    >>> params = model.init(jax.random.key(0))
    >>> image = symmetry.permute_units(params, [np.array([2, 0, 1])], model=model)
    >>> back = minima.closest_image(image, params, model=model)
    >>> bool(np.allclose(back[0]["w"], params[0]["w"], atol=1e-6))
    True
    """
    spec, _ = _resolve(model, params)
    for name, p in (("params", params), ("reference", reference)):
        if spec.check(p, name) != ():
            raise ValueError(f"{name} must be one network (no batch axes)")
    flips = _flips_on(spec, flips)
    return _closest(spec, params, reference, alignment, flips)


def _closest(spec: units.UnitLayout, params, reference, alignment: str, flips: bool):
    if not spec.symmetries:
        return jax.tree.map(np.asarray, params)
    if alignment == "auto":
        alignment = "orbit" if small_group(spec, flips) else "align"
    if alignment == "orbit":
        images = sy.orbit(params, model=spec, flips=flips, max_size=sy.orbit_size(spec, flips=flips))
        vec = _flatten(_host(spec, images))
        ref = _flatten(_host(spec, reference))
        g = int(np.argmin(np.linalg.norm(vec - ref, axis=1)))
        return jax.tree.map(lambda leaf: np.asarray(leaf)[g], images)
    if alignment == "align":
        return _align(spec, params, reference, (), (), flips, 100, normalize=False).params
    raise ValueError(f"alignment={alignment!r} is not known; expected 'auto', 'orbit' or 'align'")


def merge_tree(saddle) -> np.ndarray:
    """``(k - 1, 3)`` merges ``(i, j, level)`` of the minimax (single-linkage) tree of a
    symmetric matrix of path maxima: Kruskal's order over the pairs, each merge naming the
    smallest index of the two groups it joins. Non-finite entries never join (fewer rows).

    >>> import numpy as np
    >>> saddle = np.array([[0.0, 1.0, 3.0], [1.0, 0.0, 2.0], [3.0, 2.0, 0.0]])
    >>> merge_tree(saddle).tolist()                   # 0 and 1 join at 1, then 2 at 2
    [[0.0, 1.0, 1.0], [0.0, 2.0, 2.0]]
    """
    s = np.asarray(saddle, np.float64)
    if s.ndim != 2 or s.shape[0] != s.shape[1]:
        raise ValueError(f"saddle of shape {s.shape} must be a square matrix")
    k = s.shape[0]
    iu, ju = np.triu_indices(k, 1)
    level = np.minimum(s[iu, ju], s[ju, iu])
    order = np.argsort(level, kind="stable")
    sets = UnionFind(k)
    rows = []
    for o in order:
        if not np.isfinite(level[o]):
            continue
        a, b = sets.find(iu[o]), sets.find(ju[o])
        if sets.union(a, b):
            rows.append((min(a, b), max(a, b), level[o]))
    return np.array(rows, np.float64).reshape(-1, 3)


def connectivity(loss_fn, params, data, *, model, names=None, n_points: int = 41,
                 alignment: str = "auto", flips: bool | None = None) -> Connectivity:
    """Barriers between points (e.g. cluster representatives; leading axis of ``params``) along
    straight lines after alignment, and the tree of clusters joined by their lowest barriers.

    For each pair ``i < j``, ``b = params[j]`` is moved to its group image closest to
    ``a = params[i]`` (``alignment="orbit"``: every element, the default for groups of at most
    :data:`AUTO_ORBIT`; ``"align"``: weight matching, :func:`align`) and the loss is evaluated
    along ``a + t (g b - a)`` with :func:`landscape.surface.interpolate` (``n_points`` points). A
    straight path gives an upper bound on the true barrier (the lowest path can bend).
    ``model``: anything :func:`landscape.units.layout` takes (a Flax linen module: params with
    one leading axis). Returns :class:`Connectivity`.

    >>> import jax, numpy as np, landscape as ls
    >>> from landscape import minima, symmetry
    >>> model = ls.mlp([2, 2, 1])
    >>> points = jax.vmap(model.init)(jax.random.split(jax.random.key(0), 3))
    >>> con = minima.connectivity(ls.objectives.loss(model, "mse"), points, ls.datasets.xor(),
    ...                           model=model, n_points=11)
    >>> con.barrier.shape, con.paths.shape, con.merges.shape
    ((3, 3), (3, 3, 11), (2, 3))
    """
    from ..surface import interpolate

    spec, batch = _resolve(model, params, n_batch_axes=1)
    if len(batch) != 1 or batch[0] < 1:
        raise ValueError(f"params must hold points on one leading axis, got batch shape {batch}")
    k = batch[0]
    flips = _flips_on(spec, flips)
    n_points = _checks.count("n_points", n_points, minimum=2)
    if alignment == "auto":
        alignment = "orbit" if small_group(spec, flips) else "align"
    if alignment not in ("orbit", "align"):
        raise ValueError(f"alignment={alignment!r} is not known; expected 'auto', 'orbit' or 'align'")
    if not spec.symmetries:
        alignment = "none"
    names = tuple(f"cluster {i}" for i in range(k)) if names is None else tuple(names)
    if len(names) != k:
        raise ValueError(f"names has {len(names)} entries for {k} points")
    host = _one_axis(spec, params)
    points = [jax.tree.map(lambda leaf: leaf[i], host) for i in range(k)]
    ts = np.linspace(0.0, 1.0, n_points)
    paths = np.full((k, k, n_points), np.nan)
    saddle = np.full((k, k), np.nan)
    barrier = np.full((k, k), np.nan)
    losses = np.array([float(loss_fn(p, data)) for p in points])
    for i in range(k):
        for j in range(i + 1, k):
            b = points[j] if alignment == "none" else _closest(
                spec, points[j], points[i], alignment, flips)
            path = interpolate(loss_fn, a=points[i], b=b, data=data, ts=ts,
                               names=(names[i], names[j]))
            paths[i, j] = paths[j, i] = path.values
            paths[j, i] = paths[j, i][::-1]
            saddle[i, j] = saddle[j, i] = path.value_max
            barrier[i, j] = barrier[j, i] = path.barrier
    return Connectivity(names, losses, ts, paths, saddle, barrier, merge_tree(saddle), alignment)


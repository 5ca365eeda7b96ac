"""Filter and layer groups of a params pytree (Li et al. 2018's normalization units), read from
the unit layout (:mod:`landscape.units`), so they are right for any framework's weight layout.

Groups. With a unit layout (``model=``: an ``ls.mlp`` Model, a Flax or Equinox model or a
:class:`landscape.units.UnitLayout`): a *filter* is one output unit of a weight layer (a
hidden unit, an output unit, a convolution's output channel): its incoming weights (the
weight's entries at that index of ``unit_axis``) and its bias entry; a *layer* is one weight
layer (weight and bias). Leaves that belong to no layer of a declared layout are one group
each. With ``zero_biases=True`` every leaf with fewer than two axes (the biases) is left out
(group id -1).

Without ``model=``, the layout is read from the leaf names (``ls.mlp``'s ``w``/``b``, Flax's
``kernel``/``bias``: ``(..., in, out)``); a pytree whose layout cannot be read for sure (a weight
named ``weight``, stored ``(out, in)`` by Equinox and PyTorch, or any unreadable leaf) is
refused with a one-line error asking for ``model=``. A pytree without any leaf of two or more
axes has no filters: each leaf is one filter group, each top-level entry one layer group.

The canonical form. Groups, norms and random draws are computed on the params in one
framework-independent order and orientation: per weight layer its bias, then its weight with
the other axes first and ``(inputs, units)`` last (inputs read from a flattened image put
channels minor); then the leaves of no layer. For ``ls.mlp`` and Flax this is the params' own
order and orientation, so the same weights in ``ls.mlp``, Flax and Equinox give the same groups
in the same order, the same norms and the same random direction.
"""

from __future__ import annotations

import jax
import numpy as np

from .. import _checks, units

__all__ = ["group_ids", "group_norms"]

GROUPINGS = ("filter", "layer")
"""The groupings of filter/layer normalization (see the module docstring)."""


# --------------------------------------------------------------------------------------------
# the layout behind the groups


def _top_children(params):
    children, _ = jax.tree_util.tree_flatten(params, is_leaf=lambda t: t is not params)
    return children


def grouping_layout(params, model=None) -> units.UnitLayout | None:
    """The unit layout that defines the groups of ``params`` (one network), or None for a
    pytree without any leaf of two or more axes (no filters). See the module docstring."""
    # activation="none": the groups need the layers, not their symmetries, so a Flax linen
    # module whose activation cannot be read still gives its groups
    if model is not None:
        spec = units.layout(model, params, activation="none")
        batch = spec.check(params)
        if batch:
            raise ValueError(f"params has batch axes {batch}: filter/layer groups are for one network")
        return spec
    leaves = jax.tree_util.tree_leaves(params)
    try:
        spec = units.layout(params=params, activation="none")
    except (TypeError, ValueError) as err:
        if all(np.ndim(leaf) < 2 for leaf in leaves):
            return None
        raise ValueError(f"cannot tell the filters of params without model=: {err}; or pass model= "
                         "(an ls.mlp, Flax or Equinox model, or a units.UnitLayout)") from None
    for layer in spec.layers:
        ndim = len(spec.shape(layer.weight))
        if (layer.unit_axis, layer.input_axis) != (ndim - 1, ndim - 2):
            raise ValueError(f"params leaf {layer.weight} (shape {spec.shape(layer.weight)}) may be "
                             "stored (out, in) (Equinox, PyTorch) or (in, out): its filters are "
                             "ambiguous; pass model= (the model or a units.UnitLayout)")
    return spec


# --------------------------------------------------------------------------------------------
# the canonical form: per layer bias then weight (..., inputs, units), then the other leaves


def _parts(spec: units.UnitLayout | None, n_leaves: int) -> list[tuple[int, str, int]]:
    """``(leaf index, kind, layer)`` in canonical order; kind ``"bias"``, ``"weight"`` or
    ``"other"`` (layer -1)."""
    if spec is None:
        return [(i, "other", -1) for i in range(n_leaves)]
    out = []
    for l, layer in enumerate(spec.layers):
        if layer.bias is not None:
            out.append((spec.index(layer.bias), "bias", l))
        out.append((spec.index(layer.weight), "weight", l))
    used = {i for i, _, _ in out}
    return out + [(i, "other", -1) for i in range(n_leaves) if i not in used]


def _weight_view(spec: units.UnitLayout, l: int):
    """``(axes, regroup)``: the transpose of layer ``l``'s weight to ``(..., inputs, units)``
    and, when its inputs are the previous layer's units flattened channels major, ``(H, P)``
    (the inputs are reordered channels minor), else None."""
    layer = spec.layers[l]
    ndim = len(spec.shape(layer.weight))
    axes = [a for a in range(ndim) if a not in (layer.input_axis, layer.unit_axis)]
    axes += [layer.input_axis, layer.unit_axis]
    regroup = None
    if l > 0 and spec.positions(l - 1) > 1 and not layer.units_minor:
        regroup = (spec.size(l - 1), spec.positions(l - 1))
    return tuple(axes), regroup


def to_canonical(spec: units.UnitLayout | None, leaves: list) -> list:
    """The leaves (numpy or jax arrays, ``jax.tree.leaves`` order) in canonical order and shape."""
    out = []
    for i, kind, l in _parts(spec, len(leaves)):
        x = leaves[i]
        if kind == "bias":
            x = x.reshape(-1)
        elif kind == "weight":
            axes, regroup = _weight_view(spec, l)
            x = x.transpose(axes)
            if regroup is not None:
                (h, p), s = regroup, x.shape
                x = x.reshape(s[:-2] + (h, p, s[-1])).swapaxes(-3, -2).reshape(s)
        out.append(x)
    return out


def from_canonical(spec: units.UnitLayout | None, parts: list, shapes: list) -> list:
    """Inverse of :func:`to_canonical`: the leaves in ``jax.tree.leaves`` order, of ``shapes``."""
    leaves = [None] * len(shapes)
    for x, (i, kind, l) in zip(parts, _parts(spec, len(shapes))):
        if kind == "weight":
            axes, regroup = _weight_view(spec, l)
            if regroup is not None:
                (h, p), s = regroup, x.shape
                x = x.reshape(s[:-2] + (p, h, s[-1])).swapaxes(-3, -2).reshape(s)
            x = x.transpose(tuple(np.argsort(axes)))
        leaves[i] = x.reshape(shapes[i])
    return leaves


def canonical_ids(spec: units.UnitLayout | None, params, grouping: str,
                  zero_biases: bool) -> tuple[list[np.ndarray], int]:
    """Per canonical part, its entries' int group ids (-1: left out), and the number of groups."""
    leaves = jax.tree_util.tree_leaves(params)
    shapes = [np.shape(leaf) for leaf in leaves]
    parts = _parts(spec, len(leaves))
    if spec is None and grouping == "layer":
        child_of = []
        for c, child in enumerate(_top_children(params)):
            child_of += [c] * len(jax.tree_util.tree_leaves(child))
    offsets = np.cumsum([0] + [spec.size(l) for l in range(len(spec.layers))]) if spec else [0]
    n_layers = len(spec.layers) if spec else 0
    next_id = int(offsets[-1]) if grouping == "filter" else n_layers
    ids, others = [], {}
    for i, kind, l in parts:
        shape = shapes[i]
        if zero_biases and len(shape) < 2:
            ids.append(np.full(int(np.prod(shape, dtype=np.int64)), -1, np.int64))
            continue
        if kind == "other":
            key = child_of[i] if spec is None and grouping == "layer" else ("leaf", i)
            if key not in others:
                others[key], next_id = next_id, next_id + 1
            ids.append(np.full(int(np.prod(shape, dtype=np.int64)), others[key], np.int64))
        elif grouping == "layer":
            ids.append(np.full(int(np.prod(shape, dtype=np.int64)), l, np.int64))
        else:
            units_ = spec.size(l)
            n = int(np.prod(shape, dtype=np.int64)) // units_
            ids.append(np.tile(offsets[l] + np.arange(units_, dtype=np.int64), n))
    return ids, next_id


# --------------------------------------------------------------------------------------------
# public


def _checked(params, normalization, zero_biases):
    _checks.float_leaves(params, "params")
    grouping = _checks.choice("normalization", normalization, GROUPINGS)
    if not isinstance(zero_biases, (bool, np.bool_)):
        raise TypeError(f"zero_biases={zero_biases!r} must be True or False")
    return grouping


def group_ids(params, normalization="filter", *, model=None, zero_biases=False):
    """The group of every entry of ``params`` (one network) under ``normalization``
    (``"filter"`` or ``"layer"``; groups as in the module docstring): a pytree like ``params``
    of int64 numpy arrays, -1 where an entry is left out (``zero_biases``). Ids count filters
    layer by layer, units in order, whatever the framework's leaf order. ``model``: anything
    :func:`landscape.units.layout` takes (needed where the leaf names do not say the layout).

    >>> import jax, landscape as ls
    >>> params = ls.mlp([2, 2, 1]).init(jax.random.key(0))
    >>> ids = group_ids(params)
    >>> ids[0]["w"].tolist(), ids[0]["b"].tolist(), ids[1]["w"].tolist()
    ([[0, 1], [0, 1]], [0, 1], [[2], [2]])
    """
    grouping = _checked(params, normalization, zero_biases)
    spec = grouping_layout(params, model)
    ids, _ = canonical_ids(spec, params, grouping, zero_biases)
    leaves, treedef = jax.tree_util.tree_flatten(params)
    shapes = [np.shape(leaf) for leaf in leaves]
    canon = to_canonical(spec, [np.empty(shape, np.int8) for shape in shapes])
    parts = [i.reshape(c.shape) for i, c in zip(ids, canon)]
    return jax.tree_util.tree_unflatten(treedef, from_canonical(spec, parts, shapes))


def group_norms(params, normalization="filter", *, model=None, zero_biases=False) -> np.ndarray:
    """Euclidean norm of each group of ``params`` under ``normalization`` (``"filter"`` or
    ``"layer"``; groups as in the module docstring), float64 ``(n_groups,)`` in group order
    (layer by layer, units in order). ``model``: as in :func:`group_ids`.

    >>> import jax, landscape as ls
    >>> model = ls.mlp([2, 2, 1])
    >>> params = ls.inits.constant(model, 0.5)(jax.random.key(0))  # the symmetric start
    >>> group_norms(params).round(3).tolist()  # a unit's 2 weights and bias: sqrt(3) * 0.5
    [0.866, 0.866, 0.866]
    >>> group_norms(params, "layer").round(3).tolist()
    [1.225, 0.866]
    """
    grouping = _checked(params, normalization, zero_biases)
    spec = grouping_layout(params, model)
    ids, n_groups = canonical_ids(spec, params, grouping, zero_biases)
    ids = np.concatenate(ids) if ids else np.zeros(0, np.int64)
    return flat_group_norms(ids, canonical_flat64(spec, params), n_groups)


def flat_group_norms(ids: np.ndarray, x: np.ndarray, n_groups: int) -> np.ndarray:
    """Euclidean norm of each group of the flat canonical float64 ``x`` (``ids`` flat like it,
    -1 entries left out): float64 ``(n_groups,)``."""
    keep = ids >= 0
    return np.sqrt(np.bincount(ids[keep], weights=x[keep] ** 2, minlength=n_groups))


def canonical_flat64(spec: units.UnitLayout | None, params) -> np.ndarray:
    """The params in canonical order, flat, float64, on the host."""
    leaves = [np.asarray(leaf, np.float64) for leaf in jax.tree_util.tree_leaves(params)]
    parts = to_canonical(spec, leaves)
    return np.concatenate([p.ravel() for p in parts]) if parts else np.zeros(0)

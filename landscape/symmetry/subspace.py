"""The symmetric subspace (all hidden units of a layer equal): orthonormal bases, orthogonal
projections, the symmetry gap (distance to the subspace), and the measurements of invariance in
training results (gap status codes :data:`landscape.status.GAP`, gap histories, unit rows).
"""

from __future__ import annotations

import functools
import math

import jax
import jax.numpy as jnp
import numpy as np

from .. import _checks, status, units
from .._tree import batch_norms
from ..units import UnitLayout
from .group import _spec, _where

# --------------------------------------------------------------------------------------------
# the symmetric subspace


def _mean_units(h: int, site: str, moved):
    """Every unit replaced by the mean unit (last axis), as ``ref + mean(moved - ref)`` with
    ``ref`` the first unit: exact for identical units."""
    ref = moved[..., :1]
    return jnp.broadcast_to(ref + jnp.mean(moved - ref, axis=-1, keepdims=True), moved.shape)


def _project_symmetric(spec: UnitLayout, params):
    """Each hidden layer's units replaced by their mean at every site (weight, bias, next), one
    layer after the other (:func:`landscape.units.map_units`): a weight between two hidden layers
    ends up averaged over both unit axes, a dense layer after a convolution over the units at
    each position."""
    return units.map_units(spec, params, _mean_units)


def _unit_leaves(spec: UnitLayout) -> list[int]:
    """Leaves holding hidden units, in layer order (weight, then bias)."""
    marked = spec.unit_axes
    out = []
    for layer in spec.layers:
        for path in (layer.weight, layer.bias):
            if path is not None and any(a is not None for a in marked[spec.index(path)]):
                out.append(spec.index(path))
    return out


def project_symmetric(params, *, model):
    """Orthogonal projection onto the symmetric subspace: each hidden unit replaced by the mean
    unit of its layer (entries averaged along every hidden-unit axis; after a convolution, over
    the units at each position). Batched over leading axes.

    Equals ``unravel(Q Q^T x)`` with ``Q = symmetric_basis(model)``; a point whose units are
    bit-identical is returned bit for bit.

    >>> import jax, jax.numpy as jnp, landscape as ls
    >>> from landscape import symmetry
    >>> model = ls.mlp([2, 2, 1])
    >>> sym = symmetry.project_symmetric(model.init(jax.random.key(0)), model=model)
    >>> float(symmetry.symmetry_gap(sym, model=model))
    0.0
    """
    return _project_impl(_where(_spec(model, params)[0]), params, False)


def project_breaking(params, *, model):
    """``params - project_symmetric(params)``: the symmetry-breaking component (zero exactly
    when the units of every layer are bit-identical). Batched over leading axes.

    >>> import jax, jax.numpy as jnp, landscape as ls
    >>> from landscape import symmetry
    >>> model = ls.mlp([2, 2, 1])
    >>> start = ls.inits.constant(model, 0.5)(jax.random.key(0))
    >>> brk = symmetry.project_breaking(start, model=model)
    >>> brk[0]["w"].tolist()
    [[0.0, 0.0], [0.0, 0.0]]
    """
    return _project_impl(_where(_spec(model, params)[0]), params, True)


@functools.partial(jax.jit, static_argnames=("spec", "breaking"))
def _project_impl(spec: UnitLayout, params, breaking: bool):
    sym = _project_symmetric(spec, params)
    if breaking:
        return jax.tree.map(lambda x, s: x - s, params, sym)
    return sym


def symmetry_gap(params, *, model, per_layer: bool = False):
    """Distance of ``params`` from the symmetric subspace, batched over leading axes.

    The gap is ``|project_breaking(params)|_2``: ``sqrt(sum_j |u_j - mean u|^2)`` summed over
    layers, where ``u_j`` is everything attached to hidden unit ``j`` (a weight matrix between two
    hidden layers is compared with its overall mean). Exactly ``0.0`` when the units are
    bit-identical. Returns an array of the params' batch shape (``()`` for one network; e.g.
    ``(n_runs,)`` for ``TrainResult.params`` and ``(k, n_records)`` for its ``trajectory``).

    With ``per_layer=True`` returns a tuple with one such array per hidden layer ``h``: the
    spread of that layer's units alone (incoming weights, bias and outgoing weights of each
    unit about the layer's mean unit).

    >>> import jax, jax.numpy as jnp, landscape as ls
    >>> from landscape import symmetry
    >>> model = ls.mlp([2, 2, 1])
    >>> runs = jax.vmap(ls.inits.normal(model))(jax.random.split(jax.random.key(0), 100))
    >>> symmetry.symmetry_gap(runs, model=model).shape                 # one gap per run
    (100,)
    >>> float(symmetry.symmetry_gap(ls.inits.constant(model, 0.5)(jax.random.key(0)), model=model))
    0.0
    """
    spec = _spec(model, params)[0]
    if not isinstance(per_layer, (bool, np.bool_)):
        raise TypeError(f"per_layer={per_layer!r} must be True or False")
    return _gap_impl(_where(spec), params, bool(per_layer))


@functools.partial(jax.jit, static_argnames=("spec", "per_layer"))
def _gap_impl(spec: UnitLayout, params, per_layer: bool):
    leaves = jax.tree.leaves(params)
    first = leaves[spec.index(spec.layers[0].weight)]
    batch = first.shape[:first.ndim - len(spec.shape(spec.layers[0].weight))]
    if per_layer:
        return tuple(jnp.sqrt(sq) for sq in _layer_gaps_sq(spec, params, len(batch)))
    sym = jax.tree.leaves(_project_symmetric(spec, params))
    total = jnp.zeros(batch, first.dtype)  # stays 0 without hidden layers
    for i in _unit_leaves(spec):
        dev = leaves[i] - sym[i]
        total = total + jnp.sum(dev * dev, axis=tuple(range(-len(spec.shapes[i]), 0)))
    return jnp.sqrt(total)


def _layer_gaps_sq(spec: UnitLayout, params, n_batch: int):
    parts: dict = {}

    def record(h, site, moved):  # each site's spread about its own mean unit; params unchanged
        dev = moved - _mean_units(h, site, moved)
        parts.setdefault(h, {})[site] = jnp.sum(dev * dev, axis=tuple(range(n_batch, moved.ndim)))
        return moved

    units.map_units(spec, params, record)
    return [sum(parts[h][site] for site in ("weight", "next", "bias") if site in parts[h])
            for h in range(len(spec.hidden_sizes))]


@functools.lru_cache(maxsize=64)
def _bases(spec: UnitLayout) -> tuple[np.ndarray, np.ndarray]:
    """Float64 ``(Q_sym, Q_break)`` for a layout (cached; layouts are hashable).

    The entries tied together by the hidden-unit axes are found by labelling every entry with
    its flat index and taking the minimum over each unit axis (:func:`landscape.units.map_units`):
    an entry's label is then the first member of its group. Groups come in the order of their
    first member, members in flat-index order."""
    sizes = [int(np.prod(s, dtype=np.int64)) for s in spec.shapes]
    offsets = np.cumsum([0] + sizes)
    n = int(offsets[-1])
    index = [jnp.asarray(np.arange(o, o + k, dtype=np.int32).reshape(s))
             for o, k, s in zip(offsets[:-1], sizes, spec.shapes)]
    labels = units.map_units(spec, index, lambda h, site, m: jnp.broadcast_to(
        jnp.min(m, axis=-1, keepdims=True), m.shape))
    labels = np.concatenate([np.asarray(a).ravel() for a in labels]).astype(np.int64)
    order = np.argsort(labels, kind="stable")
    firsts = np.flatnonzero(np.diff(labels[order], prepend=-1))
    bounds = list(firsts) + [n]
    q_sym = np.zeros((n, len(firsts)))
    q_brk = np.zeros((n, n - len(firsts)))
    col = 0
    for g, (a, b) in enumerate(zip(bounds[:-1], bounds[1:])):
        members = order[a:b]
        k = b - a
        q_sym[members, g] = 1.0 / math.sqrt(k)
        q_brk[members, col:col + k - 1] = _helmert(k)
        col += k - 1
    q_sym.setflags(write=False)
    q_brk.setflags(write=False)
    return q_sym, q_brk


def _helmert(k: int) -> np.ndarray:
    """``(k, k - 1)`` orthonormal columns orthogonal to the all-ones vector."""
    out = np.zeros((k, k - 1))
    for j in range(1, k):
        out[:j, j - 1] = 1.0
        out[j, j - 1] = -float(j)
        out[:, j - 1] /= math.sqrt(j * (j + 1))
    return out


def _float_dtype(dtype):
    if dtype is None:
        return jnp.zeros(()).dtype  # float64 under jax_enable_x64, else float32
    return _checks.floating_dtype("dtype", dtype)


def symmetric_basis(model, *, dtype=None) -> jax.Array:
    """Orthonormal basis of the symmetric subspace as columns, ``(n_params, k_sym)``.

    Rows follow ``ravel_pytree(params)``; one column per group of entries tied together by the
    hidden-unit axes (``1/sqrt(k)`` on its ``k`` members). ``dtype`` defaults to JAX's default
    float (float64 under ``jax_enable_x64``).

    >>> import landscape as ls
    >>> symmetric_basis(ls.mlp([2, 2, 1])).shape  # 9 params, 5 = a 2-1-1 network's
    (9, 5)
    """
    return jnp.asarray(_bases(_where(_spec(model)[0]))[0], _float_dtype(dtype))


def breaking_basis(model, *, dtype=None) -> jax.Array:
    """Orthonormal basis of the symmetry-breaking directions (the orthogonal complement of the
    symmetric subspace) as columns, ``(n_params, n_params - k_sym)``: Helmert contrasts within
    each tied group. Zero columns when the model has no hidden layer of width above one.

    >>> import landscape as ls
    >>> breaking_basis(ls.mlp([2, 2, 1])).shape
    (9, 4)
    """
    return jnp.asarray(_bases(_where(_spec(model)[0]))[1], _float_dtype(dtype))



# --------------------------------------------------------------------------------------------
# measuring invariance in training results


ROUNDING_ULPS = 1e3
"""A gap up to ``ROUNDING_ULPS * eps * |x|`` (``eps`` of the dtype, ``|x|`` the params' norm) is
rounding: the units differ in their last few bits, accumulated over training (float64 XOR
2-2-1 from the constant start reached about 80 after 200,000 steps of gradient descent)."""
BROKEN_REL = 1e-2
"""A gap of at least ``BROKEN_REL * |x|`` means the symmetry is broken: the units visibly differ."""


def gap_status(gap, param_norm, dtype) -> np.ndarray:
    """Int codes of :data:`landscape.status.GAP` (elementwise over arrays of gaps and params norms):
    ``exact`` (gap exactly 0: bit-identical units), ``rounding`` (up to
    :data:`ROUNDING_ULPS` ulps of the weight scale), ``broken`` (at least :data:`BROKEN_REL` of
    it) and ``amplified`` in between (rounding grown by the dynamics, not yet visible).

    >>> import numpy as np
    >>> from landscape import status
    >>> codes = gap_status([0.0, 1e-6, 1e-2, 1.0], [10.0] * 4, np.float32)
    >>> [status.GAP[c] for c in codes]
    ['exact', 'rounding', 'amplified', 'broken']
    """
    gap = np.asarray(gap, np.float64)
    norm = np.asarray(param_norm, np.float64)
    eps = float(np.finfo(np.dtype(dtype)).eps)
    rounding = ROUNDING_ULPS * eps * np.maximum(norm, 1.0)
    codes = [status.GAP.code(name) for name in ("exact", "rounding", "amplified", "broken")]
    return np.select([gap == 0, gap <= rounding, gap < BROKEN_REL * np.maximum(norm, 1.0)],
                     codes[:3], default=codes[3]).astype(np.int32)


def gap_history(result, *, model) -> tuple[np.ndarray, np.ndarray]:
    """``(gaps, param_norms)``, each ``(k, n_records)``, over the recorded trajectory of a
    :class:`landscape.TrainResult` (``train_many(..., trajectory_runs=...)``).

    >>> import jax, jax.numpy as jnp, optax, landscape as ls
    >>> from landscape import symmetry
    >>> model = ls.mlp([2, 2, 1])
    >>> result = ls.train_many(ls.objectives.loss(model, "mse"), ls.inits.constant(model, 0.5),
    ...                        optax.sgd(0.5), ls.datasets.xor(), key=jax.random.key(0),
    ...                        n_runs=8, steps=100, record_every=10, trajectory_runs=[0, 1])
    >>> gaps, norms = symmetry.gap_history(result, model=model)
    >>> gaps.shape, float(gaps.max())  # units stay bit-identical all along
    ((2, 11), 0.0)
    """
    spec = _spec(model)[0]
    traj = getattr(result, "trajectory", None)
    if traj is None:
        raise ValueError("result has no trajectory; train with trajectory_runs=[...] to record one")
    gaps = np.asarray(symmetry_gap(traj, model=spec))
    return gaps, batch_norms(traj, n_batch_axes=2)


def unit_params(params, *, model, layer: int = 0) -> jax.Array:
    """Everything attached to each unit of hidden layer ``layer``, one row per unit:
    ``(*batch, H, F)`` = incoming weights, bias (when the layer has one), outgoing weights
    (:func:`landscape.units.unit_features`). Rows are equal exactly when the layer's units are.

    >>> import jax, jax.numpy as jnp, optax, landscape as ls
    >>> from landscape import symmetry
    >>> model = ls.mlp([2, 2, 1])
    >>> symmetry.unit_params(ls.inits.constant(model, 0.5)(jax.random.key(0)), model=model).tolist()
    [[0.5, 0.5, 0.5, 0.5], [0.5, 0.5, 0.5, 0.5]]
    """
    spec = _spec(model, params)[0]
    n_hidden = len(spec.hidden_sizes)
    if n_hidden == 0:
        raise ValueError("the model has no hidden layer (its unit layout has one weight layer)")
    layer = _checks.count("layer", layer, minimum=0, maximum=n_hidden - 1)
    return units.unit_features(spec, params, layer)

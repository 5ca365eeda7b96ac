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
from jax.flatten_util import ravel_pytree

from .. import _checks, status
from .._tree import batch_norms
from ..models import Model
from .group import _layout, batch_shape

# --------------------------------------------------------------------------------------------
# the symmetric subspace


def _leaf_unit_axes(model: Model):
    """Per leaf (params layout), the trailing-shape axes that run along hidden units."""
    return [{kind: tuple(a for a, h in enumerate(axes) if h is not None) for kind, axes in layer.items()}
            for layer in model.unit_axes]


def _group_mean(leaf, axes_from_end: tuple[int, ...]):
    """Mean over ``axes_from_end`` as ``ref + mean(leaf - ref)``: exact for identical entries."""
    if not axes_from_end:
        return leaf
    ref = leaf[tuple(slice(None) if a - leaf.ndim not in axes_from_end else slice(0, 1)
                     for a in range(leaf.ndim))]
    return ref + jnp.mean(leaf - ref, axis=axes_from_end, keepdims=True)


def _neg_axes(axes, ndim):
    return tuple(a - ndim for a in axes)


def _project_symmetric(model: Model, params):
    out = []
    for layer, axes in zip(params, _leaf_unit_axes(model)):
        new = {}
        for kind, leaf in layer.items():
            trailing = 2 if kind == "w" else 1
            mean = _group_mean(leaf, _neg_axes(axes[kind], trailing))
            new[kind] = jnp.broadcast_to(mean, leaf.shape)
        out.append(new)
    return out


def project_symmetric(params, *, model: Model) -> list:
    """Orthogonal projection onto the symmetric subspace: each hidden unit replaced by the mean
    unit of its layer (entries averaged along every hidden-unit axis). Batched over leading axes.

    Equals ``unravel(Q Q^T x)`` with ``Q = symmetric_basis(model)``; a point whose units are
    bit-identical is returned bit for bit.

    >>> import jax, jax.numpy as jnp, landscape as ls
    >>> from landscape import symmetry
    >>> model = ls.mlp([2, 2, 1])
    >>> sym = symmetry.project_symmetric(model.init(jax.random.key(0)), model=model)
    >>> float(symmetry.symmetry_gap(sym, model=model))
    0.0
    """
    _checks.model(model)
    batch_shape(params, model=model)
    return _project_impl(_layout(model), params, False)


def project_breaking(params, *, model: Model) -> list:
    """``params - project_symmetric(params)``: the symmetry-breaking component (zero exactly
    when the units of every layer are bit-identical). Batched over leading axes.

    >>> import jax, jax.numpy as jnp, landscape as ls
    >>> from landscape import symmetry
    >>> model = ls.mlp([2, 2, 1])
    >>> brk = symmetry.project_breaking(ls.inits.constant(model, 0.5)(jax.random.key(0)), model=model)
    >>> brk[0]["w"].tolist()
    [[0.0, 0.0], [0.0, 0.0]]
    """
    _checks.model(model)
    batch_shape(params, model=model)
    return _project_impl(_layout(model), params, True)


@functools.partial(jax.jit, static_argnames=("model", "breaking"))
def _project_impl(model: Model, params, breaking: bool):
    sym = _project_symmetric(model, params)
    if breaking:
        return jax.tree.map(lambda x, s: x - s, list(params), sym)
    return sym


def symmetry_gap(params, *, model: Model, per_layer: bool = False):
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
    _checks.model(model)
    batch_shape(params, model=model)
    if not isinstance(per_layer, (bool, np.bool_)):
        raise TypeError(f"per_layer={per_layer!r} must be True or False")
    return _gap_impl(_layout(model), params, bool(per_layer))


@functools.partial(jax.jit, static_argnames=("model", "per_layer"))
def _gap_impl(model: Model, params, per_layer: bool):
    if per_layer:
        return tuple(jnp.sqrt(sq) for sq in _layer_gaps_sq(model, params))
    leaf = params[0]["w"]
    total = jnp.zeros(leaf.shape[:-2], leaf.dtype)  # stays 0 without hidden layers
    for layer, axes in zip(params, _leaf_unit_axes(model)):
        for kind, leaf in layer.items():
            trailing = 2 if kind == "w" else 1
            if not axes[kind]:
                continue
            dev = leaf - _group_mean(leaf, _neg_axes(axes[kind], trailing))
            total = total + jnp.sum(dev * dev, axis=tuple(range(-trailing, 0)))
    return jnp.sqrt(total)


def _layer_gaps_sq(model: Model, params):
    out = []
    for h in range(len(model.hidden_sizes)):
        # (leaf, unit axis of hidden layer h, trailing dims)
        parts = [(params[h]["w"], -1, 2), (params[h + 1]["w"], -2, 2)]
        if model.bias:
            parts.append((params[h]["b"], -1, 1))
        sq = 0.0
        for leaf, axis, trailing in parts:
            dev = leaf - _group_mean(leaf, (axis,))
            sq = sq + jnp.sum(dev * dev, axis=tuple(range(-trailing, 0)))
        out.append(sq)
    return out


@functools.lru_cache(maxsize=64)
def _bases(model: Model) -> tuple[np.ndarray, np.ndarray]:
    """Float64 ``(Q_sym, Q_break)`` for ``model`` (cached; the model is hashable)."""
    shapes = model.param_shapes
    template = [{k: np.zeros(s) for k, s in layer.items()} for layer in shapes]
    flat, unravel = ravel_pytree(template)
    n = flat.size
    index = unravel(np.arange(n, dtype=np.float64))
    sym_cols, brk_cols = [], []
    for layer, axes in zip(index, _leaf_unit_axes(model)):
        for kind in sorted(layer):  # ravel_pytree order within a layer dict
            idx = np.asarray(layer[kind]).astype(np.int64)
            unit = axes[kind]
            other = tuple(a for a in range(idx.ndim) if a not in unit)
            groups = np.transpose(idx, other + unit).reshape(
                math.prod(idx.shape[a] for a in other), -1)
            k = groups.shape[1]
            helmert = _helmert(k)  # (k, k - 1) orthonormal contrasts
            for members in groups:
                col = np.zeros(n)
                col[members] = 1.0 / math.sqrt(k)
                sym_cols.append(col)
                for j in range(k - 1):
                    col = np.zeros(n)
                    col[members] = helmert[:, j]
                    brk_cols.append(col)
    q_sym = np.stack(sym_cols, axis=1)
    q_brk = np.stack(brk_cols, axis=1) if brk_cols else np.zeros((n, 0))
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


def symmetric_basis(model: Model, *, dtype=None) -> jax.Array:
    """Orthonormal basis of the symmetric subspace as columns, ``(n_params, k_sym)``.

    Rows follow ``ravel_pytree(params)``; one column per group of entries tied together by the
    hidden-unit axes (``1/sqrt(k)`` on its ``k`` members). ``dtype`` defaults to JAX's default
    float (float64 under ``jax_enable_x64``).

    >>> import landscape as ls
    >>> symmetric_basis(ls.mlp([2, 2, 1])).shape  # 9 params, 5 = a 2-1-1 network's
    (9, 5)
    """
    _checks.model(model)
    return jnp.asarray(_bases(model)[0], _float_dtype(dtype))


def breaking_basis(model: Model, *, dtype=None) -> jax.Array:
    """Orthonormal basis of the symmetry-breaking directions (the orthogonal complement of the
    symmetric subspace) as columns, ``(n_params, n_params - k_sym)``: Helmert contrasts within
    each tied group. Zero columns when the model has no hidden layer of width above one.

    >>> import landscape as ls
    >>> breaking_basis(ls.mlp([2, 2, 1])).shape
    (9, 4)
    """
    _checks.model(model)
    return jnp.asarray(_bases(model)[1], _float_dtype(dtype))



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


def gap_history(result, *, model: Model) -> tuple[np.ndarray, np.ndarray]:
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
    _checks.model(model)
    traj = getattr(result, "trajectory", None)
    if traj is None:
        raise ValueError("result has no trajectory; train with trajectory_runs=[...] to record one")
    gaps = np.asarray(symmetry_gap(traj, model=model))
    return gaps, batch_norms(traj, n_batch_axes=2)


def unit_params(params, *, model: Model, layer: int = 0) -> jax.Array:
    """Everything attached to each unit of hidden layer ``layer``, one row per unit:
    ``(*batch, H, n_in + 1 + n_out)`` = incoming weights, bias (when the model has biases),
    outgoing weights. Rows are equal exactly when the layer's units are.

    >>> import jax, jax.numpy as jnp, optax, landscape as ls
    >>> from landscape import symmetry
    >>> model = ls.mlp([2, 2, 1])
    >>> symmetry.unit_params(ls.inits.constant(model, 0.5)(jax.random.key(0)), model=model).tolist()
    [[0.5, 0.5, 0.5, 0.5], [0.5, 0.5, 0.5, 0.5]]
    """
    _checks.model(model)
    batch_shape(params, model=model)
    n_hidden = len(model.hidden_sizes)
    if n_hidden == 0:
        raise ValueError(f"model of sizes {list(model.sizes)} has no hidden layer")
    layer = _checks.count("layer", layer, minimum=0, maximum=n_hidden - 1)
    parts = [jnp.swapaxes(params[layer]["w"], -1, -2)]
    if model.bias:
        parts.append(params[layer]["b"][..., None])
    parts.append(params[layer + 1]["w"])
    return jnp.concatenate(parts, axis=-1)



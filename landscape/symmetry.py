"""The symmetry group of an MLP, the symmetric subspace, and the symmetry gap.

Why does an all-equal start never learn? Hidden units that start identical receive identical
error signals and stay identical: the start lies in the *symmetric subspace* and gradient
training never leaves it. This module makes that statement measurable.

The group
---------
For an MLP (:func:`landscape.mlp`) the hidden units of each layer can be permuted, and where
the hidden activation allows it their signs flipped, without changing the function:

- ``permute_units(model, params, perms)``: ``perms[h]`` is a permutation of the units of hidden
  layer ``h``; new unit ``j`` is old unit ``perms[h][j]`` (its incoming weights, bias and
  outgoing weights move together).
- ``flip_units(model, params, signs)``: ``signs[h][j] = -1`` flips unit ``j`` of hidden layer
  ``h``. For an *odd* activation (``tanh``, ``erf``, ``linear``; ``f(-z) = -f(z)``) the
  incoming weights, bias and outgoing weights change sign. For the logistic ``sigmoid``
  (``f(-z) = 1 - f(z)``) they change sign too and the next layer's bias gains the unit's old
  outgoing weights (so the model needs biases). ``relu``, ``softplus`` and ``gelu`` have no
  sign symmetry (``f(-z) = f(z) - z`` cannot be absorbed): asking for a flip is a ValueError.
- A :class:`GroupElement` ``(perms, signs)`` acts by flipping first (``signs`` indexed by the
  old units), then permuting: :func:`apply_element`. :func:`compose`, :func:`inverse` and
  :func:`identity_element` make the group law explicit; :func:`random_element` draws uniform
  elements, :func:`group_elements` lists all ``prod_h H_h! * 2^{H_h}`` of them (without flips
  ``prod_h H_h!``: :func:`orbit_size`) and :func:`orbit` applies them all to one point.

Everything accepts params with leading batch axes (runs, trajectory records): leaves
``(*batch, *shape)``. Elements may carry their own leading axes; the two broadcast.

The symmetric subspace
----------------------
``S`` = params whose hidden units are equal within every layer: for each leaf, the entries are
constant along its hidden-unit axes (``model.unit_axes``; a weight matrix between two hidden
layers is constant altogether). :func:`symmetric_basis` and :func:`breaking_basis` give
orthonormal bases of ``S`` and of its orthogonal complement (the symmetry-breaking directions)
as columns, in the order of ``jax.flatten_util.ravel_pytree(params)``; :func:`project_symmetric`
and :func:`project_breaking` are the orthogonal projections (on pytrees), and
:func:`symmetry_gap` is the distance to ``S``, ``|project_breaking(params)|``.

Means over identical entries are computed as ``ref + mean(x - ref)`` with ``ref`` one of the
entries, so points of ``S`` whose units are bit-identical have a gap of exactly ``0.0`` and
project onto themselves bit for bit: a nonzero gap is always a real difference between units.

Exact symmetric training: the reduced parametrization
-----------------------------------------------------
A point of ``S`` is one unit per hidden layer, repeated: :func:`reduced_model` is that
network, with the weights leaving a hidden layer of width ``H`` multiplied by ``H`` so that it
computes the same function (:func:`to_reduced`, :func:`from_reduced`). :func:`reduced_training`
turns a loss, an init and an optax optimizer into reduced ones whose ``train_many`` run retraces
the full network's run from a symmetric start (:func:`reduced_optimizer` feeds the optimizer
each full copy's gradient and params), with the symmetry holding by construction. Compiled
full-network training keeps identical units identical only up to rounding (the kernels need not
treat all units alike); :func:`gap_history` and :func:`gap_status` measure that floor and say
whether the dynamics amplify it.

Equilibrium and escape
----------------------
:func:`symmetric_equilibrium` follows a symmetric start inside ``S`` to a critical point of the
restricted loss (or detects a trap at infinity: the loss keeps falling while the weights grow),
and splits the Hessian there into the symmetric and the symmetry-breaking block
(:func:`symmetry_curvature`). :func:`escape` starts gradient descent at ``eps`` times the most
unstable breaking direction for a sweep of ``eps`` in one batched call and compares the steps
until the gap passes a threshold with :func:`predicted_escape_steps`,
``ln(threshold / eps) / ln(1 + lr |lambda_min|)``.
"""

from __future__ import annotations

import dataclasses
import functools
import itertools
import math
import numbers
from typing import Any, NamedTuple, Sequence

import jax
import jax.numpy as jnp
import numpy as np
import optax
from jax.flatten_util import ravel_pytree

from . import curvature, status
from .datasets import Dataset
from .models import ACTIVATIONS, Model, mlp
from .objectives import Criterion, Loss
from .objectives import loss as make_loss

__all__ = [
    # group
    "FLIP_KINDS", "flip_kind", "GroupElement", "permute_units", "flip_units", "apply_element",
    "identity_element", "compose", "inverse", "random_element", "group_elements", "orbit",
    "orbit_size",
    # subspace
    "symmetric_basis", "breaking_basis", "project_symmetric", "project_breaking",
    "symmetry_gap", "unit_params",
    # reduced parametrization (exact symmetric training)
    "reduced_model", "to_reduced", "from_reduced", "reduced_objective", "reduced_optimizer",
    "ReducedTraining", "reduced_training",
    # curvature, equilibrium, escape
    "SymmetryCurvature", "symmetry_curvature", "Equilibrium", "symmetric_equilibrium",
    "TRAP_RATIO", "REFINE_RADIUS", "XOR_SYMMETRIC_INFIMUM", "Escape", "escape",
    "predicted_escape_steps",
    # invariance in training results
    "GAP_STATUS", "ROUNDING_ULPS", "BROKEN_REL", "gap_status", "gap_history",
    # a strict saddle by construction
    "SaddleExample", "saddle_example",
]

# --------------------------------------------------------------------------------------------
# sign symmetry of activations

FLIP_KINDS: dict[str, str | None] = {
    "tanh": "odd", "erf": "odd", "linear": "odd",
    "sigmoid": "complement",
    "relu": None, "softplus": None, "gelu": None,
}
"""How a hidden unit's sign flips, by activation name: ``"odd"`` (``f(-z) = -f(z)``),
``"complement"`` (``f(-z) = 1 - f(z)``: the next bias absorbs the constant) or ``None`` (no
sign symmetry). Activations missing here are probed numerically (see :func:`flip_kind`)."""


@functools.lru_cache(maxsize=None)
def _probe_flip(name: str) -> str | None:
    z = np.linspace(-4.0, 4.0, 81)
    f = np.asarray(ACTIVATIONS[name](jnp.asarray(z, jnp.float32)), np.float64)
    g = np.asarray(ACTIVATIONS[name](jnp.asarray(-z, jnp.float32)), np.float64)
    tol = 1e-5 * (1.0 + np.max(np.abs(f)))
    if np.max(np.abs(g + f)) <= tol:
        return "odd"
    if np.max(np.abs(g + f - 1.0)) <= tol:
        return "complement"
    return None


def flip_kind(activation: str) -> str | None:
    """``"odd"``, ``"complement"`` or ``None`` for the activation called ``activation``.

    Names in :data:`FLIP_KINDS` are answered from it; any other known activation is probed on
    a grid (``f(-z) = -f(z)`` or ``1 - f(z)`` to 1e-5), so an odd activation added later (say
    ``sin``) flips without a change here.

    >>> flip_kind("tanh"), flip_kind("sigmoid"), flip_kind("relu")
    ('odd', 'complement', None)
    """
    if not isinstance(activation, str) or activation not in ACTIVATIONS:
        raise ValueError(f"activation={activation!r} is not a known activation; expected one of "
                         f"{sorted(ACTIVATIONS)}")
    if activation in FLIP_KINDS:
        return FLIP_KINDS[activation]
    return _probe_flip(activation)


# --------------------------------------------------------------------------------------------
# argument checks (Python level, before any tracing)


def _check_model(model) -> Model:
    if not isinstance(model, Model):
        raise TypeError(f"model={model!r} must be a landscape Model, e.g. landscape.mlp([2, 2, 1])")
    return model


def _is_tracer(x) -> bool:
    return isinstance(x, jax.core.Tracer)


def _batch_shape(model: Model, params, name: str = "params") -> tuple[int, ...]:
    """Check ``params`` against the model's layout; return the common leading batch shape."""
    shapes = model.param_shapes
    if not isinstance(params, (list, tuple)) or len(params) != len(shapes):
        raise ValueError(
            f"{name} must be a list of {len(shapes)} layer dicts like {shapes} (sizes "
            f"{list(model.sizes)}), got {type(params).__name__}"
            + (f" of length {len(params)}" if isinstance(params, (list, tuple)) else ""))
    batch = None
    for l, (layer, want) in enumerate(zip(params, shapes)):
        if not isinstance(layer, dict) or set(layer) != set(want):
            got = sorted(layer) if isinstance(layer, dict) else type(layer).__name__
            raise ValueError(f"{name}[{l}] must be a dict with keys {sorted(want)}, got {got}")
        for kind, shape in want.items():
            leaf = layer[kind]
            dtype = getattr(leaf, "dtype", None)
            if dtype is None or not jnp.issubdtype(dtype, jnp.floating):
                raise TypeError(f"{name}[{l}][{kind!r}] must be a floating array, got "
                                f"{type(leaf).__name__} with dtype {dtype}")
            lead = tuple(leaf.shape[: leaf.ndim - len(shape)])
            if leaf.ndim < len(shape) or tuple(leaf.shape[len(lead):]) != shape:
                raise ValueError(f"{name}[{l}][{kind!r}] has shape {tuple(leaf.shape)}; expected "
                                 f"(*batch, {', '.join(map(str, shape))})")
            if batch is None:
                batch = lead
            elif lead != batch:
                raise ValueError(f"{name} leaves must share their leading batch axes: "
                                 f"{name}[{l}][{kind!r}] has {lead}, earlier leaves {batch}")
    return batch


def _check_flips(model: Model, flips) -> bool:
    """Resolve ``flips`` (None = whenever the activation allows) to a bool."""
    if flips is None:
        return _can_flip(model)
    if not isinstance(flips, (bool, np.bool_)):
        raise TypeError(f"flips={flips!r} must be True, False or None (None: flips when the "
                        "activation allows them)")
    if flips:
        _check_can_flip(model)
    return bool(flips)


def _check_can_flip(model: Model) -> None:
    kind = flip_kind(model.activation)
    if kind is None:
        raise ValueError(
            f"activation {model.activation!r} has no sign symmetry (f(-z) is neither -f(z) nor "
            f"1 - f(z)), so hidden units cannot be flipped; use flips=False (permutations only)")
    if kind == "complement" and not model.bias:
        raise ValueError(
            f"flipping {model.activation!r} units shifts the next layer's bias "
            f"(sigmoid(-z) = 1 - sigmoid(z)), but this model has bias=False; use flips=False")


def _show(arr: np.ndarray) -> str:
    return str(arr.tolist()) if arr.size <= 24 else f"<array of shape {arr.shape}>"


def _check_unit_arrays(model: Model, name: str, values, *, perm: bool):
    """``values``: one array per hidden layer, last axis that layer's width."""
    hidden = model.hidden_sizes
    if not isinstance(values, (list, tuple)) or len(values) != len(hidden):
        raise ValueError(f"{name} must be a sequence of {len(hidden)} arrays, one per hidden "
                         f"layer of widths {list(hidden)}, got {values!r}")
    out = []
    for h, (v, width) in enumerate(zip(values, hidden)):
        arr = v if _is_tracer(v) else jnp.asarray(v)
        if arr.ndim < 1 or arr.shape[-1] != width:
            raise ValueError(f"{name}[{h}] has shape {tuple(arr.shape)}; expected (..., {width}) "
                             f"for hidden layer {h} of width {width}")
        if perm:
            if not jnp.issubdtype(arr.dtype, jnp.integer):
                raise TypeError(f"{name}[{h}] must hold integer unit indices, got dtype {arr.dtype}")
            if not _is_tracer(arr):
                host = np.asarray(arr)
                if not np.array_equal(np.sort(host, axis=-1),
                                      np.broadcast_to(np.arange(width), host.shape)):
                    raise ValueError(f"{name}[{h}]={_show(host)} must be a permutation of "
                                     f"0..{width - 1} (along its last axis)")
        else:
            if not jnp.issubdtype(arr.dtype, jnp.number):
                raise TypeError(f"{name}[{h}] must be numeric +-1 signs, got dtype {arr.dtype}")
            if not _is_tracer(arr) and not np.all(np.abs(np.asarray(arr)) == 1):
                raise ValueError(f"{name}[{h}]={_show(np.asarray(arr))} must hold only +1 and -1")
        out.append(arr)
    return tuple(out)


# --------------------------------------------------------------------------------------------
# the group action


def _take_units(leaf, perm, axis: int, trailing: int):
    """Reorder ``leaf``'s unit axis ``axis`` (-1 or -2 of its ``trailing`` dims) by ``perm
    (*b, H)``; the batch axes of leaf and perm broadcast."""
    if trailing == 1:
        idx = perm
    elif axis == -1:
        idx = perm[..., None, :]
    else:
        idx = perm[..., :, None]
    batch = jnp.broadcast_shapes(leaf.shape[:-trailing], idx.shape[:-trailing])
    shape = batch + leaf.shape[-trailing:]
    return jnp.take_along_axis(jnp.broadcast_to(leaf, shape), jnp.broadcast_to(idx, shape), axis=axis)


def _common_batch(model: Model, params):
    """Broadcast every leaf to the params' common batch shape (the group moves some leaves
    only, and a batch of elements gives those leaves a batch axis)."""
    shapes = model.param_shapes
    batch = jnp.broadcast_shapes(*[layer[k].shape[: layer[k].ndim - len(s)]
                                   for layer, want in zip(params, shapes) for k, s in want.items()])
    return [{k: jnp.broadcast_to(layer[k], batch + s) for k, s in want.items()}
            for layer, want in zip(params, shapes)]


_KIND_REPRESENTATIVE = {"odd": "tanh", "complement": "sigmoid", None: "relu"}


def _layout(model: Model, *, flips: bool = False) -> Model:
    """The part of ``model`` a compiled group/subspace program depends on (sizes, bias and, for
    flips, the flip kind), as a canonical Model: the compile cache key, shared by models that
    differ only in activations."""
    act = _KIND_REPRESENTATIVE[flip_kind(model.activation)] if flips else "linear"
    return dataclasses.replace(model, activation=act, output="linear")


def _permute(model: Model, params, perms):
    params = [dict(layer) for layer in params]
    for h, perm in enumerate(perms):
        params[h]["w"] = _take_units(params[h]["w"], perm, -1, 2)
        if model.bias:
            params[h]["b"] = _take_units(params[h]["b"], perm, -1, 1)
        params[h + 1]["w"] = _take_units(params[h + 1]["w"], perm, -2, 2)
    return _common_batch(model, params)


def _flip(model: Model, params, signs):
    kind = flip_kind(model.activation)
    params = [dict(layer) for layer in params]
    for h, s in enumerate(signs):
        s = s.astype(params[h]["w"].dtype)
        w_out = params[h + 1]["w"]
        params[h]["w"] = params[h]["w"] * s[..., None, :]
        if model.bias:
            params[h]["b"] = params[h]["b"] * s
        params[h + 1]["w"] = w_out * s[..., :, None]
        if kind == "complement":
            # sigmoid(-z) = 1 - sigmoid(z): a flipped unit's old outgoing weights move into the
            # next layer's bias.
            flipped = (1 - s) / 2
            params[h + 1]["b"] = params[h + 1]["b"] + jnp.sum(flipped[..., :, None] * w_out, axis=-2)
    return _common_batch(model, params)


def permute_units(model: Model, params, perms: Sequence) -> list:
    """Permute the hidden units: new unit ``j`` of hidden layer ``h`` is old unit ``perms[h][j]``.

    ``perms``: one integer array per hidden layer, shape ``(..., H_h)`` (leading axes broadcast
    against the params' batch axes). The permuted network computes the same function.

    >>> import jax, jax.numpy as jnp, landscape as ls
    >>> from landscape import symmetry
    >>> model = ls.mlp([2, 2, 1])
    >>> params = model.init(jax.random.key(0))
    >>> swapped = symmetry.permute_units(model, params, [jnp.array([1, 0])])
    >>> bool(jnp.allclose(swapped[0]["w"], params[0]["w"][:, ::-1]))
    True
    >>> x = ls.datasets.xor().x
    >>> bool(jnp.allclose(model.apply(swapped, x), model.apply(params, x)))
    True
    """
    _check_model(model)
    _batch_shape(model, params)
    perms = _check_unit_arrays(model, "perms", perms, perm=True)
    return _apply_impl(_layout(model, flips=False), params, perms, None)


def flip_units(model: Model, params, signs: Sequence) -> list:
    """Flip hidden units: ``signs[h][j] = -1`` flips unit ``j`` of hidden layer ``h``.

    ``signs``: one array of +-1 per hidden layer, shape ``(..., H_h)``. See the module docstring
    for what a flip does per activation; activations without a sign symmetry (relu, softplus,
    gelu) raise ValueError, as does a sigmoid model without biases.

    >>> import jax, jax.numpy as jnp, landscape as ls
    >>> from landscape import symmetry
    >>> model = ls.mlp([2, 2, 1], activation="tanh")
    >>> params = model.init(jax.random.key(0))
    >>> flipped = symmetry.flip_units(model, params, [jnp.array([-1, 1])])
    >>> x = ls.datasets.xor().x
    >>> bool(jnp.allclose(model.apply(flipped, x), model.apply(params, x), atol=1e-6))
    True
    """
    _check_model(model)
    _batch_shape(model, params)
    _check_can_flip(model)
    signs = _check_unit_arrays(model, "signs", signs, perm=False)
    return _apply_impl(_layout(model, flips=True), params, None, signs)


class GroupElement(NamedTuple):
    """An element of the MLP symmetry group: flip by ``signs``, then permute by ``perms``.

    perms: tuple of int arrays, one per hidden layer, ``(..., H_h)``.
    signs: tuple of +-1 arrays like ``perms`` (indexed by the *old* units), or ``None`` for no
           flips. A pytree: batches of elements (leading axes) pass through ``jit``/``vmap``.

    >>> import jax.numpy as jnp
    >>> swap_and_flip = GroupElement(perms=(jnp.array([1, 0]),), signs=(jnp.array([-1, 1]),))
    """

    perms: tuple
    signs: tuple | None = None


def _can_flip(model: Model) -> bool:
    kind = flip_kind(model.activation)
    return kind is not None and (kind != "complement" or model.bias)


def _check_element(model: Model, element) -> GroupElement:
    if not isinstance(element, GroupElement):
        raise TypeError(f"element={element!r} must be a GroupElement(perms, signs)")
    perms = _check_unit_arrays(model, "element.perms", element.perms, perm=True)
    signs = element.signs
    if signs is not None:
        signs = _check_unit_arrays(model, "element.signs", signs, perm=False)
        if not _can_flip(model):
            # all-(+1) signs are the identity and allowed; anything else (or traced) is not
            if any(_is_tracer(s) for s in signs) or any(np.any(np.asarray(s) != 1) for s in signs):
                _check_can_flip(model)
            signs = None
    return GroupElement(perms, signs)


def apply_element(model: Model, params, element: GroupElement) -> list:
    """``permute_units(flip_units(params, element.signs), element.perms)``.

    Params and element may both carry leading axes; they broadcast (e.g. one point and a batch
    of ``G`` elements give ``G`` images).

    >>> import jax, jax.numpy as jnp, landscape as ls
    >>> from landscape import symmetry
    >>> model = ls.mlp([2, 3, 1])
    >>> params = model.init(jax.random.key(0))
    >>> images = symmetry.apply_element(model, params, symmetry.random_element(
    ...     model, jax.random.key(1), shape=(5,)))      # 5 random images of one point
    >>> images[0]["w"].shape
    (5, 2, 3)
    """
    _check_model(model)
    _batch_shape(model, params)
    element = _check_element(model, element)
    return _apply_impl(_layout(model, flips=element.signs is not None), params, element.perms,
                       element.signs)


@functools.partial(jax.jit, static_argnames="model")
def _apply_impl(model: Model, params, perms, signs):
    """Flip by ``signs`` (if given), then permute by ``perms`` (if given); one compiled program
    per model and shapes."""
    if signs is not None:
        params = _flip(model, params, signs)
    if perms is not None:
        params = _permute(model, params, perms)
    return params


def identity_element(model: Model, *, flips: bool | None = None) -> GroupElement:
    """The identity: ``perms[h] = arange(H_h)`` and, with flips, all signs ``+1``.

    >>> import landscape as ls
    >>> identity_element(ls.mlp([2, 3, 1])).perms[0].tolist()
    [0, 1, 2]
    """
    _check_model(model)
    flips = _check_flips(model, flips)
    perms = tuple(jnp.arange(width) for width in model.hidden_sizes)
    signs = tuple(jnp.ones(width, jnp.int32) for width in model.hidden_sizes) if flips else None
    return GroupElement(perms, signs)


def _inverse_perm(p):
    return jnp.argsort(p, axis=-1)


def compose(a: GroupElement, b: GroupElement) -> GroupElement:
    """The element ``a o b``: applying it equals applying ``b`` first, then ``a``.

    With flip-then-permute elements: ``perm = b.perm[a.perm]`` and
    ``signs = b.signs * a.signs[inverse(b.perm)]`` (per hidden layer, leading axes broadcast).

    >>> import jax.numpy as jnp
    >>> cycle = GroupElement((jnp.array([1, 2, 0]),))
    >>> compose(cycle, cycle).perms[0].tolist()
    [2, 0, 1]
    """
    for name, e in (("a", a), ("b", b)):
        if not isinstance(e, GroupElement):
            raise TypeError(f"{name}={e!r} must be a GroupElement")
    if len(a.perms) != len(b.perms):
        raise ValueError(f"a and b act on different models: {len(a.perms)} vs {len(b.perms)} "
                         "hidden layers")
    perms = tuple(jnp.take_along_axis(*jnp.broadcast_arrays(pb, pa), axis=-1)
                  for pa, pb in zip(a.perms, b.perms))
    if a.signs is None and b.signs is None:
        return GroupElement(perms, None)
    ones = lambda e: tuple(jnp.ones_like(p) for p in e.perms)  # noqa: E731
    sa = a.signs if a.signs is not None else ones(a)
    sb = b.signs if b.signs is not None else ones(b)
    signs = tuple(
        s_b * jnp.take_along_axis(*jnp.broadcast_arrays(s_a, _inverse_perm(p_b)), axis=-1)
        for s_a, s_b, p_b in zip(sa, sb, b.perms))
    return GroupElement(perms, signs)


def inverse(element: GroupElement) -> GroupElement:
    """The element undoing ``element``: ``(inverse(perm), signs[perm])`` per hidden layer.

    >>> import jax.numpy as jnp
    >>> cycle = GroupElement((jnp.array([1, 2, 0]),))
    >>> compose(cycle, inverse(cycle)).perms[0].tolist()
    [0, 1, 2]
    """
    if not isinstance(element, GroupElement):
        raise TypeError(f"element={element!r} must be a GroupElement")
    perms = tuple(_inverse_perm(p) for p in element.perms)
    if element.signs is None:
        return GroupElement(perms, None)
    signs = tuple(jnp.take_along_axis(*jnp.broadcast_arrays(s, p), axis=-1)
                  for s, p in zip(element.signs, element.perms))
    return GroupElement(perms, signs)


def _check_shape(shape) -> tuple[int, ...]:
    if isinstance(shape, (int, np.integer)) and not isinstance(shape, bool):
        shape = (int(shape),)
    try:
        shape = tuple(shape)
    except TypeError:
        raise TypeError(f"shape={shape!r} must be an int or a tuple of ints") from None
    if not all(isinstance(s, (int, np.integer)) and not isinstance(s, bool) and s >= 0 for s in shape):
        raise ValueError(f"shape={shape!r} must hold non-negative integers")
    return tuple(int(s) for s in shape)


def _check_key(key):
    dtype = getattr(key, "dtype", None)
    if dtype is not None and jnp.issubdtype(dtype, jax.dtypes.prng_key) and key.shape == ():
        return key
    if dtype == jnp.uint32 and tuple(getattr(key, "shape", ())) == (2,):
        return key
    raise TypeError(f"key={key!r} must be one PRNG key (jax.random.key(seed))")


def random_element(model: Model, key, *, flips: bool | None = None, shape=()) -> GroupElement:
    """A uniformly random group element (``shape=()``) or a batch of them (leading ``shape``).

    Element ``i`` of the flattened batch uses ``k = fold_in(key, i)`` (a single element uses
    ``key``) and draws ``u = uniform(k, (2, sum_h H_h))``; hidden layer ``h`` takes its columns:
    its permutation ranks ``u[0]`` (``argsort``), its signs are ``-1`` where ``u[1] < 1/2``.
    ``flips=None`` includes sign flips when the activation has them.

    >>> import jax, jax.numpy as jnp, landscape as ls
    >>> from landscape import symmetry
    >>> g = symmetry.random_element(ls.mlp([2, 4, 1]), jax.random.key(0), shape=(10,))
    >>> g.perms[0].shape, g.signs[0].shape
    ((10, 4), (10, 4))
    """
    _check_model(model)
    key = _check_key(key)
    flips = _check_flips(model, flips)
    shape = _check_shape(shape)
    return _random_impl(_layout(model), flips, shape, key)


@functools.partial(jax.jit, static_argnames=("model", "flips", "shape"))
def _random_impl(model: Model, flips: bool, shape: tuple[int, ...], key) -> GroupElement:
    widths = model.hidden_sizes

    starts = np.cumsum((0,) + widths)

    def one(k):
        # one uniform draw for the whole element (a random kernel is costly to compile): row 0
        # ranks each layer's units (a uniform permutation), row 1 gives their signs
        u = jax.random.uniform(k, (2, int(starts[-1])))
        rows = [u[:, a:b] for a, b in zip(starts[:-1], starts[1:])]
        perms = tuple(jnp.argsort(r[0]).astype(jnp.int32) for r in rows)
        signs = tuple(jnp.where(r[1] < 0.5, -1, 1).astype(jnp.int32) for r in rows) if flips else None
        return GroupElement(perms, signs)

    if shape == ():
        return one(key)
    n = math.prod(shape)
    batch = jax.vmap(lambda i: one(jax.random.fold_in(key, i)))(jnp.arange(n))
    return jax.tree.map(lambda a: a.reshape(shape + a.shape[1:]), batch)


def orbit_size(model: Model, *, flips: bool | None = None) -> int:
    """Order of the group: ``prod_h H_h! * 2^{H_h}`` with flips, ``prod_h H_h!`` without.

    A generic point has this many distinct images; a point fixed by some elements (equal units,
    zero weights) has fewer.

    >>> import landscape as ls
    >>> orbit_size(ls.mlp([2, 3, 1])), orbit_size(ls.mlp([2, 3, 1]), flips=False)
    (48, 6)
    """
    _check_model(model)
    flips = _check_flips(model, flips)
    return math.prod(math.factorial(w) * (2**w if flips else 1) for w in model.hidden_sizes)


MAX_ORBIT = 1_000_000
"""Default cap on the number of elements :func:`group_elements` and :func:`orbit` enumerate."""


def group_elements(model: Model, *, flips: bool | None = None, max_size: int = MAX_ORBIT
                   ) -> GroupElement:
    """Every group element, stacked on a leading axis of length :func:`orbit_size`.

    The identity comes first; layers vary slowest-first (layer 0's permutations outermost).
    Raises ValueError when the group has more than ``max_size`` elements.

    >>> import landscape as ls
    >>> group_elements(ls.mlp([2, 2, 1]), flips=False).perms[0].tolist()
    [[0, 1], [1, 0]]
    """
    size = orbit_size(model, flips=flips)
    flips = _check_flips(model, flips)
    if isinstance(max_size, bool) or not isinstance(max_size, (int, np.integer)) or max_size < 1:
        raise ValueError(f"max_size={max_size!r} must be a positive integer")
    if size > max_size:
        raise ValueError(f"the group of sizes {list(model.sizes)} has {size} elements (flips="
                         f"{flips}), more than max_size={max_size}; draw random_element instead")
    per_layer = []
    for width in model.hidden_sizes:
        perms = list(itertools.permutations(range(width)))
        signs = list(itertools.product((1, -1), repeat=width)) if flips else [None]
        per_layer.append([(p, s) for p in perms for s in signs])
    combos = list(itertools.product(*per_layer))
    perms = tuple(jnp.asarray(np.array([c[h][0] for c in combos], np.int32).reshape(size, -1))
                  for h in range(len(model.hidden_sizes)))
    signs = None
    if flips:
        signs = tuple(jnp.asarray(np.array([c[h][1] for c in combos], np.int32).reshape(size, -1))
                      for h in range(len(model.hidden_sizes)))
    return GroupElement(perms, signs)


def orbit(model: Model, params, *, flips: bool | None = None, max_size: int = MAX_ORBIT) -> list:
    """The images of ``params`` under every group element: leaves ``(orbit_size, *batch, ...)``.

    Image ``g`` is ``apply_element(model, params, group_elements(model)[g])``; image 0 is
    ``params`` itself. Duplicates appear when ``params`` is fixed by some elements.

    >>> import jax, jax.numpy as jnp, landscape as ls
    >>> from landscape import symmetry
    >>> model = ls.mlp([2, 2, 1])
    >>> symmetry.orbit(model, model.init(jax.random.key(0)))[0]["w"].shape  # 2! * 2^2 images
    (8, 2, 2)
    """
    _check_model(model)
    batch = _batch_shape(model, params)
    elements = group_elements(model, flips=flips, max_size=max_size)
    size = orbit_size(model, flips=flips)
    elements = jax.tree.map(lambda a: a.reshape(a.shape[:1] + (1,) * len(batch) + a.shape[1:]),
                            elements)
    images = apply_element(model, params, elements)
    # (a model without hidden layers has the trivial group: one image)
    return [{k: jnp.broadcast_to(layer[k], (size,) + batch + s) for k, s in want.items()}
            for layer, want in zip(images, model.param_shapes)]


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


def project_symmetric(model: Model, params) -> list:
    """Orthogonal projection onto the symmetric subspace: each hidden unit replaced by the mean
    unit of its layer (entries averaged along every hidden-unit axis). Batched over leading axes.

    Equals ``unravel(Q Q^T x)`` with ``Q = symmetric_basis(model)``; a point whose units are
    bit-identical is returned bit for bit.

    >>> import jax, jax.numpy as jnp, landscape as ls
    >>> from landscape import symmetry
    >>> model = ls.mlp([2, 2, 1])
    >>> sym = symmetry.project_symmetric(model, model.init(jax.random.key(0)))
    >>> float(symmetry.symmetry_gap(model, sym))
    0.0
    """
    _check_model(model)
    _batch_shape(model, params)
    return _project_impl(_layout(model), params, False)


def project_breaking(model: Model, params) -> list:
    """``params - project_symmetric(params)``: the symmetry-breaking component (zero exactly
    when the units of every layer are bit-identical). Batched over leading axes.

    >>> import jax, jax.numpy as jnp, landscape as ls
    >>> from landscape import symmetry
    >>> model = ls.mlp([2, 2, 1])
    >>> brk = symmetry.project_breaking(model, ls.inits.constant(model, 0.5)(jax.random.key(0)))
    >>> brk[0]["w"].tolist()
    [[0.0, 0.0], [0.0, 0.0]]
    """
    _check_model(model)
    _batch_shape(model, params)
    return _project_impl(_layout(model), params, True)


@functools.partial(jax.jit, static_argnames=("model", "breaking"))
def _project_impl(model: Model, params, breaking: bool):
    sym = _project_symmetric(model, params)
    if breaking:
        return jax.tree.map(lambda x, s: x - s, list(params), sym)
    return sym


def symmetry_gap(model: Model, params, *, per_layer: bool = False):
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
    >>> symmetry.symmetry_gap(model, runs).shape                 # one gap per run
    (100,)
    >>> float(symmetry.symmetry_gap(model, ls.inits.constant(model, 0.5)(jax.random.key(0))))
    0.0
    """
    _check_model(model)
    _batch_shape(model, params)
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
    if not jnp.issubdtype(dtype, jnp.floating):
        raise TypeError(f"dtype={dtype!r} must be a floating dtype")
    return dtype


def symmetric_basis(model: Model, *, dtype=None) -> jax.Array:
    """Orthonormal basis of the symmetric subspace as columns, ``(n_params, k_sym)``.

    Rows follow ``ravel_pytree(params)``; one column per group of entries tied together by the
    hidden-unit axes (``1/sqrt(k)`` on its ``k`` members). ``dtype`` defaults to JAX's default
    float (float64 under ``jax_enable_x64``).

    >>> import landscape as ls
    >>> symmetric_basis(ls.mlp([2, 2, 1])).shape  # 9 params, 5 = a 2-1-1 network's
    (9, 5)
    """
    _check_model(model)
    return jnp.asarray(_bases(model)[0], _float_dtype(dtype))


def breaking_basis(model: Model, *, dtype=None) -> jax.Array:
    """Orthonormal basis of the symmetry-breaking directions (the orthogonal complement of the
    symmetric subspace) as columns, ``(n_params, n_params - k_sym)``: Helmert contrasts within
    each tied group. Zero columns when the model has no hidden layer of width above one.

    >>> import landscape as ls
    >>> breaking_basis(ls.mlp([2, 2, 1])).shape
    (9, 4)
    """
    _check_model(model)
    return jnp.asarray(_bases(model)[1], _float_dtype(dtype))


# --------------------------------------------------------------------------------------------
# the reduced parametrization: one unit per hidden layer


def reduced_model(model: Model) -> Model:
    """The same MLP with one unit per hidden layer: ``[n_in, 1, ..., 1, n_out]``.

    A point of the symmetric subspace of ``model`` computes the same function as its image
    under :func:`to_reduced` in this model (the outgoing weights of a hidden layer of width
    ``H`` are multiplied by ``H``: ``H`` equal units sending ``w`` each add up to one unit
    sending ``H w``).

    >>> import landscape as ls
    >>> reduced_model(ls.mlp([2, 3, 1])).sizes
    (2, 1, 1)
    """
    _check_model(model)
    return dataclasses.replace(model, sizes=(model.n_in,) + (1,) * len(model.hidden_sizes)
                               + (model.n_out,))


def _reduced_factors(model: Model):
    """Per reduced leaf, ``(copies, scale)``: how many entries of the full network one reduced
    entry stands for, and the factor ``reduced = scale * full`` (the width of the hidden layer
    sending into the leaf for weights, 1 otherwise). Constant within each leaf."""
    widths = (1,) + model.hidden_sizes + (1,)  # units per layer, inputs/outputs not tied
    out = []
    for l in range(model.n_layers):
        sending, receiving = widths[l], widths[l + 1]
        layer = {"w": (sending * receiving, sending)}
        if model.bias:
            layer["b"] = (receiving, 1)
        out.append(layer)
    return out


def to_reduced(model: Model, params) -> list:
    """Full params -> the reduced network's (:func:`reduced_model`), batched over leading axes.

    Each hidden layer's mean unit (the symmetric projection, exact for identical units) becomes
    the single unit; weights leaving a hidden layer of width ``H`` are multiplied by ``H``, so
    that a point of the symmetric subspace keeps its function. Off the subspace this maps the
    projection :func:`project_symmetric` of ``params``.

    >>> import jax, jax.numpy as jnp, landscape as ls
    >>> from landscape import symmetry
    >>> model = ls.mlp([2, 3, 1])
    >>> red = symmetry.to_reduced(model, ls.inits.constant(model, 0.5)(jax.random.key(0)))
    >>> red[0]["w"].tolist(), red[1]["w"].tolist()  # outgoing weights times H = 3
    ([[0.5], [0.5]], [[1.5]])
    """
    _check_model(model)
    _batch_shape(model, params)
    return _to_reduced(_layout(model), params)


@functools.partial(jax.jit, static_argnames="model")
def _to_reduced(model: Model, params):
    sym = _project_symmetric(model, params)
    out = []
    for layer, axes, factors in zip(sym, _leaf_unit_axes(model), _reduced_factors(model)):
        new = {}
        for kind, leaf in layer.items():
            trailing = 2 if kind == "w" else 1
            index = tuple(slice(0, 1) if a - leaf.ndim in _neg_axes(axes[kind], trailing) else slice(None)
                          for a in range(leaf.ndim))
            new[kind] = leaf[index] * factors[kind][1]
        out.append(new)
    return out


def from_reduced(model: Model, reduced) -> list:
    """Reduced params (of :func:`reduced_model`) -> the full network's point of the symmetric
    subspace with the same function: every unit a copy of the single one, weights leaving a
    hidden layer of width ``H`` divided by ``H``. Batched over leading axes; the units of the
    result are bit-identical, so its :func:`symmetry_gap` is exactly 0.

    >>> import jax, jax.numpy as jnp, landscape as ls
    >>> from landscape import symmetry
    >>> model = ls.mlp([2, 3, 1])
    >>> full = symmetry.from_reduced(model, symmetry.reduced_model(model).init(jax.random.key(0)))
    >>> full[0]["w"].shape, float(symmetry.symmetry_gap(model, full))
    ((2, 3), 0.0)
    """
    _check_model(model)
    small = reduced_model(model)
    _batch_shape(small, reduced, "reduced")
    return _from_reduced(_layout(model), reduced)


@functools.partial(jax.jit, static_argnames="model")
def _from_reduced(model: Model, reduced):
    out = []
    for layer, want, factors in zip(reduced, model.param_shapes, _reduced_factors(model)):
        new = {}
        for kind, leaf in layer.items():
            shape = want[kind]
            value = leaf / factors[kind][1] if factors[kind][1] != 1 else leaf
            new[kind] = jnp.broadcast_to(value, leaf.shape[: leaf.ndim - len(shape)] + shape)
        out.append(new)
    return out


def _check_loss_fn(loss_fn) -> None:
    if not callable(loss_fn):
        raise TypeError(f"loss_fn={loss_fn!r} must be callable as loss_fn(params, data) -> scalar")


def _model_of(loss_fn, model) -> Model:
    """``model`` if given, else the model of a landscape loss (``loss_fn.model``)."""
    if model is None:
        model = getattr(loss_fn, "model", None)
        if not isinstance(model, Model):
            raise TypeError(f"loss_fn={loss_fn!r} does not say its model; pass model=landscape.mlp(...)")
    return _check_model(model)


@dataclasses.dataclass(frozen=True)
class _OnFull:
    """``fn(from_reduced(model, reduced), data)``: any loss or criterion of the full network,
    evaluated on reduced params."""

    model: Model
    fn: Any

    def __call__(self, reduced, data):
        return self.fn(_from_reduced(_layout(self.model), reduced), data)


def reduced_objective(model: Model, fn):
    """``fn(params, data)`` of the full network as a function of reduced params (see
    :func:`reduced_training` for an example).

    A landscape loss or success criterion of ``model`` (:func:`landscape.objectives.loss`,
    :func:`landscape.objectives.success`) becomes the same objective of :func:`reduced_model`
    (cheap: one unit per layer; ``train_many`` takes its fast path). Any other callable is
    wrapped to evaluate ``fn(from_reduced(model, reduced), data)``. Both give the same values.
    """
    _check_model(model)
    if not callable(fn):
        raise TypeError(f"fn={fn!r} must be callable as fn(params, data)")
    if isinstance(fn, (Loss, Criterion)) and fn.model == model:
        return dataclasses.replace(fn, model=reduced_model(model))
    return _OnFull(model, fn)


def reduced_optimizer(model: Model, optimizer):
    """``optimizer`` acting on reduced params exactly as it acts on the full network's params
    inside the symmetric subspace.

    Each reduced entry ``r = s * w`` stands for ``k`` identical full entries ``w`` (``s``: the
    width of the sending hidden layer for weights, else 1). The full gradient of each copy is
    ``g_w = s * g_r / k``; the wrapped optimizer sees ``g_w`` and params ``r / s`` (so weight
    decay, Adam's normalization, momentum... act as on every full copy) and its updates are
    multiplied by ``s``. Training reduced params with it retraces the full trajectory of a
    symmetric start (to rounding) with the symmetry holding by construction. The optimizer
    state is the wrapped optimizer's own (e.g. ``inject_hyperparams`` hyperparameters stay
    reachable). See :func:`reduced_training` for an example.
    """
    _check_model(model)
    if not (hasattr(optimizer, "init") and hasattr(optimizer, "update")):
        raise TypeError(f"optimizer={optimizer!r} must be an optax GradientTransformation")
    return _reduced_optimizer(_layout(model), optimizer)


@functools.lru_cache(maxsize=64)
def _reduced_optimizer(model: Model, optimizer):
    """Cached per (layout, optimizer): the same wrapped object for the same optimizer object, so
    compiled programs keyed on it are reused."""
    factors = _reduced_factors(model)
    grad_scale = [{k: s / n for k, (n, s) in layer.items()} for layer in factors]
    scale = [{k: s for k, (n, s) in layer.items()} for layer in factors]

    def mul(tree, by):
        return [{k: leaf[k] * f[k] if f[k] != 1 else leaf[k] for k in leaf} for leaf, f in zip(tree, by)]

    def div(tree, by):
        return [{k: leaf[k] / f[k] if f[k] != 1 else leaf[k] for k in leaf} for leaf, f in zip(tree, by)]

    def init(params):
        return optimizer.init(div(params, scale))

    def update(grads, state, params=None):
        updates, state = optimizer.update(mul(grads, grad_scale), state,
                                          None if params is None else div(params, scale))
        return mul(updates, scale), state

    return optax.GradientTransformation(init, update)


@dataclasses.dataclass(frozen=True)
class _ReducedInit:
    model: Model
    init_fn: Any

    def __call__(self, key):
        return _to_reduced(_layout(self.model), self.init_fn(key))


class ReducedTraining(NamedTuple):
    """The pieces for ``train_many`` in the reduced parametrization (see :func:`reduced_training`)."""

    model: Model
    loss_fn: Any
    init_fn: Any
    optimizer: Any
    success: Any


def reduced_training(model: Model, loss_fn, init_fn, optimizer, *, success=None) -> ReducedTraining:
    """Exact symmetric training: ``loss_fn``, ``init_fn``, ``optimizer`` (and ``success``) of the
    full network turned into their reduced counterparts (:func:`reduced_objective`,
    :func:`to_reduced` of each start, :func:`reduced_optimizer`).

    >>> import optax, jax, landscape as ls
    >>> model = ls.mlp([2, 3, 1])
    >>> red = ls.symmetry.reduced_training(model, ls.objectives.loss(model, "mse"),
    ...                                    ls.inits.constant(model, 0.5), optax.sgd(0.5))
    >>> result = ls.train_many(red.loss_fn, red.init_fn, red.optimizer, ls.datasets.xor(),
    ...                        key=jax.random.key(0), n_runs=4, steps=100)
    >>> full = ls.symmetry.from_reduced(model, result.params)  # units bit-identical

    The reduced run follows the full network's trajectory from ``project_symmetric`` of the start
    (to rounding, and exactly in exact arithmetic) but can never leave the symmetric subspace.
    """
    _check_model(model)
    _check_loss_fn(loss_fn)
    if not callable(init_fn):
        raise TypeError(f"init_fn={init_fn!r} must be callable as init_fn(key) -> params")
    return ReducedTraining(
        model=reduced_model(model), loss_fn=reduced_objective(model, loss_fn),
        init_fn=_ReducedInit(model, init_fn), optimizer=reduced_optimizer(model, optimizer),
        success=None if success is None else reduced_objective(model, success))


# --------------------------------------------------------------------------------------------
# descent of a batch of points (float64-capable, one compiled program)


class _Descent(NamedTuple):
    params: Any          # final, leading run axis
    trajectory: Any      # leaves (runs, n_records, ...): params at record_steps
    losses: jax.Array    # (runs, n_records)
    crossed: jax.Array   # (runs,) first step where watch held, -1 if never


@functools.partial(jax.jit, static_argnames=("loss_fn", "optimizer", "steps", "record_every", "watch"))
def _descend(loss_fn, optimizer, params, data, *, steps, record_every, watch=None):
    """``steps`` optimizer steps from each row of ``params``; records every ``record_every``.

    ``watch(p) -> bool`` (optional) is checked before every step and after the last: ``crossed``
    is the first step count at which it held (the check after ``t`` updates is step ``t``).
    Step indices are int32 so the program also compiles under ``jax_enable_x64``.
    """
    n = jax.tree.leaves(params)[0].shape[0]
    value_and_grad = jax.vmap(jax.value_and_grad(loss_fn), in_axes=(0, None))
    update = jax.vmap(optimizer.update)
    check = jax.vmap(watch) if watch is not None else None

    def first(crossed, p, i):
        if check is None:
            return crossed
        return jnp.where((crossed < 0) & check(p), i, crossed)

    def step(carry, i):
        p, state, crossed = carry
        crossed = first(crossed, p, i)
        _, grads = value_and_grad(p, data)
        updates, state = update(grads, state, p)
        return (optax.apply_updates(p, updates), state, crossed), None

    def block(carry, b):
        record = (carry[0], value_and_grad(carry[0], data)[0])
        steps_b = b * record_every + jnp.arange(record_every, dtype=jnp.int32)
        carry, _ = jax.lax.scan(step, carry, steps_b)
        return carry, record

    carry = (params, jax.vmap(optimizer.init)(params), jnp.full((n,), -1, jnp.int32))
    n_blocks = steps // record_every
    carry, (traj, losses) = jax.lax.scan(block, carry, jnp.arange(n_blocks, dtype=jnp.int32))
    final, _, crossed = carry
    crossed = first(crossed, final, jnp.int32(steps))
    final_loss = value_and_grad(final, data)[0]
    traj = jax.tree.map(lambda t, f: jnp.swapaxes(jnp.concatenate([t, f[None]], 0), 0, 1), traj, final)
    losses = jnp.concatenate([losses, final_loss[None]], 0).T
    return _Descent(final, traj, losses, crossed)


def _check_steps(steps, record_every, max_records=1000):
    if isinstance(steps, bool) or not isinstance(steps, (int, np.integer)) or steps < 1:
        raise ValueError(f"steps={steps!r} must be a positive integer")
    if record_every is None:
        record_every = next(d for d in range(1, steps + 1) if steps % d == 0 and steps // d <= max_records)
    if (isinstance(record_every, bool) or not isinstance(record_every, (int, np.integer))
            or record_every < 1 or steps % record_every):
        raise ValueError(f"record_every={record_every!r} must be a positive integer dividing steps={steps}")
    return int(steps), int(record_every)


# --------------------------------------------------------------------------------------------
# curvature split into the symmetric and the symmetry-breaking block


class SymmetryCurvature(NamedTuple):
    """The Hessian in the symmetric and symmetry-breaking blocks (leading axes when batched).

    symmetric:  ``(k_sym,)`` ascending eigenvalues of ``Q_S^T H Q_S``.
    breaking:   ``(k_brk,)`` ascending eigenvalues of ``Q_B^T H Q_B``.
    directions: ``(n_params, k_brk)`` unit eigenvectors of the breaking block in the flattened
                full coordinates (``Q_B V``; column ``j`` belongs to ``breaking[j]``, so column 0
                is the most unstable symmetry-breaking direction).
    coupling:   ``max |Q_S^T H Q_B|``, the largest entry of the off-diagonal block.

    At a point of the symmetric subspace the Hessian commutes with the unit permutations, so it
    is block diagonal in ``(Q_S, Q_B)`` (``coupling`` is rounding) and the two spectra together
    are its whole spectrum.
    """

    symmetric: jax.Array
    breaking: jax.Array
    directions: jax.Array
    coupling: jax.Array


def symmetry_curvature(loss_fn, params, data, *, model=None) -> SymmetryCurvature:
    """Split the Hessian of ``loss_fn`` at ``params`` into the symmetric block and the
    symmetry-breaking block (:func:`landscape.curvature.restricted_hessian` with
    :func:`symmetric_basis` and :func:`breaking_basis`), batched over leading axes of
    ``params``. ``model`` defaults to ``loss_fn.model``. Without a hidden layer of width >= 2
    the breaking block is empty (``breaking`` of length 0). Returns :class:`SymmetryCurvature`.

    >>> import jax, jax.numpy as jnp, optax, landscape as ls
    >>> from landscape import symmetry
    >>> model = ls.mlp([2, 2, 1])
    >>> loss_fn = ls.objectives.loss(model, "mse")
    >>> start = ls.inits.constant(model, 0.5)(jax.random.key(0))
    >>> split = symmetry.symmetry_curvature(loss_fn, start, ls.datasets.xor())
    >>> split.symmetric.shape, split.breaking.shape, split.directions.shape
    ((5,), (4,), (9, 4))
    """
    _check_loss_fn(loss_fn)
    model = _model_of(loss_fn, model)
    batch = _batch_shape(model, params)
    dtype = jax.tree.leaves(params)[0].dtype
    q_s, q_b = symmetric_basis(model, dtype=dtype), breaking_basis(model, dtype=dtype)
    # one restricted Hessian in the whole orthonormal basis (Q_S, Q_B), then its blocks
    q = jnp.concatenate([q_s, q_b], axis=1)
    if batch:
        flat = jax.tree.map(lambda a: a.reshape((-1,) + a.shape[len(batch):]), params)
        m = curvature.restricted_hessian_batched(loss_fn, flat, data, q)
    else:
        m = curvature.restricted_hessian(loss_fn, params, data, q)
    out = _split_blocks(m, q_b)
    if batch:
        out = jax.tree.map(lambda a: a.reshape(batch + a.shape[1:]), out)
    return out


@jax.jit
def _split_blocks(m, q_b):
    k = q_b.shape[0] - q_b.shape[1]  # symmetric dimension
    lam_s = jnp.linalg.eigvalsh(m[..., :k, :k])
    lam_b, vec_b = jnp.linalg.eigh(m[..., k:, k:])
    coupling = jnp.max(jnp.abs(m[..., :k, k:]), axis=(-2, -1), initial=0.0)
    return SymmetryCurvature(lam_s, lam_b, q_b @ vec_b, coupling)


# --------------------------------------------------------------------------------------------
# the symmetric equilibrium


XOR_SYMMETRIC_INFIMUM = {"mse": 1.0 / 6.0, "half_sse": 1.0 / 3.0}
"""Infimum of the XOR loss of a 2-H-1 logistic network over its symmetric subspace, by loss name.
With all hidden units equal the output is a monotone function of x1 + x2; the best such
function (increasing) is 0 on (0, 0) and 2/3 on the other three patterns, squared errors
2 (1/3)^2 + (2/3)^2 = 2/3 in all: mse 1/6, half-SSE 1/3, approached only as the weights grow
without bound (a trap at infinity). Tested in tests/test_symmetry.py."""

TRAP_RATIO = 0.5
"""A run whose parameter norm grew by at least this fraction as much over the last doubling of
its steps as over the doubling before (``|x(T)| - |x(T/2)| >= TRAP_RATIO (|x(T/2)| - |x(T/4)|)``),
while its loss kept falling, is heading to infinity: logarithmic growth gives a ratio near 1,
convergence to a finite point a ratio near 0 (``2^-a`` for a power-law approach ``t^-a``)."""

REFINE_RADIUS = 0.1
"""Newton refinement of the end of the restricted run is accepted when it converges within
``REFINE_RADIUS * (1 + |x|)`` of it (farther, it found another critical point)."""


@dataclasses.dataclass(frozen=True)
class Equilibrium:
    """Where gradient training inside the symmetric subspace goes (:func:`symmetric_equilibrium`).

    kind:             ``"critical_point"`` (a finite critical point of the restricted loss, hence
                      of the full loss), ``"trap_at_infinity"`` (the loss kept decreasing while
                      the weights grew without bound) or ``"not_converged"``.
    params:           the end point in the full network (units bit-identical).
    reduced_params:   the same point in :func:`reduced_model` coordinates.
    loss, grad_norm:  the full loss and the norm of its gradient there.
    label:            curvature label of the whole spectrum (a name of ``landscape.status.POINT``).
    curvature:        :class:`SymmetryCurvature` at the point.
    lambda_min:       most negative symmetry-breaking eigenvalue (``curvature.breaking[0]``;
                      NaN, and ``escape_direction`` None, when every hidden layer has one unit).
    strict_saddle:    a finite critical point with ``lambda_min < -sqrt(eps) * max|lambda|``:
                      symmetry-breaking directions lead downhill, so the symmetric point is
                      unstable in the full network (never set for the other kinds).
    escape_direction: the unit symmetry-breaking eigenvector of ``lambda_min`` (a params pytree).
    history:          arrays over the restricted run: ``steps``, ``loss``, ``grad_norm``,
                      ``param_norm``.
    trajectory:       the run's points in the full network (units bit-identical), leaves
                      ``(n_records, ...)`` at ``history["steps"]``: the constant-start path.
    growth_ratio:     ``(|x(T)| - |x(T/2)|) / (|x(T/2)| - |x(T/4)|)`` over the run (see
                      :data:`TRAP_RATIO`).
    refined:          whether Newton refinement converged near the end of the run.
    """

    kind: str
    params: Any
    reduced_params: Any
    loss: float
    grad_norm: float
    label: str
    curvature: SymmetryCurvature
    lambda_min: float
    strict_saddle: bool
    escape_direction: Any
    history: dict
    growth_ratio: float
    refined: bool
    trajectory: Any = None

    def summary(self) -> dict:
        """Headline numbers as plain Python values (for ``summary.json``)."""
        return {
            "kind": self.kind, "loss": self.loss, "grad_norm": self.grad_norm, "label": self.label,
            "lambda_min_breaking": self.lambda_min, "strict_saddle": self.strict_saddle,
            "symmetric_eigenvalues": np.asarray(self.curvature.symmetric).tolist(),
            "breaking_eigenvalues": np.asarray(self.curvature.breaking).tolist(),
            "param_norm": float(self.history["param_norm"][-1]),
            "growth_ratio": self.growth_ratio, "refined": self.refined,
            "steps": int(self.history["steps"][-1]),
        }


def _flat_norms(tree) -> np.ndarray:
    """``(rows,)`` Euclidean norms of a pytree whose leaves have one leading axis."""
    leaves = [np.asarray(a, np.float64).reshape(a.shape[0], -1) for a in jax.tree.leaves(tree)]
    return np.sqrt(sum(np.sum(a * a, axis=1) for a in leaves))


@functools.partial(jax.jit, static_argnames="loss_fn")
def _grads(loss_fn, params, data):
    return jax.vmap(jax.grad(loss_fn), in_axes=(0, None))(params, data)


def _growth_ratio(steps: np.ndarray, norms: np.ndarray) -> float:
    t = steps[-1]
    at = lambda s: norms[int(np.argmin(np.abs(steps - s)))]  # noqa: E731
    early, late = at(t / 2) - at(t / 4), at(t) - at(t / 2)
    if early <= 0:
        return float("inf") if late > 0 else 0.0
    return float(late / early)


def symmetric_equilibrium(loss_fn, params, data, *, optimizer, steps: int = 20_000,
                          record_every: int | None = None, model: Model | None = None,
                          refine: bool = True, trap_ratio: float = TRAP_RATIO) -> Equilibrium:
    """Follow a symmetric start to its symmetric equilibrium and say what it is.

    Trains :func:`project_symmetric` of ``params`` for ``steps`` steps of ``optimizer`` in the
    reduced parametrization (:func:`reduced_training`: the full network's dynamics, with the
    symmetry exact), then tries Newton refinement (:func:`landscape.curvature.refine`) of the
    end point on the restricted loss. Reports the loss, gradient norm and the curvature split
    into the symmetric and symmetry-breaking blocks (:func:`symmetry_curvature`) at the
    refined point, or at the end of the run, and classifies the outcome (see
    :class:`Equilibrium`): a finite critical point, or a trap at infinity when the loss keeps
    decreasing while the norm grows at least ``trap_ratio`` as fast over the last doubling of
    the run as over the doubling before (see :data:`TRAP_RATIO`).

    Float64 (``jax_enable_x64``) is recommended: critical points are only known to about
    ``sqrt(eps)`` of the dtype.

    >>> import jax, jax.numpy as jnp, optax, landscape as ls
    >>> from landscape import symmetry
    >>> model = ls.mlp([2, 2, 1])
    >>> with jax.enable_x64(True):
    ...     data = ls.datasets.xor(dtype=jnp.float64)
    ...     start = ls.inits.constant(model, 0.5, dtype=jnp.float64)(jax.random.key(0))
    ...     eq = symmetry.symmetric_equilibrium(ls.objectives.loss(model, "mse"), start, data,
    ...                                         optimizer=optax.sgd(2.0), steps=4000)
    >>> eq.kind, round(eq.loss, 3)  # XOR: the loss approaches 1/6 as the weights grow
    ('trap_at_infinity', 0.168)
    """
    _check_loss_fn(loss_fn)
    model = _model_of(loss_fn, model)
    if _batch_shape(model, params):
        raise ValueError("symmetric_equilibrium takes one start (params without a batch axis)")
    if not (hasattr(optimizer, "init") and hasattr(optimizer, "update")):
        raise TypeError(f"optimizer={optimizer!r} must be an optax GradientTransformation")
    steps, record_every = _check_steps(steps, record_every)
    if not isinstance(refine, (bool, np.bool_)):
        raise TypeError(f"refine={refine!r} must be True or False")
    if isinstance(trap_ratio, bool) or not isinstance(trap_ratio, numbers.Real) or not trap_ratio > 0:
        raise ValueError(f"trap_ratio={trap_ratio!r} must be a positive number")
    layout = _layout(model)
    red_loss = reduced_objective(model, loss_fn)
    start = _to_reduced(layout, params)
    run = _descend(red_loss, reduced_optimizer(model, optimizer),
                   jax.tree.map(lambda a: a[None], start), data,
                   steps=steps, record_every=record_every)
    traj = _from_reduced(layout, jax.tree.map(lambda a: a[0], run.trajectory))
    grads = _grads(loss_fn, traj, data)
    history = {"steps": np.arange(0, steps + 1, record_every), "loss": np.asarray(run.losses[0]),
               "grad_norm": _flat_norms(grads), "param_norm": _flat_norms(traj)}
    end = jax.tree.map(lambda a: a[0], run.params)
    point, refined = end, False
    if refine:
        res = curvature.refine(red_loss, end, data, method="newton")
        x_end = ravel_pytree(end)[0]
        dist = float(jnp.linalg.norm(ravel_pytree(res.params)[0] - x_end))
        if bool(res.converged) and dist <= REFINE_RADIUS * (1.0 + float(jnp.linalg.norm(x_end))):
            point, refined = res.params, True
    full = _from_reduced(layout, point)
    loss, grad = jax.value_and_grad(loss_fn)(full, data)
    grad_norm = float(jnp.linalg.norm(ravel_pytree(grad)[0]))
    ratio = _growth_ratio(history["steps"], history["param_norm"])
    norms, losses = history["param_norm"], history["loss"]
    half = len(losses) // 2
    heading_out = (losses[-1] < losses[half] and norms[-1] > norms[half] > norms[len(norms) // 4]
                   and ratio >= trap_ratio)
    tol = math.sqrt(float(jnp.finfo(jax.tree.leaves(full)[0].dtype).eps))
    if refined or grad_norm <= tol:
        kind = "critical_point"
    elif heading_out:
        kind = "trap_at_infinity"
    else:
        kind = "not_converged"
    curv = symmetry_curvature(loss_fn, full, data, model=model)
    spectrum = jnp.concatenate([curv.symmetric, curv.breaking])
    label, *_ = curvature.classify_spectrum(spectrum, jnp.asarray(grad_norm, spectrum.dtype))
    lam_min = float(curv.breaking[0]) if curv.breaking.shape[-1] else float("nan")
    scale = float(jnp.max(jnp.abs(spectrum)))
    unravel = ravel_pytree(full)[1]
    return Equilibrium(
        kind=kind, params=full, reduced_params=point, loss=float(loss), grad_norm=grad_norm,
        label=status.POINT[int(label)], curvature=curv, lambda_min=lam_min,
        strict_saddle=kind == "critical_point" and lam_min < -tol * scale,
        escape_direction=unravel(curv.directions[:, 0]) if curv.breaking.shape[-1] else None,
        history=history, growth_ratio=ratio, refined=refined, trajectory=traj)


# --------------------------------------------------------------------------------------------
# escape from the symmetric subspace


def predicted_escape_steps(eps, threshold, learning_rate, lambda_min):
    """Linearized steps for gradient descent to grow a symmetry-breaking perturbation of size
    ``eps`` along the eigenvector of ``lambda_min < 0`` past ``threshold``:
    ``ln(threshold / eps) / ln(1 + learning_rate * |lambda_min|)`` (``inf`` when
    ``lambda_min >= 0``: no linear growth). Broadcasts over arrays.

    >>> predicted_escape_steps([1e-6, 1e-4], 1e-2, 0.5, -0.1).round(1).tolist()
    [188.8, 94.4]
    """
    eps = np.asarray(eps, np.float64)
    lam = np.asarray(lambda_min, np.float64)
    rate = np.log1p(learning_rate * np.abs(lam))
    with np.errstate(divide="ignore"):
        return np.where(lam < 0, np.log(threshold / eps) / np.where(lam < 0, rate, 1.0), np.inf)


@dataclasses.dataclass(frozen=True)
class _GapAbove:
    model: Model
    threshold: float

    def __call__(self, params):
        return _gap_impl(_layout(self.model), params, False) > self.threshold


@dataclasses.dataclass(frozen=True)
class Escape:
    """Result of :func:`escape`, one entry per ``eps``.

    eps:           ``(n,)`` initial perturbation sizes (the initial gaps).
    steps:         ``(n,)`` first step at which the gap exceeded ``threshold``; -1 if never.
    predicted:     ``(n,)`` :func:`predicted_escape_steps` from ``lambda_min``.
    lambda_min:    curvature along the perturbation direction (its breaking eigenvalue).
    learning_rate, threshold: as passed.
    record_steps:  ``(n_records,)`` and ``gaps (n, n_records)``: the gap over training;
                   ``losses (n, n_records)``: the loss over training.
    """

    eps: np.ndarray
    steps: np.ndarray
    predicted: np.ndarray
    lambda_min: float
    learning_rate: float
    threshold: float
    record_steps: np.ndarray
    gaps: np.ndarray
    losses: np.ndarray

    def fit(self) -> dict:
        """How well the linear law holds: over the runs that escaped, the least-squares slope of
        steps against ``ln(1/eps)`` vs the predicted ``1 / ln(1 + lr |lambda_min|)``, and the
        largest relative error ``|steps - predicted| / predicted``."""
        # runs that escaped, where the law predicts growth (eps below the threshold)
        ok = (self.steps >= 0) & np.isfinite(self.predicted) & (self.predicted > 0)
        out = {"n_runs": int(self.steps.size), "n_escaped": int(np.sum(self.steps >= 0)),
               "lambda_min": self.lambda_min, "slope": None, "predicted_slope": None,
               "slope_ratio": None, "max_relative_error": None}
        if self.lambda_min < 0:
            out["predicted_slope"] = float(1.0 / np.log1p(self.learning_rate * abs(self.lambda_min)))
        if np.sum(ok) >= 2:
            slope = float(np.polyfit(np.log(1.0 / self.eps[ok]), self.steps[ok], 1)[0])
            out["slope"] = slope
            out["slope_ratio"] = slope / out["predicted_slope"]
            rel = np.abs(self.steps[ok] - self.predicted[ok]) / self.predicted[ok]
            out["max_relative_error"] = float(np.max(rel))
        return out


def _check_eps(eps) -> np.ndarray:
    arr = np.asarray(eps, np.float64)
    if arr.ndim != 1 or arr.size == 0 or not np.all(np.isfinite(arr)) or not np.all(arr > 0):
        raise ValueError(f"eps must be a non-empty 1-D array of positive finite numbers, got "
                         f"{_show(np.asarray(eps))}")
    return arr


def _positive(name, value) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not (math.isfinite(value) and value > 0):
        raise ValueError(f"{name}={value!r} must be a positive finite number")
    return float(value)


@functools.lru_cache(maxsize=32)
def _sgd(learning_rate: float):
    """One ``optax.sgd`` object per learning rate, so repeated calls reuse compiled programs."""
    return optax.sgd(learning_rate)


def escape(loss_fn, params, data, eps, *, learning_rate: float, direction=None,
           threshold: float = 1e-2, steps: int = 10_000, record_every: int | None = None,
           model: Model | None = None) -> Escape:
    """Start at ``params + eps_i * d`` for every ``eps_i`` and count the gradient-descent steps
    (``optax.sgd(learning_rate)``) until the :func:`symmetry_gap` exceeds ``threshold``; all
    ``eps`` in one compiled, batched call.

    ``params`` is a symmetric point (e.g. :attr:`Equilibrium.params`, or a point of the
    constant-start trajectory); ``d`` is the unit symmetry-breaking part of ``direction``
    (default: the most unstable breaking eigenvector at ``params``, from
    :func:`symmetry_curvature`), so the initial gap is ``eps_i`` (plus the rounding gap of
    ``params``). ``lambda_min`` is the curvature ``d^T H d`` along it; the measured steps are
    compared with :func:`predicted_escape_steps`, which holds at a strict saddle and fails
    where the curvature along the escape path changes (a trap at infinity, a point off the
    equilibrium, perturbations too large for the linearization).

    >>> import jax, jax.numpy as jnp, optax, landscape as ls
    >>> from landscape import symmetry
    >>> ex = symmetry.saddle_example(dtype=jnp.float32)       # a strict saddle
    >>> esc = symmetry.escape(ex.loss_fn, ex.params, ex.data, [1e-5, 1e-4, 1e-3],
    ...                       learning_rate=0.4, steps=4000)
    >>> esc.steps.shape, bool((esc.steps > 0).all())       # steps until the gap passed 1e-2
    ((3,), True)
    """
    _check_loss_fn(loss_fn)
    model = _model_of(loss_fn, model)
    if _batch_shape(model, params):
        raise ValueError("escape takes one base point (params without a batch axis)")
    eps = _check_eps(eps)
    learning_rate = _positive("learning_rate", learning_rate)
    threshold = _positive("threshold", threshold)
    steps, record_every = _check_steps(steps, record_every)
    x, unravel = ravel_pytree(params)
    q_b = breaking_basis(model, dtype=x.dtype)
    if q_b.shape[1] == 0:
        raise ValueError(f"model of sizes {list(model.sizes)} has no symmetry-breaking directions")
    if direction is None:
        d = symmetry_curvature(loss_fn, params, data, model=model).directions[:, 0]
    else:
        _batch_shape(model, direction, "direction")
        raw = ravel_pytree(direction)[0].astype(x.dtype)
        d = q_b @ (q_b.T @ raw)
        tiny = math.sqrt(float(jnp.finfo(x.dtype).eps)) * float(jnp.linalg.norm(raw))
        if not float(jnp.linalg.norm(d)) > tiny:
            raise ValueError("direction has no symmetry-breaking component (it lies in the "
                             "symmetric subspace)")
    d = d / jnp.linalg.norm(d)
    lam = float(d @ ravel_pytree(curvature.hvp(loss_fn, params, data, unravel(d)))[0])
    starts = jax.vmap(lambda e: unravel(x + e * d))(jnp.asarray(eps, x.dtype))
    run = _descend(loss_fn, _sgd(learning_rate), starts, data, steps=steps,
                   record_every=record_every, watch=_GapAbove(model, threshold))
    gaps = np.asarray(_gap_impl(_layout(model), run.trajectory, False))
    return Escape(eps=eps, steps=np.asarray(run.crossed), lambda_min=lam,
                  predicted=predicted_escape_steps(eps, threshold, learning_rate, lam),
                  learning_rate=learning_rate, threshold=threshold,
                  record_steps=np.arange(0, steps + 1, record_every), gaps=gaps,
                  losses=np.asarray(run.losses))


# --------------------------------------------------------------------------------------------
# measuring invariance in training results


GAP_STATUS = ("exact", "rounding", "amplified", "broken")
"""Codes of :func:`gap_status`: how far a run's units are from identical."""
ROUNDING_ULPS = 1e3
"""A gap up to ``ROUNDING_ULPS * eps * |x|`` (``eps`` of the dtype, ``|x|`` the params' norm) is
rounding: the units differ in their last few bits, accumulated over training (float64 XOR
2-2-1 from the constant start reached about 80 after 200,000 steps of gradient descent)."""
BROKEN_REL = 1e-2
"""A gap of at least ``BROKEN_REL * |x|`` means the symmetry is broken: the units visibly differ."""


def gap_status(gap, param_norm, dtype) -> np.ndarray:
    """Int codes into :data:`GAP_STATUS` (elementwise over arrays of gaps and params norms):
    ``exact`` (gap exactly 0: bit-identical units), ``rounding`` (up to
    :data:`ROUNDING_ULPS` ulps of the weight scale), ``broken`` (at least :data:`BROKEN_REL` of
    it) and ``amplified`` in between (rounding grown by the dynamics, not yet visible).

    >>> import numpy as np
    >>> codes = gap_status([0.0, 1e-6, 1e-2, 1.0], [10.0] * 4, np.float32)
    >>> [GAP_STATUS[c] for c in codes]
    ['exact', 'rounding', 'amplified', 'broken']
    """
    gap = np.asarray(gap, np.float64)
    norm = np.asarray(param_norm, np.float64)
    eps = float(np.finfo(np.dtype(dtype)).eps)
    rounding = ROUNDING_ULPS * eps * np.maximum(norm, 1.0)
    return np.select([gap == 0, gap <= rounding, gap < BROKEN_REL * np.maximum(norm, 1.0)],
                     [0, 1, 2], default=3).astype(np.int32)


def gap_history(model: Model, result) -> tuple[np.ndarray, np.ndarray]:
    """``(gaps, param_norms)``, each ``(k, n_records)``, over the recorded trajectory of a
    :class:`landscape.TrainResult` (``train_many(..., trajectory_runs=...)``).

    >>> import jax, jax.numpy as jnp, optax, landscape as ls
    >>> from landscape import symmetry
    >>> model = ls.mlp([2, 2, 1])
    >>> result = ls.train_many(ls.objectives.loss(model, "mse"), ls.inits.constant(model, 0.5),
    ...                        optax.sgd(0.5), ls.datasets.xor(), key=jax.random.key(0),
    ...                        n_runs=8, steps=100, record_every=10, trajectory_runs=[0, 1])
    >>> gaps, norms = symmetry.gap_history(model, result)
    >>> gaps.shape, float(gaps.max())  # units stay bit-identical all along
    ((2, 11), 0.0)
    """
    _check_model(model)
    traj = getattr(result, "trajectory", None)
    if traj is None:
        raise ValueError("result has no trajectory; train with trajectory_runs=[...] to record one")
    gaps = np.asarray(symmetry_gap(model, traj))
    leaves = [np.asarray(a, np.float64).reshape(a.shape[:2] + (-1,)) for a in jax.tree.leaves(traj)]
    norms = np.sqrt(sum(np.sum(a * a, axis=-1) for a in leaves))
    return gaps, norms


def unit_params(model: Model, params, layer: int = 0) -> jax.Array:
    """Everything attached to each unit of hidden layer ``layer``, one row per unit:
    ``(*batch, H, n_in + 1 + n_out)`` = incoming weights, bias (when the model has biases),
    outgoing weights. Rows are equal exactly when the layer's units are.

    >>> import jax, jax.numpy as jnp, optax, landscape as ls
    >>> from landscape import symmetry
    >>> model = ls.mlp([2, 2, 1])
    >>> symmetry.unit_params(model, ls.inits.constant(model, 0.5)(jax.random.key(0))).tolist()
    [[0.5, 0.5, 0.5, 0.5], [0.5, 0.5, 0.5, 0.5]]
    """
    _check_model(model)
    _batch_shape(model, params)
    n_hidden = len(model.hidden_sizes)
    if isinstance(layer, bool) or not isinstance(layer, (int, np.integer)) or not 0 <= layer < n_hidden:
        raise ValueError(f"layer={layer!r} must be a hidden layer index in [0, {n_hidden})")
    parts = [jnp.swapaxes(params[layer]["w"], -1, -2)]
    if model.bias:
        parts.append(params[layer]["b"][..., None])
    parts.append(params[layer + 1]["w"])
    return jnp.concatenate(parts, axis=-1)



# --------------------------------------------------------------------------------------------
# a strict saddle by construction


class SaddleExample(NamedTuple):
    """What :func:`saddle_example` returns: a 1-2-1 tanh ``model``, its ``loss_fn`` (MSE), the
    ``data`` and ``params``, a strict saddle in the symmetric subspace (``reduced_params``: the
    same point as a one-unit network, a minimum of that network's loss)."""

    model: Model
    loss_fn: Any
    data: Any
    params: Any
    reduced_params: Any


def saddle_example(*, n_samples: int = 41, dtype=jnp.float64) -> SaddleExample:
    """A symmetric equilibrium that is a strict saddle, built by hand: the best one-unit fit of
    a 1-D regression that needs two tanh units, ``y = tanh(3 (x + 1)) + tanh(3 (x - 1))`` on
    ``n_samples`` points of ``[-3, 3]``, embedded into a 1-2-1 tanh network as two equal units.

    The fit is Newton-refined (:func:`landscape.curvature.refine`) from a fixed start; in the
    two-unit network the point is critical, a minimum inside the symmetric subspace, and has one
    negative symmetry-breaking eigenvalue (about -0.0108): splitting the unit in two lowers the
    loss. Use float64 (``jax_enable_x64``) for its exactness.

    >>> import jax, jax.numpy as jnp, optax, landscape as ls
    >>> from landscape import symmetry
    >>> with jax.enable_x64(True):
    ...     ex = symmetry.saddle_example()
    ...     split = symmetry.symmetry_curvature(ex.loss_fn, ex.params, ex.data)
    >>> round(float(split.breaking[0]), 4)
    -0.0108
    """
    if isinstance(n_samples, bool) or not isinstance(n_samples, (int, np.integer)) or n_samples < 8:
        raise ValueError(f"n_samples={n_samples!r} must be an integer >= 8")
    model = mlp([1, 2, 1], activation="tanh", output="linear")
    small = reduced_model(model)
    x = jnp.linspace(-3.0, 3.0, int(n_samples), dtype=dtype)[:, None]
    data = Dataset(x, jnp.tanh(3 * (x + 1)) + jnp.tanh(3 * (x - 1)))
    start = [{"w": jnp.full((1, 1), 0.5, dtype), "b": jnp.zeros((1,), dtype)},
             {"w": jnp.full((1, 1), 2.0, dtype), "b": jnp.zeros((1,), dtype)}]
    fit = curvature.refine(make_loss(small, "mse"), start, data)
    if not bool(fit.converged):
        raise RuntimeError(f"the one-unit fit did not converge (|grad| = {float(fit.grad_norm):.3g})")
    return SaddleExample(model, make_loss(model, "mse"), data, from_reduced(model, fit.params), fit.params)

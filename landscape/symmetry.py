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
from jax.flatten_util import ravel_pytree

from .models import ACTIVATIONS, Model

__all__ = [
    # group
    "FLIP_KINDS", "flip_kind", "GroupElement", "permute_units", "flip_units", "apply_element",
    "identity_element", "compose", "inverse", "random_element", "group_elements", "orbit",
    "orbit_size",
    # subspace
    "symmetric_basis", "breaking_basis", "project_symmetric", "project_breaking",
    "symmetry_gap",
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


_KIND_REPRESENTATIVE = {"odd": "tanh", "complement": "sigmoid", None: "linear"}


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
    """The identity: ``perms[h] = arange(H_h)`` and, with flips, all signs ``+1``."""
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
    """The element undoing ``element``: ``(inverse(perm), signs[perm])`` per hidden layer."""
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

    Element ``i`` of the flattened batch uses ``fold_in(key, i)``; within it, hidden layer
    ``h`` draws its permutation from ``fold_in(k, 2h)`` and its signs from ``fold_in(k, 2h + 1)``.
    ``flips=None`` includes sign flips when the activation has them.
    """
    _check_model(model)
    key = _check_key(key)
    flips = _check_flips(model, flips)
    shape = _check_shape(shape)
    return _random_impl(_layout(model), flips, shape, key)


@functools.partial(jax.jit, static_argnames=("model", "flips", "shape"))
def _random_impl(model: Model, flips: bool, shape: tuple[int, ...], key) -> GroupElement:
    widths = model.hidden_sizes

    def one(k):
        perms = tuple(jax.random.permutation(jax.random.fold_in(k, 2 * h), width)
                      for h, width in enumerate(widths))
        signs = None
        if flips:
            signs = tuple(jax.random.rademacher(jax.random.fold_in(k, 2 * h + 1), (width,), jnp.int32)
                          for h, width in enumerate(widths))
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
    """
    _check_model(model)
    _batch_shape(model, params)
    return _project_impl(_layout(model), params, False)


def project_breaking(model: Model, params) -> list:
    """``params - project_symmetric(params)``: the symmetry-breaking component (zero exactly
    when the units of every layer are bit-identical). Batched over leading axes."""
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
    """
    _check_model(model)
    return jnp.asarray(_bases(model)[0], _float_dtype(dtype))


def breaking_basis(model: Model, *, dtype=None) -> jax.Array:
    """Orthonormal basis of the symmetry-breaking directions (the orthogonal complement of the
    symmetric subspace) as columns, ``(n_params, n_params - k_sym)``: Helmert contrasts within
    each tied group. Zero columns when the model has no hidden layer of width above one."""
    _check_model(model)
    return jnp.asarray(_bases(model)[1], _float_dtype(dtype))

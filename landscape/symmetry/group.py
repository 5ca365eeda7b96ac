"""The symmetry group of an MLP: sign symmetry of activations, the group action (permutations
and flips of hidden units), group elements and their law, random elements, orbits.

Also the package's argument checks shared by every file of :mod:`landscape.symmetry`:
:func:`batch_shape` (params against the model's layout) and :func:`resolve_flips`.
"""

from __future__ import annotations

import dataclasses
import functools
import itertools
import math
from typing import NamedTuple, Sequence

import jax
import jax.numpy as jnp
import numpy as np

from .. import _checks
from ..models import ACTIVATIONS, Model

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


def batch_shape(params, *, model: Model, name: str = "params") -> tuple[int, ...]:
    """Check ``params`` against the layout of ``model`` (a list of layer dicts of floating
    arrays with the model's shapes, behind common leading batch axes); return the batch shape.

    >>> import jax, landscape as ls
    >>> model = ls.mlp([2, 2, 1])
    >>> runs = jax.vmap(model.init)(jax.random.split(jax.random.key(0), 5))
    >>> batch_shape(runs, model=model), batch_shape(model.init(jax.random.key(0)), model=model)
    ((5,), ())
    """
    return _checks.model_batch_shape(params, _checks.model(model), name)


def resolve_flips(flips, *, model: Model) -> bool:
    """``flips`` resolved to a bool: ``None`` means flips whenever the activation (and the bias)
    allows them; ``True`` for a model without a sign symmetry raises ``ValueError``.

    >>> import landscape as ls
    >>> relu = ls.mlp([2, 2, 1], activation="relu")
    >>> resolve_flips(None, model=ls.mlp([2, 2, 1])), resolve_flips(None, model=relu)
    (True, False)
    """
    _checks.model(model)
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
        arr = v if _checks.is_tracer(v) else jnp.asarray(v)
        if arr.ndim < 1 or arr.shape[-1] != width:
            raise ValueError(f"{name}[{h}] has shape {tuple(arr.shape)}; expected (..., {width}) "
                             f"for hidden layer {h} of width {width}")
        if perm:
            if not jnp.issubdtype(arr.dtype, jnp.integer):
                raise TypeError(f"{name}[{h}] must hold integer unit indices, got dtype {arr.dtype}")
            if not _checks.is_tracer(arr):
                host = np.asarray(arr)
                if not np.array_equal(np.sort(host, axis=-1),
                                      np.broadcast_to(np.arange(width), host.shape)):
                    raise ValueError(f"{name}[{h}]={_show(host)} must be a permutation of "
                                     f"0..{width - 1} (along its last axis)")
        else:
            if not jnp.issubdtype(arr.dtype, jnp.number):
                raise TypeError(f"{name}[{h}] must be numeric +-1 signs, got dtype {arr.dtype}")
            if not _checks.is_tracer(arr) and not np.all(np.abs(np.asarray(arr)) == 1):
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


def permute_units(params, perms: Sequence, *, model: Model) -> list:
    """Permute the hidden units: new unit ``j`` of hidden layer ``h`` is old unit ``perms[h][j]``.

    ``perms``: one integer array per hidden layer, shape ``(..., H_h)`` (leading axes broadcast
    against the params' batch axes). The permuted network computes the same function.

    >>> import jax, jax.numpy as jnp, landscape as ls
    >>> from landscape import symmetry
    >>> model = ls.mlp([2, 2, 1])
    >>> params = model.init(jax.random.key(0))
    >>> swapped = symmetry.permute_units(params, [jnp.array([1, 0])], model=model)
    >>> bool(jnp.allclose(swapped[0]["w"], params[0]["w"][:, ::-1]))
    True
    >>> x = ls.datasets.xor().x
    >>> bool(jnp.allclose(model.apply(swapped, x), model.apply(params, x)))
    True
    """
    _checks.model(model)
    batch_shape(params, model=model)
    perms = _check_unit_arrays(model, "perms", perms, perm=True)
    return _apply_impl(_layout(model, flips=False), params, perms, None)


def flip_units(params, signs: Sequence, *, model: Model) -> list:
    """Flip hidden units: ``signs[h][j] = -1`` flips unit ``j`` of hidden layer ``h``.

    ``signs``: one array of +-1 per hidden layer, shape ``(..., H_h)``. See the module docstring
    for what a flip does per activation; activations without a sign symmetry (relu, softplus,
    gelu) raise ValueError, as does a sigmoid model without biases.

    >>> import jax, jax.numpy as jnp, landscape as ls
    >>> from landscape import symmetry
    >>> model = ls.mlp([2, 2, 1], activation="tanh")
    >>> params = model.init(jax.random.key(0))
    >>> flipped = symmetry.flip_units(params, [jnp.array([-1, 1])], model=model)
    >>> x = ls.datasets.xor().x
    >>> bool(jnp.allclose(model.apply(flipped, x), model.apply(params, x), atol=1e-6))
    True
    """
    _checks.model(model)
    batch_shape(params, model=model)
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
            if any(_checks.is_tracer(s) for s in signs) or any(np.any(np.asarray(s) != 1) for s in signs):
                _check_can_flip(model)
            signs = None
    return GroupElement(perms, signs)


def apply_element(params, element: GroupElement, *, model: Model) -> list:
    """``permute_units(flip_units(params, element.signs), element.perms)`` (``model=`` given to each).

    Params and element may both carry leading axes; they broadcast (e.g. one point and a batch
    of ``G`` elements give ``G`` images).

    >>> import jax, jax.numpy as jnp, landscape as ls
    >>> from landscape import symmetry
    >>> model = ls.mlp([2, 3, 1])
    >>> params = model.init(jax.random.key(0))
    >>> images = symmetry.apply_element(params, symmetry.random_element(
    ...     jax.random.key(1), model=model, shape=(5,)), model=model)  # 5 random images of one point
    >>> images[0]["w"].shape
    (5, 2, 3)
    """
    _checks.model(model)
    batch_shape(params, model=model)
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
    _checks.model(model)
    flips = resolve_flips(flips, model=model)
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


def random_element(key, *, model: Model, flips: bool | None = None, shape=()) -> GroupElement:
    """A uniformly random group element (``shape=()``) or a batch of them (leading ``shape``).

    Element ``i`` of the flattened batch uses ``k = fold_in(key, i)`` (a single element uses
    ``key``) and draws ``u = uniform(k, (2, sum_h H_h))``; hidden layer ``h`` takes its columns:
    its permutation ranks ``u[0]`` (``argsort``), its signs are ``-1`` where ``u[1] < 1/2``.
    ``flips=None`` includes sign flips when the activation has them.

    >>> import jax, jax.numpy as jnp, landscape as ls
    >>> from landscape import symmetry
    >>> g = symmetry.random_element(jax.random.key(0), model=ls.mlp([2, 4, 1]), shape=(10,))
    >>> g.perms[0].shape, g.signs[0].shape
    ((10, 4), (10, 4))
    """
    _checks.model(model)
    key = _checks.key(key)
    flips = resolve_flips(flips, model=model)
    shape = _checks.shape("shape", shape)
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
    _checks.model(model)
    flips = resolve_flips(flips, model=model)
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
    flips = resolve_flips(flips, model=model)
    max_size = _checks.count("max_size", max_size)
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


def orbit(params, *, model: Model, flips: bool | None = None, max_size: int = MAX_ORBIT) -> list:
    """The images of ``params`` under every group element: leaves ``(orbit_size, *batch, ...)``.

    Image ``g`` is ``apply_element(params, group_elements(model)[g], model=model)``; image 0 is
    ``params`` itself. Duplicates appear when ``params`` is fixed by some elements.

    >>> import jax, jax.numpy as jnp, landscape as ls
    >>> from landscape import symmetry
    >>> model = ls.mlp([2, 2, 1])
    >>> symmetry.orbit(model.init(jax.random.key(0)), model=model)[0]["w"].shape  # 2! * 2^2 images
    (8, 2, 2)
    """
    _checks.model(model)
    batch = batch_shape(params, model=model)
    elements = group_elements(model, flips=flips, max_size=max_size)
    size = orbit_size(model, flips=flips)
    elements = jax.tree.map(lambda a: a.reshape(a.shape[:1] + (1,) * len(batch) + a.shape[1:]),
                            elements)
    images = apply_element(params, elements, model=model)
    # (a model without hidden layers has the trivial group: one image)
    return [{k: jnp.broadcast_to(layer[k], (size,) + batch + s) for k, s in want.items()}
            for layer, want in zip(images, model.param_shapes)]


"""The symmetry group of a network's hidden units: the group action (permutations and flips),
group elements and their law, random elements, orbits.

Every function takes ``model=``: an ``ls.mlp`` Model, a Flax NNX or Equinox model, or a
:class:`landscape.units.UnitLayout` (Flax linen users pass ``units.layout(module, params)``),
resolved once to a unit layout. Which hidden layers can flip is the layout's per-layer symmetry
(:func:`landscape.units.activation_symmetry`): ``"odd"`` and ``"logistic"`` layers flip,
``"rescale"`` (ReLU-like) and ``"none"`` layers permute only. Positive rescaling of ReLU units is
a continuous symmetry: the finite group here (:func:`orbit`, :func:`group_elements`) holds
permutations and flips only; rescaling is quotiented out by canonical forms
(:mod:`landscape.minima`) and is available as :func:`landscape.units.rescale`.

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

from .. import _checks, units
from ..models import Model
from ..units import UnitLayout

# --------------------------------------------------------------------------------------------
# the model argument: resolved once to a unit layout


@functools.lru_cache(maxsize=256)
def _mlp_spec(model: Model) -> UnitLayout:
    return units.layout(model)


def _spec(model, params=None, name: str = "params") -> tuple[UnitLayout, tuple[int, ...] | None]:
    """``(unit layout of model, batch shape of params or None)``; params are checked against
    the layout (any leading batch axes) before any tracing."""
    if isinstance(model, Model):
        spec = _mlp_spec(model)
        return spec, None if params is None else _checks.model_batch_shape(params, model, name)
    if model is None:
        raise TypeError("model=None: pass the network (an ls.mlp Model, a Flax or Equinox model) "
                        "or its units.UnitLayout")
    spec = units.layout(model, params)
    return spec, None if params is None else spec.check(params, name)


def _where(spec: UnitLayout) -> UnitLayout:
    """Only where the units are (symmetries set to ``"none"``): the compile-cache key of programs
    that move or average units without flipping them, shared by models that differ only in
    activations."""
    return dataclasses.replace(spec, symmetries=("none",) * len(spec.symmetries))


def batch_shape(params, *, model, name: str = "params") -> tuple[int, ...]:
    """Check ``params`` against the unit layout of ``model`` (its leaves and shapes, behind
    common leading batch axes); return the batch shape.

    >>> import jax, landscape as ls
    >>> model = ls.mlp([2, 2, 1])
    >>> runs = jax.vmap(model.init)(jax.random.split(jax.random.key(0), 5))
    >>> batch_shape(runs, model=model), batch_shape(model.init(jax.random.key(0)), model=model)
    ((5,), ())
    """
    return _spec(model, params, name)[1]


def _flip_problem(spec: UnitLayout) -> str | None:
    """Why the units of ``spec`` cannot all flip (None: they can)."""
    for h, sym in enumerate(spec.symmetries):
        if sym not in ("odd", "logistic"):
            return (f"hidden layer {h} has symmetry {sym!r}: its activation has no sign symmetry "
                    "(f(-z) is neither -f(z) nor 1 - f(z)), so its units cannot be flipped; use "
                    "flips=False (permutations only)")
        nxt = spec.layers[h + 1]
        if sym == "logistic" and (nxt.bias is None or spec.positions(h) > 1
                                  or len(spec.shape(nxt.weight)) != 2):
            return (f"flipping the logistic units of hidden layer {h} shifts the next layer's bias "
                    f"(sigmoid(-z) = 1 - sigmoid(z)), but {nxt.weight} is not a dense layer with a "
                    "bias (bias=False); use flips=False")
    return None


def _can_flip(spec: UnitLayout) -> bool:
    return _flip_problem(spec) is None


def _check_can_flip(spec: UnitLayout) -> None:
    problem = _flip_problem(spec)
    if problem is not None:
        raise ValueError(problem)


def resolve_flips(flips, *, model) -> bool:
    """``flips`` resolved to a bool: ``None`` means flips whenever every hidden layer's symmetry
    (and the biases) allow them; ``True`` for a model without a sign symmetry raises
    ``ValueError``.

    >>> import landscape as ls
    >>> relu = ls.mlp([2, 2, 1], activation="relu")
    >>> resolve_flips(None, model=ls.mlp([2, 2, 1])), resolve_flips(None, model=relu)
    (True, False)
    """
    spec = _spec(model)[0]
    if flips is None:
        return _can_flip(spec)
    if not isinstance(flips, (bool, np.bool_)):
        raise TypeError(f"flips={flips!r} must be True, False or None (None: flips when the "
                        "activation allows them)")
    if flips:
        _check_can_flip(spec)
    return bool(flips)


def _show(arr: np.ndarray) -> str:
    return str(arr.tolist()) if arr.size <= 24 else f"<array of shape {arr.shape}>"


def _check_unit_arrays(spec: UnitLayout, name: str, values, *, perm: bool):
    """``values``: one array per hidden layer, last axis that layer's width."""
    hidden = spec.hidden_sizes
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
                raise TypeError(f"{name}[{h}] must hold integer unit indices, got dtype "
                                f"{arr.dtype}")
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


def permute_units(params, perms: Sequence, *, model):
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
    spec = _spec(model, params)[0]
    perms = _check_unit_arrays(spec, "perms", perms, perm=True)
    return _apply_impl(_where(spec), params, perms, None)


def flip_units(params, signs: Sequence, *, model):
    """Flip hidden units: ``signs[h][j] = -1`` flips unit ``j`` of hidden layer ``h``.

    ``signs``: one array of +-1 per hidden layer, shape ``(..., H_h)``. An ``"odd"`` layer's unit
    changes the sign of its incoming weights, bias and outgoing weights; a ``"logistic"`` one
    also moves its old outgoing weights into the next layer's bias (:func:`landscape.units.flip`).
    Layers without a sign symmetry (relu, softplus, gelu) raise ValueError, as does a sigmoid
    layer whose next layer has no bias.

    >>> import jax, jax.numpy as jnp, landscape as ls
    >>> from landscape import symmetry
    >>> model = ls.mlp([2, 2, 1], activation="tanh")
    >>> params = model.init(jax.random.key(0))
    >>> flipped = symmetry.flip_units(params, [jnp.array([-1, 1])], model=model)
    >>> x = ls.datasets.xor().x
    >>> bool(jnp.allclose(model.apply(flipped, x), model.apply(params, x), atol=1e-6))
    True
    """
    spec = _spec(model, params)[0]
    _check_can_flip(spec)
    signs = _check_unit_arrays(spec, "signs", signs, perm=False)
    return _apply_impl(spec, params, None, signs)


class GroupElement(NamedTuple):
    """An element of the finite symmetry group of the hidden units: flip by ``signs``, then
    permute by ``perms``.

    perms: tuple of int arrays, one per hidden layer, ``(..., H_h)``.
    signs: tuple of +-1 arrays like ``perms`` (indexed by the *old* units), or ``None`` for no
           flips. A pytree: batches of elements (leading axes) pass through ``jit``/``vmap``.

    >>> import jax.numpy as jnp
    >>> swap_and_flip = GroupElement(perms=(jnp.array([1, 0]),), signs=(jnp.array([-1, 1]),))
    """

    perms: tuple
    signs: tuple | None = None


def _check_element(spec: UnitLayout, element) -> GroupElement:
    if not isinstance(element, GroupElement):
        raise TypeError(f"element={element!r} must be a GroupElement(perms, signs)")
    perms = _check_unit_arrays(spec, "element.perms", element.perms, perm=True)
    signs = element.signs
    if signs is not None:
        signs = _check_unit_arrays(spec, "element.signs", signs, perm=False)
        if not _can_flip(spec):
            # all-(+1) signs are the identity and allowed; anything else (or traced) is not
            if (any(_checks.is_tracer(s) for s in signs)
                    or any(np.any(np.asarray(s) != 1) for s in signs)):
                _check_can_flip(spec)
            signs = None
    return GroupElement(perms, signs)


def apply_element(params, element: GroupElement, *, model):
    """``permute_units(flip_units(params, element.signs), element.perms)`` (``model=`` given to
    each).

    Params and element may both carry leading axes; they broadcast (e.g. one point and a batch
    of ``G`` elements give ``G`` images).

    >>> import jax, jax.numpy as jnp, landscape as ls
    >>> from landscape import symmetry
    >>> model = ls.mlp([2, 3, 1])
    >>> params = model.init(jax.random.key(0))
    >>> element = symmetry.random_element(jax.random.key(1), model=model, shape=(5,))
    >>> images = symmetry.apply_element(params, element, model=model)  # 5 images of one point
    >>> images[0]["w"].shape
    (5, 2, 3)
    """
    spec = _spec(model, params)[0]
    element = _check_element(spec, element)
    return _apply_impl(spec if element.signs is not None else _where(spec), params,
                       element.perms, element.signs)


@functools.partial(jax.jit, static_argnames="spec")
def _apply_impl(spec: UnitLayout, params, perms, signs):
    """Flip by ``signs`` (if given), then permute by ``perms`` (if given), through
    :func:`landscape.units.flip` and :func:`landscape.units.permute`; one compiled program per
    layout and shapes. Every leaf comes back broadcast to the common batch shape of the params
    and the element."""
    if signs is not None:
        params = units.flip(spec, params, signs)
    if perms is not None:
        params = units.permute(spec, params, perms)
    return params


def identity_element(model, *, flips: bool | None = None) -> GroupElement:
    """The identity: ``perms[h] = arange(H_h)`` and, with flips, all signs ``+1``.

    >>> import landscape as ls
    >>> identity_element(ls.mlp([2, 3, 1])).perms[0].tolist()
    [0, 1, 2]
    """
    spec = _spec(model)[0]
    flips = resolve_flips(flips, model=spec)
    perms = tuple(jnp.arange(width) for width in spec.hidden_sizes)
    signs = tuple(jnp.ones(width, jnp.int32) for width in spec.hidden_sizes) if flips else None
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


def random_element(key, *, model, flips: bool | None = None, shape=()) -> GroupElement:
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
    spec = _spec(model)[0]
    key = _checks.key(key)
    flips = resolve_flips(flips, model=spec)
    shape = _checks.shape("shape", shape)
    return _random_impl(spec.hidden_sizes, flips, shape, key)


@functools.partial(jax.jit, static_argnames=("widths", "flips", "shape"))
def _random_impl(widths: tuple[int, ...], flips: bool, shape: tuple[int, ...], key) -> GroupElement:

    starts = np.cumsum((0,) + widths)

    def one(k):
        # one uniform draw for the whole element (a random kernel is costly to compile): row 0
        # ranks each layer's units (a uniform permutation), row 1 gives their signs
        u = jax.random.uniform(k, (2, int(starts[-1])))
        rows = [u[:, a:b] for a, b in zip(starts[:-1], starts[1:])]
        perms = tuple(jnp.argsort(r[0]).astype(jnp.int32) for r in rows)
        signs = (tuple(jnp.where(r[1] < 0.5, -1, 1).astype(jnp.int32) for r in rows)
                 if flips else None)
        return GroupElement(perms, signs)

    if shape == ():
        return one(key)
    n = math.prod(shape)
    batch = jax.vmap(lambda i: one(jax.random.fold_in(key, i)))(jnp.arange(n))
    return jax.tree.map(lambda a: a.reshape(shape + a.shape[1:]), batch)


def orbit_size(model, *, flips: bool | None = None) -> int:
    """Order of the group: ``prod_h H_h! * 2^{H_h}`` with flips, ``prod_h H_h!`` without.

    A generic point has this many distinct images; a point fixed by some elements (equal units,
    zero weights) has fewer. ReLU's positive rescaling is continuous and not counted (see the
    module docstring).

    >>> import landscape as ls
    >>> orbit_size(ls.mlp([2, 3, 1])), orbit_size(ls.mlp([2, 3, 1]), flips=False)
    (48, 6)
    """
    spec = _spec(model)[0]
    flips = resolve_flips(flips, model=spec)
    return math.prod(math.factorial(w) * (2**w if flips else 1) for w in spec.hidden_sizes)


MAX_ORBIT = 1_000_000
"""Default cap on the number of elements :func:`group_elements` and :func:`orbit` enumerate."""


def group_elements(model, *, flips: bool | None = None, max_size: int = MAX_ORBIT
                   ) -> GroupElement:
    """Every group element, stacked on a leading axis of length :func:`orbit_size`.

    The identity comes first; layers vary slowest-first (layer 0's permutations outermost).
    Raises ValueError when the group has more than ``max_size`` elements.

    >>> import landscape as ls
    >>> group_elements(ls.mlp([2, 2, 1]), flips=False).perms[0].tolist()
    [[0, 1], [1, 0]]
    """
    spec = _spec(model)[0]
    size = orbit_size(spec, flips=flips)
    flips = resolve_flips(flips, model=spec)
    max_size = _checks.count("max_size", max_size)
    if size > max_size:
        raise ValueError(f"the group of hidden widths {list(spec.hidden_sizes)} has {size} "
                         f"elements (flips={flips}), more than max_size={max_size}; draw "
                         "random_element instead")
    per_layer = []
    for width in spec.hidden_sizes:
        perms = list(itertools.permutations(range(width)))
        signs = list(itertools.product((1, -1), repeat=width)) if flips else [None]
        per_layer.append([(p, s) for p in perms for s in signs])
    combos = list(itertools.product(*per_layer))
    perms = tuple(jnp.asarray(np.array([c[h][0] for c in combos], np.int32).reshape(size, -1))
                  for h in range(len(spec.hidden_sizes)))
    signs = None
    if flips:
        signs = tuple(jnp.asarray(np.array([c[h][1] for c in combos], np.int32).reshape(size, -1))
                      for h in range(len(spec.hidden_sizes)))
    return GroupElement(perms, signs)


def orbit(params, *, model, flips: bool | None = None, max_size: int = MAX_ORBIT):
    """The images of ``params`` under every group element: leaves ``(orbit_size, *batch, ...)``.

    Image ``g`` is ``apply_element(params, group_elements(model)[g], model=model)``; image 0 is
    ``params`` itself. Duplicates appear when ``params`` is fixed by some elements.

    >>> import jax, jax.numpy as jnp, landscape as ls
    >>> from landscape import symmetry
    >>> model = ls.mlp([2, 2, 1])
    >>> symmetry.orbit(model.init(jax.random.key(0)), model=model)[0]["w"].shape  # 2! * 2^2 images
    (8, 2, 2)
    """
    spec, batch = _spec(model, params)
    elements = group_elements(spec, flips=flips, max_size=max_size)
    size = orbit_size(spec, flips=flips)
    elements = jax.tree.map(lambda a: a.reshape(a.shape[:1] + (1,) * len(batch) + a.shape[1:]),
                            elements)
    images = apply_element(params, elements, model=spec)
    # (a model without hidden layers has the trivial group: one image)
    leaves, treedef = jax.tree.flatten(images)
    return treedef.unflatten([jnp.broadcast_to(leaf, (size,) + batch + s)
                              for leaf, s in zip(leaves, spec.shapes)])


"""Centered coordinates, canonical forms modulo the symmetry group, and host-side views.

Logistic units flip with a shift of the next layer's bias (``sigmoid(-z) = 1 - sigmoid(z)``),
so in raw parameters a flip is affine, not an isometry. :func:`centered_params` writes each bias
after a logistic layer as ``b + (1/2) sum_j w[j, :]``; there every group element is a signed
permutation of unit blocks. :func:`canonicalize` / :func:`canonical_element` pick a documented
representative of each orbit; :func:`flat_centered` gives the flat host vectors the distances
and clustering work on.
"""

from __future__ import annotations

import functools
import math

import jax
import jax.numpy as jnp
import numpy as np

from .. import symmetry as sy
from .. import units

SIGN_RTOL = 0.1
"""Sign rule: a unit's sign is read from its first incoming entry larger than this fraction of
its largest one (see :func:`canonical_element`)."""


def _key_weights(n: int) -> np.ndarray:
    """Fixed, pairwise distinct weights ``c_i = 1 + frac((i + 1) / phi)`` (golden ratio ``phi``):
    1.618, 1.236, 1.854, 1.472, 1.090, ... The sort key of a unit is ``c . v``; distinct,
    irrationally related weights keep units that differ only by a swap of inputs (or by the
    sign of one entry) apart."""
    golden = (math.sqrt(5.0) - 1.0) / 2.0
    return 1.0 + np.mod(np.arange(1, n + 1) * golden, 1.0)


# --------------------------------------------------------------------------------------------
# layout helpers: every function resolves ``model`` to a units.UnitLayout once, here


def _resolve(model, params, *, n_batch_axes: int = 0, name: str = "params"):
    """``(spec, batch shape)``: ``model`` (anything :func:`landscape.units.layout` takes) as a
    :class:`~landscape.units.UnitLayout`, ``params`` checked against it before any tracing.
    ``n_batch_axes`` is only read where the layout comes from the params (Flax linen, bare
    pytrees): the functions that know their batch rank pass it."""
    spec = units.layout(model, params, n_batch_axes=n_batch_axes)
    return spec, spec.check(params, name)


def _flippable(spec: units.UnitLayout, h: int) -> bool:
    """Hidden layer ``h`` has sign flips: odd, or logistic with a dense next layer whose bias
    absorbs the constant."""
    sym = spec.symmetries[h]
    if sym == "odd":
        return True
    nxt = spec.layers[h + 1]
    return (sym == "logistic" and nxt.bias is not None and spec.positions(h) == 1
            and len(spec.shape(nxt.weight)) == 2)


def _flips_on(spec: units.UnitLayout, flips) -> bool:
    """``flips`` resolved to a bool: None means flips whenever every hidden layer has them
    (odd, or logistic with a next bias); True where one has none raises ValueError."""
    can = bool(spec.symmetries) and all(_flippable(spec, h) for h in range(len(spec.symmetries)))
    if flips is None:
        return can
    if not isinstance(flips, (bool, np.bool_)):
        raise TypeError(f"flips={flips!r} must be True, False or None (None: flips when the "
                        "activation allows them)")
    if flips and not can:
        bad = next(h for h in range(len(spec.symmetries)) if not _flippable(spec, h))
        sym = spec.symmetries[bad]
        why = ("has no sign symmetry (f(-z) is neither -f(z) nor 1 - f(z))"
               if sym in ("rescale", "none") else "is logistic without a dense next layer with a "
               "bias to absorb 1 - f")
        raise ValueError(f"hidden layer {bad} ({sym!r}) {why}, so its units cannot be flipped; "
                         "use flips=False (permutations only)")
    return bool(flips)


def _centered_layers(spec: units.UnitLayout) -> tuple[int, ...]:
    """Hidden layers whose flips shift the next bias (logistic units, dense next layer with a
    bias): centered coordinates move that bias."""
    return tuple(h for h, sym in enumerate(spec.symmetries) if sym == "logistic" and _flippable(spec, h))


def _n_incoming(spec: units.UnitLayout, h: int) -> int:
    """Entries of a unit's incoming vector (its weights and bias) in ``unit_features`` rows."""
    layer = spec.layers[h]
    return math.prod(spec.shape(layer.weight)) // spec.size(h) + (layer.bias is not None)


def _unit_values(values, batch, moved):
    """``values (*batch, H)`` shaped to broadcast against ``moved (*batch, ..., H)``."""
    return jnp.reshape(values, tuple(batch) + (1,) * (moved.ndim - len(batch) - 1) + values.shape[-1:])


def _apply(spec: units.UnitLayout, params, element):
    """``element`` (flip by its signs, then permute) applied with the unit primitives, as
    :func:`landscape.symmetry.apply_element` does."""
    if not spec.symmetries:
        return params
    if element.signs is not None:
        params = units.flip(spec, params, list(element.signs))
    return units.permute(spec, params, list(element.perms))


# --------------------------------------------------------------------------------------------
# centered coordinates, normalized units


def _center(spec: units.UnitLayout, params, direction: float = 1.0, xp=jnp):
    """Centered coordinates (``xp``: jnp on device, np on the host in float64)."""
    leaves, treedef = jax.tree.flatten(params)
    leaves = list(leaves)
    for h in _centered_layers(spec):
        nxt = spec.layers[h + 1]
        i = spec.index(nxt.weight)
        w = leaves[i]
        axis = nxt.input_axis + w.ndim - len(spec.shapes[i])
        b = spec.index(nxt.bias)
        leaves[b] = leaves[b] + direction * 0.5 * xp.sum(w, axis=axis)
    return treedef.unflatten(leaves)


def _scale_layer(spec: units.UnitLayout, params, h: int, scale):
    """Units of hidden layer ``h`` times ``scale (*batch, H)`` on the input side, divided on
    the output side (the function is unchanged for a ``"rescale"`` layer)."""
    batch = scale.shape[:-1]

    def fn(k, site, moved):
        if k != h:
            return moved
        a = _unit_values(scale, batch, moved).astype(moved.dtype)
        return moved / a if site == "next" else moved * a
    return units.map_units(spec, params, fn, batch=batch)


@functools.partial(jax.jit, static_argnames="spec")
def _normalize(spec: units.UnitLayout, params):
    """Every ``"rescale"`` unit's incoming vector (weights and bias, centered coordinates) to
    unit norm, the scale moved to its outgoing weights, from the input side; zero units kept.
    One compiled program per layout, shape and dtype (op by op it was ~23 small ones)."""
    for h, sym in enumerate(spec.symmetries):
        if sym != "rescale":
            continue
        f = units.unit_features(spec, _center(spec, params), h)[..., :_n_incoming(spec, h)]
        norm = jnp.linalg.norm(f, axis=-1)
        # a unit already normalized keeps its weights bit for bit (normalizing is idempotent):
        # a computed 2-norm of F entries is within (F / 2 + 1) eps of the true one
        done = jnp.abs(norm - 1) <= (f.shape[-1] + 2) * jnp.finfo(f.dtype).eps
        scale = jnp.where((norm > 0) & ~done, 1.0 / jnp.where(norm > 0, norm, 1.0), 1.0)
        params = _scale_layer(spec, params, h, scale.astype(f.dtype))
    return params


def centered_params(params, *, model):
    """Params in *centered coordinates*, where every group element is a signed permutation.

    For logistic hidden units ``sigmoid(z) = 1/2 + tanh(z/2)/2``: the unit minus its centre
    ``1/2`` is odd, so writing each following bias as ``b' = b + (1/2) sum_j w[j, :]`` (the
    outputs the layer would give if every unit sat at 1/2) turns the logistic flip (which adds
    the unit's outgoing weights to the next bias) into a plain sign change of the unit's
    incoming weights, bias and outgoing weights, with ``b'`` unchanged. Other activations are
    returned as they are. The map is linear and invertible (:func:`uncentered_params`);
    Euclidean distances in these coordinates are invariant under the group,
    ``|g x - g y| = |x - y|``, which makes "distance modulo symmetry" symmetric in its two
    arguments. Batched over leading axes. ``model``: anything :func:`landscape.units.layout`
    takes (an ``ls.mlp`` Model, an Equinox or Flax NNX module, a ``UnitLayout``; for a Flax
    linen module pass ``units.layout(net, params_of_one_network)``).

    >>> import jax, numpy as np, landscape as ls
    >>> from landscape import minima, symmetry
    >>> model = ls.mlp([2, 2, 1])                      # logistic units
    >>> params = ls.inits.constant(model, 0.5)(jax.random.key(0))
    >>> minima.centered_params(params, model=model)[1]["b"].tolist()  # 0.5 + (0.5 + 0.5) / 2
    [1.0]
    """
    spec, _ = _resolve(model, params)
    return _center(spec, params, 1.0)


def uncentered_params(params, *, model):
    """Inverse of :func:`centered_params` (same pytree, same shapes).

    >>> import jax, numpy as np, landscape as ls
    >>> from landscape import minima, symmetry
    >>> model = ls.mlp([2, 2, 1])
    >>> params = ls.inits.constant(model, 0.5)(jax.random.key(0))
    >>> back = minima.uncentered_params(minima.centered_params(params, model=model), model=model)
    >>> back[1]["b"].tolist()
    [0.5]
    """
    spec, _ = _resolve(model, params)
    return _center(spec, params, -1.0)


def normalized_params(params, *, model):
    """ReLU's positive rescaling quotiented out: each unit of a ``"rescale"`` hidden layer
    (ReLU, leaky ReLU) gets incoming weights and bias of unit norm (in centered coordinates),
    its outgoing weights take the scale (:func:`landscape.units.rescale`), layer by layer from
    the input side; units with no incoming weights are kept. The function is unchanged, and
    every rescaled copy of a network has the same normalized params. Layers of other
    symmetries are returned as they are. Batched over leading axes.

    >>> import jax, numpy as np, landscape as ls
    >>> from landscape import minima, units
    >>> model = ls.mlp([2, 2, 1], activation="relu", output="linear")
    >>> params = model.init(jax.random.key(0))
    >>> scaled = units.rescale(units.layout(model), params, [jax.numpy.array([3.0, 0.25])])
    >>> a, b = minima.normalized_params(params, model=model), minima.normalized_params(scaled, model=model)
    >>> bool(np.allclose(a[1]["w"], b[1]["w"], atol=1e-6))
    True
    """
    spec, _ = _resolve(model, params)
    return _normalize(spec, params)


# --------------------------------------------------------------------------------------------
# canonical forms


def _first_significant_sign(v, rtol):
    """``(..., H)`` +-1: the sign of each row's first entry with ``|v_i| > rtol * max |v|``
    (``+1`` for an all-zero row)."""
    mag = jnp.abs(v)
    top = jnp.max(mag, axis=-1, keepdims=True)
    significant = mag > rtol * top
    # the first significant entry: significant, and no significant entry before it
    before = jnp.cumsum(significant, axis=-1) - significant
    value = jnp.sum(jnp.where(significant & (before == 0), v, 0), axis=-1)
    return jnp.where(value < 0, -1, 1).astype(jnp.int32), top[..., 0]


def _signed_permute(spec: units.UnitLayout, params, h: int, perm, sign):
    """Hidden layer ``h`` only: new unit ``j`` = ``sign[perm[j]] * old unit perm[j]`` at every
    site (in centered coordinates a flip is this sign change)."""
    batch = perm.shape[:-1]

    def fn(k, site, moved):
        if k != h:
            return moved
        s = _unit_values(sign, batch, moved).astype(moved.dtype)
        idx = jnp.broadcast_to(_unit_values(perm, batch, moved), moved.shape)
        return jnp.take_along_axis(moved * s, idx, axis=-1)
    return units.map_units(spec, params, fn, batch=batch)


@functools.partial(jax.jit, static_argnames=("spec", "flips", "rtol"))
def _canonical_impl(spec: units.UnitLayout, params, flips: bool, rtol: float):
    """Canonical element and form. ``"rescale"`` units are normalized first
    (:func:`normalized_params`); then layer by layer in centered coordinates, where each
    layer's element is a signed permutation: after settling hidden layer ``h`` its units are
    moved in place (only the next layer's rows matter later), and the whole element is applied
    to the normalized params once at the end (elements of different layers commute)."""
    n_hidden = len(spec.layers) - 1
    if not n_hidden:
        return params, sy.GroupElement((), None)
    params = _normalize(spec, params)
    dtype = jax.tree.leaves(params)[0].dtype
    c = _center(spec, params)
    perms, signs = [], []
    for h in range(n_hidden):
        f = units.unit_features(spec, c, h)
        k = _n_incoming(spec, h)
        v_in, v_out = f[..., :k], f[..., k:]
        last = h == n_hidden - 1
        c_in = jnp.asarray(_key_weights(v_in.shape[-1]), dtype)
        c_out = jnp.asarray(_key_weights(v_out.shape[-1]), dtype)
        s = jnp.ones(v_in.shape[:-1], jnp.int32)
        if flips:
            s, top = _first_significant_sign(v_in, rtol)
            if last:  # a unit with no incoming weights takes its sign from its outgoing ones
                s = jnp.where(top > 0, s, _first_significant_sign(v_out, rtol)[0])
        sf = s.astype(dtype)[..., None]
        primary = (v_in * sf) @ c_in
        # ties of the primary key (units with equal incoming weights): outgoing weights decide;
        # before the last hidden layer only their norm is invariant under the later layers
        secondary = (v_out * sf) @ c_out if last else jnp.sum(v_out * v_out, axis=-1)
        perm = jnp.lexsort((secondary, primary), axis=-1).astype(jnp.int32)
        c = _signed_permute(spec, c, h, perm, s)
        perms.append(perm)
        signs.append(s)
    element = sy.GroupElement(tuple(perms), tuple(signs) if flips else None)
    return _apply(spec, params, element), element


def canonical_element(params, *, model, flips: bool | None = None) -> sy.GroupElement:
    """The group element taking ``params`` to its canonical form (batched over leading axes).

    The rule, hidden layer by hidden layer from the input side (each layer is settled before
    the next, whose incoming weights then no longer change), on the layer's units described in
    centered coordinates (:func:`centered_params`) by ``v_j = (incoming weights, bias)``:

    1. **Signs** (when the activation has them; ``flips=None``: when it allows): unit ``j`` is
       flipped when the first entry of ``v_j`` whose magnitude exceeds ``SIGN_RTOL`` (0.1) of
       its largest is negative. So after the flip that entry is positive. The relative
       threshold keeps tiny entries from deciding, and exact ties of magnitude that symmetric
       tasks produce (a unit ``(a, -a, b)``) are harmless. Flipping a logistic unit moves its
       old outgoing weights into the next layer's bias (``sigmoid(-z) = 1 - sigmoid(z)``), as
       :func:`landscape.symmetry.flip_units` does. A unit of the last hidden layer whose
       incoming weights and bias are all zero takes its sign from its outgoing weights instead.
    2. **Order**: units sorted by ascending ``c . v_j`` with the fixed weights
       ``c_i = 1 + frac((i + 1) * 0.618...)`` (distinct and irrationally related, so units that
       differ only by a swap of inputs are told apart); exact ties go by the outgoing weights
       (``c . w_out`` in the last hidden layer, ``|w_out|`` before it). The sort is stable.

    Units of ``"rescale"`` layers (ReLU-like) are first normalized (:func:`normalized_params`:
    incoming weights and bias of unit norm, the scale moved to the outgoing weights), so
    positively rescaled copies share one canonical form too; the element returned then acts on
    ``normalized_params(params)``. ``model``: anything :func:`landscape.units.layout` takes.

    The canonical form is the same point for every image ``g . params`` of the group (exactly
    for signed permutations; to float rounding where logistic flips add to biases), and
    canonicalizing a canonical form changes nothing. Points on the boundaries of the rule
    (a near tie of two sort keys, a first significant entry near ``SIGN_RTOL``) have nearby
    points with other canonical forms: use :func:`align` or the orbit distance for them.

    >>> import jax, numpy as np, landscape as ls
    >>> from landscape import minima, symmetry
    >>> model = ls.mlp([2, 3, 1], activation="tanh")
    >>> params = model.init(jax.random.key(0))
    >>> g = minima.canonical_element(params, model=model)
    >>> g.perms[0].shape, g.signs[0].shape
    ((3,), (3,))
    >>> moved = symmetry.apply_element(model=model, params=params, element=g)
    >>> bool(np.allclose(moved[0]["w"], minima.canonicalize(params, model=model)[0]["w"]))
    True
    """
    spec, _ = _resolve(model, params)
    flips = _flips_on(spec, flips)
    return _canonical_impl(spec, params, flips, SIGN_RTOL)[1]


def canonicalize(params, *, model, flips: bool | None = None):
    """The canonical representative of ``params`` modulo the symmetry group (batched).

    See :func:`canonical_element` for the documented rule. ``flips=False`` quotients by unit
    permutations only. Returns params of the same pytree and shapes (``"rescale"`` units
    normalized, :func:`normalized_params`).

    >>> import jax, numpy as np, landscape as ls
    >>> from landscape import minima, symmetry
    >>> model = ls.mlp([2, 3, 1], activation="tanh")
    >>> params = model.init(jax.random.key(0))
    >>> g = symmetry.random_element(model=model, key=jax.random.key(1))
    >>> image = symmetry.apply_element(model=model, params=params, element=g)
    >>> a, b = minima.canonicalize(params, model=model), minima.canonicalize(image, model=model)
    >>> bool(np.allclose(a[0]["w"], b[0]["w"]))     # one representative per orbit
    True
    """
    spec, _ = _resolve(model, params)
    flips = _flips_on(spec, flips)
    return _canonical_impl(spec, params, flips, SIGN_RTOL)[0]


# --------------------------------------------------------------------------------------------
# host-side views: flat centered vectors, signed permutations in centered coordinates


def _host(spec: units.UnitLayout, params, *, normalize: bool = False) -> list[np.ndarray]:
    """Centered params (``"rescale"`` units normalized first if ``normalize``) as float64
    NumPy leaves ``(n, ...)`` (one leading run axis, ``jax.tree.leaves`` order); centered on the
    host, so no small programs get compiled for each new shape."""
    if normalize and "rescale" in spec.symmetries:
        params = _normalize(spec, params)
    leaves = jax.tree.leaves(_one_axis(spec, params))
    tree = jax.tree.structure(params)
    return jax.tree.leaves(_center(spec, tree.unflatten([np.asarray(v, np.float64) for v in leaves]),
                                   xp=np))


def _flatten(leaves) -> np.ndarray:
    """``(n, n_params)`` in the order of ``ravel_pytree`` (``jax.tree.leaves`` order)."""
    n = leaves[0].shape[0]
    return np.concatenate([leaf.reshape(n, -1) for leaf in leaves], axis=1)


_unit_features = jax.jit(units.unit_features, static_argnums=(0, 2))
""":func:`landscape.units.unit_features` as one compiled gather per layout, layer and shape (op
by op it compiled ten small programs for each new batch size)."""


def _host_features(spec: units.UnitLayout, params, h: int) -> np.ndarray:
    """``(n, H_h, F)`` float64: each unit of hidden layer ``h`` in centered coordinates,
    incoming weights, bias, outgoing weights (:func:`landscape.units.unit_features`, an exact
    gather in the params' dtype; the centering of a bias after a logistic layer is done here
    in float64: the bias plus half the unit's incoming weights)."""
    f = np.array(_unit_features(spec, params, h), np.float64)
    f = f.reshape((-1,) + f.shape[-2:])
    if h - 1 in _centered_layers(spec):
        k = _n_incoming(spec, h)
        f[..., k - 1] = f[..., k - 1] + 0.5 * np.sum(f[..., :k - 1], axis=-1)
    return f


def flat_centered(params, *, model, canonical: bool = True,
                  flips: bool | None = None) -> np.ndarray:
    """``(n_points, n_params)`` float64: each point (canonicalized unless ``canonical=False``)
    in centered coordinates, flattened in ``ravel_pytree`` order; the leading batch axes of
    ``params`` are flattened into one. Euclidean distances between these rows are the
    parameter-space distances of this module (canonical: modulo permutations, flips and, for
    ``"rescale"`` layers, positive rescaling).

    >>> import jax, numpy as np, landscape as ls
    >>> from landscape import minima, symmetry
    >>> model = ls.mlp([2, 3, 1])
    >>> runs = jax.vmap(model.init)(jax.random.split(jax.random.key(0), 5))
    >>> minima.flat_centered(runs, model=model).shape
    (5, 13)
    """
    spec, _ = _resolve(model, params)
    if canonical:
        params = canonicalize(params, flips=flips, model=spec)
    return _flatten(_host(spec, params))


def _rows(spec: units.UnitLayout, params) -> int:
    return math.prod(spec.check(params))


def _one_axis(spec: units.UnitLayout, params):
    """``params`` as NumPy arrays (on the host) with the leading batch axes flattened into one:
    leaves ``(n, ...)``, same pytree."""
    n = _rows(spec, params)
    leaves, tree = jax.tree.flatten(params)
    return tree.unflatten([np.asarray(v).reshape((n,) + s) for v, s in zip(leaves, spec.shapes)])

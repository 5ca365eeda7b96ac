"""Centered coordinates, canonical forms modulo the symmetry group, and host-side views.

Logistic units flip with a shift of the next layer's bias (``sigmoid(-z) = 1 - sigmoid(z)``),
so in raw parameters a flip is affine, not an isometry. :func:`centered_params` writes each bias
after a logistic layer as ``b + (1/2) sum_j w[j, :]``; there every group element is a signed
permutation of unit blocks. :func:`canonicalize` / :func:`canonical_element` pick a documented
representative of each orbit; :func:`flat_centered` gives the flat host vectors the distances
and clustering work on.
"""

from __future__ import annotations

import dataclasses
import functools
import math

import jax
import jax.numpy as jnp
import numpy as np

from .. import _checks, units
from .. import symmetry as sy
from ..models import Model

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
# layout helpers


def _flips_on(model: Model, flips) -> bool:
    """Resolve ``flips`` (None = whenever the activation allows) to a bool, with the checks and
    messages of :mod:`landscape.symmetry` (its identity element has signs exactly when flips
    are on)."""
    return sy.identity_element(model=model, flips=flips).signs is not None


_KIND_REPRESENTATIVE = {"odd": "tanh", "logistic": "sigmoid", "rescale": "relu", "none": "relu"}


def _layout(model: Model) -> Model:
    """What canonical forms depend on (sizes, bias, the activation's flip kind) as a Model: the
    compile-cache key, shared by models that differ only in activations of one kind."""
    return dataclasses.replace(model, activation=_KIND_REPRESENTATIVE[units.activation_symmetry(model.activation)],
                               output="linear")


def _complement_layers(model: Model) -> tuple[int, ...]:
    """Hidden layers whose flips shift the next bias (logistic units with biases)."""
    if model.bias and units.activation_symmetry(model.activation) == "logistic":
        return tuple(range(len(model.hidden_sizes)))
    return ()


# --------------------------------------------------------------------------------------------
# centered coordinates


def _center(model: Model, params, direction: float = 1.0):
    out = [dict(layer) for layer in params]
    for h in _complement_layers(model):
        w = params[h + 1]["w"]
        out[h + 1]["b"] = params[h + 1]["b"] + direction * 0.5 * jnp.sum(w, axis=-2)
    return out


def centered_params(params, *, model: Model) -> list:
    """Params in *centered coordinates*, where every group element is a signed permutation.

    For logistic hidden units ``sigmoid(z) = 1/2 + tanh(z/2)/2``: the unit minus its centre
    ``1/2`` is odd, so writing each following bias as ``b' = b + (1/2) sum_j w[j, :]`` (the
    outputs the layer would give if every unit sat at 1/2) turns the logistic flip (which adds
    the unit's outgoing weights to the next bias) into a plain sign change of the unit's
    incoming weights, bias and outgoing weights, with ``b'`` unchanged. Other activations are
    returned as they are. The map is linear and invertible (:func:`uncentered_params`);
    Euclidean distances in these coordinates are invariant under the group,
    ``|g x - g y| = |x - y|``, which makes "distance modulo symmetry" symmetric in its two
    arguments. Batched over leading axes.

    >>> import jax, numpy as np, landscape as ls
    >>> from landscape import minima, symmetry
    >>> model = ls.mlp([2, 2, 1])                      # logistic units
    >>> params = ls.inits.constant(model, 0.5)(jax.random.key(0))
    >>> minima.centered_params(params, model=model)[1]["b"].tolist()  # 0.5 + (0.5 + 0.5) / 2
    [1.0]
    """
    _checks.model(model)
    _checks.model_batch_shape(params, model)
    return _center(model, params, 1.0)


def uncentered_params(params, *, model: Model) -> list:
    """Inverse of :func:`centered_params` (same pytree, same shapes).

    >>> import jax, numpy as np, landscape as ls
    >>> from landscape import minima, symmetry
    >>> model = ls.mlp([2, 2, 1])
    >>> params = ls.inits.constant(model, 0.5)(jax.random.key(0))
    >>> back = minima.uncentered_params(minima.centered_params(params, model=model), model=model)
    >>> back[1]["b"].tolist()
    [0.5]
    """
    _checks.model(model)
    _checks.model_batch_shape(params, model)
    return _center(model, params, -1.0)


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


@functools.partial(jax.jit, static_argnames=("model", "flips", "rtol"))
def _canonical_impl(model: Model, params, flips: bool, rtol: float):
    """Canonical element and form. Layer by layer in centered coordinates, where each layer's
    element is a signed permutation: after settling hidden layer ``h`` only the rows of the
    next weight matrix move (its centered bias does not), so those rows are updated in place
    and the whole element is applied once at the end by :func:`landscape.symmetry.apply_element`
    (elements of different layers commute)."""
    widths = model.hidden_sizes
    n_hidden = len(widths)
    dtype = params[0]["w"].dtype
    c = _center(model, params)
    weights = [layer["w"] for layer in c]
    perms, signs = [], []
    for h in range(n_hidden):
        v_in = jnp.swapaxes(weights[h], -1, -2)
        if model.bias:
            v_in = jnp.concatenate([v_in, c[h]["b"][..., None]], axis=-1)
        v_out = weights[h + 1]
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
        # the next layer sees the settled units: row j = s[perm[j]] * old row perm[j]
        onehot = (perm[..., :, None] == jnp.arange(perm.shape[-1])).astype(dtype)  # [j, perm[j]]
        weights[h + 1] = onehot @ (v_out * sf)
        perms.append(perm)
        signs.append(s)
    element = sy.GroupElement(tuple(perms), tuple(signs) if flips else None)
    if not n_hidden:
        return list(params), element
    return sy.apply_element(model=model, params=params, element=element), element


def canonical_element(params, *, model: Model, flips: bool | None = None) -> sy.GroupElement:
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

    The canonical form is the same point for every image ``g . params`` of the group (exactly
    for signed permutations; to float rounding where logistic flips add to biases), and
    canonicalizing a canonical form changes nothing. Points on the boundaries of the rule
    (a near tie of two sort keys, a first significant entry near ``SIGN_RTOL``) have nearby
    points with other canonical forms: use :func:`align` or the orbit distance for them.

    >>> import jax, numpy as np, landscape as ls
    >>> from landscape import minima, symmetry
    >>> model = ls.mlp([2, 3, 1], activation="tanh")
    >>> params = model.init(jax.random.key(0))
    >>> g = symmetry.random_element(model=model, key=jax.random.key(1))
    >>> image = symmetry.apply_element(model=model, params=params, element=g)
    >>> g = minima.canonical_element(params, model=model)
    >>> g.perms[0].shape, g.signs[0].shape
    ((3,), (3,))
    """
    _checks.model(model)
    _checks.model_batch_shape(params, model)
    flips = _flips_on(model, flips)
    return _canonical_impl(_layout(model), list(params), flips, SIGN_RTOL)[1]


def canonicalize(params, *, model: Model, flips: bool | None = None) -> list:
    """The canonical representative of ``params`` modulo the symmetry group (batched).

    See :func:`canonical_element` for the documented rule. ``flips=False`` quotients by unit
    permutations only. Returns params of the same shapes.

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
    _checks.model(model)
    _checks.model_batch_shape(params, model)
    flips = _flips_on(model, flips)
    return _canonical_impl(_layout(model), list(params), flips, SIGN_RTOL)[0]


# --------------------------------------------------------------------------------------------
# host-side views: flat centered vectors, signed permutations in centered coordinates


def _host_layers(model: Model, params) -> list[dict[str, np.ndarray]]:
    """Centered params as float64 NumPy, leaves ``(n, ...)`` (one leading run axis); computed
    on the host, so no small programs get compiled for each new shape."""
    layers = [{k: np.asarray(v, np.float64) for k, v in layer.items()}
              for layer in _one_axis(model, params)]
    for h in _complement_layers(model):
        layers[h + 1]["b"] = layers[h + 1]["b"] + 0.5 * np.sum(layers[h + 1]["w"], axis=-2)
    return layers


def _flatten_layers(layers) -> np.ndarray:
    """``(n, n_params)`` in the order of ``ravel_pytree`` (layer by layer, keys sorted)."""
    n = layers[0]["w"].shape[0]
    return np.concatenate([layer[k].reshape(n, -1) for layer in layers for k in sorted(layer)], axis=1)


def flat_centered(params, *, model: Model, canonical: bool = True,
                  flips: bool | None = None) -> np.ndarray:
    """``(n_points, n_params)`` float64: each point (canonicalized unless ``canonical=False``)
    in centered coordinates, flattened in ``ravel_pytree`` order; the leading batch axes of
    ``params`` are flattened into one. Euclidean distances between these rows are the
    parameter-space distances of this module.

    >>> import jax, numpy as np, landscape as ls
    >>> from landscape import minima, symmetry
    >>> model = ls.mlp([2, 3, 1])
    >>> runs = jax.vmap(model.init)(jax.random.split(jax.random.key(0), 5))
    >>> minima.flat_centered(runs, model=model).shape
    (5, 13)
    """
    _checks.model(model)
    _checks.model_batch_shape(params, model)
    if canonical:
        params = canonicalize(params, flips=flips, model=model)
    return _flatten_layers(_host_layers(model, params))


def _rows(model: Model, params) -> int:
    return math.prod(_checks.model_batch_shape(params, model))


def _one_axis(model: Model, params) -> list:
    """``params`` as NumPy arrays (on the host) with the leading batch axes flattened into one:
    leaves ``(n, ...)``."""
    n = _rows(model, params)
    shapes = model.param_shapes
    return [{k: np.asarray(v).reshape((n,) + shapes[l][k]) for k, v in layer.items()}
            for l, layer in enumerate(params)]


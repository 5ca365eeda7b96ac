"""Initialization schemes. Each factory returns ``init_fn(key) -> params`` for a model.

Schemes that treat every entry alike (``constant``, ``zeros``, ``normal``, ``uniform``) fill
weights *and* biases; the fan-scaled schemes (``glorot``, ``he``, ``lecun``) draw weights and
set biases to zero. Per-layer or weights-vs-biases choices are made by combining schemes:

>>> import landscape as ls
>>> model = ls.mlp([2, 2, 1])
>>> init_fn = ls.inits.by_layer(model, [ls.inits.constant(model, 0.5),   # hidden layer
...                                      ls.inits.normal(model, 1.0)])    # output layer

Randomness: leaf ``i`` of the params, counted layer by layer with ``"w"`` before ``"b"`` (the
order of ``model.param_shapes``, not ``jax.tree`` order, which sorts ``"b"`` first), is drawn
with ``fold_in(key, i)``, so schemes and combinations are reproducible leaf by leaf.
"""

from __future__ import annotations

import math
from typing import Callable, Sequence

import jax
import jax.numpy as jnp

from . import _checks
from .models import Model

__all__ = [
    "constant", "zeros", "normal", "uniform", "glorot", "xavier", "he", "lecun",
    "perturbed", "by_layer", "by_kind", "scaled", "SCHEMES", "from_name",
]

InitFn = Callable[[jax.Array], list]






def _from_leaves(model: Model, draw, dtype) -> InitFn:
    """``init_fn`` whose leaf ``i`` is ``draw(key_i, kind, shape, dtype)`` (kind is "w" or "b")."""

    def init_fn(key: jax.Array):
        params, i = [], 0
        for layer in model.param_shapes:
            out = {}
            for kind, shape in layer.items():
                out[kind] = draw(jax.random.fold_in(key, i), kind, shape, dtype)
                i += 1
            params.append(out)
        return params

    return init_fn


def constant(model: Model, value: float = 0.5, *, dtype=jnp.float32) -> InitFn:
    """Every weight and bias equal to ``value``: the symmetric start (e.g. all 0.5).

    Returns ``init_fn(key) -> params`` with leaves shaped like ``model.param_shapes``; the key
    is ignored.

    >>> import jax, landscape as ls
    >>> model = ls.mlp([2, 2, 1])
    >>> params = constant(model, 0.5)(jax.random.key(0))
    >>> params[0]["w"].tolist(), params[1]["b"].tolist()
    ([[0.5, 0.5], [0.5, 0.5]], [0.5])
    """
    _checks.model(model)
    value = _checks.real("value", value)
    return _from_leaves(model, lambda key, kind, shape, dt: jnp.full(shape, value, dt), dtype)


def zeros(model: Model, *, dtype=jnp.float32) -> InitFn:
    """Every weight and bias zero (the origin, itself a critical point of most MLP losses).

    >>> import jax, landscape as ls
    >>> zeros(ls.mlp([2, 2, 1]))(jax.random.key(0))[0]["b"].tolist()
    [0.0, 0.0]
    """
    return constant(model, 0.0, dtype=dtype)


def normal(model: Model, std: float = 1.0, *, mean: float = 0.0, dtype=jnp.float32) -> InitFn:
    """Every weight and bias i.i.d. ``N(mean, std^2)``; leaves shaped like ``model.param_shapes``.

    >>> import jax, landscape as ls
    >>> params = normal(ls.mlp([2, 2, 1]), 0.5)(jax.random.key(0))
    >>> params[0]["w"].shape, params[0]["b"].shape
    ((2, 2), (2,))
    """
    _checks.model(model)
    std = _checks.real("std", std)
    if std < 0:
        raise ValueError(f"std={std!r} must be non-negative")
    mean = _checks.real("mean", mean)
    return _from_leaves(
        model, lambda key, kind, shape, dt: mean + std * jax.random.normal(key, shape, dt), dtype)


def uniform(model: Model, low: float = -1.0, high: float = 1.0, *, dtype=jnp.float32) -> InitFn:
    """Every weight and bias i.i.d. uniform on ``[low, high)``.

    >>> import jax, landscape as ls
    >>> params = uniform(ls.mlp([2, 2, 1]), -0.1, 0.1)(jax.random.key(0))
    >>> bool(abs(params[0]["w"]).max() < 0.1)
    True
    """
    _checks.model(model)
    low, high = _checks.real("low", low), _checks.real("high", high)
    if not low < high:
        raise ValueError(f"uniform needs low < high, got low={low!r}, high={high!r}")
    return _from_leaves(
        model, lambda key, kind, shape, dt: jax.random.uniform(key, shape, dt, low, high), dtype)


def _fan_scaled(model: Model, std_of: Callable[[int, int], float], gain: float, dtype) -> InitFn:
    _checks.model(model)
    gain = _checks.real("gain", gain, low=0.0, low_open=True)

    def draw(key, kind, shape, dt):
        if kind == "b":
            return jnp.zeros(shape, dt)
        return gain * std_of(*shape) * jax.random.normal(key, shape, dt)

    return _from_leaves(model, draw, dtype)


def glorot(model: Model, *, gain: float = 1.0, dtype=jnp.float32) -> InitFn:
    """Glorot/Xavier normal: weights ``N(0, gain^2 * 2 / (fan_in + fan_out))``, zero biases.

    >>> import jax, landscape as ls
    >>> glorot(ls.mlp([2, 2, 1]))(jax.random.key(0))[0]["b"].tolist()
    [0.0, 0.0]
    """
    return _fan_scaled(model, lambda fi, fo: math.sqrt(2.0 / (fi + fo)), gain, dtype)


xavier = glorot


def he(model: Model, *, gain: float = 1.0, dtype=jnp.float32) -> InitFn:
    """He/Kaiming normal: weights ``N(0, gain^2 * 2 / fan_in)``, zero biases.

    >>> import jax, landscape as ls
    >>> he(ls.mlp([2, 8, 1], activation="relu"))(jax.random.key(0))[0]["w"].shape
    (2, 8)
    """
    return _fan_scaled(model, lambda fi, fo: math.sqrt(2.0 / fi), gain, dtype)


def lecun(model: Model, *, gain: float = 1.0, dtype=jnp.float32) -> InitFn:
    """LeCun normal: weights ``N(0, gain^2 / fan_in)``, zero biases.

    >>> import jax, landscape as ls
    >>> lecun(ls.mlp([2, 2, 1]))(jax.random.key(0))[1]["w"].shape
    (2, 1)
    """
    return _fan_scaled(model, lambda fi, fo: math.sqrt(1.0 / fi), gain, dtype)




def perturbed(base: InitFn, eps: float, *, noise: InitFn | None = None) -> InitFn:
    """``base(key) + eps * noise(key')``: break a (symmetric) start by a controlled amount.

    ``noise`` defaults to i.i.d. ``N(0, 1)`` on every leaf. ``base`` and ``noise`` get
    independent keys (``fold_in(key, 0)`` and ``fold_in(key, 1)``).

    >>> import jax, landscape as ls
    >>> model = ls.mlp([2, 2, 1])
    >>> params = perturbed(constant(model, 0.5), 0.01)(jax.random.key(0))
    >>> bool(abs(params[0]["w"] - 0.5).max() < 0.1)  # 0.5 plus a little noise
    True
    """
    _checks.init_fn(base, "base")
    eps = _checks.real("eps", eps)

    def init_fn(key):
        params = base(jax.random.fold_in(key, 0))
        if noise is None:
            leaves, treedef = jax.tree.flatten(params)
            noisy = [jax.random.normal(jax.random.fold_in(jax.random.fold_in(key, 1), i), p.shape, p.dtype)
                     for i, p in enumerate(leaves)]
            delta = jax.tree.unflatten(treedef, noisy)
        else:
            delta = noise(jax.random.fold_in(key, 1))
        return jax.tree.map(lambda p, d: p + eps * d, params, delta)

    return init_fn


def by_layer(model: Model, schemes: Sequence[InitFn]) -> InitFn:
    """Layer ``l`` from ``schemes[l]`` (one init_fn per weight layer, keys ``fold_in(key, l)``).

    >>> import jax, landscape as ls
    >>> model = ls.mlp([2, 2, 1])
    >>> init_fn = by_layer(model, [constant(model, 0.5), zeros(model)])
    >>> init_fn(jax.random.key(0))[1]["w"].tolist()
    [[0.0], [0.0]]
    """
    _checks.model(model)
    if not isinstance(schemes, Sequence) or len(schemes) != model.n_layers:
        raise ValueError(
            f"schemes must list one init_fn per weight layer ({model.n_layers} for sizes "
            f"{list(model.sizes)}), got {schemes!r}"
        )
    for l, fn in enumerate(schemes):
        _checks.init_fn(fn, f"schemes[{l}]")

    def init_fn(key):
        return [fn(jax.random.fold_in(key, l))[l] for l, fn in enumerate(schemes)]

    return init_fn


def by_kind(model: Model, *, weights: InitFn, biases: InitFn) -> InitFn:
    """Weights from ``weights``, biases from ``biases`` (keys ``fold_in(key, 0/1)``); layers
    without a bias (``bias=(True, False)``, say) take only their weights.

    >>> import jax, landscape as ls
    >>> model = ls.mlp([2, 2, 1])
    >>> params = by_kind(model, weights=normal(model), biases=zeros(model))(jax.random.key(0))
    >>> params[0]["b"].tolist()
    [0.0, 0.0]
    """
    _checks.model(model)
    _checks.init_fn(weights, "weights")
    _checks.init_fn(biases, "biases")
    if not any(model.bias):
        raise ValueError("by_kind needs a model with biases; this one has bias=False")

    def init_fn(key):
        w = weights(jax.random.fold_in(key, 0))
        b = biases(jax.random.fold_in(key, 1))
        return [{"w": lw["w"], **({"b": lb["b"]} if has else {})}
                for lw, lb, has in zip(w, b, model.bias)]

    return init_fn


def scaled(base: InitFn, scale: float | jax.Array) -> InitFn:
    """``scale * base(key)``; ``scale`` may be a traced per-run value (init-scale sweeps).

    >>> import jax, landscape as ls
    >>> model = ls.mlp([2, 2, 1])
    >>> scaled(constant(model, 0.5), 2.0)(jax.random.key(0))[1]["b"].tolist()
    [1.0]
    """
    _checks.init_fn(base, "base")

    def init_fn(key):
        return jax.tree.map(lambda p: scale * p, base(key))

    return init_fn


SCHEMES = {"constant": constant, "zeros": zeros, "normal": normal, "uniform": uniform,
           "glorot": glorot, "xavier": xavier, "he": he, "lecun": lecun}
"""Schemes that take only the model and keyword numbers, by name (for configs and the CLI)."""


def from_name(model: Model, name: str, **kwargs) -> InitFn:
    """The scheme called ``name`` (a key of :data:`SCHEMES`) with its keyword arguments.

    >>> import jax, landscape as ls
    >>> model = ls.mlp([2, 2, 1])
    >>> from_name(model, "constant", value=0.5)(jax.random.key(0))[0]["b"].tolist()
    [0.5, 0.5]
    """
    if name not in SCHEMES:
        raise ValueError(f"init name={name!r} is not known; expected one of {sorted(SCHEMES)}")
    return SCHEMES[name](model, **kwargs)

"""Degenerate structures symmetry produces: duplicated, dead and saturated hidden units
(:func:`unit_structure`).
"""

from __future__ import annotations

import functools
import math
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from ..models import ACTIVATIONS, Model
from .canonical import _flips_on, _host_features, _n_incoming, _one_axis, _resolve

DUP_RTOL = 0.01
"""Two units of a layer are duplicates when their centered incoming vectors (weights, bias)
differ, up to a sign flip when the activation has one, by at most this fraction of the
larger one's norm."""
DEAD_ATOL = 1e-3
"""A unit is dead when its output varies by at most this much over the inputs (times
``max(1, max |output|)``)."""
SAT_RTOL = 0.01
"""A (live) unit is saturated when the activation's slope is at most this fraction of its
largest slope at every input: gradient barely passes through it."""


class UnitStructure(NamedTuple):
    """Per-run counts of the degenerate structures symmetry produces (arrays ``(n_runs,)`` int).

    duplicate_pairs: pairs of units within one hidden layer that are equal up to the group
                     (same incoming weights and bias, up to a flip): the network acts as a
                     narrower one, and the split of their outgoing weights is a flat direction.
    dead:            units whose output is constant over the inputs (zero incoming weights, a
                     relu below zero everywhere, a logistic unit pinned at 0 or 1).
    saturated:       live units with a vanishing slope at every input (hard threshold units,
                     typical of runs drifting to infinity).
    per_layer:       ``(n_runs, n_hidden_layers, 3)``: the same three counts by hidden layer.

    ``dead`` and ``saturated`` need the hidden activations, which only an ``ls.mlp`` model
    exposes: for any other model they are None (and ``per_layer[..., 1:]`` is -1);
    ``duplicate_pairs`` is read from the unit layout for every model.
    """

    duplicate_pairs: np.ndarray
    dead: np.ndarray | None
    saturated: np.ndarray | None
    per_layer: np.ndarray


@functools.lru_cache(maxsize=None)
def _max_slope(name: str) -> float:
    z = np.linspace(-8.0, 8.0, 1601)
    slope = jax.vmap(jax.grad(ACTIVATIONS[name]))(jnp.asarray(z, jnp.float32))
    return float(np.max(np.abs(np.asarray(slope))))


@functools.partial(jax.jit, static_argnames="model")
def _hidden_impl(model: Model, params, x):
    """Pre-activations and activations of every hidden layer: lists of ``(n, P, H_h)``."""
    act = ACTIVATIONS[model.activation]

    def one(p):
        h, zs, hs = x, [], []
        for layer in p[:-1]:
            z = h @ layer["w"] + (layer["b"] if "b" in layer else 0.0)
            h = act(z)
            zs.append(z)
            hs.append(h)
        slopes = [jax.vmap(jax.vmap(jax.grad(act)))(z) for z in zs]
        return hs, slopes

    return jax.vmap(one)(params)


def unit_structure(params, x, *, model, dup_rtol: float = DUP_RTOL,
                   dead_atol: float = DEAD_ATOL, sat_rtol: float = SAT_RTOL,
                   flips: bool | None = None) -> UnitStructure:
    """Duplicated, dead and saturated hidden units of every run (batch axes flattened), on the
    inputs ``x``. See :class:`UnitStructure` and the tolerances ``DUP_RTOL``, ``DEAD_ATOL``,
    ``SAT_RTOL``. ``model``: anything :func:`landscape.units.layout` takes (a Flax linen
    module: params with one run axis); dead and saturated units only for ``ls.mlp`` (None
    otherwise: they need the hidden activations).

    >>> import jax, numpy as np, landscape as ls
    >>> from landscape import minima, symmetry
    >>> model = ls.mlp([2, 2, 1])
    >>> start = ls.inits.constant(model, 0.5)(jax.random.key(0))
    >>> runs = jax.tree.map(lambda a: a[None], start)  # one run: its two units are equal
    >>> minima.unit_structure(runs, ls.datasets.xor().x, model=model).duplicate_pairs.tolist()
    [1]
    """
    spec, batch = _resolve(model, params, n_batch_axes=1)
    n = math.prod(batch)
    flips = _flips_on(spec, flips)
    ls_mlp = isinstance(model, Model)
    x = np.asarray(x)
    if ls_mlp and (x.ndim != 2 or x.shape[1] != model.n_in):
        raise ValueError(f"x of shape {tuple(x.shape)} must be (n_inputs, {model.n_in})")
    flat = _one_axis(spec, params)
    n_hidden = len(spec.symmetries)
    per_layer = np.zeros((n, n_hidden, 3), np.int64)
    if not ls_mlp:
        per_layer[..., 1:] = -1
    if n_hidden == 0:
        z = np.zeros(n, np.int64)
        return UnitStructure(z, z if ls_mlp else None, z if ls_mlp else None, per_layer)
    if ls_mlp:
        hs, slopes = _hidden_impl(model, flat, x.astype(jax.tree.leaves(flat)[0].dtype))
        top = _max_slope(model.activation)
    for h in range(n_hidden):
        v = _host_features(spec, flat, h)[..., :_n_incoming(spec, h)]
        norms = np.linalg.norm(v, axis=-1)
        diff = np.linalg.norm(v[:, :, None] - v[:, None], axis=-1)
        if flips:
            diff = np.minimum(diff, np.linalg.norm(v[:, :, None] + v[:, None], axis=-1))
        scale = np.maximum(norms[:, :, None], norms[:, None])
        width = v.shape[1]
        upper = np.triu(np.ones((width, width), bool), 1)
        per_layer[:, h, 0] = np.sum((diff <= dup_rtol * scale) & upper, axis=(1, 2))
        if not ls_mlp:
            continue
        a = np.asarray(hs[h], np.float64)  # (n, P, H)
        spread = a.max(axis=1) - a.min(axis=1)
        dead = spread <= dead_atol * np.maximum(1.0, np.abs(a).max(axis=1))
        s = np.abs(np.asarray(slopes[h], np.float64))
        sat = ~dead & np.all(s <= sat_rtol * top, axis=1)
        per_layer[:, h, 1] = dead.sum(axis=1)
        per_layer[:, h, 2] = sat.sum(axis=1)
    tot = per_layer.sum(axis=1)
    if not ls_mlp:
        return UnitStructure(tot[:, 0], None, None, per_layer)
    return UnitStructure(tot[:, 0], tot[:, 1], tot[:, 2], per_layer)

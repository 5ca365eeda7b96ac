"""Degenerate structures symmetry produces: duplicated, dead and saturated hidden units
(:func:`unit_structure`).
"""

from __future__ import annotations

import functools
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from .. import _checks
from ..models import ACTIVATIONS, Model
from .canonical import _flips_on, _host_layers, _one_axis, _rows

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
    """

    duplicate_pairs: np.ndarray
    dead: np.ndarray
    saturated: np.ndarray
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
            z = h @ layer["w"] + (layer["b"] if model.bias else 0.0)
            h = act(z)
            zs.append(z)
            hs.append(h)
        slopes = [jax.vmap(jax.vmap(jax.grad(act)))(z) for z in zs]
        return hs, slopes

    return jax.vmap(one)(params)


def unit_structure(params, x, *, model: Model, dup_rtol: float = DUP_RTOL,
                   dead_atol: float = DEAD_ATOL, sat_rtol: float = SAT_RTOL,
                   flips: bool | None = None) -> UnitStructure:
    """Duplicated, dead and saturated hidden units of every run (batch axes flattened), on the
    inputs ``x``. See :class:`UnitStructure` and the tolerances ``DUP_RTOL``, ``DEAD_ATOL``,
    ``SAT_RTOL``.

    >>> import jax, numpy as np, landscape as ls
    >>> from landscape import minima, symmetry
    >>> model = ls.mlp([2, 2, 1])
    >>> start = ls.inits.constant(model, 0.5)(jax.random.key(0))
    >>> runs = jax.tree.map(lambda a: a[None], start)  # one run: its two units are equal
    >>> minima.unit_structure(runs, ls.datasets.xor().x, model=model).duplicate_pairs.tolist()
    [1]
    """
    _checks.model(model)
    n = _rows(model, params)
    flips = _flips_on(model, flips)
    x = np.asarray(x)
    if x.ndim != 2 or x.shape[1] != model.n_in:
        raise ValueError(f"x of shape {tuple(x.shape)} must be (n_inputs, {model.n_in})")
    flat = _one_axis(model, params)
    n_hidden = len(model.hidden_sizes)
    per_layer = np.zeros((n, n_hidden, 3), np.int64)
    if n_hidden == 0:
        z = np.zeros(n, np.int64)
        return UnitStructure(z, z, z, per_layer)
    hs, slopes = _hidden_impl(model, flat, x.astype(flat[0]["w"].dtype))
    layers = _host_layers(model, flat)
    top = _max_slope(model.activation)
    for h in range(n_hidden):
        v = np.swapaxes(layers[h]["w"], 1, 2)
        if model.bias:
            v = np.concatenate([v, layers[h]["b"][..., None]], axis=-1)
        norms = np.linalg.norm(v, axis=-1)
        diff = np.linalg.norm(v[:, :, None] - v[:, None], axis=-1)
        if flips:
            diff = np.minimum(diff, np.linalg.norm(v[:, :, None] + v[:, None], axis=-1))
        scale = np.maximum(norms[:, :, None], norms[:, None])
        width = v.shape[1]
        upper = np.triu(np.ones((width, width), bool), 1)
        per_layer[:, h, 0] = np.sum((diff <= dup_rtol * scale) & upper, axis=(1, 2))
        a = np.asarray(hs[h], np.float64)  # (n, P, H)
        spread = a.max(axis=1) - a.min(axis=1)
        dead = spread <= dead_atol * np.maximum(1.0, np.abs(a).max(axis=1))
        s = np.abs(np.asarray(slopes[h], np.float64))
        sat = ~dead & np.all(s <= sat_rtol * top, axis=1)
        per_layer[:, h, 1] = dead.sum(axis=1)
        per_layer[:, h, 2] = sat.sum(axis=1)
    tot = per_layer.sum(axis=1)
    return UnitStructure(tot[:, 0], tot[:, 1], tot[:, 2], per_layer)


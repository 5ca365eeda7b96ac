"""Weight matching: move a network by a group element onto a reference (:func:`align`).

Optimal assignment (``scipy.optimize.linear_sum_assignment``) layer by layer in centered
coordinates, where the group acts by signed permutations; for deeper nets, where a sort into
canonical form is ambiguous. Runs on the host.
"""

from __future__ import annotations

import math
from typing import Any, NamedTuple

import jax.numpy as jnp
import numpy as np

from .. import _checks
from .. import symmetry as sy
from ..models import Model
from .canonical import _flips_on, _flatten_layers, _host_layers

def _signed_permute(model: Model, layers, perms, signs):
    """Apply per-layer ``perms (n, H_h)`` and ``signs (n, H_h)`` (or None) to centered host
    layers: new unit ``j`` = ``signs[perm[j]] * old unit perm[j]``."""
    out = [dict(layer) for layer in layers]
    n = layers[0]["w"].shape[0]
    rows = np.arange(n)[:, None]
    for h, perm in enumerate(perms):
        s = np.ones(perm.shape) if signs is None else signs[h]
        sp = np.take_along_axis(s, perm, axis=1)  # sign of the old unit now at position j
        out[h]["w"] = out[h]["w"][rows, :, perm].transpose(0, 2, 1) * sp[:, None, :]
        if model.bias:
            out[h]["b"] = out[h]["b"][rows, perm] * sp
        out[h + 1]["w"] = out[h + 1]["w"][rows, perm, :] * sp[:, :, None]
    return out


# --------------------------------------------------------------------------------------------
# alignment (weight matching)


class Alignment(NamedTuple):
    """What :func:`align` returns.

    params:   the aligned params, ``element`` applied to the input (batch shape kept).
    element:  the group element used, batched like the params' leading axes.
    distance: ``(*batch,)`` float64: distance to the reference in centered coordinates.
    sweeps:   ``(*batch,)`` int: coordinate-descent sweeps over the hidden layers used.
    """

    params: Any
    element: sy.GroupElement
    distance: np.ndarray
    sweeps: np.ndarray


def _one(layers, i):
    return [{k: v[i:i + 1] for k, v in layer.items()} for layer in layers]


def _match_one(model: Model, a, b, flips: bool, max_sweeps: int):
    """Weight matching of one network ``b`` onto ``a`` (centered host layers, n = 1)."""
    widths = model.hidden_sizes
    perms = [np.arange(w)[None] for w in widths]
    signs = [np.ones((1, w)) for w in widths] if flips else None
    # first pass, from the input side, on incoming weights only (the layers before are matched,
    # the ones after not yet): recovers an exact image of the reference outright
    for h in range(len(widths)):
        _assign(model, a, b, perms, signs, h, incoming_only=True)
    sweeps = 0
    for sweeps in range(1, max_sweeps + 1):
        changed = False
        for h in range(len(widths)):
            changed |= _assign(model, a, b, perms, signs, h, incoming_only=False)
        # one hidden layer: a single assignment is the exact optimum
        if not changed or len(widths) == 1:
            break
    return perms, signs, sweeps


def _assign(model: Model, a, b, perms, signs, h: int, *, incoming_only: bool) -> bool:
    """Re-solve hidden layer ``h``'s assignment (in place) with the other layers' elements
    applied to ``b``; returns whether it changed."""
    from scipy.optimize import linear_sum_assignment

    flips = signs is not None
    width = model.hidden_sizes[h]
    keep = [p.copy() for p in perms]
    keep[h] = np.arange(width)[None]
    keep_s = None
    if flips:
        keep_s = [s.copy() for s in signs]
        keep_s[h] = np.ones((1, width))
    bt = _signed_permute(model, b, keep, keep_s)
    score = a[h]["w"][0].T @ bt[h]["w"][0]  # (reference unit i, unit j of b)
    if model.bias:
        score = score + np.outer(a[h]["b"][0], bt[h]["b"][0])
    if not incoming_only:
        score = score + a[h + 1]["w"][0] @ bt[h + 1]["w"][0].T
    rows, cols = linear_sum_assignment(np.abs(score) if flips else score, maximize=True)
    new_perm = cols[np.argsort(rows)]
    changed = not np.array_equal(new_perm, perms[h][0])
    perms[h] = new_perm[None]
    if flips:
        new_s = np.ones(width)
        chosen = score[np.arange(width), new_perm]
        new_s[new_perm] = np.where(chosen < 0, -1.0, 1.0)
        changed = changed or not np.array_equal(new_s, signs[h][0])
        signs[h] = new_s[None]
    return changed


def align(params, reference, *, model: Model, flips: bool | None = None,
          max_sweeps: int = 100) -> Alignment:
    """Move ``params`` by a group element to lie as close as possible to ``reference``.

    Weight matching (Ainsworth et al. 2023, "Git Re-Basin"), in centered coordinates where the
    group acts by signed permutations: for hidden layer ``h``, with the other layers' current
    elements applied, unit ``i`` of the reference and unit ``j`` of ``params`` score
    ``S_ij = <in_i, in_j> + b_i b_j + <out_i, out_j>`` (incoming weights, bias, outgoing weights;
    with flips the score is ``|S_ij|`` and the sign ``sign(S_ij)``), and
    ``scipy.optimize.linear_sum_assignment`` picks the permutation of largest total score,
    i.e. of least squared distance. Layers are swept from the input side until a sweep changes
    nothing (at most ``max_sweeps``). With one hidden layer one assignment is the exact optimum
    over the whole group; deeper, it is a local optimum of the coordinate descent.

    ``params`` may carry leading batch axes; ``reference`` is one network or a batch of the
    same shape (row-wise). Runs on the host (a loop over networks). Returns :class:`Alignment`.

    >>> import jax, numpy as np, landscape as ls
    >>> from landscape import minima, symmetry
    >>> model = ls.mlp([2, 3, 1], activation="tanh")
    >>> params = model.init(jax.random.key(0))
    >>> g = symmetry.random_element(model=model, key=jax.random.key(1))
    >>> image = symmetry.apply_element(model=model, params=params, element=g)
    >>> aligned = minima.align(image, params, model=model)
    >>> float(aligned.distance) < 1e-5                # the image is moved back onto params
    True
    """
    _checks.model(model)
    batch = _checks.model_batch_shape(params, model)
    ref_batch = _checks.model_batch_shape(reference, model, "reference")
    if ref_batch not in ((), batch):
        raise ValueError(f"reference must be one network or have the batch shape {batch} of params, "
                         f"got batch shape {ref_batch}")
    flips = _flips_on(model, flips)
    max_sweeps = _checks.count("max_sweeps", max_sweeps)
    a_all = _host_layers(model, reference)
    b_all = _host_layers(model, params)
    n = math.prod(batch)
    widths = model.hidden_sizes
    perms = [np.zeros((n, w), np.int32) for w in widths]
    signs = [np.ones((n, w), np.int32) for w in widths] if flips else None
    sweeps = np.zeros(n, np.int64)
    for i in range(n):
        a = _one(a_all, i if ref_batch else 0)
        p, s, k = _match_one(model, a, _one(b_all, i), flips, max_sweeps)
        for h in range(len(widths)):
            perms[h][i] = p[h][0]
            if flips:
                signs[h][i] = s[h][0]
        sweeps[i] = k
    element = sy.GroupElement(
        tuple(jnp.asarray(p.reshape(batch + p.shape[1:])) for p in perms),
        tuple(jnp.asarray(s.reshape(batch + s.shape[1:])) for s in signs) if flips else None)
    aligned = sy.apply_element(model=model, params=params, element=element) if widths else list(params)
    diff = _flatten_layers(_host_layers(model, aligned)) - _flatten_layers(a_all)
    distance = np.linalg.norm(diff, axis=1).reshape(batch)
    return Alignment(aligned, element, distance, sweeps.reshape(batch))


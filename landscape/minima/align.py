"""Weight matching: move a network by a group element onto a reference (:func:`align`).

Optimal assignment (``scipy.optimize.linear_sum_assignment``) layer by layer in centered
coordinates, where the group acts by signed permutations; for deeper nets, where a sort into
canonical form is ambiguous. Runs on the host.
"""

from __future__ import annotations

import math
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from .. import _checks
from .. import symmetry as sy
from .. import units
from .canonical import (_apply, _flatten, _flips_on, _host, _host_features, _n_incoming, _normalize,
                        _resolve)


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


def _element(perms, signs):
    return sy.GroupElement(tuple(jnp.asarray(p) for p in perms),
                           None if signs is None else tuple(jnp.asarray(v) for v in signs))


def _match_one(spec: units.UnitLayout, a, b, flips: bool, max_sweeps: int):
    """Weight matching of one network ``b`` onto ``a`` (one network each; ``a`` as centered
    host unit features per hidden layer)."""
    widths = spec.hidden_sizes
    perms = [np.arange(w, dtype=np.int32) for w in widths]
    signs = [np.ones(w, np.int32) for w in widths] if flips else None
    # first pass, from the input side, on incoming weights only (the layers before are matched,
    # the ones after not yet): recovers an exact image of the reference outright
    for h in range(len(widths)):
        _assign(spec, a, b, perms, signs, h, incoming_only=True)
    sweeps = 0
    for sweeps in range(1, max_sweeps + 1):
        changed = False
        for h in range(len(widths)):
            changed |= _assign(spec, a, b, perms, signs, h, incoming_only=False)
        # one hidden layer: a single assignment is the exact optimum
        if not changed or len(widths) == 1:
            break
    return perms, signs, sweeps


def _assign(spec: units.UnitLayout, a, b, perms, signs, h: int, *, incoming_only: bool) -> bool:
    """Re-solve hidden layer ``h``'s assignment (in place) with the other layers' elements
    applied to ``b``; returns whether it changed."""
    from scipy.optimize import linear_sum_assignment

    flips = signs is not None
    width = spec.hidden_sizes[h]
    keep = [p.copy() for p in perms]
    keep[h] = np.arange(width, dtype=np.int32)
    keep_s = None
    if flips:
        keep_s = [s.copy() for s in signs]
        keep_s[h] = np.ones(width, np.int32)
    fb = _host_features(spec, _apply(spec, b, _element(keep, keep_s)), h)[0]
    fa = a[h]
    k = _n_incoming(spec, h)
    score = fa[:, :k] @ fb[:, :k].T  # (reference unit i, unit j of b): incoming weights, bias
    if not incoming_only:
        score = score + fa[:, k:] @ fb[:, k:].T
    rows, cols = linear_sum_assignment(np.abs(score) if flips else score, maximize=True)
    new_perm = cols[np.argsort(rows)].astype(np.int32)
    changed = not np.array_equal(new_perm, perms[h])
    perms[h] = new_perm
    if flips:
        new_s = np.ones(width, np.int32)
        chosen = score[np.arange(width), new_perm]
        new_s[new_perm] = np.where(chosen < 0, -1, 1)
        changed = changed or not np.array_equal(new_s, signs[h])
        signs[h] = new_s
    return changed


def _align(spec: units.UnitLayout, params, reference, batch, ref_batch, flips: bool,
           max_sweeps: int, normalize: bool) -> Alignment:
    """:func:`align` on a resolved layout; ``normalize``: quotient ``"rescale"`` units."""
    if normalize and "rescale" in spec.symmetries:
        params, reference = _normalize(spec, params), _normalize(spec, reference)
    n = math.prod(batch)
    widths = spec.hidden_sizes
    one = lambda p, i: jax.tree.map(lambda v: v[i], p)  # noqa: E731
    flat_p = jax.tree.map(lambda v, s: jnp.reshape(v, (n,) + s), params,
                          jax.tree.structure(params).unflatten(spec.shapes))
    refs = jax.tree.map(lambda v, s: jnp.reshape(v, (-1,) + s), reference,
                        jax.tree.structure(reference).unflatten(spec.shapes))
    a_all = [_host_features(spec, refs, h) for h in range(len(widths))]
    perms = [np.zeros((n, w), np.int32) for w in widths]
    signs = [np.ones((n, w), np.int32) for w in widths] if flips else None
    sweeps = np.zeros(n, np.int64)
    for i in range(n):
        j = i if ref_batch else 0
        a = [f[j] for f in a_all]
        p, s, k = _match_one(spec, a, one(flat_p, i), flips, max_sweeps)
        for h in range(len(widths)):
            perms[h][i] = p[h]
            if flips:
                signs[h][i] = s[h]
        sweeps[i] = k
    element = sy.GroupElement(
        tuple(jnp.asarray(p.reshape(batch + p.shape[1:])) for p in perms),
        tuple(jnp.asarray(s.reshape(batch + s.shape[1:])) for s in signs) if flips else None)
    aligned = _apply(spec, params, element)
    diff = _flatten(_host(spec, aligned)) - _flatten(_host(spec, reference))
    distance = np.linalg.norm(diff, axis=1).reshape(batch)
    return Alignment(aligned, element, distance, sweeps.reshape(batch))


def align(params, reference, *, model, flips: bool | None = None,
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
    same shape (row-wise). ``model``: anything :func:`landscape.units.layout` takes. Units of
    ``"rescale"`` layers (ReLU-like) are normalized first (:func:`normalized_params`), so the
    distance is taken modulo positive rescaling too and the aligned params are normalized.
    Runs on the host (a loop over networks). Returns :class:`Alignment`.

    >>> import jax, numpy as np, landscape as ls
    >>> from landscape import minima, symmetry
    >>> model = ls.mlp([2, 3, 1], activation="tanh")
    >>> params = model.init(jax.random.key(0))
    >>> flipped = symmetry.flip_units(params, [np.array([-1, 1, -1])], model=model)
    >>> aligned = minima.align(flipped, params, model=model)
    >>> float(aligned.distance) < 1e-5                # the copy is moved back onto params
    True
    """
    spec, batch = _resolve(model, params)
    ref_batch = spec.check(reference, "reference")
    if ref_batch not in ((), batch):
        raise ValueError(f"reference must be one network or have the batch shape {batch} of params, "
                         f"got batch shape {ref_batch}")
    flips = _flips_on(spec, flips)
    max_sweeps = _checks.count("max_sweeps", max_sweeps)
    return _align(spec, params, reference, batch, ref_batch, flips, max_sweeps, normalize=True)

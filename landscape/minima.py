"""Where thousands of runs end: canonical forms modulo symmetry, alignment, distances,
clustering, basin statistics, restart curves and connectivity between minima.

Random restarts reach many end points; most are copies of each other under the network's
symmetry group (permuted and sign-flipped hidden units, :mod:`landscape.symmetry`), some are
genuinely different minima, plateaus or traps at infinity. This module takes a batch of runs
and says which basins exist and how much of the initialization space drains into each.

Centered coordinates
--------------------
Logistic units flip with a shift of the next layer's bias (``sigmoid(-z) = 1 - sigmoid(z)``),
so in raw parameters a flip is affine, not an isometry. :func:`centered_params` writes each bias
after a logistic layer as ``b + (1/2) sum_j w[j, :]``; there every group element is a signed
permutation of unit blocks, Euclidean distance is invariant (``|g x - g y| = |x - y|``) and the
distance between two orbits is symmetric. All parameter-space distances here are measured in
these coordinates (they equal the raw ones for odd activations).

Canonical forms and alignment
-----------------------------
:func:`canonicalize` / :func:`canonical_element`: a documented representative of each orbit
(signs: the first significant incoming entry of each unit positive; order: a fixed generic
projection of the incoming weights), batched and compiled, idempotent and invariant under the
group. :func:`align`: weight matching of one network to another by optimal assignment
(``scipy.optimize.linear_sum_assignment``), layer by layer, for deeper nets where a sort is
ambiguous.

Distances
---------
:func:`param_distances` (plain, canonical, exact orbit distance, or aligned) and
:func:`function_distances` (RMS output difference on the data or a probe set), batched;
:func:`function_outputs`, :func:`flat_centered` and :func:`orbit_vectors` give the features.

Clustering and the census
-------------------------
:func:`cluster_runs` keeps diverged, non-finite and still-moving runs apart (label codes
:data:`DIVERGED`, :data:`NONFINITE`, :data:`MOVING`; counted, never dropped), splits the rest
into loss windows, and joins runs closer than a tolerance read from the data (the largest gap
in single-linkage merge heights, :func:`choose_tolerance`), exactly and without an ``n^2``
matrix (:func:`single_linkage`). :func:`census` adds per-cluster loss statistics, a
representative, its critical-point class (:mod:`landscape.curvature`; traps at infinity by
:func:`growth_check`) and the degenerate units symmetry produces (:func:`unit_structure`:
duplicated, dead, saturated).

Basin statistics and connectivity
---------------------------------
:func:`basin_shares` (shares per cluster with Wilson or bootstrap intervals, per value of a
swept parameter), :func:`wilson_interval`, :func:`bootstrap_interval`, :func:`restart_curve`
(P(success within k restarts), estimated from the runs beside ``1 - (1 - p)^k``), and
:func:`connectivity` (loss barriers along straight paths between aligned representatives and
the disconnectivity tree :func:`merge_tree`). Plots are in :mod:`landscape.plotting`.

Conventions: functions that know the MLP layout take ``(model, params, ...)``; analyses that
need a loss take ``(loss_fn, params, data, *, model, ...)``. Params carry leading run axes.
Heavy array work runs compiled (canonical forms, outputs, growth); assignment problems,
KD-trees and linkage run on the host with SciPy.
"""

from __future__ import annotations

import dataclasses
import functools
import math
import numbers
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from . import symmetry as sy
from ._checks import float_leaves
from .models import ACTIVATIONS, Model
from .train import train_many

__all__ = [
    # coordinates, canonical forms, alignment
    "SIGN_RTOL", "centered_params", "uncentered_params", "canonical_element", "canonicalize",
    "flat_centered", "orbit_vectors", "Alignment", "align", "closest_image",
    # distances
    "SYMMETRY_MODES", "AUTO_ORBIT", "param_distances", "function_outputs", "function_distances",
    # clustering
    "MOVING", "DIVERGED", "NONFINITE", "CATEGORY_NAMES", "SPACES", "MIN_GAP", "LOSS_GAP",
    "Tolerance", "choose_tolerance", "single_linkage", "loss_windows", "run_categories",
    "Clustering", "cluster_runs",
    # structures, growth, census
    "UnitStructure", "unit_structure", "Growth", "growth_check", "ClusterSummary", "Census",
    "census",
    # statistics
    "wilson_interval", "bootstrap_interval", "BasinShares", "basin_shares", "RestartCurve",
    "restart_curve",
    # connectivity
    "Connectivity", "connectivity", "merge_tree",
]

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
# argument checks


def _check_model(model) -> Model:
    if not isinstance(model, Model):
        raise TypeError(f"model={model!r} must be a landscape Model, e.g. landscape.mlp([2, 2, 1])")
    return model


def _batch_shape(model: Model, params, name: str = "params") -> tuple[int, ...]:
    return sy.batch_shape(params, model=model, name=name)


def _check_flips(model: Model, flips) -> bool:
    return sy.resolve_flips(flips, model=model)


_KIND_REPRESENTATIVE = {"odd": "tanh", "complement": "sigmoid", None: "relu"}


def _layout(model: Model) -> Model:
    """What canonical forms depend on (sizes, bias, the activation's flip kind) as a Model: the
    compile-cache key, shared by models that differ only in activations of one kind."""
    return dataclasses.replace(model, activation=_KIND_REPRESENTATIVE[sy.flip_kind(model.activation)],
                               output="linear")


def _complement_layers(model: Model) -> tuple[int, ...]:
    """Hidden layers whose flips shift the next bias (logistic units with biases)."""
    if model.bias and sy.flip_kind(model.activation) == "complement":
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


def centered_params(model: Model, params) -> list:
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
    >>> minima.centered_params(model, params)[1]["b"].tolist()  # 0.5 + (0.5 + 0.5) / 2
    [1.0]
    """
    _check_model(model)
    _batch_shape(model, params)
    return _center(model, params, 1.0)


def uncentered_params(model: Model, params) -> list:
    """Inverse of :func:`centered_params` (same pytree, same shapes).

    >>> import jax, numpy as np, landscape as ls
    >>> from landscape import minima, symmetry
    >>> model = ls.mlp([2, 2, 1])
    >>> params = ls.inits.constant(model, 0.5)(jax.random.key(0))
    >>> back = minima.uncentered_params(model, minima.centered_params(model, params))
    >>> back[1]["b"].tolist()
    [0.5]
    """
    _check_model(model)
    _batch_shape(model, params)
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
    return sy.apply_element(params, element, model=model), element


def canonical_element(model: Model, params, *, flips: bool | None = None) -> sy.GroupElement:
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
    >>> image = symmetry.apply_element(
    ...     params, symmetry.random_element(jax.random.key(1), model=model), model=model)
    >>> g = minima.canonical_element(model, params)
    >>> g.perms[0].shape, g.signs[0].shape
    ((3,), (3,))
    """
    _check_model(model)
    _batch_shape(model, params)
    flips = _check_flips(model, flips)
    return _canonical_impl(_layout(model), list(params), flips, SIGN_RTOL)[1]


def canonicalize(model: Model, params, *, flips: bool | None = None) -> list:
    """The canonical representative of ``params`` modulo the symmetry group (batched).

    See :func:`canonical_element` for the documented rule. ``flips=False`` quotients by unit
    permutations only. Returns params of the same shapes.

    >>> import jax, numpy as np, landscape as ls
    >>> from landscape import minima, symmetry
    >>> model = ls.mlp([2, 3, 1], activation="tanh")
    >>> params = model.init(jax.random.key(0))
    >>> image = symmetry.apply_element(
    ...     params, symmetry.random_element(jax.random.key(1), model=model), model=model)
    >>> a, b = minima.canonicalize(model, params), minima.canonicalize(model, image)
    >>> bool(np.allclose(a[0]["w"], b[0]["w"]))     # one representative per orbit
    True
    """
    _check_model(model)
    _batch_shape(model, params)
    flips = _check_flips(model, flips)
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


def flat_centered(model: Model, params, *, canonical: bool = True,
                  flips: bool | None = None) -> np.ndarray:
    """``(n_points, n_params)`` float64: each point (canonicalized unless ``canonical=False``)
    in centered coordinates, flattened in ``ravel_pytree`` order; the leading batch axes of
    ``params`` are flattened into one. Euclidean distances between these rows are the
    parameter-space distances of this module.

    >>> import jax, numpy as np, landscape as ls
    >>> from landscape import minima, symmetry
    >>> model = ls.mlp([2, 3, 1])
    >>> runs = jax.vmap(model.init)(jax.random.split(jax.random.key(0), 5))
    >>> minima.flat_centered(model, runs).shape
    (5, 13)
    """
    _check_model(model)
    _batch_shape(model, params)
    if canonical:
        params = canonicalize(model, params, flips=flips)
    return _flatten_layers(_host_layers(model, params))


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


def _check_int(name, value, low):
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < low:
        raise ValueError(f"{name}={value!r} must be an integer >= {low}")
    return int(value)


def align(model: Model, params, reference, *, flips: bool | None = None,
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
    >>> image = symmetry.apply_element(
    ...     params, symmetry.random_element(jax.random.key(1), model=model), model=model)
    >>> aligned = minima.align(model, image, params)
    >>> float(aligned.distance) < 1e-5                # the image is moved back onto params
    True
    """
    _check_model(model)
    batch = _batch_shape(model, params)
    ref_batch = _batch_shape(model, reference, "reference")
    if ref_batch not in ((), batch):
        raise ValueError(f"reference must be one network or have the batch shape {batch} of params, "
                         f"got batch shape {ref_batch}")
    flips = _check_flips(model, flips)
    max_sweeps = _check_int("max_sweeps", max_sweeps, 1)
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
    aligned = sy.apply_element(params, element, model=model) if widths else list(params)
    diff = _flatten_layers(_host_layers(model, aligned)) - _flatten_layers(a_all)
    distance = np.linalg.norm(diff, axis=1).reshape(batch)
    return Alignment(aligned, element, distance, sweeps.reshape(batch))


# --------------------------------------------------------------------------------------------
# distances

SYMMETRY_MODES = ("auto", "orbit", "canonical", "align", "none")
AUTO_ORBIT = 64
"""``symmetry="auto"`` takes the exact orbit distance for groups of at most this many elements
(XOR 2-2-1: 8, 2-3-1: 48) and canonical forms above."""


def _check_symmetry(model: Model, symmetry: str, flips: bool, max_orbit: int) -> str:
    if symmetry == "auto":
        if not model.hidden_sizes:
            return "none"
        return "orbit" if sy.orbit_size(model, flips=flips) <= AUTO_ORBIT else "canonical"
    if symmetry in ("orbit", "canonical", "align", "none"):
        if symmetry == "orbit" and sy.orbit_size(model, flips=flips) > max_orbit:
            raise ValueError(f"symmetry='orbit' would enumerate {sy.orbit_size(model, flips=flips)} "
                             f"group elements, more than max_orbit={max_orbit}; use 'canonical' or 'align'")
        return symmetry
    raise ValueError(f"symmetry={symmetry!r} is not known; expected one of {SYMMETRY_MODES}")


def _rows(model: Model, params) -> int:
    return math.prod(_batch_shape(model, params))


def _one_axis(model: Model, params) -> list:
    """``params`` as NumPy arrays (on the host) with the leading batch axes flattened into one:
    leaves ``(n, ...)``."""
    n = _rows(model, params)
    shapes = model.param_shapes
    return [{k: np.asarray(v).reshape((n,) + shapes[l][k]) for k, v in layer.items()}
            for l, layer in enumerate(params)]


def orbit_vectors(model: Model, params, *, flips: bool | None = None,
                  max_orbit: int = sy.MAX_ORBIT) -> np.ndarray:
    """``(n_points, |G|, n_params)`` float64: every group image of every point (batch axes
    flattened), in centered coordinates; image 0 is the point itself. Because the group acts
    by isometries there, ``min_g |orbit[i, g] - y|`` is the distance from the orbit of point
    ``i`` to ``y``: the exact distance modulo symmetry.

    >>> import jax, numpy as np, landscape as ls
    >>> from landscape import minima, symmetry
    >>> model = ls.mlp([2, 3, 1], activation="tanh")
    >>> minima.orbit_vectors(model, model.init(jax.random.key(0))).shape  # 3! * 2^3 images
    (1, 48, 13)
    """
    _check_model(model)
    batch = _batch_shape(model, params)
    flips = _check_flips(model, flips)
    images = sy.orbit(params, model=model, flips=flips, max_size=max_orbit)  # (G, *batch, ...)
    g = images[0]["w"].shape[0]
    flat = _flatten_layers(_host_layers(model, images))  # (G * n, P)
    n = math.prod(batch)
    return flat.reshape(g, n, -1).transpose(1, 0, 2)


def param_distances(model: Model, params, other=None, *, symmetry: str = "auto",
                    flips: bool | None = None, max_orbit: int = 4096) -> np.ndarray:
    """``(n, m)`` float64 distances in parameter space between the points of ``params`` and
    those of ``other`` (default: ``params`` itself), in centered coordinates.

    ``symmetry``: ``"orbit"`` the exact distance between group orbits, ``min_g |g x - y|`` over
    every element (at most ``max_orbit`` of them); ``"canonical"`` the distance between
    canonical forms (exact for images of one point, an upper bound of the orbit distance near
    the rule's boundaries); ``"align"`` the distance after weight matching of each ``other`` point
    onto each ``params`` point (:func:`align`; ``n * m`` host assignments); ``"none"`` the plain
    distance; ``"auto"`` (default) ``"orbit"`` for groups of at most :data:`AUTO_ORBIT` elements,
    else ``"canonical"``. Leading batch axes of either input are flattened.

    >>> import jax, numpy as np, landscape as ls
    >>> from landscape import minima, symmetry
    >>> model = ls.mlp([2, 3, 1], activation="tanh")
    >>> params = model.init(jax.random.key(0))
    >>> image = symmetry.apply_element(
    ...     params, symmetry.random_element(jax.random.key(1), model=model), model=model)
    >>> d = minima.param_distances(model, params, image)            # modulo symmetry
    >>> d.shape, bool(d[0, 0] < 1e-5)
    ((1, 1), True)
    >>> bool(minima.param_distances(model, params, image, symmetry="none")[0, 0] > 0.1)
    True
    """
    _check_model(model)
    other = params if other is None else other
    n, m = _rows(model, params), _rows(model, other)
    flips = _check_flips(model, flips)
    max_orbit = _check_int("max_orbit", max_orbit, 1)
    mode = _check_symmetry(model, symmetry, flips, max_orbit)
    from scipy.spatial.distance import cdist

    if mode == "none":
        return cdist(flat_centered(model, params, canonical=False),
                     flat_centered(model, other, canonical=False))
    if mode == "canonical":
        return cdist(flat_centered(model, params, flips=flips), flat_centered(model, other, flips=flips))
    if mode == "orbit":
        images = orbit_vectors(model, params, flips=flips, max_orbit=max_orbit)
        y = flat_centered(model, other, canonical=False)
        out = np.full((n, m), np.inf)
        for g in range(images.shape[1]):
            np.minimum(out, cdist(images[:, g], y), out=out)
        return out
    # align: every other point matched onto every point of params
    flat_p, flat_o = _one_axis(model, params), _one_axis(model, other)
    out = np.empty((n, m))
    for i in range(n):
        ref = [{key: v[i] for key, v in layer.items()} for layer in flat_p]
        out[i] = align(model, flat_o, ref, flips=flips).distance
    return out


def function_outputs(model: Model, params, x, *, final_activation: bool = True) -> np.ndarray:
    """``(*batch, n_inputs, n_out)`` float64: the outputs of every network on the inputs ``x``
    (e.g. ``data.x`` or a probe set), computed in one compiled call.

    >>> import jax, numpy as np, landscape as ls
    >>> from landscape import minima, symmetry
    >>> model = ls.mlp([2, 2, 1])
    >>> runs = jax.vmap(model.init)(jax.random.split(jax.random.key(0), 5))
    >>> minima.function_outputs(model, runs, ls.datasets.xor().x).shape
    (5, 4, 1)
    """
    _check_model(model)
    batch = _batch_shape(model, params)
    x = np.asarray(x)
    if x.ndim != 2 or x.shape[1] != model.n_in:
        raise ValueError(f"x of shape {tuple(x.shape)} must be (n_inputs, {model.n_in}) for sizes "
                         f"{list(model.sizes)}")
    flat = _one_axis(model, params)
    out = _outputs_impl(model, flat, x.astype(flat[0]["w"].dtype), final_activation)
    return np.asarray(out, np.float64).reshape(batch + out.shape[1:])


@functools.partial(jax.jit, static_argnames=("model", "final_activation"))
def _outputs_impl(model, params, x, final_activation):
    return jax.vmap(lambda p: model.apply(p, x, final_activation=final_activation))(params)


def function_distances(model: Model, params, other=None, *, x,
                       final_activation: bool = True) -> np.ndarray:
    """``(n, m)`` float64 distances in function space: the root-mean-square difference of the
    outputs on the inputs ``x`` (over inputs and output units). Invariant under the symmetry
    group by construction (group images compute the same function).

    >>> import jax, numpy as np, landscape as ls
    >>> from landscape import minima, symmetry
    >>> model = ls.mlp([2, 3, 1], activation="tanh")
    >>> params = model.init(jax.random.key(0))
    >>> image = symmetry.apply_element(
    ...     params, symmetry.random_element(jax.random.key(1), model=model), model=model)
    >>> d = minima.function_distances(model, params, image, x=ls.datasets.xor().x)
    >>> d.shape, bool(d[0, 0] < 1e-6)
    ((1, 1), True)
    """
    from scipy.spatial.distance import cdist

    a = function_outputs(model, params, x, final_activation=final_activation)
    other = params if other is None else other
    b = function_outputs(model, other, x, final_activation=final_activation)
    k = a.shape[-2] * a.shape[-1]
    return cdist(a.reshape(-1, k), b.reshape(-1, k)) / math.sqrt(k)


# --------------------------------------------------------------------------------------------
# clustering

MOVING, DIVERGED, NONFINITE = -1, -2, -3
CATEGORY_NAMES = {MOVING: "moving", DIVERGED: "diverged", NONFINITE: "nonfinite"}
"""Label codes of runs kept out of the clusters: still moving (gradient norm above
``grad_tol``), diverged (the trainer's ``status`` is not ok) and non-finite (a NaN/Inf in the
loss, gradient norm or params although the status says ok)."""
SPACES = ("function", "param")
MIN_GAP = 5.0
"""Default smallest ratio of consecutive single-linkage heights that counts as a gap."""
LOSS_GAP = 0.05
"""Default loss-window split: a gap of more than this many decades between sorted final losses."""
LOSS_ATOL_RTOL = 0.01
"""Default absolute loss-window gap, as a fraction of the range of the final losses."""
FLOOR_RTOL = 1e-6
"""Merge heights below this fraction of the features' typical norm count as identical points
(float32 training leaves ~1e-7 relative noise)."""


@dataclasses.dataclass(frozen=True, eq=False)
class Tolerance:
    """How the clustering distance threshold was chosen.

    value:  the threshold ``t``: runs closer than ``t`` (single linkage) share a cluster.
    rule:   ``"given"`` (passed in), ``"gap"`` (the largest ratio of consecutive merge heights,
            at least ``min_gap``; ``t`` is the geometric mean of the two heights), ``"no gap"``
            (no ratio reached ``min_gap``: ``t = inf``, every loss window is one cluster) or
            ``"too few"`` (fewer than 2 heights above the floor).
    below, above: the merge heights on either side of the gap (NaN unless ``rule == "gap"``).
    ratio:  ``above / below``.
    floor:  heights under it counted as identical points.
    sample: runs whose single-linkage heights were read.
    """

    value: float
    rule: str
    below: float = float("nan")
    above: float = float("nan")
    ratio: float = float("nan")
    floor: float = 0.0
    sample: int = 0

    def describe(self) -> str:
        if self.rule == "gap":
            return (f"tolerance {self.value:.3g}: the largest gap in single-linkage merge heights of "
                    f"{self.sample} runs, between {self.below:.3g} and {self.above:.3g} (ratio "
                    f"{self.ratio:.3g})")
        if self.rule == "given":
            return f"tolerance {self.value:.3g} (given)"
        return (f"no gap in the merge heights of {self.sample} runs (rule {self.rule!r}): each loss "
                "window is one cluster")


def choose_tolerance(heights, *, min_gap: float = MIN_GAP, floor: float = 0.0) -> Tolerance:
    """The distance threshold read from single-linkage merge heights (the rule of
    :class:`Tolerance`): sort the heights, treat those ``<= floor`` as one value ``floor`` (when
    there are any), and cut at the largest ratio ``h[i + 1] / h[i]`` if it is at least
    ``min_gap``, at ``sqrt(h[i] * h[i + 1])``. Within-cluster spread (noise, unfinished
    convergence) gives small heights, separate basins large ones.

    >>> tol = choose_tolerance([0.001, 0.002, 0.0015, 3.0, 5.0])
    >>> tol.rule, round(tol.value, 4)                 # cut between 0.002 and 3.0
    ('gap', 0.0775)
    """
    h = np.sort(np.asarray(heights, np.float64).ravel())
    if not np.all(np.isfinite(h)):
        raise ValueError("heights must be finite")
    if not (isinstance(min_gap, numbers.Real) and min_gap > 1):
        raise ValueError(f"min_gap={min_gap!r} must be a number > 1")
    if not (isinstance(floor, numbers.Real) and floor >= 0):
        raise ValueError(f"floor={floor!r} must be a non-negative number")
    # heights at or below the floor (identical points) count as one height, the floor itself
    # (without a floor, exact zeros are dropped: a ratio to 0 means nothing)
    above = h[h > floor]
    if floor > 0 and above.size < h.size:
        above = np.concatenate([[floor], above])
    n = int(h.size) + 1
    if above.size < 2:
        return Tolerance(float("inf"), "too few", floor=floor, sample=n)
    ratios = above[1:] / above[:-1]
    i = int(np.argmax(ratios))
    if ratios[i] < min_gap:
        return Tolerance(float("inf"), "no gap", ratio=float(ratios[i]), floor=floor, sample=n)
    return Tolerance(float(math.sqrt(above[i] * above[i + 1])), "gap", float(above[i]),
                     float(above[i + 1]), float(ratios[i]), floor, n)


class _UnionFind:
    def __init__(self, n):
        self.parent = np.arange(n)

    def find(self, i):
        root = i
        while self.parent[root] != root:
            root = self.parent[root]
        while self.parent[i] != root:
            self.parent[i], i = root, self.parent[i]
        return root

    def union(self, i, j):
        a, b = self.find(i), self.find(j)
        if a != b:
            self.parent[max(a, b)] = min(a, b)

    def labels(self):
        roots = np.array([self.find(i) for i in range(len(self.parent))])
        return np.unique(roots, return_inverse=True)[1]


def single_linkage(features, tol: float) -> np.ndarray:
    """``(n,)`` component labels of the graph joining points closer than ``tol`` (Euclidean):
    exactly single-linkage clustering cut at ``tol``, without the ``n^2`` distances.

    A greedy cover picks leaders so that every point lies within ``tol / 2`` of its leader
    (one KD-tree ball query per leader). Every point is joined to its leader and to each leader
    within ``tol`` of it (sparse KD-tree distances, then connected components); two leaders
    whose components still differ can only be linked through two non-leader members if the
    leaders are within ``2 tol``: such pairs are settled by checking their member sets with
    KD-trees. Labels count from 0 in order of first appearance.

    >>> import numpy as np
    >>> single_linkage(np.array([[0.0], [0.1], [0.2], [5.0]]), 0.15).tolist()  # a chain
    [0, 0, 0, 1]
    """
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components
    from scipy.spatial import cKDTree

    x = np.asarray(features, np.float64)
    if x.ndim != 2:
        raise ValueError(f"features of shape {x.shape} must be (n_points, n_features)")
    n = x.shape[0]
    if n == 0:
        return np.zeros(0, np.int64)
    if not np.isfinite(tol):
        return np.zeros(n, np.int64)
    if not tol > 0:
        raise ValueError(f"tol={tol!r} must be > 0")
    tree = cKDTree(x)
    leader_of = np.full(n, -1, np.int64)
    leaders = []
    for i in range(n):
        if leader_of[i] >= 0:
            continue
        near = np.asarray(tree.query_ball_point(x[i], tol / 2), np.int64)
        near = near[leader_of[near] < 0]
        leader_of[near] = len(leaders)
        leader_of[i] = len(leaders)
        leaders.append(i)
    m = len(leaders)
    if m == 1:
        return np.zeros(n, np.int64)
    leaders = np.asarray(leaders)
    ltree = cKDTree(x[leaders])
    near = tree.sparse_distance_matrix(ltree, tol, output_type="ndarray")  # point i, leader j
    rows = np.concatenate([leader_of, leader_of[near["i"]]])
    cols = np.concatenate([leader_of, near["j"]])
    graph = coo_matrix((np.ones(rows.size), (rows, cols)), shape=(m, m))
    _, comp = connected_components(graph, directed=False)
    uf = _UnionFind(int(comp.max()) + 1)
    pairs = ltree.query_pairs(2 * tol, output_type="ndarray")
    pairs = pairs[comp[pairs[:, 0]] != comp[pairs[:, 1]]] if len(pairs) else pairs
    if len(pairs):
        order = np.argsort(leader_of, kind="stable")
        bounds = np.searchsorted(leader_of[order], np.arange(m + 1))
        members = lambda k: order[bounds[k]:bounds[k + 1]]  # noqa: E731
        trees = {}
        for a, b in pairs:
            if uf.find(comp[a]) == uf.find(comp[b]):
                continue
            small, big = (a, b) if bounds[a + 1] - bounds[a] <= bounds[b + 1] - bounds[b] else (b, a)
            if big not in trees:
                trees[big] = cKDTree(x[members(big)])
            d, _ = trees[big].query(x[members(small)], distance_upper_bound=tol * (1 + 1e-12))
            if np.any(d <= tol):
                uf.union(comp[a], comp[b])
    labels = np.array([uf.find(c) for c in range(len(uf.parent))])[comp][leader_of]
    _, first = np.unique(labels, return_index=True)
    rank = np.empty(labels.max() + 1, np.int64)
    rank[labels[np.sort(first)]] = np.arange(len(first))
    return rank[labels]


def loss_windows(loss, *, loss_gap: float = LOSS_GAP, loss_atol: float | None = None) -> np.ndarray:
    """``(n,)`` window index of each loss, numbered from the lowest loss up.

    The sorted losses are split between two neighbours ``l < l'`` when they are both more than
    ``loss_gap`` decades apart (``log10(l' / l) > loss_gap``; zero and negative losses count as
    the smallest positive float) and more than ``loss_atol`` apart. The default ``loss_atol`` is
    ``LOSS_ATOL_RTOL`` (1%) of the range of the losses: near a zero loss, runs at 1e-4 and
    7e-4 are the same level, while plateaus at 0.125 and 0.167 are not.

    >>> loss_windows([1e-4, 0.167, 7e-4, 0.125]).tolist()
    [0, 2, 0, 1]
    """
    loss = np.asarray(loss, np.float64).ravel()
    if not np.all(np.isfinite(loss)):
        raise ValueError("loss must be finite (keep non-finite runs out before windowing)")
    if not (isinstance(loss_gap, numbers.Real) and loss_gap > 0):
        raise ValueError(f"loss_gap={loss_gap!r} must be a positive number of decades")
    if loss.size == 0:
        return np.zeros(0, np.int64)
    if loss_atol is None:
        loss_atol = LOSS_ATOL_RTOL * float(loss.max() - loss.min())
    if not (isinstance(loss_atol, numbers.Real) and loss_atol >= 0):
        raise ValueError(f"loss_atol={loss_atol!r} must be a non-negative number")
    logs = np.log10(np.maximum(loss, np.finfo(np.float64).tiny))
    order = np.argsort(loss, kind="stable")
    split = (np.diff(logs[order]) > loss_gap) & (np.diff(loss[order]) > loss_atol)
    out = np.empty(loss.size, np.int64)
    out[order] = np.concatenate([[0], np.cumsum(split)])
    return out


@dataclasses.dataclass(frozen=True, eq=False)
class Clustering:
    """What :func:`cluster_runs` returns.

    labels:     ``(n_runs,)`` int: the cluster of each run (``0 .. n_clusters - 1``, numbered by
                ascending mean loss), or :data:`MOVING`, :data:`DIVERGED`, :data:`NONFINITE`.
    n_clusters: number of clusters.
    tolerance:  :class:`Tolerance`: the distance threshold and how it was chosen.
    windows:    ``(n_runs,)`` int: the loss window of each clustered run (-1 for the others).
    window_edges: ``(n_windows, 2)``: lowest and highest final loss in each window.
    space:      ``"function"`` or ``"param"``; ``symmetry``: how parameter distances were
                made symmetry-aware (``"canonical"`` or ``"orbit"``; ``"none"`` in function space).
    features:   ``(n_runs, d)`` float64 clustering features (NaN rows for unclustered runs).
    """

    labels: np.ndarray
    n_clusters: int
    tolerance: Tolerance
    windows: np.ndarray
    window_edges: np.ndarray
    space: str
    symmetry: str
    features: np.ndarray

    def members(self, cluster: int) -> np.ndarray:
        """Run indices of ``cluster`` (or of a category code such as :data:`MOVING`)."""
        return np.flatnonzero(self.labels == cluster)

    def counts(self) -> dict[str, int]:
        """Runs per category: ``clustered``, ``moving``, ``diverged``, ``nonfinite``."""
        out = {"clustered": int(np.sum(self.labels >= 0))}
        for code, name in CATEGORY_NAMES.items():
            out[name] = int(np.sum(self.labels == code))
        return out


def _per_run(name, values, n, *, dtype=None):
    arr = np.asarray(values)
    if arr.shape != (n,):
        raise ValueError(f"{name} must have one entry per run, shape ({n},); got shape {arr.shape}")
    if dtype is not None:
        arr = arr.astype(dtype)
    return arr


def _default_grad_tol(model: Model, params) -> float:
    dtype = jnp.asarray(params[0]["w"]).dtype
    return float(math.sqrt(np.finfo(dtype).eps))


def run_categories(model: Model, params, *, loss, status=None, grad_norm=None,
                   grad_tol: float | None = None) -> np.ndarray:
    """``(n_runs,)`` int: 0 for runs that can be clustered, else :data:`MOVING`,
    :data:`DIVERGED` or :data:`NONFINITE` (precedence: diverged, non-finite, moving).

    ``status`` as in :class:`landscape.TrainResult` (0 = ok); ``grad_norm`` the final gradient
    norm (a run is *moving* when it is above ``grad_tol``, default ``sqrt(eps)`` of the params
    dtype, about 3.5e-4 in float32: the accuracy to which :func:`landscape.curvature.classify`
    calls a point critical). Params are flattened to one run axis.

    >>> import jax, numpy as np, landscape as ls
    >>> from landscape import minima, symmetry
    >>> model = ls.mlp([2, 2, 1])
    >>> runs = jax.vmap(model.init)(jax.random.split(jax.random.key(0), 3))
    >>> minima.run_categories(model, runs, loss=[0.1, 0.1, 0.1], status=[0, 1, 0],
    ...                       grad_norm=[0.0, 0.0, 1.0]).tolist() == [0, minima.DIVERGED, minima.MOVING]
    True
    """
    _check_model(model)
    n = _rows(model, params)
    loss = _per_run("loss", loss, n, dtype=np.float64)
    flat = _flatten_layers([{k: np.asarray(v) for k, v in layer.items()}
                            for layer in _one_axis(model, params)])
    finite = np.isfinite(loss) & np.all(np.isfinite(flat), axis=1)
    cat = np.zeros(n, np.int64)
    if grad_norm is not None:
        grad_norm = _per_run("grad_norm", grad_norm, n, dtype=np.float64)
        finite &= np.isfinite(grad_norm)
        if grad_tol is None:
            grad_tol = _default_grad_tol(model, params)
        if not (isinstance(grad_tol, numbers.Real) and grad_tol >= 0):
            raise ValueError(f"grad_tol={grad_tol!r} must be a non-negative number")
        cat[finite & (grad_norm > grad_tol)] = MOVING
    cat[~finite] = NONFINITE
    if status is not None:
        status = _per_run("status", status, n)
        if not np.issubdtype(status.dtype, np.integer):
            raise TypeError(f"status must hold integer status codes (0 = ok), got dtype {status.dtype}")
        cat[status != 0] = DIVERGED
    return cat


def _features(model, params, space, x, symmetry, flips):
    """Clustering features of runs (one leading axis) and the symmetry mode used."""
    if space == "function":
        out = function_outputs(model, params, x)
        k = out.shape[-2] * out.shape[-1]
        return out.reshape(out.shape[0], k) / math.sqrt(k), "none"
    mode = _check_symmetry(model, symmetry, flips, AUTO_ORBIT)
    if mode == "align":
        raise ValueError("symmetry='align' is for pairwise distances; cluster with 'orbit', "
                         "'canonical' or 'none'")
    return flat_centered(model, params, canonical=mode != "none", flips=flips), mode


def _orbit_merge(model, params, labels, tol, flips, rng, per_cluster=200):
    """Merge clusters that come within ``tol`` of each other modulo the group (orbit distance
    between up to ``per_cluster`` members of each): canonical forms split a cluster that
    straddles a boundary of the canonical rule; the orbit distance joins it again."""
    k = int(labels.max()) + 1 if labels.size else 0
    if k < 2:
        return labels
    picks = []
    for c in range(k):
        idx = np.flatnonzero(labels == c)
        picks.append(np.sort(rng.choice(idx, min(per_cluster, idx.size), replace=False)))
    sel = np.concatenate(picks)
    sub = jax.tree.map(lambda a: a[sel], params)
    images = orbit_vectors(model, sub, flips=flips)
    base = images[:, 0]
    owner = np.repeat(np.arange(k), [len(p) for p in picks])
    uf = _UnionFind(k)
    from scipy.spatial import cKDTree

    for c in range(k):
        other = owner != c
        if not np.any(other):
            continue
        tree = cKDTree(base[other])
        q = images[owner == c].reshape(-1, images.shape[-1])
        d, j = tree.query(q, distance_upper_bound=tol)
        hit = np.isfinite(d)
        for target in np.unique(owner[other][j[hit]]):
            uf.union(c, int(target))
    return uf.labels()[labels]


def cluster_runs(model: Model, params, *, loss, x=None, space: str = "function", status=None,
                 grad_norm=None, grad_tol: float | None = None, tol: float | None = None,
                 min_gap: float = MIN_GAP, loss_gap: float = LOSS_GAP,
                 loss_atol: float | None = None, max_linkage: int = 2000,
                 symmetry: str = "auto", flips: bool | None = None, seed: int = 0) -> Clustering:
    """Cluster the end points of many runs modulo the symmetry group.

    1. **Categories.** Diverged (``status != 0``), non-finite and still-moving runs
       (``grad_norm > grad_tol``) are set apart with their own label codes and counted; they
       never enter a cluster (:func:`run_categories`).
    2. **Loss windows.** The remaining runs are split where their sorted final losses leave a
       gap of more than ``loss_gap`` decades and ``loss_atol`` (:func:`loss_windows`); clusters
       never span windows.
    3. **Distance.** ``space="function"`` (default): the root-mean-square difference of the
       outputs on ``x`` (the data or a probe set), invariant under the group by construction
       and bounded, which suits runs drifting off to infinity. ``space="param"``: centered
       parameters (:func:`centered_params`) in canonical form, and, with ``symmetry="orbit"``
       (the default for groups of at most :data:`AUTO_ORBIT` elements), clusters that come within
       the tolerance of each other under some group element are merged afterwards.
    4. **Tolerance from the data.** Unless ``tol`` is given, it is read from the single-linkage
       merge heights (``scipy.cluster.hierarchy.linkage``) of up to ``max_linkage`` clusterable
       runs drawn at random (``seed``), over all windows together: the largest ratio between
       consecutive heights, if at least ``min_gap``, separates spread within a basin from
       distances between basins, and the threshold is the geometric mean of the two heights
       (:func:`choose_tolerance`). No such gap: each window is one cluster.
    5. **Clusters.** Within each window, single linkage at that threshold over *all* its runs
       (:func:`single_linkage`, exact, no ``n^2`` matrix). Clusters are numbered by ascending
       mean loss.

    Args:
      model, params: the MLP and the final params, leaves ``(n_runs, ...)``.
      loss: ``(n_runs,)`` final losses. status, grad_norm: as in :class:`landscape.TrainResult`.
      x: inputs for ``space="function"`` (``data.x``). Returns :class:`Clustering`.

    >>> import jax, numpy as np, landscape as ls
    >>> from landscape import minima, symmetry
    >>> import optax
    >>> model = ls.mlp([2, 2, 1])
    >>> r = ls.train_many(ls.objectives.loss(model, "mse"), ls.inits.normal(model, 1.0),
    ...                   optax.sgd(2.0), ls.datasets.xor(), key=jax.random.key(0),
    ...                   n_runs=64, steps=2000, progress=False)
    >>> clustering = minima.cluster_runs(model, r.params, loss=r.final_loss, x=ls.datasets.xor().x,
    ...                                  status=r.status, grad_norm=r.grad_norm, grad_tol=0.01)
    >>> clustering.labels.shape                       # cluster index, or a category code < 0
    (64,)
    """
    _check_model(model)
    n = _rows(model, params)
    if space not in SPACES:
        raise ValueError(f"space={space!r} is not known; expected one of {SPACES}")
    if space == "function" and x is None:
        raise ValueError("space='function' needs x: the inputs (data.x or a probe set) on which "
                         "outputs are compared")
    flips = _check_flips(model, flips)
    max_linkage = _check_int("max_linkage", max_linkage, 2)
    if tol is not None and not (isinstance(tol, numbers.Real) and tol > 0):
        raise ValueError(f"tol={tol!r} must be a positive number (or None: chosen from the data)")
    cat = run_categories(model, params, loss=loss, status=status, grad_norm=grad_norm,
                         grad_tol=grad_tol)
    loss = np.asarray(loss, np.float64)
    ok = np.flatnonzero(cat == 0)
    labels = cat.copy()
    windows = np.full(n, -1, np.int64)
    features = np.full((n, 0), np.nan)
    flat_params = _one_axis(model, params)
    if ok.size == 0:
        return Clustering(labels, 0, Tolerance(float("inf"), "too few"), windows,
                          np.zeros((0, 2)), space, "none" if space == "function" else symmetry,
                          features)
    good = jax.tree.map(lambda a: a[ok], flat_params)
    feats, mode = _features(model, good, space, x, symmetry, flips)
    features = np.full((n, feats.shape[1]), np.nan)
    features[ok] = feats
    win = loss_windows(loss[ok], loss_gap=loss_gap, loss_atol=loss_atol)
    windows[ok] = win
    rng = np.random.default_rng(seed)
    if tol is None:
        from scipy.cluster.hierarchy import linkage

        pick = np.sort(rng.choice(ok.size, min(max_linkage, ok.size), replace=False))
        scale = float(np.median(np.linalg.norm(feats, axis=1))) if feats.size else 0.0
        floor = FLOOR_RTOL * scale
        if pick.size >= 2:
            heights = linkage(feats[pick], method="single")[:, 2]
        else:
            heights = np.zeros(0)
        tolerance = choose_tolerance(heights, min_gap=min_gap, floor=floor)
    else:
        tolerance = Tolerance(float(tol), "given")
    local = np.zeros(ok.size, np.int64)
    offset = 0
    for w in range(int(win.max()) + 1):
        idx = np.flatnonzero(win == w)
        part = single_linkage(feats[idx], tolerance.value)
        if mode == "orbit" and np.isfinite(tolerance.value) and part.max() > 0:
            part = _orbit_merge(model, jax.tree.map(lambda a: a[idx], good), part,
                                tolerance.value, flips, rng)
        local[idx] = part + offset
        offset += int(part.max()) + 1
    # number clusters by ascending mean loss (ties: larger first, then first run)
    k = offset
    mean = np.bincount(local, weights=loss[ok], minlength=k) / np.bincount(local, minlength=k)
    size = np.bincount(local, minlength=k)
    first = np.full(k, ok.size)
    np.minimum.at(first, local, np.arange(ok.size))
    order = np.lexsort((first, -size, mean))
    rank = np.empty(k, np.int64)
    rank[order] = np.arange(k)
    labels[ok] = rank[local]
    edges = np.array([[loss[ok][win == w].min(), loss[ok][win == w].max()]
                      for w in range(int(win.max()) + 1)])
    return Clustering(labels, k, tolerance, windows, edges, space, mode, features)


# --------------------------------------------------------------------------------------------
# degenerate structures: duplicated, dead and saturated units

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


def unit_structure(model: Model, params, x, *, dup_rtol: float = DUP_RTOL,
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
    >>> minima.unit_structure(model, runs, ls.datasets.xor().x).duplicate_pairs.tolist()
    [1]
    """
    _check_model(model)
    n = _rows(model, params)
    flips = _check_flips(model, flips)
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


# --------------------------------------------------------------------------------------------
# growth: traps at infinity

GROWTH_RADIAL = 0.5
"""Trap at infinity: at least this fraction of the continuation's displacement is outward."""
GROWTH_DECAY = 0.1
"""...and its last step length is at least this fraction of its first (no geometric
convergence, as at a finite minimum)."""


class Growth(NamedTuple):
    """What :func:`growth_check` returns (arrays with a leading point axis).

    norms, losses: ``(n, checks + 1)``: params norm and loss at the start and every check.
    steps:     ``(n, checks)``: distance moved between consecutive checks.
    radial:    ``(n,)``: ``(|x_end| - |x_start|) / |x_end - x_start|``, 1 for purely outward motion.
    growing:   ``(n,)`` bool: the norm grew at every check, the loss never rose, the motion
               was mostly outward (``radial >= GROWTH_RADIAL``) and it did not die out
               geometrically (last step ``>= GROWTH_DECAY`` x first): a trap at infinity.
    """

    norms: np.ndarray
    losses: np.ndarray
    steps: np.ndarray
    radial: np.ndarray
    growing: np.ndarray


def growth_check(loss_fn, params, data, *, optimizer, steps: int = 2000,
                 checks: int = 10) -> Growth:
    """Continue training each point (leading axis of ``params``) with ``optimizer`` for
    ``steps`` steps and tell traps at infinity from finite critical points (see
    :class:`Growth`). Pass the optimizer the runs were trained with. The points are the
    ``starts`` of one :func:`landscape.train_many` call that records params every
    ``steps // checks`` steps (a run that becomes non-finite is frozen there: not growing).

    >>> import jax, numpy as np, landscape as ls
    >>> from landscape import minima, symmetry
    >>> import optax
    >>> model = ls.mlp([2, 2, 1])
    >>> start = ls.inits.constant(model, 0.5)(jax.random.key(0))
    >>> g = minima.growth_check(ls.objectives.loss(model, "mse"), jax.tree.map(lambda a: a[None], start),
    ...                         ls.datasets.xor(), optimizer=optax.sgd(2.0), steps=2000)
    >>> g.norms.shape, g.growing.tolist()  # the constant start heads to infinity
    ((1, 11), [True])
    """
    if not callable(loss_fn):
        raise TypeError(f"loss_fn={loss_fn!r} must be callable as loss_fn(params, data)")
    if not (hasattr(optimizer, "init") and hasattr(optimizer, "update")):
        raise TypeError(f"optimizer={optimizer!r} must be an optax GradientTransformation")
    steps = _check_int("steps", steps, 1)
    checks = _check_int("checks", checks, 1)
    if steps % checks:
        raise ValueError(f"checks={checks} must divide steps={steps}")
    leaves = float_leaves(params, "params")
    n = leaves[0].shape[0] if leaves[0].ndim else 0
    if not all(leaf.ndim and leaf.shape[0] == n for leaf in leaves):
        raise ValueError(f"params must have one leading point axis shared by every leaf; got "
                         f"shapes {[tuple(leaf.shape) for leaf in leaves]}")
    run = train_many(loss_fn, None, optimizer, data, starts=params, steps=steps,
                     record_every=steps // checks, trajectory_runs=np.arange(n), progress=False)
    xs = np.concatenate([np.asarray(a, np.float64).reshape(n, checks + 1, -1)
                         for a in jax.tree.leaves(run.trajectory)], axis=-1)
    ls_ = np.asarray(run.losses, np.float64)
    norms = np.linalg.norm(xs, axis=-1)
    moved = np.linalg.norm(np.diff(xs, axis=1), axis=-1)
    total = np.linalg.norm(xs[:, -1] - xs[:, 0], axis=-1)
    radial = np.where(total > 0, (norms[:, -1] - norms[:, 0]) / np.where(total > 0, total, 1.0), 0.0)
    eps = np.finfo(jnp.asarray(jax.tree.leaves(params)[0]).dtype).eps
    growing = (np.all(np.diff(norms, axis=1) > 0, axis=1)
               & np.all(np.diff(ls_, axis=1) <= eps * np.abs(ls_[:, :-1]), axis=1)
               & (radial >= GROWTH_RADIAL)
               & (moved[:, -1] >= GROWTH_DECAY * moved[:, 0])
               & (total > 1e3 * eps * norms[:, 0]))
    return Growth(norms, ls_, moved, radial, growing)


# --------------------------------------------------------------------------------------------
# basin statistics


def _z(confidence) -> float:
    if not (isinstance(confidence, numbers.Real) and 0 < confidence < 1):
        raise ValueError(f"confidence={confidence!r} must be a number in (0, 1), e.g. 0.95")
    from scipy.stats import norm

    return float(norm.ppf(0.5 + confidence / 2))


def wilson_interval(successes, trials, *, confidence: float = 0.95):
    """Wilson score interval ``(lo, hi)`` for a binomial proportion ``successes / trials``
    (arrays broadcast). With ``z`` the normal quantile of ``(1 + confidence) / 2`` and
    ``p = k / n``::

        center = (p + z^2 / 2n) / (1 + z^2 / n)
        half   = z sqrt(p (1 - p) / n + z^2 / 4n^2) / (1 + z^2 / n)

    It stays inside ``[0, 1]``, is not degenerate at ``k = 0`` or ``k = n`` and covers the true
    share close to the nominal rate even for small ``n`` (Wilson 1927; Brown, Cai & DasGupta
    2001). ``trials = 0`` gives the uninformative ``(0, 1)``.

    >>> lo, hi = wilson_interval(0, 4000)              # no success in 4,000 runs
    >>> float(lo), round(float(hi), 5)
    (0.0, 0.00096)
    """
    k = np.asarray(successes, np.float64)
    n = np.asarray(trials, np.float64)
    if np.any(n < 0) or np.any(k < 0) or np.any(k > n) or not np.all(np.isfinite(k + n)):
        raise ValueError(f"need 0 <= successes <= trials, got successes={successes!r}, trials={trials!r}")
    z = _z(confidence)
    safe = np.where(n > 0, n, 1.0)
    p = k / safe
    denom = 1 + z * z / safe
    center = (p + z * z / (2 * safe)) / denom
    half = z * np.sqrt(p * (1 - p) / safe + z * z / (4 * safe * safe)) / denom
    # the ends are exact at k = 0 and k = n (rounding would leave 1e-17 off)
    lo = np.where((n > 0) & (k > 0), np.clip(center - half, 0.0, 1.0), 0.0)
    hi = np.where((n > 0) & (k < n), np.clip(center + half, 0.0, 1.0), 1.0)
    return lo, hi


def bootstrap_interval(labels, category, *, confidence: float = 0.95, n_boot: int = 2000,
                       seed: int = 0):
    """Percentile bootstrap interval ``(lo, hi)`` of the share of runs with label ``category``.

    Resampling the ``n`` runs with replacement makes the count of ``category`` in a resample
    ``Binomial(n, share)``; the ``n_boot`` resampled shares are drawn that way
    (``numpy.random.default_rng(seed)``), which is the same distribution without the
    ``n_boot x n`` index array.

    >>> import numpy as np
    >>> lo, hi = bootstrap_interval(np.array([0] * 70 + [1] * 30), 1)
    >>> bool(lo < 0.3 < hi)
    True
    """
    labels = np.asarray(labels).ravel()
    _z(confidence)
    n_boot = _check_int("n_boot", n_boot, 1)
    if labels.size == 0:
        return 0.0, 1.0
    hits = (labels == category).astype(np.float64)
    rng = np.random.default_rng(seed)
    shares = rng.binomial(labels.size, hits.mean(), size=n_boot) / labels.size
    alpha = (1 - confidence) / 2
    return float(np.quantile(shares, alpha)), float(np.quantile(shares, 1 - alpha))


@dataclasses.dataclass(frozen=True, eq=False)
class BasinShares:
    """Shares of runs per category (clusters and the moving/diverged/nonfinite codes), per value
    of a swept parameter.

    categories: ``(C,)`` label codes; names: their names (``"cluster 0"``, ``"moving"``...).
    groups:     ``(G,)`` the swept parameter's values (``[nan]`` when there is none).
    counts:     ``(G, C)`` runs; totals ``(G,)``; shares, lo, hi ``(G, C)``: fraction of all
                runs of the group and its confidence interval (``method``).
    """

    categories: np.ndarray
    names: tuple[str, ...]
    groups: np.ndarray
    counts: np.ndarray
    totals: np.ndarray
    shares: np.ndarray
    lo: np.ndarray
    hi: np.ndarray
    confidence: float
    method: str


def _category_name(code: int) -> str:
    return CATEGORY_NAMES.get(int(code), f"cluster {int(code)}")


def basin_shares(labels, *, groups=None, categories=None, confidence: float = 0.95,
                 method: str = "wilson", n_boot: int = 2000, seed: int = 0) -> BasinShares:
    """The fraction of runs that ended in each category (cluster label or category code), with
    confidence intervals: ``method="wilson"`` (:func:`wilson_interval`, default) or
    ``"bootstrap"`` (:func:`bootstrap_interval`). Shares are of *all* runs of a group, moving and
    diverged ones included, so they are probabilities per run started.

    ``groups``: ``(n_runs,)`` value of a swept parameter per run (init scale, width, learning
    rate): one row of shares per distinct value, in ascending order. ``categories``: which
    label codes to report (default: every code present, clusters first).

    >>> import numpy as np
    >>> s = basin_shares(np.array([0, 0, 1, 0, 1, 1]), groups=np.array([1., 1., 1., 2., 2., 2.]))
    >>> s.shares.round(3).tolist(), s.groups.tolist()
    ([[0.667, 0.333], [0.333, 0.667]], [1.0, 2.0])
    """
    labels = np.asarray(labels)
    if labels.ndim != 1 or not np.issubdtype(labels.dtype, np.integer):
        raise ValueError(f"labels must be a 1-D integer array of cluster labels, got shape "
                         f"{labels.shape} and dtype {labels.dtype}")
    if method not in ("wilson", "bootstrap"):
        raise ValueError(f"method={method!r} is not known; expected 'wilson' or 'bootstrap'")
    _z(confidence)
    if groups is None:
        group_of = np.zeros(labels.size, np.int64)
        values = np.array([np.nan])
    else:
        g = _per_run("groups", groups, labels.size)
        values, group_of = np.unique(g, return_inverse=True)
    if categories is None:
        present = np.unique(labels)
        categories = np.concatenate([present[present >= 0], np.sort(present[present < 0])[::-1]])
    categories = np.asarray(categories, np.int64).ravel()
    counts = np.array([[np.sum((group_of == i) & (labels == c)) for c in categories]
                       for i in range(len(values))], np.int64).reshape(len(values), len(categories))
    totals = np.bincount(group_of, minlength=len(values))
    shares = counts / np.maximum(totals, 1)[:, None]
    if method == "wilson":
        lo, hi = wilson_interval(counts, np.broadcast_to(totals[:, None], counts.shape),
                                 confidence=confidence)
    else:
        lo = np.zeros(counts.shape)
        hi = np.ones(counts.shape)
        for i in range(len(values)):
            for j, c in enumerate(categories):
                lo[i, j], hi[i, j] = bootstrap_interval(labels[group_of == i], c, confidence=confidence,
                                                        n_boot=n_boot, seed=seed)
    return BasinShares(categories, tuple(_category_name(c) for c in categories), values, counts,
                       totals, shares, np.asarray(lo), np.asarray(hi), float(confidence), method)


@dataclasses.dataclass(frozen=True, eq=False)
class RestartCurve:
    """P(at least one of ``k`` independent restarts succeeds), ``k = ks``.

    p, p_lo, p_hi: the per-run success share and its Wilson interval.
    formula, lo, hi: ``1 - (1 - p)^k`` and the same map applied to the interval ends (the map is
                    increasing in ``p``, so the interval carries over with its coverage).
    empirical:    estimated from the runs themselves, without the independence formula: the
                  fraction of all ``k``-subsets of the ``n`` runs that contain a success,
                  ``1 - C(n - s, k) / C(n, k)`` (NaN for ``k > n``).
    """

    ks: np.ndarray
    n: int
    successes: int
    p: float
    p_lo: float
    p_hi: float
    formula: np.ndarray
    lo: np.ndarray
    hi: np.ndarray
    empirical: np.ndarray
    confidence: float


def restart_curve(success, ks=None, *, confidence: float = 0.95) -> RestartCurve:
    """The success-against-restarts curve from per-run outcomes.

    ``success``: ``(n_runs,)`` bool, e.g. ``labels == 0`` (the run reached the global class);
    runs that diverged or are still moving count as failures. ``ks``: restart counts (default
    ``1 .. 20``). See :class:`RestartCurve`.

    >>> import numpy as np
    >>> curve = restart_curve(np.array([True, False, False, False]), ks=[1, 2, 3])
    >>> curve.formula.round(4).tolist()               # 1 - 0.75^k
    [0.25, 0.4375, 0.5781]
    """
    s = np.asarray(success)
    if s.ndim != 1 or s.dtype != bool:
        raise ValueError(f"success must be a 1-D bool array (one outcome per run), got shape "
                         f"{s.shape} and dtype {s.dtype}")
    if s.size == 0:
        raise ValueError("success is empty: no runs to estimate from")
    ks = np.arange(1, 21) if ks is None else np.asarray(ks)
    if ks.ndim != 1 or ks.size == 0 or not np.issubdtype(ks.dtype, np.integer) or np.any(ks < 1):
        raise ValueError(f"ks={ks!r} must be a non-empty 1-D array of positive integers")
    n, k_s = int(s.size), int(s.sum())
    lo, hi = wilson_interval(k_s, n, confidence=confidence)
    p = k_s / n
    curve = lambda q: 1.0 - (1.0 - q) ** ks  # noqa: E731
    from scipy.special import gammaln

    def log_choose(a, b):
        return gammaln(a + 1) - gammaln(b + 1) - gammaln(a - b + 1)

    fails = n - k_s
    # P(a random k-subset holds no success) = C(n - s, k) / C(n, k); 0 once k > n - s
    kk = np.minimum(ks, fails)
    none = np.where(ks <= fails, np.exp(log_choose(fails, kk) - log_choose(n, np.minimum(ks, n))), 0.0)
    empirical = np.where(ks <= n, 1.0 - none, np.nan)
    return RestartCurve(ks, n, k_s, p, float(lo), float(hi), curve(p), curve(float(lo)),
                        curve(float(hi)), empirical, float(confidence))


# --------------------------------------------------------------------------------------------
# connectivity between minima


@dataclasses.dataclass(frozen=True, eq=False)
class Connectivity:
    """Loss along straight paths between cluster representatives, after aligning each second
    end to the first modulo the group.

    names:   ``(k,)`` names of the points; losses ``(k,)``: the loss at each.
    ts:      ``(num,)`` path positions; paths ``(k, k, num)``: the loss at ``a + t (g b - a)``
             (``g b``: ``b`` moved to its closest group image to ``a``); diagonal NaN.
    saddle:  ``(k, k)``: the highest loss along each path (its ends included);
    barrier: ``(k, k)``: ``saddle - max(loss_a, loss_b)`` (as :func:`landscape.surface.interpolate`).
    merges:  ``(k - 1, 3)``: the disconnectivity tree: clusters (``i``, ``j``, as the smallest
             point index of each group) join at ``level``, the lowest saddle connecting the two
             groups (minimax path over the straight-path graph), in increasing order.
    alignment: ``"orbit"`` (best of all group images) or ``"align"`` (weight matching).
    """

    names: tuple[str, ...]
    losses: np.ndarray
    ts: np.ndarray
    paths: np.ndarray
    saddle: np.ndarray
    barrier: np.ndarray
    merges: np.ndarray
    alignment: str


def closest_image(model: Model, params, reference, *, alignment: str = "auto",
                  flips: bool | None = None) -> list:
    """``params`` (one network) moved by the group element that brings it closest to
    ``reference`` in centered coordinates: ``alignment="orbit"`` tries every element (exact; the
    default for groups of at most :data:`AUTO_ORBIT` elements), ``"align"`` uses weight
    matching (:func:`align`).

    >>> import jax, numpy as np, landscape as ls
    >>> from landscape import minima, symmetry
    >>> model = ls.mlp([2, 3, 1], activation="tanh")
    >>> params = model.init(jax.random.key(0))
    >>> image = symmetry.apply_element(
    ...     params, symmetry.random_element(jax.random.key(1), model=model), model=model)
    >>> back = minima.closest_image(model, image, params)
    >>> bool(np.allclose(back[0]["w"], params[0]["w"], atol=1e-6))
    True
    """
    _check_model(model)
    for name, p in (("params", params), ("reference", reference)):
        if _batch_shape(model, p, name) != ():
            raise ValueError(f"{name} must be one network (no batch axes)")
    flips = _check_flips(model, flips)
    if not model.hidden_sizes:
        return [dict(layer) for layer in params]
    if alignment == "auto":
        alignment = "orbit" if sy.orbit_size(model, flips=flips) <= AUTO_ORBIT else "align"
    if alignment == "orbit":
        images = sy.orbit(params, model=model, flips=flips)
        vec = _flatten_layers(_host_layers(model, images))
        ref = _flatten_layers(_host_layers(model, reference))
        g = int(np.argmin(np.linalg.norm(vec - ref, axis=1)))
        return [{key: np.asarray(leaf)[g] for key, leaf in layer.items()} for layer in images]
    if alignment == "align":
        return align(model, params, reference, flips=flips).params
    raise ValueError(f"alignment={alignment!r} is not known; expected 'auto', 'orbit' or 'align'")


def merge_tree(saddle) -> np.ndarray:
    """``(k - 1, 3)`` merges ``(i, j, level)`` of the minimax (single-linkage) tree of a
    symmetric matrix of path maxima: Kruskal's order over the pairs, each merge naming the
    smallest index of the two groups it joins. Non-finite entries never join (fewer rows).

    >>> import numpy as np
    >>> saddle = np.array([[0.0, 1.0, 3.0], [1.0, 0.0, 2.0], [3.0, 2.0, 0.0]])
    >>> merge_tree(saddle).tolist()                   # 0 and 1 join at 1, then 2 at 2
    [[0.0, 1.0, 1.0], [0.0, 2.0, 2.0]]
    """
    s = np.asarray(saddle, np.float64)
    if s.ndim != 2 or s.shape[0] != s.shape[1]:
        raise ValueError(f"saddle of shape {s.shape} must be a square matrix")
    k = s.shape[0]
    iu, ju = np.triu_indices(k, 1)
    level = np.minimum(s[iu, ju], s[ju, iu])
    order = np.argsort(level, kind="stable")
    uf = _UnionFind(k)
    rows = []
    for o in order:
        if not np.isfinite(level[o]):
            continue
        a, b = uf.find(iu[o]), uf.find(ju[o])
        if a != b:
            rows.append((min(a, b), max(a, b), level[o]))
            uf.union(a, b)
    return np.array(rows, np.float64).reshape(-1, 3)


def connectivity(loss_fn, params, data, *, model: Model, names=None, num: int = 41,
                 alignment: str = "auto", flips: bool | None = None) -> Connectivity:
    """Barriers between points (e.g. cluster representatives; leading axis of ``params``) along
    straight lines after alignment, and the tree of clusters joined by their lowest barriers.

    For each pair ``i < j``, ``b = params[j]`` is moved to its group image closest to
    ``a = params[i]`` (``alignment="orbit"``: every element, the default for groups of at most
    :data:`AUTO_ORBIT`; ``"align"``: weight matching, :func:`align`) and the loss is evaluated
    along ``a + t (g b - a)`` with :func:`landscape.surface.interpolate` (``num`` points). A
    straight path gives an upper bound on the true barrier (the lowest path can bend).
    Returns :class:`Connectivity`.

    >>> import jax, numpy as np, landscape as ls
    >>> from landscape import minima, symmetry
    >>> model = ls.mlp([2, 2, 1])
    >>> points = jax.vmap(model.init)(jax.random.split(jax.random.key(0), 3))
    >>> con = minima.connectivity(ls.objectives.loss(model, "mse"), points, ls.datasets.xor(),
    ...                           model=model, num=11)
    >>> con.barrier.shape, con.paths.shape, con.merges.shape
    ((3, 3), (3, 3, 11), (2, 3))
    """
    from .surface import interpolate

    _check_model(model)
    batch = _batch_shape(model, params)
    if len(batch) != 1 or batch[0] < 1:
        raise ValueError(f"params must hold points on one leading axis, got batch shape {batch}")
    k = batch[0]
    flips = _check_flips(model, flips)
    num = _check_int("num", num, 2)
    if alignment == "auto":
        small = model.hidden_sizes and sy.orbit_size(model, flips=flips) <= AUTO_ORBIT
        alignment = "orbit" if small else "align"
    if alignment not in ("orbit", "align"):
        raise ValueError(f"alignment={alignment!r} is not known; expected 'auto', 'orbit' or 'align'")
    if not model.hidden_sizes:
        alignment = "none"
    names = tuple(f"cluster {i}" for i in range(k)) if names is None else tuple(names)
    if len(names) != k:
        raise ValueError(f"names has {len(names)} entries for {k} points")
    host = _one_axis(model, params)
    points = [[{key: leaf[i] for key, leaf in layer.items()} for layer in host] for i in range(k)]
    ts = np.linspace(0.0, 1.0, num)
    paths = np.full((k, k, num), np.nan)
    saddle = np.full((k, k), np.nan)
    barrier = np.full((k, k), np.nan)
    losses = np.array([float(loss_fn(p, data)) for p in points])
    for i in range(k):
        for j in range(i + 1, k):
            b = points[j] if alignment == "none" else closest_image(
                model, points[j], points[i], alignment=alignment, flips=flips)
            path = interpolate(loss_fn, points[i], b, data, ts=ts, names=(names[i], names[j]))
            paths[i, j] = paths[j, i] = path.values
            paths[j, i] = paths[j, i][::-1]
            saddle[i, j] = saddle[j, i] = path.value_max
            barrier[i, j] = barrier[j, i] = path.barrier
    return Connectivity(names, losses, ts, paths, saddle, barrier, merge_tree(saddle), alignment)


# --------------------------------------------------------------------------------------------
# the census: clusters with their statistics, classes and structures


@dataclasses.dataclass(frozen=True, eq=False)
class ClusterSummary:
    """One cluster of a :class:`Census`.

    cluster, size, members: its label, number of runs and their indices.
    loss_mean, loss_std, loss_min, loss_max: final losses of the members.
    representative: the member closest to the coordinate-wise median of the members'
        clustering features (a typical member, not an extreme one); representative_loss.
    kind: ``"trap at infinity"`` (the weights keep growing as the loss falls,
        :func:`growth_check`), else the Hessian's verdict ``hessian``; ``"unclassified"`` when
        ``classify=False``.
    hessian: ``"minimum"``, ``"saddle"``, ``"degenerate"``, ``"maximum"`` or ``"not critical"``:
        the :mod:`landscape.curvature` label of the representative from its gradient (at the
        census' ``grad_tol``) and dense Hessian, at the point where training stopped.
    index: the number of negative Hessian eigenvalues (the saddle index; -1 unclassified);
        n_zero: near-zero eigenvalues.
    grad_norm: at the representative. growing: the growth test's verdict (None: not run).
    duplicates, dead, saturated: fraction of members with at least one duplicated pair, dead
        unit, saturated unit (:func:`unit_structure`); structure: the representative's counts.
    outputs: the representative's outputs on the census inputs, ``(n_inputs, n_out)``.
    """

    cluster: int
    size: int
    members: np.ndarray
    loss_mean: float
    loss_std: float
    loss_min: float
    loss_max: float
    representative: int
    representative_loss: float
    kind: str
    hessian: str
    index: int
    n_zero: int
    grad_norm: float
    growing: bool | None
    duplicates: float
    dead: float
    saturated: float
    structure: dict
    outputs: np.ndarray

    def describe_hessian(self) -> str:
        if self.hessian == "saddle":
            return f"saddle (index {self.index})"
        return self.hessian

    def describe_kind(self) -> str:
        """``kind`` in words: the saddle index, and for a trap at infinity the Hessian's view
        where training stopped (e.g. ``"trap at infinity (Hessian: minimum)"``)."""
        if self.kind == "trap at infinity":
            return f"trap at infinity (Hessian: {self.describe_hessian()})"
        if self.kind == "saddle":
            return f"saddle (index {self.index})"
        return self.kind


@dataclasses.dataclass(frozen=True, eq=False)
class Census:
    """What :func:`census` returns: the clustering, one :class:`ClusterSummary` per cluster
    (in label order: ascending mean loss) and the per-run unit structures."""

    clustering: Clustering
    clusters: tuple[ClusterSummary, ...]
    structure: UnitStructure
    loss: np.ndarray

    @property
    def labels(self) -> np.ndarray:
        return self.clustering.labels

    @property
    def n_runs(self) -> int:
        return int(self.labels.size)

    def counts(self) -> dict[str, int]:
        return self.clustering.counts()

    def shares(self, *, groups=None, confidence: float = 0.95, method: str = "wilson") -> BasinShares:
        """:func:`basin_shares` of this census' labels (every cluster and category)."""
        cats = np.concatenate([np.arange(len(self.clusters)), [MOVING, DIVERGED, NONFINITE]])
        return basin_shares(self.labels, groups=groups, categories=cats, confidence=confidence,
                            method=method)

    def representatives(self) -> np.ndarray:
        """``(n_clusters,)`` run index of each cluster's representative."""
        return np.array([c.representative for c in self.clusters], np.int64)

    def table(self, *, confidence: float = 0.95, max_rows: int = 12) -> dict:
        """``{"columns", "rows"}`` for printing: one row per cluster (the largest ``max_rows``
        by label order, the rest summed in one row), then the moving/diverged/nonfinite counts."""
        shares = self.shares(confidence=confidence)
        columns = ["cluster", "runs", f"share [{confidence:.0%} CI]", "loss mean", "loss sd", "kind",
                   "dup/dead/sat", "rep. run"]
        rows = []
        for c in self.clusters[:max_rows]:
            j = c.cluster
            rows.append([c.cluster, c.size,
                         f"{shares.shares[0, j]:.2%} [{shares.lo[0, j]:.2%}, {shares.hi[0, j]:.2%}]",
                         f"{c.loss_mean:.4g}", f"{c.loss_std:.2g}", c.describe_kind(),
                         f"{c.duplicates:.0%}/{c.dead:.0%}/{c.saturated:.0%}", c.representative])
        rest = self.clusters[max_rows:]
        if rest:
            size = sum(c.size for c in rest)
            rows.append([f"{len(rest)} more", size, f"{size / max(self.n_runs, 1):.2%}", "", "", "", "", ""])
        for code in (MOVING, DIVERGED, NONFINITE):
            j = list(shares.categories).index(code)
            if shares.counts[0, j]:
                rows.append([CATEGORY_NAMES[code], int(shares.counts[0, j]),
                             f"{shares.shares[0, j]:.2%} [{shares.lo[0, j]:.2%}, {shares.hi[0, j]:.2%}]",
                             "", "", "", "", ""])
        return {"columns": columns, "rows": rows}

    def arrays(self) -> dict[str, np.ndarray]:
        """Flat ``{name: array}`` of the census for a results folder (no pickles)."""
        cl = self.clusters
        out = {
            "labels": self.labels, "loss": self.loss, "windows": self.clustering.windows,
            "tolerance": np.array(self.clustering.tolerance.value),
            "duplicate_pairs": self.structure.duplicate_pairs, "dead": self.structure.dead,
            "saturated": self.structure.saturated,
            "cluster_size": np.array([c.size for c in cl], np.int64),
            "cluster_loss_mean": np.array([c.loss_mean for c in cl]),
            "cluster_loss_std": np.array([c.loss_std for c in cl]),
            "cluster_representative": np.array([c.representative for c in cl], np.int64),
            "cluster_index": np.array([c.index for c in cl], np.int64),
            "cluster_kind": np.array([c.kind for c in cl], dtype=np.str_),
            "cluster_hessian": np.array([c.hessian for c in cl], dtype=np.str_),
        }
        return out


@functools.lru_cache(maxsize=32)
def _loss_grad_program(loss_fn):
    def one(p, data):
        value, g = jax.value_and_grad(loss_fn)(p, data)
        return value, jnp.sqrt(sum(jnp.sum(jnp.square(leaf)) for leaf in jax.tree.leaves(g)))

    return jax.jit(jax.vmap(one, in_axes=(0, None)))


def _inputs_of(data, x):
    if x is not None:
        return np.asarray(x)
    if hasattr(data, "x"):
        return np.asarray(data.x)
    if isinstance(data, (tuple, list)) and len(data) >= 1:
        return np.asarray(data[0])
    raise ValueError("pass x= (the inputs to compare outputs on): data has no .x")


def census(loss_fn, params, data, *, model: Model, loss=None, status=None, grad_norm=None,
           grad_tol: float | None = None, space: str = "function", x=None, optimizer=None,
           growth_steps: int = 2000, classify: bool = True, tol: float | None = None,
           min_gap: float = MIN_GAP, loss_gap: float = LOSS_GAP, loss_atol: float | None = None,
           max_linkage: int = 2000, symmetry: str = "auto", flips: bool | None = None,
           seed: int = 0) -> Census:
    """Where the runs ended: clusters modulo symmetry with their statistics.

    ``params``: final params of ``n_runs`` runs (leading axis), e.g. ``TrainResult.params``;
    ``loss`` and ``grad_norm`` per run are computed with ``loss_fn`` on ``data`` when not given,
    ``status`` (0 = ok) marks diverged runs. Clustering as in :func:`cluster_runs` (outputs on
    ``x``, default ``data.x``, for ``space="function"``). Per cluster
    (:class:`ClusterSummary`): size, loss mean and spread, representative, its critical-point
    class (the Hessian via :func:`landscape.curvature.classify_batched` at ``grad_tol``; with an
    ``optimizer`` also the growth test :func:`growth_check` over ``growth_steps`` steps, which
    wins: ``"trap at infinity"``), and its degenerate units (:func:`unit_structure`).
    ``classify=False`` skips the curvature and growth work. Returns :class:`Census`.

    >>> import jax, numpy as np, landscape as ls
    >>> from landscape import minima, symmetry
    >>> import optax
    >>> model = ls.mlp([2, 2, 1])
    >>> loss_fn, data = ls.objectives.loss(model, "mse"), ls.datasets.xor()
    >>> r = ls.train_many(loss_fn, ls.inits.normal(model, 1.0), optax.sgd(2.0), data,
    ...                   key=jax.random.key(0), n_runs=64, steps=2000, progress=False)
    >>> cen = minima.census(loss_fn, r.params, data, model=model, status=r.status, grad_tol=0.01)
    >>> cen.labels.shape, sum(c.size for c in cen.clusters) + sum(cen.counts().values()) >= 64
    ((64,), True)
    """
    from . import curvature as cv

    if not callable(loss_fn):
        raise TypeError(f"loss_fn={loss_fn!r} must be callable as loss_fn(params, data)")
    _check_model(model)
    n = _rows(model, params)
    params = _one_axis(model, params)
    xs = _inputs_of(data, x)
    if loss is None or grad_norm is None:
        values, norms = _loss_grad_program(loss_fn)(params, data)
        loss = np.asarray(values, np.float64) if loss is None else loss
        grad_norm = np.asarray(norms, np.float64) if grad_norm is None else grad_norm
    loss = _per_run("loss", loss, n, dtype=np.float64)
    if grad_tol is None:
        grad_tol = _default_grad_tol(model, params)
    clustering = cluster_runs(model, params, loss=loss, x=xs, space=space, status=status,
                              grad_norm=grad_norm, grad_tol=grad_tol, tol=tol, min_gap=min_gap,
                              loss_gap=loss_gap, loss_atol=loss_atol, max_linkage=max_linkage,
                              symmetry=symmetry, flips=flips, seed=seed)
    flips = _check_flips(model, flips)
    structure = unit_structure(model, params, xs, flips=flips)
    k = clustering.n_clusters
    reps = np.zeros(k, np.int64)
    for c in range(k):
        m = clustering.members(c)
        f = clustering.features[m]
        reps[c] = m[int(np.argmin(np.linalg.norm(f - np.median(f, axis=0), axis=1)))]
    kinds = ["unclassified"] * k
    hessians = ["unclassified"] * k
    index = np.full(k, -1, np.int64)
    n_zero = np.full(k, -1, np.int64)
    rep_grad = np.asarray(grad_norm, np.float64)[reps] if k else np.zeros(0)
    growing = [None] * k
    if classify and k:
        rep_params = jax.tree.map(lambda a: a[reps], params)
        point = cv.classify_batched(loss_fn, rep_params, data, grad_tol=grad_tol)
        labels = np.asarray(point.label)
        index = np.asarray(point.index, np.int64)
        n_zero = np.asarray(point.n_zero, np.int64)
        rep_grad = np.asarray(point.grad_norm, np.float64)
        hessians = [cv.LABEL_NAMES[int(lab)].replace("_", " ") for lab in labels]
        kinds = list(hessians)
        if optimizer is not None:
            g = growth_check(loss_fn, rep_params, data, optimizer=optimizer, steps=growth_steps)
            growing = [bool(v) for v in g.growing]
            kinds = ["trap at infinity" if grow else kind for kind, grow in zip(kinds, growing)]
    outputs = function_outputs(model, jax.tree.map(lambda a: a[reps], params), xs) if k else None
    summaries = []
    for c in range(k):
        m = clustering.members(c)
        lm = loss[m]
        r = int(reps[c])
        summaries.append(ClusterSummary(
            cluster=c, size=int(m.size), members=m, loss_mean=float(lm.mean()),
            loss_std=float(lm.std()), loss_min=float(lm.min()), loss_max=float(lm.max()),
            representative=r, representative_loss=float(loss[r]), kind=kinds[c], hessian=hessians[c],
            index=int(index[c]), n_zero=int(n_zero[c]), grad_norm=float(rep_grad[c]),
            growing=growing[c],
            duplicates=float(np.mean(structure.duplicate_pairs[m] > 0)),
            dead=float(np.mean(structure.dead[m] > 0)),
            saturated=float(np.mean(structure.saturated[m] > 0)),
            structure={"duplicate_pairs": int(structure.duplicate_pairs[r]),
                       "dead": int(structure.dead[r]), "saturated": int(structure.saturated[r])},
            outputs=outputs[c]))
    return Census(clustering, tuple(summaries), structure, loss)

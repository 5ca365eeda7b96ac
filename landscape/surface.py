"""Error surfaces: directions, 1D/2D slices, paths and barriers, trajectory projections, basin
maps, and the view of the symmetric equilibrium.

Everything works on any ``metric(params, data) -> scalar`` over any pytree ``params`` (a loss,
an accuracy, :func:`grad_norm`, :func:`min_eigenvalue`); only the symmetry directions need an
MLP :class:`landscape.Model` (they use :mod:`landscape.symmetry`).

Directions
----------
A :class:`Direction` is a params-shaped pytree with a ``name`` and an ``info`` dict (how it was
made: normalization rule, eigenvalue, explained variance...); ``norm`` is its Euclidean norm
over the flattened params. Every function below also accepts a bare pytree as a direction.

- :func:`random_direction`: Gaussian entries, then one of four normalizations (``NORMALIZATIONS``):
  ``"none"`` (raw N(0, 1) entries), ``"unit"`` (norm 1), ``"filter"`` and ``"layer"`` (Li et al.
  2018: each group of entries rescaled to the norm of the same group of the point).
- :func:`hessian_directions`: top or bottom Hessian eigenvectors (dense or Lanczos), unit norm.
- :func:`pca_directions`: principal components of a recorded trajectory with explained variance.
- :func:`symmetric_descent_direction` and :func:`breaking_directions`: the negative gradient
  projected onto the symmetric subspace, and the eigenvectors of the Hessian restricted to the
  symmetry-breaking subspace (most unstable first).
- :func:`difference_direction` (``b - a``) and :func:`orthonormalize` (Gram-Schmidt on the
  flattened params).

Filter and layer normalization (the rule, recorded in ``Direction.info``)
------------------------------------------------------------------------
Groups. ``"layer"``: one group per top-level entry of ``params`` (a layer of an MLP: its
weights and biases together). ``"filter"``: within each top-level entry, a leaf with two or more
axes is split into groups along its *last* axis (one output unit's incoming weights in this
toolkit's ``(fan_in, fan_out)`` layout, as Li et al.'s rows of a PyTorch ``(out, in)`` weight),
and a 1-D leaf whose length equals that last axis (a bias) joins those groups entry by entry, so a
group is everything a unit receives; any other leaf is one group. With ``zero_biases=True`` the
direction is zero on every leaf with fewer than two axes (Li et al.'s default of ignoring biases)
and those entries take no part in the norms.

Scale. A group ``g`` of ``n_g`` entries of the Gaussian draw ``d`` is rescaled to the norm
``target_g``:

- ``|theta_g|`` when ``|theta_g| > eps * sqrt(n_g) * rms(theta)`` (rule ``"own"``: Li et al.);
- else ``sqrt(n_g) * rms(theta)`` when the point is not zero (rule ``"point_rms"``: the group is
  zero at this point, e.g. a zero bias, and gets the size of a typical entry of the point);
- else ``sqrt(n_g) * fallback_scale`` (rule ``"fallback"``: the whole point is zero, e.g. the
  all-zero start; entries of unit RMS by default),

with ``rms(theta) = |theta| / sqrt(n)`` and ``eps`` the params' float epsilon. The usual rule
``d_g * |theta_g| / |d_g|`` would give 0 (or 0/0) at a zero point and a vanishing component for
every zero group; this one is finite and nonzero everywhere. At a constant point (every unit
equal) every unit gets the same scale, as it should: the point's units are identical; the
random direction itself breaks the symmetry (use the symmetry directions to separate the
symmetric and the symmetry-breaking parts). ``info`` records the counts of groups under each
rule.

Slices
------
:func:`slice_1d` evaluates ``metric(center + t d)`` for ``t`` in any 1-D grid and :func:`slice_2d`
``metric(center + a d1 + b d2)`` on the product of two 1-D grids; ``values[i, j]`` belongs to
``(alphas[i], betas[j])`` (``indexing="ij"``, shape ``(len(alphas), len(betas))``, any lengths).
All points are evaluated by **one** jitted program: a ``vmap`` over equal blocks of points
(:func:`landscape.parallel.point_block`, the grid padded to whole blocks) and a ``lax.map`` over
the blocks, spread over the local devices (``devices``: ``None`` all, an int ``n`` the first
``n``, or a sequence of devices; the numbers do not depend on it), so memory is bounded and
there is one compilation. ``chunk_size`` bounds the points per block; the default fits a budget
of about 2**24 floats of working set, estimated from the number of params and the data size (a
metric may declare ``floats_per_point(n_params)``, as :func:`min_eigenvalue` does). The ``metric``
is a static argument: pass the same object again to reuse the compiled program.

Two evaluation methods give the same numbers (to float rounding): ``"vmap"`` works for any
metric; ``"batched"``, taken by ``method="auto"`` for the toolkit's own MLP metrics
(:func:`landscape.objectives.loss`, :func:`landscape.objectives.success`, :func:`accuracy`,
:func:`grad_norm` of an MLP loss), evaluates all points with the point axis last
(:meth:`landscape.models.Model.apply_batched`), several times faster on the CPU for tiny networks.

Paths
-----
:func:`interpolate` gives ``metric(a + t (b - a))`` and the barrier height ``max_{t in [0, 1]}
metric - max(metric(a), metric(b))`` (both ends evaluated by the same formula as the path, so a
convex profile has a barrier of exactly 0). :func:`plane_through` builds the plane through three
points, :func:`plane` one through a center along two directions; :func:`project_trajectory`
gives a trajectory's least-squares coordinates in a plane, its off-plane residual per point, and
the true metric along the path beside the metric at the projected points.

Basin maps and the symmetric view
---------------------------------
:func:`basin_map` trains from every point of a 2D grid (the grid points are the ``starts`` of
one :func:`landscape.train_many` call) and labels where each run ends, with the negative gradient
projected on the plane. :func:`symmetric_view` builds the plane through
the symmetric equilibrium spanned by the symmetric direction of descent and the most unstable
symmetry-breaking direction, with the surface and projected trajectories. Plots for all results
are in :mod:`landscape.plotting`.
"""

from __future__ import annotations

import dataclasses
import functools
import math
import numbers
from typing import Any, Callable, Mapping

import jax
import jax.numpy as jnp
import numpy as np
from jax.flatten_util import ravel_pytree

from ._checks import float_leaves
from . import curvature as cv
from . import parallel, symmetry
from .models import Model
from .objectives import Criterion, Loss
from .train import STATUS_OK, train_many

__all__ = [
    # directions
    "NORMALIZATIONS", "Direction", "random_direction", "group_norms", "hessian_directions",
    "PCA", "pca_directions", "symmetric_descent_direction", "breaking_directions",
    "difference_direction", "orthonormalize",
    # metrics
    "grad_norm", "min_eigenvalue", "accuracy", "evaluate_points",
    # slices
    "Slice1D", "Slice2D", "slice_1d", "slice_2d",
    # paths
    "Interpolation", "interpolate", "Plane", "plane", "plane_through", "TrajectoryProjection",
    "project_trajectory",
    # basins and the symmetric view
    "BasinMap", "basin_map", "SymmetricView", "symmetric_view",
]

NORMALIZATIONS = ("filter", "layer", "unit", "none")
"""Normalizations of :func:`random_direction` (see the module docstring)."""

_METHODS = ("auto", "vmap", "batched")
_PCA_ORIGINS = ("last", "mean")
_EIGEN_WHICH = ("bottom", "top")
_EIGEN_METHODS = ("dense", "lanczos")
_CHUNK_FLOATS = 2**24
"""Working-set budget of one chunk of points, in floats (64 MiB in float32)."""
_MAX_LEVELS = 8
"""At most this many decades of final loss are told apart by the default basin labels."""


# --------------------------------------------------------------------------------------------
# argument checks


def _check_metric(metric, name="metric"):
    if not callable(metric):
        raise TypeError(f"{name}={metric!r} must be callable as {name}(params, data) -> scalar")
    try:
        hash(metric)
    except TypeError:
        raise TypeError(f"{name}={metric!r} must be hashable (it is a static argument of the "
                        "compiled program); wrap it in a function or functools.partial") from None


def _check_like(name, tree, like, like_name="params"):
    """``tree`` must have ``like``'s structure and leaf shapes."""
    float_leaves(tree, name)
    t_leaves, t_def = jax.tree_util.tree_flatten(tree)
    l_leaves, l_def = jax.tree_util.tree_flatten(like)
    if t_def != l_def:
        raise ValueError(f"{name} must have the structure of {like_name} ({l_def}), got {t_def}")
    for i, (a, b) in enumerate(zip(t_leaves, l_leaves)):
        if tuple(np.shape(a)) != tuple(np.shape(b)):
            raise ValueError(f"{name} leaf {i} has shape {tuple(np.shape(a))}; {like_name} has "
                             f"{tuple(np.shape(b))} there")


def _check_batch_like(name, tree, like, like_name="params") -> int:
    """``tree`` is ``like`` with one leading axis; returns its length."""
    float_leaves(tree, name)
    t_leaves, t_def = jax.tree_util.tree_flatten(tree)
    l_leaves, l_def = jax.tree_util.tree_flatten(like)
    if t_def != l_def:
        raise ValueError(f"{name} must have the structure of {like_name} ({l_def}), got {t_def}")
    lengths = set()
    for i, (a, b) in enumerate(zip(t_leaves, l_leaves)):
        if tuple(np.shape(a))[1:] != tuple(np.shape(b)) or np.ndim(a) != np.ndim(b) + 1:
            raise ValueError(f"{name} leaf {i} has shape {tuple(np.shape(a))}; expected a leading "
                             f"axis before {like_name}'s {tuple(np.shape(b))}")
        lengths.add(np.shape(a)[0])
    if len(lengths) != 1:
        raise ValueError(f"{name} leaves must share one leading axis length, got {sorted(lengths)}")
    n = lengths.pop()
    if n < 1:
        raise ValueError(f"{name} has an empty leading axis")
    return int(n)


def _check_int(name, value, low, high=None):
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{name}={value!r} must be an int")
    if value < low or (high is not None and value > high):
        rng = f">= {low}" if high is None else f"in [{low}, {high}]"
        raise ValueError(f"{name}={value!r} must be {rng}")
    return int(value)


def _check_chunk(chunk_size):
    if chunk_size is None:
        return None
    return _check_int("chunk_size", chunk_size, 1)


def _check_number(name, value, *, positive=False):
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real) or not math.isfinite(value):
        raise ValueError(f"{name}={value!r} must be a finite number")
    if positive and value <= 0:
        raise ValueError(f"{name}={value!r} must be positive")
    return float(value)


def _grid(name, values) -> np.ndarray:
    """A 1-D, non-empty, finite, real grid of coordinates."""
    try:
        arr = np.asarray(values)
    except Exception as err:  # ragged lists and the like
        raise ValueError(f"{name} must be a 1-D array of numbers: {err}") from None
    if arr.dtype == object or not (np.issubdtype(arr.dtype, np.floating) or np.issubdtype(arr.dtype, np.integer)):
        raise TypeError(f"{name} must hold real numbers, got dtype {arr.dtype}")
    if arr.ndim != 1:
        raise ValueError(f"{name} of shape {arr.shape} must be 1-D: pass the coordinates along the "
                         "axis (e.g. np.linspace(-1, 1, 51)), not a meshgrid")
    if arr.size == 0:
        raise ValueError(f"{name} is empty; expected at least one coordinate")
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} must be finite, got {arr}")
    return arr.astype(np.float64)


def _check_method(method):
    if method not in _METHODS:
        raise ValueError(f"method={method!r} is not known; expected one of {_METHODS}")
    return method


# --------------------------------------------------------------------------------------------
# flat helpers (host, float64)


def _flat64(tree) -> np.ndarray:
    leaves = jax.tree_util.tree_leaves(tree)
    return np.concatenate([np.asarray(leaf, np.float64).ravel() for leaf in leaves]) if leaves else np.zeros(0)


def _unflat(vec, like):
    """Flat float64 ``vec`` back into ``like``'s structure and leaf dtypes."""
    leaves, treedef = jax.tree_util.tree_flatten(like)
    out, start = [], 0
    for leaf in leaves:
        size = int(np.prod(np.shape(leaf), dtype=np.int64))
        out.append(jnp.asarray(np.reshape(vec[start:start + size], np.shape(leaf)), leaf.dtype))
        start += size
    return jax.tree_util.tree_unflatten(treedef, out)


def _flat_batch64(tree) -> np.ndarray:
    """``(T, n)`` float64 from a pytree with a leading axis ``T``."""
    leaves = jax.tree_util.tree_leaves(tree)
    t = np.shape(leaves[0])[0]
    return np.concatenate([np.asarray(leaf, np.float64).reshape(t, -1) for leaf in leaves], axis=1)


def _float_eps(tree) -> float:
    dtype = jnp.result_type(*[leaf.dtype for leaf in jax.tree_util.tree_leaves(tree)])
    return float(jnp.finfo(dtype).eps)


# --------------------------------------------------------------------------------------------
# directions


@dataclasses.dataclass(frozen=True, eq=False)
class Direction:
    """A params-shaped direction with a ``name`` and ``info`` on how it was made.

    ``params`` is a pytree like the point it belongs to; ``norm`` its Euclidean norm over the
    flattened params; ``label`` a short axis label (name and norm, plus an eigenvalue or an
    explained-variance ratio when ``info`` has one).

    >>> import jax.numpy as jnp
    >>> d = Direction(jnp.array([3.0, 4.0]), "d")
    >>> d.norm, d.label
    (5.0, 'd (|d| = 5)')
    """

    params: Any
    name: str = "direction"
    info: Mapping[str, Any] = dataclasses.field(default_factory=dict)

    @property
    def norm(self) -> float:
        return float(np.linalg.norm(_flat64(self.params)))

    @property
    def label(self) -> str:
        extra = ""
        if "eigenvalue" in self.info:
            extra = f", λ = {self.info['eigenvalue']:.3g}"
        elif "explained_variance" in self.info:
            extra = f", {100 * self.info['explained_variance']:.1f}% var."
        return f"{self.name} (|d| = {self.norm:.3g}{extra})"


def _direction(d, like, name):
    """``(pytree, Direction)`` from a Direction or a bare pytree, checked against ``like``."""
    if isinstance(d, Direction):
        _check_like(name, d.params, like)
        return d.params, d
    _check_like(name, d, like)
    return d, Direction(d, name)


def _top_children(params):
    children, _ = jax.tree_util.tree_flatten(params, is_leaf=lambda t: t is not params)
    return children


def _group_ids(params, normalization, zero_biases):
    """Flat int group id per entry (in ``ravel_pytree`` order); -1 = zeroed, not normalized."""
    ids, next_id = [], 0
    for child in _top_children(params):
        leaves = jax.tree_util.tree_leaves(child)
        if normalization == "layer":
            for leaf in leaves:
                zero = zero_biases and np.ndim(leaf) < 2
                ids.append(np.full(np.size(leaf), -1 if zero else next_id, np.int64))
            next_id += 1
            continue
        # filter: groups by last axis of the matrices of this child, biases join by length
        widths = {}
        for leaf in leaves:
            if np.ndim(leaf) >= 2 and np.shape(leaf)[-1] not in widths:
                widths[np.shape(leaf)[-1]] = next_id
                next_id += np.shape(leaf)[-1]
        for leaf in leaves:
            shape = np.shape(leaf)
            if zero_biases and len(shape) < 2:
                ids.append(np.full(np.size(leaf), -1, np.int64))
            elif len(shape) >= 2:
                ids.append(np.broadcast_to(widths[shape[-1]] + np.arange(shape[-1]), shape).ravel())
            elif len(shape) == 1 and shape[0] in widths:
                ids.append(widths[shape[0]] + np.arange(shape[0]))
            else:
                ids.append(np.full(np.size(leaf), next_id, np.int64))
                next_id += 1
    return np.concatenate(ids), next_id


def group_norms(params, normalization="filter", *, zero_biases=False) -> np.ndarray:
    """Euclidean norm of each group of ``params`` under ``normalization`` (``"filter"`` or
    ``"layer"``; groups as in the module docstring), float64 ``(n_groups,)`` in group order
    (per top-level entry; within it, units in order).

    >>> import jax, landscape as ls
    >>> model = ls.mlp([2, 2, 1])
    >>> params = ls.inits.constant(model, 0.5)(jax.random.key(0))  # the symmetric start
    >>> group_norms(params).round(3).tolist()  # a unit's 2 weights and bias: sqrt(3) * 0.5
    [0.866, 0.866, 0.866]
    >>> group_norms(params, "layer").round(3).tolist()
    [1.225, 0.866]
    """
    float_leaves(params, "params")
    if normalization not in ("filter", "layer"):
        raise ValueError(f"normalization={normalization!r} has no groups; expected 'filter' or 'layer'")
    ids, n_groups = _group_ids(params, normalization, zero_biases)
    x = _flat64(params)
    keep = ids >= 0
    return np.sqrt(np.bincount(ids[keep], weights=x[keep] ** 2, minlength=n_groups))


def random_direction(params, *, key, normalization="filter", zero_biases=False,
                     fallback_scale=1.0, name=None) -> Direction:
    """A Gaussian random direction at ``params``, normalized per ``normalization``.

    ``"none"``: N(0, 1) entries; ``"unit"``: rescaled to norm 1; ``"filter"``/``"layer"``: each
    group rescaled to the norm of the point's group, with the rule of the module docstring that
    stays finite and nonzero at a zero or constant point (``fallback_scale`` is the RMS entry
    size used where the whole point is zero). Leaf ``i`` is drawn with ``fold_in(key, i)``.

    ``info`` holds ``normalization``, ``rule`` (a one-line statement of the rule used) and, for
    filter/layer, ``groups`` and the counts ``own``/``point_rms``/``fallback`` of groups under
    each branch of the rule (plus ``point_rms_scale``).

    >>> import jax, landscape as ls
    >>> model = ls.mlp([2, 2, 1])
    >>> params = ls.inits.constant(model, 0.5)(jax.random.key(0))  # the symmetric start
    >>> d = random_direction(params, key=jax.random.key(1))
    >>> d.params[0]["w"].shape, d.info["groups"], d.info["own"]
    ((2, 2), 3, 3)
    >>> bool(np.allclose(group_norms(d.params), group_norms(params)))
    True
    """
    leaves, treedef = jax.tree_util.tree_flatten(params)
    float_leaves(params, "params")
    key = cv._check_key(key)
    if normalization not in NORMALIZATIONS:
        raise ValueError(f"normalization={normalization!r} is not known; expected one of {NORMALIZATIONS}")
    if not isinstance(zero_biases, (bool, np.bool_)):
        raise TypeError(f"zero_biases={zero_biases!r} must be True or False")
    fallback_scale = _check_number("fallback_scale", fallback_scale, positive=True)
    draws = [jax.random.normal(jax.random.fold_in(key, i), np.shape(leaf), leaf.dtype)
             for i, leaf in enumerate(leaves)]
    d = _flat64(draws)
    name = name or f"random ({normalization})"
    if normalization == "none":
        return Direction(jax.tree_util.tree_unflatten(treedef, draws), name,
                         {"normalization": "none", "rule": "N(0, 1) entries"})
    if normalization == "unit":
        return Direction(_unflat(d / np.linalg.norm(d), params), name,
                         {"normalization": "unit", "rule": "N(0, 1) entries scaled to norm 1"})
    ids, n_groups = _group_ids(params, normalization, zero_biases)
    x = _flat64(params)
    keep = ids >= 0
    size = np.bincount(ids[keep], minlength=n_groups).astype(np.float64)
    p_norm = np.sqrt(np.bincount(ids[keep], weights=x[keep] ** 2, minlength=n_groups))
    d_norm = np.sqrt(np.bincount(ids[keep], weights=d[keep] ** 2, minlength=n_groups))
    n_kept = max(int(keep.sum()), 1)
    rms = float(np.sqrt(np.sum(x[keep] ** 2) / n_kept))
    eps = _float_eps(params)
    own = p_norm > eps * np.sqrt(size) * rms
    own &= p_norm > 0
    if rms > 0:
        target = np.where(own, p_norm, np.sqrt(size) * rms)
        point_rms, fallback = int(np.sum(~own)), 0
    else:
        target = np.sqrt(size) * fallback_scale
        point_rms, fallback = 0, n_groups
    factor = np.where(d_norm > 0, target / np.where(d_norm > 0, d_norm, 1.0), 0.0)
    out = np.zeros_like(d)
    out[keep] = d[keep] * factor[ids[keep]]
    info = {
        "normalization": normalization,
        "rule": ("group g rescaled to |theta_g| if |theta_g| > eps sqrt(n_g) rms(theta) (own), "
                 "else sqrt(n_g) rms(theta) (point_rms), or sqrt(n_g) * fallback_scale at a zero "
                 "point (fallback)"),
        "groups": int(n_groups), "own": int(np.sum(own)), "point_rms": point_rms,
        "fallback": fallback, "point_rms_scale": rms, "fallback_scale": fallback_scale,
        "zero_biases": bool(zero_biases),
    }
    return Direction(_unflat(out, params), name, info)


def _fix_sign(v: np.ndarray) -> np.ndarray:
    """Deterministic sign: the entry of largest magnitude is positive."""
    i = int(np.argmax(np.abs(v)))
    return -v if v[i] < 0 else v


def hessian_directions(loss_fn, params, data, *, k=1, which="bottom", method="dense", key=None,
                       num_steps=None) -> tuple[Direction, ...]:
    """The ``k`` bottom (most negative first) or top (largest first) unit Hessian eigenvectors.

    ``method="dense"`` diagonalizes the full Hessian (:func:`landscape.curvature.hessian_eigh`;
    small networks); ``"lanczos"`` uses :func:`landscape.curvature.extreme_eigenpairs` (needs
    ``key``; ``num_steps`` as there). Each direction's ``info`` holds ``eigenvalue``, ``rank``
    and ``method`` (and the Ritz ``residual`` for Lanczos). Signs: the largest-magnitude entry
    is positive.

    >>> import jax.numpy as jnp
    >>> quad = lambda p, a: 0.5 * jnp.sum(a * p**2)  # Hessian diag(a) everywhere
    >>> a = jnp.array([1.0, 2.0, -3.0])
    >>> (d,) = hessian_directions(quad, jnp.zeros(3), a)
    >>> d.label, d.params.shape
    ('Hessian bottom 1 (|d| = 1, λ = -3)', (3,))
    """
    cv._check_loss_fn(loss_fn)
    n, _, _ = cv._point_info(params, False)
    k = _check_int("k", k, 1, n)
    if which not in _EIGEN_WHICH:
        raise ValueError(f"which={which!r} is not known; expected one of {_EIGEN_WHICH}")
    if method == "dense":
        if key is not None or num_steps is not None:
            raise ValueError("key and num_steps are only used by method='lanczos'")
        lam, vecs = jax.device_get(cv.hessian_eigh(loss_fn, params, data))
        order = np.arange(k) if which == "bottom" else np.arange(n - 1, n - 1 - k, -1)
        pairs = [(float(lam[i]), np.asarray(vecs[:, i], np.float64), None) for i in order]
    elif method == "lanczos":
        res = jax.device_get(cv.extreme_eigenpairs(loss_fn, params, data, k=k, key=key,
                                                   num_steps=num_steps))
        ritz = res.smallest if which == "bottom" else res.largest
        pairs = [(float(ritz.values[i]), np.asarray(ritz.vectors[:, i], np.float64),
                  float(ritz.residuals[i])) for i in range(k)]
    else:
        raise ValueError(f"method={method!r} is not known; expected one of {_EIGEN_METHODS}")
    out = []
    for rank, (lam_i, vec, resid) in enumerate(pairs):
        info = {"eigenvalue": lam_i, "rank": rank, "which": which, "method": method}
        if resid is not None:
            info["residual"] = resid
        out.append(Direction(_unflat(_fix_sign(vec), params), f"Hessian {which} {rank + 1}", info))
    return tuple(out)


@dataclasses.dataclass(frozen=True, eq=False)
class PCA:
    """Principal components of a trajectory (see :func:`pca_directions`).

    directions: ``k`` unit :class:`Direction` s, by decreasing variance.
    explained_variance_ratio: ``(k,)``: share of the total squared deviation of the trajectory
        from ``origin`` along each component (sums to 1 when the trajectory lies in their span).
    singular_values: ``(k,)``.
    origin: the params the deviations are taken from (last or mean point).
    coords: ``(T, k)``: the trajectory's coordinates along the components.
    """

    directions: tuple[Direction, ...]
    explained_variance_ratio: np.ndarray
    singular_values: np.ndarray
    origin: Any
    coords: np.ndarray


def pca_directions(trajectory, *, k=2, origin="last") -> PCA:
    """PCA of a recorded trajectory (pytree, leaves ``(T, ...)``, e.g. ``result.trajectory``
    indexed at one run), the directions of Li et al. 2018 for plotting optimization paths.

    Deviations ``theta_t - origin`` with ``origin="last"`` (the final point, as Li et al.) or
    ``"mean"`` are decomposed by an SVD in float64; component ``i`` has unit norm and is signed
    so that the first point's coordinate is non-negative. Returns :class:`PCA`
    (``coords (T, k)``).

    >>> import jax.numpy as jnp
    >>> trajectory = jnp.outer(jnp.arange(4.0), jnp.array([1.0, 1.0]))  # (T, n) = (4, 2)
    >>> pca = pca_directions(trajectory, k=1, origin="mean")
    >>> pca.explained_variance_ratio.round(4).tolist(), pca.coords.round(3).tolist()
    ([1.0], [[2.121], [0.707], [-0.707], [-2.121]])
    """
    leaves = float_leaves(trajectory, "trajectory")
    if any(np.ndim(leaf) < 1 for leaf in leaves) or len({np.shape(leaf)[0] for leaf in leaves}) != 1:
        raise ValueError("trajectory leaves must share a leading (record) axis")
    x = _flat_batch64(trajectory)
    t, n = x.shape
    if t < 2:
        raise ValueError(f"trajectory has {t} record(s); PCA needs at least 2")
    k = _check_int("k", k, 1, min(t, n))
    if origin == "last":
        x0 = x[-1]
    elif origin == "mean":
        x0 = x.mean(axis=0)
    else:
        raise ValueError(f"origin={origin!r} is not known; expected one of {_PCA_ORIGINS}")
    dev = x - x0
    _, s, vt = np.linalg.svd(dev, full_matrices=False)
    total = float(np.sum(s**2))
    if total == 0:
        raise ValueError("the trajectory does not move (all records equal): no principal components")
    like = jax.tree.map(lambda leaf: leaf[0], trajectory)
    comps = []
    for i in range(k):
        v = vt[i]
        if dev[0] @ v < 0:
            v = -v
        comps.append(v)
    comps = np.stack(comps)
    ratio = s[:k] ** 2 / total
    dirs = tuple(Direction(_unflat(comps[i], like), f"PC{i + 1}",
                           {"explained_variance": float(ratio[i]), "origin": origin})
                 for i in range(k))
    return PCA(dirs, ratio, s[:k], _unflat(x0, like), dev @ comps.T)


def _check_model(model):
    if not isinstance(model, Model):
        raise TypeError(f"model={model!r} must be a landscape Model, e.g. landscape.mlp([2, 2, 1])")


def symmetric_descent_direction(loss_fn, params, data, *, model, fallback=None,
                                grad_tol=None) -> Direction:
    """The unit direction of steepest descent inside the symmetric subspace at ``params``:
    ``-P_sym grad / |P_sym grad|`` (:func:`landscape.symmetry.project_symmetric`).

    Where that projected gradient is at most ``grad_tol`` (default ``sqrt(eps)`` of the params'
    dtype, the curvature module's criticality tolerance) the point is (numerically) critical in
    the subspace and the descent direction is not defined; then ``fallback`` (a direction, e.g.
    the displacement along the constant-start trajectory) projected on the subspace is used, or
    a ValueError says so. ``info``: ``source`` (``"gradient"`` or ``"fallback"``),
    ``symmetric_grad_norm``, ``grad_norm``.

    >>> import jax, landscape as ls
    >>> model = ls.mlp([2, 2, 1])
    >>> params = ls.inits.constant(model, 0.5)(jax.random.key(0))  # the symmetric start
    >>> d = symmetric_descent_direction(ls.objectives.loss(model), params, ls.datasets.xor(),
    ...                                 model=model)
    >>> d.info["source"], round(d.norm, 6)
    ('gradient', 1.0)
    """
    cv._check_loss_fn(loss_fn)
    _check_model(model)
    float_leaves(params, "params")
    grad_tol = cv._check_tol("grad_tol", grad_tol, math.sqrt(_float_eps(params)))
    g = jax.grad(loss_fn)(params, data)
    gs = _flat64(symmetry.project_symmetric(g, model=model))
    gnorm, snorm = float(np.linalg.norm(_flat64(g))), float(np.linalg.norm(gs))
    info = {"symmetric_grad_norm": snorm, "grad_norm": gnorm}
    if snorm > grad_tol:
        return Direction(_unflat(-gs / snorm, params), "symmetric descent", {**info, "source": "gradient"})
    if fallback is None:
        raise ValueError(f"the symmetric part of the gradient is {snorm:.3g} <= grad_tol={grad_tol:.3g}: "
                         "the point is critical in the symmetric subspace; pass fallback= (e.g. the "
                         "constant-start trajectory's displacement) to choose the symmetric direction")
    fb, _ = _direction(fallback, params, "fallback")
    fs = _flat64(symmetry.project_symmetric(fb, model=model))
    fnorm = float(np.linalg.norm(fs))
    if fnorm == 0:
        raise ValueError("fallback has no component in the symmetric subspace")
    return Direction(_unflat(fs / fnorm, params), "symmetric direction", {**info, "source": "fallback"})


def breaking_directions(loss_fn, params, data, *, model, k=1) -> tuple[Direction, ...]:
    """The ``k`` most unstable symmetry-breaking directions at ``params``: unit eigenvectors of
    the Hessian restricted to the symmetry-breaking subspace
    (:func:`landscape.symmetry.breaking_basis`, :func:`landscape.curvature.restricted_hessian`),
    ascending eigenvalue (most negative first). ``info``: ``eigenvalue``, ``rank``.

    >>> import jax, landscape as ls
    >>> model = ls.mlp([2, 2, 1])
    >>> params = ls.inits.constant(model, 0.5)(jax.random.key(0))  # the symmetric start
    >>> (mode,) = breaking_directions(ls.objectives.loss(model), params, ls.datasets.xor(),
    ...                               model=model)
    >>> mode.name, round(mode.norm, 6), mode.params[0]["w"].shape
    ('breaking mode 1', 1.0, (2, 2))
    """
    cv._check_loss_fn(loss_fn)
    _check_model(model)
    float_leaves(params, "params")
    dtype = jnp.result_type(*[leaf.dtype for leaf in jax.tree_util.tree_leaves(params)])
    q = symmetry.breaking_basis(model, dtype=dtype)
    if q.shape[1] == 0:
        raise ValueError(f"model {list(model.sizes)} has no symmetry-breaking directions (no hidden "
                         "layer with two or more units)")
    k = _check_int("k", k, 1, q.shape[1])
    hb = np.asarray(cv.restricted_hessian(loss_fn, params, data, q), np.float64)
    lam, u = np.linalg.eigh(0.5 * (hb + hb.T))
    vecs = np.asarray(q, np.float64) @ u[:, :k]
    return tuple(Direction(_unflat(_fix_sign(vecs[:, i]), params), f"breaking mode {i + 1}",
                           {"eigenvalue": float(lam[i]), "rank": i}) for i in range(k))


def difference_direction(a, b, *, name="b - a") -> Direction:
    """``b - a`` (not normalized: ``a + 1 * d = b``), e.g. from one minimum to another.

    >>> import jax.numpy as jnp
    >>> d = difference_direction(jnp.zeros(2), jnp.array([3.0, 4.0]))
    >>> d.params.tolist(), d.norm
    ([3.0, 4.0], 5.0)
    """
    float_leaves(a, "a")
    _check_like("b", b, a, "a")
    return Direction(jax.tree.map(lambda x, y: y - x, a, b), name, {})


def orthonormalize(*directions, keep_norms=False) -> tuple[Direction, ...]:
    """Gram-Schmidt (twice, in float64) on the flattened directions, in the order given.

    Returns unit directions spanning the same nested subspaces; with ``keep_norms=True`` each
    keeps its input's norm instead (orthogonal, not orthonormal). Names are kept; ``info`` gains
    ``input_norm``. Linearly dependent inputs raise ValueError.

    >>> import jax.numpy as jnp
    >>> first, second = orthonormalize(jnp.array([2.0, 0.0]), jnp.array([1.0, 1.0]))
    >>> first.params.tolist(), second.params.tolist(), round(second.info["input_norm"], 4)
    ([1.0, 0.0], [0.0, 1.0], 1.4142)
    """
    if not directions:
        raise ValueError("orthonormalize needs at least one direction")
    first = directions[0].params if isinstance(directions[0], Direction) else directions[0]
    float_leaves(first, "directions[0]")
    trees = [_direction(d, first, f"directions[{i}]") for i, d in enumerate(directions)]
    basis, out = [], []
    for i, (tree, d) in enumerate(trees):
        v = _flat64(tree)
        norm = float(np.linalg.norm(v))
        if norm == 0:
            raise ValueError(f"directions[{i}] is zero")
        w = v.copy()
        for _ in range(2):
            for q in basis:
                w -= (q @ w) * q
        rest = float(np.linalg.norm(w))
        if rest <= 1e3 * np.finfo(np.float64).eps * norm * max(len(basis), 1) ** 0.5 or rest <= 1e-8 * norm:
            raise ValueError(f"directions[{i}] is (numerically) a combination of the earlier ones: "
                             f"its part orthogonal to them has norm {rest:.3g} of {norm:.3g}")
        q = w / rest
        basis.append(q)
        out.append(Direction(_unflat(q * (norm if keep_norms else 1.0), first), d.name,
                             {**d.info, "input_norm": norm, "orthonormalized": True}))
    return tuple(out)


# --------------------------------------------------------------------------------------------
# metrics


@dataclasses.dataclass(frozen=True)
class _GradNorm:
    loss_fn: Callable
    name: str = "|grad|"

    def __call__(self, params, data):
        g = jax.grad(self.loss_fn)(params, data)
        return jnp.sqrt(sum(jnp.sum(x * x) for x in jax.tree_util.tree_leaves(g)))

    @property
    def can_batch(self):
        return isinstance(self.loss_fn, Loss)

    def batched(self, params, data):
        """Trailing point axis: runs are independent, so the gradient of the summed loss is the
        per-point gradient."""
        g = jax.grad(lambda p: jnp.sum(self.loss_fn.batched(p, data)))(params)
        return jnp.sqrt(sum(jnp.sum(x * x, axis=tuple(range(x.ndim - 1)))
                            for x in jax.tree_util.tree_leaves(g)))


@dataclasses.dataclass(frozen=True)
class _MinEigenvalue:
    loss_fn: Callable
    name: str = "λ_min"

    def __call__(self, params, data):
        x, unravel = ravel_pytree(params)
        h = jax.hessian(lambda y: self.loss_fn(unravel(y), data))(x)
        return jnp.linalg.eigvalsh(0.5 * (h + h.T))[0]

    can_batch = False

    @staticmethod
    def floats_per_point(n_params):
        return 6 * n_params * n_params + 64


@dataclasses.dataclass(frozen=True)
class _Accuracy:
    model: Any
    threshold: float
    name: str = "accuracy"

    def _score(self, out, y):
        if out.shape[1] == 1:
            correct = (out[:, 0] > self.threshold) == (y[:, 0] > self.threshold)
        else:
            correct = jnp.argmax(out, axis=1) == jnp.argmax(y, axis=1)
        return jnp.mean(correct.astype(out.dtype), axis=0)

    def __call__(self, params, data):
        x, y = data
        return self._score(self.model.apply(params, x), y)

    can_batch = True

    def batched(self, params, data):
        x, y = data
        return self._score(self.model.apply_batched(params, x), y[..., None])


def grad_norm(loss_fn) -> Callable:
    """Metric ``|grad loss_fn(params, data)|`` (Euclidean, over all params): a scalar per point.

    >>> import jax.numpy as jnp
    >>> quad = lambda p, a: 0.5 * jnp.sum(a * p**2)
    >>> float(grad_norm(quad)(jnp.ones(2), jnp.array([3.0, 4.0])))
    5.0
    """
    _check_metric(loss_fn, "loss_fn")
    return _GradNorm(loss_fn)


def min_eigenvalue(loss_fn) -> Callable:
    """Metric: the smallest eigenvalue of the dense Hessian of ``loss_fn`` (small networks:
    ``n_params^2`` memory per point, which the default chunk size accounts for).

    >>> import jax.numpy as jnp
    >>> quad = lambda p, a: 0.5 * jnp.sum(a * p**2)  # Hessian diag(a) everywhere
    >>> a = jnp.array([1.0, 2.0, -3.0])
    >>> float(min_eigenvalue(quad)(jnp.zeros(3), a))
    -3.0
    """
    _check_metric(loss_fn, "loss_fn")
    return _MinEigenvalue(loss_fn)


def accuracy(model, threshold=0.5) -> Callable:
    """Metric: fraction of samples of ``data = (x, y)`` classified correctly by an MLP ``model``
    (one output: ``output > threshold`` vs ``y > threshold``; several: arg-max).

    >>> import jax, landscape as ls
    >>> model = ls.mlp([2, 2, 1])
    >>> params = ls.inits.constant(model, 0.5)(jax.random.key(0))  # the symmetric start
    >>> float(accuracy(model)(params, ls.datasets.xor()))  # same output for all 4 inputs
    0.5
    """
    _check_model(model)
    return _Accuracy(model, _check_number("threshold", threshold))


def _batched_fn(metric):
    """The point-axis-last form of ``metric``, or None when it has none."""
    if isinstance(metric, (Loss, Criterion)):
        return metric.batched
    if isinstance(metric, (_GradNorm, _MinEigenvalue, _Accuracy)) and metric.can_batch:
        return metric.batched
    return None


def _metric_name(metric) -> str:
    if isinstance(metric, Loss):
        return f"{metric.name} loss"
    if isinstance(metric, Criterion):
        return f"success ({metric.name})"
    return str(getattr(metric, "name", None) or getattr(metric, "__name__", None) or "metric")


def _resolve_method(metric, method):
    method = _check_method(method)
    batched = _batched_fn(metric)
    if method == "batched" and batched is None:
        raise ValueError(f"method='batched' needs a landscape MLP metric (objectives.loss/success, "
                         f"surface.accuracy or surface.grad_norm of an MLP loss); got {metric!r}")
    return "batched" if (method == "batched" or (method == "auto" and batched is not None)) else "vmap"


def _data_floats(data) -> int:
    return sum(int(np.size(leaf)) for leaf in jax.tree_util.tree_leaves(data))


def _point_block(metric, n_params, data, m, chunk_size):
    """Points per block for ``m`` points: at most ``chunk_size``, default within the budget."""
    if chunk_size is None:
        hint = getattr(metric, "floats_per_point", None)
        per = int(hint(n_params)) if callable(hint) else 4 * n_params + 8 * _data_floats(data) + 64
        chunk_size = max(1, _CHUNK_FLOATS // per)
    return parallel.point_block(m, chunk_size)


def _along(center, dirs, c, trailing):
    """``center + sum_i c_i d_i``; with ``trailing`` the coordinates ``c: (k, m)`` add a last axis."""
    def leaf(p0, *ds):
        if trailing:
            return p0[..., None] + sum(d.astype(p0.dtype)[..., None] * c[i].astype(p0.dtype)
                                       for i, d in enumerate(ds))
        return p0 + sum(c[i].astype(p0.dtype) * d.astype(p0.dtype) for i, d in enumerate(ds))
    return jax.tree.map(leaf, center, *dirs)


def _slice_impl(center, dirs, coords, data, *, metric, block, mesh, batched):
    dtype = jnp.result_type(*[leaf.dtype for leaf in jax.tree_util.tree_leaves(center)])
    if batched:
        fn = _batched_fn(metric)
        per_block = lambda cs, center, dirs, data: fn(_along(center, dirs, cs.T, True), data)  # noqa: E731
    else:
        per_block = jax.vmap(lambda c, center, dirs, data: metric(_along(center, dirs, c, False), data),
                             in_axes=(0, None, None, None))
    values = parallel.map_blocks(per_block, coords, (center, dirs, data), block=block, mesh=mesh)
    return values.astype(dtype), metric(center, data).astype(dtype)


def _points_impl(params, data, *, metric, block, mesh, batched):
    dtype = jnp.result_type(*[leaf.dtype for leaf in jax.tree_util.tree_leaves(params)])
    if batched:
        fn = _batched_fn(metric)
        per_block = lambda p, data: fn(jax.tree.map(lambda a: jnp.moveaxis(a, 0, -1), p), data)  # noqa: E731
    else:
        per_block = jax.vmap(lambda p, data: metric(p, data), in_axes=(0, None))
    return parallel.map_blocks(per_block, params, (data,), block=block, mesh=mesh).astype(dtype)


@functools.lru_cache(maxsize=None)
def _program(kind: str, batched: bool):
    """One jitted program per (kind, method); the metric, block and mesh are static arguments."""
    options = None
    if batched and jax.default_backend() == "cpu":
        # as in train.py: XLA's experimental CPU fusion slows the point-axis-last program down
        options = {"xla_cpu_experimental_ynn_fusion_type": ""}
    impl = {"slice": _slice_impl, "points": _points_impl}[kind]
    return jax.jit(functools.partial(impl, batched=batched),
                   static_argnames=("metric", "block", "mesh"), compiler_options=options)


def _dtype_of(leaf):
    dtype = getattr(leaf, "dtype", None)
    return np.dtype(dtype) if dtype is not None else np.asarray(leaf).dtype


def _abstract(tree):
    leaves, treedef = jax.tree_util.tree_flatten(tree)
    return treedef, tuple((tuple(np.shape(leaf)), _dtype_of(leaf)) for leaf in leaves)


@functools.lru_cache(maxsize=256)
def _scalar_check(metric, params_abstract, data_abstract):
    def structs(abstract):
        treedef, specs = abstract
        return jax.tree_util.tree_unflatten(treedef, [jax.ShapeDtypeStruct(s, d) for s, d in specs])

    try:
        out = jax.eval_shape(metric, structs(params_abstract), structs(data_abstract))
    except Exception as err:
        raise ValueError(f"metric(params, data) failed on these params and data: {err}") from err
    if getattr(out, "shape", None) != ():
        raise ValueError(f"metric(params, data) must return a scalar, got shape "
                         f"{getattr(out, 'shape', out)}")


def _check_scalar_metric(metric, params, data):
    """``metric(params, data)`` must trace to a scalar (checked once per metric and shapes)."""
    _scalar_check(metric, _abstract(params), _abstract(data))


def _evaluate_along(metric, center, dirs, coords, data, chunk_size, method, mesh, *,
                    with_center=False):
    """``metric(center + sum_i coords[:, i] d_i)`` for coords ``(m, k)`` (float64): NumPy ``(m,)``
    (and ``metric(center)``, computed in the same program, with ``with_center``)."""
    batched = _resolve_method(metric, method) == "batched"
    m = coords.shape[0]
    n_params = sum(int(np.size(leaf)) for leaf in jax.tree_util.tree_leaves(center))
    block = _point_block(metric, n_params, data, m, chunk_size)
    dtype = jnp.result_type(*[leaf.dtype for leaf in jax.tree_util.tree_leaves(center)])
    out, center_value = _program("slice", batched)(center, tuple(dirs), coords.astype(dtype), data,
                                                   metric=metric, block=block, mesh=mesh)
    values = np.asarray(out)
    return (values, float(center_value)) if with_center else values


def evaluate_points(metric, params, data, *, chunk_size=None, method="auto",
                    devices=None) -> np.ndarray:
    """``metric(params[i], data)`` for each row of a batch ``params`` (leaves ``(m, ...)``), one
    compiled program in blocks like the slices. Returns NumPy ``(m,)``.

    >>> import jax.numpy as jnp
    >>> quad = lambda p, a: 0.5 * jnp.sum(a * p**2)  # Hessian diag(a) everywhere
    >>> a = jnp.array([1.0, 2.0, -3.0])
    >>> evaluate_points(quad, jnp.eye(3), a).tolist()  # the 3 unit vectors
    [0.5, 1.0, -1.5]
    """
    _check_metric(metric)
    leaves = float_leaves(params, "params")
    if any(np.ndim(leaf) < 1 for leaf in leaves) or len({np.shape(leaf)[0] for leaf in leaves}) != 1:
        raise ValueError("params of evaluate_points must share a leading batch axis on every leaf")
    chunk_size = _check_chunk(chunk_size)
    mesh = parallel.local_mesh(devices)
    batched = _resolve_method(metric, method) == "batched"
    one = jax.tree.map(lambda a: a[0], params)
    _check_scalar_metric(metric, one, data)
    m = np.shape(leaves[0])[0]
    n_params = sum(int(np.size(leaf)) for leaf in jax.tree_util.tree_leaves(one))
    block = _point_block(metric, n_params, data, m, chunk_size)
    out = _program("points", batched)(params, data, metric=metric, block=block, mesh=mesh)
    return np.asarray(out)


# --------------------------------------------------------------------------------------------
# slices


@dataclasses.dataclass(frozen=True, eq=False)
class Slice1D:
    """``values[i] = metric(center + ts[i] * d)``; ``center_value = metric(center)``, the metric
    at the center itself (not through the grid formula; a sanity check against the grid's value at
    ``t = 0`` and the training loss there)."""

    ts: np.ndarray
    values: np.ndarray
    center_value: float
    direction: Direction
    metric_name: str

    @property
    def xlabel(self) -> str:
        return self.direction.label


class _PlaneLabels:
    """Axis labels of a result laid out on the plane of directions ``d1`` and ``d2``."""

    @property
    def xlabel(self) -> str:
        return self.d1.label

    @property
    def ylabel(self) -> str:
        return self.d2.label


@dataclasses.dataclass(frozen=True, eq=False)
class Slice2D(_PlaneLabels):
    """``values[i, j] = metric(center + alphas[i] d1 + betas[j] d2)``, shape
    ``(len(alphas), len(betas))`` (``indexing="ij"``: transpose for ``contourf(alphas, betas, .)``);
    ``center_value = metric(center)``, the metric at the center itself (not through the grid)."""

    alphas: np.ndarray
    betas: np.ndarray
    values: np.ndarray
    center_value: float
    d1: Direction
    d2: Direction
    metric_name: str


def slice_1d(metric, center, data, direction, ts, *, chunk_size=None, method="auto",
             devices=None) -> Slice1D:
    """``metric(center + t d, data)`` for every ``t`` in the 1-D grid ``ts`` (one compiled call;
    see the module docstring for chunking and ``method``). Returns :class:`Slice1D`
    (``values`` shaped like ``ts``).

    >>> import jax.numpy as jnp
    >>> quad = lambda p, a: 0.5 * jnp.sum(a * p**2)  # Hessian diag(a) everywhere
    >>> a = jnp.array([1.0, 2.0, -3.0])
    >>> line = slice_1d(quad, jnp.zeros(3), a, jnp.array([1.0, 0.0, 0.0]), [-1.0, 0.0, 1.0])
    >>> line.values.tolist(), line.center_value
    ([0.5, 0.0, 0.5], 0.0)
    """
    _check_metric(metric)
    float_leaves(center, "center")
    d, direction = _direction(direction, center, "direction")
    ts = _grid("ts", ts)
    chunk_size = _check_chunk(chunk_size)
    mesh = parallel.local_mesh(devices)
    _check_method(method)
    _check_scalar_metric(metric, center, data)
    values, center_value = _evaluate_along(metric, center, [d], ts[:, None], data, chunk_size,
                                           method, mesh, with_center=True)
    return Slice1D(ts, values, center_value, direction, _metric_name(metric))


def slice_2d(metric, center, data, d1, d2, alphas, betas, *, chunk_size=None,
             method="auto", devices=None) -> Slice2D:
    """``metric(center + a d1 + b d2, data)`` on the grid ``alphas x betas`` (any lengths), as
    one compiled call chunked to bounded memory. ``values`` has shape
    ``(len(alphas), len(betas))``. Returns :class:`Slice2D`.

    >>> import jax.numpy as jnp
    >>> quad = lambda p, a: 0.5 * jnp.sum(a * p**2)  # Hessian diag(a) everywhere
    >>> a = jnp.array([1.0, 2.0, -3.0])
    >>> d1, d2 = jnp.array([1.0, 0.0, 0.0]), jnp.array([0.0, 0.0, 1.0])
    >>> surface = slice_2d(quad, jnp.zeros(3), a, d1, d2, [-1.0, 0.0, 1.0], [0.0, 1.0])
    >>> surface.values.tolist()  # 0.5 alpha^2 - 1.5 beta^2
    [[0.5, -1.0], [0.0, -1.5], [0.5, -1.0]]
    """
    _check_metric(metric)
    float_leaves(center, "center")
    t1, d1 = _direction(d1, center, "d1")
    t2, d2 = _direction(d2, center, "d2")
    alphas, betas = _grid("alphas", alphas), _grid("betas", betas)
    chunk_size = _check_chunk(chunk_size)
    mesh = parallel.local_mesh(devices)
    _check_method(method)
    _check_scalar_metric(metric, center, data)
    a, b = np.meshgrid(alphas, betas, indexing="ij")
    coords = np.stack([a.ravel(), b.ravel()], axis=1)
    values, center_value = _evaluate_along(metric, center, [t1, t2], coords, data, chunk_size,
                                           method, mesh, with_center=True)
    return Slice2D(alphas, betas, values.reshape(len(alphas), len(betas)), center_value, d1, d2,
                   _metric_name(metric))


# --------------------------------------------------------------------------------------------
# paths


@dataclasses.dataclass(frozen=True, eq=False)
class Interpolation:
    """``values[i] = metric(a + ts[i] (b - a))`` with the ends and the barrier.

    start_value, end_value: the metric at ``t = 0`` and ``t = 1`` (same formula as the path).
    barrier: ``max over t in [0, 1] (grid and ends) - max(start_value, end_value)`` (>= 0).
    t_max, value_max: where the maximum over ``[0, 1]`` is attained and its value.
    """

    ts: np.ndarray
    values: np.ndarray
    start_value: float
    end_value: float
    barrier: float
    t_max: float
    value_max: float
    metric_name: str
    names: tuple[str, str] = ("a", "b")


def interpolate(metric, a, b, data, *, ts=None, num=51, names=("a", "b"), chunk_size=None,
                method="auto", devices=None) -> Interpolation:
    """The metric along the straight line from ``a`` to ``b`` and its barrier height.

    ``ts`` defaults to ``linspace(0, 1, num)``; values of ``t`` outside ``[0, 1]``
    (extrapolation) are evaluated but do not count for the barrier. Returns
    :class:`Interpolation` (``values`` shaped like ``ts``).

    >>> import jax.numpy as jnp
    >>> quad = lambda p, a: 0.5 * jnp.sum(a * p**2)
    >>> path = interpolate(quad, jnp.array([-1.0, 0.0]), jnp.array([1.0, 0.0]),
    ...                    jnp.array([-1.0, 1.0]), num=5)  # -x^2 / 2 from x = -1 to 1
    >>> path.values.tolist(), path.barrier, path.t_max
    ([-0.5, -0.125, 0.0, -0.125, -0.5], 0.5, 0.5)
    """
    _check_metric(metric)
    float_leaves(a, "a")
    _check_like("b", b, a, "a")
    if ts is None:
        ts = np.linspace(0.0, 1.0, _check_int("num", num, 2))
    ts = _grid("ts", ts)
    chunk_size = _check_chunk(chunk_size)
    mesh = parallel.local_mesh(devices)
    _check_method(method)
    _check_scalar_metric(metric, a, data)
    d = jax.tree.map(lambda x, y: y - x, a, b)
    coords = np.concatenate([ts, [0.0, 1.0]])[:, None]
    out = _evaluate_along(metric, a, [d], coords, data, chunk_size, method, mesh)
    values, v0, v1 = out[:-2], float(out[-2]), float(out[-1])
    inside = (ts >= 0) & (ts <= 1)
    cand_t = np.concatenate([ts[inside], [0.0, 1.0]])
    cand_v = np.concatenate([values[inside], [v0, v1]]).astype(np.float64)
    i = int(np.nanargmax(cand_v)) if np.any(np.isfinite(cand_v)) else 0
    top = float(cand_v[i]) if np.all(np.isfinite(cand_v)) else float("nan")
    barrier = top - max(v0, v1)
    return Interpolation(ts, values, v0, v1, float(barrier), float(cand_t[i]), top,
                         _metric_name(metric), tuple(names))


@dataclasses.dataclass(frozen=True, eq=False)
class Plane:
    """The affine plane ``origin + a d1 + b d2``; ``points (p, 2)`` are the plane coordinates of
    named reference points (``point_names``), e.g. the three points of :func:`plane_through`."""

    origin: Any
    d1: Direction
    d2: Direction
    points: np.ndarray = dataclasses.field(default_factory=lambda: np.zeros((0, 2)))
    point_names: tuple[str, ...] = ()

    def coordinates(self, params_batch) -> tuple[np.ndarray, np.ndarray]:
        """Least-squares plane coordinates ``(m, 2)`` of a batch of points (leaves ``(m, ...)``)
        and their off-plane residual norms ``(m,)`` (float64)."""
        _check_batch_like("params_batch", params_batch, self.origin, "the plane's origin")
        x = _flat_batch64(params_batch) - _flat64(self.origin)
        dmat = np.stack([_flat64(self.d1.params), _flat64(self.d2.params)])  # (2, n)
        coef, *_ = np.linalg.lstsq(dmat.T, x.T, rcond=None)  # (2, m)
        resid = np.linalg.norm(x - coef.T @ dmat, axis=1)
        return coef.T, resid


def plane(origin, d1, d2) -> Plane:
    """The plane through ``origin`` along ``d1`` and ``d2`` (not changed: orthonormalize first if
    wanted; they must be linearly independent).

    >>> import jax.numpy as jnp
    >>> pl = plane(jnp.zeros(3), jnp.array([1.0, 0.0, 0.0]), jnp.array([0.0, 1.0, 0.0]))
    >>> coords, residual = pl.coordinates(jnp.array([[1.0, 2.0, 3.0]]))  # a batch of 1 point
    >>> coords.round(6).tolist(), residual.round(6).tolist()
    ([[1.0, 2.0]], [3.0])
    """
    float_leaves(origin, "origin")
    t1, d1 = _direction(d1, origin, "d1")
    t2, d2 = _direction(d2, origin, "d2")
    v1, v2 = _flat64(t1), _flat64(t2)
    gram = np.array([[v1 @ v1, v1 @ v2], [v1 @ v2, v2 @ v2]])
    if np.linalg.matrix_rank(gram, tol=1e-12 * max(gram[0, 0], gram[1, 1], 1e-300)) < 2:
        raise ValueError("d1 and d2 must be linearly independent to span a plane")
    return Plane(origin, d1, d2, np.zeros((1, 2)), ("origin",))


def plane_through(a, b, c, *, names=("a", "b", "c")) -> Plane:
    """The plane through three points: origin ``a``, ``d1 = (b - a) / |b - a|`` and ``d2`` the
    unit part of ``c - a`` orthogonal to ``d1``. ``points`` holds the coordinates of ``a, b, c``
    (``(0, 0)``, ``(|b - a|, 0)``, ...). Collinear points raise ValueError.

    >>> import jax.numpy as jnp
    >>> pl = plane_through(jnp.zeros(3), jnp.array([2.0, 0.0, 0.0]), jnp.array([1.0, 1.0, 0.0]))
    >>> pl.points.tolist(), pl.d2.name
    ([[0.0, 0.0], [2.0, 0.0], [1.0, 1.0]], 'a→c (orth.)')
    """
    float_leaves(a, "a")
    _check_like("b", b, a, "a")
    _check_like("c", c, a, "a")
    if len(names) != 3:
        raise ValueError(f"names={names!r} must name the three points")
    xa, xb, xc = _flat64(a), _flat64(b), _flat64(c)
    u = xb - xa
    nu = float(np.linalg.norm(u))
    if nu == 0:
        raise ValueError("a and b are the same point: no plane through them")
    u = u / nu
    w = xc - xa
    v = w - (u @ w) * u
    v = v - (u @ v) * u
    nv = float(np.linalg.norm(v))
    if nv <= 1e-10 * max(float(np.linalg.norm(w)), nu):
        raise ValueError("a, b and c are (numerically) collinear: they do not define a plane")
    v = v / nv
    points = np.array([[0.0, 0.0], [nu, 0.0], [u @ w, v @ w]])
    return Plane(a, Direction(_unflat(u, a), f"{names[0]}→{names[1]}"),
                 Direction(_unflat(v, a), f"{names[0]}→{names[2]} (orth.)"), points, tuple(names))


@dataclasses.dataclass(frozen=True, eq=False)
class TrajectoryProjection:
    """A trajectory seen in a plane.

    coords: ``(T, 2)`` least-squares plane coordinates; residual: ``(T,)`` off-plane distance.
    true_values: ``(T,)`` the metric at the trajectory's points; plane_values: ``(T,)`` the
    metric at their projections (what a slice shows there); both None without a metric.
    """

    coords: np.ndarray
    residual: np.ndarray
    true_values: np.ndarray | None = None
    plane_values: np.ndarray | None = None
    name: str = "trajectory"
    metric_name: str | None = None


def project_trajectory(plane_, trajectory, *, metric=None, data=None, name="trajectory",
                       chunk_size=None, method="auto", devices=None) -> TrajectoryProjection:
    """Project ``trajectory`` (leaves ``(T, ...)``) onto ``plane_`` (:class:`Plane`).

    With ``metric`` (and ``data``), also the metric along the true path and at the projected
    points, so a reader can see where the plane misleads (large residual, values apart).
    Returns :class:`TrajectoryProjection` (``coords (T, 2)``, the others ``(T,)``).

    >>> import jax.numpy as jnp
    >>> quad = lambda p, a: 0.5 * jnp.sum(a * p**2)  # Hessian diag(a) everywhere
    >>> a = jnp.array([1.0, 2.0, -3.0])
    >>> pl = plane(jnp.zeros(3), jnp.array([1.0, 0.0, 0.0]), jnp.array([0.0, 1.0, 0.0]))
    >>> trajectory = jnp.array([[1.0, 2.0, 0.0], [1.0, 1.0, 1.0]])  # (T, n_params)
    >>> proj = project_trajectory(pl, trajectory, metric=quad, data=a)
    >>> proj.residual.round(6).tolist(), proj.true_values.tolist(), proj.plane_values.tolist()
    ([0.0, 1.0], [4.5, 0.0], [4.5, 1.5])
    """
    if not isinstance(plane_, Plane):
        raise TypeError(f"plane_={plane_!r} must be a surface.Plane (from plane or plane_through)")
    coords, resid = plane_.coordinates(trajectory)
    true_values = plane_values = None
    if metric is not None:
        _check_metric(metric)
        true_values = evaluate_points(metric, trajectory, data, chunk_size=chunk_size, method=method,
                                      devices=devices)
        plane_values = _evaluate_along(metric, plane_.origin, [plane_.d1.params, plane_.d2.params],
                                       coords, data, _check_chunk(chunk_size), method,
                                       parallel.local_mesh(devices))
    return TrajectoryProjection(coords, resid, true_values, plane_values, name,
                                _metric_name(metric) if metric is not None else None)


# --------------------------------------------------------------------------------------------
# basin map


@dataclasses.dataclass(frozen=True, eq=False)
class BasinMap(_PlaneLabels):
    """Where training from each point of a 2D slice ends (arrays ``(len(alphas), len(betas))``).

    labels: int class of each run's end, names in ``label_names`` (from ``classify``, or final
        loss levels; runs that became non-finite get the last class ``"nonfinite"`` if any).
    final_loss: loss at the end; status: codes into :data:`landscape.train.STATUS_NAMES`.
    start_values: the loss at the grid points (the slice itself).
    flow: ``(len(alphas), len(betas), 2)``: the negative gradient at the grid points, projected
        on the plane, in plane coordinates (for a quiver).
    final_params: pytree, leaves ``(len(alphas) * len(betas), ...)`` in row-major ``(i, j)`` order.
    labelled_by: ``"classify"`` or ``"loss level"``; steps: training steps per run.
    """

    alphas: np.ndarray
    betas: np.ndarray
    labels: np.ndarray
    label_names: tuple[str, ...]
    final_loss: np.ndarray
    status: np.ndarray
    start_values: np.ndarray
    flow: np.ndarray
    final_params: Any
    d1: Direction
    d2: Direction
    labelled_by: str
    steps: int


def _starts_and_slopes_impl(center, dirs, coords, data, *, loss_fn, block, mesh):
    """The points ``center + c_0 d_0 + c_1 d_1`` for the rows ``c`` of ``coords (m, 2)`` (leaves
    ``(m, ...)``) and the loss's slopes there along the directions, ``d/dc loss_fn(point, data)``
    (the gradient's components ``D g``): ``(m, 2)``, computed in blocks."""
    point = lambda c, center, dirs: _along(center, dirs, c, False)  # noqa: E731
    slope = jax.grad(lambda c, center, dirs, data: loss_fn(point(c, center, dirs), data))
    per_block = jax.vmap(slope, in_axes=(0, None, None, None))
    slopes = parallel.map_blocks(per_block, coords, (center, dirs, data), block=block, mesh=mesh)
    return jax.vmap(point, in_axes=(0, None, None))(coords, center, dirs), slopes


_starts_and_slopes = jax.jit(_starts_and_slopes_impl, static_argnames=("loss_fn", "block", "mesh"))


def _loss_levels(final_loss, ok, levels):
    """Labels by final-loss level: bins between the increasing thresholds ``levels``."""
    if levels is None:
        good = final_loss[ok & np.isfinite(final_loss) & (final_loss > 0)]
        if good.size == 0:
            levels = np.array([1.0])
        else:
            hi = int(np.ceil(np.log10(good.max())))
            lo = max(int(np.floor(np.log10(good.min()))), hi - _MAX_LEVELS)
            levels = 10.0 ** np.arange(lo + 1, hi) if hi - lo >= 2 else np.array([10.0 ** hi])
    levels = np.asarray(levels, np.float64)
    if levels.ndim != 1 or levels.size == 0 or np.any(np.diff(levels) <= 0) or not np.all(np.isfinite(levels)):
        raise ValueError(f"loss_levels={levels!r} must be a non-empty increasing 1-D array of thresholds")
    labels = np.searchsorted(levels, final_loss, side="right")
    fmt = lambda v: f"{v:.3g}"  # noqa: E731
    names = [f"loss < {fmt(levels[0])}"]
    names += [f"{fmt(lo)} ≤ loss < {fmt(hi)}" for lo, hi in zip(levels[:-1], levels[1:])]
    names.append(f"loss ≥ {fmt(levels[-1])}")
    return labels, names


def basin_map(loss_fn, center, data, d1, d2, alphas, betas, *, optimizer, steps, classify=None,
              label_names=None, loss_levels=None, chunk_size=None, method="auto",
              devices=None, progress=None) -> BasinMap:
    """Train from every point ``center + a d1 + b d2`` of the grid and label where each run ends.

    The grid points are the ``starts`` of one :func:`landscape.train_many` call: full-batch
    training with ``optimizer`` (any optax transformation) for ``steps`` steps, a run whose loss
    or gradient becomes non-finite frozen there with status ``nonfinite``. ``chunk_size`` (runs
    per compiled call, all devices together), ``method`` (``"auto"``, ``"vmap"`` or
    ``"batched"``: the trainer's run-axis-last path for an MLP loss of
    :func:`landscape.objectives.loss`), ``devices`` and ``progress`` are ``train_many``'s; the
    numbers do not depend on the chunk size or the devices.

    Labels: ``classify(final_params) -> (m,) int`` when given (e.g. the minima module's
    clustering; ``final_params`` leaves ``(m, ...)``, row-major over the grid; names from
    ``label_names`` or ``classify.label_names`` or the codes), else final-loss levels: bins
    between the thresholds ``loss_levels`` (default: the decades spanned by the final losses, at
    most 8). Non-finite runs get an extra last class ``"nonfinite"``.

    >>> import jax.numpy as jnp, numpy as np, optax
    >>> wells = lambda p, _: (p[0] ** 2 - 1) ** 2 + p[1] ** 2  # minima at (+-1, 0)
    >>> bm = basin_map(wells, jnp.zeros(2), None, jnp.array([1.0, 0.0]), jnp.array([0.0, 1.0]),
    ...                np.linspace(-1.5, 1.5, 4), np.linspace(-1, 1, 3), optimizer=optax.sgd(0.05),
    ...                steps=300, classify=lambda p: (np.asarray(p)[:, 0] > 0).astype(int))
    >>> bm.labels.tolist()  # rows: alphas; the line a = 0 splits the two basins
    [[0, 0, 0], [0, 0, 0], [1, 1, 1], [1, 1, 1]]
    """
    cv._check_loss_fn(loss_fn)
    float_leaves(center, "center")
    t1, d1 = _direction(d1, center, "d1")
    t2, d2 = _direction(d2, center, "d2")
    alphas, betas = _grid("alphas", alphas), _grid("betas", betas)
    if not (hasattr(optimizer, "init") and hasattr(optimizer, "update")):
        raise TypeError(f"optimizer={optimizer!r} must be an optax GradientTransformation, e.g. optax.sgd(0.5)")
    steps = _check_int("steps", steps, 1)
    chunk_size = _check_chunk(chunk_size)
    mesh = parallel.local_mesh(devices)
    if classify is not None and not callable(classify):
        raise TypeError(f"classify={classify!r} must be callable as classify(params_batch) -> labels")
    _check_method(method)
    if method == "batched" and not isinstance(loss_fn, Loss):
        raise ValueError(f"method='batched' needs an MLP loss from landscape.objectives.loss; got {loss_fn!r}")
    _check_scalar_metric(loss_fn, center, data)

    a, b = np.meshgrid(alphas, betas, indexing="ij")
    dtype = jnp.result_type(*[leaf.dtype for leaf in jax.tree_util.tree_leaves(center)])
    coords = jnp.asarray(np.stack([a.ravel(), b.ravel()], axis=1), dtype)
    m = coords.shape[0]
    n_params = sum(int(np.size(leaf)) for leaf in jax.tree_util.tree_leaves(center))
    block = _point_block(loss_fn, n_params, data, m, None)
    starts, slopes = _starts_and_slopes(center, (t1, t2), coords, data, loss_fn=loss_fn, block=block,
                                        mesh=mesh)
    run = train_many(loss_fn, None, optimizer, data, starts=starts, steps=steps, record_every=steps,
                     chunk_size=chunk_size, method=method, devices=devices, progress=progress)
    final_params, final_loss, start_loss = run.params, run.final_loss, run.losses[:, 0]
    alive = run.status == STATUS_OK

    if classify is not None:
        labels = np.asarray(classify(final_params))
        if labels.shape != (m,) or not np.issubdtype(labels.dtype, np.integer):
            raise ValueError(f"classify(final_params) must return {m} integer labels (shape ({m},)); "
                             f"got shape {labels.shape}, dtype {labels.dtype}")
        if labels.size and labels.min() < 0:
            raise ValueError("classify(final_params) returned negative labels; expected codes >= 0")
        names = label_names or getattr(classify, "label_names", None)
        top = int(labels.max()) + 1 if labels.size else 0
        names = list(names) if names is not None else [str(i) for i in range(top)]
        if len(names) < top:
            raise ValueError(f"label_names has {len(names)} names but classify returned code {top - 1}")
        labelled_by = "classify"
    else:
        labels, names = _loss_levels(final_loss, alive, loss_levels)
        labelled_by = "loss level"
    labels = labels.astype(np.int64)
    if not np.all(alive):
        labels = np.where(alive, labels, len(names))
        names = list(names) + ["nonfinite"]

    # negative gradient at the starts, projected on the plane, in plane coordinates: the
    # least-squares solution of D^T f = -g is f = -(D D^T)^-1 D g, and D g are the slopes
    dmat = np.stack([_flat64(t1), _flat64(t2)])
    flow = -np.linalg.solve(dmat @ dmat.T, np.asarray(slopes, np.float64).T).T

    shape = (len(alphas), len(betas))
    return BasinMap(alphas, betas, labels.reshape(shape), tuple(names), final_loss.reshape(shape),
                    run.status.reshape(shape), start_loss.reshape(shape), flow.reshape(shape + (2,)),
                    final_params, d1, d2, labelled_by, steps)


# --------------------------------------------------------------------------------------------
# the symmetric-equilibrium view


@dataclasses.dataclass(frozen=True, eq=False)
class SymmetricView:
    """The surface around the symmetric equilibrium (see :func:`symmetric_view`).

    plane: origin at the equilibrium, ``d1`` the symmetric direction, ``d2`` the most unstable
    breaking direction (``d2.info["eigenvalue"]`` its curvature). surface: :class:`Slice2D` on
    that plane. constant: projection of the constant-start trajectory (or None); random: those
    of the random-start trajectories. equilibrium_loss: the loss at the origin.
    """

    plane: Plane
    surface: Slice2D
    constant: TrajectoryProjection | None
    random: tuple[TrajectoryProjection, ...]
    breaking_eigenvalue: float
    symmetric_source: str
    equilibrium_loss: float


def _trajectories(value, name):
    """A pytree with leaves ``(k, T, ...)`` (or a TrainResult's ``trajectory``)."""
    if value is None:
        return None
    traj = getattr(value, "trajectory", value)
    if traj is None:
        raise ValueError(f"{name} has no recorded trajectory (train with trajectory_runs=...)")
    return traj


def _extent(values, margin):
    lo, hi = float(np.min(values)), float(np.max(values))
    lo, hi = min(lo, 0.0), max(hi, 0.0)
    span = hi - lo
    if span == 0:
        span = 1.0
    return lo - margin * span, hi + margin * span


def symmetric_view(loss_fn, equilibrium, data, *, model, constant_trajectory=None,
                   random_trajectories=None, alphas=None, betas=None, num=101, margin=0.15,
                   grad_tol=None, chunk_size=None, method="auto", devices=None) -> SymmetricView:
    """The plane through the symmetric equilibrium that shows why a constant start stays stuck.

    ``equilibrium`` is the end of a trained-from-constant run (or the symmetric equilibrium of
    :mod:`landscape.symmetry`); ``None`` takes the last point of ``constant_trajectory``. The
    plane is spanned by ``d1`` = :func:`symmetric_descent_direction` there (falling back to the
    constant trajectory's displacement, last minus first point, when the symmetric gradient
    vanishes) and ``d2`` = the most unstable :func:`breaking_directions` mode (both unit).

    ``constant_trajectory``: leaves ``(T, ...)``; ``random_trajectories``: leaves ``(k, T, ...)``
    (or a :class:`landscape.TrainResult` recorded with ``trajectory_runs``). Both are projected
    with their true loss and off-plane residual. The grid (``num`` points per axis) spans the
    projected trajectories and the origin with a relative ``margin`` unless ``alphas``/``betas``
    are given. Returns :class:`SymmetricView`; draw it with
    :func:`landscape.plotting.plot_symmetric_view`.

    >>> import jax, landscape as ls
    >>> model = ls.mlp([2, 2, 1])
    >>> params = ls.inits.constant(model, 0.5)(jax.random.key(0))  # the symmetric start
    >>> view = symmetric_view(ls.objectives.loss(model), params, ls.datasets.xor(), model=model,
    ...                       num=5)  # params: in practice the end of a constant-start run
    >>> view.surface.values.shape, view.symmetric_source, view.plane.d2.name
    ((5, 5), 'gradient', 'breaking mode 1')
    """
    cv._check_loss_fn(loss_fn)
    _check_model(model)
    const = _trajectories(constant_trajectory, "constant_trajectory")
    if const is not None and hasattr(constant_trajectory, "trajectory"):
        const = jax.tree.map(lambda a: a[0], const)  # first recorded run of a TrainResult
    rand = _trajectories(random_trajectories, "random_trajectories")
    if equilibrium is None:
        if const is None:
            raise ValueError("equilibrium=None needs constant_trajectory (its last point is used)")
        equilibrium = jax.tree.map(lambda a: a[-1], const)
    float_leaves(equilibrium, "equilibrium")
    num = _check_int("num", num, 2)
    margin = _check_number("margin", margin)
    parallel.local_devices(devices)  # checked before the work below
    if const is not None:
        _check_batch_like("constant_trajectory", const, equilibrium, "equilibrium")
    n_random = 0
    if rand is not None:
        n_random = _check_batch_like("random_trajectories", jax.tree.map(lambda a: a[:, 0], rand),
                                     equilibrium, "equilibrium")
    fallback = None
    if const is not None:
        fallback = jax.tree.map(lambda a: a[-1] - a[0], const)
        if float(np.linalg.norm(_flat64(fallback))) == 0:
            fallback = None
    d1 = symmetric_descent_direction(loss_fn, equilibrium, data, model=model, fallback=fallback,
                                     grad_tol=grad_tol)
    (d2,) = breaking_directions(loss_fn, equilibrium, data, model=model, k=1)
    pl = Plane(equilibrium, d1, d2, np.zeros((1, 2)), ("equilibrium",))
    proj_const = (project_trajectory(pl, const, metric=loss_fn, data=data, name="constant start",
                                     chunk_size=chunk_size, method=method, devices=devices)
                  if const is not None else None)
    proj_rand = tuple(
        project_trajectory(pl, jax.tree.map(lambda a, i=i: a[i], rand), metric=loss_fn, data=data,
                           name=f"random start {i + 1}", chunk_size=chunk_size, method=method,
                           devices=devices)
        for i in range(n_random))
    coords = [np.zeros((1, 2))] + [p.coords for p in ((proj_const,) if proj_const else ()) + proj_rand]
    coords = np.concatenate(coords)
    if alphas is None:
        alphas = np.linspace(*_extent(coords[:, 0], margin), num)
    if betas is None:
        betas = np.linspace(*_extent(coords[:, 1], margin), num)
    surface = slice_2d(loss_fn, equilibrium, data, d1, d2, alphas, betas, chunk_size=chunk_size,
                       method=method, devices=devices)
    return SymmetricView(pl, surface, proj_const, proj_rand, float(d2.info["eigenvalue"]),
                         d1.info["source"], surface.center_value)

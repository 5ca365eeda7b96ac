"""Directions in parameter space: random (filter/layer normalized), Hessian eigenvectors, PCA of a
trajectory, the symmetric and symmetry-breaking directions, differences and Gram-Schmidt.

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
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any, Mapping

import jax
import jax.numpy as jnp
import numpy as np

from .. import _checks
from .. import curvature as cv
from .. import symmetry
from .._checks import float_leaves
from ._common import _check_like, _flat64, _flat_batch64, _float_eps, _unflat

__all__ = [
    "NORMALIZATIONS", "Direction", "random_direction", "group_norms", "hessian_directions",
    "PCA", "pca_directions", "symmetric_descent_direction", "breaking_directions",
    "difference_direction", "orthonormalize",
]

NORMALIZATIONS = ("filter", "layer", "unit", "none")
"""Normalizations of :func:`random_direction` (see the module docstring)."""

_GROUPED = ("filter", "layer")
_PCA_ORIGINS = ("last", "mean")
_EIGEN_WHICH = ("bottom", "top")
_EIGEN_METHODS = ("dense", "lanczos")


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
    normalization = _checks.choice("normalization", normalization, _GROUPED)
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
    key = _checks.key(key)
    normalization = _checks.choice("normalization", normalization, NORMALIZATIONS)
    if not isinstance(zero_biases, (bool, np.bool_)):
        raise TypeError(f"zero_biases={zero_biases!r} must be True or False")
    fallback_scale = _checks.real("fallback_scale", fallback_scale, low=0.0, low_open=True)
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
                       n_steps=None) -> tuple[Direction, ...]:
    """The ``k`` bottom (most negative first) or top (largest first) unit Hessian eigenvectors.

    ``method="dense"`` diagonalizes the full Hessian (:func:`landscape.curvature.hessian_eigh`;
    small networks); ``"lanczos"`` uses :func:`landscape.curvature.extreme_eigenpairs` (needs
    ``key``; ``n_steps`` as there). Each direction's ``info`` holds ``eigenvalue``, ``rank``
    and ``method`` (and the Ritz ``residual`` for Lanczos). Signs: the largest-magnitude entry
    is positive.

    >>> import jax.numpy as jnp
    >>> quad = lambda p, a: 0.5 * jnp.sum(a * p**2)  # Hessian diag(a) everywhere
    >>> a = jnp.array([1.0, 2.0, -3.0])
    >>> (d,) = hessian_directions(quad, jnp.zeros(3), a)
    >>> d.label, d.params.shape
    ('Hessian bottom 1 (|d| = 1, λ = -3)', (3,))
    """
    _checks.loss_fn(loss_fn)
    n = sum(int(np.size(leaf)) for leaf in float_leaves(params, "params"))
    k = _checks.count("k", k, maximum=n)
    which = _checks.choice("which", which, _EIGEN_WHICH)
    method = _checks.choice("method", method, _EIGEN_METHODS)
    if method == "dense":
        if key is not None or n_steps is not None:
            raise ValueError("key and n_steps are only used by method='lanczos'")
        lam, vecs = jax.device_get(cv.hessian_eigh(loss_fn, params, data))
        order = np.arange(k) if which == "bottom" else np.arange(n - 1, n - 1 - k, -1)
        pairs = [(float(lam[i]), np.asarray(vecs[:, i], np.float64), None) for i in order]
    elif method == "lanczos":
        res = jax.device_get(cv.extreme_eigenpairs(loss_fn, params, data, k=k, key=key,
                                                   n_steps=n_steps))
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
    k = _checks.count("k", k, maximum=min(t, n))
    origin = _checks.choice("origin", origin, _PCA_ORIGINS)
    x0 = x[-1] if origin == "last" else x.mean(axis=0)
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
    _checks.loss_fn(loss_fn)
    _checks.model(model)
    float_leaves(params, "params")
    grad_tol = _checks.tolerance("grad_tol", grad_tol, math.sqrt(_float_eps(params)))
    g = jax.grad(loss_fn)(params, data)
    gs = _flat64(symmetry.project_symmetric(model=model, params=g))
    gnorm, snorm = float(np.linalg.norm(_flat64(g))), float(np.linalg.norm(gs))
    info = {"symmetric_grad_norm": snorm, "grad_norm": gnorm}
    if snorm > grad_tol:
        return Direction(_unflat(-gs / snorm, params), "symmetric descent", {**info, "source": "gradient"})
    if fallback is None:
        raise ValueError(f"the symmetric part of the gradient is {snorm:.3g} <= grad_tol={grad_tol:.3g}: "
                         "the point is critical in the symmetric subspace; pass fallback= (e.g. the "
                         "constant-start trajectory's displacement) to choose the symmetric direction")
    fb, _ = _direction(fallback, params, "fallback")
    fs = _flat64(symmetry.project_symmetric(model=model, params=fb))
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
    _checks.loss_fn(loss_fn)
    _checks.model(model)
    float_leaves(params, "params")
    dtype = jnp.result_type(*[leaf.dtype for leaf in jax.tree_util.tree_leaves(params)])
    q = symmetry.breaking_basis(model=model, dtype=dtype)
    if q.shape[1] == 0:
        raise ValueError(f"model {list(model.sizes)} has no symmetry-breaking directions (no hidden "
                         "layer with two or more units)")
    k = _checks.count("k", k, maximum=q.shape[1])
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

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
Groups (:mod:`landscape.surface.groups`) come from the unit layout, so they are right for any
framework: a ``"filter"`` is one output unit of a weight layer (hidden or output unit, or a
convolution's output channel): its incoming weights and its bias (Li et al.'s rows of a PyTorch
``(out, in)`` weight); a ``"layer"`` is one weight layer, weight and bias. Pass ``model=`` (an
``ls.mlp`` Model, a Flax or Equinox model, a :class:`landscape.units.UnitLayout`); without it the
layout is read from the leaf names (``w``/``b``, ``kernel``/``bias``) and an ambiguous pytree
(e.g. an Equinox ``weight``, stored ``(out, in)``) is refused. With ``zero_biases=True`` the
direction is zero on every leaf with fewer than two axes (Li et al.'s default of ignoring
biases) and those entries take no part in the norms.

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
units).
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any, Mapping

import jax
import jax.numpy as jnp
import numpy as np

from .. import _checks, units
from .. import curvature as cv
from .. import symmetry
from .._checks import float_leaves
from . import groups
from ._common import _flat64, _flat_batch64, _float_eps, _unflat
from .groups import GROUPINGS, group_norms  # noqa: F401  (group_norms: the doctests use it)

__all__ = [
    "NORMALIZATIONS", "Direction", "random_direction", "hessian_directions",
    "PCA", "pca_directions", "symmetric_descent_direction", "breaking_directions",
    "difference_direction", "orthonormalize",
]

NORMALIZATIONS = ("filter", "layer", "unit", "none")
"""Normalizations of :func:`random_direction` (see the module docstring)."""

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
        if self.name.endswith(")"):  # "random (filter)" -> "random (filter, |d| = 14.1)"
            return f"{self.name[:-1]}, |d| = {self.norm:.3g}{extra})"
        return f"{self.name} (|d| = {self.norm:.3g}{extra})"


def _direction(d, like, name):
    """``(pytree, Direction)`` from a Direction or a bare pytree, checked against ``like``."""
    if isinstance(d, Direction):
        _checks.params_like(name, d.params, like)
        return d.params, d
    _checks.params_like(name, d, like)
    return d, Direction(d, name)


def random_direction(params, *, key, normalization="filter", model=None, zero_biases=False,
                     fallback_scale=1.0, name=None) -> Direction:
    """A Gaussian random direction at ``params`` (one network), normalized per ``normalization``.

    ``"none"``: N(0, 1) entries; ``"unit"``: rescaled to norm 1; ``"filter"``/``"layer"``: each
    group rescaled to the norm of the point's group, with the rule of the module docstring that
    stays finite and nonzero at a zero or constant point (``fallback_scale`` is the RMS entry
    size used where the whole point is zero). Groups come from the unit layout
    (:mod:`landscape.surface.groups`): ``model`` is anything :func:`landscape.units.layout`
    takes (an ``ls.mlp`` Model, a Flax or Equinox model, a :class:`landscape.units.UnitLayout`);
    without it the layout is read from the leaf names, and a pytree whose filters are ambiguous
    (e.g. an Equinox ``weight``) is refused.

    Draws: part ``i`` of the canonical form (per weight layer its bias, then its weight as
    ``(..., inputs, units)``; see :mod:`landscape.surface.groups`) is drawn with
    ``fold_in(key, i)``, so the same weights in ``ls.mlp``, Flax or Equinox get the same
    direction; for ``ls.mlp`` and Flax params (and for ``"none"``/``"unit"`` without ``model``)
    part ``i`` is leaf ``i``.

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
    if normalization in GROUPINGS or model is not None:
        spec = groups.grouping_layout(params, model)
    else:
        spec = None  # "none"/"unit" without a model: leaf by leaf, as drawn before layouts
    canon = groups.to_canonical(spec, leaves)
    shapes = [np.shape(leaf) for leaf in leaves]
    draws = [jax.random.normal(jax.random.fold_in(key, i), np.shape(part), part.dtype)
             for i, part in enumerate(canon)]
    d = np.concatenate([np.asarray(x, np.float64).ravel() for x in draws]) if draws else np.zeros(0)
    name = name or f"random ({normalization})"

    def direction(flat):
        sizes = np.cumsum([0] + [int(np.size(x)) for x in draws])
        parts = [jnp.asarray(flat[a:b].reshape(np.shape(x)), x.dtype)
                 for a, b, x in zip(sizes[:-1], sizes[1:], draws)]
        return jax.tree_util.tree_unflatten(treedef, groups.from_canonical(spec, parts, shapes))

    if normalization == "none":
        return Direction(jax.tree_util.tree_unflatten(treedef, groups.from_canonical(spec, draws, shapes)),
                         name, {"normalization": "none", "rule": "N(0, 1) entries"})
    if normalization == "unit":
        return Direction(direction(d / np.linalg.norm(d)), name,
                         {"normalization": "unit", "rule": "N(0, 1) entries scaled to norm 1"})
    ids, n_groups = groups.canonical_ids(spec, params, normalization, zero_biases)
    ids = np.concatenate(ids)
    x = groups.canonical_flat64(spec, params)
    keep = ids >= 0
    size = np.bincount(ids[keep], minlength=n_groups).astype(np.float64)
    p_norm = groups.flat_group_norms(ids, x, n_groups)
    d_norm = groups.flat_group_norms(ids, d, n_groups)
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
    return Direction(direction(out), name, info)


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
    else:  # "lanczos" (checked above)
        res = jax.device_get(cv.extreme_eigenpairs(loss_fn, params, data, k=k, key=key,
                                                   n_steps=n_steps))
        ritz = res.smallest if which == "bottom" else res.largest
        pairs = [(float(ritz.values[i]), np.asarray(ritz.vectors[:, i], np.float64),
                  float(ritz.residuals[i])) for i in range(k)]
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

    ``model``: anything :func:`landscape.units.layout` takes (an ``ls.mlp`` Model, a Flax NNX
    or Equinox model, a :class:`landscape.units.UnitLayout`; for Flax linen pass the layout,
    ``units.layout(module, variables, activation=...)``); ``params`` is one network.

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
    float_leaves(params, "params")
    spec = _one_network(model, params, "params")
    return _symmetric_descent(loss_fn, params, data, spec, fallback, grad_tol)


def _one_network(model, params, name) -> units.UnitLayout:
    """``model``'s unit layout, checked against ``params`` (one network; errors name ``name``)."""
    try:
        spec = units.layout(model)  # read from the model itself (ls.mlp, Equinox, NNX, a layout)
    except ValueError:  # Flax linen or a bare pytree: the layout is read from the params
        spec = units.layout(model, params)
    batch = spec.check(params, name)
    if batch:
        raise ValueError(f"{name} has batch axes {batch}; pass one network")
    return spec


def _symmetric_descent(loss_fn, params, data, sym, fallback, grad_tol) -> Direction:
    grad_tol = _checks.tolerance("grad_tol", grad_tol, math.sqrt(_float_eps(params)))
    g = jax.grad(loss_fn)(params, data)
    gs = _flat64(symmetry.project_symmetric(model=sym, params=g))
    gnorm, snorm = float(np.linalg.norm(_flat64(g))), float(np.linalg.norm(gs))
    info = {"symmetric_grad_norm": snorm, "grad_norm": gnorm}
    if snorm > grad_tol:
        return Direction(_unflat(-gs / snorm, params), "symmetric descent", {**info, "source": "gradient"})
    if fallback is None:
        raise ValueError(f"the symmetric part of the gradient is {snorm:.3g} <= grad_tol={grad_tol:.3g}: "
                         "the point is critical in the symmetric subspace; pass fallback= (e.g. the "
                         "constant-start trajectory's displacement) to choose the symmetric direction")
    fb, _ = _direction(fallback, params, "fallback")
    fs = _flat64(symmetry.project_symmetric(model=sym, params=fb))
    fnorm = float(np.linalg.norm(fs))
    if fnorm == 0:
        raise ValueError("fallback has no component in the symmetric subspace")
    return Direction(_unflat(fs / fnorm, params), "symmetric direction", {**info, "source": "fallback"})


def breaking_directions(loss_fn, params, data, *, model, k=1) -> tuple[Direction, ...]:
    """The ``k`` most unstable symmetry-breaking directions at ``params``: unit eigenvectors of
    the Hessian restricted to the symmetry-breaking subspace
    (:func:`landscape.symmetry.breaking_basis`, :func:`landscape.curvature.restricted_hessian`),
    ascending eigenvalue (most negative first). ``info``: ``eigenvalue``, ``rank``. ``model``:
    as in :func:`symmetric_descent_direction`.

    >>> import jax, landscape as ls
    >>> model = ls.mlp([2, 2, 1])
    >>> params = ls.inits.constant(model, 0.5)(jax.random.key(0))  # the symmetric start
    >>> (mode,) = breaking_directions(ls.objectives.loss(model), params, ls.datasets.xor(),
    ...                               model=model)
    >>> mode.name, round(mode.norm, 6), mode.params[0]["w"].shape
    ('breaking mode 1', 1.0, (2, 2))
    """
    _checks.loss_fn(loss_fn)
    float_leaves(params, "params")
    spec = _one_network(model, params, "params")
    return _breaking(loss_fn, params, data, spec, k)


def _breaking(loss_fn, params, data, spec: units.UnitLayout, k) -> tuple[Direction, ...]:
    dtype = jnp.result_type(*[leaf.dtype for leaf in jax.tree_util.tree_leaves(params)])
    q = symmetry.breaking_basis(model=spec, dtype=dtype)
    if q.shape[1] == 0:
        raise ValueError(f"a network of hidden sizes {list(spec.hidden_sizes)} has no "
                         "symmetry-breaking directions (no hidden layer with two or more units)")
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
    _checks.params_like("b", b, a, reference_name="a")
    return Direction(jax.tree.map(lambda x, y: y - x, a, b), name, {})


def _orthogonal_part(v: np.ndarray, basis: list) -> np.ndarray:
    """The part of the flat float64 ``v`` orthogonal to the orthonormal vectors ``basis``
    (Gram-Schmidt, twice: the second pass removes what rounding left of the first)."""
    w = v.copy()
    for _ in range(2):
        for q in basis:
            w -= (q @ w) * q
    return w


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
        w = _orthogonal_part(v, basis)
        rest = float(np.linalg.norm(w))
        if rest <= 1e3 * np.finfo(np.float64).eps * norm * max(len(basis), 1) ** 0.5 or rest <= 1e-8 * norm:
            raise ValueError(f"directions[{i}] is (numerically) a combination of the earlier ones: "
                             f"its part orthogonal to them has norm {rest:.3g} of {norm:.3g}")
        q = w / rest
        basis.append(q)
        out.append(Direction(_unflat(q * (norm if keep_norms else 1.0), first), d.name,
                             {**d.info, "input_norm": norm, "orthonormalized": True}))
    return tuple(out)

"""Critical points: classification from the gradient and the Hessian spectrum, the search for
lower points near a degenerate one, and refinement onto a nearby critical point."""

from __future__ import annotations

import math

import jax.numpy as jnp
import optax

from .. import _checks, status  # noqa: F401  (status: the doctests name labels with it)
from .dispatch import _call, _eps, _point_info
from .kernels import (_classify_impl, _counts, _label, _refine_gradnorm, _refine_newton,
                      _search_impl)
from .results import CriticalPoint

__all__ = ["classify", "classify_batched", "classify_spectrum", "index_fraction",
           "search_lower", "search_lower_batched", "refine", "refine_batched"]

_REFINE_METHODS = ("newton", "gradnorm")


# --------------------------------------------------------------------------------------------
# public API: critical points


def _classify_args(dtype, grad_tol, rtol, atol):
    root = math.sqrt(_eps(dtype))
    return {
        "grad_tol": _checks.tolerance("grad_tol", grad_tol, root),
        "rtol": _checks.tolerance("rtol", rtol, root),
        "atol": _checks.tolerance("atol", atol, 0.0),
    }


def classify(loss_fn, params, data, *, grad_tol=None, rtol=None, atol=None):
    """Classify ``params`` as a critical point from its gradient and dense Hessian spectrum.

    An eigenvalue ``lam`` counts as zero when ``|lam| <= rtol * max|lam| + atol``. Defaults:
    ``grad_tol = rtol = sqrt(eps)`` of the params dtype, ``atol = 0`` (see the module docstring
    for the labels; a positive semi-definite Hessian with a zero mode is ``degenerate``, never a
    minimum). Returns :class:`CriticalPoint` (scalars and ``eigenvalues (n_params,)``).

    >>> import jax, jax.numpy as jnp
    >>> quad = lambda p, a: 0.5 * jnp.sum(a * p**2)  # Hessian diag(a) everywhere
    >>> a = jnp.array([1.0, 2.0, -3.0])
    >>> point = classify(quad, jnp.zeros(3), a)
    >>> status.POINT[int(point.label)], int(point.index), point.eigenvalues.tolist()
    ('saddle', 1, [-3.0, 1.0, 2.0])
    """
    _checks.loss_fn(loss_fn)
    _, dtype, _ = _point_info(params, False)
    return _call(_classify_impl, loss_fn, params, data, shared=_classify_args(dtype, grad_tol, rtol, atol))


def classify_batched(loss_fn, params, data, *, grad_tol=None, rtol=None, atol=None,
                     block_size=None, devices=None):
    """:func:`classify` for each row of ``params``: every field gains a leading batch axis
    (``label (batch,)``, ``eigenvalues (batch, n_params)``).

    >>> import jax, jax.numpy as jnp
    >>> quad = lambda p, a: 0.5 * jnp.sum(a * p**2)  # Hessian diag(a) everywhere
    >>> a = jnp.array([1.0, 2.0, -3.0])
    >>> points = classify_batched(quad, jnp.array([[0.0, 0, 0], [1, 0, 0]]), a)
    >>> [status.POINT[i] for i in points.label.tolist()], points.grad_norm.tolist()
    (['saddle', 'not_critical'], [0.0, 1.0])
    """
    _checks.loss_fn(loss_fn)
    _, dtype, _ = _point_info(params, True)
    return _call(_classify_impl, loss_fn, params, data,
                 shared=_classify_args(dtype, grad_tol, rtol, atol), batched=True,
                 block_size=block_size, devices=devices)


def classify_spectrum(eigenvalues, grad_norm, *, grad_tol=None, rtol=None, atol=None):
    """Labels and counts from eigenvalues ``(..., n)`` and gradient norms ``(...)`` you already
    have (same rules and defaults as :func:`classify`, dtype from ``eigenvalues``).

    Returns ``(label, n_negative, n_zero, n_positive)``, int32 arrays of shape ``(...)``.

    >>> import jax.numpy as jnp
    >>> label, neg, zero, pos = classify_spectrum(jnp.array([[1.0, 2.0], [-1.0, 2.0], [0.0, 2.0]]),
    ...                                           jnp.zeros(3))
    >>> [status.POINT[i] for i in label.tolist()], zero.tolist()
    (['minimum', 'saddle', 'degenerate'], [0, 0, 1])
    """
    eigenvalues = jnp.asarray(eigenvalues)
    grad_norm = jnp.asarray(grad_norm)
    if eigenvalues.ndim < 1 or not jnp.issubdtype(eigenvalues.dtype, jnp.floating):
        raise ValueError(f"eigenvalues of shape {eigenvalues.shape} and dtype {eigenvalues.dtype} "
                         "must be a floating array with the spectrum on the last axis")
    if grad_norm.shape != eigenvalues.shape[:-1]:
        raise ValueError(f"grad_norm of shape {grad_norm.shape} must have shape {eigenvalues.shape[:-1]}")
    tols = _classify_args(eigenvalues.dtype, grad_tol, rtol, atol)
    neg, zero, pos = _counts(eigenvalues, tols["rtol"], tols["atol"])
    label = _label(grad_norm, neg, zero, pos, tols["grad_tol"])
    return label, neg.astype(jnp.int32), zero.astype(jnp.int32), pos.astype(jnp.int32)


def index_fraction(point: CriticalPoint):
    """Fraction of negative eigenvalues ``n_negative / n_params`` (Dauphin et al. 2014's alpha);
    shape of ``point.n_negative`` (scalar, or ``(batch,)`` for :func:`classify_batched`).

    >>> import jax, jax.numpy as jnp
    >>> quad = lambda p, a: 0.5 * jnp.sum(a * p**2)  # Hessian diag(a) everywhere
    >>> a = jnp.array([1.0, 2.0, -3.0])
    >>> round(float(index_fraction(classify(quad, jnp.zeros(3), a))), 4)
    0.3333
    """
    return point.n_negative / point.eigenvalues.shape[-1]


def _search_args(dtype, radius, n_directions, n_points, curvature, n_starts, n_steps,
                 loss_rtol, loss_atol):
    if radius is None:
        raise TypeError("radius=None must be a positive number (the search radius)")
    radius = _checks.tolerance("radius", radius, None, positive=True)
    curvature = _checks.tolerance("curvature", curvature,
                                  None if _checks.is_tracer(radius) else 1.0 / radius)
    if curvature is None:
        raise ValueError("curvature must be given when radius is traced")
    static = (
        ("n_directions", _checks.count("n_directions", n_directions, minimum=0)),
        ("n_points", _checks.count("n_points", n_points)),
        ("n_starts", _checks.count("n_starts", n_starts, minimum=0)),
        ("n_steps", _checks.count("n_steps", n_steps, minimum=0)),
    )
    if static[0][1] + static[2][1] == 0:
        raise ValueError("n_directions and n_starts are both 0: nothing would be searched")
    shared = {
        "radius": radius, "curvature": curvature,
        "loss_rtol": _checks.tolerance("loss_rtol", loss_rtol, 64 * _eps(dtype)),
        "loss_atol": _checks.tolerance("loss_atol", loss_atol, 0.0),
    }
    return static, shared


def search_lower(loss_fn, params, data, *, key, radius=0.1, n_directions=64, n_points=8,
                 curvature=None, n_starts=8, n_steps=100, loss_rtol=None, loss_atol=None):
    """Look for lower points within ``radius`` of ``params``: the follow-up for ``degenerate``.

    Two searches, both kept inside the ball of that radius (in flat-parameter norm):

    1. ``n_directions`` random curved paths ``x + s u + a s^2 c`` (``u``, ``c`` random unit
       vectors, ``a`` evenly spread over ``[-curvature, curvature]``, default
       ``curvature = 1/radius``), each sampled at ``n_points`` values of ``s`` in
       ``(0, radius]`` (points beyond the radius are pulled back onto the sphere); curved paths
       catch descent that every straight line misses (Peano's ``(y - x^2)(y - 2x^2)``);
    2. ``n_starts`` runs of ``n_steps`` steps of projected, normalized gradient descent
       (step ``radius * 0.1`` decaying linearly to ``radius * 0.001``) from random perturbations
       of the point at half the radius.

    ``found_lower`` when the best loss is below ``loss - (loss_rtol * |loss| + loss_atol)``
    (defaults ``64 eps`` and 0, i.e. above rounding). Returns :class:`LowerSearch` (scalars,
    ``best_params`` like ``params``).

    >>> import jax, jax.numpy as jnp
    >>> quad = lambda p, a: 0.5 * jnp.sum(a * p**2)  # Hessian diag(a) everywhere
    >>> key = jax.random.key(0)
    >>> bool(search_lower(quad, jnp.zeros(3), jnp.array([1.0, 2.0, 3.0]), key=key).found_lower)
    False
    >>> bool(search_lower(quad, jnp.zeros(3), jnp.array([1.0, 0.0, -3.0]), key=key).found_lower)
    True
    """
    _checks.loss_fn(loss_fn)
    _, dtype, _ = _point_info(params, False)
    static, shared = _search_args(dtype, radius, n_directions, n_points, curvature,
                                  n_starts, n_steps, loss_rtol, loss_atol)
    return _call(_search_impl, loss_fn, params, data, key=_checks.key(key), static=static,
                 shared=shared)


def search_lower_batched(loss_fn, params, data, *, key, radius=0.1, n_directions=64,
                         n_points=8, curvature=None, n_starts=8, n_steps=100,
                         loss_rtol=None, loss_atol=None, block_size=None, devices=None):
    """:func:`search_lower` for each row of ``params`` (point ``i`` uses ``fold_in(key, i)``):
    every field gains a leading batch axis.

    >>> import jax, jax.numpy as jnp
    >>> quad = lambda p, a: 0.5 * jnp.sum(a * p**2)  # Hessian diag(a) everywhere
    >>> a = jnp.array([1.0, 2.0, -3.0])
    >>> found = search_lower_batched(quad, jnp.zeros((2, 3)), a, key=jax.random.key(0),
    ...                              n_directions=8, n_starts=2, n_steps=10)
    >>> found.found_lower.tolist(), found.best_params.shape
    ([True, True], (2, 3))
    """
    _checks.loss_fn(loss_fn)
    _, dtype, _ = _point_info(params, True)
    static, shared = _search_args(dtype, radius, n_directions, n_points, curvature,
                                  n_starts, n_steps, loss_rtol, loss_atol)
    return _call(_search_impl, loss_fn, params, data, key=_checks.key(key), static=static,
                 shared=shared, batched=True, block_size=block_size, devices=devices)


def _refine_args(dtype, method, max_steps, tol, optimizer):
    max_steps = _checks.count("max_steps", max_steps)
    tol = _checks.tolerance("tol", tol, _eps(dtype) ** 0.75)
    if method == "newton":
        if optimizer is not None:
            raise ValueError("optimizer is only used by method='gradnorm'; got one with method='newton'")
        return _refine_newton, (("max_steps", max_steps),), {"tol": tol}
    if method == "gradnorm":
        if optimizer is None:
            optimizer = optax.adam(1e-3)
        if not isinstance(optimizer, optax.GradientTransformation):
            raise TypeError(f"optimizer={optimizer!r} must be an optax.GradientTransformation")
        return _refine_gradnorm, (("max_steps", max_steps), ("optimizer", optimizer)), {"tol": tol}
    raise ValueError(f"method={method!r} is not known; expected one of {_REFINE_METHODS}")


def refine(loss_fn, params, data, *, method="newton", max_steps=100, tol=None, optimizer=None):
    """Converge from ``params`` to a nearby critical point of any kind (minimum or saddle).

    ``method="newton"`` (small networks; dense Hessian): Levenberg-Marquardt on the gradient,
    ``x <- x - (H^2 + mu I)^{-1} H g``, a damped pseudo-inverse Newton step on ``grad = 0``
    accepted when ``|grad|`` decreases. Saddles attract it as much as minima do, unlike descent
    on the loss. ``method="gradnorm"`` (matrix-free): minimizes ``0.5 |grad|^2`` with ``optimizer``
    (default ``optax.adam(1e-3)``; pass the same object again to reuse the compiled program);
    its gradient ``H grad`` is one Hessian-vector product. It can stall where ``H grad = 0`` with
    ``grad != 0``; ``converged`` says so.

    Stops after ``max_steps`` iterations or when ``|grad| <= tol`` (default ``eps ** 0.75`` of
    the params dtype). Returns :class:`RefineResult` (``params`` like the input, scalars).

    >>> import jax, jax.numpy as jnp
    >>> quad = lambda p, a: 0.5 * jnp.sum(a * p**2)  # Hessian diag(a) everywhere
    >>> a = jnp.array([1.0, 2.0, -3.0])
    >>> result = refine(quad, jnp.array([1.0, 1.0, 1.0]), a)  # to the saddle at 0
    >>> bool(result.converged), bool(jnp.allclose(result.params, 0.0, atol=1e-5))
    (True, True)
    """
    _checks.loss_fn(loss_fn)
    _, dtype, _ = _point_info(params, False)
    impl, static, shared = _refine_args(dtype, method, max_steps, tol, optimizer)
    return _call(impl, loss_fn, params, data, static=static, shared=shared)


def refine_batched(loss_fn, params, data, *, method="newton", max_steps=100, tol=None,
                   optimizer=None, block_size=None, devices=None):
    """:func:`refine` for each row of ``params``; ``converged`` ``(batch,)`` says which rows got
    there (``params`` leaves ``(batch, ...)``, other fields ``(batch,)``).

    >>> import jax, jax.numpy as jnp
    >>> quad = lambda p, a: 0.5 * jnp.sum(a * p**2)  # Hessian diag(a) everywhere
    >>> a = jnp.array([1.0, 2.0, -3.0])
    >>> result = refine_batched(quad, jnp.array([[1.0, 1.0, 1.0], [0.5, -2.0, 0.1]]), a)
    >>> result.converged.tolist(), result.params.shape
    ([True, True], (2, 3))
    """
    _checks.loss_fn(loss_fn)
    _, dtype, _ = _point_info(params, True)
    impl, static, shared = _refine_args(dtype, method, max_steps, tol, optimizer)
    return _call(impl, loss_fn, params, data, static=static, shared=shared, batched=True,
                 block_size=block_size, devices=devices)

"""Critical points: classification from the gradient and the Hessian spectrum, the search for
lower points near a degenerate one, and refinement onto a nearby critical point."""

from __future__ import annotations


import jax.numpy as jnp
import optax

from .. import _checks, status  # noqa: F401  (status: the doctests name labels with it)
from .dispatch import _call, _eps, _point_info
from .kernels import (_classify_impl, _refine_gradnorm, _refine_newton, _search_impl,
                      _spectrum_labels)
from .results import CriticalPoint

__all__ = ["classify", "classify_batched", "classify_spectrum", "index_fraction",
           "search_lower", "search_lower_batched", "refine", "refine_batched", "GRADNORM_OPTIMIZER"]

_REFINE_METHODS = ("newton", "gradnorm")

GRADNORM_OPTIMIZER = optax.adam(1e-3)
"""The default optimizer of ``refine(method="gradnorm")``: one object (an optimizer is a static
argument of the compiled program, so a new one per call would compile again)."""


# --------------------------------------------------------------------------------------------
# public API: critical points


def _classify_args(grad_tol, rtol, atol):
    """The options as traced scalars, NaN for ``None`` (the data-derived default, computed where
    the gradient, loss and spectrum are known): one compiled program for every choice."""
    nan = float("nan")
    return {
        "grad_tol": _checks.tolerance("grad_tol", grad_tol, nan),
        "rtol": _checks.tolerance("rtol", rtol, nan),
        "atol": _checks.tolerance("atol", atol, nan),
    }


def classify(loss_fn, params, data, *, grad_tol=None, rtol=None, atol=None):
    """Classify ``params`` as a critical point from its gradient and dense Hessian spectrum.

    A label is a claim, made only as far as the dtype, the loss scale and the point's own
    gradient resolve it. With ``x`` the ``n`` flat parameters, ``L`` the loss, ``g = |grad|``,
    ``lam`` the Hessian eigenvalues and ``eps = finfo(dtype).eps``:

    - ``s = sqrt(|x|^2 / n + 1)``: the parameter scale (``param_scale``; at least 1, the unit in
      which weights live, so that ``x = 0`` has a scale);
    - ``ell = |L| + s g + s^2 max|lam| / 2``: the loss scale (``loss_scale``), the size of the
      loss' Taylor terms over one parameter scale. Every default below is ``ell`` times a power
      of ``1 / s``, so multiplying the loss by any constant changes no label.

    Defaults (``None``):

    - ``grad_tol = sqrt(eps) * ell / s``: critical means the gradient moves the loss by less
      than ``sqrt(eps)`` of its scale over one parameter scale, i.e. the critical point is
      located to a relative accuracy ``sqrt(eps)`` of ``s``: about ``3.5e-4 ell / s`` in
      float32 and ``1.5e-8 ell / s`` in float64. It is a statement about the working precision,
      not about training: a float64 run stopped after 10^4 steps with ``|grad| ~ 3e-5`` is
      (rightly) not critical at this default; pass ``grad_tol`` (the census passes one derived
      from its runs' distribution of final gradient norms) to ask "critical at that level".
    - an eigenvalue counts as zero when ``|lam| <= zero_tol = rtol * max|lam| + atol`` with
      ``rtol = sqrt(eps)`` (relative resolution of the spectrum, as before) and the absolute
      floor ``atol = sqrt(eps) (|L| + s g) / s^2 + sqrt(g ell / s^3)``. Its two terms:

      * *precision*: the computed loss, gradient and Hessian carry rounding errors relative to
        the size of the loss' terms, not to ``max|lam|``: on a saturated plateau ``max|lam|``
        is tiny while ``|L|`` is not, and the Hessian's entries are sums of terms of size
        ``|L| / s^2`` that cancel. A critical point is located only to ``dx ~ eps (ell / s) /
        |lam|`` along a mode of curvature ``lam`` (the gradient's rounding ``eps ell / s``
        divided by the curvature); over ``dx`` the curvature itself changes by about
        ``(ell / s^3) dx`` (third derivatives of size ``ell / s^3``), so ``lam`` is resolved
        only when ``lam^2 > eps ell^2 / s^4``, i.e. ``|lam| > sqrt(eps) ell / s^2``;
      * *gradient*: the same argument with the point's actual gradient ``g`` in place of the
        rounding: the point sits ``~ g / |lam|`` from the critical point it approximates, so
        curvatures below ``sqrt(g ell / s^3)`` cannot be told from the change along that
        distance. It does not depend on the dtype, so a point with a resolved gradient gets the
        same floor in float32 and float64 (a saturated plateau with ``g ~ 6e-5`` and every
        ``|lam| < 1e-4`` is flat, not a saddle, in both).

      At a census-level gradient the gradient term is the floor, and it is large on purpose: a
      float32 ``zero_tol`` of 0.165 at ``loss_scale`` 8.3 is ``sqrt(g ell / s^3)`` with ``g ~ 3e-3
      s^3`` (the other two terms are at most ``sqrt(eps) (2 ell / s^2 + ell / s^2) < 0.01`` there).
      Known answer (``tests/test_curvature_floor.py``): an NNX 1-4-1 tanh regression net stopped at
      ``g ~ 4.5e-3`` (``s = 2.8``, ``ell = 395``) gets ``zero_tol = 0.28``; Newton (:func:`refine`)
      finds the critical point 0.6-1 away along the soft modes, a saddle of index 2 (eigenvalues
      -0.055, -0.042), and on the way an eigenvalue below 1 moves by 0.11: the floor is 2.5x the
      measured change, so the two negative modes (-0.05) are rightly ``unresolved`` there, and every
      eigenvalue beyond the floor keeps its sign. To sharpen a label, :func:`refine` first (``g ~
      1e-14`` leaves ``zero_tol ~ 2e-6``: ``saddle``).

    Labels (:data:`landscape.status.POINT`): ``not_critical`` (``g > grad_tol``; the counts are
    still reported); ``saddle`` (eigenvalues below ``-zero_tol`` and above ``+zero_tol``: a sure
    descent direction; its index counts the negative ones); ``minimum`` / ``maximum`` (every
    eigenvalue beyond ``zero_tol``, all of one sign); ``plateau`` (every eigenvalue within
    ``zero_tol``: flat, nothing known about its shape); ``degenerate`` (some eigenvalues of one
    sign beyond ``zero_tol``, the rest zero to rounding, ``|lam| <= round_tol = n eps (max|lam|
    + (|L| + s g) / s^2)``: a resolved semi-definite spectrum with zero modes, never called a
    minimum; :func:`search_lower` is the follow-up); ``unresolved`` (as degenerate, but some of
    the small eigenvalues lie between ``round_tol`` and ``zero_tol``: nonzero numbers whose sign
    this precision and gradient cannot vouch for; a finer dtype or a point nearer the critical
    point may resolve them). So float32 and float64 give the same label wherever both resolve
    the point; where only float64 does, float32 says ``unresolved`` (or ``plateau``), never
    ``minimum`` or ``degenerate`` for a float64 minimum whose small eigenvalues float32 sees.

    Passing ``grad_tol``, ``rtol`` or ``atol`` replaces that default (``atol`` replaces the
    whole floor). Returns :class:`CriticalPoint` (scalars, ``eigenvalues (n_params,)``), with
    the thresholds it used (``grad_tol``, ``zero_tol``, ``round_tol``, ``loss_scale``,
    ``param_scale``).

    >>> import jax, jax.numpy as jnp
    >>> quad = lambda p, a: 0.5 * jnp.sum(a * p**2)  # Hessian diag(a) everywhere
    >>> a = jnp.array([1.0, 2.0, -3.0])
    >>> point = classify(quad, jnp.zeros(3), a)
    >>> status.POINT[int(point.label)], int(point.index), point.eigenvalues.tolist()
    ('saddle', 1, [-3.0, 1.0, 2.0])
    >>> point = classify(quad, jnp.zeros(3), jnp.array([1.0, 2.0, 0.0]))  # an exact zero mode
    >>> status.POINT[int(point.label)], int(point.n_zero)
    ('degenerate', 1)
    """
    _checks.loss_fn(loss_fn)
    _point_info(loss_fn, params, False)
    return _call(_classify_impl, loss_fn, params, data, shared=_classify_args(grad_tol, rtol, atol))


def classify_batched(loss_fn, params, data, *, grad_tol=None, rtol=None, atol=None,
                     block_size=None, devices=None):
    """:func:`classify` for each row of ``params``: every field gains a leading batch axis
    (``label (batch,)``, ``eigenvalues (batch, n_params)``); the default thresholds are each
    point's own (a passed option is shared by all).

    >>> import jax, jax.numpy as jnp
    >>> quad = lambda p, a: 0.5 * jnp.sum(a * p**2)  # Hessian diag(a) everywhere
    >>> a = jnp.array([1.0, 2.0, -3.0])
    >>> points = classify_batched(quad, jnp.array([[0.0, 0, 0], [1, 0, 0]]), a)
    >>> [status.POINT[i] for i in points.label.tolist()], points.grad_norm.tolist()
    (['saddle', 'not_critical'], [0.0, 1.0])
    """
    _checks.loss_fn(loss_fn)
    _point_info(loss_fn, params, True)
    return _call(_classify_impl, loss_fn, params, data,
                 shared=_classify_args(grad_tol, rtol, atol), batched=True,
                 block_size=block_size, devices=devices)


def classify_spectrum(eigenvalues, grad_norm, *, loss=0.0, param_scale=1.0, grad_tol=None,
                      rtol=None, atol=None):
    """Labels, counts and thresholds from eigenvalues ``(..., n)`` and gradient norms ``(...)``
    you already have: the rules and defaults of :func:`classify` (dtype from ``eigenvalues``),
    with the loss at the points (``loss``, default 0: no loss-value term in the floor) and
    their parameter scale ``s = sqrt(|x|^2 / n + 1)`` (``param_scale``, default 1) given here,
    both scalars or broadcastable to ``(...)``.

    Returns :class:`SpectrumLabels` ``(label, n_negative, n_zero, n_positive, grad_tol,
    zero_tol, round_tol)``, arrays of shape ``(...)``.

    >>> import jax.numpy as jnp
    >>> res = classify_spectrum(jnp.array([[1.0, 2.0], [-1.0, 2.0], [0.0, 2.0], [0.0, 0.0]]),
    ...                         jnp.zeros(4))
    >>> [status.POINT[i] for i in res.label.tolist()], res.n_zero.tolist()
    (['minimum', 'saddle', 'degenerate', 'plateau'], [0, 0, 1, 2])
    """
    eigenvalues = jnp.asarray(eigenvalues)
    grad_norm = jnp.asarray(grad_norm)
    if eigenvalues.ndim < 1 or not jnp.issubdtype(eigenvalues.dtype, jnp.floating):
        raise ValueError(f"eigenvalues of shape {eigenvalues.shape} and dtype {eigenvalues.dtype} "
                         "must be a floating array with the spectrum on the last axis")
    if grad_norm.shape != eigenvalues.shape[:-1]:
        raise ValueError(f"grad_norm of shape {grad_norm.shape} must have shape "
                         f"{eigenvalues.shape[:-1]}")
    for name, value in (("loss", loss), ("param_scale", param_scale)):
        if not _checks.is_tracer(value):
            arr = jnp.asarray(value)
            if not jnp.issubdtype(arr.dtype, jnp.number) or not bool(jnp.all(jnp.isfinite(arr))):
                raise ValueError(f"{name}={value!r} must be finite numbers")
            try:
                ok = jnp.broadcast_shapes(arr.shape, grad_norm.shape) == grad_norm.shape
            except ValueError:
                ok = False
            if not ok:
                raise ValueError(f"{name} of shape {arr.shape} must broadcast to "
                                 f"{grad_norm.shape}")
    if not _checks.is_tracer(param_scale) and not bool(jnp.all(jnp.asarray(param_scale) > 0)):
        raise ValueError(f"param_scale={param_scale!r} must be positive")
    return _spectrum_labels(eigenvalues, grad_norm, loss, param_scale,
                            **_classify_args(grad_tol, rtol, atol))


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
    _, dtype, _ = _point_info(loss_fn, params, False)
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
    _, dtype, _ = _point_info(loss_fn, params, True)
    static, shared = _search_args(dtype, radius, n_directions, n_points, curvature,
                                  n_starts, n_steps, loss_rtol, loss_atol)
    return _call(_search_impl, loss_fn, params, data, key=_checks.key(key), static=static,
                 shared=shared, batched=True, block_size=block_size, devices=devices)


def _refine_args(dtype, method, max_steps, tol, optimizer):
    max_steps = _checks.count("max_steps", max_steps)
    tol = _checks.tolerance("tol", tol, _eps(dtype) ** 0.75)
    if method == "newton":
        if optimizer is not None:
            raise ValueError("optimizer is only used by method='gradnorm'; got one with "
                             "method='newton'")
        return _refine_newton, (("max_steps", max_steps),), {"tol": tol}
    if method == "gradnorm":
        optimizer = GRADNORM_OPTIMIZER if optimizer is None else _checks.optimizer(optimizer)
        return _refine_gradnorm, (("max_steps", max_steps), ("optimizer", optimizer)), {"tol": tol}
    raise ValueError(f"method={method!r} is not known; expected one of {_REFINE_METHODS}")


def refine(loss_fn, params, data, *, method="newton", max_steps=100, tol=None, optimizer=None):
    """Converge from ``params`` to a nearby critical point of any kind (minimum or saddle).

    ``method="newton"`` (small networks; dense Hessian): Levenberg-Marquardt on the gradient,
    ``x <- x - (H^2 + mu I)^{-1} H g``, a damped pseudo-inverse Newton step on ``grad = 0``
    accepted when ``|grad|`` decreases. Saddles attract it as much as minima do, unlike descent
    on the loss. ``method="gradnorm"`` (matrix-free): minimizes ``0.5 |grad|^2`` with ``optimizer``
    (default :data:`GRADNORM_OPTIMIZER`, one object, so repeated calls reuse the compiled
    program; pass your own object again for the same);
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
    _, dtype, _ = _point_info(loss_fn, params, False)
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
    _, dtype, _ = _point_info(loss_fn, params, True)
    impl, static, shared = _refine_args(dtype, method, max_steps, tol, optimizer)
    return _call(impl, loss_fn, params, data, static=static, shared=shared, batched=True,
                 block_size=block_size, devices=devices)

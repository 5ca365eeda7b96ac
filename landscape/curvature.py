"""Curvature of any ``loss_fn(params, data)``: Hessian-vector products, dense Hessians, Lanczos,
trace and spectral-density estimates, block curvature, critical-point classification and
refinement, for one point or a batch of thousands.

Conventions
-----------
- Every analysis function takes ``(loss_fn, params, data, ...)`` for any pytree ``params`` of
  floating arrays. Matrices and vectors live on the *flattened* parameters, in the order of
  ``jax.flatten_util.ravel_pytree(params)``; ``ravel_pytree(params)[1]`` turns a flat vector
  (e.g. a Ritz vector) back into a pytree.
- ``<name>_batched`` is the same computation over a leading axis of ``params`` (one point per
  row) in one compiled program: vmapped over equal blocks of points
  (:func:`landscape.parallel.point_block`; ``chunk_size``, optional, bounds the points per block
  and so the memory), a ``lax.map`` over the blocks, the blocks spread over the local devices
  (``devices``: ``None`` all, an int ``n`` the first ``n``, or a sequence of devices). A point's
  numbers do not depend on the device count, and agree across chunk sizes to rounding.
  Functions that draw random numbers give point ``i`` the key ``jax.random.fold_in(key, i)``,
  so its result does not depend on the batch or the chunking.
- Public functions are compiled with ``jax.jit`` (``loss_fn`` and Python options are static,
  so pass the *same* ``loss_fn`` object to reuse the compiled program); they also work inside a
  user's ``jit`` and ``vmap``. Python-level arguments are checked before tracing and raise
  ``ValueError``/``TypeError`` that name the argument, its value and what was expected.
- Eigenvalues come back in ascending order with eigenvectors as *columns*, as in
  ``jnp.linalg.eigh``; Lanczos' largest eigenpairs come back in descending order.

Matrix-free spectra
-------------------
Hessian-vector products are forward-over-reverse (``jax.jvp`` of ``jax.grad``; the Lanczos and
trace routines linearize once and reuse it). :func:`lanczos` runs ``num_steps`` steps with full
re-orthogonalization in a ``lax.fori_loop``; on breakdown (an invariant subspace was found) it
restarts with a random vector orthogonal to the basis and sets that off-diagonal entry to zero,
so the Ritz values stay eigenvalues of the Hessian. :func:`spectral_density` is stochastic
Lanczos quadrature (Ghorbani, Krishnan & Xiao 2019): for each probe ``v`` the Ritz values
``theta_j`` of the Lanczos run started at ``v`` are the nodes and ``(e_1^T s_j)^2`` (first
components of the eigenvectors of the tridiagonal matrix) the weights of a Gauss quadrature for
``v^T f(H) v / |v|^2``; weights are divided by the number of probes, so they sum to 1 and
``sum(w * theta**p)`` estimates ``trace(H^p) / n`` (exactly, per probe, for ``p < 2 num_steps``).
:func:`gaussian_density` broadens nodes and weights into a density on a grid.

Critical points
---------------
:func:`classify` counts eigenvalues of the dense Hessian with a tolerance relative to the
spectrum's scale: an eigenvalue ``lam`` is *zero* when ``|lam| <= rtol * max|lam| + atol``,
negative below ``-that`` and positive above ``+that``. Labels (codes into :data:`LABEL_NAMES`):

- ``not_critical``: ``|grad| > grad_tol`` (the counts are still reported);
- ``saddle``: at least one negative and one positive eigenvalue (zero modes allowed: a negative
  curvature direction already rules out a minimum); its index is the number of negative ones;
- ``degenerate``: zero modes and no (negative, positive) pair, e.g. positive semi-definite with a
  zero mode. The Hessian alone cannot decide, so such a point is **never** called a minimum;
  :func:`search_lower` is the follow-up test;
- ``minimum``: all eigenvalues positive; ``maximum``: all negative.

Default tolerances follow the dtype of the params (``eps = finfo(dtype).eps``):
``grad_tol = rtol = sqrt(eps)`` (about 3e-4 in float32, 1.5e-8 in float64: a point is only
ever known to be critical to about that relative accuracy), ``atol = 0``; refinement stops at
``|grad| <= eps ** 0.75`` (about 7e-6 / 2e-12), below ``grad_tol``.
"""

from __future__ import annotations

import functools
import math
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax
from jax.flatten_util import ravel_pytree

from . import parallel
from ._checks import float_leaves

__all__ = [
    # labels
    "LABEL_NAMES", "NOT_CRITICAL", "MINIMUM", "SADDLE", "MAXIMUM", "DEGENERATE",
    # result types
    "LanczosResult", "RitzPairs", "ExtremeEigenpairs", "TraceEstimate", "SpectralDensity",
    "CriticalPoint", "LowerSearch", "RefineResult",
    # exact
    "hvp", "hvp_batched", "hessian", "hessian_batched", "hessian_eigh", "hessian_eigh_batched",
    # matrix-free
    "lanczos", "lanczos_batched", "extreme_eigenpairs", "extreme_eigenpairs_batched",
    "hessian_trace", "hessian_trace_batched", "spectral_density", "spectral_density_batched",
    "gaussian_density",
    # blocks
    "restricted_hessian", "restricted_hessian_batched", "layer_hessians",
    "layer_hessians_batched", "block_slices",
    # critical points
    "classify", "classify_batched", "classify_spectrum", "index_fraction",
    "search_lower", "search_lower_batched", "refine", "refine_batched",
]

NOT_CRITICAL, MINIMUM, SADDLE, MAXIMUM, DEGENERATE = 0, 1, 2, 3, 4
LABEL_NAMES = ("not_critical", "minimum", "saddle", "maximum", "degenerate")
"""Names of the critical-point label codes, by code (see the module docstring)."""

_TRACE_METHODS = ("hutch++", "hutchinson")
_REFINE_METHODS = ("newton", "gradnorm")


# --------------------------------------------------------------------------------------------
# result types (NamedTuples are pytrees: they pass through jit and vmap)


class LanczosResult(NamedTuple):
    """``alphas (m,)`` diagonal and ``betas (m,)`` off-diagonal of the tridiagonal matrix
    ``T = V H V^T`` (``betas[j]`` couples steps ``j`` and ``j + 1``; ``betas[m - 1]`` is the norm
    of the last residual, used for error bounds; a zero marks a breakdown restart), and the
    orthonormal Lanczos basis ``basis (m, n_params)`` as rows."""

    alphas: jax.Array
    betas: jax.Array
    basis: jax.Array


class RitzPairs(NamedTuple):
    """Ritz values ``(k,)``, Ritz vectors as columns ``(n_params, k)`` and residual bounds
    ``|H y - theta y|`` ``(k,)`` (from the last Lanczos coefficient; small = converged)."""

    values: jax.Array
    vectors: jax.Array
    residuals: jax.Array


class ExtremeEigenpairs(NamedTuple):
    """``largest``: the k largest Ritz pairs, descending; ``smallest``: the k smallest
    (most negative first), ascending."""

    largest: RitzPairs
    smallest: RitzPairs


class TraceEstimate(NamedTuple):
    """A stochastic trace estimate and its standard error (from the spread of the probes)."""

    estimate: jax.Array
    stderr: jax.Array


class SpectralDensity(NamedTuple):
    """Stochastic Lanczos quadrature: ``nodes`` and ``weights``, both ``(num_probes, num_steps)``.

    Weights sum to 1 over both axes; the spectral density is ``sum_ij w_ij delta(t - nodes_ij)``
    (see :func:`gaussian_density`)."""

    nodes: jax.Array
    weights: jax.Array


class CriticalPoint(NamedTuple):
    """What :func:`classify` reports for one point (a leading axis when batched).

    label:        int code into :data:`LABEL_NAMES`.
    index:        number of negative eigenvalues (the saddle index; reported for every label).
    n_negative, n_zero, n_positive: eigenvalue counts under the relative zero tolerance.
    grad_norm:    Euclidean norm of the gradient.
    loss:         the loss at the point.
    eigenvalues:  ``(n_params,)`` ascending eigenvalues of the Hessian.
    """

    label: jax.Array
    index: jax.Array
    n_negative: jax.Array
    n_zero: jax.Array
    n_positive: jax.Array
    grad_norm: jax.Array
    loss: jax.Array
    eigenvalues: jax.Array


class LowerSearch(NamedTuple):
    """What :func:`search_lower` reports.

    loss:          loss at the point.
    best_loss:     lowest loss found within ``radius`` of it.
    found_lower:   ``best_loss < loss - (loss_rtol * |loss| + loss_atol)``: the point is not a
                   local minimum at this scale. ``False`` means nothing lower was found, which
                   is evidence, not proof, of a minimum.
    best_params:   the params where ``best_loss`` was found (pytree like the input).
    best_distance: their distance from the point.
    """

    loss: jax.Array
    best_loss: jax.Array
    found_lower: jax.Array
    best_params: Any
    best_distance: jax.Array


class RefineResult(NamedTuple):
    """What :func:`refine` reports: final ``params``, their ``loss`` and ``grad_norm``,
    ``converged`` (``grad_norm <= tol``) and ``num_steps`` taken (iterations, accepted or not)."""

    params: Any
    loss: jax.Array
    grad_norm: jax.Array
    converged: jax.Array
    num_steps: jax.Array


# --------------------------------------------------------------------------------------------
# argument checks (Python level, before tracing)


def _is_tracer(x) -> bool:
    return isinstance(x, jax.core.Tracer)


def _check_loss_fn(loss_fn) -> None:
    if not callable(loss_fn):
        raise TypeError(f"loss_fn={loss_fn!r} must be a callable loss_fn(params, data) -> scalar")
    try:
        hash(loss_fn)
    except TypeError:
        raise TypeError(
            f"loss_fn={loss_fn!r} must be hashable (it is a static argument of the compiled "
            "program); wrap it in a function or functools.partial"
        ) from None


def _point_info(params, batched: bool):
    """``(n_params, dtype, batch_size)`` of one point (or of each row of a batch)."""
    leaves = float_leaves(params)
    batch = None
    if batched:
        sizes = {leaf.shape[0] if leaf.ndim else None for leaf in leaves}
        if None in sizes or len(sizes) != 1:
            shapes = [tuple(leaf.shape) for leaf in leaves]
            raise ValueError(
                f"params of a batched function must share a leading batch axis on every leaf, "
                f"got leaf shapes {shapes}"
            )
        batch = sizes.pop()
        if batch < 1:
            raise ValueError("params has an empty batch axis (0 points); expected at least one")
        n = sum(math.prod(leaf.shape[1:]) for leaf in leaves)
    else:
        n = sum(math.prod(leaf.shape) for leaf in leaves)
    dtype = jnp.result_type(*[leaf.dtype for leaf in leaves])
    return n, dtype, batch


def _check_int(name, value, low, high=None, what=""):
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{name}={value!r} must be an int{what}")
    if value < low or (high is not None and value > high):
        rng = f">= {low}" if high is None else f"in [{low}, {high}]"
        raise ValueError(f"{name}={value!r} must be {rng}{what}")
    return int(value)


def _check_tol(name, value, default, positive=False):
    """A non-negative (or positive) number; ``None`` gives ``default``; tracers pass unchecked."""
    if value is None:
        return default
    if _is_tracer(value):
        return value
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise TypeError(f"{name}={value!r} must be a number") from None
    if not math.isfinite(v) or v < 0 or (positive and v == 0):
        raise ValueError(f"{name}={value!r} must be a finite {'positive' if positive else 'non-negative'} number")
    return v


def _check_key(key):
    if key is None:
        raise TypeError("key=None: this function draws random vectors; pass key=jax.random.key(seed)")
    dtype = getattr(key, "dtype", None)
    if dtype is not None and jnp.issubdtype(dtype, jax.dtypes.prng_key) and key.shape == ():
        return key
    if dtype == jnp.uint32 and tuple(key.shape) == (2,):
        return key
    raise TypeError(
        f"key={key!r} must be one PRNG key (jax.random.key(seed) or jax.random.PRNGKey(seed))"
    )


def _check_chunk(chunk_size):
    if chunk_size is None:
        return None
    return _check_int("chunk_size", chunk_size, 1, what=" (points per chunk) or None")


def _eps(dtype) -> float:
    return float(jnp.finfo(dtype).eps)


# --------------------------------------------------------------------------------------------
# dispatch: one jitted entry point for every function, single or batched


@functools.partial(jax.jit, static_argnames=("impl", "loss_fn", "static", "block", "mesh"))
def _run(impl, loss_fn, params, data, key, mapped, shared, *, static, block, mesh):
    """``impl(loss_fn, params, data, key, mapped, **shared, **dict(static))`` for one point
    (``block=None``), or over the leading axis of ``params`` and ``mapped`` with per-point
    keys, in blocks of ``block`` points spread over the devices of ``mesh``."""
    opts = dict(static)

    def one(args, data, shared):
        p, k, m = args
        return impl(loss_fn, p, data, k, m, **shared, **opts)

    if block is None:
        return one((params, key, mapped), data, shared)
    n = jax.tree_util.tree_leaves(params)[0].shape[0]
    keys = None if key is None else jax.vmap(lambda i: jax.random.fold_in(key, i))(jnp.arange(n))
    return parallel.map_blocks(jax.vmap(one, in_axes=(0, None, None)), (params, keys, mapped),
                               (data, shared), block=block, mesh=mesh)


def _call(impl, loss_fn, params, data, *, key=None, mapped=None, shared=None, static=(),
          batched=False, chunk_size=None, devices=None):
    block = mesh = None
    if batched:
        block = parallel.point_block(jax.tree_util.tree_leaves(params)[0].shape[0], chunk_size)
        mesh = parallel.local_mesh(devices)
    return _run(impl, loss_fn, params, data, key, mapped, shared or {},
                static=tuple(static), block=block, mesh=mesh)


# --------------------------------------------------------------------------------------------
# building blocks (traced code)


def _flat_loss(loss_fn, params, data):
    x, unravel = ravel_pytree(params)
    return (lambda y: loss_fn(unravel(y), data)), x, unravel


def _flat_hvp(loss_fn, params, data):
    """``(matvec, x)``: the flat HVP ``v -> H v`` (forward-over-reverse, linearized once)."""
    f, x, _ = _flat_loss(loss_fn, params, data)
    _, matvec = jax.linearize(jax.grad(f), x)
    return matvec, x


def _orthogonalize(basis, w):
    """``w`` minus its projection on the rows of ``basis``, twice (classical Gram-Schmidt)."""
    w = w - basis.T @ (basis @ w)
    return w - basis.T @ (basis @ w)


def _lanczos_core(matvec, v0, fresh):
    """Lanczos with full re-orthogonalization from ``v0``; on breakdown at step ``j`` it goes on
    with ``fresh[j]`` (random, made orthogonal to the basis). ``num_steps = len(fresh)``.
    (Random draws are made by the caller, once: drawing inside the loop compiles slowly.)"""
    num_steps = fresh.shape[0]
    n = v0.shape[0]
    dtype = v0.dtype
    # An invariant subspace is declared when the new residual is below this fraction of the
    # largest coefficient seen; the error it causes in T is at most that small.
    breakdown_rtol = _eps(dtype) ** 0.75
    tiny = jnp.finfo(dtype).tiny
    basis = jnp.zeros((num_steps, n), dtype).at[0].set(v0 / jnp.linalg.norm(v0))
    alphas = jnp.zeros((num_steps,), dtype)
    betas = jnp.zeros((num_steps,), dtype)

    def body(j, state):
        basis, alphas, betas, scale = state
        v = basis[j]
        w = matvec(v)
        alpha = jnp.vdot(v, w)
        w = _orthogonalize(basis, w)
        beta = jnp.linalg.norm(w)
        scale = jnp.maximum(scale, jnp.maximum(jnp.abs(alpha), beta))
        broken = beta <= breakdown_rtol * scale
        # On breakdown continue with a fresh direction orthogonal to the basis (T decouples).
        w = jnp.where(broken, _orthogonalize(basis, fresh[j]), w)
        nxt = w / jnp.maximum(jnp.linalg.norm(w), tiny)
        beta = jnp.where(broken, jnp.zeros_like(beta), beta)
        last = j + 1 >= num_steps
        row = jnp.minimum(j + 1, num_steps - 1)
        basis = basis.at[row].set(jnp.where(last, basis[row], nxt))
        return basis, alphas.at[j].set(alpha), betas.at[j].set(beta), scale

    state = (basis, alphas, betas, jnp.zeros((), dtype))
    basis, alphas, betas, _ = jax.lax.fori_loop(0, num_steps, body, state)
    return LanczosResult(alphas, betas, basis)


def _tridiagonal(alphas, betas):
    off = betas[:-1]
    return jnp.diag(alphas) + jnp.diag(off, 1) + jnp.diag(off, -1)


def _ritz(result: LanczosResult):
    """Ascending Ritz values, Ritz vectors (columns) and residual bounds."""
    theta, s = jnp.linalg.eigh(_tridiagonal(result.alphas, result.betas))
    vectors = result.basis.T @ s
    residuals = jnp.abs(result.betas[-1] * s[-1, :])
    return theta, vectors, residuals, s


def _grad_norm(loss_fn, params, data):
    loss, g = jax.value_and_grad(loss_fn)(params, data)
    return loss, jnp.linalg.norm(ravel_pytree(g)[0])


# --------------------------------------------------------------------------------------------
# implementations (signature: loss_fn, params, data, key, mapped, **options)


def _hvp_impl(loss_fn, params, data, key, v):
    return jax.jvp(lambda p: jax.grad(loss_fn)(p, data), (params,), (v,))[1]


def _hvp_flat_impl(loss_fn, params, data, key, v):
    matvec, _ = _flat_hvp(loss_fn, params, data)
    return matvec(v)


def _hessian_impl(loss_fn, params, data, key, mapped):
    f, x, _ = _flat_loss(loss_fn, params, data)
    return jax.hessian(f)(x)


def _eigh_impl(loss_fn, params, data, key, mapped):
    return jnp.linalg.eigh(_hessian_impl(loss_fn, params, data, key, mapped))


def _lanczos_impl(loss_fn, params, data, key, mapped, *, num_steps):
    matvec, x = _flat_hvp(loss_fn, params, data)
    draws = jax.random.normal(key, (num_steps + 1, x.shape[0]), x.dtype)
    return _lanczos_core(matvec, draws[0], draws[1:])


def _extreme_impl(loss_fn, params, data, key, mapped, *, num_steps, k):
    theta, vectors, residuals, _ = _ritz(_lanczos_impl(loss_fn, params, data, key, None,
                                                      num_steps=num_steps))
    largest = RitzPairs(theta[::-1][:k], vectors[:, ::-1][:, :k], residuals[::-1][:k])
    smallest = RitzPairs(theta[:k], vectors[:, :k], residuals[:k])
    return ExtremeEigenpairs(largest, smallest)


def _rademacher(key, shape, dtype):
    return jax.random.rademacher(key, shape, dtype)


def _trace_impl(loss_fn, params, data, key, mapped, *, num_probes, method):
    matvec, x = _flat_hvp(loss_fn, params, data)
    n, dtype = x.shape[0], x.dtype
    mv = jax.vmap(matvec, in_axes=1, out_axes=1)  # (n, m) -> (n, m)
    draws = _rademacher(key, (n, num_probes), dtype)
    if method == "hutchinson":
        g = draws
        samples = jnp.sum(g * mv(g), axis=0)
        est = jnp.mean(samples)
        return TraceEstimate(est, jnp.std(samples, ddof=1) / jnp.sqrt(num_probes))
    if method == "hutch++":
        s_cols = num_probes // 3
        g_cols = num_probes - 2 * s_cols
        sketch = draws[:, :s_cols]
        q, _ = jnp.linalg.qr(mv(sketch))  # (n, min(n, s_cols)), orthonormal columns
        low_rank = jnp.trace(q.T @ mv(q))
        g = draws[:, 2 * s_cols:]
        g = g - q @ (q.T @ g)
        samples = jnp.sum(g * mv(g), axis=0)
        stderr = jnp.std(samples, ddof=1) / jnp.sqrt(g_cols)
        return TraceEstimate(low_rank + jnp.mean(samples), stderr)
    raise ValueError(f"method={method!r} is not known; expected one of {_TRACE_METHODS}")


def _slq_impl(loss_fn, params, data, key, probes, *, num_steps, num_probes):
    matvec, x = _flat_hvp(loss_fn, params, data)
    # one draw: row 0 of each block is the probe, rows 1.. the restart directions
    draws = jax.random.normal(key, (num_probes, num_steps + 1, x.shape[0]), x.dtype)
    if probes is not None:
        draws = draws.at[:, 0].set(probes.astype(x.dtype))

    def one(d):
        theta, _, _, s = _ritz(_lanczos_core(matvec, d[0], d[1:]))
        return theta, s[0, :] ** 2

    nodes, weights = jax.vmap(one)(draws)
    return SpectralDensity(nodes, weights / num_probes)


def _restricted_impl(loss_fn, params, data, key, mapped, *, basis):
    matvec, x = _flat_hvp(loss_fn, params, data)
    q = basis.astype(x.dtype)
    hq = jax.vmap(matvec, in_axes=1, out_axes=1)(q)
    m = q.T @ hq
    return 0.5 * (m + m.T)


def _top_split(params):
    """Top-level children of ``params`` and the one-level treedef that rebuilds it."""
    return jax.tree_util.tree_flatten(params, is_leaf=lambda t: t is not params)


def _layers_impl(loss_fn, params, data, key, mapped):
    children, top = _top_split(params)
    blocks = []
    for i, child in enumerate(children):
        x, unravel = ravel_pytree(child)

        def f(y, i=i, unravel=unravel):
            parts = list(children)
            parts[i] = unravel(y)
            return loss_fn(jax.tree_util.tree_unflatten(top, parts), data)

        blocks.append(jax.hessian(f)(x))
    return jax.tree_util.tree_unflatten(top, blocks)


def _counts(eigenvalues, rtol, atol):
    scale = jnp.max(jnp.abs(eigenvalues), axis=-1, keepdims=True)
    zero_tol = rtol * scale + atol
    neg = jnp.sum(eigenvalues < -zero_tol, axis=-1)
    pos = jnp.sum(eigenvalues > zero_tol, axis=-1)
    zero = eigenvalues.shape[-1] - neg - pos
    return neg, zero, pos


def _label(grad_norm, neg, zero, pos, grad_tol):
    label = jnp.where(
        grad_norm > grad_tol, NOT_CRITICAL,
        jnp.where((neg > 0) & (pos > 0), SADDLE,
                  jnp.where(zero > 0, DEGENERATE,
                            jnp.where(neg == 0, MINIMUM, MAXIMUM))))
    return label.astype(jnp.int32)


def _classify_impl(loss_fn, params, data, key, mapped, *, grad_tol, rtol, atol):
    loss, gnorm = _grad_norm(loss_fn, params, data)
    eigenvalues = jnp.linalg.eigvalsh(_hessian_impl(loss_fn, params, data, None, None))
    neg, zero, pos = _counts(eigenvalues, rtol, atol)
    label = _label(gnorm, neg, zero, pos, grad_tol)
    i32 = lambda a: a.astype(jnp.int32)  # noqa: E731
    return CriticalPoint(label, i32(neg), i32(neg), i32(zero), i32(pos), gnorm, loss, eigenvalues)


def _search_impl(loss_fn, params, data, key, mapped, *, radius, num_directions, num_points,
                 curvature, num_starts, num_steps, loss_rtol, loss_atol):
    f, x0, unravel = _flat_loss(loss_fn, params, data)
    n, dtype = x0.shape[0], x0.dtype
    tiny = jnp.finfo(dtype).tiny
    loss0 = f(x0)
    z = jax.random.normal(key, (2 * num_directions + num_starts, n), dtype)  # one draw
    z = z / jnp.maximum(jnp.linalg.norm(z, axis=-1, keepdims=True), tiny)
    u, c, starts = jnp.split(z, [num_directions, 2 * num_directions])

    def to_ball(delta):
        norm = jnp.linalg.norm(delta, axis=-1, keepdims=True)
        return delta * jnp.minimum(1.0, radius / jnp.maximum(norm, tiny))

    # 1. curved paths x0 + s u + a s^2 c, s in (0, radius], a evenly spread over
    #    [-curvature, curvature] (a = 0: straight lines)
    a = (curvature * jnp.linspace(-1.0, 1.0, num_directions, dtype=dtype))[:, None, None]
    s = (radius * jnp.arange(1, num_points + 1, dtype=dtype) / num_points)[None, :, None]
    deltas = to_ball(s * u[:, None, :] + a * s**2 * c[:, None, :]).reshape(-1, n)
    path_losses = jax.vmap(lambda d: f(x0 + d))(deltas)

    # 2. projected, normalized gradient descent inside the ball from random starts at half the
    #    radius (the random start is the perturbation), step size decaying linearly
    grad = jax.grad(f)
    starts = 0.5 * radius * starts

    def descend(d0):
        def body(t, state):
            d, best_d, best = state
            g = grad(x0 + d)
            step = radius * 0.1 * (1.0 - t / num_steps) + radius * 1e-3
            d = to_ball(d - step * g / jnp.maximum(jnp.linalg.norm(g), tiny))
            val = f(x0 + d)
            better = val < best
            return d, jnp.where(better, d, best_d), jnp.where(better, val, best)

        _, best_d, best = jax.lax.fori_loop(0, num_steps, body, (d0, d0, f(x0 + d0)))
        return best_d, best

    gd_deltas, gd_losses = jax.vmap(descend)(starts)

    all_deltas = jnp.concatenate([deltas, gd_deltas], axis=0)
    all_losses = jnp.concatenate([path_losses, gd_losses], axis=0)
    all_losses = jnp.where(jnp.isfinite(all_losses), all_losses, jnp.inf)
    i = jnp.argmin(all_losses)
    best_loss, best_delta = all_losses[i], all_deltas[i]
    found = best_loss < loss0 - (loss_rtol * jnp.abs(loss0) + loss_atol)
    return LowerSearch(loss0, best_loss, found, unravel(x0 + best_delta),
                       jnp.linalg.norm(best_delta))


def _refine_newton(loss_fn, params, data, key, mapped, *, max_steps, tol):
    """Levenberg-Marquardt on the residual ``g(x) = grad f(x)`` (Jacobian ``H``, symmetric):
    ``d = -(H^2 + mu I)^+ H g``. Steps are accepted when ``|g|`` decreases; ``mu`` (relative to
    ``max lam^2``) shrinks on success and grows on failure. Zero modes get no step, so the
    iteration also settles on critical manifolds; any index of saddle is a fixed point."""
    f, x0, unravel = _flat_loss(loss_fn, params, data)
    dtype = x0.dtype
    grad = jax.grad(f)
    hess = jax.hessian(f)
    tiny = jnp.finfo(dtype).tiny
    mu_floor = _eps(dtype)

    def norm(g):
        return jnp.linalg.norm(g)

    def cond(state):
        x, g, gn, rel_mu, it = state
        return (it < max_steps) & (gn > tol)

    def body(state):
        x, g, gn, rel_mu, it = state
        lam, u = jnp.linalg.eigh(hess(x))
        mu = rel_mu * jnp.max(lam**2)
        coef = lam / jnp.maximum(lam**2 + mu, tiny)
        x_new = x - u @ (coef * (u.T @ g))
        g_new = grad(x_new)
        gn_new = norm(g_new)
        ok = jnp.isfinite(gn_new) & (gn_new < gn)
        rel_mu = jnp.where(ok, jnp.maximum(rel_mu * 0.1, mu_floor), jnp.minimum(rel_mu * 10.0, 1e16))
        return (jnp.where(ok, x_new, x), jnp.where(ok, g_new, g), jnp.where(ok, gn_new, gn),
                rel_mu, it + 1)

    g0 = grad(x0)
    state = (x0, g0, norm(g0), jnp.asarray(1e-3, dtype), jnp.asarray(0, jnp.int32))
    x, g, gn, _, it = jax.lax.while_loop(cond, body, state)
    return RefineResult(unravel(x), f(x), gn, gn <= tol, it)


def _refine_gradnorm(loss_fn, params, data, key, mapped, *, max_steps, tol, optimizer):
    """Minimize ``0.5 |grad f|^2`` with an optax optimizer; its gradient ``H g`` is one HVP."""
    f, x0, unravel = _flat_loss(loss_fn, params, data)
    grad = jax.grad(f)

    def objective_grad(x):
        g, hg = jax.jvp(grad, (x,), (grad(x),))
        return g, hg

    def cond(state):
        x, opt_state, gn, it = state
        return (it < max_steps) & (gn > tol)

    def body(state):
        x, opt_state, gn, it = state
        g, hg = objective_grad(x)
        updates, opt_state = optimizer.update(hg, opt_state, x)
        x = optax.apply_updates(x, updates)
        return x, opt_state, jnp.linalg.norm(grad(x)), it + 1

    state = (x0, optimizer.init(x0), jnp.linalg.norm(grad(x0)), jnp.asarray(0, jnp.int32))
    x, _, gn, it = jax.lax.while_loop(cond, body, state)
    return RefineResult(unravel(x), f(x), gn, gn <= tol, it)


# --------------------------------------------------------------------------------------------
# public API: exact curvature


def _check_v(params, v, batched):
    """``"tree"`` when ``v`` is shaped like ``params``, ``"flat"`` when it is a flat vector."""
    n, _, batch = _point_info(params, batched)
    p_struct = jax.tree_util.tree_structure(params)
    v_struct = jax.tree_util.tree_structure(v)
    lead = (batch,) if batched else ()
    if p_struct == v_struct and all(
        getattr(a, "shape", None) == b.shape
        for a, b in zip(jax.tree_util.tree_leaves(v), jax.tree_util.tree_leaves(params))
    ):
        float_leaves(v, "v")
        return "tree"
    if hasattr(v, "shape") and v_struct.num_leaves == 1 and tuple(v.shape) == lead + (n,):
        float_leaves(v, "v")
        return "flat"
    shape = getattr(v, "shape", None)
    raise ValueError(
        f"v (structure {v_struct}, shape {shape}) must be a pytree shaped like params or a flat "
        f"vector of shape {lead + (n,)} (n_params={n})"
    )


def hvp(loss_fn, params, data, v):
    """Hessian-vector product ``H v`` at ``params`` (forward-over-reverse).

    ``v`` is a pytree shaped like ``params`` (the result is too) or a flat vector of length
    ``n_params`` in ``ravel_pytree`` order (the result is flat).

    >>> import jax, jax.numpy as jnp
    >>> quad = lambda p, a: 0.5 * jnp.sum(a * p**2)  # Hessian diag(a) everywhere
    >>> a = jnp.array([1.0, 2.0, -3.0])
    >>> hvp(quad, jnp.zeros(3), a, jnp.ones(3)).tolist()
    [1.0, 2.0, -3.0]
    """
    _check_loss_fn(loss_fn)
    mode = _check_v(params, v, False)
    impl = _hvp_impl if mode == "tree" else _hvp_flat_impl
    return _call(impl, loss_fn, params, data, mapped=v)


def hvp_batched(loss_fn, params, data, v, *, chunk_size=None, devices=None):
    """:func:`hvp` for each row of ``params`` with the matching row of ``v``: ``v`` and the
    result carry the batch axis, ``(batch, ...)`` like ``params`` or flat ``(batch, n_params)``.

    >>> import jax, jax.numpy as jnp
    >>> quad = lambda p, a: 0.5 * jnp.sum(a * p**2)  # Hessian diag(a) everywhere
    >>> a = jnp.array([1.0, 2.0, -3.0])
    >>> hvp_batched(quad, jnp.zeros((2, 3)), a, jnp.array([[1.0, 1, 1], [0, 1, 2]])).tolist()
    [[1.0, 2.0, -3.0], [0.0, 2.0, -6.0]]
    """
    _check_loss_fn(loss_fn)
    mode = _check_v(params, v, True)
    impl = _hvp_impl if mode == "tree" else _hvp_flat_impl
    return _call(impl, loss_fn, params, data, mapped=v, batched=True,
                 chunk_size=_check_chunk(chunk_size), devices=devices)


def hessian(loss_fn, params, data):
    """Dense Hessian ``(n_params, n_params)`` on the flattened params (for small networks).

    >>> import jax, jax.numpy as jnp
    >>> quad = lambda p, a: 0.5 * jnp.sum(a * p**2)  # Hessian diag(a) everywhere
    >>> a = jnp.array([1.0, 2.0, -3.0])
    >>> jnp.diag(hessian(quad, jnp.zeros(3), a)).tolist()
    [1.0, 2.0, -3.0]
    """
    _check_loss_fn(loss_fn)
    _point_info(params, False)
    return _call(_hessian_impl, loss_fn, params, data)


def hessian_batched(loss_fn, params, data, *, chunk_size=None, devices=None):
    """Dense Hessians ``(batch, n_params, n_params)`` of each row of ``params``.

    >>> import jax, jax.numpy as jnp
    >>> quad = lambda p, a: 0.5 * jnp.sum(a * p**2)  # Hessian diag(a) everywhere
    >>> a = jnp.array([1.0, 2.0, -3.0])
    >>> hessian_batched(quad, jnp.zeros((4, 3)), a).shape
    (4, 3, 3)
    """
    _check_loss_fn(loss_fn)
    _point_info(params, True)
    return _call(_hessian_impl, loss_fn, params, data, batched=True,
                 chunk_size=_check_chunk(chunk_size), devices=devices)


def hessian_eigh(loss_fn, params, data):
    """Eigen-decomposition of the dense Hessian: ``(eigenvalues (n,), eigenvectors (n, n))``,
    ascending, eigenvectors as columns (``jnp.linalg.eigh``'s result type).

    >>> import jax, jax.numpy as jnp
    >>> quad = lambda p, a: 0.5 * jnp.sum(a * p**2)  # Hessian diag(a) everywhere
    >>> a = jnp.array([1.0, 2.0, -3.0])
    >>> eigenvalues, eigenvectors = hessian_eigh(quad, jnp.zeros(3), a)
    >>> eigenvalues.tolist(), eigenvectors.shape
    ([-3.0, 1.0, 2.0], (3, 3))
    """
    _check_loss_fn(loss_fn)
    _point_info(params, False)
    return _call(_eigh_impl, loss_fn, params, data)


def hessian_eigh_batched(loss_fn, params, data, *, chunk_size=None, devices=None):
    """:func:`hessian_eigh` of each row of ``params``: ``(batch, n)`` and ``(batch, n, n)``.

    >>> import jax, jax.numpy as jnp
    >>> quad = lambda p, a: 0.5 * jnp.sum(a * p**2)  # Hessian diag(a) everywhere
    >>> a = jnp.array([1.0, 2.0, -3.0])
    >>> eigenvalues, eigenvectors = hessian_eigh_batched(quad, jnp.zeros((2, 3)), a)
    >>> eigenvalues.tolist(), eigenvectors.shape
    ([[-3.0, 1.0, 2.0], [-3.0, 1.0, 2.0]], (2, 3, 3))
    """
    _check_loss_fn(loss_fn)
    _point_info(params, True)
    return _call(_eigh_impl, loss_fn, params, data, batched=True,
                 chunk_size=_check_chunk(chunk_size), devices=devices)


# --------------------------------------------------------------------------------------------
# public API: matrix-free


def _check_steps(num_steps, n, default):
    if num_steps is None and default is not None:
        return min(n, default)
    return _check_int("num_steps", num_steps, 1, n, f" (Lanczos steps; n_params={n})")


def lanczos(loss_fn, params, data, *, key, num_steps):
    """``num_steps`` Lanczos steps on the Hessian from a random start, full re-orthogonalization.

    Returns :class:`LanczosResult` (``alphas (m,)``, ``betas (m,)``, ``basis (m, n_params)``
    with ``m = num_steps``); ``num_steps`` must be in ``[1, n_params]``.

    >>> import jax, jax.numpy as jnp
    >>> quad = lambda p, a: 0.5 * jnp.sum(a * p**2)  # Hessian diag(a) everywhere
    >>> a = jnp.array([1.0, 2.0, -3.0])
    >>> result = lanczos(quad, jnp.zeros(3), a, key=jax.random.key(0), num_steps=3)
    >>> result.alphas.shape, result.basis.shape
    ((3,), (3, 3))
    >>> T = jnp.diag(result.alphas) + jnp.diag(result.betas[:2], 1) + jnp.diag(result.betas[:2], -1)
    >>> jnp.linalg.eigvalsh(T).round(4).tolist()  # a full run: the Hessian's eigenvalues
    [-3.0, 1.0, 2.0]
    """
    _check_loss_fn(loss_fn)
    n, _, _ = _point_info(params, False)
    m = _check_steps(num_steps, n, None)
    return _call(_lanczos_impl, loss_fn, params, data, key=_check_key(key),
                 static=(("num_steps", m),))


def lanczos_batched(loss_fn, params, data, *, key, num_steps, chunk_size=None, devices=None):
    """:func:`lanczos` for each row of ``params`` (point ``i`` uses ``fold_in(key, i)``):
    ``alphas``/``betas (batch, m)``, ``basis (batch, m, n_params)``.

    >>> import jax, jax.numpy as jnp
    >>> quad = lambda p, a: 0.5 * jnp.sum(a * p**2)  # Hessian diag(a) everywhere
    >>> a = jnp.array([1.0, 2.0, -3.0])
    >>> result = lanczos_batched(quad, jnp.zeros((2, 3)), a, key=jax.random.key(0), num_steps=2)
    >>> result.alphas.shape, result.basis.shape
    ((2, 2), (2, 2, 3))
    """
    _check_loss_fn(loss_fn)
    n, _, _ = _point_info(params, True)
    m = _check_steps(num_steps, n, None)
    return _call(_lanczos_impl, loss_fn, params, data, key=_check_key(key),
                 static=(("num_steps", m),), batched=True, chunk_size=_check_chunk(chunk_size),
                 devices=devices)


def _extreme_args(params, batched, k, num_steps):
    n, _, _ = _point_info(params, batched)
    k = _check_int("k", k, 1, n, f" (eigenpairs at each end; n_params={n})")
    m = _check_steps(num_steps, n, max(3 * k, 40))
    if k > m:
        raise ValueError(f"k={k} must be <= num_steps={m}: Lanczos gives num_steps Ritz pairs")
    return (("num_steps", m), ("k", k))


def extreme_eigenpairs(loss_fn, params, data, *, k, key, num_steps=None):
    """The ``k`` largest and ``k`` smallest (most negative) eigenpairs of the Hessian by Lanczos.

    ``num_steps`` defaults to ``min(n_params, max(3 k, 40))``; with ``num_steps = n_params`` the
    Ritz pairs are the exact eigenpairs (up to rounding). Check ``residuals`` for convergence.
    Returns :class:`ExtremeEigenpairs`: ``values (k,)``, ``vectors (n_params, k)``,
    ``residuals (k,)`` at each end.

    >>> import jax, jax.numpy as jnp
    >>> quad = lambda p, a: 0.5 * jnp.sum(a * p**2)  # Hessian diag(a) everywhere
    >>> a = jnp.array([1.0, 2.0, -3.0])
    >>> pairs = extreme_eigenpairs(quad, jnp.zeros(3), a, k=1, key=jax.random.key(0))
    >>> pairs.largest.values.round(4).tolist(), pairs.smallest.values.round(4).tolist()
    ([2.0], [-3.0])
    >>> pairs.smallest.vectors.shape
    (3, 1)
    """
    _check_loss_fn(loss_fn)
    static = _extreme_args(params, False, k, num_steps)
    return _call(_extreme_impl, loss_fn, params, data, key=_check_key(key), static=static)


def extreme_eigenpairs_batched(loss_fn, params, data, *, k, key, num_steps=None, chunk_size=None,
                               devices=None):
    """:func:`extreme_eigenpairs` for each row of ``params``: every array gains a leading
    batch axis (``values (batch, k)``, ``vectors (batch, n_params, k)``).

    >>> import jax, jax.numpy as jnp
    >>> quad = lambda p, a: 0.5 * jnp.sum(a * p**2)  # Hessian diag(a) everywhere
    >>> a = jnp.array([1.0, 2.0, -3.0])
    >>> pairs = extreme_eigenpairs_batched(quad, jnp.zeros((2, 3)), a, k=1, key=jax.random.key(0))
    >>> pairs.smallest.values.round(4).tolist(), pairs.largest.vectors.shape
    ([[-3.0], [-3.0]], (2, 3, 1))
    """
    _check_loss_fn(loss_fn)
    static = _extreme_args(params, True, k, num_steps)
    return _call(_extreme_impl, loss_fn, params, data, key=_check_key(key), static=static,
                 batched=True, chunk_size=_check_chunk(chunk_size), devices=devices)


def _trace_args(num_probes, method):
    if method not in _TRACE_METHODS:
        raise ValueError(f"method={method!r} is not known; expected one of {_TRACE_METHODS}")
    low = 3 if method == "hutch++" else 2
    num_probes = _check_int("num_probes", num_probes, low,
                            what=f" (Hessian-vector products; at least {low} for {method!r})")
    return (("num_probes", num_probes), ("method", method))


def hessian_trace(loss_fn, params, data, *, key, num_probes=30, method="hutch++"):
    """Stochastic estimate of ``trace(H)`` from ``num_probes`` Hessian-vector products.

    ``method="hutchinson"``: mean of ``g^T H g`` over Rademacher probes ``g``.
    ``method="hutch++"`` (Meyer et al. 2021): a third of the products sketch the top of the
    spectrum (``Q = qr(H S)``, whose trace is exact), the rest run Hutchinson on the deflated
    remainder; it is exact when ``num_probes // 3 >= rank(H)``.
    Returns :class:`TraceEstimate` (estimate, standard error), scalars.

    >>> import jax, jax.numpy as jnp
    >>> quad = lambda p, a: 0.5 * jnp.sum(a * p**2)  # Hessian diag(a) everywhere
    >>> a = jnp.array([1.0, 2.0, -3.0])
    >>> trace = hessian_trace(quad, jnp.zeros(3), a + 6.0, key=jax.random.key(0), num_probes=9)
    >>> round(float(trace.estimate), 4)  # exact, trace(diag(7, 8, 3)): num_probes // 3 >= rank 3
    18.0
    """
    _check_loss_fn(loss_fn)
    _point_info(params, False)
    return _call(_trace_impl, loss_fn, params, data, key=_check_key(key),
                 static=_trace_args(num_probes, method))


def hessian_trace_batched(loss_fn, params, data, *, key, num_probes=30, method="hutch++",
                          chunk_size=None, devices=None):
    """:func:`hessian_trace` for each row of ``params``: estimate and stderr ``(batch,)``.

    >>> import jax, jax.numpy as jnp
    >>> quad = lambda p, a: 0.5 * jnp.sum(a * p**2)  # Hessian diag(a) everywhere
    >>> a = jnp.array([1.0, 2.0, -3.0])
    >>> trace = hessian_trace_batched(quad, jnp.zeros((2, 3)), a + 6.0, key=jax.random.key(0),
    ...                               method="hutchinson", num_probes=4)
    >>> trace.estimate.round(4).tolist()  # Rademacher probes: exact for a diagonal Hessian
    [18.0, 18.0]
    """
    _check_loss_fn(loss_fn)
    _point_info(params, True)
    return _call(_trace_impl, loss_fn, params, data, key=_check_key(key),
                 static=_trace_args(num_probes, method), batched=True,
                 chunk_size=_check_chunk(chunk_size), devices=devices)


def _slq_args(params, batched, num_steps, num_probes, probes):
    n, dtype, batch = _point_info(params, batched)
    m = _check_steps(num_steps, n, 64)
    if probes is None:
        num_probes = 8 if num_probes is None else num_probes
        num_probes = _check_int("num_probes", num_probes, 1, what=" (random probe vectors)")
    else:
        if num_probes is not None:
            raise ValueError(f"num_probes={num_probes!r} conflicts with the given probes; pass one")
        shape = tuple(getattr(probes, "shape", ()))
        lead = (batch,) if batched else ()
        if len(shape) != len(lead) + 2 or shape[:len(lead)] != lead or shape[-1] != n or shape[-2] < 1:
            raise ValueError(
                f"probes of shape {shape} must have shape {lead + ('num_probes', n)} "
                f"(n_params={n})"
            )
        num_probes = shape[-2]
    return (("num_steps", m), ("num_probes", num_probes))


def spectral_density(loss_fn, params, data, *, key, num_steps=None, num_probes=None, probes=None):
    """Hessian spectral density by stochastic Lanczos quadrature (Ghorbani et al. 2019).

    ``num_probes`` Gaussian probes (default 8), or the rows of the given ``probes``
    ``(num_probes, n_params)``, each start a ``num_steps``-step Lanczos run (default
    ``min(n_params, 64)``). Returns :class:`SpectralDensity` with nodes and weights
    ``(num_probes, num_steps)``, weights summing to 1. Memory: ``num_probes * num_steps *
    n_params`` floats for the bases. See :func:`gaussian_density` for a curve.

    >>> import jax, jax.numpy as jnp
    >>> quad = lambda p, a: 0.5 * jnp.sum(a * p**2)  # Hessian diag(a) everywhere
    >>> a = jnp.array([1.0, 2.0, -3.0])
    >>> density = spectral_density(quad, jnp.zeros(3), a, key=jax.random.key(0), num_probes=2)
    >>> density.weights.shape, round(float(density.weights.sum()), 4)
    ((2, 3), 1.0)
    >>> density.nodes.round(4).tolist()  # num_steps = n_params: the nodes are the eigenvalues
    [[-3.0, 1.0, 2.0], [-3.0, 1.0, 2.0]]
    """
    _check_loss_fn(loss_fn)
    static = _slq_args(params, False, num_steps, num_probes, probes)
    return _call(_slq_impl, loss_fn, params, data, key=_check_key(key), mapped=probes,
                 static=static)


def spectral_density_batched(loss_fn, params, data, *, key, num_steps=None, num_probes=None,
                             probes=None, chunk_size=None, devices=None):
    """:func:`spectral_density` for each row of ``params`` (``probes``, if given, carry the
    batch axis too: ``(batch, num_probes, n_params)``): nodes and weights
    ``(batch, num_probes, num_steps)``.

    >>> import jax, jax.numpy as jnp
    >>> quad = lambda p, a: 0.5 * jnp.sum(a * p**2)  # Hessian diag(a) everywhere
    >>> a = jnp.array([1.0, 2.0, -3.0])
    >>> density = spectral_density_batched(quad, jnp.zeros((2, 3)), a, key=jax.random.key(0),
    ...                                    num_probes=4)
    >>> density.nodes.shape, density.weights.sum(axis=(1, 2)).round(4).tolist()
    ((2, 4, 3), [1.0, 1.0])
    """
    _check_loss_fn(loss_fn)
    static = _slq_args(params, True, num_steps, num_probes, probes)
    return _call(_slq_impl, loss_fn, params, data, key=_check_key(key), mapped=probes,
                 static=static, batched=True, chunk_size=_check_chunk(chunk_size), devices=devices)


@jax.jit
def _gaussian_density(nodes, weights, grid, sigma):
    z = (grid[:, None] - nodes.reshape(-1)[None, :]) / sigma
    kernel = jnp.exp(-0.5 * z**2) / (sigma * jnp.sqrt(2.0 * jnp.pi))
    return kernel @ weights.reshape(-1)


def gaussian_density(nodes, weights, grid, *, sigma):
    """The density ``sum_i w_i N(t; nodes_i, sigma^2)`` at each point ``t`` of ``grid``.

    ``nodes`` and ``weights`` are arrays of the same shape (all axes are summed over, e.g. the
    ``(num_probes, num_steps)`` of a :class:`SpectralDensity`); ``grid`` is 1-D. The result has
    ``grid``'s shape and integrates to ``sum(weights)`` (1 for SLQ) when the grid covers the
    nodes with a margin of a few ``sigma``.

    >>> import jax.numpy as jnp
    >>> grid = jnp.linspace(-5.0, 5.0, 1001)
    >>> density = gaussian_density(jnp.array([[0.0, 1.0]]), jnp.array([[0.5, 0.5]]), grid, sigma=0.5)
    >>> density.shape, round(float(jnp.sum(density) * (grid[1] - grid[0])), 3)
    ((1001,), 1.0)
    """
    nodes, weights, grid = jnp.asarray(nodes), jnp.asarray(weights), jnp.asarray(grid)
    if nodes.shape != weights.shape:
        raise ValueError(f"nodes {nodes.shape} and weights {weights.shape} must have the same shape")
    if grid.ndim != 1:
        raise ValueError(f"grid of shape {grid.shape} must be 1-D")
    sigma = _check_tol("sigma", sigma, None, positive=True)
    if sigma is None:
        raise TypeError("sigma=None: pass the Gaussian width as a positive number")
    return _gaussian_density(nodes, weights, grid, sigma)


# --------------------------------------------------------------------------------------------
# public API: blocks


def _check_basis(basis, n, dtype, ortho_tol):
    shape = tuple(getattr(basis, "shape", ()))
    if len(shape) != 2 or shape[0] != n or not 1 <= shape[1] <= n:
        raise ValueError(
            f"basis of shape {shape} must be (n_params, k) = ({n}, k) with 1 <= k <= {n}: "
            "orthonormal columns spanning the subspace"
        )
    if not jnp.issubdtype(basis.dtype, jnp.floating):
        raise TypeError(f"basis must be a floating array, got dtype {basis.dtype}")
    if not _is_tracer(basis):
        tol = _check_tol("ortho_tol", ortho_tol, math.sqrt(_eps(basis.dtype)))
        q = np.asarray(basis, np.float64)
        err = float(np.max(np.abs(q.T @ q - np.eye(shape[1]))))
        if not err <= tol:
            raise ValueError(
                f"basis columns must be orthonormal: max |Q^T Q - I| = {err:.3g} > ortho_tol={tol:.3g}"
                " (orthonormalize with jnp.linalg.qr)"
            )


def restricted_hessian(loss_fn, params, data, basis, *, ortho_tol=None):
    """``Q^T H Q`` ``(k, k)``: the Hessian restricted to the subspace spanned by the orthonormal
    columns of ``basis = Q`` ``(n_params, k)``, from ``k`` Hessian-vector products.

    The columns are checked to be orthonormal to ``ortho_tol`` (default ``sqrt(eps)`` of the
    basis dtype) when ``basis`` is concrete.

    >>> import jax, jax.numpy as jnp
    >>> quad = lambda p, a: 0.5 * jnp.sum(a * p**2)  # Hessian diag(a) everywhere
    >>> a = jnp.array([1.0, 2.0, -3.0])
    >>> basis = jnp.eye(3)[:, 1:]  # the span of the last two coordinates
    >>> restricted_hessian(quad, jnp.zeros(3), a, basis).tolist()
    [[2.0, 0.0], [0.0, -3.0]]
    """
    _check_loss_fn(loss_fn)
    n, dtype, _ = _point_info(params, False)
    _check_basis(basis, n, dtype, ortho_tol)
    return _call(_restricted_impl, loss_fn, params, data, shared={"basis": basis})


def restricted_hessian_batched(loss_fn, params, data, basis, *, ortho_tol=None, chunk_size=None,
                               devices=None):
    """:func:`restricted_hessian` of each row of ``params``, one shared ``basis``:
    ``(batch, k, k)``.

    >>> import jax, jax.numpy as jnp
    >>> quad = lambda p, a: 0.5 * jnp.sum(a * p**2)  # Hessian diag(a) everywhere
    >>> a = jnp.array([1.0, 2.0, -3.0])
    >>> restricted_hessian_batched(quad, jnp.zeros((5, 3)), a, jnp.eye(3)[:, :2]).shape
    (5, 2, 2)
    """
    _check_loss_fn(loss_fn)
    n, dtype, _ = _point_info(params, True)
    _check_basis(basis, n, dtype, ortho_tol)
    return _call(_restricted_impl, loss_fn, params, data, shared={"basis": basis}, batched=True,
                 chunk_size=_check_chunk(chunk_size), devices=devices)


def block_slices(params):
    """Where each top-level subtree of ``params`` lies in the flat vector: a container like
    ``params``' top level (list for a list of layers, dict for a dict) of ``slice`` objects.

    ``H[s, s]`` for ``s`` in it are the diagonal blocks :func:`layer_hessians` returns.

    >>> import jax, landscape as ls
    >>> block_slices(ls.mlp([2, 2, 1]).init(jax.random.key(0)))  # 6 + 3 params
    [slice(0, 6, None), slice(6, 9, None)]
    """
    float_leaves(params)
    children, top = _top_split(params)
    slices, start = [], 0
    for child in children:
        size = sum(math.prod(np.shape(leaf)) for leaf in jax.tree_util.tree_leaves(child))
        slices.append(slice(start, start + size))
        start += size
    return jax.tree_util.tree_unflatten(top, slices)


def layer_hessians(loss_fn, params, data):
    """Diagonal Hessian blocks of each top-level subtree of ``params`` (e.g. each layer of an MLP):
    a container like ``params``' top level of ``(n_l, n_l)`` matrices, each computed without the
    full Hessian. Block ``l`` equals ``hessian(...)[s, s]`` with ``s = block_slices(params)[l]``.

    >>> import jax, landscape as ls
    >>> model = ls.mlp([2, 2, 1])
    >>> blocks = layer_hessians(ls.objectives.loss(model), model.init(jax.random.key(0)),
    ...                         ls.datasets.xor())
    >>> [b.shape for b in blocks]
    [(6, 6), (3, 3)]
    """
    _check_loss_fn(loss_fn)
    _point_info(params, False)
    return _call(_layers_impl, loss_fn, params, data)


def layer_hessians_batched(loss_fn, params, data, *, chunk_size=None, devices=None):
    """:func:`layer_hessians` of each row of ``params`` (blocks gain a leading batch axis).

    >>> import jax, landscape as ls
    >>> model = ls.mlp([2, 2, 1])
    >>> params = ls.train.initial_params(ls.inits.normal(model), jax.random.key(0), range(4))
    >>> blocks = layer_hessians_batched(ls.objectives.loss(model), params, ls.datasets.xor())
    >>> [b.shape for b in blocks]
    [(4, 6, 6), (4, 3, 3)]
    """
    _check_loss_fn(loss_fn)
    _point_info(params, True)
    return _call(_layers_impl, loss_fn, params, data, batched=True,
                 chunk_size=_check_chunk(chunk_size), devices=devices)


# --------------------------------------------------------------------------------------------
# public API: critical points


def _classify_args(dtype, grad_tol, rtol, atol):
    root = math.sqrt(_eps(dtype))
    return {
        "grad_tol": _check_tol("grad_tol", grad_tol, root),
        "rtol": _check_tol("rtol", rtol, root),
        "atol": _check_tol("atol", atol, 0.0),
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
    >>> LABEL_NAMES[int(point.label)], int(point.index), point.eigenvalues.tolist()
    ('saddle', 1, [-3.0, 1.0, 2.0])
    """
    _check_loss_fn(loss_fn)
    _, dtype, _ = _point_info(params, False)
    return _call(_classify_impl, loss_fn, params, data, shared=_classify_args(dtype, grad_tol, rtol, atol))


def classify_batched(loss_fn, params, data, *, grad_tol=None, rtol=None, atol=None,
                     chunk_size=None, devices=None):
    """:func:`classify` for each row of ``params``: every field gains a leading batch axis
    (``label (batch,)``, ``eigenvalues (batch, n_params)``).

    >>> import jax, jax.numpy as jnp
    >>> quad = lambda p, a: 0.5 * jnp.sum(a * p**2)  # Hessian diag(a) everywhere
    >>> a = jnp.array([1.0, 2.0, -3.0])
    >>> points = classify_batched(quad, jnp.array([[0.0, 0, 0], [1, 0, 0]]), a)
    >>> [LABEL_NAMES[i] for i in points.label.tolist()], points.grad_norm.tolist()
    (['saddle', 'not_critical'], [0.0, 1.0])
    """
    _check_loss_fn(loss_fn)
    _, dtype, _ = _point_info(params, True)
    return _call(_classify_impl, loss_fn, params, data,
                 shared=_classify_args(dtype, grad_tol, rtol, atol), batched=True,
                 chunk_size=_check_chunk(chunk_size), devices=devices)


def classify_spectrum(eigenvalues, grad_norm, *, grad_tol=None, rtol=None, atol=None):
    """Labels and counts from eigenvalues ``(..., n)`` and gradient norms ``(...)`` you already
    have (same rules and defaults as :func:`classify`, dtype from ``eigenvalues``).

    Returns ``(label, n_negative, n_zero, n_positive)``, int32 arrays of shape ``(...)``.

    >>> import jax.numpy as jnp
    >>> label, neg, zero, pos = classify_spectrum(jnp.array([[1.0, 2.0], [-1.0, 2.0], [0.0, 2.0]]),
    ...                                           jnp.zeros(3))
    >>> [LABEL_NAMES[i] for i in label.tolist()], zero.tolist()
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


def _search_args(dtype, radius, num_directions, num_points, curvature, num_starts, num_steps,
                 loss_rtol, loss_atol):
    radius = _check_tol("radius", radius, None, positive=True)
    curvature = _check_tol("curvature", curvature, 1.0 / radius if not _is_tracer(radius) else None)
    if curvature is None:
        raise ValueError("curvature must be given when radius is traced")
    static = (
        ("num_directions", _check_int("num_directions", num_directions, 0, what=" (random paths)")),
        ("num_points", _check_int("num_points", num_points, 1, what=" (points per path)")),
        ("num_starts", _check_int("num_starts", num_starts, 0, what=" (descent starts)")),
        ("num_steps", _check_int("num_steps", num_steps, 0, what=" (descent steps)")),
    )
    if static[0][1] + static[2][1] == 0:
        raise ValueError("num_directions and num_starts are both 0: nothing would be searched")
    shared = {
        "radius": radius, "curvature": curvature,
        "loss_rtol": _check_tol("loss_rtol", loss_rtol, 64 * _eps(dtype)),
        "loss_atol": _check_tol("loss_atol", loss_atol, 0.0),
    }
    return static, shared


def search_lower(loss_fn, params, data, *, key, radius=0.1, num_directions=64, num_points=8,
                 curvature=None, num_starts=8, num_steps=100, loss_rtol=None, loss_atol=None):
    """Look for lower points within ``radius`` of ``params``: the follow-up for ``degenerate``.

    Two searches, both kept inside the ball of that radius (in flat-parameter norm):

    1. ``num_directions`` random curved paths ``x + s u + a s^2 c`` (``u``, ``c`` random unit
       vectors, ``a`` evenly spread over ``[-curvature, curvature]``, default
       ``curvature = 1/radius``), each sampled at ``num_points`` values of ``s`` in
       ``(0, radius]`` (points beyond the radius are pulled back onto the sphere); curved paths
       catch descent that every straight line misses (Peano's ``(y - x^2)(y - 2x^2)``);
    2. ``num_starts`` runs of ``num_steps`` steps of projected, normalized gradient descent
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
    _check_loss_fn(loss_fn)
    _, dtype, _ = _point_info(params, False)
    static, shared = _search_args(dtype, radius, num_directions, num_points, curvature,
                                  num_starts, num_steps, loss_rtol, loss_atol)
    return _call(_search_impl, loss_fn, params, data, key=_check_key(key), static=static,
                 shared=shared)


def search_lower_batched(loss_fn, params, data, *, key, radius=0.1, num_directions=64,
                         num_points=8, curvature=None, num_starts=8, num_steps=100,
                         loss_rtol=None, loss_atol=None, chunk_size=None, devices=None):
    """:func:`search_lower` for each row of ``params`` (point ``i`` uses ``fold_in(key, i)``):
    every field gains a leading batch axis.

    >>> import jax, jax.numpy as jnp
    >>> quad = lambda p, a: 0.5 * jnp.sum(a * p**2)  # Hessian diag(a) everywhere
    >>> a = jnp.array([1.0, 2.0, -3.0])
    >>> found = search_lower_batched(quad, jnp.zeros((2, 3)), a, key=jax.random.key(0),
    ...                              num_directions=8, num_starts=2, num_steps=10)
    >>> found.found_lower.tolist(), found.best_params.shape
    ([True, True], (2, 3))
    """
    _check_loss_fn(loss_fn)
    _, dtype, _ = _point_info(params, True)
    static, shared = _search_args(dtype, radius, num_directions, num_points, curvature,
                                  num_starts, num_steps, loss_rtol, loss_atol)
    return _call(_search_impl, loss_fn, params, data, key=_check_key(key), static=static,
                 shared=shared, batched=True, chunk_size=_check_chunk(chunk_size), devices=devices)


def _refine_args(dtype, method, max_steps, tol, optimizer):
    max_steps = _check_int("max_steps", max_steps, 1, what=" (iterations)")
    tol = _check_tol("tol", tol, _eps(dtype) ** 0.75)
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
    _check_loss_fn(loss_fn)
    _, dtype, _ = _point_info(params, False)
    impl, static, shared = _refine_args(dtype, method, max_steps, tol, optimizer)
    return _call(impl, loss_fn, params, data, static=static, shared=shared)


def refine_batched(loss_fn, params, data, *, method="newton", max_steps=100, tol=None,
                   optimizer=None, chunk_size=None, devices=None):
    """:func:`refine` for each row of ``params``; ``converged`` ``(batch,)`` says which rows got
    there (``params`` leaves ``(batch, ...)``, other fields ``(batch,)``).

    >>> import jax, jax.numpy as jnp
    >>> quad = lambda p, a: 0.5 * jnp.sum(a * p**2)  # Hessian diag(a) everywhere
    >>> a = jnp.array([1.0, 2.0, -3.0])
    >>> result = refine_batched(quad, jnp.array([[1.0, 1.0, 1.0], [0.5, -2.0, 0.1]]), a)
    >>> result.converged.tolist(), result.params.shape
    ([True, True], (2, 3))
    """
    _check_loss_fn(loss_fn)
    _, dtype, _ = _point_info(params, True)
    impl, static, shared = _refine_args(dtype, method, max_steps, tol, optimizer)
    return _call(impl, loss_fn, params, data, static=static, shared=shared, batched=True,
                 chunk_size=_check_chunk(chunk_size), devices=devices)

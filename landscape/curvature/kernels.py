"""Traced building blocks and implementations of :mod:`landscape.curvature`.

Building blocks: the flat loss and its linearized Hessian-vector product, Lanczos with full
re-orthogonalization, Ritz pairs. Implementations have the signature
``impl(loss_fn, params, data, key, mapped, **options)`` for one point; the public functions
reach them through :func:`landscape.curvature.dispatch._call`, which batches them.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import optax
from jax.flatten_util import ravel_pytree

from .. import status
from .dispatch import _eps
from .results import (CriticalPoint, ExtremeEigenpairs, LanczosResult, LowerSearch,
                      RefineResult, RitzPairs, SpectralDensity, SpectrumLabels, TraceEstimate)

_TRACE_METHODS = ("hutch++", "hutchinson")

# label codes (landscape.status.POINT), as traced constants
_NOT_CRITICAL = status.POINT.code("not_critical")
_MINIMUM = status.POINT.code("minimum")
_SADDLE = status.POINT.code("saddle")
_MAXIMUM = status.POINT.code("maximum")
_DEGENERATE = status.POINT.code("degenerate")
_PLATEAU = status.POINT.code("plateau")
_UNRESOLVED = status.POINT.code("unresolved")


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
    with ``fresh[j]`` (random, made orthogonal to the basis). ``n_steps = len(fresh)``.
    (Random draws are made by the caller, once: drawing inside the loop compiles slowly.)"""
    n_steps = fresh.shape[0]
    n = v0.shape[0]
    dtype = v0.dtype
    # An invariant subspace is declared when the new residual is below this fraction of the
    # largest coefficient seen; the error it causes in T is at most that small.
    breakdown_rtol = _eps(dtype) ** 0.75
    tiny = jnp.finfo(dtype).tiny
    basis = jnp.zeros((n_steps, n), dtype).at[0].set(v0 / jnp.linalg.norm(v0))
    alphas = jnp.zeros((n_steps,), dtype)
    betas = jnp.zeros((n_steps,), dtype)

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
        last = j + 1 >= n_steps
        row = jnp.minimum(j + 1, n_steps - 1)
        basis = basis.at[row].set(jnp.where(last, basis[row], nxt))
        return basis, alphas.at[j].set(alpha), betas.at[j].set(beta), scale

    state = (basis, alphas, betas, jnp.zeros((), dtype))
    basis, alphas, betas, _ = jax.lax.fori_loop(0, n_steps, body, state)
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


def _lanczos_impl(loss_fn, params, data, key, mapped, *, n_steps):
    matvec, x = _flat_hvp(loss_fn, params, data)
    draws = jax.random.normal(key, (n_steps + 1, x.shape[0]), x.dtype)
    return _lanczos_core(matvec, draws[0], draws[1:])


def _extreme_impl(loss_fn, params, data, key, mapped, *, n_steps, k):
    theta, vectors, residuals, _ = _ritz(_lanczos_impl(loss_fn, params, data, key, None,
                                                      n_steps=n_steps))
    largest = RitzPairs(theta[::-1][:k], vectors[:, ::-1][:, :k], residuals[::-1][:k])
    smallest = RitzPairs(theta[:k], vectors[:, :k], residuals[:k])
    return ExtremeEigenpairs(largest, smallest)


def _rademacher(key, shape, dtype):
    return jax.random.rademacher(key, shape, dtype)


def _trace_impl(loss_fn, params, data, key, mapped, *, n_probes, method):
    matvec, x = _flat_hvp(loss_fn, params, data)
    n, dtype = x.shape[0], x.dtype
    mv = jax.vmap(matvec, in_axes=1, out_axes=1)  # (n, m) -> (n, m)
    draws = _rademacher(key, (n, n_probes), dtype)
    if method == "hutchinson":
        g = draws
        samples = jnp.sum(g * mv(g), axis=0)
        est = jnp.mean(samples)
        return TraceEstimate(est, jnp.std(samples, ddof=1) / jnp.sqrt(n_probes))
    if method == "hutch++":
        s_cols = n_probes // 3
        g_cols = n_probes - 2 * s_cols
        sketch = draws[:, :s_cols]
        q, _ = jnp.linalg.qr(mv(sketch))  # (n, min(n, s_cols)), orthonormal columns
        low_rank = jnp.trace(q.T @ mv(q))
        g = draws[:, 2 * s_cols:]
        g = g - q @ (q.T @ g)
        samples = jnp.sum(g * mv(g), axis=0)
        stderr = jnp.std(samples, ddof=1) / jnp.sqrt(g_cols)
        return TraceEstimate(low_rank + jnp.mean(samples), stderr)
    raise ValueError(f"method={method!r} is not known; expected one of {_TRACE_METHODS}")


def _slq_impl(loss_fn, params, data, key, probes, *, n_steps, n_probes):
    matvec, x = _flat_hvp(loss_fn, params, data)
    # one draw: row 0 of each block is the probe, rows 1.. the restart directions
    draws = jax.random.normal(key, (n_probes, n_steps + 1, x.shape[0]), x.dtype)
    if probes is not None:
        draws = draws.at[:, 0].set(probes.astype(x.dtype))

    def one(d):
        theta, _, _, s = _ritz(_lanczos_core(matvec, d[0], d[1:]))
        return theta, s[0, :] ** 2

    nodes, weights = jax.vmap(one)(draws)
    return SpectralDensity(nodes, weights / n_probes)


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


def _param_scale(x):
    """``s = sqrt(|x|^2 / n + 1)``: the parameters' typical size, never below 1 (the unit in
    which a network's weights live; it keeps ``s`` finite and positive at ``x = 0``)."""
    return jnp.sqrt(jnp.sum(x * x) / max(x.shape[-1], 1) + 1.0)


def _thresholds(eigenvalues, grad_norm, loss, param_scale, *, grad_tol, rtol, atol):
    """``(grad_tol, zero_tol, round_tol, loss_scale)`` for spectra ``(..., n)``: the defaults of
    :func:`landscape.curvature.classify` where an option is ``None`` (derivation there)."""
    dtype = eigenvalues.dtype
    eps = float(jnp.finfo(dtype).eps)
    root = eps ** 0.5
    n = eigenvalues.shape[-1]
    lam_max = jnp.max(jnp.abs(eigenvalues), axis=-1)
    s = jnp.asarray(param_scale, dtype)
    s2 = s * s
    grad_norm = jnp.asarray(grad_norm, dtype)
    value = jnp.abs(jnp.asarray(loss, dtype)) + s * grad_norm  # the loss' own size
    ell = value + 0.5 * s2 * lam_max                              # + its curvature over s
    # an option given as NaN (or None) takes its default
    pick = lambda opt, default: default if opt is None else jnp.where(  # noqa: E731
        jnp.isnan(opt), default, jnp.asarray(opt, dtype))
    grad_tol = pick(grad_tol, root * ell / s)
    rtol = pick(rtol, jnp.asarray(root, dtype))
    atol = pick(atol, root * value / s2 + jnp.sqrt(grad_norm * ell / (s2 * s)))
    zero_tol = rtol * lam_max + atol
    round_tol = jnp.minimum(n * eps * (lam_max + value / s2), zero_tol)
    shape = lam_max.shape
    cast = lambda a: jnp.broadcast_to(jnp.asarray(a, dtype), shape)  # noqa: E731
    return cast(grad_tol), cast(zero_tol), cast(round_tol), cast(ell)


def _labels(eigenvalues, grad_norm, grad_tol, zero_tol, round_tol):
    """``(label, n_negative, n_zero, n_positive)`` (int32) from spectra ``(..., n)``."""
    zt = zero_tol[..., None]
    neg = jnp.sum(eigenvalues < -zt, axis=-1)
    pos = jnp.sum(eigenvalues > zt, axis=-1)
    n = eigenvalues.shape[-1]
    zero = n - neg - pos
    above_rounding = jnp.any((jnp.abs(eigenvalues) > round_tol[..., None])
                             & (jnp.abs(eigenvalues) <= zt), axis=-1)
    label = jnp.where(
        grad_norm > grad_tol, _NOT_CRITICAL,
        jnp.where((neg > 0) & (pos > 0), _SADDLE,
                  jnp.where(zero == n, _PLATEAU,
                            jnp.where(zero == 0, jnp.where(neg == 0, _MINIMUM, _MAXIMUM),
                                      jnp.where(above_rounding, _UNRESOLVED, _DEGENERATE)))))
    i32 = lambda a: a.astype(jnp.int32)  # noqa: E731
    return i32(label), i32(neg), i32(zero), i32(pos)


def _spectrum_labels(eigenvalues, grad_norm, loss, param_scale, *, grad_tol, rtol, atol):
    grad_tol, zero_tol, round_tol, _ = _thresholds(eigenvalues, grad_norm, loss, param_scale,
                                                   grad_tol=grad_tol, rtol=rtol, atol=atol)
    label, neg, zero, pos = _labels(eigenvalues, grad_norm, grad_tol, zero_tol, round_tol)
    return SpectrumLabels(label, neg, zero, pos, grad_tol, zero_tol, round_tol)


def _classify_impl(loss_fn, params, data, key, mapped, *, grad_tol, rtol, atol):
    loss, gnorm = _grad_norm(loss_fn, params, data)
    eigenvalues = jnp.linalg.eigvalsh(_hessian_impl(loss_fn, params, data, None, None))
    s = _param_scale(ravel_pytree(params)[0])
    grad_tol, zero_tol, round_tol, ell = _thresholds(eigenvalues, gnorm, loss, s,
                                                     grad_tol=grad_tol, rtol=rtol, atol=atol)
    label, neg, zero, pos = _labels(eigenvalues, gnorm, grad_tol, zero_tol, round_tol)
    return CriticalPoint(label, neg, neg, zero, pos, gnorm, loss, eigenvalues, grad_tol,
                         zero_tol, round_tol, ell, s.astype(eigenvalues.dtype))


def _search_impl(loss_fn, params, data, key, mapped, *, radius, n_directions, n_points,
                 curvature, n_starts, n_steps, loss_rtol, loss_atol):
    f, x0, unravel = _flat_loss(loss_fn, params, data)
    n, dtype = x0.shape[0], x0.dtype
    tiny = jnp.finfo(dtype).tiny
    loss0 = f(x0)
    z = jax.random.normal(key, (2 * n_directions + n_starts, n), dtype)  # one draw
    z = z / jnp.maximum(jnp.linalg.norm(z, axis=-1, keepdims=True), tiny)
    u, c, starts = jnp.split(z, [n_directions, 2 * n_directions])

    def to_ball(delta):
        norm = jnp.linalg.norm(delta, axis=-1, keepdims=True)
        return delta * jnp.minimum(1.0, radius / jnp.maximum(norm, tiny))

    # 1. curved paths x0 + s u + a s^2 c, s in (0, radius], a evenly spread over
    #    [-curvature, curvature] (a = 0: straight lines)
    a = (curvature * jnp.linspace(-1.0, 1.0, n_directions, dtype=dtype))[:, None, None]
    s = (radius * jnp.arange(1, n_points + 1, dtype=dtype) / n_points)[None, :, None]
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
            step = radius * 0.1 * (1.0 - t / n_steps) + radius * 1e-3
            d = to_ball(d - step * g / jnp.maximum(jnp.linalg.norm(g), tiny))
            val = f(x0 + d)
            better = val < best
            return d, jnp.where(better, d, best_d), jnp.where(better, val, best)

        _, best_d, best = jax.lax.fori_loop(0, n_steps, body, (d0, d0, f(x0 + d0)))
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
    value_and_grad = jax.value_and_grad(f)
    hess = jax.hessian(f)
    tiny = jnp.finfo(dtype).tiny
    mu_floor = _eps(dtype)

    def norm(g):
        return jnp.linalg.norm(g)

    def cond(state):
        x, g, gn, rel_mu, it, failed = state
        return (it < max_steps) & (gn > tol) & jnp.isfinite(gn) & ~failed

    def body(state):
        x, g, gn, rel_mu, it, _ = state
        lam, u = jnp.linalg.eigh(hess(x))
        # A non-finite Hessian at the current (finite) point: no damping makes a step; stop.
        failed = ~jnp.all(jnp.isfinite(lam))
        mu = rel_mu * jnp.max(lam**2)
        coef = lam / jnp.maximum(lam**2 + mu, tiny)
        x_new = x - u @ (coef * (u.T @ g))
        loss_new, g_new = value_and_grad(x_new)
        gn_new = norm(g_new)
        ok = jnp.isfinite(gn_new) & jnp.isfinite(loss_new) & (gn_new < gn) & ~failed
        rel_mu = jnp.where(ok, jnp.maximum(rel_mu * 0.1, mu_floor),
                           jnp.minimum(rel_mu * 10.0, 1e16))
        return (jnp.where(ok, x_new, x), jnp.where(ok, g_new, g), jnp.where(ok, gn_new, gn),
                rel_mu, it + 1, failed)

    g0 = grad(x0)
    state = (x0, g0, norm(g0), jnp.asarray(1e-3, dtype), jnp.asarray(0, jnp.int32),
             jnp.asarray(False))
    x, g, gn, _, it, _ = jax.lax.while_loop(cond, body, state)
    return _refined(f, unravel, x, gn, tol, it)


def _refined(f, unravel, x, gn, tol, it):
    """The :class:`RefineResult` at ``x``: converged only when ``|grad| <= tol`` and the loss
    is finite (a NaN gradient norm compares false, so a NaN never counts as converged)."""
    loss = f(x)
    return RefineResult(unravel(x), loss, gn, (gn <= tol) & jnp.isfinite(loss), it)


def _refine_gradnorm(loss_fn, params, data, key, mapped, *, max_steps, tol, optimizer):
    """Minimize ``0.5 |grad f|^2`` with an optax optimizer; its gradient ``H g`` is one HVP."""
    f, x0, unravel = _flat_loss(loss_fn, params, data)
    grad = jax.grad(f)

    def objective_grad(x):
        g, hg = jax.jvp(grad, (x,), (grad(x),))
        return g, hg

    def cond(state):
        x, opt_state, gn, it, failed = state
        return (it < max_steps) & (gn > tol) & jnp.isfinite(gn) & ~failed

    def body(state):
        x, opt_state, gn, it, _ = state
        g, hg = objective_grad(x)
        updates, new_state = optimizer.update(hg, opt_state, x)
        x_new = optax.apply_updates(x, updates)
        loss_new, g_new = jax.value_and_grad(f)(x_new)
        gn_new = jnp.linalg.norm(g_new)
        # A NaN/Inf step, loss or gradient stops the loop at the last finite point.
        failed = ~(jnp.isfinite(gn_new) & jnp.isfinite(loss_new) & jnp.all(jnp.isfinite(x_new)))
        keep = lambda old, new: jax.tree_util.tree_map(  # noqa: E731
            lambda a, b: jnp.where(failed, a, b), old, new)
        return keep(x, x_new), keep(opt_state, new_state), keep(gn, gn_new), it + 1, failed

    state = (x0, optimizer.init(x0), jnp.linalg.norm(grad(x0)), jnp.asarray(0, jnp.int32),
             jnp.asarray(False))
    x, _, gn, it, _ = jax.lax.while_loop(cond, body, state)
    return _refined(f, unravel, x, gn, tol, it)


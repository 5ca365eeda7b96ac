"""Matrix-free spectra: Lanczos, extreme eigenpairs, stochastic traces (Hutchinson, Hutch++),
spectral densities by stochastic Lanczos quadrature and their Gaussian broadening."""

from __future__ import annotations

import jax
import jax.numpy as jnp

from .. import _checks
from .dispatch import _call, _point_info

from .kernels import _TRACE_METHODS, _extreme_impl, _lanczos_impl, _slq_impl, _trace_impl

__all__ = ["lanczos", "lanczos_batched", "extreme_eigenpairs", "extreme_eigenpairs_batched",
           "hessian_trace", "hessian_trace_batched", "spectral_density", "spectral_density_batched",
           "gaussian_density"]


# --------------------------------------------------------------------------------------------
# public API: matrix-free


def _check_steps(n_steps, n, default):
    if n_steps is None and default is not None:
        return min(n, default)
    return _checks.count("n_steps", n_steps, maximum=n)


def lanczos(loss_fn, params, data, *, key, n_steps):
    """``n_steps`` Lanczos steps on the Hessian from a random start, full re-orthogonalization.

    Returns :class:`LanczosResult` (``alphas (m,)``, ``betas (m,)``, ``basis (m, n_params)``
    with ``m = n_steps``); ``n_steps`` must be in ``[1, n_params]``.

    >>> import jax, jax.numpy as jnp
    >>> quad = lambda p, a: 0.5 * jnp.sum(a * p**2)  # Hessian diag(a) everywhere
    >>> a = jnp.array([1.0, 2.0, -3.0])
    >>> result = lanczos(quad, jnp.zeros(3), a, key=jax.random.key(0), n_steps=3)
    >>> result.alphas.shape, result.basis.shape
    ((3,), (3, 3))
    >>> T = jnp.diag(result.alphas) + jnp.diag(result.betas[:2], 1) + jnp.diag(result.betas[:2], -1)
    >>> jnp.linalg.eigvalsh(T).round(4).tolist()  # a full run: the Hessian's eigenvalues
    [-3.0, 1.0, 2.0]
    """
    _checks.loss_fn(loss_fn)
    n, _, _ = _point_info(loss_fn, params, False)
    m = _check_steps(n_steps, n, None)
    return _call(_lanczos_impl, loss_fn, params, data, key=_checks.key(key),
                 static=(("n_steps", m),))


def lanczos_batched(loss_fn, params, data, *, key, n_steps, block_size=None, devices=None):
    """:func:`lanczos` for each row of ``params`` (point ``i`` uses ``fold_in(key, i)``):
    ``alphas``/``betas (batch, m)``, ``basis (batch, m, n_params)``.

    >>> import jax, jax.numpy as jnp
    >>> quad = lambda p, a: 0.5 * jnp.sum(a * p**2)  # Hessian diag(a) everywhere
    >>> a = jnp.array([1.0, 2.0, -3.0])
    >>> result = lanczos_batched(quad, jnp.zeros((2, 3)), a, key=jax.random.key(0), n_steps=2)
    >>> result.alphas.shape, result.basis.shape
    ((2, 2), (2, 2, 3))
    """
    _checks.loss_fn(loss_fn)
    n, _, _ = _point_info(loss_fn, params, True)
    m = _check_steps(n_steps, n, None)
    return _call(_lanczos_impl, loss_fn, params, data, key=_checks.key(key),
                 static=(("n_steps", m),), batched=True, block_size=block_size,
                 devices=devices)


def _extreme_args(loss_fn, params, batched, k, n_steps):
    n, _, _ = _point_info(loss_fn, params, batched)
    k = _checks.count("k", k, maximum=n)
    m = _check_steps(n_steps, n, max(3 * k, 40))
    if k > m:
        raise ValueError(f"k={k} must be <= n_steps={m}: Lanczos gives n_steps Ritz pairs")
    return (("n_steps", m), ("k", k))


def extreme_eigenpairs(loss_fn, params, data, *, k, key, n_steps=None):
    """The ``k`` largest and ``k`` smallest (most negative) eigenpairs of the Hessian by Lanczos.

    ``n_steps`` defaults to ``min(n_params, max(3 k, 40))``; with ``n_steps = n_params`` the
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
    _checks.loss_fn(loss_fn)
    static = _extreme_args(loss_fn, params, False, k, n_steps)
    return _call(_extreme_impl, loss_fn, params, data, key=_checks.key(key), static=static)


def extreme_eigenpairs_batched(loss_fn, params, data, *, k, key, n_steps=None, block_size=None,
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
    _checks.loss_fn(loss_fn)
    static = _extreme_args(loss_fn, params, True, k, n_steps)
    return _call(_extreme_impl, loss_fn, params, data, key=_checks.key(key), static=static,
                 batched=True, block_size=block_size, devices=devices)


def _trace_args(n_probes, method):
    if method not in _TRACE_METHODS:
        raise ValueError(f"method={method!r} is not known; expected one of {_TRACE_METHODS}")
    low = 3 if method == "hutch++" else 2
    n_probes = _checks.count("n_probes", n_probes, minimum=low)
    return (("n_probes", n_probes), ("method", method))


def hessian_trace(loss_fn, params, data, *, key, n_probes=30, method="hutch++"):
    """Stochastic estimate of ``trace(H)`` from ``n_probes`` Hessian-vector products.

    ``method="hutchinson"``: mean of ``g^T H g`` over Rademacher probes ``g``.
    ``method="hutch++"`` (Meyer et al. 2021): a third of the products sketch the top of the
    spectrum (``Q = qr(H S)``, whose trace is exact), the rest run Hutchinson on the deflated
    remainder; it is exact when ``n_probes // 3 >= rank(H)``.
    Returns :class:`TraceEstimate` (estimate, standard error), scalars.

    >>> import jax, jax.numpy as jnp
    >>> quad = lambda p, a: 0.5 * jnp.sum(a * p**2)  # Hessian diag(a) everywhere
    >>> a = jnp.array([1.0, 2.0, -3.0])
    >>> trace = hessian_trace(quad, jnp.zeros(3), a + 6.0, key=jax.random.key(0), n_probes=9)
    >>> round(float(trace.estimate), 4)  # exact, trace(diag(7, 8, 3)): n_probes // 3 >= rank 3
    18.0
    """
    _checks.loss_fn(loss_fn)
    _point_info(loss_fn, params, False)
    return _call(_trace_impl, loss_fn, params, data, key=_checks.key(key),
                 static=_trace_args(n_probes, method))


def hessian_trace_batched(loss_fn, params, data, *, key, n_probes=30, method="hutch++",
                          block_size=None, devices=None):
    """:func:`hessian_trace` for each row of ``params``: estimate and stderr ``(batch,)``.

    >>> import jax, jax.numpy as jnp
    >>> quad = lambda p, a: 0.5 * jnp.sum(a * p**2)  # Hessian diag(a) everywhere
    >>> a = jnp.array([1.0, 2.0, -3.0])
    >>> trace = hessian_trace_batched(quad, jnp.zeros((2, 3)), a + 6.0, key=jax.random.key(0),
    ...                               method="hutchinson", n_probes=4)
    >>> trace.estimate.round(4).tolist()  # Rademacher probes: exact for a diagonal Hessian
    [18.0, 18.0]
    """
    _checks.loss_fn(loss_fn)
    _point_info(loss_fn, params, True)
    return _call(_trace_impl, loss_fn, params, data, key=_checks.key(key),
                 static=_trace_args(n_probes, method), batched=True,
                 block_size=block_size, devices=devices)


def _slq_args(loss_fn, params, batched, n_steps, n_probes, probes):
    n, dtype, batch = _point_info(loss_fn, params, batched)
    m = _check_steps(n_steps, n, 64)
    if probes is None:
        n_probes = 8 if n_probes is None else n_probes
        n_probes = _checks.count("n_probes", n_probes)
    else:
        if n_probes is not None:
            raise ValueError(f"n_probes={n_probes!r} conflicts with the given probes; pass one")
        shape = tuple(getattr(probes, "shape", ()))
        lead = (batch,) if batched else ()
        if (len(shape) != len(lead) + 2 or shape[:len(lead)] != lead or shape[-1] != n
                or shape[-2] < 1):
            raise ValueError(
                f"probes of shape {shape} must have shape {lead + ('n_probes', n)} "
                f"(n_params={n})"
            )
        n_probes = shape[-2]
    return (("n_steps", m), ("n_probes", n_probes))


def spectral_density(loss_fn, params, data, *, key, n_steps=None, n_probes=None, probes=None):
    """Hessian spectral density by stochastic Lanczos quadrature (Ghorbani et al. 2019).

    ``n_probes`` Gaussian probes (default 8), or the rows of the given ``probes``
    ``(n_probes, n_params)``, each start a ``n_steps``-step Lanczos run (default
    ``min(n_params, 64)``). Returns :class:`SpectralDensity` with nodes and weights
    ``(n_probes, n_steps)``, weights summing to 1. Memory: ``n_probes * n_steps *
    n_params`` floats for the bases. See :func:`gaussian_density` for a curve.

    >>> import jax, jax.numpy as jnp
    >>> quad = lambda p, a: 0.5 * jnp.sum(a * p**2)  # Hessian diag(a) everywhere
    >>> a = jnp.array([1.0, 2.0, -3.0])
    >>> density = spectral_density(quad, jnp.zeros(3), a, key=jax.random.key(0), n_probes=2)
    >>> density.weights.shape, round(float(density.weights.sum()), 4)
    ((2, 3), 1.0)
    >>> density.nodes.round(4).tolist()  # n_steps = n_params: the nodes are the eigenvalues
    [[-3.0, 1.0, 2.0], [-3.0, 1.0, 2.0]]
    """
    _checks.loss_fn(loss_fn)
    static = _slq_args(loss_fn, params, False, n_steps, n_probes, probes)
    return _call(_slq_impl, loss_fn, params, data, key=_checks.key(key), mapped=probes,
                 static=static)


def spectral_density_batched(loss_fn, params, data, *, key, n_steps=None, n_probes=None,
                             probes=None, block_size=None, devices=None):
    """:func:`spectral_density` for each row of ``params`` (``probes``, if given, carry the
    batch axis too: ``(batch, n_probes, n_params)``): nodes and weights
    ``(batch, n_probes, n_steps)``.

    >>> import jax, jax.numpy as jnp
    >>> quad = lambda p, a: 0.5 * jnp.sum(a * p**2)  # Hessian diag(a) everywhere
    >>> a = jnp.array([1.0, 2.0, -3.0])
    >>> density = spectral_density_batched(quad, jnp.zeros((2, 3)), a, key=jax.random.key(0),
    ...                                    n_probes=4)
    >>> density.nodes.shape, density.weights.sum(axis=(1, 2)).round(4).tolist()
    ((2, 4, 3), [1.0, 1.0])
    """
    _checks.loss_fn(loss_fn)
    static = _slq_args(loss_fn, params, True, n_steps, n_probes, probes)
    return _call(_slq_impl, loss_fn, params, data, key=_checks.key(key), mapped=probes,
                 static=static, batched=True, block_size=block_size, devices=devices)


@jax.jit
def _gaussian_density(nodes, weights, grid, sigma):
    z = (grid[:, None] - nodes.reshape(-1)[None, :]) / sigma
    kernel = jnp.exp(-0.5 * z**2) / (sigma * jnp.sqrt(2.0 * jnp.pi))
    return kernel @ weights.reshape(-1)


def gaussian_density(nodes, weights, grid, *, sigma):
    """The density ``sum_i w_i N(t; nodes_i, sigma^2)`` at each point ``t`` of ``grid``.

    ``nodes`` and ``weights`` are arrays of the same shape (all axes are summed over, e.g. the
    ``(n_probes, n_steps)`` of a :class:`SpectralDensity`); ``grid`` is 1-D. The result has
    ``grid``'s shape and integrates to ``sum(weights)`` (1 for SLQ) when the grid covers the
    nodes with a margin of a few ``sigma``.

    >>> import jax.numpy as jnp
    >>> grid = jnp.linspace(-5.0, 5.0, 1001)
    >>> density = gaussian_density(jnp.array([[0.0, 1.0]]), jnp.array([[0.5, 0.5]]), grid,
    ...                            sigma=0.5)
    >>> density.shape, round(float(jnp.sum(density) * (grid[1] - grid[0])), 3)
    ((1001,), 1.0)
    """
    nodes, weights, grid = jnp.asarray(nodes), jnp.asarray(weights), jnp.asarray(grid)
    if nodes.shape != weights.shape:
        raise ValueError(f"nodes {nodes.shape} and weights {weights.shape} must have the same "
                         "shape")
    if grid.ndim != 1:
        raise ValueError(f"grid of shape {grid.shape} must be 1-D")
    sigma = _checks.tolerance("sigma", sigma, None, positive=True)
    if sigma is None:
        raise TypeError("sigma=None: pass the Gaussian width as a positive number")
    return _gaussian_density(nodes, weights, grid, sigma)


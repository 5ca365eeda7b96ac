"""Result types of :mod:`landscape.curvature` (NamedTuples are pytrees: they pass through
``jit`` and ``vmap``; a batched function's results gain a leading batch axis)."""

from __future__ import annotations

from typing import Any, NamedTuple

import jax

__all__ = ["LanczosResult", "RitzPairs", "ExtremeEigenpairs", "TraceEstimate", "SpectralDensity",
           "CriticalPoint", "SpectrumLabels", "LowerSearch", "RefineResult"]


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
    """Stochastic Lanczos quadrature: ``nodes`` and ``weights``, both ``(n_probes, n_steps)``.

    Weights sum to 1 over both axes; the spectral density is ``sum_ij w_ij delta(t - nodes_ij)``
    (see :func:`gaussian_density`)."""

    nodes: jax.Array
    weights: jax.Array


class CriticalPoint(NamedTuple):
    """What :func:`classify` reports for one point (a leading axis when batched).

    label:        int code of :data:`landscape.status.POINT` (``status.POINT[code]`` its name).
    index:        number of negative eigenvalues beyond ``zero_tol`` (the saddle index; reported
                  for every label).
    n_negative, n_zero, n_positive: eigenvalue counts: below ``-zero_tol``, within it, above it.
    grad_norm:    Euclidean norm of the gradient.
    loss:         the loss at the point.
    eigenvalues:  ``(n_params,)`` ascending eigenvalues of the Hessian.
    grad_tol:     the gradient threshold used (critical when ``grad_norm <= grad_tol``).
    zero_tol:     the curvature threshold used (``|lam| <= zero_tol`` counts as zero):
                  ``rtol * max|lam| + atol``, the defaults a floor from the dtype, the loss
                  scale and the gradient (see :func:`classify`).
    round_tol:    the rounding level (``<= zero_tol``): zero modes within it are zero as far as
                  this precision can tell (``degenerate``); above it, ``unresolved``.
    loss_scale:   ``|loss| + s |grad| + s^2 max|lam| / 2``, the loss variation over one
                  parameter scale ``s`` (the unit of every default threshold).
    param_scale:  ``s = sqrt(|x|^2 / n_params + 1)``, the parameters' typical size (at least 1).
    """

    label: jax.Array
    index: jax.Array
    n_negative: jax.Array
    n_zero: jax.Array
    n_positive: jax.Array
    grad_norm: jax.Array
    loss: jax.Array
    eigenvalues: jax.Array
    grad_tol: jax.Array
    zero_tol: jax.Array
    round_tol: jax.Array
    loss_scale: jax.Array
    param_scale: jax.Array


class SpectrumLabels(NamedTuple):
    """What :func:`classify_spectrum` reports (shape ``(...)`` of the spectra's leading axes):
    the label codes, the counts and the thresholds used (fields as in :class:`CriticalPoint`)."""

    label: jax.Array
    n_negative: jax.Array
    n_zero: jax.Array
    n_positive: jax.Array
    grad_tol: jax.Array
    zero_tol: jax.Array
    round_tol: jax.Array


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
    ``converged`` (``grad_norm <= tol`` with a finite loss; false when a NaN/Inf stopped it) and
    ``n_steps`` taken (iterations, accepted or not)."""

    params: Any
    loss: jax.Array
    grad_norm: jax.Array
    converged: jax.Array
    n_steps: jax.Array


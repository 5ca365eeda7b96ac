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
  (:func:`landscape.parallel.point_block`; ``block_size``, optional, bounds the points per block
  and so the memory), a ``lax.map`` over the blocks, the blocks spread over the local devices
  (``devices``: ``None`` all, an int ``n`` the first ``n``, or a sequence of devices). A point's
  numbers do not depend on the device count, and agree across block sizes to rounding.
  Functions that draw random numbers give point ``i`` the key ``jax.random.fold_in(key, i)``,
  so its result does not depend on the batch or the blocking.
- Public functions are compiled with ``jax.jit`` (``loss_fn`` and Python options are static,
  so pass the *same* ``loss_fn`` object to reuse the compiled program); they also work inside a
  user's ``jit`` and ``vmap``. Python-level arguments are checked before tracing and raise
  ``ValueError``/``TypeError`` that name the argument, its value and what was expected.
- Eigenvalues come back in ascending order with eigenvectors as *columns*, as in
  ``jnp.linalg.eigh``; Lanczos' largest eigenpairs come back in descending order.

Matrix-free spectra
-------------------
Hessian-vector products are forward-over-reverse (``jax.jvp`` of ``jax.grad``; the Lanczos and
trace routines linearize once and reuse it). :func:`lanczos` runs ``n_steps`` steps with full
re-orthogonalization in a ``lax.fori_loop``; on breakdown (an invariant subspace was found) it
restarts with a random vector orthogonal to the basis and sets that off-diagonal entry to zero,
so the Ritz values stay eigenvalues of the Hessian. :func:`spectral_density` is stochastic
Lanczos quadrature (Ghorbani, Krishnan & Xiao 2019): for each probe ``v`` the Ritz values
``theta_j`` of the Lanczos run started at ``v`` are the nodes and ``(e_1^T s_j)^2`` (first
components of the eigenvectors of the tridiagonal matrix) the weights of a Gauss quadrature for
``v^T f(H) v / |v|^2``; weights are divided by the number of probes, so they sum to 1 and
``sum(w * theta**p)`` estimates ``trace(H^p) / n`` (exactly, per probe, for ``p < 2 n_steps``).
:func:`gaussian_density` broadens nodes and weights into a density on a grid.

Critical points
---------------
:func:`classify` labels a point from its gradient and dense Hessian spectrum, and claims only
what the dtype, the loss scale and the point's own gradient resolve: an eigenvalue counts as
zero when ``|lam| <= zero_tol = rtol * max|lam| + atol``, where the default ``atol`` is an
absolute floor ``sqrt(eps) (|L| + s g) / s^2 + sqrt(g ell / s^3)`` (``s`` the parameter scale,
``ell`` the loss scale, ``g`` the gradient norm; derivation in :func:`classify`), not only a
fraction of the largest eigenvalue. Labels (codes of :data:`landscape.status.POINT`):

- ``not_critical``: ``|grad| > grad_tol`` (default ``sqrt(eps) ell / s``; the counts are
  still reported);
- ``saddle``: eigenvalues below ``-zero_tol`` and above ``+zero_tol``; its index is the number
  of negative ones;
- ``minimum`` / ``maximum``: every eigenvalue beyond ``zero_tol``, all of one sign;
- ``plateau``: every eigenvalue within ``zero_tol``: flat, nothing known about its shape;
- ``degenerate``: zero modes (within rounding, ``round_tol``) and the rest of one sign, e.g.
  positive semi-definite with a zero mode. The Hessian alone cannot decide, so such a point is
  **never** called a minimum; :func:`search_lower` is the follow-up test;
- ``unresolved``: like degenerate, but some small eigenvalues are above rounding and within
  the floor: this precision (or this gradient) cannot say minimum or saddle.

Every default is the loss scale times a power of ``1 / s``, so rescaling the loss changes no
label, and the same point gets the same label in float32 and float64 wherever both resolve it.
Each :class:`CriticalPoint` carries the thresholds it used. Refinement stops at
``|grad| <= eps ** 0.75`` (about 7e-6 / 2e-12). A refinement that meets a NaN/Inf (loss,
gradient or Hessian) stops there, keeps its last finite point and reports ``converged=False``.

Layout
------
``results`` (the result types), ``dispatch`` (the one jitted entry over single or batched points
and devices), ``kernels`` (traced building blocks and implementations), ``hessian`` (exact),
``spectra`` (matrix-free), ``blocks`` (restricted and layer Hessians), ``critical``
(classification, lower-point search, refinement). Every public name is re-exported here.
"""

from .blocks import (block_slices, layer_hessians, layer_hessians_batched, restricted_hessian,
                     restricted_hessian_batched)
from .critical import (classify, classify_batched, classify_spectrum, index_fraction, refine,
                       refine_batched, search_lower, search_lower_batched)
from .hessian import hessian, hessian_batched, hessian_eigh, hessian_eigh_batched, hvp, hvp_batched
from .results import (CriticalPoint, ExtremeEigenpairs, LanczosResult, LowerSearch, RefineResult,
                      RitzPairs, SpectralDensity, SpectrumLabels, TraceEstimate)
from .spectra import (extreme_eigenpairs, extreme_eigenpairs_batched, gaussian_density,
                      hessian_trace, hessian_trace_batched, lanczos, lanczos_batched,
                      spectral_density, spectral_density_batched)

__all__ = [
    # result types
    "LanczosResult", "RitzPairs", "ExtremeEigenpairs", "TraceEstimate", "SpectralDensity",
    "CriticalPoint", "SpectrumLabels", "LowerSearch", "RefineResult",
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

"""The Hessian split into the symmetric and the symmetry-breaking block."""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp

from .. import _checks, curvature
from .group import _spec
from .reduced import _model_of
from .subspace import breaking_basis, symmetric_basis

# --------------------------------------------------------------------------------------------
# curvature split into the symmetric and the symmetry-breaking block


class SymmetryCurvature(NamedTuple):
    """The Hessian in the symmetric and symmetry-breaking blocks (leading axes when batched).

    symmetric:  ``(k_sym,)`` ascending eigenvalues of ``Q_S^T H Q_S``.
    breaking:   ``(k_brk,)`` ascending eigenvalues of ``Q_B^T H Q_B``.
    directions: ``(n_params, k_brk)`` unit eigenvectors of the breaking block in the flattened
                full coordinates (``Q_B V``; column ``j`` belongs to ``breaking[j]``, so column 0
                is the most unstable symmetry-breaking direction).
    coupling:   ``max |Q_S^T H Q_B|``, the largest entry of the off-diagonal block.

    At a point of the symmetric subspace the Hessian commutes with the unit permutations, so it
    is block diagonal in ``(Q_S, Q_B)`` (``coupling`` is rounding) and the two spectra together
    are its whole spectrum.
    """

    symmetric: jax.Array
    breaking: jax.Array
    directions: jax.Array
    coupling: jax.Array


def symmetry_curvature(loss_fn, params, data, *, model=None) -> SymmetryCurvature:
    """Split the Hessian of ``loss_fn`` at ``params`` into the symmetric block and the
    symmetry-breaking block (:func:`landscape.curvature.restricted_hessian` with
    :func:`symmetric_basis` and :func:`breaking_basis`), batched over leading axes of
    ``params``. ``model`` (an ls.mlp, a Flax or Equinox model, or a unit layout) defaults to
    ``loss_fn.model``. Without a hidden layer of width >= 2
    the breaking block is empty (``breaking`` of length 0). Returns :class:`SymmetryCurvature`.

    >>> import jax, jax.numpy as jnp, optax, landscape as ls
    >>> from landscape import symmetry
    >>> model = ls.mlp([2, 2, 1])
    >>> loss_fn = ls.objectives.loss(model, "mse")
    >>> start = ls.inits.constant(model, 0.5)(jax.random.key(0))
    >>> split = symmetry.symmetry_curvature(loss_fn, start, ls.datasets.xor())
    >>> split.symmetric.shape, split.breaking.shape, split.directions.shape
    ((5,), (4,), (9, 4))
    """
    _checks.loss_fn(loss_fn)
    spec, batch = _spec(_model_of(loss_fn, model), params)
    dtype = jax.tree.leaves(params)[0].dtype
    q_s, q_b = symmetric_basis(spec, dtype=dtype), breaking_basis(spec, dtype=dtype)
    # one restricted Hessian in the whole orthonormal basis (Q_S, Q_B), then its blocks
    q = jnp.concatenate([q_s, q_b], axis=1)
    if batch:
        flat = jax.tree.map(lambda a: a.reshape((-1,) + a.shape[len(batch):]), params)
        m = curvature.restricted_hessian_batched(loss_fn, flat, data, q)
    else:
        m = curvature.restricted_hessian(loss_fn, params, data, q)
    out = _split_blocks(m, q_b)
    if batch:
        out = jax.tree.map(lambda a: a.reshape(batch + a.shape[1:]), out)
    return out


@jax.jit
def _split_blocks(m, q_b):
    k = q_b.shape[0] - q_b.shape[1]  # symmetric dimension
    lam_s = jnp.linalg.eigvalsh(m[..., :k, :k])
    lam_b, vec_b = jnp.linalg.eigh(m[..., k:, k:])
    coupling = jnp.max(jnp.abs(m[..., :k, k:]), axis=(-2, -1), initial=0.0)
    return SymmetryCurvature(lam_s, lam_b, q_b @ vec_b, coupling)


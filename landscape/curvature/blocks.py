"""Block curvature: the Hessian restricted to a subspace, and the diagonal block of each
top-level subtree (layer) of the params."""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np

from .. import _checks
from .dispatch import _call, _eps, _point_info
from .kernels import _layers_impl, _restricted_impl, _top_split

__all__ = ["restricted_hessian", "restricted_hessian_batched", "layer_hessians",
           "layer_hessians_batched", "block_slices"]


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
    if not _checks.is_tracer(basis):
        tol = _checks.tolerance("ortho_tol", ortho_tol, math.sqrt(_eps(basis.dtype)))
        q = np.asarray(basis, np.float64)
        err = float(np.max(np.abs(q.T @ q - np.eye(shape[1]))))
        if not err <= tol:
            raise ValueError(
                f"basis columns must be orthonormal: max |Q^T Q - I| = {err:.3g} > "
                f"ortho_tol={tol:.3g}"
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
    _checks.loss_fn(loss_fn)
    n, dtype, _ = _point_info(loss_fn, params, False)
    _check_basis(basis, n, dtype, ortho_tol)
    return _call(_restricted_impl, loss_fn, params, data, shared={"basis": basis})


def restricted_hessian_batched(loss_fn, params, data, basis, *, ortho_tol=None, block_size=None,
                               devices=None):
    """:func:`restricted_hessian` of each row of ``params``, one shared ``basis``:
    ``(batch, k, k)``.

    >>> import jax, jax.numpy as jnp
    >>> quad = lambda p, a: 0.5 * jnp.sum(a * p**2)  # Hessian diag(a) everywhere
    >>> a = jnp.array([1.0, 2.0, -3.0])
    >>> restricted_hessian_batched(quad, jnp.zeros((5, 3)), a, jnp.eye(3)[:, :2]).shape
    (5, 2, 2)
    """
    _checks.loss_fn(loss_fn)
    n, dtype, _ = _point_info(loss_fn, params, True)
    _check_basis(basis, n, dtype, ortho_tol)
    return _call(_restricted_impl, loss_fn, params, data, shared={"basis": basis}, batched=True,
                 block_size=block_size, devices=devices)


def block_slices(params):
    """Where each top-level subtree of ``params`` lies in the flat vector: a container like
    ``params``' top level (list for a list of layers, dict for a dict) of ``slice`` objects.

    ``H[s, s]`` for ``s`` in it are the diagonal blocks :func:`layer_hessians` returns.

    >>> import jax, landscape as ls
    >>> block_slices(ls.mlp([2, 2, 1]).init(jax.random.key(0)))  # 6 + 3 params
    [slice(0, 6, None), slice(6, 9, None)]
    """
    _checks.float_leaves(params)
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
    _checks.loss_fn(loss_fn)
    _point_info(loss_fn, params, False)
    return _call(_layers_impl, loss_fn, params, data)


def layer_hessians_batched(loss_fn, params, data, *, block_size=None, devices=None):
    """:func:`layer_hessians` of each row of ``params`` (blocks gain a leading batch axis).

    >>> import jax, landscape as ls
    >>> model = ls.mlp([2, 2, 1])
    >>> params = ls.train.initial_params(ls.inits.normal(model), jax.random.key(0), range(4))
    >>> blocks = layer_hessians_batched(ls.objectives.loss(model), params, ls.datasets.xor())
    >>> [b.shape for b in blocks]
    [(4, 6, 6), (4, 3, 3)]
    """
    _checks.loss_fn(loss_fn)
    _point_info(loss_fn, params, True)
    return _call(_layers_impl, loss_fn, params, data, batched=True,
                 block_size=block_size, devices=devices)


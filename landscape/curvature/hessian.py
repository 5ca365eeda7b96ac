"""Exact curvature: Hessian-vector products, dense Hessians and their eigen-decomposition,
for one point or each row of a batch."""

from __future__ import annotations

import jax

from .. import _checks
from .dispatch import _call, _point_info

from .kernels import _eigh_impl, _hessian_impl, _hvp_flat_impl, _hvp_impl

__all__ = ["hvp", "hvp_batched", "hessian", "hessian_batched", "hessian_eigh",
           "hessian_eigh_batched"]


# --------------------------------------------------------------------------------------------
# public API: exact curvature


def _check_v(loss_fn, params, v, batched):
    """``"tree"`` when ``v`` is shaped like ``params``, ``"flat"`` when it is a flat vector."""
    n, _, batch = _point_info(loss_fn, params, batched)
    p_struct = jax.tree_util.tree_structure(params)
    v_struct = jax.tree_util.tree_structure(v)
    lead = (batch,) if batched else ()
    if p_struct == v_struct and all(
        getattr(a, "shape", None) == b.shape
        for a, b in zip(jax.tree_util.tree_leaves(v), jax.tree_util.tree_leaves(params))
    ):
        _checks.float_leaves(v, "v")
        return "tree"
    if hasattr(v, "shape") and v_struct.num_leaves == 1 and tuple(v.shape) == lead + (n,):
        _checks.float_leaves(v, "v")
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
    _checks.loss_fn(loss_fn)
    mode = _check_v(loss_fn, params, v, False)
    impl = _hvp_impl if mode == "tree" else _hvp_flat_impl
    return _call(impl, loss_fn, params, data, mapped=v)


def hvp_batched(loss_fn, params, data, v, *, block_size=None, devices=None):
    """:func:`hvp` for each row of ``params`` with the matching row of ``v``: ``v`` and the
    result carry the batch axis, ``(batch, ...)`` like ``params`` or flat ``(batch, n_params)``.

    >>> import jax, jax.numpy as jnp
    >>> quad = lambda p, a: 0.5 * jnp.sum(a * p**2)  # Hessian diag(a) everywhere
    >>> a = jnp.array([1.0, 2.0, -3.0])
    >>> hvp_batched(quad, jnp.zeros((2, 3)), a, jnp.array([[1.0, 1, 1], [0, 1, 2]])).tolist()
    [[1.0, 2.0, -3.0], [0.0, 2.0, -6.0]]
    """
    _checks.loss_fn(loss_fn)
    mode = _check_v(loss_fn, params, v, True)
    impl = _hvp_impl if mode == "tree" else _hvp_flat_impl
    return _call(impl, loss_fn, params, data, mapped=v, batched=True,
                 block_size=block_size, devices=devices)


def hessian(loss_fn, params, data):
    """Dense Hessian ``(n_params, n_params)`` on the flattened params (for small networks).

    >>> import jax, jax.numpy as jnp
    >>> quad = lambda p, a: 0.5 * jnp.sum(a * p**2)  # Hessian diag(a) everywhere
    >>> a = jnp.array([1.0, 2.0, -3.0])
    >>> jnp.diag(hessian(quad, jnp.zeros(3), a)).tolist()
    [1.0, 2.0, -3.0]
    """
    _checks.loss_fn(loss_fn)
    _point_info(loss_fn, params, False)
    return _call(_hessian_impl, loss_fn, params, data)


def hessian_batched(loss_fn, params, data, *, block_size=None, devices=None):
    """Dense Hessians ``(batch, n_params, n_params)`` of each row of ``params``.

    >>> import jax, jax.numpy as jnp
    >>> quad = lambda p, a: 0.5 * jnp.sum(a * p**2)  # Hessian diag(a) everywhere
    >>> a = jnp.array([1.0, 2.0, -3.0])
    >>> hessian_batched(quad, jnp.zeros((4, 3)), a).shape
    (4, 3, 3)
    """
    _checks.loss_fn(loss_fn)
    _point_info(loss_fn, params, True)
    return _call(_hessian_impl, loss_fn, params, data, batched=True,
                 block_size=block_size, devices=devices)


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
    _checks.loss_fn(loss_fn)
    _point_info(loss_fn, params, False)
    return _call(_eigh_impl, loss_fn, params, data)


def hessian_eigh_batched(loss_fn, params, data, *, block_size=None, devices=None):
    """:func:`hessian_eigh` of each row of ``params``: ``(batch, n)`` and ``(batch, n, n)``.

    >>> import jax, jax.numpy as jnp
    >>> quad = lambda p, a: 0.5 * jnp.sum(a * p**2)  # Hessian diag(a) everywhere
    >>> a = jnp.array([1.0, 2.0, -3.0])
    >>> eigenvalues, eigenvectors = hessian_eigh_batched(quad, jnp.zeros((2, 3)), a)
    >>> eigenvalues.tolist(), eigenvectors.shape
    ([[-3.0, 1.0, 2.0], [-3.0, 1.0, 2.0]], (2, 3, 3))
    """
    _checks.loss_fn(loss_fn)
    _point_info(loss_fn, params, True)
    return _call(_eigh_impl, loss_fn, params, data, batched=True,
                 block_size=block_size, devices=devices)


"""One jitted entry point for every curvature function, single or batched.

``_call`` checks the host-side options (``block_size``, ``devices``) and hands the traced
implementation ``impl(loss_fn, params, data, key, mapped, **shared, **static)`` to ``_run``: one
point (``block=None``), or the leading axis of ``params`` and ``mapped`` with per-point keys
``fold_in(key, i)``, vmapped over blocks of points spread over the devices
(:func:`landscape.parallel.map_blocks`).
"""

from __future__ import annotations

import functools
import math

import jax
import jax.numpy as jnp

from .. import _checks, parallel


def _point_info(loss_fn, params, batched: bool):
    """``(n_params, dtype, batch_size)`` of one point (or of each row of a batch; ``batch_size``
    is ``None`` for one point); ``params`` checked against the loss's model when it has one."""
    leaves = _checks.float_leaves(params)
    _checks.params_of_loss(loss_fn, params, n_batch_axes=int(batched))
    if batched:
        batch = _checks.batch_size(params)
        n = sum(math.prod(leaf.shape[1:]) for leaf in leaves)
    else:
        batch = None
        n = sum(math.prod(leaf.shape) for leaf in leaves)
    dtype = jnp.result_type(*[leaf.dtype for leaf in leaves])
    return n, dtype, batch


def _eps(dtype) -> float:
    return float(jnp.finfo(dtype).eps)


def _body(impl, loss_fn, params, data, key, mapped, shared, *, static, block, mesh):
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


_STATIC = ("impl", "loss_fn", "static", "block", "mesh")
_run_one = jax.jit(_body, static_argnames=_STATIC)
"""One point: XLA's default passes."""
_run_blocks = parallel.InvariantJit(_body, static_argnames=_STATIC)
"""Blocks of points spread over devices: compiled with
:func:`landscape.parallel.compiler_options` (at the top level), so a point's numbers do not
depend on the device count."""


def _call(impl, loss_fn, params, data, *, key=None, mapped=None, shared=None, static=(),
          batched=False, block_size=None, devices=None):
    """Run ``impl`` on one point, or (``batched``) on each row of ``params`` in blocks of at most
    ``block_size`` points (``None``: :func:`landscape.parallel.point_block`'s default) on
    ``devices``."""
    block = mesh = None
    if batched:
        block_size = _checks.optional_count("block_size", block_size)
        block = parallel.point_block(jax.tree_util.tree_leaves(params)[0].shape[0], block_size)
        mesh = parallel.local_mesh(devices)
    run = _run_one if block is None else _run_blocks
    return run(impl, loss_fn, params, data, key, mapped, shared or {},
                static=tuple(static), block=block, mesh=mesh)

"""Shared helpers of :mod:`landscape.surface`: checks that a pytree is laid out like a point,
coordinate grids, and flat float64 views of params on the host.

General argument checks (counts, numbers, keys, callables, modes) are in
:mod:`landscape._checks`; only the surface-specific ones live here.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from .. import _checks

# --------------------------------------------------------------------------------------------
# argument checks


def _check_batch_like(name, tree, like, like_name="params") -> int:
    """``tree`` is ``like`` with one leading axis; returns its length."""
    (n,) = _checks.params_like(name, tree, like, reference_name=like_name, n_batch_axes=1)
    if n < 1:
        raise ValueError(f"{name} has an empty leading axis")
    return int(n)


def _grid(name, values) -> np.ndarray:
    """A 1-D, non-empty, finite, real grid of coordinates."""
    try:
        arr = np.asarray(values)
    except Exception as err:  # ragged lists and the like
        raise ValueError(f"{name} must be a 1-D array of numbers: {err}") from None
    if arr.dtype == object or not (np.issubdtype(arr.dtype, np.floating) or np.issubdtype(arr.dtype, np.integer)):
        raise TypeError(f"{name} must hold real numbers, got dtype {arr.dtype}")
    if arr.ndim != 1:
        raise ValueError(f"{name} of shape {arr.shape} must be 1-D: pass the coordinates along the "
                         "axis (e.g. np.linspace(-1, 1, 51)), not a meshgrid")
    if arr.size == 0:
        raise ValueError(f"{name} is empty; expected at least one coordinate")
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} must be finite, got {arr}")
    return arr.astype(np.float64)


# --------------------------------------------------------------------------------------------
# flat helpers (host, float64)


def _flat64(tree) -> np.ndarray:
    leaves = jax.tree_util.tree_leaves(tree)
    return np.concatenate([np.asarray(leaf, np.float64).ravel() for leaf in leaves]) if leaves else np.zeros(0)


def _unflat(vec, like):
    """Flat float64 ``vec`` back into ``like``'s structure and leaf dtypes."""
    leaves, treedef = jax.tree_util.tree_flatten(like)
    out, start = [], 0
    for leaf in leaves:
        size = int(np.prod(np.shape(leaf), dtype=np.int64))
        out.append(jnp.asarray(np.reshape(vec[start:start + size], np.shape(leaf)), leaf.dtype))
        start += size
    return jax.tree_util.tree_unflatten(treedef, out)


def _flat_batch64(tree) -> np.ndarray:
    """``(T, n)`` float64 from a pytree with a leading axis ``T``."""
    leaves = jax.tree_util.tree_leaves(tree)
    t = np.shape(leaves[0])[0]
    return np.concatenate([np.asarray(leaf, np.float64).reshape(t, -1) for leaf in leaves], axis=1)


def _float_eps(tree) -> float:
    dtype = jnp.result_type(*[leaf.dtype for leaf in jax.tree_util.tree_leaves(tree)])
    return float(jnp.finfo(dtype).eps)

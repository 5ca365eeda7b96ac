"""Pytree helpers shared by the library: one copy of each."""

from __future__ import annotations

import jax
import numpy as np


def batch_norms(tree, n_batch_axes: int = 1) -> np.ndarray:
    """Euclidean norm of each point of a batched pytree, on the host in float64.

    ``tree``: leaves ``(*batch, ...)`` with ``n_batch_axes`` leading batch axes; returns
    ``batch``-shaped float64 norms. Host-side, so every point gets the same rounding whatever
    the batch (in-program reductions get fused differently by batch shape).

    >>> import numpy as np
    >>> batch_norms({"w": np.array([[3.0, 0.0], [0.0, 0.0]]), "b": np.array([[4.0], [1.0]])})
    array([5., 1.])
    """
    leaves = jax.tree.leaves(tree)
    flat = [np.asarray(a, np.float64).reshape(a.shape[:n_batch_axes] + (-1,)) for a in leaves]
    return np.sqrt(sum(np.sum(a * a, axis=-1) for a in flat))

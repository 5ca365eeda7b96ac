"""Pytree helpers shared by the analysis modules."""

from __future__ import annotations

import jax
import jax.numpy as jnp


def float_leaves(tree, name: str = "params") -> list:
    """The leaves of ``tree``, checked to be floating arrays (errors name the argument)."""
    leaves = jax.tree_util.tree_leaves(tree)
    if not leaves:
        raise ValueError(f"{name} has no array leaves; expected a pytree of floating arrays")
    for leaf in leaves:
        dtype = getattr(leaf, "dtype", None)
        if dtype is None or not jnp.issubdtype(dtype, jnp.floating):
            raise TypeError(f"{name} leaves must be floating arrays, got a leaf of type "
                            f"{type(leaf).__name__} with dtype {dtype}")
    return leaves

"""Small tasks with known structure. Each returns a :class:`Dataset` pytree ``(x, y)``.

``x: (n_samples, n_in)`` and ``y: (n_samples, n_out)``, float32 unless ``dtype`` says otherwise.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp

__all__ = ["Dataset", "xor"]


class Dataset(NamedTuple):
    """Inputs ``x: (n_samples, n_in)`` and targets ``y: (n_samples, n_out)``; a pytree."""

    x: jax.Array
    y: jax.Array


def xor(dtype=jnp.float32) -> Dataset:
    """The four XOR patterns: ``x`` in {0,1}^2, ``y = x1 xor x2``, shapes (4, 2) and (4, 1)."""
    x = jnp.array([[0, 0], [0, 1], [1, 0], [1, 1]], dtype)
    y = jnp.array([[0], [1], [1], [0]], dtype)
    return Dataset(x, y)

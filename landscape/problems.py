"""Known-answer problems: test cases whose answers are known by construction or in closed form.

- :func:`saddle_example`: a strict saddle by construction (a symmetric equilibrium with one
  negative symmetry-breaking eigenvalue), for escape and curvature checks;
- :data:`XOR_SYMMETRIC_INFIMUM`: the closed-form limit of the XOR loss over the symmetric
  subspace of a 2-H-1 logistic network (a trap at infinity).

>>> from landscape import problems
>>> round(problems.XOR_SYMMETRIC_INFIMUM["mse"], 4)
0.1667
"""

from __future__ import annotations

from typing import Any, NamedTuple

import jax.numpy as jnp

from . import _checks, curvature
from .datasets import Dataset
from .models import Model, mlp
from .objectives import loss as make_loss
from .symmetry import from_reduced, reduced_model

__all__ = ["XOR_SYMMETRIC_INFIMUM", "SaddleExample", "saddle_example"]

XOR_SYMMETRIC_INFIMUM = {"mse": 1.0 / 6.0, "half_sse": 1.0 / 3.0}
"""Infimum of the XOR loss of a 2-H-1 logistic network over its symmetric subspace, by loss name.
With all hidden units equal the output is a monotone function of x1 + x2; the best such
function (increasing) is 0 on (0, 0) and 2/3 on the other three patterns, squared errors
2 (1/3)^2 + (2/3)^2 = 2/3 in all: mse 1/6, half-SSE 1/3, approached only as the weights grow
without bound (a trap at infinity). Tested in tests/test_problems.py."""


# --------------------------------------------------------------------------------------------
# a strict saddle by construction


class SaddleExample(NamedTuple):
    """What :func:`saddle_example` returns: a 1-2-1 tanh ``model``, its ``loss_fn`` (MSE), the
    ``data`` and ``params``, a strict saddle in the symmetric subspace (``reduced_params``: the
    same point as a one-unit network, a minimum of that network's loss)."""

    model: Model
    loss_fn: Any
    data: Any
    params: Any
    reduced_params: Any


def saddle_example(*, n_samples: int = 41, dtype=jnp.float64) -> SaddleExample:
    """A symmetric equilibrium that is a strict saddle, built by hand: the best one-unit fit of
    a 1-D regression that needs two tanh units, ``y = tanh(3 (x + 1)) + tanh(3 (x - 1))`` on
    ``n_samples`` points of ``[-3, 3]``, embedded into a 1-2-1 tanh network as two equal units.

    The fit is Newton-refined (:func:`landscape.curvature.refine`) from a fixed start; in the
    two-unit network the point is critical, a minimum inside the symmetric subspace, and has one
    negative symmetry-breaking eigenvalue (about -0.0108): splitting the unit in two lowers the
    loss. Use float64 (``jax_enable_x64``) for its exactness.

    >>> import jax, jax.numpy as jnp, optax, landscape as ls
    >>> from landscape import problems, symmetry
    >>> with jax.enable_x64(True):
    ...     ex = problems.saddle_example()
    ...     split = symmetry.symmetry_curvature(ex.loss_fn, ex.params, ex.data)
    >>> round(float(split.breaking[0]), 4)
    -0.0108
    """
    n_samples = _checks.count("n_samples", n_samples, minimum=8)
    dtype = _checks.floating_dtype("dtype", dtype)
    model = mlp([1, 2, 1], activation="tanh", output="linear")
    small = reduced_model(model)
    x = jnp.linspace(-3.0, 3.0, int(n_samples), dtype=dtype)[:, None]
    data = Dataset(x, jnp.tanh(3 * (x + 1)) + jnp.tanh(3 * (x - 1)))
    start = [{"w": jnp.full((1, 1), 0.5, dtype), "b": jnp.zeros((1,), dtype)},
             {"w": jnp.full((1, 1), 2.0, dtype), "b": jnp.zeros((1,), dtype)}]
    fit = curvature.refine(make_loss(small, "mse"), start, data)
    if not bool(fit.converged):
        raise RuntimeError(f"the one-unit fit did not converge (|grad| = {float(fit.grad_norm):.3g})")
    return SaddleExample(model, make_loss(model, "mse"), data, from_reduced(fit.params, model=model),
                         fit.params)

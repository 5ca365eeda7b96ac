"""Losses and success criteria for the toolkit's MLPs.

``loss(model, name)`` returns ``loss_fn(params, data) -> scalar`` and
``success(model, name, ...)`` returns ``success_fn(params, data) -> bool``; both are hashable
callables that the trainer can also evaluate on many runs at once with the run axis last.

Losses (``data = (x, y)``, outputs ``o = model.apply(params, x)``):

- ``"mse"``: mean over samples and outputs of ``(o - y)^2``;
- ``"half_mse"``: half of that, ``1/2 mean_p mean_k (o - y)^2`` (the convention of many papers,
  whose gradient has no factor 2);
- ``"half_sse"``: ``1/2 sum_p sum_k (o - y)^2``, the backprop literature's E;
- ``"bce"``: mean binary cross-entropy; the output layer's pre-activations are the logits, so
  the model's output must be ``"sigmoid"`` or ``"linear"``; targets in [0, 1];
- ``"cross_entropy"``: mean softmax cross-entropy over samples; output must be ``"linear"``
  (logits); targets are probability vectors (one-hot).
"""

from __future__ import annotations

import dataclasses
import math
import numbers

import jax
import jax.numpy as jnp
import numpy as np

from . import _checks
from .models import Model

__all__ = ["LOSSES", "CRITERIA", "Loss", "Criterion", "loss", "success"]

LOSSES = ("mse", "half_mse", "half_sse", "bce", "cross_entropy")
CRITERIA = ("within", "accuracy")
_LOGIT_OUTPUTS = {"bce": ("sigmoid", "linear"), "cross_entropy": ("linear",)}




def _reduce_loss(name: str, out: jax.Array, y: jax.Array) -> jax.Array:
    """Loss from outputs (or logits) ``out: (batch, n_out, *runs)`` and targets ``y`` alike."""
    if name == "mse":
        return jnp.mean((out - y) ** 2, axis=(0, 1))
    if name == "half_mse":
        return 0.5 * jnp.mean((out - y) ** 2, axis=(0, 1))
    if name == "half_sse":
        return 0.5 * jnp.sum((out - y) ** 2, axis=(0, 1))
    if name == "bce":
        # -[y log s(z) + (1 - y) log(1 - s(z))] = softplus(z) - y z, stable for any z.
        return jnp.mean(jax.nn.softplus(out) - y * out, axis=(0, 1))
    if name == "cross_entropy":
        return -jnp.mean(jnp.sum(y * jax.nn.log_softmax(out, axis=1), axis=1), axis=0)
    raise ValueError(f"loss name={name!r} is not known; expected one of {LOSSES}")


@dataclasses.dataclass(frozen=True)
class Loss:
    """``loss_fn(params, data) -> scalar`` for an MLP; see the module docstring for the names.
    Made by :func:`loss`; hashable, so jitted callers cache their programs on it.

    ``params`` as ``model.init`` returns them, ``data = (x: (n, n_in), y: (n, n_out))``;
    :meth:`batched` takes params with a trailing run axis and returns ``(runs,)``.
    """

    model: Model
    name: str

    @property
    def _uses_logits(self) -> bool:
        return self.name in _LOGIT_OUTPUTS

    def __call__(self, params, data) -> jax.Array:
        x, y = data
        out = self.model.apply(params, x, final_activation=not self._uses_logits)
        return _reduce_loss(self.name, out, y)

    def batched(self, params, data) -> jax.Array:
        """Losses ``(runs,)`` of params whose leaves carry a trailing run axis."""
        x, y = data
        out = self.model.apply_batched(params, x, final_activation=not self._uses_logits)
        return _reduce_loss(self.name, out, y[..., None])


def loss(model: Model, name: str = "mse") -> Loss:
    """The loss called ``name`` (one of :data:`LOSSES`) of ``model``: ``loss_fn(params, data)``.

    >>> import jax, landscape as ls
    >>> model = ls.mlp([2, 2, 1])
    >>> loss_fn = ls.objectives.loss(model, "mse")
    >>> params = ls.inits.zeros(model)(jax.random.key(0))  # every output is sigmoid(0) = 0.5
    >>> float(loss_fn(params, ls.datasets.xor()))
    0.25
    """
    _checks.model(model)
    if name not in LOSSES:
        raise ValueError(f"loss name={name!r} is not known; expected one of {LOSSES}")
    allowed = _LOGIT_OUTPUTS.get(name)
    if allowed is not None and model.output not in allowed:
        raise ValueError(
            f"loss {name!r} reads the output layer's pre-activations as logits, so the model's "
            f"output activation must be one of {allowed}, got output={model.output!r}"
        )
    if name == "cross_entropy" and model.n_out < 2:
        # a softmax over one class is identically 1: the loss would be 0 for any params
        raise ValueError(
            f"loss 'cross_entropy' needs at least two outputs (classes), got sizes={list(model.sizes)}; "
            f"use 'bce' for a single output"
        )
    return Loss(model, name)


def _holds(name: str, tol: float, threshold: float, out: jax.Array, y: jax.Array) -> jax.Array:
    """Whether the criterion holds for outputs ``out: (batch, n_out, *runs)``, targets alike."""
    if name == "within":
        return jnp.all(jnp.abs(out - y) <= tol, axis=(0, 1))
    if name == "accuracy":
        if out.shape[1] == 1:
            correct = (out[:, 0] > threshold) == (y[:, 0] > threshold)
        else:
            correct = jnp.argmax(out, axis=1) == jnp.argmax(y, axis=1)
        return jnp.mean(correct.astype(out.dtype), axis=0) >= 1.0 - tol
    raise ValueError(f"criterion name={name!r} is not known; expected one of {CRITERIA}")


@dataclasses.dataclass(frozen=True)
class Criterion:
    """``success_fn(params, data) -> bool`` scalar, made by :func:`success`; :meth:`batched`
    takes params with a trailing run axis and returns ``(runs,)`` booleans."""

    model: Model
    name: str
    tol: float
    threshold: float

    def __call__(self, params, data) -> jax.Array:
        x, y = data
        return _holds(self.name, self.tol, self.threshold, self.model.apply(params, x), y)

    def batched(self, params, data) -> jax.Array:
        """Booleans ``(runs,)`` for params whose leaves carry a trailing run axis."""
        x, y = data
        out = self.model.apply_batched(params, x)
        return _holds(self.name, self.tol, self.threshold, out, y[..., None])


def success(model: Model, name: str = "within", *, tol: float | None = None,
            threshold: float = 0.5) -> Criterion:
    """A success criterion ``success_fn(params, data) -> bool``.

    - ``"within"``: every output of every pattern is within ``tol`` of its target
      (default ``tol=0.4``, the classic "40-20-40"-style margin for 0/1 targets);
    - ``"accuracy"``: the fraction of correctly classified patterns is at least ``1 - tol``
      (default ``tol=0``: all correct). One output: class is ``output > threshold``; several
      outputs: the arg-max.

    >>> import jax, landscape as ls
    >>> model = ls.mlp([2, 2, 1])
    >>> success_fn = success(model, "within", tol=0.4)
    >>> params = ls.inits.zeros(model)(jax.random.key(0))  # outputs 0.5: within 0.5, not 0.4
    >>> bool(success_fn(params, ls.datasets.xor()))
    False
    """
    _checks.model(model)
    if name not in CRITERIA:
        raise ValueError(f"criterion name={name!r} is not known; expected one of {CRITERIA}")
    if tol is None:
        tol = 0.4 if name == "within" else 0.0
    if isinstance(tol, (bool, np.bool_)) or not isinstance(tol, numbers.Real) or not tol >= 0:
        raise ValueError(f"tol={tol!r} must be a non-negative number")
    if (isinstance(threshold, (bool, np.bool_)) or not isinstance(threshold, numbers.Real)
            or not math.isfinite(threshold)):
        raise ValueError(f"threshold={threshold!r} must be a finite number")
    return Criterion(model, name, float(tol), float(threshold))

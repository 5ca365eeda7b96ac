"""Metrics for the slices: any ``metric(params, data) -> scalar`` works (a loss, a success
criterion); this module adds :func:`grad_norm`, :func:`min_eigenvalue` and :func:`accuracy`, and
says which metrics have a point-axis-last (``"batched"``) form.

Two evaluation methods give the same numbers (to float rounding): ``"vmap"`` works for any
metric (a block of points is ``vmap``-ed with the data batch inside, so XLA turns the grid points
into matrix rows: a dense layer of a block of ``G`` points is one ``(n, in) x (in, G * out)``
matrix product); ``"batched"``, for the toolkit's own MLP metrics
(:func:`landscape.objectives.loss`, :func:`landscape.objectives.success`, :func:`accuracy`,
:func:`grad_norm` of an MLP loss), evaluates all points with the point axis last
(:meth:`landscape.models.Model.apply_batched`). ``method="auto"`` takes ``"batched"`` only for a
tiny network on tiny data (at most :data:`_BATCHED_MAX_ACTIVATIONS` hidden and output
activations per point, e.g. XOR 2-8-1 on its 4 samples) and ``"vmap"`` otherwise: measured on a
2-core CPU, 51 x 51 slices, float32: XOR 2-2-1 both ~0.3 ms; 10-8-1 on 256 samples 34 ms
batched, 12 ms vmap; 20-128-1 on 512 samples 1.56 s batched, 0.15 s vmap.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Callable

import jax
import jax.numpy as jnp

from .. import _checks, curvature
from ..objectives import Criterion, Loss

__all__ = ["grad_norm", "min_eigenvalue", "accuracy"]

_METHODS = ("auto", "vmap", "batched")
"""Evaluation methods of the slices, paths and :func:`landscape.surface.evaluate_points`."""

_BATCHED_MAX_ACTIVATIONS = 256
"""``method="auto"`` takes the point-axis-last form when ``samples * (hidden + output units)`` is
at most this (XOR 2-2-1: 12; 2-8-1: 36; the vmap form won from 10-8-1 on 256 samples: 2,304)."""


@dataclasses.dataclass(frozen=True)
class _GradNorm:
    loss_fn: Callable
    name: str = "|grad|"

    def __call__(self, params, data):
        g = jax.grad(self.loss_fn)(params, data)
        return jnp.sqrt(sum(jnp.sum(x * x) for x in jax.tree_util.tree_leaves(g)))

    @property
    def can_batch(self):
        return isinstance(self.loss_fn, Loss)

    def batched(self, params, data):
        """Trailing point axis: runs are independent, so the gradient of the summed loss is the
        per-point gradient."""
        g = jax.grad(lambda p: jnp.sum(self.loss_fn.batched(p, data)))(params)
        return jnp.sqrt(sum(jnp.sum(x * x, axis=tuple(range(x.ndim - 1)))
                            for x in jax.tree_util.tree_leaves(g)))


@dataclasses.dataclass(frozen=True)
class _MinEigenvalue:
    loss_fn: Callable
    name: str = "λ_min"

    def __call__(self, params, data):
        h = curvature.hessian(self.loss_fn, params, data)  # on the flattened params
        return jnp.linalg.eigvalsh(0.5 * (h + h.T))[0]

    can_batch = False

    @staticmethod
    def floats_per_point(n_params):
        return 6 * n_params * n_params + 64


@dataclasses.dataclass(frozen=True)
class _Accuracy:
    model: Any
    threshold: float
    name: str = "accuracy"

    def _score(self, out, y):
        if out.shape[1] == 1:
            correct = (out[:, 0] > self.threshold) == (y[:, 0] > self.threshold)
        else:
            correct = jnp.argmax(out, axis=1) == jnp.argmax(y, axis=1)
        return jnp.mean(correct.astype(out.dtype), axis=0)

    def __call__(self, params, data):
        x, y = data
        return self._score(self.model.apply(params, x), y)

    can_batch = True

    def batched(self, params, data):
        x, y = data
        return self._score(self.model.apply_batched(params, x), y[..., None])


def grad_norm(loss_fn) -> Callable:
    """Metric ``|grad loss_fn(params, data)|`` (Euclidean, over all params): a scalar per point.

    >>> import jax.numpy as jnp
    >>> quad = lambda p, a: 0.5 * jnp.sum(a * p**2)
    >>> float(grad_norm(quad)(jnp.ones(2), jnp.array([3.0, 4.0])))
    5.0
    """
    _checks.loss_fn(loss_fn)
    return _GradNorm(loss_fn)


def min_eigenvalue(loss_fn) -> Callable:
    """Metric: the smallest eigenvalue of the dense Hessian of ``loss_fn`` (small networks:
    ``n_params^2`` memory per point, which the default chunk size accounts for).

    >>> import jax.numpy as jnp
    >>> quad = lambda p, a: 0.5 * jnp.sum(a * p**2)  # Hessian diag(a) everywhere
    >>> a = jnp.array([1.0, 2.0, -3.0])
    >>> float(min_eigenvalue(quad)(jnp.zeros(3), a))
    -3.0
    """
    _checks.loss_fn(loss_fn)
    return _MinEigenvalue(loss_fn)


def accuracy(model, threshold=0.5) -> Callable:
    """Metric: fraction of samples of ``data = (x, y)`` classified correctly by an MLP ``model``
    (one output: ``output > threshold`` vs ``y > threshold``; several: arg-max).

    >>> import jax, landscape as ls
    >>> model = ls.mlp([2, 2, 1])
    >>> params = ls.inits.constant(model, 0.5)(jax.random.key(0))  # the symmetric start
    >>> float(accuracy(model)(params, ls.datasets.xor()))  # same output for all 4 inputs
    0.5
    """
    _checks.model(model)
    return _Accuracy(model, _checks.real("threshold", threshold))


def _batched_fn(metric):
    """The point-axis-last form of ``metric``, or None when it has none."""
    if isinstance(metric, (Loss, Criterion)):
        return metric.batched
    if isinstance(metric, (_GradNorm, _MinEigenvalue, _Accuracy)) and metric.can_batch:
        return metric.batched
    return None


def _metric_model_holder(metric):
    """What carries the metric's ``.model``: the loss inside :func:`grad_norm` and
    :func:`min_eigenvalue`, the metric itself otherwise."""
    return metric.loss_fn if isinstance(metric, (_GradNorm, _MinEigenvalue)) else metric


def _check_point(metric, params, name="params", n_batch_axes=0):
    """``params``: floating leaves and, for a toolkit metric, laid out like its model (one
    network, or ``n_batch_axes`` leading axes), before any tracing."""
    _checks.float_leaves(params, name)
    _checks.params_of_model(_metric_model(metric), params, n_batch_axes=n_batch_axes, name=name,
                            what="the metric's model")


def _metric_model(metric):
    """The ``ls.mlp`` Model a toolkit metric is made of (a loss, a success criterion,
    :func:`accuracy`, :func:`grad_norm` or :func:`min_eigenvalue` of a loss), or None."""
    inner = _metric_model_holder(metric)
    return inner.model if isinstance(inner, (Loss, Criterion, _Accuracy)) else None


def _activations_per_point(metric, data) -> int | None:
    """``samples * (hidden + output units)`` of a toolkit MLP metric on ``data = (x, y)``."""
    model = _metric_model(metric)
    x = data[0] if isinstance(data, (tuple, list)) and data else None
    if model is None or getattr(x, "ndim", 0) != 2:
        return None
    return int(x.shape[0]) * sum(model.sizes[1:])


def _metric_name(metric) -> str:
    if isinstance(metric, Loss):
        return f"{metric.name} loss"
    if isinstance(metric, Criterion):
        return f"success ({metric.name})"
    return str(getattr(metric, "name", None) or getattr(metric, "__name__", None) or "metric")


def _resolve_method(metric, method, data):
    """``"vmap"`` or ``"batched"`` (see the module docstring for what ``"auto"`` takes)."""
    method = _checks.choice("method", method, _METHODS)
    batched = _batched_fn(metric)
    if method == "batched" and batched is None:
        raise ValueError(f"method='batched' needs a landscape MLP metric (objectives.loss/success, "
                         f"surface.accuracy or surface.grad_norm of an MLP loss); got {metric!r}")
    if method == "auto":
        size = _activations_per_point(metric, data)
        tiny = size is not None and size <= _BATCHED_MAX_ACTIVATIONS
        method = "batched" if batched is not None and tiny else "vmap"
    return method

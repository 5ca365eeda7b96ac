"""Exact symmetric training: the reduced parametrization (one unit per hidden layer), maps to and
from the full network, and the loss, optimizer and init of the full network in reduced form.
"""

from __future__ import annotations

import dataclasses
import functools
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import optax

from .. import _checks
from ..models import Model
from ..objectives import Criterion, Loss
from .group import _mlp_spec, batch_shape
from .subspace import _project_symmetric

# --------------------------------------------------------------------------------------------
# the reduced parametrization: one unit per hidden layer (ls.mlp only: the reduced network is
# an ls.mlp; other models train inside the subspace by projection, see symmetric_equilibrium)


def _mlp(model, what: str) -> Model:
    if not isinstance(model, Model):
        raise TypeError(f"{what} needs an ls.mlp Model (the reduced network is an ls.mlp with one "
                        f"unit per hidden layer), got {type(model).__name__}")
    return model


def _layout(model: Model) -> Model:
    """The part of ``model`` a compiled reduced-parametrization program depends on (sizes and
    bias), as a canonical Model: the compile cache key, shared by models that differ only in
    activations."""
    return dataclasses.replace(model, activation="linear", output="linear")


def reduced_model(model: Model) -> Model:
    """The same MLP with one unit per hidden layer: ``[n_in, 1, ..., 1, n_out]``.

    A point of the symmetric subspace of ``model`` computes the same function as its image
    under :func:`to_reduced` in this model (the outgoing weights of a hidden layer of width
    ``H`` are multiplied by ``H``: ``H`` equal units sending ``w`` each add up to one unit
    sending ``H w``).

    >>> import landscape as ls
    >>> reduced_model(ls.mlp([2, 3, 1])).sizes
    (2, 1, 1)
    """
    _mlp(model, "reduced_model")
    return dataclasses.replace(model, sizes=(model.n_in,) + (1,) * len(model.hidden_sizes)
                               + (model.n_out,))


def _reduced_factors(model: Model):
    """Per reduced leaf, ``(copies, scale)``: how many entries of the full network one reduced
    entry stands for, and the factor ``reduced = scale * full`` (the width of the hidden layer
    sending into the leaf for weights, 1 otherwise). Constant within each leaf."""
    widths = (1,) + model.hidden_sizes + (1,)  # units per layer, inputs/outputs not tied
    out = []
    for l in range(model.n_layers):
        sending, receiving = widths[l], widths[l + 1]
        layer = {"w": (sending * receiving, sending)}
        if model.bias[l]:
            layer["b"] = (receiving, 1)
        out.append(layer)
    return out


def to_reduced(params, *, model: Model) -> list:
    """Full params -> the reduced network's (:func:`reduced_model`), batched over leading axes.

    Each hidden layer's mean unit (the symmetric projection, exact for identical units) becomes
    the single unit; weights leaving a hidden layer of width ``H`` are multiplied by ``H``, so
    that a point of the symmetric subspace keeps its function. Off the subspace this maps the
    projection :func:`project_symmetric` of ``params``.

    >>> import jax, jax.numpy as jnp, landscape as ls
    >>> from landscape import symmetry
    >>> model = ls.mlp([2, 3, 1])
    >>> red = symmetry.to_reduced(ls.inits.constant(model, 0.5)(jax.random.key(0)), model=model)
    >>> red[0]["w"].tolist(), red[1]["w"].tolist()  # outgoing weights times H = 3
    ([[0.5], [0.5]], [[1.5]])
    """
    _mlp(model, "to_reduced")
    batch_shape(params, model=model)
    return _to_reduced(_layout(model), params)


@functools.partial(jax.jit, static_argnames="model")
def _to_reduced(model: Model, params):
    spec = _mlp_spec(model)
    leaves, treedef = jax.tree.flatten(_project_symmetric(spec, params))
    factors = jax.tree.leaves(_reduced_factors(model), is_leaf=lambda x: isinstance(x, tuple))
    out = []
    for leaf, axes, (_, scale) in zip(leaves, spec.unit_axes, factors):
        lead = leaf.ndim - len(axes)
        index = (slice(None),) * lead + tuple(slice(None) if h is None else slice(0, 1)
                                              for h in axes)
        out.append(leaf[index] * scale)
    return treedef.unflatten(out)


def from_reduced(reduced, *, model: Model) -> list:
    """Reduced params (of :func:`reduced_model`) -> the full network's point of the symmetric
    subspace with the same function: every unit a copy of the single one, weights leaving a
    hidden layer of width ``H`` divided by ``H``. Batched over leading axes; the units of the
    result are bit-identical, so its :func:`symmetry_gap` is exactly 0.

    >>> import jax, jax.numpy as jnp, landscape as ls
    >>> from landscape import symmetry
    >>> model = ls.mlp([2, 3, 1])
    >>> reduced = symmetry.reduced_model(model).init(jax.random.key(0))
    >>> full = symmetry.from_reduced(reduced, model=model)
    >>> full[0]["w"].shape, float(symmetry.symmetry_gap(full, model=model))
    ((2, 3), 0.0)
    """
    _mlp(model, "from_reduced")
    small = reduced_model(model)
    batch_shape(reduced, model=small, name="reduced")
    return _from_reduced(_layout(model), reduced)


@functools.partial(jax.jit, static_argnames="model")
def _from_reduced(model: Model, reduced):
    out = []
    for layer, want, factors in zip(reduced, model.param_shapes, _reduced_factors(model)):
        new = {}
        for kind, leaf in layer.items():
            shape = want[kind]
            value = leaf / factors[kind][1] if factors[kind][1] != 1 else leaf
            new[kind] = jnp.broadcast_to(value, leaf.shape[: leaf.ndim - len(shape)] + shape)
        out.append(new)
    return out


def _model_of(loss_fn, model=None):
    """``model`` if given (any model :func:`landscape.units.layout` takes), else the model of a
    landscape loss (``loss_fn.model``)."""
    if model is None:
        model = getattr(loss_fn, "model", None)
        if not isinstance(model, Model):
            raise TypeError(f"loss_fn={loss_fn!r} does not say its model; pass model= (an ls.mlp, "
                            "a Flax or Equinox model, or a units.UnitLayout)")
    return model


@dataclasses.dataclass(frozen=True)
class _OnFull:
    """``fn(from_reduced(model, reduced), data)``: any loss or criterion of the full network,
    evaluated on reduced params."""

    model: Model
    fn: Any

    def __call__(self, reduced, data):
        return self.fn(_from_reduced(_layout(self.model), reduced), data)


def reduced_objective(fn, *, model: Model):
    """``fn(params, data)`` of the full network as a function of reduced params (see
    :func:`reduced_training` for an example).

    A landscape loss or success criterion of ``model`` (:func:`landscape.objectives.loss`,
    :func:`landscape.objectives.success`) becomes the same objective of :func:`reduced_model`
    (cheap: one unit per layer; ``train_many`` takes its fast path). Any other callable is
    wrapped to evaluate ``fn(from_reduced(model, reduced), data)``. Both give the same values.
    """
    _mlp(model, "reduced_objective")
    _checks.function("fn", fn, "fn(params, data)")
    if isinstance(fn, (Loss, Criterion)) and fn.model == model:
        return dataclasses.replace(fn, model=reduced_model(model))
    return _OnFull(model, fn)


def reduced_optimizer(optimizer, *, model: Model):
    """``optimizer`` acting on reduced params exactly as it acts on the full network's params
    inside the symmetric subspace.

    Each reduced entry ``r = s * w`` stands for ``k`` identical full entries ``w`` (``s``: the
    width of the sending hidden layer for weights, else 1). The full gradient of each copy is
    ``g_w = s * g_r / k``; the wrapped optimizer sees ``g_w`` and params ``r / s`` (so weight
    decay, Adam's normalization, momentum... act as on every full copy) and its updates are
    multiplied by ``s``. Training reduced params with it retraces the full trajectory of a
    symmetric start (to rounding) with the symmetry holding by construction. The optimizer
    state is the wrapped optimizer's own (e.g. ``inject_hyperparams`` hyperparameters stay
    reachable). See :func:`reduced_training` for an example.
    """
    _mlp(model, "reduced_optimizer")
    _checks.optimizer(optimizer)
    return _reduced_optimizer(_layout(model), optimizer)


@functools.lru_cache(maxsize=64)
def _reduced_optimizer(model: Model, optimizer):
    """Cached per (layout, optimizer): the same wrapped object for the same optimizer object, so
    compiled programs keyed on it are reused."""
    factors = _reduced_factors(model)
    grad_scale = [{k: s / n for k, (n, s) in layer.items()} for layer in factors]
    scale = [{k: s for k, (n, s) in layer.items()} for layer in factors]

    def mul(tree, by):
        return [{k: leaf[k] * f[k] if f[k] != 1 else leaf[k] for k in leaf}
                for leaf, f in zip(tree, by)]

    def div(tree, by):
        return [{k: leaf[k] / f[k] if f[k] != 1 else leaf[k] for k in leaf}
                for leaf, f in zip(tree, by)]

    def init(params):
        return optimizer.init(div(params, scale))

    def update(grads, state, params=None):
        updates, state = optimizer.update(mul(grads, grad_scale), state,
                                          None if params is None else div(params, scale))
        return mul(updates, scale), state

    return optax.GradientTransformation(init, update)


@dataclasses.dataclass(frozen=True)
class _ReducedInit:
    model: Model
    init_fn: Any

    def __call__(self, key):
        return _to_reduced(_layout(self.model), self.init_fn(key))


class ReducedTraining(NamedTuple):
    """The pieces for ``train_many`` in the reduced parametrization (see
    :func:`reduced_training`)."""

    model: Model
    loss_fn: Any
    init_fn: Any
    optimizer: Any
    success: Any


def reduced_training(loss_fn, init_fn, optimizer, *, model: Model | None = None,
                     success=None) -> ReducedTraining:
    """Exact symmetric training: ``loss_fn``, ``init_fn``, ``optimizer`` (and ``success``) of the
    full network turned into their reduced counterparts (:func:`reduced_objective`,
    :func:`to_reduced` of each start, :func:`reduced_optimizer`). ``model`` defaults to
    ``loss_fn.model``.

    >>> import optax, jax, landscape as ls
    >>> model = ls.mlp([2, 3, 1])
    >>> red = ls.symmetry.reduced_training(ls.objectives.loss(model, "mse"),
    ...                                    ls.inits.constant(model, 0.5), optax.sgd(0.5))
    >>> result = ls.train_many(red.loss_fn, red.init_fn, red.optimizer, ls.datasets.xor(),
    ...                        key=jax.random.key(0), n_runs=4, steps=100)
    >>> full = ls.symmetry.from_reduced(result.params, model=model)  # units bit-identical

    The reduced run follows the full network's trajectory from ``project_symmetric`` of the start
    (to rounding, and exactly in exact arithmetic) but can never leave the symmetric subspace.
    """
    _checks.loss_fn(loss_fn)
    model = _mlp(_model_of(loss_fn, model), "reduced_training")
    _checks.function("init_fn", init_fn, "init_fn(key) -> params")
    return ReducedTraining(
        model=reduced_model(model), loss_fn=reduced_objective(loss_fn, model=model),
        init_fn=_ReducedInit(model, init_fn), optimizer=reduced_optimizer(optimizer, model=model),
        success=None if success is None else reduced_objective(success, model=model))


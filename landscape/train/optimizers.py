"""Optax optimizers by name (for configs and the CLI), built so their hyperparameters are data."""

from __future__ import annotations

import functools

import optax

from .. import _checks

__all__ = ["OPTIMIZERS", "make_optimizer"]

_OPTIMIZER_FACTORIES = {"sgd": optax.sgd, "momentum": optax.sgd, "nesterov": optax.sgd,
                        "adam": optax.adam, "rmsprop": optax.rmsprop, "adamw": optax.adamw}
OPTIMIZERS = tuple(_OPTIMIZER_FACTORIES)


@functools.lru_cache(maxsize=64)
def _injected(name: str, learning_rate: float, options: tuple) -> optax.GradientTransformation:
    return optax.inject_hyperparams(_OPTIMIZER_FACTORIES[name])(learning_rate=learning_rate,
                                                                 **dict(options))


def make_optimizer(name: str, learning_rate: float, **kwargs) -> optax.GradientTransformation:
    """An optax optimizer by name (one of :data:`OPTIMIZERS`), for configs and the CLI.

    ``momentum`` and ``nesterov`` are ``optax.sgd`` with ``momentum=kwargs.get("momentum", 0.9)``.
    The optimizer is built with ``optax.inject_hyperparams``, so its numeric hyperparameters
    (``learning_rate``, ``momentum``, ...) live in its state and :func:`train_many` can set them
    per run as traced data: with ``hyperparams={"learning_rate": np.full(n_runs, lr)}`` one
    compiled program serves every learning rate (a sweep compiles once), and the same arguments
    return the same object. Same updates as the plain optax optimizer.

    >>> import jax.numpy as jnp
    >>> opt = make_optimizer("momentum", 0.5)
    >>> opt is make_optimizer("momentum", 0.5)
    True
    >>> sorted(opt.init(jnp.zeros(3)).hyperparams)
    ['learning_rate', 'momentum']
    """
    _checks.choice("optimizer name", name, OPTIMIZERS)
    learning_rate = _checks.real("learning_rate", learning_rate, low=0.0, low_open=True)
    if name in ("momentum", "nesterov"):
        kwargs = {"momentum": 0.9, **kwargs, "nesterov": name == "nesterov"}
    try:
        return _injected(name, learning_rate, tuple(sorted(kwargs.items())))
    except TypeError as err:  # an unknown or unhashable option
        raise TypeError(f"make_optimizer({name!r}, ...) options {kwargs!r} are not accepted: {err}") from None

"""The entry points: :func:`train_many` (plan, run every chunk, join) and :func:`initial_params`."""

from __future__ import annotations

import inspect
from typing import Any, Callable

import jax
import jax.numpy as jnp
import numpy as np
import optax

from .. import _checks
from .plan import MAX_RUNS, plan_training
from .progress import progress_bar
from .result import TrainResult, concat_results

__all__ = ["train_many", "initial_params"]


def train_many(loss_fn: Callable, init_fn: Callable | None, optimizer: optax.GradientTransformation,
               data, *, progress: bool | None = None, **options) -> TrainResult:
    """Train ``n_runs`` networks from ``init_fn`` (or given) starts with ``optimizer`` for
    ``steps`` steps.

    Takes the arguments of :func:`plan_training`, documented there (``key``, ``n_runs``,
    ``steps``, ``record_every``, ``chunk_size``, ``success``, ``batch_size``, ``hyperparams``,
    ``init_scale``, ``starts``, ``trainable``, ``trajectory_runs``, ``method``, ``devices``;
    ``inspect.signature(train_many)`` lists them all), and:

    Args:
      progress: progress bar counting runs (runs/s, time left), printing how the runs were split
        first; default: on when there is more than one chunk.

    Returns:
      :class:`TrainResult` with ``params`` (leading run axis), ``losses (n_runs, n_records)``,
      ``status``, ``failed_step``, ``grad_norm``, ``success_step``, ``trajectory``.

    >>> import optax, jax, landscape as ls
    >>> model = ls.mlp([2, 2, 1])
    >>> result = ls.train_many(ls.objectives.loss(model, "mse"), ls.inits.normal(model, 1.0),
    ...                        optax.sgd(0.5), ls.datasets.xor(), key=jax.random.key(0),
    ...                        n_runs=100, steps=1000, record_every=100)
    >>> result.losses.shape
    (100, 11)
    >>> grid = {"x": jax.numpy.linspace(-2.0, 2.0, 5)}  # given starts of a loss that needs no data
    >>> ls.train_many(lambda p, _: (p["x"] ** 2 - 1) ** 2, None, optax.sgd(0.01), None,
    ...               starts=grid, steps=100).params["x"].round(3).tolist()
    [-1.0, -1.0, 0.0, 1.0, 1.0]
    """
    unknown = sorted(set(options) - _OPTIONS)
    if unknown:
        raise TypeError(f"train_many() got unexpected keyword arguments {unknown}; its options are "
                        f"those of plan_training: {sorted(_OPTIONS)} and progress")
    plan = plan_training(loss_fn, init_fn, optimizer, data, **options)
    bar = progress_bar(range(plan.n_chunks), plan.n_chunks, progress, plan=plan)
    chunks = [plan.run_chunk(c) for c in bar]
    return concat_results(chunks) if len(chunks) > 1 else chunks[0]


def _train_many_signature() -> inspect.Signature:
    """``plan_training``'s signature with ``progress`` added: the options ``train_many`` takes."""
    plan_sig = inspect.signature(plan_training)
    progress = inspect.signature(train_many).parameters["progress"]
    return plan_sig.replace(parameters=[*plan_sig.parameters.values(), progress],
                            return_annotation="TrainResult")


_OPTIONS = frozenset(name for name, p in inspect.signature(plan_training).parameters.items()
                     if p.kind is inspect.Parameter.KEYWORD_ONLY)
train_many.__signature__ = _train_many_signature()


def initial_params(init_fn: Callable, key, run_ids) -> Any:
    """The starts ``train_many`` uses for runs ``run_ids: (k,)``: leaves ``(k, ...)``.

    Run ``i``'s start is ``init_fn(fold_in(fold_in(key, i), 0))`` whatever the other runs.

    >>> import jax, landscape as ls
    >>> init_fn = ls.inits.normal(ls.mlp([2, 2, 1]), 1.0)
    >>> starts = initial_params(init_fn, jax.random.key(0), [0, 5, 7])
    >>> starts[0]["w"].shape, starts[1]["b"].shape
    ((3, 2, 2), (3, 1))
    """
    key = _checks.key(key)
    raw = np.asarray(run_ids)
    if raw.ndim != 1 or raw.dtype.kind not in "iu" or (raw.size and (raw.min() < 0 or raw.max() >= MAX_RUNS)):
        raise ValueError(f"run_ids must be a 1-D sequence of integer run indices in [0, 2**32); got "
                         f"shape {raw.shape}, dtype {raw.dtype}"
                         + (f", range [{raw.min()}, {raw.max()}]" if raw.size and raw.dtype.kind in "iu" else ""))
    ids = jnp.asarray(raw.astype(np.uint32))
    keys = jax.vmap(lambda i: jax.random.fold_in(jax.random.fold_in(key, i), 0))(ids)
    return jax.vmap(init_fn)(keys)

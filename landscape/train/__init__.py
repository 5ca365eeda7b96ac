"""``train_many``: train thousands of networks from different starts in one compiled call.

Run ``i`` is keyed by ``run_key = fold_in(key, i)``: its initial params are
``init_fn(fold_in(run_key, 0))`` (or ``starts[i]`` when explicit starts are given) and its
minibatch order (if any) comes from ``fold_in(run_key, 1)``. So a run's numbers do not depend
on the chunk size or on which other runs share its batch. Runs are processed in chunks of ``chunk_size`` through one compiled
program (the last chunk is padded), each chunk a compiled loop over steps of a vmapped step.

Two paths compute the same thing:

- the *generic* path vmaps ``value_and_grad(loss_fn)`` over a leading run axis and works for any
  ``loss_fn(params, data)`` over any pytree;
- the *fast* path, taken automatically for the toolkit's own MLP losses
  (:class:`landscape.objectives.Loss`) with full-batch training, evaluates all runs with the run
  axis last (:meth:`landscape.models.Model.apply_batched`), which XLA vectorizes much better for
  tiny networks. Results agree with the generic path to float rounding and come back in the same
  public layout (leading run axis).

A run whose loss or gradient becomes NaN/Inf is frozen at that step and flagged in
``status`` (codes of :data:`landscape.status.RUN`) with ``failed_step``; the other runs go on.

The package's rooms:

- ``api``: :func:`train_many` and :func:`initial_params`;
- ``plan``: argument checks, :class:`TrainPlan`, :func:`plan_training`,
  :func:`estimate_chunk_size`;
- ``program``: the compiled chunk programs (generic and fast paths, sharding over devices);
- ``result``: :class:`TrainResult`, :func:`concat_results`, :func:`default_record_every`;
- ``optimizers``: :func:`make_optimizer`; ``progress``: :func:`progress_bar`, :func:`progress_note`.
"""

from .api import initial_params, train_many
from .optimizers import OPTIMIZERS, make_optimizer
from .plan import MAX_RUNS, MAX_STEPS, TrainPlan, estimate_chunk_size, plan_training
from .program import RUN_BLOCK
from . import reuse
from .progress import progress_bar, progress_note
from .result import TrainResult, concat_results, default_record_every

__all__ = [
    "TrainResult", "TrainPlan", "plan_training", "train_many", "initial_params",
    "default_record_every", "concat_results", "progress_bar", "progress_note", "OPTIMIZERS", "make_optimizer",
    "estimate_chunk_size", "RUN_BLOCK", "MAX_RUNS", "MAX_STEPS",
]

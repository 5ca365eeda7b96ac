"""What training returns: :class:`TrainResult`, joining chunk results, the default record step."""

from __future__ import annotations

import dataclasses
from typing import Any, Sequence

import jax
import numpy as np

from ..status import RUN

__all__ = ["TrainResult", "concat_results", "default_record_every"]


@dataclasses.dataclass(frozen=True)
class TrainResult:
    """What ``train_many`` returns; arrays are NumPy, the run axis leads.

    params:        pytree like ``init_fn``'s output, each leaf ``(n_runs, ...)``: final params.
    losses:        ``(n_runs, n_records)``: the loss after ``record_steps[j]`` steps.
    record_steps:  ``(n_records,)``: ``0, record_every, ..., steps``.
    grad_norm:     ``(n_runs,)``: gradient norm at the final params.
    status:        ``(n_runs,)`` int: run status codes of :data:`landscape.status.RUN`
                   (0 ok, 1 nonfinite).
    failed_step:   ``(n_runs,)`` int: step at which a run became non-finite, ``-1`` if never.
    success_step:  ``(n_runs,)`` int: first step at which the success criterion held, ``-1`` if
                   never; ``None`` when no criterion was given.
    trajectory:    pytree, leaves ``(len(trajectory_runs), n_records, ...)``: params of the
                   chosen runs at ``record_steps``; ``None`` when none were chosen.
    trajectory_runs: ``(k,)`` run indices of ``trajectory`` (sorted), or ``None``.

    >>> import numpy as np
    >>> result = TrainResult(params=np.zeros((3, 9)), losses=np.ones((3, 11)),
    ...                      record_steps=np.arange(0, 101, 10), grad_norm=np.zeros(3),
    ...                      status=np.array([0, 1, 0]), failed_step=np.array([-1, 40, -1]))
    >>> result.n_runs, result.final_loss.shape, result.status_counts()
    (3, (3,), {'ok': 2, 'nonfinite': 1})
    """

    params: Any
    losses: np.ndarray
    record_steps: np.ndarray
    grad_norm: np.ndarray
    status: np.ndarray
    failed_step: np.ndarray
    success_step: np.ndarray | None = None
    trajectory: Any = None
    trajectory_runs: np.ndarray | None = None

    @property
    def n_runs(self) -> int:
        return int(self.status.shape[0])

    @property
    def final_loss(self) -> np.ndarray:
        """``(n_runs,)``: loss at the final params."""
        return self.losses[:, -1]

    @property
    def succeeded(self) -> np.ndarray:
        """``(n_runs,)`` bool: the success criterion held at some step (needs ``success=``)."""
        if self.success_step is None:
            raise ValueError("no success criterion was given to train_many (pass success=...)")
        return self.success_step >= 0

    def status_counts(self) -> dict[str, int]:
        """Number of runs per status name (every name of :data:`landscape.status.RUN`)."""
        return RUN.counts(self.status)


def concat_results(parts: Sequence[TrainResult]) -> TrainResult:
    """Join chunk results (in run order) along the run axis: ``n_runs`` is the parts' sum.

    Every array with a run axis is concatenated (params leaves ``(sum n_runs, ...)``, losses
    ``(sum n_runs, n_records)``, trajectories and their run indices); ``record_steps`` is the
    first part's.

    >>> import numpy as np
    >>> part = TrainResult(params=[np.zeros((2, 3))], losses=np.ones((2, 11)),
    ...                    record_steps=np.arange(0, 101, 10), grad_norm=np.zeros(2),
    ...                    status=np.zeros(2, int), failed_step=np.full(2, -1))
    >>> joined = concat_results([part, part])
    >>> joined.losses.shape, joined.params[0].shape
    ((4, 11), (4, 3))
    """
    first = parts[0]
    cat = lambda *xs: np.concatenate(xs, axis=0)  # noqa: E731
    # the parts that recorded trajectories; if none did, the first part's (empty ones, or None)
    traj = [p for p in parts if p.trajectory_runs is not None and len(p.trajectory_runs)] or [first]
    recorded = first.trajectory_runs is not None
    return TrainResult(
        params=jax.tree.map(cat, *[p.params for p in parts]),
        losses=cat(*[p.losses for p in parts]),
        record_steps=first.record_steps,
        grad_norm=cat(*[p.grad_norm for p in parts]),
        status=cat(*[p.status for p in parts]),
        failed_step=cat(*[p.failed_step for p in parts]),
        success_step=None if first.success_step is None else cat(*[p.success_step for p in parts]),
        trajectory=jax.tree.map(cat, *[p.trajectory for p in traj]) if recorded else None,
        trajectory_runs=cat(*[p.trajectory_runs for p in traj]) if recorded else None,
    )


def default_record_every(steps: int, max_records: int = 100) -> int:
    """Smallest divisor ``d`` of ``steps`` with ``steps / d <= max_records``: the default
    ``record_every`` of :func:`train_many` (``steps / d + 1`` records, step 0 included).

    >>> default_record_every(1000), default_record_every(250), default_record_every(7, max_records=3)
    (10, 5, 7)
    """
    return next(d for d in range(1, steps + 1) if steps % d == 0 and steps // d <= max_records)

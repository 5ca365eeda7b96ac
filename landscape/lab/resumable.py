"""Training a plan chunk by chunk through a results folder, so an interrupted run resumes.

:func:`train_resumable` runs the chunks of a :class:`landscape.train.TrainPlan`, saving each
finished chunk as ``chunks/<tag>_<c>.npz`` of a :class:`~landscape.lab.store.ResultsDir` and
skipping the saved ones; with several processes each trains its share of the chunks.
:func:`result_arrays` / :func:`result_from_arrays` turn a :class:`landscape.train.TrainResult`
into flat ``{name: array}`` files and back.
"""

from __future__ import annotations

from typing import Mapping

import jax
import numpy as np

from landscape.train import TrainPlan, TrainResult, concat_results, progress_bar

from .store import ResultsDir, StoreError
from .team import Team, heartbeat, wait_for_files

__all__ = ["result_arrays", "result_from_arrays", "train_resumable", "train_share"]


def result_arrays(result: TrainResult) -> dict[str, np.ndarray]:
    """Flat ``{name: array}`` view of a :class:`TrainResult` (params leaves as ``params/<i>``,
    trajectory leaves as ``trajectory/<i>``, in ``jax.tree.leaves`` order; shapes unchanged),
    ready for :meth:`ResultsDir.write_arrays`.

    >>> import numpy as np
    >>> from landscape.train import TrainResult
    >>> result = TrainResult(params=[{"w": np.zeros((2, 2, 2)), "b": np.zeros((2, 2))}],
    ...                      losses=np.ones((2, 11)), record_steps=np.arange(0, 101, 10),
    ...                      grad_norm=np.zeros(2), status=np.zeros(2, int), failed_step=np.full(2, -1))
    >>> sorted(result_arrays(result))
    ['failed_step', 'grad_norm', 'losses', 'params/0', 'params/1', 'record_steps', 'status']
    """
    arrays = {
        "losses": result.losses, "record_steps": result.record_steps,
        "grad_norm": result.grad_norm, "status": result.status, "failed_step": result.failed_step,
    }
    if result.success_step is not None:
        arrays["success_step"] = result.success_step
    for i, leaf in enumerate(jax.tree.leaves(result.params)):
        arrays[f"params/{i}"] = leaf
    if result.trajectory is not None:
        arrays["trajectory_runs"] = result.trajectory_runs
        for i, leaf in enumerate(jax.tree.leaves(result.trajectory)):
            arrays[f"trajectory/{i}"] = leaf
    return arrays


def result_from_arrays(arrays: Mapping[str, np.ndarray], like) -> TrainResult:
    """Inverse of :func:`result_arrays`; ``like`` is a params pytree (or shapes) of one run
    giving the tree. A missing array raises :class:`StoreError`.

    >>> import numpy as np
    >>> from landscape.train import TrainResult
    >>> like = [{"w": np.zeros((2, 2)), "b": np.zeros(2)}]
    >>> result = TrainResult(params=[{"w": np.ones((3, 2, 2)), "b": np.zeros((3, 2))}],
    ...                      losses=np.ones((3, 11)), record_steps=np.arange(0, 101, 10),
    ...                      grad_norm=np.zeros(3), status=np.zeros(3, int), failed_step=np.full(3, -1))
    >>> back = result_from_arrays(result_arrays(result), like)
    >>> back.params[0]["w"].shape, back.losses.shape
    ((3, 2, 2), (3, 11))
    """
    leaves, treedef = jax.tree.flatten(like)
    try:
        params = treedef.unflatten([arrays[f"params/{i}"] for i in range(len(leaves))])
        trajectory = None
        if "trajectory_runs" in arrays:
            trajectory = treedef.unflatten([arrays[f"trajectory/{i}"] for i in range(len(leaves))])
        return TrainResult(
            params=params, losses=arrays["losses"], record_steps=arrays["record_steps"],
            grad_norm=arrays["grad_norm"], status=arrays["status"],
            failed_step=arrays["failed_step"], success_step=arrays.get("success_step"),
            trajectory=trajectory, trajectory_runs=arrays.get("trajectory_runs"))
    except KeyError as err:
        raise StoreError(f"array file lacks {err}; it was not written by landscape for these params") from None


def train_resumable(plan: TrainPlan, results: ResultsDir, tag: str, *, progress: bool | None = None
                    ) -> TrainResult:
    """Run every chunk of ``plan``, saving each as ``chunks/<tag>_<c>.npz``; skip saved ones.

    Re-running after an interruption loads the finished chunks and trains only the rest; the
    joined result is bit-identical to an uninterrupted run (each chunk is deterministic). Each
    chunk file carries its provenance (the folder's config hash, its name, its run-id range
    ``[start, stop)``); a chunk of another config, folder or name is refused, naming the file.

    With several processes (``results.team``, default the ``jax.distributed`` processes;
    ``results`` on a file system they all see), process ``p`` trains the chunks ``c`` with
    ``c % count == p``, then waits for the other chunk files to appear
    (:func:`landscape.lab.team.wait_for_files`: a process that died is reported, naming its
    missing chunk, instead of hanging), and each returns the whole result, read from the chunk
    files: bit-identical to a one-process run.

    >>> import tempfile, jax, optax, numpy as np, landscape as ls
    >>> model = ls.mlp([2, 2, 1])
    >>> plan = ls.train.plan_training(ls.objectives.loss(model), ls.inits.normal(model, 1.0),
    ...                               optax.sgd(0.5), ls.datasets.xor(), key=jax.random.key(0),
    ...                               n_runs=4, steps=10, record_every=10, chunk_size=2)
    >>> results = ResultsDir(tempfile.mkdtemp())
    >>> first = train_resumable(plan, results, "xor", progress=False)
    >>> first.losses.shape, results.files()
    ((4, 2), ['chunks/xor_00000.npz', 'chunks/xor_00001.npz'])
    >>> again = train_resumable(plan, results, "xor", progress=False)  # loads both chunks
    >>> bool(np.array_equal(again.losses, first.losses))
    True
    """
    team = results.team or Team.of_jax()
    with heartbeat(results.path, team):
        trained = train_share(plan, results, tag, progress=progress)
        wait_for_files(results.path, team, {f"{_chunk_name(tag, c)}.npz": team.owner(c)
                                            for c in range(plan.n_chunks)}, what="chunk")
    parts = [trained[c] if c in trained else _read_chunk(plan, results, tag, c, plan.params_like)
             for c in range(plan.n_chunks)]
    return concat_results(parts) if len(parts) > 1 else parts[0]


def train_share(plan: TrainPlan, results: ResultsDir, tag: str, *, progress: bool | None = None
                ) -> dict[int, TrainResult]:
    """Train this process's share of the chunks of ``plan`` (``results.team``: chunk ``c``
    when ``c % count == index``) that are not saved yet, saving each as ``chunks/<tag>_<c>.npz``;
    no waiting for the other processes' chunks. Returns ``{c: result}`` of the chunks trained.

    A process other than 0 of ``landscape run`` calls this for every training phase of its
    experiment (:attr:`landscape.lab.config.Experiment.plans`), then waits for process 0, which
    joins the chunks in :func:`train_resumable` and does the analysis alone.
    """
    team = results.team or Team.of_jax()
    trained = {}
    mine = team.share(plan.n_chunks)
    with heartbeat(results.path, team):
        for c in progress_bar(mine, len(mine), progress, desc=tag, plan=plan):
            if not results.has(_chunk_name(tag, c)):
                trained[c] = plan.run_chunk(c)
                results.write_arrays(_chunk_name(tag, c), result_arrays(trained[c]),
                                     provenance={"runs": list(plan.chunk_bounds(c))})
    return trained


def _chunk_name(tag: str, c: int) -> str:
    return f"chunks/{tag}_{c:05d}"


def _read_chunk(plan: TrainPlan, results: ResultsDir, tag: str, c: int, like) -> TrainResult:
    """Chunk ``c`` from its file, checked to hold the runs ``plan.chunk_bounds(c)``."""
    name = _chunk_name(tag, c)
    start, stop = plan.chunk_bounds(c)
    part = result_from_arrays(results.read_arrays(name, provenance={"runs": [start, stop]}), like)
    if part.n_runs != stop - start:
        raise StoreError(f"{name}.npz holds {part.n_runs} runs, expected {stop - start}")
    return part

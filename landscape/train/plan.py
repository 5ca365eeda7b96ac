"""Planning a training job: :func:`plan_training` checks every argument of
:func:`landscape.train_many` before any tracing and builds a :class:`TrainPlan` (the compiled
program's static spec, the chunking of the runs, their per-run inputs); the chunk size comes
from a memory estimate (:func:`estimate_chunk_size`) unless it is given.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any, Callable, Mapping

import jax
import jax.numpy as jnp
import numpy as np
import optax

from .. import _checks, parallel
from .._tree import batch_norms
from ..objectives import Criterion, Loss
from .program import RUN_BLOCK, _compiled, _Spec, live_runs
from .result import TrainResult, concat_results, default_record_every

__all__ = ["TrainPlan", "plan_training", "estimate_chunk_size", "MAX_RUNS", "MAX_STEPS"]

MAX_RUNS = 2**32
"""Most runs one job may have: run ``i`` is keyed by ``fold_in(key, i)`` with a 32-bit ``i``
(JAX's ``fold_in`` takes 32 bits), so run ``2**32 + i`` would silently repeat run ``i``."""
MAX_STEPS = 2**31 - 1
"""Most steps: step numbers (``failed_step``, ``success_step``) are 32-bit signed integers."""

_METHODS = ("auto", "vmap", "batched")
_HOST_CHUNK_BYTES = 2**28
"""Memory budget of one chunk where the device does not report its memory (the CPU): 256 MiB,
shared by all host devices (they share the host's memory)."""
_DEVICE_FRACTION = 0.5
"""Share of each device's ``bytes_limit`` a chunk may use where the device reports it (GPUs);
the rest is left to XLA's own buffers, the data and the caller's arrays."""
_MIN_GROUP_WORK = 2**27
"""Least work (runs x steps x samples x params) a concurrent group of a chunk must have, about
20-50 ms of a CPU core: below it the threads cost more than they bring (1,000 XOR 2-2-1 runs x
200 steps, 7.2e6, about 10 ms: two groups 0.63x the speed of one call, load average ~8)."""


# ----------------------------------------------------------------------------- validation

def _check_data(loss_fn, data) -> int:
    """Validates ``data``; returns the number of samples (leading axis)."""
    leaves = jax.tree.leaves(data)
    if not leaves:
        if isinstance(loss_fn, Loss):
            raise ValueError(f"data={data!r} holds no arrays; the MLP loss needs Dataset(x, y)")
        return 0  # a loss_fn that needs no data, e.g. a test function of the params alone
    if isinstance(loss_fn, Loss):
        if not isinstance(data, tuple) or len(data) != 2:
            raise TypeError(f"data must be a Dataset(x, y) (e.g. landscape.datasets.xor()) for the "
                            f"MLP loss; got {type(data).__name__}")
        for name, part in zip(("x", "y"), data):
            if not hasattr(part, "shape") or not hasattr(part, "dtype"):
                raise TypeError(f"data.{name} must be an array (NumPy or JAX), got "
                                f"{type(part).__name__}; build the data with Dataset(x, y)")
    try:
        arrays = [np.asarray(leaf) for leaf in leaves]
    except (ValueError, TypeError) as err:
        raise TypeError(f"data must be a pytree of arrays with a leading sample axis; a leaf of "
                        f"data is not an array: {err}") from None
    for a in arrays:
        if a.dtype.kind not in "biufc":
            raise TypeError(f"data must hold numeric arrays; got an array of dtype {a.dtype}")
        if a.dtype.kind in "fc" and not np.all(np.isfinite(a)):
            raise ValueError(f"data contains NaN or Inf (in an array of shape {a.shape}); "
                             "expected finite inputs and targets")
    n = arrays[0].shape[0] if arrays[0].ndim else 0
    if arrays[0].ndim and n == 0:
        raise ValueError(f"data has 0 samples (leading axis of length 0, shape {arrays[0].shape}); "
                         "expected at least one")
    if isinstance(loss_fn, Loss):
        x, y = data
        model = loss_fn.model
        if np.ndim(x) != 2 or np.shape(x)[1] != model.n_in:
            raise ValueError(f"data.x has shape {np.shape(x)}; the model {list(model.sizes)} expects "
                             f"(n_samples, {model.n_in})")
        if np.ndim(y) != 2 or np.shape(y) != (np.shape(x)[0], model.n_out):
            raise ValueError(f"data.y has shape {np.shape(y)}; the model {list(model.sizes)} expects "
                             f"({np.shape(x)[0]}, {model.n_out})")
    return n


def _floating(shapes) -> bool:
    leaves = jax.tree.leaves(shapes)
    return bool(leaves) and all(jnp.issubdtype(s.dtype, jnp.floating) for s in leaves)


def _shapes_text(shapes, lead: str = "") -> str:
    """``"[(n_runs, 2, 2) float32, ...]"``: the leaves of a pytree of shapes, ``lead`` prepended."""
    def one(s):
        dims = [lead] * bool(lead) + [str(d) for d in s.shape]
        return f"({', '.join(dims)}{',' * (len(dims) == 1)}) {s.dtype}"
    return "[" + ", ".join(one(s) for s in jax.tree.leaves(shapes)) + "]"


def _check_starts(starts, like, n_runs: int | None):
    """``starts`` checked to be one run's params (``like``, ``ShapeDtypeStruct`` leaves; ``None``:
    any floating pytree) with a leading run axis of ``n_runs`` (``None``: any length).

    Returns ``(starts with NumPy leaves, like, n_runs)``. Non-finite values are allowed: such a
    run is flagged ``nonfinite`` at step 0, like any run that fails.
    """
    leaves, treedef = jax.tree.flatten(starts)
    arrays = [np.asarray(leaf) for leaf in leaves]
    got = [jax.ShapeDtypeStruct(a.shape, jax.dtypes.canonicalize_dtype(a.dtype)) for a in arrays]
    got_text = f"{_shapes_text(got)} in the structure {treedef}"
    what = "one run's params" if like is None else "init_fn's params"
    if like is None:
        if not got or not all(a.ndim >= 1 for a in arrays) or not _floating(got):
            raise ValueError(f"starts must be a pytree of floating arrays with a leading run axis "
                             f"(n_runs, ...); got {got_text}")
        like = treedef.unflatten([jax.ShapeDtypeStruct(g.shape[1:], g.dtype) for g in got])
    l_leaves, l_def = jax.tree.flatten(like)
    runs = {a.shape[0] if a.ndim else None for a in arrays}
    fits = (treedef == l_def and len(runs) == 1 and None not in runs
            and (n_runs is None or runs == {n_runs})
            and all(g.shape[1:] == s.shape and g.dtype == s.dtype for g, s in zip(got, l_leaves)))
    if not fits:
        lead = "n_runs" if n_runs is None else str(n_runs)
        raise ValueError(f"starts must be {what} with a leading run axis: leaves "
                         f"{_shapes_text(like, lead)} in the structure {l_def}; got {got_text}")
    arrays = [a.astype(g.dtype, copy=False) for a, g in zip(arrays, got)]
    return treedef.unflatten(arrays), like, runs.pop()


_PARAM_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))


def _check_params_like(loss_fn, shapes, source: str) -> None:
    """One run's params (``ShapeDtypeStruct`` leaves) checked against what training supports
    (float32 or float64 leaves) and, for the toolkit's MLP losses, against the loss's model."""
    for leaf in jax.tree.leaves(shapes):
        if np.dtype(leaf.dtype) not in _PARAM_DTYPES:
            raise TypeError(f"{source} have a {leaf.dtype} leaf of shape {leaf.shape}; train_many "
                            "trains float32 or float64 params (cast them, e.g. with "
                            "jax.tree.map(lambda a: a.astype('float32'), params))")
    if isinstance(loss_fn, Loss):
        try:
            batch = _checks.model_batch_shape(shapes, loss_fn.model, name=source)
        except ValueError as err:
            raise ValueError(f"{err}: they do not fit the loss's model "
                             f"{list(loss_fn.model.sizes)}") from None
        if batch != ():
            raise ValueError(f"{source} must be one network of the loss's model "
                             f"{list(loss_fn.model.sizes)}, got leading axes {batch}")


def _check_n_runs(n_runs) -> int:
    n_runs = _checks.count("n_runs", n_runs)
    if n_runs > MAX_RUNS:
        raise ValueError(f"n_runs={n_runs} exceeds 2**32 = {MAX_RUNS}: run i is keyed by "
                         "fold_in(key, i) with a 32-bit i, so run 2**32 + i would repeat run i; "
                         "split the job over several keys")
    return n_runs


def _check_per_run(name: str, values, n_runs: int) -> np.ndarray:
    arr = np.asarray(values)
    if arr.shape != (n_runs,) or arr.dtype.kind not in "fiu" or not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} must be {n_runs} finite numbers, one per run (shape ({n_runs},)); "
                         f"got shape {arr.shape}, dtype {arr.dtype}")
    return arr



# ----------------------------------------------------------------------------- the plan

@dataclasses.dataclass(frozen=True)
class TrainPlan:
    """A validated training job: ``run_chunk(c)`` trains chunk ``c`` of ``n_chunks``.

    Built by :func:`plan_training`; :func:`train_many` runs every chunk and joins them. A
    results store can run chunks one at a time and resume after an interruption. A chunk is
    trained in ``groups`` consecutive groups of runs (:meth:`group_bounds`), calls of one
    compiled program made at once from host threads (:func:`landscape.parallel.concurrent_calls`:
    more than one only on a CPU with cores that are not devices); runs are independent, so the
    numbers do not depend on the grouping.
    """

    spec: _Spec
    key: jax.Array
    data: Any
    n_runs: int
    _chunk_size: int
    hyperparams: Mapping[str, np.ndarray]
    init_scale: np.ndarray | None
    trajectory_runs: np.ndarray | None
    params_like: Any  # one run's params as jax.ShapeDtypeStruct leaves
    starts: Any = None  # the given starts (NumPy leaves (n_runs, ...)), or None: drawn by init_fn
    chunk_note: str = "chosen"  # how the chunk size was set, for describe()
    groups: int = 1  # concurrent calls a chunk is split into (spec.width runs each, at most)

    @property
    def chunk_size(self) -> int:
        return self._chunk_size

    @property
    def n_chunks(self) -> int:
        return -(-self.n_runs // self.chunk_size)

    @property
    def record_steps(self) -> np.ndarray:
        return np.arange(0, self.spec.steps + 1, self.spec.record_every)

    @property
    def n_devices(self) -> int:
        return parallel.mesh_size(self.spec.mesh)

    def describe(self) -> str:
        """One line saying how the runs are split, e.g. ``"1000 runs: 2 chunks of 512 (estimated
        for 256 MiB host budget) on 2 cpu devices, generic path"`` (``", 2 concurrent groups a
        chunk"`` when :attr:`groups` > 1); on a CPU with cores that neither devices nor groups
        use it says how to use them (:func:`landscape.parallel.idle_host_cores`)."""
        platform = self.spec.mesh.devices.flat[0].platform
        path = "fast path" if self.spec.fast else "generic path"
        idle = parallel.idle_host_cores() if self.groups == 1 else 0
        hint = (f"; {idle} more CPU core{'s' * (idle > 1)} idle: call "
                "landscape.parallel.use_host_cores() before JAX starts to use them") if idle else ""
        groups = f", {self.groups} concurrent groups a chunk" if self.groups > 1 else ""
        total = jax.local_device_count()
        fewer = (f" of {total} (at most one per {RUN_BLOCK}-run block)"
                 if self.n_devices < total else "")
        return (f"{self.n_runs} runs: {self.n_chunks} chunk{'s' * (self.n_chunks > 1)} of "
                f"{self.chunk_size} ({self.chunk_note}) on {self.n_devices} {platform} "
                f"device{'s' * (self.n_devices > 1)}{fewer}{groups}, {path}{hint}")

    def chunk_bounds(self, c: int) -> tuple[int, int]:
        start = c * self.chunk_size
        return start, min(start + self.chunk_size, self.n_runs)

    def group_bounds(self, c: int) -> list[tuple[int, int]]:
        """``[(start, stop), ...]``: the runs of chunk ``c`` split into at most :attr:`groups`
        consecutive groups of ``spec.width`` runs (the last one shorter).

        >>> import optax, landscape as ls
        >>> model = ls.mlp([2, 2, 1])
        >>> plan = ls.plan_training(ls.objectives.loss(model), ls.inits.normal(model, 1.0),
        ...                         optax.sgd(0.5), ls.datasets.xor(), key=0, n_runs=10_000, steps=2000)
        >>> plan.group_bounds(0) == ([(0, 5056), (5056, 10_000)] if plan.groups == 2 else [(0, 10_000)])
        True
        """
        start, stop = self.chunk_bounds(c)
        return [(s, min(s + self.spec.width, stop)) for s in range(start, stop, self.spec.width)]

    def compiled_memory(self) -> int | None:
        """Bytes a chunk needs on one device: arguments, outputs and temporaries of the compiled
        program from XLA's ``memory_analysis()``, times the :attr:`groups` that run it at once
        (``None`` where the backend does not say). Compiles the program (the one
        :meth:`run_chunk` then reuses); trains nothing."""
        inputs, _, _ = self._group_inputs(*self.group_bounds(0)[0])
        stats = _compiled(self.spec).lower(*inputs).compile().memory_analysis()
        if stats is None:
            return None
        return self.groups * int(stats.argument_size_in_bytes + stats.output_size_in_bytes
                                 + stats.temp_size_in_bytes)

    def run_chunk(self, c: int) -> TrainResult:
        """Train the runs ``chunk_bounds(c)``: its :meth:`group_bounds` at once, from one host
        thread each, by the same compiled program (the same for every chunk), joined in order."""
        program = _compiled(self.spec)  # one jitted object, so the threads share one compile
        parts = parallel.map_concurrently(lambda bounds: self._run_group(program, *bounds),
                                          self.group_bounds(c))
        return concat_results(parts) if len(parts) > 1 else parts[0]

    def _run_group(self, program, start: int, stop: int) -> TrainResult:
        """Train the runs ``start .. stop - 1`` (at most ``spec.width``) in one call of ``program``."""
        inputs, real, traj_runs = self._group_inputs(start, stop)
        out = jax.device_get(program(*inputs))
        rows = lambda a: a[:real]  # noqa: E731
        return TrainResult(
            params=jax.tree.map(rows, out["params"]),
            losses=rows(out["losses"]),
            record_steps=self.record_steps,
            grad_norm=_grad_norms(jax.tree.map(rows, out["grads"])),
            status=rows(out["status"]),
            failed_step=rows(out["failed_step"]),
            success_step=rows(out["success_step"]) if self.spec.success is not None else None,
            trajectory=(jax.tree.map(lambda a: a[: len(traj_runs)], out["trajectory"])
                        if traj_runs is not None else None),
            trajectory_runs=traj_runs,
        )

    def _group_inputs(self, start: int, stop: int):
        """``(arguments of the chunk program, real runs, their trajectory runs)`` for the runs
        ``start .. stop - 1``, padded to ``spec.width``."""
        size, real = self.spec.width, stop - start
        run_ids = jnp.asarray((np.arange(size, dtype=np.uint64) + start).astype(np.uint32))  # padding may wrap

        def padded(arr):  # pad per-run inputs of a short group by repeating its first entry
            part = arr[start:stop]
            return np.concatenate([part, np.repeat(part[:1], size - real, axis=0)]) if real < size else part

        hyper = {k: jnp.asarray(padded(v)) for k, v in self.hyperparams.items()}
        scale = jnp.asarray(padded(self.init_scale)) if self.init_scale is not None else None
        starts = (jax.tree.map(lambda a: jnp.asarray(padded(a)), self.starts)
                  if self.starts is not None else None)
        traj_runs = None
        traj_idx = jnp.zeros((self.spec.n_traj,), jnp.int32)
        if self.spec.n_traj:
            traj_runs = self.trajectory_runs[(self.trajectory_runs >= start) & (self.trajectory_runs < stop)]
            local = np.zeros(self.spec.n_traj, np.int32)
            local[: len(traj_runs)] = traj_runs - start
            traj_idx = jnp.asarray(local)
        return (self.key, run_ids, self.data, hyper, scale, starts, traj_idx), real, traj_runs


def _itemsize(leaves) -> int:
    return max(np.dtype(leaf.dtype).itemsize for leaf in leaves)


def _grad_norms(grads) -> np.ndarray:
    """``(R,)`` gradient norm of each run (host-side float64, see :func:`landscape._tree.batch_norms`),
    cast back to the params' dtype."""
    return batch_norms(grads).astype(jax.tree.leaves(grads)[0].dtype)


def estimate_chunk_size(n_params: int, n_records: int, n_samples: int, n_out: int,
                        memory_bytes: int, *, n_hidden: int = 0, itemsize: int = 4,
                        live_runs: int | None = None) -> int:
    """The most runs per chunk whose estimated memory fits ``memory_bytes``.

    Per run, in floats of ``itemsize`` bytes: the loss history twice (the program's record
    buffer and the ``(runs, records)`` result it is transposed into), params, gradients and
    optimizer state (``8 n_params`` in all) and 64 for the per-run scalars; and the
    activations of the forward and backward pass (``4 n_samples (n_out + n_hidden)``;
    ``n_hidden``: the input and hidden units of an MLP, 0 when unknown), but only for the
    ``live_runs`` runs the program evaluates at once (a block: 64 runs on the generic path;
    ``None``: every run of the chunk). The estimate is conservative against
    ``memory_analysis()`` of compiled chunk programs on the CPU (see tests/test_parallel.py).
    Raises ``ValueError`` when not even one run fits.

    >>> estimate_chunk_size(9, 101, 4, 1, 2**20, n_hidden=4)  # XOR 2-2-1, 101 records, 1 MiB
    627
    >>> estimate_chunk_size(353, 101, 256, 1, 2**28, n_hidden=42, live_runs=64)  # 10-32-1
    20806
    """
    state = itemsize * (2 * n_records + 8 * n_params + 64)
    activations = itemsize * 4 * max(n_samples, 1) * (n_out + n_hidden)
    if memory_bytes < state + activations:
        raise ValueError(f"memory_bytes={memory_bytes} is less than one run needs (about "
                         f"{state + activations} bytes); pass a smaller record history or an "
                         "explicit chunk_size")
    every_run_live = memory_bytes // (state + activations)
    if live_runs is None or every_run_live <= live_runs:
        return int(every_run_live)
    return int((memory_bytes - live_runs * activations) // state)


def _chunk_memory(mesh) -> tuple[int, str]:
    """Bytes one chunk may use on the devices of ``mesh``, and where the figure comes from."""
    per_device = parallel.device_memory(mesh)
    n_dev = parallel.mesh_size(mesh)
    if per_device is None:
        return _HOST_CHUNK_BYTES, f"{_HOST_CHUNK_BYTES >> 20} MiB host budget"
    budget = int(per_device * _DEVICE_FRACTION)
    return budget * n_dev, f"{_DEVICE_FRACTION:.0%} of {per_device / 2**30:.1f} GiB per device"


def plan_training(loss_fn: Callable, init_fn: Callable | None, optimizer: optax.GradientTransformation,
                  data, *, key=None, n_runs: int | None = None, steps: int,
                  record_every: int | None = None, chunk_size: int | None = None,
                  success: Callable | None = None, batch_size: int | None = None,
                  hyperparams: Mapping[str, Any] | None = None, init_scale=None, starts=None,
                  trainable=None, trajectory_runs=None, method: str = "auto",
                  devices=None) -> TrainPlan:
    """Check the arguments of :func:`train_many` and build its :class:`TrainPlan`.

    This signature is the one list of :func:`train_many`'s options (``train_many`` adds only
    ``progress``). Every check runs before any tracing or compilation; errors name the argument
    and value.

    Args:
      loss_fn: ``loss_fn(params, data) -> scalar`` for one network.
      init_fn: ``init_fn(key) -> params`` for one network; may be ``None`` when ``starts`` are
        given (they then define the params' structure).
      optimizer: any optax ``GradientTransformation`` (``optax.sgd(0.5)``, ``optax.adam(1e-2)``).
      data: pytree of arrays with a leading sample axis, e.g. ``datasets.xor()`` (``None`` for a
        ``loss_fn`` that needs no data).
      key: PRNG key (or int seed); run ``i`` uses ``fold_in(key, i)``. Needed unless the starts
        are given and training is full-batch.
      n_runs, steps: positive integers; ``n_runs`` defaults to the number of ``starts``.
      record_every: record the loss (and trajectories) every this many steps; must divide
        ``steps``. Default: the smallest divisor giving at most 100 records.
      chunk_size: runs per chunk, all devices together: one compiled call (the last chunk is
        padded), or :attr:`TrainPlan.groups` concurrent ones on a CPU with idle cores.
        Default: as many as fit a 256 MiB working budget. Results do not depend on it.
      success: ``success(params, data) -> bool`` (e.g. ``objectives.success(model)``); its first
        holding step per run comes back as ``success_step``.
      batch_size: minibatch size, reshuffled per run every epoch; ``None`` = full batch.
      hyperparams: per-run optimizer hyperparameters, ``{"learning_rate": (n_runs,)}``; the
        optimizer must come from ``optax.inject_hyperparams``.
      init_scale: ``(n_runs,)`` factors multiplying each run's initial params.
      starts: explicit initial params, a pytree like ``init_fn``'s output with leaves
        ``(n_runs, ...)`` of its shapes and dtypes: run ``i`` starts from ``starts[i]`` instead
        of ``init_fn``'s draw (``starts=initial_params(init_fn, key, range(n_runs))`` gives the
        same numbers bit for bit; with ``init_scale`` too, up to 1 ulp in the scaled starts,
        which XLA rounds differently when it fuses the draw with the scaling). A start with
        NaN/Inf is flagged ``nonfinite`` at step 0.
      trainable: pytree of bools shaped like params; ``False`` leaves are frozen.
      trajectory_runs: indices of runs whose params are recorded every ``record_every`` steps.
      method: ``"auto"`` (fast run-axis-last path when possible), ``"vmap"`` (generic) or
        ``"batched"`` (fast path, error if not possible).
      devices: the local devices each chunk's runs are split over (each device trains a
        multiple of 64 runs): ``None`` all of them, or as many as the chunk fills with 64 runs
        each; an int ``n`` the first ``n``; or a sequence of devices. Results do not depend on it.

    Returns:
      :class:`TrainPlan`: ``run_chunk(c)`` trains chunk ``c`` of ``n_chunks``.

    >>> import optax, landscape as ls
    >>> model = ls.mlp([2, 2, 1])
    >>> plan = ls.plan_training(ls.objectives.loss(model), ls.inits.normal(model, 1.0),
    ...                         optax.sgd(0.5), ls.datasets.xor(), key=0, n_runs=100, steps=10,
    ...                         chunk_size=64)
    >>> plan.n_chunks, plan.chunk_bounds(1)
    (2, (64, 100))
    """
    _checks.loss_fn(loss_fn)
    if init_fn is None and starts is None:
        raise TypeError("init_fn=None needs explicit starts=...; pass init_fn(key) -> params or "
                        "starts with a leading run axis")
    if init_fn is not None:
        _checks.init_fn(init_fn)
    _checks.optimizer(optimizer)
    if n_runs is not None or starts is None:
        n_runs = _check_n_runs(n_runs)
    steps = _checks.count("steps", steps, maximum=MAX_STEPS)
    if record_every is None:
        record_every = default_record_every(steps)
    record_every = _checks.count("record_every", record_every)
    if steps % record_every:
        raise ValueError(f"record_every={record_every} must divide steps={steps}")
    chunk_size = _checks.optional_count("chunk_size", chunk_size)
    _checks.choice("method", method, _METHODS)
    mesh = parallel.local_mesh(devices)
    if success is not None:
        _checks.function("success", success, "success(params, data) -> bool")
    if key is None and (starts is None or batch_size is not None):
        raise TypeError("key=None: a PRNG key (jax.random.key(seed)) or an integer seed is needed "
                        "to draw the starts and minibatch orders; only full-batch training from "
                        "given starts may leave it out")
    key = _checks.key(0 if key is None else key)
    n_samples = _check_data(loss_fn, data)
    if batch_size is not None:
        batch_size = _checks.count("batch_size", batch_size)
        if batch_size > n_samples:
            raise ValueError(f"batch_size={batch_size} exceeds the {n_samples} samples in data")

    shapes = None
    if init_fn is not None:
        shapes = jax.eval_shape(init_fn, jax.random.key(0))
        if not _floating(shapes):
            raise TypeError(f"init_fn must return a pytree of floating-point arrays, got {shapes}")
    if starts is not None:
        starts, shapes, n_runs = _check_starts(starts, shapes, n_runs)
    n_runs = _check_n_runs(n_runs)  # also the length of the starts
    _check_params_like(loss_fn, shapes, "init_fn's params" if starts is None else "one run's starts")
    if chunk_size is not None:
        chunk_size = min(chunk_size, n_runs)
    leaves, treedef = jax.tree.flatten(shapes)
    try:
        out = jax.eval_shape(loss_fn, shapes, data)
    except Exception as err:  # the user's loss_fn does not fit data or params: say which
        source = "init_fn's params" if starts is None else "one run's starts"
        raise ValueError(f"loss_fn(params, data) failed on {source} and the given data: {err}") from err
    if getattr(out, "shape", None) != ():
        raise ValueError(f"loss_fn(params, data) must return a scalar, got shape {getattr(out, 'shape', out)}")

    hyper = {}
    if hyperparams:
        state = jax.eval_shape(optimizer.init, shapes)
        known = getattr(state, "hyperparams", None)
        for name, values in hyperparams.items():
            if known is None or name not in known:
                raise ValueError(
                    f"hyperparams key {name!r} is not a hyperparameter of this optimizer; build it "
                    f"with optax.inject_hyperparams (e.g. optax.inject_hyperparams(optax.sgd)"
                    f"(learning_rate=0.1)); its hyperparameters are {sorted(known or [])}")
            hyper[name] = _check_per_run(f"hyperparams[{name!r}]", values, n_runs)
    scale = _check_per_run("init_scale", init_scale, n_runs) if init_scale is not None else None
    mask = None
    if trainable is not None:
        t_leaves, t_def = jax.tree.flatten(trainable)
        if t_def != treedef or not all(isinstance(t, (bool, np.bool_)) for t in t_leaves):
            raise ValueError(f"trainable must be a pytree of True/False shaped like the params "
                             f"({treedef}), got {trainable!r}")
        mask = tuple(bool(t) for t in t_leaves)
    traj = None
    if trajectory_runs is not None:
        traj = np.unique(np.asarray(trajectory_runs, dtype=np.int64).ravel())
        if traj.size and (traj[0] < 0 or traj[-1] >= n_runs):
            raise ValueError(f"trajectory_runs={trajectory_runs!r} must be run indices in [0, {n_runs})")

    fast_ok = isinstance(loss_fn, Loss) and batch_size is None and (
        success is None or (isinstance(success, Criterion) and success.model == loss_fn.model))
    if method == "batched" and not fast_ok:
        raise ValueError("method='batched' needs a landscape MLP loss (objectives.loss), full-batch "
                         "training and no success criterion or an objectives.success one of the "
                         "same model")
    fast = fast_ok if method == "auto" else method == "batched"

    n_params = sum(math.prod(s.shape) for s in leaves)
    n_records = steps // record_every + 1
    n_out = getattr(getattr(loss_fn, "model", None), "n_out", 1)
    n_dev = parallel.mesh_size(mesh)
    chunk_note = "chosen"
    if chunk_size is None:
        memory, source = _chunk_memory(mesh)
        model = getattr(loss_fn, "model", None)
        n_hidden = sum(model.sizes[:-1]) if model is not None else 0
        live = live_runs(fast, loss_fn, n_samples, shapes, data) * parallel.concurrent_calls(n_dev)
        chunk_size = min(n_runs, estimate_chunk_size(n_params, n_records, n_samples, n_out, memory,
                                                     n_hidden=n_hidden, itemsize=_itemsize(leaves),
                                                     live_runs=live))
        whole = RUN_BLOCK * n_dev  # no padded runs in full chunks
        chunk_size = chunk_size // whole * whole if whole < chunk_size < n_runs else chunk_size
        chunk_note = f"estimated for {source}"
    if devices is None and n_dev > 1:  # no device without a whole block of runs
        n_dev = min(n_dev, -(-chunk_size // RUN_BLOCK))
        mesh = parallel.local_mesh(n_dev)
    # concurrent groups of whole blocks on every device, each worth a thread (numbers as in one
    # call: runs are independent)
    work = chunk_size * steps * max(batch_size or n_samples, 1) * n_params
    groups = max(1, min(parallel.concurrent_calls(n_dev), chunk_size // (RUN_BLOCK * n_dev),
                        work // _MIN_GROUP_WORK))
    width = parallel.padded_count(-(-chunk_size // groups), RUN_BLOCK, n_dev)
    spec = _Spec(
        loss_fn=loss_fn, init_fn=init_fn if starts is None else None, optimizer=optimizer,
        success=success, steps=steps, record_every=record_every, width=width,
        batch_size=batch_size, n_samples=n_samples, hyper_names=tuple(sorted(hyper)),
        scaled=scale is not None, given_starts=starts is not None, trainable=mask,
        n_traj=int(min(traj.size, chunk_size, width)) if traj is not None else 0, fast=fast, mesh=mesh)
    data = jax.tree.map(jnp.asarray, data)
    return TrainPlan(spec=spec, key=key, data=data, n_runs=n_runs, _chunk_size=chunk_size,
                     hyperparams=hyper, init_scale=scale,
                     trajectory_runs=traj if spec.n_traj else None, params_like=shapes,
                     starts=starts, chunk_note=chunk_note, groups=groups)


"""``train_many``: train thousands of networks from different starts in one compiled call.

Run ``i`` is keyed by ``run_key = fold_in(key, i)``: its initial params are
``init_fn(fold_in(run_key, 0))`` (or ``starts[i]`` when explicit starts are given) and its
minibatch order (if any) comes from ``fold_in(run_key, 1)``. So a run's numbers do not depend
on the chunk size or on which other runs share its batch. Runs are processed in chunks of ``chunk_size`` through one compiled
program (the last chunk is padded), each chunk a ``lax.scan`` over steps of a vmapped step.

Two paths compute the same thing:

- the *generic* path vmaps ``value_and_grad(loss_fn)`` over a leading run axis and works for any
  ``loss_fn(params, data)`` over any pytree;
- the *fast* path, taken automatically for the toolkit's own MLP losses
  (:class:`landscape.objectives.Loss`) with full-batch training, evaluates all runs with the run
  axis last (:meth:`landscape.models.Model.apply_batched`), which XLA vectorizes much better for
  tiny networks. Results agree with the generic path to float rounding and come back in the same
  public layout (leading run axis).

A run whose loss or gradient becomes NaN/Inf is frozen at that step and flagged in
``status`` (see :data:`STATUS_NAMES`) with ``failed_step``; the other runs go on.
"""

from __future__ import annotations

import dataclasses
import functools
import math
import sys
from typing import Any, Callable, Mapping, Sequence

import jax
import jax.numpy as jnp
import numpy as np
import optax

from . import parallel
from .objectives import Criterion, Loss

__all__ = [
    "STATUS_OK", "STATUS_NONFINITE", "STATUS_NAMES", "TrainResult", "TrainPlan",
    "plan_training", "train_many", "initial_params", "default_record_every", "concat_results",
    "progress_bar", "OPTIMIZERS", "make_optimizer", "estimate_chunk_size",
]

STATUS_OK = 0
STATUS_NONFINITE = 1
STATUS_NAMES = ("ok", "nonfinite")
"""``status`` codes by index: 0 ok, 1 loss or gradient became NaN/Inf (run frozen there)."""

_METHODS = ("auto", "vmap", "batched")
RUN_BLOCK = 64
"""Compiled programs handle a multiple of this many runs (the last chunk is padded).

XLA picks kernels, and so rounding, by array shape: a vectorized loop over the run axis
treats its remainder lanes with scalar code (which may contract multiply-adds differently),
and matrix kernels depend on sizes. With widths that are multiples of ``RUN_BLOCK``, and the
generic path vmapping blocks of exactly ``RUN_BLOCK`` runs, a run's numbers do not depend on
the chunk size, on ``n_runs`` or on the other runs.
"""
_HOST_CHUNK_BYTES = 2**28
"""Memory budget of one chunk where the device does not report its memory (the CPU): 256 MiB,
shared by all host devices (they share the host's memory)."""
_DEVICE_FRACTION = 0.5
"""Share of each device's ``bytes_limit`` a chunk may use where the device reports it (GPUs);
the rest is left to XLA's own buffers, the data and the caller's arrays."""


@dataclasses.dataclass(frozen=True)
class TrainResult:
    """What ``train_many`` returns; arrays are NumPy, the run axis leads.

    params:        pytree like ``init_fn``'s output, each leaf ``(n_runs, ...)``: final params.
    losses:        ``(n_runs, n_records)``: the loss after ``record_steps[j]`` steps.
    record_steps:  ``(n_records,)``: ``0, record_every, ..., steps``.
    grad_norm:     ``(n_runs,)``: gradient norm at the final params.
    status:        ``(n_runs,)`` int: index into :data:`STATUS_NAMES`.
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
        """Number of runs per status name."""
        return {name: int(np.sum(self.status == code)) for code, name in enumerate(STATUS_NAMES)}


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
    traj = [p for p in parts if p.trajectory_runs is not None and len(p.trajectory_runs)]
    return TrainResult(
        params=jax.tree.map(cat, *[p.params for p in parts]),
        losses=cat(*[p.losses for p in parts]),
        record_steps=first.record_steps,
        grad_norm=cat(*[p.grad_norm for p in parts]),
        status=cat(*[p.status for p in parts]),
        failed_step=cat(*[p.failed_step for p in parts]),
        success_step=None if first.success_step is None else cat(*[p.success_step for p in parts]),
        trajectory=jax.tree.map(cat, *[p.trajectory for p in traj]) if traj else None,
        trajectory_runs=cat(*[p.trajectory_runs for p in traj]) if traj else None,
    )


def default_record_every(steps: int, max_records: int = 100) -> int:
    """Smallest divisor ``d`` of ``steps`` with ``steps / d <= max_records``: the default
    ``record_every`` of :func:`train_many` (``steps / d + 1`` records, step 0 included).

    >>> default_record_every(1000), default_record_every(250), default_record_every(7, max_records=3)
    (10, 5, 7)
    """
    return next(d for d in range(1, steps + 1) if steps % d == 0 and steps // d <= max_records)


@dataclasses.dataclass(frozen=True)
class _Spec:
    """Everything static about one compiled chunk program (hashable: the jit cache key)."""

    loss_fn: Callable
    init_fn: Callable | None  # None when the starts are given
    optimizer: optax.GradientTransformation
    success: Callable | None
    steps: int
    record_every: int
    width: int  # runs per compiled call: the chunk size, padded on the generic path
    batch_size: int | None
    n_samples: int
    hyper_names: tuple[str, ...]
    scaled: bool
    given_starts: bool
    trainable: tuple[bool, ...] | None
    n_traj: int
    fast: bool
    mesh: jax.sharding.Mesh  # the local devices the run axis of a chunk is split over


def _run_axis(spec: _Spec) -> int:
    return -1 if spec.fast else 0


def _bcast(mask: jax.Array, leaf: jax.Array, ax: int) -> jax.Array:
    """``mask: (R,)`` shaped to broadcast against ``leaf`` whose run axis is ``ax``."""
    if ax == 0:
        return mask.reshape((-1,) + (1,) * (leaf.ndim - 1))
    return mask


def _select(mask, new, old, ax):
    return jax.tree.map(lambda n, o: jnp.where(_bcast(mask, n, ax), n, o), new, old)


def _other_axes(leaf: jax.Array, ax: int) -> tuple[int, ...]:
    return tuple(a for a in range(leaf.ndim) if a != ax % leaf.ndim)


def _all_finite(tree, ax: int) -> jax.Array:
    """``(R,)`` bool: every entry of the run's leaves is finite."""
    oks = [jnp.all(jnp.isfinite(leaf), axis=_other_axes(leaf, ax)) for leaf in jax.tree.leaves(tree)]
    return functools.reduce(jnp.logical_and, oks)


def _value_and_grad(spec: _Spec):
    """``(params, data) -> (losses (R,), grads)`` over the run axis of ``spec``'s layout."""
    if spec.fast:
        def total(p, data):
            losses = spec.loss_fn.batched(p, data)
            return jnp.sum(losses), losses

        def vg(params, data):
            (_, losses), grads = jax.value_and_grad(total, has_aux=True)(params, data)
            return losses, grads

        return vg
    data_axis = 0 if spec.batch_size is not None else None
    return _in_blocks(jax.value_and_grad(spec.loss_fn), data_axis)


def _success_fn(spec: _Spec):
    if spec.fast:
        return spec.success.batched
    return _in_blocks(spec.success, None)


def _in_blocks(per_run: Callable, data_axis: int | None) -> Callable:
    """``per_run(params, data)`` over a leading run axis, vmapped in blocks of :data:`RUN_BLOCK`.

    A vmap over the whole chunk would let shape-dependent kernels make a run's numbers depend
    on the chunk size; ``lax.map`` over fixed-size blocks keeps every shape the same.
    """
    batched = jax.vmap(per_run, in_axes=(0, data_axis))

    def blocks(tree):
        return jax.tree.map(lambda a: a.reshape((-1, RUN_BLOCK) + a.shape[1:]), tree)

    def fn(params, data):
        if data_axis is None:
            out = jax.lax.map(lambda p: batched(p, data), blocks(params))
        else:
            out = jax.lax.map(lambda pd: batched(*pd), (blocks(params), blocks(data)))
        return jax.tree.map(lambda a: a.reshape((-1,) + a.shape[2:]), out)

    return fn


def _minibatch(spec: _Spec, data_keys, data, step):
    """Per-run minibatches at ``step``: reshuffled every epoch, leaves ``(R, batch_size, ...)``."""
    per_epoch = spec.n_samples // spec.batch_size
    epoch, pos = step // per_epoch, step % per_epoch

    def one(k):
        perm = jax.random.permutation(jax.random.fold_in(k, epoch), spec.n_samples)
        idx = jax.lax.dynamic_slice_in_dim(perm, pos * spec.batch_size, spec.batch_size)
        return jax.tree.map(lambda a: a[idx], data)

    return jax.vmap(one)(data_keys)


def _finite_runs(losses: jax.Array, grads, ax: int) -> jax.Array:
    """``(R,)`` bool: the run's loss and every entry of its gradient are finite.

    Fast path (run axis last): one reduction over the run's values concatenated (XLA fuses the
    concatenation into it); reducing leaf by leaf cost about 20% more per XOR step there. The
    generic path keeps the leaf-by-leaf reduction: concatenating did not measure faster there.
    """
    if ax == 0:
        return jnp.isfinite(losses) & _all_finite(grads, ax)
    n = losses.shape[0]
    flat = [losses[None]] + [g.reshape(-1, n) for g in jax.tree.leaves(grads)]
    return jnp.all(jnp.isfinite(jnp.concatenate(flat, axis=0)), axis=0)


_BLOCK_FLOATS = 2**20
"""Working-set budget (floats of per-sample activations) of one block of fast-path runs."""
_MAX_BLOCK = 1024


def _fast_block(spec: _Spec, params, data) -> int | None:
    """Runs per block of the fast path, trained one block after another; ``None``: no blocks.

    When the batched forward contains a matrix product (a wide first layer, see
    :meth:`landscape.models.Model.apply_batched`), the chunk is trained in blocks of a fixed
    number of runs: the product's kernel, and so its rounding, depends on the array shape,
    which must not depend on the chunk size; and a block's activations stay in cache across
    all steps (teacher-student 10-32-1 on 256 samples: about 2.5x faster in blocks of 64 or 128
    runs than all 1,024 runs at once; 256 was slower). The block size is a power-of-two multiple of
    :data:`RUN_BLOCK` fixed by the model and the data alone. Purely elementwise programs (tiny
    networks such as XOR's) run the whole chunk at once: blocks did not help them.
    """
    shapes = jax.tree.map(lambda a: jax.ShapeDtypeStruct(a.shape, a.dtype), (params, data))
    if "dot_general" not in str(jax.make_jaxpr(spec.loss_fn.batched)(*shapes)):
        return None
    model = spec.loss_fn.model
    per_run = max(spec.n_samples, 1) * sum(model.sizes[1:])
    block = RUN_BLOCK
    while 2 * block * per_run <= _BLOCK_FLOATS and 2 * block <= _MAX_BLOCK:
        block *= 2
    return block


def _train_runs(spec: _Spec, data, data_keys, params, opt_state, traj_idx) -> dict:
    """Train the runs of ``params`` (and ``opt_state``), laid out with the run axis of ``spec``.

    Returns ``params`` and ``grads`` (final, same layout), ``losses (n_records, R)``,
    ``status``, ``failed_step``, ``success_step`` and, when trajectories are recorded,
    ``trajectory`` with leaves ``(len(traj_idx), n_records, ...)``.
    """
    ax = _run_axis(spec)
    opt_update = jax.vmap(spec.optimizer.update, in_axes=(ax, ax, ax), out_axes=(ax, ax))
    vg = _value_and_grad(spec)
    holds = _success_fn(spec) if spec.success is not None else None
    n = jax.tree.leaves(params)[0].shape[ax]
    trainable = spec.trainable

    def step(carry, i):
        params, opt_state, status, failed, succ, rec = carry
        batch = data if spec.batch_size is None else _minibatch(spec, data_keys, data, i)
        losses, grads = vg(params, batch)
        alive = status == STATUS_OK
        finite = _finite_runs(losses, grads, ax)
        newly_failed = alive & ~finite
        status = jnp.where(newly_failed, STATUS_NONFINITE, status)
        failed = jnp.where(newly_failed, i, failed)
        alive = alive & finite
        if holds is not None:
            succ = jnp.where((succ < 0) & alive & holds(params, data), i, succ)
        updates, new_state = opt_update(grads, opt_state, params)
        if trainable is not None:
            leaves, treedef = jax.tree.flatten(updates)
            updates = treedef.unflatten(
                [u if t else jnp.zeros_like(u) for u, t in zip(leaves, trainable)])
        new_params = optax.apply_updates(params, updates)
        params = _select(alive, new_params, params, ax)
        opt_state = _select(alive, new_state, opt_state, ax)
        rec = jnp.where(i % spec.record_every == 0, losses, rec)
        return (params, opt_state, status, failed, succ, rec), None

    def block(carry, b):
        params = carry[0]
        traj = jax.tree.map(lambda p: jnp.take(p, traj_idx, axis=ax), params) if spec.n_traj else None
        start = b * spec.record_every
        carry, _ = jax.lax.scan(step, carry, start + jnp.arange(spec.record_every, dtype=jnp.int32))
        return carry, (carry[-1], traj)

    status = jnp.full((n,), STATUS_OK, jnp.int32)
    minus1 = jnp.full((n,), -1, jnp.int32)
    loss_dtype = jax.tree.leaves(params)[0].dtype
    carry = (params, opt_state, status, minus1, minus1, jnp.zeros((n,), loss_dtype))
    n_blocks = spec.steps // spec.record_every
    carry, (recs, trajs) = jax.lax.scan(block, carry, jnp.arange(n_blocks, dtype=jnp.int32))
    params, _, status, failed, succ, _ = carry

    full_batch_vg = vg if spec.batch_size is None else _value_and_grad(
        dataclasses.replace(spec, batch_size=None))
    losses, grads = full_batch_vg(params, data)
    alive = status == STATUS_OK
    newly_failed = alive & ~_finite_runs(losses, grads, ax)
    status = jnp.where(newly_failed, STATUS_NONFINITE, status)
    failed = jnp.where(newly_failed, spec.steps, failed)
    if holds is not None:
        succ = jnp.where((succ < 0) & (status == STATUS_OK) & holds(params, data), spec.steps, succ)

    out = {
        "params": params,
        "grads": grads,
        "losses": jnp.concatenate([recs, losses[None]], axis=0),
        "status": status,
        "failed_step": failed,
        "success_step": succ,
    }
    if spec.n_traj:
        final = jax.tree.map(lambda p: jnp.take(p, traj_idx, axis=ax), params)
        # trajs leaves: (n_blocks, ..., k) or (n_blocks, k, ...) -> (k, n_records, ...)
        def stack(t, f):
            t = jnp.concatenate([t, f[None]], axis=0)
            t = jnp.moveaxis(t, -1, 1) if spec.fast else t
            return jnp.swapaxes(t, 0, 1)
        out["trajectory"] = jax.tree.map(stack, trajs, final)
    return out


def _train_in_blocks(spec: _Spec, data, params, opt_state, traj_idx, size: int) -> dict:
    """:func:`_train_runs` on consecutive blocks of ``size`` runs (fast path: run axis last).

    The chunk is padded to whole blocks with copies of its first runs (dropped afterwards);
    each block runs through all the steps before the next one starts. Full batch only (the
    fast path's condition), so no minibatch keys are needed.
    """
    n = jax.tree.leaves(params)[0].shape[-1]
    n_blocks = -(-n // size)
    cols = jnp.arange(n_blocks * size) % n

    def split(a):  # (..., n) -> (n_blocks, ..., size)
        a = jnp.take(a, cols, axis=-1) if n_blocks * size != n else a
        return jnp.moveaxis(a.reshape(a.shape[:-1] + (n_blocks, size)), -2, 0)

    def join(a):  # (n_blocks, ..., size) -> (..., n)
        a = jnp.moveaxis(a, 0, -2)
        return a.reshape(a.shape[:-2] + (n_blocks * size,))[..., :n]

    def one(buf, xs):
        b, p, s = xs
        local = traj_idx - b * size
        out = _train_runs(spec, data, None, p, s, jnp.clip(local, 0, size - 1))
        if spec.n_traj:  # keep the recorded runs that lie in this block
            inside = (local >= 0) & (local < size)
            buf = jax.tree.map(
                lambda new, old: jnp.where(inside.reshape((-1,) + (1,) * (new.ndim - 1)), new, old),
                out.pop("trajectory"), buf)
        return buf, out

    n_records = spec.steps // spec.record_every + 1
    buf = (jax.tree.map(lambda p: jnp.zeros((spec.n_traj, n_records) + p.shape[:-1], p.dtype), params)
           if spec.n_traj else None)
    xs = (jnp.arange(n_blocks), jax.tree.map(split, params), jax.tree.map(split, opt_state))
    buf, out = jax.lax.scan(one, buf, xs)
    out = jax.tree.map(join, out)
    if spec.n_traj:
        out["trajectory"] = buf
    return out


def _chunk_program(spec: _Spec, key, run_ids, data, hyper, scale, starts, traj_idx):
    """Train the runs ``run_ids: (C,)`` of one chunk from ``starts`` (leaves ``(C, ...)``) or,
    when they are not given, from ``init_fn``; returns a dict of arrays (run axis 0)."""
    ax = _run_axis(spec)
    run_keys = jax.vmap(lambda i: jax.random.fold_in(key, i))(run_ids)
    if spec.given_starts:
        params = starts
    else:
        params = jax.vmap(spec.init_fn)(jax.vmap(lambda k: jax.random.fold_in(k, 0))(run_keys))
    if spec.scaled:
        params = jax.tree.map(lambda p: p * _bcast(scale, p, 0).astype(p.dtype), params)
    if spec.fast:
        params = jax.tree.map(lambda p: jnp.moveaxis(p, 0, -1), params)
    opt_state = jax.vmap(spec.optimizer.init, in_axes=ax, out_axes=ax)(params)
    if spec.hyper_names:
        hp = dict(opt_state.hyperparams)
        for name in spec.hyper_names:
            hp[name] = hyper[name].astype(hp[name].dtype)
        opt_state = opt_state._replace(hyperparams=hp)
    data_keys = jax.vmap(lambda k: jax.random.fold_in(k, 1))(run_keys)

    size = _fast_block(spec, params, data) if spec.fast else None
    if size is None:
        out = _train_runs(spec, data, data_keys, params, opt_state, traj_idx)
    else:
        out = _train_in_blocks(spec, data, params, opt_state, traj_idx, size)

    to_public = (lambda p: jnp.moveaxis(p, -1, 0)) if spec.fast else (lambda p: p)
    out["params"] = jax.tree.map(to_public, out["params"])
    out["grads"] = jax.tree.map(to_public, out["grads"])
    out["losses"] = out["losses"].T
    return out


def _sharded_program(spec: _Spec, key, run_ids, data, hyper, scale, starts, traj_idx):
    """:func:`_chunk_program` with the chunk's runs split evenly over the devices of
    ``spec.mesh``: every device trains ``width / n_devices`` runs (a multiple of
    :data:`RUN_BLOCK`), so each run's numbers are those of a one-device call."""
    n_dev = parallel.mesh_size(spec.mesh)
    local = spec.width // n_dev

    def per_device(key, run_ids, data, hyper, scale, starts, traj_idx):
        if n_dev > 1:
            first = jax.lax.axis_index(parallel.AXIS) * local
            traj_idx = jnp.clip(traj_idx - first, 0, local - 1)
        return _chunk_program(spec, key, run_ids, data, hyper, scale, starts, traj_idx)

    sharded = (False, True, False, True, True, True, False)
    out = parallel.shard_runs(per_device, spec.mesh, sharded)(key, run_ids, data, hyper, scale,
                                                              starts, traj_idx)
    if spec.n_traj and n_dev > 1:  # every device recorded n_traj slots; keep each run's own
        owner, slot = traj_idx // local, jnp.arange(spec.n_traj)
        out["trajectory"] = jax.tree.map(
            lambda a: a.reshape((n_dev, spec.n_traj) + a.shape[1:])[owner, slot], out["trajectory"])
    return out


_FAST_CPU_OPTIONS = {
    # XLA's experimental CPU fusion made the run-axis-last program ~10x slower (jax 0.10).
    "xla_cpu_experimental_ynn_fusion_type": "",
    # 512-bit vectors along the run axis (on AVX-512 CPUs; a hint elsewhere): steps of XOR
    # 2-2-1 ~20% faster, 2-8-1 ~17%, teacher-student 10-32-1 ~13% (jax 0.10, one core).
    "xla_cpu_prefer_vector_width": 512,
}
"""Compiler options of the fast path on the CPU. The generic path keeps XLA's defaults: neither
option changed its speed by more than the noise (+-10%)."""


@functools.lru_cache(maxsize=None)
def _cpu_options() -> dict:
    """The entries of :data:`_FAST_CPU_OPTIONS` that this jaxlib knows (older ones lack some)."""
    known = {}
    for name, value in _FAST_CPU_OPTIONS.items():
        try:
            jax.jit(lambda x: x + 1, compiler_options={name: value}).lower(np.float32(0)).compile()
        except Exception:  # "No such compile option": skip it
            continue
        known[name] = value
    return known


@functools.lru_cache(maxsize=32)
def _compiled(spec: _Spec):
    """One jitted program per spec: repeated calls with the same spec and shapes reuse it."""
    options = _cpu_options() if spec.fast and jax.default_backend() == "cpu" else {}
    return jax.jit(functools.partial(_sharded_program, spec), compiler_options=options or None)


# ----------------------------------------------------------------------------- validation

def _check_count(name: str, value, minimum: int = 1) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise ValueError(f"{name}={value!r} must be an integer >= {minimum}")
    return int(value)


def _as_key(key) -> jax.Array:
    if isinstance(key, (int, np.integer)) and not isinstance(key, bool):
        return jax.random.key(int(key))
    if isinstance(key, jax.Array) and jnp.issubdtype(key.dtype, jax.dtypes.prng_key) and key.shape == ():
        return key
    if isinstance(key, (jax.Array, np.ndarray)) and key.shape == (2,) and key.dtype == np.uint32:
        return jax.random.wrap_key_data(jnp.asarray(key))
    raise TypeError(f"key={key!r} must be a JAX PRNG key (jax.random.key(seed)) or an integer seed")


def _check_data(loss_fn, data) -> int:
    """Validates ``data``; returns the number of samples (leading axis)."""
    leaves = jax.tree.leaves(data)
    if not leaves:
        if isinstance(loss_fn, Loss):
            raise ValueError(f"data={data!r} holds no arrays; the MLP loss needs Dataset(x, y)")
        return 0  # a loss_fn that needs no data, e.g. a test function of the params alone
    arrays = [np.asarray(leaf) for leaf in leaves]
    for a in arrays:
        if a.dtype.kind in "fc" and not np.all(np.isfinite(a)):
            raise ValueError(f"data contains NaN or Inf (in an array of shape {a.shape}); "
                             "expected finite inputs and targets")
    n = arrays[0].shape[0] if arrays[0].ndim else 0
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


def _check_per_run(name: str, values, n_runs: int) -> np.ndarray:
    arr = np.asarray(values)
    if arr.shape != (n_runs,) or arr.dtype.kind not in "fiu" or not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} must be {n_runs} finite numbers, one per run (shape ({n_runs},)); "
                         f"got shape {arr.shape}, dtype {arr.dtype}")
    return arr


@dataclasses.dataclass(frozen=True)
class TrainPlan:
    """A validated training job: ``run_chunk(c)`` trains chunk ``c`` of ``n_chunks``.

    Built by :func:`plan_training`; :func:`train_many` runs every chunk and joins them. A
    results store can run chunks one at a time and resume after an interruption.
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
        for 256 MiB host budget) on 2 cpu devices, generic path"``."""
        platform = self.spec.mesh.devices.flat[0].platform
        path = "fast path" if self.spec.fast else "generic path"
        return (f"{self.n_runs} runs: {self.n_chunks} chunk{'s' * (self.n_chunks > 1)} of "
                f"{self.chunk_size} ({self.chunk_note}) on {self.n_devices} {platform} "
                f"device{'s' * (self.n_devices > 1)}, {path}")

    def chunk_bounds(self, c: int) -> tuple[int, int]:
        start = c * self.chunk_size
        return start, min(start + self.chunk_size, self.n_runs)

    def compiled_memory(self) -> int | None:
        """Bytes the compiled chunk program needs on one device: arguments, outputs and
        temporaries from XLA's ``memory_analysis()`` (``None`` where the backend does not say).
        Compiles the program (the one :meth:`run_chunk` then reuses); trains nothing."""
        inputs, _, _ = self._chunk_inputs(0)
        stats = _compiled(self.spec).lower(*inputs).compile().memory_analysis()
        if stats is None:
            return None
        return int(stats.argument_size_in_bytes + stats.output_size_in_bytes + stats.temp_size_in_bytes)

    def run_chunk(self, c: int) -> TrainResult:
        """Train the runs ``chunk_bounds(c)``; same compiled program for every chunk."""
        inputs, real, traj_runs = self._chunk_inputs(c)
        out = jax.device_get(_compiled(self.spec)(*inputs))
        rows = lambda a: a[:real]  # noqa: E731
        return TrainResult(
            params=jax.tree.map(rows, out["params"]),
            losses=rows(out["losses"]),
            record_steps=self.record_steps,
            grad_norm=_norms(jax.tree.map(rows, out["grads"])),
            status=rows(out["status"]),
            failed_step=rows(out["failed_step"]),
            success_step=rows(out["success_step"]) if self.spec.success is not None else None,
            trajectory=(jax.tree.map(lambda a: a[: len(traj_runs)], out["trajectory"])
                        if traj_runs is not None else None),
            trajectory_runs=traj_runs,
        )

    def _chunk_inputs(self, c: int):
        """``(arguments of the chunk program, real runs in the chunk, its trajectory runs)``."""
        start, stop = self.chunk_bounds(c)
        size, real = self.spec.width, stop - start
        run_ids = jnp.arange(start, start + size, dtype=jnp.uint32)

        def padded(arr):  # pad per-run inputs of the last chunk by repeating its first entry
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


def _norms(tree) -> np.ndarray:
    """``(R,)`` Euclidean norm of each run's leaves, on the host: the same rounding for every
    run whatever the batch (in-program reductions get fused differently by batch shape)."""
    leaves = [np.asarray(a, np.float64).reshape(a.shape[0], -1) for a in jax.tree.leaves(tree)]
    dtype = jax.tree.leaves(tree)[0].dtype
    return np.sqrt(sum(np.sum(a * a, axis=1) for a in leaves)).astype(dtype)


def estimate_chunk_size(n_params: int, n_records: int, n_samples: int, n_out: int,
                        memory_bytes: int, *, n_hidden: int = 0, itemsize: int = 4) -> int:
    """The most runs per chunk whose estimated memory fits ``memory_bytes``.

    Per run, in floats of ``itemsize`` bytes: the loss history twice (the program's record
    buffer and the ``(runs, records)`` result it is transposed into), params, gradients and
    optimizer state (``8 n_params`` in all), the activations of the forward and backward pass
    (``4 n_samples (n_out + n_hidden)``; ``n_hidden``: the input and hidden units of an MLP, 0
    when unknown) and 64 for the per-run scalars. The estimate is conservative against
    ``memory_analysis()`` of compiled chunk programs on the CPU (see tests/test_parallel.py).
    Raises ``ValueError`` when not even one run fits.

    >>> estimate_chunk_size(9, 101, 4, 1, 2**20, n_hidden=4)  # XOR 2-2-1, 101 records, 1 MiB
    627
    """
    per_run = itemsize * (2 * n_records + 8 * n_params + 4 * max(n_samples, 1) * (n_out + n_hidden) + 64)
    if memory_bytes < per_run:
        raise ValueError(f"memory_bytes={memory_bytes} is less than one run needs (about {per_run} "
                         "bytes); pass a smaller record history or an explicit chunk_size")
    return int(memory_bytes // per_run)


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
    """Validate the arguments of :func:`train_many` and build its :class:`TrainPlan`.

    Every check runs before any tracing or compilation; errors name the argument and value.
    """
    if not callable(loss_fn):
        raise TypeError(f"loss_fn={loss_fn!r} must be callable as loss_fn(params, data) -> scalar")
    if init_fn is None and starts is None:
        raise TypeError("init_fn=None needs explicit starts=...; pass init_fn(key) -> params or "
                        "starts with a leading run axis")
    if init_fn is not None and not callable(init_fn):
        raise TypeError(f"init_fn={init_fn!r} must be callable as init_fn(key) -> params")
    if not (hasattr(optimizer, "init") and hasattr(optimizer, "update")):
        raise TypeError(f"optimizer={optimizer!r} must be an optax GradientTransformation, "
                        "e.g. optax.sgd(0.5)")
    if n_runs is not None or starts is None:
        n_runs = _check_count("n_runs", n_runs)
    steps = _check_count("steps", steps)
    if record_every is None:
        record_every = default_record_every(steps)
    record_every = _check_count("record_every", record_every)
    if steps % record_every:
        raise ValueError(f"record_every={record_every} must divide steps={steps}")
    if chunk_size is not None:
        chunk_size = _check_count("chunk_size", chunk_size)
    if method not in _METHODS:
        raise ValueError(f"method={method!r} is not known; expected one of {_METHODS}")
    mesh = parallel.local_mesh(devices)
    if success is not None and not callable(success):
        raise TypeError(f"success={success!r} must be callable as success(params, data) -> bool")
    if key is None and (starts is None or batch_size is not None):
        raise TypeError("key=None: a PRNG key (jax.random.key(seed)) or an integer seed is needed "
                        "to draw the starts and minibatch orders; only full-batch training from "
                        "given starts may leave it out")
    key = _as_key(0 if key is None else key)
    n_samples = _check_data(loss_fn, data)
    if batch_size is not None:
        batch_size = _check_count("batch_size", batch_size)
        if batch_size > n_samples:
            raise ValueError(f"batch_size={batch_size} exceeds the {n_samples} samples in data")

    shapes = None
    if init_fn is not None:
        shapes = jax.eval_shape(init_fn, jax.random.key(0))
        if not _floating(shapes):
            raise TypeError(f"init_fn must return a pytree of floating-point arrays, got {shapes}")
    if starts is not None:
        starts, shapes, n_runs = _check_starts(starts, shapes, n_runs)
    n_runs = _check_count("n_runs", n_runs)  # also the length of the starts
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
        chunk_size = min(n_runs, estimate_chunk_size(n_params, n_records, n_samples, n_out, memory,
                                                     n_hidden=n_hidden, itemsize=_itemsize(leaves)))
        whole = RUN_BLOCK * n_dev  # no padded runs in full chunks
        chunk_size = chunk_size // whole * whole if whole < chunk_size < n_runs else chunk_size
        chunk_note = f"estimated for {source}"
    if devices is None and n_dev > 1:  # no device without a whole block of runs
        n_dev = min(n_dev, -(-chunk_size // RUN_BLOCK))
        mesh = parallel.local_mesh(n_dev)
    width = parallel.padded_count(chunk_size, RUN_BLOCK, n_dev)
    spec = _Spec(
        loss_fn=loss_fn, init_fn=init_fn if starts is None else None, optimizer=optimizer,
        success=success, steps=steps, record_every=record_every, width=width,
        batch_size=batch_size, n_samples=n_samples, hyper_names=tuple(sorted(hyper)),
        scaled=scale is not None, given_starts=starts is not None, trainable=mask,
        n_traj=int(min(traj.size, chunk_size)) if traj is not None else 0, fast=fast, mesh=mesh)
    data = jax.tree.map(jnp.asarray, data)
    return TrainPlan(spec=spec, key=key, data=data, n_runs=n_runs, _chunk_size=chunk_size,
                     hyperparams=hyper, init_scale=scale,
                     trajectory_runs=traj if spec.n_traj else None, params_like=shapes,
                     starts=starts, chunk_note=chunk_note)


def progress_bar(iterable, total: int, enabled: bool | None, desc: str = "train_many",
                 plan: "TrainPlan | None" = None):
    """``iterable`` wrapped in a tqdm bar of ``total`` items; ``enabled=None`` shows it when
    ``total > 1``, ``False`` never (then ``iterable`` itself comes back).

    With a ``plan`` the items are chunk indices of that plan: the bar counts runs (runs/s and
    time left) and :meth:`TrainPlan.describe` (how the runs were split, the chunk size chosen)
    is printed above it.

    >>> list(progress_bar(range(3), 3, enabled=False))
    [0, 1, 2]
    """
    if enabled is False or (enabled is None and total <= 1):
        return iterable
    from tqdm.auto import tqdm
    if plan is None:
        return tqdm(iterable, total=total, unit="chunk", desc=desc)
    return _runs_bar(tqdm, iterable, plan, desc)


def _runs_bar(tqdm, chunks, plan: "TrainPlan", desc: str):
    """The chunk indices ``chunks``, counting each chunk's runs on a tqdm bar once it is done."""
    sizes = {c: plan.chunk_bounds(c)[1] - plan.chunk_bounds(c)[0] for c in chunks}
    tqdm.write(f"{desc}: {plan.describe()}", file=sys.stderr)
    with tqdm(total=sum(sizes.values()), unit="run", unit_scale=True, desc=desc) as bar:
        for c in chunks:
            yield c
            bar.update(sizes[c])


def train_many(loss_fn: Callable, init_fn: Callable | None, optimizer: optax.GradientTransformation,
               data, *, key=None, n_runs: int | None = None, steps: int,
               record_every: int | None = None, chunk_size: int | None = None,
               success: Callable | None = None, batch_size: int | None = None,
               hyperparams: Mapping[str, Any] | None = None, init_scale=None, starts=None,
               trainable=None, trajectory_runs=None, method: str = "auto", devices=None,
               progress: bool | None = None) -> TrainResult:
    """Train ``n_runs`` networks from ``init_fn`` (or given) starts with ``optimizer`` for
    ``steps`` steps.

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
      chunk_size: runs per compiled call, all devices together (the last chunk is padded).
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
    plan = plan_training(loss_fn, init_fn, optimizer, data, key=key, n_runs=n_runs, steps=steps,
                         record_every=record_every, chunk_size=chunk_size, success=success,
                         batch_size=batch_size, hyperparams=hyperparams, init_scale=init_scale,
                         starts=starts, trainable=trainable, trajectory_runs=trajectory_runs,
                         method=method, devices=devices)
    bar = progress_bar(range(plan.n_chunks), plan.n_chunks, progress, plan=plan)
    chunks = [plan.run_chunk(c) for c in bar]
    return concat_results(chunks) if len(chunks) > 1 else chunks[0]


def initial_params(init_fn: Callable, key, run_ids) -> Any:
    """The starts ``train_many`` uses for runs ``run_ids: (k,)``: leaves ``(k, ...)``.

    Run ``i``'s start is ``init_fn(fold_in(fold_in(key, i), 0))`` whatever the other runs.

    >>> import jax, landscape as ls
    >>> init_fn = ls.inits.normal(ls.mlp([2, 2, 1]), 1.0)
    >>> starts = initial_params(init_fn, jax.random.key(0), [0, 5, 7])
    >>> starts[0]["w"].shape, starts[1]["b"].shape
    ((3, 2, 2), (3, 1))
    """
    key = _as_key(key)
    ids = jnp.asarray(run_ids, jnp.uint32)
    keys = jax.vmap(lambda i: jax.random.fold_in(jax.random.fold_in(key, i), 0))(ids)
    return jax.vmap(init_fn)(keys)


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

    >>> opt = make_optimizer("momentum", 0.5)
    >>> opt is make_optimizer("momentum", 0.5)
    True
    >>> sorted(opt.init(jnp.zeros(3)).hyperparams)
    ['learning_rate', 'momentum']
    """
    if isinstance(learning_rate, bool) or not isinstance(learning_rate, (int, float)) or not learning_rate > 0:
        raise ValueError(f"learning_rate={learning_rate!r} must be a positive number")
    if name not in _OPTIMIZER_FACTORIES:
        raise ValueError(f"optimizer name={name!r} is not known; expected one of {OPTIMIZERS}")
    if name in ("momentum", "nesterov"):
        kwargs = {"momentum": 0.9, **kwargs, "nesterov": name == "nesterov"}
    try:
        return _injected(name, float(learning_rate), tuple(sorted(kwargs.items())))
    except TypeError as err:  # an unknown or unhashable option
        raise TypeError(f"make_optimizer({name!r}, ...) options {kwargs!r} are not accepted: {err}") from None

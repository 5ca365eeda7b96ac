"""The compiled chunk programs of :func:`landscape.train_many`.

One chunk of runs is trained by one jitted program, fixed by a hashable :class:`_Spec` (the jit
cache key): a loop over steps (``lax.fori_loop``s in record blocks) of a step vmapped over the
runs, on one of two paths that compute the same thing:

- the *generic* path vmaps ``value_and_grad(loss_fn)`` over a leading run axis, in blocks of
  :data:`RUN_BLOCK` runs, and works for any ``loss_fn(params, data)`` over any pytree;
- the *fast* path, for the toolkit's own MLP losses with full-batch training, evaluates all runs
  with the run axis last (:meth:`landscape.models.Model.apply_batched`).

Every step checks its runs' loss and gradient and holds back the update of a run that turned
non-finite (:func:`_train_runs`). Checking once per record block instead, with a checked redo
of a block where a run failed, was measured (session 6, ``benchmarks/README.md``) and not kept:
no faster, compiled 1.5x as long, and its unchecked step rounded differently on the fast path.

The chunk's runs are split over the devices of the spec's mesh (:func:`_sharded_program`); the
fast path gets the CPU compiler options of :func:`landscape.parallel.fast_cpu_options`, and
every program the options of :func:`landscape.parallel.compiler_options` (device-count invariant rounding).
"""

from __future__ import annotations

import dataclasses
import functools
from typing import Callable

import jax
import jax.numpy as jnp
import numpy as np
import optax

from .. import parallel
from ..status import RUN
from .reuse import value_key

__all__ = ["RUN_BLOCK", "fast_block", "live_runs"]

_OK = RUN.code("ok")
_NONFINITE = RUN.code("nonfinite")

RUN_BLOCK = 64
"""Compiled programs handle a multiple of this many runs (the last chunk is padded).

XLA picks kernels, and so rounding, by array shape: a vectorized loop over the run axis
treats its remainder lanes with scalar code (which may contract multiply-adds differently),
and matrix kernels depend on sizes. With widths that are multiples of ``RUN_BLOCK``, and the
generic path vmapping blocks of exactly ``RUN_BLOCK`` runs, a run's numbers do not depend on
the chunk size, on ``n_runs`` or on the other runs.
"""


@dataclasses.dataclass(frozen=True)
class _Spec:
    """Everything static about one compiled chunk program (hashable: the jit cache key).

    The four callables are compared by their :func:`value_key` (``callables``), so an equal
    but newly built init or optimizer (``optax.sgd(0.5)`` again) finds the compiled program.
    """

    loss_fn: Callable = dataclasses.field(compare=False)
    init_fn: Callable | None = dataclasses.field(compare=False)  # None when the starts are given
    optimizer: optax.GradientTransformation = dataclasses.field(compare=False)
    success: Callable | None = dataclasses.field(compare=False)
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
    callables: tuple = dataclasses.field(init=False)

    def __post_init__(self):
        object.__setattr__(self, "callables", value_key(
            (self.loss_fn, self.init_fn, self.optimizer, self.success)))


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


CONV_BLOCK = 8
"""Runs vmapped together on the generic path when the per-run program has a convolution.

vmap folds the runs into a convolution's channels; XLA's CPU kernels for the folded
convolutions (above all the kernel gradient, whose window is the whole image) slow down faster
than the channel count grows. A 45-parameter Flax CNN (3x3 conv, 4 channels, 64 8x8 images),
64 runs x 100 steps of sgd: blocks of 64 runs 4.2 s, 16 1.6 s, 8 1.6 s, 4 2.0 s, against
4.85 s for a loop of jitted single-run scans (same process); blocks of 8 also gave the loop's
numbers bit for bit there (blocks of 64 differed by 1 ulp). A divisor of :data:`RUN_BLOCK`,
so a run's numbers still do not depend on the chunk size or the device count.
"""


def _uses(jaxpr, primitive: str) -> bool:
    """Whether ``jaxpr`` (a ``ClosedJaxpr`` or ``Jaxpr``) or one nested in it applies
    ``primitive`` (e.g. ``"conv_general_dilated"``, ``"dot_general"``)."""
    for eqn in getattr(jaxpr, "jaxpr", jaxpr).eqns:
        if eqn.primitive.name == primitive:
            return True
        for param in eqn.params.values():
            for value in param if isinstance(param, (tuple, list)) else (param,):
                if hasattr(getattr(value, "jaxpr", value), "eqns") and _uses(value, primitive):
                    return True
    return False


def _block_size(per_run: Callable, params, data, data_axis: int | None) -> int:
    """:data:`CONV_BLOCK` when one run of ``per_run`` (leading run axis dropped) convolves,
    else :data:`RUN_BLOCK`."""
    def one(tree, drop: bool):
        return jax.tree.map(lambda a: jax.ShapeDtypeStruct(a.shape[1:] if drop else a.shape, a.dtype),
                            tree)
    jaxpr = jax.make_jaxpr(per_run)(one(params, True), one(data, data_axis is not None))
    return CONV_BLOCK if _uses(jaxpr, "conv_general_dilated") else RUN_BLOCK


def _in_blocks(per_run: Callable, data_axis: int | None) -> Callable:
    """``per_run(params, data)`` over a leading run axis, vmapped in blocks of :data:`RUN_BLOCK`
    runs (:data:`CONV_BLOCK` when it convolves: :func:`_block_size`).

    A vmap over the whole chunk would let shape-dependent kernels make a run's numbers depend
    on the chunk size; ``lax.map`` over fixed-size blocks keeps every shape the same.
    """
    batched = jax.vmap(per_run, in_axes=(0, data_axis))

    def fn(params, data):
        size = _block_size(per_run, params, data, data_axis)

        def blocks(tree):
            return jax.tree.map(lambda a: a.reshape((-1, size) + a.shape[1:]), tree)

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


_BLOCK_FLOATS = 2**15
"""Working-set budget (floats of per-sample activations) of one block of fast-path runs: about
128 KiB, what stays in a core's L2 cache across the steps."""
_MAX_BLOCK = 1024
_SHARED_DEVICE_SCALE = 4
"""Budget and block cap of an elementwise program multiply by this when the CPU device has
cores to spare (one device on a multi-core machine: XLA splits a big elementwise loop over its
threads, small blocks leave them idle). 10,000 XOR 2-2-1 runs x 2,000 steps on 1 device of 2
cores: 0.51 s at 1x, 0.45 s at 2x, 0.35 s at 4x, 0.33 s at 16x; 2-64-1 x 300 steps 1.69 s ->
1.47 s at 4x; on 2 devices (no spare core) 4x changed 2-2-1 by < 10%. Since the spare cores
run concurrent groups of the chunk (:func:`landscape.parallel.concurrent_calls`), 1x was
measured again there (one device, 2 groups, 10,000 x 2,000, 3 interleaved rounds, load ~6):
1x/4x time 1.12, 0.88, 1.04 for 2-2-1 and 1.21, 1.07, 0.97 for 2-8-1 (medians 1.04, 1.07):
not faster, so 4x stays (same numbers at both, as for any block of an elementwise program)."""


_MATMUL_SCALE = 64
"""Budget multiplier of a program with a matrix product (a wide first layer): 2**21 floats
(8 MiB). Its time goes to the product and the elementwise passes over ``(samples, hidden,
runs)``; a wider product (more runs per block) beats cache residency. Teacher-student 10-32-1,
256 samples, 1,024 runs x 200 steps on 2 devices: blocks of 64 runs 1.68 s, 128 1.45 s, 256
1.48 s, 512 1.44 s, 32 2.35 s (same numbers bit for bit at every size)."""


def fast_block(loss_fn, n_samples: int, params, data, width: int) -> int:
    """Runs per block of the fast path: the ``width`` runs of a chunk on one device are trained
    one block after another, each through all the steps.

    ``params``: leaves (or their shapes) with a trailing run axis of any length.

    A block's activations stay in cache across the steps: the largest power-of-two multiple of
    :data:`RUN_BLOCK` (at most :data:`_MAX_BLOCK`) whose per-sample activations fit
    :data:`_BLOCK_FLOATS` (both :data:`_SHARED_DEVICE_SCALE` times larger for an elementwise
    program on a CPU device with cores to spare). Measured on one loaded CPU core, 8,192 XOR runs x 200 steps: 2-2-1
    0.136 -> 0.064 s, 2-8-1 0.36 -> 0.27 s, 2-32-1 0.54 -> 0.42 s, 2-64-1 10.3 -> 0.9 s (the
    whole chunk at once fell out of cache: time grew as width^1.5).

    A program with a matrix product (a wide first layer, see
    :meth:`landscape.models.Model.apply_batched`) gets a :data:`_MATMUL_SCALE` times larger
    budget.

    Rounding: when the batched forward contains a matrix product, the product's kernel (and so
    its rounding) may depend on its shape, so the block is fixed by the model and the data alone
    (the chunk is padded to whole blocks): same numbers whatever the chunk size or the device
    count, by construction. A purely elementwise program rounds every run alike whatever the
    number of runs (a multiple of :data:`RUN_BLOCK`), so its ``width`` runs are split into as
    few blocks as the cache-sized block allows, of equal size rounded up to a multiple of
    :data:`RUN_BLOCK` (under 64 padded runs a block).
    """
    per_run = max(n_samples, 1) * sum(loss_fn.model.sizes[1:])
    shapes = jax.tree.map(lambda a: jax.ShapeDtypeStruct(a.shape, a.dtype), (params, data))
    if _uses(jax.make_jaxpr(loss_fn.batched)(*shapes), "dot_general"):
        return _cache_block(per_run, _MATMUL_SCALE)
    block = _cache_block(per_run, _SHARED_DEVICE_SCALE if parallel.idle_host_cores() else 1)
    n_blocks = -(-width // block)
    return -(-width // (n_blocks * RUN_BLOCK)) * RUN_BLOCK


def _cache_block(per_run: int, scale: int) -> int:
    """The largest power-of-two multiple of :data:`RUN_BLOCK`, at most ``scale`` times
    :data:`_MAX_BLOCK`, whose per-sample activations fit ``scale`` times :data:`_BLOCK_FLOATS`."""
    block = RUN_BLOCK
    while 2 * block * per_run <= scale * _BLOCK_FLOATS and 2 * block <= scale * _MAX_BLOCK:
        block *= 2
    return block


def live_runs(fast: bool, loss_fn, n_samples: int, params_like, data) -> int:
    """How many runs' activations a chunk program holds at once (at most): a fast-path block
    (:func:`fast_block`), or :data:`RUN_BLOCK` on the generic path (``lax.map`` over blocks).
    ``params_like``: one run's params."""
    if not fast:
        return RUN_BLOCK
    params = jax.tree.map(lambda s: jax.ShapeDtypeStruct(s.shape + (RUN_BLOCK,), s.dtype), params_like)
    return fast_block(loss_fn, n_samples, params, data, _SHARED_DEVICE_SCALE * _MAX_BLOCK)


def _train_runs(spec: _Spec, data, data_keys, params, opt_state, traj_idx) -> dict:
    """Train the runs of ``params`` (and ``opt_state``), laid out with the run axis of ``spec``.

    Returns ``params`` and ``grads`` (final, same layout), ``losses (R, n_records)``,
    ``status``, ``failed_step``, ``success_step`` and, when trajectories are recorded,
    ``trajectory (len(traj_idx), n_records, P)``, each run's params flattened
    (:func:`_traj_rows`; :func:`_sharded_program` makes them leaves).

    A run whose loss or gradient is non-finite at step ``i`` gets status nonfinite and
    ``failed_step == i`` and keeps its params and optimizer state of before step ``i``; the
    check is part of every step (see the module docstring).

    The steps run in record blocks of ``record_every`` (a loop of dynamic trip count inside a
    loop over blocks). With full-batch training the final evaluation (loss, gradient and
    checks at step ``steps``) is one more step of the loop, its update skipped, in a block of
    its own: the program holds one copy of the step's kernels, not two. Minibatch training
    evaluates the full batch once after the loop. After each block, the loss record and the
    trajectory runs' params go into one buffer each, already in the outputs' layouts. Session
    6: the flagship's training program 87 -> 58 kernels on one device, 98 -> 65 on two
    (``benchmarks/_hlo.py``), the same numbers bit for bit (``benchmarks/README.md``).
    """
    ax = _run_axis(spec)
    opt_update = jax.vmap(spec.optimizer.update, in_axes=(ax, ax, ax), out_axes=(ax, ax))
    vg = _value_and_grad(spec)
    holds = _success_fn(spec) if spec.success is not None else None
    n = jax.tree.leaves(params)[0].shape[ax]
    trainable = spec.trainable
    final_in_loop = spec.batch_size is None
    last = spec.steps + 1 if final_in_loop else spec.steps  # steps [0, last) run in the loop

    def step(i, carry):
        params, opt_state, status, failed, succ, rec, _ = carry
        batch = data if spec.batch_size is None else _minibatch(spec, data_keys, data, i)
        losses, grads = vg(params, batch)
        status, failed, succ, alive = _check(status, failed, succ, i, losses, grads, params)
        updates, new_state = opt_update(grads, opt_state, params)
        if trainable is not None:
            leaves, treedef = jax.tree.flatten(updates)
            updates = treedef.unflatten(
                [u if t else jnp.zeros_like(u) for u, t in zip(leaves, trainable)])
        new_params = optax.apply_updates(params, updates)
        updating = alive & (i < spec.steps)  # step ``steps``: the final evaluation, no update
        params = _select(updating, new_params, params, ax)
        opt_state = _select(updating, new_state, opt_state, ax)
        rec = jnp.where(i % spec.record_every == 0, losses, rec)
        return params, opt_state, status, failed, succ, rec, grads

    def _check(status, failed, succ, i, losses, grads, params):
        """Status, failed and success steps after the check at step ``i``; ``alive``: the runs
        still training whose loss and gradient are finite."""
        alive = status == _OK
        finite = _finite_runs(losses, grads, ax)
        newly_failed = alive & ~finite
        status = jnp.where(newly_failed, _NONFINITE, status)
        failed = jnp.where(newly_failed, i, failed)
        alive = alive & finite
        if holds is not None:
            succ = jnp.where((succ < 0) & alive & holds(params, data), i, succ)
        return status, failed, succ, alive

    def block(b, carry):
        loop_carry, traj, recorded = carry
        start = b * spec.record_every
        loop_carry = jax.lax.fori_loop(start, jnp.minimum(start + spec.record_every, last), step,
                                       loop_carry)
        recorded = _record(recorded, b, loop_carry[5], traj)
        return (loop_carry, _traj_rows(loop_carry[0], traj_idx, ax) if spec.n_traj else None,
                recorded)

    status = jnp.full((n,), _OK, jnp.int32)
    minus1 = jnp.full((n,), -1, jnp.int32)
    loss_dtype = jax.tree.leaves(params)[0].dtype
    carry = (params, opt_state, status, minus1, minus1, jnp.zeros((n,), loss_dtype),
             jax.tree.map(jnp.zeros_like, params))  # the last step's grads
    traj = _traj_rows(params, traj_idx, ax) if spec.n_traj else None
    n_records = spec.steps // spec.record_every + 1
    recorded = (jnp.zeros((n, n_records), loss_dtype),
                jnp.zeros((spec.n_traj, n_records) + traj.shape[1:], traj.dtype) if spec.n_traj else None)
    n_blocks = -(-last // spec.record_every)
    carry, traj, recorded = jax.lax.fori_loop(0, n_blocks, block, (carry, traj, recorded))
    params, _, status, failed, succ, _, grads = carry
    if not final_in_loop:
        full_batch = dataclasses.replace(spec, batch_size=None)
        losses, grads = _value_and_grad(full_batch)(params, data)
        status, failed, succ, _ = _check(status, failed, succ, spec.steps, losses, grads, params)
        recorded = _record(recorded, n_blocks, losses, traj)

    losses, trajectory = recorded
    out = {"params": params, "grads": grads, "losses": losses, "status": status,
           "failed_step": failed, "success_step": succ}
    if spec.n_traj:
        out["trajectory"] = trajectory
    return out


def _traj_rows(params, idx: jax.Array, ax: int) -> jax.Array:
    """``(k, P)``: the runs ``idx: (k,)`` of ``params`` (run axis ``ax``), each run's leaves
    flattened and concatenated (one array, so that recording them is one kernel, not one per
    leaf). Mixed dtypes are promoted, which is exact; :func:`_traj_leaves` casts back."""
    idx = idx.astype(jnp.uint32)  # unsigned and clipped: no index normalization or bounds mask
    k = idx.shape[0]
    rows = [jnp.moveaxis(jnp.take(p, idx, axis=ax, mode="clip"), ax, 0).reshape(k, -1)
            for p in jax.tree.leaves(params)]
    return jnp.concatenate(rows, axis=1)


def _record(recorded, b, losses: jax.Array, traj: jax.Array | None):
    """Write record ``b``: ``losses (R,)`` into column ``b`` of ``(R, n_records)`` and, when
    recorded, ``traj (k, P)`` into ``[:, b]`` of ``(k, n_records, P)``: the outputs' layouts."""
    all_losses, all_traj = recorded
    all_losses = jax.lax.dynamic_update_slice_in_dim(all_losses, losses[:, None], b, axis=1)
    if traj is not None:
        all_traj = jax.lax.dynamic_update_slice_in_dim(all_traj, traj[:, None], b, axis=1)
    return all_losses, all_traj


def _traj_leaves(trajectory: jax.Array, params, ax: int):
    """``trajectory: (k, n_records, P)`` (:func:`_traj_rows`' runs, recorded) -> leaves
    ``(k, n_records, ...)`` of ``params``' shapes (run axis ``ax`` dropped) and dtypes."""
    out, offset = [], 0
    leaves, treedef = jax.tree.flatten(params)
    for p in leaves:
        shape = p.shape[:ax % p.ndim] + p.shape[ax % p.ndim + 1:]
        size = int(np.prod(shape, dtype=int))
        part = trajectory[:, :, offset:offset + size]
        out.append(part.reshape(part.shape[:2] + shape).astype(p.dtype))
        offset += size
    return treedef.unflatten(out)


def _train_in_blocks(spec: _Spec, data, params, opt_state, traj_idx, size: int) -> dict:
    """:func:`_train_runs` on consecutive blocks of ``size`` runs (fast path: run axis last).

    The chunk is padded to whole blocks with copies of its first runs (dropped afterwards);
    each block runs through all the steps before the next one starts. Full batch only (the
    fast path's condition), so no minibatch keys are needed.
    """
    n = jax.tree.leaves(params)[0].shape[-1]
    n_blocks = -(-n // size)
    if n_blocks == 1:  # no loop over blocks, no padding, no trajectory buffer: fewer kernels
        return _train_runs(spec, data, None, params, opt_state, traj_idx)
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
            buf = jnp.where(inside[:, None, None], out.pop("trajectory"), buf)
        return buf, out

    n_records = spec.steps // spec.record_every + 1
    if spec.n_traj:  # one (k, n_records, P) buffer, P as _traj_rows lays a run's params out
        row = jax.eval_shape(lambda p: _traj_rows(p, traj_idx, -1), params)
        buf = jnp.zeros((spec.n_traj, n_records) + row.shape[1:], row.dtype)
    else:
        buf = None
    xs = (jnp.arange(n_blocks), jax.tree.map(split, params), jax.tree.map(split, opt_state))
    buf, out = jax.lax.scan(one, buf, xs)
    losses = out.pop("losses")  # (n_blocks, size, n_records): run axis first
    out = jax.tree.map(join, out)
    out["losses"] = losses.reshape((n_blocks * size,) + losses.shape[2:])[:n]
    if spec.n_traj:
        out["trajectory"] = buf
    return out


def _chunk_program(spec: _Spec, key, run_ids, data, hyper, scale, starts, traj_idx):
    """Train the runs ``run_ids: (C,)`` of one chunk from ``starts`` (leaves ``(C, ...)``) or,
    when they are not given, from ``init_fn``; returns a dict of arrays (run axis 0)."""
    ax = _run_axis(spec)
    run_keys = jax.vmap(lambda i: jax.random.fold_in(key, i))(run_ids)
    params = starts if spec.given_starts else _draw_starts(spec.init_fn, key, run_ids)
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

    if spec.fast:
        width = jax.tree.leaves(params)[0].shape[-1]
        size = fast_block(spec.loss_fn, spec.n_samples, params, data, width)
        out = _train_in_blocks(spec, data, params, opt_state, traj_idx, size)
    else:
        out = _train_runs(spec, data, data_keys, params, opt_state, traj_idx)

    to_public = (lambda p: jnp.moveaxis(p, -1, 0)) if spec.fast else (lambda p: p)
    out["params"] = jax.tree.map(to_public, out["params"])
    out["grads"] = jax.tree.map(to_public, out["grads"])
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
        traj = out["trajectory"]
        out["trajectory"] = traj.reshape((n_dev, spec.n_traj) + traj.shape[1:])[owner, slot]
    if spec.n_traj:  # (k, n_records, P) -> leaves (k, n_records, ...), as one run's params
        out["trajectory"] = _traj_leaves(out["trajectory"], out["params"], 0)
    return out


# The fast path compiles with parallel.fast_cpu_options() on the CPU; the generic path keeps
# XLA's defaults (neither option changed its speed by more than the noise, +-10%).
#
# Cheaper compilation was measured and not adopted for the training programs (``python
# benchmarks/bench_train.py --cases options``, 2 devices, load 5-6, medians of per-round ratios;
# the numbers equal bit for bit under each): LLVM level 1 compiled the flagship's program, XOR
# 2-2-1 and 2-8-1 (10k x 2k) x0.90, x0.87, x0.94 as long but ran 2-8-1 x1.49 as long (x1.2-1.9
# over three sessions' probes); XLA's loop emitters instead of its fusion emitters compiled
# x0.59-0.68 but ran x1.46-1.69; 256-bit vectors compiled no faster. Level 0 changed the
# numbers.


def _draw_starts(init_fn: Callable, key, run_ids):
    """The starts of runs ``run_ids: (C,)``: run ``i`` draws ``init_fn(fold_in(fold_in(key, i), 0))``
    (the keys :func:`_chunk_program` gives a run; leaves ``(C, ...)``)."""
    keys = jax.vmap(lambda i: jax.random.fold_in(jax.random.fold_in(key, i), 0))(run_ids)
    return jax.vmap(init_fn)(keys)


@dataclasses.dataclass(frozen=True)
class _InitSpec:
    """An init function as a jit cache key, compared by :func:`value_key` like :class:`_Spec`."""

    init_fn: Callable = dataclasses.field(compare=False)
    callables: tuple = dataclasses.field(init=False)

    def __post_init__(self):
        object.__setattr__(self, "callables", value_key(self.init_fn))


_INIT_CPU_OPTIONS = {"xla_backend_optimization_level": 1, "xla_cpu_use_fusion_emitters": False}
"""Compiler options of the init program on the CPU (those this jaxlib knows): LLVM's level 1
compiles the random-number code (threefry) about 2x faster (14 inits, float32 and float64, 256
runs: 154 s -> 72 s on a loaded machine), and XLA's older loop emitters instead of its fusion
emitters 0.76x as long again (6 inits x float32/float64, 256 runs, CPU seconds of compilation,
medians of 2 rounds: 5.79 s -> 4.41 s at load ~3-5); both drew the same numbers bit for bit.
The program runs once per chunk: drawing 100,000 starts of XOR 2-8-1 took 0.96-1.06x as long.
Level 0 compiles faster still but changed the draws (normal, glorot, he, lecun, perturbed)."""


@functools.lru_cache(maxsize=32)
def _init_program(init: _InitSpec):
    """:func:`_draw_starts` of ``init.init_fn``, jitted on its own (one device)."""
    options = dict(parallel.compiler_options())
    if jax.default_backend() == "cpu":
        options.update(parallel.known_options(tuple(_INIT_CPU_OPTIONS.items())))
    return jax.jit(functools.partial(_draw_starts, init.init_fn), compiler_options=options)


@dataclasses.dataclass(frozen=True)
class _DrawThenTrain:
    """A chunk program that draws its starts: the init program, then the training program of
    the same spec with given starts (``train``). Called and lowered like a jitted program."""

    draw: Callable
    train: Callable

    def __call__(self, key, run_ids, data, hyper, scale, starts, traj_idx):
        return self.train(key, run_ids, data, hyper, scale, self.draw(key, run_ids), traj_idx)

    def lower(self, key, run_ids, data, hyper, scale, starts, traj_idx):
        shapes = jax.eval_shape(self.draw, key, run_ids)
        return self.train.lower(key, run_ids, data, hyper, scale, shapes, traj_idx)

    def _cache_size(self) -> int:
        """Compiled shapes of the training program (a jitted function's ``_cache_size``)."""
        return self.train._cache_size()


@functools.lru_cache(maxsize=32)
def _compiled(spec: _Spec):
    """One compiled chunk program per spec: repeated calls with the same spec and shapes reuse it.

    A spec that draws its starts unscaled gets a :class:`_DrawThenTrain`: its training program is
    that of given starts (:func:`_jitted`), shared by every init function (the flagship's three
    start kinds compile one training program, not three), and the init program is small; the
    runs' numbers are the same bit for bit. Scaled starts (``init_scale``) are still drawn inside
    the one program: apart, XLA rounded ``draw * scale`` differently (1 ulp in some starts).
    """
    if spec.given_starts or spec.scaled:
        return _jitted(spec)
    return _DrawThenTrain(_init_program(_InitSpec(spec.init_fn)),
                          _jitted(dataclasses.replace(spec, init_fn=None, given_starts=True)))


@functools.lru_cache(maxsize=32)
def _jitted(spec: _Spec):
    """:func:`_sharded_program` of ``spec``, jitted with :func:`landscape.parallel.compiler_options`
    (a run's numbers do not depend on the device count, Adam's included) and, on the fast path on
    the CPU, :func:`landscape.parallel.fast_cpu_options`."""
    options = dict(parallel.compiler_options())
    if spec.fast:
        options.update(parallel.fast_cpu_options())
    return jax.jit(functools.partial(_sharded_program, spec), compiler_options=options)

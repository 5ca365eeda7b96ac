"""Spreading the run (or point) axis over devices and processes with JAX's own machinery.

Devices. :func:`local_mesh` builds a 1-D :class:`jax.sharding.Mesh` over this process's devices
with the axis name ``"runs"``; :func:`shard_runs` wraps a per-device program in
:func:`jax.shard_map` so that every device runs the *same* program on its slice of the leading
axis. Because each device's slice keeps the shapes a one-device call would use (whole blocks of
runs or points, padded where the count does not divide), results are bit-identical to one
device. :func:`map_blocks` is the one helper the batched analysis functions share: a function
of a block of points, mapped over equal blocks with ``lax.map`` and the blocks spread over the
devices. :func:`point_block` picks the block size from the number of points alone (never from
the device count), which is what makes the numbers independent of the device count.

Processes. Several processes share a job through a results folder, not through collectives
(:mod:`landscape.lab.team`, :func:`landscape.lab.resumable.train_resumable`, ``docs/scaling.md``).

Host cores. On a CPU-only machine XLA keeps one core busy for the toolkit's small programs.
:func:`use_host_cores` (called by the ``landscape`` command, never by a library import) exposes
the cores as separate CPU devices so that the run axis is spread over them; without it, a job
split into :func:`concurrent_calls` groups puts the idle cores to work by calling one program
from several host threads at once (:func:`map_concurrently`).

>>> import jax, jax.numpy as jnp
>>> from landscape import parallel
>>> mesh = parallel.local_mesh()                      # all local devices, axis "runs"
>>> f = jax.jit(lambda x: parallel.map_blocks(lambda b: b * 2.0, x, block=4, mesh=mesh))
>>> f(jnp.arange(10.0)).shape
(10,)
"""

from __future__ import annotations

import contextlib
import functools
import os
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Callable, Sequence

import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import Mesh, PartitionSpec

__all__ = [
    "AXIS", "local_devices", "local_mesh", "mesh_size", "device_memory", "padded_count",
    "shard_runs", "point_block", "map_blocks", "use_host_cores", "compiler_options",
    "known_options", "fast_cpu_options", "InvariantJit", "idle_host_cores", "concurrent_calls",
    "map_concurrently",
]

AXIS = "runs"
"""Name of the mesh axis the run/point axis is split along."""

_BLOCK_TARGET = 64
""":func:`point_block` splits ``n`` points into ``ceil(n / 64)`` blocks ..."""
_MAX_BLOCKS = 16
"""... but at most this many, so a one-device call pays little for the loop over them."""


_INVARIANT_DISABLED_PASSES = ("cse",)
"""XLA passes left out of every compile of a sharded program (see :func:`compiler_options`)."""


def compiler_options() -> dict:
    """XLA compiler options that keep a program's rounding independent of the device count;
    pass them to :func:`jax.jit` (``compiler_options=``) of any program that uses
    :func:`shard_runs` or :func:`map_blocks`.

    A program split over several devices goes through XLA's SPMD partitioner, whose clean-up
    runs common-subexpression elimination (CSE) *before* the algebraic simplifier; a one-device
    program reaches the simplifier without it. Merged duplicates change which divisions
    ``a / broadcast(b)`` the simplifier turns into ``a * broadcast(1 / b)`` (two roundings
    instead of one): Adam's and AdamW's bias correction (a per-run scalar dividing every entry
    of the moments) then differed in the last bit on 2 or 4 devices from 1 device (measured:
    XLA CPU, jax 0.10). Without CSE both pipelines hand the simplifier the same program. The
    one-device numbers do not change and no slow-down was measured on the toolkit's programs.
    Passes the user disabled in ``XLA_FLAGS`` stay disabled.

    >>> compiler_options()["xla_disable_hlo_passes"].split(",")[-1]
    'cse'
    """
    disabled = []
    for flag in os.environ.get("XLA_FLAGS", "").split():
        if flag.startswith("--xla_disable_hlo_passes="):
            disabled += [p for p in flag.split("=", 1)[1].split(",") if p]
    disabled += [p for p in _INVARIANT_DISABLED_PASSES if p not in disabled]
    return {"xla_disable_hlo_passes": ",".join(disabled)}


_FAST_CPU_OPTIONS = (
    # XLA's experimental CPU fusion made the run-axis-last programs ~10x slower (jax 0.10).
    ("xla_cpu_experimental_ynn_fusion_type", ""),
    # 512-bit vectors along the run or point axis (on AVX-512 CPUs; a hint elsewhere): steps of
    # XOR 2-2-1 ~20% faster, 2-8-1 ~17%, teacher-student 10-32-1 ~13% (jax 0.10, one core); the
    # 51 x 51 slice of a 20-128-1 tanh net ~1.3-2x (session 6, interleaved in one process).
    ("xla_cpu_prefer_vector_width", 512),
)


def fast_cpu_options() -> dict:
    """Compiler options of the elementwise-heavy programs whose run or point axis is the
    vectorized one (training's fast path, the batched slices) on the CPU: the entries of
    :data:`_FAST_CPU_OPTIONS` that this jaxlib knows, ``{}`` on other backends. They change
    rounding in the last bit (vector reductions of another width) but not across device counts.

    >>> sorted(fast_cpu_options())  # on a CPU whose jaxlib knows both
    ['xla_cpu_experimental_ynn_fusion_type', 'xla_cpu_prefer_vector_width']
    """
    return known_options(_FAST_CPU_OPTIONS) if jax.default_backend() == "cpu" else {}


@functools.lru_cache(maxsize=None)
def known_options(options: tuple) -> dict:
    """The ``(name, value)`` pairs of ``options`` that this jaxlib's compiler accepts, as a dict
    (older jaxlibs lack some options; an unknown one fails the compile).

    >>> known_options((("xla_no_such_option", 1),))
    {}
    """
    known = {}
    for name, value in options:
        try:
            jax.jit(lambda x: x + 1, compiler_options={name: value}).lower(np.float32(0)).compile()
        except Exception:  # "No such compile option": skip it
            continue
        known[name] = value
    return known


class InvariantJit:
    """``jax.jit(fun, **jit_kwargs)`` compiled with ``options`` (default :func:`compiler_options`)
    when called at the top level; called on tracers (inside ``jit``, ``vmap``, ``grad``...) or
    where JAX stages it into an outer program (inside ``jit``, a ``lax.scan`` body, even on
    constants: :func:`_staged`), the plain ``jit``, whose rounding the outer program then
    decides (JAX refuses compiler options on a nested ``jit``). Decided before the call.

    >>> double = InvariantJit(lambda x: 2 * x)
    >>> float(double(1.0)), float(jax.jit(lambda x: double(x) + 1)(1.0))
    (2.0, 3.0)
    """

    def __init__(self, fun, options: dict | None = None, **jit_kwargs):
        options = compiler_options() if options is None else options
        self.top = jax.jit(fun, compiler_options=options, **jit_kwargs)
        self.nested = jax.jit(fun, **jit_kwargs)

    def __call__(self, *args, **kwargs):
        traced = any(isinstance(x, jax.core.Tracer) for x in jax.tree.leaves((args, kwargs)))
        return (self.nested if traced or _staged() else self.top)(*args, **kwargs)


def _staged() -> bool:
    """Whether what is computed here is staged into an outer program (inside ``jit``,
    ``eval_shape``, a ``lax.scan`` body...), where JAX refuses a nested ``jit``'s compiler
    options even on arguments that are not tracers: exactly where a new constant is a tracer.
    False at the top level and under ``vmap`` or ``grad`` alone.

    >>> _staged(), jax.jit(lambda x: x + _staged())(0).item(), jax.vmap(lambda x: x + _staged())(
    ...     jnp.zeros(1)).item()
    (False, 1, 0.0)
    """
    return isinstance(jax.lax.full((), 0), jax.core.Tracer)


def local_devices(devices=None) -> tuple:
    """The devices of this process to use: ``None`` all of them, an int ``n`` the first ``n``,
    or a sequence of this process's devices. Checked before any tracing.

    >>> len(local_devices(1))
    1
    """
    available = jax.local_devices()
    if devices is None:
        return tuple(available)
    if isinstance(devices, (bool, str)):
        raise TypeError(f"devices={devices!r} must be None, a device count or a sequence of "
                        "devices")
    if isinstance(devices, (int, np.integer)):
        if not 1 <= devices <= len(available):
            raise ValueError(f"devices={devices!r} must be between 1 and the {len(available)} "
                             f"local {available[0].platform} devices of this process")
        return tuple(available[: int(devices)])
    if isinstance(devices, jax.Device):
        devices = [devices]
    try:
        chosen = tuple(devices)
    except TypeError:
        raise TypeError(f"devices={devices!r} must be None, a device count or a sequence of "
                        "devices (e.g. jax.local_devices()[:2])") from None
    if not chosen:
        raise ValueError("devices=() is empty; expected at least one device (or None for all)")
    for d in chosen:
        if d not in available:
            raise ValueError(f"devices contains {d!r}, which is not a local device of this "
                             f"process; expected some of {available}")
    if len(set(chosen)) != len(chosen):
        raise ValueError(f"devices={devices!r} lists a device twice")
    return chosen


def local_mesh(devices=None) -> Mesh:
    """1-D mesh with axis :data:`AXIS` over :func:`local_devices` ``(devices)``.

    >>> local_mesh(1).shape
    OrderedDict([('runs', 1)])
    """
    return Mesh(np.array(local_devices(devices)), (AXIS,))


def mesh_size(mesh: Mesh | None) -> int:
    """Number of devices of ``mesh`` (1 for ``None``)."""
    return 1 if mesh is None else int(mesh.size)


def device_memory(mesh: Mesh) -> int | None:
    """Bytes each device of ``mesh`` may allocate (the smallest ``memory_stats()["bytes_limit"]``
    among them), or ``None`` where the backend does not report it (the CPU)."""
    limits = []
    for device in mesh.devices.flat:
        stats = device.memory_stats() or {}
        if "bytes_limit" not in stats:
            return None
        limits.append(int(stats["bytes_limit"]))
    return min(limits)


def padded_count(n: int, block: int, n_devices: int) -> int:
    """Smallest multiple of ``block * n_devices`` that is ``>= n``: every device then holds the
    same whole number of blocks.

    >>> padded_count(200, 64, 4)
    256
    """
    step = block * n_devices
    return -(-n // step) * step


def shard_runs(fn: Callable, mesh: Mesh | None, sharded: Sequence[bool]) -> Callable:
    """``fn`` run once per device of ``mesh`` (:func:`jax.shard_map`).

    Argument ``i`` is split along its leading axis over the devices when ``sharded[i]`` (its
    length must be a multiple of the device count), else every device gets all of it. Every
    output is joined along its leading axis in device order. ``fn`` itself when ``mesh`` is
    ``None`` or just this process's first (default) device. Use inside :func:`jax.jit`.
    """
    if mesh is None or tuple(mesh.devices.flat) == (jax.local_devices()[0],):
        return fn
    in_specs = tuple(PartitionSpec(AXIS) if s else PartitionSpec() for s in sharded)
    return jax.shard_map(fn, mesh=mesh, in_specs=in_specs, out_specs=PartitionSpec(AXIS),
                         check_vma=False)


def point_block(n: int, limit: int | None = None) -> int:
    """Points per block for ``n`` points split into ``ceil(n / 64)`` equal blocks, at most 16
    of them (more when ``limit``, a memory bound on the points per block, asks for smaller ones).

    It depends on ``n`` and ``limit`` only, never on the device count, so a point's result
    (computed in a block of this shape) is the same on any number of devices.

    >>> point_block(1000), point_block(100), point_block(10), point_block(1000, limit=50)
    (63, 50, 10, 50)
    """
    n_blocks = min(max(1, -(-n // _BLOCK_TARGET)), _MAX_BLOCKS)
    if limit is not None:
        n_blocks = max(n_blocks, -(-n // limit))
    return -(-n // n_blocks)


def map_blocks(block_fn: Callable, xs: Any, shared: tuple = (), *, block: int,
               mesh: Mesh | None = None) -> Any:
    """``block_fn(xs_block, *shared)`` over the leading axis of the pytree ``xs``, in blocks.

    ``xs`` (leaves ``(n, ...)``) is padded to whole blocks of ``block`` points, the same number
    of blocks on every device of ``mesh`` used (padding repeats rows from the first), each maps
    ``block_fn`` over its blocks with ``lax.map``, and the outputs (leaves ``(block, ...)`` per
    block) come back joined, leaves ``(n, ...)``. ``shared`` goes to every call unsplit. A
    point's result does not depend on the device count: when there are several blocks, only
    as many devices are used as get at least two each (XLA compiles a one-trip loop inline,
    where fusion, and so rounding, may differ from a loop body's: measured on the CPU). Use
    inside :func:`jax.jit` (``block`` and ``mesh`` static).

    >>> import jax.numpy as jnp
    >>> map_blocks(lambda b, s: b + s, jnp.arange(5.0), (10.0,), block=2).tolist()
    [10.0, 11.0, 12.0, 13.0, 14.0]
    """
    n = jax.tree.leaves(xs)[0].shape[0]
    n_blocks = -(-n // block)
    n_dev = min(mesh_size(mesh), -(-n_blocks // 2))  # devices with at least two blocks
    if n_dev < mesh_size(mesh):
        mesh = Mesh(mesh.devices.flat[:n_dev], (AXIS,))
    blocks_each = -(-n_blocks // n_dev)
    total = blocks_each * block * n_dev
    if total != n:
        rows = jnp.arange(total) % n
        xs = jax.tree.map(lambda a: jnp.take(a, rows, axis=0), xs)

    def per_device(xs, *shared):
        blocks = jax.tree.map(lambda a: a.reshape((-1, block) + a.shape[1:]), xs)
        out = jax.lax.map(lambda b: block_fn(b, *shared), blocks)
        return jax.tree.map(lambda a: a.reshape((-1,) + a.shape[2:]), out)

    out = shard_runs(per_device, mesh, (True,) + (False,) * len(shared))(xs, *shared)
    return jax.tree.map(lambda a: a[:n], out)


# ----------------------------------------------------------------------------- host cores

def _cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def idle_host_cores() -> int:
    """CPU cores this process may use beyond the CPU devices JAX exposes and the share of the
    host's other processes (see :func:`use_host_cores`; 0 on a GPU or TPU backend): cores
    :func:`use_host_cores` would put to work, had it been called before JAX started. One CPU
    device keeps about one core busy with the toolkit's small programs.

    >>> idle_host_cores() >= 0
    True
    """
    if jax.default_backend() != "cpu":
        return 0
    return max(0, _cores() // _sharing[0] - jax.local_device_count())


def concurrent_calls(n_devices: int) -> int:
    """How many calls of one program on ``n_devices`` devices are worth running at once, from
    host threads: ``1 +`` :func:`idle_host_cores` ``// n_devices`` (so 1 off the CPU, and 1
    when :func:`use_host_cores` already made every core a device).

    XLA's CPU client runs independent calls dispatched from different threads concurrently,
    even on one device, each on a core of its own: on one CPU device of a 2-core machine, XOR
    2-2-1, 10,000 runs x 2,000 steps in two groups of 5,056 runs from two threads took 0.24-0.39
    s against 0.39-0.65 s for one call of the whole chunk (same process, load average ~3).

    >>> concurrent_calls(jax.local_device_count()) >= 1
    True
    """
    return 1 + idle_host_cores() // max(int(n_devices), 1)


_THREAD_SETTINGS = {
    "jax_enable_x64": jax.enable_x64,
    "jax_default_matmul_precision": jax.default_matmul_precision,
    "jax_default_device": jax.default_device,
    "jax_numpy_dtype_promotion": jax.numpy_dtype_promotion,
    "jax_numpy_rank_promotion": jax.numpy_rank_promotion,
    "jax_debug_nans": jax.debug_nans,
    "jax_debug_infs": jax.debug_infs,
}
"""JAX settings a ``with`` block sets for its thread only (config name: its context manager):
:func:`map_concurrently` carries the caller's values into its threads."""


def _in_callers_settings(fn: Callable) -> Callable:
    """``fn`` run under the calling thread's values of :data:`_THREAD_SETTINGS` (a new thread
    would see the global ones: a caller inside ``jax.enable_x64(True)`` would trace in float32)."""
    values = {name: getattr(jax.config, name) for name in _THREAD_SETTINGS}

    def call(item):
        with contextlib.ExitStack() as stack:
            for name, value in values.items():
                stack.enter_context(_THREAD_SETTINGS[name](value))
            return fn(item)
    return call


def map_concurrently(fn: Callable, items: Sequence) -> list:
    """``[fn(item) for item in items]``, the calls made at once from one host thread each (in the
    caller's thread when there is at most one item), each under the caller's thread-local JAX
    settings (``jax.enable_x64``, ``jax.default_device``, ...); the first exception raised is
    re-raised.

    >>> map_concurrently(lambda x: x * x, [1, 2, 3])
    [1, 4, 9]
    >>> with jax.enable_x64(True):
    ...     map_concurrently(lambda x: str(jnp.asarray(x).dtype), [1.0, 2.0])
    ['float64', 'float64']
    """
    items = list(items)
    if len(items) <= 1:
        return [fn(item) for item in items]
    with ThreadPoolExecutor(max_workers=len(items)) as pool:
        return list(pool.map(_in_callers_settings(fn), items))


_sharing = [1]
"""The processes sharing this host's cores, as :func:`use_host_cores` was told (the cores of
the others are not idle)."""


def use_host_cores(n: int | None = None, *, sharing: int = 1) -> int | None:
    """Expose ``n`` CPU cores (default: all this process may use, divided by ``sharing``, the
    processes of this host that share them) as separate CPU devices, so
    that :func:`landscape.train_many` and the batched analysis functions spread their runs over
    them. Returns the device count set, or ``None`` when nothing was changed: the user already
    chose one (``XLA_FLAGS=--xla_force_host_platform_device_count``, ``JAX_NUM_CPU_DEVICES`` or
    ``jax_num_cpu_devices``), or JAX has already started its backends (call this first).

    It only affects the CPU backend. The ``landscape`` command calls it; importing the library
    never does.
    """
    if n is None:
        n = max(1, _cores() // max(1, int(sharing)))
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
        raise ValueError(f"n={n!r} must be a positive number of CPU devices (or None for all "
                         "cores)")
    if ("xla_force_host_platform_device_count" in os.environ.get("XLA_FLAGS", "")
            or "JAX_NUM_CPU_DEVICES" in os.environ or jax.config.jax_num_cpu_devices != -1):
        return None
    try:
        jax.config.update("jax_num_cpu_devices", int(n))
    except RuntimeError:  # backends already initialized: too late to change
        return None
    _sharing[0] = max(1, int(sharing))
    return int(n)

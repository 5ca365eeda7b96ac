"""Slices: the metric on 1D and 2D grids of points around a center, and at a batch of points.

:func:`slice_1d` evaluates ``metric(center + t d)`` for ``t`` in any 1-D grid and :func:`slice_2d`
``metric(center + a d1 + b d2)`` on the product of two 1-D grids; ``values[i, j]`` belongs to
``(alphas[i], betas[j])`` (``indexing="ij"``, shape ``(len(alphas), len(betas))``, any lengths).
All points are evaluated by **one** jitted program: a ``vmap`` over equal blocks of points
(:func:`landscape.parallel.point_block`, the grid padded to whole blocks) and a ``lax.map`` over
the blocks, spread over the local devices (``devices``: ``None`` all, an int ``n`` the first
``n``, or a sequence of devices; the numbers do not depend on it), so memory is bounded and
there is one compilation. ``block_size`` bounds the points per block; the default fits a budget
of working set (:func:`_block_floats`: 2**19 floats on the CPU, so that a block's activations
stay in a core's cache, 2**24 on accelerators), estimated from the number of params and the data
size (a metric may declare ``floats_per_point(n_params)``, as
:func:`landscape.surface.min_eigenvalue` does). The ``metric`` is a static argument: pass the
same object again to reuse the compiled program. The programs compile with
:func:`landscape.parallel.compiler_options`, like training: a point's value does not depend on
the device count; on the CPU also with :func:`landscape.parallel.fast_cpu_options` (512-bit
vectors: the 51 x 51 slice of a 20-128-1 tanh net ~1.3-2x faster).

When the metric is made of an ``ls.mlp`` model (``ls.objectives.loss``, ``success``,
:func:`~landscape.surface.accuracy`, :func:`~landscape.surface.grad_norm`, ...), the params are
checked against that model's layout before tracing (:func:`landscape._checks.params_of_loss`),
and directions against the params (:func:`landscape._checks.params_like`).

Evaluation methods (``"vmap"``, ``"batched"``, ``"auto"``): see :mod:`landscape.surface.metrics`.
"""

from __future__ import annotations

import dataclasses
import functools

import jax
import jax.numpy as jnp
import numpy as np

from .. import _checks, parallel
from . import affine
from ._common import _grid
from .directions import Direction, _direction
from .metrics import _METHODS, _batched_fn, _check_point, _metric_name, _resolve_method

__all__ = ["evaluate_points", "Slice1D", "Slice2D", "slice_1d", "slice_2d"]

_BLOCK_FLOATS = {"cpu": 2**19}
"""Working-set budget of one block of points, in floats, by backend (others: 2**24). On the CPU
a block's activations should stay in one core's L2 cache (2 MiB here; each core runs its own
blocks, :func:`_in_parts`): a 51 x 51 slice of a 20-128-1 tanh net on 512 samples took 1.5 s
with 2**24 (163 points per block, 43 MB of hidden activations per block), 0.15 s with 2**20 (10
points) and, once the first layer's data products were made once per block
(:mod:`landscape.surface.affine`), 118 ms of CPU time with 10 points against 99 ms with 5
(2**19), on a 2-core CPU."""


def _block_floats() -> int:
    """Working-set budget of one block on the default backend (:data:`_BLOCK_FLOATS`)."""
    return _BLOCK_FLOATS.get(jax.default_backend(), 2**24)


# --------------------------------------------------------------------------------------------
# the one compiled program: a metric over blocks of points


def _data_floats(data) -> int:
    return sum(int(np.size(leaf)) for leaf in jax.tree_util.tree_leaves(data))


def _point_block(metric, n_params, data, m, block_size):
    """Points per block for ``m`` points: at most ``block_size``, default within the budget."""
    if block_size is None:
        hint = getattr(metric, "floats_per_point", None)
        per = int(hint(n_params)) if callable(hint) else 4 * n_params + 8 * _data_floats(data) + 64
        block_size = max(1, _block_floats() // per)
    return parallel.point_block(m, block_size)


def _along(center, dirs, c, trailing):
    """``center + sum_i c_i d_i``; with ``trailing`` the coordinates ``c: (k, m)`` add a last axis."""
    def leaf(p0, *ds):
        if trailing:
            return p0[..., None] + sum(d.astype(p0.dtype)[..., None] * c[i].astype(p0.dtype)
                                       for i, d in enumerate(ds))
        return p0 + sum(c[i].astype(p0.dtype) * d.astype(p0.dtype) for i, d in enumerate(ds))
    return jax.tree.map(leaf, center, *dirs)


def _slice_impl(center, dirs, coords, data, *, metric, block, mesh, batched):
    dtype = jnp.result_type(*[leaf.dtype for leaf in jax.tree_util.tree_leaves(center)])
    if batched:
        fn = _batched_fn(metric)
        per_block = lambda cs, center, dirs, data: fn(_along(center, dirs, cs.T, True), data)  # noqa: E731
    else:
        per_block = jax.vmap(lambda c, center, dirs, data: affine.along(metric, center, dirs, c, data),
                             in_axes=(0, None, None, None))
    values = parallel.map_blocks(per_block, coords, (center, dirs, data), block=block, mesh=mesh)
    return values.astype(dtype), metric(center, data).astype(dtype)


def _points_impl(params, data, *, metric, block, mesh, batched):
    dtype = jnp.result_type(*[leaf.dtype for leaf in jax.tree_util.tree_leaves(params)])
    if batched:
        fn = _batched_fn(metric)
        per_block = lambda p, data: fn(jax.tree.map(lambda a: jnp.moveaxis(a, 0, -1), p), data)  # noqa: E731
    else:
        per_block = jax.vmap(lambda p, data: metric(p, data), in_axes=(0, None))
    return parallel.map_blocks(per_block, params, (data,), block=block, mesh=mesh).astype(dtype)


@functools.lru_cache(maxsize=None)
def _program(kind: str, batched: bool):
    """One jitted program per (kind, method); the metric, block and mesh are static arguments."""
    # rounding independent of the device count; elementwise work vectorized along the points
    options = {**parallel.compiler_options(), **parallel.fast_cpu_options()}
    impl = {"slice": _slice_impl, "points": _points_impl}[kind]
    return parallel.InvariantJit(functools.partial(impl, batched=batched), options,
                                 static_argnames=("metric", "block", "mesh"))


def _dtype_of(leaf):
    dtype = getattr(leaf, "dtype", None)
    return np.dtype(dtype) if dtype is not None else np.asarray(leaf).dtype


def _abstract(tree):
    leaves, treedef = jax.tree_util.tree_flatten(tree)
    return treedef, tuple((tuple(np.shape(leaf)), _dtype_of(leaf)) for leaf in leaves)


@functools.lru_cache(maxsize=256)
def _scalar_check(metric, params_abstract, data_abstract):
    def structs(abstract):
        treedef, specs = abstract
        return jax.tree_util.tree_unflatten(treedef, [jax.ShapeDtypeStruct(s, d) for s, d in specs])

    try:
        out = jax.eval_shape(metric, structs(params_abstract), structs(data_abstract))
    except Exception as err:
        raise ValueError(f"metric(params, data) failed on these params and data: {err}") from err
    if getattr(out, "shape", None) != ():
        raise ValueError(f"metric(params, data) must return a scalar, got shape "
                         f"{getattr(out, 'shape', out)}")


def _check_scalar_metric(metric, params, data):
    """``metric(params, data)`` must trace to a scalar (checked once per metric and shapes)."""
    _scalar_check(metric, _abstract(params), _abstract(data))


def _in_parts(call, xs, block: int, mesh) -> list:
    """``[call(part) ...]`` over equal parts of whole blocks of the leading axis of the pytree
    ``xs`` (rows repeated from the first to fill the last), dispatched concurrently from threads
    (:func:`landscape.parallel.map_concurrently`): one CPU device runs a program on about one
    core, so a one-device mesh gets one part per idle core
    (:func:`landscape.parallel.concurrent_calls`), each of at least two blocks. Every part maps
    the same blocks through the same compiled program, so a point's value does not depend on
    the number of parts."""
    n = jax.tree.leaves(xs)[0].shape[0]
    n_blocks = -(-n // block)
    parts = max(1, min(parallel.concurrent_calls(parallel.mesh_size(mesh)), n_blocks // 2))
    if parts == 1:
        return [call(xs)]
    each = -(-n_blocks // parts) * block
    rows = np.arange(each * parts) % n
    chunks = [jax.tree.map(lambda a, r=rows[i * each:(i + 1) * each]: a[r], xs)
              for i in range(parts)]
    return parallel.map_concurrently(lambda chunk: jax.block_until_ready(call(chunk)), chunks)


def _evaluate_along(metric, center, dirs, coords, data, block_size, method, mesh, *,
                    with_center=False):
    """``metric(center + sum_i coords[:, i] d_i)`` for coords ``(m, k)`` (float64): NumPy ``(m,)``
    (and ``metric(center)``, computed in the same program, with ``with_center``)."""
    batched = _resolve_method(metric, method, data) == "batched"
    m = coords.shape[0]
    n_params = sum(int(np.size(leaf)) for leaf in jax.tree_util.tree_leaves(center))
    block = _point_block(metric, n_params, data, m, block_size)
    dtype = jnp.result_type(*[leaf.dtype for leaf in jax.tree_util.tree_leaves(center)])
    program = functools.partial(_program("slice", batched), center, tuple(dirs), data=data,
                                metric=metric, block=block, mesh=mesh)
    outs = _in_parts(lambda cs: program(coords=cs), coords.astype(dtype), block, mesh)
    values = np.concatenate([np.asarray(out) for out, _ in outs])[:m]
    return (values, float(outs[0][1])) if with_center else values


def evaluate_points(metric, params, data, *, block_size=None, method="auto",
                    devices=None) -> np.ndarray:
    """``metric(params[i], data)`` for each row of a batch ``params`` (leaves ``(m, ...)``), one
    compiled program in blocks like the slices. Returns NumPy ``(m,)``.

    >>> import jax.numpy as jnp
    >>> quad = lambda p, a: 0.5 * jnp.sum(a * p**2)  # Hessian diag(a) everywhere
    >>> a = jnp.array([1.0, 2.0, -3.0])
    >>> evaluate_points(quad, jnp.eye(3), a).tolist()  # the 3 unit vectors
    [0.5, 1.0, -1.5]
    """
    _checks.loss_fn(metric, "metric")
    m = _checks.batch_size(params, "params")
    block_size = _checks.optional_count("block_size", block_size)
    mesh = parallel.local_mesh(devices)
    _check_point(metric, params, n_batch_axes=1)
    batched = _resolve_method(metric, method, data) == "batched"
    one = jax.tree.map(lambda a: a[0], params)
    _check_scalar_metric(metric, one, data)
    n_params = sum(int(np.size(leaf)) for leaf in jax.tree_util.tree_leaves(one))
    block = _point_block(metric, n_params, data, m, block_size)
    program = functools.partial(_program("points", batched), data=data, metric=metric, block=block,
                                mesh=mesh)
    outs = _in_parts(lambda p: program(p), params, block, mesh)
    return np.concatenate([np.asarray(out) for out in outs])[:m]


# --------------------------------------------------------------------------------------------
# slices


@dataclasses.dataclass(frozen=True, eq=False)
class Slice1D:
    """``values[i] = metric(center + ts[i] * d)``; ``center_value = metric(center)``, the metric
    at the center itself (not through the grid formula; a sanity check against the grid's value at
    ``t = 0`` and the training loss there)."""

    ts: np.ndarray
    values: np.ndarray
    center_value: float
    direction: Direction
    metric_name: str

    @property
    def xlabel(self) -> str:
        return self.direction.label


class _PlaneLabels:
    """Axis labels of a result laid out on the plane of directions ``d1`` and ``d2``."""

    @property
    def xlabel(self) -> str:
        return self.d1.label

    @property
    def ylabel(self) -> str:
        return self.d2.label


@dataclasses.dataclass(frozen=True, eq=False)
class Slice2D(_PlaneLabels):
    """``values[i, j] = metric(center + alphas[i] d1 + betas[j] d2)``, shape
    ``(len(alphas), len(betas))`` (``indexing="ij"``: transpose for ``contourf(alphas, betas, .)``);
    ``center_value = metric(center)``, the metric at the center itself (not through the grid)."""

    alphas: np.ndarray
    betas: np.ndarray
    values: np.ndarray
    center_value: float
    d1: Direction
    d2: Direction
    metric_name: str


def slice_1d(metric, center, data, direction, ts, *, block_size=None, method="auto",
             devices=None) -> Slice1D:
    """``metric(center + t d, data)`` for every ``t`` in the 1-D grid ``ts`` (one compiled call;
    see the module docstring for blocks and ``method``). Returns :class:`Slice1D`
    (``values`` shaped like ``ts``).

    >>> import jax.numpy as jnp
    >>> quad = lambda p, a: 0.5 * jnp.sum(a * p**2)  # Hessian diag(a) everywhere
    >>> a = jnp.array([1.0, 2.0, -3.0])
    >>> line = slice_1d(quad, jnp.zeros(3), a, jnp.array([1.0, 0.0, 0.0]), [-1.0, 0.0, 1.0])
    >>> line.values.tolist(), line.center_value
    ([0.5, 0.0, 0.5], 0.0)
    """
    _checks.loss_fn(metric, "metric")
    _check_point(metric, center, "center")
    d, direction = _direction(direction, center, "direction")
    ts = _grid("ts", ts)
    block_size = _checks.optional_count("block_size", block_size)
    mesh = parallel.local_mesh(devices)
    _checks.choice("method", method, _METHODS)
    _check_scalar_metric(metric, center, data)
    values, center_value = _evaluate_along(metric, center, [d], ts[:, None], data, block_size,
                                           method, mesh, with_center=True)
    return Slice1D(ts, values, center_value, direction, _metric_name(metric))


def slice_2d(metric, center, data, d1, d2, alphas, betas, *, block_size=None,
             method="auto", devices=None) -> Slice2D:
    """``metric(center + a d1 + b d2, data)`` on the grid ``alphas x betas`` (any lengths), as
    one compiled call in blocks of bounded memory. ``values`` has shape
    ``(len(alphas), len(betas))``. Returns :class:`Slice2D`.

    >>> import jax.numpy as jnp
    >>> quad = lambda p, a: 0.5 * jnp.sum(a * p**2)  # Hessian diag(a) everywhere
    >>> a = jnp.array([1.0, 2.0, -3.0])
    >>> d1, d2 = jnp.array([1.0, 0.0, 0.0]), jnp.array([0.0, 0.0, 1.0])
    >>> surface = slice_2d(quad, jnp.zeros(3), a, d1, d2, [-1.0, 0.0, 1.0], [0.0, 1.0])
    >>> surface.values.tolist()  # 0.5 alpha^2 - 1.5 beta^2
    [[0.5, -1.0], [0.0, -1.5], [0.5, -1.0]]
    """
    _checks.loss_fn(metric, "metric")
    _check_point(metric, center, "center")
    t1, d1 = _direction(d1, center, "d1")
    t2, d2 = _direction(d2, center, "d2")
    alphas, betas = _grid("alphas", alphas), _grid("betas", betas)
    block_size = _checks.optional_count("block_size", block_size)
    mesh = parallel.local_mesh(devices)
    _checks.choice("method", method, _METHODS)
    _check_scalar_metric(metric, center, data)
    a, b = np.meshgrid(alphas, betas, indexing="ij")
    coords = np.stack([a.ravel(), b.ravel()], axis=1)
    values, center_value = _evaluate_along(metric, center, [t1, t2], coords, data, block_size,
                                           method, mesh, with_center=True)
    return Slice2D(alphas, betas, values.reshape(len(alphas), len(betas)), center_value, d1, d2,
                   _metric_name(metric))

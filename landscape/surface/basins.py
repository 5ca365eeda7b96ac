"""Basin maps: train from every point of a 2D slice and label where each run ends.

:func:`basin_map` trains from every point of a 2D grid (the grid points are the ``starts`` of
one :func:`landscape.train_many` call) and labels where each run ends, with the negative gradient
projected on the plane. Plots: :func:`landscape.plotting.plot_basin_map`.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from .. import _checks, parallel, status
from ..objectives import Loss
from ..train import train_many
from ._common import _flat64, _grid
from .directions import Direction, _direction
from .metrics import _METHODS, _check_point
from .slices import _PlaneLabels, _along, _check_scalar_metric, _point_block

__all__ = ["BasinMap", "basin_map"]

_MAX_LEVELS = 8
"""At most this many decades of final loss are told apart by the default basin labels."""



@dataclasses.dataclass(frozen=True, eq=False)
class BasinMap(_PlaneLabels):
    """Where training from each point of a 2D slice ends (arrays ``(len(alphas), len(betas))``).

    labels: int class of each run's end, names in ``label_names`` (from ``classify``, or final
        loss levels; runs that became non-finite get the last class ``"nonfinite"`` if any).
    final_loss: loss at the end; status: run status codes (:data:`landscape.status.RUN`).
    start_values: the loss at the grid points (the slice itself).
    flow: ``(len(alphas), len(betas), 2)``: the negative gradient at the grid points, projected
        on the plane, in plane coordinates (for a quiver).
    final_params: pytree, leaves ``(len(alphas) * len(betas), ...)`` in row-major ``(i, j)`` order.
    labelled_by: ``"classify"`` or ``"loss level"``; steps: training steps per run.
    """

    alphas: np.ndarray
    betas: np.ndarray
    labels: np.ndarray
    label_names: tuple[str, ...]
    final_loss: np.ndarray
    status: np.ndarray
    start_values: np.ndarray
    flow: np.ndarray
    final_params: Any
    d1: Direction
    d2: Direction
    labelled_by: str
    steps: int


def _starts_and_slopes_impl(center, dirs, coords, data, *, loss_fn, block, mesh):
    """The points ``center + c_0 d_0 + c_1 d_1`` for the rows ``c`` of ``coords (m, 2)`` (leaves
    ``(m, ...)``) and the loss's slopes there along the directions, ``d/dc loss_fn(point, data)``
    (the gradient's components ``D g``): ``(m, 2)``, computed in blocks."""
    point = lambda c, center, dirs: _along(center, dirs, c, False)  # noqa: E731
    slope = jax.grad(lambda c, center, dirs, data: loss_fn(point(c, center, dirs), data))
    per_block = jax.vmap(slope, in_axes=(0, None, None, None))
    slopes = parallel.map_blocks(per_block, coords, (center, dirs, data), block=block, mesh=mesh)
    return jax.vmap(point, in_axes=(0, None, None))(coords, center, dirs), slopes


_starts_and_slopes = parallel.InvariantJit(_starts_and_slopes_impl,
                                          static_argnames=("loss_fn", "block", "mesh"))


def _loss_levels(final_loss, ok, levels):
    """Labels by final-loss level: bins between the increasing thresholds ``levels``."""
    if levels is None:
        good = final_loss[ok & np.isfinite(final_loss) & (final_loss > 0)]
        if good.size == 0:
            levels = np.array([1.0])
        else:
            hi = int(np.ceil(np.log10(good.max())))
            lo = max(int(np.floor(np.log10(good.min()))), hi - _MAX_LEVELS)
            levels = 10.0 ** np.arange(lo + 1, hi) if hi - lo >= 2 else np.array([10.0 ** hi])
    levels = np.asarray(levels, np.float64)
    if levels.ndim != 1 or levels.size == 0 or np.any(np.diff(levels) <= 0) or not np.all(np.isfinite(levels)):
        raise ValueError(f"loss_levels={levels!r} must be a non-empty increasing 1-D array of thresholds")
    labels = np.searchsorted(levels, final_loss, side="right")
    fmt = lambda v: f"{v:.3g}"  # noqa: E731
    names = [f"loss < {fmt(levels[0])}"]
    names += [f"{fmt(lo)} ≤ loss < {fmt(hi)}" for lo, hi in zip(levels[:-1], levels[1:])]
    names.append(f"loss ≥ {fmt(levels[-1])}")
    return labels, names


def basin_map(loss_fn, center, data, d1, d2, alphas, betas, *, optimizer, steps, classify=None,
              label_names=None, loss_levels=None, chunk_size=None, method="auto",
              devices=None, progress=None) -> BasinMap:
    """Train from every point ``center + a d1 + b d2`` of the grid and label where each run ends.

    The grid points are the ``starts`` of one :func:`landscape.train_many` call: full-batch
    training with ``optimizer`` (any optax transformation) for ``steps`` steps, a run whose loss
    or gradient becomes non-finite frozen there with status ``nonfinite``. ``chunk_size`` (runs
    per compiled call, all devices together), ``method`` (``"auto"``, ``"vmap"`` or
    ``"batched"``: the trainer's run-axis-last path for an MLP loss of
    :func:`landscape.objectives.loss`), ``devices`` and ``progress`` are ``train_many``'s; the
    numbers do not depend on the chunk size or the devices.

    Labels: ``classify(final_params) -> (m,) int`` when given (e.g. the minima module's
    clustering; ``final_params`` leaves ``(m, ...)``, row-major over the grid; names from
    ``label_names`` or ``classify.label_names`` or the codes), else final-loss levels: bins
    between the thresholds ``loss_levels`` (default: the decades spanned by the final losses, at
    most 8). Non-finite runs get an extra last class ``"nonfinite"``.

    >>> import jax.numpy as jnp, numpy as np, optax
    >>> wells = lambda p, _: (p[0] ** 2 - 1) ** 2 + p[1] ** 2  # minima at (+-1, 0)
    >>> bm = basin_map(wells, jnp.zeros(2), None, jnp.array([1.0, 0.0]), jnp.array([0.0, 1.0]),
    ...                np.linspace(-1.5, 1.5, 4), np.linspace(-1, 1, 3), optimizer=optax.sgd(0.05),
    ...                steps=300, classify=lambda p: (np.asarray(p)[:, 0] > 0).astype(int))
    >>> bm.labels.tolist()  # rows: alphas; the line a = 0 splits the two basins
    [[0, 0, 0], [0, 0, 0], [1, 1, 1], [1, 1, 1]]
    """
    _checks.loss_fn(loss_fn)
    _check_point(loss_fn, center, "center")
    t1, d1 = _direction(d1, center, "d1")
    t2, d2 = _direction(d2, center, "d2")
    alphas, betas = _grid("alphas", alphas), _grid("betas", betas)
    _checks.optimizer(optimizer)
    steps = _checks.count("steps", steps)
    chunk_size = _checks.optional_count("chunk_size", chunk_size)
    mesh = parallel.local_mesh(devices)
    if classify is not None:
        _checks.function("classify", classify, "classify(params_batch) -> labels")
    _checks.choice("method", method, _METHODS)
    if method == "batched" and not isinstance(loss_fn, Loss):
        raise ValueError(f"method='batched' needs an MLP loss from landscape.objectives.loss; got {loss_fn!r}")
    _check_scalar_metric(loss_fn, center, data)

    a, b = np.meshgrid(alphas, betas, indexing="ij")
    dtype = jnp.result_type(*[leaf.dtype for leaf in jax.tree_util.tree_leaves(center)])
    coords = jnp.asarray(np.stack([a.ravel(), b.ravel()], axis=1), dtype)
    m = coords.shape[0]
    n_params = sum(int(np.size(leaf)) for leaf in jax.tree_util.tree_leaves(center))
    block = _point_block(loss_fn, n_params, data, m, None)
    starts, slopes = _starts_and_slopes(center, (t1, t2), coords, data, loss_fn=loss_fn, block=block,
                                        mesh=mesh)
    run = train_many(loss_fn, None, optimizer, data, starts=starts, steps=steps, record_every=steps,
                     chunk_size=chunk_size, method=method, devices=devices, progress=progress)
    final_params, final_loss, start_loss = run.params, run.final_loss, run.losses[:, 0]
    alive = run.status == status.RUN.code("ok")

    if classify is not None:
        labels = np.asarray(classify(final_params))
        if labels.shape != (m,) or not np.issubdtype(labels.dtype, np.integer):
            raise ValueError(f"classify(final_params) must return {m} integer labels (shape ({m},)); "
                             f"got shape {labels.shape}, dtype {labels.dtype}")
        if labels.size and labels.min() < 0:
            raise ValueError("classify(final_params) returned negative labels; expected codes >= 0")
        names = label_names or getattr(classify, "label_names", None)
        top = int(labels.max()) + 1 if labels.size else 0
        names = list(names) if names is not None else [str(i) for i in range(top)]
        if len(names) < top:
            raise ValueError(f"label_names has {len(names)} names but classify returned code {top - 1}")
        labelled_by = "classify"
    else:
        labels, names = _loss_levels(final_loss, alive, loss_levels)
        labelled_by = "loss level"
    labels = labels.astype(np.int64)
    if not np.all(alive):
        labels = np.where(alive, labels, len(names))
        names = list(names) + ["nonfinite"]

    # negative gradient at the starts, projected on the plane, in plane coordinates: the
    # least-squares solution of D^T f = -g is f = -(D D^T)^-1 D g, and D g are the slopes
    dmat = np.stack([_flat64(t1), _flat64(t2)])
    flow = -np.linalg.solve(dmat @ dmat.T, np.asarray(slopes, np.float64).T).T

    shape = (len(alphas), len(betas))
    return BasinMap(alphas, betas, labels.reshape(shape), tuple(names), final_loss.reshape(shape),
                    run.status.reshape(shape), start_loss.reshape(shape), flow.reshape(shape + (2,)),
                    final_params, d1, d2, labelled_by, steps)

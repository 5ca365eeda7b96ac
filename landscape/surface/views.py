"""The view of the symmetric equilibrium: the plane through it spanned by the symmetric direction
of descent and the most unstable symmetry-breaking direction, with the surface and projected
trajectories. Plots: :func:`landscape.plotting.plot_symmetric_view`.
"""

from __future__ import annotations

import dataclasses

import jax
import numpy as np

from .. import _checks, parallel
from .._checks import float_leaves
from ._common import _check_batch_like, _flat64
from .directions import _breaking, _one_network, _symmetric_descent
from .metrics import _metric_name
from .paths import Plane, TrajectoryProjection, _true_and_plane_values, project_trajectory
from .slices import Slice2D, slice_2d

__all__ = ["SymmetricView", "symmetric_view"]



@dataclasses.dataclass(frozen=True, eq=False)
class SymmetricView:
    """The surface around the symmetric equilibrium (see :func:`symmetric_view`).

    plane: origin at the equilibrium, ``d1`` the symmetric direction, ``d2`` the most unstable
    breaking direction (``d2.info["eigenvalue"]`` its curvature). surface: :class:`Slice2D` on
    that plane. constant: projection of the constant-start trajectory (or None); random: those
    of the random-start trajectories. equilibrium_loss: the loss at the origin.
    """

    plane: Plane
    surface: Slice2D
    constant: TrajectoryProjection | None
    random: tuple[TrajectoryProjection, ...]
    breaking_eigenvalue: float
    symmetric_source: str
    equilibrium_loss: float


def _trajectories(value, name):
    """A pytree with leaves ``(k, T, ...)`` (or a TrainResult's ``trajectory``)."""
    if value is None:
        return None
    traj = getattr(value, "trajectory", value)
    if traj is None:
        raise ValueError(f"{name} has no recorded trajectory (train with trajectory_runs=...)")
    return traj


def _extent(values, margin):
    lo, hi = float(np.min(values)), float(np.max(values))
    lo, hi = min(lo, 0.0), max(hi, 0.0)
    span = hi - lo
    if span == 0:
        span = 1.0
    return lo - margin * span, hi + margin * span


def _project_runs(pl, runs, loss_fn, data, *, block_size, method, devices):
    """:func:`project_trajectory` of ``k`` runs (leaves ``(k, T, ...)``): the plane coordinates
    run by run (host least squares, as for one run), the losses of all ``k T`` points in one
    compiled call each (true and in-plane); one projection per run."""
    k, t = jax.tree.leaves(runs)[0].shape[:2]
    per_run = [pl.coordinates(jax.tree.map(lambda a, i=i: a[i], runs)) for i in range(k)]
    coords = np.concatenate([c for c, _ in per_run])
    flat = jax.tree.map(lambda a: a.reshape((k * t,) + a.shape[2:]), runs)
    true, in_plane = _true_and_plane_values(pl, flat, coords, loss_fn, data, block_size, method,
                                            devices)
    rows = [slice(i * t, (i + 1) * t) for i in range(k)]
    return tuple(TrajectoryProjection(c, resid, true[r], in_plane[r], f"random start {i + 1}",
                                      _metric_name(loss_fn))
                 for i, ((c, resid), r) in enumerate(zip(per_run, rows)))


def symmetric_view(loss_fn, equilibrium, data, *, model, constant_trajectory=None,
                   random_trajectories=None, alphas=None, betas=None, n_points=101,
                   margin=0.15, grad_tol=None, block_size=None, method="auto", devices=None) -> SymmetricView:
    """The plane through the symmetric equilibrium that shows why a constant start stays stuck.

    ``equilibrium`` is the end of a trained-from-constant run (or the symmetric equilibrium of
    :mod:`landscape.symmetry`); ``None`` takes the last point of ``constant_trajectory``. The
    plane is spanned by ``d1`` = :func:`symmetric_descent_direction` there (falling back to the
    constant trajectory's displacement, last minus first point, when the symmetric gradient
    vanishes) and ``d2`` = the most unstable :func:`breaking_directions` mode (both unit).
    ``model``: anything :func:`landscape.units.layout` takes (as in
    :func:`symmetric_descent_direction`), resolved once against ``equilibrium``.

    ``constant_trajectory``: leaves ``(T, ...)``; ``random_trajectories``: leaves ``(k, T, ...)``
    (or a :class:`landscape.TrainResult` recorded with ``trajectory_runs``). Both are projected
    with their true loss and off-plane residual. The grid (``n_points`` per axis) spans the
    projected trajectories and the origin with a relative ``margin`` unless ``alphas``/``betas``
    are given. Returns :class:`SymmetricView`; draw it with
    :func:`landscape.plotting.plot_symmetric_view`.

    >>> import jax, landscape as ls
    >>> model = ls.mlp([2, 2, 1])
    >>> params = ls.inits.constant(model, 0.5)(jax.random.key(0))  # the symmetric start
    >>> view = symmetric_view(ls.objectives.loss(model), params, ls.datasets.xor(), model=model,
    ...                       n_points=5)  # params: in practice the end of a constant-start run
    >>> view.surface.values.shape, view.symmetric_source, view.plane.d2.name
    ((5, 5), 'gradient', 'breaking mode 1')
    """
    _checks.loss_fn(loss_fn)
    const = _trajectories(constant_trajectory, "constant_trajectory")
    if const is not None and hasattr(constant_trajectory, "trajectory"):
        const = jax.tree.map(lambda a: a[0], const)  # first recorded run of a TrainResult
    rand = _trajectories(random_trajectories, "random_trajectories")
    if equilibrium is None:
        if const is None:
            raise ValueError("equilibrium=None needs constant_trajectory (its last point is used)")
        equilibrium = jax.tree.map(lambda a: a[-1], const)
    float_leaves(equilibrium, "equilibrium")
    spec = _one_network(model, equilibrium, "equilibrium")
    n_points = _checks.count("n_points", n_points, minimum=2)
    margin = _checks.real("margin", margin)
    parallel.local_devices(devices)  # checked before the work below
    if const is not None:
        _check_batch_like("constant_trajectory", const, equilibrium, "equilibrium")
    n_random = 0
    if rand is not None:
        n_random = _check_batch_like("random_trajectories", jax.tree.map(lambda a: a[:, 0], rand),
                                     equilibrium, "equilibrium")
    fallback = None
    if const is not None:
        fallback = jax.tree.map(lambda a: a[-1] - a[0], const)
        if float(np.linalg.norm(_flat64(fallback))) == 0:
            fallback = None
    d1 = _symmetric_descent(loss_fn, equilibrium, data, spec, fallback, grad_tol)
    (d2,) = _breaking(loss_fn, equilibrium, data, spec, 1)
    pl = Plane(equilibrium, d1, d2, np.zeros((1, 2)), ("equilibrium",))
    proj_const = (project_trajectory(pl, const, metric=loss_fn, data=data, name="constant start",
                                     block_size=block_size, method=method, devices=devices)
                  if const is not None else None)
    proj_rand = (_project_runs(pl, rand, loss_fn, data, block_size=block_size, method=method,
                               devices=devices) if n_random else ())
    coords = [np.zeros((1, 2))] + [p.coords for p in ((proj_const,) if proj_const else ()) + proj_rand]
    coords = np.concatenate(coords)
    if alphas is None:
        alphas = np.linspace(*_extent(coords[:, 0], margin), n_points)
    if betas is None:
        betas = np.linspace(*_extent(coords[:, 1], margin), n_points)
    surface = slice_2d(loss_fn, equilibrium, data, d1, d2, alphas, betas, block_size=block_size,
                       method=method, devices=devices)
    return SymmetricView(pl, surface, proj_const, proj_rand, float(d2.info["eigenvalue"]),
                         d1.info["source"], surface.center_value)

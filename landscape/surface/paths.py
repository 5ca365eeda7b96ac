"""Paths and planes: straight-line interpolation with its barrier, planes through points, and
trajectories projected onto a plane.

:func:`interpolate` gives ``metric(a + t (b - a))`` and the barrier height ``max_{t in [0, 1]}
metric - max(metric(a), metric(b))`` (both ends evaluated by the same formula as the path, so a
convex profile has a barrier of exactly 0). :func:`plane_through` builds the plane through three
points, :func:`plane` one through a center along two directions; :func:`project_trajectory`
gives a trajectory's least-squares coordinates in a plane, its off-plane residual per point, and
the true metric along the path beside the metric at the projected points.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import jax
import numpy as np

from .. import _checks, parallel
from .._checks import float_leaves
from ._common import _check_batch_like, _flat64, _flat_batch64, _grid, _unflat
from .directions import Direction, _direction, _orthogonal_part
from .metrics import _METHODS, _check_point, _metric_name
from .slices import _check_scalar_metric, _evaluate_along, evaluate_points

__all__ = ["Interpolation", "interpolate", "Plane", "plane", "plane_through",
           "TrajectoryProjection", "project_trajectory"]



@dataclasses.dataclass(frozen=True, eq=False)
class Interpolation:
    """``values[i] = metric(a + ts[i] (b - a))`` with the ends and the barrier.

    start_value, end_value: the metric at ``t = 0`` and ``t = 1`` (same formula as the path).
    barrier: ``max over t in [0, 1] (grid and ends) - max(start_value, end_value)`` (>= 0).
    t_max, value_max: where the maximum over ``[0, 1]`` is attained and its value.
    """

    ts: np.ndarray
    values: np.ndarray
    start_value: float
    end_value: float
    barrier: float
    t_max: float
    value_max: float
    metric_name: str
    names: tuple[str, str] = ("a", "b")


def interpolate(metric, a, b, data, *, ts=None, n_points=51, names=("a", "b"), block_size=None,
                method="auto", devices=None) -> Interpolation:
    """The metric along the straight line from ``a`` to ``b`` and its barrier height.

    ``ts`` defaults to ``linspace(0, 1, n_points)``; values of ``t`` outside ``[0, 1]``
    (extrapolation) are evaluated but do not count for the barrier. Returns
    :class:`Interpolation` (``values`` shaped like ``ts``).

    >>> import jax.numpy as jnp
    >>> quad = lambda p, a: 0.5 * jnp.sum(a * p**2)
    >>> path = interpolate(quad, jnp.array([-1.0, 0.0]), jnp.array([1.0, 0.0]),
    ...                    jnp.array([-1.0, 1.0]), n_points=5)  # -x^2 / 2 from x = -1 to 1
    >>> path.values.tolist(), path.barrier, path.t_max
    ([-0.5, -0.125, 0.0, -0.125, -0.5], 0.5, 0.5)
    """
    _checks.loss_fn(metric, "metric")
    _check_point(metric, a, "a")
    _checks.params_like("b", b, a, reference_name="a")
    if ts is None:
        ts = np.linspace(0.0, 1.0, _checks.count("n_points", n_points, minimum=2))
    ts = _grid("ts", ts)
    block_size = _checks.optional_count("block_size", block_size)
    mesh = parallel.local_mesh(devices)
    _checks.choice("method", method, _METHODS)
    _check_scalar_metric(metric, a, data)
    d = jax.tree.map(lambda x, y: y - x, a, b)
    coords = np.concatenate([ts, [0.0, 1.0]])[:, None]
    out = _evaluate_along(metric, a, [d], coords, data, block_size, method, mesh)
    values, v0, v1 = out[:-2], float(out[-2]), float(out[-1])
    inside = (ts >= 0) & (ts <= 1)
    cand_t = np.concatenate([ts[inside], [0.0, 1.0]])
    cand_v = np.concatenate([values[inside], [v0, v1]]).astype(np.float64)
    i = int(np.nanargmax(cand_v)) if np.any(np.isfinite(cand_v)) else 0
    top = float(cand_v[i]) if np.all(np.isfinite(cand_v)) else float("nan")
    barrier = top - max(v0, v1)
    return Interpolation(ts, values, v0, v1, float(barrier), float(cand_t[i]), top,
                         _metric_name(metric), tuple(names))


@dataclasses.dataclass(frozen=True, eq=False)
class Plane:
    """The affine plane ``origin + a d1 + b d2``; ``points (p, 2)`` are the plane coordinates of
    named reference points (``point_names``), e.g. the three points of :func:`plane_through`."""

    origin: Any
    d1: Direction
    d2: Direction
    points: np.ndarray = dataclasses.field(default_factory=lambda: np.zeros((0, 2)))
    point_names: tuple[str, ...] = ()

    def coordinates(self, params_batch) -> tuple[np.ndarray, np.ndarray]:
        """Least-squares plane coordinates ``(m, 2)`` of a batch of points (leaves ``(m, ...)``)
        and their off-plane residual norms ``(m,)`` (float64)."""
        _check_batch_like("params_batch", params_batch, self.origin, "the plane's origin")
        x = _flat_batch64(params_batch) - _flat64(self.origin)
        dmat = np.stack([_flat64(self.d1.params), _flat64(self.d2.params)])  # (2, n)
        coef, *_ = np.linalg.lstsq(dmat.T, x.T, rcond=None)  # (2, m)
        resid = np.linalg.norm(x - coef.T @ dmat, axis=1)
        return coef.T, resid


def plane(origin, d1, d2) -> Plane:
    """The plane through ``origin`` along ``d1`` and ``d2`` (not changed: orthonormalize first if
    wanted; they must be linearly independent).

    >>> import jax.numpy as jnp
    >>> pl = plane(jnp.zeros(3), jnp.array([1.0, 0.0, 0.0]), jnp.array([0.0, 1.0, 0.0]))
    >>> coords, residual = pl.coordinates(jnp.array([[1.0, 2.0, 3.0]]))  # a batch of 1 point
    >>> coords.round(6).tolist(), residual.round(6).tolist()
    ([[1.0, 2.0]], [3.0])
    """
    float_leaves(origin, "origin")
    t1, d1 = _direction(d1, origin, "d1")
    t2, d2 = _direction(d2, origin, "d2")
    v1, v2 = _flat64(t1), _flat64(t2)
    gram = np.array([[v1 @ v1, v1 @ v2], [v1 @ v2, v2 @ v2]])
    if np.linalg.matrix_rank(gram, tol=1e-12 * max(gram[0, 0], gram[1, 1], 1e-300)) < 2:
        raise ValueError("d1 and d2 must be linearly independent to span a plane")
    return Plane(origin, d1, d2, np.zeros((1, 2)), ("origin",))


def plane_through(a, b, c, *, names=("a", "b", "c")) -> Plane:
    """The plane through three points: origin ``a``, ``d1 = (b - a) / |b - a|`` and ``d2`` the
    unit part of ``c - a`` orthogonal to ``d1``. ``points`` holds the coordinates of ``a, b, c``
    (``(0, 0)``, ``(|b - a|, 0)``, ...). Collinear points raise ValueError.

    >>> import jax.numpy as jnp
    >>> pl = plane_through(jnp.zeros(3), jnp.array([2.0, 0.0, 0.0]), jnp.array([1.0, 1.0, 0.0]))
    >>> pl.points.tolist(), pl.d2.name
    ([[0.0, 0.0], [2.0, 0.0], [1.0, 1.0]], 'a→c (orth.)')
    """
    float_leaves(a, "a")
    _checks.params_like("b", b, a, reference_name="a")
    _checks.params_like("c", c, a, reference_name="a")
    if len(names) != 3:
        raise ValueError(f"names={names!r} must name the three points")
    xa, xb, xc = _flat64(a), _flat64(b), _flat64(c)
    u = xb - xa
    nu = float(np.linalg.norm(u))
    if nu == 0:
        raise ValueError("a and b are the same point: no plane through them")
    u = u / nu
    w = xc - xa
    v = _orthogonal_part(w, [u])
    nv = float(np.linalg.norm(v))
    if nv <= 1e-10 * max(float(np.linalg.norm(w)), nu):
        raise ValueError("a, b and c are (numerically) collinear: they do not define a plane")
    v = v / nv
    points = np.array([[0.0, 0.0], [nu, 0.0], [u @ w, v @ w]])
    return Plane(a, Direction(_unflat(u, a), f"{names[0]}→{names[1]}"),
                 Direction(_unflat(v, a), f"{names[0]}→{names[2]} (orth.)"), points, tuple(names))


@dataclasses.dataclass(frozen=True, eq=False)
class TrajectoryProjection:
    """A trajectory seen in a plane.

    coords: ``(T, 2)`` least-squares plane coordinates; residual: ``(T,)`` off-plane distance.
    true_values: ``(T,)`` the metric at the trajectory's points; plane_values: ``(T,)`` the
    metric at their projections (what a slice shows there); both None without a metric.
    """

    coords: np.ndarray
    residual: np.ndarray
    true_values: np.ndarray | None = None
    plane_values: np.ndarray | None = None
    name: str = "trajectory"
    metric_name: str | None = None


def project_trajectory(plane_, trajectory, *, metric=None, data=None, name="trajectory",
                       block_size=None, method="auto", devices=None) -> TrajectoryProjection:
    """Project ``trajectory`` (leaves ``(T, ...)``) onto ``plane_`` (:class:`Plane`).

    With ``metric`` (and ``data``), also the metric along the true path and at the projected
    points, so a reader can see where the plane misleads (large residual, values apart).
    Returns :class:`TrajectoryProjection` (``coords (T, 2)``, the others ``(T,)``).

    >>> import jax.numpy as jnp
    >>> quad = lambda p, a: 0.5 * jnp.sum(a * p**2)  # Hessian diag(a) everywhere
    >>> a = jnp.array([1.0, 2.0, -3.0])
    >>> pl = plane(jnp.zeros(3), jnp.array([1.0, 0.0, 0.0]), jnp.array([0.0, 1.0, 0.0]))
    >>> trajectory = jnp.array([[1.0, 2.0, 0.0], [1.0, 1.0, 1.0]])  # (T, n_params)
    >>> proj = project_trajectory(pl, trajectory, metric=quad, data=a)
    >>> proj.residual.round(6).tolist(), proj.true_values.tolist(), proj.plane_values.tolist()
    ([0.0, 1.0], [4.5, 0.0], [4.5, 1.5])
    """
    if not isinstance(plane_, Plane):
        raise TypeError(f"plane_={plane_!r} must be a surface.Plane (from plane or plane_through)")
    coords, resid = plane_.coordinates(trajectory)
    true_values = plane_values = None
    if metric is not None:
        true_values, plane_values = _true_and_plane_values(plane_, trajectory, coords, metric, data,
                                                           block_size, method, devices)
    return TrajectoryProjection(coords, resid, true_values, plane_values, name,
                                _metric_name(metric) if metric is not None else None)


def _true_and_plane_values(plane_, points, coords, metric, data, block_size, method, devices):
    """The metric at ``points`` (leaves ``(m, ...)``) and at their plane coordinates ``coords
    (m, 2)``: NumPy ``(m,)`` each, one compiled call each."""
    _checks.loss_fn(metric, "metric")
    true_values = evaluate_points(metric, points, data, block_size=block_size, method=method,
                                  devices=devices)
    block_size = _checks.optional_count("block_size", block_size)
    plane_values = _evaluate_along(metric, plane_.origin, [plane_.d1.params, plane_.d2.params],
                                   coords, data, block_size, method, parallel.local_mesh(devices))
    return true_values, plane_values

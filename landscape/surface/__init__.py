"""Error surfaces: directions, 1D/2D slices, paths and barriers, trajectory projections, basin
maps, and the view of the symmetric equilibrium.

Everything works on any ``metric(params, data) -> scalar`` over any pytree ``params`` (a loss,
an accuracy, :func:`grad_norm`, :func:`min_eigenvalue`). Where hidden units matter (filter/layer
normalization, the symmetry directions) ``model=`` is a keyword taking anything
:func:`landscape.units.layout` takes: an ``ls.mlp`` Model, a Flax or Equinox model, or a
:class:`landscape.units.UnitLayout`. Functions take ``(metric or loss_fn, params, data, ...)``
first.

One responsibility per module (every public name is re-exported here):

- :mod:`~landscape.surface.groups`: the filter/layer groups from the unit layout,
  :func:`group_ids`, :func:`group_norms`;
- :mod:`~landscape.surface.directions`: :class:`Direction`, :func:`random_direction` (filter/
  layer normalization, :data:`NORMALIZATIONS`), :func:`hessian_directions`,
  :func:`pca_directions` (:class:`PCA`), :func:`symmetric_descent_direction`,
  :func:`breaking_directions`, :func:`difference_direction`, :func:`orthonormalize`;
- :mod:`~landscape.surface.metrics`: :func:`grad_norm`, :func:`min_eigenvalue`, :func:`accuracy`
  and the evaluation methods (``"vmap"``, ``"batched"``, ``"auto"``);
- :mod:`~landscape.surface.slices`: the one compiled program over blocks of points
  (``block_size`` points per block), :func:`evaluate_points`, :func:`slice_1d`,
  :func:`slice_2d` (:class:`Slice1D`, :class:`Slice2D`), evaluated through
  :mod:`~landscape.surface.affine` (the point's ``center + sum_i c_i d_i`` pushed through the
  metric's linear first steps; internal, nothing re-exported);
- :mod:`~landscape.surface.paths`: :func:`interpolate` and barriers (:class:`Interpolation`),
  :func:`plane`, :func:`plane_through` (:class:`Plane`), :func:`project_trajectory`
  (:class:`TrajectoryProjection`);
- :mod:`~landscape.surface.basins`: :func:`basin_map` (:class:`BasinMap`), which trains through
  :func:`landscape.train_many`;
- :mod:`~landscape.surface.views`: :func:`symmetric_view` (:class:`SymmetricView`).

Plots for all results are in :mod:`landscape.plotting`.
"""

from .basins import BasinMap, basin_map
from .directions import (NORMALIZATIONS, PCA, Direction, breaking_directions, difference_direction,
                         hessian_directions, orthonormalize, pca_directions, random_direction,
                         symmetric_descent_direction)
from .groups import group_ids, group_norms
from .metrics import accuracy, grad_norm, min_eigenvalue
from .paths import (Interpolation, Plane, TrajectoryProjection, interpolate, plane, plane_through,
                    project_trajectory)
from .slices import Slice1D, Slice2D, evaluate_points, slice_1d, slice_2d
from .views import SymmetricView, symmetric_view

__all__ = [
    # directions
    "NORMALIZATIONS", "Direction", "random_direction", "group_norms", "group_ids",
    "hessian_directions", "PCA", "pca_directions", "symmetric_descent_direction", "breaking_directions",
    "difference_direction", "orthonormalize",
    # metrics
    "grad_norm", "min_eigenvalue", "accuracy", "evaluate_points",
    # slices
    "Slice1D", "Slice2D", "slice_1d", "slice_2d",
    # paths
    "Interpolation", "interpolate", "Plane", "plane", "plane_through", "TrajectoryProjection",
    "project_trajectory",
    # basins and the symmetric view
    "BasinMap", "basin_map", "SymmetricView", "symmetric_view",
]

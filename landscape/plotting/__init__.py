"""Plots for the landscape toolkit.

Every plot function takes a matplotlib ``Axes`` (first argument) and plain arrays, draws on that
axes and returns the artist(s) it made, so callers can restyle them or build legends. No function
here calls ``plt.show()`` or ``savefig``: saving belongs to the experiment runner and the CLI.
This is the only library package that imports matplotlib; ``import landscape`` does not. No
function here imports ``pyplot`` or switches the backend: pass any ``Axes`` (e.g. from
``matplotlib.figure.Figure().add_subplot()``).

Curvature plots:

- :func:`plot_eigenvalues`: the sorted Hessian eigenvalues of one point, coloured by sign;
- :func:`plot_spectral_density`: a spectral density on a grid (e.g. from
  :func:`landscape.curvature.gaussian_density`), optionally on a log scale;
- :func:`plot_loss_vs_index`: loss against index fraction over many critical points
  (Dauphin et al. 2014).

Surface plots take the result objects of :mod:`landscape.surface` (containers of NumPy arrays
that carry their axis labels): :func:`plot_slice_1d`, :func:`plot_slice_2d` (filled contours,
log-scaled levels when the values span decades), :func:`plot_surface_3d`,
:func:`plot_trajectory`, :func:`plot_path_values`, :func:`plot_interpolation`,
:func:`plot_plane_points`, :func:`plot_basin_map` and :func:`plot_symmetric_view`.

Minima-census plots take plain arrays (so an experiment can redraw them from saved results):
:func:`plot_basin_shares` (shares with confidence bands against a swept parameter),
:func:`plot_stacked_shares` (the same shares stacked to 1),
:func:`plot_restart_curve`, :func:`plot_loss_histogram` (cluster levels marked),
:func:`plot_barriers` and :func:`plot_disconnectivity` (see :mod:`landscape.minima`).

Training plots: :func:`plot_quantile_band` (median and quantile band over runs, e.g. loss
curves). Symmetry plots take plain arrays too: :func:`plot_symmetry_gap` (the gap on a log scale, exact zeros drawn at
a marked floor), :func:`plot_unit_weights` (each hidden unit's parameters over training),
:func:`plot_unit_signals` (one line per unit: error signals, update sizes),
:func:`plot_success_rates` (bars with confidence intervals), :func:`plot_escape_steps`
(escape steps against the initial perturbation, with the linearized law) and
:func:`plot_gap_status_grid` (exact / rounding / amplified / broken cells); see
:mod:`landscape.symmetry`.

Layout: ``curvature``, ``surface``, ``minima``, ``training`` and ``symmetry`` (one module per
subject), ``_style`` (shared argument checks and the automatic log-scale rule). Every public
plot function is re-exported here.
"""

from __future__ import annotations

from .curvature import plot_eigenvalues, plot_loss_vs_index, plot_spectral_density
from .minima import (plot_barriers, plot_basin_shares, plot_disconnectivity, plot_hierarchy,
                     plot_loss_histogram,
                     plot_restart_curve, plot_stacked_shares)
from .surface import (plot_basin_map, plot_interpolation, plot_path_values, plot_plane_points,
                      plot_slice_1d, plot_slice_2d, plot_surface_3d, plot_symmetric_view,
                      plot_trajectory)
from .symmetry import (plot_escape_steps, plot_gap_status_grid, plot_success_rates, plot_symmetry_gap,
                       plot_unit_signals, plot_unit_weights)
from .training import plot_quantile_band

__all__ = ["plot_eigenvalues", "plot_spectral_density", "plot_loss_vs_index",
           # surfaces
           "plot_slice_1d", "plot_slice_2d", "plot_surface_3d", "plot_trajectory",
           "plot_path_values", "plot_interpolation", "plot_plane_points", "plot_basin_map",
           "plot_symmetric_view",
           # minima census
           "plot_basin_shares", "plot_stacked_shares", "plot_restart_curve", "plot_loss_histogram",
           "plot_barriers", "plot_disconnectivity", "plot_hierarchy",
           # training
           "plot_quantile_band",
           # symmetry
           "plot_symmetry_gap", "plot_unit_weights", "plot_unit_signals", "plot_success_rates",
           "plot_escape_steps", "plot_gap_status_grid"]

"""Plots for the landscape toolkit.

Every plot function takes a matplotlib ``Axes`` (first argument) and plain arrays, draws on that
axes and returns the artist(s) it made, so callers can restyle them or build legends. No function
here calls ``plt.show()`` or ``savefig``: saving belongs to the experiment runner and the CLI.
This is the only library module that imports matplotlib; ``import landscape`` does not.

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

Symmetry plots take plain arrays too: :func:`plot_quantile_band` (median and quantile band over
runs, e.g. loss curves), :func:`plot_symmetry_gap` (the gap on a log scale, exact zeros drawn at
a marked floor), :func:`plot_unit_weights` (each hidden unit's parameters over training),
:func:`plot_success_rates` (bars with confidence intervals) and :func:`plot_escape_steps`
(escape steps against the initial perturbation, with the linearized law); see
:mod:`landscape.symmetry`.
"""

from __future__ import annotations

import math

import matplotlib.axes
import numpy as np

from .curvature import LABEL_NAMES

__all__ = ["plot_eigenvalues", "plot_spectral_density", "plot_loss_vs_index",
           # surfaces
           "plot_slice_1d", "plot_slice_2d", "plot_surface_3d", "plot_trajectory",
           "plot_path_values", "plot_interpolation", "plot_plane_points", "plot_basin_map",
           "plot_symmetric_view",
           # minima census
           "plot_basin_shares", "plot_stacked_shares", "plot_restart_curve", "plot_loss_histogram",
           "plot_barriers", "plot_disconnectivity",
           # symmetry
           "plot_quantile_band", "plot_symmetry_gap", "plot_unit_weights", "plot_success_rates",
           "plot_escape_steps"]

_SIGN_COLORS = ("tab:red", "tab:gray", "tab:blue")  # negative, zero, positive


def _check_ax(ax) -> None:
    if not isinstance(ax, matplotlib.axes.Axes):
        raise TypeError(f"ax={ax!r} must be a matplotlib Axes (e.g. fig.add_subplot())")


def _vector(name, values) -> np.ndarray:
    arr = np.asarray(values)
    if arr.ndim != 1 or arr.size == 0:
        raise ValueError(f"{name} of shape {arr.shape} must be a non-empty 1-D array")
    if not np.issubdtype(arr.dtype, np.number):
        raise TypeError(f"{name} must be numeric, got dtype {arr.dtype}")
    return arr


def plot_eigenvalues(ax, eigenvalues, *, rtol=None, atol=0.0, colors=_SIGN_COLORS, size=16.0):
    """Stem plot of the sorted eigenvalues of one Hessian, with a zero line.

    Points are coloured negative / zero / positive (``colors``, in that order) by the same rule
    as :func:`landscape.curvature.classify`: zero when ``|lam| <= rtol * max|lam| + atol``
    (default ``rtol = sqrt(eps)`` of the eigenvalues' dtype).

    Returns a dict of artists: ``"stems"`` (LineCollection), ``"points"`` (PathCollection) and
    ``"zero_line"`` (Line2D).

    >>> import numpy as np
    >>> from matplotlib.figure import Figure
    >>> from landscape import plotting
    >>> ax = Figure().add_subplot()
    >>> sorted(plotting.plot_eigenvalues(ax, [-0.5, 0.0, 1.0, 2.0]))
    ['points', 'stems', 'zero_line']
    """
    _check_ax(ax)
    lam = np.sort(_vector("eigenvalues", eigenvalues))
    if rtol is None:
        dtype = lam.dtype if np.issubdtype(lam.dtype, np.floating) else np.float64
        rtol = math.sqrt(float(np.finfo(dtype).eps))
    if not (rtol >= 0 and atol >= 0):
        raise ValueError(f"rtol={rtol!r} and atol={atol!r} must be non-negative")
    if len(colors) != 3:
        raise ValueError(f"colors={colors!r} must give three colours: negative, zero, positive")
    tol = rtol * np.max(np.abs(lam)) + atol
    sign = np.where(lam < -tol, 0, np.where(lam > tol, 2, 1))
    idx = np.arange(lam.size)
    point_colors = [colors[s] for s in sign]
    stems = ax.vlines(idx, 0.0, lam, colors=point_colors, linewidth=1.0)
    points = ax.scatter(idx, lam, c=point_colors, s=size, zorder=3)
    zero_line = ax.axhline(0.0, color="black", linewidth=0.8)
    ax.set_xlabel("eigenvalue rank (ascending)")
    ax.set_ylabel("Hessian eigenvalue")
    return {"stems": stems, "points": points, "zero_line": zero_line}


def plot_spectral_density(ax, grid, density, *, log=False, floor=None, **line_kwargs):
    """Line plot of a spectral ``density`` on ``grid`` (both 1-D, same length).

    With ``log=True`` the y axis is logarithmic and values are clipped from below at ``floor``
    (default ``1e-12 * max(density)``) so empty stretches of the spectrum stay visible.
    ``line_kwargs`` go to ``ax.plot``. Returns the Line2D.

    >>> import numpy as np
    >>> from matplotlib.figure import Figure
    >>> from landscape import plotting
    >>> ax = Figure().add_subplot()
    >>> grid = np.linspace(-1, 3, 200)
    >>> line = plotting.plot_spectral_density(ax, grid, np.exp(-grid ** 2), log=True)
    """
    _check_ax(ax)
    grid = _vector("grid", grid)
    density = _vector("density", density)
    if grid.shape != density.shape:
        raise ValueError(f"grid {grid.shape} and density {density.shape} must have the same shape")
    if not isinstance(log, bool):
        raise TypeError(f"log={log!r} must be True or False")
    y = density.astype(float)
    if log:
        top = float(np.max(y))
        if floor is None:
            floor = 1e-12 * top if top > 0 else 1e-300
        if not floor > 0:
            raise ValueError(f"floor={floor!r} must be positive on a log scale")
        y = np.maximum(y, floor)
    (line,) = ax.plot(grid, y, **line_kwargs)
    if log:
        ax.set_yscale("log")
    ax.set_xlabel("eigenvalue")
    ax.set_ylabel("spectral density")
    return line


def plot_loss_vs_index(ax, index_fraction, loss, *, labels=None, label_names=LABEL_NAMES,
                       **scatter_kwargs):
    """Scatter of loss against index fraction (negative eigenvalues / n) over critical points,
    the picture of Dauphin et al. (2014): higher-index saddles sit at higher loss.

    ``index_fraction`` and ``loss`` are 1-D of one length (e.g. from
    :func:`landscape.curvature.index_fraction` and ``CriticalPoint.loss`` of a batch). Without
    ``labels`` one PathCollection is returned; with int ``labels`` (codes into ``label_names``,
    default :data:`landscape.curvature.LABEL_NAMES`) each label present gets its own scatter,
    named for the legend, and a dict ``{name: PathCollection}`` is returned.

    >>> import numpy as np
    >>> from matplotlib.figure import Figure
    >>> from landscape import plotting
    >>> ax = Figure().add_subplot()
    >>> art = plotting.plot_loss_vs_index(ax, [0.0, 0.2, 0.4], [0.01, 0.12, 0.25],
    ...                                   labels=[1, 2, 2])
    >>> sorted(art)
    ['minimum', 'saddle']
    """
    _check_ax(ax)
    frac = _vector("index_fraction", index_fraction)
    loss = _vector("loss", loss)
    if frac.shape != loss.shape:
        raise ValueError(f"index_fraction {frac.shape} and loss {loss.shape} must have the same shape")
    ax.set_xlabel("index fraction (negative eigenvalues / n)")
    ax.set_ylabel("loss")
    if labels is None:
        return ax.scatter(frac, loss, **scatter_kwargs)
    labels = _vector("labels", labels)
    if labels.shape != frac.shape or not np.issubdtype(labels.dtype, np.integer):
        raise ValueError(f"labels of shape {labels.shape} and dtype {labels.dtype} must be int codes "
                         f"of shape {frac.shape}")
    if labels.min() < 0 or labels.max() >= len(label_names):
        raise ValueError(f"labels must be codes in [0, {len(label_names)}) into label_names={label_names}")
    artists = {}
    for code in np.unique(labels):
        mask = labels == code
        name = label_names[int(code)]
        artists[name] = ax.scatter(frac[mask], loss[mask], label=name, **scatter_kwargs)
    return artists


# --------------------------------------------------------------------------------------------
# surfaces (landscape.surface results: plain containers of NumPy arrays)

_LOG_DECADES = 2.0
"""``log=None`` uses log-scaled levels when positive values span at least this many decades."""


def _check_result(name, value, cls):
    if not isinstance(value, cls):
        raise TypeError(f"{name}={value!r} must be a landscape.surface.{cls.__name__}")


def _use_log(values, log):
    finite = values[np.isfinite(values)]
    if log is None:
        return bool(finite.size and finite.min() > 0 and np.log10(finite.max() / finite.min()) >= _LOG_DECADES)
    if not isinstance(log, bool):
        raise TypeError(f"log={log!r} must be True, False or None (automatic)")
    return log


def _levels(values, levels, log):
    """``(masked values, levels, norm)`` for contourf: log-spaced levels (and a LogNorm) on a log
    scale, values below the smallest positive one clipped up to it; non-finite values masked."""
    import matplotlib.colors

    values = np.asarray(values, np.float64)
    finite = values[np.isfinite(values)]
    if finite.size == 0:
        raise ValueError("the slice has no finite values to draw")
    if isinstance(levels, (int, np.integer)) and not isinstance(levels, bool):
        if levels < 2:
            raise ValueError(f"levels={levels!r} must be at least 2")
        n = int(levels)
        levels = None
    else:
        levels = np.asarray(levels, np.float64)
        n = None
    if log:
        positive = finite[finite > 0]
        if positive.size == 0:
            raise ValueError("log=True needs positive values; the slice has none")
        lo, hi = float(positive.min()), float(positive.max())
        if hi <= lo:
            hi = lo * 10.0
        values = np.where(np.isfinite(values), np.maximum(values, lo), values)
        if levels is None:
            levels = np.geomspace(lo, hi, n)
        norm = matplotlib.colors.LogNorm(vmin=float(levels[0]), vmax=float(levels[-1]))
    else:
        lo, hi = float(finite.min()), float(finite.max())
        if hi <= lo:
            hi = lo + 1.0
        if levels is None:
            levels = np.linspace(lo, hi, n)
        norm = None
    return np.ma.masked_invalid(values), levels, norm


def plot_slice_1d(ax, slc, *, mark_center=True, **line_kwargs):
    """The metric along a :class:`landscape.surface.Slice1D` (``t`` on x, labelled with the
    direction's name and norm), the center marked with its separately evaluated value.

    Returns a dict: ``"line"`` (Line2D) and ``"center"`` (PathCollection or None).

    >>> import jax, numpy as np, landscape as ls
    >>> from matplotlib.figure import Figure
    >>> from landscape import plotting, surface
    >>> model = ls.mlp([2, 2, 1])
    >>> loss_fn, data = ls.objectives.loss(model, "mse"), ls.datasets.xor()
    >>> center = model.init(jax.random.key(0))
    >>> d1 = surface.random_direction(center, key=jax.random.key(1))
    >>> d2 = surface.random_direction(center, key=jax.random.key(2))
    >>> slc = surface.slice_1d(loss_fn, center, data, d1, np.linspace(-1, 1, 21))
    >>> sorted(plotting.plot_slice_1d(Figure().add_subplot(), slc))
    ['center', 'line']
    """
    from .surface import Slice1D

    _check_ax(ax)
    _check_result("slc", slc, Slice1D)
    (line,) = ax.plot(slc.ts, slc.values, **line_kwargs)
    center = None
    if mark_center:
        center = ax.scatter([0.0], [slc.center_value], color="black", zorder=3, s=20,
                            label=f"center ({slc.center_value:.4g})")
    ax.set_xlabel(f"t along {slc.xlabel}")
    ax.set_ylabel(slc.metric_name)
    return {"line": line, "center": center}


def plot_slice_2d(ax, slc, *, levels=20, log=None, cmap="viridis", colorbar=True,
                  mark_center=True, lines=True):
    """Filled contours of a :class:`landscape.surface.Slice2D` (``alphas`` on x, ``betas`` on y,
    so ``values.T`` is drawn), axes labelled with the directions' names and norms.

    ``log=None`` switches to log-scaled levels when the positive values span two decades or more
    (values below the smallest positive one are clipped to it); ``levels`` is a number of levels
    or their values. The center is marked with its separately evaluated value and a colorbar is
    drawn (on the axes' figure). Returns a dict: ``"contour"`` (filled QuadContourSet),
    ``"lines"`` (line contours or None), ``"colorbar"`` (Colorbar or None), ``"center"``
    (PathCollection or None), ``"log"`` (bool: the scale used).

    >>> import jax, numpy as np, landscape as ls
    >>> from matplotlib.figure import Figure
    >>> from landscape import plotting, surface
    >>> model = ls.mlp([2, 2, 1])
    >>> loss_fn, data = ls.objectives.loss(model, "mse"), ls.datasets.xor()
    >>> center = model.init(jax.random.key(0))
    >>> d1 = surface.random_direction(center, key=jax.random.key(1))
    >>> d2 = surface.random_direction(center, key=jax.random.key(2))
    >>> slc = surface.slice_2d(loss_fn, center, data, d1, d2, np.linspace(-1, 1, 11),
    ...                        np.linspace(-1, 1, 11))
    >>> art = plotting.plot_slice_2d(Figure().add_subplot(), slc, levels=10)
    """
    from .surface import Slice2D

    _check_ax(ax)
    _check_result("slc", slc, Slice2D)
    use_log = _use_log(np.asarray(slc.values, np.float64), log)
    z, lv, norm = _levels(slc.values, levels, use_log)
    filled = ax.contourf(slc.alphas, slc.betas, z.T, levels=lv, norm=norm, cmap=cmap, extend="both")
    contour_lines = ax.contour(slc.alphas, slc.betas, z.T, levels=lv, norm=norm, colors="k",
                               linewidths=0.3, alpha=0.5) if lines else None
    bar = None
    if colorbar:
        import matplotlib.ticker

        bar = ax.get_figure().colorbar(filled, ax=ax, label=slc.metric_name)
        if use_log:  # ticks at (a subset of) the levels, so a range under a decade is labelled
            bar.set_ticks(lv[:: max(1, len(lv) // 6)])
            bar.ax.yaxis.set_major_formatter(matplotlib.ticker.FormatStrFormatter("%.3g"))
            bar.ax.yaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
    center = None
    if mark_center:
        center = ax.scatter([0.0], [0.0], marker="+", color="white", s=80, zorder=4,
                            label=f"center ({slc.metric_name} = {slc.center_value:.4g})")
    ax.set_xlabel(slc.xlabel)
    ax.set_ylabel(slc.ylabel)
    return {"contour": filled, "lines": contour_lines, "colorbar": bar, "center": center,
            "log": use_log}


def plot_surface_3d(ax, slc, *, log=False, cmap="viridis", **surface_kwargs):
    """A :class:`landscape.surface.Slice2D` as a 3D surface on a 3D axes
    (``fig.add_subplot(projection="3d")``); with ``log=True`` the height is ``log10`` of the
    values (clipped below at the smallest positive one). Returns the Poly3DCollection.

    >>> import jax, numpy as np, landscape as ls
    >>> from matplotlib.figure import Figure
    >>> from landscape import plotting, surface
    >>> model = ls.mlp([2, 2, 1])
    >>> loss_fn, data = ls.objectives.loss(model, "mse"), ls.datasets.xor()
    >>> center = model.init(jax.random.key(0))
    >>> d1 = surface.random_direction(center, key=jax.random.key(1))
    >>> d2 = surface.random_direction(center, key=jax.random.key(2))
    >>> slc = surface.slice_2d(loss_fn, center, data, d1, d2, np.linspace(-1, 1, 11),
    ...                        np.linspace(-1, 1, 11))
    >>> surf = plotting.plot_surface_3d(Figure().add_subplot(projection="3d"), slc)
    """
    from .surface import Slice2D

    _check_ax(ax)
    if getattr(ax, "name", None) != "3d":
        raise TypeError("ax must be a 3D axes: fig.add_subplot(projection='3d')")
    _check_result("slc", slc, Slice2D)
    z = np.asarray(slc.values, np.float64)
    label = slc.metric_name
    if log:
        positive = z[np.isfinite(z) & (z > 0)]
        if positive.size == 0:
            raise ValueError("log=True needs positive values; the slice has none")
        z = np.log10(np.maximum(z, positive.min()))
        label = f"log10 {label}"
    a, b = np.meshgrid(slc.alphas, slc.betas, indexing="ij")
    surf = ax.plot_surface(a, b, z, cmap=cmap, **surface_kwargs)
    ax.set_xlabel(slc.xlabel)
    ax.set_ylabel(slc.ylabel)
    ax.set_zlabel(label)
    return surf


def plot_trajectory(ax, projection, *, color=None, label=None, markers=True, **line_kwargs):
    """A :class:`landscape.surface.TrajectoryProjection` drawn in plane coordinates (over a
    slice drawn with :func:`plot_slice_2d`), start as a circle and end as a square.

    Returns a dict: ``"line"`` (Line2D), ``"start"`` and ``"end"`` (PathCollection or None).

    >>> import jax, numpy as np, landscape as ls
    >>> from matplotlib.figure import Figure
    >>> from landscape import plotting, surface
    >>> model = ls.mlp([2, 2, 1])
    >>> loss_fn, data = ls.objectives.loss(model, "mse"), ls.datasets.xor()
    >>> center = model.init(jax.random.key(0))
    >>> d1 = surface.random_direction(center, key=jax.random.key(1))
    >>> d2 = surface.random_direction(center, key=jax.random.key(2))
    >>> pl = surface.plane(center, d1, d2)
    >>> path = jax.tree.map(lambda c, a: c + np.linspace(0, 1, 5).reshape((5,) + (1,) * c.ndim) * a,
    ...                     center, d1.params)       # 5 points along d1
    >>> proj = surface.project_trajectory(pl, path, metric=loss_fn, data=data)
    >>> sorted(plotting.plot_trajectory(Figure().add_subplot(), proj))
    ['end', 'line', 'start']
    """
    from .surface import TrajectoryProjection

    _check_ax(ax)
    _check_result("projection", projection, TrajectoryProjection)
    xy = np.asarray(projection.coords)
    (line,) = ax.plot(xy[:, 0], xy[:, 1], color=color, label=label or projection.name,
                      **line_kwargs)
    start = end = None
    if markers:
        c = line.get_color()
        start = ax.scatter(xy[:1, 0], xy[:1, 1], marker="o", color=c, edgecolors="k", zorder=5, s=30)
        end = ax.scatter(xy[-1:, 0], xy[-1:, 1], marker="s", color=c, edgecolors="k", zorder=5, s=30)
    return {"line": line, "start": start, "end": end}


def plot_path_values(ax, projection, *, steps=None, residual=True):
    """Where a plane misleads: the true metric along a trajectory and the metric at its
    projection on the plane (what the slice shows), against the record index or ``steps``; the
    off-plane residual on a twin axis. Needs a projection made with a metric.

    Returns a dict: ``"true"``, ``"plane"`` (Line2D), ``"residual"`` (Line2D or None) and
    ``"twin"`` (the residual's Axes or None).

    >>> import jax, numpy as np, landscape as ls
    >>> from matplotlib.figure import Figure
    >>> from landscape import plotting, surface
    >>> model = ls.mlp([2, 2, 1])
    >>> loss_fn, data = ls.objectives.loss(model, "mse"), ls.datasets.xor()
    >>> center = model.init(jax.random.key(0))
    >>> d1 = surface.random_direction(center, key=jax.random.key(1))
    >>> d2 = surface.random_direction(center, key=jax.random.key(2))
    >>> pl = surface.plane(center, d1, d2)
    >>> path = jax.tree.map(lambda c, a: c + np.linspace(0, 1, 5).reshape((5,) + (1,) * c.ndim) * a,
    ...                     center, d1.params)
    >>> proj = surface.project_trajectory(pl, path, metric=loss_fn, data=data)
    >>> art = plotting.plot_path_values(Figure().add_subplot(), proj)
    """
    from .surface import TrajectoryProjection

    _check_ax(ax)
    _check_result("projection", projection, TrajectoryProjection)
    if projection.true_values is None:
        raise ValueError("projection has no metric values: call project_trajectory with metric= and data=")
    x = np.arange(len(projection.residual)) if steps is None else _vector("steps", steps)
    if x.shape != projection.residual.shape:
        raise ValueError(f"steps {x.shape} must match the trajectory's {projection.residual.shape}")
    (true,) = ax.plot(x, projection.true_values, color="black", label="true path")
    (plane,) = ax.plot(x, projection.plane_values, color="tab:orange", linestyle="--",
                       label="projection on the plane")
    ax.set_xlabel("record" if steps is None else "step")
    ax.set_ylabel(projection.metric_name or "metric")
    res_line = twin = None
    if residual:
        twin = ax.twinx()
        (res_line,) = twin.plot(x, projection.residual, color="tab:gray", linestyle=":",
                                label="off-plane residual")
        twin.set_ylabel("off-plane distance")
    return {"true": true, "plane": plane, "residual": res_line, "twin": twin}


def plot_interpolation(ax, interp, *, annotate=True, **line_kwargs):
    """The metric along a straight path (:class:`landscape.surface.Interpolation`), the two ends
    marked and named, and the barrier drawn as a vertical arrow from the higher end's value to
    the maximum, labelled with its height.

    Returns a dict: ``"line"`` (Line2D), ``"ends"`` (PathCollection), ``"barrier"`` (Annotation
    or None).

    >>> import jax, numpy as np, landscape as ls
    >>> from matplotlib.figure import Figure
    >>> from landscape import plotting, surface
    >>> model = ls.mlp([2, 2, 1])
    >>> loss_fn, data = ls.objectives.loss(model, "mse"), ls.datasets.xor()
    >>> center = model.init(jax.random.key(0))
    >>> d1 = surface.random_direction(center, key=jax.random.key(1))
    >>> d2 = surface.random_direction(center, key=jax.random.key(2))
    >>> other = model.init(jax.random.key(3))
    >>> interp = surface.interpolate(loss_fn, center, other, data, num=11)
    >>> art = plotting.plot_interpolation(Figure().add_subplot(), interp)
    """
    from .surface import Interpolation

    _check_ax(ax)
    _check_result("interp", interp, Interpolation)
    (line,) = ax.plot(interp.ts, interp.values, **line_kwargs)
    ends = ax.scatter([0.0, 1.0], [interp.start_value, interp.end_value], color="black", zorder=3)
    for t, v, name in ((0.0, interp.start_value, interp.names[0]), (1.0, interp.end_value, interp.names[1])):
        ax.annotate(name, (t, v), textcoords="offset points", xytext=(0, -12), ha="center")
    barrier = None
    if annotate and np.isfinite(interp.barrier):
        base = max(interp.start_value, interp.end_value)
        barrier = ax.annotate(f"barrier {interp.barrier:.3g}", xy=(interp.t_max, interp.value_max),
                              xytext=(interp.t_max, base), ha="center", va="top",
                              arrowprops={"arrowstyle": "<->", "color": "tab:red"})
        ax.axhline(base, color="tab:red", linewidth=0.6, linestyle=":")
    ax.set_xlabel(f"t ({interp.names[0]} → {interp.names[1]})")
    ax.set_ylabel(interp.metric_name)
    return {"line": line, "ends": ends, "barrier": barrier}


def plot_plane_points(ax, plane, **scatter_kwargs):
    """The reference points of a :class:`landscape.surface.Plane` (e.g. the three points of
    ``plane_through``) as named markers in plane coordinates. Returns the PathCollection.

    >>> import jax, numpy as np, landscape as ls
    >>> from matplotlib.figure import Figure
    >>> from landscape import plotting, surface
    >>> model = ls.mlp([2, 2, 1])
    >>> loss_fn, data = ls.objectives.loss(model, "mse"), ls.datasets.xor()
    >>> center = model.init(jax.random.key(0))
    >>> d1 = surface.random_direction(center, key=jax.random.key(1))
    >>> d2 = surface.random_direction(center, key=jax.random.key(2))
    >>> a, b, c = (model.init(jax.random.key(i)) for i in range(3))
    >>> points = plotting.plot_plane_points(Figure().add_subplot(), surface.plane_through(a, b, c))
    """
    from .surface import Plane

    _check_ax(ax)
    _check_result("plane", plane, Plane)
    pts = np.asarray(plane.points)
    coll = ax.scatter(pts[:, 0], pts[:, 1], color=scatter_kwargs.pop("color", "white"),
                      edgecolors="k", zorder=6, **scatter_kwargs)
    for (x, y), name in zip(pts, plane.point_names):
        ax.annotate(name, (x, y), textcoords="offset points", xytext=(5, 5))
    return coll


def plot_basin_map(ax, basin, *, quiver=True, legend=True, colors=None, quiver_every=1):
    """A :class:`landscape.surface.BasinMap`: each grid point coloured by where its run ended
    (one colour per label, named in a legend) and the projected negative gradient as arrows
    (every ``quiver_every``-th grid point, arrows normalized to show direction).

    Returns a dict: ``"mesh"`` (QuadMesh), ``"quiver"`` (Quiver or None), ``"legend"`` (Legend or
    None), ``"colors"`` (the colour of each label).

    >>> import jax, numpy as np, landscape as ls
    >>> from matplotlib.figure import Figure
    >>> from landscape import plotting, surface
    >>> model = ls.mlp([2, 2, 1])
    >>> loss_fn, data = ls.objectives.loss(model, "mse"), ls.datasets.xor()
    >>> center = model.init(jax.random.key(0))
    >>> d1 = surface.random_direction(center, key=jax.random.key(1))
    >>> d2 = surface.random_direction(center, key=jax.random.key(2))
    >>> import optax
    >>> basins = surface.basin_map(loss_fn, center, data, d1, d2, np.linspace(-1, 1, 5),
    ...                            np.linspace(-1, 1, 5), optimizer=optax.sgd(1.0), steps=50,
    ...                            progress=False)
    >>> art = plotting.plot_basin_map(Figure().add_subplot(), basins)
    """
    import matplotlib.colors
    import matplotlib.patches

    from .surface import BasinMap

    _check_ax(ax)
    _check_result("basin", basin, BasinMap)
    n = len(basin.label_names)
    if colors is None:
        import matplotlib

        base = matplotlib.colormaps["tab10" if n <= 10 else "tab20"]
        colors = [base(i % base.N) for i in range(n)]
        if basin.label_names and basin.label_names[-1] == "nonfinite":
            colors[-1] = (0.0, 0.0, 0.0, 1.0)
    if len(colors) < n:
        raise ValueError(f"colors has {len(colors)} entries for {n} labels")
    cmap = matplotlib.colors.ListedColormap(colors[:n])
    norm = matplotlib.colors.BoundaryNorm(np.arange(n + 1) - 0.5, n)
    mesh = ax.pcolormesh(basin.alphas, basin.betas, basin.labels.T, cmap=cmap, norm=norm,
                         shading="nearest")
    q = None
    if quiver:
        if isinstance(quiver_every, bool) or not isinstance(quiver_every, (int, np.integer)) or quiver_every < 1:
            raise ValueError(f"quiver_every={quiver_every!r} must be a positive int")
        s = slice(None, None, int(quiver_every))
        a, b = np.meshgrid(basin.alphas[s], basin.betas[s], indexing="ij")
        u, v = basin.flow[s, s, 0], basin.flow[s, s, 1]
        length = np.hypot(u, v)
        scale = np.where(length > 0, length, 1.0)
        q = ax.quiver(a, b, u / scale, v / scale, color="white", pivot="mid", alpha=0.8,
                      angles="xy")
    leg = None
    if legend:
        present = np.unique(basin.labels)
        handles = [matplotlib.patches.Patch(color=colors[i], label=basin.label_names[i]) for i in present]
        leg = ax.legend(handles=handles, loc="best", fontsize="small",
                        title=f"end after {basin.steps} steps")
    ax.set_xlabel(basin.xlabel)
    ax.set_ylabel(basin.ylabel)
    return {"mesh": mesh, "quiver": q, "legend": leg, "colors": colors[:n]}


def plot_symmetric_view(ax, view, *, levels=30, log=None, cmap="viridis", legend=True):
    """A :class:`landscape.surface.SymmetricView`: the loss on the plane through the symmetric
    equilibrium (x: symmetric direction, y: most unstable breaking mode with its eigenvalue),
    the constant-start trajectory (white) and the random-start trajectories projected on it, and
    the equilibrium marked.

    Returns a dict: ``"surface"`` (the dict of :func:`plot_slice_2d`), ``"constant"`` (the dict
    of :func:`plot_trajectory` or None), ``"random"`` (list of such dicts), ``"legend"``.

    >>> import jax, numpy as np, landscape as ls
    >>> from matplotlib.figure import Figure
    >>> from landscape import plotting, surface
    >>> model = ls.mlp([2, 2, 1])
    >>> loss_fn, data = ls.objectives.loss(model, "mse"), ls.datasets.xor()
    >>> center = model.init(jax.random.key(0))
    >>> d1 = surface.random_direction(center, key=jax.random.key(1))
    >>> d2 = surface.random_direction(center, key=jax.random.key(2))
    >>> start = ls.inits.constant(model, 0.5)(jax.random.key(0))
    >>> view = surface.symmetric_view(loss_fn, start, data, model=model, num=11)
    >>> art = plotting.plot_symmetric_view(Figure().add_subplot(), view)
    """
    from .surface import SymmetricView

    _check_ax(ax)
    _check_result("view", view, SymmetricView)
    surf = plot_slice_2d(ax, view.surface, levels=levels, log=log, cmap=cmap, mark_center=False)
    eq = ax.scatter([0.0], [0.0], marker="*", s=150, color="white", edgecolors="k", zorder=6,
                    label=f"symmetric equilibrium (loss {view.equilibrium_loss:.4g})")
    const = None
    if view.constant is not None:
        const = plot_trajectory(ax, view.constant, color="white", linewidth=2.0)
    rand = [plot_trajectory(ax, p, linewidth=1.2) for p in view.random]
    leg = ax.legend(loc="best", fontsize="small") if legend else None
    surf["center"] = eq
    return {"surface": surf, "constant": const, "random": rand, "legend": leg}


# --------------------------------------------------------------------------------------------
# minima census (landscape.minima: arrays, so figures can be redrawn from saved results)


def _matrix(name, values, shape=None) -> np.ndarray:
    arr = np.asarray(values, np.float64)
    if arr.ndim != 2 or (shape is not None and arr.shape != shape):
        want = f" {shape}" if shape is not None else ""
        raise ValueError(f"{name} of shape {arr.shape} must be a 2-D array{want}")
    return arr


def _swept_positions(groups, log_x) -> tuple[np.ndarray, bool]:
    """``(x positions, log)`` of a swept parameter's values ``groups``.

    ``log_x=None`` chooses a log axis when the values are non-negative and the positive ones
    span a decade or more. On a log axis a value of 0 (say the symmetric zero init) is drawn one
    grid step below the smallest positive value (the ratio of the two smallest, at least 10x).
    """
    g = np.asarray(groups, np.float64)
    pos = np.unique(g[g > 0])
    if log_x is None:
        log_x = bool(np.all(g >= 0) and pos.size > 1 and pos[-1] / pos[0] >= 10)
    if not log_x:
        return g, False
    if np.any(g < 0) or pos.size == 0:
        raise ValueError(f"groups={g.tolist()} must be non-negative with a positive value for a log "
                         "axis (log_x=True)")
    step = max(pos[1] / pos[0], 10.0) if pos.size > 1 else 10.0
    return np.where(g == 0, pos[0] / step, g), True


def _swept_axis(ax, groups, x, log_x: bool, xlabel: str) -> None:
    """Ticks at every swept value (``x`` its positions); on a log axis a 0 is labelled "0" and
    set off from the positive values by a dotted line."""
    ax.set_xlabel(xlabel)
    if not log_x:
        return
    import matplotlib.ticker

    ax.set_xscale("log")
    values, first = np.unique(np.asarray(groups, np.float64), return_index=True)
    ax.set_xticks(x[first], [f"{v:g}" for v in values])
    ax.xaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
    if values[0] == 0:
        ax.xaxis.set_minor_locator(matplotlib.ticker.NullLocator())
        ax.axvline(math.sqrt(x[first][0] * x[first][1]) if values.size > 1 else x[first][0],
                   color="gray", linestyle=":", linewidth=1.0)


def plot_basin_shares(ax, groups, shares, lo, hi, *, names=None, log_x=None, colors=None,
                      xlabel="init scale"):
    """Share of runs in each basin against a swept parameter, with confidence bands.

    ``groups (G,)``: the swept values; ``shares``, ``lo``, ``hi`` ``(G, C)``: shares and
    interval ends per category (:class:`landscape.minima.BasinShares`); ``names (C,)`` label the
    lines. ``log_x=None`` uses a log axis when the values are non-negative and the positive ones
    span a decade or more; a 0 is then drawn one grid step left of the smallest positive value,
    labelled "0", and not joined to the others. Returns a dict ``{name: {"line": Line2D, "band": PolyCollection}}``.

    >>> import numpy as np
    >>> from matplotlib.figure import Figure
    >>> from landscape import plotting
    >>> ax = Figure().add_subplot()
    >>> shares = np.array([[0.7, 0.3], [0.5, 0.5]])        # 2 init scales x 2 basins
    >>> art = plotting.plot_basin_shares(ax, [0.5, 2.0], shares, shares - 0.05, shares + 0.05,
    ...                                  names=["global", "plateau"])
    >>> sorted(art)
    ['global', 'plateau']
    """
    _check_ax(ax)
    g = _vector("groups", groups).astype(np.float64)
    shares = _matrix("shares", shares)
    if shares.shape[0] != g.size:
        raise ValueError(f"shares of shape {shares.shape} must have one row per group ({g.size})")
    lo = _matrix("lo", lo, shares.shape)
    hi = _matrix("hi", hi, shares.shape)
    names, colors = _category_style(shares.shape[1], names, colors)
    x, log_x = _swept_positions(g, log_x)
    order = np.argsort(g)
    xs, shares, lo, hi = x[order], shares[order], lo[order], hi[order]
    if log_x and g.min() == 0:  # the 0 set apart on a log axis: not joined to the positive values
        cut = int(np.sum(g == 0))
        xs = np.insert(xs, cut, np.nan)
        shares, lo, hi = (np.insert(a, cut, np.nan, axis=0) for a in (shares, lo, hi))
    out = {}
    for j, name in enumerate(names):
        (line,) = ax.plot(xs, shares[:, j], marker="o", color=colors[j], label=name)
        band = ax.fill_between(xs, lo[:, j], hi[:, j], color=colors[j], alpha=0.2, linewidth=0)
        out[name] = {"line": line, "band": band}
    _swept_axis(ax, g, x, log_x, xlabel)
    ax.set_ylim(-0.02, 1.02)
    ax.set_ylabel("share of runs")
    return out


def _category_style(c: int, names, colors) -> tuple[list, list]:
    """Names (default ``cluster j``) and colours (default tab10/tab20) of ``c`` categories."""
    names = [f"cluster {j}" for j in range(c)] if names is None else list(names)
    if len(names) != c:
        raise ValueError(f"names has {len(names)} entries for {c} categories")
    if colors is None:
        import matplotlib

        cmap = matplotlib.colormaps["tab10" if c <= 10 else "tab20"]
        colors = [cmap(j % cmap.N) for j in range(c)]
    if len(colors) != c:
        raise ValueError(f"colors has {len(colors)} entries for {c} categories")
    return names, list(colors)


def plot_stacked_shares(ax, groups, shares, *, names=None, log_x=None, colors=None,
                        xlabel="init scale"):
    """Shares of runs per category stacked on top of each other against a swept parameter:
    category ``j`` fills the band between the summed shares of categories ``< j`` and ``<= j``,
    so the bands of categories that cover every run reach 1.

    ``groups (G,)``: the swept values; ``shares (G, C)``: non-negative shares per category whose
    rows sum to at most 1 (e.g. :attr:`landscape.minima.BasinShares.shares`); ``names``,
    ``log_x`` and the placement of a 0 as in :func:`plot_basin_shares`. Returns
    ``{name: PolyCollection}``.

    >>> import matplotlib.figure, numpy as np
    >>> ax = matplotlib.figure.Figure().add_subplot()
    >>> art = plot_stacked_shares(ax, [0.0, 0.1, 1.0], np.array([[1, 0], [.6, .4], [.2, .8]]),
    ...                           names=["stuck", "learned"])
    """
    _check_ax(ax)
    g = _vector("groups", groups).astype(np.float64)
    shares = _matrix("shares", shares)
    if shares.shape[0] != g.size:
        raise ValueError(f"shares of shape {shares.shape} must have one row per group ({g.size})")
    if np.any(shares < 0) or np.any(shares.sum(axis=1) > 1 + 1e-9):
        raise ValueError("shares must be non-negative with rows summing to at most 1")
    names, colors = _category_style(shares.shape[1], names, colors)
    x, log_x = _swept_positions(g, log_x)
    order = np.argsort(g)
    top = np.cumsum(shares[order], axis=1)
    bottom = top - shares[order]
    out = {}
    for j, name in enumerate(names):
        out[name] = ax.fill_between(x[order], bottom[:, j], top[:, j], color=colors[j], label=name,
                                    alpha=0.85, linewidth=0)
    _swept_axis(ax, g, x, log_x, xlabel)
    ax.set_ylim(0, 1)
    ax.set_xlim(x.min(), x.max())
    ax.set_ylabel("share of runs")
    return out


def plot_restart_curve(ax, ks, formula, lo, hi, *, empirical=None, label="1 - (1 - p)^k",
                       color=None):
    """P(success within ``k`` restarts) against ``k``: the independence form
    ``1 - (1 - p)^k`` as a line with its confidence band, and (optionally) the estimate from the
    runs themselves as markers (:class:`landscape.minima.RestartCurve`).

    Returns a dict: ``"line"`` (Line2D), ``"band"`` (PolyCollection), ``"empirical"``
    (Line2D or None).

    >>> import numpy as np
    >>> from matplotlib.figure import Figure
    >>> from landscape import plotting
    >>> ax = Figure().add_subplot()
    >>> from landscape import minima
    >>> c = minima.restart_curve(np.arange(100) < 30, ks=np.arange(1, 11))
    >>> art = plotting.plot_restart_curve(ax, c.ks, c.formula, c.lo, c.hi, empirical=c.empirical)
    """
    _check_ax(ax)
    ks = _vector("ks", ks).astype(np.float64)
    formula = _vector("formula", formula)
    lo = _vector("lo", lo)
    hi = _vector("hi", hi)
    if not formula.shape == lo.shape == hi.shape == ks.shape:
        raise ValueError(f"ks {ks.shape}, formula {formula.shape}, lo {lo.shape} and hi {hi.shape} "
                         "must have one shape")
    (line,) = ax.plot(ks, formula, color=color, label=label)
    band = ax.fill_between(ks, lo, hi, color=line.get_color(), alpha=0.2, linewidth=0)
    emp = None
    if empirical is not None:
        empirical = _vector("empirical", empirical)
        if empirical.shape != ks.shape:
            raise ValueError(f"empirical {empirical.shape} must have the shape of ks {ks.shape}")
        (emp,) = ax.plot(ks, empirical, linestyle="none", marker="o", color=line.get_color(),
                         markerfacecolor="none", label="from the runs")
    ax.set_ylim(-0.02, 1.02)
    ax.set_xlabel("restarts k")
    ax.set_ylabel("P(success within k restarts)")
    return {"line": line, "band": band, "empirical": emp}


def plot_loss_histogram(ax, loss, *, levels=None, level_names=None, bins=60, log=None,
                        floor=None, **hist_kwargs):
    """Histogram of final losses with cluster levels (e.g. each cluster's mean loss) marked as
    vertical lines. ``log=None`` puts the losses on a log axis when the positive ones span two
    decades or more (losses at or below ``floor``, default the smallest positive loss, are
    drawn at it). Non-finite losses are left out. Returns a dict: ``"bars"`` (the BarContainer),
    ``"levels"`` (list of Line2D).

    >>> import numpy as np
    >>> from matplotlib.figure import Figure
    >>> from landscape import plotting
    >>> ax = Figure().add_subplot()
    >>> loss = np.concatenate([np.full(50, 0.004), np.full(20, 0.13)])
    >>> art = plotting.plot_loss_histogram(ax, loss, levels=[0.004, 0.13])
    >>> len(art["levels"])
    2
    """
    _check_ax(ax)
    loss = _vector("loss", loss).astype(np.float64)
    loss = loss[np.isfinite(loss)]
    if loss.size == 0:
        raise ValueError("loss has no finite values to draw")
    log = _use_log(loss, log)
    if log:
        positive = loss[loss > 0]
        if positive.size == 0:
            raise ValueError("log=True needs positive losses")
        floor = float(positive.min()) if floor is None else float(floor)
        loss = np.maximum(loss, floor)
        hi = float(loss.max()) if loss.max() > floor else floor * 10
        edges = np.geomspace(floor, hi, int(bins) + 1)
        ax.set_xscale("log")
    else:
        edges = int(bins)
    _, _, bars = ax.hist(loss, bins=edges, **hist_kwargs)
    marks = []
    if levels is not None:
        levels = _vector("levels", levels).astype(np.float64)
        names = [None] * levels.size if level_names is None else list(level_names)
        if len(names) != levels.size:
            raise ValueError(f"level_names has {len(names)} entries for {levels.size} levels")
        for value, name in zip(levels, names):
            x = max(value, floor) if log else value
            marks.append(ax.axvline(x, color="tab:red", linestyle="--", linewidth=0.8, label=name))
    ax.set_xlabel("final loss")
    ax.set_ylabel("runs")
    return {"bars": bars, "levels": marks}


def plot_barriers(ax, barrier, *, names=None, cmap="magma", annotate=True):
    """The matrix of loss barriers between cluster representatives
    (:attr:`landscape.minima.Connectivity.barrier`) as an image, values written in the cells.
    Returns a dict: ``"image"`` (AxesImage), ``"texts"`` (list of Text).

    >>> import numpy as np
    >>> from matplotlib.figure import Figure
    >>> from landscape import plotting
    >>> ax = Figure().add_subplot()
    >>> art = plotting.plot_barriers(ax, np.array([[0.0, 0.1], [0.1, 0.0]]), names=["a", "b"])
    """
    _check_ax(ax)
    b = _matrix("barrier", barrier)
    k = b.shape[0]
    if b.shape != (k, k):
        raise ValueError(f"barrier of shape {b.shape} must be square")
    names = [str(i) for i in range(k)] if names is None else list(names)
    if len(names) != k:
        raise ValueError(f"names has {len(names)} entries for {k} points")
    image = ax.imshow(np.ma.masked_invalid(b), cmap=cmap)
    texts = []
    if annotate:
        for i in range(k):
            for j in range(k):
                if np.isfinite(b[i, j]):
                    # dark text on the light end of the colour map, light text on the dark end
                    light = np.mean(image.cmap(image.norm(b[i, j]))[:3]) > 0.5
                    texts.append(ax.text(j, i, f"{b[i, j]:.2g}", ha="center", va="center",
                                         color="black" if light else "white", fontsize="small"))
    ax.set_xticks(range(k), names, rotation=45, ha="right")
    ax.set_yticks(range(k), names)
    ax.set_title("barrier along the straight path (loss)")
    return {"image": image, "texts": texts}


def plot_disconnectivity(ax, losses, merges, *, names=None, log=False, color="black"):
    """A disconnectivity graph: each cluster a vertical line rising from its loss, joined to
    others at the level of the lowest barrier between the groups (``merges (k - 1, 3)`` rows
    ``(i, j, level)`` as from :func:`landscape.minima.merge_tree`).

    Leaves are ordered so that branches do not cross. Returns a dict: ``"lines"`` (list of
    Line2D), ``"points"`` (the PathCollection marking each point at its loss), ``"order"``
    (leaf order), ``"x"`` (x position of each point).

    >>> import numpy as np
    >>> from matplotlib.figure import Figure
    >>> from landscape import plotting
    >>> ax = Figure().add_subplot()
    >>> art = plotting.plot_disconnectivity(ax, [0.0, 0.1, 0.2], np.array([[0, 1, 0.3], [0, 2, 0.5]]))
    >>> len(art["order"])
    3
    """
    _check_ax(ax)
    losses = _vector("losses", losses).astype(np.float64)
    k = losses.size
    merges = np.asarray(merges, np.float64).reshape(-1, 3) if np.size(merges) else np.zeros((0, 3))
    if merges.shape[0] > k - 1:
        raise ValueError(f"merges has {merges.shape[0]} rows; at most {k - 1} for {k} points")
    idx = merges[:, :2].astype(np.int64)
    if merges.size and (idx.min() < 0 or idx.max() >= k):
        raise ValueError(f"merges name points outside 0..{k - 1}")
    names = [str(i) for i in range(k)] if names is None else list(names)
    if len(names) != k:
        raise ValueError(f"names has {len(names)} entries for {k} points")
    # leaf order: groups merged in order as concatenated leaf lists (no crossing branches)
    group = {i: [i] for i in range(k)}
    owner = list(range(k))
    segments = []
    for a, b, level in merges:
        ra, rb = owner[int(a)], owner[int(b)]
        group[ra] = group[ra] + group.pop(rb)
        for leaf in group[ra]:
            owner[leaf] = ra
        segments.append((ra, rb, level))
    order = [leaf for g in group.values() for leaf in g]
    xs = {leaf: float(pos) for pos, leaf in enumerate(order)}
    # replay the merges: each group's stem rises from where it ends (``top``) to the merge
    # level, and a bar joins the two stems there
    center = {i: xs[i] for i in range(k)}
    lines = []
    top = {i: losses[i] for i in range(k)}
    for ra, rb, level in segments:
        for r in (ra, rb):
            lines += ax.plot([center[r], center[r]], [top[r], level], color=color)
        lines += ax.plot([center[ra], center[rb]], [level, level], color=color)
        center[ra] = (center[ra] + center[rb]) / 2
        top[ra] = level
    ymax = max(list(top.values()) + [float(np.max(losses))])
    span = ymax - float(np.min(losses))
    for r in group:  # the surviving stems rise a little above the top
        lines += ax.plot([center[r], center[r]], [top[r], ymax + 0.05 * (span or 1.0)], color=color)
    x = np.array([xs[i] for i in range(k)])
    points = ax.scatter(x, losses, color=color, zorder=3, s=16)
    ax.set_xticks([xs[i] for i in order], [names[i] for i in order], rotation=45, ha="right")
    if log:
        ax.set_yscale("log")
    ax.set_ylabel("loss")
    return {"lines": lines, "points": points, "order": order, "x": x}


# --------------------------------------------------------------------------------------------
# symmetry plots (landscape.symmetry, experiments/xor_symmetry)

_UNIT_STYLES = ("-", "--", ":", "-.", (0, (5, 1, 1, 1)), (0, (1, 3)), (0, (8, 2)))


def _runs_matrix(name, values, n_cols=None) -> np.ndarray:
    arr = np.asarray(values, dtype=float)
    if arr.ndim != 2 or arr.size == 0 or (n_cols is not None and arr.shape[1] != n_cols):
        want = f"(n, {n_cols})" if n_cols is not None else "(n, m)"
        raise ValueError(f"{name} of shape {arr.shape} must be a non-empty 2-D array {want}")
    return arr


def _check_quantiles(quantiles) -> tuple[float, float]:
    try:
        lo, hi = (float(q) for q in quantiles)
    except (TypeError, ValueError):
        raise ValueError(f"quantiles={quantiles!r} must be a pair (low, high) in [0, 1]") from None
    if not 0.0 <= lo < hi <= 1.0:
        raise ValueError(f"quantiles={quantiles!r} must satisfy 0 <= low < high <= 1")
    return lo, hi


def plot_quantile_band(ax, x, values, *, quantiles=(0.1, 0.9), log=False, floor=None, color=None,
                       label=None, alpha=0.25):
    """The median over runs of ``values (n_runs, n_points)`` at each ``x (n_points,)`` as a line,
    and the band between two ``quantiles`` (default 10% and 90%) shaded in the same colour.

    With ``log=True`` the y axis is logarithmic and values below ``floor`` (default: a tenth of
    the smallest positive value) are drawn at ``floor``. Returns ``{"line": Line2D, "band":
    PolyCollection}``.

    >>> import numpy as np
    >>> from matplotlib.figure import Figure
    >>> from landscape import plotting
    >>> ax = Figure().add_subplot()
    >>> steps = np.arange(0, 1001, 100)
    >>> losses = np.exp(-np.outer(np.linspace(0.5, 2, 50), steps / 1000))   # (50 runs, 11)
    >>> sorted(plotting.plot_quantile_band(ax, steps, losses, log=True, label="runs"))
    ['band', 'line']
    """
    _check_ax(ax)
    x = _vector("x", x)
    values = _runs_matrix("values", values, x.size)
    lo_q, hi_q = _check_quantiles(quantiles)
    if not isinstance(log, bool):
        raise TypeError(f"log={log!r} must be True or False")
    if log:
        if floor is None:
            positive = values[values > 0]
            floor = float(positive.min()) / 10 if positive.size else 1e-300
        if not floor > 0:
            raise ValueError(f"floor={floor!r} must be positive on a log scale")
        values = np.maximum(values, floor)
    med = np.median(values, axis=0)
    lo, hi = np.quantile(values, [lo_q, hi_q], axis=0)
    (line,) = ax.plot(x, med, color=color, label=label)
    band = ax.fill_between(x, lo, hi, color=line.get_color(), alpha=alpha, linewidth=0)
    if log:
        ax.set_yscale("log")
    return {"line": line, "band": band}


def plot_symmetry_gap(ax, steps, gaps, *, quantiles=(0.1, 0.9), floor=None, color=None, label=None):
    """The symmetry gap over training on a log scale: median and quantile band over runs of
    ``gaps (n_runs, n_records)`` (e.g. :func:`landscape.symmetry.gap_history`) at ``steps``.

    A gap of exactly 0 (bit-identical units) has no place on a log axis: it is drawn at
    ``floor`` (default ``1e-20``, or a thousandth of the smallest positive gap if that is lower),
    marked by a dotted line labelled "exactly 0". Returns the dict of
    :func:`plot_quantile_band` plus ``"floor"`` (the Line2D of the floor).

    >>> import numpy as np
    >>> from matplotlib.figure import Figure
    >>> from landscape import plotting
    >>> ax = Figure().add_subplot()
    >>> steps = np.arange(0, 101, 10)
    >>> gaps = np.zeros((8, steps.size))              # bit-identical units: drawn at the floor
    >>> sorted(plotting.plot_symmetry_gap(ax, steps, gaps, label="constant start"))
    ['band', 'floor', 'line']
    """
    gaps = _runs_matrix("gaps", gaps)
    if np.any(gaps < 0):
        raise ValueError("gaps must be non-negative (distances to the symmetric subspace)")
    if floor is None:
        positive = gaps[gaps > 0]
        floor = min(1e-20, float(positive.min()) / 1e3) if positive.size else 1e-20
    art = plot_quantile_band(ax, steps, gaps, quantiles=quantiles, log=True, floor=floor,
                             color=color, label=label)
    art["floor"] = ax.axhline(floor, color="gray", linestyle=":", linewidth=1.0)
    ax.annotate("exactly 0", (0.99, floor), xycoords=("axes fraction", "data"), ha="right",
                va="bottom", fontsize="small", color="gray")
    ax.set_xlabel("step")
    ax.set_ylabel("symmetry gap (distance to equal units)")
    return art


def plot_unit_weights(ax, steps, units, *, names=None, colors=None):
    """Each hidden unit's parameters over training: ``units (n_records, H, k)`` (e.g.
    :func:`landscape.symmetry.unit_params` of a recorded trajectory: incoming weights, bias,
    outgoing weights), one colour per unit and one line style per parameter (``names``: ``k``
    labels for the legend). Units that stay identical draw on top of each other.

    Returns ``{"lines": [[Line2D] * k] * H}``; each unit's first line is labelled "unit j" and
    each parameter's style is labelled by its name on unit 0.

    >>> import numpy as np
    >>> from matplotlib.figure import Figure
    >>> from landscape import plotting
    >>> ax = Figure().add_subplot()
    >>> units = np.ones((11, 2, 4)) * np.linspace(0, 1, 11)[:, None, None]  # 2 equal units
    >>> art = plotting.plot_unit_weights(ax, np.arange(11), units, names=["w1", "w2", "b", "out"])
    >>> len(art["lines"]), len(art["lines"][0])
    (2, 4)
    """
    _check_ax(ax)
    steps = _vector("steps", steps)
    units = np.asarray(units, dtype=float)
    if units.ndim != 3 or units.shape[0] != steps.size or units.size == 0:
        raise ValueError(f"units of shape {units.shape} must be (n_records, H, k) with "
                         f"n_records = len(steps) = {steps.size}")
    n_units, k = units.shape[1:]
    if names is None:
        names = [f"param {i}" for i in range(k)]
    if len(names) != k:
        raise ValueError(f"names={names!r} must give {k} parameter names")
    if colors is None:
        colors = [f"C{j % 10}" for j in range(n_units)]
    if len(colors) != n_units:
        raise ValueError(f"colors={colors!r} must give {n_units} colours, one per unit")
    lines = []
    for j in range(n_units):
        row = []
        for i in range(k):
            label = f"unit {j}: {names[i]}" if (j == 0 or i == 0) else None
            # later units drawn thinner on top, so identical units show as one line
            (line,) = ax.plot(steps, units[:, j, i], color=colors[j],
                              linestyle=_UNIT_STYLES[i % len(_UNIT_STYLES)], label=label,
                              linewidth=2.4 - 1.2 * j / max(n_units - 1, 1), alpha=0.9)
            row.append(line)
        lines.append(row)
    ax.set_xlabel("step")
    ax.set_ylabel("parameter value")
    return {"lines": lines}


def plot_success_rates(ax, names, successes, n, lo, hi, *, colors=None, annotate=True):
    """One bar per group: the success rate ``successes / n`` with the interval ``[lo, hi]``
    (e.g. :func:`landscape.minima.wilson_interval`) as an error bar, and ``k/n`` written above.

    Returns ``{"bars": BarContainer, "errorbar": ErrorbarContainer, "labels": [Text]}``.

    >>> import numpy as np
    >>> from matplotlib.figure import Figure
    >>> from landscape import plotting
    >>> ax = Figure().add_subplot()
    >>> from landscape import minima
    >>> k, n = np.array([0, 3111]), 4000
    >>> lo, hi = minima.wilson_interval(k, n)
    >>> art = plotting.plot_success_rates(ax, ["constant", "random"], k, n, lo, hi)
    """
    _check_ax(ax)
    k = _vector("successes", successes).astype(float)
    n = np.broadcast_to(np.asarray(n, dtype=float), k.shape)
    lo = _vector("lo", lo).astype(float)
    hi = _vector("hi", hi).astype(float)
    if not (len(names) == k.size == lo.size == hi.size):
        raise ValueError(f"names ({len(names)}), successes ({k.size}), lo ({lo.size}) and hi "
                         f"({hi.size}) must have one entry per group")
    if np.any(n <= 0) or np.any(k < 0) or np.any(k > n):
        raise ValueError("need 0 <= successes <= n and n > 0 for every group")
    rate = k / n
    if np.any(lo > rate + 1e-12) or np.any(hi < rate - 1e-12):
        raise ValueError("each interval [lo, hi] must contain its rate successes / n")
    x = np.arange(k.size)
    bars = ax.bar(x, rate, color=colors, alpha=0.8)
    err = ax.errorbar(x, rate, yerr=np.stack([rate - lo, hi - rate]), fmt="none", ecolor="black",
                      capsize=6)
    labels = []
    if annotate:
        for xi, ki, ni, top in zip(x, k, n, hi):
            labels.append(ax.text(xi, min(top + 0.02, 1.02), f"{int(ki)}/{int(ni)}", ha="center",
                                  va="bottom", fontsize="small"))
    ax.set_xticks(x, list(names))
    ax.set_ylim(0, 1.1)
    ax.set_ylabel("success rate")
    return {"bars": bars, "errorbar": err, "labels": labels}


def plot_escape_steps(ax, eps, steps, *, predicted=None, max_steps=None, color=None, label=None):
    """Steps until the symmetry gap passed a threshold against the initial perturbation ``eps``
    (log x axis): measured points; runs that never escaped (``steps < 0``) as open triangles at
    ``max_steps`` (default: the largest measured value); the linearized law ``predicted`` (e.g.
    :attr:`landscape.symmetry.Escape.predicted`) as a dashed line where it is finite.

    Returns ``{"measured": PathCollection, "never": PathCollection or None, "predicted": Line2D or None}``.

    >>> import numpy as np
    >>> from matplotlib.figure import Figure
    >>> from landscape import plotting
    >>> ax = Figure().add_subplot()
    >>> eps = np.logspace(-8, -3, 6)
    >>> predicted = np.log(1e-2 / eps) / np.log1p(0.5 * 0.1)
    >>> art = plotting.plot_escape_steps(ax, eps, np.round(predicted), predicted=predicted)
    """
    _check_ax(ax)
    eps = _vector("eps", eps).astype(float)
    steps = _vector("steps", steps).astype(float)
    if eps.shape != steps.shape:
        raise ValueError(f"eps {eps.shape} and steps {steps.shape} must have the same shape")
    if np.any(eps <= 0):
        raise ValueError("eps must be positive (log axis)")
    ok = steps >= 0
    measured = ax.scatter(eps[ok], steps[ok], color=color, label=label, zorder=3, s=22)
    never = None
    if np.any(~ok):
        if max_steps is None:
            max_steps = float(steps[ok].max()) if np.any(ok) else 1.0
        never = ax.scatter(eps[~ok], np.full(np.sum(~ok), float(max_steps)), marker="^",
                           facecolors="none", edgecolors=measured.get_facecolor()[0],
                           label=f"{label}: not escaped" if label else "not escaped", zorder=3, s=30)
    line = None
    if predicted is not None:
        pred = _vector("predicted", predicted).astype(float)
        if pred.shape != eps.shape:
            raise ValueError(f"predicted {pred.shape} must have the shape of eps {eps.shape}")
        finite = np.isfinite(pred)
        if np.any(finite):
            order = np.argsort(eps[finite])
            (line,) = ax.plot(eps[finite][order], pred[finite][order], linestyle="--",
                              color=measured.get_facecolor()[0],
                              label=f"{label}: ln(thr/eps) / ln(1 + lr|lambda|)" if label else
                              "ln(thr/eps) / ln(1 + lr|lambda|)")
    ax.set_xscale("log")
    ax.set_xlabel("initial symmetry-breaking perturbation eps")
    ax.set_ylabel("steps until the gap passes the threshold")
    return {"measured": measured, "never": never, "predicted": line}

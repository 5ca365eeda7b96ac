"""Surface plots: the result objects of :mod:`landscape.surface` (slices, paths, planes, basin
maps), imported lazily so that this module loads without them."""

from __future__ import annotations

import numpy as np

from ._style import _check_ax, _use_log, _vector

__all__ = ["plot_slice_1d", "plot_slice_2d", "plot_surface_3d", "plot_trajectory",
           "plot_path_values", "plot_interpolation", "plot_plane_points",
           "plot_basin_map", "plot_symmetric_view"]


def _check_result(name, value, cls):
    if not isinstance(value, cls):
        raise TypeError(f"{name}={value!r} must be a landscape.surface.{cls.__name__}")


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
    from ..surface import Slice1D

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
    from ..surface import Slice2D

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
    from ..surface import Slice2D

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
    from ..surface import TrajectoryProjection

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
    from ..surface import TrajectoryProjection

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
    >>> interp = surface.interpolate(loss_fn, center, other, data, n_points=11)
    >>> art = plotting.plot_interpolation(Figure().add_subplot(), interp)
    """
    from ..surface import Interpolation

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
    from ..surface import Plane

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

    from ..surface import BasinMap

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
    >>> view = surface.symmetric_view(loss_fn, start, data, model=model, n_points=11)
    >>> art = plotting.plot_symmetric_view(Figure().add_subplot(), view)
    """
    from ..surface import SymmetricView

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

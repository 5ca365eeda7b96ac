"""Tests for landscape.plotting (curvature plots): artists come back, nothing is shown or saved."""

import matplotlib

matplotlib.use("Agg")

import matplotlib.collections  # noqa: E402
import matplotlib.lines  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from landscape import status  # noqa: E402
from landscape import plotting  # noqa: E402


@pytest.fixture
def ax(monkeypatch):
    def forbidden(*args, **kwargs):
        raise AssertionError("library plots must not show or save figures")

    monkeypatch.setattr(plt, "show", forbidden)
    monkeypatch.setattr(Figure, "savefig", forbidden)
    return Figure().add_subplot()


def test_eigenvalue_spectrum_is_sorted_and_coloured_by_sign(ax):
    lam = np.array([2.0, -1.0, 1e-12, 0.5, -3.0])
    art = plotting.plot_eigenvalues(ax, lam)
    assert isinstance(art["stems"], matplotlib.collections.LineCollection)
    assert isinstance(art["points"], matplotlib.collections.PathCollection)
    assert isinstance(art["zero_line"], matplotlib.lines.Line2D)
    offsets = art["points"].get_offsets()
    np.testing.assert_array_equal(offsets[:, 1], np.sort(lam))
    np.testing.assert_array_equal(offsets[:, 0], np.arange(5))
    colours = art["points"].get_facecolors()
    red, grey, blue = (matplotlib.colors.to_rgba(c) for c in ("tab:red", "tab:gray", "tab:blue"))
    # sorted: -3, -1, 1e-12 (zero relative to max 3), 0.5, 2
    np.testing.assert_allclose(colours, [red, red, grey, blue, blue])
    ax.figure.canvas.draw()
    assert all(float(t).is_integer() for t in ax.get_xticks())  # ranks, not 0.5, 1.5, ...


def test_spectral_density_line_and_log_scale(ax):
    grid = np.linspace(-1, 1, 50)
    density = np.exp(-grid**2 / 0.01)
    density[:5] = 0.0
    line = plotting.plot_spectral_density(ax, grid, density, log=True, color="k")
    assert isinstance(line, matplotlib.lines.Line2D)
    assert ax.get_yscale() == "log"
    y = line.get_ydata()
    assert np.all(y > 0) and y.max() == density.max()  # zeros clipped to the floor
    ax2 = Figure().add_subplot()
    line = plotting.plot_spectral_density(ax2, grid, density)
    assert ax2.get_yscale() == "linear"
    np.testing.assert_array_equal(line.get_ydata(), density)


def test_loss_vs_index_scatter_plain_and_by_label(ax):
    frac = np.array([0.0, 0.1, 0.2, 0.1])
    loss = np.array([0.1, 0.2, 0.3, 0.25])
    coll = plotting.plot_loss_vs_index(ax, frac, loss)
    assert isinstance(coll, matplotlib.collections.PathCollection)
    np.testing.assert_array_equal(coll.get_offsets(), np.stack([frac, loss], axis=1))
    labels = np.array([status.POINT.code(n) for n in ("degenerate", "saddle", "saddle", "saddle")])
    arts = plotting.plot_loss_vs_index(Figure().add_subplot(), frac, loss, labels=labels)
    assert set(arts) == {"saddle", "degenerate"}
    assert len(arts["saddle"].get_offsets()) == 3 and arts["saddle"].get_label() == "saddle"


def test_bad_arguments(ax):
    with pytest.raises(TypeError, match="ax="):
        plotting.plot_eigenvalues(None, np.ones(3))
    with pytest.raises(ValueError, match="eigenvalues of shape"):
        plotting.plot_eigenvalues(ax, np.ones((2, 2)))
    with pytest.raises(ValueError, match="same shape"):
        plotting.plot_spectral_density(ax, np.ones(3), np.ones(4))
    with pytest.raises(ValueError, match="labels"):
        plotting.plot_loss_vs_index(ax, np.ones(2), np.ones(2), labels=np.array([0, 9]))


# --------------------------------------------------------------------------------------------
# surface plots (landscape.surface results)

import jax.numpy as jnp  # noqa: E402
import matplotlib.contour  # noqa: E402
import matplotlib.quiver  # noqa: E402
import optax  # noqa: E402

from landscape import surface as sf  # noqa: E402


def _bowl(params, data):
    """exp(|x|^2) - 1 + data: spans several decades on a grid around 0 (log levels)."""
    return jnp.exp(jnp.sum(params["x"] ** 2)) - 1.0 + data


def _bowl_parts():
    center = {"x": jnp.zeros(2)}
    d1, d2 = {"x": jnp.array([1.0, 0.0])}, {"x": jnp.array([0.0, 1.0])}
    return center, d1, d2


def test_slice_1d_plot_marks_center_with_loss_at_center(ax):
    center, d1, _ = _bowl_parts()
    s = sf.slice_1d(_bowl, center, jnp.float32(0.5), d1, np.linspace(-1, 1, 11))
    art = plotting.plot_slice_1d(ax, s)
    np.testing.assert_array_equal(art["line"].get_xdata(), s.ts)
    np.testing.assert_allclose(art["center"].get_offsets(), [[0.0, 0.5]])
    assert s.center_value == pytest.approx(float(_bowl(center, 0.5))) == pytest.approx(s.values[5])
    assert ax.get_xlabel() == "t along direction (|d| = 1)"


def test_slice_2d_plot_log_levels_colorbar_and_center(ax):
    center, d1, d2 = _bowl_parts()
    s = sf.slice_2d(_bowl, center, jnp.float32(1e-3), d1, d2, np.linspace(-2, 2, 9), np.linspace(-1, 1, 5))
    art = plotting.plot_slice_2d(ax, s)
    assert art["log"] is True  # values from 1e-3 to ~150: more than two decades
    assert isinstance(art["contour"], matplotlib.contour.QuadContourSet)
    assert art["colorbar"] is not None and art["colorbar"].ax.get_ylabel() == s.metric_name
    np.testing.assert_allclose(art["center"].get_offsets(), [[0.0, 0.0]])
    assert f"{s.center_value:.4g}" in art["center"].get_label()
    assert s.center_value == pytest.approx(float(_bowl(center, jnp.float32(1e-3))))
    assert s.values[4, 2] == pytest.approx(s.center_value)
    lin = plotting.plot_slice_2d(Figure().add_subplot(), sf.slice_2d(
        _bowl, center, jnp.float32(1.0), d1, d2, np.linspace(-0.5, 0.5, 5), np.linspace(-0.5, 0.5, 3)))
    assert lin["log"] is False
    ax3 = Figure().add_subplot(projection="3d")
    assert plotting.plot_surface_3d(ax3, s, log=True) is not None
    with pytest.raises(TypeError, match="3D axes"):
        plotting.plot_surface_3d(Figure().add_subplot(), s)
    with pytest.raises(TypeError, match="Slice2D"):
        plotting.plot_slice_2d(ax, s.values)


def test_trajectory_path_values_interpolation_and_plane_points(ax):
    center, d1, d2 = _bowl_parts()
    pl = sf.plane_through(center, {"x": jnp.array([1.0, 0.0])}, {"x": jnp.array([0.0, 2.0])})
    t = jnp.linspace(0, 1, 6)[:, None]
    traj = {"x": jnp.concatenate([t, t**2], axis=1)}
    proj = sf.project_trajectory(pl, traj, metric=_bowl, data=jnp.float32(0.0))
    art = plotting.plot_trajectory(ax, proj, label="run")
    np.testing.assert_allclose(art["line"].get_xydata(), proj.coords, rtol=1e-6)
    np.testing.assert_allclose(art["end"].get_offsets(), proj.coords[-1:], rtol=1e-6)
    assert len(plotting.plot_plane_points(ax, pl).get_offsets()) == 3
    fig_ax = Figure().add_subplot()
    lines = plotting.plot_path_values(fig_ax, proj)
    np.testing.assert_allclose(lines["true"].get_ydata(), proj.true_values)
    np.testing.assert_allclose(lines["residual"].get_ydata(), proj.residual)
    with pytest.raises(ValueError, match="no metric values"):
        plotting.plot_path_values(fig_ax, sf.project_trajectory(pl, traj))
    interp = sf.interpolate(lambda p, d: jnp.sin(jnp.pi * p["x"][0]) + p["x"][0], {"x": jnp.zeros(2)},
                            {"x": jnp.ones(2)}, None, n_points=21)
    art = plotting.plot_interpolation(Figure().add_subplot(), interp)
    assert interp.barrier > 0 and f"{interp.barrier:.3g}" in art["barrier"].get_text()


def test_basin_map_plot_legend_and_quiver(ax):
    def wells(params, data):
        return (params[0] ** 2 - 1.0) ** 2 + params[1] ** 2

    bm = sf.basin_map(wells, jnp.zeros(2), None, jnp.array([1.0, 0.0]), jnp.array([0.0, 1.0]),
                      np.linspace(-1.5, 1.5, 4), np.linspace(-1, 1, 3), optimizer=optax.sgd(0.05),
                      steps=100, classify=lambda p: (np.asarray(p)[:, 0] > 0).astype(int),
                      label_names=("left", "right"))
    art = plotting.plot_basin_map(ax, bm)
    assert [t.get_text() for t in art["legend"].get_texts()] == ["left", "right"]
    assert isinstance(art["quiver"], matplotlib.quiver.Quiver) and art["quiver"].N == 12
    assert art["mesh"].get_array().size == 12


def test_symmetric_view_plot(ax):
    center, d1, d2 = _bowl_parts()
    pl = sf.plane(center, d1, d2)
    s = sf.slice_2d(_bowl, center, jnp.float32(0.1), d1, d2, np.linspace(-1, 1, 5), np.linspace(-1, 1, 4))
    traj = {"x": jnp.stack([jnp.linspace(-1, 0, 5), jnp.zeros(5)], axis=1)}
    proj = sf.project_trajectory(pl, traj, name="constant start")
    view = sf.SymmetricView(pl, s, proj, (proj,), -0.5, "gradient", s.center_value)
    art = plotting.plot_symmetric_view(ax, view)
    assert art["constant"]["line"].get_label() == "constant start" and len(art["random"]) == 1
    assert "equilibrium" in art["surface"]["center"].get_label()


# ------------------------------------------------------------------------- minima census plots


def test_basin_shares_plot_lines_bands_and_log_axis(ax):
    groups = np.array([0.1, 1.0, 10.0])
    shares = np.array([[0.2, 0.8], [0.5, 0.5], [0.9, 0.1]])
    art = plotting.plot_basin_shares(ax, groups, shares, shares - 0.05, shares + 0.05,
                                     names=["global", "plateau"])
    assert set(art) == {"global", "plateau"} and ax.get_xscale() == "log"
    np.testing.assert_array_equal(art["global"]["line"].get_ydata(), [0.2, 0.5, 0.9])
    assert isinstance(art["plateau"]["band"], matplotlib.collections.PolyCollection)
    with pytest.raises(ValueError, match="names has 1"):
        plotting.plot_basin_shares(Figure().add_subplot(), groups, shares, shares, shares, names=["x"])
    with pytest.raises(ValueError, match="one row per group"):
        plotting.plot_basin_shares(Figure().add_subplot(), groups[:2], shares, shares, shares)


def test_basin_shares_plot_draws_a_zero_value_left_of_the_log_axis(ax):
    groups = np.array([0.0, 0.1, 1.0, 10.0])
    shares = np.array([[1.0], [0.5], [0.8], [0.2]])
    art = plotting.plot_basin_shares(ax, groups, shares, shares, shares, names=["learned"])
    assert ax.get_xscale() == "log"
    # 0 sits one grid step (10x) below the smallest positive value and is labelled "0"
    # (and is not joined to them: a NaN breaks the line)
    np.testing.assert_allclose(art["learned"]["line"].get_xdata(), [0.01, np.nan, 0.1, 1.0, 10.0])
    np.testing.assert_allclose(art["learned"]["line"].get_ydata(), [1.0, np.nan, 0.5, 0.8, 0.2])
    assert [t.get_text() for t in ax.get_xticklabels()] == ["0", "0.1", "1", "10"]


def test_stacked_shares_bands_stack_to_the_cumulative_shares(ax):
    groups = np.array([10.0, 0.0, 1.0])  # unsorted: drawn in ascending order
    shares = np.array([[0.1, 0.3, 0.6], [1.0, 0.0, 0.0], [0.5, 0.25, 0.25]])
    art = plotting.plot_stacked_shares(ax, groups, shares, names=["a", "b", "c"])
    assert list(art) == ["a", "b", "c"] and ax.get_xscale() == "log"
    for j, name in enumerate("abc"):
        verts = art[name].get_paths()[0].vertices
        for g, row in zip(groups, shares):
            x = 0.1 if g == 0 else g  # 0 drawn one grid step (10x) below 1
            top = max(y for xx, y in verts if np.isclose(xx, x))
            assert top == pytest.approx(row[: j + 1].sum())
    with pytest.raises(ValueError, match="at most 1"):
        plotting.plot_stacked_shares(Figure().add_subplot(), groups, shares + 0.5)
    with pytest.raises(ValueError, match="one row per group"):
        plotting.plot_stacked_shares(Figure().add_subplot(), groups[:2], shares)
    with pytest.raises(ValueError, match="non-negative"):
        plotting.plot_stacked_shares(Figure().add_subplot(), [-1.0, 1.0, 100.0], shares, log_x=True)


def test_restart_curve_plot(ax):
    ks = np.arange(1, 6)
    p = 0.3
    art = plotting.plot_restart_curve(ax, ks, 1 - (1 - p) ** ks, 1 - 0.8 ** ks, 1 - 0.6 ** ks,
                                      empirical=1 - (1 - p) ** ks)
    np.testing.assert_allclose(art["line"].get_ydata(), 1 - 0.7 ** ks)
    assert art["empirical"].get_label() == "from the runs"
    with pytest.raises(ValueError, match="one shape"):
        plotting.plot_restart_curve(Figure().add_subplot(), ks, ks[:3], ks, ks)


def test_loss_histogram_marks_levels_on_a_log_axis(ax):
    loss = np.concatenate([np.full(50, 1e-4), np.full(20, 0.125), [np.nan]])
    art = plotting.plot_loss_histogram(ax, loss, levels=[1e-4, 0.125], level_names=["a", "b"], bins=10)
    assert ax.get_xscale() == "log" and len(art["levels"]) == 2
    assert sum(p.get_height() for p in art["bars"]) == 70  # the NaN is left out
    assert art["levels"][1].get_xdata()[0] == 0.125


def test_barrier_matrix_and_disconnectivity_graph(ax):
    barrier = np.array([[np.nan, 0.1, 0.3], [0.1, np.nan, 0.2], [0.3, 0.2, np.nan]])
    art = plotting.plot_barriers(ax, barrier, names=["a", "b", "c"])
    assert len(art["texts"]) == 6
    ax2 = Figure().add_subplot()
    losses = np.array([0.0, 0.125, 0.167])
    merges = np.array([[0, 1, 0.2], [0, 2, 0.25]])
    art = plotting.plot_disconnectivity(ax2, losses, merges, names=["global", "p1", "p2"])
    assert art["order"] == [0, 1, 2]
    # every point's stem starts at its own loss; the joins sit at the merge levels
    starts = {tuple(line.get_xdata()): line.get_ydata()[0] for line in art["lines"]
              if line.get_xdata()[0] == line.get_xdata()[1]}
    assert {starts[(x, x)] for x in (0.0, 1.0, 2.0)} == set(losses)
    joins = sorted(line.get_ydata()[0] for line in art["lines"]
                   if line.get_xdata()[0] != line.get_xdata()[1])
    assert joins == [0.2, 0.25]
    with pytest.raises(ValueError, match="outside"):
        plotting.plot_disconnectivity(Figure().add_subplot(), losses, [[0, 5, 1.0]])


# ------------------------------------------------------------------------------ symmetry plots


def test_quantile_band_median_and_band(ax):
    x = np.arange(5.0)
    values = np.stack([x, 2 * x, 3 * x])  # median 2x
    art = plotting.plot_quantile_band(ax, x, values, quantiles=(0.0, 1.0), label="runs")
    np.testing.assert_array_equal(art["line"].get_ydata(), 2 * x)
    assert isinstance(art["band"], matplotlib.collections.PolyCollection)
    assert art["line"].get_label() == "runs"
    ax2 = Figure().add_subplot()
    art = plotting.plot_quantile_band(ax2, x, values + 1, log=True)
    assert ax2.get_yscale() == "log"
    with pytest.raises(ValueError, match="quantiles"):
        plotting.plot_quantile_band(ax, x, values, quantiles=(0.9, 0.1))
    with pytest.raises(ValueError, match=r"\(n, 5\)"):
        plotting.plot_quantile_band(ax, x, values[:, :3])


def test_symmetry_gap_draws_exact_zeros_at_a_marked_floor(ax):
    steps = np.arange(4.0)
    gaps = np.array([[0.0, 0.0, 1e-17, 1e-15], [0.0, 0.0, 0.0, 0.0], [0.0, 1e-16, 1e-15, 1e-13]])
    art = plotting.plot_symmetry_gap(ax, steps, gaps)
    floor = art["floor"].get_ydata()[0]
    assert floor == 1e-20 and ax.get_yscale() == "log"
    assert art["line"].get_ydata()[0] == floor  # all-zero first record sits on the floor
    assert art["line"].get_ydata()[-1] == 1e-15
    art = plotting.plot_symmetry_gap(Figure().add_subplot(), steps, np.zeros((2, 4)))
    assert np.all(art["line"].get_ydata() == 1e-20)
    with pytest.raises(ValueError, match="non-negative"):
        plotting.plot_symmetry_gap(ax, steps, -gaps)


def test_unit_weights_one_colour_per_unit_one_style_per_parameter(ax):
    steps = np.arange(3.0)
    units = np.random.default_rng(0).normal(size=(3, 2, 4))
    art = plotting.plot_unit_weights(ax, steps, units, names=["w1", "w2", "b", "v"])
    lines = art["lines"]
    assert len(lines) == 2 and len(lines[0]) == 4
    assert lines[0][0].get_color() != lines[1][0].get_color()
    assert lines[0][1].get_linestyle() != lines[0][0].get_linestyle()
    np.testing.assert_array_equal(lines[1][3].get_ydata(), units[:, 1, 3])
    with pytest.raises(ValueError, match="n_records"):
        plotting.plot_unit_weights(ax, steps[:2], units)
    with pytest.raises(ValueError, match="names"):
        plotting.plot_unit_weights(ax, steps, units, names=["a"])


def test_success_rates_bars_with_intervals(ax):
    art = plotting.plot_success_rates(ax, ["constant", "random"], [0, 30], 40, [0.0, 0.6], [0.09, 0.86])
    heights = [b.get_height() for b in art["bars"]]
    np.testing.assert_allclose(heights, [0.0, 0.75])
    assert [t.get_text() for t in art["labels"]] == ["0/40", "30/40"]
    with pytest.raises(ValueError, match="contain its rate"):
        plotting.plot_success_rates(ax, ["a"], [30], 40, [0.8], [0.9])
    with pytest.raises(ValueError, match="one entry per group"):
        plotting.plot_success_rates(ax, ["a", "b"], [3], 4, [0.1], [0.9])


def test_escape_steps_measured_never_and_predicted(ax):
    eps = np.array([1e-8, 1e-6, 1e-4, 1e-2])
    steps = np.array([-1, 900, 500, 100])
    pred = np.array([1100.0, 880.0, 510.0, 95.0])
    art = plotting.plot_escape_steps(ax, eps, steps, predicted=pred, max_steps=1000, label="saddle")
    assert ax.get_xscale() == "log"
    assert len(art["measured"].get_offsets()) == 3
    np.testing.assert_array_equal(art["never"].get_offsets(), [[1e-8, 1000.0]])
    np.testing.assert_array_equal(art["predicted"].get_ydata(), pred)
    art = plotting.plot_escape_steps(Figure().add_subplot(), eps, steps, predicted=np.full(4, np.inf))
    assert art["predicted"] is None
    with pytest.raises(ValueError, match="positive"):
        plotting.plot_escape_steps(ax, -eps, steps)


def test_a_direction_label_keeps_one_pair_of_parentheses():
    import jax.numpy as jnp
    from landscape.surface import Direction
    assert Direction(jnp.array([3.0, 4.0]), "random (filter)").label == "random (filter, |d| = 5)"
    assert Direction(jnp.array([3.0, 4.0]), "d").label == "d (|d| = 5)"

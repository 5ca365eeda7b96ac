"""Tests for landscape.plotting (curvature plots): artists come back, nothing is shown or saved."""

import matplotlib

matplotlib.use("Agg")

import matplotlib.collections  # noqa: E402
import matplotlib.lines  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from landscape import curvature as cv  # noqa: E402
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
    labels = np.array([cv.DEGENERATE, cv.SADDLE, cv.SADDLE, cv.SADDLE])
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

"""Curvature plots: Hessian eigenvalues by sign, spectral densities, loss against index."""

from __future__ import annotations

import math

import numpy as np
from matplotlib.ticker import MaxNLocator

from .. import status
from ._style import _check_ax, _vector

__all__ = ["plot_eigenvalues", "plot_spectral_density", "plot_loss_vs_index"]

_SIGN_COLORS = ("tab:red", "tab:gray", "tab:blue")  # negative, zero, positive


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
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))  # ranks are whole numbers
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


def plot_loss_vs_index(ax, index_fraction, loss, *, labels=None, label_names=status.POINT,
                       **scatter_kwargs):
    """Scatter of loss against index fraction (negative eigenvalues / n) over critical points,
    the picture of Dauphin et al. (2014): higher-index saddles sit at higher loss.

    ``index_fraction`` and ``loss`` are 1-D of one length (e.g. from
    :func:`landscape.curvature.index_fraction` and ``CriticalPoint.loss`` of a batch). Without
    ``labels`` one PathCollection is returned; with int ``labels`` (codes into ``label_names``,
    default :data:`landscape.status.POINT`) each label present gets its own scatter,
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

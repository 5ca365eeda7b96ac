"""Training plots: the median and a quantile band over runs (e.g. loss curves)."""

from __future__ import annotations

import numpy as np

from ._style import _check_ax, _check_quantiles, _runs_matrix, _vector

__all__ = ["plot_quantile_band"]


def plot_quantile_band(ax, x, values, *, quantiles=(0.1, 0.9), log=False, floor=None, color=None,
                       label=None, alpha=0.25, band="fill", linewidth=1.5, zorder=None):
    """The median over runs of ``values (n_runs, n_points)`` at each ``x (n_points,)`` as a line,
    and the band between two ``quantiles`` (default 10% and 90%) in the same colour: shaded
    (``band="fill"``) or drawn as two thin dotted edges (``band="edges"``, for several bands on
    one axes: shaded bands that overlap blend into a muddy colour).

    With ``log=True`` the y axis is logarithmic and values below ``floor`` (default: a tenth of
    the smallest positive value) are drawn at ``floor``. Returns ``{"line": Line2D, "band":
    PolyCollection}`` (``"band"``: the list of the two edge lines with ``band="edges"``).

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
    if band not in ("fill", "edges"):
        raise ValueError(f"band={band!r} is not one of ('fill', 'edges')")
    if log:
        if floor is None:
            positive = values[values > 0]
            floor = float(positive.min()) / 10 if positive.size else 1e-300
        if not floor > 0:
            raise ValueError(f"floor={floor!r} must be positive on a log scale")
        values = np.maximum(values, floor)
    med = np.median(values, axis=0)
    lo, hi = np.quantile(values, [lo_q, hi_q], axis=0)
    (line,) = ax.plot(x, med, color=color, label=label, linewidth=linewidth, zorder=zorder)
    if band == "fill":
        band = ax.fill_between(x, lo, hi, color=line.get_color(), alpha=alpha, linewidth=0)
    else:
        band = [ax.plot(x, edge, color=line.get_color(), linestyle=":", linewidth=0.9,
                        alpha=0.8, zorder=zorder)[0] for edge in (lo, hi)]
    if log:
        ax.set_yscale("log")
    return {"line": line, "band": band}

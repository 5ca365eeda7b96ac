"""Shared helpers of the plotting package: argument checks on axes and arrays, the automatic
log-scale rule. Plotting-specific, so private to :mod:`landscape.plotting`."""

from __future__ import annotations

import matplotlib.axes
import matplotlib.ticker
import numpy as np


def _check_ax(ax) -> None:
    if not isinstance(ax, matplotlib.axes.Axes):
        raise TypeError(f"ax={ax!r} must be a matplotlib Axes (e.g. fig.add_subplot())")


def _integer_ticks() -> matplotlib.ticker.Locator:
    """A tick locator for an axis of whole numbers (counts, restarts, units): no tick at 2.5."""
    return matplotlib.ticker.MaxNLocator(integer=True)


def _vector(name, values) -> np.ndarray:
    arr = np.asarray(values)
    if arr.ndim != 1 or arr.size == 0:
        raise ValueError(f"{name} of shape {arr.shape} must be a non-empty 1-D array")
    if not np.issubdtype(arr.dtype, np.number):
        raise TypeError(f"{name} must be numeric, got dtype {arr.dtype}")
    return arr


def _matrix(name, values, shape=None) -> np.ndarray:
    arr = np.asarray(values, np.float64)
    if arr.ndim != 2 or (shape is not None and arr.shape != shape):
        want = f" {shape}" if shape is not None else ""
        raise ValueError(f"{name} of shape {arr.shape} must be a 2-D array{want}")
    return arr


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


_LOG_DECADES = 2.0
"""``log=None`` uses log-scaled levels when positive values span at least this many decades."""


def _use_log(values, log):
    finite = values[np.isfinite(values)]
    if log is None:
        return bool(finite.size and finite.min() > 0 and np.log10(finite.max() / finite.min()) >= _LOG_DECADES)
    if not isinstance(log, bool):
        raise TypeError(f"log={log!r} must be True, False or None (automatic)")
    return log

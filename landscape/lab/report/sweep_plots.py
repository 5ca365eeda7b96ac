"""Plots of a sweep's headline numbers against its swept parameters (matplotlib ``Figure``
objects, never pyplot), embedded in the sweep page as PNG data.

One plot per headline number: the number against the first swept parameter; with more swept
parameters, one line per value (combination) of the others. Parameters that are not numbers
(e.g. an activation's name) are placed at equal steps and labelled.
"""

from __future__ import annotations

import io
import math
from typing import Any, Mapping, Sequence

from matplotlib.figure import Figure

from .page import data_uri, e, words


_MARKERS = ("o", "s", "^", "D", "v", "P")
_DASHES = ("-", "--", ":", "-.")


def plottable(value: Any) -> bool:
    """Whether a headline value can be drawn: a finite int or float (not a bool).

    >>> [plottable(v) for v in (0.5, 3, True, None, float("nan"), "x")]
    [True, True, False, False, False, False]
    """
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _numeric(values: Sequence[Any]) -> bool:
    return all(plottable(v) for v in values)


def _series(points: Sequence[Mapping[str, Any]], keys: Sequence[str], column: str
            ) -> dict[tuple, list[tuple[Any, float]]]:
    """``{values of keys[1:]: [(value of keys[0], headline), ...]}`` over the points that have a
    plottable ``column`` (``points``: ``{"overrides": {...}, "headline": {...}}``)."""
    lines: dict[tuple, list[tuple[Any, float]]] = {}
    for point in points:
        value = point["headline"].get(column)
        if plottable(value):
            rest = tuple(point["overrides"].get(k) for k in keys[1:])
            lines.setdefault(rest, []).append((point["overrides"].get(keys[0]), value))
    return lines


def headline_figure(points: Sequence[Mapping[str, Any]], keys: Sequence[str], column: str,
                    label: str, sweep_values: Mapping[str, Sequence[Any]]) -> Figure | None:
    """The plot of headline ``column`` (shown as ``label``) against swept ``keys[0]``, one
    line per value of ``keys[1:]``; None when no point has a number for it.

    >>> points = [{"overrides": {"lr": lr, "seed": s}, "headline": {"rate": lr * (s + 1)}}
    ...           for lr in (0.5, 1.0) for s in (0, 1)]
    >>> fig = headline_figure(points, ["lr", "seed"], "rate", "success rate", {"lr": [0.5, 1.0], "seed": [0, 1]})
    >>> ax = fig.axes[0]
    >>> [line.get_label() for line in ax.get_lines()], ax.get_lines()[1].get_ydata().tolist()
    (['seed = 0', 'seed = 1'], [1.0, 2.0])
    """
    lines = _series(points, keys, column)
    if not lines:
        return None
    x_values = list(sweep_values.get(keys[0], []))
    numeric = _numeric(x_values)
    where = (lambda v: v) if numeric else (lambda v: x_values.index(v) if v in x_values else math.nan)
    fig = Figure(figsize=(4.8, 3.2), dpi=100, layout="constrained")
    ax = fig.add_subplot()
    for k, (rest, pairs) in enumerate(lines.items()):  # markers and dashes differ: equal lines stay visible
        pairs = sorted(pairs, key=lambda p: where(p[0]))
        name = ", ".join(f"{words(key)} = {v}" for key, v in zip(keys[1:], rest))
        ax.plot([where(x) for x, _ in pairs], [y for _, y in pairs], marker=_MARKERS[k % len(_MARKERS)],
                linestyle=_DASHES[k % len(_DASHES)], markersize=7 - k % 3, label=name or None)
    if not numeric:
        ax.set_xticks(range(len(x_values)), [str(v) for v in x_values])
    elif x_values and min(x_values) > 0 and max(x_values) / min(x_values) >= 100:
        ax.set_xscale("log")
    ax.set_xlabel(words(keys[0]))
    ax.set_ylabel(label)
    ax.grid(alpha=0.3)
    if len(keys) > 1:
        ax.legend(fontsize="small")
    return fig


def png_uri(fig: Figure) -> str:
    """The ``data:`` URI of ``fig`` drawn as PNG."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    return data_uri(buffer.getvalue(), "png")


def headline_plots(points: Sequence[Mapping[str, Any]], keys: Sequence[str],
                   labels: Mapping[str, str], sweep_values: Mapping[str, Sequence[Any]]) -> str:
    """The HTML of every headline plot (``labels``: ``{column: header}``), each a ``<figure>``
    with a caption; empty when nothing can be drawn."""
    if not keys:
        return ""
    others = ", ".join(words(k) for k in keys[1:])
    parts = []
    for column, label in labels.items():
        fig = headline_figure(points, keys, column, label, sweep_values)
        if fig is None:
            continue
        caption = f"{label} against {words(keys[0])}" + (f", one line per {others}" if others else "")
        parts.append(f'<figure data-column="{e(column)}"><img src="{png_uri(fig)}" alt="{e(label)}">'
                     f'<figcaption>{e(caption)}.</figcaption></figure>')
    return f'<div class="plots">{"".join(parts)}</div>' if parts else ""

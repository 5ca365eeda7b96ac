"""Minima-census plots: plain arrays (so an experiment can redraw them from saved results):
basin shares against a swept parameter, restart curves, loss histograms, barriers,
disconnectivity graphs."""

from __future__ import annotations

import math

import numpy as np

from ._style import _check_ax, _integer_ticks, _matrix, _use_log, _vector

__all__ = ["plot_basin_shares", "plot_stacked_shares", "plot_restart_curve",
           "plot_loss_histogram", "plot_barriers", "plot_disconnectivity"]


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
    interval ends per category (:class:`landscape.stats.BasinShares`); ``names (C,)`` label the
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
    rows sum to at most 1 (e.g. :attr:`landscape.stats.BasinShares.shares`); ``names``,
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
    runs themselves as markers (:class:`landscape.stats.RestartCurve`).

    Returns a dict: ``"line"`` (Line2D), ``"band"`` (PolyCollection), ``"empirical"``
    (Line2D or None).

    >>> import numpy as np
    >>> from matplotlib.figure import Figure
    >>> from landscape import plotting
    >>> ax = Figure().add_subplot()
    >>> from landscape import stats
    >>> c = stats.restart_curve(np.arange(100) < 30, ks=np.arange(1, 11))
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
    ax.xaxis.set_major_locator(_integer_ticks())
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
    ax.yaxis.set_major_locator(_integer_ticks())
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


def plot_hierarchy(ax, linkage, *, cuts=(), max_leaves=40, log=True, color="black",
                   cut_color="tab:red"):
    """The single-linkage hierarchy as a dendrogram (``scipy.cluster.hierarchy.dendrogram``)
    with its cuts marked: ``linkage`` as :attr:`landscape.minima.Hierarchy.linkage` (leaves are
    distinct points), ``cuts`` the levels' distance thresholds (``Level.cut``; infinite cuts are
    skipped). More than ``max_leaves`` leaves are folded into the last ``max_leaves`` merges
    (a leaf label ``(n)`` counts the points under it). ``log``: merge heights on a log axis
    (the gaps the cuts sit in are ratios). Returns a dict: ``"dendrogram"`` (SciPy's output)
    and ``"cuts"`` (one Line2D per finite cut).

    >>> import numpy as np
    >>> from matplotlib.figure import Figure
    >>> from landscape import minima, plotting
    >>> h = minima.hierarchy(np.array([[0.0], [1e-3], [1.0], [1.001]]))
    >>> art = plotting.plot_hierarchy(Figure().add_subplot(), h.linkage, cuts=[l.cut for l in h.levels])
    >>> len(art["cuts"])
    1
    """
    from scipy.cluster.hierarchy import dendrogram

    _check_ax(ax)
    z = np.asarray(linkage, np.float64)
    if z.ndim != 2 or z.shape[1] != 4:
        raise ValueError(f"linkage of shape {z.shape} must be (n - 1, 4), a SciPy linkage matrix")
    cuts = [float(c) for c in np.ravel(np.asarray(cuts, np.float64))]
    max_leaves = int(max_leaves)
    if max_leaves < 2:
        raise ValueError(f"max_leaves={max_leaves!r} must be >= 2")
    lines = []
    if z.shape[0] == 0:
        out = {"icoord": [], "dcoord": [], "ivl": [], "leaves": []}
    else:
        if log:  # a log axis cannot show a zero height: lift them to the smallest positive one
            z = z.copy()
            pos = z[:, 2][z[:, 2] > 0]
            z[:, 2] = np.maximum(z[:, 2], pos.min() / 2 if pos.size else 1.0)
        trunc = dict(truncate_mode="lastp", p=max_leaves) if z.shape[0] + 1 > max_leaves else {}
        out = dendrogram(z, ax=ax, color_threshold=0.0, above_threshold_color=color,
                         no_labels=z.shape[0] + 1 > max_leaves and not trunc, **trunc)
        if log:
            ax.set_yscale("log")
    for c in cuts:
        if np.isfinite(c):
            lines.append(ax.axhline(c, color=cut_color, linestyle="--", linewidth=1))
    ax.set_ylabel("merge height (distance)")
    return {"dendrogram": out, "cuts": lines}

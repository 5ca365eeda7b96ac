"""xor_minima_census: where do thousands of XOR runs end, modulo the network's symmetries, and
how much of the initialization space drains into each basin?

For each architecture (``"sigmoid:2"`` is the classic logistic 2-2-1 net; ``"sigmoid:3"`` the
2-3-1; ``"tanh:2"`` a 2-2-1 with tanh hidden units; outputs are logistic, the loss is the mean
squared error, plain gradient descent) and each init scale ``s`` (weights and biases drawn from
``N(0, s^2)``), ``n_runs`` runs are trained. The end points of all scales of one architecture are
pooled and clustered modulo the symmetry group (:func:`landscape.minima.census`: function-space
groups on the four XOR inputs, then the parameter-space classes modulo the group inside each,
every cut read from the gaps of the single-linkage hierarchy; still-moving runs, by a threshold
read from the runs' gradient norms, and diverged runs counted apart), so the clusters are the
same across scales. The growth test (the training optimizer) labels traps at infinity.
Then, per architecture: the clusters table (size, share with a Wilson interval, loss, the
representative's critical-point class with a growth test for traps at infinity, duplicated /
dead / saturated units), the basin shares against init scale, the restart curve
P(success within k restarts) per scale (from the runs and as ``1 - (1 - p)^k``), the loss
barriers between the largest clusters' representatives along straight paths after alignment
and their disconnectivity tree, and the loss on the plane through the three largest clusters'
representatives.

Outputs in the results folder:
  config.json            resolved config, seed, versions
  summary.json           per architecture: counts, tolerance, clusters (size, share and interval,
                         loss, kind, structures, representative outputs), restart counts; the
                         printed table and text
  arch<i>.npz            per run: labels, loss, scale, grad_norm, status; per cluster: size, mean
                         loss, representative; basin shares by scale (shares, lo, hi, names);
                         restart curves; barriers, saddles, merges; the 2D slice
  chunks/                finished training chunks (an interrupted run resumes from them)
  basin_shares.png, restarts.png, loss_histogram.png, slices.png, disconnectivity.png,
  hierarchy.png          the function-space dendrogram of the largest loss window, cuts marked
"""

from __future__ import annotations

import dataclasses
import math

import jax
import numpy as np
import optax

import landscape as ls
from landscape import minima as mn
from landscape import stats
from landscape import status as st
from landscape import surface as sf
from landscape.lab.config import Experiment, require_counts, runs_bytes
from landscape.lab.resumable import train_resumable
from landscape.lab.store import ResultsDir
from landscape.train import concat_results

ACTIVATIONS_ALLOWED = ("sigmoid", "tanh", "erf")
TOP = 5
"""Clusters shown by name in the basin-share figure (the rest are summed)."""
TABLE_ROWS = 8
"""Clusters per architecture in the printed table (the rest are summed)."""


@dataclasses.dataclass(frozen=True)
class Config:
    seed: int = 0
    n_runs: int = 10_000
    architectures: tuple[str, ...] = ("sigmoid:2", "sigmoid:3", "tanh:2")
    scales: tuple[float, ...] = (0.25, 0.5, 1.0, 2.0, 4.0)
    steps: int = 5000
    learning_rate: float = 2.0
    loss: str = "mse"
    chunk_size: int = 10_000
    grad_tol: float | None = None
    growth_steps: int = 2000
    max_restarts: int = 20
    confidence: float = 0.95
    barrier_points: int = 41
    slice_points: int = 41
    connect: int = 6

    def memory_bytes(self) -> int:
        """A lower bound of the bytes this config needs (the runs of the widest architecture, the
        slice grid and the barrier paths), float32; checked against the available memory before
        any write (:func:`landscape.lab.config.check_memory`)."""
        params = 4 * max(parse_architecture(a)[1] for a in self.architectures) + 1
        points = self.slice_points ** 2 + self.connect * self.barrier_points
        return runs_bytes(self.n_runs, params, chunk_size=self.chunk_size) + points * (params + 1) * 4

    def check(self) -> None:
        require_counts(self, ("n_runs", "steps", "chunk_size", "growth_steps", "max_restarts",
                              "connect"))
        for key in ("barrier_points", "slice_points"):
            if getattr(self, key) < 3:
                raise ValueError(f"config key {key!r} = {getattr(self, key)!r} must be >= 3")
        if self.grad_tol is not None and not self.grad_tol > 0:
            raise ValueError(f"config key 'grad_tol' = {self.grad_tol!r} must be > 0 (or absent: "
                             "read from the runs' final gradient norms)")
        if not self.learning_rate > 0:
            raise ValueError(f"config key 'learning_rate' = {self.learning_rate!r} must be > 0")
        if not 0 < self.confidence < 1:
            raise ValueError(f"config key 'confidence' = {self.confidence!r} must be in (0, 1)")
        if not self.scales or not all(s > 0 for s in self.scales):
            raise ValueError(f"config key 'scales' = {self.scales!r} must be positive init scales")
        if len(set(self.scales)) != len(self.scales):
            raise ValueError(f"config key 'scales' = {self.scales!r} has repeated values")
        if not self.architectures:
            raise ValueError("config key 'architectures' must name at least one, e.g. 'sigmoid:2'")
        for arch in self.architectures:
            parse_architecture(arch)
        if self.loss not in ls.objectives.LOSSES:
            raise ValueError(f"config key 'loss' = {self.loss!r} is not one of {ls.objectives.LOSSES}")


SMOKE = Config(n_runs=128, architectures=("sigmoid:2",), scales=(0.5, 2.0), steps=2000,
               chunk_size=128, growth_steps=200, max_restarts=5, barrier_points=11,
               slice_points=9, connect=3)


def parse_architecture(text: str) -> tuple[str, int]:
    """``"sigmoid:2"`` -> ``("sigmoid", 2)``: hidden activation and width of a 2-H-1 net."""
    act, sep, width = str(text).partition(":")
    if not sep or act not in ACTIVATIONS_ALLOWED or not width.isdigit() or int(width) < 1:
        raise ValueError(f"architecture {text!r} must look like 'sigmoid:2' (hidden activation "
                         f"among {ACTIVATIONS_ALLOWED} : hidden width >= 1)")
    return act, int(width)


def _fmt_share(share, lo, hi) -> str:
    return f"{share:.1%} [{lo:.1%}, {hi:.1%}]"


def _outputs(values) -> str:
    return " ".join(f"{v:.2f}" for v in np.asarray(values).ravel())


def _slice(loss_fn, params, reps, data, model, points):
    """The loss on the plane through the three largest clusters' representatives (the second
    and third moved to their group images closest to the first)."""
    take = lambda i: jax.tree.map(lambda a: np.asarray(a[i]), params)  # noqa: E731
    a = take(reps[0])
    b = mn.closest_image(take(reps[1]), a, model=model)
    c = mn.closest_image(take(reps[2]), a, model=model)
    plane = sf.plane_through(a, b, c, names=("cluster 0", "cluster 1", "cluster 2"))
    pts = plane.points
    pad = 0.35
    lo, hi = pts.min(axis=0), pts.max(axis=0)
    span = np.maximum(hi - lo, 1e-6)
    alphas = np.linspace(lo[0] - pad * span[0], hi[0] + pad * span[0], points)
    betas = np.linspace(lo[1] - pad * span[1], hi[1] + pad * span[1], points)
    s = sf.slice_2d(loss_fn, plane.origin, data, plane.d1, plane.d2, alphas, betas)
    return s, plane


def _architecture(config: Config, arch: str):
    """``(model, loss_fn)`` of the architecture ``arch`` ("tanh-3")."""
    act, width = parse_architecture(arch)
    model = ls.mlp([2, width, 1], activation=act, output="sigmoid")
    return model, ls.objectives.loss(model, config.loss)


def plans(config: Config) -> dict:
    """Every training phase, ``{"arch<a>_scale<s>": TrainPlan}`` (``run`` trains them)."""
    key = jax.random.key(config.seed)
    out = {}
    for ai, arch in enumerate(config.architectures):
        model, loss_fn = _architecture(config, arch)
        for si, scale in enumerate(config.scales):
            out[f"arch{ai}_scale{si}"] = ls.plan_training(
                loss_fn, ls.inits.normal(model, scale), optax.sgd(config.learning_rate),
                ls.datasets.xor(), key=jax.random.fold_in(jax.random.fold_in(key, ai), si),
                n_runs=config.n_runs, steps=config.steps, record_every=config.steps,
                chunk_size=config.chunk_size)
    return out


def run(config: Config, results: ResultsDir, progress: bool | None = None) -> dict:
    data = ls.datasets.xor()
    optimizer = optax.sgd(config.learning_rate)
    summary = {"architectures": {}, "scales": list(config.scales)}
    rows, text = [], []
    ks = np.arange(1, config.max_restarts + 1)
    phases = plans(config)
    for ai, arch in enumerate(config.architectures):
        act, width = parse_architecture(arch)
        model, loss_fn = _architecture(config, arch)
        parts, scale_of = [], []
        for si, scale in enumerate(config.scales):
            tag = f"arch{ai}_scale{si}"
            parts.append(train_resumable(phases[tag], results, tag, progress=progress))
            scale_of.append(np.full(config.n_runs, scale))
        result = concat_results(parts)
        scale_of = np.concatenate(scale_of)
        census = mn.census(loss_fn, result.params, data, model=model, loss=result.final_loss,
                           status=result.status, grad_norm=result.grad_norm,
                           grad_tol=config.grad_tol, optimizer=optimizer,
                           growth_steps=config.growth_steps,
                           options=mn.ClusterOptions(space="both", seed=config.seed))
        labels = census.labels
        k = len(census.clusters)
        arrays = dict(census.arrays())
        arrays.update(scale=scale_of, grad_norm=result.grad_norm, status=result.status)

        # basin shares by init scale: the TOP largest clusters, the rest summed, then categories
        by_size = sorted(range(k), key=lambda c: -census.clusters[c].size)[:TOP]
        shown = sorted(by_size)
        names, masks = [], []
        for c in shown:
            names.append(f"cluster {c}")
            masks.append(labels == c)
        rest = (labels >= 0) & ~np.isin(labels, shown)
        if rest.any():
            names.append("other clusters")
            masks.append(rest)
        for code, name in st.CATEGORY.items():
            if np.any(labels == code):
                names.append(name)
                masks.append(labels == code)
        groups = np.asarray(config.scales, np.float64)
        counts = np.array([[np.sum(m & (scale_of == s)) for m in masks] for s in groups])
        totals = np.array([np.sum(scale_of == s) for s in groups])
        lo, hi = stats.wilson_interval(counts, np.broadcast_to(totals[:, None], counts.shape),
                                    confidence=config.confidence)
        arrays.update(share_groups=groups, share_names=np.array(names, dtype=np.str_),
                      shares=counts / totals[:, None], share_lo=lo, share_hi=hi)

        # restart curves per scale (success: the run ended in cluster 0, the lowest-loss class)
        curves = [stats.restart_curve(labels[scale_of == s] == 0, ks, confidence=config.confidence)
                  for s in groups]
        arrays.update(restart_ks=ks, restart_formula=np.stack([c.formula for c in curves]),
                      restart_lo=np.stack([c.lo for c in curves]),
                      restart_hi=np.stack([c.hi for c in curves]),
                      restart_empirical=np.stack([c.empirical for c in curves]))

        # connectivity between the largest clusters' representatives, and the plane through 3
        top = sorted(sorted(range(k), key=lambda c: -census.clusters[c].size)[:config.connect])
        reps = census.representatives()
        arch_summary = {
            "model": list(model.sizes), "activation": act, "runs": int(labels.size),
            "counts": census.counts(), "tolerance": census.clustering.describe_tolerance(),
            "thresholds": census.describe().splitlines(),
            "groups": int(census.clustering.groups.max()) + 1 if k else 0,
            "clusters": [], "restarts_for_99": {},
        }
        if len(top) >= 2:
            con = mn.connectivity(loss_fn, jax.tree.map(lambda a: np.asarray(a[reps[top]]), result.params),
                                  data, model=model, names=[f"cluster {c}" for c in top],
                                  n_points=config.barrier_points)
            arrays.update(barrier=con.barrier, saddle=con.saddle, merges=con.merges,
                          connect_losses=con.losses, connect_names=np.array(con.names, dtype=np.str_))
        if k >= 3:
            three = sorted(range(k), key=lambda c: -census.clusters[c].size)[:3]
            s, plane = _slice(loss_fn, result.params, reps[three], data, model, config.slice_points)
            arrays.update(slice_alphas=s.alphas, slice_betas=s.betas, slice_values=s.values,
                          slice_center_value=np.array(s.center_value), slice_points=plane.points,
                          slice_names=np.array([f"cluster {c}" for c in three], dtype=np.str_),
                          slice_d1=np.array(s.d1.label), slice_d2=np.array(s.d2.label))
        results.write_arrays(f"arch{ai}", arrays)

        # summary, table and text
        shares = census.shares(confidence=config.confidence)
        for c in census.clusters:
            arch_summary["clusters"].append({
                "cluster": c.cluster, "runs": c.size, "share": float(shares.shares[0, c.cluster]),
                "share_interval": [float(shares.lo[0, c.cluster]), float(shares.hi[0, c.cluster])],
                "loss_mean": c.loss_mean, "loss_std": c.loss_std, "kind": c.describe_kind(),
                "group": c.group, "thresholds": c.thresholds,
                "representative": c.representative, "outputs": np.asarray(c.outputs).ravel().tolist(),
                "duplicated": c.duplicates, "dead": c.dead, "saturated": c.saturated})
        for s, curve in zip(groups, curves):
            need = (math.ceil(math.log(0.01) / math.log(1 - curve.p)) if 0 < curve.p < 1
                    else (1 if curve.p == 1 else None))
            arch_summary["restarts_for_99"][f"{s:g}"] = need
        summary["architectures"][arch] = arch_summary
        for c in census.clusters[:TABLE_ROWS]:
            j = c.cluster
            rows.append([arch, j, c.size, _fmt_share(shares.shares[0, j], shares.lo[0, j], shares.hi[0, j]),
                         f"{c.loss_mean:.4g}", c.describe_kind(),
                         f"{c.duplicates:.0%}/{c.dead:.0%}/{c.saturated:.0%}", _outputs(c.outputs)])
        if k > TABLE_ROWS:
            size = sum(c.size for c in census.clusters[TABLE_ROWS:])
            rows.append([arch, f"+{k - TABLE_ROWS}", size, f"{size / labels.size:.1%}", "", "", "", ""])
        for code, name in st.CATEGORY.items():
            n_code = int(np.sum(labels == code))
            if n_code:
                lo1, hi1 = stats.wilson_interval(n_code, labels.size, confidence=config.confidence)
                rows.append([arch, name, n_code,
                             _fmt_share(n_code / labels.size, float(lo1), float(hi1)), "", "", "", ""])
        counts_all = census.counts()
        text.append(f"{arch} (2-{width}-1, {act} hidden units): {labels.size} runs over init scales "
                    f"{', '.join(f'{s:g}' for s in groups)}; {k} classes modulo symmetry in "
                    f"{arch_summary['groups']} function-space groups; "
                    f"{counts_all['moving']} still moving, {counts_all['diverged']} diverged, "
                    f"{counts_all['nonfinite']} non-finite (counted, not clustered).")
        text.append(f"  clustering: {census.clustering.describe_tolerance()}.")
        if census.clustering.grad_tol is not None:
            text.append(f"  {census.clustering.grad_tol.describe()}.")
        if k:
            g = census.clusters[0]
            per_scale = ", ".join(f"{s:g}: {curve.p:.1%}" for s, curve in zip(groups, curves))
            share0 = _fmt_share(shares.shares[0, 0], shares.lo[0, 0], shares.hi[0, 0])
            text.append(f"  lowest-loss class (cluster 0, loss {g.loss_mean:.3g}, {g.describe_kind()}, "
                        f"outputs {_outputs(g.outputs)}): {share0} of all runs; by init scale "
                        f"{per_scale}.")
            need = ", ".join(f"{s}: {v}" for s, v in arch_summary["restarts_for_99"].items())
            text.append(f"  restarts for a 99% chance of reaching it, by init scale: {need}.")
            traps = sum(c.kind == "trap_at_infinity" for c in census.clusters)
            text.append(f"  {traps} of {k} clusters are traps at infinity (the weights keep growing "
                        "as the loss falls).")
        if "barrier" in arrays and len(top) >= 2:
            b = arrays["barrier"]
            i0 = top.index(0) if 0 in top else None
            if i0 is not None:
                others = [(b[i0, j], top[j]) for j in range(len(top)) if j != i0]
                low, j = min(others)
                text.append(f"  lowest straight-path barrier out of cluster 0: {low:.3g} (to cluster {j}).")
    summary["table"] = {
        "columns": ["arch", "cluster", "runs", f"share [{config.confidence:.0%} CI]", "loss mean",
                    "kind", "dup/dead/sat", "outputs on 00 01 10 11"],
        "rows": rows,
    }
    summary["text"] = text
    summary["headline"] = _headline(summary["architectures"])
    return summary


def _headline(architectures: dict) -> list[str]:
    found, restarts = [], []
    for arch, a in architectures.items():
        best = a["clusters"][0] if a["clusters"] else None
        act, width = parse_architecture(arch)
        found.append(f"the {a['runs']} runs of the 2-{width}-1 {act} network end in "
                     f"{len(a['clusters'])} kinds of end point (networks that differ only by "
                     "swapping hidden units count as one)"
                     + ("" if best is None else
                        f"; the lowest-loss kind (loss {best['loss_mean']:.2g}) is reached by "
                        f"{best['share']:.1%} of runs"))
        need = " and ".join(f"{n} restarts at init scale {s}" for s, n in a["restarts_for_99"].items()
                            if n is not None)
        if need:
            restarts.append(need if len(architectures) == 1 else f"{need} (2-{width}-1 {act})")
    finding = "; ".join(found)
    return [finding[:1].upper() + finding[1:] + ".",
            "Why: each start drains to one kind of end point, and the lowest-loss kind's basin holds "
            "only part of the starts, so a 99% chance of reaching it takes "
            + ("; ".join(restarts) if restarts else "more restarts") + "."]


def figures(results: ResultsDir) -> dict:
    from matplotlib.figure import Figure

    from landscape import plotting
    from landscape.surface import Direction, Plane, Slice2D

    config = results.read_config()["config"]
    archs = config["architectures"]
    n = len(archs)
    data = [results.read_arrays(f"arch{i}") for i in range(n)]
    figs = {}

    fig = Figure(figsize=(5 * n, 4), layout="constrained")
    axes = fig.subplots(1, n, squeeze=False)
    for ax, arch, a in zip(axes[0], archs, data):
        plotting.plot_basin_shares(ax, a["share_groups"], a["shares"], a["share_lo"], a["share_hi"],
                                   names=[str(s) for s in a["share_names"]])
        ax.set_title(arch)
        ax.legend(fontsize="small")
    fig.suptitle(f"basin shares against init scale ({config['confidence']:.0%} Wilson bands)")
    figs["basin_shares"] = fig

    fig = Figure(figsize=(5 * n, 4), layout="constrained")
    axes = fig.subplots(1, n, squeeze=False)
    for ax, arch, a in zip(axes[0], archs, data):
        for s, f, lo, hi, emp in zip(a["share_groups"], a["restart_formula"], a["restart_lo"],
                                     a["restart_hi"], a["restart_empirical"]):
            art = plotting.plot_restart_curve(ax, a["restart_ks"], f, lo, hi, empirical=emp,
                                              label=f"scale {s:g}")
            art["empirical"].set_label(None)
        ax.set_title(f"{arch}: success = ends in cluster 0")
        ax.legend(fontsize="small", title="1 - (1 - p)^k; o: from the runs")
    figs["restarts"] = fig

    fig = Figure(figsize=(5 * n, 4), layout="constrained")
    axes = fig.subplots(1, n, squeeze=False)
    for ax, arch, a in zip(axes[0], archs, data):
        loss = a["loss"]
        clustered = a["labels"] >= 0
        plotting.plot_loss_histogram(ax, loss[clustered], levels=a["cluster_loss_mean"], log=True)
        ax.set_title(f"{arch}: final losses, cluster levels dashed")
    figs["loss_histogram"] = fig

    with_slices = [(arch, a) for arch, a in zip(archs, data) if "slice_values" in a]
    if with_slices:
        fig = Figure(figsize=(5.5 * len(with_slices), 4.5), layout="constrained")
        axes = fig.subplots(1, len(with_slices), squeeze=False)
        for ax, (arch, a) in zip(axes[0], with_slices):
            s = Slice2D(a["slice_alphas"], a["slice_betas"], a["slice_values"],
                        float(a["slice_center_value"]), Direction(np.zeros(1), str(a["slice_d1"])),
                        Direction(np.zeros(1), str(a["slice_d2"])), "loss")
            plotting.plot_slice_2d(ax, s, mark_center=False)
            ax.set_xlabel(str(a["slice_d1"]))
            ax.set_ylabel(str(a["slice_d2"]))
            plane = Plane(None, None, None, a["slice_points"], tuple(str(x) for x in a["slice_names"]))
            plotting.plot_plane_points(ax, plane)
            ax.set_title(f"{arch}: loss on the plane of three representatives")
        figs["slices"] = fig

    with_conn = [(arch, a) for arch, a in zip(archs, data) if "barrier" in a]
    if with_conn:
        fig = Figure(figsize=(5 * len(with_conn), 8.5), layout="constrained")
        axes = fig.subplots(2, len(with_conn), squeeze=False)
        for j, (arch, a) in enumerate(with_conn):
            names = [str(x) for x in a["connect_names"]]
            plotting.plot_disconnectivity(axes[0, j], a["connect_losses"], a["merges"], names=names)
            axes[0, j].set_title(f"{arch}: disconnectivity (straight paths)")
            plotting.plot_barriers(axes[1, j], a["barrier"], names=names)
        figs["disconnectivity"] = fig

    fig = Figure(figsize=(5.5 * n, 4), layout="constrained")
    axes = fig.subplots(1, n, squeeze=False)
    for ax, arch, a in zip(axes[0], archs, data):
        windows = sorted(key for key in a if key.startswith("linkage_"))
        if not windows:
            ax.set_title(f"{arch}: no hierarchy (tolerance given)")
            continue
        w = max(windows, key=lambda key: a[key].shape[0])  # the largest loss window
        plotting.plot_hierarchy(ax, a[w], cuts=a["cuts_" + w.split("_")[1]])
        ax.set_title(f"{arch}: function-space hierarchy, window {w.split('_')[1]} (cuts dashed)")
    figs["hierarchy"] = fig
    return figs


CAPTIONS = {
    'basin_shares': "The share of runs ending in each class of end points against the start's scale.",
    'restarts': 'The chance that at least one of k restarts reaches the solution class, measured '
                'and predicted.',
    'loss_histogram': 'Final losses of all runs; the dashed lines are the levels of the classes '
                      'found.',
    'slices': 'The loss on the plane through three class representatives.',
    'disconnectivity': 'Barriers between classes along straight paths (a disconnectivity graph).',
    'hierarchy': 'How the end points merge into classes as the distance tolerance grows.',
}
"""Each figure's caption, in the order a reader should see them."""


EXPERIMENT = Experiment(
    name="xor_minima_census",
    question=("Where do thousands of XOR runs end modulo symmetry, and how much of the "
              "initialization space drains into each basin?"),
    config=Config(), smoke=SMOKE, run=run, plans=plans, figures=figures,
    captions=CAPTIONS)

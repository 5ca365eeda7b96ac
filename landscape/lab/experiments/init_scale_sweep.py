"""init_scale_sweep: how does the scale of a random start decide whether XOR is learned, and where
the runs end?

Trains XOR 2-H-1 networks (logistic units, ``loss``, plain gradient descent) from starts whose
weights and biases are drawn from ``N(0, s^2)``, ``runs_per_scale`` runs for every ``s`` in
``scales``: from ``s = 0`` (every weight zero, the symmetric start) through small scales (hidden
units nearly equal) to large ones (saturated units). All scales are one ``train_many`` call: a
unit-normal init times a per-run ``init_scale``. Per scale: the share of runs that learned XOR
(every output within ``tol`` of its target) with a Wilson interval, the share whose hidden units
are still exactly equal (symmetry gap exactly 0), and the share of runs in each basin: the end
points of all scales are pooled and clustered modulo the symmetry group
(:func:`landscape.minima.census`), so a cluster is the same basin at every scale.

Outputs in the results folder:
  config.json            resolved config, seed, versions
  summary.json           per scale: runs, successes, rate and interval, exactly symmetric runs,
                         median gap and steps to success, largest basin; the clusters (runs, loss,
                         kind, outputs); the printed table and text
  runs.npz               per run: scale, final loss, success_step, status, grad_norm, gap,
                         label (cluster, or -1 moving / -2 diverged / -3 non-finite); per scale
                         (scales, successes, totals, success_lo/hi, symmetric); per scale and
                         category (share_names, shares, share_lo/hi); per cluster (loss mean,
                         kind, outputs on the four patterns)
  chunks/                finished training chunks (an interrupted run resumes from them)
  success_rate.png       learned XOR and exactly-equal units against the scale (log axis, 0 set
                         apart), with 95% Wilson bands
  basin_shares.png       the share of runs in each basin, stacked, against the scale

Full config: 9,000 runs of 10,000 steps and the census, about 20 s on a 2-core CPU.
"""

from __future__ import annotations

import dataclasses

import jax
import numpy as np
import optax

import landscape as ls
from landscape import minima as mn
from landscape import stats
from landscape import status as st
from landscape import symmetry as sy
from landscape.lab.config import Experiment, require_counts, require_positive, runs_bytes
from landscape.lab.resumable import train_resumable
from landscape.lab.store import ResultsDir

TOP = 6
"""Clusters named in the basin-share figure (the smaller ones are summed as "other clusters")."""


@dataclasses.dataclass(frozen=True)
class Config:
    seed: int = 0
    runs_per_scale: int = 1000
    scales: tuple[float, ...] = (0.0, 0.01, 0.03, 0.1, 0.3, 1.0, 3.0, 10.0, 30.0)
    hidden: int = 2
    steps: int = 10_000
    learning_rate: float = 2.0
    loss: str = "mse"
    tol: float = 0.4
    chunk_size: int = 3000
    grad_tol: float | None = None
    growth_steps: int = 2000
    confidence: float = 0.95

    def memory_bytes(self) -> int:
        """A lower bound of the bytes this config needs (``runs_per_scale`` runs per scale),
        float32; checked against the available memory before any write
        (:func:`landscape.lab.config.check_memory`)."""
        return runs_bytes(self.runs_per_scale * len(self.scales), 4 * self.hidden + 1,
                          chunk_size=self.chunk_size)

    def check(self) -> None:
        require_counts(self, ("runs_per_scale", "hidden", "steps", "chunk_size", "growth_steps"))
        require_positive(self, ("learning_rate", "tol"))
        if self.grad_tol is not None and not self.grad_tol > 0:
            raise ValueError(f"config key 'grad_tol' = {self.grad_tol!r} must be > 0 (or absent: "
                             "sqrt(eps) of float32)")
        if not 0 < self.confidence < 1:
            raise ValueError(f"config key 'confidence' = {self.confidence!r} must be in (0, 1)")
        if not self.scales or not all(np.isfinite(s) and s >= 0 for s in self.scales):
            raise ValueError(f"config key 'scales' = {self.scales!r} must be init scales >= 0")
        if any(a >= b for a, b in zip(self.scales, self.scales[1:])):
            raise ValueError(f"config key 'scales' = {self.scales!r} must be increasing")
        if self.loss not in ls.objectives.LOSSES:
            raise ValueError(f"config key 'loss' = {self.loss!r} is not one of {ls.objectives.LOSSES}")


SMOKE = Config(runs_per_scale=64, scales=(0.0, 0.1, 1.0, 10.0), steps=2000, chunk_size=256,
               grad_tol=0.01, growth_steps=200)


def _scale_name(scale: float) -> str:
    return "0 (symmetric)" if scale == 0 else f"{scale:g}"


def _per_scale(config: Config, scale_of, result, gap, labels, shares) -> list[dict]:
    """Headline numbers of each scale."""
    out = []
    for i, s in enumerate(config.scales):  # increasing, so row i of the shares (sorted groups)
        m = scale_of == np.float32(s)
        k, n = int(result.succeeded[m].sum()), int(m.sum())
        lo, hi = stats.wilson_interval(k, n, confidence=config.confidence)
        steps = result.success_step[m][result.success_step[m] >= 0]
        j = int(np.argmax(shares.shares[i]))
        out.append({
            "scale": s, "runs": n, "succeeded": k, "success_rate": k / n,
            "success_interval": [float(lo), float(hi)],
            "exactly_symmetric": int(np.sum(gap[m] == 0)), "median_gap": float(np.median(gap[m])),
            "median_success_step": float(np.median(steps)) if steps.size else None,
            "never_moved": int(np.sum(result.grad_norm[m] == 0)),
            "largest_basin": shares.names[j], "largest_basin_share": float(shares.shares[i, j]),
            "moving": int(np.sum(labels[m] == st.CATEGORY.code("moving"))),
        })
    return out


def _headline(config: Config, per_scale: list[dict]) -> list[str]:
    best = max(per_scale, key=lambda p: p["success_rate"])
    others = ", ".join(f"s = {_scale_name(p['scale'])}: {p['success_rate']:.1%}" for p in per_scale
                       if p is not best)
    return [f"Random starts of scale s = {_scale_name(best['scale'])} learned XOR most often "
            f"({best['success_rate']:.1%} of runs in {config.steps} steps)"
            + (f"; other scales: {others}" if others else "") + ".",
            "Why: tiny starts sit next to the all-zero point, where the hidden units are nearly "
            "equal and the gradient nearly vanishes; large starts saturate the units, whose "
            "gradients vanish too."]


def _text(config: Config, per_scale: list[dict], clusters: list[dict]) -> list[str]:
    lines = []
    zero = next((p for p in per_scale if p["scale"] == 0), None)
    if zero is not None:
        lo, hi = zero["success_interval"]
        still = ("every run ends with a gradient of exactly 0: the all-zero start is a critical "
                 "point and no run moves" if zero["never_moved"] == zero["runs"] else
                 f"{zero['never_moved']} runs end with a gradient of exactly 0")
        lines.append(f"s = 0 (every weight zero): {zero['succeeded']} of {zero['runs']} runs learned "
                     f"XOR (95% CI {lo:.1%}-{hi:.1%}); hidden units exactly equal in "
                     f"{zero['exactly_symmetric']} of {zero['runs']}; {still}.")
    positive = [p for p in per_scale if p["scale"] > 0]
    if positive:
        best = max(positive, key=lambda p: p["success_rate"])
        lo, hi = best["success_interval"]
        lines.append(f"best scale s = {best['scale']:g}: {best['success_rate']:.1%} learned (95% CI "
                     f"{lo:.1%}-{hi:.1%}), median {best['median_success_step']:.0f} steps to success."
                     if best["median_success_step"] is not None else
                     f"no positive scale learned XOR within {config.steps} steps.")
        rates = ", ".join(f"{p['scale']:g}: {p['success_rate']:.1%}" for p in positive)
        lines.append(f"learned XOR within {config.steps} steps, by scale: {rates}.")
        steps = ", ".join(f"{p['scale']:g}: {p['median_success_step']:.0f}" for p in positive
                          if p["median_success_step"] is not None)
        lines.append(f"median steps to success of the runs that learned, by scale: {steps} (small "
                     "starts begin next to the all-zero critical point, where the gradient is tiny).")
        symmetric = sum(p["exactly_symmetric"] for p in positive)
        lines.append(f"runs with exactly equal hidden units at s > 0: {symmetric} of "
                     f"{sum(p['runs'] for p in positive)} (any random start breaks the symmetry; "
                     "small ones break it only slightly: median final gap at s = "
                     f"{positive[0]['scale']:g} is {positive[0]['median_gap']:.2g}).")
        small, large = positive[0], positive[-1]
        for p, where in ((small, "smallest"), (large, "largest")):
            lines.append(f"{where} scale s = {p['scale']:g}: most runs end in {p['largest_basin']} "
                         f"({p['largest_basin_share']:.1%}; "
                         f"{_describe(clusters, p['largest_basin'])}).")
    return lines


def _describe(clusters: list[dict], name: str) -> str:
    for c in clusters:
        if f"cluster {c['cluster']}" == name:
            outs = " ".join(f"{v:.2f}" for v in c["outputs"])
            return f"loss {c['loss_mean']:.3g}, {c['kind']}, outputs {outs}"
    return "not a cluster"


def _setup(config: Config):
    """``(model, data, loss_fn, scale_of)``: the network, XOR, the loss, each run's init scale."""
    model = ls.mlp([2, config.hidden, 1], activation="sigmoid", output="sigmoid")
    scale_of = np.repeat(np.asarray(config.scales, np.float32), config.runs_per_scale)
    return model, ls.datasets.xor(), ls.objectives.loss(model, config.loss), scale_of


def plans(config: Config) -> dict:
    """The one training phase, ``{"runs": TrainPlan}`` (every scale's runs; ``run`` trains it)."""
    model, data, loss_fn, scale_of = _setup(config)
    n_runs = scale_of.size
    return {"runs": ls.plan_training(
        loss_fn, ls.inits.normal(model, 1.0),
        optax.inject_hyperparams(optax.sgd)(learning_rate=config.learning_rate), data,
        key=jax.random.key(config.seed), n_runs=n_runs, steps=config.steps,
        record_every=config.steps, chunk_size=config.chunk_size,
        success=ls.objectives.success(model, "within", tol=config.tol),
        hyperparams={"learning_rate": np.full(n_runs, config.learning_rate, np.float32)},
        init_scale=scale_of)}


def run(config: Config, results: ResultsDir, progress: bool | None = None) -> dict:
    model, data, loss_fn, scale_of = _setup(config)
    scales = np.asarray(config.scales, np.float32)
    result = train_resumable(plans(config)["runs"], results, "runs", progress=progress)
    gap = np.asarray(sy.symmetry_gap(result.params, model=model))
    census = mn.census(loss_fn, result.params, data, model=model, loss=result.final_loss,
                       status=result.status, grad_norm=result.grad_norm, grad_tol=config.grad_tol,
                       optimizer=optax.sgd(config.learning_rate), growth_steps=config.growth_steps,
                       options=mn.ClusterOptions(seed=config.seed))
    shares = census.shares(groups=scale_of, confidence=config.confidence)
    symmetric = np.array([np.sum(gap[scale_of == s] == 0) for s in scales])
    successes = np.array([np.sum(result.succeeded[scale_of == s]) for s in scales])
    totals = np.full(scales.size, config.runs_per_scale)
    lo, hi = stats.wilson_interval(successes, totals, confidence=config.confidence)
    sym_lo, sym_hi = stats.wilson_interval(symmetric, totals, confidence=config.confidence)
    clusters = [{"cluster": c.cluster, "runs": c.size, "loss_mean": c.loss_mean,
                 "kind": c.describe_kind(), "outputs": np.asarray(c.outputs).ravel().tolist()}
                for c in census.clusters]
    results.write_arrays("runs", {
        "scale": scale_of, "loss": result.final_loss, "success_step": result.success_step,
        "status": result.status, "grad_norm": result.grad_norm, "gap": gap, "label": census.labels,
        "scales": scales, "successes": successes, "totals": totals, "success_lo": lo,
        "success_hi": hi, "symmetric": symmetric, "symmetric_lo": sym_lo, "symmetric_hi": sym_hi,
        "share_names": np.array(shares.names, dtype=np.str_), "shares": shares.shares,
        "share_lo": shares.lo, "share_hi": shares.hi,
        "cluster_loss_mean": np.array([c["loss_mean"] for c in clusters]),
        "cluster_kind": np.array([c["kind"] for c in clusters], dtype=np.str_),
        "cluster_outputs": np.array([c["outputs"] for c in clusters]).reshape(len(clusters), -1)})
    per_scale = _per_scale(config, scale_of, result, gap, census.labels, shares)
    rows = []
    for p in per_scale:
        lo1, hi1 = p["success_interval"]
        step = p["median_success_step"]
        rows.append([_scale_name(p["scale"]), p["runs"],
                     f"{p['success_rate']:.1%} [{lo1:.1%}, {hi1:.1%}]",
                     "-" if step is None else f"{step:.0f}", p["exactly_symmetric"],
                     f"{p['median_gap']:.2g}", f"{p['largest_basin']} ({p['largest_basin_share']:.0%})"])
    return {
        "per_scale": per_scale, "clusters": clusters, "counts": census.counts(),
        "headline": _headline(config, per_scale),
        "tolerance": census.clustering.describe_tolerance(),
        "table": {"columns": ["init scale s", "runs", f"learned [{config.confidence:.0%} CI]",
                              "median steps", "units equal", "median gap", "largest basin"],
                  "rows": rows},
        "text": _text(config, per_scale, clusters),
    }


def _basin_categories(arrays: dict) -> tuple[np.ndarray, list[str]]:
    """``(shares (G, C'), names)``: the ``TOP`` largest clusters named by their loss and
    outputs on 00 01 10 11, the smaller ones summed as "other clusters", then the moving /
    diverged / non-finite runs present."""
    names = [str(n) for n in arrays["share_names"]]
    shares = arrays["shares"]
    is_cluster = np.array([n.startswith("cluster ") for n in names])
    sizes = shares.sum(axis=0)
    clusters = np.flatnonzero(is_cluster)
    shown = np.sort(clusters[np.argsort(-sizes[clusters], kind="stable")[:TOP]])
    rest = np.setdiff1d(clusters, shown)
    cols = [shares[:, j] for j in shown]
    labels = [f"{names[j]}: loss {arrays['cluster_loss_mean'][j]:.2g}, outputs "
              + " ".join(f"{v:.2f}" for v in arrays["cluster_outputs"][j]) for j in shown]
    if rest.size:
        cols.append(shares[:, rest].sum(axis=1))
        labels.append(f"{rest.size} other clusters")
    for j in np.flatnonzero(~is_cluster):
        if sizes[j] > 0:
            cols.append(shares[:, j])
            labels.append(names[j])
    return np.stack(cols, axis=1), labels


def figures(results: ResultsDir) -> dict:
    from matplotlib.figure import Figure

    from landscape import plotting

    config = results.read_config()["config"]
    a = results.read_arrays("runs")
    n = a["totals"].astype(float)
    xlabel = "init scale s (weights and biases ~ N(0, s^2))"
    figs = {}

    fig = Figure(figsize=(7, 4.5), layout="constrained")
    ax = fig.subplots()
    rates = np.stack([a["successes"] / n, a["symmetric"] / n], axis=1)
    plotting.plot_basin_shares(
        ax, a["scales"], rates, np.stack([a["success_lo"], a["symmetric_lo"]], axis=1),
        np.stack([a["success_hi"], a["symmetric_hi"]], axis=1),
        names=["learned XOR", "hidden units exactly equal"], colors=["tab:blue", "tab:red"],
        xlabel=xlabel)
    ax.set_ylabel("share of runs")
    ax.set_title(f"XOR 2-{config['hidden']}-1, {config['steps']} steps of gradient descent "
                 f"(lr {config['learning_rate']:g}): 95% Wilson bands")
    ax.legend(fontsize="small")
    figs["success_rate"] = fig

    fig = Figure(figsize=(11, 4.5), layout="constrained")
    ax = fig.subplots()
    shares, names = _basin_categories(a)
    plotting.plot_stacked_shares(ax, a["scales"], shares, names=names, xlabel=xlabel)
    ax.set_title("where the runs end (clusters modulo symmetry, pooled over scales)")
    ax.legend(fontsize="small", loc="center left", bbox_to_anchor=(1.01, 0.5))
    figs["basin_shares"] = fig
    return figs


CAPTIONS = {
    'success_rate': 'Success peaks at moderate start scales: tiny starts stay near the symmetric '
                    'point, large ones saturate.',
    'basin_shares': 'Where the runs end at each start scale: each coloured band is the share of '
                    'one class of end points (networks equal up to swapping hidden units count '
                    'as one).',
}
"""Each figure's caption, in the order a reader should see them."""


EXPERIMENT = Experiment(
    name="init_scale_sweep",
    question=("How does the scale of a random start, from 0 (symmetric) to large, decide whether "
              "XOR is learned and which basin a run ends in?"),
    config=Config(), smoke=SMOKE, run=run, plans=plans, figures=figures,
    captions=CAPTIONS)

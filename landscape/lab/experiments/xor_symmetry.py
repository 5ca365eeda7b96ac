"""xor_symmetry: why does an all-equal initialization never learn XOR, when small random weights do?

Trains ``n_runs`` XOR 2-H-1 networks (logistic units, ``loss``, plain gradient descent) from
three starts: every weight and bias equal to ``constant`` (0.5), the same plus
``perturb_eps * N(0, 1)`` noise, and small random weights ``N(0, random_std^2)``. Records the
symmetry gap (distance to the subspace of equal hidden units) of every run and the trajectories
of the first ``n_trajectories`` runs of each start. Then, in float64:

- the **symmetric equilibrium**: where the constant start goes inside the symmetric subspace
  (exact reduced training for ``equilibrium_steps`` steps, Newton refinement, curvature split
  into the symmetric and the symmetry-breaking block; for XOR a trap at infinity, loss -> 1/6);
- **escape**: from the constant start plus ``eps`` times the most unstable breaking direction,
  for every ``eps`` in ``escape_eps`` in one batched call, the steps until the gap passes
  ``escape_threshold``, against the linear law ``ln(thr/eps) / ln(1 + lr |lambda_min|)``; and the
  same at a strict saddle built by hand (:func:`landscape.problems.saddle_example`), where the
  law holds;
- **mechanism**: for run 0 of every start, at every recorded step, each hidden unit's error
  signal (the backpropagated delta dE_p/dnet_j for each of the 4 patterns) and its update
  (-learning_rate times the gradient of its weights, bias and outgoing weight): identical for
  the constant start's units, different for a random start's.

Which training ingredients keep identical units identical is its own experiment,
``xor_invariance`` (a few minutes; it was part of this one).

Outputs in the results folder:
  config.json            resolved config, seed, versions
  summary.json           per start: runs, successes, rate with a 95% Wilson interval, loss
                         quantiles, gap statistics; the equilibrium ;
                         the escape fits; the headline, the printed table and the text
  constant.npz, perturbed.npz, random.npz
                         per run: losses (n_runs, n_records), record_steps, success_step, status,
                         final gap and params norm; trajectory gaps (n_trajectories, n_records)
                         and the hidden units of run 0 over time (n_records, H, 4), their
                         error signals deltas (n_records, H, 4 patterns) and updates
                         (n_records, H, 4)
  equilibrium.npz        the restricted run (steps, loss, grad_norm, param_norm), eigenvalues
  escape.npz             eps, steps, predicted for the XOR start and for the strict saddle
  chunks/                finished training chunks (an interrupted run resumes from them)
  success_rates.png, loss_curves.png, mechanism.png, unit_weights.png, symmetry_gap.png,
  equilibrium.png, escape.png
                         figures, drawn from the arrays (``landscape plot`` redraws them);
  figures.json           their captions, in this order
"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import optax

import landscape as ls
from landscape import problems, stats
from landscape import symmetry as sy
from landscape.status import GAP
from landscape.lab.config import Experiment, phase, require_counts, require_positive, start_names
from landscape.lab.resumable import train_resumable
from landscape.lab.store import ResultsDir

STARTS = ("constant", "perturbed", "random")
PHASES = 3
LIMITS = problems.XOR_SYMMETRIC_INFIMUM
"""The constant start's loss limit on XOR: the best any monotone function of x1 + x2 does."""
UNIT_NAMES = ("w from x1", "w from x2", "bias", "w to output")
QUANTILES = {"min": 0.0, "q05": 0.05, "median": 0.5, "q95": 0.95, "max": 1.0}


@dataclasses.dataclass(frozen=True)
class Config:
    seed: int = 0
    n_runs: int = 4000
    hidden: int = 2
    steps: int = 5000
    record_every: int = 50
    learning_rate: float = 0.5
    loss: str = "mse"
    constant: float = 0.5
    perturb_eps: float = 0.01
    random_std: float = 0.5
    tol: float = 0.4
    chunk_size: int = 2000
    n_trajectories: int = 64
    equilibrium_steps: int = 100_000
    escape_eps: tuple[float, ...] = tuple(float(10.0 ** e) for e in np.arange(-10.0, -2.25, 0.5))
    escape_threshold: float = 0.01
    escape_steps: int = 20_000
    saddle_learning_rate: float = 0.4
    saddle_steps: int = 6000

    def check(self) -> None:
        require_counts(self, ("n_runs", "hidden", "steps", "record_every", "chunk_size",
                              "n_trajectories", "equilibrium_steps", "escape_steps",
                              "saddle_steps"))
        if self.hidden < 2:
            raise ValueError(f"config key 'hidden' = {self.hidden!r} must be >= 2 (one unit has no "
                             "symmetry to break)")
        if self.steps % self.record_every:
            raise ValueError(f"config key 'record_every' = {self.record_every!r} must divide "
                             f"steps = {self.steps!r}")
        require_positive(self, ("learning_rate", "random_std", "perturb_eps", "escape_threshold",
                                "saddle_learning_rate", "tol"))
        if self.loss not in LIMITS:
            raise ValueError(f"config key 'loss' = {self.loss!r} is not one of {tuple(LIMITS)} (losses "
                             "on the sigmoid outputs whose XOR limits, 1/6 and 1/3, are known)")
        if not self.escape_eps or not all(0 < e < self.escape_threshold for e in self.escape_eps):
            raise ValueError(f"config key 'escape_eps' = {self.escape_eps!r} must be positive numbers "
                             f"below escape_threshold = {self.escape_threshold!r}")


SMOKE = Config(n_runs=128, steps=1000, record_every=50, learning_rate=2.0, chunk_size=128,
               n_trajectories=8, equilibrium_steps=5000, escape_eps=(1e-9, 1e-7, 1e-5, 1e-3),
               escape_steps=3000, saddle_steps=4000)


# --------------------------------------------------------------------------------- training


def _starts(model, config: Config) -> dict:
    const = ls.inits.constant(model, config.constant)
    return {"constant": const, "perturbed": ls.inits.perturbed(const, config.perturb_eps),
            "random": ls.inits.normal(model, config.random_std)}


def _problem(config: Config):
    """``(model, data, loss_fn)`` of the XOR network every phase trains."""
    model = ls.mlp([2, config.hidden, 1], activation="sigmoid", output="sigmoid")
    return model, ls.datasets.xor(), ls.objectives.loss(model, config.loss)


def plans(config: Config) -> dict:
    """The training phase of every start kind, ``{kind: TrainPlan}`` (``run`` trains them)."""
    model, data, loss_fn = _problem(config)
    success = ls.objectives.success(model, "within", tol=config.tol)
    n_traj = min(config.n_trajectories, config.n_runs)
    return {kind: ls.plan_training(
        loss_fn, init_fn, optax.sgd(config.learning_rate), data,
        key=jax.random.fold_in(jax.random.key(config.seed), i), n_runs=config.n_runs,
        steps=config.steps, record_every=config.record_every, chunk_size=config.chunk_size,
        success=success, trajectory_runs=np.arange(n_traj))
        for i, (kind, init_fn) in enumerate(_starts(model, config).items())}


def _train_starts(config: Config, results: ResultsDir, progress) -> dict:
    """Train every start kind (resumable); save per-run arrays; return per-kind summaries."""
    model, data, loss_fn = _problem(config)
    out = {}
    for kind, plan in plans(config).items():
        result = train_resumable(plan, results, kind, progress=progress)
        gap = np.asarray(sy.symmetry_gap(result.params, model=model))
        norm = _norms(result.params)
        traj_gaps, _ = sy.gap_history(result, model=model)
        run0 = jax.tree.map(lambda a: a[0], result.trajectory)
        units = np.asarray(sy.unit_params(run0, model=model))
        deltas, updates = unit_signals(loss_fn, run0, data, model=model,
                                       learning_rate=config.learning_rate)
        results.write_arrays(kind, {
            "losses": result.losses, "record_steps": result.record_steps,
            "success_step": result.success_step, "status": result.status, "gap": gap,
            "param_norm": norm, "trajectory_gaps": traj_gaps, "units": units,
            "deltas": deltas, "updates": updates})
        out[kind] = _summarize_start(result, gap, norm)
    return out


def unit_signals(loss_fn, trajectory, data, *, model, learning_rate: float):
    """Each hidden unit's error signals and updates along a recorded trajectory (leaves
    ``(n_records, ...)``): ``deltas (n_records, H, n_patterns)``, the backpropagated delta
    dE_p/dnet_j of unit j for the loss E_p of pattern p alone (the gradient of its bias), and
    ``updates (n_records, H, F)``, minus ``learning_rate`` times the full-batch gradient of each
    unit's parameters (:func:`landscape.symmetry.unit_params` order; a loss that is a weighted
    sum over patterns, as every ``ls.objectives`` loss is). Equal units get equal rows.

    >>> import landscape as ls
    >>> model = ls.mlp([2, 2, 1])
    >>> start = ls.inits.constant(model, 0.5)(jax.random.key(0))
    >>> trajectory = jax.tree.map(lambda a: a[None], start)          # one record
    >>> loss_fn = ls.objectives.loss(model, "mse")
    >>> deltas, updates = unit_signals(loss_fn, trajectory, ls.datasets.xor(), model=model,
    ...                                learning_rate=0.5)
    >>> deltas.shape, updates.shape, bool((deltas[:, 0] == deltas[:, 1]).all())
    ((1, 2, 4), (1, 2, 4), True)
    """
    def per_pattern(params):
        def one(x, y):
            return jax.grad(loss_fn)(params, ls.datasets.Dataset(x[None], y[None]))
        return jax.vmap(one)(data.x, data.y)  # leaves (n_patterns, ...)

    grads = jax.jit(jax.vmap(per_pattern))(trajectory)  # leaves (n_records, n_patterns, ...)
    per_unit = np.asarray(sy.unit_params(grads, model=model))  # (n_records, P, H, F)
    # the full-batch gradient as the sum of the per-pattern ones times the loss's weight of a
    # pattern (1/P for a mean): summed here in one order for every unit, so equal units stay
    # bit-equal (XLA's matrix products need not round equal columns alike)
    first = jax.tree.map(lambda a: a[0], trajectory)
    weight = float(loss_fn(first, data)) / sum(
        float(loss_fn(first, ls.datasets.Dataset(x[None], y[None]))) for x, y in zip(data.x, data.y))
    updates = -learning_rate * weight * per_unit.sum(axis=1)
    bias = data.x.shape[1]  # a unit's features: its n_in incoming weights, its bias, ...
    return np.swapaxes(per_unit[..., bias], 1, 2), updates


def _norms(params) -> np.ndarray:
    leaves = [np.asarray(a, np.float64).reshape(a.shape[0], -1) for a in jax.tree.leaves(params)]
    return np.sqrt(sum(np.sum(a * a, axis=1) for a in leaves))


def _summarize_start(result, gap, norm) -> dict:
    ok = result.status == ls.status.RUN.code("ok")
    final = result.final_loss[ok]
    k, n = int(result.succeeded.sum()), result.n_runs
    lo, hi = stats.wilson_interval(k, n)
    status = sy.gap_status(gap, norm, np.float32)
    return {
        "runs": n, "succeeded": k, "success_rate": k / n, "success_interval": [float(lo), float(hi)],
        "final_loss": {name: (float(np.quantile(final, q)) if final.size else None)
                       for name, q in QUANTILES.items()},
        "gap": {"max": float(gap.max()), "median": float(np.median(gap)),
                "exactly_zero": int(np.sum(gap == 0)),
                "status": GAP.counts(status)},
        "status": result.status_counts(),
    }


# ------------------------------------------------------------ equilibrium and escape (float64)


def _equilibrium(config: Config, results: ResultsDir) -> dict:
    """Where the constant start goes inside the symmetric subspace (float64)."""
    with jax.enable_x64(True):
        model, data, loss_fn, start = _float64_xor(config)
        eq = sy.symmetric_equilibrium(loss_fn, start, data, optimizer=optax.sgd(config.learning_rate),
                                      steps=config.equilibrium_steps)
    h = eq.history
    results.write_arrays("equilibrium", {
        "steps": h["steps"], "loss": h["loss"], "grad_norm": h["grad_norm"],
        "param_norm": h["param_norm"], "symmetric_eigenvalues": np.asarray(eq.curvature.symmetric),
        "breaking_eigenvalues": np.asarray(eq.curvature.breaking),
        "limit": np.float64(LIMITS[config.loss])})
    return {**eq.summary(), "limit": LIMITS[config.loss],
            "excess_over_limit": eq.loss - LIMITS[config.loss]}


def _float64_xor(config: Config):
    """``(model, data, loss_fn, constant start)`` of XOR in float64 (inside ``enable_x64``)."""
    model = ls.mlp([2, config.hidden, 1], activation="sigmoid", output="sigmoid")
    start = ls.inits.constant(model, config.constant, dtype=jnp.float64)(jax.random.key(0))
    return model, ls.datasets.xor(dtype=jnp.float64), ls.objectives.loss(model, config.loss), start


def _escape(config: Config, results: ResultsDir) -> dict:
    """Steps to leave the subspace from the constant start and from a strict saddle (float64)."""
    with jax.enable_x64(True):
        _, data, loss_fn, start = _float64_xor(config)
        eps = np.asarray(config.escape_eps, np.float64)
        xor_esc = sy.escape(loss_fn, start, data, eps, learning_rate=config.learning_rate,
                            threshold=config.escape_threshold, steps=config.escape_steps)
        ex = problems.saddle_example()
        saddle_esc = sy.escape(ex.loss_fn, ex.params, ex.data, eps,
                               learning_rate=config.saddle_learning_rate,
                               threshold=config.escape_threshold, steps=config.saddle_steps)
        saddle_loss = float(ex.loss_fn(ex.params, ex.data))
    results.write_arrays("escape", {
        "eps": eps, "xor_steps": xor_esc.steps, "xor_predicted": xor_esc.predicted,
        "saddle_steps": saddle_esc.steps, "saddle_predicted": saddle_esc.predicted,
        "max_steps": np.array([config.escape_steps, config.saddle_steps])})
    return {"threshold": config.escape_threshold,
            "xor_constant_start": {**xor_esc.fit(), "learning_rate": config.learning_rate,
                                   "max_steps": config.escape_steps},
            "strict_saddle": {**saddle_esc.fit(), "learning_rate": config.saddle_learning_rate,
                              "max_steps": config.saddle_steps, "loss": saddle_loss}}


# ---------------------------------------------------------------------------------- summary


def _headline(config: Config, starts: dict) -> list[str]:
    names = start_names(config)
    const, rand = starts["constant"], starts["random"]
    finding = (f"The {names['constant']} start learned XOR in {const['succeeded']} of "
               f"{const['runs']} runs; the {names['random']} start in {rand['success_rate']:.1%}.")
    why = (f"Why: equal hidden units get identical error signals and identical updates, so they "
           f"stayed exactly equal ({const['gap']['exactly_zero']} of {const['runs']} runs) and "
           "the network acts like one hidden unit, which cannot compute XOR.")
    return [finding, why]


def _text(config: Config, starts: dict, eq: dict, esc: dict) -> list[str]:
    limit = LIMITS[config.loss]
    frac = "1/6" if config.loss == "mse" else "1/3"
    names = start_names(config)
    lines = []
    for kind, s in starts.items():
        lo, hi = s["success_interval"]
        gap = s["gap"]
        equal = (f"hidden units exactly equal in {gap['exactly_zero']} of {s['runs']} runs"
                 if gap["exactly_zero"] else f"median distance between the hidden units "
                 f"(symmetry gap) {gap['median']:.2g}")
        lines.append(f"{names[kind]}: {s['succeeded']} of {s['runs']} runs learned XOR "
                     f"(95% CI {lo:.1%}-{hi:.1%}); {equal}; median final loss "
                     f"{s['final_loss']['median']:.4g}.")
    norms = eq["param_norm"]
    if eq["kind"] == "trap_at_infinity":
        lines.append(f"where the constant start goes: no resting point at finite weights (a trap at "
                     f"infinity): with the units kept equal the loss falls to {eq['loss']:.5f} after "
                     f"{eq['steps']} steps (limit {frac} = {limit:.4f}) while the weights keep growing "
                     f"(size {norms:.1f}); the steepest way out of the equal-units subspace curves "
                     f"down by only {abs(eq['lambda_min_breaking']):.1e}, fading to 0.")
    else:
        lines.append(f"where the constant start goes: {eq['kind']} ({eq['label']}) at loss "
                     f"{eq['loss']:.5f}, gradient size {eq['grad_norm']:.1e}, most negative "
                     f"symmetry-breaking eigenvalue {eq['lambda_min_breaking']:.3g}.")
    x, s = esc["xor_constant_start"], esc["strict_saddle"]
    law = (f"they take {x['slope_ratio']:.1f} times longer than the linear theory predicts"
           if x["slope_ratio"] is not None else "too few escaped to compare with the linear theory")
    lines.append(f"nudging the constant start apart: {x['n_escaped']} of {x['n_runs']} nudges "
                 f"(size {min(config.escape_eps):.0e}..{max(config.escape_eps):.0e}, along the "
                 f"direction that separates the units fastest) separated them by "
                 f"{config.escape_threshold:g} within {config.escape_steps} steps; {law}, because "
                 "the pull apart fades on the way to infinity.")
    if s["max_relative_error"] is not None:
        lines.append(f"for contrast, at a true saddle (1-2-1 tanh, best one-unit fit doubled) "
                     f"{s['n_escaped']} of {s['n_runs']} nudges escaped, within "
                     f"{s['max_relative_error']:.2%} of the linear theory's "
                     "ln(thr/eps) / ln(1 + lr|lambda|) steps.")
    lines.append("which optimizers, noise and minibatches keep equal units equal: "
                 "landscape run xor_invariance.")
    return lines


def run(config: Config, results: ResultsDir, progress: bool | None = None) -> dict:
    phase(progress, 1, PHASES, f"training {config.n_runs} XOR networks from each of 3 starts")
    starts = _train_starts(config, results, progress)
    phase(progress, 2, PHASES, f"where the constant start goes ({config.equilibrium_steps} steps "
          "with the hidden units kept equal)")
    equilibrium = _equilibrium(config, results)
    phase(progress, 3, PHASES, "escape times from the constant start and from a true saddle")
    escape = _escape(config, results)
    names = start_names(config)
    rows = []
    for kind, s in starts.items():
        lo, hi = s["success_interval"]
        q = s["final_loss"]
        rows.append([names[kind], s["runs"], f"{s['success_rate']:.1%} [{lo:.1%}, {hi:.1%}]",
                     f"{q['median']:.4g}", f"{q['q05']:.3g}..{q['q95']:.3g}",
                     f"{s['gap']['exactly_zero']}", f"{s['gap']['median']:.2g}"])
    return {
        "starts": starts, "equilibrium": equilibrium, "escape": escape,
        "headline": _headline(config, starts),
        "table": {"columns": ["start", "runs", "learned [95% CI]", "loss median", "loss q05..q95",
                              "units equal", "gap median"], "rows": rows},
        "text": _text(config, starts, equilibrium, escape),
    }


# ---------------------------------------------------------------------------------- figures


CAPTIONS = {
    "success_rates": "The answer: no run from the constant start learns XOR, while most runs from "
                     "small random weights do (bars: share of runs, whiskers: 95% intervals).",
    "loss_curves": "The constant start's loss (thick grey) stalls near the 1/6 limit; the perturbed "
                   "start mostly stalls with it, the random start falls towards 0 (dotted: 5% and "
                   "95% of runs).",
    "mechanism": "The mechanism: from the constant start (left) both hidden units get the same error "
                 "signal and the same update at every step, so their curves lie on top of each "
                 "other; from a random start (right) they differ.",
    "unit_weights": "Run 0's hidden-unit parameters: from the constant start the two units move as "
                    "one (their lines coincide); from a random start each unit finds its own role.",
    "symmetry_gap": "Distance between the hidden units: exactly 0 for every constant run, growing "
                    "from the perturbation for perturbed runs, large from the start for random ones.",
    "equilibrium": "With its units kept equal the constant start never settles: its loss approaches "
                   "1/6 like the dashed 1/t reference while its weights grow without bound.",
    "escape": "Steps to separate the units after a small nudge: at a true saddle (green) they follow "
              "the dashed linear theory; from XOR's constant start (red) they take far longer or "
              "never come.",
}


def figures(results: ResultsDir) -> dict:
    from matplotlib.figure import Figure

    from landscape import plotting

    config = results.read_config()["config"]
    arrays = {kind: results.read_arrays(kind) for kind in STARTS}
    names = start_names(config)
    colors = {"constant": "dimgray", "perturbed": "tab:orange", "random": "tab:blue"}
    figs = {}

    ks = np.array([int(np.sum(a["success_step"] >= 0)) for a in arrays.values()])
    ns = np.array([a["success_step"].size for a in arrays.values()])
    lo, hi = stats.wilson_interval(ks, ns)
    fig = Figure(figsize=(6.5, 4.5), layout="constrained")
    ax = fig.subplots()
    plotting.plot_success_rates(ax, [names[k].replace(" + ", "\n+ ") for k in arrays], ks, ns,
                                lo, hi, colors=[colors[k] for k in arrays])
    ax.set_title("learned XOR (every output within tol), 95% Wilson intervals")
    figs["success_rates"] = fig

    fig = Figure(figsize=(7.5, 4.5), layout="constrained")
    ax = fig.subplots()
    widths = {"constant": 5.0, "perturbed": 1.6, "random": 1.6}  # the constant under the others
    for z, (kind, a) in enumerate(arrays.items()):
        plotting.plot_quantile_band(ax, a["record_steps"], a["losses"], quantiles=(0.05, 0.95),
                                    log=True, color=colors[kind], label=names[kind], band="edges",
                                    linewidth=widths[kind], zorder=2 + z)
    limit = LIMITS[config["loss"]]
    ax.axhline(limit, color="black", linestyle="--", linewidth=0.8, label=f"limit {limit:.4f}")
    ax.set_xlabel("step")
    ax.set_ylabel(f"{config['loss']} loss")
    ax.set_title("XOR loss: median (solid) and 5-95% of runs (dotted) per start")
    ax.legend(fontsize="small", loc="lower left")
    figs["loss_curves"] = fig

    fig = Figure(figsize=(11, 6.5), layout="constrained")
    axes = fig.subplots(2, 2, sharex=True, sharey="row")
    for col, kind in enumerate(("constant", "random")):
        a = arrays[kind]
        rms = np.sqrt(np.mean(np.square(a["deltas"]), axis=2))  # (n_records, H)
        size = np.linalg.norm(a["updates"], axis=2)
        plotting.plot_unit_signals(axes[0, col], a["record_steps"], rms)
        plotting.plot_unit_signals(axes[1, col], a["record_steps"], size)
        axes[0, col].set_title(f"{names[kind]} start, run 0")
        axes[0, col].set_xlabel("")
    axes[0, 0].set_ylabel("error signal per unit\n(RMS over the 4 patterns)")
    axes[1, 0].set_ylabel("size of each unit's update\n(per step)")
    axes[0, 1].legend(fontsize="small", loc="upper right")
    figs["mechanism"] = fig

    fig = Figure(figsize=(12, 4.5), layout="constrained")
    axes = fig.subplots(1, 2, sharey=False)
    for ax, kind in zip(axes, ("constant", "random")):
        a = arrays[kind]
        plotting.plot_unit_weights(ax, a["record_steps"], a["units"], names=UNIT_NAMES,
                                   legend=kind == "random")
        ax.set_title(f"{names[kind]} start, run 0: hidden units' parameters")
    figs["unit_weights"] = fig

    fig = Figure(figsize=(6.5, 4.5), layout="constrained")
    ax = fig.subplots()
    for kind, a in reversed(arrays.items()):
        plotting.plot_symmetry_gap(ax, a["record_steps"], a["trajectory_gaps"], color=colors[kind],
                                   label=names[kind])
    ax.set_title("distance between the hidden units (symmetry gap)")
    ax.legend(fontsize="small", loc="center right")
    figs["symmetry_gap"] = fig

    figs["equilibrium"] = _equilibrium_figure(results.read_arrays("equilibrium"))

    e = results.read_arrays("escape")
    fig = Figure(figsize=(8.5, 4.5), layout="constrained")
    ax = fig.subplots()
    plotting.plot_escape_steps(ax, e["eps"], e["xor_steps"], predicted=e["xor_predicted"],
                               max_steps=float(e["max_steps"][0]), color="tab:red",
                               label="XOR constant start")
    plotting.plot_escape_steps(ax, e["eps"], e["saddle_steps"], predicted=e["saddle_predicted"],
                               max_steps=float(e["max_steps"][1]), color="tab:green",
                               label="true saddle (1-2-1 tanh)")
    ax.set_title(f"steps until the units differ by {config['escape_threshold']:g} (dashed: the "
                 "linear law ln(thr/eps) / ln(1 + lr|lambda|))")
    fig.legend(fontsize="small", loc="outside lower center", ncol=3)
    figs["escape"] = fig
    return figs


def _equilibrium_figure(q):
    from matplotlib.figure import Figure

    fig = Figure(figsize=(12, 4.5), layout="constrained")
    axes = fig.subplots(1, 2)
    steps = q["steps"][1:]
    excess = q["loss"][1:] - float(q["limit"])
    axes[0].loglog(steps, excess, color="dimgray", linewidth=2, label="loss - limit")
    late = steps >= steps[-1] / 100  # c / t through the last point, over the last two decades
    axes[0].loglog(steps[late], excess[-1] * steps[-1] / steps[late], color="black",
                   linestyle="--", linewidth=1, label="reference slope 1/t")
    axes[0].set_xlabel("step (hidden units kept equal)")
    axes[0].set_ylabel(f"loss - {float(q['limit']):.4f}")
    axes[0].set_title("the constant start's loss approaches its limit")
    axes[0].legend(fontsize="small")
    axes[1].semilogx(steps, q["param_norm"][1:], color="dimgray", linewidth=2)
    axes[1].set_xlabel("step (hidden units kept equal)")
    axes[1].set_ylabel("size of the weights |params|")
    axes[1].set_title("while the weights grow without bound (a trap at infinity)")
    return fig


EXPERIMENT = Experiment(
    name="xor_symmetry",
    question="Why does an all-equal initialization never learn XOR, when small random weights do?",
    config=Config(), smoke=SMOKE, run=run, plans=plans, figures=figures, captions=CAPTIONS,
    headline=("starts.constant.success_rate", "starts.perturbed.success_rate",
              "starts.random.success_rate", "starts.constant.gap.exactly_zero",
              "equilibrium.loss", "escape.strict_saddle.slope_ratio"))

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
- **invariance**: from the constant start, for each task in ``invariance_tasks`` (xor, parity,
  teacher: a 4-3-1 erf student of a 4-2-1 erf teacher), each training ingredient in
  ``invariance_ingredients`` and each mode in ``invariance_modes`` (``fast``: the trainer's
  run-axis-last path, ``vmap``: its generic path, ``minibatch``), the gap after
  ``invariance_steps`` steps, classified exact / rounding / amplified / broken
  (:func:`landscape.symmetry.gap_status`), in ``invariance_dtype``; with the teacher task, also its constant start's
  symmetric equilibrium (a strict saddle, where rounding differences between units grow).

Outputs in the results folder:
  config.json            resolved config, seed, versions
  summary.json           per start: runs, successes, rate with a 95% Wilson interval, loss
                         quantiles, gap statistics; the equilibrium (and the teacher task's);
                         the escape fits; the invariance matrix with a verdict per ingredient;
                         the printed table and plain-language text
  constant.npz, perturbed.npz, random.npz
                         per run: losses (n_runs, n_records), record_steps, success_step, status,
                         final gap and params norm; trajectory gaps (n_trajectories, n_records)
                         and the hidden units of run 0 over time (n_records, H, 4)
  equilibrium.npz        the restricted run (steps, loss, grad_norm, param_norm), eigenvalues
  escape.npz             eps, steps, predicted for the XOR start and for the strict saddle
  invariance.npz         status codes and max gaps (tasks x ingredients x modes)
  chunks/                finished training chunks (an interrupted run resumes from them)
  loss_curves.png, symmetry_gap.png, unit_weights.png, success_rates.png, escape.png,
  equilibrium.png        figures, drawn from the arrays (``landscape plot`` redraws them)
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
from landscape.lab.config import Experiment, require_counts, require_positive
from landscape.lab.resumable import train_resumable
from landscape.lab.store import ResultsDir

STARTS = ("constant", "perturbed", "random")
TASKS = ("xor", "parity", "teacher")
INGREDIENTS = ("sgd", "momentum", "nesterov", "adam", "rmsprop", "adamw", "weight_decay",
               "gradient_noise", "random_output_init")
MODES = ("fast", "vmap", "minibatch")
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
    invariance_tasks: tuple[str, ...] = TASKS
    invariance_ingredients: tuple[str, ...] = INGREDIENTS
    invariance_modes: tuple[str, ...] = MODES
    invariance_steps: int = 2000
    invariance_dtype: str = "float32"

    def check(self) -> None:
        require_counts(self, ("n_runs", "hidden", "steps", "record_every", "chunk_size",
                              "n_trajectories", "equilibrium_steps", "escape_steps",
                              "saddle_steps", "invariance_steps"))
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
        if self.invariance_dtype not in ("float32", "float64"):
            raise ValueError(f"config key 'invariance_dtype' = {self.invariance_dtype!r} is not one of "
                             "('float32', 'float64')")
        for key, allowed in (("invariance_tasks", TASKS), ("invariance_ingredients", INGREDIENTS),
                             ("invariance_modes", MODES)):
            bad = [v for v in getattr(self, key) if v not in allowed]
            if bad:
                raise ValueError(f"config key {key!r} has unknown entries {bad}; expected some of "
                                 f"{allowed}")


SMOKE = Config(n_runs=128, steps=1000, record_every=50, learning_rate=2.0, chunk_size=128,
               n_trajectories=8, equilibrium_steps=5000, escape_eps=(1e-9, 1e-7, 1e-5, 1e-3),
               escape_steps=3000, saddle_steps=4000, invariance_tasks=("xor",),
               invariance_ingredients=("sgd", "gradient_noise"),
               invariance_modes=("fast",), invariance_steps=200)


# --------------------------------------------------------------------------------- training


def _starts(model, config: Config) -> dict:
    const = ls.inits.constant(model, config.constant)
    return {"constant": const, "perturbed": ls.inits.perturbed(const, config.perturb_eps),
            "random": ls.inits.normal(model, config.random_std)}


def _train_starts(config: Config, results: ResultsDir, progress) -> dict:
    """Train every start kind (resumable); save per-run arrays; return per-kind summaries."""
    model = ls.mlp([2, config.hidden, 1], activation="sigmoid", output="sigmoid")
    data = ls.datasets.xor()
    loss_fn = ls.objectives.loss(model, config.loss)
    success = ls.objectives.success(model, "within", tol=config.tol)
    n_traj = min(config.n_trajectories, config.n_runs)
    out = {}
    for i, (kind, init_fn) in enumerate(_starts(model, config).items()):
        plan = ls.plan_training(
            loss_fn, init_fn, optax.sgd(config.learning_rate), data,
            key=jax.random.fold_in(jax.random.key(config.seed), i), n_runs=config.n_runs,
            steps=config.steps, record_every=config.record_every, chunk_size=config.chunk_size,
            success=success, trajectory_runs=np.arange(n_traj))
        result = train_resumable(plan, results, kind, progress=progress)
        gap = np.asarray(sy.symmetry_gap(result.params, model=model))
        norm = _norms(result.params)
        traj_gaps, _ = sy.gap_history(result, model=model)
        units = np.asarray(sy.unit_params(jax.tree.map(lambda a: a[0], result.trajectory),
                                          model=model))
        results.write_arrays(kind, {
            "losses": result.losses, "record_steps": result.record_steps,
            "success_step": result.success_step, "status": result.status, "gap": gap,
            "param_norm": norm, "trajectory_gaps": traj_gaps, "units": units})
        out[kind] = _summarize_start(result, gap, norm)
    return out


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


def _equilibrium_and_escape(config: Config, results: ResultsDir) -> tuple[dict, dict]:
    with jax.enable_x64(True):
        model = ls.mlp([2, config.hidden, 1], activation="sigmoid", output="sigmoid")
        data = ls.datasets.xor(dtype=jnp.float64)
        loss_fn = ls.objectives.loss(model, config.loss)
        start = ls.inits.constant(model, config.constant, dtype=jnp.float64)(jax.random.key(0))
        eq = sy.symmetric_equilibrium(loss_fn, start, data, optimizer=optax.sgd(config.learning_rate),
                                      steps=config.equilibrium_steps)
        eps = np.asarray(config.escape_eps, np.float64)
        xor_esc = sy.escape(loss_fn, start, data, eps, learning_rate=config.learning_rate,
                            threshold=config.escape_threshold, steps=config.escape_steps)
        teacher_eq = None
        if "teacher" in config.invariance_tasks:  # where the generic path's rounding is amplified
            t_model, t_data, _ = _task("teacher", config, jnp.float64)
            t_start = ls.inits.constant(t_model, config.constant, dtype=jnp.float64)(jax.random.key(0))
            teacher_eq = sy.symmetric_equilibrium(
                ls.objectives.loss(t_model, "mse"), t_start, t_data,
                optimizer=optax.sgd(config.learning_rate), steps=config.invariance_steps).summary()
        ex = problems.saddle_example()
        saddle_esc = sy.escape(ex.loss_fn, ex.params, ex.data, eps,
                               learning_rate=config.saddle_learning_rate,
                               threshold=config.escape_threshold, steps=config.saddle_steps)
        saddle_loss = float(ex.loss_fn(ex.params, ex.data))
    h = eq.history
    results.write_arrays("equilibrium", {
        "steps": h["steps"], "loss": h["loss"], "grad_norm": h["grad_norm"],
        "param_norm": h["param_norm"], "symmetric_eigenvalues": np.asarray(eq.curvature.symmetric),
        "breaking_eigenvalues": np.asarray(eq.curvature.breaking),
        "limit": np.float64(LIMITS[config.loss])})
    results.write_arrays("escape", {
        "eps": eps, "xor_steps": xor_esc.steps, "xor_predicted": xor_esc.predicted,
        "saddle_steps": saddle_esc.steps, "saddle_predicted": saddle_esc.predicted,
        "max_steps": np.array([config.escape_steps, config.saddle_steps])})
    equilibrium = {**eq.summary(), "limit": LIMITS[config.loss],
                   "excess_over_limit": eq.loss - LIMITS[config.loss]}
    escape = {"threshold": config.escape_threshold,
              "xor_constant_start": {**xor_esc.fit(), "learning_rate": config.learning_rate,
                                     "max_steps": config.escape_steps},
              "strict_saddle": {**saddle_esc.fit(), "learning_rate": config.saddle_learning_rate,
                                "max_steps": config.saddle_steps,
                                "loss": saddle_loss}}
    if teacher_eq is not None:
        equilibrium["teacher"] = teacher_eq
    return equilibrium, escape


# ---------------------------------------------------------------------------- invariance


def _task(name: str, config: Config, dtype=jnp.float32):
    """``(model, data, minibatch size)`` of an invariance task."""
    if name == "xor":
        return ls.mlp([2, config.hidden, 1]), ls.datasets.xor(dtype), 2
    if name == "parity":
        return ls.mlp([3, 3, 1]), ls.datasets.parity(3, dtype=dtype), 4
    if name == "teacher":
        teacher = ls.mlp([4, 2, 1], activation="erf", output="linear")
        data, _ = ls.datasets.teacher_student(jax.random.key(config.seed), teacher, n_samples=64,
                                              dtype=dtype)
        return ls.mlp([4, 3, 1], activation="erf", output="linear"), data, 16
    raise ValueError(f"invariance task {name!r} is not known; expected one of {TASKS}")


def _ingredient(name: str, model, config: Config, dtype=jnp.float32):
    """``(optimizer, init_fn)`` of a training ingredient, from the constant start."""
    lr = config.learning_rate
    const = ls.inits.constant(model, config.constant, dtype=dtype)
    sgd = optax.sgd(lr)
    table = {
        "sgd": sgd,
        "momentum": optax.sgd(lr / 5, momentum=0.9),
        "nesterov": optax.sgd(lr / 5, momentum=0.9, nesterov=True),
        "adam": optax.adam(0.01),
        "rmsprop": optax.rmsprop(0.01),
        "adamw": optax.adamw(0.01, weight_decay=0.01),
        "weight_decay": optax.chain(optax.add_decayed_weights(1e-3), sgd),
        # independent noise on every parameter's update: per-unit noise
        "gradient_noise": optax.chain(optax.add_noise(0.01, 0.55, config.seed), sgd),
        "random_output_init": sgd,
    }
    if name not in table:
        raise ValueError(f"ingredient {name!r} is not known; expected one of {INGREDIENTS}")
    init_fn = const
    if name == "random_output_init":  # constant hidden layer, random output weights
        init_fn = ls.inits.by_layer(model, [const, ls.inits.normal(model, 1.0, dtype=dtype)])
    return table[name], init_fn


def _invariance(config: Config, results: ResultsDir) -> dict:
    with jax.enable_x64(config.invariance_dtype == "float64"):
        return _invariance_matrix(config, results)


def _invariance_matrix(config: Config, results: ResultsDir) -> dict:
    tasks, ingredients, modes = (config.invariance_tasks, config.invariance_ingredients,
                                 config.invariance_modes)
    shape = (len(tasks), len(ingredients), len(modes))
    codes = np.zeros(shape, np.int32)
    max_gap = np.zeros(shape)
    first_nonzero = np.full(shape, -1)
    steps = config.invariance_steps
    record_every = ls.train.default_record_every(steps, 20)
    dtype = jnp.dtype(config.invariance_dtype)
    for a, task in enumerate(tasks):
        model, data, batch = _task(task, config, dtype)
        loss_fn = ls.objectives.loss(model, "mse")
        for b, name in enumerate(ingredients):
            optimizer, init_fn = _ingredient(name, model, config, dtype)
            for c, mode in enumerate(modes):
                result = ls.train_many(
                    loss_fn, init_fn, optimizer, data, key=jax.random.key(config.seed), n_runs=1,
                    steps=steps, record_every=record_every, trajectory_runs=[0],
                    batch_size=batch if mode == "minibatch" else None,
                    method="batched" if mode == "fast" else "vmap", progress=False)
                gaps, norms = sy.gap_history(result, model=model)
                codes[a, b, c] = sy.gap_status(gaps.max(), norms[0, int(np.argmax(gaps[0]))], dtype)
                max_gap[a, b, c] = gaps.max()
                nz = np.flatnonzero(gaps[0])
                first_nonzero[a, b, c] = result.record_steps[nz[0]] if nz.size else -1
    results.write_arrays("invariance", {"status": codes, "max_gap": max_gap,
                                        "first_nonzero_step": first_nonzero})
    rows = []
    for a, task in enumerate(tasks):
        for b, name in enumerate(ingredients):
            for c, mode in enumerate(modes):
                rows.append({"task": task, "ingredient": name, "mode": mode,
                             "status": GAP[codes[a, b, c]], "max_gap": float(max_gap[a, b, c]),
                             "first_nonzero_step": int(first_nonzero[a, b, c])})
    verdicts = {}
    for b, name in enumerate(ingredients):
        worst_fast = codes[:, b, [c for c, m in enumerate(modes) if m != "vmap"]]
        verdicts[name] = ("breaks the symmetry" if worst_fast.size and worst_fast.max() == 3 else
                          "keeps it exactly" if worst_fast.size and worst_fast.max() == 0 else
                          "keeps it to rounding" if worst_fast.size and worst_fast.max() == 1 else
                          "amplifies rounding" if worst_fast.size else "not measured")
    return {"steps": steps, "dtype": config.invariance_dtype, "tasks": list(tasks),
            "ingredients": list(ingredients),
            "modes": list(modes), "rows": rows, "verdicts": verdicts}


# ---------------------------------------------------------------------------------- summary


def _text(config: Config, starts: dict, eq: dict, esc: dict, inv: dict) -> list[str]:
    limit = LIMITS[config.loss]
    frac = "1/6" if config.loss == "mse" else "1/3"
    names = {"constant": f"constant {config.constant:g}",
             "perturbed": f"constant {config.constant:g} + {config.perturb_eps:g} N(0,1)",
             "random": f"random N(0, {config.random_std:g}^2)"}
    lines = []
    for kind, s in starts.items():
        lo, hi = s["success_interval"]
        gap = s["gap"]
        equal = (f"hidden units bit-identical in {gap['exactly_zero']} of {s['runs']} runs"
                 if gap["exactly_zero"] else f"median symmetry gap {gap['median']:.2g}")
        lines.append(f"{names[kind]}: {s['succeeded']} of {s['runs']} runs learned XOR "
                     f"(95% CI {lo:.1%}-{hi:.1%}); {equal}; median final loss "
                     f"{s['final_loss']['median']:.4g}.")
    norms = eq["param_norm"]
    if eq["kind"] == "trap_at_infinity":
        lines.append(f"symmetric equilibrium: none at finite weights (a trap at infinity): inside the "
                     f"symmetric subspace the loss falls to {eq['loss']:.5f} after {eq['steps']} steps "
                     f"(limit {frac} = {limit:.4f}) while the weights keep growing (|x| = {norms:.1f}); "
                     f"the most unstable breaking curvature there is {eq['lambda_min_breaking']:.1e}, "
                     "fading to 0.")
    else:
        lines.append(f"symmetric equilibrium: {eq['kind']} ({eq['label']}) at loss {eq['loss']:.5f}, "
                     f"|grad| {eq['grad_norm']:.1e}, most negative breaking eigenvalue "
                     f"{eq['lambda_min_breaking']:.3g}.")
    x, s = esc["xor_constant_start"], esc["strict_saddle"]
    law = (f"the linear law fails (slope {x['slope_ratio']:.1f}x the prediction)"
           if x["slope_ratio"] is not None else "the linear law cannot be fitted")
    lines.append(f"escape from the constant start: {x['n_escaped']} of {x['n_runs']} perturbations "
                 f"(eps {min(config.escape_eps):.0e}..{max(config.escape_eps):.0e} along the most "
                 f"unstable breaking direction, lambda {x['lambda_min']:.3g}) passed a gap of "
                 f"{config.escape_threshold:g} within {config.escape_steps} steps; {law}: the "
                 "breaking curvature fades on the way to infinity.")
    if s["max_relative_error"] is not None:
        lines.append(f"escape from a strict saddle (1-2-1 tanh, best one-unit fit doubled, lambda "
                     f"{s['lambda_min']:.3g}): {s['n_escaped']} of {s['n_runs']} escaped, within "
                     f"{s['max_relative_error']:.2%} of ln(thr/eps) / ln(1 + lr|lambda|); there "
                     "rounding alone (eps ~ 1e-16) would end the symmetry.")
    groups: dict[str, list[str]] = {}
    for name, verdict in inv["verdicts"].items():
        groups.setdefault(verdict, []).append(name)
    inv_text = "; ".join(f"{', '.join(v)}: {k}" for k, v in groups.items())
    lines.append(f"invariance from the constant start ({', '.join(inv['tasks'])}; {inv['dtype']}; "
                 f"{inv['steps']} steps; full batch on the fast path and minibatches): {inv_text}.")
    deterministic = [r for r in inv["rows"] if r["mode"] == "vmap"
                     and r["ingredient"] not in ("gradient_noise", "random_output_init")]
    if deterministic:
        parts = []
        for task in inv["tasks"]:
            rows = [r for r in deterministic if r["task"] == task]
            if not rows:
                continue
            worst = max(rows, key=lambda r: r["max_gap"])
            broken = [r["ingredient"] for r in rows if r["status"] == "broken"]
            part = f"{task}: max gap {worst['max_gap']:.1e} ({worst['status']}, {worst['ingredient']})"
            if broken:
                part += f", symmetry ended by rounding alone with {', '.join(broken)}"
            parts.append(part)
        teacher = eq.get("teacher")
        where = ""
        if teacher is not None:
            where = (f" (the teacher-student constant start goes to a {teacher['kind'].replace('_', ' ')}"
                     f", {teacher['label']}, breaking eigenvalue {teacher['lambda_min_breaking']:.2g}: "
                     "unstable, so rounding grows there; XOR's trap at infinity barely amplifies it)")
        lines.append("the generic (vmap) path need not round identical units alike: " + "; ".join(parts)
                     + f"{where}. symmetry.reduced_training keeps the units equal by construction.")
    return lines


def run(config: Config, results: ResultsDir, progress: bool | None = None) -> dict:
    starts = _train_starts(config, results, progress)
    equilibrium, escape = _equilibrium_and_escape(config, results)
    invariance = _invariance(config, results)
    rows = []
    for kind, s in starts.items():
        lo, hi = s["success_interval"]
        q = s["final_loss"]
        rows.append([kind, s["runs"], f"{s['success_rate']:.1%} [{lo:.1%}, {hi:.1%}]",
                     f"{q['median']:.4g}", f"{q['q05']:.3g}..{q['q95']:.3g}",
                     f"{s['gap']['exactly_zero']}", f"{s['gap']['median']:.2g}"])
    return {
        "starts": starts, "equilibrium": equilibrium, "escape": escape, "invariance": invariance,
        "table": {"columns": ["start", "runs", "learned [95% CI]", "loss median", "loss q05..q95",
                              "gap = 0", "gap median"], "rows": rows},
        "text": _text(config, starts, equilibrium, escape, invariance),
    }


# ---------------------------------------------------------------------------------- figures


def figures(results: ResultsDir) -> dict:
    from matplotlib.figure import Figure

    from landscape import plotting

    config = results.read_config()["config"]
    arrays = {kind: results.read_arrays(kind) for kind in STARTS}
    colors = {"constant": "tab:red", "perturbed": "tab:orange", "random": "tab:blue"}
    figs = {}

    fig = Figure(figsize=(6.5, 4.5), layout="constrained")
    ax = fig.subplots()
    for kind, a in reversed(arrays.items()):  # the constant start last, on top
        plotting.plot_quantile_band(ax, a["record_steps"], a["losses"], quantiles=(0.05, 0.95),
                                    log=True, color=colors[kind], label=kind)
    limit = LIMITS[config["loss"]]
    ax.axhline(limit, color="gray", linestyle="--", linewidth=1, label=f"limit {limit:.4f}")
    ax.set_xlabel("step")
    ax.set_ylabel(f"{config['loss']} loss")
    ax.set_title("XOR loss: median and 5-95% band per start")
    ax.legend(fontsize="small")
    figs["loss_curves"] = fig

    fig = Figure(figsize=(6.5, 4.5), layout="constrained")
    ax = fig.subplots()
    for kind, a in reversed(arrays.items()):
        plotting.plot_symmetry_gap(ax, a["record_steps"], a["trajectory_gaps"], color=colors[kind],
                                   label=kind)
    ax.set_title("distance to the subspace of equal hidden units")
    ax.legend(fontsize="small")
    figs["symmetry_gap"] = fig

    fig = Figure(figsize=(12, 4.5), layout="constrained")
    axes = fig.subplots(1, 2, sharey=False)
    for ax, kind in zip(axes, ("constant", "random")):
        a = arrays[kind]
        plotting.plot_unit_weights(ax, a["record_steps"], a["units"], names=UNIT_NAMES)
        ax.set_title(f"{kind} start, run 0: hidden units' parameters")
        ax.legend(fontsize="x-small", ncol=2)
    figs["unit_weights"] = fig

    summary_like = {k: (int(np.sum(a["success_step"] >= 0)), a["success_step"].size)
                    for k, a in arrays.items()}
    ks = np.array([v[0] for v in summary_like.values()])
    ns = np.array([v[1] for v in summary_like.values()])
    lo, hi = stats.wilson_interval(ks, ns)
    fig = Figure(figsize=(5.5, 4.5), layout="constrained")
    ax = fig.subplots()
    plotting.plot_success_rates(ax, list(summary_like), ks, ns, lo, hi,
                                colors=[colors[k] for k in summary_like])
    ax.set_title("learned XOR (all outputs within tol), 95% Wilson intervals")
    figs["success_rates"] = fig

    e = results.read_arrays("escape")
    fig = Figure(figsize=(6.5, 4.5), layout="constrained")
    ax = fig.subplots()
    plotting.plot_escape_steps(ax, e["eps"], e["xor_steps"], predicted=e["xor_predicted"],
                               max_steps=float(e["max_steps"][0]), color="tab:red",
                               label="XOR constant start (trap)")
    plotting.plot_escape_steps(ax, e["eps"], e["saddle_steps"], predicted=e["saddle_predicted"],
                               max_steps=float(e["max_steps"][1]), color="tab:green",
                               label="strict saddle (1-2-1 tanh)")
    ax.set_title(f"steps until the gap passes {config['escape_threshold']:g}")
    ax.legend(fontsize="x-small")
    figs["escape"] = fig

    q = results.read_arrays("equilibrium")
    fig = Figure(figsize=(12, 4.5), layout="constrained")
    axes = fig.subplots(1, 2)
    steps = q["steps"][1:]
    axes[0].loglog(steps, q["loss"][1:] - float(q["limit"]), color="tab:red")
    axes[0].set_xlabel("step (inside the symmetric subspace)")
    axes[0].set_ylabel(f"loss - {float(q['limit']):.4f}")
    axes[0].set_title("the constant start's loss approaches its limit like 1/t")
    axes[1].semilogx(steps, q["param_norm"][1:], color="tab:red")
    axes[1].set_xlabel("step (inside the symmetric subspace)")
    axes[1].set_ylabel("|params|")
    axes[1].set_title("while the weights grow without bound (trap at infinity)")
    figs["equilibrium"] = fig
    return figs


EXPERIMENT = Experiment(
    name="xor_symmetry",
    question="Why does an all-equal initialization never learn XOR, when small random weights do?",
    config=Config(), smoke=SMOKE, run=run, figures=figures,
    headline=("starts.constant.success_rate", "starts.perturbed.success_rate",
              "starts.random.success_rate", "starts.constant.gap.exactly_zero",
              "equilibrium.loss", "escape.strict_saddle.slope_ratio"))

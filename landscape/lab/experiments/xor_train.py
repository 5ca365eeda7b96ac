"""xor_train: how often does gradient descent learn XOR from random versus constant starts?

Trains ``n_runs`` XOR 2-H-1 networks (logistic units, mean squared error, plain gradient
descent) from random ``N(0, random_std^2)`` starts and from the symmetric start where every
weight and bias equals ``constant``. A run succeeds when every output is within ``tol`` of its
target.

Outputs in the results folder:
  config.json            resolved config, seed, versions
  summary.json           per start kind: runs, successes, success rate, final-loss quantiles,
                         status counts, median steps to success
  random.npz, constant.npz   per-run arrays: losses (n_runs, n_records), record_steps,
                         success_step, status, failed_step, grad_norm, params/<i>
  chunks/                finished chunks (an interrupted run resumes from them)
  loss_curves.png        median loss and 10-90% band over training, per start kind
"""

from __future__ import annotations

import dataclasses

import jax
import numpy as np

import landscape as ls
from landscape.lab.config import Experiment, require_counts, require_positive, start_names
from landscape.lab.resumable import result_arrays, train_resumable
from landscape.lab.store import ResultsDir


@dataclasses.dataclass(frozen=True)
class Config:
    seed: int = 0
    n_runs: int = 4000
    hidden: int = 2
    steps: int = 5000
    record_every: int = 100
    learning_rate: float = 0.5
    loss: str = "mse"
    random_std: float = 1.0
    constant: float = 0.5
    tol: float = 0.4
    chunk_size: int = 1000

    def check(self) -> None:
        require_counts(self, ("n_runs", "hidden", "steps", "record_every", "chunk_size"))
        require_positive(self, ("learning_rate", "tol"))
        if self.steps % self.record_every:
            raise ValueError(f"config key 'record_every' = {self.record_every} must divide "
                             f"steps = {self.steps}")
        if self.loss not in ls.objectives.LOSSES:
            raise ValueError(f"config key 'loss' = {self.loss!r} is not one of {ls.objectives.LOSSES}")


SMOKE = Config(n_runs=128, steps=1000, record_every=50, chunk_size=64)

QUANTILES = {"min": 0.0, "q05": 0.05, "median": 0.5, "q95": 0.95, "max": 1.0}


def summarize(result: ls.TrainResult) -> dict:
    """Headline numbers of one start kind."""
    ok = result.status == ls.status.RUN.code("ok")
    final = result.final_loss[ok]
    succeeded = result.succeeded
    steps = result.success_step[succeeded]
    return {
        "runs": result.n_runs,
        "succeeded": int(succeeded.sum()),
        "success_rate": float(succeeded.mean()),
        "final_loss": {k: (float(np.quantile(final, q)) if final.size else None)
                       for k, q in QUANTILES.items()},
        "status": result.status_counts(),
        "median_success_step": float(np.median(steps)) if steps.size else None,
    }


def plans(config: Config) -> dict[str, ls.train.TrainPlan]:
    """The two training phases, ``{"random": plan, "constant": plan}`` (``run`` trains them)."""
    model = ls.mlp([2, config.hidden, 1], activation="sigmoid", output="sigmoid")
    success = ls.objectives.success(model, "within", tol=config.tol)
    # The learning rate and the start's scale enter as per-run data, not as constants of the
    # compiled program, so a sweep over them (or over the seed) reuses one program per start kind.
    optimizer = ls.train.make_optimizer("sgd", config.learning_rate)
    per_run = lambda value: np.full(config.n_runs, value)  # noqa: E731
    starts = {  # init_fn, scale: N(0, random_std^2) = random_std * N(0, 1); constant = constant * 1
        "random": (ls.inits.normal(model, 1.0), config.random_std),
        "constant": (ls.inits.constant(model, 1.0), config.constant),
    }
    return {kind: ls.plan_training(
        ls.objectives.loss(model, config.loss), init_fn, optimizer, ls.datasets.xor(),
        key=jax.random.fold_in(jax.random.key(config.seed), i), n_runs=config.n_runs,
        steps=config.steps, record_every=config.record_every, chunk_size=config.chunk_size,
        success=success, hyperparams={"learning_rate": per_run(config.learning_rate)},
        init_scale=per_run(scale)) for i, (kind, (init_fn, scale)) in enumerate(starts.items())}


def run(config: Config, results: ResultsDir, progress: bool | None = None) -> dict:
    summary = {"starts": {}}
    for kind, plan in plans(config).items():
        result = train_resumable(plan, results, kind, progress=progress)
        results.write_arrays(kind, result_arrays(result))
        summary["starts"][kind] = summarize(result)
    names = start_names(config)
    rand, const = summary["starts"]["random"], summary["starts"]["constant"]
    summary["headline"] = [
        f"The {names['random']} start learned XOR in {rand['success_rate']:.1%} of {rand['runs']} "
        f"runs; the {names['constant']} start in {const['success_rate']:.1%}.",
        "Why: from equal weights both hidden units get the same error signals and stay equal, so "
        "the network acts like one hidden unit, which cannot compute XOR "
        "(the full story: landscape run xor_symmetry)."]
    rows = []
    for kind, s in summary["starts"].items():
        q = s["final_loss"]
        fmt = lambda v: "-" if v is None else f"{v:.4g}"  # noqa: E731
        rows.append([names[kind], s["runs"], f"{s['success_rate']:.1%}", fmt(q["min"]), fmt(q["median"]),
                     fmt(q["max"]), ", ".join(f"{k} {v}" for k, v in s["status"].items())])
    summary["table"] = {
        "columns": ["start", "runs", "success", "loss min", "loss median", "loss max", "status"],
        "rows": rows,
    }
    return summary


CAPTIONS = {"loss_curves": "Random starts' losses fall towards 0 while the constant start's "
                           "stalls (median and 10-90% of runs)."}


def figures(results: ResultsDir) -> dict:
    """``loss_curves``: median loss with its 10-90% band over training, per start kind."""
    from matplotlib.figure import Figure

    from landscape import plotting

    config = results.read_config()["config"]
    names = start_names(config)
    fig = Figure(figsize=(6.5, 4.5), layout="constrained")
    ax = fig.subplots()
    for kind, color in (("random", "tab:blue"), ("constant", "dimgray")):
        arrays = results.read_arrays(kind)
        plotting.plot_quantile_band(ax, arrays["record_steps"], arrays["losses"], log=True,
                                    color=color, label=f"{names[kind]} start")
    ax.set_xlabel("step")
    ax.set_ylabel("loss")
    ax.set_title(f"XOR 2-{config['hidden']}-1: loss over training (median, 10-90% of runs)")
    ax.legend()
    return {"loss_curves": fig}


EXPERIMENT = Experiment(
    name="xor_train",
    question="How often does gradient descent learn XOR from random versus constant starts?",
    config=Config(), smoke=SMOKE, run=run, plans=plans, figures=figures, captions=CAPTIONS,
    headline=("starts.random.success_rate", "starts.constant.success_rate",
              "starts.random.final_loss.median", "starts.constant.final_loss.median",
              "starts.random.median_success_step"))

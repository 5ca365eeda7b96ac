"""parity_scaling: how wide must the hidden layer be for gradient descent to learn n-bit parity from
random starts, and does the constant start ever learn it?

For every ``n`` in ``bits`` and every hidden width ``H`` in ``widths``, trains ``n_runs`` n-H-1
networks (logistic units, ``loss``, plain gradient descent) on n-bit parity (all ``2^n``
patterns, :func:`landscape.datasets.parity`) from random ``N(0, random_std^2)`` starts, and the
control: the constant start, every weight and bias ``constant``. The constant start is
deterministic (every run of it is the same network), so one run stands for all; it trains as
one extra given start beside the random runs, so each cell is one compiled program. A run
succeeds when every output is within ``tol`` of its target.

Why the control must fail: from the constant start the hidden units stay identical (symmetry gap
exactly 0), so the network computes what one hidden unit computes, a monotone function of one
projection ``w.x`` of the input; within ``tol`` that separates the classes by a threshold on
``w.x``, and parity (n >= 2) is not linearly separable. Width 1 from random starts is the same
limit.

Outputs in the results folder:
  config.json            resolved config, seed, versions
  summary.json           per (n, width): runs, successes, rate with a Wilson interval, median
                         steps to success, final-loss median; the constant start's outcome, final
                         loss and gap; the smallest width reaching half success per n; the
                         printed table and text
  grid.npz               bits (N,), widths (W,); successes, runs, rate, lo, hi, median_steps
                         (N, W) for random starts; constant_succeeded, constant_loss,
                         constant_gap (N, W)
  chunks/                finished training chunks (an interrupted run resumes from them)
  success_rate.png       success rate against hidden width, one line per n, 95% Wilson bands;
                         the constant start marked

Full config: 4 x 7 cells of 256 random runs, 5,000 steps each; a few minutes on a 2-core CPU.
"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import optax

import landscape as ls
from landscape import stats
from landscape import symmetry as sy
from landscape.lab.config import Experiment, require_counts, require_positive, start_names
from landscape.lab.resumable import train_resumable
from landscape.lab.store import ResultsDir

HALF = 0.5
"""The summary names, per n, the smallest width whose success rate reaches this."""


@dataclasses.dataclass(frozen=True)
class Config:
    seed: int = 0
    bits: tuple[int, ...] = (2, 3, 4, 5)
    widths: tuple[int, ...] = (1, 2, 3, 4, 6, 8, 12)
    n_runs: int = 256
    steps: int = 5000
    learning_rate: float = 2.0
    loss: str = "mse"
    random_std: float = 1.0
    constant: float = 0.5
    tol: float = 0.4
    chunk_size: int = 256
    confidence: float = 0.95

    def check(self) -> None:
        require_counts(self, ("n_runs", "steps", "chunk_size"))
        require_positive(self, ("learning_rate", "random_std", "tol"))
        if not 0 < self.confidence < 1:
            raise ValueError(f"config key 'confidence' = {self.confidence!r} must be in (0, 1)")
        for key, low, high in (("bits", 2, 10), ("widths", 1, 256)):
            values = getattr(self, key)
            if not values or not all(low <= v <= high for v in values) or len(set(values)) != len(values):
                raise ValueError(f"config key {key!r} = {values!r} must hold distinct integers in "
                                 f"[{low}, {high}]")
        if self.loss not in ls.objectives.LOSSES:
            raise ValueError(f"config key 'loss' = {self.loss!r} is not one of {ls.objectives.LOSSES}")


SMOKE = Config(bits=(3,), widths=(1, 3), n_runs=64, steps=1500, chunk_size=64)


def _cell_plan(config: Config, n: int, width: int):
    """``(plan, model)`` of one (n, width) cell: runs ``0..n_runs-1`` from random starts, run
    ``n_runs`` from the constant start (the control), all in one compiled program. Keyed by ``n``
    and ``width``, so a cell's runs do not depend on which other cells the config lists."""
    model = ls.mlp([n, width, 1], activation="sigmoid", output="sigmoid")
    data = ls.datasets.parity(n)
    key = jax.random.fold_in(jax.random.fold_in(jax.random.key(config.seed), n), width)
    random = ls.initial_params(ls.inits.normal(model, config.random_std), key, np.arange(config.n_runs))
    constant = ls.inits.constant(model, config.constant)(key)
    starts = jax.tree.map(lambda r, c: jnp.concatenate([r, c[None]]), random, constant)
    plan = ls.plan_training(ls.objectives.loss(model, config.loss), None,
                            optax.sgd(config.learning_rate), data, starts=starts,
                            steps=config.steps, record_every=config.steps,
                            chunk_size=config.chunk_size,
                            success=ls.objectives.success(model, "within", tol=config.tol))
    return plan, model


def plans(config: Config) -> dict:
    """Every cell's training phase, ``{"n<n>_h<width>": TrainPlan}`` (``run`` trains them)."""
    return {_tag(n, width): _cell_plan(config, n, width)[0]
            for n in config.bits for width in config.widths}


def _tag(n: int, width: int) -> str:
    return f"n{n}_h{width}"


def _train_cell(config: Config, results: ResultsDir, progress, n: int, width: int):
    """``(result, model)`` of one (n, width) cell (:func:`_cell_plan`), trained resumably."""
    plan, model = _cell_plan(config, n, width)
    return train_resumable(plan, results, _tag(n, width), progress=progress), model


def _smallest_width(widths, rates) -> int | None:
    hits = [w for w, r in sorted(zip(widths, rates)) if r >= HALF]
    return hits[0] if hits else None


def run(config: Config, results: ResultsDir, progress: bool | None = None) -> dict:
    shape = (len(config.bits), len(config.widths))
    successes = np.zeros(shape, np.int64)
    median_steps = np.full(shape, np.nan)
    median_loss = np.zeros(shape)
    constant_succeeded = np.zeros(shape, bool)
    constant_loss = np.zeros(shape)
    constant_gap = np.zeros(shape)
    for i, n in enumerate(config.bits):
        for j, width in enumerate(config.widths):
            result, model = _train_cell(config, results, progress, n, width)
            rand, const = slice(None, config.n_runs), config.n_runs   # random runs, the control
            succeeded = result.succeeded[rand]
            successes[i, j] = succeeded.sum()
            steps = result.success_step[rand][succeeded]
            median_steps[i, j] = np.median(steps) if steps.size else np.nan
            median_loss[i, j] = np.median(result.final_loss[rand])
            constant_succeeded[i, j] = bool(result.succeeded[const])
            constant_loss[i, j] = result.final_loss[const]
            constant_gap[i, j] = np.asarray(sy.symmetry_gap(result.params, model=model))[const]
    runs = np.full(shape, config.n_runs)
    lo, hi = stats.wilson_interval(successes, runs, confidence=config.confidence)
    rate = successes / runs
    results.write_arrays("grid", {
        "bits": np.asarray(config.bits), "widths": np.asarray(config.widths), "successes": successes,
        "runs": runs, "rate": rate, "lo": lo, "hi": hi, "median_steps": median_steps,
        "median_loss": median_loss, "constant_succeeded": constant_succeeded,
        "constant_loss": constant_loss, "constant_gap": constant_gap})

    cells, rows = [], []
    for i, n in enumerate(config.bits):
        for j, width in enumerate(config.widths):
            step = None if np.isnan(median_steps[i, j]) else float(median_steps[i, j])
            cells.append({
                "bits": n, "width": width, "runs": config.n_runs, "succeeded": int(successes[i, j]),
                "success_rate": float(rate[i, j]), "success_interval": [float(lo[i, j]), float(hi[i, j])],
                "median_success_step": step, "median_final_loss": float(median_loss[i, j]),
                "constant_succeeded": bool(constant_succeeded[i, j]),
                "constant_final_loss": float(constant_loss[i, j]),
                "constant_gap": float(constant_gap[i, j])})
            rows.append([n, width, f"{rate[i, j]:.1%} [{lo[i, j]:.1%}, {hi[i, j]:.1%}]",
                         "-" if step is None else f"{step:.0f}", f"{median_loss[i, j]:.3g}",
                         "yes" if constant_succeeded[i, j] else "no", f"{constant_gap[i, j]:.2g}"])
    smallest = {str(n): _smallest_width(config.widths, rate[i]) for i, n in enumerate(config.bits)}
    return {
        "cells": cells, "smallest_width_for_half": smallest,
        "headline": _headline(config, smallest, constant_succeeded),
        "table": {"columns": ["n bits", "width", f"learned [{config.confidence:.0%} CI]",
                              "median steps", "median loss", "constant learned", "constant gap"],
                  "rows": rows},
        "text": _text(config, rate, smallest, constant_succeeded, constant_gap),
    }


def _headline(config: Config, smallest: dict, constant_succeeded) -> list[str]:
    need = "; ".join(f"{n} bits: {w} hidden units" if w is not None else
                     f"{n} bits: more than {max(config.widths)} hidden units" for n, w in smallest.items())
    names = start_names(config)
    return [f"With {names['random']} starts, the smallest hidden layer that learned parity in at "
            f"least half the runs: {need}; a {names['constant']} start learned it in "
            f"{int(constant_succeeded.sum())} of {constant_succeeded.size} settings.",
            "Why: from a constant start the hidden units stay exactly equal, so the network "
            "computes what one hidden unit does, and one unit cannot separate parity."]


def _text(config: Config, rate, smallest, constant_succeeded, constant_gap) -> list[str]:
    lines = []
    for i, n in enumerate(config.bits):
        rates = ", ".join(f"{w}: {r:.1%}" for w, r in zip(config.widths, rate[i]))
        need = smallest[str(n)]
        where = (f"width {need} is the smallest to reach {HALF:.0%}" if need is not None else
                 f"no width up to {max(config.widths)} reaches {HALF:.0%}")
        lines.append(f"{n}-bit parity ({2 ** n} patterns), random N(0, {config.random_std:g}^2) starts, "
                     f"learned within {config.steps} steps by width: {rates}; {where}.")
    cells = constant_succeeded.size
    lines.append(f"constant start (every weight {config.constant:g}): learned in "
                 f"{int(constant_succeeded.sum())} of {cells} (n, width) cells; hidden units "
                 f"still exactly equal in {int(np.sum(constant_gap == 0))} of {cells}: such a network "
                 "computes what one hidden unit does, and one logistic unit cannot separate parity.")
    return lines


def figures(results: ResultsDir) -> dict:
    from matplotlib.figure import Figure

    from landscape import plotting

    config = results.read_config()["config"]
    g = results.read_arrays("grid")
    fig = Figure(figsize=(9, 4.5), layout="constrained")
    ax = fig.subplots()
    plotting.plot_basin_shares(ax, g["widths"], g["rate"].T, g["lo"].T, g["hi"].T,
                               names=[f"{n}-bit parity" for n in g["bits"]], log_x=False,
                               xlabel="hidden units (width)")
    widths = np.broadcast_to(g["widths"], g["constant_succeeded"].shape).ravel()
    ax.scatter(widths, g["constant_succeeded"].ravel().astype(float), marker="x", color="black",
               zorder=4, label=f"constant start {config['constant']:g} (any n)")
    ax.set_xticks(g["widths"])
    ax.set_ylabel("share of runs that learned parity")
    bits = ", ".join(str(n) for n in g["bits"])
    nets = (f"{bits}-bit parity, {bits}-H-1" if len(g["bits"]) == 1 else
            f"n-bit parity (n = {bits}), n-H-1")
    ax.set_title(f"{nets} logistic nets, H = {', '.join(str(w) for w in g['widths'])}: "
                 f"{config['steps']} steps of gradient descent from N(0, {config['random_std']:g}^2)",
                 fontsize="medium")
    ax.legend(fontsize="small", loc="center left", bbox_to_anchor=(1.01, 0.5))
    return {"success_rate": fig}


CAPTIONS = {
    'success_rate': 'Wider hidden layers learn n-bit parity more often; each curve is one n.',
}
"""Each figure's caption, in the order a reader should see them."""


EXPERIMENT = Experiment(
    name="parity_scaling",
    question=("How wide must the hidden layer be to learn n-bit parity from random starts, and "
              "does the constant start ever learn it?"),
    config=Config(), smoke=SMOKE, run=run, plans=plans, figures=figures,
    captions=CAPTIONS)

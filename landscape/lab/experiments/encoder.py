"""encoder: can backprop learn the n-m-n encoder from random and from constant starts, and how
many different solutions does it find?

The encoder task (:func:`landscape.datasets.encoder`) maps each of ``n`` one-hot patterns to
itself through ``m`` hidden units (4-2-4 and 8-3-8: ``m = log2 n``). For each problem in
``problems``, ``n_runs`` logistic networks (sigmoid hidden and output units, ``loss``, plain
gradient descent) are trained from random ``N(0, random_std^2)`` starts and from the constant
start where every weight and bias equals ``constant``. A run succeeds when every output is
within ``tol`` of its target.

Method:

- success rates with 95% Wilson intervals (:func:`landscape.stats.wilson_interval`);
- the constant start's symmetry gap (:func:`landscape.symmetry.symmetry_gap`): it stays
  exactly 0 (bit-identical hidden units). There even the patterns stay alike: every output of
  every pattern is the same value ``o``, which goes to ``1/n``, so the loss goes to the best
  such network's, in closed form ``(n - 1)/2`` (half_sse), ``(n - 1)/n^2`` (mse) or the binary
  entropy of ``1/n`` (bce);
- distinct solutions modulo symmetry: a successful run's *hidden code* is the sign pattern of
  the hidden pre-activations on the ``n`` patterns (an ``n x m`` bit table). Permuting hidden
  units permutes its columns and flipping a logistic unit complements one, so its class modulo
  the network's symmetry group is the smallest code over the run's whole orbit
  (:func:`landscape.symmetry.orbit`). Runs whose codes are binary (every pre-activation at
  least ``code_margin`` from 0) are counted per class; with ``n = 2^m`` patterns on the
  ``2^m`` corners of the cube there are ``n! / (m! 2^m)`` classes (3 for 4-2-4, 840 for 8-3-8),
  and ``C (1 - (1 - 1/C)^k)`` of them are expected among ``k`` runs if each is equally likely.
  For comparison, the learned runs are also clustered by their outputs on the patterns
  (:func:`landscape.minima.cluster_runs`, function space, tolerance read from the data).

The default config (2 problems x 2 starts x 2000 runs x 3000 steps) took 23 s of CPU time
(1.6 min wall on a shared 2-core machine); the smoke config (4-2-4 only) a few seconds.

Outputs in the results folder:
  config.json            resolved config, seed, versions
  summary.json           per problem and start: runs, successes, rate with its Wilson interval,
                         final-loss quantiles, gap statistics; per problem: the constant start's
                         loss limit, code classes and function-space clusters; the table and text
  <problem>_<start>.npz  per run (e.g. ``4-2-4_random.npz``): losses (n_runs, n_records),
                         record_steps, success_step, status, final gap; random starts also
                         code_class (canonical code, -1 if not binary or not learned) and margin
  chunks/                finished training chunks (an interrupted run resumes from them)
  success_rates.png      success per problem and start with 95% Wilson intervals
  loss_curves.png        median loss and 5-95% band per start, one panel per problem
  code_classes.png       runs per hidden-code class (largest first), one panel per problem
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
from landscape import symmetry as sy
from landscape.lab.config import Experiment, require_counts, require_positive, start_names
from landscape.lab.resumable import train_resumable
from landscape.lab.store import ResultsDir

STARTS = ("random", "constant")
LOSSES = ("mse", "half_sse", "bce")
QUANTILES = {"min": 0.0, "q05": 0.05, "median": 0.5, "q95": 0.95, "max": 1.0}
MAX_CODE_BITS = 62
"""Hidden codes are packed into int64: at most this many bits (``n * m``)."""


@dataclasses.dataclass(frozen=True)
class Config:
    seed: int = 0
    problems: tuple[str, ...] = ("4-2-4", "8-3-8")
    n_runs: int = 2000
    steps: int = 3000
    record_every: int = 50
    learning_rate: float = 2.0
    loss: str = "half_sse"
    random_std: float = 1.0
    constant: float = 0.5
    tol: float = 0.4
    code_margin: float = 0.5
    chunk_size: int = 1000

    def check(self) -> None:
        require_counts(self, ("n_runs", "steps", "record_every", "chunk_size"))
        if self.steps % self.record_every:
            raise ValueError(f"config key 'record_every' = {self.record_every!r} must divide "
                             f"steps = {self.steps!r}")
        require_positive(self, ("learning_rate", "random_std", "tol", "code_margin"))
        if self.loss not in LOSSES:
            raise ValueError(f"config key 'loss' = {self.loss!r} is not one of {LOSSES} (losses on "
                             "logistic outputs whose constant-start limit is known)")
        if not self.problems or len(set(self.problems)) != len(self.problems):
            raise ValueError(f"config key 'problems' = {self.problems!r} must name distinct "
                             "problems, e.g. ('4-2-4', '8-3-8')")
        for problem in self.problems:
            try:
                parse_problem(problem)
            except ValueError as err:
                raise ValueError(f"config key 'problems': {err}") from None


SMOKE = Config(problems=("4-2-4",), n_runs=64, steps=400, record_every=20, chunk_size=64)


def parse_problem(text: str) -> tuple[int, int]:
    """``"8-3-8"`` -> ``(8, 3)``: ``n`` patterns through ``m`` hidden units."""
    parts = str(text).split("-")
    ok = len(parts) == 3 and all(p.isdigit() for p in parts) and parts[0] == parts[2]
    n, m = (int(parts[0]), int(parts[1])) if ok else (0, 0)
    if not ok or n < 2 or m < 1 or n * m > MAX_CODE_BITS:
        raise ValueError(f"problem {text!r} must look like 'n-m-n' with n >= 2 patterns, m >= 1 "
                         f"hidden units and n * m <= {MAX_CODE_BITS}, e.g. '4-2-4'")
    return n, m


def constant_limit(n: int, loss: str) -> float:
    """The constant start's loss limit: every output of every pattern equal to ``1/n``."""
    if loss == "half_sse":
        return (n - 1) / 2
    if loss == "mse":
        return (n - 1) / n**2
    if loss == "bce":
        p = 1.0 / n
        return -(p * math.log(p) + (1 - p) * math.log(1 - p))
    raise ValueError(f"loss {loss!r} is not one of {LOSSES}")


def corner_classes(n: int, m: int) -> int | None:
    """Classes of bijections from ``n = 2^m`` patterns to the cube's corners modulo the
    hidden-unit group (order ``m! 2^m``, acting freely): ``n! / (m! 2^m)``; None if ``n != 2^m``."""
    if n != 2**m:
        return None
    return math.factorial(n) // (math.factorial(m) * 2**m)


def expected_distinct(classes: int, draws: int) -> float:
    """Distinct classes expected among ``draws`` runs spread uniformly over ``classes``:
    ``C (1 - (1 - 1/C)^k)``."""
    return classes * (1.0 - (1.0 - 1.0 / classes) ** draws)


def code_classes(model: ls.Model, params, x) -> tuple[np.ndarray, np.ndarray]:
    """``(canonical code, margin)`` per run: the smallest packed hidden code (sign bits of the
    hidden pre-activations on ``x``, pattern-major) over the run's orbit, and the smallest
    ``|pre-activation|`` (how binary the code is)."""
    images = sy.orbit(params, model=model)  # leaves (G, n_runs, ...)
    z = np.asarray(x @ images[0]["w"] + images[0]["b"][..., None, :], np.float64)  # (G, R, n, m)
    bits = (z > 0).reshape(z.shape[0], z.shape[1], -1).astype(np.int64)
    weights = np.left_shift(np.int64(1), np.arange(bits.shape[-1] - 1, -1, -1, dtype=np.int64))
    return (bits @ weights).min(axis=0), np.abs(z[0]).min(axis=(-2, -1))


def _summarize(result, gap) -> dict:
    ok = result.status == ls.status.RUN.code("ok")
    final = result.final_loss[ok]
    k, n = int(result.succeeded.sum()), result.n_runs
    lo, hi = stats.wilson_interval(k, n)
    steps = result.success_step[result.succeeded]
    return {
        "runs": n, "succeeded": k, "success_rate": k / n, "success_interval": [float(lo), float(hi)],
        "median_success_step": float(np.median(steps)) if steps.size else None,
        "final_loss": {name: (float(np.quantile(final, q)) if final.size else None)
                       for name, q in QUANTILES.items()},
        "gap": {"max": float(gap.max()), "exactly_zero": int(np.sum(gap == 0))},
        "status": result.status_counts(),
    }


def _setup(config: Config, problem: str):
    """``(model, data, loss_fn)`` of the encoder ``problem`` ("N-M-N")."""
    n, m = parse_problem(problem)
    model = ls.mlp([n, m, n], activation="sigmoid", output="sigmoid")
    return model, ls.datasets.encoder(n, m), ls.objectives.loss(model, config.loss)


def _problem_plans(config: Config, p: int, problem: str) -> dict:
    """``{start kind: TrainPlan}`` of the ``p``-th problem (keyed by ``p`` and the start)."""
    model, data, loss_fn = _setup(config, problem)
    success = ls.objectives.success(model, "within", tol=config.tol)
    # the learning rate and the starts' scales are per-run data: one compiled program per shape
    optimizer = optax.inject_hyperparams(optax.sgd)(learning_rate=config.learning_rate)
    lr = {"learning_rate": np.full(config.n_runs, config.learning_rate)}
    starts = {"random": (ls.inits.normal(model, 1.0), config.random_std),
              "constant": (ls.inits.constant(model, 1.0), config.constant)}
    key = jax.random.fold_in(jax.random.key(config.seed), p)
    return {kind: ls.plan_training(loss_fn, starts[kind][0], optimizer, data,
                                   key=jax.random.fold_in(key, s), n_runs=config.n_runs,
                                   steps=config.steps, record_every=config.record_every,
                                   chunk_size=config.chunk_size, success=success, hyperparams=lr,
                                   init_scale=np.full(config.n_runs, starts[kind][1]))
            for s, kind in enumerate(STARTS)}


def plans(config: Config) -> dict:
    """Every training phase, ``{"<problem>_<start>": TrainPlan}`` (``run`` trains them)."""
    return {f"{problem}_{kind}": plan for p, problem in enumerate(config.problems)
            for kind, plan in _problem_plans(config, p, problem).items()}


def _problem(config: Config, p: int, problem: str, results: ResultsDir, progress) -> dict:
    n, m = parse_problem(problem)
    model, data, _ = _setup(config, problem)
    out = {"n": n, "m": m, "constant_limit": constant_limit(n, config.loss), "starts": {}}
    for kind, plan in _problem_plans(config, p, problem).items():
        result = train_resumable(plan, results, f"{problem}_{kind}", progress=progress)
        gap = np.asarray(sy.symmetry_gap(result.params, model=model))
        arrays = {"losses": result.losses, "record_steps": result.record_steps,
                  "success_step": result.success_step, "status": result.status, "gap": gap}
        out["starts"][kind] = _summarize(result, gap)
        if kind == "random":
            code, margin = code_classes(model, result.params, np.asarray(data.x))
            binary = result.succeeded & (margin >= config.code_margin)
            arrays.update(code_class=np.where(binary, code, -1), margin=margin)
            sizes = np.sort(np.unique(code[binary], return_counts=True)[1])[::-1]
            learned = np.flatnonzero(result.succeeded)
            clusters = None
            if learned.size:  # in function space (outputs on the patterns), without categories
                clusters = mn.cluster_runs(jax.tree.map(lambda a: a[learned], result.params),
                                           model=model, loss=result.final_loss[learned], x=data.x,
                                           options=mn.ClusterOptions(seed=config.seed)).n_clusters
            out["codes"] = {
                "learned": int(result.succeeded.sum()), "binary": int(binary.sum()),
                "classes": int(sizes.size), "class_sizes": sizes.tolist(),
                "corner_classes": corner_classes(n, m),
                "expected_if_uniform": (None if corner_classes(n, m) is None else
                                        expected_distinct(corner_classes(n, m), int(binary.sum()))),
                "function_clusters": clusters}
        results.write_arrays(f"{problem}_{kind}", arrays)
    return out


def _headline(config: Config, problems: dict) -> list[str]:
    rates = {kind: ", ".join(f"{s['starts'][kind]['success_rate']:.1%}" for s in problems.values())
             for kind in STARTS}
    equal = sum(s["starts"]["constant"]["gap"]["exactly_zero"] for s in problems.values())
    runs = sum(s["starts"]["constant"]["runs"] for s in problems.values())
    names = start_names(config)
    return [f"The {', '.join(problems)} encoder was learned from a {names['random']} start in "
            f"{rates['random']} of runs and from a {names['constant']} start in {rates['constant']}.",
            f"Why: from equal weights the hidden units get identical error signals and stay equal "
            f"({equal} of {runs} constant runs), so the hidden layer cannot give each pattern its "
            "own code."]


def _text(config: Config, problems: dict) -> list[str]:
    lines = []
    for problem, s in problems.items():
        r, c, codes = s["starts"]["random"], s["starts"]["constant"], s["codes"]
        lines.append(
            f"{problem} random N(0, {config.random_std:g}^2): {r['succeeded']} of {r['runs']} runs "
            f"learned it (95% CI {r['success_interval'][0]:.1%}-{r['success_interval'][1]:.1%}), "
            f"median at step {r['median_success_step']}.")
        lines.append(
            f"{problem} constant {config.constant:g}: {c['succeeded']} of {c['runs']} learned it "
            f"(95% CI {c['success_interval'][0]:.1%}-{c['success_interval'][1]:.1%}); hidden units "
            f"bit-identical (gap exactly 0) in {c['gap']['exactly_zero']} of {c['runs']} runs; median "
            f"final loss {c['final_loss']['median']:.5g}, the limit of equal outputs 1/{s['n']} is "
            f"{s['constant_limit']:.5g}.")
        corner = codes["corner_classes"]
        top = ", ".join(str(v) for v in codes["class_sizes"][:6])
        lines.append(
            f"{problem} solutions modulo symmetry: {codes['binary']} of {codes['learned']} learned "
            f"runs have binary hidden codes, in {codes['classes']} classes (largest: {top})"
            + (f"; {corner} classes exist with codes on the cube's corners (drawn uniformly, "
               f"{codes['binary']} runs would show {codes['expected_if_uniform']:.0f})" if corner else "")
            + (f"; clustered by their outputs on the patterns, the learned runs form "
               f"{codes['function_clusters']} cluster(s)" if codes["function_clusters"] is not None
               else "")
            + ".")
    return lines


def run(config: Config, results: ResultsDir, progress: bool | None = None) -> dict:
    problems = {problem: _problem(config, p, problem, results, progress)
                for p, problem in enumerate(config.problems)}
    rows = []
    for problem, s in problems.items():
        for kind in STARTS:
            t = s["starts"][kind]
            lo, hi = t["success_interval"]
            classes = s["codes"]["classes"] if kind == "random" else "-"
            rows.append([problem, kind, t["runs"], f"{t['success_rate']:.1%} [{lo:.1%}, {hi:.1%}]",
                         f"{t['final_loss']['median']:.4g}", t["gap"]["exactly_zero"], classes])
    return {
        "problems": problems,
        "headline": _headline(config, problems),
        "table": {"columns": ["problem", "start", "runs", "learned [95% CI]", "loss median",
                              "gap = 0", "code classes"], "rows": rows},
        "text": _text(config, problems),
    }


def figures(results: ResultsDir) -> dict:
    from matplotlib.figure import Figure
    import matplotlib.ticker

    from landscape import plotting

    config = results.read_config()["config"]
    problems = config["problems"]
    arrays = {(p, k): results.read_arrays(f"{p}_{k}") for p in problems for k in STARTS}
    colors = {"random": "tab:blue", "constant": "tab:red"}
    figs = {}

    names, ks, ns, cols = [], [], [], []
    for p in problems:
        for kind in STARTS:
            step = arrays[p, kind]["success_step"]
            names.append(f"{p}\n{kind}")
            ks.append(int(np.sum(step >= 0)))
            ns.append(step.size)
            cols.append(colors[kind])
    lo, hi = stats.wilson_interval(np.array(ks), np.array(ns))
    fig = Figure(figsize=(1.8 * len(names) + 1.5, 4.5), layout="constrained")
    ax = fig.subplots()
    plotting.plot_success_rates(ax, names, ks, ns, lo, hi, colors=cols)
    ax.set_ylabel(f"success rate (every output within {config['tol']:g} of its target)")
    ax.set_title("encoders: learned from random vs constant starts (95% Wilson intervals)")
    figs["success_rates"] = fig

    fig = Figure(figsize=(5.5 * len(problems), 4.2), layout="constrained")
    axes = fig.subplots(1, len(problems), squeeze=False)
    for ax, p in zip(axes[0], problems):
        n, _ = parse_problem(p)
        for kind in STARTS:
            a = arrays[p, kind]
            plotting.plot_quantile_band(ax, a["record_steps"], a["losses"], quantiles=(0.05, 0.95),
                                        log=True, color=colors[kind], label=f"{kind} start")
        limit = constant_limit(n, config["loss"])
        ax.axhline(limit, color="gray", linestyle="--", linewidth=1,
                   label=f"equal outputs 1/{n}: {limit:.4g}")
        ax.set_xlabel("step")
        ax.set_ylabel(f"{config['loss']} loss")
        ax.set_title(f"{p}: median and 5-95% of runs")
        ax.legend(fontsize="small")
    figs["loss_curves"] = fig

    fig = Figure(figsize=(5.5 * len(problems), 4.0), layout="constrained")
    axes = fig.subplots(1, len(problems), squeeze=False)
    for ax, p in zip(axes[0], problems):
        code = arrays[p, "random"]["code_class"]
        sizes = np.sort(np.unique(code[code >= 0], return_counts=True)[1])[::-1]
        n, m = parse_problem(p)
        if sizes.size:
            ax.bar(np.arange(1, sizes.size + 1), sizes, color="tab:blue", width=0.8)
        corner = corner_classes(n, m)
        ax.xaxis.set_major_locator(matplotlib.ticker.MaxNLocator(integer=True))
        ax.yaxis.set_major_locator(matplotlib.ticker.MaxNLocator(integer=True))
        ax.set_xlabel("hidden-code class (largest first)")
        ax.set_ylabel("learned runs with a binary code")
        ax.set_title(f"{p}: {sizes.size} classes modulo symmetry"
                     + (f" (of {corner} corner codings)" if corner else ""))
    figs["code_classes"] = fig
    return figs


CAPTIONS = {
    'success_rates': 'Random starts learn both encoders in nearly every run; the constant start in'
                     ' none.',
    'loss_curves': "The constant start's loss stops at the equal-outputs limit while random starts "
                   "fall towards 0 (median and 5-95% of runs).",
    'code_classes': "The learned networks' hidden codes fall into the few classes that exist modulo "
                    "the units' permutations and flips.",
}
"""Each figure's caption, in the order a reader should see them."""


EXPERIMENT = Experiment(
    name="encoder",
    question=("Can backprop learn the 4-2-4 and 8-3-8 encoders from random and from constant "
              "starts, and how many different solutions does it find modulo symmetry?"),
    config=Config(), smoke=SMOKE, run=run, plans=plans, figures=figures,
    captions=CAPTIONS)

"""xor_invariance: which training ingredients keep two identical hidden units identical?

From the constant start (every weight and bias equal to ``constant``), for each task in
``tasks`` (xor: 2-H-1 logistic; parity: 3-3-1 on 3-bit parity; teacher: a 4-3-1 erf student of
a 4-2-1 erf teacher), each training ingredient in ``ingredients`` (optimizers, weight decay,
gradient noise, a random output layer) and each mode in ``modes`` (``fast``: the trainer's
run-axis-last path, ``vmap``: its generic path, ``minibatch``), trains one network for
``steps`` steps in ``dtype`` and classifies the largest symmetry gap it reached: exact (the
units stay bit-identical), rounding, amplified (rounding noise grown by the dynamics) or broken
(:func:`landscape.symmetry.gap_status`). With the teacher task, also the teacher's constant
start's symmetric equilibrium (a strict saddle, where rounding differences between units grow).

This study was part of ``xor_symmetry`` until it was moved here: the flagship answers its
question in under a minute, this one takes a few minutes.

Outputs in the results folder:
  config.json        resolved config, seed, versions
  summary.json       the matrix (one row per task, ingredient and mode), a verdict per
                     ingredient, the teacher's equilibrium, the headline, table and text
  invariance.npz     status codes, max gaps and the first step with a nonzero gap
                     (tasks x ingredients x modes)
  invariance.png     the matrix as a coloured grid, one panel per task
"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import optax

import landscape as ls
from landscape import symmetry as sy
from landscape.status import GAP
from landscape.lab.config import Experiment, phase, require_counts, require_positive, runs_bytes
from landscape.lab.store import ResultsDir

TASKS = ("xor", "parity", "teacher")
INGREDIENTS = ("sgd", "momentum", "nesterov", "adam", "rmsprop", "adamw", "weight_decay",
               "gradient_noise", "random_output_init")
MODES = ("fast", "vmap", "minibatch")


@dataclasses.dataclass(frozen=True)
class Config:
    seed: int = 0
    hidden: int = 2
    learning_rate: float = 0.5
    constant: float = 0.5
    tasks: tuple[str, ...] = TASKS
    ingredients: tuple[str, ...] = INGREDIENTS
    modes: tuple[str, ...] = MODES
    steps: int = 2000
    dtype: str = "float32"

    def memory_bytes(self) -> int:
        """A lower bound of the bytes this config needs (one run per task, ingredient and mode),
        float32; checked against the available memory before any write
        (:func:`landscape.lab.config.check_memory`)."""
        runs = len(self.tasks) * len(self.ingredients) * len(self.modes)
        return runs_bytes(runs, 4 * self.hidden + 1)

    def check(self) -> None:
        require_counts(self, ("hidden", "steps"))
        require_positive(self, ("learning_rate",))
        if self.hidden < 2:
            raise ValueError(f"config key 'hidden' = {self.hidden!r} must be >= 2 (one unit has no "
                             "symmetry to break)")
        if self.dtype not in ("float32", "float64"):
            raise ValueError(f"config key 'dtype' = {self.dtype!r} is not one of "
                             "('float32', 'float64')")
        for key, allowed in (("tasks", TASKS), ("ingredients", INGREDIENTS), ("modes", MODES)):
            values = getattr(self, key)
            bad = [v for v in values if v not in allowed]
            if bad or not values:
                raise ValueError(f"config key {key!r} = {values!r} must be some of {allowed}")


SMOKE = Config(learning_rate=2.0, tasks=("xor",), ingredients=("sgd", "gradient_noise"),
               modes=("fast",), steps=200)


# ---------------------------------------------------------------------------------- the matrix


def _task(name: str, config: Config, dtype=jnp.float32):
    """``(model, data, minibatch size)`` of a task."""
    if name == "xor":
        return ls.mlp([2, config.hidden, 1]), ls.datasets.xor(dtype), 2
    if name == "parity":
        return ls.mlp([3, 3, 1]), ls.datasets.parity(3, dtype=dtype), 4
    if name == "teacher":
        teacher = ls.mlp([4, 2, 1], activation="erf", output="linear")
        data, _ = ls.datasets.teacher_student(jax.random.key(config.seed), teacher, n_samples=64,
                                              dtype=dtype)
        return ls.mlp([4, 3, 1], activation="erf", output="linear"), data, 16
    raise ValueError(f"task {name!r} is not known; expected one of {TASKS}")


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


def _matrix(config: Config, results: ResultsDir, progress) -> dict:
    with jax.enable_x64(config.dtype == "float64"):
        return _matrix_in_dtype(config, results, progress)


def _matrix_in_dtype(config: Config, results: ResultsDir, progress) -> dict:
    tasks, ingredients, modes = config.tasks, config.ingredients, config.modes
    shape = (len(tasks), len(ingredients), len(modes))
    codes = np.zeros(shape, np.int32)
    max_gap = np.zeros(shape)
    first_nonzero = np.full(shape, -1)
    record_every = ls.train.default_record_every(config.steps, 20)
    dtype = jnp.dtype(config.dtype)
    for a, task in enumerate(tasks):
        model, data, batch = _task(task, config, dtype)
        loss_fn = ls.objectives.loss(model, "mse")
        for b, name in enumerate(ingredients):
            phase(progress, a * len(ingredients) + b + 1, len(tasks) * len(ingredients),
                  f"{task}: {name} ({', '.join(modes)})")
            optimizer, init_fn = _ingredient(name, model, config, dtype)
            for c, mode in enumerate(modes):
                result = ls.train_many(
                    loss_fn, init_fn, optimizer, data, key=jax.random.key(config.seed), n_runs=1,
                    steps=config.steps, record_every=record_every, trajectory_runs=[0],
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
    return {"steps": config.steps, "dtype": config.dtype, "tasks": list(tasks),
            "ingredients": list(ingredients), "modes": list(modes), "rows": rows,
            "verdicts": verdicts}


def _teacher_equilibrium(config: Config) -> dict | None:
    """The teacher task's constant start's symmetric equilibrium (float64), or None."""
    if "teacher" not in config.tasks:
        return None
    with jax.enable_x64(True):
        model, data, _ = _task("teacher", config, jnp.float64)
        start = ls.inits.constant(model, config.constant, dtype=jnp.float64)(jax.random.key(0))
        return sy.symmetric_equilibrium(
            ls.objectives.loss(model, "mse"), start, data,
            optimizer=optax.sgd(config.learning_rate), steps=config.steps).summary()


# ---------------------------------------------------------------------------------- summary


def _groups(verdicts: dict) -> dict[str, list[str]]:
    groups: dict[str, list[str]] = {}
    for name, verdict in verdicts.items():
        groups.setdefault(verdict, []).append(name)
    return groups


def _headline(inv: dict) -> list[str]:
    groups = _groups(inv["verdicts"])
    keep = groups.get("keeps it exactly", []) + groups.get("keeps it to rounding", [])
    broken = groups.get("breaks the symmetry", [])
    finding = (f"Identical hidden units stay identical under {', '.join(keep) or 'no ingredient'}; "
               f"only {', '.join(broken) or 'none'} separate{'s' if len(broken) == 1 else ''} them.")
    why = ("Why: an ingredient that treats every parameter by the same rule gives identical units "
           "identical updates; only something that differs per unit (noise, a random output "
           "layer) can tell them apart.")
    return [finding, why]


def _text(inv: dict, teacher: dict | None) -> list[str]:
    groups = _groups(inv["verdicts"])
    lines = [f"from the constant start ({', '.join(inv['tasks'])}; {inv['dtype']}; {inv['steps']} "
             "steps; full batch and minibatches on the trainer's fast path): "
             + "; ".join(f"{', '.join(v)}: {k}" for k, v in groups.items()) + "."]
    deterministic = [r for r in inv["rows"] if r["mode"] == "vmap"
                     and r["ingredient"] not in ("gradient_noise", "random_output_init")]
    parts = []
    for task in inv["tasks"]:
        rows = [r for r in deterministic if r["task"] == task]
        if rows:
            worst = max(rows, key=lambda r: r["max_gap"])
            broken = [r["ingredient"] for r in rows if r["status"] == "broken"]
            part = f"{task}: max gap {worst['max_gap']:.1e} ({worst['status']}, {worst['ingredient']})"
            if broken:
                part += f", symmetry ended by rounding alone with {', '.join(broken)}"
            parts.append(part)
    if parts:
        where = ""
        if teacher is not None:
            where = (f" (the teacher-student constant start goes to a {teacher['kind'].replace('_', ' ')}"
                     f", {teacher['label']}, breaking eigenvalue {teacher['lambda_min_breaking']:.2g}: "
                     "unstable, so rounding differences grow there; XOR's trap at infinity barely "
                     "grows them)")
        lines.append("the generic (vmap) path of the trainer need not round identical units alike: "
                     + "; ".join(parts) + f"{where}. symmetry.reduced_training keeps the units "
                     "equal by construction.")
    return lines


def _table(inv: dict) -> dict:
    modes = inv["modes"]
    rows = []
    for name in inv["ingredients"]:
        cells = [r for r in inv["rows"] if r["ingredient"] == name]
        worst = [max((r for r in cells if r["mode"] == m), key=lambda r: GAP.code(r["status"]))
                 for m in modes]
        rows.append([name, inv["verdicts"][name],
                     *(f"{r['status']} ({r['max_gap']:.1e})" for r in worst)])
    return {"columns": ["ingredient", "verdict", *(f"{m}: worst gap" for m in modes)], "rows": rows}


def run(config: Config, results: ResultsDir, progress: bool | None = None) -> dict:
    invariance = _matrix(config, results, progress)
    teacher = _teacher_equilibrium(config)
    return {"invariance": invariance, "teacher_equilibrium": teacher,
            "headline": _headline(invariance), "table": _table(invariance),
            "text": _text(invariance, teacher)}


# ---------------------------------------------------------------------------------- figures


CAPTIONS = {
    "invariance": "Each cell is one training run from the constant start: green cells kept the "
                  "hidden units identical, red cells separated them; only per-unit noise or a "
                  "random output layer turns a column red on the fast path.",
}


def figures(results: ResultsDir) -> dict:
    from matplotlib.figure import Figure

    from landscape import plotting

    config = results.read_config()["config"]
    a = results.read_arrays("invariance")
    tasks, modes, ingredients = config["tasks"], config["modes"], config["ingredients"]
    fig = Figure(figsize=(2.0 + 1.5 * len(modes) * len(tasks), 1.4 + 0.4 * len(ingredients)),
                 layout="constrained")
    axes = np.atleast_1d(fig.subplots(1, len(tasks), sharey=True))
    for ax, task, codes, gaps in zip(axes, tasks, a["status"], a["max_gap"]):
        plotting.plot_gap_status_grid(ax, codes, gaps, rows=ingredients, columns=modes)
        ax.set_title(f"{task}: largest distance between\nthe hidden units", fontsize="medium")
    return {"invariance": fig}


EXPERIMENT = Experiment(
    name="xor_invariance",
    question="Which training ingredients keep two identical hidden units identical?",
    config=Config(), smoke=SMOKE, run=run, figures=figures, captions=CAPTIONS)

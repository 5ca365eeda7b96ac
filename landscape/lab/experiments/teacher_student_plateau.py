"""teacher_student_plateau: how long does a student stay on the symmetric plateau, against the
size of the asymmetry it starts with?

A student network (``n_in``-``student_hidden``-1, ``activation`` hidden units, linear output,
mean squared error, plain gradient descent at ``learning_rate``) learns the outputs of a random
teacher of the same kind with ``teacher_hidden`` units on ``n_samples`` Gaussian inputs
(:func:`landscape.datasets.teacher_student`). Everything runs in float64.

Method:

- **the plateau**: from the constant start (every weight and bias ``constant``: all hidden units
  equal) the symmetric dynamics go to the symmetric equilibrium
  (:func:`landscape.symmetry.symmetric_equilibrium`: ``equilibrium_steps`` steps inside the
  symmetric subspace, then Newton refinement). Its loss ``L*`` is the plateau value; the most
  negative eigenvalue ``lambda`` of the Hessian's symmetry-breaking block there makes it a
  strict saddle;
- **the runs**: the constant start plus ``eps`` times a unit symmetry-breaking direction, for
  every ``eps`` in ``eps`` in one batched call per direction (:func:`landscape.symmetry.escape`).
  Direction 0 is the unstable mode at the plateau (the eigenvector of ``lambda``); directions
  1.. ``n_random_directions`` are random (a Gaussian vector projected on the breaking subspace,
  :func:`landscape.symmetry.breaking_basis`);
- **plateau length** ``T(eps)``: the first step at which the loss is below ``drop * L*``
  (linear interpolation of the log loss between records ``record_every`` apart). Before it the
  loss sits at or above about ``L*``: the units are still (almost) equal;
- **the linear theory**: near the saddle the breaking component grows by ``1 + lr |lambda|`` per
  step, so it needs ``ln(c / eps) / ln(1 + lr |lambda|)`` steps to reach a size ``c``: ``T``
  grows like ``ln(1/eps)`` with slope ``1 / ln(1 + lr |lambda|)``, whatever the direction (the
  direction only shifts the intercept: through its overlap with the unstable mode and the
  transient while the run approaches the plateau). The slope is fitted by least
  squares over ``eps <= fit_max_eps`` and compared with the prediction; so is the slope of the
  steps until the symmetry gap passes ``gap_threshold``.

The default config took 12 s of CPU time (20 s wall on a busy 2-core machine), most of it
compiling.

Outputs in the results folder:
  config.json            resolved config, seed, versions
  summary.json           the plateau (loss, curvature, lambda, predicted slope); per direction
                         its overlap with the unstable mode, plateau lengths, fitted slopes (loss
                         and gap criteria) and their ratio to the prediction; table and text
  plateau.npz            eps, record_steps, per direction x eps: losses (d, n_eps, n_records),
                         gaps, plateau_steps (d, n_eps; -1 if the loss never dropped), gap_steps;
                         overlap (d,); the plateau loss, lambda, learning rate, predicted slope
  loss_curves.png        loss and symmetry gap over training for every eps (unstable mode)
  plateau_length.png     plateau length against eps (log x) per direction, with the fits and the
                         predicted slope
"""

from __future__ import annotations

import dataclasses
import math

import jax
import jax.numpy as jnp
import numpy as np
import optax
from jax.flatten_util import ravel_pytree

import landscape as ls
from landscape import symmetry as sy
from landscape.lab.config import Experiment, require_counts, require_positive, runs_bytes
from landscape.lab.store import ResultsDir

ACTIVATIONS_ALLOWED = ("erf", "tanh")


@dataclasses.dataclass(frozen=True)
class Config:
    seed: int = 0
    n_in: int = 4
    teacher_hidden: int = 2
    student_hidden: int = 2
    activation: str = "erf"
    n_samples: int = 128
    constant: float = 0.5
    learning_rate: float = 0.5
    equilibrium_steps: int = 2000
    eps: tuple[float, ...] = tuple(float(10.0 ** e) for e in range(-12, -1))
    n_random_directions: int = 3
    steps: int = 12_000
    record_every: int = 20
    drop: float = 0.5
    fit_max_eps: float = 1e-4
    gap_threshold: float = 0.1

    def memory_bytes(self) -> int:
        """A lower bound of the bytes this config needs (the runs per push size and direction, the
        samples and the hidden activations), float32; checked against the available memory before
        any write (:func:`landscape.lab.config.check_memory`)."""
        runs = len(self.eps) * (1 + self.n_random_directions)
        params = (self.n_in + 2) * self.student_hidden + 1
        width = self.teacher_hidden + runs * self.student_hidden
        return (runs_bytes(runs, params, self.steps // self.record_every + 1)
                + self.n_samples * (self.n_in + 1 + width) * 4)

    def check(self) -> None:
        require_counts(self, ("n_in", "teacher_hidden", "n_samples", "equilibrium_steps", "steps",
                              "record_every"))
        if self.student_hidden < 2:
            raise ValueError(f"config key 'student_hidden' = {self.student_hidden!r} must be >= 2 "
                             "(one unit has no symmetry to break)")
        if self.n_random_directions < 0:
            raise ValueError(f"config key 'n_random_directions' = {self.n_random_directions!r} "
                             "must be >= 0")
        if self.steps % self.record_every:
            raise ValueError(f"config key 'record_every' = {self.record_every!r} must divide "
                             f"steps = {self.steps!r}")
        if self.activation not in ACTIVATIONS_ALLOWED:
            raise ValueError(f"config key 'activation' = {self.activation!r} is not one of "
                             f"{ACTIVATIONS_ALLOWED}")
        require_positive(self, ("learning_rate", "gap_threshold", "fit_max_eps"))
        if not 0 < self.drop < 1:
            raise ValueError(f"config key 'drop' = {self.drop!r} must be in (0, 1): the plateau "
                             "ends when the loss falls below drop times the plateau loss")
        if not self.eps or not all(0 < e < self.gap_threshold for e in self.eps):
            raise ValueError(f"config key 'eps' = {self.eps!r} must be positive numbers below "
                             f"gap_threshold = {self.gap_threshold!r}")
        if sum(e <= self.fit_max_eps for e in self.eps) < 2:
            raise ValueError(f"config key 'fit_max_eps' = {self.fit_max_eps!r} leaves fewer than 2 "
                             f"of eps = {self.eps!r} to fit")


SMOKE = Config(eps=(1e-7, 1e-6, 1e-5, 1e-4, 1e-2), n_random_directions=1,
               steps=6000)


def crossing_steps(steps: np.ndarray, losses: np.ndarray, level: float) -> np.ndarray:
    """First step at which each row of ``losses (..., n_records)`` (recorded at ``steps``) is
    below ``level``, linearly interpolated in log loss between the two records around the
    crossing; ``-1`` where it never is (and ``steps[0]`` where it starts below)."""
    below = losses < level
    first = np.argmax(below, axis=-1)
    out = np.full(losses.shape[:-1], -1.0)
    for idx in np.ndindex(losses.shape[:-1]):
        j = first[idx]
        if not below[idx][j]:
            continue
        if j == 0:
            out[idx] = steps[0]
            continue
        a, b = math.log(losses[idx][j - 1]), math.log(losses[idx][j])
        out[idx] = steps[j - 1] + (a - math.log(level)) / (a - b) * (steps[j] - steps[j - 1])
    return out


def fit_slope(eps: np.ndarray, steps: np.ndarray, max_eps: float) -> tuple[float | None, float | None]:
    """Least-squares ``steps = intercept + slope ln(1/eps)`` over ``eps <= max_eps`` where
    ``steps >= 0``; ``(None, None)`` with fewer than two such points."""
    ok = (eps <= max_eps) & (steps >= 0)
    if np.sum(ok) < 2:
        return None, None
    slope, intercept = np.polyfit(np.log(1.0 / eps[ok]), steps[ok], 1)
    return float(slope), float(intercept)


def _problem(config: Config):
    """``(student model, data)`` in float64 (call under ``jax.enable_x64``)."""
    teacher = ls.mlp([config.n_in, config.teacher_hidden, 1], activation=config.activation,
                     output="linear")
    # independent key streams: fold_in(seed, 0) for the data, fold_in(seed, 1) for directions
    data, _ = ls.datasets.teacher_student(jax.random.fold_in(jax.random.key(config.seed), 0), teacher,
                                          n_samples=config.n_samples, dtype=jnp.float64)
    student = ls.mlp([config.n_in, config.student_hidden, 1], activation=config.activation,
                     output="linear")
    return student, data


def _directions(model, eq, config: Config) -> list:
    """The unstable mode at the plateau, then ``n_random_directions`` random breaking ones."""
    unravel = ravel_pytree(eq.params)[1]
    q_b = sy.breaking_basis(model, dtype=jnp.float64)
    out = [eq.escape_direction]
    for i in range(config.n_random_directions):
        key = jax.random.fold_in(jax.random.fold_in(jax.random.key(config.seed), 1), i)
        z = jax.random.normal(key, (q_b.shape[1],), jnp.float64)
        out.append(unravel(q_b @ (z / jnp.linalg.norm(z))))
    return out


def _measure(config: Config) -> tuple[dict, dict]:
    with jax.enable_x64(True):
        model, data = _problem(config)
        loss_fn = ls.objectives.loss(model, "mse")
        start = ls.inits.constant(model, config.constant, dtype=jnp.float64)(jax.random.key(0))
        eq = sy.symmetric_equilibrium(loss_fn, start, data, optimizer=optax.sgd(config.learning_rate),
                                      steps=config.equilibrium_steps)
        if not math.isfinite(eq.loss):
            raise ValueError(f"training from the constant start diverged at learning_rate = "
                             f"{config.learning_rate!r}; lower config key 'learning_rate'")
        eps = np.asarray(config.eps, np.float64)
        unstable = ravel_pytree(eq.escape_direction)[0]
        losses, gaps, gap_steps, overlap = [], [], [], []
        for d in _directions(model, eq, config):
            esc = sy.escape(loss_fn, start, data, eps, learning_rate=config.learning_rate,
                            direction=d, threshold=config.gap_threshold, steps=config.steps,
                            record_every=config.record_every)
            losses.append(esc.losses)
            gaps.append(esc.gaps)
            gap_steps.append(esc.steps)
            v = ravel_pytree(d)[0]
            overlap.append(abs(float(v @ unstable)) / float(jnp.linalg.norm(v)))
        eq_summary = eq.summary()
    losses = np.asarray(losses)
    record_steps = esc.record_steps
    lam, lr = eq.lambda_min, config.learning_rate
    predicted = 1.0 / math.log1p(lr * abs(lam)) if eq.strict_saddle else None
    plateau = crossing_steps(record_steps, losses, config.drop * eq.loss)
    arrays = {"eps": eps, "record_steps": record_steps, "losses": losses, "gaps": np.asarray(gaps),
              "plateau_steps": plateau, "gap_steps": np.asarray(gap_steps, np.float64),
              "overlap": np.asarray(overlap), "plateau_loss": np.float64(eq.loss),
              "lambda_min": np.float64(lam), "learning_rate": np.float64(lr),
              "predicted_slope": np.float64(np.nan if predicted is None else predicted),
              "drop": np.float64(config.drop), "fit_max_eps": np.float64(config.fit_max_eps),
              "max_steps": np.int64(config.steps)}
    summary = {"equilibrium": eq_summary, "predicted_slope": predicted, "directions": []}
    for i in range(len(overlap)):
        slope, intercept = fit_slope(eps, plateau[i], config.fit_max_eps)
        g_slope, _ = fit_slope(eps, arrays["gap_steps"][i], config.fit_max_eps)
        ratio = lambda s: None if s is None or predicted is None else s / predicted  # noqa: E731
        summary["directions"].append({
            "name": "unstable mode" if i == 0 else f"random {i}", "overlap": overlap[i],
            "plateau_steps": plateau[i].tolist(), "gap_steps": arrays["gap_steps"][i].tolist(),
            "slope": slope, "intercept": intercept, "slope_ratio": ratio(slope),
            "gap_slope": g_slope, "gap_slope_ratio": ratio(g_slope),
            "never_dropped": int(np.sum(plateau[i] < 0))})
    return summary, arrays


def _fmt(v, spec=".3g") -> str:
    return "-" if v is None else format(v, spec)


def _headline(summary: dict) -> list[str]:
    d, pred = summary["directions"][0], summary["predicted_slope"]
    if pred is None or d["slope"] is None:
        return ["The student's plateau did not follow the linear theory: "
                + ("the symmetric point is not a saddle." if pred is None else "too few runs left it."),
                "Why: the theory needs a saddle point with a fixed downhill curvature."]
    return [f"The smaller the push off the symmetric saddle point, the longer the student's plateau: "
            f"{d['slope']:.0f} more steps per factor e smaller push, {d['slope_ratio']:.2f} x the "
            f"{pred:.0f} the linear theory predicts.",
            "Why: near the saddle the push grows by a fixed factor each step, so leaving takes a "
            "number of steps that grows with the logarithm of 1/push."]


def _text(config: Config, summary: dict) -> list[str]:
    eq, pred = summary["equilibrium"], summary["predicted_slope"]
    lr = config.learning_rate
    lines = [f"teacher {config.n_in}-{config.teacher_hidden}-1, student {config.n_in}-"
             f"{config.student_hidden}-1 ({config.activation}, {config.n_samples} samples, lr {lr:g}): "
             f"the constant start {config.constant:g} goes to the symmetric equilibrium, a "
             f"{eq['kind'].replace('_', ' ')} ({eq['label']}) at loss L* = {eq['loss']:.4g} with "
             f"breaking eigenvalue lambda = {eq['lambda_min_breaking']:.4g}."]
    if pred is None:
        lines.append("it is not a strict saddle, so the linear theory predicts no escape rate.")
    else:
        lines.append(f"linear theory: plateau length grows like ln(1/eps) with slope "
                     f"1/ln(1 + lr|lambda|) = {pred:.1f} steps per e-fold of eps.")
    for d in summary["directions"]:
        left = [v for v in d["plateau_steps"] if v >= 0]
        lines.append(
            f"{d['name']} (overlap with the unstable mode {d['overlap']:.2f}): loss below "
            f"{config.drop:g} L* after {_fmt(min(left, default=None), '.0f')}.."
            f"{_fmt(max(left, default=None), '.0f')} steps for eps {max(config.eps):.0e}.."
            f"{min(config.eps):.0e}; fitted slope (eps <= {config.fit_max_eps:g}) {_fmt(d['slope'], '.1f')}"
            f" = {_fmt(d['slope_ratio'], '.3f')} x predicted; gap criterion {_fmt(d['gap_slope'], '.1f')}"
            f" = {_fmt(d['gap_slope_ratio'], '.3f')} x"
            + (f"; {d['never_dropped']} runs never left the plateau in {config.steps} steps"
               if d["never_dropped"] else "") + ".")
    return lines


def run(config: Config, results: ResultsDir, progress: bool | None = None) -> dict:
    summary, arrays = _measure(config)
    results.write_arrays("plateau", arrays)
    rows = [[d["name"], f"{d['overlap']:.2f}", _fmt(d["slope"], ".1f"), _fmt(d["gap_slope"], ".1f"),
             _fmt(summary["predicted_slope"], ".1f"), _fmt(d["slope_ratio"], ".3f"),
             _fmt(d["intercept"], ".0f")] for d in summary["directions"]]
    summary["table"] = {"columns": ["direction", "overlap", "slope (loss)", "slope (gap)",
                                    "predicted", "ratio", "intercept"], "rows": rows}
    summary["headline"] = _headline(summary)
    summary["text"] = _text(config, summary)
    return summary


def figures(results: ResultsDir) -> dict:
    import matplotlib
    from matplotlib.figure import Figure

    from landscape import plotting

    a = results.read_arrays("plateau")
    eps, steps = a["eps"], a["record_steps"]
    plateau_loss, drop = float(a["plateau_loss"]), float(a["drop"])
    pred = float(a["predicted_slope"])
    figs = {}

    cmap = matplotlib.colormaps["viridis"]
    colors = [cmap(i / max(len(eps) - 1, 1)) for i in range(len(eps))]
    fig = Figure(figsize=(12, 4.5), layout="constrained")
    axes = fig.subplots(1, 2)
    for i, e in enumerate(eps):
        axes[0].semilogy(steps, a["losses"][0, i], color=colors[i], label=f"eps = {e:.0e}")
        axes[1].semilogy(steps, np.maximum(a["gaps"][0, i], 1e-300), color=colors[i])
    axes[0].axhline(plateau_loss, color="gray", linestyle="--", linewidth=1,
                    label=f"plateau L* = {plateau_loss:.3g}")
    axes[0].axhline(drop * plateau_loss, color="gray", linestyle=":", linewidth=1,
                    label=f"{drop:g} L* (plateau ends)")
    axes[0].set_xlabel("step")
    axes[0].set_ylabel("mse loss")
    axes[0].set_title("loss from the constant start + eps x unstable mode")
    axes[0].legend(fontsize="x-small", ncol=2)
    if np.isfinite(pred):
        t = np.array([0.0, float(steps[-1])])
        g0 = float(eps[0])
        axes[1].semilogy(t, g0 * np.exp(t / pred), color="black", linestyle="--", linewidth=1,
                         label=f"eps (1 + lr|λ|)^t, λ = {float(a['lambda_min']):.3g}")
        axes[1].legend(fontsize="small")
    axes[1].set_ylim(min(float(eps.min()) / 10, 1e-3), 10 * float(np.max(a["gaps"][0])))
    axes[1].set_xlabel("step")
    axes[1].set_ylabel("symmetry gap (distance to equal units)")
    axes[1].set_title("the asymmetry grows geometrically on the plateau")
    figs["loss_curves"] = fig

    fig = Figure(figsize=(7, 5), layout="constrained")
    ax = fig.subplots()
    fit_max = float(a["fit_max_eps"])
    for i in range(a["plateau_steps"].shape[0]):
        name = "unstable mode" if i == 0 else f"random direction {i}"
        label = f"{name} (overlap {a['overlap'][i]:.2f})"
        y = a["plateau_steps"][i]
        line = None
        ok = (eps <= fit_max) & (y >= 0)
        if np.isfinite(pred) and np.sum(ok) >= 1:
            # the predicted slope through the points' mean (the intercept depends on the overlap)
            b = float(np.mean(y[ok] - pred * np.log(1.0 / eps[ok])))
            line = b + pred * np.log(1.0 / eps)
        art = plotting.plot_escape_steps(ax, eps, y, predicted=line, max_steps=float(a["max_steps"]),
                                         color=f"C{i}", label=label)
        if art["never"] is not None:
            art["never"].set_label(f"{name}: still on the plateau at the last step")
        if art["predicted"] is not None:
            art["predicted"].set_label("slope 1/ln(1 + lr|λ|)" if i == 0 else None)
    ax.axvline(fit_max, color="gray", linestyle=":", linewidth=1, label=f"fit range: eps <= {fit_max:g}")
    ax.set_ylabel(f"plateau length: steps until loss < {drop:g} L*")
    ax.set_xlabel("initial symmetry-breaking perturbation eps")
    ax.set_title(f"plateau length against eps: predicted slope {pred:.1f} steps per e-fold")
    ax.legend(fontsize="x-small")
    figs["plateau_length"] = fig
    return figs


CAPTIONS = {
    'loss_curves': 'The smaller the initial asymmetry eps, the longer the student stays on the '
                   'plateau before the loss drops.',
    'plateau_length': "Plateau length grows linearly in ln(1/eps), with the slope the saddle's "
                      "curvature predicts (dashed).",
}
"""Each figure's caption, in the order a reader should see them."""


EXPERIMENT = Experiment(
    name="teacher_student_plateau",
    question=("How long does a teacher-student regression stay on the symmetric plateau, "
              "against the size of the initial asymmetry?"),
    config=Config(), smoke=SMOKE, run=run, figures=figures,
    captions=CAPTIONS)

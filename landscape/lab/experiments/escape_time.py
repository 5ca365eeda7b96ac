"""escape_time: how many steps does gradient descent need to leave the symmetric subspace, against
the size eps of the symmetry-breaking perturbation, and when does the linear law predict it?

For each case in ``cases``, in float64:

- ``saddle``: the 1-2-1 tanh network at the best one-unit fit of a two-unit regression, doubled
  (:func:`landscape.problems.saddle_example`): a strict saddle by construction;
- ``teacher``: a 4-3-1 erf student of a 4-2-1 erf teacher (64 samples), from the constant start
  (every weight ``constant``);
- ``xor``: XOR 2-2-1 with logistic units from the constant start.

The start is followed inside the symmetric subspace to its symmetric equilibrium
(:func:`landscape.symmetry.symmetric_equilibrium`, ``equilibrium_steps`` steps of gradient
descent, Newton refinement, curvature split into symmetric and symmetry-breaking blocks). Where
that is a finite critical point, the escape starts there; where it is a trap at infinity (XOR),
at the constant start itself. From that base point, ``n_directions`` random symmetry-breaking
directions ``d`` (the breaking part of a unit-normal params draw, normalized), each scaled to every
``eps`` in ``eps``, are trained with ``optax.sgd(learning_rate)`` for at most ``steps`` steps
(:func:`landscape.symmetry.escape`, all ``eps`` of a direction in one batched call), counting the
steps until the symmetry gap passes ``threshold``.

The linear theory at a critical point: the component of the perturbation along the most unstable
breaking eigenvector (eigenvalue ``lambda_min < 0``), ``eps * overlap`` with ``overlap`` the norm of
``d``'s projection on that eigenspace, grows by ``1 + lr |lambda_min|`` per step, so the escape takes
``ln(threshold / (eps * overlap)) / ln(1 + lr |lambda_min|)`` steps
(:func:`landscape.symmetry.predicted_escape_steps`): against ``ln(1 / eps)`` a line of slope
``1 / ln(1 + lr |lambda_min|)``. Per direction, the least-squares slope over the escaped runs is
compared with it, and every escape time with its prediction.

Outputs in the results folder:
  config.json            resolved config, seed, versions
  summary.json           per case: the equilibrium (kind, curvature label, loss, gradient norm,
                         lambda_min at the base point and at the end of the symmetric run), runs
                         and escapes, the predicted slope, the fitted slopes and their ratio to it
                         (median, min, max over directions), the relative errors of the escape
                         times; the printed table and text
  <case>.npz             eps (n_eps,), overlap (n_directions,), steps and predicted
                         (n_directions, n_eps; -1: no escape within ``steps``), slope per
                         direction, lambda_min, learning_rate, threshold, max_steps; the symmetric
                         run (history_steps, history_loss, history_param_norm)
  escape.png             escape steps against eps * overlap, one panel per case, with the law
  equilibrium.png        loss and parameter norm of the run inside the symmetric subspace

Full config: 3 cases x 16 directions x 15 eps, up to 10,000 steps; about 1 minute on a 2-core CPU.
"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import optax
from jax.flatten_util import ravel_pytree

import landscape as ls
from landscape import problems
from landscape import symmetry as sy
from landscape.lab.config import Experiment, require_counts, require_positive, runs_bytes
from landscape.lab.store import ResultsDir

CASES = ("saddle", "teacher", "xor")
CASE_NAMES = {"saddle": "strict saddle (1-2-1 tanh, built by hand)",
              "teacher": "teacher-student 4-3-1 erf, constant start",
              "xor": "XOR 2-2-1 logistic, constant start"}
DEGENERATE_RTOL = 1e-6
"""Breaking eigenvalues within this relative distance of ``lambda_min`` span its eigenspace (the
unit-permutation symmetry makes them come in exact multiplets, equal to rounding)."""
MIN_FIT_POINTS = 3
"""A direction's slope is fitted when at least this many of its runs escaped."""
LAW_RTOL = 0.1
"""The linear law is said to hold when the median fitted slope is within 10% of the prediction."""


@dataclasses.dataclass(frozen=True)
class Config:
    seed: int = 0
    cases: tuple[str, ...] = CASES
    learning_rate: float = 0.4
    eps: tuple[float, ...] = tuple(float(f"{10.0 ** e:.3g}") for e in np.arange(-10.0, -2.75, 0.5))
    n_directions: int = 16
    threshold: float = 0.01
    steps: int = 10_000
    equilibrium_steps: int = 5000
    constant: float = 0.5

    def memory_bytes(self) -> int:
        """A lower bound of the bytes this config needs (one run per case, push size and direction),
        float32; checked against the available memory before any write
        (:func:`landscape.lab.config.check_memory`)."""
        return runs_bytes(len(self.cases) * len(self.eps) * self.n_directions, 9)

    def check(self) -> None:
        require_counts(self, ("n_directions", "steps", "equilibrium_steps"))
        require_positive(self, ("learning_rate", "threshold"))
        cases = self.cases
        if not cases or any(c not in CASES for c in cases) or len(set(cases)) != len(cases):
            raise ValueError(f"config key 'cases' = {cases!r} must name distinct cases among {CASES}")
        if len(self.eps) < 2 or not all(0 < e < self.threshold for e in self.eps):
            raise ValueError(f"config key 'eps' = {self.eps!r} must hold at least 2 perturbation sizes "
                             f"in (0, threshold = {self.threshold!r})")
        if len(set(self.eps)) != len(self.eps):
            raise ValueError(f"config key 'eps' = {self.eps!r} has repeated values")


SMOKE = Config(cases=("saddle", "xor"), eps=(1e-6, 1e-5, 1e-4), n_directions=3, steps=4000,
               equilibrium_steps=2000)


def _case(name: str, config: Config):
    """``(loss_fn, data, start)`` of a case, in float64 (call under ``jax.enable_x64``)."""
    if name == "saddle":
        ex = problems.saddle_example()
        return ex.loss_fn, ex.data, ex.params
    if name == "teacher":
        teacher = ls.mlp([4, 2, 1], activation="erf", output="linear")
        data, _ = ls.datasets.teacher_student(jax.random.key(config.seed), teacher, n_samples=64,
                                              dtype=jnp.float64)
        model = ls.mlp([4, 3, 1], activation="erf", output="linear")
    elif name == "xor":
        model = ls.mlp([2, 2, 1], activation="sigmoid", output="sigmoid")
        data = ls.datasets.xor(jnp.float64)
    else:
        raise ValueError(f"case {name!r} is not known; expected one of {CASES}")
    start = ls.inits.constant(model, config.constant, dtype=jnp.float64)(jax.random.key(0))
    return ls.objectives.loss(model, "mse"), data, start


def _unstable_overlaps(model, base_curvature, directions) -> tuple[float, np.ndarray]:
    """``(lambda_min, overlaps)``: the most negative breaking eigenvalue at the base point and, for
    each direction, the norm of its unit breaking part's projection on that eigenspace."""
    lam = np.asarray(base_curvature.breaking)
    vecs = np.asarray(base_curvature.directions)[:, np.isclose(lam, lam[0], rtol=DEGENERATE_RTOL, atol=0)]
    overlaps = []
    for d in directions:
        raw = np.asarray(ravel_pytree(d)[0])
        brk = np.asarray(ravel_pytree(sy.project_breaking(d, model=model))[0])
        overlaps.append(np.linalg.norm(vecs.T @ raw) / np.linalg.norm(brk))
    return float(lam[0]), np.asarray(overlaps)


def _fit(eps, steps, predicted) -> tuple[np.ndarray, np.ndarray]:
    """Per direction: the least-squares slope of escape steps against ``ln(1/eps)`` over its
    escaped runs (NaN with fewer than :data:`MIN_FIT_POINTS`), and the relative errors
    ``|steps - predicted| / predicted`` of the escaped runs (NaN elsewhere)."""
    slopes = np.full(steps.shape[0], np.nan)
    for i, row in enumerate(steps):
        ok = row >= 0
        if ok.sum() >= MIN_FIT_POINTS:
            slopes[i] = np.polyfit(np.log(1.0 / eps[ok]), row[ok], 1)[0]
    ok = (steps >= 0) & np.isfinite(predicted) & (predicted > 0)
    rel = np.where(ok, np.abs(steps - predicted) / np.where(ok, predicted, 1.0), np.nan)
    return slopes, rel


def _stats(values) -> dict | None:
    v = np.asarray(values, np.float64)
    v = v[np.isfinite(v)]
    if not v.size:
        return None
    return {"median": float(np.median(v)), "min": float(v.min()), "max": float(v.max())}


def _run_case(name: str, index: int, config: Config, results: ResultsDir) -> dict:
    loss_fn, data, start = _case(name, config)
    model = loss_fn.model
    eq = sy.symmetric_equilibrium(loss_fn, start, data, optimizer=optax.sgd(config.learning_rate),
                                  steps=config.equilibrium_steps)
    at_equilibrium = eq.kind == "critical_point"
    base = eq.params if at_equilibrium else start
    curv = eq.curvature if at_equilibrium else sy.symmetry_curvature(loss_fn, base, data)
    key = jax.random.fold_in(jax.random.key(config.seed), index)
    draw = ls.inits.normal(model, 1.0, dtype=jnp.float64)
    directions = [draw(jax.random.fold_in(key, k)) for k in range(config.n_directions)]
    lam, overlaps = _unstable_overlaps(model, curv, directions)
    eps = np.asarray(config.eps, np.float64)
    steps = np.stack([
        sy.escape(loss_fn, base, data, eps, learning_rate=config.learning_rate, direction=d,
                  threshold=config.threshold, steps=config.steps, record_every=config.steps,
                  model=model).steps
        for d in directions])
    predicted = sy.predicted_escape_steps(eps[None, :] * overlaps[:, None], config.threshold,
                                          config.learning_rate, lam)
    slopes, rel = _fit(eps, steps, predicted)
    law = float(1.0 / np.log1p(config.learning_rate * abs(lam))) if lam < 0 else None
    h = eq.history
    results.write_arrays(name, {
        "eps": eps, "overlap": overlaps, "steps": steps, "predicted": predicted, "slope": slopes,
        "lambda_min": np.float64(lam), "learning_rate": np.float64(config.learning_rate),
        "threshold": np.float64(config.threshold), "max_steps": np.int64(config.steps),
        "history_steps": h["steps"], "history_loss": h["loss"], "history_param_norm": h["param_norm"]})
    out = {
        "case": CASE_NAMES[name], "equilibrium": eq.kind, "label": eq.label,
        "strict_saddle": eq.strict_saddle, "loss": eq.loss, "grad_norm": eq.grad_norm,
        "base": "equilibrium" if at_equilibrium else "constant start",
        "lambda_min": lam, "lambda_min_end_of_symmetric_run": eq.lambda_min,
        "lr_lambda_max": float(config.learning_rate * np.max(np.asarray(curv.breaking))),
        "runs": int(steps.size), "escaped": int(np.sum(steps >= 0)),
        "predicted_slope": law, "slope": _stats(slopes),
        "predicted_max": float(np.max(predicted)) if np.all(np.isfinite(predicted)) else None,
        "slope_ratio": _stats(slopes / law) if law is not None else None,
        "relative_error": _stats(rel), "overlap": _stats(overlaps),
    }
    out["law_holds"] = _law_holds(out)
    return out


def _fmt(stats: dict | None, spec: str) -> str:
    """``median [min, max]`` of :func:`_stats` in format ``spec``, or ``-``."""
    if stats is None:
        return "-"
    return f"{stats['median']:{spec}} [{stats['min']:{spec}}, {stats['max']:{spec}}]"


def _law_holds(c: dict) -> bool:
    """The median fitted slope is within :data:`LAW_RTOL` of the predicted one."""
    r = c["slope_ratio"]
    return r is not None and abs(r["median"] - 1.0) <= LAW_RTOL


def _case_text(config: Config, c: dict) -> str:
    head = (f"{c['case']}: symmetric equilibrium {c['equilibrium'].replace('_', ' ')} "
            f"({c['label']}, loss {c['loss']:.4g}); breaking curvature at the {c['base']}: "
            f"lambda_min = {c['lambda_min']:.3g}")
    esc = f"{c['escaped']} of {c['runs']} runs escaped within {config.steps} steps"
    r, e = c["slope_ratio"], c["relative_error"]
    if r is None:
        fit = "too few escapes per direction to fit a slope"
    else:
        fit = (f"fitted slope of steps against ln(1/eps) {c['slope']['median']:.1f} (median over "
               f"directions) vs the predicted 1/ln(1 + lr|lambda_min|) = "
               f"{c['predicted_slope']:.1f}: ratio {r['median']:.3f} (range {r['min']:.3f}-{r['max']:.3f})")
    if c["law_holds"]:
        verdict = (f"the linear law holds: escape times within {e['max']:.1%} of "
                   f"ln(thr/(eps overlap))/ln(1 + lr|lambda_min|) (median {e['median']:.1%})")
    elif r is not None or (c["escaped"] == 0 and c["predicted_max"] is not None
                           and c["predicted_max"] < config.steps):
        verdict = "the escape time is not governed by the linear law"
        if r is None:
            verdict = (f"no run escaped although the law predicts at most {c['predicted_max']:.0f} "
                       f"steps: {verdict}")
    else:
        verdict = "too few escapes to test the linear law (raise steps)"
    text = f"{head}. {esc}; {fit}; {verdict}."
    if c["equilibrium"] == "trap_at_infinity":
        text += (f" Inside the symmetric subspace the weights grow without bound and the breaking "
                 f"curvature fades (lambda_min {c['lambda_min_end_of_symmetric_run']:.2g} after "
                 f"{config.equilibrium_steps} steps): there is no fixed unstable direction to grow along.")
    if c["lr_lambda_max"] > 2:
        text += (f" (lr x the largest breaking eigenvalue = {c['lr_lambda_max']:.2f} > 2: the step size "
                 "itself makes a positive-curvature breaking mode grow, which the law does not "
                 "describe; use a smaller learning_rate.)")
    return text


def _headline(config: Config, cases: dict) -> list[str]:
    found, saddle, trap = [], False, False
    for name, c in cases.items():
        if c["equilibrium"] == "critical_point":
            saddle = True
            when = (f"when the linear theory says (within {c['relative_error']['max']:.1%})"
                    if c["law_holds"] and c["relative_error"] else "not when the linear theory says")
            found.append(f"pushed slightly off a true saddle point, {c['escaped']} of {c['runs']} "
                         f"runs escaped {when}")
        else:
            trap = True
            found.append(f"pushed slightly off {name.upper()}'s {c['base']}, {c['escaped']} of "
                         f"{c['runs']} escaped within {config.steps} steps")
    why = []
    if saddle:
        why.append("at a saddle point the downhill curvature is fixed, so a small push grows at "
                   "a steady rate")
    if trap:
        why.append("on the symmetric slope with no saddle point the weights drift off to infinity "
                   "and the downhill pull fades")
    finding = "; ".join(found)
    return [finding[:1].upper() + finding[1:] + ".", "Why: " + "; ".join(why) + "."]


def _text(config: Config, cases: dict) -> list[str]:
    return [_case_text(config, c) for c in cases.values()]


def run(config: Config, results: ResultsDir, progress: bool | None = None) -> dict:
    with jax.enable_x64(True):
        cases = {name: _run_case(name, i, config, results) for i, name in enumerate(config.cases)}
    rows = []
    for name, c in cases.items():
        rows.append([name, c["equilibrium"].replace("_", " "), c["base"], f"{c['lambda_min']:.3g}",
                     f"{c['escaped']}/{c['runs']}",
                     "-" if c["predicted_slope"] is None else f"{c['predicted_slope']:.1f}",
                     _fmt(c["slope"], ".1f"), _fmt(c["slope_ratio"], ".3f"),
                     _fmt(c["relative_error"], ".1%")])
    return {
        "cases": cases,
        "headline": _headline(config, cases),
        "table": {"columns": ["case", "symmetric equilibrium", "escape from", "lambda_min",
                              "escaped", "predicted slope", "fitted slope", "ratio",
                              "relative error"],
                  "rows": rows},
        "text": _text(config, cases),
    }


def figures(results: ResultsDir) -> dict:
    from matplotlib.figure import Figure

    from landscape import plotting

    config = results.read_config()["config"]
    cases = config["cases"]
    arrays = {name: results.read_arrays(name) for name in cases}
    colors = {"saddle": "tab:green", "teacher": "tab:purple", "xor": "tab:red"}
    figs = {}

    n = len(cases)
    fig = Figure(figsize=(5.5 * n, 4.5), layout="constrained")
    axes = fig.subplots(1, n, squeeze=False)
    for ax, name in zip(axes[0], cases):
        a = arrays[name]
        eff = (a["eps"][None, :] * a["overlap"][:, None]).ravel()
        art = plotting.plot_escape_steps(ax, eff, a["steps"].ravel(), predicted=a["predicted"].ravel(),
                                         max_steps=float(a["max_steps"]), color=colors[name],
                                         label=f"measured, {a['steps'].shape[0]} random directions")
        if art["predicted"] is not None:
            art["predicted"].set_label("linear law ln(thr / (eps overlap)) / ln(1 + lr|lambda_min|)")
        lam = float(a["lambda_min"])
        ratio = ""
        if lam < 0 and np.any(np.isfinite(a["slope"])):
            law = 1.0 / np.log1p(float(a["learning_rate"]) * abs(lam))
            ratio = f", fitted / predicted slope {np.nanmedian(a['slope']) / law:.3f}"
        ax.set_xlabel("eps x overlap with the most unstable breaking mode")
        ax.set_ylabel(f"steps until the gap passes {float(a['threshold']):g}")
        ax.set_title(f"{CASE_NAMES[name]}\nlambda_min {lam:.3g}, lr {float(a['learning_rate']):g}{ratio}",
                     fontsize="medium")
        ax.legend(fontsize="x-small")
    figs["escape"] = fig

    fig = Figure(figsize=(11, 4.2), layout="constrained")
    axes = fig.subplots(1, 2)
    for name in cases:
        a = arrays[name]
        axes[0].semilogy(a["history_steps"], a["history_loss"], color=colors[name], label=name)
        axes[1].plot(a["history_steps"], a["history_param_norm"], color=colors[name], label=name)
    axes[0].set_ylabel("loss")
    axes[1].set_ylabel("|params|")
    for ax in axes:
        ax.set_xlabel("step (inside the symmetric subspace)")
        ax.legend(fontsize="small")
    axes[0].set_title("the run to the symmetric equilibrium")
    axes[1].set_title("a finite critical point stops; a trap at infinity keeps growing")
    figs["equilibrium"] = fig
    return figs


CAPTIONS = {
    'escape': "At a true saddle the steps to escape follow the dashed linear theory; from XOR's "
              "constant start they do not.",
    'equilibrium': "Inside the symmetric subspace a true saddle's run stops at a finite point, "
                   "XOR's constant start's weights keep growing.",
}
"""Each figure's caption, in the order a reader should see them."""


EXPERIMENT = Experiment(
    name="escape_time",
    question=("How many steps does gradient descent need to leave the symmetric subspace against "
              "the size of the symmetry-breaking perturbation, and when does the linear law hold?"),
    config=Config(), smoke=SMOKE, run=run, figures=figures,
    captions=CAPTIONS)

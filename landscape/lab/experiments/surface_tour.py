"""surface_tour: what does the XOR error surface look like around the symmetric equilibrium and
between the minima that random starts reach?

XOR 2-H-1 (logistic units, ``loss``, plain gradient descent). Method:

- **the symmetric equilibrium** (float64): the constant start (every weight ``constant``) is
  trained inside the symmetric subspace for ``equilibrium_steps`` steps
  (:func:`landscape.symmetry.symmetric_equilibrium`). For XOR this is a trap at infinity: the
  loss falls towards ``1/6`` (mse; ``1/3`` for half_sse), the best any network with equal hidden
  units does, while the weights grow. The tour's *center* is where the run stands after those
  steps; the Hessian there is split into the symmetric and the symmetry-breaking block;
- **the escape direction** ``d_b``: the most unstable symmetry-breaking eigenvector at the
  center (:func:`landscape.surface.breaking_directions`; its eigenvalue ``lambda`` is negative,
  about -3e-4 after 5000 steps, and fades to 0 towards infinity), and ``d_s`` the symmetric
  direction of steepest descent (:func:`landscape.surface.symmetric_descent_direction`);
- **1-D slices** of the loss along ``d_b`` and ``d_s`` for ``t`` in ``[-slice_radius,
  slice_radius]`` (:func:`landscape.surface.slice_1d`), with the quadratic model
  ``L_c + lambda t^2 / 2``;
- **the plane** through the center spanned by ``d_s`` and ``d_b``
  (:func:`landscape.surface.symmetric_view`) with the constant-start trajectory and
  ``n_perturbed`` runs from the constant start plus ``perturb_eps`` N(0, 1) noise projected on
  it (float64, ``equilibrium_steps`` steps each);
- **paths between minima** (float32): ``n_runs`` random ``N(0, random_std^2)`` starts trained
  ``random_steps`` steps at ``random_learning_rate`` and clustered modulo symmetry
  (:func:`landscape.minima.census`, function space); the ``n_minima`` most common clusters'
  representatives are joined by straight paths after alignment and their barriers measured
  (:func:`landscape.minima.connectivity`).

The summary's numbers for "lower points lie just outside the symmetric subspace": inside the
subspace no point goes below ``1/6`` and the center's symmetric curvatures are all >= 0; its
breaking curvature ``lambda`` is negative; the lowest loss on the slice along ``d_b`` (and on the
plane) lies below ``1/6``, at a distance of a few weight units from the subspace.

The default config took 17 s of CPU time (45 s wall on a busy 2-core machine), mostly compiling.

Outputs in the results folder:
  config.json            resolved config, seed, versions
  summary.json           the center (loss, norm, gradient, curvature blocks), the slices' and
                         the plane's lowest points, the perturbed runs, the clusters and barriers;
                         table and text
  center.npz             symmetric and breaking eigenvalues, lambda, the center's loss, the limit
  slices.npz             ts, loss along d_b and d_s, the center loss, lambda
  plane.npz              the plane's grid (alphas, betas, values), axis labels, projected
                         constant-start and perturbed trajectories (coords, true and plane values,
                         residuals)
  paths.npz              the clusters' losses, names, sizes; ts, paths (k, k, num), barriers
  random.npz             per random run: final loss, cluster label, status
  chunks/                finished training chunks of the random runs (an interrupted run resumes)
  curvature.png, slices.png, plane.png, paths.png
"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import optax

import landscape as ls
from landscape import minima as mn
from landscape import problems
from landscape import surface as sf
from landscape import symmetry as sy
from landscape.lab.config import Experiment, require_counts, require_positive, runs_bytes
from landscape.lab.resumable import train_resumable
from landscape.lab.store import ResultsDir

LIMITS = problems.XOR_SYMMETRIC_INFIMUM
"""XOR's infimum of the loss over the symmetric subspace (equal hidden units): the best any
monotone function of x1 + x2 does (as in the ``xor_symmetry`` experiment)."""


@dataclasses.dataclass(frozen=True)
class Config:
    seed: int = 0
    hidden: int = 2
    loss: str = "mse"
    constant: float = 0.5
    learning_rate: float = 0.5
    equilibrium_steps: int = 5000
    slice_radius: float = 20.0
    slice_points: int = 201
    plane_points: int = 81
    n_perturbed: int = 4
    perturb_eps: float = 0.01
    record_every: int = 50
    n_runs: int = 2000
    random_std: float = 1.0
    random_learning_rate: float = 2.0
    random_steps: int = 3000
    grad_tol: float = 0.01
    n_minima: int = 3
    barrier_points: int = 41
    chunk_size: int = 2000

    def memory_bytes(self) -> int:
        """A lower bound of the bytes this config needs (the random runs, the plane's grid and the
        slices' points), float32; checked against the available memory before any write
        (:func:`landscape.lab.config.check_memory`)."""
        params = 4 * self.hidden + 1
        points = self.plane_points ** 2 + 2 * self.slice_points + self.barrier_points
        records = self.random_steps // self.record_every + 1
        return runs_bytes(self.n_runs, params, records, self.chunk_size) + points * (params + 1) * 4

    def check(self) -> None:
        require_counts(self, ("equilibrium_steps", "n_perturbed", "record_every", "n_runs",
                              "random_steps", "chunk_size"))
        if self.hidden < 2:
            raise ValueError(f"config key 'hidden' = {self.hidden!r} must be >= 2 (one unit has no "
                             "symmetry to break)")
        for key in ("slice_points", "plane_points", "barrier_points"):
            if getattr(self, key) < 3:
                raise ValueError(f"config key {key!r} = {getattr(self, key)!r} must be >= 3")
        if self.n_minima < 2:
            raise ValueError(f"config key 'n_minima' = {self.n_minima!r} must be >= 2 (paths join "
                             "two minima)")
        if self.equilibrium_steps % self.record_every:
            raise ValueError(f"config key 'record_every' = {self.record_every!r} must divide "
                             f"equilibrium_steps = {self.equilibrium_steps!r}")
        require_positive(self, ("learning_rate", "slice_radius", "perturb_eps", "random_std",
                                "random_learning_rate", "grad_tol"))
        if self.loss not in LIMITS:
            raise ValueError(f"config key 'loss' = {self.loss!r} is not one of {tuple(LIMITS)} "
                             "(losses whose infimum over the symmetric subspace is known)")


SMOKE = Config(slice_points=81, plane_points=31, n_perturbed=2,
               record_every=100, n_runs=256, random_steps=1500, barrier_points=21, chunk_size=256)


# ------------------------------------------------------------------------- the symmetric side


def _symmetric_side(config: Config, results: ResultsDir) -> dict:
    """Center, curvature, slices and the plane (float64); writes center, slices and plane."""
    limit = LIMITS[config.loss]
    with jax.enable_x64(True):
        model = ls.mlp([2, config.hidden, 1], activation="sigmoid", output="sigmoid")
        data = ls.datasets.xor(dtype=jnp.float64)
        loss_fn = ls.objectives.loss(model, config.loss)
        const = ls.inits.constant(model, config.constant, dtype=jnp.float64)
        optimizer = optax.sgd(config.learning_rate)
        # XOR's symmetric equilibrium lies at infinity: Newton refinement cannot converge there
        eq = sy.symmetric_equilibrium(loss_fn, const(jax.random.key(0)), data, optimizer=optimizer,
                                      steps=config.equilibrium_steps,
                                      record_every=config.record_every, refine=False)
        center = eq.params
        (d_b,) = sf.breaking_directions(loss_fn, center, data, model=model, k=1)
        d_s = sf.symmetric_descent_direction(loss_fn, center, data, model=model)
        lam = float(d_b.info["eigenvalue"])
        ts = np.linspace(-config.slice_radius, config.slice_radius, config.slice_points)
        along_b = sf.slice_1d(loss_fn, center, data, d_b, ts)
        along_s = sf.slice_1d(loss_fn, center, data, d_s, ts)
        perturbed = ls.train_many(loss_fn, ls.inits.perturbed(const, config.perturb_eps), optimizer,
                                  data, key=jax.random.key(config.seed), n_runs=config.n_perturbed,
                                  steps=config.equilibrium_steps, record_every=config.record_every,
                                  trajectory_runs=np.arange(config.n_perturbed), progress=False)
        view = sf.symmetric_view(loss_fn, center, data, model=model,
                                 constant_trajectory=eq.trajectory, random_trajectories=perturbed,
                                 n_points=config.plane_points)
        perturbed_gap = np.asarray(sy.symmetry_gap(perturbed.params, model=model))
        eq_summary = eq.summary()
        sym_eigs, brk_eigs = np.asarray(eq.curvature.symmetric), np.asarray(eq.curvature.breaking)
    center_loss = float(along_b.center_value)
    results.write_arrays("center", {
        "symmetric_eigenvalues": sym_eigs, "breaking_eigenvalues": brk_eigs, "lambda": np.float64(lam),
        "loss": np.float64(center_loss), "limit": np.float64(limit)})
    results.write_arrays("slices", {
        "ts": ts, "breaking": along_b.values, "symmetric": along_s.values,
        "center_loss": np.float64(center_loss), "lambda": np.float64(lam),
        "limit": np.float64(limit)})
    s = view.surface
    trajectories = (view.constant,) + view.random
    results.write_arrays("plane", {
        "alphas": s.alphas, "betas": s.betas, "values": s.values,
        "center_loss": np.float64(s.center_value), "limit": np.float64(limit),
        "xlabel": np.array(s.xlabel), "ylabel": np.array(s.ylabel),
        "trajectory_names": np.array(["constant start"] + [
            f"constant + {config.perturb_eps:g} N(0,1), run {i + 1}" for i in range(len(view.random))]),
        "coords": np.stack([p.coords for p in trajectories]),
        "residual": np.stack([p.residual for p in trajectories]),
        "true_values": np.stack([p.true_values for p in trajectories]),
        "plane_values": np.stack([p.plane_values for p in trajectories]),
        "record_steps": perturbed.record_steps})

    # the numbers behind "lower points lie just outside the symmetric subspace"
    i_b = int(np.argmin(along_b.values))
    small = int(np.argmin(np.abs(np.abs(ts) - 1.0)))  # t = +-1: the quadratic regime
    quad = center_loss + 0.5 * lam * ts[small] ** 2
    below = s.values < limit
    dist = np.broadcast_to(np.abs(s.betas)[None, :], s.values.shape)  # |beta|: distance from S
    i_p = np.unravel_index(int(np.argmin(s.values)), s.values.shape)
    return {
        "equilibrium": eq_summary, "limit": limit, "center_loss": center_loss,
        "center_norm": float(eq.history["param_norm"][-1]), "lambda": lam,
        "min_symmetric_eigenvalue": float(np.min(sym_eigs)),
        "mirror_asymmetry": float(np.max(np.abs(along_b.values - along_b.values[::-1]))),
        "quadratic_check": {"t": float(ts[small]), "loss": float(along_b.values[small]),
                            "quadratic_model": float(quad),
                            "drop": float(center_loss - along_b.values[small]),
                            "predicted_drop": float(-0.5 * lam * ts[small] ** 2)},
        "breaking_slice": {"min_loss": float(along_b.values[i_b]), "at_t": float(ts[i_b]),
                           "below_limit": bool(along_b.values[i_b] < limit)},
        "symmetric_slice": {"min_loss": float(np.min(along_s.values)),
                            "at_t": float(ts[int(np.argmin(along_s.values))])},
        "plane": {"min_loss": float(s.values[i_p]), "min_distance": float(dist[i_p]),
                  "nearest_below_limit": (float(np.min(dist[below])) if below.any() else None),
                  "symmetric_source": view.symmetric_source},
        "perturbed": {"runs": config.n_perturbed, "final_loss": perturbed.final_loss.tolist(),
                      "final_gap": perturbed_gap.tolist(),
                      "below_limit": int(np.sum(perturbed.final_loss < limit))},
    }


# ---------------------------------------------------------------------- minima and their paths


def _random_setup(config: Config):
    """``(model, data, loss_fn)`` of the random starts' census."""
    model = ls.mlp([2, config.hidden, 1], activation="sigmoid", output="sigmoid")
    return model, ls.datasets.xor(), ls.objectives.loss(model, config.loss)


def plans(config: Config) -> dict:
    """The one training phase, ``{"random": TrainPlan}`` (``run`` trains it)."""
    model, data, loss_fn = _random_setup(config)
    # the init scale and the learning rate are per-run data: one compiled program per shape
    return {"random": ls.plan_training(
        loss_fn, ls.inits.normal(model, 1.0),
        optax.inject_hyperparams(optax.sgd)(learning_rate=config.random_learning_rate),
        data, key=jax.random.fold_in(jax.random.key(config.seed), 1),
        n_runs=config.n_runs, steps=config.random_steps,
        record_every=config.random_steps, chunk_size=config.chunk_size,
        init_scale=np.full(config.n_runs, config.random_std),
        hyperparams={"learning_rate": np.full(config.n_runs, config.random_learning_rate)})}


def _minima(config: Config, results: ResultsDir, progress) -> dict:
    model, data, loss_fn = _random_setup(config)
    result = train_resumable(plans(config)["random"], results, "random", progress=progress)
    census = mn.census(loss_fn, result.params, data, model=model, loss=result.final_loss,
                       status=result.status, grad_norm=result.grad_norm, grad_tol=config.grad_tol,
                       classify=False, options=mn.ClusterOptions(seed=config.seed))
    results.write_arrays("random", {"loss": result.final_loss, "labels": census.labels,
                                    "status": result.status})
    top = sorted(sorted(range(len(census.clusters)), key=lambda c: -census.clusters[c].size)
                 [:config.n_minima])
    out = {"counts": census.counts(), "clusters": [
        {"cluster": c.cluster, "runs": c.size, "loss_mean": c.loss_mean,
         "outputs": np.asarray(c.outputs).ravel().tolist()} for c in census.clusters]}
    if len(top) < 2:
        out["paths"] = None
        return out
    reps = census.representatives()[top]
    names = [f"cluster {c}" for c in top]
    con = mn.connectivity(loss_fn, jax.tree.map(lambda a: np.asarray(a[reps]), result.params), data,
                          model=model, names=names, n_points=config.barrier_points)
    results.write_arrays("paths", {
        "names": np.array(names), "sizes": np.array([census.clusters[c].size for c in top]),
        "losses": con.losses, "ts": con.ts, "paths": con.paths, "barrier": con.barrier,
        "saddle": con.saddle})
    out["paths"] = {"names": names, "losses": con.losses.tolist(), "barrier": con.barrier.tolist(),
                    "alignment": con.alignment}
    return out


# ---------------------------------------------------------------------------------- summary


def _headline(config: Config, sym: dict, mins: dict) -> list[str]:
    frac = "1/6" if config.loss == "mse" else "1/3"
    b = sym["breaking_slice"]
    off = (f"Stepping off the symmetric subspace (equal hidden units) leads below {frac}, the loss "
           f"the subspace only approaches, to {b['min_loss']:.4f} along the escape direction"
           if b["below_limit"] else
           f"Along the escape direction the loss stays above {frac}, the loss the symmetric "
           f"subspace only approaches (lowest {b['min_loss']:.4f})")
    top = max(mins["clusters"], key=lambda c: c["runs"], default=None)
    ends = ("" if top is None else
            f"; random starts end in {len(mins['clusters'])} classes, the most common "
            f"({top['runs']} runs) at loss {top['loss_mean']:.2g}")
    why = ("Why: inside the subspace the loss falls only as the weights grow without end, while "
           "one direction across it curves downhill." if sym["equilibrium"]["kind"] == "trap_at_infinity"
           else "Why: the subspace's best point is a saddle: one direction across it curves downhill.")
    return [off + ends + ".", why]


def _text(config: Config, sym: dict, mins: dict) -> list[str]:
    eq, limit = sym["equilibrium"], sym["limit"]
    q, b, p = sym["quadratic_check"], sym["breaking_slice"], sym["plane"]
    frac = "1/6" if config.loss == "mse" else "1/3"
    lines = [
        f"center: the constant start {config.constant:g} after {config.equilibrium_steps} steps "
        f"inside the symmetric subspace ({eq['kind'].replace('_', ' ')}): loss {sym['center_loss']:.5f},"
        f" {sym['center_loss'] - limit:.2e} above the subspace's infimum {frac}, |x| = "
        f"{sym['center_norm']:.1f}.",
        f"curvature: symmetric block >= {sym['min_symmetric_eigenvalue']:.2e} (inside the subspace "
        f"the only way down is out to infinity), breaking block down to lambda = {sym['lambda']:.3e}: "
        f"along that direction the loss falls by {q['drop']:.3e} at t = {q['t']:.2g} "
        f"(quadratic model {q['predicted_drop']:.3e}).",
        f"slice along the escape direction: lowest loss {b['min_loss']:.5f} at t = {b['at_t']:.3g}"
        + (f", below {frac}, lower than every point of the symmetric subspace" if b["below_limit"]
           else f", not below {frac} within |t| <= {config.slice_radius:g}")
        + f"; along the symmetric direction the lowest is {sym['symmetric_slice']['min_loss']:.5f}; "
        f"the breaking slice is even, max |L(t) - L(-t)| = {sym['mirror_asymmetry']:.1e} (swapping the "
        "units reverses the direction when H = 2).",
        f"plane (symmetric x breaking): lowest loss {p['min_loss']:.5f}"
        + (f"; loss below {frac} from a distance {p['nearest_below_limit']:.3g} off the subspace"
           if p["nearest_below_limit"] is not None else "") + ".",
        f"perturbed starts (constant + {config.perturb_eps:g} noise): {sym['perturbed']['below_limit']}"
        f" of {sym['perturbed']['runs']} went below {frac} in {config.equilibrium_steps} steps.",
    ]
    counts = mins["counts"]
    sizes = ", ".join(f"{c['runs']} at loss {c['loss_mean']:.3g}" for c in
                      sorted(mins["clusters"], key=lambda c: -c["runs"])[:config.n_minima])
    lines.append(f"random starts: {counts['clustered']} of {config.n_runs} runs settled in "
                 f"{len(mins['clusters'])} clusters modulo symmetry (largest: {sizes}); "
                 f"{counts['moving']} still moving.")
    if mins["paths"] is not None:
        names, bar = mins["paths"]["names"], np.asarray(mins["paths"]["barrier"])
        pairs = "; ".join(f"{names[i]}-{names[j]} {bar[i, j]:.3g}" for i in range(len(names))
                          for j in range(i + 1, len(names)))
        lines.append(f"straight-path barriers between the most common minima (after alignment): {pairs}.")
    return lines


def run(config: Config, results: ResultsDir, progress: bool | None = None) -> dict:
    sym = _symmetric_side(config, results)
    mins = _minima(config, results, progress)
    b, p = sym["breaking_slice"], sym["plane"]
    rows = [["center (symmetric)", f"{sym['center_loss']:.5f}", "0", "-"],
            ["best on the symmetric slice", f"{sym['symmetric_slice']['min_loss']:.5f}", "0",
             f"t = {sym['symmetric_slice']['at_t']:.3g}"],
            ["best on the breaking slice", f"{b['min_loss']:.5f}", f"{abs(b['at_t']):.3g}",
             f"t = {b['at_t']:.3g}"],
            ["best on the plane", f"{p['min_loss']:.5f}", f"{p['min_distance']:.3g}", ""]]
    for c in sorted(mins["clusters"], key=lambda c: -c["runs"])[:config.n_minima]:
        rows.append([f"cluster {c['cluster']} ({c['runs']} runs)", f"{c['loss_mean']:.4g}", "-",
                     "outputs " + " ".join(f"{v:.2f}" for v in c["outputs"])])
    return {
        "symmetric": sym, "minima": mins, "headline": _headline(config, sym, mins),
        "table": {"columns": ["point", "loss", "distance from the subspace", "where"], "rows": rows},
        "text": _text(config, sym, mins),
    }


# ---------------------------------------------------------------------------------- figures


def figures(results: ResultsDir) -> dict:
    from matplotlib.figure import Figure
    import matplotlib.ticker

    from landscape import plotting
    from landscape.surface import (Direction, Interpolation, Plane, Slice2D, SymmetricView,
                                   TrajectoryProjection)

    config = results.read_config()["config"]
    frac = "1/6" if config["loss"] == "mse" else "1/3"
    figs = {}

    c = results.read_arrays("center")
    fig = Figure(figsize=(10, 4), layout="constrained")
    axes = fig.subplots(1, 2)
    for ax, key, title in ((axes[0], "symmetric_eigenvalues", "symmetric block"),
                           (axes[1], "breaking_eigenvalues", "symmetry-breaking block")):
        plotting.plot_eigenvalues(ax, c[key])
        ax.set_yscale("symlog", linthresh=1e-5)
        ax.xaxis.set_major_locator(matplotlib.ticker.MaxNLocator(integer=True))
        ax.set_title(f"{title}: {c[key].size} eigenvalues")
    fig.suptitle(f"Hessian at the center (loss {float(c['loss']):.5f}): positive curvature inside "
                 "the symmetric subspace, negative across it")
    figs["curvature"] = fig

    s = results.read_arrays("slices")
    fig = Figure(figsize=(7, 4.5), layout="constrained")
    ax = fig.subplots()
    ts, lam, lc = s["ts"], float(s["lambda"]), float(s["center_loss"])
    ax.plot(ts, s["breaking"], color="tab:red", label=f"escape direction (breaking, λ = {lam:.2e})")
    ax.plot(ts, s["symmetric"], color="tab:blue", label="symmetric direction of descent")
    ax.plot(ts, lc + 0.5 * lam * ts**2, color="tab:red", linestyle=":", linewidth=1,
            label="quadratic model L_c + λ t²/2")
    ax.axhline(float(s["limit"]), color="gray", linestyle="--", linewidth=1,
               label=f"{frac}: the loss the symmetric subspace only approaches")
    ax.scatter([0.0], [lc], color="black", zorder=3, s=20, label=f"center ({lc:.4f})")
    lo = min(float(np.min(s["breaking"])), float(s["limit"]))
    ax.set_ylim(lo - 0.01, max(lc, float(np.min(s["symmetric"]))) + 0.06)
    ax.set_xlabel("t: distance from the center along the unit direction (weight units)")
    ax.set_ylabel(f"{config['loss']} loss")
    ax.set_title("1-D slices through the center")
    ax.legend(fontsize="small")
    figs["slices"] = fig

    p = results.read_arrays("plane")
    none = Direction(np.zeros(1), "")
    surface = Slice2D(p["alphas"], p["betas"], p["values"], float(p["center_loss"]), none, none,
                      "loss")
    names = [str(n) for n in p["trajectory_names"]]
    projections = [TrajectoryProjection(p["coords"][i], p["residual"][i], p["true_values"][i],
                                        p["plane_values"][i], names[i], "loss")
                   for i in range(len(names))]
    view = SymmetricView(Plane(None, none, none), surface, projections[0], tuple(projections[1:]),
                         float("nan"), "", float(p["center_loss"]))
    fig = Figure(figsize=(7.5, 6), layout="constrained")
    ax = fig.subplots()
    plotting.plot_symmetric_view(ax, view)
    ax.contour(p["alphas"], p["betas"], p["values"].T, levels=[float(p["limit"])], colors="red",
               linewidths=1.2)
    ax.plot([], [], color="red", label=f"loss = {frac}")
    ax.legend(loc="best", fontsize="x-small")
    ax.set_xlabel(str(p["xlabel"]))
    ax.set_ylabel(str(p["ylabel"]))
    ax.set_title(f"loss around the center (constant start after {config['equilibrium_steps']} steps)"
                 "\nplane of the symmetric descent and the escape direction", fontsize="medium")
    figs["plane"] = fig

    if results.has("paths"):
        a = results.read_arrays("paths")
        names = [str(n) for n in a["names"]]
        pairs = [(i, j) for i in range(len(names)) for j in range(i + 1, len(names))]
        fig = Figure(figsize=(4.5 * (len(pairs) + 1), 4), layout="constrained")
        axes = fig.subplots(1, len(pairs) + 1, squeeze=False)
        for ax, (i, j) in zip(axes[0], pairs):
            values = a["paths"][i, j]
            k = int(np.argmax(values))
            interp = Interpolation(a["ts"], values, float(values[0]), float(values[-1]),
                                   float(a["barrier"][i, j]), float(a["ts"][k]), float(values[k]),
                                   "loss", (names[i], names[j]))
            plotting.plot_interpolation(ax, interp, color="tab:purple")
            ax.set_ylabel(f"{config['loss']} loss")
            ax.set_title(f"{names[i]} → {names[j]} (aligned)")
        plotting.plot_barriers(axes[0, -1], a["barrier"],
                               names=[f"{n}\n({s} runs)" for n, s in zip(names, a["sizes"])])
        fig.suptitle("straight paths between the most common minima of random starts")
        figs["paths"] = fig
    return figs


CAPTIONS = {
    'slices': "Through the constant start's end point: along the symmetric direction the loss "
              "stays above 1/6, along the direction that separates the units it falls below.",
    'plane': "The loss around the constant start's end point: lower ground lies only off the "
             "symmetric subspace.",
    'curvature': 'The Hessian at the center: curving up inside the symmetric subspace, slightly '
                 'down across it.',
    'paths': 'Straight paths between the most common end points of random starts cross loss '
             'barriers.',
}
"""Each figure's caption, in the order a reader should see them."""


EXPERIMENT = Experiment(
    name="surface_tour",
    question=("What does the XOR error surface look like around the symmetric equilibrium and "
              "between the minima random starts reach?"),
    config=Config(), smoke=SMOKE, run=run, plans=plans, figures=figures,
    captions=CAPTIONS)

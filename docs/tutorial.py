# %% [markdown]
# # Why does backprop never learn XOR from all weights 0.5?
#
# A notebook-style walk through the `landscape` Python API, from the question to the answer.
# Every number printed below is computed by the script; none is typed in.
#
# The classic observation (Rumelhart, Hinton and Williams, 1986): a 2-2-1 logistic network
# trained by gradient descent on XOR never learns when every weight and bias starts at the same
# value, yet usually learns from small random weights. We will
#
# 1. train thousands of networks from both starts in one compiled call (`landscape.train_many`);
# 2. see that the constant start keeps its two hidden units bit-identical
#    (`landscape.symmetry.symmetry_gap`);
# 3. follow it to its *symmetric equilibrium* and split the curvature there into the symmetric
#    and the symmetry-breaking block (`landscape.symmetry.symmetric_equilibrium`);
# 4. look at the loss surface around it on a plane and a line (`landscape.surface`);
# 5. cluster the end points that random starts reach, modulo the network's symmetries
#    (`landscape.minima.census`).
#
# Run it as a script (each `# %%` is a cell in Jupyter, VS Code or Spyder):
#
#     python docs/tutorial.py [OUT_DIR] [--quick]
#
# Figures go to `OUT_DIR` (default `docs/images/`). `--quick` (or the environment variable
# `LANDSCAPE_QUICK=1`) uses small sizes (about 15 s of CPU time, mostly compilation); the
# default sizes take about 20 s of CPU time (a minute on a busy 2-core machine).

# %%
import argparse
import os
import sys
from pathlib import Path

import jax
import jax.numpy as jnp
import matplotlib

matplotlib.use("Agg")  # files only; in a notebook, drop this line to see the figures inline
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import optax  # noqa: E402

import landscape as ls  # noqa: E402
from landscape import minima, plotting, stats, surface, symmetry  # noqa: E402

parser = argparse.ArgumentParser(description="The landscape tutorial: why a constant start never "
                                 "learns XOR.")
parser.add_argument("out_dir", nargs="?", default="docs/images", help="folder for the figures")
parser.add_argument("--quick", action="store_true",
                    help="small sizes, about 15 s (also set by LANDSCAPE_QUICK=1)")
# in Jupyter, sys.argv holds the kernel's own arguments: use the defaults there
args = parser.parse_args([] if "ipykernel" in sys.modules else sys.argv[1:])
QUICK = args.quick or os.environ.get("LANDSCAPE_QUICK", "") not in ("", "0")
OUT = Path(args.out_dir)
OUT.mkdir(parents=True, exist_ok=True)

# sizes: runs per start, training steps, steps inside the symmetric subspace
N_RUNS, STEPS, EQ_STEPS = (256, 1000, 4000) if QUICK else (4000, 5000, 100_000)
LEARNING_RATE = 2.0 if QUICK else 0.5  # a larger step makes the quick run learn in fewer steps
print(f"{'quick' if QUICK else 'full'} run: {N_RUNS} runs per start, {STEPS} steps, "
      f"learning rate {LEARNING_RATE}; figures in {OUT}/")


def save(fig, name):
    """Save a figure as OUT/name.png and close it."""
    path = OUT / f"{name}.png"
    fig.savefig(path, dpi=80)
    plt.close(fig)
    print(f"  figure: {path}")


# %% [markdown]
# ## 1. Thousands of runs from both starts
#
# A model is a pure `(init, apply)` pair; a loss is `loss_fn(params, data)`; an init is
# `init_fn(key) -> params`. `train_many` trains `n_runs` networks in one compiled call (run `i`
# gets the key `fold_in(key, i)`, so the numbers do not depend on how the runs are chunked). A run
# *learns XOR* when all four outputs are within 0.4 of their targets.

# %%
model = ls.mlp([2, 2, 1], activation="sigmoid", output="sigmoid")
data = ls.datasets.xor()  # x (4, 2), y (4, 1)
loss_fn = ls.objectives.loss(model, "mse")
success = ls.objectives.success(model, "within", tol=0.4)
starts = {"constant 0.5": ls.inits.constant(model, 0.5),
          "random N(0, 0.5^2)": ls.inits.normal(model, 0.5)}

results = {}
for i, (name, init_fn) in enumerate(starts.items()):
    results[name] = ls.train_many(
        loss_fn, init_fn, optax.sgd(LEARNING_RATE), data, key=jax.random.key(i), n_runs=N_RUNS,
        steps=STEPS, record_every=STEPS // 50, success=success, trajectory_runs=range(8),
        progress=False)

learned = {}
for name, result in results.items():
    k = int(result.succeeded.sum())
    lo, hi = stats.wilson_interval(k, result.n_runs)
    learned[name] = k
    print(f"{name:>20}: {k} of {result.n_runs} runs learned XOR ({k / result.n_runs:.1%}, "
          f"95% interval {float(lo):.1%}..{float(hi):.1%}); median final loss "
          f"{np.median(result.final_loss):.4f}")

fig, ax = plt.subplots(figsize=(6, 4), layout="constrained")
for (name, result), color in zip(results.items(), ("tab:red", "tab:blue")):
    plotting.plot_quantile_band(ax, result.record_steps, result.losses, log=True, color=color,
                                label=name)
ax.set_xlabel("gradient-descent step")
ax.set_ylabel("mean squared error")
ax.set_title("XOR 2-2-1: median loss and 10-90% band over runs")
ax.legend()
save(fig, "tutorial_loss")

# %% [markdown]
# ## 2. The constant start never leaves the symmetric subspace
#
# The *symmetry gap* is the distance from a network to the subspace where all hidden units of a
# layer are equal. Units that start identical get identical gradients, so the gap of every
# constant-start run stays exactly 0.0: not small, zero, bit for bit.

# %%
gaps = {name: np.asarray(symmetry.symmetry_gap(r.params, model=model)) for name, r in results.items()}
for name, gap in gaps.items():
    print(f"{name:>20}: symmetry gap exactly 0 in {int(np.sum(gap == 0))} of {gap.size} runs "
          f"(largest gap {gap.max():.3g})")
run0 = jax.tree.map(lambda a: a[0], results["constant 0.5"].params)
units = np.asarray(symmetry.unit_params(run0, model=model))  # (2 units, 4): one row per hidden unit
print("constant start, run 0, each hidden unit's (w from x1, w from x2, bias, w to output):")
for j, row in enumerate(units):
    print(f"  unit {j}: {np.array2string(row, precision=4)}")

fig, ax = plt.subplots(figsize=(6, 4), layout="constrained")
for (name, result), color in zip(results.items(), ("tab:red", "tab:blue")):
    traj_gaps, _ = symmetry.gap_history(result, model=model)
    plotting.plot_symmetry_gap(ax, result.record_steps, traj_gaps, color=color, label=name)
ax.set_title("distance to the subspace of equal hidden units")
ax.legend()
save(fig, "tutorial_gap")

# %% [markdown]
# ## 3. Where the constant start goes: the symmetric equilibrium
#
# Inside the symmetric subspace the network is effectively a 2-1-1 network (one hidden unit,
# counted twice). `symmetric_equilibrium` trains it exactly in that reduced form (in float64),
# tries Newton refinement, and splits the Hessian at the end point into the block along the
# subspace (*symmetric*) and the block across it (*symmetry-breaking*). A negative breaking
# eigenvalue means that pulling the two units apart lowers the loss.

# %%
with jax.enable_x64(True):
    data64 = ls.datasets.xor(dtype=jnp.float64)
    start64 = ls.inits.constant(model, 0.5, dtype=jnp.float64)(jax.random.key(0))
    eq = symmetry.symmetric_equilibrium(loss_fn, start64, data64,
                                        optimizer=optax.sgd(LEARNING_RATE), steps=EQ_STEPS)
norms = eq.history["param_norm"]
print(f"after {EQ_STEPS} steps inside the subspace: {eq.kind.replace('_', ' ')}; loss {eq.loss:.5f} "
      f"(limit 1/6 = {1 / 6:.5f}, the best a monotone function of x1 + x2 can do on XOR); "
      f"|params| grew from {norms[0]:.1f} to {norms[-1]:.1f}; |grad| {eq.grad_norm:.1e}")
for block in ("symmetric", "breaking"):
    values = np.asarray(getattr(eq.curvature, block))
    print(f"  {block + ' block eigenvalues:':<29} {np.array2string(values, precision=3)}")

# The way out exists (lambda_min < 0), but gradient descent cannot see it: at a symmetric point
# the gradient is symmetric too, so its symmetry-breaking part is zero in exact arithmetic (a
# separately compiled gradient may round the two units' sums differently in the last bit; the
# trainer's own updates kept them bit-identical, as section 2 showed).
grad = jax.grad(loss_fn)(run0, data)
grad_breaking = float(symmetry.symmetry_gap(grad, model=model))
grad_norm = float(np.sqrt(sum(np.sum(np.square(g)) for g in jax.tree.leaves(grad))))
print(f"  most negative breaking eigenvalue {eq.lambda_min:.2e}; at the end of constant run 0 the "
      f"gradient has norm {grad_norm:.1e}, its symmetry-breaking part {grad_breaking:.1e} "
      f"({grad_breaking / grad_norm:.0e} of it: rounding)")

fig, axes = plt.subplots(1, 2, figsize=(10, 3.8), layout="constrained")
axes[0].loglog(eq.history["steps"][1:], eq.history["loss"][1:] - 1 / 6, color="tab:red")
axes[0].set_xlabel("step inside the symmetric subspace")
axes[0].set_ylabel("loss - 1/6")
axes[0].set_title("the loss creeps down to 1/6 ...")
axes[1].semilogx(eq.history["steps"][1:], norms[1:], color="tab:red")
axes[1].set_xlabel("step inside the symmetric subspace")
axes[1].set_ylabel("|params|")
axes[1].set_title("... while the weights grow without bound")
save(fig, "tutorial_equilibrium")

# %% [markdown]
# ## 4. The surface around it
#
# `surface.symmetric_view` draws the loss on the plane through the end of a constant-start run,
# spanned by the direction of descent inside the subspace (x) and the most unstable
# symmetry-breaking direction (y), with the run's trajectory projected onto it: it travels along
# the x axis and never turns off it. A 1-D slice along the breaking direction shows the ridge:
# the loss falls on both sides of the subspace (the two sides are the same network with its
# units swapped).

# %%
const, rand = results["constant 0.5"], results["random N(0, 0.5^2)"]
view = surface.symmetric_view(loss_fn, None, data, model=model,
                              constant_trajectory=jax.tree.map(lambda a: a[0], const.trajectory),
                              betas=np.linspace(-4, 4, 41 if QUICK else 101),
                              n_points=41 if QUICK else 101)
(breaking,) = surface.breaking_directions(loss_fn, view.plane.origin, data, model=model)
across = surface.slice_1d(loss_fn, view.plane.origin, data, breaking, np.linspace(-4, 4, 81))
print(f"end of constant run 0: loss {view.equilibrium_loss:.5f}; curvature across the subspace "
      f"{view.breaking_eigenvalue:.2e}; loss 4 units across it on either side {across.values[0]:.5f} "
      f"and {across.values[-1]:.5f}")

fig, axes = plt.subplots(1, 2, figsize=(12, 4.5), layout="constrained",
                         gridspec_kw={"width_ratios": [1.5, 1]})
drawn = plotting.plot_symmetric_view(axes[0], view)
drawn["surface"]["center"].set_label(f"end of the constant run (loss {view.equilibrium_loss:.4f})")
axes[0].legend(loc="lower right", fontsize="small")  # plots return their artists: relabel freely
axes[0].set_title("loss on the plane through the constant run's end point")
plotting.plot_slice_1d(axes[1], across, color="tab:red")
axes[1].set_title("loss across the symmetric subspace")
axes[1].legend(loc="lower center")
save(fig, "tutorial_surface")

# %% [markdown]
# ## 5. Where random starts end
#
# Random starts leave the subspace at once, but they do not all reach the same place.
# `minima.census` clusters the end points modulo the symmetry group (swapping the two hidden
# units, flipping a logistic unit's sign), counts still-moving and diverged runs apart, and
# classifies each cluster's representative by its curvature (and a growth test for traps at
# infinity, where the loss keeps falling as the weights grow).

# %%
cen = minima.census(loss_fn, rand.params, data, model=model, loss=rand.final_loss,
                    status=rand.status, grad_norm=rand.grad_norm, grad_tol=0.01,
                    optimizer=optax.sgd(LEARNING_RATE), growth_steps=200 if QUICK else 2000)
table = cen.table(max_rows=6)
print(" | ".join(table["columns"]))
for row in table["rows"]:
    print(" | ".join(str(v) for v in row))

top = cen.clusters[:5]
shares = cen.shares()
fig, axes = plt.subplots(1, 2, figsize=(12, 4.2), layout="constrained")
plotting.plot_loss_histogram(axes[0], rand.final_loss, levels=[c.loss_mean for c in top])
axes[0].set_title("final loss of the random starts (dashed: cluster means)")
plotting.plot_success_rates(
    axes[1], [f"{c.cluster}: loss {c.loss_mean:.2g}\n{c.describe_hessian()}" for c in top],
    [c.size for c in top], cen.n_runs, shares.lo[0, :len(top)], shares.hi[0, :len(top)])
axes[1].set_ylabel("share of random starts")
axes[1].set_title("clusters modulo symmetry (Hessian where training stopped)")
save(fig, "tutorial_census")

# %% [markdown]
# ## The answer
#
# Hidden units that start equal get equal gradients and stay equal, bit for bit: the constant
# start trains a one-unit network in disguise, and one logistic unit cannot separate XOR. The
# exits (symmetry-breaking directions of negative curvature) exist, but the gradient has no
# component along them. Random starts are off the subspace from step 0.

# %%
n_const = results["constant 0.5"].n_runs
n_equal = int(np.sum(gaps["constant 0.5"] == 0))
best = cen.clusters[0]
print(f"KEY FINDING: constant start learned XOR in {learned['constant 0.5']} of {n_const} runs; "
      f"random start in {learned['random N(0, 0.5^2)']} of {rand.n_runs} runs.")
print(f"WHY: {n_equal} of {n_const} constant-start runs kept their hidden units bit-identical; "
      f"inside that subspace the loss only approaches 1/6 (reached {eq.loss:.5f}: "
      f"{eq.kind.replace('_', ' ')}) although the breaking curvature {eq.lambda_min:.1e} is "
      "negative, because the gradient has no symmetry-breaking part. Random starts end in "
      f"{len(cen.clusters)} clusters modulo symmetry; the lowest (loss {best.loss_mean:.3g}, "
      f"{best.describe_kind()}) holds {best.size} of {cen.n_runs} runs.")

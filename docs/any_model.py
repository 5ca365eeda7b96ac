# %% [markdown]
# # Your own network: the analyses on an Equinox MLP and a small Flax CNN
#
# The analysis functions of `landscape` take any `loss_fn(params, data)` over any pytree, and
# everything that needs to know where the hidden units are reads a *unit layout*
# (`landscape.units.layout`), built from an `ls.mlp`, a Flax (linen or NNX) or an Equinox model,
# or declared by hand. This script runs the flagship analyses on two networks that are not
# `ls.mlp`s, and prints every number it finds:
#
# 1. an Equinox `nn.MLP` on XOR: the symmetry gap of constant and random starts, the census of
#    the end points modulo the network's symmetries, a filter-normalized slice and a Hessian
#    spectrum;
# 2. a small Flax linen CNN (3x3 convolution, 4 channels, 8x8 images; the output channels are its
#    units): the same gap from both starts, a filter-normalized slice and a Hessian spectrum.
#
#     python docs/any_model.py [OUT_DIR] [--quick]
#
# Needs the optional frameworks: `pip install "landscape[flax,equinox]"` (the test extra has
# both). Figures go to `OUT_DIR` (default: a new temporary folder).

# %%
import argparse
import os
import sys
import tempfile
from pathlib import Path

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import linen as nn
from matplotlib.figure import Figure

import landscape as ls
from landscape import curvature, minima, plotting, surface, symmetry, units

parser = argparse.ArgumentParser(description="The landscape analyses on Equinox and Flax models.")
parser.add_argument("out_dir", nargs="?", default=None, help="folder for the figures")
parser.add_argument("--quick", action="store_true", help="small sizes (also LANDSCAPE_QUICK=1)")
args = parser.parse_args([] if "ipykernel" in sys.modules else sys.argv[1:])
QUICK = args.quick or os.environ.get("LANDSCAPE_QUICK", "") not in ("", "0")
OUT = Path(args.out_dir or tempfile.mkdtemp(prefix="landscape-any-model-"))
OUT.mkdir(parents=True, exist_ok=True)
N_RUNS, STEPS = (256, 2000) if QUICK else (2048, 5000)
LEARNING_RATE = 2.0 if QUICK else 0.5  # a larger step makes the quick run learn in fewer steps
GRID = 21 if QUICK else 41
print(f"{'quick' if QUICK else 'full'} run: {N_RUNS} runs per start, {STEPS} steps; figures in {OUT}/")

# %% [markdown]
# ## 1. An Equinox MLP on XOR
#
# An Equinox model is a pytree; its arrays are the params, the rest (activations, sizes) is
# static. `loss_fn` puts them back together. The unit layout is read from the model: Equinox
# stores `Linear` weights as `(out, in)`, which the layout knows (hidden units run along axis 0
# of the first weight and axis 1 of the second).

# %%
data = ls.datasets.xor()
net = eqx.nn.MLP(2, 1, 2, 1, activation=jax.nn.sigmoid, final_activation=jax.nn.sigmoid,
                 key=jax.random.key(0))
template, static = eqx.partition(net, eqx.is_inexact_array)
print(units.layout(net).describe())


def eqx_loss(params, data):
    """Mean squared error of the Equinox MLP ``params`` on ``data`` (one network)."""
    out = jax.vmap(eqx.combine(params, static))(data.x)
    return jnp.mean((out - data.y) ** 2)


def constant_like(template, value):
    """``init_fn(key)`` giving ``template``'s arrays, every entry ``value``."""
    return lambda key: jax.tree.map(lambda a: jnp.full_like(a, value), template)


def normal_like(template, std):
    """``init_fn(key)`` giving ``template``'s arrays, entries i.i.d. ``N(0, std^2)``."""
    def init_fn(key):
        leaves, treedef = jax.tree.flatten(template)
        keys = jax.random.split(key, len(leaves))
        return treedef.unflatten([std * jax.random.normal(k, a.shape, a.dtype) for k, a in zip(keys, leaves)])
    return init_fn


runs = {name: ls.train_many(eqx_loss, init, optax.sgd(LEARNING_RATE), data, key=jax.random.key(1),
                            n_runs=N_RUNS, steps=STEPS, progress=False)
        for name, init in (("constant 0.5", constant_like(template, 0.5)),
                           ("random N(0, 0.5^2)", normal_like(template, 0.5)))}
for name, run in runs.items():
    gap = np.asarray(symmetry.symmetry_gap(run.params, model=net))
    learned = np.mean(run.final_loss < 0.05)
    print(f"Equinox MLP, {name}: symmetry gap exactly 0 in {int(np.sum(gap == 0))} of {gap.size} "
          f"runs; learned XOR (loss < 0.05) in {learned:.1%}")

# %% [markdown]
# The census of the random-start end points modulo the MLP's symmetries (unit permutations and
# the logistic sign flips), read through the same layout; the forward pass for the function-space
# clustering comes from the Equinox model itself.

# %%
rand = runs["random N(0, 0.5^2)"]
cen = minima.census(eqx_loss, rand.params, data, model=net, status=rand.status, grad_tol=0.01,
                    optimizer=optax.sgd(LEARNING_RATE), growth_steps=1000 if QUICK else 2000)
print(f"Equinox MLP census: {len(cen.clusters)} clusters of {N_RUNS} random-start runs "
      f"({cen.counts()}); largest first:")
largest = sorted(cen.clusters, key=lambda c: -c.size)
for c in largest[:4]:
    print(f"  {c.size:5d} runs, loss {c.loss_mean:.3g}, {c.describe_kind()}, outputs "
          f"{' '.join(f'{v:.2f}' for v in np.ravel(c.outputs))}")
if len(largest) > 4:
    print(f"  ... and {len(largest) - 4} more clusters, {sum(c.size for c in largest[4:])} runs")

# %% [markdown]
# The constant start keeps the two hidden units bit-identical (gap exactly 0), exactly as for
# an `ls.mlp`: the symmetry argument does not care which library built the network.
#
# Around the best random-start network: a Hessian spectrum and a plane of two filter-normalized
# random directions (one filter per unit: its incoming weights, read through the layout).

# %%
best_run = runs["random N(0, 0.5^2)"]
best = jax.tree.map(lambda a: a[int(np.argmin(best_run.final_loss))], best_run.params)


def describe_point(loss_fn, params, data) -> str:
    """The Hessian spectrum's range and the critical-point label, with the floor it used."""
    point = curvature.classify(loss_fn, params, data)
    eigs = np.asarray(point.eigenvalues)
    return (f"{eigs.size} parameters, loss {float(point.loss):.2e}; Hessian eigenvalues from "
            f"{eigs[0]:.2e} to {eigs[-1]:.2e}; label {ls.status.POINT[int(point.label)]} "
            f"(index {int(point.index)}; zero below {float(point.zero_tol):.1e}, critical below "
            f"gradient {float(point.grad_tol):.1e})")


print(f"Equinox MLP, best random run: {describe_point(eqx_loss, best, data)}")
d1 = surface.random_direction(best, key=jax.random.key(2), normalization="filter", model=net)
d2 = surface.random_direction(best, key=jax.random.key(3), normalization="filter", model=net)
grid = np.linspace(-1.0, 1.0, GRID)
slc = surface.slice_2d(eqx_loss, best, data, d1, d2, grid, grid)
print(f"Equinox MLP, filter-normalized plane: loss from {float(np.min(slc.values)):.2e} to "
      f"{float(np.max(slc.values)):.2e} over [-1, 1]^2")
fig = Figure(figsize=(5, 4), layout="constrained")
ax = fig.subplots()
plotting.plot_slice_2d(ax, slc)
ax.set_title("Equinox MLP on XOR: loss around the best random start")
fig.savefig(OUT / "any_model_equinox_slice.png", dpi=80)

# %% [markdown]
# ## 2. A small Flax CNN
#
# A 3x3 convolution with 4 output channels (its units), tanh, and a dense output, on 8x8
# images of a horizontal or a vertical bar. A linen module holds no weights, so the layout is
# read from one network's variables (`units.layout(cnn, variables, activation="tanh")`: linen
# does not say which activation a custom module applies).


# %%
class CNN(nn.Module):
    @nn.compact
    def __call__(self, x):
        h = jnp.tanh(nn.Conv(4, (3, 3), padding="VALID")(x))
        return jax.nn.sigmoid(nn.Dense(1)(h.reshape(h.shape[:-3] + (-1,))))


def bars(n: int, key) -> ls.Dataset:
    """``n`` 8x8 images (``(n, 8, 8, 1)``) of one bar, label 1 when it is horizontal."""
    k_pos, k_dir = jax.random.split(key)
    pos = jax.random.randint(k_pos, (n,), 0, 8)
    horizontal = jax.random.bernoulli(k_dir, 0.5, (n,))
    rows = jnp.arange(8)[None, :, None] == pos[:, None, None]
    cols = jnp.arange(8)[None, None, :] == pos[:, None, None]
    images = jnp.where(horizontal[:, None, None], rows, cols).astype(jnp.float32)[..., None]
    return ls.Dataset(images, horizontal.astype(jnp.float32)[:, None])


cnn = CNN()
images = bars(64, jax.random.key(4))
# (A constant start keeps the four channels identical: it trains a one-channel network, which
# can still tell bars apart. The point here is that the gap stays exactly 0, as for the MLP.)
variables = cnn.init(jax.random.key(5), images.x[:1])
cnn_spec = units.layout(cnn, variables, activation="tanh")
print(cnn_spec.describe())


def cnn_loss(params, data):
    """Mean squared error of the CNN ``params`` (linen variables) on ``data``."""
    return jnp.mean((cnn.apply(params, data.x) - data.y) ** 2)


n_cnn = 64 if QUICK else 256
cnn_runs = {name: ls.train_many(cnn_loss, init, optax.sgd(0.5), images, key=jax.random.key(6),
                                n_runs=n_cnn, steps=STEPS // 4, progress=False)
            for name, init in (("constant 0.1", constant_like(variables, 0.1)),
                               ("random N(0, 0.3^2)", normal_like(variables, 0.3)))}
for name, run in cnn_runs.items():
    gap = np.asarray(symmetry.symmetry_gap(run.params, model=cnn_spec))
    first = jax.tree.map(lambda a: a[:16], run.params)
    acc = float(jnp.mean((jax.vmap(lambda p: cnn.apply(p, images.x))(first) > 0.5) == (images.y > 0.5)))
    print(f"Flax CNN, {name}: symmetry gap exactly 0 in {int(np.sum(gap == 0))} of {gap.size} runs; "
          f"median final loss {float(np.median(run.final_loss)):.3g}; accuracy of the first 16 "
          f"runs {acc:.1%}")

cnn_best_run = cnn_runs["random N(0, 0.3^2)"]
cnn_best = jax.tree.map(lambda a: a[int(np.argmin(cnn_best_run.final_loss))], cnn_best_run.params)
print(f"Flax CNN, best random run: {describe_point(cnn_loss, cnn_best, images)}")
c1 = surface.random_direction(cnn_best, key=jax.random.key(7), normalization="filter", model=cnn_spec)
c2 = surface.random_direction(cnn_best, key=jax.random.key(8), normalization="filter", model=cnn_spec)
cnn_slice = surface.slice_2d(cnn_loss, cnn_best, images, c1, c2, grid, grid)
print(f"Flax CNN, filter-normalized plane (one filter per output channel and output unit): loss "
      f"from {float(np.min(cnn_slice.values)):.2e} to {float(np.max(cnn_slice.values)):.2e}")
fig = Figure(figsize=(5, 4), layout="constrained")
ax = fig.subplots()
plotting.plot_slice_2d(ax, cnn_slice)
ax.set_title("Flax CNN on bars: loss around the best random start")
fig.savefig(OUT / "any_model_cnn_slice.png", dpi=80)

"""Benchmark: a whole 2D slice (and a basin map) as one batched compiled call against a Python
loop of jitted per-point calls, the way point-by-point tools evaluate a surface.

Run: ``python benchmarks/bench_surface.py [--grid 201] [--loop-points 2000] [--basin-grid 21]
[--basin-steps 200] [--basin-loop-points 40]``

Part 1. Loss (MSE) of an XOR 2-2-1 network (sigmoid, float32) on a ``--grid`` x ``--grid`` slice
``center + a d1 + b d2`` (filter-normalized random directions):

- :func:`landscape.surface.slice_2d` end to end (argument checks, grid building, the compiled
  call, the copy back and the separate center evaluation), with the point-axis-last program
  (``method="auto"``, chosen for the toolkit's MLP losses) and with the generic ``vmap``;
- the compiled slice program alone (coordinates already on the device): the compute;
- the baseline: a Python loop calling ``jax.jit(point_loss)(a, b)`` once per grid point, the
  point ``center + a d1 + b d2`` built inside the compiled function. The loop is timed on
  ``--loop-points`` points and scaled up linearly to the whole grid (the table says so).

Part 2. Basin map: ``--basin-grid`` squared starts trained ``--basin-steps`` SGD steps by
:func:`landscape.surface.basin_map` (the grid points as the ``starts`` of one
:func:`landscape.train_many` call, run axis last as chosen for an MLP loss) against the baseline
a point-by-point tool would use: a loop of a jitted single-start training (a plain
``lax.scan`` of SGD steps, written out here on purpose) over ``--basin-loop-points`` starts,
scaled up. Each per-start call already runs all its steps compiled, so the loop pays dispatch once per
start, not per step: the gain here is vectorization only, far smaller than for the slice.

Run times are the best of repeated warm calls (the loops: best of 3 passes) and exclude
compilation (reported separately as first call minus the best warm call).
One process; whatever devices JAX sees. The point is the ratios.
"""

from __future__ import annotations

import argparse

import jax
import jax.numpy as jnp
import numpy as np
import optax

import landscape as ls
from landscape import surface as sf
from _timing import timed


def setup():
    model = ls.mlp([2, 2, 1], activation="sigmoid", output="sigmoid")
    loss_fn = ls.objectives.loss(model, "mse")
    data = ls.datasets.xor()
    center = model.init(jax.random.key(0))
    d1 = sf.random_direction(center, key=jax.random.key(1))
    d2 = sf.random_direction(center, key=jax.random.key(2))
    return model, loss_fn, data, center, d1, d2


def bench_slice(n_grid, n_loop, repeats):
    _, loss_fn, data, center, d1, d2 = setup()
    grid = np.linspace(-2.0, 2.0, n_grid)
    n_points = n_grid * n_grid
    rows = []

    results = {}
    for method in ("batched", "vmap"):
        def call(method=method):
            out = sf.slice_2d(loss_fn, center, data, d1, d2, grid, grid, method=method)
            results[method] = out
            return out.values
        first, best = timed(call, repeats)
        rows.append((f"slice_2d end to end ({method})", first - best, best))

    # the compiled program alone (what slice_2d calls), coordinates already on the device
    a, b = np.meshgrid(grid, grid, indexing="ij")
    coords = jnp.asarray(np.stack([a.ravel(), b.ravel()], axis=1), jnp.float32)
    dirs = (d1.params, d2.params)
    for method, batched in (("batched", True), ("vmap", False)):
        program = sf.slices._program("slice", batched)
        run = lambda program=program: program(center, dirs, coords, data, metric=loss_fn,  # noqa: E731
                                              block=n_points, mesh=None)
        first, best = timed(run, repeats)
        rows.append((f"compiled slice program ({method})", first - best, best))

    @jax.jit
    def point_loss(a, b):
        p = jax.tree.map(lambda c, u, v: c + a * u + b * v, center, d1.params, d2.params)
        return loss_fn(p, data)

    pts = [(np.float32(x), np.float32(y)) for x, y in zip(a.ravel()[:n_loop], b.ravel()[:n_loop])]

    def loop():
        return [point_loss(x, y) for x, y in pts]

    first, t = timed(loop, 3)
    loop_all = t * n_points / n_loop
    rows.append((f"loop of jitted per-point calls (timed {n_loop}, scaled)", first - t, loop_all))
    looped = np.array([float(v) for v in loop()])
    diff = float(np.max(np.abs(looped - results["batched"].values.ravel()[:n_loop])))
    return rows, loop_all, diff, n_points


def bench_basin(n_grid, steps, n_loop, repeats):
    _, loss_fn, data, center, d1, d2 = setup()
    grid = np.linspace(-2.0, 2.0, n_grid)
    opt = optax.sgd(0.5)
    m = n_grid * n_grid
    rows = []
    first, best = timed(lambda: sf.basin_map(loss_fn, center, data, d1, d2, grid, grid,
                                             optimizer=opt, steps=steps, progress=False).final_loss,
                        repeats)
    rows.append(("basin_map end to end", first - best, best))

    @jax.jit
    def train_one(a, b):
        p = jax.tree.map(lambda c, u, v: c + a * u + b * v, center, d1.params, d2.params)
        state = opt.init(p)

        def step(carry, _):
            p, s = carry
            g = jax.grad(loss_fn)(p, data)
            u, s = opt.update(g, s, p)
            return (optax.apply_updates(p, u), s), None

        (p, _), _ = jax.lax.scan(step, (p, state), None, length=steps)
        return loss_fn(p, data)

    a, b = np.meshgrid(grid, grid, indexing="ij")
    pts = [(np.float32(x), np.float32(y)) for x, y in zip(a.ravel()[:n_loop], b.ravel()[:n_loop])]
    first, t = timed(lambda: [train_one(x, y) for x, y in pts], 3)
    loop_all = t * m / n_loop
    rows.append((f"loop of jitted per-start training (timed {n_loop}, scaled)", first - t, loop_all))
    return rows, loop_all, m


def table(title, rows, reference):
    print(f"\n{title}")
    print(f"{'method':<58} {'compile s':>10} {'run ms':>11} {'loop / this':>12}")
    for name, compile_s, run_s in rows:
        print(f"{name:<58} {compile_s:>10.3f} {run_s * 1e3:>11.2f} {reference / run_s:>12.1f}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--grid", type=int, default=201)
    parser.add_argument("--loop-points", type=int, default=2000)
    parser.add_argument("--basin-grid", type=int, default=21)
    parser.add_argument("--basin-steps", type=int, default=200)
    parser.add_argument("--basin-loop-points", type=int, default=40)
    parser.add_argument("--repeats", type=int, default=20)
    args = parser.parse_args()
    print(f"devices: {jax.devices()}  (jax {jax.__version__})")

    rows, loop_all, diff, n = bench_slice(args.grid, args.loop_points, args.repeats)
    table(f"Part 1: {args.grid}x{args.grid} = {n} points, XOR 2-2-1 MSE loss, float32", rows, loop_all)
    print(f"max |batched - looped| on the {args.loop_points} looped points: {diff:.2e}")
    print(f"the loop was timed on {args.loop_points} of {n} points and scaled up linearly")

    rows, loop_all, m = bench_basin(args.basin_grid, args.basin_steps, args.basin_loop_points,
                                    max(3, args.repeats // 5))
    table(f"Part 2: basin map, {m} starts x {args.basin_steps} SGD steps", rows, loop_all)
    print(f"the loop was timed on {args.basin_loop_points} of {m} starts and scaled up linearly")


if __name__ == "__main__":
    main()

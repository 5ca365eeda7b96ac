"""Benchmark: 2-D loss slices past the toy sizes (against the previous slice program, a Python
loop of jitted per-point calls and ``loss-landscapes``' PyTorch loop), a size sweep, and a basin
map as one batched compiled call against a loop of per-start trainings.

Run: ``python benchmarks/bench_surface.py [--quick] [--grid 51] [--sweep-grid 21]
[--loop-points 200] [--basin-grid 21] [--basin-steps 200] [--basin-loop-points 40]``

Part 1 (issue 16's case). The MSE loss of a 20-128-1 tanh net (2,817 params, linear output) on
512 samples, float32, on a ``--grid`` x ``--grid`` slice ``center + a d1 + b d2``
(filter-normalized random directions); ~7.5 GFLOP of useful work at 51 x 51. Rows:

- :func:`landscape.surface.slice_2d` end to end, default settings (``method="auto"``: the grid
  points as matrix rows, in cache-sized blocks, the first layer's products with the data made
  once per block (:mod:`landscape.surface.affine`), the blocks shared out to one concurrent call
  per core);
- the same in one call (no threads): what the concurrent calls add;
- the bound: the same per-point work written by hand for this net, one call (what a
  one-call slice cannot beat without doing less work per point);
- session 4's default (in-process baseline): the same blocks, each point's params made first
  (every point pays the first layer's matrix product), one call;
- an older default (in-process baseline): the point-axis-last program
  (``method="batched"``) in blocks of the old 2**24-float budget;
- a Python loop calling ``jax.jit(point_loss)(a, b)`` once per grid point (timed on
  ``--loop-points`` points, scaled up linearly);
- ``loss-landscapes``' ``random_plane`` (its plain PyTorch loop over the grid, ``torch.no_grad``;
  ``normalization="model"``: its filter normalization divides by zero on a 1-unit bias)
  on a ``torch.nn.Sequential`` holding the same weights and data, when ``torch`` and
  ``loss-landscapes`` are installed (``pip install -e ".[bench]"``; the CPU wheel of torch:
  ``pip install torch --index-url https://download.pytorch.org/whl/cpu``); skipped with a line
  saying so otherwise.

Part 2. Size sweep from 9 to ~100,000 params (``--sweep-grid`` squared points, tanh MLPs, 256
samples; XOR 2-2-1 on its 4 samples): ``slice_2d`` against ``loss-landscapes`` (when installed)
and the older point-axis-last default.

Part 3. Basin map: ``--basin-grid`` squared starts trained ``--basin-steps`` SGD steps by
:func:`landscape.surface.basin_map` (the grid points as the ``starts`` of one
:func:`landscape.train_many` call) against a loop of a jitted single-start training (a plain
``lax.scan`` of SGD steps) over ``--basin-loop-points`` starts, scaled up. Each per-start call
already runs all its steps compiled, so the gain here is vectorization only.

The last lines of parts 1 and 2 say PASS or MISS against issue 16's targets (<= 60 ms at
51 x 51; >= 5x faster than loss-landscapes; faster at every size). Run times are the best of
repeated warm calls (part 1's first four rows in rounds, one call of each per round, so that
they meet the same load) and exclude compilation (reported separately as first call minus the
best warm call). One process; whatever devices JAX sees (one CPU device
unless ``XLA_FLAGS`` says otherwise). The point is the ratios.
"""

from __future__ import annotations

import argparse
import functools
import os
import time

import jax
import jax.numpy as jnp
import numpy as np
import optax

import landscape as ls
from landscape import parallel
from landscape import surface as sf
from landscape.surface import slices
from _timing import timed

SWEEP = [([2, 2, 1], 4), ([10, 8, 1], 256), ([20, 40, 1], 256), ([20, 128, 1], 256),
         ([50, 200, 1], 256), ([20, 300, 300, 1], 256)]
"""(sizes, samples) of the size sweep: 9, 97, 881, 2,817, 10,401 and 96,901 params."""

SWEEP_QUICK = [SWEEP[0], SWEEP[1], SWEEP[3]]


def problem(sizes, n_samples, seed=0):
    """A tanh MLP (linear output), its MSE loss, Gaussian data, a center and two directions."""
    model = ls.mlp(sizes, activation="tanh", output="linear")
    loss_fn = ls.objectives.loss(model, "mse")
    k = jax.random.split(jax.random.key(seed), 5)
    if n_samples == 4 and sizes[0] == 2:
        data = ls.datasets.xor()
    else:
        data = (jax.random.normal(k[0], (n_samples, sizes[0])),
                jax.random.normal(k[1], (n_samples, sizes[-1])))
    center = model.init(k[2])
    d1 = sf.random_direction(center, key=k[3])
    d2 = sf.random_direction(center, key=k[4])
    return model, loss_fn, data, center, d1, d2


def previous_default(loss_fn, center, data, d1, d2, grid):
    """The slice as the previous release computed it: the point-axis-last program in blocks of
    a 2**24-float working set."""
    saved = slices._BLOCK_FLOATS
    slices._BLOCK_FLOATS = {}  # every backend: the 2**24 default
    try:
        return sf.slice_2d(loss_fn, center, data, d1, d2, grid, grid, method="batched")
    finally:
        slices._BLOCK_FLOATS = saved


def session4_program(loss_fn, block):
    """Session 4's default slice program (in-process baseline): the grid points ``vmap``-ed in
    blocks of ``block``, each point's params made first (``center + a d1 + b d2``, so every point
    pays the first layer's matrix product), one call on one thread."""
    mesh = parallel.local_mesh()

    @jax.jit
    def run(center, dirs, coords, data):
        per_point = jax.vmap(lambda c, center, dirs, data:
                             loss_fn(slices._along(center, dirs, c, False), data),
                             in_axes=(0, None, None, None))
        return parallel.map_blocks(per_point, coords, (center, dirs, data), block=block, mesh=mesh)
    return run


def hand_written(center, dirs, data, block):
    """The bound: the per-point work written by hand for this net (the first layer's data products
    made once, then per point ``tanh(H0 + a HU + b HV) @ w2``), blocks of ``block`` points, one
    call; what is left once the slice does nothing but this."""
    x, y = data
    (c0, c1), (u0, u1), (v0, v1) = center, *dirs

    def point(h3, rest, c):
        h = jnp.tanh(h3[0] + c[0] * h3[1] + c[1] * h3[2])
        w2, b2 = (r[0] + c[0] * r[1] + c[1] * r[2] for r in rest)
        return jnp.mean((h @ w2 + b2 - y) ** 2)

    @functools.partial(jax.jit, compiler_options=parallel.fast_cpu_options())  # as slice_2d's
    def run(coords):
        h3 = jnp.stack([x @ p["w"] + p["b"] for p in (c0, u0, v0)])
        rest = ((c1["w"], u1["w"], v1["w"]), (c1["b"], u1["b"], v1["b"]))
        per_block = jax.vmap(lambda c: point(h3, rest, c))
        return parallel.map_blocks(per_block, coords, block=block, mesh=parallel.local_mesh(1))
    return run


def interleaved(fns, repeats):
    """``[(first seconds, best seconds)]`` of each of ``fns``, the warm calls taken in rounds
    (one call of each per round), so that every row meets the same machine load."""
    firsts, bests = [], [float("inf")] * len(fns)
    for fn in fns:
        t0 = time.perf_counter()
        jax.block_until_ready(fn())
        firsts.append(time.perf_counter() - t0)
    for _ in range(repeats):
        for i, fn in enumerate(fns):
            t0 = time.perf_counter()
            jax.block_until_ready(fn())
            bests[i] = min(bests[i], time.perf_counter() - t0)
    return list(zip(firsts, bests))


def one_call(fn):
    """``fn()`` with the slice's blocks in one call (no concurrent calls from threads)."""
    saved = parallel.concurrent_calls
    parallel.concurrent_calls = lambda n_devices: 1
    try:
        return fn()
    finally:
        parallel.concurrent_calls = saved


def torch_setup(params, data):
    """``(torch, loss_landscapes, net, metric)`` with the same weights and data, or None."""
    try:
        import loss_landscapes
        import loss_landscapes.metrics
        import torch
    except ImportError:
        return None
    layers = []
    for l, layer in enumerate(params):
        w = np.asarray(layer["w"])
        lin = torch.nn.Linear(w.shape[0], w.shape[1])
        with torch.no_grad():
            lin.weight.copy_(torch.from_numpy(w.T.copy()))
            lin.bias.copy_(torch.from_numpy(np.asarray(layer["b"]).copy()))
        layers += [lin, torch.nn.Tanh()] if l < len(params) - 1 else [lin]
    net = torch.nn.Sequential(*layers)
    x, y = (torch.from_numpy(np.asarray(a).copy()) for a in data)
    metric = loss_landscapes.metrics.Loss(torch.nn.MSELoss(), x, y)
    return torch, loss_landscapes, net, metric


def time_loss_landscapes(setup, steps, repeats):
    """Best seconds of ``loss_landscapes.random_plane`` on a ``steps`` x ``steps`` grid."""
    torch, loss_landscapes, net, metric = setup
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        with torch.no_grad():
            loss_landscapes.random_plane(net, metric, distance=1, steps=steps,
                                         normalization="model", deepcopy_model=True)
        best = min(best, time.perf_counter() - t0)
    return best


def bench_slice(n_grid, n_loop, repeats):
    _, loss_fn, data, center, d1, d2 = problem([20, 128, 1], 512)
    grid = np.linspace(-1.0, 1.0, n_grid)
    n_points = n_grid * n_grid
    rows, results = [], {}

    def ours():
        results["ours"] = sf.slice_2d(loss_fn, center, data, d1, d2, grid, grid)
        return results["ours"].values

    a, b = np.meshgrid(grid, grid, indexing="ij")
    coords = jnp.asarray(np.stack([a.ravel(), b.ravel()], 1), jnp.float32)
    dirs = (d1.params, d2.params)
    block_now = slices._point_block(loss_fn, 2817, data, n_points, None)
    bound = hand_written(center, dirs, data, block_now)
    saved = slices._BLOCK_FLOATS
    slices._BLOCK_FLOATS = {"cpu": 2**20}  # session 4's budget
    try:
        block = slices._point_block(loss_fn, 2817, data, n_points, None)
    finally:
        slices._BLOCK_FLOATS = saved
    run4 = session4_program(loss_fn, block)
    fast = [("slice_2d end to end (default)", ours),
            ("  the same in one call (one thread)", lambda: one_call(ours)),
            (f"bound: the per-point work by hand ({block_now}-pt blocks, 1 call)",
             lambda: bound(coords)),
            (f"session 4 default (per-point params, {block}-pt blocks, 1 call)",
             lambda: run4(center, dirs, coords, data))]
    for (name, _), (first, best) in zip(fast, interleaved([fn for _, fn in fast], repeats)):
        rows.append((name, first - best, best))
    ours_s = rows[0][2]
    diff_bound = float(np.max(np.abs(np.asarray(bound(coords)) - results["ours"].values.ravel())))
    diff_s4 = float(np.max(np.abs(np.asarray(run4(center, dirs, coords, data))
                                  - results["ours"].values.ravel())))

    def old():
        results["old"] = previous_default(loss_fn, center, data, d1, d2, grid)
        return results["old"].values
    first, best = timed(old, max(2, repeats // 3))
    rows.append(("previous default (point axis last, 2**24-float blocks)", first - best, best))

    @jax.jit
    def point_loss(a, b):
        p = jax.tree.map(lambda c, u, v: c + a * u + b * v, center, d1.params, d2.params)
        return loss_fn(p, data)

    pts = [(np.float32(x), np.float32(y)) for x, y in zip(a.ravel()[:n_loop], b.ravel()[:n_loop])]
    first, t = timed(lambda: [point_loss(x, y) for x, y in pts], 3)
    rows.append((f"loop of jitted per-point calls (timed {n_loop}, scaled)", first - t,
                 t * n_points / n_loop))
    looped = np.array([float(point_loss(x, y)) for x, y in pts])
    diff = float(np.max(np.abs(looped - results["ours"].values.ravel()[:n_loop])))
    diff_old = float(np.max(np.abs(results["old"].values - results["ours"].values)))

    setup = torch_setup(center, data)
    if setup is not None:
        rows.append(("loss-landscapes random_plane (PyTorch loop)", float("nan"),
                     time_loss_landscapes(setup, n_grid, 2)))
    return rows, ours_s, (diff, diff_old, diff_s4, diff_bound), n_points, setup is not None


def bench_sweep(n_grid, cases, repeats):
    grid = np.linspace(-1.0, 1.0, n_grid)
    rows = []
    for sizes, n in cases:
        _, loss_fn, data, center, d1, d2 = problem(sizes, n)
        n_params = sum(int(np.size(leaf)) for leaf in jax.tree.leaves(center))
        _, ours = timed(lambda: sf.slice_2d(loss_fn, center, data, d1, d2, grid, grid).values,
                        repeats)
        _, old = timed(lambda: previous_default(loss_fn, center, data, d1, d2, grid).values,
                       max(1, repeats // 3))
        setup = torch_setup(center, data)
        ll = time_loss_landscapes(setup, n_grid, 2) if setup is not None else float("nan")
        rows.append((n_params, sizes, n, ours, old, ll))
    return rows


def bench_basin(n_grid, steps, n_loop, repeats):
    """XOR 2-2-1 (sigmoid, MSE): basin_map against a loop of jitted single-start trainings."""
    model = ls.mlp([2, 2, 1], activation="sigmoid", output="sigmoid")
    loss_fn, data = ls.objectives.loss(model, "mse"), ls.datasets.xor()
    center = model.init(jax.random.key(0))
    d1 = sf.random_direction(center, key=jax.random.key(1))
    d2 = sf.random_direction(center, key=jax.random.key(2))
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


def verdict(ok) -> str:
    return "PASS" if ok else "MISS"


def table(title, rows, reference, reference_name):
    print(f"\n{title}")
    print(f"{'method':<58} {'compile s':>10} {'run ms':>11} {reference_name:>16}")
    for name, compile_s, run_s in rows:
        print(f"{name:<58} {compile_s:>10.3f} {run_s * 1e3:>11.2f} {run_s / reference:>16.1f}")


def sweep_table(rows, n_grid):
    print(f"\nPart 2: size sweep, {n_grid}x{n_grid} slices, float32 (ratios: their time / ours)")
    print(f"{'params':>8} {'sizes':<18} {'samples':>7} {'ours ms':>9} {'previous ms':>12} "
          f"{'l-l ms':>9} {'previous/ours':>14} {'l-l/ours':>9}")
    for n_params, sizes, n, ours, old, ll in rows:
        print(f"{n_params:>8} {'-'.join(map(str, sizes)):<18} {n:>7} {ours * 1e3:>9.2f} "
              f"{old * 1e3:>12.2f} {ll * 1e3:>9.1f} {old / ours:>14.1f} {ll / ours:>9.1f}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="small sizes: a smoke test")
    parser.add_argument("--grid", type=int, default=51)
    parser.add_argument("--sweep-grid", type=int, default=21)
    parser.add_argument("--loop-points", type=int, default=200)
    parser.add_argument("--basin-grid", type=int, default=21)
    parser.add_argument("--basin-steps", type=int, default=200)
    parser.add_argument("--basin-loop-points", type=int, default=40)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    if args.quick:
        args.grid, args.sweep_grid, args.loop_points = 21, 11, 50
        args.basin_grid, args.basin_steps, args.basin_loop_points, args.repeats = 7, 50, 10, 2
    print(f"devices: {jax.devices()}  (jax {jax.__version__}); load average at start: "
          f"{os.getloadavg()[0]:.2f}")

    rows, ours, diffs, n, have_ll = bench_slice(args.grid, args.loop_points, args.repeats)
    table(f"Part 1: {args.grid}x{args.grid} = {n} points, 20-128-1 tanh net (2,817 params), 512 "
          "samples, MSE, float32", rows, ours, "time / ours")
    print("max |ours - looped| on the {} looped points: {:.2e}; max |ours - previous|: {:.2e}; "
          "max |ours - session 4|: {:.2e}; max |ours - bound|: {:.2e}".format(args.loop_points,
                                                                            *diffs))
    print(f"the loop was timed on {args.loop_points} of {n} points and scaled up linearly")
    if not have_ll:
        print("loss-landscapes: skipped (torch and loss-landscapes are not installed: "
              "pip install -e '.[bench]', torch from https://download.pytorch.org/whl/cpu)")
    else:
        ll = rows[-1][2]
        print(f"target (issue 16, {args.grid}x{args.grid}) <= 60 ms: {ours * 1e3:.1f} ms "
              f"{verdict(ours <= 0.060)}")
        print(f"target >= 5x faster than loss-landscapes: {ll / ours:.1f}x {verdict(ll / ours >= 5)}")

    sweep = bench_sweep(args.sweep_grid, SWEEP_QUICK if args.quick else SWEEP, args.repeats)
    sweep_table(sweep, args.sweep_grid)
    if have_ll:
        slower = [r[0] for r in sweep if r[5] < r[3]]
        print(f"target faster than loss-landscapes at every size: "
              f"{'yes' if not slower else f'slower at {slower} params'} {verdict(not slower)}")

    rows, loop_all, m = bench_basin(args.basin_grid, args.basin_steps, args.basin_loop_points,
                                    max(3, args.repeats // 2))
    table(f"Part 3: basin map, {m} starts x {args.basin_steps} SGD steps", rows, rows[0][2],
          "time / basin_map")
    print(f"the loop was timed on {args.basin_loop_points} of {m} starts and scaled up linearly")


if __name__ == "__main__":
    main()

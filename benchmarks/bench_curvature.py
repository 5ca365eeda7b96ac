"""Benchmark: batched curvature against per-point loops and dense against matrix-free routes.

Run: ``python benchmarks/bench_curvature.py [--points 10000] [--loop-points 200]``

Part 1. Dense Hessian + eigenvalues of ``--points`` XOR 2-2-1 points (sigmoid, MSE, float32):
one compiled ``vmap`` call (:func:`landscape.curvature.hessian_eigh_batched`) against a Python
loop of the same per-point function, both the public ``hessian_eigh`` (argument checks + jitted
dispatch per call) and a bare ``jax.jit`` of the per-point computation. The loop is timed on
``--loop-points`` points and scaled up linearly to all points (the output says so).

Part 2. Extreme eigenvalues of an MLP [10, 50, 50, 1] (3151 params, tanh, MSE, 256 random
samples): Lanczos (:func:`landscape.curvature.extreme_eigenpairs`) against the dense route
(the computation of :func:`landscape.curvature.hessian_eigh`), with the relative error of the
Lanczos values.

Run times exclude compilation (reported separately: first call minus a warm call, or an
ahead-of-time compile for the dense route, which is run once). One process, whatever devices JAX
sees. The point is the ratios, not the absolute numbers.
"""

from __future__ import annotations

import argparse
import time

import jax
import jax.numpy as jnp
import numpy as np
from jax.flatten_util import ravel_pytree

import landscape as ls
from landscape import curvature as cv
from _timing import timed


def bench_batched(n_points: int, n_loop: int):
    model = ls.mlp([2, 2, 1], activation="sigmoid", output="sigmoid")
    loss_fn = ls.objectives.loss(model, "mse")
    data = ls.datasets.xor()
    batch = jax.vmap(model.init)(jax.random.split(jax.random.key(0), n_points))
    points = [jax.tree.map(lambda leaf, i=i: leaf[i], batch) for i in range(n_loop)]

    first, batched = timed(lambda: cv.hessian_eigh_batched(loss_fn, batch, data), repeats=3)
    rows = [("batched jit(vmap), all points", first - batched, batched, 1.0, False)]

    def loop(fn):
        def run():
            return [fn(p) for p in points]
        return run

    public = loop(lambda p: cv.hessian_eigh(loss_fn, p, data))
    first, t = timed(public)
    t_all = t * n_points / n_loop
    rows.append(("loop of cv.hessian_eigh", first - t, t_all, t_all / batched, True))

    def per_point(p):
        x, unravel = ravel_pytree(p)
        return jnp.linalg.eigh(jax.hessian(lambda y: loss_fn(unravel(y), data))(x))

    bare = jax.jit(per_point)
    first, t = timed(loop(bare))
    t_all = t * n_points / n_loop
    rows.append(("loop of bare jax.jit(per_point)", first - t, t_all, t_all / batched, True))

    # agreement of the two routes on the looped points
    ref = cv.hessian_eigh_batched(loss_fn, batch, data).eigenvalues[:n_loop]
    diff = max(float(jnp.max(jnp.abs(bare(p).eigenvalues - ref[i]))) for i, p in enumerate(points))
    return rows, diff


def bench_lanczos(k: int, num_steps: int, n_samples: int):
    model = ls.mlp([10, 50, 50, 1], activation="tanh", output="linear")
    loss_fn = ls.objectives.loss(model, "mse")
    kx, ky, kp = jax.random.split(jax.random.key(1), 3)
    data = ls.datasets.Dataset(jax.random.normal(kx, (n_samples, 10)), jax.random.normal(ky, (n_samples, 1)))
    params = model.init(kp)
    n = model.n_params

    # The dense route is what cv.hessian_eigh runs, split in two AOT-compiled halves so that
    # each is compiled and run once (a 3151 x 3151 eigh takes tens of seconds here).
    def dense_hessian(p, d):
        x, unravel = ravel_pytree(p)
        return jax.hessian(lambda y: loss_fn(unravel(y), d))(x)

    t0 = time.perf_counter()
    hess = jax.jit(dense_hessian).lower(params, data).compile()
    c_hess = time.perf_counter() - t0
    t0 = time.perf_counter()
    h = jax.block_until_ready(hess(params, data))
    r_hess = time.perf_counter() - t0
    t0 = time.perf_counter()
    eigh = jax.jit(jnp.linalg.eigh).lower(h).compile()
    c_eigh = time.perf_counter() - t0
    t0 = time.perf_counter()
    exact = np.asarray(jax.block_until_ready(eigh(h)).eigenvalues)
    r_eigh = time.perf_counter() - t0
    dense = r_hess + r_eigh
    rows = [
        (f"dense Hessian + eigh (n={n})", c_hess + c_eigh, dense, 1.0, False),
        ("  of which: dense Hessian", c_hess, r_hess, r_hess / dense, False),
        ("  of which: eigh", c_eigh, r_eigh, r_eigh / dense, False),
    ]

    key = jax.random.key(2)
    run = lambda: cv.extreme_eigenpairs(loss_fn, params, data, k=k, key=key, n_steps=num_steps)  # noqa: E731
    first, lz = timed(run, repeats=2)
    rows.append((f"Lanczos k={k}, {num_steps} steps", first - lz, lz, lz / dense, False))
    ext = run()
    err_top = np.max(np.abs(np.asarray(ext.largest.values) - exact[::-1][:k]))
    err_bot = np.max(np.abs(np.asarray(ext.smallest.values) - exact[:k]))
    scale = np.max(np.abs(exact))
    return rows, n, err_top / scale, err_bot / scale, exact


def print_table(title, rows):
    print(f"\n{title}")
    print(f"{'method':<36} {'compile s':>10} {'run s':>10} {'run / first row':>16}")
    for name, comp, run, ratio, scaled in rows:
        mark = "*" if scaled else " "
        print(f"{name:<36} {comp:>10.2f} {run:>9.3f}{mark} {ratio:>15.3g}x")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--points", type=int, default=10_000)
    parser.add_argument("--loop-points", type=int, default=200)
    parser.add_argument("--k", type=int, default=5)
    parser.add_argument("--lanczos-steps", type=int, default=80)
    parser.add_argument("--samples", type=int, default=256)
    args = parser.parse_args(argv)

    print(f"jax {jax.__version__}, devices {jax.devices()}, default float32")
    rows, diff = bench_batched(args.points, args.loop_points)
    print_table(f"Dense Hessian + eigh of {args.points} XOR 2-2-1 points (9 params each)", rows)
    print(f"* loop timed on {args.loop_points} points and scaled x{args.points / args.loop_points:g} "
          f"to {args.points}; 'compile s' = first call minus a warm call (for loops: of the subset).")
    print(f"  max |eigenvalue difference| batched vs loop: {diff:.2e}")

    rows, n, rel_top, rel_bot, exact = bench_lanczos(args.k, args.lanczos_steps, args.samples)
    print_table(f"Extreme eigenvalues, MLP [10, 50, 50, 1] ({n} params, {args.samples} samples)", rows)
    print(f"  Lanczos error / max|lambda|: largest {rel_top:.1e}, smallest {rel_bot:.1e} "
          f"(spectrum in [{exact[0]:.3g}, {exact[-1]:.3g}])")


if __name__ == "__main__":
    main()

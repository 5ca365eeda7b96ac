"""How the clustering of a census grows with the run count (issue 14, item 5).

XOR 2-2-1 logistic networks, mean squared error, float32 gradient descent (lr 0.5, N(0, 1)
starts, 20,000 steps), trained once for the largest run count with ``train_many``; each smaller count takes the
first runs (a run's result does not depend on the others); runs still moving (final gradient
norm above ``--grad-tol``) are set apart first, as ``cluster_runs`` does. For each count the stages are timed:

- ``canonical``: :func:`landscape.minima.flat_centered` (canonical forms modulo the group);
- ``outputs``: :func:`landscape.minima.function_outputs` on the four XOR inputs;
- ``relu``: :func:`landscape.minima.normalized_params` and :func:`landscape.minima.flat_centered`
  of the same params read as a ReLU 2-2-1 network (positive rescaling quotiented out);
- ``compiles``: XLA compilations (count and seconds, JAX's persistent cache off) during the
  ``canonical``, ``outputs`` and ``relu`` stages: each run count is a new batch shape;
- ``census``: the whole :func:`landscape.minima.census` (``classify=False``: loss and gradient,
  clusters, orbit merge, unit structures) of the first ``n - 1`` of those runs (a batch size no
  stage has compiled for), and ``census compiles``: what a census of a new batch size compiles;
- ``hierarchy(param)``: :func:`landscape.minima.hierarchy.hierarchy` of the canonical forms,
  split into its parts: collapsing bit-identical rows (``np.unique``), the exact single-linkage
  tree of the distinct points (dense Prim up to ``DENSE_MAX`` points, else the KD-tree Boruvka
  algorithm), and the cuts;
- ``groups_and_classes``: function-space groups, then parameter-space classes in each group.

No stage forms the ``n x n`` distances: the tree takes one KD-tree k-nearest-neighbour query and
KD-tree queries per Boruvka round (memory linear in the points); ``peak MB`` is the largest
NumPy allocation traced (``tracemalloc``) during ``hierarchy(param)``. The slope of log(time)
against log(n) says how the time grows.

Run from the repository root::

    python benchmarks/bench_census.py                    # 10k, 30k, 100k runs (~8 minutes)
    python benchmarks/bench_census.py --quick            # 2k, 5k, 10k runs, 300 steps
"""

from __future__ import annotations

import argparse
import importlib
import time
import tracemalloc

import jax
import numpy as np
import optax

import landscape as ls
from landscape import minima

hy = importlib.import_module("landscape.minima.hierarchy")  # the module (minima.hierarchy is the function)


def train(n_runs: int, steps: int):
    model = ls.mlp([2, 2, 1])
    data = ls.datasets.xor()
    t0 = time.perf_counter()
    r = ls.train_many(ls.objectives.loss(model, "mse"), ls.inits.normal(model, 1.0),
                      optax.sgd(0.5), data, key=jax.random.key(0), n_runs=n_runs, steps=steps,
                      record_every=steps, progress=False)
    return model, data, r, time.perf_counter() - t0


def clock(fn):
    t0 = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - t0


COMPILES = []
"""Seconds of each XLA compilation since the last clear (JAX's compile-duration event)."""


def _count_compiles(event, seconds, **_):
    if event == "/jax/core/compile/backend_compile_duration":
        COMPILES.append(seconds)


def stages(model, data, params, settled, n):
    """Seconds of each stage on the settled runs among the first ``n``, and what the hierarchy
    found."""
    keep = np.flatnonzero(settled[:n])
    sub = jax.tree.map(lambda a: a[keep], params)
    n = keep.size
    COMPILES.clear()
    canon, t_canon = clock(lambda: minima.flat_centered(sub, model=model))
    out, t_out = clock(lambda: np.asarray(minima.function_outputs(sub, data.x, model=model)))
    relu = ls.mlp([2, 2, 1], activation="relu")
    _, t_relu = clock(lambda: (jax.block_until_ready(minima.normalized_params(sub, model=relu)),
                               minima.flat_centered(sub, model=relu)))
    compiles = (len(COMPILES), sum(COMPILES))
    COMPILES.clear()
    fresh = jax.tree.map(lambda a: a[:-1], sub)  # a batch size nothing has compiled for yet
    _, t_census = clock(lambda: minima.census(ls.objectives.loss(model, "mse"), fresh, data,
                                              model=model, classify=False))
    census_compiles = (len(COMPILES), sum(COMPILES))
    out = out.reshape(n, -1) / np.sqrt(out.shape[-2] * out.shape[-1])
    dt = np.float32  # the runs' dtype: it sets the rounding floor (flat_centered gives float64)
    (distinct, inverse, mult), t_unique = clock(
        lambda: np.unique(canon + 0.0, axis=0, return_inverse=True, return_counts=True))
    (_, method), t_tree = clock(lambda: hy._tree(distinct, "auto"))
    h, t_hier = clock(lambda: hy.hierarchy(canon, dtype=dt))
    tracemalloc.start()  # a second, untimed call (tracing slows NumPy down)
    hy.hierarchy(canon, dtype=dt)
    peak = tracemalloc.get_traced_memory()[1] / 2**20
    tracemalloc.stop()
    gc, t_gc = clock(lambda: hy.groups_and_classes(out, canon, dtype=dt))
    return {"n": n, "distinct": h.n_distinct, "method": method, "canonical": t_canon,
            "outputs": t_out, "relu": t_relu, "compiles": f"{compiles[0]} ({compiles[1]:.2f} s)",
            "census": t_census, "census compiles": f"{census_compiles[0]} ({census_compiles[1]:.2f} s)", "unique": t_unique, "tree": t_tree,
            "cuts": max(t_hier - t_unique - t_tree, 0.0), "hierarchy": t_hier, "peak_mb": peak,
            "groups_and_classes": t_gc, "counts": h.counts, "n_groups": gc.n_groups,
            "n_classes": gc.n_classes.tolist(), "describe": h.describe()}


def slope(ns, secs):
    return float(np.polyfit(np.log(ns), np.log(np.maximum(secs, 1e-9)), 1)[0])


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="2k, 5k, 10k runs, 300 steps")
    parser.add_argument("--sizes", default=None, help="comma-separated run counts")
    parser.add_argument("--steps", type=int, default=None, help="training steps (default 20000)")
    parser.add_argument("--grad-tol", type=float, default=1e-3,
                        help="runs with a final gradient norm above it are moving: set apart, as "
                             "cluster_runs does (a few runs in transit chain basins together)")
    args = parser.parse_args(argv)
    ls.parallel.use_host_cores()
    jax.config.update("jax_enable_compilation_cache", False)  # count every compilation
    jax.monitoring.register_event_duration_secs_listener(_count_compiles)
    sizes = [int(s) for s in args.sizes.split(",")] if args.sizes else (
        [2000, 5000, 10_000] if args.quick else [10_000, 30_000, 100_000])
    steps = args.steps or (300 if args.quick else 20_000)
    print(f"jax {jax.__version__}, backend {jax.default_backend()}, {jax.device_count()} devices")
    model, data, r, t_train = train(max(sizes), steps)
    settled = (np.asarray(r.status) == 0) & (np.asarray(r.grad_norm) < args.grad_tol)
    print(f"train_many: {max(sizes)} runs x {steps} steps in {t_train:.1f} s; "
          f"{settled.sum()} settled (gradient norm < {args.grad_tol:g}); the stages below use "
          "the settled runs among the first N (n = how many)")
    rows = [stages(model, data, r.params, settled, n) for n in sizes]
    cols = ["n", "distinct", "method", "canonical", "outputs", "relu", "compiles", "census",
            "census compiles", "unique", "tree", "cuts",
            "hierarchy", "groups_and_classes", "peak_mb"]
    print(" ".join(f"{c:>18}" for c in cols))
    for row in rows:
        print(" ".join(f"{row[c]:>18.3f}" if isinstance(row[c], float) else f"{row[c]!s:>18}"
                       for c in cols))
    ns = [row["n"] for row in rows]
    print("log-log slope of time against n: " + ", ".join(
        f"{c} {slope(ns, [row[c] for row in rows]):.2f}"
        for c in ("canonical", "unique", "tree", "hierarchy", "groups_and_classes")))
    last = rows[-1]
    print(f"\nat n = {last['n']}: levels {last['counts']}; {last['n_groups']} function groups, "
          f"classes per group {last['n_classes']}")
    print(last["describe"])


if __name__ == "__main__":
    main()

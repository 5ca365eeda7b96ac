"""How ``train_many``'s time grows with runs, steps and width: log-log slopes (issue 8).

XOR 2-H-1 logistic networks, mean squared error, float32 gradient descent (lr 0.5, N(0, 1)
starts), the fast run-axis-last path, spread over one CPU device per core
(``landscape.parallel.use_host_cores``, as the ``landscape`` command does). Three sweeps from a base of 10,000 runs x 2,000 steps,
H = 2: the number of runs, the number of steps, and the hidden width H. Each point is the best of
``--repeats`` warm calls of one ``train_many`` (compilation excluded: one untimed call first).
The slope of log(time) against log(size) over the upper half of each sweep says how time grows
once the machine is full: near 1 in runs and steps means the cost per run-step is constant.
Last, the base case in float32 against float64 (the same program with 64-bit floats).

Run from the repository root::

    python benchmarks/bench_scaling.py            # a few minutes on 2 cores
    python benchmarks/bench_scaling.py --quick    # scaled-down, seconds
    python benchmarks/bench_scaling.py --sweeps width   # only the width sweep (H = 2 .. 256)
"""

from __future__ import annotations

import argparse
import os

import jax
import jax.numpy as jnp
import numpy as np
import optax

import landscape as ls
from _timing import timed


def time_training(n_runs: int, steps: int, hidden: int, repeats: int, dtype=jnp.float32) -> float:
    """Best warm seconds of ``train_many`` on ``n_runs`` XOR 2-``hidden``-1 nets, ``steps`` steps."""
    model = ls.mlp([2, hidden, 1])
    loss_fn, init_fn = ls.objectives.loss(model, "mse"), ls.inits.normal(model, 1.0, dtype=dtype)
    optimizer, data = optax.sgd(0.5), ls.datasets.xor(dtype=dtype)

    def call():
        return ls.train_many(loss_fn, init_fn, optimizer, data, key=jax.random.key(0),
                             n_runs=n_runs, steps=steps, progress=False).losses
    return timed(call, repeats)[1]


def slope(sizes, seconds) -> float:
    """Least-squares slope of log(seconds) on log(sizes) over the upper half of the points."""
    half = len(sizes) // 2
    return float(np.polyfit(np.log(sizes[half:]), np.log(seconds[half:]), 1)[0])


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="scaled-down sizes (seconds)")
    parser.add_argument("--repeats", type=int, default=3, help="warm calls per point (best kept)")
    parser.add_argument("--sweeps", default="runs,steps,width,dtype",
                        help="comma-separated subset of runs,steps,width,dtype")
    args = parser.parse_args(argv)
    ls.parallel.use_host_cores()  # one CPU device per usable core, before JAX starts
    base_runs, base_steps = (1000, 200) if args.quick else (10_000, 2000)
    sweeps = {
        "runs": [base_runs * f for f in (1, 2, 4, 8, 16)] if args.quick
        else [1000, 2500, 5000, 10_000, 20_000, 40_000, 80_000],
        "steps": [base_steps * f for f in (1, 2, 4, 8)] if args.quick
        else [250, 500, 1000, 2000, 4000, 8000],
        "width": [2, 4, 8, 16] if args.quick else [2, 4, 8, 16, 32, 64, 128, 256],
    }
    chosen = [n for n in args.sweeps.split(",") if n]
    if set(chosen) - {*sweeps, "dtype"}:
        parser.error(f"--sweeps {args.sweeps!r}: expected a subset of runs,steps,width,dtype")
    sweeps = {name: sizes for name, sizes in sweeps.items() if name in chosen}
    print(f"jax {jax.__version__} on {jax.default_backend()}, {len(jax.devices())} device(s), "
          f"{os.cpu_count()} CPUs, load average {os.getloadavg()}; base {base_runs:,} runs x "
          f"{base_steps:,} steps, H = 2", flush=True)
    for name, sizes in sweeps.items():
        seconds = []
        for size in sizes:
            runs, steps, hidden = base_runs, base_steps, 2
            if name == "runs":
                runs = size
            elif name == "steps":
                steps = size
            else:
                hidden = size
            seconds.append(time_training(runs, steps, hidden, args.repeats))
            print(f"  {name:5s} {size:7,}: {seconds[-1]:8.3f} s  "
                  f"{runs * steps / seconds[-1]:10.3g} run-steps/s", flush=True)
        print(f"{name}: log-log slope {slope(np.array(sizes), np.array(seconds)):.2f} "
              f"(upper half of {sizes[0]:,}..{sizes[-1]:,}; the useful FLOPs of a run-step grow "
              f"in proportion to each: 56 H on XOR 2-H-1)", flush=True)
    if "dtype" not in chosen:
        return
    f32 = time_training(base_runs, base_steps, 2, args.repeats)
    with jax.enable_x64(True):
        f64 = time_training(base_runs, base_steps, 2, args.repeats, jnp.float64)
    print(f"dtype: float32 {f32:.3f} s, float64 {f64:.3f} s ({f64 / f32:.2f}x the float32 time)")
    print(f"load average at the end: {os.getloadavg()}")


if __name__ == "__main__":
    main()

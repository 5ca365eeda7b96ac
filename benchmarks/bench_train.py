"""Speed and memory of ``train_many`` against baselines, all run in this one process.

Cases (issue 2, deliverable 11), float32, full-batch gradient descent, mean squared error:

- ``xor221``: XOR 2-2-1 sigmoid/sigmoid, lr 0.5, N(0, 1) starts, 10,000 runs x 2,000 steps;
- ``xor281``: XOR 2-8-1 likewise;
- ``ts``: teacher-student 10-32-1 tanh/linear on 256 Gaussian samples (the teacher is a random
  10-32-1 tanh net), LeCun starts, lr 0.05, 1,000 runs x 500 steps;
- ``options``: the training programs of the flagship's chunk and of XOR 2-2-1 and 2-8-1
  (10,000 x 2,000) compiled under each cheap compile lever (:data:`COMPILE_VARIANTS`): compile
  CPU seconds, steady run seconds, ratios to the default in interleaved rounds, bit-equality;
- ``memory`` (deliverable 8): 100,000 XOR 2-2-1 runs x 2,000 steps with the loss recorded at
  every step, run chunk by chunk through ``plan_training(...).run_chunk(c)``, each chunk's
  history written to disk and dropped, with the default chunk size and with 4,096 runs per
  chunk; the peak resident memory is compared with the size of the whole history.

Rows per case: ``train_many`` on its fast path (``method="batched"``, run axis last) and on the
generic path (``method="vmap"``), on all host devices (``landscape.parallel.use_host_cores()``,
as the ``landscape`` command does) and again on one of them; with ``--devices 1`` the process
is a plain script instead (one CPU device, no ``use_host_cores()``: what most library users
get), where a chunk is trained in concurrent groups from host threads, and the "1 group" row
is the same call with one group a chunk (the path before the groups); and three baselines doing the same training from the same
starts: (a) a Python loop over runs and steps calling a jitted one-step update (timed on a few
runs and steps, scaled up: marked "scaled"), (a') a Python loop over runs calling a jitted
single-run ``lax.scan`` (timed on a subset of runs, scaled), (b) ``jit(vmap(scan))`` over a flat
parameter vector with default compiler settings, and for the XOR cases (c) a hand-written fused C
kernel (``benchmarks/c_kernel.py``, built with the system's gcc, OpenMP over the cores; the row is
left out where gcc is missing).

Columns: ``compile`` = first call minus a steady call for ``train_many`` (tracing and XLA
compilation), ``.lower().compile()`` for the baselines; ``time`` = best steady call
(``jax.block_until_ready``); ``run-steps/s`` = runs x steps / time; ``GFLOP/s`` and ``%peak``
use the flop count printed with the table and the float32 peak of a large matmul measured
here (at the start and at the end: the higher is used); ``peak MB`` = the largest increase of
this process's resident memory (RSS, sampled every 2 ms from /proc/self/statm) during the
steady call; ``x(a)``, ``x(a')``, ``x(b)`` = baseline time / this row's time.

Usage::

    python benchmarks/bench_train.py              # the full cases (several minutes on 2 cores)
    python benchmarks/bench_train.py --quick      # scaled-down sizes, well under a minute
    python benchmarks/bench_train.py --cases xor221,memory --json out.json
    python benchmarks/bench_train.py --devices 1 --cases xor221,xor281,ts   # a plain script
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import os
import platform
import resource
import tempfile
import threading
import time
from typing import Callable

import jax
import jax.numpy as jnp
import numpy as np
import optax
from jax.flatten_util import ravel_pytree

import c_kernel
from _hlo import compile_cost
import landscape as ls

CASES = ("xor221", "xor281", "ts", "cnn", "compile", "options", "memory", "million", "groups")
XA, XA1, XB, XC, XD = "x(a)", "x(a')", "x(b)", "x(c)", "x(d)"   # ratio columns: baseline / row time


# ----------------------------------------------------------------------------- measuring

class PeakRSS:
    """Largest increase of this process's resident set size inside a ``with`` block (bytes).

    A thread samples ``/proc/self/statm`` every ``interval`` seconds (Linux); elsewhere it
    falls back to the growth of ``ru_maxrss``, which only sees new process-wide peaks.
    """

    def __init__(self, interval: float = 0.002):
        self.interval = interval
        self.peak = 0
        self._page = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096
        self._proc = os.path.exists("/proc/self/statm")

    def _rss(self) -> int:
        if self._proc:
            with open("/proc/self/statm") as f:
                return int(f.read().split()[1]) * self._page
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024

    def _watch(self):
        while not self._stop.is_set():
            self._max = max(self._max, self._rss())
            self._stop.wait(self.interval)

    def __enter__(self):
        self._start = self._max = self._rss()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()
        self._max = max(self._max, self._rss())
        self.peak = self._max - self._start


def timed(fn: Callable, repeats: int):
    """``(best seconds, result, peak RSS increase in bytes)`` over ``repeats`` calls."""
    best, out, peak = math.inf, None, 0
    for _ in range(repeats):
        with PeakRSS() as mem:
            t = time.perf_counter()
            out = jax.block_until_ready(fn())
            dt = time.perf_counter() - t
        best, peak = min(best, dt), max(peak, mem.peak)
    return best, out, peak


def matmul_peak(n: int = 2048, repeats: int = 10) -> float:
    """Float32 FLOP/s of the best of ``repeats`` jitted ``n x n`` matmuls (all CPUs used).

    Measured at the start and again at the end of the script; the best of both is the peak
    (other processes on the machine lower it).
    """
    a = jax.random.normal(jax.random.key(0), (n, n), jnp.float32)
    b = jax.random.normal(jax.random.key(1), (n, n), jnp.float32)
    f = jax.jit(jnp.matmul)
    jax.block_until_ready(f(a, b))
    best = min(timed(lambda: f(a, b), 1)[0] for _ in range(repeats))
    return 2 * n**3 / best


def flops_per_run_step(sizes, n_samples: int) -> int:
    """Forward + backward flops of one full-batch step of one MLP (multiply-add = 2 flops).

    forward 2*N*sum_l n_l*n_{l+1}; weight gradients the same; input gradients of layers
    l >= 1 (the first layer's input gradient is not needed) 2*N*sum_{l>=1} n_l*n_{l+1}.
    Activations, biases, the loss and the update are not counted.
    """
    macs = [a * b for a, b in zip(sizes[:-1], sizes[1:])]
    return 2 * n_samples * (2 * sum(macs) + sum(macs[1:]))


FLOP_FORMULA = ("flops per run-step = 2*N*(2*sum_l n_l*n_{l+1} + sum_{l>=1} n_l*n_{l+1}), "
                "N samples, multiply-add = 2 (forward, weight grads, hidden input grads; "
                "activations/bias/update not counted)")


# ----------------------------------------------------------------------------- cases

@dataclasses.dataclass
class Case:
    name: str
    sizes: list
    activation: str
    output: str
    data: ls.Dataset
    init: str
    lr: float
    n_runs: int
    steps: int
    a_runs: int       # (a): runs and steps actually timed
    a_steps: int
    a1_runs: int      # (a'): runs actually timed

    def build(self):
        model = ls.mlp(self.sizes, activation=self.activation, output=self.output)
        loss_fn = ls.objectives.loss(model, "mse")
        init_fn = ls.inits.normal(model, 1.0) if self.init == "normal" else ls.inits.lecun(model)
        return model, loss_fn, init_fn


def make_cases(quick: bool) -> dict[str, Case]:
    xor = ls.datasets.xor()
    teacher = ls.mlp([10, 32, 1], activation="tanh", output="linear")
    ts, _ = ls.datasets.teacher_student(jax.random.key(7), teacher, n_samples=256)
    if quick:
        return {
            "xor221": Case("xor221", [2, 2, 1], "sigmoid", "sigmoid", xor, "normal", 0.5, 1000, 200, 2, 50, 20),
            "xor281": Case("xor281", [2, 8, 1], "sigmoid", "sigmoid", xor, "normal", 0.5, 1000, 200, 2, 50, 20),
            "ts": Case("ts", [10, 32, 1], "tanh", "linear", ts, "lecun", 0.05, 128, 50, 2, 20, 4),
        }
    return {
        "xor221": Case("xor221", [2, 2, 1], "sigmoid", "sigmoid", xor, "normal", 0.5, 10_000, 2000, 3, 1000, 100),
        "xor281": Case("xor281", [2, 8, 1], "sigmoid", "sigmoid", xor, "normal", 0.5, 10_000, 2000, 3, 1000, 100),
        "ts": Case("ts", [10, 32, 1], "tanh", "linear", ts, "lecun", 0.05, 1000, 500, 3, 100, 20),
    }


def baselines(case: Case, loss_fn, init_fn, repeats: int) -> list[dict]:
    """Rows (a), (a'), (b): the same training from the same starts, written plainly."""
    x, y = case.data
    starts = ls.initial_params(init_fn, jax.random.key(0), np.arange(case.n_runs))
    flat0 = jax.vmap(lambda p: ravel_pytree(p)[0])(starts)          # (runs, n_params)
    unravel = ravel_pytree(jax.tree.map(lambda a: a[0], starts))[1]
    lr = case.lr

    def loss(theta, x, y):
        return loss_fn(unravel(theta), (x, y))

    def update(theta, x, y):
        value, g = jax.value_and_grad(loss)(theta, x, y)
        return theta - lr * g, value

    def train_one(theta, x, y):
        def body(t, _):
            t, value = update(t, x, y)
            return t, value
        theta, losses = jax.lax.scan(body, theta, None, length=case.steps)
        return theta, losses

    rows = []
    # (a) Python loop over runs and steps, one jitted step per call.
    step = jax.jit(update)
    jax.block_until_ready(step(flat0[0], x, y))

    def loop_a():
        out = []
        for r in range(case.a_runs):
            theta = flat0[r]
            for _ in range(case.a_steps):
                theta, value = step(theta, x, y)
            out.append(theta)
        return out

    t, _, mem = timed(loop_a, max(repeats, 5))   # short: more repeats against noise
    scale = (case.n_runs * case.steps) / (case.a_runs * case.a_steps)
    rows.append(dict(row="(a) loop runs x steps", time=t * scale, compile=None, peak=mem,
                     note=f"scaled from {case.a_runs} runs x {case.a_steps} steps"))

    # (a') Python loop over runs, one jitted single-run scan per call.
    single = jax.jit(train_one)
    tc = time.perf_counter()
    single = single.lower(flat0[0], x, y).compile()
    compile_a1 = time.perf_counter() - tc

    def loop_a1():
        return [single(flat0[r], x, y) for r in range(case.a1_runs)]

    t, _, mem = timed(loop_a1, repeats)
    rows.append(dict(row="(a') loop runs, jit(scan)", time=t * case.n_runs / case.a1_runs,
                     compile=compile_a1, peak=mem,
                     note=f"scaled from {case.a1_runs} of {case.n_runs} runs"))

    # (b) jit(vmap(scan)) over a flat parameter vector, default compiler settings.
    def all_runs(theta0, x, y):
        theta, _ = jax.vmap(lambda t: jax.lax.scan(
            lambda t, _: (update(t, x, y)[0], None), t, None, length=case.steps))(theta0)
        return theta, jax.vmap(loss, in_axes=(0, None, None))(theta, x, y)

    tc = time.perf_counter()
    vm = jax.jit(all_runs).lower(flat0, x, y).compile()
    compile_b = time.perf_counter() - tc
    jax.block_until_ready(vm(flat0, x, y))
    t, (_, final_b), mem = timed(lambda: vm(flat0, x, y), repeats)
    rows.append(dict(row="(b) jit(vmap(scan)), flat", time=t, compile=compile_b, peak=mem, note="",
                     final=np.asarray(final_b)))

    # (c) the hand-written fused C kernel (XOR 2-H-1 logistic nets only).
    xor_net = (len(case.sizes) == 3 and case.sizes[0] == 2 and case.sizes[2] == 1
               and case.activation == case.output == "sigmoid" and x.shape[0] == 4)
    if xor_net and c_kernel.available():
        packed = c_kernel.pack(starts)
        c_kernel.train(packed.copy(), 1, lr, x, y)               # load the library, warm up
        t, final_c, mem = timed(lambda: c_kernel.train(packed.copy(), case.steps, lr, x, y), repeats)
        rows.append(dict(row="(c) fused C kernel", time=t, compile=None, peak=mem,
                         note="gcc -O3 -march=native -ffast-math -fopenmp",
                         final=final_c[:case.n_runs]))
    torch_row = torch_compile_row(case, starts, repeats)
    if torch_row is not None:
        rows.append(torch_row)
    return rows


def torch_compile_row(case: Case, starts, repeats: int) -> dict | None:
    """(d) the same training in PyTorch, every run at once (batched matmuls over a run axis),
    one ``torch.compile``d step; ``None`` (with a line saying so) when torch is missing."""
    try:
        import torch
    except ImportError:
        print("    (d) torch.compile: skipped, torch is not installed "
              "(pip install torch --index-url https://download.pytorch.org/whl/cpu)", flush=True)
        return None
    act = {"sigmoid": torch.sigmoid, "tanh": torch.tanh, "linear": lambda z: z}
    hidden, out = act[case.activation], act[case.output]
    x, y = (torch.from_numpy(np.array(a)) for a in case.data)      # copies: writable
    layers = [(torch.from_numpy(np.array(l["w"])), torch.from_numpy(np.array(l["b"])))
              for l in starts]                                  # w (R, n_l, n_l+1), b (R, n_l+1)

    def losses(params):
        h = x.expand(case.n_runs, *x.shape)
        for i, (w, b) in enumerate(params):
            z = torch.baddbmm(b[:, None, :], h, w)
            h = hidden(z) if i < len(params) - 1 else out(z)
        return ((h - y) ** 2).mean(dim=(1, 2))

    def step(params):
        flat = [t for wb in params for t in wb]
        grads = torch.autograd.grad(losses(params).sum(), flat)
        new = [t - case.lr * g for t, g in zip(flat, grads)]
        return [(new[2 * i].detach().requires_grad_(), new[2 * i + 1].detach().requires_grad_())
                for i in range(len(params))]

    compiled = torch.compile(step)

    def train():
        params = [(w.clone().requires_grad_(), b.clone().requires_grad_()) for w, b in layers]
        for _ in range(case.steps):
            params = compiled(params)
        return losses(params).detach().numpy()

    tc = time.perf_counter()
    compiled([(w.clone().requires_grad_(), b.clone().requires_grad_()) for w, b in layers])
    compile_d = time.perf_counter() - tc
    t, final, mem = timed(train, repeats)
    return dict(row="(d) torch.compile", time=t, compile=compile_d, peak=mem,
                note=f"torch {torch.__version__}, {torch.get_num_threads()} threads", final=final)


def row_name(method: str, devices, one_group: bool) -> str:
    """``"train_many batched"`` on all devices, ``"... 1 of 2 devices"``, ``"... 1 device"`` in a
    one-device process, ``", 1 group"`` appended for one group a chunk."""
    n = len(jax.devices())
    where = " 1 device" if n == 1 else f" 1 of {n} devices" if devices == 1 else ""
    return f"train_many {method}{where}" + (", 1 group" if one_group else "")


def train_call(case: Case, loss_fn, init_fn, one_group: bool = False, **options) -> Callable:
    """``() -> train_many(...)`` of ``case`` (``options``: ``train_many``'s); ``one_group``: every
    chunk in one call (``parallel.concurrent_calls`` set to 1: the path before the groups)."""
    optimizer = optax.sgd(case.lr)   # one object: the second call reuses the compiled program
    kwargs = dict(key=jax.random.key(0), n_runs=case.n_runs, steps=case.steps, progress=False,
                  **options)

    def call():
        if not one_group:
            return ls.train_many(loss_fn, init_fn, optimizer, case.data, **kwargs)
        saved = ls.parallel.concurrent_calls
        ls.parallel.concurrent_calls = lambda n_devices: 1
        try:
            return ls.train_many(loss_fn, init_fn, optimizer, case.data, **kwargs)
        finally:
            ls.parallel.concurrent_calls = saved

    return call


def ours(case: Case, loss_fn, init_fn, method: str, repeats: int, devices=None,
         one_group: bool = False) -> dict:
    """``train_many``'s row; ``one_group``: every chunk in one call (no concurrent groups)."""
    call = train_call(case, loss_fn, init_fn, one_group, method=method, devices=devices)

    t0 = time.perf_counter()
    call()
    first = time.perf_counter() - t0
    t, result, mem = timed(call, repeats)
    return dict(row=row_name(method, devices, one_group), time=t, compile=max(first - t, 0.0), peak=mem, note="",
                final=result.final_loss)


def run_case(case: Case, repeats: int, with_baselines: bool) -> list[dict]:
    model, loss_fn, init_fn = case.build()
    rows = [ours(case, loss_fn, init_fn, m, repeats) for m in ("batched", "vmap")]
    if len(jax.devices()) > 1:   # the same program on one of the host devices, for comparison
        rows.append(ours(case, loss_fn, init_fn, "batched", repeats, devices=1))
    elif ls.parallel.concurrent_calls(1) > 1:   # the plain script's path before the groups
        rows.append(ours(case, loss_fn, init_fn, "batched", repeats, one_group=True))
    base = baselines(case, loss_fn, init_fn, repeats) if with_baselines else []
    flops = flops_per_run_step(case.sizes, case.data.x.shape[0])
    ref = {r["row"][:4].strip(): r["time"] for r in base}   # "(a)", "(a')", "(b)", "(c)", "(d)"
    final_b = next((r["final"] for r in base if "final" in r), None)
    for r in rows + base:
        r["case"] = case.name
        r["shape"] = f"{case.n_runs} x {case.steps}"
        r["run_steps_per_s"] = case.n_runs * case.steps / r["time"]
        r["gflops"] = r["run_steps_per_s"] * flops / 1e9
        r["flops_per_run_step"] = flops
        for k, v in ref.items():
            r["x" + k] = v / r["time"]
        if final_b is not None and "final" in r and not r["row"].startswith("(b)"):
            rel = np.abs(r["final"] - final_b) / np.maximum(np.abs(final_b), 1e-30)
            r["max_rel_diff_vs_b"] = float(np.nanmax(rel))
        r.pop("final", None)
    return rows + base


def cnn_functions(x):
    """Issue 16's CNN as a Flax linen model: 3x3 conv (1 -> 4 channels), tanh, mean over the
    image, dense 4 -> 1 (45 parameters); ``(init_fn, loss_fn)`` for images like ``x``."""
    import flax.linen as nn

    class CNN(nn.Module):
        @nn.compact
        def __call__(self, x):
            h = jnp.tanh(nn.Conv(4, (3, 3))(x)).mean(axis=(1, 2))
            return nn.Dense(1)(h)[:, 0]

    model = CNN()
    return (lambda key: model.init(key, x[:1]),
            lambda p, data: jnp.mean((model.apply(p, data[0]) - data[1]) ** 2))


def cnn_case(quick: bool, repeats: int) -> list[dict]:
    """Issue 16's 45-parameter Flax CNN on 64 random 8x8 images: ``train_many`` (generic path)
    against (a') a Python loop of jitted single-run scans, from the same starts, lr 0.1."""
    n_runs, steps = (64, 20) if quick else (64, 100)
    x = jax.random.normal(jax.random.key(1), (64, 8, 8, 1))
    data = (x, jnp.sin(x.sum(axis=(1, 2, 3))))
    cnn_init, cnn_loss = cnn_functions(x)
    optimizer = optax.sgd(0.1)

    def call():
        return ls.train_many(cnn_loss, cnn_init, optimizer, data, key=jax.random.key(0),
                             n_runs=n_runs, steps=steps, progress=False).final_loss

    t0 = time.perf_counter()
    call()
    first = time.perf_counter() - t0
    t, _, mem = timed(call, repeats)
    rows = [dict(row="train_many", time=t, compile=max(first - t, 0.0), peak=mem, note="generic path")]
    starts = ls.initial_params(cnn_init, jax.random.key(0), np.arange(n_runs))

    def train_one(p):
        def body(p, _):
            return jax.tree.map(lambda a, g: a - 0.1 * g, p, jax.grad(cnn_loss)(p, data)), None
        return jax.lax.scan(body, p, None, length=steps)[0]

    one = jax.tree.map(lambda a: a[0], starts)
    tc = time.perf_counter()
    single = jax.jit(train_one).lower(one).compile()
    compile_a1 = time.perf_counter() - tc
    per_run = [jax.tree.map(lambda a, i=i: a[i], starts) for i in range(n_runs)]
    t, _, mem = timed(lambda: [single(p) for p in per_run], repeats)
    rows.append(dict(row="(a') loop runs, jit(scan)", time=t, compile=compile_a1, peak=mem, note=""))
    flops = 3 * 2 * x.shape[0] * 64 * 9 * 4   # the conv, forward and two backward products
    for r in rows:
        r.update(case="cnn", shape=f"{n_runs} x {steps}", flops_per_run_step=flops,
                 run_steps_per_s=n_runs * steps / r["time"])
        r["gflops"] = r["run_steps_per_s"] * flops / 1e9
        r[XA1] = rows[1]["time"] / r["time"]
    return rows


def compile_case(quick: bool, repeats: int) -> list[dict]:
    """The flagship's chunk programs (``landscape run xor_symmetry --smoke``): XOR 2-2-1 from its
    three start kinds (constant 0.5, perturbed by 1e-3, N(0, 1)), 128 runs x 1,000 steps, a loss
    record every 50 steps, 8 trajectories, one after another in this process; ``compile`` is
    the first call minus a steady call. Since the starts are drawn by their own small program,
    the three kinds share one training program: the 2nd and 3rd compile only their init."""
    model = ls.mlp([2, 2, 1])
    const = ls.inits.constant(model, 0.5)
    kinds = {"constant": const, "perturbed": ls.inits.perturbed(const, 1e-3),
             "random": ls.inits.normal(model, 1.0)}
    n_runs, steps = (128, 100) if quick else (128, 1000)
    loss_fn, optimizer = ls.objectives.loss(model, "mse"), optax.sgd(0.5)
    rows = []
    for name, init_fn in kinds.items():
        def call():
            return ls.train_many(loss_fn, init_fn, optimizer, ls.datasets.xor(), key=0,
                                 n_runs=n_runs, steps=steps, record_every=steps // 20,
                                 trajectory_runs=np.arange(8), progress=False).final_loss
        t0 = time.perf_counter()
        call()
        first = time.perf_counter() - t0
        t, _, mem = timed(call, repeats)
        rows.append(dict(row=f"train_many start {name}", time=t, compile=max(first - t, 0.0),
                         peak=mem, note="flagship program, in this order"))
    rows.append(training_program_row(quick))
    flops = flops_per_run_step([2, 2, 1], 4)
    for r in rows:
        r.update(case="compile", shape=f"{n_runs} x {steps}", flops_per_run_step=flops,
                 run_steps_per_s=n_runs * steps / r["time"])
        r["gflops"] = r["run_steps_per_s"] * flops / 1e9
    return rows


def training_program_row(quick: bool) -> dict:
    """The flagship's training program (given starts) compiled alone after ``jax.clear_caches()``:
    the process's CPU seconds of ``.compile()`` and its kernels (``_hlo.kernel_count``)."""
    from landscape.train import program

    spec, inputs = training_programs(quick)["flagship 128 x 1000"]
    jax.clear_caches()
    compiled, seconds, kernels = compile_cost(program._jitted(spec).lower(*inputs))
    t, _, mem = timed(lambda: jax.block_until_ready(compiled(*inputs)), 3)
    return dict(row="training program alone", time=t, compile=seconds, peak=mem,
                note=f"CPU s of .compile(), {kernels} kernels")


COMPILE_VARIANTS = {  # name: XLA CPU compiler options added to the program's
    "default": {},
    "LLVM level 1": {"xla_backend_optimization_level": 1},
    "fusion emitters off": {"xla_cpu_use_fusion_emitters": False},
}
"""Cheap compile levers tried on the training programs (``xla_cpu_use_thunk_runtime`` no longer
exists in jax 0.10; ``xla_cpu_enable_fast_math`` stays off: it changes the numbers). Step
unroll 2, 4 went with session 6's step loop of dynamic trip count (XLA does not unroll it)."""


def training_programs(quick: bool) -> dict:
    """``{name: (spec, inputs)}``: the training programs (given starts) of the flagship's chunk
    (XOR 2-2-1, 128 runs x 1,000 steps, record every 50, 8 trajectories) and of XOR 2-2-1 and
    2-8-1, 10,000 runs x 2,000 steps (``--quick``: 1,000 x 200), with their first group's inputs."""
    from landscape.train import program

    n_runs, steps = (1_000, 200) if quick else (10_000, 2_000)
    jobs = {"flagship 128 x 1000": ([2, 2, 1], 128, 1000, dict(record_every=50, trajectory_runs=np.arange(8))),
            f"xor221 {n_runs} x {steps}": ([2, 2, 1], n_runs, steps, {}),
            f"xor281 {n_runs} x {steps}": ([2, 8, 1], n_runs, steps, {})}
    out = {}
    for name, (sizes, n, t, extra) in jobs.items():
        model = ls.mlp(sizes)
        plan = ls.plan_training(ls.objectives.loss(model, "mse"), ls.inits.normal(model, 1.0),
                                optax.sgd(0.5), ls.datasets.xor(), key=0, n_runs=n, steps=t, **extra)
        inputs, _, _ = plan._group_inputs(*plan.group_bounds(0)[0])
        draw = program._compiled(plan.spec).draw
        inputs = inputs[:5] + (draw(inputs[0], inputs[1]),) + inputs[6:]
        out[name] = (dataclasses.replace(plan.spec, init_fn=None, given_starts=True), inputs)
    return out


def compile_options_case(quick: bool, rounds: int) -> list[dict]:
    """Compile seconds (``.lower().compile()``, the process's CPU seconds, which other processes'
    load disturbs less than wall time) and steady run seconds of each training program of
    :func:`training_programs` under each of :data:`COMPILE_VARIANTS`, in interleaved rounds;
    ratios to "default" are medians of the per-round ratios; every variant's outputs are checked
    equal to the default's bit for bit."""
    import functools

    from landscape.train import program

    jax.config.update("jax_enable_compilation_cache", False)  # every variant really compiles
    per, ref, same = {}, {}, {}
    for _ in range(rounds):
        for name, (spec, inputs) in training_programs(quick).items():
            for variant, extra in COMPILE_VARIANTS.items():
                options = {**ls.parallel.compiler_options(), **ls.parallel.fast_cpu_options(), **extra}
                lowered = jax.jit(functools.partial(program._sharded_program, spec),
                                  compiler_options=options).lower(*inputs)
                compiled, seconds, _ = compile_cost(lowered)
                out = [np.asarray(a) for a in jax.tree.leaves(compiled(*inputs))]
                t, _, _ = timed(lambda: compiled(*inputs), 2)
                ref.setdefault(name, out)
                same[name, variant] = same.get((name, variant), True) and all(
                    np.array_equal(a, b, equal_nan=True) for a, b in zip(ref[name], out))
                per.setdefault((name, variant), []).append((seconds, t))
    rows = []
    for (name, variant), v in per.items():
        base = per[name, "default"]
        ratio = lambda i: float(np.median([a[i] / b[i] for a, b in zip(v, base)]))  # noqa: E731
        rows.append(dict(case="options", shape=name.split(" ", 1)[1], row=f"{name.split()[0]} {variant}",
                         compile=float(np.median([a[0] for a in v])), time=float(np.median([a[1] for a in v])),
                         peak=0, note=f"compile x{ratio(0):.2f}, run x{ratio(1):.2f}, same numbers "
                                      f"{same[name, variant]}", flops_per_run_step=0, run_steps_per_s=0,
                         gflops=0.0))
    return rows


def memory_case(quick: bool, chunk: int | None) -> dict:
    """100,000 XOR runs with a loss record at every step, chunk by chunk, history to disk.

    ``chunk=None``: ``train_many``'s default chunk size.
    """
    n_runs, steps = (10_000, 200) if quick else (100_000, 2000)
    model = ls.mlp([2, 2, 1])
    plan = ls.plan_training(ls.objectives.loss(model, "mse"), ls.inits.normal(model, 1.0),
                            optax.sgd(0.5), ls.datasets.xor(), key=jax.random.key(0),
                            n_runs=n_runs, steps=steps, record_every=1, chunk_size=chunk)
    n_records = steps + 1
    full = n_runs * n_records * 4
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp, PeakRSS() as mem:
        for c in range(plan.n_chunks):
            part = plan.run_chunk(c)
            np.save(os.path.join(tmp, f"losses_{c:04d}.npy"), part.losses)
            del part
        written = sum(os.path.getsize(os.path.join(tmp, f)) for f in os.listdir(tmp))
    return dict(case="memory", n_runs=n_runs, steps=steps, n_records=n_records,
                chunk_size=plan.chunk_size, n_chunks=plan.n_chunks, seconds=time.perf_counter() - t0,
                full_history_bytes=full, written_bytes=written, peak_rss_increase_bytes=mem.peak,
                ru_maxrss_bytes=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024)


def groups_case(cases: dict[str, Case], rounds: int) -> list[dict]:
    """Concurrent groups against one group a chunk (:func:`train_call`), alternating in this
    process for ``rounds`` rounds per case, after checking that both give the same numbers."""
    out = []
    for case in cases.values():
        _, loss_fn, init_fn = case.build()
        calls = {g: train_call(case, loss_fn, init_fn, one_group=g == 1) for g in (2, 1)}
        first = {g: call() for g, call in calls.items()}
        same = all(np.array_equal(a, b) for a, b in zip(jax.tree.leaves(vars(first[2])),
                                                         jax.tree.leaves(vars(first[1]))))
        times = {2: [], 1: []}
        for _ in range(rounds):
            for g, call in calls.items():
                times[g].append(timed(call, 1)[0])
        ratio = np.array(times[1]) / np.array(times[2])
        out.append(dict(case=case.name, groups_best=min(times[2]), one_group_best=min(times[1]),
                        speedup_median=float(np.median(ratio)), speedup_min=float(ratio.min()),
                        speedup_max=float(ratio.max()), bit_identical=same,
                        n_groups=ls.parallel.concurrent_calls(1)))
    return out


# ----------------------------------------------------------------------------- output

def million_case(quick: bool) -> dict:
    """1,000,000 XOR runs in one ``train_many`` call (chunked inside); peak RSS and result size."""
    n_runs, steps = (100_000, 200) if quick else (1_000_000, 2000)
    model = ls.mlp([2, 2, 1])
    t0 = time.perf_counter()
    with PeakRSS() as mem:
        result = ls.train_many(ls.objectives.loss(model, "mse"), ls.inits.normal(model, 1.0),
                               optax.sgd(0.5), ls.datasets.xor(), key=jax.random.key(0),
                               n_runs=n_runs, steps=steps, progress=False)
    seconds = time.perf_counter() - t0
    arrays = [result.losses, result.status, result.success_step, result.grad_norm,
              *jax.tree.leaves(result.params)]
    return dict(case="million", n_runs=n_runs, steps=steps, n_records=result.losses.shape[1],
                seconds=seconds, result_bytes=sum(np.asarray(a).nbytes for a in arrays),
                peak_rss_increase_bytes=mem.peak, learned=float(np.mean(result.final_loss < 0.05)),
                ru_maxrss_bytes=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024)


def fmt(v, spec):
    """``format(v, spec)``, or a right-aligned "-" of the same width for ``None``."""
    return format("-", ">" + spec.split(".")[0]) if v is None else format(v, spec)


def print_table(rows: list[dict], peaks: tuple[float, float], cpus: int):
    head = (f"{'case':7s} {'runs x steps':13s} {'row':36s} {'compile s':>9s} {'time s':>9s} "
            f"{'run-steps/s':>11s} {'GFLOP/s':>8s} {'%peak':>6s} {'peak MB':>8s} "
            f"{XA:>8s} {XA1:>7s} {XB:>6s} {XC:>6s} {XD:>6s}  note")
    print(head)
    print("-" * len(head))
    for r in rows:
        xa, xa1, xb, xc, xd = r.get(XA), r.get(XA1), r.get(XB), r.get(XC), r.get(XD)
        print(f"{r['case']:7s} {r['shape']:13s} {r['row']:36s} {fmt(r['compile'], '9.2f')} "
              f"{r['time']:9.3f} {r['run_steps_per_s']:11.3g} {r['gflops']:8.2f} "
              f"{r['pct_peak']:6.1f} {r['peak'] / 2**20:8.1f} {fmt(xa, '8.0f')} "
              f"{fmt(xa1, '7.1f')} {fmt(xb, '6.1f')} {fmt(xc, '6.2f')} {fmt(xd, '6.2f')}  {r['note']}")
    print()
    print(f"float32 peak (best 2048x2048 jnp.matmul on the {cpus} CPUs used): {max(peaks) / 1e9:.1f} "
          f"GFLOP/s (measured at the start {peaks[0] / 1e9:.1f}, at the end {peaks[1] / 1e9:.1f})")
    print(FLOP_FORMULA)
    for name in dict.fromkeys(r["case"] for r in rows):
        r = next(r for r in rows if r["case"] == name)
        print(f"  {name}: {r['flops_per_run_step']} flops per run-step")
    diffs = [(r["case"], r["row"], r["max_rel_diff_vs_b"]) for r in rows if "max_rel_diff_vs_b" in r]
    if diffs:
        print("final loss vs (b), max relative difference: "
              + ", ".join(f"{c} {row.removeprefix('train_many ')} {d:.1e}" for c, row, d in diffs))


TARGETS = [  # (case, row, column, at least, what the issue asks)
    ("xor221", "train_many batched", XC, 1 / 1.5, "<= 1.5x the C floor on 2 devices"),
    ("xor221", "train_many batched 1 device", XC, 0.5, "<= 2x the C floor on 1 device"),
    ("xor221", "train_many batched 1 device", XB, 10.0, ">= 10x faster than jit(vmap(scan)), 1 device"),
    ("xor221", "train_many batched", XD, 2.0, ">= 2x faster than torch.compile"),
    ("xor221", "train_many batched", XB, 10.0, ">= 10x faster than default jit(vmap(scan))"),
    ("xor281", "train_many batched", XC, 0.5, "<= 2x the C floor"),
    ("xor281", "train_many batched", XD, 1.5, ">= 1.5x faster than torch.compile"),
    ("ts", "train_many batched", XD, 3.0, ">= 3x faster than torch.compile"),
    ("ts", "train_many batched", "pct_peak", 40.0, ">= 40% of float32 peak"),
    ("cnn", "train_many", XA1, 2.0, ">= 2x faster than the loop of single-run scans"),
]
"""Issue 16's training targets: a row passes when ``row[column] >= at least``."""


def print_targets(rows: list[dict]):
    """Issue 16's targets against this run's numbers: the ratio, PASS or MISS (or why absent)."""
    print("targets (issue 16):")
    for case, row, column, need, text in TARGETS:
        r = next((r for r in rows if r["case"] == case and r["row"] == row), None)
        value = None if r is None else r.get(column)
        verdict = ("not measured" if value is None else
                   f"{value:.3g} (need >= {need:.3g}) {'PASS' if value >= need else 'MISS'}")
        print(f"  {case:7s} {row:36s} {text:48s} {column:8s} {verdict}")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="scaled-down sizes (smoke test)")
    parser.add_argument("--cases", default=",".join(CASES),
                        help=f"comma-separated subset of {','.join(CASES)}")
    parser.add_argument("--repeats", type=int, default=None,
                        help="steady calls timed per row (best kept); default 3, quick 2")
    parser.add_argument("--no-baselines", action="store_true", help="only time train_many")
    parser.add_argument("--cpus", type=int, default=None,
                        help="pin this process to the first N CPUs before JAX starts (Linux); "
                             "XLA then sizes its thread pool, and splits its loops, for N")
    parser.add_argument("--devices", choices=("all", "1"), default="all",
                        help="all: one JAX device per usable core (use_host_cores, as the landscape "
                             "command does); 1: a plain script's single CPU device")
    parser.add_argument("--json", metavar="PATH", help="also write the results as JSON")
    args = parser.parse_args(argv)
    if args.cpus is not None:
        if not hasattr(os, "sched_setaffinity") or not 1 <= args.cpus <= len(os.sched_getaffinity(0)):
            parser.error(f"--cpus {args.cpus}: expected 1..{len(os.sched_getaffinity(0))} on Linux")
        os.sched_setaffinity(0, sorted(os.sched_getaffinity(0))[: args.cpus])
    if args.devices == "all":
        ls.parallel.use_host_cores()  # one CPU device per usable core, before JAX starts
    names = [c for c in args.cases.split(",") if c]
    unknown = [c for c in names if c not in CASES]
    if unknown:
        parser.error(f"--cases: unknown {unknown}; expected a subset of {list(CASES)}")
    repeats = args.repeats or (2 if args.quick else 3)

    load0 = os.getloadavg() if hasattr(os, "getloadavg") else None
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    print(f"jax {jax.__version__} on {jax.default_backend()} ({jax.devices()[0].device_kind}), "
          f"{cpus} of {os.cpu_count()} CPUs, {len(jax.devices())} JAX devices, python {platform.python_version()}, load average {load0}"
          + (" [--quick: scaled-down sizes]" if args.quick else ""), flush=True)
    peak_start = matmul_peak()
    cases = make_cases(args.quick)
    rows = []
    for name in names:
        if name in cases:
            print(f"... {name}", flush=True)
            rows += run_case(cases[name], repeats, not args.no_baselines)
    if "cnn" in names:
        print("... cnn", flush=True)
        rows += cnn_case(args.quick, repeats)
    if "compile" in names:
        print("... compile", flush=True)
        rows += compile_case(args.quick, repeats)
    if "options" in names:
        print("... options", flush=True)
        rows += compile_options_case(args.quick, max(repeats - 1, 2))
    mem = []
    if "memory" in names:
        print("... memory", flush=True)
        chunks = (2_000, 500) if args.quick else (None, 4_096)
        mem = [memory_case(args.quick, chunk) for chunk in chunks]
    million = None
    groups = []
    if "groups" in names:
        print("... groups", flush=True)
        groups = groups_case(cases, max(repeats, 5))
    if "million" in names:
        print("... million", flush=True)
        million = million_case(args.quick)
    peak_end = matmul_peak()
    peak = max(peak_start, peak_end)
    for r in rows:
        r["pct_peak"] = 100 * r["gflops"] * 1e9 / peak

    if rows:
        print()
        print_table(rows, (peak_start, peak_end), cpus)
        print_targets(rows)
    if mem:
        m = mem[0]
        print()
        print(f"memory: {m['n_runs']:,} XOR 2-2-1 runs x {m['steps']:,} steps, record_every=1 "
              f"({m['n_records']:,} records): full history {m['full_history_bytes'] / 2**20:,.0f} MiB; "
              f"chunk by chunk via plan.run_chunk, each chunk's history written to disk and dropped"
              + (" [--quick: too small to show the bound]" if args.quick else ""))
        for m, chunk in zip(mem, chunks):
            print(f"  {m['n_chunks']:3d} chunks of {m['chunk_size']:6,} runs"
                  f"{' (the default)' if chunk is None else ' (chunk_size)  '}: peak RSS increase "
                  f"{m['peak_rss_increase_bytes'] / 2**20:5,.0f} MiB "
                  f"({100 * m['peak_rss_increase_bytes'] / m['full_history_bytes']:3.0f}% of the full "
                  f"history), {m['written_bytes'] / 2**20:,.0f} MiB written, {m['seconds']:.1f} s")
        print(f"  process ru_maxrss (whole script so far) {mem[-1]['ru_maxrss_bytes'] / 2**20:,.0f} MiB")
    for g in groups:
        print(f"groups {g['case']:7s}: {g['n_groups']} concurrent groups {g['groups_best']:.3f} s, one "
              f"group {g['one_group_best']:.3f} s (best of the rounds); speed-up per round median "
              f"{g['speedup_median']:.2f}x ({g['speedup_min']:.2f}-{g['speedup_max']:.2f}); "
              f"bit-identical: {g['bit_identical']}")
    if million:
        m = million
        print()
        print(f"million: {m['n_runs']:,} XOR 2-2-1 runs x {m['steps']:,} steps in one train_many call "
              f"({m['n_records']} records per run): {m['seconds']:.1f} s, peak RSS increase "
              f"{m['peak_rss_increase_bytes'] / 2**20:,.0f} MiB for a {m['result_bytes'] / 2**20:,.0f} MiB "
              f"result; {100 * m['learned']:.1f}% of runs end below loss 0.05")
    load1 = os.getloadavg() if hasattr(os, "getloadavg") else None
    print(f"load average at the end: {load1}")
    if args.json:
        out = dict(jax=jax.__version__, backend=jax.default_backend(), cpus=cpus,
                   quick=args.quick, load_start=load0, load_end=load1, peak_flops=peak,
                   peak_flops_start=peak_start, peak_flops_end=peak_end,
                   flop_formula=FLOP_FORMULA, rows=rows, memory=mem, million=million,
                   groups=groups)
        with open(args.json, "w") as f:
            json.dump(out, f, indent=1, default=float)


if __name__ == "__main__":
    main()

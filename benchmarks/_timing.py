"""Timing helper shared by the benchmark scripts (run them from the repository root)."""

import time

import jax


def timed(fn, repeats=1):
    """(seconds of the first call, best seconds of ``repeats`` further calls); each call is
    ended with ``jax.block_until_ready``."""
    t0 = time.perf_counter()
    jax.block_until_ready(fn())
    first = time.perf_counter() - t0
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        jax.block_until_ready(fn())
        best = min(best, time.perf_counter() - t0)
    return first, best

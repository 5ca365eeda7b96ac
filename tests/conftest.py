"""Shared fixtures."""

import os
import jax
import pytest


@pytest.fixture(scope="module")
def x64():
    """Float64 for the whole module that uses it; the default (float32) is restored afterwards,
    so other test files keep the trainer's float32 default. Modules use it with
    ``pytestmark = pytest.mark.usefixtures("x64")``."""
    old = jax.config.jax_enable_x64
    jax.config.update("jax_enable_x64", True)
    yield
    jax.config.update("jax_enable_x64", old)


SWEEP_ARGS = ["run", "xor_train", "--smoke", "--no-progress", "--set", "n_runs=128", "--set", "steps=200",
              "--sweep", "learning_rate=[0.5, 1.0]", "--sweep", "seed=[0, 1]"]
"""A 4-point grid (learning rate x seed) of the xor_train smoke config, 2 chunks per start kind."""


@pytest.fixture(scope="session")
def xor_sweep(tmp_path_factory):
    """``(out, compiles)``: the sweep of ``SWEEP_ARGS`` run through the CLI once per session (per
    pytest-xdist worker that needs it), and per compiled function the XLA compilations it needed
    (``{name: [requests, cache hits]}``). Tests that change the folder work on a copy."""
    from jax import monitoring

    from landscape.lab import cli

    out = tmp_path_factory.mktemp("sweep") / "lr_seed"
    compiles, hit = {}, []

    def on_event(event, **kwargs):
        if event == "/jax/compilation_cache/cache_hits":
            hit.append(True)

    def on_duration(event, duration, **kwargs):
        if event == "/jax/core/compile/backend_compile_duration":
            counts = compiles.setdefault(str(kwargs.get("fun_name")), [0, 0])
            counts[0] += 1
            counts[1] += bool(hit)  # a cache hit is reported inside the compile it served
            hit.clear()

    monitoring.register_event_listener(on_event)
    monitoring.register_event_duration_secs_listener(on_duration)
    old_cache = os.environ.get("XDG_CACHE_HOME")  # a fresh compilation cache: counts start at 0
    os.environ["XDG_CACHE_HOME"] = str(tmp_path_factory.mktemp("cache"))
    try:
        assert cli.main(SWEEP_ARGS + ["--out", str(out)]) == 0
    finally:
        if old_cache is None:
            os.environ.pop("XDG_CACHE_HOME", None)
        else:
            os.environ["XDG_CACHE_HOME"] = old_cache
        monitoring.unregister_event_listener(on_event)
        monitoring.unregister_event_duration_listener(on_duration)
    return out, compiles

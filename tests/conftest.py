"""Shared fixtures."""

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

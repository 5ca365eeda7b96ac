"""Tests for landscape.problems: the known-answer problems have the answers they claim."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import landscape as ls
from landscape import problems
from landscape import symmetry as sy

pytestmark = pytest.mark.usefixtures("x64")  # float64 module-wide (conftest.py)

# Newton-refined critical points have |grad| <= eps^0.75 ~ 2e-12 (curvature.refine's default).
CRITICAL = 1e-10


def test_saddle_example_is_a_strict_saddle_in_the_symmetric_subspace():
    ex = problems.saddle_example()
    assert ex.model.sizes == (1, 2, 1)
    assert float(sy.symmetry_gap(ex.params, model=ex.model)) == 0.0
    grad = ravel_pytree_norm(jax.grad(ex.loss_fn)(ex.params, ex.data))
    assert grad < CRITICAL
    split = sy.symmetry_curvature(ex.loss_fn, ex.params, ex.data)
    assert round(float(split.breaking[0]), 4) == -0.0108
    assert np.all(np.asarray(split.symmetric) > 0)
    for got, want in zip(jax.tree.leaves(sy.to_reduced(ex.params, model=ex.model)),
                         jax.tree.leaves(ex.reduced_params)):
        np.testing.assert_array_equal(got, want)


def test_saddle_example_checks_its_arguments():
    with pytest.raises(ValueError, match="n_samples=3"):
        problems.saddle_example(n_samples=3)
    with pytest.raises(TypeError, match="dtype="):
        problems.saddle_example(dtype=jnp.int32)


def test_xor_symmetric_infimum_is_approached_by_training_inside_the_subspace():
    assert problems.XOR_SYMMETRIC_INFIMUM == {"mse": 1.0 / 6.0, "half_sse": 1.0 / 3.0}
    model = ls.mlp([2, 2, 1])
    start = ls.inits.constant(model, 0.5, dtype=jnp.float64)(jax.random.key(0))
    eq = sy.symmetric_equilibrium(ls.objectives.loss(model, "mse"), start,
                                  ls.datasets.xor(dtype=jnp.float64), optimizer=optax.sgd(2.0),
                                  steps=4000)
    assert eq.kind == "trap_at_infinity"
    assert 0 < eq.loss - problems.XOR_SYMMETRIC_INFIMUM["mse"] < 3e-3


def ravel_pytree_norm(tree):
    return float(np.sqrt(sum(np.sum(np.square(np.asarray(a))) for a in jax.tree.leaves(tree))))

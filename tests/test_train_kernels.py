"""The final evaluation of a training program (loss, gradient and checks at step ``steps``):
with full-batch training it is one more step of the loop whose update is skipped, with
minibatches a full-batch evaluation after the loop (``landscape.train.program._train_runs``).
Either way it is the loss and gradient at the final params, and it updates nothing."""

import jax
import numpy as np
import optax
import pytest

import landscape as ls

NET = ls.mlp([2, 3, 1], "tanh", "linear")
LOSS = ls.objectives.loss(NET, "mse")
DATA = ls.datasets.xor()
PATHS = {"fast": dict(method="batched"), "generic": dict(method="vmap"),
         "minibatch": dict(batch_size=2)}


def _train(steps, **options):
    return ls.train_many(LOSS, ls.inits.normal(NET, 1.0), optax.sgd(0.3), DATA, key=2, n_runs=8,
                         steps=steps, record_every=10, progress=False, **options)


@pytest.mark.parametrize("path", PATHS)
def test_final_loss_and_gradient_are_those_of_the_final_params(path):
    result = _train(20, **PATHS[path])
    loss, grads = jax.vmap(jax.value_and_grad(LOSS), in_axes=(0, None))(result.params, DATA)
    norms = np.sqrt(sum(np.sum(np.asarray(g, np.float64).reshape(8, -1) ** 2, axis=1)
                        for g in jax.tree.leaves(grads)))
    np.testing.assert_allclose(result.losses[:, -1], loss, rtol=1e-5)
    np.testing.assert_allclose(result.grad_norm, norms, rtol=1e-5)
    assert np.all(norms > 1e-3)  # a gradient of the step before would differ measurably


@pytest.mark.parametrize("path", PATHS)
def test_final_evaluation_updates_nothing(path):
    """The params after 10 steps are the 20-step run's record at step 10, bit for bit (an
    update at the final evaluation would make them the params after 11 steps)."""
    short = _train(10, **PATHS[path])
    long = _train(20, trajectory_runs=np.arange(8), **PATHS[path])
    for final, recorded in zip(jax.tree.leaves(short.params), jax.tree.leaves(long.trajectory)):
        np.testing.assert_array_equal(final, recorded[:, 1])
    if path != "minibatch":  # (a minibatch's loss is recorded at step 10, the full batch's at the end)
        np.testing.assert_array_equal(short.losses[:, -1], long.losses[:, 1])

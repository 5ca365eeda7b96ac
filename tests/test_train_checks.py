"""Failure handling of the training step on runs that diverge (a tanh/linear net on XOR, each
run its own learning rate, the larger ones diverging): a run whose loss or gradient turns
non-finite at step ``i`` is marked nonfinite with ``failed_step == i`` and keeps the params of
before step ``i``, and every run's numbers are those of a per-step record (``record_every=1``:
every step its own block), bit for bit, on every path (fast, generic, a trainable mask, a
success criterion, minibatches, Adam)."""

import jax
import numpy as np
import optax
import pytest

import landscape as ls
from landscape.status import RUN

NET = ls.mlp([2, 3, 1], "tanh", "linear")
LOSS = ls.objectives.loss(NET, "mse")
STEPS, EVERY = 60, 10
_FIELDS = ("status", "failed_step", "success_step", "grad_norm")

SGD = optax.inject_hyperparams(optax.sgd)(learning_rate=0.1)
SGD_RATES = np.geomspace(0.1, 1.0, 64)  # about a third diverge, from step 25 on
ADAM = optax.inject_hyperparams(optax.adam)(learning_rate=0.1)
ADAM_RATES = np.geomspace(1e16, 1e20, 64)  # overflow at step 1 or 2 from 1e18 on

CASES = {  # name: (optimizer, its learning rates, extra options of train_many)
    "fast": (SGD, SGD_RATES, dict(method="batched")),
    "generic": (SGD, SGD_RATES, dict(method="vmap")),
    "trainable mask": (SGD, SGD_RATES, dict(
        trainable=[{"w": True, "b": False}, {"w": True, "b": True}])),
    "success": (SGD, SGD_RATES, dict(success=ls.objectives.success(NET, "within", tol=0.45))),
    "minibatch": (SGD, SGD_RATES, dict(batch_size=2)),
    "adam": (ADAM, ADAM_RATES, {}),
}


def _train(optimizer, rates, record_every, **options):
    return ls.train_many(LOSS, ls.inits.normal(NET, 1.0), optimizer, ls.datasets.xor(), key=4,
                         n_runs=64, steps=STEPS, record_every=record_every, progress=False,
                         hyperparams={"learning_rate": rates}, **options)


def _assert_same(a, b):
    for name in _FIELDS + ("params",):
        for x, y in zip(jax.tree.leaves(getattr(a, name)), jax.tree.leaves(getattr(b, name))):
            np.testing.assert_array_equal(np.asarray(x), np.asarray(y), err_msg=name)


def _assert_failed_runs_kept_their_params(result):
    """A nonfinite run failed at a step ``0 < i <= STEPS``, its losses finite before ``i``, its
    params those recorded at the start of step ``i`` (finite) and frozen from there on
    (``result``: ``record_every=1``, every run's trajectory)."""
    failed = np.flatnonzero(np.asarray(result.status) == RUN.code("nonfinite"))
    assert len(failed) > 0
    for r in failed:
        i = int(result.failed_step[r])
        assert 0 < i <= STEPS  # STEPS: the check after the last step
        assert np.isfinite(result.losses[r, :i]).all()
        for final, path in zip(jax.tree.leaves(result.params), jax.tree.leaves(result.trajectory)):
            path = np.asarray(path)[r]  # (n_records, ...): the params at the start of each step
            assert np.isfinite(path[i]).all()
            np.testing.assert_array_equal(np.asarray(final)[r], path[i])
            np.testing.assert_array_equal(path[i:], np.broadcast_to(path[i], path[i:].shape))


@pytest.mark.parametrize("case", CASES)
def test_diverging_runs_fail_at_their_step_and_train_as_with_a_check_at_every_step(case):
    optimizer, rates, options = CASES[case]
    blocks = _train(optimizer, rates, EVERY, **options)
    steps = _train(optimizer, rates, 1, trajectory_runs=np.arange(64), **options)
    failed = np.asarray(blocks.status) == RUN.code("nonfinite")
    assert 0 < failed.sum() < len(failed)  # some runs diverge, some do not
    assert (np.asarray(blocks.failed_step)[failed] % EVERY > 0).any()  # inside a block
    _assert_same(blocks, steps)
    np.testing.assert_array_equal(blocks.losses, steps.losses[:, ::EVERY])
    _assert_failed_runs_kept_their_params(steps)
    if case == "success":
        assert (np.asarray(blocks.success_step) >= 0).any()

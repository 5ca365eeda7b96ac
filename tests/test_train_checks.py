"""Failure handling of the training step on runs that diverge (a tanh/linear net on XOR with a
large learning rate): a run whose loss or gradient turns non-finite at step ``i`` is marked
nonfinite with ``failed_step == i`` and keeps the params of before step ``i``, and every run's
numbers are those of a per-step record (``record_every=1``: every step its own block), bit for
bit, on every path (fast, generic, a trainable mask, a success criterion, minibatches, Adam)."""

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

CASES = {  # name: (optimizer, extra options of train_many)
    "fast": (optax.sgd(1.0), dict(method="batched")),
    "generic": (optax.sgd(1.0), dict(method="vmap")),
    "trainable mask": (optax.sgd(1.0), dict(
        trainable=[{"w": True, "b": False}, {"w": True, "b": True}])),
    "success": (optax.sgd(1.0), dict(success=ls.objectives.success(NET, "within", tol=0.45))),
    "minibatch": (optax.sgd(1.5), dict(batch_size=2)),
    "adam": (optax.adam(3.0), {}),
}


def _train(optimizer, record_every, **options):
    return ls.train_many(LOSS, ls.inits.normal(NET, 1.5), optimizer, ls.datasets.xor(), key=4,
                         n_runs=64, steps=STEPS, record_every=record_every, progress=False,
                         **options)


def _assert_same(a, b):
    for name in _FIELDS + ("params",):
        for x, y in zip(jax.tree.leaves(getattr(a, name)), jax.tree.leaves(getattr(b, name))):
            np.testing.assert_array_equal(np.asarray(x), np.asarray(y), err_msg=name)


@pytest.mark.parametrize("case", CASES)
def test_diverging_runs_train_as_with_a_check_at_every_step(case):
    optimizer, options = CASES[case]
    blocks = _train(optimizer, EVERY, **options)
    steps = _train(optimizer, 1, **options)
    failed = np.asarray(blocks.status) == RUN.code("nonfinite")
    assert 0 < failed.sum() < len(failed)  # some runs diverge, some do not
    assert len(np.unique(np.asarray(blocks.failed_step)[failed] % EVERY)) > 1  # inside blocks
    _assert_same(blocks, steps)
    np.testing.assert_array_equal(blocks.losses, steps.losses[:, ::EVERY])
    if case == "success":
        assert (np.asarray(blocks.success_step) >= 0).any()


def test_a_failed_run_keeps_its_params_from_before_the_failed_step():
    result = _train(optax.sgd(1.0), 1, trajectory_runs=np.arange(64))
    failed = np.flatnonzero(np.asarray(result.status) == RUN.code("nonfinite"))
    assert len(failed) > 0
    for r in failed:
        i = int(result.failed_step[r])
        assert 0 < i < STEPS
        for final, path in zip(jax.tree.leaves(result.params), jax.tree.leaves(result.trajectory)):
            before = np.asarray(path)[r, i]  # recorded at the start of step i
            assert np.isfinite(before).all()
            np.testing.assert_array_equal(np.asarray(final)[r], before)
            np.testing.assert_array_equal(np.asarray(path)[r, i:], np.broadcast_to(
                before, np.asarray(path)[r, i:].shape))  # frozen from step i on
        assert np.isfinite(result.losses[r, :i]).all() and not np.isfinite(result.losses[r, i])

"""The training speed paths give the numbers of the plain paths: starts drawn by their own
program (one training program per loss, shared by every init), and the fast path's
matrix-product blocks (chunk invariant, and equal to the generic ``vmap`` path within a
tolerance set by the dtype)."""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import landscape as ls
from landscape import parallel
from landscape.train import program

XOR = ls.mlp([2, 2, 1])
XOR_LOSS = ls.objectives.loss(XOR, "mse")
SGD = optax.sgd(0.5)


def _leaves(tree):
    return [np.asarray(a) for a in jax.tree.leaves(tree)]


def _in_one_program(spec, inputs):
    """The chunk program of ``spec`` with the starts drawn inside it (the path before the split)."""
    fn = jax.jit(functools.partial(program._sharded_program, spec),
                 compiler_options=parallel.compiler_options())
    return fn(*inputs)


@pytest.mark.parametrize("init_scale, init", [
    (None, ls.inits.normal(XOR, 1.0)),
    (np.linspace(0.5, 2.0, 70), ls.inits.normal(XOR, 1.0)),
    (None, ls.inits.perturbed(ls.inits.glorot(XOR), 1e-3)),
])
def test_drawn_starts_train_bit_for_bit_like_drawing_inside_the_program(init_scale, init):
    """Also: the init program's own compiler options (``_INIT_CPU_OPTIONS``) draw what the
    training program's options draw."""
    plan = ls.plan_training(XOR_LOSS, init, SGD, ls.datasets.xor(), key=3, n_runs=70, steps=40,
                            record_every=10, init_scale=init_scale)
    inputs, _, _ = plan._group_inputs(*plan.group_bounds(0)[0])
    split = program._compiled(plan.spec)
    assert isinstance(split, program._DrawThenTrain) == (init_scale is None)  # scaled: one program
    for a, b in zip(_leaves(split(*inputs)), _leaves(_in_one_program(plan.spec, inputs))):
        np.testing.assert_array_equal(a, b)


def test_every_init_of_one_loss_shares_one_training_program():
    const = ls.inits.constant(XOR, 0.5)
    inits = [const, ls.inits.perturbed(const, 1e-3), ls.inits.normal(XOR, 1.0)]
    programs = [program._compiled(ls.plan_training(XOR_LOSS, init, SGD, ls.datasets.xor(), key=0,
                                                   n_runs=8, steps=20).spec) for init in inits]
    assert all(p.train is programs[0].train for p in programs)
    assert len({id(p.draw) for p in programs}) == 3


def _regression(sizes, activation, dtype, n_samples):
    model = ls.mlp(sizes, activation=activation, output="linear")
    data, _ = ls.datasets.teacher_student(jax.random.key(7), model, n_samples=n_samples, dtype=dtype)
    return ls.objectives.loss(model, "mse"), ls.inits.lecun(model, dtype=dtype), data


@pytest.mark.parametrize("sizes, activation, n_samples", [([10, 32, 1], "tanh", 256),
                                                           ([4, 2, 1], "erf", 128)])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_matrix_product_blocks_are_chunk_invariant_and_match_the_generic_path(sizes, activation,
                                                                             n_samples, dtype):
    with jax.enable_x64(dtype == "float64"):
        loss, init, data = _regression(sizes, activation, jnp.dtype(dtype), n_samples)
        # 192 runs: the 10-32-1 net's 128-run block gives 2 blocks (the second one half padding),
        # chunks of 64 are each padded to one block; the 4-2-1 net's block (4,096) holds them all
        kwargs = dict(key=1, n_runs=192, steps=20, record_every=10)
        assert ls.plan_training(loss, init, optax.sgd(0.05), data, **kwargs).spec.fast
        whole = ls.train_many(loss, init, optax.sgd(0.05), data, **kwargs)
        params = jax.eval_shape(lambda: ls.initial_params(init, 0, np.arange(1)))
        params = jax.tree.map(lambda s: jax.ShapeDtypeStruct(s.shape[1:] + (192,), s.dtype), params)
        blocks = {program.fast_block(loss, n_samples, params, data, w) for w in (64, 192)}
        assert len(blocks) == 1  # fixed by the model and the data: the chunks pad to it
        assert -(-192 // blocks.pop()) == (2 if sizes[1] == 32 else 1)  # blocks in the whole run
        chunked = ls.train_many(loss, init, optax.sgd(0.05), data, chunk_size=64, **kwargs)
        for a, b in zip(_leaves((whole.losses, whole.params)), _leaves((chunked.losses, chunked.params))):
            np.testing.assert_array_equal(a, b)
        generic = ls.train_many(loss, init, optax.sgd(0.05), data, method="vmap", **kwargs)
        tol = 1e3 * float(jnp.finfo(dtype).eps)  # 20 steps of rounding, relative to the loss
        np.testing.assert_allclose(whole.losses, generic.losses, rtol=tol, atol=tol)

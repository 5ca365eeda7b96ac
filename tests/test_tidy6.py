"""Known answers for the leftovers of session 6 (curvature floors, InvariantJit's jit check)."""

import sys
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import landscape as ls
from landscape import curvature, status

import frameworks

# --------------------------------------------------------------------------------------------
# classify's zero floor at a census-level gradient (|grad| ~ 5e-3): an NNX regression net


def _nnx_regression_points():
    """An NNX 1-4-1 tanh net fitting 2 sin(2x) (MSE + 1e-3 |x|^2, so critical points are
    isolated), 2 runs of gradient descent stopped at |grad| in (1e-3, 1e-2), float64: the NNX
    loss, the approximate points and the data."""
    pytest.importorskip("flax")
    from flax import nnx
    model = ls.mlp([1, 4, 1], activation="tanh", output="linear")
    x = jnp.linspace(-2.0, 2.0, 16)[:, None]
    data = ls.datasets.Dataset(x, 2.0 * jnp.sin(2.0 * x))

    def decay(p):
        return 1e-3 * sum(jnp.sum(a ** 2) for a in jax.tree.leaves(p))

    def mlp_loss(p, d):
        return jnp.mean((model.apply(p, d.x) - d.y) ** 2) + decay(p)

    def descend(p):
        step = lambda q, _: (jax.tree.map(lambda a, b: a - 0.02 * b, q,  # noqa: E731
                                          jax.grad(mlp_loss)(q, data)), None)
        return jax.lax.scan(step, p, None, length=12000)[0]
    starts = jax.vmap(lambda k: jax.tree.map(lambda a: 0.7 * a, model.init(k, dtype=jnp.float64)))(
        jax.random.split(jax.random.key(0), 2))
    net, state, _ = frameworks.convert("nnx", model, jax.jit(jax.vmap(descend))(starts))
    graph, _ = nnx.split(net, nnx.Param)

    def nnx_loss(q, d):
        return jnp.mean((nnx.merge(graph, q)(d.x) - d.y) ** 2) + decay(q)
    return nnx_loss, state, data


@pytest.mark.usefixtures("x64")
def test_zero_floor_at_a_census_gradient_is_the_gradient_term_and_claims_nothing_false():
    loss_fn, points, data = _nnx_regression_points()
    near = curvature.classify_batched(loss_fn, points, data, grad_tol=0.01)
    g, ell, s = (np.asarray(near.grad_norm), np.asarray(near.loss_scale),
                 np.asarray(near.param_scale))
    assert np.all((g > 1e-3) & (g < 1e-2))
    # the floor is the gradient term sqrt(g ell / s^3) (the rtol and precision terms are tiny)
    np.testing.assert_allclose(near.zero_tol, np.sqrt(g * ell / s ** 3), rtol=0.02)
    assert np.all(np.asarray(near.zero_tol) > 0.1)
    # the critical point Newton finds next to each point: a saddle of index 2
    refined = curvature.refine_batched(loss_fn, points, data, max_steps=200)
    assert np.all(np.asarray(refined.converged))
    sharp = curvature.classify_batched(loss_fn, refined.params, data)
    assert [status.POINT[i] for i in sharp.label.tolist()] == ["saddle"] * 2
    assert sharp.n_negative.tolist() == [2] * 2 and float(np.max(sharp.zero_tol)) < 1e-4
    # at the approximate points: no false claim (unresolved: the negative modes, about -0.03,
    # lie within the floor), and every eigenvalue beyond the floor has the sign it has at the
    # critical point
    assert [status.POINT[i] for i in near.label.tolist()] == ["unresolved"] * 2
    lam, lam_true = np.asarray(near.eigenvalues), np.asarray(sharp.eigenvalues)
    beyond = np.abs(lam) > np.asarray(near.zero_tol)[:, None]
    assert np.all(np.sign(lam[beyond]) == np.sign(lam_true[beyond]))
    assert np.all(lam[:, :2] < 0) and np.all(lam[:, :2] > -np.asarray(near.zero_tol)[:, None])


# --------------------------------------------------------------------------------------------
# `landscape run --processes`: a partner that dies between the join and the token exchange

SCRIPTS = Path(__file__).parent / "scripts"


def test_a_partner_that_dies_after_joining_is_one_line_and_nothing_is_written(tmp_path):
    # process 1 dies; the death of process 0 (the coordination service) ends its partners from
    # a C++ thread of JAX's (no Python hook: see landscape.lab.cli._exchange)
    dies = 1
    sys.path.insert(0, str(SCRIPTS))
    from process_group import ProcessGroup, child_env, free_port

    address, folder = f"127.0.0.1:{free_port()}", tmp_path / "out"
    runs = [sys.executable, "-m", "landscape", "run", "xor_train", "--smoke", "--no-progress",
            "--out", str(folder), "--coordinator", address, "--num-processes", "2",
            "--process-id"]
    commands = [[sys.executable, str(SCRIPTS / "join_then_die.py"), address, "2", str(i)]
                if i == dies else runs + [str(i)] for i in range(2)]
    group = ProcessGroup(commands, [tmp_path / f"process_{i}.log" for i in range(2)],
                         [child_env(LANDSCAPE_PEER_TIMEOUT="3")] * 2)
    codes, texts = group.wait(timeout=90)
    live = 1 - dies
    assert codes[dies] == 9 and codes[live] == 2, texts
    assert texts[live] == (f"landscape: error: process {dies} of 2 joined, then gave no answer "
                           f"within 3 s (DEADLINE_EXCEEDED: it stopped); nothing was run: start "
                           "all 2 processes again\n")
    assert not folder.exists()


# --------------------------------------------------------------------------------------------
# parallel.InvariantJit: compiler options at the top level, the plain jit where JAX stages it


def _spied():
    """An InvariantJit of ``2 x`` whose calls of its two compiled forms are recorded."""
    from landscape import parallel
    double, calls = parallel.InvariantJit(lambda x: 2 * x), []
    for name in ("top", "nested"):
        fn = getattr(double, name)
        setattr(double, name, lambda *a, fn=fn, name=name: calls.append(name) or fn(*a))
    return double, calls


@pytest.mark.parametrize("where, want", [
    ("top level", "top"),
    ("vmap", "nested"),
    ("grad", "nested"),
    ("vmap, concrete argument", "top"),
    ("jit", "nested"),
    ("jit, concrete argument", "nested"),  # no tracer among the arguments, still staged
    ("scan body", "nested"),
    ("eval_shape", "nested"),
])
def test_invariant_jit_picks_its_form_from_where_it_is_called(where, want):
    double, calls = _spied()
    one = jnp.ones(2)
    run = {
        "top level": lambda: double(one),
        "vmap": lambda: jax.vmap(double)(one),
        "grad": lambda: jax.grad(lambda x: double(x).sum())(one),
        "vmap, concrete argument": lambda: jax.vmap(lambda x: double(jnp.full(2, 3.0)) + x)(one),
        "jit": lambda: jax.jit(double)(one),
        "jit, concrete argument": lambda: jax.jit(lambda x: double(jnp.full(2, 3.0)) + x)(one),
        "scan body": lambda: jax.lax.scan(lambda c, x: (c + double(x), None), 0.0, one)[0],
        "eval_shape": lambda: jax.eval_shape(double, one),
    }[where]
    out = run()
    assert calls == [want]
    expected = {"grad": [2.0, 2.0], "jit, concrete argument": [7.0, 7.0],
                "vmap, concrete argument": [[7.0, 7.0], [7.0, 7.0]], "scan body": 4.0,
                "eval_shape": None}.get(where, [2.0, 2.0])
    if expected is not None:
        np.testing.assert_array_equal(np.asarray(out), expected)


def test_invariant_jit_passes_the_function_errors_through():
    from landscape import parallel

    def refuse(x):
        raise ValueError("compiler_options in a user's own message")
    with pytest.raises(ValueError, match="user's own message"):
        parallel.InvariantJit(refuse)(jnp.ones(2))

"""Tests for landscape.objectives: loss values and gradients, batched evaluation, criteria, errors."""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.special
from jax.flatten_util import ravel_pytree
from jax.test_util import check_grads

import landscape as ls
from landscape import objectives

# Float64 loss values agree with numpy up to rounding of a few dozen flops.
TOL64 = 1e-12
# The textbook bce formula takes log(1 - p) after rounding p, losing digits as p -> 1.
BCE_NAIVE_TOL64 = 1e-10
# Float32 losses of a handful of patterns: a few float32 ulps.
F32_REL = 1e-6
# The XOR symmetric trap: a 2-2-1 network whose two hidden units are identical computes a
# monotone function of one projection of the input, and the best such fit of XOR has MSE 1/6.
XOR_SYMMETRIC_MSE = 1.0 / 6.0


@pytest.fixture
def x64():
    """Float64 for one test; the global setting is restored afterwards."""
    with jax.enable_x64(True):
        yield


def random_params(model, seed, scale=1.0, dtype=np.float64):
    """Random weights *and* biases, drawn with numpy (no PRNG kernels to compile)."""
    rng = np.random.default_rng(seed)
    return [{k: jnp.asarray(rng.normal(0.0, scale, shape).astype(dtype)) for k, shape in layer.items()}
            for layer in model.param_shapes]


def random_data(model, seed, n=6, targets="binary"):
    rng = np.random.default_rng(1000 + seed)
    x = rng.normal(size=(n, model.n_in))
    if targets == "binary":
        y = rng.integers(0, 2, size=(n, model.n_out)).astype(np.float64)
    elif targets == "soft":
        y = rng.uniform(size=(n, model.n_out))
    elif targets == "onehot":
        y = np.eye(model.n_out)[rng.integers(0, model.n_out, size=n)]
    elif targets == "probs":
        y = rng.dirichlet(np.ones(model.n_out), size=n)
    else:
        y = rng.normal(size=(n, model.n_out))
    return ls.Dataset(jnp.asarray(x), jnp.asarray(y))


def linear_1_1(w, b):
    """A 1-1 linear model with known weights: output = w x + b."""
    model = ls.mlp([1, 1], activation="linear", output="linear")
    return model, [{"w": jnp.array([[w]]), "b": jnp.array([b])}]


# (loss name, model, targets)
CASES = [
    ("mse", ls.mlp([2, 3, 1], activation="sigmoid", output="sigmoid"), "binary"),
    ("mse", ls.mlp([3, 4, 3, 2], activation="tanh", output="linear", bias=False), "real"),
    ("half_sse", ls.mlp([3, 4, 2], activation="erf", output="tanh"), "real"),
    ("half_sse", ls.mlp([2, 2, 1], activation="sigmoid", output="sigmoid"), "binary"),
    ("bce", ls.mlp([2, 3, 1], activation="softplus", output="sigmoid"), "binary"),
    ("bce", ls.mlp([3, 4, 2], activation="gelu", output="linear"), "soft"),
    ("cross_entropy", ls.mlp([3, 5, 4], activation="tanh", output="linear"), "onehot"),
    ("cross_entropy", ls.mlp([2, 3, 3, 3], activation="sigmoid", output="linear"), "probs"),
    ("half_mse", ls.mlp([3, 4, 2], activation="tanh", output="linear", bias=(True, False)), "real"),
    ("mse", ls.mlp([2, 3, 3, 1], activation="sigmoid", output="sigmoid", bias=(False, True, False)), "binary"),
    ("bce", ls.mlp([2, 3, 1], activation="tanh", output="sigmoid", bias=(True, False)), "binary"),
]
CASE_IDS = [f"{name}-{'-'.join(map(str, m.sizes))}-{m.output}" + ("" if all(m.bias) else "-partial_bias")
            for name, m, _ in CASES]


# --------------------------------------------------------------------------- gradients


@pytest.mark.parametrize("case", range(len(CASES)), ids=CASE_IDS)
def test_gradient_matches_finite_differences(case, x64):
    name, model, targets = CASES[case]
    loss_fn = objectives.loss(model, name)
    data = random_data(model, case, targets=targets)
    params = random_params(model, case)
    # one flat vector and a compiled loss keep check_grads' many small evaluations cheap
    vec, unravel = ravel_pytree(params)
    f = jax.jit(lambda v: loss_fn(unravel(v), data))
    value = f(vec)
    assert value.shape == () and value.dtype == jnp.float64 and np.isfinite(float(value))
    # order 2 (first case of each loss) also checks second derivatives; check_grads's float64
    # defaults apply: central differences with step 1e-4, atol = rtol = 1e-5
    order = 2 if case == [c[0] for c in CASES].index(name) else 1
    check_grads(f, (vec,), order=order, modes=["rev"])


# --------------------------------------------------------------------------- known values


def test_mse_and_half_sse_hand_example():
    model, params = linear_1_1(2.0, 1.0)
    data = ls.Dataset(jnp.array([[0.0], [1.0], [2.0]]), jnp.array([[1.0], [2.0], [3.0]]))
    # outputs [1, 3, 5], residuals [0, 1, 2]: squares sum to 5
    assert float(objectives.loss(model, "mse")(params, data)) == pytest.approx(5.0 / 3.0, rel=F32_REL)
    assert float(objectives.loss(model, "half_sse")(params, data)) == 2.5


def test_mse_and_half_sse_two_outputs():
    model = ls.mlp([1, 2], activation="linear", output="linear")
    params = [{"w": jnp.array([[1.0, -1.0]]), "b": jnp.array([0.0, 0.0])}]
    data = ls.Dataset(jnp.array([[1.0], [2.0]]), jnp.zeros((2, 2)))
    # outputs [[1, -1], [2, -2]]: squares 1, 1, 4, 4 -> sum 10 over 4 entries
    assert float(objectives.loss(model, "mse")(params, data)) == 2.5
    assert float(objectives.loss(model, "half_sse")(params, data)) == 5.0


def test_losses_at_zero_params():
    """All-zero params: sigmoid output 0.5, zero logits; the losses have closed forms."""
    x = jnp.asarray(np.random.default_rng(0).normal(size=(5, 2)), jnp.float32)
    y01 = jnp.array([[0.0], [1.0], [1.0], [0.0], [1.0]])
    model = ls.mlp([2, 3, 1])
    zeros = ls.inits.zeros(model)(jax.random.key(0))
    data = ls.Dataset(x, y01)
    assert float(objectives.loss(model, "mse")(zeros, data)) == 0.25
    assert float(objectives.loss(model, "half_sse")(zeros, data)) == 0.125 * 5
    assert float(objectives.loss(model, "bce")(zeros, data)) == pytest.approx(math.log(2), rel=F32_REL)
    k = 4
    model = ls.mlp([2, 3, k], output="linear")
    onehot = jnp.eye(k)[jnp.array([0, 3, 1, 1, 2])]
    value = objectives.loss(model, "cross_entropy")(ls.inits.zeros(model)(jax.random.key(0)), ls.Dataset(x, onehot))
    assert float(value) == pytest.approx(math.log(k), rel=F32_REL)


@pytest.mark.parametrize("dtype", [jnp.float32, jnp.float64])
def test_half_mse_hand_examples(dtype):
    """``half_mse = 1/2 mean (o - y)^2`` in closed form; sums of small integers halved are exact,
    a mean over 3 entries is rounded (XLA may divide by multiplying with 1/3)."""
    with jax.enable_x64(dtype == jnp.float64):
        model, params = linear_1_1(2.0, 1.0)
        params = jax.tree.map(lambda a: a.astype(dtype), params)
        data = ls.Dataset(jnp.array([[0.0], [1.0], [2.0]], dtype), jnp.array([[1.0], [2.0], [3.0]], dtype))
        # outputs [1, 3, 5], residuals [0, 1, 2]: squares sum to 5 over 3 entries -> 5/6
        value = objectives.loss(model, "half_mse")(params, data)
        rel = F32_REL if dtype == jnp.float32 else TOL64
        assert value.dtype == dtype and float(value) == pytest.approx(5.0 / 6.0, rel=rel)
        model = ls.mlp([1, 2], activation="linear", output="linear")
        params = [{"w": jnp.array([[1.0, -1.0]], dtype), "b": jnp.zeros(2, dtype)}]
        data = ls.Dataset(jnp.array([[1.0], [2.0]], dtype), jnp.zeros((2, 2), dtype))
        # outputs [[1, -1], [2, -2]]: squares 1, 1, 4, 4 -> mean 2.5, half 1.25
        assert float(objectives.loss(model, "half_mse")(params, data)) == 1.25
        # all-zero params of a sigmoid net: every output 0.5, every squared error 1/4 -> 1/8
        model = ls.mlp([2, 3, 1], bias=(True, False))
        zeros = ls.inits.zeros(model, dtype=dtype)(jax.random.key(0))
        assert float(objectives.loss(model, "half_mse")(zeros, ls.datasets.xor(dtype=dtype))) == 0.125


@pytest.mark.parametrize("seed", range(3))
def test_half_mse_is_half_of_mse(seed, x64):
    model = ls.mlp([3, 4, 2], activation="tanh", output="sigmoid", bias=(True, False))
    data = random_data(model, seed, n=7)
    params = random_params(model, seed)
    mse = float(objectives.loss(model, "mse")(params, data))
    assert float(objectives.loss(model, "half_mse")(params, data)) == pytest.approx(mse / 2, rel=TOL64)


@pytest.mark.parametrize("seed", range(3))
def test_half_sse_is_scaled_mse(seed, x64):
    model = ls.mlp([3, 4, 2], activation="tanh", output="sigmoid")
    data = random_data(model, seed, n=7)
    params = random_params(model, seed)
    mse = float(objectives.loss(model, "mse")(params, data))
    half_sse = float(objectives.loss(model, "half_sse")(params, data))
    assert half_sse == pytest.approx(7 * 2 / 2 * mse, rel=TOL64)


@pytest.mark.parametrize("output", ["sigmoid", "linear"])
def test_bce_equals_formula(output, x64):
    model = ls.mlp([3, 4, 2], activation="tanh", output=output)
    data = random_data(model, 3, n=8, targets="soft")
    params = random_params(model, 3, scale=1.5)
    p = np.asarray(model.apply(params, data.x))
    if output == "linear":  # a linear output is read as logits
        p = scipy.special.expit(p)
    y = np.asarray(data.y)
    expected = -np.mean(y * np.log(p) + (1 - y) * np.log(1 - p))
    got = float(objectives.loss(model, "bce")(params, data))
    assert got == pytest.approx(expected, rel=BCE_NAIVE_TOL64)


@pytest.mark.parametrize("dtype", [jnp.float32, jnp.float64])
def test_bce_finite_for_huge_logits(dtype):
    with jax.enable_x64(dtype == jnp.float64):
        model = ls.mlp([1, 1], activation="linear", output="sigmoid")
        params = [{"w": jnp.array([[1e4]], dtype), "b": jnp.array([0.0], dtype)}]
        data = ls.Dataset(jnp.array([[1.0], [-1.0], [1.0]], dtype), jnp.array([[0.0], [1.0], [1.0]], dtype))
        loss_fn = objectives.loss(model, "bce")
        # logits [1e4, -1e4, 1e4]: two confidently wrong patterns cost 1e4 each, the right one 0
        value, grads = jax.value_and_grad(loss_fn)(params, data)
        assert float(value) == pytest.approx(2e4 / 3, rel=F32_REL)
        assert all(np.all(np.isfinite(np.asarray(g))) for g in jax.tree.leaves(grads))
        # d/dw mean(softplus(z) - y z) with z = w x: (1 * 1 + (-1) * (0 - 1) + 1 * (1 - 1)) / 3 = 2/3
        assert float(grads[0]["w"][0, 0]) == pytest.approx(2 / 3, rel=F32_REL)


@pytest.mark.parametrize("targets", ["onehot", "probs"])
def test_cross_entropy_equals_numpy(targets, x64):
    model = ls.mlp([3, 5, 4], activation="relu", output="linear")
    data = random_data(model, 4, n=9, targets=targets)
    params = random_params(model, 4, scale=2.0)
    logits = np.asarray(model.apply(params, data.x))
    expected = -np.mean(np.sum(np.asarray(data.y) * scipy.special.log_softmax(logits, axis=1), axis=1))
    got = float(objectives.loss(model, "cross_entropy")(params, data))
    assert got == pytest.approx(expected, rel=TOL64)


def test_cross_entropy_finite_for_huge_logits():
    model = ls.mlp([1, 2], activation="linear", output="linear")
    params = [{"w": jnp.array([[1e4, -1e4]]), "b": jnp.zeros(2)}]
    data = ls.Dataset(jnp.array([[1.0], [1.0]]), jnp.array([[1.0, 0.0], [0.0, 1.0]]))
    # logits [1e4, -1e4]: the first pattern costs 0, the second 2e4
    assert float(objectives.loss(model, "cross_entropy")(params, data)) == pytest.approx(1e4, rel=F32_REL)


# ------------------------------------------------------------------ batched (run axis last)


def stack_last(trees):
    return jax.tree.map(lambda *xs: jnp.stack(xs, axis=-1), *trees)


@pytest.mark.parametrize("case", range(len(CASES)), ids=CASE_IDS)
def test_loss_batched_equals_vmap(case, x64):
    name, model, targets = CASES[case]
    loss_fn = objectives.loss(model, name)
    data = random_data(model, case, targets=targets)
    per_run = [random_params(model, 10 * case + r, scale=1.5) for r in range(5)]
    leading = jax.tree.map(lambda *xs: jnp.stack(xs), *per_run)

    @jax.jit
    def both(leading, trailing, data):
        return jax.vmap(loss_fn, (0, None))(leading, data), loss_fn.batched(trailing, data)

    expected, got = both(leading, stack_last(per_run), data)
    assert got.shape == (5,)
    np.testing.assert_allclose(np.asarray(got), np.asarray(expected), rtol=TOL64, atol=TOL64)


@pytest.mark.parametrize("name, tol", [("within", 0.4), ("within", 0.05), ("accuracy", 0.0), ("accuracy", 0.25)])
def test_criterion_batched_equals_vmap(name, tol):
    model = ls.mlp([2, 2, 1])
    data = ls.datasets.xor()
    k = 20.0  # run 0 solves XOR (an OR unit and an AND unit), the other 63 are random
    solved = [{"w": jnp.array([[k, k], [k, k]]), "b": jnp.array([-0.5 * k, -1.5 * k])},
              {"w": jnp.array([[k], [-k]]), "b": jnp.array([-0.5 * k])}]
    per_run = [solved] + [random_params(model, r, scale=4.0, dtype=np.float32) for r in range(63)]
    crit = objectives.success(model, name, tol=tol)
    leading = jax.tree.map(lambda *xs: jnp.stack(xs), *per_run)
    expected = np.asarray(jax.jit(jax.vmap(crit, (0, None)))(leading, data))
    got = np.asarray(jax.jit(crit.batched)(stack_last(per_run), data))
    assert got.dtype == np.bool_ and got.shape == (64,)
    np.testing.assert_array_equal(got, expected)
    assert expected[0] and 0 < expected.sum() < 64  # both outcomes occur


# ----------------------------------------------------------------------- success criteria


def test_within_on_known_outputs():
    model, params = linear_1_1(2.0, 1.0)
    # outputs [1, 3, 5]; the largest miss is 0.3
    data = ls.Dataset(jnp.array([[0.0], [1.0], [2.0]]), jnp.array([[1.2], [3.0], [4.7]]))
    assert bool(objectives.success(model, "within")(params, data))  # default tol 0.4
    assert bool(objectives.success(model, "within", tol=0.35)(params, data))
    assert not bool(objectives.success(model, "within", tol=0.25)(params, data))
    assert not bool(objectives.success(model, "within", tol=0)(params, data))
    exact = ls.Dataset(data.x, jnp.array([[1.0], [3.0], [5.0]]))
    assert bool(objectives.success(model, "within", tol=0)(params, exact))


def test_holds_directly():
    y = jnp.array([[0.0], [1.0], [1.0], [0.0]])
    good = jnp.array([[0.2], [0.7], [0.6], [0.1]])
    one_wrong = jnp.array([[0.2], [0.7], [0.4], [0.1]])
    holds = jax.jit(objectives._holds, static_argnums=0)  # one compile per criterion and shape
    assert bool(holds("within", 0.4, 0.5, good, y)) and not bool(holds("within", 0.35, 0.5, good, y))
    assert bool(holds("accuracy", 0.0, 0.5, good, y))
    assert not bool(holds("accuracy", 0.0, 0.5, one_wrong, y))  # 3/4 correct
    assert not bool(holds("accuracy", 0.2, 0.5, one_wrong, y))
    assert bool(holds("accuracy", 0.25, 0.5, one_wrong, y))
    assert bool(holds("accuracy", 0.0, 0.3, one_wrong, y))  # 0.4 > 0.3 counts as class 1
    # several outputs: the arg-max decides; outputs (batch, n_out, runs) with two runs
    y3 = jnp.eye(3)[jnp.array([0, 2, 1])]
    out = jnp.stack([jnp.array([[0.9, 0.0, 0.1], [0.1, 0.2, 0.7], [0.2, 0.75, 0.05]]),
                     jnp.array([[0.9, 0.0, 0.1], [0.1, 0.8, 0.1], [0.2, 0.75, 0.05]])], axis=-1)
    np.testing.assert_array_equal(np.asarray(holds("accuracy", 0.0, 0.5, out, y3[..., None])), [True, False])
    np.testing.assert_array_equal(np.asarray(holds("accuracy", 0.34, 0.5, out, y3[..., None])), [True, True])
    # run 0 misses by at most 0.3 (0.31: float32 rounding of 1 - 0.7), run 1 by 0.8
    np.testing.assert_array_equal(np.asarray(holds("within", 0.31, 0.5, out, y3[..., None])), [True, False])


def test_accuracy_through_a_model():
    model, params = linear_1_1(1.0, -0.5)  # output x - 0.5
    data = ls.Dataset(jnp.array([[0.0], [1.0], [2.0], [0.7]]), jnp.array([[0.0], [1.0], [1.0], [1.0]]))
    # outputs [-0.5, 0.5, 1.5, 0.2]; targets and outputs are both classified by "> threshold"
    assert bool(objectives.success(model, "accuracy", threshold=0.0)(params, data))
    assert not bool(objectives.success(model, "accuracy", threshold=0.3)(params, data))  # 3/4
    assert bool(objectives.success(model, "accuracy", tol=0.25, threshold=0.3)(params, data))
    assert not bool(objectives.success(model, "accuracy", tol=0.2, threshold=0.3)(params, data))
    assert not bool(objectives.success(model, "accuracy")(params, data))  # default threshold 0.5: 3/4


# --------------------------------------------------------------------- the XOR symmetric trap


def test_xor_symmetric_limit(x64):
    """Identical hidden units: MSE 1/6 is approachable but never beaten; breaking symmetry beats it."""
    model = ls.mlp([2, 2, 1], activation="sigmoid", output="sigmoid")
    data = ls.datasets.xor(jnp.float64)
    loss_fn = objectives.loss(model, "mse")

    def symmetric(a1, a2, c, v, b):
        """Both hidden units have incoming weights (a1, a2) and bias c; outgoing weight v each."""
        return [{"w": jnp.array([[a1, a1], [a2, a2]]), "b": jnp.array([c, c])},
                {"w": jnp.array([[v], [v]]), "b": jnp.array([b])}]

    # approach: h ~ step(x1 + x2 > 0.5); output 0 for (0,0), 2/3 for the other three patterns
    k, b = 50.0, -30.0
    near = loss_fn(symmetric(k, k, -0.5 * k, (math.log(2) - b) / 2, b), data)
    assert XOR_SYMMETRIC_MSE < float(near) < XOR_SYMMETRIC_MSE + 1e-9  # saturation error ~ e^-25

    # never below: many random symmetric networks, at several weight scales
    rng = np.random.default_rng(0)
    draws = rng.normal(size=(6000, 5)) * np.repeat([1.0, 5.0, 30.0], 2000)[:, None]
    batch = jax.vmap(lambda d: symmetric(*d))(jnp.asarray(draws))
    losses = np.asarray(jax.jit(jax.vmap(loss_fn, (0, None)))(batch, data))
    assert losses.min() >= XOR_SYMMETRIC_MSE - TOL64
    assert losses.min() < XOR_SYMMETRIC_MSE + 0.02  # the bound is nearly reached by chance too

    # an asymmetric net (an OR unit and an AND unit) gets far below it
    solved = [{"w": jnp.array([[k, k], [k, k]]), "b": jnp.array([-0.5 * k, -1.5 * k])},
              {"w": jnp.array([[k], [-k]]), "b": jnp.array([-0.5 * k])}]
    assert float(loss_fn(solved, data)) < 1e-9


# ----------------------------------------------------------------------------- errors


def test_unknown_loss_name():
    model = ls.mlp([2, 2, 1])
    with pytest.raises(ValueError, match=r"name='mae' is not known; expected one of"):
        objectives.loss(model, "mae")
    with pytest.raises(ValueError, match=r"name=None"):
        objectives.loss(model, None)


@pytest.mark.parametrize("name, output", [("bce", "tanh"), ("bce", "relu"), ("cross_entropy", "sigmoid"),
                                          ("cross_entropy", "softplus")])
def test_logit_losses_need_logit_outputs(name, output):
    model = ls.mlp([2, 2, 1], output=output)
    with pytest.raises(ValueError, match=rf"loss '{name}'.*output={output!r}"):
        objectives.loss(model, name)


def test_cross_entropy_needs_two_outputs():
    # softmax over a single class is identically 1: the loss would be 0 whatever the params
    with pytest.raises(ValueError, match=r"'cross_entropy' needs at least two outputs.*sizes=\[2, 2, 1\]"):
        objectives.loss(ls.mlp([2, 2, 1], output="linear"), "cross_entropy")


def test_unknown_criterion_and_bad_tol():
    model = ls.mlp([2, 2, 1])
    with pytest.raises(ValueError, match=r"criterion name='f1' is not known"):
        objectives.success(model, "f1")
    with pytest.raises(ValueError, match=r"tol=-0\.1 must be a non-negative number"):
        objectives.success(model, "within", tol=-0.1)
    with pytest.raises(ValueError, match=r"tol=nan"):
        objectives.success(model, "accuracy", tol=float("nan"))
    with pytest.raises(ValueError, match=r"tol='0.1'"):
        objectives.success(model, "within", tol="0.1")
    with pytest.raises(ValueError, match=r"tol=True"):
        objectives.success(model, "within", tol=True)
    with pytest.raises(ValueError, match=r"threshold=nan must be a finite number"):
        objectives.success(model, "accuracy", threshold=float("nan"))
    with pytest.raises(ValueError, match=r"threshold=None"):
        objectives.success(model, "accuracy", threshold=None)
    # numpy scalars are numbers
    assert objectives.success(model, "within", tol=np.float32(0.25)).tol == 0.25


def test_non_model_rejected():
    with pytest.raises(TypeError, match=r"model='mlp' must be a landscape Model"):
        objectives.loss("mlp", "mse")
    with pytest.raises(TypeError, match=r"model=None must be a landscape Model"):
        objectives.success(None)


def test_loss_and_criterion_are_hashable_values():
    model = ls.mlp([2, 2, 1])
    assert objectives.loss(model, "mse") == objectives.loss(ls.mlp([2, 2, 1]), "mse")
    assert hash(objectives.loss(model, "mse")) == hash(objectives.loss(model, "mse"))
    assert objectives.loss(model, "mse") != objectives.loss(model, "half_sse")
    assert objectives.success(model) == objectives.success(model, "within", tol=0.4)
    assert objectives.success(model).tol == 0.4 and objectives.success(model, "accuracy").tol == 0.0

"""Tests for landscape.models: shapes, activations, forward passes, the unit layout, errors."""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.special

import landscape as ls
from landscape import models

# Float64 forward passes agree with numpy up to rounding of a few dozen flops.
TOL64 = 1e-12
# The run-axis-last forward sums products in a different order than ``x @ w`` (float64 here).
BATCHED_TOL64 = 1e-12
# One float64 activation against scipy/numpy: a few ulps (rtol), and absolute slack near zero.
ACT_RTOL64, ACT_ATOL64 = 1e-13, 1e-15
# Float32 forward passes, two summation orders: a few float32 ulps of O(1) outputs.
F32_RTOL, F32_ATOL = 1e-5, 1e-6

SIZES = [(2, 2, 1), (3, 5, 4, 2), (1, 1), (4, 7, 7, 7, 3), (2, 8, 1)]


@pytest.fixture
def x64():
    """Float64 for one test; the global setting is restored afterwards."""
    with jax.enable_x64(True):
        yield


def np_activation(name: str, z: np.ndarray) -> np.ndarray:
    """The documented formulas, written independently with numpy/scipy."""
    if name == "sigmoid":
        return 1.0 / (1.0 + np.exp(-z))
    if name == "tanh":
        return np.tanh(z)
    if name == "relu":
        return np.maximum(z, 0.0)
    if name == "softplus":
        return np.logaddexp(0.0, z)
    if name == "gelu":  # exact: z * Phi(z)
        return z * 0.5 * (1.0 + scipy.special.erf(z / math.sqrt(2.0)))
    if name == "erf":
        return scipy.special.erf(z / math.sqrt(2.0))
    if name == "linear":
        return z
    raise AssertionError(name)


def np_forward(model, params, x, final_activation=True):
    """Hand-written numpy forward pass of an MLP."""
    h = np.asarray(x, np.float64)
    for l, layer in enumerate(params):
        z = h @ np.asarray(layer["w"], np.float64)
        if "b" in layer:
            z = z + np.asarray(layer["b"], np.float64)
        if l < len(params) - 1:
            h = np_activation(model.activation, z)
        else:
            h = np_activation(model.output, z) if final_activation else z
    return h


def random_params(model, seed, scale=1.0, dtype=np.float64):
    """Random weights *and* biases, drawn with numpy (cheap: no PRNG kernels to compile)."""
    rng = np.random.default_rng(seed)
    return [{k: jnp.asarray(rng.normal(0.0, scale, shape).astype(dtype)) for k, shape in layer.items()}
            for layer in model.param_shapes]


def jit_apply(model, **kwargs):
    """``model.apply`` compiled once per test (cheaper than compiling every op eagerly)."""
    return jax.jit(lambda p, x: model.apply(p, x, **kwargs))


def stack_last(trees):
    """Stack a list of param pytrees along a new trailing run axis."""
    return jax.tree.map(lambda *xs: jnp.stack(xs, axis=-1), *trees)


def permute_units(params, unit_axes, hidden, perm):
    """Permute the units of hidden layer ``hidden`` by ``perm`` along every axis tagged with it."""

    def leaf(p, axes):
        assert len(axes) == p.ndim
        for ax, tag in enumerate(axes):
            if tag == hidden:
                p = np.take(np.asarray(p), perm, axis=ax)
        return p

    return jax.tree.map(leaf, params, unit_axes, is_leaf=lambda t: isinstance(t, tuple))


# ----------------------------------------------------------------------------- shapes


@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("sizes", SIZES)
def test_param_and_output_shapes(sizes, bias):
    model = ls.mlp(sizes, activation="tanh", output="linear", bias=bias)
    assert model.sizes == sizes
    assert model.n_layers == len(sizes) - 1
    assert model.n_in == sizes[0] and model.n_out == sizes[-1]
    assert model.hidden_sizes == sizes[1:-1]
    params = jax.eval_shape(model.init, jax.random.key(0))  # shapes and dtypes without compiling
    assert isinstance(params, list) and len(params) == len(sizes) - 1
    for l, layer in enumerate(params):
        expected = {"w": (sizes[l], sizes[l + 1])}
        if bias:
            expected["b"] = (sizes[l + 1],)
        assert {k: v.shape for k, v in layer.items()} == expected
        assert model.param_shapes[l] == expected
        assert all(v.dtype == jnp.float32 for v in layer.values())
    for batch in (6, 1):
        out = jax.eval_shape(model.apply, params, jax.ShapeDtypeStruct((batch, sizes[0]), jnp.float32))
        assert out.shape == (batch, sizes[-1]) and out.dtype == jnp.float32


@pytest.mark.parametrize(
    "sizes, bias, expected",
    [((2, 2, 1), True, 9), ((2, 2, 1), False, 6), ((3, 5, 4, 2), True, 54),
     ((1, 1), True, 2), ((10, 32, 1), True, 385), ((4, 7, 7, 7, 3), False, 147),
     ((2, 3, 1), (True, False), 12), ((2, 2, 2, 1), (False, True, False), 12)],
)
def test_n_params(sizes, bias, expected):
    model = ls.mlp(sizes, bias=bias)
    assert model.n_params == expected
    leaves = jax.tree.leaves(jax.eval_shape(model.init, jax.random.key(1)))
    assert sum(leaf.size for leaf in leaves) == expected


def test_default_init_is_lecun_normal_with_zero_biases():
    model = ls.mlp([400, 300, 1])
    params = jax.jit(model.init)(jax.random.key(2))
    w = np.asarray(params[0]["w"], np.float64)
    # Standard error of a sample std is std / sqrt(2 n); allow 5 of them.
    expected = 1 / math.sqrt(400)
    assert abs(w.std() - expected) < 5 * expected / math.sqrt(2 * w.size)
    assert abs(w.mean()) < 5 * expected / math.sqrt(w.size)
    assert np.all(np.asarray(params[0]["b"]) == 0) and np.all(np.asarray(params[1]["b"]) == 0)
    # layers of equal shape get different draws
    square = jax.jit(ls.mlp([3, 3, 3]).init)(jax.random.key(3))
    assert not np.allclose(np.asarray(square[0]["w"]), np.asarray(square[1]["w"]))


# ------------------------------------------------------------------------- activations


@pytest.mark.parametrize("name", ["sigmoid", "tanh", "relu", "softplus", "gelu", "erf", "linear"])
def test_activation_formula(name, x64):
    z = np.concatenate([np.linspace(-8, 8, 161), [-30.0, -1e-3, 0.0, 1e-3, 30.0]])
    got = np.asarray(models.activation(name)(jnp.asarray(z, jnp.float64)))
    assert got.dtype == np.float64
    np.testing.assert_allclose(got, np_activation(name, z), rtol=ACT_RTOL64, atol=ACT_ATOL64)
    assert models.ACTIVATIONS[name] is models.activation(name)


def test_activation_known_values(x64):
    # Spot values worked out by hand.
    erf = models.activation("erf")
    assert float(erf(jnp.float64(0.0))) == 0.0
    # erf(1.959964 / sqrt 2) = P(|N(0,1)| < 1.959964) = 0.95
    np.testing.assert_allclose(float(erf(jnp.float64(1.959963984540054))), 0.95, rtol=TOL64)
    gelu = models.activation("gelu")
    # exact gelu(1) = Phi(1) = 0.8413447460685429; the tanh approximation gives 0.8411919906
    np.testing.assert_allclose(float(gelu(jnp.float64(1.0))), 0.8413447460685429, rtol=ACT_RTOL64)
    assert float(models.activation("sigmoid")(jnp.float64(0.0))) == 0.5
    np.testing.assert_allclose(float(models.activation("softplus")(jnp.float64(0.0))), math.log(2),
                               rtol=ACT_RTOL64)


def test_unknown_activation_name():
    with pytest.raises(ValueError, match=r"activation='swish'"):
        models.activation("swish")


# ----------------------------------------------------------------------------- forward


ACTS = ["sigmoid", "tanh", "relu", "softplus", "gelu", "erf", "linear"]
ARCHS = [((2, 3, 1), True), ((3, 4, 5, 2), False), ((4, 6, 3, 3, 2), True)]


@pytest.mark.parametrize("activation", ACTS)
def test_apply_matches_numpy(activation, x64):
    i = ACTS.index(activation)
    sizes, bias = ARCHS[i % len(ARCHS)]
    output = ACTS[(i + 2) % len(ACTS)]  # vary the output activation too
    model = ls.mlp(sizes, activation=activation, output=output, bias=bias)
    params = random_params(model, seed=i)
    x = np.random.default_rng(100 + i).normal(size=(7, sizes[0]))
    got = jit_apply(model)(params, x)
    assert got.dtype == jnp.float64 and got.shape == (7, sizes[-1])
    np.testing.assert_allclose(np.asarray(got), np_forward(model, params, x), rtol=TOL64, atol=TOL64)


def test_apply_hand_example():
    # 2-2-1 with weights chosen so the answer is worked out by hand (relu hidden, linear output).
    model = ls.mlp([2, 2, 1], activation="relu", output="linear")
    params = [{"w": jnp.array([[1.0, -1.0], [2.0, 1.0]]), "b": jnp.array([0.0, 1.0])},
              {"w": jnp.array([[3.0], [-2.0]]), "b": jnp.array([0.5])}]
    x = jnp.array([[1.0, 1.0], [2.0, -1.0], [-1.0, 2.0]])
    # pattern 1: z = [3, 1]  -> relu [3, 1] -> 9 - 2 + 0.5 = 7.5
    # pattern 2: z = [0, -2] -> relu [0, 0] -> 0.5
    # pattern 3: z = [3, 4]  -> relu [3, 4] -> 9 - 8 + 0.5 = 1.5
    np.testing.assert_array_equal(np.asarray(model.apply(params, x)), [[7.5], [0.5], [1.5]])


@pytest.mark.parametrize("output", ["sigmoid", "tanh", "softplus"])
def test_final_activation_false_returns_logits(output, x64):
    model = ls.mlp([3, 4, 2], activation="tanh", output=output)
    params = random_params(model, seed=5, scale=2.0)
    x = np.random.default_rng(6).normal(size=(5, 3))
    logits, outs = jax.jit(lambda p, x: (model.apply(p, x, final_activation=False), model.apply(p, x)))(params, x)
    np.testing.assert_allclose(np.asarray(logits), np_forward(model, params, x, final_activation=False),
                               rtol=TOL64, atol=TOL64)
    np.testing.assert_allclose(np_activation(output, np.asarray(logits)), np.asarray(outs),
                               rtol=TOL64, atol=TOL64)
    assert not np.allclose(np.asarray(logits), np.asarray(outs))  # it really skipped the activation


@pytest.mark.parametrize(
    "sizes, activation, output, bias, n_runs",
    [((2, 2, 1), "sigmoid", "sigmoid", True, 5),
     ((2, 2, 1), "tanh", "linear", False, 3),
     ((3, 8, 2), "relu", "softplus", True, 4),
     ((4, 5, 3, 2), "gelu", "tanh", True, 1),
     ((2, 3, 3, 3, 1), "erf", "sigmoid", False, 6),
     ((1, 1), "linear", "linear", True, 2),
     ((2, 3, 1), "tanh", "linear", (True, False), 4),
     ((2, 3, 3, 1), "relu", "sigmoid", (False, True, False), 3)],
)
def test_apply_batched_equals_vmap_apply(sizes, activation, output, bias, n_runs, x64):
    model = ls.mlp(sizes, activation=activation, output=output, bias=bias)
    per_run = [random_params(model, seed=r, scale=1.5) for r in range(n_runs)]
    leading = jax.tree.map(lambda *xs: jnp.stack(xs), *per_run)
    trailing = stack_last(per_run)
    x = np.random.default_rng(3).normal(size=(6, sizes[0]))

    @jax.jit
    def both(leading, trailing, x):
        return [(jax.vmap(lambda p: model.apply(p, x, final_activation=f))(leading),
                 model.apply_batched(trailing, x, final_activation=f)) for f in (True, False)]

    for expected, got in both(leading, trailing, x):
        assert got.shape == (6, sizes[-1], n_runs) and got.dtype == jnp.float64
        np.testing.assert_allclose(np.asarray(got), np.moveaxis(np.asarray(expected), 0, -1),
                                   rtol=BATCHED_TOL64, atol=BATCHED_TOL64)


def test_apply_batched_float32_close_to_apply():
    model = ls.mlp([2, 8, 1])
    per_run = [random_params(model, seed=r, dtype=np.float32) for r in range(7)]
    x = ls.datasets.xor().x
    got = jax.jit(model.apply_batched)(stack_last(per_run), x)
    assert got.dtype == jnp.float32
    apply = jit_apply(model)
    for r, p in enumerate(per_run):
        # float32 rounding of a different summation order
        np.testing.assert_allclose(np.asarray(got[..., r]), np.asarray(apply(p, x)), rtol=F32_RTOL, atol=F32_ATOL)


# ----------------------------------------------------------------------------- layout


def test_unit_axes_explicit():
    model = ls.mlp([2, 3, 4, 1])
    assert model.unit_axes == [
        {"w": (None, 0), "b": (0,)},
        {"w": (0, 1), "b": (1,)},
        {"w": (1, None), "b": (None,)},
    ]
    assert ls.mlp([2, 3, 1], bias=False).unit_axes == [{"w": (None, 0)}, {"w": (0, None)}]
    assert ls.mlp([2, 1]).unit_axes == [{"w": (None, None), "b": (None,)}]


@pytest.mark.parametrize("sizes", SIZES)
@pytest.mark.parametrize("bias", [True, False])
def test_unit_axes_shaped_like_params(sizes, bias):
    model = ls.mlp(sizes, bias=bias)
    params = jax.eval_shape(model.init, jax.random.key(0))
    is_tuple = lambda t: isinstance(t, tuple)  # noqa: E731
    assert jax.tree.structure(model.unit_axes, is_leaf=is_tuple) == jax.tree.structure(params)
    for p, axes in zip(jax.tree.leaves(params), jax.tree.leaves(model.unit_axes, is_leaf=is_tuple)):
        assert len(axes) == len(p.shape)
        for dim, tag in zip(p.shape, axes):
            if tag is not None:
                assert dim == sizes[1 + tag]


@pytest.mark.parametrize(
    "sizes, activation, bias",
    [((2, 2, 1), "sigmoid", True), ((3, 5, 2), "tanh", True), ((2, 4, 3, 1), "gelu", False),
     ((3, 6, 6, 4, 2), "erf", True), ((2, 7, 1), "relu", True), ((3, 4, 2), "tanh", (True, False)),
     ((2, 3, 4, 1), "sigmoid", (False, True, False))],
)
def test_permuting_hidden_units_keeps_function(sizes, activation, bias, x64):
    model = ls.mlp(sizes, activation=activation, output="sigmoid", bias=bias)
    apply = jit_apply(model)
    for seed in range(4):  # property over seeds; the compiled forward is reused
        params = random_params(model, seed)
        rng = np.random.default_rng(seed)
        x = rng.normal(size=(9, sizes[0]))
        reference = np.asarray(apply(params, x))
        permuted = params
        for h, width in enumerate(model.hidden_sizes):
            perm = rng.permutation(width)
            while np.all(perm == np.arange(width)):
                perm = rng.permutation(width)
            one = permute_units(params, model.unit_axes, h, perm)
            # the params really moved ...
            assert not all(np.array_equal(a, b) for a, b in zip(jax.tree.leaves(one), jax.tree.leaves(params)))
            # ... but the function did not (summation order changes, hence a rounding tolerance)
            np.testing.assert_allclose(np.asarray(apply(one, x)), reference, rtol=TOL64, atol=TOL64)
            permuted = permute_units(permuted, model.unit_axes, h, perm)
        # all hidden layers permuted at once
        np.testing.assert_allclose(np.asarray(apply(permuted, x)), reference, rtol=TOL64, atol=TOL64)


def test_permuting_only_incoming_weights_changes_function(x64):
    """Control for the property test: a wrong layout (only one side permuted) is detected."""
    model = ls.mlp([3, 4, 1], activation="tanh", output="linear")
    params = random_params(model, seed=0)
    x = np.random.default_rng(1).normal(size=(8, 3))
    perm = np.array([1, 0, 3, 2])
    wrong_axes = [{"w": (None, 0), "b": (0,)}, {"w": (None, None), "b": (None,)}]
    wrong = permute_units(params, wrong_axes, 0, perm)
    apply = jit_apply(model)
    assert not np.allclose(np.asarray(apply(wrong, x)), np.asarray(apply(params, x)))


# ----------------------------------------------------------------------------- errors


@pytest.mark.parametrize(
    "sizes, exc, match",
    [([2], ValueError, r"sizes=\(2,\)"),
     ([], ValueError, r"sizes=\(\)"),
     ([2, 0, 1], ValueError, r"sizes=\(2, 0, 1\)"),
     ([2, -3, 1], ValueError, r"sizes="),
     ([2, 2.5, 1], ValueError, r"sizes="),
     ([2, True, 1], ValueError, r"sizes="),
     (5, TypeError, r"sizes=5"),
     (None, TypeError, r"sizes=None")],
)
def test_bad_sizes(sizes, exc, match):
    with pytest.raises(exc, match=match):
        ls.mlp(sizes)


def test_numpy_integer_sizes_accepted():
    model = ls.mlp(np.array([2, 3, 1]))
    assert model.sizes == (2, 3, 1)
    assert all(type(s) is int for s in model.sizes)
    assert hash(model) == hash(ls.mlp([2, 3, 1])) and model == ls.mlp([2, 3, 1])


def test_bad_activation_output_bias():
    with pytest.raises(ValueError, match=r"activation='swish'.*expected one of"):
        ls.mlp([2, 2, 1], activation="swish")
    with pytest.raises(ValueError, match=r"output='softmax'.*expected one of"):
        ls.mlp([2, 2, 1], output="softmax")
    with pytest.raises(ValueError, match=r"activation=None"):
        ls.mlp([2, 2, 1], activation=None)
    with pytest.raises(TypeError, match=r"bias='yes'"):
        ls.mlp([2, 2, 1], bias="yes")
    with pytest.raises(TypeError, match=r"bias=1"):
        ls.mlp([2, 2, 1], bias=1)



# ----------------------------------------------------------------------------- per-layer bias


def test_per_layer_bias_is_normalized_to_one_bool_per_weight_layer():
    assert ls.mlp([2, 3, 1]).bias == (True, True)
    assert ls.mlp([2, 3, 3, 1], bias=False).bias == (False, False, False)
    model = ls.mlp([2, 3, 1], bias=[True, np.bool_(False)])  # a list (e.g. from a config), numpy bools
    assert model.bias == (True, False) and all(type(b) is bool for b in model.bias)
    assert model == ls.mlp([2, 3, 1], bias=(True, False)) and hash(model) == hash(ls.mlp([2, 3, 1], bias=(True, False)))
    assert ls.mlp([2, 3, 1], bias=True) == ls.mlp([2, 3, 1], bias=(True, True))
    assert model != ls.mlp([2, 3, 1]) and model != ls.mlp([2, 3, 1], bias=(False, True))


def test_per_layer_bias_layout():
    """Hidden biases, no output bias: the textbook net. Shapes, unit axes and init follow."""
    model = ls.mlp([2, 3, 1], bias=(True, False))
    assert model.param_shapes == [{"w": (2, 3), "b": (3,)}, {"w": (3, 1)}]
    assert model.unit_axes == [{"w": (None, 0), "b": (0,)}, {"w": (0, None)}]
    params = jax.eval_shape(model.init, jax.random.key(0))
    assert [{k: v.shape for k, v in layer.items()} for layer in params] == model.param_shapes
    deep = ls.mlp([2, 4, 3, 1], bias=(False, True, True))
    assert deep.param_shapes == [{"w": (2, 4)}, {"w": (4, 3), "b": (3,)}, {"w": (3, 1), "b": (1,)}]
    assert deep.unit_axes == [{"w": (None, 0)}, {"w": (0, 1), "b": (1,)}, {"w": (1, None), "b": (None,)}]


@pytest.mark.parametrize("dtype", [jnp.float32, jnp.float64])
def test_per_layer_bias_known_outputs(dtype):
    """Linear 1-1-1 with a hidden bias and no output bias: ``out = v (w x + c)``, exact in small
    integers; a ``bias=(False, True)`` net adds its output bias instead."""
    with jax.enable_x64(dtype == jnp.float64):
        x = jnp.array([[0.0], [1.0], [-2.0]], dtype)
        hidden_only = ls.mlp([1, 1, 1], activation="linear", output="linear", bias=(True, False))
        params = [{"w": jnp.array([[2.0]], dtype), "b": jnp.array([1.0], dtype)}, {"w": jnp.array([[3.0]], dtype)}]
        out = hidden_only.apply(params, x)
        assert out.dtype == dtype and out[:, 0].tolist() == [3.0, 9.0, -9.0]
        output_only = ls.mlp([1, 1, 1], activation="linear", output="linear", bias=(False, True))
        params = [{"w": jnp.array([[2.0]], dtype)}, {"w": jnp.array([[3.0]], dtype), "b": jnp.array([1.0], dtype)}]
        assert output_only.apply(params, x)[:, 0].tolist() == [1.0, 7.0, -11.0]
        batched = output_only.apply_batched(jax.tree.map(lambda a: a[..., None], params), x)
        assert batched[:, 0, 0].tolist() == [1.0, 7.0, -11.0]


def test_bad_per_layer_bias():
    with pytest.raises(ValueError, match=r"bias=\(True, False, True\) must give one bool per weight layer \(2 here\)"):
        ls.mlp([2, 3, 1], bias=(True, False, True))
    with pytest.raises(ValueError, match=r"one bool per weight layer \(2 here\)"):
        ls.mlp([2, 3, 1], bias=[True])
    with pytest.raises(TypeError, match=r"bias=\(True, 0\) must be True or False, or one bool per weight layer"):
        ls.mlp([2, 3, 1], bias=(True, 0))
    with pytest.raises(TypeError, match=r"bias='TF'"):
        ls.mlp([2, 3, 1], bias="TF")

def test_model_is_hashable_and_pure():
    a, b = ls.mlp([2, 2, 1]), ls.mlp([2, 2, 1])
    assert a == b and hash(a) == hash(b)
    assert a != ls.mlp([2, 2, 1], bias=False)
    params = random_params(a, seed=0, dtype=np.float32)
    x = ls.datasets.xor().x
    np.testing.assert_array_equal(np.asarray(jax.jit(a.apply)(params, x)), np.asarray(a.apply(params, x)))

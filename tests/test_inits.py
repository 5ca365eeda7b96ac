"""Tests for landscape.inits: every scheme has its documented values or distribution."""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import landscape as ls
from landscape import inits

# Statistical checks use a fixed seed, so they are deterministic; the bound is N_SE standard
# errors, which a correct sampler with a fresh seed would exceed with probability < 1e-6, while
# the errors these tests are after (wrong std formula, zero biases, a fan swapped) are >= 10%.
N_SE = 5.0
# Two compiled programs computing the same float32 draw can differ in the last bit (fusion).
FLOAT32_RTOL = 4e-7

# A model with wide layers, so that one draw holds tens of thousands of entries.
WIDE = ls.mlp([200, 100, 50], activation="tanh", output="linear")
SMALL = ls.mlp([2, 2, 1])


@pytest.fixture
def x64():
    """Float64 for one test; the global setting is restored afterwards."""
    with jax.enable_x64(True):
        yield


def draw(init_fn, key=0):
    """``init_fn(key)`` run eagerly: jax.random's samplers are compiled once per shape and reused
    by every scheme on the same model, which is cheaper than compiling each scheme as a whole."""
    return init_fn(jax.random.key(key) if isinstance(key, int) else key)


def flat(params) -> np.ndarray:
    return np.concatenate([np.asarray(p, np.float64).ravel() for p in jax.tree.leaves(params)])


def assert_mean_std(values, mean, std):
    """Sample mean and std within N_SE standard errors (SE of the std of a normal: std/sqrt(2n))."""
    values = np.asarray(values, np.float64).ravel()
    n = values.size
    assert abs(values.mean() - mean) <= N_SE * std / math.sqrt(n), (values.mean(), mean)
    assert abs(values.std() - std) <= N_SE * std / math.sqrt(2 * n), (values.std(), std)


def assert_shapes(model, params, dtype=jnp.float32):
    assert [{k: v.shape for k, v in layer.items()} for layer in params] == model.param_shapes
    assert all(leaf.dtype == dtype for leaf in jax.tree.leaves(params))


# ------------------------------------------------------------------ constant and zeros


@pytest.mark.parametrize("sizes, bias", [((2, 2, 1), True), ((3, 5, 4, 2), True), ((2, 3, 1), False)])
def test_constant_half_everywhere(sizes, bias):
    model = ls.mlp(sizes, bias=bias)
    params = inits.constant(model, 0.5)(jax.random.key(0))
    assert_shapes(model, params)
    for layer in params:
        assert set(layer) == ({"w", "b"} if bias else {"w"})
        for leaf in layer.values():  # weights *and* biases
            assert np.all(np.asarray(leaf) == 0.5)
    # the key does not matter
    again = inits.constant(model, 0.5)(jax.random.key(7))
    assert all(np.array_equal(a, b) for a, b in zip(jax.tree.leaves(params), jax.tree.leaves(again)))


def test_constant_other_values_and_zeros():
    assert np.all(flat(inits.constant(SMALL, -1.25)(jax.random.key(0))) == -1.25)
    assert np.all(flat(inits.constant(SMALL, 3)(jax.random.key(0))) == 3.0)
    params = inits.zeros(SMALL)(jax.random.key(0))
    assert_shapes(SMALL, params)
    assert np.all(flat(params) == 0.0)


# ---------------------------------------------------------------- normal and uniform


def test_normal_std_and_mean():
    std = 0.3
    params = draw(inits.normal(WIDE, std), 1)
    assert_shapes(WIDE, params)
    assert flat(params).size == WIDE.n_params == 25150
    assert_mean_std(flat(params), 0.0, std)
    for leaf in jax.tree.leaves(params):  # every leaf, biases included, is drawn (not zero)
        assert_mean_std(leaf, 0.0, std)


def test_normal_with_mean():
    params = draw(inits.normal(WIDE, 2.0, mean=-1.0), 2)
    assert_mean_std(flat(params), -1.0, 2.0)


def test_normal_zero_std_is_the_mean():
    assert np.all(flat(draw(inits.normal(SMALL, 0.0, mean=0.25))) == 0.25)


def test_normal_default_std_is_one():
    assert_mean_std(flat(draw(inits.normal(WIDE), 3)), 0.0, 1.0)


@pytest.mark.parametrize("low, high", [(-1.0, 1.0), (0.2, 0.7)])
def test_uniform_bounds_and_moments(low, high):
    values = flat(draw(inits.uniform(WIDE, low, high), 4))
    assert values.min() >= low and values.max() < high
    n, width = values.size, high - low
    std = width / math.sqrt(12)
    assert abs(values.mean() - (low + high) / 2) <= N_SE * std / math.sqrt(n)
    # the variance of U^2 gives SE(std) ~ width / sqrt(12) * sqrt(0.8 / (4 n)); 1/sqrt(2n) is wider
    assert abs(values.std() - std) <= N_SE * std / math.sqrt(2 * n)
    # it fills the interval: the extremes are within a few expected gaps width / n of the ends
    assert values.min() - low < 20 * width / n and high - values.max() < 20 * width / n


def test_uniform_default_is_minus_one_to_one():
    values = flat(draw(inits.uniform(WIDE), 5))
    assert values.min() >= -1 and values.max() < 1 and values.min() < -0.99 and values.max() > 0.99


# ------------------------------------------------------------------ fan-scaled schemes


FAN_STD = {
    "glorot": lambda fan_in, fan_out: math.sqrt(2.0 / (fan_in + fan_out)),
    "he": lambda fan_in, fan_out: math.sqrt(2.0 / fan_in),
    "lecun": lambda fan_in, fan_out: math.sqrt(1.0 / fan_in),
}


@pytest.mark.parametrize("name", sorted(FAN_STD))
def test_fan_scaled_weight_std_and_zero_biases(name):
    params = draw(getattr(inits, name)(WIDE), 6)
    assert_shapes(WIDE, params)
    for layer in params:
        fan_in, fan_out = layer["w"].shape
        assert_mean_std(layer["w"], 0.0, FAN_STD[name](fan_in, fan_out))
        assert np.all(np.asarray(layer["b"]) == 0.0)


def test_fan_scaled_gain_and_xavier_alias():
    assert inits.xavier is inits.glorot
    params = draw(inits.he(WIDE, gain=3.0), 7)
    for layer in params:
        fan_in, fan_out = layer["w"].shape
        assert_mean_std(layer["w"], 0.0, 3.0 * FAN_STD["he"](fan_in, fan_out))


def test_fan_scaled_without_bias():
    model = ls.mlp([200, 100, 50], bias=False)
    params = draw(inits.lecun(model), 8)
    assert [set(layer) for layer in params] == [{"w"}, {"w"}]
    assert_mean_std(params[0]["w"], 0.0, 1 / math.sqrt(200))


# ------------------------------------------------------------------------ perturbed


def test_perturbed_noise_is_standard_normal():
    eps = 1e-2  # float32 rounding of 0.5 + eps * d is 3e-8, i.e. 3e-6 in units of the noise
    base = inits.constant(WIDE, 0.5)
    params = draw(inits.perturbed(base, eps), 9)
    assert_shapes(WIDE, params)
    noise = (flat(params) - 0.5) / eps
    assert_mean_std(noise, 0.0, 1.0)
    assert np.max(np.abs(noise)) < 6.5  # N(0,1) over 25,150 draws: P(max > 6.5) ~ 2e-6


def test_perturbed_eps_zero_returns_base_exactly():
    base = inits.constant(SMALL, 0.5)
    key = jax.random.key(10)
    same = inits.perturbed(base, 0.0)(key)
    assert all(np.array_equal(a, b) for a, b in zip(jax.tree.leaves(same), jax.tree.leaves(base(key))))
    # a random base is evaluated at fold_in(key, 0) (documented), and eps=0 leaves it untouched
    rbase = inits.normal(SMALL, 1.0)
    same = inits.perturbed(rbase, 0.0)(key)
    expected = rbase(jax.random.fold_in(key, 0))
    assert all(np.array_equal(a, b) for a, b in zip(jax.tree.leaves(same), jax.tree.leaves(expected)))


def test_perturbed_noise_independent_of_random_base():
    """base and noise get independent keys: the noise is not a copy of the base draw."""
    eps = 0.5
    base = inits.normal(WIDE, 1.0)
    key = jax.random.key(11)
    b = flat(draw(base, jax.random.fold_in(key, 0)))
    # the default noise, and an explicit noise scheme that is the base scheme itself
    for noise_fn in (None, inits.normal(WIDE, 1.0)):
        total = flat(draw(inits.perturbed(base, eps, noise=noise_fn), key))
        noise = (total - b) / eps
        assert_mean_std(noise, 0.0, 1.0)
        assert abs(np.corrcoef(b, noise)[0, 1]) < N_SE / math.sqrt(b.size)


def test_perturbed_custom_noise():
    eps = 0.1
    base = inits.constant(WIDE, 0.5)
    params = draw(inits.perturbed(base, eps, noise=inits.uniform(WIDE, 0.0, 1.0)), 12)
    delta = flat(params) - 0.5
    assert delta.min() >= -1e-7 and delta.max() <= eps + 1e-7  # float32 rounding of 0.5 + delta
    assert abs(delta.mean() - eps / 2) < N_SE * eps / math.sqrt(12 * delta.size)


# ------------------------------------------------------------------- combinations


def test_by_layer_constant_hidden_random_output():
    model = WIDE
    init_fn = inits.by_layer(model, [inits.constant(model, 0.5), inits.normal(model, 1.0)])
    key = jax.random.key(13)
    params = draw(init_fn, key)
    assert_shapes(model, params)
    assert np.all(np.asarray(params[0]["w"]) == 0.5) and np.all(np.asarray(params[0]["b"]) == 0.5)
    out = np.concatenate([np.asarray(params[1]["w"]).ravel(), np.asarray(params[1]["b"]).ravel()])
    assert_mean_std(out, 0.0, 1.0)
    # documented keys: layer l comes from schemes[l](fold_in(key, l))
    expected = draw(inits.normal(model, 1.0), jax.random.fold_in(key, 1))[1]
    np.testing.assert_allclose(np.asarray(params[1]["w"]), np.asarray(expected["w"]), rtol=FLOAT32_RTOL)
    # another key: layer 0 unchanged, layer 1 redrawn
    other = draw(init_fn, 14)
    np.testing.assert_array_equal(np.asarray(other[0]["w"]), np.asarray(params[0]["w"]))
    assert not np.any(np.asarray(other[1]["w"]) == np.asarray(params[1]["w"]))


def test_by_layer_three_layers():
    model = ls.mlp([2, 2, 2, 1])  # the same leaf shapes as SMALL: no new samplers to compile
    params = draw(inits.by_layer(model, [inits.zeros(model), inits.he(model), inits.constant(model, 2.0)]))
    assert np.all(flat(params[0]) == 0.0)
    assert np.all(np.asarray(params[1]["b"]) == 0.0) and np.all(np.asarray(params[1]["w"]) != 0.0)
    assert np.all(flat(params[2]) == 2.0)


def test_by_kind_weights_and_biases():
    init_fn = inits.by_kind(WIDE, weights=inits.normal(WIDE, 0.5), biases=inits.constant(WIDE, 0.1))
    params = draw(init_fn, 15)
    assert_shapes(WIDE, params)
    for layer in params:
        assert np.all(np.asarray(layer["b"]) == np.float32(0.1))
    assert_mean_std(np.concatenate([np.asarray(l["w"]).ravel() for l in params]), 0.0, 0.5)


def test_by_kind_per_layer_bias():
    """Hidden biases and no output bias: the biases come from ``biases`` where a layer has one."""
    model = ls.mlp([2, 3, 1], bias=(True, False))
    params = draw(inits.by_kind(model, weights=inits.constant(model, 0.5), biases=inits.constant(model, 0.1)))
    assert_shapes(model, params)
    assert params[0]["b"].tolist() == [np.float32(0.1)] * 3 and "b" not in params[1]
    assert all(np.all(np.asarray(layer["w"]) == 0.5) for layer in params)


@pytest.mark.parametrize("bias", [(True, False), (False, True)])
@pytest.mark.parametrize("name", ["constant", "normal", "glorot", "he", "lecun", "by_layer", "perturbed"])
def test_schemes_follow_per_layer_bias(name, bias):
    model = ls.mlp([2, 3, 1], bias=bias)
    scheme = {"constant": lambda m: inits.constant(m, 0.5)}.get(name) or RANDOM_SCHEMES[name]
    params = draw(scheme(model))
    assert_shapes(model, params)
    assert ["b" in layer for layer in params] == list(bias)


def test_leaf_keys_skip_absent_biases():
    """Leaf i in the documented order (w before b, absent biases skipped) uses fold_in(key, i)."""
    model = ls.mlp([2, 3, 1], bias=(False, True))
    key = jax.random.key(18)
    params = inits.normal(model, 1.0)(key)
    for i, leaf in enumerate([params[0]["w"], params[1]["w"], params[1]["b"]]):
        expected = jax.random.normal(jax.random.fold_in(key, i), leaf.shape)
        np.testing.assert_array_equal(np.asarray(leaf), np.asarray(expected))


def test_scaled_multiplies_and_accepts_traced_scale():
    base = inits.normal(SMALL, 1.0)
    key = jax.random.key(16)
    got = draw(inits.scaled(base, 3.0), key)
    expected = draw(base, key)
    # separately compiled programs may round the normal draw's last bit differently (float32)
    np.testing.assert_allclose(flat(got), 3.0 * flat(expected), rtol=FLOAT32_RTOL)
    # a per-run scale under vmap (init-scale sweeps)
    scales = jnp.array([0.0, 1.0, -2.0])
    swept = jax.jit(jax.vmap(lambda s: inits.scaled(base, s)(key)))(scales)
    for r, s in enumerate([0.0, 1.0, -2.0]):
        np.testing.assert_allclose(flat(jax.tree.map(lambda a: a[r], swept)), s * flat(expected),
                                   rtol=FLOAT32_RTOL)


# -------------------------------------------------------------------- keys and dtypes


def test_leaf_keys_follow_documented_order():
    """Leaf i, counted layer by layer with "w" before "b", is drawn with fold_in(key, i)."""
    key = jax.random.key(17)
    params = inits.normal(SMALL, 1.0)(key)
    i = 0
    for layer, shapes in zip(params, SMALL.param_shapes):
        for kind, shape in shapes.items():
            expected = jax.random.normal(jax.random.fold_in(key, i), shape)
            np.testing.assert_array_equal(np.asarray(layer[kind]), np.asarray(expected))
            i += 1


RANDOM_SCHEMES = {
    "normal": lambda m: inits.normal(m, 1.0),
    "uniform": lambda m: inits.uniform(m, -1.0, 1.0),
    "glorot": inits.glorot,
    "he": inits.he,
    "lecun": inits.lecun,
    "perturbed": lambda m: inits.perturbed(inits.constant(m, 0.5), 0.1),
    "by_layer": lambda m: inits.by_layer(m, [inits.constant(m, 0.5), inits.normal(m, 1.0)]),
}


@pytest.mark.parametrize("name", sorted(RANDOM_SCHEMES))
def test_same_key_same_params_different_key_different(name):
    init_fn = RANDOM_SCHEMES[name](SMALL)
    a, b, c = init_fn(jax.random.key(0)), init_fn(jax.random.key(0)), init_fn(jax.random.key(1))
    assert_shapes(SMALL, a)
    assert np.array_equal(flat(a), flat(b))
    assert not np.array_equal(flat(a), flat(c))


@pytest.mark.parametrize("name", ["constant", "zeros", "normal", "uniform", "glorot", "he", "lecun"])
def test_dtype_float64(name, x64):
    factory = {"constant": lambda m, dtype: inits.constant(m, 0.1, dtype=dtype),
               "zeros": inits.zeros,
               "normal": lambda m, dtype: inits.normal(m, 1.0, dtype=dtype),
               "uniform": lambda m, dtype: inits.uniform(m, -1.0, 1.0, dtype=dtype),
               "glorot": inits.glorot, "he": inits.he, "lecun": inits.lecun}[name]
    init_fn = factory(SMALL, dtype=jnp.float64)
    shapes = jax.eval_shape(init_fn, jax.random.key(0))
    assert all(s.dtype == jnp.float64 for s in jax.tree.leaves(shapes))


def test_float64_values_are_not_float32(x64):
    values = flat(inits.constant(SMALL, 0.1, dtype=jnp.float64)(jax.random.key(0)))
    assert np.all(values == 0.1)  # 0.1 is not a float32 number
    params = draw(inits.normal(SMALL, 1.0, dtype=jnp.float64))
    assert all(leaf.dtype == jnp.float64 for leaf in jax.tree.leaves(params))
    values = flat(params)
    assert np.any(values != values.astype(np.float32))
    params = draw(inits.perturbed(inits.constant(SMALL, 0.5, dtype=jnp.float64), 1e-9))
    assert all(leaf.dtype == jnp.float64 for leaf in jax.tree.leaves(params))
    assert np.all(np.abs(flat(params) - 0.5) < 1e-8) and np.any(flat(params) != 0.5)


# ------------------------------------------------------------------------------ errors


@pytest.mark.parametrize("std, exc, match", [(-1.0, ValueError, r"std=-1\.0"),
                                             (float("nan"), ValueError, r"std=nan"),
                                             (float("inf"), ValueError, r"std=inf"),
                                             ("1", TypeError, r"std='1'")])
def test_bad_std(std, exc, match):
    with pytest.raises(exc, match=match):
        inits.normal(SMALL, std)


@pytest.mark.parametrize("low, high", [(1.0, 1.0), (2.0, -1.0)])
def test_uniform_needs_low_below_high(low, high):
    with pytest.raises(ValueError, match=rf"low={low!r}, high={high!r}"):
        inits.uniform(SMALL, low, high)
    with pytest.raises(ValueError, match=r"low=nan"):
        inits.uniform(SMALL, float("nan"), 1.0)


def test_bad_numbers():
    with pytest.raises(ValueError, match=r"value=inf"):
        inits.constant(SMALL, float("inf"))
    with pytest.raises(ValueError, match=r"mean=nan"):
        inits.normal(SMALL, 1.0, mean=float("nan"))
    with pytest.raises(ValueError, match=r"gain=0"):
        inits.he(SMALL, gain=0)
    with pytest.raises(ValueError, match=r"gain=-1\.0"):
        inits.glorot(SMALL, gain=-1.0)
    with pytest.raises(ValueError, match=r"eps=nan"):
        inits.perturbed(inits.zeros(SMALL), float("nan"))
    with pytest.raises(TypeError, match=r"base="):
        inits.perturbed("zeros", 0.1)
    with pytest.raises(TypeError, match=r"base="):
        inits.scaled(None, 2.0)


def test_numpy_scalars_accepted_bools_rejected():
    # numpy scalars are numbers (e.g. np.float32 read from a sweep array)
    assert np.all(flat(inits.constant(SMALL, np.int64(2))(jax.random.key(0))) == 2.0)
    assert np.all(flat(inits.normal(SMALL, np.float32(0.0), mean=np.float32(0.5))(jax.random.key(0))) == 0.5)
    with pytest.raises(TypeError, match=r"value=True"):
        inits.constant(SMALL, True)
    with pytest.raises(TypeError, match=r"std=array"):
        inits.normal(SMALL, np.array([1.0, 2.0]))


def test_by_layer_wrong_scheme_count():
    one = inits.zeros(SMALL)
    with pytest.raises(ValueError, match=r"schemes must list one init_fn per weight layer \(2 for sizes \[2, 2, 1\]\)"):
        inits.by_layer(SMALL, [one])
    with pytest.raises(ValueError, match=r"schemes"):
        inits.by_layer(SMALL, [one, one, one])
    with pytest.raises(ValueError, match=r"schemes"):
        inits.by_layer(SMALL, one)
    with pytest.raises(TypeError, match=r"schemes\[1\]"):
        inits.by_layer(SMALL, [one, 0.5])


def test_by_kind_needs_biases():
    model = ls.mlp([2, 2, 1], bias=False)
    with pytest.raises(ValueError, match=r"bias=False"):
        inits.by_kind(model, weights=inits.zeros(model), biases=inits.zeros(model))
    with pytest.raises(TypeError, match=r"biases="):
        inits.by_kind(SMALL, weights=inits.zeros(SMALL), biases=0.0)
    none = ls.mlp([2, 2, 1], bias=(False, False))
    with pytest.raises(ValueError, match=r"bias=False"):
        inits.by_kind(none, weights=inits.zeros(none), biases=inits.zeros(none))


@pytest.mark.parametrize("factory", [
    lambda m: inits.constant(m, 0.5), inits.zeros, lambda m: inits.normal(m, 1.0),
    lambda m: inits.uniform(m, 0.0, 1.0), inits.glorot, inits.he, inits.lecun,
    lambda m: inits.by_layer(m, []), lambda m: inits.by_kind(m, weights=None, biases=None),
])
def test_non_model_rejected(factory):
    with pytest.raises(TypeError, match=r"model=\[2, 2, 1\] must be a landscape Model"):
        factory([2, 2, 1])

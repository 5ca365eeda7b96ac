"""Tests for landscape.datasets: known answers, shapes, determinism per key, argument errors."""

from __future__ import annotations

import itertools
import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import landscape as ls
from landscape import datasets as ds

KEY = jax.random.key(0)
OTHER_KEY = jax.random.key(1)

# float32 trig on inputs of size <= 2*pi: a few ulps of 1.0 (~1.2e-7 each).
TRIG_ATOL = 1e-5
# The samplers run compiled; XLA may fuse float32 ops differently from eager op-by-op
# evaluation (seen: 1 ulp in a LeCun-scaled weight), so compiled-vs-eager comparisons allow
# a few ulps of O(1) values.
TRANSFORM_ATOL = 1e-6
TRANSFORM_RTOL = 1e-6


def _np(a):
    return np.asarray(a)


# --------------------------------------------------------------------------- boolean tasks


def test_xor_table():
    x, y = ds.xor()
    np.testing.assert_array_equal(_np(x), [[0, 0], [0, 1], [1, 0], [1, 1]])
    np.testing.assert_array_equal(_np(y), [[0], [1], [1], [0]])
    assert x.dtype == jnp.float32 and y.dtype == jnp.float32


@pytest.mark.parametrize("n_bits", [1, 2, 3, 5, 8])
def test_parity(n_bits):
    x, y = ds.parity(n_bits)
    x, y = _np(x), _np(y)
    assert x.shape == (2 ** n_bits, n_bits) and y.shape == (2 ** n_bits, 1)
    assert x.dtype == np.float32 and y.dtype == np.float32
    # every pattern exactly once, in counting order (row i is i in binary, MSB first)
    expected = np.array(list(itertools.product([0, 1], repeat=n_bits)), np.float32)
    np.testing.assert_array_equal(x, expected)
    np.testing.assert_array_equal(y[:, 0], x.sum(axis=1) % 2)
    assert y.sum() == 2 ** (n_bits - 1)  # exactly half the patterns are odd


def test_parity_two_is_xor():
    for a, b in zip(ds.parity(2), ds.xor()):
        np.testing.assert_array_equal(_np(a), _np(b))


@pytest.mark.parametrize("n", [1, 4, 8])
def test_encoder_is_identity(n):
    x, y = ds.encoder(n, m=max(1, int(math.log2(n))))
    np.testing.assert_array_equal(_np(x), np.eye(n))
    np.testing.assert_array_equal(_np(y), np.eye(n))
    assert x.dtype == jnp.float32


def _mirror_reference(n_bits):
    rows, labels = [], []
    for bits in itertools.product([0, 1], repeat=n_bits):
        rows.append(bits)
        labels.append(int(all(bits[i] == bits[n_bits - 1 - i] for i in range(n_bits))))
    return np.array(rows), np.array(labels)


@pytest.mark.parametrize("n_bits", [2, 4, 6, 8])
def test_mirror_against_plain_python(n_bits):
    x, y = ds.mirror(n_bits)
    ref_x, ref_y = _mirror_reference(n_bits)
    assert x.shape == (2 ** n_bits, n_bits) and y.shape == (2 ** n_bits, 1)
    np.testing.assert_array_equal(_np(x), ref_x)
    np.testing.assert_array_equal(_np(y)[:, 0], ref_y)
    assert int(_np(y).sum()) == 2 ** (n_bits // 2)


def test_mirror_default_is_six_bits():
    x, y = ds.mirror()
    assert x.shape == (64, 6) and int(_np(y).sum()) == 8


def test_dtype_keyword():
    with jax.enable_x64(True):
        assert ds.parity(3, dtype=jnp.float64).x.dtype == jnp.float64
        data, params = ds.teacher_student(KEY, ls.mlp([3, 2, 1]), 10, dtype=jnp.float64)
        assert data.x.dtype == data.y.dtype == params[0]["w"].dtype == jnp.float64
    assert ds.mirror(4, dtype=jnp.bfloat16).y.dtype == jnp.bfloat16


# --------------------------------------------------------------------------- two-class 2-D sets
# Each sampler compiles once per (n_samples, noisy, dtype); the tests reuse a few sizes so the
# file stays fast.

N = 200
TWO_CLASS = {
    "moons": lambda key, n=N, **kw: ds.moons(key, n, **kw),
    "spirals": lambda key, n=N, **kw: ds.spirals(key, n, **kw),
    "circles": lambda key, n=N, **kw: ds.circles(key, n, **kw),
}


@pytest.mark.parametrize("name", sorted(TWO_CLASS))
@pytest.mark.parametrize("n", [N, 7])
def test_two_class_shapes_and_balance(name, n):
    x, y = TWO_CLASS[name](KEY, n)
    assert x.shape == (n, 2) and y.shape == (n, 1)
    assert x.dtype == jnp.float32 and y.dtype == jnp.float32
    y = _np(y)[:, 0]
    assert set(np.unique(y)) == {0.0, 1.0}
    assert (y == 0).sum() == n - n // 2 and (y == 1).sum() == n // 2
    assert np.all(np.isfinite(_np(x)))


@pytest.mark.parametrize("name", sorted(TWO_CLASS))
def test_two_class_rows_alternate(name):
    # Documented layout: row i has label i % 2, so every prefix is balanced.
    y = _np(TWO_CLASS[name](KEY).y)[:, 0]
    np.testing.assert_array_equal(y, np.arange(N) % 2)


@pytest.mark.parametrize("name", sorted(TWO_CLASS))
def test_two_class_determinism(name):
    make = TWO_CLASS[name]
    a, b, c = make(KEY), make(jax.random.key(0)), make(OTHER_KEY)
    np.testing.assert_array_equal(_np(a.x), _np(b.x))
    np.testing.assert_array_equal(_np(a.y), _np(b.y))
    assert not np.allclose(_np(a.x), _np(c.x))
    # also without noise: the key must drive the positions, not only the noise
    a0, c0 = make(KEY, noise=0.0), make(OTHER_KEY, noise=0.0)
    assert not np.allclose(_np(a0.x), _np(c0.x))


@pytest.mark.parametrize("name", sorted(TWO_CLASS))
def test_two_class_vmap_over_keys_matches_loop(name):
    make = TWO_CLASS[name]
    keys = jax.random.split(KEY, 3)
    batched = jax.vmap(lambda k: make(k))(keys)
    assert batched.x.shape == (3, N, 2)
    for i in range(3):
        eager = make(keys[i])
        np.testing.assert_allclose(_np(batched.x[i]), _np(eager.x),
                                   rtol=TRANSFORM_RTOL, atol=TRANSFORM_ATOL)
        np.testing.assert_array_equal(_np(batched.y[i]), _np(eager.y))


def test_raw_uint32_key_accepted():
    raw = jax.random.PRNGKey(0)
    assert ds.moons(raw).x.shape == (N, 2)


def test_moons_noise_free_on_half_circles():
    x, y = ds.moons(KEY, N, noise=0.0)
    x, y = _np(x), _np(y)[:, 0]
    outer, inner = x[y == 0], x[y == 1]
    np.testing.assert_allclose(np.hypot(outer[:, 0], outer[:, 1]), 1.0, atol=TRIG_ATOL)
    assert np.all(outer[:, 1] >= -TRIG_ATOL)  # upper half circle about the origin
    np.testing.assert_allclose(np.hypot(inner[:, 0] - 1.0, inner[:, 1] - 0.5), 1.0, atol=TRIG_ATOL)
    assert np.all(inner[:, 1] <= 0.5 + TRIG_ATOL)  # lower half circle about (1, 0.5)


@pytest.mark.parametrize("factor", [0.3, 0.5, 0.8])
def test_circles_radii_separate_classes(factor):
    x, y = ds.circles(KEY, N, noise=0.0, factor=factor)
    r, y = np.hypot(_np(x)[:, 0], _np(x)[:, 1]), _np(y)[:, 0]
    np.testing.assert_allclose(r[y == 0], 1.0, atol=TRIG_ATOL)
    np.testing.assert_allclose(r[y == 1], factor, atol=TRIG_ATOL)
    assert r[y == 1].max() < r[y == 0].min()


def test_circles_noise_spreads_radii():
    noise = 0.05
    x, y = ds.circles(KEY, N, noise=noise, factor=0.5)
    r, y = np.hypot(_np(x)[:, 0], _np(x)[:, 1]), _np(y)[:, 0]
    dev = r - np.where(y == 0, 1.0, 0.5)
    # For noise << radius the radial deviation is ~N(0, noise^2); the std of 200 draws is off
    # by ~5% (1/sqrt(2*200)), so a 30% band is a 6-sigma check.
    np.testing.assert_allclose(dev.std(), noise, rtol=0.3)


@pytest.mark.parametrize("turns", [0.5, 1.5, 3.0])
def test_spirals_noise_free_follow_their_arms(turns):
    x, y = ds.spirals(KEY, N, noise=0.0, turns=turns)
    x, y = _np(x).astype(np.float64), _np(y)[:, 0]
    r = np.hypot(x[:, 0], x[:, 1])
    assert np.all(r <= 1.0 + TRIG_ATOL)
    # angle of a point = 2 pi turns r + pi * label (mod 2 pi); compare on the unit circle
    want = 2 * np.pi * turns * r + np.pi * y
    keep = r > 1e-3  # the angle of a point at the origin is undefined
    err = np.abs(np.angle(np.exp(1j * (np.arctan2(x[:, 1], x[:, 0]) - want))))[keep]
    # float32 radius error ~1e-7 times 2 pi turns, plus atan2 error ~1e-7 / r: far below 1e-3
    assert err.max() < 1e-3


# --------------------------------------------------------------------------- regression

# Relative error of a sample standard deviation from N draws is about 1/sqrt(2N).
NOISE_SAMPLES = 20_000
NOISE_RTOL = 0.05  # 1/sqrt(2 * 20_000) = 0.005, so 5% is a 10-sigma band: never flaky
TEACHER = ls.mlp([3, 4, 2], activation="tanh", output="linear")


def test_teacher_student_noise_free_matches_teacher():
    out = ds.teacher_student(KEY, TEACHER, NOISE_SAMPLES)
    assert isinstance(out, ds.TeacherStudent) and isinstance(out.data, ds.Dataset)
    data, params = out  # unpacks as a pair
    assert data is out.data and params is out.teacher_params
    assert data.x.shape == (NOISE_SAMPLES, 3) and data.y.shape == (NOISE_SAMPLES, 2)
    np.testing.assert_allclose(_np(data.y), _np(TEACHER.apply(params, data.x)),
                               rtol=TRANSFORM_RTOL, atol=TRANSFORM_ATOL)
    # the default teacher init is the model's own init on fold_in(key, 0)
    expected = TEACHER.init(jax.random.fold_in(KEY, 0))
    for got, want in zip(jax.tree.leaves(params), jax.tree.leaves(expected)):
        np.testing.assert_allclose(_np(got), _np(want), rtol=TRANSFORM_RTOL, atol=TRANSFORM_ATOL)
    # inputs N(0, I): 60k draws, mean error ~0.004, std error ~0.003; bands are > 10 sigma
    x = _np(data.x)
    assert abs(x.mean()) < 0.04
    np.testing.assert_allclose(x.std(), 1.0, rtol=NOISE_RTOL)


def test_teacher_student_noise_std():
    noise_std = 0.3
    clean, clean_params = ds.teacher_student(KEY, TEACHER, NOISE_SAMPLES)
    data, params = ds.teacher_student(KEY, TEACHER, NOISE_SAMPLES, noise_std=noise_std)
    # the noise is an extra ingredient: same key, same teacher and inputs
    np.testing.assert_array_equal(_np(data.x), _np(clean.x))
    for got, want in zip(jax.tree.leaves(params), jax.tree.leaves(clean_params)):
        np.testing.assert_array_equal(_np(got), _np(want))
    resid = _np(data.y - TEACHER.apply(params, data.x))
    np.testing.assert_allclose(resid.std(), noise_std, rtol=NOISE_RTOL)
    # mean of 40k N(0, 0.3^2) draws has std 0.0015; 0.02 is > 10 sigma
    assert abs(resid.mean()) < 0.02


def test_teacher_student_custom_init_and_determinism():
    teacher = ls.mlp([3, 2], output="linear")  # one layer: a cheap custom init to compile
    init = ls.inits.normal(teacher, 2.0)
    a, pa = ds.teacher_student(KEY, teacher, 16, teacher_init=init)
    b, pb = ds.teacher_student(KEY, teacher, 16, teacher_init=init)
    c, pc = ds.teacher_student(OTHER_KEY, teacher, 16, teacher_init=init)
    for got, want in zip(jax.tree.leaves(pa), jax.tree.leaves(init(jax.random.fold_in(KEY, 0)))):
        np.testing.assert_allclose(_np(got), _np(want), rtol=TRANSFORM_RTOL, atol=TRANSFORM_ATOL)
    assert _np(pa[0]["b"]).any()  # inits.normal fills biases too: the custom init was used
    np.testing.assert_array_equal(_np(a.x), _np(b.x))
    np.testing.assert_array_equal(_np(a.y), _np(b.y))
    np.testing.assert_allclose(_np(a.y), _np(teacher.apply(pa, a.x)),
                               rtol=TRANSFORM_RTOL, atol=TRANSFORM_ATOL)
    assert not np.allclose(_np(a.x), _np(c.x))
    assert not np.allclose(_np(pa[0]["w"]), _np(pc[0]["w"]))


def test_sine_matches_sin_and_is_sorted():
    x, y = ds.sine(KEY)
    x, y = _np(x), _np(y)
    assert x.shape == (64, 1) and y.shape == (64, 1)
    np.testing.assert_allclose(y, np.sin(x), atol=TRIG_ATOL)
    assert np.all(np.diff(x[:, 0]) >= 0)
    assert x.min() >= -np.pi and x.max() < np.pi


def test_sine_range_determinism_and_noise():
    x, _ = ds.sine(KEY, x_range=(2.0, 3.0))
    assert _np(x).min() >= 2.0 and _np(x).max() < 3.0
    np.testing.assert_array_equal(_np(ds.sine(KEY).x), _np(ds.sine(jax.random.key(0)).x))
    assert not np.allclose(_np(ds.sine(KEY).x), _np(ds.sine(OTHER_KEY).x))
    x, y = ds.sine(KEY, NOISE_SAMPLES, noise_std=0.1)
    np.testing.assert_allclose((_np(y) - np.sin(_np(x))).std(), 0.1, rtol=NOISE_RTOL)


# --------------------------------------------------------------------------- argument errors

MODEL = ls.mlp([2, 2, 1])

BAD_CALLS = [
    (lambda: ds.parity(0), ValueError, r"n_bits=0 must be an integer >= 1 and <= 24"),
    (lambda: ds.parity(40), ValueError, r"n_bits=40 must be an integer >= 1 and <= 24"),
    (lambda: ds.parity(2.0), TypeError, r"n_bits=2\.0 must be an integer"),
    (lambda: ds.parity(True), TypeError, r"n_bits=True must be an integer"),
    (lambda: ds.parity(3, dtype=jnp.int32), TypeError, r"dtype=.*must be a floating dtype"),
    (lambda: ds.encoder(0), ValueError, r"n=0 must be an integer >= 1"),
    (lambda: ds.encoder(4, m=0), ValueError, r"m=0 must be an integer >= 1"),
    (lambda: ds.mirror(5), ValueError, r"n_bits=5 must be an even integer"),
    (lambda: ds.mirror(0), ValueError, r"n_bits=0 must be an integer >= 2"),
    (lambda: ds.mirror(30), ValueError, r"n_bits=30 must be an integer >= 2 and <= 24"),
    (lambda: ds.moons(KEY, 0), ValueError, r"n_samples=0 must be an integer >= 2"),
    (lambda: ds.moons(KEY, -5), ValueError, r"n_samples=-5 must be an integer >= 2"),
    (lambda: ds.moons(KEY, 10, noise=-0.1), ValueError, r"noise=-0\.1 must be a finite number >= 0"),
    (lambda: ds.moons(KEY, 10, noise=float("nan")), ValueError, r"noise=nan must be a finite"),
    (lambda: ds.moons(jax.random.split(KEY, 2)), TypeError,
     r"key=<array shape=\(2,\) dtype=key<fry>> must be an integer seed or one JAX PRNG key"),
    (lambda: ds.moons(jnp.zeros(2)), TypeError,
     r"key=<array shape=\(2,\) dtype=float32> must be an integer seed or one JAX PRNG key"),
    (lambda: ds.spirals(KEY, 1), ValueError, r"n_samples=1 must be an integer >= 2"),
    (lambda: ds.spirals(KEY, 10, noise=-1), ValueError, r"noise=-1 must be a finite number >= 0"),
    (lambda: ds.spirals(KEY, 10, turns=0), ValueError, r"turns=0 must be a finite number > 0"),
    (lambda: ds.spirals("seed"), TypeError, r"key='seed' must be an integer seed or one JAX PRNG key"),
    (lambda: ds.circles(KEY, 10, factor=1.0), ValueError,
     r"factor=1\.0 must be a finite number > 0\.0 and < 1\.0"),
    (lambda: ds.circles(KEY, 10, factor=0), ValueError,
     r"factor=0 must be a finite number > 0\.0 and < 1\.0"),
    (lambda: ds.circles(KEY, 10, noise=-0.5), ValueError, r"noise=-0\.5 must be a finite number >= 0"),
    (lambda: ds.circles(KEY, 0), ValueError, r"n_samples=0 must be an integer >= 2"),
    (lambda: ds.teacher_student(KEY, "mlp"), TypeError, r"teacher='mlp' must be a landscape Model"),
    (lambda: ds.teacher_student(KEY, MODEL, 0), ValueError, r"n_samples=0 must be an integer >= 1"),
    (lambda: ds.teacher_student(KEY, MODEL, 10, noise_std=-1.0), ValueError,
     r"noise_std=-1\.0 must be a finite number >= 0"),
    (lambda: ds.teacher_student(KEY, MODEL, 10, teacher_init=3), TypeError,
     r"teacher_init=3 must be an init_fn\(key\) -> params"),
    (lambda: ds.teacher_student(KEY, MODEL, 10, teacher_init=ls.inits.normal(ls.mlp([3, 2, 1]))),
     ValueError, r"teacher_init=.* returns params of shapes .*expected the teacher's shapes"),
    (lambda: ds.teacher_student(-7, MODEL), ValueError, r"key=-7 must be a seed in \[0, 2\*\*64\)"),
    (lambda: ds.sine(KEY, 0), ValueError, r"n_samples=0 must be an integer >= 1"),
    (lambda: ds.sine(KEY, 10, noise_std=-0.1), ValueError,
     r"noise_std=-0\.1 must be a finite number >= 0"),
    (lambda: ds.sine(KEY, 10, x_range=(1.0, 1.0)), ValueError,
     r"x_range=\(1\.0, 1\.0\) must be \(low, high\) with low < high"),
    (lambda: ds.sine(KEY, 10, x_range=3.0), TypeError, r"x_range=3\.0 must be a pair"),
    (lambda: ds.sine(KEY, 10, x_range=(0.0, float("inf"))), ValueError,
     r"x_range\[1\]=inf must be a finite number"),
    (lambda: ds.sine(None), TypeError, r"key=None must be an integer seed or one JAX PRNG key"),
]


@pytest.mark.parametrize("call, exc, match", BAD_CALLS, ids=[m for _, _, m in BAD_CALLS])
def test_argument_errors(call, exc, match):
    with pytest.raises(exc, match=match):
        call()


def test_an_integer_seed_draws_what_its_key_draws():
    np.testing.assert_array_equal(ds.moons(3, 16).x, ds.moons(jax.random.key(3), 16).x)


def test_all_exports_exist():
    for name in ds.__all__:
        assert hasattr(ds, name), name
    assert {"parity", "encoder", "mirror", "moons", "spirals", "circles",
            "teacher_student", "sine"} <= set(ds.__all__)

"""landscape.symmetry on any model: an Equinox MLP, a Flax linen MLP and a Flax NNX MLP holding
the same weights as an ls.mlp (tests/frameworks.py) give the same symmetry gap, orbit sizes and
curvature split; every group element preserves each framework's function; a small Flax CNN
(conv channels as units) has a gap of 0 from a constant start and > 0 from a random one."""

import math

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import landscape as ls
from landscape import symmetry as sy
from landscape import units

from frameworks import KINDS, convert

pytest.importorskip("flax")
pytest.importorskip("equinox")

# The same entries of the same network, stored transposed (Equinox) or in another leaf order
# (NNX: bias before kernel): the gap's sum of squares runs over the same terms in another order,
# and a permuted/flipped network's matmuls do too. A few ulps of O(1) values, with margin.
RTOL = {jnp.float32: 1e-5, jnp.float64: 1e-12}
ACTIVATIONS = ("tanh", "sigmoid", "relu")
SIZES = [2, 3, 3, 1]  # two hidden layers of one width (Equinox's nn.MLP needs that)


@pytest.fixture(params=[jnp.float32, jnp.float64], ids=["f32", "f64"])
def dtype(request):
    if request.param == jnp.float64:
        with jax.enable_x64(True):
            yield request.param
    else:
        yield request.param


def random_params(model, dtype, seed=0, batch=()):
    rng = np.random.default_rng(seed)
    return [{k: jnp.asarray(rng.normal(size=tuple(batch) + shape), dtype) for k, shape in layer.items()}
            for layer in model.param_shapes]


def framework(kind, model, params, n_batch=0):
    """``(model= argument, params, apply)`` for ``kind``: linen's layout is read from its params
    (one network) with the activation named, so it is passed as a UnitLayout."""
    net, fw, apply = convert(kind, model, params)
    if kind == "linen":
        net = units.layout(net, fw, activation=model.activation, n_batch_axes=n_batch)
    return net, fw, apply


def closed_orbit(sizes, flips):
    return math.prod(math.factorial(h) * (2**h if flips else 1) for h in sizes[1:-1])


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("activation", ACTIVATIONS)
def test_same_gap_and_orbit_size_in_every_framework(kind, activation, dtype):
    model = ls.mlp(SIZES, activation=activation, output="linear")
    params = random_params(model, dtype, batch=(4,))
    net, fw, _ = framework(kind, model, params, n_batch=1)
    want = np.asarray(sy.symmetry_gap(params, model=model))
    got = np.asarray(sy.symmetry_gap(fw, model=net))
    assert got.shape == (4,) and got.dtype == dtype
    np.testing.assert_allclose(got, want, rtol=RTOL[dtype])
    for h, (a, b) in enumerate(zip(sy.symmetry_gap(fw, model=net, per_layer=True),
                                   sy.symmetry_gap(params, model=model, per_layer=True))):
        np.testing.assert_allclose(a, b, rtol=RTOL[dtype], err_msg=f"hidden layer {h}")
    # a constant start lies in the symmetric subspace exactly
    const = jax.tree.map(lambda a: jnp.full_like(a, 0.5), params)
    _, fw_const, _ = framework(kind, model, const, n_batch=1)
    assert np.all(np.asarray(sy.symmetry_gap(fw_const, model=net)) == 0.0)
    # the projection removes the gap, and the breaking part carries all of it
    sym = sy.project_symmetric(fw, model=net)
    np.testing.assert_allclose(sy.symmetry_gap(sym, model=net), 0.0, atol=RTOL[dtype] * want.max())
    brk = sy.project_breaking(fw, model=net)
    norms = np.sqrt(sum(np.sum(np.asarray(a).reshape(4, -1) ** 2, axis=1) for a in jax.tree.leaves(brk)))
    np.testing.assert_allclose(norms, got, rtol=RTOL[dtype])
    # orbit sizes: the closed forms, flips exactly for odd and logistic activations
    flips = activation != "relu"
    assert sy.orbit_size(net) == closed_orbit(SIZES, flips)
    assert sy.orbit_size(net, flips=False) == closed_orbit(SIZES, False)
    assert sy.symmetric_basis(net).shape == sy.symmetric_basis(model).shape
    assert sy.breaking_basis(net).shape == sy.breaking_basis(model).shape


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("activation", ACTIVATIONS)
def test_every_group_element_preserves_the_function(kind, activation, dtype):
    model = ls.mlp(SIZES, activation=activation, output="linear")
    params = random_params(model, dtype, seed=1)
    net, fw, apply = framework(kind, model, params)
    x = jnp.asarray(np.random.default_rng(2).normal(size=(5, SIZES[0])), dtype)
    elements = sy.random_element(jax.random.key(3), model=net, shape=(6,))
    assert (elements.signs is not None) == (activation != "relu")
    images = sy.apply_element(fw, elements, model=net)
    want = apply(fw, x)
    for i in range(6):
        image = jax.tree.map(lambda a: a[i], images)
        np.testing.assert_allclose(apply(image, x), want, rtol=RTOL[dtype], atol=RTOL[dtype])
    # the same element moves the same weights as on the ls.mlp
    ref = sy.apply_element(params, elements, model=model)
    np.testing.assert_allclose(sy.symmetry_gap(images, model=net), sy.symmetry_gap(ref, model=model),
                               rtol=RTOL[dtype])
    # the whole finite group on a smaller net: every image computes the same function
    small = ls.mlp([2, 2, 1], activation=activation, output="linear")
    p_small = random_params(small, dtype, seed=4)
    net_s, fw_s, apply_s = framework(kind, small, p_small)
    orbit = sy.orbit(fw_s, model=net_s)
    size = closed_orbit([2, 2, 1], activation != "relu")
    assert jax.tree.leaves(orbit)[0].shape[0] == size
    for g in range(size):
        image = jax.tree.map(lambda a: a[g], orbit)
        np.testing.assert_allclose(apply_s(image, x), apply_s(fw_s, x), rtol=RTOL[dtype],
                                   atol=RTOL[dtype])


def test_curvature_split_and_escape_agree_with_ls_mlp():
    with jax.enable_x64(True):
        eqx = pytest.importorskip("equinox")
        model = ls.mlp([2, 2, 1], activation="tanh", output="linear")
        data = ls.datasets.xor(dtype=jnp.float64)
        base = jax.tree.map(lambda a: jnp.full_like(a, 0.3), random_params(model, jnp.float64))
        net, fw, apply = convert("equinox", model, base)
        assert isinstance(net, eqx.Module)

        def mse(f):
            return lambda p, d: jnp.mean((f(p, d.x) - d.y) ** 2)

        want = sy.symmetry_curvature(mse(model.apply), base, data, model=model)
        got = sy.symmetry_curvature(mse(apply), fw, data, model=net)
        np.testing.assert_allclose(got.symmetric, want.symmetric, rtol=1e-10, atol=1e-12)
        np.testing.assert_allclose(got.breaking, want.breaking, rtol=1e-10, atol=1e-12)
        eps = [1e-4, 1e-3]
        esc_ref = sy.escape(mse(model.apply), base, data, eps, learning_rate=0.5, steps=400,
                            model=model)
        esc = sy.escape(mse(apply), fw, data, eps, learning_rate=0.5, steps=400, model=net)
        np.testing.assert_allclose(esc.lambda_min, esc_ref.lambda_min, rtol=1e-10)
        np.testing.assert_allclose(esc.gaps, esc_ref.gaps, rtol=1e-8, atol=1e-14)
        # the equilibrium: ls.mlp trains one unit per layer, any other layout trains orthonormal
        # coordinates of the subspace; for gradient descent both are the full network's dynamics
        # (XOR's constant sigmoid start: a smooth run to its trap at infinity)
        logistic = ls.mlp([2, 2, 1])
        start = ls.inits.constant(logistic, 0.5, dtype=jnp.float64)(jax.random.key(0))
        net_l, fw_l, apply_l = convert("equinox", logistic, start)
        eq_ref = sy.symmetric_equilibrium(mse(logistic.apply), start, data,
                                          optimizer=optax.sgd(2.0), steps=2000, model=logistic)
        eq = sy.symmetric_equilibrium(mse(apply_l), fw_l, data, optimizer=optax.sgd(2.0),
                                      steps=2000, model=net_l)
        assert eq.kind == eq_ref.kind == "trap_at_infinity" and eq.label == eq_ref.label
        np.testing.assert_allclose(eq.loss, eq_ref.loss, rtol=1e-12)
        np.testing.assert_allclose(eq.lambda_min, eq_ref.lambda_min, rtol=1e-9)
        assert float(sy.symmetry_gap(eq.params, model=net_l)) == 0.0
        with pytest.raises(TypeError, match="reduced_model needs an ls.mlp"):
            sy.reduced_model(net)


def _cnn():
    from flax import linen as nn

    class CNN(nn.Module):
        @nn.compact
        def __call__(self, x):  # (N, 5, 5, 1) images
            x = jnp.tanh(nn.Conv(3, (3, 3), padding="VALID")(x))
            return nn.Dense(1)(x.reshape(x.shape[0], -1))

    net = CNN()
    x = jnp.asarray(np.random.default_rng(0).normal(size=(4, 5, 5, 1)), jnp.float32)
    return net, net.init(jax.random.key(0), x), x


def test_flax_cnn_channels_are_units():
    net, params, x = _cnn()
    spec = units.layout(net, params, activation="tanh")
    assert spec.hidden_sizes == (3,) and spec.positions(0) == 9
    const = jax.tree.map(lambda a: jnp.full_like(a, 0.5), params)
    assert float(sy.symmetry_gap(const, model=spec)) == 0.0
    assert float(sy.symmetry_gap(params, model=spec)) > 0.0
    assert float(sy.symmetry_gap(sy.project_symmetric(params, model=spec), model=spec)) < 1e-6
    # the finite group (3! * 2^3) preserves the CNN's function
    orbit = sy.orbit(params, model=spec)
    assert sy.orbit_size(spec) == 48 and jax.tree.leaves(orbit)[0].shape[0] == 48
    want = net.apply(params, x)
    for g in range(48):
        out = net.apply(jax.tree.map(lambda a: a[g], orbit), x)
        np.testing.assert_allclose(out, want, rtol=RTOL[jnp.float32], atol=RTOL[jnp.float32])


def test_bad_models_and_params_are_refused_before_tracing():
    model = ls.mlp([2, 3, 1])
    net, fw, _ = convert("equinox", model, random_params(model, jnp.float32))
    with pytest.raises(TypeError, match="not a supported model"):
        sy.symmetry_gap(fw, model=object())
    wrong = jax.tree.map(lambda a: a[..., :1] if a.ndim else a, fw)
    with pytest.raises(ValueError, match="the unit layout expects"):
        sy.symmetry_gap(wrong, model=net)
    with pytest.raises(TypeError, match="model=None"):
        sy.orbit_size(None)

"""The unit layout: inferred for ls.mlp, Flax (linen, NNX) and Equinox networks, dense and
convolutional; every group element it allows preserves the network's function."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import landscape as ls
from landscape import units

eqx = pytest.importorskip("equinox")
flax_linen = pytest.importorskip("flax.linen")
nnx = pytest.importorskip("flax.nnx")

ACTS = {"tanh": jnp.tanh, "sigmoid": jax.nn.sigmoid, "relu": jax.nn.relu, "softplus": jax.nn.softplus}
SYMMETRY = {"tanh": "odd", "sigmoid": "logistic", "relu": "rescale", "softplus": "none"}
SIZES = (3, 5, 4, 2)  # two hidden layers


class _LinenMLP(flax_linen.Module):
    act: str

    @flax_linen.compact
    def __call__(self, x):
        for width in SIZES[1:-1]:
            x = ACTS[self.act](flax_linen.Dense(width)(x))
        return flax_linen.Dense(SIZES[-1])(x)


class _LinenCNN(flax_linen.Module):
    act: str

    @flax_linen.compact
    def __call__(self, x):
        x = ACTS[self.act](flax_linen.Conv(4, (3, 3), padding="VALID")(x))
        x = ACTS[self.act](flax_linen.Conv(3, (3, 3), padding="VALID")(x))
        return flax_linen.Dense(2)(x.reshape(x.shape[:-3] + (-1,)))


class _NNXMLP(nnx.Module):
    def __init__(self, act, rngs):
        self.act = ACTS[act]
        self.l0 = nnx.Linear(SIZES[0], SIZES[1], rngs=rngs)
        self.l1 = nnx.Linear(SIZES[1], SIZES[2], rngs=rngs)
        self.l2 = nnx.Linear(SIZES[2], SIZES[3], rngs=rngs)

    def __call__(self, x):
        return self.l2(self.act(self.l1(self.act(self.l0(x)))))


class _EqxCNN(eqx.Module):
    c0: eqx.nn.Conv2d
    c1: eqx.nn.Conv2d
    out: eqx.nn.Linear
    act: str = eqx.field(static=True)

    def __init__(self, act, key):
        k = jax.random.split(key, 3)
        self.c0 = eqx.nn.Conv2d(1, 4, 3, key=k[0])
        self.c1 = eqx.nn.Conv2d(4, 3, 3, key=k[1])
        self.out = eqx.nn.Linear(3 * 4 * 4, 2, key=k[2])
        self.act = act

    def __call__(self, x):  # x: (1, 8, 8)
        h = ACTS[self.act](self.c1(ACTS[self.act](self.c0(x))))
        return self.out(h.reshape(-1))


def _network(kind: str, act: str):
    """``(spec, params, f)``: the layout, one network's params and ``f(params, x) -> outputs``."""
    key = jax.random.key(0)
    if kind == "ls.mlp":
        model = ls.mlp(SIZES, activation=act, output="linear")
        params = ls.inits.normal(model, 1.0)(key)
        return units.layout(model, params), params, model.apply, jnp.ones((6, SIZES[0]))
    if kind == "linen":
        net = _LinenMLP(act)
        params = net.init(key, jnp.zeros((1, SIZES[0])))
        return units.layout(net, params, activation=act), params, net.apply, jnp.ones((6, SIZES[0]))
    if kind == "linen-sequential":
        net = flax_linen.Sequential([flax_linen.Dense(SIZES[1]), ACTS[act], flax_linen.Dense(SIZES[2]),
                                     ACTS[act], flax_linen.Dense(SIZES[3])])
        params = net.init(key, jnp.zeros((1, SIZES[0])))
        return units.layout(net, params), params, net.apply, jnp.ones((6, SIZES[0]))
    if kind == "linen-cnn":
        net = _LinenCNN(act)
        params = net.init(key, jnp.zeros((1, 8, 8, 1)))
        return units.layout(net, params, activation=act), params, net.apply, jnp.ones((2, 8, 8, 1))
    if kind == "nnx":
        net = _NNXMLP(act, nnx.Rngs(0))
        graph, state = nnx.split(net, nnx.Param)

        def f(params, x):
            return nnx.merge(graph, params)(x)
        return units.layout(net, activation=act), state, f, jnp.ones((6, SIZES[0]))
    if kind == "equinox":
        net = eqx.nn.MLP(SIZES[0], SIZES[-1], SIZES[1], 2, activation=ACTS[act], key=key)
        # equinox's MLP takes equal widths: rebuild the middle layer as 5 -> 4 -> 2 by hand
        net = eqx.nn.MLP(SIZES[0], SIZES[-1], 5, 2, activation=ACTS[act], key=key)
        params, static = eqx.partition(net, eqx.is_inexact_array)

        def f(params, x):
            return jax.vmap(eqx.combine(params, static))(x)
        return units.layout(net), params, f, jnp.ones((6, SIZES[0]))
    if kind == "equinox-cnn":
        net = _EqxCNN(act, key)
        params, static = eqx.partition(net, eqx.is_inexact_array)

        def f(params, x):
            return jax.vmap(eqx.combine(params, static))(x)
        return units.layout(net, activation=act), params, f, jnp.ones((2, 1, 8, 8))
    raise ValueError(kind)


KINDS = ("ls.mlp", "linen", "linen-sequential", "linen-cnn", "nnx", "equinox", "equinox-cnn")


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("act", sorted(ACTS))
def test_every_allowed_group_element_preserves_the_function(kind, act):
    spec, params, f, x = _network(kind, act)
    assert spec.symmetries == (SYMMETRY[act],) * 2
    if kind.endswith("cnn") and act == "sigmoid":
        # a logistic flip needs a dense next layer with a bias to absorb 1 - f: permutations only
        with pytest.raises(ValueError, match="not dense with a bias"):
            units.flip(spec, params, [jnp.ones(h) for h in spec.hidden_sizes])
        spec = units.UnitLayout(spec.layers, ("none",) * len(spec.symmetries), spec.paths, spec.shapes)
    x = x + jax.random.normal(jax.random.key(1), x.shape)
    want = f(params, x)
    rng = np.random.default_rng(0)
    for trial in range(3):
        perms = [jnp.asarray(rng.permutation(h)) for h in spec.hidden_sizes]
        moved = units.permute(spec, params, perms)
        if spec.symmetries[0] in ("odd", "logistic"):
            moved = units.flip(spec, moved, [jnp.asarray(rng.choice([-1, 1], h)) for h in spec.hidden_sizes])
        if spec.symmetries[0] == "rescale":
            moved = units.rescale(spec, moved, [jnp.asarray(rng.uniform(0.2, 5.0, h)) for h in spec.hidden_sizes])
        got = f(moved, x)
        # float32 rounding of a few products and sums: relative 1e-5 of the outputs' scale
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5 * float(jnp.max(jnp.abs(want))))
        if trial == 0 and kind != "ls.mlp":
            assert not all(np.array_equal(a, b) for a, b in zip(jax.tree.leaves(moved), jax.tree.leaves(params)))


def test_equinox_and_flax_layouts_agree_with_ls_mlp():
    model = ls.mlp([3, 5, 1], activation="tanh")
    ref = units.layout(model)
    net = eqx.nn.MLP(3, 1, 5, 1, activation=jnp.tanh, key=jax.random.key(0))
    eq = units.layout(net)
    lin = units.layout(_LinenMLP("tanh"), _LinenMLP("tanh").init(jax.random.key(0), jnp.zeros((1, 3))),
                       activation="tanh")
    for spec in (ref, eq):
        assert spec.hidden_sizes == (5,) and spec.symmetries == ("odd",)
    # Equinox stores (out, in): hidden units run along axis 0 of the first weight, 1 of the second
    assert [a for a in eq.unit_axes if len(a) == 2] == [(0, None), (None, 0)]
    assert [a for a in ref.unit_axes if len(a) == 2] == [(None, 0), (0, None)]
    assert lin.hidden_sizes == (5, 4)


def test_a_batch_of_group_elements_moves_a_batch_of_networks():
    model = ls.mlp([2, 3, 1], activation="tanh")
    spec = units.layout(model)
    params = jax.vmap(model.init)(jax.random.split(jax.random.key(0), 4))
    perms = jnp.stack([jnp.roll(jnp.arange(3), i) for i in range(4)])
    moved = units.permute(spec, params, [perms])
    for i in range(4):
        one = units.permute(spec, jax.tree.map(lambda a: a[i], params), [perms[i]])
        for a, b in zip(jax.tree.leaves(moved), jax.tree.leaves(one)):
            np.testing.assert_array_equal(a[i], b)


def test_a_pytree_that_cannot_be_read_gets_a_one_line_error_naming_the_leaf():
    params = {"enc": {"M": jnp.zeros((3, 2))}, "dec": {"M": jnp.zeros((1, 3))}}
    with pytest.raises(ValueError, match=r"\['dec'\]\['M'\].*units\.declare") as err:
        units.layout(params=params, activation="tanh")
    assert "\n" not in str(err.value)


def test_a_layout_that_does_not_match_the_params_is_refused():
    spec = units.layout(ls.mlp([2, 2, 1]))
    other = ls.mlp([2, 3, 1]).init(jax.random.key(0))
    with pytest.raises(ValueError, match=r"params\[0\]\['b'\] has shape \(3,\); the unit layout expects \(2,\)"):
        spec.check(other)
    with pytest.raises(ValueError, match="leaves"):
        spec.check({"w": jnp.zeros((2, 2))})


def test_missing_activation_is_asked_for():
    net = _LinenMLP("tanh")
    params = net.init(jax.random.key(0), jnp.zeros((1, 3)))
    with pytest.raises(ValueError, match="pass activation="):
        units.layout(net, params)


@pytest.mark.parametrize("fn, want", [("linear", "odd"), ("erf", "odd"), ("gelu", "none"),
                                      (jax.nn.leaky_relu, "rescale"), (jnp.sin, "odd")])
def test_activation_symmetries_are_probed(fn, want):
    assert units.activation_symmetry(fn) == want


# A moved network's outputs: float32 rounding of a few products and sums, relative to their scale.
PER_LAYER_BIAS_RTOL = 1e-5


@pytest.mark.parametrize("bias", [(True, False), (False, True, True), (True, False, True)])
def test_per_layer_bias_layouts_agree_across_frameworks_and_keep_the_function(bias):
    """``ls.mlp(..., bias=(True, False))`` and friends: the layout has a bias exactly where the
    model does, Flax linen, NNX (and Equinox, whose MLP has one hidden bias switch) holding the
    same weights agree, and permutations with flips preserve every network's function."""
    from frameworks import convert

    sizes = (3, 4, 1) if len(bias) == 2 else (3, 4, 4, 2)
    model = ls.mlp(sizes, activation="tanh", output="linear", bias=bias)
    spec = units.layout(model)
    assert [layer.bias is not None for layer in spec.layers] == list(bias)
    is_tuple = lambda t: isinstance(t, tuple)  # noqa: E731
    assert list(spec.unit_axes) == jax.tree.leaves(model.unit_axes, is_leaf=is_tuple)
    params = jax.tree.map(lambda a: a + 0.3, model.init(jax.random.key(0)))  # nonzero biases
    x = jax.random.normal(jax.random.key(1), (5, sizes[0]))
    perms = [jnp.roll(jnp.arange(h), 1) for h in spec.hidden_sizes]
    signs = [jnp.where(jnp.arange(h) % 2 == 0, -1, 1) for h in spec.hidden_sizes]
    kinds = ["linen", "nnx"] + (["equinox"] if len(set(bias[:-1])) == 1 else [])
    for kind in ["ls.mlp"] + kinds:
        net, p, apply = convert(kind, model, params)
        other = units.layout(net, p, activation="tanh") if kind == "linen" else units.layout(net)
        assert other.hidden_sizes == spec.hidden_sizes and other.symmetries == ("odd",) * len(sizes[1:-1])
        assert [layer.bias is not None for layer in other.layers] == list(bias)
        moved = units.flip(other, units.permute(other, p, perms), signs)
        want = apply(p, x)
        np.testing.assert_allclose(apply(moved, x), want, rtol=PER_LAYER_BIAS_RTOL,
                                   atol=PER_LAYER_BIAS_RTOL * float(jnp.max(jnp.abs(want))))


def test_logistic_flips_need_the_next_layers_bias():
    """A sigmoid net with hidden biases and no output bias has no flips (nothing absorbs
    ``1 - f``); with an output bias and no hidden ones it has them."""
    no_output_bias = ls.mlp([2, 3, 1], activation="sigmoid", bias=(True, False))
    spec = units.layout(no_output_bias)
    with pytest.raises(ValueError, match="not dense with a bias"):
        units.flip(spec, no_output_bias.init(jax.random.key(0)), [jnp.array([-1, 1, 1])])
    model = ls.mlp([2, 3, 1], activation="sigmoid", bias=(False, True))
    params = jax.tree.map(lambda a: a + 0.3, model.init(jax.random.key(0)))
    flipped = units.flip(units.layout(model), params, [jnp.array([-1, 1, -1])])
    x = ls.datasets.xor().x
    np.testing.assert_allclose(model.apply(flipped, x), model.apply(params, x), rtol=PER_LAYER_BIAS_RTOL)

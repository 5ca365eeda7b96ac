"""The automatic unit layout orders the layers by their shapes, not their names: Flax names the
layers of ``nn.Dense(1)(tanh(nn.Dense(3)(x)))`` output first, NNX and Equinox attributes sort or
declare in any order. A wrong order gave a symmetry gap of exactly 0 for random params."""

import re

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from landscape import symmetry, units

eqx = pytest.importorskip("equinox")
nn = pytest.importorskip("flax.linen")
nnx = pytest.importorskip("flax.nnx")

L = units.Layer


class _Inline(nn.Module):
    """``widths`` hidden tanh layers written inline: Flax numbers the output layer 0."""
    widths: tuple

    @nn.compact
    def __call__(self, x):
        if len(self.widths) == 1:
            return nn.Dense(1)(jnp.tanh(nn.Dense(self.widths[0])(x)))
        return nn.Dense(1)(jnp.tanh(nn.Dense(self.widths[1])(
            jnp.tanh(nn.Dense(self.widths[0])(x)))))


class _NNXHeadLayer(nnx.Module):
    def __init__(self, rngs):
        self.layer = nnx.Linear(2, 3, rngs=rngs)   # state sorts its names: head first
        self.head = nnx.Linear(3, 1, rngs=rngs)

    def __call__(self, x):
        return self.head(jnp.tanh(self.layer(x)))


class _EqxHeadFirst(eqx.Module):
    head: eqx.nn.Linear                            # fields in declaration order: head first
    body: eqx.nn.Linear

    def __init__(self, key):
        k = jax.random.split(key)
        self.head, self.body = eqx.nn.Linear(3, 1, key=k[0]), eqx.nn.Linear(2, 3, key=k[1])

    def __call__(self, x):
        return self.head(jnp.tanh(self.body(x)))


def _random(params, n=4):
    """``n`` networks of standard normal params, stacked on a leading axis."""
    leaves, treedef = jax.tree.flatten(params)
    keys = jax.random.split(jax.random.key(1), len(leaves))
    return treedef.unflatten([jax.random.normal(k, (n,) + a.shape) for k, a in zip(keys, leaves)])


def _gap_by_hand(w1, b1, w2):
    """The symmetry gap of one tanh hidden layer: ``sqrt(sum_j |u_j - mean u|^2)``, ``u_j`` the
    unit's incoming weights, bias and outgoing weights; ``w1 (n, in, H)``, ``w2 (n, H, out)``."""
    u = np.concatenate([np.swapaxes(w1, 1, 2), b1[..., None], w2], axis=-1)   # (n, H, F)
    return np.sqrt(((u - u.mean(1, keepdims=True)) ** 2).sum((1, 2)))


def _linen():
    net = _Inline((3,))
    return net, net.init(jax.random.key(0), jnp.zeros((1, 2)))


def test_inline_linen_layers_are_ordered_by_shape_and_the_gap_is_the_true_one():
    net, variables = _linen()
    spec = units.layout(net, variables, activation="tanh")
    assert [layer.weight for layer in spec.layers] == ["['params']['Dense_1']['kernel']",
                                                       "['params']['Dense_0']['kernel']"]
    assert spec.hidden_sizes == (3,)
    runs = _random(variables)
    p = runs["params"]
    want = _gap_by_hand(p["Dense_1"]["kernel"], p["Dense_1"]["bias"], p["Dense_0"]["kernel"])
    assert np.all(want > 0.5)
    np.testing.assert_allclose(symmetry.symmetry_gap(runs, model=spec), want, rtol=1e-5)


def test_nnx_attributes_sorted_head_first_get_the_stack_order():
    net = _NNXHeadLayer(nnx.Rngs(0))
    spec = units.layout(net, activation="tanh")
    assert [layer.weight for layer in spec.layers] == ["['layer']['kernel'].value",
                                                       "['head']['kernel'].value"]
    runs = _random(nnx.state(net, nnx.Param))
    want = _gap_by_hand(runs["layer"]["kernel"][...], runs["layer"]["bias"][...],
                        runs["head"]["kernel"][...])
    np.testing.assert_allclose(symmetry.symmetry_gap(runs, model=spec), want, rtol=1e-5)


def test_equinox_fields_declared_head_first_get_the_stack_order():
    net = _EqxHeadFirst(jax.random.key(0))
    spec = units.layout(net, activation="tanh")
    assert [layer.weight for layer in spec.layers] == [".body.weight", ".head.weight"]
    runs = _random(eqx.filter(net, eqx.is_inexact_array))
    # Equinox stores (out, in): transpose to the (in, out) of the hand formula
    want = _gap_by_hand(np.swapaxes(runs.body.weight, 1, 2), runs.body.bias,
                        np.swapaxes(runs.head.weight, 1, 2))
    np.testing.assert_allclose(symmetry.symmetry_gap(runs, model=spec), want, rtol=1e-5)


def test_an_inline_2_3_3_1_net_is_ordered_and_its_group_keeps_the_function():
    net = _Inline((3, 3))
    variables = net.init(jax.random.key(0), jnp.zeros((1, 2)))
    spec = units.layout(net, variables, activation="tanh")
    names = [layer.weight.split("'")[3] for layer in spec.layers]
    assert names == ["Dense_2", "Dense_1", "Dense_0"]
    params = jax.tree.map(lambda a: a + 0.3, variables)  # nonzero biases
    moved = units.flip(spec, units.permute(spec, params, [jnp.array([2, 0, 1])] * 2),
                       [jnp.array([-1, 1, -1]), jnp.array([1, -1, -1])])
    x = jax.random.normal(jax.random.key(1), (5, 2))
    np.testing.assert_allclose(net.apply(moved, x), net.apply(params, x), rtol=1e-5, atol=1e-6)


def _kernels(*shapes):
    return {name: {"kernel": jnp.zeros(s)} for name, s in zip("abcd", shapes)}


@pytest.mark.parametrize("shapes, how", [
    (((3, 1), (3, 3), (3, 3), (2, 3)), "more than one order"),  # which 3 -> 3 layer comes first?
    (((2, 3), (4, 1)), "no order"),
])
def test_an_order_the_shapes_cannot_decide_is_a_one_line_error(shapes, how):
    with pytest.raises(ValueError, match=rf"\['a'\]\['kernel'\] {re.escape(str(shapes[0]))}.*"
                                         rf"{how}.*units\.declare") as err:
        units.layout(params=_kernels(*shapes), activation="tanh")
    assert "\n" not in str(err.value)


def test_a_declared_order_that_does_not_chain_is_refused_naming_both_layers():
    _, variables = _linen()
    wrong = [L(("params", "Dense_0", "kernel"), ("params", "Dense_0", "bias"), 1, 0),
             L(("params", "Dense_1", "kernel"), ("params", "Dense_1", "bias"), 1, 0)]
    with pytest.raises(ValueError, match=re.escape(
            "layer 0 (['params']['Dense_0']['kernel'] (3, 1)) has 1 units along axis 1 but layer 1 "
            "(['params']['Dense_1']['kernel'] (2, 3)) reads 2 inputs along axis 0")) as err:
        units.declare(variables, wrong, activation="tanh")
    assert "\n" not in str(err.value)
    right = units.declare(variables, wrong[::-1], activation="tanh")
    assert right.hidden_sizes == (3,)


def test_a_bias_that_does_not_fit_names_the_kernels_unit_axis():
    _, variables = _linen()
    layers = [L(("params", "Dense_1", "kernel"), ("params", "Dense_0", "bias"), 1, 0),
              L(("params", "Dense_0", "kernel"), None, 1, 0)]
    with pytest.raises(ValueError, match=re.escape("the 3 units of ['params']['Dense_1']['kernel'] "
                                                   "(2, 3) along its unit_axis=1")):
        units.declare(variables, layers, activation="tanh")


class _EqxCNN(eqx.Module):
    conv: eqx.nn.Conv2d
    out: eqx.nn.Linear

    def __init__(self, key):
        k = jax.random.split(key)
        self.conv = eqx.nn.Conv2d(1, 2, 3, key=k[0])
        self.out = eqx.nn.Linear(2 * 3 * 3, 1, key=k[1])

    def __call__(self, x):  # x: (1, 5, 5)
        return self.out(jnp.tanh(self.conv(x)).reshape(-1))


def test_an_equinox_layout_declared_by_hand_equals_the_automatic_one():
    mlp = eqx.nn.MLP(2, 1, 3, 1, activation=jnp.tanh, key=jax.random.key(0))
    params = eqx.filter(mlp, eqx.is_inexact_array)
    declared = units.declare(params, [L(("layers", i, "weight"), ("layers", i, "bias"), 0, 1)
                                      for i in range(2)], activation="tanh")
    assert declared == units.layout(mlp)
    # after a convolution the units are read channels first: the default says so for (out, in)
    cnn = _EqxCNN(jax.random.key(0))
    params, static = eqx.partition(cnn, eqx.is_inexact_array)
    declared = units.declare(params, [L((name, "weight"), (name, "bias"), 0, 1)
                                      for name in ("conv", "out")], activation="tanh")
    assert declared == units.layout(cnn, activation="tanh")
    assert [layer.units_minor for layer in declared.layers] == [False, False]
    moved = units.flip(declared, units.permute(declared, params, [jnp.array([1, 0])]),
                       [jnp.array([-1, 1])])
    x = jax.random.normal(jax.random.key(1), (1, 5, 5))
    np.testing.assert_allclose(eqx.combine(moved, static)(x), eqx.combine(params, static)(x),
                               rtol=1e-5, atol=1e-6)


class _NNXEncoderDecoder(nnx.Module):
    def __init__(self, rngs):
        self.encoder = nnx.Linear(2, 3, rngs=rngs)  # 2 -> 3 -> 2: decoder, encoder chains too
        self.decoder = nnx.Linear(3, 2, rngs=rngs)

    def __call__(self, x):
        return self.decoder(jnp.tanh(self.encoder(x)))


class _EqxDenseFieldFirst(eqx.Module):
    dense: eqx.nn.Linear                            # 1 unit, and the conv reads 1 channel
    conv: eqx.nn.Conv2d

    def __init__(self, key):
        k = jax.random.split(key)
        self.dense = eqx.nn.Linear(4 * 6 * 6, 1, key=k[0])
        self.conv = eqx.nn.Conv2d(1, 4, 3, key=k[1])

    def __call__(self, x):  # x: (1, 8, 8)
        return self.dense(jnp.tanh(self.conv(x)).ravel())


def test_shapes_that_chain_both_ways_under_plain_names_are_refused_not_guessed():
    # the name order (decoder, encoder) chains as well as the true one: an error, not a guess
    with pytest.raises(ValueError, match="more than one order.*units.declare") as err:
        units.layout(_NNXEncoderDecoder(nnx.Rngs(0)), activation="tanh")
    assert "\n" not in str(err.value)


def test_a_square_stack_in_a_list_keeps_the_list_order():
    net = eqx.nn.MLP(4, 4, 4, depth=3, activation=jnp.tanh, key=jax.random.key(0))
    spec = units.layout(net)
    assert [layer.weight for layer in spec.layers] == [f".layers[{i}].weight" for i in range(4)]


def test_a_convolution_comes_before_the_dense_layer_whatever_the_field_order():
    net = _EqxDenseFieldFirst(jax.random.key(0))
    spec = units.layout(net, activation="tanh")
    assert [layer.weight for layer in spec.layers] == [".conv.weight", ".dense.weight"]
    assert spec.hidden_sizes == (4,)
    runs = _random(eqx.filter(net, eqx.is_inexact_array))
    assert np.all(np.asarray(symmetry.symmetry_gap(runs, model=spec)) > 0.1)


def test_a_leaf_given_to_two_layers_is_refused_and_describe_shows_the_biases():
    params = {"a": {"kernel": jnp.zeros((2, 3)), "bias": jnp.zeros(3)},
              "b": {"kernel": jnp.zeros((3, 3)), "bias": jnp.zeros(3)},
              "c": {"kernel": jnp.zeros((3, 1))}}
    layers = [L(("a", "kernel"), ("b", "bias"), 1, 0), L(("b", "kernel"), ("b", "bias"), 1, 0),
              L(("c", "kernel"), None, 1, 0)]
    with pytest.raises(ValueError, match=r"\['b'\]\['bias'\].*more than one layer"):
        units.declare(params, layers, activation="tanh")
    layers[0] = L(("a", "kernel"), ("a", "bias"), 1, 0)
    text = units.declare(params, layers, activation="tanh").describe()
    assert "bias ['a']['bias']" in text and "no bias" in text.splitlines()[2]
    assert text.splitlines()[2].endswith("1 unit, output")

"""units.Layer paths in every form a user meets: keystr strings, tuples of names and indices
(with or without Flax NNX's ``.value``) and ``jax.tree_util`` key paths, for Flax linen, NNX and
Equinox params; a path that names no leaf is a one-line error listing the nearest leaves."""

import jax
import pytest

import landscape as ls
from landscape import units

import frameworks

KINDS = ("linen", "nnx", "equinox")


def _net(kind):
    pytest.importorskip("equinox" if kind == "equinox" else "flax")
    model = ls.mlp([2, 3, 1], activation="tanh")
    net, params, _ = frameworks.convert(kind, model, model.init(jax.random.key(0)))
    return net, params, units.layout(net, params, activation="tanh")


def _key_paths(params):
    return {jax.tree_util.keystr(path): path for path, _ in
            jax.tree_util.tree_flatten_with_path(params)[0]}


def _plain(path):
    """A key path as a user writes it: names and integer indices, NNX's ``.value`` left out."""
    parts = [getattr(k, "key", getattr(k, "name", getattr(k, "idx", None))) for k in path]
    return tuple(parts[:-1] if parts[-1] == "value" else parts)


def _redeclared(params, spec, form):
    return units.declare(params, [units.Layer(form(layer.weight), form(layer.bias),
                                              layer.unit_axis, layer.input_axis, layer.units_minor)
                                  for layer in spec.layers], activation="tanh")


@pytest.mark.parametrize("kind", KINDS)
def test_tuple_and_key_paths_name_the_same_leaves_as_keystr(kind):
    _, params, spec = _net(kind)
    keys = _key_paths(params)
    plain = _redeclared(params, spec, lambda p: _plain(keys[p]))
    key_path = _redeclared(params, spec, lambda p: keys[p])
    assert plain.layers == key_path.layers == spec.layers
    assert all(isinstance(layer.weight, str) for layer in plain.layers)
    assert plain.hidden_sizes == (3,)
    # the normalized layout moves the same units: a permutation through it gives the same params
    perm = [jax.numpy.array([2, 0, 1])]
    same = jax.tree.map(lambda a, b: bool((a == b).all()), units.permute(plain, params, perm),
                        units.permute(spec, params, perm))
    assert all(jax.tree.leaves(same))


def test_flax_tuple_path_written_by_hand():
    _, params, spec = _net("linen")
    layer = units.Layer(("params", "Dense_0", "kernel"), ["params", "Dense_0", "bias"],
                        unit_axis=1, input_axis=0)
    assert layer.bias == ("params", "Dense_0", "bias")  # a list is kept as a (hashable) tuple
    declared = units.declare(params, [layer, spec.layers[1]], activation="tanh")
    assert declared.layers[0].weight == "['params']['Dense_0']['kernel']"
    assert declared.layers[0].bias == "['params']['Dense_0']['bias']"


@pytest.mark.parametrize("kind, bad, near", [
    ("linen", ("params", "Dense_0", "kernl"), "['params']['Dense_0']['kernel']"),
    ("nnx", ("layers", 5, "kernel"), "['layers'][2]['kernel'].value"),
    ("equinox", ".layers[0].weights", ".layers[0].weight"),
])
def test_missing_path_names_argument_value_and_nearest_leaves(kind, bad, near):
    _, params, spec = _net(kind)
    layers = [spec.layers[0], units.Layer(bad, None, unit_axis=1, input_axis=0)]
    with pytest.raises(ValueError) as err:
        units.declare(params, layers, activation="tanh")
    message = str(err.value)
    assert message.startswith(f"layers[1].weight={bad!r} is not a leaf of the params")
    assert "nearest: [" + repr(near) in message and "\n" not in message


@pytest.mark.parametrize("bad", [3, (), ("params", 1.5), ("params", True), None])
def test_path_of_wrong_kind_is_a_type_error(bad):
    with pytest.raises(TypeError, match=r"^weight=.* must be a keystr string"):
        units.Layer(bad, None, unit_axis=1, input_axis=0)

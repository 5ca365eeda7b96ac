"""Tests for landscape.symmetry: the group acts without changing the function, orbits have the
known sizes, the symmetric subspace and its complement split the parameter space, the gap is
exact at bit-identical units."""

import functools
import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.flatten_util import ravel_pytree

import landscape as ls
from landscape import symmetry as sy

# Float64 outputs of permuted/flipped networks: the sums run over the same terms in another
# order (and sigmoid flips go through 1 - sigmoid), so they agree to a few ulps of O(1) values.
FUNC_TOL = 1e-12
# Orthonormality and projection identities of exact 0/1/Helmert entries in float64.
EXACT = 1e-13

ODD = ("tanh", "erf", "linear")
NO_FLIP = ("relu", "softplus", "gelu")
SIZES = ([3, 4, 2], [2, 3, 2, 1], [1, 2, 1])


@pytest.fixture(autouse=True, scope="module")
def x64():
    """Float64 for this module only; restored so other test files keep the default."""
    old = jax.config.jax_enable_x64
    jax.config.update("jax_enable_x64", True)
    yield
    jax.config.update("jax_enable_x64", old)


def random_params(model, seed=0, batch=()):
    """Generic params: every weight and bias N(0, 1) (nonzero biases exercise the bias moves)."""
    return _draw(model, seed, batch)


@functools.lru_cache(maxsize=None)
def _draw(model, seed, batch):
    init = ls.inits.normal(model, 1.0, dtype=jnp.float64)
    keys = jax.random.split(jax.random.key(seed), math.prod(batch))
    p = jax.jit(jax.vmap(init))(keys)  # one compiled draw (eager per-op dispatch is slow)
    return jax.tree.map(lambda a: a.reshape(batch + a.shape[1:]), p)


def inputs(model, seed=1, n=7):
    return jax.random.normal(jax.random.key(seed), (n, model.n_in), jnp.float64)


def flat(params):
    return ravel_pytree(params)[0]


# --------------------------------------------------------------------------------- the group


@pytest.mark.parametrize("activation", sorted(ls.models.ACTIVATIONS))
@pytest.mark.parametrize("sizes,bias", [(s, True) for s in SIZES] + [(SIZES[1], False)])
def test_every_group_element_preserves_the_function(activation, sizes, bias):
    model = ls.mlp(sizes, activation=activation, output="linear", bias=bias)
    params = random_params(model)
    x = inputs(model)
    elements = sy.random_element(model, jax.random.key(7), shape=(16,))
    if sy.flip_kind(activation) is not None and (bias or activation != "sigmoid"):
        assert elements.signs is not None and np.any(np.asarray(elements.signs[0]) == -1)
    images = sy.apply_element(model, params, elements)
    out = jax.jit(jax.vmap(lambda p: model.apply(p, x)))(images)
    np.testing.assert_allclose(out, np.broadcast_to(model.apply(params, x), out.shape),
                               rtol=0, atol=FUNC_TOL)
    # the images really moved (otherwise the test would prove nothing)
    moved = jax.vmap(lambda p: jnp.max(jnp.abs(flat(p) - flat(params))))(images)
    assert np.sum(np.asarray(moved) > 1e-3) >= 8


@pytest.mark.parametrize("activation", ODD + ("sigmoid",))
def test_flip_units_alone_preserves_function_and_is_an_involution(activation):
    model = ls.mlp([2, 3, 2, 1], activation=activation, output="sigmoid")
    params = random_params(model, seed=3)
    signs = (jnp.array([-1, 1, -1]), jnp.array([1, -1]))
    flipped = sy.flip_units(model, params, signs)
    x = inputs(model)
    np.testing.assert_allclose(model.apply(flipped, x), model.apply(params, x), atol=FUNC_TOL)
    np.testing.assert_allclose(flat(sy.flip_units(model, flipped, signs)), flat(params), atol=FUNC_TOL)
    # the incoming weights of flipped units changed sign
    np.testing.assert_array_equal(flipped[0]["w"][:, 0], -params[0]["w"][:, 0])
    np.testing.assert_array_equal(flipped[0]["w"][:, 1], params[0]["w"][:, 1])


def test_permute_units_moves_whole_units():
    model = ls.mlp([2, 3, 1], activation="relu")
    params = random_params(model)
    perm = jnp.array([2, 0, 1])
    out = sy.permute_units(model, params, [perm])
    np.testing.assert_array_equal(out[0]["w"], params[0]["w"][:, perm])
    np.testing.assert_array_equal(out[0]["b"], params[0]["b"][perm])
    np.testing.assert_array_equal(out[1]["w"], params[1]["w"][perm, :])
    np.testing.assert_array_equal(out[1]["b"], params[1]["b"])


def test_sigmoid_flip_shifts_the_next_bias():
    model = ls.mlp([2, 2, 1], activation="sigmoid")
    params = random_params(model)
    out = sy.flip_units(model, params, [jnp.array([-1, 1])])
    np.testing.assert_allclose(out[1]["b"], params[1]["b"] + params[1]["w"][0], atol=FUNC_TOL)
    np.testing.assert_array_equal(out[1]["w"][0], -params[1]["w"][0])


@pytest.mark.parametrize("activation", NO_FLIP)
def test_activations_without_sign_symmetry_refuse_flips(activation):
    model = ls.mlp([2, 2, 1], activation=activation)
    params = random_params(model)
    assert sy.flip_kind(activation) is None
    with pytest.raises(ValueError, match="no sign symmetry"):
        sy.flip_units(model, params, [jnp.array([-1, 1])])
    with pytest.raises(ValueError, match="no sign symmetry"):
        sy.random_element(model, jax.random.key(0), flips=True)
    with pytest.raises(ValueError, match="no sign symmetry"):
        sy.apply_element(model, params, sy.GroupElement((jnp.arange(2),), (jnp.array([1, -1]),)))
    # permutations only is the default for them, and +1 signs are the identity
    assert sy.random_element(model, jax.random.key(0)).signs is None
    same = sy.apply_element(model, params, sy.GroupElement((jnp.arange(2),), (jnp.ones(2, int),)))
    np.testing.assert_array_equal(flat(same), flat(params))


def test_sigmoid_without_bias_cannot_flip():
    model = ls.mlp([2, 2, 1], activation="sigmoid", bias=False)
    with pytest.raises(ValueError, match="bias=False"):
        sy.flip_units(model, random_params(model), [jnp.array([-1, 1])])
    assert sy.orbit_size(model) == 2  # flips=None: permutations only


def test_unknown_activation_is_probed(monkeypatch):
    monkeypatch.setitem(ls.models.ACTIVATIONS, "sin_test", jnp.sin)
    monkeypatch.setitem(ls.models.ACTIVATIONS, "shifted_test", lambda z: jax.nn.sigmoid(z) + 1.0)
    assert sy.flip_kind("sin_test") == "odd"
    assert sy.flip_kind("shifted_test") is None
    with pytest.raises(ValueError, match="not a known activation"):
        sy.flip_kind("nope")


@pytest.mark.parametrize("sizes,flips,expected", [
    ([2, 1, 1], True, 2), ([2, 2, 1], True, 8), ([2, 3, 1], True, 48), ([2, 4, 1], True, 384),
    ([2, 3, 1], False, 6), ([2, 2, 3, 1], True, 8 * 48), ([2, 2, 3, 1], False, 12), ([3, 2], True, 1),
])
def test_orbit_sizes(sizes, flips, expected):
    model = ls.mlp(sizes, activation="tanh")
    assert sy.orbit_size(model, flips=flips) == expected
    if expected <= 400:
        elements = sy.group_elements(model, flips=flips)
        assert elements.perms[0].shape[0] == expected if model.hidden_sizes else True
        params = random_params(model, seed=5)
        images = sy.orbit(model, params, flips=flips)
        points = np.asarray(jax.vmap(flat)(images))
        assert points.shape[0] == expected
        # a generic point has |G| distinct images; image 0 is the point itself
        assert len(np.unique(points.round(12), axis=0)) == expected
        np.testing.assert_array_equal(points[0], flat(params))


def test_orbit_of_a_symmetric_point_is_smaller():
    model = ls.mlp([2, 3, 1], activation="tanh")
    params = ls.inits.constant(model, 0.5, dtype=jnp.float64)(jax.random.key(0))
    points = np.asarray(jax.vmap(flat)(sy.orbit(model, params)))
    assert points.shape[0] == 48
    # permutations fix a point with equal units; only the 2^3 flip patterns remain distinct
    assert len(np.unique(points, axis=0)) == 8
    points = np.asarray(jax.vmap(flat)(sy.orbit(model, params, flips=False)))
    assert len(np.unique(points, axis=0)) == 1


def test_orbit_is_batched_over_points_and_capped():
    model = ls.mlp([2, 2, 1], activation="tanh")
    params = random_params(model, batch=(3,))
    images = sy.orbit(model, params)
    assert images[0]["w"].shape == (8, 3, 2, 2)
    one = sy.orbit(model, jax.tree.map(lambda a: a[1], params))
    np.testing.assert_array_equal(images[0]["w"][:, 1], one[0]["w"])
    with pytest.raises(ValueError, match="8 elements.*max_size=5"):
        sy.orbit(model, params, max_size=5)


@pytest.mark.parametrize("activation", ["tanh", "sigmoid"])
def test_compose_inverse_identity_follow_the_group_law(activation):
    model = ls.mlp([2, 3, 2, 1], activation=activation)
    params = random_params(model, seed=2)
    a = sy.random_element(model, jax.random.key(10))
    b = sy.random_element(model, jax.random.key(11))
    ab = sy.apply_element(model, params, sy.compose(a, b))
    a_of_b = sy.apply_element(model, sy.apply_element(model, params, b), a)
    np.testing.assert_allclose(flat(ab), flat(a_of_b), atol=FUNC_TOL)
    back = sy.apply_element(model, sy.apply_element(model, params, a), sy.inverse(a))
    np.testing.assert_allclose(flat(back), flat(params), atol=FUNC_TOL)
    ident = sy.identity_element(model)
    np.testing.assert_array_equal(flat(sy.apply_element(model, params, ident)), flat(params))
    e = sy.compose(a, sy.inverse(a))
    for p, s in zip(e.perms, e.signs):
        np.testing.assert_array_equal(p, np.arange(p.shape[-1]))
        np.testing.assert_array_equal(s, 1)
    first = jax.tree.map(lambda x: x[0], sy.group_elements(model))
    for p, q in zip(jax.tree.leaves(first), jax.tree.leaves(ident)):
        np.testing.assert_array_equal(p, q)


def test_random_elements_are_keyed_per_element_and_uniform():
    model = ls.mlp([2, 3, 1], activation="tanh")
    batch = sy.random_element(model, jax.random.key(0), shape=(2000,))
    one = sy.random_element(model, jax.random.fold_in(jax.random.key(0), 5))
    np.testing.assert_array_equal(batch.perms[0][5], one.perms[0])
    np.testing.assert_array_equal(batch.signs[0][5], one.signs[0])
    # all 48 elements appear, none grossly over-represented (2000/48 ~ 42 each)
    codes = np.asarray(batch.perms[0]) @ np.array([9, 3, 1]) * 8 + ((np.asarray(batch.signs[0]) + 1) // 2) @ np.array([4, 2, 1])
    counts = np.bincount(np.unique(codes, return_inverse=True)[1])
    assert len(counts) == 48 and counts.min() > 15 and counts.max() < 80


def test_elements_work_under_jit_and_vmap():
    model = ls.mlp([2, 3, 1], activation="tanh")
    params = random_params(model, batch=(5,))
    elements = sy.random_element(model, jax.random.key(1), shape=(5,))
    eager = sy.apply_element(model, params, elements)
    jitted = jax.jit(lambda p, e: sy.apply_element(model, p, e))(params, elements)
    mapped = jax.vmap(lambda p, e: sy.apply_element(model, p, e))(params, elements)
    for a, b, c in zip(jax.tree.leaves(eager), jax.tree.leaves(jitted), jax.tree.leaves(mapped)):
        np.testing.assert_array_equal(a, b)
        np.testing.assert_array_equal(a, c)


def test_group_argument_errors():
    model = ls.mlp([2, 3, 1], activation="tanh")
    params = random_params(model)
    with pytest.raises(ValueError, match=r"perms\[0\].*permutation of 0..2"):
        sy.permute_units(model, params, [jnp.array([0, 0, 1])])
    with pytest.raises(ValueError, match="one per hidden layer"):
        sy.permute_units(model, params, [jnp.arange(3), jnp.arange(3)])
    with pytest.raises(ValueError, match=r"shape \(2,\); expected \(\.\.\., 3\)"):
        sy.permute_units(model, params, [jnp.arange(2)])
    with pytest.raises(TypeError, match="integer unit indices"):
        sy.permute_units(model, params, [jnp.array([0.0, 1.0, 2.0])])
    with pytest.raises(ValueError, match=r"only \+1 and -1"):
        sy.flip_units(model, params, [jnp.array([1, 0, -1])])
    with pytest.raises(ValueError, match=r"params\[1\]\['w'\] has shape"):
        sy.symmetry_gap(model, [params[0], {"w": jnp.zeros((2, 1)), "b": params[1]["b"]}])
    with pytest.raises(ValueError, match="list of 2 layer dicts"):
        sy.symmetry_gap(model, params[:1])
    with pytest.raises(ValueError, match="share their leading batch axes"):
        sy.symmetry_gap(model, [jax.tree.map(lambda a: a[None], params[0]), params[1]])
    with pytest.raises(TypeError, match="flips="):
        sy.orbit_size(model, flips="yes")
    with pytest.raises(TypeError, match="model="):
        sy.symmetry_gap("mlp", params)
    with pytest.raises(TypeError, match="key="):
        sy.random_element(model, 3)
    with pytest.raises(TypeError, match="GroupElement"):
        sy.apply_element(model, params, (jnp.arange(3),))


# ---------------------------------------------------------------------- symmetric subspace


@pytest.mark.parametrize("sizes", [[2, 2, 1], [2, 3, 1], [3, 4, 2], [2, 3, 2, 2]])
@pytest.mark.parametrize("bias", [True, False])
def test_bases_are_orthonormal_complements_in_ravel_order(sizes, bias):
    model = ls.mlp(sizes, activation="tanh", bias=bias)
    q_s, q_b = np.asarray(sy.symmetric_basis(model)), np.asarray(sy.breaking_basis(model))
    n = model.n_params
    assert q_s.shape[0] == q_b.shape[0] == n and q_s.shape[1] + q_b.shape[1] == n
    np.testing.assert_allclose(q_s.T @ q_s, np.eye(q_s.shape[1]), atol=EXACT)
    np.testing.assert_allclose(q_b.T @ q_b, np.eye(q_b.shape[1]), atol=EXACT)
    np.testing.assert_allclose(q_s.T @ q_b, 0.0, atol=EXACT)
    p_s, p_b = q_s @ q_s.T, q_b @ q_b.T
    np.testing.assert_allclose(p_s + p_b, np.eye(n), atol=EXACT)  # sum to the identity
    # the projections on pytrees equal Q Q^T on the flattened params
    params = random_params(model, seed=4)
    x = np.asarray(flat(params))
    np.testing.assert_allclose(flat(sy.project_symmetric(model, params)), p_s @ x, atol=EXACT)
    np.testing.assert_allclose(flat(sy.project_breaking(model, params)), p_b @ x, atol=EXACT)
    np.testing.assert_allclose(sy.symmetry_gap(model, params), np.linalg.norm(q_b.T @ x), rtol=1e-12)
    # symmetric basis vectors are points with equal units: gap 0, fixed by every permutation
    unravel = ravel_pytree(params)[1]
    for col in q_s.T:
        point = unravel(jnp.asarray(col))
        assert float(sy.symmetry_gap(model, point)) < EXACT
        perms = sy.random_element(model, jax.random.key(0), flips=False).perms
        np.testing.assert_allclose(flat(sy.permute_units(model, point, perms)), col, atol=0)


def test_symmetric_dimension_of_one_hidden_layer():
    # 2-H-1 with biases: incoming weights (2) + bias (1) + outgoing weight (1) + output bias (1)
    for h in (1, 2, 5):
        model = ls.mlp([2, h, 1])
        assert sy.symmetric_basis(model).shape == (4 * h + 1, 5)
        assert sy.breaking_basis(model).shape == (4 * h + 1, 4 * (h - 1))


@pytest.mark.parametrize("dtype", [jnp.float32, jnp.float64])
@pytest.mark.parametrize("hidden", [2, 3, 7])
def test_gap_is_exactly_zero_for_identical_units(dtype, hidden):
    model = ls.mlp([2, hidden, 3, 1], activation="sigmoid")
    for value in (0.5, 0.1, 1 / 3):
        params = ls.inits.constant(model, value, dtype=dtype)(jax.random.key(0))
        assert float(sy.symmetry_gap(model, params)) == 0.0
        assert all(float(g) == 0.0 for g in sy.symmetry_gap(model, params, per_layer=True))
        proj = sy.project_symmetric(model, params)
        np.testing.assert_array_equal(flat(proj), flat(params))  # bit for bit
        assert not np.any(np.asarray(flat(sy.project_breaking(model, params))))


def test_gap_is_batched_permutation_invariant_and_per_layer():
    model = ls.mlp([2, 3, 2, 1], activation="tanh")
    params = random_params(model, batch=(4, 5))
    gap = sy.symmetry_gap(model, params)
    assert gap.shape == (4, 5)
    one = sy.symmetry_gap(model, jax.tree.map(lambda a: a[2, 3], params))
    np.testing.assert_allclose(gap[2, 3], one, rtol=1e-14)
    perms = sy.random_element(model, jax.random.key(2), flips=False, shape=(4, 5)).perms
    np.testing.assert_allclose(sy.symmetry_gap(model, sy.permute_units(model, params, perms)), gap,
                               rtol=1e-12)
    layers = sy.symmetry_gap(model, params, per_layer=True)
    assert len(layers) == 2 and layers[0].shape == (4, 5)
    # make layer 1's units equal: its own gap vanishes, layer 0's does not
    p = [dict(layer) for layer in jax.tree.map(lambda a: a[0, 0], params)]
    p[1]["w"] = jnp.broadcast_to(p[1]["w"][:, :1], p[1]["w"].shape)
    p[1]["b"] = jnp.full_like(p[1]["b"], p[1]["b"][0])
    p[2]["w"] = jnp.broadcast_to(p[2]["w"][:1], p[2]["w"].shape)
    g0, g1 = sy.symmetry_gap(model, p, per_layer=True)
    assert float(g1) == 0.0 and float(g0) > 0.1
    jitted = jax.jit(lambda q: sy.symmetry_gap(model, q))(params)
    np.testing.assert_allclose(jitted, gap, rtol=1e-14)
    mapped = jax.vmap(jax.vmap(lambda q: sy.symmetry_gap(model, q)))(params)
    np.testing.assert_allclose(mapped, gap, rtol=1e-14)


def test_no_hidden_layer_is_trivially_symmetric():
    model = ls.mlp([3, 2])
    params = random_params(model, batch=(4,))
    np.testing.assert_array_equal(sy.symmetry_gap(model, params), np.zeros(4))
    assert sy.breaking_basis(model).shape == (8, 0)
    assert sy.orbit_size(model) == 1

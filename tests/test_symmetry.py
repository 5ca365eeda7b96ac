"""Tests for landscape.symmetry: the group acts without changing the function, orbits have the
known sizes, the symmetric subspace and its complement split the parameter space, the gap is
exact at bit-identical units."""

import contextlib
import math

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from jax.flatten_util import ravel_pytree

import landscape as ls
from landscape import problems, status, units
from landscape import symmetry as sy

# Float64 outputs of permuted/flipped networks: the sums run over the same terms in another
# order (and sigmoid flips go through 1 - sigmoid), so they agree to a few ulps of O(1) values.
FUNC_TOL = 1e-12
# Orthonormality and projection identities of exact 0/1/Helmert entries in float64.
EXACT = 1e-13

NO_FLIP = ("relu", "softplus", "gelu")
DEEP = [2, 3, 2, 2]  # two hidden layers, two outputs: every kind of leaf moves


pytestmark = pytest.mark.usefixtures("x64")  # float64 module-wide (conftest.py)


def random_params(model, seed=0, batch=()):
    """Generic params: every weight and bias N(0, 1) (nonzero biases exercise the bias moves).
    Drawn with NumPy: JAX's random kernels take seconds to compile per shape."""
    rng = np.random.default_rng(seed)
    return [{k: jnp.asarray(rng.normal(size=tuple(batch) + shape)) for k, shape in layer.items()}
            for layer in model.param_shapes]


def inputs(model, seed=1, n=7):
    return jnp.asarray(np.random.default_rng(seed).normal(size=(n, model.n_in)))


def flat(params):
    return ravel_pytree(params)[0]


@contextlib.contextmanager
def count_compiles():
    """The names of the functions XLA compiled inside the block."""
    from jax import monitoring

    names = []

    def on_duration(event, duration, **kwargs):
        if event == "/jax/core/compile/backend_compile_duration":
            names.append(str(kwargs.get("fun_name")))

    monitoring.register_event_duration_secs_listener(on_duration)
    try:
        yield names
    finally:
        monitoring.unregister_event_duration_listener(on_duration)


# --------------------------------------------------------------------------------- the group


@pytest.mark.parametrize("activation,bias", [(a, True) for a in sorted(ls.models.ACTIVATIONS)]
                         + [("sigmoid", False), ("tanh", False)])
def test_every_group_element_preserves_the_function(activation, bias):
    sizes = DEEP
    model = ls.mlp(sizes, activation=activation, output="linear", bias=bias)
    params = random_params(model)
    x = inputs(model)
    elements = sy.random_element(jax.random.key(7), model=model, shape=(16,))
    if units.activation_symmetry(activation) in ("odd", "logistic") and (bias or activation != "sigmoid"):
        assert elements.signs is not None and np.any(np.asarray(elements.signs[0]) == -1)
    images = sy.apply_element(params, elements, model=model)
    out = jax.jit(jax.vmap(lambda p: model.apply(p, x)))(images)
    np.testing.assert_allclose(out, np.broadcast_to(model.apply(params, x), out.shape),
                               rtol=0, atol=FUNC_TOL)
    # the images really moved (otherwise the test would prove nothing)
    moved = jax.vmap(lambda p: jnp.max(jnp.abs(flat(p) - flat(params))))(images)
    assert np.sum(np.asarray(moved) > 1e-3) >= 8


@pytest.mark.parametrize("activation", ["tanh", "sigmoid"])
def test_flip_units_alone_preserves_function_and_is_an_involution(activation):
    model = ls.mlp(DEEP, activation=activation, output="sigmoid")
    params = random_params(model, seed=3)
    signs = (jnp.array([-1, 1, -1]), jnp.array([1, -1]))
    flipped = sy.flip_units(params, signs, model=model)
    x = inputs(model)
    np.testing.assert_allclose(model.apply(flipped, x), model.apply(params, x), atol=FUNC_TOL)
    np.testing.assert_allclose(flat(sy.flip_units(flipped, signs, model=model)), flat(params), atol=FUNC_TOL)
    # the incoming weights of flipped units changed sign
    np.testing.assert_array_equal(flipped[0]["w"][:, 0], -params[0]["w"][:, 0])
    np.testing.assert_array_equal(flipped[0]["w"][:, 1], params[0]["w"][:, 1])


def test_permute_units_moves_whole_units():
    model = ls.mlp([2, 3, 1], activation="relu")
    params = random_params(model)
    perm = jnp.array([2, 0, 1])
    out = sy.permute_units(params, [perm], model=model)
    np.testing.assert_array_equal(out[0]["w"], params[0]["w"][:, perm])
    np.testing.assert_array_equal(out[0]["b"], params[0]["b"][perm])
    np.testing.assert_array_equal(out[1]["w"], params[1]["w"][perm, :])
    np.testing.assert_array_equal(out[1]["b"], params[1]["b"])


def test_sigmoid_flip_shifts_the_next_bias():
    model = ls.mlp([2, 2, 1], activation="sigmoid")
    params = random_params(model)
    out = sy.flip_units(params, [jnp.array([-1, 1])], model=model)
    np.testing.assert_allclose(out[1]["b"], params[1]["b"] + params[1]["w"][0], atol=FUNC_TOL)
    np.testing.assert_array_equal(out[1]["w"][0], -params[1]["w"][0])


@pytest.mark.parametrize("activation", NO_FLIP)
def test_activations_without_sign_symmetry_refuse_flips(activation):
    model = ls.mlp([2, 2, 1], activation=activation)
    params = random_params(model)
    assert units.activation_symmetry(activation) not in ("odd", "logistic")
    with pytest.raises(ValueError, match="no sign symmetry"):
        sy.flip_units(params, [jnp.array([-1, 1])], model=model)
    with pytest.raises(ValueError, match="no sign symmetry"):
        sy.random_element(jax.random.key(0), model=model, flips=True)
    with pytest.raises(ValueError, match="no sign symmetry"):
        sy.apply_element(params, sy.GroupElement((jnp.arange(2),), (jnp.array([1, -1]),)), model=model)
    # permutations only is the default for them, and +1 signs are the identity
    assert sy.random_element(jax.random.key(0), model=model).signs is None
    same = sy.apply_element(params, sy.GroupElement((jnp.arange(2),), (jnp.ones(2, int),)), model=model)
    np.testing.assert_array_equal(flat(same), flat(params))


def test_sigmoid_without_bias_cannot_flip():
    model = ls.mlp([2, 2, 1], activation="sigmoid", bias=False)
    with pytest.raises(ValueError, match="bias=False"):
        sy.flip_units(random_params(model), [jnp.array([-1, 1])], model=model)
    assert sy.orbit_size(model) == 2  # flips=None: permutations only


def test_unknown_activation_is_probed(monkeypatch):
    monkeypatch.setitem(ls.models.ACTIVATIONS, "sin_test", jnp.sin)
    monkeypatch.setitem(ls.models.ACTIVATIONS, "shifted_test", lambda z: jax.nn.sigmoid(z) + 1.0)
    assert units.activation_symmetry("sin_test") == "odd"
    assert units.activation_symmetry("shifted_test") == "none"
    with pytest.raises(ValueError, match="not a known activation"):
        units.activation_symmetry("nope")
    # an odd activation added later flips without a change in the symmetry package
    model = ls.mlp([2, 2, 1], activation="sin_test")
    assert sy.orbit_size(model) == 8


@pytest.mark.parametrize("sizes,flips,expected", [
    ([2, 1, 1], True, 2), ([2, 2, 1], True, 8), ([2, 3, 1], True, 48), ([2, 4, 1], True, 384),
    ([2, 3, 1], False, 6), ([2, 2, 3, 1], True, 8 * 48), ([3, 2], True, 1),
])
def test_orbit_sizes(sizes, flips, expected):
    model = ls.mlp(sizes, activation="tanh")
    assert sy.orbit_size(model, flips=flips) == expected
    if expected <= 48 or len(sizes) == 4:
        elements = sy.group_elements(model, flips=flips)
        assert elements.perms[0].shape[0] == expected if model.hidden_sizes else True
        params = random_params(model, seed=5)
        images = sy.orbit(params, model=model, flips=flips)
        points = np.asarray(jax.vmap(flat)(images))
        assert points.shape[0] == expected
        # a generic point has |G| distinct images; image 0 is the point itself
        assert len(np.unique(points.round(12), axis=0)) == expected
        np.testing.assert_array_equal(points[0], flat(params))


def test_orbit_of_a_symmetric_point_is_smaller():
    model = ls.mlp([2, 3, 1], activation="tanh")
    params = ls.inits.constant(model, 0.5, dtype=jnp.float64)(jax.random.key(0))
    points = np.asarray(jax.vmap(flat)(sy.orbit(params, model=model)))
    assert points.shape[0] == 48
    # permutations fix a point with equal units; only the 2^3 flip patterns remain distinct
    assert len(np.unique(points, axis=0)) == 8
    points = np.asarray(jax.vmap(flat)(sy.orbit(params, model=model, flips=False)))
    assert len(np.unique(points, axis=0)) == 1


def test_orbit_is_batched_over_points_and_capped():
    model = ls.mlp([2, 2, 1], activation="tanh")
    params = random_params(model, batch=(3,))
    images = sy.orbit(params, model=model)
    assert images[0]["w"].shape == (8, 3, 2, 2)
    one = sy.orbit(jax.tree.map(lambda a: a[1], params), model=model)
    np.testing.assert_array_equal(images[0]["w"][:, 1], one[0]["w"])
    with pytest.raises(ValueError, match="8 elements.*max_size=5"):
        sy.orbit(params, model=model, max_size=5)


@pytest.mark.parametrize("activation", ["tanh", "sigmoid"])
def test_compose_inverse_identity_follow_the_group_law(activation):
    model = ls.mlp(DEEP, activation=activation)
    params = random_params(model, seed=2)
    a = sy.random_element(jax.random.key(10), model=model)
    b = sy.random_element(jax.random.key(11), model=model)
    ab = sy.apply_element(params, sy.compose(a, b), model=model)
    a_of_b = sy.apply_element(sy.apply_element(params, b, model=model), a, model=model)
    np.testing.assert_allclose(flat(ab), flat(a_of_b), atol=FUNC_TOL)
    back = sy.apply_element(sy.apply_element(params, a, model=model), sy.inverse(a), model=model)
    np.testing.assert_allclose(flat(back), flat(params), atol=FUNC_TOL)
    ident = sy.identity_element(model)
    np.testing.assert_array_equal(flat(sy.apply_element(params, ident, model=model)), flat(params))
    e = sy.compose(a, sy.inverse(a))
    for p, s in zip(e.perms, e.signs):
        np.testing.assert_array_equal(p, np.arange(p.shape[-1]))
        np.testing.assert_array_equal(s, 1)
    first = jax.tree.map(lambda x: x[0], sy.group_elements(model))
    for p, q in zip(jax.tree.leaves(first), jax.tree.leaves(ident)):
        np.testing.assert_array_equal(p, q)


def test_random_elements_are_keyed_per_element_and_uniform():
    model = ls.mlp([2, 3, 1], activation="tanh")
    batch = sy.random_element(jax.random.key(0), model=model, shape=(2000,))
    one = sy.random_element(jax.random.fold_in(jax.random.key(0), 5), model=model)
    np.testing.assert_array_equal(batch.perms[0][5], one.perms[0])
    np.testing.assert_array_equal(batch.signs[0][5], one.signs[0])
    # all 48 elements appear, none grossly over-represented (2000/48 ~ 42 each)
    codes = np.asarray(batch.perms[0]) @ np.array([9, 3, 1]) * 8 + ((np.asarray(batch.signs[0]) + 1) // 2) @ np.array([4, 2, 1])
    counts = np.bincount(np.unique(codes, return_inverse=True)[1])
    assert len(counts) == 48 and counts.min() > 15 and counts.max() < 80


def test_elements_work_under_jit_and_vmap():
    model = ls.mlp([2, 3, 1], activation="tanh")
    params = random_params(model, batch=(5,))
    elements = sy.random_element(jax.random.key(1), model=model, shape=(5,))
    eager = sy.apply_element(params, elements, model=model)
    jitted = jax.jit(lambda p, e: sy.apply_element(p, e, model=model))(params, elements)
    mapped = jax.vmap(lambda p, e: sy.apply_element(p, e, model=model))(params, elements)
    for a, b, c in zip(jax.tree.leaves(eager), jax.tree.leaves(jitted), jax.tree.leaves(mapped)):
        np.testing.assert_array_equal(a, b)
        np.testing.assert_array_equal(a, c)


def test_group_argument_errors():
    model = ls.mlp([2, 3, 1], activation="tanh")
    params = random_params(model)
    with pytest.raises(ValueError, match=r"perms\[0\].*permutation of 0..2"):
        sy.permute_units(params, [jnp.array([0, 0, 1])], model=model)
    with pytest.raises(ValueError, match="one per hidden layer"):
        sy.permute_units(params, [jnp.arange(3), jnp.arange(3)], model=model)
    with pytest.raises(ValueError, match=r"shape \(2,\); expected \(\.\.\., 3\)"):
        sy.permute_units(params, [jnp.arange(2)], model=model)
    with pytest.raises(TypeError, match="integer unit indices"):
        sy.permute_units(params, [jnp.array([0.0, 1.0, 2.0])], model=model)
    with pytest.raises(ValueError, match=r"only \+1 and -1"):
        sy.flip_units(params, [jnp.array([1, 0, -1])], model=model)
    with pytest.raises(ValueError, match=r"params\[1\]\['w'\] has shape"):
        sy.symmetry_gap([params[0], {"w": jnp.zeros((2, 1)), "b": params[1]["b"]}], model=model)
    with pytest.raises(ValueError, match="list of 2 layer dicts"):
        sy.symmetry_gap(params[:1], model=model)
    with pytest.raises(ValueError, match="share their leading batch axes"):
        sy.symmetry_gap([jax.tree.map(lambda a: a[None], params[0]), params[1]], model=model)
    with pytest.raises(TypeError, match="flips="):
        sy.orbit_size(model, flips="yes")
    with pytest.raises(TypeError, match="not a supported model"):
        sy.symmetry_gap(params, model="mlp")
    with pytest.raises(TypeError, match="key="):
        sy.random_element("3", model=model)
    # the key rule of the toolkit: an integer seed or a JAX key
    np.testing.assert_array_equal(sy.random_element(3, model=model).perms[0],
                                  sy.random_element(jax.random.key(3), model=model).perms[0])
    with pytest.raises(TypeError, match="GroupElement"):
        sy.apply_element(params, (jnp.arange(3),), model=model)


# ---------------------------------------------------------------------- symmetric subspace


@pytest.mark.parametrize("sizes,bias", [([2, 3, 1], True), (DEEP, True), (DEEP, False)])
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
    np.testing.assert_allclose(flat(sy.project_symmetric(params, model=model)), p_s @ x, atol=EXACT)
    np.testing.assert_allclose(flat(sy.project_breaking(params, model=model)), p_b @ x, atol=EXACT)
    np.testing.assert_allclose(sy.symmetry_gap(params, model=model), np.linalg.norm(q_b.T @ x), rtol=1e-12)
    # symmetric basis vectors are points with equal units: gap 0, fixed by every permutation
    unravel = ravel_pytree(params)[1]
    for col in q_s.T:
        point = unravel(jnp.asarray(col))
        assert float(sy.symmetry_gap(point, model=model)) < EXACT
        perms = tuple(jnp.roll(jnp.arange(w), 1) for w in model.hidden_sizes)
        np.testing.assert_allclose(flat(sy.permute_units(point, perms, model=model)), col, atol=0)


def test_symmetric_dimension_of_one_hidden_layer():
    # 2-H-1 with biases: incoming weights (2) + bias (1) + outgoing weight (1) + output bias (1)
    for h in (1, 2, 5):
        model = ls.mlp([2, h, 1])
        assert sy.symmetric_basis(model).shape == (4 * h + 1, 5)
        assert sy.breaking_basis(model).shape == (4 * h + 1, 4 * (h - 1))


@pytest.mark.parametrize("dtype,hidden", [(jnp.float64, 3), (jnp.float32, 7)])
def test_gap_is_exactly_zero_for_identical_units(dtype, hidden):
    model = ls.mlp([2, hidden, 3, 1], activation="sigmoid")
    for value in (0.5, 0.1, 1 / 3):
        params = ls.inits.constant(model, value, dtype=dtype)(jax.random.key(0))
        assert float(sy.symmetry_gap(params, model=model)) == 0.0
        assert all(float(g) == 0.0 for g in sy.symmetry_gap(params, model=model, per_layer=True))
        proj = sy.project_symmetric(params, model=model)
        np.testing.assert_array_equal(flat(proj), flat(params))  # bit for bit
        assert not np.any(np.asarray(flat(sy.project_breaking(params, model=model))))


def test_gap_is_batched_permutation_invariant_and_per_layer():
    model = ls.mlp(DEEP, activation="tanh")
    params = random_params(model, batch=(4, 5))
    gap = sy.symmetry_gap(params, model=model)
    assert gap.shape == (4, 5)
    one = sy.symmetry_gap(jax.tree.map(lambda a: a[2, 3], params), model=model)
    np.testing.assert_allclose(gap[2, 3], one, rtol=1e-14)
    perms = sy.random_element(jax.random.key(2), model=model, flips=False, shape=(4, 5)).perms
    np.testing.assert_allclose(sy.symmetry_gap(sy.permute_units(params, perms, model=model), model=model), gap,
                               rtol=1e-12)
    layers = sy.symmetry_gap(params, model=model, per_layer=True)
    assert len(layers) == 2 and layers[0].shape == (4, 5)
    # make layer 1's units equal: its own gap vanishes, layer 0's does not
    p = [dict(layer) for layer in jax.tree.map(lambda a: a[0, 0], params)]
    p[1]["w"] = jnp.broadcast_to(p[1]["w"][:, :1], p[1]["w"].shape)
    p[1]["b"] = jnp.full_like(p[1]["b"], p[1]["b"][0])
    p[2]["w"] = jnp.broadcast_to(p[2]["w"][:1], p[2]["w"].shape)
    g0, g1 = sy.symmetry_gap(p, model=model, per_layer=True)
    assert float(g1) == 0.0 and float(g0) > 0.1
    jitted = jax.jit(lambda q: sy.symmetry_gap(q, model=model))(params)
    np.testing.assert_allclose(jitted, gap, rtol=1e-14)
    mapped = jax.vmap(jax.vmap(lambda q: sy.symmetry_gap(q, model=model)))(params)
    np.testing.assert_allclose(mapped, gap, rtol=1e-14)


def test_no_hidden_layer_is_trivially_symmetric():
    model = ls.mlp([3, 2])
    params = random_params(model, batch=(4,))
    np.testing.assert_array_equal(sy.symmetry_gap(params, model=model), np.zeros(4))
    assert sy.breaking_basis(model).shape == (8, 0)
    assert sy.orbit_size(model) == 1


def test_unit_params_rows_are_the_units():
    model = ls.mlp(DEEP, activation="tanh")
    params = random_params(model, batch=(4,))
    rows = sy.unit_params(params, model=model, layer=1)
    assert rows.shape == (4, 2, 3 + 1 + 2)
    np.testing.assert_array_equal(rows[:, 1, :3], params[1]["w"][:, :, 1])
    np.testing.assert_array_equal(rows[:, 1, 3], params[1]["b"][:, 1])
    np.testing.assert_array_equal(rows[:, 1, 4:], params[2]["w"][:, 1])
    with pytest.raises(ValueError, match="layer=2"):
        sy.unit_params(params, model=model, layer=2)


# ------------------------------------------------------------------ reduced parametrization

XOR32 = ls.datasets.xor()


@pytest.mark.parametrize("sizes,activation", [([2, 3, 1], "sigmoid"), (DEEP, "relu")])
def test_reduced_network_computes_the_same_function(sizes, activation):
    model = ls.mlp(sizes, activation=activation, output="linear")
    small = sy.reduced_model(model)
    assert small.sizes == (sizes[0],) + (1,) * (len(sizes) - 2) + (sizes[-1],)
    reduced = random_params(small, seed=3, batch=(5,))
    full = sy.from_reduced(reduced, model=model)
    assert full[0]["w"].shape == (5, sizes[0], sizes[1])
    np.testing.assert_array_equal(sy.symmetry_gap(full, model=model), np.zeros(5))  # exactly
    x = inputs(model)
    f_full = jax.vmap(lambda p: model.apply(p, x))(full)
    f_small = jax.vmap(lambda p: small.apply(p, x))(reduced)
    np.testing.assert_allclose(f_full, f_small, rtol=1e-12, atol=1e-12)
    back = sy.to_reduced(full, model=model)
    np.testing.assert_allclose(flat(back), flat(reduced), rtol=1e-14)
    # off the subspace, to_reduced maps the symmetric projection
    generic = random_params(model, seed=4)
    np.testing.assert_allclose(flat(sy.from_reduced(sy.to_reduced(generic, model=model), model=model)),
                               flat(sy.project_symmetric(generic, model=model)), rtol=1e-13, atol=1e-15)


def _max_rel(a, b):
    return max(float(np.max(np.abs(x - y) / (1.0 + np.abs(y)))) for x, y in
               zip(jax.tree.leaves(a), jax.tree.leaves(b)))


SGD = optax.sgd(0.5)  # one object: compiled programs keyed on it are reused across tests
OPTIMIZERS = {
    "sgd": optax.sgd(0.5), "momentum": optax.sgd(0.2, momentum=0.9),
    "nesterov": optax.sgd(0.2, momentum=0.9, nesterov=True), "adam": optax.adam(0.02),
    "rmsprop": optax.rmsprop(0.01), "adamw": optax.adamw(0.02, weight_decay=0.05),
    "sgd+decay": optax.chain(optax.add_decayed_weights(1e-2), optax.sgd(0.5)),
}
# Float32 full-network training and its reduced counterpart sum the same terms in other orders;
# over 300 steps the trajectories stay within this relative distance (measured: <= 2e-5).
REDUCED_RTOL = 1e-3


@pytest.mark.parametrize("name", ["sgd", "adamw"])  # adamw: Adam's moments and weight decay
def test_reduced_training_retraces_full_training_and_stays_exactly_symmetric(name):
    model = ls.mlp([2, 3, 2, 1])
    with jax.enable_x64(False):
        loss = ls.objectives.loss(model, "mse")
        init = ls.inits.constant(model, 0.5)
        red = sy.reduced_training(loss, init, OPTIMIZERS[name], model=model)
        kw = dict(key=jax.random.key(0), n_runs=2, steps=300, record_every=50, trajectory_runs=[0])
        full = ls.train_many(loss, init, OPTIMIZERS[name], XOR32, **kw)
        small = ls.train_many(red.loss_fn, red.init_fn, red.optimizer, XOR32, **kw)
        # the full run (trainer's fast path) kept its units bit-identical too
        assert float(np.max(sy.symmetry_gap(full.trajectory, model=model))) == 0.0
        back = sy.from_reduced(small.trajectory, model=model)
        assert float(np.max(sy.symmetry_gap(back, model=model))) == 0.0
        assert _max_rel(back, full.trajectory) < REDUCED_RTOL
        np.testing.assert_allclose(small.losses, full.losses, rtol=REDUCED_RTOL)


def test_reduced_objective_of_any_callable_and_of_criteria():
    model = ls.mlp([2, 3, 1])
    loss = ls.objectives.loss(model, "mse")
    crit = ls.objectives.success(model, "within", tol=0.4)
    assert sy.reduced_objective(loss, model=model) == ls.objectives.loss(sy.reduced_model(model), "mse")
    assert sy.reduced_objective(crit, model=model).model == sy.reduced_model(model)
    plain = lambda p, d: loss(p, d) + 0.0  # noqa: E731  (not a landscape Loss: wrapped)
    wrapped = sy.reduced_objective(plain, model=model)
    reduced = random_params(sy.reduced_model(model), seed=1)
    xor = ls.datasets.xor(dtype=jnp.float64)
    np.testing.assert_allclose(wrapped(reduced, xor), sy.reduced_objective(loss, model=model)(reduced, xor),
                               rtol=1e-14)
    with pytest.raises(TypeError, match="optax GradientTransformation"):
        sy.reduced_optimizer("sgd", model=model)


# ----------------------------------------------------------------- invariance in train_many

TEACHER = ls.mlp([4, 2, 1], activation="erf", output="linear")


def _tasks():
    ts, _ = ls.datasets.teacher_student(jax.random.key(0), TEACHER, n_samples=32)
    return {"xor": (ls.mlp([2, 2, 1]), XOR32), "parity": (ls.mlp([3, 3, 1]), ls.datasets.parity(3)),
            "teacher": (ls.mlp([4, 3, 1], activation="erf", output="linear"), ts)}


@pytest.mark.parametrize("task,optimizers,batch_size", [
    # (sgd and adamw on XOR full batch: see the reduced-training test)
    ("xor", ["nesterov", "rmsprop", "sgd+decay"], None), ("xor", ["sgd"], 2),
    ("parity", ["adam"], None), ("teacher", ["momentum"], 8),
])
def test_constant_start_stays_symmetric_to_the_rounding_floor(task, optimizers, batch_size):
    with jax.enable_x64(False):
        model, data = _tasks()[task]
        loss = ls.objectives.loss(model, "mse")
        init = ls.inits.constant(model, 0.5)
        for name in optimizers:
            result = ls.train_many(loss, init, OPTIMIZERS[name], data, key=jax.random.key(0),
                                   n_runs=2, steps=100, record_every=20, trajectory_runs=[0, 1],
                                   batch_size=batch_size)
            gaps, norms = sy.gap_history(result, model=model)
            status = sy.gap_status(gaps, norms, jnp.float32)
            assert np.all(status <= 1), (task, name, batch_size, gaps.max())  # exact or rounding
            if batch_size is None:  # the trainer's run-axis-last path: bit-identical units
                assert float(gaps.max()) == 0.0, (task, name)


def test_float64_rounding_floor_and_the_exact_reduced_mode():
    """Float64 XOR 2-2-1 from the constant start: the trainer's fast path keeps the units
    bit-identical, its generic path within the rounding floor (measured: 2e-13 after 20,000
    steps, ~10 ulps of the weights), and the reduced run retraces the full one to rounding."""
    model = ls.mlp([2, 2, 1])
    loss = ls.objectives.loss(model, "mse")
    init = ls.inits.constant(model, 0.5, dtype=jnp.float64)
    xor = ls.datasets.xor(dtype=jnp.float64)
    kw = dict(key=jax.random.key(0), n_runs=1, steps=4000, record_every=500, trajectory_runs=[0])
    fast = ls.train_many(loss, init, SGD, xor, method="batched", **kw)
    gaps, _ = sy.gap_history(fast, model=model)
    assert float(gaps.max()) == 0.0
    generic = ls.train_many(loss, init, SGD, xor, method="vmap", **kw)
    gaps, norms = sy.gap_history(generic, model=model)
    assert np.all(sy.gap_status(gaps, norms, jnp.float64) <= 1)
    red = sy.reduced_training(loss, init, SGD, model=model)
    small = ls.train_many(red.loss_fn, red.init_fn, red.optimizer, xor, **kw)
    back = sy.from_reduced(small.trajectory, model=model)
    assert float(np.max(sy.symmetry_gap(back, model=model))) == 0.0
    assert _max_rel(back, fast.trajectory) < 1e-12


def test_per_unit_noise_and_unequal_outgoing_weights_break_the_symmetry():
    with jax.enable_x64(False):
        model = ls.mlp([2, 2, 1])
        loss = ls.objectives.loss(model, "mse")
        const = ls.inits.constant(model, 0.5)
        kw = dict(key=jax.random.key(0), n_runs=2, steps=200, record_every=20, trajectory_runs=[0, 1])
        noisy = optax.chain(optax.add_noise(0.01, 0.55, 0), optax.sgd(0.5))
        gaps, norms = sy.gap_history(ls.train_many(loss, const, noisy, XOR32, **kw), model=model)
        assert np.all(sy.gap_status(gaps[:, -1], norms[:, -1], jnp.float32) == 3)  # broken
        random_out = ls.inits.by_layer(model, [const, ls.inits.normal(model, 1.0)])
        gaps, _ = sy.gap_history(ls.train_many(loss, random_out, optax.sgd(0.5), XOR32, **kw), model=model)
        assert np.all(gaps[:, 0] > 0.01)  # not a symmetric start: the output weights differ


def test_gap_status_thresholds():
    eps = np.finfo(np.float64).eps
    gaps = np.array([0.0, 10 * eps, 1e-8, 0.5])
    np.testing.assert_array_equal(sy.gap_status(gaps, np.ones(4), np.float64), [0, 1, 2, 3])
    assert [status.GAP[c] for c in sy.gap_status(gaps, np.ones(4), np.float64)] == [
        "exact", "rounding", "amplified", "broken"]
    np.testing.assert_array_equal(sy.gap_status(1e-8, 1.0, np.float32), 1)  # float32 ulps are larger


# ------------------------------------------------------------ equilibrium, curvature, escape

# Newton-refined critical points have |grad| <= eps^0.75 ~ 2e-12 (curvature.refine's default).
CRITICAL = 1e-10
# The linear escape law, at a strict saddle, for thresholds small enough for the linearization.
ESCAPE_RTOL = 0.02


@pytest.fixture(scope="module")
def saddle(x64):
    """The best one-unit fit of a two-step regression embedded into two equal tanh units."""
    from landscape import curvature as cv

    ex = problems.saddle_example()
    small_loss = ls.objectives.loss(sy.reduced_model(ex.model), "mse")
    point = cv.classify(small_loss, ex.reduced_params, ex.data)
    assert ls.status.POINT[int(point.label)] == "minimum"  # the best one-unit fit
    return ex.model, ex.loss_fn, ex.data, ex.params


def test_embedded_one_unit_fit_is_a_strict_saddle_with_block_diagonal_hessian(saddle):
    from landscape import curvature as cv

    model, loss, data, params = saddle
    grad = flat(jax.grad(loss)(params, data))
    assert float(jnp.linalg.norm(grad)) < CRITICAL  # critical in the full network too
    curv = sy.symmetry_curvature(loss, params, data)
    assert curv.symmetric.shape == (4,) and curv.breaking.shape == (3,)
    assert np.all(curv.symmetric > 1e-3)  # a minimum inside the symmetric subspace
    assert curv.breaking[0] < -1e-3  # ... and a way down out of it: a strict saddle
    assert float(curv.coupling) < 1e-12  # the Hessian is block diagonal at a symmetric point
    spectrum = np.sort(np.concatenate([curv.symmetric, curv.breaking]))
    np.testing.assert_allclose(spectrum, np.linalg.eigvalsh(cv.hessian(loss, params, data)), atol=1e-12)
    # batched over points == one point at a time
    shifted = jax.tree.map(lambda a: a + 0.1, params)
    both = jax.tree.map(lambda a, b: jnp.stack([a, b]), params, shifted)
    batched = sy.symmetry_curvature(loss, both, data)
    assert batched.breaking.shape == (2, 3) and batched.directions.shape == (2, 7, 3)
    np.testing.assert_allclose(batched.breaking[0], curv.breaking, atol=1e-12)
    np.testing.assert_allclose(batched.symmetric[1], sy.symmetry_curvature(loss, shifted, data).symmetric,
                               atol=1e-12)
    d = curv.directions[:, 0]
    h = cv.hessian(loss, params, data)
    np.testing.assert_allclose(h @ d, curv.breaking[0] * d, atol=1e-12)
    np.testing.assert_allclose(sy.symmetric_basis(model).T @ d, 0.0, atol=1e-14)  # breaking


def test_symmetric_equilibrium_from_a_constant_start_finds_the_saddle(saddle):
    model, loss, data, params = saddle
    start = ls.inits.constant(model, 0.5, dtype=jnp.float64)(jax.random.key(0))
    eq = sy.symmetric_equilibrium(loss, start, data, optimizer=optax.sgd(0.2), steps=20_000)
    assert eq.kind == "critical_point" and eq.refined and eq.label == "saddle"
    assert eq.strict_saddle and eq.lambda_min < -1e-3 and eq.grad_norm < CRITICAL
    assert float(sy.symmetry_gap(eq.params, model=model)) == 0.0
    np.testing.assert_allclose(flat(eq.params), flat(params), atol=1e-8)
    assert np.all(np.diff(eq.history["loss"]) <= 1e-15)  # descent inside the subspace
    # the recorded path: full-network points with equal units, starting at the start, whose
    # losses are the recorded losses
    traj = eq.trajectory
    assert jax.tree.leaves(traj)[0].shape[0] == eq.history["steps"].size
    assert not np.any(np.asarray(sy.symmetry_gap(traj, model=model)))
    np.testing.assert_array_equal(flat(jax.tree.map(lambda a: a[0], traj)), flat(start))
    np.testing.assert_allclose(np.asarray(jax.vmap(loss, in_axes=(0, None))(traj, data)),
                               eq.history["loss"], rtol=1e-12)
    summary = eq.summary()
    assert summary["kind"] == "critical_point" and summary["strict_saddle"] is True


def test_escape_from_a_strict_saddle_follows_the_linear_law(saddle):
    model, loss, data, params = saddle
    eps = np.logspace(-10, -4, 7)  # six decades
    esc = sy.escape(loss, params, data, eps, learning_rate=0.4, threshold=1e-2, steps=6000)
    assert np.all(esc.steps > 0)
    np.testing.assert_allclose(esc.steps, esc.predicted, rtol=ESCAPE_RTOL)
    fit = esc.fit()
    assert fit["n_escaped"] == 7 and abs(fit["slope_ratio"] - 1) < 0.01
    assert esc.gaps.shape == (7, esc.record_steps.size)
    np.testing.assert_allclose(esc.gaps[:, 0], eps, rtol=1e-6)  # the initial gap is eps
    # the recorded losses are the loss at the recorded points: at the start, ~ the saddle's
    # loss plus lambda eps^2 / 2 (no gradient there); falling once the units have split
    assert esc.losses.shape == esc.gaps.shape
    start_loss = float(loss(params, data))
    np.testing.assert_allclose(esc.losses[:, 0], start_loss + 0.5 * esc.lambda_min * eps**2,
                               rtol=1e-12)
    assert np.all(esc.losses[:, -1] < start_loss - 1e-3)
    # an explicit direction: its breaking part is used, normalized
    curv = sy.symmetry_curvature(loss, params, data)
    unravel = ravel_pytree(params)[1]
    tilted = unravel(3.0 * curv.directions[:, 0] + sy.symmetric_basis(model)[:, 0])
    again = sy.escape(loss, params, data, eps[:2], learning_rate=0.4, threshold=1e-2, steps=6000,
                      direction=tilted)
    np.testing.assert_array_equal(again.steps, esc.steps[:2])


@pytest.mark.parametrize("hidden", [3])  # (and 2 with half_sse below; any width, same limit)
def test_xor_constant_start_heads_to_one_sixth_at_infinity(hidden):
    model = ls.mlp([2, hidden, 1], activation="sigmoid", output="sigmoid")
    loss = ls.objectives.loss(model, "mse")
    start = ls.inits.constant(model, 0.5, dtype=jnp.float64)(jax.random.key(0))
    eq = sy.symmetric_equilibrium(loss, start, ls.datasets.xor(dtype=jnp.float64), optimizer=SGD,
                                  steps=20_000)
    h = eq.history
    excess = h["loss"] - 1.0 / 6.0
    assert eq.kind == "trap_at_infinity" and not eq.strict_saddle
    assert np.all(np.diff(h["loss"]) < 0)  # the loss keeps decreasing ...
    assert np.all(np.diff(h["param_norm"][len(h["steps"]) // 4:]) > 0)  # ... the weights keep growing
    assert 0 < excess[-1] < 3e-3  # above 1/6, close to it
    # and the excess halves (or better) per doubling of the steps: ~1/t, towards 0, not a plateau
    assert excess[-1] < 0.6 * excess[len(excess) // 2]


def test_xor_half_sse_heads_to_one_third():
    model = ls.mlp([2, 2, 1])
    loss = ls.objectives.loss(model, "half_sse")
    start = ls.inits.constant(model, 0.5, dtype=jnp.float64)(jax.random.key(0))
    eq = sy.symmetric_equilibrium(loss, start, ls.datasets.xor(dtype=jnp.float64), optimizer=SGD,
                                  steps=20_000)
    excess = eq.history["loss"] - 1.0 / 3.0
    assert eq.kind == "trap_at_infinity"
    assert 0 < excess[-1] < 3e-3 and excess[-1] < 0.6 * excess[len(excess) // 2]


@pytest.mark.parametrize("name,limit", [("mse", 1 / 6), ("half_sse", 1 / 3)])
def test_one_sixth_is_the_infimum_of_the_symmetric_xor_loss(name, limit):
    """No point with equal units does better (the output is a monotone function of one linear
    projection of the input), and a path to infinity gets arbitrarily close."""
    assert problems.XOR_SYMMETRIC_INFIMUM[name] == limit
    model = ls.mlp([2, 3, 1])
    loss = jax.jit(jax.vmap(ls.objectives.loss(model, name), in_axes=(0, None)))
    xor = ls.datasets.xor(dtype=jnp.float64)
    reduced = random_params(sy.reduced_model(model), seed=9, batch=(20_000,))
    for scale in (1.0, 10.0):
        values = loss(sy.from_reduced(jax.tree.map(lambda a: scale * a, reduced), model=model), xor)
        assert float(values.min()) >= limit - 1e-12
    gaps = []
    for t in (10.0, 20.0, 40.0, 80.0):  # h = sigmoid(t (x1 + x2 - 1/2)), o = sigmoid(c + v h)
        path = [{"w": jnp.array([[t], [t]]), "b": jnp.array([-t / 2])},
                {"w": jnp.array([[t + math.log(2.0)]]), "b": jnp.array([-t])}]
        gaps.append(float(loss(sy.from_reduced(jax.tree.map(lambda a: a[None], path), model=model), xor)[0]) - limit)
    assert gaps[0] > gaps[1] > gaps[2] > 0 and abs(gaps[-1]) < 1e-12


def test_all_zero_start_is_a_critical_point():
    model = ls.mlp([2, 2, 1])
    loss = ls.objectives.loss(model, "half_sse")  # (the programs of the 1/3 test are reused)
    zeros = ls.inits.zeros(model, dtype=jnp.float64)(jax.random.key(0))
    eq = sy.symmetric_equilibrium(loss, zeros, ls.datasets.xor(dtype=jnp.float64), optimizer=SGD,
                                  steps=20_000)
    assert eq.kind == "critical_point" and eq.grad_norm == 0.0 and eq.loss == 0.5  # 4 x 0.5^2 / 2
    assert float(np.max(np.abs(flat(eq.params)))) == 0.0  # gradient descent never moved


def test_escape_law_fails_at_the_xor_trap():
    """From the constant start the breaking curvature fades as the weights grow: small
    perturbations never escape, large ones take far longer than the linear law says."""
    model = ls.mlp([2, 2, 1])
    loss = ls.objectives.loss(model, "mse")
    start = ls.inits.constant(model, 0.5, dtype=jnp.float64)(jax.random.key(0))
    esc = sy.escape(loss, start, ls.datasets.xor(dtype=jnp.float64), np.logspace(-8, -1, 8),
                    learning_rate=0.5, threshold=0.5, steps=10_000)
    assert esc.lambda_min < 0
    assert np.all(esc.steps[:4] == -1)  # eps <= 1e-5: still symmetric after 10,000 steps
    fit = esc.fit()
    assert fit["n_escaped"] >= 2 and fit["slope_ratio"] > 3


def test_equilibrium_and_escape_argument_errors(saddle):
    model, loss, data, params = saddle
    with pytest.raises(ValueError, match="eps must be"):
        sy.escape(loss, params, data, [1e-3, -1.0], learning_rate=0.1)
    with pytest.raises(ValueError, match="learning_rate=0"):
        sy.escape(loss, params, data, [1e-3], learning_rate=0)
    with pytest.raises(ValueError, match="record_every=7"):
        sy.escape(loss, params, data, [1e-3], learning_rate=0.1, steps=100, record_every=7)
    with pytest.raises(ValueError, match="no symmetry-breaking component"):
        sy.escape(loss, params, data, [1e-3], learning_rate=0.1, direction=params)
    with pytest.raises(ValueError, match="one start"):
        sy.symmetric_equilibrium(loss, jax.tree.map(lambda a: a[None], params), data, optimizer=SGD)
    with pytest.raises(TypeError, match="does not say its model"):
        sy.symmetric_equilibrium(lambda p, d: 0.0, params, data, optimizer=SGD)
    with pytest.raises(TypeError, match="optimizer="):
        sy.symmetric_equilibrium(loss, params, data, optimizer="sgd")
    np.testing.assert_allclose(sy.predicted_escape_steps(1e-6, 1e-2, 0.5, -0.2),
                               math.log(1e4) / math.log(1.1))
    assert sy.predicted_escape_steps(1e-6, 1e-2, 0.5, 0.3) == np.inf


def test_second_calls_with_the_same_shapes_do_not_recompile(saddle):
    model = ls.mlp([2, 3, 1], activation="sigmoid")
    params = random_params(model, batch=(4,))
    other = random_params(ls.mlp([2, 3, 1], activation="gelu"), seed=1, batch=(4,))
    element = sy.random_element(jax.random.key(0), model=model, flips=False, shape=(4,))
    sy.symmetry_gap(params, model=model)
    sy.apply_element(params, element, model=model)
    sizes = (sy.subspace._gap_impl._cache_size(), sy.group._apply_impl._cache_size())
    sy.symmetry_gap(other, model=model)  # another activation, same layout: the same program
    sy.apply_element(other, element, model=ls.mlp([2, 3, 1], activation="gelu"))
    assert (sy.subspace._gap_impl._cache_size(), sy.group._apply_impl._cache_size()) == sizes
    m, loss, data, p = saddle
    eps = np.array([1e-6, 1e-5])
    sy.escape(loss, p, data, eps, learning_rate=0.4, steps=100)
    with count_compiles() as compiled:
        sy.escape(loss, p, data, 2 * eps, learning_rate=0.4, steps=100)
    assert compiled == []

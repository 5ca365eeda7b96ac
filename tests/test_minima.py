"""Tests for landscape.minima: canonical forms are invariant and idempotent, alignment recovers
known group elements, clustering recovers known minima and keeps failed runs apart, and the
connectivity tree is right. (Basin statistics: tests/test_stats.py.)"""

import math

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from jax.flatten_util import ravel_pytree

import landscape as ls
from landscape import minima as mn
from landscape import status as st
from landscape import symmetry as sy
from landscape.minima.canonical import _canonical_impl, _key_weights

# Float64: images of one point under signed permutations canonicalize bit for bit; logistic flips
# add to and subtract from biases, so those agree to a few ulps of O(1) values.
CANON_TOL = 1e-12

# widths and activations; activations of one flip kind share compiled programs (erf and linear
# flip like tanh), so they ride along on the tanh shapes
CASES = [([2, 2, 1], "sigmoid"), ([2, 3, 1], "tanh"), ([2, 3, 1], "erf"), ([3, 4, 3, 2], "sigmoid"),
         ([3, 4, 3, 2], "tanh"), ([3, 4, 3, 2], "linear"), ([2, 3, 2, 1], "relu")]


pytestmark = pytest.mark.usefixtures("x64")  # float64 module-wide (conftest.py)


def random_params(model, seed=0, batch=()):
    """Generic float64 params, every entry N(0, 1), drawn with NumPy (no compilation)."""
    rng = np.random.default_rng(seed)
    return [{k: jnp.asarray(rng.normal(size=batch + s)) for k, s in layer.items()}
            for layer in model.param_shapes]


def random_elements(model, seed, shape, *, flips=None):
    """Uniform random group elements drawn with NumPy (``sy.random_element`` compiles one
    program per model; these tests need many models, not that program)."""
    rng = np.random.default_rng(seed)
    flips = sy.resolve_flips(None, model=model) if flips is None else flips
    n = math.prod(shape)
    perms = tuple(jnp.asarray(np.stack([rng.permutation(w) for _ in range(n)]).reshape(shape + (w,)))
                  for w in model.hidden_sizes)
    signs = None
    if flips:
        signs = tuple(jnp.asarray(rng.choice([-1, 1], size=shape + (w,))) for w in model.hidden_sizes)
    return sy.GroupElement(perms, signs)


def noise(params, scale, seed):
    rng = np.random.default_rng(seed)
    return jax.tree.map(lambda a: a + scale * rng.normal(size=a.shape), params)


def flat(params):
    """``(n, n_params)`` rows of a batch of params (one leading axis)."""
    return np.asarray(jax.vmap(lambda p: ravel_pytree(p)[0])(params))


def take(params, idx):
    return jax.tree.map(lambda a: a[idx], params)


def broadcast(params, n):
    return jax.tree.map(lambda a: jnp.broadcast_to(a, (n,) + a.shape), params)


# --------------------------------------------------------------------------- canonical forms


def random_images(model, points, seed, n):
    """``(n, *batch)`` images of ``points`` under random group elements; image 0 is the point."""
    elements = random_elements(model, seed, (n, 1))
    ident = sy.identity_element(model)
    elements = jax.tree.map(lambda e, i: e.at[0].set(i), elements, ident)
    return sy.apply_element(points, elements, model=model)


@pytest.mark.parametrize("sizes,activation", CASES)
def test_canonical_form_is_invariant_and_idempotent(sizes, activation):
    model = ls.mlp(sizes, activation=activation, output="sigmoid")
    points = random_params(model, seed=1, batch=(3,))
    images = random_images(model, points, 4, 64)  # (64, 3, ...); [0]: points
    for i in range(3):  # the images really moved
        moved = flat(take(images, (slice(None), i))) - flat(broadcast(take(points, i), 64))
        assert np.sum(np.abs(moved).max(axis=1) > 1e-3) > 40
    canon = mn.canonicalize(images, model=model)
    for i in range(3):
        np.testing.assert_allclose(flat(take(canon, (slice(None), i))),
                                   flat(broadcast(take(canon, (0, i)), 64)), rtol=0, atol=CANON_TOL)
    again = mn.canonicalize(canon, model=model)  # same shapes: no new compilation
    for a, b in zip(jax.tree.leaves(again), jax.tree.leaves(canon)):
        np.testing.assert_array_equal(a, b)
    # the canonical form is a point of the orbit: it computes the same function
    x = jnp.asarray(np.random.default_rng(2).normal(size=(6, model.n_in)))
    out = jax.vmap(lambda p: model.apply(p, x))
    np.testing.assert_allclose(out(take(canon, 0)), out(points), rtol=0, atol=CANON_TOL)


def test_canonical_rule_is_the_documented_one():
    model = ls.mlp([3, 5, 1], activation="tanh")
    canon = mn.canonicalize(random_params(model, seed=3, batch=(20,)), model=model)
    v = np.concatenate([np.swapaxes(np.asarray(canon[0]["w"]), 1, 2),
                        np.asarray(canon[0]["b"])[..., None]], axis=-1)  # (20, 5, 4)
    top = np.abs(v).max(axis=-1, keepdims=True)
    first = np.argmax(np.abs(v) > mn.SIGN_RTOL * top, axis=-1)
    assert np.all(np.take_along_axis(v, first[..., None], axis=-1) > 0)
    key = v @ _key_weights(4)
    assert np.all(np.diff(key, axis=-1) >= 0)


def test_sigmoid_flip_moves_outgoing_weights_into_the_next_bias():
    model = ls.mlp([2, 1, 1], activation="sigmoid")
    params = [{"w": jnp.array([[-2.0], [1.0]]), "b": jnp.array([0.5])},
              {"w": jnp.array([[3.0]]), "b": jnp.array([-1.0])}]
    canon = mn.canonicalize(params, model=model)
    # first significant incoming entry -2 < 0: flipped; the old outgoing weight 3 joins the bias
    np.testing.assert_array_equal(canon[0]["w"], [[2.0], [-1.0]])
    np.testing.assert_array_equal(canon[0]["b"], [-0.5])
    np.testing.assert_array_equal(canon[1]["w"], [[-3.0]])
    np.testing.assert_array_equal(canon[1]["b"], [2.0])
    element = mn.canonical_element(params, model=model)
    np.testing.assert_array_equal(element.signs[0], [-1])


def test_permutations_only_when_flips_are_off_or_impossible():
    model = ls.mlp([2, 3, 1], activation="tanh")
    p = random_params(model, seed=5)
    perms = random_elements(model, 1, (16,), flips=False)
    canon = mn.canonicalize(sy.apply_element(p, perms, model=model), flips=False, model=model)
    np.testing.assert_array_equal(flat(canon), flat(broadcast(mn.canonicalize(p, flips=False, model=model), 16)))
    flipped = sy.flip_units(p, [jnp.array([-1, 1, 1])], model=model)
    assert not np.allclose(flat(broadcast(mn.canonicalize(flipped, flips=False, model=model), 1)),
                           flat(broadcast(mn.canonicalize(p, flips=False, model=model), 1)))
    assert mn.canonical_element(p, model=ls.mlp([2, 3, 1], activation="relu")).signs is None
    with pytest.raises(ValueError, match="no sign symmetry"):
        mn.canonicalize(p, model=ls.mlp([2, 3, 1], activation="relu"), flips=True)


def test_canonicalize_batched_equals_loop_and_jit_and_does_not_recompile():
    model = ls.mlp([2, 3, 2, 1], activation="sigmoid")
    batch = random_params(model, seed=6, batch=(5,))
    together = flat(mn.canonicalize(batch, model=model))
    loop = np.stack([flat(broadcast(mn.canonicalize(take(batch, i), model=model), 1))[0] for i in range(5)])
    np.testing.assert_allclose(together, loop, rtol=0, atol=CANON_TOL)
    jitted = flat(jax.jit(lambda p: mn.canonicalize(p, model=model))(batch))
    mapped = flat(jax.vmap(lambda p: mn.canonicalize(p, model=model))(batch))
    np.testing.assert_allclose(jitted, together, rtol=0, atol=CANON_TOL)
    np.testing.assert_allclose(mapped, together, rtol=0, atol=CANON_TOL)
    size = _canonical_impl._cache_size()
    mn.canonicalize(random_params(model, seed=7, batch=(5,)), model=model)
    assert _canonical_impl._cache_size() == size


def descend(loss_fn, params, data, *, lr, steps):
    """Plain gradient descent on a batch of float64 points (one compiled scan): the trainer's
    float32 path is tested elsewhere, and this module runs with x64 switched on."""
    def one(p):
        def step(q, _):
            return jax.tree.map(lambda a, g: a - lr * g, q, jax.grad(loss_fn)(q, data)), None
        return jax.lax.scan(step, p, None, length=steps)[0]

    return jax.jit(jax.vmap(one))(params)


def xor_runs(n=16, steps=2000, seed=0):
    model = ls.mlp([2, 2, 1], activation="sigmoid", output="sigmoid")
    data = ls.datasets.xor(jnp.float64)
    loss_fn = ls.objectives.loss(model, "mse")
    final = descend(loss_fn, random_params(model, seed=seed, batch=(n,)), data, lr=2.0, steps=steps)
    return model, data, loss_fn, final


def test_trained_xor_solution_has_8_images_that_canonicalize_to_one():
    model, data, loss_fn, final = xor_runs()
    loss = np.asarray(jax.vmap(loss_fn, in_axes=(0, None))(final, data))
    solved = np.flatnonzero(loss < 0.01)
    assert solved.size > 4
    solution = take(final, int(solved[0]))
    images = sy.orbit(solution, model=model)
    points = flat(images)
    assert points.shape[0] == 8
    assert len(np.unique(points.round(8), axis=0)) == 8  # all 8 images are distinct points
    canon = flat(mn.canonicalize(images, model=model))
    np.testing.assert_allclose(canon, np.broadcast_to(canon[0], canon.shape), rtol=0, atol=CANON_TOL)


def test_centered_coordinates_make_the_group_isometric():
    model = ls.mlp([2, 3, 2, 1], activation="sigmoid")
    a, b = random_params(model, seed=8), random_params(model, seed=9)
    g = random_elements(model, 3, (8,))
    ga, gb = sy.apply_element(a, g, model=model), sy.apply_element(b, g, model=model)
    plain = np.linalg.norm(flat(ga) - flat(gb), axis=1)
    assert np.ptp(plain) > 1e-3  # raw parameters: logistic flips are not isometries
    cen = lambda p: mn.flat_centered(p, canonical=False, model=model)  # noqa: E731
    d = np.linalg.norm(cen(ga) - cen(gb), axis=1)
    np.testing.assert_allclose(d, np.linalg.norm(cen(a) - cen(b)), rtol=1e-12)
    back = mn.uncentered_params(mn.centered_params(a, model=model), model=model)
    np.testing.assert_allclose(flat(broadcast(back, 1)), flat(broadcast(a, 1)), atol=CANON_TOL)


# --------------------------------------------------------------------------------- alignment


@pytest.mark.parametrize("sizes,activation", [([3, 5, 4, 2], "sigmoid"), ([3, 6, 5, 4, 2], "tanh"),
                                              ([3, 6, 5, 2], "relu")])
def test_alignment_recovers_a_known_element_exactly(sizes, activation):
    model = ls.mlp(sizes, activation=activation)
    p = random_params(model, seed=10)
    g = random_elements(model, 5, (6,))
    images = sy.apply_element(p, g, model=model)
    result = mn.align(images, p, model=model)
    inv = sy.inverse(g)
    for got, want in zip(result.element.perms, inv.perms):
        np.testing.assert_array_equal(got, want)
    if inv.signs is not None:
        for got, want in zip(result.element.signs, inv.signs):
            np.testing.assert_array_equal(got, want)
    np.testing.assert_allclose(result.distance, 0.0, atol=CANON_TOL)
    # with noise the same element is found, at the noise's distance
    noisy = noise(images, 1e-3, 6)
    again = mn.align(noisy, p, model=model)
    for got, want in zip(again.element.perms, inv.perms):
        np.testing.assert_array_equal(got, want)
    assert np.all(again.distance < 0.05)


def test_single_hidden_layer_alignment_is_the_orbit_optimum():
    model = ls.mlp([2, 3, 1], activation="sigmoid")
    a = random_params(model, seed=11, batch=(5,))
    b = random_params(model, seed=12, batch=(4,))
    np.testing.assert_allclose(mn.param_distances(a, b, symmetry="align", model=model),
                               mn.param_distances(a, b, symmetry="orbit", model=model), rtol=1e-10)


def test_distances_modulo_symmetry():
    model = ls.mlp([2, 3, 1], activation="tanh")
    p = random_params(model, seed=13)
    images = sy.apply_element(p, random_elements(model, 8, (5,)), model=model)
    others = random_params(model, seed=14, batch=(3,))
    pts = jax.tree.map(lambda a, b: jnp.concatenate([a, b]), images, others)
    orbit = mn.param_distances(pts, symmetry="orbit", model=model)
    canon = mn.param_distances(pts, symmetry="canonical", model=model)
    plain = mn.param_distances(pts, symmetry="none", model=model)
    np.testing.assert_allclose(orbit[:5, :5], 0.0, atol=CANON_TOL)
    assert plain[:5, :5].max() > 1.0
    np.testing.assert_allclose(orbit, orbit.T, atol=CANON_TOL)
    assert np.all(orbit <= canon + CANON_TOL) and np.all(orbit <= plain + CANON_TOL)
    x = jnp.asarray(np.random.default_rng(9).normal(size=(7, 2)))
    fd = mn.function_distances(pts, x=x, model=model)
    np.testing.assert_allclose(fd[:5, :5], 0.0, atol=CANON_TOL)
    assert fd[0, 6] > 1e-3
    out = mn.function_outputs(pts, x, model=model)
    assert out.shape == (8, 7, 1)
    np.testing.assert_allclose(fd[0, 6], np.sqrt(np.mean((out[0] - out[6]) ** 2)), rtol=1e-12)


# ---------------------------------------------------------------------------------- clustering


def _three_minima_runs(space_noise=1e-4, copies=40):
    """Copies of three known points under random group elements plus small noise, and a
    diverged, a moving and a non-finite run that sit exactly on the first point."""
    model = ls.mlp([2, 3, 1], activation="tanh", output="linear")
    centers = random_params(model, seed=20, batch=(3,))
    images = sy.apply_element(centers, random_elements(model, 11, (copies, 3)), model=model)
    runs = jax.tree.map(lambda a: a.reshape((3 * copies,) + a.shape[2:]), noise(images, space_noise, 12))
    truth = np.tile(np.arange(3), copies)
    first = take(centers, 0)
    extra = jax.tree.map(lambda a: jnp.stack([a, a, a]), first)
    extra = jax.tree.map(lambda a: a.at[2].set(jnp.nan) if a.ndim == 3 else a, extra)
    runs = jax.tree.map(lambda a, b: jnp.concatenate([a, b]), runs, extra)
    n = 3 * copies + 3
    loss = np.concatenate([np.array([0.1, 0.2, 0.1])[truth], [0.1, 0.1, 0.1]])  # 0 and 2 share a level
    status = np.zeros(n, np.int32)
    status[-3] = 1
    grad = np.full(n, 1e-9)
    grad[-2] = 1.0
    return model, runs, truth, loss, status, grad


@pytest.mark.parametrize("space", ["param", "function"])
def test_clustering_recovers_three_known_minima_and_keeps_failed_runs_apart(space):
    model, runs, truth, loss, status, grad = _three_minima_runs()
    x = jnp.asarray(np.random.default_rng(13).normal(size=(16, 2)))
    c = mn.cluster_runs(runs, model=model, loss=loss, x=x, status=status, grad_norm=grad,
                        options=mn.ClusterOptions(space=space))
    assert c.n_clusters == 3
    assert c.level.rule == "gap" and c.level.ratio > 50
    assert c.describe_tolerance().startswith(f"tolerance {c.level.cut:.3g}: a gap in the single-")
    labels = c.labels[: truth.size]
    # the partition is the truth's, up to naming
    assert len(set(zip(labels, truth))) == 3 and len(set(labels)) == 3
    assert c.counts() == {"clustered": truth.size, "moving": 1, "diverged": 1, "nonfinite": 1}
    assert [st.CATEGORY[code] for code in c.labels[-3:]] == ["diverged", "moving", "nonfinite"]
    # clusters are numbered by ascending mean loss: the 0.2-loss point is last
    assert np.all(c.labels[: truth.size][truth == 1] == 2)
    assert c.symmetry == ("orbit" if space == "param" else "none")


def test_failed_runs_never_enter_a_cluster_even_on_top_of_a_minimum():
    model, runs, truth, loss, status, grad = _three_minima_runs(copies=10)
    grad = grad.copy()
    grad[:5] = 1e-2  # five runs of the clusters are still moving
    status = status.copy()
    status[5:8] = 1  # three diverged (their params are finite and sit on minima)
    c = mn.cluster_runs(runs, model=model, loss=loss, x=jnp.ones((1, 2)), status=status,
                        grad_norm=grad, grad_tol=1e-3, options=mn.ClusterOptions(space="param"))
    assert np.all(c.labels[:5] == st.CATEGORY.code("moving"))
    assert np.all(c.labels[5:8] == st.CATEGORY.code("diverged"))
    assert sum(c.members(k).size for k in range(c.n_clusters)) == truth.size - 8
    counts = c.counts()
    assert counts["moving"] == 6 and counts["diverged"] == 4 and counts["nonfinite"] == 1
    assert sum(counts.values()) == truth.size + 3


def test_census_summaries_and_table():
    model, runs, truth, loss, status, grad = _three_minima_runs(copies=12)
    data = ls.datasets.Dataset(jnp.asarray(np.random.default_rng(14).normal(size=(16, 2))),
                               jnp.zeros((16, 1), jnp.float64))
    loss_fn = ls.objectives.loss(model, "mse")
    c = mn.census(loss_fn, runs, data, model=model, status=status, grad_norm=grad,
                  options=mn.ClusterOptions(space="param"))
    assert len(c.clusters) == 3
    for s in c.clusters:
        assert s.representative in s.members and s.size == s.members.size
        assert s.loss_min <= s.loss_mean <= s.loss_max
        assert s.kind == s.hessian  # no optimizer: no growth test
        assert s.hessian in st.POINT.names
        assert s.index >= 0
    assert sum(s.size for s in c.clusters) == truth.size
    table = c.table()
    assert table["columns"][0] == "cluster" and len(table["rows"]) == 3 + 3
    assert [r[0] for r in table["rows"][3:]] == ["moving", "diverged", "nonfinite"]
    arrays = c.arrays()
    assert arrays["labels"].shape == (truth.size + 3,) and arrays["cluster_size"].sum() == truth.size


def test_census_of_xor_runs_finds_traps_at_infinity():
    model, data, loss_fn, final = xor_runs(n=16, steps=3000)
    c = mn.census(loss_fn, final, data, model=model, optimizer=optax.sgd(2.0), growth_steps=500,
                  grad_tol=1e-2)
    assert c.clusters and c.clusters[0].loss_mean < 0.01  # cluster 0: the XOR solution
    for s in c.clusters:
        assert s.kind == "trap_at_infinity" and s.growing
        assert s.describe_kind().startswith("trap at infinity (Hessian: ")
    np.testing.assert_allclose(c.clusters[0].outputs.ravel(), [0, 1, 1, 0], atol=0.1)


def test_single_linkage_is_exact():
    from scipy.cluster.hierarchy import fcluster, linkage

    rng = np.random.default_rng(0)
    for _ in range(15):
        n = int(rng.integers(2, 300))
        x = rng.normal(size=(n, 3)) * rng.uniform(0.1, 2, size=3)
        x[: n // 3] += 4
        tol = float(rng.uniform(0.05, 1.5))
        got = mn.single_linkage(x, tol)
        want = fcluster(linkage(x, method="single"), tol, criterion="distance")
        assert len(set(zip(got, want))) == len(set(got)) == len(set(want))
        assert got[0] == 0 and set(got) == set(range(got.max() + 1))
    assert np.all(mn.single_linkage(x, float("inf")) == 0)


def test_run_categories_and_cluster_runs_read_one_moving_threshold():
    """Diverged runs with large final gradients must not lift the threshold: the runs that are
    neither diverged nor non-finite set it, in both functions (run_categories used to read the
    diverged runs too, so a moving run counted as clusterable there)."""
    model, runs, truth, loss, status, grad = _three_minima_runs()
    status, grad = status.copy(), grad.copy()
    status[:70], grad[:70] = 1, 5.0  # most runs diverged with large gradients
    cat = mn.run_categories(runs, model=model, loss=loss, status=status, grad_norm=grad)
    c = mn.cluster_runs(runs, model=model, loss=loss, status=status, grad_norm=grad,
                        options=mn.ClusterOptions(space="param"))
    assert st.CATEGORY[cat[-2]] == "moving" and c.counts()["moving"] == 1
    assert np.array_equal(np.minimum(c.labels, 0), cat)
    assert c.grad_tol.rule == "data" and c.grad_tol.median == 1e-9


def test_cluster_runs_both_is_groups_and_classes_of_its_features():
    model, runs, truth, loss, status, grad = _three_minima_runs()
    x = jnp.asarray(np.random.default_rng(13).normal(size=(16, 2)))
    loss = np.full_like(loss, 0.1)  # one loss window
    opts = mn.ClusterOptions(space="both", symmetry="canonical")
    c = mn.cluster_runs(runs, model=model, loss=loss, x=x, status=status, grad_norm=grad,
                        options=opts)
    ok = c.labels >= 0
    out = mn.function_outputs(take(runs, np.flatnonzero(ok)), x, model=model)
    gc = mn.groups_and_classes(out.reshape(out.shape[0], -1) / np.sqrt(out.shape[1]),
                               c.features[ok], dtype=np.float64)
    (h,) = c.hierarchies
    assert h.n_classes.tolist() == gc.n_classes.tolist() and c.n_clusters == 3
    assert len(set(zip(c.labels[ok], gc.classes))) == len(set(gc.classes)) == 3
    assert gc.n_groups == 3 and np.array_equal(c.groups[ok], c.labels[ok])  # three functions
    # each group is one class: the largest group's level says so, with its run count
    assert c.describe_tolerance() == ("no gap in the merge heights of 40 runs (rule 'no gap'): "
                                      "they form one cluster")


def test_union_find_names_sets_by_their_smallest_member():
    from landscape.minima._union_find import UnionFind

    sets = UnionFind(6)
    assert sets.union(4, 2) and sets.union(5, 4) and not sets.union(2, 5)
    assert sets.union(3, 0)
    assert [sets.find(i) for i in range(6)] == [0, 1, 2, 0, 2, 2]
    assert sets.labels().tolist() == [0, 1, 2, 0, 2, 2]


def test_loss_windows_split_at_relative_and_absolute_gaps():
    loss = np.array([1e-4, 7e-4, 3e-4, 0.125, 0.1251, 0.1667, 0.0])
    w = mn.loss_windows(loss)
    assert w.tolist() == [0, 0, 0, 1, 1, 2, 0]
    assert mn.loss_windows(loss, loss_atol=0.0).tolist() != w.tolist()
    with pytest.raises(ValueError, match="finite"):
        mn.loss_windows([0.1, np.nan])


# ------------------------------------------------------------------------- degenerate units


def test_unit_structure_finds_duplicated_dead_and_saturated_units():
    model = ls.mlp([2, 4, 1], activation="tanh")
    w = jnp.array([[1.0, -1.0, 0.0, 40.0], [0.5, -0.5, 0.0, 40.0]])
    b = jnp.array([0.2, -0.2, 0.3, 20.0])
    params = [{"w": w, "b": b}, {"w": jnp.ones((4, 1)), "b": jnp.zeros(1)}]
    x = jnp.array([[1.0, 1.0], [-1.0, -1.0], [1.0, 0.0]])  # unit 3: z = 100, -60, 60
    s = mn.unit_structure(params, x, model=model)
    assert s.duplicate_pairs.tolist() == [1]  # unit 1 = flipped unit 0
    assert s.dead.tolist() == [1]  # unit 2: zero incoming weights
    assert s.saturated.tolist() == [1]  # unit 3: |z| >= 60 everywhere, outputs +-1
    assert s.per_layer.shape == (1, 1, 3)
    no_flip = mn.unit_structure(params, x, flips=False, model=model)
    assert no_flip.duplicate_pairs.tolist() == [0]


def test_growth_check_tells_a_trap_at_infinity_from_a_finite_minimum():
    model, data, loss_fn, final = xor_runs()
    g = mn.growth_check(loss_fn, final, data, optimizer=optax.sgd(2.0), steps=1000)
    # every XOR end point of the logistic 2-2-1 net drifts off to infinity (solutions and plateaus)
    assert np.all(g.growing) and np.all(g.radial > 0.5)
    assert g.norms.shape == (16, 11) and g.steps.shape == (16, 10)
    # a linear net on linear data converges to a finite minimum: no growth
    lin = ls.mlp([1, 1, 1], activation="linear", output="linear")
    xs = jnp.linspace(-1, 1, 8)[:, None]
    lin_data = ls.datasets.Dataset(xs, 0.5 * xs + 0.1)
    lin_loss = ls.objectives.loss(lin, "mse")
    pre = descend(lin_loss, random_params(lin, seed=2, batch=(4,)), lin_data, lr=0.2, steps=2000)
    g = mn.growth_check(lin_loss, pre, lin_data, optimizer=optax.sgd(0.2), steps=500)
    assert not np.any(g.growing)


# ------------------------------------------------------------------------------ connectivity


def test_connectivity_between_a_point_and_its_image_is_flat_after_alignment():
    model = ls.mlp([2, 2, 1], activation="sigmoid")
    data = ls.datasets.xor(jnp.float64)
    loss_fn = ls.objectives.loss(model, "mse")
    p = random_params(model, seed=21)
    q = random_params(model, seed=22)
    image = sy.apply_element(p, random_elements(model, 15, ()), model=model)
    pts = jax.tree.map(lambda a, b, c: jnp.stack([a, b, c]), p, image, q)
    con = mn.connectivity(loss_fn, pts, data, model=model, n_points=11)
    assert con.alignment == "orbit"
    assert con.barrier[0, 1] == pytest.approx(0.0, abs=1e-12)
    np.testing.assert_allclose(con.paths[0, 1], con.losses[0], atol=1e-12)
    np.testing.assert_allclose(con.saddle, con.saddle.T)
    np.testing.assert_allclose(con.paths[1, 0], con.paths[0, 1][::-1])
    assert con.merges.shape == (2, 3) and con.merges[0, :2].tolist() == [0, 1]
    assert np.all(np.diff(con.merges[:, 2]) >= 0)


def test_merge_tree_is_the_minimax_tree():
    s = np.array([[np.nan, 5.0, 2.0, 9.0],
                  [5.0, np.nan, 3.0, 9.0],
                  [2.0, 3.0, np.nan, 8.0],
                  [9.0, 9.0, 8.0, np.nan]])
    tree = mn.merge_tree(s)
    np.testing.assert_array_equal(tree, [[0, 2, 2.0], [0, 1, 3.0], [0, 3, 8.0]])


# ---------------------------------------------------------------------------------- bad input


def test_errors_name_the_argument():
    model = ls.mlp([2, 3, 1], activation="tanh")
    p = random_params(model, batch=(4,))
    with pytest.raises(TypeError, match="model"):
        mn.canonicalize(p, model="mlp")
    with pytest.raises(ValueError, match=r"params\[0\]"):
        mn.canonicalize([{"w": jnp.zeros((3, 3)), "b": jnp.zeros(3)}, p[1]], model=model)
    with pytest.raises(ValueError, match="reference"):
        mn.align(p, random_params(model, batch=(3,)), model=model)
    with pytest.raises(ValueError, match="max_sweeps"):
        mn.align(p, take(p, 0), max_sweeps=0, model=model)
    with pytest.raises(ValueError, match="symmetry="):
        mn.param_distances(p, symmetry="sorted", model=model)
    with pytest.raises(ValueError, match="max_orbit"):
        mn.param_distances(p, symmetry="orbit", max_orbit=10, model=model)
    with pytest.raises(ValueError, match=r"x of shape"):
        mn.function_outputs(p, jnp.zeros((3, 5)), model=model)
    loss = np.zeros(4)
    with pytest.raises(ValueError, match="space="):
        mn.ClusterOptions(space="hidden")
    with pytest.raises(ValueError, match="symmetry="):
        mn.ClusterOptions(symmetry="sorted")
    with pytest.raises(TypeError, match="options="):
        mn.cluster_runs(p, model=model, loss=loss, x=jnp.ones((2, 2)), options={"space": "param"})
    with pytest.raises(ValueError, match="needs x"):
        mn.cluster_runs(p, loss=loss, model=model)
    with pytest.raises(ValueError, match="tol="):
        mn.ClusterOptions(tol=-1.0)
    with pytest.raises(ValueError, match="loss must have one entry per run"):
        mn.cluster_runs(p, loss=np.zeros(3), x=jnp.ones((2, 2)), model=model)
    with pytest.raises(TypeError, match="status"):
        mn.run_categories(p, loss=loss, status=np.zeros(4), model=model)
    with pytest.raises(ValueError, match="grad_tol"):
        mn.run_categories(p, loss=loss, grad_norm=loss, grad_tol=-1.0, model=model)
    with pytest.raises(ValueError, match="tol="):
        mn.single_linkage(np.zeros((3, 2)), 0.0)
    with pytest.raises(ValueError, match="n_checks=3 must divide"):
        mn.growth_check(ls.objectives.loss(model, "mse"), p, ls.datasets.xor(jnp.float64),
                        optimizer=optax.sgd(0.1), steps=10, n_checks=3)
    with pytest.raises(ValueError, match="alignment="):
        mn.connectivity(ls.objectives.loss(model, "mse"), p, ls.datasets.xor(jnp.float64),
                        model=model, alignment="exact")


def test_closest_image_is_the_nearest_group_image():
    model = ls.mlp([2, 3, 1], activation="sigmoid")
    p = random_params(model, seed=23)
    image = sy.apply_element(p, random_elements(model, 16, ()), model=model)
    moved = mn.closest_image(image, p, model=model)
    np.testing.assert_allclose(flat(broadcast(moved, 1)), flat(broadcast(p, 1)), atol=CANON_TOL)
    by_matching = mn.closest_image(image, p, alignment="align", model=model)
    np.testing.assert_allclose(flat(broadcast(by_matching, 1)), flat(broadcast(p, 1)), atol=CANON_TOL)
    with pytest.raises(ValueError, match="one network"):
        mn.closest_image(broadcast(p, 2), p, model=model)


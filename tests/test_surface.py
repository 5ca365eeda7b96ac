"""Tests for landscape.surface: known answers (quadratics, double wells, planes), batched ==
looped, blocked == unblocked, the symmetric view of XOR, and argument errors."""

import math

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from jax.flatten_util import ravel_pytree

import landscape as ls
from landscape import surface as sf
from landscape import symmetry

# Float64 sums of O(10) products of O(1) numbers.
EXACT = 1e-12
# Float32 evaluation of the same network by differently vectorized programs (vmap vs point
# axis last, block shapes): a few ulps of losses O(0.1-1).
F32 = 2e-6
# Per-point jitted calls vs one batched program in float32: the same formula, a few ulps.
LOOP_F32 = 1e-6
# 200 float32 SGD steps from the same starts by two differently vectorized programs: rounding
# differences (~1e-7) grow at most like the local expansion of the map; ~1e-6 seen here.
TRAIN_F32 = 1e-4


pytestmark = pytest.mark.usefixtures("x64")  # float64 module-wide (conftest.py)


# ------------------------------------------------------------------------------ fixtures

def quad_loss(params, h):
    """0.5 x^T H x over the flattened pytree; H is the data."""
    x, _ = ravel_pytree(params)
    return 0.5 * x @ h @ x


def quad_point(x):
    x = np.asarray(x, np.float64)
    return {"a": jnp.asarray(x[:2]), "b": [jnp.asarray(x[2:6].reshape(2, 2)), jnp.asarray(x[6:])]}


@pytest.fixture(scope="module")
def quad(x64):
    rng = np.random.default_rng(0)
    u, _ = np.linalg.qr(rng.normal(size=(7, 7)))
    lam = np.array([-2.0, -0.5, 0.0, 0.3, 1.0, 2.0, 5.0])
    return jnp.asarray(u @ np.diag(lam) @ u.T), lam


@pytest.fixture(scope="module")
def xor32():
    model = ls.mlp([2, 3, 1], activation="sigmoid", output="sigmoid")
    loss_fn = ls.objectives.loss(model, "mse")
    data = ls.datasets.xor()  # float32
    p0 = model.init(jax.random.key(0))
    return model, loss_fn, data, p0


def flat(tree):
    return np.asarray(ravel_pytree(tree)[0], np.float64)


def unit_norms(params):
    """Per unit (column j of layer l: w[:, j] and b[j]) norms, computed from the MLP layout."""
    return np.concatenate([np.sqrt(np.sum(np.asarray(l["w"], np.float64) ** 2, axis=0)
                                   + np.asarray(l["b"], np.float64) ** 2) for l in params])


# ------------------------------------------------------------------------------ slices

def test_2d_slice_of_quadratic_equals_closed_form_on_non_square_grid(quad):
    h, _ = quad
    rng = np.random.default_rng(1)
    x0, v1, v2 = rng.normal(size=(3, 7))
    alphas = np.linspace(-1.0, 2.0, 7)   # 7 x 4: a transposed layout cannot pass
    betas = np.array([-0.5, 0.0, 0.25, 3.0])
    s = sf.slice_2d(quad_loss, quad_point(x0), h, quad_point(v1), quad_point(v2), alphas, betas)
    assert s.values.shape == (7, 4)
    hn = np.asarray(h)
    for i, a in enumerate(alphas):
        for j, b in enumerate(betas):
            x = x0 + a * v1 + b * v2
            assert abs(s.values[i, j] - 0.5 * x @ hn @ x) <= EXACT * (1 + abs(0.5 * x @ hn @ x))
    # centered at 0: the form 0.5 (a d1 + b d2)^T H (a d1 + b d2)
    s0 = sf.slice_2d(quad_loss, quad_point(np.zeros(7)), h, quad_point(v1), quad_point(v2), alphas, betas)
    a, b = np.meshgrid(alphas, betas, indexing="ij")
    closed = 0.5 * (a**2 * (v1 @ hn @ v1) + 2 * a * b * (v1 @ hn @ v2) + b**2 * (v2 @ hn @ v2))
    np.testing.assert_allclose(s0.values, closed, rtol=EXACT, atol=EXACT)


def test_slice_center_equals_loss_at_center(xor32):
    model, loss_fn, data, p0 = xor32
    d1 = sf.random_direction(p0, key=jax.random.key(1))
    d2 = sf.random_direction(p0, key=jax.random.key(2))
    grid = np.linspace(-1, 1, 5)  # contains 0
    expect = float(loss_fn(p0, data))
    for method in ("vmap", "batched"):
        s2 = sf.slice_2d(loss_fn, p0, data, d1, d2, grid, grid[:4], method=method)
        s1 = sf.slice_1d(loss_fn, p0, data, d1, grid, method=method)
        assert s2.center_value == pytest.approx(expect, rel=F32)
        assert s2.values[2, 2] == pytest.approx(expect, rel=F32)
        assert s1.values[2] == pytest.approx(expect, rel=F32) and s1.center_value == pytest.approx(expect, rel=F32)
    assert s2.values.dtype == np.float32


def test_batched_slice_equals_loop_of_point_calls(xor32):
    model, loss_fn, data, p0 = xor32
    d1 = sf.random_direction(p0, key=jax.random.key(3), normalization="unit")
    d2 = sf.random_direction(p0, key=jax.random.key(4), normalization="unit")
    alphas, betas = np.linspace(-2, 2, 6), np.linspace(-1, 3, 5)
    point = jax.jit(lambda a, b: loss_fn(jax.tree.map(lambda p, u, v: p + a * u + b * v, p0,
                                                      d1.params, d2.params), data))
    loop = np.array([[float(point(np.float32(a), np.float32(b))) for b in betas] for a in alphas])
    for method in ("vmap", "batched"):
        s = sf.slice_2d(loss_fn, p0, data, d1, d2, alphas, betas, method=method)
        np.testing.assert_allclose(s.values, loop, rtol=LOOP_F32, atol=LOOP_F32)


def test_blocked_equals_unblocked_and_methods_agree(xor32):
    model, loss_fn, data, p0 = xor32
    d1 = sf.random_direction(p0, key=jax.random.key(5))
    d2 = sf.random_direction(p0, key=jax.random.key(6))
    alphas, betas = np.linspace(-1, 1, 13), np.linspace(-2, 1, 11)  # 143 points
    ref = sf.slice_2d(loss_fn, p0, data, d1, d2, alphas, betas, method="vmap").values
    for method in ("vmap", "batched"):
        for block in (1, 10, 64, 143, 1000):
            v = sf.slice_2d(loss_fn, p0, data, d1, d2, alphas, betas, method=method,
                            block_size=block).values
            np.testing.assert_allclose(v, ref, rtol=F32, atol=F32)


@pytest.mark.parametrize("method", ["vmap", "batched"])
def test_values_do_not_depend_on_concurrent_parts(xor32, monkeypatch, method):
    """On one CPU device the blocks are shared out to calls from several threads: the same
    numbers, bit for bit, for 1, 2 and 3 parts (the last part padded)."""
    model, loss_fn, data, p0 = xor32
    d1 = sf.random_direction(p0, key=jax.random.key(5))
    d2 = sf.random_direction(p0, key=jax.random.key(6))
    alphas, betas = np.linspace(-1, 1, 13), np.linspace(-2, 1, 11)  # 143 points, 15 blocks of 10
    points = jax.tree.map(lambda p, u: p[None] + jnp.linspace(-1, 1, 143)[:, None, None].reshape(
        (-1,) + (1,) * p.ndim) * u[None], p0, d1.params)
    out = {}
    for parts in (1, 2, 3):
        monkeypatch.setattr(ls.parallel, "concurrent_calls", lambda n_devices, k=parts: k)
        out[parts] = (sf.slice_2d(loss_fn, p0, data, d1, d2, alphas, betas, method=method,
                                  block_size=10),
                      sf.evaluate_points(loss_fn, points, data, method=method, block_size=10))
    for parts in (2, 3):
        np.testing.assert_array_equal(out[parts][0].values, out[1][0].values)
        assert out[parts][0].center_value == out[1][0].center_value
        np.testing.assert_array_equal(out[parts][1], out[1][1])
    assert out[1][0].values.shape == (13, 11) and out[3][1].shape == (143,)


def test_affine_push_through_equals_the_metric_at_the_point_and_hoists_the_data_products(x64):
    """surface.affine.along: the value of metric(center + c1 u + c2 v) for a metric using both
    sides of a matrix product, a reversed difference, a nested jit, a custom_jvp (relu) and a
    cast to integers; and under vmap over the points no product of the data with the params has
    a point axis."""
    from landscape.surface import affine
    k = jax.random.split(jax.random.key(0), 4)
    x = jax.random.normal(k[0], (6, 3))
    p0, u, v = ({"w": jax.random.normal(kk, (3, 4)), "b": jax.random.normal(kk, (4,)),
                 "o": jax.random.normal(kk, (4, 2))} for kk in k[1:])

    @jax.jit
    def head(h, o):
        return jax.nn.relu(h) @ o

    def metric(p, x):
        h = 1.0 - jnp.tanh(0.5 + x @ p["w"] + p["b"]) + 0.5 * (p["w"].T @ x.T).T
        return jnp.sum(head(h, p["o"]) ** 2) + jnp.sum(p["b"].astype(jnp.int32))

    cs = jnp.array([[0.3, -1.2], [2.0, 0.5], [0.0, 0.0]])
    got = jax.vmap(lambda c: affine.along(metric, p0, (u, v), c, x))(cs)
    want = [metric(jax.tree.map(lambda a, b, d: a + c[0] * b + c[1] * d, p0, u, v), x) for c in cs]
    np.testing.assert_allclose(got, want, rtol=1e-12)
    jaxpr = jax.make_jaxpr(jax.vmap(lambda c: affine.along(metric, p0, (u, v), c, x)))(cs)
    shapes = [e.outvars[0].aval.shape for e in jaxpr.jaxpr.eqns if e.primitive.name == "dot_general"]
    assert (6, 4) in shapes and (3, 6, 4) not in shapes  # x @ w per part, never per point


def test_second_call_with_same_shapes_does_not_recompile(xor32):
    model, loss_fn, data, p0 = xor32
    d1 = sf.random_direction(p0, key=jax.random.key(7))
    grid = np.linspace(-1, 1, 9)
    sf.slice_1d(loss_fn, p0, data, d1, grid, method="batched")
    prog = sf.slices._program("slice", True).top
    size = prog._cache_size()
    sf.slice_1d(loss_fn, p0, data, sf.random_direction(p0, key=jax.random.key(8)), grid + 1,
                method="batched")
    assert prog._cache_size() == size


def test_other_metrics_grad_norm_accuracy_min_eigenvalue(quad, xor32):
    h, lam = quad
    zero = quad_point(np.zeros(7))
    v = quad_point(np.eye(7)[0])
    ts = np.array([-1.0, 0.0, 2.0])
    # on a quadratic the Hessian is H everywhere: the smallest eigenvalue is constant
    s = sf.slice_1d(sf.min_eigenvalue(quad_loss), zero, h, v, ts, block_size=2)
    np.testing.assert_allclose(s.values, lam.min(), atol=EXACT)
    # |grad| at t e_0 is |t H e_0|
    s = sf.slice_1d(sf.grad_norm(quad_loss), zero, h, v, ts)
    np.testing.assert_allclose(s.values, np.abs(ts) * np.linalg.norm(np.asarray(h)[:, 0]), rtol=EXACT)
    # MLP metrics: the point-axis-last forms agree with vmap
    model, loss_fn, data, p0 = xor32
    d = sf.random_direction(p0, key=jax.random.key(9))
    ts = np.linspace(-3, 3, 21)
    for metric in (sf.grad_norm(loss_fn), sf.accuracy(model)):
        a = sf.slice_1d(metric, p0, data, d, ts, method="vmap").values
        b = sf.slice_1d(metric, p0, data, d, ts, method="batched").values
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    acc = sf.slice_1d(sf.accuracy(model), p0, data, d, ts).values
    assert set(np.round(acc * 4).astype(int)) <= {0, 1, 2, 3, 4}


# ------------------------------------------------------------------------------ directions

def test_filter_normalized_norms_equal_unit_norms_where_nonzero(xor32):
    model, _, _, p0 = xor32
    p = [dict(layer) for layer in p0]
    p[0]["w"] = p[0]["w"].at[:, 1].set(0.0)  # unit 1 of the hidden layer has zero weights...
    p[0]["b"] = p[0]["b"].at[1].set(0.0)      # ...and bias: a zero group
    d = sf.random_direction(p, key=jax.random.key(0), normalization="filter")
    got, want = unit_norms(d.params), unit_norms(p)
    nonzero = want > 0
    np.testing.assert_allclose(got[nonzero], want[nonzero], rtol=1e-6)
    rms = np.linalg.norm(flat(p)) / math.sqrt(flat(p).size)
    assert got[1] == pytest.approx(math.sqrt(3) * rms, rel=1e-6)  # 2 weights + 1 bias
    assert d.info["own"] == 3 and d.info["point_rms"] == 1 and d.info["fallback"] == 0
    np.testing.assert_allclose(sf.group_norms(d.params), got, rtol=1e-12)


def test_layer_normalized_norms_equal_layer_norms(xor32):
    model, _, _, p0 = xor32
    d = sf.random_direction(p0, key=jax.random.key(1), normalization="layer")
    for dl, pl in zip(d.params, p0):
        assert np.linalg.norm(flat(dl)) == pytest.approx(np.linalg.norm(flat(pl)), rel=1e-6)
    u = sf.random_direction(p0, key=jax.random.key(1), normalization="unit")
    assert u.norm == pytest.approx(1.0)
    raw = sf.random_direction(p0, key=jax.random.key(1), normalization="none")
    np.testing.assert_allclose(flat(u.params), flat(raw.params) / raw.norm, rtol=1e-6)


@pytest.mark.parametrize("normalization", ["filter", "layer"])
def test_normalized_directions_finite_at_zero_and_constant_points(xor32, normalization):
    model = xor32[0]
    zero = ls.inits.zeros(model)(jax.random.key(0))
    d = sf.random_direction(zero, key=jax.random.key(2), normalization=normalization,
                            fallback_scale=0.1)
    x = flat(d.params)
    assert np.all(np.isfinite(x)) and np.all(x != 0)
    sizes = np.bincount(np.concatenate([np.ravel(i) for i in jax.tree.leaves(sf.group_ids(zero, normalization))]))
    np.testing.assert_allclose(sf.group_norms(d.params, normalization), 0.1 * np.sqrt(sizes), rtol=1e-6)
    assert d.info["fallback"] == d.info["groups"]
    const = ls.inits.constant(model, 0.5)(jax.random.key(0))
    d = sf.random_direction(const, key=jax.random.key(3), normalization=normalization)
    assert np.all(np.isfinite(flat(d.params)))
    np.testing.assert_allclose(sf.group_norms(d.params, normalization),
                               sf.group_norms(const, normalization), rtol=1e-6)
    assert d.info["own"] == d.info["groups"]


def test_zero_biases_option_zeroes_bias_entries(xor32):
    _, _, _, p0 = xor32
    d = sf.random_direction(p0, key=jax.random.key(4), zero_biases=True)
    for layer in d.params:
        assert np.all(np.asarray(layer["b"]) == 0)
    w_norms = np.concatenate([np.linalg.norm(np.asarray(l["w"], np.float64), axis=0) for l in d.params])
    p_norms = np.concatenate([np.linalg.norm(np.asarray(l["w"], np.float64), axis=0) for l in p0])
    np.testing.assert_allclose(w_norms, p_norms, rtol=1e-6)


def test_orthonormalize_gives_orthonormal_pairs():
    rng = np.random.default_rng(2)
    a, b = quad_point(rng.normal(size=7)), quad_point(rng.normal(size=7))
    u, v = sf.orthonormalize(a, b)
    m = np.stack([flat(u.params), flat(v.params)])
    np.testing.assert_allclose(m @ m.T, np.eye(2), atol=EXACT)
    # same span, first direction kept up to scale
    np.testing.assert_allclose(m[0], flat(a) / np.linalg.norm(flat(a)), atol=EXACT)
    proj = m.T @ m
    np.testing.assert_allclose(proj @ flat(b), flat(b), atol=1e-10)
    u2, v2 = sf.orthonormalize(a, b, keep_norms=True)
    assert v2.norm == pytest.approx(np.linalg.norm(flat(b))) and abs(flat(u2.params) @ flat(v2.params)) < 1e-10
    with pytest.raises(ValueError, match="combination of the earlier"):
        sf.orthonormalize(a, jax.tree.map(lambda x: 2 * x, a))


def test_pca_of_planar_trajectory_recovers_plane():
    rng = np.random.default_rng(3)
    basis, _ = np.linalg.qr(rng.normal(size=(7, 2)))
    origin = rng.normal(size=7)
    s = np.linspace(0, 1, 30)
    coords = np.stack([3 * np.cos(2 * s), np.sin(5 * s) + s], axis=1)
    x = origin + coords @ basis.T
    traj = {"a": jnp.asarray(x[:, :2]), "b": [jnp.asarray(x[:, 2:6].reshape(-1, 2, 2)), jnp.asarray(x[:, 6:])]}
    pca = sf.pca_directions(traj, k=2)
    assert pca.explained_variance_ratio.sum() == pytest.approx(1.0, abs=EXACT)
    comps = np.stack([flat(d.params) for d in pca.directions])
    np.testing.assert_allclose(comps.T @ comps, basis @ basis.T, atol=1e-10)  # same plane
    # straight line: one component with all the variance, along the line
    line = {"a": jnp.asarray(np.outer(s, [1.0, 2.0])), "b": [jnp.zeros((30, 2, 2)), jnp.zeros((30, 1))]}
    pca = sf.pca_directions(line, k=1)
    assert pca.explained_variance_ratio[0] == pytest.approx(1.0, abs=EXACT)
    np.testing.assert_allclose(np.abs(flat(pca.directions[0].params)[:2]), np.array([1, 2]) / math.sqrt(5), atol=EXACT)


def test_hessian_directions_match_eigh(quad):
    h, lam = quad
    point = quad_point(np.ones(7))
    _, vecs = np.linalg.eigh(np.asarray(h))
    bottom = sf.hessian_directions(quad_loss, point, h, k=2, which="bottom")
    top = sf.hessian_directions(quad_loss, point, h, k=1, which="top")
    assert [d.info["eigenvalue"] for d in bottom] == pytest.approx(lam[:2])
    assert top[0].info["eigenvalue"] == pytest.approx(lam[-1])
    assert abs(flat(bottom[0].params) @ vecs[:, 0]) == pytest.approx(1.0)
    lz = sf.hessian_directions(quad_loss, point, h, k=1, which="top", method="lanczos",
                               key=jax.random.key(0), n_steps=7)
    assert lz[0].info["eigenvalue"] == pytest.approx(lam[-1], rel=1e-8)
    assert abs(flat(lz[0].params) @ vecs[:, -1]) == pytest.approx(1.0, abs=1e-8)


def test_symmetry_directions_lie_in_their_subspaces():
    model = ls.mlp([2, 3, 1], activation="tanh", output="linear")
    loss_fn = ls.objectives.loss(model, "mse")
    data = ls.datasets.xor(dtype=jnp.float64)
    point = ls.inits.constant(model, 0.3, dtype=jnp.float64)(jax.random.key(0))
    sym = sf.symmetric_descent_direction(loss_fn, point, data, model=model)
    assert sym.norm == pytest.approx(1.0)
    assert np.linalg.norm(flat(symmetry.project_breaking(sym.params, model=model))) < EXACT
    # it is the descent direction within the subspace: <d, -grad> = |P_sym grad|
    g = flat(jax.grad(loss_fn)(point, data))
    assert flat(sym.params) @ -g == pytest.approx(sym.info["symmetric_grad_norm"], rel=1e-10)
    brk = sf.breaking_directions(loss_fn, point, data, model=model, k=2)
    q = np.asarray(symmetry.breaking_basis(model))
    hb = np.asarray(ls.curvature.restricted_hessian(loss_fn, point, data, jnp.asarray(q)))
    assert [d.info["eigenvalue"] for d in brk] == pytest.approx(np.linalg.eigvalsh(hb)[:2], abs=EXACT)
    for d in brk:
        assert np.linalg.norm(flat(symmetry.project_symmetric(d.params, model=model))) < EXACT
    with pytest.raises(ValueError, match="critical in the symmetric subspace"):
        sf.symmetric_descent_direction(loss_fn, point, data, model=model, grad_tol=1e3)


# ------------------------------------------------------------------------------ paths

def double_well(params, data):
    x, _ = ravel_pytree(params)
    return jnp.sum((x**2 - 1.0) ** 2)


def test_barrier_of_double_well_and_convex_profiles(quad):
    a, b = {"x": jnp.array([-1.0])}, {"x": jnp.array([1.0])}
    path = sf.interpolate(double_well, a, b, None, n_points=101)
    assert path.barrier == pytest.approx(1.0, abs=EXACT) and path.t_max == pytest.approx(0.5)
    assert path.start_value == 0.0 and path.end_value == 0.0
    # asymmetric ends: barrier above the higher end
    path = sf.interpolate(double_well, {"x": jnp.array([-1.2])}, b, None, n_points=1001)
    higher = (1.44 - 1.0) ** 2
    assert path.barrier == pytest.approx(1.0 - higher, abs=1e-5)
    # convex profile (a positive definite quadratic): barrier exactly 0
    h = jnp.asarray(np.diag([1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0]))
    rng = np.random.default_rng(4)
    path = sf.interpolate(quad_loss, quad_point(rng.normal(size=7)), quad_point(rng.normal(size=7)), h)
    assert path.barrier == 0.0
    # grid without the ends: the ends still count
    path = sf.interpolate(double_well, a, b, None, ts=[0.25, 0.75])
    assert path.barrier == pytest.approx((0.25 - 1) ** 2, abs=EXACT)


def test_trajectory_in_plane_has_zero_residual_and_values_match():
    rng = np.random.default_rng(5)
    a, b, c = (quad_point(rng.normal(size=7)) for _ in range(3))
    pl = sf.plane_through(a, b, c)
    xa, xb, xc = flat(a), flat(b), flat(c)
    coords, resid = pl.coordinates(jax.tree.map(lambda *x: jnp.stack(x), a, b, c))
    np.testing.assert_allclose(coords, pl.points, atol=1e-10)
    np.testing.assert_allclose(resid, 0, atol=1e-10)
    # a curve inside the plane: residual 0, plane values = true values
    s = np.linspace(0, 1, 20)[:, None]
    x = xa + s * (xb - xa) + np.sin(3 * s) * (xc - xa)
    traj = {"a": jnp.asarray(x[:, :2]), "b": [jnp.asarray(x[:, 2:6].reshape(-1, 2, 2)), jnp.asarray(x[:, 6:])]}
    h = jnp.asarray(np.diag(np.arange(1.0, 8.0)))
    proj = sf.project_trajectory(pl, traj, metric=quad_loss, data=h)
    np.testing.assert_allclose(proj.residual, 0, atol=1e-10)
    np.testing.assert_allclose(proj.plane_values, proj.true_values, rtol=1e-10)
    # off the plane: the residual is the distance to it
    e = np.zeros(7)
    e[0] = 1.0
    normal = e - np.stack([flat(pl.d1.params), flat(pl.d2.params)]).T @ (np.stack([flat(pl.d1.params), flat(pl.d2.params)]) @ e)
    off = {"a": traj["a"] + 0.5 * normal[:2] / np.linalg.norm(normal), "b": traj["b"]}
    off["b"] = [traj["b"][0] + 0.5 * normal[2:6].reshape(2, 2) / np.linalg.norm(normal),
                traj["b"][1] + 0.5 * normal[6:] / np.linalg.norm(normal)]
    np.testing.assert_allclose(sf.project_trajectory(pl, off).residual, 0.5, rtol=1e-10)
    with pytest.raises(ValueError, match="collinear"):
        sf.plane_through(a, b, jax.tree.map(lambda p, q: 2 * q - p, a, b))


# ------------------------------------------------------------------------------ basin map

def two_wells(params, data):
    """(x^2 - 1)^2 + y^2: minima at x = +-1, y = 0; the line x = 0 separates the basins."""
    return (params[0] ** 2 - 1.0) ** 2 + params[1] ** 2


def test_basin_map_of_two_wells():
    center = jnp.zeros(2)
    e1, e2 = jnp.array([1.0, 0.0]), jnp.array([0.0, 1.0])
    alphas = np.array([-1.5, -0.4, 0.3, 1.2])
    betas = np.array([-1.0, 0.5, 1.0])

    def by_sign(params):
        return (np.asarray(params)[:, 0] > 0).astype(np.int64)

    bm = sf.basin_map(two_wells, center, None, e1, e2, alphas, betas, optimizer=optax.sgd(0.05),
                      steps=300, classify=by_sign, label_names=("left", "right"))
    assert bm.labels.shape == (4, 3) and bm.label_names == ("left", "right")
    np.testing.assert_array_equal(bm.labels, np.repeat((alphas > 0)[:, None], 3, axis=1))
    np.testing.assert_allclose(bm.final_loss, 0, atol=1e-8)
    # orthonormal axes: the projected flow is minus the gradient
    a, b = np.meshgrid(alphas, betas, indexing="ij")
    np.testing.assert_allclose(bm.flow[..., 0], -4 * a * (a**2 - 1), rtol=1e-12)
    np.testing.assert_allclose(bm.flow[..., 1], -2 * b, rtol=1e-12)
    np.testing.assert_allclose(bm.start_values, (a**2 - 1) ** 2 + b**2, rtol=1e-12)
    # without classify: final-loss levels; a huge step size blows up and is flagged
    bm2 = sf.basin_map(two_wells, center, None, e1, e2, alphas, betas, optimizer=optax.sgd(5.0),
                       steps=50, chunk_size=5)
    assert bm2.labelled_by == "loss level" and bm2.label_names[-1] == "nonfinite"
    assert np.all((bm2.labels == len(bm2.label_names) - 1) == (bm2.status == 1))
    assert np.any(bm2.status == 1)
    with pytest.raises(ValueError, match="integer labels"):
        sf.basin_map(two_wells, center, None, e1, e2, alphas, betas, optimizer=optax.sgd(0.05),
                     steps=1, classify=lambda p: np.zeros(3, int))


def test_basin_map_on_xor_uses_loss_levels(xor32):
    model, loss_fn, data, p0 = xor32
    d1 = sf.random_direction(p0, key=jax.random.key(11))
    d2 = sf.random_direction(p0, key=jax.random.key(12))
    bm = sf.basin_map(loss_fn, p0, data, d1, d2, np.linspace(-2, 2, 5), np.linspace(-2, 2, 4),
                      optimizer=optax.sgd(1.0), steps=200)
    # the run-axis-last training (auto for an MLP loss) agrees with the generic vmap
    gen = sf.basin_map(loss_fn, p0, data, d1, d2, np.linspace(-2, 2, 5), np.linspace(-2, 2, 4),
                       optimizer=optax.sgd(1.0), steps=200, method="vmap")
    np.testing.assert_allclose(bm.final_loss, gen.final_loss, rtol=TRAIN_F32, atol=TRAIN_F32)
    np.testing.assert_allclose(bm.flow, gen.flow, rtol=TRAIN_F32, atol=TRAIN_F32)
    assert bm.labels.shape == (5, 4) and bm.flow.shape == (5, 4, 2)
    assert bm.labels.max() < len(bm.label_names)
    # labels follow the final loss: a higher label never has a lower loss
    order = np.argsort(bm.labels.ravel(), kind="stable")
    assert np.all(np.diff(bm.labels.ravel()[order]) >= 0)
    for lo in range(bm.labels.max()):
        assert bm.final_loss[bm.labels == lo].max() < bm.final_loss[bm.labels > lo].min()
    assert bm.final_params[0]["w"].shape == (20, 2, 3)


# ------------------------------------------------------------------------------ symmetric view

def gd_trajectory(loss_fn, params, data, lr=1.0, steps=400, record_every=40):
    """Plain gradient descent, params recorded every ``record_every`` steps (leaves ``(T, ...)``).
    (train_many is not used here: this module runs in float64.)"""
    step = jax.jit(lambda p: jax.tree.map(lambda x, g: x - lr * g, p, jax.grad(loss_fn)(p, data)))
    records = [params]
    for i in range(1, steps + 1):
        params = step(params)
        if i % record_every == 0:
            records.append(params)
    return jax.tree.map(lambda *xs: jnp.stack(xs), *records)


def test_symmetric_view_of_xor_constant_start():
    model = ls.mlp([2, 2, 1], activation="sigmoid", output="sigmoid")
    loss_fn = ls.objectives.loss(model, "mse")
    data = ls.datasets.xor(dtype=jnp.float64)
    const = gd_trajectory(loss_fn, ls.inits.constant(model, 0.5, dtype=jnp.float64)(jax.random.key(0)), data)
    starts = [ls.inits.normal(model, 0.5, dtype=jnp.float64)(jax.random.key(i)) for i in range(3)]
    rand = jax.tree.map(lambda *xs: jnp.stack(xs), *[gd_trajectory(loss_fn, s, data) for s in starts])
    view = sf.symmetric_view(loss_fn, None, data, model=model, constant_trajectory=const,
                             random_trajectories=rand, n_points=15)
    eq = jax.tree.map(lambda a: a[-1], const)
    assert view.equilibrium_loss == pytest.approx(float(loss_fn(eq, data)), rel=EXACT)
    assert view.surface.values.shape == (15, 15) and len(view.random) == 3
    m = np.stack([flat(view.plane.d1.params), flat(view.plane.d2.params)])
    np.testing.assert_allclose(m @ m.T, np.eye(2), atol=1e-10)
    # the constant run stays in the symmetric subspace: no breaking coordinate
    np.testing.assert_allclose(view.constant.coords[:, 1], 0, atol=1e-10)
    np.testing.assert_allclose(view.constant.coords[-1], 0, atol=1e-10)
    assert view.symmetric_source == "gradient"
    assert view.breaking_eigenvalue == pytest.approx(
        sf.breaking_directions(loss_fn, eq, data, model=model)[0].info["eigenvalue"])
    # the grid covers every projected trajectory
    for p in (view.constant,) + view.random:
        assert view.surface.alphas[0] <= p.coords[:, 0].min() and p.coords[:, 0].max() <= view.surface.alphas[-1]
        assert view.surface.betas[0] <= p.coords[:, 1].min() and p.coords[:, 1].max() <= view.surface.betas[-1]


# ------------------------------------------------------------------------------ errors

def test_clear_errors_for_bad_grids_shapes_and_options(xor32):
    model, loss_fn, data, p0 = xor32
    d = sf.random_direction(p0, key=jax.random.key(0))
    grid = np.linspace(-1, 1, 3)
    with pytest.raises(ValueError, match="alphas of shape .* must be 1-D"):
        sf.slice_2d(loss_fn, p0, data, d, d, np.zeros((3, 3)), grid)
    with pytest.raises(ValueError, match="betas is empty"):
        sf.slice_2d(loss_fn, p0, data, d, d, grid, [])
    with pytest.raises(ValueError, match="ts must be finite"):
        sf.slice_1d(loss_fn, p0, data, d, [0.0, np.nan])
    with pytest.raises(TypeError, match="ts must hold real numbers"):
        sf.slice_1d(loss_fn, p0, data, d, ["a"])
    with pytest.raises(ValueError, match=r"direction\[0\]\['b'\] has shape \(1,\); params\[0\]\['b'\] has shape \(3,\)"):
        sf.slice_1d(loss_fn, p0, data, jax.tree.map(lambda x: x[..., :1], p0), grid)
    with pytest.raises(ValueError, match=r"d2 is not laid out like params: leaf 2 is no more leaves where params has params\[1\]\['b'\]"):
        sf.slice_2d(loss_fn, p0, data, d, p0[:1], grid, grid)
    with pytest.raises(ValueError, match="must return a scalar"):
        sf.slice_1d(lambda p, x: p[0]["w"], p0, data, d, grid)
    with pytest.raises(ValueError, match="method='bogus'"):
        sf.slice_1d(loss_fn, p0, data, d, grid, method="bogus")
    with pytest.raises(ValueError, match="method='batched' needs"):
        sf.slice_1d(lambda p, x: loss_fn(p, x), p0, data, d, grid, method="batched")
    with pytest.raises(ValueError, match="block_size=0"):
        sf.slice_1d(loss_fn, p0, data, d, grid, block_size=0)
    with pytest.raises(ValueError, match="normalization='filtre'"):
        sf.random_direction(p0, key=jax.random.key(0), normalization="filtre")
    with pytest.raises(TypeError, match="key="):
        sf.random_direction(p0, key=None)
    with pytest.raises(ValueError, match="which='middle'"):
        sf.hessian_directions(loss_fn, p0, data, which="middle")
    with pytest.raises(ValueError, match="origin='first'"):
        sf.pca_directions(jax.tree.map(lambda x: jnp.stack([x, x + 1]), p0), origin="first")
    with pytest.raises(ValueError, match="does not move"):
        sf.pca_directions(jax.tree.map(lambda x: jnp.stack([x, x]), p0))
    with pytest.raises(TypeError, match="optimizer="):
        sf.basin_map(loss_fn, p0, data, d, d, grid, grid, optimizer="sgd", steps=1)
    with pytest.raises(TypeError, match="hashable"):
        sf.slice_1d(_Unhashable(), p0, data, d, grid)
    with pytest.raises(ValueError, match="no symmetry-breaking"):
        sf.breaking_directions(loss_fn, ls.mlp([2, 1, 1]).init(jax.random.key(0)), data,
                               model=ls.mlp([2, 1, 1]))


class _Unhashable:
    __hash__ = None

    def __call__(self, params, data):
        return 0.0


def test_params_of_another_model_are_refused_before_tracing_naming_the_leaf():
    """Issue 15: a 2-3-1 net's params with a 2-2-1 loss used to be evaluated as a 2-3-1 net
    (the MLP's apply reads the shapes from the params); now every entry point taking a toolkit
    metric refuses them, naming the argument and the first mismatching leaf."""
    small, big = ls.mlp([2, 2, 1]), ls.mlp([2, 3, 1])
    loss_fn, data = ls.objectives.loss(small), ls.datasets.xor()
    wrong = ls.inits.normal(big, 1.0)(jax.random.key(0))
    right = ls.inits.normal(small, 1.0)(jax.random.key(0))
    d = sf.random_direction(right, key=jax.random.key(1))
    dw = sf.random_direction(wrong, key=jax.random.key(1))  # laid out like the wrong params
    leaf = r"\[0\]\['w'\] has shape \(2, 3\); expected \(\*batch, 2, 2\)"
    grid = [-1.0, 0.0, 1.0]
    for metric in (loss_fn, sf.grad_norm(loss_fn), sf.accuracy(small),
                   ls.objectives.success(small)):
        with pytest.raises(ValueError, match="center" + leaf):
            sf.slice_1d(metric, wrong, data, dw, grid)
    with pytest.raises(ValueError, match="center" + leaf):
        sf.slice_2d(loss_fn, wrong, data, dw, dw, grid, grid)
    with pytest.raises(ValueError, match="params" + r"\[0\]\['w'\] has shape \(4, 2, 3\)"):
        sf.evaluate_points(loss_fn, jax.tree.map(lambda a: jnp.stack([a] * 4), wrong), data)
    with pytest.raises(ValueError, match="a" + leaf):
        sf.interpolate(loss_fn, wrong, wrong, data)
    with pytest.raises(ValueError, match="center" + leaf):
        sf.basin_map(loss_fn, wrong, data, dw, dw, grid, grid, optimizer=optax.sgd(0.1), steps=2,
                     progress=False)
    # directions of another layout than the params: the leaf, the shape found and expected
    with pytest.raises(ValueError, match=r"d2\[0\]\['b'\] has shape \(3,\); params\[0\]\['b'\] "
                                         r"has shape \(2,\) there"):
        sf.slice_2d(loss_fn, right, data, d, wrong, grid, grid)
    # model= entry points: the unit layout's check, naming the argument
    with pytest.raises(ValueError, match=r"params\[0\]\['b'\] has shape \(3,\); the unit layout"):
        sf.random_direction(wrong, key=jax.random.key(1), model=small)
    with pytest.raises(ValueError, match=r"equilibrium\[0\]\['b'\] has shape \(3,\); the unit"):
        sf.symmetric_view(loss_fn, wrong, data, model=small)
    # the right params still work
    assert sf.slice_1d(loss_fn, right, data, d, grid).values.shape == (3,)

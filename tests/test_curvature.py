"""Tests for landscape.curvature: problems with known answers, batched == looped, jit/vmap, errors."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from jax.flatten_util import ravel_pytree

import landscape as ls
from landscape import curvature as cv
from landscape import status
from landscape.curvature import dispatch

# Float64 round-off on matrices of size ~10-200 built from O(10) entries.
EXACT = 1e-9
# Central differences of gradients with h = 1e-5: truncation ~h^2 * |third derivative| plus
# round-off ~eps / h, both far below this.
FD_TOL = 1e-6
# Lanczos on 200 x 200 with a relative gap >= 0.1 at the ends: 60 steps converge the 3 extreme
# Ritz values far past this (error ~ exp(-2 * 60 * sqrt(gap))).
LANCZOS_TOL = 1e-8
# Hutchinson with Rademacher probes has variance 2 (|A|_F^2 - sum_i A_ii^2) / m; a fixed seed is
# deterministic, and 6 standard deviations leave no room for a borderline seed.
HUTCH_SIGMAS = 6.0
# Newton refinement stops at |grad| <= eps^0.75 ~ 2e-12; the saddle is isolated with curvature
# O(0.1), so the distance to it is below |grad| / 0.1.
REFINE_DIST = 1e-9

LAM = np.array([-3.0, -1.0, 0.0, 0.0, 0.0, 0.5, 2.0, 4.0, 10.0])  # 9 = 3 + 4 + 2 params


pytestmark = pytest.mark.usefixtures("x64")  # float64 module-wide (conftest.py)


def quad_loss(params, a):
    """0.5 x^T A x over the flattened pytree; A is the data."""
    x, _ = ravel_pytree(params)
    return 0.5 * x @ a @ x


def matrix_with_spectrum(lam, seed=0):
    rng = np.random.default_rng(seed)
    u, _ = np.linalg.qr(rng.normal(size=(len(lam), len(lam))))
    return u @ np.diag(lam) @ u.T


def quad_point(values=None):
    """A pytree with 9 float64 leaves-entries (dict of a vector and a list of arrays)."""
    x = np.zeros(9) if values is None else np.asarray(values, float)
    return {"a": jnp.asarray(x[:3]), "b": [jnp.asarray(x[3:7].reshape(2, 2)), jnp.asarray(x[7:])]}


@pytest.fixture(scope="module")
def quad(x64):
    return jnp.asarray(matrix_with_spectrum(LAM))


@pytest.fixture(scope="module")
def net(x64):
    """A tanh 2-3-1 network on random data (float64) and a random point."""
    model = ls.mlp([2, 3, 1], activation="tanh", output="linear")
    rng = np.random.default_rng(1)
    data = ls.datasets.Dataset(jnp.asarray(rng.normal(size=(16, 2))), jnp.asarray(rng.normal(size=(16, 1))))
    loss_fn = ls.objectives.loss(model, "mse")
    params = model.init(jax.random.key(3), dtype=jnp.float64)
    return loss_fn, params, data


def saddle_net(hidden=3):
    """tanh 1-h-1 net without biases at zero weights: a strict saddle with eigenvalues
    +-2|mean(x y)|, h of each sign (H = [[0, cI], [cI, 0]], c = -2 mean(x y))."""
    model = ls.mlp([1, hidden, 1], activation="tanh", output="linear", bias=False)
    rng = np.random.default_rng(2)
    x = rng.normal(size=(8, 1))
    y = 0.7 * x + 0.1 * rng.normal(size=(8, 1))
    data = ls.datasets.Dataset(jnp.asarray(x), jnp.asarray(y))
    params = [{"w": jnp.zeros((1, hidden))}, {"w": jnp.zeros((hidden, 1))}]
    return ls.objectives.loss(model, "mse"), params, data, 2 * abs(float(np.mean(x * y)))


def perturb(params, scale, seed):
    x, unravel = ravel_pytree(params)
    return unravel(x + scale * jax.random.normal(jax.random.key(seed), x.shape, x.dtype))


def stack(points):
    return jax.tree.map(lambda *xs: jnp.stack(xs), *points)


# ------------------------------------------------------------------------------------------
# exact curvature


def test_dense_hessian_and_spectrum_of_quadratic(quad):
    params = quad_point(np.linspace(-1, 1, 9))
    h = cv.hessian(quad_loss, params, quad)
    np.testing.assert_allclose(h, quad, atol=EXACT)
    eig = cv.hessian_eigh(quad_loss, params, quad)
    np.testing.assert_allclose(eig.eigenvalues, LAM, atol=EXACT)
    v = eig.eigenvectors
    np.testing.assert_allclose(quad @ v, v * eig.eigenvalues, atol=EXACT)


def test_hvp_matches_dense_and_finite_differences(net):
    loss_fn, params, data = net
    h = cv.hessian(loss_fn, params, data)
    x, unravel = ravel_pytree(params)
    v = jax.random.normal(jax.random.key(0), x.shape, x.dtype)
    flat = cv.hvp(loss_fn, params, data, v)  # flat vector in, flat out
    tree = cv.hvp(loss_fn, params, data, unravel(v))  # pytree in, pytree out
    np.testing.assert_allclose(flat, h @ v, atol=EXACT)
    np.testing.assert_allclose(ravel_pytree(tree)[0], h @ v, atol=EXACT)
    g = lambda y: ravel_pytree(jax.grad(loss_fn)(unravel(y), data))[0]  # noqa: E731
    step = 1e-5
    fd = (g(x + step * v) - g(x - step * v)) / (2 * step)
    np.testing.assert_allclose(flat, fd, atol=FD_TOL)


# ------------------------------------------------------------------------------------------
# matrix-free


def test_lanczos_full_steps_recovers_whole_spectrum_with_zero_modes(quad):
    # Three zero eigenvalues: the Krylov space breaks down after 7 steps and Lanczos restarts.
    params = quad_point()
    res = cv.lanczos(quad_loss, params, quad, key=jax.random.key(0), n_steps=9)
    basis = np.asarray(res.basis)
    np.testing.assert_allclose(basis @ basis.T, np.eye(9), atol=EXACT)
    t = np.diag(res.alphas) + np.diag(res.betas[:-1], 1) + np.diag(res.betas[:-1], -1)
    np.testing.assert_allclose(np.linalg.eigvalsh(t), LAM, atol=EXACT)
    ext = cv.extreme_eigenpairs(quad_loss, params, quad, k=3, key=jax.random.key(0), n_steps=9)
    np.testing.assert_allclose(ext.largest.values, [10.0, 4.0, 2.0], atol=EXACT)
    np.testing.assert_allclose(ext.smallest.values, [-3.0, -1.0, 0.0], atol=EXACT)
    for pairs in ext:
        y = np.asarray(pairs.vectors)
        np.testing.assert_allclose(quad @ y, y * pairs.values, atol=EXACT)
        np.testing.assert_allclose(pairs.residuals, 0.0, atol=EXACT)


def test_lanczos_extremes_with_few_steps():
    n = 200
    bulk = np.linspace(-1.0, 1.0, n - 6)
    lam = np.concatenate([[-5.0, -4.0, -3.0], bulk, [3.0, 4.0, 5.0]])
    a = jnp.asarray(matrix_with_spectrum(lam, seed=5))
    params = {"w": jnp.zeros((10, 10)), "v": jnp.zeros(100)}
    ext = cv.extreme_eigenpairs(quad_loss, params, a, k=3, key=jax.random.key(1), n_steps=60)
    np.testing.assert_allclose(ext.largest.values, [5.0, 4.0, 3.0], atol=LANCZOS_TOL)
    np.testing.assert_allclose(ext.smallest.values, [-5.0, -4.0, -3.0], atol=LANCZOS_TOL)
    assert np.all(np.asarray(ext.largest.residuals) < 1e-6)


def test_lanczos_matches_dense_on_small_net(net):
    loss_fn, params, data = net
    n = ravel_pytree(params)[0].size
    dense = np.asarray(cv.hessian_eigh(loss_fn, params, data).eigenvalues)
    ext = cv.extreme_eigenpairs(loss_fn, params, data, k=4, key=jax.random.key(0), n_steps=n)
    np.testing.assert_allclose(ext.largest.values, dense[::-1][:4], atol=EXACT)
    np.testing.assert_allclose(ext.smallest.values, dense[:4], atol=EXACT)


def test_hutchpp_is_exact_when_the_sketch_covers_the_rank(quad):
    # n_probes // 3 = 10 >= 9 = n: the sketch spans the whole space.
    est = cv.hessian_trace(quad_loss, quad_point(), quad, key=jax.random.key(0), n_probes=30)
    np.testing.assert_allclose(est.estimate, LAM.sum(), atol=EXACT)


def test_hutchinson_within_its_standard_deviation(quad):
    m = 400
    est = cv.hessian_trace(quad_loss, quad_point(), quad, key=jax.random.key(0), n_probes=m,
                           method="hutchinson")
    a = np.asarray(quad)
    sd = np.sqrt(2 * (np.sum(a**2) - np.sum(np.diag(a) ** 2)) / m)
    assert abs(float(est.estimate) - LAM.sum()) < HUTCH_SIGMAS * sd
    assert 0.5 * sd < float(est.stderr) < 2 * sd  # the reported error is the right size


def test_slq_weights_and_moments(quad):
    n = 9
    # Probes e_1..e_n: the average of e_i^T A^p e_i is trace(A^p) / n exactly.
    sd = cv.spectral_density(quad_loss, quad_point(), quad, key=jax.random.key(0),
                             n_steps=5, probes=jnp.eye(n))
    w, t = np.asarray(sd.weights), np.asarray(sd.nodes)
    assert w.shape == t.shape == (n, 5) and np.all(w >= 0)
    np.testing.assert_allclose(w.sum(), 1.0, atol=EXACT)
    np.testing.assert_allclose((w * t).sum(), LAM.sum() / n, atol=EXACT)
    np.testing.assert_allclose((w * t**2).sum(), (LAM**2).sum() / n, atol=EXACT)
    # Gaussian broadening on a wide grid integrates to 1 and keeps the mean.
    grid = jnp.linspace(-8.0, 15.0, 4001)
    dens = cv.gaussian_density(sd.nodes, sd.weights, grid, sigma=0.3)
    dx = float(grid[1] - grid[0])
    np.testing.assert_allclose(float(jnp.sum(dens) * dx), 1.0, atol=1e-6)
    np.testing.assert_allclose(float(jnp.sum(dens * grid) * dx), LAM.sum() / n, atol=1e-6)
    # Random probes (same shapes, no recompilation): the quadrature is exact per probe for
    # polynomial degree < 2 * n_steps.
    probes = jax.random.normal(jax.random.key(1), (n, n))
    sd = cv.spectral_density(quad_loss, quad_point(), quad, key=jax.random.key(0),
                             n_steps=5, probes=probes)
    p = np.asarray(probes) / np.linalg.norm(probes, axis=1, keepdims=True)
    a = np.asarray(quad)
    for power in (0, 1, 2, 5, 9):
        expected = np.mean(np.einsum("pi,ij,pj->p", p, np.linalg.matrix_power(a, power), p))
        np.testing.assert_allclose((sd.weights * sd.nodes**power).sum(), expected, rtol=EXACT)


# ------------------------------------------------------------------------------------------
# blocks


def test_restricted_hessian_identity_columns_and_random_basis(net):
    loss_fn, params, data = net
    h = np.asarray(cv.hessian(loss_fn, params, data))
    n = h.shape[0]
    idx = [1, 4, 5, 12]
    q = jnp.eye(n)[:, idx]
    np.testing.assert_allclose(cv.restricted_hessian(loss_fn, params, data, q), h[np.ix_(idx, idx)], atol=EXACT)
    q, _ = jnp.linalg.qr(jax.random.normal(jax.random.key(0), (n, 3)))
    np.testing.assert_allclose(cv.restricted_hessian(loss_fn, params, data, q), q.T @ h @ q, atol=EXACT)


def test_layer_hessians_are_diagonal_blocks(net, quad):
    loss_fn, params, data = net
    h = np.asarray(cv.hessian(loss_fn, params, data))
    blocks = cv.layer_hessians(loss_fn, params, data)
    slices = cv.block_slices(params)
    assert isinstance(blocks, list) and len(blocks) == 2
    for block, s in zip(blocks, slices):
        np.testing.assert_allclose(block, h[s, s], atol=EXACT)
    # dict at the top level: blocks keyed like the params
    qp = quad_point(np.arange(9.0))
    blocks, slices = cv.layer_hessians(quad_loss, qp, quad), cv.block_slices(qp)
    assert set(blocks) == {"a", "b"} and slices["a"] == slice(0, 3) and slices["b"] == slice(3, 9)
    for name in blocks:
        np.testing.assert_allclose(blocks[name], np.asarray(quad)[slices[name], slices[name]], atol=EXACT)


# ------------------------------------------------------------------------------------------
# critical points


def test_network_strict_saddle_has_the_right_index():
    loss_fn, params, data, c = saddle_net(hidden=3)
    cp = cv.classify(loss_fn, params, data)
    assert status.POINT[int(cp.label)] == "saddle"
    assert (int(cp.index), int(cp.n_zero), int(cp.n_positive)) == (3, 0, 3)
    np.testing.assert_allclose(cp.eigenvalues, [-c] * 3 + [c] * 3, atol=EXACT)
    assert float(cv.index_fraction(cp)) == 0.5


def test_quadratic_labels_follow_the_spectrum():
    cases = {
        "saddle": [-3, -1, 0, 0, 0, 0.5, 2, 4, 10],  # zero modes do not hide a negative one
        "degenerate": [0, 0, 1, 1, 2, 2, 3, 3, 4],  # PSD with zero modes: never "minimum"
        "minimum": [1, 1, 1, 2, 2, 2, 3, 3, 4],
        "maximum": [-1, -1, -1, -2, -2, -2, -3, -3, -4],
        "plateau": [0] * 9,
    }
    for name, lam in cases.items():
        cp = cv.classify(quad_loss, quad_point(), jnp.asarray(matrix_with_spectrum(lam)))
        assert status.POINT[int(cp.label)] == name, name
        assert int(cp.n_negative) == sum(x < 0 for x in lam) and int(cp.n_zero) == lam.count(0)
    # The same point away from the critical point is not critical, whatever its spectrum.
    cp = cv.classify(quad_loss, quad_point(np.ones(9)), jnp.asarray(matrix_with_spectrum(cases["minimum"])))
    assert status.POINT[int(cp.label)] == "not_critical" and float(cp.grad_norm) > 1


def test_zero_tolerance_has_a_floor_and_separates_rounding_from_unresolved():
    grad = jnp.zeros(())
    for scale in (1e-6, 1.0, 1e6):  # the verdict does not depend on the units of the loss
        res = cv.classify_spectrum(scale * jnp.array([0.0, 0.5, 1.0]), grad)
        assert (status.POINT[int(res.label)], int(res.n_zero)) == ("degenerate", 1)
        # nonzero, far above rounding, but below sqrt(eps) of the spectrum: not vouched for
        res = cv.classify_spectrum(scale * jnp.array([1e-12, 0.5, 1.0]), grad)
        assert (status.POINT[int(res.label)], int(res.n_zero)) == ("unresolved", 1)
        res = cv.classify_spectrum(scale * jnp.array([-1e-3, 0.5, 1.0]), grad)
        assert (status.POINT[int(res.label)], int(res.n_negative)) == ("saddle", 1)
    # the floor is absolute, not only relative to max|lam|: a spectrum that is tiny next to the
    # loss is flat (the old rule called this a saddle of index 1)
    res = cv.classify_spectrum(jnp.array([-1e-10, 1e-9]), grad, loss=0.25)
    assert status.POINT[int(res.label)] == "plateau"
    assert float(res.zero_tol) >= np.sqrt(np.finfo(np.float64).eps) * 0.25
    # the same spectrum at a loss of 0 (a zero-loss minimum): resolved
    res = cv.classify_spectrum(jnp.array([-1e-10, 1e-9]), grad)
    assert status.POINT[int(res.label)] == "saddle"


# ------------------------------------------------------------------------------------------
# known answers with default settings, float32 and float64


def shifted_quad(params, d):
    """``scale * (c + 0.5 (x - x0)^T A (x - x0))``: critical at ``x0`` (gradient exactly zero)
    with Hessian ``scale * A`` and a nonzero loss."""
    x, _ = ravel_pytree(params)
    r = x - d["x0"]
    return d["scale"] * (d["c"] + 0.5 * r @ d["a"] @ r)


def shifted_data(lam, dtype, scale=1.0, c=1.0, seed=0):
    n = len(lam)
    x0 = np.linspace(-1.0, 2.0, n)
    data = {"a": matrix_with_spectrum(lam, seed), "x0": x0, "c": c, "scale": scale}
    return jax.tree.map(lambda v: jnp.asarray(v, dtype), data), jnp.asarray(x0, dtype)


KNOWN_SPECTRA = {  # expected (label, n_negative, n_zero)
    "minimum": ([1, 1.5, 2, 3, 4, 5, 6], ("minimum", 0, 0)),
    "saddle index 1": ([-1, 1.5, 2, 3, 4, 5, 6], ("saddle", 1, 0)),
    "saddle index 3": ([-3, -2, -0.5, 1, 4, 5, 6], ("saddle", 3, 0)),
    "saddle with zero modes": ([-3, 0, 0, 1, 4, 5, 6], ("saddle", 1, 2)),
    "maximum": ([-1, -1.5, -2, -3, -4, -5, -6], ("maximum", 7, 0)),
    "degenerate, 1 zero mode": ([0, 1.5, 2, 3, 4, 5, 6], ("degenerate", 0, 1)),
    "degenerate, 3 zero modes": ([0, 0, 0, 3, 4, 5, 6], ("degenerate", 0, 3)),
    "flat": ([0] * 7, ("plateau", 0, 7)),
}


@pytest.mark.parametrize("dtype", [jnp.float32, jnp.float64])
def test_known_spectra_in_both_dtypes_at_every_scale(dtype):
    for scale in (1e-6, 1e-3, 1.0, 1e3):
        for name, (lam, (label, neg, zero)) in KNOWN_SPECTRA.items():
            data, x0 = shifted_data(lam, dtype, scale=scale)
            cp = cv.classify(shifted_quad, x0, data)
            got = (status.POINT[int(cp.label)], int(cp.n_negative), int(cp.n_zero))
            assert got == (label, neg, zero), (name, scale, dtype)
            assert cp.zero_tol.dtype == dtype and float(cp.grad_tol) > 0


def test_same_point_same_label_in_both_dtypes_wherever_both_resolve_it():
    # smallest eigenvalue 1e-5 of a spectrum of size 5 at loss 1: float64 resolves it (a
    # minimum); float32's floor (~3e-4 of the loss scale) does not. The old rule called it a
    # minimum in float64 and "degenerate" (a claim of a zero mode) in float32.
    lam = [1e-5, 1, 2, 3, 4, 5]
    labels = {}
    for dtype in (jnp.float32, jnp.float64):
        data, x0 = shifted_data(lam, dtype)
        labels[dtype] = status.POINT[int(cv.classify(shifted_quad, x0, data).label)]
    assert labels == {jnp.float64: "minimum", jnp.float32: "unresolved"}
    # resolved in both: the same label
    for lam, expect in (([0.05, 1, 2, 3, 4, 5], "minimum"), ([-0.05, 1, 2, 3, 4, 5], "saddle")):
        for dtype in (jnp.float32, jnp.float64):
            data, x0 = shifted_data(lam, dtype)
            assert status.POINT[int(cv.classify(shifted_quad, x0, data).label)] == expect


XOR_MODEL = ls.mlp([2, 2, 1])  # logistic hidden and output units


def saturated_xor(w, dtype):
    """Every hidden unit saturated (all weights and biases ``w``), the output at ``sigmoid(w)``:
    loss 0.5, gradient and every curvature ~ sigmoid'(w) (tiny), none of them a true zero."""
    params = [{"w": jnp.full((2, 2), w, dtype), "b": jnp.full((2,), w, dtype)},
              {"w": jnp.full((2, 1), w / 3, dtype), "b": jnp.full((1,), w / 3, dtype)}]
    data = jax.tree.map(lambda a: a.astype(dtype), ls.datasets.xor())
    return ls.objectives.loss(XOR_MODEL, "mse"), params, data


@pytest.mark.parametrize("dtype", [jnp.float32, jnp.float64])
def test_saturated_plateau_is_a_plateau_in_both_dtypes(dtype):
    loss_fn, params, data = saturated_xor(25.0, dtype)
    cp = cv.classify(loss_fn, params, data)
    assert status.POINT[int(cp.label)] == "plateau" and int(cp.n_zero) == 9
    assert abs(float(cp.loss) - 0.5) < 1e-6
    # less saturated, with a gradient ~1e-4 and curvatures up to ~1e-4 that are not zero: the
    # census' tolerance makes it critical, and it is flat, not a saddle of index 1 (old rule)
    loss_fn, params, data = saturated_xor(10.0, dtype)
    cp = cv.classify(loss_fn, params, data, grad_tol=1e-4)
    assert 1e-5 < float(cp.grad_norm) < 1e-4 and float(jnp.max(jnp.abs(cp.eigenvalues))) > 1e-5
    assert status.POINT[int(cp.label)] == "plateau"
    if dtype == jnp.float32:  # at w = 12 float32's own precision calls it critical and flat
        loss_fn, params, data = saturated_xor(12.0, dtype)
        cp = cv.classify(loss_fn, params, data)
        assert float(cp.grad_norm) > 0 and status.POINT[int(cp.label)] == "plateau"


def xor_constant_end(dtype, steps=4000):
    """XOR 2-2-1 logistic from the constant start 0.5 after ``steps`` of SGD(0.5): inside the
    symmetric subspace, heading for a trap at infinity (no finite critical point there)."""
    loss_fn = ls.objectives.loss(XOR_MODEL, "mse")
    data = jax.tree.map(lambda a: a.astype(dtype), ls.datasets.xor())
    params = jax.tree.map(lambda a: a.astype(dtype), ls.inits.constant(XOR_MODEL, 0.5)(jax.random.key(0)))
    grad = jax.jit(jax.grad(loss_fn))
    params = jax.lax.fori_loop(0, steps, lambda i, p: jax.tree.map(lambda a, g: a - 0.5 * g, p, grad(p, data)),
                               params)
    return loss_fn, params, data


@pytest.mark.parametrize("dtype", [jnp.float32, jnp.float64])
def test_xor_constant_start_end_point_is_never_a_minimum(dtype):
    loss_fn, params, data = xor_constant_end(dtype)
    for grad_tol in (None, 1e-2):  # the default, and a census-like tolerance
        cp = cv.classify(loss_fn, params, data, grad_tol=grad_tol)
        assert status.POINT[int(cp.label)] not in ("minimum", "degenerate"), grad_tol
    cp = cv.classify(loss_fn, params, data, grad_tol=1e-2)
    assert status.POINT[int(cp.label)] == "unresolved"  # not flat, not resolved either


def test_every_option_changes_the_result():
    # grad_tol: a point 1e-4 from a minimum (gradient ~1e-4) is critical only when asked
    data, x0 = shifted_data(KNOWN_SPECTRA["minimum"][0], jnp.float64)
    near = x0 + 1e-4 / np.sqrt(7)
    assert status.POINT[int(cv.classify(shifted_quad, near, data).label)] == "not_critical"
    assert status.POINT[int(cv.classify(shifted_quad, near, data, grad_tol=1e-3).label)] == "minimum"
    # rtol: a large relative tolerance swallows the smallest eigenvalue
    data, x0 = shifted_data([0.01, 1, 2, 3, 4, 5], jnp.float64)
    assert status.POINT[int(cv.classify(shifted_quad, x0, data).label)] == "minimum"
    cp = cv.classify(shifted_quad, x0, data, rtol=0.01)
    assert status.POINT[int(cp.label)] == "unresolved" and float(cp.zero_tol) >= 0.05
    # atol: replaces the floor (atol=0 turns the saturated plateau into a resolved spectrum)
    cp = cv.classify(shifted_quad, x0, data, atol=0.2)
    assert status.POINT[int(cp.label)] == "unresolved"
    loss_fn, params, sat = saturated_xor(10.0, jnp.float64)
    assert status.POINT[int(cv.classify(loss_fn, params, sat, grad_tol=1e-4).label)] == "plateau"
    cp = cv.classify(loss_fn, params, sat, grad_tol=1e-4, atol=0.0)
    assert status.POINT[int(cp.label)] != "plateau" and int(cp.n_negative) > 0
    # classify_spectrum's loss and param_scale feed the floor
    lam, g = jnp.array([-1e-9, 1e-8]), jnp.asarray(0.0)  # floor sqrt(eps) loss / s^2
    assert status.POINT[int(cv.classify_spectrum(lam, g).label)] == "saddle"
    assert status.POINT[int(cv.classify_spectrum(lam, g, loss=1.0).label)] == "plateau"
    assert status.POINT[int(cv.classify_spectrum(lam, g, loss=1.0, param_scale=1e3).label)] == "saddle"


def _label_set(dtype, scale):
    """Labels of a fixed set of points under the loss ``scale * loss``."""
    out = []
    for name, (lam, _) in KNOWN_SPECTRA.items():
        data, x0 = shifted_data(lam, dtype, scale=scale)
        out.append(int(cv.classify(shifted_quad, x0, data).label))
    for make, args in ((saturated_xor, (25.0, dtype)), (saturated_xor, (10.0, dtype)),
                       (xor_constant_end, (dtype, 1000))):
        loss_fn, params, data = make(*args)
        scaled = lambda p, d, f=loss_fn: scale * f(p, d)  # noqa: E731
        for grad_tol in (None, 1e-4, 1e-2):
            gt = None if grad_tol is None else grad_tol * scale
            out.append(int(cv.classify(scaled, params, data, grad_tol=gt).label))
    return out


@pytest.mark.parametrize("dtype", [jnp.float32, jnp.float64])
def test_rescaling_the_loss_changes_no_label(dtype):
    base = _label_set(dtype, 1.0)
    assert len(set(base)) >= 5  # the set covers many labels
    for scale in (1e-3, 1e3):
        assert _label_set(dtype, scale) == base, scale


def test_thresholds_are_reported_and_follow_the_documented_formula():
    data, x0 = shifted_data([0.5, 1, 2, 3, 4, 5], jnp.float64, c=0.3)
    near = x0 + 1e-3
    cp = cv.classify(shifted_quad, near, data)
    eps = np.finfo(np.float64).eps
    x = np.asarray(near)
    s = np.sqrt(np.sum(x**2) / x.size + 1)
    g, loss, lam_max = float(cp.grad_norm), float(cp.loss), float(np.max(np.abs(cp.eigenvalues)))
    ell = abs(loss) + s * g + 0.5 * s**2 * lam_max
    np.testing.assert_allclose(float(cp.param_scale), s, rtol=1e-12)
    np.testing.assert_allclose(float(cp.loss_scale), ell, rtol=1e-12)
    np.testing.assert_allclose(float(cp.grad_tol), np.sqrt(eps) * ell / s, rtol=1e-12)
    floor = np.sqrt(eps) * (abs(loss) + s * g) / s**2 + np.sqrt(g * ell / s**3)
    np.testing.assert_allclose(float(cp.zero_tol), np.sqrt(eps) * lam_max + floor, rtol=1e-12)
    assert 0 < float(cp.round_tol) <= float(cp.zero_tol)
    cp = cv.classify(shifted_quad, near, data, grad_tol=0.5, rtol=0.1, atol=0.01)
    assert float(cp.grad_tol) == 0.5 and np.isclose(float(cp.zero_tol), 0.1 * lam_max + 0.01)
    res = cv.classify_spectrum(jnp.zeros((4, 3)), jnp.zeros(4), loss=jnp.arange(4.0))
    assert res.zero_tol.shape == (4,) and res.grad_tol.shape == (4,)
    assert [status.POINT[i] for i in res.label.tolist()] == ["plateau"] * 4


def test_degenerate_network_point_and_the_lower_point_search():
    # 1-1-1 linear net, one pattern x = y = 1, weights (1, 1): a global minimum on the
    # rescaling curve w1 w2 = 1, with H = [[2, 2], [2, 2]] (eigenvalues 0 and 4).
    model = ls.mlp([1, 1, 1], activation="linear", output="linear", bias=False)
    data = ls.datasets.Dataset(jnp.ones((1, 1)), jnp.ones((1, 1)))
    loss_fn = ls.objectives.loss(model, "mse")
    params = [{"w": jnp.ones((1, 1))}, {"w": jnp.ones((1, 1))}]
    cp = cv.classify(loss_fn, params, data)
    assert status.POINT[int(cp.label)] == "degenerate"
    assert not bool(cv.search_lower(loss_fn, params, data, key=jax.random.key(0)).found_lower)

    # Three degenerate points at the origin, one compiled search (the weights pick the function):
    # Peano's (y - x^2)(y - 2x^2) has a local minimum on every line but descends along
    # y = 1.5 x^2; x^2 + y^3 descends along -y; x^2 + y^4 is a true (degenerate) minimum.
    def family(p, w):
        x, y = p["x"], p["y"]
        return w @ jnp.stack([(y - x**2) * (y - 2 * x**2), x**2 + y**3, x**2 + y**4])

    origin = {"x": jnp.zeros(()), "y": jnp.zeros(())}
    expect = {"peano": True, "cubic": True, "quartic": False}
    for i, (name, lower) in enumerate(expect.items()):
        w = jnp.eye(3)[i]
        assert status.POINT[int(cv.classify(family, origin, w).label)] == "degenerate"
        found = cv.search_lower(family, origin, w, key=jax.random.key(0), n_starts=0)
        assert bool(found.found_lower) == lower, name
        assert float(found.best_distance) <= 0.1 + EXACT
    # the descent part alone also escapes Peano's point
    found = cv.search_lower(family, origin, jnp.eye(3)[0], key=jax.random.key(0), n_directions=0)
    assert bool(found.found_lower)


def test_refine_reaches_a_network_saddle():
    loss_fn, params, data, _ = saddle_net(hidden=3)
    starts = stack([perturb(params, 0.05, seed) for seed in range(4)])
    out = cv.refine_batched(loss_fn, starts, data)
    assert np.all(np.asarray(out.converged))
    assert np.max(np.abs(ravel_pytree(out.params)[0])) < REFINE_DIST
    cp = cv.classify_batched(loss_fn, out.params, data)
    assert np.all(np.asarray(cp.label) == status.POINT.code("saddle")) and np.all(np.asarray(cp.index) == 3)
    # gradient descent on the loss from the same start leaves the saddle instead
    descend = lambda _, p: jax.tree.map(lambda w, g: w - 0.5 * g, p, jax.grad(loss_fn)(p, data))  # noqa: E731
    x = jax.jit(lambda p: jax.lax.fori_loop(0, 200, descend, p))(perturb(params, 0.05, 0))
    assert float(loss_fn(x, data)) < float(loss_fn(params, data)) - 0.1


def test_refine_gradnorm_reaches_a_quadratic_saddle():
    a = jnp.diag(jnp.array([1.0, -2.0]))
    params = {"x": jnp.array([0.3]), "y": jnp.array([-0.2])}
    out = cv.refine(quad_loss, params, a, method="gradnorm", optimizer=optax.sgd(0.2),
                    max_steps=500, tol=1e-10)
    assert bool(out.converged) and float(out.grad_norm) <= 1e-10
    assert int(cv.classify(quad_loss, out.params, a).label) == status.POINT.code("saddle")


def cliff_loss(params, a):
    """quad_loss where x[0] < 1.5, NaN beyond: a finite start that a step can push into NaN."""
    x, _ = ravel_pytree(params)
    return jnp.where(x[0] < 1.5, 0.5 * x @ a @ x, jnp.nan)


def test_refine_stops_at_nan_and_reports_not_converged():
    a = jnp.eye(2)
    start = jnp.array([1.0, 1.0])
    # gradnorm with a negative learning rate doubles x: the first step lands in the NaN region
    out = cv.refine(cliff_loss, start, a, method="gradnorm", optimizer=optax.sgd(-1.0), max_steps=50)
    assert not bool(out.converged) and int(out.n_steps) == 1
    np.testing.assert_array_equal(out.params, start)  # the last finite point, not NaN
    assert np.isfinite(float(out.loss)) and np.isfinite(float(out.grad_norm))
    # a loss that is NaN everywhere: both methods stop at once, not converged, params kept
    nan_loss = lambda p, a: jnp.nan * jnp.sum(p**2)  # noqa: E731
    for method in ("newton", "gradnorm"):
        out = cv.refine(nan_loss, start, a, method=method)
        assert not bool(out.converged) and int(out.n_steps) == 0, method
        np.testing.assert_array_equal(out.params, start)
    # an infinite gradient at the start: stopped at once as well
    root = lambda p, a: jnp.sum(jnp.sqrt(jnp.abs(p)))  # noqa: E731
    for method in ("newton", "gradnorm"):
        out = cv.refine(root, jnp.zeros(2), a, method=method)
        assert not bool(out.converged) and int(out.n_steps) == 0, method


# ------------------------------------------------------------------------------------------
# batched == looped, jit, vmap, compilation


def test_batched_results_equal_per_point_results(net):
    loss_fn, params, data = net
    points = [perturb(params, 0.3, seed) for seed in range(3)]
    batch = stack(points)
    key = jax.random.key(7)
    cls = cv.classify_batched(loss_fn, batch, data)
    eig = cv.hessian_eigh_batched(loss_fn, batch, data, block_size=2)  # blocks of 2, 1 point
    ext = cv.extreme_eigenpairs_batched(loss_fn, batch, data, k=2, key=key, n_steps=8)
    for i, p in enumerate(points):
        one = cv.classify(loss_fn, p, data)
        for a, b in zip(one, cls):
            np.testing.assert_allclose(b[i], a, atol=EXACT)
        np.testing.assert_allclose(eig.eigenvalues[i], cv.hessian_eigh(loss_fn, p, data).eigenvalues, atol=EXACT)
        k_i = jax.random.fold_in(key, i)  # point i's key, documented
        e1 = cv.extreme_eigenpairs(loss_fn, p, data, k=2, key=k_i, n_steps=8)
        np.testing.assert_allclose(ext.largest.values[i], e1.largest.values, atol=EXACT)
        np.testing.assert_allclose(ext.smallest.values[i], e1.smallest.values, atol=EXACT)


def test_every_batched_function_on_a_quadratic_batch(quad):
    # The Hessian is A at every point, so each row has a known answer.
    batch = stack([quad_point(np.full(9, v)) for v in (0.0, 0.5, -1.0)])
    key = jax.random.key(0)
    a = np.asarray(quad)
    np.testing.assert_allclose(cv.hessian_batched(quad_loss, batch, quad), np.stack([a] * 3), atol=EXACT)
    res = cv.lanczos_batched(quad_loss, batch, quad, key=key, n_steps=9)
    for al, be in zip(res.alphas, res.betas):
        t = np.diag(al) + np.diag(be[:-1], 1) + np.diag(be[:-1], -1)
        np.testing.assert_allclose(np.linalg.eigvalsh(t), LAM, atol=EXACT)
    tr = cv.hessian_trace_batched(quad_loss, batch, quad, key=key, n_probes=30)
    np.testing.assert_allclose(tr.estimate, [LAM.sum()] * 3, atol=EXACT)
    sd = cv.spectral_density_batched(quad_loss, batch, quad, key=key, n_steps=3,
                                     probes=jnp.stack([jnp.eye(9)] * 3))
    np.testing.assert_allclose(jnp.sum(sd.weights * sd.nodes**2, axis=(1, 2)), [(LAM**2).mean()] * 3, atol=EXACT)
    q = jnp.eye(9)[:, [0, 4, 8]]
    np.testing.assert_allclose(cv.restricted_hessian_batched(quad_loss, batch, quad, q),
                               np.stack([a[np.ix_([0, 4, 8], [0, 4, 8])]] * 3), atol=EXACT)
    blocks = cv.layer_hessians_batched(quad_loss, batch, quad)
    np.testing.assert_allclose(blocks["b"], np.stack([a[3:, 3:]] * 3), atol=EXACT)
    # the strict saddle at the origin (row 0) has lower points nearby
    found = cv.search_lower_batched(quad_loss, batch, quad, key=key, n_directions=8, n_starts=2,
                                    n_steps=10)
    assert bool(found.found_lower[0]) and np.all(np.asarray(found.best_loss) < np.asarray(found.loss))


def test_functions_work_under_jit_and_vmap(net):
    loss_fn, params, data = net
    batch = stack([perturb(params, 0.3, seed) for seed in range(3)])
    x = ravel_pytree(params)[0]
    v = jnp.ones_like(x)
    jitted = jax.jit(lambda p, d: cv.classify(loss_fn, p, d))(params, data)
    np.testing.assert_allclose(jitted.eigenvalues, cv.classify(loss_fn, params, data).eigenvalues, atol=EXACT)
    vm = jax.vmap(lambda p: cv.hessian_eigh(loss_fn, p, data).eigenvalues)(batch)
    eig = cv.hessian_eigh_batched(loss_fn, batch, data, block_size=2)  # compiled by the test above
    np.testing.assert_allclose(vm, eig.eigenvalues, atol=EXACT)
    vm = jax.vmap(lambda p: cv.hvp(loss_fn, p, data, v))(batch)
    np.testing.assert_allclose(vm, cv.hvp_batched(loss_fn, batch, data, jnp.tile(v, (3, 1))), atol=EXACT)
    key = jax.random.key(0)
    lz = jax.jit(lambda p: cv.lanczos(loss_fn, p, data, key=key, n_steps=5).alphas)(params)
    np.testing.assert_allclose(lz, cv.lanczos(loss_fn, params, data, key=key, n_steps=5).alphas, atol=EXACT)


def test_second_call_does_not_recompile(net):
    loss_fn, params, data = net
    cv.classify(loss_fn, params, data)
    size = dispatch._run_one._cache_size()
    cv.classify(loss_fn, perturb(params, 0.1, 0), data, grad_tol=1e-3)  # new values, same shapes
    assert dispatch._run_one._cache_size() == size


def test_float32_xor_batch():
    model = ls.mlp([2, 2, 1])
    loss_fn = ls.objectives.loss(model, "mse")
    batch = jax.vmap(model.init)(jax.random.split(jax.random.key(0), 64))
    cp = cv.classify_batched(loss_fn, batch, ls.datasets.xor())
    assert cp.eigenvalues.shape == (64, 9) and cp.eigenvalues.dtype == jnp.float32
    assert np.all(np.asarray(cp.label) == status.POINT.code("not_critical"))  # random points are not critical


# ------------------------------------------------------------------------------------------
# argument checks


def _bad_calls(loss_fn, params, data):
    key = jax.random.key(0)
    n = ravel_pytree(params)[0].size
    batch = stack([params, params])
    return [
        (lambda: cv.lanczos(loss_fn, params, data, key=key, n_steps=n + 1), ValueError, f"n_steps={n + 1}"),
        (lambda: cv.lanczos(loss_fn, params, data, key=key, n_steps=2.5), TypeError, "n_steps"),
        (lambda: cv.extreme_eigenpairs(loss_fn, params, data, k=0, key=key), ValueError, "k=0"),
        (lambda: cv.extreme_eigenpairs(loss_fn, params, data, k=5, key=key, n_steps=4), ValueError, "k=5"),
        (lambda: cv.extreme_eigenpairs(loss_fn, params, data, k=2, key=None), TypeError, "key=None"),
        (lambda: cv.extreme_eigenpairs(loss_fn, params, data, k=2, key=-1), ValueError, "key=-1"),
        (lambda: cv.extreme_eigenpairs(loss_fn, params, data, k=2, key="0"), TypeError, "key='0'"),
        (lambda: cv.hessian_trace(loss_fn, params, data, key=key, method="hutch"), ValueError, "method='hutch'"),
        (lambda: cv.hessian_trace(loss_fn, params, data, key=key, n_probes=2), ValueError, "n_probes=2"),
        (lambda: cv.spectral_density(loss_fn, params, data, key=key, probes=jnp.ones((3, 5))), ValueError, "probes"),
        (lambda: cv.spectral_density(loss_fn, params, data, key=key, n_probes=3, probes=jnp.ones((3, n))),
         ValueError, "n_probes=3 conflicts"),
        (lambda: cv.lanczos(loss_fn, params, data, key=key, n_steps=None), TypeError, "n_steps=None"),
        (lambda: cv.restricted_hessian(loss_fn, params, data, jnp.ones((n, 2))), ValueError, "orthonormal"),
        (lambda: cv.restricted_hessian(loss_fn, params, data, jnp.eye(n - 1)), ValueError, "basis of shape"),
        (lambda: cv.classify(loss_fn, params, data, rtol=-1.0), ValueError, "rtol=-1.0"),
        (lambda: cv.classify(loss_fn, params, data, grad_tol="a"), TypeError, "grad_tol"),
        (lambda: cv.classify(loss_fn, params, data, atol=-1e-3), ValueError, "atol=-0.001"),
        (lambda: cv.classify_spectrum(jnp.ones(3), jnp.zeros(()), param_scale=0.0), ValueError, "param_scale=0.0"),
        (lambda: cv.classify_spectrum(jnp.ones(3), jnp.zeros(()), loss=jnp.zeros(2)), ValueError, "loss"),
        (lambda: cv.classify_batched(loss_fn, params, data), ValueError, "leading batch axis"),
        (lambda: cv.classify_batched(loss_fn, batch, data, block_size=0), ValueError, "block_size=0"),
        (lambda: cv.refine(loss_fn, params, data, method="adam"), ValueError, "method='adam'"),
        (lambda: cv.refine(loss_fn, params, data, method="gradnorm", optimizer="sgd"), TypeError, "optimizer"),
        (lambda: cv.refine(loss_fn, params, data, max_steps=0), ValueError, "max_steps=0"),
        (lambda: cv.search_lower(loss_fn, params, data, key=key, radius=0.0), ValueError, "radius=0.0"),
        (lambda: cv.hvp(loss_fn, params, data, jnp.ones(n + 1)), ValueError, "flat vector"),
        (lambda: cv.hessian("not callable", params, data), TypeError, "loss_fn"),
        (lambda: cv.hessian(loss_fn, [{"w": jnp.ones(3, jnp.int32)}], data), TypeError, "floating"),
        (lambda: cv.gaussian_density(jnp.ones(3), jnp.ones(3), jnp.ones(5), sigma=0), ValueError, "sigma=0"),
    ]


def test_argument_errors_name_the_argument(net):
    for call, exc, match in _bad_calls(*net):
        with pytest.raises(exc, match=match.replace("(", r"\(").replace(".", r"\.").replace("'", "'")):
            call()


def test_params_of_another_model_are_refused_before_tracing():
    """Issue 15: params of a 2-3-1 net with the loss of a 2-2-1 net, or a batch where one
    point is expected (and the reverse), give a one-line error naming the leaf."""
    small, big = ls.mlp([2, 2, 1]), ls.mlp([2, 3, 1])
    loss, data = ls.objectives.loss(small), ls.datasets.xor()
    wrong = ls.inits.zeros(big)(jax.random.key(0))
    for f in (cv.hessian, cv.hessian_eigh, cv.classify):
        with pytest.raises(ValueError, match=r"params\[0\]\['w'\] has shape \(2, 3\).*\[2, 2, 1\]"):
            f(loss, wrong, data)
    one = ls.inits.normal(small, 1.0)(jax.random.key(0))
    two = jax.tree.map(lambda a: jnp.stack([a, a]), one)
    with pytest.raises(ValueError, match="must be 1 leading batch axis"):
        cv.hessian_batched(loss, one, data)
    with pytest.raises(ValueError, match="must be one network"):
        cv.hessian(loss, two, data)
    with pytest.raises(ValueError, match="do not fit"):
        cv.hvp(loss, wrong, data, wrong)

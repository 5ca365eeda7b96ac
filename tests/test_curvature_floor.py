"""classify's zero floor at a census-level gradient: a known answer on a Flax NNX regression
net (the floor is the gradient term, and every label it gives is a true claim)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import landscape as ls
from landscape import curvature, status

import frameworks


def _nnx_regression_points():
    """An NNX 1-4-1 tanh net fitting 2 sin(2x) (MSE + 1e-3 |x|^2, so critical points are
    isolated), 2 runs of gradient descent stopped at |grad| in (1e-3, 1e-2), float64: the NNX
    loss, the approximate points and the data."""
    pytest.importorskip("flax")
    from flax import nnx
    model = ls.mlp([1, 4, 1], activation="tanh", output="linear")
    x = jnp.linspace(-2.0, 2.0, 16)[:, None]
    data = ls.datasets.Dataset(x, 2.0 * jnp.sin(2.0 * x))

    def decay(p):
        return 1e-3 * sum(jnp.sum(a ** 2) for a in jax.tree.leaves(p))

    def mlp_loss(p, d):
        return jnp.mean((model.apply(p, d.x) - d.y) ** 2) + decay(p)

    def descend(p):
        step = lambda q, _: (jax.tree.map(lambda a, b: a - 0.02 * b, q,  # noqa: E731
                                          jax.grad(mlp_loss)(q, data)), None)
        return jax.lax.scan(step, p, None, length=12000)[0]
    starts = jax.vmap(lambda k: jax.tree.map(lambda a: 0.7 * a, model.init(k, dtype=jnp.float64)))(
        jax.random.split(jax.random.key(0), 2))
    net, state, _ = frameworks.convert("nnx", model, jax.jit(jax.vmap(descend))(starts))
    graph, _ = nnx.split(net, nnx.Param)

    def nnx_loss(q, d):
        return jnp.mean((nnx.merge(graph, q)(d.x) - d.y) ** 2) + decay(q)
    return nnx_loss, state, data


@pytest.mark.usefixtures("x64")
def test_zero_floor_at_a_census_gradient_is_the_gradient_term_and_claims_nothing_false():
    loss_fn, points, data = _nnx_regression_points()
    near = curvature.classify_batched(loss_fn, points, data, grad_tol=0.01)
    g, ell, s = (np.asarray(near.grad_norm), np.asarray(near.loss_scale),
                 np.asarray(near.param_scale))
    assert np.all((g > 1e-3) & (g < 1e-2))
    # the floor is the gradient term sqrt(g ell / s^3): the other two terms are at most
    # sqrt(eps) (lam_max + ell / s^2) <= 3 sqrt(eps) ell / s^2, ~2e-5 of it in float64
    rest = 3 * np.sqrt(np.finfo(np.float64).eps) * ell / s ** 2
    np.testing.assert_allclose(near.zero_tol, np.sqrt(g * ell / s ** 3), rtol=0, atol=rest.max())
    assert np.all(np.asarray(near.zero_tol) > 0.1)
    # the critical point Newton finds next to each point: a saddle of index 2
    refined = curvature.refine_batched(loss_fn, points, data, max_steps=200)
    assert np.all(np.asarray(refined.converged))
    sharp = curvature.classify_batched(loss_fn, refined.params, data)
    assert [status.POINT[i] for i in sharp.label.tolist()] == ["saddle"] * 2
    assert sharp.n_negative.tolist() == [2] * 2 and float(np.max(sharp.zero_tol)) < 1e-4
    # at the approximate points: no false claim (unresolved: the negative modes, about -0.03,
    # lie within the floor), and every eigenvalue beyond the floor has the sign it has at the
    # critical point
    assert [status.POINT[i] for i in near.label.tolist()] == ["unresolved"] * 2
    lam, lam_true = np.asarray(near.eigenvalues), np.asarray(sharp.eigenvalues)
    beyond = np.abs(lam) > np.asarray(near.zero_tol)[:, None]
    assert np.all(np.sign(lam[beyond]) == np.sign(lam_true[beyond]))
    assert np.all(lam[:, :2] < 0) and np.all(lam[:, :2] > -np.asarray(near.zero_tol)[:, None])

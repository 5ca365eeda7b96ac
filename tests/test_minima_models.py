"""minima on any model: Equinox, Flax linen and NNX networks holding the same weights as an
ls.mlp give the same canonical forms and cluster labels; ReLU rescaled copies merge."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import landscape as ls
from landscape import minima as mn
from landscape import units

from frameworks import KINDS, convert

pytest.importorskip("equinox")
pytest.importorskip("flax")


def _dtype_ctx(x64: bool):
    return jax.enable_x64(x64) if hasattr(jax, "enable_x64") else _Config(x64)


class _Config:
    def __init__(self, on):
        self.on = on

    def __enter__(self):
        self.old = jax.config.jax_enable_x64
        jax.config.update("jax_enable_x64", self.on)

    def __exit__(self, *exc):
        jax.config.update("jax_enable_x64", self.old)


@pytest.fixture(scope="module")
def xor_runs():
    """64 XOR end points of a 2-2-1 sigmoid net, trained with ls.mlp (float32)."""
    model = ls.mlp([2, 2, 1], activation="sigmoid", output="sigmoid")
    loss_fn, data = ls.objectives.loss(model, "mse"), ls.datasets.xor()
    r = ls.train_many(loss_fn, ls.inits.normal(model, 1.0), optax.sgd(2.0), data,
                      key=jax.random.key(0), n_runs=64, steps=1500, progress=False)
    return model, r


def _spec_and_params(kind, model, params):
    net, p, _ = convert(kind, model, params)
    if kind == "linen":
        one = jax.tree.map(lambda a: a[0], p)
        return units.layout(net, one, activation=model.activation), net, p
    return net, net, p


def _flat_canonical(spec_model, p):
    return mn.flat_centered(p, model=spec_model)


@pytest.mark.parametrize("x64", [False, True])
def test_canonical_forms_and_clusters_agree_across_frameworks(xor_runs, x64):
    model, r = xor_runs
    with _dtype_ctx(x64):
        dtype = jnp.float64 if x64 else jnp.float32
        params = jax.tree.map(lambda a: jnp.asarray(a, dtype), r.params)
        ref = mn.flat_centered(params, model=model)
        loss = np.asarray(r.final_loss, np.float64)
        x = ls.datasets.xor().x
        base = mn.cluster_runs(params, model=model, loss=loss, x=x,
                               options=mn.ClusterOptions(space="param", seed=0))
        fbase = mn.cluster_runs(params, model=model, loss=loss, x=x)
        for kind in KINDS[1:]:
            spec_model, net, p = _spec_and_params(kind, model, params)
            # the flat vectors run in each framework's leaf order: compare sorted per run
            got = _flat_canonical(spec_model, p)
            np.testing.assert_array_equal(np.sort(got, axis=1), np.sort(ref, axis=1))
            # a custom linen module does not say its activation: it comes as a UnitLayout
            apply = net.apply if kind == "linen" else None
            c = mn.cluster_runs(p, model=spec_model, loss=loss, x=x,
                                options=mn.ClusterOptions(space="param", seed=0))
            np.testing.assert_array_equal(c.labels, base.labels)
            assert c.n_clusters == base.n_clusters
            f = mn.cluster_runs(p, model=spec_model, loss=loss, x=x, apply=apply)  # apply from the model
            np.testing.assert_array_equal(f.labels, fbase.labels)


def test_census_on_equinox_matches_ls_mlp(xor_runs):
    model, r = xor_runs
    loss_fn, data = ls.objectives.loss(model, "mse"), ls.datasets.xor()
    net, p, apply = convert("equinox", model, r.params)

    def eqx_loss(q, d):  # loss and gradient norms are passed in: not evaluated here
        return jnp.mean((apply(q, d.x) - d.y) ** 2)

    cen = mn.census(eqx_loss, p, data, model=net, classify=False, grad_tol=0.01,
                    loss=np.asarray(r.final_loss), grad_norm=np.asarray(r.grad_norm))
    base = mn.census(loss_fn, r.params, data, model=model, classify=False, grad_tol=0.01,
                     loss=np.asarray(r.final_loss), grad_norm=np.asarray(r.grad_norm))
    assert base.clusters
    np.testing.assert_array_equal(cen.labels, base.labels)
    assert cen.structure.dead is None and cen.clusters[0].structure["dead"] == -1
    np.testing.assert_array_equal(cen.structure.duplicate_pairs, base.structure.duplicate_pairs)


def test_a_unit_layout_needs_apply_in_function_space(xor_runs):
    model, r = xor_runs
    spec = units.layout(model)
    x = ls.datasets.xor().x
    with pytest.raises(ValueError, match="apply="):
        mn.function_outputs(r.params, x, model=spec)
    out = mn.function_outputs(r.params, x, model=spec, apply=model.apply)
    np.testing.assert_array_equal(out, mn.function_outputs(r.params, x, model=model))


def test_wrong_params_are_refused_before_tracing():
    model = ls.mlp([2, 3, 1], activation="tanh")
    bad = ls.mlp([2, 4, 1], activation="tanh").init(jax.random.key(0))
    with pytest.raises(ValueError, match="unit layout expects"):
        mn.canonicalize(bad, model=units.layout(model))


@pytest.mark.parametrize("x64", [False, True])
@pytest.mark.parametrize("sizes", [[2, 3, 1], [3, 4, 3, 2]])
def test_relu_rescaled_and_permuted_copies_merge(sizes, x64):
    with _dtype_ctx(x64):
        model = ls.mlp(sizes, activation="relu", output="linear")
        spec = units.layout(model)
        base = jax.vmap(model.init)(jax.random.split(jax.random.key(0), 2))  # two networks
        n_copies = 8
        copies = []
        for i in range(2):
            one = jax.tree.map(lambda a: a[i], base)
            keys = jax.random.split(jax.random.key(10 + i), 2 * len(spec.hidden_sizes))
            scales = [jnp.exp(jax.random.normal(keys[2 * h], (n_copies, w)))
                      for h, w in enumerate(spec.hidden_sizes)]
            perms = [jax.vmap(lambda k: jax.random.permutation(k, w))(
                jax.random.split(keys[2 * h + 1], n_copies)) for h, w in enumerate(spec.hidden_sizes)]
            copies.append(units.permute(spec, units.rescale(spec, one, scales), perms))
        runs = jax.tree.map(lambda *a: jnp.concatenate(a), *copies)  # 16 runs, 2 networks
        x = ls.datasets.xor().x if sizes[0] == 2 else jax.random.normal(jax.random.key(3), (8, 3))
        np.testing.assert_allclose(mn.function_outputs(runs, x, model=model)[:n_copies],
                                   np.broadcast_to(mn.function_outputs(runs, x, model=model)[:1],
                                                   (n_copies,) + (x.shape[0], sizes[-1])),
                                   rtol=10 * float(jnp.finfo(runs[0]["w"].dtype).eps) ** 0.5)
        for mode in ("canonical", "orbit", "align"):
            if mode == "orbit" and sizes[1:-1] == [4, 3]:
                continue
            d = mn.param_distances(runs, model=model, symmetry=mode)
            scale = np.max(np.abs(mn.flat_centered(runs, model=model)))
            eps = float(jnp.finfo(runs[0]["w"].dtype).eps)
            # within a network: distance 0 to float rounding (a few operations per entry)
            same = np.kron(np.eye(2), np.ones((n_copies, n_copies))).astype(bool)
            assert d[same].max() <= 100 * eps * scale * d.shape[0], mode
            assert d[~same].min() > 0.1 * scale, mode  # genuinely different networks stay apart
        plain = mn.param_distances(runs, model=model, symmetry="none")
        assert plain[0, 1:n_copies].min() > 0.01  # the copies really differ as raw params
        c = mn.cluster_runs(runs, model=model, loss=np.r_[np.zeros(n_copies), np.zeros(n_copies)],
                            options=mn.ClusterOptions(space="param", symmetry="canonical"))
        assert c.n_clusters == 2
        np.testing.assert_array_equal(c.labels, np.repeat([0, 1], n_copies) if c.labels[0] == 0
                                      else np.repeat([1, 0], n_copies))
        canon = mn.canonicalize(runs, model=model)
        again = mn.canonicalize(canon, model=model)
        for a, b in zip(jax.tree.leaves(again), jax.tree.leaves(canon)):
            np.testing.assert_array_equal(a, b)  # idempotent, bit for bit


def test_relu_normalization_keeps_the_function():
    model = ls.mlp([2, 5, 1], activation="relu", output="linear")
    p = model.init(jax.random.key(4))
    x = ls.datasets.xor().x
    q = mn.normalized_params(p, model=model)
    np.testing.assert_allclose(model.apply(q, x), model.apply(p, x), rtol=1e-5, atol=1e-6)
    v = units.unit_features(units.layout(model), q, 0)[:, :3]
    np.testing.assert_allclose(np.linalg.norm(v, axis=-1), 1.0, rtol=1e-6)

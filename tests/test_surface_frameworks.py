"""landscape.surface on any model: filter/layer groups from the unit layout (ls.mlp, Equinox,
Flax linen and NNX holding the same weights give the same groups, norms and random directions,
float32 and float64; CNNs get one filter per output channel), ambiguous pytrees refused, slices
and basin maps of Flax/Equinox losses, and the symmetry directions of any model."""

import contextlib

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import landscape as ls
from landscape import surface as sf
from landscape import units

eqx = pytest.importorskip("equinox")
linen = pytest.importorskip("flax.linen")
pytest.importorskip("flax.nnx")

from frameworks import KINDS, convert  # noqa: E402  (tests/ is on sys.path: pytest prepends it)

# Per-point jitted calls vs one vmapped program over the grid, float32: the same formula, a few
# ulps of losses O(0.1-1). Float64: the same, at float64 ulps.
LOOP_TOL = {jnp.float32: 2e-6, jnp.float64: 1e-12}


@contextlib.contextmanager
def precision(dtype):
    """Float64 inside for ``jnp.float64`` (restored after); float32 as is."""
    with jax.enable_x64(dtype == jnp.float64):
        yield


def mlp_params(model, dtype, seed=0):
    return jax.tree.map(lambda a: a.astype(dtype), ls.inits.normal(model, 1.0)(jax.random.key(seed)))


def leaves_equal(a, b):
    la, lb = jax.tree.leaves(a), jax.tree.leaves(b)
    assert jax.tree.structure(a) == jax.tree.structure(b)
    for x, y in zip(la, lb):
        np.testing.assert_array_equal(np.asarray(x), np.asarray(y))


MLPS = [([3, 5, 1], "tanh"), ([3, 4, 4, 2], "sigmoid")]  # equal widths: equinox's nn.MLP


# ------------------------------------------------------------------------------ groups


@pytest.mark.parametrize("dtype", [jnp.float32, jnp.float64])
@pytest.mark.parametrize("sizes, act", MLPS)
@pytest.mark.parametrize("kind", KINDS)
def test_same_weights_give_the_same_groups_norms_and_direction_in_every_framework(kind, sizes, act, dtype):
    with precision(dtype):
        model = ls.mlp(sizes, activation=act)
        p = mlp_params(model, dtype)
        net, q, _ = convert(kind, model, p)
        for grouping in ("filter", "layer"):
            want = sf.group_norms(p, grouping, model=model)
            assert want.shape == ((sum(sizes[1:]),) if grouping == "filter" else (len(sizes) - 1,))
            # bit for bit: the groups are summed in the same (canonical) order in every framework
            np.testing.assert_array_equal(sf.group_norms(q, grouping, model=net), want)
            ids = sf.group_ids(p, grouping, model=model)
            leaves_equal(sf.group_ids(q, grouping, model=net), convert(kind, model, ids)[1])
            for zero_biases in (False, True):
                d = sf.random_direction(p, key=jax.random.key(3), normalization=grouping, model=model,
                                        zero_biases=zero_biases)
                e = sf.random_direction(q, key=jax.random.key(3), normalization=grouping, model=net,
                                        zero_biases=zero_biases)
                leaves_equal(e.params, convert(kind, model, d.params)[1])
                assert e.info == d.info
        for normalization in ("unit", "none"):
            d = sf.random_direction(p, key=jax.random.key(4), normalization=normalization, model=model)
            e = sf.random_direction(q, key=jax.random.key(4), normalization=normalization, model=net)
            leaves_equal(e.params, convert(kind, model, d.params)[1])


def test_equinox_3_5_1_gets_6_filters_with_the_units_norms_and_2_layers():
    model = ls.mlp([3, 5, 1], activation="tanh")
    p = mlp_params(model, jnp.float32)
    net, q, _ = convert("equinox", model, p)
    norms = sf.group_norms(q, model=net)
    w0, b0, w1, b1 = (np.asarray(a, np.float64) for a in (q.layers[0].weight, q.layers[0].bias,
                                                         q.layers[1].weight, q.layers[1].bias))
    unit = np.sqrt(np.concatenate([np.sum(w0**2, axis=1) + b0**2, np.sum(w1**2, axis=1) + b1**2]))
    np.testing.assert_array_equal(norms, unit)  # (out, in): a unit's weights are a row
    layers = sf.group_norms(q, "layer", model=net)
    np.testing.assert_array_equal(layers, [np.sqrt(np.sum(w0**2) + np.sum(b0**2)),
                                           np.sqrt(np.sum(w1**2) + np.sum(b1**2))])
    d = sf.random_direction(q, key=jax.random.key(0), model=net)
    np.testing.assert_allclose(sf.group_norms(d.params, model=net), unit, rtol=1e-6)  # float32 draws


def test_without_model_ls_and_flax_params_keep_their_groups_and_equinox_is_refused():
    model = ls.mlp([3, 4, 4, 2], activation="tanh")
    p = mlp_params(model, jnp.float32)
    for grouping in ("filter", "layer"):
        np.testing.assert_array_equal(sf.group_norms(p, grouping), sf.group_norms(p, grouping, model=model))
        _, variables, _ = convert("linen", model, p)  # one top-level entry "params"; widths 4, 4, 2
        np.testing.assert_array_equal(sf.group_norms(variables, grouping), sf.group_norms(p, grouping))
    leaves_equal(sf.random_direction(p, key=jax.random.key(1)).params,
                 sf.random_direction(p, key=jax.random.key(1), model=model).params)
    _, q, _ = convert("equinox", model, p)
    for call in (lambda: sf.group_norms(q), lambda: sf.random_direction(q, key=jax.random.key(0)),
                 lambda: sf.random_direction(q, key=jax.random.key(0), normalization="layer")):
        with pytest.raises(ValueError, match=r"leaf \.layers\[0\]\.weight .*pass model=") as err:
            call()
        assert "\n" not in str(err.value)
    # unit/none need no groups: no model needed
    sf.random_direction(q, key=jax.random.key(0), normalization="unit")


def test_an_unreadable_pytree_with_matrices_is_refused_and_vectors_need_no_model():
    with pytest.raises(ValueError, match=r"\['dec'\]\['M'\].*pass model=") as err:
        sf.group_norms({"enc": {"M": jnp.ones((3, 2))}, "dec": {"M": jnp.ones((1, 3))}})
    assert "\n" not in str(err.value)
    vec = {"a": jnp.ones(2), "b": [jnp.ones(3), jnp.ones(1)]}  # no filters: one group per leaf
    np.testing.assert_allclose(sf.group_norms(vec), np.sqrt([2.0, 3.0, 1.0]))
    np.testing.assert_allclose(sf.group_norms(vec, "layer"), np.sqrt([2.0, 4.0]))
    params = {"enc": {"M": jnp.ones((3, 2))}, "dec": {"M": jnp.ones((1, 3))}}
    spec = units.declare(params, [units.Layer("['enc']['M']", None, unit_axis=0, input_axis=1),
                                  units.Layer("['dec']['M']", None, unit_axis=0, input_axis=1)],
                         activation="tanh")
    np.testing.assert_allclose(sf.group_norms(params, model=spec), np.sqrt([2.0, 2.0, 2.0, 3.0]))


# ------------------------------------------------------------------------------ CNNs


class LinenCNN(linen.Module):
    @linen.compact
    def __call__(self, x):  # x: (batch, 6, 6, 2)
        x = jnp.tanh(linen.Conv(4, (3, 3), padding="VALID")(x))
        x = jnp.tanh(linen.Conv(3, (3, 3), padding="VALID")(x))
        return linen.Dense(2)(x.reshape(x.shape[:-3] + (-1,)))


class EqxCNN(eqx.Module):
    c0: eqx.nn.Conv2d
    c1: eqx.nn.Conv2d
    out: eqx.nn.Linear

    def __init__(self, key):
        k = jax.random.split(key, 3)
        self.c0 = eqx.nn.Conv2d(2, 4, 3, key=k[0])
        self.c1 = eqx.nn.Conv2d(4, 3, 3, key=k[1])
        self.out = eqx.nn.Linear(3 * 2 * 2, 2, key=k[2])

    def __call__(self, x):  # x: (2, 6, 6)
        h = jnp.tanh(self.c1(jnp.tanh(self.c0(x))))
        return self.out(h.reshape(-1))


def flax_to_equinox(variables, net):
    """The Flax CNN's weights in the Equinox CNN: kernels (kh, kw, in, out) -> (out, in, kh, kw);
    the dense layer reads (H, W, C) flattened in Flax, (C, H, W) in Equinox."""
    v = variables["params"]
    conv = lambda k: jnp.transpose(k, (3, 2, 0, 1))  # noqa: E731
    dense = v["Dense_0"]["kernel"].reshape(2, 2, 3, 2).transpose(3, 2, 0, 1).reshape(2, 12)
    arrays = eqx.filter(net, eqx.is_inexact_array)
    for where, value in ((lambda m: m.c0.weight, conv(v["Conv_0"]["kernel"])),
                         (lambda m: m.c0.bias, v["Conv_0"]["bias"].reshape(4, 1, 1)),
                         (lambda m: m.c1.weight, conv(v["Conv_1"]["kernel"])),
                         (lambda m: m.c1.bias, v["Conv_1"]["bias"].reshape(3, 1, 1)),
                         (lambda m: m.out.weight, dense), (lambda m: m.out.bias, v["Dense_0"]["bias"])):
        arrays = eqx.tree_at(where, arrays, value)
    return arrays


@pytest.mark.parametrize("dtype", [jnp.float32, jnp.float64])
def test_cnns_get_one_filter_per_output_channel_and_agree_across_frameworks(dtype):
    with precision(dtype):
        fnet = LinenCNN()
        x = jax.random.normal(jax.random.key(1), (5, 6, 6, 2), dtype)
        variables = jax.tree.map(lambda a: a.astype(dtype), fnet.init(jax.random.key(0), x))
        enet = EqxCNN(jax.random.key(0))
        arrays = flax_to_equinox(variables, enet)
        static = eqx.filter(enet, eqx.is_inexact_array, inverse=True)
        out_e = jax.vmap(eqx.combine(arrays, static))(jnp.moveaxis(x, -1, 1))
        np.testing.assert_allclose(out_e, fnet.apply(variables, x), rtol=1e-4 if dtype == jnp.float32 else 1e-10,
                                   atol=1e-5 if dtype == jnp.float32 else 1e-12)  # conv sum order
        spec = units.layout(fnet, variables, activation="tanh")
        v = variables["params"]
        want = []
        for name in ("Conv_0", "Conv_1", "Dense_0"):
            k, b = (np.asarray(v[name][n], np.float64) for n in ("kernel", "bias"))
            want.append(np.sqrt(np.sum(k**2, axis=tuple(range(k.ndim - 1))) + b**2))
        want = np.concatenate(want)
        assert want.shape == (4 + 3 + 2,)
        np.testing.assert_array_equal(sf.group_norms(variables, model=spec), want)
        np.testing.assert_array_equal(sf.group_norms(variables, model=fnet), want)
        np.testing.assert_array_equal(sf.group_norms(variables), want)  # Flax kernels: readable
        np.testing.assert_array_equal(sf.group_norms(arrays, model=enet), want)
        for grouping in ("filter", "layer"):
            d = sf.random_direction(variables, key=jax.random.key(2), normalization=grouping, model=fnet)
            e = sf.random_direction(arrays, key=jax.random.key(2), normalization=grouping, model=enet)
            leaves_equal(e.params, flax_to_equinox(d.params, enet))


@pytest.mark.parametrize("dtype", [jnp.float32, jnp.float64])
def test_slice_2d_of_a_flax_cnn_equals_a_loop_over_the_grid(dtype):
    with precision(dtype):
        net = LinenCNN()
        x = jax.random.normal(jax.random.key(1), (5, 6, 6, 2), dtype)
        y = jax.random.normal(jax.random.key(2), (5, 2), dtype)
        center = jax.tree.map(lambda a: a.astype(dtype), net.init(jax.random.key(0), x))

        def loss(params, data):
            return jnp.mean((net.apply(params, data[0]) - data[1]) ** 2)

        d1 = sf.random_direction(center, key=jax.random.key(3), model=net)
        d2 = sf.random_direction(center, key=jax.random.key(4), model=net)
        alphas, betas = np.linspace(-1, 1, 5), np.linspace(-0.5, 1.0, 4)
        s = sf.slice_2d(loss, center, (x, y), d1, d2, alphas, betas)
        one = jax.jit(loss)
        loop = np.array([[float(one(jax.tree.map(lambda c, u, v: c + a * u + b * v, center, d1.params,
                                                  d2.params), (x, y))) for b in betas] for a in alphas])
        np.testing.assert_allclose(s.values, loop, rtol=LOOP_TOL[dtype], atol=LOOP_TOL[dtype])


def test_basin_map_of_an_equinox_loss_equals_training_each_point():
    model = ls.mlp([2, 2, 1], activation="tanh")
    _, arrays, apply = convert("equinox", model, mlp_params(model, jnp.float32))
    data = ls.datasets.xor()

    def loss(p, d):
        return jnp.mean((apply(p, d.x) - d.y) ** 2)

    net = convert("equinox", model, mlp_params(model, jnp.float32))[0]
    d1 = sf.random_direction(arrays, key=jax.random.key(1), model=net)
    d2 = sf.random_direction(arrays, key=jax.random.key(2), model=net)
    alphas, betas = np.linspace(-1, 1, 3), np.array([0.0, 0.5])
    bm = sf.basin_map(loss, arrays, data, d1, d2, alphas, betas, optimizer=optax.sgd(0.5), steps=20)
    assert bm.labels.shape == (3, 2) and bm.labelled_by == "loss level"
    opt = optax.sgd(0.5)
    step = jax.jit(lambda p, s: (lambda g: (optax.apply_updates(p, opt.update(g, s)[0]), s))(
        jax.grad(loss)(p, data)))
    for i, a in enumerate(alphas):
        for j, b in enumerate(betas):
            p = jax.tree.map(lambda c, u, v: c + a * u + b * v, arrays, d1.params, d2.params)
            np.testing.assert_allclose(bm.start_values[i, j], loss(p, data), rtol=1e-6)
            s = opt.init(p)
            for _ in range(20):
                p, s = step(p, s)
            # 20 float32 SGD steps by two differently vectorized programs: rounding only
            np.testing.assert_allclose(bm.final_loss[i, j], loss(p, data), rtol=1e-4, atol=1e-6)


# ------------------------------------------------------------------------------ symmetry directions

@pytest.mark.parametrize("kind", ["equinox", "linen", "nnx"])
def test_symmetry_directions_and_view_agree_with_ls_mlp(kind, x64):
    model = ls.mlp([2, 3, 1], activation="tanh", output="linear")
    p = ls.inits.constant(model, 0.5)(jax.random.key(0))
    p = jax.tree.map(lambda a: a.astype(jnp.float64) + 0.0, p)
    data = ls.datasets.xor()
    data = type(data)(jnp.asarray(data.x, jnp.float64), jnp.asarray(data.y, jnp.float64))
    net, q, apply = convert(kind, model, p)
    spec = units.layout(net, q, activation="tanh") if kind == "linen" else net

    def loss(params, d):
        return jnp.mean((apply(params, d.x) - d.y) ** 2)

    ref_loss = ls.objectives.loss(model, "mse")
    sym_ref = sf.symmetric_descent_direction(ref_loss, p, data, model=model)
    sym = sf.symmetric_descent_direction(loss, q, data, model=spec)
    for want, got in zip(jax.tree.leaves(convert(kind, model, sym_ref.params)[1]),
                         jax.tree.leaves(sym.params)):
        np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-12)
    (brk_ref,) = sf.breaking_directions(ref_loss, p, data, model=model)
    (brk,) = sf.breaking_directions(loss, q, data, model=spec)
    assert brk.info["eigenvalue"] == pytest.approx(brk_ref.info["eigenvalue"], rel=1e-9, abs=1e-12)
    view = sf.symmetric_view(loss, q, data, model=spec, n_points=3)
    assert view.surface.values.shape == (3, 3)


def test_symmetry_directions_refuse_a_batch_and_mismatched_params():
    model = ls.mlp([2, 3, 1])
    data = ls.datasets.xor()
    loss = ls.objectives.loss(model)
    batch = jax.vmap(model.init)(jax.random.split(jax.random.key(0), 2))
    with pytest.raises(ValueError, match="batch axes"):
        sf.breaking_directions(loss, batch, data, model=model)
    other = ls.mlp([2, 2, 1]).init(jax.random.key(0))
    with pytest.raises(ValueError, match="the unit layout expects"):
        sf.symmetric_descent_direction(loss, other, data, model=model)


# ------------------------------------------------------------------------------ the fast path


def rounding_tol(dtype, n_terms):
    """Float tolerance from the dtype: ``eps`` times the number of terms summed in a loss (the
    products of one layer's dot and the mean over samples), the bound on reordered sums."""
    return float(jnp.finfo(dtype).eps) * n_terms


@pytest.mark.parametrize("dtype", [jnp.float32, jnp.float64])
@pytest.mark.parametrize("kind", ("ls.mlp", "equinox", "linen"))
def test_slice_of_a_wide_net_equals_per_point_evaluation_in_every_framework(kind, dtype):
    """A net past the toy sizes (20-16-1 on 64 samples: method='auto' takes the vmap form, grid
    points as matrix rows, in blocks) gives each grid point's per-point jitted loss."""
    with precision(dtype):
        sizes, n = [20, 16, 1], 64
        model = ls.mlp(sizes, activation="tanh", output="linear")
        p = mlp_params(model, dtype)
        net, center, apply = convert(kind, model, p)
        x = jax.random.normal(jax.random.key(1), (n, sizes[0]), dtype)
        y = jax.random.normal(jax.random.key(2), (n, 1), dtype)
        loss = ls.objectives.loss(model, "mse") if kind == "ls.mlp" else \
            (lambda q, data: jnp.mean((apply(q, data[0]) - data[1]) ** 2))
        d1 = sf.random_direction(center, key=jax.random.key(3), model=net)
        d2 = sf.random_direction(center, key=jax.random.key(4), model=net)
        alphas, betas = np.linspace(-1, 1, 7), np.linspace(-0.5, 1.0, 5)
        one = jax.jit(loss)
        loop = np.array([[float(one(jax.tree.map(lambda c, u, v: c + a * u + b * v, center,
                                                 d1.params, d2.params), (x, y)))
                          for b in betas] for a in alphas])
        tol = rounding_tol(dtype, sum(sizes) + n)
        methods = ("auto", "batched") if kind == "ls.mlp" else ("auto",)
        for method in methods:
            s = sf.slice_2d(loss, center, (x, y), d1, d2, alphas, betas, method=method,
                            block_size=4)  # several blocks of a few points
            assert s.values.dtype == dtype
            np.testing.assert_allclose(s.values, loop, rtol=tol, atol=tol)
            assert abs(s.center_value - float(one(center, (x, y)))) <= tol
        pts = jax.tree.map(lambda c, u: c[None] + jnp.linspace(-1, 1, 9).astype(dtype).reshape(
            (-1,) + (1,) * c.ndim) * u[None], center, d1.params)
        got = sf.evaluate_points(loss, pts, (x, y), block_size=3)
        want = [float(one(jax.tree.map(lambda a, i=i: a[i], pts), (x, y))) for i in range(9)]
        np.testing.assert_allclose(got, want, rtol=tol, atol=tol)

"""Known answers for the census with default settings, in float32 and float64 (issue 14):
constructed networks computing one function with k known weight patterns plus their symmetry
images, exact duplicates, a saturated plateau, a trap at infinity, and one test per option that
changes the result (``tol=`` included) showing that it does."""

import jax
import numpy as np
import optax
import pytest

import landscape as ls
from landscape import minima as mn

K = 6
"""Known weight patterns (classes) of the constructed family."""
COPIES = 8
"""Members per class: symmetry images (unit permutations, sign flips) with small noise."""
NOISE = 1e-3
"""Within-class spread of the free weights (classes lie ~1 apart: a gap of ~3 decades)."""
DTYPES = ["float32", "float64"]


@pytest.fixture(params=DTYPES)
def dtype(request):
    old = jax.config.jax_enable_x64
    jax.config.update("jax_enable_x64", request.param == "float64")
    yield np.dtype(request.param)
    jax.config.update("jax_enable_x64", old)


def _family(dtype, k=K, copies=COPIES, noise=NOISE, seed=0, offset=0.0):
    """A 2-3-1 tanh net whose units 0 and 1 are fixed and whose unit 2 has outgoing weight 0:
    every run computes the same function; unit 2's incoming weights (pattern ``c``) tell the
    classes apart. Each member is a random symmetry image (unit permutation, sign flips: tanh
    is odd) of its pattern plus ``noise`` on unit 2's free weights. Returns model, params
    (leading run axis), the true class of each run. ``offset`` shifts every pattern."""
    rng = np.random.default_rng(seed)
    model = ls.mlp([2, 3, 1], activation="tanh", output="sigmoid")
    w1 = np.array([[1.5, -0.7, 0.0], [0.4, 2.0, 0.0]])
    b1 = np.array([0.3, -0.2, 0.0])
    w2 = np.array([[1.2], [-0.9], [0.0]])
    b2 = np.array([0.1])
    patterns = [np.array([1.0 + c, 0.5 * (c % 3), 0.8 - 0.4 * c]) + offset for c in range(k)]
    runs = {"w1": [], "b1": [], "w2": [], "b2": []}
    truth = []
    for c in range(k):
        for _ in range(copies):
            a, b, v = w1.copy(), b1.copy(), w2.copy()
            p = patterns[c] + noise * rng.normal(size=3)
            a[:, 2], b[2] = p[:2], p[2]
            sign = rng.choice([-1.0, 1.0], size=3)
            perm = rng.permutation(3)
            a, b, v = (a * sign)[:, perm], (b * sign)[perm], (v * sign[:, None])[perm]
            for key, val in zip(("w1", "b1", "w2", "b2"), (a, b, v, b2)):
                runs[key].append(val)
            truth.append(c)
    st_ = {key: np.stack(val).astype(dtype) for key, val in runs.items()}
    params = [{"w": st_["w1"], "b": st_["b1"]}, {"w": st_["w2"], "b": st_["b2"]}]
    return model, params, np.array(truth)


def _same_partition(labels, truth):
    pairs = set(zip(labels.tolist(), truth.tolist()))
    return len(pairs) == len(set(truth.tolist())) == len(set(labels.tolist()))


def _census(model, params, **kw):
    data = ls.datasets.xor()
    loss_fn = ls.objectives.loss(model, "mse")
    return mn.census(loss_fn, params, data, model=model, classify=False, **kw)


def test_k_weight_patterns_of_one_function_are_k_classes_in_one_group(dtype):
    model, params, truth = _family(dtype)
    cen = _census(model, params)
    assert cen.counts()["clustered"] == truth.size  # nobody called moving
    assert len(cen.clusters) == K
    assert _same_partition(cen.labels, truth)
    assert {c.group for c in cen.clusters} == {0}  # one function
    text = cen.describe()
    assert "moving: final gradient norm above" in text and "ratio" in text
    assert "function space" in text and "parameter-space classes" in text


def test_exact_duplicates_are_exactly_their_classes(dtype):
    model, params, truth = _family(dtype, k=2, copies=100, noise=0.0)
    cen = _census(model, params)
    assert len(cen.clusters) == 2 and _same_partition(cen.labels, truth)


def test_function_groups_split_when_the_functions_differ(dtype):
    model, params, truth = _family(dtype, k=2, copies=10)
    params[1]["b"][truth == 1] += 2.0  # the second class computes another function
    cen = _census(model, params)
    assert len(cen.clusters) == 2 and _same_partition(cen.labels, truth)
    assert sorted(c.group for c in cen.clusters) == [0, 1]


def test_a_saturated_plateau_is_called_plateau(dtype):
    model = ls.mlp([2, 2, 1], activation="sigmoid", output="sigmoid")
    one = [{"w": np.full((2, 2), 30.0), "b": np.full(2, 30.0)},
           {"w": np.full((2, 1), 20.0), "b": np.full(1, 20.0)}]
    params = jax.tree.map(lambda a: np.stack([a] * 3).astype(dtype), one)
    loss_fn = ls.objectives.loss(model, "mse")
    cen = mn.census(loss_fn, params, ls.datasets.xor(), model=model)
    assert len(cen.clusters) == 1
    assert cen.clusters[0].hessian == "plateau", cen.describe()
    assert "minimum" not in cen.clusters[0].describe_kind()


def test_the_constant_xor_start_is_a_trap_at_infinity_not_a_minimum(dtype):
    model = ls.mlp([2, 2, 1], activation="sigmoid", output="sigmoid")
    loss_fn = ls.objectives.loss(model, "mse")
    data = ls.datasets.xor()
    opt = optax.sgd(2.0)
    r = ls.train_many(loss_fn, ls.inits.constant(model, 0.5), opt, data, key=jax.random.key(0),
                      n_runs=4, steps=2000, progress=False)
    cen = mn.census(loss_fn, r.params, data, model=model, status=r.status, optimizer=opt)
    assert len(cen.clusters) == 1
    c = cen.clusters[0]
    assert c.kind == "trap_at_infinity" and c.growing
    assert c.describe_kind().startswith("trap at infinity")


# --- every option that changes the result does -------------------------------------------


def _labels(model, params, **options):
    return _census(model, params, options=mn.ClusterOptions(space="both", **options))


def test_tol_is_used(dtype):
    model, params, truth = _family(dtype)
    assert len(_labels(model, params).clusters) == K
    assert len(_labels(model, params, tol=100.0).clusters) == 1
    assert len(_labels(model, params, tol=1e-6).clusters) > K  # noise splits
    assert _labels(model, params, tol=0.1).clustering.level.rule == "given"


def test_min_gap_floor_max_alone_and_level_are_used(dtype):
    model, params, truth = _family(dtype)
    assert len(_labels(model, params, min_gap=1e6).clusters) == 1  # no gap that large
    assert len(_labels(model, params, floor=100.0).clusters) == 1  # all "identical"
    # max_alone=0 rejects a cut that leaves one single-run class
    model1, params1, truth1 = _family(dtype, k=3, copies=6)
    params1 = jax.tree.map(lambda a: a[np.r_[0:13]], params1)  # the last class: one run
    assert len(_labels(model1, params1).clusters) == 3
    assert len(_labels(model1, params1, max_alone=0.0).clusters) == 1
    # level: classes nested at two scales (3 patterns, each in two variants 1e-2 apart): the
    # finest cut (the default, level 0) separates the 6 variants, the coarsest the 3 patterns
    model2, near, _ = _family(dtype, k=3, copies=6, noise=1e-6)
    _, far, _ = _family(dtype, k=3, copies=6, noise=1e-6, seed=1, offset=1e-2)
    params2 = jax.tree.map(lambda a, b: np.concatenate([a, b]), near, far)
    assert len(_labels(model2, params2).clusters) == 6
    assert len(_labels(model2, params2, level=0).clusters) == 6
    assert len(_labels(model2, params2, level="coarsest").clusters) == 3


def test_space_symmetry_and_flips_are_used(dtype):
    model, params, truth = _family(dtype)
    # without the group, the random images are no longer K tight classes
    assert not _same_partition(_labels(model, params, symmetry="none").labels, truth)
    assert len(_census(model, params, options=mn.ClusterOptions(space="function"),
                       x=None).clusters) == 1  # one function
    assert not _same_partition(_labels(model, params, flips=False).labels, truth)


def test_loss_windows_and_grad_tol_are_used(dtype):
    model, params, truth = _family(dtype, k=2, copies=10)
    params[1]["b"][truth == 1] += 2.0
    one = _labels(model, params, loss_gap=1e3, loss_atol=1e3)
    assert len(one.clustering.window_edges) == 1
    two = _labels(model, params)
    assert len(two.clustering.window_edges) == 2
    cen = _census(model, params, grad_tol=1e-12)
    assert cen.counts()["moving"] > 0
    assert cen.clustering.grad_tol.rule == "given"


def test_float64_default_does_not_call_settled_runs_moving():
    t = mn.grad_tolerance(np.full(100, 3e-5) * np.linspace(0.5, 2, 100), np.full(100, 1e-3),
                          dtype="float64")
    assert t.value > 3e-5 * 2  # the old sqrt(eps) default, 1.5e-8, called all of them moving
    assert "median" in t.describe()

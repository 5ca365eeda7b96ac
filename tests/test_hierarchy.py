"""Known answers for landscape.minima.hierarchy: nested classes at scales 1e-7 .. 1, exact
duplicates, no structure, k weight patterns of one function with their symmetry images; every
option that changes the result; the exact tree against SciPy; determinism; validation.

All with default settings, on features derived in float32 and in float64 (float32 features are
passed as float32 arrays: their dtype sets the rounding floor).
"""

import numpy as np
import pytest
from scipy.cluster.hierarchy import is_valid_linkage, linkage

from landscape.minima.hierarchy import DENSE_MAX, Hierarchy, groups_and_classes, hierarchy

DTYPES = [np.float32, np.float64]
SEEDS = [0, 1, 2]


def same_partition(a, b):
    """Labels ``a`` and ``b`` split the points the same way (up to renaming)."""
    a, b = np.asarray(a), np.asarray(b)
    pairs = set(zip(a.tolist(), b.tolist()))
    return len(pairs) == len(set(a.tolist())) == len(set(b.tolist()))


def nested(seed, dtype, d=6, spreads=(1.0, 1e-3, 1e-7), counts=(3, 4, 5)):
    """3 families (spread 1) x 4 classes (1e-3) x 5 points (1e-7); truth labels per level."""
    rng = np.random.default_rng(seed)
    nf, nc, npts = counts
    fam = rng.normal(size=(nf, 1, 1, d)) * spreads[0]
    cls = fam + rng.normal(size=(nf, nc, 1, d)) * spreads[1]
    pts = cls + rng.normal(size=(nf, nc, npts, d)) * spreads[2]
    truth_class = np.repeat(np.arange(nf * nc), npts)
    truth_family = np.repeat(np.arange(nf), nc * npts)
    return pts.reshape(-1, d).astype(dtype), truth_class, truth_family


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("seed", SEEDS)
def test_nested_classes_in_groups_in_families_come_out_exactly(seed, dtype):
    x, truth_class, truth_family = nested(seed, dtype)
    h = hierarchy(x)
    assert h.counts == (12, 3)
    assert same_partition(h.levels[0].labels, truth_class)
    assert same_partition(h.levels[1].labels, truth_family)
    # evidence: each cut lies inside its gap, the ratio is the gap's
    for level in h.levels:
        assert level.lower < level.cut < level.upper
        assert level.ratio == pytest.approx(level.upper / level.lower)
        assert level.ratio >= h.min_gap
    text = h.describe()
    assert "level 0: 12 clusters" in text and "level 1: 3 clusters" in text


@pytest.mark.parametrize("seed", SEEDS)
def test_a_deeper_nesting_from_1e_6_to_10_gives_every_level(seed):
    # 2 x 3 x 2 x 4 points at spreads 10, 1e-2, 1e-4 .. and points 1e-6 apart (float64)
    rng = np.random.default_rng(seed)
    a = rng.normal(size=(2, 1, 1, 1, 5)) * 10
    b = a + rng.normal(size=(2, 3, 1, 1, 5)) * 1e-2
    c = b + rng.normal(size=(2, 3, 2, 1, 5)) * 1e-4 * 0.3
    x = (c + rng.normal(size=(2, 3, 2, 4, 5)) * 1e-6 * 0.3).reshape(-1, 5)
    assert hierarchy(x).counts == (12, 6, 2)


def duplicates(dtype, seed=0, copies=500, variants=20):
    """2 classes x ``copies`` bit-identical copies + ``variants`` each at the dtype's noise
    (float32: relative 1e-7; float64: a few units of rounding)."""
    rng = np.random.default_rng(seed)
    base = rng.normal(size=(2, 9))
    noise = 1e-7 if dtype == np.float32 else 4 * np.finfo(np.float64).eps
    var = base[:, None] * (1 + noise * rng.normal(size=(2, variants, 9)))
    x = np.concatenate([np.repeat(base, copies, axis=0), var.reshape(-1, 9)]).astype(dtype)
    truth = np.r_[np.repeat([0, 1], copies), np.repeat([0, 1], variants)]
    return x, truth


@pytest.mark.parametrize("dtype", DTYPES)
def test_exact_duplicates_and_rounding_variants_give_exactly_the_classes(dtype):
    x, truth = duplicates(dtype)
    h = hierarchy(x)
    assert h.counts == (2,)
    assert same_partition(h.labels, truth)
    assert h.n_points == 1040
    assert h.n_distinct < 1040 and h.multiplicity.sum() == 1040
    np.testing.assert_array_equal(np.unique(h.inverse), np.arange(h.n_distinct))


def duplicates_and_a_continuum(dtype, seed):
    """2 classes 2 apart, each 300 bit-identical copies and 100 runs spread continuously at
    distances 1e-3 .. 5e-2 from it (unfinished convergence)."""
    rng = np.random.default_rng(seed)
    base = np.zeros((2, 9))
    base[:, 0] = 1.0, -1.0
    base[:, 1:] = 0.1 * rng.normal(size=(2, 8))
    dirs = rng.normal(size=(2, 100, 9))
    dirs /= np.linalg.norm(dirs, axis=-1, keepdims=True)
    r = 10 ** rng.uniform(-3, -1.3, size=(2, 100, 1))
    x = np.concatenate([np.repeat(base, 300, axis=0), (base[:, None] + r * dirs).reshape(-1, 9)])
    return x.astype(dtype), np.r_[np.repeat([0, 1], 300), np.repeat([0, 1], 100)]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("seed", SEEDS)
def test_duplicates_do_not_split_a_class_into_its_points(seed, dtype):
    # today's largest-ratio rule cuts between the duplicates and the continuum: 202 clusters
    x, truth = duplicates_and_a_continuum(dtype, seed)
    h = hierarchy(x)
    assert h.counts == (2,) and same_partition(h.labels, truth)
    assert len(h.rejected) == 1 and "hold a single point" in h.describe()


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("seed", SEEDS)
def test_fine_classes_are_found_when_a_coarser_gap_is_larger(seed, dtype):
    # families 30 apart: their gap is larger than the classes' one; today's rule keeps only it (3)
    x, truth_class, truth_family = nested(seed, dtype, spreads=(30.0, 1e-3, 1e-7))
    h = hierarchy(x)
    assert h.counts == (12, 3)
    assert same_partition(h.labels, truth_class)
    assert h.levels[1].ratio > h.levels[0].ratio


@pytest.mark.parametrize("d", [2, 4, 9])
@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("dtype", DTYPES)
def test_no_structure_gives_one_cluster_and_says_no_gap(seed, d, dtype):
    x = np.random.default_rng(seed).uniform(size=(1500, d)).astype(dtype)
    h = hierarchy(x)
    assert h.counts == (1,)
    assert h.levels[0].rule == "no gap" and not np.isfinite(h.levels[0].cut)
    assert np.all(h.labels == 0)
    assert "no gap: one cluster" in h.describe()


def patterns_of_one_function(k, dtype, seed=0, images=8):
    """``k`` distinct weight patterns of one function, each with ``images`` symmetry images.
    Canonical forms of images are equal, so each pattern's images are duplicates; the outputs
    of all of them agree up to rounding (a few units in the last place, as a permuted sum)."""
    rng = np.random.default_rng(seed)
    canon = rng.normal(size=(k, 9))
    params = np.repeat(canon, images, axis=0).astype(dtype)
    out = np.array([0.02, 0.97, 0.98, 0.03])
    eps = np.finfo(dtype).eps
    outputs = (out * (1 + eps * rng.integers(-2, 3, size=(k * images, 4)))).astype(dtype)
    return outputs, params, np.repeat(np.arange(k), images)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("k", [5, 7])
def test_k_weight_patterns_of_one_function_are_k_classes_in_one_group(k, dtype):
    outputs, params, truth = patterns_of_one_function(k, dtype)
    r = groups_and_classes(outputs, params)
    assert r.n_groups == 1 and r.groups.levels[0].rule == "no gap"
    assert r.n_classes.tolist() == [k]
    assert same_partition(r.classes, truth)
    assert r.within[0].levels[0].rule == "floor"  # distinct beyond rounding: the classes
    assert f"{k} parameter-space classes" in r.describe()


def test_groups_then_classes_within_each_group():
    rng = np.random.default_rng(3)
    # group 0: 3 patterns x 4 copies, group 1: 2 patterns x 5 copies; outputs differ by 0.5
    p = np.concatenate([np.repeat(rng.normal(size=(3, 9)), 4, axis=0),
                        np.repeat(rng.normal(size=(2, 9)), 5, axis=0)])
    f = np.r_[np.zeros((12, 4)), np.full((10, 4), 0.5)] + 1e-6 * rng.normal(size=(22, 4))
    r = groups_and_classes(f, p)
    assert r.n_groups == 2 and r.n_classes.tolist() == [3, 2]
    assert same_partition(r.group, np.r_[np.zeros(12), np.ones(10)])
    assert same_partition(r.classes, np.r_[np.repeat([0, 1, 2], 4), np.repeat([3, 4], 5)])
    # the merge step sees each group's points and classes (here: joins every class of a group)
    seen = []
    joined = groups_and_classes(f, p, merge=lambda idx, labels, cut: (
        seen.append((idx.size, int(labels.max()) + 1, cut)) or np.zeros_like(labels)))
    assert [s[:2] for s in seen] == [(12, 3), (10, 2)] and all(0 < s[2] < np.inf for s in seen)
    assert joined.n_classes.tolist() == [1, 1] and same_partition(joined.classes, r.group)


def test_level_picks_finest_coarsest_or_an_index():
    x = np.array([[0.0], [0.0], [1e-4], [1.0], [1.0001], [100.0]])
    h = hierarchy(x)
    assert h.counts == (3, 2)
    assert h.level("finest") is h.levels[0] and h.level() is h.levels[0]
    assert h.level("coarsest") is h.levels[-1] and h.level(1) is h.levels[1]
    assert h.level(7) is h.levels[-1]  # past the last: the coarsest
    with pytest.raises(ValueError, match="level='middle'"):
        h.level("middle")


# --------------------------------------------------------------------------------------------
# every option that changes the result


def test_min_gap_decides_which_ratios_are_gaps():
    x, _, _ = nested(0, np.float64)
    h = hierarchy(x)
    assert h.counts == (12, 3)
    smallest = min(level.ratio for level in h.levels)
    assert hierarchy(x, min_gap=smallest * 1.01).counts != (12, 3)
    assert len(hierarchy(x, min_gap=smallest * 1.01).levels) == 1


def test_floor_merges_everything_below_it():
    x, _, truth_family = nested(0, np.float64)
    h = hierarchy(x, floor=0.05)  # classes (1e-3 apart) are now "the same point"
    assert h.counts == (3,) and h.floor == 0.05
    assert same_partition(h.labels, truth_family)


def test_dtype_sets_the_rounding_floor():
    # 3 points 5e-7 apart (relative), 5 copies each: distinct in float64, rounding in float32
    rng = np.random.default_rng(0)
    base = rng.normal(size=9)
    pts = base * (1 + 5e-7 * rng.choice([-1.0, 1.0], size=(3, 9)))
    x = np.repeat(pts, 5, axis=0)
    assert hierarchy(x).counts == (3,)
    assert hierarchy(x, dtype=np.float32).counts == (1,)
    assert hierarchy(x, dtype="float32").floor > hierarchy(x).floor


def test_max_alone_admits_levels_of_single_points():
    x = np.random.default_rng(0).uniform(size=(300, 4))
    h = hierarchy(x)
    assert h.counts == (1,) and len(h.rejected) == 1
    assert hierarchy(x, max_alone=1.0).counts == (300,)


@pytest.mark.parametrize("seed", SEEDS)
def test_method_changes_only_the_cost_the_tree_is_scipys(seed):
    rng = np.random.default_rng(seed)
    x = np.concatenate([rng.normal(size=(400, 5)), 7 + 1e-3 * rng.normal(size=(600, 5)),
                        -7 + 1e-6 * rng.normal(size=(300, 5))])
    dense, boruvka = hierarchy(x, method="dense"), hierarchy(x, method="boruvka")
    assert dense.method == "dense" and boruvka.method == "boruvka"
    np.testing.assert_array_equal(dense.edges, boruvka.edges)
    assert dense.counts == boruvka.counts
    for a, b in zip(dense.levels, boruvka.levels):
        np.testing.assert_array_equal(a.labels, b.labels)
    np.testing.assert_allclose(np.sort(linkage(x, "single")[:, 2]), dense.edges[:, 2], rtol=1e-12)
    assert is_valid_linkage(dense.linkage)
    np.testing.assert_allclose(dense.linkage[:, 2], linkage(x, "single")[:, 2], rtol=1e-12)


def test_boruvka_above_the_dense_limit_is_exact():
    rng = np.random.default_rng(1)
    centers = rng.normal(size=(6, 4)) * 10
    x = np.repeat(centers, (DENSE_MAX + 500) // 6, axis=0)
    x = x + 1e-4 * rng.normal(size=x.shape)
    h = hierarchy(x)
    assert h.method == "boruvka" and h.counts == (6,)
    ref = hierarchy(x[::3], method="dense")
    assert ref.counts == (6,)
    sub = hierarchy(x[::3], method="boruvka")
    np.testing.assert_array_equal(ref.edges, sub.edges)


# --------------------------------------------------------------------------------------------
# determinism, result object, small cases, validation


def test_order_of_points_does_not_change_the_partition():
    x, truth, _ = nested(1, np.float64)
    perm = np.random.default_rng(0).permutation(len(x))
    a, b = hierarchy(x), hierarchy(x[perm])
    assert a.counts == b.counts
    for la, lb in zip(a.levels, b.levels):
        assert same_partition(la.labels[perm], lb.labels)
        assert la.cut == lb.cut
    np.testing.assert_array_equal(hierarchy(x).levels[0].labels, a.levels[0].labels)


def test_levels_are_nested_and_labels_count_in_order_of_first_appearance():
    x, _, _ = nested(2, np.float32)
    h = hierarchy(x)
    fine, coarse = h.levels
    for c in range(fine.n_clusters):
        assert np.unique(coarse.labels[fine.labels == c]).size == 1
    for level in h.levels:
        _, first = np.unique(level.labels, return_index=True)
        assert np.all(np.diff(first) > 0) and level.labels[0] == 0
        assert level.sizes.sum() == h.n_points


@pytest.mark.parametrize("x, counts", [(np.zeros((0, 3)), (0,)), (np.ones((1, 3)), (1,)),
                                       (np.ones((50, 3)), (1,)), (np.array([[0.0], [1.0]]), (1,))])
def test_small_and_degenerate_inputs(x, counts):
    h = hierarchy(x)
    assert isinstance(h, Hierarchy) and h.counts == counts
    assert h.labels.shape == (len(x),)


def test_minus_zero_and_zero_are_one_point():
    h = hierarchy(np.array([[0.0, 1.0], [-0.0, 1.0], [5.0, 5.0], [5.0, 5.0]]))
    assert h.n_distinct == 2 and h.counts == (2,)


@pytest.mark.parametrize("kwargs, error, match", [
    ({"features": np.zeros(4)}, ValueError, "n_points, n_features"),
    ({"features": np.array([[0.0], [np.nan]])}, ValueError, "finite"),
    ({"features": np.array([["a"], ["b"]])}, TypeError, "real numbers"),
    ({"min_gap": 1.0}, ValueError, "min_gap"),
    ({"floor": -1.0}, ValueError, "floor"),
    ({"max_alone": 1.5}, ValueError, "max_alone"),
    ({"method": "prim"}, ValueError, "method"),
    ({"dtype": np.int32}, TypeError, "dtype"),
])
def test_bad_arguments_are_named(kwargs, error, match):
    kwargs = {"features": np.zeros((3, 2)), **kwargs}
    with pytest.raises(error, match=match):
        hierarchy(**kwargs)


def test_groups_and_classes_needs_the_same_points():
    with pytest.raises(ValueError, match="same points"):
        groups_and_classes(np.zeros((3, 2)), np.zeros((4, 2)))


def test_two_points_say_there_is_nothing_to_compare_not_nan():
    h = hierarchy(np.array([[0.0, 0.0], [1.0, 1.0]]))
    text = h.describe()
    assert "fewer than two merge heights to compare" in text and "nan" not in text

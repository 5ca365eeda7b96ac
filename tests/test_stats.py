"""Tests for landscape.stats: Wilson intervals have their known values, basin-share intervals
cover known shares at the stated rate, shares per swept value, bootstrap, restart curves."""

import numpy as np
import pytest

from landscape import stats
from landscape import status as st

# Wilson 95% interval for 5 of 10 by hand: z = 1.959964, center 0.5,
# half = z sqrt(0.025 + z^2/400) / (1 + z^2/10) = 0.263407.
WILSON_5_OF_10 = (0.236593, 0.763407)
MOVING = st.CATEGORY.code("moving")


def test_wilson_interval_known_values():
    lo, hi = stats.wilson_interval(5, 10)
    np.testing.assert_allclose([lo, hi], WILSON_5_OF_10, atol=1e-6)
    z2 = 1.959963984540054**2
    lo, hi = stats.wilson_interval(0, 10)
    assert lo == 0.0 and hi == pytest.approx(z2 / (10 + z2))
    lo, hi = stats.wilson_interval(10, 10)
    assert hi == 1.0 and lo == pytest.approx(10 / (10 + z2))
    lo, hi = stats.wilson_interval(np.array([0, 3]), np.array([0, 3]))
    assert lo.tolist() == [0.0, pytest.approx(3 / (3 + z2))] and hi.tolist() == [1.0, 1.0]
    lo99, hi99 = stats.wilson_interval(5, 10, confidence=0.99)
    assert lo99 < WILSON_5_OF_10[0] and hi99 > WILSON_5_OF_10[1]


def test_basin_share_intervals_cover_known_shares_at_the_stated_rate():
    shares = np.array([0.6, 0.3, 0.08, 0.02])
    rng = np.random.default_rng(1)
    n, sims = 300, 2000
    hits = np.zeros(4)
    for _ in range(sims):
        labels = rng.choice(4, size=n, p=shares)
        labels[labels == 3] = MOVING
        b = stats.basin_shares(labels, categories=[0, 1, 2, MOVING])
        hits += (b.lo[0] <= shares) & (shares <= b.hi[0])
    coverage = hits / sims
    # 95% nominal; the Monte Carlo error of a coverage over 2000 runs is about 0.005
    assert np.all(coverage > 0.93) and np.all(coverage < 0.975), coverage


def test_basin_shares_per_swept_value_and_bootstrap():
    labels = np.array([0, 0, 1, MOVING, 0, 1, 1, 1])
    scale = np.array([1.0, 1.0, 1.0, 1.0, 2.0, 2.0, 2.0, 2.0])
    b = stats.basin_shares(labels, groups=scale)
    assert b.groups.tolist() == [1.0, 2.0] and b.names == ("cluster 0", "cluster 1", "moving")
    assert b.counts.tolist() == [[2, 1, 1], [1, 3, 0]] and b.totals.tolist() == [4, 4]
    np.testing.assert_allclose(b.shares, [[0.5, 0.25, 0.25], [0.25, 0.75, 0.0]])
    assert np.all(b.lo <= b.shares) and np.all(b.shares <= b.hi)
    big = np.repeat([0, 1], [700, 300])
    boot = stats.basin_shares(big, method="bootstrap")
    wil = stats.basin_shares(big)
    np.testing.assert_allclose(boot.lo, wil.lo, atol=0.01)
    np.testing.assert_allclose(boot.hi, wil.hi, atol=0.01)


def test_restart_curve_formula_and_estimate_from_runs():
    success = np.array([True] * 3 + [False] * 7)
    r = stats.restart_curve(success, np.array([1, 2, 3, 8, 11]))
    assert r.p == 0.3 and r.n == 10 and r.successes == 3
    np.testing.assert_allclose(r.formula, 1 - 0.7 ** np.array([1, 2, 3, 8, 11]))
    np.testing.assert_allclose(r.lo, 1 - (1 - r.p_lo) ** r.ks)
    np.testing.assert_allclose(r.hi, 1 - (1 - r.p_hi) ** r.ks)
    # from the runs: 1 - C(7, k) / C(10, k): k=2: 1 - 21/45; k = 8 > 7 failures: certain
    np.testing.assert_allclose(r.empirical[:4], [0.3, 1 - 21 / 45, 1 - 35 / 120, 1.0])
    assert np.isnan(r.empirical[4])
    assert np.all(np.diff(r.formula) > 0) and np.all(r.lo <= r.formula) and np.all(r.formula <= r.hi)


def test_errors_name_the_argument():
    with pytest.raises(ValueError, match="successes"):
        stats.wilson_interval(3, 2)
    with pytest.raises(ValueError, match="confidence"):
        stats.wilson_interval(1, 2, confidence=95)
    with pytest.raises(ValueError, match="success must be a 1-D bool"):
        stats.restart_curve(np.array([1, 0]))
    with pytest.raises(ValueError, match="ks="):
        stats.restart_curve(np.array([True]), ks=[0, 1])
    with pytest.raises(ValueError, match="method="):
        stats.basin_shares(np.array([0, 1]), method="exact")
    with pytest.raises(ValueError, match="groups must have one entry per run"):
        stats.basin_shares(np.array([0, 1]), groups=[1.0])

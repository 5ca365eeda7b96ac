"""Every built-in experiment runs in its smoke configuration and writes a complete results folder;
experiment-specific checks assert the headline findings the smoke runs are small enough to show."""

import json

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

from landscape.experiment import experiments, resolve_config, run_experiment  # noqa: E402
from landscape.store import ResultsDir  # noqa: E402


def _check_xor_train(summary, out):
    assert summary["starts"]["constant"]["succeeded"] == 0
    assert summary["starts"]["random"]["succeeded"] > 0


def _check_xor_symmetry(summary, out):
    starts = summary["starts"]
    constant = starts["constant"]
    # the all-equal start never learns and its hidden units stay bit-identical in every run
    assert constant["succeeded"] == 0 and constant["gap"]["exactly_zero"] == constant["runs"]
    assert starts["random"]["succeeded"] > 0 and starts["random"]["gap"]["exactly_zero"] == 0
    assert constant["success_interval"][0] == 0.0 < constant["success_interval"][1] < 0.05
    eq = summary["equilibrium"]
    assert eq["kind"] == "trap_at_infinity" and 0 < eq["excess_over_limit"] < 0.01
    saddle = summary["escape"]["strict_saddle"]
    assert saddle["n_escaped"] == saddle["n_runs"] and saddle["max_relative_error"] < 0.02
    verdicts = summary["invariance"]["verdicts"]
    assert verdicts["sgd"] == "keeps it exactly" and verdicts["gradient_noise"] == "breaks the symmetry"
    arrays = ResultsDir(out).read_arrays("constant")
    assert not np.any(arrays["gap"]) and not np.any(arrays["trajectory_gaps"])
    units = arrays["units"]  # (n_records, H, 4): the two units are the same at every record
    np.testing.assert_array_equal(units[:, 0], units[:, 1])
    assert any("learned XOR" in line for line in summary["text"])


def _check_init_scale_sweep(summary, out):
    by_scale = {p["scale"]: p for p in summary["per_scale"]}
    zero = by_scale[0.0]
    # s = 0 is the all-zero start: a critical point of XOR, so no run moves, and all stay symmetric
    assert zero["succeeded"] == 0 and zero["exactly_symmetric"] == zero["never_moved"] == zero["runs"]
    assert all(p["exactly_symmetric"] == 0 for s, p in by_scale.items() if s > 0)
    # success peaks at a moderate scale: tiny starts stay near 0, large ones saturate
    assert by_scale[1.0]["success_rate"] > 0.5
    others = max(by_scale[0.1]["success_rate"], by_scale[10.0]["success_rate"])
    assert by_scale[1.0]["success_rate"] > 2 * others
    a = ResultsDir(out).read_arrays("runs")
    at_zero = a["scale"] == 0
    assert not np.any(a["gap"][at_zero]) and np.all(a["gap"][~at_zero] > 0)
    np.testing.assert_allclose(a["shares"].sum(axis=1), 1.0)
    # one basin: outputs 0.5 everywhere, loss 1/4 (shared with small starts that stopped near it,
    # so its mean loss and representative's outputs are 1/4 and 1/2 only to ~1e-5)
    labels = np.unique(a["label"][at_zero])
    assert labels.size == 1 and a["cluster_loss_mean"][labels[0]] == pytest.approx(0.25, abs=1e-4)
    np.testing.assert_allclose(a["cluster_outputs"][labels[0]], 0.5, atol=1e-3)


def _check_escape_time(summary, out):
    saddle, xor = summary["cases"]["saddle"], summary["cases"]["xor"]
    # at a strict saddle every perturbation escapes, on the linear law's slope and schedule
    assert saddle["equilibrium"] == "critical_point" and saddle["strict_saddle"]
    assert saddle["escaped"] == saddle["runs"] and saddle["law_holds"]
    assert 0.99 < saddle["slope_ratio"]["min"] <= saddle["slope_ratio"]["max"] < 1.01
    a = ResultsDir(out).read_arrays("saddle")
    assert np.all((a["overlap"] > 0) & (a["overlap"] <= 1 + 1e-12))
    np.testing.assert_allclose(a["steps"], a["predicted"], rtol=0.02)
    # from XOR's constant start (a trap at infinity) the law predicts escapes that do not come
    assert xor["equilibrium"] == "trap_at_infinity" and not xor["law_holds"]
    assert xor["escaped"] < xor["runs"] and xor["predicted_max"] < 4000
    assert abs(xor["lambda_min_end_of_symmetric_run"]) < abs(xor["lambda_min"])


def _check_parity_scaling(summary, out):
    cells = {(c["bits"], c["width"]): c for c in summary["cells"]}
    # one hidden unit cannot separate parity; three learn 3-bit parity from most random starts
    assert cells[(3, 1)]["succeeded"] == 0 and cells[(3, 3)]["success_rate"] > 0.5
    assert summary["smallest_width_for_half"] == {"3": 3}
    # the constant start never learns: its units stay bit-identical, one unit in effect
    assert not any(c["constant_succeeded"] for c in cells.values())
    g = ResultsDir(out).read_arrays("grid")
    assert not np.any(g["constant_gap"]) and np.all(g["constant_loss"] > 0.1)


CHECKS = {"xor_train": _check_xor_train, "xor_symmetry": _check_xor_symmetry,
          "init_scale_sweep": _check_init_scale_sweep, "escape_time": _check_escape_time,
          "parity_scaling": _check_parity_scaling}


@pytest.mark.parametrize("name", sorted(experiments()))
def test_smoke_run_writes_a_complete_results_folder(name, tmp_path):
    exp = experiments()[name]
    out = tmp_path / name
    summary, path = run_experiment(name, out, smoke=True, progress=False)
    assert path == out
    config = json.loads((out / "config.json").read_text())
    assert config["experiment"] == name and config["smoke"] is True
    assert json.loads((out / "summary.json").read_text()) == json.loads(json.dumps(summary))
    table = summary.get("table")
    if table is not None:
        assert table["rows"] and all(len(row) == len(table["columns"]) for row in table["rows"])
    assert all(isinstance(line, str) for line in summary.get("text", []))
    if exp.figures is not None:
        figures = exp.figures(ResultsDir(out))  # redrawn from the saved arrays alone
        assert figures
        for fig_name, fig in figures.items():
            assert (out / f"{fig_name}.png").stat().st_size > 1000, fig_name
            plt.close(fig)
    check = CHECKS.get(name)
    if check is not None:
        check(summary, out)


@pytest.mark.parametrize("name", sorted(experiments()))
def test_default_config_is_valid(name):
    """The full configs are too slow to run here, but they must at least pass their own checks."""
    exp = experiments()[name]
    assert resolve_config(exp) == exp.config


@pytest.mark.parametrize("name, overrides, key", [
    ("init_scale_sweep", {"scales": [0.0, 1.0, 0.1]}, "scales"),
    ("init_scale_sweep", {"scales": [-1.0, 1.0]}, "scales"),
    ("escape_time", {"eps": [1e-6, 0.1]}, "eps"),
    ("escape_time", {"cases": ["saddle", "mnist"]}, "cases"),
    ("parity_scaling", {"bits": [1, 2]}, "bits"),
    ("parity_scaling", {"widths": [0, 2]}, "widths"),
])
def test_out_of_range_config_values_are_refused_by_key(name, overrides, key):
    with pytest.raises(ValueError, match=f"'{key}'"):
        resolve_config(experiments()[name], overrides=overrides)

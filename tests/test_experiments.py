"""Every built-in experiment runs in its smoke configuration and writes a complete results folder;
experiment-specific checks assert the headline findings the smoke runs are small enough to show."""

import json

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

from landscape.experiment import (configs_folder, experiments, get_experiment,  # noqa: E402
                                  read_config_file, resolve_config, run_experiment)
from landscape.store import ResultsDir  # noqa: E402
from landscape.sweep import Sweep  # noqa: E402


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


CHECKS = {"xor_train": _check_xor_train, "xor_symmetry": _check_xor_symmetry}


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


# --- the TOML configs of experiments/ (one per research question) ----------------------------

TOML_FILES = sorted(configs_folder().glob("*.toml"))


@pytest.mark.parametrize("path", TOML_FILES, ids=lambda p: p.name)
def test_toml_config_names_its_experiment_and_validates(path):
    file = read_config_file(path)
    assert path.stem == file.experiment, "one file per experiment, named after it"
    exp = get_experiment(file.experiment)
    config = resolve_config(exp, smoke=file.smoke, overrides=file.config)
    differ = {k: (getattr(config, k), getattr(exp.config, k)) for k in file.config
              if getattr(config, k) != getattr(exp.config, k)}
    assert not file.smoke and not differ, f"{path.name}: keys not at their defaults (file, code): {differ}"
    for point in Sweep.from_table(file.sweep).points() if file.sweep else []:
        resolve_config(exp, overrides={**file.config, **point})
    header = path.read_text().split("\nexperiment =")[0]
    assert header.startswith(f"# {file.experiment}:") and "Outputs" in header, path.name
    assert f"landscape run experiments/{path.name}" in header, path.name


def test_every_experiment_has_a_toml_file_and_a_readme_row():
    missing = sorted(set(experiments()) - {p.stem for p in TOML_FILES})
    assert not missing, f"built-in experiments without experiments/<name>.toml: {missing}"
    readme = (configs_folder() / "README.md").read_text()
    absent = [name for name in experiments() if f"| `{name}` | [`{name}.toml`]" not in readme]
    assert not absent, f"experiments/README.md has no table row for {absent}"

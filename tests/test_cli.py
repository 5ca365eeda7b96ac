"""The landscape command: list, run (smoke), resume, clear one-line errors, python -m."""

import json
import subprocess
import sys

import numpy as np
import pytest

from landscape import cli
from landscape.experiment import DEFAULT_EXPERIMENT, experiments


def test_list_names_every_experiment(capsys):
    assert cli.main(["list"]) == 0
    out = capsys.readouterr().out
    for name in experiments():
        assert name in out
    assert f"{DEFAULT_EXPERIMENT}" in out and "(default)" in out


@pytest.fixture(scope="module")
def smoke_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("smoke") / "xor"
    code = cli.main(["run", "xor_train", "--smoke", "--out", str(out), "--no-progress"])
    return code, out


def test_run_smoke_writes_a_results_folder(smoke_run, capsys):
    code, out = smoke_run
    assert code == 0
    assert {"config.json", "summary.json", "random.npz", "constant.npz", "chunks", "loss_curves.png"} <= {
        p.name for p in out.iterdir()}
    config = json.loads((out / "config.json").read_text())
    assert config["experiment"] == "xor_train" and config["smoke"] is True
    assert "jax" in config["versions"]
    summary = json.loads((out / "summary.json").read_text())
    constant = summary["starts"]["constant"]
    assert constant["succeeded"] == 0 and constant["runs"] == config["config"]["n_runs"]
    assert summary["starts"]["random"]["status"]["ok"] == config["config"]["n_runs"]


def test_rerun_resumes_and_ends_identical(smoke_run, capsys):
    code, out = smoke_run
    before = dict(np.load(out / "random.npz"))
    chunks = sorted((out / "chunks").iterdir())
    chunks[-1].unlink()  # as if the run had stopped before its last chunk
    (out / "summary.json").unlink()
    assert cli.main(["run", "xor_train", "--smoke", "--out", str(out), "--no-progress"]) == 0
    printed = capsys.readouterr().out
    assert "random" in printed and "success" in printed and f"results written to {out}" in printed
    after = dict(np.load(out / "random.npz"))
    assert before.keys() == after.keys()
    for name in before:
        np.testing.assert_array_equal(before[name], after[name], err_msg=name)


def test_folder_of_another_config_is_refused_in_one_line(smoke_run, capsys):
    _, out = smoke_run
    assert cli.main(["run", "xor_train", "--out", str(out), "--no-progress"]) == 2  # full config != smoke
    err = capsys.readouterr().err
    assert err.startswith("landscape: error: results folder") and "different config" in err
    assert err.count("\n") == 1


def test_unknown_experiment(capsys):
    assert cli.main(["run", "no_such_thing"]) == 2
    assert "experiment 'no_such_thing' is not known; expected one of" in capsys.readouterr().err


def test_python_dash_m_runs_the_command():
    done = subprocess.run([sys.executable, "-m", "landscape", "list"], capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0 and "xor_train" in done.stdout


def test_set_overrides_and_their_errors(tmp_path, capsys):
    out = tmp_path / "o"
    args = ["run", "xor_train", "--smoke", "--out", str(out), "--no-progress", "--set", "n_runs=16",
            "--set", "loss='half_sse'", "--set", "chunk_size=16"]
    assert cli.main(args) == 0
    config = json.loads((out / "config.json").read_text())["config"]
    assert config["n_runs"] == 16 and config["loss"] == "half_sse"
    for bad, message in [("n_run=3", "config key 'n_run' is not known"),
                         ("n_runs=1.5", "config key 'n_runs' = 1.5 has the wrong type; expected int"),
                         ("n_runs=0", "config key 'n_runs' = 0 must be >= 1"),
                         ("loss=hinge", "config key 'loss' = 'hinge' is not one of"),
                         ("n_runs", "override 'n_runs' must look like key=value")]:
        assert cli.main(["run", "xor_train", "--smoke", "--out", str(tmp_path / "x"), "--set", bad]) == 2
        assert message in capsys.readouterr().err
    assert not (tmp_path / "x").exists()  # refused before anything was written


def test_toml_config_file(tmp_path, capsys):
    path = tmp_path / "c.toml"
    path.write_text('experiment = "xor_train"\nsmoke = true\n[config]\nn_runs = 8\nchunk_size = 8\n')
    out = tmp_path / "o"
    assert cli.main(["run", str(path), "--out", str(out), "--no-progress"]) == 0
    assert json.loads((out / "config.json").read_text())["config"]["n_runs"] == 8
    path.write_text('experiment = "xor_train"\n[config\n')
    assert cli.main(["run", str(path), "--out", str(out)]) == 2
    assert "is not valid TOML" in capsys.readouterr().err
    path.write_text('experiment = "xor_train"\nseed = 3\n')
    assert cli.main(["run", str(path), "--out", str(out)]) == 2
    assert "unknown top-level keys ['seed']" in capsys.readouterr().err


def test_info_and_plot(smoke_run, tmp_path, capsys):
    _, out = smoke_run
    assert cli.main(["info", str(out)]) == 0
    text = capsys.readouterr().out
    assert "experiment: xor_train (smoke)" in text and "complete:   yes" in text
    (out / "loss_curves.png").unlink()
    assert cli.main(["plot", str(out), "--format", "svg"]) == 0
    assert cli.main(["plot", str(out), "--figure", "loss_curves"]) == 0
    assert (out / "loss_curves.svg").stat().st_size > 0 and (out / "loss_curves.png").exists()
    assert cli.main(["plot", str(out), "--figure", "nope"]) == 2
    assert "figure 'nope' is not one of 'xor_train'" in capsys.readouterr().err
    assert cli.main(["info", str(tmp_path)]) == 2
    assert "is not a results folder" in capsys.readouterr().err

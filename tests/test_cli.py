"""The landscape command: list, run (smoke, sweeps), resume (also after SIGKILL), plot, info,
report, --help, clear one-line errors, python -m."""

import json
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from landscape.lab import cli
from landscape.lab.experiment import DEFAULT_EXPERIMENT, experiments
from landscape.lab.sweep import persistent_compile_cache


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


def test_smoke_with_a_shipped_config_file_runs_the_smoke_sizes(tmp_path, monkeypatch):
    """experiments/xor_train.toml lists every key at its full default: with --smoke those keys
    stay at the smoke values; a key the file changes still applies."""
    from landscape.lab import experiment as registry
    ran = {}
    monkeypatch.setattr(cli, "run_experiment", lambda name, out, **kw: ran.update(kw) or ({}, out))
    shipped = Path(__file__).parent.parent / "experiments" / "xor_train.toml"
    assert cli.main(["run", str(shipped), "--smoke", "--out", str(tmp_path / "s")]) == 0
    assert ran["smoke"] and ran["overrides"] == {}
    changed = tmp_path / "c.toml"
    changed.write_text(shipped.read_text().replace("seed = 0", "seed = 5"))
    assert cli.main(["run", str(changed), "--smoke", "--out", str(tmp_path / "c")]) == 0
    assert ran["overrides"] == {"seed": 5}
    assert cli.main(["run", str(changed), "--out", str(tmp_path / "f")]) == 0
    assert ran["overrides"]["n_runs"] == registry.get_experiment("xor_train").config.n_runs


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
    assert "figure 'nope' is not a figure of experiment 'xor_train'" in capsys.readouterr().err
    assert cli.main(["info", str(tmp_path)]) == 2
    assert "is not a results folder" in capsys.readouterr().err


def test_info_prints_the_config_one_key_a_line_and_the_size_of_chunks(smoke_run, capsys):
    _, out = smoke_run
    assert cli.main(["info", str(out)]) == 0
    lines = capsys.readouterr().out.splitlines()
    config = json.loads((out / "config.json").read_text())["config"]
    start = lines.index("config:")
    assert lines[start + 1:start + 3 + len(config)] == [
        "  " + line for line in json.dumps(config, sort_keys=True, indent=2).splitlines()]
    size = sum(p.stat().st_size for p in (out / "chunks").iterdir())
    assert f"chunks/:    4 finished chunks, {cli.format_size(size)}" in lines


FAST = ["--set", "n_runs=64", "--set", "steps=20", "--set", "record_every=10"]


def test_drop_chunks_leaves_a_complete_folder_that_says_so(tmp_path, capsys):
    out = tmp_path / "dropped"
    assert cli.main(["run", "xor_train", "--smoke", "--no-progress", "--out", str(out), "--drop-chunks",
                     *FAST]) == 0
    assert not (out / "chunks").exists() and (out / "summary.json").exists()
    capsys.readouterr()
    assert cli.main(["info", str(out)]) == 0
    assert "chunks/:    0 finished chunks, 0 B (dropped: the folder is complete but cannot be resumed)" \
        in capsys.readouterr().out
    summary = (out / "summary.json").read_bytes()
    assert cli.main(["run", "xor_train", "--smoke", "--no-progress", "--out", str(out), *FAST]) == 0
    assert (out / "summary.json").read_bytes() == summary and not (out / "chunks").exists()


def test_drop_chunks_on_a_folder_already_complete_drops_them(tmp_path):
    out = tmp_path / "kept"
    run = ["run", "xor_train", "--smoke", "--no-progress", "--out", str(out), *FAST]
    assert cli.main(run) == 0 and any((out / "chunks").iterdir())
    summary = (out / "summary.json").read_bytes()
    assert cli.main([*run, "--drop-chunks"]) == 0
    assert not (out / "chunks").exists() and (out / "summary.json").read_bytes() == summary


def test_fresh_starts_a_folder_over_and_refuses_foreign_folders(tmp_path, capsys):
    out = tmp_path / "xor"
    assert cli.main(["run", "xor_train", "--smoke", "--no-progress", "--out", str(out), *FAST]) == 0
    changed = ["run", "xor_train", "--smoke", "--no-progress", "--out", str(out), *FAST, "--set", "seed=1"]
    assert cli.main(changed) == 2  # another config: refused, and the message names the way out
    assert "start it over with --fresh" in capsys.readouterr().err
    assert cli.main(changed + ["--fresh"]) == 0
    assert json.loads((out / "config.json").read_text())["config"]["seed"] == 1
    # a folder landscape did not write, or with files it does not recognise, is left untouched
    (out / "notes.txt").write_text("mine")
    assert cli.main(changed + ["--fresh"]) == 2
    assert "holds files landscape does not write (notes.txt); nothing was removed" in capsys.readouterr().err
    assert (out / "summary.json").exists()
    other = tmp_path / "other"
    other.mkdir()
    (other / "data.csv").write_text("1,2")
    assert cli.main(["run", "xor_train", "--smoke", "--out", str(other), "--fresh"]) == 2
    assert "is not a landscape results folder (it has no config.json); nothing was removed" in \
        capsys.readouterr().err
    assert (other / "data.csv").exists()
    # a bad --set is refused before --fresh removes anything
    assert cli.main(changed + ["--fresh", "--set", "n_runs=-1"]) == 2
    assert (out / "summary.json").exists()


def test_list_into_a_closed_pipe_exits_quietly():
    done = subprocess.run(["bash", "-c", f"{sys.executable} -m landscape list | head -c 0; "
                                         "echo status ${PIPESTATUS[0]} >&2"],
                          capture_output=True, text=True, timeout=120)
    assert done.stderr == "status 0\n"



FIGURES_SCRIPT = """import sys, matplotlib
matplotlib.use("pdf")
from landscape.lab.experiment import experiment_of, save_figures
from landscape.lab.store import ResultsDir
results = ResultsDir(sys.argv[1])
written = save_figures(experiment_of(results), results, only="loss_curves")
print(len(written), matplotlib.get_backend(), "matplotlib.pyplot" in sys.modules)
"""


def test_saving_figures_keeps_the_users_backend_and_never_loads_pyplot(smoke_run):
    _, out = smoke_run
    done = subprocess.run([sys.executable, "-c", FIGURES_SCRIPT, str(out)], capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["1", "pdf", "False"]


def test_no_module_of_the_package_imports_pyplot_or_switches_the_backend():
    import ast
    from pathlib import Path

    import landscape
    for path in Path(landscape.__file__).parent.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                names = [a.name for a in node.names]
                if isinstance(node, ast.ImportFrom):
                    names = [f"{node.module}.{n}" for n in names]
                assert not any(n.startswith("matplotlib.pyplot") for n in names), path
            if isinstance(node, ast.Attribute) and node.attr == "use":
                assert not (isinstance(node.value, ast.Name) and node.value.id == "matplotlib"), path

# --- help, sweeps, report, a killed run ----------------------------------------------------------

@pytest.mark.parametrize("command", [[], ["run"], ["plot"], ["info"], ["report"]])
def test_help_texts_show_examples(command, capsys):
    with pytest.raises(SystemExit) as exit_:
        cli.main(command + ["--help"])
    assert exit_.value.code == 0
    text = capsys.readouterr().out
    assert "example" in text and "landscape " in text
    if command == ["run"]:
        assert "--sweep" in text and "--zip" in text and "points/0000" in text and "<i>" not in text
        assert "--fresh" in text and "--drop-chunks" in text and "--shard" in text


def test_sweep_arguments_are_checked_before_anything_runs(smoke_run, tmp_path, capsys):
    _, plain = smoke_run
    toml = tmp_path / "s.toml"
    toml.write_text('experiment = "xor_train"\nsmoke = true\n[sweep]\nseed = [0, 1]\n')
    out = str(tmp_path / "never")
    cases = [
        # the file's [sweep] table, --sweep and --zip combine: point 1 pairs seed 1 with n_runs 0
        ([str(toml), "--sweep", "n_runs=[8, 0]", "--zip"],
         "sweep point 1 {'seed': 1, 'n_runs': 0}: config key 'n_runs' = 0 must be >= 1"),
        ([str(toml), "--sweep", "n_runs=[8, 16, 32]", "--zip"],
         "a zip sweep needs lists of equal length, got lengths {'seed': 2, 'n_runs': 3}"),
        (["xor_train", "--zip"], "--zip needs the keys to sweep"),
        (["xor_train", "--sweep", "seed=3"], "--sweep seed=3 must give a list of values"),
        (["xor_train", "--sweep", "sed=[1, 2]"], "config key 'sed' is not known"),
    ]
    for args, message in cases:
        assert cli.main(["run", *args, "--out", out]) == 2
        err = capsys.readouterr().err
        assert message in err and err.count("\n") == 1, err
    assert not (tmp_path / "never").exists()
    toml.write_text('experiment = "xor_train"\n[sweep]\nmode = "zip"\n')
    assert cli.main(["run", str(toml), "--out", out]) == 2
    assert "names no key to sweep" in capsys.readouterr().err
    # a sweep into a plain results folder (and the reverse) is refused
    assert cli.main(["run", "xor_train", "--smoke", "--out", str(plain), "--sweep", "seed=[0, 1]"]) == 2
    err = capsys.readouterr().err
    assert "holds a run of experiment 'xor_train', not a sweep of" in err
    assert "another --out folder (--fresh would delete its results)" in err


def test_finished_sweep_reruns_to_its_table_and_info_counts_points(xor_sweep, tmp_path, capsys):
    from conftest import SWEEP_ARGS

    out, _ = xor_sweep
    copy = shutil.copytree(out, tmp_path / "copy")
    assert cli.main(SWEEP_ARGS + ["--out", str(copy)]) == 0  # every point done: nothing to train
    printed = capsys.readouterr().out
    assert "point  learning rate  seed  random: success rate" in printed  # plain words
    assert "4 points of xor_train (grid over" in printed
    assert cli.main(["run", "xor_train", "--smoke", "--out", str(copy)]) == 2  # not a plain folder
    assert "holds a sweep of experiment 'xor_train', not a run of" in capsys.readouterr().err
    (copy / "points" / "0003" / "summary.json").unlink()
    (copy / "summary.json").unlink()
    assert cli.main(["info", str(copy)]) == 0
    text = capsys.readouterr().out
    assert "points:     3 of 4 finished (grid over learning_rate, seed)" in text
    assert "complete:   no" in text and "partial  points/0003" in text


def test_plot_recreates_every_figure_of_a_sweep_and_report_writes_the_page(xor_sweep, tmp_path, capsys):
    out, _ = xor_sweep
    copy = shutil.copytree(out, tmp_path / "copy", ignore=shutil.ignore_patterns("compile_cache"))
    figures = sorted(copy.rglob("*.png"))
    assert len(figures) == 4
    for path in figures:
        path.unlink()
    assert cli.main(["plot", str(copy)]) == 0
    assert all(path.stat().st_size > 1000 for path in figures)
    assert cli.main(["report", str(copy)]) == 0
    assert capsys.readouterr().out.endswith(f"report written to {copy / 'report.html'}\n")
    assert (copy / "report.html").exists() and (copy / "points" / "0002" / "report.html").exists()
    assert cli.main(["report", str(tmp_path)]) == 2
    assert "is not a results folder" in capsys.readouterr().err


KILL_CONFIG = """experiment = "xor_train"
smoke = true
[config]
n_runs = 384
chunk_size = 64
steps = 20000
record_every = 1000
"""
"""6 chunks per start kind, each long enough (64 runs x 20,000 steps) to be killed in between."""


def _npz(folder):
    return {f"{p.relative_to(folder)}:{k}": v for p in sorted(folder.rglob("*.npz"))
            for k, v in np.load(p).items()}


def test_killed_run_resumes_bit_identical(tmp_path):
    toml = tmp_path / "kill.toml"
    toml.write_text(KILL_CONFIG)
    killed, clean = tmp_path / "killed", tmp_path / "clean"
    proc = subprocess.Popen([sys.executable, "-m", "landscape", "run", str(toml), "--out", str(killed),
                             "--no-progress"], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 120
        while not list((killed / "chunks").glob("*.npz")):
            assert proc.poll() is None, proc.stderr.read().decode()[-2000:]
            assert time.monotonic() < deadline, "no chunk was written within 120 s"
            time.sleep(0.002)
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.kill()
        proc.wait()
    done = {p: p.stat().st_mtime_ns for p in (killed / "chunks").glob("*.npz")}
    assert 1 <= len(done) < 12 and not (killed / "summary.json").exists()

    with persistent_compile_cache(tmp_path / "compile_cache"):  # the second run loads the programs
        assert cli.main(["run", str(toml), "--out", str(killed), "--no-progress"]) == 0
        assert cli.main(["run", str(toml), "--out", str(clean), "--no-progress"]) == 0
    assert {p: p.stat().st_mtime_ns for p in done} == done  # finished chunks were kept, not redone
    resumed, reference = _npz(killed), _npz(clean)
    assert resumed.keys() == reference.keys() and len(reference) > 12
    for name in reference:
        np.testing.assert_array_equal(resumed[name], reference[name], err_msg=name)

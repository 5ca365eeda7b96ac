"""``landscape run`` over several processes: the folder ends bit for bit as one process leaves it.

Local processes are joined by ``jax.distributed`` (coordinator on 127.0.0.1, a free port) by
``tests/scripts/cli_processes.py``. The four groups (3 processes running an experiment, 2
running a 4-point sweep, 2 of which one dies, 2 of which one never starts) start together once
per module, to pay the JAX starts once; the job-array shards (``--shard I/N``) need no ``jax.distributed`` and run in this
process.
"""

import importlib.util
import json
import os
import shutil
from pathlib import Path

import pytest

from landscape.lab import cli

from conftest import SWEEP_ARGS

EXPERIMENT_ARGS = ["run", "xor_train", "--smoke", "--no-progress", "--set", "n_runs=192",
                   "--set", "steps=200"]
"""The xor_train smoke config with 3 chunks per start kind (one per process of three)."""


def _load_script(name):
    path = Path(__file__).parent / "scripts" / f"{name}.py"
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


processes = _load_script("cli_processes")


def assert_same_folder(got: Path, want: Path) -> None:
    """Equal file lists (bookkeeping included: none may be left) and equal bytes."""
    files = lambda root: sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())  # noqa: E731
    assert files(got) == files(want)
    for name in files(want):
        assert (got / name).read_bytes() == (want / name).read_bytes(), name


@pytest.fixture(scope="module")
def groups(tmp_path_factory):
    """The three groups of processes, started together: ``{name: (folder, Processes)}``."""
    root = tmp_path_factory.mktemp("processes")
    started = {}
    for name, count, argv, dies, absent in (("experiment", 3, EXPERIMENT_ARGS, (), ()),
                                            ("sweep", 2, SWEEP_ARGS, (), ()),
                                            ("death", 2, EXPERIMENT_ARGS, (1,), ()),
                                            ("absent", 2, EXPERIMENT_ARGS, (), (1,))):
        logs = root / f"{name}_logs"
        logs.mkdir()
        # live processes on a loaded machine keep the default
        timeout = 5 if dies else 3 if absent else None
        started[name] = (root / name, processes.launch(count, root / name, argv, logs=logs, dies=dies,
                                                       absent=absent, peer_timeout=timeout))
    yield started
    for _, group in started.values():
        group.stop()


@pytest.fixture(scope="module")
def one_process(tmp_path_factory):
    """The experiment run by one process (this one)."""
    out = tmp_path_factory.mktemp("one") / "xor"
    assert cli.main(EXPERIMENT_ARGS + ["--out", str(out)]) == 0
    return out


def test_three_processes_write_the_experiment_folder_of_one(groups, one_process):
    folder, group = groups["experiment"]
    codes, texts = group.wait()
    assert codes == [0, 0, 0], texts
    assert "results written to" in texts[0]
    assert texts[1:] == [f"process {i} of 3: trained its share; process 0 printed the results, "
                         f"in {folder}\n" for i in (1, 2)]  # one line: no Gloo or C++ log lines
    assert len(list((folder / "chunks").iterdir())) == 6  # 3 chunks per start kind
    assert_same_folder(folder, one_process)
    logs = folder.parent / "experiment_logs"  # only process 0 ran the experiment (the analysis)
    assert sorted(p.name for p in logs.glob("analyses_*")) == ["analyses_0"]
    assert (logs / "analyses_0").read_text() == "run\n"
    # the 3 processes of this host share its cores; after joining each is JAX's process 0 of 1
    # (so it reads and writes the persistent compilation cache as one process does)
    cores = max(1, len(os.sched_getaffinity(0)) // 3)
    for i in range(3):
        assert (logs / f"devices_{i}").read_text() == f"{cores} devices, process 0 of 1\n"


def test_a_process_that_never_starts_is_named_in_one_line(groups):
    folder, group = groups["absent"]
    codes, texts = group.wait()
    assert codes == [2], texts
    assert texts[0] == ("landscape: error: processes [1] of 2 did not join within 3 s (not "
                        "started, or another --coordinator); nothing was run\n")
    assert not folder.exists()  # the mark of its arrival is gone with the folder made for it


def test_two_processes_write_the_sweep_folder_of_one(groups, xor_sweep):
    folder, group = groups["sweep"]
    codes, texts = group.wait()
    assert codes == [0, 0], texts
    assert "4 points of xor_train" in texts[0] and "4 points" not in texts[1]  # process 0 prints
    assert_same_folder(folder, xor_sweep[0])


def test_a_process_that_dies_is_named_and_the_run_resumes(groups, one_process, capsys):
    folder, group = groups["death"]
    codes, texts = group.wait()
    assert codes == [2, 9], texts
    last = texts[0].strip().splitlines()[-1]
    assert last.startswith("landscape: error: process 1 of 2 stopped (no sign of life for 5 s) "
                           "before writing its chunk chunks/random_0000"), texts[0]
    assert "Traceback" not in texts[0] and "Check failure" not in texts[0]
    assert cli.main(EXPERIMENT_ARGS + ["--out", str(folder)]) == 0  # one process resumes it
    assert_same_folder(folder, one_process)


def test_job_array_shards_split_a_sweep_and_the_last_gathers(xor_sweep, tmp_path, capsys):
    out = tmp_path / "array"
    assert cli.main(SWEEP_ARGS + ["--out", str(out), "--shard", "0/2"]) == 0
    printed = capsys.readouterr().out
    assert "shard 0/2: its points are done; points [1, 3] of shards [1] are not yet" in printed
    done = sorted(p.name for p in (out / "points").iterdir() if (p / "summary.json").exists())
    assert done == ["0000", "0002"] and not (out / "summary.json").exists()
    # shard 0 was killed during point 2: its summary and a chunk are lost; rerunning resumes it
    (out / "points" / "0002" / "summary.json").unlink()
    next((out / "points" / "0002" / "chunks").iterdir()).unlink()
    assert cli.main(SWEEP_ARGS + ["--out", str(out), "--shard", "0/2"]) == 0
    assert json.loads((out / "sweep.json").read_text())["points"][2]["status"] == "done"
    assert cli.main(SWEEP_ARGS + ["--out", str(out), "--shard", "1/2"]) == 0  # the last one
    assert "4 points of xor_train" in capsys.readouterr().out
    assert_same_folder(out, xor_sweep[0])


def test_report_gathers_a_sweep_whose_shards_all_finished(xor_sweep, tmp_path, capsys):
    out = Path(shutil.copytree(xor_sweep[0], tmp_path / "copy"))
    (out / "summary.json").unlink()
    assert cli.main(["report", str(out)]) == 0
    assert (out / "summary.json").read_bytes() == (xor_sweep[0] / "summary.json").read_bytes()


@pytest.mark.parametrize("shard, words", [
    ("2/2", "--shard '2/2': shard index 2 must be in [0, 2)"),
    ("0/0", "--shard '0/0': shard count 0 must be an integer >= 1"),
    ("-1/2", "--shard '-1/2': shard index -1 must be in [0, 2)"),
    ("a/b", "--shard 'a/b': expected I/N, e.g. 0/4"),
    ("1", "--shard '1': expected I/N, e.g. 0/4"),
])
def test_bad_shards_fail_in_one_line_before_any_write(tmp_path, capsys, shard, words):
    out = tmp_path / "never"
    assert cli.main(SWEEP_ARGS + ["--out", str(out), f"--shard={shard}"]) == 2
    assert capsys.readouterr().err == f"landscape: error: {words}\n"
    assert not out.exists()


@pytest.mark.parametrize("extra, words", [
    (["--shard", "0/2"], "--shard '0/2' splits a sweep's points"),
    (["--num-processes", "2"], "--coordinator, --process-id missing"),
    (["--coordinator", "h:1", "--num-processes", "2", "--process-id", "2"],
     "--process-id 2 must be in [0, 2)"),
])
def test_bad_process_options_fail_in_one_line(tmp_path, capsys, extra, words):
    out = tmp_path / "never"
    assert cli.main(EXPERIMENT_ARGS + ["--out", str(out)] + extra) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"landscape: error: {words}") and err.count("\n") == 1
    assert not out.exists()


@pytest.mark.parametrize("env, joined", [
    ({}, False),
    ({"JAX_COORDINATOR_ADDRESS": "host0:1234"}, True),
    ({"SLURM_JOB_ID": "7", "SLURM_STEP_NODELIST": "n[1-4]", "SLURM_NTASKS": "4", "SLURM_PROCID": "2",
      "SLURM_LOCALID": "0"}, True),
    ({"SLURM_JOB_ID": "7", "SLURM_STEP_NODELIST": "n1", "SLURM_NTASKS": "1", "SLURM_PROCID": "0",
      "SLURM_LOCALID": "0"}, False),                     # one task: nothing to join
    ({"SLURM_JOB_ID": "7", "SLURM_NTASKS": "4"}, False),  # not what JAX's SLURM detection needs
    ({"OMPI_COMM_WORLD_SIZE": "2"}, True),
])
def test_processes_are_detected_from_the_environment_as_jax_does(monkeypatch, env, joined):
    for name in ("JAX_COORDINATOR_ADDRESS", "OMPI_COMM_WORLD_SIZE", *cli._SLURM_VARIABLES):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    assert cli._launched_as_job() is joined


def test_team_bookkeeping_in_one_process(tmp_path, monkeypatch):
    """Heartbeats, a silent peer, and an outcome that every process reads before it is removed."""
    from landscape.lab import team as teams

    monkeypatch.setenv("LANDSCAPE_PEER_TIMEOUT", "0.5")
    zero, one = teams.Team(0, 2, "t"), teams.Team(1, 2, "t")
    with teams.heartbeat(tmp_path, one):
        assert (tmp_path / ".landscape" / "alive_1").exists()
        (tmp_path / "chunks").mkdir()
        (tmp_path / "chunks" / "a.npz").write_bytes(b"")
        teams.wait_for_files(tmp_path, zero, {"chunks/a.npz": 1})  # there: no wait
        with pytest.raises(teams.PeerLost, match=r"^process 0 of 2 stopped \(no sign of life for "
                                                 r"0.5 s\) before writing its file b.json; run the"):
            teams.wait_for_files(tmp_path, one, {"b.json": 0}, what="file")
        teams.write_outcome(tmp_path, one, 0)  # only process 0 writes an outcome
        assert not list((tmp_path / ".landscape").glob("outcome*"))
    assert not (tmp_path / ".landscape").exists()  # the last one out removes the folder
    with teams.heartbeat(tmp_path, zero), teams.heartbeat(tmp_path, one):
        (tmp_path / ".landscape" / "read-t_1").touch()  # process 1 has read it: no wait
        teams.write_outcome(tmp_path, zero, 2, "bad value")
        assert not (tmp_path / ".landscape").exists()
    with teams.heartbeat(tmp_path, zero):
        teams.write_outcome(tmp_path, zero, 2, "bad value")  # process 1 never read it: its
        assert not (tmp_path / ".landscape").exists()        # alive file is gone, so no wait


def test_a_nested_heartbeat_keeps_the_alive_file(tmp_path):
    from landscape.lab import team as teams

    one = teams.Team(1, 2, "t")
    with teams.heartbeat(tmp_path, one):
        with teams.heartbeat(tmp_path, one):  # train_resumable inside run_experiment
            pass
        assert (tmp_path / ".landscape" / "alive_1").exists()  # still about: process 0 waits
    assert not (tmp_path / ".landscape").exists()

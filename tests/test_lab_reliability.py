"""Issue 15, the application layer: provenance of every array file, validation before the first
write, JSON schema checks, paths confined to the results folder, no compiled code in results
folders, temp files and file modes."""

import json
import os
import shutil
import stat

import jax
import numpy as np
import pytest

from landscape.lab import cli
from landscape.lab.store import ResultsDir, StoreError
from landscape.lab.sweep import Sweep, run_sweep, user_compile_cache

SMALL = ["--set", "n_runs=64", "--set", "steps=20", "--set", "record_every=10",
         "--set", "chunk_size=32", "--no-progress"]


@pytest.fixture(autouse=True)
def _user_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))


def _run(capsys, *argv):
    code = cli.main(list(argv))
    err = capsys.readouterr().err
    return code, err


def _one_line_error(code, err, *words):
    assert code == 2, err
    assert err.count("\n") == 1 and "Traceback" not in err, err
    for word in words:
        assert word in err, (word, err)


@pytest.fixture
def run_dir(tmp_path, capsys):
    out = tmp_path / "r"
    assert cli.main(["run", "xor_train", "--smoke", "--out", str(out), *SMALL]) == 0
    capsys.readouterr()
    return out


# --- 1. provenance ---------------------------------------------------------------------------
def test_folder_without_config_json_is_not_adopted(run_dir, capsys):
    (run_dir / "config.json").unlink()
    code, err = _run(capsys, "run", "xor_train", "--smoke", "--out", str(run_dir), *SMALL,
                     "--set", "seed=1")
    _one_line_error(code, err, "no config.json")


def _unfinish(folder):
    for name in ("summary.json", "random.npz", "constant.npz"):
        (folder / name).unlink()


def test_swapped_chunks_are_refused_naming_the_file(run_dir, capsys):
    _unfinish(run_dir)
    a, b = run_dir / "chunks/random_00000.npz", run_dir / "chunks/random_00001.npz"
    tmp = run_dir / "swap"
    a.rename(tmp), b.rename(a), tmp.rename(b)
    code, err = _run(capsys, "run", "xor_train", "--smoke", "--out", str(run_dir), *SMALL)
    _one_line_error(code, err, "random_0000", "does not belong here")


def test_chunk_copied_from_another_config_is_refused(run_dir, tmp_path, capsys):
    other = tmp_path / "other"
    assert cli.main(["run", "xor_train", "--smoke", "--out", str(other), *SMALL, "--set", "seed=1"]) == 0
    _unfinish(run_dir)
    shutil.copy(other / "chunks/random_00001.npz", run_dir / "chunks/random_00001.npz")
    code, err = _run(capsys, "run", "xor_train", "--smoke", "--out", str(run_dir), *SMALL)
    _one_line_error(code, err, "random_00001.npz", "another config")


def test_info_refuses_swapped_result_arrays(run_dir, capsys):
    a, b = run_dir / "random.npz", run_dir / "constant.npz"
    tmp = run_dir / "swap"
    a.rename(tmp), b.rename(a), tmp.rename(b)
    code, err = _run(capsys, "info", str(run_dir))
    _one_line_error(code, err, ".npz", "written as")


def test_chunks_carry_their_provenance(run_dir):
    meta = ResultsDir(run_dir).read_provenance("chunks/random_00001")
    assert meta["runs"] == [32, 64] and meta["name"] == "chunks/random_00001"
    assert len(meta["config_hash"]) == 64 and meta["landscape"]
    assert "__provenance__" not in ResultsDir(run_dir).read_arrays("random")


# --- 2. validation before the first write ----------------------------------------------------
@pytest.mark.parametrize("assignment, key", [
    ("random_std=nan", "random_std"), ("seed=18446744073709551616", "seed"),
    ("n_runs=1000000000000", "n_runs"), ("steps=1000000000000", "steps"),
    ("hidden=100000000", "hidden"), ("learning_rate=1e300", "learning_rate"),
    ("constant=inf", "constant"), ("seed=-1", "seed")])
def test_bad_numbers_fail_naming_the_key_before_any_write(tmp_path, capsys, assignment, key):
    out = tmp_path / "r"
    code, err = _run(capsys, "run", "xor_train", "--smoke", "--out", str(out), "--set", assignment)
    _one_line_error(code, err, repr(key))
    assert not out.exists()
    if key == "hidden":
        assert "GiB" in err and "available" in err


# --- 3. schema checks ------------------------------------------------------------------------
@pytest.mark.parametrize("content", ["[]", "null", '"text"', "{}", '{"format": "landscape-results/1"}',
                                     '{"format": "landscape-results/1", "experiment": "xor_train", "config": []}'])
@pytest.mark.parametrize("command", ["info", "plot", "report"])
def test_config_json_of_the_wrong_shape(run_dir, capsys, content, command):
    (run_dir / "config.json").write_text(content)
    code, err = _run(capsys, command, str(run_dir))
    _one_line_error(code, err, "config.json")


def _small_sweep(path):
    """A finished 2-point xor_train sweep folder at ``path``."""
    return run_sweep("xor_train", path, smoke=True, progress=False, sweep=Sweep({"seed": [0, 1]}),
                     overrides={"n_runs": 64, "steps": 20, "record_every": 10})[1]


@pytest.fixture
def sweep_dir(tmp_path):
    return _small_sweep(tmp_path / "sweep")


@pytest.mark.parametrize("content", ["{}", "[]", '{"points": {}}', '{"points": [1]}',
                                     '{"points": [{"index": 0, "dir": 3, "overrides": {}}]}'])
@pytest.mark.parametrize("command", ["info", "plot", "report"])
def test_sweep_json_of_the_wrong_shape(sweep_dir, capsys, content, command):
    (sweep_dir / "sweep.json").write_text(content)
    code, err = _run(capsys, command, str(sweep_dir))
    _one_line_error(code, err, "sweep.json")


@pytest.mark.parametrize("content", ["[]", "null", '{"text": "x"}', '{"table": {"columns": []}}'])
def test_summary_json_of_the_wrong_shape(run_dir, capsys, content):
    (run_dir / "summary.json").write_text(content)
    for command in ("report", "info"):
        code, err = _run(capsys, command, str(run_dir))
        _one_line_error(code, err, "summary.json")


# --- 4. paths --------------------------------------------------------------------------------
def test_sweep_point_leaving_the_folder_is_refused(sweep_dir, tmp_path, capsys):
    index = json.loads((sweep_dir / "sweep.json").read_text())
    victim = tmp_path / "victim"
    shutil.copytree(sweep_dir / index["points"][0]["dir"], victim)
    index["points"][0]["dir"] = "../victim"
    (sweep_dir / "sweep.json").write_text(json.dumps(index))
    before = sorted(p.name for p in victim.iterdir())
    for command in ("plot", "report", "info"):
        code, err = _run(capsys, command, str(sweep_dir))
        _one_line_error(code, err, "../victim")
    assert sorted(p.name for p in victim.iterdir()) == before


def test_symlinked_image_leaving_the_folder_is_refused(run_dir, tmp_path, capsys):
    secret = tmp_path / "secret.png"
    secret.write_bytes(b"not yours")
    (run_dir / "loss_curves.png").unlink()
    (run_dir / "loss_curves.png").symlink_to(secret)
    code, err = _run(capsys, "report", str(run_dir))
    _one_line_error(code, err, "loss_curves.png")
    assert not (run_dir / "report.html").exists()


@pytest.mark.parametrize("name", ["../x", "/tmp/x", "a/../../x", ""])
def test_names_leaving_the_folder_are_refused(tmp_path, name):
    results = ResultsDir(tmp_path / "r")
    with pytest.raises(StoreError, match="leaves the results folder"):
        results.write_json(name, {})
    with pytest.raises(StoreError, match="leaves the results folder"):
        results.write_arrays(name, {"a": np.zeros(2)})
    assert not (tmp_path / "x.json").exists()


def test_empty_out_is_refused(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    code, err = _run(capsys, "run", "xor_train", "--smoke", "--out", "")
    _one_line_error(code, err, "non-empty")
    assert not list(tmp_path.glob("*.json"))
    for command in ("info", "plot", "report"):
        _one_line_error(*_run(capsys, command, ""))


# --- 5. no compiled code in results folders --------------------------------------------------
def _forget_compiled_programs():
    """Programs compiled by earlier tests of this worker live in memory and would not be
    compiled (or written to a cache) again."""
    import landscape.train.program
    landscape.train.program._compiled.cache_clear()
    jax.clear_caches()


def test_compile_cache_lives_in_the_user_cache(tmp_path, capsys):
    _forget_compiled_programs()
    sweep_dir = _small_sweep(tmp_path / "sweep")
    files = [p for p in sweep_dir.rglob("*") if p.is_file()]
    assert not [p for p in files if p.suffix not in (".json", ".npz", ".png")], files
    cache = user_compile_cache()
    assert cache.parent == tmp_path / "cache" / "landscape" and "jax-cache-" in cache.name
    assert any(cache.iterdir())
    # the command line uses it for a single run too
    shutil.rmtree(cache)
    _forget_compiled_programs()
    assert cli.main(["run", "xor_train", "--smoke", "--out", str(tmp_path / "one"), *SMALL]) == 0
    assert any(cache.iterdir())


# --- 6. temp files and modes -----------------------------------------------------------------
def test_temp_files_are_cleaned_and_files_get_the_umask_mode(run_dir, capsys):
    left = [run_dir / ".summary.json.abc123.tmp", run_dir / "chunks" / ".random_00000.npz.x.tmp"]
    for path in left:
        path.write_bytes(b"half a file")
    assert cli.main(["run", "xor_train", "--smoke", "--out", str(run_dir), *SMALL]) == 0
    assert not [p for p in left if p.exists()]
    old = os.umask(0o022)
    try:
        results = ResultsDir(run_dir)
        for path in (results.write_json("note", {"a": 1}), results.write_arrays("x", {"a": np.ones(2)})):
            assert stat.S_IMODE(path.stat().st_mode) == 0o644
        from landscape.lab.report import write_report
        assert stat.S_IMODE(write_report(run_dir).stat().st_mode) == 0o644
    finally:
        os.umask(old)

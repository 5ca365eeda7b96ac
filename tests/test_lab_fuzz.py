"""Property-based fuzzing of the command line (Hypothesis): over ``--set`` values of a config and
over damaged JSON files, every command either succeeds or exits 2 with one line on stderr that
names the key (or the file), never a traceback. In process (``cli.main``); the experiment's
``run`` is replaced by a stub, so only validation, binding and the folder I/O are exercised."""

import dataclasses
import json
import math
import shutil
import tempfile
from pathlib import Path

import pytest

hypothesis = pytest.importorskip("hypothesis")
from hypothesis import HealthCheck, given, settings, strategies as st  # noqa: E402

from landscape.lab import cli, experiment  # noqa: E402

KEYS = [f.name for f in dataclasses.fields(experiment.get_experiment("xor_train").config)] + ["bogus"]


def _toml(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return "nan" if math.isnan(value) else ("inf" if value > 0 else "-inf") if math.isinf(value) \
            else repr(value)
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, list):
        return "[" + ", ".join(_toml(v) for v in value) + "]"
    return str(value)


SCALARS = st.one_of(st.integers(-2**70, 2**70), st.integers(-3, 300), st.floats(),
                    st.sampled_from([0.0, 1e-300, 1e300, 3.5e38, 0.5, 2.0]), st.booleans(),
                    st.sampled_from(["mse", "half_sse", "", "x"]), st.text(max_size=5))
VALUES = st.one_of(SCALARS.map(_toml), st.lists(SCALARS, max_size=3).map(_toml),
                   st.text(alphabet="abc0123[]'\" .=", max_size=6))


@pytest.fixture
def stub_run(monkeypatch):
    real = experiment.get_experiment

    def get(name):
        exp = real(name)
        return dataclasses.replace(exp, run=lambda config, results, progress: {"text": ["ok"]},
                                   figures=None)
    monkeypatch.setattr(experiment, "get_experiment", get)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.dictionaries(st.sampled_from(KEYS), VALUES, min_size=1, max_size=3))
def test_fuzz_set_values(stub_run, capsys, assignments):
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "r"
        argv = ["run", "xor_train", "--smoke", "--out", str(out)]
        for key, text in assignments.items():
            argv += ["--set", f"{key}={text}"]
        code = cli.main(argv)
        err = capsys.readouterr().err
        if code == 0:
            assert (out / "summary.json").is_file()
            return
        assert code == 2, err
        assert err.count("\n") == 1 and "Traceback" not in err, err
        assert any(key in err for key in assignments), (assignments, err)
        assert not (out / "config.json").exists(), err  # nothing written before the error


JSON = st.recursive(st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False),
                              st.text(max_size=4)),
                    lambda inner: st.one_of(st.lists(inner, max_size=3),
                                            st.dictionaries(st.sampled_from(
                                                ["format", "experiment", "config", "versions", "smoke",
                                                 "points", "dir", "index", "overrides", "text", "table",
                                                 "columns", "rows", "mode", "values"]), inner, max_size=4)),
                    max_leaves=8)


@pytest.fixture(scope="module")
def folders(tmp_path_factory):
    from landscape.lab.sweep import Sweep, run_sweep

    root = tmp_path_factory.mktemp("fuzz")
    _, out = run_sweep("xor_train", root / "sweep", smoke=True, progress=False, compile_cache=False,
                       sweep=Sweep({"seed": [0]}),
                       overrides={"n_runs": 64, "steps": 20, "record_every": 10})
    return out


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(file=st.sampled_from(["config.json", "sweep.json", "summary.json", "points/0000/config.json",
                             "points/0000/summary.json"]),
       content=JSON, command=st.sampled_from(["info", "report", "plot"]))
def test_fuzz_damaged_json(folders, capsys, file, content, command):
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp) / "sweep"
        shutil.copytree(folders, work)
        (work / file).write_text(json.dumps(content))
        folder = work if not file.startswith("points") or command == "report" else work / "points/0000"
        code = cli.main([command, str(folder)])
        err = capsys.readouterr().err
        assert code in (0, 2), err
        if code == 2:
            assert err.count("\n") == 1 and "Traceback" not in err, err
            assert ".json" in err or "config" in err, err

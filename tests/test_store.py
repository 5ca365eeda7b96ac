"""Results folders: atomic JSON/npz, clear errors on corrupt or foreign files, resumable chunks."""

import json

import jax
import numpy as np
import optax
import pytest

import landscape as ls
from landscape.lab.resumable import result_arrays, result_from_arrays, train_resumable
from landscape.lab.store import ResultsDir, StoreError

MODEL = ls.mlp([2, 2, 1])
LOSS = ls.objectives.loss(MODEL, "mse")
INIT = ls.inits.normal(MODEL, 1.0)


def _plan(**overrides):
    kwargs = dict(key=jax.random.key(0), n_runs=10, steps=40, record_every=10, chunk_size=4,
                  trajectory_runs=[1, 6], success=ls.objectives.success(MODEL))
    kwargs.update(overrides)
    return ls.plan_training(LOSS, INIT, optax.sgd(0.5), ls.datasets.xor(), **kwargs)


def _assert_results_equal(a, b):
    assert result_arrays(a).keys() == result_arrays(b).keys()
    for name, arr in result_arrays(a).items():
        np.testing.assert_array_equal(arr, result_arrays(b)[name], err_msg=name)


def test_json_and_arrays_round_trip_without_temp_files(tmp_path):
    results = ResultsDir(tmp_path / "out")
    results.write_json("summary", {"a": np.float32(1.5), "b": [1, 2], "c": np.arange(2)})
    assert results.read_json("summary") == {"a": 1.5, "b": [1, 2], "c": [0, 1]}
    results.write_arrays("x", {"v": np.arange(3.0)})
    np.testing.assert_array_equal(results.read_arrays("x")["v"], np.arange(3.0))
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["summary.json", "x.npz"]


def test_corrupt_and_missing_files_raise_clear_errors(tmp_path):
    results = ResultsDir(tmp_path)
    (tmp_path / "summary.json").write_text("{not json")
    with pytest.raises(StoreError, match="summary.json' is not valid JSON"):
        results.read_json("summary")
    (tmp_path / "bad.npz").write_bytes(b"garbage")
    with pytest.raises(StoreError, match="bad.npz' is not a readable .npz"):
        results.read_arrays("bad")
    with pytest.raises(StoreError, match="missing.npz' does not exist"):
        results.read_arrays("missing")
    np.savez(tmp_path / "objects.npz", o=np.array([{"a": 1}], dtype=object))
    with pytest.raises(StoreError, match="objects.npz' is not a readable"):
        results.read_arrays("objects")  # pickled objects are refused
    (tmp_path / "file").write_text("")
    with pytest.raises(StoreError, match="exists and is not a folder"):
        ResultsDir(tmp_path / "file")


def test_bind_config_accepts_same_and_refuses_other_or_foreign(tmp_path):
    results = ResultsDir(tmp_path)
    config = {"experiment": "xor_train", "config": {"n_runs": 10, "lr": 0.5}, "versions": {"jax": "1"}}
    results.bind_config(config)
    results.bind_config({**config, "versions": {"jax": "2"}})  # versions may change
    with pytest.raises(StoreError, match=r"made by a different config \(config.lr: 0.5 \(folder\) vs 0.1"):
        results.bind_config({**config, "config": {"n_runs": 10, "lr": 0.1}})
    foreign = ResultsDir(tmp_path / "foreign")
    foreign.write_json("config", {"something": "else"})
    with pytest.raises(StoreError, match="not written by landscape"):
        foreign.bind_config(config)


def test_a_smoke_config_against_a_full_folder_is_one_short_line_saying_where_smoke_goes(tmp_path):
    results = ResultsDir(tmp_path)
    full = {"experiment": "xor_symmetry", "smoke": False, "config": {"eps": list(np.logspace(-10, -2, 16))}}
    results.bind_config(full)
    with pytest.raises(StoreError) as err:
        results.bind_config({**full, "smoke": True, "config": {"eps": [1e-3, 1e-2]}})
    message = str(err.value)
    assert "a --smoke run writes to results/NAME-smoke" in message and "\n" not in message
    assert len(message.replace(str(tmp_path), "")) < 300, message  # 16 values cut, not all printed
    with pytest.raises(StoreError) as err:  # full against full: no smoke hint
        results.bind_config({**full, "config": {"eps": [1e-3]}})
    assert "--smoke" not in str(err.value)


def test_result_round_trip_and_foreign_array_file(tmp_path):
    plan = _plan()
    result = ls.train_many(LOSS, INIT, optax.sgd(0.5), ls.datasets.xor(), key=jax.random.key(0),
                           n_runs=10, steps=40, record_every=10, trajectory_runs=[1, 6],
                           success=ls.objectives.success(MODEL))
    results = ResultsDir(tmp_path)
    results.write_arrays("r", result_arrays(result))
    like = jax.eval_shape(INIT, jax.random.key(0))
    _assert_results_equal(result, result_from_arrays(results.read_arrays("r"), like))
    results.write_arrays("other", {"v": np.zeros(2)})
    with pytest.raises(StoreError, match="lacks 'params/0'"):
        result_from_arrays(results.read_arrays("other"), like)
    assert plan.n_chunks == 3


def test_resume_after_interruption_is_bit_identical(tmp_path, monkeypatch):
    plan = _plan()
    uninterrupted = train_resumable(plan, ResultsDir(tmp_path / "a"), "run")

    calls = []
    original = type(plan).run_chunk

    def failing(self, c):
        calls.append(c)
        if c == 2:
            raise RuntimeError("simulated crash")
        return original(self, c)

    monkeypatch.setattr(type(plan), "run_chunk", failing)
    with pytest.raises(RuntimeError, match="simulated crash"):
        train_resumable(plan, ResultsDir(tmp_path / "b"), "run")
    assert calls == [0, 1, 2]
    assert sorted(p.name for p in (tmp_path / "b" / "chunks").iterdir()) == ["run_00000.npz", "run_00001.npz"]
    calls.clear()
    monkeypatch.setattr(type(plan), "run_chunk", lambda self, c: calls.append(c) or original(self, c))
    resumed = train_resumable(plan, ResultsDir(tmp_path / "b"), "run")
    assert calls == [2]  # finished chunks are loaded, not retrained
    _assert_results_equal(uninterrupted, resumed)
    _assert_results_equal(uninterrupted, ls.train_many(
        LOSS, INIT, optax.sgd(0.5), ls.datasets.xor(), key=jax.random.key(0), n_runs=10, steps=40,
        record_every=10, trajectory_runs=[1, 6], success=ls.objectives.success(MODEL)))


def test_chunk_of_wrong_size_is_refused(tmp_path):
    plan = _plan()
    results = ResultsDir(tmp_path)
    train_resumable(plan, results, "run")
    other = _plan(chunk_size=5)
    with pytest.raises(StoreError, match="holds 4 runs, expected 5"):
        train_resumable(other, results, "run")


def test_config_json_is_plain_json(tmp_path):
    results = ResultsDir(tmp_path)
    results.bind_config({"experiment": "e", "config": {"seed": 1}})
    data = json.loads((tmp_path / "config.json").read_text())
    assert data["experiment"] == "e" and data["config"] == {"seed": 1}

"""Sweeps: grid and zip points, validation before running, one compiled program per distinct
shape, resume after an interruption ending identical to an uninterrupted sweep."""

import json
import re
import shutil

import numpy as np
import optax
import pytest

import landscape as ls
from landscape.lab.experiment import get_experiment
from landscape.lab.store import StoreError
from landscape.lab.sweep import Sweep, is_sweep, point_statuses, run_sweep

GRID = [{"learning_rate": 0.5, "seed": 0}, {"learning_rate": 0.5, "seed": 1},
        {"learning_rate": 1.0, "seed": 0}, {"learning_rate": 1.0, "seed": 1}]


def test_grid_is_every_combination_first_key_slowest():
    assert Sweep({"learning_rate": [0.5, 1.0], "seed": [0, 1]}).points() == GRID


def test_zip_pairs_the_values_and_array_valued_keys_stay_whole():
    sweep = Sweep({"scales": [[0.5, 1.0], [2.0]], "seed": [3, 4]}, mode="zip")
    assert sweep.points() == [{"scales": [0.5, 1.0], "seed": 3}, {"scales": [2.0], "seed": 4}]
    assert Sweep.from_table({"mode": "zip", "seed": [1, 2]}).points() == [{"seed": 1}, {"seed": 2}]


@pytest.mark.parametrize("values, mode, message", [
    ({"seed": [0, 1]}, "cube", "sweep mode='cube' is not known; expected one of ('grid', 'zip')"),
    ({"seed": 3}, "grid", "sweep key 'seed' = 3 must be a non-empty list of values"),
    ({"seed": []}, "grid", "sweep key 'seed' = [] must be a non-empty list of values"),
    ({}, "grid", "a sweep needs at least one key"),
    ({"seed": [0, 1], "n_runs": [8]}, "zip", "a zip sweep needs lists of equal length, got lengths "
                                              "{'seed': 2, 'n_runs': 1}"),
])
def test_bad_sweeps_are_refused(values, mode, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        Sweep(values, mode)


def test_cli_style_assignments_must_be_lists():
    assert Sweep.parse_assignments(["seed=[0, 1]", "scales=[[1.0], [2.0, 3.0]]"]) == {
        "seed": [0, 1], "scales": [[1.0], [2.0, 3.0]]}
    with pytest.raises(ValueError, match=r"--sweep seed=3 must give a list of values"):
        Sweep.parse_assignments(["seed=3"])


def test_every_point_is_validated_before_any_runs(tmp_path):
    message = "sweep point 2 {'n_runs': 0}: config key 'n_runs' = 0 must be >= 1"
    with pytest.raises(ValueError, match=re.escape(message)):
        run_sweep("xor_train", tmp_path / "s", smoke=True, sweep=Sweep({"n_runs": [8, 16, 0]}))
    with pytest.raises(ValueError, match=r"sweep point 0 \{'n_run': 8\}: config key 'n_run' is not known"):
        run_sweep("xor_train", tmp_path / "s", smoke=True, sweep=Sweep({"n_run": [8]}))
    assert not (tmp_path / "s").exists()


def test_sweep_folder_index_and_summary(xor_sweep):
    out, _ = xor_sweep
    assert is_sweep(out) and not is_sweep(out / "points" / "0000")
    index = json.loads((out / "sweep.json").read_text())
    assert [p["overrides"] for p in index["points"]] == GRID
    assert [p["dir"] for p in index["points"]] == [f"points/{i:04d}" for i in range(4)]
    assert {p["status"] for p in index["points"]} == {"done"}
    for i, point in enumerate(GRID):  # each point's folder holds its own resolved config
        config = json.loads((out / "points" / f"{i:04d}" / "config.json").read_text())["config"]
        assert {k: config[k] for k in point} == point and config["n_runs"] == 128
    summary = json.loads((out / "summary.json").read_text())
    table = summary["table"]
    assert table["columns"][:3] == ["point", "learning_rate", "seed"]
    assert "starts.random.success_rate" in table["columns"] and len(table["rows"]) == 4
    headline = get_experiment("xor_train").headline
    assert table["columns"][3:] == list(headline)
    for i, point in enumerate(summary["points"]):
        own = json.loads((out / point["dir"] / "summary.json").read_text())
        for path in headline:  # every headline path names a key of the point's summary
            tree = own
            for key in path.split("."):
                tree = tree[key]
            assert point["headline"][path] == tree


def test_one_compilation_per_distinct_program(xor_sweep):
    """4 points (learning rate x seed) x 2 start kinds ask for 8 chunk programs; the learning
    rate is per-run data and the seed is in the key, so there are 2 distinct programs (one per
    start kind): 2 XLA compilations; the other requests reuse the program in memory (equal
    optimizers compare by value) or load it from the compile cache."""
    _, compiles = xor_sweep
    chunk = [counts for name, counts in compiles.items() if "_sharded_program" in name]
    assert len(chunk) == 1
    requests, hits = chunk[0]
    assert requests - hits == 2 and requests <= 8


def test_make_optimizer_per_run_learning_rate_is_bit_identical_to_plain_sgd():
    """The injected optimizer with per-run learning rates computes what optax.sgd(lr) does."""
    model = ls.mlp([2, 2, 1])
    loss_fn, data = ls.objectives.loss(model, "mse"), ls.datasets.xor()
    init_fn = ls.inits.normal(model, 1.0)
    opt = ls.train.make_optimizer("sgd", 1.0)
    assert opt is ls.train.make_optimizer("sgd", 1.0)
    mixed = ls.train_many(loss_fn, init_fn, opt, data, key=0, n_runs=64, steps=50, record_every=25,
                          hyperparams={"learning_rate": np.array([0.5] * 32 + [2.0] * 32)})
    plain = ls.train_many(loss_fn, init_fn, optax.sgd(2.0), data, key=0, n_runs=64, steps=50,
                          record_every=25)
    np.testing.assert_array_equal(mixed.losses[32:], plain.losses[32:])
    assert not np.any(mixed.losses[:32, -1] == plain.losses[:32, -1])  # those ran at 0.5


def _arrays(folder):
    out = {}
    for path in sorted(folder.rglob("*.npz")):
        with np.load(path) as npz:
            out.update({f"{path.relative_to(folder)}:{k}": npz[k] for k in npz.files})
    return out


def test_interrupted_sweep_resumes_and_ends_identical(xor_sweep, tmp_path):
    out, _ = xor_sweep
    copy = tmp_path / "copy"
    shutil.copytree(out, copy)
    # as if interrupted in point 2's second chunk of its constant start: point 3 never started
    shutil.rmtree(copy / "points" / "0003")
    point2 = copy / "points" / "0002"
    for name in ("summary.json", "constant.npz", "loss_curves.png", "chunks/constant_00001.npz"):
        (point2 / name).unlink()
    (copy / "summary.json").unlink()
    assert [p["status"] for p in point_statuses(copy)] == ["done", "done", "partial", "pending"]
    kept = [*(copy / "points" / "0000").rglob("*"), *(point2 / "chunks").iterdir()]
    finished = {p: p.stat().st_mtime_ns for p in kept}

    summary, _ = run_sweep("xor_train", copy, smoke=True, overrides={"n_runs": 128, "steps": 200},
                           sweep=Sweep({"learning_rate": [0.5, 1.0], "seed": [0, 1]}), progress=False)
    assert {p: p.stat().st_mtime_ns for p in kept} == finished  # finished work was not redone
    assert summary == json.loads((out / "summary.json").read_text())
    before, after = _arrays(out), _arrays(copy)
    assert before.keys() == after.keys() and len(before) > 40
    for name in before:
        np.testing.assert_array_equal(before[name], after[name], err_msg=name)


def test_folder_of_another_sweep_is_refused(xor_sweep):
    out, _ = xor_sweep
    with pytest.raises(StoreError, match="was made by a different config"):
        run_sweep("xor_train", out, smoke=True, overrides={"n_runs": 128, "steps": 200},
                  sweep=Sweep({"learning_rate": [0.5, 1.0], "seed": [0, 1]}, mode="zip"))

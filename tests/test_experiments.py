"""Every built-in experiment runs in its smoke configuration and writes a complete results folder;
experiment-specific checks assert the headline findings the smoke runs are small enough to show.

Each smoke run is an ordinary test that calls ``run_experiment`` in the test process (pytest-xdist
spreads the test files over the cores)."""

import json
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

from landscape.lab.experiment import (experiments, get_experiment,  # noqa: E402
                                      read_config_file, resolve_config, run_experiment)
from landscape.lab.resumable import result_arrays  # noqa: E402
from landscape.lab.store import ResultsDir  # noqa: E402
from landscape.lab.sweep import Sweep  # noqa: E402


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
    arrays = ResultsDir(out).read_arrays("constant")
    assert not np.any(arrays["gap"]) and not np.any(arrays["trajectory_gaps"])
    units = arrays["units"]  # (n_records, H, 4): the two units are the same at every record
    np.testing.assert_array_equal(units[:, 0], units[:, 1])
    assert any("learned XOR" in line for line in summary["text"])
    # the mechanism: the constant start's units get bit-identical error signals and updates at
    # every record, a random start's do not
    np.testing.assert_array_equal(arrays["deltas"][:, 0], arrays["deltas"][:, 1])
    np.testing.assert_array_equal(arrays["updates"][:, 0], arrays["updates"][:, 1])
    assert np.abs(arrays["deltas"]).max() > 1e-4  # a signal, not zeros
    rand = ResultsDir(out).read_arrays("random")
    assert np.all(np.abs(rand["deltas"][:, 0] - rand["deltas"][:, 1]).max(axis=1) > 0)
    assert np.all(np.abs(rand["updates"][:, 0] - rand["updates"][:, 1]).max(axis=1) > 0)


def _check_xor_invariance(summary, out):
    verdicts = summary["invariance"]["verdicts"]
    assert verdicts["sgd"] == "keeps it exactly" and verdicts["gradient_noise"] == "breaks the symmetry"
    codes = ResultsDir(out).read_arrays("invariance")["status"]
    assert codes.shape == (1, 2, 1) and codes[0, :, 0].tolist() == [0, 3]


def _check_encoder(summary, out):
    s = summary["problems"]["4-2-4"]
    random, constant = s["starts"]["random"], s["starts"]["constant"]
    assert random["succeeded"] > 0.9 * random["runs"]
    # the constant start: never learns, units bit-identical, loss at the equal-outputs limit 3/2
    assert constant["succeeded"] == 0 and constant["gap"]["exactly_zero"] == constant["runs"]
    assert s["constant_limit"] == 1.5 and abs(constant["final_loss"]["max"] - 1.5) < 1e-4
    # the binary hidden codes fall into exactly the 4!/(2! 2^2) = 3 classes modulo symmetry
    codes = s["codes"]
    assert codes["corner_classes"] == 3 and codes["classes"] == 3
    assert codes["binary"] > 0.8 * codes["learned"] and min(codes["class_sizes"]) > 5
    arrays = ResultsDir(out).read_arrays("4-2-4_constant")
    assert not np.any(arrays["gap"])


def _check_teacher_student_plateau(summary, out):
    eq = summary["equilibrium"]
    assert eq["kind"] == "critical_point" and eq["strict_saddle"] and eq["lambda_min_breaking"] < 0
    # plateau length grows like ln(1/eps) with the slope 1/ln(1 + lr|lambda|) of the linear
    # theory, whatever the direction of the perturbation
    for d in summary["directions"]:
        assert d["never_dropped"] == 0
        assert abs(d["slope_ratio"] - 1) < 0.02 and abs(d["gap_slope_ratio"] - 1) < 0.03
    unstable = summary["directions"][0]
    assert unstable["overlap"] > 0.999
    a = ResultsDir(out).read_arrays("plateau")
    assert np.all(np.diff(a["plateau_steps"], axis=1) < 0)  # larger eps, shorter plateau
    # small perturbations: until two e-folds of the gap's growth (the predicted slope, in steps)
    # before the plateau ends, the loss stays above 0.9 L* (0.9 L* -> 0.5 L* takes ~1.3 e-folds)
    small = a["eps"] <= a["fit_max_eps"]
    margin = 2 * float(a["predicted_slope"])
    before = a["record_steps"][None, :] < a["plateau_steps"][0][small][:, None] - margin
    assert np.all(a["losses"][0][small][before] > 0.9 * a["plateau_loss"])


def _check_surface_tour(summary, out):
    sym = summary["symmetric"]
    limit = sym["limit"]
    assert sym["equilibrium"]["kind"] == "trap_at_infinity" and sym["center_loss"] > limit
    # positive curvature inside the symmetric subspace, negative across it
    assert sym["min_symmetric_eigenvalue"] > 0 > sym["lambda"]
    q = sym["quadratic_check"]
    assert 0 < q["drop"] and abs(q["drop"] / q["predicted_drop"] - 1) < 0.1
    # swapping the two hidden units maps center + t d to center - t d: the slice is even
    assert sym["mirror_asymmetry"] < 1e-12
    # lower points lie outside the subspace: nothing inside goes below 1/6, the breaking slice does
    assert sym["symmetric_slice"]["min_loss"] > limit > sym["breaking_slice"]["min_loss"]
    paths = summary["minima"]["paths"]
    barrier = np.asarray(paths["barrier"])
    assert len(paths["names"]) == 3 and np.all(barrier[~np.eye(3, dtype=bool)] > 0)
    assert min(c["loss_mean"] for c in summary["minima"]["clusters"]) < 0.01  # XOR learned


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


def _check_xor_minima_census(summary, out):
    # every run is counted once (clustered, moving or diverged), each cluster's share lies in its
    # interval; the table and text name the share interval and the lowest-loss class
    arch = summary["architectures"]["sigmoid:2"]
    counts = arch["counts"]
    assert sum(counts.values()) == arch["runs"] == 2 * 128
    assert sum(c["runs"] for c in arch["clusters"]) == counts["clustered"]
    for c in arch["clusters"]:
        lo, hi = c["share_interval"]
        assert lo <= c["share"] <= hi
    assert summary["table"]["columns"][0] == "arch" and "share [95% CI]" in summary["table"]["columns"]
    assert any("lowest-loss class" in line for line in summary["text"])


CHECKS = {"xor_train": _check_xor_train, "xor_minima_census": _check_xor_minima_census,
          "xor_symmetry": _check_xor_symmetry, "xor_invariance": _check_xor_invariance, "encoder": _check_encoder, "teacher_student_plateau": _check_teacher_student_plateau,
          "surface_tour": _check_surface_tour, "init_scale_sweep": _check_init_scale_sweep,
          "escape_time": _check_escape_time, "parity_scaling": _check_parity_scaling}


@pytest.mark.parametrize("name", sorted(experiments()))
def test_smoke_run_writes_a_complete_results_folder(name, tmp_path):
    exp = experiments()[name]
    out = tmp_path / name
    summary, path = run_experiment(name, out, smoke=True, progress=False)
    summary = json.loads(json.dumps(summary))  # what a reader of summary.json gets
    assert Path(path) == out
    config = json.loads((out / "config.json").read_text())
    assert config["experiment"] == name and config["smoke"] is True
    assert json.loads((out / "summary.json").read_text()) == summary  # both through JSON
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
        # every figure has a one-sentence caption; figures.json lists them in the declared order
        listed = json.loads((out / "figures.json").read_text())["figures"]
        assert [f["name"] for f in listed] == [n for n in exp.captions if n in figures]
        assert {f["name"] for f in listed} == set(figures)
        for f in listed:
            assert f["caption"].endswith(".") and f["caption"].count(". ") == 0, f["name"]
            assert f["files"] == [f"{f['name']}.png"]
    # the headline: two plain sentences, the finding then why (printed before the table)
    finding, why = summary["headline"]
    assert why.startswith("Why: ") and not finding.startswith("Why")
    for sentence in (finding, why):
        assert sentence[:1].isupper() and sentence.endswith(".") and ". " not in sentence, sentence
    check = CHECKS.get(name)
    if check is not None:
        check(summary, out)
    _check_plans(exp, out)


def _check_plans(exp, out):
    """``exp.plans`` are the training phases ``run`` trained (another process of ``landscape run``
    trains its share of them): one chunk file per plan chunk, no other, each equal to the chunk
    the plan trains. (A phase that depends on an analysis would be run's alone: none yet.)"""
    plans = exp.plans(resolve_config(exp, smoke=True)) if exp.plans else {}
    chunks = sorted(p.name for p in (out / "chunks").glob("*.npz"))
    assert chunks == sorted(f"{tag}_{c:05d}.npz" for tag, plan in plans.items()
                            for c in range(plan.n_chunks))
    for tag, plan in plans.items():
        for c in range(plan.n_chunks):
            saved = ResultsDir(out).read_arrays(f"chunks/{tag}_{c:05d}")
            for key, array in result_arrays(plan.run_chunk(c)).items():
                np.testing.assert_array_equal(array, saved[key], err_msg=f"{tag}_{c}: {key}")


@pytest.mark.parametrize("name", sorted(experiments()))
def test_default_config_is_valid(name):
    """The full configs are too slow to run here, but they must at least pass their own checks."""
    exp = experiments()[name]
    assert resolve_config(exp) == exp.config


@pytest.mark.parametrize("name, overrides, key", [
    ("xor_train", {"n_runs": 0}, "n_runs"),
    ("xor_symmetry", {"saddle_steps": -1}, "saddle_steps"),
    ("xor_invariance", {"modes": ["fast", "jit"]}, "modes"),
    ("encoder", {"code_margin": 0.0}, "code_margin"),
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


# --- the TOML configs of experiments/ (one per research question) ----------------------------

CONFIGS = Path(__file__).resolve().parent.parent / "experiments"  # of the source checkout
TOML_FILES = sorted(CONFIGS.glob("*.toml"))


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
    readme = (CONFIGS / "README.md").read_text()
    absent = [name for name in experiments() if f"| `{name}` | [`{name}.toml`]" not in readme]
    assert not absent, f"experiments/README.md has no table row for {absent}"


def test_encoder_code_classes_of_the_24_corner_codings_of_4_2_4():
    """All 4! ways to put the 4 patterns on the square's corners fall into 4!/(2! 2^2) = 3 classes
    modulo the hidden units' permutations and flips, 8 codings each (the group acts freely); the
    class is which pattern sits opposite pattern 0."""
    import itertools

    import jax.numpy as jnp

    import landscape as ls
    from landscape.lab.experiments.encoder import code_classes, corner_classes

    corners = np.array([[0, 0], [0, 1], [1, 0], [1, 1]])
    perms = np.array(list(itertools.permutations(range(4))))
    bits = corners[perms]  # (24, 4 patterns, 2 units)
    model = ls.mlp([4, 2, 4])
    params = [{"w": jnp.asarray(4.0 * (2 * bits - 1), jnp.float32), "b": jnp.zeros((24, 2))},
              {"w": jnp.ones((24, 2, 4)), "b": jnp.zeros((24, 4))}]
    code, margin = code_classes(model, params, np.eye(4, dtype=np.float32))
    np.testing.assert_array_equal(margin, 4.0)
    _, counts = np.unique(code, return_counts=True)
    assert corner_classes(4, 2) == 3 and sorted(counts) == [8, 8, 8]
    opposite = np.array([np.flatnonzero(np.all(b == 1 - b[0], axis=1))[0] for b in bits])
    for a in range(24):
        for b in range(24):
            assert (code[a] == code[b]) == (opposite[a] == opposite[b])


def test_teacher_student_plateau_crossing_is_exact_for_exponential_decay():
    from landscape.lab.experiments.teacher_student_plateau import crossing_steps, fit_slope

    steps = np.arange(0, 101, 10)
    losses = np.stack([np.exp(-steps / 10.0), np.exp(-steps / 20.0), np.ones(steps.size)])
    np.testing.assert_allclose(crossing_steps(steps, losses, np.exp(-2.5)), [25.0, 50.0, -1.0])
    eps = np.logspace(-8, -2, 7)
    slope, intercept = fit_slope(eps, 3.0 + 40.0 * np.log(1 / eps), 1e-3)
    assert abs(slope - 40.0) < 1e-9 and abs(intercept - 3.0) < 1e-7
    assert fit_slope(eps, np.full(7, -1.0), 1e-3) == (None, None)


def test_default_job_prints_its_headline_first(tmp_path, capsys):
    """``landscape run --smoke``: finding, why and what to open next come before the table."""
    from landscape.lab.cli import main

    out = tmp_path / "sym"
    assert main(["run", "--smoke", "--no-progress", "--out", str(out)]) == 0
    lines = capsys.readouterr().out.splitlines()
    summary = json.loads((out / "summary.json").read_text())
    assert lines[:2] == summary["headline"]
    assert lines[0].startswith("The constant 0.5 start learned XOR in 0 of 128 runs; the random "
                               "N(0, 0.5^2) start in 68.8%")
    assert lines[2].startswith(f"Next: landscape report {out}")
    assert lines[4].split() == summary["table"]["columns"][:1] + ["runs"] + \
        summary["table"]["columns"][2].split() + " ".join(summary["table"]["columns"][3:]).split()


@pytest.mark.parametrize("name, overrides, key", [
    ("surface_tour", {"plane_points": 100_000}, "plane_points"),
    ("init_scale_sweep", {"runs_per_scale": 1_000_000_000}, "runs_per_scale"),
    ("teacher_student_plateau", {"n_samples": 1_000_000_000}, "n_samples"),
    ("escape_time", {"n_directions": 1_000_000_000}, "n_directions"),
    ("xor_minima_census", {"architectures": ("sigmoid:1000000000",)}, "architectures"),
    ("xor_invariance", {"hidden": 1_000_000_000}, "hidden"),
])
def test_absurd_sizes_not_set_by_n_runs_are_refused_before_any_write(name, overrides, key, tmp_path):
    """Grids, widths and run counts other than ``n_runs`` count in the memory check too."""
    out = tmp_path / name
    with pytest.raises(ValueError, match=rf"config key '{key}' = .* needs about [\d.]+ [GTP]iB of memory"):
        run_experiment(name, out, smoke=True, progress=False, overrides=overrides)
    assert not out.exists()

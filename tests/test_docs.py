"""The documentation runs: the tutorial in quick mode states its key findings and writes its
figures, and every ``python`` block of README.md executes (so the examples cannot rot)."""

import importlib.util
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
TUTORIAL = ROOT / "docs" / "tutorial.py"
TUTORIAL_FIGURES = ("tutorial_loss", "tutorial_gap", "tutorial_equilibrium", "tutorial_surface",
                    "tutorial_census")
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
MAX_FIGURE_BYTES = 160_000
"""Committed figures stay small (the repository carries them)."""
SCRIPT_TIMEOUT = 600  # seconds for the tutorial's quick run; generous for a loaded 2-core machine


def _readme_examples():
    path = ROOT / "docs" / "readme_examples.py"
    spec = importlib.util.spec_from_file_location("readme_examples", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _is_png(path: Path) -> bool:
    return path.is_file() and path.read_bytes()[:8] == PNG_MAGIC


def test_tutorial_quick_run_prints_its_findings_and_writes_its_figures(tmp_path):
    """The README's command, verbatim but for OUT, run from the repository root."""
    assert ".venv/bin/python docs/tutorial.py OUT --quick" in (ROOT / "README.md").read_text()
    out = tmp_path / "figures"
    done = subprocess.run([sys.executable, "docs/tutorial.py", str(out), "--quick"], cwd=ROOT,
                          env={**os.environ, "MPLBACKEND": "Agg"}, capture_output=True, text=True,
                          timeout=SCRIPT_TIMEOUT)
    assert done.returncode == 0, done.stderr[-3000:]
    text = done.stdout
    for name in TUTORIAL_FIGURES:
        assert _is_png(out / f"{name}.png"), f"{name}.png missing from {sorted(os.listdir(out))}"
    found = re.search(r"KEY FINDING: constant start learned XOR in (\d+) of (\d+) runs; "
                      r"random start in (\d+) of (\d+) runs", text)
    assert found, text[-3000:]
    const, n_const, rand, n_rand = map(int, found.groups())
    assert const == 0 and n_const > 0
    assert 0 < rand <= n_rand
    # every constant-start run kept its hidden units bit-identical; no random-start run did
    assert f"constant 0.5: symmetry gap exactly 0 in {n_const} of {n_const} runs" in text
    assert f"symmetry gap exactly 0 in 0 of {n_rand} runs" in text
    assert "trap at infinity" in text


ANY_MODEL = ROOT / "docs" / "any_model.py"


def test_any_model_quick_run_analyses_equinox_and_flax_networks(tmp_path):
    done = subprocess.run([sys.executable, str(ANY_MODEL), str(tmp_path), "--quick"], cwd=tmp_path,
                          env={**os.environ, "MPLBACKEND": "Agg"}, capture_output=True, text=True,
                          timeout=SCRIPT_TIMEOUT)
    assert done.returncode == 0, done.stderr[-3000:]
    text = done.stdout
    runs = re.search(r"Equinox MLP, constant 0.5: symmetry gap exactly 0 in (\d+) of (\d+) runs", text)
    assert runs and runs.group(1) == runs.group(2), text[-3000:]
    assert re.search(r"Equinox MLP, random .*: symmetry gap exactly 0 in 0 of \d+ runs", text)
    cnn = re.search(r"Flax CNN, constant 0.1: symmetry gap exactly 0 in (\d+) of (\d+) runs", text)
    assert cnn and cnn.group(1) == cnn.group(2), text[-3000:]
    assert re.search(r"Flax CNN, random .*: symmetry gap exactly 0 in 0 of \d+ runs", text)
    assert re.search(r"Equinox MLP census: \d+ clusters", text)
    assert "Hessian eigenvalues" in text and "filter-normalized plane" in text
    for name in ("any_model_equinox_slice", "any_model_cnn_slice"):
        assert _is_png(tmp_path / f"{name}.png")


def test_python_blocks_are_extracted_in_order_and_only_python():
    ex = _readme_examples()
    text = "intro\n```python\na = 1\n```\n```bash\nrm -rf /\n```\n```python\nb = a + 1\n```\n"
    assert ex.python_blocks(text) == ["a = 1\n", "b = a + 1\n"]
    namespace = ex.run_blocks(ex.python_blocks(text), Path.cwd())
    assert namespace["b"] == 2


def test_every_readme_python_block_runs(tmp_path):
    ex = _readme_examples()
    blocks = ex.python_blocks((ROOT / "README.md").read_text())
    cwd = Path.cwd()
    gap = ex.run_blocks(blocks, tmp_path / "readme")["gap"]
    assert len(blocks) >= 3  # the plotting example, the API example and the analysis example
    assert Path.cwd() == cwd  # the working directory is restored
    # the figures the README shows are the ones its examples save
    readme = (ROOT / "README.md").read_text()
    for name in re.findall(r'savefig\("([\w.]+\.png)"', readme):
        assert _is_png(tmp_path / "readme" / name), name
        assert f"docs/images/{name}" in readme
        assert _is_png(ROOT / "docs" / "images" / name), f"docs/images/{name} is not committed"
    assert np.size(gap) > 0 and not np.any(gap)  # constant start: all units equal


def test_readme_figures_are_committed_small_and_none_is_stale():
    readme = (ROOT / "README.md").read_text()
    linked = set(re.findall(r"\]\(docs/images/([\w.-]+\.png)\)", readme))
    assert {"tutorial_loss.png", "cli_xor_train_loss_curves.png"} <= linked
    for name in linked:
        path = ROOT / "docs" / "images" / name
        assert _is_png(path), f"{path} is linked from README.md but missing"
        assert path.stat().st_size < MAX_FIGURE_BYTES, f"{path} is {path.stat().st_size} bytes"
    committed = {p.name for p in (ROOT / "docs" / "images").iterdir()}
    assert committed == linked | {f"{name}.png" for name in TUTORIAL_FIGURES}

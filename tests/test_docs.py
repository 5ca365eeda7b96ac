"""The documentation runs: the tutorial in quick mode states its key findings and writes its
figures, and every ``python`` block of README.md executes (so the examples cannot rot)."""

import importlib.util
import json
import os
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TUTORIAL = ROOT / "docs" / "tutorial.py"
TUTORIAL_FIGURES = ("tutorial_loss", "tutorial_gap", "tutorial_equilibrium", "tutorial_surface",
                    "tutorial_census")
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
MAX_FIGURE_BYTES = 160_000
"""Committed figures stay small (the repository carries them)."""


def _readme_examples():
    path = ROOT / "docs" / "readme_examples.py"
    spec = importlib.util.spec_from_file_location("readme_examples", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _is_png(path: Path) -> bool:
    return path.is_file() and path.read_bytes()[:8] == PNG_MAGIC


README_SCRIPT = """import importlib.util, json, sys
from pathlib import Path
spec = importlib.util.spec_from_file_location("readme_examples", sys.argv[1])
ex = importlib.util.module_from_spec(spec)
spec.loader.exec_module(ex)
blocks = ex.python_blocks(Path(sys.argv[2]).read_text())
cwd = Path.cwd()
gap = ex.run_blocks(blocks, sys.argv[3])["gap"]
print("RESULT " + json.dumps({"blocks": len(blocks), "cwd_restored": Path.cwd() == cwd,
                              "gap_zero": int((gap == 0).sum()), "gap_size": int(gap.size)}))
"""
"""Runs README.md's python blocks with ``docs/readme_examples.py`` in a folder; prints what the
test checks: the block count, that the working directory was restored, the constant start's gaps."""


def background_job(item, folder):
    """The tutorial's quick run (figures in ``folder/figures``) and the README's examples (run in
    ``folder/readme``), started in the background when the session starts (conftest.py)."""
    if item.originalname == "test_tutorial_quick_run_prints_its_findings_and_writes_its_figures":
        return "tutorial", [sys.executable, str(TUTORIAL), str(folder / "figures"), "--quick"]
    if item.originalname == "test_every_readme_python_block_runs":
        return "readme", [sys.executable, "-c", README_SCRIPT, str(ROOT / "docs" / "readme_examples.py"),
                          str(ROOT / "README.md"), str(folder / "readme")]
    return None


def test_tutorial_quick_run_prints_its_findings_and_writes_its_figures(background):
    code, text, stderr, folder = background.result("tutorial")  # PYTHONPATH=ROOT, MPLBACKEND=Agg
    assert code == 0, stderr[-3000:]
    out = folder / "figures"
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


def test_python_blocks_are_extracted_in_order_and_only_python():
    ex = _readme_examples()
    text = "intro\n```python\na = 1\n```\n```bash\nrm -rf /\n```\n```python\nb = a + 1\n```\n"
    assert ex.python_blocks(text) == ["a = 1\n", "b = a + 1\n"]
    namespace = ex.run_blocks(ex.python_blocks(text), Path.cwd())
    assert namespace["b"] == 2


def test_every_readme_python_block_runs(background):
    code, stdout, stderr, folder = background.result("readme")
    assert code == 0, stderr[-3000:]
    line = [ln for ln in stdout.splitlines() if ln.startswith("RESULT ")][-1]
    got = json.loads(line[len("RESULT "):])
    assert got["blocks"] >= 3  # the plotting example, the API example and the analysis example
    assert got["cwd_restored"]  # the working directory is restored
    # the figures the README shows are the ones its examples save
    readme = (ROOT / "README.md").read_text()
    for name in re.findall(r'savefig\("([\w.]+\.png)"', readme):
        assert _is_png(folder / "readme" / name), name
        assert f"docs/images/{name}" in readme
        assert _is_png(ROOT / "docs" / "images" / name), f"docs/images/{name} is not committed"
    assert got["gap_zero"] == got["gap_size"] > 0  # constant start: all units equal


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

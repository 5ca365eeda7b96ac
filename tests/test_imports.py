"""Imports flow one way (DESIGN.md): read every module's imports with ast and check the edges."""

import ast
import subprocess
import sys
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "landscape"
MATPLOTLIB_ALLOWED = {"cli", "experiment", "plotting"}


def _imports(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # relative: from .x import y / from . import x
                base = node.module or ""
                names.update(f"landscape.{base}".rstrip(".") + ("" if base else f".{a.name}")
                             for a in node.names)
            elif node.module:
                names.add(node.module)
    return names


def _library_modules():
    return [p for p in PACKAGE.glob("*.py")]


def test_nothing_in_the_library_imports_cli():
    for path in _library_modules():
        if path.stem in ("cli", "__main__"):
            continue
        assert not any(n == "landscape.cli" or n.endswith(".cli") for n in _imports(path)), path.name


def test_only_plotting_cli_and_experiment_import_matplotlib():
    for path in _library_modules():
        if path.stem in MATPLOTLIB_ALLOWED:
            continue
        assert not any(n.split(".")[0] == "matplotlib" for n in _imports(path)), path.name


def test_import_landscape_does_not_load_matplotlib():
    code = "import sys, landscape; print('matplotlib' in sys.modules)"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "False"

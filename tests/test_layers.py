"""The package's architecture rules, read from the source with ``ast`` (docs/design.md).

Every ``landscape/**/*.py`` is parsed; every ``import`` in it (at module level or inside a
function) is an edge from its module to the imported one. The rules:

(a) imports flow one way: lab -> analyses -> training -> core. Analyses may import each other;
    ``landscape/__init__.py`` may import every library layer but not lab.
(b) no module imports another module's private name (``from x import _y``, or ``m._y`` on an
    imported module ``m``), except from ``landscape._checks`` and ``landscape._tree``, and except
    between files of the same subpackage (``landscape/X/*.py``).
(c) no file over ``MAX_LINES`` lines, unless ``LONG_FILES`` lists it with a reason.
(d) no ``matplotlib.use`` and no ``pyplot`` anywhere in ``landscape/``; matplotlib itself only in
    plotting and lab.
(e) ``import landscape`` loads neither matplotlib nor an optional framework (flax, equinox).

The layers are given by module-name prefixes (``LAYERS``), so a new module lands in a layer by
its name, and a module no prefix matches fails :func:`test_every_module_belongs_to_a_layer`.
"""

from __future__ import annotations

import ast
import functools
import json
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path


PACKAGE = Path(__file__).resolve().parent.parent / "landscape"
ROOT_NAME = "landscape"

# ----------------------------------------------------------------------------- the rules

LAB, ANALYSES, TRAINING, CORE = 3, 2, 1, 0
LAYER_NAMES = {LAB: "lab", ANALYSES: "analyses", TRAINING: "training", CORE: "core"}
LAYERS = {
    LAB: ("landscape.lab", "landscape.__main__"),
    ANALYSES: ("landscape.curvature", "landscape.symmetry", "landscape.surface", "landscape.minima",
               "landscape.stats", "landscape.problems", "landscape.plotting"),
    TRAINING: ("landscape.train",),
    CORE: ("landscape.models", "landscape.inits", "landscape.datasets", "landscape.objectives",
           "landscape.parallel", "landscape.status", "landscape.units", "landscape.layer_order",
           "landscape._checks", "landscape._tree"),
}
"""Layer -> module-name prefixes: a prefix matches the module itself and its submodules
(``landscape.train`` matches ``landscape.train.plan``, not ``landscape.trainer``)."""

SHARED_PRIVATE = ("landscape._checks", "landscape._tree")
"""The shared core, whose names every module may import (the modules' names start with ``_``)."""

MAX_LINES = 800
LONG_FILES: dict[str, str] = {}
"""Files (relative to ``landscape/``) allowed over ``MAX_LINES`` lines -> why (docs/design.md says
the same)."""

MATPLOTLIB_ALLOWED = (LAYERS[LAB] + ("landscape.plotting",))
"""Modules that may import matplotlib (inside functions: ``import landscape`` must not load it)."""

NOT_LOADED_BY_IMPORT = ("matplotlib", "flax", "equinox")

# ----------------------------------------------------------------------------- reading the source


@dataclass(frozen=True)
class Edge:
    """An import of ``target`` (a module, or a name in one) in ``module``, line ``line``."""
    module: str
    target: str
    line: int

    def __str__(self):
        return f"{self.module} (line {self.line}) imports {self.target}"


@dataclass(frozen=True)
class Source:
    path: Path
    module: str  # dotted name: landscape.x, landscape.x.y, landscape.x (for x/__init__.py)
    package: str  # the package relative imports resolve against
    tree: ast.Module
    n_lines: int

    @property
    def relative(self) -> str:
        return self.path.relative_to(PACKAGE).as_posix()

    @property
    def subpackage(self) -> str | None:
        """``landscape.X`` for a file inside ``landscape/X/``; None for a top-level file."""
        parts = self.path.relative_to(PACKAGE).parts
        return f"{ROOT_NAME}.{parts[0]}" if len(parts) > 1 else None


def _source(path: Path) -> Source:
    parts = list(path.relative_to(PACKAGE).with_suffix("").parts)
    is_package = parts[-1] == "__init__"
    if is_package:
        parts = parts[:-1]
    module = ".".join([ROOT_NAME, *parts])
    package = module if is_package else module.rpartition(".")[0]
    text = path.read_text()
    return Source(path, module, package, ast.parse(text, str(path)), len(text.splitlines()))


@functools.cache
def sources() -> tuple[Source, ...]:
    found = tuple(_source(p) for p in sorted(PACKAGE.rglob("*.py")))
    assert len(found) > 10, f"no sources found under {PACKAGE}"
    return found


def _absolute(source: Source, node: ast.ImportFrom) -> str:
    """The module a ``from ... import`` names, with relative imports resolved."""
    if not node.level:
        return node.module
    base = source.package.split(".")
    base = base[:len(base) - (node.level - 1)]
    return ".".join(base + ([node.module] if node.module else []))


def imports(source: Source) -> list[Edge]:
    """Every import of ``source``: ``import a.b`` gives ``a.b``; ``from a import b`` gives
    ``a.b`` (``b`` may be a module or a name in ``a``)."""
    edges = []
    for node in ast.walk(source.tree):
        if isinstance(node, ast.Import):
            edges += [Edge(source.module, alias.name, node.lineno) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = _absolute(source, node)
            edges += [Edge(source.module, f"{base}.{alias.name}", node.lineno)
                      for alias in node.names if alias.name != "*"]
    return edges


def _bound_modules(source: Source) -> dict[str, str]:
    """Local names bound to ``landscape`` modules by the imports of ``source`` -> module name:
    ``import landscape as ls`` -> ``{"ls": "landscape"}``, ``from landscape import train`` ->
    ``{"train": "landscape.train"}`` (names that are not modules resolve to ``landscape.x.name``,
    which is harmless: only private segments are looked at)."""
    bound = {}
    for node in ast.walk(source.tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.split(".")[0] == ROOT_NAME:
                    if alias.asname:
                        bound[alias.asname] = alias.name
                    else:
                        bound[ROOT_NAME] = ROOT_NAME
        elif isinstance(node, ast.ImportFrom):
            base = _absolute(source, node)
            if base.split(".")[0] == ROOT_NAME:
                for alias in node.names:
                    bound[alias.asname or alias.name] = f"{base}.{alias.name}"
    return bound


def _dotted(node: ast.AST) -> list[str] | None:
    """``a.b.c`` -> ``["a", "b", "c"]``; None for anything but a chain of names."""
    parts = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if isinstance(node, ast.Name):
        return [node.id, *reversed(parts)]
    return None


def attribute_uses(source: Source) -> list[Edge]:
    """``m.x.y`` where ``m`` is a local name bound to a landscape module: the edge to
    ``<module of m>.x.y`` (only the longest chain of each expression)."""
    bound = _bound_modules(source)
    edges, inner = [], set()
    for node in ast.walk(source.tree):
        if isinstance(node, ast.Attribute) and id(node) not in inner:
            parts = _dotted(node)
            value = node.value
            while isinstance(value, ast.Attribute):
                inner.add(id(value))
                value = value.value
            if parts and parts[0] in bound:
                edges.append(Edge(source.module, ".".join([bound[parts[0]], *parts[1:]]),
                                  node.lineno))
    return edges


def layer(module: str) -> int | None:
    for level, prefixes in LAYERS.items():
        if any(module == p or module.startswith(p + ".") for p in prefixes):
            return level
    return None


NAMEDTUPLE_API = frozenset({"_replace", "_asdict", "_fields", "_make", "_field_defaults"})
"""Public despite the underscore (``collections.namedtuple``'s methods)."""


def _is_private(name: str) -> bool:
    return (name.startswith("_") and not (name.startswith("__") and name.endswith("__"))
            and name not in NAMEDTUPLE_API)


def private_violation(source: Source, target: str) -> str | None:
    """The private part of ``target`` that ``source`` may not reach, or None.

    ``target`` is a dotted landscape name; each private segment (``_x``, not ``__x__``) is
    checked against the part before it (its owner): allowed when the owner is ``source`` itself,
    a module of ``source``'s own subpackage, or one of ``SHARED_PRIVATE`` (or the segment names
    one of them)."""
    parts = target.split(".")
    if parts[0] != ROOT_NAME:
        return None
    for i in range(1, len(parts)):
        if not _is_private(parts[i]):
            continue
        owner, reached = ".".join(parts[:i]), ".".join(parts[:i + 1])
        if reached in SHARED_PRIVATE or owner in SHARED_PRIVATE or owner == source.module:
            continue
        own = source.subpackage
        if own is not None and (owner == own or owner.startswith(own + ".")):
            continue
        return reached
    return None


# ----------------------------------------------------------------------------- (a) layers

def test_every_module_belongs_to_a_layer():
    unplaced = [s.module for s in sources() if s.module != ROOT_NAME and layer(s.module) is None]
    assert not unplaced, f"modules no prefix of LAYERS matches (add them to a layer): {unplaced}"


def test_imports_flow_from_lab_to_analyses_to_training_to_core():
    wrong = []
    for source in sources():
        if source.module == ROOT_NAME:
            continue  # the package __init__: test_package_init_imports_no_lab
        here = layer(source.module)
        for edge in imports(source):
            there = layer(edge.target)
            if here is not None and there is not None and there > here:
                wrong.append(f"{edge} ({LAYER_NAMES[here]} -> {LAYER_NAMES[there]})")
    assert not wrong, "imports against the layer order:\n" + "\n".join(wrong)


def test_package_init_imports_no_lab():
    init = next(s for s in sources() if s.module == ROOT_NAME)
    wrong = [str(e) for e in imports(init) + attribute_uses(init) if layer(e.target) == LAB]
    assert not wrong, wrong


def test_library_imports_no_application_module():
    """The library (every layer but lab) imports none of the application modules, wherever they
    live today (flat or in ``landscape.lab``)."""
    application = LAYERS[LAB] + tuple(f"landscape.{m}" for m in
                                      ("cli", "store", "experiment", "experiments", "sweep", "report"))

    def is_app(name):
        return any(name == p or name.startswith(p + ".") for p in application)

    wrong = [str(e) for s in sources() if not is_app(s.module)
             for e in imports(s) if is_app(e.target)]
    assert not wrong, "library modules importing the application:\n" + "\n".join(wrong)


def test_layer_rule_reads_imports_correctly():
    """The reader itself: relative imports resolve, prefixes match whole name parts, the
    private-name rule allows the shared core and the own subpackage only."""
    src = Source(PACKAGE / "surface" / "slices.py", "landscape.surface.slices", "landscape.surface",
                 ast.parse("from . import _grid\nfrom ..train import plan\nfrom .. import _checks\n"
                           "from landscape.minima import _align\nimport landscape as ls\n"
                           "ls.curvature._check_x\nls._tree.batch_norms\n"), 7)
    assert [e.target for e in imports(src)] == [
        "landscape.surface._grid", "landscape.train.plan", "landscape._checks",
        "landscape.minima._align", "landscape"]
    assert [e.target for e in attribute_uses(src)] == ["landscape.curvature._check_x",
                                                      "landscape._tree.batch_norms"]
    assert [private_violation(src, e.target) for e in imports(src) + attribute_uses(src)] == [
        None, None, None, "landscape.minima._align", None, "landscape.curvature._check_x", None]
    assert layer("landscape.train.plan") == TRAINING and layer("landscape.trainer") is None
    assert layer("landscape.__main__") == LAB and layer("landscape.lab.experiments.x") == LAB
    flat = Source(PACKAGE / "store.py", "landscape.store", "landscape", ast.parse(""), 0)
    assert private_violation(flat, "landscape.store._atomic") is None  # its own name
    assert private_violation(flat, "landscape.report._atomic") == "landscape.report._atomic"
    assert private_violation(flat, "landscape.train.TrainResult._fields") is None  # namedtuple API
    assert private_violation(flat, "landscape.train._progress.bar") == "landscape.train._progress"
    inner = Source(PACKAGE / "train" / "plan.py", "landscape.train.plan", "landscape.train",
                   ast.parse(""), 0)
    assert private_violation(inner, "landscape.train._progress.bar") is None  # own subpackage


# ----------------------------------------------------------------------------- (b) private names


def test_no_module_imports_another_modules_private_names():
    wrong = []
    for source in sources():
        for edge in imports(source) + attribute_uses(source):
            reached = private_violation(source, edge.target)
            if reached is not None:
                wrong.append(f"{edge}: {reached} is private")
    assert not wrong, "private names used across modules:\n" + "\n".join(sorted(set(wrong)))


# ----------------------------------------------------------------------------- (c) file size


def test_no_file_over_the_line_limit_unless_listed_with_a_reason():
    long = {s.relative: s.n_lines for s in sources()
            if s.n_lines > MAX_LINES and s.relative not in LONG_FILES}
    assert not long, f"files over {MAX_LINES} lines (split, or list in LONG_FILES with why): {long}"


def test_the_long_file_list_names_existing_long_files_and_says_why():
    by_path = {s.relative: s.n_lines for s in sources()}
    for path, reason in LONG_FILES.items():
        assert by_path.get(path, 0) > MAX_LINES, f"{path} is gone or short: drop it from LONG_FILES"
        assert reason.strip(), f"{path}: say why it may be long"


# ----------------------------------------------------------------------------- (d) matplotlib


def _matplotlib_uses(source: Source) -> list[str]:
    found = []
    for node in ast.walk(source.tree):
        names = []
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and not node.level and node.module:
            names = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
        found += [f"line {node.lineno}: imports {n}" for n in names if n == "matplotlib.pyplot"
                  or n.startswith("matplotlib.pyplot.") or n == "pylab"]
        if isinstance(node, ast.Call) and _dotted(node.func) in (["matplotlib", "use"],
                                                                 ["mpl", "use"]):
            found.append(f"line {node.lineno}: calls {'.'.join(_dotted(node.func))}")
    return found


def test_no_backend_switch_and_no_pyplot_in_the_package():
    wrong = {s.relative: u for s in sources() if (u := _matplotlib_uses(s))}
    assert not wrong, f"matplotlib.use / pyplot in landscape/: {wrong}"


def test_only_plotting_and_lab_import_matplotlib():
    wrong = [str(e) for s in sources()
             if not any(s.module == p or s.module.startswith(p + ".") for p in MATPLOTLIB_ALLOWED)
             for e in imports(s) if e.target.split(".")[0] == "matplotlib"]
    assert not wrong, wrong


# ----------------------------------------------------------------------------- (e) import cost


def test_import_landscape_loads_no_matplotlib_and_no_optional_framework():
    code = ("import json, sys, landscape\n"
            f"print(json.dumps([m for m in {list(NOT_LOADED_BY_IMPORT)!r} if m in sys.modules]))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    assert json.loads(done.stdout.strip().splitlines()[-1]) == []

"""Built-in experiments: a registry, frozen configs, and the runner that writes a results folder.

Each experiment lives in one module of ``landscape.experiments`` and defines ``EXPERIMENT = Experiment(...)``: a name, the question it
answers, a default config (a frozen dataclass), a seconds-long ``smoke`` config, and
``run(config, results, progress) -> summary`` that only calls the library.
"""

from __future__ import annotations

import dataclasses
import importlib
import pkgutil
from pathlib import Path
from typing import Any, Callable

from .store import ResultsDir, package_versions

__all__ = ["Experiment", "DEFAULT_EXPERIMENT", "experiments", "get_experiment", "run_experiment"]

DEFAULT_EXPERIMENT = "xor_train"


@dataclasses.dataclass(frozen=True)
class Experiment:
    """A research question with its configs and its ``run(config, results, progress)``."""

    name: str
    question: str
    config: Any
    smoke: Any
    run: Callable[[Any, ResultsDir, bool | None], dict]


def experiments() -> dict[str, Experiment]:
    """All built-in experiments by name (modules of ``landscape.experiments``)."""
    from . import experiments as package

    found = {}
    for info in pkgutil.iter_modules(package.__path__):
        module = importlib.import_module(f"{package.__name__}.{info.name}")
        exp = getattr(module, "EXPERIMENT", None)
        if isinstance(exp, Experiment):
            found[exp.name] = exp
    return dict(sorted(found.items()))


def get_experiment(name: str) -> Experiment:
    known = experiments()
    if name not in known:
        raise ValueError(f"experiment {name!r} is not known; expected one of {sorted(known)}")
    return known[name]


def run_experiment(name: str = DEFAULT_EXPERIMENT, out_dir: str | Path | None = None, *,
                   smoke: bool = False, progress: bool | None = None) -> tuple[dict, Path]:
    """Run experiment ``name`` into ``out_dir`` (default ``results/<name>[-smoke]``).

    Writes ``config.json`` first (or checks that an existing folder was made by the same
    config, then resumes it), then whatever the experiment writes, then ``summary.json``.
    Returns ``(summary, out_dir)``.
    """
    exp = get_experiment(name)
    config = exp.smoke if smoke else exp.config
    if out_dir is None:
        out_dir = Path("results") / (f"{name}-smoke" if smoke else name)
    results = ResultsDir(out_dir)
    results.bind_config({"experiment": name, "smoke": smoke,
                         "config": dataclasses.asdict(config), "versions": package_versions()})
    summary = exp.run(config, results, progress)
    results.write_json("summary", summary)
    return summary, results.path

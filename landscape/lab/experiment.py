"""Built-in experiments: a registry, validated configs, and the runner that writes a results folder.

Each experiment lives in one module of ``landscape.lab.experiments`` and defines
``EXPERIMENT = Experiment(...)`` (:class:`landscape.lab.config.Experiment`): a name, the question it answers, a default config (a frozen
dataclass), a seconds-long ``smoke`` config, ``run(config, results, progress) -> summary`` that
only calls the library, optionally ``figures(results) -> {name: Figure}`` that draws its
figures from the saved arrays (so ``landscape plot`` can re-draw them), and optionally
``plans(config) -> {tag: TrainPlan}``, the training phases ``run`` trains (so that the other
processes of a job train their share of the chunks while process 0 alone analyses).

Configs can be changed by ``key=value`` overrides or by a TOML file::

    experiment = "xor_train"     # which experiment
    smoke = false                # optional: start from the smoke config
    [config]
    n_runs = 1000                # any field of the experiment's config
    [sweep]                      # optional: run one results folder per point (landscape.lab.sweep)
    mode = "grid"                # "grid" (every combination) or "zip" (i-th values together)
    learning_rate = [0.1, 0.5, 1.0]
    seed = [0, 1]

The TOML files of the research questions are in the source repository's top-level
``experiments/`` folder (not part of an installed package).
"""

from __future__ import annotations

import dataclasses
import importlib
import pkgutil
import shutil
import types
import typing
from pathlib import Path
from typing import Any, Mapping

from .config import Experiment, check_memory, check_numbers, require_counts, require_positive
from .resumable import train_share
from .store import BOOKKEEPING, ResultsDir, StoreError, package_versions
from .team import Team, heartbeat, wait_for_files, wait_for_outcome, write_outcome

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib

__all__ = ["Experiment", "ConfigFile", "DEFAULT_EXPERIMENT", "FIGURE_FORMATS", "experiments",
           "get_experiment", "resolve_config", "require_counts", "require_positive",
           "parse_overrides", "read_config_file", "run_experiment", "start_over",
           "save_figures", "experiment_of", "summary_numbers", "headline_numbers",
           "default_out_dir"]

DEFAULT_EXPERIMENT = "xor_symmetry"
FIGURE_FORMATS = ("png", "svg", "pdf")


def experiments() -> dict[str, Experiment]:
    """All built-in experiments by name (modules of ``landscape.lab.experiments``), sorted by name.

    >>> "xor_train" in experiments()
    True
    """
    from . import experiments as package

    found = {}
    for info in pkgutil.iter_modules(package.__path__):
        module = importlib.import_module(f"{package.__name__}.{info.name}")
        exp = getattr(module, "EXPERIMENT", None)
        if isinstance(exp, Experiment):
            found[exp.name] = exp
    return dict(sorted(found.items()))


def get_experiment(name: str) -> Experiment:
    """The built-in :class:`Experiment` called ``name``; an unknown name raises ``ValueError``
    listing the known ones.

    >>> get_experiment("xor_train").name
    'xor_train'
    >>> get_experiment("xor_trian")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ValueError: experiment 'xor_trian' is not known; expected one of [...]
    """
    known = experiments()
    if name not in known:
        raise ValueError(f"experiment {name!r} is not known; expected one of {sorted(known)}")
    return known[name]


def _check_type(key: str, value: Any, annotation: Any) -> Any:
    """``value`` converted to the field type ``annotation`` or a ValueError naming ``key``."""
    options = typing.get_args(annotation) if isinstance(annotation, types.UnionType) else (annotation,)
    for option in options:
        if option is type(None) and value is None:
            return None
        if option is bool and isinstance(value, bool):
            return value
        if option is int and isinstance(value, int) and not isinstance(value, bool):
            return value
        if option is float and isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
        if option is str and isinstance(value, str):
            return value
        if typing.get_origin(option) is tuple and isinstance(value, (list, tuple)):
            return tuple(value)
    names = " or ".join(getattr(o, "__name__", str(o)) for o in options)
    raise ValueError(f"config key {key!r} = {value!r} has the wrong type; expected {names}")


def resolve_config(exp: Experiment, *, smoke: bool = False,
                   overrides: Mapping[str, Any] | None = None) -> Any:
    """The experiment's default (or smoke) config with ``overrides`` applied and validated.

    Unknown keys and wrong types raise ``ValueError`` naming the key; every number is
    range-checked (:func:`landscape.lab.config.check_numbers`: overflow, NaN/Inf); a config
    class may define ``check()`` for ranges (called after the overrides); last the memory the
    config needs is compared with the memory available
    (:func:`landscape.lab.config.check_memory`). Returns a new frozen config.

    >>> exp = get_experiment("xor_train")
    >>> config = resolve_config(exp, smoke=True, overrides={"n_runs": 64, "learning_rate": 1})
    >>> config.n_runs, config.learning_rate
    (64, 1.0)
    >>> resolve_config(exp, overrides={"n_runs": "many"})
    Traceback (most recent call last):
    ValueError: config key 'n_runs' = 'many' has the wrong type; expected int
    """
    base = exp.smoke if smoke else exp.config
    hints = typing.get_type_hints(type(base))
    changes = {}
    for key, value in (overrides or {}).items():
        if key not in hints:
            raise ValueError(f"config key {key!r} is not known for experiment {exp.name!r}; "
                             f"expected one of {sorted(hints)}")
        changes[key] = _check_type(key, value, hints[key])
    config = dataclasses.replace(base, **changes)
    check_numbers(config)
    check = getattr(config, "check", None)
    if check is not None:
        check()
    check_memory(config, base)
    return config


def parse_overrides(assignments) -> dict[str, Any]:
    """``["n_runs=100", "loss='half_sse'"]`` -> ``{"n_runs": 100, "loss": "half_sse"}``.

    Values are read as TOML values (numbers, booleans, quoted strings, arrays); a bare word
    that is not valid TOML is taken as a string.

    >>> parse_overrides(["n_runs=100", "loss='half_sse'", "widths=[2, 4]", "output=sigmoid"])
    {'n_runs': 100, 'loss': 'half_sse', 'widths': [2, 4], 'output': 'sigmoid'}
    """
    out = {}
    for item in assignments:
        key, sep, text = item.partition("=")
        key = key.strip()
        if not sep or not key:
            raise ValueError(f"override {item!r} must look like key=value")
        try:
            value = tomllib.loads(f"v = {text.strip()}")["v"]
        except tomllib.TOMLDecodeError:
            value = text.strip()
        out[key] = value
    return out


@dataclasses.dataclass(frozen=True)
class ConfigFile:
    """A TOML config file: the experiment, the smoke switch, ``[config]`` and ``[sweep]``
    (``None`` when the file has no ``[sweep]`` table); see :func:`read_config_file`."""

    experiment: str
    smoke: bool
    config: dict[str, Any]
    sweep: dict[str, Any] | None = None


def read_config_file(path: str | Path) -> ConfigFile:
    """The contents of a TOML config file (see the module docstring), checked for shape.

    The ``[sweep]`` table is returned as written; :meth:`landscape.lab.sweep.Sweep.from_table`
    checks it.

    >>> import tempfile, pathlib
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "lr.toml"
    >>> _ = path.write_text('experiment = "xor_train"\\n[config]\\nn_runs = 100\\n'
    ...                     '[sweep]\\nlearning_rate = [0.5, 1.0]\\n')
    >>> file = read_config_file(path)
    >>> file.experiment, file.smoke, file.config, file.sweep
    ('xor_train', False, {'n_runs': 100}, {'learning_rate': [0.5, 1.0]})
    """
    path = Path(path)
    try:
        data = tomllib.loads(path.read_text())
    except FileNotFoundError:
        raise ValueError(f"config file {str(path)!r} does not exist") from None
    except tomllib.TOMLDecodeError as err:
        raise ValueError(f"config file {str(path)!r} is not valid TOML: {err}") from None
    unknown = set(data) - {"experiment", "smoke", "config", "sweep"}
    if unknown:
        raise ValueError(f"config file {str(path)!r} has unknown top-level keys {sorted(unknown)}; "
                         "expected experiment, smoke, a [config] and a [sweep] table")
    name = data.get("experiment")
    if not isinstance(name, str):
        raise ValueError(f"config file {str(path)!r} must name its experiment: experiment = \"...\"")
    smoke = data.get("smoke", False)
    if not isinstance(smoke, bool):
        raise ValueError(f"config file {str(path)!r}: smoke = {smoke!r} must be true or false")
    for table in ("config", "sweep"):
        if not isinstance(data.get(table, {}), dict):
            raise ValueError(f"config file {str(path)!r}: {table} must be a [{table}] table")
    return ConfigFile(name, smoke, data.get("config", {}), data.get("sweep"))


def save_figures(exp: Experiment, results: ResultsDir, *, only: str | None = None,
                 formats=("png",)) -> list[Path]:
    """Draw the experiment's figures from ``results`` and save them as ``<name>.<format>`` for
    every format of ``formats`` (of :data:`FIGURE_FORMATS`); ``only``: just that figure.
    Returns the files written (none when the experiment draws no figures).

    Also writes ``figures.json``: ``{"figures": [{"name", "caption", "files"}, ...]}``, every
    figure the experiment draws in its story order (the order of ``exp.captions``), with its
    caption and the files of it in the folder. A figure without a caption raises ``ValueError``.

    The figures are :class:`matplotlib.figure.Figure` objects, unknown to pyplot: saving them
    switches no backend and leaves no figure open.

    >>> import json, tempfile, matplotlib.figure
    >>> def figures(results):
    ...     fig = matplotlib.figure.Figure(figsize=(2, 2))
    ...     fig.add_subplot().plot([0, 1], [1, 0])
    ...     return {"line": fig}
    >>> toy = Experiment("toy", "What does a line look like?", None, None, run=None, figures=figures,
    ...                  captions={"line": "A line falls from 1 to 0."})
    >>> results = ResultsDir(tempfile.mkdtemp())
    >>> [p.name for p in save_figures(toy, results, formats=("png", "svg"))]
    ['line.png', 'line.svg']
    >>> json.loads((results.path / "figures.json").read_text())["figures"]
    [{'caption': 'A line falls from 1 to 0.', 'files': ['line.png', 'line.svg'], 'name': 'line'}]
    """
    for fmt in formats:
        if fmt not in FIGURE_FORMATS:
            raise ValueError(f"figure format {fmt!r} is not known; expected one of {FIGURE_FORMATS}")
    if exp.figures is None:
        if only is not None:
            raise ValueError(f"experiment {exp.name!r} draws no figures, so there is no {only!r}")
        return []
    try:
        figures = exp.figures(results)
    except (KeyError, IndexError) as err:
        raise StoreError(f"results folder {str(results.path)!r} lacks {err} that {exp.name!r} draws "
                         "its figures from; the folder is damaged") from None
    if only is not None and only not in figures:
        raise ValueError(f"figure {only!r} is not a figure of experiment {exp.name!r}; its "
                         f"figures: {sorted(figures)}")
    uncaptioned = sorted(set(figures) - set(exp.captions))
    if uncaptioned:
        raise ValueError(f"experiment {exp.name!r} draws figures {uncaptioned} without a caption; "
                         "add them to its captions")
    written = []
    for name, fig in figures.items():
        if only is None or name == only:
            for fmt in formats:
                written.append(results.save_figure(fig, f"{name}.{fmt}"))
    listing = [{"name": name, "caption": caption,
                "files": [f"{name}.{fmt}" for fmt in FIGURE_FORMATS
                          if (results.path / f"{name}.{fmt}").exists()]}
               for name, caption in exp.captions.items() if name in figures]
    results.write_json("figures", {"figures": listing})
    return written


def run_experiment(name: str = DEFAULT_EXPERIMENT, out_dir: str | Path | None = None, *,
                   smoke: bool = False, overrides: Mapping[str, Any] | None = None,
                   progress: bool | None = None, fresh: bool = False, drop_chunks: bool = False,
                   team: Team | None = None) -> tuple[dict, Path]:
    """Run experiment ``name`` into ``out_dir`` (default ``results/<name>[-smoke]``).

    Validates everything first (:func:`resolve_config`); ``fresh``: first remove what landscape
    wrote in ``out_dir`` (:func:`start_over`). Writes ``config.json`` first (or checks that an
    existing folder was made by the same config, then resumes it; a folder with files but no
    ``config.json`` is refused), then whatever the experiment writes, its figures, and last
    ``summary.json`` (so a folder with a summary is complete, and running it again returns
    that summary). ``drop_chunks``: remove ``chunks/`` once the run is complete (the folder is
    complete but a changed copy of it can no longer resume from them).

    ``team`` (default: the ``jax.distributed`` processes): every process calls this; the
    training chunks of the experiment's :attr:`~Experiment.plans` are split between them
    (:func:`landscape.lab.resumable.train_share`); process 0 alone runs the experiment (joining
    the chunks, training any phase that depends on an analysis, analysing) and writes
    everything else; the others wait for its outcome and return the same summary, or raise
    its error (:mod:`landscape.lab.team`). Returns ``(summary, out_dir)``.

    >>> import tempfile
    >>> summary, out = run_experiment("xor_train", tempfile.mkdtemp(), smoke=True, progress=False,
    ...                               overrides={"n_runs": 64, "steps": 20, "record_every": 10})
    >>> summary["starts"]["constant"]["runs"], sorted(p.name for p in out.glob("*.*"))
    (64, ['config.json', 'constant.npz', 'figures.json', 'loss_curves.png', 'random.npz', 'summary.json'])
    """
    exp = get_experiment(name)
    config = resolve_config(exp, smoke=smoke, overrides=overrides)
    out_dir = default_out_dir(name, smoke) if out_dir is None else out_dir
    team = team or Team.of_jax()
    results = ResultsDir(out_dir, team=team)
    if fresh:
        if not team.solo:
            raise ValueError("--fresh with several processes: start the folder over with one "
                             "process first (or remove it), then launch them all")
        start_over(results.path)
    record = {"experiment": name, "smoke": smoke, "config": dataclasses.asdict(config),
              "versions": package_versions()}
    with heartbeat(results.path, team):
        if team.index != 0:  # process 0 writes config.json (or checks it), then the others check it
            wait_for_files(results.path, team, {"config.json": 0}, what="file")
        bound = (results.path / "config.json").exists()
        results.bind_config(record)
        if bound and (results.path / "summary.json").exists():  # complete: nothing to resume
            if drop_chunks and team.index == 0:
                shutil.rmtree(results.path / "chunks", ignore_errors=True)
            return results.read_summary(), results.path
        if team.index == 0:
            return _run_and_report(exp, config, results, team, progress, drop_chunks,
                                   bound=bound), results.path
        _train_shares(exp, config, results, progress)
        code, message = wait_for_outcome(results.path, team)
    if code:
        raise StoreError(f"process 0 failed: {message}")
    return ResultsDir(out_dir).read_summary(), results.path


def _train_shares(exp: Experiment, config: Any, results: ResultsDir, progress: bool | None) -> None:
    """A process other than 0: train its share of the chunks of the experiment's training
    phases (:attr:`Experiment.plans`), no analysis (process 0 joins the chunks and analyses)."""
    for tag, plan in (exp.plans(config) if exp.plans else {}).items():
        train_share(plan, results, tag, progress=progress)


def default_out_dir(name: str, smoke: bool, *, sweep: bool = False) -> Path:
    """The results folder of ``landscape run NAME`` without ``--out``.

    >>> str(default_out_dir("xor_train", True, sweep=True))
    'results/xor_train-sweep-smoke'
    """
    return Path("results") / f"{name}{'-sweep' if sweep else ''}{'-smoke' if smoke else ''}"


def _run_and_report(exp: Experiment, config: Any, results: ResultsDir, team: Team,
                    progress: bool | None, drop_chunks: bool, *, bound: bool) -> dict:
    """Process 0's part of :func:`run_experiment`: run, draw, write the summary, tell the others."""
    try:
        summary = exp.run(config, results, progress)
        save_figures(exp, results)
        results.write_json("summary", summary)
    except (ValueError, TypeError) as err:
        if not bound and results.files() == ["config.json"]:  # a late check failed before any
            (results.path / "config.json").unlink(missing_ok=True)  # result: leave it unbound
        write_outcome(results.path, team, 2, str(err))
        raise
    if drop_chunks:
        shutil.rmtree(results.path / "chunks", ignore_errors=True)
    write_outcome(results.path, team, 0)
    return summary


_RECOGNISED = (".json", ".npz", ".png", ".svg", ".pdf", ".html", ".tmp")
"""Suffixes of the files landscape writes at the top of a results folder."""


def start_over(path: str | Path) -> list[str]:
    """Remove what landscape wrote in the results (or sweep) folder ``path`` (``--fresh``):
    its ``config.json``, summaries, arrays, figures, report, ``chunks/``, ``points/`` and
    bookkeeping. A folder that is not a landscape results folder (no readable ``config.json``),
    or that holds files landscape does not write, is refused before anything is removed.
    A missing or empty folder is left as it is. Returns the removed files (relative paths).

    >>> import tempfile
    >>> results = ResultsDir(tempfile.mkdtemp())
    >>> results.bind_config({"experiment": "xor_train", "config": {}})
    >>> start_over(results.path), results.files()
    (['config.json'], [])
    """
    results = ResultsDir(path)
    files = results.files()
    if not files:
        return []
    if "config.json" not in files:
        raise StoreError(f"--fresh: {str(results.path)!r} is not a landscape results folder (it "
                         "has no config.json); nothing was removed")
    results.read_config()  # a landscape config.json, else StoreError naming the file
    foreign = [f for f in files if "/" not in f and not f.endswith(_RECOGNISED)
               or "/" in f and f.split("/")[0] not in ("chunks", "points")]
    if foreign:
        raise StoreError(f"--fresh: {str(results.path)!r} holds files landscape does not write "
                         f"({', '.join(foreign[:5])}); nothing was removed")
    for name in ("chunks", "points", BOOKKEEPING):
        shutil.rmtree(results.path / name, ignore_errors=True)
    for f in files:
        (results.path / f).unlink(missing_ok=True)
    return files


def experiment_of(results: ResultsDir) -> Experiment:
    """The built-in experiment that wrote ``results`` (from its ``config.json``); a folder
    without an experiment name raises :class:`~landscape.lab.store.StoreError`.

    >>> import tempfile
    >>> results = ResultsDir(tempfile.mkdtemp())
    >>> results.bind_config({"experiment": "xor_train", "config": {}})
    >>> experiment_of(results).name
    'xor_train'
    """
    return get_experiment(results.read_config()["experiment"])


def _numbers(tree: Any, prefix: str) -> dict[str, Any]:
    if isinstance(tree, Mapping):
        items = tree.items()
    elif isinstance(tree, list):
        items = enumerate(tree)
    else:
        return {prefix: tree} if isinstance(tree, (int, float)) and not isinstance(tree, bool) else {}
    out = {}
    for key, value in items:
        out.update(_numbers(value, f"{prefix}.{key}" if prefix else str(key)))
    return out


def summary_numbers(summary: Mapping[str, Any]) -> dict[str, Any]:
    """Every number of a summary by dotted path (list items by index), except its table and text.

    >>> summary_numbers({"rate": 0.5, "interval": [0.1, 0.9], "table": {"rows": [[1]]}})
    {'rate': 0.5, 'interval.0': 0.1, 'interval.1': 0.9}
    """
    return _numbers({k: v for k, v in summary.items() if k not in ("table", "text")}, "")


def _lookup(tree: Any, path: str) -> Any:
    for key in path.split("."):
        if not isinstance(tree, dict) or key not in tree:
            return None
        tree = tree[key]
    return tree


def headline_numbers(exp: Experiment, summary: Mapping[str, Any]) -> dict[str, Any]:
    """``{dotted path: value}`` of a summary's headline numbers (see :class:`Experiment`).

    >>> exp = get_experiment("xor_train")
    >>> headline_numbers(exp, {"starts": {"random": {"success_rate": 0.25}}})["starts.random.success_rate"]
    0.25
    """
    if exp.headline:
        return {path: _lookup(summary, path) for path in exp.headline}
    return summary_numbers(summary)

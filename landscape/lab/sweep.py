"""Sweeps: one experiment run per point of a grid (or a zip) of config values, each in its own folder.

A sweep folder holds::

    config.json       the sweep's definition: experiment, smoke, base overrides, mode, values
    sweep.json        the index: every point's overrides, folder and status
                      (pending / partial / done)
    points/0000/      a complete results folder per point (its resolved config.json, summary, ...)
    summary.json      written last: a table of every point's headline numbers

Every point's config is validated before any point runs. Re-running the same sweep skips the
finished points and resumes the unfinished one from its chunks; the folder ends identical to an
uninterrupted run.

Compiled programs: points that differ only in values an experiment passes to the trainer as
data (the seed through the key, the learning rate as a per-run hyperparameter of a
:func:`landscape.train.make_optimizer` optimizer, the start's scale as ``init_scale``) lower to
the same XLA program. Experiments build their model, loss and init closures afresh for every
point, so the in-memory jit cache cannot tell the programs are equal; the sweep turns on JAX's
persistent compilation cache (keyed by the program text), so each distinct program is compiled
once and loaded from the cache for every other point. The cache lives in the user's cache
folder (:func:`user_compile_cache`), never in a results folder: results folders hold data only,
so a folder received from someone else holds no compiled code that would run.
"""

from __future__ import annotations

import contextlib
import dataclasses
import itertools
import os
import time
from pathlib import Path
from typing import Any, Mapping, Sequence

import jax

from .config import Experiment
from .experiment import (default_out_dir, get_experiment, headline_numbers, parse_overrides, resolve_config,
                         run_experiment, start_over)
from .store import ResultsDir, StoreError, confined, package_versions
from .team import Team, heartbeat, wait_for_files

__all__ = ["SWEEP_MODES", "Sweep", "run_sweep", "is_sweep", "point_statuses", "read_index",
           "check_sweep_config", "persistent_compile_cache", "user_compile_cache", "gather_sweep"]

SWEEP_MODES = ("grid", "zip")


@dataclasses.dataclass(frozen=True)
class Sweep:
    """Config values to sweep: ``values`` maps a config key to its list of values.

    ``mode="grid"``: every combination (the first key varies slowest); ``"zip"``: the i-th
    values of every key together (all lists equally long).

    >>> Sweep({"learning_rate": [0.1, 0.5], "seed": [0, 1]}).points()[1]
    {'learning_rate': 0.1, 'seed': 1}
    >>> len(Sweep({"learning_rate": [0.1, 0.5], "seed": [0, 1]}, mode="zip").points())
    2
    """

    values: Mapping[str, Sequence[Any]]
    mode: str = "grid"

    def __post_init__(self):
        if self.mode not in SWEEP_MODES:
            raise ValueError(f"sweep mode={self.mode!r} is not known; expected one of {SWEEP_MODES}")
        if not isinstance(self.values, Mapping) or not self.values:
            raise ValueError(f"a sweep needs at least one key with a list of values, got {self.values!r}")
        for key, values in self.values.items():
            if not isinstance(values, (list, tuple)) or not values:
                raise ValueError(f"sweep key {key!r} = {values!r} must be a non-empty list of values, "
                                 f"e.g. {key} = [1, 2]")
        lengths = {key: len(v) for key, v in self.values.items()}
        if self.mode == "zip" and len(set(lengths.values())) > 1:
            raise ValueError(f"a zip sweep needs lists of equal length, got lengths {lengths}")
        object.__setattr__(self, "values", {k: list(v) for k, v in self.values.items()})

    @classmethod
    def from_table(cls, table: Mapping[str, Any]) -> "Sweep":
        """From a TOML ``[sweep]`` table: ``mode = "grid" | "zip"`` plus ``key = [values]``.

        >>> Sweep.from_table({"mode": "zip", "seed": [0, 1], "learning_rate": [0.1, 0.5]}).points()
        [{'seed': 0, 'learning_rate': 0.1}, {'seed': 1, 'learning_rate': 0.5}]
        """
        values = {k: v for k, v in table.items() if k != "mode"}
        return cls(values, table.get("mode", "grid"))

    @staticmethod
    def parse_assignments(assignments: Sequence[str]) -> dict[str, list]:
        """``["seed=[0, 1]"]`` -> ``{"seed": [0, 1]}`` (the ``--sweep`` arguments of the CLI).

        >>> Sweep.parse_assignments(["seed=[0, 1]", "loss=['mse', 'bce']"])
        {'seed': [0, 1], 'loss': ['mse', 'bce']}
        """
        values = parse_overrides(assignments)
        for key, value in values.items():
            if not isinstance(value, list):
                raise ValueError(f"--sweep {key}={value!r} must give a list of values, e.g. {key}=[1, 2]")
        return values

    def points(self) -> list[dict[str, Any]]:
        """The config overrides of every point, in order: a list of ``{key: value}``.

        >>> Sweep({"hidden": [2, 3], "seed": [0, 1]}).points()[:2]
        [{'hidden': 2, 'seed': 0}, {'hidden': 2, 'seed': 1}]
        """
        keys = list(self.values)
        combos = (itertools.product(*self.values.values()) if self.mode == "grid"
                  else zip(*self.values.values()))
        return [dict(zip(keys, combo)) for combo in combos]

    def to_json(self) -> dict:
        return {"mode": self.mode, "values": dict(self.values)}


def _point_dir(index: int) -> str:
    return f"points/{index:04d}"


def is_sweep(path: str | Path) -> bool:
    """Whether ``path`` is a sweep folder (it has a ``sweep.json`` index).

    >>> import tempfile
    >>> results = ResultsDir(tempfile.mkdtemp())
    >>> is_sweep(results.path)
    False
    >>> _ = results.write_json("sweep", {"points": []})
    >>> is_sweep(results.path)
    True
    """
    return (Path(path) / "sweep.json").is_file()


def _status(folder: Path) -> str:
    """``"done"`` (the point has a summary), ``"partial"`` (it has a config) or ``"pending"``."""
    if (folder / "summary.json").is_file():
        return "done"
    return "partial" if (folder / "config.json").is_file() else "pending"


def check_sweep_config(path: Path, config: dict) -> dict:
    """The ``"config"`` entry of a sweep folder's (shape-checked) ``config.json``, checked to
    hold ``mode`` (a string), ``values`` (an object of lists) and ``overrides`` (an object);
    else :class:`StoreError` naming the file and key."""
    sweep = config["config"]
    for key, kind, what in (("mode", str, "a string"), ("values", dict, "an object"),
                            ("overrides", dict, "an object")):
        if not isinstance(sweep.get(key), kind):
            raise StoreError(f"{str(path)!r}: key 'config.{key}' must be {what}, got "
                             f"{type(sweep.get(key)).__name__}; the file is damaged")
    for key, values in sweep["values"].items():
        if not isinstance(values, list):
            raise StoreError(f"{str(path)!r}: key 'config.values.{key}' must be a list, got "
                             f"{type(values).__name__}; the file is damaged")
    return sweep


def read_index(path: str | Path) -> list[dict]:
    """The points of a sweep folder's ``sweep.json``, checked for shape: a list of
    ``{"index": int, "dir": str, "overrides": {...}}`` whose ``dir`` stays inside the folder;
    else :class:`StoreError` naming the file and key.

    >>> import tempfile
    >>> results = ResultsDir(tempfile.mkdtemp())
    >>> _ = results.write_json("sweep", {"points": [{"index": 0, "dir": "../victim", "overrides": {}}]})
    >>> read_index(results.path)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    landscape.lab.store.StoreError: key 'points.0.dir' '../victim' leaves the results folder ...
    """
    results = ResultsDir(path)
    file = results.path / "sweep.json"
    data = results.read_json("sweep")
    bad = lambda key, value, what: StoreError(  # noqa: E731
        f"{str(file)!r}: key {key!r} must be {what}, got "
        f"{'null' if value is None else type(value).__name__}; the file is damaged")
    if not isinstance(data, dict):
        raise bad("(top level)", data, "an object")
    points = data.get("points")
    if not isinstance(points, list):
        raise bad("points", points, "a list")
    for i, point in enumerate(points):
        if not isinstance(point, dict):
            raise bad(f"points.{i}", point, "an object")
        for key, kind, what in (("index", int, "an integer"), ("dir", str, "a string"),
                                ("overrides", dict, "an object")):
            value = point.get(key)
            if not isinstance(value, kind) or isinstance(value, bool):
                raise bad(f"points.{i}.{key}", value, what)
        confined(results.path, point["dir"], what=f"key 'points.{i}.dir'")
    return points


def point_statuses(path: str | Path) -> list[dict]:
    """The index of a sweep folder (``sweep.json``), each point's ``status`` read from its folder:
    a list of ``{"index", "dir", "overrides", "status"}``, status ``"done"`` (the point has a
    ``summary.json``), ``"partial"`` (a ``config.json`` only) or ``"pending"``. The index is
    checked for shape and its folders confined to the sweep folder (:func:`read_index`).

    >>> import tempfile
    >>> results = ResultsDir(tempfile.mkdtemp())
    >>> _ = results.write_json("sweep", {"points": [
    ...     {"index": 0, "dir": "points/0000", "overrides": {"seed": 0}},
    ...     {"index": 1, "dir": "points/0001", "overrides": {"seed": 1}}]})
    >>> _ = results.write_json("points/0000/summary", {"rate": 0.5})
    >>> [p["status"] for p in point_statuses(results.path)]
    ['done', 'pending']
    """
    results = ResultsDir(path)
    index = read_index(path)
    for point in index:
        point["status"] = _status(results.path / point["dir"])
    return index


def user_compile_cache() -> Path:
    """The folder of the persistent compilation cache: ``$XDG_CACHE_HOME/landscape/``
    (default ``~/.cache/landscape/``) ``jax-cache-<jax version>-<jaxlib version>``, so programs
    of another JAX are never confused (JAX keys each program by its text, device and flags).

    >>> user_compile_cache().name.startswith("jax-cache-")
    True
    """
    versions = package_versions()
    root = os.environ.get("XDG_CACHE_HOME") or ""
    base = Path(root) if os.path.isabs(root) else Path.home() / ".cache"
    return base / "landscape" / f"jax-cache-{versions['jax']}-{versions['jaxlib']}"


@contextlib.contextmanager
def persistent_compile_cache(path: str | Path | None = None):
    """JAX's persistent compilation cache in ``path`` (default :func:`user_compile_cache`)
    while the block runs, every program cached.

    A cache the user configured already (``JAX_COMPILATION_CACHE_DIR`` or
    ``jax_compilation_cache_dir``) is kept as it is. Afterwards the previous settings return.

    >>> import tempfile, jax
    >>> folder = tempfile.mkdtemp()
    >>> with persistent_compile_cache(folder):  # a program compiled before is loaded, not compiled
    ...     jax.config.jax_compilation_cache_dir == folder
    True
    """
    if jax.config.jax_compilation_cache_dir:
        yield
        return
    from jax.experimental.compilation_cache import compilation_cache

    path = user_compile_cache() if path is None else Path(path)
    settings = {"jax_compilation_cache_dir": str(path),
                "jax_persistent_cache_min_compile_time_secs": 0.0,
                "jax_persistent_cache_min_entry_size_bytes": -1}
    old = {name: getattr(jax.config, name) for name in settings}
    for name, value in settings.items():
        jax.config.update(name, value)
    try:
        yield
    finally:
        for name, value in old.items():
            jax.config.update(name, value)
        compilation_cache.reset_cache()


def _fmt(value) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def _summary(exp: Experiment, sweep: Sweep, index: list[dict], summaries: list[dict]) -> dict:
    """The sweep's ``summary.json``: every point's headline numbers and a table of them."""
    name = exp.name
    heads = [headline_numbers(exp, s) for s in summaries]
    columns = list(dict.fromkeys(c for h in heads for c in h))
    keys = list(sweep.values)
    rows = [[p["index"], *(_fmt(p["overrides"][k]) for k in keys), *(_fmt(h.get(c)) for c in columns)]
            for p, h in zip(index, heads)]
    return {
        "experiment": name,
        "sweep": sweep.to_json(),
        "points": [{"index": p["index"], "dir": p["dir"], "overrides": p["overrides"], "headline": h}
                   for p, h in zip(index, heads)],
        "table": {"columns": ["point", *keys, *columns], "rows": rows},
        "text": [f"{len(index)} points of {name} ({sweep.mode} over {', '.join(keys)}); point i's "
                 "results folder is points/0000, points/0001, ... (i in four digits)"],
    }


def _bar(total: int, done: int, enabled: bool | None):
    if enabled is False or (enabled is None and total <= 1):
        return None
    from tqdm.auto import tqdm
    return tqdm(total=total, initial=done, unit="point", desc="sweep")


def _run_points(name: str, results: ResultsDir, index: list[dict], configs: list, *, smoke: bool,
                base: Mapping[str, Any], progress: bool | None, team: Team) -> None:
    """Run every unfinished point of ``index`` that ``team`` gives this process, rewriting
    ``sweep.json`` (every point's status read from its folder) as each ends.

    The bar over points shows points/s, the time left and the configs' runs (``n_runs``) per second.
    """
    todo = [p for p in index if p["status"] != "done" and team.owns(p["index"])]
    bar = _bar(len(todo), 0, progress)
    start, runs = time.perf_counter(), 0
    try:
        for point in todo:
            run_experiment(name, results.path / point["dir"], smoke=smoke, team=Team(),  # one bar:
                           overrides={**base, **point["overrides"]},  # the sweep's, over points
                           progress=False if bar is not None else progress)
            _write_index(results, name, smoke, index)
            runs += getattr(configs[point["index"]], "n_runs", 0)
            if bar is not None:
                bar.update(1)
                if runs:
                    bar.set_postfix(runs_per_s=f"{runs / (time.perf_counter() - start):.3g}")
    finally:
        if bar is not None:
            bar.close()


def _write_index(results: ResultsDir, name: str, smoke: bool, index: list[dict]) -> bool:
    """Write ``sweep.json`` with every point's status read from its folder (so processes that
    write it in turn never undo each other's progress); returns whether every point is done."""
    for point in index:
        point["status"] = _status(results.path / point["dir"])
    results.write_json("sweep", {"experiment": name, "smoke": smoke, "points": index})
    return all(p["status"] == "done" for p in index)


def _gather(exp: Experiment, sweep: Sweep, results: ResultsDir, index: list[dict]) -> dict:
    """Write (and return) the sweep's ``summary.json`` from its finished points."""
    summaries = [results.read_summary(f"{p['dir']}/summary") for p in index]
    summary = _summary(exp, sweep, index, summaries)
    results.write_json("summary", summary)
    return summary


def gather_sweep(path: str | Path) -> dict | None:
    """The sweep folder's summary, written now if every point is done but no summary is there
    yet (the shards of a job array each finished their own points); ``None`` while points are
    unfinished.

    >>> import tempfile
    >>> _, out = run_sweep("xor_train", tempfile.mkdtemp(), smoke=True, progress=False,
    ...                    sweep=Sweep({"seed": [0, 1]}),
    ...                    overrides={"n_runs": 64, "steps": 20, "record_every": 10})
    >>> (out / "summary.json").unlink()
    >>> len(gather_sweep(out)["points"]), (out / "summary.json").exists()
    (2, True)
    """
    results = ResultsDir(path)
    if (results.path / "summary.json").exists():
        return results.read_summary()
    config = results.read_config()
    stored = check_sweep_config(results.path / "config.json", config)
    index = point_statuses(results.path)
    if not all(p["status"] == "done" for p in index):
        return None
    exp = get_experiment(config["experiment"])
    return _gather(exp, Sweep(stored["values"], stored["mode"]), results, index)


def _waiting(team: Team, index: list[dict]) -> dict:
    """The summary a shard returns while other shards' points are unfinished."""
    left = [p["index"] for p in index if p["status"] != "done"]
    shards = sorted({team.owner(i) for i in left})
    return {"text": [f"shard {team.index}/{team.count}: its points are done; points {left} of "
                     f"shards {shards} are not yet. The last shard to finish writes the sweep's "
                     "summary (or run `landscape report DIR` once all are done)"]}


def run_sweep(name: str, out_dir: str | Path | None = None, *, sweep: Sweep, smoke: bool = False,
              overrides: Mapping[str, Any] | None = None, progress: bool | None = None,
              compile_cache: bool = True, fresh: bool = False, team: Team | None = None,
              wait: bool = True) -> tuple[dict, Path]:
    """Run experiment ``name`` once per point of ``sweep`` into ``out_dir/points/0000``, ``points/0001``, ....

    ``overrides`` apply to every point; a swept key replaces its value there. Every point's
    config is validated first (a ``ValueError`` names the point). An existing folder must hold
    the same sweep (else :class:`~landscape.lab.store.StoreError`); its finished points are skipped
    and an unfinished one resumes from its chunks. ``compile_cache``: use JAX's persistent
    compilation cache (:func:`user_compile_cache`, never in ``out_dir``) so equal programs
    compile once. ``fresh``: first remove what landscape wrote there
    (:func:`~landscape.lab.experiment.start_over`).

    Several processes or shards (``team``, default the ``jax.distributed`` processes): point
    ``i`` is run by process ``i % count`` alone, so each point is written by exactly one
    process. Whoever finds every point done writes the summary; the others, with ``wait``,
    wait for the missing points (a process that died is reported, naming its point), else
    (a job array's shards, ``wait=False``) return a summary that only says which points are
    not done yet. Running a shard again resumes it.
    Returns ``(summary, out_dir)``; default ``out_dir``: ``results/<name>-sweep[-smoke]``.

    >>> import tempfile
    >>> summary, out = run_sweep("xor_train", tempfile.mkdtemp(), smoke=True, progress=False,
    ...                          sweep=Sweep({"learning_rate": [0.5, 1.0]}),
    ...                          overrides={"n_runs": 64, "steps": 20, "record_every": 10})
    >>> summary["table"]["columns"][:2], len(summary["table"]["rows"])
    (['point', 'learning_rate'], 2)
    >>> [p["status"] for p in point_statuses(out)]
    ['done', 'done']
    """
    if not isinstance(sweep, Sweep):
        raise TypeError(f"sweep={sweep!r} must be a landscape.lab.sweep.Sweep")
    exp = get_experiment(name)
    base = dict(overrides or {})
    points = sweep.points()
    configs = []
    for i, point in enumerate(points):
        try:
            configs.append(resolve_config(exp, smoke=smoke, overrides={**base, **point}))
        except ValueError as err:
            raise ValueError(f"sweep point {i} {point}: {err}") from None
    out_dir = default_out_dir(name, smoke, sweep=True) if out_dir is None else out_dir
    team = team or Team.of_jax()
    results = ResultsDir(out_dir)
    if fresh:
        if not team.solo:
            raise ValueError("--fresh with several processes or shards: start the folder over "
                             "with one process first (or remove it), then launch them all")
        start_over(results.path)
    results.bind_config({"experiment": name, "smoke": smoke, "versions": package_versions(),
                         "config": {"smoke": smoke, "overrides": base, **sweep.to_json()}},
                        shared=not team.solo)
    index = [{"index": i, "dir": _point_dir(i), "overrides": p} for i, p in enumerate(points)]
    cache = persistent_compile_cache() if compile_cache else contextlib.nullcontext()
    with cache, heartbeat(results.path, team):
        if _write_index(results, name, smoke, index):
            return _gather(exp, sweep, results, index), results.path
        _run_points(name, results, index, configs, smoke=smoke, base=base, progress=progress,
                    team=team)
        if _write_index(results, name, smoke, index):  # the last shard to finish gathers
            return _gather(exp, sweep, results, index), results.path
        if not wait:
            return _waiting(team, index), results.path
        wait_for_files(results.path, team, {f"{p['dir']}/summary.json": team.owner(p["index"])
                                            for p in index}, what="point")
        _write_index(results, name, smoke, index)
        return _gather(exp, sweep, results, index), results.path

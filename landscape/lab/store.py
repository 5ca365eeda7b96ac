"""Results folders on disk: JSON metadata and ``.npz`` arrays, written atomically.

A results folder holds::

    config.json        the full resolved config, seed and package versions
    summary.json       headline numbers
    <name>.npz         arrays (no pickle)
    chunks/<tag>_<c>.npz   finished training chunks, so an interrupted run resumes
                           (written by :func:`landscape.lab.resumable.train_resumable`)

Every write goes to a temporary file in the same folder followed by ``os.replace``
(:func:`atomic_write`), so a file is either complete or absent; files get the umask's mode, and
temporary files a killed write left behind are removed when the folder is bound again. Loading
a corrupt or foreign file raises :class:`StoreError`.

Provenance: every ``.npz`` written through a bound :class:`ResultsDir` carries a small JSON
entry (``__provenance__``): the hash of the resolved config (:func:`config_hash`), the file's
name, the landscape version and whatever the writer adds (a chunk's run-id range). Reading
checks it against the folder's ``config.json``, so a file of another config, another folder
or another name is refused, naming the file. Names are confined to the folder: absolute
names, ``..`` and symlinks that leave it are refused.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import tempfile
import time
import zipfile
from pathlib import Path
from typing import Any, Mapping

import numpy as np

__all__ = ["StoreError", "ResultsDir", "atomic_write", "package_versions", "config_hash",
           "check_config_json", "check_summary_json", "confined", "clean_temp_files",
           "folder_kind", "BOOKKEEPING"]

_FORMAT = "landscape-results/1"
BOOKKEEPING = ".landscape"
"""The hidden folder of the processes' heartbeats and outcomes (see :mod:`landscape.lab.team`)."""
PROVENANCE = "__provenance__"
"""The entry of every ``.npz`` that says what made it (a JSON string)."""


class StoreError(ValueError):
    """A results folder or file that cannot be used as asked (corrupt, foreign, other config).

    A ``ValueError``, so callers that catch bad input catch it too.

    >>> import tempfile
    >>> try:
    ...     ResultsDir(tempfile.mkdtemp()).read_json("summary")
    ... except StoreError as err:
    ...     print(str(err).endswith("summary.json' does not exist"))
    True
    """


def package_versions() -> dict[str, str]:
    """Versions of landscape and the numerical stack, for ``config.json``: ``{name: version}``
    (``"not installed"`` for a missing package).

    >>> sorted(package_versions())
    ['jax', 'jaxlib', 'landscape', 'numpy', 'optax']
    """
    from importlib import metadata

    versions = {}
    for name in ("landscape", "jax", "jaxlib", "optax", "numpy"):
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = "not installed"
    return versions


def _umask() -> int:
    """The process's umask (read from ``/proc`` where possible, so nothing is changed)."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    old = os.umask(0o022)
    os.umask(old)
    return old


def config_hash(config: Mapping[str, Any]) -> str:
    """SHA-256 (hex) of the ``"experiment"`` and ``"config"`` entries of a ``config.json``
    (canonical JSON): what a results file's provenance names.

    >>> config_hash({"experiment": "xor_train", "config": {"seed": 0}})[:12]
    '8e6df529755a'
    >>> config_hash({"experiment": "xor_train", "config": {"seed": 1}})[:12] != '8e6df529755a'
    True
    """
    keys = {"experiment": config.get("experiment"), "config": _jsonable(config.get("config"))}
    text = json.dumps(keys, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


def confined(root: str | os.PathLike, name: str, what: str = "name") -> Path:
    """``root / name``, refused (:class:`StoreError`) unless it stays inside ``root``: no empty
    or absolute name, no ``..``, no symlink that leads out.

    >>> confined("/tmp/r", "chunks/a.npz").as_posix()
    '/tmp/r/chunks/a.npz'
    >>> confined("/tmp/r", "../x.json")
    Traceback (most recent call last):
    landscape.lab.store.StoreError: name '../x.json' leaves the results folder '/tmp/r'
    """
    text = str(name)
    parts = Path(text).parts
    if not text or Path(text).is_absolute() or ".." in parts or "\x00" in text:
        raise StoreError(f"{what} {text!r} leaves the results folder {str(root)!r}")
    path = Path(root) / text
    base = Path(root).resolve()
    if not path.resolve().is_relative_to(base):
        raise StoreError(f"{what} {text!r} leaves the results folder {str(root)!r} "
                         f"(it resolves to {str(path.resolve())!r})")
    return path


def clean_temp_files(root: str | os.PathLike, *, older_than: float = 0.0) -> list[Path]:
    """Remove the temporary files (``.*.tmp``) that a write killed midway left in ``root``
    (only those older than ``older_than`` seconds); returns them.

    >>> import tempfile, pathlib
    >>> root = pathlib.Path(tempfile.mkdtemp())
    >>> _ = (root / ".summary.json.abc.tmp").write_text("{")
    >>> [p.name for p in clean_temp_files(root)], list(root.iterdir())
    (['.summary.json.abc.tmp'], [])
    """
    root = Path(root)
    if not root.is_dir():
        return []
    now, removed = time.time(), []
    for path in root.rglob(".*.tmp"):
        try:
            if path.is_file() and not path.is_symlink() and now - path.stat().st_mtime >= older_than:
                path.unlink()
                removed.append(path)
        except OSError:
            pass
    return removed


def atomic_write(path: str | os.PathLike, write) -> None:
    """Call ``write(file)`` on a binary temp file beside ``path``, then move it into place
    (``os.replace``), so ``path`` is either complete or absent; parent folders are created.

    >>> import tempfile, pathlib
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "notes" / "a.txt"
    >>> atomic_write(path, lambda f: f.write(b"done"))
    >>> path.read_text()
    'done'
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp's 0600 would hide reports from colleagues
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _jsonable(obj):
    if isinstance(obj, Mapping):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    return obj


def _diff(old: Any, new: Any, prefix: str = "") -> list[str]:
    """Human-readable differences between two JSON values."""
    if isinstance(old, dict) and isinstance(new, dict):
        out = []
        for k in sorted(set(old) | set(new)):
            key = f"{prefix}.{k}" if prefix else k
            if k not in old or k not in new:
                out.append(f"{key}: {old.get(k, '<missing>')!r} vs {new.get(k, '<missing>')!r}")
            else:
                out.extend(_diff(old[k], new[k], key))
        return out
    return [] if old == new else [f"{prefix}: {_short(old)} (folder) vs {_short(new)} (now)"]


def _short(value: Any, limit: int = 40) -> str:
    """``repr(value)``, cut to ``limit`` characters (a long list in an error line).

    >>> _short(list(range(30)))
    '[0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, ...'
    """
    text = repr(value)
    return text if len(text) <= limit else text[:limit - 4].rsplit(" ", 1)[0] + " ..."


def folder_kind(config: Mapping[str, Any]) -> str:
    """What a ``config.json`` says its folder is: a run of an experiment, or a sweep of one.

    >>> folder_kind({"experiment": "xor_train", "smoke": True, "config": {"seed": 0}})
    "a run of experiment 'xor_train'"
    >>> folder_kind({"experiment": "xor_train", "config": {"mode": "grid", "values": {}, "overrides": {}}})
    "a sweep of experiment 'xor_train'"
    """
    inner = config.get("config")
    sweep = isinstance(inner, Mapping) and {"mode", "values", "overrides"} <= set(inner)
    return f"a {'sweep' if sweep else 'run'} of experiment {config.get('experiment')!r}"


_JSON_TYPES = {dict: "an object", list: "a list", str: "a string", bool: "true or false"}


def _shape_error(path: Path, key: str, value: Any, expected: str) -> StoreError:
    where = "its top level" if not key else f"key {key!r}"
    got = "null" if value is None else type(value).__name__
    return StoreError(f"{str(path)!r}: {where} must be {expected}, got {got}; the file is "
                      "damaged or not written by landscape")


def _expect(path: Path, obj: Mapping, key: str, kind: type, *, required: bool = True) -> Any:
    if key not in obj:
        if required:
            raise StoreError(f"{str(path)!r} lacks key {key!r}; the file is damaged or not written "
                             "by landscape")
        return None
    value = obj[key]
    if not isinstance(value, kind) or (kind is not bool and isinstance(value, bool)):
        raise _shape_error(path, key, value, _JSON_TYPES.get(kind, kind.__name__))
    return value


def check_config_json(path: Path, config: Any) -> dict:
    """``config`` (the contents of ``config.json`` at ``path``) checked for shape: an object
    with ``format``, ``experiment`` (a string), ``config`` (an object) and optional ``smoke``
    (bool) and ``versions`` (object); else :class:`StoreError` naming the file and key.

    >>> check_config_json(Path("r/config.json"), [])
    Traceback (most recent call last):
    landscape.lab.store.StoreError: 'r/config.json': its top level must be an object, got list; the file is damaged or not written by landscape
    """
    if not isinstance(config, dict):
        raise _shape_error(path, "", config, "an object")
    if config.get("format") != _FORMAT:
        raise StoreError(f"{str(path)!r}: key 'format' = {config.get('format')!r} is not "
                         f"{_FORMAT!r}; the file was not written by landscape")
    _expect(path, config, "experiment", str)
    _expect(path, config, "config", dict)
    _expect(path, config, "smoke", bool, required=False)
    versions = _expect(path, config, "versions", dict, required=False)
    for name, version in (versions or {}).items():
        if not isinstance(version, str):
            raise _shape_error(path, f"versions.{name}", version, "a string")
    return config


def check_summary_json(path: Path, summary: Any) -> dict:
    """``summary`` (the contents of ``summary.json``) checked for shape: an object whose
    optional ``headline`` and ``text`` are lists of strings and ``table`` an object of ``columns`` and ``rows``
    (lists, each row a list as long as the columns); else :class:`StoreError` naming the key.

    >>> check_summary_json(Path("r/summary.json"), {"text": "one line"})
    Traceback (most recent call last):
    landscape.lab.store.StoreError: 'r/summary.json': key 'text' must be a list, got str; the file is damaged or not written by landscape
    """
    if not isinstance(summary, dict):
        raise _shape_error(path, "", summary, "an object")
    for key in ("headline", "text"):
        for i, line in enumerate(_expect(path, summary, key, list, required=False) or []):
            if not isinstance(line, str):
                raise _shape_error(path, f"{key}.{i}", line, "a string")
    table = _expect(path, summary, "table", dict, required=False)
    if table is not None:
        columns = _expect(path, table, "columns", list)
        for i, row in enumerate(_expect(path, table, "rows", list)):
            if not isinstance(row, list) or len(row) != len(columns):
                raise _shape_error(path, f"table.rows.{i}", row,
                                   f"a list of {len(columns)} cells (one per column)")
    return summary


class ResultsDir:
    """One results folder. ``ResultsDir(path)`` does not touch the disk until a write.

    ``write_json(name, obj)`` / ``read_json(name)``: ``<name>.json`` (NumPy values become plain
    JSON); ``write_arrays(name, {key: array})`` / ``read_arrays(name)``: ``<name>.npz`` (no
    pickle; arrays keep their shapes and dtypes); ``save_figure``; ``files()``; ``has(name)``.
    Names may contain ``/`` (sub-folders) but never leave the folder. Every write is atomic.
    ``read_config()`` / ``read_summary()`` read ``config.json`` / ``summary.json`` checked for
    shape. Arrays written after :meth:`bind_config` carry their provenance (see the module
    docstring); reading refuses a file whose provenance does not match the folder's config.

    >>> import tempfile, numpy as np
    >>> results = ResultsDir(tempfile.mkdtemp())
    >>> _ = results.write_json("summary", {"rate": np.float32(0.5), "runs": [1, 2]})
    >>> results.read_json("summary")
    {'rate': 0.5, 'runs': [1, 2]}
    >>> _ = results.write_arrays("chunks/run", {"losses": np.zeros((4, 11))})
    >>> results.read_arrays("chunks/run")["losses"].shape, results.has("chunks/run")
    ((4, 11), True)
    >>> results.files()
    ['chunks/run.npz', 'summary.json']
    >>> results.write_json("../elsewhere", {})  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    landscape.lab.store.StoreError: name '../elsewhere.json' leaves the results folder ...
    """

    def __init__(self, path: str | os.PathLike, team=None):
        if not isinstance(path, (str, os.PathLike)) or not str(os.fspath(path)).strip():
            raise StoreError(f"results folder {path!r} must be a non-empty path")
        self.path = Path(path)
        if self.path.exists() and not self.path.is_dir():
            raise StoreError(f"results folder {str(self.path)!r} exists and is not a folder")
        self._hash: str | None = None
        self.team = team
        """The :class:`landscape.lab.team.Team` of processes sharing this folder (``None``: the
        ``jax.distributed`` processes). In a team, only process 0 writes; the others write
        training chunks (``chunks/...``) only, and their other writes are skipped."""

    def _muted(self, name: str) -> bool:
        """Whether a write of ``name`` is skipped: this process is not process 0 of its team
        and ``name`` is not a training chunk."""
        return getattr(self.team, "index", 0) != 0 and not str(name).startswith("chunks/")

    def _file(self, name: str, suffix: str) -> Path:
        if not isinstance(name, str) or not name or name.endswith("/"):
            raise StoreError(f"name {name!r} leaves the results folder {str(self.path)!r} "
                             "(a file name is needed)")
        return confined(self.path, f"{name}{suffix}")

    # --- JSON ---------------------------------------------------------------------------
    def write_json(self, name: str, obj: Any) -> Path:
        path = self._file(name, ".json")
        if self._muted(name):
            return path
        text = json.dumps(_jsonable(obj), indent=2, sort_keys=True) + "\n"
        atomic_write(path, lambda f: f.write(text.encode()))
        return path

    def read_json(self, name: str) -> Any:
        path = self._file(name, ".json")
        try:
            return json.loads(path.read_text())
        except FileNotFoundError:
            raise StoreError(f"{str(path)!r} does not exist") from None
        except (json.JSONDecodeError, UnicodeDecodeError) as err:
            raise StoreError(f"{str(path)!r} is not valid JSON ({err}); the file is corrupt") from None
        except OSError as err:
            raise StoreError(f"{str(path)!r} cannot be read ({err.strerror or err})") from None

    def read_config(self) -> dict:
        """``config.json``, checked for shape (:func:`check_config_json`)."""
        return check_config_json(self.path / "config.json", self.read_json("config"))

    def read_summary(self, name: str = "summary") -> dict:
        """``<name>.json`` (default ``summary.json``), checked for shape (:func:`check_summary_json`)."""
        return check_summary_json(self._file(name, ".json"), self.read_json(name))

    def bind_config(self, config: Mapping[str, Any], *, shared: bool = False) -> None:
        """Write ``config.json``, or check that an existing one holds the same ``config``.

        Only the ``"config"`` and ``"experiment"`` entries must match (versions may change);
        a mismatch raises :class:`StoreError` listing the differing keys. A folder that holds
        files but no ``config.json`` is refused (it is never adopted). Temporary files left by
        a killed write are removed (with other processes about, ``shared`` or a team of
        several, only those older than 10 minutes: a younger one may be a peer's write in
        progress). Arrays written afterwards carry the config's hash.
        """
        config = _jsonable(dict(config))
        if (self.path / "config.json").exists():
            old = self.read_config()
            was, now = folder_kind(old), folder_kind(config)
            if was != now:
                raise StoreError(f"results folder {str(self.path)!r} holds {was}, not {now}; use "
                                 "another --out folder (--fresh would delete its results)")
            keys = ("experiment", "config")
            diffs = _diff({k: old.get(k) for k in keys}, {k: config.get(k) for k in keys})
            if diffs:
                smoke = (" (a --smoke run writes to results/NAME-smoke unless --out says "
                         "otherwise)" if bool(old.get("smoke")) != bool(config.get("smoke")) else "")
                raise StoreError(
                    f"results folder {str(self.path)!r} was made by a different config ("
                    + "; ".join(diffs[:5]) + f"); use another --out folder{smoke} or start it "
                    "over with --fresh")
        else:
            if self.files() and not (self.path / "config.json").exists():  # (not a peer's, just written)
                raise StoreError(
                    f"results folder {str(self.path)!r} holds files but no config.json, so what "
                    "made them is unknown; use another --out folder or delete this one")
            self.write_json("config", {**config, "format": _FORMAT})
        self._hash = config_hash(config)
        alone = not shared and (self.team.count == 1 if self.team is not None else _one_process())
        clean_temp_files(self.path, older_than=0.0 if alone else 600.0)

    def expected_hash(self) -> str | None:
        """The config hash the folder's arrays must carry: from :meth:`bind_config`, else from
        ``config.json`` (``None`` for a folder without one)."""
        if self._hash is None and (self.path / "config.json").exists():
            self._hash = config_hash(self.read_config())
        return self._hash

    # --- arrays -------------------------------------------------------------------------
    def write_arrays(self, name: str, arrays: Mapping[str, Any],
                     provenance: Mapping[str, Any] | None = None) -> Path:
        """Write ``<name>.npz``; with a bound config it carries its provenance (the config
        hash, ``name``, the landscape version and ``provenance``)."""
        path = self._file(name, ".npz")
        if self._muted(name):
            return path
        host = {k: np.asarray(v) for k, v in arrays.items()}
        if PROVENANCE in host:
            raise StoreError(f"array name {PROVENANCE!r} is reserved")
        expected = self.expected_hash()
        if expected is not None:
            meta = {"config_hash": expected, "name": name,
                    "landscape": _version(), **_jsonable(provenance or {})}
            host[PROVENANCE] = np.array(json.dumps(meta, sort_keys=True))
        atomic_write(path, lambda f: np.savez(f, **host))
        return path

    def _load(self, name: str) -> tuple[Path, dict[str, np.ndarray]]:
        path = self._file(name, ".npz")
        try:
            with np.load(path, allow_pickle=False) as npz:
                return path, {k: npz[k] for k in npz.files}
        except FileNotFoundError:
            raise StoreError(f"{str(path)!r} does not exist") from None
        except (zipfile.BadZipFile, ValueError, OSError, EOFError) as err:
            raise StoreError(f"{str(path)!r} is not a readable .npz array file ({err})") from None

    def read_provenance(self, name: str) -> dict | None:
        """The provenance entry of ``<name>.npz`` (``None`` when it has none)."""
        path, arrays = self._load(name)
        return _provenance(path, arrays)

    def read_arrays(self, name: str, provenance: Mapping[str, Any] | None = None
                    ) -> dict[str, np.ndarray]:
        """The arrays of ``<name>.npz``. In a folder with a ``config.json`` the file's
        provenance must name this config, this ``name`` and (given) every item of
        ``provenance``; else :class:`StoreError` naming the file."""
        path, arrays = self._load(name)
        meta = _provenance(path, arrays)
        expected = self.expected_hash()
        if expected is not None:
            self._check(path, name, meta, expected, provenance or {})
        arrays.pop(PROVENANCE, None)
        return arrays

    def _check(self, path: Path, name: str, meta: dict | None, expected: str, extra: Mapping) -> None:
        if meta is None:
            raise StoreError(f"{str(path)!r} carries no provenance (what made it is unknown); "
                             "delete it to recompute it")
        problems = []
        if meta.get("config_hash") != expected:
            problems.append("it was made by another config")
        if meta.get("name") != name:
            problems.append(f"it was written as {meta.get('name')!r}, not {name!r}")
        for key, value in _jsonable(dict(extra)).items():
            if meta.get(key) != value:
                problems.append(f"its {key} is {meta.get(key)!r}, expected {value!r}")
        if problems:
            raise StoreError(f"{str(path)!r} does not belong here: " + "; ".join(problems)
                             + "; delete it to recompute it")

    def check_provenance(self) -> int:
        """Check the provenance of every ``.npz`` of the folder against its ``config.json``
        (:class:`StoreError` naming the first bad file); returns the number checked."""
        expected = self.expected_hash()
        names = [f[:-4] for f in self.files() if f.endswith(".npz")]
        if expected is not None:
            for name in names:
                path, arrays = self._load(name)
                self._check(path, name, _provenance(path, arrays), expected, {})
        return len(names)

    def save_figure(self, fig, filename: str) -> Path:
        """Save a matplotlib figure as ``filename`` (format from its suffix), atomically."""
        path = confined(self.path, filename)
        if self._muted(filename):
            return path
        fmt = path.suffix.lstrip(".")
        atomic_write(path, lambda f: fig.savefig(f, format=fmt, dpi=150, bbox_inches="tight"))
        return path

    def files(self) -> list[str]:
        """Relative paths of the files in the folder (temporary files and the processes'
        bookkeeping folder ``.landscape/`` excluded)."""
        if not self.path.is_dir():
            return []
        return sorted(str(p.relative_to(self.path)) for p in self.path.rglob("*")
                      if p.is_file() and not p.name.endswith(".tmp")
                      and p.relative_to(self.path).parts[0] != BOOKKEEPING)

    def has(self, name: str) -> bool:
        return self._file(name, ".npz").exists()


@functools.lru_cache(maxsize=1)
def _version() -> str:
    return package_versions()["landscape"]


def _provenance(path: Path, arrays: Mapping[str, np.ndarray]) -> dict | None:
    if PROVENANCE not in arrays:
        return None
    try:
        meta = json.loads(str(arrays[PROVENANCE]))
    except (json.JSONDecodeError, TypeError, ValueError):
        meta = None
    if not isinstance(meta, dict):
        raise StoreError(f"{str(path)!r} has a damaged provenance entry; delete it to recompute it")
    return meta


def _one_process() -> bool:
    """Whether this is the only process of the run (no ``jax.distributed`` peers), so a
    temporary file in the folder cannot be a peer's write in progress."""
    import jax

    try:
        return jax.process_count() == 1
    except RuntimeError:
        return True

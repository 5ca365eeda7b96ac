"""Results folders on disk: JSON metadata and ``.npz`` arrays, written atomically.

A results folder holds::

    config.json        the full resolved config, seed and package versions
    summary.json       headline numbers
    <name>.npz         arrays (no pickle)
    chunks/<tag>_<c>.npz   finished training chunks, so an interrupted run resumes
                           (written by :func:`landscape.lab.resumable.train_resumable`)

Every write goes to a temporary file in the same folder followed by ``os.replace``
(:func:`atomic_write`), so a file is either complete or absent. Loading a corrupt or foreign
file raises :class:`StoreError`.
"""

from __future__ import annotations

import json
import os
import tempfile
import zipfile
from pathlib import Path
from typing import Any, Mapping

import numpy as np

__all__ = ["StoreError", "ResultsDir", "atomic_write", "package_versions"]

_FORMAT = "landscape-results/1"


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
    return [] if old == new else [f"{prefix}: {old!r} (folder) vs {new!r} (now)"]


class ResultsDir:
    """One results folder. ``ResultsDir(path)`` does not touch the disk until a write.

    ``write_json(name, obj)`` / ``read_json(name)``: ``<name>.json`` (NumPy values become plain
    JSON); ``write_arrays(name, {key: array})`` / ``read_arrays(name)``: ``<name>.npz`` (no
    pickle; arrays keep their shapes and dtypes); ``save_figure``; ``files()``; ``has(name)``.
    Names may contain ``/`` (sub-folders). Every write is atomic.

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
    """

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)
        if self.path.exists() and not self.path.is_dir():
            raise StoreError(f"results folder {str(self.path)!r} exists and is not a folder")

    # --- JSON ---------------------------------------------------------------------------
    def write_json(self, name: str, obj: Any) -> Path:
        path = self.path / f"{name}.json"
        text = json.dumps(_jsonable(obj), indent=2, sort_keys=True) + "\n"
        atomic_write(path, lambda f: f.write(text.encode()))
        return path

    def read_json(self, name: str) -> Any:
        path = self.path / f"{name}.json"
        try:
            return json.loads(path.read_text())
        except FileNotFoundError:
            raise StoreError(f"{str(path)!r} does not exist") from None
        except (json.JSONDecodeError, UnicodeDecodeError) as err:
            raise StoreError(f"{str(path)!r} is not valid JSON ({err}); the file is corrupt") from None

    def bind_config(self, config: Mapping[str, Any]) -> None:
        """Write ``config.json``, or check that an existing one holds the same ``config``.

        Only the ``"config"`` and ``"experiment"`` entries must match (versions may change);
        a mismatch raises :class:`StoreError` listing the differing keys.
        """
        config = _jsonable(dict(config))
        if (self.path / "config.json").exists():
            old = self.read_json("config")
            if not isinstance(old, dict) or old.get("format") != _FORMAT:
                raise StoreError(f"{str(self.path)!r} holds a config.json not written by landscape")
            keys = ("experiment", "config")
            diffs = _diff({k: old.get(k) for k in keys}, {k: config.get(k) for k in keys})
            if diffs:
                raise StoreError(
                    f"results folder {str(self.path)!r} was made by a different config ("
                    + "; ".join(diffs[:5]) + "); use another --out folder or delete this one")
            return
        self.write_json("config", {**config, "format": _FORMAT})

    # --- arrays -------------------------------------------------------------------------
    def write_arrays(self, name: str, arrays: Mapping[str, Any]) -> Path:
        path = self.path / f"{name}.npz"
        host = {k: np.asarray(v) for k, v in arrays.items()}
        atomic_write(path, lambda f: np.savez(f, **host))
        return path

    def read_arrays(self, name: str) -> dict[str, np.ndarray]:
        path = self.path / f"{name}.npz"
        try:
            with np.load(path, allow_pickle=False) as npz:
                return {k: npz[k] for k in npz.files}
        except FileNotFoundError:
            raise StoreError(f"{str(path)!r} does not exist") from None
        except (zipfile.BadZipFile, ValueError, OSError, EOFError) as err:
            raise StoreError(f"{str(path)!r} is not a readable .npz array file ({err})") from None

    def save_figure(self, fig, filename: str) -> Path:
        """Save a matplotlib figure as ``filename`` (format from its suffix), atomically."""
        path = self.path / filename
        fmt = path.suffix.lstrip(".")
        atomic_write(path, lambda f: fig.savefig(f, format=fmt, dpi=150, bbox_inches="tight"))
        return path

    def files(self) -> list[str]:
        """Relative paths of the files in the folder (temporary files excluded)."""
        if not self.path.is_dir():
            return []
        return sorted(str(p.relative_to(self.path)) for p in self.path.rglob("*")
                      if p.is_file() and not p.name.endswith(".tmp"))

    def has(self, name: str) -> bool:
        return (self.path / f"{name}.npz").exists()

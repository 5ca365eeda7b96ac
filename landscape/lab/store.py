"""Results on disk: JSON metadata and ``.npz`` arrays, written atomically, resumable by chunk.

A results folder holds::

    config.json        the full resolved config, seed and package versions
    summary.json       headline numbers
    <name>.npz         arrays (no pickle)
    chunks/<tag>_<c>.npz   finished training chunks, so an interrupted run resumes

Every write goes to a temporary file in the same folder followed by ``os.replace``, so a file is
either complete or absent. Loading a corrupt or foreign file raises :class:`StoreError`.
"""

from __future__ import annotations

import json
import os
import tempfile
import zipfile
from pathlib import Path
from typing import Any, Mapping

import jax
import numpy as np

from . import parallel
from .train import TrainPlan, TrainResult, concat_results, progress_bar

__all__ = ["StoreError", "ResultsDir", "package_versions", "result_arrays", "result_from_arrays",
           "train_resumable"]

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


def _atomic_write(path: Path, write) -> None:
    """Call ``write(file)`` on a temp file beside ``path``, then move it into place."""
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
        _atomic_write(path, lambda f: f.write(text.encode()))
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
        _atomic_write(path, lambda f: np.savez(f, **host))
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
        _atomic_write(path, lambda f: fig.savefig(f, format=fmt, dpi=150, bbox_inches="tight"))
        return path

    def files(self) -> list[str]:
        """Relative paths of the files in the folder (temporary files excluded)."""
        if not self.path.is_dir():
            return []
        return sorted(str(p.relative_to(self.path)) for p in self.path.rglob("*")
                      if p.is_file() and not p.name.endswith(".tmp"))

    def has(self, name: str) -> bool:
        return (self.path / f"{name}.npz").exists()


def result_arrays(result: TrainResult) -> dict[str, np.ndarray]:
    """Flat ``{name: array}`` view of a :class:`TrainResult` (params leaves as ``params/<i>``,
    trajectory leaves as ``trajectory/<i>``, in ``jax.tree.leaves`` order; shapes unchanged),
    ready for :meth:`ResultsDir.write_arrays`.

    >>> import numpy as np
    >>> from landscape.train import TrainResult
    >>> result = TrainResult(params=[{"w": np.zeros((2, 2, 2)), "b": np.zeros((2, 2))}],
    ...                      losses=np.ones((2, 11)), record_steps=np.arange(0, 101, 10),
    ...                      grad_norm=np.zeros(2), status=np.zeros(2, int), failed_step=np.full(2, -1))
    >>> sorted(result_arrays(result))
    ['failed_step', 'grad_norm', 'losses', 'params/0', 'params/1', 'record_steps', 'status']
    """
    arrays = {
        "losses": result.losses, "record_steps": result.record_steps,
        "grad_norm": result.grad_norm, "status": result.status, "failed_step": result.failed_step,
    }
    if result.success_step is not None:
        arrays["success_step"] = result.success_step
    for i, leaf in enumerate(jax.tree.leaves(result.params)):
        arrays[f"params/{i}"] = leaf
    if result.trajectory is not None:
        arrays["trajectory_runs"] = result.trajectory_runs
        for i, leaf in enumerate(jax.tree.leaves(result.trajectory)):
            arrays[f"trajectory/{i}"] = leaf
    return arrays


def result_from_arrays(arrays: Mapping[str, np.ndarray], like) -> TrainResult:
    """Inverse of :func:`result_arrays`; ``like`` is a params pytree (or shapes) of one run
    giving the tree. A missing array raises :class:`StoreError`.

    >>> import numpy as np
    >>> from landscape.train import TrainResult
    >>> like = [{"w": np.zeros((2, 2)), "b": np.zeros(2)}]
    >>> result = TrainResult(params=[{"w": np.ones((3, 2, 2)), "b": np.zeros((3, 2))}],
    ...                      losses=np.ones((3, 11)), record_steps=np.arange(0, 101, 10),
    ...                      grad_norm=np.zeros(3), status=np.zeros(3, int), failed_step=np.full(3, -1))
    >>> back = result_from_arrays(result_arrays(result), like)
    >>> back.params[0]["w"].shape, back.losses.shape
    ((3, 2, 2), (3, 11))
    """
    leaves, treedef = jax.tree.flatten(like)
    try:
        params = treedef.unflatten([arrays[f"params/{i}"] for i in range(len(leaves))])
        trajectory = None
        if "trajectory_runs" in arrays:
            trajectory = treedef.unflatten([arrays[f"trajectory/{i}"] for i in range(len(leaves))])
        return TrainResult(
            params=params, losses=arrays["losses"], record_steps=arrays["record_steps"],
            grad_norm=arrays["grad_norm"], status=arrays["status"],
            failed_step=arrays["failed_step"], success_step=arrays.get("success_step"),
            trajectory=trajectory, trajectory_runs=arrays.get("trajectory_runs"))
    except KeyError as err:
        raise StoreError(f"array file lacks {err}; it was not written by landscape for these params") from None


def train_resumable(plan: TrainPlan, results: ResultsDir, tag: str, *, progress: bool | None = None
                    ) -> TrainResult:
    """Run every chunk of ``plan``, saving each as ``chunks/<tag>_<c>.npz``; skip saved ones.

    Re-running after an interruption loads the finished chunks and trains only the rest; the
    joined result is bit-identical to an uninterrupted run (each chunk is deterministic).

    With several processes (after :func:`jax.distributed.initialize`, ``results`` on a file
    system they all see), process ``p`` trains the chunks ``c`` with ``c % process_count == p``
    (:func:`landscape.parallel.process_chunks`), all processes wait for each other
    (:func:`landscape.parallel.wait_for_processes`), and each returns the whole result, read
    from the chunk files: bit-identical to a one-process run.

    >>> import tempfile, jax, optax, numpy as np, landscape as ls
    >>> model = ls.mlp([2, 2, 1])
    >>> plan = ls.train.plan_training(ls.objectives.loss(model), ls.inits.normal(model, 1.0),
    ...                               optax.sgd(0.5), ls.datasets.xor(), key=jax.random.key(0),
    ...                               n_runs=4, steps=10, record_every=10, chunk_size=2)
    >>> results = ResultsDir(tempfile.mkdtemp())
    >>> first = train_resumable(plan, results, "xor", progress=False)
    >>> first.losses.shape, results.files()
    ((4, 2), ['chunks/xor_00000.npz', 'chunks/xor_00001.npz'])
    >>> again = train_resumable(plan, results, "xor", progress=False)  # loads both chunks
    >>> bool(np.array_equal(again.losses, first.losses))
    True
    """
    like = plan.params_like
    trained = {}
    mine = parallel.process_chunks(plan.n_chunks)
    for c in progress_bar(mine, len(mine), progress, desc=tag, plan=plan):
        if not results.has(_chunk_name(tag, c)):
            trained[c] = plan.run_chunk(c)
            results.write_arrays(_chunk_name(tag, c), result_arrays(trained[c]))
    parallel.wait_for_processes(f"landscape.store.train_resumable:{tag}")
    parts = [trained[c] if c in trained else _read_chunk(plan, results, tag, c, like)
             for c in range(plan.n_chunks)]
    return concat_results(parts) if len(parts) > 1 else parts[0]


def _chunk_name(tag: str, c: int) -> str:
    return f"chunks/{tag}_{c:05d}"


def _read_chunk(plan: TrainPlan, results: ResultsDir, tag: str, c: int, like) -> TrainResult:
    """Chunk ``c`` from its file, checked to hold the runs ``plan.chunk_bounds(c)``."""
    name = _chunk_name(tag, c)
    if not results.has(name):
        count = jax.process_count()
        raise StoreError(f"{name}.npz is missing after all {count} processes finished (process "
                         f"{c % count} trained it); is {str(results.path)!r} on a file system "
                         "every process shares?")
    part = result_from_arrays(results.read_arrays(name), like)
    start, stop = plan.chunk_bounds(c)
    if part.n_runs != stop - start:
        raise StoreError(f"{name}.npz holds {part.n_runs} runs, expected {stop - start}")
    return part

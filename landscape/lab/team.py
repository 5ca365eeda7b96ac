"""Several processes sharing one results folder: who does what, and waiting on files, not collectives.

A :class:`Team` is this process's place among the processes of one job: ``index`` of ``count``
(from :func:`jax.process_index` / :func:`jax.process_count`, or a job array's ``--shard I/N``).
The processes coordinate only through the results folder, which they must all see:

- work item ``i`` (a training chunk, a sweep point) belongs to process ``i % count``
  (:meth:`Team.owns`);
- a process waits for a file another one writes with :func:`wait_for_files`, which polls the
  folder; every process marks that it is alive by touching ``.landscape/alive_<index>`` every
  second (:func:`heartbeat`), so a process that died is noticed after ``timeout`` seconds
  (default :data:`PEER_TIMEOUT`, or ``$LANDSCAPE_PEER_TIMEOUT``) and the wait ends with a
  one-line :class:`PeerLost` naming the process and the file it never wrote;
- process 0 ends a run by writing ``.landscape/outcome-<token>.json`` (its exit code and
  message; :func:`write_outcome`), which the others wait for (:func:`wait_for_outcome`), so
  every process exits with the same status.

The hidden ``.landscape/`` folder is bookkeeping, not results: :meth:`ResultsDir.files` skips it.
No collective (``sync_global_devices``) is used: JAX's coordination service ends every process
with a C++ stack dump when one dies, while a file that never appears can be reported plainly.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import shutil
import threading
import time
from pathlib import Path

from .store import BOOKKEEPING, StoreError, atomic_write

__all__ = ["Team", "PeerLost", "PEER_TIMEOUT", "BOOKKEEPING", "heartbeat", "in_background",
           "wait_for_files", "write_outcome", "wait_for_outcome", "peer_timeout"]

PEER_TIMEOUT = 180.0
"""Seconds without a sign of life after which a peer process counts as dead (generous: a
shared file system may show a file's new modification time a minute late, and a long call that
holds Python's GIL, such as drawing a figure on a loaded machine, delays a heartbeat)."""
_BEAT = 1.0
_POLL = 0.1


class PeerLost(StoreError):
    """Another process of the job stopped (or failed) before writing a file this one needs."""


@dataclasses.dataclass(frozen=True)
class Team:
    """This process's place among ``count`` processes: ``index`` in ``[0, count)``; ``token``
    names this launch (all processes share it), so an outcome of an earlier launch is ignored.

    >>> Team(1, 3).owns(4), Team(1, 3).share(7)
    (True, [1, 4])
    >>> Team(3, 3)
    Traceback (most recent call last):
    ValueError: shard index 3 must be in [0, 3)
    """

    index: int = 0
    count: int = 1
    token: str = "solo"

    def __post_init__(self):
        if not isinstance(self.count, int) or self.count < 1:
            raise ValueError(f"shard count {self.count!r} must be an integer >= 1")
        if not isinstance(self.index, int) or not 0 <= self.index < self.count:
            raise ValueError(f"shard index {self.index!r} must be in [0, {self.count})")

    @classmethod
    def of_jax(cls) -> "Team":
        """The team of the ``jax.distributed`` processes (one process: ``Team(0, 1)``)."""
        import jax

        return cls(jax.process_index(), jax.process_count())

    @classmethod
    def parse(cls, text: str) -> "Team":
        """``"I/N"`` (a job array's ``--shard``) -> ``Team(I, N)``; else a one-line ValueError.

        >>> Team.parse("2/4")
        Team(index=2, count=4, token='solo')
        >>> Team.parse("4/4")
        Traceback (most recent call last):
        ValueError: --shard '4/4': shard index 4 must be in [0, 4)
        """
        index, sep, count = str(text).partition("/")
        try:
            if not sep:
                raise ValueError("expected I/N, e.g. 0/4")
            return cls(int(index), int(count))
        except ValueError as err:
            message = str(err) if "shard" in str(err) or "expected" in str(err) else "expected I/N, e.g. 0/4"
            raise ValueError(f"--shard {text!r}: {message}") from None

    @property
    def solo(self) -> bool:
        return self.count == 1

    def owns(self, item: int) -> bool:
        return item % self.count == self.index

    def share(self, n: int) -> list[int]:
        """The items of ``range(n)`` this process owns."""
        return list(range(self.index, n, self.count))

    def owner(self, item: int) -> int:
        return item % self.count


def peer_timeout() -> float:
    """:data:`PEER_TIMEOUT`, or ``$LANDSCAPE_PEER_TIMEOUT`` seconds when set.

    >>> peer_timeout() > 0
    True
    """
    text = os.environ.get("LANDSCAPE_PEER_TIMEOUT")
    if not text:
        return PEER_TIMEOUT
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not value > 0:
        raise ValueError(f"LANDSCAPE_PEER_TIMEOUT={text!r} must be a positive number of seconds")
    return value


def _alive_file(root: Path, index: int) -> Path:
    return Path(root) / BOOKKEEPING / f"alive_{index}"


@contextlib.contextmanager
def heartbeat(root: str | os.PathLike, team: Team):
    """Touch ``root/.landscape/alive_<index>`` every second while the block runs (nothing
    for a one-process team, nor inside a heartbeat of the same file); the file is removed
    afterwards."""
    path = _alive_file(Path(root), team.index).absolute()
    if team.solo or path in _BEATING:  # nested (train_resumable inside run_experiment): one beat
        yield
        return
    _BEATING.add(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.touch()
    def beat(stop: threading.Event):
        while True:
            with contextlib.suppress(OSError):
                path.touch()
            if stop.wait(_BEAT):
                return

    try:
        with in_background(beat, "landscape-heartbeat"):
            yield
    finally:
        _BEATING.discard(path)
        path.unlink(missing_ok=True)
        with contextlib.suppress(OSError):
            path.parent.rmdir()  # the last process out leaves no bookkeeping folder


@contextlib.contextmanager
def in_background(task, name: str):
    """Run ``task(stop)`` in a daemon thread called ``name`` while the block runs; on leaving it,
    set the ``threading.Event`` ``stop`` and wait for the thread (``task`` should return soon
    after ``stop`` is set: e.g. loop on ``stop.wait(seconds)``).

    >>> ticks = []
    >>> with in_background(lambda stop: ticks.append(stop.wait(5)), "example"):
    ...     pass
    >>> ticks
    [True]
    """
    stop = threading.Event()
    thread = threading.Thread(target=task, args=(stop,), name=name, daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()


_BEATING: set[Path] = set()
"""The ``alive`` files this process touches now (so a nested :func:`heartbeat` adds nothing)."""


def _silent_for(root: Path, index: int, since: float) -> float:
    """Seconds since process ``index`` last showed a sign of life (counted from ``since`` at most)."""
    try:
        last = max(_alive_file(root, index).stat().st_mtime, since)
    except OSError:
        last = since
    return time.time() - last


def wait_for_files(root: str | os.PathLike, team: Team, files: dict[str, int], *,
                   what: str = "file") -> None:
    """Wait until every file ``root/<name>`` of ``files`` (``{name: owning process}``) exists.

    A missing file whose owner has shown no sign of life for :func:`peer_timeout` seconds
    raises :class:`PeerLost` naming the process and the file (run the command again to resume).
    """
    root = Path(root)
    start, timeout = time.time(), peer_timeout()
    while True:
        missing = {n: p for n, p in files.items() if not (root / n).exists()}
        if not missing:
            return
        for name, owner in missing.items():
            if owner != team.index and _silent_for(root, owner, start) > timeout:
                raise PeerLost(f"process {owner} of {team.count} stopped (no sign of life for "
                               f"{timeout:g} s) before writing its {what} {name}; run the same "
                               "command again to resume")
        time.sleep(_POLL)


def _outcome_file(root: Path, team: Team) -> Path:
    return Path(root) / BOOKKEEPING / f"outcome-{team.token}.json"


def write_outcome(root: str | os.PathLike, team: Team, code: int, message: str = "") -> None:
    """Process 0 says how the run ended (its exit ``code`` and one-line ``message``), waits
    until every other process has read it (or shows no sign of life), then removes the
    bookkeeping folder, so the results folder ends as a one-process run leaves it."""
    if team.solo or team.index != 0:
        return
    root = Path(root)
    text = json.dumps({"code": code, "message": message})
    atomic_write(_outcome_file(root, team), lambda f: f.write(text.encode()))
    start, timeout = time.time(), peer_timeout()
    while any(_still_to_read(root, team, i, start, timeout) for i in range(1, team.count)):
        time.sleep(_POLL)
    shutil.rmtree(root / BOOKKEEPING, ignore_errors=True)


def _still_to_read(root: Path, team: Team, index: int, start: float, timeout: float) -> bool:
    """Whether process ``index`` may still read the outcome: it has not, and it is still about
    (its ``alive`` file is there and fresh; a process that ended removed it)."""
    return (not _read_file(root, team, index).exists() and _alive_file(root, index).exists()
            and _silent_for(root, index, start) <= timeout)


def _read_file(root: Path, team: Team, index: int) -> Path:
    return root / BOOKKEEPING / f"read-{team.token}_{index}"


def wait_for_outcome(root: str | os.PathLike, team: Team) -> tuple[int, str]:
    """``(exit code, message)`` of process 0's run, waited for (:class:`PeerLost` if process 0
    dies first); says process 0 that it was read."""
    root = Path(root)
    name = str(_outcome_file(root, team).relative_to(root))
    wait_for_files(root, team, {name: 0}, what="outcome")
    outcome = json.loads(_outcome_file(root, team).read_text())
    _read_file(root, team, team.index).touch()
    return int(outcome["code"]), str(outcome["message"])

"""Shared fixtures, and the background jobs of slow self-contained tests."""

import dataclasses
import os
import shutil
import subprocess
import tempfile
import threading
from pathlib import Path

import jax
import pytest


@pytest.fixture(scope="module")
def x64():
    """Float64 for the whole module that uses it; the default (float32) is restored afterwards,
    so other test files keep the trainer's float32 default. Modules use it with
    ``pytestmark = pytest.mark.usefixtures("x64")``."""
    old = jax.config.jax_enable_x64
    jax.config.update("jax_enable_x64", True)
    yield
    jax.config.update("jax_enable_x64", old)


SWEEP_ARGS = ["run", "xor_train", "--smoke", "--no-progress", "--set", "n_runs=128", "--set", "steps=200",
              "--sweep", "learning_rate=[0.5, 1.0]", "--sweep", "seed=[0, 1]"]
"""A 4-point grid (learning rate x seed) of the xor_train smoke config, 2 chunks per start kind."""


@pytest.fixture(scope="session")
def xor_sweep(tmp_path_factory):
    """``(out, compiles)``: the sweep of ``SWEEP_ARGS`` run through the CLI once per session, and
    per compiled function the XLA compilations it needed (``{name: [requests, cache hits]}``).
    Tests that change the folder work on a copy."""
    from jax import monitoring

    from landscape.lab import cli

    out = tmp_path_factory.mktemp("sweep") / "lr_seed"
    compiles, hit = {}, []

    def on_event(event, **kwargs):
        if event == "/jax/compilation_cache/cache_hits":
            hit.append(True)

    def on_duration(event, duration, **kwargs):
        if event == "/jax/core/compile/backend_compile_duration":
            counts = compiles.setdefault(str(kwargs.get("fun_name")), [0, 0])
            counts[0] += 1
            counts[1] += bool(hit)  # a cache hit is reported inside the compile it served
            hit.clear()

    monitoring.register_event_listener(on_event)
    monitoring.register_event_duration_secs_listener(on_duration)
    try:
        assert cli.main(SWEEP_ARGS + ["--out", str(out)]) == 0
    finally:
        monitoring.unregister_event_listener(on_event)
        monitoring.unregister_event_duration_listener(on_duration)
    return out, compiles


# --- slow self-contained jobs in the background -------------------------------------------------

ROOT = Path(__file__).resolve().parent.parent
JOB_TIMEOUT = 600  # seconds; generous for a loaded 2-core machine


@dataclasses.dataclass
class _Job:
    argv: list
    cwd: Path
    done: threading.Event = dataclasses.field(default_factory=threading.Event)
    proc: subprocess.Popen | None = None
    output: tuple | None = None  # (returncode, stdout, stderr)


class BackgroundJobs:
    """Slow subprocess jobs of the collected tests, started when the session starts and run one at
    a time in a worker thread, so that they use the core the (single-threaded) test process leaves
    idle. ``result(name)`` waits for a job; a job the worker has not reached yet is run at once
    by the caller instead. A test module declares the jobs of its collected tests with a
    module-level ``background_job(item, folder) -> (name, argv) | None``: the command ``argv``
    runs in ``folder`` (a fresh directory) with ``PYTHONPATH`` at the repository and
    ``MPLBACKEND=Agg``; tests that return the same name share one job."""

    def __init__(self):
        self.jobs, self.pending = {}, []
        self.lock = threading.Lock()
        self.root = Path(tempfile.mkdtemp(prefix="landscape-jobs-"))
        self.thread = threading.Thread(target=self._work, daemon=True)

    def start(self, items) -> None:
        for item in items:
            declare = getattr(getattr(item, "module", None), "background_job", None)
            folder = self.root / f"job{len(self.jobs)}"
            job = declare(item, folder) if declare is not None else None
            if job is not None and job[0] not in self.jobs:  # tests may share a job
                folder.mkdir(exist_ok=True)
                self.jobs[job[0]] = _Job(list(job[1]), folder)
                self.pending.append(job[0])
        if self.pending:
            self.thread.start()

    def _take(self, name=None):
        with self.lock:
            if name is None:
                return self.jobs[self.pending.pop(0)] if self.pending else None
            if name in self.pending:
                self.pending.remove(name)
                return self.jobs[name]
            return None

    def _work(self) -> None:
        while (job := self._take()) is not None:
            self._run(job)

    @staticmethod
    def _run(job: _Job) -> None:
        env = {**os.environ, "PYTHONPATH": str(ROOT), "MPLBACKEND": "Agg"}
        try:
            job.proc = subprocess.Popen(job.argv, cwd=job.cwd, env=env, text=True,
                                        stdout=subprocess.PIPE, stderr=subprocess.PIPE)
            try:
                out, err = job.proc.communicate(timeout=JOB_TIMEOUT)
            except subprocess.TimeoutExpired:
                job.proc.kill()
                out, err = job.proc.communicate()
                err += f"\n[killed after {JOB_TIMEOUT} s]"
            job.output = (job.proc.returncode, out, err)
        except Exception as error:  # e.g. the program cannot start: the test reports it
            job.output = (-1, "", repr(error))
        finally:
            job.done.set()

    def result(self, name: str) -> tuple[int, str, str, Path]:
        """``(returncode, stdout, stderr, folder)`` of job ``name``."""
        job = self._take(name)
        if job is not None:
            self._run(job)
        job = self.jobs[name]
        job.done.wait()
        return (*job.output, job.cwd)

    def stop(self) -> None:
        with self.lock:
            self.pending.clear()
        for job in self.jobs.values():
            if job.proc is not None and job.proc.poll() is None:
                job.proc.kill()
        if self.thread.is_alive():
            self.thread.join()
        shutil.rmtree(self.root, ignore_errors=True)


_BACKGROUND = BackgroundJobs()


def pytest_collection_finish(session):
    if not session.config.option.collectonly:
        _BACKGROUND.start(session.items)


def pytest_sessionfinish(session, exitstatus):
    _BACKGROUND.stop()


@pytest.fixture(scope="session")
def background():
    """The session's :class:`BackgroundJobs`: ``background.result(name)``."""
    return _BACKGROUND

"""Local processes started together, each writing its output to its own log file.

Shared by ``cli_processes.py`` and ``two_process.py`` (which put this folder on ``sys.path``):
:func:`free_port` for a coordinator on 127.0.0.1, :func:`child_env` (JAX's device count left to
the child), and :class:`ProcessGroup` to start, wait for and stop the processes.
"""

import os
import socket
import subprocess
from pathlib import Path

TIMEOUT = 600  # seconds for all processes, generous for a loaded 2-core machine


def free_port() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return str(s.getsockname()[1])


def child_env(**extra: str) -> dict:
    """This environment without a chosen CPU device count (each child chooses its own), plus
    ``extra``."""
    env = {k: v for k, v in os.environ.items() if k not in ("XLA_FLAGS", "JAX_NUM_CPU_DEVICES")}
    env.update(extra)
    return env


class ProcessGroup:
    """Start every command of ``commands`` at once, the ``i``-th writing to ``logs[i]`` (its
    environment ``envs[i]``); :meth:`wait` for them, :meth:`stop` them."""

    def __init__(self, commands, logs, envs):
        self.procs, self.logs = [], [Path(log) for log in logs]
        for command, log, env in zip(commands, self.logs, envs, strict=True):
            with open(log, "w") as out:  # the child keeps its own copy of the descriptor
                self.procs.append(subprocess.Popen(command, env=env, stdout=out,
                                                   stderr=subprocess.STDOUT))

    def wait(self, timeout: float = TIMEOUT) -> tuple[list[int], list[str]]:
        """Every process's exit code and output (a process still running after ``timeout``
        seconds, e.g. waiting for a partner that died, is killed)."""
        try:
            for p in self.procs:
                p.wait(timeout=timeout)
        finally:
            self.stop()
        return [p.returncode for p in self.procs], [log.read_text() for log in self.logs]

    def stop(self) -> None:
        """Kill the processes still running."""
        for p in self.procs:
            if p.poll() is None:
                p.kill()
                p.wait()

"""Several local ``landscape run`` processes joined by ``jax.distributed`` (coordinator on 127.0.0.1).

Used by ``tests/test_cli.py`` and ``tests/test_lab_reliability.py``, or by hand::

    python tests/scripts/cli_processes.py N FOLDER -- run xor_train --smoke --set n_runs=192

starts ``python -m landscape <args> --out FOLDER --coordinator 127.0.0.1:PORT --num-processes N
--process-id I`` for every ``I`` on a free port (:func:`launch`) and prints every process's exit
code and output. ``dies=[I, ...]``: those processes join the others and then exit at once
(``--die``), as a process killed before its first chunk would; the others must report it.
"""

import os
import socket
import subprocess
import sys
from pathlib import Path

TIMEOUT = 600  # seconds for all processes, generous for a loaded 2-core machine


def free_port() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return str(s.getsockname()[1])


def die(address: str, count: int, index: int) -> None:
    """Join the ``count`` processes as ``index`` (as ``landscape run`` does), then exit at once."""
    from landscape import parallel
    from landscape.lab import cli

    parallel.use_host_cores()  # as the `landscape` program does: equal device counts everywhere
    cli._join(address, count, index)
    os._exit(9)


class Processes:
    """The processes :func:`launch` started; :meth:`wait` for them."""

    def __init__(self, procs, logs):
        self.procs, self.logs = procs, logs

    def wait(self, timeout: float = TIMEOUT) -> tuple[list[int], list[str]]:
        """Every process's exit code and output (a process still running after ``timeout``
        seconds is killed)."""
        try:
            for p in self.procs:
                p.wait(timeout=timeout)
        finally:
            for p in self.procs:
                if p.poll() is None:
                    p.kill()
                    p.wait()
        return [p.returncode for p in self.procs], [log.read_text() for log in self.logs]

    def stop(self) -> None:
        """Kill the processes still running."""
        for p in self.procs:
            if p.poll() is None:
                p.kill()
                p.wait()


def launch(count: int, folder, argv, *, logs, dies=(), peer_timeout: float | None = None) -> Processes:
    """Start ``count`` ``landscape`` processes running ``argv + ["--out", folder]`` together;
    their output goes to ``logs/process_<i>.log``. Returns at once."""
    env = {k: v for k, v in os.environ.items() if k not in ("XLA_FLAGS", "JAX_NUM_CPU_DEVICES")}
    if peer_timeout is not None:
        env["LANDSCAPE_PEER_TIMEOUT"] = str(peer_timeout)
    address = f"127.0.0.1:{free_port()}"
    procs, files = [], []
    for i in range(count):
        files.append(Path(logs) / f"process_{i}.log")
        command = ([sys.executable, __file__, "--die", address, str(count), str(i)] if i in dies else
                   [sys.executable, "-m", "landscape", *argv, "--out", str(folder),
                    "--coordinator", address, "--num-processes", str(count), "--process-id", str(i)])
        with open(files[-1], "w") as log:  # the child keeps its own copy of the descriptor
            procs.append(subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT))
    return Processes(procs, files)


if __name__ == "__main__":
    if sys.argv[1:2] == ["--die"]:
        die(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]))
    elif len(sys.argv) > 4 and sys.argv[3] == "--":
        codes, texts = launch(int(sys.argv[1]), sys.argv[2], sys.argv[4:],
                              logs=Path(sys.argv[2]).parent).wait()
        for i, (code, text) in enumerate(zip(codes, texts)):
            print(f"process {i} exited with {code}:\n{text}")
        sys.exit(max(abs(c) for c in codes))
    else:
        sys.exit(f"usage: {sys.argv[0]} N FOLDER -- landscape arguments")

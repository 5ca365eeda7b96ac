"""Two processes joined by ``jax.distributed`` (coordinator on 127.0.0.1) train one plan.

Run by ``tests/test_parallel.py``, or by hand::

    python tests/scripts/two_process.py FOLDER

starts this file twice as a worker (``--worker PORT PROCESS_ID FOLDER``) on a free port and
waits for both (:func:`launch`, which the test calls directly); the exit status is the worst of
the two, and each worker's output is in ``FOLDER/process_<id>.log``. Each worker exposes 2 host cores as
devices, trains its share of the chunks of :func:`multi_process_plan` into the shared results
folder ``FOLDER`` and saves the whole result it gets back as ``FOLDER/process_<id>.npz`` (with
its core, device and process counts).
"""

import sys
from pathlib import Path

import jax
import numpy as np
import optax

import landscape as ls  # importing starts no backend: jax.distributed can still initialize
from landscape import parallel
from landscape.lab.resumable import result_arrays, train_resumable
from landscape.lab.store import ResultsDir

sys.path.insert(0, str(Path(__file__).parent))
from process_group import TIMEOUT, ProcessGroup, child_env, free_port  # noqa: E402

N_PROCESSES = 2
DEVICES_PER_PROCESS = 2


def multi_process_plan():
    """The plan of the two-process test: 3 chunks, so process 0 trains two and process 1 one,
    each chunk split over the process's 2 devices (64 runs each)."""
    model = ls.mlp([2, 2, 1])
    return ls.plan_training(ls.objectives.loss(model, "mse"), ls.inits.normal(model, 1.0),
                            optax.sgd(0.5), ls.datasets.xor(), key=jax.random.key(7), n_runs=300,
                            steps=30, record_every=10, chunk_size=128, trajectory_runs=[3, 200],
                            success=ls.objectives.success(model))


def worker(port: str, process_id: int, folder: str) -> None:
    """One of the processes: join the others, train this process's chunks, save the result."""
    cores = parallel.use_host_cores(DEVICES_PER_PROCESS)
    jax.distributed.initialize(f"127.0.0.1:{port}", num_processes=N_PROCESSES,
                               process_id=process_id)
    plan = multi_process_plan()
    result = train_resumable(plan, ResultsDir(folder), "runs", progress=False)
    np.savez(f"{folder}/process_{process_id}.npz", cores=cores, local=plan.n_devices,
             processes=jax.process_count(), **result_arrays(result))


class Workers(ProcessGroup):
    """The worker processes :func:`launch` started."""

    def wait(self, timeout: float = TIMEOUT) -> tuple[int, str]:
        """Wait for every worker: ``(worst exit code, their output)``."""
        codes, texts = super().wait(timeout)
        text = "".join(f"process {pid} exited with {code}:\n{log[-3000:]}\n"
                       for pid, (code, log) in enumerate(zip(codes, texts, strict=True)))
        return max(abs(c) for c in codes), text


def launch(folder) -> Workers:
    """Start the workers on a free port, training into ``folder``; their output goes to
    ``folder/process_<id>.log``. Returns at once."""
    folder, port = Path(folder), free_port()
    return Workers([[sys.executable, __file__, "--worker", port, str(pid), str(folder)]
                    for pid in range(N_PROCESSES)],
                   [folder / f"process_{pid}.log" for pid in range(N_PROCESSES)],
                   [child_env()] * N_PROCESSES)


if __name__ == "__main__":
    if sys.argv[1:2] == ["--worker"]:
        worker(sys.argv[2], int(sys.argv[3]), sys.argv[4])
    elif len(sys.argv) == 2:
        code, text = launch(sys.argv[1]).wait()
        print(text, end="")
        sys.exit(code)
    else:
        sys.exit(f"usage: {sys.argv[0]} FOLDER")

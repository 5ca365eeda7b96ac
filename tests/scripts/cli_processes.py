"""Several local ``landscape run`` processes joined by ``jax.distributed`` (coordinator on 127.0.0.1).

Used by ``tests/test_cli_processes.py``, or by hand::

    python tests/scripts/cli_processes.py N FOLDER -- run xor_train --smoke --set n_runs=192

starts ``landscape <args> --out FOLDER --coordinator 127.0.0.1:PORT --num-processes N
--process-id I`` for every ``I`` on a free port (:func:`launch`) and prints every process's exit
code and output. Each runs as the ``landscape`` program does (:func:`counted`), and counts the
calls of its experiment's ``run`` (the analysis) in ``logs/analyses_<I>``. ``dies=[I, ...]``:
those processes join the others and then exit at once (``--die``), as a process killed before
its first chunk would; ``absent=[I, ...]``: those are never started. The others must report it.
"""

import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from process_group import ProcessGroup, child_env, free_port  # noqa: E402


def die(folder: str, address: str, count: int, index: int) -> None:
    """Join the ``count`` processes as ``index`` (as ``landscape run`` does), then exit at once."""
    from landscape.lab import cli

    cli._join(Path(folder), address, count, index, cores=True)
    os._exit(9)


def counted(argv) -> None:
    """``landscape argv`` as the program runs it, each experiment's ``run`` call appending a
    line to ``$LANDSCAPE_TEST_ANALYSES``; at the end, its device count and its process index
    and count as JAX saw them are written to ``$LANDSCAPE_TEST_DEVICES``."""
    from landscape.lab import cli, experiment

    def counting(run):
        def wrapper(*args, **kwargs):
            with open(os.environ["LANDSCAPE_TEST_ANALYSES"], "a") as f:
                f.write("run\n")
            return run(*args, **kwargs)
        return wrapper

    for exp in experiment.experiments().values():
        object.__setattr__(exp, "run", counting(exp.run))  # the registry's (frozen) Experiment
    sys.argv = ["landscape", *argv]
    code = cli.main()
    import jax
    from jax._src import distributed

    with open(os.environ["LANDSCAPE_TEST_DEVICES"], "w") as f:  # as JAX saw this process
        f.write(f"{jax.local_device_count()} devices, process {distributed.global_state.process_id} "
                f"of {jax.process_count()}\n")
    sys.exit(code)


def launch(count: int, folder, argv, *, logs, dies=(), absent=(),
           peer_timeout: float | None = None) -> ProcessGroup:
    """Start ``count`` ``landscape`` processes running ``argv + ["--out", folder]`` together
    (but those in ``absent``); process ``i``'s output goes to ``logs/process_<i>.log``.
    Returns at once."""
    extra = {} if peer_timeout is None else {"LANDSCAPE_PEER_TIMEOUT": str(peer_timeout)}
    address = f"127.0.0.1:{free_port()}"
    started = [i for i in range(count) if i not in absent]
    commands = [[sys.executable, __file__, "--die", str(folder), address, str(count), str(i)]
                if i in dies else
                [sys.executable, __file__, "--counted", *argv, "--out", str(folder),
                 "--coordinator", address, "--num-processes", str(count), "--process-id", str(i)]
                for i in started]
    envs = [child_env(LANDSCAPE_TEST_ANALYSES=str(Path(logs) / f"analyses_{i}"),
                      LANDSCAPE_TEST_DEVICES=str(Path(logs) / f"devices_{i}"), **extra)
            for i in started]
    return ProcessGroup(commands, [Path(logs) / f"process_{i}.log" for i in started], envs)


if __name__ == "__main__":
    if sys.argv[1:2] == ["--die"]:
        die(sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5]))
    elif sys.argv[1:2] == ["--counted"]:
        counted(sys.argv[2:])
    elif len(sys.argv) > 4 and sys.argv[3] == "--":
        codes, texts = launch(int(sys.argv[1]), sys.argv[2], sys.argv[4:],
                              logs=Path(sys.argv[2]).parent).wait()
        for i, (code, text) in enumerate(zip(codes, texts)):
            print(f"process {i} exited with {code}:\n{text}")
        sys.exit(max(abs(c) for c in codes))
    else:
        sys.exit(f"usage: {sys.argv[0]} N FOLDER -- landscape arguments")

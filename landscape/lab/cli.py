"""The ``landscape`` command.

    landscape list                          the built-in experiments and their questions
    landscape run [NAME | FILE.toml] [--out DIR] [--smoke] [--set KEY=VALUE ...]
                  [--sweep KEY=[V1, V2, ...] ...] [--zip] [--fresh] [--drop-chunks]
                  [--coordinator ADDR --num-processes N --process-id I | --shard I/N]
                                            run an experiment (default: see `landscape list`)
                                            into DIR (default results/NAME); re-running resumes;
                                            with --sweep (or a [sweep] table) one run per point;
                                            several processes share the work (docs/scaling.md)
    landscape plot DIR [--figure NAME] [--format png|svg|pdf]
                                            re-draw the figures of a results folder (or sweep)
    landscape info DIR                      what a results folder holds and whether it is complete
    landscape report DIR                    write DIR/report.html: figures, config, numbers

Every run uses JAX's persistent compilation cache in the user's cache folder
(``$XDG_CACHE_HOME/landscape/jax-cache-<versions>``), never in a results folder.

Several processes: under ``jax.distributed`` (detected from the environment as JAX detects it:
SLURM's ``srun``, Open MPI, ``JAX_COORDINATOR_ADDRESS``; or given by ``--coordinator``,
``--num-processes``, ``--process-id``) the training chunks of a run, or the points of a sweep,
are split between the processes (process 0 alone analyses; the processes of one host share its
cores; a process that never joins is named after ``$LANDSCAPE_PEER_TIMEOUT`` seconds), which
coordinate through the results folder only (:mod:`landscape.lab.team`); ``--shard I/N`` runs
shard ``I`` of a sweep's points as one task of a job array, without ``jax.distributed``.

Exit codes: 0 success, 2 bad input or a failed peer process (one line on stderr; ``--debug``
shows the traceback), 130 interrupted (finished chunks are kept; run the same command again to
resume). Every process of a job exits with the same status.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import json
import os
import secrets
import socket
import sys
import textwrap
import threading
from pathlib import Path
from typing import NoReturn

from landscape import parallel

from .experiment import (DEFAULT_EXPERIMENT, FIGURE_FORMATS, default_out_dir, experiment_of,
                         experiments, get_experiment, parse_overrides, read_config_file,
                         run_experiment, save_figures)
from .report import write_report
from .report.page import readable_keys
from .store import BOOKKEEPING, ResultsDir
from .sweep import (Sweep, check_sweep_config, gather_sweep, is_sweep, persistent_compile_cache,
                    point_statuses, run_sweep)
from .team import Team, in_background, peer_timeout

__all__ = ["main", "format_table", "format_size"]

EXIT_OK, EXIT_BAD_INPUT, EXIT_INTERRUPTED = 0, 2, 130

EXAMPLES = """examples:
  landscape list
  landscape run --smoke                      seconds-long version of the default experiment
  landscape run xor_train --out results/xor --set n_runs=10000 --set learning_rate=1.0
  landscape run experiments/xor_train.toml   experiment = "xor_train" plus a [config] table
  landscape run xor_train --out results/lr --sweep learning_rate=[0.1,0.5,1] --sweep seed=[0,1]
  landscape plot results/xor --format svg
  landscape info results/xor
  landscape report results/xor               then open results/xor/report.html
"""

RUN_EXAMPLES = """examples:
  landscape run --smoke
  landscape run xor_train --out results/xor --set n_runs=10000 --set loss='half_sse'
  landscape run experiments/xor_symmetry.toml --out results/sym
  landscape run xor_train --smoke --out results/grid \\
      --sweep learning_rate=[0.5,1.0] --sweep seed=[0,1,2]
  landscape run xor_train --smoke --out results/pairs --zip \\
      --sweep learning_rate=[0.5,1.0] --sweep seed=[0,1]

A sweep writes DIR/points/0000/, DIR/points/0001/, ... (one results folder per point),
DIR/sweep.json (the index) and DIR/summary.json (a table of every point's headline numbers).
Points that differ only in values an experiment passes as data (xor_train: seed,
learning_rate, random_std, constant) share one compiled program. Interrupt with Ctrl-C and run
the same command again to resume: finished chunks and points are kept.
"""


def format_table(columns, rows) -> str:
    """Plain-text table with right-aligned columns."""
    cells = [[str(c) for c in columns]] + [[str(v) for v in row] for row in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(columns))]
    lines = ["  ".join(v.rjust(w) for v, w in zip(r, widths)) for r in cells]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="landscape",
        description="Error surfaces of neural networks with thousands of training runs at once.",
        epilog=EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--debug", action="store_true", help="show tracebacks on errors")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("list", help="list the built-in experiments",
                   description="List the built-in experiments and the question each answers.")
    run = sub.add_parser("run", help="run an experiment or a sweep (resumes an unfinished folder)",
                         description="Run a built-in experiment (or a sweep of it) into a "
                                     "results folder.",
                         epilog=RUN_EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter)
    run.add_argument("name", nargs="?", default=DEFAULT_EXPERIMENT,
                     help=f"experiment name or a TOML config file (default: {DEFAULT_EXPERIMENT})")
    run.add_argument("--out", metavar="DIR", help="results folder (default: results/NAME)")
    run.add_argument("--smoke", action="store_true",
                     help="a seconds-long version of the experiment")
    run.add_argument("--set", metavar="KEY=VALUE", action="append", default=[], dest="overrides",
                     help="override a config key (repeatable); values are TOML: 10, 0.5, "
                          "true, 'mse'")
    run.add_argument("--sweep", metavar="KEY=[V1,...]", action="append", default=[],
                     help="sweep a config key over a TOML list of values (repeatable); "
                          "one results folder per point, DIR/points/0000, DIR/points/0001, ...")
    run.add_argument("--zip", action="store_true",
                     help="pair the i-th values of every swept key instead of the full grid")
    run.add_argument("--no-progress", action="store_true", help="hide progress bars")
    run.add_argument("--fresh", action="store_true",
                     help="start DIR over: first remove what landscape wrote there (only files it "
                          "recognises; a folder that is not a results folder is refused)")
    run.add_argument("--drop-chunks", action="store_true",
                     help="remove DIR/chunks/ when the run completes (the folder stays complete; "
                          "a dropped run cannot be resumed)")
    run.add_argument("--coordinator", metavar="HOST:PORT",
                     help="jax.distributed coordinator (process 0's host); with --num-processes "
                          "and --process-id")
    run.add_argument("--num-processes", metavar="N", type=int, help="processes of the job")
    run.add_argument("--process-id", metavar="I", type=int, help="this process's index in [0, N)")
    run.add_argument("--shard", metavar="I/N",
                     help="run shard I of N of a sweep's points (a job array's task; no "
                          "jax.distributed); the last shard to finish writes the summary")
    plot = sub.add_parser("plot", help="re-draw the figures of a results folder",
                          description="Re-draw the figures of a results folder from its saved "
                                      "arrays (of every finished point of a sweep folder).",
                          epilog="examples:\n  landscape plot results/xor\n"
                                 "  landscape plot results/xor --figure loss_curves --format svg",
                          formatter_class=argparse.RawDescriptionHelpFormatter)
    plot.add_argument("dir", help="results folder")
    plot.add_argument("--figure", help="only this figure (default: all)")
    plot.add_argument("--format", choices=FIGURE_FORMATS, default="png", help="file format")
    info = sub.add_parser("info", help="what a results folder holds and whether it is complete",
                          description="Say what a results folder (or a sweep folder) holds and "
                                      "whether it is complete.",
                          epilog="example:\n  landscape info results/xor",
                          formatter_class=argparse.RawDescriptionHelpFormatter)
    info.add_argument("dir", help="results folder")
    report = sub.add_parser("report", help="write DIR/report.html (figures, config, numbers)",
                            description="Write a self-contained DIR/report.html: the figures "
                                        "(embedded), the config, the summary numbers and tables, "
                                        "the versions; for a sweep, the index of its points.",
                            epilog="example:\n  landscape report results/xor   "
                                   "then open results/xor/report.html in a browser",
                            formatter_class=argparse.RawDescriptionHelpFormatter)
    report.add_argument("dir", help="results folder or sweep folder")
    return parser


def _sweep_of(file_table, assignments, zip_mode: bool) -> Sweep | None:
    """The sweep asked for by a config file's ``[sweep]`` table and ``--sweep``/``--zip``."""
    table = dict(file_table or {})
    table.update(Sweep.parse_assignments(assignments))
    if zip_mode:
        table["mode"] = "zip"
    if set(table) <= {"mode"}:
        if zip_mode:
            raise ValueError("--zip needs the keys to sweep: add --sweep KEY=[V1, V2, ...]")
        if table:
            raise ValueError("the [sweep] table names no key to sweep; add e.g. seed = [0, 1]")
        return None
    return Sweep.from_table(table)


def _print_summary(summary: dict, out) -> None:
    """The headline (finding, why, what to open next), the table, then the details."""
    for line in summary.get("headline", []):
        print(line)
    if summary.get("headline"):
        print(f"Next: landscape report {out}   (the figures, with captions)\n")
    table = summary.get("table")
    if table:
        columns = table["columns"]
        if "sweep" in summary:  # headline numbers' dotted keys, in the report's plain words
            columns = list(readable_keys(columns).values())
        print(format_table(columns, table["rows"]))
    for line in summary.get("text", []):
        print(line)


def _file_overrides(name: str, config: dict, smoke: bool) -> dict:
    """A config file's ``[config]`` keys to apply. For a smoke run, keys that only restate the
    experiment's full-size default are left out, so ``landscape run experiments/NAME.toml
    --smoke`` (whose file lists every key at its default) runs the smoke sizes, not the full
    ones."""
    if not smoke:
        return dict(config)
    full = json.loads(json.dumps(dataclasses.asdict(get_experiment(name).config)))
    return {key: value for key, value in config.items()
            if key not in full or json.loads(json.dumps(value)) != full[key]}


def _run(args, cores: bool) -> int:
    name, smoke, overrides, file_sweep = args.name, args.smoke, {}, None
    if name.endswith(".toml"):
        file = read_config_file(name)
        name, smoke, file_sweep = file.experiment, smoke or file.smoke, file.sweep
        overrides = _file_overrides(name, file.config, smoke)
    overrides.update(parse_overrides(args.overrides))
    sweep = _sweep_of(file_sweep, args.sweep, args.zip)
    if args.shard is not None and sweep is None:
        raise ValueError(f"--shard {args.shard!r} splits a sweep's points; add "
                         "--sweep KEY=[V1, ...] "
                         "(an experiment's chunks are split by running it under jax.distributed)")
    progress = False if args.no_progress else None
    folder = args.out or default_out_dir(name, smoke, sweep=sweep is not None)
    team = _team(args, folder, cores=cores)
    with persistent_compile_cache():
        if sweep is None:
            summary, out = run_experiment(name, args.out, smoke=smoke, overrides=overrides,
                                          progress=progress, fresh=args.fresh,
                                          drop_chunks=args.drop_chunks, team=team)
        else:
            summary, out = run_sweep(name, args.out, sweep=sweep, smoke=smoke, overrides=overrides,
                                     progress=progress, fresh=args.fresh, team=team,
                                     wait=args.shard is None)
    if team.index == 0 or args.shard is not None:
        _print_summary(summary, out)
        print(f"results written to {out}")
    else:
        print(f"process {team.index} of {team.count}: trained its share; process 0 printed the "
              f"results, in {out}")
    return EXIT_OK


_SLURM_VARIABLES = ("SLURM_JOB_ID", "SLURM_STEP_NODELIST", "SLURM_NTASKS", "SLURM_PROCID",
                    "SLURM_LOCALID")
"""What JAX's own SLURM detection needs (``jax.distributed.initialize()`` with no arguments)."""


def _launched_as_job() -> bool:
    """Whether the environment launched several processes that JAX's own
    ``jax.distributed.initialize()`` would join: SLURM's ``srun`` (the variables JAX reads, with
    ``SLURM_NTASKS`` > 1), Open MPI (``OMPI_COMM_WORLD_SIZE`` > 1) or
    ``JAX_COORDINATOR_ADDRESS``."""
    if os.environ.get("JAX_COORDINATOR_ADDRESS"):
        return True
    slurm = all(v in os.environ for v in _SLURM_VARIABLES)
    size = ((os.environ["SLURM_NTASKS"] if slurm else None)
            or os.environ.get("OMPI_COMM_WORLD_SIZE", "1"))
    return size.isdigit() and int(size) > 1


def _joins(args) -> bool:
    """Whether ``args`` make this process join others through ``jax.distributed``
    (:func:`_team`)."""
    if args.command != "run" or args.shard is not None:
        return False
    given = (args.coordinator, args.num_processes, args.process_id)
    return any(v is not None for v in given) or _launched_as_job()


def _team(args, folder, *, cores: bool = False) -> Team:
    """This process's :class:`Team`: ``--shard``, or the ``jax.distributed`` processes (joined
    from the options or the environment; the coordination service is shut down once the
    processes know each other, so a peer that dies is reported through the results folder
    instead of aborting the others), or one process. ``folder``: the results folder, where
    the processes mark that they arrived (:func:`_join_watch`); ``cores``: see :func:`_join`."""
    given = {"--coordinator": args.coordinator, "--num-processes": args.num_processes,
             "--process-id": args.process_id}
    if args.shard is not None:
        if any(v is not None for v in given.values()):
            raise ValueError("--shard is for job arrays without jax.distributed; drop "
                             "--coordinator/--num-processes/--process-id")
        return Team.parse(args.shard)
    if any(v is not None for v in given.values()):
        missing = [k for k, v in given.items() if v is None]
        if missing:
            raise ValueError(f"{', '.join(missing)} missing: give --coordinator HOST:PORT, "
                             "--num-processes N and --process-id I together")
        if args.num_processes < 1:
            raise ValueError(f"--num-processes {args.num_processes} must be >= 1")
        if not 0 <= args.process_id < args.num_processes:
            raise ValueError(f"--process-id {args.process_id} must be in [0, {args.num_processes})")
        return _join(folder, args.coordinator, args.num_processes, args.process_id, cores=cores)
    return _join(folder, cores=cores) if _launched_as_job() else Team()


JOIN_MARGIN = 60
"""Seconds JAX's own join deadline (it ends the process with a C++ stack dump) lies beyond the
peer timeout, when the ``landscape`` command has already stopped with one line
(:func:`_join_watch`)."""


def _join(folder: Path, *where, cores: bool = False) -> Team:
    """Join the ``jax.distributed`` processes (``where``: coordinator, count, index; or from the
    environment) and agree on a launch token through the coordination service's key-value store
    (no collective: no backend starts, no Gloo lines); ``cores``: expose this host's cores shared
    equally between its processes (:func:`landscape.parallel.use_host_cores`). Processes that do
    not all join within :func:`~landscape.lab.team.peer_timeout` seconds: one line naming the
    missing ones, exit 2. The service is shut down before returning (see :func:`_team`)."""
    import jax
    from jax._src import distributed  # the coordination service's key-value store: no public API

    timeout = peer_timeout()
    with _join_watch(Path(folder), where, timeout):
        jax.distributed.initialize(*where, initialization_timeout=int(timeout) + JOIN_MARGIN)
    state = distributed.global_state
    index, count = state.process_id, state.num_processes
    hosts, token = _exchange(state.client, index, count, timeout)
    jax.distributed.shutdown()
    # From here on each process is a JAX program of its own (process 0 of 1, as its backend
    # will be): JAX would otherwise make process 1's devices those of node 1, whose programs
    # miss the persistent compilation cache, which it also never writes (measured: 16 of 16
    # compilations missed the cache in process 1 of a 2-process sweep, 12 s of its 13 s CPU).
    state.process_id, state.num_processes, state.coordinator_address = 0, 1, None
    if cores:
        parallel.use_host_cores(sharing=hosts.count(hosts[index]))
    return Team(index, count, token)


def _exchange(client, index: int, count: int, timeout: float) -> tuple[list[str], str]:
    """Every process's host name and process 0's launch token, through the key-value store of
    the joined processes (``client``). A process that stopped after joining (no answer within
    ``timeout`` seconds): one line naming it, exit 2 before anything is written (JAX would
    raise, then wait in its exit for the heartbeat timeout and abort with a stack dump). When
    process 0, which holds the service, dies, JAX ends its partners from a C++ thread of its own
    with a stack dump (``jax.distributed`` has no hook: its client's error callback cannot be
    given from Python, measured: ``std::bad_cast``); nothing is written then either."""
    import jax

    wait_ms, peer = int(timeout * 1000), 0  # setting a key fails when process 0 (the service) died
    try:
        client.key_value_set(f"landscape/host/{index}", socket.gethostname())
        hosts = []
        for peer in range(count):
            hosts.append(client.blocking_key_value_get(f"landscape/host/{peer}", wait_ms))
        peer = 0
        if index == 0:
            client.key_value_set("landscape/token", f"{secrets.randbelow(1 << 30):09d}")
        return hosts, client.blocking_key_value_get("landscape/token", wait_ms)
    except jax.errors.JaxRuntimeError as err:
        _stop(f"process {peer} of {count} joined, then gave no answer within {timeout:g} s "
              f"({str(err).split(':')[0]}: it stopped); nothing was run: start all {count} "
              "processes again")


def _stop(message: str) -> NoReturn:
    """Write ``landscape: error: message`` and end the process with exit code 2 at once
    (``os._exit``: JAX's exit handlers would wait for processes that are gone)."""
    sys.stderr.write(f"landscape: error: {message}\n")
    sys.stderr.flush()
    os._exit(EXIT_BAD_INPUT)


def _announced(where) -> tuple[int | None, int | None]:
    """``(index, count)`` of this process as given (options, or SLURM's / Open MPI's
    variables), before joining; ``None`` where not known."""
    if where:
        return where[2], where[1]
    for index, count in (("SLURM_PROCID", "SLURM_NTASKS"),
                         ("OMPI_COMM_WORLD_RANK", "OMPI_COMM_WORLD_SIZE")):
        if os.environ.get(index, "").isdigit() and os.environ.get(count, "").isdigit():
            return int(os.environ[index]), int(os.environ[count])
    return None, None


@contextlib.contextmanager
def _join_watch(folder: Path, where, timeout: float):
    """While the processes join: mark this one as arrived (``folder/.landscape/joining_<i>``)
    and, should they not all have joined after ``timeout`` seconds, write one line naming the
    processes whose mark is missing and exit 2 (JAX would abort later with a C++ stack dump).
    The marks (and folders made for them) are removed afterwards."""
    index, count = _announced(where)
    marks = folder / BOOKKEEPING
    made = [p for p in (folder, marks) if not p.exists()]
    mark = marks / f"joining_{index}"
    if index is not None:
        marks.mkdir(parents=True, exist_ok=True)
        mark.touch()

    def tidy():
        mark.unlink(missing_ok=True)
        for path in reversed(made):
            with contextlib.suppress(OSError):
                path.rmdir()  # only if empty

    def watch(joined: threading.Event):
        if joined.wait(timeout):
            return
        missing = ([i for i in range(count) if not (marks / f"joining_{i}").exists()]
                   if index is not None else None)
        who = f"processes {missing} of {count}" if missing else "the processes"
        tidy()
        _stop(f"{who} did not join within {timeout:g} s (not started, or another "
              "--coordinator); nothing was run")

    try:
        with in_background(watch, "landscape-join-watch"):
            yield
    finally:
        tidy()


def _existing(path: str) -> ResultsDir:
    """The results folder ``path``, its ``config.json`` checked for shape (and a sweep's)."""
    results = ResultsDir(path)
    if not (results.path / "config.json").exists():
        raise ValueError(f"{path!r} is not a results folder (it has no config.json)")
    config = results.read_config()
    if is_sweep(results.path):
        check_sweep_config(results.path / "config.json", config)
    return results


def _plot(args) -> int:
    results = _existing(args.dir)
    folders = ([results.path / p["dir"] for p in point_statuses(results.path)
                if p["status"] == "done"]
               if is_sweep(results.path) else [results.path])
    written = []
    for folder in folders:
        point = ResultsDir(folder)
        written += save_figures(experiment_of(point), point, only=args.figure,
                                formats=(args.format,))
    for path in written:
        print(path)
    if not written:
        print(f"{args.dir}: no figures (the experiment draws none, or no point has finished)")
    return EXIT_OK


def _info_sweep(results: ResultsDir, config: dict) -> None:
    points = point_statuses(results.path)
    done = sum(p["status"] == "done" for p in points)
    sweep = check_sweep_config(results.path / "config.json", config)
    complete = (results.path / "summary.json").exists()
    print(f"sweep of:   {config.get('experiment')}{' (smoke)' if config.get('smoke') else ''}")
    print(f"points:     {done} of {len(points)} finished ({sweep.get('mode')} over "
          f"{', '.join(sweep.get('values', {}))})")
    print(f"complete:   {'yes' if complete else 'no (run the same command again to resume)'}")
    print("overrides:  " + json.dumps(sweep.get("overrides"), sort_keys=True))
    print(format_table(["point", "status", "folder", "overrides"],
                       [[p["index"], p["status"], p["dir"], json.dumps(p["overrides"])]
                        for p in points]))


def _info(args) -> int:
    results = _existing(args.dir)
    config = results.read_config()
    if is_sweep(results.path):
        _info_sweep(results, config)
        return EXIT_OK
    complete = (results.path / "summary.json").exists()
    if complete:
        results.read_summary()
    results.check_provenance()  # every array file made by this config, under its own name
    print(f"experiment: {config.get('experiment')}{' (smoke)' if config.get('smoke') else ''}")
    print(f"complete:   {'yes' if complete else 'no (run the same command again to resume)'}")
    versions = sorted(config.get("versions", {}).items())
    print("versions:   " + ", ".join(f"{k} {v}" for k, v in versions))
    files = results.files()
    chunks = [f for f in files if f.startswith("chunks/")]
    size = sum((results.path / f).stat().st_size for f in chunks)
    dropped = " (dropped: the folder is complete but cannot be resumed)" if complete else ""
    print(f"chunks/:    {len(chunks)} finished chunks, {format_size(size)}"
          + ("" if chunks else dropped))
    others = [f for f in files if not f.startswith("chunks/")]
    print(f"files:      {len(others)} besides chunks/")
    for f in others:
        print(f"  {f}")
    print("config:")
    print(textwrap.indent(json.dumps(config.get("config"), sort_keys=True, indent=2), "  "))
    return EXIT_OK


def format_size(n: int) -> str:
    """Bytes as a short human-readable size.

    >>> format_size(512), format_size(207_618_048)
    ('512 B', '198.0 MiB')
    """
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024


def _report(args) -> int:
    results = _existing(args.dir)
    if is_sweep(results.path):
        gather_sweep(results.path)  # the shards of a job array finished every point: summarise
    path = write_report(results.path)
    print(f"report written to {path}")
    return EXIT_OK


def _command(args, cores: bool = False) -> int:
    if args.command == "list":
        exps = experiments()
        width = max(len(n) for n in exps)
        for name, exp in exps.items():
            default = "  (default)" if name == DEFAULT_EXPERIMENT else ""
            print(f"{name.ljust(width)}  {exp.question}{default}")
        return EXIT_OK
    if args.command == "run":
        return _run(args, cores)
    if args.command == "plot":
        return _plot(args)
    if args.command == "info":
        return _info(args)
    if args.command == "report":
        return _report(args)
    raise ValueError(f"command {args.command!r} is not known")


def main(argv=None) -> int:
    args = _parser().parse_args(argv)
    cores = argv is None  # run as the `landscape` program: one CPU device per core, set before
    if cores and not _joins(args):  # JAX starts (processes that join share a host's: _join)
        parallel.use_host_cores()
    try:
        code = _command(args, cores)
        sys.stdout.flush()
        return code
    except BrokenPipeError:  # `landscape list | head`: the reader left; stop quietly
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_OK
    except KeyboardInterrupt:
        print("interrupted: finished chunks are saved; run the same command again to resume",
              file=sys.stderr)
        return EXIT_INTERRUPTED
    except (ValueError, TypeError, OSError) as err:
        if args.debug:
            raise
        print(f"landscape: error: {err}", file=sys.stderr)
        return EXIT_BAD_INPUT

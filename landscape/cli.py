"""The ``landscape`` command.

    landscape list                          the built-in experiments and their questions
    landscape run [NAME | FILE.toml] [--out DIR] [--smoke] [--set KEY=VALUE ...]
                                            run an experiment (default: see `landscape list`)
                                            into DIR (default results/NAME); re-running resumes
    landscape plot DIR [--figure NAME] [--format png|svg|pdf]
                                            re-draw the figures of a results folder
    landscape info DIR                      what a results folder holds and whether it is complete

Exit codes: 0 success, 2 bad input (one line on stderr; ``--debug`` shows the traceback),
130 interrupted (finished chunks are kept; run the same command again to resume).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from .experiment import (DEFAULT_EXPERIMENT, FIGURE_FORMATS, experiment_of, experiments,
                         parse_overrides, read_config_file, run_experiment, save_figures)
from . import parallel
from .store import ResultsDir

__all__ = ["main", "format_table"]

EXIT_OK, EXIT_BAD_INPUT, EXIT_INTERRUPTED = 0, 2, 130

EXAMPLES = """examples:
  landscape list
  landscape run --smoke                      seconds-long version of the default experiment
  landscape run xor_train --out results/xor --set n_runs=10000 --set learning_rate=1.0
  landscape run my_config.toml               experiment = "xor_train" plus a [config] table
  landscape plot results/xor --format svg
  landscape info results/xor
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
    sub.add_parser("list", help="list the built-in experiments")
    run = sub.add_parser("run", help="run an experiment (resumes an unfinished folder)")
    run.add_argument("name", nargs="?", default=DEFAULT_EXPERIMENT,
                     help=f"experiment name or a TOML config file (default: {DEFAULT_EXPERIMENT})")
    run.add_argument("--out", metavar="DIR", help="results folder (default: results/NAME)")
    run.add_argument("--smoke", action="store_true", help="a seconds-long version of the experiment")
    run.add_argument("--set", metavar="KEY=VALUE", action="append", default=[], dest="overrides",
                     help="override a config key (repeatable); values are TOML: 10, 0.5, true, 'mse'")
    run.add_argument("--no-progress", action="store_true", help="hide progress bars")
    plot = sub.add_parser("plot", help="re-draw the figures of a results folder")
    plot.add_argument("dir", help="results folder")
    plot.add_argument("--figure", help="only this figure (default: all)")
    plot.add_argument("--format", choices=FIGURE_FORMATS, default="png", help="file format")
    info = sub.add_parser("info", help="what a results folder holds and whether it is complete")
    info.add_argument("dir", help="results folder")
    return parser


def _run(args) -> int:
    name, smoke, overrides = args.name, args.smoke, {}
    if name.endswith(".toml"):
        name, file_smoke, overrides = read_config_file(name)
        smoke = smoke or file_smoke
    overrides.update(parse_overrides(args.overrides))
    summary, out = run_experiment(name, args.out, smoke=smoke, overrides=overrides,
                                  progress=False if args.no_progress else None)
    table = summary.get("table")
    if table:
        print(format_table(table["columns"], table["rows"]))
    for line in summary.get("text", []):
        print(line)
    print(f"results written to {out}")
    return EXIT_OK


def _existing(path: str) -> ResultsDir:
    results = ResultsDir(path)
    if not (results.path / "config.json").exists():
        raise ValueError(f"{path!r} is not a results folder (it has no config.json)")
    return results


def _plot(args) -> int:
    results = _existing(args.dir)
    written = save_figures(experiment_of(results), results, only=args.figure, formats=(args.format,))
    for path in written:
        print(path)
    if not written:
        print(f"{args.dir}: this experiment draws no figures")
    return EXIT_OK


def _info(args) -> int:
    results = _existing(args.dir)
    config = results.read_json("config")
    complete = (results.path / "summary.json").exists()
    print(f"experiment: {config.get('experiment')}{' (smoke)' if config.get('smoke') else ''}")
    print(f"complete:   {'yes' if complete else 'no (run the same command again to resume)'}")
    print("config:     " + json.dumps(config.get("config"), sort_keys=True))
    print("versions:   " + ", ".join(f"{k} {v}" for k, v in sorted(config.get("versions", {}).items())))
    files = results.files()
    chunks = [f for f in files if f.startswith("chunks/")]
    print(f"files:      {len(files)} ({len(chunks)} finished chunks)")
    for f in files:
        if not f.startswith("chunks/"):
            print(f"  {f}")
    return EXIT_OK


def _command(args) -> int:
    if args.command == "list":
        exps = experiments()
        width = max(len(n) for n in exps)
        for name, exp in exps.items():
            default = "  (default)" if name == DEFAULT_EXPERIMENT else ""
            print(f"{name.ljust(width)}  {exp.question}{default}")
        return EXIT_OK
    if args.command == "run":
        return _run(args)
    if args.command == "plot":
        return _plot(args)
    if args.command == "info":
        return _info(args)
    raise ValueError(f"command {args.command!r} is not known")


def main(argv=None) -> int:
    if argv is None:  # run as the `landscape` program: one CPU device per core (before JAX starts)
        parallel.use_host_cores()
    args = _parser().parse_args(argv)
    try:
        return _command(args)
    except KeyboardInterrupt:
        print("interrupted: finished chunks are saved; run the same command again to resume",
              file=sys.stderr)
        return EXIT_INTERRUPTED
    except (ValueError, TypeError, OSError) as err:
        if args.debug:
            raise
        print(f"landscape: error: {err}", file=sys.stderr)
        return EXIT_BAD_INPUT

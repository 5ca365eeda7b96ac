"""The ``landscape`` command.

    landscape list                          the built-in experiments and their questions
    landscape run [NAME] [--out DIR] [--smoke]
                                            run an experiment (default: xor_train) into DIR
                                            (default results/NAME); re-running resumes it

Exit codes: 0 success, 2 bad input (one line on stderr; ``--debug`` shows the traceback),
130 interrupted (finished chunks are kept; run the same command again to resume).
"""

from __future__ import annotations

import argparse
import sys

from .experiment import DEFAULT_EXPERIMENT, experiments, run_experiment

__all__ = ["main", "format_table"]

EXIT_OK, EXIT_BAD_INPUT, EXIT_INTERRUPTED = 0, 2, 130


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
        epilog="examples:\n  landscape list\n  landscape run --smoke\n"
               "  landscape run xor_train --out results/xor",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--debug", action="store_true", help="show tracebacks on errors")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("list", help="list the built-in experiments")
    run = sub.add_parser("run", help="run a built-in experiment (resumes an unfinished folder)")
    run.add_argument("name", nargs="?", default=DEFAULT_EXPERIMENT,
                     help=f"experiment name (default: {DEFAULT_EXPERIMENT}; see `landscape list`)")
    run.add_argument("--out", metavar="DIR", help="results folder (default: results/NAME)")
    run.add_argument("--smoke", action="store_true", help="a seconds-long version of the experiment")
    run.add_argument("--no-progress", action="store_true", help="hide progress bars")
    return parser


def _command(args) -> int:
    if args.command == "list":
        exps = experiments()
        width = max(len(n) for n in exps)
        for name, exp in exps.items():
            default = "  (default)" if name == DEFAULT_EXPERIMENT else ""
            print(f"{name.ljust(width)}  {exp.question}{default}")
        return EXIT_OK
    if args.command == "run":
        summary, out = run_experiment(args.name, args.out, smoke=args.smoke,
                                      progress=False if args.no_progress else None)
        table = summary.get("table")
        if table:
            print(format_table(table["columns"], table["rows"]))
        print(f"results written to {out}")
        return EXIT_OK
    raise ValueError(f"command {args.command!r} is not known")


def main(argv=None) -> int:
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

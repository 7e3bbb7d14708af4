"""The ``filmrt`` command line: one entry point, one sub-command per job.

:data:`COMMANDS` is the command table: each entry is a module with ``register(subparsers)``,
which adds its parser and sets ``func`` to a function taking the parsed arguments and returning an
exit code. Core commands live in this package; the stages' commands next to the code they drive.

Conventions shared by every sub-command (the option groups of :mod:`filmrt.cli.groups`):
``--model``, ``--weights``, ``--backend``, ``--device``, ``--precision``, ``--batch``; ``-o/--output``
for the main output; ``--json`` for a machine-readable report; ``--quiet`` turns progress bars off;
``--ss``/``--t`` are start and duration (ffmpeg's names) where a command cuts time.
User errors are :class:`filmrt.errors.FilmrtError`: one line on stderr and exit code 2 (a message with
more lines, e.g. a failed verification, exit 4, prints each further line as ``filmrt: <line>``).
"""

from __future__ import annotations

import argparse
import sys

from filmrt import __version__
from filmrt.bench import cli as bench_cli
from filmrt.cli import evaluate, interpolate, weights
from filmrt.engine import cli as engine_cli
from filmrt.errors import FilmrtError
from filmrt.export import cli as export_cli
from filmrt.pipeline import cli as pipeline_cli
from filmrt.pipeline import score_cli
from filmrt.pipeline.batch import cli as batch_cli
from filmrt.pipeline.live import cli as live_cli

#: the command table, in the order ``filmrt --help`` lists the commands
COMMANDS = [
    interpolate,
    weights,
    evaluate,
    pipeline_cli,
    score_cli,
    batch_cli,
    live_cli,
    export_cli,
    engine_cli,
    bench_cli,
]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="filmrt",
        description="Video frame-rate conversion and slow motion with FILM and RIFE.",
    )
    parser.add_argument("--version", action="version", version=f"filmrt {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for command in COMMANDS:
        command.register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        return int(args.func(args) or 0)
    except FilmrtError as e:
        first, *more = str(e).splitlines() or [""]
        print(f"filmrt: error: {first}", file=sys.stderr)
        for line in more:  # e.g. a failed verification: one line per difference
            print(f"filmrt: {line}", file=sys.stderr)
        return e.exit_code
    except KeyboardInterrupt:
        print("filmrt: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 1


if __name__ == "__main__":
    sys.exit(main())

"""The ``filmrt`` command line: one entry point, one sub-command per job.

:data:`TABLE` is the command table: each entry names a module with ``register(subparsers)``,
which adds its parser and sets ``func`` to a function taking the parsed arguments and returning an
exit code. Core commands live in this package; the stages' commands next to the code they drive.

Conventions shared by every sub-command (the option groups of :mod:`filmrt.cli.groups`):
``--model``, ``--weights``, ``--backend``, ``--device``, ``--precision``, ``--batch``; ``-o/--output``
for the main output; ``--json`` for a machine-readable report; ``--quiet`` turns progress bars off;
``--ss``/``--t`` are start and duration (ffmpeg's names) where a command cuts time.
Run as the ``filmrt`` program, a work command (convert, batch, live ...) on the CPU gets the
program's one allocator setting (:mod:`filmrt.cli.malloc`; ``FILMRT_MALLOC=glibc`` turns it off).
User errors are :class:`filmrt.errors.FilmrtError`: one line on stderr and exit code 2 (a message with
more lines, e.g. a failed verification, exit 4, prints each further line as ``filmrt: <line>``).
"""

from __future__ import annotations

import argparse
import importlib
import sys

from filmrt import __version__
from filmrt.cli.malloc import for_cpu_work, keep_freed_memory
from filmrt.errors import FilmrtError

#: the command table: each module and the commands it registers, in the order ``filmrt --help``
#: lists them. A module is imported when it is used: ``filmrt convert`` imports filmrt.pipeline.cli
#: alone (importing every command's module cost ~0.6 s of CPU at each start, a tenth of a short
#: conversion); ``filmrt --help`` or an unknown command imports them all.
TABLE: list[tuple[str, tuple[str, ...]]] = [
    ("filmrt.cli.interpolate", ("interpolate",)),
    ("filmrt.cli.weights", ("weights",)),
    ("filmrt.cli.evaluate", ("eval",)),
    ("filmrt.pipeline.cli", ("convert", "verify", "eval-video")),
    ("filmrt.pipeline.score_cli", ("score",)),
    ("filmrt.pipeline.batch.cli", ("batch",)),
    ("filmrt.pipeline.live.cli", ("live",)),
    ("filmrt.export.cli", ("export",)),
    ("filmrt.engine.cli", ("build-engine",)),
    ("filmrt.bench.cli", ("bench",)),
]


def __getattr__(name: str):
    if name == "COMMANDS":  # the command modules themselves, all imported
        return [importlib.import_module(mod) for mod, _ in TABLE]
    raise AttributeError(name)


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The parser of every command, or of ``command`` alone when the table names it."""
    parser = argparse.ArgumentParser(
        prog="filmrt",
        description="Video frame-rate conversion and slow motion with FILM and RIFE.",
    )
    parser.add_argument("--version", action="version", version=f"filmrt {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for mod in command_modules(command):
        importlib.import_module(mod).register(sub)
    return parser


def command_modules(command: str | None) -> list[str]:
    """The modules ``filmrt COMMAND`` imports: its own, or all of them for an unknown command."""
    return [mod for mod, names in TABLE if command in names] or [mod for mod, _ in TABLE]


def main(argv: list[str] | None = None, *, program: bool = False) -> int:
    """Run one command; ``program``: called as the ``filmrt`` program (:mod:`filmrt.cli.launch`),
    which owns the process and may make its allocator setting (tests and embedders do not)."""
    argv = sys.argv[1:] if argv is None else list(argv)
    parser = build_parser(argv[0] if argv else None)
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    if program and for_cpu_work(args):  # before the command starts any thread (filmrt.cli.malloc)
        keep_freed_memory()
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

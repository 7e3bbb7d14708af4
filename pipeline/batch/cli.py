"""``filmrt batch``: convert a whole video library, resumably, on local workers or a Ray cluster.

Thin layer over :func:`filmrt.pipeline.batch.run_batch`. Its options are generated from the
option dataclasses (:mod:`filmrt.cli.groups`), so each default is written once: the conversion
options of ``filmrt convert`` (:class:`~filmrt.pipeline.options.ConvertOptions` with its runtime
and encode parts) and the batch options (:class:`~filmrt.pipeline.batch.options.BatchOptions`).
"""

from __future__ import annotations

import argparse

from filmrt.cli.groups import add_options, from_args
from filmrt.pipeline.batch.driver import run_batch
from filmrt.pipeline.batch.options import BatchOptions
from filmrt.pipeline.cli import add_convert_options, options_from_args

EPILOG = """\
Re-running the same command resumes: finished files are skipped, changed sources or settings
are redone, failed files are retried up to --retries times. State: DST/.filmrt-batch.sqlite.
Exit status: 0 when every file is converted (or already was), 1 when some failed, 2 on errors.

examples:
  filmrt batch /media/in /media/out --fps x2 --model rife-4.25
  filmrt batch in/ out/ --fps 60 --gpus 0,1,2,3 --include '*.mkv' --json report.json
  ray start --head                          # then on every other node:
  ray start --address HEAD_IP:6379          # (SRC and DST on a shared filesystem)
  filmrt batch /nfs/in /nfs/out --fps x2 --device cuda --ray HEAD_IP:6379
"""


def _help(name: str) -> dict:
    """help/metavar of a BatchOptions field the generator cannot add (optional value, repeatable)."""
    md = BatchOptions.__dataclass_fields__[name].metadata
    return {"help": md["help"], "metavar": md["metavar"]}


def add_batch_options(parser: argparse.ArgumentParser) -> None:
    g = parser.add_argument_group("batch options")
    add_options(g, BatchOptions)
    g.add_argument("--ray", nargs="?", const=True, default=None, **_help("ray"))
    g.add_argument("--include", action="append", default=None, **_help("include"))
    g.add_argument("--exclude", action="append", default=None, **_help("exclude"))


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "batch",
        help="convert a whole video library (resumable; local workers, GPUs or a Ray cluster)",
        description="Convert every video under SRC into the same tree under DST with the convert "
        "pipeline. Resumable, parallel, outputs never half-written.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("src", metavar="SRC", help="folder of videos (walked recursively), or one video")
    p.add_argument("dst", metavar="DST", help="output folder: SRC's tree is mirrored here")
    add_convert_options(p)
    add_batch_options(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    # both objects are validated here, before run_batch creates DST or its manifest
    options = options_from_args(args)
    batch = from_args(BatchOptions, args)
    report = run_batch(args.src, args.dst, options, batch)
    if report.dry_run:
        return 0
    return 1 if report.failed else 0

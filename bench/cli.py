"""``filmrt bench``: measure throughput on this machine and record it (see :mod:`filmrt.bench`).

The options are generated from :class:`~filmrt.bench.settings.BenchSettings` (defaults, help and
flags live on its fields); ``--json`` (where the result goes) is this command's own, and so is
``--profile gpu`` with its options: the GPU check (:mod:`filmrt.bench.gpu`), whose sections run in
child processes of the driver's runner (:mod:`filmrt.bench.runner`).
"""

from __future__ import annotations

import argparse
import dataclasses
import shlex
import sys
from pathlib import Path

from filmrt.bench.driver import run_bench
from filmrt.bench.report import markdown, write_results
from filmrt.bench.settings import SECTIONS, BenchSettings
from filmrt.cli.groups import add_options, from_args
from filmrt.errors import FilmrtError

DEFAULT_JSON = "bench/results/auto"


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "bench",
        help="measure throughput: models, FILM stages, end-to-end convert, peers (minterpolate, blend)",
        description="Benchmark filmrt on this machine (CPU, or the GPU with --device cuda): model-only "
        "throughput per model x backend x precision x size x batch, FILM per stage and the saving of stage "
        "reuse, end-to-end convert of a real clip, counted FLOPs against the measured matmul peak, and "
        "ffmpeg's minterpolate and naive blending on the same clip (speed, and quality by dropping every "
        "other frame). Writes a JSON result and a markdown summary.",
    )
    add_options(p, BenchSettings)
    # the section switches are on by default: offered as --no-<section>, which turn them off
    for f in dataclasses.fields(BenchSettings):
        if f.name in SECTIONS:
            p.add_argument(f.metadata["flag"], dest=f.name, action="store_false", default=None,
                           help=f.metadata["help"])
    p.add_argument("--json", default=DEFAULT_JSON, metavar="OUT",
                   help=f"result file; a name of 'auto' (default {DEFAULT_JSON}) means "
                   "<dir>/<date>-<machine>[-quick].json; the markdown summary goes next to it (.md)")
    g = p.add_argument_group("profile", "--profile gpu: the GPU check of issue 16 (filmrt.bench.gpu): every GPU "
                             "figure, each section in a child process under one time budget; writes "
                             "gpu-check-<gpu>-<date>.json and .md into --out (the options above do not apply)")
    g.add_argument("--profile", choices=("default", "gpu"), default="default", help="what to run (default: the bench)")
    g.add_argument("--dry-run", action="store_true", help="gpu: rehearse every section on the CPU at tiny sizes")
    g.add_argument("--out", default="bench/results", metavar="DIR", help="gpu: folder of the report (bench/results)")
    g.add_argument("--budget-s", dest="gpu_budget_s", type=float, default=420.0, metavar="S", help="gpu: global time budget (420 s)")
    g.add_argument("--sections", default=None, metavar="LIST", help="gpu: comma list of sections (default: all)")
    g.add_argument("--prepare", action="store_true", help="gpu: fill .device-carry/ for a device call and exit")
    g.add_argument("--no-wheels", action="store_true", help="gpu: --prepare without downloading wheels")
    g.add_argument("--keep-work", action="store_true", help="gpu: keep the work folder (clips, states, logs)")
    p.set_defaults(func=run)


def settings_from_args(args: argparse.Namespace) -> BenchSettings:
    """BenchSettings from the options given (the others keep the dataclass defaults)."""
    return from_args(BenchSettings, args, command=command_line())


def command_line() -> str:
    argv = sys.argv
    head = "filmrt" if not argv[0].endswith("__main__.py") else "python -m filmrt"
    return " ".join([head, shlex.join(argv[1:])]).strip()


def run(args: argparse.Namespace) -> int:
    if args.profile == "gpu":
        return run_gpu(args)
    settings = settings_from_args(args)
    res = run_bench(settings)
    jp, mp = write_results(res, args.json)
    if not settings.quiet:
        print(markdown(res))
    print(f"wrote {jp} and {mp}")
    return 0


def run_gpu(args: argparse.Namespace) -> int:
    """``--profile gpu``: exit 1 when a section failed (its figures and reason are in the report)."""
    from filmrt.bench import gpu, gpu_prepare  # noqa: PLC0415 - only this profile needs them

    if args.prepare:
        return gpu_prepare.prepare(wheels=not args.no_wheels)
    if args.gpu_budget_s <= 0:
        raise FilmrtError("--budget-s must be positive")
    rep = gpu.run_gpu_profile(Path(args.out), dry_run=args.dry_run, budget_s=args.gpu_budget_s, sections=args.sections,
                              command=command_line(), keep_work=args.keep_work)
    return 1 if any(s["status"] == "error" for s in rep["sections"].values()) else 0

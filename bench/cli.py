"""``filmrt bench``: options generated from :class:`~filmrt.bench.settings.BenchSettings` (``--json``
is this command's own), ``--peers`` (:mod:`filmrt.bench.peers_vs`) and ``--profile gpu`` (:mod:`filmrt.bench.gpu`).
"""

from __future__ import annotations

import argparse
import shlex
import sys

from filmrt.bench import gpu, peers_vs
from filmrt.bench.driver import run_bench
from filmrt.bench.peers_vs import PeersOptions
from filmrt.bench.report import markdown, write_results
from filmrt.bench.settings import BenchSettings
from filmrt.cli.groups import add_options, from_args

DEFAULT_JSON = "bench/results/auto"


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "bench",
        help="measure throughput: models, FILM stages, end-to-end convert; --peers: quality and speed vs peers",
        description="Benchmark filmrt on this machine (CPU, or the GPU with --device cuda): model-only "
        "throughput per model x backend x precision x size x batch, FILM per stage and the saving of stage "
        "reuse, end-to-end convert of a real clip (speed, memory, where its time goes), counted FLOPs against "
        "the measured matmul peak. Writes a JSON result and a markdown summary. --peers sets filmrt beside "
        "its peers (minterpolate, MVTools, vs-mlrt) on the same frames: speed and quality, one scorer.",
    )
    add_options(p, BenchSettings)  # the section switches, on by default, as --no-<section>
    p.add_argument("--json", default=DEFAULT_JSON, metavar="OUT",
                   help=f"result file; a name of 'auto' (default {DEFAULT_JSON}) means "
                   "<dir>/<date>-<machine>[-quick].json; the markdown summary goes next to it (.md)")
    add_options(p.add_argument_group("peers", "--peers: filmrt and its peers side by side on the same frames, one "
                                     "scorer (filmrt.bench.peers_vs): writes peers-<date>-<machine>.json, .md and the "
                                     "Pareto .png into --out; takes --clip, --ss, --t (default 1 s)"), PeersOptions)
    g = p.add_argument_group("profile", "--profile gpu: the GPU check of issue 16 (filmrt.bench.gpu): every GPU "
                             "figure, each section in a child process under one time budget; writes "
                             "gpu-check-<gpu>-<date>.json and .md into --out (the options above do not apply)")
    g.add_argument("--profile", choices=("default", "gpu"), default="default", help="what to run (default: the bench)")
    add_options(g, gpu.GpuCheckOptions)
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
        return gpu.run_args(args, command_line())
    if args.peers_vs:  # --peers
        return peers_vs.run_args(args, command_line())
    settings = settings_from_args(args)
    res = run_bench(settings)
    jp, mp = write_results(res, args.json)
    if not settings.quiet:
        print(markdown(res))
    print(f"wrote {jp} and {mp}")
    return 0

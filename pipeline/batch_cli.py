"""``filmrt batch``: convert a whole video library, resumably, on local workers or a Ray cluster.

Thin layer over :func:`filmrt.pipeline.batch.run_batch`; the conversion options are the ones
of ``filmrt convert`` (same flags, same defaults).
"""

from __future__ import annotations

import argparse

from filmrt.errors import FilmrtError
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


def _parse_gpus(text: str | None) -> list[int] | None:
    if text is None:
        return None
    if text.strip().lower() == "all":
        import torch

        n = torch.cuda.device_count()
        if n == 0:
            raise FilmrtError("--gpus all: PyTorch sees no CUDA GPU on this machine")
        return list(range(n))
    try:
        gpus = [int(x) for x in text.split(",") if x.strip()]
    except ValueError:
        raise FilmrtError(f"--gpus {text!r}: give CUDA device indices like 0,1,2 (or 'all')") from None
    if not gpus or any(g < 0 for g in gpus):
        raise FilmrtError(f"--gpus {text!r}: give CUDA device indices like 0,1,2 (or 'all')")
    return gpus


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
    add_convert_options(p.add_argument_group("convert options (as for `filmrt convert`)"), exclude=("threads",))
    g = p.add_argument_group("batch options")
    g.add_argument(
        "--workers",
        type=int,
        default=None,
        metavar="N",
        help="local worker processes, one model each (default: one per --gpus entry, else 1; 0 = in this "
        "process). With --ray: most tasks at once (default: what the cluster can run)",
    )
    g.add_argument(
        "--gpus",
        default=None,
        metavar="0,1,...",
        help="CUDA devices, one worker pinned to each (round robin if --workers is larger); 'all'. "
        "With --ray: run GPU tasks (num_gpus=1), Ray picks the devices",
    )
    g.add_argument(
        "--ray",
        nargs="?",
        const=True,
        default=None,
        metavar="ADDRESS",
        help="run the jobs as Ray tasks on the cluster at ADDRESS (host:port); without ADDRESS: "
        "$RAY_ADDRESS or a cluster started here with `ray start --head`, else a private local one",
    )
    g.add_argument(
        "--threads", type=int, default=None, metavar="N", help="CPU threads per worker / Ray CPU task"
    )
    g.add_argument(
        "--include",
        action="append",
        default=[],
        metavar="GLOB",
        help="only files whose path relative to SRC (or name) matches; repeatable",
    )
    g.add_argument(
        "--exclude", action="append", default=[], metavar="GLOB", help="skip matching files; repeatable"
    )
    g.add_argument(
        "--probe",
        action="store_true",
        help="also open files with unknown extensions and take those holding video",
    )
    g.add_argument(
        "--ext",
        default=None,
        metavar="EXT",
        help="output container for every file, e.g. mp4 (default: the source's; .mkv for mpg/webm/wmv/...)",
    )
    g.add_argument(
        "--retries", type=int, default=2, metavar="K", help="retry a failed file up to K times (default: 2)"
    )
    g.add_argument("--retry-failed", action="store_true", help="retry files an earlier run gave up on")
    g.add_argument(
        "--dry-run", action="store_true", help="list what would be converted and why; change nothing"
    )
    g.add_argument(
        "--json", default=None, metavar="REPORT", help="write the report (every file, status, reason) here"
    )
    g.add_argument(
        "--quiet", action="store_true", help="no progress bar and no per-file lines (failures still show)"
    )
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from filmrt.pipeline.batch import run_batch

    options = options_from_args(args, exclude=("threads",))
    report = run_batch(
        args.src,
        args.dst,
        options,
        workers=args.workers,
        gpus=_parse_gpus(args.gpus),
        ray=args.ray,
        include=args.include,
        exclude=args.exclude,
        probe=args.probe,
        ext=args.ext,
        retries=args.retries,
        retry_failed=args.retry_failed,
        threads=args.threads,
        dry_run=args.dry_run,
        json_report=args.json,
        quiet=args.quiet,
    )
    if report.dry_run:
        return 0
    return 1 if report.failed else 0

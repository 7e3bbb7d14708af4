"""``filmrt score REF CAND``: score any tool's output against the original (see :mod:`filmrt.pipeline.score`)."""

from __future__ import annotations

import argparse
import sys

from tqdm import tqdm

from filmrt.cli.groups import add_options
from filmrt.fileio import check_distinct, check_writable, write_json
from filmrt.pipeline.options import ConvertOptions
from filmrt.pipeline.report_html import add_report_options, report_collector, write_score_report
from filmrt.pipeline.score import score_output
from filmrt.pipeline.time.scenes import DEFAULT_THRESHOLD


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "score",
        help="score a video made by any tool against the original, frames matched by time",
        description="Score CAND, made by any tool from every N-th frame of REF, against REF: frames are "
        "matched by their time from each file's first frame; the frames the tool never saw are scored "
        "apart (PSNR, SSIM, optional VMAF, flicker), and the judder of CAND's motion is measured.",
    )
    p.add_argument("ref", metavar="REF", help="the original clip (full rate)")
    p.add_argument("cand", metavar="CAND", help="the tool's output")
    p.add_argument("--every", type=int, default=2, metavar="N",
                   help="the tool was given every N-th frame of REF (default 2); 0: score all frames as one group")
    p.add_argument("--vmaf", action="store_true",
                   help="also VMAF (libvmaf, model vmaf_v0.6.1; needs an FFmpeg with libvmaf: "
                        "pip install 'filmrt[quality]')")
    add_options(p, ConvertOptions, only=("ss", "t", "scene_threshold"))
    p.add_argument("--offset", type=float, default=None, metavar="S",
                   help="CAND's first frame is REF's frame at S seconds (a tool run on a later part of REF): "
                        "REF alone starts there (after --ss, which cuts both)")
    p.add_argument("--json", default=None, metavar="OUT", help="write the scores (per frame too) as JSON to OUT")
    add_report_options(p)
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=run_score)


def _fmt(v, spec: str) -> str:
    return "-" if v is None else format(v, spec)


def run_score(args: argparse.Namespace) -> int:
    if args.json:
        check_writable(args.json, "--json")
        check_distinct(args.json, [args.ref, args.cand], "--json")
    worst = report_collector(args)
    bar = None if args.quiet else tqdm(unit="frame", desc="score", dynamic_ncols=True, file=sys.stderr)
    try:
        rep = score_output(args.ref, args.cand, every=args.every or None, vmaf=args.vmaf, ss=args.ss, t=args.t,
                           offset=args.offset,
                           scene_threshold=args.scene_threshold if args.scene_threshold is not None else DEFAULT_THRESHOLD,
                           on_frame=None if bar is None else (lambda n: bar.update(n - bar.n)), worst=worst)
    finally:
        if bar is not None:
            bar.close()
    for note in rep["notes"]:  # what the decoder did to the pictures scored (a size change, damage)
        print(f"filmrt: note: {note}", file=sys.stderr)
    for name in ("generated", "kept"):
        g = rep[name]
        if g:
            print(f"{name}: {g['frames']} frames, PSNR {_fmt(g['psnr'], '.2f')} dB, SSIM {_fmt(g['ssim'], '.4f')}, "
                  f"VMAF {_fmt(g['vmaf'], '.2f')}, flicker {_fmt(g['flicker'], '.2f')} "
                  f"(max {_fmt(g['flicker_max'], '.2f')})")
    j = rep["judder"]
    print(f"judder: {_fmt(j['cand']['judder'], '.3f')} (REF {_fmt(j['ref']['judder'], '.3f')}), motion error "
          f"{_fmt(j['motion_error'], '.3f')}; "
          f"{rep['matched']} frames matched, {rep['unmatched_cand_frames']} CAND frames off REF's times, "
          f"{rep['skipped_at_cuts']} generated frames next to a scene cut not scored")
    if args.json:
        write_json(args.json, rep)
    if args.report:
        print(f"report: {write_score_report(args.report, rep, worst)}")
    return 0

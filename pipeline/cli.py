"""``filmrt convert`` and ``filmrt eval-video``."""

from __future__ import annotations

import argparse
import contextlib
import json
import sys

from filmrt.cli.common import add_model_options
from filmrt.pipeline.encode import CODECS, DEFAULT_CRF, DEFAULT_PRESET
from filmrt.pipeline.scenes import DEFAULT_THRESHOLD

EXIT_INPUT_DAMAGED = 3


def _time_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--ss", type=float, default=None, metavar="START",
                   help="start at START seconds into the input (ffmpeg's -ss)")
    p.add_argument("--t", type=float, default=None, metavar="DURATION",
                   help="convert only DURATION seconds (ffmpeg's -t)")


def add_convert_options(p: argparse.ArgumentParser) -> None:
    """The conversion options of ``filmrt convert`` (also used by ``filmrt batch``): everything
    except IN, OUT, --json and --quiet. :func:`options_from_args` turns them into ConvertOptions."""
    p.add_argument("--fps", required=True, metavar="RATE",
                   help="output rate: 50, 60, 59.94 (= 60000/1001), 60000/1001, x2, x4 ...")
    add_model_options(p)
    p.add_argument("--mode", choices=["direct", "recursive"], default="direct",
                   help="direct: one model call per output time (default; RIFE always); recursive: "
                   "FILM's nearest dyadic midpoint")
    p.add_argument("--scene-threshold", type=float, default=DEFAULT_THRESHOLD, metavar="X",
                   help=f"scene-cut sensitivity (spike of mean luma difference on 64x36 thumbnails; "
                   f"default {DEFAULT_THRESHOLD}; 1 = off)")
    _time_options(p)
    p.add_argument("--codec", choices=CODECS, default="libx264", help="video encoder (default: libx264)")
    p.add_argument("--crf", type=int, default=DEFAULT_CRF, help=f"quality, lower = better (default {DEFAULT_CRF})")
    p.add_argument("--preset", default=DEFAULT_PRESET, help=f"encoder preset (default {DEFAULT_PRESET})")
    p.add_argument("--batch", type=int, default=4, help="frame pairs per model call (default 4)")
    p.add_argument("--format", default=None, metavar="FMT",
                   help="output container (mp4, matroska, mov, mpegts...; default: from OUT's extension)")
    p.add_argument("--decoder", choices=["auto", "pyav", "dali"], default="auto",
                   help="auto: DALI/NVDEC when installed and --device cuda, else PyAV")


def options_from_args(args: argparse.Namespace):
    """ConvertOptions from arguments added by :func:`add_convert_options` (+ --quiet if present)."""
    import dataclasses

    from filmrt.pipeline.convert import ConvertOptions

    kw = {}
    for f in dataclasses.fields(ConvertOptions):
        v = getattr(args, f.name, None)
        if v is not None:
            kw[f.name] = v
    return ConvertOptions(**kw)


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "convert",
        help="convert a video to another frame rate (interpolating new frames)",
        description="Convert a video to another frame rate: new frames are interpolated by the model, "
        "frames at source times are copied, scene cuts are never morphed, audio/subtitles/data are "
        "copied as they are. Exit codes: 0 done, 2 error (no output written), 3 done but the input "
        "was damaged (the readable part was converted).",
    )
    p.add_argument("input", metavar="IN", help="input video file, or - for stdin")
    p.add_argument("output", metavar="OUT", help="output video file, or - for stdout (needs --format)")
    add_convert_options(p)
    p.add_argument("--json", default=None, metavar="OUT", help="write a JSON report to OUT")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=run_convert)

    e = subparsers.add_parser(
        "eval-video",
        help="score a model on a real clip: drop every other frame, interpolate it back, compare",
        description="Drop every other frame of IN (e.g. 25 fps -> 12.5), interpolate the dropped ones "
        "back with the model, and score them against the originals (PSNR, SSIM), next to naive "
        "blending of the same pairs. Pairs across a scene cut are not scored.",
    )
    e.add_argument("input", metavar="IN", help="input video file")
    add_model_options(e)
    _time_options(e)
    e.add_argument("--batch", type=int, default=4, help="frame pairs per model call (default 4)")
    e.add_argument("--scene-threshold", type=float, default=DEFAULT_THRESHOLD, metavar="X",
                   help=f"pairs with a scene cut are skipped (default {DEFAULT_THRESHOLD})")
    e.add_argument("--json", default=None, metavar="OUT", help="write the scores as JSON to OUT")
    e.add_argument("--quiet", action="store_true", help="no progress bar")
    e.set_defaults(func=run_eval_video)


def _write_json(path: str, data: dict) -> None:
    import os
    import tempfile

    d = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(dir=d, prefix=".filmrt-", suffix=".json")
    with os.fdopen(fd, "w") as fh:
        json.dump(data, fh, indent=2)
        fh.write("\n")
    os.replace(tmp, path)


@contextlib.contextmanager
def _terminate_as_interrupt():
    """SIGTERM (a supervisor stopping us) cleans up like Ctrl-C: no temp file is left behind."""
    import signal
    import threading

    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum, frame):
        raise KeyboardInterrupt

    old = signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, old)


def run_convert(args: argparse.Namespace) -> int:
    from filmrt.pipeline.convert import convert
    from filmrt.pipeline.schedule import format_rate

    opts = options_from_args(args)
    with _terminate_as_interrupt():
        res = convert(args.input, args.output, opts)
    log = sys.stderr
    if not args.quiet:
        speed = res.frames_out / res.seconds if res.seconds > 0 else 0.0
        print(
            f"filmrt: {res.dst}: {res.frames_in} -> {res.frames_out} frames at {format_rate(res.fps_out)} fps "
            f"({res.interpolated} interpolated, {res.copied} copied, {res.scene_cuts} scene cuts) "
            f"with {res.model} on {res.backend}; {res.width}x{res.height}, {res.colour}; "
            f"{res.streams_copied} other stream(s) copied; {res.seconds:.1f} s ({speed:.1f} frames/s)",
            file=log,
        )
    for p in res.problems:
        print(f"filmrt: warning: damaged input: {p}", file=log)
    if args.json:
        _write_json(args.json, res.to_dict())
    return EXIT_INPUT_DAMAGED if res.problems else 0


def run_eval_video(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from filmrt.cli.groups import runtime_from_args
    from filmrt.fileio import write_json
    from filmrt.pipeline.eval_video import eval_video

    bar = None

    def progress(scored: int, total: int | None) -> None:
        nonlocal bar
        if bar is None:
            bar = tqdm(total=total, unit="frame", desc="eval-video", dynamic_ncols=True)
        bar.update(scored - bar.n)

    try:
        report = eval_video(
            args.input, runtime_from_args(args), ss=args.ss, t=args.t, scene_threshold=args.scene_threshold,
            on_progress=None if args.quiet else progress,
        )
    finally:
        if bar is not None:
            bar.close()
    print(
        f"{report['model']}: PSNR {report['psnr']:.2f} dB, SSIM {report['ssim']:.4f} | "
        f"blend: PSNR {report['blend_psnr']:.2f} dB, SSIM {report['blend_ssim']:.4f} "
        f"({report['frames_scored']} frames scored, {report['pairs_skipped_cut']} skipped at cuts; "
        f"{report['clip']})"
    )
    if args.json:
        write_json(args.json, report)
    return 0

"""``filmrt convert``, ``filmrt verify`` and ``filmrt eval-video``.

The conversion options are generated from the option dataclasses (:mod:`filmrt.cli.groups`):
:class:`~filmrt.pipeline.options.ConvertOptions` (rate, mode, time range, ...),
:class:`~filmrt.options.RuntimeOptions` (model and runtime, ``--batch``, backend extras) and
:class:`~filmrt.pipeline.options.EncodeOptions`, so every default is the dataclass's own.
``filmrt batch`` shares them through :func:`add_convert_options` / :func:`options_from_args`.
The progress bar is drawn here, from :func:`~filmrt.pipeline.convert.convert`'s callbacks.
"""

from __future__ import annotations

import argparse
import json
import os
import sys

from tqdm import tqdm

from filmrt.cli.groups import add_options, add_runtime_options, from_args, runtime_from_args
from filmrt.cli.overwrite import add_overwrite_options
from filmrt.errors import FilmrtError
from filmrt.fileio import check_distinct, check_writable, write_json
from filmrt.interrupts import signals_as_interrupt
from filmrt.pipeline.convert import ConvertResult, convert
from filmrt.pipeline.io.formats import describe_output
from filmrt.pipeline.io.verify import VerifyReport, verify_pair
from filmrt.pipeline.options import ConvertOptions, EncodeOptions, check_seconds, time_value
from filmrt.pipeline.report_html import add_report_options, report_collector, write_eval_report
from filmrt.pipeline.time.scenes import DEFAULT_THRESHOLD
from filmrt.rates import format_rate

EXIT_INPUT_DAMAGED = 3


def add_convert_options(p, *, exclude: tuple[str, ...] = ()) -> None:
    """The conversion options of ``filmrt convert`` (also ``filmrt batch``): everything except IN,
    OUT, --json and --quiet; ``--fps`` is required except with ``--slowmo`` (the output then plays
    at the source's rate). ``p`` is a parser (the options come in titled groups) or an argument
    group (they go into it); ``exclude`` names runtime fields the caller defines itself (batch:
    ``threads``). :func:`options_from_args` reads them back."""
    titled = isinstance(p, argparse.ArgumentParser)
    add_options(p, ConvertOptions, required=["fps"], title="conversion" if titled else None)
    for action in p._actions:  # required, but checked by options_from_args (--slowmo alone is enough)
        if action.dest == "fps":
            action.required = False
            action.help += " (required; with --slowmo the default is the source's rate)"
    add_runtime_options(p, exclude=exclude, titled=titled)
    add_options(p, EncodeOptions, title="encoding" if titled else None)


def options_from_args(args: argparse.Namespace, *, exclude: tuple[str, ...] = ()) -> ConvertOptions:
    """ConvertOptions from the options added by :func:`add_convert_options` (only those given;
    the others keep the dataclass defaults); ``exclude`` as given to it."""
    runtime = runtime_from_args(args, exclude=exclude)
    rate = {}
    if getattr(args, "fps", None) is None:
        if getattr(args, "slowmo", None) is None:
            raise FilmrtError("--fps is required (give the output rate: 50, 59.94, x2 ...; with --slowmo N "
                              "it defaults to the source's rate)")
        rate = {"fps": "x1"}  # slow motion at the source's own rate, as ffmpeg keeps a rate unless told
    return from_args(ConvertOptions, args, runtime=runtime, encode=from_args(EncodeOptions, args), **rate)


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "convert",
        help="convert a video to another frame rate (interpolating new frames)",
        description="Convert a video to another frame rate: new frames are interpolated by the model, "
        "frames at source times are copied, scene cuts are never morphed, audio/subtitles/data are "
        "copied as they are. The output is read back and checked against the plan before it becomes OUT "
        "(--no-verify skips that). Exit codes: 0 done, 2 error (no output written), 3 done but the input "
        "was damaged (the readable part was converted), 4 the output failed verification (OUT not written; "
        "one line per difference; --keep-failed keeps it as OUT.failed-verify.EXT).",
    )
    p.add_argument("input", metavar="IN", help="input video file, or - for stdin")
    p.add_argument("output", metavar="OUT", help="output video file, or - for stdout (needs --format)")
    add_convert_options(p)
    p.add_argument("--json", default=None, metavar="OUT", help="write a JSON report to OUT")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    add_overwrite_options(p)
    p.set_defaults(func=run_convert)

    v = subparsers.add_parser(
        "verify",
        help="read OUT back and check it against IN (frames, timestamps, streams, SAR, colour, timecode)",
        description="Check a converted OUT against its source IN without the conversion's plan: video "
        "frames and every timestamp on OUT's own frame grid, start and duration against IN, every stream "
        "of IN present in OUT with the same codec and duration (a missing one is a difference unless "
        "--dropped names it), "
        "SAR, colour tags, timecode, HDR static metadata, chapters, attachments. Exit codes: 0 OUT "
        "matches, 4 differences (one line each), 2 error.",
    )
    v.add_argument("input", metavar="IN", help="the source video")
    v.add_argument("output", metavar="OUT", help="the converted video")
    v.add_argument("--ss", type=time_value, default=None, metavar="START",
                   help="OUT was converted from START into IN: seconds or [HH:]MM:SS[.frac] (convert's --ss)")
    v.add_argument("--t", type=time_value, default=None, metavar="DURATION",
                   help="OUT holds DURATION of IN: seconds or [HH:]MM:SS[.frac] (convert's --t)")
    v.add_argument("--dropped", default=None, metavar="SPEC",
                   help="streams of IN left out of OUT on purpose: a (audio), s (subtitles), d (data) or input "
                        "stream indices, comma-separated (convert's --drop-stream spelling)")
    v.add_argument("--json", nargs="?", const="-", default=None, metavar="FILE",
                   help="write the report as JSON to FILE (stdout without FILE)")
    v.set_defaults(func=run_verify)

    e = subparsers.add_parser(
        "eval-video",
        help="score a model on a real clip: drop every other frame, interpolate it back, compare",
        description="Drop every other frame of IN (e.g. 25 fps -> 12.5), interpolate the dropped ones "
        "back with the model, and score them against the originals (PSNR, SSIM), next to naive "
        "blending of the same pairs. Pairs across a scene cut are not scored.",
    )
    e.add_argument("input", metavar="IN", help="input video file")
    # the backend extras are left out until eval_video takes a RuntimeOptions (it would ignore them)
    add_runtime_options(e, exclude=("engine", "onnx", "fast", "threads"))
    add_options(e, ConvertOptions, only=("ss", "t"))
    e.add_argument("--scene-threshold", type=float, default=DEFAULT_THRESHOLD, metavar="X",
                   help=f"pairs with a scene cut are skipped (default {DEFAULT_THRESHOLD})")
    e.add_argument("--vmaf", action="store_true",
                   help="also VMAF (libvmaf, model vmaf_v0.6.1, as filmrt score --vmaf; needs an FFmpeg with "
                        "libvmaf: pip install 'filmrt[quality]')")
    e.add_argument("--json", default=None, metavar="OUT", help="write the scores as JSON to OUT")
    add_report_options(e)
    e.add_argument("--quiet", action="store_true", help="no progress bar")
    e.set_defaults(func=run_eval_video)


class ProgressBar:
    """The progress bar of a conversion (stderr), fed by convert's ``on_start``/``on_progress``."""

    def __init__(self, quiet: bool):
        self.quiet = quiet
        self.bar: tqdm | None = None
        self.done = 0

    def start(self, expected: int | None) -> None:
        if not self.quiet:
            self.bar = tqdm(total=expected, unit="frame", desc="convert", dynamic_ncols=True, file=sys.stderr,
                            leave=True)

    def progress(self, written: int) -> None:  # from the encoder thread
        if self.bar is not None:
            self.bar.update(written - self.done)
        self.done = written

    def close(self, frames_out: int | None = None) -> None:
        """End the bar; with the real count it ends at 100% (the expected count was an estimate)."""
        if self.bar is None:
            return
        if frames_out is not None:
            self.bar.total = frames_out
            self.bar.n = frames_out
            self.bar.refresh()
        self.bar.close()


def convert_with_bar(src, dst, options: ConvertOptions, *, quiet: bool = False, **kw) -> ConvertResult:
    """:func:`~filmrt.pipeline.convert.convert` with a progress bar on stderr (none when ``quiet``)."""
    bar = ProgressBar(quiet)
    try:
        res = convert(src, dst, options, on_start=bar.start, on_progress=bar.progress, **kw)
    except BaseException:
        bar.close()
        raise
    bar.close(res.frames_out)
    return res


def run_convert(args: argparse.Namespace) -> int:
    opts = options_from_args(args)
    if args.json:
        check_writable(args.json, "--json")  # before any work, not after a long conversion
        check_distinct(args.json, [args.input, args.output], "--json")
    before = _identity(args.output)
    try:
        with signals_as_interrupt():
            res = convert_with_bar(args.input, args.output, opts, quiet=args.quiet, overwrite=args.overwrite)
            _report(res, args.quiet)
            if args.json:
                write_json(args.json, res.to_dict())
    except KeyboardInterrupt:
        # 130 says "OUT unchanged": a signal after the finished output was renamed over OUT (the
        # encoder thread's last step) is not reported as an interruption of the conversion
        if _identity(args.output) == before:
            raise
        print(f"filmrt: interrupted after {args.output} was written (it is complete)", file=sys.stderr)
        return 0
    return EXIT_INPUT_DAMAGED if res.problems else 0


def _identity(path: str):
    """What tells whether OUT was replaced: (device, inode, mtime, size), None when absent or a stream."""
    if path == "-":
        return None
    try:
        st = os.stat(path)
    except OSError:
        return None
    return (st.st_dev, st.st_ino, st.st_mtime_ns, st.st_size)


def _report(res: ConvertResult, quiet: bool) -> None:
    log = sys.stderr
    if not quiet:
        speed = res.frames_out / res.seconds if res.seconds > 0 else 0.0
        print(
            f"filmrt: {res.dst}: {res.frames_in} -> {res.frames_out} frames at {format_rate(res.fps_out)} fps "
            f"({res.interpolated} interpolated, {res.copied} copied, {res.scene_cuts} scene cuts) "
            f"with {res.model} on {res.backend} ({res.precision}); {res.width}x{res.height}, {res.colour}; "
            f"{res.streams_copied} other stream(s) copied; {res.seconds:.1f} s ({speed:.1f} frames/s)",
            file=log,
        )
    if res.verify:
        print_verify(VerifyReport(**{k: v for k, v in res.verify.items()}), quiet)
    for note in res.temporal.get("notes", []):  # what was detected and decided about time, once
        print(f"filmrt: {note}", file=log)
    if not quiet and res.video:
        print(f"filmrt: video: {res.video['source']} -> {describe_output(res.video['output'])}", file=log)
        for note in res.output.get("notes", []):  # why the container got another encoder than the source's
            print(f"filmrt: note: {note}", file=log)
    for d in res.dropped:
        print(f"filmrt: warning: {d}", file=log)
    for d in res.streams_dropped:
        print(f"filmrt: note: stream {d}", file=log)
    for f in res.output.get("streams", []):  # a copied stream whose readers need to know something
        if f["fate"] == "copied" and f["reason"].startswith("remuxed ("):
            print(f"filmrt: note: stream #{f['index']} {f['kind']} {f['codec']} {f['reason']}", file=log)
    for note in res.timestamps.get("notes", []):  # what the decoder's clock repaired, per kind
        print(f"filmrt: note: {note}", file=log)
    for p in res.problems:
        print(f"filmrt: warning: damaged input: {p}", file=log)


def run_verify(args: argparse.Namespace) -> int:
    if args.json and args.json != "-":
        check_writable(args.json, "--json")
    ss, t = check_seconds(args.ss, "--ss", positive=False), check_seconds(args.t, "--t", positive=True)
    report = verify_pair(args.input, args.output, ss=ss, t=t, dropped=args.dropped)
    if args.json == "-":
        print(json.dumps(report.to_dict(), indent=2))
    elif args.json:
        write_json(args.json, report.to_dict())
    for note in report.notes:
        print(f"filmrt: note: {note}", file=sys.stderr)
    if not report.ok:
        raise report.error(args.output)
    print(f"filmrt: verify: {args.output}: {report.status} ({len(report.checks)} checks, {report.seconds:.2f} s)",
          file=sys.stderr)
    return 0


def print_verify(report: VerifyReport, quiet: bool) -> None:
    """One line on a conversion's verification (the notes, e.g. streams dropped, are said elsewhere)."""
    if not quiet and report.status != "skipped (--no-verify)":
        print(f"filmrt: verify: {report.status} ({len(report.checks)} checks, {report.seconds:.2f} s)",
              file=sys.stderr)


def _fmt(v, spec: str) -> str:
    return "-" if v is None else format(v, spec)


def run_eval_video(args: argparse.Namespace) -> int:
    from filmrt.pipeline.eval_video import eval_video  # here: its imports are no part of convert's start

    if args.json:
        check_writable(args.json, "--json")  # before any work, not after scoring the whole clip
        check_distinct(args.json, [args.input], "--json")
    worst = report_collector(args)
    bar = None

    def progress(scored: int, total: int | None) -> None:
        nonlocal bar
        if bar is None:
            bar = tqdm(total=total, unit="frame", desc="eval-video", dynamic_ncols=True)
        bar.update(scored - bar.n)

    try:
        report = eval_video(
            args.input, runtime_from_args(args), ss=args.ss, t=args.t, scene_threshold=args.scene_threshold,
            on_progress=None if args.quiet else progress, worst=worst, vmaf=args.vmaf,
        )
    except BaseException:
        if bar is not None:
            bar.close()
        raise
    if bar is not None:  # the total was an estimate (pairs at cuts are skipped): end at 100 %
        bar.total = bar.n
        bar.refresh()
        bar.close()
    print(f"{'method':<10} {'PSNR (dB)':>9} {'SSIM':>7} {'VMAF':>6} {'flicker':>8} {'judder':>7} {'motion err':>10}")
    for pre, label in (("", report["model"]), ("blend_", "blend")):
        j = report[f"{pre}judder"]
        print(f"{label:<10} {report[pre + 'psnr']:>9.2f} {report[pre + 'ssim']:>7.4f} "
              f"{_fmt(report[pre + 'vmaf'], '.2f'):>6} {report[pre + 'flicker']:>8.2f} "
              f"{_fmt(j['cand']['judder'], '.3f'):>7} {_fmt(j['motion_error'], '.3f'):>10}")
    print(f"{report['frames_scored']} frames scored, {report['pairs_skipped_cut']} skipped at cuts; judder of the "
          f"clip itself {_fmt(report['judder']['ref']['judder'], '.3f')}; {report['clip']}")
    if args.json:
        write_json(args.json, report)
    if args.report:
        print(f"report: {write_eval_report(args.report, report, worst)}")
    return 0

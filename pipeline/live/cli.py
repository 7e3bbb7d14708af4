"""``filmrt live``: the command line of :func:`filmrt.pipeline.live.run.live`.

The options are generated from :class:`~filmrt.pipeline.live.options.LiveOptions` and the same
runtime and encoding groups as ``filmrt convert`` (:mod:`filmrt.cli.groups`); the encoding
defaults a live stream needs (libx264 ``veryfast``; MPEG-TS, or HLS for ``.m3u8``, Matroska for ``.mkv``) apply
where the option is not given.
The status line (stderr, once per second) and ``--stats`` (JSON lines) are drawn here from the
run's ``on_second`` callback; ``--json`` gets the final summary.
"""

from __future__ import annotations

import argparse
import sys

from filmrt.cli.groups import add_options, given
from filmrt.cli.overwrite import add_overwrite_options
from filmrt.fileio import check_writable, write_json
from filmrt.interrupts import signals_as_interrupt
from filmrt.options import RuntimeOptions
from filmrt.pipeline.live.options import LIVE_ENCODE, LiveOptions
from filmrt.pipeline.live.run import LiveResult, live
from filmrt.pipeline.live.stats import json_line, status_line
from filmrt.pipeline.options import EncodeOptions
from filmrt.rates import format_rate


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "live",
        help="convert a live stream's frame rate in real time, with a constant latency",
        description="Read a live stream (udp://, srt://, rtp://, tcp://, rtmp://, http(s)://, a pipe, or a file "
        "paced with --realtime), convert its frame rate and send it on (MPEG-TS to a URL, a pipe or a file; "
        "HLS for .m3u8) with a constant delay: one output frame per tick, never late. Each frame gets the "
        "best tier that is ready in time (model, model at half/quarter size, blend, repeat). Audio and "
        "other streams are passed through with the same delay. Ends at the end of the input, after --t, "
        "or at Ctrl-C/SIGTERM (the output is flushed).",
    )
    p.add_argument("input", metavar="IN", help="input URL, file, or - for stdin")
    p.add_argument("output", metavar="OUT", help="output URL (udp://, srt://, tcp://), file (.ts MPEG-TS, .mkv Matroska, .m3u8 HLS), or -")
    add_options(p, LiveOptions, required=["fps"], title="live")
    add_options(p, RuntimeOptions, title="model and runtime")
    add_options(p, EncodeOptions, title="encoding (live defaults: --codec libx264 --preset veryfast; the container follows OUT: "
                "MPEG-TS, HLS for .m3u8, Matroska for .mkv)")
    p.add_argument("--stats", default=None, metavar="FILE", help="write one JSON line per second to FILE")
    p.add_argument("--json", default=None, metavar="OUT", help="write the final summary as JSON to OUT")
    p.add_argument("--quiet", action="store_true", help="no status line")
    add_overwrite_options(p)
    p.set_defaults(func=run_live)


def options_from_args(args: argparse.Namespace) -> LiveOptions:
    encode = EncodeOptions(**{**LIVE_ENCODE, **given(EncodeOptions, args)})
    return LiveOptions(**given(LiveOptions, args), runtime=RuntimeOptions(**given(RuntimeOptions, args)),
                       encode=encode)


def run_live(args: argparse.Namespace) -> int:
    opts = options_from_args(args)
    for path, what in ((args.json, "--json"), (args.stats, "--stats")):
        if path:
            check_writable(path, what)
    stats = open(args.stats, "w", encoding="utf-8") if args.stats else None  # noqa: SIM115 - closed below

    def second(rec: dict) -> None:
        if stats is not None:
            stats.write(json_line(rec))
            stats.flush()
        if not args.quiet:
            print(status_line(rec), file=sys.stderr, flush=True)

    try:
        with signals_as_interrupt():
            res = live(args.input, args.output, opts, on_second=second, overwrite=args.overwrite)
    finally:
        if stats is not None:
            stats.close()
    _report(res, args.quiet)
    if args.json:
        write_json(args.json, res.to_dict())
    return 0


def _report(res: LiveResult, quiet: bool) -> None:
    s = res.stats
    if not quiet:
        shares = ", ".join(f"{t} {v:.0%}" for t, v in s["tier_shares"].items())
        print(f"filmrt: live {res.dst}: {s['frames_out']} frames at {format_rate(res.fps_out)} fps ({res.ended}); "
              f"{shares}; latency {s['latency_budget_ms']:g} ms (p50 {s['latency_p50_ms']}, p99 "
              f"{s['latency_p99_ms']}); {s['late']} late, {s['overruns']} model overruns, {s['stalls']} stall(s), "
              f"{res.input['resyncs']} re-sync(s), {res.input['dropped']} input frame(s) dropped; "
              f"{res.model} on {res.backend}", file=sys.stderr)
    if res.protect is not None and not quiet:
        pr = res.protect
        when = f"from output frame {pr['from_frame']}" if pr["from_frame"] is not None else "no frame made after it"
        print(f"filmrt: {pr['found'] or 'protect: the input ended before its analysis window'} ({when})",
              file=sys.stderr)
    for p in res.input["problems"]:
        print(f"filmrt: note: input: {p}", file=sys.stderr)
    for n in res.notes:
        print(f"filmrt: note: {n}", file=sys.stderr)

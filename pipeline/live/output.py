"""What a live run writes: the container (:func:`live_format`: MPEG-TS, HLS or Matroska, a muxer
that writes as it goes, with no index at the end) and the output decision (:func:`live_target`),
made by convert's ``plan_target`` with live's own reasons and muxer options.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

from filmrt.errors import FilmrtError
from filmrt.fileio import is_stream_target
from filmrt.pipeline.io.encode import MOV_MUXERS
from filmrt.pipeline.io.streams import output_format
from filmrt.pipeline.io.target import DROPPED, plan_target
from filmrt.pipeline.live.header import LIVE_CHAPTERS, LIVE_TIMECODE
from filmrt.pipeline.live.options import LiveOptions
from filmrt.pipeline.live.source import is_url

#: the containers a live run writes: a muxer that writes as it goes, with no index to write at
#: the end (MP4 and MOV write theirs there: a stream cut short, or read while it is written, has none)
LIVE_FORMATS = {"mpegts": "MPEG-TS", "hls": "HLS", "matroska": "Matroska"}


def live_format(dst: str, fmt: str | None) -> str:
    """The container of a live run's OUT: ``--format`` when given, else OUT's extension (``.ts``,
    ``.m2ts``: MPEG-TS; ``.m3u8``: HLS; ``.mkv``: Matroska); MPEG-TS for a URL, a pipe, a device
    and a file without an extension. Anything else is refused in one line before anything is
    opened or written (an ``.mp4`` OUT got MPEG-TS inside; ``--format mp4`` failed after writing
    part of a file)."""
    if fmt is None:
        if dst == "-" or is_url(dst) or is_stream_target(dst) or not Path(dst).suffix:
            return "mpegts"
        if dst.lower().endswith(".m3u8"):
            return "hls"
        try:
            fmt = output_format(dst, None)
        except FilmrtError:
            raise FilmrtError(f"OUT {dst}: FFmpeg knows no container for {Path(dst).suffix!r}; live writes "
                              f"{_live_formats()}: name it .ts, .m3u8 or .mkv, or pass --format") from None
        where = f"OUT {dst} ({Path(dst).suffix} is {fmt})"
    else:
        where = f"--format {fmt}"
    if fmt not in LIVE_FORMATS:
        why = (" (MP4 and MOV write their index at the end: a live stream cut short, or read while it is written, "
               "has none; filmrt convert writes them from a file)" if fmt in MOV_MUXERS else "")
        raise FilmrtError(f"{where}: live writes {_live_formats()} only{why}: name OUT .ts, .m3u8 or .mkv, or pass "
                          "--format mpegts")
    return fmt


def _live_formats() -> str:
    return ", ".join(f"{v} ({k})" for k, v in LIVE_FORMATS.items())


def live_target(dst: str, options: LiveOptions, inp):
    """The OutputTarget of a live run: always streamed (written as it comes, never renamed), in
    the container :func:`live_format` says; a UDP URL gets 1316-byte datagrams (7 TS packets)."""
    enc = options.encode
    fmt = live_format(dst, enc.format)
    # HLS segments are MPEG-TS: planned as TS (convert refuses segmenting muxers: it writes one file)
    enc = dataclasses.replace(enc, format="mpegts" if fmt == "hls" else fmt)
    target = plan_target("-", enc, inp.info, inp.streams, inp.stream.index, audio="copy", recode_audio=False)
    opts = dict(target.options)
    if fmt == "hls":
        opts.update(hls_time="2", hls_list_size="6", hls_flags="delete_segments+independent_segments")
        target = dataclasses.replace(target, format="hls")
    # timecode and chapter tracks are never copied; the target's reasons are convert's, which re-writes
    # both where the container keeps them (live writes neither)
    live_reason = {"timecode track": LIVE_TIMECODE, "QuickTime chapter track": LIVE_CHAPTERS}
    fates = tuple(next((dataclasses.replace(f, reason=r) for k, r in live_reason.items()
                        if f.fate == DROPPED and f.reason.startswith(k)), f) for f in target.fates)
    target = dataclasses.replace(target, fates=fates)
    if dst.startswith("udp://") and "pkt_size" not in dst:
        dst += ("&" if "?" in dst else "?") + "pkt_size=1316"
    return dataclasses.replace(target, path=dst, streamed=True, options=opts)

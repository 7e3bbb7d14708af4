"""The assertions on one conversion, independent of the product's own verification.

What an output is checked for (each function raises AssertionError naming what is wrong):
frames (count = source duration x output rate within one frame, or the --t window; times on the
output grid), streams (every source stream copied as the same, readable codec or reported dropped
with a reason), audio (decodes; same duration and offset to the video), SAR, field order, timecode,
chapters, A/53 captions and the video codec family (kept, or changed with a note).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from fractions import Fraction

import av

from filmrt.pipeline.io.captions import a53_of

FAMILY = {"h264": "h264", "hevc": "hevc", "prores": "prores", "dnxhr": "dnxhd", "ffv1": "ffv1",
          "mpeg2": "mpeg2video", "mpeg4": "mpeg4", "vp9": "vp9"}  # fmt: skip
TC_CONTAINERS = ("mov", "mp4", "mkv", "mxf")
CHAPTER_CONTAINERS = ("mkv", "mp4", "mov")
FIELD_ORDER = {0: "", 1: "progressive", 2: "tt", 3: "bb", 4: "tb", 5: "bt"}  # AVFieldOrder


@dataclass
class Media:
    """What the checks need to know about one file, read with PyAV."""

    streams: list[tuple[int, str, str]] = field(default_factory=list)  # (index, type, codec)
    main: int = -1  # index of the video stream that is the picture (not an attached picture)
    times: list[Fraction] = field(default_factory=list)  # of the frames that have a timestamp
    count: int = 0  # decoded frames (a raw elementary stream has no timestamps)
    rate: Fraction | None = None  # the picture stream's frame rate (what a raw stream's frames last)
    sar: Fraction = Fraction(1)
    codec: str = ""
    interlaced: int = 0  # frames flagged interlaced
    field_order: str = ""  # the decoder's: tt, bb, tb, bt (coded, displayed first), progressive
    audio: dict[int, tuple[float, float]] = field(default_factory=dict)  # index -> (start, seconds)
    timecode: str | None = None
    chapters: list[float] = field(default_factory=list)
    captions: int = 0
    #: data streams that carry a timecode tag (a tmcd track: the timecode, checked as such)
    timecode_tracks: set[int] = field(default_factory=set)


def _sar(cc) -> Fraction:
    r = cc.sample_aspect_ratio
    return Fraction(r) if r and r.numerator and r.denominator else Fraction(1)


def _timecode(c) -> str | None:
    for tags in [c.metadata, *(s.metadata for s in c.streams)]:
        for k, v in tags.items():
            if k.lower() == "timecode" and v:
                return v
    return None


def read(path, decode_audio: bool = True) -> Media:
    m = Media()
    with av.open(str(path)) as c:
        for s in c.streams:
            cc = getattr(s, "codec_context", None)
            m.streams.append((s.index, s.type, cc.name if cc is not None else ""))
            if s.type == "data" and any(k.lower() == "timecode" for k in s.metadata):
                m.timecode_tracks.add(s.index)
        pics = [s for s in c.streams.video if not (s.disposition & av.stream.Disposition.attached_pic)]
        m.timecode = _timecode(c)
        try:
            m.chapters = [float(ch["start"] * ch["time_base"]) for ch in c.chapters()]
        except Exception:  # noqa: BLE001 - a container without chapter support
            m.chapters = []
        # the main video as a viewer picks it: the largest picture stream (a thumbnail track that comes
        # first, not flagged as an attached picture in Matroska, is small), the first of equals
        if not pics:
            return m
        v = max(pics, key=lambda s: (s.codec_context.width or 0) * (s.codec_context.height or 0))
        m.main, m.sar, m.codec = v.index, _sar(v.codec_context), v.codec_context.name
        lead = 0  # pictures without a timestamp in front of the first timed one
        for f in c.decode(v):
            m.count += 1
            if f.pts is None:
                lead += not m.times
                continue
            m.times.append(f.pts * f.time_base)
            m.interlaced += bool(f.interlaced_frame)
            m.captions += bool(a53_of(f))
        rate = v.average_rate or v.guessed_rate
        m.rate = Fraction(rate) if rate else None
        file_start = Fraction(c.start_time, 1_000_000) if c.start_time is not None else None
        if lead and m.times and rate and file_start is not None and file_start < m.times[0]:
            # FFmpeg shows them before it (ffmpeg -i: they start with the audio that starts there)
            first = max(file_start, m.times[0] - lead / Fraction(rate))
            m.times[:0] = [first + k / Fraction(rate) for k in range(round((m.times[0] - first) * rate))]
        fo = v.codec_context.field_order
        m.field_order = FIELD_ORDER.get(int(fo), str(fo)) if isinstance(fo, int) else str(fo or "")
    if decode_audio:
        m.audio = audio_spans(path)
    return m


def audio_spans(path) -> dict[int, tuple[float, float]]:
    """Per audio stream: (first sample time, decoded seconds)."""
    out = {}
    with av.open(str(path)) as c:
        for s in c.streams.audio:
            start, n, rate = None, 0, s.codec_context.sample_rate or 48000
            for f in c.decode(s):
                if start is None and f.pts is not None:
                    start = float(f.pts * f.time_base)
                n += f.samples
            out[s.index] = (start or 0.0, n / rate)
    return out


def duration(m: Media) -> float:
    """Seconds the source's pictures cover (the last frame lasts as long as the one before it; a raw
    elementary stream's frames, without timestamps, one frame duration each)."""
    t = sorted(m.times)
    if len(t) < 2:
        return float(m.count / m.rate) if m.count and m.rate else 0.0
    return float(t[-1] - t[0] + (t[-1] - t[-2]))


def check_frames(out: Media, expected: int, rate: Fraction, slack: int = 1) -> None:
    n = out.count
    assert abs(n - expected) <= slack, f"{n} frames, planned {expected} (+-{slack})"
    t = sorted(out.times)  # presentation order (AVI has no pts: decoders label frames from dts)
    if len(t) < n:  # a raw elementary stream: frames without timestamps, nothing to put on a grid
        return
    step = 1 / rate
    bad = [i for i in range(1, n) if abs((t[i] - t[i - 1]) - step) > step / 2]
    assert not bad, f"frame times off the 1/{rate} grid at frames {bad[:5]} (e.g. {float(t[bad[0]] - t[bad[0] - 1]):.4f} s)"


def check_streams(src: Media, out: Media, report: dict, out_ext: str) -> None:
    """Every source stream other than the picture: copied (same type and codec, readable) or dropped
    with a reason in the report."""
    # the report's output decision: every input stream's fate (copied / reencoded / dropped) and reason
    fates = (report.get("output") or {}).get("streams", [])
    copied = {f["index"] for f in fates if f["fate"] in ("copied", "reencoded")}
    dropped = {f["index"]: f["reason"] for f in fates if f["fate"] == "dropped"}
    out_kinds = [(t, c) for _, t, c in out.streams if _ != out.main]
    for idx, typ, codec in src.streams:
        if idx == src.main:
            continue
        if idx in dropped:
            assert dropped[idx].strip(), f"source stream #{idx} ({typ} {codec}) dropped without a reason"
            continue
        if typ == "attachment" and any(t == "attachment" for t, _ in out_kinds):
            continue  # attachments travel with the container's header: present is enough
        assert idx in copied, f"source stream #{idx} ({typ} {codec}) neither in the output report nor reported dropped"
        if typ in ("audio", "subtitle", "video"):
            same = [c for t, c in out_kinds if t == typ]
            assert same, f"source stream #{idx} {typ} {codec} reported copied, but the {out_ext} output has no {typ} stream ({out.streams})"
    unreadable = [(i, t, c) for i, t, c in out.streams
                  if t == "data" and c in ("", "bin_data", "none") and i not in out.timecode_tracks]
    src_data = [s for s in src.streams if s[1] == "data"]
    chapter_track = 1 if out.chapters and out_ext in ("mp4", "mov") else 0  # QuickTime chapters are a text track
    assert len(unreadable) <= len(src_data) + chapter_track, f"output has unreadable data streams {unreadable} the source did not have"


def file_start(m: Media) -> float:
    """Where --ss counts from: the earliest stream start (ffmpeg's -ss on the input)."""
    starts = [float(min(m.times))] if m.times else []
    return min(starts + [a for a, _ in m.audio.values()], default=0.0)


def overlap(a0: float, a1: float, b0: float, b1: float) -> float:
    return max(0.0, min(a1, b1) - max(a0, b0))


def check_audio(src: Media, out: Media, window: tuple[float, float] | None, slowmo: bool) -> None:
    """Copied audio decodes, lasts as long as in the source (or its part in the --ss/--t window), and
    starts where it started relative to the video."""
    if slowmo or not out.audio or not src.audio:
        return
    s_start, s_len = next(iter(src.audio.values()))
    v0_src = float(min(src.times)) if src.times else 0.0
    v0_out = float(min(out.times)) if out.times else 0.0
    for idx, (start, seconds) in out.audio.items():
        if window is None:
            assert abs(seconds - s_len) <= 0.15, f"audio #{idx}: {seconds:.2f} s decoded, the source has {s_len:.2f} s"
            off_src, off_out = s_start - v0_src, start - v0_out
            assert abs(off_src - off_out) <= 0.1, f"audio #{idx} starts {off_out:+.2f} s from the video, in the source {off_src:+.2f} s"
        else:
            want = overlap(s_start, s_start + s_len, *window)
            assert seconds >= want - 0.15, f"audio #{idx}: {seconds:.2f} s decoded, the window holds {want:.2f} s"
            if s_start <= window[0] and v0_src <= window[0]:
                assert start - v0_out <= 0.06, f"audio #{idx} starts {start - v0_out:+.2f} s after the first video frame"


def check_picture(src: Media, out: Media, report: dict, source_codec: str) -> None:
    assert out.sar == src.sar, f"SAR {out.sar} in the output, {src.sar} in the source"
    if out.codec != FAMILY[source_codec]:
        notes = (report.get("video") or {}).get("output", {}).get("notes") or []
        assert notes, f"video {FAMILY[source_codec]} came back as {out.codec} with no note in the report"


def check_fields(out: Media, order: str) -> None:
    assert out.interlaced, f"--interlace {order}: no output frame is flagged interlaced"
    shown_first = out.field_order[-1:].lower()  # tt/bt: top displayed first; bb/tb: bottom
    assert shown_first == order[0], f"--interlace {order}: the output signals field order {out.field_order!r}"


def tc_seconds(tc: str, rate: float) -> float:
    h, m, s, f = (int(x) for x in re.split(r"[:;.]", tc))
    return h * 3600 + m * 60 + s + f / rate


def check_timecode(src_tc: str, out: Media, out_ext: str, ss: float, rate: Fraction) -> None:
    if out_ext not in TC_CONTAINERS:
        return
    assert out.timecode, f"the source's timecode {src_tc} is missing from the {out_ext} output"
    want = tc_seconds(src_tc, 25) + ss
    got = [tc_seconds(out.timecode, r) for r in (float(rate), 25.0, 30.0)]
    assert any(abs(g - want) <= 0.05 for g in got), f"timecode {out.timecode} in the output; expected {src_tc} + {ss} s"


def check_chapters(src: Media, out: Media, out_ext: str, scale: float, ss: float) -> None:
    if out_ext not in CHAPTER_CONTAINERS or not src.chapters:
        return
    assert out.chapters, "the source's chapters are missing from the output"
    want = [max(0.0, c * scale - ss) for c in src.chapters]
    got = out.chapters[: len(want)]
    assert all(abs(a - b) <= 0.05 for a, b in zip(got, want, strict=False)), f"chapters start at {got}, expected {want}"


def check_captions(src: Media, out: Media, out_codec_ok: bool) -> None:
    if src.captions and out_codec_ok:
        assert out.captions, "the source's A/53 captions are missing from the output"

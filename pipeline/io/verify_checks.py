"""The checks of :mod:`filmrt.pipeline.io.verify`: an :class:`Expectation` against a file read back.

Each check appends its name to the report's ``checks`` (so a report says what was looked at) and
one line per difference. The tolerances are stated here, once:

- a video timestamp: one tick of the output stream's time base (:func:`_tick`), after removing the
  common shift the muxer may apply to every stream;
- the start (that common shift): 0, or the amount that lifts the earliest stream to 0 (Matroska,
  MPEG-TS: no negative timestamps), within half an output frame; in AVI and elementary streams
  (:data:`NO_TIMES`) the video's start is a decoder delay: anything from 0 to 16 frames, and the
  other streams' offsets are measured from 0, not from it;
- the A/V offset (a stream's start minus the video's, compared with the source's): one tick of each
  of the two streams' time bases and 1 ms for convert's own check (its plan places every stream
  exactly), half an output frame without a plan (``filmrt verify``: the grid is inferred); in AVI and
  elementary streams a copied stream's, one packet of it (no stream start there: the packet that
  straddles ``--ss`` plays from the file's start);
- a stream's or the video's duration: one output frame or one packet of the stream, whichever is longer;
  a re-encoded stream one packet more (its encoder's priming, presented before the start where the
  container cannot signal it).
"""

from __future__ import annotations

import bisect
from dataclasses import replace
from fractions import Fraction

from filmrt.pipeline.io.streams import NO_TIMES, same_codec
from filmrt.pipeline.io.target import DROPPED, REENCODED, StreamFate
from filmrt.pipeline.io.verify import UNEXPLAINED, Expectation, StreamExpect, VerifyReport, stream_expect
from filmrt.pipeline.io.verify_read import MediaRead, StreamRead, VideoRead

#: how a note on damage the output only carries over from the source starts
DAMAGED = "damaged input: "
#: timestamps listed in a difference line before "and N more"
SHOWN = 3
#: muxers that start every stream after a delay of their own (MPEG-PS preload 0.5 s, MPEG-TS mux delay;
#: FLV and NUT store no negative decoding time: B-frames' reorder delay lifts every stream by it):
#: any common shift is right there; the A/V offset is still checked
MUX_DELAY = {"mpeg", "vob", "dvd", "svcd", "vcd", "mpegts", "flv", "nut"}
#: the deepest reorder delay a decoder may add there (H.264/HEVC: 16 frames)
MAX_REORDER = 16
#: FFmpeg's colour tag names, for the difference lines
_TAGS = ("matrix", "range", "primaries", "transfer")


def _s(t: Fraction | None) -> str:
    return "?" if t is None else f"{float(t):.4f} s"


def _tick(v: VideoRead) -> Fraction:
    return max(v.time_base, Fraction(1, 1_000_000))


def check(exp: Expectation, out: MediaRead) -> VerifyReport:
    """Compare ``out`` with ``exp``; the report lists every check run and every difference."""
    rep = VerifyReport("ok")
    v = out.video
    rep.checks.append("video stream")
    if v is None or not v.packets:
        rep.differences.append("video: OUT holds no video stream" if v is None else "video: no video packets")
        rep.status = "failed"
        return rep
    rate = exp.grid.rate if exp.grid is not None else (v.rate or Fraction(25))
    shift = _check_frames(exp, v, rep, rate)
    _check_picture(exp, v, rep)
    _check_streams(exp, out, v, rep, rate, shift)
    _check_extras(exp, out, rep)
    rep.status = "failed" if rep.differences else "ok"
    return rep


# ---------------------------------------------------------------------- video
def _check_frames(exp: Expectation, v: VideoRead, rep: VerifyReport, rate: Fraction) -> Fraction:
    """Frame count, decodability, every timestamp on the grid, start and duration; returns the
    muxer's common shift (OUT's video start minus the planned start)."""
    diff = rep.differences.append
    rep.checks.append("video frames decodable")
    if v.decode_errors:
        diff(f"video: {v.decode_errors} packet(s) do not decode")
    if v.decoded is not None and v.decoded != v.packets:
        diff(f"video: {v.decoded} picture(s) decode from {v.packets} packet(s)")
    planned = exp.times if exp.times is not None else (
        [exp.grid.time(k) for k in range(exp.grid.count)] if exp.grid is not None else None)
    if planned is None:
        return Fraction(0)
    rep.checks.append("video frame count")
    frames = v.decoded if v.decoded is not None else v.packets  # what a player shows
    if frames != len(planned):
        diff(f"video frames: {frames} in OUT, {len(planned)} planned")
    shift = v.times[0] - planned[0] if planned and v.times else Fraction(0)
    rep.checks.append("video timestamps on the planned grid")
    _check_times(v, planned, shift, rep)
    if exp.duration is not None and v.times:
        rep.checks.append("video duration")
        span = v.times[-1] - v.times[0] + 1 / rate
        tol = 1 / rate + _tick(v)
        if not exp.duration - tol <= span <= exp.duration + exp.duration_lead + tol:
            want = _s(exp.duration) + (f" to {_s(exp.duration + exp.duration_lead)}" if exp.duration_lead else "")
            diff(f"video duration: {_s(span)} in OUT, the source's {want} (tolerance one frame)")
    return shift


def _check_times(v: VideoRead, planned: list[Fraction], shift: Fraction, rep: VerifyReport) -> None:
    """Each timestamp (less the common shift) on a planned time, within one tick or 1/64 of a frame,
    whichever is longer; each planned time taken once. Matched by nearest planned time, so one
    missing frame is one line, not a cascade. The 1/64: a reader infers the times of pictures the
    container leaves unstamped (MPEG-PS stamps the first of each PES packet) by adding a frame
    duration rounded to its clock, 1501 ticks of 1501.5 at 59.94 fps in 90 kHz: half a tick more
    per picture, where a misplaced picture is a whole frame off."""
    step = (planned[-1] - planned[0]) / (len(planned) - 1) if len(planned) > 1 else Fraction(0)
    tol, used, off, dups = max(_tick(v), step / 64), set(), [], 0
    for t in v.times:
        t0 = t - shift
        i = bisect.bisect_left(planned, t0)
        k = min((j for j in (i - 1, i) if 0 <= j < len(planned)), key=lambda j: abs(planned[j] - t0), default=None)
        if k is None or abs(planned[k] - t0) > tol:
            off.append((t0, planned[k] if k is not None else None))
        elif k in used:
            dups += 1
        else:
            used.add(k)
    diff = rep.differences.append
    if off:
        more = f" (and {len(off) - 1} more)" if len(off) > 1 else ""
        t0, near = off[0]
        by = f", {float(abs(t0 - near)) * 1000:.3g} ms from it" if near is not None else ""
        diff(f"video timestamps: a frame at {_s(t0)} is off the planned grid (nearest planned "
             f"{_s(near)}{by}){more}")
    if dups:
        diff(f"video timestamps: {dups} frame(s) on a planned time already taken")
    untimed = v.packets - len(v.times)
    missing = [p for k, p in enumerate(planned) if k not in used]
    if untimed and len(missing) <= untimed:  # MPEG-PS may leave a picture without a PTS: the player infers it
        rep.notes.append(f"video: {untimed} packet(s) carry no timestamp (allowed in MPEG-PS/TS; players infer them)")
    elif missing:
        more = f" (and {len(missing) - 1} more)" if len(missing) > 1 else ""
        diff(f"video timestamps: no frame at planned {_s(missing[0])}{more}")


def _allowed_shifts(exp: Expectation, fmt: str) -> list[Fraction] | None:
    """The common shifts a muxer may apply (None: any, for muxers that add a delay of their own)."""
    if fmt in MUX_DELAY:
        return None
    starts = [exp.start or Fraction(0)] + [s.start for s in exp.streams if s.start is not None]
    lift = max(Fraction(0), -min(starts))
    return [Fraction(0), lift]


def _check_picture(exp: Expectation, v: VideoRead, rep: VerifyReport) -> None:
    diff = rep.differences.append
    if exp.width is not None:
        rep.checks.append("picture size")
        slack = exp.size_slack
        if not (0 <= exp.width - v.width <= slack and 0 <= exp.height - v.height <= slack):
            diff(f"picture size: {v.width}x{v.height} in OUT, planned {exp.width}x{exp.height}")
    if exp.sar is not None:
        rep.checks.append("sample aspect ratio")
        want = exp.sar or Fraction(1)
        if v.sar != want:
            diff(f"SAR: {v.sar.numerator}:{v.sar.denominator} in OUT, the source's "
                 f"{want.numerator}:{want.denominator} (the display aspect ratio changes)")
    if exp.matrix_checked:
        rep.checks.append("display matrix")
        if v.rotation != exp.rotation:
            said = {None: "none"}
            diff(f"display matrix: {said.get(v.rotation, f'rotation {v.rotation}')} in OUT, planned "
                 f"{said.get(exp.rotation, f'rotation {exp.rotation}')} (the picture would play turned)")
    if exp.colour is not None:
        rep.checks.append("colour tags")
        for name, got, want in zip(_TAGS, v.colour, exp.colour, strict=True):
            accepted = want if isinstance(want, tuple) else (want,)
            if want is not None and got not in accepted:
                diff(f"colour {name}: {got} in OUT, planned {' or '.join(map(str, accepted))} (FFmpeg's AVCOL numbers)")
    if exp.field_order is not None:
        rep.checks.append("field order")
        if v.field_order not in exp.field_order:
            diff(f"field order: {v.field_order} in OUT, planned {' or '.join(exp.field_order)}")
    if exp.hdr is not None:
        rep.checks.append("HDR static metadata")
        for name in exp.hdr:
            if name not in v.hdr:
                diff(f"HDR: the {name} of the source is missing from OUT's first picture")


# ---------------------------------------------------------------------- other streams
def _match(exp: Expectation, out: MediaRead) -> dict[int, StreamRead | None]:
    """Each expected stream's output stream: by the plan's output index, else the next unused
    output stream of the same kind (and codec, when one is expected)."""
    used: set[int] = set()
    found: dict[int, StreamRead | None] = {}
    for s in exp.streams:
        o = out.stream(s.out_index) if s.out_index is not None else None
        if o is None:
            pool = [r for r in out.others if r.index not in used and r.kind == s.kind]
            o = next((r for r in pool if s.codec is None or same_codec(s.codec, r.codec)), pool[0] if pool else None)
        if o is not None:
            used.add(o.index)
        found[s.index] = o
    return found


def _check_streams(exp: Expectation, out: MediaRead, v: VideoRead, rep: VerifyReport, rate: Fraction,
                   shift: Fraction) -> None:
    diff = rep.differences.append
    rep.checks.append("start time")
    allowed = _allowed_shifts(exp, out.format)
    if out.format in NO_TIMES and exp.start is not None:
        if not -exp.start - 1 / (2 * rate) <= shift <= Fraction(MAX_REORDER) / rate:
            diff(f"start: OUT's video starts at {_s(v.times[0])}, planned {_s(exp.start)} (beyond a decoder's "
                 f"reorder delay of {MAX_REORDER} frames)")
        shift = Fraction(0)  # the video's delay is its own: the other streams start where they were put
    elif allowed is not None and exp.start is not None and all(abs(shift - a) > 1 / (2 * rate) for a in allowed):
        diff(f"start: OUT's video starts at {_s(v.times[0])}, planned {_s(exp.start)} (all streams moved by "
             f"{_s(shift)}; allowed {', '.join(_s(a) for a in sorted(set(allowed)))})")
    found = _match(exp, out)
    if exp.streams:
        rep.checks.append("copied streams: present, decodable, codec, duration, A/V offset, channels, "
                          "sample rate, language")
    for s in exp.streams:
        o = found[s.index]
        if o is None:
            diff(f"stream #{s.index} {s.kind}: missing from OUT (the plan copies it)")
            continue
        _check_stream(s, o, rep, rate, shift, out.format in NO_TIMES, exp.planned, _tick(v))
    rep.checks.append("dropped streams as planned")
    matched = {o.index for o in found.values() if o is not None}
    for o in out.others:
        if o.index not in matched and o.role == "timecode track":
            rep.notes.append(f"stream #{o.index} in OUT: the timecode track ({out.timecode})")
        elif o.index not in matched and o.role == "chapter track":
            rep.notes.append(f"stream #{o.index} in OUT: the chapter track (MP4/MOV write chapters as a text track)")
        elif o.index not in matched:
            diff(f"stream #{o.index} {o.kind} {o.codec} in OUT: not in the plan")
    for _i, why in exp.dropped:
        rep.notes.append(f"stream {why}")


def _check_stream(s: StreamExpect, o: StreamRead, rep: VerifyReport, rate: Fraction, shift: Fraction,
                  no_times: bool = False, planned: bool = False, video_tick: Fraction = Fraction(0)) -> None:
    name, diff = f"stream #{s.index} {s.kind}", rep.differences.append
    if s.codec is not None and not same_codec(s.codec, o.codec):
        diff(f"{name}: codec {o.codec} in OUT, {s.codec} in the source")
    for what, want, got in zip(("Hz", "channels"), s.sound or (), o.sound or (), strict=False):
        if want is not None and got is not None and want != got:  # a downmix or a resample is a loss
            diff(f"{name}: {got} {what} in OUT, {want} {what} in the source")
    if s.language is not None and o.language is not None and o.language != s.language:
        diff(f"{name}: language {o.language} in OUT, {s.language} in the source")
    if not o.packets:
        if s.packets != 0:  # a stream the source holds no packets of (in the range) stays empty
            diff(f"{name}: no packets in OUT")
        return
    if o.decode_errors:
        if s.source_decode_errors is not None and o.decode_errors <= s.source_decode_errors:
            rep.notes.append(f"{DAMAGED}{name}: {o.decode_errors} packet(s) do not decode, in the source either")
        else:
            diff(f"{name}: {o.decode_errors} of {o.packets} packet(s) do not decode")
    tol = max(1 / rate, o.max_packet)
    if s.codec is None:
        # re-encoded: the encoder's priming (AAC 1024 samples, Opus 312, AC-3 256: at most one packet)
        # is presented before the start where the container cannot signal it (MPEG-TS: the first pts
        # is moved back by it, so the sound stays in sync), and the last packet is padded
        tol += o.max_packet
    if s.duration is not None and o.duration is not None and abs(o.duration - s.duration) > tol:
        diff(f"{name}: lasts {_s(o.duration)} in OUT, {_s(s.duration)} in the source (tolerance {_s(tol)})")
    if s.start is not None and o.start is not None:
        # the muxer's common shift (measured on the video) removed: what is left is the A/V offset
        got = o.start - shift
        # AVI keeps no stream start: a copied packet that straddles --ss plays from the file's start,
        # up to one packet of that stream away from its time (a packet cannot be cut)
        # convert's plan places every stream exactly (output_origin): only the two streams' ticks
        # and a millisecond; inferred (filmrt verify alone), the output's grid is a guess: half a frame
        near = video_tick + max(o.time_base, Fraction(1, 1_000_000)) + Fraction(1, 1000) if planned else 1 / (2 * rate)
        offset_tol = max(near, o.max_packet if no_times and s.codec is not None else 0)
        if s.codec is None:  # re-encoded: the encoder's priming may be presented before it (one packet)
            offset_tol = near + o.max_packet
        if abs(got - s.start) > offset_tol:
            diff(f"{name}: starts at {_s(got)} in OUT, planned {_s(s.start)} from the source "
                 f"(an A/V offset of {_s(got - s.start)}; tolerance {_s(offset_tol)})")


def _check_extras(exp: Expectation, out: MediaRead, rep: VerifyReport) -> None:
    diff = rep.differences.append
    if exp.timecode is not None:
        rep.checks.append("timecode")
        if out.timecode != exp.timecode:
            diff(f"timecode: {out.timecode or 'none'} in OUT, planned {exp.timecode}")
    if exp.chapters is not None:
        rep.checks.append("chapters")
        if out.chapters != exp.chapters:
            diff(f"chapters: {out.chapters} in OUT, {exp.chapters} planned")
    if exp.attachments is not None:
        rep.checks.append("attachments")
        if out.attachments != exp.attachments:
            diff(f"attachments: {out.attachments} in OUT, {exp.attachments} planned")


# ---------------------------------------------------------------------- no plan
def infer_streams(src: MediaRead, out: MediaRead, origin: Fraction, fates: dict[int, StreamFate] | None = None):
    """Every non-video stream of IN is expected in OUT as convert treats it (``fates``: its decisions
    for the pair, :func:`~filmrt.pipeline.io.verify.convert_decisions`; without them every stream is
    expected as it is): copied (same codec, duration, offset), re-encoded (PCM into MPEG-TS: the
    encoder's codec, the sound from OUT's start), or left out with convert's reason. A stream OUT
    lacks that convert would keep is "dropped (no plan to say why)". A timecode or chapter track
    is not expected as a stream: it is checked as the timecode and the chapters."""
    streams, dropped = [], []
    free = [o for o in out.others if o.role is None]
    for s in src.others:
        f = (fates or {}).get(s.index)
        if s.role is not None:
            continue
        if f is not None and f.fate == DROPPED:
            dropped.append((s.index, f"#{s.index} {s.kind} {s.codec}: {f.reason}"))
            continue
        recoded = f is not None and f.fate == REENCODED
        # same_codec: MP2 copied into MP4 is read back as MP3 (one object type for MPEG audio)
        codec = f.encoder if recoded else s.codec
        pick = next((o for o in free if o.kind == s.kind and same_codec(codec, o.codec)), None)
        if pick is None:
            dropped.append((s.index, f"#{s.index} {s.kind} {s.codec}: {UNEXPLAINED}"))
            continue
        free.remove(pick)
        if recoded:
            streams.append(stream_expect(replace(f, output_index=pick.index), s, origin, Fraction(1), False))
            continue
        start = s.start - origin if s.start is not None else None
        streams.append(StreamExpect(s.index, s.kind, s.codec, start, s.duration, pick.index, s.packets,
                                    s.decode_errors, sound=s.sound, language=s.language))
    return streams, dropped

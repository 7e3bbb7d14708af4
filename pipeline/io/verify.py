"""Verification: every output is read back and compared with the source and the plan.

A wrong output with exit code 0 is the worst thing filmrt can ship, so ``convert`` (and each
``batch`` item) reads the file it wrote back before it becomes OUT, and ``filmrt verify IN OUT``
runs the same check on any pair.

**Expectation, then check.** What the output must be is an :class:`Expectation` (a frozen value:
the planned video frame count and frame-time grid, start and duration, size, SAR, colour tags,
field order, timecode, HDR static metadata, which input streams must appear with what codec and
duration, which were dropped and why, chapters and attachments). It is made in one of two ways:

- :func:`expectation_from_plan` (the *adapter*, kept in one place so the stream plan object can
  change under it): from what ``convert`` decided (the schedule's frame count, the muxer's grid and
  tags, the stream plan, the temporal report), plus the source's packets (read again, demux only)
  for the start and span of every copied stream;
- :func:`infer_expectation` (``filmrt verify IN OUT`` without a plan): the output's own rate for
  the grid, everything else from IN; a stream of IN that OUT lacks is reported as "dropped (no plan
  to say why)" (a note, not a difference: without a plan nobody can say it was wrong).

:func:`check` compares an expectation with the file read back (:mod:`filmrt.pipeline.io.verify_checks`,
reading in :mod:`filmrt.pipeline.io.verify_read`) and returns a :class:`VerifyReport`: the
checks run, one line per difference, notes, and the seconds spent.

**Tolerances** (stated once, in :mod:`~filmrt.pipeline.io.verify_checks`): a video timestamp is on
the grid within one tick of the output stream's time base (Matroska rounds to milliseconds); a
stream's start relative to the video (A/V offset) within half an output frame; a copied stream's
duration within one output frame or one of its own packets, whichever is longer. The muxer may move
every stream by the same amount (Matroska and MPEG-TS shift the file so that no timestamp is
negative, e.g. AAC priming): that common shift is measured from the video and allowed when it is 0
or the amount that lifts the earliest stream to 0.

**When the check fails in convert** (a broadcast engineer's view: OUT must never hold a file that
failed its check, and the previous OUT must survive): the temp file is checked *before* it is
renamed over OUT; on a difference nothing is renamed, OUT stays as it was, the temp file is
removed and :class:`~filmrt.errors.VerificationFailed` (exit 4) lists the differences. With
``--keep-failed`` the file is kept beside OUT as ``OUT.failed-verify.<ext>`` for inspection (never
as OUT). ``--no-verify`` skips the check. Streamed outputs (stdout, FIFOs, devices) cannot be read
back: the report says "not verified (streamed)" and nothing fails.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path

import av

from filmrt.errors import VerificationFailed
from filmrt.fileio import is_stream_target
from filmrt.pipeline.io.extras import CHAPTER_MUXERS
from filmrt.pipeline.io.orient import holds_matrix, rotation_of
from filmrt.pipeline.io.streams import parse_drop
from filmrt.pipeline.io.target import StreamFate
from filmrt.pipeline.io.verify_read import MediaRead, read_back

#: how a difference line starts (the CLI prints one line per difference)
PREFIX = "mismatch: "
#: the end of a dropped stream's line when convert would have kept it (``filmrt verify``)
UNEXPLAINED = "dropped (no plan to say why)"


@dataclass(frozen=True)
class Grid:
    """A regular grid of frame times: ``start + k / rate`` for k in [0, count)."""

    start: Fraction
    rate: Fraction
    count: int

    def time(self, k: int) -> Fraction:
        return self.start + Fraction(k) / self.rate

    @property
    def end(self) -> Fraction:
        return self.time(self.count)


@dataclass(frozen=True)
class StreamExpect:
    """An input stream that must be in the output."""

    #: input stream index, and the output's index when the plan knows it (None: matched by kind)
    index: int
    kind: str
    #: expected codec name (None: re-encoded, e.g. --audio stretch: any codec)
    codec: str | None
    #: expected start (output seconds, before the muxer's common shift) and duration; None = unknown
    start: Fraction | None = None
    duration: Fraction | None = None
    out_index: int | None = None
    #: the source's packets in the converted range, and how many of them did not decode there
    #: (None: not known); a packet that does not decode in the source either is the input's damage
    packets: int | None = None
    source_decode_errors: int | None = None
    #: audio: (sample rate, channels) the output must have, either None = any (a re-encode may
    #: resample); the language tag it must not contradict (None: any)
    sound: tuple[int | None, int | None] | None = None
    language: str | None = None


@dataclass(frozen=True)
class Expectation:
    """What an output must be (see the module docstring). None fields are not checked."""

    #: the planned video frames; ``times`` (exact, when the plan is irregular) else ``grid``
    grid: Grid | None
    times: tuple[Fraction, ...] | None = None
    width: int | None = None
    height: int | None = None
    #: pixels the encoder may have cut from each dimension (odd sizes in 4:2:0; without a plan)
    size_slack: int = 0
    sar: Fraction | None = None
    #: (colorspace, color_range, primaries, trc): each a value, a tuple of accepted values, or None (any)
    colour: tuple | None = None
    #: "progressive", "tt", "bb" ...; a tuple = any of these
    field_order: tuple[str, ...] | None = None
    timecode: str | None = None
    #: HDR10 static metadata the first picture must carry ("mastering display", "content light level")
    hdr: tuple[str, ...] | None = None
    #: the display matrix's rotation OUT must carry (anticlockwise degrees; None: no matrix; not
    #: checked unless ``matrix_checked``: a flip reads as 0 or 180, so the matrix's presence and turn)
    rotation: int | None = None
    matrix_checked: bool = False
    #: the source's video span (output seconds) the output's must match within a frame
    duration: Fraction | None = None
    #: how much earlier than the source's first picture in the --ss window the output may start (the
    #: gap from --ss to that picture, which a picture or field straddling --ss fills; 0 without --ss)
    duration_lead: Fraction = Fraction(0)
    streams: tuple[StreamExpect, ...] = ()
    #: (input index, "#INDEX TYPE CODEC: why") of every input stream that must not be in the output
    dropped: tuple[tuple[int, str], ...] = ()
    chapters: int | None = None
    attachments: int | None = None
    #: True: made from convert's plan; False: inferred from IN and OUT (``filmrt verify``)
    planned: bool = True

    @property
    def frames(self) -> int | None:
        if self.times is not None:
            return len(self.times)
        return None if self.grid is None else self.grid.count

    @property
    def start(self) -> Fraction | None:
        if self.times:
            return self.times[0]
        return None if self.grid is None else self.grid.start


@dataclass
class VerifyReport:
    """The outcome: ``status`` is "ok", "failed", "not verified (streamed)" or "skipped (--no-verify)"."""

    status: str
    checks: list[str] = field(default_factory=list)
    differences: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return not self.differences

    def to_dict(self) -> dict:
        return {"status": self.status, "checks": list(self.checks), "differences": list(self.differences),
                "notes": list(self.notes), "seconds": round(self.seconds, 4)}

    def error(self, what: str) -> VerificationFailed:
        """The exception for a failed check: a summary line, then one line per difference."""
        n = len(self.differences)
        lines = [f"verification failed: {what}: {n} difference{'s' if n != 1 else ''} from the plan"]
        return VerificationFailed("\n".join(lines + [PREFIX + d for d in self.differences]))


def streamed(dst: str) -> bool:
    return dst == "-" or is_stream_target(dst)


def not_verified(dst: str) -> VerifyReport:
    return VerifyReport("not verified (streamed)", notes=[f"{dst} is a stream (pipe, FIFO or device): "
                                                          "nothing to read back"])


def read_source(path: str, out: MediaRead, *, lo: Fraction | None = None, hi: Fraction | None = None) -> MediaRead:
    """The source's side of a check: packets (demux), its first picture's tags; its other streams are
    decoded only when OUT's copies of them do not decode (is it the input's damage?)."""
    damaged = any(o.decode_errors for o in out.others)
    return read_back(path, decode="first", others=damaged, lo=lo, hi=hi)


def reset_notes(src: MediaRead) -> list[str]:
    """The source's clock resets, said: the check expects each new part after the part before."""
    reset = [s for s in ([src.video] if src.video else []) + src.others if s.resets]
    if not reset:
        return []
    said = ", ".join(f"#{s.index} {s.kind} {s.resets}x" for s in reset)
    return [f"the source's timestamps reset ({said}): each new part is expected after the part before, "
            "as convert places it"]


# ---------------------------------------------------------------------- expectations
def expectation_from_plan(*, src_read: MediaRead | None, muxer, plan, temporal, planned_frames: int,
                          origin: Fraction, slowmo: Fraction | None, extras: dict,
                          side, stretched: tuple[int, ...] = (), damaged: bool = False,
                          turned=None) -> Expectation:
    """THE adapter from what ``convert`` decided to an :class:`Expectation`: ``plan`` is the
    :class:`~filmrt.pipeline.io.target.OutputTarget` (its ``fates`` are read as they are).

    ``src_read``: the source read back (demux only) within the converted range, None for stdin;
    ``muxer``: the :class:`~filmrt.pipeline.io.encode.Muxer` (grid, size, tags);
    ``origin``: the source time that is 0 in the output (the muxer's ``shift``:
    :func:`~filmrt.pipeline.time.schedule.output_origin`), from which copied streams are expected;
    ``temporal``: the TemporalReport (interlaced output, audio, timecode); ``planned_frames``: the
    scheduler's output frames; ``stretched``: input indices of audio streams re-encoded (--audio stretch);
    ``damaged``: the decoder reported damage (exit 3): the output holds what was readable, so no span
    (video or copied stream) is compared with the source's; ``turned``: the
    :class:`~filmrt.pipeline.io.orient.Turn` the decoder gave the pictures (OUT has no place for the
    display matrix): the source's SAR turned with them.
    """
    # every input stream the output must hold or must not, as the target decided: audio,
    # subtitles, data, and other video streams remuxed as they are (not cover art: one picture)
    fates = [f for f in plan.fates
             if f.kind in ("audio", "subtitle", "data") or (f.kind == "video" and f.fate == "copied"
                                                               and not f.reason.startswith("cover art"))]
    return expectation_from_fates(fates, src_read=src_read, muxer=muxer, temporal=temporal,
                                  planned_frames=planned_frames, origin=origin, slowmo=slowmo,
                                  extras=extras, side=side, damaged=damaged, turned=turned)


def stream_expect(f: StreamFate, r, origin: Fraction, scale: Fraction, damaged: bool) -> StreamExpect:
    """What a copied or re-encoded stream must be, from the source's packets ``r`` in the range."""
    seen = dict(packets=r.packets, source_decode_errors=r.decode_errors, language=r.language,
                sound=r.sound if f.fate == "copied" or r.sound is None else (None, r.sound[1])) if r is not None else {}
    if r is None or r.start is None:
        return StreamExpect(f.index, f.kind, f.codec if f.fate == "copied" else None, out_index=f.output_index,
                            **seen)
    if f.fate == "copied":
        dur = r.duration * scale if r.duration is not None and not damaged else None
        return StreamExpect(f.index, f.kind, f.codec, (r.start - origin) * scale, dur, f.output_index, **seen)
    # re-encoded: the sound from the output's start (the packet straddling --ss is cut there; without
    # --ss, what comes before the start is the source's own priming, which its decoder drops); its
    # own codec delay, any codec
    fed = max(r.start, origin)
    dur = (r.end - fed) * scale if r.end is not None and not damaged else None
    return StreamExpect(f.index, f.kind, None, (fed - origin) * scale, dur, f.output_index, **seen)


def expectation_from_fates(fates: list[StreamFate], *, src_read: MediaRead | None, muxer, temporal, planned_frames: int,
                           origin: Fraction, slowmo: Fraction | None, extras: dict, side,
                           damaged: bool = False, turned=None) -> Expectation:
    """The :class:`Expectation` from the streams' fates and the muxer (see :func:`expectation_from_plan`)."""
    scale = slowmo or Fraction(1)
    interlaced = temporal.interlace_out != "off"
    if interlaced:  # two fields per woven frame, at half the rate (an odd last field is dropped)
        rate = muxer.fps_out / 2
        grid = Grid(Fraction(round(Fraction(muxer.frame_offset, 2))) / rate, rate, planned_frames // 2)
    else:
        rate = muxer.fps_out
        grid = Grid(Fraction(muxer.frame_offset) / rate, rate, planned_frames)
    src_video = src_read.video if src_read is not None else None
    by_index = {s.index: s for s in (src_read.others if src_read is not None else [])}
    streams = tuple(stream_expect(f, by_index.get(f.index), origin, scale, damaged)
                    for f in fates if f.fate in ("copied", "reencoded"))
    dropped = tuple((f.index, f"#{f.index} {f.kind} {f.codec}: {f.reason}") for f in fates if f.fate == "dropped")
    order = {"tff": ("tt",), "bff": ("bb",)}.get(temporal.interlace_out, ("progressive", "unknown"))
    static = tuple(n for n, v in (("mastering display", side.mastering), ("content light level", side.light)) if v)
    span, lead = video_span(src_read) if not interlaced and not damaged else (None, Fraction(0))
    return Expectation(
        grid=grid, width=muxer.width, height=muxer.height,
        sar=(turned.sar(src_video.sar) if turned is not None else src_video.sar) if src_video is not None else None,
        rotation=_matrix_rotation(getattr(muxer, "display_matrix", None)),
        matrix_checked=hasattr(muxer, "display_matrix"),
        colour=_planned_colour(muxer.colorspace, muxer.spec),
        field_order=order, timecode=temporal.timecode_out,
        hdr=static if muxer.codec == "libx265" else (), duration=span * scale if span is not None else None,
        duration_lead=lead * scale, streams=streams, dropped=dropped,
        chapters=extras.get("chapters"), attachments=extras.get("attachments"), planned=True,
    )


def _matrix_rotation(matrix: list[int] | None) -> int | None:
    """A display matrix's rotation as :class:`~filmrt.pipeline.io.verify_read.VideoRead` reads it."""
    turn = rotation_of(matrix)
    return None if turn is None else round(turn) % 360


def video_span(src: MediaRead | None) -> tuple[Fraction | None, Fraction]:
    """(seconds of the source's video the output must span, how much earlier it may start) for the
    range read: from its first picture to its last one's end, cut at the range's end (--t ends the
    output there, whatever that picture spans: --t 0.73 of 25 fps ends at 0.73 s, not at the 19th
    picture's end, 0.76 s); with --ss, the output may also start up to --ss itself (a picture or,
    deinterlaced, a field straddling --ss fills the gap before the first picture in the range, at
    most one picture)."""
    sv = src.video if src is not None else None
    if sv is None or sv.duration is None:
        return None, Fraction(0)
    end = sv.end if src.hi is None else min(sv.end, src.hi)
    start = decodable_start(src)
    lead = max(Fraction(0), start - src.lo) if src.lo is not None else Fraction(0)
    if sv.rate:  # at most the straddling picture: a video that starts later than --ss starts late
        lead = min(lead, 1 / sv.rate)
    return max(Fraction(0), end - start), lead


def decodable_start(src: MediaRead) -> Fraction:
    """Where a source's pictures start for any decoder: its first packet's time, or later, the
    first picture decoded, when the packets before it never decode (a recording cut mid-GOP: the
    pictures before its first keyframe reference frames it does not hold). Read from the file's
    start only: a range (--ss) is decoded from the keyframe before it, by convert as by players."""
    sv = src.video
    first = sv.first_decoded
    return first if src.lo is None and first is not None and sv.start < first < sv.end else sv.start


def _planned_colour(colorspace: int, spec) -> tuple:
    """The tags the muxer set; where the source said nothing (the matrix and range were guessed from
    the size), an output that says nothing either is read by a player exactly like the source."""
    rgb = colorspace == 0  # AVCOL_SPC_RGB: RGB pictures are full range whatever the range tag asked
    if not spec.guessed:
        return (colorspace, (spec.color_range, 2) if rgb else spec.color_range, spec.primaries, spec.trc)
    return ((colorspace, 2), (spec.color_range, 0, 2) if rgb else (spec.color_range, 0), spec.primaries, spec.trc)


def own_rate(v) -> Fraction | None:
    """OUT's frame rate without a plan: of the rates its headers state, the one nearest the median
    interval of its timestamps (one missing or moved frame changes FFmpeg's average or base rate;
    the median interval alone is rounded in Matroska's milliseconds)."""
    if len(v.times) < 2:
        return v.rate
    gaps = sorted(b - a for a, b in zip(v.times, v.times[1:], strict=False) if b > a)
    if not gaps:
        return v.rate
    typical = 1 / gaps[len(gaps) // 2]
    return min(v.declared_rates, key=lambda r: abs(r - typical), default=typical)


def infer_expectation(src: MediaRead, out: MediaRead, origin: Fraction | None = None, *, ss: float | None = None,
                      hi: Fraction | None = None, decided: Decisions | None = None) -> tuple[Expectation, list[str]]:
    """An :class:`Expectation` for OUT made from IN and OUT alone (``filmrt verify``), and notes;
    ``origin``: IN's time that became 0 in OUT (default: IN's start; with --ss the range's start);
    ``ss``: convert's --ss (the timecode is the first kept frame's); ``hi``: the range's end in IN
    (--t: convert writes no frame at or after it); ``decided``: convert's own decisions for the
    pair (:func:`convert_decisions`), where it could make them."""
    from filmrt.pipeline.io.verify_checks import infer_streams
    from filmrt.pipeline.time.schedule import output_origin
    from filmrt.pipeline.time.timecode import convert_timecode, label_at

    notes: list[str] = []
    sv, ov = src.video, out.video
    grid = None
    if origin is None:  # convert's rule: output times start at the input's start, before 0 only
        origin = max(src.start, Fraction(0))  # where the pictures start there (placed, without times)
        if sv is not None and sv.start is not None and src.start <= sv.start < origin:
            origin = sv.start
    rate = own_rate(ov) if ov is not None else None
    if rate and sv is not None and sv.duration is not None and sv.start is not None:
        # as many output frames as cover the source's span at the output's own rate (the scheduler's
        # rule), the first where the source's first frame was, rounded to the output's grid
        v0 = decodable_start(src)
        count = -(-(sv.end - v0) * rate // 1)
        # the output's clock starts where convert starts it: moved by the first frame's rounding
        origin, frames = output_origin(v0, origin, rate)
        first = Fraction(frames) / rate
        if hi is not None:  # --t: the output ends there, whatever the last source frame spans
            count = min(count, max(0, -(-((hi - origin) - first) * rate // 1)))
        grid = Grid(first, rate, int(count))
        notes.append(f"grid: OUT's own rate, {float(rate):g} fps (no plan)")
    colour = None
    if sv is not None:  # a tag IN leaves unspecified is guessed by convert: any value is right
        unspecified = (2, 0, 2, 2)  # AVCOL_SPC/PRI/TRC_UNSPECIFIED = 2, AVCOL_RANGE_UNSPECIFIED = 0
        colour = tuple(None if v == u else v for v, u in zip(sv.colour, unspecified, strict=True))
        if sv.colour[0] == 2 and colour[1] is not None:  # no matrix: convert guesses it and may tag neither
            colour = (colour[0], (colour[1], 0), *colour[2:])  # (as _planned_colour: a player reads both alike)
        if sv.colour[0] == 0 and ov is not None and ov.colour[0] != 0:  # AVCOL_SPC_RGB written as Y'CbCr
            colour = (None, None, *colour[2:])
            notes.append("colour: an RGB source written as Y'CbCr: its matrix and range are convert's choice, "
                         "not checked")
    timecode = None
    if src.timecode and decided is not None and decided.timecode_carrier is None:
        notes.append(f"timecode: {decided.name} with {ov.codec if ov else '?'} video has no place for one (convert "
                     "writes none there): not checked")
    elif src.timecode and sv is not None and sv.rate and rate:
        # convert counts --ss from the source's first label (the range's first picture may carry another)
        first_label = decided.timecode if decided is not None and decided.timecode else src.timecode
        try:
            timecode = convert_timecode(label_at(first_label, sv.rate, ss), sv.rate, rate)
        except Exception:  # noqa: BLE001 - an unusual tag: only its presence is checked then
            timecode = None
    notes.append("field order: not checked without a plan (deinterlacing and --interlace change it)")
    span, lead = video_span(src)
    # the check says the dropped ones (its notes)
    streams, dropped = infer_streams(src, out, origin, decided.fates if decided is not None else None)
    holds_attachments = "matroska" in out.format
    width, height, sar, rotation = (sv.width, sv.height, sv.sar, sv.rotation) if sv else (None, None, None, None)
    turn = decided.turn if decided is not None else None
    if turn is not None:  # convert turns the pictures upright where OUT has no place for the matrix
        (width, height), sar, rotation = turn.size(width, height), turn.sar(sar), None
        notes.append(f"picture: {turn.describe()} (IN's display matrix; {decided.name} has no place for it)")
    elif decided is not None and not holds_matrix(decided.format):
        rotation = None  # a matrix convert cannot turn (not a quarter turn) is lost there, said by convert
    exp = Expectation(
        grid=grid, width=width, height=height, size_slack=1, sar=sar, colour=colour,
        rotation=rotation, matrix_checked=sv is not None and decided is not None,
        # deinterlacing (the default for interlaced IN) and --interlace both change it: only a plan knows
        field_order=None, timecode=timecode,
        hdr=sv.hdr if sv is not None and out.video is not None and out.video.codec == "hevc" else None,
        duration=span, duration_lead=lead, streams=tuple(streams), dropped=tuple(dropped),
        chapters=src.chapters if any(m in out.format.split(",") for m in CHAPTER_MUXERS) else None,
        # cover art becomes an attachment (a Matroska source reads it back as one already)
        attachments=src.attachments + (decided.attached if decided and "matroska" not in src.format else 0)
        if holds_attachments else None,
        planned=False,
    )
    return exp, notes


def verify_pair(src, dst, *, ss: float | None = None, t: float | None = None, decode: str = "all",
                dropped: str | None = None) -> VerifyReport:
    """``filmrt verify IN OUT``: infer the expectation from the pair and check OUT; ``ss``/``t``: the
    part of IN that was converted (convert's --ss/--t, counted from IN's start as the decoder does).
    A stream of IN that OUT lacks is a difference, unless ``dropped`` (convert's ``--drop-stream``
    spelling: ``a``, ``s``, ``d`` or input stream indices) says it was left out on purpose."""
    from filmrt.pipeline.io.verify_checks import check

    t0 = time.perf_counter()
    src, dst = os.fspath(src), os.fspath(dst)
    if streamed(dst):
        return not_verified(dst)
    for p in (src, dst):
        if not Path(p).is_file():
            from filmrt.errors import FilmrtError

            raise FilmrtError(f"{p}: not a file (filmrt verify reads both files, a stream cannot be read twice)"
                              if Path(p).exists() else f"not found: {p}")
    out = read_back(dst, decode=decode)
    decided = convert_decisions(src, dst, out, ss=ss, dropped=dropped)
    lo = hi = None
    if ss or t:
        if decided is not None:  # convert's start (negative where the pictures start there) and range
            start, at = decided.start, decided.ss  # MXF: the first picture at or after --ss
        else:
            with av.open(src, metadata_errors="ignore") as c:
                start, at = max(Fraction(c.start_time or 0, 1_000_000), Fraction(0)), ss
        lo = start + Fraction(at or 0).limit_denominator(1_000_000)
        hi = lo + Fraction(t).limit_denominator(1_000_000) if t else None
    inp = read_source(src, out, lo=lo if ss else None, hi=hi)
    exp, notes = infer_expectation(inp, out, lo, ss=ss, hi=hi, decided=decided)
    if decided is None:
        notes.append("streams: convert's decisions for this pair could not be made (it would refuse it as it "
                     "stands): every stream of IN is expected in OUT as it is")
    report = check(exp, out)
    report.notes = notes + reset_notes(inp) + report.notes
    kinds, indices = parse_drop(dropped)
    allowed = {s.index for s in inp.others if s.kind in kinds or s.index in indices}
    for i, why in exp.dropped:
        if why.endswith(UNEXPLAINED) and i not in allowed:  # convert keeps it: only the user can say it may go
            report.differences.append(f"stream {why.split(': dropped')[0]}: missing from OUT "
                                      "(pass --dropped SPEC if it was left out on purpose)")
    report.seconds = time.perf_counter() - t0
    return report


@dataclass(frozen=True)
class Decisions:
    """What ``convert`` decides for IN written to OUT's container, without the conversion's plan."""

    #: the container as messages name it, and where it keeps a timecode (None: nowhere)
    name: str
    timecode_carrier: str | None
    #: each input stream's fate, by input index (copied, re-encoded, or dropped and why)
    fates: dict[int, StreamFate]
    #: --ss as the decoder takes it (MXF: moved to the first picture at or after it), counted from
    #: ``start``, the input's start as convert takes it (negative where the pictures start there)
    ss: float | None
    start: Fraction
    #: the source's start timecode as convert reads it (a tag, else the bitstream's first label)
    timecode: str | None
    #: cover art the container keeps as an attachment (Matroska)
    attached: int = 0
    #: OUT's muxer, and the turn convert gives the pictures there (no place for IN's display matrix)
    format: str = ""
    turn: object | None = None


def convert_decisions(src: str, dst: str, out: MediaRead, *, ss: float | None = None,
                      dropped: str | None = None) -> Decisions | None:
    """Ask convert's own functions what it does with IN written to OUT (``filmrt verify`` has no
    plan): :func:`~filmrt.pipeline.io.target.plan_target` with the default encoding options and
    ``--drop-stream dropped`` (which streams are copied, re-encoded as PCM into MPEG-TS is, or left
    out), :func:`~filmrt.pipeline.prepare.range_start` (MXF starts every stream at the first picture
    at or after --ss) and :func:`~filmrt.pipeline.time.timecode.timecode_carrier` for OUT's own video
    codec. None where convert would refuse the pair as it stands (no --drop-stream given, say)."""
    from filmrt.errors import FilmrtError
    from filmrt.pipeline.io.decode import open_input
    from filmrt.pipeline.io.target import plan_target
    from filmrt.pipeline.options import EncodeOptions
    from filmrt.pipeline.prepare import range_start, source_timecode
    from filmrt.pipeline.time.timecode import timecode_carrier

    try:
        inp = open_input(src)
    except FilmrtError:
        return None
    try:
        ov = out.video
        rate = own_rate(ov) if ov is not None else None
        target = plan_target(dst, EncodeOptions(drop_stream=dropped), inp.info, inp.streams, inp.stream.index,
                             replace_timecode=True, rate=rate)
        kinds, indices = parse_drop(dropped)  # those the user named: present or not, as the user says
        fates = {f.index: f for f in target.fates if f.kind not in kinds and f.index not in indices}
        return Decisions(target.name, timecode_carrier(target.format, ov.codec if ov is not None else ""), fates,
                         range_start(ss, inp, target), inp.start, source_timecode(inp), len(target.attach),
                         target.format, target.turn)
    except FilmrtError:
        return None
    finally:
        inp.close()


# ---------------------------------------------------------------------- convert's call
def failed_name(dst: str) -> str:
    """Where ``--keep-failed`` keeps an output that failed: ``OUT.failed-verify.<ext>``."""
    p = Path(dst)
    return str(p.with_name(f"{p.stem}.failed-verify{p.suffix}"))


def check_conversion(conv, path: str) -> VerifyReport:
    """Verify the temp file ``path`` of conversion ``conv`` (a ``pipeline.convert._Conversion``)
    before it is renamed over OUT; raises :class:`VerificationFailed` on a difference (see the module
    docstring for what happens to the file). ``--no-verify``: a report that says it was skipped."""
    opts = conv.options
    if getattr(opts, "no_verify", False):
        return VerifyReport("skipped (--no-verify)")
    from filmrt.pipeline.io.verify_checks import DAMAGED, check

    t0 = time.perf_counter()
    src = conv.source
    out = read_back(path)
    src_read = None
    rereadable = conv.src_path is not None and not streamed(conv.src_path)
    if rereadable:  # stdin, a FIFO, a device cannot be read again: the copied streams' spans go unchecked
        src_read = read_source(conv.src_path, out, lo=src.range_start if opts.ss else None, hi=src.range_end)
    exp = expectation_from_plan(
        src_read=src_read, muxer=conv.muxer, plan=conv.target, temporal=conv.temporal,
        planned_frames=sum(conv.kinds.values()), origin=conv.muxer.shift, slowmo=conv.slowmo,
        extras=conv.extras, side=src.info.side, stretched=tuple(conv.stretch), damaged=bool(src.problems),
        turned=src.info.turned)
    report = check(exp, out)
    if src_read is None:
        report.notes.append("the input was a stream (stdin, FIFO): copied streams' start and duration not compared")
    else:
        report.notes.extend(reset_notes(src_read))
    if src.problems:
        report.notes.append("damaged input: durations not compared with the source's (the readable part was converted)")
    # damage the output carries over from the input makes the run exit 3, like any damaged input
    src.problems.extend(n[len(DAMAGED):] for n in report.notes if n.startswith(DAMAGED))
    report.seconds = time.perf_counter() - t0
    if report.ok:
        return report
    conv.verify = report
    err = report.error(conv.dst)
    if getattr(opts, "keep_failed", False):
        kept = failed_name(conv.dst)
        os.replace(path, kept)  # the temp file's owner finds it gone and renames nothing
        err = VerificationFailed(f"{err}\nkept the failed output as {kept}")
    raise err

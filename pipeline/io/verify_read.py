"""Reading a media file back for verification (:mod:`filmrt.pipeline.io.verify`): one demux pass.

:func:`read_back` demuxes every packet once and keeps what a check needs: per stream the codec,
the packet times (video: every presentation time, sorted, i.e. display order), the span the
packets cover (first pts to the last packet's end) and whether the stream decodes. The probe
(:mod:`filmrt.pipeline.io.probe`) counts packets but keeps no timestamps; this reader keeps them
because "every timestamp on the planned grid" is the check. What the headers say, a packet's time
and a picture's colour tags are read by the probe's functions (:func:`~filmrt.pipeline.io.probe.stream_facts`,
:func:`~filmrt.pipeline.io.probe.packet_time`, ...): one reading of each fact.

**Decoding.** Video packets are decoded as they are demuxed (``decode="all"``, the default):
the count of decoded pictures must equal the count of packets, so a frame that does not decode
is found, not only a missing one. At the sizes filmrt writes this costs a small share of the
conversion that made the file (measured in the report of the verify branch); ``decode="ends"``
decodes only up to the first picture and the pictures after the last keyframe. Audio and subtitle
packets of the other streams are decoded too (cheap); data streams (timecode, KLV) have no
decoder and are checked for presence and span only.

The colour tags, SAR, field order and HDR side data are read from the first decoded picture
(the stream headers can differ from what the bitstream says; the frame is what a player shows).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from fractions import Fraction

import av

from filmrt.errors import FilmrtError
from filmrt.pipeline.io.decode import av_error_message
from filmrt.pipeline.io.hdr import display_matrix_of, read_side_data
from filmrt.pipeline.io.orient import rotation_of
from filmrt.pipeline.io.probe import (
    field_order,
    frame_colour,
    is_chapter_track,
    is_cover,
    is_flush,
    main_video,
    packet_time,
    sample_aspect,
    stream_facts,
)
from filmrt.pipeline.io.streams import cuttable, stream_codec
from filmrt.pipeline.time.timecode import frame_timecode, is_timecode_track, timecode_tag
from filmrt.pipeline.time.timestamps import HiddenLead, RangeGate, ResetClock


@dataclass
class StreamRead:
    """One stream of a file as read back."""

    index: int
    kind: str
    codec: str
    time_base: Fraction
    packets: int = 0
    #: first presentation time and end (last pts + its duration), seconds
    start: Fraction | None = None
    end: Fraction | None = None
    #: packets the decoder refused (None: not decoded, e.g. a data stream)
    decode_errors: int | None = None
    #: video: pictures decoded (None when not decoded)
    decoded: int | None = None
    metadata: dict = field(default_factory=dict)
    #: the longest packet duration seen, seconds (a copied stream's duration tolerance)
    max_packet: Fraction = Fraction(0)
    #: what a data stream carries that is checked as something else: "timecode track" (the
    #: timecode), "chapter track" (the chapters); None for a stream checked as a stream
    role: str | None = None
    #: clock resets in the packets (back by more than 1 s): the times read are placed as convert
    #: places them, each new part after the one before (:func:`~filmrt.pipeline.time.timestamps.reset_offset`)
    resets: int = 0
    #: audio: (sample rate, channels) as the headers say; the language tag ("und" and none: None)
    sound: tuple[int | None, int | None] | None = None
    language: str | None = None

    @property
    def duration(self) -> Fraction | None:
        return None if self.start is None or self.end is None else self.end - self.start


@dataclass
class VideoRead(StreamRead):
    """The video stream: every presentation time (seconds, sorted) and the picture facts."""

    times: list[Fraction] = field(default_factory=list)
    #: the time of the first picture the decoder gives (packets before it never decode: a stream cut
    #: mid-GOP, a recording that starts between keyframes); None when unknown
    first_decoded: Fraction | None = None
    rate: Fraction | None = None
    #: every rate the headers state (base, average, guessed, the codec's), for a rate without a plan
    declared_rates: tuple[Fraction, ...] = ()
    width: int = 0
    height: int = 0
    #: sample aspect ratio; 0/1 (unknown) is read as 1:1, which is what players show
    sar: Fraction = Fraction(1)
    #: (colorspace, color_range, color_primaries, color_trc) as FFmpeg's numbers
    colour: tuple[int, int, int, int] = (2, 0, 2, 2)
    field_order: str = "unknown"
    interlaced_frame: bool = False
    #: HDR10 static metadata found on the first picture: "mastering display", "content light level"
    hdr: tuple[str, ...] = ()
    #: the timecode the first picture carries in the bitstream (MPEG-2 GOP header, H.264 SEI)
    timecode: str | None = None
    #: the display matrix's rotation (anticlockwise degrees, rounded), None when the picture has none
    rotation: int | None = None


@dataclass
class MediaRead:
    path: str
    format: str
    #: the container's start time in seconds (0 when it does not say)
    start: Fraction
    video: VideoRead | None
    others: list[StreamRead]
    chapters: int = 0
    attachments: int = 0
    timecode: str | None = None
    metadata: dict = field(default_factory=dict)
    #: the start of the range read (--ss), None for the whole file
    lo: Fraction | None = None
    #: the end of the range read (--t: convert writes no frame at or after it), None for the rest of the file
    hi: Fraction | None = None

    def stream(self, index: int) -> StreamRead | None:
        for s in ([self.video] if self.video else []) + self.others:
            if s.index == index:
                return s
        return None


def _timecode(c, video) -> str | None:
    """The timecode as written: the video stream's tag (MOV/MP4 tmcd, Matroska ``TIMECODE``) over the
    container's, else a data stream's; tag names in any case (the one reader, pipeline.time.timecode)."""
    tags = {**c.metadata, **(video.metadata if video is not None else {})}
    return timecode_tag(tags, [s for s in c.streams if s.type == "data"])


#: FFmpeg's "unspecified" colorspace, range, primaries, transfer
UNSPECIFIED = (2, 0, 2, 2)


def _picture_facts(v: VideoRead, frame, stream) -> None:
    # what a player uses: the picture's own tag, else the container's (e.g. a MOV colr atom for ProRes)
    v.colour = tuple(p if p != u else h for p, u, h in zip(frame_colour(frame), UNSPECIFIED, v.colour, strict=True))
    # PyAV's frames carry no SAR or field order: the decoder's context holds them once a picture is out
    v.sar = sample_aspect(stream)
    order = field_order(stream)
    if order != "unknown":
        v.field_order = order
    v.interlaced_frame = bool(frame.interlaced_frame)
    if frame.pts is not None and frame.time_base:
        v.first_decoded = Fraction(frame.pts) * Fraction(frame.time_base)
    v.timecode = frame_timecode(frame)
    side = read_side_data(frame)
    v.hdr = tuple(n for n, x in (("mastering display", side.mastering), ("content light level", side.light)) if x)
    turn = rotation_of(display_matrix_of(frame))
    v.rotation = None if turn is None else round(turn) % 360


def _decode(stream, packet, s: StreamRead, on_frame) -> None:
    try:
        frames = stream.decode(packet)
    except (av.error.FFmpegError, ValueError):
        s.decode_errors += 1
        return
    for f in frames:
        if s.decoded is not None:
            s.decoded += 1
        if on_frame is not None:
            on_frame(f)


def read_back(path, *, decode: str = "all", others: bool | None = None, lo: Fraction | None = None,
              hi: Fraction | None = None) -> MediaRead:
    """Read ``path`` once (see the module docstring). ``decode``: "all", "ends", "first" (the
    first picture only: the input side of a check, for its tags) or "none" (packets only). ``lo``/``hi``: only packets with ``lo <= t < hi``
    count (the converted range of a source: --ss/--t, as the decoder selects them). ``others``:
    decode the audio and subtitle streams (default: with ``decode`` "all" or "ends")."""
    others = decode in ("all", "ends") if others is None else others
    path = os.fspath(path)
    try:
        c = av.open(path, metadata_errors="ignore")
    except (av.error.FFmpegError, OSError) as e:
        raise FilmrtError(f"{path}: cannot be read back ({av_error_message(e)})") from None
    with c:
        vstream = main_video(c.streams)  # the programme (the converted stream in OUT), as the decoder picks it
        if vstream is not None and is_cover(vstream):
            vstream = None
        reads: dict[int, StreamRead] = {}
        video = None
        if vstream is not None:
            sp = stream_facts(vstream)
            named = sp.declared_rates
            # FFmpeg's base rate (the rate all timestamps fit), not the average: a missing frame moves that
            video = VideoRead(sp.index, "video", sp.codec, sp.time_base, metadata=sp.metadata,
                              rate=named.get("base") or named.get("guessed") or named.get("average"),
                              declared_rates=tuple(named.values()), width=sp.width or 0, height=sp.height or 0,
                              sar=sp.sar, field_order=sp.field_order)
            video.decode_errors = 0 if decode != "none" else None
            video.decoded = 0 if decode == "all" else None
            if vstream.codec_context is not None:
                video.colour = (sp.colorspace, sp.color_range, sp.color_primaries, sp.color_trc)
            reads[vstream.index] = video
        # every other stream, other pictures too (a second angle, a thumbnail track; not cover art)
        rest = [s for s in c.streams if s is not vstream and (s.type in ("audio", "subtitle", "data")
                                                             or (s.type == "video" and not is_cover(s)))]
        for s in rest:
            sp = stream_facts(s)
            r = StreamRead(s.index, s.type, stream_codec(s), sp.time_base, metadata=sp.metadata,
                           sound=(sp.sample_rate, sp.channels) if s.type == "audio" else None,
                           language=sp.language if sp.language not in ("und", "") else None,
                           role="chapter track" if is_chapter_track(s) else
                           "timecode track" if is_timecode_track(s) else None)
            r.decode_errors = 0 if others and s.codec_context is not None and s.type != "data" else None
            reads[s.index] = r
        result = MediaRead(path, c.format.name, Fraction(c.start_time or 0, 1_000_000), video,
                           [reads[s.index] for s in rest], metadata=dict(c.metadata), lo=lo, hi=hi,
                           timecode=_timecode(c, vstream),
                           # Matroska reads an image attachment back as cover art (an attached picture)
                           attachments=sum(1 for s in c.streams if s.type == "attachment"
                                           or ("matroska" in c.format.name and is_cover(s))))
        try:
            result.chapters = len(c.chapters())
        except Exception:  # noqa: BLE001 - a demuxer without chapters
            result.chapters = 0
        lead = _demux(c, reads, vstream, decode, lo, hi)
    if video is not None:
        video.times.sort()
        result.timecode = result.timecode or video.timecode  # no tag: the GOP header's (MPEG-2 in TS)
        if lead and lo is None and video.start is not None and video.rate and result.start < video.start:
            # pictures without timestamps in front of the first timed one: they come before it, down
            # to the file's start, as the decoder places them (pipeline.time.timestamps, rule 3)
            first = max(result.start, video.start - lead / video.rate)
            video.times[:0] = [first + k / video.rate for k in range(round((video.start - first) * video.rate))]
            video.start = first
    return result


def _demux(c, reads: dict[int, StreamRead], vstream, decode: str, lo: Fraction | None, hi: Fraction | None) -> int:
    """The one pass over the packets: times, spans, decoding (see :func:`read_back`). Returns the
    number of video packets without a timestamp in front of the first one that has one."""
    video = reads.get(vstream.index) if vstream is not None else None
    lead = 0
    first_seen = [False]
    tail: list = []  # decode="ends": the packets since the last keyframe

    def on_video_frame(f) -> None:
        if not first_seen[0]:
            first_seen[0] = True
            _picture_facts(video, f, vstream)

    def count(pkt, s: StreamRead) -> None:
        nonlocal tail
        s.packets += 1
        if s is video and decode != "none":
            if decode == "all" or not first_seen[0]:
                _decode(pkt.stream, pkt, video, on_video_frame)
            elif decode == "ends":
                tail = [pkt] if pkt.is_keyframe else [*tail, pkt]
        elif s.decode_errors is not None:
            _decode(pkt.stream, pkt, s, None)

    gate: RangeGate = RangeGate(lo, hi)  # the copied streams' packets, as the decoder copies them
    # a clock reset (back by more than 1 s): the new part read where convert places it, after the
    # part before (the decoder's clock the pictures, the decoder the copied packets: one rule)
    clock = ResetClock()
    follow: tuple | None = None  # the time after the last timed video packet (its own, and its step)
    reordered = False  # a timed picture shown later than it is decoded: untimed ones cannot follow
    hidden = HiddenLead()  # what an MP4/MOV edit list hides, as the decoder copies it
    for pkt in hidden.filter(c.demux(*[c.streams[i] for i in reads])):
        s = reads[pkt.stream.index]
        if is_flush(pkt):
            continue
        if pkt.is_discard and s is video:  # a picture an edit list hides: a reference, never shown
            if decode != "none":
                _decode(pkt.stream, pkt, video, on_video_frame)
            continue
        tt = packet_time(pkt, s.time_base)
        if tt is None and s is video and follow is not None and pkt.size:
            # MPEG-PS stamps only the first picture of a PES packet: small pictures (static scenes)
            # share one, and the others follow it one frame apart, as the decoder times them
            # (pipeline.time.timestamps, rule 1)
            tt = follow
        if tt is None:
            lead += s is video and video.start is None
            count(pkt, s)
            continue
        t, step = tt
        if not step and s is video and video.rate:  # MPEG-PS/ES packets often say no duration
            step = 1 / video.rate
        if s is video:
            reordered = reordered or (pkt.dts is not None and pkt.pts is not None and pkt.pts != pkt.dts)
            follow = None if reordered else (t + step, step)
        t += clock.offset(s.index, t if pkt.dts is None else Fraction(pkt.dts) * s.time_base, step)
        s.resets = clock.resets.get(s.index, 0)
        if s is video:  # the pictures from the start point on, as the decoder delivers them
            kept = [] if (lo is not None and t < lo) or (hi is not None and t >= hi) else [(pkt, t, t + step)]
        else:
            kept = gate.push(pkt, s.index, s.kind, pkt.is_keyframe, t, step, cuttable(pkt.stream))
        for p, t0, end in kept:
            r = reads[p.stream.index]
            r.max_packet = max(r.max_packet, end - t0)
            r.start = t0 if r.start is None else min(r.start, t0)
            r.end = end if r.end is None else max(r.end, end)
            if r is video:
                video.times.append(t0)
            count(p, r)
    if video is not None and decode in ("all", "ends"):
        for pkt in tail:
            _decode(vstream, pkt, video, None)
        try:
            for _f in vstream.decode(None):  # the pictures the decoder still holds
                if video.decoded is not None:
                    video.decoded += 1
                on_video_frame(_f)
        except (av.error.FFmpegError, ValueError):
            video.decode_errors += 1
    return lead

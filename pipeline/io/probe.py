"""``probe(path)``: what a media file holds, measured from its packets (not only its headers).

THE probe of the project (the decoder excepted, which reads its own stream facts while it
decodes): tests, batch jobs and the benchmark use it to look at inputs and validate outputs. Per
stream the codec, the packet count (= frames for video), the time span of the packets, what the
headers claim (frames, duration), the rate, size, pixel format, colour tags, rotation and tags.
Demuxing only (no decoding, except the first video frame for its colour tags and display
rotation), so it is fast even on long files; ``count=False, first_frame=False`` reads headers only.

Each fact of a stream is read by one function here, which the verification reader
(:mod:`filmrt.pipeline.io.verify_read`) and the cadence analysis build on: :func:`stream_facts`
(codec name, time base, rates the headers state, size, SAR, field order, colour tags),
:func:`packet_time` (a packet's time and duration in seconds), :func:`frame_colour`.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from fractions import Fraction

import av
from av.stream import Disposition

from filmrt.errors import FilmrtError
from filmrt.rates import exact_rate

#: AVFieldOrder values, as FFmpeg names them
FIELD_ORDERS = {0: "unknown", 1: "progressive", 2: "tt", 3: "bb", 4: "tb", 5: "bt"}
#: dispositions of a video stream that is not the programme: cover art, thumbnails, still pictures
NOT_PROGRAMME = Disposition.attached_pic | Disposition.timed_thumbnails | Disposition.still_image


@dataclass
class StreamProbe:
    index: int
    type: str
    codec: str
    time_base: Fraction
    #: number of packets (video: frames)
    packets: int = 0
    #: first packet's presentation time, seconds
    start: Fraction | None = None
    #: last packet's end (pts + duration) minus ``start``, seconds
    duration: Fraction | None = None
    #: what the headers say (no demuxing): frame count and duration in seconds, when they say
    header_frames: int | None = None
    header_duration: Fraction | None = None
    rate: Fraction | None = None
    #: every rate the headers state, by name: base (all timestamps fit it), average, guessed, codec
    declared_rates: dict = field(default_factory=dict)
    width: int | None = None
    height: int | None = None
    pix_fmt: str | None = None
    colorspace: int | None = None
    color_range: int | None = None
    color_primaries: int | None = None
    color_trc: int | None = None
    rotation: int = 0
    #: sample aspect ratio (0/1, unknown, read as 1:1: what players show) and field order
    sar: Fraction | None = None
    field_order: str = "unknown"
    sample_rate: int | None = None
    channels: int | None = None
    language: str | None = None
    metadata: dict = field(default_factory=dict)
    #: the stream's disposition flags (default, attached_pic ...)
    disposition: int = 0

    @property
    def frames(self) -> int:
        return self.packets

    @property
    def end(self) -> Fraction | None:
        if self.start is None or self.duration is None:
            return None
        return self.start + self.duration


@dataclass
class MediaProbe:
    path: str
    format: str
    #: container duration in seconds (from the header), if known
    duration: float | None
    streams: list[StreamProbe]
    metadata: dict = field(default_factory=dict)

    def of_type(self, kind: str) -> list[StreamProbe]:
        return [s for s in self.streams if s.type == kind]

    @property
    def video(self) -> StreamProbe | None:
        """The main video stream (:func:`main_video`'s choice)."""
        v = self.of_type("video")
        return max(v, key=lambda s: programme_key(s.disposition, s.width, s.height, s.header_frames,
                                                  s.header_duration)) if v else None


def programme_key(disposition: int, width, height, frames, duration) -> tuple:
    """How much a video stream looks like the programme (larger is more): not cover art, a thumbnail
    or a still (dispositions), a picture size, more than one frame, the larger picture, the longer
    stream, then the default flag. Size before the default flag: Matroska flags the first track of
    each kind default, and a thumbnail track is often first."""
    area = (width or 0) * (height or 0)
    return (not int(disposition) & NOT_PROGRAMME, area > 0, frames != 1, area, float(duration or 0),
            bool(int(disposition) & Disposition.default))


def main_video(streams):
    """The PyAV video stream a conversion converts (:func:`programme_key`; ties: the first), or None."""
    videos = [s for s in streams if s.type == "video"]
    if not videos:
        return None

    def key(s):
        cc = s.codec_context
        dur = s.duration * s.time_base if s.duration and s.time_base else None
        return programme_key(s.disposition, cc.width if cc else 0, cc.height if cc else 0, s.frames or None, dur)

    return max(videos, key=key)


def is_cover(s) -> bool:
    """Whether a PyAV stream is cover art (an attached picture: one packet, outside the timeline)."""
    return bool(int(s.disposition) & Disposition.attached_pic)


#: AVDISCARD_ALL: FFmpeg's mov demuxer sets it on the QuickTime chapter track it turns into chapters
_DISCARD_ALL = 48


def is_chapter_track(s) -> bool:
    """Whether a PyAV stream is a QuickTime/MP4 chapter track: a text track that FFmpeg's mov demuxer
    reads into the container's chapter list (``chapters()``) and leaves as a discarded ``bin_data``
    data stream. Its content is the chapters: they travel as chapters, never as a copied stream."""
    return s.type == "data" and getattr(s, "name", None) == "bin_data" and int(getattr(s, "discard", 0)) == _DISCARD_ALL


def probe(path, *, count: bool = True, first_frame: bool = True) -> MediaProbe:
    """Describe ``path``; ``count=False`` reads only the headers (packets/duration left empty);
    ``first_frame=False`` skips decoding the first video frame (its colour tags and rotation stay
    the headers' / 0: for a quick look at many files)."""
    path = os.fspath(path)
    if not os.path.exists(path):
        raise FilmrtError(f"not found: {path}")
    try:
        c = av.open(path, metadata_errors="ignore")  # undecodable tag bytes are dropped, not fatal
    except av.error.FFmpegError as e:
        raise FilmrtError(f"{path} is not a media file FFmpeg can read ({e})") from None
    with c:
        streams = [stream_facts(s) for s in c.streams]
        if count:
            _count_packets(c, streams)
        result = MediaProbe(path=path, format=c.format.name, duration=c.duration / 1_000_000 if c.duration else None,
                            streams=streams, metadata=dict(c.metadata))
    if first_frame and result.video is not None:
        _read_first_frame(path, result.video)
    return result


def codec_name(s) -> str:
    """The codec name of a PyAV stream, as messages and the verification name it. A data stream
    has no decoder: its codec's own name (``bin_data``, ``smpte_klv``, ``timed_id3``), else what
    it is (``tmcd``: a QuickTime timecode track), else its handler's name, else "unknown"."""
    cc = s.codec_context
    if cc is not None:
        return cc.name
    name = getattr(s, "name", None)
    if name:
        return name
    meta = dict(s.metadata or {})
    if any(k.lower() == "timecode" for k in meta):
        return "tmcd"
    return meta.get("handler_name") or "unknown"


def field_order(s) -> str:
    """The field order a PyAV video stream's decoder states (``FIELD_ORDERS`` names)."""
    v = getattr(s.codec_context, "field_order", None)
    return FIELD_ORDERS.get(v, "unknown") if isinstance(v, int) else str(v or "unknown")  # PyAV may name it


def sample_aspect(s) -> Fraction:
    """The SAR of a PyAV video stream: the container's (MOV pasp, Matroska display size) when it
    says, else the bitstream's (H.264 VUI, MPEG-2 header), as FFmpeg's av_guess_sample_aspect_ratio
    and players take it (``-aspect 16:9`` remuxed over square pixels shows 64:45); unknown is 1:1."""
    cc = s.codec_context
    for sar in (getattr(s, "sample_aspect_ratio", None), cc.sample_aspect_ratio if cc is not None else None):
        if sar and sar > 0:
            return Fraction(sar)
    return Fraction(1)


def frame_colour(f) -> tuple[int, int, int, int]:
    """(colorspace, color_range, color_primaries, color_trc) of a decoded frame, FFmpeg's numbers."""
    return f.colorspace, f.color_range, f.color_primaries, f.color_trc


def packet_time(pkt, time_base: Fraction) -> tuple[Fraction, Fraction] | None:
    """(presentation time, duration) of a packet in seconds: its pts, else its dts; None without either."""
    ts = pkt.pts if pkt.pts is not None else pkt.dts
    return None if ts is None else (Fraction(ts) * time_base, Fraction(pkt.duration or 0) * time_base)


def is_flush(pkt) -> bool:
    """An empty packet without a time: the demuxer's end marker, not a packet of the stream."""
    return pkt.size == 0 and pkt.pts is None and pkt.dts is None


def stream_duration(s) -> Fraction | None:
    """How long a stream lasts as its headers say, in seconds: the stream's duration field, else the
    per-track ``DURATION`` tag Matroska writers add ("HH:MM:SS.nnnnnnnnn"; like the segment's
    duration it counts from 0, so in a file whose timestamps start late it is the track's end);
    None when neither says. (The container's duration is the longest stream's: audio may outlast
    the video.)"""
    if s.duration and s.time_base:
        return Fraction(s.duration) * Fraction(s.time_base)
    tag = next((v for k, v in (s.metadata or {}).items() if k.upper() == "DURATION"), None)
    if tag is None:
        return None
    try:
        h, m, sec = str(tag).strip().split(":")
        return int(h) * 3600 + int(m) * 60 + Fraction(sec)
    except ValueError:  # not a clock time: said nothing
        return None


#: how far above (dropped frames) or below (jitter) a stream's measured average its declared rate
#: may be and still be its rate: a field rate (2x) or soft telecine's (5/4) is beyond
DECLARED_ABOVE, DECLARED_BELOW = Fraction(1, 5), Fraction(3, 100)


def video_rate(s) -> Fraction | None:
    """A video stream's frame rate: the average (frames over duration), unless the declared rate
    (FFmpeg's guess from the stream's base rate, the one ffmpeg itself uses) is near it
    (:data:`DECLARED_ABOVE`, :data:`DECLARED_BELOW`): then the declared one. Two dropped frames in
    2 s of 25 fps average 24 fps, a phone's jittered 29.97 fps 29.966; ``--fps x2`` of those is 50
    and 59.94, not 48 and 59.93. Either is then taken as the whole or NTSC rate it measures
    (:func:`filmrt.rates.exact_rate`: Matroska's millisecond clock reads 59.94 as 19001/317)."""
    avg, guessed = s.average_rate, s.guessed_rate
    if avg and guessed and -DECLARED_BELOW <= Fraction(guessed) / Fraction(avg) - 1 <= DECLARED_ABOVE:
        return exact_rate(Fraction(guessed))
    rate = avg or guessed or s.base_rate
    return exact_rate(Fraction(rate)) if rate else None


def stream_facts(s) -> StreamProbe:
    """What the headers say about one PyAV stream (no packet read)."""
    cc = s.codec_context
    sp = StreamProbe(
        index=s.index,
        type=s.type,
        codec=codec_name(s),
        time_base=Fraction(s.time_base) if s.time_base else Fraction(1, 1000),
        header_frames=s.frames or None,
        header_duration=stream_duration(s),
        language=s.metadata.get("language"),
        metadata=dict(s.metadata),
        disposition=int(s.disposition),
    )
    if s.type == "video":
        named = {"base": s.base_rate, "average": s.average_rate, "guessed": s.guessed_rate,
                 "codec": cc.framerate if cc is not None else None}
        sp.declared_rates = {k: Fraction(r) for k, r in named.items() if r}
        sp.rate = video_rate(s)
        sp.sar, sp.field_order = sample_aspect(s), field_order(s)
        if cc is not None:
            sp.width, sp.height, sp.pix_fmt = cc.width, cc.height, cc.pix_fmt
            sp.colorspace, sp.color_range = cc.colorspace, cc.color_range
            sp.color_primaries, sp.color_trc = cc.color_primaries, cc.color_trc
    elif s.type == "audio":
        sp.sample_rate = cc.sample_rate
        sp.channels = getattr(cc, "channels", None)
    return sp


def _count_packets(c, streams: list[StreamProbe]) -> None:
    """Packets per stream and the time span they cover (demuxing only)."""
    by_index = {sp.index: sp for sp in streams}
    ends: dict[int, Fraction] = {}
    for pkt in c.demux():
        if is_flush(pkt):
            continue
        sp = by_index[pkt.stream.index]
        sp.packets += 1
        tt = packet_time(pkt, sp.time_base)
        if tt is None:
            continue
        t, e = tt[0], tt[0] + tt[1]
        sp.start = t if sp.start is None else min(sp.start, t)
        ends[sp.index] = e if sp.index not in ends else max(ends[sp.index], e)
    for sp in streams:
        if sp.start is not None and sp.index in ends:
            sp.duration = ends[sp.index] - sp.start


def _read_first_frame(path: str, video: StreamProbe) -> None:
    """Colour tags and display rotation, which only a decoded frame carries reliably."""
    try:
        with av.open(path, metadata_errors="ignore") as c:
            for f in c.decode(c.streams[video.index]):  # the main video, not simply the first
                video.rotation = int(getattr(f, "rotation", 0) or 0)
                video.colorspace, video.color_range, video.color_primaries, video.color_trc = frame_colour(f)
                break
    except av.error.FFmpegError:
        pass

"""``probe(path)``: what a media file holds, measured from its packets (not only its headers).

Used by the tests and the batch jobs to validate outputs: per stream the codec, the packet count
(= frames for video), the time span of the packets, the rate, size, pixel format, colour tags,
rotation and tags. Demuxing only (no decoding, except the first video frame for its colour tags
and display rotation), so it is fast even on long files.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from fractions import Fraction

import av

from filmrt.errors import FilmrtError


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
    rate: Fraction | None = None
    width: int | None = None
    height: int | None = None
    pix_fmt: str | None = None
    colorspace: int | None = None
    color_range: int | None = None
    color_primaries: int | None = None
    color_trc: int | None = None
    rotation: int = 0
    sample_rate: int | None = None
    channels: int | None = None
    language: str | None = None
    metadata: dict = field(default_factory=dict)

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
        v = self.of_type("video")
        return v[0] if v else None


def probe(path, *, count: bool = True) -> MediaProbe:
    """Describe ``path``; ``count=False`` reads only the headers (packets/duration left empty)."""
    path = os.fspath(path)
    if not os.path.exists(path):
        raise FilmrtError(f"not found: {path}")
    try:
        c = av.open(path)
    except av.error.FFmpegError as e:
        raise FilmrtError(f"{path} is not a media file FFmpeg can read ({e})") from None
    with c:
        streams: list[StreamProbe] = []
        for s in c.streams:
            cc = s.codec_context
            sp = StreamProbe(
                index=s.index,
                type=s.type,
                codec=cc.name if cc is not None else "",
                time_base=Fraction(s.time_base) if s.time_base else Fraction(1, 1000),
                language=s.metadata.get("language"),
                metadata=dict(s.metadata),
            )
            if s.type == "video":
                rate = s.average_rate or s.guessed_rate
                sp.rate = Fraction(rate) if rate else None
                sp.width, sp.height, sp.pix_fmt = cc.width, cc.height, cc.pix_fmt
                sp.colorspace, sp.color_range = cc.colorspace, cc.color_range
                sp.color_primaries, sp.color_trc = cc.color_primaries, cc.color_trc
            elif s.type == "audio":
                sp.sample_rate = cc.sample_rate
                sp.channels = getattr(cc, "channels", None)
            streams.append(sp)
        by_index = {sp.index: sp for sp in streams}
        if count:
            ends: dict[int, Fraction] = {}
            for pkt in c.demux():
                if pkt.size == 0 and pkt.pts is None and pkt.dts is None:
                    continue
                sp = by_index[pkt.stream.index]
                sp.packets += 1
                ts = pkt.pts if pkt.pts is not None else pkt.dts
                if ts is None:
                    continue
                t = Fraction(ts) * sp.time_base
                e = t + Fraction(pkt.duration or 0) * sp.time_base
                sp.start = t if sp.start is None else min(sp.start, t)
                ends[sp.index] = e if sp.index not in ends else max(ends[sp.index], e)
            for sp in streams:
                if sp.start is not None and sp.index in ends:
                    sp.duration = ends[sp.index] - sp.start
        video = next((s for s in streams if s.type == "video"), None)
        metadata = dict(c.metadata)
        duration = c.duration / 1_000_000 if c.duration else None
        fmt = c.format.name
    if video is not None:
        try:
            with av.open(path) as c2:
                for f in c2.decode(video=0):
                    video.rotation = int(getattr(f, "rotation", 0) or 0)
                    video.colorspace, video.color_range = f.colorspace, f.color_range
                    video.color_primaries, video.color_trc = f.color_primaries, f.color_trc
                    break
        except av.error.FFmpegError:
            pass
    return MediaProbe(path=path, format=fmt, duration=duration, streams=streams, metadata=metadata)

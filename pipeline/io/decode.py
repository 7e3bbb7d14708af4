"""Decoding: a video file (or stdin) -> frames as (3, H, W) float RGB in [0, 1] with exact timestamps.

:class:`PyAVSource` is the default decoder: any container and codec FFmpeg reads, threaded
decoding, our own stated Y'CbCr -> RGB conversion (:mod:`filmrt.pipeline.io.colour`) on the
inference device. While it demuxes, the packets of the streams that are copied to the output
(audio, subtitles, data) are handed to a callback untouched, so a single read of the input feeds
both the video pipeline and the remux (stdin works too).

Every decoder is a :class:`~filmrt.pipeline.io.source.Source` and is opened with the
:class:`~filmrt.pipeline.io.source.DecodeRequest` that says what convert wants of it (the input
itself is opened first, once, by :func:`open_input`, so the decisions can read its headers); it yields :class:`DecodedFrame` objects in presentation
order, exposes :class:`VideoInfo` and the streams and tags to copy. A source for NVDEC through
NVIDIA DALI lives in :mod:`filmrt.pipeline.io.dali` (used only when DALI and a GPU are present).

What is handled and what is refused:

- pixel formats: planar Y'CbCr 4:2:0 / 4:2:2 / 4:4:4 at 8-16 bit, with or without alpha
  (``yuv420p``, ``yuv422p10le``, ``yuvj420p``, ``yuva444p12le`` ...) are converted directly; RGB
  (``gbrp10le``, ``argb``, ``rgba64be`` ...) is read as RGB (no matrix); other formats (NV12, P010,
  packed YUYV, gray) are first repacked by FFmpeg's swscale into a planar format without any
  matrix change. The colour tags are read before any repack.
- 10/12-bit input is decoded at full precision (float from the codes, never through 8 bits); the
  output keeps the bit depth when the encoder can (:mod:`filmrt.pipeline.io.formats`).
- alpha (``DecodeRequest.keep_alpha``, asked when the output carries it): a 4th channel, RGBA.
- ``DecodeRequest.planes`` (``filmrt live``): frames carry their Y'CbCr planes instead of RGB
  (:mod:`filmrt.pipeline.io.planes`; an RGB format still comes as RGB).
- rotation (a display matrix) is not applied to the pixels: the model works on the coded frames
  and the same display matrix is written to the output, so players rotate it the same way; where
  the output has no place for it (``DecodeRequest.upright``: MPEG-TS, AVI ...), each picture is
  turned upright here, after deinterlacing (:mod:`filmrt.pipeline.io.orient`, as ffmpeg's autorotate).
- odd width/height: decoded as is; the encoder drops the last column/row (4:2:0 needs even sizes).
- timestamps: as FFmpeg presents them (best-effort, display order; :mod:`filmrt.pipeline.time.timestamps`),
  so packed B-frames in AVI and variable frame rate come out right, every picture kept.
- damaged input: packets that fail to decode are skipped and counted; a demux error ends the
  input early (the readable part is converted); :attr:`PyAVSource.problems` says what happened.
  Only damage is reported ("damaged" exits 3); valid VFR or reordered labels are not.
"""

from __future__ import annotations

import dataclasses
import math
import os
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from fractions import Fraction

import av
import torch

from filmrt.errors import FilmrtError, NotAVideo
from filmrt.pipeline.io.captions import CaptionPacer, a53_of
from filmrt.pipeline.io.colour import ColourSpec, guess_spec
from filmrt.pipeline.io.hdr import display_matrix_of, read_side_data
from filmrt.pipeline.io.orient import (
    FrameTurner,
    first_display_matrix,
    rotation_of,
    turn_note,
    turn_of,
    upright_info,
)
from filmrt.pipeline.io.pixels import alpha_of
from filmrt.pipeline.io.planes import frame_planes, frame_to_rgb, make_thumb
from filmrt.pipeline.io.probe import is_cover, main_video, sample_aspect, stream_duration, video_rate
from filmrt.pipeline.io.source import DecodedFrame, DecodeRequest, Source, VideoInfo
from filmrt.pipeline.io.streams import cuttable, place_packet
from filmrt.pipeline.time.cadence.fieldops import CHAINS, DecodedFilter
from filmrt.pipeline.time.timestamps import FrameClock, HiddenLead, RangeGate, ResetClock, lead_floor
from filmrt.vmaf import Picture

#: what :meth:`PyAVSource._deliver` returns for the first frame past --t
_PAST_END = object()
#: demuxers of raw elementary streams: no timestamps, frames stamped at an assumed rate (25)
RAW_STREAMS = {"h264", "hevc", "vvc", "mpegvideo", "m4v", "cavsvideo", "h261", "h263", "avs2", "avs3", "obu"}


def av_error_message(e: BaseException) -> str:
    """A one-line, path-free description of a PyAV/FFmpeg error."""
    msg = getattr(e, "strerror", None) or str(e)
    return str(msg).strip().splitlines()[0] if msg else type(e).__name__


def _open_input(src, fmt: str | None = None, options: dict | None = None):
    if src == "-" or src is None:
        handle = sys.stdin.buffer
        name = "stdin"
    else:
        handle = os.fspath(src)
        name = handle
        if not os.path.exists(handle):
            raise FilmrtError(f"input not found: {handle}")
        if os.path.isdir(handle):
            raise NotAVideo(f"input is a directory, not a video: {handle}")
        if not os.access(handle, os.R_OK):
            raise FilmrtError(f"cannot read input {handle}: permission denied")
    try:
        return av.open(handle, "r", format=fmt, options=options or {}, metadata_errors="ignore"), name
    except (av.error.InvalidDataError, av.error.DemuxerNotFoundError) as e:
        raise NotAVideo(f"{name} is not a video file FFmpeg can read ({av_error_message(e)})") from None
    except av.error.FFmpegError as e:
        raise FilmrtError(f"cannot open {name}: {av_error_message(e)}") from None


@dataclass
class PyAVInput:
    """An input opened and its headers read, nothing decoded: what the decisions are made from
    (the output target, the temporal plan) before a decoder is asked for frames. Opened once, so
    stdin works: the source that decodes it (:class:`PyAVSource`) reads the same container."""

    container: object
    #: the input as messages name it (its path, or "stdin"); ``path`` is None for stdin
    src_name: str
    path: str | None
    #: the video stream decoded, every input stream, and the audio/subtitle/data streams that can be copied
    stream: object
    streams: list
    copy_streams: list
    container_metadata: dict
    #: the stream facts; ``frames`` counts the whole input (a source counts its range)
    info: VideoInfo
    #: the input's start (e.g. 1.4 s in an MPEG-TS); negative only when the pictures start there
    start: Fraction
    #: the stream's colour tags, for frames that leave them unspecified
    stream_tags: dict
    #: --input-fps given for a raw stream: frames are timed k / rate, whatever the bitstream says
    forced_rate: Fraction | None = None

    @property
    def header_end(self) -> Fraction | None:
        """Where the headers say the video ends (stream seconds), None when they do not say."""
        return self.header_end_and_slack()[0]

    def header_end_and_slack(self) -> tuple[Fraction | None, Fraction]:
        """Where the headers say the video ends (stream seconds) and the slack allowed: the
        stream's own duration within 2 frames or 2 %; the container's (which audio may extend)
        within 1 s or 5 %."""
        vs, c, tb = self.stream, self.container, self.info.time_base
        frame = 1 / self.info.rate if self.info.rate else Fraction(1, 25)
        if vs.duration:
            begin = Fraction(vs.start_time) * tb if vs.start_time is not None else self.start
            dur = Fraction(vs.duration) * tb
            return begin + dur, max(2 * frame, dur / 50)
        own = stream_duration(vs)  # Matroska's per-track DURATION tag: this stream's, not the audio's
        dur = own or (Fraction(c.duration, 1_000_000) if c.duration else None)
        if dur:
            # most demuxers count it from the start; Matroska writes the segment's (and the tag), counted
            # from 0 (a file whose timestamps start at 10 s): the earlier end is taken, so a valid start
            # offset is never called truncated
            end = min(self.start + dur, dur) if dur > self.start > 0 else self.start + dur
            return end, max(2 * frame, (end - self.start) / 50) if own else max(Fraction(1), (end - self.start) / 20)
        return None, Fraction(0)

    def close(self) -> None:
        try:
            self.container.close()
        except Exception:  # noqa: BLE001
            pass


def _input_start(c, vs) -> Fraction:
    """The input's start in seconds (e.g. 1.4 s in an MPEG-TS): output times are shifted by it (and
    --ss). A negative start is kept when the pictures start there too (an MPEG-TS whose PTS wrap
    soon after the start: libavformat unwraps them to negative times; an edit list starting early);
    when only the audio does (priming in mp4) the pictures start at 0, as before."""
    start = Fraction(c.start_time, 1_000_000) if c.start_time else Fraction(0)
    if start < 0 and (vs.start_time is None or vs.start_time >= 0):
        return Fraction(0)
    return start


def _sar(vs) -> Fraction | None:
    """The stream's sample aspect ratio (:func:`~filmrt.pipeline.io.probe.sample_aspect`), None for square pixels."""
    sar = sample_aspect(vs)
    return None if sar == 1 else sar


def _raw_rate(c, cc, src_name: str, input_fps: Fraction | None) -> Fraction:
    """A raw elementary stream's rate: --input-fps, else the bitstream's (H.264/HEVC VUI timing,
    the MPEG-1/2 sequence header, MPEG-4 VOL), never the demuxer's assumed 25."""
    if input_fps:
        return Fraction(input_fps)
    if cc.framerate and cc.framerate > 0:
        return Fraction(cc.framerate)
    c.close()
    raise FilmrtError(f"{src_name} is a raw {cc.name} stream whose bitstream does not give its frame rate "
                      "(FFmpeg would assume 25): pass --input-fps RATE")


def open_input(src, fmt: str | None = None, input_fps: Fraction | None = None, *, opened=None) -> PyAVInput:
    """Open ``src`` (a path or ``-``) and read its headers; one-line errors for what is no video.
    ``input_fps``: the rate of a raw elementary stream (its demuxer would assume 25); ``opened``:
    ``(container, name)`` already opened by the caller (``filmrt live``: a URL)."""
    # a raw stream's demuxer stamps frames at its ``framerate`` option (25 unless told)
    c, src_name = opened if opened is not None else _open_input(
        src, fmt, {"framerate": str(input_fps)} if input_fps else None)
    # the programme, not the first video stream: a thumbnail track or cover art may come first
    vs = main_video(c.streams)
    if vs is None or is_cover(vs):
        kinds = ", ".join(sorted({s.type + (" (cover art)" if is_cover(s) else "") for s in c.streams})) or "none"
        c.close()
        raise NotAVideo(f"{src_name} has no video stream (streams: {kinds})")
    cc = vs.codec_context
    if cc is None:  # a codec id FFmpeg does not know (damaged or exotic headers)
        c.close()
        raise NotAVideo(f"{src_name}: the video stream's codec is unknown to FFmpeg (not decodable)")
    if not cc.width or not cc.height:
        c.close()
        raise NotAVideo(f"{src_name}: the video stream has no picture size (not decodable?)")
    # every other stream is copied: other video streams (angles, proxies) and cover art too
    copy_streams = [s for s in c.streams if s is not vs and s.type in ("video", "audio", "subtitle", "data")]
    start = _input_start(c, vs)
    rate = video_rate(vs)
    forced_rate = None
    if set(c.format.name.split(",")) & RAW_STREAMS:
        rate = _raw_rate(c, cc, src_name, input_fps)
        forced_rate = rate if input_fps else None
    elif input_fps:
        c.close()
        raise FilmrtError(f"--input-fps is for raw elementary streams without timestamps; {src_name} "
                          f"({c.format.name}) has its own")
    tb = Fraction(vs.time_base) if vs.time_base else Fraction(1, 90000)
    spec = guess_spec(cc.width, cc.height, cc.colorspace, cc.color_range,
                      full_range_format=str(cc.pix_fmt or "").startswith("yuvj"),
                      primaries=cc.color_primaries, trc=cc.color_trc)
    info = VideoInfo(
        width=cc.width,
        height=cc.height,
        rate=rate,
        time_base=tb,
        pix_fmt=str(cc.pix_fmt),
        codec=cc.name,
        colour=spec,
        frames=_expected_frames(vs, c, rate, tb),
        start=start,
        metadata=dict(vs.metadata),
        profile=cc.profile or None,
        bit_rate=cc.bit_rate or getattr(vs, "bit_rate", None) or None,
        sar=_sar(vs),
    )
    tags = dict(colorspace=cc.colorspace, color_range=cc.color_range, primaries=cc.color_primaries,
                trc=cc.color_trc)
    path = None if src in ("-", None) else os.fspath(src)
    if path is not None and opened is None and os.path.isfile(path):
        info.display_matrix = first_display_matrix(path, vs.index)
        info.rotation = round(rotation_of(info.display_matrix) or 0)
    return PyAVInput(c, src_name, path, vs, list(c.streams), copy_streams, dict(c.metadata), info, start, tags,
                     forced_rate)


def _expected_frames(vs, c, rate: Fraction | None, tb: Fraction, ss: Fraction | None = None,
                     t: float | None = None) -> int | None:
    """Frames in the selected range, from the headers (an estimate; None when they do not say)."""
    frames = vs.frames or None
    if not frames and rate:
        dur = Fraction(vs.duration) * tb if vs.duration else (Fraction(c.duration, 1_000_000) if c.duration else None)
        if dur:
            frames = max(1, round(dur * rate))
    if frames and rate:
        if ss:
            frames = max(0, frames - int(ss * rate))
        if t:
            frames = min(frames, max(1, math.ceil(Fraction(t).limit_denominator(1_000_000) * rate)))
    return frames


#: a --ss start point closer than this (seconds) to the input's start is decoded to, not sought
SEEK_MIN = Fraction(3)


class PyAVSource(Source):
    """Decode the video stream of ``src`` (a path, ``-``, or a :class:`PyAVInput` already open) as
    ``request`` asks (:class:`DecodeRequest`; ``ss``/``t`` alone are a shorthand for a request of
    just that range, for readers such as ``eval-video`` and the benchmark).

    ``frames(on_packet)`` yields :class:`DecodedFrame`; packets of ``copy_streams`` (audio,
    subtitle, data streams that fall inside the range) go to ``on_packet(packet)`` in demux order.
    """

    name = "pyav"
    #: runs DecodeRequest.deinterlace on its own Y'CbCr frames
    filters_fields = True

    def __init__(
        self,
        src,
        request: DecodeRequest | None = None,
        *,
        ss: float | None = None,
        t: float | None = None,
        device: torch.device | str = "cpu",
        fmt: str | None = None,
        threads: int = 0,
    ):
        if request is not None and (ss is not None or t is not None):
            raise ValueError("give the range in the DecodeRequest, not beside it")
        super().__init__(request or DecodeRequest(ss=ss, t=t))
        request = self.request
        self.device = torch.device(device)
        inp = src if isinstance(src, PyAVInput) else open_input(src, fmt)
        self.input = inp
        self.container, self.src_name, self.stream, self.streams = inp.container, inp.src_name, inp.stream, inp.streams
        vs = self.stream
        vs.thread_type = "AUTO"
        if threads:
            vs.thread_count = threads
        wanted = request.streams
        self.copy_streams = [s for s in inp.copy_streams if wanted is None or s.index in wanted]
        self.container_metadata = inp.container_metadata
        self.start = inp.start
        self.ss = Fraction(request.ss).limit_denominator(1_000_000) if request.ss else None
        self.range_start = self.start + (self.ss or 0)
        self.range_end = self.range_start + Fraction(request.t).limit_denominator(1_000_000) if request.t else None
        info = inp.info
        self.info = dataclasses.replace(
            info, frames=_expected_frames(vs, inp.container, info.rate, info.time_base, self.ss, request.t))
        #: the stream's colour tags, for frames that leave them unspecified
        self._stream_tags = inp.stream_tags
        self.captions = CaptionPacer(request.caption_stretch) if request.captions else None
        self.decode_errors = 0
        #: end time (s) of the last picture delivered, for the "ends early" check
        self.last_end: Fraction | None = None
        self._seekable = inp.path is not None
        #: decoded frames -> frames (libavfilter deinterlace / pulldown removal; a frame's own
        #: time_base then gives its time)
        self.frame_filter: Callable | None = None
        if request.deinterlace != "off":
            self.frame_filter = DecodedFilter(CHAINS[request.deinterlace], time_base=info.time_base,
                                              rate=info.rate, parity=request.field_parity)
        #: where the headers say the video ends (stream seconds), None when they do not say
        self.header_end = inp.header_end
        #: the coded picture size (``info`` has the turned one when the pictures are turned)
        self.coded_size = (info.width, info.height)
        #: turns every picture upright (DecodeRequest.upright and a display matrix); the output
        #: decision said so when the matrix was read before decoding (a file), else it is said here
        self.turner: FrameTurner | None = None
        if request.upright and info.display_matrix is not None:
            self._turn(info.display_matrix, said=True)

    # ------------------------------------------------------------------
    def _seek(self) -> None:
        """Seek for --ss to a keyframe at or before the start point (frames before it are decoded
        and discarded, as ffmpeg's accurate seek does). Demuxers without an index (MPEG-TS, PS)
        land on a packet near the time asked, often after the keyframe the start point needs: the
        first picture decoded there is checked, and the seek goes back further (1, 2, 4 ... s),
        down to the beginning of the file, until that picture is not after the start point.
        Within :data:`SEEK_MIN` of the start, no seek: Matroska indexes only video keyframes, so a
        seek skips audio that starts before the first picture (and a byte seek to 0 lands later)."""
        if not self.ss or not self._seekable or self.range_start - self.start <= SEEK_MIN:
            return
        tb, back = self.info.time_base, Fraction(0)
        while self.range_start - back > self.start:
            try:
                self.container.seek(int((self.range_start - back) / tb), stream=self.stream, backward=True,
                                    any_frame=False)
            except Exception:  # noqa: BLE001 - unseekable input: decode from the start and discard
                return
            first = self._first_picture_time()
            if first is not None and first <= self.range_start:
                self.container.seek(int((self.range_start - back) / tb), stream=self.stream, backward=True,
                                    any_frame=False)  # the same place again, for frames()
                return
            back = back * 2 if back else Fraction(1)
        try:
            self.container.seek(0, backward=True, unsupported_byte_offset=True)  # the first byte
        except Exception:  # noqa: BLE001
            self.container.seek(int(self.start / tb), stream=self.stream, backward=True, any_frame=False)

    def _first_picture_time(self, packets: int = 600) -> Fraction | None:
        """The time of the first picture the decoder gives from here (None when none comes within
        ``packets`` video packets: the seek landed after the last keyframe). Used by :meth:`_seek`."""
        cc = self.stream.codec_context
        try:
            for n, packet in enumerate(self.container.demux(self.stream)):
                for f in packet.decode():
                    ticks = f.pts if f.pts is not None else f.dts
                    return Fraction(ticks) * self.info.time_base if ticks is not None else None
                if n >= packets:
                    break
        except av.error.FFmpegError:
            pass
        finally:
            cc.flush_buffers()
        return None

    def frames(self, on_packet: Callable | None = None, stop=None) -> Iterator[DecodedFrame]:
        """See :class:`Source`; packets of ``copy_streams`` go to ``on_packet`` as they are demuxed.

        Times come from :class:`~filmrt.pipeline.time.timestamps.FrameClock` (FFmpeg's best-effort
        timestamps, swapped labels put in display order): every decoded picture is kept."""
        vs = self.stream
        self._seek()
        self._spec: ColourSpec | None = None
        self._index = 0
        self._last_filtered: Fraction | None = None
        c0, tb = self.container.start_time, self.info.time_base
        v0 = Fraction(vs.start_time) * tb if vs.start_time is not None else None
        self._floor = None if self.ss or c0 is None else lead_floor(Fraction(c0, 1_000_000), v0, self.start)
        clock: FrameClock = FrameClock(tb, 1 / self.info.rate if self.info.rate else None,
                                       start=self.range_start, lead=self._floor is not None)
        copy_ids = {s.index for s in self.copy_streams}
        self._gate: RangeGate = RangeGate(self.range_start if self.ss else None, None)
        self._resets = ResetClock()  # the copied streams' clock resets (FrameClock rule 6)
        copy_done: set[int] = set()
        video_done = False
        # the copied sound an MP4/MOV edit list hides (a `-c copy` cut) is left out, its priming kept
        demux = HiddenLead().filter(self.container.demux([vs, *self.copy_streams]))
        while True:
            if stop is not None and stop.is_set():
                return
            try:
                packet = next(demux)
            except StopIteration:
                break
            except av.error.FFmpegError as e:
                self.problems.append(f"input unreadable after {self.frames_decoded} frames ({av_error_message(e)})")
                break
            if packet.stream.index in copy_ids:
                self._copy_packet(packet, on_packet, copy_done)
                if video_done and copy_done >= copy_ids:
                    break
                continue
            if video_done:
                if copy_done >= copy_ids:
                    break
                continue
            try:
                decoded = packet.decode()
            except av.error.FFmpegError:
                self.decode_errors += 1
                continue
            self.corrupt_frames += sum(1 for f in decoded if getattr(f, "is_corrupt", False))
            for g, ts in self._timed(decoded, clock, end=packet.size == 0):
                out = self._deliver(g, ts)
                if out is _PAST_END:
                    video_done = True
                    break
                if out is not None:
                    yield out
            if video_done and (not copy_ids or copy_done >= copy_ids):
                break
        if not video_done and self.frame_filter is None:  # the frames still in the clock's window
            for g, ts in clock.flush():
                out = self._deliver(g, ts)
                if out is _PAST_END:
                    break
                if out is not None:
                    yield out
        self.timestamps_repaired, self.timestamps_overlapped = clock.repaired, clock.overlapped
        self.timestamps_rebased, self.clock_resets = clock.rebased, clock.resets
        self._report_problems()

    def _timed(self, decoded, clock: FrameClock, end: bool):
        """(frame, time) in display order: through ``frame_filter`` (deinterlace / pulldown removal,
        pipeline.fieldops: its frames carry their own time base) or the best-effort ``clock``."""
        if self.frame_filter is not None:
            return [(g, self._filtered_time(g)) for g in self.frame_filter(decoded, end=end)]
        if self.input.forced_rate:  # --input-fps over a raw stream: its own stamps follow the bitstream's rate
            return [pair for f in decoded for pair in clock.push(f, None, None, None)]
        return [pair for f in decoded for pair in clock.push(f, f.pts, f.dts, f.duration)]

    def _deliver(self, f, ts: Fraction):
        """The DecodedFrame of PyAV frame ``f`` shown at ``ts``; None before --ss, _PAST_END after --t."""
        tb = self.info.time_base
        snap = min(tb, Fraction(1, 1000))
        if self._index == 0 and self._floor is not None and self._floor - snap <= ts < self.range_start:
            self.start = self.range_start = ts  # the pictures start before the first timestamp
        if ts < self.range_start - snap:
            return None  # before --ss (decoded from the previous keyframe)
        if self.range_end is not None and ts >= self.range_end - snap:
            return _PAST_END
        if (f.width, f.height) != self.coded_size:
            f = self._first_size(f)
        if self._index == 0:
            self._orient(f)
        if self.turner is not None:  # after deinterlacing (frame_filter), before any conversion
            f = self.turner(f)
        picture = Picture.of_frame(f, self._stream_tags.get("color_range")) if self.request.keep_picture else None
        planes = None
        if self.request.planes:  # RGB only for an RGB format (a model tier converts the planes itself)
            pic, self._spec = frame_planes(f, self._spec, self.device, self._stream_tags)
            rgb, planes = (pic, None) if isinstance(pic, torch.Tensor) else (None, pic)
        else:
            rgb, self._spec = frame_to_rgb(f, self._spec, self.device, self._stream_tags)
        read_side_data(f, self.info.side)
        if self.captions is not None:
            self.captions.push(ts - self.range_start, a53_of(f))
        alpha = alpha_of(f) if self.keep_alpha else None
        if alpha is not None:  # RGBA: the inference stage moves alpha with the picture
            rgb = torch.cat([rgb, alpha.to(self.device)])
        if self._index == 0:
            self.info.colour = self._spec
        ftb = Fraction(f.time_base) if f.time_base else tb  # a filtered frame has its own
        dur = Fraction(f.duration) * ftb if getattr(f, "duration", 0) and not self.input.forced_rate else None
        self.frames_decoded += 1
        self.last_end = ts + (dur or (1 / self.info.rate if self.info.rate else 0))
        thumb = make_thumb(rgb[:3]) if planes is None else planes.thumb()
        out = DecodedFrame(self._index, ts, rgb, thumb, dur, picture, planes)
        self._index += 1
        return out

    def _orient(self, f) -> None:
        """At the first picture: its display matrix, written again by the muxer, or (the output
        has no place for it, :attr:`DecodeRequest.upright`) turned into every picture."""
        dm = display_matrix_of(f)
        if dm is None or self.turner is not None:
            return
        if self.request.upright and self._turn(dm, said=False):
            return
        self.info.display_matrix = dm
        self.info.rotation = int(getattr(f, "rotation", 0) or 0)

    def _turn(self, matrix: list[int], said: bool) -> bool:
        """Turn every picture as ``matrix`` asks (:func:`~filmrt.pipeline.io.orient.turn_of`, as
        ffmpeg's autorotate); ``info`` then describes the turned picture (width and height swapped on
        a quarter turn, the SAR its reciprocal, no display matrix). False when the matrix asks for
        no turn that can be made (not a quarter turn: left as coded, said)."""
        turn = turn_of(matrix)
        if turn is None:
            return False
        if not said:
            self.notes.append(turn_note(turn, self.request.upright))
        if not turn.applicable:
            return False
        self.turner = FrameTurner(turn)
        up = upright_info(self.info, turn)
        for name in ("width", "height", "sar", "display_matrix", "rotation", "turned"):  # in place: read by all
            setattr(self.info, name, getattr(up, name))
        return True

    def _first_size(self, f):
        """A picture whose size changed mid-stream (a legal new sequence header: an ad break, a
        spliced feed), scaled to the first size: the output has one size, as ffmpeg's default
        scaling to the first frame's size gives. Said once in :attr:`notes`."""
        if not self.resized:
            self.notes.append(f"the picture size changes mid-stream (to {f.width}x{f.height} at "
                              f"{self.frames_decoded} frames): scaled to the first size, "
                              f"{self.coded_size[0]}x{self.coded_size[1]}")
        self.resized += 1
        return f.reformat(width=self.coded_size[0], height=self.coded_size[1])

    def _copy_packet(self, packet, on_packet: Callable | None, copy_done: set[int]) -> None:
        """Hand a packet of a copied stream on, inside the range; note the streams past its end."""
        if is_cover(packet.stream) and packet.size:  # the picture itself, once, whatever the range
            copy_done.add(packet.stream.index)
            if on_packet is not None:
                on_packet(packet)
            return
        if packet.dts is None and packet.pts is None:
            return  # flush packet
        if note := self._resets.move(packet):  # moved as the clock moves the pictures, before the range:
            self.notes.append(note)            # --ss/--t cut sound and pictures alike
        pts = packet.pts if packet.pts is not None else packet.dts
        pt = pts * (tb := Fraction(packet.time_base))
        if self.range_end is not None and pt >= self.range_end:
            copy_done.add(packet.stream.index)
            return
        for p, start, end in self._gate.push(packet, packet.stream.index, packet.stream.type, packet.is_keyframe,
                                             pt, (packet.duration or 0) * tb, cuttable(packet.stream)):
            if on_packet is not None:
                on_packet(place_packet(p, start, end))

    def _filtered_time(self, f) -> Fraction:
        """Time of a frame out of ``frame_filter`` (display order already, the filter's own time base);
        a frame without one follows the previous frame."""
        if f.pts is not None:
            ts = Fraction(f.pts) * (Fraction(f.time_base) if f.time_base else self.info.time_base)
        elif self._last_filtered is not None:
            ts = self._last_filtered + (1 / self.info.rate if self.info.rate else Fraction(1, 25))
        else:
            ts = self.range_start
        self._last_filtered = ts
        return ts

    def _report_problems(self) -> None:
        """Say what was damaged. Only real damage counts: packets that fail to decode, frames the
        decoder flags corrupt, pictures that stop well before the end the headers announce. A
        variable-frame-rate stream (fewer frames than duration x rate) or labels that needed
        reordering are valid and not reported."""
        if self.decode_errors:
            self.problems.append(f"{self.decode_errors} video packet(s) could not be decoded and were skipped")
        if self.corrupt_frames:
            self.problems.append(f"{self.corrupt_frames} decoded frame(s) flagged corrupt by the decoder")
        if self.problems or self.range_end is not None or self.last_end is None:
            return
        end, slack = self.input.header_end_and_slack()
        if end is not None and self.last_end < end - slack:
            self.problems.append(
                f"stream ends early: pictures stop at {float(self.last_end - self.start):.2f} s of the "
                f"{float(end - self.start):.2f} s the headers announce (truncated or damaged)"
            )

    def close(self) -> None:
        try:
            self.container.close()
        except Exception:  # noqa: BLE001
            pass

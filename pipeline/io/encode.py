"""Encoding and muxing: RGB(A) frames -> the output video, plus the source's other streams copied.

- Video: the encoder, profile and pixel format of :class:`~filmrt.pipeline.io.formats.OutputFormat`
  (by default the source's own family, chroma format and bit depth: ProRes, DNxHR, H.264, HEVC,
  FFV1, QuickTime RLE, PNG), CRF rate control for x264/x265, ``--bitrate`` otherwise.
  ``h264_nvenc`` / ``hevc_nvenc`` only when this PyAV's FFmpeg has them *and* an NVIDIA GPU is
  present; otherwise a clear error. RGB -> Y'CbCr uses the source's own matrix and range
  (:mod:`filmrt.pipeline.io.colour`, :mod:`filmrt.pipeline.io.pixels`), and the stream is tagged with
  them plus the source's primaries/transfer (PQ, HLG ...), so copies round-trip; HDR10 static
  metadata goes into libx265's settings (:mod:`filmrt.pipeline.io.hdr`).
- Timing: the output time base is exactly ``1 / fps_out``; frame ``k`` has ``pts = offset + k``
  where ``offset`` places the first output frame where the first input frame was.
- Other streams (audio, subtitles, data) are **remuxed**, never re-encoded: packets keep their
  timestamps, shifted by the same amount as the video (the start of the input, or ``--ss``).
  Which streams go in is decided before decoding, in the
  :class:`~filmrt.pipeline.io.target.OutputTarget` the muxer is handed (container, muxer options,
  encoder, every input stream's fate): the muxer carries it out and decides nothing again.
- Metadata: container tags, per-stream tags (language, title, handler), the video's display
  matrix (rotation; where the container keeps one: elsewhere the decoder has turned the pictures,
  :mod:`filmrt.pipeline.io.orient`) and its sample aspect ratio (anamorphic pixels: in the
  bitstream and in the container) are copied.
- Never a half-written OUT: everything goes to a hidden temp file beside OUT
  (:func:`filmrt.fileio.atomic_path`: ``.NAME.filmrt-<pid>-XXXX.ext``, the replaced file's mode kept, a
  symlink's target replaced) that is renamed over OUT only after the trailer is written; any error
  (or Ctrl-C) deletes it. ``-`` (stdout), a FIFO or a device is written directly (a stream cannot
  be taken back; mp4/mov are written fragmented).
"""

from __future__ import annotations

import errno
import logging
import math
import os
import sys
from fractions import Fraction
from pathlib import Path
from typing import TYPE_CHECKING

import av
import torch
from av.bitstream import BitStreamFilterContext

from filmrt.errors import FilmrtError
from filmrt.fileio import atomic_path, is_stream_target
from filmrt.pipeline.io.captions import CAPTION_CODECS, with_sei
from filmrt.pipeline.io.colour import SPC_RGB, ColourSpec
from filmrt.pipeline.io.decode import av_error_message
from filmrt.pipeline.io.formats import CODECS, OutputFormat
from filmrt.pipeline.io.hdr import SideInfo, x265_hdr_params
from filmrt.pipeline.io.pixels import planes_to_frame, rgb_to_frame
from filmrt.pipeline.io.planes import Planes
from filmrt.pipeline.io.source import VideoInfo
from filmrt.pipeline.io.streams import NO_TIMES, PS_FORMATS, add_copy, codes_rate, stream_codec
from filmrt.pipeline.time.audiostretch import reencoder
from filmrt.pipeline.time.cadence.fieldops import WEAVE, FilterChain
from filmrt.pipeline.time.timecode import GOP_ENCODERS
from filmrt.pipeline.time.timestamps import OVERLAP_MAX, reset_offset
from filmrt.rates import format_rate

if TYPE_CHECKING:
    from filmrt.pipeline.io.target import OutputTarget

logger = logging.getLogger(__name__)

DEFAULT_CRF = 18
DEFAULT_PRESET = "medium"


def gpu_present() -> bool:
    if torch.cuda.is_available():
        return True
    return os.path.exists("/dev/nvidia0") or os.path.exists("/proc/driver/nvidia/version")


def check_codec(name: str) -> None:
    """Raise a one-line FilmrtError unless encoder ``name`` can run here (``auto``: decided later)."""
    if name == "auto":
        return
    if name not in CODECS:
        raise FilmrtError(f"unknown codec {name!r}: use {', '.join(CODECS)}")
    try:
        av.codec.Codec(name, "w")
    except Exception:  # noqa: BLE001 - UnknownCodecError and friends
        if "nvenc" in name:
            raise FilmrtError(
                f"{name}: this PyAV's FFmpeg has no NVENC encoder (the PyPI wheels ship without it); "
                "use --codec libx264/libx265, or install PyAV built against an FFmpeg with NVENC"
            ) from None
        raise FilmrtError(f"{name}: encoder not available in this PyAV build") from None
    if "nvenc" in name and not gpu_present():
        raise FilmrtError(f"{name} needs an NVIDIA GPU with a hardware encoder; none found (use libx264/libx265)")


def guess_format(dst: str, fmt: str | None) -> str | None:
    if fmt:
        return fmt
    if dst == "-":
        raise FilmrtError("writing to stdout needs --format (e.g. --format matroska, mpegts or mp4)")
    if not Path(dst).suffix:
        raise FilmrtError(f"cannot tell the container from {dst!r} (no extension): add one or pass --format")
    return None


def output_parent(dst: str) -> Path:
    """The folder OUT is written into; one-line error when OUT is a directory or the folder is missing."""
    out = Path(dst)
    parent = out.parent if str(out.parent) else Path(".")
    if out.is_dir():
        raise FilmrtError(f"output {dst} is a directory")
    if not parent.is_dir():
        raise FilmrtError(f"cannot write {dst}: directory {parent} does not exist")
    return parent


def check_output(dst: str, fmt: str | None, codec: str) -> None:
    """Fail early (before any decoding) when OUT cannot be written or the codec cannot run."""
    check_codec(codec)
    guess_format(dst, fmt)
    if dst == "-" or is_stream_target(dst):  # a FIFO or a device (e.g. /dev/null) is streamed into
        return
    parent = output_parent(dst)
    if not os.access(parent, os.W_OK):
        raise FilmrtError(f"cannot write {dst}: directory {parent} is not writable")


def check_encoder(output: OutputFormat, preset: str, width: int, height: int, rate: Fraction,
                  interlace: str = "off") -> None:
    """Open the encoder once, before any decoding, with the settings the Muxer will give it: a bad
    ``--preset`` or ``--profile``, or DNxHD without ``--bitrate``, is refused here in one line
    instead of failing with "Invalid argument" after decoding started. NVENC is checked when it
    starts (it needs the GPU)."""
    if interlace != "off" and height % 4:
        raise FilmrtError(f"--interlace needs a height divisible by 4 (two 4:2:0 fields), not {height}")
    if "nvenc" in output.codec:
        return
    sy, sx = output.layout.sub
    cc = av.CodecContext.create(output.codec, "w")
    cc.width, cc.height, cc.pix_fmt = max(sx, width - width % sx), max(sy, height - height % sy), output.pix_fmt
    cc.time_base, cc.framerate = 1 / Fraction(rate), Fraction(rate)
    if output.bitrate:
        cc.bit_rate = int(output.bitrate)
    cc.options = Muxer._encoder_options(output, None, preset)
    try:
        cc.open()
    except av.error.FFmpegError as e:
        if output.codec == "mpeg2video" and not codes_rate(output.codec, Fraction(rate)):
            raise FilmrtError(f"MPEG-2 cannot code {format_rate(Fraction(rate))} fps (its rates: 23.976, 24, 25, 29.97, "
                              "30, 50, 59.94, 60, and those times n/d with n <= 4, d <= 32): pick another --fps "
                              "or --codec") from None
        said = ", ".join(x for x in (f"--preset {preset}" if output.codec in ("libx264", "libx265") else "",
                                     f"--profile {output.profile}" if output.profile else "",
                                     "" if output.bitrate or output.codec != "dnxhd" else "no --bitrate") if x)
        raise FilmrtError(f"{output.codec} refuses these settings ({said or 'its defaults'}): "
                          f"{av_error_message(e)}") from None


#: FFmpeg's mov muxer under its names (MP4, MOV and their kin)
MOV_MUXERS = ("mp4", "mov", "ipod", "ismv", "3gp", "3g2", "psp", "f4v")


#: codecs whose decoder set-up lives in the container header (extradata) elsewhere, copied into a
#: container that has no such header: the set-up is put in front of every keyframe (dump_extra)
IN_BAND_HEADERS = {"mpegts": ("mpeg4",), "mpeg": ("mpeg4",)}

class Muxer:
    """Owns the output container and carries out an :class:`OutputTarget` (its container, muxer
    options, encoder and copied streams). Not thread-safe: one thread (the encoder's) uses it."""

    def __init__(
        self,
        target: OutputTarget,
        *,
        info: VideoInfo,
        fps_out: Fraction,
        shift: Fraction = Fraction(0),
        first_frame: int = 0,
        side: SideInfo | None = None,
        preset: str = DEFAULT_PRESET,
        threads: int = 0,
        container_metadata: dict | None = None,
        warn=None,
        interlace: str | None = None,
        timecode: str | None = None,
        encoder_options: dict | None = None,
        overwrite: bool = True,
        audio_factor: Fraction | None = None,
    ):
        output = target.video
        check_codec(output.codec)
        self.target = target
        self.output = output
        self.codec = output.codec
        self.dst = dst = target.path
        #: what the muxer had to change (odd sizes), said through the caller's callback (else logged)
        self.warn = warn or logger.warning
        fmt = target.format
        self.fps_out = Fraction(fps_out)
        #: --interlace tff|bff: frames come at fps_out and are woven into fields (pipeline.fieldops)
        self.interlace = interlace
        self.timecode = timecode
        self.weaver: FilterChain | None = None
        self.shift = Fraction(shift)
        #: the slow-motion factor of re-encoded audio (1: its own speed); None: the caller feeds no
        #: re-encoded audio and none is added (``filmrt live``)
        self.audio_factor = audio_factor
        #: input stream index -> its re-encoder (:mod:`filmrt.pipeline.time.audiostretch`), made
        #: with the output streams so that they keep the input's order
        self.reencoded: dict = {}
        #: encoder options on top of the chosen ones (``filmrt live``: x264's zerolatency tune, GOP)
        self.encoder_options = dict(encoder_options or {})
        #: the temp file's atomic_path context while OUT is a regular file (None: streamed)
        self._atomic = None
        options = dict(target.options)
        if target.streamed:  # stdout, a FIFO, a device: streamed, cannot be taken back
            sink = sys.stdout.buffer if dst == "-" else dst
        else:
            output_parent(dst)  # one-line errors for a directory or a missing folder
            # without -y the rename refuses an OUT that another run wrote meanwhile (fileio)
            self._atomic = atomic_path(dst, replace=overwrite)
            sink = str(self._atomic.__enter__())
        #: the file being written (the temp file beside OUT), None when streamed
        self.path = None if target.streamed else sink
        if any(k.startswith("filmrt_") for k in container_metadata or {}) and fmt in MOV_MUXERS:
            # MP4/MOV keep free-form tags (filmrt batch's mark) only as "mdta" keys
            options["movflags"] = "+".join(filter(None, (options.get("movflags"), "use_metadata_tags")))
        if fmt in NO_TIMES:
            # no timestamps to shift there: libavformat would move every stream later by the audio
            # encoder's priming (AAC: -1024 samples), which rounds up to a whole video frame and makes
            # the AVI muxer insert an empty picture after the first one (the rest one frame late)
            options["avoid_negative_ts"] = "disabled"
        try:
            self.container = av.open(sink, "w", format=fmt, options=options)
        except ValueError as e:
            self._discard_tmp()
            raise FilmrtError(f"cannot write {dst}: {e} (pass --format)") from None
        except av.error.FFmpegError as e:
            self._discard_tmp()
            raise FilmrtError(f"cannot write {dst}: {av_error_message(e)}") from None
        try:
            self._setup(info, target.copy, output, side, preset, container_metadata or {}, first_frame, threads)
        except BaseException:
            self.abort()
            raise

    # ------------------------------------------------------------------ setup
    def _setup(self, info, copy_streams, output, side, preset, container_metadata, first_frame, threads=0) -> None:
        c = self.container
        for k, v in container_metadata.items():
            if k.lower() not in ("encoder", "major_brand", "minor_version", "compatible_brands"):
                c.metadata[k] = v
        self.layout = layout = output.layout
        sy, sx = layout.sub
        self.width = info.width - info.width % sx
        self.height = info.height - info.height % sy
        if (self.width, self.height) != (info.width, info.height):
            self.warn(
                f"{info.width}x{info.height} is odd-sized; {output.pix_fmt} needs sizes in steps of {sx}x{sy}: "
                f"writing {self.width}x{self.height} (last column/row dropped)"
            )
        if self.width < 2 or self.height < 2:
            raise FilmrtError(f"picture too small to encode: {info.width}x{info.height}")
        spec: ColourSpec = info.colour
        pix = output.pix_fmt
        self.spec = spec.with_bits(layout.bits)
        self.pix_fmt = pix
        rate = self.fps_out / 2 if self.interlace else self.fps_out  # interlaced: two fields a frame
        vs = c.add_stream(output.codec, rate=rate)
        vs.width, vs.height, vs.pix_fmt = self.width, self.height, pix
        vs.time_base = 1 / rate
        cc = vs.codec_context
        cc.time_base = 1 / rate
        cc.framerate = rate
        if output.codec == "libx265" and c.format.name in ("mov", "mp4"):
            cc.codec_tag = "hvc1"  # QuickTime, iOS and Safari play 'hvc1', not FFmpeg's default 'hev1'
        self.colorspace = SPC_RGB if layout.rgb else self.spec.colorspace
        cc.colorspace = self.colorspace
        cc.color_range = self.spec.color_range
        cc.color_primaries = self.spec.primaries
        cc.color_trc = self.spec.trc
        opts = self._encoder_options(output, side, preset)
        if output.codec == "mpeg2video":
            opts.update(_mpeg2_rate(output, rate, self.width * self.height))
        if c.format.name in NO_TIMES:  # AVI, elementary streams: no B-frames, whose reorder delay
            opts["bf"] = "0"  # would start the pictures late there (streams.NO_TIMES)
        elif (c.format.name == "mxf" or c.format.name in PS_FORMATS) and output.codec in ("libx264", "libx265"):
            # FFmpeg's MXF muxer writes no reordering for H.264/HEVC: with B-frames, readers get
            # swapped picture times (0, 2, 1, 4, 3 ...; FFmpeg 6.0 shows a gap). MPEG-2 is indexed right.
            # MPEG-PS stamps only the first picture of each PES packet (57 of 100 came without a time):
            # with B-frames nothing says when the others show (ffprobe: no time for 19; filmrt's own
            # decoder read 2.06 s of 2.00: exit 4); without them each follows the one before (FFmpeg
            # and filmrt read every picture in place)
            opts["bf"] = "0"
        opts.update(self.encoder_options)
        if self.interlace:
            self._setup_interlaced(cc, opts, pix)
        if self.timecode and output.codec in GOP_ENCODERS:  # in every GOP header, whatever the container
            opts["gop_timecode"] = self.timecode
        cc.options = opts
        if output.bitrate:
            cc.bit_rate = int(output.bitrate)
        if self.timecode:
            vs.metadata["timecode"] = self.timecode  # mp4/mov: a tmcd track; matroska: the tag
            for key in [k for k in c.metadata if k.lower() == "timecode"]:
                del c.metadata[key]  # the source's label, at the source's rate (any case: TIMECODE)
        if threads:  # the thread plan's count (filmrt.pipeline.threads); 0 = the encoder's own choice
            cc.thread_count = threads
        for key in ("language", "title", "handler_name"):
            if info.metadata.get(key):
                vs.metadata[key] = info.metadata[key]
        #: the display matrix written (None: the source has none, or OUT's container keeps none, where
        #: the decoder turned the pictures upright instead: DecodeRequest.upright)
        self.display_matrix = info.display_matrix if self.target.holds_matrix else None
        if self.display_matrix is not None:
            vs.set_display_matrix(self.display_matrix)
        if info.sar:  # anamorphic pixels: the encoder's (bitstream) and the stream's (MOV pasp, mkv display size)
            cc.sample_aspect_ratio = vs.sample_aspect_ratio = info.sar
        self.vstream = vs
        self.frame_time_base = 1 / self.fps_out
        #: the first picture's number on the output grid (k / fps_out from ``shift``: output_origin)
        self.frame_offset = first_frame
        self.encoded = 0  # frames handed to the encoder (woven frames when interlaced)
        # streams copied as they are: the target chose them (filmrt.pipeline.io.target.plan_target)
        self.copy_map = {}
        self._bsf: dict[int, BitStreamFilterContext] = {}  # by input stream index
        recode = self.target.recode if self.audio_factor is not None else ()
        for s in sorted([*copy_streams, *recode], key=lambda s: s.index):
            if s in recode:
                self.reencoded[s.index] = reencoder(s, c, self.shift, self.audio_factor)
                continue
            try:
                o = add_copy(c, s)
            except (ValueError, av.error.FFmpegError) as e:
                raise FilmrtError(f"stream #{s.index} {s.type} {stream_codec(s)} cannot be copied into {self.dst} "
                                  f"({av_error_message(e)}): pass --drop-stream {s.index}") from None
            for k, v in s.metadata.items():
                o.metadata[k] = v
            self.copy_map[s.index] = o
            if stream_codec(s) in IN_BAND_HEADERS.get(self.target.format, ()) and s.codec_context.extradata:
                # the decoder's set-up (MPEG-4 part 2's VOL header) travels in the header of MP4/MKV/AVI;
                # these containers have none: put it in front of every keyframe, as it is in a TS
                self._bsf[s.index] = BitStreamFilterContext("dump_extra=freq=keyframe", s)
        self.frames_written = 0
        #: FFmpeg's AVI muxer fills a gap in the picture positions with empty chunks only after its
        #: first chunk: a video that starts late (audio first, or the packet straddling --ss) would
        #: get its first picture at 0 and the gap after it (read back 0, 2, 3 ...; H.264's reorder
        #: delay hid it, FFV1 showed it). An empty chunk at 0 makes the muxer write the gap in front
        self._lead_gap = c.format.name == "avi" and self.frame_offset > 0
        self.packets_copied = 0
        #: per output stream: the last copied DTS, and how many copied packets had theirs moved after it
        self._copied_dts: dict[int, int] = {}
        self._dts_moved: dict[int, int] = {}
        #: per output stream: ticks added to every copied packet after a clock reset
        self._rebase: dict[int, int] = {}
        #: caption SEI NAL units by the pts of the frame they belong to (until its packet is muxed)
        self._captions: dict[int, list[bytes]] = {}

    @staticmethod
    def _encoder_options(output: OutputFormat, side: SideInfo | None, preset: str) -> dict:
        """The encoder's private options: rate control, preset, profile, HDR10 metadata (x265)."""
        codec, opts = output.codec, {}
        if codec in ("libx264", "libx265"):
            opts = {"preset": preset} if output.bitrate else {"crf": str(output.crf), "preset": preset}
            if codec == "libx265":
                opts["x265-params"] = ":".join(["log-level=error", *x265_hdr_params(side)])
        elif codec == "libvpx-vp9":  # constant quality; the x264 preset names map to VP9's speed
            fast = preset in ("ultrafast", "superfast", "veryfast")
            opts = {"crf": str(output.crf), "b": "0", "row-mt": "1", "cpu-used": "8" if fast else "4"}
        elif "nvenc" in codec:
            opts = {"cq": str(output.crf), "preset": preset, "rc": "vbr"}
        if output.profile:
            opts["profile"] = output.profile
        return opts

    # ------------------------------------------------------------------ writing
    def _mux(self, packet) -> None:
        """The one place packets are written (tests patch it to simulate a full disk)."""
        self.container.mux(packet)

    def _io(self, fn, *args):
        try:
            return fn(*args)
        except OSError as e:
            if getattr(e, "errno", None) == errno.ENOSPC:
                raise FilmrtError(f"disk full while writing {self.dst}") from None
            raise FilmrtError(f"cannot write {self.dst}: {e.strerror or av_error_message(e)}") from None
        except av.error.FFmpegError as e:
            raise FilmrtError(f"writing {self.dst} failed: {av_error_message(e)}") from None

    @property
    def carries_captions(self) -> bool:
        return self.codec in CAPTION_CODECS

    def _mux_video(self, pkt) -> None:
        """Mux an encoded packet, with the caption SEI NALs of its frame in front (if any)."""
        if self._lead_gap:
            self._lead_gap = False
            if pkt.dts:
                gap = av.Packet(b"")
                gap.pts, gap.dts, gap.time_base, gap.stream = 0, 0, pkt.time_base, pkt.stream
                self._io(self._mux, gap)
        nals = self._captions.pop(pkt.pts, None) if pkt.pts is not None else None
        if nals:
            out = av.Packet(with_sei(bytes(pkt), nals))
            out.pts, out.dts, out.time_base, out.is_keyframe = pkt.pts, pkt.dts, pkt.time_base, pkt.is_keyframe
            out.stream = pkt.stream
            pkt = out
        self._io(self._mux, pkt)

    def write_frame(self, rgb: torch.Tensor, captions: list[bytes] | None = None) -> None:
        """Encode the next output frame: (3, H, W) float RGB (or (4, H, W) RGBA) in [0, 1];
        ``captions``: SEI NAL units to put in front of its picture (:mod:`filmrt.pipeline.io.captions`)."""
        rgb = rgb[:, : self.height, : self.width]
        self._write(rgb_to_frame(rgb, self.layout, self.spec), captions)

    def write_planes(self, planes: Planes, captions: list[bytes] | None = None) -> None:
        """Encode the next output frame from Y'CbCr planes (:mod:`filmrt.pipeline.io.planes`): as
        they are when they are the encoder's own format, matrix and range, else through RGB."""
        frame = planes_to_frame(planes, self.layout, self.spec, self.width, self.height)
        if frame is None:
            self.write_frame(planes.to_rgb(), captions)
        else:
            self._write(frame, captions)

    def _write(self, frame, captions: list[bytes] | None) -> None:
        frame.colorspace = self.colorspace
        frame.color_range = self.spec.color_range
        frame.pts = self.frame_offset + self.frames_written
        if captions and self.carries_captions:
            self._captions[frame.pts] = captions
        frame.time_base = self.frame_time_base  # the codec's (the muxer may change the stream's)
        if self.weaver is not None:
            for woven in self.weaver.push(frame):
                self._encode(woven)
        else:
            self._encode(frame)
        self.frames_written += 1

    def _setup_interlaced(self, cc, opts: dict, pix: str) -> None:
        """Interlaced coding, field order in the stream, and the weaving graph (fieldops.WEAVE)."""
        if self.height % 4:
            raise FilmrtError(f"--interlace needs a height divisible by 4 (two 4:2:0 fields), not {self.height}")
        cc.field_order = 2 if self.interlace == "tff" else 3  # AV_FIELD_TT / AV_FIELD_BB (coded order)
        if self.codec == "libx264":
            # interlaced (MBAFF) coding, and the field order said to x264 itself: from the frames'
            # flags alone it wrote bottom-first pictures with top-first picture order counts
            # (read back as top first from MP4/MOV/TS)
            opts["flags"] = "+ildct+ilme"
            opts["x264-params"] = ":".join(filter(None, [opts.get("x264-params"), f"{self.interlace}=1"]))
        elif self.codec == "libx265":
            opts["x265-params"] = opts.get("x265-params", "") + ":interlace=" + self.interlace
        else:
            opts["flags"] = opts.get("flags", "") + "+ildct+ilme"
        self.weaver = FilterChain(WEAVE[self.interlace], width=self.width, height=self.height,
                                  time_base=1 / self.fps_out, rate=self.fps_out, fmt=pix)

    def _encode(self, frame) -> None:
        if self.weaver is not None:
            frame.pts = round(self.frame_offset / 2) + self.encoded  # one woven frame per two fields
            frame.time_base = 2 / self.fps_out
        self.encoded += 1
        if self.encoded == 1 and "nvenc" in self.codec:
            try:
                packets = self.vstream.encode(frame)
            except av.error.FFmpegError as e:
                raise FilmrtError(
                    f"{self.codec} could not start ({av_error_message(e)}): this GPU or driver has no "
                    "NVENC encoder (H100/H200 have none); use --codec libx264/libx265"
                ) from None
        else:
            packets = self._io(self.vstream.encode, frame)
        for pkt in packets:
            self._mux_video(pkt)

    def mux_encoded(self, packet) -> None:
        """Write a packet of a stream added to :attr:`container` by the caller (re-encoded audio)."""
        self._io(self._mux, packet)

    def video_time(self) -> Fraction:
        """Output time (s) of the next video frame."""
        return (self.frame_offset + self.frames_written) / self.fps_out

    def write_packet(self, packet, index: int | None = None) -> None:
        """Copy one packet of a passthrough stream (shifted by ``shift``); ``index``: its input
        stream's, when its input may be closed already (live: read when it was demuxed)."""
        index = packet.stream.index if index is None else index
        out = self.copy_map.get(index)
        if out is None:
            return
        bsf = self._bsf.get(index)
        if bsf is not None and packet.size:  # dump_extra holds nothing back: one packet out per packet in
            for filtered in bsf.filter(packet):
                self._copy(filtered, out)
            return
        self._copy(packet, out)

    def _copy(self, packet, out) -> None:
        tb = Fraction(packet.time_base)
        d = round(self.shift / tb) if self.shift else 0
        if packet.pts is not None:
            packet.pts -= d
        if packet.dts is not None:
            packet.dts -= d
        last = self._copied_dts.get(out.index)
        rebase = self._rebase.get(out.index, 0)
        new = reset_offset(packet.dts, last, rebase, max(packet.duration or 1, 1), OVERLAP_MAX / tb)
        if new != rebase:
            # a clock reset (further back than a splice's overlap): the video places the new part's
            # pictures after the old ones (FrameClock rule 6); the copied stream's new part follows its
            # own old part the same way, instead of being squashed onto one time. (convert's decoder
            # moves them already, before --ss/--t; this is for packets handed to the muxer as they are.)
            rebase = new
            self._rebase[out.index] = rebase
            self.warn(f"stream #{out.index}: the copied packets' clock goes back {float((last - packet.dts) * tb):.3g} s "
                      "(a reset): the new part follows the old one, as the pictures do")
        if rebase:
            packet.dts = packet.dts + rebase if packet.dts is not None else None
            packet.pts = packet.pts + rebase if packet.pts is not None else None
        if packet.dts is not None and last is not None and packet.dts < last and (last - packet.dts) * tb <= OVERLAP_MAX:
            # a splice whose second part starts before the first ended: its times are right, and the
            # video drops its overlapping pictures (FrameClock rule 5): so do the copied streams,
            # or everything after the splice would play late
            if not self._dts_moved.get(out.index):
                self.warn(f"stream #{out.index}: copied packets go back over the previous ones ({packet.dts} after "
                          f"{last}, a splice?): the overlapping packets are dropped, the timeline kept")
            self._dts_moved[out.index] = self._dts_moved.get(out.index, 0) + 1
            return
        if packet.dts is not None and last is not None and packet.dts <= last:
            # a repeated DTS (two subtitle events at one time) or a clock reset: the muxer refuses a
            # DTS that does not increase. ffmpeg's habit: move it to just after the previous one, by
            # one tick of the output's time base when that is coarser (90 kHz TS -> 48 kHz MP4 audio:
            # one input tick rounds back onto the previous DTS, and the muxer fails)
            step = max(1, math.ceil(Fraction(out.time_base) / tb)) if out.time_base else 1
            if not self._dts_moved.get(out.index):
                self.warn(f"stream #{out.index}: a copied packet's DTS does not increase ({packet.dts} after "
                          f"{last}, a splice?): moved to {last + step}")
            self._dts_moved[out.index] = self._dts_moved.get(out.index, 0) + 1
            if packet.pts is not None and packet.pts >= packet.dts:
                packet.pts = max(packet.pts, last + step)
            packet.dts = last + step
        if packet.dts is not None:
            self._copied_dts[out.index] = packet.dts
        packet.stream = out
        self._io(self._mux, packet)
        self.packets_copied += 1

    # ------------------------------------------------------------------ end
    def finish(self, check=None) -> None:
        """Flush the encoder, write the trailer, and move the temp file over OUT. ``check(path)``
        runs on the complete temp file before the rename (verification); if it raises, nothing is
        renamed (the caller's abort() removes the temp file)."""
        if self.weaver is not None:
            for woven in self.weaver.flush():  # an odd last field pair is dropped by weave
                self._encode(woven)
        for pkt in self._io(self.vstream.encode, None):
            self._mux_video(pkt)
        self._io(self.container.close)
        if check is not None and self.path is not None:
            check(self.path)
        if self._atomic is not None:
            atomic, self._atomic = self._atomic, None
            try:
                atomic.__exit__(None, None, None)  # success: the temp file is renamed over OUT
            except OSError as e:
                raise FilmrtError(f"cannot write {self.dst}: {e.strerror or e}") from None

    def _discard_tmp(self) -> None:
        if self._atomic is not None:
            atomic, self._atomic = self._atomic, None
            # leave the context as failed: atomic_path removes the temp file and renames nothing
            atomic.__exit__(_Discarded, _Discarded(), None)

    def abort(self) -> None:
        """Drop everything written so far (no OUT is created or replaced)."""
        try:
            self.container.close()
        except BaseException:  # noqa: BLE001 - closing a broken container may fail again
            pass
        self._discard_tmp()


class _Discarded(Exception):
    """The outcome handed to atomic_path when the output is dropped."""


def _mpeg2_rate(output: OutputFormat, rate: Fraction, pixels: int) -> dict:
    """MPEG-2 rate control: constant bit rate, as broadcast deliveries are (XDCAM HD422: CBR 50 Mb/s),
    with a VBV buffer within the profile's limit; a CBR rate is written into the sequence header,
    where decoders and the next probe read it. A rate far beyond what the picture can use (over 8
    bits a pixel: a tiny picture) is a ceiling instead, because the encoder cannot stuff that much
    padding into a frame ("stuffing too large"). Without a bit rate: constant quality (qscale 2,
    FF_QP2LAMBDA = 118)."""
    if not output.bitrate:
        return {"flags": "+qscale", "global_quality": str(2 * 118)}
    bits = int(output.bitrate)
    vbv_max = 47_185_920 if output.profile == "422" else 9_781_248  # 4:2:2@High, Main@High
    opts = {"maxrate": str(bits), "bufsize": str(min(bits // 2, vbv_max))}
    if bits / rate / max(1, pixels) <= 8:
        opts["minrate"] = str(bits)
    return opts

"""Encoding and muxing: RGB frames -> H.264/H.265 video, plus the source's other streams copied.

- Video: PyAV encoders, ``libx264`` (default) / ``libx265`` in ``yuv420p`` (``yuv420p10le`` when the
  source is 10-bit and the encoder takes it), CRF rate control. ``h264_nvenc`` / ``hevc_nvenc`` only
  when this PyAV's FFmpeg has them *and* an NVIDIA GPU is present; otherwise a clear error.
  RGB -> Y'CbCr uses the source's own matrix and range (:mod:`filmrt.pipeline.colour`), and the
  stream is tagged with them (plus the source's primaries/transfer), so copies round-trip.
- Timing: the output time base is exactly ``1 / fps_out``; frame ``k`` has ``pts = offset + k``
  where ``offset`` places the first output frame where the first input frame was.
- Other streams (audio, subtitles, data) are **remuxed**, never re-encoded: packets keep their
  timestamps, shifted by the same amount as the video (the start of the input, or ``--ss``).
  Streams the output container cannot hold are left out with a warning.
- Metadata: container tags, per-stream tags (language, title, handler) and the video's display
  matrix (rotation) are copied.
- Never a half-written OUT: everything goes to a hidden temp file beside OUT
  (:func:`filmrt.fileio.atomic_path`: ``.NAME.filmrt-XXXX.ext``, the replaced file's mode kept, a
  symlink's target replaced) that is renamed over OUT only after the trailer is written; any error
  (or Ctrl-C) deletes it. ``-`` (stdout), a FIFO or a device is written directly (a stream cannot
  be taken back; mp4/mov are written fragmented).
"""

from __future__ import annotations

import errno
import os
import sys
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import torch

from filmrt.errors import FilmrtError
from filmrt.fileio import atomic_path, is_stream_target
from filmrt.pipeline.colour import ColourSpec, rgb_to_yuv
from filmrt.pipeline.decode import VideoInfo, av_error_message

CODECS = ("libx264", "libx265", "h264_nvenc", "hevc_nvenc")
DEFAULT_CRF = 18
DEFAULT_PRESET = "medium"


def gpu_present() -> bool:
    if torch.cuda.is_available():
        return True
    return os.path.exists("/dev/nvidia0") or os.path.exists("/proc/driver/nvidia/version")


def check_codec(name: str) -> None:
    """Raise a one-line FilmrtError unless encoder ``name`` can run here."""
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
    if dst == "-":
        return
    parent = output_parent(dst)
    if not os.access(parent, os.W_OK):
        raise FilmrtError(f"cannot write {dst}: directory {parent} is not writable")


class Muxer:
    """Owns the output container. Not thread-safe: one thread (the encoder's) uses it."""

    def __init__(
        self,
        dst: str,
        *,
        info: VideoInfo,
        fps_out: Fraction,
        copy_streams=(),
        shift: Fraction = Fraction(0),
        video_offset: Fraction = Fraction(0),
        codec: str = "libx264",
        crf: int = DEFAULT_CRF,
        preset: str = DEFAULT_PRESET,
        threads: int = 0,
        fmt: str | None = None,
        container_metadata: dict | None = None,
        warn=None,
    ):
        check_codec(codec)
        self.codec = codec
        self.dst = dst
        self.warn = warn or (lambda msg: print(f"filmrt: warning: {msg}", file=sys.stderr))
        fmt = guess_format(dst, fmt)
        self.fps_out = Fraction(fps_out)
        self.shift = Fraction(shift)
        #: the temp file's atomic_path context while OUT is a regular file (None: streamed)
        self._atomic = None
        options = {}
        if dst == "-" or is_stream_target(dst):  # stdout, a FIFO, a device: streamed, cannot be taken back
            target = sys.stdout.buffer if dst == "-" else dst
            if fmt in ("mp4", "mov", "ipod", "ismv") or (fmt is None and Path(dst).suffix in (".mp4", ".mov")):
                options["movflags"] = "frag_keyframe+empty_moov+default_base_moof"
        else:
            output_parent(dst)  # one-line errors for a directory or a missing folder
            self._atomic = atomic_path(dst)
            target = str(self._atomic.__enter__())
        try:
            self.container = av.open(target, "w", format=fmt, options=options)
        except ValueError as e:
            self._discard_tmp()
            raise FilmrtError(f"cannot write {dst}: {e} (pass --format)") from None
        except av.error.FFmpegError as e:
            self._discard_tmp()
            raise FilmrtError(f"cannot write {dst}: {av_error_message(e)}") from None
        try:
            self._setup(info, copy_streams, codec, crf, preset, container_metadata or {}, video_offset, threads)
        except BaseException:
            self.abort()
            raise

    # ------------------------------------------------------------------ setup
    def _setup(self, info, copy_streams, codec, crf, preset, container_metadata, video_offset, threads=0) -> None:
        c = self.container
        for k, v in container_metadata.items():
            if k.lower() not in ("encoder", "major_brand", "minor_version", "compatible_brands"):
                c.metadata[k] = v
        self.width = info.width - info.width % 2
        self.height = info.height - info.height % 2
        if (self.width, self.height) != (info.width, info.height):
            self.warn(
                f"{info.width}x{info.height} is odd-sized; 4:2:0 video needs even sizes: "
                f"writing {self.width}x{self.height} (last column/row dropped)"
            )
        if self.width < 2 or self.height < 2:
            raise FilmrtError(f"picture too small to encode: {info.width}x{info.height}")
        spec: ColourSpec = info.colour
        enc = av.codec.Codec(codec, "w")
        fmts = {f.name for f in (enc.video_formats or [])}
        pix = "yuv420p"
        if spec.bits > 8 and "nvenc" not in codec and "yuv420p10le" in fmts:
            pix = "yuv420p10le"
        self.spec = spec.with_bits(10 if pix.endswith("10le") else 8)
        self.pix_fmt = pix
        vs = c.add_stream(codec, rate=self.fps_out)
        vs.width, vs.height, vs.pix_fmt = self.width, self.height, pix
        vs.time_base = 1 / self.fps_out
        cc = vs.codec_context
        cc.time_base = 1 / self.fps_out
        cc.framerate = self.fps_out
        cc.colorspace = self.spec.colorspace
        cc.color_range = self.spec.color_range
        cc.color_primaries = self.spec.primaries
        cc.color_trc = self.spec.trc
        opts = {}
        if codec in ("libx264", "libx265"):
            opts = {"crf": str(crf), "preset": preset}
            if codec == "libx265":
                opts["x265-params"] = "log-level=error"
        else:
            opts = {"cq": str(crf), "preset": preset, "rc": "vbr"}
        cc.options = opts
        if threads:  # the thread plan's count (filmrt.pipeline.threads); 0 = the encoder's own choice
            cc.thread_count = threads
        for key in ("language", "title", "handler_name"):
            if info.metadata.get(key):
                vs.metadata[key] = info.metadata[key]
        if info.display_matrix is not None:
            vs.set_display_matrix(info.display_matrix)
        self.vstream = vs
        self.frame_time_base = 1 / self.fps_out
        self.frame_offset = round(Fraction(video_offset) * self.fps_out)
        # streams copied as they are
        supported = None
        try:
            supported = set(c.supported_codecs)
        except Exception:  # noqa: BLE001
            supported = None
        self.copy_map = {}
        for s in copy_streams:
            cname = s.codec_context.name if s.codec_context is not None else None
            if supported is not None and cname and cname not in supported:
                self.warn(f"stream #{s.index} ({s.type}, {cname}) cannot go into this container: left out")
                continue
            try:
                o = c.add_stream_from_template(s)
            except Exception as e:  # noqa: BLE001
                self.warn(f"stream #{s.index} ({s.type}) cannot be copied ({av_error_message(e)}): left out")
                continue
            for k, v in s.metadata.items():
                o.metadata[k] = v
            self.copy_map[s.index] = o
        self.frames_written = 0
        self.packets_copied = 0

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

    def write_frame(self, rgb: torch.Tensor) -> None:
        """Encode the next output frame: (3, H, W) float RGB in [0, 1]."""
        rgb = rgb[:, : self.height, : self.width]
        y, u, v = rgb_to_yuv(rgb, self.spec, (2, 2))
        frame = av.VideoFrame(self.width, self.height, self.pix_fmt)
        for plane, arr in zip(frame.planes, (y, u, v), strict=True):
            buf = np.frombuffer(plane, dtype=arr.dtype).reshape(plane.height, -1)
            buf[:, : plane.width] = arr[: plane.height, : plane.width]
        frame.colorspace = self.spec.colorspace
        frame.color_range = self.spec.color_range
        frame.pts = self.frame_offset + self.frames_written
        frame.time_base = self.frame_time_base  # the codec's (the muxer may change the stream's)
        if self.frames_written == 0 and "nvenc" in self.codec:
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
            self._io(self._mux, pkt)
        self.frames_written += 1

    def video_time(self) -> Fraction:
        """Output time (s) of the next video frame."""
        return (self.frame_offset + self.frames_written) / self.fps_out

    def write_packet(self, packet) -> None:
        """Copy one packet of a passthrough stream (shifted by ``shift``)."""
        out = self.copy_map.get(packet.stream.index)
        if out is None:
            return
        tb = Fraction(packet.time_base)
        d = round(self.shift / tb) if self.shift else 0
        if packet.pts is not None:
            packet.pts -= d
        if packet.dts is not None:
            packet.dts -= d
        packet.stream = out
        self._io(self._mux, packet)
        self.packets_copied += 1

    # ------------------------------------------------------------------ end
    def finish(self) -> None:
        """Flush the encoder, write the trailer, and move the temp file over OUT."""
        for pkt in self._io(self.vstream.encode, None):
            self._io(self._mux, pkt)
        self._io(self.container.close)
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

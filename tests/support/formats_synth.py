"""Mezzanine, HDR and alpha clips for the format tests, written with PyAV.

:func:`make_format_clip` writes ``frames`` frames of :func:`support.synth.frame_rgb` (a gradient with
a moving square) in any encoder/pixel format, tagged with the given colour description; the
picture goes through the pipeline's own RGB -> pixel-format writer, so a tagged BT.709 limited
clip really holds BT.709 limited codes. ``alpha=True`` makes the background transparent and the
square opaque (a moving opaque square on a transparent background).
"""

from __future__ import annotations

from fractions import Fraction

import av
import numpy as np
import torch

from filmrt.pipeline.io.colour import ColourSpec
from filmrt.pipeline.io.formats import PixelLayout
from filmrt.pipeline.io.pixels import rgb_to_frame
from support.synth import frame_rgb


def square_x(i: int, width: int, height: int, frames: int) -> int:
    """Left edge of the square in frame ``i`` (as :func:`support.synth.frame_rgb` draws it)."""
    s = max(4, min(width, height) // 4)
    return int(round((width - s) * (i / max(1, frames - 1))))


def picture(i: int, width: int, height: int, frames: int, alpha: bool) -> torch.Tensor:
    """(3 or 4, H, W) float RGB(A): the synth picture; with alpha, opaque only on the square."""
    rgb = torch.from_numpy(frame_rgb(i, width, height, frames)).permute(2, 0, 1).float() / 255.0
    if not alpha:
        return rgb
    s = max(4, min(width, height) // 4)
    x0, y0 = square_x(i, width, height, frames), (height - s) // 2
    a = torch.zeros(1, height, width)
    a[:, y0 : y0 + s, x0 : x0 + s] = 1.0
    return torch.cat([rgb, a])


def make_format_clip(
    path, *, codec: str, pix_fmt: str, width: int = 128, height: int = 72, frames: int = 6,
    fps: int = 25, options: dict | None = None, spec: ColourSpec | None = None,
    primaries: int | None = None, trc: int | None = None, alpha: bool = False, bit_rate: int | None = None,
) -> str:
    """Write the clip; ``spec`` (default BT.709 limited) sets the matrix/range written and tagged."""
    layout = PixelLayout.of(pix_fmt)
    spec = spec or ColourSpec("bt709", False, layout.bits)
    if primaries is not None or trc is not None:
        spec = ColourSpec(spec.matrix, spec.full_range, spec.bits, primaries or spec.primaries, trc or spec.trc)
    path = str(path)
    with av.open(path, "w") as c:
        vs = c.add_stream(codec, rate=fps)
        vs.width, vs.height, vs.pix_fmt = width, height, pix_fmt
        tb = Fraction(1, fps)
        vs.time_base = vs.codec_context.time_base = tb
        cc = vs.codec_context
        cc.colorspace = 0 if layout.rgb else spec.colorspace
        cc.color_range = spec.color_range
        cc.color_primaries, cc.color_trc = spec.primaries, spec.trc
        if bit_rate:
            cc.bit_rate = bit_rate
        cc.options = dict(options or {})
        for i in range(frames):
            f = rgb_to_frame(picture(i, width, height, frames, alpha), layout, spec)
            f.colorspace, f.color_range = cc.colorspace, cc.color_range
            f.pts = i
            for p in vs.encode(f):
                c.mux(p)
        for p in vs.encode(None):
            c.mux(p)
    return path


def decoded(path) -> list[tuple[av.VideoFrame, np.ndarray]]:
    """Every decoded frame of the video (PyAV frames, kept for their tags and side data)."""
    with av.open(str(path)) as c:
        return list(c.decode(video=0))


def make_extras_clip(path, frames: int = 40, fps: int = 25) -> str:
    """Matroska with a forced+default French SubRip track, a font attachment and two chapters
    (0-0.8 s "One", 0.8-1.6 s "Two")."""
    path = str(path)
    with av.open(path, "w") as c:
        vs = c.add_stream("libx264", rate=fps)
        vs.width, vs.height, vs.pix_fmt = 64, 64, "yuv420p"
        vs.codec_context.options = {"preset": "ultrafast"}
        sub = c.add_mux_stream("subrip")
        sub.time_base = Fraction(1, 1000)
        sub.metadata["language"] = "fra"
        sub.disposition = av.stream.Disposition.forced | av.stream.Disposition.default
        c.add_attachment("font.ttf", "application/x-truetype-font", b"FAKEFONT" * 10)
        tb = Fraction(1, fps)
        c.set_chapters([{"id": 1, "start": 0, "end": 20, "time_base": tb, "metadata": {"title": "One"}},
                        {"id": 2, "start": 20, "end": 40, "time_base": tb, "metadata": {"title": "Two"}}])
        for i in range(frames):
            f = av.VideoFrame.from_ndarray(frame_rgb(i, 64, 64, frames), "rgb24").reformat(format="yuv420p")
            f.pts = i
            for p in vs.encode(f):
                c.mux(p)
        for p in vs.encode(None):
            c.mux(p)
    return path


def _a53_sei(pairs) -> bytes:
    """An H.264 SEI NAL (Annex B) with ATSC A/53 cc_data: CEA-608 field-1 byte ``pairs``."""
    cc = bytes([0x40 | len(pairs), 0xFF]) + b"".join(bytes([0xFC, a, b]) for a, b in pairs) + b"\xff"
    payload = b"\xb5\x00\x31GA94\x03" + cc  # ITU-T T.35 USA, ATSC provider, "GA94", cc_data
    return b"\x00\x00\x00\x01\x06\x04" + bytes([len(payload)]) + payload + b"\x80"


def make_caption_clip(path, frames: int = 10, fps: int = 25) -> str:
    """H.264 in MPEG-TS whose every access unit carries A/53 closed captions (a 608 control code),
    written by putting an SEI NAL in front of each packet (PyAV cannot attach side data to frames)."""
    path = str(path)
    with av.open(path, "w", format="mpegts") as c:
        vs = c.add_stream("libx264", rate=fps)
        vs.width, vs.height, vs.pix_fmt = 64, 64, "yuv420p"
        vs.codec_context.options = {"preset": "ultrafast"}

        def mux(pk) -> None:
            q = av.Packet(_a53_sei([(0x94, 0x20)]) + bytes(pk))
            q.pts, q.dts, q.time_base, q.is_keyframe = pk.pts, pk.dts, pk.time_base, pk.is_keyframe
            q.stream = vs
            c.mux(q)

        for i in range(frames):
            f = av.VideoFrame.from_ndarray(frame_rgb(i, 64, 64, frames), "rgb24").reformat(format="yuv420p")
            f.pts = i
            for p in vs.encode(f):
                mux(p)
        for p in vs.encode(None):
            mux(p)
    return path

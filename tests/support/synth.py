"""Small synthetic clips with known content, for tests and quick experiments.

:func:`make_clip` writes a clip of ``frames`` frames at ``fps`` whose picture is a smooth
gradient with a bright square moving at constant speed (so interpolation has real motion to
recover), optionally with a sine-tone AAC audio track, a display rotation, language tags, a
10-bit pixel format, odd dimensions or gaps (``skip``: frames left out, a variable-rate clip).
Frame ``i`` is shown at ``i / fps`` exactly when the time base allows it (``time_base`` default
``1 / (fps numerator)`` style: exact for 24, 25 and 30000/1001).
"""

from __future__ import annotations

import math
from fractions import Fraction

import av
import numpy as np


def frame_rgb(i: int, width: int, height: int, frames: int) -> np.ndarray:
    """(H, W, 3) uint8 picture of frame ``i``."""
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    r = 40 + 120 * xx / max(1, width - 1)
    g = 60 + 100 * yy / max(1, height - 1)
    b = np.full_like(r, 90.0)
    img = np.stack([r, g, b], -1)
    s = max(4, min(width, height) // 4)
    x0 = int(round((width - s) * (i / max(1, frames - 1))))
    y0 = (height - s) // 2
    img[y0 : y0 + s, x0 : x0 + s] = (230, 220, 60)
    return np.clip(img, 0, 255).astype(np.uint8)


def make_clip(
    path,
    *,
    width: int = 128,
    height: int = 72,
    fps: Fraction | int = 25,
    frames: int = 25,
    codec: str = "libx264",
    pix_fmt: str = "yuv420p",
    audio: bool = False,
    rotation: int | None = None,
    language: str | None = None,
    time_base: Fraction | None = None,
    fmt: str | None = None,
    subtitles: bool = False,
    skip: tuple[int, ...] = (),
) -> str:
    fps = Fraction(fps)
    path = str(path)
    with av.open(path, "w", format=fmt) as c:
        vs = c.add_stream(codec, rate=fps)
        vs.width, vs.height, vs.pix_fmt = width, height, pix_fmt
        # exact per-frame ticks: 1/25 for 25 fps, 1001/30000 for 30000/1001
        tb = Fraction(time_base) if time_base else Fraction(fps.denominator, fps.numerator)
        vs.codec_context.time_base = tb
        vs.time_base = tb
        if codec in ("libx264", "libx265"):
            vs.codec_context.options = {"preset": "ultrafast", "crf": "10"}
            if codec == "libx265":
                vs.codec_context.options = {"preset": "ultrafast", "crf": "10", "x265-params": "log-level=error"}
        if rotation is not None:
            vs.set_display_rotation(rotation)
        if language:
            vs.metadata["language"] = language
        sub = None
        if subtitles:  # SubRip cues (Matroska): "cue 0" at 0 s, "cue 1" at half the clip
            sub = c.add_mux_stream("subrip")
            sub.time_base = Fraction(1, 1000)
            if language:
                sub.metadata["language"] = language
        a = None
        if audio:
            a = c.add_stream("aac", rate=48000)
            a.layout = "stereo"
            if language:
                a.metadata["language"] = language
        step = 1 / fps
        for i in range(frames):
            if i in skip:  # variable frame rate: a gap where frame i would have been
                continue
            img = frame_rgb(i, width, height, frames)
            f = av.VideoFrame.from_ndarray(img, format="rgb24")
            if pix_fmt != "rgb24":
                f = f.reformat(format=pix_fmt)
            f.pts = int(round(i * step / tb))
            f.time_base = tb
            for p in vs.encode(f):
                c.mux(p)
            if sub is not None and i in (0, frames // 2):
                pk = av.Packet(b"cue %d" % (i > 0))
                pk.pts = pk.dts = int(round(i / fps * 1000))
                pk.duration = 400
                pk.time_base = Fraction(1, 1000)
                pk.stream = sub
                c.mux(pk)
        for p in vs.encode(None):
            c.mux(p)
        if a is not None:
            total = int(round(frames / fps * 48000))
            n = 1024
            for s in range(0, total, n):
                k = min(n, total - s)
                t = (np.arange(s, s + k) / 48000.0).astype(np.float32)
                tone = (0.2 * np.sin(2 * math.pi * 440.0 * t)).astype(np.float32)
                af = av.AudioFrame.from_ndarray(np.stack([tone, tone]), format="fltp", layout="stereo")
                af.sample_rate = 48000
                af.pts = s
                af.time_base = Fraction(1, 48000)
                for p in a.encode(af):
                    c.mux(p)
            for p in a.encode(None):
                c.mux(p)
    return path


def make_audio_only(path, seconds: float = 1.0) -> str:
    path = str(path)
    with av.open(path, "w") as c:
        a = c.add_stream("aac", rate=48000)
        total = int(seconds * 48000)
        for s in range(0, total, 1024):
            k = min(1024, total - s)
            tone = (0.1 * np.sin(np.arange(s, s + k) / 48000.0 * 2 * math.pi * 330)).astype(np.float32)
            af = av.AudioFrame.from_ndarray(np.stack([tone, tone]), format="fltp", layout="stereo")
            af.sample_rate = 48000
            af.pts = s
            for p in a.encode(af):
                c.mux(p)
        for p in a.encode(None):
            c.mux(p)
    return path

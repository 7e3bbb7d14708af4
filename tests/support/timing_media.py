"""Clips with legal but awkward timing, written with PyAV: MPEG-TS whose PTS wrap (2^33 ticks of
90 kHz) shortly after the start, sparse keyframes, audio beside the video."""

from __future__ import annotations

from fractions import Fraction

import av
import numpy as np

from support.synth import frame_rgb

WRAP = 1 << 33


def make_ts(path, *, frames: int = 100, fps: int = 25, size=(64, 48), start: int = 126000, gop: int = 12,
            audio: bool = False) -> str:
    """An MPEG-TS with H.264 video (a keyframe every ``gop`` frames) and, with ``audio``, MP2 audio
    at 48 kHz; every timestamp offset by ``start`` ticks of 90 kHz (1.4 s, as FFmpeg's muxer does), written modulo 2^33 (as
    every TS muxer does: ``start`` close to 2^33 makes the PTS wrap during the clip)."""
    path = str(path)
    w, h = size
    tick = 90000 // fps
    with av.open(path, "w", format="mpegts") as c:
        vs = c.add_stream("libx264", rate=fps)
        vs.width, vs.height, vs.pix_fmt = w, h, "yuv420p"
        vs.codec_context.options = {"preset": "ultrafast", "crf": "10", "g": str(gop), "keyint_min": str(gop),
                                    "sc_threshold": "0", "bf": "0"}
        vs.time_base = Fraction(1, 90000)
        a = None
        if audio:
            a = c.add_stream("mp2", rate=48000)
            a.layout = "stereo"
            a.time_base = Fraction(1, 90000)
        packets = []
        for i in range(frames):
            f = av.VideoFrame.from_ndarray(frame_rgb(i, w, h, frames), format="rgb24").reformat(format="yuv420p")
            f.pts, f.time_base = i * tick, Fraction(1, 90000)
            packets += vs.encode(f)
        packets += vs.encode(None)
        if a is not None:
            n, total = 1152, frames * 48000 // fps
            for s in range(0, total - n + 1, n):
                t = np.arange(s, s + n) / 48000
                tone = (0.2 * np.sin(2 * np.pi * 440 * t) * 32767).astype(np.int16)
                af = av.AudioFrame.from_ndarray(np.stack([tone, tone], 1).reshape(1, -1), format="s16", layout="stereo")
                af.sample_rate, af.pts, af.time_base = 48000, s, Fraction(1, 48000)
                packets += a.encode(af)
            packets += a.encode(None)
        for p in sorted(packets, key=lambda p: p.dts * p.time_base):
            pts, dts = (round(v * p.time_base * 90000) + start for v in (p.pts, p.dts))
            p.time_base = Fraction(1, 90000)
            p.pts, p.dts = pts, dts  # the muxer writes them modulo 2^33 (33-bit PES fields)
            c.mux(p)
    return path

"""Clips with the audio codecs and containers broadcast uses (AAC, AC-3, E-AC-3, MP2, 24-bit PCM),
and clips with a chosen first frame, written with PyAV for the stream-mapping and timing tests."""

from __future__ import annotations

from fractions import Fraction

import av
import numpy as np

from support.synth import frame_rgb


def _audio_frame(stream, start: int, n: int, rate: int) -> av.AudioFrame:
    fmt = stream.codec_context.format
    dtype = {"s16": np.int16, "s32": np.int32, "flt": np.float32, "dbl": np.float64}[fmt.name.rstrip("p")]
    t = np.arange(start, start + n) / rate
    tone = 0.2 * np.sin(2 * np.pi * 440.0 * t)
    if np.issubdtype(dtype, np.integer):
        tone = tone * np.iinfo(dtype).max
    tone = tone.astype(dtype)
    arr = np.stack([tone, tone]) if fmt.is_planar else np.stack([tone, tone], 1).reshape(1, -1)
    f = av.AudioFrame.from_ndarray(arr, format=fmt.name, layout="stereo")
    f.sample_rate, f.pts, f.time_base = rate, start, Fraction(1, rate)
    return f


def make_multi_audio(path, audio=("aac",), *, frames: int = 20, fps: int = 25, size=(64, 48),
                     first=None, timecode: str | None = None) -> str:
    """A matroska (or any container the extension names) clip: H.264 video and one audio stream per
    codec in ``audio`` (48 kHz stereo). ``first``: (H, W, 3) uint8 picture for frame 0; ``timecode``:
    the video stream's timecode tag (a MOV's ``tmcd`` track)."""
    path = str(path)
    w, h = size
    with av.open(path, "w") as c:
        vs = c.add_stream("libx264", rate=fps)
        vs.width, vs.height, vs.pix_fmt = w, h, "yuv420p"
        if timecode:
            vs.metadata["timecode"] = timecode
        vs.codec_context.options = {"preset": "ultrafast", "crf": "10"}
        streams = []
        for name in audio:
            a = c.add_stream(name, rate=48000)
            a.layout = "stereo"
            streams.append(a)
        for i in range(frames):
            img = first if (i == 0 and first is not None) else frame_rgb(i, w, h, frames)
            f = av.VideoFrame.from_ndarray(img, format="rgb24").reformat(format="yuv420p")
            f.pts, f.time_base = i, Fraction(1, fps)
            for p in vs.encode(f):
                c.mux(p)
        for p in vs.encode(None):
            c.mux(p)
        total = frames * 48000 // fps
        for a in streams:
            n = a.codec_context.frame_size or 1024
            for s in range(0, total - n + 1, n):
                for p in a.encode(_audio_frame(a, s, n, 48000)):
                    c.mux(p)
            for p in a.encode(None):
                c.mux(p)
    return path


def make_swapped_labels(path, *, frames: int = 24, fps: int = 25, size=(64, 48)) -> str:
    """What a DivX/Xvid AVI with packed B-frames looks like to the pipeline: pictures decoded in
    display order (MPEG-4 Part 2, no reordering) whose timestamps are swapped in pairs, pts
    1,2,3,5,4,6,8,7,... (the decode times stay increasing), as the issue quotes them."""
    path = str(path)
    w, h = size
    labels = list(range(frames))
    for k in range(3, frames - 1, 3):
        labels[k], labels[k + 1] = labels[k + 1], labels[k]
    with av.open(path, "w") as c:
        vs = c.add_stream("mpeg4", rate=fps)
        vs.width, vs.height, vs.pix_fmt = w, h, "yuv420p"
        vs.codec_context.options = {"qscale": "2"}
        packets = []
        for i in range(frames):
            f = av.VideoFrame.from_ndarray(frame_rgb(i, w, h, frames), format="rgb24").reformat(format="yuv420p")
            f.pts, f.time_base = i, Fraction(1, fps)
            packets += vs.encode(f)
        packets += vs.encode(None)
        for i, p in enumerate(packets):
            p.dts, p.pts = i, labels[i] + 1  # pts 1,2,3,5,4,6,8,7,...: never before the dts
            c.mux(p)
    return path

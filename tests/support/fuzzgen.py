"""Seeded generators of broken, unusual and hostile inputs for ``filmrt convert`` (tests/fuzz/).

A :class:`Case` is an input to make in a folder plus the convert options to run it with. Two
sources of cases:

- :func:`corpus`: one fixed case per kind of trouble (empty, text, directories, FIFOs, truncated,
  random bytes behind a valid header, flipped bytes, huge dimensions in a header, odd sizes,
  weird rates, audio only, still images, unicode names, options at their limits);
- :func:`mutations`: ``n`` random damages of small valid clips (truncate, flip, splice, zero,
  duplicate), drawn from a :class:`random.Random` seeded with ``seed``: the same seed always
  gives the same files, so a failing case is reproduced by its name (``mut-<seed>-<i>``).

Everything is made here with PyAV and plain bytes; clips are tiny (64x36, a few frames) so a
case costs about one interpreter start.
"""

from __future__ import annotations

import os
import random
import struct
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

from support.synth import make_audio_only, make_clip

W, H = 64, 36


@dataclass
class Case:
    name: str
    #: makes the input inside the given folder and returns its path
    make: Callable[[Path], Path]
    #: convert options (besides IN and OUT)
    args: list[str] = field(default_factory=lambda: ["--fps", "50"])
    #: OUT's file name
    out: str = "out.mkv"
    #: the input is a FIFO: the test feeds it these bytes (made by ``make``) from a thread
    fifo: bool = False


# ---------------------------------------------------------------------- building blocks
def clip(path: Path, **kw) -> Path:
    kw = {"width": W, "height": H, "frames": 4, **kw}
    make_clip(path, **kw)
    return path


def raw_clip(path: Path, width: int, height: int, frames: int = 3, fmt: str | None = None) -> Path:
    """Uncompressed RGB video (any size, odd included) in NUT/AVI."""
    with av.open(str(path), "w", format=fmt) as c:
        s = c.add_stream("rawvideo", rate=25)
        s.width, s.height, s.pix_fmt = width, height, "rgb24"
        for i in range(frames):
            img = np.full((height, width, 3), 40 * i, np.uint8)
            f = av.VideoFrame.from_ndarray(img, format="rgb24")
            f.pts = i
            for p in s.encode(f):
                c.mux(p)
        for p in s.encode(None):
            c.mux(p)
    return path


def image(path: Path, codec: str) -> Path:
    with av.open(str(path), "w", format="image2") as c:
        s = c.add_stream(codec, rate=1)
        s.width, s.height, s.pix_fmt = W, H, "rgb24" if codec == "png" else "yuvj420p"
        f = av.VideoFrame.from_ndarray(np.random.default_rng(0).integers(0, 255, (H, W, 3), np.uint8), "rgb24")
        for p in s.encode(f):
            c.mux(p)
        for p in s.encode(None):
            c.mux(p)
    return path


def png_huge(path: Path) -> Path:
    """A PNG header claiming 100000x100000 pixels, then a little garbage."""
    ihdr = struct.pack(">IIBBBBB", 100_000, 100_000, 8, 2, 0, 0, 0)
    chunk = b"IHDR" + ihdr
    data = b"\x89PNG\r\n\x1a\n" + struct.pack(">I", len(ihdr)) + chunk + struct.pack(">I", zlib.crc32(chunk))
    path.write_bytes(data + os.urandom(64))
    return path


def y4m(path: Path, width: int, height: int, frames: int, rate: str = "25:1") -> Path:
    """YUV4MPEG2: a text header (any size claim) and raw 4:2:0 frames."""
    head = f"YUV4MPEG2 W{width} H{height} F{rate} Ip A1:1 C420jpeg\n".encode()
    size = width * height + 2 * ((width + 1) // 2) * ((height + 1) // 2)
    body = b"".join(b"FRAME\n" + bytes([(16 * i) % 256]) * size for i in range(frames)) if size < 1e6 else b"FRAME\n"
    path.write_bytes(head + body)
    return path


def keep_head(src: Path, n: int, dst: Path, tail: bytes = b"") -> Path:
    dst.write_bytes(src.read_bytes()[:n] + tail)
    return dst


def _valid(d: Path, ext: str, **kw) -> Path:
    fmt = {"ts": "mpegts"}.get(ext)
    return clip(d / f"base.{ext}", fmt=fmt, **kw)


# ---------------------------------------------------------------------- the fixed corpus
def _text(d: Path) -> Path:
    p = d / "notes.mp4"
    p.write_text("not a video\n" * 200)
    return p


def _text_txt(d: Path) -> Path:
    p = d / "readme.txt"
    p.write_text("hello")
    return p


def _empty(d: Path) -> Path:
    p = d / "empty.mkv"
    p.write_bytes(b"")
    return p


def _directory(d: Path) -> Path:
    p = d / "folder.mp4"
    p.mkdir()
    return p


def _truncated(d: Path) -> Path:
    v = _valid(d, "mp4", frames=8)
    return keep_head(v, v.stat().st_size // 2, d / "half.mp4")


def _truncated_mkv(d: Path) -> Path:
    v = _valid(d, "mkv", frames=8, audio=True)
    return keep_head(v, v.stat().st_size * 2 // 3, d / "cut.mkv")


def _header_only(d: Path) -> Path:
    v = _valid(d, "mkv")
    return keep_head(v, 200, d / "head.mkv")


def _header_random(ext: str) -> Callable[[Path], Path]:
    def make(d: Path) -> Path:
        v = _valid(d, ext)
        return keep_head(v, 64, d / f"noise.{ext}", random.Random(ext).randbytes(30_000))

    return make


def _flipped(ext: str) -> Callable[[Path], Path]:
    def make(d: Path) -> Path:
        v = _valid(d, ext, frames=8)
        data = bytearray(v.read_bytes())
        rng = random.Random(7)
        for _ in range(40):
            data[rng.randrange(len(data) // 10, len(data))] ^= 1 << rng.randrange(8)
        p = d / f"flipped.{ext}"
        p.write_bytes(bytes(data))
        return p

    return make


def _fifo_feed(d: Path) -> Path:
    return _valid(d, "mkv", audio=True)


def _unicode_name(d: Path) -> Path:
    return clip(d / "clip ünï 名前 #1 (copy).mp4", audio=True)


def _slow_rate(d: Path) -> Path:
    return clip(d / "slow.mkv", fps=Fraction(1, 2), frames=2)


def _fast_rate(d: Path) -> Path:
    return clip(d / "fast.mkv", fps=1000, frames=8)


def _ntsc(d: Path) -> Path:
    return clip(d / "ntsc.mp4", fps=Fraction(30000, 1001), time_base=Fraction(1, 90000), audio=True)


def _base(d: Path) -> Path:
    return clip(d / "in.mp4", audio=True)


def corpus() -> list[Case]:
    """One fixed case per kind of trouble."""
    return [
        Case("empty", _empty),
        Case("text", _text),
        Case("text-txt", _text_txt),
        Case("directory", _directory),
        Case("truncated-mp4", _truncated),
        Case("truncated-mkv-audio", _truncated_mkv),
        Case("header-only", _header_only),
        Case("header-random-mp4", _header_random("mp4")),
        Case("header-random-mkv", _header_random("mkv")),
        Case("flipped-mp4", _flipped("mp4")),
        Case("flipped-ts", _flipped("ts"), out="out.ts"),
        Case("y4m-huge-dims", lambda d: y4m(d / "huge.y4m", 65536, 65536, 1)),
        Case("y4m-odd-size", lambda d: y4m(d / "odd.y4m", 33, 17, 3)),
        Case("png-huge-dims", lambda d: png_huge(d / "huge.png")),
        Case("png-image", lambda d: image(d / "still.png", "png")),
        Case("jpeg-image", lambda d: image(d / "still.jpg", "mjpeg")),
        Case("audio-only", lambda d: Path(make_audio_only(d / "music.mkv"))),
        Case("odd-size-raw", lambda d: raw_clip(d / "odd.nut", 33, 17)),
        Case("one-by-one", lambda d: raw_clip(d / "dot.avi", 1, 1)),
        Case("rate-1/2", _slow_rate, args=["--fps", "5"]),
        Case("rate-1000", _fast_rate, args=["--fps", "24"]),
        Case("rate-ntsc-to-mp4", _ntsc, args=["--fps", "60000/1001"], out="out.mp4"),
        Case("fifo-input", _fifo_feed, fifo=True),
        Case("unicode-names", _unicode_name, out="out ü 名 #2.mkv"),
        Case("ss-past-end", _base, args=["--fps", "50", "--ss", "1000"]),
        Case("t-tiny", _base, args=["--fps", "50", "--t", "0.001"]),
        Case("crf-limits", _base, args=["--fps", "50", "--crf", "51", "--batch", "1"], out="out.mp4"),
        Case("fps-tiny", _base, args=["--fps", "0.001"]),
        Case("fps-factor", _base, args=["--fps", "x8"]),
    ]


# ---------------------------------------------------------------------- seeded mutations
_BASES = [("mp4", True), ("mkv", True), ("mov", False), ("ts", True), ("avi", False)]
_OUTS = ["out.mkv", "out.mp4", "out.mov"]


def _mutate(data: bytearray, rng: random.Random) -> tuple[bytearray, str]:
    n = len(data)
    op = rng.choice(["truncate", "flip", "splice", "zero", "duplicate"])
    if op == "truncate":
        return data[: rng.randrange(1, n)], op
    if op == "flip":
        for _ in range(rng.randrange(1, 200)):
            data[rng.randrange(n)] ^= 1 << rng.randrange(8)
        return data, op
    a = rng.randrange(n)
    b = min(n, a + rng.randrange(1, 4096))
    if op == "splice":
        data[a:b] = rng.randbytes(rng.randrange(1, 4096))
    elif op == "zero":
        data[a:b] = bytes(b - a)
    else:
        data[b:b] = data[a:b]
    return data, op


def mutations(seed: int, n: int) -> list[Case]:
    """``n`` seeded random damages of small valid clips (same seed, same files)."""
    cases = []
    for i in range(n):
        rng = random.Random(f"{seed}-{i}")
        ext, audio = rng.choice(_BASES)
        out = rng.choice(_OUTS)
        fps = rng.choice(["50", "24", "x2", "30000/1001"])

        def make(d: Path, rng_state=rng.getstate(), ext=ext, audio=audio) -> Path:
            r = random.Random()
            r.setstate(rng_state)
            v = _valid(d, ext, frames=r.randrange(2, 10), audio=audio)
            data, _ = _mutate(bytearray(v.read_bytes()), r)
            p = d / f"mutant.{ext}"
            p.write_bytes(bytes(data))
            return p

        cases.append(Case(f"mut-{seed}-{i}-{ext}", make, args=["--fps", fps], out=out))
    return cases


#: mutations that found bugs in a campaign (seed, index), kept in CI as regressions:
#: (1, 13) all frames flagged corrupt: the error came after OUT was already renamed into place;
#: (1, 35) a video stream with a codec id FFmpeg does not know: AttributeError (exit 1)
FOUND = [(1, 13), (1, 35)]


def regressions() -> list[Case]:
    """The :data:`FOUND` mutations (same seed, same files)."""
    return [mutations(seed, i + 1)[i] for seed, i in FOUND]

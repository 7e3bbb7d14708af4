"""A synthetic broadcast composite: moving background + static logo + scrolling ticker + burned-in text.

What a sports or news channel looks like to a frame interpolator, with every region known exactly:

- background: a smooth random texture panned diagonally (3 px right, 1 px down a frame) with a
  bright disc crossing it the other way, so nothing in it is still and no row moves rigidly sideways;
- a static logo (opaque, high-contrast pattern) in the top-right corner;
- a ticker band near the bottom: a dark plate whose "text" (random light blocks) scrolls left at
  ``ticker_speed`` px a frame;
- burned-in subtitle text (opaque white glyph blocks with a black edge), static, above the ticker.

:func:`composite` returns frame ``i`` as (H, W, 3) uint8; :func:`regions` the boolean masks of the
graphics (the rectangles around them, as a viewer would draw them); :func:`write_composite` writes
a clip losslessly (FFV1) or in H.264.
"""

from __future__ import annotations

from fractions import Fraction

import av
import numpy as np

W, H = 192, 108
LOGO = (W - 36, 6, 28, 18)  # x, y, w, h
TICKER = (0, H - 18, W, 12)
TEXT = (45, H - 36, 102, 12)


def _smooth(a: np.ndarray, k: int) -> np.ndarray:
    ker = np.ones(k) / k
    for ax in (0, 1):
        a = np.apply_along_axis(lambda v: np.convolve(v, ker, mode="same"), ax, a)
    return a


_RNG = np.random.default_rng(1234)
_TEX = _smooth(_RNG.random((H + 200, W + 400, 3)), 7)
_TEX = (30 + 190 * (_TEX - _TEX.min()) / (_TEX.max() - _TEX.min())).astype(np.float32)
_LOGO = np.where(_RNG.random((LOGO[3] // 3, LOGO[2] // 4, 1)) > 0.5, 240.0, 20.0).repeat(3, 0).repeat(4, 1)
_LOGO = np.concatenate([_LOGO, _LOGO * 0.3 + 60, 255 - _LOGO], -1)[: LOGO[3], : LOGO[2]].astype(np.float32)
_TAPE = np.where(_RNG.random((1, 2000 // 3)) > 0.55, 1.0, 0.0).repeat(3, 1)  # the ticker's "letters"
_GLYPHS = (_RNG.random((TEXT[3] // 4, TEXT[2] // 3)) > 0.45).repeat(4, 0).repeat(3, 1)


def composite(i: int, *, ticker_speed: int = 4) -> np.ndarray:
    """Frame ``i``: (H, W, 3) uint8."""
    img = _TEX[1 * i : 1 * i + H, 3 * i : 3 * i + W].copy()
    yy, xx = np.mgrid[0:H, 0:W]
    cx, cy = W - 20 - 5 * i, 40 + 0.5 * i
    img[(xx - cx) ** 2 + (yy - cy) ** 2 < 12**2] = (250, 240, 90)
    x, y, w, h = LOGO
    img[y : y + h, x : x + w] = _LOGO
    x, y, w, h = TICKER
    tape = _TAPE[0, ticker_speed * i : ticker_speed * i + w]
    rows = np.zeros((h, w), np.float32)
    rows[3 : h - 3] = tape  # letters between a top and a bottom margin of the plate
    img[y : y + h, x : x + w] = np.stack([30 + 200 * rows, 40 + 190 * rows, 90 + 140 * rows], -1)
    x, y, w, h = TEXT
    glyph = np.zeros((H, W), bool)
    glyph[y : y + h, x : x + w] = _GLYPHS
    edge = np.zeros_like(glyph)
    edge[1:-1, 1:-1] = (glyph[:-2, 1:-1] | glyph[2:, 1:-1] | glyph[1:-1, :-2] | glyph[1:-1, 2:]) & ~glyph[1:-1, 1:-1]
    img[edge] = 0
    img[glyph] = 245
    return np.clip(np.round(img), 0, 255).astype(np.uint8)


def regions() -> dict[str, np.ndarray]:
    """(H, W) bool masks: ``logo``, ``ticker``, ``text`` (each graphic's rectangle, the text's with
    its edge) and ``graphics`` (their union)."""
    out = {}
    for name, (x, y, w, h) in (("logo", LOGO), ("ticker", TICKER), ("text", TEXT)):
        m = np.zeros((H, W), bool)
        m[max(0, y - 1) : y + h + 1, max(0, x - 1) : x + w + 1] = True if name == "text" else False
        m[y : y + h, x : x + w] = True
        out[name] = m
    out["graphics"] = out["logo"] | out["ticker"] | out["text"]
    return out


def write_composite(path, frames: int = 16, *, rate: int = 25, codec: str = "ffv1", step: int = 1,
                    ticker_speed: int = 4) -> str:
    """Frames 0, step, 2*step ... of the composite (``frames`` of them) as a clip at ``rate``."""
    with av.open(str(path), "w") as c:
        s = c.add_stream(codec, rate=rate)
        s.width, s.height = W, H
        s.pix_fmt = "bgr0" if codec == "ffv1" else "yuv420p"
        if codec == "libx264":
            s.codec_context.options = {"preset": "ultrafast", "crf": "12"}
        s.codec_context.time_base = s.time_base = Fraction(1, rate)
        for k in range(frames):
            f = av.VideoFrame.from_ndarray(composite(k * step, ticker_speed=ticker_speed), format="rgb24")
            f = f.reformat(format=s.pix_fmt)
            f.pts, f.time_base = k, Fraction(1, rate)
            c.mux(s.encode(f))
        c.mux(s.encode())
    return str(path)

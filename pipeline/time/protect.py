"""Protected on-screen graphics (``--protect``): logos, clocks, burned-in text and tickers.

A frame interpolator warps every pixel along the motion it estimates. Broadcast graphics break
that: a station logo sits still over a moving picture, and the model, seeing strong motion all
around it, smears it (a "swimming" logo); a ticker scrolls sideways at its own constant speed
through the same picture, and its letters tear. The fix is what a broadcast standards converter
does: keep the graphics out of the motion estimate's hands.

- **Static graphics** (logos, bugs, clocks between their ticks, burned-in subtitles while they are
  shown): pixels whose value does not change over the analysis window while the rest of the picture
  moves. They form a mask (specks removed, components under a small logo's area dropped; not
  grown: the pixels around a logo are the moving picture's, the model's to fill), and in an interpolated frame at time t between
  source frames a and b, the masked pixels are taken from the source frames instead of the model:
  their mean where a and b agree (within a codec's noise: the mean averages that noise, as the model
  does, so a truly still area loses nothing), else the nearer frame whole (a clock that ticked, a
  subtitle that changed: never a ghost of both).
- **A ticker**: a band of rows that moves rigidly sideways at one constant speed v (pixels per
  source frame), measured per strip of rows by 1-D phase correlation of each pair of frames, and
  accepted only where shifting frame a's rows by v reproduces frame b's (the residual is near zero)
  for every pair in the window, at the same v. In the interpolated frame the band is frame a's band
  moved by t * v (linear interpolation between pixels: sub-pixel speeds are fine); the part that
  entered the screen since a comes from b moved back by (1 - t) * v.

The analysis window is the first :data:`WINDOW` decoded frames of the conversion (convert holds
its first model calls until the window is full; ``filmrt live`` cannot hold its clock, so it makes
its frames unprotected while it watches and analyses, on a thread of its own, and protects every
frame after that: the protection starts about WINDOW input frames plus the analysis time in). Nothing is protected when the picture itself is
still (no motion to tell graphics from), and only bands shorter than a quarter of the picture
count as tickers (a whole-picture pan is motion, the model's job). Limits, said plainly: a
semi-transparent logo is not still (the picture shows through) and is left to the model; a
graphic that appears after the window, or a still region that starts moving later, is not
followed (the analysis runs once); a scene cut inside the window hides a ticker (its rows do not
match across the cut).

``--protect X,Y,W,H[,...]`` names static boxes by hand (no analysis); ``auto`` detects;
``off`` (the default) leaves every pixel to the model. The default was chosen by measurement on a
synthetic broadcast composite (docs/quality.md).
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass, field
from fractions import Fraction

import numpy as np
import torch

from filmrt.errors import FilmrtError

#: frames analysed at the start of a conversion
WINDOW = 8
#: a pixel is still when its luma's standard deviation over the window is below this (8-bit code
#: values: a lossy codec's noise on a still logo stays under it)
STILL_STD = 2.0
#: the picture moves when at least this fraction of its pixels is not still
MOVING_FRACTION = 0.2
#: smallest still component kept (pixels): specks of a flat background are not graphics
MIN_AREA = 24
#: a still pixel whose a and b differ by less than this (in [0, 1]) takes their mean, else the nearer
SAME = 6 / 255
#: strip height (rows) for ticker detection
STRIP = 4
#: a strip is rigid when the residual after its shift is below this (8-bit code values, mean abs)
RIGID_RESIDUAL = 3.0


@dataclass
class Ticker:
    """Rows ``y0 .. y1 - 1`` moving sideways at ``speed`` px per source frame (+ = to the right)."""

    y0: int
    y1: int
    speed: float


@dataclass
class Protection:
    """What is protected: a still mask (H, W) and tickers; empty = nothing."""

    still: np.ndarray | None = None
    tickers: list[Ticker] = field(default_factory=list)
    boxes: list[tuple[int, int, int, int]] = field(default_factory=list)

    @property
    def empty(self) -> bool:
        return (self.still is None or not self.still.any()) and not self.tickers

    def describe(self) -> str:
        if self.empty:
            return "protect: nothing to protect found"
        parts = [f"{len(self.boxes)} still graphic(s) at " + " ".join(f"{x},{y},{w},{h}" for x, y, w, h in self.boxes)]
        parts += [f"ticker rows {t.y0}-{t.y1 - 1} at {t.speed:+.2f} px/frame" for t in self.tickers]
        return "protect: " + "; ".join(parts)


def parse_protect(value: str | None) -> str | list[tuple[int, int, int, int]]:
    """``auto`` | ``off`` | ``X,Y,W,H[,X,Y,W,H...]`` (boxes in pixels)."""
    v = (value or "off").strip().lower()
    if v in ("auto", "off"):
        return v
    try:
        nums = [int(x) for x in v.split(",")]
    except ValueError:
        nums = []
    if not nums or len(nums) % 4 or any(n < 0 for n in nums) or any(nums[k + 2] == 0 or nums[k + 3] == 0
                                                                      for k in range(0, len(nums), 4)):
        raise FilmrtError(f"--protect {value}: use auto, off, or X,Y,W,H[,X,Y,W,H...] (pixels, W and H > 0)")
    return [tuple(nums[k : k + 4]) for k in range(0, len(nums), 4)]


def _luma(rgb: torch.Tensor) -> np.ndarray:
    """(H, W) float32 luma in 8-bit code values of a (C, H, W) RGB tensor in [0, 1]."""
    x = rgb[:3].detach().float().cpu()
    return ((0.2126 * x[0] + 0.7152 * x[1] + 0.0722 * x[2]) * 255.0).numpy()


def _components(mask: np.ndarray) -> tuple[np.ndarray, list[tuple[int, int, int, int]]]:
    """``mask`` without components under MIN_AREA, and the boxes of those kept."""
    from scipy import ndimage

    lab, n = ndimage.label(mask)
    keep = np.zeros_like(mask)
    boxes = []
    for k, sl in enumerate(ndimage.find_objects(lab), start=1):
        comp = lab[sl] == k
        if comp.sum() >= MIN_AREA:
            keep[sl] |= comp
            boxes.append((sl[1].start, sl[0].start, sl[1].stop - sl[1].start, sl[0].stop - sl[0].start))
    return keep, boxes


def _shift_1d(a: np.ndarray, b: np.ndarray) -> float:
    """Sideways shift (px) that moves strip ``a`` onto strip ``b``: phase correlation along x."""
    fa, fb = np.fft.rfft(a - a.mean(1, keepdims=True), axis=1), np.fft.rfft(b - b.mean(1, keepdims=True), axis=1)
    cross = (fb * np.conj(fa)).sum(0)
    r = np.fft.irfft(cross / (np.abs(cross) + 1e-9), n=a.shape[1])
    k = int(np.argmax(r))
    n = r.shape[0]
    lo, mid, hi = r[(k - 1) % n], r[k], r[(k + 1) % n]
    den = lo - 2 * mid + hi
    off = 0.5 * (lo - hi) / den if abs(den) > 1e-12 else 0.0
    v = k + max(-0.5, min(0.5, off))
    return v - n if v > n / 2 else v


def _residual(a: np.ndarray, b: np.ndarray, v: float) -> float:
    """Mean |b - a moved by v| over the columns present in both (8-bit code values)."""
    moved = _move(a, v)
    valid = ~np.isnan(moved[0])
    if valid.sum() < a.shape[1] // 2:
        return float("inf")
    return float(np.abs(moved[:, valid] - b[:, valid]).mean())


def _move(a: np.ndarray, v: float) -> np.ndarray:
    """Rows of ``a`` moved sideways by ``v`` px (linear interpolation; NaN where nothing came)."""
    w = a.shape[-1]
    src = np.arange(w) - v
    i0 = np.floor(src).astype(int)
    f = (src - i0).astype(np.float32)
    ok = (i0 >= 0) & (i0 + 1 <= w - 1) | ((f == 0) & (i0 >= 0) & (i0 <= w - 1))
    i0c, i1c = np.clip(i0, 0, w - 1), np.clip(i0 + 1, 0, w - 1)
    out = a[..., i0c] * (1 - f) + a[..., i1c] * f
    return np.where(ok, out, np.nan)


def _tickers(ys: np.ndarray) -> list[Ticker]:
    """Bands of strips moving rigidly sideways at one constant speed over the window."""
    n, h, _ = ys.shape
    speeds: list[float | None] = []
    for y in range(0, h - STRIP + 1, STRIP):
        vs = []
        for k in range(n - 1):
            a, b = ys[k, y : y + STRIP], ys[k + 1, y : y + STRIP]
            v = _shift_1d(a, b)
            moving = np.abs(a - b).mean() > RIGID_RESIDUAL
            vs.append(v if moving and abs(v) >= 0.5 and _residual(a, b, v) < RIGID_RESIDUAL else None)
        ok = all(v is not None for v in vs) and max(vs) - min(vs) < 0.5
        speeds.append(float(np.median(vs)) if ok else None)
    bands: list[Ticker] = []
    for s, v in enumerate(speeds):
        if v is None:
            continue
        if bands and bands[-1].y1 == s * STRIP and abs(bands[-1].speed - v) < 0.5:
            bands[-1].y1 = (s + 1) * STRIP
        else:
            bands.append(Ticker(s * STRIP, (s + 1) * STRIP, v))
    out = []
    for t in bands:
        # grow by whole rows that follow the same motion (the band need not sit on the strip grid)
        while t.y0 > 0 and _rigid_row(ys, t.y0 - 1, t.speed):
            t.y0 -= 1
        while t.y1 < h and _rigid_row(ys, t.y1, t.speed):
            t.y1 += 1
        if t.y1 - t.y0 <= h // 4:  # a band, not a pan of the whole picture
            out.append(t)
    return out


def _rigid_row(ys: np.ndarray, y: int, v: float) -> bool:
    return all(_residual(ys[k, y : y + 1], ys[k + 1, y : y + 1], v) < RIGID_RESIDUAL for k in range(len(ys) - 1))


def analyse(frames: Sequence[torch.Tensor]) -> Protection:
    """Find still graphics and tickers in ``frames`` ((C, H, W) RGB in [0, 1], consecutive)."""
    from scipy import ndimage

    if len(frames) < 3:
        return Protection()
    ys = np.stack([_luma(f) for f in frames])
    std = ys.std(0)
    still = std < STILL_STD
    if (~still).mean() < MOVING_FRACTION:
        return Protection()  # a still picture: nothing tells graphics from scenery
    tickers = _tickers(ys)
    for t in tickers:
        still[t.y0 : t.y1] = False  # the ticker's plate is handled with its band
    still = ndimage.binary_opening(still, structure=np.ones((2, 2), bool))
    still, boxes = _components(still)
    return Protection(still=still, tickers=tickers, boxes=boxes)


def boxes_protection(boxes: Sequence[tuple[int, int, int, int]], height: int, width: int) -> Protection:
    """The still mask of boxes given by hand (``--protect X,Y,W,H``), clipped to the picture."""
    m = np.zeros((height, width), bool)
    for x, y, w, h in boxes:
        m[y : y + h, x : x + w] = True
    return Protection(still=m, boxes=list(boxes))


def _move_t(a: torch.Tensor, v: float) -> tuple[torch.Tensor, torch.Tensor]:
    """(C, h, W) rows of ``a`` moved sideways by ``v`` px, and the (W,) mask of columns filled."""
    w = a.shape[-1]
    src = torch.arange(w, dtype=torch.float32, device=a.device) - v
    i0 = torch.floor(src)
    f = (src - i0).to(a.dtype)
    i0 = i0.long()
    ok = (i0 >= 0) & ((i0 + 1 <= w - 1) | (f == 0)) & (i0 <= w - 1)
    i0c, i1c = i0.clamp(0, w - 1), (i0 + 1).clamp(0, w - 1)
    return a[..., i0c] * (1 - f) + a[..., i1c] * f, ok


def apply(p: Protection, frame: torch.Tensor, a: torch.Tensor, b: torch.Tensor, t: float,
          steps: float = 1.0) -> torch.Tensor:
    """The interpolated ``frame`` at ``t`` between source frames ``a`` and ``b`` ((C, H, W)), with
    the protected regions replaced; ``steps``: source frames from a to b (the ticker moves v each)."""
    if p.empty:
        return frame
    out = frame.clone()
    if p.still is not None and p.still.any():
        m = torch.from_numpy(p.still).to(frame.device)
        a_, b_ = a.to(out.dtype), b.to(out.dtype)
        # unchanged between a and b (within a codec's noise): their mean, which averages the noise
        # as the model would; changed (a clock's tick, a subtitle's change): the nearer frame, whole
        same = (a_ - b_).abs().amax(0) < SAME
        still = torch.where(same, 0.5 * (a_ + b_), a_ if t < 0.5 else b_)
        out = torch.where(m, still, out)
    for tk in p.tickers:
        v = tk.speed * steps
        fa, ok_a = _move_t(a[:, tk.y0 : tk.y1].to(out.dtype), t * v)
        fb, ok_b = _move_t(b[:, tk.y0 : tk.y1].to(out.dtype), -(1 - t) * v)
        band = out[:, tk.y0 : tk.y1]
        band = torch.where(ok_b, fb, band)
        out[:, tk.y0 : tk.y1] = torch.where(ok_a, fa, band)
    return out


class Protector:
    """The conversion's side of ``--protect``: watches the first frames, then fixes model outputs.

    ``observe(index, rgb)`` for each decoded frame; ``ready`` once the window is analysed (convert
    holds its model calls until then); ``fix(jobs, frames, outs)`` replaces the protected regions
    in every interpolated output (``0 < t < 1``). Live observes with ``analyse_now=False`` and runs
    :meth:`finish` on another thread once ``window_full``; :meth:`fix_frame` fixes one frame.
    """

    def __init__(self, spec: str | Sequence[tuple[int, int, int, int]], window: int = WINDOW):
        self.spec = spec
        self.window = window
        self.seen: list[torch.Tensor] = []
        self.protection: Protection | None = None

    @classmethod
    def from_option(cls, value: str | None) -> Protector | None:
        spec = parse_protect(value)
        return None if spec == "off" else cls(spec)

    @property
    def ready(self) -> bool:
        return self.protection is not None

    @staticmethod
    def warm() -> None:
        """Import the analysis's libraries now (SciPy takes most of a second the first time: live
        does it before its clock starts, not on a thread beside it)."""
        from scipy import ndimage  # noqa: F401

    @property
    def window_full(self) -> bool:
        return len(self.seen) >= self.window

    def observe(self, index: int, rgb: torch.Tensor, *, analyse_now: bool = True) -> None:
        """One decoded frame; the window analysed once full (``analyse_now=False``: the caller runs
        :meth:`finish` when :attr:`window_full`, e.g. on another thread; frames after are ignored)."""
        if self.protection is not None or self.window_full:
            return
        if self.spec != "auto":
            self.protection = boxes_protection(self.spec, rgb.shape[-2], rgb.shape[-1])
            return
        self.seen.append(rgb[:3].detach().cpu())  # analysed on the CPU, once
        if analyse_now and self.window_full:
            self.finish()

    def finish(self) -> None:
        """Analyse what was seen (also when the input ends before the window is full)."""
        if self.protection is None:
            self.protection = analyse(self.seen)  # one assignment: a reader on another thread sees all or nothing
            self.seen = []  # (observe returns on the protection first: nothing is added again)

    def fix_frame(self, out: torch.Tensor, a: torch.Tensor, b: torch.Tensor, t: float) -> torch.Tensor:
        """One interpolated frame (C, H, W) at ``t`` between consecutive source frames ``a`` and
        ``b``, its protected regions replaced; as it is while the analysis is not ready."""
        p = self.protection
        if p is None or p.empty or not 0 < t < 1:
            return out
        return torch.cat([apply(p, out[:3], a[:3], b[:3], float(t)), out[3:]], 0)

    def fix(self, jobs: Sequence, frames: Mapping[Hashable, torch.Tensor], outs: list[torch.Tensor]) -> list:
        if self.protection is None:
            self.finish()
        p = self.protection
        if p.empty:
            return outs
        fixed = []
        for j, o in zip(jobs, outs, strict=True):
            if 0 < j.t < 1:
                steps = float(j.b - j.a) if isinstance(j.a, int) and isinstance(j.b, int) else 1.0
                o = torch.cat([apply(p, o[:3], frames[j.a][:3], frames[j.b][:3], float(Fraction(j.t)), steps),
                               o[3:]], 0)
            fixed.append(o)
        return fixed

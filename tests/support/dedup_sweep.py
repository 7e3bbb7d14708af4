"""Sweep the repeated-frame detector (``--dedup auto``) over real coded media: does it ever remove motion?

Each case is a clip whose pictures are known exactly (made here in numpy, or rendered by the test-only
FFmpeg's ``testsrc2``/``testsrc``/``mandelbrot``/``smptebars``/``rgbtestsrc`` as raw RGB), coded with a real
encoder, then read back the way ``convert`` reads it: :func:`~filmrt.pipeline.time.cadence.analysis.analyse`
(the first frames: repeats and cadence, hence whether ``auto`` engages) and the decoder's frames through
the drop loop of :class:`~filmrt.pipeline.time.cadence.retime.TemporalStage` (what would be dropped). A
dropped frame whose source picture differs from the last kept frame's is motion removed.

Run: ``python tests/support/dedup_sweep.py OUT_DIR [--quick]`` (writes ``dedup-sweep.json`` and prints a
table; docs/broadcast.md quotes the summary).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import subprocess
import sys
import time
from fractions import Fraction
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from filmrt.bench.temporal import write_clip  # noqa: E402
from filmrt.pipeline.io.decode import PyAVSource  # noqa: E402
from filmrt.pipeline.options import ConvertOptions  # noqa: E402
from filmrt.pipeline.time.cadence.analysis import analyse, decide  # noqa: E402
from filmrt.pipeline.time.cadence.repeats import is_repeat  # noqa: E402
from support import ffmpeg_oracle  # noqa: E402

FRAMES = 32
SIZES = [(32, 32), (64, 48), (160, 90), (320, 180), (640, 360), (1280, 720), (1920, 1080)]
RATES = ["24000/1001", "25", "30000/1001", "50", "60000/1001", "60"]
#: name -> (codec, encoder options)
CODECS = {
    "x264-crf0": ("libx264", {"crf": "0", "preset": "veryfast"}),
    "x264-crf18": ("libx264", {"crf": "18", "preset": "veryfast"}),
    "x264-crf23": ("libx264", {"crf": "23", "preset": "veryfast"}),
    "x264-crf32": ("libx264", {"crf": "32", "preset": "veryfast"}),
    "x264-crf40": ("libx264", {"crf": "40", "preset": "veryfast"}),
    "x264-crf23-ultrafast": ("libx264", {"crf": "23", "preset": "ultrafast"}),
    "x265-crf28": ("libx265", {"crf": "28", "preset": "ultrafast", "x265-params": "log-level=none"}),
    "mpeg2-2M": ("mpeg2video", {"b": "2000k"}),
    "mpeg2-300k": ("mpeg2video", {"b": "300k"}),
    "mpeg4-500k": ("mpeg4", {"b": "500k"}),
    "vp9-crf40": ("libvpx-vp9", {"crf": "40", "b": "0", "deadline": "realtime", "cpu-used": "8"}),
    "ffv1": ("ffv1", {}),
}


# ---------------------------------------------------------------------------- pictures
def _texture(w: int, h: int, seed: int = 0) -> np.ndarray:
    """(H, W) float grey picture with detail at several scales (a still scene)."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    g = 120 + 40 * np.sin(xx * 0.21 + 0.5) * np.cos(yy * 0.17) + 20 * np.sin((xx + 2 * yy) * 0.05)
    blobs = rng.normal(0, 1, (h // 8 + 2, w // 8 + 2)).repeat(8, 0).repeat(8, 1)[:h, :w]
    return g + 12 * blobs


def _grey3(g: np.ndarray) -> np.ndarray:
    return np.repeat(np.clip(g, 0, 255).astype(np.uint8)[..., None], 3, -1)


def _shift(g: np.ndarray, dx: float) -> np.ndarray:
    """``g`` moved right by ``dx`` pixels (linear interpolation, edges clamped)."""
    w = g.shape[1]
    x = np.clip(np.arange(w, dtype=np.float32) - dx, 0, w - 1)
    x0 = np.floor(x).astype(int)
    x1 = np.minimum(x0 + 1, w - 1)
    f = x - x0
    return g[:, x0] * (1 - f) + g[:, x1] * f


def _square(bg: np.ndarray, x: float, size: int, colour=(240, 230, 20)) -> np.ndarray:
    img = _grey3(bg) if bg.ndim == 2 else bg.copy()
    h = img.shape[0]
    y0, x0 = (h - size) // 2, int(round(x))
    img[max(0, y0) : y0 + size, max(0, x0) : max(0, x0 + size)] = colour
    return img


_DIGITS = ["111101101101111", "010110010010111", "111001111100111", "111001111001111", "101101111001001",
           "111100111001111", "111100111101111", "111001001001001", "111101111101111", "111101111001111"]


def _clock(bg: np.ndarray, k: int) -> np.ndarray:
    """A frame counter (3x5 px digits, white) in the bottom-right corner of a still picture: only a
    few pixels change from frame to frame."""
    img = _grey3(bg)
    h, w = bg.shape
    for j, ch in enumerate(f"{k % 100:02d}"):
        glyph = np.array([int(c) for c in _DIGITS[int(ch)]], bool).reshape(5, 3)
        y0, x0 = h - 7, w - 10 + 4 * j
        if y0 < 0 or x0 < 0:
            continue
        region = img[y0 : y0 + 5, x0 : x0 + 3]
        region[glyph[: region.shape[0], : region.shape[1]]] = 235
    return img


def _ball(bg: np.ndarray, x: float, r: int = 2) -> np.ndarray:
    img = _grey3(bg)
    h, w = bg.shape
    yy, xx = np.mgrid[0:h, 0:w]
    img[(xx - x) ** 2 + (yy - h // 2) ** 2 <= r * r] = 235
    return img


def _isoluminant(w: int, h: int, x: float) -> np.ndarray:
    """A red square moving over a flat background of the same BT.709 luma (only chroma moves)."""
    red = np.array([220, 40, 90], np.float32)
    y = 0.2126 * red[0] + 0.7152 * red[1] + 0.0722 * red[2]
    img = np.full((h, w, 3), y, np.float32)
    size = max(4, h // 4)
    y0, x0 = (h - size) // 2, int(round(x))
    img[y0 : y0 + size, max(0, x0) : max(0, x0 + size)] = red
    return np.clip(img, 0, 255).astype(np.uint8)


def lavfi(name: str, w: int, h: int, rate: str, n: int) -> list[np.ndarray]:
    """``n`` RGB pictures of FFmpeg's source ``name`` rendered at WxH and ``rate``."""
    ff, _ = ffmpeg_oracle.find()
    r = subprocess.run([str(ff), "-v", "error", "-f", "lavfi", "-i", f"{name}=s={w}x{h}:r={rate}", "-frames:v",
                        str(n), "-f", "rawvideo", "-pix_fmt", "rgb24", "-"], capture_output=True, check=True,
                       timeout=300)
    return list(np.frombuffer(r.stdout, np.uint8).reshape(n, h, w, 3))


def pictures(source: str, w: int, h: int, rate: str, n: int = FRAMES) -> list[np.ndarray]:
    """The ground truth: ``n`` (H, W, 3) uint8 pictures of ``source``."""
    bg = _texture(w, h)
    rng = np.random.default_rng(7)
    s = max(w / 320, 0.25)  # speeds scale with the picture
    if source in ("testsrc2", "testsrc", "smptebars", "rgbtestsrc", "mandelbrot"):
        return lavfi(source, w, h, rate, n)
    if source == "testsrc2-twos":
        pics = lavfi("testsrc2", w, h, rate, n // 2 + 1)
        return [pics[i // 2] for i in range(n)]
    if source == "still":
        return [_grey3(bg)] * n
    if source == "noise-grain":  # fresh low-level noise every frame (grain): every frame differs
        return [_grey3(bg + rng.normal(0, 2.0, bg.shape)) for _ in range(n)]
    if source == "noise-full":
        return [rng.integers(0, 256, (h, w, 3), dtype=np.uint8) for _ in range(n)]
    if source == "pan-0.1px":
        return [_grey3(_shift(bg, 0.1 * i)) for i in range(n)]
    if source == "pan-0.5px":
        return [_grey3(_shift(bg, 0.5 * i)) for i in range(n)]
    if source == "pan-twos":
        return [_grey3(_shift(bg, 2.0 * s * (i // 2))) for i in range(n)]
    if source == "ball-5px":
        return [_ball(bg, w / 4 + i) for i in range(n)]
    if source == "ball-5px-flat":
        return [_ball(np.full((h, w), 90.0), w / 4 + i) for i in range(n)]
    if source == "square-32px":
        return [_square(np.full((h, w), 100.0), w / 4 + 2 * i, 32, (200, 200, 200)) for i in range(n)]
    if source == "clock":
        return [_clock(bg, i) for i in range(n)]
    if source == "isoluminant":
        return [_isoluminant(w, h, w / 8 + 2 * s * i) for i in range(n)]
    if source == "ticker":  # a band of text-like detail scrolling over a still
        band = _texture(w * 4, max(4, h // 8), seed=3)
        out = []
        for i in range(n):
            g = bg.copy()
            g[-band.shape[0] :] = band[:, int(3 * s * i) % (3 * w) :][:, :w]
            out.append(_grey3(g))
        return out
    if source == "ticker-twos":
        return [p for p in pictures("ticker", w, h, rate, n // 2 + 1) for _ in (0, 1)][:n]
    if source == "twos":
        return [_square(bg, w / 8 + 6 * s * (i // 2), max(4, h // 5)) for i in range(n)]
    if source == "threes":
        return [_square(bg, w / 8 + 6 * s * (i // 3), max(4, h // 5)) for i in range(n)]
    if source == "transfer-5th":  # a poor transfer: every fifth frame doubled (24 -> 30 by repetition)
        base = [_square(bg, w / 8 + 3 * s * i, max(4, h // 5)) for i in range(n)]
        return [base[i - i // 5] for i in range(n)]
    raise ValueError(source)


MOTION = ["testsrc2", "testsrc", "mandelbrot", "noise-grain", "noise-full", "pan-0.1px", "pan-0.5px", "ball-5px",
          "ball-5px-flat", "square-32px", "clock", "isoluminant", "ticker"]
REPEATS = ["twos", "threes", "testsrc2-twos", "pan-twos", "ticker-twos", "transfer-5th", "still", "smptebars",
           "rgbtestsrc"]


# ---------------------------------------------------------------------------- one case
def _key(p: np.ndarray) -> str:
    return hashlib.blake2b(p.tobytes(), digest_size=8).hexdigest()


def run_case(work: Path, source: str, size: tuple[int, int], rate: str, codec: str) -> dict:
    w, h = size
    pics = pictures(source, w, h, rate)
    keys = [_key(p) for p in pics]
    name, opts = CODECS[codec]
    ext = "mkv"
    path = work / f"{source}-{w}x{h}-{Fraction(rate)}-{codec}.{ext}".replace("/", "_")
    pix = "yuv420p"
    write_clip(path, pics, Fraction(rate), codec=name, options=opts, pix_fmt=pix, crf=int(opts.get("crf", 23)),
               preset=opts.get("preset", "veryfast"))
    rep = decide(analyse(path), ConvertOptions())
    truth = [a == b for a, b in zip(keys, keys[1:], strict=False)]
    called = []
    # the drop loop of TemporalStage, on the frames convert decodes (RGB on the CPU)
    src = PyAVSource(str(path))
    frames = list(src.frames())
    src.close()
    hold = getattr(rep, "repeat_hold", len(frames))  # before the fix: runs merged whole
    dropped, motion_removed, held_by_coder, kept, run = [], [], [], None, 0
    for i, f in enumerate(frames):
        if i > 0:
            called.append(is_repeat(frames[i - 1].rgb, f.rgb))
        if kept is not None and run < hold and is_repeat(frames[kept].rgb, f.rgb):
            dropped.append(i)
            run += 1
            if i < len(keys) and keys[i] != keys[kept]:  # the source changed: did the file keep it?
                same = bool((frames[kept].rgb == f.rgb).all())
                (held_by_coder if same else motion_removed).append(i)
            continue
        kept, run = i, 1
    stats = [pair_stats(frames[i - 1].rgb, frames[i].rgb) + [truth[i - 1] if i - 1 < len(truth) else None]
             for i in range(1, len(frames))]
    n = min(len(truth), len(called))
    false_rep = sum(called[i] and not truth[i] for i in range(n))
    missed = sum(truth[i] and not called[i] for i in range(n))
    engaged = rep.dedup == "on"
    return {"source": source, "size": f"{w}x{h}", "rate": rate, "codec": codec, "frames": len(frames),
            "true_repeats": sum(truth), "analysed_repeats": rep.frames_repeated, "called_repeats": sum(called),
            "false_repeats": false_rep, "missed_repeats": missed, "cadence": rep.repeat_cadence,
            "engaged": engaged, "would_drop": len(dropped), "motion_removed_if_on": len(motion_removed),
            "motion_removed": len(motion_removed) if engaged else 0,
            "held_by_coder": len(held_by_coder) if engaged else 0, "pairs": stats}


def pair_stats(a, b) -> list[float]:
    """Calibration figures of one pair (0..255 scale): the median and the largest 8x8 block mean of
    the per-pixel largest |change| of R, G, B, the largest 2x2 mean, and the same median on luma alone."""
    import torch.nn.functional as F

    d = (a - b).abs().amax(0)[None, None] * 255
    blocks = F.avg_pool2d(d, 8, ceil_mode=True).flatten()
    fine = F.avg_pool2d(d, 2, ceil_mode=True).flatten()
    w = a.new_tensor([0.2126, 0.7152, 0.0722]).view(3, 1, 1)
    dy = ((a - b) * w).sum(0).abs()[None, None] * 255
    yb = F.avg_pool2d(dy, 8, ceil_mode=True).flatten()
    return [round(float(x), 3) for x in (blocks.median(), blocks.max(), fine.max(), yb.median(), yb.max())]


def matrix(quick: bool) -> list[tuple[str, tuple[int, int], str, str]]:
    """Every source at every size (25 fps, x264 crf 23), at every rate (160x90) and through every
    coder (160x90, 25 fps); ``quick``: sizes up to 320x180 and 1280x720, three rates, five coders."""
    sources = MOTION + REPEATS
    sizes = [s for s in SIZES if s[0] <= 320 or s[0] == 1280] if quick else SIZES
    rates = ["24000/1001", "30000/1001", "60"] if quick else [r for r in RATES if r != "25"]
    codecs = ["x264-crf0", "x264-crf40", "x265-crf28", "mpeg2-300k", "vp9-crf40"] if quick else \
        [c for c in CODECS if c != "x264-crf23"]
    cases = []
    for s in sources:
        for size in sizes:
            if not (s == "mandelbrot" and size[0] > 640):  # slow to render, adds nothing
                cases.append((s, size, "25", "x264-crf23"))
        cases += [(s, (160, 90), rate, "x264-crf23") for rate in rates]
        cases += [(s, (160, 90), "25", codec) for codec in codecs]
    return cases


def main(argv=None) -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("out", type=Path)
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--only", default="", help="comma-separated sources")
    a = ap.parse_args(argv)
    a.out.mkdir(parents=True, exist_ok=True)
    work = a.out / "clips"
    work.mkdir(exist_ok=True)
    only = set(filter(None, a.only.split(",")))
    rows = []
    t0 = time.time()
    for case in matrix(a.quick):
        if only and case[0] not in only:
            continue
        try:
            row = run_case(work, *case)
        except Exception as e:  # noqa: BLE001 - a sweep reports every case
            row = {"source": case[0], "size": f"{case[1][0]}x{case[1][1]}", "rate": case[2], "codec": case[3],
                   "error": f"{type(e).__name__}: {e}"[:200]}
        rows.append(row)
        flag = "MOTION REMOVED" if row.get("motion_removed") else ""
        print(json.dumps(row), flag, flush=True)
        for p in work.glob("*"):
            p.unlink()
    (a.out / "dedup-sweep.json").write_text(json.dumps(rows, indent=1))
    print(f"{len(rows)} cases in {time.time() - t0:.0f} s")
    summary(rows)
    return 0


def summary(rows: list[dict]) -> None:
    """One line per source: cases, cases engaged, cases with motion removed, false repeats called."""
    print("| source | cases | frames | true repeats | called repeats | false repeats | engaged | motion removed |")
    print("|---|---|---|---|---|---|---|---|")
    for s in MOTION + REPEATS:
        rs = [r for r in rows if r["source"] == s and "error" not in r]
        if not rs:
            continue
        tot = {k: sum(r[k] for r in rs) for k in ("frames", "true_repeats", "called_repeats", "false_repeats",
                                                    "motion_removed")}
        eng = sum(r["engaged"] for r in rs)
        bad = sum(r["motion_removed"] > 0 for r in rs)
        print(f"| {s} | {len(rs)} | {tot['frames']} | {tot['true_repeats']} | {tot['called_repeats']} | "
              f"{tot['false_repeats']} | {eng} | {bad} ({tot['motion_removed']} frames) |")


if __name__ == "__main__":
    sys.exit(main())

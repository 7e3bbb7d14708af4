"""Temporal figures: judder of down-conversion, deinterlacing PSNR, slow-motion linearity.

Synthetic clips with known motion: a yellow square moving a fixed number of pixels per frame over
grey (:func:`square_frame`), found again by its colour (:func:`square_x`); the tests use them too.
``python -m filmrt.bench.temporal [OUT_DIR]`` converts them with ``blend`` on the CPU (its colour
centroid moves linearly in t: the judder measures the schedule) into ``temporal-<date>.md``/``.json``.
"""

from __future__ import annotations

import datetime
import itertools
import json
import tempfile
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

from filmrt.bench.report import figure_parser, figures_md, md_table, write_pair
from filmrt.options import RuntimeOptions
from filmrt.pipeline.convert import convert
from filmrt.pipeline.options import ConvertOptions, EncodeOptions
from filmrt.pipeline.time.cadence.fieldops import WEAVE, FilterChain
from filmrt.quality import psnr

#: the square is yellow on a grey background: its weight is ((R + G) / 2 - B) / SQ_WEIGHT, 0 on grey
SQUARE = (240, 230, 20)
SQ_WEIGHT = (SQUARE[0] + SQUARE[1]) / 2 - SQUARE[2]


def square_frame(x: float, width: int = 192, height: int = 108, size: int = 24, textured: bool = True) -> np.ndarray:
    """(H, W, 3) uint8: a yellow square whose left edge is at ``x`` (integer pixels) on a grey
    background, textured (fine detail in both directions: what deinterlacers find hard) or flat."""
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    grey = 128 + 50 * np.sin(xx * 0.55) * np.cos(yy * 0.75) + 25 * np.sin(xx * 0.2 + yy * 0.45) if textured \
        else np.full((height, width), 110, np.float32)
    img = np.repeat(grey[..., None], 3, -1)
    x0, y0 = int(round(x)), (height - size) // 2
    img[y0 : y0 + size, max(0, x0) : max(0, x0 + size)] = SQUARE
    return np.clip(img, 0, 255).astype(np.uint8)


def square_x(rgb) -> float:
    """Centroid (x, pixels) of the square in an RGB frame ((H, W, 3) uint8 or (3, H, W) float tensor)."""
    a = np.asarray(rgb.cpu() if hasattr(rgb, "cpu") else rgb, dtype=np.float32)
    if a.ndim == 3 and a.shape[0] == 3:
        a = a.transpose(1, 2, 0) * (255 if a.max() <= 1.0 else 1)
    w = np.clip(((a[..., 0] + a[..., 1]) / 2 - a[..., 2]) / SQ_WEIGHT, 0, 1)
    w[w < 0.1] = 0  # coding noise on the grey
    return float((w.sum(0) * np.arange(w.shape[1])).sum() / max(w.sum(), 1e-9))


def write_clip(path, pictures, fps, *, interlace: str | None = None, crf: int = 2, timecode: str | None = None,
               codec: str = "libx264", fmt: str | None = None, flag_only: bool = False, telecine: bool = False,
               preset: str = "ultrafast", pix_fmt: str = "yuv420p", options: dict | None = None,
               colour: tuple | None = None) -> str:
    """THE bench's writer of a clip: (H, W, 3) uint8 ``pictures`` (or PyAV frames in ``pix_fmt``, any
    iterable) encoded at ``fps`` (libx264 with ``crf`` and ``preset``, or ``codec``; ``options``: the
    encoder's, over those; ``colour``: the stream's (colorspace, range, primaries, trc) tags); ``interlace`` ("tff"/"bff"): woven into fields
    (two pictures per frame, fieldops.WEAVE), coded interlaced at fps / 2, field order tagged;
    with ``flag_only`` the pictures are not woven, only coded and tagged as interlaced (progressive
    content behind an interlaced flag, as many broadcast files are); ``telecine``: 3:2 pulldown
    (libavfilter's telecine, top field first) to 5/4 of ``fps`` (23.976p -> 29.97i), coded interlaced."""
    if telecine:
        interlace = "tff"
    fps = Fraction(fps)
    pictures = iter(pictures)  # a generator: a long clip is never all in memory
    first = next(pictures)
    pictures = itertools.chain([first], pictures)
    h, w = (first.height, first.width) if isinstance(first, av.VideoFrame) else first.shape[:2]
    rate = fps * Fraction(5, 4) if telecine else fps / 2 if interlace and not flag_only else fps
    with av.open(str(path), "w", format=fmt) as c:
        vs = c.add_stream(codec, rate=rate)
        vs.width, vs.height, vs.pix_fmt = w, h, pix_fmt
        vs.time_base = vs.codec_context.time_base = 1 / rate
        opts = {**({"preset": preset, "crf": str(crf)} if codec == "libx264" else {}), **(options or {})}
        if colour:
            cc = vs.codec_context
            cc.colorspace, cc.color_range, cc.color_primaries, cc.color_trc = colour
        if interlace:
            opts["flags"] = "+ildct+ilme"
            vs.codec_context.field_order = 2 if interlace == "tff" else 3  # AV_FIELD_TT / AV_FIELD_BB
        vs.codec_context.options = opts
        if timecode:
            vs.metadata["timecode"] = timecode
        chain = [("setparams", f"field_mode={interlace}")] if flag_only else WEAVE.get(interlace)
        if telecine:
            chain = [("setparams", "field_mode=tff"), ("telecine", "first_field=top:pattern=23")]
        weave = FilterChain(chain, width=w, height=h, time_base=1 / fps, rate=fps, fmt="yuv420p") if chain else None
        n = 0

        def encode(frame):
            nonlocal n
            frame.pts, frame.time_base = n, 1 / rate
            n += 1
            for p in vs.encode(frame):
                c.mux(p)

        for i, pic in enumerate(pictures):
            f = pic if isinstance(pic, av.VideoFrame) else av.VideoFrame.from_ndarray(pic, format="rgb24").reformat(
                format=pix_fmt)
            f.pts, f.time_base = i, 1 / fps
            for g in weave.push(f) if weave else [f]:
                encode(g)
        for g in weave.flush() if weave else []:
            encode(g)
        for p in vs.encode(None):
            c.mux(p)
    return str(path)


def displacements(xs) -> np.ndarray:
    return np.diff(np.asarray(xs, dtype=np.float64))


def judder(xs) -> dict:
    """Per-frame displacement of the square: mean, spread (max - min) and largest jump."""
    d = displacements(xs)
    return {"mean_px": round(float(d.mean()), 3), "spread_px": round(float(d.max() - d.min()), 3),
            "max_px": round(float(d.max()), 3), "min_px": round(float(d.min()), 3)}


def _decode(path) -> list:
    with av.open(str(path)) as c:
        return [f.to_ndarray(format="rgb24") for f in c.decode(video=0)]


def run(out_dir: Path) -> dict:
    """All figures (see the module docstring); returns them and writes the md/json files."""
    with tempfile.TemporaryDirectory(prefix="filmrt-temporal-") as tmp:
        figures = _figures(Path(tmp))
    date = datetime.date.today().isoformat()
    intro = ["Command: `.venv/bin/python -m filmrt.bench.temporal bench/results` (blend model unless RIFE 4.25 is "
             "named, CPU; 192x108 synthetic clips: a yellow square moving a fixed number of pixels per frame over "
             "grey, textured for the interlacing cases; see bench/temporal.py). Displacements: mean, spread (max - "
             "min), max, min over the output frames, the held tail left out.", ""]
    write_pair(out_dir / f"temporal-{date}.json", figures, figures_md(
        f"Temporal figures ({date})", intro, md_table(["case", "figure"], [[k, _cell(v)] for k, v in figures.items()])))
    return figures


def _opts(fps: str, model: str = "blend", **kw) -> ConvertOptions:
    return ConvertOptions(fps=fps, runtime=RuntimeOptions(model=model),
                          encode=EncodeOptions(preset="ultrafast", crf=2), **kw)


def _figures(work: Path) -> dict:  # one case after the other; long, but each block is one figure
    figures: dict = {}

    def moved(src, name: str, opts: ConvertOptions, keep: slice) -> dict:
        """``src`` converted to ``name``: the square's displacement per frame over the output's ``keep`` frames."""
        convert(src, work / name, opts)
        return judder([square_x(f) for f in _decode(work / name)][keep])

    src = write_clip(work / "p5994.mp4", [square_frame(2 * i, textured=False) for i in range(80)],
                     Fraction(60000, 1001))
    for model, down in (("blend", "interp"), ("blend", "nearest"), ("rife-4.25", "interp")):
        # 2 px per source frame = 2.3976 px per output frame
        figures[f"59.94p -> 50p, --down {down} ({model}): displacement per output frame (px)"] = moved(
            src, f"down-{down}.mp4", _opts("50", model, down=down), slice(-1))
    src = write_clip(work / "p25.mp4", [square_frame(4 * i, textured=False) for i in range(40)], 25)
    figures["25p --slowmo 4 at 25: displacement per output frame (px; 4 px per source frame)"] = moved(
        src, "slow.mp4", _opts("25", slowmo="4"), slice(-4))
    twos = [square_frame(6 * (i // 2), textured=False) for i in range(40)]
    src = write_clip(work / "twos.mp4", twos, 25)
    for dedup in ("auto", "off"):
        figures[f"animation on twos 25 -> 50, --dedup {dedup}: displacement (px)"] = moved(
            src, f"twos-{dedup}.mp4", _opts("50", dedup=dedup), slice(-4))
    originals = [square_frame(6 * i) for i in range(28)]  # the square stays inside the 192 px frame
    for order in ("tff", "bff"):
        woven = write_clip(work / f"i25{order}.mp4", originals, 50, interlace=order)
        for mode in ("auto", "yadif", "off"):
            fps = "25" if mode == "off" else "50"
            convert(woven, work / f"d{order}{mode}.mp4", _opts(fps, deinterlace=mode))
            got = _decode(work / f"d{order}{mode}.mp4")
            pairs = [(got[i], originals[i * (2 if mode == "off" else 1)]) for i in range(1, len(got) - 1)]
            figures[f"25i {order} -> {fps}p --deinterlace {mode}: PSNR vs 50p original (dB)"] = round(float(
                np.mean([psnr(g, o) for g, o in pairs])), 2)
    # the broadcast chains: 25i -> 59.94p; 1080i50 -> 1080i59.94 (read back at field rate); film -> 59.94p
    woven = work / "i25tff.mp4"
    for model in ("blend", "rife-4.25"):
        figures[f"25i -> 59.94p ({model}): displacement per output frame (px; 6 px per field = 5.005)"] = moved(
            woven, f"i25-5994-{model}.mp4", _opts("59.94", model), slice(1, -2))
    convert(woven, work / "i5994.mkv", _opts("59.94", interlace="tff"))
    figures["25i -> 29.97i (--fps 59.94 --interlace tff), deinterlaced again: displacement per field (px)"] = moved(
        work / "i5994.mkv", "i5994-back.mp4", _opts("59.94"), slice(1, -2))
    film = [square_frame(3 * i) for i in range(48)]
    src = write_clip(work / "telecined.mp4", film, Fraction(24000, 1001), telecine=True)
    res = convert(src, work / "ivtc.mp4", _opts("24000/1001"))
    got = _decode(work / "ivtc.mp4")
    figures["29.97i telecined -> 23.976p: frames / interpolated / max centroid error (px)"] = [
        res.frames_out, res.interpolated, round(max(abs(square_x(g) - square_x(o)) for g, o in zip(got, film, strict=True)), 3)]
    figures["29.97i telecined -> 59.94p: displacement per output frame (px; 3 px per film frame = 1.2)"] = moved(
        src, "film-5994.mp4", _opts("59.94"), slice(-3))
    return figures


def _cell(v) -> str:
    if isinstance(v, dict):
        return f"mean {v['mean_px']}, spread {v['spread_px']} ({v['min_px']} .. {v['max_px']})"
    if isinstance(v, list):
        return " / ".join(str(x) for x in v)
    return str(v)


if __name__ == "__main__":
    parser = figure_parser("temporal", __doc__)
    parser.add_argument("out_dir", nargs="?", default="bench/results", help="where temporal-<date>.md and .json go")
    print(json.dumps(run(Path(parser.parse_args().out_dir)), indent=2))

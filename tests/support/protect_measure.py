"""Measure ``--protect`` on the synthetic broadcast composite (:mod:`support.broadcast`).

The drop-frame protocol on the composite: the source is every other frame (0, 2, 4, ...), each odd
frame is interpolated at t = 1/2 by the model, once plain and once with the protection found by
:func:`filmrt.pipeline.time.protect.analyse` on the first WINDOW source frames, and scored against
the true odd frame: PSNR inside the graphics rectangles (logo, ticker, text) and outside them.

Run: ``python tests/support/protect_measure.py [--model rife-4.25] [--pairs 8]`` (prints a table and
JSON; docs/quality.md quotes it).
"""

from __future__ import annotations

import argparse
import json
import math
import platform
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from filmrt.engine import open_interpolator  # noqa: E402
from filmrt.options import RuntimeOptions  # noqa: E402
from filmrt.pipeline.time.protect import WINDOW, analyse, apply  # noqa: E402
from support.broadcast import composite, regions  # noqa: E402


def _t(img: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(img).permute(2, 0, 1).float() / 255.0


def _psnr_in(pred: np.ndarray, truth: np.ndarray, mask: np.ndarray) -> float:
    d = pred[mask].astype(np.float64) - truth[mask]
    return -10 * math.log10(max(float(np.mean(d * d)) / 255.0**2, 1e-10))


def _frames(n: int, ticker_speed: int, codec: str | None) -> list[np.ndarray]:
    """Frames 0 .. n-1 of the composite, (H, W, 3) uint8; through ``codec`` (e.g. libx264) and back
    when given (the truth then carries the codec's loss too, as a real clip's does)."""
    if codec is None:
        return [composite(k, ticker_speed=ticker_speed) for k in range(n)]
    import tempfile

    from filmrt.pipeline.io.decode import PyAVSource
    from support.broadcast import write_composite

    with tempfile.TemporaryDirectory() as d:
        s = PyAVSource(write_composite(Path(d) / "src.mkv", n, codec=codec, ticker_speed=ticker_speed))
        try:
            return [(f.rgb[:3].float().cpu().permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)
                    for f in s.frames()]
        finally:
            s.close()


def measure(model: str = "blend", pairs: int = 8, ticker_speed: int = 4, codec: str | None = None) -> dict:
    full = _frames(2 * max(WINDOW, pairs + 1), ticker_speed, codec)
    src = [_t(f) for f in full[0::2]]
    t0 = time.perf_counter()
    prot = analyse(src[:WINDOW])
    analyse_s = time.perf_counter() - t0
    reg = regions()
    interp = open_interpolator(RuntimeOptions(model=model, device="cpu"))
    rows = {"plain": [], "protected": []}
    try:
        for k in range(pairs):
            a, b = src[k], src[k + 1]
            out = interp.interpolate(a[None], b[None], [0.5], keys_a=[k], keys_b=[k + 1])[0].clamp(0, 1)
            prot_out = apply(prot, out, a, b, 0.5)
            truth = full[2 * k + 1]
            for name, o in (("plain", out), ("protected", prot_out)):
                u8 = (o.permute(1, 2, 0).numpy() * 255).round().clip(0, 255).astype(np.uint8)
                rows[name].append({m: _psnr_in(u8, truth, reg[m] if m != "outside" else ~reg["graphics"])
                                   for m in ("logo", "ticker", "text", "graphics", "outside")})
    finally:
        interp.close()
    table = {name: {m: float(np.mean([r[m] for r in rs])) for m in rs[0]} for name, rs in rows.items()}
    return {"model": model, "pairs": pairs, "size": f"{reg['graphics'].shape[1]}x{reg['graphics'].shape[0]}",
            "ticker_speed_px_per_frame": ticker_speed, "source_codec": codec or "none (lossless)", "found": prot.describe(), "analyse_s": analyse_s,
            "psnr_db": table, "machine": f"{platform.machine()} {platform.processor() or ''}".strip(),
            "torch_threads": torch.get_num_threads()}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="blend")
    ap.add_argument("--pairs", type=int, default=8)
    ap.add_argument("--codec", default=None, help="pass the source through this encoder (e.g. libx264) first")
    ap.add_argument("--ticker-speed", type=int, default=4)
    args = ap.parse_args()
    res = measure(args.model, args.pairs, args.ticker_speed, args.codec)
    print(res["found"])
    print(f"{'':10s}" + "".join(f"{m:>10s}" for m in res["psnr_db"]["plain"]))
    for name, row in res["psnr_db"].items():
        print(f"{name:10s}" + "".join(f"{v:10.2f}" for v in row.values()))
    print(json.dumps(res))


if __name__ == "__main__":
    main()


def measure_clip(path: str, model: str = "blend", pairs: int = 12, ss: float | None = None) -> dict:
    """The same on a real clip (no graphics known): whole-frame PSNR of the odd frames, plain vs
    ``auto`` protection found on the first WINDOW even frames (what protection costs where it finds
    nothing to protect, or where it finds something that is not a graphic)."""
    from filmrt.pipeline.io.decode import PyAVSource

    s = PyAVSource(path, ss=ss)
    frames = []
    try:
        for f in s.frames():
            frames.append(f.rgb[:3].float().cpu())
            if len(frames) >= 2 * max(pairs, WINDOW) + 1:
                break
    finally:
        s.close()
    src, odd = frames[0::2], frames[1::2]
    prot = analyse(src[:WINDOW])
    interp = open_interpolator(RuntimeOptions(model=model, device="cpu"))
    res = {"plain": [], "protected": []}
    try:
        for k in range(min(pairs, len(odd), len(src) - 1)):
            out = interp.interpolate(src[k][None], src[k + 1][None], [0.5], keys_a=[k], keys_b=[k + 1])[0].clamp(0, 1)
            truth = (odd[k].permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)
            full = np.ones(truth.shape[:2], bool)
            for name, o in (("plain", out), ("protected", apply(prot, out, src[k], src[k + 1], 0.5))):
                u8 = (o.permute(1, 2, 0).numpy() * 255).round().clip(0, 255).astype(np.uint8)
                res[name].append(_psnr_in(u8, truth, full))
    finally:
        interp.close()
    return {"clip": path, "model": model, "found": prot.describe(),
            "psnr_db": {k: float(np.mean(v)) for k, v in res.items()}}


def figure(path: str, model: str = "rife-4.25", k: int = 3) -> None:
    """A PNG for the docs: the composite's frame 2k+1 (truth), the model's, the protected one, side by
    side (x2, nearest), with the graphics' rectangles."""
    from PIL import Image

    src = [_t(composite(2 * j)) for j in range(WINDOW)]
    prot = analyse(src)
    interp = open_interpolator(RuntimeOptions(model=model, device="cpu"))
    try:
        out = interp.interpolate(src[k][None], src[k + 1][None], [0.5], keys_a=[k], keys_b=[k + 1])[0].clamp(0, 1)
    finally:
        interp.close()
    pics = [composite(2 * k + 1)] + [(o.permute(1, 2, 0).numpy() * 255).round().clip(0, 255).astype(np.uint8)
                                     for o in (out, apply(prot, out, src[k], src[k + 1], 0.5))]
    gap = np.full((pics[0].shape[0], 4, 3), 255, np.uint8)
    row = np.concatenate([pics[0], gap, pics[1], gap, pics[2]], 1)
    Image.fromarray(row.repeat(2, 0).repeat(2, 1)).save(path, optimize=True)

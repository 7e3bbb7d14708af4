"""Per-format quality of ``convert``: copied and interpolated frames for mezzanine, HDR and alpha formats.

The ``N`` even pictures of a rendered sequence (:func:`render`: a square moving over a texture) are
encoded in each format of :data:`FORMATS`, converted x2 with ``--codec auto`` and decoded: copied
frames are compared with the decoded source (the output encoding's cost), interpolated ones with
the picture at their time, on the alpha plane too where there is one; :data:`LEGACY` formats also
as 4:2:0 8-bit H.264. ``python -m filmrt.bench.formats --out bench/results/formats-DATE``.
"""

from __future__ import annotations

import platform
import sys
import tempfile
import time
from pathlib import Path

import av
import numpy as np
import torch

from filmrt.bench.e2e import decode_frames
from filmrt.bench.report import figure_parser, figures_md, table, write_pair
from filmrt.bench.temporal import write_clip
from filmrt.options import RuntimeOptions
from filmrt.pipeline.convert import convert
from filmrt.pipeline.io.colour import ColourSpec
from filmrt.pipeline.io.formats import PixelLayout
from filmrt.pipeline.io.pixels import rgb_to_frame
from filmrt.pipeline.options import ConvertOptions, EncodeOptions
from filmrt.quality import psnr
from filmrt.sizes import parse_size

HDR10 = ("log-level=error:master-display=G(13250,34500)B(7500,3000)R(34000,16000)WP(15635,16450)"
         "L(10000000,50):max-cll=1000,400")
#: name -> (encoder, pixel format, encoder options, container, colour (primaries, trc) or None)
FORMATS = {
    "ProRes 422 HQ 10-bit 4:2:2": ("prores_ks", "yuv422p10le", {"profile": "hq"}, "mov", None),
    "DNxHR HQX 10-bit 4:2:2": ("dnxhd", "yuv422p10le", {"profile": "dnxhr_hqx"}, "mov", None),
    "H.264 High 4:4:4 10-bit": ("libx264", "yuv444p10le", {"crf": "4", "preset": "fast"}, "mkv", None),
    "HEVC Main10 PQ + HDR10": ("libx265", "yuv420p10le", {"crf": "8", "preset": "fast", "x265-params": HDR10},
                               "mkv", (9, 16)),
    "FFV1 RGB 10-bit": ("ffv1", "gbrp10le", {}, "mkv", None),
    "ProRes 4444 + alpha": ("prores_ks", "yuva444p10le", {"profile": "4444"}, "mov", None),
    "FFV1 4:2:0 + alpha": ("ffv1", "yuva420p", {}, "mkv", None),
    "QuickTime RLE ARGB": ("qtrle", "argb", {}, "mov", None),
}
#: formats also converted to 4:2:0 8-bit H.264, for comparison
LEGACY = ("ProRes 422 HQ 10-bit 4:2:2", "FFV1 RGB 10-bit")


def render(k: int, total: int, w: int, h: int) -> torch.Tensor:
    """(4, H, W) RGBA picture ``k`` of ``total``: fine texture + gradient; an opaque square moving
    right at constant speed over a transparent background (alpha 1 on the square only)."""
    yy, xx = torch.meshgrid(torch.arange(h, dtype=torch.float32), torch.arange(w, dtype=torch.float32),
                            indexing="ij")
    r = 0.2 + 0.5 * xx / w + 0.08 * torch.sin(xx * 0.7) * torch.cos(yy * 0.5)
    g = 0.25 + 0.4 * yy / h + 0.06 * torch.sin((xx + yy) * 0.45)
    b = 0.35 + 0.1 * torch.cos(xx * 0.3 - yy * 0.2)
    s = h // 3
    x0 = int(round((w - s - 8) * k / max(1, total - 1))) + 4
    y0 = (h - s) // 2
    rgb = torch.stack([r, g, b])
    sq = (slice(y0, y0 + s), slice(x0, x0 + s))
    rgb[0][sq], rgb[1][sq] = 0.9 - 0.2 * torch.sin(yy[sq] * 0.9), 0.85 - 0.15 * torch.cos(xx[sq] * 0.8)
    rgb[2][sq] = 0.2
    a = torch.zeros(1, h, w)
    a[0][sq] = 1.0
    return torch.cat([rgb.clamp(0, 1), a])


def encode(path: Path, codec: str, pix: str, opts: dict, tags, pictures: list[torch.Tensor]) -> None:
    layout = PixelLayout.of(pix)
    spec = ColourSpec("bt2020" if tags else "bt709", False, layout.bits, *(tags or (1, 1)))
    colour = (0 if layout.rgb else spec.colorspace, spec.color_range, spec.primaries, spec.trc)

    def frames():
        for p in pictures:
            f = rgb_to_frame(p if layout.alpha else p[:3], layout, spec)
            f.colorspace, f.color_range = colour[:2]
            yield f

    write_clip(path, frames(), 25, codec=codec, pix_fmt=pix, options=opts, colour=colour)


def frames_of(path: Path, alpha: bool) -> list[torch.Tensor]:
    return decode_frames(str(path), torch.device("cpu"), alpha=alpha)[0]


def measure(name: str, src: Path, out: Path, truth: list[torch.Tensor], model: str, **encode_kw) -> dict:
    alpha = PixelLayout.of(FORMATS[name][1]).alpha and not encode_kw
    t0 = time.perf_counter()
    res = convert(src, out, ConvertOptions(fps="x2", runtime=RuntimeOptions(model=model),
                                           encode=EncodeOptions(preset="fast", **encode_kw)))
    seconds = time.perf_counter() - t0
    s, o = frames_of(src, alpha), frames_of(out, alpha)
    row = {"format": name + ("" if not encode_kw else " as 4:2:0 8-bit"), "output": res.video["output"],
           "dropped": res.dropped, "seconds": round(seconds, 2),
           "copied_psnr": min(psnr(o[2 * i][:3], s[i][:3]) for i in range(len(s))),
           "interpolated_psnr": float(np.mean([psnr(o[k][:3], truth[k][:3]) for k in range(1, len(o) - 1, 2)]))}
    if alpha:
        row["alpha_copied_psnr"] = min(psnr(o[2 * i][3:], s[i][3:]) for i in range(len(s)))
        row["alpha_interpolated_psnr"] = float(np.mean([psnr(o[k][3:], truth[k][3:])
                                                        for k in range(1, len(o) - 1, 2)]))
    return row


def run(width: int, height: int, frames: int, model: str) -> list[dict]:
    truth = [render(k, 2 * frames - 1, width, height) for k in range(2 * frames - 1)]
    rows = []
    with tempfile.TemporaryDirectory() as d:
        for name, (codec, pix, opts, ext, tags) in FORMATS.items():
            src = Path(d) / f"src.{ext}"
            encode(src, codec, pix, opts, tags, truth[::2])
            rows.append(measure(name, src, Path(d) / f"out.{ext}", truth, model))
            if name in LEGACY:
                rows.append(measure(name, src, Path(d) / "legacy.mkv", truth, model, codec="libx264",
                                    pix_fmt="yuv420p"))
    return rows


#: the table: (header, field or function of a row, format)
COLS = [("source format", "format"),
        ("output", lambda r: f"{r['output']['codec']}{' ' + r['output']['profile'] if r['output']['profile'] else ''} "
                             f"{r['output']['pix_fmt']}"),
        ("copied PSNR", "copied_psnr", ".1f"), ("interpolated PSNR", "interpolated_psnr", ".1f"),
        ("alpha copied / interpolated", lambda r: f"{r['alpha_copied_psnr']:.1f} / {r['alpha_interpolated_psnr']:.1f}"
         if "alpha_copied_psnr" in r else "-"), ("dropped", lambda r: "; ".join(r["dropped"]) or "-")]


def markdown(rows: list[dict], command: str, meta: dict) -> str:
    return figures_md(f"convert: quality per format ({meta['date']})", [
        f"Command: `{command}`", "", f"{meta['width']}x{meta['height']}, {meta['frames']} source frames -> x2 with "
        f"{meta['model']} on {meta['machine']}; PSNR in dB over RGB in [0, 1] (alpha: over the alpha plane). Copied = "
        "output frame vs decoded source frame; interpolated = output frame vs the ground-truth picture at that time.",
        ""], table(COLS, rows))


def main(argv=None) -> int:
    p = figure_parser("formats", __doc__)
    p.add_argument("--out", required=True, help="OUT.md and OUT.json are written")
    p.add_argument("--size", default="256x144")
    p.add_argument("--frames", type=int, default=8)
    p.add_argument("--model", default="rife")
    a = p.parse_args(argv)
    size = parse_size(a.size)
    rows = run(size.width, size.height, a.frames, a.model)
    meta = {"date": time.strftime("%Y-%m-%d"), "width": size.width, "height": size.height, "frames": a.frames,
            "model": a.model, "machine": f"{platform.processor() or platform.machine()}, torch {torch.__version__}, "
                                         f"PyAV {av.__version__} (FFmpeg {av.ffmpeg_version_info})"}
    command = "python -m filmrt.bench.formats " + " ".join(argv if argv is not None else sys.argv[1:])
    md = markdown(rows, command, meta)
    write_pair(Path(a.out + ".json"), {"meta": meta, "command": command, "rows": rows}, md)
    print(md)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Sweep ``filmrt convert`` over pixel formats, colour/range tags, codecs and options, and check
each output as a user would (PyAV): frame count, pixel format, colour tags, source frames' codes,
blended frames between their neighbours, mean levels (range kept), grey-patch chroma (no casts).

Not a test (about 3-6 min on 2 cores): run it by hand, optionally against a second checkout
(an older commit with its own venv) to see what changed::

    .venv/bin/python tests/support/planes_sweep.py /tmp/sweep --json new.json [-k PATTERN]
    .venv/bin/python tests/support/planes_sweep.py /tmp/sweep --root /path/to/old --json old.json
    .venv/bin/python tests/support/planes_sweep.py /tmp/sweep --compare new.json old.json

Inputs are 160x96 testsrc2 / smptehdbars clips, 1 s at 25 fps, made by the FFmpeg oracle
(:mod:`ffmpeg_oracle`). Each row printed: case, status, what was measured; ``FAIL`` lines say
(expected, got). ``--compare`` prints the cases whose output got worse (or changed tags/count) in NEW.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

import av
import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).parent))
import ffmpeg_oracle  # noqa: E402

from filmrt.pipeline.io.planes import frame_to_rgb  # noqa: E402

SIZE = "160x96"
#: name -> (lavfi source, ffmpeg output args, extension)
INPUTS = {
    "h264-420-709": ("testsrc2", "-c:v libx264 -crf 12 -pix_fmt yuv420p -colorspace bt709 -color_primaries bt709 "
                     "-color_trc bt709 -color_range tv", "mp4"),
    "h264-420-601": ("testsrc2", "-c:v libx264 -crf 12 -pix_fmt yuv420p -colorspace smpte170m "
                     "-color_primaries smpte170m -color_trc smpte170m", "mp4"),
    "h264-420-untagged": ("testsrc2", "-c:v libx264 -crf 12 -pix_fmt yuv420p", "mp4"),
    "h264-j420-pc": ("smptehdbars", "-c:v libx264 -crf 12 -pix_fmt yuvj420p -color_range pc -colorspace bt709", "mp4"),
    "h264-420-pc": ("smptehdbars", "-c:v libx264 -crf 12 -pix_fmt yuv420p -color_range pc -colorspace bt709", "mp4"),
    "h264-422": ("smptehdbars", "-c:v libx264 -crf 12 -pix_fmt yuv422p -colorspace bt709", "mp4"),
    "h264-444": ("testsrc2", "-c:v libx264 -crf 12 -pix_fmt yuv444p -colorspace bt709", "mp4"),
    "h264-420p10": ("smptehdbars", "-c:v libx264 -crf 12 -pix_fmt yuv420p10le -colorspace bt709", "mp4"),
    "hevc-pq": ("smptehdbars", "-c:v libx265 -crf 12 -pix_fmt yuv420p10le -colorspace bt2020nc "
                "-color_primaries bt2020 -color_trc smpte2084 -x265-params log-level=none", "mp4"),
    "hevc-hlg": ("testsrc2", "-c:v libx265 -crf 12 -pix_fmt yuv420p10le -colorspace bt2020nc "
                 "-color_primaries bt2020 -color_trc arib-std-b67 -x265-params log-level=none", "mp4"),
    "prores-422p10": ("smptehdbars", "-c:v prores_ks -profile:v 2 -pix_fmt yuv422p10le -colorspace bt709 "
                      "-color_primaries bt709 -color_trc bt709", "mov"),
    "dnxhr-hq": ("testsrc2", "-s 256x144 -c:v dnxhd -profile:v dnxhr_hq -pix_fmt yuv422p -colorspace bt709", "mov"),
    "ffv1-420": ("testsrc2", "-c:v ffv1 -pix_fmt yuv420p -colorspace bt709", "mkv"),
    "ffv1-j420": ("smptehdbars", "-c:v ffv1 -pix_fmt yuvj420p -color_range pc", "mkv"),
    "ffv1-422p10": ("smptehdbars", "-c:v ffv1 -pix_fmt yuv422p10le -colorspace bt709", "mkv"),
    "ffv1-gray": ("smptehdbars", "-c:v ffv1 -pix_fmt gray", "mkv"),
    "ffv1-gbrp": ("testsrc2", "-c:v ffv1 -pix_fmt gbrp", "mkv"),
    "png-rgb24": ("testsrc2", "-c:v png -pix_fmt rgb24", "mov"),
    "mpeg2-420": ("smptehdbars", "-c:v mpeg2video -q:v 2 -pix_fmt yuv420p", "mpg"),
    "raw-nv12": ("testsrc2", "-c:v rawvideo -pix_fmt nv12", "nut"),
}
#: option set -> (extra args, output extension or None: the input's)
OPTIONS = {  # --deinterlace off: idet calls testsrc2 at this size tff (bwdif would change every frame)
    "blend": ("--model blend --fps 50 --deinterlace off", None),
    "blend-ffv1": ("--model blend --fps 50 --deinterlace off --codec ffv1", "mkv"),
    "blend-420p": ("--model blend --fps 50 --deinterlace off --pix-fmt yuv420p --codec libx264 --crf 12", "mp4"),
    "blend-ss": ("--model blend --fps 50 --deinterlace off --ss 0.5", None),
    "blend-slowmo": ("--model blend --slowmo 2 --deinterlace off", None),
    "blend-interlace": ("--model blend --fps 50 --deinterlace off --interlace tff --codec libx264 --crf 12", "mp4"),
    "blend-bwdif": ("--model blend --fps 50 --deinterlace bwdif", None),
    "blend-explicit-torch": ("--model blend --backend torch --fps 50 --deinterlace off", None),
}
RIFE_ON = {"h264-420-709", "h264-j420-pc", "hevc-pq", "ffv1-gray"}
ALL_OPTIONS = {**OPTIONS, "rife": ("--model rife-4.25 --backend torch --fps 50 --deinterlace off", None)}


def make_input(d: Path, name: str) -> Path:
    src, args, ext = INPUTS[name]
    out = d / f"in-{name}.{ext}"
    if not out.exists():
        ff, _ = ffmpeg_oracle.find()
        cmd = [str(ff), "-v", "error", "-y", "-f", "lavfi", "-i", f"{src}=size={SIZE}:rate=25:duration=1",
               *args.split(), str(out)]
        subprocess.run(cmd, check=True)
    return out


def frames(path: Path) -> tuple[list, av.VideoFrame | None]:
    """Decoded frames as (native planes list, rgb tensor, pts seconds) and the first frame's tags."""
    out = []
    with av.open(str(path)) as c:
        s = c.streams.video[0]
        for f in c.decode(s):
            planes = None
            if f.format.name.startswith("yuv"):
                planes = [np.frombuffer(p, np.uint8 if f.format.components[0].bits <= 8 else np.uint16)
                          .reshape(p.height, p.line_size // (1 if f.format.components[0].bits <= 8 else 2))
                          [:, : p.width].astype(np.int32) for p in f.planes[:3]]
            rgb, _ = frame_to_rgb(f, None, torch.device("cpu"))
            out.append(dict(planes=planes, rgb=rgb, t=float(f.time or 0), fmt=f.format.name,
                            tags=(int(f.color_range), int(f.color_primaries), int(f.color_trc), int(f.colorspace))))
    return out


def psnr(a: torch.Tensor, b: torch.Tensor) -> float:
    mse = float(((a - b) ** 2).mean())
    return 99.0 if mse < 1e-12 else 10 * np.log10(1 / mse)


def check(src: list, out: list, opt: str, outpath: Path) -> tuple[list[str], dict]:
    """Findings (expected, got) and the figures."""
    bad, fig = [], {}
    ss = 0.5 if opt == "blend-ss" else 0.0
    kept = [f for f in src if f["t"] - src[0]["t"] >= ss - 1e-6]  # --ss counts from the first picture
    n_exp = 2 * len(kept)
    if opt == "blend-interlace":
        n_exp = len(kept)
    fig["n"] = len(out)
    if not (n_exp - 2 <= len(out) <= n_exp):
        bad.append(f"frames: expected ~{n_exp}, got {len(out)}")
    if opt in ("blend", "blend-ss", "blend-slowmo", "blend-explicit-torch", "rife") and out[0]["fmt"] != src[0]["fmt"]:
        fig["fmt"] = f"{src[0]['fmt']}->{out[0]['fmt']}"
    # tags: range/primaries/trc/matrix as the source's (unspecified may become a guess)
    st, ot = src[0]["tags"], out[0]["tags"]
    fig["tags"] = f"{st}->{ot}"
    for i, name in enumerate(("range", "primaries", "trc", "matrix")):
        if st[i] not in (0, 2) and ot[i] != st[i] and not src[0]["fmt"].startswith(("gbr", "rgb", "gray")):
            bad.append(f"{name} tag: expected {st[i]}, got {ot[i]}")
    if opt in ("blend-interlace", "blend-bwdif"):  # pictures changed on purpose: levels only
        pairs = zip(src, out if opt == "blend-interlace" else out[::2], strict=False)
        m = max((o["rgb"].mean((1, 2)) - s["rgb"].mean((1, 2))).abs().max().item() for s, o in pairs)
        fig["mean_shift_max"] = round(m, 4)
        if m > 0.03:
            bad.append(f"mean level (RGB 0..1): expected shift <= 0.03, got {m:.3f}")
        return bad, fig
    # source frames at even output indices; blends between
    ps, pb, dmean = [], [], []
    for k, s in enumerate(kept):
        if 2 * k < len(out):
            o = out[2 * k]
            ps.append(psnr(s["rgb"], o["rgb"]))
            dmean.append((o["rgb"].mean((1, 2)) - s["rgb"].mean((1, 2))).abs().max().item())
        if 2 * k + 1 < len(out) and k + 1 < len(kept):
            mid = (kept[k]["rgb"] + kept[k + 1]["rgb"]) / 2
            pb.append(psnr(mid, out[2 * k + 1]["rgb"]))
    fig["src_psnr_min"] = round(float(min(ps)), 2)
    fig["mean_shift_max"] = round(max(dmean), 4)
    if pb and opt != "rife":
        fig["blend_psnr_min"] = round(float(min(pb)), 2)
    if s["planes"] is not None and out[0]["planes"] is not None and out[0]["fmt"] == src[0]["fmt"]:
        d = max(int(np.abs(a - b).max()) for a, b in zip(kept[0]["planes"], out[0]["planes"], strict=True))
        fig["codes_maxdiff"] = d
        lossless = outpath.suffix == ".mkv" and "ffv1" in str(outpath) or src[0]["fmt"] == out[0]["fmt"] and (
            "ffv1" in opt)
        if lossless and d:
            bad.append(f"lossless source frame codes: expected equal, got max diff {d}")
    floor = 26 if opt == "blend-420p" else 34  # 4:2:2/4:4:4 testsrc2 to 4:2:0 loses its sharp chroma
    if min(ps) < floor:
        bad.append(f"source frames PSNR: expected >= {floor} dB, got {min(ps):.1f}")
    if max(dmean) > 0.01:
        bad.append(f"source frames mean level (RGB 0..1): expected shift <= 0.01, got {max(dmean):.3f}")
    if pb and opt != "rife" and min(pb) < floor:
        bad.append(f"blended frames vs neighbours' mean PSNR: expected >= {floor} dB, got {min(pb):.1f}")
    return bad, fig


def run(root: Path, workdir: Path, pattern: str | None) -> dict:
    py = root / ".venv/bin/python"
    results = {}
    for name in INPUTS:
        src = inp = None
        for opt, (args, ext) in ALL_OPTIONS.items():
            if opt == "rife" and name not in RIFE_ON:
                continue
            case = f"{name}:{opt}"
            if pattern and pattern not in case:
                continue
            inp = inp or make_input(workdir, name)
            src = src or frames(inp)
            out = workdir / f"out-{root.name}-{name}-{opt}.{ext or inp.suffix[1:]}"
            cmd = [str(py), "-m", "filmrt", "convert", str(inp), str(out), "-y", "--quiet", *args.split()]
            p = subprocess.run(cmd, capture_output=True, text=True, cwd=root)
            if p.returncode != 0:
                results[case] = ([f"exit {p.returncode}: {(p.stderr.strip().splitlines() or ['?'])[-1]}"], {})
            else:
                results[case] = check(src, frames(out), opt, out)
            bad, fig = results[case]
            print(f"{root.name:14s} {case:34s} {'FAIL' if bad else 'ok  '} {fig}", flush=True)
            for b in bad:
                print(f"{'':14s}   - {b}  [{' '.join(cmd[1:])}]", flush=True)
    return results


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("workdir")
    ap.add_argument("--root", help="the checkout (with .venv) whose filmrt runs (default: this one)")
    ap.add_argument("--json", help="write {case: [findings, figures]} here")
    ap.add_argument("--compare", nargs=2, metavar=("NEW", "OLD"), help="compare two --json files and stop")
    ap.add_argument("-k", dest="pattern")
    a = ap.parse_args()
    if a.compare:
        new, old = (json.loads(Path(f).read_text()) for f in a.compare)
        for case, (bad, fig) in new.items():
            obad, ofig = old.get(case, ([], {}))
            worse = [k for k in ("src_psnr_min", "blend_psnr_min") if k in fig and k in ofig and fig[k] < ofig[k] - 0.5]
            if (bad and not obad) or worse or fig.get("tags") != ofig.get("tags") or fig.get("n") != ofig.get("n"):
                print(f"CHANGED {case}:\n  new {bad} {fig}\n  old {obad} {ofig}")
        return
    wd = Path(a.workdir)
    wd.mkdir(parents=True, exist_ok=True)
    res = run(Path(a.root).resolve() if a.root else Path(__file__).resolve().parents[2], wd, a.pattern)
    if a.json:
        Path(a.json).write_text(json.dumps(res, indent=1))
    print(f"{sum(1 for b, _ in res.values() if b)} of {len(res)} cases with findings")


if __name__ == "__main__":
    main()

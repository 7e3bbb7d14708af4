"""Large frames within memory: peak RSS, time and quality of tiled RIFE on the CPU.

``run`` measures each case of :data:`CASES` in a child process of its own (``case``), so its peak
RSS is the case's alone, and writes ``bench/results/large-frames-DATE.json`` and ``.md``: the
working memory per pixel (``perpixel``: :data:`filmrt.tiles.BYTES_PER_PIXEL`), tiled against
untiled (``bound``), 2160p and 4320p under ``--max-memory``, and flow scale 1 against 0.5 at 2160p.
``calls`` measures per call after a warm-up, under the caller's allocator settings (``make
bench-torch-cpu``). The machine is shared: compare ratios from one run only.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shlex
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

from filmrt.bench.runner import last_json, run_child

RESULTS = Path(__file__).resolve().parent / "results"
#: a case longer than this is stopped (4320p tiled on 2 shared cores takes minutes, not hours)
CASE_TIMEOUT_S = 3 * 3600


def _pair(scene: str | None, height: int, width: int):
    """(a, b, ground truth) (1,3,H,W) in [0,1]: a Middlebury scene resized (bicubic), or noise."""
    import torch
    import torch.nn.functional as F

    if scene is None:
        g = torch.Generator().manual_seed(0)
        a = torch.rand(1, 3, height, width, generator=g)
        return a, a.roll(8, -1), None
    from filmrt.bench.settings import shared_dir
    from filmrt.imageio import read_image

    def load(name):
        x = read_image(shared_dir() / "data" / "vfi" / "middlebury-other" / scene / name).unsqueeze(0)
        return F.interpolate(x, size=(height, width), mode="bicubic", align_corners=False).clamp(0, 1)

    return load("frame10.png"), load("frame11.png"), load("frame10i11.png")


def case(c: dict) -> dict:
    """One measurement in this process (``c``: a :data:`CASES` entry as a dict, with ``model`` and
    optionally ``save`` / ``compare``, paths of an output to keep or to compare with, and ``calls``:
    that many calls after a warm-up one, figures per call); its record."""
    import torch

    from filmrt.engine import open_interpolator
    from filmrt.padding import padded_size
    from filmrt.quality import psnr

    fields = {"model": c["model"], "backend": "torch", "max_memory": c.get("max_memory")}
    if c.get("flow_scale"):
        fields["flow_scale"] = c["flow_scale"]
    interp = open_interpolator(**fields)
    h, w = c["height"], c["width"]
    a, b, gt = _pair(c.get("scene"), h, w)
    n = c.get("calls") or 1
    if c.get("calls"):
        interp.interpolate(a, b, 0.5)  # warm-up: weights paged in, thread pool started
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    r0, t0 = resource.getrusage(resource.RUSAGE_SELF), time.perf_counter()
    for _ in range(n):
        out = interp.interpolate(a, b, 0.5)
    wall = time.perf_counter() - t0
    r1 = resource.getrusage(resource.RUSAGE_SELF)
    rec = {"case": c["name"], "model": c["model"], "height": h, "width": w, "max_memory": c.get("max_memory"),
           "flow_scale": float(getattr(interp.model, "scale", 1.0)),
           "tiles": len(interp.tile_plan(padded_size(h), padded_size(w), 1)), "calls": n,
           "wall_s": round(wall / n, 3), "user_s": round((r1.ru_utime - r0.ru_utime) / n, 3),
           "sys_s": round((r1.ru_stime - r0.ru_stime) / n, 3), "minor_faults": (r1.ru_minflt - r0.ru_minflt) // n,
           "ctx_switches": [(r1.ru_nvcsw - r0.ru_nvcsw) // n, (r1.ru_nivcsw - r0.ru_nivcsw) // n],
           "peak_rss_mb": round(r1.ru_maxrss / 1024), "rss_before_call_mb": round(rss_before / 1024),
           "scene": c.get("scene"), "loadavg_1m": os.getloadavg()[0], "threads": torch.get_num_threads(),
           "env": {k: v for k, v in os.environ.items() if k.startswith(("MALLOC_", "OMP_", "GLIBC_TUNABLES"))}}
    if gt is not None:
        rec["psnr_gt"] = round(psnr(out, gt), 3)
    if c.get("save"):
        torch.save(out, c["save"])
    if c.get("compare"):
        other = torch.load(c["compare"])
        rec["max_abs_diff_vs_other"] = float((out - other).abs().max())
        rec["psnr_vs_other"] = round(psnr(out, other), 2)
    return rec


#: (name, scene or None for noise, height, width, --max-memory, flow scale) per group
CASES = {
    "perpixel": [("perpixel-512", None, 512, 512, None, None), ("perpixel-1024", None, 1024, 1024, None, None)],
    "bound": [("bound-untiled", "Beanbags", 1080, 1920, None, 1.0), ("bound-tiled", "Beanbags", 1080, 1920, "2G", 1.0)],
    "2160p": [("2160p-4G", "Beanbags", 2160, 3840, "4G", None)],
    "4320p": [("4320p-8G", "Beanbags", 4320, 7680, "8G", None)],
    "scale": [(f"scale{s}-{sc}", sc, 2160, 3840, "4G", s) for sc in ("Urban2", "DogDance") for s in (1.0, 0.5)],
}


def run(model: str, cases: str, out: str | None) -> None:
    records, tmp = [], Path(os.environ.get("TMPDIR", "/tmp")) / f"large_frames_{os.getpid()}"
    tmp.mkdir(exist_ok=True)
    for group in cases.split(","):
        for name, scene, h, w, mem, scale in CASES[group]:
            spec = {"name": name, "model": model, "height": h, "width": w, "scene": scene, "max_memory": mem,
                    "flow_scale": scale, "save": str(tmp / "untiled.pt") if name == "bound-untiled" else None,
                    "compare": str(tmp / "untiled.pt") if name == "bound-tiled" else None}
            cmd = [sys.executable, "-m", "filmrt.bench.large_frames", "case", json.dumps(spec)]
            print("$", shlex.join(cmd[1:]), flush=True)
            done = run_child(cmd, tmp / f"{name}.log", CASE_TIMEOUT_S)
            if done["returncode"]:
                print(done["log_tail"], flush=True)
                records.append({"case": name, "error": done["log_tail"].strip().splitlines()[-1:]})
                continue
            rec = {**last_json(tmp / f"{name}.log"), "command": shlex.join(cmd[1:])}  # the log holds stderr too
            print(json.dumps(rec), flush=True)
            records.append(rec)
    _write(records, out)


def _write(records: list[dict], out: str | None) -> None:
    import torch

    from filmrt.bench.report import figures_md, md_table, write_pair
    from filmrt.machine import machine

    day = datetime.now(timezone.utc).strftime("%Y-%m-%d")
    base = Path(out) if out else RESULTS / f"large-frames-{day}"
    pp = {r["case"]: r for r in records if r.get("case", "").startswith("perpixel") and "error" not in r}
    summary = {}
    if len(pp) == 2:
        lo, hi = pp["perpixel-512"], pp["perpixel-1024"]
        summary["bytes_per_pixel"] = round((hi["peak_rss_mb"] - lo["peak_rss_mb"]) * 2**20 / (1024 * 1024 - 512 * 512))
    doc = {"date": datetime.now(timezone.utc).isoformat(timespec="seconds"), "machine": machine(torch.device("cpu")),
           "summary": summary, "records": records}
    cols = ["case", "height", "width", "max_memory", "flow_scale", "tiles", "wall_s", "user_s", "sys_s",
            "peak_rss_mb", "psnr_gt", "max_abs_diff_vs_other", "psnr_vs_other", "loadavg_1m"]
    md = figures_md(f"Large frames, RIFE 4.25 torch fp32 CPU ({doc['date']})", [f"Summary: {json.dumps(summary)}", ""],
                    md_table(cols, [[str(r.get(c, "")) for c in cols] for r in records]),
                    ["Commands:", "", *[f"- `{r.get('command', '')}`" for r in records]])
    write_pair(base.with_suffix(".json"), doc, md)
    print(f"wrote {base}.json and .md")


def main(argv=None) -> None:
    p = argparse.ArgumentParser(prog="python -m filmrt.bench.large_frames", description=__doc__.splitlines()[0])
    sub = p.add_subparsers(dest="cmd", required=True)
    sub.add_parser("case").add_argument("spec", help="the case as JSON (what `run` passes)")
    r = sub.add_parser("run")
    r.add_argument("--model", default="rife-4.25")
    r.add_argument("--cases", default="perpixel,bound,2160p,scale,4320p")
    r.add_argument("--out")
    t = sub.add_parser("calls", help="per-call figures after a warm-up call, under this environment's allocator")
    t.add_argument("--size", default="720p")
    t.add_argument("--calls", type=int, default=4)
    t.add_argument("--model", default="rife-4.25")
    args = p.parse_args(argv)
    if args.cmd == "case":
        print(json.dumps(case(json.loads(args.spec))), flush=True)
    elif args.cmd == "calls":
        from filmrt.sizes import parse_size

        size = parse_size(args.size)
        print(json.dumps(case({"name": f"calls-{args.size}", "model": args.model, "height": size.height,
                               "width": size.width, "calls": args.calls})), flush=True)
    else:
        run(args.model, args.cases, args.out)


if __name__ == "__main__":
    main()

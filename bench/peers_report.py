"""The peers comparison as a result: one JSON, one markdown table, one Pareto plot (PNG).

``filmrt bench --peers`` (:func:`run_args`) runs :func:`filmrt.bench.peers_vs.run_peers` and writes
``peers-<date>-<machine>.json``, ``.md`` and ``.png`` into ``--out`` (bench/results). The table has
one row per method: quality of the generated frames (PSNR, SSIM, flicker, motion error: the frames
the method never saw), of the kept ones, and speed (wall and CPU seconds of the whole job, seconds
per output frame, peak RSS). The plot (the package's one, :func:`filmrt.pipeline.report_html.save_pareto_plot`)
puts every method that ran at (output frames per second, log scale; generated-frame PSNR): the
methods on the front are the ones no other method beats on both.
"""

from __future__ import annotations

import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from filmrt.bench.report import fmt, md_table, run_head, run_tail, write_pair
from filmrt.machine import machine_slug
from filmrt.options import check_fields, opt
from filmrt.pipeline.report_html import pareto_front, save_pareto_plot, write_pareto_report

DEFAULT_METHODS = ("filmrt-openvino", "vs-mlrt-ov", "vs-rife", "filmrt-torch", "minterpolate", "mvtools-flowfps",
                   "filmrt-blend")


@dataclass
class PeersOptions:
    """``filmrt bench --peers``'s own options (generated; ``--out`` is the GPU check's, shared)."""

    peers_vs: bool = field(default=False, metadata=opt(
        "run the peers comparison (make bench-peers: VapourSynth in .venv-peers)", flag="--peers"))
    rounds: int = field(default=2, metadata=opt("peers: interleaved rounds", metavar="N"))
    peer_methods: str | None = field(default=None, metadata=opt(
        f"peers: comma list (default: {','.join(DEFAULT_METHODS)})", metavar="LIST"))
    peer_vmaf: bool = field(default=False, metadata=opt("peers: VMAF too (libvmaf, slower)"))
    report: str | None = field(default=None, metadata=opt(
        "peers: also an HTML page in DIR (the table and the Pareto plot; opens in a browser)", metavar="DIR"))

    def __post_init__(self) -> None:
        check_fields(self)


def _ran(res: dict) -> list[tuple[str, dict]]:
    return [(n, m) for n, m in res["peers_vs"]["methods"].items() if m["status"] == "ok"]


def peers_markdown(res: dict) -> str:
    """The table (and what it measured) of a peers result."""
    pv, m = res["peers_vs"], res["machine"]
    pr = pv["protocol"]
    front = pareto_front(pareto_points(res))
    lines = [
        f"### Peers side by side ({res['created_utc'][:10]})", "",
        f"Machine: {m.get('cpu_model') or m.get('processor') or '?'}, {m.get('cpu_affinity')} cores usable; "
        f"load average {res['load_average_start']} at start, {res['load_average_end']} at end. "
        f"Command: `{res['command']}` (git {res['git'].get('commit', '?')[:10]}).", "",
        f"Clip {res['clip']}, {pr['width']}x{pr['height']}, {pr['ref_frames']} frames; every method gets the "
        f"{pr['half_frames']} even frames at {pr['in_rate']} fps and makes {pr['out_rate']} fps. "
        f"Encoder: {pr['encode']}. Scorer: {pr['scorer']}. Best of {pv['rounds']} interleaved rounds "
        "(wall; CPU and peak RSS of the whole job, children's rusage). * = on the Pareto front.", "",
    ]
    rows = []
    for name, r in pv["methods"].items():
        if r["status"] != "ok":
            rows.append([name, *["—"] * 9, f"{r['status']}: {r['reason'][:160]}"])
            continue
        g, k = r["generated"], r["kept"] or {}
        rows.append([name + (" *" if name in front else ""), fmt(g["psnr"]), fmt(g["ssim"], ".4f"),
                     fmt(g.get("flicker")), fmt((r.get("judder") or {}).get("motion_error"), ".3f"), fmt(k.get("psnr")),
                     fmt(r["wall_s"], ".1f"), fmt(r["cpu_s"], ".1f"), fmt(r["s_per_out_frame"], ".3f"),
                     fmt(r["peak_rss_mb"], ".0f"), r["what"]])
    lines += md_table(["method", "gen. PSNR dB", "gen. SSIM", "flicker", "motion err.", "kept PSNR dB", "wall s",
                       "CPU s", "s / out frame", "peak RSS MB", "what"], rows)
    lines += [f"- {n}" for n in res.get("notes", [])]
    return "\n".join(lines).rstrip() + "\n"


def pareto_png(res: dict, path: str | Path) -> Path | None:
    """The Pareto plot of :mod:`filmrt.pipeline.report_html` (output frames/s, log scale, against
    generated-frame PSNR); None when no method ran."""
    points = pareto_points(res)
    if not points:
        return None
    pr = res["peers_vs"]["protocol"]
    return save_pareto_plot(Path(path), points, xlabel="output frames per second (whole job, log scale)",
                            ylabel="PSNR of the generated frames (dB)", logx=True,
                            title=f"{res['clip']}: {pr['in_rate']} -> {pr['out_rate']} fps, "
                            f"{machine_slug(res['machine'])}, {res['created_utc'][:10]}")


def write_peers_results(res: dict, out_dir: str | Path) -> list[Path]:
    d = Path(out_dir)
    d.mkdir(parents=True, exist_ok=True)
    ss = (res.get("segment") or {}).get("ss") or 0
    # another segment of the same day and machine is another file (ss=0 keeps the plain name)
    base = d / (f"peers-{res['created_utc'][:10]}-{machine_slug(res['machine'])}" + (f"-ss{ss:g}" if ss else ""))
    png = pareto_png(res, base.with_suffix(".png"))
    res["pareto_png"] = png.name if png else None
    md = peers_markdown(res) + (f"\n![Pareto plot]({png.name})\n" if png else "")
    return [*write_pair(base.with_suffix(".json"), res, md), *([png] if png else [])]


def run_peers_bench(clip: str, ss: float, t: float, names: list[str], rounds: int, command: str,
                    root: Path, vmaf: bool = False, log=print) -> dict:
    """The result document of one peers comparison (machine, versions, load, the methods)."""
    import torch

    from filmrt.bench.peers_vs import run_peers

    res = run_head(command, torch.device("cpu"), kind="filmrt-bench-peers", clip=Path(clip).name,
                   segment={"ss": ss, "t": t})
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="filmrt-peers-") as tmp:
        res["peers_vs"] = run_peers(clip, ss, t, names=names, rounds=rounds, work=Path(tmp), root=root,
                                    vmaf=vmaf, log=log)
    return run_tail(res, time.perf_counter() - t0)


def pareto_points(res: dict) -> list[dict]:
    """The methods that ran as report points: ``name``, ``fps`` (output frames per second of the
    whole job) and ``psnr`` of the generated frames."""
    return [{"name": n, "fps": 1 / r["s_per_out_frame"], "psnr": r["generated"]["psnr"]}
            for n, r in _ran(res) if r["s_per_out_frame"] and r["generated"]["psnr"] is not None]


def write_html_report(res: dict, folder: str | Path) -> Path:
    """``filmrt bench --peers --report DIR``: the page of :mod:`filmrt.pipeline.report_html` with the
    peers as points (a table and the Pareto plot)."""
    pr = res["peers_vs"]["protocol"]
    summary = {"clip": res["clip"], "protocol": f"{pr['in_rate']} -> {pr['out_rate']} fps, every other frame rebuilt",
               "machine": machine_slug(res["machine"]), "date": res["created_utc"][:10]}
    return write_pareto_report(folder, pareto_points(res), title="filmrt bench --peers", summary=summary)

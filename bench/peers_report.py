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

import datetime
import math
import tempfile
import time
from pathlib import Path

from filmrt.fileio import atomic_write, write_json
from filmrt.machine import git_info, load_average, machine, machine_slug, versions
from filmrt.pipeline.report_html import pareto_front, save_pareto_plot, write_pareto_report

DEFAULT_METHODS = ("filmrt-openvino", "vs-mlrt-ov", "vs-rife", "filmrt-torch", "minterpolate", "mvtools-flowfps",
                   "filmrt-blend")


def _f(x, fmt: str = ".2f") -> str:
    return "—" if x is None or (isinstance(x, float) and math.isnan(x)) else format(x, fmt)


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
        "| method | gen. PSNR dB | gen. SSIM | flicker | motion err. | kept PSNR dB | wall s | CPU s | "
        "s / out frame | peak RSS MB | what |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for name, r in pv["methods"].items():
        if r["status"] != "ok":
            lines.append(f"| {name} | — | — | — | — | — | — | — | — | — | {r['status']}: {r['reason'][:160]} |")
            continue
        g, k = r["generated"], r["kept"] or {}
        star = " *" if name in front else ""
        lines.append(
            f"| {name}{star} | {_f(g['psnr'])} | {_f(g['ssim'], '.4f')} | {_f(g.get('flicker'))} | "
            f"{_f((r.get('judder') or {}).get('motion_error'), '.3f')} | {_f(k.get('psnr'))} | {_f(r['wall_s'], '.1f')} | "
            f"{_f(r['cpu_s'], '.1f')} | {_f(r['s_per_out_frame'], '.3f')} | {_f(r['peak_rss_mb'], '.0f')} | "
            f"{r['what']} |")
    lines += ["", *[f"- {n}" for n in res.get("notes", [])]]
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
    jp, mp = base.with_suffix(".json"), base.with_suffix(".md")
    png = pareto_png(res, base.with_suffix(".png"))
    res["pareto_png"] = png.name if png else None
    write_json(jp, res)
    atomic_write(mp, peers_markdown(res) + (f"\n![Pareto plot]({png.name})\n" if png else ""))
    return [p for p in (jp, mp, png) if p]


def run_peers_bench(clip: str, ss: float, t: float, names: list[str], rounds: int, command: str,
                    root: Path, vmaf: bool = False, log=print) -> dict:
    """The result document of one peers comparison (machine, versions, load, the methods)."""
    import torch

    from filmrt.bench.peers_vs import run_peers

    res = {"kind": "filmrt-bench-peers", "created_utc": datetime.datetime.now(datetime.timezone.utc)
           .isoformat(timespec="seconds"), "command": command, "git": git_info(), "machine": machine(torch.device("cpu")),
           "versions": versions(), "load_average_start": load_average(), "clip": Path(clip).name,
           "segment": {"ss": ss, "t": t}, "notes": []}
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="filmrt-peers-") as tmp:
        res["peers_vs"] = run_peers(clip, ss, t, names=names, rounds=rounds, work=Path(tmp), root=root,
                                    vmaf=vmaf, log=log)
    res["load_average_end"] = load_average()
    res["total_s"] = time.perf_counter() - t0
    la, cores = res["load_average_start"], res["machine"].get("cpu_affinity") or 1
    if la and la[0] > 0.5 * cores:
        res["notes"].append(f"The machine was shared: load average {la} at start, {res['load_average_end']} at "
                            "end; absolute times are pessimistic, the methods were interleaved so ratios are "
                            "comparable.")
    return res


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

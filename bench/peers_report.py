"""The peers comparison as a result: one JSON, one markdown table, one Pareto plot (PNG).

``filmrt bench --peers`` (:func:`run_args`) runs :func:`filmrt.bench.peers_vs.run_peers` and writes
``peers-<date>-<machine>.json``, ``.md`` and ``.png`` into ``--out`` (bench/results). The table has
one row per method: quality of the generated frames (PSNR, SSIM, flicker, motion error: the frames
the method never saw), of the kept ones, and speed (wall and CPU seconds of the whole job, seconds
per output frame, peak RSS). The plot puts every method that ran at (seconds per output frame, log
scale; generated-frame PSNR): the methods on the lower-left to upper-right front are the ones no
other method beats on both.
"""

from __future__ import annotations

import datetime
import math
import tempfile
import time
from pathlib import Path

from filmrt.fileio import atomic_write, write_json
from filmrt.machine import git_info, load_average, machine, machine_slug, versions

DEFAULT_METHODS = ("filmrt-openvino", "vs-mlrt-ov", "vs-rife", "filmrt-torch", "minterpolate", "mvtools-flowfps",
                   "filmrt-blend")


def _f(x, fmt: str = ".2f") -> str:
    return "—" if x is None or (isinstance(x, float) and math.isnan(x)) else format(x, fmt)


def pareto_front(rows: list[tuple[str, float, float]]) -> set[str]:
    """Names of the (name, seconds, psnr) rows that no other row beats on both (faster and better)."""
    front = set()
    for n, s, q in rows:
        if not any((s2 <= s and q2 >= q) and (s2 < s or q2 > q) for _, s2, q2 in rows):
            front.add(n)
    return front


def _ran(res: dict) -> list[tuple[str, dict]]:
    return [(n, m) for n, m in res["peers_vs"]["methods"].items() if m["status"] == "ok"]


def peers_markdown(res: dict) -> str:
    """The table (and what it measured) of a peers result."""
    pv, m = res["peers_vs"], res["machine"]
    pr = pv["protocol"]
    front = pareto_front([(n, r["s_per_out_frame"], r["generated"]["psnr"]) for n, r in _ran(res)])
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
    """Seconds per output frame (x, log) against generated-frame PSNR (y), one labelled point per
    method, the Pareto front joined; None when no method ran."""
    rows = [(n, r["s_per_out_frame"], r["generated"]["psnr"]) for n, r in _ran(res)
            if r["generated"]["psnr"] is not None]
    if not rows:
        return None
    import matplotlib  # lazy: only the plot needs it

    matplotlib.use("Agg")
    from matplotlib import pyplot as plt

    front = pareto_front(rows)
    fig, ax = plt.subplots(figsize=(7, 4.5), dpi=110)
    placed: list[tuple[float, float]] = []
    for n, s, q in sorted(rows, key=lambda r: r[1]):
        ax.scatter([s], [q], s=40, color="tab:red" if n in front else "tab:blue", zorder=3)
        # a point next to one already labelled gets its label below, so the two stay readable
        near = any(abs(math.log(s / s2)) < 0.3 and abs(q - q2) < 0.4 for s2, q2 in placed)
        ax.annotate(n, (s, q), textcoords="offset points", xytext=(5, -12 if near else 4), fontsize=8)
        placed.append((s, q))
    fr = sorted((s, q) for n, s, q in rows if n in front)
    ax.plot([s for s, _ in fr], [q for _, q in fr], color="tab:red", lw=1, alpha=0.6, label="Pareto front")
    ax.set_xscale("log")
    ax.set_xlabel("seconds per output frame (whole job, log scale)")
    ax.set_ylabel("PSNR of the generated frames (dB)")
    pr = res["peers_vs"]["protocol"]
    ax.set_title(f"{res['clip']}: {pr['in_rate']} -> {pr['out_rate']} fps, {machine_slug(res['machine'])}, "
                 f"{res['created_utc'][:10]}", fontsize=9)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    path = Path(path)
    fig.savefig(path)
    plt.close(fig)
    return path


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

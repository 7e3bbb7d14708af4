"""The result of a run: the issue's targets, the JSON document and its markdown summary.

What every bench result shares is written here once: its head (:func:`run_head`, :func:`run_tail`:
machine, versions, git, load), the JSON + markdown pair (:func:`write_pair`) and the markdown
tables (:func:`md_table`, :func:`fmt`); the peers, GPU, formats, large-frames and temporal
results use them too.

``--json OUT`` names the JSON file, or with a name of ``auto`` (or a folder) chooses
``<folder>/<UTC date>-<machine>[-quick].json``; the markdown summary goes next to it (``.md``).
Both are written atomically (:func:`filmrt.fileio.atomic_write`).
"""

from __future__ import annotations

import datetime
import math
from pathlib import Path

import torch

from filmrt.bench.flops import EXPECTED_TMAC_1080P
from filmrt.fileio import atomic_write, write_json
from filmrt.machine import git_info, load_average, machine, machine_slug, versions
from filmrt.stages import STAGES  # FILM's stage names: features, flow, fusion

#: the issue's targets, checked in every run where the figures exist: convert with these models
#: >= this many times minterpolate's speed with a higher PSNR (any device) ...
TARGET_SPEEDUP_MODELS = ("rife-4.25",)
TARGET_SPEEDUP_VS_MINTERPOLATE = 2.0
#: on a CPU (issue 15): convert >= this fraction of minterpolate's speed at a higher PSNR, with at
#: most this fraction of its wall time outside the model calls ...
TARGET_CPU_SPEEDUP_VS_MINTERPOLATE = 0.8
TARGET_CPU_OUTSIDE_MODEL = 0.15
#: ... and model-only, OpenVINO >= this many times torch fp32 (same size, batch, run)
TARGET_CPU_OPENVINO_VS_TORCH = {"rife-4.25": 2.0, "film": 1.6}
#: ... and on CUDA, model-only interpolations/s at a size
TARGET_GPU_MODEL_ONLY = {"rife-4.25": ("1080p", 400.0)}


def check_targets(res: dict) -> list[dict]:
    out = []
    device = res["settings"]["device"].split(":")[0]
    mi = (res.get("peers") or {}).get("minterpolate_speed")
    q = ((res.get("peers") or {}).get("quality") or {}).get("methods", {})
    want = TARGET_CPU_SPEEDUP_VS_MINTERPOLATE if device == "cpu" else TARGET_SPEEDUP_VS_MINTERPOLATE
    for row in res.get("end_to_end", []):
        if row["model"] not in TARGET_SPEEDUP_MODELS or not mi or "s_per_interpolated_frame" not in row:
            continue
        backend = row["result"].get("backend") or row["backend"]
        split = row.get("split") or {}
        if device == "cpu" and split.get("outside_model_fraction") is not None:
            out.append({"target": f"convert with {row['model']} ({backend}): time outside the model <= "
                                  f"{TARGET_CPU_OUTSIDE_MODEL:.0%} of the total",
                        "value": split["outside_model_fraction"],
                        "met": split["outside_model_fraction"] <= TARGET_CPU_OUTSIDE_MODEL})
        speedup = mi["wall_s"] / row["wall_s"]
        cpu_speedup = mi["cpu_s"] / row["cpu_s"] if row.get("cpu_s") and mi.get("cpu_s") else None
        p_ours = (q.get(row["model"]) or {}).get("psnr")
        p_mi = (q.get("minterpolate") or {}).get("psnr")
        out.append({
            "target": f"convert with {row['model']} ({backend}) on {device} >= {want:g}x minterpolate's speed "
                      "on the same clip, with higher PSNR",
            "speedup": speedup, "speedup_cpu_time": cpu_speedup, "psnr_ours": p_ours, "psnr_minterpolate": p_mi,
            "met": bool(speedup >= want and p_ours is not None and p_mi is not None
                        and p_ours > p_mi),
        })
    if device == "cpu":
        out += _openvino_vs_torch(res.get("model_only", []))
    if device == "cuda":
        for row in res.get("model_only", []):
            size, rate = TARGET_GPU_MODEL_ONLY.get(row["model"], (None, None))
            if row["size"] == size:
                out.append({"target": f"{row['model']} {size} >= {rate:g} interpolations/s model-only",
                            "value": row["interp_per_s"], "batch": row["batch"], "precision": row["precision"],
                            "backend": row["backend"], "met": row["interp_per_s"] >= rate})
    return out


def _openvino_vs_torch(rows: list[dict]) -> list[dict]:
    """Model-only OpenVINO / torch fp32 speed ratios, per model and size measured with both."""
    out = []
    cell = {(r["model"], r["backend"], r["size"], r["batch"]): r for r in rows if r["precision"] == "fp32"}
    for (model, backend, size, batch), ov in cell.items():
        torch_row = cell.get((model, "torch", size, batch))
        if backend != "openvino" or model not in TARGET_CPU_OPENVINO_VS_TORCH or torch_row is None:
            continue
        want, ratio = TARGET_CPU_OPENVINO_VS_TORCH[model], ov["interp_per_s"] / torch_row["interp_per_s"]
        out.append({"target": f"{model} model-only through OpenVINO >= {want:g}x torch fp32 ({size}, batch {batch})",
                    "value": ratio, "met": ratio >= want})
    return out


def result_paths(json_arg: str, res: dict) -> tuple[Path, Path]:
    """``--json OUT``: OUT itself, or ``<dir>/<date>-<machine>[-quick].json`` when OUT's name is
    ``auto`` (or OUT is a directory). The markdown summary goes next to it (.md)."""
    p = Path(json_arg)
    if p.name == "auto" or p.is_dir():
        d = p.parent if p.name == "auto" else p
        p = d / (f"{res['created_utc'][:10]}-{machine_slug(res['machine'])}" + ("-quick" if res["settings"]["quick"]
                                                                                else "") + ".json")
    return p, p.with_suffix(".md")


def write_results(res: dict, json_arg: str) -> tuple[Path, Path]:
    jp, _ = result_paths(json_arg, res)
    return write_pair(jp, res, markdown(res))


# --- what every bench result shares: its head, its files, its tables ----------------------------

def run_head(command: str, dev: torch.device, **fields) -> dict:
    """The first fields of every result: when, the command, git, the machine, versions, the load."""
    return {"created_utc": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
            "command": command, "git": git_info(), "machine": machine(dev), "versions": versions(),
            "load_average_start": load_average(), **fields, "notes": []}


def run_tail(res: dict, seconds: float) -> dict:
    """The load at the end, the time taken and, on a loaded machine, the note that says so."""
    res["load_average_end"], res["total_s"] = load_average(), seconds
    la = res["load_average_start"]
    if la and la[0] > 0.5 * (res["machine"].get("cpu_affinity") or 1):
        res["notes"].append(f"The machine was shared: load average {la} at start, {res['load_average_end']} "
                            "at end; absolute times are pessimistic, ratios within this run are comparable.")
    return res


def write_pair(json_path: Path, doc: dict, md: str) -> tuple[Path, Path]:
    """``doc`` as JSON at ``json_path`` and ``md`` next to it (.md), both atomically."""
    json_path = Path(json_path)
    json_path.parent.mkdir(parents=True, exist_ok=True)
    write_json(json_path, doc)
    return json_path, atomic_write(json_path.with_suffix(".md"), md)


def fmt(x, spec: str = ".2f", none: str = "—") -> str:
    """A figure as a table cell: ``none`` for a missing (or NaN) one, yes/no for a bool; ``spec`` "auto":
    one decimal, e-notation for a small one, other types as they are."""
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return none
    if isinstance(x, bool) or spec == "auto":
        return ("yes" if x else "no") if isinstance(x, bool) else (f"{x:.1f}" if abs(x) >= 0.1 or x == 0 else
                                                                   f"{x:.2e}") if isinstance(x, float) else str(x)
    return format(x, spec) if spec else str(x)


def md_table(head: list[str], rows: list[list], cell=fmt) -> list[str]:
    """A markdown table (and a blank line); cells that are not text are written with ``cell``."""
    return ["| " + " | ".join(head) + " |", "|" + "---|" * len(head),
            *["| " + " | ".join(c if isinstance(c, str) else cell(c) for c in r) + " |" for r in rows], ""]


def table(cols: list[tuple], rows: list[dict], spec: str = ".2f", none: str = "—") -> list[str]:
    """THE bench's table of result rows, from a column spec: ``(header, key[, format])`` per column, the
    key a field of the row or a function of it, the format a :func:`fmt` spec (default ``spec``)."""
    def cell(r, key, f=spec):
        v = key(r) if callable(key) else r.get(key)
        return v if isinstance(v, str) else fmt(v, f, none)
    return md_table([c[0] for c in cols], [[cell(r, *c[1:]) for c in cols] for r in rows])


# --- the markdown summary ------------------------------------------------------------------------

def markdown(res: dict) -> str:
    """The human summary of a result: one section per measured part."""
    parts = [_header(res), _matmul(res), _flops(res), model_only_md(res), stages_md(res), end_to_end_md(res),
             targets_md(res), _skipped(res)]
    return "\n".join(line for part in parts for line in part)


def _header(res: dict) -> list[str]:
    m, v, g = res["machine"], res["versions"], res["git"]
    gpu = m.get("gpu")
    where = (f"; GPU {gpu['name']} ({gpu['memory_gib']} GiB, CC {gpu['compute_capability']}, driver "
             f"{gpu['driver']})" if gpu else "; no GPU")
    return [f"# filmrt bench — {res['created_utc'][:10]} — {machine_slug(m)}", "",
            f"- command: `{res['command']}`",
            f"- git: `{g.get('commit')}` ({g.get('branch')}{', uncommitted changes' if g.get('dirty') else ''})",
            f"- machine: {m['cpu_model']}, {m['cpu_affinity']} cores usable, {m['torch_threads']} torch threads, "
            f"{m['mem_total_gib']} GiB RAM" + where,
            "- versions: " + ", ".join(f"{k} {val}" for k, val in v.items() if val),
            f"- load average (1, 5, 15 min): start {res['load_average_start']}, end {res['load_average_end']}",
            f"- total bench time: {res['total_s']:.0f} s", *[f"- note: {n}" for n in res.get("notes", [])], ""]


def _matmul(res: dict) -> list[str]:
    rows = [[r["precision"], str(r["n"]), fmt(r["timing"]["median_ms"]), fmt(r["tflops"], ".3f")]
            for r in res.get("matmul_peak") or []]
    return ["## Matmul peak", "", *md_table(["precision", "n", "median ms", "TFLOP/s"], rows)] if rows else []


def _flops(res: dict) -> list[str]:
    if not res.get("flops"):
        return []
    L = ["## Counted FLOPs (conv + matmul, FlopCounterMode; 1 MAC = 2 FLOPs)", "", *md_table(
        ["model", "size", "padded", "GFLOP per interpolation", "FLOP per padded pixel"],
        [[r["model"], r["size"], f"{r['padded_hw'][1]}x{r['padded_hw'][0]}", fmt(r["flops"] / 1e9, ".1f"),
          fmt(r["flops_per_padded_pixel"], ".0f")] for r in res["flops"]])]
    for model in EXPECTED_TMAC_1080P:
        c = res.get(f"{model}_1080p_check")
        if c:
            L += [f"{model} at 1080p (padded {c['padded_hw'][1]}x{c['padded_hw'][0]}): {c['tmac']:.3f} TMAC per "
                  f"interpolation (expected ~{c['expected_tmac']} TMAC: {c['relative_difference']:+.1%}).", ""]
    return L


def model_only_md(res: dict) -> list[str]:
    """The model-only table (also the docs' benchmarks page: :mod:`filmrt.bench.update_readme`)."""
    rows = [[r["model"] + (" (random weights)" if r.get("weights", "").startswith("random") else ""), r["backend"],
             r["precision"], r["size"], str(r["batch"]), fmt(r["ms_per_call"], ".1f"), fmt(r["interp_per_s"]),
             fmt(r.get("achieved_tflops"), ".3f"), fmt(r.get("fraction_of_matmul_peak"), ".1%"), str(r["timing"]["n"])]
            for r in res.get("model_only") or []]
    return ["## Model only (Interpolator.interpolate, frames on the device)", "", *md_table(
        ["model", "backend", "precision", "size", "batch", "ms per call", "interp/s", "achieved TFLOP/s",
         "of matmul peak", "n"], rows)] if rows else []


def stages_md(res: dict) -> list[str]:
    if not res.get("film_stages"):
        return []
    L = ["## FILM stages and stage reuse (torch)", "", *md_table(
        ["model", "precision", "size", *[f"{name} ms" for name in STAGES], "whole call ms", "saving x2", "saving x4"],
        [[r["model"], r["precision"], r["size"], *[fmt(r[f"{name}_ms"], ".1f") for name in STAGES],
          fmt(r["whole_call_ms"], ".1f"), fmt(r["reuse"]["x2"]["saving"], ".0%"), fmt(r["reuse"]["x4"]["saving"], ".0%")]
         for r in res["film_stages"]])]
    sf = [r for r in res["film_stages"] if r.get("stage_flops")]
    if sf:
        fl = sf[0]["stage_flops"]
        tot = sum(fl.values()) or 1
        L.append(f"Counted FLOPs by stage ({sf[0]['size']}): " + ", ".join(f"{n} {fl[n] / tot:.0%}" for n in STAGES) + ".")
    L.append(f"Saving per input frame: x2 runs {' + '.join(STAGES)} instead of one whole call; x4 "
             f"{STAGES[0]} + {STAGES[1]} + 3 {STAGES[2]} instead of three whole calls.")
    return [*L, ""]


def end_to_end_md(res: dict) -> list[str]:
    peers = res.get("peers") or {}
    quality = peers.get("quality") or {}
    q, mi = quality.get("methods", {}), peers.get("minterpolate_speed")
    if not res.get("end_to_end") and not mi:
        return []
    clip, st = res.get("clip", {}), res["settings"]

    def row(name, r, qq, mem):
        return [name, fmt(r["wall_s"], ".1f"), fmt(r.get("cpu_s"), ".1f"), fmt(r.get("out_frames"), "d"),
                fmt(r.get("out_fps")), fmt(r.get("s_per_interpolated_frame"), ".3f"),
                fmt(mi["wall_s"] / r["wall_s"] if mi else None) + "x",
                fmt(mi["cpu_s"] / r["cpu_s"] if mi and mi.get("cpu_s") and r.get("cpu_s") else None) + "x",
                fmt(qq.get("psnr")), fmt(qq.get("ssim"), ".4f"), fmt(mem, ".0f")]

    rows = [row("minterpolate (PyAV libavfilter, + x264)", mi, q.get("minterpolate", {}), None)] if mi else []
    rows += [row(f"filmrt convert {r['model']} ({r['result']['backend'] or r['backend']})", r, q.get(r["model"], {}),
                 r.get("peak_host_mib")) for r in res.get("end_to_end", [])]
    L = [f"## End to end and peers: {clip.get('name')} ({clip.get('width')}x{clip.get('height')}, "
         f"{clip.get('rate')} fps), segment {st['ss']} s + {st['t']} s, x{st['rate_factor']} rate", "", *md_table(
             ["method", "wall s", "CPU s", "out frames", "out frames/s", "s per interpolated frame",
              "vs minterpolate (wall)", "vs minterpolate (CPU time)", "PSNR dB", "SSIM", "peak host MiB"], rows),
         "'vs minterpolate': minterpolate's time / this method's (higher is faster); CPU time (user + "
         "system, all threads) is less sensitive than wall time to other load on a shared machine. Quality "
         f"(the protocol of `filmrt eval-video`): {quality.get('protocol', '')} ({quality.get('pairs', 0)} "
         f"frames, {quality.get('metric_source', '')})."]
    converted = {r["model"] for r in res.get("end_to_end", [])}
    L += [f"- quality of {name} (not converted end to end): PSNR {fmt(m.get('psnr'))} dB, SSIM "
          f"{fmt(m.get('ssim'), '.4f')}." for name, m in q.items() if name != "minterpolate" and name not in converted]
    x264 = (mi or {}).get("x264")
    if x264:
        L.append(f"Both sides encode with libx264 preset {x264['preset']}, crf {x264['crf']} (convert's defaults).")
    return [*L, *_split(res.get("end_to_end", [])), ""]


def _split(rows: list[dict]) -> list[str]:
    rows = [r for r in rows if r.get("split")]
    if not rows:
        return []
    return ["", "Where convert's time goes, measured inside each run (decode, model and encode overlap in threads; "
            "per output frame):", "", *md_table(
                ["convert", "model ms", "outside the model ms", "outside share", "setup s", "decode thread CPU ms",
                 "encode thread CPU ms", "threads"],
                [[f"{r['model']} ({r['result']['backend'] or r['backend']})", fmt(sp["model_ms_per_out_frame"], ".0f"),
                  fmt(sp["outside_ms_per_out_frame"], ".0f"), fmt(sp.get("outside_model_fraction"), ".1%"),
                  fmt(sp.get("setup_s")), fmt(sp.get("decode_cpu_ms_per_out_frame"), ".1f"),
                  fmt(sp.get("encode_cpu_ms_per_out_frame"), ".1f"), str(sp.get("threads", ""))]
                 for r in rows for sp in [r["split"]]]),
            "Outside the model = the run's wall time minus the model calls' (setup, the first frames, the "
            "encoder's look-ahead flushed after the last model call); the thread CPU figures count each "
            "stage's own thread (codec worker threads beyond it are not counted)."]


def targets_md(res: dict) -> list[str]:
    def detail(t):
        return ", ".join(f"{k} {fmt(v) if isinstance(v, float) else v}" for k, v in t.items() if k not in ("target", "met"))

    return ["## Targets", "", *[f"- {'MET' if t['met'] else 'NOT MET'}: {t['target']} ({detail(t)})"
                                for t in res["targets"]], ""] if res.get("targets") else []


def _skipped(res: dict) -> list[str]:
    return ["## Not measured", "", *(f"- {sk['what']}: {sk['why']}" for sk in res["skipped"]), ""] \
        if res.get("skipped") else []

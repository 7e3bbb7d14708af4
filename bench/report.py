"""What every bench result shares, written once: its head and tail (machine, versions, git, load), the
JSON + markdown pair (:func:`write_pair`), the tables (:func:`table`: a column spec, :func:`fmt`: one
cell formatter); then ``filmrt bench``'s targets and markdown summary.
"""

from __future__ import annotations

import argparse
import datetime
import math
import sys
from pathlib import Path

import torch

from filmrt.bench.flops import EXPECTED_TMAC_1080P
from filmrt.fileio import atomic_write, write_json
from filmrt.machine import git_info, load_average, machine, machine_slug, versions
from filmrt.stages import STAGES  # FILM's stage names: features, flow, fusion

#: the targets checked in every run where the figures exist (speed and quality against minterpolate
#: are ``--peers``' own: :data:`filmrt.bench.peers_vs.TARGETS`). On a CPU, convert with RIFE spends at
#: most this fraction of its wall time outside the model calls ...
TARGET_CPU_OUTSIDE_MODEL = ("rife-4.25", 0.15)
#: ... and model-only, OpenVINO >= this many times torch fp32 (same size, batch, run)
TARGET_CPU_OPENVINO_VS_TORCH = {"rife-4.25": 2.0, "film": 1.6}
#: ... and on CUDA, model-only interpolations/s at a size
TARGET_GPU_MODEL_ONLY = {"rife-4.25": ("1080p", 400.0)}


def check_targets(res: dict) -> list[dict]:
    out = []
    device = res["settings"]["device"].split(":")[0]
    if device == "cpu":
        model, most = TARGET_CPU_OUTSIDE_MODEL
        for row in res.get("end_to_end", []):
            frac = (row.get("split") or {}).get("outside_model_fraction")
            if row["model"] == model and frac is not None:
                out.append({"target": f"convert with {model} ({row['result'].get('backend') or row['backend']}): "
                                      f"time outside the model <= {most:.0%} of the total",
                            "value": frac, "met": frac <= most})
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


def progress(tag: str, quiet: bool = False):
    """A progress logger: ``[tag] msg`` lines on stderr, none with ``quiet``."""
    return lambda msg: None if quiet else print(f"[{tag}] {msg}", file=sys.stderr, flush=True)


def write_pair(json_path: Path, doc: dict, md: str) -> tuple[Path, Path]:
    """``doc`` as JSON at ``json_path`` and ``md`` next to it (.md), both atomically."""
    json_path = Path(json_path)
    json_path.parent.mkdir(parents=True, exist_ok=True)
    write_json(json_path, doc)
    return json_path, atomic_write(json_path.with_suffix(".md"), md)


def figure_parser(module: str, doc: str) -> argparse.ArgumentParser:
    """The options of the figure script ``python -m filmrt.bench.<module>``, described by ``doc``'s first line."""
    return argparse.ArgumentParser(prog=f"python -m filmrt.bench.{module}", description=doc.strip().split("\n")[0])


def figures_md(title: str, intro: list[str], table_lines: list[str], after: list[str] = ()) -> str:
    """A figure script's markdown: ``# title``, the ``intro`` lines, its table, the ``after`` lines."""
    return "\n".join([f"# {title}", "", *intro, *table_lines, *after]).rstrip() + "\n"


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
    parts = [_header(res), section("Matmul peak", MATMUL_COLS, res.get("matmul_peak")), _flops(res),
             model_only_md(res), stages_md(res), end_to_end_md(res), targets_md(res), _skipped(res)]
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


def section(title: str | None, cols: list[tuple], rows: list[dict], *after: str, spec: str = ".2f",
            none: str = "—") -> list[str]:
    """``## title`` (if any), the :func:`table` of ``rows``, then ``after`` lines; nothing without rows."""
    return [*([f"## {title}", ""] if title else []), *table(cols, rows, spec, none), *after] if rows else []


#: the summary's tables, as column specs of :func:`table`
MATMUL_COLS = [("precision", "precision"), ("n", "n", "d"), ("median ms", lambda r: r["timing"]["median_ms"]),
               ("TFLOP/s", "tflops", ".3f")]
FLOPS_COLS = [("model", "model"), ("size", "size"), ("padded", lambda r: "{1}x{0}".format(*r["padded_hw"])),
              ("GFLOP per interpolation", lambda r: r["flops"] / 1e9, ".1f"),
              ("FLOP per padded pixel", "flops_per_padded_pixel", ".0f")]
MODEL_ONLY_COLS = [
    ("model", lambda r: r["model"] + (" (random weights)" if r.get("weights", "").startswith("random") else "")),
    ("backend", "backend"), ("precision", "precision"), ("size", "size"), ("batch", "batch", "d"),
    ("ms per call", "ms_per_call", ".1f"), ("interp/s", "interp_per_s"), ("achieved TFLOP/s", "achieved_tflops", ".3f"),
    ("of matmul peak", "fraction_of_matmul_peak", ".1%"), ("n", lambda r: r["timing"]["n"], "d")]
STAGE_COLS = [("model", "model"), ("precision", "precision"), ("size", "size"),
              *[(f"{name} ms", f"{name}_ms", ".1f") for name in STAGES], ("whole call ms", "whole_call_ms", ".1f"),
              *[(f"saving {x}", lambda r, x=x: r["reuse"][x]["saving"], ".0%") for x in ("x2", "x4")]]
E2E_COLS = [("convert", lambda r: f"{r['model']} ({r['result'].get('backend') or r['backend']})"),
            ("wall s", "wall_s", ".1f"), ("CPU s", "cpu_s", ".1f"), ("out frames", "out_frames", "d"),
            ("out frames/s", "out_fps"), ("s per interpolated frame", "s_per_interpolated_frame", ".3f"),
            ("peak host MiB", "peak_host_mib", ".0f")]
SPLIT_COLS = [("convert", E2E_COLS[0][1]), ("model ms", lambda r: r["split"]["model_ms_per_out_frame"], ".0f"),
              ("outside the model ms", lambda r: r["split"]["outside_ms_per_out_frame"], ".0f"),
              ("outside share", lambda r: r["split"].get("outside_model_fraction"), ".1%"),
              ("setup s", lambda r: r["split"].get("setup_s")),
              ("decode thread CPU ms", lambda r: r["split"].get("decode_cpu_ms_per_out_frame"), ".1f"),
              ("encode thread CPU ms", lambda r: r["split"].get("encode_cpu_ms_per_out_frame"), ".1f"),
              ("threads", lambda r: str(r["split"].get("threads", "")))]


def _flops(res: dict) -> list[str]:
    checks = [f"{m} at 1080p (padded {c['padded_hw'][1]}x{c['padded_hw'][0]}): {c['tmac']:.3f} TMAC per "
              f"interpolation (expected ~{c['expected_tmac']} TMAC: {c['relative_difference']:+.1%})."
              for m in EXPECTED_TMAC_1080P if (c := res.get(f"{m}_1080p_check"))]
    return section("Counted FLOPs (conv + matmul, FlopCounterMode; 1 MAC = 2 FLOPs)", FLOPS_COLS, res.get("flops"),
                    *checks, *([""] if checks else []))


def model_only_md(res: dict) -> list[str]:
    """The model-only table (also the docs' benchmarks page: :mod:`filmrt.bench.update_readme`)."""
    return section("Model only (Interpolator.interpolate, frames on the device)", MODEL_ONLY_COLS,
                    res.get("model_only"))


def stages_md(res: dict) -> list[str]:
    by_stage = [f"Counted FLOPs by stage ({r['size']}): " + ", ".join(
        f"{n} {fl[n] / (sum(fl.values()) or 1):.0%}" for n in STAGES) + "."
        for r in res.get("film_stages") or [] if (fl := r.get("stage_flops"))][:1]
    return section("FILM stages and stage reuse (torch)", STAGE_COLS, res.get("film_stages"), *by_stage,
        f"Saving per input frame: x2 runs {' + '.join(STAGES)} instead of one whole call; x4 "
        f"{STAGES[0]} + {STAGES[1]} + 3 {STAGES[2]} instead of three whole calls.", "")


def end_to_end_md(res: dict) -> list[str]:
    rows, clip, st = res.get("end_to_end") or [], res.get("clip", {}), res["settings"]
    split = [r for r in rows if r.get("split")]
    return section(
        f"End to end: {clip.get('name')} ({clip.get('width')}x{clip.get('height')}, {clip.get('rate')} fps), "
        f"segment {st['ss']} s + {st['t']} s, x{st['rate_factor']} rate", E2E_COLS, rows,
        "CPU time is user + system of the whole child process (all threads); quality and speed against the peers "
        "are `filmrt bench --peers`'.", *([
            "", "Where convert's time goes, measured inside each run (decode, model and encode overlap in threads; "
            "per output frame):", "", *table(SPLIT_COLS, split),
            "Outside the model = the run's wall time minus the model calls' (setup, the first frames, the "
            "encoder's look-ahead flushed after the last model call); the thread CPU figures count each "
            "stage's own thread (codec worker threads beyond it are not counted)."] if split else []), "")


def targets_md(res: dict) -> list[str]:
    def detail(t):
        return ", ".join(f"{k} {fmt(v) if isinstance(v, float) else v}" for k, v in t.items() if k not in ("target", "met"))

    return ["## Targets", "", *[f"- {'MET' if t['met'] else 'NOT MET'}: {t['target']} ({detail(t)})"
                                for t in res["targets"]], ""] if res.get("targets") else []


def _skipped(res: dict) -> list[str]:
    return ["## Not measured", "", *(f"- {sk['what']}: {sk['why']}" for sk in res["skipped"]), ""] \
        if res.get("skipped") else []

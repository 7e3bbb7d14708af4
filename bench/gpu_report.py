"""The GPU check's report: from the measured cells, each model's ``fast`` choice beside today's
default (``decisions``), issue 16's targets (met, missed, or None with the reason), convert's
bottleneck, and the markdown.
"""

from __future__ import annotations

import re

from filmrt.bench.report import TARGET_GPU_MODEL_ONLY, fmt, section
from filmrt.sizes import NAMED_SIZES
from filmrt.stages import STAGES  # FILM's stage names: features, flow, fusion

#: largest output difference (of [0, 1] images, fp16/bf16) vs the plain path still "the same result"
MAX_ABS_OK = 0.05
_RIFE_SIZE, _RIFE_RATE = TARGET_GPU_MODEL_ONLY["rife-4.25"]  # the bench's own target, checked here too


def _cells(report: dict, section: str) -> dict:
    return report.get("sections", {}).get(section, {}).get("cells", {}) or {}


def _result(report: dict, section: str, cell: str) -> dict | None:
    c = _cells(report, section).get(cell)
    return c.get("result") if c and c.get("status") == "ok" else None


def _ok_results(report: dict, section: str, key: str) -> list[dict]:
    """The results of the section's cells that hold ``key``, each with its cell's name as ``run``."""
    return [{**c["result"], "run": n} for n, c in _cells(report, section).items()
            if c.get("status") == "ok" and key in (c.get("result") or {})]


def model_rows(report: dict) -> list[dict]:
    """Every model-only row, with the section it came from."""
    return [{**r, "section": name} for name in report.get("sections", {}) for r in _ok_results(report, name,
                                                                                               "interp_per_s")]


def peaks(report: dict) -> dict:
    return {r["precision"]: r["tflops"] for r in (_result(report, "env", "matmul") or {}).get("rows", [])}


def output_stem(report: dict) -> str:
    gpu = ((_result(report, "env", "machine") or {}).get("gpu") or {}).get("name") or "no-gpu"
    name = "dry-run" if report["dry_run"] else re.sub(r"[^a-z0-9]+", "-", gpu.lower()).strip("-")
    return f"gpu-check-{name}-{report['created_utc'][:10]}"


def decide(report: dict) -> dict:
    """Each model's fast-path flags as its section chose them, beside today's default."""
    best = {m: (report.get("sections", {}).get(f"models-{m.split('-')[0]}", {}).get("notes") or {}).get("best")
            for m in ("rife-4.25", "film")}
    fast, current = {m: b["flags"] for m, b in best.items() if b}, report.get("default_flags")
    out = {"fast": fast, "current_default": current,
           "change_needed": current is not None and any(set(f.split(",")) != set(current.split(","))
                                                         for f in fast.values())}
    if report.get("dry_run"):
        out["note"] = "dry run on the CPU: the fast-path flags do not apply there; nothing here is a decision"
    return out


def _steady(model: str, key: str):
    """The figure of a convert target: the steady rate of ``model``'s 1080p conversion."""
    def get(report: dict) -> dict:
        steady, full = (_result(report, "convert", f"{model}/{x}") or {} for x in ("steady", "full"))
        if not steady.get("valid") or (_result(report, "convert", "clip") or {}).get("height") != 1080:
            return {}
        return {"measured": steady[key], "how": "steady state (short and full run differenced)",
                "whole_run": full.get(key)}
    return get


def _rife_model_only(report: dict) -> dict:
    rows = [r for r in model_rows(report) if r["model"] == "rife-4.25" and r["size"] == _RIFE_SIZE
            and (r.get("max_abs_vs_none") or 0) <= MAX_ABS_OK]  # the same output as the plain path
    r = max(rows, key=lambda r: r["interp_per_s"], default=None)
    return {"measured": r["interp_per_s"], "how": f"{r['precision']}, batch {r['batch']}, flags {r['flags']}"} \
        if r else {}


#: issue 16's targets: (key, what, goal, the least measured value that meets it, the figure from the report)
TARGETS = (
    ("rife_1080p_model_only", f"RIFE 4.25 {_RIFE_SIZE} model-only", f">= {_RIFE_RATE:g} interpolations/s", _RIFE_RATE,
     _rife_model_only),
    ("film_1080p_end_to_end", "FILM 1080p end to end (convert)", ">= 30 interpolated frames/s", 30.0,
     _steady("film", "interp_fps")),
    ("convert_1080p25_to_50_rife", "convert 1080p25 -> 50 with RIFE", "faster than real time (>= 50 output frames/s)",
     50.0, _steady("rife-4.25", "out_fps")),
)


def targets(report: dict) -> list[dict]:
    out = []
    for key, what, goal, bound, figure in TARGETS:
        t = {"key": key, "target": what, "goal": goal, "measured": None, "met": None, **figure(report)}
        if t["measured"] is not None:
            t["met"] = t["measured"] >= bound
        else:
            t["reason"] = ("dry run: tiny sizes on the CPU, no target applies" if report.get("dry_run")
                           else "not measured (see the section's status and skipped cells)")
        out.append(t)
    return out


def bottleneck(report: dict) -> dict:
    """Per convert model: what each stage sustains in output frames/s (decode and encode alone, the
    model-only row nearest convert's own calls: default flags, first precision, batch 4), the smallest."""
    dec, enc, clip = (_result(report, "convert", c) or {} for c in ("decode", "encode", "clip"))
    wh = (clip.get("width"), clip.get("height"))  # the label the model rows carry: filmrt.sizes' name
    label, out = next((name for name, size in NAMED_SIZES.items() if size == wh), "{}x{}".format(*wh)), {}
    first = (report.get("profile", {}).get("precisions") or ["fp16"])[0]
    for model in ("rife-4.25", "film"):
        full, steady = (_result(report, "convert", f"{model}/{x}") or {} for x in ("full", "steady"))
        if not full.get("frames_out"):
            continue
        rows = [r for r in model_rows(report) if r["model"] == model and r["size"] == label]
        r = min(rows, default=None, key=lambda r: (r["flags"] != report.get("default_flags"), r["precision"] != first,
                                                   abs(r["batch"] - 4)))
        cap = {"decode (PyAV, CPU)": dec.get("to_device_fps", 0) * full["frames_out"] / max(1, full.get("frames_in") or 1),
               "encode (libx264, CPU)": enc.get("fps"),
               "inference (model only)": r and r["interp_per_s"] * full["frames_out"] / max(1, full.get("interpolated") or 1)}
        cap = {k: v for k, v in cap.items() if v}
        out[model] = {"capacity_out_fps": cap, "bottleneck": min(cap, key=cap.get) if cap else None,
                      "measured_out_fps": steady.get("out_fps") or full.get("out_fps"),
                      "measured_is": "steady state" if steady.get("valid") else "whole run (start-up included)"}
    return out


def summarize(report: dict) -> None:
    report["default_flags"] = report.get("default_flags") or next(
        (r.get("default_flags") for r in (_result(report, s, "setup") for s in ("models-rife", "models-film")) if r),
        None)
    report.update(decisions=decide(report), targets=targets(report), bottleneck=bottleneck(report),
                  peaks_tflops=peaks(report))


# ------------------------------------------------------------------------------------ markdown
def _f(v) -> str:
    return fmt(v, "auto", "-")


#: the tables, as column specs of :func:`filmrt.bench.report.table`: (header, key or function of the row)
COLS = {
    "targets": [("target", "target"), ("goal", "goal"),
                ("measured", lambda t: _f(t["measured"]) + (f" ({t['how']})" if t.get("how") else "")),
                ("met", lambda t: {True: "**met**", False: "**missed**", None: t.get("reason", "-")}[t["met"]])],
    "warp": [("size", "size"), ("warp", "kind"), ("C", "channels"), ("dtype", "dtype"), ("kernel ms", "kernel_ms"),
             ("grid_sample ms", "grid_sample_ms"), ("speed-up", "speedup"), ("kernel GB/s", "kernel_GBps")],
    "models": [("model", "model"), ("size", "size"), ("prec", "precision"), ("batch", "batch"),
               ("flags", lambda r: r["flags"] + (" +cudnn" if r.get("cudnn_benchmark") else "")
                + (" **non-finite output**" if r.get("finite") is False else "")),
               ("interp/s", "interp_per_s"), ("ms/call", "ms_per_call"), ("TFLOP/s", "tflops"), ("% peak", "pct_peak"),
               ("peak GiB", "peak_mem_gib"), ("1st call s", "first_call_s"), ("max abs vs none", "max_abs_vs_none")],
    "stages": [("size", "size"), ("prec", "precision"), ("batch", "batch"), ("flags", "flags"),
               *[(k, f"{k}_ms") for k in STAGES], ("interp/s", "video_interp_per_s")],
    "convert": [("run", "run"), ("frames in -> out", lambda r: f"{r.get('frames_in')} -> {r.get('frames_out')}"),
                ("interpolated", "interpolated"), ("seconds", "seconds"), ("out frames/s", "out_fps"),
                ("decoder", "decoder"), ("command", lambda r: f"`{r['command']}`")],
    "live": [("run", "run"), ("full model share", "full_share"), ("tiers", lambda r: str(r["tier_shares"])),
             ("late", "late"), ("latency p50 / p99 (budget) ms",
                                lambda r: f"{r['latency_p50_ms']} / {r['latency_p99_ms']} ({r['latency_budget_ms']})"),
             ("cadence breaks", lambda r: (r.get("received") or {}).get("cadence_breaks")),
             ("command", lambda r: f"`{r['command']}`")],
    "sections": [("section", "run"), ("status", "status"), ("seconds", "seconds"),
                 ("cells ok", lambda s: f"{sum(c.get('status') == 'ok' for c in s['cells'].values())}/{len(s['cells'])}"),
                 ("reason", lambda s: s.get("reason", ""))],
}


def _table(kind: str, rows: list[dict], title: str | None = None, *after: str) -> list[str]:
    return section(title, COLS[kind], rows, *after, spec="auto", none="-")


def _head_md(report: dict) -> list[str]:
    d = report.get("decisions", {})
    v, m = _result(report, "env", "versions") or {}, _result(report, "env", "machine") or {}
    g, git, copy = m.get("gpu") or {}, report.get("git") or {}, _result(report, "env", "copy")
    lines = [f"# filmrt GPU check: {g.get('name') or 'no GPU'} ({report['created_utc'][:10]})"
             + (" - DRY RUN on the CPU" if report.get("dry_run") else ""), "", f"Command: `{report['command']}`  ",
             f"Device: {report.get('device')}; elapsed {report.get('elapsed_s')} s of a {report.get('budget_s'):.0f} s "
             f"budget; git {git.get('commit')}{' (uncommitted changes)' if git.get('dirty') else ''}  ",
             f"Machine: {g.get('name', 'no GPU')} (CC {g.get('compute_capability')}, {g.get('memory_gib')} GiB, "
             f"{g.get('sm_count')} SMs, driver {g.get('driver')}, SM clock {g.get('clocks.sm')} of "
             f"{g.get('clocks.max.sm')}, power limit {g.get('power.limit')}); {m.get('cpu_model')} "
             f"({m.get('cpu_affinity')} of {m.get('cpu_count')} cores usable), {m.get('mem_total_gib')} GiB  ",
             "Versions: " + ", ".join(f"{k} {x}" for k, x in v.items() if x not in (None, False, True)) + "  ",
             "Ceilings measured here: " + ", ".join(f"{p} matmul {t:.1f} TFLOP/s" for p, t in peaks(report).items())
             + (f"; device copy {copy['gbps']:.0f} GB/s (read + write)" if copy else ""), "",
             *_table("targets", report.get("targets", []), "Targets (issue 16)"), "## Decisions", "",
             *[f"- **{n}**" for n in [d.get("note")] if n]]
    lines.append("- fast-path flags, each model's fastest with every flag applied and the same output: "
                 + (", ".join(f"{model} **{flags}**" for model, flags in d.get("fast", {}).items()) or "none measured")
                 + f" (today's default: {d.get('current_default')}; "
                 + f"{'change it' if d.get('change_needed') else 'no change'})")
    return [*lines, *[f"- {sec}, chosen on the way: " + ", ".join(f"{k} {x}" for k, x in best.items())
                      for sec in ("models-rife", "models-film")
                      if (best := report.get("sections", {}).get(sec, {}).get("notes", {}).get("best"))], ""]


def _pytest_md(report: dict) -> list[str]:
    lines = []
    for cell, title in (("run", "pytest -m gpu"), ("toolkit", "warp kernel toolkit tests (nvcc, ptxas)")):
        if r := _result(report, "pytest", cell):
            lines += [f"## {title}", "", f"{r.get('passed', 0)} passed, {r.get('failed', 0)} failed, {r.get('errors', 0)} "
                      f"errors, {r.get('skipped', 0)} skipped (exit {r['returncode']}"
                      f"{', timed out' if r.get('timed_out') else ''}; {', '.join(r['files'])})", "",
                      *[f"- {t['outcome']}: `{t['test']}`: {t['message'][:300]}" for t in r.get("tests", [])
                        if t["outcome"] != "passed"], ""]
    big, t = _result(report, "warp", "int64_offsets"), _result(report, "warp", "timings")
    return lines + (["## Warp kernel", "", f"64-bit offsets: {big}", "", *_table("warp", (t or {}).get("rows"))]
                    if big or t else [])


def _models_md(report: dict) -> list[str]:
    rows, pk = model_rows(report), peaks(report)
    for r in rows:
        r["pct_peak"] = 100 * r["tflops"] / pk[r["precision"]] if pk.get(r["precision"]) and r.get("tflops") else None
    st = _ok_results(report, "models-film", f"{STAGES[0]}_ms")
    return [*_table("models", rows, "Model only (interpolate() on frames on the device, video order)"),
            *(["FILM stages (ms per call; a video runs features once per frame, flow once per pair, fusion once "
               "per output):", ""] if st else []), *_table("stages", st)]


def _convert_md(report: dict) -> list[str]:
    clip, dec, enc = (_result(report, "convert", c) or {} for c in ("clip", "decode", "encode"))
    runs = _ok_results(report, "convert", "wall_s")
    steady = {m: s for m in ("rife-4.25", "film") if (s := _result(report, "convert", f"{m}/steady"))}
    return _table("convert", runs, "convert end to end", *[
        f"Clip: {clip.get('width')}x{clip.get('height')} at {clip.get('fps')} fps, {clip.get('frames')} frames "
        f"(synthetic, H.264). Decode alone: {_f(dec.get('to_device_fps'))} frames/s; libx264 alone: "
        f"{_f(enc.get('fps'))} frames/s.", "",
        *[f"- {r['run']} stage times from convert: {st}" for r in runs if (st := (r.get("report") or {}).get("stage_s"))],
        *[f"- {m} steady state: " + (f"{s['out_fps']:.1f} output frames/s, {s['interp_fps']:.1f} interpolated/s, "
                                     f"start-up {s['startup_s']:.1f} s" if s.get("valid") else s.get("reason", ""))
          for m, s in steady.items()],
        *[f"- {m}: capacity in output frames/s: " + ", ".join(f"{k} {x:.0f}" for k, x in b["capacity_out_fps"].items())
          + f"; bottleneck **{b['bottleneck']}**; measured {_f(b['measured_out_fps'])} ({b['measured_is']}; the "
          "stages overlap in three threads on the same cores)" for m, b in report.get("bottleneck", {}).items()], ""])


def _sections_md(report: dict) -> list[str]:
    secs = [{"cells": {}, **sec, "run": name} for name, sec in report.get("sections", {}).items()]
    skipped = [f"- {s['run']} / {n}: {c['status']}: {c.get('reason', '')[:400]}" for s in secs
               for n, c in s["cells"].items() if c.get("status") != "ok"]
    return [*_table("sections", secs, "Sections"), *(["Cells not measured, and why:", "", *skipped, ""] if skipped else [])]


def markdown(report: dict) -> str:
    lines = []
    for part in (_head_md, _pytest_md, _models_md, _convert_md,
                 lambda r: _table("live", _ok_results(r, "live", "full_share"), "live (loopback, RIFE)", ""),
                 _sections_md):
        try:
            lines += part(report)
        except Exception as e:  # noqa: BLE001 - one unreadable part must not lose the others
            lines += [f"(part of the report could not be rendered: {type(e).__name__}: {e})", ""]
    return "\n".join(lines) + "\n"


def summary_text(report: dict) -> str:
    """A few lines for the end of the output (the device tool returns the tail)."""
    out = ["", "== filmrt bench --profile gpu: summary =="]
    out += [f"{n:16s} {s['status']:8s} {_f(s.get('seconds')):>6s} s  {s.get('reason', '')[:90]}"
            for n, s in report.get("sections", {}).items()]
    out += [f"target {t['target']}: {_f(t['measured'])} ({t['goal']}) {({True: 'MET', False: 'MISSED'}).get(t['met'], 'n/a')}"
            for t in report.get("targets", [])]
    d = report.get("decisions", {})
    return "\n".join([*out, f"fast flags per model: {d.get('fast')} (today's default {d.get('current_default')})"])

"""The report of ``filmrt bench --profile gpu``: decisions and targets from the measured cells, markdown.

Decisions (``report["decisions"]``), each with its rule and the figures it was taken from:

- ``fast``: the eager fast-path flags with the best geometric-mean speed-up over ``none`` across
  the models at the main size (1080p), first precision (fp16), batch 1, among flag sets whose
  output stays within :data:`MAX_ABS_OK` of the plain path; ``compile``/``cudagraphs`` join only if
  they speed every measured model up by >= 15 % over that and compile in <= 60 s (``convert``
  recompiles per resolution, and that time is paid by every short clip);
- per model (decided in its section, :mod:`filmrt.bench.gpu_models`): ``precision`` (fp16 or bf16,
  the faster at the main size with the best flags), ``batch`` (the highest rate on the ladder) and
  ``cudnn_benchmark`` (whether cuDNN autotuning gained >= 3 % on top of the best flags).

Targets (``report["targets"]``): issue 16's three, each ``met`` True/False, or None with the reason
it could not be measured (a dry run's sizes are tiny: none applies).
"""

from __future__ import annotations

import math
import re

from filmrt.bench.report import TARGET_GPU_MODEL_ONLY, fmt, table
from filmrt.sizes import NAMED_SIZES
from filmrt.stages import STAGES  # FILM's stage names: features, flow, fusion

#: largest output difference (of [0, 1] images, fp16/bf16) vs the plain path still "the same result"
MAX_ABS_OK = 0.05
COMPILE_GAIN = 1.15
COMPILE_MAX_S = 60.0
_RIFE_SIZE, _RIFE_RATE = TARGET_GPU_MODEL_ONLY["rife-4.25"]  # the bench's own target, checked here too
TARGETS = (
    ("rife_1080p_model_only", f"RIFE 4.25 {_RIFE_SIZE} model-only", f">= {_RIFE_RATE:g} interpolations/s", _RIFE_RATE),
    ("film_1080p_end_to_end", "FILM 1080p end to end (convert)", ">= 30 interpolated frames/s", 30.0),
    ("convert_1080p25_to_50_rife", "convert 1080p25 -> 50 with RIFE", "faster than real time (>= 50 output frames/s)",
     50.0),
)


def _cells(report: dict, section: str) -> dict:
    return report.get("sections", {}).get(section, {}).get("cells", {}) or {}


def _result(report: dict, section: str, cell: str) -> dict | None:
    c = _cells(report, section).get(cell)
    return c.get("result") if c and c.get("status") == "ok" else None


def _best(report: dict, model: str) -> dict:
    return (report.get("sections", {}).get(f"models-{model.split('-')[0]}", {}).get("notes") or {}).get("best") or {}


def model_rows(report: dict) -> list[dict]:
    """Every model-only row (models-* and compile sections), with the section it came from."""
    return [{**c["result"], "section": name} for name, sec in report.get("sections", {}).items()
            for c in (sec.get("cells") or {}).values()
            if c.get("status") == "ok" and "interp_per_s" in (c.get("result") or {})]


def peaks(report: dict) -> dict:
    return {r["precision"]: r["tflops"] for r in (_result(report, "env", "matmul") or {}).get("rows", [])}


def output_stem(report: dict) -> str:
    gpu = ((_result(report, "env", "machine") or {}).get("gpu") or {}).get("name") or "no-gpu"
    name = "dry-run" if report["dry_run"] else re.sub(r"[^a-z0-9]+", "-", gpu.lower()).strip("-")
    return f"gpu-check-{name}-{report['created_utc'][:10]}"


def _geo(values: list[float]) -> float | None:
    values = [v for v in values if v and v > 0]
    return math.exp(sum(map(math.log, values)) / len(values)) if values else None


def _correct(row: dict) -> bool:
    return (row.get("max_abs_vs_none") or 0) <= MAX_ABS_OK


def _applied(row: dict) -> bool:
    """Every flag of the row's set was applied (on the CPU, or without the kernel, none is)."""
    got = {f for a in ((row.get("fast") or {}).get("applied") or []) for f in a.split("+")}
    return {f for f in row["flags"].split(",") if f and f != "none"} <= got


def decide(report: dict) -> dict:
    prof = report.get("profile", {})
    main, prec = prof.get("main_size"), (prof.get("precisions") or ["fp16"])[0]
    rows = model_rows(report)
    table: dict = {}  # {model: {flags: row}} at the main size, batch 1, no cuDNN autotuning
    for r in rows:
        if (r["section"].startswith("models-") and (r["size"], r["batch"], r["precision"]) == (main, 1, prec)
                and not r.get("cudnn_benchmark")):
            table.setdefault(r["model"], {})[r["flags"]] = r
    scores = {}
    for flags in sorted({f for by in table.values() for f in by}):
        ratios = [by[flags]["interp_per_s"] / by["none"]["interp_per_s"] for by in table.values()
                  if flags in by and "none" in by and _correct(by[flags]) and _applied(by[flags])]
        if ratios and len(ratios) == len(table):
            scores[flags] = _geo(ratios)
    out: dict = {"main_size": main, "precision_measured": prec}
    if report.get("dry_run"):
        out["note"] = "dry run on the CPU: the fast-path flags do not apply there; nothing here is a decision"
    if not scores:
        out["fast"] = {"value": None, "reason": "no flag set was measured against the plain path on every model"}
        return out
    best = max(scores, key=scores.get)
    comp = _compiled(rows, table, best)
    winners = [f for f, c in comp.items() if c.get("qualifies")]
    value = max(winners, key=lambda f: comp[f]["min_gain"]) if winners else best
    current = report.get("default_flags")
    out["fast"] = {"value": value, "speedup_vs_none": scores, "compiled": comp, "current_default": current,
                   "change_needed": current is not None and set(value.split(",")) != set(current.split(",")),
                   "rule": f"best geometric-mean speed-up over 'none' at {main}, {prec}, batch 1, output within "
                           f"{MAX_ABS_OK} of 'none'; compile/cudagraphs only if >= {COMPILE_GAIN:.2f}x more on every "
                           f"model and compiled in <= {COMPILE_MAX_S:.0f} s"}
    for key in ("precision", "batch", "cudnn_benchmark"):  # each model's section decided them from its cells
        out[key] = {m: _best(report, m).get(key) for m in ("rife-4.25", "film")}
    return out


def _compiled(rows: list[dict], table: dict, best: str) -> dict:
    """compile/cudagraphs rows, each against the eager row of the flags it was compiled on top of."""
    out: dict = {}
    for r in rows:
        if r["section"].startswith(("compile-", "cudagraphs-")) and r["flags"] != "none" and _applied(r):
            base = ",".join(f for f in r["flags"].split(",") if f not in ("compile", "cudagraphs")) or "none"
            eager = table.get(r["model"], {}).get(base)
            out.setdefault(r["section"].split("-")[0], {"models": {}})["models"][r["model"]] = {
                "flags": r["flags"], "interp_per_s": r["interp_per_s"], "eager_flags": base,
                "gain_vs_eager": r["interp_per_s"] / eager["interp_per_s"] if eager else None,
                "compile_s": r.get("first_call_s"), "max_abs_vs_none": r.get("max_abs_vs_none")}
    for kind, e in out.items():
        ms = list(e["models"].values())
        e["min_gain"] = min((m["gain_vs_eager"] or 0) for m in ms)
        e["qualifies"] = (len(ms) == len(table) and e["min_gain"] >= COMPILE_GAIN
                          and all((m["compile_s"] or 1e9) <= COMPILE_MAX_S and _correct(m) for m in ms))
        e["value"] = f"{best},{kind}" if best != "none" else kind
    return {e["value"]: e for e in out.values()}


def targets(report: dict) -> list[dict]:
    rows, clip, out = model_rows(report), _result(report, "convert", "clip") or {}, []
    for key, what, goal, bound in TARGETS:
        t = {"key": key, "target": what, "goal": goal, "measured": None, "met": None}
        if key == "rife_1080p_model_only":
            cand = [r for r in rows if r["model"].startswith("rife") and r["size"] == _RIFE_SIZE and _correct(r)]
            if cand:
                r = max(cand, key=lambda r: r["interp_per_s"])
                t.update(measured=r["interp_per_s"], how=f"{r['precision']}, batch {r['batch']}, flags {r['flags']}")
        else:
            model = "film" if key.startswith("film") else "rife-4.25"
            key_fps = "interp_fps" if model == "film" else "out_fps"
            steady = _result(report, "convert", f"{model}/steady") or {}
            full = _result(report, "convert", f"{model}/full") or {}
            if steady.get("valid") and clip.get("height") == 1080:
                t.update(measured=steady[key_fps], how="steady state (short and full run differenced)",
                         whole_run=full.get(key_fps))
        if t["measured"] is not None:
            t["met"] = t["measured"] >= bound
        else:
            t["reason"] = ("dry run: tiny sizes on the CPU, no target applies" if report.get("dry_run")
                           else "not measured (see the section's status and skipped cells)")
        out.append(t)
    return out


def bottleneck(report: dict) -> dict:
    """Per convert model: capacity of each stage in output frames/s and the smallest."""
    dec, enc = _result(report, "convert", "decode"), _result(report, "convert", "encode")
    clip, out = _result(report, "convert", "clip") or {}, {}
    wh = (clip.get("width"), clip.get("height"))  # the label the model rows carry: filmrt.sizes' name
    label = next((name for name, size in NAMED_SIZES.items() if size == wh), "{}x{}".format(*wh))
    first = (report.get("profile", {}).get("precisions") or ["fp16"])[0]
    for model in ("rife-4.25", "film"):
        full = _result(report, "convert", f"{model}/full") or {}
        if not full.get("frames_out"):
            continue
        cand = [r for r in model_rows(report) if r["model"] == model and r["size"] == label
                and r["section"].startswith("models-")]
        cap = {"decode (PyAV, CPU)": dec["to_device_fps"] * full["frames_out"] / max(1, full.get("frames_in") or 1)
               if dec else None, "encode (libx264, CPU)": enc["fps"] if enc else None}
        if cand:
            r = min(cand, key=lambda r: (r["flags"] != report.get("default_flags"), r["precision"] != first,
                                         abs(r["batch"] - 4)))
            cap["inference (model only)"] = r["interp_per_s"] * full["frames_out"] / max(1, full.get("interpolated") or 1)
        cap = {k: v for k, v in cap.items() if v is not None}
        steady = _result(report, "convert", f"{model}/steady") or {}
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
#: the tables, as column specs of :func:`filmrt.bench.report.table`: (header, key or function of the row)
TARGET_COLS = [("target", "target"), ("goal", "goal"),
               ("measured", lambda t: _f(t["measured"]) + (f" ({t['how']})" if t.get("how") else "")),
               ("met", lambda t: {True: "**met**", False: "**missed**", None: t.get("reason", "-")}[t["met"]])]
WARP_COLS = [("size", "size"), ("warp", "kind"), ("C", "channels"), ("dtype", "dtype"), ("kernel ms", "kernel_ms"),
             ("grid_sample ms", "grid_sample_ms"), ("speed-up", "speedup"), ("kernel GB/s", "kernel_GBps")]
MODEL_COLS = [("model", "model"), ("size", "size"), ("prec", "precision"), ("batch", "batch"),
              ("flags", lambda r: r["flags"] + (" +cudnn" if r.get("cudnn_benchmark") else "")
               + (" **non-finite output**" if r.get("finite") is False else "")),
              ("interp/s", "interp_per_s"), ("ms/call", "ms_per_call"), ("TFLOP/s", "tflops"), ("% peak", "pct_peak"),
              ("peak GiB", "peak_mem_gib"), ("1st call s", "first_call_s"), ("max abs vs none", "max_abs_vs_none"),
              ("section", "section")]
STAGE_COLS = [("size", "size"), ("prec", "precision"), ("batch", "batch"), ("flags", "flags"),
              *[(k, f"{k}_ms") for k in STAGES], ("interp/s", "video_interp_per_s")]
CONVERT_COLS = [("run", "run"), ("frames in -> out", lambda r: f"{r.get('frames_in')} -> {r.get('frames_out')}"),
                ("interpolated", "interpolated"), ("seconds", "seconds"), ("out frames/s", "out_fps"),
                ("decoder", "decoder"), ("command", lambda r: f"`{r['command']}`")]
LIVE_COLS = [("run", "run"), ("full model share", "full_share"), ("tiers", lambda r: str(r["tier_shares"])),
             ("late", "late"), ("latency p50 / p99 (budget) ms", lambda r: f"{r['latency_p50_ms']} / "
                                 f"{r['latency_p99_ms']} ({r['latency_budget_ms']})"),
             ("cadence breaks", lambda r: (r.get("received") or {}).get("cadence_breaks")),
             ("command", lambda r: f"`{r['command']}`")]
SECTION_COLS = [("section", "run"), ("status", "status"), ("seconds", "seconds"),
                ("cells ok", lambda s: f"{sum(c.get('status') == 'ok' for c in s['cells'].values())}/{len(s['cells'])}"),
                ("reason", lambda s: s.get("reason", ""))]


def _f(v) -> str:
    return fmt(v, "auto", "-")


def _table(cols: list[tuple], rows: list[dict]) -> list[str]:
    return table(cols, rows, "auto", "-")


def _ok_results(report: dict, section: str, key: str) -> list[dict]:
    """The results of the section's cells that hold ``key``, each with its cell's name as ``run``."""
    return [{**c["result"], "run": n} for n, c in _cells(report, section).items()
            if c.get("status") == "ok" and key in (c.get("result") or {})]


def _head_md(report: dict) -> list[str]:
    d, fast = report.get("decisions", {}), report.get("decisions", {}).get("fast", {})
    v, m = _result(report, "env", "versions") or {}, _result(report, "env", "machine") or {}
    g, git, pk, copy = m.get("gpu") or {}, report.get("git") or {}, peaks(report), _result(report, "env", "copy")
    lines = [f"# filmrt GPU check: {g.get('name') or 'no GPU'} ({report['created_utc'][:10]})"
             + (" - DRY RUN on the CPU" if report.get("dry_run") else ""), "", f"Command: `{report['command']}`  ",
             f"Device: {report.get('device')}; elapsed {report.get('elapsed_s')} s of a {report.get('budget_s'):.0f} s "
             f"budget; git {git.get('commit')}{' (uncommitted changes)' if git.get('dirty') else ''}  ",
             f"Machine: {g.get('name', 'no GPU')} (CC {g.get('compute_capability')}, {g.get('memory_gib')} GiB, "
             f"{g.get('sm_count')} SMs, driver {g.get('driver')}, SM clock {g.get('clocks.sm')} of "
             f"{g.get('clocks.max.sm')}, power limit {g.get('power.limit')}); {m.get('cpu_model')} "
             f"({m.get('cpu_affinity')} of {m.get('cpu_count')} cores usable), {m.get('mem_total_gib')} GiB  ",
             "Versions: " + ", ".join(f"{k} {x}" for k, x in v.items() if x not in (None, False, True)) + "  ",
             "Ceilings measured here: " + ", ".join(f"{p} matmul {t:.1f} TFLOP/s" for p, t in pk.items())
             + (f"; device copy {copy['gbps']:.0f} GB/s (read + write)" if copy else ""), "",
             "## Targets (issue 16)", "", *_table(TARGET_COLS, report.get("targets", [])), "## Decisions", ""]
    lines += [f"- **{d['note']}**"] if d.get("note") else []
    if fast.get("value") is None:
        lines.append(f"- fast-path defaults: not decided ({fast.get('reason', 'no data')})")
    else:
        lines.append(f"- fast-path default: **{fast['value']}** (today: {fast.get('current_default')}; "
                     f"{'change it' if fast.get('change_needed') else 'no change'}). Speed-up vs none: "
                     + ", ".join(f"{k} {x:.2f}x" for k, x in fast["speedup_vs_none"].items()) + f". Rule: {fast['rule']}")
        lines += [f"- {flags}: " + "; ".join(f"{mod}: {fmt(x['gain_vs_eager'], '.2f', '-')}x over {x['eager_flags']}, compiled "
                                           f"in {_f(x['compile_s'])} s" for mod, x in c["models"].items())
                  + f" -> {'qualifies' if c['qualifies'] else 'not a default'}" for flags, c in fast["compiled"].items()]
    return [*lines, f"- at {d.get('main_size')}, per model: faster precision {d.get('precision')}, best batch "
            f"{d.get('batch')}, cuDNN autotuning kept {d.get('cudnn_benchmark')}", ""]


def _pytest_md(report: dict) -> list[str]:
    lines = []
    for cell, title in (("run", "pytest -m gpu"), ("toolkit", "warp kernel toolkit tests (nvcc, ptxas)")):
        r = _result(report, "pytest", cell)
        if r:
            stop = f"exit {r['returncode']}" + (", timed out" if r.get("timed_out") else "")
            lines += [f"## {title}", "", f"{r.get('passed', 0)} passed, {r.get('failed', 0)} failed, {r.get('errors', 0)} "
                      f"errors, {r.get('skipped', 0)} skipped ({stop}; {', '.join(r['files'])})", "",
                      *[f"- {t['outcome']}: `{t['test']}`: {t['message'][:300]}" for t in r.get("tests", [])
                        if t["outcome"] != "passed"], ""]
    big, t = _result(report, "warp", "int64_offsets"), _result(report, "warp", "timings")
    if big or t:
        lines += ["## Warp kernel", "", f"64-bit offsets: {big}", ""]
        lines += _table(WARP_COLS, t["rows"]) if t else []
    return lines


def _models_md(report: dict) -> list[str]:
    rows, pk = model_rows(report), peaks(report)
    if not rows:
        return []
    for r in rows:
        r["pct_peak"] = 100 * r["tflops"] / pk[r["precision"]] if pk.get(r["precision"]) and r.get("tflops") else None
    lines = ["## Model only (interpolate() on frames on the device, video order)", "", *_table(MODEL_COLS, rows)]
    st = _ok_results(report, "models-film", f"{STAGES[0]}_ms")
    if st:
        lines += ["FILM stages (ms per call; a video runs features once per frame, flow once per pair, fusion once "
                  "per output):", "", *_table(STAGE_COLS, st)]
    return lines


def _convert_md(report: dict) -> list[str]:
    runs = _ok_results(report, "convert", "wall_s")
    if not runs:
        return []
    clip = _result(report, "convert", "clip") or {}
    dec, enc = _result(report, "convert", "decode") or {}, _result(report, "convert", "encode") or {}
    lines = ["## convert end to end", "", f"Clip: {clip.get('width')}x{clip.get('height')} at {clip.get('fps')} fps, "
             f"{clip.get('frames')} frames (synthetic, H.264). Decode alone: {_f(dec.get('to_device_fps'))} frames/s; "
             f"libx264 alone: {_f(enc.get('fps'))} frames/s.", "", *_table(CONVERT_COLS, runs)]
    lines += [f"- {r['run']} stage times from convert: {r['report']['stage_s']}" for r in runs
              if (r.get("report") or {}).get("stage_s")]
    for model in ("rife-4.25", "film"):
        st = _result(report, "convert", f"{model}/steady")
        if st:
            lines.append(f"- {model} steady state: " + (
                f"{st['out_fps']:.1f} output frames/s, {st['interp_fps']:.1f} interpolated/s, start-up "
                f"{st['startup_s']:.1f} s" if st.get("valid") else st.get("reason", "")))
    for model, b in report.get("bottleneck", {}).items():
        lines.append(f"- {model}: capacity in output frames/s: " + ", ".join(
            f"{k} {x:.0f}" for k, x in b["capacity_out_fps"].items()) + f"; bottleneck **{b['bottleneck']}**; measured "
            f"{_f(b['measured_out_fps'])} ({b['measured_is']}; the stages overlap in three threads on the same cores)")
    return [*lines, ""]


def _live_md(report: dict) -> list[str]:
    runs = _ok_results(report, "live", "full_share")
    return ["## live (loopback, RIFE)", "", *_table(LIVE_COLS, runs), ""] if runs else []


def _sections_md(report: dict) -> list[str]:
    secs = [{"cells": {}, **sec, "run": name} for name, sec in report.get("sections", {}).items()]
    skipped = [f"- {s['run']} / {n}: {c['status']}: {c.get('reason', '')[:400]}" for s in secs
               for n, c in s["cells"].items() if c.get("status") != "ok"]
    return ["## Sections", "", *_table(SECTION_COLS, secs),
            *(["Cells not measured, and why:", "", *skipped, ""] if skipped else [])]


def markdown(report: dict) -> str:
    lines = []
    for part in (_head_md, _pytest_md, _models_md, _convert_md, _live_md, _sections_md):
        try:
            lines += part(report)
        except Exception as e:  # noqa: BLE001 - one unreadable part must not lose the others
            lines += [f"({part.__name__} could not be rendered: {type(e).__name__}: {e})", ""]
    return "\n".join(lines) + "\n"


def summary_text(report: dict) -> str:
    """A few lines for the end of the output (the device tool returns the tail)."""
    out = ["", "== filmrt bench --profile gpu: summary =="]
    out += [f"{n:16s} {s['status']:8s} {_f(s.get('seconds')):>6s} s  {s.get('reason', '')[:90]}"
            for n, s in report.get("sections", {}).items()]
    out += [f"target {t['target']}: {_f(t['measured'])} ({t['goal']}) {({True: 'MET', False: 'MISSED'}).get(t['met'], 'n/a')}"
            for t in report.get("targets", [])]
    fast = report.get("decisions", {}).get("fast", {})
    return "\n".join([*out, f"fast default: {fast.get('value')} (today {fast.get('current_default')})"])

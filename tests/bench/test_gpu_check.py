"""``filmrt bench --profile gpu``, the prepared GPU check (issue 16), exercised without a GPU.

The dry run goes through every section's code on the CPU at tiny sizes, so the profile that is
meant to run unchanged on the next lent GPU cannot rot unnoticed. The runner that keeps its
figures when something breaks on the GPU (a crashing cell, a lost CUDA context, a hang, the
global budget) is tested with stand-in sections, and the report's decisions and targets with
figures shaped like a GPU run's.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from filmrt.bench import gpu, gpu_models
from filmrt.bench import gpu_report as report_mod
from filmrt.bench.runner import EXIT_STICKY, Runner, Section

ALL_SECTIONS = ["env", "pytest", "warp", "models-rife", "models-film", "convert", "live"]


def _only_files(out: Path) -> tuple[dict, str]:
    files = sorted(p.name for p in out.iterdir())
    assert len(files) == 2 and files[0].endswith(".json") and files[1].endswith(".md"), files
    return json.loads((out / files[0]).read_text()), (out / files[1]).read_text()


# ------------------------------------------------------------------------------------ the dry run
def test_dry_run_runs_every_section_and_writes_one_json_and_one_markdown(tmp_path):
    out = tmp_path / "out"
    r = subprocess.run([sys.executable, "-m", "filmrt", "bench", "--profile", "gpu", "--dry-run", "--out", str(out)],
                       capture_output=True, text=True, timeout=600, cwd=out.parent)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    rep, md = _only_files(out)
    assert rep["dry_run"] and rep["device"] == "cpu" and rep["schema"] == "filmrt-gpu-check/1"
    assert list(rep["sections"]) == ALL_SECTIONS
    for name, sec in rep["sections"].items():
        if sec["status"] == "skipped":
            assert sec["reason"], name
            continue
        assert sec["status"] in ("ok", "partial"), (name, sec.get("reason"))
        ok = [c for c in sec["cells"].values() if c["status"] == "ok"]
        assert ok and all(isinstance(c["result"], dict) for c in ok), name
        for cname, c in sec["cells"].items():
            assert c["status"] == "ok" or c.get("reason"), (name, cname)
    assert not [s for s, v in rep["sections"].items() if v["status"] == "skipped"]
    cells = {n: s.get("cells", {}) for n, s in rep["sections"].items()}
    # figures of each kind the GPU run reports, here from the CPU
    assert cells["env"]["matmul"]["result"]["rows"][0]["tflops"] > 0 and cells["env"]["versions"]["result"]["torch"]
    assert cells["pytest"]["run"]["result"]["returncode"] == 0
    assert cells["warp"]["timings"]["status"] == "skipped" and "CUDA" in cells["warp"]["timings"]["reason"]
    for sec, model in (("models-rife", "rife-4.25"), ("models-film", "film")):
        rows = [c["result"] for c in cells[sec].values() if c["status"] == "ok" and "interp_per_s" in c["result"]]
        assert {r["batch"] for r in rows} >= {1} and all(r["model"] == model and r["interp_per_s"] > 0 for r in rows)
        assert all(r["tflops"] > 0 for r in rows)
        assert any("max_abs_vs_none" in r for r in rows)  # a fast-path set compared with the plain path
        assert rep["sections"][sec]["notes"]["best"]["batch"] in (1, 2)
        compiled = [c for n, c in cells[sec].items() if n.endswith(("compile", "cudagraphs"))]
        assert len(compiled) == 2 and all("CUDA only" in c["reason"] for c in compiled)  # torch.compile: on CUDA
    assert any(c["status"] == "ok" and "features_ms" in c["result"] for c in cells["models-film"].values())
    for model in ("rife-4.25", "film"):
        full = cells["convert"][f"{model}/full"]["result"]
        assert full["frames_out"] == 2 * full["frames_in"] and full["interpolated"] > 0
    assert cells["convert"]["decode"]["result"]["rgb_fps"] > 0 and cells["convert"]["encode"]["result"]["fps"] > 0
    for fps_in in ("25", "59.94"):  # live on loopback: every tick sent, on time
        live = cells["live"][f"rife-{fps_in}"]["result"]
        assert live["late"] == 0 and live["received"]["frames"] >= 50 and live["received"]["cadence_breaks"] == 0
        assert sum(live["tier_shares"].values()) == pytest.approx(1, abs=0.01)
    assert [t["key"] for t in rep["targets"]] == [t[0] for t in report_mod.TARGETS]
    assert all(t["met"] is None and "dry run" in t["reason"] for t in rep["targets"])
    assert "note" in rep["decisions"] and rep["bottleneck"]
    for head in ("## Targets", "## Decisions", "Machine: ", "Versions: ", "## pytest -m gpu", "## Model only",
                 "## convert", "## live", "## Sections"):
        assert head in md, head
    assert "DRY RUN" in md


# ------------------------------------------------------------------------------------ robustness
STAND_IN = '''
import os, time
from pathlib import Path

def crashing(cfg, cells):
    marker = Path(cfg["workdir"]) / "crashed-once"
    cells.run("a", lambda: {"x": 1})
    def crash():
        if not marker.exists():
            marker.write_text("1")
            os._exit(9)  # a segfault in a launcher, say
        return {"x": 2}
    cells.run("b", crash)
    def sticky():
        raise RuntimeError("CUDA error: an illegal memory access was encountered")
    cells.run("c", sticky)
    cells.run("d", lambda: {"x": 4})

def hanging(cfg, cells):
    cells.run("e", lambda: time.sleep(120))
    cells.run("f", lambda: {"never": True})
'''


def test_a_crash_and_a_lost_cuda_context_cost_one_cell_each_and_a_hang_its_section(tmp_path):
    (tmp_path / "stand_in.py").write_text(STAND_IN)
    work = tmp_path / "work"
    work.mkdir()
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(tmp_path), os.environ.get("PYTHONPATH", "")]))
    runner = Runner(work, env, time.time() + 200, {"workdir": str(work)}, log=lambda msg: None)
    crashing = Section("crashing", "stand_in", "crashing", cap_s=120, min_s=1, gpu_sized=False)
    res = runner.run_section(crashing, later_reserve=0)
    # b crashed once (recorded, not redone); c lost the "CUDA context" (an error, then a fresh
    # process); d ran in that fresh process
    assert {n: c["status"] for n, c in res["cells"].items()} == {"a": "ok", "b": "crashed", "c": "error", "d": "ok"}
    assert [lc["returncode"] for lc in res["launches"]] == [9, EXIT_STICKY, 0]
    assert res["status"] == "partial" and "illegal memory access" in res["cells"]["c"]["reason"]
    res = runner.run_section(Section("hanging", "stand_in", "hanging", cap_s=25, min_s=1, gpu_sized=False), 0)
    assert res["cells"] == {"e": {"status": "timeout", "reason": res["cells"]["e"]["reason"]}}
    assert len(res["launches"]) == 1 and res["launches"][0]["timed_out"] and res["status"] == "error"


def test_the_budget_skips_sections_with_their_reason(tmp_path):
    out = tmp_path / "out"
    gpu.run_gpu_profile(out, dry_run=True, budget_s=8)
    rep, md = _only_files(out)
    assert all(s["status"] == "skipped" for s in rep["sections"].values())
    assert "time budget" in rep["sections"]["env"]["reason"]
    assert "time budget" in md


# ------------------------------------------------------------------------------------ the report
def _row(model, flags, rate, *, size="1080p", prec="fp16", batch=1, applied=None, max_abs=0.001, first=0.5):
    applied = [f for f in flags.split(",") if f != "none"] if applied is None else applied
    return {"status": "ok", "result": {
        "model": model, "size": size, "hw": [1080, 1920], "precision": prec, "batch": batch, "flags": flags,
        "cudnn_benchmark": False, "interp_per_s": rate, "ms_per_call": 1e3 * batch / rate, "first_call_s": first,
        "peak_mem_gib": 2.0, "tflops": rate * 0.09, "fast": {"applied": applied, "skipped": {}},
        **({} if flags == "none" else {"max_abs_vs_none": max_abs})}}


def _gpu_like_report() -> dict:
    rife = {f"1080p/fp16/b1/{f}": _row("rife-4.25", f, r, **kw) for f, r, kw in (
        ("none", 300.0, {}), ("warp", 450.0, {}), ("channels_last", 280.0, {}),
        ("warp,channels_last", 600.0, {"max_abs": 0.3}))}  # fastest, but wrong: excluded
    rife["1080p/bf16/b1/warp"] = _row("rife-4.25", "warp", 430.0, prec="bf16")
    rife["1080p/fp16/b8/warp"] = _row("rife-4.25", "warp", 900.0, batch=8)
    rife["1080p/fp16/b1/warp,compile"] = _row("rife-4.25", "warp,compile", 560.0, applied=["warp", "compile"],
                                              first=40.0)  # a compiled row: in the table, not an eager default
    film = {f"1080p/fp16/b1/{f}": _row("film", f, r) for f, r in (
        ("none", 20.0), ("warp", 28.0), ("channels_last", 19.0), ("warp,channels_last", 27.0))}
    film["1080p/bf16/b1/warp"] = _row("film", "warp", 29.0, prec="bf16")
    film["1080p/fp16/b1/warp,compile"] = _row("film", "warp,compile", 30.0, applied=["warp", "compile"], first=90.0)
    return {
        "dry_run": False, "created_utc": "2026-12-01T00:00:00+00:00", "command": "filmrt bench --profile gpu",
        "budget_s": 420, "device": "cuda", "profile": {"main_size": "1080p", "precisions": ["fp16", "bf16"],
                                                       "flag_sets": ["none", "warp", "channels_last",
                                                                     "warp,channels_last"]},
        "sections": {
            "env": {"status": "ok", "cells": {
                "machine": {"status": "ok", "result": {"gpu": {"name": "NVIDIA H200"}}},
                "matmul": {"status": "ok", "result": {"rows": [{"precision": "fp16", "tflops": 700.0},
                                                               {"precision": "bf16", "tflops": 720.0}]}}}},
            "models-rife": {"status": "ok", "cells": {"setup": {"status": "ok", "result": {"default_flags": "warp"}},
                                                      **rife},
                            "notes": {"best": {"flags": "warp", "batch": 8, "cudnn_benchmark": False,
                                              "precision": "fp16"}}},
            "models-film": {"status": "ok", "cells": film,
                            "notes": {"best": {"flags": "warp", "batch": 1, "cudnn_benchmark": False,
                                              "precision": "bf16"}}},
            "convert": {"status": "ok", "cells": {
                "clip": {"status": "ok", "result": {"width": 1920, "height": 1080, "fps": 25, "frames": 150}},
                "decode": {"status": "ok", "result": {"rgb_fps": 300.0, "to_device_fps": 250.0}},
                "encode": {"status": "ok", "result": {"fps": 90.0}},
                "rife-4.25/full": {"status": "ok", "result": {"frames_in": 150, "frames_out": 300, "interpolated": 150,
                                                               "seconds": 5.0, "wall_s": 8.0, "out_fps": 60.0,
                                                               "interp_fps": 30.0, "command": "filmrt convert"}},
                "rife-4.25/steady": {"status": "ok", "result": {"valid": True, "out_fps": 85.0, "interp_fps": 42.5,
                                                                 "in_fps": 42.5, "startup_s": 1.5}},
                "film/full": {"status": "ok", "result": {"frames_in": 150, "frames_out": 300, "interpolated": 150,
                                                          "seconds": 12.0, "wall_s": 15.0, "out_fps": 25.0,
                                                          "interp_fps": 12.5, "command": "filmrt convert"}},
                "film/steady": {"status": "ok", "result": {"valid": True, "out_fps": 44.0, "interp_fps": 22.0,
                                                            "in_fps": 22.0, "startup_s": 3.0}}}},
        },
    }


def test_report_from_gpu_shaped_figures():
    rep = _gpu_like_report()
    report_mod.summarize(rep)
    d = rep["decisions"]  # each model's own choice (its note), beside today's default
    assert d["fast"] == {"rife-4.25": "warp", "film": "warp"} and d["current_default"] == "warp"
    assert d["change_needed"] is False
    t = {x["key"]: x for x in rep["targets"]}
    assert t["rife_1080p_model_only"]["met"] is True and t["rife_1080p_model_only"]["measured"] == 900.0
    assert t["film_1080p_end_to_end"]["met"] is False and t["film_1080p_end_to_end"]["measured"] == 22.0
    assert t["convert_1080p25_to_50_rife"]["met"] is True
    b = rep["bottleneck"]["film"]
    assert b["bottleneck"] == "inference (model only)" and b["measured_out_fps"] == 44.0
    assert rep["bottleneck"]["rife-4.25"]["bottleneck"] == "encode (libx264, CPU)"
    md = report_mod.markdown(rep)
    assert "**met**" in md and "**missed**" in md and "NVIDIA H200" in md and "| warp,compile |" in md
    assert "- models-film, chosen on the way: flags warp, batch 1, cudnn_benchmark False, precision bf16" in md
    assert report_mod.summary_text(rep).count("target ") == 3


def test_the_flags_chosen_are_the_fastest_applied_with_the_same_output():
    rows = {f: c["result"] for f, c in ((n.split("/")[-1], c) for n, c in _gpu_like_report()["sections"][
        "models-rife"]["cells"].items() if n.startswith("1080p/fp16/b1/"))}
    rows["channels_last"] = None  # a cell that failed
    # warp,channels_last is faster but its output is off by 0.3; warp,compile is not an eager set here
    assert gpu_models.best_flags({f: r for f, r in rows.items() if "compile" not in f}) == "warp"
    rows["warp"]["fast"] = {"applied": [], "skipped": {"warp": "kernel unavailable"}}  # not applied: not chosen
    assert gpu_models.best_flags({f: r for f, r in rows.items() if "compile" not in f}) == "none"
    assert gpu_models.best_flags({}) == gpu_models.default_flags()


# ------------------------------------------------------------------------------------ setting up
def test_the_profile_is_an_option_of_filmrt_bench_and_loads_nothing_by_path():
    r = subprocess.run([sys.executable, "-m", "filmrt.bench", "--help"], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0 and "--profile" in r.stdout and "--dry-run" in r.stdout
    r = subprocess.run([sys.executable, "-m", "filmrt.bench.gpu", "--budget-s", "0"], capture_output=True, text=True,
                       timeout=120)  # the device's entry: the same options
    assert r.returncode == 2 and "must be a positive number" in r.stderr
    bench = Path(gpu.__file__).parent
    assert not [p for p in bench.glob("*.py") if "spec_from_file_location" in p.read_text()]

"""``filmrt bench --profile gpu``: the whole GPU path in one command, every figure in one report (issue 16).

Its sections (``env``, ``pytest``, ``warp``, ``models-*`` in :mod:`filmrt.bench.gpu_models`,
``convert``, ``live``) run in child processes of :mod:`filmrt.bench.runner` under one budget, and
:mod:`filmrt.bench.gpu_report` writes the report after each; ``--dry-run`` runs the same code on the
CPU at tiny sizes. What each section measures, and the call on a lent GPU, are in bench/README.md.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import re
import shlex
import shutil
import sys
import tempfile
import time
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path

import numpy as np
import torch

from filmrt.bench import gpu_report
from filmrt.bench.e2e import convert_child, decode_frames, encode_only
from filmrt.bench.flops import matmul_peak
from filmrt.bench.report import write_pair
from filmrt.bench.runner import Runner, Section, run_child
from filmrt.bench.settings import ModelCache, csv_list, shared_dir
from filmrt.bench.temporal import square_frame, write_clip
from filmrt.bench.timing import measure
from filmrt.cli.groups import add_options, from_args
from filmrt.errors import FilmrtError
from filmrt.machine import git_info, machine, versions
from filmrt.options import RuntimeOptions, check_fields, opt
from filmrt.pipeline.options import EncodeOptions
from filmrt.sizes import parse_size
from filmrt.warp import warp_grid_sample

REPO = Path(__file__).resolve().parent.parent
_M, _F = "filmrt.bench.gpu", "filmrt.bench.gpu_models"
#: (name, module, function, cap s, fewest s worth starting it with, params, needs a GPU for its figures)
SECTIONS = [Section(*s) for s in (
    ("env", _M, "section_env", 45, 10, {}, False), ("pytest", _M, "section_pytest", 150, 20, {}, False),
    ("warp", _M, "section_warp", 75, 15), ("models-rife", _F, "section_models", 90, 20, {"model": "rife-4.25"}),
    ("models-film", _F, "section_models", 120, 25, {"model": "film"}), ("convert", _M, "section_convert", 110, 25),
    ("live", _M, "section_live", 75, 25))]
#: the small FILM configuration of the golden fixture (a dry run must not need ../shared)
DRY_FILM_CONFIG = {"pyramid_levels": 4, "fusion_pyramid_levels": 3, "specialized_levels": 2, "sub_levels": 3,
                   "flow_convs": [2, 2, 2], "flow_filters": [8, 16, 16], "filters": 8}
_COMMON = {"clip_fps": 25, "convert_fps": "50", "convert_models": ["rife-4.25", "film"],
           "compile_flags": ["compile", "cudagraphs"]}
PROFILES = {
    "gpu": {**_COMMON, "sizes": ["720p", "1080p", "2160p"], "main_size": "1080p", "precisions": ["fp16", "bf16"],
            "batches": [1, 2, 4, 8, 16], "flag_sets": ["none", "warp", "channels_last", "warp,channels_last"],
            "cell_s": 1.0, "stage_reps": 5, "copy_mib": 2048, "warp_iters": 30, "clip_size": "1080p",
            "clip_seconds": 6.0, "convert_short_s": 2.0, "encode_frames": 100, "film_config": None,
            "live_size": "1080p", "live_seconds": 20.0},
    "dry": {**_COMMON, "sizes": ["64x64", "96x64"], "main_size": "96x64", "precisions": ["fp32"], "batches": [1, 2],
            "flag_sets": ["none", "warp"], "cell_s": 0.02, "stage_reps": 1, "copy_mib": 8, "warp_iters": 2,
            "clip_size": "96x64", "clip_seconds": 0.8, "convert_short_s": 0.32, "encode_frames": 10,
            "film_config": DRY_FILM_CONFIG, "live_size": "96x64", "live_seconds": 2.0},
}


@dataclass
class GpuCheckOptions:
    """The profile's own options, generated (:func:`filmrt.cli.groups.add_options`) for ``filmrt bench
    --profile gpu`` and ``python -m filmrt.bench.gpu`` (the device's entry: it imports no other command)."""

    dry_run: bool = field(default=False, metadata=opt("gpu: rehearse every section on the CPU at tiny sizes"))
    out: str = field(default="bench/results", metadata=opt("gpu, peers: folder of the report", metavar="DIR"))
    gpu_budget_s: float = field(default=420.0, metadata=opt("gpu: global time budget, seconds", flag="--budget-s",
                                                            metavar="S"))
    sections: str | None = field(default=None, metadata=opt("gpu: comma list of sections (default: all)",
                                                            metavar="LIST"))
    keep_work: bool = field(default=False, metadata=opt("gpu: keep the work folder (clips, states, logs)"))

    def __post_init__(self) -> None:
        check_fields(self)


def run_args(args, command: str) -> int:
    """Exit 1 when a section failed (its figures and the reason are in the report)."""
    o = from_args(GpuCheckOptions, args)
    rep = run_gpu_profile(Path(o.out), dry_run=o.dry_run, budget_s=o.gpu_budget_s, sections=o.sections,
                          command=command, keep_work=o.keep_work)
    return 1 if any(s["status"] == "error" for s in rep["sections"].values()) else 0


def run_gpu_profile(out: Path, *, dry_run: bool, budget_s: float, sections: str | None = None,
                    command: str = "", keep_work: bool = False) -> dict:
    """Every section in order, the report rewritten after each; returns the report."""
    want = csv_list(sections or "")
    if bad := [w for w in want if w not in {s.name for s in SECTIONS}]:
        raise FilmrtError(f"--sections: unknown {', '.join(bad)}; known: {', '.join(s.name for s in SECTIONS)}")
    chosen = [s for s in SECTIONS if not want or s.name in want or s.name == "env"]  # env decides the device
    t0, work = time.time(), Path(tempfile.mkdtemp(prefix="filmrt-gpu-check-"))
    out.mkdir(parents=True, exist_ok=True)
    # golden fixtures: $FILMRT_SHARED (the carried copy on a lent GPU), else ../shared beside the checkout
    shared = shared_dir().resolve() if (shared_dir() / "fixtures").is_dir() else None
    env = dict(os.environ, PYTHONUNBUFFERED="1", TORCHINDUCTOR_CACHE_DIR=str(work / "inductor"),
               FILMRT_WEIGHTS_DIR=str(work / "user-weights"))  # never a developer's own FILM weights
    if dry_run:  # tiny tensors: one thread is faster than several fighting over a busy CI machine's cores
        env.update(OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")
    profile = PROFILES["dry" if dry_run else "gpu"]
    report = {"schema": "filmrt-gpu-check/1", "created_utc": dt.datetime.now(dt.timezone.utc).isoformat(
        timespec="seconds"), "command": command, "dry_run": dry_run, "budget_s": budget_s, "device": None,
        "git": git_info(), "shared": str(shared) if shared else None, "profile": profile, "sections": {}}
    written: list[Path] = []

    def log(msg: str) -> None:
        print(f"[{time.time() - t0:6.1f} s] {msg}", flush=True)

    def write(final: bool = False) -> None:
        report["elapsed_s"] = round(time.time() - t0, 1)
        if final:
            gpu_report.summarize(report)
        now = write_pair(out / f"{gpu_report.output_stem(report)}.json", report, gpu_report.markdown(report))
        for old in set(written) - set(now):
            old.unlink(missing_ok=True)  # the name changed once the GPU was known: one file pair
        written[:] = now

    base = {**profile, "dry_run": dry_run, "repo": str(REPO), "workdir": str(work), "shared": report["shared"],
            "device": "cpu"}
    runner = Runner(work, env, t0 + budget_s, base, log)
    log(f"work folder {work}; budget {budget_s:.0f} s")
    try:
        for i, sec in enumerate(chosen):
            if sec.gpu_sized and base["device"] != "cuda" and not dry_run:
                res = {"status": "skipped", "reason": "PyTorch sees no CUDA GPU (--dry-run rehearses this on the CPU)"}
            else:
                res = runner.run_section(sec, sum(s.min_s for s in chosen[i + 1:]))
            report["sections"][sec.name] = res
            log(f"{sec.name}: {res['status']}" + (f" ({res['reason']})" if res.get("reason") else ""))
            if sec.name == "env":
                v = (res.get("cells", {}).get("versions") or {}).get("result") or {}
                base["device"] = report["device"] = "cuda" if v.get("cuda_available") and not dry_run else "cpu"
            write()
    finally:
        write(final=True)
        if not keep_work:
            shutil.rmtree(work, ignore_errors=True)
    print(gpu_report.summary_text(report))
    for p in written:
        print(f"wrote {p}")
    return report


# ------------------------------------------------------------------------------------ env
def section_env(cfg: dict, cells) -> None:
    """Versions, the machine and the two ceilings: matmul TFLOP/s per precision, copy GB/s."""
    dev = torch.device("cuda" if torch.cuda.is_available() and not cfg["dry_run"] else "cpu")
    cells.run("versions", versions)
    cells.run("machine", lambda: machine(dev))
    cells.run("matmul", lambda: {"rows": matmul_peak(dev, cfg["precisions"], quick=cfg["dry_run"])}, need_s=5)
    cells.run("copy", lambda: _copy_bandwidth(dev, cfg["copy_mib"]), need_s=2)


def _copy_bandwidth(dev: torch.device, mib: int) -> dict:
    src = torch.rand(mib * 2**18, device=dev)  # float32: mib MiB
    dst = torch.empty_like(src)
    t = measure(lambda: dst.copy_(src), dev, warmup=2, repeats=10, budget_s=5)
    return {"mib": mib, "median_ms": t["median_ms"], "gbps": 2 * src.numel() * 4 / (t["median_ms"] * 1e-3) / 1e9}


# ------------------------------------------------------------------------------------ pytest
#: CUDA-toolkit tests (nvcc, ptxas) that skip on machines without the toolkit; the GPU machine has it
TOOLKIT_TESTS = "nvcc or ptx_assembles or cuda_source_compiles"
#: junit's element of a test that did not pass -> its outcome
OUTCOMES = {"failure": "failed", "error": "errors", "skipped": "skipped"}


def section_pytest(cfg: dict, cells) -> None:
    """``pytest -m gpu`` on every file with gpu-marked tests (found by text: moved tests are still
    found); then the warp kernel's toolkit tests."""
    tests = Path(cfg["repo"]) / "tests"
    files = sorted(p for p in tests.rglob("test_*.py") if re.search(r"mark\.gpu\b", p.read_text(errors="replace")))
    if files:
        cells.run("run", lambda: _pytest(cfg, files, ["-m", "gpu"], "gpu"), need_s=10)
    else:
        cells.skip("run", "no test marked gpu under tests/")
    kernel_tests = sorted(tests.rglob("test_warp_kernel.py"))
    if cfg["dry_run"]:
        cells.skip("toolkit", "dry run: the toolkit tests run in the normal suite wherever nvcc is installed")
    elif kernel_tests:
        cells.run("toolkit", lambda: _pytest(cfg, kernel_tests, ["-k", TOOLKIT_TESTS], "toolkit"), need_s=10)
    else:
        cells.skip("toolkit", "tests/**/test_warp_kernel.py not found")


def _pytest(cfg: dict, files: list[Path], select: list[str], label: str) -> dict:
    xml = Path(cfg["workdir"]) / f"pytest-{label}.xml"
    cmd = [sys.executable, "-m", "pytest", *select, "-p", "no:cacheprovider", "-q", "-rA", f"--junitxml={xml}",
           "-o", "addopts=", *map(str, files)]
    env = {"FILMRT_SHARED": cfg["shared"]} if cfg.get("shared") else {}
    # cwd outside the checkout: its filmrt/ folder must not shadow the installed package
    r = run_child(cmd, xml.with_suffix(".log"), max(10, cfg["deadline"] - time.time() - 5), cfg["workdir"], env, 4000)
    out = {"command": " ".join(["pytest", *cmd[3:]]), "files": [str(f.relative_to(cfg["repo"])) for f in files],
           "returncode": r["returncode"], "timed_out": r["timed_out"], "seconds": r["wall_s"],
           "output_tail": r["log_tail"], "tests": []}
    for case in (ET.parse(xml).getroot().iter("testcase") if xml.exists() else ()):
        el = next((e for e in case if e.tag in OUTCOMES), None)
        out["tests"].append({"test": f"{case.get('classname')}::{case.get('name')}", "seconds": float(
            case.get("time") or 0), "outcome": "passed" if el is None else OUTCOMES[el.tag], "message": "" if el is None
            else (el.get("message") or el.text or "").strip()[:500]})
    return {**out, **{k: sum(t["outcome"] == k for t in out["tests"]) for k in ("passed", *OUTCOMES.values())}}


# ------------------------------------------------------------------------------------ warp
#: warp sizes, padded to 64, and channels: RIFE-like (image, features) and FILM-like warps
WARP_SIZES = {"720p": (768, 1280), "1080p": (1088, 1920), "2160p": (2176, 3840)}
WARP_CHANNELS = {"rife-image": 3, "rife-feat": 8, "film-feat": 64}


def section_warp(cfg: dict, cells) -> None:
    """The BackwardWarp kernel vs ``filmrt.warp.warp_grid_sample`` (grid construction + grid_sample):
    median ms per warp size, channels and dtype, and 64-bit offsets (a tensor of more than 2^31
    elements). Its correctness on the fixture and far out of the frame is the gpu tests' (``pytest``)."""
    from filmrt.engine.cuda import warp_kernel as wk  # noqa: PLC0415 - its ctypes driver: only in this process

    if cfg["device"] != "cuda":
        ok, why = False, "PyTorch sees no CUDA GPU: the kernel's PTX runs only there"
        img, flow = torch.rand(1, 3, 64, 64), torch.randn(1, 2, 64, 64) * 5
        cells.run("grid_sample_cpu", lambda: {"hw": [64, 64], "grid_sample_ms": measure(
            lambda: warp_grid_sample(img, flow), "cpu", repeats=3, min_time_s=0)["median_ms"]})
    else:
        ok, why = wk.available()
        cells.run("available", lambda: {"available": ok, "reason": why, "driver": wk._driver().version() if ok else None})
        why = f"kernel unavailable: {why}"
    for name, fn in (("int64_offsets", lambda: _int64_offsets(wk)),
                     ("timings", lambda: {"rows": _warp_timings(wk, cfg["warp_iters"])})):
        if ok:
            cells.run(name, fn, need_s=10)
        else:
            cells.skip(name, why)


def _int64_offsets(wk) -> dict:
    """fp16, 272 x 2160 x 3840 = 2.26e9 elements (4.5 GB): checked on its last channels."""
    if torch.cuda.mem_get_info()[0] < 12 * 2**30:
        return {"ok": None, "reason": "not enough free GPU memory to try"}
    g = torch.Generator(device="cuda").manual_seed(0)
    img = torch.rand(1, 272, 2160, 3840, device="cuda", dtype=torch.float16, generator=g)
    flow = torch.randn(1, 2, 2160, 3840, device="cuda", generator=g) * 50
    flow[:, :, ::97] *= 100  # rows far outside the frame
    err = float((wk.warp_cuda(img, flow)[:, 268:].float() - warp_grid_sample(img[:, 268:], flow).float()).abs().max())
    del img
    torch.cuda.empty_cache()
    return {"elements": 272 * 2160 * 3840, "last_channels_maxabs": err, "ok": err <= 2e-3}


def _warp_timings(wk, iters: int) -> list[dict]:
    rows, g = [], torch.Generator(device="cuda").manual_seed(1)
    for (size, (h, w)), (kind, c), (dname, dtype) in ((s, k, d) for s in WARP_SIZES.items()
                                                      for k in WARP_CHANNELS.items()
                                                      for d in (("fp32", torch.float32), ("fp16", torch.float16))):
        img = torch.rand(1, c, h, w, device="cuda", generator=g).to(dtype)
        flow = torch.randn(1, 2, h, w, device="cuda", generator=g) * 20
        t_k, t_g = (measure(lambda fn=fn, a=img, f=flow: fn(a, f), "cuda", warmup=3, repeats=iters, min_time_s=0)["median_ms"]
                    for fn in (wk.warp_cuda, warp_grid_sample))
        nbytes = img.numel() * img.element_size() * 2 + flow.numel() * 4  # read + write + flow
        rows.append({"size": size, "hw": [h, w], "kind": kind, "channels": c, "dtype": dname,
                     "kernel_ms": round(t_k, 4), "grid_sample_ms": round(t_g, 4), "speedup": round(t_g / t_k, 2),
                     "kernel_GBps": round(nbytes / t_k / 1e6, 1)})
    return rows


# ------------------------------------------------------------------------------------ convert
def ensure_clip(cfg: dict, seconds: float | None = None) -> dict:
    """The synthetic clip of ``cfg`` (``clip_seconds`` long, or ``seconds``), made once per run: a
    textured picture (:func:`filmrt.bench.temporal.square_frame`) panning 3 px per frame, so there
    is motion everywhere and no scene cut."""
    size, fps = parse_size(cfg["clip_size"]), cfg["clip_fps"]
    seconds = cfg["clip_seconds"] if seconds is None else seconds
    path = Path(cfg["workdir"]) / f"clip-{size}-{fps}-{seconds:g}s.mp4"
    n = max(2, round(fps * seconds))
    if not path.exists():
        base = square_frame(size.width // 3, size.width, size.height, size=size.height // 4)
        write_clip(path, (np.roll(base, 3 * i, axis=1) for i in range(n)), fps, crf=20)
    return {"path": str(path), "width": size.width, "height": size.height, "fps": fps, "frames": n,
            "seconds": n / fps, "bytes": path.stat().st_size}


def section_convert(cfg: dict, cells) -> None:
    """convert on synthetic clips, twice per model (a short and a long clip: start-up cancels out
    of the difference, the steady rate), next to decode-only and encode-only rates."""
    clip = cells.run("clip", lambda: ensure_clip(cfg), need_s=5)
    short = cells.run("clip-short", lambda: ensure_clip(cfg, cfg["convert_short_s"]), need_s=3)
    if clip is None or short is None:
        return
    cells.run("decode", lambda: decode_rates(clip["path"], torch.device(cfg["device"])), need_s=3)
    cells.run("encode", lambda: encode_rate(clip, cfg["encode_frames"]), need_s=3)
    cache = ModelCache(Path(cfg["workdir"]), {"film": cfg["film_config"]} if cfg["film_config"] else None)
    for model in cfg["convert_models"]:
        weights = cells.run("film-weights", lambda: {"path": cache.weights_for("film").path}) if model == "film" \
            else {}
        if weights is None:
            continue
        # the full run first: a first run's cold start (page cache, lazy CUDA modules) then lands
        # on the longer run, which can only make the steady rate lower, never negative
        runs = {label: cells.run(f"{model}/{label}", lambda m=model, c=src, lab=label, w=weights.get("path"): _convert(
            cfg, c, m, w, lab), need_s=8) for label, src in (("full", clip), ("short", short))}
        if runs["short"] and runs["full"]:
            cells.run(f"{model}/steady", lambda runs=runs: _steady(runs["short"], runs["full"]))


def decode_rates(path: str, dev: torch.device) -> dict:
    """Frames/s of the pipeline's decoder alone (:func:`filmrt.bench.e2e.decode_frames`) to the CPU and to ``dev``."""
    out = {}
    for label, where in (("rgb", torch.device("cpu")), ("to_device", dev)):
        _, n, sec = decode_frames(path, where, keep=0)
        out[f"{label}_fps"] = n / sec
    return {**out, "frames": n}


def encode_rate(clip: dict, frames: int) -> dict:
    """Frames/s of convert's encoder alone (:func:`filmrt.bench.e2e.encode_only`, its default crf/preset)."""
    images, _, _ = decode_frames(clip["path"], torch.device("cpu"), keep=frames)
    dst = Path(clip["path"]).with_name("encode-test.mp4")
    sec = encode_only(images, Fraction(2 * clip["fps"]), frames, str(dst))
    dst.unlink(missing_ok=True)
    enc = EncodeOptions()
    return {"fps": frames / sec, "frames": frames, "crf": enc.crf, "preset": enc.preset, "threads": os.cpu_count()}


def _convert(cfg: dict, clip: dict, model: str, weights: str | None, label: str) -> dict:
    """One convert in a child process (:func:`filmrt.bench.e2e.convert_child`, as ``filmrt bench``)."""
    dst = Path(cfg["workdir"]) / f"convert-{model}-{label}.mp4"
    res = convert_child(clip["path"], str(dst), RuntimeOptions(model=model, weights=weights, device=cfg["device"]),
                        cfg["convert_fps"], timeout=max(10, cfg["deadline"] - time.time() - 5))
    dst.unlink(missing_ok=True)
    if "error" in res:
        raise RuntimeError(f"convert: {res['error']}")
    rep = res["result"]
    out = {"command": f"filmrt convert CLIP OUT --fps {cfg['convert_fps']} --model {model} --device {cfg['device']}"
           + (" --weights RANDOM" if weights else ""), "report": rep,
           **{k: res.get(k) for k in ("wall_s", "cpu_s", "peak_host_mib", "peak_device_mib")},
           **{k: rep.get(k) for k in ("frames_in", "frames_out", "interpolated", "seconds", "decoder", "backend")}}
    if rep.get("frames_out") and rep.get("seconds"):
        out.update(out_fps=rep["frames_out"] / rep["seconds"], out_fps_wall=rep["frames_out"] / res["wall_s"],
                   interp_fps=(rep.get("interpolated") or 0) / rep["seconds"])
    return out


def _steady(short: dict, full: dict) -> dict:
    """Rates with start-up (imports, model load, CUDA init, first-call autotuning) cancelled out:
    the difference of a short and a full run of the same clip."""
    d = {k: (full.get(k) or 0) - (short.get(k) or 0) for k in ("frames_out", "interpolated", "frames_in")}
    d_s = (full.get("seconds") or full["wall_s"]) - (short.get("seconds") or short["wall_s"])
    if d["frames_out"] <= 0 or d_s <= 0:
        # timing noise larger than the work (a loaded CPU, tiny clips): say so, do not guess
        return {"valid": False, "reason": f"no steady rate: {d['frames_out']} more frames in {d_s:.2f} s more"}
    return {"valid": True, "out_fps": d["frames_out"] / d_s, "interp_fps": d["interpolated"] / d_s,
            "in_fps": d["frames_in"] / d_s, "startup_s": (short.get("seconds") or short["wall_s"])
            - (short.get("frames_out") or 0) * d_s / d["frames_out"]}


# ------------------------------------------------------------------------------------ live
def section_live(cfg: dict, cells) -> None:
    """``filmrt live`` on loopback (:func:`filmrt.bench.live.live_bench`) with RIFE at ``live_size``,
    25 -> 50 and 59.94 -> 50, on the synthetic clip: the share of output frames the full model
    made, late frames (0 is the promise), latency percentiles and what a receiver got (cadence breaks)."""
    from filmrt.bench.live import live_bench  # noqa: PLC0415 - only this section needs it

    clip = cells.run("clip", lambda: ensure_clip(cfg), need_s=5)
    for fps_in in ("25", "59.94") if clip else ():
        cells.run(f"rife-{fps_in}", lambda f=fps_in: _live(cfg, clip, f, live_bench), need_s=cfg["live_seconds"] + 15)


def _live(cfg: dict, clip: dict, fps_in: str, live_bench) -> dict:
    r = live_bench(cfg["live_size"], seconds=cfg["live_seconds"], fps_in=fps_in, fps_out="50", model="rife-4.25",
                   device=cfg["device"], clip=Path(clip["path"]), workdir=Path(cfg["workdir"]))
    s = r["stats"]
    return {"command": f"python -m filmrt.bench.live --size {cfg['live_size']} --fps-in {fps_in} --fps 50 "
                       f"--model rife-4.25 --device {cfg['device']} --seconds {cfg['live_seconds']:g}",
            "full_share": s["tier_shares"].get("full", 0.0), "received": r["received"], "memory_mib": r["memory_mib"],
            **{k: s[k] for k in ("tier_shares", "late", "latency_budget_ms", "latency_p50_ms", "latency_p99_ms")}}


if __name__ == "__main__":
    parser = argparse.ArgumentParser(prog="python -m filmrt.bench.gpu", description=__doc__.split("\n")[0])
    add_options(parser, GpuCheckOptions)
    try:
        sys.exit(run_args(parser.parse_args(), shlex.join(["python", "-m", "filmrt.bench.gpu", *sys.argv[1:]])))
    except FilmrtError as e:
        parser.error(str(e))

"""One bench run: matmul peak, counted FLOPs, model only, FILM stages and end to end, in that order,
into one result document; a section that cannot run here is listed under ``skipped`` with the reason.
Model only (here) is ``Interpolator.interpolate`` on frames already on the device, one cell per model
x backend x precision x size x batch: median ms per call, interp/s, achieved FLOP/s against the peak.
"""

from __future__ import annotations

import dataclasses
import tempfile
import time
from pathlib import Path

import torch

from filmrt.bench import SCHEMA
from filmrt.bench.e2e import bench_e2e, clip_facts
from filmrt.bench.film_stages import bench_film_stages
from filmrt.bench.flops import EXPECTED_TMAC_1080P, check_1080p, matmul_peak, model_flops, peak_for
from filmrt.bench.report import check_targets, run_head, run_tail
from filmrt.bench.settings import BenchSettings, ModelCache, RunContext
from filmrt.bench.timing import device_peak_mib, measure
from filmrt.engine import backend_available, open_interpolator, resolve_device
from filmrt.models import get_spec
from filmrt.options import BACKENDS
from filmrt.sizes import Size


def run_bench(settings: BenchSettings) -> dict:
    """Run every enabled section; returns the result document (see the package docstring)."""
    s = settings.resolved()
    dev = resolve_device(s.device)
    s.models = [get_spec(m).name for m in s.models]
    res = run_head(s.command or "filmrt bench (API)", dev, schema=SCHEMA, settings=dataclasses.asdict(s))
    t_start = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="filmrt-bench-") as tmp:
        ctx = RunContext(s, dev, ModelCache(Path(tmp)), Path(tmp))
        res["weights"] = {m: ctx.cache.weights_for(m).description for m in s.models}
        if any(ctx.cache.weights_for(m).random for m in s.models):
            res["notes"].append(
                "Models marked 'random' have no weights installed here and run with seeded random weights "
                "in their full configuration: timing does not depend on weight values.")
        peaks = []
        if s.matmul:
            ctx.log("matmul peak ...")
            peaks = matmul_peak(dev, s.precisions, s.quick)
        res["matmul_peak"] = peaks
        flops = _count_flops(ctx, res) if s.flops else {}
        res["flops"] = list(flops.values())
        res["model_only"] = bench_model_only(ctx, flops, peaks) if s.model_only else []
        res["film_stages"] = bench_film_stages(ctx, flops) if s.stages else []
        res["end_to_end"] = _on_the_clip(ctx, res) if s.e2e else []
    res["skipped"] = ctx.skipped
    res["targets"] = check_targets(res)
    run_tail(res, time.perf_counter() - t_start)
    return res


def _count_flops(ctx: RunContext, res: dict) -> dict:
    """Counted FLOPs per (model, size label); a model with a published 1080p figure is checked against it."""
    flops: dict = {}
    for model in ctx.settings.models:
        net = ctx.cache.module(model, torch.device("cpu"))
        for size in ctx.settings.size_list():
            label, (h, w) = str(size), size.hw
            try:
                flops[(model, label)] = {"model": model, "size": label, "hw": [h, w], **model_flops(net, h, w)}
            except Exception as e:  # noqa: BLE001
                ctx.skip(f"FLOPs {model} {label}", e)
        if model in EXPECTED_TMAC_1080P:
            try:
                res[f"{model}_1080p_check"] = check_1080p(net, EXPECTED_TMAC_1080P[model])
            except Exception as e:  # noqa: BLE001
                ctx.skip(f"{model} 1080p FLOP check", e)
    return flops


def bench_model_only(ctx: RunContext, flops: dict, peaks: list[dict]) -> list[dict]:
    s, dev = ctx.settings, ctx.device
    rows = []
    for model in s.models:
        for backend in s.backends or [b for b in BACKENDS if backend_available(b, dev)[0]]:
            ok, why = backend_available(backend, dev)
            if not ok:
                ctx.skip(f"model-only {model} on {backend}", why)
                continue
            for prec in s.precisions:
                for size in s.size_list():
                    for batch in s.batches:
                        row = _cell(ctx, model, backend, prec, size, batch, flops, peaks)
                        if row is not None:
                            rows.append(row)
    return rows


def _cell(ctx: RunContext, model: str, backend: str, prec: str, size: Size, batch: int, flops: dict,
          peaks: list[dict]) -> dict | None:
    """One measured cell (None when skipped, with the reason in ``ctx.skipped``)."""
    s, dev = ctx.settings, ctx.device
    label, (h, w) = str(size), size.hw
    what = f"model-only {model} {backend} {prec} {label} batch {batch}"
    fl = flops.get((model, label))
    if s.max_tflop is not None and fl and batch * fl["flops"] > s.max_tflop * 1e12:
        ctx.skip(what, f"{batch * fl['flops'] / 1e12:.2f} TFLOP per call, above the cap of {s.max_tflop:g} "
                 "(--max-tflop)")
        return None
    try:
        interp = open_interpolator(ctx.cache.runtime(model, backend=backend, device=str(dev), precision=prec,
                                                     max_batch=batch))
    except Exception as e:  # noqa: BLE001 - a backend that cannot take this cell
        ctx.skip(what, e)
        return None
    gen = torch.Generator().manual_seed(0)
    a = torch.rand(batch, 3, h, w, generator=gen).to(dev)
    b = torch.rand(batch, 3, h, w, generator=gen).to(dev)
    times = [0.5] * batch
    ctx.log(f"{what} ...")
    device_peak_mib(dev, reset=True)
    try:
        tm = measure(lambda: interp.interpolate(a, b, times), dev, warmup=s.warmup, repeats=s.repeats,
                     budget_s=s.budget_s)
    except Exception as e:  # noqa: BLE001
        ctx.skip(what, e)
        return None
    finally:
        interp.close()
    sec = tm["median_ms"] / 1e3
    row = {
        "model": model, "backend": backend, "precision": prec, "size": label, "hw": [h, w], "batch": batch,
        "weights": ctx.cache.weights_for(model).description, "describe": interp.describe(),
        "timing": tm, "ms_per_call": tm["median_ms"], "ms_per_interp": tm["median_ms"] / batch,
        "interp_per_s": batch / sec,
    }
    if fl and fl["flops"]:
        row["flops_per_interp"] = fl["flops"]
        row["achieved_tflops"] = batch * fl["flops"] / sec / 1e12
        pk = peak_for(peaks, prec, dev)
        if pk:
            row["fraction_of_matmul_peak"] = row["achieved_tflops"] / pk
    row["peak_device_mem_mib"] = device_peak_mib(dev)
    ctx.log(f"  {row['ms_per_call']:.1f} ms/call, {row['interp_per_s']:.2f} interp/s (n={tm['n']})")
    return row


def _on_the_clip(ctx: RunContext, res: dict) -> list[dict]:
    """End to end on the clip's segment (skipped, with the reason, without the clip)."""
    s = ctx.settings
    clip_path = Path(s.clip)
    if not clip_path.is_file():
        ctx.skip("end to end", f"clip not found: {clip_path}")
        return []
    res["clip"] = clip_facts(clip_path)
    if s.e2e_models is None:
        s.e2e_models = [m for m in s.models if not ctx.cache.weights_for(m).random]
        for m in s.models:
            if m not in s.e2e_models:
                ctx.skip(f"end-to-end {m}", "no weights installed for it")
    res["settings"]["e2e_models"] = s.e2e_models
    return bench_e2e(ctx, res["clip"])

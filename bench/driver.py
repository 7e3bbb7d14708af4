"""One bench run: every enabled section in order, into one result document (see :mod:`filmrt.bench`).

Order: matmul peak, counted FLOPs, model only, FILM stages, then on the clip: end to end (with
where its time went). Quality against the peers is ``filmrt bench --peers``'s
(:mod:`filmrt.bench.peers_vs`). A section that cannot run on this machine is listed under
``skipped`` with the reason, never silently left out.
"""

from __future__ import annotations

import dataclasses
import tempfile
import time
from pathlib import Path

import torch

from filmrt.bench import SCHEMA
from filmrt.bench.context import ModelCache, RunContext
from filmrt.bench.e2e import bench_e2e, clip_facts
from filmrt.bench.film_stages import bench_film_stages
from filmrt.bench.flops import EXPECTED_TMAC_1080P, check_1080p, matmul_peak, model_flops
from filmrt.bench.model_only import bench_model_only
from filmrt.bench.report import check_targets, run_head, run_tail
from filmrt.bench.settings import BenchSettings
from filmrt.engine import resolve_device
from filmrt.models import get_spec


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

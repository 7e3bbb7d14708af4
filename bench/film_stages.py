"""Per-stage times of staged models (FILM: features per frame, flow per pair, fusion per output time)
and what stage reuse saves: x``factor`` costs ``factor - 1`` whole calls per input frame without
reuse, one feature pass + one flow pass + ``factor - 1`` fusions with it (:func:`reuse_saving`).
"""

from __future__ import annotations

import torch

from filmrt.bench.flops import film_stage_flops, padded_hw
from filmrt.bench.settings import RunContext
from filmrt.bench.timing import measure
from filmrt.engine.torch_backend import DTYPES
from filmrt.models import get_spec
from filmrt.sizes import Size
from filmrt.stages import STAGES  # FILM's stage names: features, flow, fusion


def stage_times(m: torch.nn.Module, a, b, t, dev: torch.device, **kw) -> tuple[dict, dict, dict, dict]:
    """Timings of encode_frame (features), encode_pair (flow), decode (fusion) and the whole call."""
    with torch.inference_mode():
        s0, s1 = m.encode_frame(a), m.encode_frame(b)
        pair = m.encode_pair(s0, s1)
        tf = measure(lambda: m.encode_frame(a), dev, **kw)
        tp = measure(lambda: m.encode_pair(s0, s1), dev, **kw)
        td = measure(lambda: m.decode(s0, s1, pair, t), dev, **kw)
        tw = measure(lambda: m(a, b, t), dev, **kw)
    return tf, tp, td, tw


def reuse_saving(features: float, flow: float, fusion: float, whole: float, factor: int) -> dict:
    """Cost per input frame of a x``factor`` conversion, whole calls against stage reuse (module docstring)."""
    naive = (factor - 1) * whole
    staged = features + flow + (factor - 1) * fusion
    return {"naive_ms_per_input_frame": naive, "staged_ms_per_input_frame": staged,
            "saving": 1 - staged / naive, "speedup": naive / staged}


def bench_film_stages(ctx: RunContext, flops: dict) -> list[dict]:
    """Per-stage times of every staged model, per precision and size."""
    s = ctx.settings
    rows = []
    for model in s.models:
        if not get_spec(model).staged:
            continue
        try:
            net = ctx.cache.module(model, torch.device("cpu"))
        except Exception as e:  # noqa: BLE001
            ctx.skip(f"stages {model}", e)
            continue
        for prec in s.precisions:
            m = net.to(ctx.device, DTYPES[prec])
            for size in s.size_list():
                row = _stage_row(ctx, model, net, m, prec, size, flops.get((model, str(size))))
                if row is not None:
                    rows.append(row)
        net.to("cpu", torch.float32)
    return rows


def stage_row(net: torch.nn.Module, m: torch.nn.Module, size: Size, prec: str, dev: torch.device, batch: int = 1,
              **measure_kw) -> dict:
    """The stage times of ``m`` (``net`` on the device in ``prec``) on random inputs padded as ``net``
    pads, ``batch`` pairs per call, and the saving of stage reuse (the GPU check's stage cells too)."""
    (h, w), dt = size.hw, DTYPES[prec]
    ph, pw = padded_hw(net, h, w)
    gen = torch.Generator().manual_seed(1)
    a, b = (torch.rand(batch, 3, ph, pw, generator=gen).to(dev, dt) for _ in range(2))
    t = torch.full((batch,), 0.5, device=dev, dtype=dt)
    tf, tp, td, tw = stage_times(m, a, b, t, dev, **measure_kw)
    F, P, D, whole = tf["median_ms"], tp["median_ms"], td["median_ms"], tw["median_ms"]
    return {"precision": prec, "size": str(size), "hw": [h, w], "padded_hw": [ph, pw], "batch": batch,
            **{f"{name}_ms": ms for name, ms in zip(STAGES, (F, P, D), strict=True)},
            "whole_call_ms": whole, "sum_of_stages_ms": 2 * F + P + D,
            "timing": {**dict(zip(STAGES, (tf, tp, td), strict=True)), "whole": tw},
            "reuse": {"x2": reuse_saving(F, P, D, whole, 2), "x4": reuse_saving(F, P, D, whole, 4)}}


def _stage_row(ctx: RunContext, model: str, net: torch.nn.Module, m: torch.nn.Module, prec: str, size: Size,
               fl: dict | None) -> dict | None:
    """One precision x size of one model: ``net`` on the CPU (FLOPs), ``m`` on the device (times)."""
    s, label = ctx.settings, str(size)
    if s.max_tflop is not None and fl and fl["flops"] > s.max_tflop * 1e12:
        ctx.skip(f"stages {model} {prec} {label}", f"{fl['flops'] / 1e12:.2f} TFLOP per whole call, above the cap "
                 f"of {s.max_tflop:g} (--max-tflop)")
        return None
    ctx.log(f"stages {model} {prec} {label} ...")
    row = {"model": model, "backend": "torch", "weights": ctx.cache.weights_for(model).description,
           **stage_row(net, m, size, prec, ctx.device, warmup=s.warmup, repeats=s.repeats, budget_s=s.budget_s)}
    if s.flops:
        try:
            row["stage_flops"] = film_stage_flops(net, *size.hw)
        except Exception as e:  # noqa: BLE001
            ctx.skip(f"stage FLOPs {model} {label}", e)
    ctx.log(f"  features {row['features_ms']:.1f} ms, flow {row['flow_ms']:.1f} ms, fusion {row['fusion_ms']:.1f} ms, "
            f"whole {row['whole_call_ms']:.1f} ms; reuse saves {row['reuse']['x2']['saving']:.0%} at x2, "
            f"{row['reuse']['x4']['saving']:.0%} at x4")
    return row

"""Model-only throughput: ``Interpolator.interpolate`` on frames already on the device.

One cell per model x backend x precision x size x batch: the median time of one call, the
interpolations per second, and (with counted FLOPs) the achieved FLOP/s and its fraction of the
matmul peak.
"""

from __future__ import annotations

import torch

from filmrt.bench.context import RunContext
from filmrt.bench.flops import peak_for
from filmrt.bench.timing import device_peak_mib, measure
from filmrt.engine import backend_available, open_interpolator
from filmrt.options import BACKENDS
from filmrt.sizes import Size


def available_backends(device: torch.device) -> list[str]:
    return [b for b in BACKENDS if backend_available(b, device)[0]]


def bench_model_only(ctx: RunContext, flops: dict, peaks: list[dict]) -> list[dict]:
    s, dev = ctx.settings, ctx.device
    rows = []
    for model in s.models:
        for backend in s.backends or available_backends(dev):
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

"""Timing one call: warm-up, then the median of repeats within a budget, in milliseconds (CUDA events
around a synchronised call on a GPU, where a host clock would time the launch).
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable

import torch


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def device_peak_mib(device: torch.device, reset: bool = False) -> float | None:
    """Device memory torch allocated at its peak since the last reset, MiB (None off CUDA); ``reset``
    starts a new peak."""
    if device.type != "cuda":
        return None
    sync(device)
    if reset:
        torch.cuda.reset_peak_memory_stats(device)
    return torch.cuda.max_memory_allocated(device) / 2**20


def _timed_call(fn: Callable[[], object], device: torch.device) -> float:
    """Milliseconds of one call (CUDA events on a GPU)."""
    if device.type == "cuda":
        sync(device)
        e0, e1 = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        e0.record()
        fn()
        sync(device)
        e1.record()
        e1.synchronize()
        return float(e0.elapsed_time(e1))
    t0 = time.perf_counter()
    fn()
    return (time.perf_counter() - t0) * 1e3


def measure(
    fn: Callable[[], object],
    device: str | torch.device = "cpu",
    *,
    warmup: int = 1,
    repeats: int = 5,
    budget_s: float = 30.0,
    min_time_s: float = 0.5,
) -> dict:
    """Time ``fn()``: ``warmup`` untimed calls, then ``repeats`` timed ones within ``budget_s`` (warm-up
    included), more while under ``min_time_s`` (at most 1000); a warm-up call over the budget is the one
    sample (``warm`` False). Milliseconds: median, min, max, mean, stdev, n, first warm-up call's."""
    device = torch.device(device)
    samples: list[float] = []
    start = time.perf_counter()
    warm = True
    first_ms = None
    for _ in range(max(0, warmup)):
        t0 = time.perf_counter()
        fn()
        sync(device)
        w_ms = (time.perf_counter() - t0) * 1e3
        first_ms = w_ms if first_ms is None else first_ms
        if time.perf_counter() - start > budget_s:
            samples.append(w_ms)
            warm = False
            break

    def more() -> bool:
        if not samples:
            return True
        if not warm or time.perf_counter() - start >= budget_s:
            return False
        return len(samples) < repeats or (sum(samples) < min_time_s * 1e3 and len(samples) < 1000)

    while more():
        samples.append(_timed_call(fn, device))
    return {
        "median_ms": statistics.median(samples),
        "min_ms": min(samples),
        "max_ms": max(samples),
        "mean_ms": statistics.fmean(samples),
        "stdev_ms": statistics.stdev(samples) if len(samples) > 1 else 0.0,
        "n": len(samples),
        "warm": warm,
        "first_ms": first_ms,
        "clock": "cuda-events" if device.type == "cuda" else "perf_counter",
    }


"""Measuring tools of bench/gpu_check.py's sections (child processes; torch and filmrt imported).

Timing follows the device notes (METHOD.md): asynchronous GPU work is timed with CUDA events
around the region after warm-up calls, on random (never zero) data, as the median of several
groups of calls; on the CPU (the dry run) with ``time.perf_counter`` after a synchronising call.

- :func:`time_ms`: median / min / max milliseconds of one call, repeated;
- :func:`measure_rate`: items per second of a step repeated in groups sized to ~0.1-0.25 s each
  (warm-up calls first; the first call's time, which holds compilation and autotuning, is kept);
- :func:`model_flops`: FLOPs of one interpolation counted by ``FlopCounterMode`` on the meta
  device (shapes only; convolutions and matmuls, 2 FLOPs per MAC; not element-wise ops or the
  warp), per FILM stage for staged models; counted on a small CPU run and scaled by pixels when a
  model does not run on meta;
- :func:`random_film_weights`: FILM in a given configuration with random weights, saved as a
  filmrt weights file (FILM's released weights cannot be had here; speed does not depend on them);
- :func:`make_clip`: a synthetic H.264 clip (panning smooth texture and a moving disc: motion
  everywhere, no scene cut), so the GPU machine needs no media carried;
- :func:`versions`, :func:`gpu_info`: what the report says about the machine.

Units: ``*_ms`` milliseconds, ``*_s`` seconds, ``*_gib`` GiB, rates per second, FLOPs plain.
"""

from __future__ import annotations

import importlib.metadata
import math
import os
import platform
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.flop_counter import FlopCounterMode

from filmrt.models import get_spec
from filmrt.models.film import FILM
from filmrt.weights import save as save_weights


# ------------------------------------------------------------------------------------ timing
def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _elapsed_ms(fn: Callable[[], object], device: torch.device, calls: int = 1) -> float:
    """Milliseconds of ``calls`` back-to-back calls of ``fn`` (events on CUDA)."""
    if device.type == "cuda":
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        for _ in range(calls):
            fn()
        end.record()
        end.synchronize()
        return start.elapsed_time(end)
    t0 = time.perf_counter()
    for _ in range(calls):
        fn()
    return (time.perf_counter() - t0) * 1e3


def time_ms(fn: Callable[[], object], device: torch.device, warmup: int = 2, reps: int = 5) -> dict:
    """Median, min and max milliseconds of one call of ``fn`` after ``warmup`` calls."""
    for _ in range(warmup):
        fn()
    sync(device)
    times = [_elapsed_ms(fn, device) for _ in range(max(1, reps))]
    return {"median_ms": statistics.median(times), "min_ms": min(times), "max_ms": max(times), "reps": len(times)}


def measure_rate(step: Callable[[], object], items: int, device: torch.device, budget_s: float,
                 min_groups: int = 3, max_groups: int = 7) -> dict:
    """Items per second of ``step`` (which does ``items`` items of work).

    Two warm-up calls (the first one's seconds are returned as ``first_call_s``), then groups of
    ``g`` calls timed together, ``g`` chosen so that a group lasts ~0.1-0.25 s; at least
    ``min_groups`` groups, more while ``budget_s`` lasts. The rate is taken from the median group.
    """
    t0 = time.perf_counter()
    step()
    sync(device)
    first = time.perf_counter() - t0
    t0 = time.perf_counter()
    step()
    sync(device)
    second = max(time.perf_counter() - t0, 1e-6)
    target = min(0.25, max(0.02, budget_s / (min_groups + 1)))
    calls = max(1, min(1000, math.ceil(target / second)))
    groups: list[float] = []
    spent = 0.0
    while len(groups) < max_groups and (len(groups) < min_groups or spent < budget_s):
        ms = _elapsed_ms(step, device, calls) / calls
        groups.append(ms)
        spent += ms * calls / 1e3
    per_step = statistics.median(groups)
    return {
        "rate": items / (per_step / 1e3),
        "ms_per_step": per_step,
        "rate_min": items / (max(groups) / 1e3),
        "rate_max": items / (min(groups) / 1e3),
        "groups": len(groups),
        "calls_per_group": calls,
        "first_call_s": first,
    }


class PeakMemory:
    """Peak device memory (GiB) allocated inside the block; None on the CPU."""

    def __init__(self, device: torch.device):
        self.device = device
        self.gib: float | None = None

    def __enter__(self) -> PeakMemory:
        if self.device.type == "cuda":
            sync(self.device)
            torch.cuda.reset_peak_memory_stats(self.device)
        return self

    def __exit__(self, *exc) -> None:
        if self.device.type == "cuda":
            sync(self.device)
            self.gib = torch.cuda.max_memory_allocated(self.device) / 2**30


def free_device_memory(device: torch.device) -> None:
    if device.type == "cuda":
        sync(device)
        torch.cuda.empty_cache()


# ------------------------------------------------------------------------------------ FLOPs
def padded(h: int, w: int, multiple: int) -> tuple[int, int]:
    return -(-h // multiple) * multiple, -(-w // multiple) * multiple


def _flops(fn: Callable[[], object]) -> int:
    with torch.no_grad(), FlopCounterMode(display=False) as fc:
        fn()
    return int(fc.get_total_flops())


def _count_model(net: torch.nn.Module, device: str, hp: int, wp: int) -> dict:
    """FLOPs of one interpolation at the padded size (hp, wp) on ``device``; per stage when staged."""
    a = torch.rand(1, 3, hp, wp, device=device)
    t = torch.full((1,), 0.5, device=device)
    if all(callable(getattr(net, m, None)) for m in ("encode_frame", "encode_pair", "decode")):
        frame = _flops(lambda: net.encode_frame(a))
        s = net.encode_frame(a)
        pair = _flops(lambda: net.encode_pair(s, s))
        p = net.encode_pair(s, s)
        decode = _flops(lambda: net.decode(s, s, p, t))
        # a video conversion encodes each frame once: one frame + one pair + one decode per output
        return {"encode_frame": frame, "encode_pair": pair, "decode": decode,
                "per_interp_video": frame + pair + decode, "per_call_pair": 2 * frame + pair + decode}
    total = _flops(lambda: net(a, a, t))
    return {"per_interp_video": total, "per_call_pair": total}


def model_flops(model: str, config: dict | None, h: int, w: int) -> dict:
    """Counted FLOPs of ``model`` (a registered name; ``config`` or its default) at h x w."""
    spec = get_spec(model)
    cfg = dict(config or spec.default_config)
    with torch.device("meta"):
        net = spec.build(cfg)
    hp, wp = padded(h, w, getattr(net, "pad_multiple", spec.pad_multiple))
    try:
        out = _count_model(net, "meta", hp, wp)
        how = "meta"
    except (NotImplementedError, RuntimeError):
        small_h, small_w = padded(128, 128, getattr(net, "pad_multiple", 64))
        small = _count_model(spec.build(cfg).eval(), "cpu", small_h, small_w)
        scale = (hp * wp) / (small_h * small_w)
        out = {k: round(v * scale) for k, v in small.items()}
        how = "cpu-scaled"
    return {"padded_hw": [hp, wp], "counted_on": how, **out}


# ------------------------------------------------------------------------------------ models
def random_film_weights(path: Path, config: dict, seed: int = 0) -> Path:
    """FILM in ``config`` with random weights (seeded), saved as a filmrt weights file."""
    if path.exists():
        return path
    torch.manual_seed(seed)
    net = FILM(config)
    return save_weights(path, net.state_dict(), model="film", config=config, source="random (gpu_check)")


# ------------------------------------------------------------------------------------ media
def _texture(height: int, width: int, seed: int = 0) -> np.ndarray:
    """Smooth colour texture (H, W, 3) uint8: random fields at 1/32 and 1/8 scale, upsampled."""
    g = torch.Generator().manual_seed(seed)
    out = torch.zeros(1, 3, height, width)
    for div, weight in ((32, 0.7), (8, 0.3)):
        low = torch.rand(1, 3, max(2, height // div), max(2, width // div), generator=g)
        out += weight * F.interpolate(low, size=(height, width), mode="bicubic", align_corners=False)
    img = (out.clamp(0, 1)[0].permute(1, 2, 0).numpy() * 255).astype(np.uint8)
    return np.ascontiguousarray(img)


def make_clip(path: Path, width: int, height: int, fps: int, seconds: float, crf: int = 20) -> dict:
    """Write a synthetic H.264 clip: a texture panning 3 px/frame right and 1 px/frame down, and a
    disc on a circle; smooth motion, no scene cut. Returns what was written."""
    import av  # PyAV: a filmrt dependency, but carried as a wheel on the GPU machine

    if path.exists():
        path.unlink()
    n = max(2, round(fps * seconds))
    pan_x, pan_y = 3, 1
    tex = _texture(height + pan_y * n + 1, width + pan_x * n + 1)
    yy, xx = np.mgrid[0:height, 0:width]
    radius = max(4, height // 10)
    t0 = time.perf_counter()
    with av.open(str(path), "w") as out:
        st = out.add_stream("libx264", rate=fps)
        st.width, st.height, st.pix_fmt = width, height, "yuv420p"
        st.options = {"crf": str(crf), "preset": "veryfast"}
        for i in range(n):
            img = tex[pan_y * i: pan_y * i + height, pan_x * i: pan_x * i + width].copy()
            angle = 2 * math.pi * i / max(n, 1)
            cx, cy = width / 2 + width / 4 * math.cos(angle), height / 2 + height / 4 * math.sin(angle)
            img[(xx - cx) ** 2 + (yy - cy) ** 2 < radius**2] = (240, 200, 40)
            for packet in st.encode(av.VideoFrame.from_ndarray(img, format="rgb24")):
                out.mux(packet)
        for packet in st.encode():
            out.mux(packet)
    return {"path": str(path), "width": width, "height": height, "fps": fps, "frames": n,
            "seconds": n / fps, "bytes": path.stat().st_size, "synth_s": time.perf_counter() - t0}


# ------------------------------------------------------------------------------------ machine
def _dist_version(name: str) -> str | None:
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return None


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def versions() -> dict:
    """Versions and the host: what every figure of the report depends on."""
    import filmrt

    mem = None
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal"):
                mem = round(int(line.split()[1]) / 2**20, 1)
    except OSError:
        pass
    av_version = _dist_version("av")
    if av_version is None:
        try:
            import av  # carried wheels are unpacked without metadata

            av_version = av.__version__
        except ImportError:
            pass
    return {
        "python": platform.python_version(),
        "executable": sys.executable,
        "torch": torch.__version__,
        "cuda_runtime": torch.version.cuda,
        "cudnn": torch.backends.cudnn.version() if torch.backends.cudnn.is_available() else None,
        "triton": _dist_version("triton"),
        "numpy": np.__version__,
        "av": av_version,
        "onnxruntime": _dist_version("onnxruntime"),
        "pynvvideocodec": _dist_version("pynvvideocodec"),
        "filmrt_file": filmrt.__file__,
        "cuda_available": torch.cuda.is_available(),
        "device_count": torch.cuda.device_count() if torch.cuda.is_available() else 0,
        "host": platform.node(),
        "platform": platform.platform(),
        "cpu_model": _cpu_model(),
        "cpu_count": os.cpu_count(),
        "cpu_affinity": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
        "mem_total_gib": mem,
    }


def gpu_info(index: int = 0) -> dict:
    """The GPU as PyTorch and nvidia-smi see it (no setting is changed)."""
    p = torch.cuda.get_device_properties(index)
    info = {
        "name": p.name,
        "compute_capability": f"{p.major}.{p.minor}",
        "total_memory_gib": round(p.total_memory / 2**30, 1),
        "multiprocessors": p.multi_processor_count,
        "l2_cache_mib": round(getattr(p, "L2_cache_size", 0) / 2**20, 1) or None,
    }
    smi = shutil.which("nvidia-smi")
    if smi:
        fields = "name,driver_version,memory.total,clocks.sm,clocks.max.sm,power.limit,temperature.gpu"
        r = subprocess.run([smi, f"--query-gpu={fields}", "--format=csv,noheader"], capture_output=True,
                           text=True, timeout=30)
        if r.returncode == 0 and r.stdout.strip():
            values = [v.strip() for v in r.stdout.strip().splitlines()[index].split(",")]
            info["nvidia_smi"] = dict(zip(fields.split(","), values, strict=False))
            info["driver"] = info["nvidia_smi"].get("driver_version")
    return info

"""``filmrt bench``: throughput of every stage, backends and peers side by side, with the machine.

A figure is only worth something with its machine, its versions, its command and a baseline
measured in the same run (the machines here are shared and noisy), so one run of :func:`run_bench`
produces one JSON document holding all of them, and :func:`write_results` writes it with a
markdown summary under ``bench/results/<date>-<machine>.json/.md``.

What is measured (each section can be switched off; ``--quick`` shrinks sizes and repeats):

- **matmul peak**: a square matmul per precision, the ceiling the models are compared against
  (fp32 on CPU; fp32/TF32/fp16/bf16 on CUDA).
- **FLOPs**: counted once per model and size with ``torch.utils.flop_counter.FlopCounterMode`` on
  the *meta* device (shapes only, no arithmetic). The counter sees convolutions and matmuls
  (FLOP = 2 x MAC), not element-wise ops or the warp; it is the figure papers quote.
- **model only**: ``Interpolator.interpolate`` on frames already on the device, per model x
  backend x precision x size x batch: warm-up call(s), then the median of repeated calls (CUDA
  events on GPU, ``time.perf_counter`` on CPU). Interpolations/s = batch / median seconds;
  achieved FLOP/s = counted FLOPs / median seconds, and its fraction of the matmul peak.
- **FILM stages**: ``encode_frame`` (features, per frame), ``encode_pair`` (flows, per pair) and
  ``decode`` (warp + fusion, per output time), and the saving of stage reuse per input frame:
  x2 costs F + P + D instead of one whole call (2F + P + D), x4 costs F + P + 3D instead of
  3 (2F + P + D).
- **end to end**: ``filmrt.pipeline.convert.convert`` on a segment of a real clip, in a child
  process (so its peak host memory is its own): output frames/s, stage times when the pipeline
  reports them, peak host (``ru_maxrss``) and device memory.
- **peers**: ffmpeg's ``minterpolate`` (mi_mode=mci, mc_mode=aobmc, me_mode=bidir, vsbmc=1),
  run through PyAV's bundled libavfilter, on the same segment and output rate (decode + filter +
  libx264 encode, like ``ffmpeg -vf minterpolate``), and naive blending. Quality uses the
  drop-every-other-frame protocol: keep frames 0, 2, 4, ..., rebuild 1, 3, 5, ... and score them
  against the dropped originals (PSNR/SSIM on RGB uint8). Ratios between methods measured in the
  same run are what to compare; absolute times depend on the machine and its load.

Shapes at boundaries: frames are (N, 3, H, W) float32 RGB in [0, 1]; sizes are (H, W) pixels.
Times in the JSON are milliseconds (``*_ms``) or seconds (``*_s``); FLOPs are plain FLOPs.
"""

from __future__ import annotations

import contextlib
import copy
import dataclasses
import datetime
import json
import math
import os
import platform
import re
import resource
import shlex
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from fractions import Fraction
from pathlib import Path

import torch

from filmrt.errors import FilmrtError

SCHEMA = "filmrt-bench/1"

#: named sizes -> (H, W)
NAMED_SIZES = {
    "240p": (240, 426),
    "360p": (360, 640),
    "480p": (480, 854),
    "540p": (540, 960),
    "720p": (720, 1280),
    "1080p": (1080, 1920),
    "1440p": (1440, 2560),
    "2160p": (2160, 3840),
    "4k": (2160, 3840),
}

MINTERPOLATE_ARGS = "mi_mode=mci:mc_mode=aobmc:me_mode=bidir:vsbmc=1"

#: the issue's targets, checked in every run where the figures exist
TARGET_CPU_SPEEDUP_VS_MINTERPOLATE = 2.0
TARGET_GPU = {"film_1080p_e2e_fps": 30.0, "rife_1080p_model_interp_per_s": 400.0}


# ---------------------------------------------------------------------------------------- settings
@dataclasses.dataclass
class BenchSettings:
    device: str = "cpu"
    quick: bool = False
    models: list[str] | None = None  # None: every registered model
    backends: list[str] | None = None  # None: every backend available on the device
    precisions: list[str] | None = None  # None: fp32 on CPU, fp16+fp32 on CUDA
    sizes: list[str] | None = None  # None: 720p on CPU (256x256 quick), 720p,1080p,2160p on CUDA
    batches: list[int] | None = None  # None: [1] on CPU, [1, 8] on CUDA
    warmup: int = 1
    repeats: int | None = None  # None: 5 (quick: 3)
    budget_s: float | None = None  # per measured cell; None: 30 s (quick: 8 s)
    model_only: bool = True
    stages: bool = True
    flops: bool = True
    matmul: bool = True
    e2e: bool = True
    peers: bool = True
    clip: str | None = None  # None: ../shared/data/clips/bbb_720p25_audio.mp4
    ss: float = 0.0  # segment start (s)
    t: float | None = None  # segment duration (s); None: 2 s (quick: 1 s)
    e2e_models: list[str] | None = None  # None: rife-4.25 and blend (+ film when weights installed)
    quality_models: list[str] | None = None  # None: same as e2e models with real weights
    rate_factor: int = 2  # output rate = factor x source rate in the end-to-end comparison
    e2e_batch: int = 4  # frame pairs per model call in convert
    eval_video: bool = True  # also run `filmrt eval-video` on our models (cross-check of the quality protocol)
    #: skip model-only/stage cells above this many counted TFLOP per call (None: no cap;
    #: quick on CPU: 0.5, which keeps FILM at small sizes only)
    max_tflop: float | None = None
    quiet: bool = False
    command: str = ""

    def resolved(self) -> BenchSettings:
        s = copy.deepcopy(self)
        cuda = torch.device(s.device).type == "cuda"
        if s.models is None:
            from filmrt.models import model_names

            s.models = model_names()
        if s.precisions is None:
            s.precisions = ["fp16", "fp32"] if cuda else ["fp32"]
        if s.sizes is None:
            s.sizes = (["720p", "1080p"] if s.quick else ["720p", "1080p", "2160p"]) if cuda else (
                ["256x256", "720p"] if s.quick else ["720p"]
            )
        if s.max_tflop is None and s.quick and not cuda:
            s.max_tflop = 0.5
        if s.batches is None:
            s.batches = [1, 8] if cuda else [1]
        if s.repeats is None:
            s.repeats = 3 if s.quick else 5
        if s.budget_s is None:
            s.budget_s = 8.0 if s.quick else 30.0
        if s.t is None:
            s.t = 1.0 if s.quick else 2.0
        if s.clip is None:
            s.clip = str(default_clip())
        return s


def default_clip() -> Path:
    """The 720p25 Big Buck Bunny excerpt in ../shared (or $FILMRT_SHARED)."""
    root = Path(__file__).resolve().parent.parent
    shared = Path(os.environ.get("FILMRT_SHARED", root.parent / "shared"))
    return shared / "data" / "clips" / "bbb_720p25_audio.mp4"


def parse_size(text: str) -> tuple[str, int, int]:
    """``720p`` / ``1080p`` / ``2160p`` / ``WxH`` / ``N`` (square) -> (label, H, W)."""
    key = text.strip().lower()
    if key in NAMED_SIZES:
        h, w = NAMED_SIZES[key]
        return key, h, w
    m = re.fullmatch(r"(\d+)x(\d+)", key)
    if m:
        w, h = int(m.group(1)), int(m.group(2))
        return f"{w}x{h}", h, w
    if key.isdigit():
        return f"{key}x{key}", int(key), int(key)
    raise FilmrtError(f"unknown size {text!r}: use 720p, 1080p, 2160p, WxH (e.g. 1280x720) or N")


def log(settings: BenchSettings, msg: str) -> None:
    if not settings.quiet:
        print(f"[bench] {msg}", file=sys.stderr, flush=True)


# ---------------------------------------------------------------------------------------- timing
def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def measure(
    fn: Callable[[], object],
    device: str | torch.device = "cpu",
    *,
    warmup: int = 1,
    repeats: int = 5,
    budget_s: float = 30.0,
    min_time_s: float = 0.5,
) -> dict:
    """Time ``fn()``: ``warmup`` untimed calls, then up to ``repeats`` timed calls.

    Timed calls stop early once ``budget_s`` seconds (warm-up included) are spent, after at least
    one; fast calls are repeated beyond ``repeats`` until ``min_time_s`` of timed calls (at most
    1000), so a sub-millisecond call is not judged on three noisy samples. A warm-up call that alone exceeds the budget is kept as the only sample (``warm`` False):
    for calls that long, the first-call overhead is negligible. On CUDA each call is timed with
    events around a synchronised call; on CPU with ``time.perf_counter``.
    Returns milliseconds: median, min, max, mean, stdev, and n (timed calls).
    """
    device = torch.device(device)
    cuda = device.type == "cuda"
    samples: list[float] = []
    start = time.perf_counter()
    warm = True
    for _ in range(max(0, warmup)):
        t0 = time.perf_counter()
        fn()
        _sync(device)
        w_ms = (time.perf_counter() - t0) * 1e3
        if time.perf_counter() - start > budget_s:
            samples.append(w_ms)
            warm = False
            break
    def more() -> bool:
        if not samples:
            return True
        if time.perf_counter() - start >= budget_s:
            return False
        return len(samples) < repeats or (sum(samples) < min_time_s * 1e3 and len(samples) < 1000)

    while more():
        if cuda:
            _sync(device)
            e0, e1 = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            e0.record()
            fn()
            _sync(device)
            e1.record()
            e1.synchronize()
            samples.append(float(e0.elapsed_time(e1)))
        else:
            t0 = time.perf_counter()
            fn()
            samples.append((time.perf_counter() - t0) * 1e3)
        if not warm:
            break
    return {
        "median_ms": statistics.median(samples),
        "min_ms": min(samples),
        "max_ms": max(samples),
        "mean_ms": statistics.fmean(samples),
        "stdev_ms": statistics.stdev(samples) if len(samples) > 1 else 0.0,
        "n": len(samples),
        "warm": warm,
        "clock": "cuda-events" if cuda else "perf_counter",
    }


# ---------------------------------------------------------------------------------------- machine
def _run_text(cmd: list[str], cwd: str | None = None) -> str | None:
    try:
        out = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() if out.returncode == 0 else None


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _mem_total_gib() -> float | None:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return round(int(line.split()[1]) / 2**20, 1)
    except OSError:
        pass
    return None


def _cpu_flags() -> list[str]:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("flags"):
                have = set(line.split(":", 1)[1].split())
                return sorted(f for f in ("avx2", "avx512f", "avx512_bf16", "amx_bf16", "fma") if f in have)
    except OSError:
        pass
    return []


def load_average() -> list[float] | None:
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except OSError:
        return None


def versions() -> dict:
    """Versions of everything that moves a figure (None: not installed)."""
    v: dict[str, str | None] = {"python": platform.python_version(), "torch": torch.__version__}
    for mod in ("numpy", "onnxruntime", "onnx", "av", "tensorrt", "triton"):
        try:
            v[mod] = getattr(__import__(mod), "__version__", "?")
        except Exception:  # noqa: BLE001 - any import failure means "not usable here"
            v[mod] = None
    try:
        import av

        v["libavfilter"] = ".".join(map(str, av.library_versions.get("libavfilter", ())))
        v["libavcodec"] = ".".join(map(str, av.library_versions.get("libavcodec", ())))
    except Exception:  # noqa: BLE001
        pass
    try:
        from filmrt import __version__ as filmrt_version

        v["filmrt"] = filmrt_version
    except ImportError:
        v["filmrt"] = None
    v["torch_cuda"] = torch.version.cuda
    v["cudnn"] = str(torch.backends.cudnn.version()) if torch.cuda.is_available() else None
    return v


def machine(device: torch.device) -> dict:
    m = {
        "hostname_hash": None,
        "os": platform.platform(),
        "cpu_model": _cpu_model(),
        "cpu_count": os.cpu_count(),
        "cpu_affinity": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
        "cpu_flags": _cpu_flags(),
        "torch_threads": torch.get_num_threads(),
        "mem_total_gib": _mem_total_gib(),
        "device": str(device),
        "gpu": None,
    }
    if device.type == "cuda":
        p = torch.cuda.get_device_properties(device)
        m["gpu"] = {
            "name": p.name,
            "memory_gib": round(p.total_memory / 2**30, 1),
            "compute_capability": f"{p.major}.{p.minor}",
            "sm_count": p.multi_processor_count,
            "driver": _run_text(["nvidia-smi", "--query-gpu=driver_version", "--format=csv,noheader"]),
        }
    return m


def machine_slug(m: dict) -> str:
    """``cpu-2core`` or the GPU's name (``nvidia-h100-80gb-hbm3``): part of the result file name."""
    if m.get("gpu"):
        return re.sub(r"[^a-z0-9]+", "-", m["gpu"]["name"].lower()).strip("-")
    return f"cpu-{m.get('cpu_affinity') or m.get('cpu_count')}core"


def git_info(repo: Path | None = None) -> dict:
    cwd = str(repo or Path(__file__).resolve().parent.parent)
    commit = _run_text(["git", "rev-parse", "HEAD"], cwd)
    status = _run_text(["git", "status", "--porcelain", "--untracked-files=no"], cwd)
    return {
        "commit": commit,
        "branch": _run_text(["git", "rev-parse", "--abbrev-ref", "HEAD"], cwd),
        "dirty": bool(status) if status is not None else None,
    }


# ---------------------------------------------------------------------------------------- models
def _padded_hw(h: int, w: int, multiple: int) -> tuple[int, int]:
    from filmrt.padding import padded_size

    return padded_size(h, multiple), padded_size(w, multiple)


class ModelCache:
    """Builds each model once; FILM without installed weights gets seeded random weights.

    Timing does not depend on weight values, so a model whose weights are not installed (FILM:
    its released weights cannot be obtained here) is benchmarked with random weights in its full
    configuration, written to a temporary safetensors file so every backend loads the same thing.
    """

    def __init__(self, workdir: Path):
        self.workdir = workdir
        self._weights: dict[str, tuple[str | None, str]] = {}

    def weights_for(self, name: str) -> tuple[str | None, str]:
        """(weights path or None for the installed/none, description)."""
        if name in self._weights:
            return self._weights[name]
        from filmrt import weights as W
        from filmrt.models import get_spec

        spec = get_spec(name)
        if not spec.needs_weights:
            res: tuple[str | None, str] = (None, "none (parameter-free)")
        elif W.find(spec.name):
            res = (None, f"installed: {Path(W.find(spec.name)).name}")
        else:
            torch.manual_seed(0)
            net = spec.build(dict(spec.default_config))
            path = self.workdir / f"{spec.name}-random.safetensors"
            W.save(path, net.state_dict(), spec.name, dict(spec.default_config), source="bench random init")
            res = (str(path), "random (seeded; no weights installed; timing does not depend on weight values)")
        self._weights[name] = res
        return res

    def module(self, name: str, device: torch.device) -> torch.nn.Module:
        from filmrt.models import load_model

        path, _ = self.weights_for(name)
        return load_model(name, weights=path, device=device)


def count_flops(net: torch.nn.Module, fn: Callable[[torch.nn.Module, torch.device], object],
                devices: Sequence[str] = ("meta", "cpu")) -> tuple[int, str]:
    """FLOPs (conv + matmul, 2 per MAC) of ``fn(net_copy, device)``, counted on the meta device
    (shapes only), or on the next of ``devices`` when an op has no meta kernel.

    Returns (flops, device type used).
    """
    from torch.utils.flop_counter import FlopCounterMode

    last: Exception | None = None
    for name in devices:
        dev = torch.device(name)
        try:
            m = copy.deepcopy(net).to(dev)
            with torch.no_grad(), FlopCounterMode(display=False) as fc:
                fn(m, dev)
            return int(fc.get_total_flops()), dev.type
        except (NotImplementedError, RuntimeError) as e:
            last = e
    raise RuntimeError(f"FLOP counting failed on {', '.join(devices)}: {last}")


#: padded size of the real CPU run when a model cannot be traced on the meta device
_CPU_COUNT_HW = (128, 128)


def model_flops(net: torch.nn.Module, h: int, w: int) -> dict:
    """Counted FLOPs of one interpolation at (h, w), padded as the model pads.

    Counted on the meta device at the real size. If the model does not run on meta, it is counted
    by a real CPU run at 128x128 and scaled by padded pixels: exact for convolutional models whose
    padded size divides by every pyramid stride, since every layer's work is then proportional to
    the pixel count ("counted_on": "cpu-scaled").
    """
    mult = getattr(net, "pad_multiple", 64)
    ph, pw = _padded_hw(h, w, mult)

    def call_at(hh, ww):
        def call(m, dev):
            a = torch.zeros(1, 3, hh, ww, device=dev)
            m(a, a, torch.full((1,), 0.5, device=dev))
        return call

    try:
        flops, how = count_flops(net, call_at(ph, pw), devices=("meta",))
    except RuntimeError:
        ch, cw = _padded_hw(*_CPU_COUNT_HW, mult)
        small, _ = count_flops(net, call_at(ch, cw), devices=("cpu",))
        flops, how = round(small * (ph * pw) / (ch * cw)), "cpu-scaled"
    return {"padded_hw": [ph, pw], "flops": flops, "macs": flops // 2, "counted_on": how,
            "flops_per_padded_pixel": flops / (ph * pw)}


def film_stage_flops(net: torch.nn.Module, h: int, w: int) -> dict:
    """Counted FLOPs of each stage of the staged protocol (meta device only)."""
    ph, pw = _padded_hw(h, w, getattr(net, "pad_multiple", 64))
    out = {}

    def feat(m, dev):
        m.encode_frame(torch.zeros(1, 3, ph, pw, device=dev))

    def flow(m, dev):
        s = m.encode_frame(torch.zeros(1, 3, ph, pw, device=dev))
        m.encode_pair(s, s)

    def full(m, dev):
        a = torch.zeros(1, 3, ph, pw, device=dev)
        s = m.encode_frame(a)
        p = m.encode_pair(s, s)
        m.decode(s, s, p, torch.full((1,), 0.5, device=dev))

    f_feat, _ = count_flops(net, feat, devices=("meta",))
    f_flow, _ = count_flops(net, flow, devices=("meta",))
    f_full, _ = count_flops(net, full, devices=("meta",))
    out["features"] = f_feat
    out["flow"] = f_flow - f_feat
    out["fusion"] = f_full - f_flow
    return out


# ---------------------------------------------------------------------------------------- matmul peak
def matmul_peak(device: torch.device, precisions: Sequence[str], quick: bool) -> list[dict]:
    """Achieved FLOP/s of a square matmul, per precision: the practical ceiling of the device."""
    rows = []
    cuda = device.type == "cuda"
    n = (4096 if quick else 8192) if cuda else (1024 if quick else 2048)
    want = ["fp32", "tf32", "fp16", "bf16"] if cuda else ["fp32"]
    if not cuda and ("bf16" in precisions or {"amx_bf16", "avx512_bf16"} & set(_cpu_flags())):
        want.append("bf16")  # AMX / AVX512-BF16: what a bf16 model could reach on this CPU
    dtypes = {"fp32": torch.float32, "tf32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16}
    for prec in want:
        if cuda and prec not in precisions and prec not in ("fp32", "tf32") and prec != "fp16":
            continue
        a = torch.randn(n, n, device=device, dtype=dtypes[prec])
        b = torch.randn(n, n, device=device, dtype=dtypes[prec])
        old = torch.backends.cuda.matmul.allow_tf32
        torch.backends.cuda.matmul.allow_tf32 = prec == "tf32"
        try:
            tm = measure(lambda a=a, b=b: torch.mm(a, b), device, warmup=2, repeats=10 if cuda else 5,
                         budget_s=10.0)
        finally:
            torch.backends.cuda.matmul.allow_tf32 = old
        flops = 2 * n**3
        rows.append({"precision": prec, "n": n, "timing": tm, "tflops": flops / (tm["median_ms"] * 1e-3) / 1e12})
    return rows


def peak_for(peaks: list[dict], precision: str, device: torch.device) -> float | None:
    """The matmul peak a model at ``precision`` is compared with (fp32 on CUDA: TF32, cuDNN's default)."""
    key = precision
    if device.type == "cuda" and precision == "fp32" and torch.backends.cudnn.allow_tf32:
        key = "tf32"
    for r in peaks:
        if r["precision"] == key:
            return r["tflops"]
    return None


# ---------------------------------------------------------------------------------------- model only
def available_backends(device: torch.device) -> list[str]:
    from filmrt.engine import BACKENDS, backend_available

    return [b for b in BACKENDS if backend_available(b, device)[0]]


def bench_model_only(s: BenchSettings, dev: torch.device, cache: ModelCache, flops: dict,
                     peaks: list[dict], skipped: list[dict]) -> list[dict]:
    from filmrt.engine import backend_available, open_interpolator

    rows = []
    backends = s.backends or available_backends(dev)
    for model in s.models:
        for backend in backends:
            ok, why = backend_available(backend, dev)
            if not ok:
                skipped.append({"what": f"model-only {model} on {backend}", "why": why})
                continue
            for prec in s.precisions:
                for size in s.sizes:
                    label, h, w = parse_size(size)
                    for batch in s.batches:
                        what = f"{model} {backend} {prec} {label} batch {batch}"
                        fl = flops.get((model, label))
                        if s.max_tflop is not None and fl and batch * fl["flops"] > s.max_tflop * 1e12:
                            skipped.append({"what": f"model-only {what}", "why": f"{batch * fl['flops'] / 1e12:.2f} "
                                            f"TFLOP per call, above the cap of {s.max_tflop:g} (--max-tflop)"})
                            continue
                        try:
                            path, wdesc = cache.weights_for(model)
                            interp = open_interpolator(model, weights=path, backend=backend, device=dev,
                                                       precision=prec, max_batch=batch)
                        except Exception as e:  # noqa: BLE001 - a backend that cannot take this cell
                            skipped.append({"what": f"model-only {what}", "why": f"{type(e).__name__}: {e}"})
                            continue
                        gen = torch.Generator().manual_seed(0)
                        a = torch.rand(batch, 3, h, w, generator=gen).to(dev)
                        b = torch.rand(batch, 3, h, w, generator=gen).to(dev)
                        times = [0.5] * batch
                        log(s, f"model-only {what} ...")
                        if dev.type == "cuda":
                            torch.cuda.reset_peak_memory_stats(dev)
                        try:
                            tm = measure(lambda i=interp, a=a, b=b, t=times: i.interpolate(a, b, t), dev,
                                         warmup=s.warmup, repeats=s.repeats, budget_s=s.budget_s)
                        except Exception as e:  # noqa: BLE001
                            skipped.append({"what": f"model-only {what}", "why": f"{type(e).__name__}: {e}"})
                            interp.close()
                            continue
                        sec = tm["median_ms"] / 1e3
                        row = {
                            "model": model, "backend": backend, "precision": prec, "size": label,
                            "hw": [h, w], "batch": batch, "weights": wdesc, "describe": interp.describe(),
                            "timing": tm, "ms_per_call": tm["median_ms"], "ms_per_interp": tm["median_ms"] / batch,
                            "interp_per_s": batch / sec,
                        }
                        if fl and fl["flops"]:
                            row["flops_per_interp"] = fl["flops"]
                            row["achieved_tflops"] = batch * fl["flops"] / sec / 1e12
                            pk = peak_for(peaks, prec, dev)
                            if pk:
                                row["fraction_of_matmul_peak"] = row["achieved_tflops"] / pk
                        if dev.type == "cuda":
                            row["peak_device_mem_mib"] = torch.cuda.max_memory_allocated(dev) / 2**20
                        rows.append(row)
                        log(s, f"  {row['ms_per_call']:.1f} ms/call, {row['interp_per_s']:.2f} interp/s "
                               f"(n={tm['n']})")
                        interp.close()
                        del interp, a, b
    return rows


# ---------------------------------------------------------------------------------------- FILM stages
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
    """Cost per input frame of a x``factor`` conversion, whole calls vs stage reuse.

    Whole calls: ``factor - 1`` calls per input frame. Reuse: one feature pass (the other frame's
    features are cached), one flow pass (shared by every time of the pair), ``factor - 1`` fusions.
    """
    naive = (factor - 1) * whole
    staged = features + flow + (factor - 1) * fusion
    return {"naive_ms_per_input_frame": naive, "staged_ms_per_input_frame": staged,
            "saving": 1 - staged / naive, "speedup": naive / staged}


def bench_film_stages(s: BenchSettings, dev: torch.device, cache: ModelCache, flops_on: bool,
                      skipped: list[dict], flops: dict | None = None) -> list[dict]:
    """Per-stage times of models with the staged protocol, and the saving of stage reuse."""
    from filmrt.engine.torch_backend import DTYPES
    from filmrt.models import get_spec

    rows = []
    for model in s.models:
        try:
            net = cache.module(model, torch.device("cpu"))
        except Exception as e:  # noqa: BLE001
            skipped.append({"what": f"stages {model}", "why": f"{type(e).__name__}: {e}"})
            continue
        if not all(hasattr(net, f) for f in ("encode_frame", "encode_pair", "decode")):
            continue
        _, wdesc = cache.weights_for(get_spec(model).name)
        for prec in s.precisions:
            dt = DTYPES[prec]
            m = net.to(dev, dt)
            for size in s.sizes:
                label, h, w = parse_size(size)
                fl = (flops or {}).get((model, label))
                if s.max_tflop is not None and fl and fl["flops"] > s.max_tflop * 1e12:
                    skipped.append({"what": f"stages {model} {prec} {label}", "why": f"{fl['flops'] / 1e12:.2f} TFLOP "
                                    f"per whole call, above the cap of {s.max_tflop:g} (--max-tflop)"})
                    continue
                ph, pw = _padded_hw(h, w, getattr(net, "pad_multiple", 64))
                gen = torch.Generator().manual_seed(1)
                a = torch.rand(1, 3, ph, pw, generator=gen).to(dev, dt)
                b = torch.rand(1, 3, ph, pw, generator=gen).to(dev, dt)
                t = torch.full((1,), 0.5, device=dev, dtype=dt)
                log(s, f"stages {model} {prec} {label} ...")
                kw = dict(warmup=s.warmup, repeats=s.repeats, budget_s=s.budget_s)
                tf, tp, td, tw = stage_times(m, a, b, t, dev, **kw)
                del a, b
                F, P, D = tf["median_ms"], tp["median_ms"], td["median_ms"]
                whole = tw["median_ms"]
                staged_whole = 2 * F + P + D
                row = {
                    "model": model, "backend": "torch", "precision": prec, "size": label, "hw": [h, w],
                    "padded_hw": [ph, pw], "weights": wdesc,
                    "features_ms": F, "flow_ms": P, "fusion_ms": D, "whole_call_ms": whole,
                    "sum_of_stages_ms": staged_whole,
                    "timing": {"features": tf, "flow": tp, "fusion": td, "whole": tw},
                    "reuse": {"x2": reuse_saving(F, P, D, whole, 2), "x4": reuse_saving(F, P, D, whole, 4)},
                }
                if flops_on:
                    try:
                        row["stage_flops"] = film_stage_flops(net, h, w)
                    except Exception as e:  # noqa: BLE001
                        skipped.append({"what": f"stage FLOPs {model} {label}", "why": f"{type(e).__name__}: {e}"})
                rows.append(row)
                log(s, f"  features {F:.1f} ms, flow {P:.1f} ms, fusion {D:.1f} ms, whole {whole:.1f} ms; "
                       f"reuse saves {row['reuse']['x2']['saving']:.0%} at x2, {row['reuse']['x4']['saving']:.0%} at x4")
        net.to("cpu", torch.float32)
    return rows


# ---------------------------------------------------------------------------------------- clips
def probe_clip(path: str | os.PathLike) -> dict:
    import av

    with av.open(str(path)) as c:
        st = c.streams.video[0]
        rate = st.average_rate or st.guessed_rate
        return {"path": str(path), "name": Path(path).name, "width": st.width, "height": st.height,
                "rate": str(rate), "fps": float(rate), "codec": st.codec_context.name,
                "frames": st.frames, "duration_s": float(c.duration / 1e6) if c.duration else None}


def decode_segment(path: str | os.PathLike, ss: float, t: float) -> tuple[list, Fraction]:
    """The video frames (PyAV VideoFrames) whose time lies in [ss, ss + t), and the stream rate."""
    import av

    frames = []
    with av.open(str(path)) as c:
        st = c.streams.video[0]
        rate = Fraction(st.average_rate or st.guessed_rate)
        for f in c.decode(st):
            ts = float(f.time) if f.time is not None else len(frames) / rate
            if ts < ss - 1e-6:
                continue
            if ts >= ss + t - 1e-6:
                break
            frames.append(f)
    return frames, rate


def _drain(graph, out: list) -> None:
    import av

    while True:
        try:
            out.append(graph.pull())
        except (av.BlockingIOError, av.EOFError):
            return


def minterpolate_frames(frames: Sequence, in_rate: Fraction, out_rate: Fraction, tail_repeat: int = 0) -> list:
    """Run libavfilter's minterpolate on VideoFrames at ``in_rate`` (frame i at time i / in_rate).

    Output frame k sits at time k / out_rate (its ``pts`` is k, time base 1 / out_rate).
    minterpolate emits nothing for the last input interval (it needs one frame of look-ahead);
    ``tail_repeat`` pushes the last frame that many extra times so that interval is produced.
    """
    import av

    f0 = frames[0]
    fmt = f0.format.name
    g = av.filter.Graph()
    src = g.add("buffer", f"video_size={f0.width}x{f0.height}:pix_fmt={fmt}:time_base={1 / in_rate}"
                          f":frame_rate={in_rate}:pixel_aspect=1/1")
    mi = g.add("minterpolate", f"fps={out_rate}:{MINTERPOLATE_ARGS}")
    sink = g.add("buffersink")
    src.link_to(mi)
    mi.link_to(sink)
    g.configure()
    out: list = []
    frames = list(frames) + [frames[-1]] * tail_repeat
    for i, f in enumerate(frames):
        nf = av.VideoFrame.from_ndarray(f.to_ndarray(), format=fmt) if fmt == "yuv420p" else f.reformat()
        nf.pts = i
        nf.time_base = 1 / in_rate
        g.push(nf)
        _drain(g, out)
    g.push(None)
    _drain(g, out)
    return out


def minterpolate_transcode(src: str, dst: str, ss: float, t: float, factor: int,
                           codec: str = "libx264", crf: int | None = None, preset: str | None = None) -> dict:
    """``ffmpeg -ss SS -t T -i SRC -vf minterpolate=fps=factor*rate:... -c:v libx264 DST`` through PyAV.

    Returns wall seconds of each part (decode, filter, encode) and the frame counts.
    """
    import av

    la0 = load_average()
    c0, t0 = time.process_time(), time.perf_counter()
    frames, rate = decode_segment(src, ss, t)
    t_dec = time.perf_counter() - t0
    out_rate = rate * factor
    t1 = time.perf_counter()
    outs = minterpolate_frames(frames, rate, out_rate)
    t_filt = time.perf_counter() - t1
    t2 = time.perf_counter()
    with av.open(dst, "w") as oc:
        vs = oc.add_stream(codec, rate=out_rate)
        vs.width, vs.height, vs.pix_fmt = frames[0].width, frames[0].height, "yuv420p"
        opts = {}
        if crf is not None:
            opts["crf"] = str(crf)
        if preset:
            opts["preset"] = preset
        vs.options = opts
        for k, f in enumerate(outs):
            f.pts = k
            f.time_base = 1 / out_rate
            for p in vs.encode(f):
                oc.mux(p)
        for p in vs.encode(None):
            oc.mux(p)
    t_enc = time.perf_counter() - t2
    return {"in_frames": len(frames), "out_frames": len(outs), "decode_s": t_dec, "filter_s": t_filt,
            "encode_s": t_enc, "wall_s": time.perf_counter() - t0, "cpu_s": time.process_time() - c0,
            "load_average": [la0, load_average()], "out_rate": str(out_rate)}


# ---------------------------------------------------------------------------------------- quality
def encoder_defaults() -> tuple[int | None, str | None]:
    """(crf, preset) that ``convert`` encodes with, so the minterpolate peer encodes the same way."""
    try:
        from filmrt.pipeline.encode import DEFAULT_CRF, DEFAULT_PRESET
    except ImportError:
        return None, None
    return DEFAULT_CRF, DEFAULT_PRESET


def _metrics():
    """(psnr(pred, truth), ssim(pred, truth), where) on (H, W, 3) uint8 RGB.

    The project's evaluation functions (:mod:`filmrt.evaluation`, float images in [0, 1], the ones
    ``filmrt evaluate`` and ``eval-video`` score with) when present, so every method here is scored
    by the same code as our models elsewhere; else scikit-image's.
    """
    import numpy as np

    try:
        from filmrt import evaluation as ev

        if hasattr(ev, "psnr") and hasattr(ev, "ssim"):
            def f32(x):
                return np.asarray(x, dtype=np.float32) / 255.0

            return (lambda p, g: float(ev.psnr(f32(p), f32(g))), lambda p, g: float(ev.ssim(f32(p), f32(g))),
                    "filmrt.evaluation")
    except ImportError:
        pass
    from skimage.metrics import peak_signal_noise_ratio, structural_similarity

    def psnr(a, b):
        return float(peak_signal_noise_ratio(b, a, data_range=255))

    def ssim(a, b):
        return float(structural_similarity(b, a, channel_axis=2, data_range=255))

    return psnr, ssim, "skimage.metrics"


def quality_drop_frames(frames: Sequence, rate: Fraction, methods: dict[str, Callable], max_pairs: int) -> dict:
    """Drop-every-other-frame protocol on decoded VideoFrames.

    ``methods[name](kept_frames, rate_half) -> list of (H,W,3) uint8`` rebuilt middle frames
    (one per consecutive kept pair). Scores against the dropped originals.
    """
    import numpy as np

    psnr, ssim, where = _metrics()
    n = min(len(frames) - (1 - len(frames) % 2), 2 * max_pairs + 1)
    frames = list(frames[:n])
    kept = frames[0::2]
    truth = [f.to_ndarray(format="rgb24") for f in frames[1::2]]
    res = {"pairs": len(truth), "metric_source": where, "methods": {}}
    for name, fn in methods.items():
        t0 = time.perf_counter()
        try:
            preds = fn(kept, rate / 2)
        except Exception as e:  # noqa: BLE001
            res["methods"][name] = {"error": f"{type(e).__name__}: {e}"}
            continue
        dt = time.perf_counter() - t0
        ps = [psnr(p, g) for p, g in zip(preds, truth, strict=False)]
        ss = [ssim(p, g) for p, g in zip(preds, truth, strict=False)]
        res["methods"][name] = {"psnr": float(np.mean(ps)), "ssim": float(np.mean(ss)), "n": len(ps),
                                "wall_s": dt, "psnr_per_pair": [round(x, 3) for x in ps]}
    return res


def _mi_method(kept, half_rate):
    outs = minterpolate_frames(kept, half_rate, half_rate * 2, tail_repeat=1)
    by_pts = {int(o.pts): o for o in outs}
    preds = []
    for j in range(len(kept) - 1):
        o = by_pts.get(2 * j + 1)
        if o is None:
            raise RuntimeError(f"minterpolate produced no frame at position {2 * j + 1}")
        preds.append(o.to_ndarray(format="rgb24"))
    return preds


def _model_method(interp):
    import numpy as np

    from filmrt.imageio import to_uint8

    def run(kept, half_rate):
        imgs = [torch.from_numpy(np.ascontiguousarray(f.to_ndarray(format="rgb24"))).permute(2, 0, 1).float() / 255
                for f in kept]
        preds = []
        for j in range(len(imgs) - 1):
            out = interp.interpolate(imgs[j][None].to(interp.device), imgs[j + 1][None].to(interp.device), [0.5])
            preds.append(to_uint8(out[0].cpu()))
        return preds

    return run


# ---------------------------------------------------------------------------------------- end to end
def _convert_api():
    try:
        from filmrt.pipeline import convert as conv
    except ImportError as e:
        return None, f"filmrt.pipeline.convert not available in this checkout ({e})"
    if not hasattr(conv, "convert") or not hasattr(conv, "ConvertOptions"):
        return None, "filmrt.pipeline.convert has no convert()/ConvertOptions"
    return conv, ""


def _jsonable(x, depth: int = 0):
    if depth > 6:
        return str(x)
    if dataclasses.is_dataclass(x) and not isinstance(x, type):
        x = {f.name: getattr(x, f.name) for f in dataclasses.fields(x)}
    if isinstance(x, dict):
        return {str(k): _jsonable(v, depth + 1) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_jsonable(v, depth + 1) for v in x]
    if isinstance(x, (bool, int, float, str)) or x is None:
        return x
    if isinstance(x, Fraction):
        return str(x)
    if isinstance(x, Path):
        return str(x)
    return str(x)


def convert_options(conv, want: dict) -> tuple[object, dict]:
    """Build ConvertOptions from the fields it has; returns (options, the fields it lacked)."""
    fields = {f.name for f in dataclasses.fields(conv.ConvertOptions)}
    kw = {k: v for k, v in want.items() if k in fields and v is not None}
    return conv.ConvertOptions(**kw), {k: v for k, v in want.items() if k not in fields}


def peak_rss_mib() -> float:
    """This process's peak resident memory in MiB.

    Linux: ``VmHWM`` from /proc/self/status, which starts afresh at exec. ``ru_maxrss`` does not:
    it is kept across execve, so a child started by a big parent would report the parent's peak.
    """
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def e2e_child(spec: dict) -> dict:
    """Runs in a child process: one ``convert`` call, its wall time and this process's peak memory."""
    conv, why = _convert_api()
    if conv is None:
        return {"error": why}
    dev = torch.device(spec.get("device", "cpu"))
    interp = None
    if spec.get("weights"):
        from filmrt.engine import open_interpolator

        interp = open_interpolator(spec["model"], weights=spec["weights"], backend=spec.get("backend", "auto"),
                                   device=dev, precision=spec.get("precision", "auto"))
    opts, lacked = convert_options(conv, spec["options"])
    if dev.type == "cuda":
        torch.cuda.reset_peak_memory_stats(dev)
    rss0 = peak_rss_mib()
    la0 = load_average()
    c0, t0 = time.process_time(), time.perf_counter()
    result = conv.convert(spec["src"], spec["dst"], opts, interpolator=interp, on_progress=None)
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    out = {
        "wall_s": wall,
        "cpu_s": cpu,
        "load_average": [la0, load_average()],
        "result": _jsonable(result),
        "options_not_supported": lacked,
        "peak_host_mib": peak_rss_mib(),
        "host_mib_before_convert": rss0,
    }
    if dev.type == "cuda":
        out["peak_device_mib"] = torch.cuda.max_memory_allocated(dev) / 2**20
    return out


def _run_child(spec: dict, timeout: float = 3600) -> dict:
    cmd = [sys.executable, "-m", "filmrt.pipeline.bench", "--child", json.dumps(spec)]
    try:
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return {"error": f"timed out after {timeout:.0f} s"}
    lines = [ln for ln in p.stdout.splitlines() if ln.startswith("{")]
    if p.returncode != 0 or not lines:
        tail = (p.stderr or p.stdout).strip().splitlines()[-3:]
        return {"error": f"exit {p.returncode}: {' | '.join(tail)}"}
    return json.loads(lines[-1])


def _result_frames(res: dict) -> int | None:
    r = res.get("result") or {}
    for k in ("frames_out", "out_frames", "frames_written", "output_frames", "frames"):
        if isinstance(r.get(k), int):
            return r[k]
    return None


def _count_frames(path: str) -> int | None:
    try:
        import av

        with av.open(path) as c:
            return sum(1 for _ in c.decode(video=0))
    except Exception:  # noqa: BLE001
        return None


def bench_e2e(s: BenchSettings, dev: torch.device, cache: ModelCache, workdir: Path, clip: dict,
              skipped: list[dict]) -> list[dict]:
    conv, why = _convert_api()
    if conv is None:
        skipped.append({"what": "end-to-end convert", "why": why})
        return []
    out_fps = Fraction(clip["rate"]) * s.rate_factor
    rows = []
    for model in s.e2e_models:
        path, wdesc = cache.weights_for(model)
        dst = str(workdir / f"e2e-{model}.mp4")
        want = {"model": model, "backend": (s.backends or ["auto"])[0], "device": str(dev),
                "precision": s.precisions[0], "fps": f"x{s.rate_factor}", "ss": s.ss, "t": s.t,
                "batch": s.e2e_batch, "quiet": True}
        spec = {"src": clip["path"], "dst": dst, "device": str(dev), "model": model, "weights": path,
                "backend": want["backend"], "precision": want["precision"],
                "options": {k: (str(v) if isinstance(v, Fraction) else v) for k, v in want.items()}}
        log(s, f"end-to-end convert {model} {clip['name']} [{s.ss}s, +{s.t}s] -> {out_fps} fps ...")
        res = _run_child(spec)
        if "error" in res:
            skipped.append({"what": f"end-to-end convert {model}", "why": res["error"]})
            continue
        frames = _result_frames(res) or _count_frames(dst)
        row = {"model": model, "weights": wdesc, "backend": want["backend"], "precision": want["precision"],
               "clip": clip["name"], "ss": s.ss, "t": s.t, "out_rate": str(out_fps), **res,
               "out_frames": frames}
        if frames:
            row["out_fps"] = frames / res["wall_s"]
            row["interpolated_frames"] = (res.get("result") or {}).get("interpolated") or frames - frames // s.rate_factor
            row["s_per_interpolated_frame"] = res["wall_s"] / max(1, row["interpolated_frames"])
        rows.append(row)
        log(s, f"  {res['wall_s']:.1f} s, {frames} frames out"
               + (f", {row['out_fps']:.2f} frames/s" if frames else ""))
    return rows


def encode_only(frames: Sequence, rate: Fraction, n_out: int, dst: str, crf: int | None,
                preset: str | None, codec: str = "libx264") -> float:
    """Seconds to encode ``n_out`` frames (the decoded ones, cycled) as convert's encoder would."""
    import av

    f0 = frames[0]
    t0 = time.perf_counter()
    with av.open(dst, "w") as oc:
        vs = oc.add_stream(codec, rate=rate)
        vs.width, vs.height, vs.pix_fmt = f0.width, f0.height, "yuv420p"
        vs.options = {k: str(v) for k, v in (("crf", crf), ("preset", preset)) if v is not None}
        for k in range(n_out):
            f = frames[k % len(frames)]
            nf = av.VideoFrame.from_ndarray(f.to_ndarray(format="rgb24"), format="rgb24").reformat(format="yuv420p")
            nf.pts = k
            for p in vs.encode(nf):
                oc.mux(p)
        for p in vs.encode(None):
            oc.mux(p)
    return time.perf_counter() - t0


def op_profile(fn: Callable[[], object], dev: torch.device, top: int = 12) -> dict:
    """One call under ``torch.profiler``: the ops taking the most self time (where inference goes)."""
    from torch.profiler import ProfilerActivity, profile

    acts = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if dev.type == "cuda" else [])
    with profile(activities=acts) as p:
        fn()
        _sync(dev)
    key = "self_device_time_total" if dev.type == "cuda" else "self_cpu_time_total"
    ev = [e for e in p.key_averages() if getattr(e, key, 0) > 0]
    total = sum(getattr(e, key) for e in ev) or 1
    ev.sort(key=lambda e: getattr(e, key), reverse=True)
    return {"clock": key, "total_ms": total / 1e3,
            "ops": [{"op": e.key, "self_ms": getattr(e, key) / 1e3, "share": getattr(e, key) / total,
                     "calls": e.count} for e in ev[:top]]}


def bench_e2e_profile(s: BenchSettings, dev: torch.device, cache: ModelCache, workdir: Path, clip: dict,
                      rows: list[dict], skipped: list[dict], model_only: Sequence[dict] = ()) -> dict:
    """Where convert's time goes, measured from outside (convert reports no per-stage times).

    Each stage alone on the same segment: decode (PyAV, frames to RGB float tensors), inference
    (the model-only figure at the clip's size when measured, else the real frame pairs through
    the same Interpolator; extrapolated to the number of interpolations convert made), encode (libx264, convert's crf/preset, as many
    frames as convert wrote). In convert the three run in concurrent threads on the same cores.
    """
    import numpy as np

    from filmrt.engine import open_interpolator

    t0 = time.perf_counter()
    frames, rate = decode_segment(clip["path"], s.ss, s.t)
    imgs = [torch.from_numpy(np.ascontiguousarray(f.to_ndarray(format="rgb24"))).permute(2, 0, 1).float() / 255
            for f in frames]
    prof: dict = {"decode_s": time.perf_counter() - t0, "frames_in": len(frames)}
    crf, preset = encoder_defaults()
    n_out = max((r.get("out_frames") or 0) for r in rows) if rows else len(frames) * s.rate_factor
    prof["encode_s"] = encode_only(frames, rate * s.rate_factor, n_out, str(workdir / "encode-only.mp4"), crf, preset)
    prof["encode_frames"] = n_out
    prof["inference"] = {}
    for r in rows:
        n_interp = (r.get("result") or {}).get("interpolated") or r.get("interpolated_frames")
        if not n_interp:
            continue
        path, _ = cache.weights_for(r["model"])
        used = (r.get("result") or {}).get("backend") or r["backend"]
        try:
            interp = open_interpolator(r["model"], weights=path, backend=used, device=dev,
                                       precision=r["precision"], max_batch=s.e2e_batch)
        except Exception as e:  # noqa: BLE001
            skipped.append({"what": f"e2e profile {r['model']}", "why": f"{type(e).__name__}: {e}"})
            continue
        hw = [clip["height"], clip["width"]]
        known = [m for m in model_only if m["model"] == r["model"] and m["backend"] == used and m["hw"] == hw
                 and m["precision"] == interp.precision]
        a, b = imgs[0][None].to(dev), imgs[1][None].to(dev)
        times = [1.0 / s.rate_factor]
        if known:
            best = min(known, key=lambda m: m["ms_per_interp"])
            per, src = best["ms_per_interp"] / 1e3, f"model-only row (batch {best['batch']})"
            tm = best["timing"]
        else:
            tm = measure(lambda i=interp, a=a, b=b, t=times: i.interpolate(a, b, t), dev, warmup=1,
                         repeats=2, budget_s=s.budget_s, min_time_s=0)
            per, src = tm["median_ms"] / 1e3, "measured on the clip's first pair"
        prof["inference"][r["model"]] = {"s_per_interpolation": per, "interpolations": n_interp,
                                         "estimate_s": per * n_interp, "source": src, "backend": used,
                                         "timing": tm}
        if r["model"] != "blend":
            try:
                prof["inference"][r["model"]]["op_profile"] = op_profile(lambda i=interp, a=a, b=b, t=times:
                                                                         i.interpolate(a, b, t), dev)
            except Exception as e:  # noqa: BLE001 - the profile is a bonus
                skipped.append({"what": f"op profile {r['model']}", "why": f"{type(e).__name__}: {e}"})
        interp.close()
    return prof


def bench_peers(s: BenchSettings, dev: torch.device, cache: ModelCache, workdir: Path, clip: dict,
                skipped: list[dict]) -> dict:
    import av

    peers: dict = {}
    if "minterpolate" not in av.filter.filters_available:
        skipped.append({"what": "minterpolate", "why": "PyAV's libavfilter has no minterpolate"})
    else:
        log(s, f"peer: minterpolate transcode {clip['name']} [{s.ss}s, +{s.t}s] x{s.rate_factor} ...")
        crf, preset = encoder_defaults()
        r = minterpolate_transcode(clip["path"], str(workdir / "minterpolate.mp4"), s.ss, s.t, s.rate_factor,
                                   crf=crf, preset=preset)
        r["x264"] = {"crf": crf, "preset": preset}
        r["filter"] = f"minterpolate=fps=<{s.rate_factor}x rate>:{MINTERPOLATE_ARGS}"
        r["via"] = f"PyAV {av.__version__} bundled libavfilter (no ffmpeg binary)"
        r["interpolated_frames"] = r["out_frames"] - r["in_frames"]
        r["s_per_interpolated_frame"] = r["wall_s"] / max(1, r["interpolated_frames"])
        r["out_fps"] = r["out_frames"] / r["wall_s"]
        peers["minterpolate_speed"] = r
        log(s, f"  {r['wall_s']:.1f} s for {r['out_frames']} frames, {r['s_per_interpolated_frame']:.2f} s "
               f"per interpolated frame (filter alone {r['filter_s'] / max(1, r['interpolated_frames']):.2f} s)")
    # quality, drop every other frame
    frames, rate = decode_segment(clip["path"], s.ss, s.t)
    methods: dict[str, Callable] = {}
    if "minterpolate" in av.filter.filters_available:
        methods["minterpolate"] = _mi_method
    from filmrt.engine import open_interpolator

    for model in s.quality_models:
        path, wdesc = cache.weights_for(model)
        if wdesc.startswith("random"):
            skipped.append({"what": f"quality {model}", "why": "no real weights installed (random weights)"})
            continue
        try:
            interp = open_interpolator(model, weights=path, backend=(s.backends or ["auto"])[0], device=dev,
                                       precision=s.precisions[0], max_batch=1)
        except Exception as e:  # noqa: BLE001
            skipped.append({"what": f"quality {model}", "why": f"{type(e).__name__}: {e}"})
            continue
        methods[model] = _model_method(interp)
    log(s, f"quality (drop every other frame) on {len(frames)} frames: {', '.join(methods)} ...")
    q = quality_drop_frames(frames, rate, methods, max_pairs=max(1, (len(frames) - 1) // 2))
    q["clip"] = clip["name"]
    q["ss"], q["t"] = s.ss, s.t
    peers["quality"] = q
    for name, m in q["methods"].items():
        if "psnr" in m:
            log(s, f"  {name}: PSNR {m['psnr']:.2f} dB, SSIM {m['ssim']:.4f} ({m['n']} frames, {m['wall_s']:.1f} s)")
    # cross-check: the pipeline's own `filmrt eval-video` (its decoder and colour conversion) on our models
    try:
        from filmrt.pipeline.eval_video import eval_video
    except ImportError:
        eval_video = None
    if eval_video is not None and s.eval_video:
        peers["eval_video"] = {}
        for model in methods:
            if model in ("minterpolate", "blend"):  # eval-video scores blend next to every model
                continue
            path, _ = cache.weights_for(model)
            log(s, f"eval-video cross-check {model} ...")
            try:
                peers["eval_video"][model] = eval_video(
                    clip["path"], model=model, weights=path, backend=(s.backends or ["auto"])[0], device=str(dev),
                    precision=s.precisions[0], ss=s.ss, t=s.t, batch=s.e2e_batch, quiet=True)
            except Exception as e:  # noqa: BLE001
                skipped.append({"what": f"eval-video {model}", "why": f"{type(e).__name__}: {e}"})
    return peers


# ---------------------------------------------------------------------------------------- targets
def check_targets(res: dict) -> list[dict]:
    out = []
    dev = torch.device(res["settings"]["device"])
    mi = (res.get("peers") or {}).get("minterpolate_speed")
    q = ((res.get("peers") or {}).get("quality") or {}).get("methods", {})
    for row in res.get("end_to_end", []):
        if not row["model"].startswith("rife") or not mi or "s_per_interpolated_frame" not in row:
            continue
        speedup = mi["wall_s"] / row["wall_s"]
        cpu_speedup = mi["cpu_s"] / row["cpu_s"] if row.get("cpu_s") and mi.get("cpu_s") else None
        p_ours = (q.get(row["model"]) or {}).get("psnr")
        p_mi = (q.get("minterpolate") or {}).get("psnr")
        out.append({
            "target": f"convert with {row['model']} on {dev.type} >= {TARGET_CPU_SPEEDUP_VS_MINTERPOLATE:g}x faster "
                      "than minterpolate on the same clip, with higher PSNR",
            "speedup": speedup, "speedup_cpu_time": cpu_speedup, "psnr_ours": p_ours, "psnr_minterpolate": p_mi,
            "met": bool(speedup >= TARGET_CPU_SPEEDUP_VS_MINTERPOLATE and p_ours is not None and p_mi is not None
                        and p_ours > p_mi),
        })
    if dev.type == "cuda":
        for row in res.get("model_only", []):
            if row["model"].startswith("rife") and row["size"] == "1080p":
                out.append({"target": "RIFE 1080p >= 400 interpolations/s model-only",
                            "value": row["interp_per_s"], "batch": row["batch"], "precision": row["precision"],
                            "backend": row["backend"],
                            "met": row["interp_per_s"] >= TARGET_GPU["rife_1080p_model_interp_per_s"]})
    return out


# ---------------------------------------------------------------------------------------- driver
def run_bench(settings: BenchSettings) -> dict:
    """Run every enabled section; returns the result document (see the module docstring)."""
    from filmrt.engine import resolve_device
    from filmrt.models import get_spec

    s = settings.resolved()
    dev = resolve_device(s.device)
    s.models = [get_spec(m).name for m in s.models]
    skipped: list[dict] = []
    res: dict = {
        "schema": SCHEMA,
        "created_utc": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "command": s.command or "filmrt bench (API)",
        "git": git_info(),
        "machine": machine(dev),
        "versions": versions(),
        "load_average_start": load_average(),
        "settings": _jsonable(s),
        "notes": [],
    }
    t_start = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="filmrt-bench-") as tmp:
        workdir = Path(tmp)
        cache = ModelCache(workdir)
        res["weights"] = {m: cache.weights_for(m)[1] for m in s.models}
        if any(d.startswith("random") for d in res["weights"].values()):
            res["notes"].append(
                "Models marked 'random' have no weights installed here and run with seeded random weights "
                "in their full configuration: timing does not depend on weight values; no quality is "
                "reported for them.")
        peaks = []
        if s.matmul:
            log(s, "matmul peak ...")
            peaks = matmul_peak(dev, s.precisions, s.quick)
        res["matmul_peak"] = peaks
        flops: dict = {}
        if s.flops:
            for model in s.models:
                net = cache.module(model, torch.device("cpu"))
                for size in s.sizes:
                    label, h, w = parse_size(size)
                    try:
                        flops[(model, label)] = {"model": model, "size": label, "hw": [h, w],
                                                 **model_flops(net, h, w)}
                    except Exception as e:  # noqa: BLE001
                        skipped.append({"what": f"FLOPs {model} {label}", "why": f"{type(e).__name__}: {e}"})
                if model == "film":
                    try:
                        f1080 = model_flops(net, 1080, 1920)
                        res.setdefault("film_1080p_check", {
                            "macs": f1080["macs"], "tmac": f1080["macs"] / 1e12, "padded_hw": f1080["padded_hw"],
                            "expected_tmac": 4.44,
                            "relative_difference": f1080["macs"] / 4.44e12 - 1})
                    except Exception as e:  # noqa: BLE001
                        skipped.append({"what": "FILM 1080p FLOP check", "why": f"{type(e).__name__}: {e}"})
        res["flops"] = list(flops.values())
        res["model_only"] = bench_model_only(s, dev, cache, flops, peaks, skipped) if s.model_only else []
        res["film_stages"] = bench_film_stages(s, dev, cache, s.flops, skipped, flops) if s.stages else []
        res["end_to_end"] = []
        res["peers"] = {}
        if s.e2e or s.peers:
            clip_path = Path(s.clip)
            if not clip_path.is_file():
                skipped.append({"what": "end-to-end and peers", "why": f"clip not found: {clip_path}"})
            else:
                clip = probe_clip(clip_path)
                res["clip"] = clip
                if s.e2e_models is None:
                    s.e2e_models = [m for m in s.models if not cache.weights_for(m)[1].startswith("random")]
                    if "film" in s.models and "film" not in s.e2e_models:
                        skipped.append({"what": "end-to-end film", "why": "no FILM weights installed"})
                if s.quality_models is None:
                    s.quality_models = list(s.e2e_models)
                res["settings"]["e2e_models"] = s.e2e_models
                res["settings"]["quality_models"] = s.quality_models
                if s.e2e:
                    res["end_to_end"] = bench_e2e(s, dev, cache, workdir, clip, skipped)
                    if res["end_to_end"]:
                        log(s, "end-to-end profile: decode, inference and encode alone ...")
                        res["e2e_profile"] = bench_e2e_profile(s, dev, cache, workdir, clip, res["end_to_end"],
                                                               skipped, res["model_only"])
                if s.peers:
                    res["peers"] = bench_peers(s, dev, cache, workdir, clip, skipped)
    res["skipped"] = skipped
    res["targets"] = check_targets(res)
    res["load_average_end"] = load_average()
    res["total_s"] = time.perf_counter() - t_start
    la = res["load_average_start"]
    if la and la[0] > 0.5 * (res["machine"]["cpu_affinity"] or 1):
        res["notes"].append(f"The machine was shared: load average {la} at start, {res['load_average_end']} "
                            "at end; absolute times are pessimistic, ratios within this run are comparable.")
    return res


# ---------------------------------------------------------------------------------------- results
def result_paths(json_arg: str, res: dict) -> tuple[Path, Path]:
    """``--json OUT``: OUT itself, or ``<dir>/<date>-<machine>[-quick].json`` when OUT's name is
    ``auto`` (or OUT is a directory). The markdown summary goes next to it (.md)."""
    p = Path(json_arg)
    if p.name == "auto" or p.is_dir():
        d = p.parent if p.name == "auto" else p
        date = res["created_utc"][:10]
        name = f"{date}-{machine_slug(res['machine'])}" + ("-quick" if res["settings"]["quick"] else "")
        p = d / f"{name}.json"
    return p, p.with_suffix(".md")


def _atomic_write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    tmp.write_text(text)
    os.replace(tmp, path)


def write_results(res: dict, json_arg: str) -> tuple[Path, Path]:
    jp, mp = result_paths(json_arg, res)
    _atomic_write(jp, json.dumps(res, indent=1, sort_keys=False) + "\n")
    _atomic_write(mp, markdown(res))
    return jp, mp


def _f(x, fmt: str = ".2f", none: str = "—") -> str:
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return none
    return format(x, fmt)


def markdown(res: dict) -> str:
    m, v = res["machine"], res["versions"]
    gpu = m.get("gpu")
    L = [f"# filmrt bench — {res['created_utc'][:10]} — {machine_slug(m)}", ""]
    L.append(f"- command: `{res['command']}`")
    g = res["git"]
    L.append(f"- git: `{g.get('commit')}` ({g.get('branch')}{', uncommitted changes' if g.get('dirty') else ''})")
    L.append(f"- machine: {m['cpu_model']}, {m['cpu_affinity']} cores usable, {m['torch_threads']} torch threads, "
             f"{m['mem_total_gib']} GiB RAM" + (f"; GPU {gpu['name']} ({gpu['memory_gib']} GiB, CC "
                                                f"{gpu['compute_capability']}, driver {gpu['driver']})" if gpu else "; no GPU"))
    L.append("- versions: " + ", ".join(f"{k} {val}" for k, val in v.items() if val))
    L.append(f"- load average (1, 5, 15 min): start {res['load_average_start']}, end {res['load_average_end']}")
    L.append(f"- total bench time: {res['total_s']:.0f} s")
    for n in res.get("notes", []):
        L.append(f"- note: {n}")
    L.append("")
    if res.get("matmul_peak"):
        L += ["## Matmul peak", "", "| precision | n | median ms | TFLOP/s |", "|---|---|---|---|"]
        for r in res["matmul_peak"]:
            L.append(f"| {r['precision']} | {r['n']} | {r['timing']['median_ms']:.2f} | {r['tflops']:.3f} |")
        L.append("")
    if res.get("flops"):
        L += ["## Counted FLOPs (conv + matmul, FlopCounterMode; 1 MAC = 2 FLOPs)", "",
              "| model | size | padded | GFLOP per interpolation | FLOP per padded pixel |", "|---|---|---|---|---|"]
        for r in res["flops"]:
            L.append(f"| {r['model']} | {r['size']} | {r['padded_hw'][1]}x{r['padded_hw'][0]} | "
                     f"{r['flops'] / 1e9:.1f} | {r['flops_per_padded_pixel']:.0f} |")
        c = res.get("film_1080p_check")
        if c:
            L.append("")
            L.append(f"FILM at 1080p (padded {c['padded_hw'][1]}x{c['padded_hw'][0]}): {c['tmac']:.3f} TMAC per "
                     f"interpolation (expected ~{c['expected_tmac']} TMAC: {c['relative_difference']:+.1%}).")
        L.append("")
    if res.get("model_only"):
        L += ["## Model only (Interpolator.interpolate, frames on the device)", "",
              "| model | backend | precision | size | batch | ms per call | interp/s | achieved TFLOP/s | "
              "of matmul peak | n |", "|---|---|---|---|---|---|---|---|---|---|"]
        for r in res["model_only"]:
            L.append(f"| {r['model']} | {r['backend']} | {r['precision']} | {r['size']} | {r['batch']} | "
                     f"{r['ms_per_call']:.1f} | {r['interp_per_s']:.2f} | {_f(r.get('achieved_tflops'), '.3f')} | "
                     f"{_f(r.get('fraction_of_matmul_peak'), '.1%')} | {r['timing']['n']} |")
        L.append("")
    if res.get("film_stages"):
        L += ["## FILM stages and stage reuse (torch)", "",
              "| model | precision | size | features ms | flow ms | fusion ms | whole call ms | saving x2 | "
              "saving x4 |", "|---|---|---|---|---|---|---|---|---|"]
        for r in res["film_stages"]:
            L.append(f"| {r['model']} | {r['precision']} | {r['size']} | {r['features_ms']:.1f} | {r['flow_ms']:.1f} | "
                     f"{r['fusion_ms']:.1f} | {r['whole_call_ms']:.1f} | {r['reuse']['x2']['saving']:.0%} | "
                     f"{r['reuse']['x4']['saving']:.0%} |")
        sf = [r for r in res["film_stages"] if r.get("stage_flops")]
        if sf:
            r = sf[0]["stage_flops"]
            tot = sum(r.values()) or 1
            L.append("")
            L.append(f"Counted FLOPs by stage ({sf[0]['size']}): features {r['features'] / tot:.0%}, flow "
                     f"{r['flow'] / tot:.0%}, fusion {r['fusion'] / tot:.0%}.")
        L.append("Saving per input frame: x2 runs features + flow + fusion instead of one whole call; x4 "
                 "features + flow + 3 fusion instead of three whole calls.")
        L.append("")
    q = (res.get("peers") or {}).get("quality", {}).get("methods", {})
    mi = (res.get("peers") or {}).get("minterpolate_speed")
    if res.get("end_to_end") or mi:
        clip = res.get("clip", {})
        L += [f"## End to end and peers: {clip.get('name')} ({clip.get('width')}x{clip.get('height')}, "
              f"{clip.get('rate')} fps), segment {res['settings']['ss']} s + {res['settings']['t']} s, "
              f"x{res['settings']['rate_factor']} rate", "",
              "| method | wall s | CPU s | out frames | out frames/s | s per interpolated frame | vs minterpolate "
              "(wall) | vs minterpolate (CPU time) | PSNR dB | SSIM | peak host MiB |",
              "|---|---|---|---|---|---|---|---|---|---|---|"]
        rows = []
        if mi:
            rows.append(("minterpolate (PyAV libavfilter, + x264)", mi["wall_s"], mi.get("cpu_s"), mi["out_frames"],
                         mi["out_fps"], mi["s_per_interpolated_frame"], 1.0, 1.0, q.get("minterpolate", {}), None))
        for r in res.get("end_to_end", []):
            cpu_ratio = mi["cpu_s"] / r["cpu_s"] if mi and mi.get("cpu_s") and r.get("cpu_s") else None
            rows.append((f"filmrt convert {r['model']} ({(r.get('result') or {}).get('backend') or r['backend']})",
                         r["wall_s"], r.get("cpu_s"), r.get("out_frames"), r.get("out_fps"),
                         r.get("s_per_interpolated_frame"), (mi["wall_s"] / r["wall_s"]) if mi else None, cpu_ratio,
                         q.get(r["model"], {}), r.get("peak_host_mib")))
        for name, wall, cpu, nout, fps, spf, ratio, cratio, qq, mem in rows:
            L.append(f"| {name} | {wall:.1f} | {_f(cpu, '.1f')} | {_f(nout, 'd')} | {_f(fps)} | {_f(spf, '.3f')} | "
                     f"{_f(ratio, '.2f')}x | {_f(cratio, '.2f')}x | {_f(qq.get('psnr'))} | {_f(qq.get('ssim'), '.4f')} | "
                     f"{_f(mem, '.0f')} |")
        L.append("")
        L.append("'vs minterpolate': minterpolate's time / this method's (higher is faster); CPU time (user + "
                 "system, all threads) is less sensitive than wall time to other load on a shared machine. Quality: "
                 "drop every other frame, rebuild it, PSNR/SSIM against the dropped original "
                 f"({res['peers'].get('quality', {}).get('pairs', 0)} frames, "
                 f"{res['peers'].get('quality', {}).get('metric_source', '')}).")
        pr = res.get("e2e_profile")
        if pr:
            L.append("")
            L.append(f"Where convert's time goes (each stage alone on the same segment; in convert they overlap in "
                     f"threads on the same cores): decode {pr['decode_s']:.2f} s ({pr['frames_in']} frames), encode "
                     f"{pr['encode_s']:.2f} s ({pr['encode_frames']} frames, libx264)"
                     + "".join(f", {m} inference {v['estimate_s']:.1f} s ({v['interpolations']} x "
                               f"{v['s_per_interpolation']:.3f} s)" for m, v in pr["inference"].items()) + ".")
            for mname, v in pr["inference"].items():
                op = v.get("op_profile")
                if op:
                    conv = sum(o["share"] for o in op["ops"] if "conv" in o["op"])
                    L.append(f"{mname} inference by op (torch.profiler, self time): convolutions {conv:.0%}; "
                             + ", ".join(f"{o['op'].replace('aten::', '')} {o['share']:.0%}" for o in op["ops"][:8]
                                         if "conv" not in o["op"]) + ".")
        for mname, ev in (res["peers"].get("eval_video") or {}).items():
            L.append(f"- `filmrt eval-video` on the same segment (the pipeline's decoder and colour conversion): "
                     f"{mname} PSNR {ev['psnr']:.2f} dB, SSIM {ev['ssim']:.4f}; blend PSNR {ev['blend_psnr']:.2f} dB "
                     f"({ev['frames_scored']} frames).")
        for r in res.get("end_to_end", []):
            stages = (r.get("result") or {}).get("timings") or (r.get("result") or {}).get("stage_seconds")
            if stages:
                L.append(f"- {r['model']} stage times: " + ", ".join(
                    f"{k} {_f(val, '.2f')} s" for k, val in stages.items() if isinstance(val, (int, float))))
        L.append("")
    if res.get("targets"):
        L += ["## Targets", ""]
        for t in res["targets"]:
            detail = ", ".join(f"{k} {_f(val, '.2f') if isinstance(val, float) else val}" for k, val in t.items()
                               if k not in ("target", "met"))
            L.append(f"- {'MET' if t['met'] else 'NOT MET'}: {t['target']} ({detail})")
        L.append("")
    if res.get("skipped"):
        L += ["## Not measured", ""]
        for sk in res["skipped"]:
            L.append(f"- {sk['what']}: {sk['why']}")
        L.append("")
    return "\n".join(L)


def _child_main(argv: list[str]) -> int:
    if len(argv) == 2 and argv[0] == "--child":
        print(json.dumps(e2e_child(json.loads(argv[1]))), flush=True)
        return 0
    print("internal entry point of filmrt bench; run `filmrt bench`", file=sys.stderr)
    return 2


def command_line() -> str:
    argv = sys.argv
    head = "filmrt" if not argv[0].endswith("__main__.py") else "python -m filmrt"
    return " ".join([head, shlex.join(argv[1:])]).strip()


if __name__ == "__main__":
    with contextlib.suppress(BrokenPipeError):
        sys.exit(_child_main(sys.argv[1:]))

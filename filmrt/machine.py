"""Facts about the machine a figure was measured on: CPU, memory, GPU, versions, git, load, peak memory.

Every result records them, because a time means nothing without them (the machines here are
shared, and the CPU model changes between sessions): ``filmrt bench`` (both profiles) and
``filmrt eval`` report the same :func:`versions`. Reading a fact never fails: what cannot be read
is ``None``.
"""

from __future__ import annotations

import os
import platform
import re
import resource
import subprocess
from pathlib import Path

import torch

from filmrt import __version__ as filmrt_version

#: CPU features that decide what a CPU can reach (AVX2 vs AVX-512, bf16 and AMX units)
CPU_FLAGS = ("avx2", "avx512f", "avx512_bf16", "amx_bf16", "fma")
#: what nvidia-smi adds about the GPU (read only: no setting is changed)
SMI_FIELDS = ("driver_version", "clocks.sm", "clocks.max.sm", "power.limit", "temperature.gpu")


def run_text(cmd: list[str], cwd: str | None = None) -> str | None:
    """stdout of ``cmd`` (stripped), or None when it cannot run or fails."""
    try:
        out = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() if out.returncode == 0 else None


def _cpuinfo_field(prefix: str) -> str | None:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith(prefix):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return None


def cpu_model() -> str:
    return _cpuinfo_field("model name") or platform.processor() or platform.machine()


def cpu_flags() -> list[str]:
    have = set((_cpuinfo_field("flags") or "").split())
    return sorted(f for f in CPU_FLAGS if f in have)


def mem_total_gib() -> float | None:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return round(int(line.split()[1]) / 2**20, 1)
    except OSError:
        pass
    return None


def load_average() -> list[float] | None:
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except OSError:
        return None


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
    v["filmrt"] = filmrt_version
    v["torch_cuda"] = torch.version.cuda
    v["cudnn"] = str(torch.backends.cudnn.version()) if torch.cuda.is_available() else None
    v["cuda_available"] = torch.cuda.is_available()
    return v


def machine(device: torch.device) -> dict:
    m = {
        "hostname_hash": None,
        "os": platform.platform(),
        "cpu_model": cpu_model(),
        "cpu_count": os.cpu_count(),
        "cpu_affinity": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
        "cpu_flags": cpu_flags(),
        "torch_threads": torch.get_num_threads(),
        "mem_total_gib": mem_total_gib(),
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
        }
        # clocks, power limit and temperature move figures as much as the GPU model does
        smi = run_text(["nvidia-smi", f"--query-gpu={','.join(SMI_FIELDS)}", "--format=csv,noheader"])
        values = [x.strip() for x in smi.splitlines()[device.index or 0].split(",")] if smi else []
        m["gpu"].update(zip(SMI_FIELDS, values, strict=False))
        m["gpu"]["driver"] = m["gpu"].pop("driver_version", None)
    return m


def machine_slug(m: dict) -> str:
    """``cpu-2core`` or the GPU's name (``nvidia-h100-80gb-hbm3``): part of the result file name."""
    if m.get("gpu"):
        return re.sub(r"[^a-z0-9]+", "-", m["gpu"]["name"].lower()).strip("-")
    return f"cpu-{m.get('cpu_affinity') or m.get('cpu_count')}core"


def git_info(repo: Path | None = None) -> dict:
    cwd = str(repo or Path(__file__).resolve().parent.parent)
    commit = run_text(["git", "rev-parse", "HEAD"], cwd)
    status = run_text(["git", "status", "--porcelain", "--untracked-files=no"], cwd)
    return {
        "commit": commit,
        "branch": run_text(["git", "rev-parse", "--abbrev-ref", "HEAD"], cwd),
        "dirty": bool(status) if status is not None else None,
    }

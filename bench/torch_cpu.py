"""Where torch's system time on the CPU goes: page faults per model call, with and without glibc's
allocator keeping freed memory.

RIFE at 720p allocates tensors of 4-60 MB per layer. glibc serves every block above its mmap
threshold (128 KiB, raised dynamically up to 32 MiB) with a fresh ``mmap`` and returns it with
``munmap`` when freed, so every call of the model maps, zero-fills (one minor page fault per 4 KiB
page) and unmaps its whole working set again: system time that grows with the frame size.
``MALLOC_MMAP_THRESHOLD_`` / ``MALLOC_TRIM_THRESHOLD_`` (glibc's environment tunables, read once at
process start, so they are the *caller's* choice: set in the environment, never by filmrt) keep the
freed blocks in the heap for the next call.

This script measures one configuration per process (the environment it was started with):
``python -m filmrt.bench.torch_cpu [--size 720p] [--calls 4]`` prints one JSON line with user
and system seconds, minor faults and wall time per call after the first (warm-up); compare two
runs started in the same minute (the machine is shared: ``loadavg_1m`` says how loaded).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import time


def main(argv=None) -> None:
    p = argparse.ArgumentParser(prog="python -m filmrt.bench.torch_cpu")
    p.add_argument("--size", default="720p")
    p.add_argument("--calls", type=int, default=4)
    p.add_argument("--model", default="rife-4.25")
    args = p.parse_args(argv)

    import torch

    from filmrt.engine import open_interpolator
    from filmrt.sizes import parse_size

    size = parse_size(args.size)
    interp = open_interpolator(model=args.model, backend="torch")
    g = torch.Generator().manual_seed(0)
    a = torch.rand(1, 3, size.height, size.width, generator=g)
    b = a.roll(6, -1)
    interp.interpolate(a, b, 0.5)  # warm-up: weights paged in, thread pool started
    r0, t0 = resource.getrusage(resource.RUSAGE_SELF), time.perf_counter()
    for _ in range(args.calls):
        interp.interpolate(a, b, 0.5)
    wall = time.perf_counter() - t0
    r1 = resource.getrusage(resource.RUSAGE_SELF)
    n = args.calls
    env = {k: v for k, v in os.environ.items() if k.startswith(("MALLOC_", "OMP_", "GLIBC_TUNABLES"))}
    print(json.dumps({
        "size": args.size, "model": args.model, "threads": torch.get_num_threads(), "env": env,
        "wall_s_per_call": round(wall / n, 3), "user_s_per_call": round((r1.ru_utime - r0.ru_utime) / n, 3),
        "sys_s_per_call": round((r1.ru_stime - r0.ru_stime) / n, 3),
        "minor_faults_per_call": (r1.ru_minflt - r0.ru_minflt) // n,
        "vol_ctx_switches_per_call": (r1.ru_nvcsw - r0.ru_nvcsw) // n,
        "invol_ctx_switches_per_call": (r1.ru_nivcsw - r0.ru_nivcsw) // n,
        "peak_rss_mb": round(r1.ru_maxrss / 1024), "loadavg_1m": os.getloadavg()[0],
    }))


if __name__ == "__main__":
    main()

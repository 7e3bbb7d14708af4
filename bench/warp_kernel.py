"""Benchmark and check the BackwardWarp CUDA kernel against the grid_sample path.

    python bench/warp_kernel.py                  # on a GPU machine: checks + timings -> bench/results/
    python bench/warp_kernel.py --cpu-only       # anywhere: the CPU part (host build of the kernel)
    python -m filmrt.bench.warp_kernel ...       # the same, as a module of the installed package

Run from the repository root with filmrt importable (``pip install --no-deps -e .``; with only
``PYTHONPATH=.`` the kernel module is loaded from engine/cuda/warp_kernel.py by path). Results go to the
repository's ``bench/results/`` (``--out``), found from this file's place in the checkout.

GPU part (skipped, with a message, without CUDA):

1. correctness: ``shared/fixtures/warp/warp_io.npz`` (fp32 <= 1e-5, fp16 <= 2e-3); the GPU output
   equals the host build bit for bit (same float32 arithmetic: -fmad=false / -ffp-contract=off);
   random 2160x3840 frames with flows far outside the frame vs grid_sample (<= 1e-3), fp32 and
   fp16; a tensor of more than 2^31 elements (64-bit offsets) checked on its last channels;
2. timing: CUDA events, median of ``--iters`` runs after warm-up, kernel vs
   ``filmrt.warp.warp_grid_sample`` (grid construction + grid_sample), for RIFE-like (C=3, 8) and
   FILM-like (C=64) warps at 720p, 1080p and 2160p (padded to 64), fp32 and fp16;
3. writes ``bench/results/warp-kernel-<gpu>-<date>.json`` and ``.md`` with the exact command.

CPU part: the committed PTX is up to date with the sources; the host build of the kernel header
matches the fixture and grid_sample (a 2160x3840 frame with far-out flows).
"""

from __future__ import annotations

import argparse
import datetime as dt
import importlib.util
import json
import platform
import re
import statistics
import sys
from pathlib import Path

import numpy as np
import torch

from filmrt.fileio import atomic_write, write_json
from filmrt.warp import warp_grid_sample

REPO = Path(__file__).resolve().parent.parent
SIZES = {"720p": (768, 1280), "1080p": (1088, 1920), "2160p": (2176, 3840)}  # padded to 64
CHANNELS = {"rife-image": 3, "rife-feat": 8, "film-feat": 64}


def load_warp_kernel():
    try:
        from filmrt.engine.cuda import warp_kernel

        return warp_kernel
    except ImportError:
        spec = importlib.util.spec_from_file_location("filmrt_warp_kernel", REPO / "engine" / "cuda" / "warp_kernel.py")
        mod = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(mod)
        return mod


def fixture(shared: Path):
    d = np.load(shared / "fixtures" / "warp" / "warp_io.npz")
    nchw = lambda a: np.ascontiguousarray(a.transpose(0, 3, 1, 2))  # noqa: E731
    return nchw(d["image"]), nchw(d["flow"]), nchw(d["warped"])


def far_flow(shape, gen, scale=300.0):
    n, _, h, w = shape
    flow = torch.randn(n, 2, h, w, generator=gen, device=gen.device) * scale
    flow[:, :, ::97] *= 100  # rows far outside the frame
    return flow


def cpu_checks(wk, shared: Path) -> dict:
    out = {"ptx_up_to_date": all(wk.ptx_up_to_date().values())}
    lib = wk.build_host_library()
    image, flow, warped = fixture(shared)
    out["host_fixture_fp32_maxabs"] = float(np.abs(wk.host_warp(lib, image, flow) - warped).max())
    out["host_fixture_fp16_maxabs"] = float(
        np.abs(wk.host_warp(lib, image.astype(np.float16), flow).astype(np.float32) - warped).max()
    )
    g = torch.Generator().manual_seed(4)
    img = torch.rand(1, 2, 2160, 3840, generator=g)
    fl = far_flow(img.shape, g)
    ref = warp_grid_sample(img, fl).numpy()
    host = wk.host_warp(lib, img.numpy(), fl.numpy())
    out["host_4k_vs_grid_sample_maxabs"] = float(np.abs(host - ref).max())
    out["ok"] = (
        out["ptx_up_to_date"]
        and out["host_fixture_fp32_maxabs"] <= 1e-5
        and out["host_fixture_fp16_maxabs"] <= 2e-3
        and out["host_4k_vs_grid_sample_maxabs"] <= 1e-3
    )
    return out


def time_cuda(fn, iters: int, warmup: int = 3) -> float:
    for _ in range(warmup):
        fn()
    torch.cuda.synchronize()
    times = []
    for _ in range(iters):
        a, b = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        a.record()
        fn()
        b.record()
        b.synchronize()
        times.append(a.elapsed_time(b))
    return statistics.median(times)


def gpu_checks(wk, shared: Path) -> dict:
    res = {}
    lib = wk.build_host_library()
    image, flow, warped = fixture(shared)
    fl = torch.from_numpy(flow).cuda()
    for name, dtype, tol in (("fp32", torch.float32, 1e-5), ("fp16", torch.float16, 2e-3)):
        img = torch.from_numpy(image).to("cuda", dtype)
        out = wk.warp_cuda(img, fl)
        err = float((out.float().cpu() - torch.from_numpy(warped)).abs().max())
        host = wk.host_warp(lib, img.cpu().numpy(), flow)
        res[f"fixture_{name}_maxabs"] = err
        res[f"fixture_{name}_equals_host_build"] = bool(np.array_equal(out.cpu().numpy(), host))
        res[f"fixture_{name}_ok"] = err <= tol
    g = torch.Generator(device="cuda").manual_seed(0)
    for name, dtype, tol in (("fp32", torch.float32, 1e-3), ("fp16", torch.float16, 2e-3)):
        img = torch.rand(2, 3, 2160, 3840, device="cuda", generator=g).to(dtype)
        f = far_flow(img.shape, g)
        err = float((wk.warp_cuda(img, f).float() - warp_grid_sample(img, f).float()).abs().max())
        res[f"4k_far_{name}_maxabs_vs_grid_sample"] = err
        res[f"4k_far_{name}_ok"] = err <= tol
    # > 2^31 elements: 64-bit offsets (fp16, 272 x 2160 x 3840 = 2.26e9 elements, 4.5 GB)
    free, _ = torch.cuda.mem_get_info()
    if free > 12 * 2**30:
        img = torch.rand(1, 272, 2160, 3840, device="cuda", dtype=torch.float16, generator=g)
        f = far_flow((1, 2, 2160, 3840), g, 50.0)
        out = wk.warp_cuda(img, f)
        tail = slice(268, 272)
        err = float((out[:, tail].float() - warp_grid_sample(img[:, tail], f).float()).abs().max())
        res["int64_offsets_elements"] = img.numel()
        res["int64_offsets_last_channels_maxabs"] = err
        res["int64_offsets_ok"] = err <= 2e-3
        del img, out
    else:
        res["int64_offsets_ok"] = None  # not enough GPU memory to try
    torch.cuda.empty_cache()
    return res


def gpu_timings(wk, iters: int) -> list[dict]:
    rows = []
    g = torch.Generator(device="cuda").manual_seed(1)
    for size, (h, w) in SIZES.items():
        for kind, c in CHANNELS.items():
            for dname, dtype in (("fp32", torch.float32), ("fp16", torch.float16)):
                img = torch.rand(1, c, h, w, device="cuda", generator=g).to(dtype)
                flow = torch.randn(1, 2, h, w, device="cuda", generator=g) * 20
                t_k = time_cuda(lambda img=img, flow=flow: wk.warp_cuda(img, flow), iters)
                t_g = time_cuda(lambda img=img, flow=flow: warp_grid_sample(img, flow), iters)
                nbytes = img.numel() * img.element_size() * 2 + flow.numel() * 4  # read + write + flow
                rows.append(
                    {
                        "size": size,
                        "hw": [h, w],
                        "kind": kind,
                        "channels": c,
                        "dtype": dname,
                        "kernel_ms": round(t_k, 4),
                        "grid_sample_ms": round(t_g, 4),
                        "speedup": round(t_g / t_k, 2),
                        "kernel_GBps": round(nbytes / t_k / 1e6, 1),
                    }
                )
                del img, flow
    return rows


def write_results(report: dict, out_dir: Path) -> tuple[Path, Path]:
    gpu = re.sub(r"[^a-z0-9]+", "-", report["gpu"].lower()).strip("-")
    stem = f"warp-kernel-{gpu}-{report['date']}"
    out_dir.mkdir(parents=True, exist_ok=True)
    jp, mp = out_dir / f"{stem}.json", out_dir / f"{stem}.md"
    write_json(jp, report)
    lines = [
        f"# BackwardWarp kernel on {report['gpu']} ({report['date']})",
        "",
        f"Command: `{report['command']}`  ",
        f"torch {report['torch']}, CUDA {report['cuda']}, driver {report['driver']}",
        "",
        "## Checks",
        "",
        *[f"- {k}: {v}" for k, v in report["checks"].items()],
        "",
        "## Timings (median ms, batch 1; grid_sample = filmrt.warp.warp_grid_sample)",
        "",
        "| size | warp | C | dtype | kernel ms | grid_sample ms | speed-up | kernel GB/s |",
        "|---|---|---|---|---|---|---|---|",
        *[
            f"| {r['size']} | {r['kind']} | {r['channels']} | {r['dtype']} | {r['kernel_ms']} | "
            f"{r['grid_sample_ms']} | {r['speedup']}x | {r['kernel_GBps']} |"
            for r in report["timings"]
        ],
    ]
    atomic_write(mp, "\n".join(lines) + "\n")
    return jp, mp


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--cpu-only", action="store_true", help="only the CPU part (no GPU needed)")
    p.add_argument("--iters", type=int, default=50)
    p.add_argument("--shared", default=str(REPO.parent / "shared"))
    p.add_argument("--out", default=str(REPO / "bench" / "results"))
    args = p.parse_args(argv)
    wk = load_warp_kernel()
    shared = Path(args.shared)
    cpu = cpu_checks(wk, shared)
    print("CPU checks:", json.dumps(cpu, indent=2))
    if args.cpu_only:
        return 0 if cpu["ok"] else 1
    ok, why = wk.available()
    if not ok:
        print(f"GPU part skipped: {why}")
        return 0 if cpu["ok"] else 1
    checks = gpu_checks(wk, shared)
    print("GPU checks:", json.dumps(checks, indent=2))
    timings = gpu_timings(wk, args.iters)
    drv = wk._driver().version()
    report = {
        "gpu": torch.cuda.get_device_name(),
        "compute_capability": list(torch.cuda.get_device_capability()),
        "date": dt.date.today().isoformat(),
        "command": "python " + " ".join([Path(sys.argv[0]).as_posix(), *(argv or sys.argv[1:])]),
        "torch": torch.__version__,
        "cuda": torch.version.cuda,
        "driver": f"{drv // 1000}.{drv % 1000 // 10}",
        "python": platform.python_version(),
        "cpu_checks": cpu,
        "checks": checks,
        "timings": timings,
    }
    for path in write_results(report, Path(args.out)):
        print(f"wrote {path}")
    for r in timings:
        print(f"{r['size']:>6} {r['kind']:>10} C={r['channels']:<3} {r['dtype']}: kernel {r['kernel_ms']:.3f} ms, "
              f"grid_sample {r['grid_sample_ms']:.3f} ms ({r['speedup']}x)")
    good = all(v is not False for k, v in checks.items() if k.endswith("_ok")) and cpu["ok"]
    return 0 if good else 1


if __name__ == "__main__":
    sys.exit(main())

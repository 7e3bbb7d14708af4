"""Check and time the BackwardWarp CUDA kernel against the grid_sample path.

    python -m filmrt.bench.warp_kernel               # anywhere: the CPU part (host build of the kernel)
    filmrt bench --profile gpu --sections warp       # on a GPU: the GPU part, in the GPU report

GPU part (the ``warp`` section of :mod:`filmrt.bench.gpu`):

1. correctness (:func:`gpu_checks`): ``shared/fixtures/warp/warp_io.npz`` (fp32 <= 1e-5, fp16 <=
   2e-3); the GPU output equals the host build bit for bit (same float32 arithmetic: -fmad=false /
   -ffp-contract=off); random 2160x3840 frames with flows far outside the frame vs grid_sample
   (<= 1e-3), fp32 and fp16; a tensor of more than 2^31 elements (64-bit offsets) on its last channels;
2. timing (:func:`gpu_timings`): median of ``iters`` calls after warm-up (CUDA events,
   :func:`filmrt.bench.timing.measure`), kernel vs ``filmrt.warp.warp_grid_sample`` (grid
   construction + grid_sample), for RIFE-like (C=3, 8) and FILM-like (C=64) warps at 720p, 1080p
   and 2160p (padded to 64), fp32 and fp16.

CPU part (:func:`cpu_checks`): the committed PTX is up to date with the sources; the host build of
the kernel header matches the fixture and grid_sample (a 2160x3840 frame with far-out flows).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import torch

from filmrt.bench.timing import measure
from filmrt.engine.cuda import warp_kernel
from filmrt.warp import warp_grid_sample

REPO = Path(__file__).resolve().parent.parent
SIZES = {"720p": (768, 1280), "1080p": (1088, 1920), "2160p": (2176, 3840)}  # padded to 64
CHANNELS = {"rife-image": 3, "rife-feat": 8, "film-feat": 64}


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
                t_k = _median_ms(lambda img=img, flow=flow: wk.warp_cuda(img, flow), iters)
                t_g = _median_ms(lambda img=img, flow=flow: warp_grid_sample(img, flow), iters)
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


def _median_ms(fn, iters: int) -> float:
    return measure(fn, "cuda", warmup=3, repeats=iters, min_time_s=0)["median_ms"]


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m filmrt.bench.warp_kernel", description=__doc__.split("\n")[0])
    p.add_argument("--shared", default=str(REPO.parent / "shared"))
    args = p.parse_args(argv)
    cpu = cpu_checks(warp_kernel, Path(args.shared))
    print("CPU checks:", json.dumps(cpu, indent=2))
    print("GPU part: filmrt bench --profile gpu --sections warp")
    return 0 if cpu["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())

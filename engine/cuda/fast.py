"""Opt-in speed-ups of the PyTorch backend on CUDA (``open_interpolator(..., backend="torch",
device="cuda", fast="warp,channels_last,compile")``).

Flags (comma-separated string, a list, True = :data:`DEFAULT`, False/"" = none):

- ``warp``: the BackwardWarp CUDA kernel (:mod:`filmrt.engine.cuda.warp_kernel`) replaces the
  grid_sample decomposition for CUDA tensors (one kernel instead of ~10 ops per warp; float32
  coordinates also in fp16/bf16 models; bf16 images still go through grid_sample). It is not
  switched on for the process: :attr:`FastPath.warp` is the function, and the interpolator runs
  its own model calls inside ``filmrt.warp.use_warp_impl(fast.warp)``;
- ``channels_last``: weights in NHWC memory format (tensor-core convolutions prefer it; the warp
  kernel reads NCHW, so each warp then costs a layout copy: measure before keeping it);
- ``compile``: ``torch.compile`` of the model's entry points (``forward`` and, for staged models,
  ``encode_frame``/``encode_pair``/``decode``), dynamic shapes off (one compile per resolution);
- ``cudagraphs``: ``torch.compile(mode="reduce-overhead")``, which also captures CUDA graphs
  (implies ``compile``; pays off for small frames/batches where launch overhead dominates).

fp16/bf16 are the backend's ``precision``; they need nothing here. None of this changes results
beyond floating-point rounding. Each flag is applied only where it can work (no CUDA device, no
kernel: skipped, reported in :attr:`FastPath.applied` / :attr:`FastPath.skipped`).
"""

from __future__ import annotations

import dataclasses

import torch

from filmrt.engine.cuda import warp_kernel
from filmrt.errors import FilmrtError
from filmrt.warp import WarpFn

FLAGS = ("warp", "channels_last", "compile", "cudagraphs")
DEFAULT = ("warp",)
ENTRY_POINTS = ("forward", "encode_frame", "encode_pair", "decode")


def parse_flags(fast) -> tuple[str, ...]:
    """``"warp,compile"`` / ["warp"] / True / None -> validated flag tuple."""
    if fast is None or fast is True:
        return DEFAULT
    if fast is False or fast == "":
        return ()
    items = [s.strip() for s in fast.split(",")] if isinstance(fast, str) else [str(s).strip() for s in fast]
    items = [s for s in items if s]
    if "all" in items:
        items = list(FLAGS)
    if "none" in items:
        return ()
    bad = [s for s in items if s not in FLAGS]
    if bad:
        raise FilmrtError(f"unknown fast-path flag(s) {bad}: use {', '.join(FLAGS)} (comma-separated), all or none")
    if "cudagraphs" in items and "compile" not in items:
        items.append("compile")
    return tuple(dict.fromkeys(items))


@dataclasses.dataclass
class FastPath:
    applied: list[str]
    skipped: dict[str, str]
    #: the warp implementation the model's calls should run with (None: the reference)
    warp: WarpFn | None = None


def apply(model: torch.nn.Module, device: torch.device, fast=None) -> FastPath:
    """Apply the flags to ``model`` (in place) for ``device``; returns what was done."""
    flags = parse_flags(fast)
    applied: list[str] = []
    skipped: dict[str, str] = {}
    if torch.device(device).type != "cuda":
        return FastPath([], {f: "not a CUDA device" for f in flags})
    warp = None
    if "warp" in flags:
        ok, why = warp_kernel.available()
        if ok:
            warp = warp_kernel.warp_cuda
            applied.append("warp")
        else:
            skipped["warp"] = why or "kernel unavailable"
    if "channels_last" in flags:
        model.to(memory_format=torch.channels_last)
        applied.append("channels_last")
    if "compile" in flags:
        mode = "reduce-overhead" if "cudagraphs" in flags else "max-autotune-no-cudagraphs"
        for name in ENTRY_POINTS:
            fn = getattr(model, name, None)
            if callable(fn):
                setattr(model, name, torch.compile(fn, mode=mode, dynamic=False))
        applied.append("compile" + ("+cudagraphs" if "cudagraphs" in flags else ""))
    return FastPath(applied, skipped, warp)

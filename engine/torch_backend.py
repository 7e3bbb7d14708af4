"""The PyTorch backend: eager PyTorch on CPU or CUDA, fp32 / fp16 / bf16.

The model runs on padded float32 inputs cast to the compute precision; the output is cast back to
float32 by the Interpolator base class. On CPU, fp16 is slow and not recommended (bf16 works on
CPUs with AVX512-BF16/AMX).
"""

from __future__ import annotations

import os
from collections.abc import Hashable, Sequence

import torch

from ..interpolator import Interpolator
from ..models import load_model

DTYPES = {"fp32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16}


class TorchInterpolator(Interpolator):
    backend = "torch"

    def __init__(
        self,
        model: str | os.PathLike | torch.nn.Module,
        *,
        weights: str | os.PathLike | None = None,
        device: torch.device = torch.device("cpu"),
        precision: str = "fp32",
        max_batch: int = 8,
        fast: str | bool | None = None,
        threads: int | None = None,
    ):
        if threads:
            torch.set_num_threads(int(threads))
        self.device = torch.device(device)
        self.precision = precision
        self.dtype = DTYPES[precision]
        self.max_batch = max_batch
        net = model if isinstance(model, torch.nn.Module) else load_model(model, weights, self.device)
        self.model = net.to(self.device, self.dtype).eval()
        if self.device.type == "cuda":  # opt-in speed-ups (warp kernel, channels_last, compile): cuda_fast.py
            from .cuda_fast import apply as apply_fast

            self.fast = apply_fast(self.model, self.device, fast)
        self.model_name = net.name
        self.pad_align = getattr(net, "pad_align", "center")
        self.pad_multiple = getattr(net, "pad_multiple", 64)

    @torch.inference_mode()
    def _run(
        self,
        a: torch.Tensor,
        b: torch.Tensor,
        t: torch.Tensor,
        keys_a: Sequence[Hashable] | None,
        keys_b: Sequence[Hashable] | None,
    ) -> torch.Tensor:
        return self.model(a.to(self.dtype), b.to(self.dtype), t.to(self.dtype))


def available(device: torch.device) -> tuple[bool, str]:
    if device.type == "cuda" and not torch.cuda.is_available():
        return False, "PyTorch sees no CUDA GPU"
    return True, ""

"""filmrt.engine: the runtimes behind the one Interpolator interface.

``open_interpolator(model, backend=...)`` is the only entry point the CLI and the pipeline use:

- ``torch``: PyTorch eager on CPU or CUDA, fp32/fp16/bf16 (:mod:`filmrt.engine.torch_backend`),
- ``ort``: ONNX Runtime (CPU; CUDA EP when onnxruntime-gpu is installed),
- ``trt``: TensorRT engines with the BackwardWarp plugin (needs ``tensorrt`` and a GPU),
- ``auto``: the best one available for the device; :attr:`Interpolator.describe` says which.
"""

from __future__ import annotations

import os

import torch

from ..errors import FilmrtError
from ..interpolator import Interpolator

BACKENDS = ("torch", "ort", "trt")


def resolve_precision(precision: str | None, device: torch.device) -> str:
    if precision in (None, "auto"):
        return "fp16" if device.type == "cuda" else "fp32"
    if precision not in ("fp32", "fp16", "bf16"):
        raise FilmrtError(f"unknown precision {precision!r}: use fp32, fp16 or bf16")
    return precision


def resolve_device(device: str | torch.device | None) -> torch.device:
    dev = torch.device(device or "cpu")
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise FilmrtError("--device cuda asked for, but PyTorch sees no CUDA GPU on this machine")
    if dev.type not in ("cpu", "cuda"):
        raise FilmrtError(f"unsupported device {device!r}: use cpu or cuda[:N]")
    return dev


def _auto_backend(device: torch.device) -> str:
    # Extended by the ort/trt backends as they land; torch is always available.
    return "torch"


def open_interpolator(
    model: str | os.PathLike | None = None,
    *,
    weights: str | os.PathLike | None = None,
    backend: str = "auto",
    device: str | torch.device = "cpu",
    precision: str | None = "auto",
    max_batch: int = 8,
    **options,
) -> Interpolator:
    """Load ``model`` (name or weights path; None = the default model) on ``backend``."""
    from ..models import default_model_name

    dev = resolve_device(device)
    prec = resolve_precision(precision, dev)
    name = backend if backend != "auto" else _auto_backend(dev)
    if model is None:
        model = default_model_name()
    if name == "torch":
        from .torch_backend import TorchInterpolator

        return TorchInterpolator(model, weights=weights, device=dev, precision=prec, max_batch=max_batch, **options)
    if name in BACKENDS:
        raise FilmrtError(f"backend {name!r} is not available in this build")
    raise FilmrtError(f"unknown backend {backend!r}: use auto, {', '.join(BACKENDS)}")

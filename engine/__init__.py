"""filmrt.engine: the runtimes behind the one Interpolator interface.

``open_interpolator(RuntimeOptions(...))`` (or ``open_interpolator(model, backend=...)``) is the only entry point the CLI and the pipeline use:

- ``torch``: PyTorch eager on CPU or CUDA, fp32/fp16/bf16 (:mod:`filmrt.engine.torch_backend`),
- ``ort``: ONNX Runtime (CPU; CUDA EP when onnxruntime-gpu is installed),
- ``trt``: TensorRT engines with the BackwardWarp plugin (needs ``tensorrt`` and a GPU),
- ``openvino``: OpenVINO on the CPU (``filmrt[openvino]``; the CPU default when installed),
- ``auto``: the best one available for the device; :attr:`Interpolator.describe` says which.
"""

from __future__ import annotations

import importlib
import os

import torch

from filmrt.errors import FilmrtError
from filmrt.interpolator import Interpolator
from filmrt.options import BACKENDS, RuntimeOptions

# Backend classes, imported only when used. Each module also exposes
# ``available(device: torch.device) -> tuple[bool, str]`` (ok, reason when not), and may declare
# ``PRECISIONS`` (those it runs: ``auto`` passes over it for another precision).
# Every class is constructed as Cls(model, *, weights, device, precision, max_batch, **options).
_BACKEND_CLASSES = {
    "torch": "filmrt.engine.torch_backend:TorchInterpolator",
    "ort": "filmrt.engine.ort_backend:OrtInterpolator",
    "trt": "filmrt.engine.trt_backend:TrtInterpolator",
    "openvino": "filmrt.engine.openvino_backend:OpenVinoInterpolator",
}
# Preference of ``auto`` per device type: the first available wins.
AUTO_ORDER = {"cuda": ["trt", "torch"], "cpu": ["openvino", "torch"]}


def resolve_precision(precision: str | None, device: torch.device) -> str:
    if precision in (None, "auto"):
        return "fp16" if device.type == "cuda" else "fp32"
    if precision not in ("fp32", "fp16", "bf16"):
        raise FilmrtError(f"unknown precision {precision!r}: use fp32, fp16 or bf16")
    return precision


def resolve_device(device: str | torch.device | None) -> torch.device:
    try:
        dev = torch.device(device or "cpu")
    except RuntimeError as e:
        raise FilmrtError(f"unsupported device {device!r}: use cpu or cuda[:N]") from e
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise FilmrtError("--device cuda asked for, but PyTorch sees no CUDA GPU on this machine")
    if dev.type not in ("cpu", "cuda"):
        raise FilmrtError(f"unsupported device {device!r}: use cpu or cuda[:N]")
    return dev


def _backend_module(name: str):
    mod, _ = _BACKEND_CLASSES[name].split(":")
    return importlib.import_module(mod)


def backend_available(name: str, device: torch.device) -> tuple[bool, str]:
    """Whether backend ``name`` can run on ``device`` here, and why not."""
    if name not in _BACKEND_CLASSES:
        return False, f"unknown backend {name!r}"
    try:
        mod = _backend_module(name)
    except ModuleNotFoundError as e:
        return False, f"not available: {e}"
    check = getattr(mod, "available", None)
    return check(device) if check else (True, "")


def pick_backend(backend: str, device: torch.device, precision: str | None = None) -> str:
    if backend != "auto":
        if backend not in _BACKEND_CLASSES:
            raise FilmrtError(f"unknown backend {backend!r}: use auto, {', '.join(BACKENDS)}")
        ok, why = backend_available(backend, device)
        if not ok:
            raise FilmrtError(f"backend {backend!r} cannot run on {device}: {why}")
        return backend
    for name in AUTO_ORDER.get(device.type, ["torch"]):
        if backend_available(name, device)[0] and (
            precision is None or precision in getattr(_backend_module(name), "PRECISIONS", (precision,))
        ):
            return name
    return "torch"


def open_interpolator(options: RuntimeOptions | str | os.PathLike | None = None, /, **fields) -> Interpolator:
    """Load a model on a runtime, as ``options`` (a :class:`RuntimeOptions`) or its fields say.

    ``open_interpolator(RuntimeOptions(model="rife-4.25", device="cuda"))`` or, the same,
    ``open_interpolator(model="rife-4.25", device="cuda")`` (fields are validated by
    RuntimeOptions: an unknown one raises). ``model`` may be a name or a weights path; None = the
    default model. ``backend="auto"`` picks the first available backend of ``AUTO_ORDER`` for the
    device; ``interp.describe()`` says which one runs.
    """
    from filmrt.models import default_model_name

    if isinstance(options, str | os.PathLike):  # open_interpolator("rife-4.25", ...): the model
        fields = {"model": os.fspath(options), **fields}
        options = None
    if options is None:
        options = RuntimeOptions(**fields)
    elif fields:
        options = options.replace(**fields)
    dev = resolve_device(options.device)
    prec = resolve_precision(options.precision, dev)
    name = pick_backend(options.backend, dev, prec)
    model = options.model if options.model is not None else default_model_name()
    mod, cls = _BACKEND_CLASSES[name].split(":")
    klass = getattr(importlib.import_module(mod), cls)
    return klass(model, weights=options.weights, device=dev, precision=prec, max_batch=options.max_batch,
                 **options.extras())

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
from filmrt.models import resolve_model_name
from filmrt.options import (
    BACKENDS,
    EXTRAS,
    PRECISIONS,
    SETTING_GROUP,
    SETTINGS,
    RuntimeOptions,
    check_precision,
)

# Backend classes, imported only when used (onnxruntime, TensorRT and the exporter are heavy or
# optional). Each module also exposes ``available(device: torch.device) -> tuple[bool, str]``.
# Every class is constructed as Cls(model, options): the model name / weights path / module and
# the RuntimeOptions (device, precision resolved here; the backend reads its own settings object).
# A module may declare ``PRECISIONS`` (those it runs): ``auto`` passes over it for another precision;
# and ``DECIDES_AUTO_PRECISION = True``: it gets ``--precision auto`` as is and picks by its own rule.
_BACKEND_CLASSES = {
    "torch": "filmrt.engine.torch_backend:TorchInterpolator",
    "ort": "filmrt.engine.ort_backend:OrtInterpolator",
    "trt": "filmrt.engine.trt.backend:TrtInterpolator",
    "openvino": "filmrt.engine.openvino_backend:OpenVinoInterpolator",
}
# Preference of ``auto`` per device type: the first available wins.
AUTO_ORDER = {"cuda": ["trt", "torch"], "cpu": ["openvino", "torch"]}


def resolve_precision(
    precision: str | None,
    device: torch.device,
    *,
    backend: str | None = None,
    supported: tuple[str, ...] = PRECISIONS,
    hint: str = "",
) -> str:
    """The precision to compute in: ``auto``/None = fp16 on CUDA, fp32 elsewhere.

    The spelling is checked by :func:`filmrt.options.check_precision` (the same check as
    RuntimeOptions); a backend passes what it can run as ``supported`` and gets one refusal
    message for the rest (``hint`` says what to use instead).
    """
    if precision is None or check_precision(precision) == "auto":
        precision = "fp16" if torch.device(device).type == "cuda" else "fp32"
    if precision not in supported:
        raise FilmrtError(
            f"the {backend or 'chosen'} backend runs {' or '.join(supported)}, not {precision}{hint}"
        )
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


def _runs(name: str, precision: str | None) -> bool:
    """Whether backend ``name`` computes in ``precision`` (its module's ``PRECISIONS``, if declared)."""
    return precision is None or precision in getattr(_backend_module(name), "PRECISIONS", (precision,))


def _takers(option: str) -> tuple[str, ...]:
    """The backends that take ``option``: an extra (EXTRAS) or a backend setting (``ov_hint``)."""
    if option in EXTRAS:
        return EXTRAS[option]
    return (SETTINGS[SETTING_GROUP[option]].backend,)


def _flag(option: str) -> str:
    return "--" + option.replace("_", "-")


def pick_backend(backend: str, device: torch.device, extras: tuple[str, ...] = (), precision: str | None = None) -> str:
    """The backend to run: ``backend`` itself, or for ``auto`` the first available one that takes
    every backend option in ``extras`` (e.g. ``engine``, or a setting such as ``ov_hint``): those of
    :data:`AUTO_ORDER` for the device first, then the others (``--onnx`` on a CPU runs on ort),
    passing over a backend that cannot compute in ``precision`` (a resolved one, not ``auto``)."""
    if backend != "auto":
        if backend not in _BACKEND_CLASSES:
            raise FilmrtError(f"unknown backend {backend!r}: use auto, {', '.join(BACKENDS)}")
        ok, why = backend_available(backend, device)
        if not ok:
            raise FilmrtError(f"backend {backend!r} cannot run on {device}: {why}")
        return backend
    order = AUTO_ORDER.get(device.type, ["torch"])
    if not extras:
        return next((b for b in order if backend_available(b, device)[0] and _runs(b, precision)), "torch")
    opts = ", ".join(_flag(x) for x in extras)
    takes = [b for b in (*order, *BACKENDS) if all(b in _takers(x) for x in extras)]
    if not takes:
        who = "; ".join(f"{_flag(x)}: {', '.join(_takers(x))}" for x in extras)
        raise FilmrtError(f"no backend takes all of {opts} ({who})")
    reasons = []
    for name in dict.fromkeys(takes):
        ok, why = backend_available(name, device)
        if ok and not _runs(name, precision):
            ok, why = False, f"does not compute in {precision}"
        if ok:
            return name
        reasons.append(f"{name}: {why}")
    raise FilmrtError(f"no backend that takes {opts} can run on {device} ({'; '.join(reasons)})")


def open_interpolator(options: RuntimeOptions | str | os.PathLike | None = None, /, **fields) -> Interpolator:
    """Load a model on a runtime, as ``options`` (a :class:`RuntimeOptions`) or its fields say.

    ``open_interpolator(RuntimeOptions(model="rife-4.25", device="cuda"))`` or, the same,
    ``open_interpolator(model="rife-4.25", device="cuda")`` (fields are validated by
    RuntimeOptions: an unknown one raises; backend settings go by their flat names,
    ``open_interpolator("film", ov_hint="latency")``). ``model`` may be a name or a weights path; None = the
    model of ``weights``, else the default model. ``backend="auto"`` picks the first available
    backend of ``AUTO_ORDER`` for the device that takes the backend extras given;
    ``interp.describe()`` says which one runs.
    """
    if isinstance(options, str | os.PathLike):  # open_interpolator("rife-4.25", ...): the model
        fields = {"model": os.fspath(options), **fields}
        options = None
    if options is None:
        options = RuntimeOptions.build(**fields)
    elif fields:
        options = options.replace(**fields)
    dev = resolve_device(options.device)
    wanted = (*options.extras(), *options.settings_changed())
    prec = resolve_precision(options.precision, dev)
    name = pick_backend(options.backend, dev, wanted, prec)
    model = resolve_model_name(options.model, options.weights)
    if options.precision in (None, "auto") and getattr(_backend_module(name), "DECIDES_AUTO_PRECISION", 0):
        prec = "auto"  # the backend decides, e.g. openvino: bf16 only where measured within bound
    mod, cls = _BACKEND_CLASSES[name].split(":")
    klass = getattr(importlib.import_module(mod), cls)
    return klass(model, options.replace(precision=prec))

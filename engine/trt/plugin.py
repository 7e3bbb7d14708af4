"""``filmrt::BackwardWarp`` version 1: the warp as a TensorRT plugin, through ``tensorrt.plugin``.

The plugin graph (``filmrt export --warp plugin``) has one ``BackwardWarp`` node per warp, with
attributes ``plugin_namespace="filmrt"`` and ``plugin_version="1"``. TensorRT's ONNX parser turns a
node whose op_type it does not know into the plugin registered under that name, version and
namespace; :func:`register_plugin` registers it (a "quickly deployable" Python plugin, TensorRT
>= 10.6):

- shape/type inference: output = the image input's shape and dtype;
- type combinations (image, flow -> out): FP32+FP32, FP16+FP32 (coordinates stay float32 in an
  FP16 engine), FP16+FP16 and FP32+FP16; linear (NCHW) layout;
- ahead-of-time implementation (TensorRT >= 10.9, ``trtp.aot_impl``): returns the PTX of
  :mod:`filmrt.engine.cuda.warp_kernel`, the kernel's name for the dtypes, launch parameters from the
  symbolic shapes (block 32x8, grid ceil(W/32) x ceil(H/8) x N) and the scalar arguments
  (N, C, H, W). TensorRT embeds the PTX in the engine, so a serialized engine runs without Python
  (trtexec, C++). The ONNX parser uses the AOT implementation for nodes with the attribute
  ``aot=1``: :func:`mark_aot` adds it when building.
- just-in-time implementation (``trtp.impl``): launches the same PTX from Python on TensorRT's
  stream; used only where the installed TensorRT has no AOT support (the engine then needs this
  module imported, i.e. filmrt, to run).

Nothing here imports TensorRT at module import time: this module loads on any machine.

No ``from __future__ import annotations`` here: ``tensorrt.plugin`` inspects the decorated
functions' annotations as real classes (``issubclass(annotation, TensorDesc)``).
"""

import re
import threading

import torch

from filmrt.engine.cuda import warp_kernel

PLUGIN_NAMESPACE = "filmrt"
PLUGIN_NAME = "BackwardWarp"
PLUGIN_VERSION = "1"
PLUGIN_ID = f"{PLUGIN_NAMESPACE}::{PLUGIN_NAME}"
#: (image, flow, output) TensorRT type names, as ``trtp.AutoTuneCombination`` spells them
TYPE_COMBINATIONS = ("FP32, FP32, FP32", "FP16, FP32, FP16", "FP16, FP16, FP16", "FP32, FP16, FP32")
#: first TensorRT versions with tensorrt.plugin at all / with its ahead-of-time implementations
MIN_TRT_QDP = (10, 6)
MIN_TRT_AOT = (10, 9)

_lock = threading.Lock()
_state: dict[str, object] = {}


def parse_version(v: str) -> tuple[int, ...]:
    out = []
    for part in str(v).split("."):
        m = re.match(r"\d+", part)  # leading digits: "0b1" -> 0
        if not m:
            break
        out.append(int(m.group()))
    return tuple(out)


def supports_aot(trt_version: str, trtp_module=None) -> bool:
    """Whether this TensorRT can embed an ahead-of-time kernel (version and API both present)."""
    if parse_version(trt_version) < MIN_TRT_AOT:
        return False
    if trtp_module is None:
        return True
    return all(hasattr(trtp_module, a) for a in ("aot_impl", "KernelLaunchParams", "SymIntExprs", "SymInt32"))


def _device_arch() -> int:
    try:
        if torch.cuda.is_available():
            major, minor = torch.cuda.get_device_capability()
            return 10 * major + minor
    except Exception:  # noqa: BLE001 - no torch/CUDA: build for the lowest supported arch
        pass
    return 80


def _driver_version() -> int | None:
    try:
        return warp_kernel._driver().version()
    except Exception:  # noqa: BLE001
        return None


def register_plugin() -> dict:
    """Register ``filmrt::BackwardWarp`` with TensorRT (once per process).

    Returns ``{"aot": bool, "trt_version": str}``. Raises ImportError without TensorRT.
    """
    with _lock:
        if _state:
            return dict(_state)
        import tensorrt as trt
        import tensorrt.plugin as trtp

        version = trt.__version__
        if parse_version(version) < MIN_TRT_QDP:
            raise RuntimeError(
                f"TensorRT {version} has no tensorrt.plugin module: filmrt's warp plugin needs TensorRT >= "
                f"{'.'.join(map(str, MIN_TRT_QDP))}"
            )
        aot = supports_aot(version, trtp)
        _define(trt, trtp, aot)
        _state.update(aot=aot, trt_version=version)
        return dict(_state)


def _define(trt, trtp, aot: bool) -> None:
    dtype_name = {trt.float32: "float32", trt.float16: "float16"}

    @trtp.register(PLUGIN_ID)
    def backward_warp_desc(image: trtp.TensorDesc, flow: trtp.TensorDesc) -> trtp.TensorDesc:
        return image.like()

    @trtp.autotune(PLUGIN_ID)
    def backward_warp_autotune(image, flow, outputs):
        return [trtp.AutoTuneCombination(c) for c in TYPE_COMBINATIONS]

    # JIT: launches the same PTX from Python on TensorRT's stream. TensorRT requires an impl for
    # a registered plugin to be runnable at all; with AOT present the parser picks aot_impl for
    # nodes marked aot=1 and this function is never called by the built engine.
    @trtp.impl(PLUGIN_ID)
    def backward_warp_impl(image, flow, outputs, stream):
        img = torch.as_tensor(image, device="cuda")
        flo = torch.as_tensor(flow, device="cuda")
        out = torch.as_tensor(outputs[0], device="cuda")
        warp_kernel.launch_into(img, flo, out, stream)

    if not aot:
        return

    def aot_body(image, flow):
        name = warp_kernel.kernel_name(dtype_name[image.dtype], dtype_name[flow.dtype])
        ptx = warp_kernel.ptx_for_device(_device_arch(), _driver_version())
        n, c, h, w = image.shape_expr
        bx, by, bz = warp_kernel.BLOCK
        params = trtp.KernelLaunchParams()
        params.grid_x = trtp.cdiv(w, bx)
        params.grid_y = trtp.cdiv(h, by)
        params.grid_z = n
        params.block_x = bx
        params.block_y = by
        params.block_z = bz
        params.shared_mem = 0
        # scalar kernel arguments, between the tensor inputs and the output: (N, C, H, W)
        extra = trtp.SymIntExprs.from_tuple([trtp.SymInt32(e) for e in (n, c, h, w)])
        return name.encode(), ptx.encode(), params, extra

    ret = tuple[bytes, bytes, trtp.KernelLaunchParams, trtp.SymIntExprs]

    def backward_warp_aot(image, flow, outputs, tactic):
        return aot_body(image, flow)

    backward_warp_aot.__annotations__["return"] = ret
    try:
        trtp.aot_impl(PLUGIN_ID)(backward_warp_aot)
    except ValueError:
        # TensorRT releases whose aot_impl schema has no ``tactic`` argument
        def backward_warp_aot_notactic(image, flow, outputs):
            return aot_body(image, flow)

        backward_warp_aot_notactic.__annotations__["return"] = ret
        trtp.aot_impl(PLUGIN_ID)(backward_warp_aot_notactic)


def plugin_registered() -> bool:
    """Whether TensorRT's registry has a creator for filmrt::BackwardWarp v1 (after registering)."""
    import tensorrt as trt

    reg = trt.get_plugin_registry()
    try:
        return reg.get_creator(PLUGIN_NAME, PLUGIN_VERSION, PLUGIN_NAMESPACE) is not None
    except Exception:  # noqa: BLE001 - older bindings: search the creator list
        return any(c.name == PLUGIN_NAME and c.plugin_namespace == PLUGIN_NAMESPACE for c in reg.all_creators)


def mark_aot(model, aot: bool = True) -> int:
    """Set (or remove) the ``aot`` attribute of every BackwardWarp node of an ``onnx.ModelProto``,
    which tells TensorRT's ONNX parser to use the ahead-of-time implementation. Returns the count."""
    import onnx

    count = 0
    for graph in _graphs(model.graph):
        for node in graph.node:
            if node.op_type != PLUGIN_NAME:
                continue
            keep = [a for a in node.attribute if a.name != "aot"]
            del node.attribute[:]
            node.attribute.extend(keep)
            if aot:
                node.attribute.append(onnx.helper.make_attribute("aot", 1))
            count += 1
    return count


def _graphs(graph):
    """A graph and its subgraphs (If/Loop bodies)."""
    yield graph
    for node in graph.node:
        for a in node.attribute:
            if a.type == a.GRAPH:
                yield from _graphs(a.g)
            for g in a.graphs:
                yield from _graphs(g)

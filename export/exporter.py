"""PyTorch model -> ONNX graph(s): the portable graph, the plugin graph, FILM's three stages, FP16.

Graph interface (every whole-model graph)::

    img0, img1 : (N, 3, H, W) float32 RGB in [0, 1], H and W multiples of 64
    t          : (N,) float32 in [0, 1], the output time between img0 (0) and img1 (1)
    image      : (N, 3, H, W) float32, not clamped
    N, H and W are dynamic axes: one file serves every batch size and resolution.

Warp modes (the only difference between the two graphs is how :func:`filmrt.warp.backward_warp`
appears in it):

- ``portable``: traced from the reference implementation, the warp becomes standard ops ending in
  ``GridSample(mode="bilinear", padding_mode="border", align_corners=1)``; runs in any ONNX runtime.
  Opset 17..19 only: from opset 20 GridSample's mode is spelled "linear", and TensorRT's parser
  silently turns that into nearest-neighbour sampling (TensorRT issue 4646).
- ``plugin``: every warp is one ``filmrt::BackwardWarp`` node (:mod:`filmrt.export.plugin`), for
  TensorRT with the filmrt warp plugin.

Stages (FILM, ``stages=True``): three graphs whose work has different lifetimes, built from the
model's staged protocol (``encode_frame`` / ``encode_pair`` / ``decode``):

- ``features``: ``img`` (N,3,H,W) -> the frame's pyramids (``image_<i>``, ``feat_<i>``, level i
  at H/2^i x W/2^i): computed once per frame,
- ``flow``: the two frames' pyramids (``frame0.<name>``, ``frame1.<name>``) -> flow pyramids
  (``flow_fwd_<i>``, ``flow_bwd_<i>``, pixels of level i): once per frame pair,
- ``fusion``: both pyramids + the flows + ``t`` -> ``image``: once per output time.

Which exporter: the TorchScript exporter (``torch.onnx.export(dynamo=False)``). It traces the
model once with ``dynamic_axes`` and keeps the shape arithmetic of the warp grid and of every
resize symbolic (checked: the parity tests run one exported file at two sizes), and a
``torch.autograd.Function.symbolic`` is the simplest reliable way to emit one custom node per warp.
The dynamo exporter needs ``onnxscript`` (not a dependency here) plus a custom-op translation table
for the same result, and its dynamic-shape constraints on FILM's pyramids are harder to state.
The TorchScript exporter is deprecated in PyTorch but still present in 2.13; the export is
isolated in :func:`_torch_export` so switching costs one function.

Every written model carries ``metadata_props``: ``model``, ``weights_sha256``, ``warp``, ``opset``,
``filmrt_version``, ``stage`` (``model``, ``features``, ``flow``, ``fusion``), ``precision``,
``pad_align``, ``pad_multiple``, ``torch_version``; and passes ``onnx.checker`` (full check).
"""

from __future__ import annotations

import copy
import dataclasses
import hashlib
import os
import tempfile
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch

from filmrt import __version__
from filmrt.errors import FilmrtError
from filmrt.export import checks, plugin
from filmrt.export.fp16 import convert_to_fp16
from filmrt.fileio import atomic_path, sha256_file
from filmrt.models import load_model
from filmrt.options import DEFAULT_OPSET, SUPPORTED_OPSETS
from filmrt.padding import MULTIPLE
from filmrt.stages import FRAME_PREFIXES, is_staged
from filmrt.warp import use_warp_impl, warp_grid_sample

# SUPPORTED_OPSETS, DEFAULT_OPSET: defined with the backend settings that offer them (filmrt.options)
WARP_MODES = ("portable", "plugin")
#: example input size used to trace (any multiple of 64 works; non-square catches H/W mix-ups)
TRACE_SHAPE = (2, 3, 64, 128)

# Readable names for the tensors of FILM's staged protocol (state keys -> graph tensor names).
_NAME_MAP = {
    "forward": "flow_fwd",
    "backward": "flow_bwd",
    "forward_flow": "flow_fwd",
    "backward_flow": "flow_bwd",
    "forward_flows": "flow_fwd",
    "backward_flows": "flow_bwd",
    "flows_fwd": "flow_fwd",
    "flows_bwd": "flow_bwd",
    "features": "feat",
    "feature": "feat",
    "feats": "feat",
    "feature_pyramid": "feat",
    "feat_pyramid": "feat",
    "images": "image",
    "image_pyramid": "image",
    "pyramid": "image",
}


# ---------------------------------------------------------------------------------------- checks
def check_opset(opset: int) -> int:
    """Refuse opsets outside 17..19, with the reason."""
    opset = int(opset)
    if opset >= 20:
        raise FilmrtError(
            f"opset {opset} is not supported: use 17, 18 or 19. From opset 20 GridSample's bilinear "
            "mode is spelled 'linear', and TensorRT's ONNX parser silently turns it into nearest "
            "sampling (TensorRT issue 4646)"
        )
    if opset < SUPPORTED_OPSETS[0]:
        raise FilmrtError(
            f"opset {opset} is not supported: use 17, 18 or 19 (GridSample needs opset >= 16; "
            "filmrt's graphs are validated from 17)"
        )
    return opset


def check_warp_mode(warp: str) -> str:
    if warp not in WARP_MODES:
        raise FilmrtError(f"unknown warp mode {warp!r}: use portable or plugin")
    return warp


# ---------------------------------------------------------------------------------------- model
def resolve_model(model: str | os.PathLike | torch.nn.Module, weights: str | os.PathLike | None = None):
    """A model name / weights path / module -> the module in eval mode on the CPU, float32."""
    if isinstance(model, torch.nn.Module):
        net = model
        tensors = list(net.parameters()) + list(net.buffers())
        if net.training or any(t.device.type != "cpu" or t.dtype != torch.float32 for t in tensors):
            # never change the caller's module (device, dtype, train mode): export a copy
            weights_path = getattr(net, "weights_path", None)
            net = copy.deepcopy(net)
            if weights_path:
                net.weights_path = weights_path
    else:
        net = load_model(model, weights, "cpu")
    return net.eval().to("cpu", torch.float32)  # (tracing runs under no_grad)


def weights_fingerprint(module: torch.nn.Module) -> tuple[str, str]:
    """(sha256, what was hashed): the weights file's sha256 when known, else of the state dict."""
    path = getattr(module, "weights_path", None)
    if path and Path(path).is_file():
        return sha256_file(path), Path(path).name
    return tensor_digest(module), "state_dict"


def tensor_digest(module: torch.nn.Module) -> str:
    """sha256 of the module's weight tensors (names, shapes, dtypes, values): the weights as the
    graph computes with them, whatever file they came from (the graph cache's key part)."""
    h = hashlib.sha256()
    for name, tensor in sorted(module.state_dict().items()):
        h.update(f"{name}|{tuple(tensor.shape)}|{tensor.dtype}".encode())
        h.update(tensor.detach().cpu().contiguous().view(-1).view(torch.uint8).numpy().tobytes())
    return h.hexdigest()


# ------------------------------------------------------------------------- nested states <-> flat
def _key_name(key: Any) -> str:
    k = str(key)
    return _NAME_MAP.get(k, k)


def flatten_state(obj: Any) -> tuple[list[tuple[str, torch.Tensor]], Any]:
    """Flatten a nested state (dicts, lists, tuples, dataclasses of tensors) to named tensors.

    Returns ``([(name, tensor), ...], spec)``; :func:`unflatten_state` rebuilds the object from the
    spec and the tensors in the same order. Names join the keys with ``_`` (``feat_3``).
    """
    flat: list[tuple[str, torch.Tensor]] = []

    def walk(o, name):
        join = (lambda k: f"{name}_{k}") if name else (lambda k: str(k))
        if isinstance(o, torch.Tensor):
            flat.append((name or "value", o))
            return ("T",)
        if isinstance(o, dict):
            return ("dict", [(k, walk(v, join(_key_name(k)))) for k, v in o.items()])
        if dataclasses.is_dataclass(o) and not isinstance(o, type):
            fields = [f.name for f in dataclasses.fields(o)]
            return ("dc", type(o), [(f, walk(getattr(o, f), join(_key_name(f)))) for f in fields])
        if isinstance(o, tuple) and hasattr(o, "_fields"):
            return ("nt", type(o), [(f, walk(getattr(o, f), join(_key_name(f)))) for f in o._fields])
        if isinstance(o, (list, tuple)):
            return (type(o).__name__, [walk(v, join(i)) for i, v in enumerate(o)])
        return ("const", o)

    spec = walk(obj, "")
    return flat, spec


def unflatten_state(spec: Any, tensors: Sequence[torch.Tensor]) -> Any:
    it = iter(tensors)

    def build(s):
        kind = s[0]
        if kind == "T":
            return next(it)
        if kind == "dict":
            return {k: build(v) for k, v in s[1]}
        if kind in ("dc", "nt"):
            return s[1](**{f: build(v) for f, v in s[2]})
        if kind == "list":
            return [build(v) for v in s[1]]
        if kind == "tuple":
            return tuple(build(v) for v in s[1])
        return s[1]

    return build(spec)


def _dim_names(name: str, tensor: torch.Tensor) -> dict[int, str]:
    """Dynamic axes of one tensor: batch, and H/W per pyramid level (``H_2`` = H / 4)."""
    if tensor.dim() == 1:
        return {0: "N"}
    if tensor.dim() != 4:
        return {0: "N"}
    tail = name.rsplit("_", 1)[-1]
    if tail.isdigit():
        return {0: "N", 2: f"H_{tail}", 3: f"W_{tail}"}
    return {0: "N", 2: "H", 3: "W"}


# ------------------------------------------------------------------------------- stage wrappers
class _WholeModel(torch.nn.Module):
    def __init__(self, net):
        super().__init__()
        self.net = net

    def forward(self, img0, img1, t):
        return self.net(img0, img1, t)


class _FeaturesStage(torch.nn.Module):
    def __init__(self, net):
        super().__init__()
        self.net = net

    def forward(self, img):
        flat, _ = flatten_state(self.net.encode_frame(img))
        return tuple(t for _, t in flat)


class _FlowStage(torch.nn.Module):
    def __init__(self, net, state_spec, n_state):
        super().__init__()
        self.net, self.spec, self.n = net, state_spec, n_state

    def forward(self, *flat):
        s0 = unflatten_state(self.spec, flat[: self.n])
        s1 = unflatten_state(self.spec, flat[self.n :])
        out, _ = flatten_state(self.net.encode_pair(s0, s1))
        return tuple(t for _, t in out)


class _FusionStage(torch.nn.Module):
    def __init__(self, net, state_spec, n_state, pair_spec, n_pair):
        super().__init__()
        self.net, self.spec, self.n, self.pair_spec, self.n_pair = net, state_spec, n_state, pair_spec, n_pair

    def forward(self, *flat):
        n, m = self.n, self.n_pair
        s0 = unflatten_state(self.spec, flat[:n])
        s1 = unflatten_state(self.spec, flat[n : 2 * n])
        pair = unflatten_state(self.pair_spec, flat[2 * n : 2 * n + m])
        t = flat[2 * n + m]
        return self.net.decode(s0, s1, pair, t)


@dataclasses.dataclass
class StagePlan:
    """What to trace for one graph: the wrapper module, example inputs and tensor names."""

    stage: str
    module: torch.nn.Module
    inputs: tuple[torch.Tensor, ...]
    input_names: list[str]
    output_names: list[str]
    dynamic_axes: dict[str, dict[int, str]]


def _example_inputs(seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    n, c, h, w = TRACE_SHAPE
    img0 = torch.rand(n, c, h, w, generator=g)
    img1 = torch.rand(n, c, h, w, generator=g)
    t = torch.tensor([0.5, 0.25])[:n]
    return img0, img1, t


def plan_graphs(net: torch.nn.Module, stages: bool) -> list[StagePlan]:
    """The graphs to export: one whole-model graph, or FILM's three stage graphs."""
    img0, img1, t = _example_inputs()
    if not stages:
        names_in = ["img0", "img1", "t"]
        axes = {"img0": {0: "N", 2: "H", 3: "W"}, "img1": {0: "N", 2: "H", 3: "W"}, "t": {0: "N"}}
        axes["image"] = {0: "N", 2: "H", 3: "W"}
        return [StagePlan("model", _WholeModel(net), (img0, img1, t), names_in, ["image"], axes)]
    if not is_staged(net):
        raise FilmrtError(
            f"model {getattr(net, 'name', type(net).__name__)!r} has no stages (only FILM splits into "
            "features / flow / fusion): export it without --stages"
        )
    with torch.no_grad():
        s0, s1 = net.encode_frame(img0), net.encode_frame(img1)
        pair = net.encode_pair(s0, s1)
    flat0, spec = flatten_state(s0)
    flat1, _ = flatten_state(s1)
    flat_pair, pair_spec = flatten_state(pair)
    state_names = [n for n, _ in flat0]
    pair_names = [n for n, _ in flat_pair]
    if len(set(state_names)) != len(state_names) or len(set(pair_names)) != len(pair_names):
        raise RuntimeError(f"ambiguous stage tensor names: {state_names} / {pair_names}")
    frame_names = [[p + n for n in state_names] for p in FRAME_PREFIXES]
    s_tensors = [[x for _, x in flat0], [x for _, x in flat1]]
    p_tensors = [x for _, x in flat_pair]

    def axes(names, tensors):
        return {n: _dim_names(n.split(".")[-1], x) for n, x in zip(names, tensors, strict=True)}

    plans = []
    ax = axes(state_names, s_tensors[0])
    ax["img"] = {0: "N", 2: "H", 3: "W"}
    plans.append(StagePlan("features", _FeaturesStage(net), (img0,), ["img"], state_names, ax))

    ins = frame_names[0] + frame_names[1]
    ax = axes(ins, s_tensors[0] + s_tensors[1]) | axes(pair_names, p_tensors)
    plans.append(
        StagePlan(
            "flow",
            _FlowStage(net, spec, len(state_names)),
            tuple(s_tensors[0] + s_tensors[1]),
            ins,
            pair_names,
            ax,
        )
    )

    ins = frame_names[0] + frame_names[1] + pair_names + ["t"]
    tens = s_tensors[0] + s_tensors[1] + p_tensors + [t]
    ax = axes(ins, tens)
    ax["image"] = {0: "N", 2: "H", 3: "W"}
    plans.append(
        StagePlan(
            "fusion",
            _FusionStage(net, spec, len(state_names), pair_spec, len(pair_names)),
            tuple(tens),
            ins,
            ["image"],
            ax,
        )
    )
    return plans


# ------------------------------------------------------------------------------------ exporting
def _torch_export(plan: StagePlan, opset: int, warp: str):
    """Trace one wrapper with the TorchScript exporter; returns the onnx.ModelProto."""
    # the warp as the graph should express it, for this trace only (filmrt.warp: scoped choice)
    impl = plugin.plugin_warp if warp == "plugin" else warp_grid_sample
    threads = torch.get_num_threads()
    # the trace runs the model once on a tiny input: one thread is plenty, and avoids
    # oversubscription on busy machines
    torch.set_num_threads(1)
    try:
        return _trace_to_onnx(plan, opset, warp, impl)
    finally:
        torch.set_num_threads(threads)


def _trace_to_onnx(plan: StagePlan, opset: int, warp: str, impl):
    with tempfile.TemporaryDirectory(prefix="filmrt-export-") as tmp:
        path = Path(tmp) / "graph.onnx"
        with warnings.catch_warnings(), use_warp_impl(impl), torch.no_grad():
            # The tracer warns about Python values derived from shapes (e.g. max(W - 1, 1) in the
            # warp grid: the branch is the same for every size >= 2) and about the exporter's
            # deprecation; the parity tests at two sizes are what guards dynamic shapes.
            warnings.simplefilter("ignore", torch.jit.TracerWarning)
            warnings.simplefilter("ignore", DeprecationWarning)
            warnings.simplefilter("ignore", UserWarning)
            torch.onnx.export(
                plan.module,
                plan.inputs,
                str(path),
                dynamo=False,
                opset_version=opset,
                input_names=plan.input_names,
                output_names=plan.output_names,
                dynamic_axes=plan.dynamic_axes,
                do_constant_folding=True,
                custom_opsets={plugin.DOMAIN: plugin.DOMAIN_VERSION} if warp == "plugin" else None,
            )
        import onnx  # here, not at the top: 1 s of import a run from the graph cache never needs

        return onnx.load(str(path))


def set_metadata(proto, **meta: Any) -> None:
    """Set (replace) string ``metadata_props`` on a ModelProto."""
    keep = [p for p in proto.metadata_props if p.key not in meta]
    del proto.metadata_props[:]
    for p in keep:
        proto.metadata_props.add(key=p.key, value=p.value)
    for k, v in meta.items():
        proto.metadata_props.add(key=k, value=str(v))


def read_metadata(model) -> dict[str, str]:
    """``metadata_props`` of a ModelProto or an .onnx file, as a dict."""
    import onnx

    proto = model if isinstance(model, onnx.ModelProto) else onnx.load(str(model), load_external_data=False)
    return {p.key: p.value for p in proto.metadata_props}


def export_graphs(
    model: str | os.PathLike | torch.nn.Module,
    *,
    weights: str | os.PathLike | None = None,
    warp: str = "portable",
    stages: bool = False,
    opset: int = DEFAULT_OPSET,
    fp16: bool = False,
    check: bool = True,
) -> dict[str, Any]:
    """Export in memory: ``{stage: onnx.ModelProto}`` (``{"model": ...}`` or the three stages)."""
    check_opset(opset)
    check_warp_mode(warp)
    net = resolve_model(model, weights)
    sha, hashed = weights_fingerprint(net)
    name = getattr(net, "name", type(net).__name__)
    out = {}
    for plan in plan_graphs(net, stages):
        proto = _torch_export(plan, opset, warp)
        if fp16:
            proto = convert_to_fp16(proto)
        proto.producer_name = "filmrt"
        proto.producer_version = __version__
        proto.doc_string = (
            f"filmrt {name} ({plan.stage}), warp={warp}, opset {opset}, {'fp16' if fp16 else 'fp32'}"
        )
        set_metadata(
            proto,
            model=name,
            weights_sha256=sha,
            weights_hashed=hashed,
            warp=warp,
            opset=opset,
            filmrt_version=__version__,
            torch_version=torch.__version__,
            stage=plan.stage,
            precision="fp16" if fp16 else "fp32",
            pad_align=getattr(net, "pad_align", "center"),
            pad_multiple=getattr(net, "pad_multiple", MULTIPLE),
        )
        if check:
            checks.check_graph(proto, warp=warp)
        out[plan.stage] = proto
    return out


def stage_path(output: str | os.PathLike, stage: str) -> Path:
    """``OUT.onnx`` -> ``OUT.<stage>.onnx`` (``OUT.onnx`` itself for the whole model)."""
    p = Path(output)
    if stage == "model":
        return p
    stem = p.name[: -len(".onnx")] if p.name.endswith(".onnx") else p.name
    return p.with_name(f"{stem}.{stage}.onnx")


def save_model(proto, path: str | os.PathLike) -> Path:
    """Write an ONNX model atomically (:func:`filmrt.fileio.atomic_path`); creates the folder."""
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(p) as tmp:
        import onnx

        onnx.save_model(proto, str(tmp))
    return p


def export_onnx(
    model: str | os.PathLike | torch.nn.Module,
    output: str | os.PathLike,
    *,
    weights: str | os.PathLike | None = None,
    warp: str = "portable",
    stages: bool = False,
    opset: int = DEFAULT_OPSET,
    fp16: bool = False,
    check: bool = True,
) -> list[Path]:
    """Export ``model`` to ONNX and write it; returns the written files.

    ``model``: a name (``film``, ``rife-4.25``), a weights path, or a ``torch.nn.Module``.
    ``stages=True`` (FILM) writes ``OUT.features.onnx``, ``OUT.flow.onnx``, ``OUT.fusion.onnx``.
    See the module docstring for the graph interface and the warp modes.
    """
    graphs = export_graphs(
        model, weights=weights, warp=warp, stages=stages, opset=opset, fp16=fp16, check=check
    )
    return [save_model(proto, stage_path(output, stage)) for stage, proto in graphs.items()]

"""Graph checks: what an exported filmrt graph must look like, and what a raw graph accepts.

:func:`check_graph` runs after every export (and in the tests):

- ``onnx.checker`` (full check, with shape inference),
- the warp is what the mode promises: *portable* graphs have only standard ops and every
  ``GridSample`` is ``mode="bilinear"``, ``padding_mode="border"``, ``align_corners=1`` (the
  filmrt warp); *plugin* graphs have no ``GridSample`` and every ``filmrt::BackwardWarp`` node
  carries ``plugin_namespace="filmrt"`` and ``plugin_version="1"``,
- batch, height and width of the image inputs/outputs are symbolic (dynamic), not fixed numbers.

:func:`check_frames` is the guard in front of a raw graph: (N,3,H,W) frames with H and W
multiples of 64 and N times, else one clear :class:`~filmrt.errors.FilmrtError`.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from filmrt.errors import FilmrtError
from filmrt.export import plugin
from filmrt.padding import MULTIPLE


@dataclass
class GraphReport:
    warp: str
    opset: int
    warp_nodes: int
    op_counts: dict[str, int] = field(default_factory=dict)
    inputs: list[str] = field(default_factory=list)
    outputs: list[str] = field(default_factory=list)


def _attrs(node) -> dict[str, Any]:
    from onnx import helper

    out = {}
    for a in node.attribute:
        v = helper.get_attribute_value(a)
        out[a.name] = v.decode() if isinstance(v, bytes) else v
    return out


def _dims(value_info) -> list:
    return [d.dim_param or d.dim_value for d in value_info.type.tensor_type.shape.dim]


FLOAT, FLOAT16 = 1, 10


def infer_types(proto) -> dict[str, int]:
    """Element type of every tensor, by strict ONNX type inference.

    ``BackwardWarp`` is unknown to ONNX, so a copy is checked with each such node replaced by
    ``Identity(image)`` (same type and shape contract): a type mismatch anywhere fails here.
    """
    import onnx

    m = onnx.ModelProto()
    m.CopyFrom(proto)
    for n in m.graph.node:
        if n.op_type == plugin.OP_TYPE and n.domain == plugin.DOMAIN:
            n.op_type, n.domain = "Identity", ""
            del n.input[1:]
            del n.attribute[:]
    del m.graph.value_info[:]
    m = onnx.shape_inference.infer_shapes(m, check_type=True, strict_mode=True)
    types = {vi.name: vi.type.tensor_type.elem_type for vi in m.graph.value_info}
    types.update({vi.name: vi.type.tensor_type.elem_type for vi in list(m.graph.input) + list(m.graph.output)})
    types.update({i.name: i.data_type for i in m.graph.initializer})
    return types


def check_float32_coordinates(proto, types: dict[str, int] | None = None) -> int:
    """Every warp's coordinates are computed in float32 (fp16 graphs); returns the warps checked.

    From the grid input of each ``GridSample`` / the flow input of each ``BackwardWarp``, walk back
    through the nodes that compute it: no tensor on the way may be float16, until a
    ``Cast(to=float)`` that lifts the network's (fp16) flow into float32.
    """
    types = types if types is not None else infer_types(proto)
    producer = {o: n for n in proto.graph.node for o in n.output}
    checked = 0
    for node in proto.graph.node:
        if node.op_type not in ("GridSample", plugin.OP_TYPE):
            continue
        checked += 1
        stack, seen = [node.input[1]], set()
        while stack:
            name = stack.pop()
            if name in seen or not name:
                continue
            seen.add(name)
            assert types.get(name) != FLOAT16, (
                f"{node.name}: warp coordinate tensor {name!r} is float16 (must be float32)"
            )
            src = producer.get(name)
            if src is None or types.get(name) not in (FLOAT, None) or src.op_type == "Shape":
                continue  # graph input / weight, or integer shape arithmetic
            if src.op_type == "Cast" and any(a.name == "to" and a.i == FLOAT for a in src.attribute):
                continue  # the lift of the network's flow into float32
            stack.extend(src.input)
    return checked


def check_graph(proto, warp: str | None = None) -> GraphReport:
    """Check an exported graph (see the module docstring); returns a :class:`GraphReport`.

    ``warp`` defaults to the graph's ``warp`` metadata. Raises ``AssertionError`` naming the
    first problem (an export bug, not a user error).
    """
    import onnx

    onnx.checker.check_model(proto, full_check=True)
    meta = {p.key: p.value for p in proto.metadata_props}
    warp = warp or meta.get("warp", "portable")
    opset = next(o.version for o in proto.opset_import if o.domain in ("", "ai.onnx"))
    ops = Counter(n.op_type for n in proto.graph.node)
    grid = [n for n in proto.graph.node if n.op_type == "GridSample"]
    custom = [n for n in proto.graph.node if n.domain not in ("", "ai.onnx")]
    if warp == "portable":
        assert not custom, f"portable graph has custom-domain nodes: {sorted({n.op_type for n in custom})}"
        for n in grid:
            a = _attrs(n)
            assert a.get("mode") == "bilinear", f"{n.name}: GridSample mode {a.get('mode')!r}, want bilinear"
            assert a.get("padding_mode") == "border", f"{n.name}: padding_mode {a.get('padding_mode')!r}"
            assert a.get("align_corners") == 1, f"{n.name}: align_corners {a.get('align_corners')!r}"
        warp_nodes = len(grid)
    elif warp == "plugin":
        assert not grid, f"plugin graph still has {len(grid)} GridSample nodes"
        warps = [n for n in custom if n.op_type == plugin.OP_TYPE]
        others = [n.op_type for n in custom if n.op_type != plugin.OP_TYPE]
        assert not others, f"plugin graph has unexpected custom ops {others}"
        for n in warps:
            assert n.domain == plugin.DOMAIN, f"{n.name}: domain {n.domain!r}, want {plugin.DOMAIN!r}"
            assert len(n.input) == 2 and len(n.output) == 1, f"{n.name}: BackwardWarp takes (image, flow)"
            a = _attrs(n)
            assert a.get("plugin_namespace") == plugin.PLUGIN_NAMESPACE, f"{n.name}: {a}"
            assert a.get("plugin_version") == plugin.PLUGIN_VERSION, f"{n.name}: {a}"
        if warps:
            domains = {o.domain: o.version for o in proto.opset_import}
            assert domains.get(plugin.DOMAIN) == plugin.DOMAIN_VERSION, f"opset_import lacks {plugin.DOMAIN}"
        warp_nodes = len(warps)
    else:
        raise ValueError(f"unknown warp mode {warp!r}")
    for vi in list(proto.graph.input) + list(proto.graph.output):
        dims = _dims(vi)
        if len(dims) == 4:
            for axis in (0, 2, 3):
                assert isinstance(dims[axis], str), f"{vi.name}: axis {axis} is fixed ({dims}), want dynamic"
        elif len(dims) == 1:
            assert isinstance(dims[0], str), f"{vi.name}: batch axis is fixed ({dims})"
    types = infer_types(proto)
    if meta.get("precision") == "fp16":
        check_float32_coordinates(proto, types)
        for vi in list(proto.graph.input) + list(proto.graph.output):
            assert vi.type.tensor_type.elem_type == FLOAT, f"fp16 graph: I/O {vi.name} is not float32"
    return GraphReport(
        warp=warp,
        opset=opset,
        warp_nodes=warp_nodes,
        op_counts=dict(ops),
        inputs=[i.name for i in proto.graph.input],
        outputs=[o.name for o in proto.graph.output],
    )


def check_frames(shape, multiple: int = MULTIPLE, name: str = "img0") -> None:
    """Refuse a frame batch a raw graph cannot take: (N,3,H,W) with H, W multiples of ``multiple``."""
    shape = tuple(int(s) for s in shape)
    if len(shape) != 4 or shape[1] != 3:
        raise FilmrtError(f"{name} must be (N,3,H,W) RGB frames, got shape {shape}")
    h, w = shape[2], shape[3]
    if h % multiple or w % multiple or h == 0 or w == 0:
        raise FilmrtError(
            f"{name} is {h}x{w} (HxW): a raw filmrt graph takes heights and widths that are multiples "
            f"of {multiple}; pad the frames first (filmrt.padding.pad_to_multiple) or use "
            "filmrt.engine.open_interpolator, which pads and crops"
        )


def check_pair_inputs(img0_shape, img1_shape, t_shape, multiple: int = MULTIPLE) -> None:
    """The whole-model graph's inputs: two equal (N,3,H,W) batches and N times."""
    check_frames(img0_shape, multiple, "img0")
    check_frames(img1_shape, multiple, "img1")
    if tuple(img0_shape) != tuple(img1_shape):
        raise FilmrtError(f"img0 and img1 differ in shape: {tuple(img0_shape)} vs {tuple(img1_shape)}")
    if tuple(t_shape) != (img0_shape[0],):
        raise FilmrtError(f"t must have shape ({img0_shape[0]},) (one time per pair), got {tuple(t_shape)}")

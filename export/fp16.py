"""FP32 -> FP16 graphs for engines, keeping what must stay float32 in float32.

The conversion itself is onnxconverter-common's ``convert_float_to_float16`` (maintained by the
ONNX project; ``keep_io_types=True``: inputs and outputs stay float32, so an fp16 graph is a drop-in
replacement). On top of its default op block list (Resize, Range, ... whose float inputs must stay
float32), filmrt keeps in float32:

- **warp coordinates**: everything that only serves to compute a warp's sampling position. In the
  portable graph that is the ``GridSample`` node and the subgraph that builds its grid from the
  flow (pixel ramp ``x``, ``x + dx``, normalisation to [-1, 1]); in the plugin graph it is the
  flow input of every ``BackwardWarp`` node. float16 cannot address pixels exactly beyond 2048
  (its spacing there is 2 px), so ``x + dx`` in fp16 would blur or shift large frames.
  The subgraph is found structurally: walking back from the grid / flow input, a node belongs to it
  when it is a cheap tensor op (arithmetic, casts, shape ops, constants) and *all* its outputs feed
  only warp coordinates. The network that *predicts* the flow (convolutions) runs in fp16.
- **plugin nodes**: ``BackwardWarp`` takes the fp16 image and the fp32 flow and returns fp16
  (the plugin is registered for both image types; its coordinates are float32 in both).
- **the final output**: the node producing ``image`` runs in float32 (FILM's output 1x1 conv, RIFE's
  mask blend), so the last rounding is float32's, not fp16's.
- ``Cast(to=float)`` nodes (e.g. shape values turned into floats) stay float32 casts.
"""

from __future__ import annotations

import warnings
from collections import defaultdict

from filmrt.export import plugin

#: ops that may be kept in float32 as part of a warp-coordinate subgraph (cheap, elementwise/shape)
COORDINATE_OPS = {
    "Add", "Sub", "Mul", "Div", "Reciprocal", "Neg", "Cast", "Range", "Gather", "Slice", "Split",
    "Unsqueeze", "Squeeze", "Concat", "Reshape", "Constant", "ConstantOfShape", "Expand",
    "Transpose", "Identity", "Clip", "Floor", "Min", "Max", "Tile",
}  # fmt: skip
FLOAT, FLOAT16 = 1, 10


def _index(graph):
    producer = {}
    consumers = defaultdict(list)
    for node in graph.node:
        for o in node.output:
            producer[o] = node
        for i, name in enumerate(node.input):
            if name:
                consumers[name].append((node, i))
    return producer, consumers


def _name_nodes(graph) -> None:
    seen = set()
    for k, node in enumerate(graph.node):
        if not node.name or node.name in seen:
            node.name = f"{node.op_type}_filmrt_{k}"
        seen.add(node.name)


def float32_nodes(graph) -> set[str]:
    """Names of the nodes to keep in float32 (see the module docstring)."""
    _name_nodes(graph)
    _, consumers = _index(graph)
    outputs = {o.name for o in graph.output}
    warp_ops = {"GridSample", plugin.OP_TYPE}
    keep: set[str] = set()
    coord: set[str] = set()
    for node in graph.node:
        if node.op_type in warp_ops:
            keep.add(node.name)
        if node.op_type == "Cast" and any(a.name == "to" and a.i == FLOAT for a in node.attribute):
            keep.add(node.name)
        if any(o in outputs and o == "image" for o in node.output):
            keep.add(node.name)
    # graph.node is topologically sorted: walking it backwards visits every consumer before its
    # producer, so one pass finds the nodes whose outputs only feed warp coordinates.
    for node in reversed(graph.node):
        if node.op_type not in COORDINATE_OPS or not node.output:
            continue
        uses = [u for o in node.output for u in consumers.get(o, [])]
        if not uses or any(o in outputs for o in node.output):
            continue
        if all((c.op_type in warp_ops and i == 1) or c.name in coord for c, i in uses):
            coord.add(node.name)
    return keep | coord


def plugin_value_info(model, elem: int | None = None) -> None:
    """Shape inference does not know BackwardWarp: declare each output's type (that of its image
    input) and rank, so inference and the converter see types downstream of every warp."""
    graph = model.graph
    types = _elem_types(model)
    have = {vi.name for vi in list(graph.value_info) + list(graph.output)}
    for node in graph.node:  # topological order: an image input made by a warp is typed already
        if node.op_type == plugin.OP_TYPE and node.output[0] not in have:
            t = elem or types.get(node.input[0], FLOAT)
            vi = onnx_helper().make_tensor_value_info(node.output[0], t, [None] * 4)
            graph.value_info.append(vi)
            types[node.output[0]] = t
            have.add(node.output[0])


def _elem_types(model) -> dict[str, int]:
    types = {}
    for vi in list(model.graph.value_info) + list(model.graph.input) + list(model.graph.output):
        types[vi.name] = vi.type.tensor_type.elem_type
    for init in model.graph.initializer:
        types[init.name] = init.data_type
    return types


def _cast_to(node) -> int | None:
    """The target type of a Cast node (None for other nodes)."""
    return next((a.i for a in node.attribute if a.name == "to"), None) if node.op_type == "Cast" else None


def _plugin_takes_fp16_image(model) -> None:
    """BackwardWarp(image fp16, flow fp32) -> fp16: drop the casts the converter put around it.

    The converter treats the kept node as float32 throughout (Cast to fp32 before each input,
    Cast to fp16 after the output); the plugin runs on fp16 images, so the image input is fed the
    fp16 tensor (casting a float32 graph input to fp16 if the node reads one) and the output cast
    is removed. The flow input stays float32.
    """
    graph = model.graph
    producer, consumers = _index(graph)
    types = _elem_types(model)
    outputs = {o.name for o in graph.output}

    new_casts = []
    for node in graph.node:
        if node.op_type != plugin.OP_TYPE:
            continue
        src = producer.get(node.input[0])
        if src is not None and _cast_to(src) == FLOAT and types.get(src.input[0]) == FLOAT16:
            node.input[0] = src.input[0]
        elif types.get(node.input[0]) == FLOAT:
            half = f"{node.input[0]}_fp16_for_{node.name}"
            new_casts.append((node, onnx_helper().make_node("Cast", [node.input[0]], [half], to=FLOAT16, name=half)))
            node.input[0] = half
        outs = consumers.get(node.output[0], [])
        if outs and all(_cast_to(c) == FLOAT16 for c, _ in outs) and node.output[0] not in outputs:
            first = outs[0][0]
            new_out = first.output[0]
            for c, _ in outs[1:]:  # several identical casts: point their consumers at the first one
                for cc, j in consumers.get(c.output[0], []):
                    cc.input[j] = new_out
            node.output[0] = new_out
            for c, _ in outs:
                graph.node.remove(c)
        else:  # consumers want float32 (or it is a graph output): cast the fp16 result back
            full = node.output[0]
            node.output[0] = f"{full}_fp16"
            cast = onnx_helper().make_node("Cast", [node.output[0]], [full], to=FLOAT, name=f"{full}_to_fp32")
            graph.node.insert(list(graph.node).index(node) + 1, cast)
    for node, cast in new_casts:
        graph.node.insert(list(graph.node).index(node), cast)
    _drop_dead_nodes(graph)


def _bypass_cast_pairs(model) -> None:
    """fp32 -> Cast(fp16) -> Cast(fp32) between two kept-fp32 nodes: use the fp32 value directly.

    The converter puts such pairs between neighbouring float32 nodes; they would round warp
    coordinates through fp16 on the way.
    """
    graph = model.graph
    producer, consumers = _index(graph)
    types = _elem_types(model)
    outputs = {o.name for o in graph.output}

    for node in graph.node:
        if _cast_to(node) != FLOAT or node.output[0] in outputs:
            continue
        src = producer.get(node.input[0])
        if src is None or _cast_to(src) != FLOAT16 or types.get(src.input[0]) != FLOAT:
            continue
        for c, i in consumers.get(node.output[0], []):
            c.input[i] = src.input[0]
    _drop_dead_nodes(graph)


def _restore_float_outputs(model, float_outputs: set[str]) -> None:
    """Outputs that were float32 stay float32 (the converter turns an output made by a kept-fp32
    node into fp32 -> Cast(fp16) -> output; undo that cast)."""
    graph = model.graph
    producer, _ = _index(graph)
    types = _elem_types(model)
    for out in graph.output:
        if out.name not in float_outputs or out.type.tensor_type.elem_type == FLOAT:
            continue
        cast = producer.get(out.name)
        if cast is not None and cast.op_type == "Cast" and types.get(cast.input[0]) == FLOAT:
            src = producer.get(cast.input[0])
            if src is not None:
                src.output[list(src.output).index(cast.input[0])] = out.name
                graph.node.remove(cast)
        else:  # fall back: cast to float32 at the very end
            inner = out.name + "_fp16"
            if cast is not None:
                cast.output[list(cast.output).index(out.name)] = inner
            graph.node.append(onnx_helper().make_node("Cast", [inner], [out.name], to=FLOAT, name=inner + "_to_fp32"))
        out.type.tensor_type.elem_type = FLOAT


def onnx_helper():
    from onnx import helper

    return helper


def _drop_dead_nodes(graph) -> None:
    outputs = {o.name for o in graph.output}
    while True:
        used = {i for n in graph.node for i in n.input} | outputs
        dead = [n for n in graph.node if n.op_type in ("Cast", "Constant") and not any(o in used for o in n.output)]
        if not dead:
            return
        for n in dead:
            graph.node.remove(n)


def _isolate_outputs(model) -> None:
    """A graph output that other nodes also read gets its own Identity node.

    The converter casts an fp16 result to float32 right at the output name, and would leave the
    internal readers of that name (FILM's features graph: ``image_1`` feeds ``image_2``'s pooling)
    reading float32 where they expect fp16; with the Identity they read the internal fp16 tensor.
    """
    graph = model.graph
    _, consumers = _index(graph)
    producer = {o: n for n in graph.node for o in n.output}
    for out in graph.output:
        src = producer.get(out.name)
        if src is None or not consumers.get(out.name):
            continue
        inner = f"{out.name}__internal"
        src.output[list(src.output).index(out.name)] = inner
        for c, i in consumers[out.name]:
            c.input[i] = inner
        graph.node.insert(
            list(graph.node).index(src) + 1,
            onnx_helper().make_node("Identity", [inner], [out.name], name=f"{out.name}__output"),
        )


def convert_to_fp16(model):
    """An fp16 copy of an fp32 filmrt graph (float32 I/O), see the module docstring."""
    import onnx
    from onnxconverter_common import float16

    model = onnx.shape_inference.infer_shapes(model)
    _isolate_outputs(model)
    plugin_value_info(model)
    model = onnx.shape_inference.infer_shapes(model)
    keep = float32_nodes(model.graph)
    float_outputs = {o.name for o in model.graph.output if o.type.tensor_type.elem_type == FLOAT}
    with warnings.catch_warnings():
        # weights below fp16's smallest subnormal are flushed to +-1e-7; the converter warns per value
        warnings.filterwarnings("ignore", message=r"the float32 number .* will be truncated")
        converted = float16.convert_float_to_float16(
            model,
            keep_io_types=True,
            op_block_list=list(float16.DEFAULT_OP_BLOCK_LIST) + ["GridSample"],
            node_block_list=sorted(keep),
        )
    _plugin_takes_fp16_image(converted)
    _bypass_cast_pairs(converted)
    _restore_float_outputs(converted, float_outputs)
    # value_info is a cache of inferred types: keep only what inference cannot recompute
    del converted.graph.value_info[:]
    plugin_value_info(converted, FLOAT16)  # every BackwardWarp now returns its fp16 image type
    return converted

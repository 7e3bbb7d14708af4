"""ONNX export of RIFE 4.25 (shipped weights): portable, plugin and fp16 graphs.

The exports (the slow part, a few seconds each) run once per module. Inputs are real images: the
Middlebury crop of the RIFE fixture (random noise makes the flow estimate chaotic, so any rounding
difference is amplified and says nothing about the export).
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from filmrt import load_model
from filmrt.export import check_graph, export_onnx, read_metadata
from filmrt.export.checks import check_float32_coordinates, infer_types
from filmrt.export.plugin import reference_evaluator
from filmrt.fileio import sha256_file

ort = pytest.importorskip("onnxruntime")


def _session(path):
    so = ort.SessionOptions()
    so.intra_op_num_threads = 1
    return ort.InferenceSession(str(path), so, providers=["CPUExecutionProvider"])


def _run(sess, a, b, t):
    return sess.run(["image"], {"img0": a.numpy(), "img1": b.numpy(), "t": t.numpy()})[0]


def psnr(x: np.ndarray, ref: np.ndarray) -> float:
    mse = float(np.mean((x.astype(np.float64) - ref.astype(np.float64)) ** 2))
    return float("inf") if mse == 0 else 10 * np.log10(1.0 / mse)


@pytest.fixture(scope="module")
def rife():
    return load_model("rife-4.25")


@pytest.fixture(scope="module")
def frames(shared):
    d = np.load(shared / "fixtures" / "rife" / "rife425_io.npz")
    return torch.from_numpy(d["img0"]), torch.from_numpy(d["img1"])  # (1,3,128,192) Middlebury crop


@pytest.fixture(scope="module")
def graphs(rife, tmp_path_factory):
    out = tmp_path_factory.mktemp("rife-onnx")
    return {
        "portable": export_onnx(rife, out / "rife.onnx")[0],
        "plugin": export_onnx(rife, out / "rife.plugin.onnx", warp="plugin")[0],
        "fp16": export_onnx(rife, out / "rife.fp16.onnx", fp16=True)[0],
    }


def test_portable_graph_is_gridsample_with_filmrt_semantics(graphs, rife):
    import onnx

    proto = onnx.load(str(graphs["portable"]))
    rep = check_graph(proto)
    assert rep.warp == "portable" and rep.opset == 17
    # 2 warps before the loop, 4 per refinement block (2 features + 2 images) x 4 blocks
    assert rep.warp_nodes == 18
    for n in proto.graph.node:
        if n.op_type == "GridSample":
            attrs = {a.name: onnx.helper.get_attribute_value(a) for a in n.attribute}
            assert attrs == {"mode": b"bilinear", "padding_mode": b"border", "align_corners": 1}
    assert rep.inputs == ["img0", "img1", "t"] and rep.outputs == ["image"]
    dims = [[d.dim_param or d.dim_value for d in i.type.tensor_type.shape.dim] for i in proto.graph.input]
    assert dims == [["N", 3, "H", "W"], ["N", 3, "H", "W"], ["N"]]
    meta = read_metadata(graphs["portable"])
    assert meta["model"] == "rife-4.25" and meta["warp"] == "portable" and meta["opset"] == "17"
    assert meta["stage"] == "model" and meta["precision"] == "fp32" and meta["filmrt_version"]
    assert meta["weights_sha256"] == sha256_file(rife.weights_path)
    assert meta["pad_align"] == "end" and meta["pad_multiple"] == "64"


def test_portable_graph_matches_pytorch_at_two_sizes(graphs, rife, frames):
    sess = _session(graphs["portable"])
    a, b = frames
    # size 1: 128x192, a batch of two pairs at different times
    a2, b2, t2 = torch.cat([a, b]), torch.cat([b, a]), torch.tensor([0.5, 0.25])
    # size 2: 64x128 crop (one file, dynamic shapes)
    ac, bc, tc = a[..., 32:96, 32:160].contiguous(), b[..., 32:96, 32:160].contiguous(), torch.tensor([0.75])
    for x, y, t in ((a2, b2, t2), (ac, bc, tc)):
        with torch.no_grad():
            ref = rife(x, y, t).numpy()
        out = _run(sess, x, y, t)
        assert out.shape == ref.shape
        assert np.abs(out - ref).max() <= 1e-4


def test_plugin_graph_has_one_node_per_warp_and_matches(graphs, rife, frames):
    import onnx

    proto = onnx.load(str(graphs["plugin"]))
    rep = check_graph(proto)
    assert rep.warp == "plugin" and rep.warp_nodes == 18 and "GridSample" not in rep.op_counts
    node = next(n for n in proto.graph.node if n.op_type == "BackwardWarp")
    assert node.domain == "filmrt"
    attrs = {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}
    assert attrs == {"plugin_namespace": b"filmrt", "plugin_version": b"1"}
    assert {o.domain: o.version for o in proto.opset_import}["filmrt"] == 1
    # the graph computes the model: onnx's reference evaluator with a numpy BackwardWarp, small size
    a, b = (x[..., :64, :64].contiguous() for x in frames)
    t = torch.tensor([0.5])
    with torch.no_grad():
        ref = rife(a, b, t).numpy()
    out = reference_evaluator(proto).run(None, {"img0": a.numpy(), "img1": b.numpy(), "t": t.numpy()})[0]
    assert np.abs(out - ref).max() <= 1e-4


def test_fp16_graph_keeps_coordinates_fp32_and_psnr_above_45db(graphs, frames):
    import onnx

    proto = onnx.load(str(graphs["fp16"]))
    assert read_metadata(proto)["precision"] == "fp16"
    types = infer_types(proto)
    assert check_float32_coordinates(proto, types) == 18
    inits = [i for i in proto.graph.initializer if i.dims and np.prod(i.dims) > 1000]
    assert inits and all(i.data_type == onnx.TensorProto.FLOAT16 for i in inits)  # weights are fp16
    assert [i.type.tensor_type.elem_type for i in proto.graph.input] == [onnx.TensorProto.FLOAT] * 3
    a, b = frames
    t = torch.tensor([0.5])
    ref = _run(_session(graphs["portable"]), a, b, t)
    out = _run(_session(graphs["fp16"]), a, b, t)
    # measured: 84.3 dB on this crop (fp16 weights and activations, fp32 warp coordinates)
    assert psnr(out, ref) > 45.0


def test_warp_fixture_through_both_warp_forms(shared):
    """The portable GridSample and the plugin node (numpy reference) reproduce warp_io.npz."""
    from filmrt.export import export_graphs
    from filmrt.export.plugin import warp_numpy
    from filmrt.warp import backward_warp

    d = np.load(shared / "fixtures" / "warp" / "warp_io.npz")
    image = np.ascontiguousarray(d["image"].transpose(0, 3, 1, 2))  # (2,5,37,53)
    flow = np.ascontiguousarray(d["flow"].transpose(0, 3, 1, 2))
    warped = d["warped"].transpose(0, 3, 1, 2)
    assert np.abs(warp_numpy(image, flow) - warped).max() <= 1e-5

    class Warp(torch.nn.Module):
        """The graph interface around one warp: img1 carries the flow in its first two channels."""

        name = "warp"

        def forward(self, img0, img1, t):
            return backward_warp(img0, img1[:, :2] * t.view(-1, 1, 1, 1))

    flow3 = np.concatenate([flow, np.zeros_like(flow[:, :1])], axis=1)
    for warp in ("portable", "plugin"):
        proto = export_graphs(Warp(), warp=warp)["model"]
        if warp == "portable":
            run = ort.InferenceSession(proto.SerializeToString(), providers=["CPUExecutionProvider"]).run
        else:
            run = reference_evaluator(proto).run
        for c in (slice(0, 3), slice(2, 5)):  # the fixture has 5 channels, the interface 3
            feeds = {"img0": np.ascontiguousarray(image[:, c]), "img1": flow3, "t": np.ones(2, np.float32)}
            out = run(None, feeds)[0]
            assert out.shape == warped[:, c].shape
            assert np.abs(out - warped[:, c]).max() <= 1e-5, warp

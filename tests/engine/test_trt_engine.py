"""End to end with TensorRT (user machines with an NVIDIA GPU and ``pip install tensorrt``):
build small engines with the BackwardWarp plugin and compare them with references. Skips here."""

import numpy as np
import pytest
import torch
from onnx import TensorProto, helper

trt = pytest.importorskip("tensorrt", reason="TensorRT not installed (pip install 'filmrt[trt]' with NVIDIA's index)")
pytestmark = [
    pytest.mark.gpu,
    pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU"),
]

from filmrt.engine.trt import builder as tb  # noqa: E402
from filmrt.engine.trt.backend import TrtEngine  # noqa: E402
from filmrt.warp import warp_grid_sample  # noqa: E402


def _warp_only_graph(path, fp16=False):
    elem = TensorProto.FLOAT16 if fp16 else TensorProto.FLOAT
    node = helper.make_node(
        "BackwardWarp", ["img0", "flow"], ["image"], domain="filmrt", plugin_namespace="filmrt", plugin_version="1"
    )
    g = helper.make_graph(
        [node],
        "warp",
        [
            helper.make_tensor_value_info("img0", elem, ["N", 5, "H", "W"]),
            helper.make_tensor_value_info("flow", TensorProto.FLOAT, ["N", 2, "H", "W"]),
        ],
        [helper.make_tensor_value_info("image", elem, ["N", 5, "H", "W"])],
    )
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17), helper.make_opsetid("filmrt", 1)])
    if fp16:
        m.metadata_props.add(key="precision", value="fp16")
    path.write_bytes(m.SerializeToString())
    return path


@pytest.mark.parametrize("fp16", [False, True])
def test_plugin_engine_matches_grid_sample(tmp_path, fp16):
    onnx_path = _warp_only_graph(tmp_path / "warp.onnx", fp16)
    prof = tb.ProfileSpec((1, 64, 64), (2, 128, 128), (2, 256, 256))
    res = tb.build_engine(onnx_path, tmp_path / "warp.engine", profiles=[prof], cache_dir=tmp_path / "cache")
    assert res.info["plugin"] in ("aot", "jit") and res.info["plugin_nodes"] == 1
    runtime = trt.Runtime(tb.make_logger(trt))
    eng = TrtEngine(trt, runtime, res.path, torch.device("cuda"))
    g = torch.Generator().manual_seed(0)
    img = torch.rand(2, 5, 128, 192, generator=g)
    flow = torch.randn(2, 2, 128, 192, generator=g) * 50
    out = eng.run({"img0": img.cuda(), "flow": flow.cuda()})["image"]
    ref = warp_grid_sample(img.half() if fp16 else img, flow)
    assert out.dtype == (torch.float16 if fp16 else torch.float32)
    assert (out.float().cpu() - ref.float()).abs().max().item() <= (2e-3 if fp16 else 1e-4)
    again = tb.build_engine(onnx_path, tmp_path / "again.engine", profiles=[prof], cache_dir=tmp_path / "cache")
    assert again.cached and again.key == res.key


def test_rife_plugin_engine_matches_onnxruntime(tmp_path):
    export = pytest.importorskip("filmrt.export")
    ort = pytest.importorskip("onnxruntime")
    plugin = export.export_onnx("rife-4.25", tmp_path / "rife.onnx", warp="plugin")[0]
    portable = export.export_onnx("rife-4.25", tmp_path / "rife-portable.onnx", warp="portable")[0]
    prof = tb.ProfileSpec((1, 128, 192), (1, 128, 192), (2, 256, 256))
    res = tb.build_engine(plugin, tmp_path / "rife.engine", profiles=[prof], cache_dir=tmp_path / "cache")
    eng = TrtEngine(trt, trt.Runtime(tb.make_logger(trt)), res.path, torch.device("cuda"))
    g = np.random.default_rng(0)
    a, b = g.random((1, 3, 128, 192), np.float32), g.random((1, 3, 128, 192), np.float32)
    t = np.array([0.5], np.float32)
    ref = ort.InferenceSession(str(portable), providers=["CPUExecutionProvider"]).run(
        None, {"img0": a, "img1": b, "t": t}
    )[0]
    out = eng.run({"img0": torch.from_numpy(a).cuda(), "img1": torch.from_numpy(b).cuda(), "t": torch.from_numpy(t).cuda()})
    assert np.abs(out["image"].float().cpu().numpy() - ref).max() <= 1e-3

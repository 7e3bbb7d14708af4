"""ONNX export of FILM: whole-model, the three stage graphs, the plugin graph, fp16; CLI and errors.

FILM's released weights are not available here, so the model is the fixture's small configuration
(pyramid 4, fusion 3, ...) with random weights, saved as a filmrt weights file; the export and
parity checks do not depend on the weights being trained.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from filmrt.cli.main import main
from filmrt.export import check_graph, export_graphs, export_onnx, read_metadata
from filmrt.export.checks import FLOAT, FLOAT16, infer_types
from filmrt.export.plugin import reference_evaluator
from filmrt.fileio import sha256_file

ort = pytest.importorskip("onnxruntime")


def _session(path_or_proto):
    so = ort.SessionOptions()
    so.intra_op_num_threads = 1
    src = path_or_proto if isinstance(path_or_proto, str) else path_or_proto.SerializeToString()
    return ort.InferenceSession(src, so, providers=["CPUExecutionProvider"])


@pytest.fixture(scope="module")
def film_weights(film_small_random_weights):
    return film_small_random_weights


@pytest.fixture(scope="module")
def film(film_weights):
    from filmrt import load_model

    return load_model("film", film_weights)


@pytest.fixture(scope="module")
def frames(shared):
    d = np.load(shared / "fixtures" / "rife" / "rife425_io.npz")  # a real (Middlebury) 128x192 pair
    return torch.from_numpy(d["img0"]), torch.from_numpy(d["img1"])


@pytest.fixture(scope="module")
def staged(film_weights, tmp_path_factory):
    """The three stage graphs, written by the CLI."""
    out = tmp_path_factory.mktemp("film-onnx")
    report = out / "report.json"
    rc = main(
        ["export", "--model", "film", "--weights", str(film_weights), "--stages", "-o", str(out / "film.onnx"),
         "--json", str(report), "--quiet"]
    )  # fmt: skip
    assert rc == 0
    return out, json.loads(report.read_text())


def _sizes(frames):
    a, b = frames
    yield a, b, torch.tensor([0.5])
    yield a[..., :64, 64:192].contiguous(), b[..., :64, 64:192].contiguous(), torch.tensor([0.3])


def test_stage_graphs_names_and_metadata(staged, film_weights):
    out, report = staged
    assert [r["stage"] for r in report] == ["features", "flow", "fusion"]
    paths = [out / "film.features.onnx", out / "film.flow.onnx", out / "film.fusion.onnx"]
    assert [r["path"] for r in report] == [str(p) for p in paths]
    sha = sha256_file(film_weights)
    for p, stage in zip(paths, ("features", "flow", "fusion"), strict=True):
        meta = read_metadata(p)
        assert (meta["model"], meta["stage"], meta["warp"], meta["opset"]) == ("film", stage, "portable", "17")
        assert meta["weights_sha256"] == sha
    feats, flow, fusion = report
    levels = 4  # the small config's pyramid
    assert feats["inputs"] == ["img"]
    assert feats["outputs"] == [f"image_{i}" for i in range(levels)] + [f"feat_{i}" for i in range(levels)]
    # the flow estimator reads the feature pyramids only; it returns the fusion levels (3)
    assert flow["inputs"] == [f"frame{k}.feat_{i}" for k in (0, 1) for i in range(levels)]
    assert flow["outputs"] == [f"flow_fwd_{i}" for i in range(3)] + [f"flow_bwd_{i}" for i in range(3)]
    assert fusion["inputs"][-1] == "t" and fusion["outputs"] == ["image"]
    assert {"frame0.image_0", "frame1.feat_2", "flow_fwd_0", "flow_bwd_2"} <= set(fusion["inputs"])
    # 2 x (pyramid levels - 1) warps in the flow estimator, 2 per fusion level
    assert [r["warp_nodes"] for r in report] == [0, 6, 6]


def test_stage_graphs_chain_to_the_model_at_two_sizes(staged, film, frames):
    out, _ = staged
    feats, flow, fusion = (_session(str(out / f"film.{s}.onnx")) for s in ("features", "flow", "fusion"))
    names = [o.name for o in feats.get_outputs()]
    for a, b, t in _sizes(frames):
        s0 = dict(zip(names, feats.run(None, {"img": a.numpy()}), strict=True))
        s1 = dict(zip(names, feats.run(None, {"img": b.numpy()}), strict=True))
        with torch.no_grad():
            ref_s0 = film.encode_frame(a)
            ref = film(a, b, t).numpy()
        assert np.abs(s0["feat_2"] - ref_s0["features"][2].numpy()).max() <= 1e-5
        states = {f"frame0.{k}": v for k, v in s0.items()} | {f"frame1.{k}": v for k, v in s1.items()}
        flows = dict(zip([o.name for o in flow.get_outputs()], flow.run(
            None, {i.name: states[i.name] for i in flow.get_inputs()}), strict=True))  # fmt: skip
        feeds = states | flows | {"t": t.numpy()}
        img = fusion.run(None, {i.name: feeds[i.name] for i in fusion.get_inputs()})[0]
        assert img.shape == ref.shape
        assert np.abs(img - ref).max() <= 1e-4


def test_whole_graph_matches_pytorch_at_two_sizes(film, frames, tmp_path):
    path = export_onnx(film, tmp_path / "film.onnx")[0]
    sess = _session(str(path))
    for a, b, t in _sizes(frames):
        with torch.no_grad():
            ref = film(a, b, t).numpy()
        out = sess.run(None, {"img0": a.numpy(), "img1": b.numpy(), "t": t.numpy()})[0]
        assert np.abs(out - ref).max() <= 1e-4


def test_plugin_graph_fp32_and_fp16_in_the_reference_evaluator(film, frames):
    a, b = (x[..., :64, :64].contiguous() for x in frames)
    t = torch.tensor([0.5])
    feeds = {"img0": a.numpy(), "img1": b.numpy(), "t": t.numpy()}
    with torch.no_grad():
        ref = film(a, b, t).numpy()
    g32 = export_graphs(film, warp="plugin")["model"]
    assert check_graph(g32).warp_nodes == 12
    out = reference_evaluator(g32).run(None, feeds)[0]
    assert np.abs(out - ref).max() <= 1e-4

    g16 = export_graphs(film, warp="plugin", fp16=True)["model"]
    types = infer_types(g16)
    for n in g16.graph.node:
        if n.op_type == "BackwardWarp":  # fp16 image, fp32 flow (coordinates), fp16 result
            assert (types[n.input[0]], types[n.input[1]]) == (FLOAT16, FLOAT), n.name
    out16 = reference_evaluator(g16).run(None, feeds)[0]
    assert out16.dtype == np.float32
    mse = float(np.mean((out16.astype(np.float64) - ref) ** 2))
    assert 10 * np.log10(1 / max(mse, 1e-20)) > 45.0


def test_plugin_fp16_stage_graphs_for_engines(film):
    """What the trt backend builds FILM engines from: --warp plugin --fp16 --stages."""
    import onnx

    from filmrt.engine.trt import builder as trt_builder

    graphs = export_graphs(film, warp="plugin", stages=True, fp16=True)  # check_graph ran on each
    assert [check_graph(g).warp_nodes for g in graphs.values()] == [0, 6, 6]
    for stage, g in graphs.items():
        assert read_metadata(g)["precision"] == "fp16" and read_metadata(g)["stage"] == stage
        # the engine builder's own (TensorRT-free) checks accept them: plugin nodes, fp16, and every
        # dynamic dim derivable from batch and padded frame size (N, H, W, H_k, W_k)
        assert len(trt_builder.check_plugin_graph(g)) == (0 if stage == "features" else 6)
        assert trt_builder.graph_is_fp16(g)
        dims = {n: trt_builder.resolve_dims(d, 2, 128, 192, name=n) for n, d, _ in trt_builder.graph_inputs(g)}
        assert dims.get("frame0.image_2", (2, 3, 32, 48)) == (2, 3, 32, 48)
        # pyramids cross between the graphs as float32 (keep_io_types), computed in fp16 inside
        assert {i.type.tensor_type.elem_type for i in g.graph.input} == {onnx.TensorProto.FLOAT}
        assert {o.type.tensor_type.elem_type for o in g.graph.output} == {onnx.TensorProto.FLOAT}


# ------------------------------------------------------------------------------------- errors
def _error(capsys, argv) -> str:
    rc = main(argv)
    err = capsys.readouterr().err
    assert rc == 2, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("filmrt: error: "), err
    return lines[0]


def test_export_errors_are_one_line_exit_2(capsys, tmp_path):
    out = str(tmp_path / "x.onnx")
    msg = _error(capsys, ["export", "--model", "film", "-o", out])  # no FILM weights installed
    assert "no weights" in msg and "filmrt weights import" in msg
    msg = _error(capsys, ["export", "--model", "nosuchmodel", "-o", out])
    assert "unknown model" in msg and "rife-4.25" in msg
    msg = _error(capsys, ["export", "--model", "rife-4.25", "--opset", "20", "-o", out])
    assert "opset 20" in msg and "4646" in msg and "nearest" in msg
    msg = _error(capsys, ["export", "--model", "rife-4.25", "--opset", "16", "-o", out])
    assert "opset 16" in msg and "17" in msg
    msg = _error(capsys, ["export", "--model", "rife-4.25", "--stages", "-o", out])
    assert "no stages" in msg
    assert not list(tmp_path.iterdir())  # nothing half-written

"""The ONNX Runtime backend: parity with torch, graph cache, FILM stage reuse, raw-graph checks."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from filmrt.engine import backend_available, open_interpolator
from filmrt.errors import FilmrtError
from filmrt.export.cache import folder
from filmrt.options import RuntimeOptions

ort = pytest.importorskip("onnxruntime")


@pytest.fixture(autouse=True)
def _shared_onnx_cache(tmp_path_factory, monkeypatch):
    """One graph cache for the test session (RIFE is exported once), never the user's."""
    monkeypatch.setenv("FILMRT_CACHE_DIR", str(tmp_path_factory.getbasetemp() / "filmrt-cache"))


@pytest.fixture(scope="module")
def frames(shared):
    d = np.load(shared / "fixtures" / "rife" / "rife425_io.npz")  # a real (Middlebury) 128x192 pair
    return torch.from_numpy(d["img0"][0]), torch.from_numpy(d["img1"][0])


@pytest.fixture(scope="module")
def film_small(film_small_random):
    return film_small_random


def test_rife_on_ort_matches_torch_and_reuses_the_cached_graph(frames, monkeypatch):
    from filmrt.engine.ort_backend import OrtInterpolator

    a, b = (x[:, :100, :150].contiguous() for x in frames)  # not a multiple of 64: padded inside
    ort_i = open_interpolator("rife-4.25", backend="ort", threads=1)
    assert isinstance(ort_i, OrtInterpolator) and ort_i.backend == "ort"
    assert ort_i.describe() == "rife-4.25 on ort (cpu, fp32; CPU, 1 threads)"
    files = list(folder("onnx").glob("rife-4.25-*.onnx"))
    assert len(files) == 1 and files == ort_i.cache_files
    times = [0.25, 0.5]
    out = ort_i.interpolate(torch.stack([a, a]), torch.stack([b, b]), times)
    ref = open_interpolator("rife-4.25", backend="torch").interpolate(torch.stack([a, a]), torch.stack([b, b]), times)
    assert out.shape == (2, 3, 100, 150) and out.dtype == torch.float32
    assert (out - ref).abs().max().item() <= 1e-4

    # a second load reads the cached file and exports nothing
    import filmrt.export.exporter as exporter

    def no_export(*a, **k):
        raise AssertionError("exported again despite the cache")

    monkeypatch.setattr(exporter, "export_graphs", no_export)
    again = OrtInterpolator("rife-4.25", RuntimeOptions(threads=1))
    assert torch.equal(again.interpolate(a[None], b[None], [0.25]), out[:1])


def test_film_stages_run_once_per_frame_and_pair(film_small, frames):
    from filmrt.engine.ort_backend import OrtInterpolator
    from filmrt.engine.torch_backend import TorchInterpolator

    a, b = (x[:, :90, :120].contiguous() for x in frames)
    interp = OrtInterpolator(film_small, RuntimeOptions(threads=1, graph_cache=False))
    assert interp.staged and set(interp.graphs) == {"features", "flow", "fusion"}
    times = [0.25, 0.5, 0.75]
    # one call, no keys: equal frames are recognised by their pixels
    out = interp.interpolate(a.expand(3, -1, -1, -1), b.expand(3, -1, -1, -1), times)
    assert dict(interp.stats) == {
        "calls": 1, "frames": 2, "pairs": 1, "decodes": 3, "features_runs": 1, "flow_runs": 1, "fusion_runs": 1
    }  # fmt: skip
    # the same images as three whole-model calls
    torch_i = TorchInterpolator(film_small)
    for k, t in enumerate(times):
        ref = torch_i.interpolate(a[None], b[None], [t])
        assert (out[k : k + 1] - ref).abs().max().item() <= 1e-4
    # with keys, features and flows are reused across calls ...
    interp.stats.clear()
    outs = [interp.interpolate(a[None], b[None], [t], keys_a=[7], keys_b=[8]) for t in times]
    assert (interp.stats["frames"], interp.stats["pairs"], interp.stats["decodes"]) == (2, 1, 3)
    assert (interp.stats["features_runs"], interp.stats["flow_runs"]) == (1, 1)
    assert (torch.cat(outs) - out).abs().max().item() <= 1e-6
    # ... the next pair (8, 9) encodes only the new frame; without keys nothing is kept across calls
    interp.interpolate(b[None], a[None], [0.5], keys_a=[8], keys_b=[9])
    assert interp.stats["frames"] == 3 and interp.stats["pairs"] == 2
    interp.interpolate(a[None], b[None], [0.5])
    assert interp.stats["frames"] == 5 and interp.stats["pairs"] == 3


def test_raw_graph_refuses_bad_inputs_with_one_clear_error(film_small, tmp_path):
    from filmrt.engine.ort_backend import OnnxGraph
    from filmrt.export import export_graphs

    graph = OnnxGraph(export_graphs(film_small)["model"].SerializeToString(), threads=1)
    ok = np.zeros((1, 3, 64, 128), np.float32)
    assert graph.run({"img0": ok, "img1": ok, "t": np.full(1, 0.5, np.float32)})["image"].shape == ok.shape
    bad = np.zeros((1, 3, 100, 128), np.float32)
    with pytest.raises(FilmrtError, match=r"100x128.*multiples of 64"):
        graph.run({"img0": bad, "img1": bad, "t": np.full(1, 0.5, np.float32)})
    with pytest.raises(FilmrtError, match=r"t must have shape \(1,\)"):
        graph.run({"img0": ok, "img1": ok, "t": np.full(2, 0.5, np.float32)})
    with pytest.raises(FilmrtError, match="missing: t"):
        graph.run({"img0": ok, "img1": ok})
    plugin = export_graphs(film_small, warp="plugin")["model"]
    with pytest.raises(FilmrtError, match="plugin graph"):
        OnnxGraph(plugin.SerializeToString())
    from filmrt.engine.ort_backend import OrtInterpolator
    from filmrt.export.exporter import save_model

    path = save_model(plugin, tmp_path / "film.plugin.onnx")
    with pytest.raises(FilmrtError, match="plugin graph.*--warp portable"):
        OrtInterpolator(None, RuntimeOptions(onnx=path))
    with pytest.raises(FilmrtError, match="ONNX file not found"):
        OrtInterpolator(None, RuntimeOptions(onnx=tmp_path / "nothing.onnx"))


def test_ort_backend_options_and_errors(film_small, tmp_path):
    from filmrt.engine.ort_backend import OrtInterpolator

    assert backend_available("ort", torch.device("cpu")) == (True, "")
    ok, why = backend_available("ort", torch.device("cuda"))
    if "CUDAExecutionProvider" not in ort.get_available_providers():
        assert not ok and "onnxruntime-gpu" in why
    with pytest.raises(FilmrtError, match="fp32 or fp16"):
        OrtInterpolator(film_small, RuntimeOptions(precision="bf16"))
    with pytest.raises(FilmrtError, match="--ort-opset 20: use one of 17, 18, 19"):
        RuntimeOptions.build(ort_opset=20)
    # a graph exported earlier, run as it is (model, padding, precision from its metadata)
    from filmrt.engine.torch_backend import TorchInterpolator
    from filmrt.export import export_onnx

    path = export_onnx(film_small, tmp_path / "film.onnx")[0]
    whole = open_interpolator(backend="ort", onnx=path, threads=1)
    assert not whole.staged and set(whole.graphs) == {"model"} and whole.pad_align == "center"
    assert whole.describe() == "film on ort (cpu, fp32; CPU, 1 threads)"
    # auto: the first backend that takes --onnx (openvino on CPU when installed, else ort)
    ov_here = backend_available("openvino", torch.device("cpu"))[0]
    assert open_interpolator(onnx=path, threads=1).backend == ("openvino" if ov_here else "ort")
    assert open_interpolator(onnx=path, threads=1, backend="ort").backend == "ort"
    a, b = torch.rand(2, 3, 50, 70), torch.rand(2, 3, 50, 70)
    ref = TorchInterpolator(film_small).interpolate(a, b, [0.5, 0.25])
    assert (whole.interpolate(a, b, [0.5, 0.25]) - ref).abs().max().item() <= 1e-4


def test_film_fp16_stage_graphs_run_and_match_torch(film_small, frames):
    """`export --stages --fp16` makes valid graphs (stage outputs that are also read inside a graph,
    like image_1 or flow_fwd_3, stay fp16 inside) and the fp16 stages stay close to fp32 torch."""
    from filmrt.engine.ort_backend import OrtInterpolator
    from filmrt.engine.torch_backend import TorchInterpolator

    a, b = (x[None, :, :64, :128].contiguous() for x in frames)
    half = OrtInterpolator(film_small, RuntimeOptions(precision="fp16", threads=1, graph_cache=False))
    assert half.staged
    out = half.interpolate(a, b, [0.5])
    ref = TorchInterpolator(film_small).interpolate(a, b, [0.5])
    assert out.dtype == torch.float32 and (out - ref).abs().mean().item() <= 2e-3

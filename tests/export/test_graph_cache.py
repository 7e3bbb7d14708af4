"""The one exported-graph cache (filmrt.export.cache): every backend that runs an exported graph
(ort, openvino: portable; trt: plugin) gets a new graph when the weights or the exporter change,
and the same file again when nothing changed. A one-parameter model keeps every export cheap."""

from __future__ import annotations

import pytest
import torch

from filmrt.engine.trt import backend as trt_backend
from filmrt.export import cache, exporter
from filmrt.options import RuntimeOptions


class Scale(torch.nn.Module):
    """(1 - t) a + t b, scaled by one weight: other weights give other frames."""

    name = "scale"
    pad_align = "center"
    pad_multiple = 64

    def __init__(self, w: float):
        super().__init__()
        self.w = torch.nn.Parameter(torch.tensor(float(w)))

    def forward(self, img0, img1, t):
        return (img0 + (img1 - img0) * t.view(-1, 1, 1, 1)) * self.w


def _ort(net, options):
    pytest.importorskip("onnxruntime")
    from filmrt.engine.ort_backend import OrtInterpolator

    return OrtInterpolator(net, options.replace(threads=1)).cache_files


def _openvino(net, options):
    pytest.importorskip("openvino")
    from filmrt.engine.openvino_backend import OpenVinoInterpolator

    return OpenVinoInterpolator(net, options.replace(threads=1)).cache_files


def _trt(net, options):
    # the trt backend's graph request itself (building an engine needs TensorRT and a GPU)
    return list(trt_backend.plugin_graphs(net, options, "fp16").values())


@pytest.mark.parametrize("graphs", [_ort, _openvino, _trt], ids=["ort", "openvino", "trt"])
def test_new_weights_or_exporter_give_a_new_graph(graphs, tmp_path, monkeypatch):
    options = RuntimeOptions(cache_dir=str(tmp_path))
    first = graphs(Scale(1.0), options)
    assert len(first) == 1 and first[0].parent == tmp_path / "onnx" and first[0].is_file()
    assert first[0].name.startswith("scale-")

    # the same weights (another module object): the same file, and nothing is exported
    def no_export(*a, **k):
        raise AssertionError("exported again despite the cache")

    with monkeypatch.context() as m:
        m.setattr(exporter, "export_graphs", no_export)
        assert graphs(Scale(1.0), options) == first

    other_weights = graphs(Scale(2.0), options)  # e.g. after `filmrt weights import`
    assert other_weights != first and other_weights[0].is_file()
    assert exporter.read_metadata(other_weights[0])["weights_sha256"] != exporter.read_metadata(first[0])[
        "weights_sha256"
    ]
    monkeypatch.setattr(cache, "exporter_version", lambda: "filmrt 99.0; torch 9.9")
    other_exporter = graphs(Scale(1.0), options)
    assert other_exporter not in (first, other_weights) and other_exporter[0].is_file()


def test_key_parts_and_folders(tmp_path, monkeypatch):
    net = Scale(1.0)
    base = dict(warp="portable", precision="fp32", opset=17, stages=False)
    key = cache.digest(cache.graph_parts(net, **base))
    assert len(key) == 32 and key == cache.digest(cache.graph_parts(Scale(1.0), **base))
    for change in ({"warp": "plugin"}, {"precision": "fp16"}, {"opset": 18}, {"stages": True}):
        assert cache.digest(cache.graph_parts(net, **{**base, **change})) != key, change
    # one root, one variable; FILMRT_ENGINE_CACHE (the engines folder's old name) still works
    monkeypatch.setenv("FILMRT_CACHE_DIR", str(tmp_path / "root"))
    monkeypatch.delenv("FILMRT_ENGINE_CACHE", raising=False)
    assert [cache.folder(k) for k in cache.KINDS] == [tmp_path / "root" / k for k in cache.KINDS]
    assert cache.folder("onnx", tmp_path / "given") == tmp_path / "given" / "onnx"
    monkeypatch.setenv("FILMRT_ENGINE_CACHE", str(tmp_path / "old"))
    assert cache.folder("engines") == tmp_path / "old" and cache.folder("onnx") == tmp_path / "root" / "onnx"
    path = cache.cache_path("engines", {"a": 1}, suffix=".engine", root=tmp_path / "r")
    assert path == tmp_path / "r" / "engines" / f"{cache.digest({'a': 1})}.engine"

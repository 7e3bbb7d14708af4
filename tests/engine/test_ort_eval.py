"""`filmrt eval --backend ort` reproduces the torch figures (RIFE 4.25 on Middlebury scenes)."""

from __future__ import annotations

import json

import pytest

from filmrt.cli.main import main

pytest.importorskip("onnxruntime")
pytest.importorskip("filmrt.evaluation")


@pytest.fixture(autouse=True)
def _shared_onnx_cache(tmp_path_factory, monkeypatch):
    monkeypatch.setenv("FILMRT_CACHE_DIR", str(tmp_path_factory.getbasetemp() / "filmrt-cache"))


def test_eval_ort_matches_torch_on_middlebury_scenes(shared, tmp_path, capsys):
    dataset = shared / "data" / "vfi" / "middlebury-other"
    if not dataset.is_dir():
        pytest.skip(f"no Middlebury set at {dataset}")
    reports = {}
    for backend in ("torch", "ort"):
        out = tmp_path / f"{backend}.json"
        argv = ["eval", "--model", "rife-4.25", "--dataset", str(dataset), "--limit", "2", "--backend", backend]
        assert main([*argv, "--json", str(out), "--quiet"]) == 0
        reports[backend] = json.loads(out.read_text())
    capsys.readouterr()
    assert reports["ort"]["backend"] == "ort" and reports["torch"]["backend"] == "torch"
    ex_t = reports["torch"]["sets"][0]["examples"]
    ex_o = reports["ort"]["sets"][0]["examples"]
    assert [e["name"] for e in ex_o] == [e["name"] for e in ex_t] and len(ex_o) == 2
    for a, b in zip(ex_t, ex_o, strict=True):
        assert abs(a["psnr"] - b["psnr"]) <= 0.01, (a, b)
        assert abs(a["ssim"] - b["ssim"]) <= 1e-4, (a, b)

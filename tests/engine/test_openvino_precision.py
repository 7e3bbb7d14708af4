"""Precision on the OpenVINO backend (issue 22, item 5): ``fp32`` is f32 in the compiled model, not
whatever the CPU plugin would default to (bf16 on CPUs with AVX512-BF16 or AMX), and
``--precision auto`` follows one rule: bf16 only where OpenVINO lists ``BF16`` for the device and
the model's measured bf16 Middlebury delta is within 0.05 dB; else fp32.

This machine has no native bf16, so the bf16 side is exercised through the rule's two inputs
(the device's capabilities and the model's recorded delta), replaced in the test; what OpenVINO
computes under a bf16 hint is measured by ``tests/support/precision_sweep.py``, not here.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

from filmrt.engine import open_interpolator
from filmrt.errors import FilmrtError
from filmrt.models import get_spec

ov = pytest.importorskip("openvino", reason="openvino is not installed (pip install 'filmrt[openvino]')")


@pytest.fixture(autouse=True)
def _shared_cache(tmp_path_factory, monkeypatch):
    """One graph/compiled-model cache for the test session (RIFE is exported once), never the user's."""
    monkeypatch.setenv("FILMRT_CACHE_DIR", str(tmp_path_factory.getbasetemp() / "filmrt-cache"))


@pytest.fixture(scope="module")
def pair(shared):
    d = np.load(shared / "fixtures" / "rife" / "rife425_io.npz")  # a real (Middlebury) 128x192 pair
    return (torch.from_numpy(d[k][0][None, :, :64, :128]) for k in ("img0", "img1"))


def _measured(monkeypatch, delta: float | None, capabilities: list[str]) -> None:
    """The rule's inputs as on a CPU with ``capabilities``, RIFE's delta recorded as ``delta``."""
    import filmrt.engine.openvino_backend as ovb

    spec = dataclasses.replace(get_spec("rife-4.25"), bf16_psnr_delta_db=delta)
    monkeypatch.setattr(ovb, "get_spec", lambda name: spec if name == "rife-4.25" else get_spec(name))
    monkeypatch.setattr(ovb, "capabilities", lambda core, device: capabilities)


def test_fp32_is_f32_in_the_compiled_model(pair):
    a, b = pair
    for precision in ("fp32", "auto"):  # auto: no model has a recorded bf16 delta, so fp32
        interp = open_interpolator("rife-4.25", backend="openvino", precision=precision, threads=1)
        interp.interpolate(a, b, [0.5])
        graph = interp.graphs["model"]
        assert interp.precision == "fp32" and graph.config["INFERENCE_PRECISION_HINT"] == "f32"
        ((comp, _),) = graph.compiled.values()
        assert comp.get_property("INFERENCE_PRECISION_HINT") == ov.Type.f32


def test_auto_precision_rule(monkeypatch):
    from filmrt.engine.openvino_backend import BF16_BOUND_DB, auto_precision

    bf16_cpu, plain_cpu = ["FP32", "BF16", "INT8"], ["WINOGRAD", "FP32", "INT8", "BIN", "EXPORT_IMPORT"]
    _measured(monkeypatch, None, [])
    assert auto_precision("rife-4.25", bf16_cpu)[0] == "fp32"  # not measured
    for delta in (0.01, -0.03, BF16_BOUND_DB):
        _measured(monkeypatch, delta, [])
        assert auto_precision("rife-4.25", bf16_cpu)[0] == "bf16"
        precision, why = auto_precision("rife-4.25", plain_cpu)  # no native bf16: never
        assert precision == "fp32" and "no native bf16" in why
    for delta in (0.06, -0.2):
        _measured(monkeypatch, delta, [])
        precision, why = auto_precision("rife-4.25", bf16_cpu)
        assert precision == "fp32" and f"{delta:+.3f} dB" in why
    assert auto_precision("my-graph", bf16_cpu)[0] == "fp32"  # a graph of an unregistered model


def test_auto_picks_bf16_only_by_the_rule(monkeypatch):
    _measured(monkeypatch, 0.02, ["FP32", "BF16"])
    interp = open_interpolator("rife-4.25", threads=1)  # backend auto, precision auto
    assert interp.backend == "openvino" and interp.precision == "bf16"
    assert interp.graphs["model"].config["INFERENCE_PRECISION_HINT"] == "bf16"
    assert interp.describe() == "rife-4.25 on openvino (cpu, bf16; CPU, 1 threads)"
    # asked by name, fp32 stays f32 on that CPU; bf16 by name stays refused
    fp32 = open_interpolator("rife-4.25", backend="openvino", precision="fp32")
    assert fp32.graphs["model"].config["INFERENCE_PRECISION_HINT"] == "f32"
    with pytest.raises(FilmrtError, match="openvino backend runs fp32, not bf16.*or auto \\(bf16 where"):
        open_interpolator("rife-4.25", backend="openvino", precision="bf16")
    _measured(monkeypatch, 0.2, ["FP32", "BF16"])  # measured outside the bound
    assert open_interpolator("rife-4.25", backend="openvino").precision == "fp32"
    _measured(monkeypatch, 0.02, ["FP32"])  # within the bound, no native bf16
    assert open_interpolator("rife-4.25", backend="openvino").precision == "fp32"

"""The thread plan of convert (filmrt.pipeline.threads): the model keeps the cores, the codec stages
run on one thread each beside it, and a run reports where its time went."""

from __future__ import annotations

import threading

import pytest
import torch
from support.synth import make_clip

from filmrt.options import RuntimeOptions
from filmrt.pipeline.convert import convert
from filmrt.pipeline.options import ConvertOptions, EncodeOptions
from filmrt.pipeline.threads import ThreadPlan, cpu_cores, plan_threads, torch_threads


def test_cpu_plan_gives_the_model_every_core():
    plan = plan_threads("cpu", cores=8)
    assert plan == ThreadPlan(cores=8, model=8, decoder=1, encoder=1, glue=1)
    assert plan_threads("cpu", model_threads=3, cores=8).model == 3
    assert "model 8, decoder 1, encoder 1" in plan.describe()
    assert plan_threads("cpu").cores == cpu_cores() >= 1


def test_gpu_plan_leaves_the_codecs_their_defaults():
    plan = plan_threads(torch.device("cuda"), cores=8)
    assert (plan.decoder, plan.encoder, plan.glue) == (0, 0, 0)
    assert "decoder auto" in plan.describe()


def test_stage_threads_are_per_thread():
    """enter_stage sets the calling thread's PyTorch count only: the caller keeps its own."""
    before = torch.get_num_threads()
    seen = {}

    def stage():
        plan_threads("cpu", cores=4).enter_stage()
        seen["stage"] = torch.get_num_threads()

    th = threading.Thread(target=stage)
    th.start()
    th.join()
    try:
        assert seen["stage"] == 1
        assert torch.get_num_threads() == before
    finally:
        torch.set_num_threads(before)


@pytest.mark.usefixtures("one_thread")
def test_convert_reports_the_plan_and_the_split(tmp_path):
    src = make_clip(tmp_path / "in.mp4", frames=10)
    opts = ConvertOptions(fps="x2", runtime=RuntimeOptions(model="blend"), encode=EncodeOptions(preset="ultrafast"))
    threads = torch.get_num_threads()
    r = convert(src, tmp_path / "out.mp4", opts)
    assert torch.get_num_threads() == threads  # the caller's count is restored
    # the pipeline's blend is light: the encoder takes the cores (the model needs none)
    assert r.threads.startswith(f"{cpu_cores()} cores: model {cpu_cores()}, decoder 1, encoder {cpu_cores()}")
    st = r.stage_s
    assert 0 < r.model_s == st["model_s"] < r.seconds
    assert st["outside_model_s"] == pytest.approx(r.seconds - r.model_s)
    assert 0 <= st["setup_s"] < r.seconds
    assert 0 <= st["open_model_s"] + st["analysis_s"] <= st["setup_s"]  # parts of the setup
    assert st["decode_cpu_s"] > 0 and st["encode_cpu_s"] > 0
    assert r.to_dict()["stage_s"] == st


@pytest.mark.usefixtures("one_thread")
def test_a_model_that_needs_the_cores_keeps_them(tmp_path):
    """The blend model run by a backend (not the pipeline's own arithmetic) is planned as any model."""
    src = make_clip(tmp_path / "in.mp4", frames=6)
    opts = ConvertOptions(fps="x2", runtime=RuntimeOptions(model="blend", backend="torch"),
                          encode=EncodeOptions(preset="ultrafast"))
    r = convert(src, tmp_path / "out.mp4", opts)
    assert r.threads.startswith(f"{cpu_cores()} cores: model {cpu_cores()}, decoder 1, encoder 1")


@pytest.mark.usefixtures("one_thread")
def test_h264_into_mpeg_ps_keeps_one_encoder_thread(tmp_path):
    """Readers guess the times of H.264 pictures that share an MPEG-PS packet, and the packing
    follows the encoder's threads: there the encoder keeps one thread; MPEG-2 (auto) takes the cores."""
    src = make_clip(tmp_path / "in.mp4", frames=6)
    for codec, enc in (("libx264", 1), ("auto", cpu_cores())):
        opts = ConvertOptions(fps="x2", runtime=RuntimeOptions(model="blend"), encode=EncodeOptions(codec=codec))
        r = convert(src, tmp_path / f"out-{codec}.vob", opts)
        assert r.threads.startswith(f"{cpu_cores()} cores: model {cpu_cores()}, decoder 1, encoder {enc}"), codec
        assert r.verify["status"] == "ok"


def test_codecs_take_the_cores_on_the_cpu_only():
    assert plan_threads("cpu", cores=4).codecs_take_the_cores().encoder == 4
    assert plan_threads(torch.device("cuda"), cores=4).codecs_take_the_cores().encoder == 0  # FFmpeg's choice


def test_inference_thread_runs_glue_threads_when_pytorch_is_not_the_model():
    """OpenVINO / ONNX Runtime run the model on their own pools: the inference thread's PyTorch work
    (stack, pad, crop) gets the glue count; the torch backend keeps the model's count. On a GPU
    (glue 0) nothing is set."""
    plan = plan_threads("cpu", cores=4)
    assert plan.inference_threads("torch", 4) == 4
    assert plan.inference_threads("openvino", 4) == plan.inference_threads("ort", 4) == 1
    assert plan_threads(torch.device("cuda"), cores=4).inference_threads("ort", 4) == 4


def test_torch_threads_sets_and_restores_the_count():
    before = torch.get_num_threads()
    try:
        with torch_threads(1):
            assert torch.get_num_threads() == 1
        assert torch.get_num_threads() == before
        with torch_threads(0):  # 0: left alone (a GPU plan)
            assert torch.get_num_threads() == before
        with pytest.raises(RuntimeError), torch_threads(1):
            raise RuntimeError
        assert torch.get_num_threads() == before
    finally:
        torch.set_num_threads(before)

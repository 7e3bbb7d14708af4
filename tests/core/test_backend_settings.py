"""Typed settings per backend, carried by RuntimeOptions: defaults written once, one check, flat
names for the CLI and the Python API, generated flags, (model, options) constructors."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from filmrt.cli.groups import runtime_from_args
from filmrt.cli.main import build_parser, main
from filmrt.errors import FilmrtError
from filmrt.options import (
    SETTINGS,
    OpenVinoSettings,
    OrtSettings,
    RuntimeOptions,
    TorchSettings,
    TrtSettings,
    changes_output,
)


def test_runtime_options_carry_the_four_settings_objects():
    opts = RuntimeOptions()
    assert (type(opts.torch), type(opts.ort), type(opts.openvino), type(opts.trt)) == (
        TorchSettings, OrtSettings, OpenVinoSettings, TrtSettings)  # fmt: skip
    assert opts.max_batch == 4 and opts.settings_changed() == {}
    # flat names go to their object; to_dict (nested) round-trips
    opts = RuntimeOptions.build(ov_hint="latency", trt_workspace="2.5", torch_cache_frames="3")
    assert opts.openvino.ov_hint == "latency" and opts.trt.trt_workspace == 2.5 and opts.torch.torch_cache_frames == 3
    assert RuntimeOptions(**opts.to_dict()) == opts
    assert opts.replace(ov_hint="auto").settings_changed() == {"trt_workspace": 2.5, "torch_cache_frames": 3}
    with pytest.raises(TypeError):
        RuntimeOptions.build(no_such_field=1)


def test_every_value_is_checked_once_when_made():
    for bad, match in [
        ({"torch_cache_frames": 0}, "--torch-cache-frames must be a positive integer"),
        ({"ort_cache_pairs": 1.5}, "--ort-cache-pairs must be a positive integer"),
        ({"ort_opset": 20}, "--ort-opset 20: use one of 17, 18, 19"),
        ({"ov_hint": "fast"}, "--ov-hint 'fast'"),
        ({"ov_graphs": "two"}, "--ov-graphs 'two'"),
        ({"trt_workspace": 0}, "--trt-workspace must be a positive number"),
        ({"trt_cuda_graph": "yes"}, "--trt-cuda-graph must be true or false"),
        ({"graph_cache": 1}, "--graph-cache must be true or false"),
        ({"max_batch": 0}, "--batch must be a positive integer"),
    ]:
        with pytest.raises(FilmrtError, match=match):
            RuntimeOptions.build(**bad)
    # another backend's setting is refused, as the extras are; auto takes any
    with pytest.raises(FilmrtError, match="--trt-cuda-graph is an option of the trt backend, not of 'ort'"):
        RuntimeOptions.build(backend="ort", trt_cuda_graph=True)
    assert RuntimeOptions.build(backend="trt", trt_cuda_graph=True).trt.trt_cuda_graph


def test_settings_fields_are_prefixed_unique_and_execution_only():
    names = [f.name for f in dataclasses.fields(RuntimeOptions)]
    for group, cls in SETTINGS.items():
        fields = dataclasses.fields(cls)
        names += [f.name for f in fields]
        prefix = {"openvino": "ov"}.get(group, group) + "_"
        assert all(f.name.startswith(prefix) for f in fields), group
        # they change where and how a result is computed, never the frames (batch's resume reads this)
        assert not any(changes_output(f) for f in fields), group
    assert len(names) == len(set(names))
    fields = {f.name: f for f in dataclasses.fields(RuntimeOptions)}
    assert not changes_output(fields["cache_dir"]) and not changes_output(fields["graph_cache"])


def test_generated_flags_reach_the_settings(capsys):
    for command in ("interpolate", "convert", "batch", "eval"):
        with pytest.raises(SystemExit):
            main([command, "--help"])
        out = capsys.readouterr().out
        for flag in ("--ov-hint", "--ov-device", "--trt-cuda-graph", "--trt-workspace", "--torch-cache-frames",
                     "--ort-opset", "--cache-dir", "--no-graph-cache", "--engine", "--onnx", "--fast", "--threads"):
            assert flag in out, (command, flag)
        assert "openvino backend:" in out and "trt backend:" in out
    args = build_parser().parse_args([
        "interpolate", "a.png", "b.png", "-o", "o.png", "--backend", "openvino", "--threads", "2", "--batch", "3",
        "--precision", "fp32", "--onnx", "m.onnx", "--ov-hint", "latency", "--ov-device", "CPU",
        "--no-graph-cache", "--cache-dir", "/tmp/c",
    ])
    opts = runtime_from_args(args)
    assert (opts.backend, opts.threads, opts.max_batch, opts.precision, opts.onnx) == ("openvino", 2, 3, "fp32", "m.onnx")
    assert opts.openvino == OpenVinoSettings(ov_hint="latency", ov_device="CPU")
    assert opts.graph_cache is False and opts.cache_dir == "/tmp/c" and opts.trt == TrtSettings()
    args = build_parser().parse_args(["interpolate", "a", "b", "-o", "o", "--engine", "x.engine",
                                      "--trt-cuda-graph", "--trt-workspace", "4", "--fast", "none"])
    opts = runtime_from_args(args)
    assert opts.engine == "x.engine" and opts.fast == "none" and opts.graph_cache is True
    assert opts.trt == TrtSettings(trt_cuda_graph=True, trt_workspace=4.0)
    with pytest.raises(SystemExit):
        build_parser().parse_args(["interpolate", "a", "b", "-o", "o", "--ort-opset", "20"])
    capsys.readouterr()


class _Probe(torch.nn.Module):
    """Blending that records PyTorch's thread count at each call."""

    name = "probe"

    def __init__(self):
        super().__init__()
        self.seen: list[int] = []

    def forward(self, img0, img1, t):
        self.seen.append(torch.get_num_threads())
        return img0 + (img1 - img0) * t.view(-1, 1, 1, 1)


def test_torch_threads_hold_for_the_backends_own_calls_only():
    from filmrt.engine.torch_backend import TorchInterpolator

    before = torch.get_num_threads()
    want = before + 1
    net = _Probe()
    interp = TorchInterpolator(net, RuntimeOptions(threads=want, max_batch=2))
    assert torch.get_num_threads() == before  # loading changed nothing
    interp.interpolate(torch.rand(3, 3, 8, 8), torch.rand(3, 3, 8, 8), [0.5, 0.5, 0.5])
    assert net.seen == [want, want] and torch.get_num_threads() == before  # max_batch 2: two calls

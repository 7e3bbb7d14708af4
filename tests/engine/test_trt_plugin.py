"""filmrt::BackwardWarp plugin registration, exercised against a stand-in ``tensorrt.plugin``.

TensorRT cannot be installed here, so these tests give :mod:`filmrt.engine.trt.plugin` a small
fake of the documented ``tensorrt.plugin`` API (register/autotune/impl/aot_impl decorators,
KernelLaunchParams, SymInt32/SymIntExprs, cdiv) that checks the decorated functions the way
TensorRT does (real annotation classes, argument schemas, aot_impl's return annotation) and lets
us call them with concrete shapes. With real TensorRT installed, test_trt_engine.py covers it.
"""

import inspect
import sys
import types
import typing

import onnx
import pytest
from onnx import TensorProto, helper

from filmrt.engine.cuda import warp_kernel
from filmrt.engine.trt import plugin as trt_plugin


class _Desc:
    """Stand-in TensorDesc: concrete shapes play the symbolic shape expressions."""

    def __init__(self, shape, dtype):
        self.shape_expr = tuple(shape)
        self.dtype = dtype

    def like(self):
        return _Desc(self.shape_expr, self.dtype)


def _fake_tensorrt(version="10.13.0", aot=True):
    trt = types.ModuleType("tensorrt")
    trt.__version__ = version
    trt.float32, trt.float16 = "DT_FLOAT", "DT_HALF"
    trtp = types.ModuleType("tensorrt.plugin")
    trtp.defs = {}

    class TensorDesc(_Desc):
        pass

    class AutoTuneCombination:
        def __init__(self, io_types, layouts=None, tactics=None):
            self.io_types = io_types

    trtp.TensorDesc, trtp.AutoTuneCombination = TensorDesc, AutoTuneCombination

    def register(pid):
        def deco(fn):
            sig = inspect.signature(fn)
            for p in sig.parameters.values():  # TensorRT: issubclass(annotation, TensorDesc)
                assert inspect.isclass(p.annotation) and issubclass(p.annotation, TensorDesc), p
            assert issubclass(sig.return_annotation, TensorDesc)
            trtp.defs["register"] = fn
            trtp.inputs = list(sig.parameters)
            return fn

        return deco

    def schema_checked(kind, tail):
        def dec(pid):
            def deco(fn):
                names = list(inspect.signature(fn).parameters)
                assert names == trtp.inputs + tail, f"{kind} schema {names}"
                trtp.defs[kind] = fn
                return fn

            return deco

        return dec

    trtp.register = register
    trtp.autotune = schema_checked("autotune", ["outputs"])
    trtp.impl = schema_checked("impl", ["outputs", "stream"])
    if aot:

        class KernelLaunchParams:
            grid_x = grid_y = grid_z = block_x = block_y = block_z = 1
            shared_mem = 0

        class SymInt32:
            def __init__(self, v):
                self.v = v

        class SymIntExprs(list):
            @classmethod
            def from_tuple(cls, items):
                return cls(items)

        def aot_impl(pid):
            def deco(fn):
                sig = inspect.signature(fn)
                assert list(sig.parameters) == trtp.inputs + ["outputs", "tactic"]
                ret = sig.return_annotation
                assert typing.get_origin(ret) is tuple and len(typing.get_args(ret)) == 4
                assert typing.get_args(ret)[2] is KernelLaunchParams
                trtp.defs["aot_impl"] = fn
                return fn

            return deco

        trtp.KernelLaunchParams, trtp.SymInt32, trtp.SymIntExprs = KernelLaunchParams, SymInt32, SymIntExprs
        trtp.aot_impl = aot_impl
        trtp.cdiv = lambda a, b: -(-a // b)
    trt.plugin = trtp
    return trt, trtp


@pytest.fixture
def fake_trt(monkeypatch):
    trt, trtp = _fake_tensorrt()
    monkeypatch.setitem(sys.modules, "tensorrt", trt)
    monkeypatch.setitem(sys.modules, "tensorrt.plugin", trtp)
    monkeypatch.setattr(trt_plugin, "_state", {})
    monkeypatch.setattr(trt_plugin, "_driver_version", lambda: None)
    monkeypatch.setattr(trt_plugin, "_device_arch", lambda: 90)
    return trt, trtp


def test_versions_and_aot_support():
    assert trt_plugin.parse_version("10.9.0.34") == (10, 9, 0, 34)
    assert trt_plugin.parse_version("11.0.0b1") == (11, 0, 0)
    assert not trt_plugin.supports_aot("10.8.0")
    assert trt_plugin.supports_aot("10.9.0") and trt_plugin.supports_aot("11.3.0")
    assert not trt_plugin.supports_aot("10.12.0", types.SimpleNamespace())  # API missing
    assert trt_plugin.PLUGIN_ID == "filmrt::BackwardWarp" and trt_plugin.PLUGIN_VERSION == "1"


def test_registration_shapes_types_and_aot_kernel(fake_trt):
    trt, trtp = fake_trt
    info = trt_plugin.register_plugin()
    assert info == {"aot": True, "trt_version": "10.13.0"}
    assert trt_plugin.register_plugin() == info  # once per process
    image = trtp.TensorDesc((2, 64, 270, 480), trt.float16)
    flow = trtp.TensorDesc((2, 2, 270, 480), trt.float32)
    out = trtp.defs["register"](image, flow)
    assert out.shape_expr == image.shape_expr and out.dtype == trt.float16  # output = image
    combos = [c.io_types for c in trtp.defs["autotune"](image, flow, (out,))]
    assert "FP32, FP32, FP32" in combos and "FP16, FP32, FP16" in combos

    name, ptx, params, extra = trtp.defs["aot_impl"](image, flow, (out,), 0)
    assert name == b"filmrt_backward_warp_f16_f32"
    assert ptx.decode() == warp_kernel.committed_ptx(90)
    assert f".entry {name.decode()}(" in ptx.decode()
    assert (params.block_x, params.block_y, params.block_z) == warp_kernel.BLOCK
    grid, _ = warp_kernel.launch_config(2, 270, 480)
    assert (params.grid_x, params.grid_y, params.grid_z) == grid == (15, 34, 2)
    assert params.shared_mem == 0
    assert [e.v for e in extra] == [2, 64, 270, 480]  # (N, C, H, W) between inputs and output

    name32, *_ = trtp.defs["aot_impl"](trtp.TensorDesc((1, 3, 64, 64), trt.float32), flow, (out,), 0)
    assert name32 == b"filmrt_backward_warp_f32_f32"


def test_without_aot_only_the_jit_form_is_registered(monkeypatch):
    trt, trtp = _fake_tensorrt(version="10.8.0", aot=False)
    monkeypatch.setitem(sys.modules, "tensorrt", trt)
    monkeypatch.setitem(sys.modules, "tensorrt.plugin", trtp)
    monkeypatch.setattr(trt_plugin, "_state", {})
    assert trt_plugin.register_plugin()["aot"] is False
    assert "impl" in trtp.defs and "aot_impl" not in trtp.defs


def test_too_old_tensorrt_is_refused(monkeypatch):
    trt, trtp = _fake_tensorrt(version="10.3.0", aot=False)
    monkeypatch.setitem(sys.modules, "tensorrt", trt)
    monkeypatch.setitem(sys.modules, "tensorrt.plugin", trtp)
    monkeypatch.setattr(trt_plugin, "_state", {})
    with pytest.raises(RuntimeError, match="10.6"):
        trt_plugin.register_plugin()


def _warp_graph(n_nodes=2):
    nodes, prev = [], "img"
    for i in range(n_nodes):
        nodes.append(
            helper.make_node(
                "BackwardWarp",
                [prev, "flow"],
                [f"w{i}"],
                name=f"warp{i}",
                domain="filmrt",
                plugin_namespace="filmrt",
                plugin_version="1",
            )
        )
        prev = f"w{i}"
    g = helper.make_graph(
        nodes,
        "g",
        [
            helper.make_tensor_value_info("img", TensorProto.FLOAT, ["N", 3, "H", "W"]),
            helper.make_tensor_value_info("flow", TensorProto.FLOAT, ["N", 2, "H", "W"]),
        ],
        [helper.make_tensor_value_info(prev, TensorProto.FLOAT, ["N", 3, "H", "W"])],
    )
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", 17), helper.make_opsetid("filmrt", 1)])


def test_mark_aot_sets_and_clears_the_parser_attribute():
    m = _warp_graph(3)
    assert trt_plugin.mark_aot(m, True) == 3
    assert trt_plugin.mark_aot(m, True) == 3  # idempotent: one attribute per node
    for node in m.graph.node:
        aot = [a for a in node.attribute if a.name == "aot"]
        assert len(aot) == 1 and aot[0].i == 1
    trt_plugin.mark_aot(m, False)
    assert not any(a.name == "aot" for n in m.graph.node for a in n.attribute)
    onnx.checker.check_model(m)

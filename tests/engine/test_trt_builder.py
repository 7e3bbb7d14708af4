"""The engine builder's pure parts (no TensorRT, no GPU): profiles, dims, plugin nodes, cache keys,
arguments and errors of ``filmrt build-engine``."""

import pytest
from onnx import TensorProto, helper

from filmrt.cli.main import build_parser, main
from filmrt.engine.cli import validate
from filmrt.engine.trt import builder as tb
from filmrt.errors import FilmrtError


# ----------------------------------------------------------------- sizes and profiles
def test_sizes_and_shapes_parse():
    # --shapes: frame sizes WIDTHxHEIGHT or names (filmrt.sizes), returned as (height, width) shapes
    assert tb.parse_shapes("1080p") == [(1080, 1920)]
    assert tb.parse_shapes("4K") == [(2160, 3840)]
    assert tb.parse_shapes("1280x720") == [(720, 1280)]  # 1280 wide, 720 high
    assert tb.parse_shapes("1080p, 720p") == [(1080, 1920), (720, 1280)]
    # --min/--opt/--max: tensor shapes, batch x height x width
    assert tb.parse_nhw("4x1088x1920") == (4, 1088, 1920)
    assert tb.parse_batch("1..8") == (1, 8, 8) and tb.parse_batch(4) == (4, 4, 4)
    for bad, fn in (("1080i", tb.parse_shapes), ("x", tb.parse_shapes), (" , ", tb.parse_shapes),
                    ("4x1088", tb.parse_nhw), ("8..1", tb.parse_batch)):  # fmt: skip
        with pytest.raises(FilmrtError):
            fn(bad)


def test_build_engine_shapes_mean_the_same_sizes_as_bench(tmp_path, capsys):
    """``build-engine --shapes 1280x720`` is 1280 wide and 720 high, like ``bench --sizes 1280x720``:
    both go through filmrt.sizes; the profile's tensor shapes are (N, 3, 768, 1280) after padding."""
    from filmrt.sizes import parse_sizes

    onnx_path = tmp_path / "toy.onnx"
    onnx_path.write_bytes(b"")
    args = build_parser().parse_args(["build-engine", str(onnx_path), "-o", "x.engine", "--shapes", "1280x720"])
    [p] = validate(args)
    assert p.opt == (1, 768, 1280) and (p.opt[1], p.opt[2]) == tuple(tb.padded_size(x) for x in parse_sizes("1280x720")[0].hw)
    with pytest.raises(SystemExit):
        main(["build-engine", "--help"])
    text = capsys.readouterr().out
    assert "WIDTHxHEIGHT" in text and "--engine rife.engine" in text and "NxHxW" in text


def test_profile_covers_requested_resolutions_padded_to_64():
    p = tb.ProfileSpec.from_sizes([(1080, 1920), (720, 1280), (2160, 3840)], (1, 4, 4))
    assert p.min == (1, 768, 1280)  # 720 -> 768
    assert p.opt == (4, 1088, 1920)  # the first size listed, 1080 -> 1088
    assert p.max == (4, 2176, 3840)  # 2160 -> 2176
    assert p.contains(2, 1088, 1920) and p.contains(1, 768, 3840)
    assert not p.contains(5, 1088, 1920) and not p.contains(1, 704, 1280)
    assert tb.ProfileSpec.from_json(p.to_json()) == p
    q = tb.ProfileSpec.from_nhw((1, 100, 100), (2, 500, 700), (2, 1000, 1000))
    assert q.min == (1, 128, 128) and q.opt == (2, 512, 704) and q.max == (2, 1024, 1024)
    with pytest.raises(FilmrtError, match="min <= opt <= max"):
        tb.ProfileSpec.from_nhw((2, 64, 64), (1, 64, 64), (2, 64, 64))
    with pytest.raises(FilmrtError, match="multiples of 64"):
        tb.ProfileSpec((1, 100, 64), (1, 128, 64), (1, 128, 64))


def test_profiles_from_cli_arguments():
    [p] = tb.profiles_from_args(None)
    assert p.opt == (1, 1088, 1920)  # default 1080p, batch 1
    [p] = tb.profiles_from_args("720p,1080p", batch="2..6")
    assert p.min == (2, 768, 1280) and p.opt == (6, 768, 1280) and p.max == (6, 1088, 1920)
    [p] = tb.profiles_from_args(min_shape="1x64x64", opt_shape="2x1080x1920", max_shape="4x2160x3840")
    assert p.max == (4, 2176, 3840)
    with pytest.raises(FilmrtError, match="not both"):
        tb.profiles_from_args("1080p", "1x64x64", "1x64x64", "1x64x64")
    with pytest.raises(FilmrtError, match="go together"):
        tb.profiles_from_args(min_shape="1x64x64")
    with pytest.raises(FilmrtError, match="--batch"):
        tb.profiles_from_args(None, "1x64x64", "1x64x64", "1x64x64", batch="2")


def test_input_dims_resolve_from_batch_height_width():
    assert tb.resolve_dims(["N", 3, "H", "W"], 4, 1088, 1920) == (4, 3, 1088, 1920)
    assert tb.resolve_dims(["N", 64, "H_2", "W_2"], 4, 1088, 1920) == (4, 64, 272, 480)
    assert tb.resolve_dims(["batch"], 3, 64, 64) == (3,)
    assert tb.resolve_dims(["N", 2, "H_6", "W_6"], 1, 1088, 1920) == (1, 2, 17, 30)
    with pytest.raises(FilmrtError, match="cannot derive"):
        tb.resolve_dims(["N", 3, "unk_17", "W"], 1, 64, 64, name="x")
    with pytest.raises(FilmrtError, match="not divisible"):
        tb.resolve_dims(["N", 3, "H_7", "W"], 1, 64, 64)


# ----------------------------------------------------------------- graphs
def _vi(name, dims, elem=TensorProto.FLOAT):
    return helper.make_tensor_value_info(name, elem, dims)


def _plugin_graph(namespace="filmrt", version="1", domain="filmrt", fp16=False, extra_nodes=()):
    elem = TensorProto.FLOAT16 if fp16 else TensorProto.FLOAT
    nodes = [
        helper.make_node("Sub", ["img1", "img0"], ["d"]),
        helper.make_node("Slice", ["d", "s0", "s1", "ax"], ["flow"]),
        helper.make_node(
            "BackwardWarp",
            ["img0", "flow"],
            ["warped"],
            name="warp0",
            domain=domain,
            plugin_namespace=namespace,
            plugin_version=version,
        ),
        helper.make_node("Mul", ["warped", "tt"], ["image"]),
        helper.make_node("Unsqueeze", ["t", "axes"], ["tt"]),
        *extra_nodes,
    ]
    inits = [
        helper.make_tensor("s0", TensorProto.INT64, [1], [0]),
        helper.make_tensor("s1", TensorProto.INT64, [1], [2]),
        helper.make_tensor("ax", TensorProto.INT64, [1], [1]),
        helper.make_tensor("axes", TensorProto.INT64, [3], [1, 2, 3]),
    ]
    g = helper.make_graph(
        nodes,
        "toy",
        [_vi("img0", ["N", 3, "H", "W"], elem), _vi("img1", ["N", 3, "H", "W"], elem), _vi("t", ["N"], elem)],
        [_vi("image", ["N", 3, "H", "W"], elem)],
        initializer=inits,
    )
    opsets = [helper.make_opsetid("", 17)] + ([helper.make_opsetid(domain, 1)] if domain else [])
    m = helper.make_model(g, opset_imports=opsets)
    if fp16:
        m.metadata_props.add(key="precision", value="fp16")
    return m


def test_plugin_nodes_are_read_from_the_graph():
    m = _plugin_graph()
    [node] = tb.check_plugin_graph(m, require_plugin=True)
    assert node["domain"] == "filmrt" and node["plugin_namespace"] == "filmrt" and node["plugin_version"] == "1"
    assert node["inputs"] == ["img0", "flow"] and node["outputs"] == ["warped"]
    shapes = tb.input_shapes(m, tb.ProfileSpec.from_sizes([(1080, 1920)], (1, 2, 4)))
    assert shapes["img0"] == ((1, 3, 1088, 1920), (2, 3, 1088, 1920), (4, 3, 1088, 1920))
    assert shapes["t"] == ((1,), (2,), (4,))
    assert [n for n, _, _ in tb.graph_inputs(m)] == ["img0", "img1", "t"]  # initializers excluded


@pytest.mark.parametrize(
    "kwargs,match",
    [
        ({"namespace": "other"}, "plugin_namespace"),
        ({"version": "2"}, "plugin_version"),
        ({"domain": ""}, "custom domain"),
    ],
)
def test_bad_plugin_nodes_are_refused(kwargs, match):
    with pytest.raises(FilmrtError, match=match):
        tb.check_plugin_graph(_plugin_graph(**kwargs))


def test_portable_graph_is_refused_when_a_plugin_graph_is_required():
    g = helper.make_graph(
        [helper.make_node("GridSample", ["img0", "grid"], ["image"], align_corners=1, padding_mode="border")],
        "portable",
        [_vi("img0", ["N", 3, "H", "W"]), _vi("grid", ["N", "H", "W", 2])],
        [_vi("image", ["N", 3, "H", "W"])],
    )
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])
    assert tb.check_plugin_graph(m) == []
    with pytest.raises(FilmrtError, match="portable graph"):
        tb.check_plugin_graph(m, require_plugin=True)


def test_fp16_graph_detection():
    assert tb.graph_is_fp16(_plugin_graph(fp16=True))
    assert not tb.graph_is_fp16(_plugin_graph())


# ----------------------------------------------------------------- cache keys
def test_engine_cache_key_changes_with_every_ingredient():
    p = tb.ProfileSpec.from_sizes([(1080, 1920)])
    base = dict(
        onnx_sha256="a" * 64,
        gpu_name="NVIDIA H100 80GB HBM3",
        compute_capability=(9, 0),
        trt_version="10.13.0",
        profiles=[p],
        precision="fp16",
        kernel_sha256="k",
    )
    k0 = tb.engine_cache_key(**base)
    assert k0 == tb.engine_cache_key(**base) and len(k0) == 32
    changes = {
        "onnx_sha256": "b" * 64,
        "gpu_name": "NVIDIA A100-SXM4-80GB",
        "compute_capability": (8, 0),
        "trt_version": "11.0.0",
        "profiles": [tb.ProfileSpec.from_sizes([(720, 1280)])],
        "precision": "fp32",
        "kernel_sha256": "k2",
    }
    for field, value in changes.items():
        assert tb.engine_cache_key(**{**base, field: value}) != k0, field


def test_cache_dir_and_stage_paths(tmp_path, monkeypatch):
    # the engines folder of the one cache root; FILMRT_ENGINE_CACHE (its old name) still names it
    monkeypatch.setenv("FILMRT_CACHE_DIR", str(tmp_path / "root"))
    assert tb.default_cache_dir() == tmp_path / "root" / "engines"
    monkeypatch.setenv("FILMRT_ENGINE_CACHE", str(tmp_path / "c"))
    assert tb.default_cache_dir() == tmp_path / "c"
    monkeypatch.delenv("FILMRT_ENGINE_CACHE")
    monkeypatch.delenv("FILMRT_CACHE_DIR")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "x"))
    assert tb.default_cache_dir() == tmp_path / "x" / "filmrt" / "engines"
    assert tb.engine_stage_path(tmp_path / "film.engine", "flow") == tmp_path / "film.flow.engine"
    assert tb.stage_files(tmp_path / "film.onnx") == {}
    for s in ("features", "flow", "fusion"):
        (tmp_path / f"film.{s}.onnx").write_bytes(b"")
    assert set(tb.stage_files(tmp_path / "film.onnx")) == {"features", "flow", "fusion"}
    assert tb.sidecar_path(tmp_path / "a.engine").name == "a.engine.json"


# ----------------------------------------------------------------- CLI and errors
def test_build_engine_cli_errors(tmp_path, capsys):
    assert main(["build-engine", str(tmp_path / "missing.onnx"), "-o", str(tmp_path / "x.engine")]) == 2
    assert "not found" in capsys.readouterr().err
    onnx_path = tmp_path / "toy.onnx"
    onnx_path.write_bytes(_plugin_graph().SerializeToString())
    assert main(["build-engine", str(onnx_path), "-o", str(tmp_path / "x.engine"), "--shapes", "huge"]) == 2
    assert "bad size" in capsys.readouterr().err
    assert main(["build-engine", str(onnx_path), "-o", "x.engine", "--min", "1x64x64"]) == 2
    assert "go together" in capsys.readouterr().err
    assert main(["build-engine", str(onnx_path), "-o", "x.engine", "--workspace", "0"]) == 2
    assert "--workspace" in capsys.readouterr().err


def test_build_engine_without_tensorrt_says_how_to_install(tmp_path, capsys):
    pytest.importorskip("onnx")
    try:
        import tensorrt  # noqa: F401

        pytest.skip("TensorRT is installed here")
    except ImportError:
        pass
    onnx_path = tmp_path / "toy.onnx"
    onnx_path.write_bytes(_plugin_graph().SerializeToString())
    assert main(["build-engine", str(onnx_path), "-o", str(tmp_path / "x.engine")]) == 2
    err = capsys.readouterr().err
    assert "TensorRT is not installed" in err and "pip install" in err
    assert not (tmp_path / "x.engine").exists()

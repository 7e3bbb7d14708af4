"""The TensorRT side against the REAL export graphs, on CPU (no TensorRT, no GPU).

engine/trt/backend.py and engine/trt/builder.py rely on the names `filmrt export` writes: ``img0``,
``img1``, ``t`` -> ``image``; FILM stages ``img`` -> states, ``frame0.<state>``/``frame1.<state>`` ->
``flow_*``, and fusion -> ``image``; dynamic dims ``N``, ``H``/``W`` and ``H_k``/``W_k``; one
``filmrt::BackwardWarp`` node per warp. These tests export the small-config FILM (random weights) as
plugin stage graphs and RIFE 4.25 as a plugin graph (fp16, the trt backend's default) and run the
builder's pure parts on them, so a drift of a name on either side fails here, not on a GPU box.
"""

from __future__ import annotations

import pytest
import torch

from filmrt import stages
from filmrt.engine.trt import backend as tbk
from filmrt.engine.trt import builder as tb
from filmrt.export.exporter import FRAME_PREFIXES, flatten_state, read_metadata, save_model, stage_path
from filmrt.models import get_spec
from filmrt.stages import prefixed_feeds

pytest.importorskip("onnx")
pytestmark = pytest.mark.usefixtures("one_thread")

N, H, W = 2, 128, 192  # a profile point: batch 2, padded 128 x 192 (non-square)


@pytest.fixture(scope="module")
def film_graphs(film_small_random):
    from filmrt.export import export_graphs

    return export_graphs(film_small_random, warp="plugin", stages=True, fp16=True)


@pytest.fixture(scope="module")
def rife_graph():
    from filmrt.export import export_graphs

    return export_graphs("rife-4.25", warp="plugin", fp16=True)["model"]


def _inputs(proto) -> list[str]:
    return [name for name, _, _ in tb.graph_inputs(proto)]


def _outputs(proto) -> list[str]:
    return [o.name for o in proto.graph.output]


@pytest.fixture(scope="module")
def film_states(film_small_random):
    """Real state and pair tensors of the torch model at (N, 3, H, W): name -> shape."""
    g = torch.Generator().manual_seed(0)
    a, b = torch.rand(N, 3, H, W, generator=g), torch.rand(N, 3, H, W, generator=g)
    with torch.no_grad():
        s0, s1 = film_small_random.encode_frame(a), film_small_random.encode_frame(b)
        pair = film_small_random.encode_pair(s0, s1)
    state = {n: tuple(x.shape) for n, x in flatten_state(s0)[0]}
    pairs = {n: tuple(x.shape) for n, x in flatten_state(pair)[0]}
    return state, pairs


def test_prefixes_and_stage_names_are_defined_once():
    assert tbk.FRAME_PREFIXES is FRAME_PREFIXES is stages.FRAME_PREFIXES
    assert tbk.STAGES is stages.STAGES and tb.STAGES is stages.STAGES


def test_trt_backend_reads_the_frame_size_from_a_real_frame_state(film_small_random):
    """The flow and fusion engines are chosen by the padded frame size read from the features
    state (no size remembered between calls): its finest pyramid level is the frame."""
    with torch.no_grad():
        state = film_small_random.encode_frame(torch.rand(1, 3, H, W))
    flat = dict(flatten_state(state)[0])  # as the features engine returns it: {tensor name: tensor}
    assert tbk.state_hw(flat) == (H, W) and tbk.state_hw(state) == (H, W)


def test_film_stage_graph_names_are_what_the_trt_backend_feeds(film_graphs, film_states):
    assert set(film_graphs) == set(tbk.STAGES)
    feats, flow, fusion = (film_graphs[s] for s in tbk.STAGES)
    state_names, pair_names = film_states
    assert _inputs(feats) == ["img"]
    assert set(_outputs(feats)) == set(state_names)
    assert set(_outputs(flow)) == set(pair_names) and all(n.startswith("flow_") for n in pair_names)
    assert _outputs(fusion) == ["image"]
    # the feeds the backend assembles (TrtInterpolator._flow / _fusion) cover every input exactly
    s = {n: n for n in state_names}
    flow_feeds = prefixed_feeds(_inputs(flow), s, s, tbk.FRAME_PREFIXES)
    assert set(flow_feeds) == set(_inputs(flow))
    fusion_feeds = prefixed_feeds(_inputs(fusion), s, s, tbk.FRAME_PREFIXES)
    fusion_feeds |= {n: n for n in _inputs(fusion) if n in pair_names} | {"t": "t"}
    assert set(fusion_feeds) == set(_inputs(fusion))
    # TrtEngine.covers()/describe_profiles() read the FIRST input as the full-resolution frame
    for proto in film_graphs.values():
        _, dims, _ = tb.graph_inputs(proto)[0]
        assert dims[0] == "N" and dims[2] in ("H", "H_0") and dims[3] in ("W", "W_0"), dims


def test_builder_resolves_every_stage_input_to_the_real_tensor_shapes(film_graphs, film_states):
    state, pairs = film_states
    spec = tb.ProfileSpec((N, H, W), (N, H, W), (N, H, W))
    want = {"img": (N, 3, H, W), "t": (N,)} | pairs
    want |= {p + n: shape for p in FRAME_PREFIXES for n, shape in state.items()}
    for stage, proto in film_graphs.items():
        shapes = tb.input_shapes(proto, spec)
        assert set(shapes) == set(_inputs(proto))
        for name, (mn, opt, mx) in shapes.items():
            assert mn == opt == mx == want[name], (stage, name)
    # and over a real profile span (batch 1..4, 720p..1080p padded): every pyramid level scales
    span = tb.ProfileSpec.from_sizes([(1080, 1920), (720, 1280)], (1, 2, 4))
    for proto in film_graphs.values():
        dims = {name: d for name, d, _ in tb.graph_inputs(proto)}
        for name, (mn, _, mx) in tb.input_shapes(proto, span).items():
            assert mn[0] == 1 and mx[0] == 4, name
            if len(mn) == 4:
                k = 0 if dims[name][2] == "H" else int(dims[name][2].split("_")[1])
                assert (mn[2], mn[3], mx[2], mx[3]) == (768 >> k, 1280 >> k, 1088 >> k, 1920 >> k), name


def test_rife_plugin_graph_matches_the_whole_model_feeds(rife_graph):
    assert _inputs(rife_graph) == ["img0", "img1", "t"] and _outputs(rife_graph) == ["image"]
    shapes = tb.input_shapes(rife_graph, tb.ProfileSpec.from_sizes([(1080, 1920)], (1, 2, 4)))
    assert shapes["img0"] == ((1, 3, 1088, 1920), (2, 3, 1088, 1920), (4, 3, 1088, 1920))
    assert shapes["t"] == ((1,), (2,), (4,))
    assert tb.graph_is_fp16(rife_graph)


def test_plugin_nodes_are_what_the_builder_accepts(film_graphs, rife_graph):
    assert len(tb.check_plugin_graph(rife_graph, require_plugin=True)) > 0
    assert tb.check_plugin_graph(film_graphs["features"]) == []  # no warp in the feature pyramid
    for stage in ("flow", "fusion"):
        nodes = tb.check_plugin_graph(film_graphs[stage], require_plugin=True)
        assert nodes and all(n["plugin_namespace"] == "filmrt" for n in nodes)


def test_metadata_and_file_names_the_trt_backend_reads(film_graphs, rife_graph, tmp_path):
    meta = read_metadata(rife_graph)
    assert meta["model"] == "rife-4.25" and meta["pad_align"] == get_spec("rife-4.25").pad_align == "end"
    assert meta["stage"] == "model" and meta["precision"] == "fp16"
    out = tmp_path / "film.onnx"
    for stage, proto in film_graphs.items():
        meta = read_metadata(proto)
        assert meta["model"] == "film" and meta["pad_align"] == "center" and meta["stage"] == stage
        save_model(proto, stage_path(out, stage))  # what export_onnx(..., stages=True) writes
    assert tb.stage_files(out) == {s: stage_path(out, s) for s in tbk.STAGES}
    assert all(tb.engine_stage_path(tmp_path / "film.engine", s).name == f"film.{s}.engine" for s in tbk.STAGES)

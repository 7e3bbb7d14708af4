"""``filmrt bench``: a tiny run end to end, and the pieces it is built from.

The tiny run (blend plus the smallest real model at 64x64 and 128x128, one or two repeats, a
few frames of a small clip end to end) checks the structure and the sanity of the result:
positive timings, interpolations/s consistent with the timings, FLOP counts proportional to the
padded pixel count, files written where asked. Speed itself is the benchmark's business, not a test's.
"""

from __future__ import annotations

import dataclasses
import json
import time

import pytest
import torch

from filmrt.bench import SCHEMA
from filmrt.bench.cli import settings_from_args
from filmrt.bench.driver import run_bench
from filmrt.bench.film_stages import reuse_saving, stage_times
from filmrt.bench.flops import film_stage_flops, model_flops
from filmrt.bench.report import check_targets, result_paths, write_results
from filmrt.bench.settings import BenchSettings
from filmrt.bench.timing import measure
from filmrt.cli.main import build_parser
from filmrt.errors import FilmrtError
from filmrt.sizes import parse_size


def _available(name: str) -> bool:
    from filmrt.models import get_spec

    try:
        get_spec(name)
    except Exception:  # noqa: BLE001 - model not in this checkout yet
        return False
    return True


def _real_models() -> list[str]:
    """The cheapest real models in this checkout (RIFE first; FILM runs with random weights)."""
    return [m for m in ("rife-4.25", "film") if _available(m)]


def test_parse_size():
    """bench's sizes are filmrt.sizes': labels as written, WxH = width x height, tensors (H, W)."""
    assert (str(parse_size("1080p")), parse_size("1080p").hw) == ("1080p", (1080, 1920))
    assert (str(parse_size("1280x720")), parse_size("1280x720").hw) == ("1280x720", (720, 1280))
    assert (str(parse_size("64")), parse_size("64").hw) == ("64x64", (64, 64))
    with pytest.raises(FilmrtError):
        parse_size("huge")
    with pytest.raises(FilmrtError):
        BenchSettings(sizes=["huge"])


def _bench_args(*argv: str):
    return build_parser().parse_args(["bench", *argv])


def test_bench_cli_defaults_are_the_settings_defaults():
    """Every default is written once, in BenchSettings: the CLI adds nothing of its own."""
    s = settings_from_args(_bench_args())
    assert dataclasses.replace(s, command="") == BenchSettings()
    s = settings_from_args(_bench_args("--batch", "1,8", "--budget", "3", "--factor", "3", "--no-e2e",
                                       "--models", "blend, rife-4.25", "--quick", "--t", "0.5"))
    assert (s.batches, s.budget_s, s.rate_factor, s.e2e, s.models, s.quick, s.t) == (
        [1, 8], 3.0, 3, False, ["blend", "rife-4.25"], True, 0.5)
    assert s.stages and s.model_only  # sections not named stay on


def test_bench_sizes_are_width_by_height(tmp_path):
    """`bench --sizes 1280x720` means 1280 wide, 720 high, as everywhere else; the frames the
    model-only run makes have that shape."""
    s = settings_from_args(_bench_args("--sizes", "1280x720"))
    assert [z.hw for z in s.size_list()] == [(720, 1280)]
    s = settings_from_args(_bench_args("--sizes", "96x64", "--models", "blend", "--backends", "torch", "--quiet",
                                       "--repeats", "1", "--budget", "1", "--no-matmul", "--no-flops",
                                       "--no-stages", "--no-e2e"))
    (row,) = run_bench(s)["model_only"]
    assert row["size"] == "96x64" and row["hw"] == [64, 96]


def test_measure_counts_and_budget():
    calls = []
    tm = measure(lambda: calls.append(time.sleep(0.01)), "cpu", warmup=2, repeats=3, budget_s=10, min_time_s=0)
    assert tm["n"] == 3 and len(calls) == 5 and tm["warm"]
    assert 5 <= tm["min_ms"] <= tm["median_ms"] <= tm["max_ms"]
    # a warm-up call longer than the budget is the only sample, flagged as not warm
    tm = measure(lambda: time.sleep(0.05), "cpu", warmup=1, repeats=5, budget_s=0.01)
    assert tm["n"] == 1 and not tm["warm"] and tm["median_ms"] >= 40


def test_reuse_saving_follows_the_stage_costs():
    f, p, d = 30.0, 50.0, 20.0
    whole = 2 * f + p + d
    x2, x4 = reuse_saving(f, p, d, whole, 2), reuse_saving(f, p, d, whole, 4)
    assert x2["staged_ms_per_input_frame"] == f + p + d
    assert x4["naive_ms_per_input_frame"] == 3 * whole
    assert 0 < x2["saving"] < x4["saving"] < 1


class _Staged(torch.nn.Module):
    """A toy model with the staged protocol: one conv per stage."""

    pad_multiple = 1

    def __init__(self):
        super().__init__()
        self.f, self.p, self.d = (torch.nn.Conv2d(c, 4, 3, padding=1) for c in (3, 8, 12))

    def encode_frame(self, x):
        return self.f(x)

    def encode_pair(self, s0, s1):
        return self.p(torch.cat([s0, s1], 1))

    def decode(self, s0, s1, pair, t):
        return self.d(torch.cat([s0, s1, pair], 1))[:, :3]

    def forward(self, a, b, t):
        s0, s1 = self.encode_frame(a), self.encode_frame(b)
        return self.decode(s0, s1, self.encode_pair(s0, s1), t)


def test_stage_flops_and_times_on_a_toy_model():
    net = _Staged()
    fl = film_stage_flops(net, 16, 16)
    # 2 FLOPs per MAC, 9 taps, 16x16 pixels, 4 output channels
    assert fl == {"features": 2 * 9 * 3 * 4 * 256, "flow": 2 * 9 * 8 * 4 * 256, "fusion": 2 * 9 * 12 * 4 * 256}
    whole = model_flops(net, 16, 16)
    assert whole["flops"] == 2 * fl["features"] + fl["flow"] + fl["fusion"]
    a = torch.rand(1, 3, 16, 16)
    times = stage_times(net, a, a, torch.full((1,), 0.5), torch.device("cpu"), warmup=1, repeats=2, budget_s=5)
    assert all(t["median_ms"] > 0 and t["n"] >= 1 for t in times)


def test_result_paths_auto_names_by_date_and_machine(tmp_path):
    res = {"created_utc": "2026-11-22T05:00:00+00:00", "machine": {"cpu_count": 2, "cpu_affinity": 2, "gpu": None},
           "settings": {"quick": False}}
    jp, mp = result_paths(str(tmp_path / "auto"), res)
    assert jp == tmp_path / "2026-11-22-cpu-2core.json" and mp == tmp_path / "2026-11-22-cpu-2core.md"
    res["machine"]["gpu"] = {"name": "NVIDIA H100 80GB HBM3"}
    assert result_paths(str(tmp_path / "auto"), res)[0].name == "2026-11-22-nvidia-h100-80gb-hbm3.json"
    assert result_paths(str(tmp_path / "x.json"), res)[0] == tmp_path / "x.json"


def test_tiny_bench_run(tmp_path, shared):
    models = ["blend", *_real_models()[:1]]
    clip = shared / "data" / "clips" / "bikes_640x272_25.mp4"
    s = BenchSettings(
        models=models, backends=["torch"], sizes=["64x64", "128x128"], batches=[1], repeats=2, warmup=1,
        budget_s=5, quick=True, clip=str(clip), t=0.25, e2e_models=["blend"],
        quiet=True,
        command="pytest tiny bench",
    )
    res = run_bench(s)
    jp, mp = write_results(res, str(tmp_path / "auto"))
    doc = json.loads(jp.read_text())  # plain JSON, round-trips
    assert doc["schema"] == SCHEMA and doc["command"] == "pytest tiny bench"
    assert doc["versions"]["torch"] == torch.__version__ and doc["machine"]["cpu_count"] >= 1
    assert doc["git"]["commit"] is None or len(doc["git"]["commit"]) == 40
    assert mp.read_text().startswith("# filmrt bench")

    # matmul peak: positive and plausible for a CPU (between 1 GFLOP/s and 100 TFLOP/s)
    assert doc["matmul_peak"] and all(1e-3 < r["tflops"] < 100 for r in doc["matmul_peak"])

    # model only: every model x size present, positive timings, interp/s consistent with them
    cells = {(r["model"], r["size"]) for r in doc["model_only"]}
    assert cells == {(m, z) for m in models for z in ("64x64", "128x128")}, doc["skipped"]
    for r in doc["model_only"]:
        tm = r["timing"]
        assert 0 < tm["min_ms"] <= tm["median_ms"] <= tm["max_ms"] and tm["n"] >= 1
        assert r["interp_per_s"] == pytest.approx(r["batch"] * 1e3 / r["ms_per_call"])

    # FLOPs: blend has no conv/matmul; a real model's count is proportional to its padded pixels
    fl = {(r["model"], r["size"]): r for r in doc["flops"]}
    assert fl[("blend", "64x64")]["flops"] == 0
    for m in models[1:]:
        small, big = fl[(m, "64x64")], fl[(m, "128x128")]
        assert small["flops"] > 0 and big["flops"] == pytest.approx(4 * small["flops"], rel=1e-6)
        row = next(r for r in doc["model_only"] if r["model"] == m and r["size"] == "128x128")
        assert row["achieved_tflops"] == pytest.approx(big["flops"] / (row["ms_per_call"] * 1e-3) / 1e12)
        assert 0 < row["fraction_of_matmul_peak"]

    # end to end: convert with blend in a child process
    (row,) = doc["end_to_end"]
    assert row["model"] == "blend" and row["wall_s"] > 0 and row["peak_host_mib"] > 0
    assert row["out_frames"] > row["result"]["frames_in"] > 0
    sp = row["split"]  # measured inside the run: model calls vs the rest, per output frame
    assert 0 < sp["model_s"] < sp["seconds"] and sp["outside_model_s"] == pytest.approx(sp["seconds"] - sp["model_s"])
    assert sp["decode_cpu_s"] > 0 and "decoder 1" in sp["threads"]
    assert "measured inside each run" in mp.read_text()
    assert "peers" not in doc  # quality and speed against the peers: filmrt bench --peers
    assert doc["load_average_start"] is None or len(doc["load_average_start"]) == 3


def test_cpu_targets_from_the_figures():
    """The CPU targets are checked from the rows of one run: OpenVINO/torch model-only and the share
    outside the model (the speed against minterpolate is --peers' target)."""
    mo = [{"model": "rife-4.25", "backend": b, "precision": "fp32", "size": "720p", "batch": 1, "interp_per_s": v}
          for b, v in (("torch", 0.5), ("openvino", 1.1))]
    e2e = [{"model": "rife-4.25", "backend": "openvino", "wall_s": 40.0, "s_per_interpolated_frame": 1.6,
            "result": {"backend": "openvino"}, "split": {"outside_model_fraction": 0.1}}]
    res = {"settings": {"device": "cpu"}, "model_only": mo, "end_to_end": e2e}
    got = {t["target"].split(":")[0].split(" >=")[0]: t for t in check_targets(res)}
    assert got["convert with rife-4.25 (openvino)"]["met"]  # 10% outside the model
    assert len(got) == 2
    ov = next(t for t in check_targets(res) if "OpenVINO" in t["target"])
    assert ov["value"] == pytest.approx(2.2) and ov["met"]

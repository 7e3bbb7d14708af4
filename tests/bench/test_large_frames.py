"""bench/large_frames.py: a cheap case, a per-call one (make bench-torch-cpu), records complete and written."""

import json

from filmrt.bench import large_frames


def test_a_case_records_memory_time_and_tiles_and_the_tables_are_written(tmp_path):
    spec = {"name": "t", "model": "blend", "height": 96, "width": 130, "max_memory": "1G", "save": str(tmp_path / "a.pt")}
    rec = large_frames.case(spec)
    assert rec["tiles"] == 1 and rec["peak_rss_mb"] > 0 and rec["sys_s"] >= 0 and "psnr_gt" not in rec
    spec.update(save=None, compare=str(tmp_path / "a.pt"))
    assert large_frames.case(spec)["max_abs_diff_vs_other"] == 0.0
    pp = [{"case": "perpixel-512", "peak_rss_mb": 100}, {"case": "perpixel-1024", "peak_rss_mb": 400}]
    large_frames._write([*pp, rec], str(tmp_path / "out"))
    doc = json.loads((tmp_path / "out.json").read_text())
    assert doc["summary"]["bytes_per_pixel"] == round(300 * 2**20 / (1024 * 1024 - 512 * 512))
    assert "| t | 96 | 130 |" in (tmp_path / "out.md").read_text()


def test_per_call_figures_after_a_warm_up_call():
    rec = large_frames.case({"name": "calls", "model": "blend", "height": 64, "width": 64, "calls": 3})
    assert rec["calls"] == 3 and rec["minor_faults"] >= 0 and rec["threads"] >= 1 and len(rec["ctx_switches"]) == 2

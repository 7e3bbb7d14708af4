"""The bundled sample clip and `python -m filmrt.pipeline.demo`."""

from __future__ import annotations

from filmrt.pipeline import demo
from filmrt.pipeline.io.probe import probe


def test_sample_is_small_and_documented():
    p = demo.find_sample()
    assert p.stat().st_size < 1_000_000
    v = probe(p).video
    assert (v.width, v.height, v.rate, v.packets) == (480, 270, 25, 60)
    note = (p.parent / "SOURCE.md").read_text()
    assert "CC0" in note and p.name in note


def test_demo_runs(tmp_path, capsys):
    out = tmp_path / "demo.mp4"
    assert demo.main(["--model", "blend", "--out", str(out), "--quiet"]) == 0
    text = capsys.readouterr().out
    assert str(out) in text and " s (" in text
    assert probe(out).video.packets == 120
    # the progressive sample is not mistaken for interlaced: 60 source frames, every other one new
    assert "60 frames at 25 fps -> 120 frames at 50 fps (59 interpolated" in text

"""``filmrt live`` used as a user would (the second attack, tools in gen.py/feeder.py/ana.py): runs
that ended with exit 0 while the output broke a promise of docs/live.md. Each passes now."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from fractions import Fraction

import av
from support.live import AUDIO_RATE, _send_audio, picture, read_output

from filmrt.pipeline.live.source import Pacer


def write_segment(path, seconds: float, start: float, fps: int = 25, size=(160, 90)) -> bytes:
    """An MPEG-TS file whose pictures (and MP2 sound) start at ``start`` s; returns its bytes."""
    w, h = size
    with av.open(str(path), "w", format="mpegts") as c:
        vs = c.add_stream("libx264", rate=fps)
        vs.width, vs.height, vs.pix_fmt = w, h, "yuv420p"
        vs.codec_context.options = {"preset": "ultrafast", "g": str(fps // 2)}
        a = c.add_stream("mp2", rate=AUDIO_RATE)
        a.layout = "stereo"
        sample = 0
        for i in range(int(seconds * fps)):
            sample = _send_audio(c, a, sample, (i + 1) * AUDIO_RATE // fps, start)
            f = av.VideoFrame.from_ndarray(picture(i, w, h, fps, False), format="rgb24").reformat(format="yuv420p")
            f.pts, f.time_base = i + round(start * fps), Fraction(1, fps)
            for p in vs.encode(f):
                c.mux(p)
        for p in vs.encode():
            c.mux(p)
    return path.read_bytes()


def _live(*args: str, timeout: float = 90) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "filmrt", "live", *args, "--model", "blend", "--quiet"],
                          capture_output=True, text=True, timeout=timeout)


# ---------------------------------------------------------------- 1: a forward PTS jump in a file
def test_a_paced_input_does_not_wait_out_a_jump():
    p = Pacer(1.0)
    assert p.wait(Fraction(10), 100.0) == 0.0
    assert abs(p.wait(Fraction(10.04), 100.0) - 0.04) < 1e-9  # paced as it was
    assert p.wait(Fraction(20), 100.05) == 0.0  # +10 s: a discontinuity, delivered at once
    assert abs(p.wait(Fraction(20.04), 100.05) - 0.04) < 1e-9  # and paced from there
    assert p.wait(Fraction(5), 100.1) == 0.0  # backwards: paced again from there, not read flat out
    assert abs(p.wait(Fraction(5.04), 100.1) - 0.04) < 1e-9
    assert abs(p.wait(Fraction(5.5), 100.1) - 0.5) < 1e-9  # a gap within the bound is the stream's own
    assert [round(d, 2) for _, d in p.jumps] == [9.96, -15.04]


def test_a_forward_pts_jump_in_a_file_resyncs_instead_of_playing_a_hole(tmp_path):
    """Two recordings concatenated, the second starting 10 s later in PTS: the run played the hole
    in real time (frozen picture, then black and silence for 10 s), with no re-sync and no note."""
    src = tmp_path / "jump.ts"
    src.write_bytes(write_segment(tmp_path / "a.ts", 2, 10) + write_segment(tmp_path / "b.ts", 2, 22))
    out, report = tmp_path / "out.ts", tmp_path / "r.json"
    t0 = time.monotonic()
    p = _live(str(src), str(out), "--fps", "50", "--json", str(report))
    wall = time.monotonic() - t0
    assert p.returncode == 0, p.stderr[-400:]
    r = json.loads(report.read_text())
    assert r["input"]["resyncs"] >= 1 and any("jumped" in n for n in r["notes"]), r["notes"]
    assert 190 <= r["stats"]["frames_out"] <= 215, r["stats"]["frames_out"]  # 4 s, not 14
    assert r["stats"]["slate_frames"] == 0 and wall < 12
    seen = read_output(out)
    assert len(seen["flashes"]) == 4  # a flash a second from both recordings

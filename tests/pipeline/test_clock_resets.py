"""Clock resets in the input (issue 20, residuals): MPEG-TS recordings joined byte for byte, the
second's clock starting again (back by more than 1 s) or jumping forward.

filmrt's clock places a new part after the part before (FrameClock rule 6) and moves the copied
streams alike; verification read the source's raw timestamps and called the right output wrong
(exit 4: "video duration 4 s in OUT, the source's 2 s"). Now it reads the source with the same rule,
and still reports a real loss. Every output here is decoded back; the FFmpeg oracle only writes the
parts (FFmpeg 6.0 crashes reading MPEG-TS: TS is read with PyAV)."""

from __future__ import annotations

from fractions import Fraction

import av
import numpy as np
import pytest
import torch
from support.ffmpeg_oracle import ffmpeg

from filmrt.cli.main import main
from filmrt.options import RuntimeOptions
from filmrt.pipeline.convert import convert
from filmrt.pipeline.io.verify import verify_pair
from filmrt.pipeline.options import ConvertOptions, EncodeOptions
from filmrt.pipeline.score import score_output
from filmrt.pipeline.time.timestamps import FrameClock

F = Fraction
#: one AAC packet at 48 kHz, s (a part's sound: its priming, then rounded up to whole packets)
AAC = 1024 / 48000


def _part(path, offset: float, seconds: float) -> bytes:
    """A TS recording: H.264 25 fps (B-frames) + AAC, its clock starting at ``offset`` s."""
    ffmpeg("-y", "-f", "lavfi", "-i", f"testsrc2=s=64x48:r=25:d={seconds}", "-f", "lavfi", "-i",
           f"sine=f=440:r=48000:d={seconds}", "-c:v", "libx264", "-preset", "ultrafast", "-bf", "2",
           "-pix_fmt", "yuv420p", "-c:a", "aac", "-output_ts_offset", str(offset), "-f", "mpegts", str(path))
    return path.read_bytes()


@pytest.fixture(scope="module")
def joined(tmp_path_factory):
    """back.ts: 2 s + 2 s, both clocks from 10 s (a reset back by 2 s); three.ts: 2 s from 10 s, 3 s
    from 5 s (back 7 s), 2 s from 10 s (2 s forward of the part before's end: a gap); fwd.ts: 2 s from
    10 s, 2 s from 30 s (a jump forward of 18 s)."""
    d = tmp_path_factory.mktemp("resets")
    a, b = _part(d / "a.ts", 10, 2), _part(d / "b.ts", 5, 3)
    c = _part(d / "c.ts", 30, 2)
    files = {"back": a + a, "three": a + b + a, "fwd": a + c}
    for name, data in files.items():
        (d / f"{name}.ts").write_bytes(data)
    return d


def _opts(**kw) -> ConvertOptions:
    return ConvertOptions(fps="50", dedup="off", runtime=RuntimeOptions(model="blend"),
                          encode=EncodeOptions(preset="ultrafast"), **kw)


def _read(path):
    """(video times, audio (start, end) spans of contiguous packets) decoded back."""
    with av.open(str(path)) as c:
        v, a = c.streams.video[0], c.streams.audio[0]
        times = sorted(f.time for f in c.decode(v))
        c.seek(0)
        spans: list[list[float]] = []
        for p in c.demux(a):
            if p.pts is None or not p.size:
                continue
            t0, t1 = float(p.pts * a.time_base), float((p.pts + p.duration) * a.time_base)
            if spans and abs(t0 - spans[-1][1]) < 0.01:
                spans[-1][1] = t1
            else:
                spans.append([t0, t1])
    return times, spans


@pytest.mark.parametrize("ext", ["mkv", "mp4", "ts"])
def test_a_reset_back_converts_and_verifies(joined, tmp_path, ext):
    """Two 2 s parts on one clock: 4 s out, every picture and the sound of both parts in order; the
    check passes (it failed with exit 4 before) and the report says what the clock did."""
    out = tmp_path / f"out.{ext}"
    res = convert(str(joined / "back.ts"), str(out), _opts())
    assert res.verify["status"] == "ok" and not res.verify["differences"]
    assert any("reset" in n for n in res.verify["notes"])
    assert res.frames_out == 200 and res.timestamps["resets"] == 1 and res.timestamps["rebased"] == 50
    assert res.timestamps["repeated"] == 0
    times, spans = _read(out)
    assert len(times) == 200
    assert all(abs((y - x) - 0.02) < 0.002 for x, y in zip(times, times[1:], strict=False))  # no gap, no overlap
    # the sound of both parts, each with its encoder's priming and rounded up to whole AAC packets
    assert len(spans) == 1 and 0 <= spans[0][1] - spans[0][0] - 4.0 <= 4 * AAC
    assert abs(spans[0][0] - times[0]) < 0.05  # in sync at the start, so at the join too (contiguous)


def test_a_reset_then_a_jump_forward_keeps_the_gap_in_the_pictures_and_the_sound(joined, tmp_path):
    """2 s, then 3 s from 7 s earlier (a reset), then 2 s from 2 s after that part's end: the clock
    moved the third part as the first reset said, so the pictures kept its 2 s gap while the copied
    sound did (A/V 2 s apart, verification failed on the pictures). Now both: 9 s, in sync."""
    out = tmp_path / "out.mkv"
    res = convert(str(joined / "three.ts"), str(out), _opts())
    assert res.verify["status"] == "ok" and res.frames_out == 450
    times, spans = _read(out)
    assert len(times) == 450 and abs(times[-1] - times[0] - 8.98) < 0.002
    assert [round(b - a, 1) for a, b in spans] == [5.0, 2.0]  # the two first parts, then the third
    assert abs(spans[1][0] - spans[0][1] - 2.0) < 0.05 and abs(spans[1][1] - (times[-1] + 0.02)) < 0.05


def test_a_jump_forward_is_a_gap(joined, tmp_path):
    out = tmp_path / "out.ts"
    res = convert(str(joined / "fwd.ts"), str(out), _opts())
    assert res.verify["status"] == "ok" and res.timestamps["resets"] == 0 and res.frames_out == 1100
    _times, spans = _read(out)
    assert len(spans) == 2 and abs(spans[1][0] - spans[0][1] - 18.0) < 0.05


def test_ss_t_across_a_reset_cuts_the_sound_where_the_pictures(joined, tmp_path):
    """--ss 1 --t 3 over the join: 1 s of the first part, 2 s of the second, pictures and sound (the
    copied packets were cut on their raw times: 1 s of sound missing, exit 4)."""
    out = tmp_path / "out.mkv"
    res = convert(str(joined / "back.ts"), str(out), _opts(ss=1.0, t=3.0))
    # 75 source pictures: 149 at 50 fps (a range ends on its last picture, as without a reset)
    assert res.verify["status"] == "ok" and res.frames_in == 75 and res.frames_out == 149
    times, spans = _read(out)
    assert len(times) == 149 and len(spans) == 1 and abs(spans[0][1] - spans[0][0] - 3.0) <= 2 * AAC


def test_verify_still_reports_a_lost_stretch(joined, tmp_path):
    """The same check without a plan: the right output passes; the output cut at 3 s (the last second
    of the second part lost) is reported (frames, duration of the pictures and the sound)."""
    out, cut = tmp_path / "out.mkv", tmp_path / "cut.mkv"
    convert(str(joined / "back.ts"), str(out), _opts())
    assert verify_pair(joined / "back.ts", out).ok
    ffmpeg("-y", "-i", str(out), "-t", "3", "-c", "copy", str(cut))
    rep = verify_pair(joined / "back.ts", cut)
    assert not rep.ok
    assert any(d.startswith("video duration") for d in rep.differences)
    assert any(d.startswith("stream #1 audio: lasts") for d in rep.differences)


def test_the_cli_and_the_json_say_a_reset_not_a_repeated_timestamp(joined, tmp_path, capsys):
    out, js = tmp_path / "out.mkv", tmp_path / "r.json"
    assert main(["convert", str(joined / "back.ts"), str(out), "--fps", "50", "--model", "blend", "--dedup", "off",
                 "--json", str(js)]) == 0
    err = capsys.readouterr().err
    assert "repeated timestamp" not in err and "back by more than 1 s once (a clock reset" in err
    import json

    said = json.loads(js.read_text())["timestamps"]
    assert (said["resets"], said["rebased"], said["repeated"]) == (1, 50, 0)
    assert said["notes"][0] in err


def test_score_says_the_reset_of_a_file_it_decoded(joined, tmp_path):
    out = tmp_path / "out.mkv"
    convert(str(joined / "back.ts"), str(out), _opts())
    rep = score_output(str(joined / "back.ts"), str(out), every=None)
    assert any(n.startswith("REF: the timestamps go back by more than 1 s once") for n in rep["notes"])
    assert not any(n.startswith("CAND:") for n in rep["notes"])


def test_the_clock_keeps_a_new_parts_own_timing():
    """Rule 6 on labels: 0..9, then from 0 again (a reset) with a gap of 3 frames: the second part
    follows the first by one frame and keeps its gap; nothing counted as repeated."""
    clock: FrameClock[int] = FrameClock(F(1, 25), F(1, 25))
    labels = list(range(50)) + list(range(10)) + list(range(13, 20))
    out = [t for i, p in enumerate(labels) for _, t in clock.push(i, p, p, 1)] + [t for _, t in clock.flush()]
    want = [F(k, 25) for k in range(60)] + [F(k, 25) for k in range(63, 70)]
    assert out == want and (clock.resets, clock.rebased, clock.repaired, clock.overlapped) == (1, 17, 0, 0)


# ------------------------------------------------------------------ a gap (rule 7)
def _gapped(path, cut: tuple[float, float]) -> list[float]:
    """A TS (H.264 with B-frames, 25 fps, 4 s) whose packets with a decode time in ``cut`` are
    lost (a transmission gap); returns the labels of every picture a decoder gets out of it."""
    with av.open(str(path), "w", format="mpegts") as o:
        s = o.add_stream("libx264", rate=25)
        s.width, s.height, s.pix_fmt = 64, 48, "yuv420p"
        s.codec_context.options = {"preset": "veryfast", "bf": "3", "g": "25"}
        pkts = []
        for k in range(100):
            f = av.VideoFrame.from_ndarray(np.full((48, 64, 3), 40 + 2 * k, np.uint8), format="rgb24")
            f.pts = k
            pkts += s.encode(f)
        pkts += s.encode(None)
        start = float(pkts[0].dts * pkts[0].time_base)
        for p in pkts:
            if not cut[0] <= float(p.dts * p.time_base) - start < cut[1]:
                o.mux(p)
    with av.open(str(path)) as c:
        return [float(f.pts * f.time_base) for f in c.decode(video=0)]


def test_pictures_held_across_a_gap_keep_their_own_times(tmp_path):
    """The decoder hands the last pictures before a gap out among the first ones after it (labels
    0.88, 2.48, 0.92, 2.52 ...): each goes out at its own time, none is dropped and nothing after
    the gap moves (rule 7; the first straggler was dropped as an overlap, and with a gap over 1 s
    the next counted as a clock reset that moved every later picture on by the gap)."""
    src = tmp_path / "gap.ts"
    labels = _gapped(src, (0.8, 2.4))
    assert any(b < a for a, b in zip(labels, labels[1:], strict=False))  # the decoder really interleaves them
    from filmrt.pipeline.io.decode import PyAVSource, open_input  # noqa: PLC0415
    from filmrt.pipeline.io.source import DecodeRequest  # noqa: PLC0415

    source = PyAVSource(open_input(str(src)), DecodeRequest(streams=frozenset()), device=torch.device("cpu"), threads=1)
    times = [float(f.ts) for f in source.frames()]
    assert times == sorted(labels), (times, labels)  # every picture, at its own label, in order
    out = tmp_path / "out.mkv"
    res = convert(str(src), str(out), _opts())
    with av.open(str(out)) as c:
        end = max(float(f.time) for f in c.decode(video=0))
    assert res.frames_out >= 2 * len(labels) - 2 and end < max(labels) + 0.1  # not moved on by the gap

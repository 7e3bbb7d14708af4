"""MPEG-PS output (.mpg, .vob) with H.264 video (issue 20, residuals).

FFmpeg's MPEG-PS muxer stamps only the first picture of each PES packet. With x264's B-frames (its
default) 57 of 100 pictures came without any time and nothing said when they show: ffprobe gave 19
of them no time, filmrt's own decoder read 2.06 s of pictures where 2.00 s were written, and the
check failed the run (exit 4) on its duration. Encoded without B-frames, as for MXF, each untimed
picture follows the one before: FFmpeg and filmrt read every picture back in place. Each output is
decoded back here with PyAV, FFmpeg (the test-only oracle) and filmrt's own decoder."""

from __future__ import annotations

from fractions import Fraction as F

import av
import pytest
from support.ffmpeg_oracle import ffmpeg, frame_times

from filmrt.cli.main import main
from filmrt.options import RuntimeOptions
from filmrt.pipeline.convert import convert
from filmrt.pipeline.options import ConvertOptions, EncodeOptions


@pytest.fixture(scope="module")
def source(tmp_path_factory):
    """2 s of H.264 with B-frames (x264 medium) at 25 fps and MP2 sound, in MP4."""
    path = tmp_path_factory.mktemp("ps") / "src.mp4"
    ffmpeg("-f", "lavfi", "-i", "testsrc2=s=320x240:r=25:d=2", "-f", "lavfi", "-i", "sine=f=440:r=48000:d=2",
           "-c:v", "libx264", "-preset", "medium", "-pix_fmt", "yuv420p", "-c:a", "mp2", str(path))
    return path


@pytest.mark.parametrize("ext", ["mpg", "vob"])
def test_h264_in_mpeg_ps_reads_back_with_every_picture_in_place(source, tmp_path, ext):
    out = tmp_path / f"out.{ext}"
    res = convert(str(source), str(out), ConvertOptions(
        fps="50", dedup="off", deinterlace="off", runtime=RuntimeOptions(model="blend"),
        encode=EncodeOptions(codec="libx264", preset="medium")))  # by name: auto writes MPEG-2 into PS
    assert res.verify["status"] == "ok" and res.frames_out == 100
    with av.open(str(out)) as c:
        v = c.streams.video[0]
        assert v.codec_context.name == "h264"
        packets = [p for p in c.demux(v) if p.size]
        # no reordering: where a packet has a time, its pts is its dts
        assert len(packets) == 100 and all(p.pts == p.dts for p in packets if p.pts is not None)
        c.seek(0)
        assert sum(1 for _ in c.decode(video=0)) == 100
    # FFmpeg's reading: every picture, one output frame apart (re-encoded to MP4, whose times it writes)
    back = tmp_path / "back.mp4"
    ffmpeg("-i", str(out), "-an", "-c:v", "libx264", "-preset", "ultrafast", str(back))
    times = frame_times(back)
    assert len(times) == 100 and all(abs(b - a - 0.02) < 1e-3 for a, b in zip(times, times[1:], strict=False))
    # filmrt's own reading (its decoder and its check): the pictures where they were written
    again = convert(str(out), str(tmp_path / "again.mkv"), ConvertOptions(
        fps="50", dedup="off", deinterlace="off", runtime=RuntimeOptions(model="blend")))
    assert again.verify["status"] == "ok" and again.frames_in == again.frames_out == 100


def test_vob_messages_name_vob_not_the_svcd_muxer(tmp_path, capsys):
    """FFmpeg writes .vob with its SVCD muxer (the first whose extensions hold vob; ffmpeg's own pick):
    what the user reads names the container they asked for."""
    from support.media import make_multi_audio

    src = make_multi_audio(tmp_path / "in.mkv", ("flac",), frames=4)
    rc = main(["convert", src, str(tmp_path / "out.vob"), "--fps", "50", "--model", "blend", "--quiet", "--threads", "1"])
    err = capsys.readouterr().err
    assert rc == 2 and "the vob container cannot hold stream #1 audio flac" in err and "svcd" not in err, err
    rc = main(["convert", src, str(tmp_path / "out.vob"), "--fps", "50", "--codec", "ffv1", "--model", "blend", "--quiet"])
    err = capsys.readouterr().err
    assert rc == 2 and "the vob container cannot hold it" in err and "svcd" not in err, err



def test_small_pictures_sharing_a_pes_packet_are_read_in_place(tmp_path):
    """Small pictures (a static scene, or 64x48 here) share one PES packet, and MPEG-PS stamps only
    the first: the others follow it one frame apart, as the decoder times them. Verification read
    them without a time and failed a correct output (exit 4: 'video duration 0.02 s in OUT')."""
    from support.synth import make_clip

    src = make_clip(tmp_path / "in.mkv", width=64, height=48, frames=10)
    out = tmp_path / "out.vob"
    res = convert(src, str(out), ConvertOptions(fps="50", runtime=RuntimeOptions(model="blend", threads=1),
                                                encode=EncodeOptions(codec="libx264")))
    assert res.verify["status"] == "ok" and res.frames_out == 20
    with av.open(str(out)) as c:
        untimed = [p for p in c.demux(video=0) if p.size and p.pts is None]
    assert untimed  # the case: pictures without a time of their own


PATTERNS = ("testsrc", "testsrc2", "rgbtestsrc", "smptehdbars")


@pytest.mark.parametrize("ext", ["mpg", "vob"])
def test_auto_writes_mpeg2_into_mpeg_ps_and_every_conversion_reads_back(tmp_path, ext, capsys):
    """``--codec auto`` into MPEG-PS writes MPEG-2, which readers place by its own picture headers:
    H.264 test patterns into .mpg/.vob read back with one picture on its neighbour's time in 5 of
    32 conversions (x264 medium and fast), refused by the verification (exit 4). Swept over four
    patterns x two sizes x two presets; the choice is said, with how to keep H.264."""
    for pattern in PATTERNS:
        for size in ("320x240", "720x576"):
            src = tmp_path / f"{pattern}-{size}.mp4"
            ffmpeg("-f", "lavfi", "-i", f"{pattern}=size={size}:rate=25:duration=1", "-c:v", "libx264",
                   "-pix_fmt", "yuv420p", str(src))
            for preset in ("medium", "fast"):
                out = tmp_path / f"{pattern}-{size}-{preset}.{ext}"
                rc = main(["convert", str(src), str(out), "--fps", "50", "--model", "blend", "--preset", preset])
                err = capsys.readouterr().err
                assert rc == 0, (pattern, size, preset, err[-600:])
                assert f"{ext if ext == 'vob' else 'mpeg'} holds mpeg2video video: --codec auto writes it" in err
                assert "--codec libx264 keeps H.264" in err
                with av.open(str(out)) as c:
                    v = c.streams.video[0]
                    assert v.codec_context.name == "mpeg2video"
                    times = sorted(f.time for f in c.decode(v))
                assert len(times) == 50 and all(abs(b - a - 0.02) < 1e-3 for a, b in zip(times, times[1:], strict=False))


def test_auto_keeps_h264_in_mpeg_ps_where_mpeg2_cannot_code_the_rate(tmp_path, capsys):
    """MPEG-2 codes its eight rates times n/d (n <= 4, d <= 32): 144 fps is none of them. There
    ``--codec auto`` keeps the source's H.264 (what it wrote before), and MPEG-2 asked by name is
    refused in one line that says why, before anything is decoded."""
    from support.synth import make_clip

    from filmrt.pipeline.io.streams import codes_rate

    assert codes_rate("mpeg2video", F(50)) and codes_rate("mpeg2video", F(120))
    assert codes_rate("mpeg2video", F(60000, 1001)) and not codes_rate("mpeg2video", F(144))
    src = make_clip(tmp_path / "in.mp4", width=64, height=48, frames=10)
    out = tmp_path / "out.mpg"
    assert main(["convert", src, str(out), "--fps", "144", "--model", "blend", "--quiet"]) == 0
    with av.open(str(out)) as c:
        assert c.streams.video[0].codec_context.name == "h264"
    capsys.readouterr()
    rc = main(["convert", src, str(tmp_path / "m.mkv"), "--fps", "144", "--codec", "mpeg2video", "--model", "blend"])
    err = capsys.readouterr().err
    assert rc == 2 and "MPEG-2 cannot code 144 fps" in err and not (tmp_path / "m.mkv").exists(), err


def test_auto_keeps_h264_in_mpeg_ps_where_mpeg2_cannot_keep_the_aspect(tmp_path, capsys):
    """MPEG-2 stores square pixels or a 4:3, 16:9 or 2.21:1 picture, nothing else: a 718x405 picture
    at 8100:6103 came back as 22321:17950 (exit 4 after the whole conversion), at 73:55 the same. There auto keeps
    H.264, whose SAR is exact; PAL 4:3 (720x576 at 16:15) gets MPEG-2."""
    from filmrt.pipeline.io.streams import mpeg2_keeps_sar

    assert all(mpeg2_keeps_sar(w, h, F(s)) for w, h, s in (
        (720, 576, "16/15"), (720, 576, "64/45"), (720, 480, "8/9"), (704, 576, "12/11"), (1440, 1080, "4/3"),
        (1920, 1080, "1"), (720, 576, "0")))
    assert not mpeg2_keeps_sar(718, 405, F(8100, 6103)) and not mpeg2_keeps_sar(640, 480, F(2))
    for size, sar, want in (("718x405", "8100/6103", "h264"), ("720x576", "16/15", "mpeg2video")):
        src = tmp_path / f"in-{size}.mkv"
        ffmpeg("-f", "lavfi", "-i", f"testsrc2=size={size}:rate=25:duration=0.6", "-vf", f"setsar={sar}",
               "-c:v", "ffv1", str(src))
        out = tmp_path / f"out-{size}.mpg"
        assert main(["convert", str(src), str(out), "--fps", "50", "--model", "blend", "--quiet"]) == 0, \
            capsys.readouterr().err
        with av.open(str(src)) as c:
            src_sar = c.streams.video[0].sample_aspect_ratio  # setsar keeps denominators <= 100: 73:55
        with av.open(str(out)) as c:
            v = c.streams.video[0]
            assert v.codec_context.name == want
            assert v.sample_aspect_ratio == src_sar != 1, (size, v.sample_aspect_ratio, src_sar)


@pytest.mark.parametrize("size", ["64x48", "160x120"])
def test_59_94_into_mpeg_ps_reads_back_on_the_grid(tmp_path, size, capsys):
    """At 59.94 fps a frame is 1501.5 ticks of MPEG-PS's 90 kHz clock: a reader infers unstamped
    pictures' times by adding 1501, half a tick short each. Small pictures share PES packets, so
    the times drift by a few ticks within a GOP: the verification refused such outputs (exit 4,
    'a frame at 0.0834 s is off the planned grid (nearest planned 0.0834 s)'); a frame is still
    placed within 1/64 of a frame."""
    src = tmp_path / "in.mkv"
    ffmpeg("-f", "lavfi", "-i", f"testsrc=size={size}:rate=25:duration=2", "-c:v", "ffv1", str(src))
    out = tmp_path / "out.mpg"
    assert main(["convert", str(src), str(out), "--fps", "60000/1001", "--model", "blend", "--quiet"]) == 0, \
        capsys.readouterr().err
    with av.open(str(out)) as c:
        times = sorted(f.time for f in c.decode(video=0))
    step = 1001 / 60000
    assert len(times) == 120 and all(abs(b - a - step) < step / 32 for a, b in zip(times, times[1:], strict=False))


def test_an_mpeg2_source_into_mpeg_ps_gets_no_note_about_h264(tmp_path, capsys):
    """MPEG-2 is the source's own family: auto keeps it, and nothing says the container chose it."""
    src = tmp_path / "in.mpg"
    ffmpeg("-f", "lavfi", "-i", "testsrc2=size=320x240:rate=25:duration=0.6", "-c:v", "mpeg2video", str(src))
    assert main(["convert", str(src), str(tmp_path / "out.vob"), "--fps", "50", "--model", "blend"]) == 0
    err = capsys.readouterr().err
    assert "-> mpeg2video" in err and "--codec auto writes it" not in err, err

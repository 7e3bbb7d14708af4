"""Real-world media (issue 12): timestamps as FFmpeg presents them, every stream the container can
carry kept, refusals up front. All media is made here with PyAV."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from fractions import Fraction as F

import numpy as np
import pytest
from support.helpers import decode_all
from support.media import make_multi_audio, make_swapped_labels
from support.synth import make_clip

from filmrt.cli.main import main
from filmrt.errors import FilmrtError
from filmrt.options import RuntimeOptions
from filmrt.pipeline.convert import convert
from filmrt.pipeline.io.decode import PyAVSource
from filmrt.pipeline.io.probe import probe
from filmrt.pipeline.options import ConvertOptions, EncodeOptions
from filmrt.pipeline.time.timestamps import BestEffort, display_times

pytestmark = pytest.mark.usefixtures("one_thread")
ARGS = ["--model", "blend", "--quiet", "--preset", "ultrafast"]


def fast(fps="50", **enc) -> ConvertOptions:
    return ConvertOptions(fps=fps, runtime=RuntimeOptions(model="blend"),
                          encode=EncodeOptions(preset="ultrafast", **enc))


# ---------------------------------------------------------------------- timestamps
def test_packed_bframe_labels_become_display_times():
    """DivX packed B-frames in AVI: the decoder outputs pictures in display order but labelled
    1,2,3,5,4,6,8,7 (the issue's sequence): every frame kept, times increasing, none repaired."""
    pts = [1, 2, 3, 5, 4, 6, 8, 7, 9, 11, 10, 12]
    assert display_times(pts) == [F(k) for k in range(1, 13)]
    # with the packets' dts (monotonic) beside them: FFmpeg's best-effort switches to dts at the
    # first backward label; the sequence stays one frame apart, nothing dropped
    assert display_times(pts, [p - 1 for p in range(1, 13)]) == [F(k) for k in range(1, 13)]


def square_x(rgb) -> float:
    """Column of the moving yellow square (support.synth.frame_rgb): it moves right every frame."""
    mask = (rgb[0] > 0.7) & (rgb[2] < 0.4)
    return float(mask.float().nonzero()[:, 1].float().mean())


@pytest.mark.parametrize("ext", ["mkv", "mp4"])
def test_swapped_labels_end_to_end(tmp_path, capsys, ext):
    """Pictures in display order labelled 1,2,3,5,4,...: every picture at its own time (no frame
    skipped, no judder), convert exits 0 without "damaged", eval-video scores every frame."""
    clip = make_swapped_labels(tmp_path / f"divx.{ext}", frames=24)
    src = PyAVSource(clip)
    frames = [(f.ts, square_x(f.rgb)) for f in src.frames()]
    src.close()
    assert [t for t, _ in frames] == [F(i + 1, 25) for i in range(24)] and src.problems == []
    xs = [x for _, x in frames]
    assert all(b > a for a, b in zip(xs, xs[1:], strict=False))  # picture i shown at time i
    out = tmp_path / "o.mkv"
    rc = main(["convert", clip, str(out), "--fps", "50", *ARGS])
    assert rc == 0 and "damaged" not in capsys.readouterr().err
    outs = decode_all(out)
    xs = [square_x(rgb) for _, rgb in outs[::2]]  # the copies of the source frames, in time order
    assert len(outs) == 48 and all(b > a for a, b in zip(xs, xs[1:], strict=False))
    from filmrt.pipeline.eval_video import eval_video

    rep = eval_video(clip, RuntimeOptions(model="blend"))
    assert rep["frames_decoded"] == 24 and rep["frames_scored"] == 11


def test_best_effort_is_libavcodecs_rule():
    b = BestEffort()
    assert [b.pick(p, d) for p, d in [(0, None), (2, 0), (1, 1), (3, 2)]] == [0, 2, 1, 3]  # B-frames: pts
    b = BestEffort()
    assert [b.pick(p, d) for p, d in [(1, 0), (3, 1), (2, 2), (4, 3)]] == [1, 3, 2, 3]  # pts failed: dts
    assert BestEffort().pick(None, None) is None


def test_missing_and_repeated_labels_keep_every_frame():
    t = display_times([0, None, None, 3, 3, 5], step=F(1))
    assert t == [0, 1, 2, 3, 4, 5]
    assert all(b > a for a, b in zip(t, t[1:], strict=False))


def test_spliced_labels_keep_the_timeline_and_a_clock_reset_keeps_every_frame():
    """Rule 5: labels that go back over shown pictures and advance again (a splice overlapping the
    part before by 2 or 10 frames) drop the overlapping pictures, so the times stay the source's;
    a jump back of more than OVERLAP_MAX (a clock reset) keeps every frame, placed after."""
    from filmrt.pipeline.time.timestamps import OVERLAP_MAX, FrameClock

    tb = F(1, 25)
    for overlap in (2, 10):
        labels = list(range(40)) + list(range(40 - overlap, 60))
        clock: FrameClock[int] = FrameClock(tb, tb)
        got = [t for i, p in enumerate(labels) for _, t in clock.push(i, p, None)]
        got += [t for _, t in clock.flush()]
        assert got == [F(k, 25) for k in range(60)] and clock.overlapped == overlap
    back = int(OVERLAP_MAX / tb) + 10
    labels = list(range(50)) + list(range(50 - back, 50 - back + 7))
    t = display_times(labels, time_base=tb, step=tb)
    assert t == [F(k, 25) for k in range(57)]


def test_vfr_mkv_is_not_damaged(tmp_path, capsys):
    """A valid VFR mkv (10 frames missing in the middle) converts with exit 0, no 'damaged',
    each picture at its own time; eval-video scores all frames it decodes."""
    clip = make_clip(tmp_path / "vfr.mkv", frames=50, skip=tuple(range(20, 30)))
    src = PyAVSource(clip)
    times = [f.ts for f in src.frames()]
    src.close()
    assert times == [F(i, 25) for i in range(50) if not 20 <= i < 30] and src.problems == []
    out = tmp_path / "o.mkv"
    rc = main(["convert", clip, str(out), "--fps", "50", *ARGS])
    err = capsys.readouterr().err
    assert rc == 0 and "damaged" not in err and "ends early" not in err, err
    assert probe(out).video.frames == 100  # 2 s at 50 fps: the gap is filled, not cut short


def test_truncated_file_is_still_damaged(tmp_path):
    clip = make_clip(tmp_path / "t.mkv", frames=50)
    data = open(clip, "rb").read()
    cut = tmp_path / "cut.mkv"
    cut.write_bytes(data[: len(data) // 2])
    res = convert(cut, tmp_path / "o.mkv", fast())
    assert any("ends early" in p or "could not be decoded" in p or "unreadable" in p for p in res.problems)


# ---------------------------------------------------------------------- streams
@pytest.fixture(scope="module")
def broadcast(tmp_path_factory):
    d = tmp_path_factory.mktemp("media")
    return {"multi": make_multi_audio(d / "multi.mkv", ("aac", "ac3", "eac3", "mp2")),
            "pcm": make_multi_audio(d / "pcm.mkv", ("pcm_s24le",)),
            "ac3": make_multi_audio(d / "ac3.mkv", ("ac3",)),
            "aac": make_multi_audio(d / "aac.mkv", ("aac",))}


@pytest.mark.parametrize("ext", [".ts", ".m2ts"])
def test_ts_keeps_aac_ac3_eac3_mp2(broadcast, tmp_path, ext):
    out = tmp_path / f"o{ext}"
    res = convert(broadcast["multi"], out, fast())
    assert [s.codec for s in probe(out).of_type("audio")] == ["aac", "ac3", "eac3", "mp2"]
    assert res.streams == ["#1 audio aac", "#2 audio ac3", "#3 audio eac3", "#4 audio mp2"]
    assert res.streams_dropped == [] and probe(out).video.frames == 40


def test_mxf_keeps_24bit_pcm(broadcast, tmp_path):
    out = tmp_path / "o.mxf"
    convert(broadcast["pcm"], out, fast())
    assert [s.codec for s in probe(out).of_type("audio")] == ["pcm_s24le"]


@pytest.mark.parametrize("clip, fmt, codecs", [("ac3", "mp4", ["ac3"]),
                                              ("multi", "mpegts", ["aac", "ac3", "eac3", "mp2"])])
def test_pipe_to_stdout_keeps_audio(broadcast, tmp_path, clip, fmt, codecs):
    """Fragmented MP4 on a pipe with AC-3 works (delay_moov); the README's `- --format mpegts`
    keeps AAC, AC-3, E-AC-3 and MP2: the whole file with its audio."""
    r = subprocess.run([sys.executable, "-m", "filmrt.cli.main", "convert", broadcast[clip], "-", "--format", fmt,
                        "--fps", "50", *ARGS], capture_output=True, timeout=120)
    assert r.returncode == 0, r.stderr.decode()
    out = tmp_path / f"piped.{fmt}"
    out.write_bytes(r.stdout)
    p = probe(out)
    assert [s.codec for s in p.of_type("audio")] == codecs and len(decode_all(out)) == 40


def test_stream_the_container_cannot_hold_is_refused_or_dropped(broadcast, tmp_path, capsys):
    out = tmp_path / "o.webm"
    rc = main(["convert", broadcast["aac"], str(out), "--fps", "50", *ARGS])
    err = capsys.readouterr().err
    assert rc == 2 and "#1 audio aac" in err and "--drop-stream 1" in err and len(err.strip().splitlines()) == 1
    assert not out.exists() and not [p for p in os.listdir(tmp_path) if "filmrt-" in p]
    # asked to drop it: WebM with its natural codec (VP9), the stream listed as dropped
    js = tmp_path / "r.json"
    rc = main(["convert", broadcast["aac"], str(out), "--fps", "50", "--drop-stream", "a", "--json", str(js), *ARGS])
    rep = json.loads(js.read_text())
    assert rc == 0 and probe(out).video.codec == "vp9" and [s.type for s in probe(out).streams] == ["video"]
    assert rep["output"]["encoder"] == "libvpx-vp9" and rep["output"]["container"] == "webm"
    assert [(f["index"], f["kind"], f["fate"], f["reason"]) for f in rep["output"]["streams"]] == [
        (0, "video", "reencoded", "encoded as libvpx-vp9"), (1, "audio", "dropped", "left out (--drop-stream)")]


def test_drop_stream_is_validated_up_front():
    with pytest.raises(FilmrtError, match="--drop-stream"):
        EncodeOptions(drop_stream="x")


# ---------------------------------------------------------------------- refused before decoding
@pytest.mark.parametrize("ext", [".wav", ".mp3", ".png", ".jpg", ".gif", ".ogg"])
def test_outputs_that_hold_no_video_are_refused_up_front(tmp_path, capsys, ext, monkeypatch):
    clip = make_clip(tmp_path / "in.mp4", frames=10)
    from filmrt.pipeline.io import decode

    monkeypatch.setattr(decode.PyAVSource, "frames", lambda *a, **k: pytest.fail("decoding started"))
    rc = main(["convert", clip, str(tmp_path / f"o{ext}"), "--fps", "50", *ARGS])
    err = capsys.readouterr().err.strip()
    assert rc == 2 and err.count("\n") == 0 and err.startswith("filmrt: error: ") and "Invalid argument" not in err
    assert sorted(os.listdir(tmp_path)) == ["in.mp4"]


@pytest.mark.parametrize("argv, words", [
    (["--ss", "nan"], "--ss"), (["--t", "inf"], "--t"), (["--ss", "inf"], "--ss"), (["--t", "nan"], "--t"),
    (["--ss", "100"], "past the end"), (["--fps", "1e-9"], "--fps"), (["--weights", "."], "directory"),
    (["--json", "nodir/r.json"], "does not exist"), (["--json", "."], "directory"),
])
def test_bad_values_fail_with_one_line(tmp_path, capsys, monkeypatch, argv, words):
    clip = make_clip(tmp_path / "in.mp4", frames=10)
    monkeypatch.chdir(tmp_path)
    fps = [] if "--fps" in argv else ["--fps", "50"]
    rc = main(["convert", clip, "o.mp4", *fps, *argv, *ARGS])
    err = capsys.readouterr().err.strip()
    assert rc == 2 and err.count("\n") == 0 and words in err, err
    assert sorted(os.listdir(tmp_path)) == ["in.mp4"]


def test_eval_video_json_checked_before_scoring(tmp_path, capsys):
    clip = make_clip(tmp_path / "in.mp4", frames=10)
    for bad in (str(tmp_path / "nodir" / "r.json"), str(tmp_path)):
        rc = main(["eval-video", clip, "--model", "blend", "--quiet", "--json", bad])
        err = capsys.readouterr()
        assert rc == 2 and "--json" in err.err and "PSNR" not in err.out


def test_one_pixel_input_refused_without_writing_0x0(tmp_path, capsys):
    import av

    src = tmp_path / "tiny.mkv"
    with av.open(str(src), "w") as c:
        s = c.add_stream("ffv1", rate=25)
        s.width, s.height, s.pix_fmt = 1, 1, "yuv444p"
        for i in range(3):
            f = av.VideoFrame.from_ndarray(np.zeros((1, 1, 3), np.uint8), format="rgb24").reformat(format="yuv444p")
            f.pts = i
            for p in s.encode(f):
                c.mux(p)
        for p in s.encode(None):
            c.mux(p)
    rc = main(["convert", str(src), str(tmp_path / "o.mp4"), "--fps", "50", *ARGS])
    err = capsys.readouterr().err
    assert rc == 2 and "0x0" not in err and "1x1" in err and err.strip().count("\n") == 0


# ---------------------------------------------------------------------- scene cut into frame 1
def test_cut_into_the_first_frame_is_not_morphed(tmp_path):
    """Black frame 0, picture from frame 1 on: the output frame between them repeats a source
    frame (no two-frame fade-in)."""
    clip = make_multi_audio(tmp_path / "black.mkv", (), frames=10, first=np.zeros((48, 64, 3), np.uint8))
    res = convert(clip, tmp_path / "o.mkv", fast())
    frames = decode_all(tmp_path / "o.mkv")
    lum = [255 * float(rgb.mean()) for _, rgb in frames[:4]]
    assert res.scene_cuts == 1 and lum[0] < 20 and lum[1] < 20 and lum[2] > 80, lum


def test_batch_records_refused_and_dropped_streams(tmp_path):
    """Batch: a stream the container cannot hold fails the file with the reason (not 'done'
    without audio); with --drop-stream the file is done and the report and summary say what was
    left out."""
    import io

    from filmrt.pipeline.batch import run_batch

    src = tmp_path / "in"
    src.mkdir()
    make_multi_audio(src / "a.mkv", ("aac",), frames=10)
    rep = run_batch(src, tmp_path / "out", fast("x2"), workers=0, ext="webm", retries=0, quiet=True,
                    out=io.StringIO(), err=io.StringIO())
    (f,) = rep.files
    assert f.status == "failed" and "#1 audio aac" in f.reason and "--drop-stream" in f.reason
    summary = io.StringIO()
    rep = run_batch(src, tmp_path / "out2", fast("x2", drop_stream="a"), workers=0, ext="webm", quiet=True,
                    out=summary, err=io.StringIO())
    (f,) = rep.files
    assert f.status == "done" and f.streams_dropped == ["#1 audio aac: left out (--drop-stream)"]
    assert "streams left out: #1 audio aac" in summary.getvalue()
    assert rep.to_dict()["files"][0]["output"]["streams"][1]["reason"] == "left out (--drop-stream)"


def test_alpha_is_not_dropped_without_a_word(tmp_path, capsys):
    import av

    src = tmp_path / "alpha.mov"
    with av.open(str(src), "w") as c:
        s = c.add_stream("qtrle", rate=25)
        s.width, s.height, s.pix_fmt = 32, 32, "argb"
        for i in range(4):
            f = av.VideoFrame.from_ndarray(np.full((32, 32, 4), 40 * i, np.uint8), format="argb")
            f.pts = i
            for p in s.encode(f):
                c.mux(p)
        for p in s.encode(None):
            c.mux(p)
    rc = main(["convert", str(src), str(tmp_path / "o.mp4"), "--fps", "50", *ARGS])
    err = capsys.readouterr().err
    # the default (--codec auto) keeps alpha where the container can (.mov); .mp4 cannot: said
    assert rc == 0 and "alpha dropped" in err

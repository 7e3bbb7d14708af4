"""Regressions found by attacking convert/verify/batch with FFmpeg-made broadcast media (attack20b):
each converts or verifies a file as a user would and reads the output back independently."""

from __future__ import annotations

from fractions import Fraction

import av
import pytest
from support.ffmpeg_oracle import ffmpeg

from filmrt.options import RuntimeOptions
from filmrt.pipeline.convert import convert
from filmrt.pipeline.io.verify import verify_pair
from filmrt.pipeline.options import ConvertOptions, EncodeOptions


def _opts(fps: str = "50", **kw) -> ConvertOptions:
    return ConvertOptions(fps=fps, dedup="off", runtime=RuntimeOptions(model="blend"),
                          encode=EncodeOptions(preset="ultrafast"), **kw)


def _source(path, seconds: float = 2.0, gop: int = 250) -> None:
    """H.264 25 fps with B-frames and one long GOP, AAC 48 kHz: a camera/edit file."""
    ffmpeg("-f", "lavfi", "-i", f"testsrc2=s=160x90:r=25:d={seconds}", "-f", "lavfi", "-i",
           f"sine=f=440:r=48000:d={seconds}", "-c:v", "libx264", "-preset", "ultrafast", "-bf", "3",
           "-g", str(gop), "-pix_fmt", "yuv420p", "-c:a", "aac", "-shortest", str(path))


def _times(path) -> tuple[list[Fraction], Fraction, Fraction]:
    """(video frame times, audio start, audio end) decoded back."""
    with av.open(str(path)) as c:
        v = [f.pts * f.time_base for f in c.decode(video=0)]
    with av.open(str(path)) as c:
        a = list(c.decode(audio=0))
    return v, a[0].pts * a[0].time_base, a[-1].pts * a[-1].time_base + Fraction(a[-1].samples, a[-1].sample_rate)


@pytest.mark.parametrize("ext", ["mp4", "mov"])
def test_an_edit_list_cut_by_stream_copy_converts_and_verifies(tmp_path, ext):
    """`ffmpeg -ss 1 -i in -c copy cut.mp4` keeps the packets from the keyframe before 1 s and
    writes an edit list that hides them (flagged discard on reading). Verification counted them in
    the source's span, so a correct conversion of the 1 s shown failed with exit 4 ("video
    duration: 1.0000 s in OUT, the source's 2.0000 s"); a correct remux failed `filmrt verify` too."""
    src, cut, out = tmp_path / "src.mp4", tmp_path / f"cut.{ext}", tmp_path / f"out.{ext}"
    _source(src)
    ffmpeg("-ss", "1", "-i", str(src), "-c", "copy", str(cut))
    with av.open(str(cut)) as c:
        assert any(p.is_discard for p in c.demux(video=0))  # the case: hidden pictures before the cut
    assert verify_pair(cut, cut).status == "ok"
    convert(cut, out, _opts())
    v, a0, a1 = _times(out)
    assert v == [Fraction(k, 50) for k in range(50)]  # the shown second, at 50 fps
    assert abs(a0) < Fraction(1, 50) and abs(a1 - 1) < Fraction(1, 40)


def test_ss_and_t_as_timecodes_and_verify_of_the_cut(tmp_path):
    """`--ss 00:00:01.5 --t 00:01` (ffmpeg's syntax, which the help names) was refused ("invalid
    float value"). And `filmrt verify IN OUT --ss 1.5 --t 1` on convert's correct output failed
    (exit 4): it expected the source's start timecode (not the first kept frame's, as convert
    writes it) and one frame at or after --t's end."""
    src, out = tmp_path / "tc.mov", tmp_path / "out.mov"
    ffmpeg("-f", "lavfi", "-i", "testsrc2=s=160x90:r=25:d=3", "-c:v", "libx264", "-preset", "ultrafast",
           "-pix_fmt", "yuv420p", "-timecode", "10:00:00:00", str(src))
    opts = _opts(ss="00:00:01.5", t="00:01", deinterlace="off")  # testsrc2 at 160x90 combs for idet
    assert (opts.ss, opts.t) == (1.5, 1.0)
    convert(src, out, opts)
    with av.open(str(out)) as c:
        times = [f.pts * f.time_base for f in c.decode(video=0)]
        tc = c.streams.video[0].metadata.get("timecode")
    # the source frames 1.52 .. 2.48 (those at or after 1.5 s), shown from 0.02 s, cut at 1 s
    assert times == [Fraction(k, 50) for k in range(1, 50)]
    assert tc == "10:00:01:26"  # source frame 38 (10:00:01:13 at 25) at 50 fps
    assert verify_pair(src, out, ss=1.5, t=1.0).status == "ok"
    wrong = verify_pair(src, out, ss=1.0, t=1.0)  # a wrong range is still found
    assert wrong.status == "failed" and any("timecode" in d for d in wrong.differences)


@pytest.mark.parametrize("text, seconds", [("90", 90.0), ("1.5", 1.5), ("1500ms", 1.5), ("01:30", 90.0),
                                           ("1:00:00.25", 3600.25), ("0:00:02", 2.0)])
def test_time_options_read_ffmpegs_duration_syntax(text, seconds):
    from filmrt.pipeline.options import check_seconds

    assert check_seconds(text, "--ss", positive=False) == seconds


@pytest.mark.parametrize("text", ["1:75", "abc", "-1", "00:00:-1", "nan", "1:2:3:4"])
def test_time_options_refuse_what_is_not_a_time(text):
    from filmrt.errors import FilmrtError
    from filmrt.pipeline.options import check_seconds

    with pytest.raises(FilmrtError, match="--ss"):
        check_seconds(text, "--ss", positive=False)


@pytest.mark.parametrize("ext", ["mkv", "ts"])
def test_aac_priming_hidden_by_mp4_edit_list_still_counts_after_a_remux(tmp_path, ext):
    """MP4's AAC priming packet (1024 samples before 0) is hidden by the audio's edit list; a remux
    into a container without edit lists (FFmpeg's `-c copy`, convert's copy) carries it and plays
    it, so the audio starts 21 ms before the video in OUT as the packet did in IN. Not counting
    hidden audio packets at all failed every AAC MP4 -> MKV/TS conversion (exit 4, A/V offset)."""
    src, remux, out = tmp_path / "src.mp4", tmp_path / f"remux.{ext}", tmp_path / f"out.{ext}"
    _source(src, seconds=1.0)
    with av.open(str(src)) as c:
        hidden = [p for p in c.demux(audio=0) if p.is_discard]
    assert len(hidden) == 1  # the case: the priming packet
    ffmpeg("-i", str(src), "-c", "copy", str(remux))
    assert verify_pair(src, remux).status == "ok"
    convert(src, out, _opts())  # its own verification passes (else FilmrtError, exit 4)
    assert verify_pair(src, out).status == "ok"


@pytest.mark.parametrize("ext", ["mkv", "ts"])
def test_the_sound_an_edit_list_hides_is_not_copied_into_mkv_or_ts(tmp_path, ext):
    """The `-c copy` cut of 1 s (one keyframe at 0) into MKV/TS: the second of sound the edit list
    hides was copied and, without an edit list, played a second before the first picture (caught
    by verification: exit 4). Now left out; the audio starts with the pictures and lasts as long."""
    src, cut, out = tmp_path / "src.mp4", tmp_path / "cut.mp4", tmp_path / f"out.{ext}"
    _source(src)
    ffmpeg("-ss", "1", "-i", str(src), "-c", "copy", str(cut))
    with av.open(str(cut)) as c:
        assert sum(p.is_discard for p in c.demux(audio=0)) > 20  # the case: a second of hidden sound
    convert(cut, out, _opts())
    v, a0, a1 = _times(out)
    assert len(v) == 50 and v == [v[0] + Fraction(k, 50) for k in range(50)]
    # the packet that straddles the cut keeps its start (a coded packet is not cut): < 1 packet early
    assert 0 <= v[0] - a0 < Fraction(1024, 48000) + Fraction(1, 1000)
    assert abs((a1 - a0) - 1) < Fraction(2048, 48000) + Fraction(1, 1000)  # a packet at each end


# ---------------------------------------------------------------------- signals at start-up
def test_python_m_filmrt_ctrl_c_during_start_up_is_interrupted_130(tmp_path):
    """`python -m filmrt` bypassed the program's entry point (filmrt.cli.launch): Ctrl-C while
    PyTorch was importing printed a traceback and the process died of SIGINT."""
    import signal
    import subprocess
    import sys
    import time

    src, out = tmp_path / "c.mp4", tmp_path / "o.mkv"
    _source(src, seconds=0.4)
    p = subprocess.Popen([sys.executable, "-m", "filmrt", "convert", str(src), str(out), "--fps", "50",
                          "--model", "blend", "--quiet"], stderr=subprocess.PIPE, text=True)
    time.sleep(0.5)
    p.send_signal(signal.SIGINT)
    err = p.communicate(timeout=120)[1]
    assert p.returncode == 130 and "interrupted" in err and "Traceback" not in err, err
    assert not out.exists()


def test_the_commands_module_is_imported_under_the_start_up_handler(monkeypatch):
    """The command table imports a command's module lazily (inside the command's run), after the
    entry point had put Ctrl-C back to KeyboardInterrupt; numpy's import (under PyTorch's) swallows
    a KeyboardInterrupt raised inside it, so a Ctrl-C 1.3 s in was lost and the conversion ran on
    to exit 0 (seen from the CLI). The module is now imported while the start-up handler holds."""
    import importlib
    import signal

    from filmrt.cli import launch

    seen = {}
    real = importlib.import_module

    def spy(name, *a):
        if name == "filmrt.pipeline.cli" and name not in seen:
            seen[name] = signal.getsignal(signal.SIGINT)
        return real(name, *a)

    monkeypatch.setattr(importlib, "import_module", spy)
    with pytest.raises(SystemExit):
        launch.main(["verify", "--help"])
    assert seen["filmrt.pipeline.cli"] is launch._interrupted_at_start


def test_slowed_44k1_audio_into_webm_is_timed_at_opus_48k(tmp_path):
    """--slowmo 2 --audio stretch of 44.1 kHz sound into WebM (Opus, 48 kHz): the encoder resampled
    the atempo frames, but they were stamped counting 44.1 kHz samples in a 1/48000 time base: 2 s of
    sound on 1.84 s of timestamps (verification: exit 4). Resampled in the filter graph now."""
    src, out = tmp_path / "a441.mkv", tmp_path / "slow.webm"
    ffmpeg("-f", "lavfi", "-i", "testsrc2=s=160x90:r=25:d=1", "-f", "lavfi", "-i", "sine=f=440:r=44100:d=1",
           "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", "-c:a", "aac", "-shortest", str(src))
    convert(src, out, _opts(fps="25", slowmo="2", audio="stretch"))
    with av.open(str(out)) as c:
        a = c.streams.audio[0]
        assert a.codec_context.name == "opus" and a.codec_context.sample_rate == 48000
        pkts = [p for p in c.demux(a) if p.pts is not None]
        span = (pkts[-1].pts + pkts[-1].duration - pkts[0].pts) * a.time_base
    with av.open(str(out)) as c:
        samples = sum(f.samples for f in c.decode(audio=0))
    assert abs(span - Fraction(samples, 48000)) < Fraction(1, 50)  # timestamps count what is there
    assert abs(Fraction(samples, 48000) - 2) < Fraction(1, 20)  # 1 s slowed twice


@pytest.mark.parametrize("change, line", [
    (["-c:a", "aac", "-ac", "2"], "2 channels in OUT, 6 channels in the source"),
    (["-c:a", "aac", "-ar", "44100"], "44100 Hz in OUT, 48000 Hz in the source"),
    (["-c:a", "copy", "-metadata:s:a:0", "language=spa"], "language spa in OUT, fra in the source"),
])
def test_verify_finds_a_downmix_a_resample_and_a_relabelled_language(tmp_path, change, line):
    """`filmrt verify IN OUT` compared an audio stream's codec and span only: a remux that mixed 5.1
    down to stereo, resampled 48 -> 44.1 kHz or relabelled the French track Spanish passed (exit 0)."""
    src, out = tmp_path / "src.mkv", tmp_path / "out.mkv"
    ffmpeg("-f", "lavfi", "-i", "testsrc2=s=160x90:r=25:d=1", "-f", "lavfi", "-i",
           "sine=f=440:r=48000:d=1,pan=5.1|c0=c0|c1=c0|c2=c0|c3=c0|c4=c0|c5=c0", "-c:v", "libx264", "-preset",
           "ultrafast", "-pix_fmt", "yuv420p", "-c:a", "aac", "-metadata:s:a:0", "language=fra", "-shortest", str(src))
    ffmpeg("-i", str(src), "-c:v", "copy", *change, str(out))
    rep = verify_pair(src, out)
    assert rep.status == "failed" and [d for d in rep.differences if line in d], rep.differences
    ffmpeg("-i", str(src), "-c", "copy", str(tmp_path / "same.mkv"))
    assert verify_pair(src, tmp_path / "same.mkv").status == "ok"

"""Bad input and failures: one-line error, exit code != 0, never a partial (or clobbered) OUT."""

from __future__ import annotations

import errno
import os
import random

import pytest
import torch
from support.synth import make_audio_only, make_clip

from filmrt.cli.main import main
from filmrt.errors import FilmrtError
from filmrt.options import RuntimeOptions
from filmrt.pipeline.convert import convert
from filmrt.pipeline.io import encode
from filmrt.pipeline.io.probe import probe
from filmrt.pipeline.options import ConvertOptions, EncodeOptions

pytestmark = pytest.mark.usefixtures("one_thread")


ARGS = ["--model", "blend", "--quiet", "--preset", "ultrafast"]


@pytest.fixture(scope="module")
def good(tmp_path_factory):
    d = tmp_path_factory.mktemp("bad")
    return {
        "mp4": make_clip(d / "good.mp4", frames=20),
        "mkv": make_clip(d / "good.mkv", frames=50, audio=True),
        "dir": d,
    }


def leftovers(d):
    return [p for p in os.listdir(d) if "filmrt-" in p]


def run_cli(capsys, *argv):
    rc = main(["convert", *map(str, argv), *ARGS])
    err = capsys.readouterr().err.strip()
    return rc, err


def assert_one_line_error(rc, err, *words):
    assert rc == 2, err
    lines = [ln for ln in err.splitlines() if ln.startswith("filmrt:")]
    assert len(lines) == 1 and lines[0].startswith("filmrt: error: "), err
    assert "Traceback" not in err
    for w in words:
        assert w in lines[0], lines[0]


def test_missing_file(tmp_path, capsys):
    rc, err = run_cli(capsys, tmp_path / "nope.mp4", tmp_path / "o.mp4", "--fps", "50")
    assert_one_line_error(rc, err, "not found")
    assert os.listdir(tmp_path) == []


def test_not_a_video(tmp_path, capsys):
    bad = tmp_path / "random.mp4"
    bad.write_bytes(random.Random(7).randbytes(40000))
    rc, err = run_cli(capsys, bad, tmp_path / "o.mp4", "--fps", "50")
    assert_one_line_error(rc, err, "not a video")
    assert not (tmp_path / "o.mp4").exists() and not leftovers(tmp_path)


def test_no_video_stream(tmp_path, capsys):
    audio = make_audio_only(tmp_path / "a.m4a")
    rc, err = run_cli(capsys, audio, tmp_path / "o.mp4", "--fps", "50")
    assert_one_line_error(rc, err, "no video stream", "audio")
    assert not (tmp_path / "o.mp4").exists()


def test_truncated_stream_converts_the_readable_part(good, tmp_path, capsys):
    data = open(good["mkv"], "rb").read()
    cut = tmp_path / "cut.mkv"
    cut.write_bytes(data[: len(data) // 2])
    out = tmp_path / "o.mp4"
    rc, err = run_cli(capsys, cut, out, "--fps", "50")
    assert rc == 3 and "damaged input" in err and "Traceback" not in err
    n = probe(out).video.packets  # a complete, valid file of what was readable
    assert 0 < n < 100 and n % 2 == 0


def test_truncated_mp4_without_index(good, tmp_path, capsys):
    data = open(good["mp4"], "rb").read()
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(data[: len(data) // 2])  # the moov index is at the end: nothing is readable
    rc, err = run_cli(capsys, cut, tmp_path / "o.mp4", "--fps", "50")
    assert_one_line_error(rc, err)
    assert not (tmp_path / "o.mp4").exists()


def test_corrupt_middle(good, tmp_path, capsys):
    data = bytearray(open(good["mkv"], "rb").read())
    n = len(data)
    for i in range(n // 3, n // 3 + 2000):
        data[i] = (i * 7919) % 256
    bad = tmp_path / "corrupt.mkv"
    bad.write_bytes(bytes(data))
    out = tmp_path / "o.mp4"
    rc, err = run_cli(capsys, bad, out, "--fps", "50")
    assert rc in (0, 3) and "Traceback" not in err
    if rc == 3:
        assert "damaged input" in err
    assert probe(out).video.packets > 0


@pytest.mark.parametrize("rate", ["0", "-25", "abc", "1/0"])
def test_bad_rate(good, tmp_path, capsys, rate):
    rc, err = run_cli(capsys, good["mp4"], tmp_path / "o.mp4", "--fps", rate)
    assert_one_line_error(rc, err, "--fps")
    assert os.listdir(tmp_path) == []


def test_output_directory_missing_or_unwritable(good, tmp_path, capsys):
    rc, err = run_cli(capsys, good["mp4"], tmp_path / "no" / "such" / "o.mp4", "--fps", "50")
    assert_one_line_error(rc, err, "does not exist")
    rc, err = run_cli(capsys, good["mp4"], "/sys/filmrt-test-out.mp4", "--fps", "50")
    assert_one_line_error(rc, err, "cannot write")
    rc, err = run_cli(capsys, good["mp4"], tmp_path / "noext", "--fps", "50")
    assert_one_line_error(rc, err, "--format")


def test_disk_full_leaves_nothing_and_keeps_old_out(good, tmp_path, monkeypatch):
    out = tmp_path / "o.mp4"
    out.write_bytes(b"previous contents")
    calls = {"n": 0}
    real = encode.Muxer._mux

    def full(self, packet):
        calls["n"] += 1
        if calls["n"] > 5:
            raise OSError(errno.ENOSPC, "No space left on device")
        return real(self, packet)

    monkeypatch.setattr(encode.Muxer, "_mux", full)
    with pytest.raises(FilmrtError, match="disk full"):
        convert(good["mp4"], out, ConvertOptions(fps="50", runtime=RuntimeOptions(model="blend"),
                                                encode=EncodeOptions(preset="ultrafast")))
    assert out.read_bytes() == b"previous contents"
    assert not leftovers(tmp_path)


class _Boom:
    """An interpolator that fails on its second call."""

    def __init__(self, exc):
        from filmrt.engine import open_interpolator

        self.inner = open_interpolator("blend")
        self.device = self.inner.device
        self.model_name = "blend"
        self.backend = "torch"
        self.light = False
        self.exc = exc
        self.calls = 0

    def interpolate(self, *a, **kw):
        self.calls += 1
        if self.calls > 1:
            raise self.exc
        return self.inner.interpolate(*a, **kw)


@pytest.mark.parametrize("exc", [FilmrtError("model exploded"), RuntimeError("bug"), KeyboardInterrupt()])
def test_failure_mid_run_leaves_no_output(good, tmp_path, exc):
    out = tmp_path / "o.mp4"
    opts = ConvertOptions(fps="50", runtime=RuntimeOptions(max_batch=1), encode=EncodeOptions(preset="ultrafast"))
    with pytest.raises(type(exc)):
        convert(good["mp4"], out, opts, interpolator=_Boom(exc))
    assert not out.exists() and not leftovers(tmp_path)


def test_failure_in_decoder_thread_is_raised_once(good, tmp_path, monkeypatch):
    from filmrt.pipeline.io import decode

    def broken(*a, **kw):
        raise FilmrtError("decoder broke")

    monkeypatch.setattr(decode, "frame_to_rgb", broken)
    monkeypatch.setattr(decode, "frame_planes", broken)  # convert asks for planes unless an option needs RGB
    with pytest.raises(FilmrtError, match="decoder broke"):
        convert(good["mp4"], tmp_path / "o.mp4", ConvertOptions(fps="50", runtime=RuntimeOptions(model="blend")))
    assert not leftovers(tmp_path) and not (tmp_path / "o.mp4").exists()


def test_same_file_and_nvenc_and_options(good, tmp_path, capsys):
    rc, err = run_cli(capsys, good["mp4"], good["mp4"], "--fps", "50")
    assert_one_line_error(rc, err, "same file")
    if not encode.gpu_present():
        rc, err = run_cli(capsys, good["mp4"], tmp_path / "o.mp4", "--fps", "50", "--codec", "h264_nvenc")
        assert_one_line_error(rc, err, "h264_nvenc")
    rc, err = run_cli(capsys, good["mp4"], tmp_path / "o.mp4", "--fps", "50", "--batch", "0")
    assert_one_line_error(rc, err, "--batch")
    rc, err = run_cli(capsys, good["mp4"], tmp_path / "o.mp4", "--fps", "50", "--t", "-1")
    assert_one_line_error(rc, err, "--t")
    assert not (tmp_path / "o.mp4").exists()


def test_dali_decoder_is_refused_cleanly_without_gpu(good, tmp_path, capsys):
    from filmrt.pipeline.io import dali

    ok, why = dali.available(torch.device("cpu"))
    assert not ok and "cuda" in why
    rc, err = run_cli(capsys, good["mp4"], tmp_path / "o.mp4", "--fps", "50", "--decoder", "dali")
    assert_one_line_error(rc, err, "dali")
    assert not (tmp_path / "o.mp4").exists()


def test_sigterm_mid_run_leaves_nothing(tmp_path):
    """A supervisor's SIGTERM (or Ctrl-C) during a conversion: exit 130, no OUT, no temp file."""
    import signal
    import subprocess
    import sys
    import time

    clip = make_clip(tmp_path / "long.mp4", frames=250, width=320, height=180)
    out = tmp_path / "o.mp4"
    p = subprocess.Popen([sys.executable, "-m", "filmrt", "convert", clip, str(out), "--fps", "x4",
                          "--model", "blend", "--quiet", "--preset", "ultrafast", "--batch", "1"],
                         stderr=subprocess.PIPE)
    deadline = time.time() + 120
    while not leftovers(tmp_path) and p.poll() is None and time.time() < deadline:
        time.sleep(0.1)
    assert p.poll() is None, "finished before it could be interrupted"
    p.send_signal(signal.SIGTERM)
    _, err = p.communicate(timeout=120)
    assert p.returncode == 130, err.decode()
    assert not out.exists() and not leftovers(tmp_path)

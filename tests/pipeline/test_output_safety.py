"""Where OUT goes and what it replaces (issue 12, items 3, 7, 8).

- ffmpeg's overwrite rule: an existing OUT is refused (before decoding) unless ``-y``; ``-n``
  never overwrites; a replaced file keeps its mode;
- special files: a FIFO or a device is written as a stream, never renamed over; a symlinked OUT
  is written through (target replaced, link kept); ``--json`` through a link to /dev/stdout;
- leftovers: SIGHUP cleans up like SIGTERM; after ``kill -9`` the next run of the same OUT
  removes the dead run's temp file (and never a live run's).
"""

from __future__ import annotations

import json
import os
import signal
import stat
import subprocess
import sys
import threading
import time

import pytest
from support.helpers import decode_all
from support.synth import make_clip

from filmrt.cli.main import main
from filmrt.fileio import remove_stale_temps
from filmrt.pipeline.io.probe import probe

pytestmark = pytest.mark.usefixtures("one_thread")

ARGS = ["--model", "blend", "--quiet", "--preset", "ultrafast", "--threads", "1"]


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    return make_clip(tmp_path_factory.mktemp("safety") / "in.mp4", frames=10)


def cli(capsys, *argv):
    rc = main(["convert", *map(str, argv), *ARGS])
    return rc, capsys.readouterr().err


def temps(d):
    return sorted(p for p in os.listdir(d) if ".filmrt-" in p)


# ------------------------------------------------------------------ item 7: the overwrite rule
def test_existing_out_refused_before_decoding(tmp_path, capsys):
    out = tmp_path / "o.mp4"
    out.write_bytes(b"precious")
    # IN does not even exist: the refusal comes first, before anything is opened or decoded
    rc, err = cli(capsys, tmp_path / "missing.mp4", out, "--fps", "50")
    assert rc == 2 and "exists, not overwritten" in err and "-y" in err, err
    assert out.read_bytes() == b"precious" and temps(tmp_path) == []


def test_no_overwrite_never_replaces(tmp_path, clip, capsys):
    out = tmp_path / "o.mp4"
    out.write_bytes(b"precious")
    rc, err = cli(capsys, clip, out, "--fps", "50", "-n")
    assert rc == 2 and "exists, not overwritten" in err, err
    assert out.read_bytes() == b"precious"


def test_y_replaces_and_keeps_mode(tmp_path, clip, capsys):
    out = tmp_path / "o.mp4"
    out.write_bytes(b"old")
    os.chmod(out, 0o640)
    rc, err = cli(capsys, clip, out, "--fps", "50", "-y")
    assert rc == 0, err
    assert stat.S_IMODE(out.stat().st_mode) == 0o640
    assert len(decode_all(out)) == 20 and temps(tmp_path) == []


def test_y_and_n_exclusive(tmp_path, clip, capsys):
    with pytest.raises(SystemExit) as e:
        main(["convert", clip, str(tmp_path / "o.mp4"), "--fps", "50", "-y", "-n"])
    assert e.value.code == 2


# ------------------------------------------------------------------ item 3: special files
def test_fifo_out_is_streamed_not_replaced(tmp_path, clip, capsys):
    fifo = tmp_path / "pipe.mkv"
    os.mkfifo(fifo)
    got = bytearray()

    def reader():
        with open(fifo, "rb") as f:
            got.extend(f.read())

    th = threading.Thread(target=reader, daemon=True)
    th.start()
    rc, err = cli(capsys, clip, fifo, "--fps", "50", "--format", "matroska")  # no -y needed: a stream
    th.join(30)
    assert rc == 0, err
    assert stat.S_ISFIFO(os.lstat(fifo).st_mode)  # still the FIFO
    assert temps(tmp_path) == []
    (tmp_path / "got.mkv").write_bytes(bytes(got))
    assert len(decode_all(tmp_path / "got.mkv")) == 20


def test_device_out_is_streamed_as_fragmented_mp4(tmp_path, clip, capsys):
    """A null device made in tmp_path (never the system's /dev/null): mp4 into it is streamed."""
    node = tmp_path / "null"
    try:
        os.mknod(node, stat.S_IFCHR | 0o666, os.makedev(1, 3))
    except (PermissionError, OSError) as e:
        pytest.skip(f"cannot make a device node here: {e}")
    rc, err = cli(capsys, clip, node, "--fps", "50", "--format", "mp4")
    assert rc == 0, err
    assert stat.S_ISCHR(os.lstat(node).st_mode)
    assert temps(tmp_path) == []


def test_symlinked_out_written_through(tmp_path, clip, capsys):
    target = tmp_path / "real.mp4"
    target.write_bytes(b"old")
    os.chmod(target, 0o600)
    link = tmp_path / "link.mp4"
    link.symlink_to(target)
    rc, err = cli(capsys, clip, link, "--fps", "50")
    assert rc == 2 and "exists" in err  # the link points at a file: the rule applies
    rc, err = cli(capsys, clip, link, "--fps", "50", "-y")
    assert rc == 0, err
    assert link.is_symlink() and os.readlink(link) == str(target)
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    assert len(decode_all(target)) == 20 and temps(tmp_path) == []


def test_json_through_symlink_to_stdout(tmp_path, clip):
    link = tmp_path / "report.json"
    link.symlink_to("/dev/stdout")
    r = subprocess.run(
        [sys.executable, "-m", "filmrt", "convert", clip, str(tmp_path / "o.mp4"), "--fps", "50",
         "--json", str(link), *ARGS],
        capture_output=True, text=True, timeout=120,
    )
    assert r.returncode == 0, r.stderr
    assert link.is_symlink()
    assert json.loads(r.stdout)["frames_out"] == 20


# ------------------------------------------------------------------ item 8: signals and leftovers
def _slow_convert(src, out):
    """A conversion that runs for a few seconds, in a child process."""
    return subprocess.Popen(
        [sys.executable, "-m", "filmrt", "convert", str(src), str(out), "--fps", "x4", *ARGS],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )


def _wait_for_temp(proc, d, timeout=60.0):
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout:
        if temps(d):
            return temps(d)
        if proc.poll() is not None:
            pytest.fail(f"the conversion ended before writing: {proc.stderr.read()}")
        time.sleep(0.02)
    proc.kill()
    pytest.fail("no temp file appeared")


@pytest.fixture(scope="module")
def long_clip(tmp_path_factory):
    return make_clip(tmp_path_factory.mktemp("long") / "long.mp4", frames=300, width=320, height=180)


def test_sighup_cleans_up_like_sigterm(tmp_path, long_clip):
    out = tmp_path / "o.mp4"
    proc = _slow_convert(long_clip, out)
    _wait_for_temp(proc, tmp_path)
    proc.send_signal(signal.SIGHUP)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert "interrupted" in err and "Traceback" not in err
    assert os.listdir(tmp_path) == []


def test_kill_9_leftover_removed_by_next_run(tmp_path, long_clip, clip, capsys):
    out = tmp_path / "o.mp4"
    proc = _slow_convert(long_clip, out)
    left = _wait_for_temp(proc, tmp_path)
    proc.kill()  # SIGKILL: no cleanup possible
    proc.wait(30)
    assert temps(tmp_path) == left and f"-{proc.pid}-" in left[0]
    # a live run's temp for the same OUT must survive: this test process is alive
    live = tmp_path / f".o.filmrt-{os.getppid()}-live.mp4"
    live.write_bytes(b"x")
    rc, err = cli(capsys, clip, out, "--fps", "50")
    assert rc == 0, err
    assert temps(tmp_path) == [live.name]
    assert probe(out).video is not None


def test_remove_stale_temps_only_dead_pids(tmp_path):
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    out = tmp_path / "a.b.mkv"
    names = [
        f".a.b.filmrt-{dead.pid}-x1.mkv",  # dead writer: removed
        f".a.b.filmrt-{os.getpid()}-x2.mkv",  # this process: kept
        f".a.b.filmrt-{dead.pid}-x3.mp4",  # another OUT (a.b.mp4): kept
        ".a.b.filmrt-abcdefgh.mkv",  # old naming without a pid: kept
        f".a.filmrt-{dead.pid}-x4.mkv",  # another OUT (a.mkv): kept
    ]
    for n in names:
        (tmp_path / n).write_bytes(b"")
    removed = remove_stale_temps(out)
    assert [p.name for p in removed] == [names[0]]
    assert sorted(os.listdir(tmp_path)) == sorted(names[1:])


def test_interpolate_follows_the_overwrite_rule(tmp_path, capsys):
    import torch

    from filmrt.imageio import write_image

    pa, pb, out = tmp_path / "a.png", tmp_path / "b.png", tmp_path / "mid.png"
    write_image(pa, torch.zeros(3, 16, 16))
    write_image(pb, torch.ones(3, 16, 16))
    out.write_bytes(b"keep")
    argv = ["interpolate", str(pa), str(pb), "-o", str(out), "--model", "blend", "--quiet"]
    assert main(argv) == 2 and "exists, not overwritten" in capsys.readouterr().err
    assert out.read_bytes() == b"keep"
    assert main([*argv, "-y"]) == 0 and out.read_bytes() != b"keep"

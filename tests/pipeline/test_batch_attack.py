"""filmrt batch under a user-style attack: what is in DST, SRC and --json when a run starts.

- a truncated or trimmed output of ours (tag kept) is redone, not skipped, with or without the manifest;
- a file batch did not make is never replaced because the manifest has a record for its path
  (changed output, changed settings);
- a second SRC tree into the same DST: an output recorded for another source path is a name clash;
- --json never replaces a source, an output or a file that is not a JSON report;
- a file name that is not UTF-8 is converted and resumed (no traceback);
- a FIFO named like a video is never opened; what discovery leaves out is said in the summary;
- a manifest write that fails (disk full) is one line and exit 2, and the next run resumes;

Real convert pipeline (blend model, tiny clips made here with PyAV), in this process (``workers=0``).
"""

from __future__ import annotations

import io
import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import av
import pytest
from support.batch import convert_options
from support.synth import make_clip

from filmrt.cli.main import main
from filmrt.pipeline.batch import manifest as manifest_module
from filmrt.pipeline.batch import run_batch
from filmrt.pipeline.batch.manifest import MANIFEST_NAME, Manifest
from filmrt.pipeline.batch.marker import read_mark
from filmrt.pipeline.io.probe import probe

pytestmark = pytest.mark.usefixtures("one_thread")


def options(fps="x2"):
    return convert_options(fps=fps, model="blend", threads=1, preset="ultrafast")


def clip(path, frames=4, **kw):
    path.parent.mkdir(parents=True, exist_ok=True)
    return make_clip(path, frames=frames, **kw)


def batch(src, dst, opts=None, **kw):
    return run_batch(src, dst, opts or options(), workers=0, quiet=True, **kw)


def cli(src, dst, *extra) -> int:
    return main(["batch", str(src), str(dst), "--fps", "x2", "--model", "blend", "--preset", "ultrafast",
                 "--quiet", "--workers", "0", *map(str, extra)])


def trim(path: Path, seconds: float = 1.0) -> None:
    """``ffmpeg -t SECONDS -c copy`` in PyAV: the first SECONDS of video, container tags kept."""
    tmp = path.with_name("trimmed" + path.suffix)
    with av.open(str(path)) as inp, av.open(str(tmp), "w") as out:
        for k, v in inp.metadata.items():
            out.metadata[k] = v
        vin = inp.streams.video[0]
        vout = out.add_stream_from_template(vin)
        for pkt in inp.demux(vin):
            if pkt.dts is None or (pkt.pts is not None and pkt.pts * pkt.time_base >= seconds):
                continue
            pkt.stream = vout
            out.mux(pkt)
    os.replace(tmp, path)


def halve(path: Path) -> None:
    """``head -c SIZE/2``."""
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


# ------------------------------------------------------------------------------------------ fault 1
@pytest.mark.parametrize("damage", [halve, trim], ids=["halved", "trimmed"])
@pytest.mark.parametrize("manifest", ["kept", "deleted"])
def test_truncated_output_of_ours_is_redone(tmp_path, damage, manifest):
    src, dst = tmp_path / "src", tmp_path / "dst"
    clip(src / "a.mkv", frames=100)  # 4 s at 25 fps
    rep = batch(src, dst)
    assert rep.counts() == {"done": 1}
    out = dst / "a.mkv"
    full = probe(out).video.frames
    assert full >= 199
    damage(out)
    assert read_mark(out) is not None  # the damaged file still carries our mark
    assert probe(out).video.frames < full
    if manifest == "deleted":
        (dst / MANIFEST_NAME).unlink()
    rep = batch(src, dst)
    (f,) = rep.files
    assert f.status == "done", (f.status, f.reason)
    assert probe(out).video.frames == full
    assert batch(src, dst).counts() == {"skipped": 1}  # and now it is done


def test_cut_short_mp4_of_ours_is_redone_though_its_tags_went_with_its_end(tmp_path):
    """An MP4 keeps its tags (and index) at its end: ``head -c`` leaves no mark to read. It still
    starts with the bytes batch wrote (recorded in the manifest): ours, redone. Without the
    manifest nothing proves it: refused, left alone."""
    src, dst = tmp_path / "src", tmp_path / "dst"
    clip(src / "a.mp4", frames=100)
    assert batch(src, dst).counts() == {"done": 1}
    out = dst / "a.mp4"
    full = out.read_bytes()
    halve(out)
    assert read_mark(out) is None
    (f,) = batch(src, dst).files
    assert f.status == "done", (f.status, f.reason)
    assert out.read_bytes() != full[: len(full) // 2] and probe(out).video.frames >= 199
    halve(out)
    (dst / MANIFEST_NAME).unlink()
    (f,) = batch(src, dst).files
    assert f.status == "failed" and "not made by filmrt batch" in f.reason


def test_manifest_of_an_earlier_filmrt_gets_the_out_head_column(tmp_path):
    db = tmp_path / MANIFEST_NAME
    con = sqlite3.connect(db)
    con.executescript(manifest_module._SCHEMA.replace(",\n    out_head TEXT", ""))
    con.close()
    with Manifest(db) as m:
        assert "out_head" in {r[1] for r in m.db.execute("PRAGMA table_info(jobs)")}


# ------------------------------------------------------------------------------------------ fault 2
def test_foreign_file_at_a_recorded_output_is_not_replaced(tmp_path):
    src, dst = tmp_path / "src", tmp_path / "dst"
    clip(src / "a.mp4")
    clip(src / "b.mp4")
    assert batch(src, dst).counts() == {"done": 2}
    foreign = clip(tmp_path / "foreign.mp4", frames=6, width=96, height=64)
    data = Path(foreign).read_bytes()
    (dst / "a.mp4").write_bytes(data)  # cp foreign.mp4 DST/a.mp4 (the manifest has a row for it)

    rep = batch(src, dst)
    by = {f.rel: f for f in rep.files}
    assert by["a.mp4"].status == "failed" and "not made by filmrt batch" in by["a.mp4"].reason
    assert "--overwrite" in by["a.mp4"].reason
    assert by["b.mp4"].status == "skipped"
    assert (dst / "a.mp4").read_bytes() == data
    # other settings: still not batch's to replace; batch's own untouched output is redone
    plan = {f.rel: (f.status, f.reason) for f in batch(src, dst, options(fps="x3"), dry_run=True).files}
    assert plan["b.mp4"] == ("convert", "settings changed")
    rep = batch(src, dst, options(fps="x3"))
    by = {f.rel: f for f in rep.files}
    assert by["a.mp4"].status == "failed" and "not made by filmrt batch" in by["a.mp4"].reason
    assert by["b.mp4"].status == "done"
    assert (dst / "a.mp4").read_bytes() == data
    assert cli(src, dst) == 1
    assert (dst / "a.mp4").read_bytes() == data
    # --overwrite: the user says so
    assert cli(src, dst, "--overwrite") == 0
    assert read_mark(dst / "a.mp4") is not None


# ------------------------------------------------------------------------------------------ fault 4
def test_second_source_tree_into_same_dst_is_a_name_clash(tmp_path, capsys):
    a, b, dst = tmp_path / "r24a", tmp_path / "r24b", tmp_path / "D"
    clip(a / "ep1.mp4", frames=4)
    clip(b / "ep1.mp4", frames=6, width=96, height=64)  # other content, same name
    clip(b / "ep2.mp4", frames=4)
    assert batch(a, dst).counts() == {"done": 1}
    before = (dst / "ep1.mp4").read_bytes()

    rep = batch(b, dst)
    by = {f.rel: f for f in rep.files}
    assert by["ep1.mp4"].status == "failed" and "name clash" in by["ep1.mp4"].reason
    assert str(a / "ep1.mp4") in by["ep1.mp4"].reason
    assert by["ep2.mp4"].status == "done"  # the other items go on
    assert (dst / "ep1.mp4").read_bytes() == before
    capsys.readouterr()
    assert cli(b, dst) == 1
    assert "name clash" in capsys.readouterr().out
    assert (dst / "ep1.mp4").read_bytes() == before
    assert batch(a, dst).counts() == {"skipped": 1}  # the first tree's record is untouched

    # the same source path with other content is still "source changed"
    clip(a / "ep1.mp4", frames=8)
    (f,) = batch(a, dst, dry_run=True).files
    assert (f.status, f.reason) == ("convert", "source changed")
    (f,) = batch(a, dst).files
    assert f.status == "done"


# ------------------------------------------------------------------------------------------ fault 3
def test_json_report_never_replaces_a_video_an_output_or_another_file(tmp_path, capsys):
    src, dst = tmp_path / "src", tmp_path / "dst"
    clip(src / "a.mp4")
    clip(src / "sub" / "b.mpg", codec="mpeg2video")  # its output is dst/sub/b.mkv
    notes = tmp_path / "notes.txt"
    notes.write_text("the user's notes\n")
    for target in (src / "a.mp4", dst / "a.mp4", dst / "sub" / "b.mkv", dst / MANIFEST_NAME, notes):
        before = target.read_bytes() if target.exists() else None
        capsys.readouterr()
        assert cli(src, dst, "--json", target) == 2, target
        err = capsys.readouterr().err
        assert len(err.strip().splitlines()) == 1 and "--json" in err, err
        assert (target.read_bytes() if target.exists() else None) == before
        assert not dst.exists()  # refused before DST is made
    report = tmp_path / "report.json"
    assert cli(src, dst, "--json", report) == 0
    assert cli(src, dst, "--json", report) == 0  # an earlier report is replaced
    for target in (src / "a.mp4", dst / "a.mp4", dst / MANIFEST_NAME):  # outputs that exist now
        before = target.read_bytes()
        assert cli(src, dst, "--json", target) == 2, target
        assert target.read_bytes() == before
    assert cli(src, dst, "--json", src / "a.mp4", "--dry-run") == 2


# ------------------------------------------------------------------------------------------ fault 5
def test_file_name_that_is_not_utf8_is_converted_and_resumed(tmp_path):
    src, dst = tmp_path / "src", tmp_path / "dst"
    clip(src / "ok.mp4")
    bad = os.fsdecode(b"bad\xff\xfename.mp4")  # bytes that are not UTF-8: Python holds surrogates
    clip(src / bad)
    cmd = [sys.executable, "-m", "filmrt", "batch", str(src), str(dst), "--fps", "x2", "--model", "blend",
           "--preset", "ultrafast", "--workers", "0", "--json", str(tmp_path / "r.json")]
    # a terminal whose encoding is strict UTF-8 (en_US.UTF-8): printing the name must not fail either
    env = {**os.environ, "PYTHONIOENCODING": "utf-8:strict"}
    for expect in ("done", "skipped"):  # the second run finds the name in the manifest
        r = subprocess.run(cmd, env=env, capture_output=True, timeout=300)
        out = r.stdout.decode("utf-8", "replace") + r.stderr.decode("utf-8", "replace")
        assert r.returncode == 0, out
        assert "Traceback" not in out and "bad\\xff\\xfename.mp4" in out, out
        files = {f["rel"]: f["status"] for f in json.loads((tmp_path / "r.json").read_text())["files"]}
        assert files == {"ok.mp4": expect, bad: expect}, files
    assert probe(dst / bad).video.frames == 8
    r = subprocess.run(cmd + ["--dry-run"], env=env, capture_output=True, timeout=300)
    assert r.returncode == 0 and b"bad\\xff\\xfename.mp4" in r.stdout, r.stdout + r.stderr


# ------------------------------------------------------------------------------------------ faults 6, 7
def test_fifo_named_like_a_video_is_left_out_not_opened(tmp_path):
    src, dst = tmp_path / "src", tmp_path / "dst"
    clip(src / "ok.mp4")
    os.mkfifo(src / "x.mp4")  # opening it would wait for a writer forever
    cmd = [sys.executable, "-m", "filmrt", "batch", str(src), str(dst), "--fps", "x2", "--model", "blend",
           "--workers", "0", "--json", str(tmp_path / "r.json")]
    for extra in ([], ["--probe"], ["--dry-run"]):
        r = subprocess.run(cmd + extra, capture_output=True, text=True, timeout=120)  # hung before
        assert r.returncode == 0, r.stdout + r.stderr
        assert "left out: 1 not a regular file (FIFO, device, socket): x.mp4" in r.stdout, r.stdout
    report = json.loads((tmp_path / "r.json").read_text())
    assert [f["rel"] for f in report["files"]] == ["ok.mp4"]
    assert report["left_out"] == {"not a regular file (FIFO, device, socket)": ["x.mp4"]}


def test_hidden_and_symlinked_folders_left_out_are_reported(tmp_path):
    src, dst, elsewhere = tmp_path / "src", tmp_path / "dst", tmp_path / "elsewhere"
    clip(src / "ok.mp4")
    clip(src / ".cache" / "hidden_in_folder.mp4")
    clip(src / ".hidden.mp4")
    clip(elsewhere / "linked.mp4")
    (src / "link").symlink_to(elsewhere, target_is_directory=True)
    os.symlink("/nonexistent/clip.mp4", src / "dangling.mp4")
    out = io.StringIO()
    rep = run_batch(src, dst, options(), workers=0, quiet=True, out=out)
    by = {f.rel: f for f in rep.files}
    assert by["ok.mp4"].status == "done"
    assert by["dangling.mp4"].status == "failed" and "cannot read source" in by["dangling.mp4"].reason
    assert rep.left_out == {
        "hidden (name starts with '.')": [".cache/", ".hidden.mp4"],
        "symlinked folder (not followed)": ["link/"],
    }
    text = out.getvalue()
    assert "left out: 2 hidden (name starts with '.'): .cache/, .hidden.mp4" in text, text
    assert "left out: 1 symlinked folder (not followed): link/" in text, text


# ------------------------------------------------------------------------------------------ fault 8
@pytest.mark.parametrize("when", ["finish_done", "upsert_source"])
def test_manifest_write_failing_disk_full_is_one_line_exit_2_and_resumes(tmp_path, monkeypatch, capsys, when):
    src, dst = tmp_path / "src", tmp_path / "dst"
    for name in ("a.mp4", "b.mp4", "c.mp4"):
        clip(src / name)
    calls = []
    real = getattr(Manifest, when)

    def full(self, *args, **kw):  # what SQLite raises when DST's disk is full
        calls.append(args[0])
        if len(calls) == 2:
            raise sqlite3.OperationalError("database or disk is full")
        return real(self, *args, **kw)

    monkeypatch.setattr(Manifest, when, full)
    capsys.readouterr()
    assert cli(src, dst) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err
    lines = [x for x in err.splitlines() if x.strip()]
    assert len(lines) == 1 and "database or disk is full" in lines[0] and MANIFEST_NAME in lines[0], err
    monkeypatch.undo()
    # the state is consistent: the same command finishes the library, every file converted once
    with Manifest(dst / MANIFEST_NAME) as m:
        assert m.db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    rep = batch(src, dst)
    assert set(rep.counts()) <= {"done", "skipped"} and len(rep.files) == 3, [(f.rel, f.status, f.reason) for f in rep.files]
    for name in ("a.mp4", "b.mp4", "c.mp4"):
        assert probe(dst / name).video.frames == 8
    with Manifest(dst / MANIFEST_NAME) as m:
        assert all(n == 1 for n in m.done_counts().values()) and len(m.done_counts()) == 3


def test_keep_failed_output_is_moved_beside_out_before_the_attempt_folder_goes(tmp_path):
    """``--keep-failed`` in batch said "kept the failed output as DST/.filmrt-batch-tmp/1/v.failed-verify.mp4",
    then removed that folder with the attempt: the file now goes beside OUT and the message says so."""
    from filmrt.pipeline.batch.driver import keep_failed_beside

    attempt = tmp_path / ".filmrt-batch-tmp" / "1"
    attempt.mkdir(parents=True)
    kept = attempt / "v.failed-verify.mp4"
    kept.write_bytes(b"the output that failed")
    res = {"ok": False, "error": f"verification failed: 1 difference; kept the failed output as {kept}"}
    keep_failed_beside(str(attempt / "v.mp4"), str(tmp_path / "v.mp4"), res)
    beside = tmp_path / "v.failed-verify.mp4"
    assert beside.read_bytes() == b"the output that failed" and not kept.exists()
    assert res["error"].endswith(f"kept the failed output as {beside}")
    done = {"ok": True}
    keep_failed_beside(str(attempt / "w.mp4"), str(tmp_path / "w.mp4"), done)  # nothing to keep: nothing moves
    assert done == {"ok": True} and not (tmp_path / "w.failed-verify.mp4").exists()

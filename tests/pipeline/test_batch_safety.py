"""filmrt batch and the files in DST (issue 12, items 7 and 9).

- files in DST that batch did not make are never replaced unless ``--overwrite``;
- every output carries batch's mark (settings hash + source fingerprint) in its container tags,
  read back from MP4, MOV and Matroska; with the manifest deleted, outputs with this run's mark
  are adopted (nothing reconverted) and outputs with another mark are redone;
- files that are plainly not video fail once, not ``--retries`` + 1 times.

Real convert pipeline (blend model, tiny clips made here), in this process (``workers=0``).
"""

from __future__ import annotations

import os

import pytest
from support.batch import convert_options
from support.synth import make_audio_only, make_clip

from filmrt.cli.main import main
from filmrt.pipeline.batch import run_batch
from filmrt.pipeline.batch.manifest import MANIFEST_NAME
from filmrt.pipeline.batch.marker import MARK_KEY, read_mark
from filmrt.pipeline.convert import convert

pytestmark = pytest.mark.usefixtures("one_thread")


def options(fps="x2"):
    return convert_options(fps=fps, model="blend", threads=1, preset="ultrafast")


def clip(path):
    path.parent.mkdir(parents=True, exist_ok=True)
    return make_clip(path, frames=4)


def batch(src, dst, opts=None, **kw):
    return run_batch(src, dst, opts or options(), workers=0, quiet=True, **kw)


@pytest.mark.parametrize("ext, kept", [("mp4", True), ("mov", True), ("mkv", True), ("ts", False)])
def test_mark_read_back_from_containers(tmp_path, ext, kept):
    src = make_clip(tmp_path / "in.mkv", frames=4)
    out = tmp_path / f"o.{ext}"
    convert(src, out, options(), tags={MARK_KEY: "abc/def"})
    assert read_mark(out) == ("abc/def" if kept else None)
    again = tmp_path / f"again.{ext}"  # a source's mark is never copied into a new output
    convert(out, again, options())
    assert read_mark(again) is None


def test_foreign_file_in_dst_left_alone(tmp_path, capsys):
    src, dst = tmp_path / "src", tmp_path / "dst"
    clip(src / "a.mp4")
    dst.mkdir()
    (dst / "a.mp4").write_bytes(b"the user's own file")
    rep = batch(src, dst)
    (f,) = rep.files
    assert f.status == "failed" and "not made by filmrt batch" in f.reason
    assert (dst / "a.mp4").read_bytes() == b"the user's own file"
    rep = batch(src, dst, overwrite=True)
    assert rep.files[0].status == "done"
    assert read_mark(dst / "a.mp4") is not None
    # the CLI flag
    assert main(["batch", str(src), str(dst), "--fps", "x2", "--model", "blend", "--quiet", "--workers", "0",
                 "--overwrite"]) == 0


def test_manifest_deleted_rebuilt_from_marks(tmp_path):
    src, dst = tmp_path / "src", tmp_path / "dst"
    clip(src / "a.mp4")
    clip(src / "sub" / "b.mkv")
    rep = batch(src, dst)
    assert rep.counts() == {"done": 2}
    outs = {f.rel: os.stat(f.dst).st_mtime_ns for f in rep.files}

    (dst / MANIFEST_NAME).unlink()
    rep = batch(src, dst)  # nothing reconverted: the outputs carry this run's mark
    assert rep.counts() == {"skipped": 2}, [(f.rel, f.reason) for f in rep.files]
    assert {f.rel: os.stat(f.dst).st_mtime_ns for f in rep.files} == outs
    rep = batch(src, dst)  # and the new manifest knows them
    assert rep.counts() == {"skipped": 2}

    (dst / MANIFEST_NAME).write_bytes(b"")  # truncated to nothing: the same
    rep = batch(src, dst)
    assert rep.counts() == {"skipped": 2}, [(f.rel, f.reason) for f in rep.files]

    (dst / MANIFEST_NAME).unlink()
    rep = batch(src, dst, options(fps="x3"))  # other settings: batch's own outputs are redone
    assert rep.counts() == {"done": 2}


def test_not_a_video_fails_once(tmp_path):
    src, dst = tmp_path / "src", tmp_path / "dst"
    src.mkdir()
    (src / "notes.mp4").write_text("this is a text file, not a video\n" * 50)
    make_audio_only(src / "music.mkv")
    clip(src / "ok.mp4")
    rep = batch(src, dst, retries=2)
    by = {f.rel: f for f in rep.files}
    assert by["ok.mp4"].status == "done"
    for rel in ("notes.mp4", "music.mkv"):
        assert by[rel].status == "failed" and by[rel].failures == 1, (rel, by[rel].reason)
    rep = batch(src, dst, retries=2)  # given up on: not tried again
    by = {f.rel: f for f in rep.files}
    assert all("gave up earlier" in by[r].reason for r in ("notes.mp4", "music.mkv"))

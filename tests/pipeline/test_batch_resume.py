"""`filmrt batch` killed with SIGKILL in the middle, then run again: the library ends up complete.

Runs the real CLI (``python -m filmrt batch``) with the real convert pipeline and the ``blend``
model on a small library of real clips plus broken files. Checks: the killed driver's worker
dies with it, no final output is half-written, the restarted run resets the interrupted job,
converts only what was not done (outputs written before the kill are untouched, the manifest
history shows one success per file), every output probes right (frame count, duration), the
broken files are reported as failed with their reasons, and nothing is left in DST but the
outputs and the manifest.
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
from support.batch import BROKEN, build_library, count_video_frames

from filmrt.pipeline.batch import TMP_DIRNAME
from filmrt.pipeline.batch.discover import output_path
from filmrt.pipeline.batch.manifest import MANIFEST_NAME, Manifest

REPO = Path(__file__).resolve().parents[2]


def _query(db: Path, sql: str) -> list[tuple]:
    if not db.exists():
        return []
    try:
        con = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5)
        try:
            return con.execute(sql).fetchall()
        finally:
            con.close()
    except sqlite3.Error:  # not created yet / schema being written
        return []


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # a zombie is dead for our purpose
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(")")[-1].split()[0] != "Z"
    except OSError:
        return True


@pytest.mark.slow
def test_killed_batch_resumes_without_redoing_work(shared, tmp_path):
    src = tmp_path / "lib"
    good = build_library(shared / "data" / "clips", src)
    dst = tmp_path / "out"
    db = dst / MANIFEST_NAME
    cmd = [
        sys.executable, "-m", "filmrt", "batch", str(src), str(dst), "--fps", "x2", "--model", "blend",
        "--preset", "ultrafast", "--workers", "1", "--retries", "1", "--json", str(tmp_path / "report.json"),
    ]
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    with open(tmp_path / "run1.log", "wb") as log:
        p = subprocess.Popen(cmd, cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + 240
        done_rows: list[tuple] = []
        while time.monotonic() < deadline and p.poll() is None:
            done_rows = _query(db, "SELECT rel, worker FROM jobs WHERE status = 'done'")
            if done_rows:
                break
            time.sleep(0.02)
        assert p.poll() is None, "the first run ended before it could be killed:\n" + (tmp_path / "run1.log").read_text()
        assert done_rows, "no file finished within the time limit"
        os.kill(p.pid, signal.SIGKILL)  # the driver only: its worker must follow on its own
        p.wait()

    # the worker process died with its driver
    worker_pid = int(done_rows[0][1].split(":")[1])
    t0 = time.monotonic()
    while _alive(worker_pid) and time.monotonic() - t0 < 10:
        time.sleep(0.1)
    assert not _alive(worker_pid), "the worker outlived its killed driver"

    status = dict(_query(db, "SELECT rel, status FROM jobs"))
    done_before = {r for r, s in status.items() if s == "done"}
    assert done_before and len(done_before) < len(good), status
    # the job the kill interrupted (none if the kill fell between two files)
    running_at_kill = [r for r, s in status.items() if s == "running"]
    assert len(running_at_kill) <= 1
    stamps = {r: os.stat(output_path(dst, r)).st_mtime_ns for r in done_before}
    for rel in good:
        if rel not in done_before:  # nothing half-written in place of an unfinished output
            assert not output_path(dst, rel).exists(), rel

    # same command again: finishes the library
    r = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=400)
    assert r.returncode == 1, r.stdout + r.stderr  # 1: some files failed (the broken ones)
    assert ("left running by an interrupted run" in r.stderr) == bool(running_at_kill)

    report = json.loads((tmp_path / "report.json").read_text())
    files = {f["rel"]: f for f in report["files"]}
    assert sorted(files) == sorted(list(good) + BROKEN)
    for rel, n in good.items():
        out = output_path(dst, rel)
        info = count_video_frames(out)
        assert abs(info["frames"] - 2 * n) <= 1, (rel, info)
        src_info = count_video_frames(src / rel)
        assert abs(info["duration"] - src_info["duration"]) < 0.1, (rel, info, src_info)
        assert files[rel]["status"] == ("skipped" if rel in done_before else "done")
    for rel in done_before:  # not converted again
        assert os.stat(output_path(dst, rel)).st_mtime_ns == stamps[rel]
    for rel in BROKEN:
        f = files[rel]
        assert f["status"] == "failed" and f["error"] and "read" in f["error"], f
        assert f["failures"] == 1  # not a video: failed once, not retried

    with Manifest(db) as m:
        assert m.done_counts() == {rel: 1 for rel in good}  # every file converted exactly once
        history = m.history()
        interrupted = [h for h in history if h["outcome"] == "interrupted"]
        assert [h["rel"] for h in interrupted] == running_at_kill
        rows = m.rows()
        assert all(rows[rel]["status"] == "done" for rel in good)
        assert all(rows[rel]["status"] == "failed" and rows[rel]["failures"] == 1 for rel in BROKEN)

    # nothing but outputs and the manifest in DST
    expected = {output_path(dst, rel).relative_to(dst).as_posix() for rel in good}
    found = {p.relative_to(dst).as_posix() for p in dst.rglob("*") if p.is_file()}
    assert {f for f in found if not f.startswith(".filmrt-batch.")} == expected
    assert not (dst / TMP_DIRNAME).exists()

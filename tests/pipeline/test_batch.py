"""filmrt batch: discovery, manifest, planning (skip / redo / retry), failures, workers.

These tests run the batch machinery with ``fake_convert`` (tests/support/batch.py: repeats
frames, no model) so they check the bookkeeping exactly and fast; test_batch_resume.py and
test_batch_ray.py run the real ``convert`` pipeline (blend model).
"""

from __future__ import annotations

import dataclasses
import json
import os
import random
import shutil
from pathlib import Path

import pytest
from support.batch import (
    BROKEN,
    FakeOptions,
    build_library,
    convert_options,
    count_video_frames,
    fake_convert,
)

from filmrt.cli.main import main
from filmrt.errors import FilmrtError
from filmrt.options import RuntimeOptions
from filmrt.pipeline.batch import TMP_DIRNAME, BatchOptions, run_batch
from filmrt.pipeline.batch import worker as batch_worker
from filmrt.pipeline.batch.discover import find_videos, output_path
from filmrt.pipeline.batch.manifest import MANIFEST_NAME, Lock, Manifest, fingerprint, settings_hash
from filmrt.pipeline.batch.plan import resolve_options
from filmrt.pipeline.batch.report import Progress
from filmrt.pipeline.batch.worker import Job
from filmrt.pipeline.infer import PipelineBlend
from filmrt.pipeline.options import ConvertOptions


@pytest.fixture(scope="module")
def library(shared, tmp_path_factory) -> tuple[Path, dict[str, int]]:
    root = tmp_path_factory.mktemp("batchlib") / "lib"
    good = build_library(shared / "data" / "clips", root)
    return root, good


@pytest.fixture
def lib_copy(library, tmp_path) -> tuple[Path, dict[str, int]]:
    root, good = library
    dst = tmp_path / "lib"
    shutil.copytree(root, dst)
    return dst, good


@pytest.fixture
def convert_log(tmp_path, monkeypatch) -> Path:
    log = tmp_path / "conversions.log"
    monkeypatch.setenv("FILMRT_TEST_CONVERT_LOG", str(log))
    return log


def conversion_lines(log: Path) -> list[list[str]]:
    return [line.split("\t") for line in log.read_text().splitlines()] if log.exists() else []


def conversions(log: Path) -> list[str]:
    """Source paths converted, one entry per conversion."""
    return [fields[0] for fields in conversion_lines(log)]


def leftovers(dst: Path, expected: set[str]) -> list[str]:
    """Files under DST that are neither expected outputs nor the manifest/lock."""
    extra = []
    for p in dst.rglob("*"):
        if p.is_dir():
            continue
        rel = p.relative_to(dst).as_posix()
        if rel.startswith(".filmrt-batch.") or rel in expected:
            continue
        extra.append(rel)
    return extra


# ---------------------------------------------------------------------------------- units
def test_fingerprint_reads_ends_and_size(tmp_path):
    a = tmp_path / "a.bin"
    data = bytearray(os.urandom(3 << 20))
    a.write_bytes(data)
    h = fingerprint(a)
    assert h == fingerprint(a) and len(h) == 64
    os.utime(a, (1, 1))  # mtime alone does not change the content hash
    assert fingerprint(a) == h
    data[-1] ^= 0xFF  # last MiB
    a.write_bytes(data)
    assert fingerprint(a) != h
    data[-1] ^= 0xFF
    data[10] ^= 0xFF  # first MiB
    a.write_bytes(data)
    assert fingerprint(a) != h
    a.write_bytes(bytes(data[:-1]))  # size
    assert fingerprint(a) != h


def test_settings_hash_ignores_execution_fields():
    base = FakeOptions()
    assert settings_hash(base) == settings_hash(FakeOptions(device="cuda", threads=2))
    assert settings_hash(base) != settings_hash(FakeOptions(fps="x3"))
    assert settings_hash(base) != settings_hash(FakeOptions(crf=20))
    assert settings_hash(base) == settings_hash(FakeOptions(fps="x2"))  # a default spelled out
    assert settings_hash(base) == settings_hash(FakeOptions(fps="2x")) == settings_hash(FakeOptions(fps="X2"))
    assert settings_hash(FakeOptions(fps="x2.5")) == settings_hash(FakeOptions(fps="5/2x"))
    # older, flat option objects: their execution fields (quiet, batch) do not count either
    assert settings_hash({"fps": "x3", "quiet": True, "batch": 8}) == settings_hash({"fps": "x3"})

    @dataclasses.dataclass(frozen=True)
    class NewerOptions(ConvertOptions):  # a later filmrt with one more option, at its default
        sharpen: float = 0.0

    assert settings_hash(NewerOptions()) == settings_hash(ConvertOptions())
    assert settings_hash(NewerOptions(sharpen=0.5)) != settings_hash(ConvertOptions())


def test_settings_hash_of_convert_options():
    opts = convert_options(fps="x2", model="blend")
    same = convert_options(fps="x2", model="blend", device="cuda", backend="trt", precision="fp16", max_batch=16)
    assert settings_hash(opts) == settings_hash(same)
    for other in (dict(fps="50"), dict(model="rife-4.25"), dict(crf=10), dict(t=1.0), dict(mode="recursive")):
        assert settings_hash(opts) != settings_hash(convert_options(**{"fps": "x2", "model": "blend", **other}))


def test_find_videos_filters_and_mirrors(library, tmp_path):
    root, good = library
    found = [rel for rel, _ in find_videos(root)]
    assert found == sorted(list(good) + BROKEN)  # no .txt/.md, no hidden file
    assert [r for r, _ in find_videos(root, include=["street/*"])] == ["street/city.mpg", "street/night/bunny.mp4"]
    assert "bikes.mp4" not in [r for r, _ in find_videos(root, exclude=["bikes.mp4"])]
    assert [r for r, _ in find_videos(root, include=["*.mkv"])] == ["cuts/trailer.mkv"]
    # --probe: a video with an unknown extension is found, text is not
    odd = tmp_path / "odd"
    odd.mkdir()
    shutil.copyfile(root / "bikes.mp4", odd / "clip.data")
    (odd / "readme.data").write_text("hello")
    assert find_videos(odd) == []
    assert [r for r, _ in find_videos(odd, probe=True)] == ["clip.data"]
    # DST inside SRC is never walked
    inner = tmp_path / "lib2"
    shutil.copytree(root, inner)
    (inner / "out").mkdir()
    shutil.copyfile(root / "bikes.mp4", inner / "out" / "x.mp4")
    assert "out/x.mp4" in [r for r, _ in find_videos(inner)]
    assert "out/x.mp4" not in [r for r, _ in find_videos(inner, skip=[inner / "out"])]
    # outputs: same tree, containers that cannot take the codec become .mkv
    assert output_path("/d", "a/b.mp4") == Path("/d/a/b.mp4")
    assert output_path("/d", "a/b.mpg") == Path("/d/a/b.mkv")
    assert output_path("/d", "a/b.mpg", "mp4") == Path("/d/a/b.mp4")


def test_progress_counts_frames_once():
    """Per-frame progress from workers, then the result: late or repeated messages add nothing."""
    import io

    p = Progress(total_files=2, total_frames=100, quiet=False, err=io.StringIO())
    a = Job(rel="a", src="a", dst="a", tmp_dst="", options=None, attempt_id=1, estimate=50)
    b = Job(rel="b", src="b", dst="b", tmp_dst="", options=None, attempt_id=2, estimate=50)
    p.frames(1, 20)
    p.frames(1, 40)
    p.frames(2, 10)
    assert p.bar.n == 50
    p.finish(a, 48, ok=True, give_up=False)  # actual count replaces the estimate
    assert (p.bar.n, p.bar.total) == (58, 98)
    p.frames(1, 48)  # a message that arrives after the result
    assert p.bar.n == 58
    p.finish(b, None, ok=False, give_up=True)  # failed: its frames and estimate leave the bar
    assert (p.bar.n, p.bar.total, p.files_done, p.files_failed) == (48, 48, 1, 1)
    p.close()


def test_manifest_lifecycle(tmp_path):
    m = Manifest(tmp_path / MANIFEST_NAME)
    kw = dict(src="/s/a.mp4", dst="/d/a.mp4", size=10, mtime_ns=1, content_hash="h", settings_hash="s")
    m.upsert_source("a.mp4", reset=True, **kw)
    a1 = m.start_attempt("a.mp4", "run1")
    assert m.get("a.mp4")["status"] == "running"
    # a driver killed here: the next run resets it, without counting a failure
    assert m.reset_interrupted() == ["a.mp4"]
    row = m.get("a.mp4")
    assert (row["status"], row["attempts"], row["failures"]) == ("pending", 1, 0)
    assert [h["outcome"] for h in m.history("a.mp4")] == ["interrupted"]
    a2 = m.start_attempt("a.mp4", "run2")
    assert m.finish_failed("a.mp4", a2, {"error": "boom"}, give_up=False) == 1
    assert m.get("a.mp4")["status"] == "pending"
    a3 = m.start_attempt("a.mp4", "run2")
    m.finish_done("a.mp4", a3, {"frames_out": 4, "out_size": 99})
    row = m.get("a.mp4")
    assert (row["status"], row["attempts"], row["failures"], row["out_size"]) == ("done", 3, 1, 99)
    assert m.done_counts() == {"a.mp4": 1}
    assert a1 < a2 < a3
    # a changed source resets the counters
    m.upsert_source("a.mp4", reset=True, **{**kw, "content_hash": "h2"})
    row = m.get("a.mp4")
    assert (row["status"], row["attempts"], row["failures"]) == ("pending", 0, 0)
    m.close()
    with pytest.raises(FilmrtError, match="not a filmrt batch manifest"):
        bad = tmp_path / "bad.sqlite"
        bad.write_bytes(b"x" * 4096)
        Manifest(bad)


# ---------------------------------------------------------------------------------- runs
def test_batch_converts_reports_failures_and_resumes(lib_copy, tmp_path, convert_log):
    src, good = lib_copy
    dst = tmp_path / "out"
    rep = run_batch(
        src, dst, FakeOptions(), converter=fake_convert, workers=0, retries=1,
        json_report=tmp_path / "r1.json", quiet=True,
    )
    by = {f.rel: f for f in rep.files}
    assert sorted(by) == sorted(list(good) + BROKEN)
    for rel, n in good.items():
        f = by[rel]
        assert f.status == "done", (rel, f.reason)
        out = Path(f.dst)
        assert out == output_path(dst, rel) and out.is_file()
        assert count_video_frames(out)["frames"] == 2 * n == f.frames_out
    for rel in BROKEN:
        assert by[rel].status == "failed" and "cannot open" in by[rel].error
        assert by[rel].failures == 2  # 1 + --retries 1
    assert sorted(conversions(convert_log)) == sorted(str(src / r) for r in good)
    assert leftovers(dst, {Path(by[r].dst).relative_to(dst).as_posix() for r in good}) == []
    assert not (dst / TMP_DIRNAME).exists()
    js = json.loads((tmp_path / "r1.json").read_text())
    assert js["counts"] == {"done": len(good), "failed": len(BROKEN)}
    assert {f["rel"]: f["status"] for f in js["files"]} == {f.rel: f.status for f in rep.files}

    # same command again: nothing converted, failures not retried, both reported
    rep2 = run_batch(src, dst, FakeOptions(), converter=fake_convert, workers=0, retries=1, quiet=True)
    assert rep2.counts() == {"skipped": len(good), "failed": len(BROKEN)}
    assert all("gave up earlier" in f.reason for f in rep2.failed)
    assert len(conversions(convert_log)) == len(good)
    with Manifest(dst / MANIFEST_NAME) as m:
        assert m.done_counts() == {r: 1 for r in good}


def test_dry_run_and_redo_rules(lib_copy, tmp_path, convert_log):
    src, good = lib_copy
    dst = tmp_path / "out"
    # dry run on a fresh DST: everything listed, nothing written
    rep = run_batch(src, dst, FakeOptions(), converter=fake_convert, dry_run=True, quiet=True)
    assert rep.counts() == {"convert": len(good) + len(BROKEN)}
    assert {f.reason for f in rep.files} == {"new"}
    assert not dst.exists()
    run_batch(src, dst, FakeOptions(), converter=fake_convert, workers=0, retries=0, quiet=True)
    assert len(conversions(convert_log)) == len(good)
    snap = (dst / MANIFEST_NAME).read_bytes()

    # changes: one source replaced, one output deleted, then the settings
    shutil.copyfile(src / "a/b/c/deep.mov", src / "bikes.mp4")  # other content, other size
    changed_out = output_path(dst, "street/night/bunny.mp4")
    changed_out.unlink()
    clobbered = output_path(dst, "cuts/trailer.mkv")  # same size, garbage inside: no longer provably
    # batch's (other mtime, no mark: fake_convert writes none), so it is not replaced without --overwrite
    # seeded garbage: unseeded bytes are now and then read by FFmpeg as a file without video
    clobbered.write_bytes(random.Random(7).randbytes(clobbered.stat().st_size))
    rep = run_batch(src, dst, FakeOptions(), converter=fake_convert, dry_run=True, retries=0, quiet=True)
    reasons = {f.rel: (f.status, f.reason) for f in rep.files}
    assert reasons["bikes.mp4"] == ("convert", "source changed")
    assert reasons["street/night/bunny.mp4"] == ("convert", "output missing")
    assert reasons["cuts/trailer.mkv"][0] == "failed" and "not made by filmrt batch" in reasons["cuts/trailer.mkv"][1]
    assert reasons["street/city.mpg"] == ("skip", "done earlier")
    assert reasons["broken/random.mp4"][0] == "failed"
    assert (dst / MANIFEST_NAME).read_bytes() == snap  # a dry run writes nothing
    rep = run_batch(src, dst, FakeOptions(), converter=fake_convert, dry_run=True, retries=0, retry_failed=True)
    assert {f.rel: f.status for f in rep.files}["broken/random.mp4"] == "convert"
    # a higher --retries gives failed files more attempts
    rep = run_batch(src, dst, FakeOptions(), converter=fake_convert, dry_run=True, retries=1)
    assert {f.rel: f.reason for f in rep.files}["broken/random.mp4"].startswith("retry (1 failed")

    before = len(conversions(convert_log))
    rep = run_batch(src, dst, FakeOptions(), converter=fake_convert, workers=0, retries=0, quiet=True,
                    overwrite=True)
    redone = conversions(convert_log)[before:]
    assert sorted(redone) == sorted(str(src / r) for r in ("bikes.mp4", "street/night/bunny.mp4", "cuts/trailer.mkv"))
    assert count_video_frames(output_path(dst, "bikes.mp4"))["frames"] == 2 * good["a/b/c/deep.mov"]

    # new settings: every good file is redone (x3 frames), the broken ones tried again
    before = len(conversions(convert_log))
    rep = run_batch(src, dst, FakeOptions(fps="x3"), converter=fake_convert, workers=0, retries=0, quiet=True)
    assert len(conversions(convert_log)) - before == len(good)
    assert rep.counts() == {"done": len(good), "failed": len(BROKEN)}
    for rel in good:
        n = good["a/b/c/deep.mov"] if rel == "bikes.mp4" else good[rel]
        assert count_video_frames(output_path(dst, rel))["frames"] == 3 * n
    with Manifest(dst / MANIFEST_NAME) as m:
        shash = settings_hash(resolve_options(FakeOptions(fps="x3")))  # the default model pinned
        assert rep.settings_hash == shash
        assert m.done_counts(settings_hash=shash) == {r: 1 for r in good}


def crash_on_bunny(src, dst, options, *, interpolator=None, on_progress=None):
    """A converter whose worker process dies (like a segfault) on one file."""
    if "bunny" in str(src):
        os._exit(13)
    return fake_convert(src, dst, options, interpolator=interpolator, on_progress=on_progress)


def test_local_workers_pinned_to_gpus_survive_a_dying_worker(lib_copy, tmp_path, convert_log, monkeypatch):
    """Local worker processes, one model each, pinned with --gpus 0,1; one file kills its worker.

    Each worker sees one GPU (CUDA_VISIBLE_DEVICES) and runs on "cuda" (no GPU needed: the fake
    converter only records what its worker was given; torch.cuda.device_count is faked for the
    driver's check). The file that crashes its worker fails alone; the file converting beside
    it is redone without being charged a failure; the pool is rebuilt with the same pinning.
    """
    import torch

    src, good = lib_copy
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    with pytest.raises(FilmrtError, match="this machine has 2 GPU"):
        run_batch(src, tmp_path / "x", FakeOptions(), converter=crash_on_bunny, gpus=[0, 5], quiet=True)
    dst = tmp_path / "out"
    rep = run_batch(
        src, dst, FakeOptions(), converter=crash_on_bunny, gpus=[0, 1], workers=2, retries=0, quiet=True,
        include=["street/*", "bikes.mp4"],
    )
    assert "GPU(s) 0,1" in rep.runner
    st = {f.rel: f for f in rep.files}
    assert st["bikes.mp4"].status == st["street/city.mpg"].status == "done"
    bunny = st["street/night/bunny.mp4"]
    assert bunny.status == "failed" and "worker process died" in bunny.error
    assert bunny.failures == 1
    lines = conversion_lines(convert_log)
    # the crash breaks the whole pool: a neighbour that had already finished when it was noticed is
    # converted once more (never charged a failure); the crashing file never gets to the log
    converted = [f[0] for f in lines]
    assert set(converted) == {str(src / "bikes.mp4"), str(src / "street/city.mpg")}
    assert all(converted.count(x) <= 2 for x in converted)
    assert {visible for _, visible, _ in lines} <= {"0", "1"}
    assert {device for _, _, device in lines} == {"cuda"}
    with Manifest(dst / MANIFEST_NAME) as m:
        assert m.get("bikes.mp4")["failures"] == m.get("street/city.mpg")["failures"] == 0
        worker = m.get("bikes.mp4")["worker"]
    assert int(worker.split(":")[1]) != os.getpid()  # it ran in a worker process


def interrupt_on_city(src, dst, options, *, interpolator=None, on_progress=None):
    """Ctrl-C arrives while converting one file."""
    if "city" in str(src):
        raise KeyboardInterrupt
    return fake_convert(src, dst, options, interpolator=interpolator, on_progress=on_progress)


def test_interrupted_run_leaves_jobs_pending_and_resumes(lib_copy, tmp_path, convert_log):
    src, good = lib_copy
    dst = tmp_path / "out"
    with pytest.raises(KeyboardInterrupt):
        run_batch(src, dst, FakeOptions(), converter=interrupt_on_city, workers=0, quiet=True,
                  json_report=tmp_path / "r.json")
    js = json.loads((tmp_path / "r.json").read_text())
    assert js["interrupted"] is True
    status = {f["rel"]: f["status"] for f in js["files"]}
    assert status["street/city.mpg"] == "pending"
    assert not output_path(dst, "street/city.mpg").exists()
    with Manifest(dst / MANIFEST_NAME) as m:
        row = m.get("street/city.mpg")
        assert (row["status"], row["failures"]) == ("pending", 0)  # an interruption is no failure
        assert [h["outcome"] for h in m.history("street/city.mpg")] == ["interrupted"]
        done_before = {r for r, row in m.rows().items() if row["status"] == "done"}
    n = len(conversions(convert_log))
    rep = run_batch(src, dst, FakeOptions(), converter=fake_convert, workers=0, quiet=True)
    assert {f.rel for f in rep.files if f.status == "done"} == set(good) - done_before
    assert len(conversions(convert_log)) - n == len(good) - len(done_before)
    assert not (dst / TMP_DIRNAME).exists()


def test_real_convert_one_model_per_worker(lib_copy, tmp_path, monkeypatch):
    """With the real convert (blend on PyTorch), a worker opens the model once and reuses it for
    every file; blend on --backend auto opens no runtime at all (the pipeline blends planes)."""
    src, good = lib_copy
    opened = []
    real_open = batch_worker.open_interpolator

    def counting_open(*a, **k):
        opened.append((a, k))
        return real_open(*a, **k)

    monkeypatch.setattr(batch_worker, "open_interpolator", counting_open)
    # the worker state is an object: one model per worker, kept while the options stay the same
    worker = batch_worker.Worker()
    model = worker.interpolator(RuntimeOptions(model="blend", backend="torch"))
    assert worker.interpolator(RuntimeOptions(model="blend", backend="torch")) is model and len(opened) == 1
    assert worker.interpolator(RuntimeOptions(model="blend", backend="torch", max_batch=2)) is not model
    assert len(opened) == 2
    assert isinstance(worker.interpolator(RuntimeOptions(model="blend")), PipelineBlend) and len(opened) == 2
    worker.close()
    opened.clear()

    # the in-process runner's worker opens the model once for every file of the run
    opts = convert_options(fps="x2", model="blend", backend="torch", preset="ultrafast")
    rep = run_batch(src, tmp_path / "out", opts, workers=0, include=["street/*", "bikes.mp4"], quiet=True)
    assert rep.counts() == {"done": 3}
    assert len(opened) == 1 and opened[0][0][0].model == "blend"
    for f in rep.files:
        assert abs(count_video_frames(f.dst)["frames"] - 2 * good[f.rel]) <= 1


def test_second_driver_on_same_dst_is_refused(lib_copy, tmp_path):
    src, _ = lib_copy
    dst = tmp_path / "out"
    dst.mkdir()
    with Lock(dst):
        with pytest.raises(FilmrtError, match="another `filmrt batch` is running"):
            run_batch(src, dst, FakeOptions(), converter=fake_convert, workers=0, quiet=True)
    with pytest.raises(FilmrtError, match="DST must differ"):
        run_batch(src, src, FakeOptions(), converter=fake_convert, workers=0, quiet=True)


def test_bad_rate_or_model_fails_before_dst_and_manifest_exist(lib_copy, tmp_path, capsys):
    """--fps abc and --model bogus are refused before DST, its manifest or a worker exist."""
    src, _ = lib_copy
    dst = tmp_path / "out"
    assert main(["batch", str(src), str(dst), "--fps", "abc", "--quiet"]) == 2
    assert "--fps 'abc' is not a rate" in capsys.readouterr().err
    assert not dst.exists()
    assert main(["batch", str(src), str(dst), "--fps", "x2", "--model", "bogus", "--quiet"]) == 2
    assert "unknown model 'bogus'" in capsys.readouterr().err
    assert not dst.exists()
    with pytest.raises(FilmrtError, match="unknown model 'bogus'"):
        run_batch(src, dst, FakeOptions(model="bogus"), converter=fake_convert, workers=0, quiet=True)
    assert not dst.exists()

    @dataclasses.dataclass(frozen=True)
    class LooseOptions:  # a custom converter's options, not validated when made
        fps: str = "abc"
        runtime: RuntimeOptions = dataclasses.field(default_factory=RuntimeOptions)

    dst.mkdir()  # an existing DST gets no manifest either
    with pytest.raises(FilmrtError, match="is not a rate"):
        run_batch(src, dst, LooseOptions(), converter=fake_convert, workers=0, quiet=True)
    with pytest.raises(FilmrtError, match="--retries must be >= 0"):
        run_batch(src, dst, FakeOptions(), converter=fake_convert, retries=-1)
    assert list(dst.iterdir()) == []


def test_batch_options_are_validated_when_made():
    assert BatchOptions(gpus="1, 0").gpus == (1, 0)
    assert BatchOptions(gpus=[2]).gpus == (2,)
    assert BatchOptions(include="*.mkv").include == ("*.mkv",)
    assert BatchOptions(ray="").local and not BatchOptions(ray=True).local
    for bad, match in ((dict(gpus="0,x"), "--gpus"), (dict(gpus="-1"), "--gpus"), (dict(workers=-1), "--workers"),
                       (dict(retries=-1), "--retries")):
        with pytest.raises(FilmrtError, match=match):
            BatchOptions(**bad)
    with pytest.raises(TypeError):
        run_batch(".", "out", FakeOptions(), BatchOptions(), threads=2)  # not a batch option: --threads is the runtime's

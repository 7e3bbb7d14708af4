"""The batch driver: the one process that plans a run, hands jobs to workers and keeps the manifest.

:func:`run_batch` makes a :class:`BatchRun` and runs its steps:

1. :meth:`BatchRun.prepare`: checks SRC, DST and the options (a bad rate or an unknown model fails
   here, before DST or its manifest exist), pins the model, hashes the settings, finds the videos;
2. :meth:`BatchRun.dry_run` (``dry_run=True``): plans against the manifest read-only and prints
   what would happen, changing nothing; or
3. :meth:`BatchRun.dispatch`: creates DST, takes its lock, opens the manifest, plans (recording
   the plan), and feeds the jobs to a runner (:mod:`~filmrt.pipeline.batch.runners`) as fast as it
   takes them; each result is recorded: a finished output is moved into place
   (:func:`place_output`), a failure is retried up to ``retries`` times, a crash shared by
   several files is re-run one file at a time;
4. :meth:`BatchRun.finish`: the summary table and the JSON report.

Ctrl-C, SIGTERM and SIGHUP stop the run cleanly: workers are killed, unfinished attempts are recorded as
interrupted (not failures), the JSON report says ``interrupted``, and the next run resumes.
"""

from __future__ import annotations

import dataclasses
import errno
import json
import os
import shutil
import sqlite3
import sys
import time
from collections import deque
from pathlib import Path

from filmrt.errors import FilmrtError
from filmrt.fileio import atomic_path, check_distinct, output_exists
from filmrt.interrupts import signals_as_interrupt
from filmrt.pipeline.batch.discover import find_videos, output_path
from filmrt.pipeline.batch.manifest import (
    LOCK_NAME,
    MANIFEST_NAME,
    Lock,
    Manifest,
    head_hash,
    settings_dict,
    settings_hash,
)
from filmrt.pipeline.batch.options import BatchOptions, JobOptions
from filmrt.pipeline.batch.plan import check_options, estimate_output_frames, plan, resolve_options
from filmrt.pipeline.batch.report import (
    BatchReport,
    FileReport,
    Progress,
    fmt_seconds,
    print_plan,
    print_summary,
    write_report,
)
from filmrt.pipeline.batch.runners import check_gpus, make_runner
from filmrt.pipeline.batch.worker import Converter, Job
from filmrt.pipeline.io.verify import failed_name

#: per-attempt work folders under DST (deleted when a run starts and when it ends)
TMP_DIRNAME = ".filmrt-batch-tmp"


def keep_failed_beside(tmp_dst: str, dst: str, res: dict) -> None:
    """``--keep-failed``: the output that failed verification (``OUT.failed-verify.<ext>`` beside the
    attempt's temp file) moves beside the final OUT, and the error names it there: the attempt's
    folder is removed after it (the kept file went with it, though the message said it was kept)."""
    kept, final = failed_name(tmp_dst), failed_name(dst)
    if not res.get("ok") and os.path.isfile(kept):
        os.replace(kept, final)
        res["error"] = str(res.get("error", "")).replace(kept, final)


def place_output(tmp: Path, final: Path) -> None:
    """Move a finished output to its final place atomically.

    The attempt folder is under DST, so this is one rename (the fast path). When DST's tree spans
    filesystems (a subfolder that is a mount point) the rename fails with EXDEV and the file is
    copied instead, through :func:`filmrt.fileio.atomic_path` (a temp file beside ``final``,
    renamed over it): fileio has no move, and a rename cannot cross filesystems.
    """
    final.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.replace(tmp, final)
    except OSError as e:
        if e.errno != errno.EXDEV:
            raise
        with atomic_path(final) as part:
            shutil.copyfile(tmp, part)


def _is_json(path) -> bool:
    """True when ``path`` holds a JSON document (an earlier report), so --json may replace it."""
    try:
        with open(path, "rb") as f:
            json.load(f)
    except (OSError, ValueError):
        return False
    return True


class BatchRun:
    """One run of ``filmrt batch``: prepare, then dry_run or dispatch, then finish."""

    def __init__(self, src, dst, options: JobOptions, batch: BatchOptions, *, converter: Converter | None = None,
                 out=None, err=None):
        self.src_arg, self.dst_arg = src, dst
        self.options = options
        self.batch = batch
        self.converter = converter
        self.out = out or sys.stdout
        self.err = err or sys.stderr
        self.t_start = time.time()
        self.src = Path(src).resolve()
        self.dst = Path(dst).resolve()
        self.files: list[tuple[str, Path]] = []
        self.report: BatchReport | None = None

    # ------------------------------------------------------------------------------- prepare
    def prepare(self) -> None:
        """Everything that can fail without creating anything: paths, options, GPUs; then discovery."""
        if not self.src.exists():
            raise FilmrtError(f"source not found: {self.src_arg}")
        if self.src == self.dst:
            raise FilmrtError("DST must differ from SRC (outputs would replace the sources)")
        check_options(self.options)
        b = self.batch
        if b.gpus and b.local and not b.dry_run:
            check_gpus(b.gpus, b.workers)
        self.options = resolve_options(self.options)
        self.report = BatchReport(
            src=str(self.src), dst=str(self.dst), settings=settings_dict(self.options),
            settings_hash=settings_hash(self.options), dry_run=b.dry_run,
        )
        self.files = find_videos(self.src, include=b.include, exclude=b.exclude, probe=b.probe, skip=[self.dst],
                                 left_out=self.report.left_out)
        if b.json_report:
            self._check_json(b.json_report)

    def _check_json(self, path) -> None:
        """Refuse, before anything is created, a --json REPORT that would replace something: an
        input video, an output (or the manifest, the lock) in DST, or any existing file that is
        not a JSON report (convert's rule, :func:`~filmrt.fileio.check_distinct`, plus that)."""
        others = [p for _, p in self.files]
        others += [output_path(self.dst, rel, self.batch.ext) for rel, _ in self.files]
        others += [self.dst / MANIFEST_NAME, self.dst / LOCK_NAME]
        check_distinct(path, others, "--json")
        if output_exists(path) and not _is_json(path):
            raise FilmrtError(f"--json {path} exists and is not a JSON report: not overwritten "
                              "(name a new file, or an earlier report)")

    def _plan(self, manifest: Manifest | None, *, write: bool) -> list[Job]:
        jobs, self.report.files = plan(
            self.files, self.dst, manifest, settings_hash=self.report.settings_hash, batch=self.batch,
            write=write, options=self.options,
        )
        return jobs

    # ------------------------------------------------------------------------------- dry run
    def dry_run(self) -> BatchReport:
        """Plan against the manifest, read-only; print the plan. Nothing is created or changed."""
        mpath = self.dst / MANIFEST_NAME
        manifest = Manifest(mpath, readonly=True) if mpath.is_file() else None
        try:
            self._plan(manifest, write=False)
            if manifest is not None:
                rows = manifest.rows().items()
                self.report.reset_running = [r for r, row in rows if row["status"] == "running"]
        finally:
            if manifest is not None:
                manifest.close()
        self.report.runner = "dry run"
        self.report.seconds = time.time() - self.t_start
        print_plan(self.report, self.out)
        self._write_json()
        return self.report

    # ------------------------------------------------------------------------------- dispatch
    def dispatch(self) -> BatchReport:
        """Create DST, lock it, plan into the manifest, convert every planned file, then finish."""
        try:
            self.dst.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise FilmrtError(f"cannot create DST {self.dst}: {e.strerror or e}") from None
        with Lock(self.dst), Manifest(self.dst / MANIFEST_NAME) as manifest:
            try:
                return self._dispatch(manifest)
            except sqlite3.Error as e:  # disk full, I/O error: every write is one transaction, rolled back
                raise FilmrtError(
                    f"cannot write the batch manifest {manifest.path}: {e} (free space on DST and run the same "
                    "command again: finished outputs are kept)"
                ) from None

    def _dispatch(self, manifest: Manifest) -> BatchReport:
        """Plan into the manifest, run every planned job, finish (DST exists and is locked)."""
        jobs = self._start(manifest)
        progress = Progress(len(jobs), sum(j.estimate or 0 for j in jobs), self.batch.quiet, self.err)
        self._log_start(progress)
        if not jobs:
            progress.close()
            self.report.runner = "nothing to do"
            return self.finish()
        try:
            runner = make_runner(self.batch, self.options, self.converter, progress.frames)
        except BaseException:
            progress.close()
            raise
        self.report.runner = runner.describe
        n_skip = sum(1 for f in self.report.files if f.status == "skipped")
        progress.log(
            f"filmrt batch: {len(jobs)} to convert, {n_skip} already done, "
            f"{len(self.report.files) - len(jobs) - n_skip} failed earlier; {runner.describe}"
        )
        with signals_as_interrupt():
            _Dispatcher(self, manifest, runner, progress, jobs).run()
        progress.close()
        shutil.rmtree(self.dst / TMP_DIRNAME, ignore_errors=True)
        return self.finish()

    def _start(self, manifest: Manifest) -> list[Job]:
        """Reset what a killed run left, record this run's settings, plan; estimate frames for the bar."""
        self.report.reset_running = manifest.reset_interrupted()
        shutil.rmtree(self.dst / TMP_DIRNAME, ignore_errors=True)  # stale attempt folders of killed runs
        manifest.set_meta("settings", json.dumps(self.report.settings, sort_keys=True, default=str))
        manifest.set_meta("src", str(self.src))
        jobs = self._plan(manifest, write=True)
        if not self.batch.quiet:
            for job in jobs:
                job.estimate = estimate_output_frames(job.src, self.options)
        return jobs

    def _log_start(self, progress: Progress) -> None:
        if self.report.reset_running:
            progress.log(f"reset {len(self.report.reset_running)} job(s) left running by an interrupted run")
        if not self.files:
            progress.log(
                f"no videos under {self.src} (taken by extension: .mp4 .mkv .mov .avi .mpg .ts ...; "
                "--probe also opens other files)",
                important=True,
            )

    # ------------------------------------------------------------------------------- finish
    def finish(self) -> BatchReport:
        self.report.seconds = time.time() - self.t_start
        print_summary(self.report, self.out)
        self._write_json()
        return self.report

    def _write_json(self) -> None:
        if self.batch.json_report:
            write_report(self.report, self.batch.json_report)

    def interrupted(self) -> None:
        """The run stops early (Ctrl-C, SIGTERM, workers that cannot start): say so in the report."""
        self.report.interrupted = True
        for f in self.report.files:
            if f.status == "convert":
                f.status, f.reason = "pending", "interrupted before it finished"
        self.report.seconds = time.time() - self.t_start
        try:
            self._write_json()
        except FilmrtError:  # the report's disk may be the full one: the error that stopped the run is said
            pass

    def run(self) -> BatchReport:
        self.prepare()
        return self.dry_run() if self.batch.dry_run else self.dispatch()


class _Dispatcher:
    """The dispatch loop of one run: keeps the runner full, records each result in the manifest.

    Files that crashed a worker together with others (``isolate``) are suspects: they are re-run
    one at a time, alone on the runner, so the file that really crashes is the one that fails.
    """

    def __init__(self, run: BatchRun, manifest: Manifest, runner, progress: Progress, jobs: list[Job]):
        self.batch_run = run
        self.manifest = manifest
        self.runner = runner
        self.progress = progress
        self.retries = run.batch.retries
        self.by_rel: dict[str, FileReport] = {f.rel: f for f in run.report.files}
        self.queue: deque[Job] = deque(jobs)
        self.inflight: dict[int, Job] = {}
        self.failures = {j.rel: self.by_rel[j.rel].failures for j in jobs}
        self.suspects: deque[Job] = deque()  # crashed together with others: re-run one at a time
        self.isolated: set[str] = set()
        self.tmp_root = run.dst / TMP_DIRNAME

    def run(self) -> None:
        try:
            while self.queue or self.inflight or self.suspects:
                if self.suspects:
                    if not self.inflight:
                        self._submit(self.suspects.popleft())
                else:
                    while self.queue and len(self.inflight) < self.runner.capacity:
                        self._submit(self.queue.popleft())
                for job, res in self.runner.wait(0.25):
                    self._handle(job, res)
        except BaseException:  # Ctrl-C, SIGTERM, workers that cannot start, a full disk, a bug: stop cleanly
            self.runner.shutdown(kill=True)
            try:
                for job in self.inflight.values():
                    self.manifest.finish_interrupted(job.rel, job.attempt_id)
            except sqlite3.Error:  # the manifest cannot be written (disk full): the next run resets them
                pass
            self.progress.close()
            self.batch_run.interrupted()
            raise
        self.runner.shutdown()

    def _submit(self, job: Job) -> None:
        job.attempt_id = self.manifest.start_attempt(job.rel, self.batch_run.report.run_id)
        job.tmp_dst = str(self.tmp_root / str(job.attempt_id) / Path(job.dst).name)
        self.inflight[job.attempt_id] = job
        self.runner.submit(job)

    def _handle(self, job: Job, res: dict) -> None:
        self.inflight.pop(job.attempt_id, None)
        self.by_rel[job.rel].attempts += 1
        if res.get("ok"):
            try:
                place_output(Path(job.tmp_dst), Path(job.dst))
                st = Path(job.dst).stat()
                res["out_size"], res["out_mtime_ns"] = st.st_size, st.st_mtime_ns
                res["out_head"] = head_hash(job.dst, st.st_size)
            except OSError as e:
                res.update(ok=False, error=f"cannot move the output into place: {e}")
        keep_failed_beside(job.tmp_dst, job.dst, res)
        shutil.rmtree(Path(job.tmp_dst).parent, ignore_errors=True)
        if res.get("ok"):
            self._done(job, res)
            return
        self.progress.finish(job, None, False, False)
        again = dataclasses.replace(job, attempt_id=0, tmp_dst="")
        if res.get("requeue") or res.get("isolate"):
            self._not_charged(job, res, again)
        else:
            self._failed(job, res, again)

    def _done(self, job: Job, res: dict) -> None:
        self.manifest.finish_done(job.rel, job.attempt_id, res)
        rep = self.by_rel[job.rel]
        rep.status, rep.reason, rep.error = "done", "converted", None
        rep.seconds, rep.frames_in, rep.frames_out = res.get("seconds"), res.get("frames_in"), res.get("frames_out")
        rep.worker, rep.warnings = res.get("worker"), res.get("warnings") or []
        rep.temporal = res.get("temporal") or {}
        self.progress.finish(job, res.get("frames_out"), True, False)
        fps = (res["frames_out"] / res["seconds"]) if res.get("seconds") else 0.0
        self.progress.log(
            f"done    {job.rel}: {res.get('frames_in') or '?'} -> {res.get('frames_out')} frames "
            f"in {fmt_seconds(res.get('seconds'))} ({fps:.1f} frames/s) [{res.get('worker')}]"
        )
        for w in rep.warnings:
            self.progress.log(f"warning {job.rel}: damaged input: {w}", important=True)
        rep.video, rep.dropped = res.get("video") or {}, res.get("dropped") or []
        for d in rep.dropped:
            self.progress.log(f"warning {job.rel}: {d}", important=True)
        rep.output = res.get("output") or {}
        for d in rep.streams_dropped:
            self.progress.log(f"note    {job.rel}: stream {d}")

    def _not_charged(self, job: Job, res: dict, again: Job) -> None:
        """Not this file's fault (yet): the pool broke before it started, or beside other files."""
        self.manifest.finish_interrupted(job.rel, job.attempt_id, res.get("error"))
        if res.get("isolate"):
            self.isolated.add(job.rel)
            self.suspects.append(again)
            self.progress.log(
                f"crash   {job.rel}: a worker died while several files were converting; "
                "re-running them one at a time to find the culprit",
                important=True,
            )
        else:
            self.queue.appendleft(again)

    def _failed(self, job: Job, res: dict, again: Job) -> None:
        self.failures[job.rel] += 1
        n = self.failures[job.rel]
        give_up = n > self.retries or bool(res.get("permanent"))  # not a video: once is enough
        self.manifest.finish_failed(job.rel, job.attempt_id, res, give_up=give_up)
        rep = self.by_rel[job.rel]
        rep.failures, rep.worker = n, res.get("worker")
        rep.error = res.get("error") or "unknown error"
        if give_up:
            self.progress.finish(job, None, False, True)
            rep.status, rep.reason = "failed", f"failed after {n} attempt(s): {rep.error}"
            self.progress.log(f"FAILED  {job.rel}: {rep.error} (attempt {n}, giving up)", important=True)
            return
        self.progress.log(f"retry   {job.rel}: {rep.error} (attempt {n} of {self.retries + 1})", important=True)
        if job.rel in self.isolated:
            self.suspects.append(again)  # a crasher is retried alone
        else:
            self.queue.append(again)


def run_batch(src: str | os.PathLike, dst: str | os.PathLike, options: JobOptions, batch: BatchOptions | None = None, /, *,
              converter: Converter | None = None, out=None, err=None, **fields) -> BatchReport:
    """Convert every video under ``src`` into the mirrored tree under ``dst``; see the package doc.

    ``options``: the :class:`~filmrt.pipeline.options.ConvertOptions` of every file. ``batch``: the
    :class:`~filmrt.pipeline.batch.options.BatchOptions` of the run, or its fields as keywords
    (``run_batch(src, dst, options, workers=2, retries=1)``; validated by BatchOptions, an unknown
    one raises TypeError). ``converter``: a picklable function with ``convert``'s signature,
    called with ``interpolator=None`` (tests, custom pipelines); None = the convert pipeline.
    ``out``/``err``: where the summary / the progress and log lines go (stdout / stderr).
    Returns a :class:`BatchReport` (also written as JSON to ``batch.json_report``).
    """
    if batch is None:
        batch = BatchOptions(**fields)
    elif fields:
        batch = batch.replace(**fields)
    return BatchRun(src, dst, options, batch, converter=converter, out=out, err=err).run()

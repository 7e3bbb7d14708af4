"""What a batch run tells its user: the progress bar, per-file lines, the summary table, the JSON report.

:class:`BatchReport` (one :class:`FileReport` per source file) is the result of
:func:`filmrt.pipeline.batch.run_batch`; :meth:`BatchReport.to_dict` is the ``--json`` report.
:class:`Progress` draws one tqdm bar over all output frames (files done, throughput, ETA) and the
per-file log lines; the estimate of each file's frames is replaced by its real count when it
finishes, and late progress messages of a finished attempt are ignored.
"""

from __future__ import annotations

import dataclasses
import os
import socket
import time
from pathlib import Path

from tqdm import tqdm

from filmrt.fileio import write_json
from filmrt.pipeline.batch.manifest import FINGERPRINT_KIND, MANIFEST_NAME
from filmrt.pipeline.batch.worker import Job
from filmrt.pipeline.io.target import dropped_streams


@dataclasses.dataclass
class FileReport:
    rel: str
    src: str
    dst: str
    #: done (converted now) | skipped (done earlier) | failed | pending (not finished) |
    #: convert / skip / failed (dry run: what would happen)
    status: str
    reason: str = ""
    attempts: int = 0
    failures: int = 0
    seconds: float | None = None
    frames_in: int | None = None
    frames_out: int | None = None
    worker: str | None = None
    error: str | None = None
    #: problems the converter found in the input (damaged packets...): the output holds what was readable
    warnings: list[str] = dataclasses.field(default_factory=list)
    #: ConvertResult.temporal: interlacing/cadence/duplicates detected, what was done
    temporal: dict = dataclasses.field(default_factory=dict)
    #: the video encoding chosen (ConvertResult.video) and what the output could not carry (ConvertResult.dropped)
    video: dict = dataclasses.field(default_factory=dict)
    dropped: list[str] = dataclasses.field(default_factory=list)
    #: the output decision (ConvertResult.output: container, encoder, every input stream's fate)
    output: dict = dataclasses.field(default_factory=dict)

    @property
    def streams_dropped(self) -> list[str]:
        """The input streams left out of the output, with the reason (read from :attr:`output`)."""
        return dropped_streams(self.output)

    def fail(self, why: str) -> None:
        self.status, self.reason, self.error = "failed", why, why


def _run_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{time.strftime('%Y%m%dT%H%M%S')}"


@dataclasses.dataclass
class BatchReport:
    src: str
    dst: str
    settings: dict
    settings_hash: str
    runner: str = ""
    dry_run: bool = False
    interrupted: bool = False
    seconds: float = 0.0
    files: list[FileReport] = dataclasses.field(default_factory=list)
    reset_running: list[str] = dataclasses.field(default_factory=list)
    #: what under SRC was not walked or not taken, by reason (relative paths; folders end in "/"):
    #: hidden files and folders, symlinked folders, FIFOs/devices named like videos...
    left_out: dict[str, list[str]] = dataclasses.field(default_factory=dict)
    #: this run's id, recorded with every attempt in the manifest: driver host, pid, start time
    run_id: str = dataclasses.field(default_factory=_run_id)

    def counts(self) -> dict[str, int]:
        c: dict[str, int] = {}
        for f in self.files:
            c[f.status] = c.get(f.status, 0) + 1
        return c

    @property
    def failed(self) -> list[FileReport]:
        return [f for f in self.files if f.status == "failed"]

    @property
    def frames_out(self) -> int:
        return sum(f.frames_out or 0 for f in self.files if f.status == "done")

    def to_dict(self) -> dict:
        d = dataclasses.asdict(self)
        d["counts"] = self.counts()
        d["frames_out"] = self.frames_out
        d["manifest"] = str(Path(self.dst) / MANIFEST_NAME)
        d["fingerprint"] = FINGERPRINT_KIND
        return d


def write_report(report: BatchReport, path: str | os.PathLike) -> None:
    """The JSON report (atomic write; the report's folder is created when missing)."""
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    write_json(path, report.to_dict())


class Progress:
    """The overall bar (output frames, files, throughput, ETA) and the per-file log lines."""

    def __init__(self, total_files: int, total_frames: int, quiet: bool, err):
        self.err = err
        self.quiet = quiet
        self.total_files = total_files
        self.files_done = 0
        self.files_failed = 0
        self.bar = None
        if not quiet and total_files:
            self.bar = tqdm(
                total=total_frames or None,
                unit="frame",
                desc="batch",
                file=err,
                dynamic_ncols=True,
                smoothing=0.05,
            )
            self._postfix()
        self.reported: dict[int, int] = {}  # attempt id -> frames counted on the bar
        self.finished: set[int] = set()  # attempts whose late progress messages are ignored

    def _postfix(self) -> None:
        if self.bar is not None:
            s = f"files {self.files_done}/{self.total_files}"
            if self.files_failed:
                s += f", {self.files_failed} failed"
            self.bar.set_postfix_str(s, refresh=False)

    def frames(self, attempt_id: int, frames_done: int) -> None:
        """A worker's progress: ``frames_done`` output frames written so far by that attempt."""
        if self.bar is None or attempt_id in self.finished:
            return
        delta = frames_done - self.reported.get(attempt_id, 0)
        if delta > 0:
            self.reported[attempt_id] = frames_done
            self.bar.update(delta)

    def finish(self, job: Job, frames_out: int | None, ok: bool, give_up: bool) -> None:
        got = self.reported.pop(job.attempt_id, 0)
        self.finished.add(job.attempt_id)
        if ok:
            self.files_done += 1
        elif give_up:
            self.files_failed += 1
        if self.bar is None:
            return
        est = job.estimate or 0
        if ok:
            if self.bar.total is not None:
                self.bar.total += (frames_out or 0) - est
            self.bar.update((frames_out or 0) - got)
        else:
            self.bar.update(-got)
            if give_up and self.bar.total is not None:
                self.bar.total -= est
        self._postfix()
        self.bar.refresh()

    def log(self, msg: str, *, important: bool = False) -> None:
        if self.quiet and not important:
            return
        msg = shown(msg)
        if self.bar is not None:
            self.bar.write(msg, file=self.err)
        else:
            print(msg, file=self.err, flush=True)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def shown(text: str) -> str:
    """Text as it can be printed on any terminal: the bytes of a file name that is not UTF-8
    (held with surrogates) as ``\\xff`` escapes, instead of a UnicodeEncodeError."""
    return text.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")


def fmt_seconds(s: float | None) -> str:
    if s is None:
        return "-"
    if s < 60:
        return f"{s:.1f} s"
    if s < 3600:
        return f"{int(s // 60)} min {int(s % 60):02d} s"
    return f"{int(s // 3600)} h {int(s % 3600 // 60):02d} min"


def _table(rows: list[tuple[str, ...]], out) -> None:
    rows = [tuple(shown(c) for c in r) for r in rows]
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    for r in rows:
        print(
            "  ".join(c.ljust(w) for c, w in zip(r[:-1], widths[:-1], strict=True)) + "  " + r[-1], file=out
        )


def print_left_out(report: BatchReport, out, most: int = 5) -> None:
    """One line per reason something under SRC was left out, with the first few names."""
    for why, rels in sorted(report.left_out.items()):
        names = ", ".join(rels[:most]) + (f", ... ({len(rels) - most} more)" if len(rels) > most else "")
        print(shown(f"  left out: {len(rels)} {why}: {names}"), file=out)


def print_plan(report: BatchReport, out) -> None:
    """The dry run's answer: what would be converted and why."""
    c = report.counts()
    print(shown(
        f"dry run: {len(report.files)} video(s) under {report.src}: {c.get('convert', 0)} to convert, "
        f"{c.get('skip', 0)} already done, {c.get('failed', 0)} failed (not retried)"),
        file=out,
    )
    if report.reset_running:
        print(
            f"  {len(report.reset_running)} job(s) left running by an interrupted run would be reset",
            file=out,
        )
    print_left_out(report, out)
    if report.files:
        rows = [("action", "file", "output", "why")]
        for f in report.files:
            rows.append((f.status, f.rel, os.path.relpath(f.dst, report.dst), f.reason))
        _table(rows, out)


def print_summary(report: BatchReport, out) -> None:
    """The end of a run: counts, frames, throughput, one line per file."""
    c = report.counts()
    done = [f for f in report.files if f.status == "done"]
    secs = report.seconds
    fps = report.frames_out / secs if secs > 0 else 0.0
    head = (
        f"filmrt batch: {len(report.files)} video(s): {c.get('done', 0)} converted, "
        f"{c.get('skipped', 0)} skipped (done earlier), {c.get('failed', 0)} failed"
    )
    if c.get("pending"):
        head += f", {c['pending']} unfinished"
    head += f"; {report.frames_out} frames written in {fmt_seconds(secs)}"
    if done:
        head += f" ({fps:.1f} frames/s overall)"
    print(head, file=out)
    print_left_out(report, out)
    if report.files:
        rows = [("status", "file", "frames", "time", "note")]
        for f in report.files:
            frames = f"{f.frames_in or '?'} -> {f.frames_out}" if f.frames_out is not None else "-"
            note = f.reason.replace(f.src, f.rel) if f.status != "done" else (f.worker or "")
            if f.warnings:
                note += " (input damaged: " + "; ".join(f.warnings) + ")"
            if f.streams_dropped:
                note += " (streams left out: " + "; ".join(f.streams_dropped) + ")"
            when = fmt_seconds(f.seconds) if f.status in ("done", "skipped") else "-"
            rows.append((f.status, f.rel, frames, when, note))
        _table(rows, out)

"""What a batch run has to do: per source file convert, skip (done earlier) or report as failed.

Before anything is created, :func:`check_options` validates the conversion options that can be
checked without an input (the rate spelling, the model name), and :func:`resolve_options` pins
the default model, so the settings hash means one model whatever is installed later.

:func:`plan` compares each source with its manifest row:

- new, changed source (size + fingerprint), changed settings hash, changed output path: redo
  from scratch (attempt and failure counters reset);
- done earlier with an output that is still the one written (size and mtime as recorded; or
  batch's mark, the same size and still readable): skip; batch's own output changed since
  (truncated, trimmed: the size differs): redo;
- given up on (failed ``retries`` + 1 times, or once when it is not a video): report, unless
  ``retry_failed``;
- anything else (failed fewer times, left pending or running): convert again.

Two sources with the same output, or an output that would overwrite its source, fail without
converting; so does a source whose output the manifest records for another source path (a
second SRC tree into the same DST: a name clash) unless ``--overwrite``. A file at an output path
is replaced only when it is provably batch's (:func:`existing_output`: untouched since batch wrote
it, or carrying batch's mark made from this source) or with ``--overwrite``; anything else there is
reported as not made by filmrt batch. An output carrying this run's mark
(:mod:`~filmrt.pipeline.batch.marker`) with no record of it as done (deleted or damaged manifest)
is adopted as done when it reads back complete (:func:`output_complete`), else redone. With
``write`` the decisions are recorded in the manifest (dry runs write nothing).
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path

from filmrt.errors import FilmrtError
from filmrt.fileio import output_exists
from filmrt.models import default_model_name, get_spec
from filmrt.pipeline.batch.discover import output_path
from filmrt.pipeline.batch.manifest import Manifest, fingerprint, head_hash, starts_like
from filmrt.pipeline.batch.marker import MARK_KEY, mark, mark_source, read_mark
from filmrt.pipeline.batch.options import BatchOptions, JobOptions
from filmrt.pipeline.batch.report import FileReport
from filmrt.pipeline.batch.worker import NOT_RETRIED, Job
from filmrt.pipeline.io.probe import probe
from filmrt.pipeline.time.cadence.analysis import parse_slowmo
from filmrt.rates import parse_rate_spec


def _is_weights_file(model: str) -> bool:
    return model.endswith(".safetensors") or Path(model).is_file()


def check_options(options: JobOptions) -> None:
    """Fail now (before DST, its manifest or any worker exist) on a bad rate or an unknown model."""
    if options.fps is not None:
        parse_rate_spec(options.fps)
    model = options.runtime.model
    if model is not None and not _is_weights_file(str(model)):
        get_spec(str(model))  # FilmrtError: unknown model ...; known models: ...


def resolve_options(options: JobOptions) -> JobOptions:
    """Pin the model name (the default depends on installed weights) so the settings hash means it."""
    runtime = options.runtime
    if runtime.model is None and runtime.weights is None:
        options = dataclasses.replace(options, runtime=runtime.replace(model=default_model_name()))
    return options


@dataclasses.dataclass
class Existing:
    """What is at an output path before batch writes there, and whether batch provably made it."""

    exists: bool
    #: the file batch wrote, untouched: size and mtime exactly as the manifest recorded them
    intact: bool = False
    #: provably batch's: intact, carrying batch's mark made from this source (the recorded one
    #: or the current one), or starting with the bytes batch wrote there (recorded ``out_head``).
    #: Anything else is never replaced without --overwrite.
    ours: bool = False
    #: the mark read from the file (None: no mark, not read because intact, or unreadable)
    mark: str | None = None
    #: the size differs from the recorded one
    size_changed: bool = False


def existing_output(final: Path, row: dict | None, chash: str) -> Existing:
    """Look at ``final`` before deciding anything about it: cheap (one stat) when it is the file
    the manifest recorded; otherwise its mark is read (the container's headers)."""
    if not output_exists(final):
        return Existing(False)
    recorded = row is not None and row.get("out_size") is not None and row["dst"] == str(final)
    try:
        st = final.stat()
    except OSError:
        return Existing(True)
    if recorded and st.st_size == row["out_size"] and st.st_mtime_ns == row.get("out_mtime_ns"):
        return Existing(True, intact=True, ours=True)
    found = read_mark(final)
    sources = {chash} | ({row["content_hash"]} if row is not None and row.get("content_hash") else set())
    # still starts with the bytes batch wrote: cut short (an MP4 cut short loses its tags with its end)
    prefix = recorded and starts_like(final, row.get("out_head"))
    return Existing(True, ours=mark_source(found) in sources or prefix, mark=found,
                    size_changed=recorded and st.st_size != row["out_size"])


def output_readable(path: Path) -> tuple[bool, str]:
    """Cheap check of an output of ours that was touched (same size, other mtime): it must still
    open with a video stream. The full check (frame count) ran when it was written."""
    try:
        if probe(path, count=False).video is None:
            return False, "output has no video stream"
    except Exception as e:  # noqa: BLE001 - any failure to read means "redo"
        # probe's FilmrtError wraps FFmpeg's: name the FFmpeg error, as a reader would see it
        cause = e.__context__ if isinstance(e, FilmrtError) and e.__context__ is not None else e
        return False, f"output unreadable ({type(cause).__name__})"
    return True, ""


def output_complete(out: Path, src: Path, options: JobOptions) -> tuple[bool, str]:
    """Read back an output found in DST with this run's mark but no record of its size (the
    manifest was lost, or the run died before recording it): its video packets are counted
    (demuxed, not decoded) and must cover the source's duration under these options (--ss, --t,
    --slowmo) within 0.25 s or 2 %. A truncated or trimmed copy that kept the mark fails."""
    try:
        video = probe(out, first_frame=False).video
        source = probe(src, count=False, first_frame=False)
    except Exception:  # noqa: BLE001 - unreadable = not complete
        return False, "output unreadable"
    if video is None or video.frames <= 0 or video.duration is None:
        return False, "output has no video frames"
    sv = source.video
    src_dur = float(sv.header_duration) if sv is not None and sv.header_duration else source.duration
    if not src_dur:
        return True, ""  # nothing to compare with
    want = max(0.0, src_dur - (getattr(options, "ss", None) or 0.0))
    if getattr(options, "t", None) is not None:
        want = min(want, options.t)
    slowmo = parse_slowmo(getattr(options, "slowmo", None))
    if slowmo:
        want *= float(slowmo)
    got = float(video.duration)
    if abs(got - want) > max(0.25, 0.02 * want):
        return False, f"output incomplete: {got:.2f} s of video, {want:.2f} s expected"
    return True, ""


def estimate_output_frames(path: str | os.PathLike, options: JobOptions) -> int | None:
    """Rough number of output frames for ``path`` (from its headers), or None; for the ETA only."""
    try:
        info = probe(path, count=False)
        video = info.video
        if video is None or not info.duration:
            return None
        rate = parse_rate_spec(options.fps).resolve(video.rate)
    except Exception:  # noqa: BLE001 - broken files are found by the conversion, not here
        return None
    dur = max(0.0, info.duration - (getattr(options, "ss", None) or 0.0))
    t = getattr(options, "t", None)
    if t is not None:
        dur = min(dur, t)
    return int(round(dur * float(rate)))


class _Planner:
    """One pass over the sources: a :class:`FileReport` each, a :class:`Job` for each to convert."""

    def __init__(self, dst_root: Path, manifest: Manifest | None, *, settings_hash: str,
                 batch: BatchOptions, write: bool, options):
        self.dst_root = dst_root
        self.manifest = manifest
        self.shash = settings_hash
        self.batch = batch
        self.write = write
        self.options = options
        self.rows = manifest.rows() if manifest is not None else {}
        self.taken: dict[str, str] = {}  # output path -> the source that has it
        self._found: Existing | None = None  # what is at the current file's output path

    def file(self, rel: str, path: Path) -> tuple[FileReport, Job | None]:
        final = output_path(self.dst_root, rel, self.batch.ext)
        rep = FileReport(rel=rel, src=str(path), dst=str(final), status="convert")
        if str(final) in self.taken:
            rep.fail(f"output {final} is also the output of {self.taken[str(final)]} (use --ext)")
            return rep, None
        self.taken[str(final)] = rel
        if final.resolve() == path.resolve():
            rep.fail("output would overwrite the source")
            return rep, None
        row = self.rows.get(rel)
        try:
            st = path.stat()
            same_file = row and row["size"] == st.st_size and row["mtime_ns"] == st.st_mtime_ns
            chash = row["content_hash"] if same_file and row["content_hash"] else fingerprint(path, st.st_size)
        except OSError as e:
            rep.fail(f"cannot read source: {e.strerror or e}")
            return rep, None
        if self._clash(rep, row, final, path, chash):
            return rep, None
        self._found = None
        reason, reset = self._decide(rep, row, final, st.st_size, chash)
        if rep.status != "convert" or not self._may_write(rep, row, final, path, st, chash):
            return rep, None
        rep.reason = reason
        if self.write:
            self.manifest.upsert_source(
                rel, src=str(path), dst=str(final), size=st.st_size, mtime_ns=st.st_mtime_ns,
                content_hash=chash, settings_hash=self.shash, reset=reset,
            )
            if reset:
                rep.attempts = rep.failures = 0
        return rep, Job(rel=rel, src=str(path), dst=str(final), tmp_dst="", options=self.options,
                        tags=mark(self.shash, chash))

    def _existing(self, final: Path, row: dict | None, chash: str) -> Existing:
        """:func:`existing_output`, looked at once per file."""
        if self._found is None:
            self._found = existing_output(final, row, chash)
        return self._found

    def _clash(self, rep: FileReport, row: dict | None, final: Path, path: Path, chash: str) -> bool:
        """The manifest's record of this output is another source's (a second SRC tree into the same
        DST): refuse it as a name clash, unless ``--overwrite``. The same content at another path
        (SRC moved or renamed) is the same source."""
        if row is None or row["src"] == str(path) or row["content_hash"] == chash or self.batch.overwrite:
            return False
        rep.fail(
            f"name clash: {final} is the output of another source, {row['src']} (recorded in the "
            "manifest): not overwritten (use another DST, or --overwrite to replace it)"
        )
        return True

    def _not_ours(self, rep: FileReport, final: Path, why: str = "") -> None:
        rep.fail(f"{final} exists and was not made by filmrt batch{why}: not overwritten "
                 "(--overwrite replaces it)")

    def _may_write(self, rep: FileReport, row: dict | None, final: Path, path: Path, st, chash: str) -> bool:
        """May ``final`` be written? Only when it does not exist, it is provably batch's
        (:func:`existing_output`) or ``--overwrite``. An output with this run's mark and no record
        of it as done (the manifest was lost) is adopted as done instead when it reads back
        complete (:func:`output_complete`); incomplete, it is redone. Sets ``rep`` when the
        answer is no."""
        ex = self._existing(final, row, chash)
        if not ex.exists:
            return True
        this = mark(self.shash, chash)[MARK_KEY]
        if ex.mark == this and (row is None or row["status"] != "done"):
            ok, why = output_complete(final, path, self.options)
            if ok:
                self._adopt(rep, final, path, st, chash)
                return False
            rep.reason = f"found in DST with this run's mark, but {why}"
            return True
        if ex.ours or self.batch.overwrite:
            return True
        self._not_ours(rep, final)
        return False

    def _adopt(self, rep: FileReport, final: Path, path: Path, st, chash: str) -> None:
        """Record an output found in DST with this run's mark as done (the manifest was lost)."""
        rep.status, rep.reason = ("skipped" if self.write else "skip"), "done earlier (found in DST with this run's mark)"
        if not self.write:
            return
        out = final.stat()
        self.manifest.upsert_source(
            rep.rel, src=str(path), dst=str(final), size=st.st_size, mtime_ns=st.st_mtime_ns,
            content_hash=chash, settings_hash=self.shash, reset=True,
        )
        attempt = self.manifest.start_attempt(rep.rel, "rebuilt-from-dst")
        self.manifest.finish_done(rep.rel, attempt, {
            "worker": "found in DST", "out_size": out.st_size, "out_mtime_ns": out.st_mtime_ns,
            "out_head": head_hash(final, out.st_size),
        })

    def _redo_done(self, rep: FileReport, row: dict, final: Path, chash: str) -> str:
        """Why a file done earlier (same source, same settings) is redone, or "" to skip it. Its
        output must still be the file written: untouched (size and mtime as recorded), or ours
        (batch's mark from this source) with the same size and still readable. Ours but changed
        (truncated, trimmed): redone. Anything else there is not replaced (``rep`` fails)."""
        ex = self._existing(final, row, chash)
        if not ex.exists:
            return "output missing"
        if ex.intact:
            return ""
        if not ex.ours:
            if self.batch.overwrite:
                return "output replaced (--overwrite)"
            self._not_ours(rep, final, " (it changed since batch wrote it and carries no batch mark of this source)")
            return ""
        if ex.size_changed:
            return "output changed since it was written"
        ok, why = output_readable(final)
        return "" if ok else why

    def _decide(self, rep: FileReport, row: dict | None, final: Path, size: int, chash: str) -> tuple[str, bool]:
        """(why, reset) for a file to convert; sets ``rep.status`` when it is skipped or failed."""
        if row is None:
            return "new", True
        if row["size"] != size or row["content_hash"] != chash:
            return "source changed", True
        if row["settings_hash"] != self.shash:
            return "settings changed", True
        if row["dst"] != str(final):
            return "output path changed", True
        rep.attempts, rep.failures = row["attempts"], row["failures"]
        if row["status"] == "done":
            why = self._redo_done(rep, row, final, chash)
            if why or rep.status != "convert":
                return why, True
            rep.status, rep.reason = ("skipped" if self.write else "skip"), "done earlier"
            rep.seconds, rep.frames_in, rep.frames_out = row["seconds"], row["frames_in"], row["frames_out"]
            rep.worker = row["worker"]
            return "", False
        retries = self.batch.retries
        # given up on: after retries + 1 attempts, or at once for a file that is not a video
        gave_up = row["status"] == "failed" and (
            row["failures"] > retries or (row["error"] or "").startswith(NOT_RETRIED)
        )
        if gave_up and not self.batch.retry_failed:
            rep.status, rep.error = "failed", row["error"]
            rep.reason = (
                f"gave up earlier after {row['failures']} failed attempt(s): {row['error']} "
                "(--retry-failed to try again)"
            )
            return "", False
        if gave_up:
            if self.write:
                self.manifest.set_pending(rep.rel, clear_failures=True)
            rep.attempts = rep.failures = 0
            return f"retry after {row['failures']} failed attempt(s) (--retry-failed)", False
        if row["failures"]:
            return f"retry ({row['failures']} failed attempt(s) so far)", False
        if row["status"] in ("pending", "running"):
            return "unfinished earlier", False
        return "pending", False


def plan(
    files: list[tuple[str, Path]],
    dst_root: Path,
    manifest: Manifest | None,
    *,
    settings_hash: str,
    batch: BatchOptions,
    write: bool,
    options,
) -> tuple[list[Job], list[FileReport]]:
    """Decide, per source file, convert / skip / failed; with ``write``, record it in the manifest."""
    planner = _Planner(dst_root, manifest, settings_hash=settings_hash, batch=batch, write=write, options=options)
    jobs: list[Job] = []
    reports: list[FileReport] = []
    for rel, path in files:
        rep, job = planner.file(rel, path)
        reports.append(rep)
        if job is not None:
            jobs.append(job)
    return jobs, reports

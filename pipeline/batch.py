"""Batch conversion of whole video libraries: resumable, parallel, from one machine to a Ray cluster.

``run_batch(SRC, DST, options)`` (the engine of ``filmrt batch``) walks SRC, mirrors its tree
under DST and converts every video with the ``convert`` pipeline
(:func:`filmrt.pipeline.convert.convert`), one :class:`ConvertOptions` for all files.

The pieces and the promises they keep:

- **Discovery**: video files by extension (:data:`VIDEO_EXTENSIONS`); with ``probe=True`` other
  files are opened with PyAV and kept when they hold a moving video stream. ``include`` /
  ``exclude`` are fnmatch patterns on the path relative to SRC (``*`` also matches ``/``).
  Hidden files and folders (``.name``) and DST itself (when inside SRC) are never walked.
- **State**: the SQLite manifest ``DST/.filmrt-batch.sqlite`` (:mod:`filmrt.pipeline.manifest`)
  is the single source of truth. Only this driver process writes it; workers return results.
  Re-running the same command resumes: files done with a valid output are skipped, changed
  sources (size + fast content hash) or changed settings are redone, jobs a killed driver left
  ``running`` are reset, failed attempts are retried up to ``retries`` times (a failure never
  stops the other files) and then reported.
- **No half-written outputs**: a worker converts into its own attempt folder
  ``DST/.filmrt-batch-tmp/<attempt>/`` (where ``convert`` itself writes a temp file and renames
  it), checks the result with PyAV, and only the driver moves a finished, checked file to its
  final place with an atomic rename. A killed run leaves at most an attempt folder, which the
  next run deletes before it starts. A lock file keeps two drivers off one DST.
- **Parallelism**: ``workers`` local processes (``spawn``), each holding one model instance for
  its whole life, pinned to one GPU each with ``gpus`` (``CUDA_VISIBLE_DEVICES``), or ``ray``:
  the same job function as Ray tasks (``num_gpus=1`` or CPU tasks) scheduled by Ray over a
  cluster. Workers die with the driver (``PR_SET_PDEATHSIG`` on Linux plus a watchdog), so a
  killed driver leaves no orphan converting into DST.
  A worker that dies takes its whole local pool down; the files that were converting beside it
  are not charged a failure but re-run one at a time, so only a file that crashes alone fails.
- **Reporting**: one tqdm bar over all output frames (files done, throughput, ETA), one log line
  per finished or failed file, a summary table at the end and a JSON report
  (:meth:`BatchReport.to_dict`).

The converter is injectable (``converter=``): any picklable function with the signature of
``convert(src, dst, options, *, interpolator=None, on_progress=None)``; a custom converter is
called with ``interpolator=None``.
"""

from __future__ import annotations

import concurrent.futures as cf
import dataclasses
import errno
import fnmatch
import json
import multiprocessing as mp
import os
import shutil
import signal
import socket
import sys
import threading
import time
import traceback
import uuid
from collections import deque
from collections.abc import Callable, Sequence
from fractions import Fraction
from pathlib import Path

from filmrt.errors import FilmrtError
from filmrt.pipeline.manifest import (
    FINGERPRINT_KIND,
    LOCK_NAME,
    MANIFEST_NAME,
    Manifest,
    fingerprint,
    settings_dict,
    settings_hash,
)

#: extensions taken as videos without probing (lower case)
VIDEO_EXTENSIONS = frozenset(
    ".mp4 .m4v .mov .mkv .webm .avi .mpg .mpeg .m2v .ts .mts .m2ts .vob .wmv .asf .flv .f4v "
    ".3gp .3g2 .ogv .dv .mxf .y4m .nut .rm .rmvb .divx".split()
)
#: extensions never probed with ``probe=True`` (images, audio, subtitles, documents)
NOT_VIDEO_EXTENSIONS = frozenset(
    ".jpg .jpeg .png .gif .bmp .tif .tiff .webp .heic .exr .dpx .svg .srt .ass .ssa .vtt .sub .idx .sup "
    ".txt .md .nfo .json .xml .csv .pdf .doc .docx .html .htm .log .py .sh .db .sqlite "
    ".mp3 .aac .flac .wav .ogg .opus .m4a .wma .ac3 .zip .tar .gz .7z .rar .iso .part .tmp".split()
)
#: containers kept as they are for the output; others become .mkv (see :func:`output_path`)
KEEP_CONTAINERS = frozenset(".mp4 .m4v .mov .mkv .avi .ts .mts .m2ts .flv".split())
FALLBACK_CONTAINER = ".mkv"
#: per-attempt work folders under DST (deleted when a run starts and when it ends)
TMP_DIRNAME = ".filmrt-batch-tmp"

Converter = Callable[..., object]


# ---------------------------------------------------------------------------------------------
# discovery and naming
# ---------------------------------------------------------------------------------------------
def _matches(rel: str, patterns: Sequence[str]) -> bool:
    name = rel.rsplit("/", 1)[-1]
    return any(fnmatch.fnmatch(rel, p) or fnmatch.fnmatch(name, p) for p in patterns)


def probe_is_video(path: str | os.PathLike) -> bool:
    """True when PyAV finds a moving video stream (not a still image) in ``path``."""
    import av

    try:
        with av.open(str(path), metadata_errors="ignore") as c:
            fmt = c.format.name or ""
            if fmt == "image2" or fmt.endswith("_pipe"):
                return False
            vs = [s for s in c.streams.video if s.codec_context is not None]
            if not vs:
                return False
            s = vs[0]
            return bool((s.frames or 0) > 1 or (s.duration or 0) > 0 or (c.duration or 0) > 0)
    except Exception:
        return False


def find_videos(
    src: str | os.PathLike,
    *,
    include: Sequence[str] = (),
    exclude: Sequence[str] = (),
    probe: bool = False,
    skip: Sequence[str | os.PathLike] = (),
) -> list[tuple[str, Path]]:
    """The videos under ``src`` as sorted (relative POSIX path, absolute path) pairs.

    ``src`` may also be a single file. ``skip``: folders never entered (DST when inside SRC).
    """
    root = Path(src).resolve()
    if root.is_file():
        return [(root.name, root)]
    skip_dirs = {Path(s).resolve() for s in skip}
    found: list[tuple[str, Path]] = []
    for dirpath, dirnames, filenames in os.walk(root):
        d = Path(dirpath)
        dirnames[:] = sorted(
            n for n in dirnames if not n.startswith(".") and (d / n).resolve() not in skip_dirs
        )
        for name in sorted(filenames):
            if name.startswith("."):
                continue
            p = d / name
            rel = p.relative_to(root).as_posix()
            if include and not _matches(rel, include):
                continue
            if exclude and _matches(rel, exclude):
                continue
            ext = p.suffix.lower()
            if ext in VIDEO_EXTENSIONS:
                found.append((rel, p))
            elif probe and ext not in NOT_VIDEO_EXTENSIONS and p.is_file() and probe_is_video(p):
                found.append((rel, p))
    found.sort()
    return found


def output_path(dst_root: str | os.PathLike, rel: str, ext: str | None = None) -> Path:
    """Where the output of ``SRC/rel`` goes: the same relative path under DST.

    ``ext`` (".mp4", "mkv"...) forces the container; by default the source's is kept when it
    can carry H.264/HEVC and anything it had (:data:`KEEP_CONTAINERS`), else ``.mkv``.
    """
    p = Path(dst_root) / rel
    if ext:
        ext = ext if ext.startswith(".") else "." + ext
        return p.with_suffix(ext)
    if p.suffix.lower() in KEEP_CONTAINERS:
        return p
    return p.with_suffix(FALLBACK_CONTAINER)


# ---------------------------------------------------------------------------------------------
# probing outputs and estimating work
# ---------------------------------------------------------------------------------------------
def count_video_frames(path: str | os.PathLike) -> dict:
    """Open ``path`` with PyAV and count the packets of its first video stream (no decoding).

    Returns {frames, duration (s), width, height, rate}; raises on an unreadable file.
    """
    import av

    with av.open(str(path)) as c:
        if not c.streams.video:
            raise FilmrtError(f"{path}: no video stream")
        s = c.streams.video[0]
        n = 0
        end = 0.0
        for pkt in c.demux(s):
            if pkt.size == 0:  # flush packet
                continue
            n += 1
            if pkt.pts is not None and pkt.time_base is not None:
                t = float((pkt.pts + (pkt.duration or 0)) * pkt.time_base)
                end = max(end, t)
        start = float(s.start_time * s.time_base) if s.start_time is not None and s.time_base else 0.0
        rate = s.average_rate or s.guessed_rate
        return {
            "frames": n,
            "duration": max(0.0, end - start),
            "width": s.codec_context.width,
            "height": s.codec_context.height,
            "rate": float(rate) if rate else None,
        }


def _output_looks_valid(path: Path, row: dict) -> tuple[bool, str]:
    """Cheap check of a finished output on resume: present with the size it was written with;
    unless its mtime is also unchanged (the file we wrote, untouched), it must open with a video
    stream. The full check (frame count) ran when it was written."""
    import av

    try:
        st = path.stat()
    except OSError:
        return False, "output missing"
    if row.get("out_size") is not None and st.st_size != row["out_size"]:
        return False, "output changed since it was written"
    if row.get("out_size") is not None and st.st_mtime_ns == row.get("out_mtime_ns"):
        return True, ""
    try:
        with av.open(str(path)) as c:
            if not c.streams.video:
                return False, "output has no video stream"
    except Exception as e:  # noqa: BLE001 - any decode failure means "redo"
        return False, f"output unreadable ({type(e).__name__})"
    return True, ""


def _target_rate(fps: str | None, src_rate: float | None) -> float | None:
    """Output rate from ``--fps`` ("x2", "2x", "50", "60000/1001", "59.94") for progress ETA only."""
    if fps is None:
        return None
    s = str(fps).strip().lower()
    try:
        if s.startswith("x") or s.endswith("x"):
            return float(Fraction(s.strip("x"))) * src_rate if src_rate else None
        return float(Fraction(s))
    except (ValueError, ZeroDivisionError):
        return None


def estimate_output_frames(path: str | os.PathLike, options) -> int | None:
    """Rough number of output frames for ``path`` (header probe only), or None."""
    import av

    try:
        with av.open(str(path)) as c:
            if not c.streams.video:
                return None
            s = c.streams.video[0]
            rate = s.average_rate or s.guessed_rate
            rate = float(rate) if rate else None
            if s.duration is not None and s.time_base is not None:
                dur = float(s.duration * s.time_base)
            elif c.duration:
                dur = c.duration / 1e6
            elif s.frames and rate:
                dur = s.frames / rate
            else:
                return None
    except Exception:  # noqa: BLE001 - broken files are found by the conversion, not here
        return None
    ss = getattr(options, "ss", None) or 0.0
    t = getattr(options, "t", None)
    dur = max(0.0, dur - ss)
    if t is not None:
        dur = min(dur, t)
    out_rate = _target_rate(getattr(options, "fps", None), rate)
    return int(round(dur * out_rate)) if out_rate else None


# ---------------------------------------------------------------------------------------------
# jobs and the worker side
# ---------------------------------------------------------------------------------------------
@dataclasses.dataclass
class Job:
    """One conversion attempt, as sent to a worker (picklable)."""

    rel: str
    src: str
    dst: str  # final output path (the driver moves the result there)
    tmp_dst: str  # where the worker writes
    options: object  # ConvertOptions
    attempt_id: int = 0
    estimate: int | None = None


# per-process worker state (a worker process serves one device and keeps one model)
_STATE: dict = {"device": None, "progress": None, "interpolators": {}}


def _die_with_parent(parent_pid: int) -> None:
    """Make this worker exit when the driver dies, even by SIGKILL."""
    if sys.platform.startswith("linux"):
        try:
            import ctypes

            ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
        except Exception:  # noqa: BLE001 - the watchdog below still works
            pass
    if os.getppid() != parent_pid:
        os._exit(1)

    def watch() -> None:
        while True:
            time.sleep(1.0)
            if os.getppid() != parent_pid:
                os._exit(1)

    threading.Thread(target=watch, name="filmrt-parent-watchdog", daemon=True).start()


def _worker_init(device_queue, progress_queue, parent_pid: int, threads: int | None) -> None:
    """Initializer of a local worker process: parent watch, device pinning, thread count."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the driver's business
    _die_with_parent(parent_pid)
    gpu = None
    if device_queue is not None:
        try:
            gpu = device_queue.get(timeout=10)
        except Exception:  # noqa: BLE001
            gpu = None
    if gpu is not None:
        os.environ["CUDA_VISIBLE_DEVICES"] = str(gpu)
        _STATE["device"] = "cuda"
        _STATE["gpu"] = gpu
    if threads:
        import torch

        torch.set_num_threads(threads)
    _STATE["progress"] = progress_queue


def _interpolator_for(options):
    """The worker's model instance for these options (opened once, reused for every file)."""
    from filmrt.engine import open_interpolator

    key = tuple(
        getattr(options, k, None) for k in ("model", "weights", "backend", "device", "precision", "batch")
    )
    cache = _STATE["interpolators"]
    if key not in cache:
        for old in cache.values():  # one model per worker: drop any other
            close = getattr(old, "close", None)
            if close is not None:
                close()
        cache.clear()
        cache[key] = open_interpolator(
            options.model,
            weights=options.weights,
            backend=options.backend,
            device=options.device,
            precision=options.precision,
            max_batch=options.batch or 8,
        )
    return cache[key]


def _field(result, name: str):
    if isinstance(result, dict):
        return result.get(name)
    return getattr(result, name, None)


def _worker_name() -> str:
    dev = _STATE.get("device")
    gpu = _STATE.get("gpu")
    where = f"gpu{gpu}" if gpu is not None else (dev or "")
    return f"{socket.gethostname()}:{os.getpid()}" + (f":{where}" if where else "")


def execute_job(job: Job, converter: Converter | None = None, progress=None) -> dict:
    """Run one conversion attempt in a worker and return a plain result dict (never raises).

    Writes only below ``job.tmp_dst``'s folder. On success the output is checked with PyAV
    (frame count equals the converter's ``frames_out`` when it reports one).
    """
    t0 = time.time()
    res: dict = {"rel": job.rel, "attempt_id": job.attempt_id, "ok": False, "started_at": t0}
    progress = progress if progress is not None else _STATE.get("progress")
    res["worker"] = _worker_name()
    last_sent = [0.0]

    def on_progress(frames_done: int) -> None:
        if progress is None:
            return
        now = time.monotonic()
        if now - last_sent[0] < 0.5:
            return
        last_sent[0] = now
        try:
            progress.put_nowait((job.attempt_id, int(frames_done)))
        except Exception:  # noqa: BLE001 - progress is best effort
            pass

    try:
        if not os.path.exists(job.src):
            raise FilmrtError(
                f"source not found on {socket.gethostname()}: {job.src} (with --ray, SRC and DST must be "
                "on a filesystem shared by every node, mounted at the same path)"
            )
        tmp = Path(job.tmp_dst)
        tmp.parent.mkdir(parents=True, exist_ok=True)  # also tells the driver the job started
        options = job.options
        changes = {}
        if _STATE.get("device") and hasattr(options, "device"):
            changes["device"] = _STATE["device"]
        if hasattr(options, "quiet"):
            changes["quiet"] = True
        if changes and dataclasses.is_dataclass(options):
            options = dataclasses.replace(options, **changes)
        if converter is None:
            from filmrt.pipeline.convert import convert

            result = convert(
                job.src, str(tmp), options, interpolator=_interpolator_for(options), on_progress=on_progress
            )
        else:
            result = converter(job.src, str(tmp), options, interpolator=None, on_progress=on_progress)
        if not tmp.is_file():
            raise FilmrtError("the converter reported success but wrote no output file")
        probe = count_video_frames(tmp)
        expected = _field(result, "frames_out")
        if probe["frames"] <= 0:
            raise FilmrtError("the output has no video frames")
        if expected is not None and int(expected) != probe["frames"]:
            raise FilmrtError(
                f"output check failed: {probe['frames']} frames in the file, converter said {expected}"
            )
        st = tmp.stat()
        res.update(
            ok=True,
            frames_in=_field(result, "frames_in"),
            frames_out=probe["frames"],
            interpolated=_field(result, "interpolated"),
            scene_cuts=_field(result, "scene_cuts"),
            fps_out=_field(result, "fps_out"),
            out_duration=probe["duration"],
            out_size=st.st_size,
            warnings=[str(x) for x in (_field(result, "problems") or [])],
        )
    except FilmrtError as e:
        res["error"] = str(e)
    except Exception as e:  # noqa: BLE001 - every failure is reported, none stops the batch
        msg = str(e).strip().splitlines()[0] if str(e).strip() else ""
        res["error"] = f"{type(e).__name__}: {msg}" if msg else type(e).__name__
        res["traceback"] = traceback.format_exc(limit=8)
    res["finished_at"] = time.time()
    res["seconds"] = res["finished_at"] - t0
    return res


def _ray_execute(job: Job, converter, progress, device: str | None) -> dict:
    """Entry point of a Ray task: same as a local worker, device chosen by Ray."""
    _STATE["device"] = device
    if device == "cuda":
        try:
            import ray

            ids = ray.get_gpu_ids()
            _STATE["gpu"] = ",".join(str(i) for i in ids) if ids else None
        except Exception:  # noqa: BLE001
            pass
    return execute_job(job, converter, progress)


# ---------------------------------------------------------------------------------------------
# runners: where jobs execute (in-process, local processes, Ray)
# ---------------------------------------------------------------------------------------------
def _failure(job: Job, error: str) -> dict:
    now = time.time()
    return {"rel": job.rel, "attempt_id": job.attempt_id, "ok": False, "error": error, "finished_at": now}


class InlineRunner:
    """``workers=0``: convert in the driver process, one file at a time (debugging, tiny jobs)."""

    describe = "in-process"

    def __init__(self, converter, on_progress):
        self.converter = converter
        self.capacity = 1
        self._jobs: deque[Job] = deque()
        self._on_progress = on_progress

    def submit(self, job: Job) -> None:
        self._jobs.append(job)

    def wait(self, timeout: float) -> list[tuple[Job, dict]]:
        if not self._jobs:
            return []
        job = self._jobs.popleft()

        class _Direct:
            def put_nowait(_, item):  # noqa: N805
                self._on_progress(*item)

        return [(job, execute_job(job, self.converter, _Direct()))]

    def shutdown(self, kill: bool = False) -> None:
        self._jobs.clear()


class LocalRunner:
    """N worker processes (spawn) on this machine, one per device slot; a dead worker is survived."""

    def __init__(self, workers: int, gpus: Sequence[int] | None, threads: int | None, converter, on_progress):
        self.ctx = mp.get_context("spawn")
        self.workers = workers
        self.gpus = list(gpus or [])
        self.threads = threads
        self.converter = converter
        self.capacity = workers
        self._on_progress = on_progress
        self._progress_q = self.ctx.Queue()
        self._pool: cf.ProcessPoolExecutor | None = None
        self._futures: dict[cf.Future, Job] = {}
        self._startup_breaks = 0  # consecutive pool breaks before any job had started
        slots = [self.gpus[i % len(self.gpus)] for i in range(workers)] if self.gpus else []
        self._slots = slots
        if self.gpus:
            self.describe = f"{workers} local worker(s) on GPU(s) {','.join(map(str, self.gpus))}"
        else:
            self.describe = f"{workers} local worker(s)" + (f", {threads} thread(s) each" if threads else "")

    def _ensure_pool(self) -> cf.ProcessPoolExecutor:
        if self._pool is None:
            dq = None
            if self._slots:
                dq = self.ctx.Queue()
                for g in self._slots:
                    dq.put(g)
            self._pool = cf.ProcessPoolExecutor(
                max_workers=self.workers,
                mp_context=self.ctx,
                initializer=_worker_init,
                initargs=(dq, self._progress_q, os.getpid(), self.threads),
            )
        return self._pool

    def submit(self, job: Job) -> None:
        fut = self._ensure_pool().submit(execute_job, job, self.converter)
        self._futures[fut] = job

    def _drain_progress(self) -> None:
        while True:
            try:
                attempt_id, frames = self._progress_q.get_nowait()
            except Exception:  # noqa: BLE001 - queue.Empty and friends
                return
            self._on_progress(attempt_id, frames)

    def wait(self, timeout: float) -> list[tuple[Job, dict]]:
        self._drain_progress()
        if not self._futures:
            time.sleep(min(timeout, 0.05))
            return []
        done, _ = cf.wait(list(self._futures), timeout=timeout, return_when=cf.FIRST_COMPLETED)
        out = []
        crashed: list[Job] = []
        for fut in done:
            job = self._futures.pop(fut)
            try:
                out.append((job, fut.result()))
            except cf.process.BrokenProcessPool:
                crashed.append(job)
            except Exception as e:  # noqa: BLE001 - e.g. unpicklable converter
                out.append((job, _failure(job, f"{type(e).__name__}: {e}")))
        if crashed:
            self._kill_pool()  # waits for the broken pool: every future of it is now settled
            for fut in list(self._futures):
                job = self._futures.pop(fut)
                try:
                    out.append((job, fut.result(timeout=0)))
                except Exception:  # noqa: BLE001 - BrokenProcessPool, cancelled
                    crashed.append(job)
            out += self._attribute_crash(crashed)
        self._drain_progress()
        return out

    def _attribute_crash(self, crashed: list[Job]) -> list[tuple[Job, dict]]:
        """The pool broke: every job in it failed, but one process took the others down.

        Jobs that had not started are requeued. Of those that had, a job alone is the culprit
        (a counted failure); several are flagged ``isolate``: the driver re-runs them one at a
        time, uncounted. When no job had started, the workers die at start-up; the third time
        in a row the run stops.
        """
        self._drain_progress()
        # a worker creates its attempt folder first thing: that survives any crash
        started = [j for j in crashed if Path(j.tmp_dst).parent.exists()]
        out = [
            (j, {**_failure(j, "worker pool restarted before this file started"), "requeue": True})
            for j in crashed
            if j not in started
        ]
        if not started:
            self._startup_breaks += 1
            if self._startup_breaks >= 3:
                raise FilmrtError(
                    "local worker processes die before starting any file (3 times); stopping "
                    "(their error is printed above; the jobs stay pending)"
                )
            return out
        self._startup_breaks = 0
        msg = "worker process died during the conversion (killed or crashed)"
        if len(started) == 1:
            return out + [(started[0], _failure(started[0], msg))]
        return out + [(j, {**_failure(j, msg), "isolate": True}) for j in started]

    def _kill_pool(self) -> None:
        pool, self._pool = self._pool, None
        if pool is None:
            return
        procs = list((getattr(pool, "_processes", None) or {}).values())
        for p in procs:
            try:
                p.kill()
            except Exception:  # noqa: BLE001
                pass
        pool.shutdown(wait=True, cancel_futures=True)

    def shutdown(self, kill: bool = False) -> None:
        if kill:
            self._kill_pool()
        elif self._pool is not None:
            self._pool.shutdown(wait=True)
            self._pool = None
        self._progress_q.close()


class RayRunner:
    """The jobs as Ray tasks: Ray schedules them over the cluster, the driver keeps the manifest.

    GPU tasks ask ``num_gpus=1`` and run in a fresh worker process each (Ray's default for GPU
    tasks, ``max_calls=1``, ray-project/ray#30061: a reused process keeps the GPU memory and
    CUDA context of its earlier task), so the model is loaded once per file; CPU tasks ask
    ``num_cpus=threads`` and reuse their worker process, so its model stays loaded.
    """

    def __init__(
        self,
        address: str | bool | None,
        *,
        use_gpus: bool,
        workers: int | None,
        threads: int | None,
        converter,
        on_progress,
    ):
        try:
            import ray
        except ImportError as e:
            raise FilmrtError("--ray needs Ray: pip install 'filmrt[ray]'") from e
        self.ray = ray
        self._started = False
        if not ray.is_initialized():
            self._started = True
            _ray_connect(ray, address)
        self.converter = converter
        self._on_progress = on_progress
        self.use_gpus = use_gpus
        self.cpus = threads or 1
        res = ray.cluster_resources()
        if use_gpus and res.get("GPU", 0) < 1:
            raise FilmrtError(
                "--ray with GPUs: the Ray cluster reports no GPU (start the nodes with `ray start ... --num-gpus N`)"
            )
        if use_gpus:
            opts = {"num_gpus": 1, "num_cpus": 1, "max_calls": 1}
            self.device = "cuda"
        else:
            opts = {"num_cpus": self.cpus, "max_calls": 0}
            self.device = None
        # system failures (a node or worker dying) are retried by Ray; conversion errors come back
        # as results and are retried by the driver, which counts them in the manifest
        self.task = ray.remote(max_retries=2, retry_exceptions=False, **opts)(_ray_execute)
        self.workers = workers
        self._capacity_at = 0.0
        self._capacity = 1
        from ray.util.queue import Queue

        self._progress_q = Queue(actor_options={"num_cpus": 0})
        self._refs: dict = {}
        self._last_drain = 0.0
        n_nodes = len([n for n in ray.nodes() if n.get("Alive")])
        kind = "GPU task(s) (num_gpus=1)" if use_gpus else f"CPU task(s) (num_cpus={self.cpus})"
        self.describe = f"Ray cluster, {n_nodes} node(s), {self.capacity} concurrent {kind}"

    @property
    def capacity(self) -> int:
        """Concurrent tasks: --workers, else what the cluster can run now (re-read every 10 s)."""
        if self.workers:
            return self.workers
        now = time.monotonic()
        if now - self._capacity_at > 10:
            res = self.ray.cluster_resources()
            if self.use_gpus:
                self._capacity = max(1, int(res.get("GPU", 1)))
            else:
                self._capacity = max(1, int(res.get("CPU", 1) // self.cpus))
            self._capacity_at = now
        return self._capacity

    def submit(self, job: Job) -> None:
        ref = self.task.remote(job, self.converter, self._progress_q, self.device)
        self._refs[ref] = job

    def _drain_progress(self) -> None:
        now = time.monotonic()
        if now - self._last_drain < 0.5:
            return
        self._last_drain = now
        try:
            n = self._progress_q.qsize()
            items = self._progress_q.get_nowait_batch(n) if n else []
        except Exception:  # noqa: BLE001
            items = []
        for item in items:
            self._on_progress(*item)

    def wait(self, timeout: float) -> list[tuple[Job, dict]]:
        self._drain_progress()
        if not self._refs:
            time.sleep(min(timeout, 0.05))
            return []
        ready, _ = self.ray.wait(list(self._refs), num_returns=1, timeout=timeout)
        if ready:
            ready, _ = self.ray.wait(list(self._refs), num_returns=len(self._refs), timeout=0)
        out = []
        for ref in ready:
            job = self._refs.pop(ref)
            try:
                out.append((job, self.ray.get(ref)))
            except Exception as e:  # noqa: BLE001 - worker/node died after Ray's own retries
                first = str(e).strip().splitlines()[0] if str(e).strip() else ""
                out.append((job, _failure(job, f"Ray task failed: {type(e).__name__}: {first}")))
        return out

    def shutdown(self, kill: bool = False) -> None:
        if kill:
            for ref in list(self._refs):
                try:
                    self.ray.cancel(ref, force=True)
                except Exception:  # noqa: BLE001
                    pass
        self._refs.clear()
        try:
            self.ray.kill(self._progress_q.actor)
        except Exception:  # noqa: BLE001
            pass
        if self._started:
            self.ray.shutdown()


def _ray_connect(ray, address: str | bool | None) -> None:
    """ADDRESS given: join that cluster. Omitted: $RAY_ADDRESS, else a cluster started on this
    machine with ``ray start --head``, else a private local one (no dashboard)."""
    if isinstance(address, str) and address not in ("", "auto"):
        try:
            ray.init(address=address, logging_level="ERROR", log_to_driver=False)
        except Exception as e:  # noqa: BLE001
            raise FilmrtError(f"cannot connect to the Ray cluster at {address}: {e}") from e
        return
    try:
        ray.init(address="auto", logging_level="ERROR", log_to_driver=False)
        return
    except (ConnectionError, RuntimeError, ValueError):
        if address == "auto":
            raise FilmrtError(
                "--ray auto: no running Ray cluster found (start one with `ray start --head`)"
            ) from None
    ray.init(include_dashboard=False, logging_level="ERROR", log_to_driver=False)


# ---------------------------------------------------------------------------------------------
# the driver
# ---------------------------------------------------------------------------------------------
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
    #: this run's id, recorded with every attempt in the manifest: driver host, pid, start time
    run_id: str = dataclasses.field(
        default_factory=lambda: f"{socket.gethostname()}:{os.getpid()}:{time.strftime('%Y%m%dT%H%M%S')}"
    )

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


class _Lock:
    """An exclusive ``flock`` on DST/.filmrt-batch.lock for the life of a run."""

    def __init__(self, dst: Path):
        self.path = dst / LOCK_NAME
        self.fd: int | None = None

    def __enter__(self) -> _Lock:
        try:
            import fcntl
        except ImportError:  # not POSIX: no lock
            return self
        self.fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(self.fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(self.fd)
            self.fd = None
            raise FilmrtError(
                f"another `filmrt batch` is running on {self.path.parent} (it holds {self.path})"
            ) from None
        os.ftruncate(self.fd, 0)
        os.write(self.fd, f"{socket.gethostname()} {os.getpid()}\n".encode())
        return self

    def __exit__(self, *exc) -> None:
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None


def _place(tmp: Path, final: Path) -> None:
    """Move a finished output to its final place atomically (same filesystem: one rename)."""
    final.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.replace(tmp, final)
    except OSError as e:
        if e.errno != errno.EXDEV:
            raise
        part = final.with_name(f".{final.name}.filmrt-part-{uuid.uuid4().hex[:8]}")
        try:
            shutil.copyfile(tmp, part)
            os.replace(part, final)
        finally:
            part.unlink(missing_ok=True)


class _Progress:
    """The overall bar (output frames, files, throughput, ETA) and the per-file log lines."""

    def __init__(self, total_files: int, total_frames: int, quiet: bool, err):
        self.err = err
        self.quiet = quiet
        self.total_files = total_files
        self.files_done = 0
        self.files_failed = 0
        self.bar = None
        if not quiet and total_files:
            from tqdm import tqdm

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
        if self.bar is not None:
            self.bar.write(msg, file=self.err)
        else:
            print(msg, file=self.err, flush=True)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def _fmt_s(s: float | None) -> str:
    if s is None:
        return "-"
    if s < 60:
        return f"{s:.1f} s"
    if s < 3600:
        return f"{int(s // 60)} min {int(s % 60):02d} s"
    return f"{int(s // 3600)} h {int(s % 3600 // 60):02d} min"


def _plan(
    files: list[tuple[str, Path]],
    dst_root: Path,
    manifest: Manifest | None,
    *,
    shash: str,
    ext: str | None,
    retries: int,
    retry_failed: bool,
    write: bool,
    options,
) -> tuple[list[Job], list[FileReport]]:
    """Decide, per source file, convert / skip / failed, recording sources in the manifest."""
    rows = manifest.rows() if manifest is not None else {}
    jobs: list[Job] = []
    reports: list[FileReport] = []
    taken: dict[str, str] = {}
    for rel, path in files:
        final = output_path(dst_root, rel, ext)
        rep = FileReport(rel=rel, src=str(path), dst=str(final), status="convert")
        reports.append(rep)
        key = str(final)
        if key in taken:
            rep.status, rep.reason = (
                "failed",
                f"output {final} is also the output of {taken[key]} (use --ext)",
            )
            rep.error = rep.reason
            continue
        taken[key] = rel
        if final.resolve() == path.resolve():
            rep.status, rep.reason = "failed", "output would overwrite the source"
            rep.error = rep.reason
            continue
        try:
            st = path.stat()
            row = rows.get(rel)
            if (
                row
                and row["size"] == st.st_size
                and row["mtime_ns"] == st.st_mtime_ns
                and row["content_hash"]
            ):
                chash = row["content_hash"]
            else:
                chash = fingerprint(path, st.st_size)
        except OSError as e:
            rep.status, rep.reason = "failed", f"cannot read source: {e.strerror or e}"
            rep.error = rep.reason
            continue
        reset = True
        if row is None:
            reason = "new"
        elif row["size"] != st.st_size or row["content_hash"] != chash:
            reason = "source changed"
        elif row["settings_hash"] != shash:
            reason = "settings changed"
        elif row["dst"] != str(final):
            reason = "output path changed"
        else:
            reset = False
            rep.attempts, rep.failures = row["attempts"], row["failures"]
            if row["status"] == "done":
                ok, why = _output_looks_valid(final, row)
                if ok:
                    rep.status, rep.reason = ("skipped" if write else "skip"), "done earlier"
                    rep.seconds, rep.frames_in, rep.frames_out = (
                        row["seconds"],
                        row["frames_in"],
                        row["frames_out"],
                    )
                    rep.worker = row["worker"]
                else:
                    reason, reset = why, True
            elif row["status"] == "failed" and row["failures"] > retries and not retry_failed:
                rep.status = "failed"
                rep.error = row["error"]
                rep.reason = (
                    f"gave up earlier after {row['failures']} failed attempt(s): {row['error']} "
                    "(--retry-failed to try again)"
                )
            elif row["status"] == "failed" and row["failures"] > retries:
                reason = f"retry after {row['failures']} failed attempt(s) (--retry-failed)"
                if write:
                    manifest.set_pending(rel, clear_failures=True)
                rep.attempts = rep.failures = 0
            elif row["failures"]:
                reason = f"retry ({row['failures']} failed attempt(s) so far)"
            elif row["status"] in ("pending", "running"):
                reason = "unfinished earlier"
            else:
                reason = "pending"
        if rep.status != "convert":
            continue
        rep.reason = reason
        if write:
            manifest.upsert_source(
                rel,
                src=str(path),
                dst=str(final),
                size=st.st_size,
                mtime_ns=st.st_mtime_ns,
                content_hash=chash,
                settings_hash=shash,
                reset=reset,
            )
            if reset:
                rep.attempts = rep.failures = 0
        jobs.append(Job(rel=rel, src=str(path), dst=str(final), tmp_dst="", options=options))
    return jobs, reports


def _check_gpus(gpus: Sequence[int], workers: int | None) -> None:
    """Local --gpus: the indices must exist here (each worker is pinned to one)."""
    import torch

    if workers == 0:
        raise FilmrtError("--gpus needs worker processes: use --workers 1 or more (or leave it out)")
    n = torch.cuda.device_count()
    if n == 0:
        raise FilmrtError("--gpus given, but PyTorch sees no CUDA GPU on this machine")
    bad = [g for g in gpus if g >= n]
    if bad:
        raise FilmrtError(f"--gpus {','.join(map(str, bad))}: this machine has {n} GPU(s) (0..{n - 1})")


def _resolve_options(options):
    """Pin the model name (the default depends on installed weights) so the settings hash means it."""
    if dataclasses.is_dataclass(options) and hasattr(options, "model"):
        if getattr(options, "model", None) is None and getattr(options, "weights", None) is None:
            from filmrt.models import default_model_name

            options = dataclasses.replace(options, model=default_model_name())
    return options


def run_batch(
    src: str | os.PathLike,
    dst: str | os.PathLike,
    options,
    *,
    converter: Converter | None = None,
    workers: int | None = None,
    gpus: Sequence[int] | None = None,
    ray: str | bool | None = None,
    include: Sequence[str] = (),
    exclude: Sequence[str] = (),
    probe: bool = False,
    ext: str | None = None,
    retries: int = 2,
    retry_failed: bool = False,
    threads: int | None = None,
    dry_run: bool = False,
    json_report: str | os.PathLike | None = None,
    quiet: bool = False,
    out=None,
    err=None,
) -> BatchReport:
    """Convert every video under ``src`` into the mirrored tree under ``dst``; see the module doc.

    ``workers``: local worker processes (default: one per GPU in ``gpus``, else 1; 0 = in this
    process). ``gpus``: CUDA device indices, one worker pinned to each (round robin when
    ``workers`` is larger). ``ray``: None/False = local; True = connect to $RAY_ADDRESS or a
    cluster started here, else start a local one; a string = that cluster's address.
    ``retries``: failed attempts retried per file (so up to retries+1 attempts).
    Returns a :class:`BatchReport` (also written as JSON to ``json_report``).
    """
    out = out or sys.stdout
    err = err or sys.stderr
    t_start = time.time()
    src_p = Path(src).resolve()
    dst_p = Path(dst).resolve()
    if not src_p.exists():
        raise FilmrtError(f"source not found: {src}")
    if src_p == dst_p:
        raise FilmrtError("DST must differ from SRC (outputs would replace the sources)")
    if retries < 0:
        raise FilmrtError("--retries must be >= 0")
    if workers is not None and workers < 0:
        raise FilmrtError("--workers must be >= 0")
    if gpus and ray in (None, False) and not dry_run:
        _check_gpus(gpus, workers)
    options = _resolve_options(options)
    shash = settings_hash(options)
    report = BatchReport(
        src=str(src_p), dst=str(dst_p), settings=settings_dict(options), settings_hash=shash, dry_run=dry_run
    )
    files = find_videos(src_p, include=include, exclude=exclude, probe=probe, skip=[dst_p])

    if dry_run:
        mpath = dst_p / MANIFEST_NAME
        manifest = Manifest(mpath, readonly=True) if mpath.is_file() else None
        try:
            _, report.files = _plan(
                files,
                dst_p,
                manifest,
                shash=shash,
                ext=ext,
                retries=retries,
                retry_failed=retry_failed,
                write=False,
                options=options,
            )
            if manifest is not None:
                running = [r for r, row in manifest.rows().items() if row["status"] == "running"]
                report.reset_running = running
        finally:
            if manifest is not None:
                manifest.close()
        report.runner = "dry run"
        report.seconds = time.time() - t_start
        _print_plan(report, out)
        if json_report:
            _write_json(report, json_report)
        return report

    try:
        dst_p.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise FilmrtError(f"cannot create DST {dst_p}: {e.strerror or e}") from None
    with _Lock(dst_p), Manifest(dst_p / MANIFEST_NAME) as manifest:
        report.reset_running = manifest.reset_interrupted()
        tmp_root = dst_p / TMP_DIRNAME
        shutil.rmtree(tmp_root, ignore_errors=True)  # stale attempt folders of killed runs
        manifest.set_meta("settings", json.dumps(report.settings, sort_keys=True, default=str))
        manifest.set_meta("src", str(src_p))
        jobs, report.files = _plan(
            files,
            dst_p,
            manifest,
            shash=shash,
            ext=ext,
            retries=retries,
            retry_failed=retry_failed,
            write=True,
            options=options,
        )
        by_rel = {f.rel: f for f in report.files}
        for job in jobs:
            job.estimate = estimate_output_frames(job.src, options) if not quiet else None
        progress = _Progress(len(jobs), sum(j.estimate or 0 for j in jobs), quiet, err)
        if report.reset_running:
            progress.log(f"reset {len(report.reset_running)} job(s) left running by an interrupted run")
        n_skip = sum(1 for f in report.files if f.status == "skipped")
        if not files:
            progress.log(
                f"no videos under {src_p} (taken by extension: .mp4 .mkv .mov .avi .mpg .ts ...; "
                "--probe also opens other files)",
                important=True,
            )
        if not jobs:
            progress.close()
            report.runner = "nothing to do"
            report.seconds = time.time() - t_start
            _print_summary(report, out)
            if json_report:
                _write_json(report, json_report)
            return report

        try:
            if ray not in (None, False):
                use_gpus = bool(gpus) or str(getattr(options, "device", "cpu")).startswith("cuda")
                runner = RayRunner(
                    ray,
                    use_gpus=use_gpus,
                    workers=workers,
                    threads=threads,
                    converter=converter,
                    on_progress=progress.frames,
                )
            elif workers == 0:
                runner = InlineRunner(converter, progress.frames)
            else:
                n = workers or (len(gpus) if gpus else 1)
                if threads is None and not gpus:
                    threads = max(1, (os.cpu_count() or 1) // n)
                runner = LocalRunner(n, gpus, threads, converter, progress.frames)
        except BaseException:
            progress.close()
            raise
        report.runner = runner.describe
        progress.log(
            f"filmrt batch: {len(jobs)} to convert, {n_skip} already done, "
            f"{len(report.files) - len(jobs) - n_skip} failed earlier; {runner.describe}"
        )

        queue: deque[Job] = deque(jobs)
        inflight: dict[int, Job] = {}
        failures = {j.rel: by_rel[j.rel].failures for j in jobs}
        prev_term = None
        if threading.current_thread() is threading.main_thread():

            def _on_term(signum, frame):
                raise KeyboardInterrupt

            prev_term = signal.signal(signal.SIGTERM, _on_term)
        suspects: deque[Job] = deque()  # crashed together with others: re-run one at a time
        isolated: set[str] = set()

        def dispatch(job: Job) -> None:
            job.attempt_id = manifest.start_attempt(job.rel, report.run_id)
            job.tmp_dst = str(tmp_root / str(job.attempt_id) / Path(job.dst).name)
            inflight[job.attempt_id] = job
            runner.submit(job)

        def handle(job: Job, res: dict) -> None:
            inflight.pop(job.attempt_id, None)
            rep = by_rel[job.rel]
            rep.attempts += 1
            again = dataclasses.replace(job, attempt_id=0, tmp_dst="")
            if res.get("ok"):
                try:
                    _place(Path(job.tmp_dst), Path(job.dst))
                    st = Path(job.dst).stat()
                    res["out_size"], res["out_mtime_ns"] = st.st_size, st.st_mtime_ns
                except OSError as e:
                    res.update(ok=False, error=f"cannot move the output into place: {e}")
            shutil.rmtree(Path(job.tmp_dst).parent, ignore_errors=True)
            if res.get("ok"):
                manifest.finish_done(job.rel, job.attempt_id, res)
                rep.status, rep.reason, rep.error = "done", "converted", None
                rep.seconds, rep.frames_in, rep.frames_out = (
                    res.get("seconds"),
                    res.get("frames_in"),
                    res.get("frames_out"),
                )
                rep.worker, rep.warnings = res.get("worker"), res.get("warnings") or []
                progress.finish(job, res.get("frames_out"), True, False)
                fps = (res["frames_out"] / res["seconds"]) if res.get("seconds") else 0.0
                progress.log(
                    f"done    {job.rel}: {res.get('frames_in') or '?'} -> {res.get('frames_out')} frames "
                    f"in {_fmt_s(res.get('seconds'))} ({fps:.1f} frames/s) [{res.get('worker')}]"
                )
                for w in rep.warnings:
                    progress.log(f"warning {job.rel}: damaged input: {w}", important=True)
                return
            progress.finish(job, None, False, False)
            if res.get("requeue") or res.get("isolate"):
                # not this file's fault (yet): no failure counted
                manifest.finish_interrupted(job.rel, job.attempt_id, res.get("error"))
                if res.get("isolate"):
                    isolated.add(job.rel)
                    suspects.append(again)
                    progress.log(
                        f"crash   {job.rel}: a worker died while several files were converting; "
                        "re-running them one at a time to find the culprit",
                        important=True,
                    )
                else:
                    queue.appendleft(again)
                return
            failures[job.rel] += 1
            give_up = failures[job.rel] > retries
            manifest.finish_failed(job.rel, job.attempt_id, res, give_up=give_up)
            rep.failures, rep.worker = failures[job.rel], res.get("worker")
            rep.error = res.get("error") or "unknown error"
            if give_up:
                progress.finish(job, None, False, True)
                rep.status = "failed"
                rep.reason = f"failed after {failures[job.rel]} attempt(s): {rep.error}"
                progress.log(
                    f"FAILED  {job.rel}: {rep.error} (attempt {failures[job.rel]}, giving up)", important=True
                )
            else:
                progress.log(
                    f"retry   {job.rel}: {rep.error} (attempt {failures[job.rel]} of {retries + 1})",
                    important=True,
                )
                if job.rel in isolated:
                    suspects.append(again)  # a crasher is retried alone
                else:
                    queue.append(again)

        try:
            while queue or inflight or suspects:
                if suspects:
                    if not inflight:
                        dispatch(suspects.popleft())
                else:
                    while queue and len(inflight) < runner.capacity:
                        dispatch(queue.popleft())
                for job, res in runner.wait(0.25):
                    handle(job, res)
        except BaseException:  # Ctrl-C, SIGTERM, workers that cannot start, a bug: stop cleanly
            report.interrupted = True
            runner.shutdown(kill=True)
            for job in inflight.values():
                manifest.finish_interrupted(job.rel, job.attempt_id)
            for f in report.files:
                if f.status == "convert":
                    f.status, f.reason = "pending", "interrupted before it finished"
            progress.close()
            report.seconds = time.time() - t_start
            if json_report:
                _write_json(report, json_report)
            raise
        else:
            runner.shutdown()
        finally:
            if prev_term is not None:
                signal.signal(signal.SIGTERM, prev_term)
        progress.close()
        shutil.rmtree(tmp_root, ignore_errors=True)
        report.seconds = time.time() - t_start
    _print_summary(report, out)
    if json_report:
        _write_json(report, json_report)
    return report


def _write_json(report: BatchReport, path: str | os.PathLike) -> None:
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    tmp = p.with_name(f".{p.name}.tmp-{os.getpid()}")
    tmp.write_text(json.dumps(report.to_dict(), indent=2, default=str) + "\n")
    os.replace(tmp, p)


def _table(rows: list[tuple[str, ...]], out) -> None:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    for r in rows:
        print(
            "  ".join(c.ljust(w) for c, w in zip(r[:-1], widths[:-1], strict=True)) + "  " + r[-1], file=out
        )


def _print_plan(report: BatchReport, out) -> None:
    c = report.counts()
    print(
        f"dry run: {len(report.files)} video(s) under {report.src}: {c.get('convert', 0)} to convert, "
        f"{c.get('skip', 0)} already done, {c.get('failed', 0)} failed (not retried)",
        file=out,
    )
    if report.reset_running:
        print(
            f"  {len(report.reset_running)} job(s) left running by an interrupted run would be reset",
            file=out,
        )
    if report.files:
        rows = [("action", "file", "output", "why")]
        for f in report.files:
            rows.append((f.status, f.rel, os.path.relpath(f.dst, report.dst), f.reason))
        _table(rows, out)


def _print_summary(report: BatchReport, out) -> None:
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
    head += f"; {report.frames_out} frames written in {_fmt_s(secs)}"
    if done:
        head += f" ({fps:.1f} frames/s overall)"
    print(head, file=out)
    if report.files:
        rows = [("status", "file", "frames", "time", "note")]
        for f in report.files:
            frames = f"{f.frames_in or '?'} -> {f.frames_out}" if f.frames_out is not None else "-"
            note = f.reason.replace(f.src, f.rel) if f.status != "done" else (f.worker or "")
            if f.warnings:
                note += " (input damaged: " + "; ".join(f.warnings) + ")"
            rows.append(
                (f.status, f.rel, frames, _fmt_s(f.seconds) if f.status in ("done", "skipped") else "-", note)
            )
        _table(rows, out)

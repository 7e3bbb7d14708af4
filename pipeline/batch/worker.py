"""What runs in a worker: one conversion attempt, converted into its own folder and checked.

A worker is a process (a local ``spawn`` worker, a Ray worker process, or the driver itself with
``workers=0``) that serves one device and keeps one model loaded for all the files it converts.
:class:`Worker` is that state as an object: its device (and GPU index, for the log), the channel
its progress goes back to the driver through, and its open model. :meth:`Worker.run` converts one
:class:`Job` and returns a plain, picklable result dict; it never raises (the driver decides what
a failure means).

Worker processes get their :class:`Worker` from :func:`init_process` (the pool's initializer),
which also ties the process's life to the driver's (``PR_SET_PDEATHSIG`` on Linux plus a
watchdog), so a killed driver leaves no orphan converting into DST. The pool's entry points
(:func:`execute_job`, :func:`ray_execute`) are module functions, as a process pool needs, and
reach that process's worker through :func:`process_worker`; the driver's in-process runner makes
its own :class:`Worker`.

:func:`convert_file` is the single place that calls the convert pipeline.
"""

from __future__ import annotations

import dataclasses
import os
import signal
import socket
import sys
import threading
import time
import traceback
from collections.abc import Callable
from pathlib import Path

import torch

from filmrt.engine import open_interpolator, resolve_device
from filmrt.errors import FilmrtError, NotAVideo, VerificationFailed
from filmrt.options import RuntimeOptions
from filmrt.pipeline import convert as convert_pipeline
from filmrt.pipeline.batch.options import JobOptions
from filmrt.pipeline.infer import PipelineBlend
from filmrt.pipeline.io.probe import probe
from filmrt.pipeline.options import ConvertOptions

Converter = Callable[..., object]

#: start of the recorded error of a file that is not a video (the manifest keeps it: not retried later)
NOT_RETRIED = "not a video, not retried: "

#: seconds between two progress messages of one attempt
PROGRESS_INTERVAL = 0.5


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
    #: container tags of the output (the batch mark, :mod:`filmrt.pipeline.batch.marker`)
    tags: dict = dataclasses.field(default_factory=dict)


def failure(job: Job, error: str) -> dict:
    """The result of an attempt that failed outside :meth:`Worker.run` (a crashed process...)."""
    now = time.time()
    return {"rel": job.rel, "attempt_id": job.attempt_id, "ok": False, "error": error, "finished_at": now}


def convert_file(src: str, dst: str, options: ConvertOptions, *, interpolator, on_progress, tags=None) -> object:
    """THE seam between batch and the convert pipeline: every conversion batch runs goes through here."""
    return convert_pipeline.convert(
        src, dst, options, interpolator=interpolator, on_progress=on_progress, tags=tags
    )


def _field(result, name: str):
    """A field of a converter's result: ``convert``'s ConvertResult or a custom converter's dict."""
    if isinstance(result, dict):
        return result.get(name)
    return getattr(result, name, None)


def check_output(path: Path, result) -> dict:
    """Probe a finished output: it must hold video frames, as many as the converter reported."""
    if not path.is_file():
        raise FilmrtError("the converter reported success but wrote no output file")
    video = probe(path).video
    frames = video.frames if video is not None else 0
    if frames <= 0:
        raise FilmrtError("the output has no video frames")
    expected = _field(result, "frames_out")
    if expected is not None and int(expected) != frames:
        raise FilmrtError(f"output check failed: {frames} frames in the file, converter said {expected}")
    return {
        "ok": True,
        "frames_in": _field(result, "frames_in"),
        "frames_out": frames,
        "interpolated": _field(result, "interpolated"),
        "scene_cuts": _field(result, "scene_cuts"),
        "fps_out": _field(result, "fps_out"),
        "out_duration": float(video.duration) if video.duration is not None else 0.0,
        "out_size": path.stat().st_size,
        "warnings": [str(x) for x in (_field(result, "problems") or [])],
        "temporal": _field(result, "temporal") or {},  # what was detected about time and done
        "video": dict(_field(result, "video") or {}),
        "dropped": [str(x) for x in (_field(result, "dropped") or [])],
        "output": dict(_field(result, "output") or {}),  # the output decision (OutputTarget.to_dict)
        "verify": dict(_field(result, "verify") or {}),  # the output read back (pipeline.io.verify)
    }


class _ProgressSender:
    """``on_progress`` of one attempt: sends (attempt id, frames written) at most every 0.5 s."""

    def __init__(self, channel, attempt_id: int):
        self.channel = channel
        self.attempt_id = attempt_id
        self.last = 0.0

    def __call__(self, frames_done: int) -> None:
        if self.channel is None:
            return
        now = time.monotonic()
        if now - self.last < PROGRESS_INTERVAL:
            return
        self.last = now
        try:
            self.channel.put_nowait((self.attempt_id, int(frames_done)))
        except Exception:  # noqa: BLE001 - progress is best effort
            pass


class Worker:
    """The state of one worker: its device, its progress channel, its one open model."""

    def __init__(self, device: str | None = None, gpu: int | str | None = None, progress=None):
        #: "cuda" when the worker was given a GPU (the job's device is replaced by it), else None
        self.device = device
        #: the GPU index (or Ray's GPU ids) this worker serves, for the log only
        self.gpu = gpu
        #: where progress goes: anything with ``put_nowait((attempt_id, frames))``
        self.progress = progress
        self._model_key: RuntimeOptions | None = None
        self._model = None

    @property
    def name(self) -> str:
        """host:pid[:gpuN|device]: recorded with every attempt."""
        where = f"gpu{self.gpu}" if self.gpu is not None else (self.device or "")
        return f"{socket.gethostname()}:{os.getpid()}" + (f":{where}" if where else "")

    def interpolator(self, runtime: RuntimeOptions):
        """The model for these runtime options: opened once, reused for every file; other options
        close it and open theirs (one model per worker)."""
        if self._model is None or runtime != self._model_key:
            self.close()
            # --model blend: the pipeline blends the decoded planes itself, as convert does alone
            self._model = PipelineBlend.instead_of(runtime, resolve_device(runtime.device)) \
                or open_interpolator(runtime)
            self._model_key = runtime
        return self._model

    def close(self) -> None:
        model, self._model, self._model_key = self._model, None, None
        close = getattr(model, "close", None)
        if close is not None:
            close()

    def options_for(self, options: JobOptions) -> JobOptions:
        """The job's options on this worker: its device replaces the job's (local --gpus, Ray GPU tasks)."""
        if self.device:
            return dataclasses.replace(options, runtime=options.runtime.replace(device=self.device))
        return options

    def run(self, job: Job, converter: Converter | None = None, progress=None) -> dict:
        """Run one conversion attempt and return a plain result dict (never raises).

        Writes only below ``job.tmp_dst``'s folder; the output is checked with
        :func:`check_output`. ``converter`` None = the convert pipeline with this worker's model.
        """
        t0 = time.time()
        res: dict = {"rel": job.rel, "attempt_id": job.attempt_id, "ok": False, "started_at": t0}
        res["worker"] = self.name
        on_progress = _ProgressSender(progress if progress is not None else self.progress, job.attempt_id)
        try:
            if not os.path.exists(job.src):
                raise FilmrtError(
                    f"source not found on {socket.gethostname()}: {job.src} (with --ray, SRC and DST must be "
                    "on a filesystem shared by every node, mounted at the same path)"
                )
            tmp = Path(job.tmp_dst)
            tmp.parent.mkdir(parents=True, exist_ok=True)  # also tells the driver the job started
            options = self.options_for(job.options)
            if converter is None:
                model = self.interpolator(options.runtime)
                result = convert_file(
                    job.src, str(tmp), options, interpolator=model, on_progress=on_progress, tags=job.tags
                )
            else:
                result = converter(job.src, str(tmp), options, interpolator=None, on_progress=on_progress)
            res.update(check_output(tmp, result))
        except NotAVideo as e:  # retrying cannot help: the driver gives up at once, later runs too
            res["error"], res["permanent"] = f"{NOT_RETRIED}{e}", True
        except VerificationFailed as e:  # failed, never "done": the differences on one line; the same
            # input gives the same output, so this run does not retry it (a later run does)
            res["error"], res["permanent"] = "; ".join(str(e).splitlines()), True
        except FilmrtError as e:
            res["error"] = str(e)
        except Exception as e:  # noqa: BLE001 - every failure is reported, none stops the batch
            msg = str(e).strip().splitlines()[0] if str(e).strip() else ""
            res["error"] = f"{type(e).__name__}: {msg}" if msg else type(e).__name__
            res["traceback"] = traceback.format_exc(limit=8)
        res["finished_at"] = time.time()
        res["seconds"] = res["finished_at"] - t0
        return res


# ---------------------------------------------------------------------------------------------
# worker processes
# ---------------------------------------------------------------------------------------------
#: this process's worker, made by :func:`init_process` (local pool) or on first use (Ray); a
#: process pool calls module functions, so this is where they find it. The driver never sets it.
_process_worker: Worker | None = None


def process_worker() -> Worker:
    """This worker process's :class:`Worker` (made on first use, then kept with its model)."""
    global _process_worker
    if _process_worker is None:
        _process_worker = Worker()
    return _process_worker


def die_with_parent(parent_pid: int) -> None:
    """Make this worker exit when the driver dies, even by SIGKILL."""
    if sys.platform.startswith("linux"):
        try:
            import ctypes  # Linux only: prctl

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


def init_process(device_queue, progress_queue, parent_pid: int, threads: int | None) -> None:
    """Initializer of a local worker process: parent watch, device pinning, thread count, its Worker."""
    global _process_worker
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the driver's business
    die_with_parent(parent_pid)
    gpu = None
    if device_queue is not None:
        try:
            gpu = device_queue.get(timeout=10)
        except Exception:  # noqa: BLE001
            gpu = None
    if gpu is not None:
        os.environ["CUDA_VISIBLE_DEVICES"] = str(gpu)
    if threads:
        torch.set_num_threads(threads)
    _process_worker = Worker(device="cuda" if gpu is not None else None, gpu=gpu, progress=progress_queue)


def execute_job(job: Job, converter: Converter | None = None) -> dict:
    """Entry point of a local pool task: this process's worker runs the job."""
    return process_worker().run(job, converter)


def ray_execute(job: Job, converter: Converter | None, progress, device: str | None) -> dict:
    """Entry point of a Ray task: the same as a local worker, the device chosen by Ray."""
    worker = process_worker()
    worker.device = device
    if device == "cuda":
        try:
            import ray  # optional: only ever called inside a Ray worker

            ids = ray.get_gpu_ids()
            worker.gpu = ",".join(str(i) for i in ids) if ids else None
        except Exception:  # noqa: BLE001
            pass
    return worker.run(job, converter, progress)

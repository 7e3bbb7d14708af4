"""Where jobs execute: in the driver, in local worker processes (one per GPU with ``--gpus``), on Ray.

Every runner has the same small interface, used by the driver's dispatch loop:
``capacity`` (jobs it runs at once), ``submit(job)``, ``wait(timeout) -> [(job, result)]``,
``shutdown(kill=False)`` and ``describe`` (one line for the log). Results are the plain dicts of
:meth:`filmrt.pipeline.batch.worker.Worker.run`; progress comes back through ``on_progress(attempt
id, frames written)``, called in the driver.

- :class:`InlineRunner` (``workers=0``): one file at a time in the driver process.
- :class:`LocalRunner`: N ``spawn`` processes, each holding one model for its whole life, pinned
  to one GPU each with ``gpus`` (``CUDA_VISIBLE_DEVICES``). A worker that dies takes its whole
  pool down; the files that were converting beside it are not charged a failure but re-run one at
  a time by the driver (``isolate``), so only a file that crashes alone fails.
- :class:`RayRunner`: the same job function as Ray tasks (``num_gpus=1`` or CPU tasks) scheduled
  by Ray over a cluster.
"""

from __future__ import annotations

import concurrent.futures as cf
import multiprocessing as mp
import os
import time
from collections import deque
from collections.abc import Callable, Sequence
from pathlib import Path

import torch

from filmrt.errors import FilmrtError
from filmrt.pipeline.batch.options import BatchOptions, JobOptions
from filmrt.pipeline.batch.worker import (
    Converter,
    Job,
    Worker,
    execute_job,
    failure,
    init_process,
    ray_execute,
)

ProgressCallback = Callable[[int, int], None]


class _CallbackChannel:
    """A progress channel that calls the driver's callback directly (in-process worker)."""

    def __init__(self, on_progress: ProgressCallback):
        self.on_progress = on_progress

    def put_nowait(self, item: tuple[int, int]) -> None:
        self.on_progress(*item)


class InlineRunner:
    """``workers=0``: convert in the driver process, one file at a time (debugging, tiny jobs).

    Its :class:`Worker` (and so its model) lives as long as the runner: one run of the driver.
    """

    describe = "in-process"

    def __init__(self, converter: Converter | None, on_progress: ProgressCallback):
        self.converter = converter
        self.capacity = 1
        self.worker = Worker(progress=_CallbackChannel(on_progress))
        self._jobs: deque[Job] = deque()

    def submit(self, job: Job) -> None:
        self._jobs.append(job)

    def wait(self, timeout: float) -> list[tuple[Job, dict]]:
        if not self._jobs:
            return []
        job = self._jobs.popleft()
        return [(job, self.worker.run(job, self.converter))]

    def shutdown(self, kill: bool = False) -> None:
        self._jobs.clear()
        self.worker.close()


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
                initializer=init_process,
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
                out.append((job, failure(job, f"{type(e).__name__}: {e}")))
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
            (j, {**failure(j, "worker pool restarted before this file started"), "requeue": True})
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
            return out + [(started[0], failure(started[0], msg))]
        return out + [(j, {**failure(j, msg), "isolate": True}) for j in started]

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
            import ray  # optional (filmrt[ray])
        except ImportError as e:
            raise FilmrtError("--ray needs Ray: pip install 'filmrt[ray]'") from e
        self.ray = ray
        self._started = False
        if not ray.is_initialized():
            self._started = True
            ray_connect(ray, address)
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
        self.task = ray.remote(max_retries=2, retry_exceptions=False, **opts)(ray_execute)
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
                out.append((job, failure(job, f"Ray task failed: {type(e).__name__}: {first}")))
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


def ray_connect(ray, address: str | bool | None) -> None:
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


def check_gpus(gpus: Sequence[int], workers: int | None) -> None:
    """Local --gpus: the indices must exist here (each worker is pinned to one)."""
    if workers == 0:
        raise FilmrtError("--gpus needs worker processes: use --workers 1 or more (or leave it out)")
    n = torch.cuda.device_count()
    if n == 0:
        raise FilmrtError("--gpus given, but PyTorch sees no CUDA GPU on this machine")
    bad = [g for g in gpus if g >= n]
    if bad:
        raise FilmrtError(f"--gpus {','.join(map(str, bad))}: this machine has {n} GPU(s) (0..{n - 1})")


def make_runner(batch: BatchOptions, options: JobOptions, converter: Converter | None, on_progress: ProgressCallback):
    """The runner ``batch`` asks for. CPU threads per worker: the runtime's ``threads`` when given,
    else (local CPU workers) the machine's cores divided between the workers."""
    threads = options.runtime.threads
    if not batch.local:
        use_gpus = bool(batch.gpus) or str(options.runtime.device).startswith("cuda")
        return RayRunner(batch.ray, use_gpus=use_gpus, workers=batch.workers, threads=threads,
                         converter=converter, on_progress=on_progress)
    if batch.workers == 0:
        return InlineRunner(converter, on_progress)
    n = batch.workers or (len(batch.gpus) if batch.gpus else 1)
    if threads is None and not batch.gpus:
        threads = max(1, (os.cpu_count() or 1) // n)
    return LocalRunner(n, batch.gpus, threads, converter, on_progress)

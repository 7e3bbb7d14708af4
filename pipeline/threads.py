"""The thread plan of a conversion: who gets the CPU cores while decode, model and encode overlap.

``convert`` runs three stages at once (:mod:`filmrt.pipeline.convert`): the decode thread (PyAV's
decoder, then Y'CbCr -> RGB in PyTorch), the inference thread (the model) and the encode thread
(RGB -> Y'CbCr in PyTorch, then the encoder). On a CPU the model is by far the dearest stage
(RIFE at 720p: ~1 s per interpolation on 2 cores, against a few ms to decode and ~20-60 ms to
convert and encode a frame), so the plan gives the **model every core** and the codec stages
**one thread each**:

- every extra runnable thread preempts one of the model's workers now and then, and a parallel
  convolution waits for its slowest worker: a few busy side threads cost the model more than
  their own CPU time. The codec stages need little CPU in all and are never the bottleneck
  beside a CPU model, so they run serially, beside it (their frames wait in bounded queues);
- the decoder: ``thread_count`` 1 (FFmpeg's default is one frame thread per core + 1);
- the encoder: libx264/libx265 ``threads`` 1 (x264's default is 1.5 threads per core plus
  look-ahead threads);
- the colour conversions: ``torch.set_num_threads(1)`` *in the decode and encode threads*
  (PyTorch's OpenMP thread count is per calling thread; the model's thread keeps its own);
- PyTorch work that is not the model runs on ``glue`` threads too: the input analysis before the
  run (:func:`torch_threads`), and the whole inference thread when the model is not PyTorch's
  (OpenVINO, ONNX Runtime: their own pools run the model; the inference thread only stacks, pads,
  crops and checks frames). Measured on the 2-core bench machine under load: the repeat analysis
  of 13 720p frames 236 ms of CPU on 2 PyTorch threads, 68 ms on one; ``yuv_to_rgb`` of one 720p
  frame 41 vs 17 ms (OpenMP workers spinning for a core another stage holds).

A model whose arithmetic is next to nothing (the pipeline's own blend: ``light``) leaves the
cores to the codecs: the encoder gets one thread per core (:meth:`ThreadPlan.codecs_take_the_cores`;
``live`` does the same when no model runs). On 2 cores a 1080p blend conversion is libx264's work
almost entirely, and its look-ahead encodes the last ~40 frames after the last blend. Not for
H.264/HEVC into MPEG-PS (``OutputTarget.times_guessed``): there readers guess the times of all but
the first picture of a PES packet, and with x264 on 2 threads a .vob read back with two pictures
on one time (caught by the verification, exit 4); ``--codec auto`` writes MPEG-2 there anyway.

On a GPU the model does not use the CPU cores: the codecs keep their own defaults (0 = FFmpeg's
choice) and PyTorch's count is left alone. ``--threads N`` sets the model's count (all backends),
and the plan is built around it.

THE place these numbers are chosen: :func:`plan_threads`. The stages themselves are joined by
:class:`Stages` (bounded queues that give up when another stage failed).
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import queue
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import torch


def cpu_cores() -> int:
    """The cores this process may run on (its affinity mask, not the machine's count)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)


@dataclass(frozen=True)
class ThreadPlan:
    """Thread counts of one conversion; 0 means "the library's own choice"."""

    #: cores the plan divides
    cores: int
    #: the model's threads (torch intra-op threads / OpenVINO INFERENCE_NUM_THREADS / ORT intra-op)
    model: int
    #: the decoder's codec threads (PyAV ``thread_count``)
    decoder: int
    #: the encoder's codec threads (x264/x265 ``threads``)
    encoder: int
    #: PyTorch threads of the colour conversions in the decode and encode threads
    glue: int

    def describe(self) -> str:
        def n(k: int) -> str:
            return str(k) if k else "auto"

        return (f"{self.cores} cores: model {n(self.model)}, decoder {n(self.decoder)}, "
                f"encoder {n(self.encoder)}, colour conversion {n(self.glue)}")

    def enter_stage(self) -> None:
        """Called first in the decode and encode threads: their PyTorch work runs on ``glue`` threads."""
        if self.glue:
            torch.set_num_threads(self.glue)

    def codecs_take_the_cores(self) -> ThreadPlan:
        """The plan when no model needs the cores (a light model, a live run without model tiers):
        the encoder gets one thread per core (0 stays 0: the library's own choice on a GPU)."""
        return dataclasses.replace(self, encoder=self.cores if self.encoder else 0)

    def inference_threads(self, backend: str, model_count: int) -> int:
        """PyTorch threads of the inference thread: ``model_count`` when PyTorch runs the model
        (``backend`` "torch"), ``glue`` when another runtime does (OpenVINO, ONNX Runtime)."""
        return self.glue if backend != "torch" and self.glue else model_count


@contextlib.contextmanager
def torch_threads(n: int) -> Iterator[None]:
    """The calling thread's PyTorch thread count set to ``n`` (0: left alone) inside the block."""
    before = torch.get_num_threads()
    if n:
        torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def plan_threads(device: torch.device | str, model_threads: int | None = None,
                 cores: int | None = None) -> ThreadPlan:
    """The plan for a model on ``device`` (``model_threads``: ``--threads``, None = every core)."""
    cores = cores or cpu_cores()
    if torch.device(device).type != "cpu":
        return ThreadPlan(cores=cores, model=int(model_threads or 0), decoder=0, encoder=0, glue=0)
    model = int(model_threads) if model_threads else cores
    return ThreadPlan(cores=cores, model=model, decoder=1, encoder=1, glue=1)


class Stop(Exception):
    """Raised inside a stage when another stage failed."""


class Stages:
    """The stages of one run as threads: a shared stop event, the errors (the first is raised by
    the caller), and queue operations that give up with :class:`Stop` once any stage failed."""

    def __init__(self):
        self.stop = threading.Event()
        self.errors: list[BaseException] = []
        self.lock = threading.Lock()

    def fail(self, e: BaseException) -> None:
        with self.lock:
            if not isinstance(e, Stop):
                self.errors.append(e)
        self.stop.set()

    def put(self, q: queue.Queue, item) -> None:
        while True:
            if self.stop.is_set():
                raise Stop
            try:
                q.put(item, timeout=0.05)
                return
            except queue.Full:
                continue

    def get(self, q: queue.Queue):
        while True:
            if self.stop.is_set():
                raise Stop
            try:
                return q.get(timeout=0.05)
            except queue.Empty:
                continue

    def run(self, name: str, fn: Callable, *args) -> threading.Thread:
        def body():
            try:
                fn(*args)
            except BaseException as e:  # noqa: BLE001 - handed to the main thread
                self.fail(e)

        th = threading.Thread(target=body, name=f"filmrt-{name}", daemon=True)
        th.start()
        return th

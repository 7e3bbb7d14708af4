"""What one bench run measures: :class:`BenchSettings`, each default written once, here.

``filmrt bench``'s options are generated from the fields (:func:`filmrt.cli.groups.add_options`
reads the :func:`filmrt.options.opt` metadata), so the CLI, the Python API and the ``settings``
recorded in every result agree. A ``None`` default means "chosen for the device and ``--quick``"
and is filled in by :meth:`BenchSettings.resolved`; the help text of the option says how.
The section switches (bool fields, on by default) are offered as ``--no-<section>`` flags.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
from dataclasses import dataclass, field
from pathlib import Path

import torch

from filmrt.errors import FilmrtError
from filmrt.models import get_spec, model_names
from filmrt.options import BACKENDS, PRECISIONS, opt
from filmrt.sizes import Size, parse_size


def csv_list(text: str) -> list[str]:
    """``"a, b,c"`` -> ["a", "b", "c"] (the type of the comma-list options)."""
    return [x.strip() for x in str(text).split(",") if x.strip()]


def int_list(text: str) -> list[int]:
    """``"1,8"`` -> [1, 8] (argparse reports a bad value as a usage error, exit 2)."""
    try:
        return [int(x) for x in csv_list(text)]
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r}: give whole numbers separated by commas, e.g. 1,8") from None


@dataclass
class BenchSettings:
    device: str = field(default="auto", metadata=opt(
        "cpu, cuda or cuda:N; auto = cuda when PyTorch sees a GPU, else cpu", metavar="DEV"))
    quick: bool = field(default=False, metadata=opt(
        "small sizes, few repeats, 1 s clip: a few minutes on 2 CPU cores"))
    models: list[str] | None = field(default=None, metadata=opt(
        "comma list (default: every model: film, rife-4.25, blend)", type=csv_list, metavar="LIST"))
    backends: list[str] | None = field(default=None, metadata=opt(
        f"comma list of {', '.join(BACKENDS)} (default: those available)", type=csv_list, metavar="LIST"))
    precisions: list[str] | None = field(default=None, metadata=opt(
        "comma list of fp32, fp16, bf16 (default: fp32 on CPU, fp16,fp32 on CUDA)", type=csv_list, metavar="LIST"))
    #: sizes as written (labels in the result); WxH = width x height (filmrt.sizes)
    sizes: list[str] | None = field(default=None, metadata=opt(
        "comma list of 720p, 1080p, 2160p, WxH (width x height, e.g. 1280x720) or N (default: 720p on CPU, "
        "256x256,720p with --quick; 720p,1080p,2160p on CUDA, 720p,1080p with --quick)", type=csv_list,
        metavar="LIST"))
    batches: list[int] | None = field(default=None, metadata=opt(
        "comma list of batch sizes (default: 1 on CPU, 1,8 on CUDA)", flag="--batch", type=int_list,
        metavar="LIST"))
    warmup: int = field(default=1, metadata=opt("untimed calls per cell", metavar="N"))
    repeats: int | None = field(default=None, metadata=opt(
        "timed calls per cell after warm-up (default 5, quick 3)", type=int, metavar="N"))
    #: per measured cell, seconds
    budget_s: float | None = field(default=None, metadata=opt(
        "seconds per cell before repeats stop (default 30, quick 8)", flag="--budget", type=float, metavar="S"))
    model_only: bool = field(default=True, metadata=opt("skip the model-only runs"))
    stages: bool = field(default=True, metadata=opt("skip the FILM per-stage timings"))
    flops: bool = field(default=True, metadata=opt("skip counting FLOPs"))
    matmul: bool = field(default=True, metadata=opt("skip the matmul peak"))
    e2e: bool = field(default=True, metadata=opt("skip the end-to-end convert runs"))
    clip: str | None = field(default=None, metadata=opt(
        "video for the end-to-end runs and --peers (default: ../shared/data/clips/bbb_720p25_audio.mp4)",
        metavar="FILE"))
    #: segment start, seconds
    ss: float = field(default=0.0, metadata=opt("segment start in seconds", metavar="START"))
    #: segment duration, seconds
    t: float | None = field(default=None, metadata=opt(
        "segment duration in seconds (default 2, quick 1)", type=float, metavar="DURATION"))
    e2e_models: list[str] | None = field(default=None, metadata=opt(
        "models for the end-to-end convert (default: those with real weights)", type=csv_list, metavar="LIST"))
    e2e_backends: list[str] | None = field(default=None, metadata=opt(
        "backends for the end-to-end convert (default on CPU: torch, ort and openvino where available, side "
        "by side; on CUDA: the first of --backends, else auto)", type=csv_list, metavar="LIST"))
    #: output rate = factor x source rate in the end-to-end comparison
    rate_factor: int = field(default=2, metadata=opt(
        "output rate = factor x source rate end to end", flag="--factor", metavar="N"))
    #: frame pairs per model call in convert
    e2e_batch: int = 4
    #: skip model-only/stage cells above this many counted TFLOP per call
    max_tflop: float | None = field(default=None, metadata=opt(
        "skip model-only/stage cells above this many counted TFLOP per call (default: none; 0.5 with --quick "
        "on CPU, which keeps FILM to small sizes)", type=float, metavar="X"))
    quiet: bool = field(default=False, metadata=opt("no progress lines"))
    #: the command line, recorded in the result
    command: str = ""

    def __post_init__(self) -> None:
        for name in (*(self.models or ()), *(self.e2e_models or ())):
            get_spec(name)  # an unknown model fails now, naming the known ones
        for what, given, known in (("backend", [*(self.backends or ()), *(self.e2e_backends or ())], BACKENDS),
                                   ("precision", self.precisions or (), PRECISIONS)):
            for x in given:
                if x not in known:
                    raise FilmrtError(f"unknown {what} {x!r}: use {', '.join(known)}")
        for size in self.sizes or ():
            parse_size(size)
        if any(int(n) < 1 for n in self.batches or ()):
            raise FilmrtError(f"--batch {self.batches}: batch sizes must be >= 1")
        if self.warmup < 0 or (self.repeats is not None and self.repeats < 1):
            raise FilmrtError("--warmup must be >= 0 and --repeats >= 1")
        if self.rate_factor < 2:
            raise FilmrtError(f"--factor {self.rate_factor}: must be 2 or more (1 would interpolate nothing)")
        if self.ss < 0 or (self.t is not None and self.t <= 0):
            raise FilmrtError("--ss must be >= 0 and --t > 0")

    def resolved(self) -> BenchSettings:
        """A copy with every ``None`` replaced by its device- and ``--quick``-dependent default."""
        s = dataclasses.replace(self)
        if s.device == "auto":
            s.device = "cuda" if torch.cuda.is_available() else "cpu"
        cuda = torch.device(s.device).type == "cuda"
        if s.models is None:
            s.models = model_names()
        if s.precisions is None:
            s.precisions = ["fp16", "fp32"] if cuda else ["fp32"]
        if s.sizes is None:
            if cuda:
                s.sizes = ["720p", "1080p"] if s.quick else ["720p", "1080p", "2160p"]
            else:
                s.sizes = ["256x256", "720p"] if s.quick else ["720p"]
        if s.max_tflop is None and s.quick and not cuda:
            s.max_tflop = 0.5
        if s.batches is None:
            s.batches = [1, 8] if cuda else [1]
        if s.repeats is None:
            s.repeats = 3 if s.quick else 5
        if s.budget_s is None:
            s.budget_s = 8.0 if s.quick else 30.0
        if s.t is None:
            s.t = 1.0 if s.quick else 2.0
        if s.clip is None:
            s.clip = str(default_clip())
        return s

    def size_list(self) -> list[Size]:
        """The sizes to measure, parsed (``Size.hw`` is (H, W) for tensors)."""
        return [parse_size(x) for x in self.sizes or ()]


def shared_dir() -> Path:
    """``../shared`` beside the checkout (data and golden fixtures), or ``$FILMRT_SHARED``."""
    return Path(os.environ.get("FILMRT_SHARED", Path(__file__).resolve().parent.parent.parent / "shared"))


def default_clip() -> Path:
    """The 720p25 Big Buck Bunny excerpt in :func:`shared_dir`."""
    return shared_dir() / "data" / "clips" / "bbb_720p25_audio.mp4"

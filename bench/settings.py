"""What one bench run measures and shares: :class:`BenchSettings`, each default written once, here
(``filmrt bench``'s options are generated from its fields, bool sections as ``--no-<section>``; a
``None`` default is chosen for the device and ``--quick`` by :meth:`BenchSettings.resolved`), and
:class:`RunContext`: the settings, device, weights (:class:`ModelCache`) and skips of one run.
"""

from __future__ import annotations

import argparse
import copy
import dataclasses
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple

import torch

from filmrt import weights as W
from filmrt.bench.report import progress
from filmrt.errors import FilmrtError
from filmrt.models import get_spec, load_model, model_names
from filmrt.options import BACKENDS, PRECISIONS, RuntimeOptions, opt
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


#: the defaults of ``None`` fields: (CPU, CPU --quick, CUDA, CUDA --quick)
DEFAULTS = {
    "precisions": (["fp32"], ["fp32"], ["fp16", "fp32"], ["fp16", "fp32"]),
    "sizes": (["720p"], ["256x256", "720p"], ["720p", "1080p", "2160p"], ["720p", "1080p"]),
    "max_tflop": (None, 0.5, None, None),
    "batches": ([1], [1], [1, 8], [1, 8]),
    "repeats": (5, 3, 5, 3),
    "budget_s": (30.0, 8.0, 30.0, 8.0),
    "t": (2.0, 1.0, 2.0, 1.0),
}


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
    ss: float = field(default=0.0, metadata=opt("segment start in seconds", metavar="START"))
    t: float | None = field(default=None, metadata=opt(
        "segment duration in seconds (default 2, quick 1)", type=float, metavar="DURATION"))
    e2e_models: list[str] | None = field(default=None, metadata=opt(
        "models for the end-to-end convert (default: those with real weights)", type=csv_list, metavar="LIST"))
    e2e_backends: list[str] | None = field(default=None, metadata=opt(
        "backends for the end-to-end convert (default on CPU: torch, ort and openvino where available, side "
        "by side; on CUDA: the first of --backends, else auto)", type=csv_list, metavar="LIST"))
    rate_factor: int = field(default=2, metadata=opt(
        "output rate = factor x source rate end to end", flag="--factor", metavar="N"))
    #: frame pairs per model call in convert
    e2e_batch: int = 4
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
        """A copy with every ``None`` replaced by its default for the device and ``--quick`` (:data:`DEFAULTS`)."""
        s = dataclasses.replace(self)
        if s.device == "auto":
            s.device = "cuda" if torch.cuda.is_available() else "cpu"
        cuda = torch.device(s.device).type == "cuda"
        for name, choices in DEFAULTS.items():
            if getattr(s, name) is None:
                setattr(s, name, copy.copy(choices[2 * cuda + s.quick]))
        s.models = model_names() if s.models is None else s.models
        s.clip = str(default_clip()) if s.clip is None else s.clip
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


# --- what the sections of one run share: the models' weights, the device, the work folder, skips ---

class ModelWeights(NamedTuple):
    #: weights file to load (None: the installed ones, or none for a parameter-free model)
    path: str | None
    #: how the result describes them
    description: str
    #: seeded random weights (no real ones installed): timing is valid, quality is not
    random: bool = False


class ModelCache:
    """Each model's weights, built once: a model without installed ones (FILM) gets seeded random weights
    in its full configuration (timing does not depend on their values), in a safetensors file every
    backend loads; ``configs`` ({model: config}) forces another configuration (a dry run's small FILM)."""

    def __init__(self, workdir: Path, configs: dict | None = None):
        self.workdir = workdir
        self.configs = configs or {}
        self._weights: dict[str, ModelWeights] = {}

    def weights_for(self, name: str) -> ModelWeights:
        if name in self._weights:
            return self._weights[name]
        spec = get_spec(name)
        if not spec.needs_weights:
            res = ModelWeights(None, "none (parameter-free)")
        elif W.find(spec.name) and spec.name not in self.configs:
            res = ModelWeights(None, f"installed: {Path(W.find(spec.name)).name}")
        else:
            torch.manual_seed(0)
            config = dict(self.configs.get(spec.name) or spec.default_config)
            net = spec.build(config)
            path = self.workdir / f"{spec.name}-random.safetensors"
            W.save(path, net.state_dict(), spec.name, config, source="bench random init")
            res = ModelWeights(str(path), "random (seeded; no weights installed; timing does not depend on "
                               "weight values)", random=True)
        self._weights[name] = res
        return res

    def module(self, name: str, device: torch.device) -> torch.nn.Module:
        return load_model(name, weights=self.weights_for(name).path, device=device)

    def runtime(self, name: str, **fields) -> RuntimeOptions:
        """RuntimeOptions for ``name`` with this cache's weights (``fields``: backend, device, ...)."""
        return RuntimeOptions(model=name, weights=self.weights_for(name).path, **fields)


@dataclasses.dataclass
class RunContext:
    #: resolved settings (no None left where a default is chosen for the device)
    settings: BenchSettings
    device: torch.device
    cache: ModelCache
    #: temporary folder of this run (random weights, encoded outputs)
    workdir: Path
    #: what was not measured: {"what", "why"}
    skipped: list[dict] = dataclasses.field(default_factory=list)

    def skip(self, what: str, why: BaseException | str) -> None:
        reason = why if isinstance(why, str) else f"{type(why).__name__}: {why}"
        self.skipped.append({"what": what, "why": reason})

    def log(self, msg: str) -> None:
        progress("bench", self.settings.quiet)(msg)

    def runtime(self, model: str, **fields) -> RuntimeOptions:
        """The runtime of ``model`` for the end-to-end runs: the first asked backend (else
        auto), the first precision, this device."""
        s = self.settings
        base = {"backend": (s.backends or ["auto"])[0], "device": str(self.device), "precision": s.precisions[0],
                "max_batch": s.e2e_batch}
        return self.cache.runtime(model, **{**base, **fields})

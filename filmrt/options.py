"""Options objects: one dataclass per concern, each default written once.

A field's default is the one default of that setting: the CLI option groups are generated from
the dataclasses (:mod:`filmrt.cli.groups`), so ``--help``, the Python API and the JSON reports all
read the same value. A field that the CLI offers carries :func:`opt` metadata (flag, help, choices).

:class:`RuntimeOptions` is the concern of the core: which model runs where and how. It is
validated once, when it is made, and handed as one object to
:func:`filmrt.engine.open_interpolator`. Pipeline concerns (encode, convert) live in
:mod:`filmrt.pipeline.options`.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

from filmrt.errors import FilmrtError

#: runtimes behind the Interpolator interface, in the order `--backend` lists them
BACKENDS = ("torch", "ort", "trt", "openvino")
PRECISIONS = ("fp32", "fp16", "bf16")
#: backend extras: option -> backends that take it
EXTRAS: dict[str, tuple[str, ...]] = {
    "engine": ("trt",),
    "onnx": ("ort", "trt", "openvino"),
    "fast": ("torch",),
    "threads": ("torch", "ort", "openvino"),
}


def opt(help: str, *, flag: str | None = None, short: str | None = None, choices=None, metavar: str | None = None,
        type=None, cli: bool = True, output: bool = True) -> dict:
    """Field metadata describing the CLI option of a dataclass field (see :mod:`filmrt.cli.groups`).

    ``flag`` defaults to ``--field-name``; ``type`` to the type of the default (str when None);
    ``cli=False`` keeps the field out of the generated options. ``output=False`` says that the field
    changes how a result is computed (where, how fast, how many threads) but not the output itself:
    batch's resume logic reads it (a file converted with other execution settings is still done).
    """
    return {"help": help, "flag": flag, "short": short, "choices": choices, "metavar": metavar, "type": type,
            "cli": cli, "output": output}


def changes_output(f: dataclasses.Field) -> bool:
    """Whether dataclass field ``f`` changes the output (its :func:`opt` metadata; True when unstated)."""
    return bool(f.metadata.get("output", True))


def check_precision(value) -> str:
    """The one spelling check of a precision: ``auto`` or one of :data:`PRECISIONS`."""
    if value not in ("auto", *PRECISIONS):
        raise FilmrtError(f"unknown precision {value!r}: use auto, {', '.join(PRECISIONS)}")
    return value


#: the most frame pairs one model call takes (--batch) and CPU threads (--threads): beyond these a
#: typo costs all the memory, or crashes the runtime, instead of being refused
MAX_BATCH = 1024
MAX_THREADS = 1024


def _positive_int(value, what: str, most: int) -> int:
    try:
        n = int(value)
    except (TypeError, ValueError, OverflowError):
        raise FilmrtError(f"{what} must be a positive integer, not {value!r}") from None
    if n < 1 or n != float(value):
        raise FilmrtError(f"{what} must be a positive integer, not {value!r}")
    if n > most:
        raise FilmrtError(f"{what} {n}: at most {most}")
    return n


@dataclass(frozen=True)
class RuntimeOptions:
    """Which model runs on which runtime, where, at what precision (validated in ``__post_init__``)."""

    model: str | None = field(default=None, metadata=opt(
        "model name: film, rife-4.25 or blend (default: film if its weights are installed, else rife-4.25, "
        "which ships with filmrt)", metavar="NAME"))
    weights: str | None = field(default=None, metadata=opt(
        "safetensors weights file (default: the installed ones)", metavar="FILE"))
    backend: str = field(default="auto", metadata=opt(
        "runtime: auto = the fastest available here (it says which it picked)", choices=("auto", *BACKENDS)))
    device: str = field(default="cpu", metadata=opt("cpu, cuda or cuda:N", metavar="DEV"))
    precision: str = field(default="auto", metadata=opt(
        "compute precision; auto = fp32 on CPU, fp16 on CUDA", choices=("auto", *PRECISIONS)))
    #: most frame pairs per model call (the CLI's --batch)
    max_batch: int = field(default=4, metadata=opt("frame pairs per model call", flag="--batch", metavar="N"))
    # ------------------------------------------------------------------ backend extras
    engine: str | None = field(default=None, metadata=opt(
        "trt: a prebuilt engine, the -o of `filmrt build-engine` (FILM's stage engines X.features/flow/"
        "fusion.engine: give X.engine)", metavar="FILE"))
    onnx: str | None = field(default=None, metadata=opt(
        "ort/trt/openvino: a prebuilt ONNX graph from `filmrt export` instead of exporting the model", metavar="FILE"))
    fast: str | None = field(default=None, metadata=opt(
        "torch on CUDA: fast-path flags, comma-separated: warp, channels_last, compile, cudagraphs, all, "
        "none (default: warp)", metavar="FLAGS"))
    threads: int | None = field(default=None, metadata=opt(
        "torch/ort/openvino: CPU threads for inference (default: the runtime's own choice)", metavar="N"))

    def __post_init__(self) -> None:
        if self.backend not in ("auto", *BACKENDS):
            raise FilmrtError(f"unknown backend {self.backend!r}: use auto, {', '.join(BACKENDS)}")
        check_precision(self.precision)
        object.__setattr__(self, "max_batch", _positive_int(self.max_batch, "--batch", MAX_BATCH))
        if self.threads is not None:
            object.__setattr__(self, "threads", _positive_int(self.threads, "--threads", MAX_THREADS))
        if not str(self.device).strip():
            raise FilmrtError("--device must not be empty: use cpu, cuda or cuda:N")
        if self.backend != "auto":
            for name in self.extras():
                if self.backend not in EXTRAS[name]:
                    raise FilmrtError(
                        f"--{name} is an option of the {' and '.join(EXTRAS[name])} backend"
                        f"{'s' if len(EXTRAS[name]) > 1 else ''}, not of {self.backend!r}"
                    )

    def extras(self) -> dict:
        """The backend extras that are set, by name (what a backend class receives as keywords)."""
        return {k: getattr(self, k) for k in EXTRAS if getattr(self, k) is not None}

    def replace(self, **changes) -> RuntimeOptions:
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

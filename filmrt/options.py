"""Options objects: one dataclass per concern, each default written once.

A field's default is the one default of that setting: the CLI option groups are generated from
the dataclasses (:mod:`filmrt.cli.groups`), so ``--help``, the Python API and the JSON reports all
read the same value. A field that the CLI offers carries :func:`opt` metadata (flag, help, choices).

:class:`RuntimeOptions` is the concern of the core: which model runs where and how. It is
validated once, when it is made, and handed as one object to
:func:`filmrt.engine.open_interpolator`, which hands it on to the backend: every backend class is
constructed as ``Cls(model, options)``. Pipeline concerns (encode, convert) live in
:mod:`filmrt.pipeline.options`.

Backend settings. What only one runtime knows (OpenVINO's performance hint, TensorRT's workspace,
FILM state cache sizes per backend...) lives in one settings object per backend,
:class:`TorchSettings`, :class:`OrtSettings`, :class:`OpenVinoSettings`, :class:`TrtSettings`,
carried by RuntimeOptions (``options.ort.ort_opset``). Their field names carry the backend's
prefix (``ov_hint``, ``trt_workspace``) so that every field of the composed groups is unique: the
CLI flags are generated from them (``--ov-hint``), :meth:`RuntimeOptions.build` and
:meth:`RuntimeOptions.replace` take them flat (``RuntimeOptions.build(ov_hint="latency")``), and
batch's settings hash flattens them. A settings value that differs from its default is an option of
its backend, like the extras: with another ``--backend`` it is refused. Every value is checked once,
when the object is made (:func:`check_fields`: choices, positive counts); backends do not check
again. The shared inputs and knobs (``--onnx``, ``--engine``, ``--fast``, ``--threads``, the cache
root) stay RuntimeOptions fields, as before.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import ClassVar

from filmrt.errors import FilmrtError

#: runtimes behind the Interpolator interface, in the order `--backend` lists them
BACKENDS = ("torch", "ort", "trt", "openvino")
PRECISIONS = ("fp32", "fp16", "bf16")
#: ONNX opsets filmrt exports (the reasons for the range: :func:`filmrt.export.exporter.check_opset`)
SUPPORTED_OPSETS = (17, 18, 19)
DEFAULT_OPSET = 17
#: OpenVINO performance hints (:mod:`filmrt.engine.openvino_backend`)
OV_HINTS = ("auto", "latency", "throughput")
#: which graphs an ONNX backend runs: FILM's three stage graphs (auto for FILM) or one whole graph
GRAPHS = ("auto", "stages", "whole")
#: backend extras: option -> backends that take it
EXTRAS: dict[str, tuple[str, ...]] = {
    "engine": ("trt",),
    "onnx": ("ort", "trt", "openvino"),
    "fast": ("torch",),
    "threads": ("torch", "ort", "openvino"),
    "flow_scale": ("torch",),  # the exported graphs run the flow scale they were exported with (1)
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


#: RIFE flow scales offered (the padding multiple 64 / scale stays an integer)
FLOW_SCALES = (0.25, 0.5, 1.0, 2.0)
_UNITS = {"": 1, "B": 1, "K": 2**10, "M": 2**20, "G": 2**30, "T": 2**40}


def parse_memory(value) -> int:
    """Bytes from ``4G``, ``4GB``, ``4GiB``, ``1500M``, ``512k`` or a plain number (binary units)."""
    text = str(value).strip().upper().removesuffix("IB").removesuffix("B") if str(value).strip() else ""
    unit = text[-1:] if text[-1:] in _UNITS and text[-1:] else ""
    try:
        number = float(text[: len(text) - len(unit)])
    except ValueError:
        number = -1.0
    if not number > 0 or number == float("inf"):
        raise FilmrtError(f"--max-memory {value!r}: give a size such as 4G, 1500M or 2.5GB")
    return int(number * _UNITS[unit])


#: the most frame pairs one model call takes (--batch) and CPU threads (--threads): beyond these a
#: typo costs all the memory, or crashes the runtime, instead of being refused
MAX_BATCH = 1024
MAX_THREADS = 1024


def _positive_int(value, what: str, most: int = 1024) -> int:
    try:
        n = int(value)
    except (TypeError, ValueError, OverflowError):
        raise FilmrtError(f"{what} must be a positive integer, not {value!r}") from None
    if isinstance(value, bool) or n < 1 or n != float(value):
        raise FilmrtError(f"{what} must be a positive integer, not {value!r}")
    if n > most:
        raise FilmrtError(f"{what} {n}: at most {most}")
    return n


def _positive_float(value, what: str) -> float:
    try:
        x = float(value)
    except (TypeError, ValueError):
        raise FilmrtError(f"{what} must be a positive number, not {value!r}") from None
    if isinstance(value, bool) or not x > 0 or x == float("inf"):
        raise FilmrtError(f"{what} must be a positive number, not {value!r}")
    return x


def flag_of(f: dataclasses.Field) -> str:
    """The CLI flag of a field (its :func:`opt` ``flag``, else ``--field-name``)."""
    return f.metadata.get("flag") or "--" + f.name.replace("_", "-")


def check_fields(obj) -> None:
    """The one check of an options dataclass's values, from its field metadata and defaults: a
    value with ``choices`` is one of them, an int field is a positive integer, a float field a
    positive number, a bool field a bool (None passes where None is the default). Values are
    normalised in place (``"4"`` -> 4), so the CLI and the Python API get the same checks."""
    for f in dataclasses.fields(obj):
        value, md = getattr(obj, f.name), f.metadata
        if not md or (value is None and f.default is None):
            continue
        flag = flag_of(f)
        if md.get("choices") is not None:
            if value not in md["choices"]:
                raise FilmrtError(f"{flag} {value!r}: use one of {', '.join(map(str, md['choices']))}")
            continue
        kind = md.get("type") or type(f.default)
        if kind is bool:
            if not isinstance(value, bool):
                raise FilmrtError(f"{flag} must be true or false, not {value!r}")
        elif kind is int:
            object.__setattr__(obj, f.name, _positive_int(value, flag))
        elif kind is float:
            object.__setattr__(obj, f.name, _positive_float(value, flag))


# ================================================================ backend settings
# output=False on every field: they change where and how fast a result is computed (cache sizes,
# hints, workspace, graph layout, opset: the same function in another form), not the frames.
def _count(help: str) -> dict:
    return opt(help, metavar="N", output=False)


@dataclass(frozen=True)
class TorchSettings:
    """The torch backend's own settings (its ``--fast`` and ``--threads`` are RuntimeOptions')."""

    backend: ClassVar[str] = "torch"
    torch_cache_frames: int = field(default=4, metadata=_count(
        "torch, FILM: frame states kept across calls (one is ~1.3 GB at 1080p fp32)"))
    torch_cache_pairs: int = field(default=4, metadata=_count("torch, FILM: pair states (flows) kept across calls"))

    def __post_init__(self) -> None:
        check_fields(self)


@dataclass(frozen=True)
class OrtSettings:
    """The ONNX Runtime backend's own settings."""

    backend: ClassVar[str] = "ort"
    ort_opset: int = field(default=DEFAULT_OPSET, metadata=opt(
        "ort: ONNX opset of the exported graph", choices=SUPPORTED_OPSETS, output=False))
    ort_graphs: str = field(default="auto", metadata=opt(
        "ort: stages = FILM's features/flow/fusion graphs (features once per frame), whole = one graph; "
        "auto = stages for FILM", choices=GRAPHS, output=False))
    ort_cache_frames: int = field(default=4, metadata=_count("ort, FILM: frame states kept across calls"))
    ort_cache_pairs: int = field(default=2, metadata=_count("ort, FILM: pair states kept across calls"))

    def __post_init__(self) -> None:
        check_fields(self)


@dataclass(frozen=True)
class OpenVinoSettings:
    """The OpenVINO backend's own settings."""

    backend: ClassVar[str] = "openvino"
    ov_hint: str = field(default="auto", metadata=opt(
        "openvino: performance hint; auto = throughput for several pairs, latency for one",
        choices=OV_HINTS, output=False))
    ov_device: str | None = field(default=None, metadata=opt(
        "openvino: OpenVINO device name, e.g. GPU for an Intel GPU (default: CPU)", metavar="NAME", output=False))
    ov_opset: int = field(default=DEFAULT_OPSET, metadata=opt(
        "openvino: ONNX opset of the exported graph", choices=SUPPORTED_OPSETS, output=False))
    ov_graphs: str = field(default="auto", metadata=opt(
        "openvino: stages, whole or auto (as --ort-graphs)", choices=GRAPHS, output=False))
    ov_cache_frames: int = field(default=4, metadata=_count("openvino, FILM: frame states kept across calls"))
    ov_cache_pairs: int = field(default=2, metadata=_count("openvino, FILM: pair states kept across calls"))

    def __post_init__(self) -> None:
        check_fields(self)
        if self.ov_device is not None and not str(self.ov_device).strip():
            raise FilmrtError("--ov-device must not be empty: name an OpenVINO device (CPU, GPU, ...)")


@dataclass(frozen=True)
class TrtSettings:
    """The TensorRT backend's own settings (its ``--engine`` and ``--onnx`` are RuntimeOptions')."""

    backend: ClassVar[str] = "trt"
    trt_workspace: float | None = field(default=None, metadata=opt(
        "trt: builder workspace limit in GiB for engines built on first use (default: TensorRT's)",
        metavar="GIB", type=float, output=False))
    trt_cuda_graph: bool = field(default=False, metadata=opt(
        "trt: capture each engine call once into a CUDA graph and replay it", output=False))
    trt_verbose: bool = field(default=False, metadata=opt("trt: TensorRT's verbose log", output=False))
    trt_cache_frames: int = field(default=8, metadata=_count("trt, FILM: frame and pair states kept across calls"))

    def __post_init__(self) -> None:
        check_fields(self)


#: RuntimeOptions field -> the settings class it carries
SETTINGS: dict[str, type] = {"torch": TorchSettings, "ort": OrtSettings, "openvino": OpenVinoSettings,
                             "trt": TrtSettings}
#: settings field name -> the RuntimeOptions field of its settings object (``"ov_hint"`` -> ``"openvino"``)
SETTING_GROUP: dict[str, str] = {f.name: group for group, cls in SETTINGS.items() for f in dataclasses.fields(cls)}


def _settings_field(group: str):
    cls = SETTINGS[group]
    # no opt() metadata: the CLI offers the settings' own fields (filmrt.cli.groups), not this one
    return field(default_factory=cls)


@dataclass(frozen=True)
class RuntimeOptions:
    """Which model runs on which runtime, where, at what precision (validated in ``__post_init__``)."""

    model: str | None = field(default=None, metadata=opt(
        "model name: film, rife-4.25 or blend (default: film if its weights are installed, else rife-4.25, "
        "which ships with filmrt)", metavar="NAME"))
    weights: str | None = field(default=None, metadata=opt(
        "safetensors weights file (default: the installed ones)", metavar="FILE"))
    backend: str = field(default="auto", metadata=opt(
        "runtime: auto = the fastest available here (it says which it picked)", choices=("auto", *BACKENDS),
        output=False))
    device: str = field(default="cpu", metadata=opt("cpu, cuda or cuda:N", metavar="DEV", output=False))
    precision: str = field(default="auto", metadata=opt(
        "compute precision; auto = fp32 on CPU (openvino: bf16 where measured, see docs/backends.md), "
        "fp16 on CUDA", choices=("auto", *PRECISIONS),
        output=False))  # fp32 within each backend's parity bound, bf16 within the quality bound: not another output
    #: most frame pairs per model call (the CLI's --batch)
    max_batch: int = field(default=4, metadata=opt("frame pairs per model call", flag="--batch", metavar="N",
                                                              output=False))
    # ------------------------------------------------------------------ large frames (filmrt.tiles)
    max_memory: str | None = field(default=None, metadata=opt(
        "memory budget of the model, e.g. 4G or 1500M: larger frames run in overlapping tiles that fit "
        "(default: no limit, whole frames)", metavar="SIZE", output=False))  # tiled within the measured bound
    flow_scale: float | None = field(default=None, metadata=opt(
        "torch, RIFE: flow estimation scale, 0.25, 0.5, 1 or 2 (default: by frame size, 0.5 from 2160p, "
        "as RIFE's authors advise)", metavar="S", type=float))
    # ------------------------------------------------------------------ backend extras
    engine: str | None = field(default=None, metadata=opt(
        "trt: a prebuilt engine, the -o of `filmrt build-engine` (FILM's stage engines X.features/flow/"
        "fusion.engine: give X.engine)", metavar="FILE", output=False))
    onnx: str | None = field(default=None, metadata=opt(
        "ort/trt/openvino: a prebuilt ONNX graph from `filmrt export` instead of exporting the model", metavar="FILE",
        output=False))
    fast: str | None = field(default=None, metadata=opt(
        "torch on CUDA: fast-path flags, comma-separated: warp, channels_last, compile, cudagraphs, all, "
        "none (default: warp)", metavar="FLAGS", output=False))
    threads: int | None = field(default=None, metadata=opt(
        "torch/ort/openvino: CPU threads for inference (default: the runtime's own choice)", metavar="N",
        output=False))
    # ------------------------------------------------------------------ the exported-graph cache
    cache_dir: str | None = field(default=None, metadata=opt(
        "ort/openvino/trt: root of the exported-graph cache (onnx/, openvino/, engines/, timing/; default: "
        "$FILMRT_CACHE_DIR, else ~/.cache/filmrt)", metavar="DIR", output=False))
    graph_cache: bool = field(default=True, metadata=opt(
        "ort/openvino: export the model in memory each time instead of keeping its graph in the cache",
        output=False))
    # ------------------------------------------------------------------ per-backend settings
    torch: TorchSettings = _settings_field("torch")
    ort: OrtSettings = _settings_field("ort")
    openvino: OpenVinoSettings = _settings_field("openvino")
    trt: TrtSettings = _settings_field("trt")

    def __post_init__(self) -> None:
        for group, cls in SETTINGS.items():  # a dict (to_dict's nesting) becomes its settings object
            value = getattr(self, group)
            if isinstance(value, dict):
                object.__setattr__(self, group, cls(**value))
            elif not isinstance(value, cls):
                raise FilmrtError(f"RuntimeOptions.{group} must be a {cls.__name__}, not {type(value).__name__}")
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
                    names = EXTRAS[name]
                    who = names[0] if len(names) == 1 else f"{', '.join(names[:-1])} and {names[-1]}"
                    raise FilmrtError(
                        f"--{name.replace('_', '-')} is an option of the {who} backend{'s' if len(names) > 1 else ''}, "
                        f"not of {self.backend!r}"
                    )
            for name in self.settings_changed():
                group = SETTINGS[SETTING_GROUP[name]]
                if group.backend != self.backend:
                    flag = "--" + name.replace("_", "-")
                    raise FilmrtError(f"{flag} is an option of the {group.backend} backend, not of {self.backend!r}")
        check_fields(self)
        if self.flow_scale is not None and self.flow_scale not in FLOW_SCALES:
            raise FilmrtError(f"--flow-scale {self.flow_scale:g}: use one of {', '.join(f'{x:g}' for x in FLOW_SCALES)}")
        self.max_memory_bytes()

    def max_memory_bytes(self) -> int | None:
        """``max_memory`` in bytes (None: no budget); ``4G`` = 4 GiB, ``1500M``, ``2.5GB``, plain bytes."""
        return None if self.max_memory is None else parse_memory(self.max_memory)

    def extras(self) -> dict:
        """The backend extras that are set, by name (the inputs that steer ``auto``: see EXTRAS)."""
        return {k: getattr(self, k) for k in EXTRAS if getattr(self, k) is not None}

    def settings_changed(self) -> dict:
        """The backend settings that differ from their defaults, by (flat, prefixed) field name."""
        out = {}
        for group, cls in SETTINGS.items():
            obj, default = getattr(self, group), cls()
            out |= {f.name: getattr(obj, f.name) for f in dataclasses.fields(cls)
                    if getattr(obj, f.name) != getattr(default, f.name)}
        return out

    @classmethod
    def build(cls, **fields) -> RuntimeOptions:
        """RuntimeOptions from flat field names: its own and the settings' (``ov_hint="latency"``
        goes to ``openvino``); an unknown name is a TypeError, as for the constructor."""
        return cls().replace(**fields)

    def replace(self, **changes) -> RuntimeOptions:
        """A copy with ``changes``: RuntimeOptions fields, settings objects, or settings fields by
        their flat names."""
        flat: dict[str, dict] = {}
        own = {}
        for name, value in changes.items():
            if name in SETTING_GROUP:
                flat.setdefault(SETTING_GROUP[name], {})[name] = value
            else:
                own[name] = value
        for group, values in flat.items():
            base = own.get(group, getattr(self, group))
            if isinstance(base, dict):
                base = SETTINGS[group](**base)
            own[group] = dataclasses.replace(base, **values)
        return dataclasses.replace(self, **own)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

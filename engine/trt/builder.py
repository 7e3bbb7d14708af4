"""ONNX plugin graph -> serialized TensorRT engine, with optimization profiles and caches.

``build_engine(onnx_path, ...)`` (CLI: ``filmrt build-engine``):

1. reads the graph (``filmrt export --warp plugin``; inputs ``img0``, ``img1`` (N,3,H,W), ``t`` (N,),
   output ``image``; FILM stage graphs ``*.features/flow/fusion.onnx`` work the same way) and
   checks its ``BackwardWarp`` nodes (namespace ``filmrt``, version ``1``, a custom domain);
2. registers the warp plugin (:mod:`filmrt.engine.trt.plugin`) and marks the nodes ``aot=1`` where
   TensorRT has ahead-of-time plugins, so the engine embeds the kernel's PTX;
3. parses it into a network: **strongly typed** (the types are the graph's: an fp16 graph from
   ``filmrt export --fp16`` gives an FP16 engine; TensorRT 11 has no other way), or on TensorRT 10.x
   with ``--fp16`` and an fp32 graph, weakly typed with ``BuilderFlag.FP16``;
4. adds optimization profiles: batch (min, opt, max) x padded resolutions. Every input dimension
   is derived from (N, H, W) through the graph's symbolic dim names: ``N`` batch, ``H``/``W`` the
   padded frame, ``H_k``/``W_k`` pyramid level k (H / 2^k); fixed dims stay as they are;
5. builds with a timing cache file (reused across builds; one per GPU and TensorRT version, in the
   cache's ``timing/``) and writes the engine atomically, plus ``ENGINE.json`` (what it was built
   from and for);
6. keeps a copy in the engine cache (``engines/`` of the one cache root, :mod:`filmrt.export.cache`;
   ``$FILMRT_ENGINE_CACHE``, its old name, still names it), keyed by (ONNX sha256, GPU name,
   compute capability, TensorRT version, profiles, precision mode, kernel source hash): a second
   build of the same thing is a file copy.

Resolutions are padded to multiples of 64 (:func:`filmrt.padding.padded_size`), since the
Interpolator pads every frame that way: 1080p (1920x1080) runs as 1920x1088, tensor shape (N, 3, 1088, 1920).

The pure parts (profiles, dim resolution, plugin-node inspection, cache keys, argument parsing)
need neither TensorRT nor a GPU and are tested on CPU.
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
import time
from collections.abc import Iterable, Sequence
from pathlib import Path

import onnx
import torch
from onnx import TensorProto

from filmrt.engine.cuda import warp_kernel
from filmrt.engine.trt import plugin as trt_plugin
from filmrt.engine.trt.plugin import PLUGIN_NAME, _graphs
from filmrt.errors import FilmrtError
from filmrt.export import cache as graph_cache
from filmrt.export.exporter import stage_path
from filmrt.fileio import atomic_write, sha256_file, write_json
from filmrt.padding import MULTIPLE, padded_size
from filmrt.sizes import parse_size, parse_sizes
from filmrt.stages import STAGES

INSTALL_HINT = (
    "install TensorRT's Python package on a machine where NVIDIA's package index is reachable: "
    "`pip install tensorrt` (or `pip install 'filmrt[trt]'`); it needs an NVIDIA GPU and driver"
)


# ================================================================ pure parts (no TensorRT)
def parse_shapes(text: str) -> list[tuple[int, int]]:
    """``--shapes``: comma-separated frame sizes, ``WIDTHxHEIGHT`` or names (:func:`filmrt.sizes.parse_size`)
    -> [(height, width), ...] in tensor order: ``1920x1080,720p`` -> [(1080, 1920), (720, 1280)]."""
    if not text.strip(" ,"):
        raise FilmrtError("--shapes needs at least one size, e.g. --shapes 1920x1080,720p")
    return [size.hw for size in parse_sizes(text)]


def parse_nhw(text: str) -> tuple[int, int, int]:
    """``NxHxW`` (batch x HEIGHT x WIDTH: a tensor shape, in the order of the engine's input dims and
    of ``trtexec --minShapes``; unlike ``--shapes``, whose sizes are WIDTHxHEIGHT) -> (n, h, w)."""
    m = re.fullmatch(r"\s*(\d+)x(\d+)x(\d+)\s*", text.lower())
    if not m:
        raise FilmrtError(f"bad shape {text!r}: use NxHxW (batch x height x width), e.g. 4x1080x1920")
    n, h, w = (int(g) for g in m.groups())
    if min(n, h, w) < 1:
        raise FilmrtError(f"bad shape {text!r}: every dimension must be positive")
    return n, h, w


def parse_batch(text: str | int) -> tuple[int, int, int]:
    """``8`` -> (8, 8, 8); ``1..8`` -> (1, 8, 8) (min, opt, max: tuned for the largest batch)."""
    s = str(text).strip()
    m = re.fullmatch(r"(\d+)(?:\.\.(\d+))?", s)
    if not m:
        raise FilmrtError(f"bad --batch {text!r}: use N or MIN..MAX, e.g. 1..8")
    lo = int(m.group(1))
    hi = int(m.group(2) or lo)
    if lo < 1 or hi < lo:
        raise FilmrtError(f"bad --batch {text!r}: need 1 <= MIN <= MAX")
    return lo, hi, hi


@dataclasses.dataclass(frozen=True)
class ProfileSpec:
    """One optimization profile over (batch, padded height, padded width)."""

    min: tuple[int, int, int]
    opt: tuple[int, int, int]
    max: tuple[int, int, int]

    def __post_init__(self):
        for a, b in ((self.min, self.opt), (self.opt, self.max)):
            if any(x > y for x, y in zip(a, b, strict=True)):
                raise FilmrtError(
                    f"profile needs min <= opt <= max in every dimension, got {self.describe()}"
                )
        for nhw in (self.min, self.opt, self.max):
            if nhw[1] % MULTIPLE or nhw[2] % MULTIPLE:
                raise FilmrtError(
                    f"profile sizes must be multiples of {MULTIPLE} (frames are padded so), got {self.describe()}"
                )

    @classmethod
    def from_sizes(
        cls, sizes: Sequence[tuple[int, int]], batch: tuple[int, int, int] = (1, 1, 1)
    ) -> ProfileSpec:
        """Cover ``sizes`` (frame (height, width), tensor order: ``Size.hw``; padded to 64): min/max
        over them, opt = the first one."""
        if not sizes:
            raise FilmrtError("no resolution given for the engine profile")
        padded = [(padded_size(h, MULTIPLE), padded_size(w, MULTIPLE)) for h, w in sizes]
        hs = [h for h, _ in padded]
        ws = [w for _, w in padded]
        return cls(
            (batch[0], min(hs), min(ws)),
            (batch[1], padded[0][0], padded[0][1]),
            (batch[2], max(hs), max(ws)),
        )

    @classmethod
    def from_nhw(cls, mn, opt, mx) -> ProfileSpec:
        """Explicit NxHxW min/opt/max; H and W are padded up to multiples of 64."""
        pad = lambda s: (s[0], padded_size(s[1], MULTIPLE), padded_size(s[2], MULTIPLE))  # noqa: E731
        return cls(pad(mn), pad(opt), pad(mx))

    def contains(self, n: int, h: int, w: int) -> bool:
        return all(lo <= x <= hi for lo, x, hi in zip(self.min, (n, h, w), self.max, strict=True))

    def describe(self) -> str:
        f = lambda s: "x".join(map(str, s))  # noqa: E731
        return f"min {f(self.min)}, opt {f(self.opt)}, max {f(self.max)} (NxHxW)"

    def to_json(self) -> dict:
        return {"min": list(self.min), "opt": list(self.opt), "max": list(self.max)}

    @classmethod
    def from_json(cls, d: dict) -> ProfileSpec:
        return cls(tuple(d["min"]), tuple(d["opt"]), tuple(d["max"]))


def profiles_from_args(
    shapes: str | None = None,
    min_shape: str | None = None,
    opt_shape: str | None = None,
    max_shape: str | None = None,
    batch: str | int | None = None,
) -> list[ProfileSpec]:
    """The CLI's ``--shapes``/``--batch`` or ``--min/--opt/--max`` -> one profile."""
    explicit = [min_shape, opt_shape, max_shape]
    if any(explicit):
        if shapes:
            raise FilmrtError("give either --shapes or --min/--opt/--max, not both")
        if not all(explicit):
            raise FilmrtError("--min, --opt and --max go together (each NxHxW)")
        if batch is not None:
            raise FilmrtError("--batch does not combine with --min/--opt/--max: their N is the batch")
        return [ProfileSpec.from_nhw(parse_nhw(min_shape), parse_nhw(opt_shape), parse_nhw(max_shape))]
    sizes = parse_shapes(shapes or "1080p")
    return [ProfileSpec.from_sizes(sizes, parse_batch(batch if batch is not None else 1))]


_DIM = re.compile(r"^(N|H|W)(?:_(\d+))?$")
_ALIASES = {"batch": "N", "batch_size": "N", "n": "N", "height": "H", "h": "H", "width": "W", "w": "W"}


def resolve_dims(
    dims: Sequence[int | str | None], n: int, h: int, w: int, *, name: str = "?"
) -> tuple[int, ...]:
    """Concrete shape of a graph input for batch ``n`` and padded frame ``h`` x ``w``.

    ``dims`` are the ONNX dims: ints (fixed) or dim names: ``N``, ``H``, ``W``, and ``H_k``/``W_k``
    for pyramid level k (size / 2^k), the names ``filmrt export`` writes."""
    out = []
    for i, d in enumerate(dims):
        if isinstance(d, int) and d > 0:
            out.append(d)
            continue
        key = _ALIASES.get(str(d), str(d)) if d not in (None, "") else ""
        m = _DIM.match(key)
        if not m:
            raise FilmrtError(
                f"input {name!r}: cannot derive dimension {i} ({d!r}) from batch/height/width; the graph's "
                "dynamic dims must be named N, H, W or H_k/W_k (pyramid level k), as `filmrt export` writes them"
            )
        base = {"N": n, "H": h, "W": w}[m.group(1)]
        k = int(m.group(2) or 0)
        if k and m.group(1) == "N":
            raise FilmrtError(f"input {name!r}: dim name {d!r} is not a batch size")
        if base % (1 << k):
            raise FilmrtError(f"input {name!r}: {m.group(1)}={base} is not divisible by 2^{k} (dim {d!r})")
        out.append(base >> k)
    return tuple(out)


def graph_inputs(model) -> list[tuple[str, list[int | str | None], int]]:
    """(name, dims, onnx elem_type) of the graph's real inputs (initializers excluded)."""
    inits = {i.name for i in model.graph.initializer}
    out = []
    for vi in model.graph.input:
        if vi.name in inits:
            continue
        tt = vi.type.tensor_type
        dims = []
        for d in tt.shape.dim:
            if d.HasField("dim_value"):
                dims.append(int(d.dim_value))
            elif d.HasField("dim_param"):
                dims.append(d.dim_param)
            else:
                dims.append(None)
        out.append((vi.name, dims, tt.elem_type))
    return out


def input_shapes(
    model, profile: ProfileSpec
) -> dict[str, tuple[tuple[int, ...], tuple[int, ...], tuple[int, ...]]]:
    """{input name: (min, opt, max) shapes} of a graph for one profile."""
    return {
        name: tuple(resolve_dims(dims, *nhw, name=name) for nhw in (profile.min, profile.opt, profile.max))
        for name, dims, _ in graph_inputs(model)
    }


def plugin_nodes(model) -> list[dict]:
    """The ``BackwardWarp`` nodes of a graph: name, domain, plugin namespace/version, I/O."""
    out = []
    for g in _graphs(model.graph):
        for node in g.node:
            if node.op_type != PLUGIN_NAME:
                continue
            attrs = {}
            for a in node.attribute:
                if a.type == a.STRING:
                    attrs[a.name] = a.s.decode()
                elif a.type == a.INT:
                    attrs[a.name] = int(a.i)
            out.append(
                {
                    "name": node.name,
                    "domain": node.domain,
                    "plugin_namespace": attrs.get("plugin_namespace"),
                    "plugin_version": attrs.get("plugin_version"),
                    "aot": attrs.get("aot"),
                    "inputs": list(node.input),
                    "outputs": list(node.output),
                }
            )
    return out


def check_plugin_graph(model, *, require_plugin: bool = False) -> list[dict]:
    """Validate the graph's BackwardWarp nodes against the plugin this build registers.

    Raises FilmrtError on a portable graph when ``require_plugin``, on a node with the wrong
    namespace/version/arity, or on a custom domain missing from the graph's opset imports."""
    nodes = plugin_nodes(model)
    grid = sum(1 for n in model.graph.node if n.op_type == "GridSample")
    if require_plugin and not nodes:
        hint = " (it has GridSample nodes: a portable graph)" if grid else ""
        raise FilmrtError(
            f"the graph has no BackwardWarp plugin node{hint}: export it with `filmrt export --warp plugin`"
        )
    domains = {o.domain for o in model.opset_import}
    for n in nodes:
        where = f"BackwardWarp node {n['name'] or n['outputs']}"
        if n["plugin_namespace"] != trt_plugin.PLUGIN_NAMESPACE:
            raise FilmrtError(
                f"{where}: plugin_namespace is {n['plugin_namespace']!r}, this filmrt registers "
                f"{trt_plugin.PLUGIN_NAMESPACE!r}"
            )
        if str(n["plugin_version"] or "1") != trt_plugin.PLUGIN_VERSION:
            raise FilmrtError(
                f"{where}: plugin_version is {n['plugin_version']!r}, this filmrt provides version "
                f"{trt_plugin.PLUGIN_VERSION}"
            )
        if len(n["inputs"]) != 2 or len(n["outputs"]) != 1:
            raise FilmrtError(f"{where}: BackwardWarp takes (image, flow) and returns one tensor")
        if n["domain"] in ("", "ai.onnx"):
            raise FilmrtError(f"{where}: must be in a custom domain, not the default ONNX domain")
        if n["domain"] not in domains:
            raise FilmrtError(f"{where}: domain {n['domain']!r} is not in the graph's opset_import")
    return nodes


def graph_is_fp16(model) -> bool:
    """Whether the graph computes in float16 (an ``export --fp16`` graph)."""
    for p in model.metadata_props:
        if p.key == "precision":
            return p.value == "fp16"
    return any(i.data_type == TensorProto.FLOAT16 for i in model.graph.initializer)


def engine_cache_key(
    onnx_sha256: str,
    gpu_name: str,
    compute_capability: tuple[int, int],
    trt_version: str,
    profiles: Iterable[ProfileSpec],
    precision: str,
    kernel_sha256: str = "",
) -> str:
    """Hex key of an engine: everything that makes two builds differ (hashed by the cache's one
    key function, :func:`filmrt.export.cache.digest`)."""
    return graph_cache.digest(engine_parts(onnx_sha256, gpu_name, compute_capability, trt_version, profiles,
                                           precision, kernel_sha256))


def engine_parts(onnx_sha256: str, gpu_name: str, compute_capability: tuple[int, int], trt_version: str,
                 profiles: Iterable[ProfileSpec], precision: str, kernel_sha256: str = "") -> dict:
    """The parts of an engine's cache key (see :func:`engine_cache_key`)."""
    return {
        "onnx": onnx_sha256,
        "gpu": gpu_name,
        "cc": list(compute_capability),
        "trt": trt_version,
        "profiles": [p.to_json() for p in profiles],
        "precision": precision,
        "kernel": kernel_sha256,
    }


def default_cache_dir() -> Path:
    """The engine folder: ``engines/`` of the one cache root (``$FILMRT_CACHE_DIR``, else
    ``~/.cache/filmrt``), or ``$FILMRT_ENGINE_CACHE`` where that older name is set."""
    return graph_cache.folder("engines")


def sidecar_path(engine_path: str | os.PathLike) -> Path:
    p = Path(engine_path)
    return p.with_name(p.name + ".json")


def read_sidecar(engine_path: str | os.PathLike) -> dict:
    p = sidecar_path(engine_path)
    return json.loads(p.read_text()) if p.exists() else {}


def _write(path: Path, data: bytes | dict) -> None:
    """An engine, timing cache (bytes) or sidecar (dict, JSON) written atomically; creates the folder."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(data, dict):
        write_json(path, data)
    else:
        atomic_write(path, data)


# ================================================================ TensorRT parts
def require_tensorrt():
    """``import tensorrt`` or a one-line error saying how to install it."""
    try:
        import tensorrt as trt
    except ImportError as e:
        raise FilmrtError(f"TensorRT is not installed ({e.msg}): {INSTALL_HINT}") from e
    return trt


def require_gpu() -> tuple[str, tuple[int, int]]:
    """(GPU name, compute capability) of the current CUDA device, or a clear error."""
    if not torch.cuda.is_available():
        raise FilmrtError(
            "building or running a TensorRT engine needs an NVIDIA GPU, and PyTorch sees none on this machine"
        )
    idx = torch.cuda.current_device()
    return torch.cuda.get_device_name(idx), tuple(torch.cuda.get_device_capability(idx))


@dataclasses.dataclass
class BuildResult:
    path: Path
    key: str
    cached: bool
    seconds: float
    info: dict


def make_logger(trt, verbose: bool = False):
    """A TensorRT logger that prints warnings (everything with ``verbose``) and keeps the messages
    (``.messages``: (severity int, text)), so build errors can go into our exception text."""
    limit = int(trt.ILogger.Severity.VERBOSE if verbose else trt.ILogger.Severity.WARNING)

    class Logger(trt.ILogger):
        def __init__(self):
            trt.ILogger.__init__(self)
            self.messages: list[tuple[int, str]] = []

        def log(self, severity, msg):
            self.messages.append((int(severity), msg))
            if int(severity) <= limit:
                print(f"[TensorRT] {msg}", flush=True)

    return Logger()


def _engine_info(onnx_path: Path, model, onnx_sha: str, gpu: str, cc, trt_version: str, precision: str,
                 weak_fp16: bool, profiles, plugin_nodes: int, key: str) -> dict:
    """The sidecar JSON written next to every engine: what it was built from and for."""
    return {
        "onnx": str(onnx_path.resolve()),
        "onnx_sha256": onnx_sha,
        "gpu": gpu,
        "compute_capability": list(cc),
        "tensorrt": trt_version,
        "precision": precision,
        "typing": "weak+BuilderFlag.FP16" if weak_fp16 else "strong",
        "profiles": [p.to_json() for p in profiles],
        "plugin_nodes": plugin_nodes,
        "key": key,
        "inputs": [n for n, _, _ in graph_inputs(model)],
        "outputs": [o.name for o in model.graph.output],
        "stage": next((p.value for p in model.metadata_props if p.key == "stage"), "model"),
        "model": next((p.value for p in model.metadata_props if p.key == "model"), ""),
    }


def _register_plugin_for(model, nodes) -> str:
    """Register the BackwardWarp plugin when the graph has its nodes: "aot", "jit" or "none"."""
    if not nodes:
        return "none"
    try:
        reg = trt_plugin.register_plugin()
    except RuntimeError as e:
        raise FilmrtError(str(e)) from e
    aot = bool(reg["aot"])
    trt_plugin.mark_aot(model, aot)
    if not trt_plugin.plugin_registered():
        raise FilmrtError("the filmrt::BackwardWarp plugin is not in TensorRT's plugin registry after registering it")
    return "aot" if aot else "jit"


def _parse_network(trt, builder, log, model, onnx_path: Path, weak_fp16: bool):
    """The network parsed from the graph (strongly typed unless weak FP16 was asked for), and its parser."""
    flags = 0
    if not weak_fp16:
        flags |= 1 << int(trt.NetworkDefinitionCreationFlag.STRONGLY_TYPED)
    network = builder.create_network(flags)
    parser = trt.OnnxParser(network, log)
    if not parser.parse(model.SerializeToString(), str(onnx_path)):
        errs = [str(parser.get_error(i).desc()) for i in range(parser.num_errors)]
        text = "; ".join(errs) or "unknown parser error"
        if "BackwardWarp" in text or "plugin" in text.lower():
            raise FilmrtError(f"TensorRT could not map the BackwardWarp nodes to the filmrt plugin: {text}")
        raise FilmrtError(f"TensorRT's ONNX parser rejected {onnx_path.name}: {text}")
    return network, parser


def _builder_config(trt, builder, model, profiles, workspace_gb, weak_fp16: bool, tc_path: Path):
    """Builder config: workspace, weak FP16 flag, one optimization profile per spec, the timing cache."""
    config = builder.create_builder_config()
    if workspace_gb:
        config.set_memory_pool_limit(trt.MemoryPoolType.WORKSPACE, int(workspace_gb * (1 << 30)))
    if weak_fp16:
        config.set_flag(trt.BuilderFlag.FP16)
    for spec in profiles:
        prof = builder.create_optimization_profile()
        for name, (mn, op, mx) in input_shapes(model, spec).items():
            prof.set_shape(name, mn, op, mx)
        config.add_optimization_profile(prof)
    tc_bytes = tc_path.read_bytes() if tc_path.is_file() else b""
    config.set_timing_cache(config.create_timing_cache(tc_bytes), ignore_mismatch=False)
    return config


def build_engine(
    onnx_path: str | os.PathLike,
    output: str | os.PathLike | None = None,
    *,
    profiles: Sequence[ProfileSpec] | None = None,
    fp16: bool = False,
    workspace_gb: float | None = None,
    timing_cache: str | os.PathLike | None = None,
    cache_dir: str | os.PathLike | None = None,
    use_cache: bool = True,
    verbose: bool = False,
) -> BuildResult:
    """Build (or fetch from the engine cache) a TensorRT engine for ``onnx_path``; see module doc.

    ``output`` None: the engine stays in the cache and its path is returned. ``cache_dir`` is the
    cache root (:func:`filmrt.export.cache.cache_root`; engines in its ``engines/``)."""
    t0 = time.perf_counter()
    onnx_path = Path(onnx_path)
    if not onnx_path.is_file():
        raise FilmrtError(f"ONNX graph not found: {onnx_path}")
    profiles = list(profiles or [ProfileSpec.from_sizes([parse_size("1080p").hw])])
    trt = require_tensorrt()
    gpu, cc = require_gpu()
    model = onnx.load(str(onnx_path), load_external_data=False)
    nodes = check_plugin_graph(model)
    for p in profiles:
        input_shapes(model, p)  # every input derivable before spending minutes building
    fp16_graph = graph_is_fp16(model)
    if fp16 and not fp16_graph and not hasattr(trt.BuilderFlag, "FP16"):
        raise FilmrtError(
            f"TensorRT {trt.__version__} builds FP16 engines only from an fp16 graph (weakly typed FP16 was "
            "removed): export one with `filmrt export --warp plugin --fp16` and build that"
        )
    weak_fp16 = fp16 and not fp16_graph
    precision = "fp16" if (fp16_graph or weak_fp16) else "fp32"
    onnx_sha = sha256_file(onnx_path)
    parts = engine_parts(onnx_sha, gpu, cc, trt.__version__, profiles, ("weak-" if weak_fp16 else "") + precision,
                         warp_kernel.source_sha256() if nodes else "")
    key = graph_cache.digest(parts)
    cached = graph_cache.cache_path("engines", parts, suffix=".engine", root=cache_dir)
    out = Path(output) if output else cached
    info = _engine_info(onnx_path, model, onnx_sha, gpu, cc, trt.__version__, precision, weak_fp16, profiles,
                        len(nodes), key)
    if use_cache and cached.is_file():
        if out != cached:
            _write(out, cached.read_bytes())
        _write(sidecar_path(out), info)
        return BuildResult(out, key, True, time.perf_counter() - t0, info)

    info["plugin"] = _register_plugin_for(model, nodes)

    log = make_logger(trt, verbose)
    builder = trt.Builder(log)
    network, parser = _parse_network(trt, builder, log, model, onnx_path, weak_fp16)  # parser outlives the build
    tc_path = Path(timing_cache) if timing_cache else graph_cache.cache_path(
        "timing", {"gpu": gpu, "cc": list(cc), "trt": trt.__version__}, label="timing", suffix=".cache",
        root=cache_dir)
    config = _builder_config(trt, builder, model, profiles, workspace_gb, weak_fp16, tc_path)
    serialized = builder.build_serialized_network(network, config)
    if serialized is None:
        errs = [m for sev, m in log.messages if sev <= int(trt.ILogger.Severity.ERROR)]
        raise FilmrtError(f"TensorRT failed to build the engine: {'; '.join(errs[-3:]) or 'see --verbose'}")
    data = bytes(serialized)
    _write(tc_path, bytes(config.get_timing_cache().serialize()))
    if use_cache:
        _write(cached, data)
        _write(sidecar_path(cached), info)
    if out != cached or not use_cache:
        _write(out, data)
    _write(sidecar_path(out), info)
    return BuildResult(out, key, False, time.perf_counter() - t0, info)


def stage_files(onnx_path: str | os.PathLike) -> dict[str, Path]:
    """``OUT.onnx`` -> the FILM stage graphs next to it (``OUT.features.onnx`` ...), if all exist."""
    files = {s: stage_path(onnx_path, s) for s in STAGES}  # the exporter's names for them
    return files if all(f.is_file() for f in files.values()) else {}


def engine_stage_path(output: str | os.PathLike, stage: str) -> Path:
    """``X.engine`` -> ``X.<stage>.engine``."""
    p = Path(output)
    stem = p.name[:-7] if p.name.endswith(".engine") else p.name
    return p.with_name(f"{stem}.{stage}.engine")

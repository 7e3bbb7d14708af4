"""The TensorRT backend: serialized engines with the BackwardWarp plugin, on PyTorch's CUDA memory.

Engines come from ``filmrt build-engine`` (``--engine PATH``), or are built on first use from an
ONNX plugin graph (``--onnx PATH``) or from the model itself (its plugin graph from the
exported-graph cache, :mod:`filmrt.export.cache`, under the one key: other weights or another
exporter give another graph), one engine per padded resolution in use, batch 1..max_batch; every
build goes through the engine cache (``engines/`` of the same root,
:mod:`filmrt.engine.trt.builder`), so only the first run on a machine pays for it.

Execution: inputs and outputs are PyTorch CUDA tensors; TensorRT gets their ``data_ptr()`` through
``set_tensor_address`` and runs with ``execute_async_v3`` on ``torch.cuda.current_stream()``, so
it orders with the rest of the PyTorch work without synchronising. Engine I/O dtypes (fp16 or
fp32) are read from the engine; inputs are cast to them. ``--trt-cuda-graph``
(``TrtSettings.trt_cuda_graph``) captures each (profile, shape) once into a CUDA graph and replays
it (static input/output buffers).

FILM stage engines (``X.features.engine``, ``X.flow.engine``, ``X.fusion.engine``) reuse work like
the other backends, through the same :class:`filmrt.stages.StagedRunner`: features per frame
(cached under ``keys_a``/``keys_b``), flows per pair (cached under (key_a, key_b)), fusion per
output time. Without keys, equal frames within a call are encoded once and nothing is cached
across calls. ``stats`` counts ``frames``, ``pairs`` and ``decodes``.

Tensor names of the staged graphs (``filmrt export --stages``): features ``img`` -> state tensors
``S...``; flow ``frame0.S...``, ``frame1.S...`` -> pair tensors ``P...``; fusion ``frame0.S...``,
``frame1.S...``, ``P...``, ``t`` -> ``image``.
"""

from __future__ import annotations

import os
from collections import Counter
from pathlib import Path

import onnx
import torch

from filmrt.engine import resolve_device, resolve_precision
from filmrt.engine.trt import builder as trt_builder
from filmrt.engine.trt import plugin as trt_plugin
from filmrt.errors import FilmrtError
from filmrt.export import cache as graph_cache
from filmrt.export.exporter import DEFAULT_OPSET, resolve_model
from filmrt.interpolator import Interpolator
from filmrt.models import get_spec
from filmrt.options import RuntimeOptions
from filmrt.padding import MULTIPLE
from filmrt.stages import FRAME_PREFIXES, STAGES, StagedRunner, is_staged, prefixed_feeds, tree_leaves


def available(device: torch.device) -> tuple[bool, str]:
    """TensorRT usable on ``device``? (ok, reason when not)."""
    if device.type != "cuda":
        return False, "TensorRT runs on NVIDIA GPUs only (use --device cuda)"
    try:
        import tensorrt  # noqa: F401
    except ImportError:
        return False, f"TensorRT is not installed: {trt_builder.INSTALL_HINT}"
    if not torch.cuda.is_available():
        return False, "PyTorch sees no CUDA GPU"
    return True, ""


def _known_spec(name: str):
    """The registered model's spec, or None for a name the registry does not know."""
    try:
        return get_spec(name)
    except FilmrtError:
        return None


def state_hw(state) -> tuple[int, int]:
    """(height, width) of the padded frames a FILM frame state was computed from: the size of its
    finest pyramid level (level 0 is the frame itself; level k is H/2^k x W/2^k)."""
    sizes = [tuple(x.shape[-2:]) for x in tree_leaves(state) if x.dim() == 4]
    if not sizes:
        raise FilmrtError("a FILM frame state without image-shaped tensors: not a features-engine output")
    return max(sizes)


def plugin_graphs(model, options: RuntimeOptions, precision: str) -> dict[str, Path]:
    """The model's TensorRT plugin graph(s) in the exported-graph cache, exported on first use:
    ``{"model": path}`` or FILM's ``{stage: path}`` (:func:`filmrt.export.cache.cached_graphs`; an
    fp16 engine is built from an fp16 graph). Needs neither TensorRT nor a GPU."""
    net = resolve_model(model, options.weights)
    return graph_cache.cached_graphs(net, warp="plugin", precision=precision, opset=DEFAULT_OPSET,
                                     stages=is_staged(net), root=options.cache_dir)


def _torch_dtype(trt, dt) -> torch.dtype:
    table = {trt.float32: torch.float32, trt.float16: torch.float16, trt.int32: torch.int32}
    if hasattr(trt, "bfloat16"):
        table[trt.bfloat16] = torch.bfloat16
    if hasattr(trt, "int64"):
        table[trt.int64] = torch.int64
    if dt not in table:
        raise FilmrtError(f"engine tensor type {dt} is not supported by filmrt's TensorRT backend")
    return table[dt]


class TrtEngine:
    """One deserialized engine: I/O names and dtypes, profiles, contexts, optional CUDA graphs."""

    def __init__(self, trt, runtime, path: str | os.PathLike, device: torch.device, cuda_graph: bool = False):
        self.trt = trt
        self.path = Path(path)
        self.device = device
        self.engine = runtime.deserialize_cuda_engine(self.path.read_bytes())
        if self.engine is None:
            raise FilmrtError(
                f"TensorRT could not load {self.path}: built by another TensorRT version or for another GPU, or "
                "its plugin is missing (rebuild it with `filmrt build-engine`)"
            )
        e = self.engine
        names = [e.get_tensor_name(i) for i in range(e.num_io_tensors)]
        self.inputs = [n for n in names if e.get_tensor_mode(n) == trt.TensorIOMode.INPUT]
        self.outputs = [n for n in names if e.get_tensor_mode(n) == trt.TensorIOMode.OUTPUT]
        self.dtypes = {n: _torch_dtype(trt, e.get_tensor_dtype(n)) for n in names}
        self.num_profiles = e.num_optimization_profiles
        self._contexts: dict[int, object] = {}
        self.cuda_graph = cuda_graph
        self._graphs: dict[tuple, tuple] = {}
        self.meta = trt_builder.read_sidecar(self.path)

    # ------------------------------------------------------------------ profiles
    def profile_shapes(self, name: str, k: int) -> tuple[tuple[int, ...], ...]:
        mn, opt, mx = self.engine.get_tensor_profile_shape(name, k)
        return tuple(mn), tuple(opt), tuple(mx)

    def _fits(self, k: int, shapes: dict[str, tuple[int, ...]]) -> bool:
        for name, shape in shapes.items():
            mn, _, mx = self.profile_shapes(name, k)
            if len(mn) != len(shape) or any(not lo <= s <= hi for lo, s, hi in zip(mn, shape, mx, strict=True)):
                return False
        return True

    def pick_profile(self, shapes: dict[str, tuple[int, ...]]) -> int | None:
        for k in range(self.num_profiles):
            if self._fits(k, shapes):
                return k
        return None

    def max_batch(self, shapes: dict[str, tuple[int, ...]]) -> int:
        """Largest batch some profile accepts for these (per-sample) shapes; 0 if none does."""
        best = 0
        for k in range(self.num_profiles):
            one = {n: (1, *s[1:]) for n, s in shapes.items()}
            if self._fits(k, one):
                best = max(best, min(self.profile_shapes(n, k)[2][0] for n in shapes))
        return best

    def covers(self, n: int, h: int, w: int) -> bool:
        """Whether some profile runs the main image input at batch n and size h x w."""
        main = self.inputs[0]
        for k in range(self.num_profiles):
            mn, _, mx = self.profile_shapes(main, k)
            if len(mn) == 4 and mn[0] <= n <= mx[0] and mn[2] <= h <= mx[2] and mn[3] <= w <= mx[3]:
                return True
        return False

    def describe_profiles(self) -> str:
        main = self.inputs[0]
        parts = []
        for k in range(self.num_profiles):
            mn, opt, mx = self.profile_shapes(main, k)
            parts.append(f"{main}: min {mn}, opt {opt}, max {mx}")
        return "; ".join(parts)

    # ------------------------------------------------------------------ execution
    def _context(self, k: int, stream: int):
        ctx = self._contexts.get(k)
        if ctx is None:
            ctx = self.engine.create_execution_context()
            if ctx is None:
                raise FilmrtError(f"TensorRT could not create an execution context for {self.path.name} (GPU memory?)")
            if self.num_profiles > 1 or k:
                ctx.set_optimization_profile_async(k, stream)
            self._contexts[k] = ctx
        return ctx

    def _bind(self, ctx, feeds: dict[str, torch.Tensor], outs: dict[str, torch.Tensor] | None):
        for name in self.inputs:
            x = feeds[name]
            if not ctx.set_input_shape(name, tuple(x.shape)):
                raise FilmrtError(f"{self.path.name}: input {name} shape {tuple(x.shape)} rejected by TensorRT")
            ctx.set_tensor_address(name, x.data_ptr())
        if outs is None:
            outs = {}
            for name in self.outputs:
                shape = tuple(ctx.get_tensor_shape(name))
                if any(s < 0 for s in shape):
                    raise FilmrtError(f"{self.path.name}: output {name} has unresolved shape {shape}")
                outs[name] = torch.empty(shape, dtype=self.dtypes[name], device=self.device)
        for name, y in outs.items():
            ctx.set_tensor_address(name, y.data_ptr())
        return outs

    def run(self, feeds: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """Run once on the current stream; ``feeds`` are CUDA tensors (cast to the engine's dtypes)."""
        missing = [n for n in self.inputs if n not in feeds]
        if missing:
            raise FilmrtError(f"{self.path.name}: missing inputs {missing} (have {sorted(feeds)})")
        feeds = {
            n: feeds[n].to(self.device, self.dtypes[n], non_blocking=True).contiguous() for n in self.inputs
        }
        shapes = {n: tuple(x.shape) for n, x in feeds.items()}
        k = self.pick_profile(shapes)
        if k is None:
            raise FilmrtError(
                f"shape {shapes[self.inputs[0]]} of {self.inputs[0]!r} is outside the profile of engine "
                f"{self.path.name} ({self.describe_profiles()}): rebuild it with `filmrt build-engine --shapes ...` "
                "(WIDTHxHEIGHT) covering this resolution (padded to 64) and batch"
            )
        stream = torch.cuda.current_stream(self.device)
        ctx = self._context(k, stream.cuda_stream)
        if self.cuda_graph:
            return self._run_graph(ctx, k, feeds, shapes)
        outs = self._bind(ctx, feeds, None)
        if not ctx.execute_async_v3(stream.cuda_stream):
            raise FilmrtError(f"TensorRT execution of {self.path.name} failed (see the TensorRT log)")
        return outs

    def _run_graph(self, ctx, k: int, feeds, shapes) -> dict[str, torch.Tensor]:
        key = (k, tuple(sorted(shapes.items())))
        entry = self._graphs.get(key)
        if entry is None:
            static_in = {n: x.clone() for n, x in feeds.items()}
            stream = torch.cuda.current_stream(self.device)
            static_out = self._bind(ctx, static_in, None)
            # one ordinary run first: TensorRT applies shape changes lazily, outside capture
            if not ctx.execute_async_v3(stream.cuda_stream):
                raise FilmrtError(f"TensorRT execution of {self.path.name} failed")
            graph = torch.cuda.CUDAGraph()
            with torch.cuda.graph(graph):
                self._bind(ctx, static_in, static_out)
                if not ctx.execute_async_v3(torch.cuda.current_stream(self.device).cuda_stream):
                    raise FilmrtError(f"TensorRT execution of {self.path.name} failed during CUDA-graph capture")
            entry = (graph, static_in, static_out)
            self._graphs[key] = entry
        graph, static_in, static_out = entry
        for n, x in feeds.items():
            static_in[n].copy_(x, non_blocking=True)
        graph.replay()
        return {n: y.clone() for n, y in static_out.items()}

    def run_batched(self, feeds: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """:meth:`run` in chunks along dim 0 no larger than the profiles allow."""
        n = next(iter(feeds.values())).shape[0]
        per = {k: tuple(v.shape) for k, v in feeds.items() if k in self.inputs}
        cap = self.max_batch(per) or n
        if n <= cap:
            return self.run(feeds)
        parts = [self.run({k: v[s : s + cap] for k, v in feeds.items()}) for s in range(0, n, cap)]
        return {name: torch.cat([p[name] for p in parts]) for name in parts[0]}

    def close(self) -> None:
        self._graphs.clear()
        self._contexts.clear()
        self.engine = None


class TrtInterpolator(Interpolator):
    """Interpolator on TensorRT engines; see the module docstring.

    ``TrtInterpolator(model, options)``, a :class:`~filmrt.options.RuntimeOptions`: ``engine`` (engine
    file, or the ``X.engine`` whose ``X.<stage>.engine`` files exist: the ``-o`` given to ``filmrt
    build-engine``), ``onnx`` (plugin graph or stage-set ``OUT.onnx`` to build from), ``cache_dir``,
    and ``options.trt`` (:class:`~filmrt.options.TrtSettings`: ``trt_cuda_graph``,
    ``trt_workspace`` (GiB), ``trt_verbose``, ``trt_cache_frames``). ``threads`` and ``fast`` are
    other backends' options: RuntimeOptions refuses them with ``backend="trt"``.
    """

    backend = "trt"

    def __init__(self, model: str | os.PathLike | None = None, options: RuntimeOptions | None = None):
        options = options or RuntimeOptions()
        settings = options.trt
        self.device = resolve_device(options.device)
        precision = resolve_precision(
            options.precision, self.device, backend="trt", supported=("fp16", "fp32"),
            hint=" (TensorRT engines: use fp16)",
        )
        ok, why = available(self.device)
        if not ok:
            raise FilmrtError(f"the trt backend cannot run: {why}")
        trt = trt_builder.require_tensorrt()
        trt_plugin.register_plugin()  # the plugin creator must exist before deserializing
        self.trt = trt
        self.precision = precision
        self.max_batch = options.max_batch
        self.take_large_frame_options(options)  # --max-memory tiles, --flow-scale (filmrt.interpolator)
        self.cuda_graph = settings.trt_cuda_graph
        self.cache_dir = options.cache_dir  # the cache root (None: $FILMRT_CACHE_DIR or the default)
        self.workspace_gb = settings.trt_workspace
        self.verbose = settings.trt_verbose
        self._logger = trt_builder.make_logger(trt, self.verbose)
        self.runtime = trt.Runtime(self._logger)
        self._make_stages(settings.trt_cache_frames)
        self._engines: dict[str, list[TrtEngine]] = {}
        self._sources: dict[str, Path] = {}  # stage -> ONNX to build more engines from

        if options.engine:
            self._open_engines(Path(options.engine))
        elif options.onnx:
            src = Path(options.onnx)
            stages = trt_builder.stage_files(src)
            if stages and not src.is_file():
                self._sources = dict(stages)
            elif src.is_file():
                self._sources = {"model": src}
            else:
                raise FilmrtError(f"ONNX graph not found: {src}")
        else:
            self._sources = plugin_graphs(model, options, self.precision)
        self.staged = STAGES[0] in (self._engines or self._sources)
        meta = self._metadata()
        self.model_name = meta.get("model") or (str(model) if model else "")
        spec = _known_spec(self.model_name)
        # the graph's metadata says how it pads; engines built elsewhere may lack it: the model's spec
        self.pad_align = meta.get("pad_align") or (spec.pad_align if spec else "center")
        self.pad_multiple = int(meta.get("pad_multiple") or (spec.pad_multiple if spec else MULTIPLE))

    # ------------------------------------------------------------------ engines
    def _open_engines(self, path: Path) -> None:
        stem = path.name[:-7] if path.name.endswith(".engine") else path.name
        staged = {s: trt_builder.engine_stage_path(path, s) for s in STAGES}
        if all(p.is_file() for p in staged.values()) and not path.is_file():
            for s, p in staged.items():
                self._engines[s] = [TrtEngine(self.trt, self.runtime, p, self.device, self.cuda_graph)]
        elif path.is_file():
            self._engines["model"] = [TrtEngine(self.trt, self.runtime, path, self.device, self.cuda_graph)]
        else:
            raise FilmrtError(f"engine not found: {path} (nor {stem}.features/flow/fusion.engine next to it)")

    def _metadata(self) -> dict:
        if self._engines:
            e = next(iter(self._engines.values()))[0]
            return dict(e.meta)
        src = next(iter(self._sources.values()))
        m = onnx.load(str(src), load_external_data=False)
        return {p.key: p.value for p in m.metadata_props}

    def _engine_for(self, stage: str, n: int, h: int, w: int) -> TrtEngine:
        for e in self._engines.get(stage, []):
            if e.covers(1, h, w):
                return e
        src = self._sources.get(stage)
        if src is None:
            have = "; ".join(e.describe_profiles() for e in self._engines.get(stage, []))
            raise FilmrtError(
                f"padded frame {w}x{h} (WxH) is outside the engine's profile ({have}): rebuild it with "
                f"`filmrt build-engine --shapes {w}x{h}` (or a named size covering it)"
            )
        top = self.max_batch * (2 if stage == "features" else 1)
        spec = trt_builder.ProfileSpec((1, h, w), (top, h, w), (top, h, w))
        res = trt_builder.build_engine(
            src,
            None,
            profiles=[spec],
            fp16=self.precision == "fp16",
            workspace_gb=self.workspace_gb,
            cache_dir=self.cache_dir,
            verbose=self.verbose,
        )
        eng = TrtEngine(self.trt, self.runtime, res.path, self.device, self.cuda_graph)
        self._engines.setdefault(stage, []).append(eng)
        return eng

    # ------------------------------------------------------------------ inference
    def _make_stages(self, cache_frames: int) -> None:
        """The stage runner on this backend's three engines; ``cache_frames`` frames and pairs cached."""
        self.stats: Counter = Counter()
        self.stages = StagedRunner(
            self._features, self._flow, self._fusion, cache_frames=cache_frames, cache_pairs=cache_frames,
            stats=self.stats,
        )  # fmt: skip

    @torch.inference_mode()
    def _run(self, a, b, t, keys_a=None, keys_b=None) -> torch.Tensor:
        n, _, h, w = a.shape
        if not self.staged:
            eng = self._engine_for("model", n, h, w)
            out = eng.run_batched({"img0": a, "img1": b, "t": t})
            return out[eng.outputs[0]]
        return self.stages.run(a, b, t, keys_a, keys_b)

    # FILM's stage engines (states: {engine tensor name: tensor}, batch dim 0)
    def _features(self, frames: torch.Tensor) -> dict[str, torch.Tensor]:
        eng = self._engine_for("features", frames.shape[0], *frames.shape[-2:])
        return eng.run_batched({eng.inputs[0]: frames})

    def _flow(self, s0: dict, s1: dict) -> dict[str, torch.Tensor]:
        eng = self._engine_for("flow", 1, *state_hw(s0))
        return eng.run_batched(self._stack_frames(eng, s0, s1))

    def _fusion(self, s0: dict, s1: dict, pairs: dict, t: torch.Tensor) -> torch.Tensor:
        eng = self._engine_for("fusion", t.shape[0], *state_hw(s0))
        feeds = self._stack_frames(eng, s0, s1)
        feeds |= {name: pairs[name] for name in eng.inputs if name in pairs}
        feeds["t"] = t
        return eng.run_batched(feeds)[eng.outputs[0]]

    @staticmethod
    def _stack_frames(eng: TrtEngine, s0: dict, s1: dict) -> dict[str, torch.Tensor]:
        """Feeds ``frame0.<name>`` / ``frame1.<name>`` of ``eng`` from two batched frame states."""
        return prefixed_feeds(eng.inputs, s0, s1, FRAME_PREFIXES)

    def describe(self) -> str:
        kind = "staged engines" if self.staged else "engine"
        graphs = ", CUDA graphs" if self.cuda_graph else ""
        return f"{self.model_name} on trt ({self.device}, {self.precision}, {kind}{graphs})"

    def close(self) -> None:
        self.stages.clear()
        for engines in self._engines.values():
            for e in engines:
                e.close()
        self._engines.clear()

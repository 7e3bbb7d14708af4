"""The ONNX Runtime backend: the exported portable graph on onnxruntime (CPU, or CUDA EP).

Loading a model exports its portable ONNX graph once (:mod:`filmrt.export`) and keeps it in the
exported-graph cache (:mod:`filmrt.export.cache`: ``onnx/`` under ``$FILMRT_CACHE_DIR``, else
``~/.cache/filmrt``), under the one key of every cached graph (model, weight tensors, warp,
precision, opset, stages, exporter version, source fingerprint); later loads read the file.
``graph_cache=False`` exports in memory.

Models:

- RIFE (and any whole-model graph): one graph ``(img0, img1, t) -> image`` per padded batch.
- FILM: the three stage graphs, with the same reuse as its staged protocol: the ``features`` graph
  runs once per *frame* and the ``flow`` graph once per *pair*, cached under the frame identities
  ``keys_a`` / ``keys_b`` given to :meth:`~filmrt.interpolator.Interpolator.interpolate`; the
  ``fusion`` graph runs per output time. Without keys, equal frames within one call are encoded
  once (compared by pixels). The bookkeeping is :class:`filmrt.stages.StagedRunner`, shared with
  the other backends. ``stats`` counts the work: ``frames`` and
  ``pairs`` encoded, ``decodes`` (outputs), ``calls``, and the runs of each stage graph.

Arrays cross into onnxruntime as float32 numpy (N, 3, H, W) [0, 1], padded to multiples of 64 by
the Interpolator base class; fp16 graphs keep float32 inputs/outputs, so callers never see fp16.
Options (``OrtInterpolator(model, options)``, a :class:`filmrt.options.RuntimeOptions`):
``threads`` (onnxruntime intra-op threads; default: onnxruntime's choice, one per core),
``graph_cache`` / ``cache_dir``, ``onnx=PATH``: run graphs exported earlier (``filmrt export``;
``PATH`` = ``X.onnx``, or the base name of FILM's ``X.features/.flow/.fusion.onnx``) instead of
exporting; model name, padding and precision come from their metadata. ``options.ort``
(:class:`~filmrt.options.OrtSettings`): ``ort_opset`` (17..19), ``ort_graphs`` (FILM: ``whole``
runs the whole-model graph), the FILM state cache sizes.

:class:`OnnxGraph` is the small wrapper used for every session; it is also the way to run a raw
exported graph by hand: it checks input shapes (multiples of 64) and names before onnxruntime sees
them, so a wrong input gives one clear error instead of a failure deep inside the graph.
"""

from __future__ import annotations

import os
from collections import Counter
from pathlib import Path

import numpy as np
import torch

from filmrt.engine import resolve_device, resolve_precision
from filmrt.errors import FilmrtError
from filmrt.export import cache as graph_cache
from filmrt.export.checks import check_frames
from filmrt.export.exporter import export_graphs, read_metadata, resolve_model, stage_path
from filmrt.interpolator import Interpolator
from filmrt.options import RuntimeOptions
from filmrt.padding import MULTIPLE
from filmrt.stages import STAGES, StagedRunner, is_staged, prefixed_feeds

_FRAME_INPUTS = ("img0", "img1", "img")


def available(device: torch.device) -> tuple[bool, str]:
    try:
        import onnxruntime as ort
    except ImportError as e:
        return False, f"onnxruntime is not installed ({e})"
    if torch.device(device).type == "cuda":
        if "CUDAExecutionProvider" not in ort.get_available_providers():
            return False, "this onnxruntime has no CUDA execution provider (install onnxruntime-gpu)"
    return True, ""


def providers_for(device: torch.device) -> list:
    device = torch.device(device)
    if device.type == "cuda":
        return [("CUDAExecutionProvider", {"device_id": device.index or 0}), "CPUExecutionProvider"]
    return ["CPUExecutionProvider"]


class OnnxGraph:
    """One onnxruntime session on a filmrt graph (a path or serialized bytes), with input checks."""

    def __init__(self, model: str | os.PathLike | bytes, *, device="cpu", threads: int | None = None):
        import onnxruntime as ort

        so = ort.SessionOptions()
        so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        if threads:
            so.intra_op_num_threads = int(threads)
            so.inter_op_num_threads = 1
        src = model if isinstance(model, bytes) else str(model)
        if not isinstance(model, bytes) and not Path(src).is_file():
            raise FilmrtError(f"ONNX file not found: {src}")
        try:
            self.session = ort.InferenceSession(src, so, providers=providers_for(device))
        except Exception as e:  # onnxruntime raises its own exception types
            msg = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
            if "BackwardWarp" in str(e):
                msg = (
                    "this is a plugin graph (filmrt::BackwardWarp nodes, for TensorRT); onnxruntime "
                    "needs the portable graph (filmrt export --warp portable)"
                )
            raise FilmrtError(f"onnxruntime cannot load the graph: {msg}") from e
        meta = self.session.get_modelmeta().custom_metadata_map
        self.metadata = dict(meta)
        self.pad_multiple = int(self.metadata.get("pad_multiple", MULTIPLE))
        self.inputs = [i.name for i in self.session.get_inputs()]
        self.outputs = [o.name for o in self.session.get_outputs()]
        self.providers = self.session.get_providers()

    def check(self, feeds: dict[str, np.ndarray]) -> None:
        missing = [n for n in self.inputs if n not in feeds]
        if missing:
            raise FilmrtError(f"graph inputs missing: {', '.join(missing)} (the graph takes {', '.join(self.inputs)})")
        for name in _FRAME_INPUTS:
            if name in feeds:
                check_frames(feeds[name].shape, self.pad_multiple, name)
        if "img0" in feeds and "img1" in feeds and feeds["img0"].shape != feeds["img1"].shape:
            raise FilmrtError(f"img0 and img1 differ in shape: {feeds['img0'].shape} vs {feeds['img1'].shape}")
        if "t" in feeds:
            n = next((feeds[k].shape[0] for k in self.inputs if k != "t" and feeds[k].ndim == 4), None)
            if n is not None and feeds["t"].shape != (n,):
                raise FilmrtError(f"t must have shape ({n},) (one time per pair), got {feeds['t'].shape}")

    def run(self, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Run on named float32 arrays (extra names are ignored); returns {output name: array}."""
        self.check(feeds)
        ins = {n: np.ascontiguousarray(feeds[n], dtype=np.float32) for n in self.inputs}
        return dict(zip(self.outputs, self.session.run(self.outputs, ins), strict=True))


def given_graphs(onnx: str | os.PathLike, backend: str) -> tuple[dict[str, Path], dict]:
    """Portable graphs exported earlier (``filmrt export``) for the ONNX backends (ort, openvino):
    ``X.onnx``, or FILM's ``X.{stage}.onnx`` -> ({stage: path}, the files' metadata). The model
    name, padding and precision come from that metadata; no weights are needed. Plugin graphs
    (TensorRT's) and a lone stage file are refused with the reason."""
    base = Path(onnx).expanduser()
    stages = {s: stage_path(base, s) for s in STAGES}
    if all(p.is_file() for p in stages.values()):
        files = stages
    elif base.is_file():
        files = {"model": base}
    else:
        raise FilmrtError(f"ONNX file not found: {base} (nor its .features/.flow/.fusion.onnx stage files)")
    meta = read_metadata(next(iter(files.values())))
    if meta.get("warp") == "plugin":
        raise FilmrtError(
            f"{base} is a plugin graph (filmrt::BackwardWarp nodes, for TensorRT); the {backend} backend "
            "needs the portable graph (filmrt export --warp portable)"
        )
    stage = meta.get("stage", "model")
    if files.keys() == {"model"} and stage != "model":
        raise FilmrtError(f"{base} is FILM's {stage!r} stage graph: pass the base name (X.onnx for X.{stage}.onnx)")
    return files, meta


def wants_stages(net: torch.nn.Module, graphs: str) -> bool:
    """Whether an ONNX backend runs ``net`` as FILM's stage graphs: ``graphs`` is the backend's
    ``*_graphs`` setting (auto: when the model has stages)."""
    if graphs == "stages" and not is_staged(net):
        raise FilmrtError(f"model {getattr(net, 'name', type(net).__name__)!r} has no stages (only FILM does)")
    return is_staged(net) if graphs == "auto" else graphs == "stages"


def portable_graphs(net: torch.nn.Module, options: RuntimeOptions, *, precision: str, opset: int,
                    stages: bool) -> dict[str, Path | bytes]:
    """The portable graphs of ``net`` for an ONNX backend (ort, openvino): {stage: file} from the
    exported-graph cache (:func:`filmrt.export.cache.cached_graphs`), or, with
    ``options.graph_cache`` off, {stage: serialized bytes} exported in memory."""
    if not options.graph_cache:
        graphs = export_graphs(net, warp="portable", stages=stages, opset=opset, fp16=precision == "fp16")
        return {k: v.SerializeToString() for k, v in graphs.items()}
    return graph_cache.cached_graphs(net, warp="portable", precision=precision, opset=opset, stages=stages,
                                     root=options.cache_dir)


def stage_runner(backend, cache_frames: int, cache_pairs: int, max_batch: int) -> StagedRunner:
    """FILM's stage reuse for an ONNX backend (ort, openvino): its ``_features``/``_flow``/``_fusion``
    graph calls behind the one :class:`~filmrt.stages.StagedRunner`, counting into ``backend.stats``."""
    return StagedRunner(backend._features, backend._flow, backend._fusion, cache_frames=cache_frames,
                        cache_pairs=cache_pairs, chunk=max_batch, stats=backend.stats)


class OrtInterpolator(Interpolator):
    backend = "ort"

    def __init__(self, model: str | os.PathLike | torch.nn.Module | None, options: RuntimeOptions | None = None):
        options = options or RuntimeOptions()
        settings = options.ort
        self.device = resolve_device(options.device)
        self.precision = resolve_precision(options.precision, self.device, backend="ort", supported=("fp32", "fp16"))
        ok, why = available(self.device)
        if not ok:
            raise FilmrtError(f"backend 'ort' cannot run on {self.device}: {why}")
        self.max_batch = options.max_batch
        self.take_large_frame_options(options)  # --max-memory tiles, --flow-scale (filmrt.interpolator)
        self.threads = options.threads
        self.opset = settings.ort_opset
        if options.onnx is not None:
            graphs = self._given_graphs(options.onnx)
        else:
            net = resolve_model(model, options.weights)
            self.model_name = getattr(net, "name", type(net).__name__)
            self.pad_align = getattr(net, "pad_align", "center")
            self.pad_multiple = getattr(net, "pad_multiple", MULTIPLE)
            self.staged = wants_stages(net, settings.ort_graphs)
            graphs = portable_graphs(net, options, precision=self.precision, opset=self.opset, stages=self.staged)
            self.cache_files = [g for g in graphs.values() if isinstance(g, Path)]
        self.graphs = {
            stage: OnnxGraph(src if isinstance(src, bytes) else str(src), device=self.device, threads=self.threads)
            for stage, src in graphs.items()
        }
        self.providers = next(iter(self.graphs.values())).providers
        self.stats: Counter = Counter()
        self.stages = (
            stage_runner(self, settings.ort_cache_frames, settings.ort_cache_pairs, self.max_batch)
            if self.staged else None
        )

    # -------------------------------------------------------------------------------- graphs
    def _given_graphs(self, onnx: str | os.PathLike) -> dict[str, Path]:
        """Graphs exported earlier (``filmrt export``), see :func:`given_graphs`."""
        files, meta = given_graphs(onnx, "ort")
        self.model_name = meta.get("model", Path(onnx).stem)
        self.pad_align = meta.get("pad_align", "center")
        self.pad_multiple = int(meta.get("pad_multiple", MULTIPLE))
        self.precision = meta.get("precision", self.precision)
        self.staged = "features" in files
        self.cache_files = list(files.values())
        return files

    # -------------------------------------------------------------------------------- running
    def _to_torch(self, arr: np.ndarray) -> torch.Tensor:
        return torch.from_numpy(arr).to(self.device)

    def _run(self, a, b, t, keys_a=None, keys_b=None) -> torch.Tensor:
        self.stats["calls"] += 1
        if self.stages is not None:
            return self._to_torch(self.stages.run(a, b, t, keys_a, keys_b))
        an, bn = a.detach().cpu().numpy(), b.detach().cpu().numpy()
        out = self.graphs["model"].run({"img0": an, "img1": bn, "t": _numpy(t)})["image"]
        return self._to_torch(out)

    # FILM's stages on the three graphs (states: {graph tensor name: float32 array}, batch dim 0)
    def _features(self, frames: torch.Tensor) -> dict[str, np.ndarray]:
        self.stats["features_runs"] += 1
        return self.graphs["features"].run({"img": _numpy(frames)})

    def _flow(self, s0: dict, s1: dict) -> dict[str, np.ndarray]:
        self.stats["flow_runs"] += 1
        graph = self.graphs["flow"]
        return graph.run(prefixed_feeds(graph.inputs, s0, s1))

    def _fusion(self, s0: dict, s1: dict, pairs: dict, t: torch.Tensor) -> np.ndarray:
        self.stats["fusion_runs"] += 1
        graph = self.graphs["fusion"]
        feeds = prefixed_feeds(graph.inputs, s0, s1) | {n: pairs[n] for n in graph.inputs if n in pairs}
        return graph.run(feeds | {"t": _numpy(t)})["image"]

    # -------------------------------------------------------------------------------- misc
    def describe(self) -> str:
        ep = self.providers[0].replace("ExecutionProvider", "")
        threads = f", {self.threads} threads" if self.threads else ""
        staged = ", staged" if self.staged else ""
        return f"{self.model_name} on ort ({self.device}, {self.precision}; {ep}{threads}{staged})"

    def close(self) -> None:
        if self.stages is not None:
            self.stages.clear()


def _numpy(x: torch.Tensor) -> np.ndarray:
    return x.detach().cpu().numpy().astype(np.float32, copy=False)


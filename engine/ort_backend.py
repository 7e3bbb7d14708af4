"""The ONNX Runtime backend: the exported portable graph on onnxruntime (CPU, or CUDA EP).

Loading a model exports its portable ONNX graph once (:mod:`filmrt.export`) and keeps it in a cache
folder (``$FILMRT_CACHE_DIR``, else ``$XDG_CACHE_HOME/filmrt/onnx``, else ``~/.cache/filmrt/onnx``),
keyed by model name, weights sha256, opset, precision, filmrt version and a fingerprint of the
model/warp/export source files; later loads read the file. ``cache=False`` exports in memory.

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
Options: ``threads`` (onnxruntime intra-op threads; default: onnxruntime's choice, one per core),
``opset`` (17..19), ``cache`` / ``cache_dir``, ``staged`` (FILM: False runs the whole-model graph),
``onnx=PATH``: run graphs exported earlier (``filmrt export``; ``PATH`` = ``X.onnx``, or the base
name of FILM's ``X.features/.flow/.fusion.onnx``) instead of exporting; model name, padding and
precision come from their metadata.

:class:`OnnxGraph` is the small wrapper used for every session; it is also the way to run a raw
exported graph by hand: it checks input shapes (multiples of 64) and names before onnxruntime sees
them, so a wrong input gives one clear error instead of a failure deep inside the graph.
"""

from __future__ import annotations

import hashlib
import inspect
import os
from collections import Counter
from pathlib import Path

import numpy as np
import torch

import filmrt.warp
from filmrt import __version__
from filmrt.engine import resolve_precision
from filmrt.errors import FilmrtError
from filmrt.export import exporter, fp16, plugin
from filmrt.export.checks import check_frames
from filmrt.export.exporter import (
    check_opset,
    export_graphs,
    read_metadata,
    resolve_model,
    save_model,
    stage_path,
    weights_fingerprint,
)
from filmrt.interpolator import Interpolator
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


def default_cache_dir() -> Path:
    env = os.environ.get("FILMRT_CACHE_DIR")
    if env:
        return Path(env).expanduser() / "onnx"
    xdg = os.environ.get("XDG_CACHE_HOME")
    base = Path(xdg).expanduser() if xdg else Path.home() / ".cache"
    return base / "filmrt" / "onnx"


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


def _source_fingerprint(net: torch.nn.Module) -> str:
    """Hash of the code that shapes the graph: the model's module, the warp and the exporter."""
    h = hashlib.sha256()
    for mod in (inspect.getmodule(type(net)), filmrt.warp, exporter, fp16, plugin):
        try:
            h.update(Path(inspect.getsourcefile(mod)).read_bytes())
        except (TypeError, OSError):
            h.update(repr(mod).encode())
    return h.hexdigest()[:12]


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


def stage_runner(backend, cache_frames: int, cache_pairs: int, max_batch: int) -> StagedRunner:
    """FILM's stage reuse for an ONNX backend (ort, openvino): its ``_features``/``_flow``/``_fusion``
    graph calls behind the one :class:`~filmrt.stages.StagedRunner`, counting into ``backend.stats``."""
    return StagedRunner(backend._features, backend._flow, backend._fusion, cache_frames=cache_frames,
                        cache_pairs=cache_pairs, chunk=max_batch, stats=backend.stats)


class OrtInterpolator(Interpolator):
    backend = "ort"

    def __init__(
        self,
        model: str | os.PathLike | torch.nn.Module,
        *,
        weights: str | os.PathLike | None = None,
        device: torch.device | str = "cpu",
        precision: str = "fp32",
        max_batch: int = 8,
        threads: int | None = None,
        opset: int = 17,
        cache: bool = True,
        cache_dir: str | os.PathLike | None = None,
        staged: bool | None = None,
        cache_frames: int = 4,
        cache_pairs: int = 2,
        onnx: str | os.PathLike | None = None,
    ):
        self.device = torch.device(device)
        self.precision = resolve_precision(precision, self.device, backend="ort", supported=("fp32", "fp16"))
        ok, why = available(self.device)
        if not ok:
            raise FilmrtError(f"backend 'ort' cannot run on {self.device}: {why}")
        self.max_batch = max_batch
        self.threads = threads
        self.opset = check_opset(opset)
        if onnx is not None:
            graphs = self._given_graphs(onnx)
        else:
            net = resolve_model(model, weights)
            self.model_name = getattr(net, "name", type(net).__name__)
            self.pad_align = getattr(net, "pad_align", "center")
            self.pad_multiple = getattr(net, "pad_multiple", MULTIPLE)
            self.staged = is_staged(net) if staged is None else bool(staged)
            if self.staged and not is_staged(net):
                raise FilmrtError(f"model {self.model_name!r} has no stages (only FILM does)")
            self._cache_root = Path(cache_dir).expanduser() if cache_dir else default_cache_dir()
            graphs = self._load_graphs(net, cache)
        self.graphs = {stage: OnnxGraph(src, device=self.device, threads=threads) for stage, src in graphs.items()}
        self.providers = next(iter(self.graphs.values())).providers
        self.stats: Counter = Counter()
        self.stages = stage_runner(self, cache_frames, cache_pairs, max_batch) if self.staged else None

    # -------------------------------------------------------------------------------- graphs
    def _given_graphs(self, onnx: str | os.PathLike) -> dict[str, str]:
        """Graphs exported earlier (``filmrt export``), see :func:`given_graphs`."""
        files, meta = given_graphs(onnx, "ort")
        self.model_name = meta.get("model", Path(onnx).stem)
        self.pad_align = meta.get("pad_align", "center")
        self.pad_multiple = int(meta.get("pad_multiple", MULTIPLE))
        self.precision = meta.get("precision", self.precision)
        self.staged = "features" in files
        self.cache_files = list(files.values())
        return {s: str(p) for s, p in files.items()}

    def _load_graphs(self, net: torch.nn.Module, cache: bool) -> dict[str, str | bytes]:
        stages = STAGES if self.staged else ("model",)
        fp16 = self.precision == "fp16"

        def export():
            return export_graphs(net, warp="portable", stages=self.staged, opset=self.opset, fp16=fp16)

        if not cache:
            return {k: v.SerializeToString() for k, v in export().items()}
        sha, _ = weights_fingerprint(net)
        tag = hashlib.sha256(
            f"{self.model_name}|{sha}|{self.opset}|{self.precision}|{__version__}|{torch.__version__}|"
            f"{_source_fingerprint(net)}".encode()
        ).hexdigest()[:12]
        base = self._cache_root / f"{self.model_name}-{sha[:12]}-op{self.opset}-{self.precision}-{tag}.onnx"
        paths = {s: stage_path(base, s) for s in stages}
        if not all(p.is_file() for p in paths.values()):
            for stage, proto in export().items():
                save_model(proto, paths[stage])
        self.cache_files = list(paths.values())
        return {s: str(p) for s, p in paths.items()}

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


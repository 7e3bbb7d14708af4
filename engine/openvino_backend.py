"""The OpenVINO backend: the exported portable ONNX graph, compiled by OpenVINO for the CPU.

Graphs. A model is exported once to its portable ONNX graph (:mod:`filmrt.export`, GridSample at
opset 17), into the exported-graph cache (:mod:`filmrt.export.cache`) under the one key, so this
backend and the ONNX Runtime backend share one export (``onnx=PATH`` runs a graph exported earlier instead: ``filmrt export``; ``PATH``
= ``X.onnx``, or the base name of FILM's ``X.features/.flow/.fusion.onnx``). OpenVINO reads the
ONNX file directly; no IR files are written.

Shapes. OpenVINO compiles a graph for static input shapes: each graph is reshaped to the padded
shapes of the call and compiled once per (shapes, hint), kept in a small LRU. A video has one
padded size, so this is one compile per run (RIFE 4.25 at 768x1280: ~0.5-1.5 s). Static shapes
measured faster than the dynamic graph (720p RIFE, one pair: 500 vs 615 ms). Compiled models are
also kept on disk by OpenVINO itself (``CACHE_DIR``: the cache's ``openvino`` folder,
``$FILMRT_CACHE_DIR/openvino`` or ``~/.cache/filmrt/openvino``; one blob per shape, ~23 MB
for RIFE, shared by both hints), so later processes import them instead of compiling.

Hints. A chunk of several pairs (or several FILM frames) runs with the THROUGHPUT hint: one
single-item infer request per pair on an ``AsyncInferQueue``, which OpenVINO's streams run side by
side (2 streams x 1 thread on 2 cores); a single pair runs with the LATENCY hint (one request,
all cores). Measured on 720p RIFE (2-core Xeon, AVX-512, shared with other jobs; min of 4-5):
four pairs as four THROUGHPUT requests 532 ms per pair, as one LATENCY batch of 4 600 ms per pair;
one pair alone with LATENCY 513 ms, with THROUGHPUT 980 ms (one stream gets one core).
``--ov-hint latency`` / ``throughput`` (``OpenVinoSettings.ov_hint``) forces one.

FILM runs in its three stage graphs with the reuse of :class:`filmrt.stages.StagedRunner`
(features once per frame, flows once per pair, fusion once per output time; keyed across calls
by ``keys_a`` / ``keys_b``), like the other backends. ``stats`` counts ``calls``, the stage runs
(``features_runs``, ``flow_runs``, ``fusion_runs``; ``frames``, ``pairs``, ``decodes`` from the
runner), ``compiles`` and ``compiles_from_disk`` (those imported from ``CACHE_DIR``).

Precision. ``fp32`` sets ``INFERENCE_PRECISION_HINT=f32`` explicitly: OpenVINO's CPU plugin
otherwise runs bf16 on CPUs with AVX512-BF16 or AMX, so an unpinned "fp32" would silently be bf16
there. ``auto`` follows one rule (:func:`auto_precision`): bf16 only where OpenVINO lists ``BF16``
in the device's ``OPTIMIZATION_CAPABILITIES`` *and* the model's bf16 Middlebury delta was measured
within :data:`BF16_BOUND_DB` of fp32 (``ModelSpec.bf16_psnr_delta_db``, written by
``tests/support/precision_sweep.py``); otherwise fp32. RIFE 4.25's is recorded (+0.025 dB), so
``auto`` runs RIFE in bf16 on such CPUs and in fp32 elsewhere; FILM has none. ``--precision
bf16`` / ``fp16`` by hand are refused: on a CPU without native bf16 OpenVINO would compute f32
under a bf16 label. int8 (NNCF post-training
quantization) is not offered: RIFE lost 2.1 dB on Middlebury (docs/backends.md, "Precision").

Devices: ``device="cpu"`` is OpenVINO's ``CPU``. ``--ov-device`` (``OpenVinoSettings.ov_device``)
names another OpenVINO device, e.g. ``GPU`` for an Intel GPU; inputs and outputs stay torch CPU
tensors. The GPU path was not run here (no Intel GPU on our machines).

Options: ``OpenVinoInterpolator(model, options)``, a :class:`filmrt.options.RuntimeOptions`:
``threads``, ``onnx``, ``graph_cache``, ``cache_dir`` and ``options.openvino``
(:class:`~filmrt.options.OpenVinoSettings`: hint, device, opset, graphs, FILM cache sizes).

Arrays cross into OpenVINO as float32 numpy (N, 3, H, W) [0, 1], padded by the Interpolator base
class to multiples of the model's ``pad_multiple``.
"""

from __future__ import annotations

import logging
import os
import sys
from collections import Counter
from pathlib import Path

import numpy as np
import torch

from filmrt.engine import resolve_device, resolve_precision
from filmrt.engine.ort_backend import given_graphs, portable_graphs, stage_runner, wants_stages
from filmrt.errors import FilmrtError
from filmrt.export import cache as graph_cache
from filmrt.export.exporter import resolve_model
from filmrt.interpolator import Interpolator
from filmrt.models import get_spec
from filmrt.options import RuntimeOptions
from filmrt.padding import MULTIPLE
from filmrt.stages import LRU, prefixed_feeds

#: filmrt precision -> OpenVINO INFERENCE_PRECISION_HINT (bf16 only through auto_precision)
_PRECISION = {"fp32": "f32", "bf16": "bf16"}
#: the precisions this backend runs when asked by name (``auto`` picks torch for the others)
PRECISIONS = ("fp32",)
#: ``--precision auto`` reaches the backend unresolved: it decides (:func:`auto_precision`)
DECIDES_AUTO_PRECISION = True
#: the largest change of Middlebury mean PSNR against fp32 (dB) with which ``auto`` runs bf16
BF16_BOUND_DB = 0.05

log = logging.getLogger(__name__)


def import_openvino():
    """``import openvino``, with its usage telemetry declined first.

    ``import openvino`` loads its model converter, which sends a usage event to Google Analytics
    unless a consent file says no or ``CI=true`` (openvino-telemetry: no dialog for library use;
    no consent file counts as yes). The event goes out from a forked process, and the program
    waits for that process at exit: where the network's DNS does not answer (an air-gapped
    facility) a finished conversion hung there (15 minutes and on, seen in the conformance runs).
    The telemetry object is one per process and its first creation decides: made here first with
    the consent dialog's rules (no consent file and no dialog for a non-OpenVINO program = no),
    nothing is sent; the user's own opt-in file, if any, still decides.
    """
    if "openvino" not in sys.modules:
        try:
            from openvino_telemetry import Telemetry
        except ImportError:
            pass
        else:
            try:
                Telemetry(app_name="OpenVINO", app_version=None, tid="", backend="ga4",
                          enable_opt_in_dialog=True, disable_in_ci=True)
            except Exception:  # noqa: BLE001 - a changed telemetry API must not stop the backend
                pass
    import openvino

    return openvino


def available(device: torch.device) -> tuple[bool, str]:
    try:
        import_openvino()
    except ImportError as e:
        return False, f"openvino is not installed ({e}; pip install 'filmrt[openvino]')"
    if torch.device(device).type != "cpu":
        return False, "the openvino backend runs on the CPU (or an Intel GPU through ov_device), not on CUDA"
    return True, ""


def capabilities(core, ov_device: str) -> list[str]:
    """OpenVINO's ``OPTIMIZATION_CAPABILITIES`` of a device (``BF16`` where the CPU computes bf16
    natively: AVX512-BF16 or AMX); [] where the device does not say."""
    try:
        return [str(c) for c in core.get_property(ov_device, "OPTIMIZATION_CAPABILITIES")]
    except Exception:  # noqa: BLE001 - a device without the property has no known capability
        return []


def auto_precision(model_name: str, device_capabilities: list[str]) -> tuple[str, str]:
    """(precision, why) for ``--precision auto``: bf16 only where the device computes bf16 natively
    and the model's measured bf16 Middlebury delta is within :data:`BF16_BOUND_DB`; else fp32."""
    if "BF16" not in device_capabilities:
        return "fp32", "the device has no native bf16 (OpenVINO lists no BF16 capability)"
    try:
        delta = get_spec(model_name).bf16_psnr_delta_db
    except FilmrtError:  # a graph of a model filmrt does not register
        delta = None
    if delta is None:
        return "fp32", f"{model_name}'s bf16 Middlebury delta was not measured"
    if abs(delta) > BF16_BOUND_DB:
        return "fp32", f"bf16 moves {model_name}'s Middlebury PSNR by {delta:+.3f} dB (bound {BF16_BOUND_DB})"
    return "bf16", f"native bf16; {model_name}'s Middlebury PSNR moves by {delta:+.3f} dB in bf16"


class OvGraph:
    """One ONNX graph on OpenVINO: reshaped and compiled per input shapes and hint, run on numpy.

    ``run`` takes named float32 arrays with the batch in dim 0 and returns {output name: array}.
    """

    def __init__(
        self, core, source: str | bytes, *, ov_device: str, config: dict, stats: Counter, compiled: int = 4
    ):
        ov = import_openvino()

        self._ov, self.core, self.ov_device, self.config, self.stats = ov, core, ov_device, config, stats
        try:
            self.model = core.read_model(source)
        except Exception as e:  # OpenVINO raises RuntimeError with a long multi-line report
            raise FilmrtError(f"OpenVINO cannot read the graph: {_first_line(e)}") from e
        self.inputs = [p.any_name for p in self.model.inputs]
        self.outputs = [p.any_name for p in self.model.outputs]
        self.compiled = LRU(compiled)  # (shapes, hint) -> (compiled model, request or queue)

    def _get(self, shapes: tuple, hint: str):
        key = (shapes, hint)
        hit = self.compiled.get(key)
        if hit is not None:
            return hit
        model = self.model.clone()
        try:
            model.reshape(dict(zip(self.inputs, [list(s) for s in shapes], strict=True)))
            comp = self.core.compile_model(
                model, self.ov_device, self.config | {"PERFORMANCE_HINT": hint.upper()}
            )
        except Exception as e:
            raise FilmrtError(
                f"OpenVINO cannot compile the graph for inputs {list(shapes)}: {_first_line(e)}"
            ) from e
        self.stats["compiles"] += 1
        if "CACHE_DIR" in self.config and comp.get_property("LOADED_FROM_CACHE"):
            self.stats["compiles_from_disk"] += 1  # imported from OpenVINO's CACHE_DIR
        if hint == "throughput":
            runner = self._ov.AsyncInferQueue(comp, comp.get_property("OPTIMAL_NUMBER_OF_INFER_REQUESTS"))
        else:
            runner = comp.create_infer_request()
        self.compiled.put(key, (comp, runner))
        return comp, runner

    def run(self, feeds: dict[str, np.ndarray], hint: str = "auto") -> dict[str, np.ndarray]:
        missing = [n for n in self.inputs if n not in feeds]
        if missing:
            raise FilmrtError(
                f"graph inputs missing: {', '.join(missing)} (the graph takes {', '.join(self.inputs)})"
            )
        ins = {n: np.ascontiguousarray(feeds[n], dtype=np.float32) for n in self.inputs}
        n = ins[self.inputs[0]].shape[0]
        if hint == "auto":
            hint = "throughput" if n > 1 else "latency"
        if hint == "latency":
            _, request = self._get(tuple(a.shape for a in ins.values()), "latency")
            request.infer(ins, share_inputs=True)
            return {name: request.get_tensor(name).data.copy() for name in self.outputs}
        # throughput: one single-item request per batch item, run side by side by the streams
        _, queue = self._get(tuple((1, *a.shape[1:]) for a in ins.values()), "throughput")
        results: list = [None] * n

        def done(request, i):
            results[i] = [request.get_tensor(name).data.copy() for name in self.outputs]

        queue.set_callback(done)
        for i in range(n):
            queue.start_async({k: v[i : i + 1] for k, v in ins.items()}, userdata=i, share_inputs=True)
        queue.wait_all()
        return {name: np.concatenate([r[j] for r in results]) for j, name in enumerate(self.outputs)}

    def clear(self) -> None:
        self.compiled.clear()


class OpenVinoInterpolator(Interpolator):
    backend = "openvino"

    def __init__(self, model: str | os.PathLike | torch.nn.Module | None, options: RuntimeOptions | None = None):
        ov = import_openvino()

        options = options or RuntimeOptions()
        settings = options.openvino
        self.device = resolve_device(options.device)
        if settings.ov_device is None:
            ok, why = available(self.device)
            if not ok:
                raise FilmrtError(f"backend 'openvino' cannot run on {self.device}: {why}")
        auto = options.precision in (None, "auto")
        self.precision = resolve_precision(
            "fp32" if auto else options.precision, self.device, backend="openvino",
            supported=PRECISIONS, hint=": OpenVINO computes its bf16/fp16 hints in f32 on CPUs without "
            "them; use --precision fp32, or auto (bf16 where the CPU has it and the model was measured)")
        self.max_batch, self.threads, self.hint = options.max_batch, options.threads, settings.ov_hint
        self.take_large_frame_options(options)  # --max-memory tiles, --flow-scale (filmrt.interpolator)
        self.opset = settings.ov_opset
        self.core = ov.Core()
        self.ov_device = settings.ov_device or "CPU"
        seen = self.core.available_devices
        if self.ov_device.split(".")[0] not in {d.split(".")[0] for d in seen} | {"AUTO"}:
            raise FilmrtError(f"OpenVINO has no device {self.ov_device!r} here (it sees: {', '.join(seen)})")
        if options.onnx is not None:
            sources = self._given_graphs(options.onnx)
        else:
            sources = self._exported_graphs(model, options)
        if auto:
            self.precision, why = auto_precision(self.model_name, capabilities(self.core, self.ov_device))
            log.info("openvino precision %s: %s", self.precision, why)
        config = {"INFERENCE_PRECISION_HINT": _PRECISION[self.precision]}
        if self.threads:
            config["INFERENCE_NUM_THREADS"] = int(self.threads)
        if options.graph_cache:
            self.compiled_cache = graph_cache.folder("openvino", options.cache_dir)
            config["CACHE_DIR"] = str(self.compiled_cache)
        self.stats: Counter = Counter()
        self.graphs = {
            stage: OvGraph(self.core, src, ov_device=self.ov_device, config=config, stats=self.stats)
            for stage, src in sources.items()
        }
        self.stages = (
            stage_runner(self, settings.ov_cache_frames, settings.ov_cache_pairs, self.max_batch)
            if self.staged else None
        )

    # -------------------------------------------------------------------------------- graphs
    def _given_graphs(self, onnx: str | os.PathLike) -> dict[str, str]:
        """Graphs exported earlier (see :func:`filmrt.engine.ort_backend.given_graphs`); fp32 only."""
        files, meta = given_graphs(onnx, "openvino")
        if meta.get("precision", "fp32") != "fp32":
            raise FilmrtError(f"{onnx} is an {meta['precision']} graph; the openvino backend runs fp32 graphs")
        self.model_name = meta.get("model", Path(onnx).stem)
        self.pad_align = meta.get("pad_align", "center")
        self.pad_multiple = int(meta.get("pad_multiple", MULTIPLE))
        self.staged = "features" in files
        self.cache_files = list(files.values())
        return {s: str(p) for s, p in files.items()}

    def _exported_graphs(self, model, options: RuntimeOptions) -> dict[str, str | bytes]:
        """The portable fp32 graph(s) from the exported-graph cache (the very files the ort backend
        reads for the same model and opset), or exported in memory without the cache."""
        net = resolve_model(model, options.weights)
        self.model_name = getattr(net, "name", type(net).__name__)
        self.pad_align = getattr(net, "pad_align", "center")
        self.pad_multiple = getattr(net, "pad_multiple", 64)
        self.staged = wants_stages(net, options.openvino.ov_graphs)
        graphs = portable_graphs(net, options, precision="fp32", opset=self.opset, stages=self.staged)
        self.cache_files = [p for p in graphs.values() if isinstance(p, Path)]
        return {s: g if isinstance(g, bytes) else str(g) for s, g in graphs.items()}

    # -------------------------------------------------------------------------------- running
    def _run(self, a, b, t, keys_a=None, keys_b=None) -> torch.Tensor:
        self.stats["calls"] += 1
        if self.stages is not None:
            return torch.from_numpy(self.stages.run(a, b, t, keys_a, keys_b))
        feeds = {"img0": _numpy(a), "img1": _numpy(b), "t": _numpy(t)}
        return torch.from_numpy(self.graphs["model"].run(feeds, self.hint)["image"])

    # FILM's stages on the three graphs (states: {graph tensor name: float32 array}, batch dim 0)
    def _features(self, frames: torch.Tensor) -> dict[str, np.ndarray]:
        self.stats["features_runs"] += 1
        return self.graphs["features"].run({"img": _numpy(frames)}, self.hint)

    def _flow(self, s0: dict, s1: dict) -> dict[str, np.ndarray]:
        self.stats["flow_runs"] += 1
        graph = self.graphs["flow"]
        return graph.run(prefixed_feeds(graph.inputs, s0, s1), self.hint)

    def _fusion(self, s0: dict, s1: dict, pairs: dict, t: torch.Tensor) -> np.ndarray:
        self.stats["fusion_runs"] += 1
        graph = self.graphs["fusion"]
        feeds = prefixed_feeds(graph.inputs, s0, s1) | {n: pairs[n] for n in graph.inputs if n in pairs}
        return graph.run(feeds | {"t": _numpy(t)}, self.hint)["image"]

    # -------------------------------------------------------------------------------- misc
    def describe(self) -> str:
        threads = f", {self.threads} threads" if self.threads else ""
        hint = f", {self.hint}" if self.hint != "auto" else ""
        staged = ", staged" if self.staged else ""
        return f"{self.model_name} on openvino ({self.device}, {self.precision}; {self.ov_device}{threads}{hint}{staged})"

    def close(self) -> None:
        if self.stages is not None:
            self.stages.clear()
        for graph in self.graphs.values():
            graph.clear()


def _numpy(x: torch.Tensor) -> np.ndarray:
    return x.detach().cpu().numpy().astype(np.float32, copy=False)


def _first_line(e: Exception) -> str:
    lines = [s.strip() for s in str(e).splitlines() if s.strip()]
    return lines[0] if lines else type(e).__name__

"""The exported-graph cache: one root, one key function, one environment variable.

Everything filmrt derives from a model and keeps for later runs lives under one root::

    $FILMRT_CACHE_DIR   (else $XDG_CACHE_HOME/filmrt, else ~/.cache/filmrt; --cache-dir DIR)
      onnx/       exported ONNX graphs: portable (ort, openvino) and plugin (trt)
      openvino/   OpenVINO's compiled models (its CACHE_DIR; OpenVINO names those files)
      engines/    TensorRT engines, each with its ``.json`` sidecar
      timing/     TensorRT timing caches, one per GPU and TensorRT version

Deleting the root (or any folder in it) is always safe: what is missing is made again.

The environment variable. ``FILMRT_CACHE_DIR`` named this root before for the ort and openvino
backends (``onnx/``, ``openvino/``) and keeps doing so. The TensorRT path had its own variable,
``FILMRT_ENGINE_CACHE`` (documented), which named the engines folder itself, with the graphs the
trt backend exported under ``onnx/`` inside it and ``timing.cache`` beside the engines. That name
still works as it did for the engines: when set, engines are kept there (:func:`folder`); graphs
and timing caches are under the one root like everything else.

The key. A cached file is found by its name, and every name is derived here, by
:func:`cache_path`, from the digest (:func:`digest`) of everything that makes two files differ;
nothing is ever invalidated in place: a change gives a new name. The parts of a graph
(:func:`graph_parts`) are the model's name, the digest of its weight *tensors* (so other weights,
from ``filmrt weights import`` or changed in memory, give a new graph; the same tensors in another
file do not), the warp mode, the precision, the opset, whether it is FILM's stage set, the exporter
version (filmrt's and PyTorch's: :func:`exporter_version`) and a fingerprint of the source files
that shape the graph (the model's module, the warp, the exporter, fp16, the plugin node). The three
backends that run graphs ask :func:`cached_graphs` for them, so a graph exported for ort is the one
openvino reads. A TensorRT engine's parts (graph sha256, GPU, TensorRT version, profiles,
precision, kernel source) are assembled by :func:`filmrt.engine.trt.builder.engine_cache_key`.

Before this module, the trt backend named its exported graph after the model name, the weights
path and the precision only: after ``filmrt weights import`` or an exporter change it reused the
old graph.
"""

from __future__ import annotations

import hashlib
import inspect
import json
import os
from collections.abc import Mapping
from pathlib import Path

import torch

import filmrt.warp
from filmrt import __version__
from filmrt.export import exporter, fp16, plugin
from filmrt.stages import STAGES

ENV = "FILMRT_CACHE_DIR"
#: the TensorRT engine folder's own variable before the one cache (still honoured for engines)
ENGINE_ENV = "FILMRT_ENGINE_CACHE"
KINDS = ("onnx", "openvino", "engines", "timing")


def cache_root(root: str | os.PathLike | None = None) -> Path:
    """``root`` (``--cache-dir``), else ``$FILMRT_CACHE_DIR``, else ``$XDG_CACHE_HOME/filmrt``,
    else ``~/.cache/filmrt``."""
    if root:
        return Path(root).expanduser()
    env = os.environ.get(ENV)
    if env:
        return Path(env).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg).expanduser() if xdg else Path.home() / ".cache") / "filmrt"


def folder(kind: str, root: str | os.PathLike | None = None) -> Path:
    """The sub-folder ``kind`` (one of :data:`KINDS`) of the cache root. Engines go to
    ``$FILMRT_ENGINE_CACHE`` when it is set and no ``root`` is given (the name it had before)."""
    if kind not in KINDS:
        raise ValueError(f"unknown cache folder {kind!r}: one of {', '.join(KINDS)}")
    if kind == "engines" and not root and os.environ.get(ENGINE_ENV):
        return Path(os.environ[ENGINE_ENV]).expanduser()
    return cache_root(root) / kind


def digest(parts: Mapping) -> str:
    """The key of a cached file: 32 hex digits of the sha256 of ``parts`` as canonical JSON."""
    blob = json.dumps(dict(parts), sort_keys=True, default=str, separators=(",", ":"))
    return hashlib.sha256(blob.encode()).hexdigest()[:32]


def cache_path(kind: str, parts: Mapping, *, suffix: str, label: str = "",
               root: str | os.PathLike | None = None) -> Path:
    """The one place a cached file's name is derived: ``<folder kind>/[label-]<digest>suffix``.
    ``label`` (a model name) only makes the folder readable; the digest is what tells files apart."""
    name = f"{label}-{digest(parts)}" if label else digest(parts)
    return folder(kind, root) / f"{name}{suffix}"


# ---------------------------------------------------------------------------------------- graphs
def exporter_version() -> str:
    """What exported the graph: filmrt's version and PyTorch's (its ONNX exporter)."""
    return f"filmrt {__version__}; torch {torch.__version__}"


def source_fingerprint(net: torch.nn.Module) -> str:
    """Hash of the code that shapes a graph: the model's module, the warp, the exporter, fp16 and
    the plugin node (a change there that keeps the version number still gives a new graph)."""
    h = hashlib.sha256()
    for mod in (inspect.getmodule(type(net)), filmrt.warp, exporter, fp16, plugin):
        try:
            h.update(Path(inspect.getsourcefile(mod)).read_bytes())
        except (TypeError, OSError):
            h.update(repr(mod).encode())
    return h.hexdigest()[:16]


def graph_parts(net: torch.nn.Module, *, warp: str, precision: str, opset: int, stages: bool) -> dict:
    """Everything that makes two exported graphs of ``net`` differ (see the module docstring)."""
    return {
        "model": getattr(net, "name", type(net).__name__),
        "weights": exporter.tensor_digest(net),
        "warp": exporter.check_warp_mode(warp),
        "precision": precision,
        "opset": exporter.check_opset(opset),
        "stages": bool(stages),
        "exporter": exporter_version(),
        "source": source_fingerprint(net),
    }


def cached_graphs(net: torch.nn.Module, *, warp: str, precision: str, opset: int, stages: bool,
                  root: str | os.PathLike | None = None) -> dict[str, Path]:
    """The graph files of ``net`` (a module from :func:`filmrt.export.exporter.resolve_model`):
    ``{"model": path}`` or FILM's ``{stage: path}``, exported into ``onnx/`` unless all are there.
    ``precision`` is ``fp32`` or ``fp16`` (an fp16 graph: :mod:`filmrt.export.fp16`)."""
    parts = graph_parts(net, warp=warp, precision=precision, opset=opset, stages=stages)
    base = cache_path("onnx", parts, label=parts["model"], suffix=".onnx", root=root)
    paths = {s: exporter.stage_path(base, s) for s in (STAGES if stages else ("model",))}
    if not all(p.is_file() for p in paths.values()):
        # exporter.export_graphs looked up at call time: the tests replace it to prove a cache hit
        graphs = exporter.export_graphs(net, warp=warp, stages=stages, opset=opset, fp16=precision == "fp16")
        for stage, proto in graphs.items():
            exporter.save_model(proto, paths[stage])
    return paths

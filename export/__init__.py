"""filmrt.export: PyTorch -> ONNX (portable and plugin graphs, FILM's stage graphs, FP16).

Python API::

    from filmrt.export import export_onnx
    export_onnx("rife-4.25", "rife.onnx")                              # portable, opset 17, fp32
    export_onnx("rife-4.25", "rife.plugin.onnx", warp="plugin", fp16=True)
    export_onnx("film", "film.onnx", stages=True)   # film.features/.flow/.fusion.onnx

CLI: ``filmrt export --model NAME --warp portable|plugin [--stages] [--opset 17..19] [--fp16] -o OUT``.
See :mod:`filmrt.export.exporter` (graph interface, warp modes, stages),
:mod:`filmrt.export.plugin` (the ``BackwardWarp`` node), :mod:`filmrt.export.fp16`
(what stays float32), :mod:`filmrt.export.checks` (what every graph must satisfy) and
:mod:`filmrt.export.cache` (the one exported-graph cache the ort, openvino and trt backends read:
one key, one root, ``$FILMRT_CACHE_DIR``).
"""

from filmrt.export.checks import GraphReport, check_frames, check_graph, check_pair_inputs

# the exporter (and onnx, ~0.7 s of CPU to import) loads on first use of its names: importing
# filmrt.export.cli or .cache, as every `filmrt` command does, does not pay for it
_EXPORTER = {"DEFAULT_OPSET", "SUPPORTED_OPSETS", "check_opset", "export_graphs", "export_onnx", "read_metadata",
             "stage_path"}


def __getattr__(name: str):
    if name in _EXPORTER:
        from filmrt.export import exporter

        return getattr(exporter, name)
    raise AttributeError(f"module 'filmrt.export' has no attribute {name!r}")


__all__ = [
    "DEFAULT_OPSET",
    "SUPPORTED_OPSETS",
    "GraphReport",
    "check_frames",
    "check_graph",
    "check_opset",
    "check_pair_inputs",
    "export_graphs",
    "export_onnx",
    "read_metadata",
    "stage_path",
]

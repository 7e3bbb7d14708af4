"""The warp as ONE custom ONNX node, ``filmrt::BackwardWarp``, for TensorRT's plugin path.

In the *plugin* graph every call of :func:`filmrt.warp.backward_warp` becomes a single node::

    BackwardWarp(image, flow) -> warped          domain "filmrt", opset version 1
        attributes: plugin_namespace = "filmrt", plugin_version = "1"

- ``image``: (N, C, H, W), float32 or float16 (type ``T``),
- ``flow``: (N, 2, H, W) float32, (dx, dy) in pixels of the image's own resolution,
- ``warped``: (N, C, H, W), type ``T``; bilinear, border clamp, exactly :mod:`filmrt.warp`.

TensorRT's ONNX parser does not know the op, so it looks up a plugin registered under the op type
``BackwardWarp`` with the node's ``plugin_namespace`` / ``plugin_version`` attributes (how the parser
maps an unknown node to a plugin creator). The FP16 variant keeps ``flow`` in float32: sample
positions ``x + dx`` need float32 beyond 2048 pixels (see :mod:`filmrt.export.fp16`).

How the node gets into the graph: the export traces the model inside
``filmrt.warp.use_warp_impl(plugin_warp)`` (scoped to that trace; importing this module registers
nothing); :func:`plugin_warp` calls :class:`BackwardWarpFunction`, a
``torch.autograd.Function`` whose ``forward`` is the reference warp (so tracing sees correct values
and shapes) and whose ``symbolic`` emits the custom node for the TorchScript exporter
(``torch.onnx.export(dynamo=False)``; see :mod:`filmrt.export.exporter` for why that exporter).

Outside TensorRT the node is only understood by :class:`BackwardWarpReference`, a numpy
implementation for ``onnx.reference.ReferenceEvaluator`` (``new_ops=[BackwardWarpReference]``),
used to check plugin graphs without a GPU.
"""

from __future__ import annotations

import numpy as np
import torch

from filmrt.warp import warp_grid_sample

DOMAIN = "filmrt"
DOMAIN_VERSION = 1
OP_TYPE = "BackwardWarp"
PLUGIN_NAMESPACE = "filmrt"
PLUGIN_VERSION = "1"


class BackwardWarpFunction(torch.autograd.Function):
    """``backward_warp`` that exports as one ``filmrt::BackwardWarp`` node."""

    @staticmethod
    def forward(ctx, image: torch.Tensor, flow: torch.Tensor) -> torch.Tensor:  # noqa: D102
        return warp_grid_sample(image, flow)

    @staticmethod
    def symbolic(g, image, flow):  # noqa: D102 - called by torch.onnx (TorchScript exporter)
        out = g.op(
            f"{DOMAIN}::{OP_TYPE}",
            image,
            flow,
            plugin_namespace_s=PLUGIN_NAMESPACE,
            plugin_version_s=PLUGIN_VERSION,
        )
        # same type and shape as the image: lets the exporter keep dynamic axes and types downstream
        out.setType(image.type())
        return out


def plugin_warp(image: torch.Tensor, flow: torch.Tensor) -> torch.Tensor:
    """The warp implementation used while exporting plugin graphs."""
    if flow.dtype != torch.float32:
        flow = flow.float()  # the node's contract: float32 flow (coordinates) in every variant
    return BackwardWarpFunction.apply(image, flow)


def warp_numpy(image: np.ndarray, flow: np.ndarray) -> np.ndarray:
    """Reference backward warp in numpy: image (N,C,H,W), flow (N,2,H,W) pixels -> (N,C,H,W).

    Bilinear, sample positions clamped to the image (border); coordinates in float64 here.
    """
    n, c, h, w = image.shape
    x = np.arange(w, dtype=np.float64)[None, None, :] + flow[:, 0].astype(np.float64)
    y = np.arange(h, dtype=np.float64)[None, :, None] + flow[:, 1].astype(np.float64)
    x = np.clip(x, 0.0, w - 1)
    y = np.clip(y, 0.0, h - 1)
    x0 = np.floor(x).astype(np.int64)
    y0 = np.floor(y).astype(np.int64)
    x1 = np.minimum(x0 + 1, w - 1)
    y1 = np.minimum(y0 + 1, h - 1)
    wx = (x - x0)[:, None]
    wy = (y - y0)[:, None]
    img = image.astype(np.float64)
    bidx = np.arange(n)[:, None, None]

    def at(yy, xx):  # (N,H,W) indices -> (N,C,H,W)
        return img[bidx, :, yy, xx].transpose(0, 3, 1, 2)

    top = at(y0, x0) * (1 - wx) + at(y0, x1) * wx
    bottom = at(y1, x0) * (1 - wx) + at(y1, x1) * wx
    return (top * (1 - wy) + bottom * wy).astype(image.dtype)


def _reference_op_class():
    from onnx.reference.op_run import OpRun

    class BackwardWarpReference(OpRun):
        """``filmrt::BackwardWarp`` for ``onnx.reference.ReferenceEvaluator``."""

        op_domain = DOMAIN

        def _run(self, image, flow, plugin_namespace=None, plugin_version=None, aot=None):  # noqa: ARG002
            return (warp_numpy(image, flow),)

    BackwardWarpReference.__name__ = OP_TYPE  # the evaluator matches the class name to op_type
    return BackwardWarpReference


def reference_evaluator(model, **kwargs):
    """An ``onnx.reference.ReferenceEvaluator`` that understands ``filmrt::BackwardWarp``."""
    from onnx.reference import ReferenceEvaluator

    return ReferenceEvaluator(model, new_ops=[_reference_op_class()], **kwargs)

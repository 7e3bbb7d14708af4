"""The one warp op: backward bilinear warping with pixel-unit flow and border clamping.

Both models (FILM and RIFE) move pixels the same way. For every output pixel (x, y) they read the
source image at a displaced position::

    warp(image, flow)[n, c, y, x] = bilinear(image[n, c], x + dx[n, y, x], y + dy[n, y, x])

``flow`` holds (dx, dy) in *pixels of the image's own resolution* (channel 0 = dx, channel 1 = dy).
A sample position outside the image is clamped to the border (edge replication), so flows that
point far outside the frame read the nearest edge pixel instead of zeros.

This is exactly ``torch.nn.functional.grid_sample(mode="bilinear", padding_mode="border",
align_corners=True)`` once the pixel position is normalised to [-1, 1] as ``2 * (x + dx) / (W - 1) - 1``.
That form is also what the ONNX ``GridSample`` operator computes, which is how the portable ONNX
graph expresses the warp.

Precision: the sample position ``x + dx`` is always computed in float32 (float64 when the inputs
are float64, for gradient checks). float16 cannot represent pixel positions exactly beyond 2048,
so half-precision images are sampled through a float32 grid and the result is cast back.

Implementations. ``backward_warp`` calls the implementation chosen for the current block:

- ``"grid_sample"`` (default, any device, differentiable): the formula above.
- another function of the same contract (the CUDA kernel of :mod:`filmrt.engine.cuda.warp_kernel`,
  the ONNX plugin node while exporting), chosen for a block of code with :func:`use_warp_impl`
  (a function, or a name given with :func:`register_warp_impl`).

The choice is scoped, never process-wide: it holds inside the ``with use_warp_impl(...)`` block,
in that thread, and is undone on leaving it. Whoever wants the kernel says so around its own calls
(the PyTorch backend wraps each of its model runs; the exporter wraps its trace), so creating an
interpolator never changes what ``backward_warp`` does for anyone else.

Every implementation is checked against ``shared/fixtures/warp/warp_io.npz``.

Shapes: ``image`` (N, C, H, W) any float dtype; ``flow`` (N, 2, H, W) float; output (N, C, H, W)
in the image's dtype.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Iterator

import torch
import torch.nn.functional as F

WarpFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


def pixel_grid(flow: torch.Tensor) -> torch.Tensor:
    """Normalised sampling grid (N, H, W, 2) for ``grid_sample(align_corners=True)``.

    ``flow`` is (N, 2, H, W) in pixels; the grid is float32 (float64 if flow is float64).
    """
    n, two, h, w = flow.shape
    if two != 2:
        raise ValueError(f"flow must have 2 channels (dx, dy), got shape {tuple(flow.shape)}")
    dtype = torch.float64 if flow.dtype == torch.float64 else torch.float32
    flow = flow.to(dtype)
    # x + dx in pixels, then [0, W-1] -> [-1, 1]. max(.., 1) keeps 1-pixel-wide images finite
    # (grid_sample maps every position to pixel 0 there anyway). Written as one (N, H, W, 2)
    # expression on the transposed flow, not two planes stacked: the pixel positions and the two
    # factors do not depend on the flow (an exported graph folds them once its shapes are fixed),
    # and the same numbers come out, while OpenVINO's CPU plugin ran the stack of two planes as a
    # slow interleaving copy (tests/support/ov_profile.py).
    xs = torch.arange(w, device=flow.device, dtype=dtype).view(1, w).expand(h, w)
    ys = torch.arange(h, device=flow.device, dtype=dtype).view(h, 1).expand(h, w)
    pixels = torch.stack((xs, ys), dim=-1)
    sx, sy = 2.0 / max(w - 1, 1), 2.0 / max(h - 1, 1)
    # as_tensor, not torch.tensor([sx, sy]): while exporting, sx and sy are traced values of the
    # input's size, and a list would freeze them to the trace's size
    factors = torch.stack([torch.as_tensor(f, dtype=dtype, device=flow.device) for f in (sx, sy)])
    return (flow.permute(0, 2, 3, 1) + pixels) * factors - 1.0


def warp_grid_sample(image: torch.Tensor, flow: torch.Tensor) -> torch.Tensor:
    """Reference implementation on ``grid_sample``; differentiable in image and flow."""
    if image.dim() != 4 or flow.dim() != 4 or image.shape[0] != flow.shape[0] or image.shape[-2:] != flow.shape[-2:]:
        raise ValueError(
            f"warp needs image (N,C,H,W) and flow (N,2,H,W) of the same N, H, W; "
            f"got {tuple(image.shape)} and {tuple(flow.shape)}"
        )
    grid = pixel_grid(flow)
    src = image if image.dtype == grid.dtype else image.to(grid.dtype)
    out = F.grid_sample(src, grid, mode="bilinear", padding_mode="border", align_corners=True)
    return out if out.dtype == image.dtype else out.to(image.dtype)


_IMPLS: dict[str, WarpFn] = {"grid_sample": warp_grid_sample}
_state = threading.local()  # per thread: the implementation chosen by the innermost use_warp_impl


def register_warp_impl(name: str, fn: WarpFn) -> None:
    """Name another implementation of the same contract, so that ``use_warp_impl(name)`` finds it.

    Registering selects nothing: an implementation runs only inside a :func:`use_warp_impl` block.
    """
    if name == "grid_sample":
        raise ValueError("'grid_sample' is the reference implementation and cannot be replaced")
    _IMPLS[name] = fn


def unregister_warp_impl(name: str) -> None:
    """Forget a name given to :func:`register_warp_impl` (a no-op for unknown names)."""
    if name != "grid_sample":
        _IMPLS.pop(name, None)


def warp_impls() -> list[str]:
    return list(_IMPLS)


@contextlib.contextmanager
def use_warp_impl(impl: str | WarpFn) -> Iterator[None]:
    """Use ``impl`` (a registered name or a function) for every warp inside the block, in this
    thread only; the previous choice is restored on leaving. Blocks nest (the innermost wins)."""
    if isinstance(impl, str):
        if impl not in _IMPLS:
            raise KeyError(f"unknown warp implementation {impl!r}; known: {', '.join(_IMPLS)}")
        fn = _IMPLS[impl]
    elif callable(impl):
        fn = impl
    else:
        raise TypeError(f"use_warp_impl takes a registered name or a function, not {type(impl).__name__}")
    prev = getattr(_state, "fn", None)
    _state.fn = fn
    try:
        yield
    finally:
        _state.fn = prev


def current_warp_impl() -> WarpFn:
    """The implementation :func:`backward_warp` calls here and now (grid_sample outside any block)."""
    return getattr(_state, "fn", None) or warp_grid_sample


def backward_warp(image: torch.Tensor, flow: torch.Tensor) -> torch.Tensor:
    """Warp ``image`` (N,C,H,W) backwards by pixel flow (N,2,H,W); border clamp; see module doc."""
    return current_warp_impl()(image, flow)

"""Model frames <-> any pixel format: RGB(A) float tensors to encoder frames, and alpha out of decoded ones.

The picture goes through :mod:`filmrt.pipeline.io.colour` (our stated float Y'CbCr <-> RGB at the
stream's matrix and range, chroma box-averaged to the output's subsampling), so 10/12-bit input
never passes through 8 bits. What is written:

- planar Y'CbCr (``yuv420p``, ``yuv422p10le``, ``yuvj444p``, ``yuva444p10le`` ...): planes filled
  from our codes directly; alpha (always full range) as a fourth plane.
- planar RGB (``gbrp10le``, ``gbrap12le`` ...): codes = round(value * (2**bits - 1)), planes in
  FFmpeg's G, B, R(, A) order.
- grey: its plane is Y' in the range the tags say, written as is (libswscale would take a grey
  plane as full range whatever the tags; the decoder reads it the same way).
- anything else (packed ``argb`` for QuickTime RLE, big-endian ``rgba64be`` for PNG, ``nv12`` ...):
  written in the planar format of the same layout and depth, then repacked by libswscale (a pure
  repack: same family, same subsampling, no matrix).

Alpha in: ``alpha_of`` reads the alpha plane of a decoded frame as (1, H, W) float in [0, 1].
"""

from __future__ import annotations

import av
import numpy as np
import torch

from filmrt.pipeline.io.colour import ColourSpec, rgb_to_yuv
from filmrt.pipeline.io.formats import PixelLayout
from filmrt.pipeline.io.planes import GRAY, Planes


def _fill(frame: av.VideoFrame, planes) -> None:
    for plane, arr in zip(frame.planes, planes, strict=True):
        buf = np.frombuffer(plane, dtype=arr.dtype).reshape(plane.height, -1)
        buf[:, : plane.width] = arr[: plane.height, : plane.width]


def _planar_name(layout: PixelLayout) -> str:
    """A planar little-endian format with ``layout``'s family, subsampling, depth and alpha."""
    depth = "" if layout.bits <= 8 else f"{16 if layout.bits > 12 else layout.bits}le"
    a = "a" if layout.alpha else ""
    if layout.rgb:
        return f"gbr{a}p{depth}"
    if layout.gray:  # libswscale maps Y'CbCr <-> grey levels (as the decoder's reformat did)
        return f"yuv{a}444p{depth}"
    sub = {(2, 2): "420", (1, 2): "422", (1, 1): "444", (2, 1): "440", (1, 4): "411"}[layout.sub]
    j = "j" if layout.full_range and not a and not depth else ""
    return f"yuv{j}{a}{sub}p{depth}"


def _codes(x: torch.Tensor, bits: int) -> np.ndarray:
    top = 2**bits - 1
    dtype = np.uint8 if bits <= 8 else np.uint16
    return (x.float().clamp(0, 1) * top).round_().to(torch.int32).cpu().numpy().astype(dtype)


def rgb_to_frame(rgb: torch.Tensor, layout: PixelLayout, spec: ColourSpec) -> av.VideoFrame:
    """(3 or 4, H, W) float RGB(A) in [0, 1] -> a VideoFrame in ``layout`` (see the module docstring).
    ``spec`` gives the matrix and range of Y'CbCr output (its bit depth is taken from ``layout``)."""
    h, w = rgb.shape[-2:]
    if GRAY.match(layout.name):
        # the plane is Y' in spec's range, written as is: libswscale would take a grey plane as full
        # range whatever the tags (a full-range Y' read as limited and expanded: blacks crushed)
        y, _, _ = rgb_to_yuv(rgb[:3], spec.with_bits(layout.bits), (1, 1))
        frame = av.VideoFrame(w, h, layout.name)
        _fill(frame, [y])
        return frame
    planar = _planar_name(layout)
    p = PixelLayout.of(planar)
    frame = av.VideoFrame(w, h, planar)
    if p.rgb:
        planes = [_codes(rgb[1], p.bits), _codes(rgb[2], p.bits), _codes(rgb[0], p.bits)]
    else:
        y, cb, cr = rgb_to_yuv(rgb[:3], spec.with_bits(p.bits), p.sub)
        planes = [y, cb, cr]
    if p.alpha:  # opaque where the picture has no alpha
        planes.append(_codes(rgb[3] if rgb.shape[0] > 3 else torch.ones_like(rgb[0]), p.bits))
    _fill(frame, planes)
    if planar != layout.name:
        frame = frame.reformat(format=layout.name)
    return frame


def planes_to_frame(planes: Planes, layout: PixelLayout, spec: ColourSpec, width: int, height: int) -> av.VideoFrame | None:
    """``planes`` as a ``width`` x ``height`` VideoFrame in ``layout`` (cropped: an odd size loses
    its last column/row, as RGB does) when they already are that layout's codes (three-plane Y'CbCr of
    the same subsampling and depth, ``spec``'s matrix and range; for grey, Y' of the same depth and
    range); None when they are not (the caller converts through RGB)."""
    if (GRAY.match(layout.name) and planes.spec.bits == layout.bits
            and (planes.spec.matrix, planes.spec.full_range) == (spec.matrix, spec.full_range)):  # grey: Y' itself
        frame = av.VideoFrame(width, height, layout.name)
        _fill(frame, [planes.y.cpu().numpy().astype(np.uint8 if layout.bits <= 8 else np.uint16)])
        return frame
    same = (layout.planar and layout.name.startswith("yuv")  # three planes (nv12, p010: two, through RGB)
            and not (layout.rgb or layout.gray or layout.alpha or layout.name.endswith("be"))
            and planes.sub == layout.sub and planes.spec.bits == layout.bits
            and (planes.spec.matrix, planes.spec.full_range) == (spec.matrix, spec.full_range))
    if not same:
        return None
    dtype = np.uint8 if layout.bits <= 8 else np.uint16
    frame = av.VideoFrame(width, height, layout.name)
    _fill(frame, [p.cpu().numpy().astype(dtype) for p in (planes.y, planes.cb, planes.cr)])
    return frame


def alpha_of(frame: av.VideoFrame) -> torch.Tensor | None:
    """The alpha plane of a decoded frame as (1, H, W) float32 in [0, 1]; None without alpha."""
    layout = PixelLayout.of(frame.format.name)
    if not layout.alpha:
        return None
    if layout.planar and not layout.name.endswith("be"):
        dtype = np.uint8 if layout.bits <= 8 else np.uint16
        plane = frame.planes[3] if len(frame.planes) > 3 else frame.planes[-1]
        item = np.dtype(dtype).itemsize
        arr = np.frombuffer(plane, dtype=dtype).reshape(plane.height, plane.line_size // item)[:, : plane.width]
        return torch.from_numpy(arr.astype(np.float32) / (2**layout.bits - 1))[None]
    arr = frame.to_ndarray(format="rgba64le")  # packed / big-endian: let libswscale unpack
    return torch.from_numpy(arr[..., 3].astype(np.float32) / 65535.0)[None]

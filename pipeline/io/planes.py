"""A decoded picture as the pipeline takes it: integer Y'CbCr planes, or float RGB.

The models work on float RGB (:mod:`filmrt.pipeline.io.colour` converts, stated and exact). A
stage that only copies, repeats or blends pictures does not need RGB: kept as the decoder's
planes (:class:`Planes`), a 720p picture is 2.8 MB instead of 11 MB of RGB float, a blend is a
pass over 1.5 values a pixel instead of 3, and an encoder of the same pixel format takes the planes
as they are (a source frame goes out with its own codes: no round trip through RGB, which rounds
and clips out-of-gamut codes). ``filmrt live`` keeps its input this way
(``DecodeRequest.planes``) and makes RGB only for the frames a model tier or ``--protect`` works on;
``filmrt convert`` does the same unless an option needs every frame in RGB
(:func:`filmrt.pipeline.prepare.rgb_reasons`). Both carry a picture as a :class:`Pic`.

Why a blend of planes is a blend of pictures: Y'CbCr -> RGB is affine per pixel (chroma is
replicated over its block), so ``(1 - t) a + t b`` commutes with it; the codes differ from
"convert, blend, convert back" only by rounding (one code at most) and where RGB is clipped.

Shapes: ``y`` (H, W); ``cb``, ``cr`` (ceil(H / sy), ceil(W / sx)); integer codes (int16 up to 8
bits, int32 above) on the device the decoder was asked for. RGB is (3, H, W) float32 in [0, 1].
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from filmrt.pipeline.io.colour import ColourSpec, guess_spec, luma_from_rgb, rgb_to_yuv, yuv_to_rgb

_PLANAR_YUV = re.compile(r"^yuv(j?)a?(420|422|444|440|411|410)p(\d+)?(le)?$")  # yuva: alpha is plane 3
#: one plane of integer Y' codes, little-endian (ya8/ya16, float and big-endian grey: repacked)
GRAY = re.compile(r"^gray(\d+)?(le)?$")
#: size of the thumbnails the scene-cut detector compares (W, H)
THUMB = (64, 36)


@dataclass(frozen=True)
class Planes:
    """One picture's Y'CbCr planes (integer codes) and the colour they mean."""

    y: torch.Tensor
    cb: torch.Tensor
    cr: torch.Tensor
    spec: ColourSpec

    @property
    def sub(self) -> tuple[int, int]:
        """Chroma subsampling (sy, sx): (2, 2) for 4:2:0."""
        h, w = self.y.shape[-2:]
        return -(-h // self.cb.shape[-2]), -(-w // self.cb.shape[-1])

    def same_kind(self, other: Planes) -> bool:
        """Both pictures have the same size, subsampling and colour (they can be blended)."""
        return self.y.shape == other.y.shape and self.cb.shape == other.cb.shape and self.spec == other.spec

    @classmethod
    def from_rgb(cls, rgb: torch.Tensor, spec: ColourSpec, sub: tuple[int, int]) -> Planes:
        """(3, H, W) RGB in [0, 1] -> the planes an encoder of ``spec`` and ``sub`` would get
        (:func:`~filmrt.pipeline.io.colour.rgb_to_yuv`), on ``rgb``'s device."""
        dtype = np.int16 if spec.bits <= 8 else np.int32
        y, cb, cr = (torch.from_numpy(p.astype(dtype)).to(rgb.device) for p in rgb_to_yuv(rgb, spec, sub))
        return cls(y, cb, cr, spec)

    def to_rgb(self) -> torch.Tensor:
        """(3, H, W) float32 RGB in [0, 1]: what the decoder gives when planes are not asked for."""
        return yuv_to_rgb(self.y, self.cb, self.cr, self.spec)

    def lerp(self, other: Planes, t: float) -> Planes:
        """``(1 - t) * self + t * other``, rounded to codes (see the module docstring)."""
        def mix(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
            return torch.lerp(a.float(), b.float(), float(t)).round_().to(a.dtype)

        return Planes(mix(self.y, other.y), mix(self.cb, other.cb), mix(self.cr, other.cr), self.spec)

    def thumb(self) -> torch.Tensor:
        """The scene-cut thumbnail (:func:`make_thumb`) from the planes: each plane area-averaged
        to the thumbnail's size, then converted (the same up to RGB clipping: the average is linear)."""
        small = [F.adaptive_avg_pool2d(p.float()[None, None], (THUMB[1], THUMB[0]))[0, 0] for p in (self.y, self.cb, self.cr)]
        return luma_from_rgb(yuv_to_rgb(*small, self.spec)).float().cpu()


class Pic:
    """One picture as the pipeline carries it between stages: ``planes`` (as decoded), ``rgb``
    ((3, H, W) float32 in [0, 1]: a model's output, an RGB input, the slate), or both (the RGB a
    model will read, made beside the planes that go to the encoder). :attr:`rgb` converts the
    planes once, when first asked (a second thread asking at the same moment converts them again:
    harmless). ``filmrt live`` and ``filmrt convert`` both carry their frames this way."""

    __slots__ = ("planes", "_rgb")

    def __init__(self, planes: Planes | None = None, rgb: torch.Tensor | None = None):
        assert planes is not None or rgb is not None
        self.planes, self._rgb = planes, rgb

    @property
    def rgb(self) -> torch.Tensor:
        if self._rgb is None:
            self._rgb = self.planes.to_rgb()
        return self._rgb

    @property
    def size(self) -> tuple[int, int]:
        """(H, W)."""
        return tuple((self.planes.y if self.planes is not None else self._rgb).shape[-2:])


def blend(a: Pic, b: Pic, t: float) -> Pic:
    """``(1 - t) * a + t * b``: in planes when both have planes of the same kind (within one code
    of the blend in RGB, see the module docstring), else in RGB."""
    if a.planes is not None and b.planes is not None and a.planes.same_kind(b.planes):
        return Pic(planes=a.planes.lerp(b.planes, t))
    return Pic(rgb=torch.lerp(a.rgb, b.rgb, float(t)))


def make_thumb(rgb: torch.Tensor) -> torch.Tensor:
    """(3, H, W) RGB -> (36, 64) float32 luma (area average) on the CPU."""
    small = F.adaptive_avg_pool2d(rgb[None], (THUMB[1], THUMB[0]))[0]  # area average, then luma
    return luma_from_rgb(small).float().cpu()


def frame_planes(frame, spec: ColourSpec | None, device: torch.device,
                 stream_tags: dict | None = None) -> tuple[Planes | torch.Tensor, ColourSpec]:
    """One decoded PyAV VideoFrame -> (its :class:`Planes`, or (3, H, W) float32 RGB for an RGB
    format, on ``device``; the ColourSpec used). ``stream_tags`` (same keys as below) stand in for
    tags the frame leaves unspecified (the ProRes decoder's frames say nothing of primaries/transfer
    that the MOV ``colr`` atom gives the stream)."""
    name = frame.format.name
    m = _PLANAR_YUV.match(name)
    # the tags are read before any repack (a reformatted frame does not keep them)
    tags = dict(colorspace=frame.colorspace, color_range=frame.color_range, primaries=frame.color_primaries,
                trc=frame.color_trc)
    for k, v in (stream_tags or {}).items():
        if int(tags[k] or 0) in (0, 2) and int(v or 0) not in (0, 2):  # 2 = unspecified (0: RGB / unknown range)
            tags[k] = v
    if name in ("nv12", "nv21"):  # 4:2:0 with Cb, Cr interleaved in one plane: split, not resampled to 4:4:4
        return _semi_planar(frame, spec, device, tags, swap=name == "nv21")
    if GRAY.match(name):  # the plane is Y' itself, in the range the tags say; libswscale would take
        return _gray_planes(frame, spec, device, tags)  # it as full range whatever the tags (tv: brightened)
    if m is None or name.endswith("be"):
        bits = max(c.bits for c in frame.format.components) if frame.format.components else 8
        comps = frame.format.components
        has_chroma = any(getattr(c, "is_chroma", False) for c in comps)
        is_rgb = (not has_chroma) and len(comps) >= 3
        if is_rgb:
            arr = frame.to_ndarray(format="rgb48le" if bits > 8 else "rgb24")
            scale = 65535.0 if bits > 8 else 255.0
            t = torch.from_numpy(np.ascontiguousarray(arr)).to(device).permute(2, 0, 1).float() / scale
            rgb_spec = spec or guess_spec(frame.width, frame.height, bits=bits, primaries=tags["primaries"],
                                          trc=tags["trc"])
            return t.clamp_(0, 1), rgb_spec
        target = "yuv444p16le" if bits > 8 else "yuv444p"
        if name.startswith("gray"):
            target = "yuv420p16le" if bits > 8 else "yuv420p"
        frame = frame.reformat(format=target)
        name = target
        m = _PLANAR_YUV.match(name)
    bits = frame.format.components[0].bits
    if spec is None or spec.bits != bits:
        spec = guess_spec(frame.width, frame.height, bits=bits, full_range_format=bool(m.group(1)), **tags)
    dtype = np.uint8 if bits <= 8 else np.uint16
    planes = []
    for p in frame.planes[:3]:
        item = np.dtype(dtype).itemsize
        arr = np.frombuffer(p, dtype=dtype).reshape(p.height, p.line_size // item)[:, : p.width]
        arr = arr.astype(np.int16 if bits <= 8 else np.int32)
        planes.append(torch.from_numpy(arr).to(device, non_blocking=True))
    return Planes(planes[0], planes[1], planes[2], spec), spec


def _gray_planes(frame, spec: ColourSpec | None, device: torch.device, tags: dict) -> tuple[Planes, ColourSpec]:
    """A grey frame as 4:2:0 planes: its plane as Y' (full range unless tagged limited: FFmpeg's
    reading of an untagged grey picture), neutral chroma."""
    bits = frame.format.components[0].bits
    if spec is None or spec.bits != bits:
        spec = guess_spec(frame.width, frame.height, bits=bits, full_range_format=True, **tags)
    p = frame.planes[0]
    item = 1 if bits <= 8 else 2
    arr = np.frombuffer(p, dtype=np.uint8 if bits <= 8 else np.uint16).reshape(p.height, p.line_size // item)[:, : p.width]
    y = torch.from_numpy(arr.astype(np.int16 if bits <= 8 else np.int32)).to(device)
    c = torch.full((-(-p.height // 2), -(-p.width // 2)), 1 << (bits - 1), dtype=y.dtype, device=device)
    return Planes(y, c, c.clone(), spec), spec


def _semi_planar(frame, spec: ColourSpec | None, device: torch.device, tags: dict, swap: bool) -> tuple[Planes, ColourSpec]:
    """An 8-bit nv12 / nv21 frame as its 4:2:0 planes (the codes as decoded)."""
    if spec is None or spec.bits != 8:
        spec = guess_spec(frame.width, frame.height, bits=8, **tags)
    out = []
    for p in frame.planes[:2]:
        out.append(np.frombuffer(p, np.uint8).reshape(p.height, p.line_size)[:, : p.width * (len(out) + 1)])
    y, uv = (torch.from_numpy(a.astype(np.int16)).to(device) for a in out)
    cb, cr = uv[:, 0::2].contiguous(), uv[:, 1::2].contiguous()
    return Planes(y, *((cr, cb) if swap else (cb, cr)), spec), spec


def frame_to_rgb(frame, spec: ColourSpec | None, device: torch.device,
                 stream_tags: dict | None = None) -> tuple[torch.Tensor, ColourSpec]:
    """One decoded PyAV VideoFrame -> ((3, H, W) float32 RGB on ``device``, the ColourSpec used);
    see :func:`frame_planes`."""
    pic, spec = frame_planes(frame, spec, device, stream_tags)
    return (pic if isinstance(pic, torch.Tensor) else pic.to_rgb()), spec

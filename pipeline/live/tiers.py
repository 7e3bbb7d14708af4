"""What each tier computes for one output frame between ``a`` and ``b`` at ``t``, and the pictures
it works on.

- ``full``: the model on the two frames as they are;
- ``half`` / ``quarter``: the model on both frames scaled down by 2 / 4 (area average), its result
  scaled back up (bilinear). The motion is estimated on a coarser grid, like RIFE's flow scale
  0.5 / 0.25, and, unlike it, the warp runs coarse too: the frame is softer. Portable: any model on
  any backend runs it, and it costs about 1/4 (1/16) of the full tier;
- ``blend``: ``(1 - t) * a + t * b`` (motion ghosts as a double image);
- ``repeat``: the nearer of the two frames (motion judders; the safe frame at cuts and stalls).

A :class:`~filmrt.pipeline.io.planes.Pic` is the decoder's Y'CbCr planes (:mod:`filmrt.pipeline.io.planes`) or RGB. The input
stays in planes: source and repeat frames reach the encoder as they were decoded, blend mixes the
planes, and RGB is made only for the frames a model tier (or ``--protect``) works on. At 720p this
keeps the cheap path at a few ms a frame (a round trip through float RGB costs ~20 ms a frame on
one core), so a 2-core CPU runs 720p 25 -> 50 live.
"""

from __future__ import annotations

import av
import torch
import torch.nn.functional as F

from filmrt.pipeline.io.planes import Pic, Planes, blend, frame_planes
from filmrt.pipeline.live.deadline import BLEND, REPEAT, TIER_SCALE


def blank(info, device: torch.device, level: float = 0.0) -> Pic:
    """A flat picture (``level`` in [0, 1]: 0 is black) of the input's size in the form its decoded
    frames will have: Y'CbCr planes of its format and colour, or RGB for an RGB format."""
    h, w = info.height, info.width
    rgb = torch.full((3, h, w), float(level), device=device)
    try:
        frame = av.VideoFrame(w, h, info.pix_fmt)
    except (ValueError, TypeError, av.error.FFmpegError):  # a format PyAV cannot allocate: RGB
        return Pic(rgb=rgb)
    like, spec = frame_planes(frame, info.colour, device)
    return Pic(rgb=rgb) if isinstance(like, torch.Tensor) else Pic(planes=Planes.from_rgb(rgb, spec, like.sub))


def repeat(a: Pic, b: Pic | None, t: float) -> Pic:
    return a if b is None or t < 0.5 else b


def _scaled(x: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    return F.interpolate(x[None], size=size, mode="area")[0]


def model_tier(interp, tier: str, a: Pic, b: Pic, t: float, keys=None) -> Pic:
    """Run the model tier ``tier`` (see the module docstring). ``keys``: the frames' identities
    (a staged model reuses per-frame work; only at full size, where the frames are the same)."""
    scale = TIER_SCALE[tier]
    if scale == 1.0:
        ka, kb = keys if keys is not None else (None, None)
        return Pic(rgb=interp.interpolate(a.rgb[None], b.rgb[None], [t], keys_a=None if ka is None else [ka],
                                          keys_b=None if kb is None else [kb])[0])
    h, w = a.size
    small = (max(2, round(h * scale)), max(2, round(w * scale)))
    out = interp.interpolate(_scaled(a.rgb, small)[None], _scaled(b.rgb, small)[None], [t])[0]
    return Pic(rgb=F.interpolate(out[None], size=(h, w), mode="bilinear", align_corners=False)[0].clamp_(0, 1))


def cheap(tier: str, a: Pic, b: Pic | None, t: float) -> Pic:
    """The tiers that run on the clock thread (``blend``, ``repeat``)."""
    if tier == BLEND and b is not None:
        return blend(a, b, t)
    assert tier in (BLEND, REPEAT)
    return repeat(a, b, t)

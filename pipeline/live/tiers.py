"""What each tier computes for one output frame between ``a`` and ``b`` at ``t``.

- ``full``: the model on the two frames as they are;
- ``half`` / ``quarter``: the model on both frames scaled down by 2 / 4 (area average), its result
  scaled back up (bilinear). The motion is estimated on a coarser grid, like RIFE's flow scale
  0.5 / 0.25, and, unlike it, the warp runs coarse too: the frame is softer. Portable: any model on
  any backend runs it, and it costs about 1/4 (1/16) of the full tier;
- ``blend``: ``(1 - t) * a + t * b`` (motion ghosts as a double image);
- ``repeat``: the nearer of the two frames (motion judders; the safe frame at cuts and stalls).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from filmrt.pipeline.live.deadline import BLEND, REPEAT, TIER_SCALE


def repeat(a: torch.Tensor, b: torch.Tensor | None, t: float) -> torch.Tensor:
    return a if b is None or t < 0.5 else b


def blend(a: torch.Tensor, b: torch.Tensor, t: float) -> torch.Tensor:
    return torch.lerp(a, b, float(t))


def _scaled(x: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    return F.interpolate(x[None], size=size, mode="area")[0]


def model_tier(interp, tier: str, a: torch.Tensor, b: torch.Tensor, t: float, keys=None) -> torch.Tensor:
    """Run the model tier ``tier`` (see the module docstring). ``keys``: the frames' identities
    (a staged model reuses per-frame work; only at full size, where the frames are the same)."""
    scale = TIER_SCALE[tier]
    if scale == 1.0:
        ka, kb = keys if keys is not None else (None, None)
        return interp.interpolate(a[None], b[None], [t], keys_a=None if ka is None else [ka],
                                  keys_b=None if kb is None else [kb])[0]
    h, w = a.shape[-2:]
    small = (max(2, round(h * scale)), max(2, round(w * scale)))
    out = interp.interpolate(_scaled(a, small)[None], _scaled(b, small)[None], [t])[0]
    return F.interpolate(out[None], size=(h, w), mode="bilinear", align_corners=False)[0].clamp_(0, 1)


def cheap(tier: str, a: torch.Tensor, b: torch.Tensor | None, t: float) -> torch.Tensor:
    """The tiers that run on the clock thread (``blend``, ``repeat``)."""
    if tier == BLEND and b is not None:
        return blend(a, b, t)
    assert tier in (BLEND, REPEAT)
    return repeat(a, b, t)

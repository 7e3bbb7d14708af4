"""``blend``: naive frame blending, ``(1 - t) * a + t * b``.

No motion at all: a moving edge shows up twice, faded. It is the baseline every real
interpolator must beat (the evaluation and benchmark report it side by side), and, having no
weights and costing nothing, the model the pipeline tests use to check frame counts and timing.
"""

from __future__ import annotations

import torch

from filmrt.models import ModelSpec


class Blend(torch.nn.Module):
    name = "blend"
    pad_align = "end"
    pad_multiple = 1  # no downsampling: no padding needed

    def forward(self, img0: torch.Tensor, img1: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        t = t.to(img0.dtype).view(-1, 1, 1, 1)
        return img0 + (img1 - img0) * t


SPEC = ModelSpec(
    name="blend",
    build=lambda config: Blend(),
    summary="naive frame blending (baseline, no weights)",
    needs_weights=False,
    pad_multiple=Blend.pad_multiple,
)

"""The one padding routine: pad frames to a multiple of 64, run the model, crop back.

Both models halve the resolution six times (FILM's 7-level pyramid, RIFE's 1/16 block run at
stride 4), so their input height and width must be multiples of 64. Frames of any other size are
zero-padded, interpolated, and the result is cropped back to the original size.

Two placements, both from the reference implementations:

- ``"center"`` (FILM's ``eval/interpolator.py``): the padding is split, ``pad // 2`` before
  (top/left) and the rest after.
- ``"end"`` (RIFE's inference code): everything after (bottom/right).

Which one a model uses is a property of the model (``model.pad_align``); every backend takes it
from there, so the same frame gets the same padding on torch, ONNX Runtime and TensorRT.

Shapes: tensors are (..., H, W); padding is with zeros (black in [0,1] RGB).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

MULTIPLE = 64


def padded_size(n: int, multiple: int = MULTIPLE) -> int:
    """Smallest multiple of ``multiple`` that is >= n."""
    return -(-n // multiple) * multiple


@dataclass(frozen=True)
class Padding:
    """Zero padding around a (..., H, W) tensor, and its inverse crop."""

    top: int = 0
    bottom: int = 0
    left: int = 0
    right: int = 0

    @classmethod
    def for_size(cls, height: int, width: int, multiple: int = MULTIPLE, align: str = "center") -> Padding:
        ph = padded_size(height, multiple) - height
        pw = padded_size(width, multiple) - width
        if align == "center":
            return cls(ph // 2, ph - ph // 2, pw // 2, pw - pw // 2)
        if align == "end":
            return cls(0, ph, 0, pw)
        raise ValueError(f"align must be 'center' or 'end', got {align!r}")

    @property
    def is_zero(self) -> bool:
        return not (self.top or self.bottom or self.left or self.right)

    def pad(self, x: torch.Tensor) -> torch.Tensor:
        if self.is_zero:
            return x
        return F.pad(x, (self.left, self.right, self.top, self.bottom))

    def crop(self, x: torch.Tensor) -> torch.Tensor:
        if self.is_zero:
            return x
        h, w = x.shape[-2:]
        return x[..., self.top : h - self.bottom, self.left : w - self.right]


def pad_to_multiple(
    x: torch.Tensor, multiple: int = MULTIPLE, align: str = "center"
) -> tuple[torch.Tensor, Padding]:
    """Pad (..., H, W) to multiples of ``multiple``; returns the tensor and the Padding to undo it."""
    p = Padding.for_size(x.shape[-2], x.shape[-1], multiple, align)
    return p.pad(x), p

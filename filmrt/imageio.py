"""Still images in and out: files <-> (3, H, W) float32 RGB tensors in [0, 1].

Reading accepts anything Pillow reads (PNG, JPEG, 16-bit PNG, grayscale, palette, alpha is
dropped); writing stores 8-bit PNG with round-to-nearest. Converting to uint8 by rounding is also
what the evaluation protocol scores (see :func:`to_uint8`).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import torch

from filmrt.errors import FilmrtError
from filmrt.fileio import atomic_path


def read_image(path: str | os.PathLike) -> torch.Tensor:
    """(3, H, W) float32 RGB in [0, 1]; a clear FilmrtError for missing or unreadable files."""
    from PIL import Image, UnidentifiedImageError

    p = Path(path)
    if not p.is_file():
        raise FilmrtError(f"image not found: {p}")
    try:
        with Image.open(p) as im:
            im.load()
            if im.mode in ("I;16", "I;16B", "I;16L", "I"):
                arr = np.asarray(im, dtype=np.float32) / 65535.0
                arr = np.repeat(arr[..., None], 3, axis=-1)
            else:
                arr = np.asarray(im.convert("RGB"), dtype=np.float32) / 255.0
    except (UnidentifiedImageError, OSError, ValueError) as e:
        raise FilmrtError(f"cannot read image {p}: {e}") from e
    return torch.from_numpy(np.ascontiguousarray(arr.transpose(2, 0, 1)))


def to_uint8(image: torch.Tensor) -> np.ndarray:
    """(3, H, W) float in [0, 1] -> (H, W, 3) uint8, clamped and rounded to nearest."""
    x = image.detach().float().clamp(0, 1).mul(255.0).round().to(torch.uint8)
    return x.permute(1, 2, 0).cpu().numpy()


def write_image(path: str | os.PathLike, image: torch.Tensor) -> Path:
    """Write (3, H, W) float RGB in [0, 1] as 8-bit PNG, atomically (:func:`filmrt.fileio.atomic_path`);
    creates the folder."""
    from PIL import Image

    p = Path(path)
    try:
        p.parent.mkdir(parents=True, exist_ok=True)
        with atomic_path(p) as tmp:
            Image.fromarray(to_uint8(image)).save(tmp, format="PNG")
    except OSError as e:
        raise FilmrtError(f"cannot write {p}: {e}") from e
    return p

"""Still images in and out: files <-> float32 tensors in [0, 1].

:func:`read_picture` keeps what the file holds: alpha (a 4th channel, RGBA) and 16-bit depth (a
16-bit PNG is read at full precision through FFmpeg's PNG decoder, because Pillow reads 48/64-bit
RGB(A) PNGs as 8-bit). :func:`write_image` writes 8-bit or 16-bit PNG, RGB or RGBA, so a 16-bit
input gives a 16-bit output and alpha survives (``filmrt interpolate``).

:func:`read_image` is the evaluation protocol's reader: (3, H, W) RGB, alpha dropped (the datasets
are opaque). Converting to uint8 by rounding is also what the evaluation protocol scores
(see :func:`to_uint8`).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from filmrt.errors import FilmrtError
from filmrt.fileio import atomic_path

#: Pillow modes that carry an alpha channel
_ALPHA_MODES = ("RGBA", "LA", "PA", "RGBa", "La")
_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


@dataclass
class Picture:
    """A still image: ``pixels`` (3, H, W) RGB or (4, H, W) RGBA float32 in [0, 1]; ``bits`` 8 or 16."""

    pixels: torch.Tensor
    bits: int = 8

    @property
    def alpha(self) -> bool:
        return self.pixels.shape[0] == 4


def _png_bit_depth(path: Path) -> int:
    """The bit depth a PNG's IHDR declares (8 for anything that is not a PNG)."""
    with open(path, "rb") as f:
        head = f.read(26)
    if len(head) < 26 or not head.startswith(_PNG_SIGNATURE) or head[12:16] != b"IHDR":
        return 8
    return head[24]


def _read_png16(path: Path, alpha: bool) -> np.ndarray:
    """A 16-bit PNG at full precision (FFmpeg's decoder): (H, W, 3|4) float32 in [0, 1]."""
    import av

    with av.open(str(path), metadata_errors="ignore") as c:
        frame = next(c.decode(video=0))
        arr = frame.to_ndarray(format="rgba64le" if alpha else "rgb48le")
    return arr.astype(np.float32) / 65535.0


def read_picture(path: str | os.PathLike) -> Picture:
    """The image at ``path`` with its alpha and bit depth; a clear FilmrtError for missing or
    unreadable files."""
    from PIL import Image, UnidentifiedImageError

    p = Path(path)
    if not p.is_file():
        raise FilmrtError(f"image not found: {p}")
    try:
        with Image.open(p) as im:
            im.load()
            alpha = im.mode in _ALPHA_MODES or "transparency" in im.info
            deep = im.format == "PNG" and _png_bit_depth(p) > 8
            if deep:
                arr = _read_png16(p, alpha)
            elif im.mode in ("I;16", "I;16B", "I;16L", "I"):
                arr = np.repeat((np.asarray(im, dtype=np.float32) / 65535.0)[..., None], 3, axis=-1)
                deep = True
            else:
                arr = np.asarray(im.convert("RGBA" if alpha else "RGB"), dtype=np.float32) / 255.0
    except (UnidentifiedImageError, OSError, ValueError, StopIteration) as e:
        raise FilmrtError(f"cannot read image {p}: {e}") from e
    pixels = torch.from_numpy(np.ascontiguousarray(arr.transpose(2, 0, 1)))
    return Picture(pixels, 16 if deep else 8)


def read_image(path: str | os.PathLike) -> torch.Tensor:
    """(3, H, W) float32 RGB in [0, 1] (alpha dropped); a clear FilmrtError for missing or unreadable files."""
    return read_picture(path).pixels[:3].contiguous()


def to_uint8(image: torch.Tensor) -> np.ndarray:
    """(C, H, W) float in [0, 1] -> (H, W, C) uint8, clamped and rounded to nearest."""
    x = image.detach().float().clamp(0, 1).mul(255.0).round().to(torch.uint8)
    return x.permute(1, 2, 0).cpu().numpy()


def _png16_bytes(image: torch.Tensor) -> bytes:
    """(3|4, H, W) float in [0, 1] -> a 16-bit RGB(A) PNG (FFmpeg's encoder; Pillow writes no 48-bit PNG)."""
    import av

    arr = image.detach().float().clamp(0, 1).mul(65535.0).round().to(torch.int32).permute(1, 2, 0).cpu().numpy()
    alpha = arr.shape[2] == 4
    frame = av.VideoFrame.from_ndarray(arr.astype("<u2"), format="rgba64le" if alpha else "rgb48le")
    enc = av.codec.CodecContext.create("png", "w")
    enc.width, enc.height, enc.time_base = frame.width, frame.height, 1
    enc.pix_fmt = "rgba64be" if alpha else "rgb48be"
    frame = frame.reformat(format=enc.pix_fmt)
    return b"".join(bytes(pkt) for pkt in [*enc.encode(frame), *enc.encode(None)])


def write_image(path: str | os.PathLike, image: torch.Tensor, bits: int = 8, *, replace: bool = True) -> Path:
    """Write (3, H, W) RGB or (4, H, W) RGBA float in [0, 1] as an 8-bit or 16-bit PNG, atomically
    (:func:`filmrt.fileio.atomic_path`; ``replace=False``: refuse a file that appeared meanwhile);
    creates the folder."""
    from PIL import Image

    p = Path(path)
    try:
        p.parent.mkdir(parents=True, exist_ok=True)
        with atomic_path(p, replace=replace) as tmp:
            if bits > 8:
                tmp.write_bytes(_png16_bytes(image))
            else:
                Image.fromarray(to_uint8(image)).save(tmp, format="PNG")
    except OSError as e:
        raise FilmrtError(f"cannot write {p}: {e}") from e
    return p

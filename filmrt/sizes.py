"""Frame sizes: one table of named sizes and one parser; ``WxH`` is width x height everywhere.

Accepted spellings: a name from :data:`NAMED_SIZES` (``720p``, ``1080p``, ``4k`` ...), ``WxH``
(``1280x720`` = 1280 wide, 720 high) or ``N`` (square, ``256`` = 256x256). Tensors are (..., H, W):
use :attr:`Size.hw` where a shape is needed, never reorder by hand.
"""

from __future__ import annotations

import re
from typing import NamedTuple

from filmrt.errors import FilmrtError

#: name -> (width, height)
NAMED_SIZES: dict[str, tuple[int, int]] = {
    "256p": (256, 256),
    "360p": (640, 360),
    "480p": (854, 480),
    "540p": (960, 540),
    "576p": (1024, 576),
    "720p": (1280, 720),
    "1080p": (1920, 1080),
    "1440p": (2560, 1440),
    "2160p": (3840, 2160),
    "4k": (3840, 2160),
    "uhd": (3840, 2160),
    "dci4k": (4096, 2160),
}


#: the largest side accepted (16K); beyond it a "size" is a typo, not a picture
MAX_SIDE = 16384


class Size(NamedTuple):
    width: int
    height: int
    #: how the user wrote it (a name, or "WxH")
    label: str = ""

    @property
    def hw(self) -> tuple[int, int]:
        """(height, width), the order of tensor shapes."""
        return self.height, self.width

    def __str__(self) -> str:
        return self.label or f"{self.width}x{self.height}"


def parse_size(text: str) -> Size:
    """``720p`` / ``1280x720`` (width x height) / ``256`` (square) -> :class:`Size`."""
    key = str(text).strip().lower()
    if key in NAMED_SIZES:
        w, h = NAMED_SIZES[key]
        return Size(w, h, key)
    m = re.fullmatch(r"(\d+)x(\d+)", key)
    if m:
        w, h = int(m.group(1)), int(m.group(2))
    elif key.isdigit():
        w = h = int(key)
    else:
        names = ", ".join(n for n in NAMED_SIZES if n.endswith("p"))
        raise FilmrtError(f"bad size {text!r}: use WIDTHxHEIGHT (e.g. 1280x720), N (square) or one of {names}")
    if w < 1 or h < 1:
        raise FilmrtError(f"bad size {text!r}: width and height must be positive")
    if w > MAX_SIDE or h > MAX_SIDE:
        raise FilmrtError(f"bad size {text!r}: a side above {MAX_SIDE} pixels is not a video size")
    return Size(w, h, f"{w}x{h}")


def parse_sizes(text: str) -> list[Size]:
    """Comma-separated sizes: ``1080p,1280x720`` -> [Size(1920, 1080), Size(1280, 720)]."""
    items = [p for p in str(text).split(",") if p.strip()]
    if not items:
        raise FilmrtError(f"no size in {text!r}: give e.g. 1080p or 1280x720")
    return [parse_size(p) for p in items]

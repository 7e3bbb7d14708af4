"""Helpers shared by the video tests (``from support.helpers import decode_all``)."""

from __future__ import annotations


def decode_all(path, **kw) -> list:
    """Every frame of a video as (timestamp, (H,W,3) uint8 RGB); ``kw`` go to PyAVSource (ss, t, ...)."""
    from filmrt.pipeline.io.decode import PyAVSource

    src = PyAVSource(str(path), **kw)
    try:
        return [(f.ts, f.rgb) for f in src.frames()]
    finally:
        src.close()

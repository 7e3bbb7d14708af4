"""Field and frame operations on decoded frames, through libavfilter graphs (PyAV's ``av.filter.Graph``).

The model works on RGB frames; these operations run between decode and the scheduler (and, for
``--interlace``, between the model and the encoder). Each frame goes to libavfilter as planar RGB,
16 bits per sample (``gbrp16le``: the (3, H, W) float tensor scaled to 0..65535, planes in G, B, R
order), so nothing is lost on the way there and back. ``fieldmatch`` and ``decimate`` only accept
Y'CbCr: the very same planes are handed to them labelled ``yuv444p16le`` (G as "luma"): both only
compare and copy lines, so the pixels come back unchanged; green is where most of luma is.

Timestamps: frames enter with ``pts = ts / time_base`` (exact, in the source's time base) and
leave with libavfilter's own ``pts * time_base`` (bwdif at field rate halves the time base;
decimate re-times to 4/5 of the rate), so the scheduler gets exact times.

No deinterlacer or matcher is written here: bwdif, yadif, fieldmatch, decimate, separatefields,
select, weave, setparams and atempo are FFmpeg's.
"""

from __future__ import annotations

from collections.abc import Iterator
from fractions import Fraction

import av
import numpy as np
import torch

#: filter chains, by name: (filter, args) pairs; "{parity}" is "tff"/"bff"
CHAINS = {
    "bwdif": [("bwdif", "mode=send_field:parity={parity}:deint=all")],
    "yadif": [("yadif", "mode=send_field:parity={parity}:deint=all")],
    "fieldmatch+decimate": [("fieldmatch", "order={parity}:combmatch=full"), ("decimate", "")],
}
#: weave a progressive sequence into interlaced frames at half its rate: split every frame into its
#: two fields (top first: separatefields follows the frame's flag, so it is set), keep the top field
#: of even frames and the bottom of odd ones (tff; bff the other way round), weave consecutive kept
#: fields, tag the frames' field order
_SPLIT = [("setparams", "field_mode=tff"), ("separatefields", "")]
WEAVE = {
    "tff": [*_SPLIT, ("select", r"not(mod(n\,4))+not(mod(n+1\,4))"),
            ("weave", "first_field=top"), ("setparams", "field_mode=tff")],
    "bff": [*_SPLIT, ("select", r"not(mod(n+3\,4))+not(mod(n+2\,4))"),
            ("weave", "first_field=bottom"), ("setparams", "field_mode=bff")],
}
_YUV_LABEL = "yuv444p16le"  # how gbrp16le planes are labelled for filters that only take Y'CbCr


def rgb_to_frame(rgb: torch.Tensor, fmt: str = "gbrp16le") -> av.VideoFrame:
    """(3, H, W) float RGB in [0, 1] -> a planar 16-bit PyAV frame (G, B, R planes)."""
    arr = (rgb.detach().float().clamp(0, 1) * 65535 + 0.5).to(torch.int32).cpu().numpy().astype(np.uint16)
    h, w = arr.shape[1:]
    frame = av.VideoFrame(w, h, fmt)
    for plane, src in zip(frame.planes, (arr[1], arr[2], arr[0]), strict=True):
        buf = np.frombuffer(plane, dtype=np.uint16).reshape(plane.height, plane.line_size // 2)
        buf[:, :w] = src
    return frame


def frame_to_rgb(frame: av.VideoFrame, device: torch.device | str = "cpu") -> torch.Tensor:
    """The inverse of :func:`rgb_to_frame`."""
    planes = []
    for plane in frame.planes[:3]:
        buf = np.frombuffer(plane, dtype=np.uint16).reshape(plane.height, plane.line_size // 2)
        planes.append(buf[:, : frame.width].astype(np.float32))
    g, b, r = planes
    return (torch.from_numpy(np.stack([r, g, b])) / 65535).to(device)


class FilterChain:
    """A linear libavfilter graph: ``push(frame)`` -> frames out; ``flush()`` at the end."""

    def __init__(self, chain, *, width: int, height: int, time_base: Fraction, rate: Fraction | None,
                 fmt: str = "gbrp16le", parity: str = "tff"):
        self.fmt = fmt
        self.graph = g = av.filter.Graph()
        rate = rate or Fraction(25)
        args = (f"video_size={width}x{height}:pix_fmt={fmt}:time_base={time_base.numerator}/{time_base.denominator}"
                f":frame_rate={rate.numerator}/{rate.denominator}:pixel_aspect=1/1")
        last = g.add("buffer", args)
        for name, a in chain:
            a = a.format(parity=parity)
            f = g.add(name, a) if a else g.add(name)
            last.link_to(f)
            last = f
        sink = g.add("buffersink")
        last.link_to(sink)
        g.configure()

    def _pull(self) -> list[av.VideoFrame]:
        out = []
        while True:
            try:
                out.append(self.graph.pull())
            except (av.error.BlockingIOError, av.error.EOFError):
                return out

    def push(self, frame: av.VideoFrame) -> list[av.VideoFrame]:
        self.graph.push(frame)
        return self._pull()

    def flush(self) -> list[av.VideoFrame]:
        self.graph.push(None)
        return self._pull()


class RGBChain:
    """A :class:`FilterChain` on (ts, RGB tensor) pairs: ``run(items)`` yields (ts, rgb) out.

    ``items`` are (ts seconds, (3, H, W) tensor) in presentation order; times out are exact.
    """

    def __init__(self, chain, *, width: int, height: int, time_base: Fraction, rate: Fraction | None,
                 parity: str = "tff", device: torch.device | str = "cpu"):
        names = {name for name, _ in chain}
        self.label = _YUV_LABEL if names & {"fieldmatch", "decimate"} else None
        self.time_base = Fraction(time_base)
        self.device = device
        self.chain = FilterChain(chain, width=width, height=height, time_base=self.time_base, rate=rate,
                                 fmt=self.label or "gbrp16le", parity=parity)

    def _in(self, ts: Fraction, rgb: torch.Tensor) -> av.VideoFrame:
        f = rgb_to_frame(rgb, self.label or "gbrp16le")
        f.pts = round(Fraction(ts) / self.time_base)
        f.time_base = self.time_base
        return f

    def _out(self, frames) -> Iterator[tuple[Fraction, torch.Tensor]]:
        for f in frames:
            yield Fraction(f.pts) * Fraction(f.time_base), frame_to_rgb(f, self.device)

    def push(self, ts: Fraction, rgb: torch.Tensor) -> Iterator[tuple[Fraction, torch.Tensor]]:
        yield from self._out(self.chain.push(self._in(ts, rgb)))

    def flush(self) -> Iterator[tuple[Fraction, torch.Tensor]]:
        yield from self._out(self.chain.flush())


def luma_changed_fraction(a: torch.Tensor, b: torch.Tensor, level: float) -> float:
    """Share of pixels whose luma (BT.709 weights) differs by more than ``level`` between two RGB frames."""
    w = torch.tensor([0.2126, 0.7152, 0.0722], dtype=torch.float32, device=a.device).view(3, 1, 1)
    ya = (a.float() * w).sum(0)
    yb = (b.float().to(a.device) * w).sum(0)
    return float(((ya - yb).abs() > level).float().mean())


class DecodedFilter:
    """A chain run on the decoder's own frames (Y'CbCr as decoded, before any RGB conversion, so
    4:2:0 chroma stays with its field): the ``frame_filter`` hook of
    :class:`~filmrt.pipeline.decode.PyAVSource`. ``__call__(frames, end)`` -> frames out, each
    carrying its own ``time_base`` (bwdif at field rate halves it)."""

    def __init__(self, chain, *, time_base: Fraction, rate: Fraction | None, parity: str):
        self.spec, self.time_base, self.rate, self.parity = chain, Fraction(time_base), rate, parity
        self.chain: FilterChain | None = None
        self.frames_in = self.frames_out = 0

    def __call__(self, frames, end: bool = False) -> list:
        out = []
        for f in frames:
            if self.chain is None:
                self.chain = FilterChain(self.spec, width=f.width, height=f.height, time_base=self.time_base,
                                         rate=self.rate, fmt=f.format.name, parity=self.parity)
            f.time_base = self.time_base
            self.frames_in += 1
            out += self.chain.push(f)
        if end and self.chain is not None:
            out += self.chain.flush()
        self.frames_out += len(out)
        return out

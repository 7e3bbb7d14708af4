"""Field and frame operations through libavfilter graphs (PyAV's ``av.filter.Graph``).

- deinterlacing (``bwdif``/``yadif`` at field rate: one frame in, two out) and pulldown removal
  (``fieldmatch`` + ``decimate``: five frames in, four out) run on the decoder's own Y'CbCr frames,
  before any RGB conversion, so each field keeps its own 4:2:0 chroma (:class:`DecodedFilter`,
  built by :class:`~filmrt.pipeline.io.decode.PyAVSource` from its ``DecodeRequest``);
- weaving a progressive sequence into interlaced frames (:data:`WEAVE`) runs in the muxer on the
  Y'CbCr frames it is about to encode (``--interlace``).

Timestamps: frames enter with their stream ``pts``/``time_base`` and leave with libavfilter's
(bwdif at field rate halves the time base; decimate re-times to 4/5 of the rate), so the scheduler
gets exact times. No deinterlacer or matcher is written here: bwdif, yadif, fieldmatch, decimate,
separatefields, select, weave and setparams are FFmpeg's.
"""

from __future__ import annotations

from fractions import Fraction

import av

#: filter chains, by name: (filter, args) pairs; "{parity}" is "tff"/"bff"
CHAINS = {
    "bwdif": [("bwdif", "mode=send_field:parity={parity}:deint=all")],
    "yadif": [("yadif", "mode=send_field:parity={parity}:deint=all")],
    "fieldmatch+decimate": [("fieldmatch", "order={parity}:combmatch=full"), ("decimate", "")],
    "fieldmatch": [("fieldmatch", "order={parity}:combmatch=full")],  # 2:2 pulldown shifted by a field
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


def pull_all(graph) -> list:
    """Every frame a configured libavfilter ``graph`` has ready (until it asks for more input or ends)."""
    out = []
    while True:
        try:
            out.append(graph.pull())
        except (av.error.BlockingIOError, av.error.EOFError):
            return out


class FilterChain:
    """A linear libavfilter graph: ``push(frame)`` -> frames out; ``flush()`` at the end."""

    def __init__(self, chain, *, width: int, height: int, time_base: Fraction, rate: Fraction | None,
                 fmt: str = "yuv420p", parity: str = "tff"):
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
        return pull_all(self.graph)

    def push(self, frame: av.VideoFrame) -> list[av.VideoFrame]:
        self.graph.push(frame)
        return self._pull()

    def flush(self) -> list[av.VideoFrame]:
        self.graph.push(None)
        return self._pull()


class DecodedFilter:
    """A chain run on the decoder's own frames (Y'CbCr as decoded, before any RGB conversion, so
    4:2:0 chroma stays with its field): the ``frame_filter`` hook of
    :class:`~filmrt.pipeline.io.decode.PyAVSource`. ``__call__(frames, end)`` -> frames out, each
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

"""Closed captions (CEA-608/708 in ATSC A/53 ``cc_data``) re-paced to the output frame rate.

Captions ride in the video as a few 3-byte ``cc_data`` triples per frame (the decoder hands them over
as ``A53_CC`` side data). They are a byte *stream*: a caption decoder consumes the pairs in order and
only their order and approximate time matter. So re-pacing is:

- **collect** (decode thread): every source frame's triples, with the frame's time, in order;
- **deal out** (encode thread): each output frame carries the triples whose source time has come
  (``time <= output frame time``), so every pair is sent once, in order, no later than one output
  frame after its source time; output frames with nothing due carry none (a decoder treats that as
  padding). Up-conversion spreads them out, down-conversion gathers several frames' worth into one
  (at most 31 triples per message: more go into a second message of the same frame);
- **write** (muxer): each output packet gets an SEI NAL unit ``user_data_registered_itu_t_t35``
  (ITU-T T.35 USA, provider ATSC, ``GA94``, ``cc_data``) in front of its picture: H.264 (NAL type 6)
  and HEVC (prefix SEI, NAL type 39), Annex B or length-prefixed packets alike. Other encoders have
  no place for them: the captions are dropped and said so.
"""

from __future__ import annotations

import collections
import threading
from fractions import Fraction

from filmrt.pipeline.io.hdr import side_data_of

#: encoders whose packets carry the caption SEI
CAPTION_CODECS = ("libx264", "libx265")


def _rbsp_escape(data: bytes) -> bytes:
    """Insert emulation-prevention bytes (00 00 0x -> 00 00 03 0x for x <= 3)."""
    out, zeros = bytearray(), 0
    for b in data:
        if zeros >= 2 and b <= 3:
            out.append(3)
            zeros = 0
        out.append(b)
        zeros = zeros + 1 if b == 0 else 0
    return bytes(out)


def sei_nal(triples: bytes, hevc: bool) -> bytes:
    """One SEI NAL unit (no start code / length) holding ``triples`` (3-byte cc_data constructs)."""
    n = len(triples) // 3
    payload = b"\xb5\x00\x31GA94\x03" + bytes([0x40 | n, 0xFF]) + triples[: 3 * n] + b"\xff"
    size = len(payload)
    sei = b"\x04" + b"\xff" * (size // 255) + bytes([size % 255]) + payload + b"\x80"
    header = b"\x4e\x01" if hevc else b"\x06"
    return header + _rbsp_escape(sei)


def with_sei(data: bytes, nals: list[bytes]) -> bytes:
    """``data`` (one access unit) with ``nals`` in front, in the packet's own framing."""
    annexb = data.startswith(b"\x00\x00\x00\x01") or data.startswith(b"\x00\x00\x01")
    if annexb:
        return b"".join(b"\x00\x00\x00\x01" + n for n in nals) + data
    return b"".join(len(n).to_bytes(4, "big") + n for n in nals) + data


def a53_of(frame) -> bytes:
    """The ``cc_data`` triples of a decoded frame's A53_CC side data (b"" when it has none)."""
    items = side_data_of(frame)
    return b"".join(bytes(sd) for sd in items if getattr(getattr(sd, "type", None), "name", "") == "A53_CC")


class CaptionPacer:
    """Triples in (with their source time), out per output frame (see the module docstring).
    ``stretch``: the slow-motion factor (``--slowmo N``: a caption at source time t is due at
    output time N x t, with the picture it belongs to)."""

    def __init__(self, stretch: Fraction | int = 1) -> None:
        self.stretch = Fraction(stretch)
        self._queue: collections.deque[tuple[Fraction, bytes]] = collections.deque()
        self._lock = threading.Lock()
        self.triples_in = 0
        self.triples_out = 0

    def push(self, ts: Fraction, cc: bytes) -> None:
        cc = cc[: len(cc) - len(cc) % 3]
        if cc:
            with self._lock:
                self._queue.append((ts * self.stretch, cc))
                self.triples_in += len(cc) // 3

    def take(self, until: Fraction | None) -> bytes:
        """All triples with source time <= ``until`` (everything left when None), in order."""
        out = bytearray()
        with self._lock:
            while self._queue and (until is None or self._queue[0][0] <= until):
                out += self._queue.popleft()[1]
        self.triples_out += len(out) // 3
        return bytes(out)

    def nals(self, cc: bytes, hevc: bool) -> list[bytes]:
        """SEI NAL units for ``cc``, at most 31 triples each."""
        return [sei_nal(cc[i : i + 93], hevc) for i in range(0, len(cc), 93)]

"""Orientation: a display matrix turned into the pictures where OUT's container cannot hold it.

A phone video is usually coded sideways (320x240) with a *display matrix* that tells players to
turn it (90°, 180°, 270°, or to mirror it). MP4/MOV (the ``tkhd`` matrix) and Matroska/WebM
(the projection's roll and flips) carry that matrix, and convert writes it again, pixels untouched.
MPEG-TS, MPEG-PS, AVI, MXF, NUT and FLV have no place for it: written as coded, the picture plays
sideways. There convert does what ffmpeg does when it re-encodes (its *autorotate*): the decoder
turns every picture upright with libavfilter's ``transpose``/``hflip``/``vflip`` (a quarter turn
swaps width and height, and the sample aspect ratio becomes its reciprocal), and no matrix is
written. :func:`turn_of` reads the matrix exactly as ffmpeg's ``get_rotation`` and its filter
choice do, so filmrt's picture is ffmpeg's picture.

Which containers hold the matrix was measured on FFmpeg 8.1 (written with a 90° matrix, read back;
``tests/pipeline/test_orientation.py``): :data:`MATRIX_MUXERS`.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from fractions import Fraction

import av

from filmrt.pipeline.io.hdr import display_matrix_of
from filmrt.pipeline.time.cadence.fieldops import FilterChain

#: muxers whose files keep a display matrix (FFmpeg 8.1: the mov family's tkhd matrix, Matroska's
#: projection); every other muxer drops it silently (mpegts, mpeg, vob, avi, mxf, nut, flv measured)
MATRIX_MUXERS = frozenset({"mov", "mp4", "ipod", "3gp", "3g2", "psp", "ismv", "f4v", "matroska", "webm"})


def holds_matrix(fmt: str) -> bool:
    """Whether muxer ``fmt`` writes a display matrix that reads back."""
    return fmt in MATRIX_MUXERS


@dataclass(frozen=True)
class Turn:
    """What makes a coded picture upright: ``degrees`` clockwise as ffmpeg's ``get_rotation`` gives
    them (0, 90, 180, 270; another angle has no ``chain``) and the libavfilter chain that does it."""

    degrees: int
    #: (filter, args) pairs; empty when the matrix is not a quarter turn or flip (not applied)
    chain: tuple[tuple[str, str], ...]

    @property
    def quarter(self) -> bool:
        """Whether width and height swap (a transpose in the chain)."""
        return any(name == "transpose" for name, _ in self.chain)

    @property
    def applicable(self) -> bool:
        return bool(self.chain)

    def size(self, width: int, height: int) -> tuple[int, int]:
        return (height, width) if self.quarter else (width, height)

    def sar(self, sar: Fraction | None) -> Fraction | None:
        """The sample aspect ratio of the turned picture (a pixel twice as wide becomes twice as tall)."""
        return 1 / sar if sar and self.quarter else sar

    def describe(self) -> str:
        """``rotated 90° anticlockwise``, ``rotated 180°``, ``flipped horizontally`` ... as the note says it."""
        names = [n for n, _ in self.chain]
        if names == ["transpose"]:
            arg = self.chain[0][1]
            way = "anticlockwise" if arg.startswith("cclock") else "clockwise"
            return f"rotated 90° {way}" + (" and mirrored" if arg.endswith("_flip") else "")
        if names == ["hflip", "vflip"]:
            return "rotated 180°"
        return " and ".join({"hflip": "flipped horizontally", "vflip": "flipped vertically"}[n] for n in names)


def first_display_matrix(path: str, index: int, packets: int = 600) -> list[int] | None:
    """The display matrix of stream ``index``'s first picture, read on a second open of the file:
    FFmpeg gives it to decoded frames only (PyAV reads no stream side data), and the output
    decision needs it before decoding (:mod:`filmrt.pipeline.io.orient`: a container without a
    place for it gets the pictures turned). None for no matrix or a file that does not decode."""
    try:
        with av.open(path, metadata_errors="ignore") as c:
            vs = c.streams[index]
            for n, packet in enumerate(c.demux(vs)):
                for f in vs.decode(packet):
                    return display_matrix_of(f)
                if n >= packets:  # nothing decodes: damage, said by the decoder itself later
                    break
    except Exception:  # noqa: BLE001 - an input the real decoder will judge (and report)
        pass
    return None


def rotation_of(matrix: list[int] | None) -> float | None:
    """The anticlockwise rotation in degrees of a display ``matrix`` (libavutil's
    ``av_display_rotation_get``; what PyAV's ``VideoFrame.rotation`` says); None without one."""
    if not matrix:
        return None
    m = [v / 65536 for v in matrix[:6]]
    s0, s1 = math.hypot(m[0], m[3]), math.hypot(m[1], m[4])
    if not s0 or not s1:
        return None
    return -math.degrees(math.atan2(m[1] / s1, m[0] / s0))


def turn_of(matrix: list[int] | None) -> Turn | None:
    """The :class:`Turn` a display ``matrix`` (9 int32, FFmpeg's layout) asks for; None when it asks
    for nothing (no matrix, or the identity). The same decision as ffmpeg's autorotate
    (fftools: ``get_rotation`` then transpose / hflip / vflip)."""
    anticlockwise = rotation_of(matrix)
    if anticlockwise is None:
        return None
    theta = -round(anticlockwise)  # get_rotation: clockwise, folded into [0, 360)
    theta -= 360 * math.floor(theta / 360 + 0.9 / 360)
    if abs(theta - 90) < 1:
        chain = (("transpose", "cclock_flip" if matrix[3] > 0 else "clock"),)
    elif abs(theta - 180) < 1:
        chain = tuple((n, "") for n, i in (("hflip", 0), ("vflip", 4)) if matrix[i] < 0)
    elif abs(theta - 270) < 1:
        chain = (("transpose", "clock_flip" if matrix[3] < 0 else "cclock"),)
    elif abs(theta) < 1:
        chain = (("vflip", ""),) if matrix[4] < 0 else ()
        if not chain:
            return None  # the identity
    else:
        chain = ()  # not a quarter turn: ffmpeg's `rotate` would fill the corners; not done here
    return Turn(int(round(theta)) % 360, chain)


def upright_info(info, turn: Turn | None):
    """``info`` (a :class:`~filmrt.pipeline.io.source.VideoInfo`) as the turned pictures are: width
    and height swapped on a quarter turn, the SAR its reciprocal, no display matrix; ``info`` itself
    when nothing is turned."""
    if turn is None or not turn.applicable:
        return info
    width, height = turn.size(info.width, info.height)
    return dataclasses.replace(info, width=width, height=height, sar=turn.sar(info.sar), display_matrix=None,
                               rotation=0, turned=turn)


def turn_note(turn: Turn, container: str) -> str:
    """The one line that says it."""
    if not turn.applicable:
        return (f"the display matrix (a {turn.degrees}° clockwise turn, not a quarter turn) is lost: {container} has no "
                "place for it and the pictures are written as coded (.mp4, .mov, .mkv keep it)")
    return f"{turn.describe()} into the pictures: {container} has no place for the display matrix"


class FrameTurner:
    """Turns decoded PyAV frames with a :class:`Turn`'s chain (libavfilter, one frame in, one out),
    in the decoder's own pixel format where the filter takes it (``transpose`` takes no 4:2:2: a
    turned 4:2:2 picture would be 4:4:0, so libavfilter converts it, and the encoder gets it at
    its own format as any other picture). Timestamps and durations pass through."""

    def __init__(self, turn: Turn):
        self.turn = turn
        self._chain = None
        self._key: tuple | None = None

    def __call__(self, frame):
        key = (frame.width, frame.height, frame.format.name, frame.time_base)
        if self._chain is None or key != self._key:  # a new size (scaled to the first) or format
            tb = Fraction(frame.time_base) if frame.time_base else Fraction(1, 90000)
            self._chain = FilterChain(list(self.turn.chain), width=frame.width, height=frame.height, time_base=tb,
                                      rate=None, fmt=frame.format.name)
            self._key = key
        out = self._chain.push(frame)
        if len(out) != 1:
            raise RuntimeError(f"turning a picture gave {len(out)} pictures")  # a one-in, one-out chain
        return out[0]

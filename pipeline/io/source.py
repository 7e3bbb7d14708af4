"""What every decoder gives the pipeline, and what the pipeline asks of it.

- :class:`DecodeRequest`: what convert asks of a decoder (range, alpha, captions, field filter,
  the streams whose packets it wants), decided before the decoder is opened and handed to it;
- :class:`Source`: the base class of every decoder (:class:`~filmrt.pipeline.io.decode.PyAVSource`,
  :class:`~filmrt.pipeline.io.dali.DaliSource`), with a default for every fact a decoder may not
  have (no PyAV container, no field filter, nothing damaged yet), so the pipeline reads a source's
  attributes directly and never asks whether it has them;
- :class:`DecodedFrame` and :class:`VideoInfo`: a decoded picture with its exact time, and the
  video stream's facts.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from fractions import Fraction

import torch

from filmrt.errors import FilmrtError
from filmrt.pipeline.io.captions import CaptionPacer
from filmrt.pipeline.io.colour import ColourSpec
from filmrt.pipeline.io.hdr import SideInfo
from filmrt.pipeline.io.planes import Planes
from filmrt.pipeline.time.cadence.fieldops import CHAINS


@dataclass
class DecodedFrame:
    #: position in the decoded (presentation) order, 0-based, after --ss
    index: int
    #: presentation time in seconds (exact), as in the stream (not shifted)
    ts: Fraction
    #: (3, H, W) float32 RGB in [0, 1] on the inference device ((4, H, W) RGBA with ``keep_alpha``);
    #: None when ``DecodeRequest.planes`` asked for the Y'CbCr planes instead (see ``planes``)
    rgb: torch.Tensor | None
    #: (36, 64) float32 luma thumbnail on the CPU, for scene-cut detection
    thumb: torch.Tensor
    #: frame duration in seconds when the stream says, else None
    duration: Fraction | None = None
    #: the decoded picture in its own pixel format, bit depth and range (a :class:`filmrt.vmaf.Picture`:
    #: what FFmpeg's libvmaf would read of the file) when ``DecodeRequest.keep_picture`` asks, else None
    picture: object | None = None
    #: the picture's Y'CbCr planes (:class:`~filmrt.pipeline.io.planes.Planes`) when
    #: ``DecodeRequest.planes`` asks and the format is Y'CbCr (an RGB format still gives ``rgb``)
    planes: Planes | None = None


@dataclass
class VideoInfo:
    width: int
    height: int
    #: nominal rate (average, else guessed), exact; None when unknown
    rate: Fraction | None
    time_base: Fraction
    pix_fmt: str
    codec: str
    colour: ColourSpec
    #: 9 int32 of the display matrix (FFmpeg layout) or None
    display_matrix: list[int] | None = None
    rotation: int = 0
    #: expected number of frames in the selected range (estimate; None if unknown)
    frames: int | None = None
    #: start time of the whole input in seconds (the container's start), exact-ish
    start: Fraction = Fraction(0)
    #: stream metadata (language, title, handler) copied to the output
    metadata: dict = field(default_factory=dict)
    #: the codec's profile name ("HQ", "DNXHR HQX", "Main 10") and bit rate, when the stream says
    profile: str | None = None
    bit_rate: int | None = None
    #: HDR10 static metadata, dynamic metadata and captions seen in the decoded frames so far
    side: SideInfo = field(default_factory=SideInfo)
    #: sample (pixel) aspect ratio, e.g. 4/3 for 16:9 anamorphic 1440x1080; None when square or unknown
    sar: Fraction | None = None
    #: the :class:`~filmrt.pipeline.io.orient.Turn` the decoder applied to every picture (OUT has no
    #: place for the display matrix): width, height and ``sar`` are the turned picture's, no matrix
    turned: object | None = None


@dataclass(frozen=True)
class DecodeRequest:
    """What convert asks of a decoder, decided before it starts (handed to ``open_source``).

    ``ss``/``t``: the range (seconds from the input's start; None = from the start / to the end);
    ``keep_alpha``: frames carry alpha as a 4th channel (the output keeps it); ``captions``: the
    frames' A/53 captions are collected for the encoder (:attr:`Source.captions`); ``deinterlace``:
    the field filter run on the decoder's own frames, in the temporal report's vocabulary ("off",
    "bwdif", "yadif", "fieldmatch+decimate", "fieldmatch"; :mod:`filmrt.pipeline.time.cadence.fieldops`)
    with ``field_parity``; ``streams``: the input streams whose packets are wanted (None = every
    audio, subtitle and data stream); ``caption_stretch``: the slow-motion factor the captions
    follow (a caption at source time t is due at output time N x t, with its picture);
    ``keep_picture``: each frame also carries the decoded picture as the decoder gave it
    (:attr:`DecodedFrame.picture`, for VMAF: ``filmrt score --vmaf``); ``planes``: frames carry
    their Y'CbCr planes instead of RGB (:attr:`DecodedFrame.planes`: ``filmrt live`` and ``filmrt
    convert`` make RGB only for the frames a model reads; not with ``keep_alpha``); ``upright``:
    turn pictures that carry a display matrix upright (OUT, named so, cannot hold the matrix)."""

    ss: float | None = None
    t: float | None = None
    keep_alpha: bool = False
    captions: bool = False
    deinterlace: str = "off"
    field_parity: str = "tff"
    streams: frozenset[int] | None = None
    caption_stretch: Fraction = Fraction(1)
    keep_picture: bool = False
    planes: bool = False
    #: OUT's container name when it has no place for a display matrix: a picture that has one is
    #: turned upright by the decoder (:mod:`filmrt.pipeline.io.orient`); None: left as coded
    upright: str | None = None

    def __post_init__(self) -> None:
        # written so that NaN fails too (argparse's float takes "nan" and "inf"; Fraction refuses them)
        if self.ss is not None and not (0 <= self.ss < math.inf):
            raise FilmrtError(f"--ss {self.ss}: the start must be a finite number of seconds >= 0")
        if self.t is not None and not (0 < self.t < math.inf):
            raise FilmrtError(f"--t {self.t}: the duration must be a finite number of seconds > 0")
        if self.planes and self.keep_alpha:
            raise FilmrtError("a decode request for Y'CbCr planes cannot keep alpha (alpha travels with RGB)")
        if self.deinterlace != "off" and self.deinterlace not in CHAINS:
            raise FilmrtError(f"deinterlace {self.deinterlace!r}: use off, {', '.join(CHAINS)}")


class Source:
    """A decoder, as the pipeline reads it. Subclasses set the facts in ``__init__`` (after
    ``super().__init__(request)``) and implement :meth:`frames`; the defaults here are what a
    decoder that does not know a fact says."""

    #: the decoder's name ("pyav", "dali"), reported in ConvertResult.decoder
    name = "source"
    #: runs ``DecodeRequest.deinterlace`` on its own frames (else the frames come unfiltered)
    filters_fields = False

    def __init__(self, request: DecodeRequest | None = None):
        self.request = request or DecodeRequest()
        #: the input as messages name it (its path, or "stdin")
        self.src_name = ""
        #: the device the frames are on
        self.device: torch.device | None = None
        self.info: VideoInfo | None = None
        #: the PyAV input container (chapters, attachments, dispositions are copied from it),
        #: its video stream decoded, and every input stream; None / empty when there is none
        self.container = None
        self.stream = None
        self.streams: list = []
        #: PyAV input streams copied to the output (audio, subtitles, data); their packets go to
        #: ``frames(on_packet=...)`` in demux order
        self.copy_streams: list = []
        #: the input container's tags, copied to the output container
        self.container_metadata: dict = {}
        #: the selected time range in stream seconds: output times are shifted by ``range_start``;
        #: ``range_end`` is None without --t
        self.range_start = Fraction(0)
        self.range_end: Fraction | None = None
        #: decoded frames carry alpha as a 4th channel (RGBA)
        self.keep_alpha = self.request.keep_alpha
        #: each frame's A/53 captions, collected for the encoder (None: not asked for)
        self.captions: CaptionPacer | None = None
        #: what was wrong with the input (damaged packets, truncation), filled while decoding
        self.problems: list[str] = []
        #: decoded frames the decoder flagged corrupt; pictures decoded; timestamps moved after
        #: the previous one (kept, not damage)
        self.corrupt_frames = 0
        self.frames_decoded = 0
        self.timestamps_repaired = 0
        #: pictures dropped because their advancing timestamps overlap pictures already shown (a
        #: splice: the timeline, and A/V sync, kept; FrameClock rule 5)
        self.timestamps_overlapped = 0
        #: pictures of a part after a clock reset (labels back by more than 1 s), placed after the
        #: part before (kept, not damage; FrameClock rule 6), and how many resets
        self.timestamps_rebased = 0
        self.clock_resets = 0
        #: what was done to valid but unusual input (said once each; not damage), e.g. a picture
        #: size that changes mid-stream, scaled to the first size (``resized`` pictures)
        self.notes: list[str] = []
        self.resized = 0

    def frames(self, on_packet: Callable | None = None, stop=None) -> Iterator[DecodedFrame]:
        """Decoded frames in presentation order; stops early when the ``stop`` event is set."""
        raise NotImplementedError

    def close(self) -> None:
        """Release the input (the base class holds nothing)."""

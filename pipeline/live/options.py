"""The options of ``filmrt live`` (:class:`LiveOptions`), composed with the same
:class:`~filmrt.options.RuntimeOptions` and :class:`~filmrt.pipeline.options.EncodeOptions` as
``filmrt convert``; the CLI generates its flags from these fields (:mod:`filmrt.cli.groups`).

The latency is written in frames of the input (``4f``) or in time (``160ms``, ``0.16s``); frames
are resolved against the input rate once the stream is open (:func:`resolve_latency`).
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass, field
from fractions import Fraction

from filmrt.errors import FilmrtError
from filmrt.options import RuntimeOptions, opt
from filmrt.pipeline.live.deadline import TIERS
from filmrt.pipeline.options import EncodeOptions, protect_field
from filmrt.pipeline.time.protect import parse_protect
from filmrt.pipeline.time.scenes import DEFAULT_THRESHOLD
from filmrt.rates import parse_rate_spec

_LATENCY = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(f|ms|s)\s*$")
#: what live changes from convert's encoding defaults (a live encoder must not look ahead)
#: (the container follows OUT: MPEG-TS, HLS for .m3u8, Matroska for .mkv; see output.live_format)
LIVE_ENCODE = {"codec": "libx264", "preset": "veryfast"}


def parse_latency(text: str) -> tuple[float, str]:
    """``"4f"`` -> (4, "f"); ``"160ms"`` -> (0.16, "s"); ``"0.2s"`` -> (0.2, "s")."""
    m = _LATENCY.match(str(text))
    if not m:
        raise FilmrtError(f"--latency {text!r}: write frames (4f) or time (160ms, 0.2s)")
    value, unit = float(m.group(1)), m.group(2)
    if unit == "ms":
        value, unit = value / 1000, "s"
    if value <= 0:
        raise FilmrtError(f"--latency {text}: must be > 0")
    return value, unit


def resolve_latency(text: str, fps_in: Fraction | None) -> float:
    """The latency in seconds; frames count at the input rate (25 fps if it does not say)."""
    value, unit = parse_latency(text)
    return value / float(fps_in or 25) if unit == "f" else value


@dataclass(frozen=True)
class LiveOptions:
    """Everything ``filmrt live`` needs besides IN and OUT."""

    fps: str = field(default="x2", metadata=opt(
        "output rate: 50, 59.94, 60000/1001, x2 ...", metavar="RATE"))
    latency: str = field(default="4f", metadata=opt(
        "constant delay from input to output: frames of the input (4f) or time (160ms); more = better tiers",
        metavar="L"))
    realtime: bool = field(default=False, metadata=opt(
        "read IN at its own rate (like ffmpeg's -re): for files and pipes that are not live"))
    input_format: str | None = field(default=None, metadata=opt(
        "input container when it cannot be guessed (e.g. mpegts for a pipe)", metavar="FMT"))
    tiers: str = field(default="auto", metadata=opt(
        "tiers the scheduler may use, best first, comma-separated (full,half,quarter,blend; repeat is always "
        "there); auto: all of them (blend and repeat with --model blend)", metavar="LIST"))
    scene_threshold: float = field(default=DEFAULT_THRESHOLD, metadata=opt(
        "scene-cut sensitivity (cuts repeat the nearer frame; 1 = off)", metavar="X"))
    deinterlace: str = field(default="off", metadata=opt(
        "interlaced input: bwdif or yadif at field rate (no look-ahead detection live)",
        choices=("off", "bwdif", "yadif")))
    slate_after: float = field(default=2.0, metadata=opt(
        "input stalled this many seconds: black instead of the last picture (audio: silence)", metavar="S"))
    reconnect: str = field(default="auto", metadata=opt(
        "reopen IN when it ends or stops sending: auto (network URLs), on, off", choices=("auto", "on", "off")))
    read_timeout: float = field(default=5.0, metadata=opt(
        "seconds without a packet before the input is reopened (reconnect)", metavar="S"))
    open_timeout: float = field(default=10.0, metadata=opt(
        "seconds to wait for the input to open and send its first picture", metavar="S"))
    t: float | None = field(default=None, metadata=opt("stop after DURATION seconds of output", metavar="DURATION"))
    #: convert's --protect (one field definition); live analyses while it runs (docs/live.md)
    protect: str = protect_field()
    runtime: RuntimeOptions = field(default_factory=RuntimeOptions)
    encode: EncodeOptions = field(default_factory=lambda: EncodeOptions(**LIVE_ENCODE))

    def __post_init__(self) -> None:
        parse_rate_spec(self.fps)
        parse_latency(self.latency)
        self.tier_list()
        if not 0 <= float(self.scene_threshold) <= 1:
            raise FilmrtError(f"--scene-threshold {self.scene_threshold}: must be in [0, 1] (1 = off)")
        for name in ("slate_after", "read_timeout", "open_timeout"):
            if not float(getattr(self, name)) > 0:
                raise FilmrtError(f"--{name.replace('_', '-')} {getattr(self, name)}: must be > 0")
        if self.t is not None and not float(self.t) > 0:
            raise FilmrtError(f"--t {self.t}: must be > 0")
        parse_protect(self.protect)

    def tier_list(self, model: str | None = None) -> tuple[str, ...]:
        """The tiers, best first (``repeat`` always last)."""
        if self.tiers == "auto":
            names = ("blend",) if model == "blend" else TIERS[:-1]
        else:
            names = tuple(t.strip() for t in self.tiers.split(",") if t.strip())
        bad = [t for t in names if t not in TIERS]
        if bad:
            raise FilmrtError(f"--tiers {self.tiers}: unknown tier {bad[0]!r} (use {', '.join(TIERS)})")
        return tuple(t for t in TIERS if t in names and t != "repeat") + ("repeat",)

    def rate_out(self, fps_in: Fraction | None) -> Fraction:
        return parse_rate_spec(self.fps).resolve(fps_in)

    def replace(self, **changes) -> LiveOptions:
        return dataclasses.replace(self, **changes)

"""The pipeline's options: :class:`EncodeOptions` and :class:`ConvertOptions` (which composes the
core's :class:`~filmrt.options.RuntimeOptions` and :class:`EncodeOptions` with the time options).

Each default is written once, here; ``filmrt convert``/``batch`` generate their options from these
dataclasses (:mod:`filmrt.cli.groups`). Everything that can be checked without the input is
checked when the object is made, so a bad option fails before any decoding starts.
"""

from __future__ import annotations

import dataclasses
import math
import re
from dataclasses import dataclass, field
from fractions import Fraction

from filmrt.errors import FilmrtError
from filmrt.options import RuntimeOptions, opt
from filmrt.pipeline.io.encode import DEFAULT_CRF, DEFAULT_PRESET
from filmrt.pipeline.io.formats import CODECS, check_pix_fmt, parse_bitrate
from filmrt.pipeline.io.streams import parse_drop
from filmrt.pipeline.time.cadence.analysis import check_temporal_options
from filmrt.pipeline.time.protect import parse_protect
from filmrt.pipeline.time.scenes import DEFAULT_THRESHOLD
from filmrt.rates import RateSpec, parse_rate_spec

MODES = ("auto", "direct", "recursive")
DECODERS = ("auto", "pyav", "dali")


@dataclass(frozen=True)
class EncodeOptions:
    """How the output video is encoded and muxed."""

    codec: str = field(default="auto", metadata=opt(
        "video encoder; auto = the source's own family (ProRes, DNxHR, H.264, HEVC, FFV1, QuickTime RLE, "
        "PNG; else libx264) at its profile, chroma format and bit depth", choices=CODECS))
    crf: int = field(default=DEFAULT_CRF, metadata=opt("quality, lower = better (x264/x265: 0..51)"))
    pix_fmt: str | None = field(default=None, metadata=opt(
        "output pixel format (default: the source's, or the closest the encoder takes)", metavar="FMT"))
    bitrate: str | None = field(default=None, metadata=opt(
        "video bit rate, e.g. 50M or 185000k (instead of --crf; DNxHD needs one)", metavar="RATE"))
    profile: str | None = field(default=None, metadata=opt(
        "encoder profile (prores_ks: proxy, lt, standard, hq, 4444, 4444xq; dnxhd: dnxhr_lb ... dnxhr_444; "
        "x264/x265: high, main10 ...; default: the source's)", metavar="NAME"))
    strict: bool = field(default=False, metadata=opt(
        "refuse (exit 2) instead of dropping what the output cannot carry (HDR10+/Dolby Vision metadata, "
        "captions, alpha, HDR10 static metadata)"))
    preset: str = field(default=DEFAULT_PRESET, metadata=opt("encoder preset"))
    #: output container; needed when OUT is "-" (stdout)
    format: str | None = field(default=None, metadata=opt(
        "output container (mp4, matroska, mov, mpegts...; default: from OUT's extension)", metavar="FMT"))
    #: streams not to copy; a stream the container cannot hold is an error unless named here
    drop_stream: str | None = field(default=None, metadata=opt(
        "leave streams out: a (audio), s (subtitles), d (data) or an input stream index, comma-separated "
        "(like ffmpeg's -an/-sn/-dn); without it a stream OUT's container cannot hold is an error",
        metavar="SPEC"))

    def __post_init__(self) -> None:
        if self.codec not in CODECS:
            raise FilmrtError(f"--codec {self.codec}: use one of {', '.join(CODECS)}")
        if not 0 <= int(self.crf) <= 63:
            raise FilmrtError(f"--crf {self.crf}: must be 0..51 (x264/x265) or 0..63")
        check_pix_fmt(self.codec, self.pix_fmt)
        parse_bitrate(self.bitrate)
        parse_drop(self.drop_stream)


#: the longest --ss / --t (seconds; 30 days): far past any file, and still exact in every time base
MAX_SECONDS = 30 * 86400
#: frames buffered between stages, at most (each holds a decoded picture)
MAX_QUEUE = 256


_CLOCK = re.compile(r"(?:(\d+):)?(\d+):(\d+(?:\.\d*)?)")
_UNIT = {"s": 1, "ms": 1e-3, "us": 1e-6}


def parse_seconds(value) -> float:
    """Seconds from FFmpeg's duration syntax, as its -ss/-t take them: ``90``, ``1.5``, ``1500ms``,
    ``[HH:]MM:SS[.frac]`` (``00:01:30.5``); ValueError for anything else. The one parser of a time
    option (convert, batch, verify)."""
    text = str(value).strip()
    m = _CLOCK.fullmatch(text)
    if m:
        hh, mm, ss = int(m[1] or 0), int(m[2]), float(m[3])
        if mm > 59 or ss >= 60:
            raise ValueError(text)
        return hh * 3600 + mm * 60 + ss
    unit = next((u for u in ("ms", "us", "s") if text.endswith(u)), "")
    return float(text[: len(text) - len(unit)]) * _UNIT.get(unit, 1)


def time_value(text) -> float:
    """argparse's type of --ss/--t (every command that takes them): :func:`parse_seconds`; its
    error reads "invalid time value"."""
    return parse_seconds(text)


time_value.__name__ = "time"


def check_seconds(value, flag: str, *, positive: bool) -> float | None:
    """``value`` (a number, or a string :func:`parse_seconds` reads) as bounded seconds; None stays None."""
    if value is None:
        return None
    try:
        x = float(value) if isinstance(value, int | float) else parse_seconds(value)
    except (TypeError, ValueError):
        raise FilmrtError(f"{flag} {value!r} is not a time: give seconds (90, 1.5) or [HH:]MM:SS[.frac]") from None
    if not math.isfinite(x) or x < 0 or (positive and x == 0):
        raise FilmrtError(f"{flag} {value}: must be a finite number of seconds {'> 0' if positive else '>= 0'}")
    if x > MAX_SECONDS:
        raise FilmrtError(f"{flag} {value}: at most {MAX_SECONDS} s (30 days)")
    return x



def protect_field():
    """The ``--protect`` field, one definition for every command that takes it (convert, batch, live)."""
    return field(default="off", metadata=opt(
        "protect on-screen graphics: auto (still logos/clocks/burned-in text taken from the source frames, "
        "a scrolling ticker moved at its measured speed; found in the first 8 frames), off, or X,Y,W,H[,...] "
        "still boxes in pixels",
        metavar="SPEC"))


def check_protect_fits(value: str | None, width: int, height: int) -> None:
    """Refuse ``--protect`` boxes that miss the picture: a box wholly outside it would protect nothing
    and the run would succeed as if it had (a box running off an edge is clipped to the picture)."""
    spec = parse_protect(value)
    if isinstance(spec, str):
        return
    for x, y, w, h in spec:
        if x >= width or y >= height:
            raise FilmrtError(f"--protect {value}: the box {x},{y},{w},{h} lies outside the {width}x{height} "
                              "picture (X,Y is its top-left corner, in pixels)")


@dataclass(frozen=True)
class ConvertOptions:
    """Everything ``filmrt convert`` needs besides IN and OUT."""

    #: output rate (see filmrt.rates): "60", "59.94", "60000/1001", "x2", "2x"
    fps: str = field(default="x2", metadata=opt(
        "output rate: 50, 60, 59.94 (= 60000/1001), 60000/1001, x2, 2x, x4 ...", metavar="RATE"))
    #: "direct" (one model call per output time), "recursive" (dyadic midpoints), "auto" (the model's own)
    mode: str = field(default="auto", metadata=opt(
        "direct: one model call per output time; recursive: nearest dyadic midpoint (FILM's released way); "
        "auto: the model's recommended mode (RIFE direct, FILM recursive)", choices=MODES))
    scene_threshold: float = field(default=DEFAULT_THRESHOLD, metadata=opt(
        "scene-cut sensitivity (spike of mean luma difference on 64x36 thumbnails; 1 = off)", metavar="X"))
    ss: float | None = field(default=None, metadata=opt(
        "start at START into the input: seconds or [HH:]MM:SS[.frac] (ffmpeg's -ss)", metavar="START", type=time_value))
    t: float | None = field(default=None, metadata=opt(
        "convert only DURATION: seconds or [HH:]MM:SS[.frac] (ffmpeg's -t)", metavar="DURATION", type=time_value))
    #: the input's rate where the input has no timestamps of its own (raw H.264/HEVC/MPEG-2 streams)
    input_fps: str | None = field(default=None, metadata=opt(
        "the input's frame rate, for raw elementary streams (.h264, .hevc, .m2v ...) whose bitstream "
        "does not say (FFmpeg would assume 25): 25, 29.97, 30000/1001 ...", metavar="RATE"))
    #: recursive mode: times are rounded to multiples of 1 / 2**max_depth
    max_depth: int = field(default=4, metadata=opt("recursive mode: deepest level of midpoints", metavar="D"))
    decoder: str = field(default="auto", metadata=opt(
        "auto: DALI/NVDEC when installed and --device cuda, else PyAV", choices=DECODERS, output=False))
    # temporal structure (filmrt.pipeline.time.cadence.analysis; checked by check_temporal_options)
    down: str = field(default="auto", metadata=opt(
        "rates below the source: interp (motion-compensated, output frames interpolated at their own times), "
        "nearest (drop frames: judders); auto: interp for time-conditioned models (RIFE), nearest for FILM",
        choices=("auto", "interp", "nearest")))
    slowmo: str | None = field(default=None, metadata=opt(
        "slow motion: play the input N times slower (rational, 1..100: 2, 2.5, 10/3) at --fps", metavar="N"))
    audio: str = field(default="auto", metadata=opt(
        "audio streams: copy, drop, or stretch (with --slowmo: atempo, pitch kept); auto: copy, drop with --slowmo",
        choices=("auto", "copy", "drop", "stretch")))
    deinterlace: str = field(default="auto", metadata=opt(
        "interlaced input: auto (detected from flags and combing -> bwdif at field rate, 25i -> 50p), off, "
        "bwdif, yadif", choices=("auto", "off", "bwdif", "yadif")))
    field_order: str = field(default="auto", metadata=opt(
        "field order of interlaced input: auto (from the stream), tff, bff", choices=("auto", "tff", "bff")))
    interlace: str = field(default="off", metadata=opt(
        "interlaced output: weave the result into tff/bff fields at half the --fps frame rate",
        choices=("off", "tff", "bff")))
    ivtc: str = field(default="auto", metadata=opt(
        "telecined film (3:2 / 2:2 pulldown): auto (detected -> fieldmatch+decimate), off",
        choices=("auto", "off")))
    dedup: str = field(default="auto", metadata=opt(
        "repeated frames (animation on twos, duplicated transfers): auto (removed only when the first frames "
        "show a repeat cadence; a frame is a repeat only when nothing changed beyond coding noise; a run of "
        "repeats, up to the cadence's hold, is one picture held for its duration), off", choices=("auto", "off")))
    # verification (filmrt.pipeline.io.verify): how a result is checked, not what it is
    no_verify: bool = field(default=False, metadata=opt(
        "do not read the output back and check it against the plan (verification costs a demux and a "
        "decode of the output)", output=False))
    keep_failed: bool = field(default=False, metadata=opt(
        "when verification fails, keep the output as OUT.failed-verify.EXT for inspection (OUT itself is "
        "never written)", output=False))
    #: on-screen graphics kept out of the model's warp (filmrt.pipeline.time.protect)
    protect: str = protect_field()
    #: frames buffered between stages (each queue)
    queue_size: int = field(default=8, metadata=opt("frames buffered between stages", cli=False, output=False))
    runtime: RuntimeOptions = field(default_factory=RuntimeOptions)
    encode: EncodeOptions = field(default_factory=EncodeOptions)

    def __post_init__(self) -> None:
        parse_rate_spec(self.fps)  # fails now, before any decoding, when the rate is bad
        if self.input_fps is not None:
            try:
                spec = parse_rate_spec(self.input_fps)
            except FilmrtError as e:
                raise FilmrtError(str(e).replace("--fps", "--input-fps", 1)) from None
            if spec.is_factor:
                raise FilmrtError(f"--input-fps {self.input_fps}: give a rate (25, 29.97, 30000/1001), not a factor")
        if self.mode not in MODES:
            raise FilmrtError(f"--mode {self.mode}: use {', '.join(MODES)}")
        if self.decoder not in DECODERS:
            raise FilmrtError(f"--decoder {self.decoder}: use {', '.join(DECODERS)}")
        object.__setattr__(self, "ss", check_seconds(self.ss, "--ss", positive=False))
        object.__setattr__(self, "t", check_seconds(self.t, "--t", positive=True))
        if not 0 <= float(self.scene_threshold) <= 1:
            raise FilmrtError(f"--scene-threshold {self.scene_threshold}: must be in [0, 1] (1 = off)")
        if not 1 <= int(self.max_depth) <= 16:
            raise FilmrtError(f"--max-depth {self.max_depth}: must be 1..16")
        check_temporal_options(self)
        parse_protect(self.protect)
        if not 1 <= int(self.queue_size) <= MAX_QUEUE:
            raise FilmrtError(f"queue_size {self.queue_size}: must be 1..{MAX_QUEUE}")

    @property
    def rate(self) -> RateSpec:
        return parse_rate_spec(self.fps)

    @property
    def input_rate(self) -> Fraction | None:
        """``--input-fps`` as an exact rate (None when not given)."""
        return None if self.input_fps is None else parse_rate_spec(self.input_fps).rate

    def replace(self, **changes) -> ConvertOptions:
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

"""The conformance matrix as data: case specs generated from axes, and the inputs they name.

A :class:`Case` is one input file: container x video codec x audio codec x one extra stream kind x
one timing quirk. A :class:`Run` is one conversion of it: output container x option set. The
matrix is the list of runs; :func:`matrix` builds it from fixed coverage rules (every container
with every video codec it holds, every audio codec, every extra, every timing quirk, each once)
plus ``n_random`` seeded combinations of the axes, filtered for combinations that exist (ProRes is
not in WebM, MXF holds PCM audio only, ...).

Each run says whether CI runs it (``ci``) or only ``make conformance`` (the ``conformance_full``
marker). Inputs are written by the FFmpeg oracle (tests/support/ffmpeg_oracle.py), tiny (160x90,
256x144 for DNxHR, which takes nothing smaller; 2 s at 25 fps; raw elementary streams at 30 fps,
so a reader that takes the demuxer's default 25 fps as the rate is seen).
"""

from __future__ import annotations

import random
from dataclasses import dataclass, replace

CONTAINERS = ("mp4", "mov", "mkv", "webm", "ts", "m2ts", "mxf", "avi", "raw")
VIDEO = ("h264", "hevc", "prores", "dnxhr", "ffv1", "mpeg2", "mpeg4", "vp9")
AUDIO = ("aac", "ac3", "eac3", "mp2", "pcm16", "pcm24", "flac", "opus")
EXTRAS = ("srt", "ass", "mov_text", "chapters", "attachment", "cover", "timecode", "timecode_tag",
          "gop_timecode", "a53", "video2", "thumb_first")  # fmt: skip
TIMING = ("neg_start", "big_offset", "pts_wrap", "audio_early", "audio_late", "audio_long", "vfr",
          "size_change", "sar", "tff", "bff")  # fmt: skip
OUTPUTS = ("same", "ts", "mkv", "mp4")
OPTSETS = {
    "plain": ["--fps", "50"],
    "sst": ["--fps", "50", "--ss", "0.5", "--t", "1"],
    "slowmo": ["--slowmo", "2", "--fps", "25"],
    "bff": ["--fps", "50", "--interlace", "bff"],
    "tff": ["--fps", "50", "--interlace", "tff"],
}

# what each container holds (as FFmpeg 6.0 writes it)
HOLDS_VIDEO = {
    "mp4": ("h264", "hevc", "mpeg2", "mpeg4", "vp9"),
    "mov": ("h264", "hevc", "prores", "dnxhr", "mpeg2", "mpeg4"),
    "mkv": VIDEO,
    "webm": ("vp9",),
    "ts": ("h264", "hevc", "mpeg2", "mpeg4"),
    "m2ts": ("h264", "hevc", "mpeg2"),
    "mxf": ("mpeg2", "dnxhr"),
    "avi": ("mpeg4", "h264", "mpeg2", "ffv1"),
    "raw": ("h264", "hevc", "mpeg2", "mpeg4"),
}
HOLDS_AUDIO = {
    "mp4": ("aac", "ac3", "eac3", "mp2", "flac", "opus"),
    "mov": ("aac", "ac3", "mp2", "pcm16", "pcm24"),
    "mkv": AUDIO,
    "webm": ("opus",),
    "ts": ("aac", "ac3", "eac3", "mp2", "opus"),
    "m2ts": ("aac", "ac3", "eac3", "mp2", "pcm16", "pcm24"),
    "mxf": ("pcm16", "pcm24"),
    "avi": ("mp2", "ac3", "pcm16"),
    "raw": (),
}
DEFAULT_AUDIO = {"mp4": "aac", "mov": "pcm24", "mkv": "flac", "webm": "opus", "ts": "mp2", "m2ts": "ac3",
                 "mxf": "pcm24", "avi": "mp2", "raw": None}  # fmt: skip
# the container an extra stream kind / timing quirk is tried in first (then in the random part anywhere it fits)
EXTRA_HOME = {"srt": "mkv", "ass": "mkv", "mov_text": "mp4", "chapters": "mkv", "attachment": "mkv", "cover": "mp4",
              "timecode": "mov", "timecode_tag": "mkv", "gop_timecode": "ts", "a53": "ts", "video2": "mkv",
              "thumb_first": "mp4"}  # fmt: skip
EXTRA_FITS = {"srt": ("mkv",), "ass": ("mkv",), "mov_text": ("mp4", "mov"), "chapters": ("mkv", "mp4", "mov"),
              "attachment": ("mkv",), "cover": ("mp4", "mkv"), "timecode": ("mov", "mp4", "mxf"),
              "timecode_tag": ("mkv",), "gop_timecode": ("ts", "m2ts", "mkv"), "a53": ("ts",),
              "video2": ("mkv", "mp4", "mov", "ts"), "thumb_first": ("mp4", "mkv")}  # fmt: skip
TIMING_HOME = {"neg_start": "mkv", "big_offset": "mp4", "pts_wrap": "ts", "audio_early": "mkv", "audio_late": "mkv",
               "audio_long": "mp4", "vfr": "mkv", "size_change": "ts", "sar": "mp4", "tff": "ts", "bff": "mkv"}  # fmt: skip
TIMING_FITS = {"neg_start": ("mkv",), "big_offset": ("mp4", "mkv", "ts", "mov"), "pts_wrap": ("ts", "m2ts"),
               "audio_early": ("mkv", "mp4", "ts", "mov"), "audio_late": ("mkv", "mp4", "ts", "mov"),
               "audio_long": ("mp4", "mkv", "mov", "ts"), "vfr": ("mkv", "mp4"), "size_change": ("ts",),
               "sar": ("mp4", "mkv", "mov", "ts"), "tff": ("ts", "mkv", "mxf"), "bff": ("mkv", "ts", "mov")}  # fmt: skip

RAW_EXT = {"h264": "h264", "hevc": "hevc", "mpeg2": "m2v", "mpeg4": "m4v"}
SECONDS = 2.0


@dataclass(frozen=True)
class Case:
    """One input file."""

    container: str
    video: str = "h264"
    audio: str | None = None
    extra: str | None = None
    timing: str | None = None

    @property
    def name(self) -> str:
        parts = [self.container, self.video, self.audio or "noaudio"]
        parts += [p for p in (self.extra, self.timing) if p]
        return "-".join(parts)

    @property
    def ext(self) -> str:
        return RAW_EXT[self.video] if self.container == "raw" else self.container

    @property
    def fps(self) -> int:
        """The rate the pictures were made at (interlaced: frames, two fields each)."""
        return 30 if self.container == "raw" else 25

    def valid(self) -> bool:
        c = self.container
        if self.video not in HOLDS_VIDEO[c] or (self.audio and self.audio not in HOLDS_AUDIO[c]):
            return False
        if self.extra and c not in EXTRA_FITS[self.extra]:
            return False
        if self.timing and c not in TIMING_FITS[self.timing]:
            return False
        if self.extra in ("gop_timecode",) and self.video != "mpeg2":
            return False
        if self.extra == "a53" and (self.video != "h264" or self.timing):
            return False
        if self.timing in ("audio_early", "audio_late", "audio_long") and not self.audio:
            return False
        if self.timing in ("tff", "bff", "size_change", "sar") and self.video not in ("h264", "mpeg2"):
            return False
        return not (self.timing == "vfr" and self.video in ("mpeg2", "mpeg4") and c == "mp4")


@dataclass(frozen=True)
class Run:
    """One conversion of a case: output container x option set; ``ci``: run by the default test run."""

    case: Case
    output: str
    optset: str = "plain"
    ci: bool = False

    @property
    def out_ext(self) -> str:
        if self.output == "same":
            return self.case.ext
        return self.output

    @property
    def id(self) -> str:
        return f"{self.case.name}->{self.output}:{self.optset}"

    @property
    def args(self) -> list[str]:
        return list(OPTSETS[self.optset])


def _with_audio(c: Case) -> Case:
    return c if c.audio or c.container == "raw" else replace(c, audio=DEFAULT_AUDIO[c.container])


def _video_for(container: str) -> str:
    return "vp9" if container == "webm" else ("mpeg2" if container == "mxf" else "h264")


def base_cases() -> list[tuple[Case, bool]]:
    """The fixed coverage: (case, rich) where rich cases get every output and option set in CI."""
    out: list[tuple[Case, bool]] = []
    for c in CONTAINERS:
        for v in HOLDS_VIDEO[c]:
            out.append((_with_audio(Case(c, v)), False))
    seen = {(k.container, k.audio) for k, _ in out}
    for c in CONTAINERS:
        for a in HOLDS_AUDIO[c]:
            if (c, a) not in seen:
                out.append((Case(c, _video_for(c), a), False))
    return out + _rich_cases()


def ci_case(case: Case) -> bool:
    """Plain cases CI converts: every container x video pair, every audio codec in Matroska and PCM
    in M2TS/MOV (the rest of the container x audio pairs: make conformance)."""
    return case.audio == DEFAULT_AUDIO[case.container] or case.container == "mkv" or (
        case.container in ("m2ts", "mov") and (case.audio or "").startswith("pcm"))


def _rich_cases() -> list[tuple[Case, bool]]:
    out: list[tuple[Case, bool]] = []
    for e in EXTRAS:
        home = EXTRA_HOME[e]
        case = Case(home, "mpeg2" if e == "gop_timecode" else _video_for(home), extra=e)
        out.append((case if e == "a53" else _with_audio(case), True))  # the A/53 clip is written by PyAV, video only
    for t in TIMING:
        home = TIMING_HOME[t]
        v = "mpeg2" if t == "tff" else _video_for(home)
        out.append((_with_audio(Case(home, v, timing=t)), True))
    assert all(c.valid() for c, _ in out), [c.name for c, _ in out if not c.valid()]
    return out


def random_cases(seed: int, n: int) -> list[Case]:
    """``n`` seeded valid combinations of all axes (duplicates of the fixed cases skipped)."""
    rng = random.Random(seed)
    fixed = {c for c, _ in base_cases()}
    out: list[Case] = []
    tries = 0
    while len(out) < n and tries < 100 * n:
        tries += 1
        c = rng.choice(CONTAINERS)
        case = Case(c, rng.choice(VIDEO), rng.choice((None, *AUDIO)),
                    rng.choice((None, None, *EXTRAS)), rng.choice((None, None, *TIMING)))  # fmt: skip
        if case.valid() and case not in fixed and case not in out:
            out.append(case)
    return out


CI_SLOWMO = ("chapters", "a53", "timecode", "video2", "vfr", "tff", "bff", "pts_wrap")


def _cross(case: Case) -> str:
    """The one other output a rich case gets in CI: MPEG-TS for subtitles and PCM (what TS cannot
    carry as it is), else MP4 (MKV for MP4 sources)."""
    if case.extra in ("srt", "ass", "mov_text") or (case.audio or "").startswith("pcm"):
        return "ts"
    return "mkv" if case.container == "mp4" else "mp4"


def runs_for(case: Case, rich: bool, in_ci: bool) -> list[Run]:
    """Every run of one case. CI (``in_ci``) runs the plain same-container run of a case; of a rich
    case (an extra stream or a timing quirk) also --ss/--t, one other output, the interlacing runs
    and --slowmo where it has something of its own to show (CI_SLOWMO)."""
    runs = []
    for o in OUTPUTS:
        if o != "same" and o == case.container:
            continue
        runs.append(Run(case, o, "plain", in_ci and (o == "same" or (rich and o == _cross(case)))))
    opts = ["sst", "slowmo"] + (["bff"] if case.timing in ("tff", "bff") or case.name == "mkv-h264-flac" else [])
    if case.timing == "bff":
        opts.append("tff")
    for opt in opts:
        ci = in_ci and rich and (opt != "slowmo" or (case.extra or case.timing) in CI_SLOWMO)
        runs.append(Run(case, "same", opt, ci))
        if rich and case.container != "mkv":
            runs.append(Run(case, "mkv", opt, False))
    return runs


def matrix(seed: int = 0, n_random: int = 0) -> list[Run]:
    runs: list[Run] = []
    for case, rich in base_cases():
        runs += runs_for(case, rich, rich or ci_case(case))
    for case in random_cases(seed, n_random):
        runs += runs_for(case, True, False)
    return runs

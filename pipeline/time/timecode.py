"""SMPTE timecode: read the source's, re-express it at the output rate.

A timecode ``HH:MM:SS:FF`` (``;`` before the frames for drop-frame) labels a frame; at 29.97 and
59.94 fps the drop-frame count skips labels 00 and 01 (02/03 at 59.94) at the start of every minute
except each tenth, so the label keeps pace with the wall clock. Converting to another rate keeps
the *label time* of the first frame: ``HH:MM:SS`` stays, the frame field is scaled to the output rate (``FF x fps_out / fps_in``,
nominal rates 25, 30, 50, 60...), and at a drop-frame output rate a label that does not exist
(the first 2 or 4 of a minute) moves to the first one that does. A drop-frame label is (by
design) the wall-clock time, so this is the same instant to within a frame.
10:00:00:00 at 25 fps is 10:00:00:00 at 50 fps.

Where it is read: the video stream's ``timecode`` tag, else the container's, else that of a data
stream (FFmpeg's mov demuxer tags the ``tmcd`` track). Where it is written: the output video
stream's ``timecode`` tag (mp4/mov muxers then write a ``tmcd`` track; Matroska keeps the tag).
"""

from __future__ import annotations

import re
from fractions import Fraction

from filmrt.errors import FilmrtError

_TC = re.compile(r"^(\d{1,2})[:;.](\d{2})[:;.](\d{2})([:;.])(\d{2,3})$")


def _nominal(rate: Fraction) -> int:
    return round(Fraction(rate))


def is_drop_rate(rate: Fraction) -> bool:
    """29.97 and 59.94 (and their multiples with a 1001 denominator) count in drop-frame."""
    rate = Fraction(rate)
    return rate.denominator == 1001 and rate.numerator % 30000 == 0


def _drops(rate: Fraction) -> int:
    return _nominal(rate) // 15  # 2 labels per minute at 29.97, 4 at 59.94


def parse(tc: str) -> tuple[int, int, int, int, bool]:
    """``(hh, mm, ss, ff, drop)`` of a timecode label; ``;`` before the frames marks drop-frame."""
    m = _TC.match(str(tc).strip())
    if not m:
        raise FilmrtError(f"timecode {tc!r} is not HH:MM:SS:FF")
    return int(m[1]), int(m[2]), int(m[3]), int(m[5]), m[4] == ";"


def convert_timecode(tc: str, rate_in: Fraction, rate_out: Fraction) -> str:
    """``tc`` (a label at ``rate_in``) as the label of the same instant at ``rate_out``."""
    hh, mm, ss, ff, _ = parse(tc)
    fin, fout = _nominal(rate_in), _nominal(rate_out)
    ff = min(fout - 1, round(Fraction(ff * fout, fin)))
    drop = is_drop_rate(rate_out)
    if drop and ss == 0 and mm % 10 and ff < _drops(rate_out):
        ff = _drops(rate_out)  # this label is skipped in drop-frame counting
    return f"{hh:02d}:{mm:02d}:{ss:02d}{';' if drop else ':'}{ff:02d}"


def timecode_tag(tags: dict, data_streams=()) -> str | None:
    """The input's start timecode: ``tags`` (the video stream's over the container's), else a data
    stream's (the ``tmcd`` track)."""
    if tags.get("timecode"):
        return tags["timecode"]
    return next((s.metadata["timecode"] for s in data_streams if s.metadata.get("timecode")), None)

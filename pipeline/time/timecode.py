"""SMPTE timecode: read the source's, re-express it at the output rate.

A timecode ``HH:MM:SS:FF`` (``;`` before the frames for drop-frame) labels a frame; at 29.97 and
59.94 fps the drop-frame count skips labels 00 and 01 (02/03 at 59.94) at the start of every minute
except each tenth, so the label keeps pace with the wall clock. Converting to another rate keeps
the *label time* of the first frame (after ``--ss``: the label of the first frame kept,
:func:`advance`): ``HH:MM:SS`` stays, the frame field is scaled to the output rate (``FF x fps_out / fps_in``,
nominal rates 25, 30, 50, 60...), and at a drop-frame output rate a label that does not exist
(the first 2 or 4 of a minute) moves to the first one that does. A drop-frame label is (by
design) the wall-clock time, so this is the same instant to within a frame. Drop-frame counting is
written only when the source counts in drop-frame: a non-drop label (23.976 film) stays non-drop
at 59.94 (its HH:MM:SS is then the frame count, not the wall clock, in both).
10:00:00:00 at 25 fps is 10:00:00:00 at 50 fps.

Where it is read: the video stream's ``timecode`` tag, else the container's, else that of a data
stream (FFmpeg's mov demuxer tags the ``tmcd`` track); tag names in any case (Matroska files carry
``TIMECODE`` as often as ``timecode``). A file without such a tag may carry the label in the video
bitstream: the MPEG-1/2 GOP header (broadcast MPEG-2 in TS) or an H.264/HEVC picture-timing SEI,
which FFmpeg's decoders hand out as the frame's ``timecode`` metadata
(:func:`bitstream_timecode` decodes the first frames for it). The ``tmcd`` track itself is not
copied: the re-expressed label replaces it.

Where it is written (:func:`timecode_carrier`): the output video stream's ``timecode`` tag where the
container keeps one (:data:`TIMECODE_MUXERS`: mp4/mov write a ``tmcd`` track, Matroska the tag, MXF
its material package); MPEG-1/2 video also gets it in every GOP header (``gop_timecode``), in any
container. Anywhere else (H.264 in MPEG-TS, AVI, raw streams) there is no place for it: the label is
not written, and the report says so (a note naming the containers that keep it), never silently.
"""

from __future__ import annotations

import math
import re
from fractions import Fraction

import av

from filmrt.errors import FilmrtError

#: muxers that keep a timecode label (the video stream's ``timecode`` tag): a ``tmcd`` track, a
#: Matroska tag, the MXF material package's timecode component
TIMECODE_MUXERS = frozenset({"mov", "mp4", "ipod", "ismv", "3gp", "3g2", "matroska", "webm", "mxf", "mxf_d10",
                             "mxf_opatom", "gxf"})
#: encoders that write the label into the bitstream, in any container (the MPEG-1/2 GOP header)
GOP_ENCODERS = frozenset({"mpeg1video", "mpeg2video"})
#: decoders whose frames can carry a bitstream timecode (GOP header, picture-timing SEI)
BITSTREAM_DECODERS = frozenset({"mpeg1video", "mpeg2video", "h264", "hevc"})
#: frames decoded at most to find a bitstream timecode (a GOP or two)
BITSTREAM_FRAMES = 30

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


def to_frames(tc: str, rate: Fraction) -> int:
    """The frame number of label ``tc`` at ``rate`` (drop-frame when the label says so and the rate
    is 29.97/59.94)."""
    hh, mm, ss, ff, drop = parse(tc)
    n = _nominal(rate)
    frames = ((hh * 60 + mm) * 60 + ss) * n + ff
    if drop and is_drop_rate(rate):
        minutes = hh * 60 + mm
        frames -= _drops(rate) * (minutes - minutes // 10)
    return frames


def from_frames(frames: int, rate: Fraction, drop: bool) -> str:
    """The label of frame number ``frames`` at ``rate`` (drop-frame counting when ``drop`` and the
    rate is 29.97/59.94); wraps at 24 hours."""
    n = _nominal(rate)
    drop = drop and is_drop_rate(rate)
    if drop:
        d = _drops(rate)
        per10, per1 = n * 600 - 9 * d, n * 60 - d
        tens, rest = divmod(frames, per10)
        frames += 9 * d * tens + (d * ((rest - d) // per1) if rest > d else 0)
    frames %= n * 86400
    ss, ff = divmod(frames, n)
    mm, ss = divmod(ss, 60)
    hh, mm = divmod(mm, 60)
    return f"{hh:02d}:{mm:02d}:{ss:02d}{';' if drop else ':'}{ff:02d}"


def advance(tc: str, rate: Fraction, frames: int) -> str:
    """The label ``frames`` frames after ``tc`` at ``rate`` (in the label's own counting)."""
    return from_frames(to_frames(tc, rate) + frames, rate, parse(tc)[4])


def label_at(tc: str, rate: Fraction, seconds) -> str:
    """The label of the first frame at or after ``seconds`` (``--ss``; within 1 ms, as the decoder
    keeps frames) into a stream that starts at label ``tc``."""
    skipped = max(0, math.ceil((Fraction(seconds or 0) - Fraction(1, 1000)) * Fraction(rate)))
    return advance(tc, rate, skipped) if skipped else tc


def convert_timecode(tc: str, rate_in: Fraction, rate_out: Fraction) -> str:
    """``tc`` (a label at ``rate_in``) as the label of the same instant at ``rate_out``; drop-frame
    only when ``tc`` is drop-frame and ``rate_out`` counts that way."""
    hh, mm, ss, ff, drop_in = parse(tc)
    fin, fout = _nominal(rate_in), _nominal(rate_out)
    ff = min(fout - 1, round(Fraction(ff * fout, fin)))
    drop = drop_in and is_drop_rate(rate_out)
    if drop and ss == 0 and mm % 10 and ff < _drops(rate_out):
        ff = _drops(rate_out)  # this label is skipped in drop-frame counting
    return f"{hh:02d}:{mm:02d}:{ss:02d}{';' if drop else ':'}{ff:02d}"


def _tag(tags) -> str | None:
    """The ``timecode`` tag of ``tags`` in any case (the last such key wins)."""
    found = [v for k, v in dict(tags or {}).items() if str(k).lower() == "timecode" and v]
    return found[-1] if found else None


def timecode_tag(tags: dict, data_streams=()) -> str | None:
    """The input's start timecode: ``tags`` (the video stream's over the container's: later keys
    win), else a data stream's (the ``tmcd`` track). Tag names in any case."""
    if _tag(tags):
        return _tag(tags)
    return next((_tag(s.metadata) for s in data_streams if _tag(s.metadata)), None)


def is_timecode_track(stream) -> bool:
    """A data stream that only carries the start timecode (mov/mp4 ``tmcd``): replaced by the
    re-expressed label, never copied (mp4 and Matroska cannot hold it as a stream)."""
    return stream.type == "data" and _tag(stream.metadata) is not None


def timecode_carrier(fmt: str, encoder: str) -> str | None:
    """Where an output of muxer ``fmt`` and video ``encoder`` keeps the timecode: "container" (the
    stream's tag), "gop" (the MPEG-1/2 GOP header only), or None (nowhere: said, not written)."""
    if fmt in TIMECODE_MUXERS:
        return "container"
    return "gop" if encoder in GOP_ENCODERS else None


def frame_timecode(frame) -> str | None:
    """The timecode a decoder attached to ``frame`` (GOP header, picture-timing SEI), or None."""
    return _tag(getattr(frame, "metadata", None))


def bitstream_timecode(path: str, index: int, rate: Fraction, frames: int = BITSTREAM_FRAMES) -> str | None:
    """The label of the first frame of stream ``index`` of ``path``, from the timecode in its
    bitstream (the first frame that carries one, k frames in: its label less k), or None."""
    try:
        with av.open(str(path), metadata_errors="ignore") as c:
            stream = c.streams[index]
            cc = stream.codec_context
            if cc is None or cc.name not in BITSTREAM_DECODERS:
                return None
            for k, f in enumerate(c.decode(stream)):
                tc = frame_timecode(f)
                if tc:
                    parse(tc)  # a label we can count in, or FilmrtError
                    return advance(tc, rate, -k) if k else tc
                if k + 1 >= frames:
                    break
    except (av.error.FFmpegError, OSError, IndexError, FilmrtError):
        return None
    return None

"""The temporal stage of ``convert``: decoded frames -> the frames the scheduler should see.

:class:`TemporalStage` sits between the decoder and the scheduler (decode thread). In order:

1. deinterlace (bwdif/yadif at field rate: one frame in, two out, 1/(2 x rate) apart) or remove
   pulldown (fieldmatch+decimate: five frames in, four out), as :func:`~filmrt.pipeline.time.cadence.analysis.decide`
   said; libavfilter graphs from :mod:`filmrt.pipeline.time.cadence.fieldops`, run inside the decoder on its
   own Y'CbCr frames (asked in its ``DecodeRequest``: ``deinterlace``, ``field_parity``), where
   each field's 4:2:0 chroma is still its own;
2. dedup (only when :func:`~filmrt.pipeline.time.cadence.analysis.decide` found a repeat cadence):
   a frame that repeats the last kept one (no block moved beyond the coding noise:
   :mod:`filmrt.pipeline.time.cadence.repeats`) is dropped, and the kept frame's duration covers
   the run: the scheduler interpolates between the real changes of the picture. A run is merged up
   to the cadence's hold (``TemporalReport.repeat_hold``: 2 on twos); the frames of a longer run
   (a held picture) are kept, so the next move is not spread over the pause.

Frames keep their exact times; indices are renumbered (the scheduler's keys). Slow motion is not done here: the scheduler runs at ``fps x N``
in source time and the muxer writes at ``fps`` (:func:`slowed`), and :func:`retime_packet` moves
the copied subtitle packets to the slowed timeline.
"""

from __future__ import annotations

from collections.abc import Iterator
from fractions import Fraction

from filmrt.pipeline.io.source import DecodedFrame, VideoInfo
from filmrt.pipeline.time.cadence.analysis import TemporalReport
from filmrt.pipeline.time.cadence.repeats import is_repeat


class TemporalStage:
    """Applies the decisions of a :class:`TemporalReport` to a stream of DecodedFrames."""

    def __init__(self, report: TemporalReport, info: VideoInfo, device):
        self.report = report
        self.info = info
        self.device = device

    @property
    def active(self) -> bool:
        return self.report.dedup == "on"

    def check_decoder(self, source) -> None:
        """A decoder that cannot filter fields (DALI) decodes without: said in the report."""
        if self.report.deinterlace != "off" and not source.filters_fields:
            self.report.notes.append(f"{source.name} decoder cannot filter fields: not deinterlaced")
            self.report.deinterlace = "off"

    def run(self, frames: Iterator[DecodedFrame]) -> Iterator[DecodedFrame]:
        if self.report.dedup == "on":
            frames = self._dedup(frames)
        return self._renumber(frames)

    def _dedup(self, frames: Iterator[DecodedFrame]) -> Iterator[DecodedFrame]:
        kept: DecodedFrame | None = None
        seen: DecodedFrame | None = None  # the last frame looked at (kept or dropped)
        end: Fraction | None = None  # where the last frame looked at ends
        run = 0  # frames the kept picture stands for
        for f in frames:
            gap = f.ts - seen.ts if seen is not None else None
            end = f.ts + (f.duration or gap) if (f.duration or gap) else None
            seen = f
            if kept is not None and run < self.report.repeat_hold and is_repeat(kept.rgb, f.rgb):
                self.report.duplicates_dropped += 1
                run += 1
                continue
            run = 1
            if kept is not None:
                kept.duration = f.ts - kept.ts  # held until the picture changes
                yield kept
            kept = f
        if kept is not None:
            if end is not None:
                kept.duration = end - kept.ts
            yield kept

    def _renumber(self, frames: Iterator[DecodedFrame]) -> Iterator[DecodedFrame]:
        for i, f in enumerate(frames):
            f.index = i
            yield f


def slowed(fps_out: Fraction, factor: Fraction | None) -> Fraction:
    """The scheduler's rate in source time: ``fps_out x N`` when the input plays N times slower."""
    return Fraction(fps_out) * (factor or 1)


def retime_packet(packet, shift: Fraction, factor: Fraction) -> None:
    """Stretch a copied packet's times by ``factor`` about ``shift`` (seconds), in place."""
    tb = Fraction(packet.time_base)
    for name in ("pts", "dts"):
        v = getattr(packet, name)
        if v is not None:
            setattr(packet, name, round((Fraction(v) * tb - shift) * factor / tb + shift / tb))
    if packet.duration:
        packet.duration = round(packet.duration * factor)

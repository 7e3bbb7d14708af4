"""What the input's header holds besides its streams' packets, in a live run: copied where the
output keeps it, else said.

- **Dispositions** and **attachments**: copied as ``filmrt convert`` copies them
  (:func:`~filmrt.pipeline.io.extras.copy_extras`): a second language flagged "visual impaired"
  (audio description) or "hearing impaired" stays so (MPEG-TS carries the flag as the audio type
  of its language descriptor, and players choose tracks by it).
  HLS loses them (FFmpeg's segmenter passes only the tags to its segments): said.
- **Chapters** are not copied: the output clock starts at the live edge, not where the input's
  chapters count from. Said.
- **Interlacing**: live has no look-ahead to detect it, but a stream flagged interlaced says so in
  its header: converted as it is (``--deinterlace off``, the default), its two woven fields are
  blended as one picture. Said, with the option that converts it.
- **Timecode**: a live output writes none (its frames are labelled by the output clock). Said.
"""

from __future__ import annotations

import os

from av.stream import Disposition

from filmrt.pipeline.io.extras import copy_extras
from filmrt.pipeline.io.probe import field_order
from filmrt.pipeline.prepare import source_timecode
from filmrt.pipeline.time.timecode import timecode_tag

INTERLACED = ("tt", "bb", "tb", "bt")
#: the dispositions MPEG-TS carries: its ISO 639 descriptor's audio type
TS_FLAGS = ("clean_effects", "hearing_impaired", "visual_impaired")
#: the reason of a timecode track's fate in a live run
LIVE_TIMECODE = "timecode track: not copied, a live output writes no timecode"
#: the reason of a QuickTime chapter track's fate in a live run
LIVE_CHAPTERS = "QuickTime chapter track: not copied, a live output keeps no chapters"


def _ts_flags(disposition) -> list[str]:
    """The dispositions MPEG-TS carries (the audio type of its language descriptor) set in ``disposition``."""
    return [n.replace("_", " ") for n in TS_FLAGS if disposition & getattr(Disposition, n)]


def header_notes(first, muxer, target, deinterlace: str) -> list[str]:
    """Copy the header facts of ``first`` (the opened input, a PyAVInput) to ``muxer``'s output
    (before anything is written) and return the notes for what the output does not keep."""
    notes: list[str] = []

    def warn(msg: str) -> None:
        if "attachment(s)" not in msg:  # each left-out attachment is said with the dropped streams
            notes.append(msg)

    copy_extras(first, muxer, warn, covers=target.attach, chapters=False)
    try:
        chapters = len(first.container.chapters())
    except Exception:  # noqa: BLE001 - a demuxer without chapter support
        chapters = 0
    if chapters and not any(f.reason == LIVE_CHAPTERS for f in target.fates):  # else the chapter track says it
        notes.append(f"{chapters} chapter(s) left out: a live output keeps no chapters")
    if target.format == "hls":  # FFmpeg's segmenter gives its MPEG-TS segments the tags, not the dispositions
        by_index = {st.index: st for st in first.streams}
        flagged = [f"#{f.index} ({', '.join(names)})" for f in target.copied
                   if (names := _ts_flags(by_index[f.index].disposition))]
        if flagged:
            notes.append(f"the disposition of stream {', '.join(flagged)} is lost in HLS (FFmpeg's segmenter does "
                         "not pass it to the segments; an MPEG-TS output keeps it)")
    order = field_order(first.stream)
    if deinterlace == "off" and order in INTERLACED:
        notes.append(f"the input is flagged interlaced ({order}): its frames are converted as they are, two fields "
                     "woven together (combing and doubled edges on motion); --deinterlace bwdif converts it at "
                     "field rate")
    if first.path and os.path.isfile(first.path):  # a file can be read twice: its bitstream's timecode too
        tc = source_timecode(first)
    else:
        tags = {**first.container_metadata, **first.info.metadata}
        tc = timecode_tag(tags, [s for s in first.copy_streams if s.type == "data"])
    if tc and not any(f.reason == LIVE_TIMECODE for f in target.fates):  # else the dropped track says it
        notes.append(f"the input's timecode ({tc}) is not carried: a live output writes none")
    return notes

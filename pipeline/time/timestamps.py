"""Presentation times of decoded video frames, as FFmpeg presents them.

A decoder hands frames out in display order, but the timestamps they carry are only as good as
the container's. Three things go wrong on valid files, and this module repairs each the way
libavcodec and ffmpeg do, so the pipeline never drops or misplaces a decodable picture:

1. **Which timestamp.** A frame carries ``pts`` (the reordered presentation time of the packet it
   came from) and ``dts`` (the decode time of the packet that made the decoder output it).
   :class:`BestEffort` is libavcodec's ``best_effort_timestamp`` rule (``guess_correct_pts``):
   count how often each sequence fails to increase; use ``pts`` unless it has failed more often
   than ``dts``. A frame with neither follows the previous one by its duration.
2. **Display order.** AVI has no presentation times: with DivX/Xvid "packed B-frames" the packet
   labels come out of the decoder swapped (``pts`` 1,2,3,5,4,6,8,7 ...) although the *pictures*
   are in display order. :class:`FrameClock` keeps a small window of frames and gives the oldest
   frame the smallest time in the window: a local permutation of labels becomes the sorted
   sequence, and a sequence that was already increasing is left exactly as it was (so on every
   file FFmpeg times monotonically, the result *is* FFmpeg's). A backward label the window can
   still sort is therefore not counted against ``pts`` in rule 1: libavcodec would switch to
   ``dts`` there, one frame after the swapped label was already taken (the decoder reports
   (pts, dts) as (3,3) (5,4) (4,5) ...), and every later frame would be one frame late.
3. **Frames before the first timestamp.** Pictures cut from before zero (a stream copy that keeps
   the GOP in front of its start point) may come without any timestamp, in front of the first
   one that has one: they are held and placed *before* it, one frame duration apart, as the
   pictures in front of it are (counting them from the input's start instead would push every
   later picture late by their length: an A/V offset). Only when asked (``lead``: the input
   starts before its first timed picture), and at most :data:`LEAD_MAX` are held (decoded pictures).
4. **Leftovers.** A time that is still not after the previous one (a repeated label) is moved to
   the previous time plus one frame duration and counted in :attr:`FrameClock.repaired`. The
   frame is kept: repeated labels are a muxer's mistake, not damage to the pictures (when the
   next label leaves a free slot; else rule 5, as for the last picture, which has no next label).
5. **Overlaps.** Labels that go back and then *advance again* from there (two recordings spliced
   so that the second starts before the first ended, as in a spliced MPEG-TS) are not a muxer's
   mistake: the second part's times are right, and moving every later frame after the first
   part would put the whole second part late against its audio. So a frame that falls on a time
   already shown, with no free slot before the next label in the window, is dropped and counted
   in :attr:`FrameClock.overlapped`, as ffmpeg drops a frame whose time is taken: the timeline,
   and A/V sync, are kept, and each picture after the splice is the second part's own for its
   time. Only for an overlap of at most :data:`OVERLAP_MAX`: labels further back are a clock
   reset (rule 6), whose frames are all kept. A label further back than the window can sort, or one that
   repeats a recent frame's time (a swap's label never does), starts a new part: the window is
   emptied first, so the frames before keep their own times instead of being sorted among the
   new part's (pictures interleaved, going back and forth).

6. **Clock resets.** Labels that go back by more than :data:`OVERLAP_MAX` (a new recording whose
   clock starts again) are a new part: every later label is moved by one offset, so that its
   first picture follows the last one shown by a frame and its own timing (gaps, a later jump) is
   kept; the pictures moved are counted in :attr:`FrameClock.rebased`, each reset in :attr:`FrameClock.resets`.
   A copied stream's packets follow the same rule in the muxer, and verification reads the source
   with it (:func:`reset_offset`, for packets in demux order), so the new part is expected where
   convert puts it. A jump *forward* is a gap and is kept as one (as for variable frame rate).

7. **Stragglers in a gap.** Where a recording breaks off (a transmission gap in a TS: packets
   lost) the decoder still holds the last pictures before the gap and hands them out among the
   first ones after it (labels 10.28, 13.60, 10.32, 13.64, 10.36 ...: the *pictures* out of order,
   each with its own right label). A label that falls into a gap of more than a window of frames
   between the times in the window (after the last frame out) is such a straggler: the frames
   before the gap go out, then it, at its own time (picture and label together). Without this rule it counted as a
   clock reset (rule 6) and moved every later picture by the gap, twice: 6.6 s late against the sound.

Variable frame rate is not a problem here: a gap between two frames is kept as it is.
"""

from __future__ import annotations

import heapq
import math
from collections import deque
from collections.abc import Iterable, Iterator
from fractions import Fraction
from typing import Generic, TypeVar

T = TypeVar("T")

#: frames held back to put swapped labels in order (DivX packs one B-frame: a swap of neighbours;
#: 4 also covers the deeper B-pyramids of H.264/HEVC without adding noticeable latency)
WINDOW = 4
#: untimed frames held before the first timestamp (beyond that they are counted from the start)
LEAD_MAX = 120
#: the longest overlap (s) whose frames rule 5 drops; labels further back are a reset of the clock
#: (a new recording from zero): those frames are kept, placed after the ones shown
OVERLAP_MAX = Fraction(1)


class BestEffort:
    """libavcodec's ``guess_correct_pts``: the timestamp FFmpeg reports as best-effort.

    Feed each frame's ``(pts, dts)`` in decoder output order (ints in the stream's time base, or
    None); :meth:`pick` returns the one to trust (None when the frame has neither).
    """

    def __init__(self) -> None:
        self.faulty_pts = self.faulty_dts = 0
        self.last_pts: int | None = None
        self.last_dts: int | None = None

    def pick(self, pts: int | None, dts: int | None, settled=None) -> int | None:
        """``settled``: the latest time (ticks) a reordering window has already handed out, or
        None. A ``pts`` below the previous one but after ``settled`` is a swap the window puts
        right (packed B-frames), not a fault: counting it would switch to ``dts`` one frame after
        the swapped label was taken, and every later frame would be one frame late."""
        if dts is not None:
            if self.last_dts is not None and dts <= self.last_dts:
                self.faulty_dts += 1
            self.last_dts = dts
        elif pts is not None:
            self.last_dts = pts
        if pts is not None:
            sortable = settled is not None and self.last_pts is not None and settled < pts < self.last_pts
            if self.last_pts is not None and pts <= self.last_pts and not sortable:
                self.faulty_pts += 1
            self.last_pts = pts
        elif dts is not None:
            self.last_pts = dts
        if pts is not None and (self.faulty_pts <= self.faulty_dts or dts is None):
            return pts
        return dts


class FrameClock(Generic[T]):
    """Frames in decoder output order -> ``(item, time)`` in display order with increasing times.

    ``time_base``: the stream's (seconds per tick); ``step``: the nominal frame duration in
    seconds (1 / rate), used when a frame has no timestamp and no duration of its own; ``start``:
    the time of a first frame that has none (the input's start); ``lead``: untimed frames in front
    of the first timestamp are placed before it (rule 3).
    :meth:`push` a frame (any ``item``) with its ``pts``/``dts``/``duration`` in ticks; it yields
    the frames that leave the window; :meth:`flush` yields the rest at the end. Items come out in
    the order they went in: only the times are reassigned.
    """

    def __init__(self, time_base: Fraction, step: Fraction | None, window: int = WINDOW,
                 start: Fraction = Fraction(0), lead: bool = False) -> None:
        self.tb = Fraction(time_base)
        self.step = Fraction(step) if step else None
        self.start = Fraction(start)
        self.window = max(1, int(window))
        self.lead_max = LEAD_MAX if lead else 0
        self.best = BestEffort()
        self.items: deque[tuple[T, Fraction | None]] = deque()  # (item, its own duration in s)
        self.times: list[Fraction] = []  # min-heap of the window's times
        self.last_guess: Fraction | None = None  # the latest time given to a frame going in
        self.last_out: Fraction | None = None  # the latest time handed out
        self.last_duration: Fraction | None = None
        #: frames whose time had to be moved (still not after the previous frame)
        self.repaired = 0
        #: frames dropped: their advancing labels overlap pictures already shown (rule 5)
        self.overlapped = 0
        #: frames without any timestamp (placed after the previous frame, or before the first timed one)
        self.guessed = 0
        #: frames of a part after a clock reset, placed after the frames before (rule 6), and the resets
        self.rebased = 0
        self.resets = 0
        #: seconds added to every label since the last reset (rule 6)
        self.offset = Fraction(0)
        #: pictures from before a gap handed out among the first ones after it (rule 7)
        self.stragglers = 0
        #: untimed frames in front of the first timestamp, held until it comes: (item, duration)
        self.lead: list[tuple[T, Fraction | None]] = []
        #: the labels of the latest frames gone in (a label that repeats one of them starts a splice)
        self.recent: deque[Fraction] = deque(maxlen=2 * self.window + 1)

    def _duration(self, own: Fraction | None) -> Fraction:
        return own or self.last_duration or self.step or Fraction(1, 25)

    def push(self, item: T, pts: int | None, dts: int | None, duration: int | None = None) -> Iterator[tuple[T, Fraction]]:
        dur = Fraction(duration) * self.tb if duration else None
        settled = (self.last_out - self.offset) / self.tb if self.last_out is not None else -math.inf
        ticks = self.best.pick(pts, dts, settled)
        if ticks is None and self.last_guess is None and len(self.lead) < self.lead_max:
            self.lead.append((item, dur))  # placed when the first timestamp comes
            return
        if self.lead:
            yield from self._place_lead(Fraction(ticks) * self.tb if ticks is not None else None, dur)
        if ticks is not None:
            t = Fraction(ticks) * self.tb + self.offset
            if self._straggler(t, dur):  # rule 7: after the frames before the gap, at its own time
                while self.times and self.times[0] < t:
                    yield from self._pop()  # the oldest frames hold the smallest times: pairs kept
                self.stragglers += 1
                self.recent.append(t)
                self.last_out = t
                yield item, t
                return
            if self.last_guess is not None and t < self.last_guess and self._jump(t, dur):
                # a splice or a clock reset: the frames before it leave with their own times, not
                # sorted among the new part's, and the new part is sorted from its own start (else
                # every frame of an overlap would count as a new jump, and be moved, not dropped)
                while self.items:
                    yield from self._pop()
                self.last_guess = None
                if self.last_out is not None and t < self.last_out - OVERLAP_MAX:
                    # rule 6: a reset; the new part follows the last picture shown, its own timing kept
                    shift = self.last_out + self._duration(dur) - t
                    self.offset, t = self.offset + shift, t + shift
                    self.resets += 1
            self.rebased += self.offset != 0
        else:
            self.guessed += 1
            t = self.start if self.last_guess is None else self.last_guess + self._duration(self.last_duration)
        yield from self._add(item, dur, t)

    def _straggler(self, t: Fraction, dur: Fraction | None) -> bool:
        """Rule 7: ``t`` lies in a gap of more than a window of frames between the times in the
        window (or the last one out), after the last frame out."""
        if not self.times or (self.last_out is not None and t <= self.last_out):
            return False
        after = min((x for x in self.times if x > t), default=None)
        before = max((x for x in self.times if x < t), default=self.last_out)
        return after is not None and before is not None and after - before > self.window * self._duration(dur)

    def _jump(self, t: Fraction, dur: Fraction | None) -> bool:
        """A label below the latest one starts a new part (splice, clock reset) rather than being a
        swap the window sorts: it is further back than the window reaches, or it falls on a time a
        recent frame already has (within half a frame: a swap's label is new, a splice's repeats
        the part before's; a splice back by 1-4 frames would otherwise be interleaved with it)."""
        step = self._duration(dur)
        if t < self.last_guess - self.window * step:
            return True
        return any(abs(t - seen) < step / 2 for seen in self.recent)

    def _add(self, item: T, dur: Fraction | None, t: Fraction) -> Iterator[tuple[T, Fraction]]:
        self.last_guess = t if self.last_guess is None else max(t, self.last_guess)
        self.recent.append(t)
        if dur:
            self.last_duration = dur
        self.items.append((item, dur))
        heapq.heappush(self.times, t)
        while len(self.items) > self.window:
            yield from self._pop()

    def _place_lead(self, first: Fraction | None, dur: Fraction | None) -> Iterator[tuple[T, Fraction]]:
        """The held untimed frames, before ``first`` (the first timestamp), or from ``start`` when
        none came (None)."""
        lead, self.lead = self.lead, []
        self.guessed += len(lead)
        step = self._duration(dur or next((d for _, d in lead if d), None))
        t = self.start if first is None else first - step * len(lead)
        for k, (item, d) in enumerate(lead):
            yield from self._add(item, d, t + step * k)

    def flush(self) -> Iterator[tuple[T, Fraction]]:
        if self.lead:
            yield from self._place_lead(None, None)
        while self.items:
            yield from self._pop()

    def _pop(self) -> Iterator[tuple[T, Fraction]]:
        """The oldest frame of the window with the smallest time in it (none when it is dropped)."""
        item, dur = self.items.popleft()
        t = label = heapq.heappop(self.times)
        if self.last_out is not None and t <= self.last_out:
            t = self.last_out + self._duration(dur)
            # moving it would push the next label on as well (no free slot before it): the labels
            # overlap what was shown and go on from there (a splice; its first label may repeat the
            # last one shown, or go back to the start of the overlap)
            # the last picture has no next label to leave a slot: its repeated label is one of the
            # last shown (a packet written twice), and ffmpeg drops it too; kept, it made OUT a frame
            # longer than the source's stream (make fuzz: refused, exit 4)
            if t - label <= OVERLAP_MAX and (not self.times or self.times[0] < t + self._duration(dur)):
                self.overlapped += 1  # rule 5: the labels overlap what was shown, no slot is free
                return
            self.repaired += 1
        self.last_out = t
        yield item, t


def display_times(pts: list[int | None], dts: list[int | None] | None = None, *, time_base=Fraction(1),
                  step: Fraction | None = Fraction(1), window: int = WINDOW, lead: bool = False) -> list[Fraction]:
    """The presentation times :class:`FrameClock` gives a whole sequence (for tests and tools)."""
    dts = dts if dts is not None else [None] * len(pts)
    clock: FrameClock[int] = FrameClock(time_base, step, window, lead=lead)
    out: list[Fraction] = []
    for i, (p, d) in enumerate(zip(pts, dts, strict=True)):
        out.extend(t for _, t in clock.push(i, p, d))
    out.extend(t for _, t in clock.flush())
    return out



def reset_offset(dts, last, offset, step, limit=OVERLAP_MAX):
    """Rule 6 for one stream's packets in demux order: the offset to add to this packet's times and
    every later one's. ``dts``: this packet's decode time (its pts when it has none), ``last``: the
    previous packet's, as placed (offset added; None for the first), ``offset``: the one in force,
    ``step``: this packet's duration, ``limit``: :data:`OVERLAP_MAX` in the same unit (ticks or s).
    A time further back than ``limit`` below ``last`` is a clock reset: the new part follows the
    last packet (``last + step``); anything else keeps the offset in force (an overlap of at most
    ``limit`` is the splice rule's: those packets are dropped, not moved). The muxer (copied
    streams) and verification (the source read back) both place a reset this way."""
    if dts is None or last is None or dts + offset >= last - limit:
        return offset
    return last + step - dts


class ResetClock:
    """Rule 6 (:func:`reset_offset`) for the packets of several streams in demux order: how far each
    packet's times move. The decoder moves the copied streams' packets with it (:meth:`move`, ticks),
    verification the source's packets it reads back (:meth:`offset`, seconds)."""

    def __init__(self) -> None:
        self._state: dict = {}  # per stream: (offset in force, the latest dts placed)
        #: resets per stream index; ``went_back``: how far the last :meth:`offset` call's packet went
        #: back below the one before (None: it did not start a reset)
        self.resets: dict[int, int] = {}
        self.went_back = None

    def offset(self, index: int, dts, step, limit=OVERLAP_MAX):
        """The offset (in the unit of ``dts``, ``step`` and ``limit``) to add to this packet's times."""
        offset, last = self._state.get(index, (0, None))
        new = reset_offset(dts, last, offset, step, limit)
        self.went_back = last - dts - offset if new != offset else None
        if new != offset:
            self.resets[index] = self.resets.get(index, 0) + 1
        if dts is not None:
            self._state[index] = (new, dts + new if last is None else max(last, dts + new))
        return new

    def move(self, packet) -> str | None:
        """Move a (PyAV) packet's times, in ticks, by its stream's offset; the note to say when it
        starts a reset, else None."""
        tb = Fraction(packet.time_base)
        dts = packet.dts if packet.dts is not None else packet.pts
        if offset := self.offset(packet.stream.index, dts, max(packet.duration or 1, 1), OVERLAP_MAX / tb):
            packet.dts = packet.dts + offset if packet.dts is not None else None
            packet.pts = packet.pts + offset if packet.pts is not None else None
        if self.went_back is None:
            return None
        return (f"stream #{packet.stream.index} {packet.stream.type}: its timestamps go back "
                f"{float(self.went_back * tb):.3g} s (a clock reset): the new part follows the part before, "
                "as the pictures do")


def clock_repairs(src) -> dict:
    """What the decoder's :class:`FrameClock` did to a source's timestamps, per kind (``src``: a
    decoder with its counters), and ``notes``: the same in words, one per kind that happened (what
    ``convert`` prints and writes to its JSON report, and ``score`` says of each file). Overlapping
    pictures dropped are a loss: ``convert`` says them as a warning, so no note here."""
    repeated, overlapped = src.timestamps_repaired, src.timestamps_overlapped
    rebased, resets = src.timestamps_rebased, src.clock_resets
    notes = []
    if repeated:
        notes.append(f"{repeated} picture(s) had a repeated timestamp and were placed one frame after the "
                     "previous one (kept)")
    if rebased:
        times = "once" if resets == 1 else f"{resets} times"
        notes.append(f"the timestamps go back by more than {float(OVERLAP_MAX):g} s {times} (a clock "
                     f"reset: recordings joined?): the {rebased} picture(s) from there on moved to follow the "
                     "part before (kept; the copied streams moved alike)")
    return {"repeated": repeated, "overlapped": overlapped, "rebased": rebased, "resets": resets, "notes": notes}


def lead_floor(file_start: Fraction, video_start: Fraction | None, start: Fraction) -> Fraction | None:
    """How early pictures without timestamps in front of the first timed one may be placed (rule 3
    of :class:`FrameClock`): down to the file's start when it is before the video's first timestamp
    and the input's ``start`` (audio from before zero, a stream copy from before its start point);
    None when there is no room for them."""
    if video_start is None or file_start >= min(video_start, start):
        return None
    return file_start


class RangeGate(Generic[T]):
    """Which packets of the copied streams (audio, subtitles, data, other pictures) a ``--ss``/``--t``
    range ``[lo, hi)`` keeps: THE rule of the decoder (what it copies) and of verification (what it
    expects of them). Feed each packet in demux order with :meth:`push`; it returns the packets
    released, each as ``(item, start, end)`` in seconds.

    - A packet that straddles ``lo`` is kept, so the output has the sound and the subtitle of the
      start point (dropping it left up to one audio packet, 0.1 s of FLAC, missing at the start):
      a coded audio packet cannot be cut and keeps its start (a few ms before the first picture,
      as ffmpeg's stream copy does); a subtitle is cut to start at ``lo``. A packet that can be cut
      at any sample (``cut``: PCM) is cut to ``[lo, hi)`` at both ends: containers that start
      every stream together (MXF) would otherwise move the sound before the start point onto the
      first picture.
    - Another picture stream (a second angle) starts at its last keyframe at or before ``lo``,
      as ffmpeg's stream copy does: packets after ``lo`` without their keyframe cannot be decoded.
      Its group of pictures is held until a packet at or after ``lo`` comes; with no keyframe
      before ``lo`` it starts at its first keyframe.
    - A packet starting at or after ``hi`` is not kept."""

    def __init__(self, lo: Fraction | None, hi: Fraction | None) -> None:
        self.lo, self.hi = lo, hi
        self.held: dict[int, list[tuple[T, Fraction, Fraction]]] = {}
        self.started: set[int] = set()

    def push(self, item: T, index: int, kind: str, key: bool, start: Fraction,
             duration: Fraction, cut: bool = False) -> list[tuple[T, Fraction, Fraction]]:
        end = start + max(duration, Fraction(0))
        if self.hi is not None and start >= self.hi:
            return []
        if cut and self.hi is not None:
            end = min(end, self.hi)
        lo = self.lo
        if lo is None or start >= lo or index in self.started:
            if kind != "video" or lo is None or index in self.started:
                return [(item, start, end)]
            held = self.held.pop(index, [])  # the first picture at or after lo: its GOP from the keyframe
            if not held and not key:
                return []  # no keyframe yet: nothing decodable
            self.started.add(index)
            return [*held, (item, start, end)]
        if kind == "video":
            if key:
                self.held[index] = [(item, start, end)]
            elif index in self.held:
                self.held[index].append((item, start, end))
            return []
        if end <= lo:
            return []
        return [(item, lo if kind == "subtitle" or cut else start, end)]


class HiddenLead:
    """Packets an MP4/MOV edit list hides (FFmpeg flags them discard) in front of a stream's first
    shown one: THE rule of the decoder (what it copies) and of verification (what it expects).

    ``ffmpeg -ss 1 -i in.mp4 -c copy cut.mp4`` keeps every packet from the keyframe before 1 s and
    writes an edit list that hides the first second. Pictures are the decoder's business (it needs
    them as references and shows none of them): video packets pass untouched. Of the other streams,
    a run of at most ``priming`` hidden packets before the first shown one is the encoder's priming
    (AAC's 1024 samples): a remux into a container without edit lists (MKV, TS) carries it and plays
    it, as FFmpeg's does, so it is kept. A longer run is the cut's hidden sound: played from MKV or
    TS it would sound before the first picture, so it is left out (``dropped`` counts it per
    stream). A hidden packet after the first shown one (an edit list's end) is left out too.
    """

    def __init__(self, priming: int = 2) -> None:
        self.priming = priming
        self.held: dict[int, list] = {}
        self.shown: set[int] = set()
        self.dropped: dict[int, int] = {}

    def filter(self, packets: Iterable) -> Iterator:
        """The packets to use, in demux order."""
        for pkt in packets:
            i = pkt.stream.index
            if pkt.stream.type == "video" or (i in self.shown and not pkt.is_discard):
                yield pkt
            elif pkt.is_discard:
                if i in self.shown:
                    self.dropped[i] = self.dropped.get(i, 0) + 1
                else:
                    self.held.setdefault(i, []).append(pkt)
            else:
                self.shown.add(i)
                run = self.held.pop(i, [])
                if len(run) <= self.priming:
                    yield from run
                else:
                    self.dropped[i] = self.dropped.get(i, 0) + len(run)
                yield pkt

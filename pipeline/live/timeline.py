"""Input frames on the output clock.

A live input has its own timestamps (PTS) and its own clock; the output has ticks at ``n / rate``
seconds after the first input frame arrived. The :class:`Timeline` maps each input frame to an
output time with one *anchor*: ``out = pts - anchor_pts + anchor_out``. The anchor is set by the
first frame and set again (a *re-sync*) whenever a frame's mapped time is further than
``resync`` seconds ahead of when it actually arrived on the output clock, or ``late`` seconds
behind it (then it would miss its tick). That one rule covers:

- a PTS jump or a discontinuity (a new programme, a TS continuity error the demuxer papered over);
- the end of a stall (the sender paused; frames resume with a PTS that says nothing about the gap);
- a reconnect (a new session, new timestamps);
- drift between the sender's clock and ours (after enough of it, one clean re-sync).

After a re-sync the first frame is marked as a cut: nothing is interpolated across the gap.

After a gap, a frame *far* behind its mapped time (by more than ``resync``) is ambiguous: the
sender paused and resumes where it stopped (its PTS continue: re-sync onto it), or the frames are
the tail the sender's muxer and our demuxer still held when the input broke off, and the live
source went on without us (the next frames continue on the old anchor: those tail frames are
stale, and showing them would rewind the picture after the slate). Such frames are *held* for up
to ``hold`` seconds: a frame that fits the old anchor in that time drops them (no re-sync at all:
the output goes from the stall straight to the live picture); otherwise the timeline re-syncs on
the newest frame, at its arrival (the older held ones are dropped: the output follows the live edge).

The timeline also keeps the small window of frames the next ticks can use (bounded: frames that
arrive too early for the window are dropped and counted) and answers, per tick, which two frames
surround the tick's time and where between them it lies (:meth:`Timeline.pair`). Pure: arrival
times are given by the caller, so tests run in simulated time.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass
from fractions import Fraction

#: times closer than this (s) are the same time: a frame on a tick is that tick's frame (a copy)
#: whatever the float rounding of its placement
EPS = 1e-6


@dataclass
class Placed:
    """An input frame placed on the output clock."""

    out: float
    #: the picture (a :class:`~filmrt.pipeline.live.tiers.Pic`; the timeline only carries it)
    pic: object
    #: a scene cut or a discontinuity lies before this frame
    cut: bool
    key: int


@dataclass
class Pair:
    """What a tick needs: frames ``a`` (at or before the tick) and ``b`` (after it, or None when
    it has not arrived), and the tick's place ``t`` in [0, 1) between them."""

    a: Placed | None
    b: Placed | None
    t: float

    @property
    def cut(self) -> bool:
        return self.b is not None and self.b.cut


class Timeline:
    """See the module docstring. ``window``: most frames kept; ``resync``: seconds."""

    def __init__(self, *, window: int = 64, resync: float = 0.5, late: float | None = None, grid: float = 0.0,
                 hold: float = 0.0):
        self.window: deque[Placed] = deque()
        self.max_window = max(2, int(window))
        #: a frame mapped further ahead of its arrival than ``resync``, or behind it by more than
        #: ``late`` (it would come too late for its tick), re-syncs the timeline
        self.resync = float(resync)
        self.late = float(resync if late is None else late)
        #: the output's tick (s): a re-synced frame is placed on the next tick, so a stream at a
        #: divisor of the output rate keeps its frames on ticks (copied, not interpolated)
        self.grid = float(grid)
        self.anchor: tuple[Fraction, float] | None = None
        #: frames far behind their mapped time, held for up to ``hold`` s (see the module docstring)
        self.hold = float(hold)
        self.held: list[float] = []  # arrival times of the held frames (the frames are not kept)
        self.stale = 0  # held frames dropped because the input went on from the old anchor
        self.resyncs = 0
        self.dropped = 0
        self.keys = 0
        #: output time of the newest tick asked for (frames older than it are of no more use)
        self.head = float("-inf")

    def place(self, pts: Fraction, arrived: float, pic, cut: bool = False, new_session: bool = False) -> Placed | None:
        """Add a frame with timestamp ``pts`` (s) that arrived at output time ``arrived`` (seconds
        since the output's start); ``cut``: nothing is interpolated across to it (a scene cut).
        A full window lets its oldest frame go (counted in ``dropped``). None: the frame is held,
        then dropped (see the module docstring); the first frame of a ``new_session`` (a
        reconnected input: new timestamps) is never held. A scene cut is: the stale tail of a
        stalled sender can hold one (a flash, a cut), and re-syncing on it would show it late."""
        out = None if self.anchor is None else float(pts - self.anchor[0]) + self.anchor[1]
        if out is not None and self.hold and not new_session and arrived - out > self.resync:
            if not self.held or arrived - self.held[0] <= self.hold:
                self.held.append(arrived)  # wait for the frames after it: stale tail or resumed sender?
                return None
            self.dropped += len(self.held)  # the sender resumed where it paused: the live edge is this one
            self.held.clear()
        elif self.held and out is not None and -self.late <= arrived - out and out - arrived <= self.resync:
            self.dropped += len(self.held)  # the input went on without us: the held frames were stale
            self.stale += len(self.held)
            self.held.clear()
        elif self.held:  # neither: a jump or a late frame re-syncs as any would; the held ones go
            self.dropped += len(self.held)
            self.held.clear()
        if (out is None or out - arrived > self.resync or arrived - out > self.late
                or (self.window and out <= self.window[-1].out)):
            if self.anchor is not None:
                self.resyncs += 1
                cut = True
            out = max(arrived, self.head + 1e-6, self.window[-1].out + 1e-6 if self.window else arrived)
            if self.grid:
                out = math.ceil(out / self.grid - 1e-6) * self.grid
            self.anchor = (Fraction(pts), out)
        if len(self.window) >= self.max_window:  # far ahead of the ticks (a burst): bounded memory
            self.window.popleft()
            self.dropped += 1
        p = Placed(out, pic, cut, self.keys)
        self.keys += 1
        self.window.append(p)
        return p

    def pair(self, at: float) -> Pair:
        """The frames around output time ``at`` (the tick's time); older frames are let go."""
        self.head = max(self.head, at)
        while len(self.window) >= 2 and self.window[1].out <= at + EPS:
            self.window.popleft()
        if not self.window:
            return Pair(None, None, 0.0)
        a = self.window[0]
        if a.out > at + EPS:  # only frames after the tick (just re-synced): nothing at or before it
            return Pair(None, a, 0.0)
        b = self.window[1] if len(self.window) >= 2 else None
        t = 0.0 if b is None or at - a.out < EPS else (at - a.out) / (b.out - a.out)
        return Pair(a, b, t)

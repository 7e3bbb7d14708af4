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

    def __init__(self, *, window: int = 64, resync: float = 0.5, late: float | None = None, grid: float = 0.0):
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
        self.resyncs = 0
        self.dropped = 0
        self.keys = 0
        #: output time of the newest tick asked for (frames older than it are of no more use)
        self.head = float("-inf")

    def place(self, pts: Fraction, arrived: float, pic, cut: bool = False) -> Placed:
        """Add a frame with timestamp ``pts`` (s) that arrived at output time ``arrived`` (seconds
        since the output's start). A full window lets its oldest frame go (counted in ``dropped``)."""
        out = None if self.anchor is None else float(pts - self.anchor[0]) + self.anchor[1]
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

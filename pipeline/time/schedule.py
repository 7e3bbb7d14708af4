"""Rate conversion as a pure function of timestamps: which output frame comes from which inputs.

Output frame ``k`` is shown at time ``origin + k / fps_out`` (seconds, an exact
:class:`fractions.Fraction`), where ``origin`` is the timestamp of the first input frame. Each output
frame becomes a :class:`Job` ``(a, b, t)``: source frames ``a`` and ``b`` (indices in decode
order) and the position ``t`` in [0, 1) between them. The rules, in order, for an output time
``tau`` with ``ts[a] <= tau < ts[b]``:

1. ``tau`` within ``snap`` of a source timestamp (one tick of the stream's time base by default):
   **copy** that source frame (``t == 0``; ``b == a``). 50 -> 25 and 25 -> 50 hit exact source times,
   so half or all of their frames are copies, bit for bit what was decoded.
2. a **scene cut** between ``a`` and ``b``: repeat the nearer source frame (ties: ``a``) instead of
   morphing one shot into the other.
3. the source is locally denser than the output (``ts[b] - ts[a] < 1 / fps_out``: down-conversion,
   e.g. 50 -> 25, 60 -> 50, 25 -> 24) and ``down == "nearest"``: take the **nearest** source frame,
   i.e. frames are **dropped**. Every output frame is a real picture, but the motion judders: 59.94
   -> 50 skips a source frame every sixth output frame. With ``down == "interp"`` (what ``convert``
   uses for time-conditioned models) the rule is skipped and such frames are **interpolated**
   (motion-compensated down-conversion, rule 4): the output samples the motion at its own regular
   times, so a constant motion moves by the same amount every output frame.
4. otherwise **interpolate**: ``t = (tau - ts[a]) / (ts[b] - ts[a])`` (exact). In ``recursive`` mode
   (FILM's released way of making several frames) ``t`` is rounded to the nearest dyadic fraction
   ``m / 2**max_depth``, ties up (:func:`filmrt.pipeline.infer.nearest_dyadic`, the one rounding
   rule), and produced by repeated midpoints (:mod:`filmrt.pipeline.infer`); if it rounds to 0 or
   1 the frame is a copy.
   ``direct`` mode (RIFE always; FILM optionally) asks the model for ``t`` itself.

Because the rules read the real timestamps, variable-frame-rate input works unchanged: a gap in
the source simply produces more interpolated frames in it.

End of stream: a clip is ``ts[last] - ts[0] + d_last`` long, where ``d_last`` is the last frame's
duration (the stream's, else the last gap between frames). The output has every ``k`` with
``k / fps_out < duration`` (minus ``snap``), i.e. ``ceil(duration * fps_out)`` frames: the output
lasts as long as the input (audio stays in sync to the end). N frames at 25 fps give 2N at 50 fps,
ceil(2.5 N) at 60 fps from 24, N/2 (rounded up) at 25 from 50. Output times past the last source
timestamp **hold** the last frame (there is nothing after it to interpolate towards).

The :class:`Scheduler` is incremental (``push`` one source frame at a time, ``finish`` at the end)
so a 2-hour file or a live stream is scheduled in constant memory; :func:`schedule` is the
whole-list convenience used by tests.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from fractions import Fraction

from filmrt.errors import FilmrtError
from filmrt.pipeline.infer import nearest_dyadic

#: kinds of jobs
COPY = "copy"  # t == 0: the source frame a, unchanged
INTERP = "interp"  # model call between a and b at t
CUT = "cut"  # a scene cut lies between a and b: the nearer of the two is repeated
NEAREST = "nearest"  # down-conversion: nearest source frame (frames dropped)
#: down-conversion policies (rule 3 of the module docstring)
DOWN_POLICIES = ("interp", "nearest")
HOLD = "hold"  # after the last source timestamp: the last frame is held


@dataclass(frozen=True)
class Job:
    """One output frame: where it comes from."""

    #: output frame number (0, 1, 2, ...)
    index: int
    #: presentation time in seconds, relative to the first input frame (= index / fps_out)
    time: Fraction
    #: source frame indices; ``b == a`` unless kind == INTERP
    a: int
    b: int
    #: position between a and b, exact; 0 unless kind == INTERP
    t: Fraction
    kind: str


class Scheduler:
    """Incremental scheduler: ``push`` source frames in presentation order, collect jobs.

    ``push(ts, cut_before=False)`` takes the timestamp (seconds, exact) of the next source frame
    and whether a scene cut lies between it and the previous frame; it returns the jobs that are
    now decided. ``finish(duration_of_last)`` returns the remaining ones.
    """

    def __init__(
        self,
        fps_out: Fraction,
        *,
        mode: str = "direct",
        max_depth: int = 4,
        snap: Fraction = Fraction(1, 100000),
        down: str = "nearest",
    ):
        fps_out = Fraction(fps_out)
        if down not in DOWN_POLICIES:
            raise FilmrtError(f"unknown down-conversion {down!r}: use {' or '.join(DOWN_POLICIES)}")
        self.down = down
        if fps_out <= 0:
            raise FilmrtError(f"output rate must be positive, got {fps_out}")
        if mode not in ("direct", "recursive"):
            raise FilmrtError(f"unknown mode {mode!r}: use direct or recursive")
        if not 1 <= max_depth <= 16:
            raise FilmrtError(f"recursion depth must be 1..16, got {max_depth}")
        self.fps_out = fps_out
        self.period = 1 / fps_out
        self.mode = mode
        self.max_depth = max_depth
        self.snap = Fraction(snap)
        self.origin: Fraction | None = None
        self.k = 0  # next output frame number
        self.n = 0  # source frames pushed
        self.prev_ts: Fraction | None = None
        self.prev_index = 0
        self.last_gap: Fraction | None = None
        self.dropped_timestamps = 0  # non-increasing timestamps ignored

    # ------------------------------------------------------------------ helpers
    def _tau(self, k: int) -> Fraction:
        return self.origin + k * self.period

    def _decide(self, k: int, a: int, ta: Fraction, b: int, tb: Fraction, cut: bool) -> Job:
        tau = self._tau(k)
        rel = tau - self.origin
        if tau - ta <= self.snap:
            return Job(k, rel, a, a, Fraction(0), COPY)
        if tb - tau <= self.snap:
            return Job(k, rel, b, b, Fraction(0), COPY)
        t = (tau - ta) / (tb - ta)
        if cut:
            near = a if t <= Fraction(1, 2) else b
            return Job(k, rel, near, near, Fraction(0), CUT)
        if tb - ta < self.period and self.down == "nearest":
            near = a if t <= Fraction(1, 2) else b
            return Job(k, rel, near, near, Fraction(0), NEAREST)
        if self.mode == "recursive":
            t = nearest_dyadic(t, self.max_depth)  # THE rounding rule (shared with `interpolate`)
            if t == 0:
                return Job(k, rel, a, a, Fraction(0), COPY)
            if t == 1:
                return Job(k, rel, b, b, Fraction(0), COPY)
        return Job(k, rel, a, b, t, INTERP)

    # ------------------------------------------------------------------ API
    def push(self, ts: Fraction, cut_before: bool = False, index: int | None = None) -> list[Job]:
        """Add the next source frame (timestamp ``ts`` in seconds; ``index``, its number in the
        caller's numbering, default: how many frames were accepted before). Returns the jobs now
        decided."""
        ts = Fraction(ts)
        jobs: list[Job] = []
        b = self.n if index is None else int(index)
        if self.origin is None:
            self.origin = ts
            self.prev_ts = ts
            self.prev_index = b
            self.n = 1
            return jobs
        if ts <= self.prev_ts:
            # a repeated or backwards timestamp (broken stream): the frame cannot be placed in time
            self.dropped_timestamps += 1
            return jobs
        a, ta = self.prev_index, self.prev_ts
        while self._tau(self.k) < ts:
            jobs.append(self._decide(self.k, a, ta, b, ts, cut_before))
            self.k += 1
        # output times at (or within snap after) ts are copies of b, decided now
        while abs(self._tau(self.k) - ts) <= self.snap:
            jobs.append(Job(self.k, self._tau(self.k) - self.origin, b, b, Fraction(0), COPY))
            self.k += 1
        self.last_gap = ts - self.prev_ts
        self.prev_ts = ts
        self.prev_index = b
        self.n += 1
        return jobs

    def end_time(self, last_duration: Fraction | None = None) -> Fraction | None:
        if self.origin is None:
            return None
        d = last_duration if last_duration and last_duration > 0 else self.last_gap
        if d is None:
            d = self.period  # a single frame of unknown duration: one output frame
        return self.prev_ts + Fraction(d)

    def finish(self, last_duration: Fraction | None = None, end: Fraction | None = None) -> list[Job]:
        """Jobs after the last source frame: ``hold`` it until the clip's end.

        The end is ``end`` if given (e.g. a ``--t`` cut), else last timestamp + ``last_duration``
        (else the last gap between frames).
        """
        if self.origin is None:
            return []
        stop = self.end_time(last_duration)
        if end is not None:
            stop = min(stop, Fraction(end))
        jobs = []
        last = self.prev_index
        while self._tau(self.k) < stop - self.snap:
            tau = self._tau(self.k)
            kind = COPY if abs(tau - self.prev_ts) <= self.snap else HOLD
            jobs.append(Job(self.k, tau - self.origin, last, last, Fraction(0), kind))
            self.k += 1
        return jobs


def schedule(
    timestamps: Sequence[Fraction],
    fps_out: Fraction,
    *,
    cuts: Iterable[int] = (),
    last_duration: Fraction | None = None,
    mode: str = "direct",
    max_depth: int = 4,
    snap: Fraction = Fraction(1, 100000),
    down: str = "nearest",
) -> list[Job]:
    """All jobs for a whole list of source timestamps (seconds). ``cuts``: indices ``i`` such that
    a scene cut lies between source frames ``i - 1`` and ``i``."""
    cut_set = set(cuts)
    s = Scheduler(fps_out, mode=mode, max_depth=max_depth, snap=snap, down=down)
    jobs: list[Job] = []
    for i, ts in enumerate(timestamps):
        jobs += s.push(Fraction(ts), cut_before=i in cut_set)
    jobs += s.finish(last_duration)
    return jobs


def output_frame_count(n_frames: int, fps_in: Fraction, fps_out: Fraction) -> int:
    """Frames a constant-rate clip of ``n_frames`` at ``fps_in`` gives at ``fps_out``."""
    return math.ceil(Fraction(n_frames) / Fraction(fps_in) * Fraction(fps_out))


def output_origin(first_ts: Fraction, range_start: Fraction, fps_out: Fraction,
                  stretch: Fraction | int = 1) -> tuple[Fraction, int]:
    """Where the output's clock starts, in source seconds, and the first picture's frame number on it.

    The pictures sit on the output grid ``k / fps_out``, and the first one is the first source frame
    (``first_ts``, the scheduler's origin). When the range starts off that grid (``--ss`` between two
    frames, or audio that starts before the video), the first picture goes on the nearest grid point:
    frame ``round((first_ts - range_start) x stretch x fps_out)``. Every other stream (audio,
    subtitles, chapters, captions) is then placed from the returned origin, which is ``range_start``
    moved by that rounding (at most half an output frame): so a sound keeps its exact distance from
    its picture, instead of being off by up to half a frame. ``stretch``: the slow-motion factor
    (output seconds per source second)."""
    stretch = Fraction(stretch)
    frames = round((first_ts - range_start) * stretch * fps_out)
    return first_ts - Fraction(frames) / fps_out / stretch, frames

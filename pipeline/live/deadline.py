"""The deadline scheduler: which tier makes output frame ``n`` in time.

Output frame ``n`` is due at ``deadline(n) = start + n / rate + latency`` (seconds on the clock
the caller injects: ``time.monotonic`` live, a plain number in tests). For each frame to create
the scheduler picks the best *tier*, best first:

    full     the model at full resolution
    half     the model at half resolution (RIFE's flow scale 0.5 in spirit: a coarser motion field)
    quarter  the model at quarter resolution
    blend    a cross-fade of the two frames (cheap, ghosts on motion)
    repeat   the nearer source frame (free; also what scene cuts and stalls get)

A tier is *feasible* when its estimated cost fits in the time left before the deadline. Costs are
measured on every run of a tier and kept like TCP keeps a round-trip time (RFC 6298): a smoothed
mean and a smoothed mean deviation, and the estimate is ``mean + k * deviation`` plus a fixed guard,
so a jittery tier is trusted less than a steady one of the same mean.

Hysteresis keeps tiers from flickering: a worse tier is taken at once (the deadline rules), a
better one only after it has been feasible, with a stricter margin (``up_factor``), for
``up_after`` ticks in a row, and one step at a time. A tier not run for a while has its
estimate slowly relaxed (``relax``), so a tier abandoned under a transient load is tried again
(the runner guards every model call: an overrun gets the fallback frame, never a late one).

The scheduler never skips a tick: :meth:`choose` always returns a tier, ``repeat`` at worst.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from fractions import Fraction

FULL, HALF, QUARTER, BLEND, REPEAT = "full", "half", "quarter", "blend", "repeat"
#: all tiers, best first
TIERS = (FULL, HALF, QUARTER, BLEND, REPEAT)
#: tiers that run the model (on the model worker; the others run on the clock thread)
MODEL_TIERS = (FULL, HALF, QUARTER)
#: not a tier: an output frame at a source frame's own time (nothing to create), counted beside them
SOURCE = "source"
#: resolution factor of each model tier
TIER_SCALE = {FULL: 1.0, HALF: 0.5, QUARTER: 0.25}


@dataclass
class TierCost:
    """Smoothed cost of one tier (seconds), RFC 6298 style."""

    mean: float | None = None
    dev: float = 0.0
    runs: int = 0

    def add(self, seconds: float, alpha: float = 0.125, beta: float = 0.25) -> None:
        if self.mean is None:
            self.mean, self.dev = seconds, seconds / 2
        else:
            self.dev = (1 - beta) * self.dev + beta * abs(seconds - self.mean)
            self.mean = (1 - alpha) * self.mean + alpha * seconds
        self.runs += 1

    def estimate(self, k: float, guard: float) -> float:
        """Seconds to allow for one run (infinite when never measured)."""
        if self.mean is None:
            return float("inf")
        return self.mean + k * self.dev + guard


@dataclass
class Decision:
    """What :meth:`DeadlineScheduler.choose` decided for one tick."""

    n: int
    tier: str
    deadline: float
    #: "deadline" (picked by cost), "cut", "no-pair" (the next frame has not arrived), "copy" (t == 0),
    #: "busy" (the model worker is still on an abandoned run: the best cheap tier stands in)
    why: str


@dataclass
class DeadlineScheduler:
    """See the module docstring. ``start`` is the clock time of output time 0 (set by the runner
    when the first input frame arrives); ``rate`` the output rate; ``latency`` seconds."""

    rate: Fraction
    latency: float
    start: float = 0.0
    tiers: tuple[str, ...] = TIERS
    #: deviations added to the mean cost, and a fixed guard (seconds) for the hand-over
    k: float = 4.0
    guard: float = 0.002
    #: ticks a better tier must stay feasible before it is taken, and the stricter factor it must meet
    up_after: int = 12
    up_factor: float = 1.25
    #: per tick, the estimate of a tier not run is relaxed by this factor (re-tries it eventually)
    relax: float = 0.995
    costs: dict[str, TierCost] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if REPEAT not in self.tiers:
            self.tiers = (*self.tiers, REPEAT)
        self.costs = {t: self.costs.get(t, TierCost()) for t in self.tiers}
        self.costs[REPEAT].add(0.0)
        self.current = len(self.tiers) - 1  # start cautious: the first measurements move it up
        self.streak = 0

    def deadline(self, n: int) -> float:
        return self.start + float(n / Fraction(self.rate)) + self.latency

    def estimate(self, tier: str) -> float:
        return self.costs[tier].estimate(self.k, self.guard)

    def record(self, tier: str, seconds: float) -> None:
        """A measured run of ``tier`` (also an overrun: its full cost once known)."""
        self.costs[tier].add(max(0.0, seconds))

    def settle(self, budget: float) -> str:
        """Start on the best tier whose estimate fits ``budget`` seconds (after a calibration)."""
        self.current = next(i for i, t in enumerate(self.tiers) if self.estimate(t) <= budget or t == REPEAT)
        self.streak = 0
        return self.tiers[self.current]

    def choose(self, n: int, now: float, *, cut: bool = False, pair: bool = True, copy: bool = False,
               busy: bool = False) -> Decision:
        """The tier for output frame ``n`` at clock time ``now``. ``cut``: a scene cut lies between
        the two frames (the nearer is repeated, as in convert); ``pair``: the later frame is here;
        ``copy``: the output time is a source frame's own (nothing to create); ``busy``: the model
        worker is still on an earlier (abandoned) frame, so model tiers cannot start."""
        dl = self.deadline(n)
        self._relax()
        if copy:
            return Decision(n, REPEAT, dl, "copy")
        if cut:
            return Decision(n, REPEAT, dl, "cut")
        if not pair:
            return Decision(n, REPEAT, dl, "no-pair")
        left = dl - now
        if busy:  # a stand-in while the worker is taken: the held tier and the streak are left alone
            tier = next(t for t in self.tiers if t not in MODEL_TIERS and self.estimate(t) <= left or t == REPEAT)
            return Decision(n, tier, dl, "busy")
        best = next(i for i, t in enumerate(self.tiers) if self.estimate(t) <= left or t == REPEAT)
        if best > self.current:  # worse: at once
            self.current, self.streak = best, 0
        elif best < self.current:  # better: only after a steady run, one step at a time
            up = self.tiers[self.current - 1]
            if self.estimate(up) * self.up_factor <= left:
                self.streak += 1
                if self.streak >= self.up_after:
                    self.current, self.streak = self.current - 1, 0
            else:
                self.streak = 0
        else:
            self.streak = 0
        tier = self.tiers[self.current]
        if self.estimate(tier) > left:  # the held tier no longer fits this tick
            tier = self.tiers[best]
        return Decision(n, tier, dl, "deadline")

    def _relax(self) -> None:
        for t, c in self.costs.items():
            if t != REPEAT and c.mean is not None and self.tiers.index(t) < self.current:
                c.mean *= self.relax
                c.dev *= self.relax

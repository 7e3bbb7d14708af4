"""What a live run tells: a status line once per second, a JSON line per second (``--stats``) and
the final summary (the ``--json`` report).

Memory stays flat over any length of run: latencies go into a fixed histogram (0.5 ms bins up to
10 s, the rest in the last bin), never a growing list, and the per-second figures are counters
that are reset each second.
"""

from __future__ import annotations

import json
import time
from collections import Counter
from dataclasses import dataclass, field

from filmrt.pipeline.live.deadline import SOURCE, TIERS

#: the order tiers are reported in
ORDER = (SOURCE, *TIERS)

#: histogram bin width (s) and number of bins
BIN = 0.0005
BINS = 20000


class Histogram:
    """Fixed-size latency histogram with percentiles (to within one bin)."""

    def __init__(self):
        self.counts = [0] * BINS
        self.n = 0
        self.max = 0.0

    def add(self, seconds: float) -> None:
        self.counts[min(BINS - 1, max(0, int(seconds / BIN)))] += 1
        self.n += 1
        self.max = max(self.max, seconds)

    def percentile(self, p: float) -> float | None:
        if not self.n:
            return None
        want, seen = p / 100 * self.n, 0
        for i, c in enumerate(self.counts):
            seen += c
            if seen >= want:
                return (i + 1) * BIN
        return self.max


@dataclass
class LiveStats:
    """Counters of a live run, updated by the clock thread (and the input thread's ``arrived``)."""

    latency_budget: float
    #: output frames by tier, and by why (deadline, cut, copy, no-pair, stall, slate)
    tiers: Counter = field(default_factory=Counter)
    why: Counter = field(default_factory=Counter)
    frames_out: int = 0
    frames_in: int = 0
    late: int = 0
    #: model runs that overran their deadline (the fallback frame was sent instead, on time)
    overruns: int = 0
    stalls: int = 0
    slate_frames: int = 0
    #: input time -> hand-over to the encoder (the constant delay, as kept), and the time each frame
    #: was ready before its deadline
    latency: Histogram = field(default_factory=Histogram)
    slack: Histogram = field(default_factory=Histogram)
    handed_late: int = 0
    #: per-second window
    _second: Counter = field(default_factory=Counter)
    _in_second: int = 0
    _t0: float = field(default_factory=time.monotonic)
    _lines: int = 0

    def decided(self, tier: str, why: str, slack: float, late: bool) -> None:
        """A frame made by the clock thread, ``slack`` seconds before its deadline (late: < 0)."""
        self.frames_out += 1
        self.tiers[tier] += 1
        self.why[why] += 1
        self._second[tier] += 1
        self.slack.add(max(0.0, slack))
        self.late += late

    def handed(self, latency: float, late: bool) -> None:
        """A frame handed to the encoder (encoder thread), ``latency`` after its input time."""
        self.latency.add(latency)
        self.handed_late += late

    def restart(self, now: float) -> None:
        """The clock starts: the first per-second window begins now."""
        self._t0 = now
        self._second.clear()
        self._in_second = 0

    def arrived(self) -> None:
        self.frames_in += 1
        self._in_second += 1

    def tick_second(self, now: float, extra: dict) -> dict:
        """The figures of the second just ended (one JSON line; the status line is made from it)."""
        span = max(1e-9, now - self._t0)
        total = sum(self._second.values()) or 1
        rec = {
            "t": round(now - extra.pop("start", now), 3), "input_fps": round(self._in_second / span, 2),
            "output_fps": round(sum(self._second.values()) / span, 2),
            "tiers": {t: round(self._second[t] / total, 3) for t in ORDER if self._second[t]},
            "latency_p50_ms": _ms(self.latency.percentile(50)), "latency_p99_ms": _ms(self.latency.percentile(99)),
            "late": self.late, "handed_late": self.handed_late, "overruns": self.overruns,
            "frames_out": self.frames_out, **extra,
        }
        self._second.clear()
        self._in_second = 0
        self._t0 = now
        self._lines += 1
        return rec

    def summary(self) -> dict:
        n = self.frames_out or 1
        return {
            "frames_out": self.frames_out, "frames_in": self.frames_in, "late": self.late,
            "overruns": self.overruns, "stalls": self.stalls, "slate_frames": self.slate_frames,
            "tiers": dict(self.tiers), "tier_shares": {t: round(self.tiers[t] / n, 4) for t in ORDER if self.tiers[t]},
            "why": dict(self.why), "latency_budget_ms": round(self.latency_budget * 1000, 1),
            "latency_p50_ms": _ms(self.latency.percentile(50)), "latency_p99_ms": _ms(self.latency.percentile(99)),
            "latency_max_ms": _ms(self.latency.max), "handed_late": self.handed_late,
            "slack_p1_ms": _ms(self.slack.percentile(1)), "slack_p50_ms": _ms(self.slack.percentile(50)),
        }


def status_line(rec: dict) -> str:
    """One line for the terminal from a per-second record."""
    shares = " ".join(f"{t} {v:.0%}" for t, v in rec["tiers"].items()) or "-"
    return (f"live {rec['t']:7.1f}s in {rec['input_fps']:5.1f} fps out {rec['output_fps']:5.1f} fps | {shares} | "
            f"latency p50 {rec['latency_p50_ms']} p99 {rec['latency_p99_ms']} ms | late {rec['late']} | "
            f"dropped {rec.get('dropped_input', 0)} | {rec.get('state', '')}")


def json_line(rec: dict) -> str:
    return json.dumps(rec, separators=(",", ":")) + "\n"


def _ms(seconds: float | None) -> float | None:
    return None if seconds is None else round(seconds * 1000, 1)

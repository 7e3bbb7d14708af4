"""The deadline scheduler in simulated time: a fake clock and fake tier costs, no threads."""

from __future__ import annotations

from fractions import Fraction

import pytest

from filmrt.pipeline.live.deadline import (
    BLEND,
    FULL,
    HALF,
    QUARTER,
    REPEAT,
    TIERS,
    DeadlineScheduler,
    TierCost,
)


class Sim:
    """Runs ticks on a simulated clock: each tick is decided when its pair is there (``ready``
    seconds after the tick's time), the chosen tier costs ``cost[tier]`` and is recorded."""

    def __init__(self, sched: DeadlineScheduler, cost: dict[str, float], ready: float = 0.04):
        self.s, self.cost, self.ready = sched, dict(cost), ready
        self.late = 0
        self.chosen: list[str] = []

    def run(self, ticks: int, start: int = 0, **kw) -> list[str]:
        out = []
        for n in range(start, start + ticks):
            now = self.s.start + float(n / self.s.rate) + self.ready
            d = self.s.choose(n, now, **kw)
            cost = self.cost.get(d.tier, 0.0)
            self.s.record(d.tier, cost)
            self.late += now + cost > d.deadline
            out.append(d.tier)
        self.chosen += out
        return out


def calibrated(cost: dict[str, float], latency: float = 0.16, rate=50) -> DeadlineScheduler:
    s = DeadlineScheduler(Fraction(rate), latency)
    for tier, c in cost.items():
        for _ in range(3):
            s.record(tier, c)
    s.settle(latency - 0.04)
    return s


def test_cost_estimate_is_mean_plus_deviation():
    c = TierCost()
    assert c.estimate(4, 0.002) == float("inf")
    for x in (0.010, 0.010, 0.010, 0.010):
        c.add(x)
    steady = c.estimate(4, 0.002)
    j = TierCost()
    for x in (0.002, 0.018, 0.002, 0.018):
        j.add(x)
    assert 0.010 < steady < j.estimate(4, 0.002)  # a jittery tier is trusted less than a steady one


def test_fast_model_runs_full_and_nothing_is_late():
    cost = {FULL: 0.03, HALF: 0.01, QUARTER: 0.004, BLEND: 0.001}
    sim = Sim(calibrated(cost), cost)
    assert set(sim.run(200)) == {FULL}
    assert sim.late == 0


@pytest.mark.parametrize("cost,expect", [
    ({FULL: 0.3, HALF: 0.06, QUARTER: 0.02, BLEND: 0.002}, HALF),
    ({FULL: 2.4, HALF: 0.6, QUARTER: 0.05, BLEND: 0.002}, QUARTER),
    ({FULL: 10.0, HALF: 1.0, QUARTER: 0.5, BLEND: 0.002}, BLEND),
])
def test_the_best_tier_that_fits(cost, expect):
    sim = Sim(calibrated(cost), cost)
    tiers = sim.run(300)
    assert tiers[-100:] == [expect] * 100
    assert TIERS.index(tiers[0]) >= TIERS.index(expect)  # cautious first, never better than what fits
    assert sim.late == 0


def test_a_slowdown_steps_down_at_once_and_up_again_only_after_a_steady_run():
    cost = {FULL: 0.05, HALF: 0.015, QUARTER: 0.005, BLEND: 0.001}
    s = calibrated(cost)
    sim = Sim(s, cost)
    assert set(sim.run(50)) == {FULL}
    sim.cost[FULL] = 0.5  # the machine got busy: the next full run is measured slow
    after = sim.run(50, start=50)
    assert after[0] == FULL and after[1] != FULL  # one slow run, then down at once
    assert sim.late == 1  # the slow run itself (the runner's guard replaces that frame in time)
    sim.cost[FULL] = 0.05  # load gone: the estimate relaxes, and full comes back after a steady run
    back = sim.run(2000, start=100)
    first_full = back.index(FULL)
    assert first_full >= s.up_after
    assert back[-200:] == [FULL] * 200


def test_no_flicker_at_the_edge():
    # full's cost hovers right at the time left: hysteresis must not switch tier every tick
    cost = {FULL: 0.118, HALF: 0.03, QUARTER: 0.01, BLEND: 0.001}
    s = calibrated(cost)
    sim = Sim(s, cost)
    tiers = sim.run(500)
    switches = sum(a != b for a, b in zip(tiers, tiers[1:], strict=False))
    assert switches <= 500 // s.up_after


def test_cuts_copies_and_missing_frames_repeat_without_touching_the_tier():
    cost = {FULL: 0.01, HALF: 0.005, QUARTER: 0.002, BLEND: 0.001}
    s = calibrated(cost)
    assert s.choose(0, 0.04, cut=True).tier == REPEAT and s.choose(0, 0.04, cut=True).why == "cut"
    assert s.choose(1, 0.06, pair=False).why == "no-pair"
    assert s.choose(2, 0.08, copy=True).why == "copy"
    assert s.choose(3, 0.10).tier == FULL


def test_busy_worker_means_no_model_tier():
    cost = {FULL: 0.01, HALF: 0.005, QUARTER: 0.002, BLEND: 0.001}
    s = calibrated(cost)
    assert s.choose(0, 0.04, busy=True).tier == BLEND


def test_exactly_one_decision_per_tick_and_deadlines_on_the_grid():
    s = DeadlineScheduler(Fraction(60000, 1001), 0.2, start=100.0)
    ds = [s.choose(n, 100.0 + n * 1001 / 60000) for n in range(1000)]
    assert [d.n for d in ds] == list(range(1000))
    assert all(d.tier in TIERS for d in ds)
    assert ds[999].deadline == pytest.approx(100.0 + 999 * 1001 / 60000 + 0.2, abs=1e-9)
    # never measured: only repeat is known to fit (the runner calibrates before the clock starts)
    assert {d.tier for d in ds} == {REPEAT}

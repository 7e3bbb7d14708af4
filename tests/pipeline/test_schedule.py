"""The rate-conversion scheduler: exact frame counts, timestamps and (a, b, t) for common ratios."""

from __future__ import annotations

from fractions import Fraction as F

import pytest

from filmrt.errors import FilmrtError
from filmrt.pipeline.infer import dyadic_chain
from filmrt.pipeline.time.schedule import (
    COPY,
    CUT,
    HOLD,
    INTERP,
    NEAREST,
    Scheduler,
    output_frame_count,
    schedule,
)
from filmrt.rates import parse_rate


def cfr(n: int, rate: F, tb: F | None = None, start: F = F(0)) -> list[F]:
    """n timestamps (seconds) at a constant rate, quantised to tb ticks like a container stores them."""
    out = []
    for i in range(n):
        t = start + i / F(rate)
        if tb is not None:
            t = round(t / tb) * tb
        out.append(t)
    return out


def check_times(jobs, fps_out):
    assert [j.index for j in jobs] == list(range(len(jobs)))
    assert all(j.time == F(j.index) / fps_out for j in jobs)
    for j in jobs:
        assert 0 <= j.t < 1
        if j.kind == INTERP:
            assert j.b == j.a + 1 and j.t > 0
        else:
            assert j.a == j.b and j.t == 0


# ---------------------------------------------------------------------- parse_rate (filmrt.rates, the one parser)
@pytest.mark.parametrize(
    "text,fps_in,expected",
    [
        ("60", None, F(60)),
        ("50", None, F(50)),
        ("59.94", None, F(60000, 1001)),
        ("29.97", None, F(30000, 1001)),
        ("23.976", None, F(24000, 1001)),
        ("60000/1001", None, F(60000, 1001)),
        ("12.5", None, F(25, 2)),
        ("x2", F(25), F(50)),
        ("2x", F(25), F(50)),
        ("x4", F(30000, 1001), F(120000, 1001)),
        ("x2.5", F(24), F(60)),
    ],
)
def test_parse_rate(text, fps_in, expected):
    assert parse_rate(text, fps_in) == expected


@pytest.mark.parametrize("text", ["0", "-25", "0/1", "abc", "1/0", "", "x0", "-x2"])
def test_parse_rate_rejects(text):
    with pytest.raises(FilmrtError):
        parse_rate(text, F(25))


def test_factor_needs_input_rate():
    with pytest.raises(FilmrtError, match="input rate"):
        parse_rate("x2", None)


# ---------------------------------------------------------------------- ratios
def test_24_to_60():
    n = 48
    jobs = schedule(cfr(n, 24, F(1, 12288)), F(60))
    assert len(jobs) == 120 == output_frame_count(n, F(24), F(60))
    check_times(jobs, F(60))
    # the 5-frame cycle: copy, 2/5, 4/5, 1/5 (next pair), 3/5 ...
    last_src = F(n - 1, 24)
    for j in jobs:
        if j.time > last_src:  # ... until the last source frame, which is then held
            assert j.kind == HOLD and j.a == n - 1
            continue
        phase = j.index % 5
        pair = 2 * (j.index // 5) + (phase >= 3)
        if phase == 0:
            assert j.kind == COPY and j.a == 2 * (j.index // 5)
        else:
            assert j.kind == INTERP and j.a == pair
            assert j.t == {1: F(2, 5), 2: F(4, 5), 3: F(1, 5), 4: F(3, 5)}[phase]


def test_25_to_50():
    n = 25
    jobs = schedule(cfr(n, 25, F(1, 12800)), F(50))
    assert len(jobs) == 2 * n
    check_times(jobs, F(50))
    for j in jobs[:-1]:
        if j.index % 2 == 0:
            assert j.kind == COPY and j.a == j.index // 2
        else:
            assert j.kind == INTERP and j.a == j.index // 2 and j.t == F(1, 2)
    # the last output time (49/50) is after the last source frame (24/25): it holds it
    assert jobs[-1].kind == HOLD and jobs[-1].a == n - 1


def test_ntsc_2997_to_5994_exact_timebase():
    n = 30
    jobs = schedule(cfr(n, F(30000, 1001), F(1, 30000)), F(60000, 1001))
    assert len(jobs) == 2 * n
    check_times(jobs, F(60000, 1001))
    assert [j.kind for j in jobs[:-1:2]] == [COPY] * n
    assert all(j.t == F(1, 2) for j in jobs[1:-1:2])


def test_ntsc_millisecond_timestamps_still_copy():
    """mp4/mkv often store 29.97 at 1 ms: 0, 33, 67, 100 ... Snapping within one tick keeps
    the source frames as copies and puts the new frames half way."""
    n = 30
    ts = cfr(n, F(30000, 1001), F(1, 1000))
    jobs = schedule(ts, F(60000, 1001), snap=F(1, 1000))
    assert len(jobs) == 2 * n
    assert [j.kind for j in jobs[:-1:2]] == [COPY] * n
    assert [j.a for j in jobs[:-1:2]] == list(range(n))
    assert all(abs(j.t - F(1, 2)) < F(4, 100) for j in jobs[1:-1:2])


def test_50_to_25_drops_every_other_frame():
    n = 50
    jobs = schedule(cfr(n, 50, F(1, 12800)), F(25))
    assert len(jobs) == 25
    check_times(jobs, F(25))
    assert all(j.kind == COPY and j.a == 2 * j.index for j in jobs)


def test_60_to_50_takes_nearest_frames_never_blends():
    n = 60
    ts = cfr(n, 60, F(1, 15360))
    jobs = schedule(ts, F(50))
    assert len(jobs) == 50
    check_times(jobs, F(50))
    assert {j.kind for j in jobs} <= {COPY, NEAREST}
    for j in jobs:  # the chosen source frame is the nearest one in time
        assert all(abs(ts[j.a] - j.time) <= abs(t - j.time) for t in ts)
    assert len({j.a for j in jobs}) == 50  # 10 of the 60 frames dropped, none repeated


def test_same_rate_copies_everything():
    jobs = schedule(cfr(10, 25, F(1, 12800)), F(25))
    assert [(j.kind, j.a) for j in jobs] == [(COPY, i) for i in range(10)]


def test_vfr_input_uses_real_timestamps():
    # 25 fps with a missing frame at 0.12 s and a nonzero start
    ts = [F(1, 2) + x for x in (F(0), F(4, 100), F(8, 100), F(16, 100), F(20, 100), F(24, 100))]
    jobs = schedule(ts, F(25))
    assert len(jobs) == 7  # (0.24 + 0.04) * 25
    check_times(jobs, F(25))
    assert [(j.kind, j.a, j.b, j.t) for j in jobs[:5]] == [
        (COPY, 0, 0, 0),
        (COPY, 1, 1, 0),
        (COPY, 2, 2, 0),
        (INTERP, 2, 3, F(1, 2)),  # the gap is filled by interpolation
        (COPY, 3, 3, 0),
    ]
    # x2 on the same input: the 80 ms gap gets three new frames
    jobs2 = schedule(ts, F(50))
    gap = [j for j in jobs2 if j.a == 2 and j.kind == INTERP]
    assert [j.t for j in gap] == [F(1, 4), F(1, 2), F(3, 4)]


def test_scene_cut_repeats_nearer_frame():
    ts = cfr(6, 24, F(1, 12288))
    jobs = schedule(ts, F(60), cuts=[3])  # cut between frames 2 and 3
    between = [j for j in jobs if ts[2] < F(j.index, 60) < ts[3]]
    assert between and all(j.kind == CUT for j in between)
    for j in between:
        t = (j.time - ts[2]) / (ts[3] - ts[2])
        assert j.a == (2 if t <= F(1, 2) else 3)
    # elsewhere nothing changes
    assert all(j.kind in (COPY, INTERP, HOLD) for j in jobs if j not in between)


def test_recursive_mode_dyadic_times():
    jobs = schedule(cfr(4, 24, F(1, 12288)), F(60), mode="recursive", max_depth=4)
    for j in jobs:
        if j.kind == INTERP:
            assert j.t.denominator & (j.t.denominator - 1) == 0 and j.t.denominator <= 16
    ts = [j.t for j in jobs if j.kind == INTERP][:4]
    assert ts == [F(6, 16), F(13, 16), F(3, 16), F(10, 16)]
    # x4 lands on exact quarters in both modes
    q = schedule(cfr(4, 25, F(1, 12800)), F(100), mode="recursive", max_depth=1)
    # depth 1: only midpoints; 1/4 and 3/4 round to 1/2 (half up) or the ends
    assert {j.t for j in q if j.kind == INTERP} == {F(1, 2)}


def test_dyadic_chain():
    assert dyadic_chain(F(1, 2)) == [(0, 1)]
    assert dyadic_chain(F(3, 8)) == [(0, 1), (0, F(1, 2)), (F(1, 4), F(1, 2))]
    with pytest.raises(ValueError):
        dyadic_chain(F(1, 3))


@pytest.mark.parametrize("n", [1, 2, 7, 25, 101])
@pytest.mark.parametrize(
    "fin,fout", [(F(25), F(50)), (F(24), F(60)), (F(50), F(25)), (F(30000, 1001), F(60000, 1001)), (F(25), F(24))]
)
def test_end_of_stream_rule(n, fin, fout):
    """N input frames at fps_in last N / fps_in seconds; the output lasts as long: ceil(N * out / in)."""
    jobs = schedule(cfr(n, fin), fout, last_duration=1 / fin)
    assert len(jobs) == output_frame_count(n, fin, fout)
    check_times(jobs, fout)
    assert all(j.a < n for j in jobs)


def test_streaming_equals_batch_and_skips_backward_timestamps():
    ts = cfr(20, 24, F(1, 12288))
    s = Scheduler(F(60))
    got = []
    for i, t in enumerate(ts):
        got += s.push(t)
        if i == 5:
            got += s.push(t)  # repeated timestamp: ignored
    got += s.finish()
    assert got == schedule(ts, F(60))
    assert s.dropped_timestamps == 1


def test_finish_respects_end_cut():
    s = Scheduler(F(50))
    jobs = []
    for t in cfr(13, 25):  # frames at 0 .. 0.48 s
        jobs += s.push(t)
    jobs += s.finish(end=F(1, 2))  # e.g. --t 0.5 ended the clip
    assert len(jobs) == 25 and jobs[-1].time < F(1, 2)
    assert len(schedule(cfr(13, 25), F(50))) == 26  # without the cut: 0.52 s


def test_bad_parameters():
    with pytest.raises(FilmrtError):
        Scheduler(F(0))
    with pytest.raises(FilmrtError):
        Scheduler(F(50), mode="sideways")


def test_caller_numbering_survives_a_dropped_timestamp():
    s = Scheduler(F(50))
    jobs = []
    for i, t in enumerate([F(0), F(4, 100), F(4, 100), F(8, 100)]):  # frame 2 repeats frame 1's time
        jobs += s.push(t, index=i)
    jobs += s.finish(F(4, 100))
    assert [(j.a, j.b) for j in jobs if j.kind == INTERP] == [(0, 1), (1, 3)]
    assert jobs[-1].a == 3

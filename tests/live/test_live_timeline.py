"""The timeline: input frames placed on the output clock, re-synced at jumps and stalls."""

from __future__ import annotations

from fractions import Fraction

import torch

from filmrt.pipeline.live.source import LiveEdge
from filmrt.pipeline.live.timeline import Timeline

PIC = torch.zeros(3, 2, 2)


def feed(tl: Timeline, pts: list[float], arrived: list[float]):
    return [tl.place(Fraction(p).limit_denominator(100000), a, PIC) for p, a in zip(pts, arrived, strict=True)]


def test_steady_input_keeps_its_spacing_and_pairs_surround_each_tick():
    tl = Timeline(resync=0.2)
    placed = feed(tl, [10 + i / 25 for i in range(10)], [i / 25 + 0.003 for i in range(10)])
    assert [round(p.out, 6) for p in placed] == [round(i / 25 + 0.003, 6) for i in range(10)]  # anchored at arrival
    assert tl.resyncs == 0
    p = tl.pair(0.063)  # between the frames at 0.043 and 0.083
    assert (round(p.a.out, 3), round(p.b.out, 3), round(p.t, 3)) == (0.043, 0.083, 0.5)
    assert tl.pair(placed[3].out).t == 0.0


def test_pts_jump_resyncs_to_the_arrival_and_marks_a_cut():
    tl = Timeline(resync=0.2)
    feed(tl, [0, 0.04, 0.08], [0, 0.04, 0.08])
    jumped = tl.place(Fraction(3600), 0.12, PIC)  # an hour later in PTS, on time in the clock
    assert tl.resyncs == 1 and jumped.cut and abs(jumped.out - 0.12) < 1e-6
    nxt = tl.place(Fraction(3600) + Fraction(1, 25), 0.16, PIC)
    assert not nxt.cut and abs(nxt.out - 0.16) < 1e-6
    assert tl.pair(0.10).cut  # the tick between the old and the new programme repeats
    assert not tl.pair(0.14).cut


def test_resume_after_a_stall_is_placed_at_its_arrival():
    tl = Timeline(resync=0.2)
    feed(tl, [0, 0.04], [0, 0.04])
    tl.pair(2.0)  # the output went on for 2 s meanwhile
    back = tl.place(Fraction(8, 100), 3.04, PIC)  # the sender paused: PTS continues, the clock did not
    assert back.cut and abs(back.out - 3.04) < 1e-6 and tl.resyncs == 1
    assert tl.pair(3.0).a is not None and tl.pair(3.0).b is back


def test_frames_late_for_their_tick_resync_but_jitter_does_not():
    tl = Timeline(resync=0.2, late=0.08)
    feed(tl, [0, 0.04, 0.08], [0, 0.05, 0.13])  # 10 and 50 ms behind: jitter
    assert tl.resyncs == 0
    tl.place(Fraction(12, 100), 0.25, PIC)  # 130 ms behind: it would miss its tick
    assert tl.resyncs == 1


def test_pts_going_backwards_resyncs_forward_only():
    tl = Timeline(resync=0.2)
    feed(tl, [5, 5.04, 5.08], [0, 0.04, 0.08])
    back = tl.place(Fraction(1), 0.12, PIC)
    assert back.cut and back.out > 0.08


def test_a_resync_lands_on_the_output_grid():
    tl = Timeline(resync=0.2, grid=0.02)
    first = tl.place(Fraction(7), 0.013, PIC)
    assert abs(first.out - 0.02) < 1e-9  # the next tick: a 25 fps input keeps landing on 50 fps ticks
    assert abs(tl.place(Fraction(7) + Fraction(1, 25), 0.05, PIC).out - 0.06) < 1e-9


def test_a_frame_on_a_tick_is_that_ticks_frame_despite_float_rounding():
    tl = Timeline(resync=0.2, grid=0.02)
    feed(tl, [Fraction(3600 * k, 90000) + Fraction(1234567, 90000) for k in range(4)], [0.0, 0.04, 0.08, 0.12])
    for n in range(7):  # 25 fps on a 50 fps grid: every other tick is a source frame, t exactly 0
        p = tl.pair(n * (1 / 50))
        assert (p.t == 0.0) == (n % 2 == 0), (n, p.t)


def test_window_is_bounded():
    tl = Timeline(window=8, resync=100)
    feed(tl, [i / 25 for i in range(100)], [i / 25 for i in range(100)])
    assert len(tl.window) == 8 and tl.dropped == 92


def test_the_stale_tail_after_a_gap_is_dropped_and_the_live_frames_follow_the_old_anchor():
    """The input breaks off for 3 s; first come the frames the sender's muxer still held (their
    PTS continue from before the gap, 3 s behind), then the live frames (PTS 3 s on): the tail
    is dropped, nothing re-syncs, the live frames land where the old anchor puts them."""
    tl = Timeline(resync=0.26, late=0.08, grid=0.02, hold=0.5)
    feed(tl, [i / 25 for i in range(5)], [i / 25 for i in range(5)])
    tail = feed(tl, [(5 + i) / 25 for i in range(3)], [3.2 + i / 100 for i in range(3)])
    assert tail == [None, None, None] and tl.resyncs == 0
    live = feed(tl, [3.28 + i / 25 for i in range(3)], [3.29 + i / 25 for i in range(3)])
    assert [round(p.out, 6) for p in live] == [round(3.28 + i / 25, 6) for i in range(3)]
    assert tl.resyncs == 0 and tl.stale == 3 and tl.dropped == 3


def test_a_paused_sender_resumes_on_the_live_edge_after_the_hold():
    """The sender paused 3 s and resumes where it stopped (PTS continue): after the hold the
    timeline re-syncs once, on the newest frame at its arrival; the frames of the hold are dropped."""
    tl = Timeline(resync=0.26, late=0.08, grid=0.02, hold=0.5)
    feed(tl, [i / 25 for i in range(5)], [i / 25 for i in range(5)])
    placed = feed(tl, [(5 + i) / 25 for i in range(16)], [3.2 + i / 25 for i in range(16)])
    held = [p for p in placed if p is None]
    assert len(held) == 13 and placed[13] is not None  # 0.5 s of frames at 25 fps, then the re-sync
    assert tl.resyncs == 1 and placed[13].cut and abs(placed[13].out - 3.72) < 1e-9
    assert all(p is not None and not p.cut for p in placed[14:]) and tl.stale == 0 and tl.dropped == 13


def test_a_new_session_is_never_held():
    tl = Timeline(resync=0.26, late=0.08, hold=0.5)
    feed(tl, [0, 0.04], [0, 0.04])
    back = tl.place(Fraction(8, 100), 3.0, PIC, cut=True, new_session=True)  # a reconnect, at once
    assert back is not None and abs(back.out - 3.0) < 1e-9 and tl.resyncs == 1 and back.cut


def test_a_scene_cut_in_the_stale_tail_is_held_and_dropped_like_the_rest():
    """The tail the sender's muxer held through a 3 s stall contains a flash (a scene cut). It
    was never held: the timeline re-synced on it, showed it 3 s late after the slate, and re-synced
    back when the live frames came (two re-syncs, the audio of the first live second dropped)."""
    tl = Timeline(resync=0.26, late=0.08, grid=0.02, hold=0.5)
    feed(tl, [i / 25 for i in range(5)], [i / 25 for i in range(5)])
    tail = [tl.place(Fraction(5 + i, 25), 3.2 + i / 100, PIC, cut=i == 1) for i in range(3)]
    assert tail == [None, None, None] and tl.resyncs == 0
    live = feed(tl, [3.28 + i / 25 for i in range(3)], [3.29 + i / 25 for i in range(3)])
    assert [round(p.out, 6) for p in live] == [round(3.28 + i / 25, 6) for i in range(3)]
    assert tl.resyncs == 0 and tl.stale == 3


def test_live_edge_skips_a_burst_and_stops_on_paced_pictures():
    """A reopened input's backlog: 15 pictures in one burst (1 ms apart), then real time. The edge
    is the third picture after the burst that came at its timestamps' pace; the rest are skipped."""
    edge = LiveEdge()
    burst = [edge.step(Fraction(i, 25), 10.0 + i / 1000) for i in range(15)]
    assert not any(burst)
    live = [edge.step(Fraction(15 + i, 25), 10.04 + i / 25) for i in range(5)]
    assert live == [False, False, True, True, True] and edge.skipped == 17
    # past the edge every picture is taken, however it is bunched (network jitter)
    assert all(edge.step(Fraction(20 + i, 25), 10.3 + i / 1000) for i in range(5)) and edge.skipped == 17


def test_live_edge_of_a_paced_input_is_its_fourth_picture():
    edge = LiveEdge()
    assert [edge.step(Fraction(i, 25), i / 25) for i in range(5)] == [False, False, False, True, True]
    assert edge.skipped == 3

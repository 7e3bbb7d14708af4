"""The --ss/--t window rules for copied streams (RangeGate) and untimed leading pictures (FrameClock
rule 3), shared by the decoder and verification (pipeline.time.timestamps)."""

from __future__ import annotations

from fractions import Fraction as F

from filmrt.pipeline.time.timestamps import RangeGate, display_times, lead_floor


def test_untimed_pictures_before_the_first_timestamp_come_before_it():
    # a stream copy from before its start point: 3 pictures without timestamps, then 0, 1, 2 (x 1/25 s)
    pts = [None, None, None, 0, 1, 2]
    assert display_times(pts, time_base=F(1, 25), step=F(1, 25), lead=True) == [F(k, 25) for k in range(-3, 3)]
    # not asked for (the input does not start earlier): counted from the start, later ones moved after them
    assert display_times(pts, time_base=F(1, 25), step=F(1, 25))[:3] == [F(0), F(1, 25), F(2, 25)]
    # no timestamp at all: from the start, as before
    assert display_times([None] * 3, time_base=F(1, 25), step=F(1, 25), lead=True) == [F(0), F(1, 25), F(2, 25)]


def test_lead_floor_needs_an_earlier_file_start():
    assert lead_floor(F(-13, 25), F(0), F(0)) == F(-13, 25)
    assert lead_floor(F(0), F(0), F(0)) is None
    assert lead_floor(F(-1), None, F(0)) is None


def test_range_gate_keeps_the_packets_at_the_start_point():
    g: RangeGate[str] = RangeGate(F(1, 2), F(3, 2))
    a = F(96, 1000)  # one FLAC packet
    assert g.push("a0", 1, "audio", True, F(384, 1000), a) == []  # ends at 0.48: before the start
    assert g.push("a1", 1, "audio", True, F(480, 1000), a) == [("a1", F(480, 1000), F(576, 1000))]  # straddles
    assert g.push("s0", 2, "subtitle", True, F(1, 5), F(7, 10)) == [("s0", F(1, 2), F(9, 10))]  # cut to 0.5
    assert g.push("a9", 1, "audio", True, F(3, 2), a) == []  # at the end


def test_range_gate_starts_another_picture_at_its_keyframe():
    g: RangeGate[int] = RangeGate(F(1, 2), None)
    d = F(1, 25)
    out = []
    for i, (t, key) in enumerate([(F(0), True), (F(12, 25), True), (F(13, 25), False), (F(14, 25), False)]):
        out += [item for item, _, _ in g.push(i, 3, "video", key, t, d)]
    assert out == [1, 2, 3]  # from the keyframe at 0.48, not the undecodable 0.52
    g2: RangeGate[int] = RangeGate(F(1, 2), None)  # no keyframe before the start: from the first one after
    out = [item for i, (t, key) in enumerate([(F(13, 25), False), (F(14, 25), True), (F(15, 25), False)])
           for item, _, _ in g2.push(i, 3, "video", key, t, d)]
    assert out == [1, 2]

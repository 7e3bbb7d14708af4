"""Silent-damage classes in timing (wrong output with exit 0): one regression test per class,
on tiny synthetic media."""

from __future__ import annotations

from fractions import Fraction as F

from filmrt.pipeline.time.timestamps import FrameClock, display_times


# ---------------------------------------------------------------------- DivX packed B-frames
def test_packed_bframes_as_the_decoder_reports_them_are_not_one_frame_late():
    """The mpeg4 decoder on a packed-B-frame AVI reports (pts, dts) = (1,1) (2,2) (3,3) (5,4) (4,5)
    (6,6) (8,7) (7,8) ...: the display times are 1, 2, 3, 4, 5 ... (a constant one-frame offset
    before: the label 5 was taken before the rule switched to dts)."""
    n = 30
    pts = [k if k % 3 == 0 or k < 4 else (k + 1 if k % 3 == 1 else k - 1) for k in range(1, n + 1)]
    assert pts[:11] == [1, 2, 3, 5, 4, 6, 8, 7, 9, 11, 10]
    dts = list(range(1, n + 1))
    assert display_times(pts, dts) == [F(k) for k in range(1, n + 1)]
    clock: FrameClock[int] = FrameClock(F(1, 25), F(1, 25))
    out = [t for i, (p, d) in enumerate(zip(pts, dts, strict=True)) for _, t in clock.push(i, p, d, 1)]
    out += [t for _, t in clock.flush()]
    assert out == [F(k, 25) for k in range(1, n + 1)] and clock.repaired == 0


def test_a_real_pts_fault_still_switches_to_dts():
    """Labels that go back past what was already shown cannot be sorted: libavcodec's rule still
    applies and the monotonic dts are used."""
    pts = [10, 11, 12, 13, 14, 15, 1, 2, 3, 4, 5, 6]
    dts = list(range(10, 22))
    t = display_times(pts, dts)
    assert t == sorted(t) and len(set(t)) == len(t) and t[-1] == 21

"""Regressions found by attacking splices and cadence detection as a broadcast user (attack20)."""

from fractions import Fraction as F

import pytest

from filmrt.pipeline.time.timestamps import FrameClock


@pytest.mark.parametrize("overlap", [1, 2, 3, 4, 5, 6, 10, 20, 24])
def test_a_splice_drops_the_overlapping_pictures_not_the_ones_after(overlap):
    """Two recordings joined, the second starting ``overlap`` frames before the first ended: the
    second part's first ``overlap`` pictures are dropped and every picture kept is shown at its own
    label. Before: overlaps of 1-5 frames were sorted among the first part's last frames (pictures
    going back and forth), and longer ones moved the overlap's pictures after the first part and
    dropped the second part's pictures that followed (20 frames: 0.56 s shown 0.8 s late, a flash
    at the splice + 1 s lost while its beep stayed)."""
    tb = F(1, 25)
    labels = list(range(40)) + list(range(40 - overlap, 70))
    clock: FrameClock[int] = FrameClock(tb, tb)
    got = [(i, t) for n, p in enumerate(labels) for i, t in clock.push(n, p, None)]
    got += list(clock.flush())
    assert [t for _, t in got] == [F(k, 25) for k in range(70)]
    assert all(t == labels[i] * tb for i, t in got)  # each picture at its own time
    assert [i for i, _ in got] == list(range(40)) + list(range(40 + overlap, 70 + overlap))
    assert clock.overlapped == overlap and clock.repaired == 0


def test_a_repeated_label_with_a_free_slot_is_still_moved_on():
    """Rule 4 unchanged: a repeated label the next one leaves room for is kept, one frame on."""
    tb = F(1, 25)
    clock: FrameClock[int] = FrameClock(tb, tb)
    labels = [0, 1, 2, 3, 3, 5, 6, 7, 8]
    got = [(i, t) for n, p in enumerate(labels) for i, t in clock.push(n, p, None)]
    got += list(clock.flush())
    assert [i for i, _ in got] == list(range(9)) and [t / tb for _, t in got] == list(range(9))
    assert clock.repaired == 1 and clock.overlapped == 0

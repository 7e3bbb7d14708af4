"""The inference stage on its own: batching, keys for FILM's caches, recursive midpoints once each."""

from __future__ import annotations

from fractions import Fraction as F

import torch

from filmrt.pipeline.convert import _Runner
from filmrt.pipeline.schedule import INTERP, schedule


class Recorder:
    """A stand-in interpolator: blends, and records every call (batch size, times, keys)."""

    device = torch.device("cpu")
    model_name = "recorder"

    def __init__(self):
        self.calls = []

    def interpolate(self, a, b, times, *, keys_a=None, keys_b=None):
        self.calls.append((len(times), list(times), list(keys_a), list(keys_b)))
        t = torch.tensor(times).view(-1, 1, 1, 1)
        return a + (b - a) * t


def frames(n):
    return {i: torch.full((3, 4, 4), float(i) / n) for i in range(n)}


def test_direct_batches_and_source_keys():
    n = 5
    jobs = schedule([F(i, 24) for i in range(n)], F(60))
    rec = Recorder()
    out = _Runner(rec, batch=3, mode="direct").run(jobs, frames(n))
    interp = [j for j in jobs if j.kind == INTERP]
    assert [c[0] for c in rec.calls] == [3, 3, 2]  # 8 new frames in batches of 3
    keys = [(ka, kb) for c in rec.calls for ka, kb in zip(c[2], c[3], strict=True)]
    assert keys == [(j.a, j.b) for j in interp]  # keys = source frame indices
    for j, o in zip(jobs, out, strict=True):
        want = (j.a + float(j.t) * (j.b - j.a)) / n
        assert torch.allclose(o, torch.full_like(o, want), atol=1e-6)


def test_recursive_midpoints_are_computed_once_and_keyed():
    n = 3
    jobs = schedule([F(i, 25) for i in range(n)], F(100), mode="recursive", max_depth=2)
    assert {j.t for j in jobs if j.kind == INTERP} == {F(1, 4), F(1, 2), F(3, 4)}
    rec = Recorder()
    out = _Runner(rec, batch=8, mode="recursive").run(jobs, frames(n))
    times = [t for c in rec.calls for t in c[1]]
    assert set(times) == {0.5}  # only midpoints, as FILM's recursion does
    # per pair: the 1/2 frame once (level 1), then 1/4 and 3/4 from it (level 2): 3 calls per pair
    assert len(times) == 3 * (n - 1)
    level2_keys = [k for c in rec.calls[1:] for k in c[2] + c[3]]
    assert ("mid", 0, 1, 1, 2) in level2_keys  # intermediate frames carry their own keys
    for j, o in zip(jobs, out, strict=True):
        want = (j.a + float(j.t) * (j.b - j.a)) / n
        assert torch.allclose(o, torch.full_like(o, want), atol=1e-6)

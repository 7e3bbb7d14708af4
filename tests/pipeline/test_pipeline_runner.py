"""The inference stage (filmrt.pipeline.infer) on its own: batching, keys for FILM's caches, recursive
midpoints once each, the one rounding rule; the Source protocol."""

from __future__ import annotations

from fractions import Fraction as F

import torch

from filmrt.pipeline.infer import Inference
from filmrt.pipeline.time.schedule import INTERP, schedule


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
    out = Inference(rec, batch=3, mode="direct").run(jobs, frames(n))
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
    out = Inference(rec, batch=8, mode="recursive").run(jobs, frames(n))
    times = [t for c in rec.calls for t in c[1]]
    assert set(times) == {0.5}  # only midpoints, as FILM's recursion does
    # per pair: the 1/2 frame once (level 1), then 1/4 and 3/4 from it (level 2): 3 calls per pair
    assert len(times) == 3 * (n - 1)
    level2_keys = [k for c in rec.calls[1:] for k in c[2] + c[3]]
    assert ("mid", 0, 1, 1, 2) in level2_keys  # intermediate frames carry their own keys
    for j, o in zip(jobs, out, strict=True):
        want = (j.a + float(j.t) * (j.b - j.a)) / n
        assert torch.allclose(o, torch.full_like(o, want), atol=1e-6)


# ---------------------------------------------------------------------- the one rounding rule
def test_nearest_dyadic_rounds_half_up_and_reduces():
    from filmrt.pipeline.infer import nearest_dyadic

    assert nearest_dyadic(F(3, 10), 3) == F(1, 4) and nearest_dyadic(0.3, 3) == F(1, 4)
    assert nearest_dyadic(F(1, 16), 3) == F(1, 8)  # a tie goes up (not to the even numerator)
    assert nearest_dyadic(F(3, 16), 3) == F(1, 4)
    assert nearest_dyadic(F(1, 2), 8) == F(1, 2) and nearest_dyadic(F(1, 2), 8).denominator == 2
    assert nearest_dyadic(F(1, 100), 4) == 0 and nearest_dyadic(F(99, 100), 4) == 1


def test_scheduler_uses_the_one_rounding_rule():
    """convert's recursive times are nearest_dyadic of the exact direct-mode times."""
    from filmrt.pipeline.infer import nearest_dyadic

    ts = [F(i, 24) for i in range(6)]
    for depth in (1, 2, 3, 4):
        direct = schedule(ts, F(60), mode="direct")
        rec = schedule(ts, F(60), mode="recursive", max_depth=depth)
        for d, r in zip(direct, rec, strict=True):
            if d.kind != INTERP:
                continue
            u = nearest_dyadic(d.t, depth)
            assert r.t == (u if 0 < u < 1 else 0)
            assert r.kind == (INTERP if 0 < u < 1 else "copy")


def test_sources_implement_the_protocol(tmp_path):
    from support.synth import make_clip

    from filmrt.pipeline.io import dali
    from filmrt.pipeline.io.decode import PyAVSource, Source

    assert Source in PyAVSource.__mro__ and Source in dali.DaliSource.__mro__  # declared, not duck-typed
    src = PyAVSource(make_clip(tmp_path / "c.mp4", frames=3))
    try:
        for name in Source.__annotations__:
            assert hasattr(src, name), name
        assert src.name == "pyav" and src.corrupt_frames == 0 and isinstance(src.container_metadata, dict)
    finally:
        src.close()

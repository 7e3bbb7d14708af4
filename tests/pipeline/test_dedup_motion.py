"""``--dedup auto`` never removes motion (issue 20): real coded clips, decoded back.

Pictures known exactly (:func:`support.dedup_sweep.pictures`: numpy, or FFmpeg's test sources
rendered as raw RGB by the test-only FFmpeg) are coded with a real encoder; the detector then sees
what ``convert`` sees. Motion clips keep every frame; animation on twos/threes and a doubled
transfer frame are still found and their repeats removed.
"""

from __future__ import annotations

from fractions import Fraction as F

import av
import numpy as np
import pytest
from support import ffmpeg_oracle
from support.dedup_sweep import pictures

from filmrt.bench.temporal import write_clip
from filmrt.options import RuntimeOptions
from filmrt.pipeline.convert import convert
from filmrt.pipeline.io.decode import PyAVSource
from filmrt.pipeline.options import ConvertOptions, EncodeOptions
from filmrt.pipeline.time.cadence.analysis import analyse, decide
from filmrt.pipeline.time.cadence.repeats import is_repeat

pytestmark = pytest.mark.usefixtures("one_thread")


def _opts(fps: str = "50", **kw) -> ConvertOptions:
    return ConvertOptions(fps=fps, runtime=RuntimeOptions(model="blend"),
                          encode=EncodeOptions(preset="ultrafast", crf=10), **kw)


def _clip(tmp_path, source: str, w: int, h: int, n: int = 40, rate: str = "25", crf: int = 23) -> tuple[str, list]:
    if source.startswith(("testsrc", "mandelbrot")):
        ffmpeg_oracle.require()
    pics = pictures(source, w, h, rate, n)
    path = write_clip(tmp_path / f"{source}-{w}x{h}.mkv", pics, F(rate), crf=crf, preset="veryfast")
    return path, pics


def _called(path) -> list[bool]:
    """is_repeat of each decoded frame against the one before (what the drop loop asks)."""
    s = PyAVSource(str(path))
    frames = [f.rgb for f in s.frames()]
    s.close()
    return [is_repeat(a, b) for a, b in zip(frames, frames[1:], strict=False)]


@pytest.mark.parametrize("source,w,h,crf", [
    ("testsrc2", 160, 90, 23), ("testsrc2", 320, 180, 32), ("testsrc", 64, 48, 23), ("noise-grain", 160, 90, 0),
    ("pan-0.5px", 160, 90, 23), ("clock", 160, 90, 23), ("isoluminant", 160, 90, 23), ("ball-5px", 320, 180, 23),
    ("ticker", 160, 90, 23),
])
def test_motion_is_never_a_repeat(tmp_path, source, w, h, crf):
    """Every frame of these clips differs from the one before (a 3x5 px counter, a colour change at
    constant luma, grain kept by a lossless coder, a pan of half a pixel ...): none is called a
    repeat, no cadence."""
    path, pics = _clip(tmp_path, source, w, h, crf=crf)
    assert all((a != b).any() for a, b in zip(pics, pics[1:], strict=False))
    rep = decide(analyse(path), ConvertOptions())
    assert rep.repeat_cadence is None and rep.dedup == "off"
    assert not any(_called(path))


@pytest.mark.parametrize("source,cadence,share", [
    ("twos", "animation on twos", 3), ("threes", "animation on threes", 3), ("testsrc2-twos", "animation on twos", 0),
    ("transfer-5th", "a repeated frame every 5 frames", 3),
])
def test_true_repeats_are_still_found(tmp_path, source, cadence, share):
    """Repeats made by doubling frames, coded at crf 23: the cadence is found (its test allows for
    the coder's refinement of a repeated picture), and the frames the strict test drops are all
    true repeats: at least a third of them, except where x264 refines the saturated colours of
    testsrc2 by up to 24/255 (those are kept: a short stop, never a lost picture)."""
    path, pics = _clip(tmp_path, source, 320, 180)
    rep = decide(analyse(path), ConvertOptions())
    truth = [bool((a == b).all()) for a, b in zip(pics, pics[1:], strict=False)]
    assert rep.dedup == "on" and rep.repeat_cadence == cadence and rep.frames_repeated == sum(truth)
    called = _called(path)
    assert not any(c and not t for c, t in zip(called, truth, strict=True)) and sum(called) * share >= sum(truth) * (share > 0)


def test_testsrc2_64x48_keeps_every_change_of_picture(tmp_path):
    """The case seen: testsrc2 at 64x48, 25 -> 50 with the default --dedup auto. At that size the
    pattern itself repeats pictures (its moving parts step by whole pixels: 18 of the first 39
    pairs are identical); those may go, but every frame that changes the picture is in the output,
    copied at its own time (output frame 2k is source frame k). Before: 8 frames that changed (in
    colour, or a few pixels) were dropped as repeats."""
    path, pics = _clip(tmp_path, "testsrc2", 64, 48, n=25, crf=18)
    r = convert(path, tmp_path / "o.mp4", _opts("50"))
    changes = [k for k in range(1, len(pics)) if (pics[k] != pics[k - 1]).any()]
    assert r.temporal["duplicates_dropped"] <= len(pics) - 1 - len(changes)
    with av.open(path) as c:
        src = [f.to_ndarray(format="rgb24").astype(np.float32) for f in c.decode(video=0)]
    with av.open(str(tmp_path / "o.mp4")) as c:
        out = [f.to_ndarray(format="rgb24").astype(np.float32) for f in c.decode(video=0)]
    assert len(out) == 2 * len(src) == 50
    for k in [0, *changes]:  # re-encoded at crf 10: the nearest source picture, and close to it
        err = [np.abs(out[2 * k] - t).mean() for t in src]
        assert np.abs(src[k] - src[int(np.argmin(err))]).max() == 0 and err[k] < 4, k


def test_a_long_hold_is_not_merged_whole():
    """On twos, a drawing held for 8 frames (a pause) is merged two frames at a time: the frames of
    the pause stay (identical pictures interpolate to the same picture), so the next move takes two
    frames, not eight."""
    import torch

    from filmrt.pipeline.io.source import DecodedFrame
    from filmrt.pipeline.time.cadence.analysis import TemporalReport
    from filmrt.pipeline.time.cadence.retime import TemporalStage

    drawings = [0, 0, 1, 1, 2, 2, 2, 2, 2, 2, 2, 2, 3, 3, 4, 4]
    pics = {k: torch.full((3, 16, 16), 0.1 + 0.2 * k) for k in set(drawings)}
    frames = [DecodedFrame(i, F(i, 25), pics[k].clone(), torch.zeros(36, 64)) for i, k in enumerate(drawings)]
    rep = TemporalReport(dedup="on", repeat_hold=2)
    out = list(TemporalStage(rep, None, "cpu").run(iter(frames)))
    assert [f.ts for f in out] == [F(i, 25) for i in (0, 2, 4, 6, 8, 10, 12, 14)]
    assert all(f.duration == F(2, 25) for f in out) and rep.duplicates_dropped == 8

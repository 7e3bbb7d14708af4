"""Scene cuts on a real trailer: no output frame inside a cut interval is a blend of the two shots."""

from __future__ import annotations

from fractions import Fraction as F

import pytest
import torch
from support.helpers import decode_all

from filmrt.options import RuntimeOptions
from filmrt.pipeline.convert import convert
from filmrt.pipeline.io.decode import PyAVSource
from filmrt.pipeline.options import ConvertOptions, EncodeOptions
from filmrt.pipeline.time.scenes import SceneDetector
from filmrt.quality import psnr

pytestmark = pytest.mark.usefixtures("one_thread")


# bbb_trailer_720p24_cuts.mp4 has a hard cut between frames 592 and 593 (24.667 s -> 24.708 s);
# the range starts on the keyframe at frame 589 (24.5417 s) so that seeking is cheap
SS, T = 24.5417, 0.5


@pytest.fixture(scope="module")
def trailer(shared):
    return shared / "data" / "clips" / "bbb_trailer_720p24_cuts.mp4"


@pytest.fixture(scope="module")
def source_frames(trailer):
    got = decode_all(trailer, ss=SS, t=T)
    assert len(got) == 12
    return got


def cut_interval(source_frames):
    det = SceneDetector()
    from filmrt.pipeline.io.planes import make_thumb

    cuts = [i for i, (_, rgb) in enumerate(source_frames) if det.update(make_thumb(rgb)) and i > 0]
    assert cuts == [4], cuts  # frames 589+3 = 592 | 593
    return cuts[0] - 1, cuts[0]


def test_no_blend_across_cut(trailer, source_frames, tmp_path):
    a, b = cut_interval(source_frames)
    ta, tb = source_frames[a][0] - F(SS), source_frames[b][0] - F(SS)
    out = tmp_path / "o.mp4"
    res = convert(trailer, out, ConvertOptions(fps="60", ss=SS, t=T, runtime=RuntimeOptions(model="blend"),
                                               encode=EncodeOptions(preset="ultrafast")))
    assert res.frames_out == 30
    got = decode_all(out)
    times = [ts for ts, _ in got if ta < ts < tb]
    inside = [rgb for ts, rgb in got if ta < ts < tb]
    assert len(inside) == 2  # 24 -> 60: two output frames fall between 592 and 593
    fa, fb = source_frames[a][1], source_frames[b][1]
    scores = [(psnr(x, fa), psnr(x, fb)) for x in inside]
    assert res.scene_cuts == 1 and res.cut_repeats == 2
    # each frame inside the cut is one of the two shots (encoded: > 35 dB to it) ...
    assert all(max(pa, pb) > 35 for pa, pb in scores), scores
    # ... the nearer one: t = 1/5 -> frame a, t = 3/5 -> frame b
    assert scores[0][0] > scores[0][1] and scores[1][1] > scores[1][0]
    # what a morph/blend at those times would be is far from both shots (the test can tell)
    for ts in times:
        t = float((ts - ta) / (tb - ta))
        blend = (1 - t) * fa + t * fb
        assert max(psnr(blend, fa), psnr(blend, fb)) < 25


def test_detector_finds_the_cut_and_ignores_fast_motion(trailer):
    """64x36 thumbnails straight from the decoder: the cut at 37.500 s (frame 900) is found, the
    fast motion right after it (37.6-37.8 s, frame differences up to 0.096) is not a cut."""
    src = PyAVSource(str(trailer), ss=37.0, t=1.0)
    det = SceneDetector()
    cuts = []
    try:
        for f in src.frames():
            if det.update(f.thumb) and f.index > 0:
                cuts.append(round(float(f.ts), 3))
            assert torch.is_tensor(f.thumb) and tuple(f.thumb.shape) == (36, 64)
    finally:
        src.close()
    assert cuts == [37.5], cuts

"""Issue 12's "done when": on every real clip in ``../shared/data/clips`` the pipeline's decoder
gives the frames in libavcodec's order with FFmpeg's timestamps (none dropped, none moved), and
calls none of them damaged. The pixels are not the question here: the RGB conversion is stubbed
out so the check costs one decode of each clip."""

from __future__ import annotations

from fractions import Fraction

import av
import pytest
import torch
from support.paths import shared_dir

from filmrt.pipeline.io import decode

CLIPS = shared_dir() / "data" / "clips"


def ffmpeg_times(path) -> list[Fraction]:
    """Presentation times as libavcodec outputs the frames (they increase on these clips)."""
    with av.open(str(path)) as c:
        vs = c.streams.video[0]
        tb = Fraction(vs.time_base)
        return [Fraction(f.pts) * tb for f in c.decode(vs)]


@pytest.mark.parametrize("name", [
    "bbb_720p25_audio.mp4", "bikes_640x272_25.mp4", "city_cc0_720x405_25.mpg",
    "bbb_trailer_720p24_cuts.mp4",
])
def test_decoder_agrees_with_ffmpeg_on_real_clips(name, monkeypatch):
    clip = CLIPS / name
    if not clip.is_file():
        pytest.skip(f"{clip} not found (set FILMRT_SHARED)")
    monkeypatch.setattr(decode, "frame_to_rgb", lambda f, spec, device, *tags: (torch.zeros(3, 2, 2), spec))
    monkeypatch.setattr(decode, "make_thumb", lambda rgb: torch.zeros(36, 64))
    want = ffmpeg_times(clip)
    assert all(b > a for a, b in zip(want, want[1:], strict=False))
    src = decode.PyAVSource(str(clip))
    try:
        got = [f.ts for f in src.frames()]
    finally:
        src.close()
    assert got == want and src.problems == [] and src.timestamps_repaired == 0

"""``--ss``/``--t`` windows that do not fall on the source's frame grid, at output rates above
twice the source's: the output ends at the window's end (ffmpeg's ``-t``), and the verification
expects that, not the end of the last source picture in the window.

A window end inside a source picture's span (``--t 0.73`` of 25 fps: the 19th picture spans
0.72-0.76 s) used to be expected to end at that picture's end, one source frame (40 ms) later
than the output, which at 60 fps or more is beyond the one-output-frame tolerance: the
conversion was refused (exit 4) although it was right. Swept over output rates x windows x the two
ways of checking (convert's own plan, and ``filmrt verify`` without one).
"""

from __future__ import annotations

import math
from fractions import Fraction as F

import av
import pytest
from support.synth import make_clip

from filmrt.cli.main import main

RATES = ("50", "60", "60000/1001", "120")
#: (--ss, --t): on the grid, end off it, start off it, both off it
WINDOWS = ((None, "1"), (None, "0.73"), ("0.1", "0.5"), ("0.13", "0.77"), ("00:00:00.30", "00:00:00.45"))


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    return make_clip(tmp_path_factory.mktemp("range") / "in.mp4", width=64, height=48, frames=40)


def _times(path) -> list[F]:
    with av.open(str(path)) as c:
        s = c.streams.video[0]
        return sorted(F(f.pts) * s.time_base for f in c.decode(s))


@pytest.mark.parametrize("rate", RATES)
def test_the_output_ends_at_the_window_end_and_passes_its_checks(clip, tmp_path, rate, capsys):
    src = _times(clip)
    for ss, t in WINDOWS:
        out = tmp_path / f"out-{ss}-{t}.mp4"
        window = [*(["--ss", ss] if ss else []), "--t", t]
        assert main(["convert", clip, str(out), "--fps", rate, "--model", "blend", "--quiet", *window]) == 0, (
            ss, t, capsys.readouterr().err)
        lo = _seconds(ss) if ss else F(0)
        hi = lo + _seconds(t)
        first = min(x for x in src if x >= lo)  # the output starts at the first picture in the window
        r = F(rate)
        got = _times(out)
        # frames on the output grid from the first picture up to (not including) the window's end
        assert len(got) == math.ceil((hi - first) * r), (ss, t, len(got))
        span = got[-1] - got[0] + 1 / r
        assert abs(span - (hi - first)) < 1 / r, (ss, t, float(span))
        assert main(["verify", clip, str(out), *window]) == 0, (ss, t, capsys.readouterr().err)


def test_a_short_output_is_still_refused(clip, tmp_path, capsys):
    """The window's end moves the expectation, not the tolerance: an output missing its last
    tenth of a second fails ``filmrt verify``."""
    out = tmp_path / "out.mp4"
    assert main(["convert", clip, str(out), "--fps", "120", "--model", "blend", "--quiet", "--t", "0.73"]) == 0
    short = tmp_path / "short.mp4"
    with av.open(str(out)) as i, av.open(str(short), "w") as o:
        s = o.add_stream("libx264", rate=120)
        s.width, s.height, s.pix_fmt = 64, 48, "yuv420p"
        frames = list(i.decode(video=0))
        for f in frames[: len(frames) - 12]:
            f.pict_type = av.video.frame.PictureType.NONE
            o.mux(s.encode(f))
        o.mux(s.encode())
    capsys.readouterr()
    assert main(["verify", clip, str(short), "--t", "0.73"]) != 0
    assert "duration" in capsys.readouterr().err


def _seconds(text: str) -> F:
    if ":" in text:
        h, m, s = text.split(":")
        return (int(h) * 60 + int(m)) * 60 + F(s)
    return F(text)


def test_standalone_verify_counts_the_window_as_convert_does(tmp_path, capsys):
    """23.976 -> 59.94 with --ss 1.13 --t 0.77: convert writes 44 frames (from the first picture in
    the window, 1.1678 s, to 1.9 s); `filmrt verify` without a plan counted 45 from --ss moved by the
    first picture's rounding the other way. Both now start the output's clock at the same origin."""
    clip = make_clip(tmp_path / "in.mp4", width=64, height=48, fps=F(24000, 1001), frames=60)
    out = tmp_path / "out.mp4"
    window = ["--ss", "1.13", "--t", "0.77"]
    assert main(["convert", clip, str(out), "--fps", "60000/1001", "--model", "blend", "--quiet", *window]) == 0
    first = min(x for x in _times(clip) if x >= F(113, 100))
    assert len(_times(out)) == math.ceil((F(190, 100) - first) * F(60000, 1001)) == 44
    capsys.readouterr()
    assert main(["verify", clip, str(out), *window]) == 0, capsys.readouterr().err

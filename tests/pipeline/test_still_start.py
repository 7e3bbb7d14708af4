"""A programme that opens still (black, bars, a slate) is judged where it moves.

Broadcast masters open with black, bars and tone or a slate; 60 still frames say nothing about
fields or cadence (idet: undetermined; no motion for the field-instant test). The analysis took
them as the whole answer: a 25i programme flagged tff after 3 s of black was "flagged interlaced
but no combing found: treated as progressive", and its combed frames went to the model (exit 0).
"""

import json
import subprocess
import sys

import av
import pytest
from support.ffmpeg_oracle import ffmpeg

from filmrt.pipeline.options import ConvertOptions
from filmrt.pipeline.time.cadence.analysis import _idet_verdicts, analyse, decide

W, H = 160, 96


def _programme(path, opening: str, *, interlaced: bool = True, seconds: int = 3) -> None:
    """``seconds`` of ``opening`` (a lavfi source's name; colour sources black), then 3 s of a moving testsrc2; woven
    tff into 25i (or taken at 25p) and coded as interlaced H.264 either way (flags say tff)."""
    weave = "interlace=scan=tff,setfield=tff" if interlaced else "fps=25,setfield=tff"
    colour = ":c=black" if opening == "color" else ""
    graph = (f"{opening}=s={W + 80}x{H}:r=50:d={seconds}{colour},format=yuv420p[a];"
             f"testsrc2=s={W + 80}x{H}:r=50:d=3,format=yuv420p[b];[a][b]concat=n=2:v=1,"
             f"crop={W}:{H}:x='if(gte(n,{50 * seconds}),mod(4*n,80),0)':y=0,{weave}")
    ffmpeg("-f", "lavfi", "-i", graph, "-c:v", "libx264", "-preset", "ultrafast", "-crf", "14",
           "-pix_fmt", "yuv420p", "-flags", "+ildct+ilme", "-x264opts", "tff=1", str(path))


@pytest.mark.parametrize("opening", ["color", "smptehdbars"])
def test_interlaced_programme_after_a_still_opening_is_deinterlaced(tmp_path, opening):
    src = tmp_path / "programme.mkv"
    _programme(src, opening)
    rep = decide(analyse(src), ConvertOptions())
    assert (rep.detected, rep.deinterlace, rep.field_parity) == ("interlaced", "bwdif", "tff")
    assert rep.analysed_at is not None and 0 < rep.analysed_at < 6
    assert any("hold still" in n for n in rep.notes)


def test_progressive_programme_after_a_still_opening_stays_progressive(tmp_path):
    """The same opening before 25p frames (flagged tff): looking further in must not turn it
    interlaced; the field-instant test sees the moving progressive frames."""
    src = tmp_path / "programme.mkv"
    _programme(src, "color", interlaced=False)
    rep = decide(analyse(src), ConvertOptions())
    assert (rep.detected, rep.deinterlace) == ("progressive", "off")
    assert rep.analysed_at is not None


def test_a_moving_start_is_judged_at_the_start(tmp_path):
    """No still opening: the first frames decide, as before (no second look, no note)."""
    src = tmp_path / "programme.mkv"
    _programme(src, "testsrc2", seconds=1)
    rep = decide(analyse(src), ConvertOptions())
    assert rep.analysed_at is None and not any("hold still" in n for n in rep.notes)


def test_still_throughout_keeps_the_start(tmp_path):
    """Nothing moves anywhere: the start's verdict stands (nothing better to look at)."""
    src = tmp_path / "still.mkv"
    ffmpeg("-f", "lavfi", "-i", f"smptehdbars=s={W}x{H}:r=25:d=8", "-c:v", "libx264", "-preset", "ultrafast",
           "-pix_fmt", "yuv420p", str(src))
    rep = decide(analyse(src), ConvertOptions())
    assert rep.analysed_at is None and rep.frames_analysed == 60 and rep.detected == "progressive"


def test_convert_deinterlaces_the_programme_after_black(tmp_path):
    """End to end: the JSON report says bwdif, and the output is at field rate, every frame kept."""
    src, out, report = tmp_path / "programme.mkv", tmp_path / "out.mkv", tmp_path / "r.json"
    _programme(src, "color")
    r = subprocess.run([sys.executable, "-m", "filmrt", "convert", str(src), str(out), "--fps", "50",
                        "--model", "blend", "--quiet", "--json", str(report)], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    temporal = json.loads(report.read_text())["temporal"]
    assert temporal["deinterlace"] == "bwdif" and temporal["analysed_at"] > 0
    with av.open(str(out)) as c:
        frames = list(c.decode(video=0))
    assert abs(len(frames) - 300) <= 1  # 6 s at 50 fps
    combed = _idet_verdicts(frames[150:])  # the programme: no combing left in it
    assert combed["tff"] + combed["bff"] <= 0.1 * len(frames[150:]), combed
    with av.open(str(src)) as c:  # the same check sees the source's combing
        src_verdicts = _idet_verdicts(list(c.decode(video=0))[75:])
    assert src_verdicts["tff"] >= 0.5 * 75, src_verdicts

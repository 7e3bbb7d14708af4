"""The conformance matrix (issue item 2): containers x codecs x streams x timing, converted.

Every run (tests/support/conformance.py) converts one generated input with ``filmrt convert``
(the real CLI, in a subprocess, ``--model blend``) and must end one of three ways:

- exit 0: the output is read back (tests/support/conformance_checks.py) and must hold the planned frames
  on the output grid, every source stream (or a reported reason for leaving it out), readable
  copies, the SAR, the field order asked for, the timecode and chapters (moved by --ss, stretched
  by --slowmo), the captions; a codec that changed family has a note; ``filmrt verify IN OUT``
  (without the plan) passes it too, where it applies (no --slowmo, no --interlace);
- exit 2: refused up front, in one line, naming an option or a stream, nothing at OUT;
- anything else (3: damaged input, 4: the product's verification failed, a traceback) fails.

Known failing classes are listed in :data:`KNOWN` (class -> run id patterns), marked
``xfail(strict=True)``: a fix makes them XPASS, which fails, and the line is removed. CI runs the
``ci`` runs; ``make conformance`` (FILMRT_CONFORMANCE=full) runs all, plus seeded random
combinations, and writes the table of results (tests/conformance/conftest.py).
"""

from __future__ import annotations

import fnmatch
import json
import os
import subprocess
import sys
from fractions import Fraction
from pathlib import Path

import pytest
from support import conformance_checks as checks
from support import ffmpeg_oracle as oracle
from support.conformance import Run, matrix
from support.conformance_media import make

from filmrt.pipeline.io.verify import verify_pair

FULL = os.environ.get("FILMRT_CONFORMANCE", "") == "full"
SEED = int(os.environ.get("FILMRT_CONFORMANCE_SEED", "0"))
N_RANDOM = int(os.environ.get("FILMRT_CONFORMANCE_RANDOM", "30"))
TIMEOUT = float(os.environ.get("FILMRT_CONFORMANCE_TIMEOUT", "180"))
COMMON = ["--model", "blend", "--quiet", "--threads", "1"]

# class -> run ids (fnmatch patterns over Run.id, "<container>-<video>-<audio>[-<extra|timing>]->
# <output>:<options>"): the damage classes not fixed yet, first match wins. ONE table; a fix makes
# its runs XPASS (a failure): delete the line. "(new)": found by this matrix, not in the issue.
_AUDIO = ("aac", "ac3", "eac3", "mp2", "pcm16", "pcm24", "flac", "opus")
KNOWN: dict[str, list[str]] = {
    # the runs that still fail on main (2026-12-06, after the fixes of the classes: every other
    # run of those classes passes now). Each line says what still fails; a fix flips its runs (XPASS).
}


#: runs where ``filmrt verify IN OUT`` without the plan cannot know what convert did (docs/verify.md
#: says so); convert's own check and this matrix's checks still hold for them
STANDALONE_LIMITS: dict[str, list[str]] = {
    "an interlaced source cut with --ss: a deinterlaced field straddling --ss may start OUT": ["*-tff->*:sst",
                                                                                             "*-bff->*:sst"],
    "pictures without timestamps before the first one (a -c copy cut into Matroska) are placed by convert's "
    "clock": ["mkv-*-neg_start->*:sst"],
}


def _standalone_limit(run: Run) -> str | None:
    return next((why for why, pats in STANDALONE_LIMITS.items() if any(fnmatch.fnmatchcase(run.id, p) for p in pats)),
                None)


def _known(run: Run) -> str | None:
    for cls, pats in KNOWN.items():
        if any(fnmatch.fnmatchcase(run.id, p) for p in pats):
            return cls
    return None


def _params():
    out = []
    for run in matrix(SEED, N_RANDOM if FULL else 0):
        marks = [] if run.ci else [pytest.mark.conformance_full]
        cls = _known(run)
        if cls:
            marks.append(pytest.mark.xfail(strict=True, reason=cls))
        out.append(pytest.param(run, id=run.id, marks=marks))
    return out


@pytest.fixture(scope="session")
def inputs(tmp_path_factory):
    """Case -> (input path, its Media): each input is made once per session."""
    oracle.require()
    root = tmp_path_factory.mktemp("conformance-inputs")
    cache: dict = {}

    def get(case):
        if case not in cache:
            path = make(case, root / case.name)
            cache[case] = (path, checks.read(path))
        return cache[case]

    return get


def _convert(src, dst, args, report) -> subprocess.CompletedProcess:
    cmd = [sys.executable, "-m", "filmrt", "convert", str(src), str(dst), *args, *COMMON, "--json", str(report)]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=TIMEOUT, cwd=Path(dst).parent)


def _planned(run: Run, src_path, src: checks.Media) -> tuple[int, Fraction]:
    """(frames, output rate) the run must produce: FFmpeg's ``-vf fps`` count of the source (the
    oracle), or where it cannot read the input (MPEG-TS), the source's duration x the rate."""
    rate = Fraction(25) if run.optset in ("tff", "bff", "slowmo") else Fraction(50)
    scale = 2 if run.optset == "slowmo" else 1  # slow motion x2 at 25 fps: the frames of 50 fps
    v0, d = (float(min(src.times)) if src.times else 0.0), checks.duration(src)
    w0 = checks.file_start(src) + 0.5
    if run.optset == "sst":  # the window counts from the file's start, the earliest stream's
        # (not FFmpeg's count: its -ss/-t on a file whose video starts late keeps a whole second of video)
        return round(checks.overlap(v0, v0 + d, w0, w0 + 1.0) * 50), rate
    if oracle.READS_TS or run.case.container not in ("ts", "m2ts"):
        return oracle.fps_frames(src_path, str(rate * scale), stream=src.main), rate
    return round(d * rate * scale), rate


@pytest.mark.parametrize("run", _params())
def test_conversion(run: Run, inputs, tmp_path, record_property):
    src_path, src = inputs(run.case)
    dst = tmp_path / f"out.{run.out_ext}"
    report_path = tmp_path / "report.json"
    r = _convert(src_path, dst, run.args, report_path)
    last = [ln for ln in r.stderr.strip().splitlines() if ln.strip()]
    record_property("exit", r.returncode)
    record_property("message", last[-1][:160] if last else "")
    assert "Traceback" not in r.stderr, f"traceback (exit {r.returncode}):\n{r.stderr[-1500:]}"
    if r.returncode == 2:
        msg = last[-1] if last else ""
        assert msg.startswith("filmrt:"), f"refused without a one-line filmrt: message: {r.stderr[-500:]}"
        assert "--" in msg or "#" in msg or "stream" in msg, f"refusal names no option or stream: {msg}"
        assert not dst.exists(), "refused, but something was written at OUT"
        return
    assert r.returncode == 0, f"exit {r.returncode}: {r.stderr[-800:]}"
    report = json.loads(report_path.read_text())
    out = checks.read(dst)
    frames, rate = _planned(run, src_path, src)
    slack = 2 if run.case.timing in ("vfr", "size_change") else 1
    checks.check_frames(out, frames, rate, slack)
    checks.check_picture(src, out, report, run.case.video)
    checks.check_streams(src, out, report, run.out_ext)
    ss = 0.5 if run.optset == "sst" else 0.0
    w0 = checks.file_start(src) + 0.5
    checks.check_audio(src, out, (w0, w0 + 1.0) if run.optset == "sst" else None, run.optset == "slowmo")
    if run.optset in ("tff", "bff"):
        checks.check_fields(out, run.optset)
    if run.case.extra in ("timecode", "timecode_tag", "gop_timecode"):
        checks.check_timecode("01:00:00:00", out, run.out_ext, ss, rate)
    checks.check_chapters(src, out, run.out_ext, 2.0 if run.optset == "slowmo" else 1.0, ss)
    checks.check_captions(src, out, out.codec in ("h264", "mpeg2video"))
    if run.optset in ("plain", "sst") and not _standalone_limit(run):  # `filmrt verify IN OUT` (no plan) agrees
        rep = verify_pair(src_path, dst, ss=0.5 if run.optset == "sst" else None,
                          t=1.0 if run.optset == "sst" else None)
        assert rep.ok, f"filmrt verify IN OUT refuses this output: {rep.differences}"


# ---------------------------------------------------------------- runs that are not a container x codec cell
SPECIAL = {
    "json-names-output": "the JSON report path is OUT itself",
    "json-names-input": "the JSON report path is IN itself",
    "hls-output": "OUT is an HLS playlist (.m3u8)",
    "dash-output": "OUT is a DASH manifest (.mpd)",
}
# the special runs (--json naming IN or OUT, HLS/DASH output) all pass since their fixes
KNOWN_SPECIAL: dict[str, str] = {}


def _special_params():
    return [pytest.param(k, id=k, marks=[pytest.mark.xfail(strict=True, reason=KNOWN_SPECIAL[k])] if k in KNOWN_SPECIAL else [])
            for k in SPECIAL]  # fmt: skip


@pytest.mark.parametrize("kind", _special_params())
def test_special(kind, inputs, tmp_path):
    """Exit 0 with a readable output and an intact input, or a one-line refusal (exit 2)."""
    from support.conformance import Case

    src_path, _ = inputs(Case("mkv", "h264", "flac"))
    src = tmp_path / "in.mkv"
    src.write_bytes(src_path.read_bytes())
    before = src.read_bytes()
    ext = {"hls-output": "m3u8", "dash-output": "mpd"}.get(kind, "mkv")
    dst = tmp_path / f"out.{ext}"
    report = {"json-names-output": dst, "json-names-input": src}.get(kind, tmp_path / "r.json")
    base = [sys.executable, "-m", "filmrt", "convert", str(src), str(dst), "--fps", "50", *COMMON]
    # (two converts to one OUT at once is a race, not a cell of the matrix: it passes or fails by timing)
    cwd = tmp_path / "cwd"  # nothing may be written to the working folder (HLS/DASH segments once were)
    cwd.mkdir()
    r = subprocess.run([*base, "--json", str(report)], capture_output=True, text=True, timeout=TIMEOUT, cwd=cwd)
    assert "Traceback" not in r.stderr and r.returncode in (0, 2), f"exit {r.returncode}: {r.stderr[-800:]}"
    assert src.read_bytes() == before, "the input was changed"
    assert not list(cwd.iterdir()), f"files written to the working folder: {sorted(p.name for p in cwd.iterdir())}"
    if r.returncode == 2:
        assert not dst.exists() or kind == "json-names-input", "refused, but OUT was written"
        return
    out = checks.read(dst)
    assert len(out.times) >= 95, f"{kind}: the output holds {len(out.times)} readable frames, planned 100"

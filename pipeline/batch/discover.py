"""Which files under SRC are videos, and where each one's output goes under DST.

Videos are recognised by extension (:data:`VIDEO_EXTENSIONS`); with ``probe=True`` files with
other extensions (except the obvious non-videos of :data:`NOT_VIDEO_EXTENSIONS`) are probed and
kept when they hold a moving video stream. ``include`` / ``exclude`` are fnmatch patterns on the
path relative to SRC, or on the file name (``*`` also matches ``/``). Hidden files and folders
(``.name``), symlinked folders and DST itself (when it is inside SRC) are never walked, and only
regular files are taken (a FIFO is never opened); what was left out and why is returned to the
caller (``left_out``), which says so in the summary.

The output of ``SRC/rel`` is ``DST/rel``: the tree is mirrored. The container is kept when it can
carry the output (:data:`KEEP_CONTAINERS`), else it becomes ``.mkv``; ``ext`` forces one.
"""

from __future__ import annotations

import fnmatch
import os
import stat
from collections.abc import Sequence
from pathlib import Path

from filmrt.pipeline.io.probe import probe as probe_media

#: extensions taken as videos without probing (lower case)
VIDEO_EXTENSIONS = frozenset(
    ".mp4 .m4v .mov .mkv .webm .avi .mpg .mpeg .m2v .ts .mts .m2ts .vob .wmv .asf .flv .f4v "
    ".3gp .3g2 .ogv .dv .mxf .y4m .nut .rm .rmvb .divx".split()
)
#: extensions never probed with ``probe=True`` (images, audio, subtitles, documents)
NOT_VIDEO_EXTENSIONS = frozenset(
    ".jpg .jpeg .png .gif .bmp .tif .tiff .webp .heic .exr .dpx .svg .srt .ass .ssa .vtt .sub .idx .sup "
    ".txt .md .nfo .json .xml .csv .pdf .doc .docx .html .htm .log .py .sh .db .sqlite "
    ".mp3 .aac .flac .wav .ogg .opus .m4a .wma .ac3 .zip .tar .gz .7z .rar .iso .part .tmp".split()
)
#: containers kept as they are for the output; others become .mkv (see :func:`output_path`)
KEEP_CONTAINERS = frozenset(".mp4 .m4v .mov .mkv .avi .ts .mts .m2ts .flv".split())
FALLBACK_CONTAINER = ".mkv"


def _matches(rel: str, patterns: Sequence[str]) -> bool:
    name = rel.rsplit("/", 1)[-1]
    return any(fnmatch.fnmatch(rel, p) or fnmatch.fnmatch(name, p) for p in patterns)


def probe_is_video(path: str | os.PathLike) -> bool:
    """True when ``path`` holds a moving video stream (not a still image), as far as its headers
    say; when they give no duration, its video packets are counted (more than one = moving)."""
    try:
        info = probe_media(path, count=False)
        if info.format == "image2" or info.format.endswith("_pipe") or info.video is None:
            return False
        if (info.duration or 0) > 0:
            return True
        video = probe_media(path).video
        return video is not None and (video.frames > 1 or (video.duration or 0) > 0)
    except Exception:  # noqa: BLE001 - whatever FFmpeg cannot read is not a video here
        return False


#: why a file or folder under SRC was left out (keys of ``find_videos``'s ``left_out``)
HIDDEN = "hidden (name starts with '.')"
SYMLINKED_DIR = "symlinked folder (not followed)"
NOT_REGULAR = "not a regular file (FIFO, device, socket)"


def _kind(path: Path) -> str | None:
    """None for a regular file (links followed), else why it is left out. A file that cannot be
    looked at (a broken link) is taken: the plan reports it as failed ("cannot read source")."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    return None if stat.S_ISREG(st.st_mode) else NOT_REGULAR


def find_videos(
    src: str | os.PathLike,
    *,
    include: Sequence[str] = (),
    exclude: Sequence[str] = (),
    probe: bool = False,
    skip: Sequence[str | os.PathLike] = (),
    left_out: dict[str, list[str]] | None = None,
) -> list[tuple[str, Path]]:
    """The videos under ``src`` as sorted (relative POSIX path, absolute path) pairs.

    ``src`` may also be a single file. ``skip``: folders never entered (DST when inside SRC).
    ``left_out``: filled with what was not walked or not taken, by reason (:data:`HIDDEN` files
    and folders, :data:`SYMLINKED_DIR`, and, among names that would be taken (a video extension,
    or any with ``probe``), :data:`NOT_REGULAR`): relative paths. A FIFO
    named ``x.mp4`` is never opened (opening it would wait for a writer forever).
    """
    out: dict[str, list[str]] = left_out if left_out is not None else {}
    root = Path(src).resolve()
    if root.is_file():
        return [(root.name, root)]
    skip_dirs = {Path(s).resolve() for s in skip}
    found: list[tuple[str, Path]] = []
    for dirpath, dirnames, filenames in os.walk(root):
        d = Path(dirpath)
        kept = []
        for n in sorted(dirnames):
            if (d / n).resolve() in skip_dirs:
                continue
            why = HIDDEN if n.startswith(".") else SYMLINKED_DIR if (d / n).is_symlink() else None
            if why:
                out.setdefault(why, []).append((d / n).relative_to(root).as_posix() + "/")
            else:
                kept.append(n)
        dirnames[:] = kept
        for name in sorted(filenames):
            p = d / name
            rel = p.relative_to(root).as_posix()
            if name.startswith("."):
                out.setdefault(HIDDEN, []).append(rel)
                continue
            if include and not _matches(rel, include):
                continue
            if exclude and _matches(rel, exclude):
                continue
            ext = p.suffix.lower()
            if ext not in VIDEO_EXTENSIONS and not (probe and ext not in NOT_VIDEO_EXTENSIONS):
                continue
            why = _kind(p)
            if why:
                out.setdefault(why, []).append(rel)
            elif ext in VIDEO_EXTENSIONS or probe_is_video(p):
                found.append((rel, p))
    found.sort()
    return found


def output_path(dst_root: str | os.PathLike, rel: str, ext: str | None = None) -> Path:
    """Where the output of ``SRC/rel`` goes: the same relative path under DST.

    ``ext`` (".mp4", "mkv"...) forces the container; by default the source's is kept when it
    can carry H.264/HEVC and anything it had (:data:`KEEP_CONTAINERS`), else ``.mkv``.
    """
    p = Path(dst_root) / rel
    if ext:
        ext = ext if ext.startswith(".") else "." + ext
        return p.with_suffix(ext)
    if p.suffix.lower() in KEEP_CONTAINERS:
        return p
    return p.with_suffix(FALLBACK_CONTAINER)

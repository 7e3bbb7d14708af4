"""Writing files safely: the one atomic write, the one file hash.

Every file filmrt produces (weights, images, JSON reports, ONNX graphs, engines, manifests) is
written to a temporary file in the destination's folder and renamed over the destination at the
end, so a reader never sees a half-written file and a crash leaves the old file (or none) in place.

Rules (ffmpeg's habits, see DESIGN.md "Conventions"):

- the temp file is ``.NAME.filmrt-XXXXXXXX`` beside the destination (same filesystem: one rename);
- a file that is replaced keeps its permission bits; a new file gets the usual 0666 & ~umask;
- a destination that is not a regular file (a FIFO, a character device such as ``/dev/stdout``)
  is written through as a stream, never renamed over; a symlink is followed (its target is
  replaced, the link stays);
- on any error the temp file is removed and the error propagates.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import stat
import tempfile
from collections.abc import Iterator
from pathlib import Path

from filmrt.errors import FilmrtError

#: infix of every temp file filmrt writes beside a destination
TEMP_INFIX = ".filmrt-"


def is_stream_target(path: str | os.PathLike) -> bool:
    """True when ``path`` exists and is not a regular file (FIFO, device, socket): write, never rename."""
    try:
        st = os.stat(path)  # follows symlinks: /dev/stdout -> /proc/self/fd/1 -> pipe
    except OSError:
        return False
    return not stat.S_ISREG(st.st_mode) and not stat.S_ISDIR(st.st_mode)


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike, *, suffix: str | None = None) -> Iterator[Path]:
    """Yield a temp path beside ``path``; on success it is renamed over ``path`` (see module doc).

    For writers that need a file name (safetensors, PIL, onnx). The caller writes the whole file
    to the yielded path. ``suffix`` (default: ``path``'s own) keeps extension-sniffing writers happy.
    """
    final = Path(os.path.realpath(os.fspath(path)))  # follow a symlink: replace its target
    if final.is_dir():
        raise FilmrtError(f"cannot write {path}: it is a directory")
    parent = final.parent
    if not parent.is_dir():
        raise FilmrtError(f"cannot write {path}: folder {parent} does not exist")
    try:
        fd, tmp = tempfile.mkstemp(
            dir=parent, prefix=f".{final.stem}{TEMP_INFIX}", suffix=final.suffix if suffix is None else suffix
        )
    except OSError as e:
        raise FilmrtError(f"cannot write {path}: {e.strerror or e}") from e
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        mode = stat.S_IMODE(os.stat(final).st_mode) if final.exists() else 0o666 & ~_umask()
        yield tmp_path
        os.chmod(tmp_path, mode)
        os.replace(tmp_path, final)
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp_path.unlink()


def atomic_write(path: str | os.PathLike, data: bytes | str) -> Path:
    """Write ``data`` to ``path`` atomically (or stream it into a FIFO/device); returns ``path``."""
    raw = data.encode() if isinstance(data, str) else data
    p = Path(path)
    try:
        if is_stream_target(p):
            with open(p, "wb") as f:
                f.write(raw)
            return p
        with atomic_path(p) as tmp, open(tmp, "wb") as f:
            f.write(raw)
            f.flush()
            os.fsync(f.fileno())
    except OSError as e:
        raise FilmrtError(f"cannot write {path}: {e.strerror or e}") from e
    return p


def write_json(path: str | os.PathLike, data) -> Path:
    """A JSON report (indent 2, trailing newline), written with :func:`atomic_write`."""
    return atomic_write(path, json.dumps(data, indent=2, default=str) + "\n")


def check_writable(path: str | os.PathLike, what: str = "output") -> None:
    """Fail early (before any work) when ``path`` cannot be written: missing folder, a directory."""
    p = Path(path)
    if is_stream_target(p):
        return
    if p.is_dir():
        raise FilmrtError(f"{what} {p} is a directory: give a file name")
    parent = Path(os.path.realpath(p)).parent
    if not parent.is_dir():
        raise FilmrtError(f"{what} {p}: folder {parent} does not exist")
    if not os.access(parent, os.W_OK):
        raise FilmrtError(f"{what} {p}: folder {parent} is not writable")


def sha256_file(path: str | os.PathLike, chunk: int = 1 << 20) -> str:
    """Hex sha256 of a file's bytes."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(chunk), b""):
            h.update(block)
    return h.hexdigest()

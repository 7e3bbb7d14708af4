"""Writing files safely: the one atomic write, the one file hash.

Every file filmrt produces (weights, images, JSON reports, ONNX graphs, engines, manifests) is
written to a temporary file in the destination's folder and renamed over the destination at the
end, so a reader never sees a half-written file and a crash leaves the old file (or none) in place.

Rules (ffmpeg's habits, see DESIGN.md "Conventions"):

- the temp file is ``.NAME.filmrt-<pid>-XXXXXXXX.EXT`` beside the destination (same filesystem: one
  rename); the writer's process id in the name lets a later write of the same destination remove
  the temp files of runs that died without cleaning up (``kill -9``, a power cut): only those whose
  process is gone, never a live run's (:func:`remove_stale_temps`);
- a file that is replaced keeps its permission bits; a new file gets the usual 0666 & ~umask;
- a destination that is not a regular file (a FIFO, a character device such as ``/dev/stdout``)
  is written through as a stream, never renamed over; a symlink is followed (its target is
  replaced, the link stays);
- on any error the temp file is removed and the error propagates;
- without ``-y`` the rename itself refuses an OUT that appeared while we worked (another run
  writing the same OUT): the temp file is hard-linked to OUT, which fails if OUT exists, then
  unlinked (``renameat2(RENAME_NOREPLACE)`` where the filesystem has no hard links). Checking
  first and renaming later would let two runs both "succeed", the second silently replacing the first;
- a file we write (``--json``, ``-o``) never names one of the command's inputs or its other
  output (:func:`check_distinct`): replacing the input with a report is the worst kind of damage.

The overwrite rule of the commands that write media (ffmpeg's, see :func:`check_overwrite`): an
existing OUT is refused unless the user says ``-y``/``--overwrite``; ``-n``/``--no-overwrite``
never overwrites. Streams (``-``, FIFOs, devices) are always written.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import errno
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


def _temp_prefix(final: Path, pid: int | None = None) -> str:
    return f".{final.stem}{TEMP_INFIX}{os.getpid() if pid is None else pid}-"


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # EPERM: a process of another user holds this pid
        return True
    return True


def remove_stale_temps(path: str | os.PathLike) -> list[Path]:
    """Remove the temp files that dead runs left beside ``path`` (``.NAME.filmrt-<pid>-*.EXT``
    whose ``<pid>`` no longer runs); returns what was removed. A live run's temp is kept, and so
    is anything whose name does not carry a pid. Process ids are this machine's: on a shared
    filesystem a run on another host is told apart only if its pid is not alive here either, so
    temp files of other hosts are kept when in doubt (a pid alive here)."""
    final = Path(os.path.realpath(os.fspath(path)))
    removed = []
    head = f".{final.stem}{TEMP_INFIX}"
    try:
        names = os.listdir(final.parent)
    except OSError:
        return removed
    for name in names:
        if not (name.startswith(head) and name.endswith(final.suffix)):
            continue
        pid_text, sep, rest = name[len(head):].partition("-")
        if not sep or not pid_text.isdigit() or int(pid_text) == os.getpid() or _pid_alive(int(pid_text)):
            continue
        with contextlib.suppress(OSError):
            (final.parent / name).unlink()
            removed.append(final.parent / name)
    return removed


def output_exists(path: str | os.PathLike) -> bool:
    """True when writing ``path`` would replace an existing file (not a stream, not a directory)."""
    p = os.fspath(path)
    # exists() follows symlinks: a dangling one replaces nothing (its target is created)
    return p != "-" and os.path.exists(p) and not is_stream_target(p) and not os.path.isdir(p)


def check_overwrite(path: str | os.PathLike, overwrite: bool | None, what: str = "output") -> None:
    """ffmpeg's rule, checked before any work: refuse an existing ``path`` unless ``overwrite``.

    ``overwrite``: True (``-y``) replaces it (keeping its mode), False (``-n``) and None (neither
    given) refuse it. Unlike ffmpeg there is no question asked on a terminal: scripts and people
    get the same answer."""
    if overwrite or not output_exists(path):
        return
    hint = "" if overwrite is False else " (pass -y/--overwrite to replace it)"
    raise FilmrtError(f"{what} {path} exists, not overwritten{hint}")


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike, *, suffix: str | None = None, replace: bool = True) -> Iterator[Path]:
    """Yield a temp path beside ``path``; on success it is renamed over ``path`` (see module doc).
    ``replace=False``: the rename refuses (FilmrtError) when ``path`` exists by then.

    For writers that need a file name (safetensors, PIL, onnx). The caller writes the whole file
    to the yielded path. ``suffix`` (default: ``path``'s own) keeps extension-sniffing writers happy.
    """
    final = Path(os.path.realpath(os.fspath(path)))  # follow a symlink: replace its target
    if final.is_dir():
        raise FilmrtError(f"cannot write {path}: it is a directory")
    parent = final.parent
    if not parent.is_dir():
        raise FilmrtError(f"cannot write {path}: folder {parent} does not exist")
    remove_stale_temps(final)
    try:
        fd, tmp = tempfile.mkstemp(
            dir=parent, prefix=_temp_prefix(final), suffix=final.suffix if suffix is None else suffix
        )
    except OSError as e:
        raise FilmrtError(f"cannot write {path}: {e.strerror or e}") from e
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        mode = stat.S_IMODE(os.stat(final).st_mode) if final.exists() else 0o666 & ~_umask()
        yield tmp_path
        os.chmod(tmp_path, mode)
        if replace:
            os.replace(tmp_path, final)
        else:
            _rename_noreplace(tmp_path, final, path)
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp_path.unlink()


_RENAME_NOREPLACE = 1  # linux/fs.h


def _renameat2_noreplace(src: Path, dst: Path) -> bool:
    """renameat2(RENAME_NOREPLACE) through libc; False when this system or filesystem lacks it."""
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or None, use_errno=True)
        fn = libc.renameat2
    except (OSError, AttributeError):
        return False
    at_fdcwd = -100
    if fn(at_fdcwd, os.fsencode(src), at_fdcwd, os.fsencode(dst), _RENAME_NOREPLACE) == 0:
        return True
    err = ctypes.get_errno()
    if err in (errno.EINVAL, errno.ENOSYS, errno.ENOTSUP):
        return False
    raise OSError(err, os.strerror(err), str(dst))


def _rename_noreplace(tmp: Path, final: Path, shown) -> None:
    """Move ``tmp`` to ``final`` unless ``final`` exists, atomically (see the module docstring)."""
    try:
        try:
            os.link(tmp, final)  # FileExistsError if final appeared meanwhile
            linked = True
        except FileExistsError:
            raise
        except OSError:  # no hard links here (FAT, some network filesystems)
            linked = False
        if linked:
            os.unlink(tmp)
        elif not _renameat2_noreplace(tmp, final):
            if os.path.lexists(final):  # last resort, not atomic: still refuses what is already there
                raise FileExistsError(errno.EEXIST, "exists", str(final))
            os.rename(tmp, final)
    except FileExistsError:
        raise FilmrtError(f"output {shown} exists, not overwritten: it appeared while this run was writing "
                          "(another run wrote it? pass -y/--overwrite to replace it)") from None


def _same_file(a: str, b: str) -> bool:
    try:
        return os.path.samefile(a, b)
    except OSError:  # one does not exist (yet): the same path names the same future file
        return os.path.realpath(a) == os.path.realpath(b)


def check_distinct(path: str | os.PathLike | None, others, what: str = "output") -> None:
    """Refuse (before any work) a file to write that is one of ``others`` (the inputs, the other
    outputs): ``filmrt convert IN OUT --json IN`` would replace the input with a report."""
    if path is None or os.fspath(path) == "-" or is_stream_target(path):
        return
    for other in others:
        if other is None or os.fspath(other) == "-":
            continue
        if _same_file(os.fspath(path), os.fspath(other)):
            raise FilmrtError(f"{what} {path} is the same file as {other}: write it to a new file")


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

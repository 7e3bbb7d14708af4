"""glibc's allocator told to keep what PyTorch frees: the one process-wide setting the program makes.

PyTorch on the CPU allocates every tensor with ``malloc``. glibc serves a block above its mmap
threshold (dynamic, at most 32 MiB) with a fresh ``mmap`` and gives it back with ``munmap`` when
it is freed, and a thread's arena serves nothing above 64 MiB from its heap. RIFE's full-resolution
tensors are 4-110 MB at 720p, so every model call maps its working set, the kernel zero-fills it
one 4 KiB page fault at a time, and the call unmaps it again: ~300k page faults and ~0.6 s of
system time per 720p pair, a third of the model's CPU time (docs/backends.md, "System time of
torch on the CPU"). Three ``mallopt`` calls make glibc keep freed blocks for the next call:

- ``M_MMAP_THRESHOLD`` INT_MAX: blocks come from the heap, not from ``mmap`` (this also fixes the
  threshold, which stops its dynamic adjustment);
- ``M_TRIM_THRESHOLD`` INT_MAX: the heap's free top is not returned to the kernel after each call;
- ``M_ARENA_MAX`` 1: every thread allocates from the main arena (``brk``), whose heap has no size
  limit, so the inference thread of ``convert`` gets the same reuse.

The cost is memory: freed blocks stay mapped, so the process's RSS stays at its high-water mark
instead of falling between calls, and fragmentation can hold more (measured in docs/backends.md,
"Against vs-rife"). It is process-wide, so only the program sets it, never library code (a
program embedding filmrt, or a test calling :func:`filmrt.cli.main.main`, keeps its own
allocator): run as the program (:mod:`filmrt.cli.launch`), :func:`filmrt.cli.main.main` calls
:func:`keep_freed_memory` after parsing, before the command starts a thread, for a command that
does its work on the CPU (:func:`for_cpu_work`: ``convert``, ``batch``, ``live``, ``interpolate``,
``eval``, ``eval-video`` with ``--device cpu``, or auto without a CUDA GPU), whatever the backend:
PyTorch is not only the torch backend's model. The input's interlacing/cadence analysis and the
Y'CbCr <-> RGB conversion allocate full frames through it too (the analysis of 60 1080p frames:
3.4 s of system time and 830k page faults with glibc's defaults, 0.04 s and 2k faults with the
setting, the same peak RSS; docs/benchmarks.md, "Where the seconds of a short conversion go"). ``FILMRT_MALLOC=glibc`` leaves glibc's
defaults alone. On other C libraries (musl, macOS) nothing is done. On a CUDA device the setting
is not made (not measured there).
"""

from __future__ import annotations

import ctypes
import os
import sys

#: the environment variable that turns the setting off: FILMRT_MALLOC=glibc
ENV = "FILMRT_MALLOC"
#: glibc's mallopt parameters (malloc.h)
M_TRIM_THRESHOLD, M_MMAP_THRESHOLD, M_ARENA_MAX = -1, -3, -8
INT_MAX = 2**31 - 1
SETTINGS = ((M_MMAP_THRESHOLD, INT_MAX), (M_TRIM_THRESHOLD, INT_MAX), (M_ARENA_MAX, 1))


#: the commands whose work runs through PyTorch on the chosen device (the model, the analysis, the
#: colour conversion); ``bench`` measures allocators itself, the others do little
WORK_COMMANDS = ("convert", "batch", "live", "interpolate", "eval", "eval-video")


def for_cpu_work(args) -> bool:
    """Whether the parsed command line is a work command (:data:`WORK_COMMANDS`) that runs on the
    CPU (``--device cpu``, or auto without a CUDA GPU), whatever its backend."""
    if getattr(args, "command", None) not in WORK_COMMANDS:
        return False
    device = getattr(args, "device", None)
    if device in (None, "auto"):
        import torch

        return not torch.cuda.is_available()
    return str(device).startswith("cpu")


def keep_freed_memory(environ=None) -> bool:
    """Apply :data:`SETTINGS` with glibc's ``mallopt`` unless ``FILMRT_MALLOC=glibc``; whether they were."""
    environ = os.environ if environ is None else environ
    if environ.get(ENV, "").strip().lower() in ("glibc", "default", "off", "0"):
        return False
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(None)
        # glibc only (gnu_get_libc_version): musl's mallopt ignores these parameters
        mallopt = libc.mallopt if hasattr(libc, "gnu_get_libc_version") else None
    except (OSError, AttributeError):
        return False
    if mallopt is None:
        return False
    mallopt.argtypes, mallopt.restype = (ctypes.c_int, ctypes.c_int), ctypes.c_int
    return all(mallopt(param, value) == 1 for param, value in SETTINGS)

"""Signals that stop a run cleanly: Ctrl-C, SIGTERM and SIGHUP.

A supervisor stopping a job (SIGTERM), a closed terminal or SSH session (SIGHUP) and Ctrl-C
(SIGINT) all mean "stop now": inside :func:`signals_as_interrupt` the first two raise
:class:`KeyboardInterrupt` in the main thread, exactly like Ctrl-C, so the same cleanup runs (the
temp file beside OUT is removed, batch records unfinished attempts as interrupted) and the CLI
exits with 130 ("interrupted", whichever of the three signals it was; ffmpeg likewise cleans up
and uses one exit status for all of them). ``kill -9`` cannot be caught: what it leaves behind is
removed by the next write of the same OUT (:func:`filmrt.fileio.remove_stale_temps`).
"""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Iterator

#: the signals handled like Ctrl-C
SIGNALS = tuple(s for s in (getattr(signal, "SIGTERM", None), getattr(signal, "SIGHUP", None)) if s is not None)


@contextlib.contextmanager
def signals_as_interrupt() -> Iterator[None]:
    """Within the block SIGTERM and SIGHUP raise KeyboardInterrupt (main thread only; elsewhere
    signal handlers cannot be set and the block runs unchanged)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum, frame):
        raise KeyboardInterrupt

    previous = {s: signal.signal(s, handler) for s in SIGNALS}
    try:
        yield
    finally:
        for s, old in previous.items():
            signal.signal(s, old)

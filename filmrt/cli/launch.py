"""The ``filmrt`` program's entry point: signals are "interrupted" (exit 130) from the first instant.

Importing the command table takes seconds (PyTorch, PyAV, the runtimes). A SIGTERM or SIGHUP in
that time used to kill the process (exit 143/129) and a Ctrl-C printed a traceback. Here, until
the import is done, SIGINT, SIGTERM and SIGHUP end the process at once with "filmrt: interrupted"
and exit 130: nothing has been opened yet, so OUT is untouched, and raising KeyboardInterrupt in
the middle of a third-party import can leave it half-initialised and fail in odd ways. From then
on the usual rule holds (:mod:`filmrt.interrupts`: KeyboardInterrupt, cleanup, 130, OUT unchanged).
This module imports only the standard library and the light ``filmrt`` package; it is a program's
``main``, so installing process-wide handlers is its job, not a library's; so is the allocator
setting (:mod:`filmrt.cli.malloc`), which :func:`filmrt.cli.main.main` makes for it (``program``).

The program also hands its objects to :func:`gc.freeze` twice: after the imports (PyTorch leaves
about a million objects that live as long as the process: the collector's full passes need not
walk them again) and before it returns (the interpreter's exit then skips the collections over
everything: 0.85 -> 0.2 s of exit after PyTorch on the 2-core bench machine, paid by every command).
Nothing is lost by it: every file is written and closed (atomically) before the command returns,
and the exit still runs the ``atexit`` handlers and flushes the standard streams.
"""

from __future__ import annotations

import gc
import os
import signal
import sys

from filmrt.interrupts import SIGNALS, signals_as_interrupt


def _interrupted_at_start(signum, frame) -> None:
    sys.stderr.write("filmrt: interrupted\n")
    sys.stderr.flush()
    os._exit(130)


def main(argv: list[str] | None = None) -> int:
    previous = {s: signal.signal(s, _interrupted_at_start) for s in (signal.SIGINT, *SIGNALS)}
    rc = None
    try:
        import importlib

        from filmrt.cli.main import command_modules
        from filmrt.cli.main import main as run

        # the command's module (PyTorch, PyAV, the runtimes: the seconds of start-up) under this
        # handler too: filmrt.cli.main imports it lazily, and a KeyboardInterrupt inside a library's
        # import could be swallowed there (Ctrl-C 1 s in: the conversion ran on, exit 0)
        args = sys.argv[1:] if argv is None else list(argv)
        for mod in command_modules(args[0] if args else None):
            importlib.import_module(mod)
        gc.freeze()  # the imports' objects live as long as the process (see the module docstring)
        signal.signal(signal.SIGINT, previous[signal.SIGINT])  # Ctrl-C raises KeyboardInterrupt again
        with signals_as_interrupt():
            rc = run(argv, program=True)  # signals during the work: handled there (130, OUT unchanged)
    except KeyboardInterrupt:
        if rc is None:  # a signal between the import and the command's own handling
            print("filmrt: interrupted", file=sys.stderr)
            return 130
    finally:
        for s, old in previous.items():
            signal.signal(s, old)
        gc.freeze()  # the exit need not walk every object (see the module docstring)
    return rc


if __name__ == "__main__":
    sys.exit(main())

"""The ``filmrt`` command line: one entry point, one sub-command per job.

Sub-commands live next to the code they drive and are imported lazily (``filmrt --help`` stays
fast and a core install never imports a stage it does not use). Each command module exposes
``register(subparsers)``, which adds its parser and sets ``func`` to a function taking the parsed
arguments and returning an exit code.

Conventions shared by every sub-command (use :func:`add_model_options` and friends):
``--model``, ``--weights``, ``--backend``, ``--device``, ``--precision``; ``-o/--output`` for the
main output; ``--json`` for a machine-readable report; ``--quiet`` turns progress bars off;
``--ss``/``--t`` are start and duration (ffmpeg's names) where a command cuts time.
User errors are :class:`filmrt.errors.FilmrtError`: one line on stderr and exit code 2.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from . import __version__
from .errors import FilmrtError

# (sub-command module, registered in this order)
COMMAND_MODULES = [
    "filmrt.commands.interpolate",
    "filmrt.commands.weights",
    "filmrt.commands.evaluate",
    "filmrt.pipeline.cli",
    "filmrt.pipeline.batch_cli",
    "filmrt.export.cli",
    "filmrt.engine.cli",
    "filmrt.pipeline.bench_cli",
]


def add_model_options(p: argparse.ArgumentParser, *, backend: bool = True, precision: bool = True) -> None:
    """--model/--weights/--device (and --backend/--precision): the same everywhere."""
    p.add_argument(
        "--model",
        default=None,
        help="model name: film, rife-4.25 or blend (default: film if its weights are installed, "
        "else rife-4.25, which ships with filmrt)",
    )
    p.add_argument("--weights", default=None, help="safetensors weights file (default: the installed ones)")
    p.add_argument("--device", default="cpu", help="cpu, cuda or cuda:N (default: cpu)")
    if backend:
        p.add_argument(
            "--backend",
            default="auto",
            choices=["auto", "torch", "ort", "trt"],
            help="runtime (default: auto = the fastest available; it says which it picked)",
        )
    if precision:
        p.add_argument(
            "--precision",
            default="auto",
            choices=["auto", "fp32", "fp16", "bf16"],
            help="compute precision (default: fp32 on CPU, fp16 on CUDA)",
        )


def model_name_from_args(args: argparse.Namespace) -> str:
    from .models import default_model_name

    if getattr(args, "model", None):
        return args.model
    if getattr(args, "weights", None):
        from .weights import info

        return info(args.weights).model
    return default_model_name()


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="filmrt",
        description="Video frame-rate conversion and slow motion with FILM and RIFE.",
    )
    parser.add_argument("--version", action="version", version=f"filmrt {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMAND_MODULES:
        try:
            mod = importlib.import_module(name)
        except ModuleNotFoundError as e:
            if e.name == name:  # command not built yet in this checkout
                continue
            raise
        mod.register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        return int(args.func(args) or 0)
    except FilmrtError as e:
        print(f"filmrt: error: {e}", file=sys.stderr)
        return e.exit_code
    except KeyboardInterrupt:
        print("filmrt: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 1


if __name__ == "__main__":
    sys.exit(main())

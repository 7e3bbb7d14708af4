"""What every command does the same way: reading the model name, the model options (being
replaced by :func:`filmrt.cli.groups.add_runtime_options`)."""

from __future__ import annotations

import argparse

from filmrt import weights as _weights
from filmrt.models import default_model_name
from filmrt.options import BACKENDS


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
            choices=["auto", *BACKENDS],
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
    if getattr(args, "model", None):
        return args.model
    if getattr(args, "weights", None):
        return _weights.info(args.weights).model
    return default_model_name()



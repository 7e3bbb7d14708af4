"""``filmrt interpolate A.png B.png -o OUT``: the in-between frame(s) of two images.

Times come from ``--at 0.25,0.5,0.75`` (default 0.5) or ``--depth K`` (the 2^K - 1 frames at
k / 2^K, FILM's released way of making several frames). Two ways to reach a time:

- ``direct``: one model call per time. RIFE is trained for any t; FILM scales its flows by t,
  an approximation it was not trained for (its released models know t = 0.5 only).
- ``recursive``: only midpoints (t = 0.5) are ever asked of the model: the frame at 1/4 is the
  midpoint of A and the frame at 1/2, and so on. A time that is not a dyadic fraction is replaced
  by the nearest k / 2^D within ``--max-depth`` levels, ties up (the command says which time it
  used): :func:`filmrt.pipeline.infer.nearest_dyadic`, the rule ``filmrt convert`` uses too.
- ``auto`` (default): the model's recommended mode (``ModelSpec.recommended_mode``): recursive
  for FILM (trained at t = 0.5 only), direct for time-conditioned models (RIFE, blend).

The work runs through the pipeline's inference stage (:class:`filmrt.pipeline.infer.Inference`,
the same code as ``filmrt convert``), batched, with frame keys so the torch backend reuses FILM's
per-frame features across the recursion. What the images hold is kept: alpha is interpolated like
the picture (as ``convert`` does: through the model as a grey picture), and 16-bit PNGs give
16-bit PNGs (:mod:`filmrt.imageio`).
"""

from __future__ import annotations

import argparse
from fractions import Fraction
from pathlib import Path

import torch

from filmrt.cli.groups import add_runtime_options, runtime_from_args
from filmrt.cli.overwrite import add_overwrite_options
from filmrt.engine import open_interpolator
from filmrt.errors import FilmrtError
from filmrt.fileio import check_distinct, check_overwrite
from filmrt.imageio import Picture, read_picture, write_image
from filmrt.models import get_spec
from filmrt.pipeline.infer import Inference, Pair, choose_mode, nearest_dyadic

NAMING = "frame_NNN_tT.TTTTTT.png (NNN = 001, 002, ... in time order; T = the time in [0, 1])"


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "interpolate",
        help="write the in-between frame(s) of two images",
        description=(
            "Interpolate between two images A (t=0) and B (t=1) and write PNG(s). One output frame: "
            f"OUT is the file. Several (--at with several times, or --depth): OUT is a directory and "
            f"the files are named {NAMING}."
        ),
    )
    p.add_argument("a", metavar="A.png", help="first frame (t = 0)")
    p.add_argument("b", metavar="B.png", help="second frame (t = 1), same size as A")
    p.add_argument("-o", "--output", required=True, metavar="OUT",
                   help="output PNG (one frame) or directory (several frames)")
    g = p.add_mutually_exclusive_group()
    g.add_argument("--at", default=None, metavar="T[,T...]",
                   help="comma-separated times in [0, 1] (default: 0.5)")
    g.add_argument("--depth", type=int, default=None, metavar="K",
                   help="K levels of recursive midpoints: the 2^K-1 frames at k/2^K")
    p.add_argument("--mode", choices=["auto", "direct", "recursive"], default="auto",
                   help="direct: one model call per time (FILM: flow scaling); recursive: midpoints "
                   "only, nearest dyadic time; auto (default): the model's recommended mode "
                   "(recursive for FILM, direct for time-conditioned models)")
    p.add_argument("--max-depth", type=int, default=8, metavar="D",
                   help="recursive mode: deepest level of midpoints for --at times (default 8: steps of 1/256)")
    add_runtime_options(p)
    p.add_argument("--quiet", action="store_true", help="print nothing but errors")
    add_overwrite_options(p)
    p.set_defaults(func=run)


def parse_times(text: str | None) -> list[float]:
    if text is None:
        return [0.5]
    try:
        times = [float(x) for x in text.split(",") if x.strip()]
    except ValueError as e:
        raise FilmrtError(f"--at takes comma-separated numbers in [0, 1], got {text!r}") from e
    if not times:
        raise FilmrtError("--at needs at least one time")
    bad = [x for x in times if not 0.0 <= x <= 1.0]
    if bad:
        raise FilmrtError(f"--at times must lie in [0, 1], got {bad[0]}")
    return sorted(set(times))


def _wanted_times(args: argparse.Namespace) -> list[Fraction]:
    if args.depth is not None:
        n = 1 << args.depth
        return [Fraction(k, n) for k in range(1, n)]
    return [Fraction(t).limit_denominator(1 << 20) for t in parse_times(args.at)]


def _read_pair(args: argparse.Namespace) -> tuple[Picture, Picture]:
    """A and B with their alpha and depth; when only one has alpha, the other gets an opaque one."""
    a = read_picture(args.a)
    b = read_picture(args.b)
    if a.pixels.shape[1:] != b.pixels.shape[1:]:
        raise FilmrtError(
            f"{args.a} is {a.pixels.shape[2]}x{a.pixels.shape[1]} but {args.b} is {b.pixels.shape[2]}x"
            f"{b.pixels.shape[1]}: the two frames must have the same size"
        )
    if a.alpha != b.alpha:
        a, b = (Picture(_opaque(x.pixels), x.bits) for x in (a, b))
    return a, b


def _opaque(pixels):
    return pixels if pixels.shape[0] == 4 else torch.cat([pixels, torch.ones_like(pixels[:1])])


def run(args: argparse.Namespace) -> int:
    if args.depth is not None and not 1 <= args.depth <= 10:
        raise FilmrtError(f"--depth must be between 1 and 10, got {args.depth}")
    if args.max_depth < 1 or args.max_depth > 16:
        raise FilmrtError(f"--max-depth must be between 1 and 16, got {args.max_depth}")
    runtime = runtime_from_args(args)
    wanted = _wanted_times(args)
    check_distinct(args.output, [args.a, args.b], "-o")  # -o A.png would replace an input
    if len(wanted) == 1 and not Path(args.output).is_dir():
        check_overwrite(args.output, args.overwrite, "-o")  # before any work
    a, b = _read_pair(args)
    interp = open_interpolator(runtime)
    mode = choose_mode(args.mode, get_spec(interp.model_name))
    say = (lambda *m: None) if args.quiet else print
    say(f"interpolating with {interp.describe()}, mode {mode}")

    # recursive: every time is rounded to its nearest midpoint (the rule convert's scheduler uses)
    used = [nearest_dyadic(t, args.max_depth) for t in wanted] if mode == "recursive" else wanted
    # alpha goes through the model as a grey picture, as in convert (pipeline.infer); 16-bit in, 16-bit out
    bits = max(a.bits, b.bits)
    kept = [what for what, on in (("alpha (interpolated like the picture)", a.alpha), ("16-bit depth", bits > 8)) if on]
    if kept:
        say("keeping " + " and ".join(kept))
    frames = {"A": a.pixels.to(interp.device), "B": b.pixels.to(interp.device)}
    with interp:
        images = Inference(interp, mode=mode, batch=interp.max_batch).run(
            [Pair("A", "B", u) for u in used], frames)
    results = [(float(t), float(u), img) for t, u, img in zip(wanted, used, images, strict=True)]

    dest = Path(args.output)
    if len(results) == 1 and not dest.is_dir():
        paths = [dest]
    else:
        if dest.exists() and not dest.is_dir():
            raise FilmrtError(f"{dest} is a file, but {len(results)} frames need a directory for -o")
        paths = [dest / f"frame_{i:03d}_t{u:.6f}.png" for i, (_, u, _) in enumerate(results, 1)]
    for path in paths:  # all checked before the first is written
        check_overwrite(path, args.overwrite, "-o")
    for (asked, used_t, img), path in zip(results, paths, strict=True):
        write_image(path, img.detach().float().cpu(), bits=bits, replace=bool(args.overwrite))
        note = f" (asked {asked:g}: nearest midpoint within depth {args.max_depth})" if abs(asked - used_t) > 1e-9 else ""
        say(f"t={used_t:.6f}{note} -> {path}")
    return 0

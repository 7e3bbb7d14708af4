"""``filmrt interpolate A.png B.png -o OUT``: the in-between frame(s) of two images.

Times come from ``--at 0.25,0.5,0.75`` (default 0.5) or ``--depth K`` (the 2^K - 1 frames at
k / 2^K, FILM's released way of making several frames). Two ways to reach a time:

- ``direct``: one model call per time. RIFE is trained for any t; FILM scales its flows by t,
  an approximation it was not trained for (its released models know t = 0.5 only).
- ``recursive``: only midpoints (t = 0.5) are ever asked of the model: the frame at 1/4 is the
  midpoint of A and the frame at 1/2, and so on. A time that is not a dyadic fraction is replaced
  by the nearest k / 2^D within ``--max-depth`` levels (the command says which time it used).
- ``auto`` (default): recursive for FILM, direct for every other model.

The work is batched and runs through :func:`filmrt.engine.open_interpolator`, with frame keys so
the torch backend reuses FILM's per-frame features across the recursion.
"""

from __future__ import annotations

import argparse
from fractions import Fraction
from pathlib import Path

from filmrt.errors import FilmrtError

NAMING = "frame_NNN_tT.TTTTTT.png (NNN = 001, 002, ... in time order; T = the time in [0, 1])"


def register(sub: argparse._SubParsersAction) -> None:
    from filmrt.cli.common import add_model_options

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
                   "only, nearest dyadic time; auto (default): recursive for FILM, direct otherwise")
    p.add_argument("--max-depth", type=int, default=8, metavar="D",
                   help="recursive mode: deepest level of midpoints for --at times (default 8: steps of 1/256)")
    add_model_options(p)
    p.add_argument("--quiet", action="store_true", help="print nothing but errors")
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


def nearest_dyadic(t: float, max_depth: int) -> Fraction:
    """The dyadic fraction k/2^d nearest to t, with the smallest d <= max_depth that hits t exactly."""
    for d in range(max_depth + 1):
        q = Fraction(round(t * (1 << d)), 1 << d)
        if abs(float(q) - t) < 1e-9:
            return q
    return Fraction(round(t * (1 << max_depth)), 1 << max_depth)


def recursive_frames(interp, a, b, positions: list[Fraction]) -> dict[Fraction, object]:
    """Frames at dyadic ``positions`` by recursive midpoints, level by level, batched per level."""
    import torch

    known = {Fraction(0): a, Fraction(1): b}
    need: set[Fraction] = set()

    def require(p: Fraction) -> None:
        if p in known or p in need:
            return
        need.add(p)
        step = Fraction(1, p.denominator)
        require(p - step)
        require(p + step)

    for p in positions:
        require(p)
    for den in sorted({p.denominator for p in need}):
        level = sorted(p for p in need if p.denominator == den)
        step = Fraction(1, den)
        lo = [p - step for p in level]
        hi = [p + step for p in level]
        out = interp.interpolate(
            torch.stack([known[x] for x in lo]),
            torch.stack([known[x] for x in hi]),
            [0.5] * len(level),
            keys_a=lo,
            keys_b=hi,
        )
        for p, img in zip(level, out, strict=True):
            known[p] = img
    return known


def run(args: argparse.Namespace) -> int:
    import torch

    from filmrt.cli.common import model_name_from_args
    from filmrt.engine import open_interpolator
    from filmrt.imageio import read_image, write_image

    if args.depth is not None and not 1 <= args.depth <= 10:
        raise FilmrtError(f"--depth must be between 1 and 10, got {args.depth}")
    if args.max_depth < 1 or args.max_depth > 16:
        raise FilmrtError(f"--max-depth must be between 1 and 16, got {args.max_depth}")
    a = read_image(args.a)
    b = read_image(args.b)
    if a.shape != b.shape:
        raise FilmrtError(
            f"{args.a} is {a.shape[2]}x{a.shape[1]} but {args.b} is {b.shape[2]}x{b.shape[1]}: "
            "the two frames must have the same size"
        )
    if args.depth is not None:
        n = 1 << args.depth
        wanted = [Fraction(k, n) for k in range(1, n)]
    else:
        wanted = [Fraction(t).limit_denominator(1 << 20) for t in parse_times(args.at)]

    model = model_name_from_args(args)
    interp = open_interpolator(
        model, weights=args.weights, backend=args.backend, device=args.device, precision=args.precision
    )
    mode = args.mode
    if mode == "auto":
        mode = "recursive" if interp.model_name == "film" else "direct"
    say = (lambda *m: None) if args.quiet else print
    say(f"interpolating with {interp.describe()}, mode {mode}")

    results: list[tuple[float, float, torch.Tensor]] = []  # (asked t, used t, image)
    dev = interp.device
    a, b = a.to(dev), b.to(dev)
    with interp:
        if mode == "recursive":
            used = [nearest_dyadic(float(t), args.max_depth) for t in wanted]
            frames = recursive_frames(interp, a, b, sorted(set(used)))
            results = [(float(t), float(u), frames[u]) for t, u in zip(wanted, used, strict=True)]
        else:
            times = [float(t) for t in wanted]
            todo = [t for t in times if t not in (0.0, 1.0)]
            out = {0.0: a, 1.0: b}
            if todo:
                n = len(todo)
                imgs = interp.interpolate(
                    a.expand(n, -1, -1, -1), b.expand(n, -1, -1, -1), todo,
                    keys_a=["A"] * n, keys_b=["B"] * n,
                )
                out.update(zip(todo, imgs, strict=True))
            results = [(t, t, out[t]) for t in times]

    dest = Path(args.output)
    if len(results) == 1 and not dest.is_dir():
        paths = [dest]
    else:
        if dest.exists() and not dest.is_dir():
            raise FilmrtError(f"{dest} is a file, but {len(results)} frames need a directory for -o")
        paths = [dest / f"frame_{i:03d}_t{u:.6f}.png" for i, (_, u, _) in enumerate(results, 1)]
    for (asked, used, img), path in zip(results, paths, strict=True):
        write_image(path, img.detach().float().cpu())
        note = f" (asked {asked:g}: nearest midpoint within depth {args.max_depth})" if abs(asked - used) > 1e-9 else ""
        say(f"t={used:.6f}{note} -> {path}")
    return 0

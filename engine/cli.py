"""``filmrt build-engine``: ONNX plugin graph -> TensorRT engine (see :mod:`filmrt.engine.trt.builder`).

    filmrt export --model rife-4.25 --warp plugin --fp16 -o rife.onnx
    filmrt build-engine rife.onnx -o rife.engine --shapes 1920x1080,1280x720 --batch 1..4
    filmrt interpolate ... --device cuda --backend trt --engine rife.engine

A FILM stage set (``film.features.onnx``, ``film.flow.onnx``, ``film.fusion.onnx`` from
``filmrt export --stages -o film.onnx``) is built by naming ``film.onnx``: it writes
``ENGINE.features.engine`` etc. for ``-o ENGINE.engine``; ``--engine ENGINE.engine`` runs them.

Sizes are the frame sizes the engine must run, ``WIDTHxHEIGHT`` or a name (``1280x720`` = 720p,
as in ``filmrt bench --sizes``); ``--min/--opt/--max`` give tensor shapes ``NxHxW`` (batch x
height x width, the order of the engine's input dims and of ``trtexec --minShapes``).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from filmrt.errors import FilmrtError
from filmrt.fileio import write_json


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "build-engine",
        help="build a TensorRT engine from an ONNX plugin graph",
        description=(
            "Build a TensorRT engine (with the filmrt::BackwardWarp plugin) from a graph written by "
            "`filmrt export --warp plugin`. Resolutions are padded to multiples of 64. Engines are cached "
            "by (graph hash, GPU, compute capability, TensorRT version, profile); a timing cache speeds up "
            "rebuilds. Needs TensorRT (`pip install 'filmrt[trt]'`) and an NVIDIA GPU."
        ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=__doc__.split("\n\n")[1],
    )
    p.add_argument("model", help="MODEL.onnx (plugin graph), or the OUT.onnx of a FILM --stages export")
    p.add_argument("-o", "--output", required=True, help="engine file to write (FILM stages: OUT.<stage>.engine)")
    p.add_argument(
        "--fp16",
        action="store_true",
        help="FP16 engine. Best from an fp16 graph (export --fp16; TensorRT 11 requires it); on TensorRT 10 an "
        "fp32 graph is built with BuilderFlag.FP16",
    )
    p.add_argument(
        "--shapes",
        default=None,
        metavar="SIZES",
        help="frame sizes the engine must run, comma-separated: WIDTHxHEIGHT (1280x720) or a name (720p, "
        "1080p, 2160p/4k, ...), padded to multiples of 64; the profile spans them, tuned for the first "
        "(default: 1080p)",
    )
    p.add_argument("--batch", default=None, help="batch size N or range MIN..MAX (default 1)")
    p.add_argument("--min", dest="min_shape", default=None, metavar="NxHxW",
                   help="profile minimum: batch x HEIGHT x WIDTH, e.g. 1x720x1280 (with --opt and --max)")
    p.add_argument("--opt", dest="opt_shape", default=None, metavar="NxHxW", help="profile optimum (batch x height x width)")
    p.add_argument("--max", dest="max_shape", default=None, metavar="NxHxW", help="profile maximum (batch x height x width)")
    p.add_argument("--workspace", type=float, default=None, help="builder workspace limit in GiB (default: TensorRT's)")
    p.add_argument("--timing-cache", default=None,
                   help="timing cache file (default: one per GPU and TensorRT version in the cache's timing/)")
    p.add_argument("--cache-dir", default=None, metavar="DIR",
                   help="cache root: engines in DIR/engines, timing caches in DIR/timing (default $FILMRT_CACHE_DIR, "
                   "else ~/.cache/filmrt; $FILMRT_ENGINE_CACHE, the old name, still names the engine folder)")
    p.add_argument("--no-cache", action="store_true", help="always build; do not read or write the engine cache")
    p.add_argument("--json", default=None, help="write a JSON report here")
    p.add_argument("--verbose", action="store_true", help="TensorRT's verbose log")
    p.set_defaults(func=run)


def validate(args) -> list:
    """Parse/validate the arguments before anything heavy happens; returns the profiles."""
    # the builder imports onnx (CPU seconds at every start): only `build-engine` pays for it
    from filmrt.engine.trt.builder import profiles_from_args, stage_files

    if args.workspace is not None and args.workspace <= 0:
        raise FilmrtError("--workspace must be a positive number of GiB")
    model = Path(args.model)
    if not model.is_file() and not stage_files(model):
        raise FilmrtError(f"ONNX graph not found: {model}")
    if not str(args.output).strip():
        raise FilmrtError("-o/--output must name the engine file to write")
    return profiles_from_args(args.shapes, args.min_shape, args.opt_shape, args.max_shape, args.batch)


def run(args) -> int:
    from filmrt.engine.trt.builder import build_engine, engine_stage_path, stage_files

    profiles = validate(args)
    model = Path(args.model)
    jobs = [(None, model, Path(args.output))]
    stages = stage_files(model)
    if stages and not model.is_file():
        jobs = [(s, p, engine_stage_path(args.output, s)) for s, p in stages.items()]
    report = []
    for stage, src, dst in jobs:
        res = build_engine(
            src,
            dst,
            profiles=profiles,
            fp16=args.fp16,
            workspace_gb=args.workspace,
            timing_cache=args.timing_cache,
            cache_dir=args.cache_dir,
            use_cache=not args.no_cache,
            verbose=args.verbose,
        )
        how = "from the engine cache" if res.cached else f"built in {res.seconds:.1f} s"
        label = f" ({stage})" if stage else ""
        print(
            f"{res.path}{label}: {res.info['precision']} engine, TensorRT {res.info['tensorrt']}, "
            f"{res.info['gpu']}, plugin {res.info.get('plugin', 'cached')}, {how}; "
            + "; ".join(p.describe() for p in profiles)
        )
        report.append({"stage": stage or "model", "path": str(res.path), "cached": res.cached, **res.info})
    if args.json:
        write_json(args.json, report)
    return 0

"""``filmrt bench``: measure throughput on this machine and record it (see :mod:`filmrt.pipeline.bench`)."""

from __future__ import annotations

import argparse


def _csv(text: str) -> list[str]:
    return [x.strip() for x in text.split(",") if x.strip()]


def _ints(text: str) -> list[int]:
    return [int(x) for x in _csv(text)]


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "bench",
        help="measure throughput: models, FILM stages, end-to-end convert, peers (minterpolate, blend)",
        description="Benchmark filmrt on this machine (CPU, or the GPU with --device cuda): model-only "
        "throughput per model x backend x precision x size x batch, FILM per stage and the saving of stage "
        "reuse, end-to-end convert of a real clip, counted FLOPs against the measured matmul peak, and "
        "ffmpeg's minterpolate and naive blending on the same clip (speed, and quality by dropping every "
        "other frame). Writes a JSON result and a markdown summary.",
    )
    p.add_argument("--quick", action="store_true", help="small sizes, few repeats, 1 s clip: a few minutes on 2 CPU cores")
    p.add_argument("--device", default=None, help="cpu, cuda or cuda:N (default: cuda when PyTorch sees a GPU, else cpu)")
    p.add_argument("--models", type=_csv, default=None, help="comma list (default: every model: film, rife-4.25, blend)")
    p.add_argument("--backends", type=_csv, default=None, help="comma list of torch, ort, trt (default: those available)")
    p.add_argument("--precisions", type=_csv, default=None, help="comma list of fp32, fp16, bf16 (default: fp32 on CPU, fp16,fp32 on CUDA)")
    p.add_argument("--sizes", type=_csv, default=None,
                   help="comma list of 720p, 1080p, 2160p, WxH or N (default: 720p on CPU, 256x256 with --quick; "
                   "720p,1080p,2160p on CUDA)")
    p.add_argument("--batch", type=_ints, default=None, help="comma list of batch sizes (default: 1 on CPU, 1,8 on CUDA)")
    p.add_argument("--repeats", type=int, default=None, help="timed calls per cell after warm-up (default 5, quick 3)")
    p.add_argument("--warmup", type=int, default=1, help="untimed calls per cell (default 1)")
    p.add_argument("--budget", type=float, default=None, help="seconds per cell before repeats stop (default 30, quick 8)")
    p.add_argument("--clip", default=None, help="video for the end-to-end and peer runs (default: ../shared/data/clips/bbb_720p25_audio.mp4)")
    p.add_argument("--ss", type=float, default=0.0, help="segment start in seconds (default 0)")
    p.add_argument("--t", type=float, default=None, help="segment duration in seconds (default 2, quick 1)")
    p.add_argument("--e2e-models", type=_csv, default=None, help="models for the end-to-end convert (default: those with real weights)")
    p.add_argument("--max-tflop", type=float, default=None,
                   help="skip model-only/stage cells above this many counted TFLOP per call (default: none; "
                   "0.5 with --quick on CPU, which keeps FILM to small sizes)")
    p.add_argument("--factor", type=int, default=2, help="output rate = factor x source rate end to end (default 2)")
    for sec in ("model-only", "stages", "flops", "matmul", "e2e", "peers", "eval-video"):
        p.add_argument(f"--no-{sec}", action="store_true", help=f"skip the {sec} section")
    p.add_argument("--json", default="bench/results/auto", metavar="OUT",
                   help="result file; a name of 'auto' (default bench/results/auto) means "
                   "<dir>/<date>-<machine>[-quick].json; the markdown summary goes next to it (.md)")
    p.add_argument("--quiet", action="store_true", help="no progress lines")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import torch

    from filmrt.pipeline.bench import BenchSettings, command_line, markdown, run_bench, write_results

    device = args.device or ("cuda" if torch.cuda.is_available() else "cpu")
    s = BenchSettings(
        device=device, quick=args.quick, models=args.models, backends=args.backends, precisions=args.precisions,
        sizes=args.sizes, batches=args.batch, warmup=args.warmup, repeats=args.repeats, budget_s=args.budget,
        model_only=not args.no_model_only, stages=not args.no_stages, flops=not args.no_flops,
        matmul=not args.no_matmul, e2e=not args.no_e2e, peers=not args.no_peers, clip=args.clip, ss=args.ss,
        t=args.t, e2e_models=args.e2e_models, rate_factor=args.factor, max_tflop=args.max_tflop,
        eval_video=not args.no_eval_video, quiet=args.quiet, command=command_line(),
    )
    res = run_bench(s)
    jp, mp = write_results(res, args.json)
    if not args.quiet:
        print(markdown(res))
    print(f"wrote {jp} and {mp}")
    return 0

"""``filmrt eval``: PSNR/SSIM (and VMAF with ``--vmaf``) of a model on frame-interpolation test sets (Middlebury, UCF101-DVF).

The work is done by :mod:`filmrt.evaluation` (layouts, protocol) and :mod:`filmrt.quality`
(metrics); this module parses the options, prints the table and writes the JSON report.
"""

from __future__ import annotations

import argparse
import shlex
import sys
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from filmrt import evaluation as ev
from filmrt.cli.groups import add_runtime_options, runtime_from_args
from filmrt.engine import open_interpolator
from filmrt.errors import FilmrtError
from filmrt.fileio import sha256_file, write_json
from filmrt.models import get_spec, resolve_model_name, resolve_weights
from filmrt.options import RuntimeOptions
from filmrt.quality import SSIM_SETTINGS, SSIM_WINDOW
from filmrt.vmaf import MODEL as VMAF_MODEL
from filmrt.vmaf import Picture, VmafScorer, require_ffmpeg

#: the protocol runs one pair per model call
EVAL_BATCH = 1


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "eval",
        help="quality (PSNR/SSIM) on frame-interpolation test sets",
        description=(
            "Predict the middle frame (t=0.5) of every triplet of a test set and score it against the "
            "real one: mean PSNR (peak 1.0) and SSIM (scikit-image, Gaussian sigma 1.5) of the "
            "prediction rounded to uint8. Recognised layouts, one sub-folder per triplet: Middlebury "
            "(frame10.png, frame11.png, frame10i11.png) and UCF101-DVF (frame_00.png, frame_02.png, "
            "frame_01_gt.png). A folder holding several sets is evaluated set by set."
        ),
    )
    add_runtime_options(p, exclude=("max_batch",))  # the protocol's batch is 1
    p.add_argument("--dataset", required=True, metavar="DIR", help="test set folder, or a folder of test sets")
    p.add_argument("--json", default=None, metavar="OUT", help="write the full report (per example) as JSON")
    p.add_argument("--vmaf", action="store_true",
                   help="also VMAF (libvmaf, model vmaf_v0.6.1, as filmrt score --vmaf; each triplet alone; needs an "
                        "FFmpeg with libvmaf: pip install 'filmrt[quality]')")
    p.add_argument("--limit", type=int, default=None, metavar="N", help="only the first N triplets of each set")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.set_defaults(func=run)


def _command_line(args: argparse.Namespace, opts: RuntimeOptions) -> str:
    """The command, spelled out with every option that shaped the result (defaults included)."""
    parts = ["filmrt", "eval", "--model", str(opts.model)]
    if opts.weights:
        parts += ["--weights", str(opts.weights)]
    parts += ["--dataset", str(args.dataset), "--device", str(opts.device)]
    parts += ["--backend", opts.backend, "--precision", opts.precision]
    for name, value in opts.extras().items():
        parts += [f"--{name}", str(value)]
    for name, value in opts.settings_changed().items():  # backend settings: --ov-hint latency ...
        flag = "--" + name.replace("_", "-")
        parts += [flag] if value is True else [flag, str(value)]
    if args.limit:
        parts += ["--limit", str(args.limit)]
    if args.vmaf:
        parts += ["--vmaf"]
    if args.json:
        parts += ["--json", str(args.json)]
    return shlex.join(parts)


def triplet_vmaf(truth: np.ndarray, pred: np.ndarray) -> float:
    """VMAF of one prediction ((H, W, 3) uint8) against its truth, alone (libvmaf through
    :mod:`filmrt.vmaf`); both go as RGB, so FFmpeg makes their Y' as it does of the test set's
    RGB picture files (BT.601, limited range, whatever the size): the number of ``ffmpeg -i
    PRED.png -i TRUTH.png -lavfi libvmaf``. A Y' in BT.709 for HD (an untagged video's) was up to
    2.7 points off it on 720p pictures."""
    h, w = truth.shape[:2]
    with VmafScorer(w, h) as vm:
        vm.add(Picture.rgb(truth), Picture.rgb(pred))
        return vm.scores()[0]


def run(args: argparse.Namespace) -> int:
    if args.limit is not None and args.limit < 1:
        raise FilmrtError(f"--limit must be at least 1, got {args.limit}")
    sets = ev.find_sets(args.dataset)  # fails early, before loading a model, on a bad folder
    if args.vmaf:
        require_ffmpeg()
    model = get_spec(resolve_model_name(args.model, args.weights)).name
    opts = runtime_from_args(args, model=model, max_batch=EVAL_BATCH)
    weights_path = resolve_weights(model, opts.weights)
    interp = open_interpolator(opts)
    if not args.quiet:
        print(f"evaluating {interp.describe()} on {', '.join(s.name for s in sets)}", file=sys.stderr)

    def warn(s: dict) -> None:
        print(f"filmrt: warning: skipped {s['path']}: {s['reason']}", file=sys.stderr)

    results = []
    with interp:
        for s in sets:
            results.append(ev.evaluate_set(interp, s, limit=args.limit, progress=not args.quiet, on_skip=warn,
                                           vmaf=triplet_vmaf if args.vmaf else None))

    vm_head = f" {'VMAF':>6}" if args.vmaf else ""
    print(f"{'set':<20} {'n':>5} {'PSNR (dB)':>10} {'SSIM':>7}{vm_head} {'flicker':>8} {'skipped':>8}")
    for r in results:
        ps = f"{r.mean_psnr:.2f}" if r.count else "-"
        ss = f"{r.mean_ssim:.4f}" if r.count else "-"
        fl = f"{r.mean_flicker:.2f}" if r.count else "-"
        vm = (f" {r.mean_vmaf:>6.2f}" if r.mean_vmaf is not None else f" {'-':>6}") if args.vmaf else ""
        print(f"{r.name:<20} {r.count:>5} {ps:>10} {ss:>7}{vm} {fl:>8} {len(r.skipped):>8}")

    if args.json:
        report = {
            "model": model,
            "weights": str(weights_path) if weights_path else None,
            "weights_sha256": sha256_file(weights_path) if weights_path else None,
            "backend": interp.backend,
            "device": str(interp.device),
            "precision": interp.precision,
            "protocol": ev.PROTOCOL,
            "ssim_settings": dict(SSIM_SETTINGS, channel_axis=-1, win_size=SSIM_WINDOW),
            "vmaf_model": VMAF_MODEL if args.vmaf else None,
            "versions": ev.environment(),
            "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "command": _command_line(args, opts),
            "sets": [r.to_dict() for r in results],
        }
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        write_json(args.json, report)
        if not args.quiet:
            print(f"wrote {args.json}", file=sys.stderr)
    if not any(r.count for r in results):
        raise FilmrtError(f"no triplet in {args.dataset} could be evaluated (see the warnings above)")
    return 0

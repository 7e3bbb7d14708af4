"""``filmrt export``: write ONNX graphs of a model (see :mod:`filmrt.export.exporter`)."""

from __future__ import annotations

import argparse
import sys
import time

from filmrt.cli.groups import add_runtime_options
from filmrt.errors import FilmrtError
from filmrt.export.checks import check_graph
from filmrt.fileio import write_json
from filmrt.models import get_spec, resolve_model_name
from filmrt.options import DEFAULT_OPSET
from filmrt.stages import is_staged


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "export",
        help="export a model to ONNX (portable or TensorRT-plugin graph, FILM stages, fp16)",
        description=(
            "Export FILM or RIFE 4.25 to ONNX. Inputs img0, img1 (N,3,H,W float32 RGB [0,1], H and W "
            "multiples of 64) and t (N,); output image (N,3,H,W); batch, height and width are dynamic. "
            "portable: the warp as GridSample, runs in any ONNX runtime. plugin: one "
            "filmrt::BackwardWarp node per warp, for TensorRT with the filmrt plugin."
        ),
    )
    # the model to export (its precision is --fp16's: a graph runs on whatever runtime loads it)
    add_runtime_options(p, only=("model", "weights"))
    p.add_argument(
        "--warp",
        default="portable",
        choices=["portable", "plugin"],
        help="portable: GridSample (any runtime); plugin: BackwardWarp custom node (TensorRT). Default: portable",
    )
    p.add_argument(
        "--stages",
        action="store_true",
        help="FILM: write OUT.features.onnx, OUT.flow.onnx and OUT.fusion.onnx (features once per frame, "
        "flows once per pair, fusion per output time)",
    )
    p.add_argument(
        "--opset",
        type=int,
        default=DEFAULT_OPSET,
        help=f"ONNX opset, 17..19 (default {DEFAULT_OPSET}; 20+ is refused: TensorRT turns its GridSample into "
        "nearest)",
    )
    p.add_argument("--fp16", action="store_true", help="fp16 graph for engines (I/O and warp coordinates stay fp32)")
    p.add_argument("-o", "--output", required=True, help="output .onnx file (with --stages: the base name)")
    p.add_argument("--json", default=None, metavar="OUT", help="also write a JSON report of the graphs")
    p.add_argument("--quiet", action="store_true", help="print nothing but errors")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    # the exporter imports onnx (~0.7 s of CPU): every `filmrt` command registers this one, only
    # `filmrt export` pays for it
    from filmrt.export.exporter import check_opset, export_graphs, resolve_model, save_model, stage_path

    check_opset(args.opset)  # before loading anything: a wrong opset fails fast

    model = get_spec(resolve_model_name(args.model, args.weights)).name  # an unknown name fails here, before any work
    net = resolve_model(model, args.weights)  # missing weights fail here, with how to get them
    if args.stages and not is_staged(net):
        raise FilmrtError(
            f"model {model!r} has no stages (only FILM splits into features / flow / fusion): "
            "export it without --stages"
        )
    if not args.quiet:
        what = f"{args.warp} warp, opset {args.opset}, {'fp16' if args.fp16 else 'fp32'}"
        print(f"exporting {model} ({what}{', 3 stage graphs' if args.stages else ''}) ...", file=sys.stderr)
    t0 = time.perf_counter()
    graphs = export_graphs(net, warp=args.warp, stages=args.stages, opset=args.opset, fp16=args.fp16, check=False)
    report = []
    for stage, proto in graphs.items():
        info = check_graph(proto, warp=args.warp)  # before writing: a graph that fails is not written
        path = save_model(proto, stage_path(args.output, stage))
        meta = {p.key: p.value for p in proto.metadata_props}
        report.append(
            {
                "path": str(path),
                "stage": stage,
                "model": meta.get("model"),
                "warp": args.warp,
                "opset": args.opset,
                "precision": meta.get("precision"),
                "warp_nodes": info.warp_nodes,
                "nodes": sum(info.op_counts.values()),
                "inputs": info.inputs,
                "outputs": info.outputs,
                "bytes": path.stat().st_size,
                "weights_sha256": meta.get("weights_sha256"),
            }
        )
        if not args.quiet:
            kind = "GridSample" if args.warp == "portable" else "BackwardWarp"
            print(
                f"wrote {path} ({meta.get('model')}, {stage}, {args.warp}, opset {args.opset}, "
                f"{meta.get('precision')}, {info.warp_nodes} {kind} nodes, {path.stat().st_size / 1e6:.1f} MB)"
            )
    if not args.quiet:
        print(f"exported in {time.perf_counter() - t0:.1f} s")
    if args.json:
        write_json(args.json, report)
    return 0

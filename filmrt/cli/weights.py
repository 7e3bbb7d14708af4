"""``filmrt weights``: import, convert and list model weights.

- ``filmrt weights import SAVEDMODEL_DIR [-o OUT.safetensors] [--config CONFIG.json]``: the official
  FILM SavedModel -> safetensors (:mod:`filmrt.models.film_import`); without ``-o`` it installs
  into the user's weights directory, where ``--model film`` finds it.
- ``filmrt weights convert-rife PKL -o OUT.safetensors``: Practical-RIFE 4.25 ``flownet.pkl``.
- ``filmrt weights list``: installed and shipped weights (model, path, size, source).
"""

from __future__ import annotations

import argparse

from filmrt import weights as w
from filmrt.models import get_spec, model_names
from filmrt.models.film_import import import_savedmodel
from filmrt.models.rife import convert_pkl


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("weights", help="import, convert and list model weights",
                       description="Import, convert and list model weights.")
    wsub = p.add_subparsers(dest="weights_command", metavar="ACTION")

    imp = wsub.add_parser(
        "import",
        help="import the official FILM SavedModel's weights",
        description=(
            "Import an official FILM SavedModel (e.g. pretrained_models/film_net/Style/saved_model "
            "from github.com/google-research/frame-interpolation) into a safetensors file. Reads "
            "SAVEDMODEL_DIR/variables/variables.{index,data-*} without TensorFlow, checks every "
            "variable's shape against the FILM configuration and writes nothing on a mismatch."
        ),
    )
    imp.add_argument("savedmodel", metavar="SAVEDMODEL_DIR", help="the SavedModel directory (holds variables/)")
    imp.add_argument("-o", "--output", default=None, metavar="OUT.safetensors",
                     help="output file (default: install as film.safetensors in the user weights directory)")
    imp.add_argument("--config", default=None, metavar="CONFIG.json",
                     help="FILM hyper-parameters as JSON ({'config': {...}} or the bare dict); "
                     "default: the paper config (82 tensors, 34,436,667 parameters)")
    imp.set_defaults(func=run_import)

    rife = wsub.add_parser("convert-rife", help="convert Practical-RIFE 4.25 flownet.pkl to safetensors",
                           description="Convert Practical-RIFE 4.25 flownet.pkl to a filmrt safetensors file.")
    rife.add_argument("pkl", metavar="PKL", help="flownet.pkl of Practical-RIFE 4.25")
    rife.add_argument("-o", "--output", required=True, metavar="OUT.safetensors", help="output file")
    rife.set_defaults(func=run_convert_rife)

    lst = wsub.add_parser("list", help="list installed and shipped weights",
                          description="List installed (user directory) and shipped weights.")
    lst.set_defaults(func=run_list)
    p.set_defaults(func=lambda args: (p.print_help(), 2)[1])


def run_import(args: argparse.Namespace) -> int:
    r = import_savedmodel(args.savedmodel, args.output, args.config)
    print(f"imported FILM: {r.num_tensors} tensors, {r.num_params:,} parameters -> {r.path}")
    return 0


def run_convert_rife(args: argparse.Namespace) -> int:
    out = convert_pkl(args.pkl, args.output)
    print(f"converted RIFE 4.25 weights -> {out}")
    return 0


def _size(n: int) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return str(n)


def run_list(args: argparse.Namespace) -> int:
    user = w.user_weights_dir().resolve()
    found = w.installed()
    if found:
        rows = []
        for wi in found:
            where = "user" if wi.path.resolve().parent == user else "shipped"
            rows.append((wi.model, where, _size(wi.size_bytes), str(wi.path), wi.metadata.get("source", "")))
        widths = [max(len(r[i]) for r in rows) for i in range(3)]
        for r in rows:
            print(f"{r[0]:<{widths[0]}}  {r[1]:<{widths[1]}}  {r[2]:>{widths[2]}}  {r[3]}")
            if r[4]:
                print(f"    source: {r[4]}")
    have = {wi.model for wi in found}
    for name in model_names():
        spec = get_spec(name)
        if spec.needs_weights and name not in have:
            print(f"{name}: no weights installed. {spec.how_to_get}".strip())
    print(f"(user weights directory: {user})")
    return 0

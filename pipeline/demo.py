"""``make demo``: convert the bundled sample clip to 50 fps with the default model on the CPU.

    python -m filmrt.pipeline.demo [--model NAME] [--out PATH] [--device cpu|cuda] [--quiet]

The sample (``samples/city_480x270_25.mp4``, CC0, 2.4 s at 25 fps) is looked up next to the
repository; the output goes to ``demo-output/city_50fps.mp4`` in the current directory unless
``--out`` says otherwise. Prints where the output is and how long it took.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from filmrt.errors import FilmrtError
from filmrt.models import default_model_name
from filmrt.options import RuntimeOptions
from filmrt.pipeline.cli import convert_with_bar
from filmrt.pipeline.options import ConvertOptions
from filmrt.rates import format_rate

SAMPLE = "city_480x270_25.mp4"


def find_sample() -> Path:
    here = Path(__file__).resolve()
    for root in (here.parent.parent, Path.cwd()):
        p = root / "samples" / SAMPLE
        if p.is_file():
            return p
    raise FilmrtError(f"sample clip samples/{SAMPLE} not found (run from the repository)")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m filmrt.pipeline.demo", description=__doc__.splitlines()[0])
    ap.add_argument("--model", default=None, help="model (default: the default model, %(default)s = auto)")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--out", default=str(Path("demo-output") / "city_50fps.mp4"))
    ap.add_argument("--quiet", action="store_true")
    args = ap.parse_args(argv)
    try:
        src = find_sample()
        out = Path(args.out)
        out.parent.mkdir(parents=True, exist_ok=True)
        model = args.model or default_model_name()
        print(f"filmrt demo: {src.name} (25 fps) -> 50 fps with {model} on {args.device}", flush=True)
        options = ConvertOptions(fps="50", runtime=RuntimeOptions(model=model, device=args.device))
        res = convert_with_bar(src, out, options, quiet=args.quiet)
    except FilmrtError as e:
        print(f"filmrt: error: {e}", file=sys.stderr)
        return e.exit_code
    print(
        f"filmrt demo: wrote {out.resolve()}\n"
        f"  {res.frames_in} frames at 25 fps -> {res.frames_out} frames at {format_rate(res.fps_out)} fps "
        f"({res.interpolated} interpolated by {res.model} on {res.backend}/{args.device}) "
        f"in {res.seconds:.1f} s ({res.frames_out / max(res.seconds, 1e-9):.1f} output frames/s)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())

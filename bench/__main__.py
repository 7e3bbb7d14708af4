"""``python -m filmrt.bench ...`` = ``filmrt bench ...`` (e.g. ``python -m filmrt.bench --profile gpu``)."""

import sys

from filmrt.cli.main import main

sys.exit(main(["bench", *sys.argv[1:]]))

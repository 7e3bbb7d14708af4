"""``python -m filmrt``: the same entry point as the ``filmrt`` program (:mod:`filmrt.cli.launch`),
so a signal during the seconds of start-up is "interrupted" (exit 130) here too, not a traceback."""

import sys

from filmrt.cli.launch import main

sys.exit(main())

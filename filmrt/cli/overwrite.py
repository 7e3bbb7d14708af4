"""``-y``/``--overwrite`` and ``-n``/``--no-overwrite``: ffmpeg's overwrite rule on the command line.

Commands that write media (``convert`` OUT, ``interpolate -o``) refuse an existing output unless
``-y``; ``-n`` never overwrites (the default too: no question is asked on a terminal, so scripts
and people get the same answer). The check itself is :func:`filmrt.fileio.check_overwrite`, run
before any decoding. Reports (``--json``) and rebuildable artifacts (``export -o``,
``build-engine -o``, ``weights import``) are replaced as before: they are derived from the inputs
and written atomically, like ffmpeg's ``-report``/``-progress`` files.
"""

from __future__ import annotations


def add_overwrite_options(p) -> None:
    """Adds the two flags; ``args.overwrite`` is True (``-y``), False (``-n``) or None (neither)."""
    g = p.add_mutually_exclusive_group()
    g.add_argument("-y", "--overwrite", dest="overwrite", action="store_const", const=True, default=None,
                   help="replace the output if it exists (its permission bits are kept)")
    g.add_argument("-n", "--no-overwrite", dest="overwrite", action="store_const", const=False,
                   help="never replace an existing output (also the default without -y; for ffmpeg-style scripts)")

"""Where the tests find the repository and ``../shared`` (next to the repository, or ``$FILMRT_SHARED``).

Imported as ``support.paths`` (not from ``conftest``: with a ``conftest.py`` in a subfolder of tests/,
``import conftest`` may find that one first)."""

from __future__ import annotations

import os
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent.parent


def shared_dir() -> Path:
    return Path(os.environ.get("FILMRT_SHARED", REPO.parent / "shared")).resolve()

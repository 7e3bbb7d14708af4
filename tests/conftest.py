"""Shared test fixtures.

``../shared`` (next to the repository, or ``$FILMRT_SHARED``) holds the golden fixtures, weights,
evaluation sets and clips. Tests that need it take the ``shared`` fixture and skip, with the reason,
when it is absent, so the suite still runs on a bare clone.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent


def shared_dir() -> Path:
    return Path(os.environ.get("FILMRT_SHARED", REPO.parent / "shared")).resolve()


@pytest.fixture(scope="session")
def shared() -> Path:
    d = shared_dir()
    if not (d / "fixtures").is_dir():
        pytest.skip(f"../shared not found at {d} (set FILMRT_SHARED): golden fixtures unavailable")
    return d


@pytest.fixture(autouse=True)
def _isolated_weights_dir(tmp_path_factory, monkeypatch):
    """Tests never see (or write to) the developer's own installed weights."""
    monkeypatch.setenv("FILMRT_WEIGHTS_DIR", str(tmp_path_factory.getbasetemp() / "user-weights"))

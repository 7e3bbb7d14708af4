"""Shared test fixtures.

``../shared`` (next to the repository, or ``$FILMRT_SHARED``) holds the golden fixtures, weights,
evaluation sets and clips. Tests that need it take the ``shared`` fixture and skip, with the reason,
when it is absent, so the suite still runs on a bare clone.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from support.paths import shared_dir


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


@pytest.fixture(autouse=True)
def _isolated_cache_dir(tmp_path_factory, monkeypatch):
    """Exported graphs and compiled models (ort, openvino: ``auto`` picks openvino on CPU when it
    is installed) go to one cache for the session, never to the developer's ~/.cache/filmrt."""
    monkeypatch.setenv("FILMRT_CACHE_DIR", str(tmp_path_factory.getbasetemp() / "filmrt-cache"))


@pytest.fixture(scope="module")
def one_thread():
    """Tiny models and small tensors: one torch thread is ~10x faster than two on a busy 2-core
    machine (threading costs more than it gives). Use with ``pytestmark = pytest.mark.usefixtures("one_thread")``."""
    import torch

    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


# ------------------------------------------------------------------ FILM, small fixture configuration
@pytest.fixture(scope="session")
def film_small_config(shared) -> dict:
    """The small FILM configuration of the golden fixture (pyramid 4, fusion 3, 8 filters, ...)."""
    import json

    return json.loads((shared / "fixtures" / "film" / "film_net_small_config.json").read_text())["config"]


@pytest.fixture(scope="session")
def film_small_random(film_small_config):
    """FILM in the small configuration with random weights (seed 0), eval mode, no grad: for
    tests whose results do not depend on trained weights (export, backends, parity between them)."""
    import torch

    from filmrt.models.film import FILM

    torch.manual_seed(0)
    return FILM(film_small_config).eval().requires_grad_(False)


@pytest.fixture(scope="session")
def film_small_random_weights(film_small_random, film_small_config, tmp_path_factory) -> Path:
    """:func:`film_small_random` saved as a filmrt weights file."""
    from filmrt.weights import save

    path = tmp_path_factory.mktemp("film-weights") / "film-small.safetensors"
    save(path, film_small_random.state_dict(), model="film", config=film_small_config, source="random (tests)")
    return path


@pytest.fixture(scope="session")
def film_small_imported(shared, tmp_path_factory) -> Path:
    """The fixture's official-format small checkpoint, imported with ``filmrt weights import``."""
    from filmrt.cli.main import main

    fx = shared / "fixtures" / "film"
    out = tmp_path_factory.mktemp("film") / "small.safetensors"
    rc = main(["weights", "import", str(fx / "film_net_small_saved_model"),
               "--config", str(fx / "film_net_small_config.json"), "-o", str(out)])  # fmt: skip
    assert rc == 0 and out.is_file()
    return out

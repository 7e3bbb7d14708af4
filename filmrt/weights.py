"""Weight files: where they live, how they are read and written.

All weights are stored as safetensors. The file's metadata says what it holds:

- ``model``: the model name (``film``, ``rife-4.25``),
- ``config``: the model's configuration as JSON (FILM's hyper-parameters; ``{}`` if none),
- ``source``: where the tensors came from (free text), and more keys where useful.

So a weights file alone is enough to rebuild its model (:func:`filmrt.load_model` accepts a path).

Places, searched in this order:

1. a path given explicitly (``--weights``),
2. the user's weights directory: ``$FILMRT_WEIGHTS_DIR``, else ``$XDG_DATA_HOME/filmrt/weights``,
   else ``~/.local/share/filmrt/weights`` (where ``filmrt weights import`` installs),
3. the weights shipped with the package (the repository's ``weights/`` folder, installed as
   ``filmrt.shipped_weights``).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import torch

from filmrt.errors import FilmrtError
from filmrt.fileio import atomic_path


def user_weights_dir() -> Path:
    env = os.environ.get("FILMRT_WEIGHTS_DIR")
    if env:
        return Path(env).expanduser()
    xdg = os.environ.get("XDG_DATA_HOME")
    base = Path(xdg).expanduser() if xdg else Path.home() / ".local" / "share"
    return base / "filmrt" / "weights"


def shipped_weights_dir() -> Path:
    return Path(str(resources.files("filmrt.shipped_weights")))


def search_dirs() -> list[Path]:
    return [user_weights_dir(), shipped_weights_dir()]


@dataclass(frozen=True)
class WeightsInfo:
    path: Path
    model: str
    config: dict
    metadata: dict

    @property
    def size_bytes(self) -> int:
        return self.path.stat().st_size


def read_metadata(path: str | os.PathLike) -> dict[str, str]:
    """The metadata dict of a safetensors file (without reading the tensors)."""
    from safetensors import safe_open

    p = Path(path)
    if p.is_dir():
        raise FilmrtError(f"weights {p} is a directory: pass the .safetensors file in it")
    if not p.is_file():
        raise FilmrtError(f"weights file not found: {p}")
    try:
        with safe_open(str(p), framework="pt") as f:
            return dict(f.metadata() or {})
    except Exception as e:  # safetensors raises its own error types
        raise FilmrtError(f"not a safetensors weights file: {p} ({e})") from e


def info(path: str | os.PathLike) -> WeightsInfo:
    meta = read_metadata(path)
    model = meta.get("model")
    if not model:
        raise FilmrtError(f"{path}: the safetensors metadata names no model (key 'model')")
    return WeightsInfo(Path(path), model, json.loads(meta.get("config") or "{}"), meta)


def load(path: str | os.PathLike) -> tuple[dict[str, torch.Tensor], WeightsInfo]:
    """Read all tensors (on CPU) and the metadata of a weights file."""
    from safetensors.torch import load_file

    wi = info(path)
    return load_file(str(path), device="cpu"), wi


def save(
    path: str | os.PathLike,
    tensors: dict[str, torch.Tensor],
    model: str,
    config: dict | None = None,
    **metadata: str,
) -> Path:
    """Write tensors with their model name and config, atomically (:func:`filmrt.fileio.atomic_path`);
    creates the folder (the user weights directory may not exist yet)."""
    from safetensors.torch import save_file

    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    meta = {"model": model, "config": json.dumps(config or {}, sort_keys=True)}
    meta.update({k: str(v) for k, v in metadata.items()})
    with atomic_path(p) as tmp:
        save_file({k: v.contiguous() for k, v in tensors.items()}, str(tmp), metadata=meta)
    return p


def installed(model: str | None = None) -> list[WeightsInfo]:
    """Every weights file found in the search directories (optionally only one model's)."""
    found = []
    for d in search_dirs():
        if not d.is_dir():
            continue
        for p in sorted(d.glob("*.safetensors")):
            try:
                wi = info(p)
            except FilmrtError:
                continue
            if model is None or wi.model == model:
                found.append(wi)
    return found


def find(model: str) -> Path | None:
    """The first installed weights file for ``model`` (user directory before shipped), or None."""
    hits = installed(model)
    return hits[0].path if hits else None

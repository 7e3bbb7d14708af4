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

For a model that ships with filmrt (RIFE 4.25) a plain ``--model rife-4.25`` always takes the
shipped file: a file of the same model in the user directory is not used (a warning names it and
says to pass it with ``--weights``), so a damaged or foreign copy there never shadows it silently.

Checks when tensors are loaded (:func:`load`, :func:`verify`), before any model runs:

- every floating-point tensor is finite (NaN/inf weights give solid-colour or noise frames);
- a file whose metadata names a released model (:data:`filmrt.shipped_weights.RELEASED`) holds
  exactly the released tensors (its file sha256, or the digest of its tensors for a fresh
  conversion of the same original); otherwise it is refused, or, when the user named the file
  (``--weights``, ``--model FILE``), used with a warning: fine-tuned weights are the user's call.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import torch

from filmrt.errors import FilmrtError
from filmrt.fileio import atomic_path, sha256_file
from filmrt.shipped_weights import RELEASED


def _warn(msg: str) -> None:
    print(f"filmrt: warning: {msg}", file=sys.stderr)


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


def tensors_digest(tensors: dict[str, torch.Tensor]) -> str:
    """sha256 of the tensors alone (sorted names, dtypes, shapes, bytes), whatever the file's metadata."""
    h = hashlib.sha256()
    for name in sorted(tensors):
        t = tensors[name].detach().cpu().contiguous()
        h.update(f"{name}|{t.dtype}|{tuple(t.shape)}\n".encode())
        h.update(t.reshape(-1).view(torch.uint8).numpy().tobytes())
    return h.hexdigest()


def verify(path: str | os.PathLike, tensors: dict[str, torch.Tensor], wi: WeightsInfo, *, explicit: bool) -> None:
    """The load-time checks (see the module doc): finite values; a released model's hash.

    ``explicit``: the user named this file; a released model's hash mismatch then warns instead
    of refusing."""
    for name, t in tensors.items():
        if t.is_floating_point() and not bool(torch.isfinite(t).all()):
            raise FilmrtError(
                f"{path}: tensor {name!r} holds NaN or infinite values: the weights file is damaged "
                "(re-download or re-import it)"
            )
    known = RELEASED.get(wi.model)
    if known is None:
        return
    if sha256_file(path) == known["sha256"] or tensors_digest(tensors) == known["tensors_sha256"]:
        return
    what = f"{path} says it holds the released {wi.model} weights, but its tensors differ from them"
    if explicit:
        _warn(f"{what} (fine-tuned or damaged?): using it because it was given explicitly")
        return
    shipped = Path(path).resolve() == (shipped_weights_dir() / known["file"]).resolve()
    fix = "reinstall filmrt" if shipped else "delete it, or pass it with --weights to use it anyway"
    raise FilmrtError(f"{what} (damaged?): refused; {fix}")


def load(path: str | os.PathLike, *, explicit: bool = True) -> tuple[dict[str, torch.Tensor], WeightsInfo]:
    """Read all tensors (on CPU) and the metadata of a weights file, checked by :func:`verify`
    (``explicit``: the user named the file)."""
    from safetensors.torch import load_file

    wi = info(path)
    try:
        tensors = load_file(str(path), device="cpu")
    except Exception as e:  # noqa: BLE001 - safetensors raises its own error types
        raise FilmrtError(f"cannot read the tensors of {path}: {e} (damaged file?)") from e
    verify(path, tensors, wi, explicit=explicit)
    return tensors, wi


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
    """The weights file a plain ``--model`` uses, or None: the shipped file for a model that ships
    (a user-directory file of that model is named in a warning, never used silently), else the
    first installed one (user directory before shipped)."""
    hits = installed(model)
    known = RELEASED.get(model)
    shipped = shipped_weights_dir() / known["file"] if known else None
    if shipped is not None and shipped.is_file():
        for other in hits:
            if other.path.resolve() != shipped.resolve():
                _warn(
                    f"{other.path} (model {model}) is not used: --model {model} takes the shipped weights; "
                    f"pass --weights {other.path} to use that file"
                )
        return shipped
    return hits[0].path if hits else None

"""Import the official FILM weights: TensorFlow SavedModel -> filmrt safetensors.

The released film_net SavedModels (``pretrained_models/film_net/{Style,L1,VGG}/saved_model``) keep
their weights in ``variables/variables.{index,data-*}``, a TensorFlow checkpoint whose keys are
``variables/N/.ATTRIBUTES/VARIABLE_VALUE`` with N the Keras creation order. The importer

1. reads that checkpoint with :mod:`filmrt.tfcheckpoint` (no TensorFlow needed; TensorFlow's own
   reader is used only as a fallback when ours cannot parse the file and TF is installed),
2. walks :func:`filmrt.models.film.checkpoint_layout` (derived from the config) and checks that
   variable N exists, is float and has exactly the expected shape, *before* writing anything,
3. turns kernels HWIO -> OIHW, loads them into a :class:`~filmrt.models.film.FILM` (strict), and
4. writes safetensors with metadata ``model=film``, ``config``, ``source`` (atomically).

Without an explicit config the paper configuration is assumed, whose layout must have the 82
tensors / 34,436,667 parameters of the released models (checked).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from filmrt import tfcheckpoint as tfc
from filmrt import weights as _weights
from filmrt.errors import FilmrtError
from filmrt.fileio import sha256_file
from filmrt.models.film import FILM, PAPER_CONFIG, CheckpointVariable, FilmConfig, checkpoint_layout

#: the released film_net models (Style / L1 / VGG): shipped manifest facts
FULL_NUM_TENSORS = 82
FULL_NUM_PARAMS = 34_436_667


@dataclass(frozen=True)
class ImportResult:
    path: Path
    num_tensors: int
    num_params: int
    config: dict
    source: str


def load_config(config: dict | str | os.PathLike | None) -> dict:
    """A FILM config from a dict, a JSON file (``{"config": {...}}`` or the bare dict) or None (paper)."""
    if config is None:
        return dict(PAPER_CONFIG)
    if not isinstance(config, dict):
        p = Path(config)
        if not p.is_file():
            raise FilmrtError(f"config file not found: {p}")
        try:
            config = json.loads(p.read_text())
        except (OSError, ValueError) as e:
            raise FilmrtError(f"cannot read config {p}: {e}") from e
    d = config.get("config", config) if isinstance(config, dict) else None
    try:
        cfg = FilmConfig.from_dict(d).to_dict()
    except (ValueError, TypeError, KeyError) as e:
        raise FilmrtError(f"invalid FILM config: {e}") from e
    # A config file that also lists the variables (like film_net_*_config.json) must agree with
    # the layout derived from its hyper-parameters.
    listed = config.get("variables") if isinstance(config, dict) else None
    if isinstance(listed, list):
        layout = checkpoint_layout(cfg)
        if len(listed) != len(layout):
            raise FilmrtError(f"config lists {len(listed)} variables, its hyper-parameters give {len(layout)}")
        for v, ref in zip(layout, listed, strict=True):
            if ref.get("checkpoint_key", v.checkpoint_key) != v.checkpoint_key or \
                    tuple(ref.get("shape", v.shape)) != v.shape:
                raise FilmrtError(
                    f"config's variable list disagrees with its hyper-parameters at {v.checkpoint_key}: "
                    f"lists {ref.get('keras_name')} {ref.get('shape')}, expected {v.keras_name} {list(v.shape)}"
                )
    return cfg


def checkpoint_prefix(src: str | os.PathLike) -> Path:
    """``SAVEDMODEL_DIR`` (or its ``variables/`` dir, or the prefix itself) -> ``.../variables/variables``."""
    p = Path(src).expanduser()
    for cand in (p / "variables" / "variables", p / "variables", p):
        if Path(str(cand) + ".index").is_file():
            return cand
    if not p.exists():
        raise FilmrtError(f"SavedModel directory not found: {p}")
    raise FilmrtError(f"{p} holds no TensorFlow checkpoint (expected {p / 'variables' / 'variables.index'})")


def expected_layout(config: dict) -> list[CheckpointVariable]:
    layout = checkpoint_layout(config)
    if config == PAPER_CONFIG:
        n = sum(int(np.prod(v.shape)) for v in layout)
        assert len(layout) == FULL_NUM_TENSORS and n == FULL_NUM_PARAMS, "FILM layout out of sync with manifest"
    return layout


def _open_reader(prefix: Path):
    """(names -> (dtype name, shape), read(name) -> ndarray) from our reader, else TensorFlow's."""
    try:
        b = tfc.TensorBundle(prefix)
        info = {k: (e.dtype_name, e.shape) for k, e in b.entries.items()}
        return info, b.read
    except tfc.CheckpointError as err:
        try:
            import tensorflow  # noqa: F401
        except ImportError:
            raise FilmrtError(f"cannot read checkpoint {prefix}: {err}") from err
        arrays = tfc.read_with_tensorflow(prefix)  # pragma: no cover - optional path
        info = {k: (str(a.dtype), tuple(a.shape)) for k, a in arrays.items()}  # pragma: no cover
        return info, arrays.__getitem__  # pragma: no cover


def check_checkpoint(info: dict[str, tuple[str, tuple[int, ...]]], layout: list[CheckpointVariable],
                     config_label: str) -> None:
    """Raise a one-line FilmrtError naming the first variable that does not fit ``layout``."""
    if not any(k.startswith("variables/") for k in info):
        first = next(iter(sorted(k for k in info if not k.startswith("_"))), None)
        raise FilmrtError(
            "not a FILM SavedModel checkpoint: no 'variables/N/.ATTRIBUTES/VARIABLE_VALUE' keys"
            + (f" (first variable: {first})" if first else "")
        )
    for v in layout:
        got = info.get(v.checkpoint_key)
        if got is None:
            raise FilmrtError(
                f"not a FILM checkpoint ({config_label}): {v.checkpoint_key} (expected {v.keras_name}, "
                f"shape {list(v.shape)}) is missing"
            )
        dtype, shape = got
        if tuple(shape) != v.shape:
            raise FilmrtError(
                f"shape mismatch ({config_label}): {v.checkpoint_key} is {list(shape)} in the checkpoint, "
                f"FILM expects {v.keras_name} {list(v.shape)}"
            )
        if not dtype.startswith(("float", "bfloat")):
            raise FilmrtError(f"{v.checkpoint_key} ({v.keras_name}) has dtype {dtype}, expected float")
    extra = sorted(
        (k for k in info if k.startswith("variables/") and k.endswith("/.ATTRIBUTES/VARIABLE_VALUE")
         and k.split("/")[1].isdigit() and int(k.split("/")[1]) >= len(layout)),
        key=lambda k: int(k.split("/")[1]),
    )
    if extra:
        raise FilmrtError(
            f"not a FILM checkpoint ({config_label}): it has more variables than the {len(layout)} "
            f"expected, first extra: {extra[0]}"
        )


def convert(src: str | os.PathLike, config: dict | str | os.PathLike | None = None) -> tuple[dict, dict]:
    """Read and check the checkpoint; returns (state_dict of torch tensors, config)."""
    cfg = load_config(config)
    label = "paper config" if config is None else "given config"
    prefix = checkpoint_prefix(src)
    layout = expected_layout(cfg)
    info, read = _open_reader(prefix)
    check_checkpoint(info, layout, label)
    tensors = {}
    for v in layout:
        a = np.asarray(read(v.checkpoint_key), dtype=np.float32)
        if v.is_kernel:
            a = a.transpose(3, 2, 0, 1)  # HWIO -> OIHW
        tensors[v.param] = torch.from_numpy(np.ascontiguousarray(a))
    return tensors, cfg


def import_savedmodel(
    src: str | os.PathLike,
    out: str | os.PathLike | None = None,
    config: dict | str | os.PathLike | None = None,
) -> ImportResult:
    """Import a film_net SavedModel; ``out`` None = install as ``film.safetensors`` in the user dir."""
    tensors, cfg = convert(src, config)
    with torch.device("meta"):  # structure only: no time spent initialising 34M parameters
        model = FILM(cfg)
    model.load_state_dict(tensors, strict=True, assign=True)  # every parameter present and shaped right
    dest = Path(out) if out is not None else _weights.user_weights_dir() / "film.safetensors"
    prefix = checkpoint_prefix(src)
    source = f"TensorFlow checkpoint {prefix.resolve()} (index sha256 {sha256_file(str(prefix) + '.index')[:16]})"
    _weights.save(dest, tensors, "film", cfg, source=source, importer="filmrt weights import")
    n = sum(t.numel() for t in tensors.values())
    return ImportResult(dest, len(tensors), n, cfg, source)

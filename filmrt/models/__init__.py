"""Model registry and :func:`load_model`.

Every model is a ``torch.nn.Module`` with the same calling convention:

``forward(img0, img1, t) -> image``: ``img0``, ``img1`` (N, 3, H, W) float32 RGB in [0, 1] with H
and W already padded to ``model.pad_multiple`` (64); ``t`` (N,) float32 in [0, 1]; returns
(N, 3, H, W), not clamped. Models also carry ``name`` and ``pad_align`` (see :mod:`filmrt.padding`).

Models whose work splits by lifetime (FILM) also implement the staged protocol used by the
backends for reuse::

    encode_frame(img) -> state          # per frame     (FILM: image + feature pyramids)
    encode_pair(state0, state1) -> pair # per pair      (FILM: forward/backward flow pyramids)
    decode(state0, state1, pair, t)     # per time      (FILM: warp + fusion) -> image

Models are registered by name in ``_REGISTRY`` as ``"module:attribute"`` strings pointing at a
:class:`ModelSpec`, imported only when the model is used.
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import torch

from filmrt import weights as _weights
from filmrt.errors import FilmrtError, WeightsNotFound


@dataclass(frozen=True)
class ModelSpec:
    name: str
    #: builds the module from a config dict (the weights file's ``config`` metadata)
    build: Callable[[dict], torch.nn.Module]
    #: one line for ``--help`` and ``filmrt weights list``
    summary: str
    #: False for parameter-free models (blend)
    needs_weights: bool = True
    #: printed when no weights are found: how to get them
    how_to_get: str = ""
    #: config used when the weights file carries none
    default_config: dict = field(default_factory=dict)
    #: the model takes any t in [0, 1] (RIFE); False: trained for t = 0.5 only (FILM's released
    #: weights), so other times are better reached by recursive midpoints
    time_conditioned: bool = True
    #: the model implements the staged protocol (encode_frame / encode_pair / decode)
    staged: bool = False
    #: padding placement of the reference code ("center": FILM, "end": RIFE), see filmrt.padding
    pad_align: str = "end"
    #: input height and width must be multiples of this (the default config's value)
    pad_multiple: int = 64
    #: mean Middlebury PSNR of the released weights on OpenVINO bf16 minus fp32 (dB), as measured by
    #: ``tests/support/precision_sweep.py`` on a CPU with AVX512-BF16 or AMX; None = not measured,
    #: so ``--precision auto`` stays fp32 (:func:`filmrt.engine.openvino_backend.auto_precision`)
    bf16_psnr_delta_db: float | None = None

    @property
    def recommended_mode(self) -> str:
        """How to reach times other than 0.5: "direct" (one call per time) or "recursive"."""
        return "direct" if self.time_conditioned else "recursive"


_REGISTRY: dict[str, str] = {
    "film": "filmrt.models.film:SPEC",
    "rife-4.25": "filmrt.models.rife:SPEC",
    "blend": "filmrt.models.blend:SPEC",
}
ALIASES = {"rife": "rife-4.25"}


def model_names() -> list[str]:
    return list(_REGISTRY)


def get_spec(name: str) -> ModelSpec:
    key = ALIASES.get(name, name)
    if key not in _REGISTRY:
        raise FilmrtError(f"unknown model {name!r}; known models: {', '.join(_REGISTRY)}")
    mod, attr = _REGISTRY[key].split(":")
    return getattr(importlib.import_module(mod), attr)


def default_model_name() -> str:
    """``film`` when FILM weights are installed, else ``rife-4.25`` (whose weights ship with filmrt)."""
    return "film" if _weights.find("film") else "rife-4.25"


def resolve_model_name(model: str | os.PathLike | None = None, weights: str | os.PathLike | None = None) -> str:
    """The model a command runs: ``model`` if given, else the model named by the ``weights`` file's
    metadata, else :func:`default_model_name`. Not checked against the registry (see
    :func:`get_spec`): ``model`` may be a weights path, which :func:`load_model` accepts."""
    if model:
        return os.fspath(model)
    if weights:
        return _weights.info(weights).model
    return default_model_name()


def resolve_weights(name: str, weights: str | os.PathLike | None) -> Path | None:
    spec = get_spec(name)
    if weights is not None:
        p = Path(weights).expanduser()
        if p.is_dir():
            raise FilmrtError(f"weights {p} is a directory: pass the .safetensors file in it")
        if not p.is_file():
            raise FilmrtError(f"weights file not found: {p}")
        return p
    if not spec.needs_weights:
        return None
    found = _weights.find(spec.name)
    if found is None:
        raise WeightsNotFound(
            f"no weights for model {spec.name!r} installed (looked in "
            f"{', '.join(str(d) for d in _weights.search_dirs())}). {spec.how_to_get}".strip()
        )
    return found


def load_model(
    name: str | os.PathLike,
    weights: str | os.PathLike | None = None,
    device: str | torch.device = "cpu",
) -> torch.nn.Module:
    """Build a model, load its weights, put it in eval mode on ``device``.

    ``name`` is a model name (``film``, ``rife-4.25``, ``blend``) or the path of a safetensors file
    whose metadata names the model. Without ``weights`` the installed/shipped weights are used.
    """
    if str(name).endswith(".safetensors") or (weights is None and Path(str(name)).is_file()):
        weights, name = Path(name), _weights.info(name).model
    name = str(name)
    spec = get_spec(name)
    path = resolve_weights(spec.name, weights)
    if path is None:
        model = spec.build(dict(spec.default_config))
    else:
        # checked as they load (finite; a released model's hash): refused files never run
        tensors, wi = _weights.load(path, explicit=weights is not None)
        if wi.model != spec.name:
            raise FilmrtError(f"{path} holds weights of model {wi.model!r}, not {spec.name!r}")
        config = wi.config or dict(spec.default_config)
        # Build on the meta device (no memory, no random init: FILM's 34M parameters took ~1 s to
        # initialise just to be overwritten), then adopt the loaded tensors as the parameters.
        with torch.device("meta"):
            model = spec.build(config)
        try:
            model.load_state_dict(tensors, strict=True, assign=True)
            if any(x.is_meta for x in (*model.parameters(), *model.buffers())):
                model = spec.build(config)  # a buffer the file does not hold: initialise normally
                model.load_state_dict(tensors, strict=True)
        except RuntimeError as e:
            first = str(e).strip().splitlines()
            raise FilmrtError(f"{path} does not fit model {spec.name!r}: {' '.join(first[:2])}") from e
        model.weights_path = str(path)
    return model.eval().requires_grad_(False).to(device)

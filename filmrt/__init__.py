"""filmrt: video frame-rate conversion and slow motion with FILM and RIFE, built for throughput.

Python API (the CLI ``filmrt`` is a thin layer over it)::

    import filmrt
    model = filmrt.load_model("rife-4.25")             # or "film", or a .safetensors path
    out = model(img0, img1, t)                          # padded NCHW [0,1] float32, t (N,)

    from filmrt.engine import open_interpolator
    interp = open_interpolator("rife-4.25", backend="auto", device="cpu")
    mid = interp.interpolate(frames_a, frames_b, [0.5] * n)   # any size; pads and crops

Layout: this core package holds the models, the warp op, padding, weights and the Interpolator
interface; ``filmrt.export`` (ONNX), ``filmrt.engine`` (runtimes) and ``filmrt.pipeline`` (video)
build on it and are never imported by it.
"""

from __future__ import annotations

__version__ = "0.1.0"

# The stages are installed as filmrt.<stage> from their own top-level folders. The strict editable
# install (`make setup`) mirrors that layout in a link tree for editors and type checkers; run from
# the repository root, this folder is found first, so the package path takes in the link tree too.
import pkgutil as _pkgutil  # noqa: E402

__path__ = _pkgutil.extend_path(__path__, __name__)

from filmrt.errors import FilmrtError, WeightsNotFound  # noqa: E402

#: the API names that need PyTorch, imported on first use: ``import filmrt`` stays light, so the
#: ``filmrt`` command takes signals as "interrupted" from its first instant (filmrt.cli.launch)
#: instead of dying in the seconds PyTorch takes to import
_LAZY = {"default_model_name": "models", "load_model": "models", "model_names": "models",
         "Padding": "padding", "pad_to_multiple": "padding", "backward_warp": "warp"}


def __getattr__(name: str):
    if name not in _LAZY:
        raise AttributeError(f"module 'filmrt' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(f"filmrt.{_LAZY[name]}"), name)
    globals()[name] = value
    return value

__all__ = [
    "FilmrtError",
    "WeightsNotFound",
    "Padding",
    "backward_warp",
    "default_model_name",
    "load_model",
    "model_names",
    "pad_to_multiple",
]

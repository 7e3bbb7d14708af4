"""The one Interpolator interface: frames and times in, frames out.

Every backend (PyTorch, ONNX Runtime, TensorRT) and every model (FILM, RIFE, blend) is used through
this contract, so the CLI, the evaluation and the video pipeline never care which is running.

Contract of :meth:`Interpolator.interpolate`:

- ``frames_a``, ``frames_b``: (N, 3, H, W) float RGB in [0, 1], NCHW, any H and W (both batches the
  same size), on any device. Integer (uint8) frames are not accepted: convert first.
- ``times``: N floats in [0, 1], the position of each output between its a (t=0) and b (t=1).
- returns (N, 3, H, W) float32 RGB clamped to [0, 1], on the interpolator's device.
- Padding to a multiple of 64 (the model's own placement, :mod:`filmrt.padding`), batching in chunks
  of at most ``max_batch`` pairs, precision casts and cropping all happen inside.
- ``keys_a`` / ``keys_b`` (optional, N hashables): identities of the frames (e.g. their index in
  the video). A backend may cache per-frame and per-pair work under them: FILM's feature pyramid is
  a property of one frame and its flows a property of one pair, so converting 30 -> 120 fps needs
  one feature pass and one flow pass per input frame and three fusion passes, not three whole-model
  calls. Without keys nothing is cached across calls.

A backend subclasses :class:`Interpolator` and implements :meth:`_run` on padded batches. For a
staged model (FILM) every backend hands ``_run``'s chunk to one :class:`~filmrt.stages.StagedRunner`
(frame identities, the frame/pair LRU caches, encode-once orchestration, ``stats``) and supplies
only its three stage callables.
"""

from __future__ import annotations

import abc
from collections.abc import Hashable, Sequence

import torch

from filmrt.errors import FilmrtError
from filmrt.options import RuntimeOptions
from filmrt.padding import MULTIPLE, Padding
from filmrt.stages import StagedRunner

__all__ = ["Interpolator", "StagedRunner", "Times"]

Times = torch.Tensor | Sequence[float] | float


class Interpolator(abc.ABC):
    """Base class of every backend; see the module docstring for the contract."""

    #: name of the model ("film", "rife-4.25", "blend")
    model_name: str = ""
    #: name of the backend ("torch", "ort", "trt")
    backend: str = ""
    #: "fp32", "fp16" or "bf16"
    precision: str = "fp32"
    #: where inputs are taken to and outputs returned
    device: torch.device = torch.device("cpu")
    #: padding placement of the model ("center" for FILM, "end" for RIFE)
    pad_align: str = "center"
    pad_multiple: int = MULTIPLE
    #: largest number of pairs run in one call of _run (backends take RuntimeOptions'; this is its default)
    max_batch: int = RuntimeOptions.max_batch

    # ------------------------------------------------------------------ to implement
    @abc.abstractmethod
    def _run(
        self,
        a: torch.Tensor,
        b: torch.Tensor,
        t: torch.Tensor,
        keys_a: Sequence[Hashable] | None,
        keys_b: Sequence[Hashable] | None,
    ) -> torch.Tensor:
        """Interpolate one padded chunk: a, b (n,3,Hp,Wp) float32 on self.device, t (n,) float32.

        Returns (n,3,Hp,Wp); the base class crops, clamps and casts to float32.
        """

    # ------------------------------------------------------------------ public API
    def interpolate(
        self,
        frames_a: torch.Tensor,
        frames_b: torch.Tensor,
        times: Times,
        *,
        keys_a: Sequence[Hashable] | None = None,
        keys_b: Sequence[Hashable] | None = None,
    ) -> torch.Tensor:
        a, b = frames_a, frames_b
        if a.dim() == 3:
            a, b = a.unsqueeze(0), b.unsqueeze(0)
        if a.dim() != 4 or a.shape[1] != 3:
            raise FilmrtError(f"frames must be (N,3,H,W) RGB, got shape {tuple(frames_a.shape)}")
        if a.shape != b.shape:
            raise FilmrtError(
                f"the two frames differ in size: {tuple(a.shape[-2:])} vs {tuple(b.shape[-2:])} (H, W)"
            )
        if not a.is_floating_point():
            raise FilmrtError(f"frames must be float RGB in [0,1], got dtype {a.dtype}")
        n = a.shape[0]
        t = torch.as_tensor(times, dtype=torch.float32).flatten()
        if t.numel() == 1 and n > 1:
            t = t.expand(n)
        if t.numel() != n:
            raise FilmrtError(f"got {n} frame pairs but {t.numel()} times")
        if bool(((t < 0) | (t > 1)).any()):
            raise FilmrtError(f"times must lie in [0, 1], got {t.tolist()}")
        for keys in (keys_a, keys_b):
            if keys is not None and len(keys) != n:
                raise FilmrtError(f"got {n} frame pairs but {len(keys)} keys")

        pad = Padding.for_size(a.shape[-2], a.shape[-1], self.pad_multiple, self.pad_align)
        with torch.inference_mode():
            return self._interpolate_chunks(a, b, t, keys_a, keys_b, pad)

    def _interpolate_chunks(self, a, b, t, keys_a, keys_b, pad: Padding) -> torch.Tensor:
        n = a.shape[0]
        outs = []
        for s in range(0, n, self.max_batch):
            e = min(n, s + self.max_batch)
            ca = pad.pad(a[s:e].to(self.device, torch.float32))
            cb = pad.pad(b[s:e].to(self.device, torch.float32))
            ct = t[s:e].to(self.device)
            ka = None if keys_a is None else list(keys_a[s:e])
            kb = None if keys_b is None else list(keys_b[s:e])
            out = self._run(ca, cb, ct, ka, kb)
            self._check_finite(out)
            outs.append(pad.crop(out).float().clamp(0.0, 1.0))
        return outs[0] if len(outs) == 1 else torch.cat(outs)

    def _check_finite(self, out: torch.Tensor) -> None:
        """One reduction per chunk: NaN/inf out of the model (damaged weights, an FP16 overflow)
        would be clamped into solid-colour frames and written with exit 0; refuse them instead."""
        if not bool(torch.isfinite(out).all()):
            raise FilmrtError(
                f"the model ({self.describe()}) produced NaN or infinite values: damaged weights, or a "
                "precision too low for this input (try --precision fp32)"
            )

    def describe(self) -> str:
        return f"{self.model_name} on {self.backend} ({self.device}, {self.precision})"

    def close(self) -> None:
        """Release caches and device memory held by the backend."""

    def __enter__(self) -> Interpolator:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

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

Large frames (:mod:`filmrt.tiles`). With a memory budget (``max_memory``, the ``--max-memory`` of
:class:`~filmrt.options.RuntimeOptions`) a padded frame larger than the budget allows is cut into
overlapping tiles here, each tile run through ``_run`` as an ordinary pair (with keys
``(key, tile)``, so FILM's caches still work per tile) and feathered back together; every backend
gets this by going through :meth:`interpolate`. ``tile`` fixes the tile side instead (tests, bench).

Flow scale (RIFE's ``scale``): a model with a ``scale`` attribute estimates its flows on a grid
``scale`` times as fine; ``flow_scale`` None = :func:`filmrt.models.rife.auto_flow_scale` of the
*whole* frame's size (0.5 at 2160p, as RIFE's authors advise), chosen before tiling. A scale below
1 raises the padding multiple to ``pad_multiple / scale`` (the coarsest block still sees whole
pixels). Only backends that run the torch module can change it (``flow_scale_settable``); the
exported graphs (ort, openvino, trt) run the scale they were exported with, 1.0.
"""

from __future__ import annotations

import abc
from collections.abc import Hashable, Sequence

import torch

from filmrt import tiles as _tiles
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
    #: memory budget in bytes for the model's working set (None: no tiling), see filmrt.tiles
    max_memory: int | None = None
    #: fixed tile side in padded pixels (None: from max_memory); overlap and unused margin of tiles
    tile: int | None = None
    tile_overlap: int = _tiles.OVERLAP
    tile_margin: int = _tiles.MARGIN
    #: the model's arithmetic is next to nothing beside decoding and encoding a frame (the thread
    #: plan then gives the codecs the cores: filmrt.pipeline.threads); no backend's model is
    light: bool = False
    #: RIFE's flow scale (None: by frame size), and whether this backend can change it
    flow_scale: float | None = None
    flow_scale_settable: bool = False

    def take_large_frame_options(self, options: RuntimeOptions) -> None:
        """Read ``--max-memory`` and ``--flow-scale`` from ``options`` (every backend's __init__ calls it)."""
        self.max_memory = options.max_memory_bytes()
        self.flow_scale = options.flow_scale
        if self.flow_scale not in (None, 1.0) and not self.flow_scale_settable:
            raise FilmrtError(
                f"--flow-scale {self.flow_scale:g} needs the torch backend: the {self.backend} backend runs "
                "the graph exported at flow scale 1"
            )

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

        multiple = self._prepare_size(a.shape[-2], a.shape[-1])
        pad = Padding.for_size(a.shape[-2], a.shape[-1], multiple, self.pad_align)
        with torch.inference_mode():
            return self._interpolate_chunks(a, b, t, keys_a, keys_b, pad, multiple)

    def _prepare_size(self, height: int, width: int) -> int:
        """Set the flow scale for a frame of this size (models with one); returns the padding multiple."""
        model = getattr(self, "model", None)
        if not self.flow_scale_settable or not hasattr(model, "scale"):
            return self.pad_multiple
        from filmrt.models.rife import auto_flow_scale

        scale = self.flow_scale if self.flow_scale is not None else auto_flow_scale(height, width)
        model.scale = float(scale)
        return self.pad_multiple if scale >= 1 else int(round(self.pad_multiple / scale))

    def _interpolate_chunks(self, a, b, t, keys_a, keys_b, pad: Padding, multiple: int) -> torch.Tensor:
        n = a.shape[0]
        outs = []
        for s in range(0, n, self.max_batch):
            e = min(n, s + self.max_batch)
            ca = pad.pad(a[s:e].to(self.device, torch.float32))
            cb = pad.pad(b[s:e].to(self.device, torch.float32))
            ct = t[s:e].to(self.device)
            ka = None if keys_a is None else list(keys_a[s:e])
            kb = None if keys_b is None else list(keys_b[s:e])
            out = self._run_tiled(ca, cb, ct, ka, kb, multiple)
            outs.append(pad.crop(out).float().clamp(0.0, 1.0))
        return outs[0] if len(outs) == 1 else torch.cat(outs)

    def tile_plan(self, height: int, width: int, pairs: int, multiple: int | None = None) -> list[_tiles.Tile]:
        """The tiles of a padded (height, width) frame for ``pairs`` pairs per call (one: untiled)."""
        multiple = multiple or self.pad_multiple
        side = self.tile
        if side is None and self.max_memory is not None:
            per_px = _tiles.BYTES_PER_PIXEL.get(self.model_name, _tiles.DEFAULT_BYTES_PER_PIXEL)
            side = _tiles.tile_side(self.max_memory, per_px, pairs, multiple, height * width)
        if side is None or (height <= side and width <= side):
            return [_tiles.Tile(0, height, 0, width)]
        # at least twice the overlap: each tile adds as many new pixels as it shares, tiles stay few
        side = max(side, -(-2 * self.tile_overlap // multiple) * multiple)
        return _tiles.plan_tiles(height, width, side, self.tile_overlap, multiple)

    def _run_tiled(self, a, b, t, keys_a, keys_b, multiple: int) -> torch.Tensor:
        """``_run`` on a padded chunk, whole or tile by tile (see filmrt.tiles)."""
        hp, wp = a.shape[-2:]
        plan = self.tile_plan(hp, wp, a.shape[0], multiple)
        if len(plan) == 1:
            out = self._run(a, b, t, keys_a, keys_b)
            self._check_finite(out)
            return out
        out = torch.zeros(a.shape, dtype=torch.float32, device=a.device)
        for tile, weight in zip(plan, _tiles.tile_weights(plan, hp, wp, self.tile_margin), strict=True):
            ta = a[..., tile.y0:tile.y1, tile.x0:tile.x1].contiguous()
            tb = b[..., tile.y0:tile.y1, tile.x0:tile.x1].contiguous()
            ka = None if keys_a is None else [(k, tile) for k in keys_a]
            kb = None if keys_b is None else [(k, tile) for k in keys_b]
            piece = self._run(ta, tb, t, ka, kb)
            self._check_finite(piece)
            _tiles.stitch(out, piece, tile, weight)
            del piece, ta, tb
        return out

    def _check_finite(self, out: torch.Tensor) -> None:
        """One reduction per chunk: NaN/inf out of the model (damaged weights, an FP16 overflow)
        would be clamped into solid-colour frames and written with exit 0; refuse them instead.

        A NaN or an infinity anywhere makes the sum NaN or infinite, so a finite sum proves every
        value finite: one read of the chunk (``isfinite().all()`` writes a bool copy of it first,
        10x the CPU time at 720p). Only a sum that is not finite is checked value by value (finite
        values can overflow a sum, though not the [0, 1] pictures of a working model)."""
        total = out.sum(dtype=torch.float32) if out.is_floating_point() else out.sum()
        if bool(torch.isfinite(total)):
            return
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

"""The inference stage: requests ``(a, b, t)`` -> frames, batched through one Interpolator.

Both ``filmrt convert`` (many source frames, one request per output frame) and ``filmrt
interpolate`` (two images, one request per asked time) reach the model through :class:`Inference`.
A request names its two frames by *key* (a source frame index, ``"A"``...) and a time ``t`` in
[0, 1]; the frames themselves are looked up in a mapping ``key -> (3, H, W) tensor``. The keys are
handed to the Interpolator as frame identities, so a staged model (FILM) computes its per-frame
features once per source frame and its flows once per pair, however many times are asked.

Two ways to reach a time (``mode``):

- ``direct``: one model call per request at ``t`` itself (RIFE is trained for any t).
- ``recursive``: the model is only ever asked for midpoints (t = 1/2), FILM's released way of
  making several frames: the frame at 3/8 is the midpoint of the frames at 1/4 and 1/2, which are
  midpoints themselves (:func:`dyadic_chain`). ``t`` must be dyadic (``m / 2**d``): callers round
  with :func:`nearest_dyadic`, THE rounding rule of the project (the scheduler of ``convert`` and
  ``interpolate --at`` both use it). Every midpoint is computed once per pair, level by level (one
  batch of model calls per level), and carries its own key ``("mid", a, b, m, 2**d)`` so it can be
  a frame identity in the next level's calls.

``t == 0`` and ``t == 1`` are the frames themselves (no model call), in both modes.
"""

from __future__ import annotations

import math
import time
from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass
from fractions import Fraction
from typing import Protocol

import torch

from filmrt.errors import FilmrtError
from filmrt.models import ModelSpec

MODES = ("direct", "recursive")
#: first element of the key of a frame made by recursive midpoints
MID = "mid"
#: first element of the key of an alpha plane (run through the model as a grey picture)
ALPHA = "alpha"


class Request(Protocol):
    """One wanted frame: between frames ``a`` and ``b`` (keys) at ``t`` (exact, in [0, 1])."""

    a: Hashable
    b: Hashable
    t: Fraction


@dataclass(frozen=True)
class Pair:
    """A plain :class:`Request` (the scheduler's ``Job`` is another)."""

    a: Hashable
    b: Hashable
    t: Fraction


def nearest_dyadic(t: Fraction | float, max_depth: int) -> Fraction:
    """``t`` rounded to the nearest ``m / 2**max_depth``, ties up (exact; reduced, so 8/16 is 1/2).

    THE rounding rule for recursive midpoints. A float is taken at its exact binary value
    (``0.3`` -> 0.25 at depth 3, ``0.0625`` -> 1/8 at depth 3: a tie, rounded up).
    """
    if not 0 <= max_depth <= 62:
        raise ValueError(f"max_depth {max_depth} out of range")
    scale = 1 << max_depth
    return Fraction(math.floor(Fraction(t) * scale + Fraction(1, 2)), scale)


def dyadic_chain(t: Fraction) -> list[tuple[Fraction, Fraction]]:
    """The intervals bisected, top down, to reach the dyadic time ``t`` by midpoints.

    ``dyadic_chain(3/8)`` -> ``[(0, 1), (0, 1/2), (1/4, 1/2)]``: the midpoint of the last interval
    is ``t``; every earlier midpoint is needed first.
    """
    t = Fraction(t)
    if not 0 < t < 1 or t.denominator & (t.denominator - 1):
        raise ValueError(f"{t} is not a dyadic fraction in (0, 1)")
    lo, hi = Fraction(0), Fraction(1)
    chain = []
    while True:
        chain.append((lo, hi))
        mid = (lo + hi) / 2
        if mid == t:
            return chain
        lo, hi = (lo, mid) if t < mid else (mid, hi)


def choose_mode(mode: str, spec: ModelSpec) -> str:
    """``"auto"`` -> the model's recommended mode (FILM recursive, RIFE/blend direct); else ``mode``."""
    if mode == "auto":
        return spec.recommended_mode
    if mode not in MODES:
        raise FilmrtError(f"--mode {mode}: use auto, {', '.join(MODES)}")
    return mode


class Inference:
    """Turns requests into frames through ``interp``, ``batch`` model pairs per call, in ``mode``."""

    def __init__(self, interp, *, mode: str = "direct", batch: int = 4):
        if mode not in MODES:
            raise FilmrtError(f"unknown mode {mode!r}: use {' or '.join(MODES)}")
        self.interp = interp
        self.mode = mode
        self.batch = max(1, int(batch))
        #: wall seconds spent inside the interpolator's calls (the rest of a run is glue)
        self.model_s = 0.0
        self.model_calls = 0

    def run(self, requests: Sequence[Request], frames: Mapping[Hashable, torch.Tensor]) -> list[torch.Tensor]:
        """One (3, H, W) frame per request, in order; ``frames`` maps every key used to its frame."""
        todo = [r for r in requests if 0 < r.t < 1]
        if self.mode == "recursive":
            made = self._recursive(todo, frames)
        else:
            made = self._direct(todo, frames)
        out = []
        for r in requests:
            if r.t == 0:
                out.append(frames[r.a])
            elif r.t == 1:
                out.append(frames[r.b])
            else:
                out.append(made[(r.a, r.b, Fraction(r.t))])
        return out

    # ------------------------------------------------------------------ the model calls
    def _call(self, a: list[torch.Tensor], b: list[torch.Tensor], times: list[float],
              keys_a: list[Hashable], keys_b: list[Hashable]) -> torch.Tensor:
        fa, fb = torch.stack(a), torch.stack(b)
        t0 = time.perf_counter()
        rgb = self.interp.interpolate(fa[:, :3], fb[:, :3], times, keys_a=keys_a, keys_b=keys_b)
        if fa.shape[1] == 3:
            self._timed(t0)
            return rgb
        # RGBA: the alpha plane goes through the model as a grey picture (three equal channels) of the
        # same pair at the same time, so it moves with the same estimated motion as the picture
        grey_a, grey_b = fa[:, 3:].repeat(1, 3, 1, 1), fb[:, 3:].repeat(1, 3, 1, 1)
        alpha = self.interp.interpolate(grey_a, grey_b, times, keys_a=[(ALPHA, k) for k in keys_a],
                                        keys_b=[(ALPHA, k) for k in keys_b])
        self._timed(t0)
        return torch.cat([rgb, alpha.mean(1, keepdim=True).clamp(0, 1)], 1)

    def _timed(self, t0: float) -> None:
        """Count one model call (wall seconds since ``t0``: the time inside the model)."""
        self.model_s += time.perf_counter() - t0
        self.model_calls += 1

    def _direct(self, todo: Sequence[Request], frames) -> dict[tuple, torch.Tensor]:
        made: dict[tuple, torch.Tensor] = {}
        wanted = list(dict.fromkeys((r.a, r.b, Fraction(r.t)) for r in todo))  # each distinct frame once
        for s in range(0, len(wanted), self.batch):
            chunk = wanted[s : s + self.batch]
            out = self._call([frames[a] for a, _, _ in chunk], [frames[b] for _, b, _ in chunk],
                             [float(t) for _, _, t in chunk], [a for a, _, _ in chunk], [b for _, b, _ in chunk])
            made.update(zip(chunk, out, strict=True))
        return made

    def _recursive(self, todo: Sequence[Request], frames) -> dict[tuple, torch.Tensor]:
        """Midpoints level by level; ``made[(a, b, x)]`` is the frame at dyadic time x of pair (a, b)."""
        made: dict[tuple, torch.Tensor] = {}

        def frame(a, b, x: Fraction) -> tuple[torch.Tensor, Hashable]:
            if x == 0:
                return frames[a], a
            if x == 1:
                return frames[b], b
            return made[(a, b, x)], (MID, a, b, x.numerator, x.denominator)

        chains = {(r.a, r.b, Fraction(r.t)): dyadic_chain(r.t) for r in todo}
        for level in range(max((len(c) for c in chains.values()), default=0)):
            needed: dict[tuple, tuple[Fraction, Fraction]] = {}  # (a, b, midpoint) -> its interval
            for (a, b, _), chain in chains.items():
                if level < len(chain):
                    lo, hi = chain[level]
                    key = (a, b, (lo + hi) / 2)
                    if key not in made:
                        needed.setdefault(key, (lo, hi))
            work = list(needed.items())
            for s in range(0, len(work), self.batch):
                chunk = work[s : s + self.batch]
                fa = [frame(a, b, lo) for (a, b, _), (lo, _) in chunk]
                fb = [frame(a, b, hi) for (a, b, _), (_, hi) in chunk]
                out = self._call([x[0] for x in fa], [x[0] for x in fb], [0.5] * len(chunk),
                                 [x[1] for x in fa], [x[1] for x in fb])
                for (key, _), o in zip(chunk, out, strict=True):
                    made[key] = o
        return made


class PipelineBlend:
    """``--model blend`` computed by the pipeline itself, no runtime opened: blend has no
    weights and no motion, ``(1 - t) * a + t * b``, so ``convert`` mixes the decoded Y'CbCr planes
    as they are (:func:`filmrt.pipeline.io.planes.blend`, within one code of the blend in RGB)
    and RGB pictures (an RGB source, ``--protect``) by the same formula as the blend model. Stands
    where an Interpolator would (device, names, :meth:`interpolate`, :meth:`close`)."""

    model_name = "blend"
    #: no runtime: the pipeline's own arithmetic
    backend = "pipeline"
    #: the mix is computed in float32 (the planes' own codes in, rounded codes out)
    precision = "fp32"
    #: one multiply-add per sample: the codecs take the cores (filmrt.pipeline.threads)
    light = True

    def __init__(self, device: torch.device):
        self.device = device

    @classmethod
    def instead_of(cls, runtime, device: torch.device) -> PipelineBlend | None:
        """The pipeline's blend for ``runtime`` (RuntimeOptions) ``--model blend`` with ``--backend
        auto``; None otherwise (a backend named explicitly runs the blend model as asked)."""
        if runtime.model == "blend" and not runtime.weights and runtime.backend == "auto":
            return cls(device)
        return None

    def interpolate(self, a: torch.Tensor, b: torch.Tensor, times, keys_a=None, keys_b=None) -> torch.Tensor:
        t = torch.as_tensor(times, dtype=a.dtype, device=a.device).view(-1, 1, 1, 1)
        return a + (b - a) * t

    def describe(self) -> str:
        return "blend (computed by the pipeline, no runtime)"

    def close(self) -> None:
        """Nothing to release."""

"""Large frames within memory: run the model on overlapping tiles and feather them back together.

A model's working memory grows with the number of pixels it sees (RIFE 4.25 in fp32 on a CPU:
about :data:`BYTES_PER_PIXEL` bytes per padded pixel, measured by ``bench/large_frames.py``), so
a 4320p frame pair does not fit where a 720p one does. With a memory budget (``--max-memory``)
the :class:`~filmrt.interpolator.Interpolator` cuts each padded frame into tiles that fit, runs
every tile as an ordinary frame pair and puts the outputs back together. This module is the
one place that decides the tiles (:func:`plan_tiles`) and joins them (:func:`stitch`).

Why overlap. A pixel of the output depends on the input around it (the model's receptive field,
and for a flow model the pixels the flow fetches from). Near a tile's cut edge the model sees zero
padding instead of the neighbouring pixels, so each tile's border is wrong. Tiles therefore
overlap by ``overlap`` pixels; inside the overlap, ``margin`` pixels next to each cut edge get
weight 0 (they are never used) and the rest of the overlap is a linear cross-fade between the
two tiles, so a seam, if the tiles disagree, is spread over many pixels instead of a hard line.
If ``margin`` covers the receptive field and the flow range, every output pixel is computed
from exactly the inputs the untiled call would have used: tiled equals untiled up to float32
rounding (tests/core/test_tiles.py checks this on a model with a known receptive field). RIFE's
receptive field is the whole frame in principle (its first block runs at 1/64 resolution), so
for RIFE the difference is measured, not zero: ``bench/large_frames.py``, ``docs/backends.md``.

The layout (what FILM's reference does with its block shape, with feathering instead of a cut):

- tiles are cut from the *padded* frame (padded once to the model's multiple, the model's own
  placement), their sizes and positions multiples of that multiple: every tile sees the same
  downsampling grid as the untiled call, and no tile needs padding of its own;
- per axis, tiles start every ``tile - overlap`` pixels and the last one ends at the padded edge;
- the 2-D weight of a tile is the product of its two 1-D weights, each normalised to sum to 1
  per pixel over the tiles of that axis, so the weights of all tiles sum to 1 everywhere.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

#: peak working memory of one pair, bytes per padded pixel of the tile. RIFE 4.25 fp32, torch, CPU:
#: 611 measured (the slope of peak RSS between 512x512 and 1024x1024, bench/large_frames.py,
#: 2026-12-06), rounded up. FILM's is an estimate (not measured yet), blend's a bound.
BYTES_PER_PIXEL = {"rife-4.25": 640, "film": 4000, "blend": 64}
#: used for a model not in the table: FILM's, the largest
DEFAULT_BYTES_PER_PIXEL = 4000
#: memory that is not the model's working set, subtracted from --max-memory before tiling: the
#: interpreter, torch and the weights (~260 MB measured before the first call, rounded up) ...
BASE_BYTES = 320 * 2**20
#: ... and the whole frames around the tiles, per pixel of the padded frame and pair: the inputs,
#: their padded copies, the output being stitched and its cropped, clamped copy (8 float32 RGB frames)
FRAME_BYTES_PER_PIXEL = 8 * 3 * 4
#: default overlap and unused margin of a tile (pixels of the padded frame); see the module docstring
OVERLAP = 128
MARGIN = 32
#: smallest tile side: below it the overlap would be most of the tile
MIN_TILE = 256


@dataclass(frozen=True)
class Tile:
    """One tile: rows [y0, y1) and columns [x0, x1) of the padded frame."""

    y0: int
    y1: int
    x0: int
    x1: int


def _starts(n: int, tile: int, overlap: int, multiple: int) -> list[int]:
    """Start offsets along one axis of length ``n``: every ``tile - overlap``, the last at n - tile."""
    if n <= tile:
        return [0]
    step = max(multiple, (tile - overlap) // multiple * multiple)
    count = 1 + math.ceil((n - tile) / step)
    starts = [min(i * step, n - tile) for i in range(count)]
    return sorted(set(starts))


def plan_tiles(height: int, width: int, tile: int, overlap: int = OVERLAP, multiple: int = 64) -> list[Tile]:
    """Tiles of at most ``tile`` x ``tile`` covering a padded (height, width) frame.

    ``height``, ``width`` are multiples of ``multiple``; ``tile`` is rounded down to one (at least
    one multiple). One tile (the whole frame) when the frame fits.
    """
    tile = max(multiple, tile // multiple * multiple)
    th, tw = min(tile, height), min(tile, width)
    return [Tile(y, y + th, x, x + tw)
            for y in _starts(height, th, overlap, multiple)
            for x in _starts(width, tw, overlap, multiple)]


def _axis_weights(n: int, spans: list[tuple[int, int]], margin: int) -> dict[tuple[int, int], torch.Tensor]:
    """1-D weights of each span (start, end) along an axis of length n, normalised to sum to 1."""
    pos = torch.arange(n, dtype=torch.float64) + 0.5
    raw = {}
    for s, e in spans:
        w = torch.zeros(n, dtype=torch.float64)
        w[s:e] = 1.0
        for s2, e2 in spans:  # fade out where a neighbour overlaps this span's cut edges
            if (s2, e2) == (s, e):
                continue
            if s < s2 < e <= e2:  # neighbour after: fade down over [s2 + margin, e - margin)
                w = torch.minimum(w, _ramp(pos, s2 + margin, e - margin, down=True))
            if s2 <= s < e2 < e:  # neighbour before: fade up over [s + margin, e2 - margin)
                w = torch.minimum(w, _ramp(pos, s + margin, e2 - margin, down=False))
        w[:s] = 0.0
        w[e:] = 0.0
        raw[(s, e)] = w
    total = sum(raw.values())
    return {k: (v / total.clamp_min(1e-12)).float() for k, v in raw.items()}


def _ramp(pos: torch.Tensor, a: float, b: float, *, down: bool) -> torch.Tensor:
    """1 before a, 0 after b, linear between (``down``); or its mirror. A cut at the middle when b <= a."""
    if b <= a:
        mid = (a + b) / 2
        up = (pos >= mid).double()
    else:
        up = ((pos - a) / (b - a)).clamp(0.0, 1.0)
    return 1.0 - up if down else up


def tile_weights(tiles: list[Tile], height: int, width: int, margin: int = MARGIN) -> list[torch.Tensor]:
    """Per tile, its (th, tw) float32 weight; over all tiles the weights sum to 1 at every pixel."""
    wy = _axis_weights(height, sorted({(t.y0, t.y1) for t in tiles}), margin)
    wx = _axis_weights(width, sorted({(t.x0, t.x1) for t in tiles}), margin)
    return [torch.outer(wy[(t.y0, t.y1)][t.y0:t.y1], wx[(t.x0, t.x1)][t.x0:t.x1]) for t in tiles]


def stitch(out: torch.Tensor, piece: torch.Tensor, tile: Tile, weight: torch.Tensor) -> None:
    """Add a tile's output (n, c, th, tw), weighted, into ``out`` (n, c, H, W) in place."""
    out[..., tile.y0:tile.y1, tile.x0:tile.x1].addcmul_(piece.float(), weight.to(piece.device))


def tile_side(max_memory: int, bytes_per_pixel: float, pairs: int, multiple: int = 64, frame_pixels: int = 0) -> int:
    """Largest square tile side (a multiple of ``multiple``, at least :data:`MIN_TILE`) whose
    working memory for ``pairs`` pairs fits ``max_memory`` bytes after :data:`BASE_BYTES` and the
    whole frames (``frame_pixels`` padded pixels each, :data:`FRAME_BYTES_PER_PIXEL`)."""
    budget = max(0, max_memory - BASE_BYTES - FRAME_BYTES_PER_PIXEL * frame_pixels * max(1, pairs))
    side = int(math.sqrt(budget / (bytes_per_pixel * max(1, pairs))))
    return max(max(MIN_TILE, multiple), side // multiple * multiple)

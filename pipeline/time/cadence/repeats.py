"""Repeated frames: which pictures repeat the previous one, and whether the repeats form a cadence.

**Never remove motion.** A frame repeats its predecessor only when it is the same picture, within
coding noise, *everywhere*. Two decodes of one source picture differ by the encoder's noise alone:
nothing where it skipped (most of a repeated picture in a P or B frame), a small error spread over
the picture where it coded the picture again (an I-frame). So the test (:func:`moving_blocks`) is:

1. the change of each pixel is the largest of its R, G and B changes: a colour that changes at
   constant luma is a change;
2. per :data:`BLOCK` x :data:`BLOCK` block, the mean change, and the largest mean change of a
   2 x 2 square in it (a clock digit or a 5 px ball changes a few pixels of one block: averaged
   over the block it could pass for noise; the 2 x 2 mean tames single-pixel coding noise);
3. the pair's coding noise is the median block (most of a picture does not move between two
   frames). When that median is above :data:`NOISE_CEILING`, more than coding noise changed
   nearly everywhere (a pan, grain, a moving test pattern that fills a small picture): motion,
   whatever the blocks say. This is the case a noise estimate taken from the pair itself cannot
   see: where everything moves, the median *is* the motion;
4. a block moved when its mean exceeds ``max(MIN_LEVEL, NOISE_FACTOR x noise)`` or its 2 x 2 peak
   exceeds ``max(PEAK_LEVEL, PEAK_FACTOR x noise)``; one moved block and the frame is kept.

A noisy encode can make a true repeat look moving (it is then kept: harmless, a short stop); the
reverse would drop a picture. The thresholds come from the sweep in ``tests/support/dedup_sweep.py``
(docs/broadcast.md, "Repeated frames").

**Only where repeats are the source's habit.** Dropping repeats helps animation on twos or threes
and poor transfers (a frame doubled at a regular interval); elsewhere it can only do harm. So
``--dedup auto`` looks at the first frames (:func:`repeat_cadence`) and removes repeats only when
they recur: every picture held alike (twos, threes), or a repeat at a regular interval. Irregular
repeats, however many, are no cadence (before, "a quarter of the frames" engaged dedup on testsrc2
at 64x48, a clock, sub-pixel pans); nor is a still picture (every frame a repeat).
"""

from __future__ import annotations

from collections import Counter

import torch
import torch.nn.functional as F

#: block side in pixels
BLOCK = 8
#: a block moved when its mean change exceeds this many times the median block's (the noise) ...
NOISE_FACTOR = 4.0
#: ... and at least this much (0..1; 2/255): flat synthetic pictures have no noise at all
MIN_LEVEL = 2 / 255
#: ... or when a 2 x 2 square in it changed by more than this many times the noise ...
PEAK_FACTOR = 8.0
#: ... and at least this much (0..1)
PEAK_LEVEL = 16 / 255
#: a median block above this is more than coding noise: the whole picture changed (0..1; 95 % of the
#: repeated pairs of the sweep had a median of at most 0.02/255, 99 % 1.5/255; a pan of 0.5 px per
#: frame 1-3/255)
NOISE_CEILING = 0.5 / 255
#: the floors are this many times higher when looking for a cadence (:func:`looks_repeated`)
CADENCE_TOLERANCE = 4.0
#: ... and a pair that changed this many times less than the clip's moving pairs looks repeated
CADENCE_CONTRAST = 4.0
#: pairs of frames needed to call a cadence
MIN_PAIRS = 8
#: the longest hold dedup merges into one picture (animation on fours at most)
MAX_HOLD = 4


def moving_blocks(a: torch.Tensor, b: torch.Tensor, tolerance: float = 1.0) -> int:
    """Blocks that moved between frames ``a`` and ``b`` ((C, H, W) planes in 0..1: RGB, RGBA; or
    one (H, W) plane); every block when the whole picture changed (see the module's docstring).
    ``tolerance`` scales the floors :data:`MIN_LEVEL` and :data:`PEAK_LEVEL` (not the ceiling)."""
    return pair_change(a, b, tolerance)[0]


def pair_change(a: torch.Tensor, b: torch.Tensor, tolerance: float = 1.0) -> tuple[int, float]:
    """(:func:`moving_blocks`, :func:`largest_change`) of one pair, from one difference image (the
    analysis asks both of every pair: the per-pixel difference is most of the cost)."""
    a = a.float().reshape(-1, *a.shape[-2:])
    b = b.to(a.device).float().reshape(-1, *b.shape[-2:])
    h, w = a.shape[-2:]
    blocks_n = -(-h // BLOCK) * -(-w // BLOCK)
    if a.shape != b.shape:
        return blocks_n, 1.0  # a different size is never a repeat
    d = (a - b).abs().amax(0)[None, None]
    blocks = F.avg_pool2d(d, BLOCK, ceil_mode=True).flatten()
    noise = float(blocks.median())
    if noise > NOISE_CEILING:
        return blocks_n, 1.0
    peaks = F.max_pool2d(F.avg_pool2d(d, 2, ceil_mode=True), BLOCK // 2, ceil_mode=True).flatten()
    moved = (blocks > max(tolerance * MIN_LEVEL, NOISE_FACTOR * noise)) | \
        (peaks > max(tolerance * PEAK_LEVEL, PEAK_FACTOR * noise))
    return int(moved.sum()), float(blocks.max())


def is_repeat(a: torch.Tensor, b: torch.Tensor) -> bool:
    """Whether frame ``b`` repeats ``a`` (RGB(A) (C, H, W) in 0..1; no block moved): the test a
    frame must pass to be dropped."""
    return moving_blocks(a, b) == 0


def largest_change(a: torch.Tensor, b: torch.Tensor) -> float:
    """The largest block mean change between ``a`` and ``b`` (0..1; 1 when more than coding noise
    changed nearly everywhere, or the sizes differ): how much a pair changed, for
    :func:`cadence_repeats`."""
    return pair_change(a, b)[1]


def cadence_repeats(looks: list[bool], changes: list[float]) -> list[bool]:
    """The repeats a cadence is judged on: those :func:`looks_repeated` found, and the pairs that
    changed less than 1 / :data:`CADENCE_CONTRAST` of what the moving pairs usually change (the
    upper quartile of :func:`largest_change`): a coder refines a repeated picture of saturated
    colour by up to 24/255 in a block (4:2:0 chroma), still far below a new drawing's 100/255.
    A clip whose every pair changes alike (a clock, a pan, grain) has no such pairs."""
    if not changes:
        return looks
    top = sorted(changes)[(3 * len(changes)) // 4]
    return [lk or c * CADENCE_CONTRAST < top for lk, c in zip(looks, changes, strict=True)]


def looks_repeated(a: torch.Tensor, b: torch.Tensor) -> bool:
    """Whether ``b`` repeats ``a`` as far as the *cadence* is concerned: no block moved beyond
    :data:`CADENCE_TOLERANCE` times the floors. A coder refines a repeated picture (x264 at crf 23
    puts back up to 8/255 in a block, 22/255 in a 2 x 2 square, where the previous frame was coded
    coarsely): the strict test misses such repeats, and a cadence of twos would look irregular.
    Only the cadence is judged this way; a frame is dropped only by :func:`is_repeat`."""
    return moving_blocks(a, b, CADENCE_TOLERANCE) == 0


def cadence_pair(a: torch.Tensor, b: torch.Tensor) -> tuple[bool, float]:
    """(:func:`looks_repeated`, :func:`largest_change`) of one pair, computed once."""
    moved, largest = pair_change(a, b, CADENCE_TOLERANCE)
    return moved == 0, largest


def repeat_cadence(repeats: list[bool]) -> str | None:
    """What the repeats of consecutive frames (``repeats[i]``: frame i+1 repeats frame i) say, in
    words, when they make a cadence worth removing; None otherwise (too few frames, no repeats,
    a still picture, pictures held longer than :data:`MAX_HOLD` frames, or scattered repeats)."""
    n, r = len(repeats), sum(repeats)
    if n < MIN_PAIRS or r == 0 or r == n:
        return None
    inner = _holds(repeats)
    if len(inner) < 2 or sorted(inner)[len(inner) // 2] > MAX_HOLD:
        return None  # a picture held for long (a still, a slide, a clock that ticks each second)
    if min(inner) == max(inner) > 1:
        return {2: "animation on twos", 3: "animation on threes"}.get(inner[0], f"each picture held {inner[0]} frames")
    where = [i for i, rep in enumerate(repeats) if rep]
    gaps = [b - a for a, b in zip(where, where[1:], strict=False)]
    if len(gaps) >= 2 and min(gaps) >= 2 and max(gaps) - min(gaps) <= 1:
        return f"a repeated frame every {round(sum(gaps) / len(gaps))} frames"
    return None  # irregular repeats, however many, are no cadence (sub-pixel motion, a clock, tiny pictures)


def _holds(repeats: list[bool]) -> list[int]:
    """How long each picture is shown (in frames), the first one left out (it may have started
    before the analysed frames)."""
    holds, run = [], 1
    for rep in repeats:
        if rep:
            run += 1
        else:
            holds.append(run)
            run = 1
    return holds[1:]


def cadence_hold(repeats: list[bool]) -> int:
    """The longest run of frames dedup may make one picture: the commonest hold of more than one
    frame in the analysed frames (ties: the longer), at most :data:`MAX_HOLD`, at least 2. A run
    longer than that is a picture *held* (a pause in the animation, a still between moves): merged
    whole, the interpolation would spread the next move over the pause."""
    held = Counter(k for k in _holds(repeats) if k > 1)
    if not held:
        return 2
    top = max(held.values())
    return max(2, min(MAX_HOLD, max(k for k, c in held.items() if c == top)))

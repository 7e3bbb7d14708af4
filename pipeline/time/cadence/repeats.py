"""Repeated frames: which pictures repeat the previous one, and whether the repeats form a cadence.

**Never remove motion.** A frame repeats its predecessor only when *no part* of the picture moved.
Counting changed pixels over the whole frame cannot tell that: a 5 px ball is 0.001 % of a 1080p
picture, a 32 px square 0.05 %, far below any share that also tolerates coding noise. So the luma
difference is averaged over :data:`BLOCK` x :data:`BLOCK` blocks, and each block is compared with
the coding noise of this pair of frames, estimated as the median block (most of a picture does not
move between two frames: the median block differs by the encoder's noise alone). One block above
``max(MIN_LEVEL, NOISE_FACTOR x noise)`` is motion, and the frame is kept. A noisy encode can make a
true repeat look moving (it is then kept: harmless); the reverse would freeze the picture.

**Only where repeats are the source's habit.** Dropping repeats helps animation on twos or threes
and poor transfers (a frame doubled at a regular interval); elsewhere it can only do harm. So
``--dedup auto`` looks at the first frames (:func:`repeat_cadence`) and removes repeats only when
they recur: a regular interval between repeats, or at least a quarter of the frames repeated. A
still picture (every frame a repeat) is no cadence: there is nothing to gain.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

#: block side in pixels (a 5 px object covers at least a quarter of one block)
BLOCK = 8
#: a block moved when its mean |dY| exceeds this many times the median block's (the noise) ...
NOISE_FACTOR = 4.0
#: ... and at least this much (0..1 luma; 2/255): flat synthetic pictures have no noise at all
MIN_LEVEL = 2 / 255
#: irregular repeats still make a cadence when at least this share of the frames repeat
DENSE_SHARE = 0.25
#: pairs of frames needed to call a cadence
MIN_PAIRS = 8

_W = (0.2126, 0.7152, 0.0722)


def luma(rgb: torch.Tensor) -> torch.Tensor:
    """(H, W) luma (BT.709 weights) of an RGB(A) frame (C, H, W) in [0, 1]; alpha, when present, is
    stacked as a second plane (a change of alpha is a change of the picture)."""
    w = torch.tensor(_W, dtype=torch.float32, device=rgb.device).view(3, 1, 1)
    y = (rgb[:3].float() * w).sum(0, keepdim=True)
    return torch.cat([y, rgb[3:4].float()]) if rgb.shape[0] == 4 else y


def moving_blocks(a: torch.Tensor, b: torch.Tensor) -> int:
    """Blocks that moved between luma planes ``a`` and ``b`` ((P, H, W) or (H, W), 0..1)."""
    a = a.float().reshape(-1, *a.shape[-2:])
    b = b.to(a.device).float().reshape(-1, *b.shape[-2:])
    if a.shape != b.shape:
        return a.shape[-1] * a.shape[-2]  # a different size is never a repeat
    d = (a - b).abs().unsqueeze(0)
    blocks = F.avg_pool2d(d, BLOCK, ceil_mode=True).amax(1).flatten()  # padding counts as no change
    noise = float(blocks.median())
    level = max(MIN_LEVEL, NOISE_FACTOR * noise)
    return int((blocks > level).sum())


def is_repeat(a: torch.Tensor, b: torch.Tensor) -> bool:
    """Whether RGB(A) frame ``b`` repeats ``a`` (no block moved)."""
    return moving_blocks(luma(a), luma(b)) == 0


def repeat_cadence(repeats: list[bool]) -> str | None:
    """What the repeats of consecutive frames (``repeats[i]``: frame i+1 repeats frame i) say, in
    words, when they make a cadence worth removing; None otherwise (too few frames, no repeats,
    a still picture, or scattered repeats)."""
    n, r = len(repeats), sum(repeats)
    if n < MIN_PAIRS or r == 0 or r == n:
        return None
    holds, run = [], 1  # how long each picture is shown (in frames)
    for rep in repeats:
        if rep:
            run += 1
        else:
            holds.append(run)
            run = 1
    inner = holds[1:]  # the first picture may have started before the analysed frames
    if inner and min(inner) == max(inner) and inner[0] > 1:
        return {2: "animation on twos", 3: "animation on threes"}.get(inner[0], f"each picture held {inner[0]} frames")
    where = [i for i, rep in enumerate(repeats) if rep]
    gaps = [b - a for a, b in zip(where, where[1:], strict=False)]
    if len(gaps) >= 2 and max(gaps) - min(gaps) <= 1:
        return f"a repeated frame every {round(sum(gaps) / len(gaps))} frames"
    if r >= DENSE_SHARE * n:
        return f"{r} of {n} frames repeat the previous one"
    return None

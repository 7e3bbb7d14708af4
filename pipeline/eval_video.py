"""``filmrt eval-video``: a quality check anyone can reproduce on a real clip.

Drop every other frame of a clip (e.g. 25 fps -> 12.5 fps), interpolate each dropped frame back
at t = 0.5 from its two neighbours, and score it against the original (PSNR, SSIM), next to naive
blending ``(a + b) / 2`` of the same pairs. Frames are decoded with the pipeline's own decoder
(:mod:`filmrt.pipeline.decode`, the stated colour conversion), never re-encoded: the score is the
model's, not the codec's. Pairs with a scene cut between them (the detector of
:mod:`filmrt.pipeline.scenes`) are skipped: nothing can be interpolated across a cut.

Metrics are those of ``filmrt eval`` (:mod:`filmrt.evaluation`: prediction rounded to uint8, PSNR
with peak 1.0, skimage SSIM with Gaussian sigma 1.5), averaged over the scored frames.
Streaming: memory holds three frames plus one batch, whatever the clip's length.
"""

from __future__ import annotations

import time

import numpy as np
import torch

from filmrt.errors import FilmrtError
from filmrt.evaluation import score_prediction  # the metric functions of `filmrt eval`
from filmrt.pipeline.decode import PyAVSource
from filmrt.pipeline.scenes import DEFAULT_THRESHOLD, SceneDetector


def eval_video(
    src,
    *,
    model: str | None = None,
    weights: str | None = None,
    backend: str = "auto",
    device: str = "cpu",
    precision: str = "auto",
    ss: float | None = None,
    t: float | None = None,
    batch: int = 4,
    scene_threshold: float = DEFAULT_THRESHOLD,
    quiet: bool = False,
    interpolator=None,
) -> dict:
    """Scores as a dict: model, psnr, ssim, blend_psnr, blend_ssim, frames_scored, ... (see module doc)."""
    from filmrt.engine import open_interpolator, resolve_device

    t0 = time.perf_counter()
    own = interpolator is None
    interp = interpolator or open_interpolator(
        model, weights=weights, backend=backend, device=device, precision=precision, max_batch=max(1, batch)
    )
    dev = interp.device if interpolator is not None else resolve_device(device)
    source = PyAVSource(src, ss=ss, t=t, device=dev)
    det = SceneDetector(scene_threshold)
    bar = None
    if not quiet:
        from tqdm import tqdm

        total = source.info.frames // 2 if source.info.frames else None
        bar = tqdm(total=total, unit="frame", desc="eval-video", dynamic_ncols=True)
    scores = {"model": ([], []), "blend": ([], [])}
    pending: list[tuple[int, torch.Tensor, torch.Tensor, torch.Tensor]] = []
    skipped_cut = 0

    def flush():
        if not pending:
            return
        a = torch.stack([p[1] for p in pending])
        b = torch.stack([p[3] for p in pending])
        keys = [p[0] for p in pending]
        pred = interp.interpolate(a, b, [0.5] * len(pending), keys_a=[k - 1 for k in keys],
                                  keys_b=[k + 1 for k in keys])
        for (_, fa, gt, fb), pr in zip(pending, pred, strict=True):
            for name, img in (("model", pr), ("blend", 0.5 * (fa + fb))):
                p, s = score_prediction(img, gt)
                scores[name][0].append(p)
                scores[name][1].append(s)
            if bar is not None:
                bar.update(1)
        pending.clear()

    prev2 = prev1 = None  # (index, rgb, cut_before) of the two frames before this one
    n = 0
    try:
        for f in source.frames():
            cut = det.update(f.thumb) if f.index > 0 else False
            n += 1
            # an even frame closes a triple (even, odd, even): score the odd one from its neighbours
            if f.index % 2 == 0 and prev2 is not None:
                _, fa, _ = prev2
                ig, gt, cut1 = prev1
                if cut1 or cut:
                    skipped_cut += 1
                else:
                    pending.append((ig, fa, gt, f.rgb))
                    if len(pending) >= max(1, batch):
                        flush()
            prev2, prev1 = prev1, (f.index, f.rgb, cut)
        flush()
    finally:
        source.close()
        if bar is not None:
            bar.close()
        if own:
            interp.close()
    count = len(scores["model"][0])
    if count == 0:
        raise FilmrtError(f"{src}: not enough frames to score (need 3 or more without a scene cut; got {n})")
    info = source.info
    return {
        "clip": str(src),
        "model": interp.model_name,
        "backend": getattr(interp, "backend", ""),
        "device": str(dev),
        "width": info.width,
        "height": info.height,
        "fps_in": str(info.rate) if info.rate else None,
        "ss": ss,
        "t": t,
        "frames_decoded": n,
        "frames_scored": count,
        "pairs_skipped_cut": skipped_cut,
        "psnr": float(np.mean(scores["model"][0])),
        "ssim": float(np.mean(scores["model"][1])),
        "blend_psnr": float(np.mean(scores["blend"][0])),
        "blend_ssim": float(np.mean(scores["blend"][1])),
        "protocol": "drop every other frame; interpolate it at t=0.5 from its neighbours; prediction "
        "rounded to uint8; PSNR (peak 1.0) and SSIM (skimage, Gaussian sigma 1.5) vs the original; "
        "mean over scored frames; pairs across a scene cut skipped",
        "seconds": time.perf_counter() - t0,
    }

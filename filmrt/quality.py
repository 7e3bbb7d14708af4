"""Image quality metrics: the one PSNR and the one SSIM used by eval, eval-video, bench and tests.

- :func:`psnr`: peak 1.0, MSE accumulated in float64 and floored at 1e-10 (so identical images
  score 100 dB, not infinity: means over many frames stay finite).
- :func:`ssim`: Wang et al. 2004 as the VFI papers compute it: Gaussian window sigma 1.5 (11x11),
  population covariance, data range 1.0, mean over the RGB channels (scikit-image).

Both take (H, W, 3) or (3, H, W) float images in [0, 1], as numpy arrays or torch tensors;
:func:`to_unit` normalises to (H, W, 3) float64 numpy.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from filmrt.errors import FilmrtError

SSIM_SETTINGS = {"gaussian_weights": True, "sigma": 1.5, "use_sample_covariance": False, "data_range": 1.0}
#: side of the Gaussian window skimage uses for sigma 1.5 (2 * round(3.5 * sigma) + 1)
SSIM_WINDOW = 11
#: MSE floor: PSNR is capped at 100 dB
MSE_FLOOR = 1e-10


def to_unit(image) -> np.ndarray:
    """(H, W, 3) or (3, H, W) image (numpy or torch; float in [0, 1] or uint8) -> (H, W, 3) float64."""
    if isinstance(image, torch.Tensor):
        image = image.detach().cpu()
        if image.dim() == 3 and image.shape[0] in (1, 3) and image.shape[-1] not in (1, 3):
            image = image.permute(1, 2, 0)
        image = image.numpy()
    a = np.asarray(image)
    if a.dtype == np.uint8:
        return a.astype(np.float64) / 255.0
    return a.astype(np.float64)


def psnr(pred, truth) -> float:
    """PSNR in dB (peak 1.0) of two images of the same shape; see the module docstring."""
    p, t = to_unit(pred), to_unit(truth)
    if p.shape != t.shape:
        raise ValueError(f"psnr of images of different shapes {p.shape} and {t.shape}")
    d = p - t
    mse = float(np.mean(d * d))
    return -10.0 * math.log10(max(mse, MSE_FLOOR))


def ssim(pred, truth) -> float:
    """SSIM of two (H, W, 3) images in [0, 1] with :data:`SSIM_SETTINGS`, mean over channels."""
    from skimage.metrics import structural_similarity

    p, t = to_unit(pred), to_unit(truth)
    if min(p.shape[:2]) < SSIM_WINDOW:
        raise FilmrtError(
            f"image of {p.shape[1]}x{p.shape[0]} pixels is smaller than the {SSIM_WINDOW}x{SSIM_WINDOW} SSIM window"
        )
    return float(structural_similarity(t, p, channel_axis=-1, **SSIM_SETTINGS))


# ---------------------------------------------------------------------------------------------
# Temporal metrics: what PSNR misses in interpolated video
#
# - flicker: a generated frame brighter or darker (or of another tint) than the line between its
#   neighbours pumps visibly even when its PSNR is fine. Measured as the largest per-channel gap
#   between the frame's mean and the mean of its neighbours' means, in 8-bit code values.
# - judder: motion that is not spread evenly over the output frames (a 59.94 -> 50 conversion that
#   drops one frame in six moves twice as far once every six frames). Measured from the global
#   motion between consecutive output frames (phase correlation): the mean change of the step from
#   one frame to the next, in pixels, and that change relative to the mean step.

#: longest side of the luma image the global motion is measured on (speed; the shift is scaled back)
MOTION_SIDE = 256


def channel_means(image) -> np.ndarray:
    """Per-channel means of an (H, W, C) / (C, H, W) image in [0, 1], as 8-bit code values (C,)."""
    a = to_unit(image)
    return a.reshape(-1, a.shape[-1]).mean(axis=0) * 255.0


def flicker(prev, generated, nxt) -> float:
    """Brightness/colour gap of ``generated`` against the line between ``prev`` and ``nxt``:
    max over channels of |mean(generated) - (mean(prev) + mean(nxt)) / 2|, in 8-bit code values."""
    expected = 0.5 * (channel_means(prev) + channel_means(nxt))
    return float(np.max(np.abs(channel_means(generated) - expected)))


def _luma_small(image) -> tuple[np.ndarray, float]:
    """Luma (BT.709 weights) of an image, box-downscaled so its longest side is <= MOTION_SIDE;
    returns the image and the scale factor back to full-size pixels."""
    a = to_unit(image)
    y = a[..., 0] * 0.2126 + a[..., 1] * 0.7152 + a[..., 2] * 0.0722 if a.shape[-1] >= 3 else a[..., 0]
    f = max(1, math.ceil(max(y.shape) / MOTION_SIDE))
    h, w = (y.shape[0] // f) * f, (y.shape[1] // f) * f
    y = y[:h, :w].reshape(h // f, f, w // f, f).mean(axis=(1, 3))
    return y, float(f)


def global_motion(a, b) -> tuple[float, float]:
    """The global translation (dx, dy) in pixels that moves image ``a`` onto image ``b``, by phase
    correlation with a Hann window and a parabolic sub-pixel peak (a pan or a moving object that
    dominates the picture; for mixed motion it is the dominant motion)."""
    ya, f = _luma_small(a)
    yb, _ = _luma_small(b)
    win = np.outer(np.hanning(ya.shape[0]), np.hanning(ya.shape[1]))
    fa, fb = np.fft.fft2((ya - ya.mean()) * win), np.fft.fft2((yb - yb.mean()) * win)
    cross = fb * np.conj(fa)
    r = np.fft.ifft2(cross / (np.abs(cross) + 1e-12)).real
    py, px = np.unravel_index(int(np.argmax(r)), r.shape)

    def sub(c: int, axis: int) -> float:
        n = r.shape[axis]
        lo = r[(py, (c - 1) % n)] if axis == 1 else r[((c - 1) % n, px)]
        mid = r[py, px]
        hi = r[(py, (c + 1) % n)] if axis == 1 else r[((c + 1) % n, px)]
        den = lo - 2 * mid + hi
        off = 0.5 * (lo - hi) / den if abs(den) > 1e-12 else 0.0
        v = c + max(-0.5, min(0.5, off))
        return v - n if v > n / 2 else v

    return sub(px, 1) * f, sub(py, 0) * f


def judder(steps: list[tuple[float, float]]) -> dict:
    """Irregularity of motion over output frames from the per-frame global motion ``steps`` (dx, dy)
    in pixels: ``judder_px`` = mean |step[k+1] - step[k]|, ``mean_step_px`` = mean |step|,
    ``judder`` = judder_px / mean_step_px (0 for even motion; None without motion to judge)."""
    if len(steps) < 2:
        return {"judder_px": None, "mean_step_px": None, "judder": None, "steps": len(steps)}
    s = np.asarray(steps, dtype=np.float64)
    change = float(np.mean(np.hypot(*(np.diff(s, axis=0).T))))
    mean_step = float(np.mean(np.hypot(s[:, 0], s[:, 1])))
    rel = change / mean_step if mean_step > 0.25 else None  # a still picture has no judder to speak of
    return {"judder_px": change, "mean_step_px": mean_step, "judder": rel, "steps": len(steps)}


def motion_error(steps: list[tuple[float, float]], truth: list[tuple[float, float]]) -> float | None:
    """How far the per-frame global motion of an output strays from the true motion at the same
    frames: mean |step - true step| / mean |true step| (0: the motion is where it should be; about 1:
    a picture that holds then jumps, as a repeated or blended frame does). None when the truth hardly
    moves (under a quarter pixel a frame)."""
    if not steps:
        return None
    s, t = np.asarray(steps, dtype=np.float64), np.asarray(truth, dtype=np.float64)
    scale = float(np.mean(np.hypot(t[:, 0], t[:, 1])))
    if scale <= 0.25:
        return None
    return float(np.mean(np.hypot(*(s - t).T))) / scale

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

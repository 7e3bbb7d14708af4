"""RIFE 4.25 (Practical-RIFE's IFNet): real-time, time-conditioned intermediate flow estimation.

The idea (Huang et al., "Real-Time Intermediate Flow Estimation for Video Frame Interpolation",
ECCV 2022, and hzwer's Practical-RIFE 4.x line): instead of estimating the flows between the two
input frames and then re-timing them, a coarse-to-fine stack of small CNNs (``IFBlock``) directly
estimates the *intermediate* flows, from the wanted output time t back to each input frame, plus a
blending mask. Each block works at a coarser resolution than the next and refines what the previous
block found:

    block0 at 1/16 of the resolution sees both images, their 4-channel features and the time plane;
    block1..4 at 1/8, 1/4, 1/2, 1/1 see both images and features *warped* by the current flows, the
    time plane, the current mask logit and an 8-channel hidden state, and add a flow correction.

The output frame is the two warped inputs blended by ``sigmoid(mask)``:
``out = warp(img0, F_t->0) * m + warp(img1, F_t->1) * (1 - m)``.

Warping is :func:`filmrt.warp.backward_warp`, the one warp op of filmrt (the same as FILM's):
pixel-unit flows, bilinear, border clamp. Nothing else in this module moves pixels.

Shapes and units at the boundary (see :mod:`filmrt.models`):

- ``img0``, ``img1``: (N, 3, H, W) float RGB in [0, 1], H and W multiples of 64
  (``pad_multiple``); the reference pads zeros at the right/bottom (``pad_align = "end"``), which
  :class:`filmrt.interpolator.Interpolator` does for you.
- ``t``: (N,) float in [0, 1]; any t is a trained case (RIFE is time-conditioned, unlike FILM).
- ``forward`` returns the merged frame (N, 3, H, W), not clamped.
- :meth:`IFNet.forward_with_aux` also returns ``flow`` (N, 4, H, W), pixels of the full padded
  resolution: channels 0:2 = (dx, dy) from the output to img0, 2:4 = to img1; and ``mask`` (N, 1,
  H, W), the blending logit before the sigmoid.

Parameter names are those of Practical-RIFE's ``flownet.pkl`` (after dropping the training-only
``teacher.*`` and ``caltime.*`` tensors), so its state dict loads with ``strict=True``; see
:func:`convert_pkl`. Architecture facts: ``shared/specs/rife-4.25.md``.
"""

from __future__ import annotations

import os
from pathlib import Path

import torch
import torch.nn as nn
import torch.nn.functional as F

from filmrt import weights as _weights
from filmrt.errors import FilmrtError
from filmrt.fileio import sha256_file
from filmrt.models import ModelSpec
from filmrt.warp import backward_warp

NAME = "rife-4.25"
VERSION = "4.25"
#: resolutions of the five blocks for "scale 1.0": block k works at 1/SCALES[k]
SCALES = (16, 8, 4, 2, 1)
#: tensors in flownet.pkl that only training uses (teacher block, time-calibration head)
TRAINING_ONLY_PREFIXES = ("teacher.", "caltime.")


def _act() -> nn.Module:
    return nn.LeakyReLU(0.2)


def conv(cin: int, cout: int, k: int = 3, s: int = 1, p: int = 1) -> nn.Sequential:
    """Conv2d (with bias) + LeakyReLU(0.2); its weight is named ``<name>.0.weight``."""
    return nn.Sequential(nn.Conv2d(cin, cout, k, s, p, bias=True), _act())


class Head(nn.Module):
    """Per-frame feature encoder: (N,3,H,W) image -> (N,4,H,W) features (down 2x, conv, up 2x)."""

    def __init__(self):
        super().__init__()
        self.cnn0 = nn.Conv2d(3, 16, 3, 2, 1)
        self.cnn1 = nn.Conv2d(16, 16, 3, 1, 1)
        self.cnn2 = nn.Conv2d(16, 16, 3, 1, 1)
        self.cnn3 = nn.ConvTranspose2d(16, 4, 4, 2, 1)
        self.act = _act()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.act(self.cnn0(x))
        x = self.act(self.cnn1(x))
        x = self.act(self.cnn2(x))
        return self.cnn3(x)


class ResConv(nn.Module):
    """Residual 3x3 conv with a learned per-channel gain: act(conv(x) * beta + x)."""

    def __init__(self, c: int):
        super().__init__()
        self.conv = nn.Conv2d(c, c, 3, 1, 1)
        self.beta = nn.Parameter(torch.ones((1, c, 1, 1)))
        self.act = _act()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(self.conv(x) * self.beta + x)


class IFBlock(nn.Module):
    """One coarse-to-fine stage, run at 1/scale of the input resolution.

    Input: the full-resolution ``parts`` of the block's input (N, C_i, H, W), the time ``t``
    (N, 1, 1, 1) and optionally the current ``flow`` (N, 4, H, W, pixels). The block sees
    ``cat(parts[:4], t plane, parts[4:], flow)`` resized to 1/scale. Returns (flow correction
    (N,4,H,W) in full-resolution pixels, the mask logit and the hidden features in one tensor
    (N,1+8,H,W): they travel together into the next block's input), both at full resolution.

    Written for the graph it exports to: the bilinear resizes work channel by channel, so each part
    is resized on its own and joined at the block's resolution (the reference joins them at full
    resolution first), the time plane is made at the block's resolution (a resized constant plane
    is that constant), and the output is split (flow; mask and features) before it is resized
    back. The numbers are the same (within float32 rounding: tests/core/test_rife.py, parity with
    the reference run); on OpenVINO's CPU plugin this drops a full-resolution concatenation, its
    layout reorder and a full-resolution split per block (tests/support/ov_profile.py).
    """

    def __init__(self, in_planes: int, c: int = 64):
        super().__init__()
        self.conv0 = nn.Sequential(conv(in_planes, c // 2, 3, 2, 1), conv(c // 2, c, 3, 2, 1))
        self.convblock = nn.Sequential(*[ResConv(c) for _ in range(8)])
        # 52 = 4 * 13 channels at 1/2, pixel-shuffled to 13 channels at the block's input resolution
        self.lastconv = nn.Sequential(nn.ConvTranspose2d(c, 4 * 13, 4, 2, 1), nn.PixelShuffle(2))

    def forward(self, parts: list[torch.Tensor], t: torch.Tensor, flow: torch.Tensor | None, scale: float):
        lo = [_resize(p, 1.0 / scale) for p in parts]
        n, _, h, w = lo[0].shape
        lo.insert(4, t.expand(n, 1, h, w))
        if flow is not None:
            # resizing the flow field also rescales its pixel units
            lo.append(_resize(flow, 1.0 / scale) * (1.0 / scale) if scale != 1 else flow)
        out = self.lastconv(self.convblock(self.conv0(torch.cat(lo, 1))))
        return _resize(out[:, 0:4], scale) * scale, _resize(out[:, 4:13], scale)


def _resize(x: torch.Tensor, factor: float) -> torch.Tensor:
    """Bilinear resize by ``factor`` (the reference's ``F.interpolate`` call); 1 is no resize."""
    if factor == 1:
        return x
    return F.interpolate(x, scale_factor=factor, mode="bilinear", align_corners=False)


class IFNet(nn.Module):
    """RIFE 4.25 IFNet; see the module docstring for the data flow and shapes."""

    name = NAME
    pad_align = "end"
    pad_multiple = 64

    def __init__(self, scale: float = 1.0):
        super().__init__()
        self.block0 = IFBlock(7 + 8, c=192)  # img0, img1, f0, f1, t
        self.block1 = IFBlock(8 + 4 + 8 + 8, c=128)  # + mask, hidden(8), flow(4)
        self.block2 = IFBlock(8 + 4 + 8 + 8, c=96)
        self.block3 = IFBlock(8 + 4 + 8 + 8, c=64)
        self.block4 = IFBlock(8 + 4 + 8 + 8, c=32)
        self.encode = Head()
        #: >1 estimates flow on a finer grid (slower), <1 on a coarser one (faster, 4K); the
        #: reference's "scale" option. The evaluation protocol uses 1.0.
        self.scale = float(scale)

    def forward(self, img0: torch.Tensor, img1: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        return self.forward_with_aux(img0, img1, t)[0]

    def forward_with_aux(self, img0: torch.Tensor, img1: torch.Tensor, t: torch.Tensor):
        """(merged (N,3,H,W), flow (N,4,H,W) pixels, mask logit (N,1,H,W)); see module docstring."""
        t = torch.as_tensor(t, dtype=img0.dtype, device=img0.device).reshape(-1, 1, 1, 1)
        f0 = self.encode(img0)
        f1 = self.encode(img1)
        scales = [s / self.scale for s in SCALES]
        blocks = (self.block0, self.block1, self.block2, self.block3, self.block4)

        flow, state = self.block0([img0, img1, f0, f1], t, None, scales[0])  # state: mask logit, features
        w0 = backward_warp(img0, flow[:, 0:2])
        w1 = backward_warp(img1, flow[:, 2:4])
        for block, s in zip(blocks[1:], scales[1:], strict=True):
            wf0 = backward_warp(f0, flow[:, 0:2])
            wf1 = backward_warp(f1, flow[:, 2:4])
            d, state = block([w0, w1, wf0, wf1, state], t, flow, s)
            flow = flow + d
            w0 = backward_warp(img0, flow[:, 0:2])
            w1 = backward_warp(img1, flow[:, 2:4])
        mask = state[:, 0:1]
        m = torch.sigmoid(mask)
        merged = w0 * m + w1 * (1 - m)
        return merged, flow, mask


def auto_flow_scale(height: int, width: int) -> float:
    """RIFE's flow scale for a frame of this size: 1.0 up to 1440p, 0.5 up to 4K (RIFE's authors
    advise 0.5 for 4K: motion in pixels grows with the resolution, the coarsest block's reach does
    not), 0.25 beyond (8K). Quality measured in docs/backends.md."""
    pixels = height * width
    if pixels <= 2560 * 1440:
        return 1.0
    if pixels <= 4096 * 2304:
        return 0.5
    return 0.25


def build(config: dict) -> IFNet:
    return IFNet(scale=float(config.get("scale", 1.0)))


SPEC = ModelSpec(
    name=NAME,
    build=build,
    summary="Practical-RIFE 4.25 IFNet (5.7M parameters, MIT weights shipped with filmrt)",
    needs_weights=True,
    how_to_get=(
        "The converted weights ship in the repository's weights/ folder; reinstall filmrt, or convert "
        "Practical-RIFE's flownet.pkl: filmrt weights convert-rife flownet.pkl -o rife-4.25.safetensors"
    ),
    default_config={},
    # bf16 on OpenVINO, measured 2026-12-07 on a 2-core Xeon with AMX and AVX512-BF16 (OpenVINO
    # 2026.4.1): Middlebury mean 33.3164 dB against fp32's 33.2917 (scenes -0.22 to +0.20 dB);
    # bench/results/precision-bf16-2026-12-07.*, from tests/support/precision_sweep.py --variants none
    bf16_psnr_delta_db=+0.0247,
)


def inference_state_dict(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """The tensors IFNet uses: strip a ``module.`` prefix (DataParallel), drop training-only ones."""
    out = {}
    for k, v in state.items():
        if k.startswith("module."):
            k = k[len("module.") :]
        if k.startswith(TRAINING_ONLY_PREFIXES):
            continue
        out[k] = v.detach().to(torch.float32).contiguous()
    return out


def convert_pkl(pkl_path: str | os.PathLike, out_path: str | os.PathLike) -> Path:
    """Convert Practical-RIFE 4.25's ``flownet.pkl`` into a filmrt safetensors weights file.

    Loads the pickle with ``weights_only=True`` (no code execution), keeps the 158 inference
    tensors (float32), checks that they load into :class:`IFNet` with ``strict=True`` and writes them
    atomically with metadata model/version/source/sha256 of the pkl/license.
    """
    src = Path(pkl_path).expanduser()
    if not src.is_file():
        raise FilmrtError(f"RIFE weights not found: {src}")
    try:
        state = torch.load(str(src), map_location="cpu", weights_only=True)
    except Exception as e:  # pickle/zip errors of many kinds
        raise FilmrtError(f"cannot read {src} as a PyTorch state dict: {e}") from e
    if isinstance(state, dict) and "state_dict" in state and isinstance(state["state_dict"], dict):
        state = state["state_dict"]
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise FilmrtError(f"{src} is not a state dict of tensors (expected Practical-RIFE's flownet.pkl)")
    tensors = inference_state_dict(state)
    try:
        IFNet().load_state_dict(tensors, strict=True)
    except RuntimeError as e:
        first = " ".join(str(e).strip().splitlines()[:2])
        raise FilmrtError(f"{src} does not hold RIFE 4.25 IFNet weights: {first}") from e
    return _weights.save(
        out_path,
        tensors,
        model=NAME,
        config={},
        version=VERSION,
        source=f"Practical-RIFE (hzwer) model {VERSION}, flownet.pkl; converted by filmrt.models.rife.convert_pkl",
        source_file=src.name,
        source_sha256=sha256_file(src),
        license="MIT",
    )

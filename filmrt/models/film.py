"""FILM (film_net): Frame Interpolation for Large Motion, Reda et al., ECCV 2022.

A faithful PyTorch port of the reference ``film_net`` (google-research/frame-interpolation), as
restated in ``shared/specs/film.md``. Given two frames it synthesises the frame at time t between
them in four steps:

1. **Image pyramid** per input: level 0 is the image, each next level is 2x2 average pooling.
2. **Scale-agnostic features** per input: one small conv "sub-tree" (shared weights) runs on every
   pyramid level; feature level i concatenates sub-feature j of image level i-j, so coarse levels
   see the same kind of features as fine ones (this is what lets FILM share flow weights across
   scales and handle large motion).
3. **Bidirectional residual flow**: coarse-to-fine, each level upsamples the coarser flow (x2),
   warps the other frame's features with it and predicts a residual. It runs twice with the same
   weights: ``forward`` = flow estimated from (frame0, frame1), used to read frame 1;
   ``backward`` = from (frame1, frame0), used to read frame 0. (These are the reference's names;
   the golden fixture uses the same ones.)
4. **Warp + fusion**: the flows are scaled to time t (``backward * t``, ``forward * (1 - t)``),
   image+feature pyramids of both frames are backward-warped to t, and a U-Net style decoder fuses
   the aligned pyramids into the output image.

Steps 1-2 depend on one frame, step 3 on one pair, step 4 on the time: the model exposes them as
the staged protocol (:meth:`FILM.encode_frame`, :meth:`FILM.encode_pair`, :meth:`FILM.decode`) so a
runtime can compute features once per frame and flows once per pair; :meth:`FILM.forward` composes
them. The released models are trained at t = 0.5 only; any other t is the flow-scaling
approximation (the reference reaches other times by recursion on midpoints).

Tensors: images (N, 3, H, W) float RGB in [0, 1], H and W multiples of ``2**(pyramid_levels-1)``
(64 for the released config; :mod:`filmrt.padding` pads); flows (N, 2, h, w) = (dx, dy) in pixels
of their own pyramid level; pyramids are lists, finest level first. The output is not clamped.

Every warp is :func:`filmrt.warp.backward_warp`. Convolutions reproduce TensorFlow's "same"
padding: 1 pixel on every side for 3x3, nothing for 1x1, and for the fusion's 2x2 convs 0 before
and 1 after (right/bottom only). Activations are LeakyReLU(0.2).

Weights: :mod:`filmrt.models.film_import` maps the official SavedModel's checkpoint variables onto
this module's parameters (:func:`checkpoint_layout` is the mapping, derived from the config).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F

from filmrt.models import ModelSpec
from filmrt.warp import backward_warp

#: the configuration of the released film_net models (Style, L1, VGG): 34,436,667 parameters
PAPER_CONFIG: dict = {
    "pyramid_levels": 7,
    "fusion_pyramid_levels": 5,
    "specialized_levels": 3,
    "sub_levels": 4,
    "flow_convs": [3, 3, 3, 3],
    "flow_filters": [32, 64, 128, 256],
    "filters": 64,
}
CONFIG_KEYS = tuple(PAPER_CONFIG)

_SLOPE = 0.2


def _lrelu(x: torch.Tensor) -> torch.Tensor:
    # in place: every caller passes a convolution's fresh output (no second full-size buffer)
    return F.leaky_relu(x, _SLOPE, inplace=True)


@dataclass(frozen=True)
class FilmConfig:
    pyramid_levels: int = 7
    fusion_pyramid_levels: int = 5
    specialized_levels: int = 3
    sub_levels: int = 4
    flow_convs: tuple[int, ...] = (3, 3, 3, 3)
    flow_filters: tuple[int, ...] = (32, 64, 128, 256)
    filters: int = 64

    @classmethod
    def from_dict(cls, d: dict | None) -> FilmConfig:
        d = dict(PAPER_CONFIG if not d else d)
        missing = [k for k in CONFIG_KEYS if k not in d]
        if missing:
            raise ValueError(f"FILM config lacks {', '.join(missing)}")
        cfg = cls(
            pyramid_levels=int(d["pyramid_levels"]),
            fusion_pyramid_levels=int(d["fusion_pyramid_levels"]),
            specialized_levels=int(d["specialized_levels"]),
            sub_levels=int(d["sub_levels"]),
            flow_convs=tuple(int(v) for v in d["flow_convs"]),
            flow_filters=tuple(int(v) for v in d["flow_filters"]),
            filters=int(d["filters"]),
        )
        cfg.validate()
        return cfg

    def validate(self) -> None:
        if self.pyramid_levels < self.fusion_pyramid_levels:
            raise ValueError("pyramid_levels must be >= fusion_pyramid_levels")
        if self.fusion_pyramid_levels < 1 or self.sub_levels < 1 or self.filters < 1:
            raise ValueError("fusion_pyramid_levels, sub_levels and filters must be >= 1")
        n = self.specialized_levels + 1
        if len(self.flow_convs) != n or len(self.flow_filters) != n:
            raise ValueError(
                f"flow_convs and flow_filters need specialized_levels + 1 = {n} entries "
                f"(the last is the shared predictor)"
            )
        if self.fusion_pyramid_levels < 2:
            raise ValueError("fusion_pyramid_levels must be >= 2")
        if not 0 <= self.specialized_levels < self.pyramid_levels:
            raise ValueError("specialized_levels must be in [0, pyramid_levels)")
        shared = {self.feature_channels(i) for i in range(self.specialized_levels, self.pyramid_levels)}
        if len(shared) != 1:
            raise ValueError(
                "the shared flow predictor would see different channel counts: need "
                "specialized_levels >= sub_levels - 1"
            )

    def to_dict(self) -> dict:
        return {
            "pyramid_levels": self.pyramid_levels,
            "fusion_pyramid_levels": self.fusion_pyramid_levels,
            "specialized_levels": self.specialized_levels,
            "sub_levels": self.sub_levels,
            "flow_convs": list(self.flow_convs),
            "flow_filters": list(self.flow_filters),
            "filters": self.filters,
        }

    # -- derived channel counts ---------------------------------------------------------------
    def feature_channels(self, level: int) -> int:
        """Channels of feature level ``level``: sum of k<<j over the sub-levels it concatenates."""
        return sum(self.filters << j for j in range(min(level + 1, self.sub_levels)))

    def fusion_width(self, level: int) -> int:
        m = self.specialized_levels
        return (self.filters << level) if level < m else (self.filters << m)

    def aligned_channels(self, level: int) -> int:
        return 2 * (3 + self.feature_channels(level)) + 4


# ----------------------------------------------------------------------------------- modules
def _conv3(cin: int, cout: int) -> nn.Conv2d:
    return nn.Conv2d(cin, cout, 3, padding=1)


class SubTreeExtractor(nn.Module):
    """``feat_net/sub_extractor``: 2 x [3x3 conv, LeakyReLU] per depth, 2x2 avg-pool between depths."""

    def __init__(self, cfg: FilmConfig):
        super().__init__()
        k = cfg.filters
        convs = []
        cin = 3
        for j in range(cfg.sub_levels):
            convs += [_conv3(cin, k << j), _conv3(k << j, k << j)]
            cin = k << j
        self.convs = nn.ModuleList(convs)

    def forward(self, image: torch.Tensor, depth: int) -> list[torch.Tensor]:
        head, out = image, []
        for j in range(depth):
            head = _lrelu(self.convs[2 * j](head))
            head = _lrelu(self.convs[2 * j + 1](head))
            out.append(head)
            if j < depth - 1:
                head = F.avg_pool2d(head, 2, 2)
        return out


class FlowPredictor(nn.Module):
    """P(a, b): concat -> n x [3x3 conv(f), LeakyReLU] -> 1x1 conv(f/2), LeakyReLU -> 1x1 conv(2)."""

    def __init__(self, cin: int, num_convs: int, filters: int):
        super().__init__()
        convs = []
        c = cin
        for _ in range(num_convs):
            convs.append(_conv3(c, filters))
            c = filters
        convs.append(nn.Conv2d(c, filters // 2, 1))
        convs.append(nn.Conv2d(filters // 2, 2, 1))
        self.convs = nn.ModuleList(convs)

    def forward(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        net = torch.cat((a, b), dim=1)
        for conv in self.convs[:-1]:
            net = _lrelu(conv(net))
        return self.convs[-1](net)


class PyramidFlowEstimator(nn.Module):
    """``predict_flow``: specialised predictors for the finest levels, one shared for the rest."""

    def __init__(self, cfg: FilmConfig):
        super().__init__()
        self.levels = cfg.pyramid_levels
        s = cfg.specialized_levels
        self.specialized = nn.ModuleList(
            FlowPredictor(2 * cfg.feature_channels(i), cfg.flow_convs[i], cfg.flow_filters[i]) for i in range(s)
        )
        # The shared predictor sees levels s..L-1; all of them have the same channel count only
        # when s >= sub_levels - 1 (true for the released and the fixture configs).
        self.shared = FlowPredictor(2 * cfg.feature_channels(s), cfg.flow_convs[-1], cfg.flow_filters[-1])

    def predictor(self, level: int) -> FlowPredictor:
        return self.specialized[level] if level < len(self.specialized) else self.shared

    def forward(self, feat_a: list[torch.Tensor], feat_b: list[torch.Tensor]):
        """Flow from A to B (warping B onto A's grid). Returns (residuals, flows), finest first.

        ``flows`` equals the reference's ``flow_pyramid_synthesis(residuals)`` exactly (the same
        additions in the same order), so it is kept instead of being recomputed.
        """
        n = len(feat_a)
        v = self.predictor(n - 1)(feat_a[-1], feat_b[-1])
        residuals, flows = [v], [v]
        for i in range(n - 2, -1, -1):
            v = F.interpolate(2 * v, size=feat_a[i].shape[-2:], mode="bilinear", align_corners=False)
            warped = backward_warp(feat_b[i], v)
            r = self.predictor(i)(feat_a[i], warped)
            residuals.append(r)
            v = r + v
            flows.append(v)
        return residuals[::-1], flows[::-1]


class Fusion(nn.Module):
    """``fusion``: U-Net decoder from the coarsest aligned level to the image (see specs/film.md, 6)."""

    def __init__(self, cfg: FilmConfig):
        super().__init__()
        self.levels = cfg.fusion_pyramid_levels
        blocks = []
        for i in range(cfg.fusion_pyramid_levels - 1):
            w = cfg.fusion_width(i)
            below = (
                cfg.aligned_channels(i + 1)
                if i + 1 == cfg.fusion_pyramid_levels - 1
                else cfg.fusion_width(i + 1)
            )
            blocks.append(
                nn.ModuleList(
                    [
                        nn.Conv2d(below, w, 2),  # "same" 2x2: padded right/bottom in forward
                        _conv3(cfg.aligned_channels(i) + w, w),
                        _conv3(w, w),
                    ]
                )
            )
        self.blocks = nn.ModuleList(blocks)
        self.output = nn.Conv2d(cfg.fusion_width(0), 3, 1)

    def forward(self, aligned: list[torch.Tensor]) -> torch.Tensor:
        net = aligned[-1]
        for i in range(self.levels - 2, -1, -1):
            up, c1, c2 = self.blocks[i]
            net = F.interpolate(net, size=aligned[i].shape[-2:], mode="nearest")
            # "same" 2x2 conv = zero-pad right/bottom then a valid conv; padding both sides and dropping
            # the first row/column of the output is the same sum without copying the (up to ~2,000
            # channel) input into a padded buffer
            net = F.conv2d(net, up.weight, up.bias, padding=1)[..., 1:, 1:]
            net = torch.cat((aligned[i], net), dim=1)
            net = _lrelu(c1(net))
            net = _lrelu(c2(net))
        return self.output(net)


# ----------------------------------------------------------------------------------- the model
class FILM(nn.Module):
    """film_net. ``forward(img0, img1, t)`` on padded NCHW [0,1]; see the module docstring."""

    name = "film"
    pad_align = "center"
    pad_multiple = 64

    def __init__(self, config: dict | FilmConfig | None = None):
        super().__init__()
        cfg = config if isinstance(config, FilmConfig) else FilmConfig.from_dict(config)
        self.cfg = cfg
        self.config = cfg.to_dict()
        self.pad_multiple = max(64, 1 << (cfg.pyramid_levels - 1))
        self.extractor = SubTreeExtractor(cfg)
        self.flow = PyramidFlowEstimator(cfg)
        self.fusion = Fusion(cfg)

    # -- stage 1: per frame ------------------------------------------------------------------
    def encode_frame(self, img: torch.Tensor) -> dict[str, list[torch.Tensor]]:
        """(N,3,H,W) -> {"images": image pyramid, "features": feature pyramid}, finest first."""
        cfg = self.cfg
        L = cfg.pyramid_levels
        h, w = img.shape[-2:]
        m = 1 << (L - 1)
        if h % m or w % m:
            raise ValueError(f"FILM needs H and W divisible by {m}, got {h}x{w}: pad first (filmrt.padding)")
        images = [img]
        for _ in range(L - 1):
            images.append(F.avg_pool2d(images[-1], 2, 2))
        subs = [self.extractor(images[i], min(L - i, cfg.sub_levels)) for i in range(L)]
        features = []
        for i in range(L):
            parts = [subs[i - j][j] for j in range(min(i + 1, cfg.sub_levels))]
            features.append(parts[0] if len(parts) == 1 else torch.cat(parts, dim=1))
        return {"images": images, "features": features}

    # -- stage 2: per pair (independent of t) ------------------------------------------------
    def encode_pair(self, s0: dict, s1: dict, aux: bool = False) -> dict[str, list[torch.Tensor]]:
        """Flow pyramids of the pair: "forward" (frame0 -> frame1, reads frame 1) and "backward".

        Only the ``fusion_pyramid_levels`` finest flow levels are kept (what decode uses); with
        ``aux`` also the full residual pyramids (``forward_residual``/``backward_residual``).
        """
        f_res, f_flow = self.flow(s0["features"], s1["features"])
        b_res, b_flow = self.flow(s1["features"], s0["features"])
        k = self.cfg.fusion_pyramid_levels
        pair = {"forward": f_flow[:k], "backward": b_flow[:k]}
        if aux:
            pair["forward_residual"] = f_res
            pair["backward_residual"] = b_res
        return pair

    # -- stage 3: per output time -------------------------------------------------------------
    def decode(self, s0: dict, s1: dict, pair: dict, t: torch.Tensor | float, return_aux: bool = False):
        """Warp both frames to time t (N,) and fuse; returns the image (N,3,H,W) (or (image, aux))."""
        k = self.cfg.fusion_pyramid_levels
        ref = s0["images"][0]
        t = torch.as_tensor(t, dtype=ref.dtype, device=ref.device).reshape(-1, 1, 1, 1)
        aligned, warped0, warped1 = [], [], []
        for i in range(k):
            bwd = pair["backward"][i] * t
            fwd = pair["forward"][i] * (1 - t)
            x0 = torch.cat((s0["images"][i], s0["features"][i]), dim=1)
            x1 = torch.cat((s1["images"][i], s1["features"][i]), dim=1)
            w0 = backward_warp(x0, bwd)
            w1 = backward_warp(x1, fwd)
            if return_aux and i == 0:
                warped0.append(w0[:, :3])
                warped1.append(w1[:, :3])
            aligned.append(torch.cat((w0, w1, bwd, fwd), dim=1))
        image = self.fusion(aligned)
        if not return_aux:
            return image
        aux = {
            "image": image,
            "x0_warped": warped0[0],
            "x1_warped": warped1[0],
            "forward_flow_pyramid": pair["forward"],
            "backward_flow_pyramid": pair["backward"],
        }
        if "forward_residual" in pair:
            aux["forward_residual_flow_pyramid"] = pair["forward_residual"]
            aux["backward_residual_flow_pyramid"] = pair["backward_residual"]
        return image, aux

    def forward(self, img0: torch.Tensor, img1: torch.Tensor, t: torch.Tensor, return_aux: bool = False):
        """img0, img1 (N,3,H,W) padded [0,1]; t (N,). Returns the image, or (image, aux) with
        ``return_aux``: aux holds ``x0_warped``, ``x1_warped`` and the ``forward``/``backward``
        ``flow_pyramid`` (unscaled, fusion levels) and ``residual_flow_pyramid`` (all levels)."""
        s0 = self.encode_frame(img0)
        s1 = self.encode_frame(img1)
        pair = self.encode_pair(s0, s1, aux=return_aux)
        return self.decode(s0, s1, pair, t, return_aux=return_aux)


# ----------------------------------------------------------------------------------- weights layout
@dataclass(frozen=True)
class CheckpointVariable:
    """One variable of the official checkpoint and the parameter it becomes."""

    index: int  # N in variables/N/.ATTRIBUTES/VARIABLE_VALUE (creation order)
    keras_name: str  # e.g. feat_net/sub_extractor/cfeat_conv_0/kernel:0
    param: str  # the FILM module's state_dict key
    shape: tuple[int, ...]  # shape in the checkpoint (kernels HWIO)

    @property
    def checkpoint_key(self) -> str:
        return f"variables/{self.index}/.ATTRIBUTES/VARIABLE_VALUE"

    @property
    def is_kernel(self) -> bool:
        return len(self.shape) == 4


def checkpoint_layout(config: dict | FilmConfig | None = None) -> list[CheckpointVariable]:
    """The official checkpoint's variables in order, with their PyTorch parameter names.

    Keras creates the variables in this order: the feature extractor's ``cfeat_conv_0..`` (kernel,
    bias each), the flow predictors ``flow_predictor_0..s-1`` then ``flow_predictor_shared``
    (``conv_0..``: the 3x3 convs, then the two 1x1), then the fusion convs ``conv2d``,
    ``conv2d_1``, ... level by level from the finest (2x2, 3x3, 3x3 per level) and last the 1x1
    output conv. Kernels are HWIO there and OIHW here.
    """
    cfg = config if isinstance(config, FilmConfig) else FilmConfig.from_dict(config)
    entries: list[tuple[str, str, tuple[int, ...]]] = []  # (keras layer, module path, kernel shape)

    cin = 3
    for j in range(cfg.sub_levels):
        c = cfg.filters << j
        entries.append((f"feat_net/sub_extractor/cfeat_conv_{2 * j}", f"extractor.convs.{2 * j}", (3, 3, cin, c)))
        entries.append((f"feat_net/sub_extractor/cfeat_conv_{2 * j + 1}", f"extractor.convs.{2 * j + 1}", (3, 3, c, c)))
        cin = c

    def predictor(keras: str, module: str, cin: int, n: int, f: int):
        c = cin
        for q in range(n):
            entries.append((f"predict_flow/{keras}/conv_{q}", f"{module}.convs.{q}", (3, 3, c, f)))
            c = f
        entries.append((f"predict_flow/{keras}/conv_{n}", f"{module}.convs.{n}", (1, 1, f, f // 2)))
        entries.append((f"predict_flow/{keras}/conv_{n + 1}", f"{module}.convs.{n + 1}", (1, 1, f // 2, 2)))

    s = cfg.specialized_levels
    for i in range(s):
        predictor(f"flow_predictor_{i}", f"flow.specialized.{i}", 2 * cfg.feature_channels(i),
                  cfg.flow_convs[i], cfg.flow_filters[i])
    predictor("flow_predictor_shared", "flow.shared", 2 * cfg.feature_channels(s),
              cfg.flow_convs[-1], cfg.flow_filters[-1])

    n = 0

    def fusion_name() -> str:
        nonlocal n
        name = "fusion/conv2d" if n == 0 else f"fusion/conv2d_{n}"
        n += 1
        return name

    top = cfg.fusion_pyramid_levels - 1
    for i in range(top):
        w = cfg.fusion_width(i)
        below = cfg.aligned_channels(i + 1) if i + 1 == top else cfg.fusion_width(i + 1)
        entries.append((fusion_name(), f"fusion.blocks.{i}.0", (2, 2, below, w)))
        entries.append((fusion_name(), f"fusion.blocks.{i}.1", (3, 3, cfg.aligned_channels(i) + w, w)))
        entries.append((fusion_name(), f"fusion.blocks.{i}.2", (3, 3, w, w)))
    entries.append((fusion_name(), "fusion.output", (1, 1, cfg.fusion_width(0), 3)))

    out = []
    for keras, module, kshape in entries:
        out.append(CheckpointVariable(len(out), f"{keras}/kernel:0", f"{module}.weight", kshape))
        out.append(CheckpointVariable(len(out), f"{keras}/bias:0", f"{module}.bias", (kshape[-1],)))
    return out


def _build(config: dict) -> FILM:
    return FILM(config or PAPER_CONFIG)


HOW_TO_GET = (
    "FILM's weights do not ship with filmrt: get the official SavedModel and import it. The README of "
    "github.com/google-research/frame-interpolation (section 'Pre-trained Models') links the "
    "pretrained_models folder; download pretrained_models/film_net/Style/saved_model (a directory "
    "with saved_model.pb and variables/; L1 and VGG work the same way), then run "
    "`filmrt weights import pretrained_models/film_net/Style/saved_model`. That installs "
    "film.safetensors where --model film finds it (`filmrt weights list` shows it)."
)

SPEC = ModelSpec(
    name="film",
    build=_build,
    summary="FILM film_net (Reda et al. 2022), 34.4M parameters, official weights imported",
    needs_weights=True,
    how_to_get=HOW_TO_GET,
    default_config=dict(PAPER_CONFIG),
    time_conditioned=False,
    staged=True,
    pad_align="center",
)

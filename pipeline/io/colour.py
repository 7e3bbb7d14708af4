"""Y'CbCr <-> RGB, done by us (in PyTorch, on the inference device) so both directions match.

Video is stored as Y'CbCr; the models take RGB in [0, 1]. The conversion is stated, not left to
whatever a library defaults to:

- **Matrix**: what the stream says (``colorspace``: BT.709, BT.601 = BT.470BG / SMPTE 170M,
  BT.2020 non-constant, SMPTE 240M); when it says nothing, **BT.709 for HD** (height >= 720 or
  width >= 1280) and **BT.601 for SD** (what players do).
- **Range**: what the stream says; unspecified = **limited** ("TV", Y' 16..235, C 16..240 at 8 bit,
  times 4 at 10 bit), except the ``yuvj*`` formats, which are full range.
- **Chroma**: 4:2:0 / 4:2:2 chroma is upsampled by **replication** on the way in and downsampled
  by the **box average** of the same 2x2 (2x1) block on the way out. Siting: each chroma sample
  is taken to cover its whole block (centred); a left-sited stream (the MPEG-2/H.264/HEVC 4:2:0
  default) is read half a luma pixel off horizontally, on input and output alike. The pair is an exact inverse,
  so a frame that goes through unchanged (a copied source frame) comes back to the same Y'CbCr
  codes up to rounding and RGB gamut clipping (tested: > 40 dB PSNR through a whole conversion).
- The output uses the **same matrix and range** as the input and writes them into the stream's
  colour metadata (primaries and transfer are copied as they are: we do not convert gamuts).

Shapes: RGB is (3, H, W) float32 in [0, 1]; planes are integer numpy arrays (Y (H, W); Cb, Cr
(H/sy, W/sx) rounded up) as in the decoded frame. On the CPU both directions work in bands of
:data:`BAND_ROWS` rows (each pixel's codes depend on its own values and its chroma block alone, so a
band gives what the whole frame would, with the band in the cache).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

#: rows of a frame converted at a time on the CPU: a band of 720p RGB float32 (~1 MB) stays in the
#: cache through the conversion's five passes; the whole frame at once went through memory in each
#: (2-core bench machine, one thread: RGB -> Y'CbCr 18.5 -> 11 ms per 720p frame, the same codes)
BAND_ROWS = 64

# AVColorSpace values (libavutil/pixfmt.h)
SPC_RGB, SPC_BT709, SPC_UNSPECIFIED, SPC_BT470BG, SPC_SMPTE170M, SPC_SMPTE240M = 0, 1, 2, 5, 6, 7
SPC_BT2020_NCL, SPC_BT2020_CL = 9, 10
# AVColorRange
RANGE_UNSPECIFIED, RANGE_MPEG, RANGE_JPEG = 0, 1, 2

# (Kr, Kb) per matrix
_KRKB = {
    "bt709": (0.2126, 0.0722),
    "bt601": (0.299, 0.114),
    "bt2020": (0.2627, 0.0593),
    "smpte240m": (0.212, 0.087),
}
_SPC_TO_NAME = {
    SPC_BT709: "bt709",
    SPC_BT470BG: "bt601",
    SPC_SMPTE170M: "bt601",
    SPC_BT2020_NCL: "bt2020",
    SPC_BT2020_CL: "bt2020",  # constant luminance is rare; approximated by the NCL matrix
    SPC_SMPTE240M: "smpte240m",
}
#: AVColorPrimaries / AVColorTransferCharacteristic names for the summary (others: by number)
_PRIMARIES = {1: "BT.709", 5: "BT.601 PAL", 6: "BT.601 NTSC", 9: "BT.2020", 11: "DCI-P3", 12: "Display P3"}
_TRC = {1: "BT.709", 6: "BT.601", 13: "sRGB", 14: "BT.2020", 15: "BT.2020", 16: "PQ (SMPTE ST 2084)",
        18: "HLG (ARIB STD-B67)"}
_NAME_TO_SPC = {"bt709": SPC_BT709, "bt601": SPC_SMPTE170M, "bt2020": SPC_BT2020_NCL, "smpte240m": SPC_SMPTE240M}


@dataclass(frozen=True)
class ColourSpec:
    """How Y'CbCr codes map to RGB for one stream."""

    matrix: str = "bt709"  # bt709 | bt601 | bt2020 | smpte240m
    full_range: bool = False
    bits: int = 8
    #: what the stream said (kept so the output carries the same tags)
    primaries: int = 2
    trc: int = 2
    guessed: bool = False  # True when the matrix came from the size heuristic
    #: the stream's own matrix tag, kept: BT.470BG (PAL) and SMPTE 170M (NTSC) are the same BT.601
    #: matrix, but a PAL master's tag stays 5 (None: the matrix's usual tag)
    tag: int | None = None

    @property
    def colorspace(self) -> int:
        return self.tag if self.tag is not None and _SPC_TO_NAME.get(self.tag) == self.matrix else _NAME_TO_SPC[self.matrix]

    @property
    def color_range(self) -> int:
        return RANGE_JPEG if self.full_range else RANGE_MPEG

    def describe(self) -> str:
        how = " (guessed from the frame size: the stream does not say)" if self.guessed else ""
        rng = "full" if self.full_range else "limited"
        tags = ""
        if self.primaries != 2 or self.trc != 2:  # 2 = unspecified
            prim = _PRIMARIES.get(self.primaries, f"#{self.primaries}") if self.primaries != 2 else "unspecified"
            trc = _TRC.get(self.trc, f"#{self.trc}") if self.trc != 2 else "unspecified"
            tags = f", {prim} primaries, {trc} transfer"
        return f"{self.matrix.upper()} matrix, {rng} range, {self.bits}-bit{tags}{how}"

    def with_bits(self, bits: int) -> ColourSpec:
        return ColourSpec(self.matrix, self.full_range, bits, self.primaries, self.trc, self.guessed, self.tag)


def guess_spec(
    width: int,
    height: int,
    colorspace: int = SPC_UNSPECIFIED,
    color_range: int = RANGE_UNSPECIFIED,
    bits: int = 8,
    full_range_format: bool = False,
    primaries: int = 2,
    trc: int = 2,
) -> ColourSpec:
    """The stream's tags where present, else BT.709 for HD / BT.601 for SD and limited range."""
    name = _SPC_TO_NAME.get(int(colorspace or 0))
    guessed = name is None
    if guessed:
        name = "bt709" if (height >= 720 or width >= 1280) else "bt601"
    full = int(color_range or 0) == RANGE_JPEG or (full_range_format and int(color_range or 0) != RANGE_MPEG)
    return ColourSpec(name, full, bits, int(primaries or 2), int(trc or 2), guessed, None if guessed else int(colorspace))


def _levels(spec: ColourSpec):
    """(y_offset, y_scale, c_offset, c_scale) in code values for spec.bits."""
    if spec.full_range:
        top = float(2**spec.bits - 1)
        return 0.0, top, float(2 ** (spec.bits - 1)), top
    m = float(2 ** (spec.bits - 8))
    return 16.0 * m, 219.0 * m, 128.0 * m, 224.0 * m


def _matrices(spec: ColourSpec) -> tuple[torch.Tensor, torch.Tensor]:
    """(M, offset) with rgb = M @ (codes - offset), M (3, 3) float32, offset (3,)."""
    yo, ys, co, cs = _levels(spec)
    kr, kb = _KRKB[spec.matrix]
    kg = 1.0 - kr - kb
    # E'y, E'pb, E'pr from codes; then R, G, B from those
    to_rgb = torch.tensor(
        [
            [1.0, 0.0, 2.0 * (1.0 - kr)],
            [1.0, -2.0 * (1.0 - kb) * kb / kg, -2.0 * (1.0 - kr) * kr / kg],
            [1.0, 2.0 * (1.0 - kb), 0.0],
        ],
        dtype=torch.float64,
    )
    scale = torch.diag(torch.tensor([1.0 / ys, 1.0 / cs, 1.0 / cs], dtype=torch.float64))
    m = (to_rgb @ scale).float()
    return m, torch.tensor([yo, co, co], dtype=torch.float32)


def _upsample(c: torch.Tensor, h: int, w: int) -> torch.Tensor:
    """Replicate (C, h, w) chroma up to (C, H, W) (the inverse of the box average)."""
    sy = -(-h // c.shape[-2])
    sx = -(-w // c.shape[-1])
    if sy > 1 or sx > 1:
        c = c[:, :, None, :, None].expand(-1, -1, sy, -1, sx).reshape(c.shape[0], c.shape[1] * sy, -1)
    return c[..., :h, :w]


def _block_rows(height: int, device: torch.device, multiple: int) -> int:
    """Rows converted at a time: all of them on a GPU; on the CPU a band of :data:`BAND_ROWS`
    (a multiple of the chroma's vertical subsampling, so no chroma block straddles two bands)."""
    if device.type != "cpu":
        return height
    return max(multiple, BAND_ROWS // multiple * multiple)


def yuv_to_rgb(
    y: torch.Tensor, cb: torch.Tensor, cr: torch.Tensor, spec: ColourSpec
) -> torch.Tensor:
    """Planes (integer codes, any device) -> (3, H, W) float32 RGB clamped to [0, 1]."""
    h, w = y.shape[-2:]
    m, off = _matrices(spec)
    m, off = m.to(y.device), off.to(y.device).view(3, 1, 1)
    sy = -(-h // cb.shape[-2])

    def band(r0: int, r1: int) -> torch.Tensor:  # every pixel on its own: a band gives what the frame would
        c = _upsample(torch.stack([cb[r0 // sy : -(-r1 // sy)], cr[r0 // sy : -(-r1 // sy)]]).float(), r1 - r0, w)
        yuv = torch.cat([y[r0:r1].float()[None], c]) - off
        return (m @ yuv.view(3, -1)).view(3, r1 - r0, w)

    step = _block_rows(h, y.device, sy)
    if step >= h:
        return band(0, h).clamp_(0.0, 1.0)
    rgb = torch.empty((3, h, w), dtype=torch.float32, device=y.device)
    for r0 in range(0, h, step):
        rgb[:, r0 : r0 + step] = band(r0, min(h, r0 + step))
    return rgb.clamp_(0.0, 1.0)


def _box_down(c: torch.Tensor, sy: int, sx: int) -> torch.Tensor:
    """Average sy x sx blocks of (C, H, W); odd edges are padded by replication first."""
    if sy == 1 and sx == 1:
        return c
    h, w = c.shape[-2:]
    ph, pw = (-h) % sy, (-w) % sx
    if ph or pw:
        c = torch.nn.functional.pad(c[None], (0, pw, 0, ph), mode="replicate")[0]
    return torch.nn.functional.avg_pool2d(c[None], (sy, sx))[0]


def rgb_to_yuv(
    rgb: torch.Tensor, spec: ColourSpec, sub: tuple[int, int] = (2, 2)
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(3, H, W) float RGB in [0, 1] -> Y, Cb, Cr planes as numpy integer codes (uint8 for 8 bit,
    uint16 above), chroma subsampled by ``sub = (sy, sx)`` (box average)."""
    m, off = _matrices(spec)
    inv = torch.linalg.inv(m.double()).float().to(rgb.device)
    off = off.to(rgb.device).view(3, 1, 1)
    h, w = rgb.shape[-2:]
    sy, sx = sub
    top = 2**spec.bits - 1
    dtype = np.uint8 if spec.bits <= 8 else np.uint16
    tdt = torch.uint8 if spec.bits <= 8 else torch.int32
    y = torch.empty((h, w), dtype=tdt, device=rgb.device)
    chroma = torch.empty((2, -(-h // sy), -(-w // sx)), dtype=tdt, device=rgb.device)
    step = _block_rows(h, rgb.device, sy)
    for r0 in range(0, h, step):  # in bands: the same codes as the whole frame at once, in cache
        r1 = min(h, r0 + step)
        codes = (inv @ rgb[:, r0:r1].float().clamp(0.0, 1.0).reshape(3, -1)).view(3, r1 - r0, w)
        codes += off
        c = _box_down(codes[1:], sy, sx)
        y[r0:r1] = codes[0].round_().clamp_(0, top)
        chroma[:, r0 // sy : r0 // sy + c.shape[1]] = c.round_().clamp_(0, top)
    y = y.cpu().numpy().astype(dtype, copy=False)
    chroma = chroma.cpu().numpy().astype(dtype, copy=False)
    return y, chroma[0], chroma[1]


def luma_from_rgb(rgb: torch.Tensor, matrix: str = "bt709") -> torch.Tensor:
    """(3, H, W) or (N, 3, H, W) RGB -> luma E'y in [0, 1], same leading shape without the channel."""
    kr, kb = _KRKB[matrix]
    c = rgb.shape[-3]
    assert c == 3
    r, g, b = rgb.unbind(-3)
    return kr * r + (1.0 - kr - kb) * g + kb * b


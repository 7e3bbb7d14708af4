"""The output format: which encoder, profile and pixel format a conversion writes.

``--codec auto`` (the default) gives back the same kind of file the user handed in:

==================  ============================================================================
source codec        output
==================  ============================================================================
ProRes              ``prores_ks``, the same profile (Proxy, LT, Standard, HQ, 4444, 4444 XQ)
DNxHD / DNxHR       ``dnxhd``, the same profile (DNxHR LB/SQ/HQ/HQX/444; DNxHD at the source's
                    bit rate, which that family fixes per resolution)
H.264               ``libx264`` at the source's chroma format and bit depth (8/10 bit)
HEVC                ``libx265`` at the source's chroma format and bit depth (8/10/12 bit)
FFV1                ``ffv1`` (lossless) at the source's pixel format
MPEG-2              ``mpeg2video`` (XDCAM HD422, IMX, broadcast TS) at the source's chroma format
                    (4:2:2 gets the 4:2:2 profile) and bit rate (its header's; unknown: constant
                    quality, said)
QuickTime RLE, PNG  the same codec (RGB, with alpha when the source has it)
anything else       ``libx264``, or ``ffv1`` when the source has alpha (libx264 cannot carry it)
==================  ============================================================================

The pixel format is the source's own when the encoder takes it, else the closest one it takes:
alpha is kept where possible, then the chroma format (never less chroma than the source has),
then the bit depth (never fewer bits unless the encoder has no deeper format). ``--pix-fmt``,
``--profile`` and ``--bitrate`` override; the decision and each compromise are described by
:class:`OutputFormat` (printed once by ``convert`` and stored in its JSON result).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import av

from filmrt.errors import FilmrtError, NotAVideo

#: the encoders ``--codec`` takes; ``auto`` = the source's family (below)
CODECS = ("auto", "libx264", "libx265", "prores_ks", "dnxhd", "ffv1", "qtrle", "png", "mpeg2video", "libvpx-vp9",
          "h264_nvenc", "hevc_nvenc")
#: source codec (FFmpeg decoder name) -> the encoder of the same family
FAMILY = {
    "prores": "prores_ks",
    "dnxhd": "dnxhd",
    "h264": "libx264",
    "hevc": "libx265",
    "ffv1": "ffv1",
    "qtrle": "qtrle",
    "png": "png",
    "mpeg2video": "mpeg2video",
}
#: encoders whose output is compressed by a CRF (the others take --bitrate or are lossless/fixed)
CRF_CODECS = ("libx264", "libx265", "libvpx-vp9")
#: decoder profile names -> prores_ks / dnxhd ``profile`` option values
PRORES_PROFILES = {"proxy": "proxy", "lt": "lt", "standard": "standard", "hq": "hq", "4444": "4444",
                   "xq": "4444xq", "4444 xq": "4444xq"}
DNX_PROFILES = {"dnxhd": "dnxhd", "dnxhr lb": "dnxhr_lb", "dnxhr sq": "dnxhr_sq", "dnxhr hq": "dnxhr_hq",
                "dnxhr hqx": "dnxhr_hqx", "dnxhr 444": "dnxhr_444"}


@dataclass(frozen=True)
class PixelLayout:
    """What a pixel format holds: RGB or Y'CbCr, chroma subsampling (sy, sx), bits, alpha."""

    name: str
    rgb: bool
    sub: tuple[int, int]
    bits: int
    alpha: bool
    gray: bool
    full_range: bool  # the yuvj* formats
    planar: bool

    @classmethod
    def of(cls, name: str | None) -> PixelLayout:
        try:
            f = av.VideoFormat(str(name))
        except ValueError:  # a damaged header declares none, or one FFmpeg does not know
            raise NotAVideo(f"the video stream's pixel format {name!r} is unknown (damaged header?)") from None
        comps = f.components
        sub = (64 // max(1, f.chroma_height(64)), 64 // max(1, f.chroma_width(64)))
        gray = not f.is_rgb and len(comps) - any(c.is_alpha for c in comps) < 3  # gray, ya8...
        return cls(name, bool(f.is_rgb), sub if not (f.is_rgb or gray) else (1, 1),
                   max(c.bits for c in comps), any(c.is_alpha for c in comps), gray, name.startswith("yuvj"),
                   bool(f.is_planar))

    def describe(self) -> str:
        kind = "RGB" if self.rgb else "grey" if self.gray else {
            (2, 2): "4:2:0", (1, 2): "4:2:2", (1, 1): "4:4:4", (2, 1): "4:4:0", (1, 4): "4:1:1"}.get(
                self.sub, f"{self.sub}")
        return f"{self.name} ({kind}, {self.bits}-bit{', alpha' if self.alpha else ''})"


@dataclass
class OutputFormat:
    """The chosen encoding; ``notes`` say what differs from the source and why."""

    codec: str
    pix_fmt: str
    profile: str | None = None
    bitrate: int | None = None
    crf: int | None = None
    source: str = ""
    notes: list[str] = field(default_factory=list)
    #: chosen by ``--codec auto`` (so another encoder may stand in when the container refuses this one)
    auto: bool = False
    #: the source's pixel format (for that choice)
    source_pix: str = ""

    @property
    def layout(self) -> PixelLayout:
        return PixelLayout.of(self.pix_fmt)

    def describe(self) -> str:
        parts = [self.codec]
        if self.profile:
            parts.append(f"profile {self.profile}")
        parts.append(self.layout.describe())
        if self.bitrate:
            parts.append(f"{self.bitrate / 1e6:g} Mb/s")
        elif self.crf is not None:
            parts.append(f"crf {self.crf}")
        return ", ".join(parts)

    def to_dict(self) -> dict:
        """JSON form (``describe_output`` reads it back into the one-line description)."""
        return {"codec": self.codec, "pix_fmt": self.pix_fmt, "profile": self.profile, "bitrate": self.bitrate,
                "crf": self.crf, "source": self.source, "notes": list(self.notes)}


def encoder_formats(codec: str) -> list[str]:
    try:
        return [f.name for f in (av.codec.Codec(codec, "w").video_formats or [])]
    except Exception:  # noqa: BLE001 - unknown encoder: check_codec says so
        return []


def parse_bitrate(text) -> int | None:
    """``50M``, ``185000k``, ``8000000`` -> bits per second (None stays None)."""
    if text is None:
        return None
    raw = str(text).strip().lower()
    scale = {"k": 1_000, "m": 1_000_000, "g": 1_000_000_000}.get(raw[-1:], 1)
    try:
        value = float(raw[:-1] if scale > 1 else raw)
    except ValueError:
        raise FilmrtError(f"--bitrate {text}: use bits per second, e.g. 50M or 185000k") from None
    if not 0 < value * scale < 10**11:
        raise FilmrtError(f"--bitrate {text}: must be a positive rate below 100G")
    return int(value * scale)


def check_pix_fmt(codec: str, pix_fmt: str | None) -> None:
    """A one-line error for an unknown pixel format or one the (explicit) encoder does not take."""
    if pix_fmt is None:
        return
    try:
        av.VideoFormat(pix_fmt)
    except (ValueError, TypeError):
        raise FilmrtError(f"--pix-fmt {pix_fmt}: not a pixel format FFmpeg knows") from None
    fmts = encoder_formats(codec) if codec != "auto" else []
    if fmts and pix_fmt not in fmts:
        raise FilmrtError(f"--pix-fmt {pix_fmt}: {codec} takes {', '.join(fmts)}")


def _score(cand: PixelLayout, src: PixelLayout) -> tuple:
    """Lower is better: keep alpha, the RGB/Y'CbCr family, chroma, bits (in that order)."""
    chroma_loss = int(cand.sub[0] > src.sub[0] or cand.sub[1] > src.sub[1])
    chroma_gain = int(cand.sub != src.sub)
    return (
        int(src.alpha and not cand.alpha), int(cand.rgb != src.rgb), int(cand.gray != src.gray),
        chroma_loss, int(cand.bits < src.bits), chroma_gain, abs(cand.bits - src.bits),
        int(cand.alpha and not src.alpha), int(cand.full_range), int(cand.name.startswith(("nv", "p0"))),
        int(not cand.planar), cand.name,
    )


def closest_pix_fmt(codec: str, src_pix: str) -> str:
    """The encoder's pixel format closest to ``src_pix`` (the source's own when it takes it)."""
    fmts = encoder_formats(codec)
    if not fmts:
        raise FilmrtError(f"{codec}: no video pixel formats known")
    if src_pix in fmts:
        return src_pix
    src = PixelLayout.of(src_pix)
    return min(fmts, key=lambda n: _score(PixelLayout.of(n), src))


def _auto_codec(src_codec: str, src: PixelLayout) -> str:
    codec = FAMILY.get(src_codec)
    if codec is None:
        return "ffv1" if src.alpha else "libx264"
    if src.alpha and not any(PixelLayout.of(f).alpha for f in encoder_formats(codec)):
        return "ffv1"  # e.g. HEVC with alpha layer: keep the alpha (libx265 here has no alpha output)
    return codec


def _auto_profile(codec: str, src_profile: str | None, layout: PixelLayout) -> str | None:
    """prores_ks/dnxhd profile option from the source's profile name (None: the encoder's default)."""
    key = (src_profile or "").strip().lower()
    if codec == "prores_ks":
        if key in PRORES_PROFILES:
            return PRORES_PROFILES[key]
        return "4444" if layout.sub == (1, 1) else "hq"
    if codec == "dnxhd":
        if key in DNX_PROFILES:
            return DNX_PROFILES[key]
        return ("dnxhr_444" if layout.sub == (1, 1) else "dnxhr_hqx" if layout.bits > 8 else "dnxhr_hq")
    if codec == "mpeg2video" and layout.sub == (1, 2):
        return "422"  # 4:2:2 needs the 4:2:2 profile (Main allows 4:2:0 only)
    return None


def choose_format(
    src_codec: str, src_pix: str, src_profile: str | None = None, src_bitrate: int | None = None, *,
    codec: str = "auto", pix_fmt: str | None = None, profile: str | None = None,
    bitrate: str | int | None = None, crf: int = 18,
) -> OutputFormat:
    """The output encoding for a source (decoder name, pixel format, profile, bit rate) and the
    user's overrides (``codec`` other than ``auto``, ``pix_fmt``, ``profile``, ``bitrate``)."""
    src = PixelLayout.of(src_pix)
    notes: list[str] = []
    chosen = _auto_codec(src_codec, src) if codec == "auto" else codec
    if codec == "auto" and src_codec not in FAMILY:
        notes.append(f"{src_codec} is written as {chosen} (--codec auto keeps ProRes, DNxHD/HR, H.264, HEVC, "
                     "FFV1, QuickTime RLE, PNG and MPEG-2)")
    if pix_fmt is not None:
        check_pix_fmt(chosen, pix_fmt)
        pix = pix_fmt
    else:
        pix = closest_pix_fmt(chosen, src_pix)
    out = PixelLayout.of(pix)
    if src.alpha and not out.alpha:
        notes.append(f"alpha dropped: {chosen} {pix} has no alpha channel")
    if out.bits < src.bits:
        notes.append(f"bit depth lowered {src.bits} -> {out.bits} ({chosen} has no deeper format)")
    if (out.sub[0] > src.sub[0] or out.sub[1] > src.sub[1]) and not src.rgb:
        notes.append(f"chroma reduced {src.describe()} -> {out.describe()}")
    if src.rgb != out.rgb and not src.gray:
        notes.append(f"{'RGB' if src.rgb else 'Y`CbCr'} source written as {'RGB' if out.rgb else 'Y`CbCr'}")
    prof = profile
    if prof is None and chosen in ("prores_ks", "dnxhd", "mpeg2video"):  # the source's, same family
        prof = _auto_profile(chosen, src_profile if FAMILY.get(src_codec) == chosen else None, out)
    rate = parse_bitrate(bitrate)
    if rate is None and chosen == "dnxhd" and prof == "dnxhd":
        if not src_bitrate:
            raise FilmrtError("DNxHD (not DNxHR) needs --bitrate (the family fixes it per resolution)")
        rate = int(src_bitrate)
    if rate is None and chosen == "mpeg2video":  # MPEG-2's own default (200 kb/s) would ruin the picture
        if src_bitrate and FAMILY.get(src_codec) == chosen:
            rate = int(src_bitrate)  # the delivery's rate (XDCAM HD422: 50 Mb/s)
        else:
            notes.append("MPEG-2 bit rate unknown (no --bitrate, and no MPEG-2 source header giving one): "
                         "constant quality (qscale 2); pass --bitrate for a delivery rate")
    return OutputFormat(codec=chosen, pix_fmt=pix, profile=prof, bitrate=rate,
                        crf=crf if chosen in CRF_CODECS and rate is None else None,
                        source=f"{src_codec}{' ' + src_profile if src_profile else ''}, {src.describe()}",
                        notes=notes, auto=codec == "auto", source_pix=src_pix)


def output_for(info, enc) -> OutputFormat:
    """The OutputFormat for a source's :class:`~filmrt.pipeline.io.decode.VideoInfo` and the user's
    :class:`~filmrt.pipeline.options.EncodeOptions` (``--codec``, ``--pix-fmt``, ``--profile``,
    ``--bitrate``, ``--crf``); with ``--strict``, refuses when the output would drop alpha."""
    out = choose_format(info.codec, info.pix_fmt, info.profile, info.bit_rate, codec=enc.codec,
                        pix_fmt=enc.pix_fmt, profile=enc.profile, bitrate=enc.bitrate, crf=enc.crf)
    refuse_losses([n for n in out.notes if "dropped" in n], enc.strict)
    return out


def refuse_losses(lost: list[str], strict: bool) -> None:
    """``--strict``: a FilmrtError naming the first thing the output would drop."""
    if strict and lost:
        raise FilmrtError(f"--strict: {lost[0]}")


def describe_output(d: dict) -> str:
    """The one-line description of an :meth:`OutputFormat.to_dict`."""
    return OutputFormat(d["codec"], d["pix_fmt"], d.get("profile"), d.get("bitrate"), d.get("crf")).describe()

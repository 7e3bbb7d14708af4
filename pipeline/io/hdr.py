"""HDR and picture side data: what the source carries, what the output can carry, what is dropped.

- **Colour tags** (primaries, transfer incl. PQ = SMPTE ST 2084 and HLG = ARIB STD-B67, matrix,
  range) travel in :class:`~filmrt.pipeline.io.colour.ColourSpec` and are written to the output
  stream as they were (the muxer sets them on the encoder).
- **HDR10 static metadata** (mastering display colour volume, SMPTE ST 2086; content light level,
  MaxCLL/MaxFALL) is read from the first decoded frame's side data. It describes the whole
  programme, so it stays valid at any frame rate. PyAV cannot attach side data to the frames it
  encodes, so it is carried where an encoder takes it as a setting: ``libx265``'s
  ``master-display`` / ``max-cll`` (SEI messages in every IRAP). Other encoders: dropped, said once.
- **Dynamic metadata** (HDR10+ = SMPTE ST 2094-40, Dolby Vision RPUs) is per frame and describes
  *that* frame's picture: an interpolated frame has none, and repeating a neighbour's would be
  wrong, so it cannot be re-timed honestly. It is dropped and said once (``--strict`` refuses).
- **Closed captions** (CEA-608/708 in A/53 side data) are re-paced to the output rate and written
  into H.264/HEVC output (:mod:`filmrt.pipeline.io.captions`); other encoders have no place for them:
  dropped and said once (``--strict`` refuses).

The models see the *encoded* signal (e.g. PQ or HLG code values scaled to [0, 1], not linear light):
that is the domain they were trained in (gamma-encoded video), and motion estimation and blending in
a perceptual domain keep quantisation steps evenly spaced; converting to linear light and back
would only add rounding.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field

import numpy as np
from av.sidedata.sidedata import SideDataContainer

#: side-data type names (PyAV's ``sidedata.Type``) -> what the user is told
DYNAMIC = {"DYNAMIC_HDR_PLUS": "HDR10+ dynamic metadata", "DOVI_RPU_BUFFER": "Dolby Vision RPUs",
           "DOVI_METADATA": "Dolby Vision RPUs", "DYNAMIC_HDR_VIVID": "HDR Vivid dynamic metadata"}
CAPTIONS = {"A53_CC": "CEA-608/708 closed captions (A/53)"}


@dataclass(frozen=True)
class MasteringDisplay:
    """SMPTE ST 2086: primaries and white point as CIE xy, luminance in cd/m2."""

    red: tuple[float, float]
    green: tuple[float, float]
    blue: tuple[float, float]
    white: tuple[float, float]
    min_luminance: float
    max_luminance: float

    @classmethod
    def from_bytes(cls, raw: bytes) -> MasteringDisplay | None:
        """AVMasteringDisplayMetadata: 10 AVRationals (r, g, b, white xy; min, max), has_primaries, has_luminance."""
        if len(raw) < 88:
            return None
        v = np.frombuffer(raw[:88], dtype="<i4")
        rat = [float(n) / float(d) if d else 0.0 for n, d in zip(v[0:20:2], v[1:20:2], strict=True)]
        if not (v[20] and v[21]):
            return None
        return cls((rat[0], rat[1]), (rat[2], rat[3]), (rat[4], rat[5]), (rat[6], rat[7]), rat[8], rat[9])

    def x265(self) -> str:
        """x265's ``master-display``: G B R WP in 0.00002 units, L(max, min) in 0.0001 cd/m2."""
        def xy(p):
            return f"({round(p[0] / 0.00002)},{round(p[1] / 0.00002)})"
        return (f"G{xy(self.green)}B{xy(self.blue)}R{xy(self.red)}WP{xy(self.white)}"
                f"L({round(self.max_luminance * 10000)},{round(self.min_luminance * 10000)})")


@dataclass(frozen=True)
class LightLevel:
    max_cll: int
    max_fall: int

    @classmethod
    def from_bytes(cls, raw: bytes) -> LightLevel | None:
        if len(raw) < 8:
            return None
        cll, fall = (int(x) for x in np.frombuffer(raw[:8], dtype="<u4"))
        return cls(cll, fall)


@dataclass
class SideInfo:
    """What the first decoded frame (and the stream) carried beyond the picture."""

    mastering: MasteringDisplay | None = None
    light: LightLevel | None = None
    #: dynamic metadata and captions seen (the user-facing names), in order of discovery
    dynamic: list[str] = field(default_factory=list)
    captions: list[str] = field(default_factory=list)

    def to_dict(self) -> dict:
        return {
            "mastering_display": None if self.mastering is None else self.mastering.__dict__,
            "content_light_level": None if self.light is None else self.light.__dict__,
            "dynamic": list(self.dynamic), "captions": list(self.captions),
        }


def _type_name(sd) -> str:
    t = getattr(sd, "type", "")
    return getattr(t, "name", None) or str(t).rsplit(".", 1)[-1]


def read_side_data(frame, into: SideInfo | None = None) -> SideInfo:
    """Collect HDR10 static metadata, dynamic metadata and captions from one decoded frame."""
    info = into or SideInfo()
    for sd in side_data_of(frame):
        name = _type_name(sd)
        if name == "MASTERING_DISPLAY_METADATA" and info.mastering is None:
            info.mastering = MasteringDisplay.from_bytes(bytes(sd))
        elif name == "CONTENT_LIGHT_LEVEL" and info.light is None:
            info.light = LightLevel.from_bytes(bytes(sd))
        elif name in DYNAMIC and DYNAMIC[name] not in info.dynamic:
            info.dynamic.append(DYNAMIC[name])
        elif name in CAPTIONS and CAPTIONS[name] not in info.captions:
            info.captions.append(CAPTIONS[name])
    return info


def x265_hdr_params(side: SideInfo | None) -> list[str]:
    """``x265-params`` entries that carry the HDR10 static metadata (empty when there is none)."""
    if side is None:
        return []
    params = []
    if side.mastering is not None:
        params.append(f"master-display={side.mastering.x265()}")
    if side.light is not None:
        params.append(f"max-cll={side.light.max_cll},{side.light.max_fall}")
    return params


def losses(side: SideInfo | None, codec: str, captions_kept: bool = False) -> list[str]:
    """What of ``side`` the output cannot carry, one sentence each (empty: nothing lost);
    ``captions_kept``: the captions are re-paced into the output (:mod:`filmrt.pipeline.io.captions`)."""
    if side is None:
        return []
    out = []
    static = [n for n, v in (("mastering display", side.mastering), ("content light level", side.light)) if v]
    if static and codec != "libx265":
        out.append(f"HDR10 static metadata ({', '.join(static)}) dropped: {codec} cannot carry it from "
                   "PyAV (libx265 can: --codec libx265)")
    for d in side.dynamic:
        out.append(f"{d} dropped: per-frame metadata cannot be re-timed to interpolated frames")
    for c in side.captions if not captions_kept else ():
        out.append(f"{c} dropped: {codec} output has no place for them (libx264/libx265 carry them)")
    return out


def side_data_of(frame) -> list:
    """The side data entries (PyAV ``SideData``) of a decoded frame, read without tying the frame up.

    PyAV's ``frame.side_data`` stores its container on the frame and the container points back at
    the frame: a reference cycle, so every frame read that way (with its picture buffers) waits for
    Python's full garbage collection, which runs rarely in a process holding torch (measured: +80 KB
    a 720p frame, 8 MB every 100 frames of a live stream, for minutes). A container of our own refers
    to the frame one way only and goes with the last reference."""
    try:
        return _entries(SideDataContainer(frame))
    except (TypeError, KeyError, AttributeError):
        try:
            return _entries(frame.side_data)  # a frame-like object of a test, or another PyAV
        except (TypeError, KeyError, AttributeError):
            return []


def _entries(container) -> list:
    # by position: PyAV < 18.1.1 iterates the entries, later ones the types (a mapping with one entry
    # per type); an integer index gives the entries in both, two of one type included
    out = []
    for i in itertools.count():
        try:
            out.append(container[i])
        except IndexError:
            return out


def display_matrix_of(frame) -> list[int] | None:
    """The 9 int32 of a decoded frame's DISPLAYMATRIX side data entry, if present."""
    for sd in side_data_of(frame):
        kind = str(getattr(sd, "type", ""))
        if "DISPLAYMATRIX" in kind.upper():
            raw = bytes(sd)
            if len(raw) >= 36:
                return [int(v) for v in np.frombuffer(raw[:36], dtype="<i4")]
    return None

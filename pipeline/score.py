"""``filmrt score REF CAND``: score a video made by any tool against the original, frames matched by time.

The drop-frame protocol of :mod:`filmrt.pipeline.eval_video`, open to every tool: take a clip REF,
give a tool every N-th frame of it (``--every 2``: 25 fps -> 12.5 fps), let the tool bring the rate
back, and score what it made (CAND) against REF's frames that it never saw. Any tool's output scores
in the same table as ours (``filmrt bench --peers`` does exactly that), because nothing here knows
how CAND was made:

- **Matching by time.** Both files are decoded by the pipeline's decoder (the stated colour
  conversion) and each is timed from its own first frame (a tool may start its output at another
  offset; ``--offset S``: CAND's first frame is REF's at S seconds, a tool given a later part of
  REF; nothing in the files can say so, FFmpeg's libvmaf pairs them from the first frames too). A CAND frame matches the REF frame at its time, up to what the files' time bases can
  round (one tick of each, at least 1 ms, at most half a REF frame); CAND frames with no REF frame
  there (a rate that is not REF's) are counted, not scored.
- **Generated vs kept.** With ``--every N``, REF frame ``i`` (counted from the first) is one the tool
  never saw when ``i % N != 0``: its score is the interpolation's. The kept ones are scored apart
  (a tool that re-encodes its input loses a little there too). Without ``--every`` every matched
  frame is one group.
- **Metrics** (:mod:`filmrt.quality`, :mod:`filmrt.vmaf`): PSNR and SSIM on the frames rounded to
  8 bits as the protocol does; VMAF (``--vmaf``: libvmaf's own numbers, model vmaf_v0.6.1, over
  every matched frame in order so its motion feature sees the sequence) on the pictures as each
  file decodes, not on the protocol's RGB: libvmaf is handed both decoded pictures in their own
  pixel formats and ranges, and FFmpeg converts them as ``ffmpeg -i CAND -i REF -lavfi libvmaf``
  does (:mod:`filmrt.vmaf`: usually the Y' planes as decoded, super-whites and sub-blacks
  included; a 10-bit pair at 10 bits); flicker of each generated
  frame against its CAND neighbours (8-bit code values); judder of CAND's motion (global motion per
  output step) next to REF's own, and the motion error of CAND's steps against REF's at the same
  frames (a held-then-jumping or double picture reads about 1, motion where it belongs 0).
- **Scene cuts** (found in REF by the detector of :mod:`filmrt.pipeline.time.scenes`): a generated
  frame next to a cut is listed but not scored (nothing can be interpolated across a cut), and no
  motion step or flicker is measured across one.
- **What the decoder did** (``notes``): a picture size that changes mid-stream (scaled to the
  first size, as ``convert`` does; libvmaf itself refuses such a file), damage, pictures dropped
  at a splice: the scores are of those pictures, so each is said (the CLI prints a note).

Memory: two frames of each file and a small window, whatever the length; VMAF spools the decoded
pictures to a temporary folder (1.5 bytes a pixel per frame and file for 8-bit 4:2:0).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterator
from fractions import Fraction

import numpy as np
import torch

from filmrt.errors import FilmrtError
from filmrt.imageio import to_uint8
from filmrt.pipeline.io.colour import rgb_to_yuv
from filmrt.pipeline.io.decode import DecodedFrame, PyAVSource
from filmrt.pipeline.io.source import DecodeRequest
from filmrt.pipeline.report_html import WorstFrames
from filmrt.pipeline.time.scenes import DEFAULT_THRESHOLD, SceneDetector
from filmrt.pipeline.time.timestamps import clock_repairs
from filmrt.quality import flicker, global_motion, judder, motion_error, psnr, ssim
from filmrt.vmaf import MODEL, Picture, VmafScorer


def _timed(frames: Iterator[DecodedFrame]) -> Iterator[tuple[Fraction, DecodedFrame]]:
    """Frames with their time from the first frame (seconds, exact)."""
    t0 = None
    for f in frames:
        t0 = f.ts if t0 is None else t0
        yield f.ts - t0, f


def match_tolerance(ref_rate: Fraction, ref_tb: Fraction | None, cand_tb: Fraction | None) -> Fraction:
    """How far apart a CAND and a REF frame time may be and still be the same instant: what rounding
    each file's time base can do (one tick of each), at least 1 ms (a container that stores
    milliseconds), at most half a REF frame. Half a frame for all would score a 40 fps tool's frame
    a third of a REF frame early against the REF frame: a picture of another instant."""
    ticks = (ref_tb or 0) + (cand_tb or 0)
    return min(Fraction(1, 2) / ref_rate, max(Fraction(1, 1000), Fraction(ticks)))


def match_by_time(ref: Iterator[DecodedFrame], cand: Iterator[DecodedFrame], ref_rate: Fraction,
                  counts: dict, tol: Fraction | None = None) -> Iterator[tuple[int, DecodedFrame, DecodedFrame]]:
    """(REF index from the first frame, REF frame, CAND frame) for every CAND frame within ``tol``
    (default half a REF frame duration) of a REF frame; ``counts['unmatched']`` counts the CAND
    frames left over."""
    half = Fraction(1, 2) / ref_rate if tol is None else tol
    r_iter, c_iter = enumerate(_timed(ref)), _timed(cand)
    r = next(r_iter, None)
    for tc, fc in c_iter:
        while r is not None and r[1][0] < tc - half:
            r = next(r_iter, None)
        if r is not None and abs(r[1][0] - tc) <= half:
            yield r[0], r[1][1], fc
            r = next(r_iter, None)
        else:
            counts["unmatched"] += 1


class _Group:
    def __init__(self):
        self.psnr: list[float] = []
        self.ssim: list[float] = []
        self.vmaf: list[float] = []
        self.flicker: list[float] = []

    def summary(self) -> dict:
        def mean(v):
            return float(np.mean(v)) if v else None
        return {"frames": len(self.psnr), "psnr": mean(self.psnr), "ssim": mean(self.ssim),
                "vmaf": mean(self.vmaf), "flicker": mean(self.flicker),
                "flicker_max": float(np.max(self.flicker)) if self.flicker else None}


def _u8(rgb: torch.Tensor) -> np.ndarray:
    """(H, W, 3) uint8: the protocol scores 8-bit pictures."""
    return to_uint8(rgb[:3])


def vmaf_luma(img: np.ndarray, spec) -> np.ndarray:
    """(H, W) uint8 Y' of an (H, W, 3) uint8 picture, in the reference stream's matrix and range
    (``spec``: its 8-bit :class:`~filmrt.pipeline.io.colour.ColourSpec`): what libvmaf is given of
    a picture that exists only as RGB (``eval-video`` of a Y'CbCr clip). ``score`` gives it the decoded
    pictures instead (:attr:`DecodedFrame.picture`)."""
    return rgb_to_yuv(torch.from_numpy(img).permute(2, 0, 1).float() / 255.0, spec)[0]


def score_output(ref, cand, *, every: int | None = 2, vmaf: bool = False, ss: float | None = None,
                 t: float | None = None, offset: float | None = None, scene_threshold: float = DEFAULT_THRESHOLD,
                 on_frame: Callable[[int], None] | None = None, worst: WorstFrames | None = None) -> dict:
    """Score CAND (any tool's output) against REF; see the module docstring. A dict with ``generated``
    and ``kept`` groups (frames, psnr, ssim, vmaf, flicker), matched/unmatched counts, judder of CAND
    and REF, and the per-frame lists under ``frames``. ``worst`` (for ``--report``) keeps the pictures
    of the generated frames with the lowest PSNR. ``ss``/``t`` cut both files alike; ``offset``:
    CAND's first frame is REF's at that many seconds (a tool run on a later part of REF), so REF
    alone starts there (after ``ss``)."""
    if every is not None and every < 2:
        raise FilmrtError(f"--every {every}: the tool saw every N-th frame of REF, N >= 2")
    if offset is not None and not (0 <= offset < math.inf):
        raise FilmrtError(f"--offset {offset}: CAND starts at a time of REF, >= 0 (cut CAND with --ss instead)")
    t0 = time.perf_counter()
    req = DecodeRequest(ss=ss, t=t, keep_picture=vmaf)  # VMAF reads the decoded pictures, not the RGB
    ref_req = DecodeRequest(ss=(ss or 0) + offset, t=t, keep_picture=vmaf) if offset else req
    rs, cs = PyAVSource(ref, ref_req), PyAVSource(cand, req)
    try:
        return _score(rs, cs, every, vmaf, scene_threshold, on_frame, t0, worst)
    finally:
        rs.close()
        cs.close()


class SequenceTrack:
    """The sequence metrics of one candidate against the reference, fed matched frames in display
    order: VMAF (libvmaf sees the pairs in that order: its motion feature reads consecutive
    reference frames) and the global motion per step of each (judder, motion error). ``score`` runs
    one; ``eval-video`` runs one per method on the kept frames and that method's rebuilt ones, so
    both commands give the same numbers for the same pictures (eval-video's are RGB only: libvmaf
    gets their Y' in the reference's matrix and range, 8 bits, or ``rgb_source``: the RGB itself;
    ``score`` hands it the decoded pictures, ``ref_pic``/``cand_pic``)."""

    def __init__(self, width: int, height: int, spec, *, vmaf: bool = False, rgb_source: bool = False):
        self.spec = spec.with_bits(8)
        self.rgb_source = rgb_source  # RGB pictures go to libvmaf as RGB (FFmpeg's Y', as of an RGB file)
        self.vm = VmafScorer(width, height) if vmaf else None
        self.ref_steps: list[tuple[float, float]] = []
        self.cand_steps: list[tuple[float, float]] = []
        self.paired: list[tuple[tuple[float, float], tuple[float, float]]] = []  # (CAND, REF) of one step
        self.prev: tuple[int, np.ndarray, np.ndarray] | None = None
        self.indices: list[int] = []  # REF index of each pair given to VMAF, in order

    def _vmaf(self, i: int, ref: np.ndarray, cand: np.ndarray, ref_pic: Picture | None,
              cand_pic: Picture | None) -> None:
        if self.vm is not None:
            self.vm.add(ref_pic or self._picture(ref), cand_pic or self._picture(cand))
            self.indices.append(i)

    def _picture(self, img: np.ndarray) -> Picture | np.ndarray:
        return Picture.rgb(img) if self.rgb_source else vmaf_luma(img, self.spec)

    def add(self, i: int, ref: np.ndarray, cand: np.ndarray, cut: bool, ref_pic: Picture | None = None,
            cand_pic: Picture | None = None) -> None:
        """REF frame ``i`` (from the first) and the candidate's frame there ((H, W, 3) uint8);
        ``cut``: a scene cut lies between the previous frame given and this one. ``ref_pic`` and
        ``cand_pic``: the decoded pictures, which VMAF then reads (give both or neither)."""
        if (ref_pic is None) != (cand_pic is None):
            raise ValueError("give VMAF both decoded pictures or neither: one Y' route for both")
        self._vmaf(i, ref, cand, ref_pic, cand_pic)
        if self.prev is not None and not cut:  # motion across a cut means nothing
            pi, pr, pc = self.prev
            self.ref_steps.append(global_motion(pr, ref))
            self.cand_steps.append(global_motion(pc, cand))
            if i == pi + 1:
                self.paired.append((self.cand_steps[-1], self.ref_steps[-1]))
        self.prev = (i, ref, cand)

    def gap(self, i: int, ref: np.ndarray) -> None:
        """REF frame ``i``, which the candidate has no picture for: no motion step is measured
        across it; VMAF is given the reference in its place (its motion feature reads the whole
        reference sequence), a score nobody reads."""
        self._vmaf(i, ref, ref, None, None)
        self.prev = None

    def vmaf_scores(self) -> list[float]:
        """Per-frame VMAF of the frames given, in order ([] without VMAF)."""
        return self.vm.scores() if self.vm is not None else []

    def vmaf_by_index(self) -> dict[int, float]:
        """REF index -> VMAF of the frames given ({} without VMAF)."""
        return dict(zip(self.indices, self.vmaf_scores(), strict=True))

    def judder(self) -> dict:
        """``cand`` and ``ref`` judder (:func:`filmrt.quality.judder`) and the ``motion_error``."""
        return {"cand": judder(self.cand_steps), "ref": judder(self.ref_steps),
                "motion_error": motion_error([c for c, _ in self.paired], [r for _, r in self.paired])}

    def close(self) -> None:
        if self.vm is not None:
            self.vm.close()


def _score(rs: PyAVSource, cs: PyAVSource, every, want_vmaf: bool, scene_threshold: float, on_frame,
           t0: float, worst: WorstFrames | None = None) -> dict:
    ri, ci = rs.info, cs.info
    if (ri.width, ri.height) != (ci.width, ci.height):
        raise FilmrtError(f"REF is {ri.width}x{ri.height} and CAND {ci.width}x{ci.height}: score the same size")
    if not ri.rate:
        raise FilmrtError(f"{rs.src_name}: the reference has no frame rate to match frames by")
    track = SequenceTrack(ri.width, ri.height, ri.colour, vmaf=want_vmaf)
    counts = {"unmatched": 0}
    rows: list[dict] = []
    window: list[tuple[int, np.ndarray]] = []  # (row, CAND picture), for flicker
    prev_ref = None
    det = SceneDetector(scene_threshold)
    try:
        tol = match_tolerance(Fraction(ri.rate), ri.time_base, ci.time_base)
        for i, fr, fc in match_by_time(rs.frames(), cs.frames(), Fraction(ri.rate), counts, tol):
            if not rows:  # the display matrices are read with each file's first picture
                _check_rotation(rs, cs)
            a, b = _u8(fr.rgb), _u8(fc.rgb)
            group = "generated" if every and i % every else ("kept" if every else "generated")
            cut = bool(det.update(fr.thumb))  # a cut in REF between the previous matched frame and this one
            rows.append({"ref_index": i, "group": group, "cut_before": cut, "psnr": psnr(b, a), "ssim": ssim(b, a)})
            if worst is not None and group == "generated" and not cut:
                worst.offer(rows[-1]["psnr"], f"REF frame {i}", lambda p=prev_ref, a=a, b=b: _panels(p, a, b))
            track.add(i, a, b, cut, fr.picture, fc.picture)
            prev_ref = a
            window = (window + [(len(rows) - 1, b)])[-3:]
            _flicker(window, rows)
            if on_frame is not None:
                on_frame(len(rows))
        if want_vmaf:
            for row, v in zip(rows, track.vmaf_scores(), strict=True):
                row["vmaf"] = v
    finally:
        track.close()
    if not rows:
        raise FilmrtError(f"no frame of {cs.src_name} lands on a frame time of {rs.src_name}: nothing to score")
    groups = _groups(rows)
    return {
        "ref": rs.src_name, "cand": cs.src_name, "every": every,
        "width": ri.width, "height": ri.height,
        "ref_rate": str(ri.rate), "cand_rate": str(ci.rate) if ci.rate else None,
        "matched": len(rows), "unmatched_cand_frames": counts["unmatched"],
        "skipped_at_cuts": sum(1 for r in rows if r.get("skipped")),
        "generated": groups["generated"].summary(), "kept": groups["kept"].summary() if every else None,
        "judder": track.judder(),
        "vmaf_model": MODEL if want_vmaf else None,
        "notes": _input_notes(rs, "REF") + _input_notes(cs, "CAND"),
        "frames": rows, "seconds": time.perf_counter() - t0,
    }


def _check_rotation(rs: PyAVSource, cs: PyAVSource) -> None:
    """Refuse a pair shown turned differently (a display matrix on one side only, or another angle):
    the coded pictures are scored, so they would be compared as stored while a viewer sees one of
    them turned (FFmpeg's libvmaf, which turns them, refuses the pair: its sizes differ)."""
    r, c = rs.info.rotation % 360, cs.info.rotation % 360
    if r != c:
        raise FilmrtError(f"REF is shown rotated {r} degrees and CAND {c} (display matrix): "
                          "score files shown the same way")


def _input_notes(src: PyAVSource, side: str) -> list[str]:
    """What the decoder did to or found in one file (a size change scaled to the first size,
    damage, overlapping pictures dropped, timestamps repeated or reset and placed anew): the scores
    are of those pictures at those times, so the user is told."""
    out = [f"{side}: {n}" for n in src.notes] + [f"{side}: damaged input: {p}" for p in src.problems]
    if src.timestamps_overlapped:
        out.append(f"{side}: {src.timestamps_overlapped} picture(s) overlapping earlier ones dropped (a splice)")
    return out + [f"{side}: {n}" for n in clock_repairs(src)["notes"]]  # repeated, reset timestamps


def _panels(prev: np.ndarray | None, truth: np.ndarray, ours: np.ndarray) -> dict[str, np.ndarray]:
    """The pictures of a worst frame: the matched frame before it (REF), the truth, CAND's frame."""
    return {**({"previous (REF)": prev} if prev is not None else {}), "truth": truth, "ours": ours}


def _flicker(window: list[tuple[int, np.ndarray]], rows: list[dict]) -> None:
    """The middle of three consecutive matched CAND frames, when generated, against its neighbours
    (not across a scene cut: the brightness of the next shot is no line to be on)."""
    if len(window) < 3:
        return
    (_, p), (k, g), (_, n) = window
    if (rows[k]["group"] == "generated" and rows[k + 1]["ref_index"] - rows[k - 1]["ref_index"] == 2
            and not rows[k]["cut_before"] and not rows[k + 1]["cut_before"]):
        rows[k]["flicker"] = flicker(p, g, n)


def _groups(rows: list[dict]) -> dict[str, _Group]:
    """Per-group lists of the scores; a generated frame next to a REF scene cut is marked skipped
    (nothing can be interpolated across a cut: the protocol of eval-video skips those pairs too)."""
    groups = {"generated": _Group(), "kept": _Group()}
    for k, row in enumerate(rows):
        nxt = rows[k + 1]["cut_before"] if k + 1 < len(rows) else False
        if row["group"] == "generated" and (row["cut_before"] or nxt):
            row["skipped"] = "scene cut"
            continue
        g = groups[row["group"]]
        g.psnr.append(row["psnr"])
        g.ssim.append(row["ssim"])
        if "vmaf" in row:
            g.vmaf.append(row["vmaf"])
        if "flicker" in row:
            g.flicker.append(row["flicker"])
    return groups

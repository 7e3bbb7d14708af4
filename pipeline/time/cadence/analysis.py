"""Broadcast temporal structure: what the input's frames *are* in time, and what convert does about it.

A decoded frame is not always one instant of the scene:

- **interlaced** video (25i, 29.97i) carries two fields per frame, taken 1/50 s (1/59.94 s) apart,
  woven line by line; moving edges "comb". They are deinterlaced at field rate (25i -> 50p) with
  libavfilter's ``bwdif`` (or ``yadif``) before the model sees them.
- **telecined** film (23.976p carried as 29.97i by 3:2 pulldown) repeats fields in a 5-frame cycle;
  ``fieldmatch`` re-pairs the fields and ``decimate`` drops the repeated frame, recovering 23.976p
  (interpolating between repeated fields would make judder).
- **repeated frames** (animation on twos, poor transfers): a run of duplicates is one picture held
  for the run's duration; dropping the repeats lets the scheduler see the real motion times, so the
  interpolated output moves smoothly instead of stop-go.

What the input is comes from :func:`analyse`: the stream's field order, the first frames'
interlaced/top-field-first flags, and, because flags lie, libavfilter's ``idet`` (a per-frame
combing classifier: tff / bff / progressive) over the first :data:`ANALYSE_FRAMES` frames. A
3:2 cadence shows up there as a repeated field in 2 frames of every 5 (idet's repeated-field
verdict). 2:2 pulldown (PsF, 25p in 25i) repeats nothing: in phase it is progressive content
(idet finds no combing: left alone); shifted by a field every frame combs, as in interlaced video,
but the combing goes away once ``fieldmatch`` re-pairs the fields (idet run again after it), and
``fieldmatch`` alone then restores the progressive frames at the frame rate.

The decisions (and the reason for each) are kept in a :class:`TemporalReport`, which convert puts
in ``ConvertResult.temporal`` (so ``--json`` shows what was detected and what was done) and prints
once. The filters themselves run in :class:`FrameFilter` (:mod:`filmrt.pipeline.time.cadence.fieldops`).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from fractions import Fraction

import av
import numpy as np
import torch

from filmrt.errors import FilmrtError
from filmrt.fileio import is_stream_target
from filmrt.models import ModelSpec
from filmrt.pipeline.io.planes import frame_to_rgb
from filmrt.pipeline.io.probe import field_order, main_video
from filmrt.pipeline.time.cadence.fieldops import pull_all
from filmrt.pipeline.time.cadence.repeats import (
    cadence_hold,
    cadence_pair,
    cadence_repeats,
    repeat_cadence,
)

#: frames of the input looked at by :func:`analyse`
ANALYSE_FRAMES = 60
#: idet verdicts: a source is interlaced when at least this share of the classified frames comb
INTERLACED_SHARE = 0.5
#: ... and, when the stream is not flagged interlaced, at least this share of ALL analysed frames
#: (idet leaves most frames of soft or scaled material "undetermined": a few combed verdicts among
#: them are not evidence enough to override the flags; the bundled sample: 10 of 60)
UNFLAGGED_COMBED_SHARE = 0.25
#: 2:2 pulldown shifted by a field: at most this share of the frames still comb after fieldmatch
#: (measured: 0.1 for shifted 2:2, 0.5-1 for interlaced video)
MATCHED_COMBED_SHARE = 0.25
#: the field-instant test (:func:`field_instants`), which overrules idet's combing only in a stream
#: flagged progressive: a moving frame's two fields show one instant when,
#: in its moving blocks, its bottom field fits its own top field this many times better than either
#: neighbour's top field (measured on pans of 1-16 px/frame and real clips: 5-20x for progressive
#: frames, 0.9-1.1x for interlaced ones of either field order; but 2x for interlaced sharp detail in
#: a slow pan of 1 px per field or a vertical pan: it cannot overrule flags that say interlaced)
SAME_INSTANT_RATIO = 1.5
#: the blocks (field lines, pixels) the test is made in: only the moving ones are looked at
BLOCK = (8, 16)
#: ... and idet's combing is overruled when at least this share of the moving frames (and at least
#: :data:`SAME_INSTANT_MIN` of them) pass it (measured: 0.9-1 of the frames of progressive pans, test
#: patterns and the shared clips; 0-0.4 of interlaced ones, 0.63 of telecined film)
SAME_INSTANT_SHARE = 0.75
SAME_INSTANT_MIN = 8
#: ... and the median of how many times better the moving frames' own fields fit is at least this
#: (measured on 81 clips of 12 scenes, 2026-12-06: interlaced 0.9-2.5, the highest a slow pan of sharp
#: detail at 1 px per field and vertical pans; progressive pans, zooms, tickers 3.0-90; fine static
#: detail, noise and text 1.7-2.6 stay with idet's verdict)
SAME_INSTANT_MEDIAN = 3.0
#: 2:2 pulldown shifted by a field: the moving frames' bottom fields fit a neighbour's top field at
#: least 1 / this times better than their own (measured: 0.03-0.1 for shifted 2:2 at 16 px/frame, where
#: idet still finds 30-55 % combed after fieldmatch; 0.9-2.5 for interlaced video, 1.2-1.6 telecine)
SHIFTED_RATIO = 0.25
#: ... except in a stream flagged interlaced where idet finds combing in at least this share of the
#: classified frames (measured: 1.0 for interlaced pans, tickers, small objects, 25i and 1080i, where
#: the test still passed in 0.7-1 of the moving frames; 0.15-0.52 for progressive 25p flagged tff)
FLAGGED_COMBED_SHARE = 0.9


#: the slowest slow motion (--slowmo): 100 x 25 fps is a 2500 fps camera
MAX_SLOWMO = 100
#: the most output frames made between two source frames (--fps x --slowmo / the source's rate)
MAX_FRAMES_BETWEEN = 1000


def parse_slowmo(value) -> Fraction | None:
    """``--slowmo`` as an exact rational in 1..:data:`MAX_SLOWMO` (``2``, ``2.5``, ``10/3``); None
    when not given."""
    if value is None or value == "":
        return None
    try:
        x = Fraction(str(value).strip())
    except (ValueError, ZeroDivisionError, OverflowError):
        raise FilmrtError(f"--slowmo {value!r}: give a number >= 1 (2, 2.5, 10/3)") from None
    if x < 1:
        raise FilmrtError(f"--slowmo {value}: must be >= 1 (1 = normal speed)")
    if x > MAX_SLOWMO:
        raise FilmrtError(f"--slowmo {value}: at most {MAX_SLOWMO}")
    return x


def check_output_rate(fps_in: Fraction | None, fps_out: Fraction, slowmo: Fraction | None) -> None:
    """Refuse, before decoding, a rate that makes more than :data:`MAX_FRAMES_BETWEEN` frames
    between two source frames (the scheduler lists them per source frame)."""
    if not fps_in:
        return
    between = Fraction(fps_out) * (slowmo or 1) / Fraction(fps_in)
    if between > MAX_FRAMES_BETWEEN:
        raise FilmrtError(f"--fps {float(fps_out):g} with --slowmo {slowmo or 1} makes {float(between):.0f} frames "
                          f"between two source frames ({float(fps_in):g} fps): at most {MAX_FRAMES_BETWEEN}")


def check_temporal_options(o) -> None:
    """Checks of ConvertOptions' temporal fields that the choices do not already make."""
    parse_slowmo(o.slowmo)
    if o.audio == "stretch" and parse_slowmo(o.slowmo) is None:
        raise FilmrtError("--audio stretch goes with --slowmo (at normal speed the audio is copied)")


def choose_down(down: str, spec: ModelSpec, mode: str) -> tuple[str, str]:
    """The down-conversion policy (``interp`` | ``nearest``) and one line saying what it does."""
    if down == "auto":
        down = "interp" if spec.time_conditioned else "nearest"
    if down == "nearest":
        return down, "rates below the source take the nearest source frame (frames dropped)"
    if mode == "recursive":
        return down, ("rates below the source are interpolated by recursive midpoints: each output time "
                      "is rounded to the nearest multiple of 1/2**max-depth between its two source frames")
    return down, "rates below the source are interpolated at each output frame's exact time"


@dataclass
class TemporalReport:
    """What was detected about the input's temporal structure and what was done (in the JSON)."""

    #: stream field order ("progressive", "tt", "bb", "tb", "bt", "unknown")
    field_order: str = "unknown"
    #: analysed frames flagged interlaced by the decoder (PyAV does not expose their field order)
    flagged_interlaced: int = 0
    #: idet verdicts over the analysed frames
    idet: dict = field(default_factory=dict)
    #: idet verdicts after fieldmatch, when the frames comb without repeated fields (2:2 test)
    idet_matched: dict = field(default_factory=dict)
    #: the field-instant test: {"moving": frames with motion, "same": those whose fields show one instant}
    field_instants: dict = field(default_factory=dict)
    frames_analysed: int = 0
    #: where the analysed frames start (seconds into the input) when the start held still and the
    #: analysis looked further in (None: at the start, or at --ss)
    analysed_at: float | None = None
    #: "progressive", "interlaced", "telecined" (3:2), "pulldown 2:2" (shifted by a field)
    detected: str = "progressive"
    #: "tff" / "bff" for interlaced input
    field_parity: str | None = None
    #: what was applied, in the vocabulary of ``--deinterlace`` and DecodeRequest.deinterlace:
    #: "off", "bwdif", "yadif", "fieldmatch+decimate", "fieldmatch"
    deinterlace: str = "off"
    #: whether repeated frames are removed: "on" (asked, or a repeat cadence found), "off"
    dedup: str = "off"
    #: the repeat cadence found in the analysed frames, in words (None: none found)
    repeat_cadence: str | None = None
    #: analysed frames that repeat their predecessor (as the cadence test sees them: within the
    #: coder's refinement; the frames dropped pass the strict test too)
    frames_repeated: int = 0
    #: the longest run of frames dedup makes one picture (the cadence's usual hold: 2 on twos, 3 on
    #: threes); a longer run is a held picture, and the frames beyond stay (see :func:`cadence_hold`)
    repeat_hold: int = 2
    duplicates_dropped: int = 0
    down: str = ""
    slowmo: str | None = None
    audio: str = "copy"
    interlace_out: str = "off"
    timecode_in: str | None = None
    timecode_out: str | None = None
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict:
        return asdict(self)


def _idet_verdicts(frames, before=()) -> dict:
    """Run libavfilter's ``idet`` over ``frames`` (PyAV VideoFrames), after the filters ``before``
    ((name, args) pairs), and count its per-frame verdicts."""
    counts = {"tff": 0, "bff": 0, "progressive": 0, "undetermined": 0, "repeated": 0}
    if not frames:
        return counts
    first = frames[0]
    g = av.filter.Graph()
    src = g.add_buffer(width=first.width, height=first.height, format=first.format.name,
                       time_base=first.time_base or Fraction(1, 25))
    last = src
    for name, args in before:
        f = g.add(name, args)
        last.link_to(f)
        last = f
    idet = g.add("idet")
    sink = g.add("buffersink")
    last.link_to(idet)
    idet.link_to(sink)
    g.configure()
    out = []
    for f in frames:
        g.push(f)
        out += pull_all(g)
    g.push(None)
    out += pull_all(g)
    for f in out:
        verdict = f.metadata.get("lavfi.idet.single.current_frame", "undetermined")
        counts[verdict if verdict in counts else "undetermined"] += 1
        counts["repeated"] += f.metadata.get("lavfi.idet.repeated.current_frame", "neither") in ("top", "bottom")
    return counts


def _repeats(frames) -> list[bool]:
    """For each analysed frame (PyAV VideoFrames) after the first: whether it repeats its predecessor
    as far as the cadence is concerned (:func:`cadence_repeats`), judged on the RGB pictures convert
    itself decodes (:func:`frame_to_rgb`), colour included."""
    looks, changes, prev, spec = [], [], None, None
    for f in frames:
        rgb, spec = frame_to_rgb(f, spec, torch.device("cpu"))
        if prev is not None:
            looks_rep, change = cadence_pair(prev, rgb)
            looks.append(looks_rep)
            changes.append(change)
        prev = rgb
    return cadence_repeats(looks, changes)


def _field_fit(bottom: torch.Tensor, top: torch.Tensor) -> torch.Tensor:
    """How well a bottom field fits a top field, per block of 8 field lines x 16 pixels: the mean
    |difference| between the bottom field and the top field interpolated to its lines (bottom line
    i lies halfway between top lines i and i+1). Fields: (H/2, W) float luma in [0, 1]."""
    h = min(bottom.shape[0], top.shape[0] - 1)
    diff = (bottom[:h] - 0.5 * (top[:h] + top[1 : h + 1])).abs()
    return torch.nn.functional.avg_pool2d(diff[None, None], BLOCK, ceil_mode=True)[0, 0]


def field_instants(lumas: list[torch.Tensor]) -> dict:
    """Do the two fields of each frame show one instant (progressive) or two (interlaced)?

    idet judges one frame at a time, by how much its lines zig-zag; fine detail zig-zags too, so a
    progressive picture (a fast pan, a test pattern) can look "combed". Time tells them apart: in a
    progressive frame the bottom field is the same picture as the top field, one line lower, and
    where the picture moves it fits far better than the top field of the frame before or after. In
    an interlaced frame the bottom field was taken half a frame after (tff) or before (bff) the top
    field: where the picture moves it fits its own top field no better than the neighbour's on its
    other side. The test looks only at the blocks that move (a neighbour's top field fits clearly
    worse than the frame's own there); a frame with fewer than 4 such blocks says nothing.
    ``lumas``: the analysed frames' (H, W) float luma. Returns {"moving": frames, "same": frames
    whose moving blocks fit their own top field :data:`SAME_INSTANT_RATIO` times better, "ratio":
    the median over the moving frames of how many times better (0 when none moves), "nearer":
    whose top field the bottom fields fit better, mostly: the "next" frame's or the "prev" one's}.
    """
    moving = same = later = 0
    ratios: list[float] = []
    tops = [y[0::2] for y in lumas]
    for n in range(1, len(lumas) - 1):
        if not lumas[n - 1].shape == lumas[n].shape == lumas[n + 1].shape:
            continue  # a size change: the pictures cannot be compared line by line
        bottom = lumas[n][1::2]
        own, prev, nxt = (_field_fit(bottom, tops[k]) for k in (n, n - 1, n + 1))
        moves = torch.maximum(prev, nxt) > SAME_INSTANT_RATIO * own + 2 / 255  # above coding noise
        if int(moves.sum()) < 4:
            continue
        moving += 1
        o, other = float(own[moves].mean()), float(torch.minimum(prev[moves].mean(), nxt[moves].mean()))
        later += bool(nxt[moves].mean() < prev[moves].mean())
        same += SAME_INSTANT_RATIO * o < other
        ratios.append(other / o if o > 0 else math.inf)
    ratio = float(np.median(ratios)) if ratios else 0.0
    return {"moving": moving, "same": same, "ratio": round(ratio, 2) if math.isfinite(ratio) else 999.0,
            "nearer": "next" if later * 2 > moving else "prev"}


def _one_instant(rep: TemporalReport) -> bool:
    """The field-instant test passed: the frames that move are progressive pictures."""
    m, s = rep.field_instants.get("moving", 0), rep.field_instants.get("same", 0)
    return m >= SAME_INSTANT_MIN and s >= SAME_INSTANT_SHARE * m and rep.field_instants.get("ratio", 0) >= SAME_INSTANT_MEDIAN


def _window(c, vs, at: float | None, frames: int) -> list:
    """Up to ``frames`` decoded frames of ``vs`` from ``at`` seconds on (decoded from the keyframe
    before it; from the start when None). A container that cannot seek gives what it gives from
    where it is."""
    if at:
        try:
            c.seek(int(at * 1_000_000), backward=True)
        except av.error.FFmpegError:
            pass
    got = []
    for f in c.decode(vs):
        if at and not got and f.time is not None and f.time < at - 0.5 / float(vs.guessed_rate or 25):
            continue  # decoded from the keyframe on, to reach ``at``
        got.append(f)
        if len(got) >= frames:
            break
    return got


def _lumas(frames) -> list[torch.Tensor]:
    """The frames' (H, W) float luma in [0, 1]."""
    return [torch.from_numpy(f.to_ndarray(format="gray").astype(np.float32) / 255) for f in frames]


def _moving_frames(lumas: list[torch.Tensor]) -> int:
    """Frames that differ from their predecessor, above coding noise, in at least 4 blocks of
    :data:`BLOCK`: what idet, the field-instant test and the repeat cadence need to see anything."""
    n = 0
    for a, b in zip(lumas, lumas[1:], strict=False):
        if a.shape == b.shape:
            diff = torch.nn.functional.avg_pool2d((b - a).abs()[None, None], BLOCK, ceil_mode=True)
            n += int((diff > 2 / 255).sum()) >= 4
    return n


def _later_windows(c, ss: float | None) -> list[float]:
    """Where to look when the start holds still: a quarter, half and three quarters into the
    part converted (seconds; none when the container does not say how long it is)."""
    start = float(ss or 0)
    span = c.duration / 1_000_000 - start if c.duration else 0
    return [start + span * k / 4 for k in (1, 2, 3)] if span > 0 else []


def analyse(src, *, ss: float | None = None, frames: int = ANALYSE_FRAMES) -> TemporalReport:
    """Look at the first ``frames`` frames of ``src`` (a path): flags, field order, idet verdicts.

    Does not decide anything (see :func:`decide`). A pipe (``-``) cannot be read twice: the report
    then says so and the input is taken as progressive.
    """
    rep = TemporalReport()
    if src in ("-", None) or is_stream_target(src):
        # a pipe or FIFO is read once, by the conversion itself
        rep.notes.append("a pipe is not analysed for interlacing/cadence: taken as progressive")
        return rep
    with av.open(str(src), metadata_errors="ignore") as c:
        vs = main_video(c.streams)  # the stream the conversion converts (not a thumbnail track)
        rep.field_order = field_order(vs)
        got = _window(c, vs, ss, frames)
        lumas = _lumas(got)
        if _moving_frames(lumas) < SAME_INSTANT_MIN:
            # a still start (black, bars, a slate: broadcast masters open with them) says nothing
            # about fields or cadence: judge the programme further in
            for at in _later_windows(c, ss):
                later = _window(c, vs, at, frames)
                later_lumas = _lumas(later)
                if len(later) > 2 and _moving_frames(later_lumas) >= SAME_INSTANT_MIN:
                    rep.notes.append(f"the first {len(got)} frames hold still: interlacing and cadence "
                                     f"judged on {len(later)} frames from {at:.2f} s")
                    rep.analysed_at, got, lumas = at, later, later_lumas
                    break
    rep.frames_analysed = len(got)
    repeats = _repeats(got)
    rep.frames_repeated = sum(repeats)
    rep.repeat_cadence = repeat_cadence(repeats)
    rep.repeat_hold = cadence_hold(repeats)
    rep.flagged_interlaced = sum(bool(getattr(f, "interlaced_frame", False)) for f in got)
    rep.idet = _idet_verdicts(got)
    rep.field_instants = field_instants(lumas)
    combed = rep.idet["tff"] + rep.idet["bff"]
    if combed * 2 >= len(got) and rep.idet["repeated"] * 10 < len(got):
        # combing without repeated fields: interlaced video, or 2:2 pulldown shifted by a field.
        # Re-pairing the fields (fieldmatch) removes the combing of the latter only.
        parity = "tff" if rep.idet["tff"] >= rep.idet["bff"] else "bff"
        rep.idet_matched = _idet_verdicts(got, [("fieldmatch", f"order={parity}:combmatch=none")])
    return rep


def _cadence_32(rep: TemporalReport) -> bool:
    """A field repeated (same as the one two fields before) in 2 frames of every 5: 3:2 pulldown."""
    n = rep.frames_analysed
    return n >= 10 and abs(rep.idet.get("repeated", 0) / n - 0.4) <= 0.1


def _cadence_22(rep: TemporalReport) -> bool:
    """Combed frames that stop combing once their fields are re-paired (2:2 pulldown, shifted), or
    whose bottom field is a neighbour's picture: it fits a neighbouring frame's top field
    1 / :data:`SHIFTED_RATIO` times better than its own (the field-instant test's median)."""
    fi = rep.field_instants
    if fi.get("moving", 0) >= SAME_INSTANT_MIN and fi.get("ratio", 1) <= SHIFTED_RATIO:
        return True
    if not rep.idet_matched:
        return False
    after = rep.idet_matched.get("tff", 0) + rep.idet_matched.get("bff", 0)
    return rep.frames_analysed >= 10 and after <= MATCHED_COMBED_SHARE * rep.frames_analysed


def decide(rep: TemporalReport, options) -> TemporalReport:
    """Fill in what is done with the input (``options``: ConvertOptions); the reason goes into notes."""
    combed = rep.idet.get("tff", 0) + rep.idet.get("bff", 0)
    classified = combed + rep.idet.get("progressive", 0)
    flagged = rep.flagged_interlaced > rep.frames_analysed // 2 or rep.field_order in ("tt", "bb", "tb", "bt")
    combing = classified > 0 and combed / classified >= INTERLACED_SHARE
    weak = combing and not flagged and combed < UNFLAGGED_COMBED_SHARE * max(rep.frames_analysed, 1)
    if weak:  # flags say progressive and idet is mostly undecided: the flags win (said once)
        combing = False
        rep.notes.append(f"idet found combing in only {combed} of {rep.frames_analysed} frames of a stream "
                         "flagged progressive: treated as progressive (--deinterlace bwdif forces it)")
    if combing and flagged and combed >= FLAGGED_COMBED_SHARE * classified and _one_instant(rep):
        # flags and idet agree on (nearly) every frame: the field-instant test alone does not
        # overrule both (it passes on real interlaced video too: a slow pan of 1 px per field, a
        # vertical pan)
        fi = rep.field_instants
        rep.notes.append(f"flagged interlaced and idet found combing in {combed} of {rep.frames_analysed} frames: "
                         f"deinterlaced, although in {fi['same']} of {fi['moving']} moving frames the fields fit "
                         "one instant (--deinterlace off keeps the frames as they are)")
    elif combing and _one_instant(rep):  # the pictures' timing outweighs idet's line test
        combing = False
        fi = rep.field_instants
        rep.notes.append(f"idet found combing in {combed} of {rep.frames_analysed} frames, but in {fi['same']} of "
                         f"{fi['moving']} moving frames both fields show one instant: progressive, not "
                         "deinterlaced (--deinterlace bwdif forces it)")
    if options.ivtc == "auto" and _cadence_32(rep):
        rep.detected = "telecined"
    elif options.ivtc == "auto" and combing and _cadence_22(rep):
        rep.detected = "pulldown 2:2"
    elif combing:
        rep.detected = "interlaced"
    # the field order: the user's, else idet's clear majority (what the pictures show), else the
    # stream's field order, else top field first (the HD default)
    tff, bff = rep.idet.get("tff", 0), rep.idet.get("bff", 0)
    if options.field_order != "auto":
        rep.field_parity = options.field_order
    elif max(tff, bff) >= 3 * min(tff, bff) + 2:
        rep.field_parity = "tff" if tff > bff else "bff"
    elif rep.field_order in ("bb", "tb"):
        rep.field_parity = "bff"
    elif combed or flagged:
        rep.field_parity = "tff"
    verdicts = ", ".join(f"{k} {v}" for k, v in rep.idet.items() if v and k != "repeated")
    if options.deinterlace in ("bwdif", "yadif"):
        rep.deinterlace = options.deinterlace
        rep.field_parity = rep.field_parity or "tff"
        rep.notes.append(f"deinterlacing with {options.deinterlace} ({rep.field_parity}) as asked, at field rate")
    elif rep.detected == "telecined":
        rep.deinterlace = "fieldmatch+decimate"
        rep.field_parity = rep.field_parity or "tff"
        rep.notes.append(f"3:2 pulldown detected (a repeated field in {rep.idet['repeated']} of "
                         f"{rep.frames_analysed} frames): fieldmatch+decimate recover the film frames")
    elif rep.detected == "pulldown 2:2":
        rep.deinterlace = "fieldmatch"
        fi = rep.field_instants
        after = rep.idet_matched.get("tff", 0) + rep.idet_matched.get("bff", 0)
        rep.notes.append(f"2:2 pulldown shifted by a field (idet {verdicts} -> {after} combed once fields are "
                         f"re-paired; each bottom field fits the {fi.get('nearer', 'next')} frame's top field, "
                         f"{fi.get('ratio', 0)}x its own): fieldmatch restores the progressive frames")
    elif rep.detected == "interlaced" and options.deinterlace == "auto":
        rep.deinterlace = "bwdif"
        rep.notes.append(f"interlaced input ({rep.field_parity}; idet: {verdicts}): bwdif at field rate")
    elif rep.detected == "interlaced":
        rep.notes.append(f"interlaced input ({rep.field_parity}; idet: {verdicts}) left as is (--deinterlace off)")
    elif flagged:
        rep.notes.append(f"flagged interlaced ({rep.field_parity or rep.field_order}) but no combing found "
                         f"(idet: {verdicts or 'nothing classified'}): treated as progressive, not deinterlaced")
    if rep.deinterlace == "off":
        rep.field_parity = rep.field_parity if rep.detected == "interlaced" else None
    _decide_dedup(rep, options.dedup)
    return rep


def _decide_dedup(rep: TemporalReport, dedup: str) -> None:
    """``--dedup auto`` removes repeats only where the analysed frames show a repeat cadence."""
    if dedup != "auto":
        rep.dedup = "off"
    elif rep.repeat_cadence:
        rep.dedup = "on"
        rep.notes.append(f"repeat cadence found ({rep.repeat_cadence}; {rep.frames_repeated} of "
                         f"{rep.frames_analysed} analysed frames repeat): repeated frames removed, each picture "
                         "held for its run (--dedup off keeps them)")
    else:
        rep.dedup = "off"


def audio_policy(options) -> str:
    """What convert does with the audio streams: "copy", "drop" or "stretch" (``--audio``; with
    ``--slowmo``, copied audio cannot stay in sync, so ``auto`` and ``copy`` drop it)."""
    if parse_slowmo(options.slowmo) is None:
        return "drop" if options.audio == "drop" else "copy"
    return {"auto": "drop", "copy": "drop"}.get(options.audio, options.audio)


def plan(src, options, spec: ModelSpec, mode: str, *, analyse_input: bool = True,
         has_audio: bool = True) -> TemporalReport:
    """Everything convert decides about time, before decoding: analysis of the input (unless the
    options switch every detection off), deinterlacing/cadence, dedup, down-conversion, slow
    motion and audio, interlaced output. ``options``: ConvertOptions; ``has_audio``: whether the
    input has a sound track at all (no "audio dropped" note for a file without one)."""
    detect = options.deinterlace != "off" or options.ivtc == "auto" or options.dedup == "auto"
    rep = TemporalReport()
    if analyse_input and detect:
        try:
            rep = analyse(src, ss=options.ss)
        except (av.error.FFmpegError, OSError, IndexError) as e:  # damaged start: the decoder reports it
            rep.notes.append(f"interlacing/cadence not analysed ({type(e).__name__}): taken as progressive")
    rep = decide(rep, options)
    rep.down, note = choose_down(options.down, spec, mode)
    if options.down != "auto" or mode == "recursive":
        rep.notes.append(note)
    factor = parse_slowmo(options.slowmo)
    rep.audio = audio_policy(options)
    if factor is not None:
        rep.slowmo = str(factor)
        if has_audio and options.audio == "copy":
            rep.notes.append("--audio copy cannot stay in sync with --slowmo: audio dropped (use --audio stretch)")
        elif has_audio and rep.audio == "drop":
            rep.notes.append(f"slow motion x{factor}: audio dropped (--audio stretch keeps it, pitch kept)")
        if rep.audio == "stretch" and has_audio:
            rep.notes.append(f"slow motion x{factor}: audio slowed with atempo (pitch kept), re-encoded (AAC; Opus in WebM)")
    rep.interlace_out = options.interlace
    return rep

"""``filmrt eval-video`` and THE drop-every-other-frame quality protocol.

The protocol (:func:`score_dropped_frames`), a quality check anyone can reproduce on a real clip:
drop every other frame of a clip (e.g. 25 fps -> 12.5 fps), rebuild each dropped frame from its
two neighbours, and score it against the original (PSNR, SSIM). Frames come from the pipeline's
own decoder (:class:`filmrt.pipeline.io.decode.PyAVSource`, the stated colour conversion), never
re-encoded: the score is the method's, not the codec's. Pairs with a scene cut between them (the
detector of :mod:`filmrt.pipeline.time.scenes`) are skipped: nothing can be interpolated across a cut.

Several methods are scored on the same frames in one pass: ``eval-video`` scores the model next
to naive blending ``(a + b) / 2``. A method is a :data:`PredictFn`. Metrics are
:mod:`filmrt.quality` on the prediction rounded to uint8 (PSNR with peak 1.0, SSIM with Gaussian sigma 1.5, flicker = brightness/colour gap of the
rebuilt frame against its two neighbours in 8-bit code values), averaged over the scored frames.
Outputs of other tools are scored by ``filmrt score`` (:mod:`filmrt.pipeline.score`), frames matched
by time (``filmrt bench --peers`` scores every peer that way).
Streaming: memory holds three frames plus one batch, whatever the clip's length.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import torch

from filmrt.engine import open_interpolator
from filmrt.errors import FilmrtError
from filmrt.imageio import to_uint8
from filmrt.interpolator import Interpolator
from filmrt.options import RuntimeOptions
from filmrt.pipeline.io.decode import DecodedFrame, PyAVSource
from filmrt.pipeline.report_html import WorstFrames
from filmrt.pipeline.score import SequenceTrack
from filmrt.pipeline.time.scenes import DEFAULT_THRESHOLD, SceneDetector
from filmrt.quality import flicker, psnr, ssim, to_unit
from filmrt.vmaf import MODEL, is_rgb_format, require_ffmpeg

#: a method of the protocol: ``predict(a, b, dropped) -> (N, 3, H, W)`` float RGB in [0, 1].
#: ``a``, ``b``: (N, 3, H, W) float RGB in [0, 1], the frames before and after the dropped ones (on
#: the decoder's device); ``dropped``: the N dropped frames' positions in the decoded range (odd).
PredictFn = Callable[[torch.Tensor, torch.Tensor, Sequence[int]], torch.Tensor]

PROTOCOL = (
    "drop every other frame; interpolate it at t=0.5 from its neighbours; prediction rounded to uint8; "
    "PSNR (peak 1.0) and SSIM (skimage, Gaussian sigma 1.5) vs the original; mean over scored frames; "
    "pairs across a scene cut skipped"
)


@dataclass
class MethodScores:
    """One method's scores, per rebuilt frame in order, and the seconds its predictions took."""

    psnr: list[float] = field(default_factory=list)
    ssim: list[float] = field(default_factory=list)
    #: brightness/colour gap of each rebuilt frame against its neighbours (8-bit code values)
    flicker: list[float] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def mean_psnr(self) -> float:
        return float(np.mean(self.psnr))

    @property
    def mean_ssim(self) -> float:
        return float(np.mean(self.ssim))

    @property
    def mean_flicker(self) -> float:
        return float(np.mean(self.flicker))


@dataclass
class DropFrameScores:
    methods: dict[str, MethodScores]
    frames_decoded: int = 0
    pairs_skipped_cut: int = 0
    #: position of each rebuilt frame in the decoded range, in scoring order
    positions: list[int] = field(default_factory=list)

    @property
    def frames_scored(self) -> int:
        return min((len(m.psnr) for m in self.methods.values()), default=0)


def blend_predictor(a: torch.Tensor, b: torch.Tensor, dropped: Sequence[int]) -> torch.Tensor:
    """Naive blending, the baseline every method must beat."""
    return 0.5 * (a + b)


def interpolator_predictor(interp: Interpolator) -> PredictFn:
    """The model at t = 0.5; frames keyed by position so a staged model (FILM) reuses their features."""

    def predict(a: torch.Tensor, b: torch.Tensor, dropped: Sequence[int]) -> torch.Tensor:
        return interp.interpolate(a, b, [0.5] * len(dropped), keys_a=[k - 1 for k in dropped],
                                  keys_b=[k + 1 for k in dropped])

    return predict


def score_dropped_frames(
    frames: Iterable[DecodedFrame],
    predictors: Mapping[str, PredictFn],
    *,
    batch: int = 4,
    scene_threshold: float = DEFAULT_THRESHOLD,
    on_scored: Callable[[int], None] | None = None,
    worst: WorstFrames | None = None,
    tracks: Mapping[str, SequenceTrack] | None = None,
) -> DropFrameScores:
    """Run the protocol on decoded ``frames`` (positions 0, 1, 2, ... of a range) for every method.

    Each odd frame is rebuilt from its even neighbours by every predictor, ``batch`` frames per
    call; ``on_scored(n)`` is called with the number of frames scored so far. ``worst`` (for
    ``--report``) keeps the pictures of the first method's frames with the lowest PSNR.
    ``tracks`` (method name -> :class:`~filmrt.pipeline.score.SequenceTrack`): each is fed the
    method's output sequence in display order (the kept frames and its rebuilt ones; a frame
    skipped at a cut is a gap), for VMAF, judder and motion error as ``filmrt score`` measures them.
    """
    scores = DropFrameScores({name: MethodScores() for name in predictors})
    det = SceneDetector(scene_threshold)
    pending: list[tuple[int, torch.Tensor, torch.Tensor, torch.Tensor]] = []  # (position, a, truth, b)
    order = _InOrder(tracks or {})

    def flush() -> None:
        if not pending:
            return
        a = torch.stack([p[1] for p in pending])
        b = torch.stack([p[3] for p in pending])
        dropped = [p[0] for p in pending]
        truths = [to_unit(p[2]) for p in pending]
        sides = [(to_uint8(p[1]), to_uint8(p[3])) for p in pending]
        scores.positions.extend(dropped)
        for m, (name, predict) in enumerate(predictors.items()):
            t0 = time.perf_counter()
            pred = predict(a, b, dropped).cpu()  # on the CPU inside the clock: a GPU's work is counted
            ms = scores.methods[name]
            ms.seconds += time.perf_counter() - t0
            for img, truth, (ua, ub), pos in zip(pred, truths, sides, dropped, strict=True):
                rounded = to_uint8(img)
                order.predicted(name, pos, rounded)
                ms.psnr.append(psnr(rounded, truth))
                ms.ssim.append(ssim(rounded, truth))
                ms.flicker.append(flicker(ua, rounded, ub))
                if worst is not None and m == 0:
                    worst.offer(ms.psnr[-1], f"frame {pos}", lambda t=truth, r=rounded, a=ua, b=ub: _panels(a, t, r, b))
        pending.clear()
        order.drain()
        if on_scored is not None:
            on_scored(scores.frames_scored)

    prev2 = prev1 = None  # (position, rgb, cut_before) of the two frames before this one
    for f in frames:
        cut = det.update(f.thumb)  # every frame: a cut into frame 1 is found too
        scores.frames_decoded += 1
        # an even frame closes a triple (even, odd, even): score the odd one from its neighbours
        if f.index % 2 == 0 and prev2 is not None:
            _, fa, _ = prev2
            ig, gt, cut1 = prev1
            if cut1 or cut:
                scores.pairs_skipped_cut += 1
                order.frame(ig, gt, cut1, rebuilt=False)
            else:
                order.frame(ig, gt, cut1, rebuilt=True)
                pending.append((ig, fa, gt, f.rgb))
        if f.index % 2 == 0:
            order.frame(f.index, f.rgb, cut, rebuilt=False, kept=True)
            if len(pending) >= max(1, batch):
                flush()
        prev2, prev1 = prev1, (f.index, f.rgb, cut)
    flush()
    return scores


class _InOrder:
    """Feeds the sequence tracks every frame in display order: a kept frame as itself, a rebuilt one
    as each method's prediction once its batch has run (frames wait here until then: at most a
    batch's worth), a frame skipped at a cut as a gap."""

    def __init__(self, tracks: Mapping[str, SequenceTrack]):
        self.tracks = tracks
        self.queue: list[list] = []  # [position, truth (H, W, 3) uint8, cut before, {method: picture} | None]

    def frame(self, pos: int, rgb: torch.Tensor, cut: bool, *, rebuilt: bool, kept: bool = False) -> None:
        if not self.tracks:
            return
        truth = to_uint8(rgb)
        self.queue.append([pos, truth, cut, {} if rebuilt else ({n: truth for n in self.tracks} if kept else None)])
        self.drain()

    def predicted(self, name: str, pos: int, picture: np.ndarray) -> None:
        for item in self.queue:
            if item[0] == pos and name in self.tracks:
                item[3][name] = picture

    def drain(self) -> None:
        while self.queue and (self.queue[0][3] is None or len(self.queue[0][3]) == len(self.tracks)):
            pos, truth, cut, pics = self.queue.pop(0)
            for name, track in self.tracks.items():
                if pics is None:
                    track.gap(pos, truth)
                else:
                    track.add(pos, truth, pics[name], cut)


def _panels(a: np.ndarray, truth, ours: np.ndarray, b: np.ndarray) -> dict[str, np.ndarray]:
    """The pictures of a worst frame: the previous kept frame, the truth, ours, the blend."""
    blend = np.round((a.astype(np.float32) + b) / 2).astype(np.uint8)
    return {"previous": a, "truth": np.round(np.asarray(truth) * 255).astype(np.uint8), "ours": ours, "blend": blend}


def eval_video(
    src,
    runtime: RuntimeOptions | None = None,
    *,
    ss: float | None = None,
    t: float | None = None,
    scene_threshold: float = DEFAULT_THRESHOLD,
    interpolator: Interpolator | None = None,
    on_progress: Callable[[int, int | None], None] | None = None,
    worst: WorstFrames | None = None,
    vmaf: bool = False,
) -> dict:
    """Score a model on ``src`` next to blending; a dict: model, psnr, ssim, blend_psnr, blend_ssim,
    frames_scored, ... (see the module docstring).

    The model is ``interpolator`` (not closed here) or opened from ``runtime`` (default: the
    default model on the CPU); ``runtime.max_batch`` frames go to the model per call.
    ``on_progress(scored, total)``: frames scored so far and the expected total (None if unknown).
    ``worst``: keeps the model's worst frames for ``--report``; the per-frame scores are under
    ``per_frame``. ``vmaf``: also VMAF (libvmaf, :mod:`filmrt.vmaf`, as ``filmrt score --vmaf``).
    Judder and motion error of each method's output sequence (kept frames and rebuilt ones) are
    measured as ``filmrt score`` measures them (:class:`~filmrt.pipeline.score.SequenceTrack`).
    """
    t0 = time.perf_counter()
    if vmaf:
        require_ffmpeg()  # before the model is opened
    own = interpolator is None
    interp = interpolator if interpolator is not None else open_interpolator(runtime or RuntimeOptions())
    try:
        source = PyAVSource(src, ss=ss, t=t, device=interp.device)
        total = source.info.frames // 2 if source.info.frames else None
        tracks: dict[str, SequenceTrack] = {}
        try:
            for name in ("model", "blend"):
                tracks[name] = SequenceTrack(source.info.width, source.info.height, source.info.colour, vmaf=vmaf,
                                             rgb_source=is_rgb_format(source.info.pix_fmt))
            scores = score_dropped_frames(
                source.frames(), {"model": interpolator_predictor(interp), "blend": blend_predictor},
                batch=interp.max_batch, scene_threshold=scene_threshold,
                on_scored=None if on_progress is None else (lambda n: on_progress(n, total)), worst=worst,
                tracks=tracks,
            )
            seq = {name: (tr.judder(), tr.vmaf_by_index()) for name, tr in tracks.items()}
        finally:
            source.close()
            for tr in tracks.values():
                tr.close()
    finally:
        if own:
            interp.close()
    if scores.frames_scored == 0:
        raise FilmrtError(f"{src}: not enough frames to score (need 3 or more without a scene cut; "
                          f"got {scores.frames_decoded})")
    info = source.info
    model, blend = scores.methods["model"], scores.methods["blend"]
    positions = scores.positions[: scores.frames_scored]
    vm = {name: [v[p] for p in positions] if vmaf else None for name, (_, v) in seq.items()}
    return {
        "clip": str(src),
        "model": interp.model_name,
        "backend": interp.backend,
        "device": str(interp.device),
        "width": info.width,
        "height": info.height,
        "fps_in": str(info.rate) if info.rate else None,
        "ss": ss,
        "t": t,
        "frames_decoded": scores.frames_decoded,
        "frames_scored": scores.frames_scored,
        "pairs_skipped_cut": scores.pairs_skipped_cut,
        "psnr": model.mean_psnr,
        "ssim": model.mean_ssim,
        "blend_psnr": blend.mean_psnr,
        "blend_ssim": blend.mean_ssim,
        "flicker": model.mean_flicker,
        "blend_flicker": blend.mean_flicker,
        "vmaf": float(np.mean(vm["model"])) if vmaf else None,
        "blend_vmaf": float(np.mean(vm["blend"])) if vmaf else None,
        "vmaf_model": MODEL if vmaf else None,
        # the output sequences (kept + rebuilt frames): judder of each, next to the clip's own
        "judder": seq["model"][0],
        "blend_judder": seq["blend"][0],
        "protocol": PROTOCOL,
        "per_frame": {"position": positions, "psnr": model.psnr,
                      "blend_psnr": blend.psnr, "flicker": model.flicker, "blend_flicker": blend.flicker,
                      **({"vmaf": vm["model"], "blend_vmaf": vm["blend"]} if vmaf else {})},
        "seconds": time.perf_counter() - t0,
    }

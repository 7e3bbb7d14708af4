"""Quality evaluation on frame-interpolation test sets: predict the middle frame, score it.

A test set is a folder of triplets: two input frames and the real frame between them (the ground
truth). Two layouts are recognised, by file names, one triplet per sub-folder:

- ``middlebury``: ``<scene>/frame10.png, frame11.png`` (inputs), ``frame10i11.png`` (truth);
  the 12 Middlebury "other" scenes with public ground truth.
- ``ucf101-dvf``: ``<id>/frame_00.png, frame_02.png`` (inputs), ``frame_01_gt.png`` (truth);
  the 379 UCF101 triplets of the DVF protocol.

A folder that holds several such sets (e.g. ``shared/data/vfi`` with ``middlebury-other/`` and
``ucf101-dvf/``) is evaluated set by set.

Protocol (the one RIFE, FILM and most papers report; batch 1, t = 0.5):

1. read the frames as RGB in [0, 1] (float32);
2. predict the middle frame through :func:`filmrt.engine.open_interpolator`; the interpolator pads
   to a multiple of 64 with the model's own placement (RIFE: zeros at the right/bottom, like the
   reference; FILM: centred) and crops back;
3. round the prediction to uint8 (what a saved frame would hold), back to [0, 1];
4. PSNR with peak 1.0: ``-10 log10(mean((pred - gt)^2))`` over all pixels and channels, in float64
   (:func:`filmrt.quality.psnr`, the metric of every filmrt command);
5. SSIM: :func:`filmrt.quality.ssim`, i.e. :func:`skimage.metrics.structural_similarity` with the
   settings of Wang et al. (2004): Gaussian weights with sigma 1.5 (11x11 window), population
   statistics (``use_sample_covariance=False``), ``data_range=1.0``, K1 = 0.01, K2 = 0.03, computed
   per RGB channel and averaged;
6. per set, the mean over examples of each metric;
7. VMAF (``filmrt eval --vmaf``): libvmaf (:mod:`filmrt.vmaf`, model vmaf_v0.6.1, the engine of
   ``filmrt score --vmaf``) on the rounded prediction against the truth, both as RGB (FFmpeg
   makes their Y' as of the set's RGB files: BT.601, limited range), each triplet
   alone (one frame: the motion feature is 0, as on any first frame; a sequence across unrelated
   examples would invent motion). The score function is handed in by the caller
   (:data:`VmafFn`), which picks the luma conversion.

Units: PSNR in dB, SSIM in [0, 1] (unitless). Identical images would have infinite PSNR; the MSE is
floored at 1e-10, so they score 100 dB.

A triplet that cannot be scored (unreadable file, frames of different sizes, a missing frame) is
reported as skipped with the reason and its path; the other triplets are still scored.
"""

from __future__ import annotations

import platform
import re
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import skimage
import torch
from tqdm import tqdm

from filmrt import machine
from filmrt.errors import FilmrtError
from filmrt.imageio import read_image, to_uint8
from filmrt.quality import flicker, psnr, ssim

#: layout name -> (first frame, second frame, ground-truth middle frame)
LAYOUTS: dict[str, tuple[str, str, str]] = {
    "middlebury": ("frame10.png", "frame11.png", "frame10i11.png"),
    "ucf101-dvf": ("frame_00.png", "frame_02.png", "frame_01_gt.png"),
}
#: the time of the ground-truth frame between the two inputs
T_MID = 0.5
PROTOCOL = (
    "t=0.5, batch 1; frames RGB in [0,1]; model padding (RIFE: end, FILM: center) and crop by the "
    "interpolator; prediction clamped and rounded to uint8; PSNR = -10*log10(MSE) with peak 1.0 over "
    "all pixels and channels (float64); SSIM = skimage.metrics.structural_similarity(gaussian_weights="
    "True, sigma=1.5, use_sample_covariance=False, data_range=1.0, channel_axis=-1), i.e. 11x11 "
    "Gaussian window, K1=0.01, K2=0.03, mean over RGB channels; means over examples"
)


# ------------------------------------------------------------------------------------------ sets
@dataclass
class Triplet:
    name: str
    frame0: Path
    frame1: Path
    truth: Path


@dataclass
class EvalSet:
    name: str
    layout: str
    root: Path
    examples: list[Triplet]
    #: (path, reason) of sub-folders that look like examples but cannot be used (e.g. a missing frame)
    incomplete: list[tuple[str, str]] = field(default_factory=list)


def _natural_key(s: str):
    return [int(p) if p.isdigit() else p for p in re.split(r"(\d+)", s)]


def _detect_layout(root: Path) -> tuple[str, int] | None:
    """The layout most sub-folders of ``root`` follow (by complete triplets), or None."""
    best = None
    subs = [d for d in root.iterdir() if d.is_dir()]
    for layout, files in LAYOUTS.items():
        complete = sum(all((d / f).is_file() for f in files) for d in subs)
        if complete and (best is None or complete > best[1]):
            best = (layout, complete)
    return best


def _load_set(root: Path, layout: str) -> EvalSet:
    files = LAYOUTS[layout]
    examples, incomplete = [], []
    for d in sorted((d for d in root.iterdir() if d.is_dir()), key=lambda d: _natural_key(d.name)):
        present = [(d / f).is_file() for f in files]
        if all(present):
            examples.append(Triplet(d.name, *(d / f for f in files)))
        elif any(present):
            missing = ", ".join(f for f, ok in zip(files, present, strict=True) if not ok)
            incomplete.append((str(d), f"missing {missing}"))
    return EvalSet(root.name, layout, root, examples, incomplete)


def find_sets(directory: str | Path) -> list[EvalSet]:
    """The test sets in ``directory``: itself if it is one, else each sub-folder that is one."""
    root = Path(directory).expanduser()
    if not root.is_dir():
        raise FilmrtError(f"dataset directory not found: {root}")
    hit = _detect_layout(root)
    if hit:
        return [_load_set(root, hit[0])]
    sets = []
    for d in sorted((d for d in root.iterdir() if d.is_dir()), key=lambda d: _natural_key(d.name)):
        sub = _detect_layout(d)
        if sub:
            sets.append(_load_set(d, sub[0]))
    if not sets:
        want = "; ".join(f"{layout}: <example>/{', '.join(f)}" for layout, f in LAYOUTS.items())
        raise FilmrtError(
            f"no recognised test-set layout in {root} (nor in its sub-folders); expected one "
            f"sub-folder per triplet with the files of one layout ({want})"
        )
    return sets


# ------------------------------------------------------------------------------------ evaluation
#: VMAF of one picture: ``vmaf(truth, prediction)``, both (H, W, 3) uint8
VmafFn = Callable[[np.ndarray, np.ndarray], float]


@dataclass
class ExampleResult:
    name: str
    psnr: float
    ssim: float
    height: int
    width: int
    seconds: float
    #: brightness/colour gap of the prediction against its two input frames (8-bit code values)
    flicker: float = 0.0
    #: VMAF of the prediction (``--vmaf``), else None
    vmaf: float | None = None


@dataclass
class SetResult:
    name: str
    layout: str
    path: str
    examples: list[ExampleResult]
    #: [{"name", "path", "reason"}]
    skipped: list[dict]

    @property
    def count(self) -> int:
        return len(self.examples)

    @property
    def mean_psnr(self) -> float | None:
        return float(np.mean([e.psnr for e in self.examples])) if self.examples else None

    @property
    def mean_ssim(self) -> float | None:
        return float(np.mean([e.ssim for e in self.examples])) if self.examples else None

    @property
    def mean_flicker(self) -> float | None:
        return float(np.mean([e.flicker for e in self.examples])) if self.examples else None

    @property
    def mean_vmaf(self) -> float | None:
        v = [e.vmaf for e in self.examples if e.vmaf is not None]
        return float(np.mean(v)) if v else None

    def to_dict(self) -> dict:
        return {
            "name": self.name,
            "layout": self.layout,
            "path": self.path,
            "count": self.count,
            "mean_psnr": self.mean_psnr,
            "mean_ssim": self.mean_ssim,
            "mean_flicker": self.mean_flicker,
            "mean_vmaf": self.mean_vmaf,
            "skipped": self.skipped,
            "examples": [asdict(e) for e in self.examples],
        }


def score_prediction(pred: torch.Tensor, truth: torch.Tensor) -> tuple[float, float]:
    """(PSNR, SSIM) of a prediction (3,H,W) float vs truth (3,H,W) float in [0,1]; pred rounded to uint8."""
    p = to_uint8(pred).astype(np.float64) / 255.0
    g = truth.detach().float().cpu().numpy().transpose(1, 2, 0)
    return psnr(p, g), ssim(p, g)


def evaluate_triplet(interp, ex: Triplet, vmaf: VmafFn | None = None) -> ExampleResult:
    """Score one triplet (``vmaf``: also its VMAF); raises FilmrtError (naming the path) when it
    cannot be scored."""
    f0, f1, gt = read_image(ex.frame0), read_image(ex.frame1), read_image(ex.truth)
    shapes = {p: tuple(x.shape[-2:]) for p, x in ((ex.frame0, f0), (ex.frame1, f1), (ex.truth, gt))}
    if len(set(shapes.values())) != 1:
        sizes = ", ".join(f"{p.name} {w}x{h}" for p, (h, w) in shapes.items())
        raise FilmrtError(f"{ex.frame0.parent}: the frames differ in size ({sizes}, WxH)")
    start = time.perf_counter()
    pred = interp.interpolate(f0[None], f1[None], [T_MID])[0]
    seconds = time.perf_counter() - start
    p, s = score_prediction(pred, gt)
    fl = flicker(to_uint8(f0), to_uint8(pred), to_uint8(f1))
    v = vmaf(to_uint8(gt), to_uint8(pred)) if vmaf is not None else None
    return ExampleResult(ex.name, p, s, int(gt.shape[-2]), int(gt.shape[-1]), round(seconds, 4), fl, v)


def evaluate_set(
    interp,
    eval_set: EvalSet,
    *,
    limit: int | None = None,
    progress: bool = True,
    on_skip: Callable[[dict], None] | None = None,
    vmaf: VmafFn | None = None,
) -> SetResult:
    """Evaluate every triplet of ``eval_set`` (the first ``limit`` ones) with a progress bar;
    ``vmaf``: also VMAF of each (step 7 of the protocol)."""
    examples = eval_set.examples[:limit] if limit else eval_set.examples
    skipped = [{"name": Path(p).name, "path": p, "reason": r} for p, r in eval_set.incomplete]
    if on_skip:
        for s in skipped:
            on_skip(s)
    results = []
    bar = tqdm(examples, desc=eval_set.name, unit="ex", disable=not progress, dynamic_ncols=True)
    for ex in bar:
        try:
            r = evaluate_triplet(interp, ex, vmaf)
        except FilmrtError as e:
            s = {"name": ex.name, "path": str(ex.frame0.parent), "reason": str(e)}
            skipped.append(s)
            if on_skip:
                on_skip(s)
            continue
        results.append(r)
        bar.set_postfix(psnr=f"{np.mean([x.psnr for x in results]):.2f}")
    return SetResult(eval_set.name, eval_set.layout, str(eval_set.root), results, skipped)


def environment() -> dict:
    """Versions of the libraries that produce the figures: those ``filmrt bench`` records
    (:func:`filmrt.machine.versions`), and the metrics' own."""
    return {**machine.versions(), "skimage": skimage.__version__, "platform": platform.platform(),
            "cpu_threads": torch.get_num_threads()}

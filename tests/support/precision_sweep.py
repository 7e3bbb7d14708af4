"""RIFE 4.25 on OpenVINO in lower precisions, scored on Middlebury against fp32 (issue 22, item 5).

The rule the numbers feed: a precision is offered (and picked automatically) only where its mean
Middlebury PSNR stays within 0.05 dB of fp32's. This script measures it for

- **int8**: NNCF post-training quantization of the very ONNX graph the openvino backend runs (the
  exported-graph cache), a few variants NNCF offers for accuracy: the ``performance`` preset
  (symmetric), ``mixed`` (asymmetric activations), ``mixed`` with the transposed convolutions (the
  blocks' heads that emit flow and mask, the feature encoder's last layer) left in float, and
  with also the convolutions that see the warped frames (GridSample outputs), the flow and the
  inputs left in float;
- **bf16**: the fp32 graph compiled with ``INFERENCE_PRECISION_HINT=bf16``, only where OpenVINO
  lists ``BF16`` in the CPU's ``OPTIMIZATION_CAPABILITIES`` (AVX512-BF16 or AMX; elsewhere
  OpenVINO would run f32 and the figure would mean nothing).

Calibration never sees the evaluation set: the outer frames of the first UCF101-DVF triplets
(256x256, t = 0.5) and consecutive frame pairs of two real camera clips (``bikes_640x272_25.mp4``,
``city_cc0_720x405_25.mpg``, t = 0.25/0.5/0.75), padded like the backend pads RIFE.

Every arm runs through the same :class:`OpenVinoInterpolator` (padding, crop, the f32 hint for
what stays float); only the ``ov.Model`` it compiles is swapped. Scores: the ``filmrt eval``
protocol (:func:`filmrt.evaluation.evaluate_set`) on all Middlebury scenes. Speed: model-only
calls on padded arrays (one pair, LATENCY hint, compiled beforehand), arms interleaved round by
round in one process, wall and process CPU seconds per pair, at 720p (BBB frames, 1280x768
padded) and at Middlebury size (Urban2, 640x512 padded).

Not a test, and not a filmrt dependency: it needs NNCF (``.venv/bin/python -m pip install nncf``;
3.4.0 was used). About 20 minutes on 2 shared cores (each int8 variant 2-3 min to calibrate)::

    .venv/bin/python tests/support/precision_sweep.py --out bench/results/precision-2026-12-07 \
        --variants int8-performance,int8-mixed,int8-mixed-float-heads,int8-mixed-float-heads-inputs

writes OUT.json and OUT.md. ``--variants all`` adds ``int8-mixed-accuracy-control`` (NNCF's
``quantize_with_accuracy_control``: quantizers go back to float, the most harmful first, until the
PSNR drop on ``--validation`` UCF101-DVF triplets outside the calibration is <= 0.05 dB); it ranks
the quantizers on the validation set: 25 minutes with ``--validation 8`` on 2 shared cores (run
alone: ``--variants int8-mixed-accuracy-control --validation 8 --rounds 0``). ``--render``
writes OUT.md again from OUT.json.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import resource
import sys
import time
from pathlib import Path

import av
import numpy as np
import torch

from filmrt import machine
from filmrt.engine import open_interpolator
from filmrt.evaluation import environment, evaluate_set, find_sets, score_prediction
from filmrt.imageio import read_image
from filmrt.padding import Padding

DATA = Path(__file__).resolve().parents[2] / ".." / "shared" / "data"
MIDDLEBURY = DATA / "vfi" / "middlebury-other"
UCF = DATA / "vfi" / "ucf101-dvf"
CLIPS = {"bikes_640x272_25.mp4": 18, "city_cc0_720x405_25.mpg": 18}  # clip -> pairs taken
BOUND_DB = 0.05


# ------------------------------------------------------------------------------------------ data
def _t(t: float) -> np.ndarray:
    return np.full(1, t, np.float32)


def _rgb(frame) -> torch.Tensor:
    return torch.from_numpy(frame.to_ndarray(format="rgb24")).permute(2, 0, 1).float() / 255


def _pad(x: torch.Tensor, multiple: int) -> np.ndarray:
    h, w = x.shape[-2:]
    return Padding.for_size(h, w, multiple, "end").pad(x[None]).numpy()


def calibration_samples(n_ucf: int, multiple: int) -> tuple[list[dict], list[str]]:
    """Feeds for the calibration: {img0, img1, t} arrays, none from Middlebury; and what they are."""
    samples, used = [], []
    triplets = sorted((d for d in UCF.iterdir() if d.is_dir()), key=lambda d: int(d.name))[:n_ucf]
    for d in triplets:
        a, b = read_image(d / "frame_00.png"), read_image(d / "frame_02.png")
        samples.append({"img0": _pad(a, multiple), "img1": _pad(b, multiple), "t": _t(0.5)})
    used.append(f"ucf101-dvf: the first {len(triplets)} triplets' outer frames (256x256), t=0.5")
    for name, pairs in CLIPS.items():
        with av.open(str(DATA / "clips" / name)) as c:
            frames = []
            for i, f in enumerate(c.decode(video=0)):
                if i % 7 == 0 or i % 7 == 1:  # pairs of consecutive frames, every 7th frame
                    frames.append(_rgb(f))
                if len(frames) >= 2 * pairs:
                    break
        for k in range(0, len(frames) - 1, 2):
            t = (0.25, 0.5, 0.75)[(k // 2) % 3]
            samples.append({"img0": _pad(frames[k], multiple), "img1": _pad(frames[k + 1], multiple),
                            "t": np.full(1, t, np.float32)})
        used.append(f"{name}: {len(frames) // 2} consecutive pairs (frames 7k, 7k+1), t=0.25/0.5/0.75")
    return samples, used


# ------------------------------------------------------------------------------------------ int8
def _walk_back(node, depth: int):
    """Ops feeding ``node`` up to ``depth`` hops back, stopping at convolutions."""
    seen, front = [], [node]
    for _ in range(depth):
        nxt = []
        for n in front:
            for inp in n.inputs():
                src = inp.get_source_output().get_node()
                if src.get_type_name() in ("Convolution", "ConvolutionBackpropData", "Constant"):
                    continue
                seen.append(src)
                nxt.append(src)
        front = nxt
    return seen


def input_convs(model) -> list[str]:
    """Convolutions whose inputs come (through concats, scaling, resizes) from the warped frames
    (GridSample), the flow or the graph inputs, not from another convolution."""
    names = []
    for op in model.get_ops():
        if op.get_type_name() != "Convolution":
            continue
        if any(s.get_type_name() in ("GridSample", "Parameter") for s in _walk_back(op, 8)):
            names.append(op.get_friendly_name())
    return names


def variants(model) -> dict[str, dict]:
    import nncf

    heads = [op.get_friendly_name() for op in model.get_ops()
             if op.get_type_name() == "ConvolutionBackpropData"]
    firsts = input_convs(model)
    return {
        "int8-performance": {"preset": nncf.QuantizationPreset.PERFORMANCE},
        "int8-mixed": {"preset": nncf.QuantizationPreset.MIXED},
        "int8-mixed-float-heads": {"preset": nncf.QuantizationPreset.MIXED,
                                   "ignored_scope": nncf.IgnoredScope(names=heads)},
        "int8-mixed-float-heads-inputs": {"preset": nncf.QuantizationPreset.MIXED,
                                          "ignored_scope": nncf.IgnoredScope(names=heads + firsts)},
        # the resizes too: what accuracy control put back to float first
        "int8-mixed-float-heads-resizes": {"preset": nncf.QuantizationPreset.MIXED,
                                           "ignored_scope": nncf.IgnoredScope(names=heads, types=["Interpolate"])},
        # validation: UCF101-DVF triplets not in the calibration, bound 0.05 dB there
        "int8-mixed-accuracy-control": {"preset": nncf.QuantizationPreset.MIXED, "validation": True},
    }, {"flow_heads": len(heads), "input_convs": len(firsts)}


def validation_samples(start: int, n: int) -> list[dict]:
    """UCF101-DVF triplets after those of the calibration (256x256: no padding), with their truth."""
    triplets = sorted((d for d in UCF.iterdir() if d.is_dir()), key=lambda d: int(d.name))[start : start + n]
    return [{"img0": read_image(d / "frame_00.png")[None].numpy(), "t": _t(0.5),
             "img1": read_image(d / "frame_02.png")[None].numpy(), "truth": read_image(d / "frame_01_gt.png")}
            for d in triplets]


def _validate(compiled, data) -> tuple[float, list[float]]:
    """Mean and per-triplet PSNR (the eval protocol's scorer) of a compiled model on ``data``."""
    scores = []
    for item in data:
        out = compiled({k: item[k] for k in ("img0", "img1", "t")})[compiled.output(0)]
        scores.append(score_prediction(torch.from_numpy(out[0]).clamp(0, 1), item["truth"])[0])
    return float(np.mean(scores)), scores


def quantize(model, samples: list[dict], validation: list[dict] | None = None, max_drop: float = BOUND_DB,
             **kw):
    """NNCF post-training quantization; with ``validation``, NNCF's accuracy control: quantizers are
    put back to float, most harmful first (ranked on ``validation``), until its PSNR drop <= max_drop."""
    import nncf

    if validation is None:
        return nncf.quantize(model, nncf.Dataset(samples), subset_size=len(samples), **kw)
    from nncf.quantization.advanced_parameters import AdvancedAccuracyRestorerParameters

    return nncf.quantize_with_accuracy_control(
        model, nncf.Dataset(samples), nncf.Dataset(validation), _validate, max_drop=max_drop,
        subset_size=len(samples), advanced_accuracy_restorer_parameters=AdvancedAccuracyRestorerParameters(
            ranking_subset_size=len(validation)), **kw)


# ------------------------------------------------------------------------------------------ arms
class Arms:
    """One OpenVinoInterpolator whose graph is swapped per arm (same padding, crop, config)."""

    def __init__(self):
        self.interp = open_interpolator(model="rife-4.25", backend="openvino", precision="fp32")
        self.graph = self.interp.graphs["model"]
        self.fp32_model, self.fp32_config = self.graph.model, dict(self.graph.config)
        self.models = {"fp32": (self.fp32_model, self.fp32_config)}

    def add(self, name: str, model, config: dict | None = None) -> None:
        self.models[name] = (model, config or self.fp32_config)

    def use(self, name: str) -> None:
        model, config = self.models[name]
        self.graph.clear()
        self.graph.model, self.graph.config = model, config

    def compiled_precision(self, name: str, shape=(1, 3, 512, 640)) -> str:
        self.use(name)
        comp, _ = self.graph._get((shape, shape, (1,)), "latency")
        return str(comp.get_property("INFERENCE_PRECISION_HINT"))


def score(arms: Arms, names: list[str]) -> dict:
    (mset,) = find_sets(MIDDLEBURY)
    out = {}
    for name in names:
        arms.use(name)
        r = evaluate_set(arms.interp, mset, progress=False)
        out[name] = {"mean_psnr": r.mean_psnr, "mean_ssim": r.mean_ssim,
                     "scenes": {e.name: {"psnr": e.psnr, "ssim": e.ssim} for e in r.examples}}
        print(f"  {name}: PSNR {r.mean_psnr:.4f} dB, SSIM {r.mean_ssim:.5f}", flush=True)
    return out


def _cpu_s() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def speed(arms: Arms, names: list[str], rounds: int, calls: int) -> dict:
    """Model-only seconds per pair (median and min over rounds), arms interleaved per round: each
    arm's graph compiled for the padded shape (LATENCY hint, its config) before any timing."""
    bbb = []
    with av.open(str(DATA / "clips" / "bbb_720p25_audio.mp4")) as c:
        for i, f in enumerate(c.decode(video=0)):
            if i in (40, 41):
                bbb.append(_rgb(f))
            if i >= 41:
                break
    mb = [read_image(MIDDLEBURY / "Urban2" / f) for f in ("frame10.png", "frame11.png")]
    out: dict = {}
    for case, (a, b) in {"720p": bbb, "middlebury": mb}.items():
        feeds = {"img0": _pad(a, 64), "img1": _pad(b, 64), "t": np.full(1, 0.5, np.float32)}
        requests = {}
        for name in names:
            model, config = arms.models[name]
            model = model.clone()
            model.reshape({k: list(v.shape) for k, v in feeds.items()})
            comp = arms.interp.core.compile_model(model, "CPU", config | {"PERFORMANCE_HINT": "LATENCY"})
            requests[name] = comp.create_infer_request()
            requests[name].infer(feeds)  # first call outside the timing
        times: dict = {n: {"wall": [], "cpu": []} for n in names}
        for _ in range(rounds):
            for name in names:
                w0, c0 = time.perf_counter(), _cpu_s()
                for _ in range(calls):
                    requests[name].infer(feeds)
                times[name]["wall"].append((time.perf_counter() - w0) / calls)
                times[name]["cpu"].append((_cpu_s() - c0) / calls)
        out[case] = {"padded": list(feeds["img0"].shape[-2:]), **{
            n: {k: {"median": float(np.median(v)), "min": min(v), "all": v} for k, v in t.items()}
            for n, t in times.items()}}
        for n in names:
            print(f"  {case} {n}: wall {out[case][n]['wall']['median']:.3f} s, "
                  f"CPU {out[case][n]['cpu']['median']:.3f} s per pair", flush=True)
        del requests
    return out


# ------------------------------------------------------------------------------------------ report
def markdown(res: dict) -> str:
    fp = res["quality"]["fp32"]
    lines = [
        f"# RIFE 4.25 on OpenVINO: int8 / bf16 against fp32 on Middlebury ({res['date']})", "",
        f"Machine: {res['machine']['cpu']} ({res['machine']['cores']} cores; OpenVINO capabilities "
        f"{', '.join(res['machine']['ov_capabilities'])}; load {res['machine']['load_start']} at start). "
        f"OpenVINO {res['versions'].get('openvino')}, NNCF {res['versions'].get('nncf')}.", "",
        f"Command: `{res['command']}`", "",
        *([("Calibration (never Middlebury): " + "; ".join(res["calibration"]["sets"]) +
            f" = {res['calibration']['samples']} samples." + (
                f" Accuracy control's validation: {res['calibration']['validation']}."
                if "validation" in res["calibration"] else "")), "",
           f"Left in float by the ignored-scope variants: the {res['ignored_counts']['flow_heads']} transposed "
           "convolutions (`float-heads`: the 5 blocks' flow/mask heads, the feature encoder's last layer per "
           f"frame), and (`-inputs`) the {res['ignored_counts']['input_convs']} convolutions fed by the warped "
           "frames, the flow or the inputs.", ""] if res["ignored_counts"] else []),
        f"Bound: mean PSNR within {BOUND_DB} dB of fp32 (the `filmrt eval` protocol, all "
        f"{len(fp['scenes'])} scenes).", "",
        "| arm | PSNR dB | delta dB | SSIM | worst scene delta dB | within bound | quantize s |",
        "|---|---|---|---|---|---|---|",
    ]
    for name, q in res["quality"].items():
        d = q["mean_psnr"] - fp["mean_psnr"]
        worst = min((q["scenes"][s]["psnr"] - fp["scenes"][s]["psnr"], s) for s in fp["scenes"])
        qs = res["quantize_s"].get(name)
        lines.append(f"| {name} | {q['mean_psnr']:.4f} | {d:+.4f} | {q['mean_ssim']:.5f} | {worst[0]:+.3f} "
                     f"({worst[1]}) | {'yes' if abs(d) <= BOUND_DB else 'no'} | "
                     f"{'' if qs is None else f'{qs:.0f}'} |")
    lines += ["", "Per scene, PSNR dB (delta against fp32):", "",
              "| scene | " + " | ".join(res["quality"]) + " |", "|---|" + "---|" * len(res["quality"])]
    for scene, f in fp["scenes"].items():
        cells = [f"{q['scenes'][scene]['psnr']:.3f}" for q in res["quality"].values()]
        deltas = ["" if n == "fp32" else f" ({q['scenes'][scene]['psnr'] - f['psnr']:+.2f})"
                  for n, q in res["quality"].items()]
        lines.append(f"| {scene} | " + " | ".join(c + d for c, d in zip(cells, deltas, strict=True)) + " |")
    if not res["speed"]:
        notes = ["```", *res["notes"], "```", ""] if res.get("notes") else []
        return "\n".join([*lines, "", f"bf16: {res['bf16']}", "", *notes])
    lines += ["", "Model-only seconds per pair (one pair per call, LATENCY hint, arms interleaved; "
              f"median of {res['speed_rounds']} rounds of {res['speed_calls']} calls, min in brackets; load "
              f"average {res['machine']['load_start']} at start, {res['machine'].get('load_end')} at the end "
              "on 2 shared cores, so wall time waits on other jobs: compare the CPU seconds):", "",
              "| arm | " + " | ".join(f"{c} ({'x'.join(map(str, s['padded']))}) wall s | {c} CPU s"
                                       for c, s in res["speed"].items()) + " |",
              "|---|" + "---|---|" * len(res["speed"])]
    for name in res["speed_arms"]:
        cells = []
        for c in res["speed"]:
            s = res["speed"][c][name]
            cells += [f"{s['wall']['median']:.3f} ({s['wall']['min']:.3f})", f"{s['cpu']['median']:.3f}"]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    lines += ["", f"bf16: {res['bf16']}", ""]
    if res.get("notes"):
        lines += ["```", *res["notes"], "```", ""]
    return "\n".join(lines)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", required=True, help="output base name (writes OUT.json, OUT.md)")
    ap.add_argument("--render", action="store_true", help="only write OUT.md again from OUT.json")
    ap.add_argument("--ucf", type=int, default=64, help="UCF101-DVF triplets in the calibration (default 64)")
    ap.add_argument("--validation", type=int, default=48,
                    help="UCF101-DVF triplets for the accuracy-control variant (default 48)")
    ap.add_argument("--variants", default="all",
                    help="comma list of int8 variants, all, or none (bf16 only: NNCF not needed)")
    ap.add_argument("--rounds", type=int, default=3, help="speed rounds (0: no speed measurement)")
    ap.add_argument("--calls", type=int, default=2)
    args = ap.parse_args(argv)
    out = Path(args.out)
    if args.render:
        out.with_suffix(".md").write_text(markdown(json.loads(out.with_suffix(".json").read_text())))
        return 0

    from filmrt.engine.openvino_backend import import_openvino

    core = import_openvino().Core()  # before nncf, which imports openvino: telemetry declined first
    int8 = args.variants != "none"
    if int8:
        import nncf
    caps = list(core.get_property("CPU", "OPTIMIZATION_CAPABILITIES"))
    res: dict = {
        "schema": "filmrt-precision/1", "git": machine.git_info(), "date": dt.date.today().isoformat(),
        "command": " ".join(["python", *sys.argv]),
        "machine": {"cpu": machine.cpu_model(), "cores": torch.get_num_threads(), "ov_capabilities": caps,
                    "flags": [f for f in machine.cpu_flags() if "avx512" in f or "amx" in f or "vnni" in f],
                    "load_start": machine.load_average()},
        "versions": {**environment(), "openvino": import_openvino().__version__,
                     "nncf": nncf.__version__ if int8 else None},
        "bound_db": BOUND_DB, "quantize_s": {},
    }
    arms = Arms()
    samples, used = calibration_samples(args.ucf, arms.interp.pad_multiple) if int8 else ([], [])
    res["calibration"] = {"sets": used, "samples": len(samples)}
    print(f"calibration: {len(samples)} samples", flush=True)
    table, counts = variants(arms.fp32_model) if int8 else ({}, {})
    res["ignored_counts"] = counts
    chosen = list(table) if args.variants == "all" else args.variants.split(",") if int8 else []
    validation = None
    for name in chosen:
        kw = dict(table[name])
        if kw.pop("validation", False):
            validation = validation or validation_samples(args.ucf, args.validation)
            kw["validation"] = validation
            first, last = args.ucf + 1, args.ucf + len(validation)
            res["calibration"]["validation"] = (
                f"ucf101-dvf: triplets {first}-{last} with their truth, PSNR drop <= {BOUND_DB} dB")
        t0 = time.perf_counter()
        arms.add(name, quantize(arms.fp32_model, samples, **kw))
        res["quantize_s"][name] = time.perf_counter() - t0
        print(f"quantized {name} in {res['quantize_s'][name]:.0f} s", flush=True)
    if "BF16" in caps:
        arms.add("bf16", arms.fp32_model, arms.fp32_config | {"INFERENCE_PRECISION_HINT": "bf16"})
        res["bf16"] = "measured (OpenVINO lists BF16 for this CPU)"
    else:
        res["bf16"] = "not measured: OpenVINO does not list BF16 for this CPU (no AVX512-BF16, no AMX)"
    res["compiled_precision"] = {n: arms.compiled_precision(n) for n in arms.models}
    res["quality"] = score(arms, list(arms.models))
    fp = res["quality"]["fp32"]["mean_psnr"]
    res["within_bound"] = {n: abs(q["mean_psnr"] - fp) <= BOUND_DB for n, q in res["quality"].items()}
    best = max((n for n in arms.models if n != "fp32"), key=lambda n: res["quality"][n]["mean_psnr"],
               default=None)
    res["speed_arms"] = ["fp32", *([best] if best else []), *([n for n in ("int8-performance",)
                                                                if n in arms.models and n != best])]
    res["speed_rounds"], res["speed_calls"] = args.rounds, args.calls
    res["speed"] = speed(arms, res["speed_arms"], args.rounds, args.calls) if args.rounds else {}
    res["machine"]["load_end"] = machine.load_average()
    out.with_suffix(".json").write_text(json.dumps(res, indent=1, default=str) + "\n")
    out.with_suffix(".md").write_text(markdown(res))
    print(markdown(res))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

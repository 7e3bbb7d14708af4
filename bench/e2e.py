"""End to end: ``convert`` on a segment of a clip in a child process (its peak memory its own), where
its time went (:func:`stage_split`), and the decoder and encoder alone (the GPU check's rates).
"""

from __future__ import annotations

import contextlib
import json
import sys
import time
from collections.abc import Sequence
from fractions import Fraction
from pathlib import Path

import torch

from filmrt.bench import runner
from filmrt.bench.settings import RunContext
from filmrt.bench.temporal import write_clip
from filmrt.bench.timing import device_peak_mib, sync
from filmrt.engine import backend_available
from filmrt.imageio import to_uint8
from filmrt.machine import load_average, peak_rss_mib
from filmrt.models import get_spec
from filmrt.options import RuntimeOptions
from filmrt.pipeline.convert import convert
from filmrt.pipeline.io.decode import PyAVSource
from filmrt.pipeline.io.probe import probe
from filmrt.pipeline.io.source import DecodeRequest
from filmrt.pipeline.options import ConvertOptions, EncodeOptions

#: a child conversion that takes longer than this is stopped and reported as not measured
CHILD_TIMEOUT_S = 3600


def e2e_child(spec: dict) -> dict:
    """In the child: one ``convert`` of ``spec`` (src, dst, runtime fields, fps, ss, t), its times and peak memory."""
    runtime = RuntimeOptions(**spec["runtime"])
    opts = ConvertOptions(fps=spec["fps"], ss=spec["ss"], t=spec["t"], runtime=runtime)
    dev = torch.device(runtime.device)
    device_peak_mib(dev, reset=True)
    rss0 = peak_rss_mib()
    la0 = load_average()
    c0, t0 = time.process_time(), time.perf_counter()
    result = convert(spec["src"], spec["dst"], opts)
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    return {
        "wall_s": wall,
        "cpu_s": cpu,
        "load_average": [la0, load_average()],
        "result": result.to_dict(),
        "peak_host_mib": peak_rss_mib(),
        "host_mib_before_convert": rss0,
        "peak_device_mib": device_peak_mib(dev),
    }


def convert_child(src: str, dst: str, runtime: RuntimeOptions, fps: str, ss: float | None = None,
                  t: float | None = None, timeout: float = CHILD_TIMEOUT_S) -> dict:
    """One ``convert`` in a fresh interpreter (:func:`e2e_child` through :func:`filmrt.bench.runner.run_child`,
    its output beside ``dst``); the child's figures, or {"error": why}."""
    spec = {"src": src, "dst": dst, "runtime": runtime.to_dict(), "fps": fps, "ss": ss, "t": t}
    log = Path(dst).with_suffix(".log")
    r = runner.run_child([sys.executable, "-m", "filmrt.bench.e2e", "--child", json.dumps(spec)], log, timeout)
    rec = runner.last_json(log)
    if r["timed_out"]:
        return {"error": f"timed out after {timeout:.0f} s"}
    if r["returncode"] != 0 or rec is None:
        return {"error": f"exit {r['returncode']}: {' | '.join(r['log_tail'].strip().splitlines()[-3:])}"}
    return rec


def clip_facts(path: str | Path) -> dict:
    """What the result says about the clip (from :func:`filmrt.pipeline.io.probe.probe`)."""
    p = probe(path)
    v = p.video
    return {"path": str(path), "name": Path(path).name, "width": v.width, "height": v.height,
            "rate": str(v.rate), "fps": float(v.rate), "codec": v.codec, "frames": v.frames,
            "duration_s": p.duration}


def decode_frames(path: str, device: torch.device, *, ss: float | None = None, t: float | None = None,
                  keep: int | None = None, alpha: bool = False) -> tuple[list[torch.Tensor], int, float]:
    """The pipeline's decoder alone (PyAVSource: threaded decode, RGB, RGBA with ``alpha``, on ``device``)
    over a segment: the first ``keep`` pictures (None: all), how many were decoded, and the seconds it took."""
    t0, n, kept = time.perf_counter(), 0, []
    source = PyAVSource(path, DecodeRequest(ss=ss, t=t, keep_alpha=alpha), device=device)
    try:
        for f in source.frames():
            n += 1
            if keep is None or len(kept) < keep:
                kept.append(f.rgb)
    finally:
        source.close()
    sync(device)
    return kept, n, time.perf_counter() - t0


def e2e_backends(ctx: RunContext) -> list[str]:
    """The backends converted end to end: ``--e2e-backends``; else on a CPU every available CPU
    backend side by side (torch, ort, openvino), on CUDA the first of ``--backends`` (else auto)."""
    s = ctx.settings
    if s.e2e_backends:
        return list(s.e2e_backends)
    if ctx.device.type == "cpu":
        return [b for b in ("torch", "ort", "openvino") if backend_available(b, ctx.device)[0]] or ["auto"]
    return [(s.backends or ["auto"])[0]]


def bench_e2e(ctx: RunContext, clip: dict) -> list[dict]:
    """One child conversion per end-to-end model and backend: x``rate_factor`` of the segment."""
    s = ctx.settings
    out_fps = Fraction(clip["rate"]) * s.rate_factor
    rows = []
    for model, backend in ((m, b) for m in s.e2e_models for b in e2e_backends(ctx)):
        if not get_spec(model).needs_weights and backend != e2e_backends(ctx)[0]:
            continue  # a parameter-free model (blend) runs the same on every backend: once is enough
        runtime = ctx.runtime(model, backend=backend)
        ctx.log(f"end-to-end convert {model} ({backend}) {clip['name']} [{s.ss}s, +{s.t}s] -> {out_fps} fps ...")
        res = convert_child(clip["path"], str(ctx.workdir / f"e2e-{model}-{backend}.mp4"), runtime,
                            f"x{s.rate_factor}", s.ss, s.t)
        if "error" in res:
            ctx.skip(f"end-to-end convert {model}", res["error"])
            continue
        result = res["result"]
        frames = result["frames_out"]
        row = {"model": model, "weights": ctx.cache.weights_for(model).description, "backend": runtime.backend,
               "precision": runtime.precision, "clip": clip["name"], "ss": s.ss, "t": s.t, "out_rate": str(out_fps),
               **res, "out_frames": frames, "interpolated_frames": result["interpolated"]}
        if frames:
            row["out_fps"] = frames / res["wall_s"]
            row["s_per_interpolated_frame"] = res["wall_s"] / max(1, result["interpolated"])
            row["split"] = stage_split(result)
        rows.append(row)
        ctx.log(f"  {res['wall_s']:.1f} s, {frames} frames out" + (f", {row['out_fps']:.2f} frames/s" if frames else ""))
    return rows


def stage_split(result: dict) -> dict:
    """Where one conversion's time went, from inside the run (ConvertResult's ``stage_s``), per output
    frame: the model calls' wall time, the time outside them (setup, the pipeline's head and tail,
    any wait on decode/encode), and the CPU time of the decode and encode threads."""
    st, n, total = result.get("stage_s") or {}, max(1, result["frames_out"]), result["seconds"]
    model = st.get("model_s", result.get("model_s", 0.0))
    out = {"seconds": total, "model_s": model, "outside_model_s": total - model,
           "outside_model_fraction": (total - model) / total if total else None,
           "model_ms_per_out_frame": 1e3 * model / n, "outside_ms_per_out_frame": 1e3 * (total - model) / n,
           "threads": result.get("threads", "")}
    for k in ("setup_s", "decode_cpu_s", "encode_cpu_s"):
        if k in st:
            out[k] = st[k]
            out[k.replace("_s", "_ms_per_out_frame")] = 1e3 * st[k] / n
    return out


def encode_only(images: Sequence[torch.Tensor], rate: Fraction, n_out: int, dst: str,
                encode: EncodeOptions | None = None) -> float:
    """Seconds to encode ``n_out`` frames (``images``, (3, H, W) RGB, cycled) as convert's encoder would."""
    encode = encode or EncodeOptions()
    rgb = [to_uint8(x) for x in images]
    t0 = time.perf_counter()
    # the bench clips are 8-bit 4:2:0 H.264, for which --codec auto is libx264 yuv420p
    write_clip(dst, (rgb[k % len(rgb)] for k in range(n_out)), rate, crf=encode.crf, preset=encode.preset,
               codec="libx264" if encode.codec == "auto" else encode.codec)
    return time.perf_counter() - t0


def main(argv: list[str]) -> int:
    if len(argv) == 2 and argv[0] == "--child":
        print(json.dumps(e2e_child(json.loads(argv[1]))), flush=True)
        return 0
    print("internal entry point of filmrt bench; run `filmrt bench`", file=sys.stderr)
    return 2


if __name__ == "__main__":
    with contextlib.suppress(BrokenPipeError):
        sys.exit(main(sys.argv[1:]))

"""Peers on the same clip: ffmpeg's minterpolate (speed and quality), and the quality of every method.

minterpolate runs through PyAV's bundled libavfilter (``av.filter.Graph``; no ffmpeg binary):
``minterpolate=fps=<factor x rate>:`` :data:`MINTERPOLATE_ARGS`, on the same segment and output
rate as ``convert``, decoded, filtered and encoded with ``convert``'s encoder settings (like
``ffmpeg -ss SS -t T -i IN -vf minterpolate ... -c:v libx264 OUT``).

Quality is THE drop-every-other-frame protocol of ``filmrt eval-video``
(:func:`filmrt.pipeline.eval_video.score_dropped_frames`), with minterpolate as one more method
(:class:`MinterpolatePredictor`) next to the models, all scored on the same frames in one pass.
"""

from __future__ import annotations

import os
import time
from collections.abc import Sequence
from fractions import Fraction
from pathlib import Path

import av
import torch

from filmrt.bench.context import RunContext
from filmrt.bench.temporal import write_clip
from filmrt.engine import open_interpolator
from filmrt.machine import load_average
from filmrt.pipeline.eval_video import PROTOCOL, PredictFn, interpolator_predictor, score_dropped_frames
from filmrt.pipeline.io.decode import PyAVSource
from filmrt.pipeline.io.planes import frame_to_rgb
from filmrt.pipeline.io.probe import probe
from filmrt.pipeline.options import EncodeOptions
from filmrt.pipeline.time.cadence.fieldops import FilterChain

MINTERPOLATE_ARGS = "mi_mode=mci:mc_mode=aobmc:me_mode=bidir:vsbmc=1"


def minterpolate_available() -> bool:
    return "minterpolate" in av.filter.filters_available


def decode_segment(path: str | os.PathLike, ss: float, t: float) -> tuple[list, Fraction]:
    """The video frames (PyAV VideoFrames) whose time lies in [ss, ss + t), and the stream rate.

    The same range as :class:`~filmrt.pipeline.io.decode.PyAVSource` selects: times are counted from
    the container's start, and a frame within 1 ms (or one time-base tick) of an end is inside.
    """
    frames = []
    with av.open(str(path)) as c:
        st = c.streams.video[0]
        rate = Fraction(st.average_rate or st.guessed_rate)
        tb = Fraction(st.time_base)
        start = max(Fraction(c.start_time or 0, 1_000_000), Fraction(0)) + Fraction(ss).limit_denominator(1_000_000)
        end = start + Fraction(t).limit_denominator(1_000_000)
        snap = min(tb, Fraction(1, 1000))
        for f in c.decode(st):
            ts = f.pts * tb if f.pts is not None else start + len(frames) / rate
            if ts < start - snap:
                continue
            if ts >= end - snap:
                break
            frames.append(f)
    return frames, rate


def minterpolate_frames(frames: Sequence, in_rate: Fraction, out_rate: Fraction, tail_repeat: int = 0) -> list:
    """Run libavfilter's minterpolate on VideoFrames at ``in_rate`` (frame i at time i / in_rate).

    Output frame k sits at time k / out_rate (its ``pts`` is k, time base 1 / out_rate).
    minterpolate emits nothing for the last input interval (it needs one frame of look-ahead);
    ``tail_repeat`` pushes the last frame that many extra times so that interval is produced.
    """
    f0 = frames[0]
    fmt = f0.format.name
    # the package's linear libavfilter graph (buffer -> minterpolate -> buffersink)
    mi = FilterChain([("minterpolate", f"fps={out_rate}:{MINTERPOLATE_ARGS}")], width=f0.width, height=f0.height,
                     time_base=1 / in_rate, rate=in_rate, fmt=fmt)
    out: list = []
    for i, f in enumerate(list(frames) + [frames[-1]] * tail_repeat):
        # a fresh frame (no side data, our own pts); other formats are copied by swscale as they are
        nf = av.VideoFrame.from_ndarray(f.to_ndarray(), format=fmt) if fmt == "yuv420p" else f.reformat()
        nf.pts, nf.time_base = i, 1 / in_rate
        out += mi.push(nf)
    return out + mi.flush()


def minterpolate_transcode(src: str, dst: str, ss: float, t: float, factor: int,
                           encode: EncodeOptions | None = None) -> dict:
    """``ffmpeg -ss SS -t T -i SRC -vf minterpolate=fps=factor*rate:... -c:v CODEC DST`` through PyAV.

    Encoded with ``encode`` (default: convert's own defaults). Returns wall seconds of each part
    (decode, filter, encode) and the frame counts.
    """
    encode = encode or EncodeOptions()
    la0 = load_average()
    c0, t0 = time.process_time(), time.perf_counter()
    frames, rate = decode_segment(src, ss, t)
    t_dec = time.perf_counter() - t0
    out_rate = rate * factor
    t1 = time.perf_counter()
    outs = minterpolate_frames(frames, rate, out_rate)
    t_filt = time.perf_counter() - t1
    t2 = time.perf_counter()
    # 8-bit 4:2:0 H.264 clips: --codec auto is libx264 yuv420p (what convert writes for them)
    write_clip(dst, outs, out_rate, crf=encode.crf, preset=encode.preset,
               codec="libx264" if encode.codec == "auto" else encode.codec)
    t_enc = time.perf_counter() - t2
    return {"in_frames": len(frames), "out_frames": len(outs), "decode_s": t_dec, "filter_s": t_filt,
            "encode_s": t_enc, "wall_s": time.perf_counter() - t0, "cpu_s": time.process_time() - c0,
            "load_average": [la0, load_average()], "out_rate": str(out_rate)}


class MinterpolatePredictor:
    """minterpolate as a method of the drop-frame protocol (:data:`~filmrt.pipeline.eval_video.PredictFn`).

    minterpolate is a filter over a sequence (motion vectors carry over from frame to frame, one
    frame of look-ahead), not a function of one pair: it runs once, at the first call, over the
    kept (even) frames of the segment at half the rate, producing the full rate; output ``pts`` k
    is then the rebuilt frame at position k. The segment is decoded here as PyAV frames
    (minterpolate takes Y'CbCr), and every output is turned to RGB by the pipeline decoder's own
    conversion (:func:`~filmrt.pipeline.io.planes.frame_to_rgb`, with the source's colour spec), the
    same conversion as the originals it is scored against.
    """

    def __init__(self, path: str | os.PathLike, ss: float, t: float, device: torch.device):
        self.device = device
        self.frames, self.rate = decode_segment(path, ss, t)
        _, self.spec = frame_to_rgb(self.frames[0], None, torch.device("cpu"))
        self._by_position: dict[int, object] | None = None

    @property
    def frames_decoded(self) -> int:
        return len(self.frames)

    def __call__(self, a: torch.Tensor, b: torch.Tensor, dropped: Sequence[int]) -> torch.Tensor:
        if self._by_position is None:
            half = self.rate / 2
            outs = minterpolate_frames(self.frames[0::2], half, half * 2, tail_repeat=1)
            self._by_position = {int(o.pts): o for o in outs}
        preds = []
        for k in dropped:
            o = self._by_position.get(k)
            if o is None:
                raise RuntimeError(f"minterpolate produced no frame at position {k}")
            preds.append(frame_to_rgb(o, self.spec, self.device)[0])
        return torch.stack(preds)


def bench_minterpolate_speed(ctx: RunContext, clip: dict) -> dict:
    s = ctx.settings
    ctx.log(f"peer: minterpolate transcode {clip['name']} [{s.ss}s, +{s.t}s] x{s.rate_factor} ...")
    encode = EncodeOptions()
    r = minterpolate_transcode(clip["path"], str(ctx.workdir / "minterpolate.mp4"), s.ss, s.t, s.rate_factor,
                               encode)
    r["x264"] = {"crf": encode.crf, "preset": encode.preset}
    r["filter"] = f"minterpolate=fps=<{s.rate_factor}x rate>:{MINTERPOLATE_ARGS}"
    r["via"] = f"PyAV {av.__version__} bundled libavfilter (no ffmpeg binary)"
    r["interpolated_frames"] = r["out_frames"] - r["in_frames"]
    r["s_per_interpolated_frame"] = r["wall_s"] / max(1, r["interpolated_frames"])
    r["out_fps"] = r["out_frames"] / r["wall_s"]
    ctx.log(f"  {r['wall_s']:.1f} s for {r['out_frames']} frames, {r['s_per_interpolated_frame']:.2f} s "
            f"per interpolated frame (filter alone {r['filter_s'] / max(1, r['interpolated_frames']):.2f} s)")
    return r


def _quality_methods(ctx: RunContext, clip: dict) -> tuple[dict[str, PredictFn], list]:
    """The methods to score (minterpolate, then the quality models with real weights), and the
    interpolators opened for them (closed by the caller)."""
    methods: dict[str, PredictFn] = {}
    if minterpolate_available():
        methods["minterpolate"] = MinterpolatePredictor(clip["path"], ctx.settings.ss, ctx.settings.t, ctx.device)
    opened = []
    for model in ctx.settings.quality_models:
        if ctx.cache.weights_for(model).random:
            ctx.skip(f"quality {model}", "no real weights installed (random weights)")
            continue
        try:
            interp = open_interpolator(ctx.runtime(model))
        except Exception as e:  # noqa: BLE001
            ctx.skip(f"quality {model}", e)
            continue
        opened.append(interp)
        methods[model] = interpolator_predictor(interp)
    return methods, opened


def bench_quality(ctx: RunContext, clip: dict) -> dict:
    """Every method on the drop-frame protocol, on the segment the speed runs use."""
    s = ctx.settings
    methods, opened = _quality_methods(ctx, clip)
    ctx.log(f"quality (drop every other frame) on {clip['name']}: {', '.join(methods)} ...")
    source = PyAVSource(clip["path"], ss=s.ss, t=s.t, device=ctx.device)
    try:
        scores = score_dropped_frames(source.frames(), methods, batch=s.e2e_batch)
    finally:
        source.close()
        for interp in opened:
            interp.close()
    mi = methods.get("minterpolate")
    if isinstance(mi, MinterpolatePredictor) and mi.frames_decoded != scores.frames_decoded:
        # both decoders must see the same frames, or positions would not match
        ctx.skip("quality minterpolate", f"its decode saw {mi.frames_decoded} frames, the pipeline's "
                 f"{scores.frames_decoded}")
        del scores.methods["minterpolate"]
    q = {"pairs": scores.frames_scored, "pairs_skipped_cut": scores.pairs_skipped_cut,
         "frames_decoded": scores.frames_decoded, "metric_source": "filmrt.quality", "protocol": PROTOCOL,
         "methods": {}, "clip": clip["name"], "ss": s.ss, "t": s.t}
    for name, m in scores.methods.items():
        q["methods"][name] = {"psnr": m.mean_psnr, "ssim": m.mean_ssim, "n": len(m.psnr), "wall_s": m.seconds,
                              "psnr_per_pair": [round(x, 3) for x in m.psnr]}
        ctx.log(f"  {name}: PSNR {m.mean_psnr:.2f} dB, SSIM {m.mean_ssim:.4f} ({len(m.psnr)} frames, "
                f"{m.seconds:.1f} s)")
    return q


def bench_peers(ctx: RunContext, clip: dict) -> dict:
    peers: dict = {}
    if minterpolate_available():
        peers["minterpolate_speed"] = bench_minterpolate_speed(ctx, clip)
    else:
        ctx.skip("minterpolate", "PyAV's libavfilter has no minterpolate")
    peers["quality"] = bench_quality(ctx, clip)
    return peers


def clip_facts(path: str | os.PathLike) -> dict:
    """What the result says about the clip (from :func:`filmrt.pipeline.io.probe.probe`)."""
    p = probe(path)
    v = p.video
    return {"path": str(path), "name": Path(path).name, "width": v.width, "height": v.height,
            "rate": str(v.rate), "fps": float(v.rate), "codec": v.codec, "frames": v.frames,
            "duration_s": p.duration}

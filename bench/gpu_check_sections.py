"""Sections of bench/gpu_check.py other than the models: environment, ``pytest -m gpu``, the warp
kernel, ``filmrt convert`` end to end, and decoding (PyAV vs NVDEC through PyNvVideoCodec).

Each ``section_<name>(cfg, cells)`` runs in a child process of its own (a CUDA fault, a crash in
the ctypes launcher or a hang costs that section, not the report). ``cfg`` is the section's
settings (a dict: device, sizes, paths, deadline; see gpu_check.py) and ``cells`` records each
measured cell to disk as soon as it is done (``cells.run(name, fn)``), with a reason for each
cell it skips, so what was measured survives a crash or the time limit.
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import torch

from filmrt.models.film import PAPER_CONFIG
from filmrt.sizes import parse_size
from filmrt.warp import warp_grid_sample

HERE = Path(__file__).resolve().parent


def _sibling(name: str):
    """A helper module of this folder, loaded by path: bench/ runs as a folder of scripts on the
    GPU machine, whether or not it is also installed as a package."""
    key = f"_filmrt_gpu_check_{name}"
    if key not in sys.modules:
        spec = importlib.util.spec_from_file_location(key, HERE / f"{name}.py")
        mod = importlib.util.module_from_spec(spec)
        sys.modules[key] = mod
        spec.loader.exec_module(mod)
    return sys.modules[key]


measure = _sibling("gpu_check_measure")


def _tail(text: str, n: int = 3000) -> str:
    return text if len(text) <= n else "..." + text[-n:]


def _film_config(cfg: dict) -> dict:
    return cfg.get("film_config") or dict(PAPER_CONFIG)


# ------------------------------------------------------------------------------------ env
def section_env(cfg: dict, cells) -> None:
    """Versions, the GPU, and the two ceilings: matmul TFLOP/s per precision, copy GB/s."""
    dev = torch.device(cfg["device"])
    cells.run("versions", measure.versions)
    if dev.type == "cuda":
        cells.run("gpu", measure.gpu_info)
    else:
        cells.skip("gpu", "PyTorch sees no CUDA GPU")
    n = cfg["matmul_n"]
    for prec in cfg["matmul_precisions"]:
        cells.run(f"matmul/{prec}", lambda prec=prec: _matmul(dev, prec, n), need_s=2)
    cells.run("copy", lambda: _copy_bandwidth(dev, cfg["copy_mib"]), need_s=2)


def _matmul(dev: torch.device, prec: str, n: int) -> dict:
    dtype = {"fp32": torch.float32, "tf32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16}[prec]
    a = torch.randn(n, n, device=dev, dtype=dtype)
    b = torch.randn(n, n, device=dev, dtype=dtype)
    old = torch.backends.cuda.matmul.allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = prec == "tf32"
    try:
        t = measure.time_ms(lambda: torch.mm(a, b), dev, warmup=3, reps=10)
    finally:
        torch.backends.cuda.matmul.allow_tf32 = old
    return {"n": n, **t, "tflops": 2 * n**3 / (t["median_ms"] * 1e-3) / 1e12}


def _copy_bandwidth(dev: torch.device, mib: int) -> dict:
    src = torch.rand(mib * 2**18, device=dev)  # float32: mib MiB
    dst = torch.empty_like(src)
    t = measure.time_ms(lambda: dst.copy_(src), dev, warmup=2, reps=10)
    moved = 2 * src.numel() * 4  # read + write
    return {"mib": mib, **t, "gbps": moved / (t["median_ms"] * 1e-3) / 1e9}


# ------------------------------------------------------------------------------------ pytest
def gpu_test_files(repo: Path) -> list[Path]:
    """Test files with tests marked ``gpu`` (found by text, so moved tests are still found)."""
    pat = re.compile(r"pytest\.mark\.gpu\b|mark\.gpu\b")
    return sorted(p for p in (repo / "tests").rglob("test_*.py") if pat.search(p.read_text(errors="replace")))


#: CUDA-toolkit tests (nvcc, ptxas) that skip on machines without the toolkit; the GPU machine has it
TOOLKIT_TESTS = "nvcc or ptx_assembles or cuda_source_compiles"


def section_pytest(cfg: dict, cells) -> None:
    """``pytest -m gpu`` on every file with gpu-marked tests; then the warp kernel's toolkit tests
    (the committed PTX is what nvcc makes of the sources, assembles without spills)."""
    repo = Path(cfg["repo"])
    files = gpu_test_files(repo)
    if not files:
        cells.skip("run", "no test marked gpu under tests/")
    else:
        cells.run("run", lambda: _pytest(cfg, repo, files, ["-m", "gpu"], "gpu"), need_s=10)
    kernel_tests = sorted((repo / "tests").rglob("test_warp_kernel.py"))
    if cfg["dry_run"]:
        cells.skip("toolkit", "dry run: the toolkit tests run in the normal suite wherever nvcc is installed")
    elif kernel_tests:
        cells.run("toolkit", lambda: _pytest(cfg, repo, kernel_tests, ["-k", TOOLKIT_TESTS], "toolkit"), need_s=10)
    else:
        cells.skip("toolkit", "tests/test_warp_kernel.py not found")


def _pytest(cfg: dict, repo: Path, files: list[Path], select: list[str], label: str) -> dict:
    xml = Path(cfg["workdir"]) / f"pytest-{label}.xml"
    cmd = [sys.executable, "-m", "pytest", *select, "-p", "no:cacheprovider", "-q", "-rA",
           f"--junitxml={xml}", "-o", "addopts=", *map(str, files)]
    env = dict(os.environ)
    if cfg.get("shared"):
        env["FILMRT_SHARED"] = cfg["shared"]
    t0 = time.perf_counter()
    # cwd outside the checkout: its filmrt/ folder must not shadow the installed package (whose
    # stage folders are mapped); pytest finds pyproject.toml from the test paths.
    r = subprocess.run(cmd, cwd=cfg["workdir"], env=env, capture_output=True, text=True,
                       timeout=max(10, cfg["deadline"] - time.time() - 5))
    out = {"command": " ".join(["pytest", *cmd[3:]]), "files": [str(f.relative_to(repo)) for f in files],
           "returncode": r.returncode, "seconds": time.perf_counter() - t0,
           "output_tail": _tail(r.stdout + r.stderr, 4000)}
    if xml.exists():
        out.update(_junit(xml))
    return out


def _junit(path: Path) -> dict:
    root = ET.parse(path).getroot()
    counts = {"passed": 0, "failed": 0, "errors": 0, "skipped": 0}
    tests = []
    for case in root.iter("testcase"):
        outcome, message = "passed", ""
        for tag, name in (("failure", "failed"), ("error", "errors"), ("skipped", "skipped")):
            el = case.find(tag)
            if el is not None:
                outcome, message = name, (el.get("message") or el.text or "").strip()[:500]
                break
        counts[outcome] += 1
        tests.append({"test": f"{case.get('classname')}::{case.get('name')}", "outcome": outcome,
                      "seconds": float(case.get("time") or 0), "message": message})
    return {**counts, "tests": tests}


# ------------------------------------------------------------------------------------ warp
def section_warp(cfg: dict, cells) -> None:
    """The BackwardWarp kernel through bench/warp_kernel.py's own checks and timings."""
    dev = torch.device(cfg["device"])
    path = Path(cfg["repo"]) / "bench" / "warp_kernel.py"
    bwk = cells.call("load", lambda: _load_warp_bench(path), describe=lambda m: {"path": str(path)})
    if bwk is None:
        return
    wk = bwk.load_warp_kernel()
    shared = Path(cfg["shared"]) if cfg.get("shared") else None
    if dev.type != "cuda":
        reason = "PyTorch sees no CUDA GPU: the kernel's PTX runs only there"
        cells.skip("checks", reason)
        cells.skip("timings", reason)
        cells.run("grid_sample_cpu", lambda: _grid_sample_cpu(bwk))
        return
    ok, why = wk.available()
    cells.run("available", lambda: {"available": ok, "reason": why, "driver": wk._driver().version() if ok else None})
    if not ok:
        cells.skip("checks", f"kernel unavailable: {why}")
        cells.skip("timings", f"kernel unavailable: {why}")
        return
    if shared is not None and (shared / "fixtures" / "warp" / "warp_io.npz").exists():
        cells.run("checks", lambda: bwk.gpu_checks(wk, shared), need_s=10)
    else:
        cells.skip("checks", "the warp fixture is not here: run `python bench/gpu_check.py --prepare` "
                   "before the device call and carry .device-carry")
    cells.run("timings", lambda: {"rows": bwk.gpu_timings(wk, cfg["warp_iters"])}, need_s=10)


def _load_warp_bench(path: Path):
    """bench/warp_kernel.py, whose GPU checks and timings this section runs (loaded by path)."""
    spec = importlib.util.spec_from_file_location("_filmrt_gpu_check_warp_bench", path)
    mod = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mod
    spec.loader.exec_module(mod)
    want = ("load_warp_kernel", "gpu_checks", "gpu_timings", "far_flow")
    missing = [n for n in want if not callable(getattr(mod, n, None))]
    if missing:
        raise AttributeError(f"{path.name} no longer exposes {', '.join(missing)}: update gpu_check")
    return mod


def _grid_sample_cpu(bwk) -> dict:
    g = torch.Generator().manual_seed(0)
    img = torch.rand(1, 3, 64, 64, generator=g)
    flow = bwk.far_flow(img.shape, g, 5.0)
    t = measure.time_ms(lambda: warp_grid_sample(img, flow), torch.device("cpu"), warmup=1, reps=3)
    return {"hw": [64, 64], "grid_sample_ms": t["median_ms"]}


# ------------------------------------------------------------------------------------ convert
def _av():
    """PyAV, or None: a filmrt dependency, but on the GPU machine it comes as a carried wheel."""
    try:
        import av

        return av
    except ImportError:
        return None


def ensure_clip(cfg: dict, seconds: float | None = None) -> dict:
    """The synthetic clip of ``cfg`` (``clip_seconds`` long, or ``seconds``), made once per run."""
    size = parse_size(cfg["clip_size"])
    seconds = cfg["clip_seconds"] if seconds is None else seconds
    path = Path(cfg["workdir"]) / f"clip-{size.width}x{size.height}-{cfg['clip_fps']}-{seconds:g}s.mp4"
    done = path.with_suffix(".json")
    if done.exists():
        return json.loads(done.read_text())
    info = measure.make_clip(path, size.width, size.height, cfg["clip_fps"], seconds)
    done.write_text(json.dumps(info))
    return info


def section_convert(cfg: dict, cells) -> None:
    """``filmrt convert --device <dev>`` on synthetic clips, twice per model (a short and a long
    clip: start-up cancels out of the difference, the steady rate), next to decode-only and
    encode-only rates. Two clips rather than ``--t`` on one, so that both runs take the same path."""
    av = _av()
    if av is None:
        for name in ("clip", "decode", "encode", *cfg["convert_models"]):
            cells.skip(name, "PyAV is not importable here: carry its wheel (bench/gpu_check.py --prepare)")
        return
    clip = cells.run("clip", lambda: ensure_clip(cfg), need_s=5)
    short = cells.run("clip-short", lambda: ensure_clip(cfg, cfg["convert_short_s"]), need_s=3)
    if clip is None or short is None:
        return
    dev = torch.device(cfg["device"])
    cells.run("decode", lambda: decode_pyav(av, Path(clip["path"]), dev), need_s=3)
    cells.run("encode", lambda: encode_x264(av, clip, cfg["encode_frames"]), need_s=3)
    help_text = _convert_help()
    for model in cfg["convert_models"]:
        weights = None
        if model == "film":
            weights = cells.run("film-weights", lambda: {"path": str(measure.random_film_weights(
                Path(cfg["workdir"]) / "film-random.safetensors", _film_config(cfg)))})
            if weights is None:
                continue
        runs = {}
        # the full run first: a first run's cold start (page cache, lazy CUDA modules) then lands
        # on the longer run, which can only make the steady rate lower, never negative
        for label, src in (("full", clip), ("short", short)):
            runs[label] = cells.run(f"{model}/{label}", lambda m=model, w=weights, c=src, lab=label: _convert(
                cfg, c, m, w, lab, help_text), need_s=8)
        if runs.get("short") and runs.get("full"):
            cells.run(f"{model}/steady", lambda runs=runs: _steady(runs["short"], runs["full"]))


def decode_pyav(av, path: Path, dev: torch.device) -> dict:
    """Frames/s of PyAV decoding to RGB24 (threaded, as the pipeline does), and with the upload
    of each frame to the device as (3, H, W) float32 in [0, 1] (the pipeline's frame format)."""
    out = {}
    for label, upload in (("rgb", False), ("to_device", True)):
        t0 = time.perf_counter()
        n = 0
        with av.open(str(path)) as c:
            st = c.streams.video[0]
            st.thread_type = "AUTO"
            for frame in c.decode(st):
                arr = frame.to_ndarray(format="rgb24")
                if upload:
                    x = torch.from_numpy(arr).to(dev, non_blocking=False).permute(2, 0, 1).float().div_(255)
                    del x
                n += 1
        measure.sync(dev)
        out[f"{label}_fps"] = n / (time.perf_counter() - t0)
    out["frames"] = n
    return out


def _encode_defaults() -> tuple[str, str]:
    """(crf, preset) that convert encodes with by default (its options' defaults)."""
    try:
        # imported here: a pipeline that cannot be imported (PyAV missing on the GPU machine, say)
        # must cost the convert figures, not this module (whose env section decides the device)
        from filmrt.pipeline.options import EncodeOptions

        enc = EncodeOptions()
        return str(enc.crf), str(enc.preset)
    except (ImportError, AttributeError, TypeError):
        return "18", "medium"


def encode_x264(av, clip: dict, frames: int) -> dict:
    """Frames/s of libx264 alone (convert's default crf/preset, all cores) on the clip's frames."""
    imgs = []
    with av.open(clip["path"]) as c:
        for i, frame in enumerate(c.decode(video=0)):
            if i >= min(frames, clip["frames"]):
                break
            imgs.append(frame.to_ndarray(format="rgb24"))
    crf, preset = _encode_defaults()
    dst = Path(clip["path"]).with_name("encode-test.mp4")
    t0 = time.perf_counter()
    n = 0
    with av.open(str(dst), "w") as out:
        st = out.add_stream("libx264", rate=2 * clip["fps"])
        st.width, st.height, st.pix_fmt = clip["width"], clip["height"], "yuv420p"
        st.options = {"crf": crf, "preset": preset}
        while n < frames:
            for img in imgs:
                for packet in st.encode(av.VideoFrame.from_ndarray(img, format="rgb24")):
                    out.mux(packet)
                n += 1
        for packet in st.encode():
            out.mux(packet)
    sec = time.perf_counter() - t0
    dst.unlink(missing_ok=True)
    return {"fps": n / sec, "frames": n, "crf": crf, "preset": preset, "threads": os.cpu_count()}


def _convert_help() -> str:
    r = subprocess.run([sys.executable, "-m", "filmrt", "convert", "--help"], capture_output=True, text=True,
                       timeout=120)
    return r.stdout


def _convert(cfg: dict, clip: dict, model: str, weights: dict | None, label: str, help_text: str) -> dict:
    work = Path(cfg["workdir"])
    dst = work / f"convert-{model}-{label}.mp4"
    report = work / f"convert-{model}-{label}.json"
    for p in (dst, report):
        p.unlink(missing_ok=True)
    cmd = [sys.executable, "-m", "filmrt", "convert", clip["path"], str(dst), "--fps", cfg["convert_fps"],
           "--model", model, "--device", cfg["device"]]
    if weights:
        cmd += ["--weights", weights["path"]]
    for flag, value in (("--json", str(report)), ("--quiet", None)):
        if flag in help_text:
            cmd += [flag] + ([value] if value else [])
    t0 = time.perf_counter()
    r = subprocess.run(cmd, cwd=cfg["workdir"], capture_output=True, text=True,
                       timeout=max(10, cfg["deadline"] - time.time() - 5))
    wall = time.perf_counter() - t0
    if r.returncode not in (0, 3):
        raise RuntimeError(f"convert exited {r.returncode}: {_tail(r.stderr.strip(), 1500)}")
    rep = json.loads(report.read_text()) if report.exists() else {}
    rep = rep.get("result", rep)
    frames_out = rep.get("frames_out")
    out = {"command": " ".join(["filmrt", *cmd[3:]]), "wall_s": wall, "report": rep,
           "frames_out": frames_out, "interpolated": rep.get("interpolated"),
           "frames_in": rep.get("frames_in"), "seconds": rep.get("seconds"),
           "decoder": rep.get("decoder"), "backend": rep.get("backend")}
    if frames_out and rep.get("seconds"):
        out["out_fps"] = frames_out / rep["seconds"]
        out["out_fps_wall"] = frames_out / wall
        out["interp_fps"] = (rep.get("interpolated") or 0) / rep["seconds"]
    dst.unlink(missing_ok=True)
    return out


def _steady(short: dict, full: dict) -> dict:
    """Rates with start-up (imports, model load, CUDA init, first-call autotuning) cancelled out:
    the difference of a short and a full run of the same clip."""
    d_out = (full.get("frames_out") or 0) - (short.get("frames_out") or 0)
    d_int = (full.get("interpolated") or 0) - (short.get("interpolated") or 0)
    d_in = (full.get("frames_in") or 0) - (short.get("frames_in") or 0)
    d_s = (full.get("seconds") or full["wall_s"]) - (short.get("seconds") or short["wall_s"])
    if d_out <= 0 or d_s <= 0:
        # timing noise larger than the work (a loaded CPU, tiny clips): say so, do not guess
        return {"valid": False, "reason": f"no steady rate: {d_out} more frames in {d_s:.2f} s more"}
    return {"valid": True, "out_fps": d_out / d_s, "interp_fps": d_int / d_s, "in_fps": d_in / d_s,
            "startup_s": (short.get("seconds") or short["wall_s"]) - (short.get("frames_out") or 0) * d_s / d_out}


# ------------------------------------------------------------------------------------ NVDEC
def section_nvdec(cfg: dict, cells) -> None:
    """NVDEC through PyNvVideoCodec, frames handed to torch by DLPack, vs PyAV on the same clip."""
    av = _av()
    dev = torch.device(cfg["device"])
    clip = None
    if av is None:
        cells.skip("clip", "PyAV is not importable here: carry its wheel (bench/gpu_check.py --prepare)")
    else:
        clip = cells.run("clip", lambda: ensure_clip(cfg), need_s=5)
        if clip:
            cells.run("pyav", lambda: decode_pyav(av, Path(clip["path"]), dev), need_s=3)
    nvc = cells.call("import", _import_nvc, describe=lambda r: r)  # at every launch: a module
    if nvc is None or not nvc.get("ok"):
        cells.skip("nvdec", (nvc or {}).get("reason") or "PyNvVideoCodec could not be imported")
        return
    if dev.type != "cuda":
        cells.skip("nvdec", "PyTorch sees no CUDA GPU")
        return
    if clip is None:
        cells.skip("nvdec", "no clip to decode (PyAV makes it)")
        return
    cells.run("nvdec", lambda: _nvdec(Path(clip["path"]), av), need_s=5)


def _video_libs() -> dict:
    """Where the driver's video libraries are (NVDEC: libnvcuvid; NVENC: libnvidia-encode)."""
    found = {}
    r = subprocess.run(["ldconfig", "-p"], capture_output=True, text=True) if shutil.which("ldconfig") else None
    text = r.stdout if r is not None else ""
    for lib in ("libnvcuvid.so", "libnvidia-encode.so", "libcuda.so"):
        hits = [ln.split("=>")[-1].strip() for ln in text.splitlines() if lib in ln]
        found[lib] = hits[:3]
    return found


_NVC: dict = {}


def _import_nvc() -> dict:
    """Import PyNvVideoCodec. Its package __init__ checks the NVENC driver version through
    libnvidia-encode, which may be absent where there is no NVENC (the H200 has none) although
    NVDEC may work: then load the compiled module directly, as the package does after that check."""
    libs = _video_libs()
    try:
        import PyNvVideoCodec as nvc  # noqa: N813 - the package's own name

        _NVC["mod"], _NVC["mode"] = nvc, "package"
        return {"ok": True, "mode": "package", "version": getattr(nvc, "__version__", None), "libs": libs}
    except Exception as e:  # the package raises RuntimeError/ImportError/OSError alike
        first = f"{type(e).__name__}: {str(e).strip().splitlines()[0] if str(e).strip() else ''}"
    spec = importlib.util.find_spec("PyNvVideoCodec")
    if spec is None or not spec.submodule_search_locations:
        return {"ok": False, "reason": f"PyNvVideoCodec not installed ({first}); carry it: "
                "bench/gpu_check.py --prepare", "libs": libs}
    pkg = Path(list(spec.submodule_search_locations)[0])
    py = f"{sys.version_info.major}{sys.version_info.minor}"
    for suffix in ("_130", "_121"):
        so = next(iter(pkg.glob(f"PyNvVideoCodec{suffix}.cpython-{py}-*.so")), None)
        if so is None:
            continue
        try:
            s = importlib.util.spec_from_file_location("_PyNvVideoCodec", so)
            mod = importlib.util.module_from_spec(s)
            s.loader.exec_module(mod)
        except Exception as e2:  # noqa: BLE001 - recorded, then the next build is tried
            first += f"; {so.name}: {type(e2).__name__}: {e2}"
            continue
        _NVC["mod"], _NVC["mode"] = mod, "extension"
        return {"ok": True, "mode": f"extension {so.name} (package import failed: {first})", "libs": libs}
    return {"ok": False, "reason": f"PyNvVideoCodec unusable: {first}", "libs": libs}


def _nvdec_decoder(path: Path, colour: str):
    nvc, mode = _NVC["mod"], _NVC["mode"]
    kind = getattr(nvc.OutputColorType, colour)
    if mode == "package":
        return nvc.SimpleDecoder(str(path), gpu_id=0, use_device_memory=True, output_color_type=kind)
    # the compiled module's factory, with SimpleDecoder's own positional arguments
    return nvc.CreateSimpleDecoder(str(path), 0, 0, 0, True, 0, 0, 0, 4, kind, False, False)


def _hwc(x: torch.Tensor, h: int, w: int) -> torch.Tensor:
    """A decoded RGB frame as (H, W, 3): PyNvVideoCodec gives RGB as (H, W, 3) and planar RGB as
    (3, H, W) or (3H, W) depending on the version."""
    if tuple(x.shape) == (3, h, w):
        return x.permute(1, 2, 0)
    if tuple(x.shape) == (3 * h, w):
        return x.view(3, h, w).permute(1, 2, 0)
    return x


def _nvdec(path: Path, av) -> dict:
    """Decode the whole clip on NVDEC; every frame becomes a torch CUDA tensor through DLPack
    (no host copy: the tensor must be on the GPU at the decoder's own address). Planar RGB (the
    pipeline's (3, H, W) layout) first; interleaved RGB if the planar output is refused."""
    ref = None
    if av is not None:
        with av.open(str(path)) as c:
            ref = next(c.decode(video=0)).to_ndarray(format="rgb24")
    errors = []
    for colour in ("RGBP", "RGB"):
        try:
            out = _nvdec_run(path, colour)
        except Exception as e:  # noqa: BLE001 - try the other layout, report both
            errors.append(f"{colour}: {type(e).__name__}: {e}")
            continue
        first = out.pop("_first")
        if ref is not None and first is not None:
            got = _hwc(first, *ref.shape[:2]).cpu().numpy()
            if got.shape == ref.shape:
                out["first_frame_mean_abs_vs_pyav"] = float(np.abs(got.astype(np.float32) - ref).mean())
        out["errors"] = errors
        return out
    raise RuntimeError("; ".join(errors))


def _to_torch(frame) -> tuple[torch.Tensor, str]:
    """A decoded frame as a torch tensor without a copy: DLPack, else the CUDA array interface."""
    try:
        return torch.from_dlpack(frame), "dlpack"
    except (TypeError, AttributeError, RuntimeError, BufferError):
        return torch.as_tensor(frame, device="cuda"), "cuda_array_interface"


def _nvdec_run(path: Path, colour: str, limit: int = 100_000) -> dict:
    dec = _nvdec_decoder(path, colour)
    n, zero_copy, first, via = 0, True, None, None
    torch.cuda.synchronize()
    t0 = time.perf_counter()
    while n < limit:  # a decoder that never reports its end must not hang the section
        batch = dec.get_batch_frames(8)
        if not batch:
            break
        for frame in batch:
            x, via = _to_torch(frame)
            cai = getattr(frame, "__cuda_array_interface__", None)
            if not x.is_cuda or (cai is not None and cai["data"][0] != x.data_ptr()):
                zero_copy = False
            if first is None:
                first = x.clone()
            n += 1
    torch.cuda.synchronize()
    sec = time.perf_counter() - t0
    return {"colour": colour, "frames": n, "fps": n / sec if sec > 0 else None, "zero_copy": zero_copy, "via": via,
            "_first": first, "tensor": None if first is None else {
                "shape": list(first.shape), "dtype": str(first.dtype), "device": str(first.device)}}

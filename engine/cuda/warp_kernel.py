"""The BackwardWarp GPU kernel: one CUDA C source, PTX for sm_80..90, launched on PyTorch's stream.

The warp (:mod:`filmrt.warp`) is written once in CUDA C (``engine/cuda/kernels/``):

- ``backward_warp.h``: the per-pixel math (border-clamped bilinear taps, float32 coordinates,
  64-bit offsets) as ``__host__ __device__`` functions,
- ``backward_warp.cu``: four ``extern "C"`` kernels, ``filmrt_backward_warp_<image>_<flow>`` for
  image/flow dtypes f32/f16, arguments ``(image, flow, N, C, H, W, out)`` (tensor inputs, scalar
  arguments, tensor outputs: the order TensorRT's ahead-of-time plugins launch kernels in),
- ``backward_warp.sm_XX.ptx``: nvcc's PTX for sm_80/86/89/90, committed, each starting with the
  sha256 of the sources it was compiled from (:func:`regenerate_ptx` rewrites them;
  ``python -m filmrt.engine.cuda.warp_kernel --regenerate``),
- ``backward_warp_host.cpp``: the same header compiled for the CPU (:func:`host_warp`), which is
  how the kernel's arithmetic is tested on machines without a GPU.

The PTX serves two users: :func:`warp_cuda` (the PyTorch CUDA path: the torch backend's
``fast="warp"`` runs its model inside ``filmrt.warp.use_warp_impl(warp_cuda)``) and the TensorRT plugin
(:mod:`filmrt.engine.trt.plugin`), which embeds it in the engine.

GPU access is through the CUDA driver API by ``ctypes`` (``libcuda``, present wherever PyTorch
runs on CUDA): load the PTX into the device's primary context (PyTorch's), launch with
``cuLaunchKernel`` on ``torch.cuda.current_stream()``. No extra Python package is needed. PTX made
by nvcc 13 declares PTX ISA 9.0, which drivers older than CUDA 13 cannot load; then the source is
compiled at run time with NVRTC (the ``libnvrtc`` PyTorch's CUDA wheels ship) for the device.

Shapes: image (N, C, H, W) float32/float16, flow (N, 2, H, W) float32/float16 pixels (dx, dy);
out like image. Launch: block (32, 8, 1), grid (ceil(W/32), ceil(H/8), N).
"""

from __future__ import annotations

import ctypes
import functools
import hashlib
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

import numpy as np
import torch

from filmrt.fileio import atomic_path, atomic_write
from filmrt.warp import warp_grid_sample

KERNEL_DIR = Path(__file__).resolve().parent / "kernels"
HEADER = KERNEL_DIR / "backward_warp.h"
SOURCE = KERNEL_DIR / "backward_warp.cu"
HOST_SOURCE = KERNEL_DIR / "backward_warp_host.cpp"
ARCHS = (80, 86, 89, 90)
BLOCK = (32, 8, 1)
# nvcc options of the committed PTX (fused multiply-add off: the GPU then computes exactly what
# the host build computes with -ffp-contract=off).
NVCC_FLAGS = ("--ptx", "-O3", "-fmad=false", "-std=c++14")
HASH_PREFIX = "// filmrt-source-sha256: "
DTYPE_TAG = {"float32": "f32", "float16": "f16"}


# --------------------------------------------------------------------------- pure helpers
def source_sha256() -> str:
    """sha256 of the kernel sources (header + .cu), line endings normalised."""
    h = hashlib.sha256()
    for p in (HEADER, SOURCE):
        h.update(p.read_bytes().replace(b"\r\n", b"\n"))
    return h.hexdigest()


def kernel_name(image_dtype: str, flow_dtype: str = "float32") -> str:
    """Kernel symbol for dtype names ("float32"/"float16", torch or numpy spelling accepted)."""

    def tag(d: str) -> str:
        d = str(d).replace("torch.", "")
        d = {"half": "float16", "float": "float32", "fp16": "float16", "fp32": "float32"}.get(d, d)
        if d not in DTYPE_TAG:
            raise ValueError(f"the warp kernel supports float32 and float16, not {d}")
        return DTYPE_TAG[d]

    return f"filmrt_backward_warp_{tag(image_dtype)}_{tag(flow_dtype)}"


def launch_config(n: int, h: int, w: int) -> tuple[tuple[int, int, int], tuple[int, int, int]]:
    """(grid, block) for an (n, ., h, w) warp. The kernel's loops are grid-stride, so the grid is
    capped at CUDA's limits (y, z <= 65535) without losing correctness."""
    bx, by, bz = BLOCK
    gx = max(1, -(-w // bx))
    gy = max(1, min(65535, -(-h // by)))
    gz = max(1, min(65535, n))
    return (gx, gy, gz), BLOCK


def ptx_path(arch: int) -> Path:
    return KERNEL_DIR / f"backward_warp.sm_{arch}.ptx"


def committed_ptx(arch: int) -> str:
    """The committed PTX for ``sm_<arch>`` (the nearest lower one for other archs)."""
    usable = [a for a in ARCHS if a <= arch]
    if not usable:
        raise ValueError(f"the warp kernel needs compute capability >= 8.0, got sm_{arch}")
    return ptx_path(max(usable)).read_text()


def ptx_source_hash(ptx: str) -> str | None:
    first = ptx.split("\n", 1)[0]
    return first[len(HASH_PREFIX) :].strip() if first.startswith(HASH_PREFIX) else None


def ptx_isa_version(ptx: str) -> tuple[int, int]:
    m = re.search(r"^\s*\.version\s+(\d+)\.(\d+)", ptx, re.M)
    if not m:
        raise ValueError("no .version directive in PTX")
    return int(m.group(1)), int(m.group(2))


def min_driver_for_isa(isa: tuple[int, int]) -> int:
    """Smallest CUDA driver version (cuDriverGetVersion's 1000*major + 10*minor) that loads PTX
    of this ISA: ISA 9.x came with CUDA 13.x, 8.x with CUDA 12.x, 7.x with CUDA 11.x."""
    major, minor = isa
    if major >= 9:
        return 13000 + 10 * minor
    if major == 8:
        return 12000 + 10 * minor
    return 11000


def ptx_up_to_date() -> dict[int, bool]:
    """Per arch: does the committed PTX carry the current sources' hash?"""
    want = source_sha256()
    out = {}
    for a in ARCHS:
        p = ptx_path(a)
        out[a] = p.exists() and ptx_source_hash(p.read_text()) == want
    return out


# --------------------------------------------------------------------------- nvcc (build time)
def find_nvcc() -> str | None:
    cand = shutil.which("nvcc")
    if cand:
        return cand
    home = os.environ.get("CUDA_HOME") or os.environ.get("CUDA_PATH")
    if home and (Path(home) / "bin" / "nvcc").exists():
        return str(Path(home) / "bin" / "nvcc")
    return None


def compile_ptx(arch: int, nvcc: str | None = None) -> str:
    """Compile the kernel source to PTX for ``sm_<arch>`` with nvcc; prefix the source hash."""
    nvcc = nvcc or find_nvcc()
    if not nvcc:
        raise RuntimeError("nvcc not found (put the CUDA toolkit's bin/ on PATH or set CUDA_HOME)")
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "k.ptx"
        cmd = [nvcc, *NVCC_FLAGS, f"-arch=sm_{arch}", f"-I{KERNEL_DIR}", str(SOURCE), "-o", str(out)]
        r = subprocess.run(cmd, capture_output=True, text=True)
        if r.returncode != 0:
            raise RuntimeError(f"nvcc failed for sm_{arch}:\n{r.stderr.strip()}")
        return f"{HASH_PREFIX}{source_sha256()}\n" + out.read_text()


def regenerate_ptx(nvcc: str | None = None) -> list[Path]:
    """Rewrite the committed PTX files from the sources (atomically, one per arch)."""
    written = []
    for a in ARCHS:
        text = compile_ptx(a, nvcc)
        dst = ptx_path(a)
        atomic_write(dst, text)
        written.append(dst)
    return written


# --------------------------------------------------------------------------- host build (CPU)
_host_lock = threading.Lock()


def build_host_library(out_dir: str | os.PathLike | None = None, cxx: str | None = None) -> ctypes.CDLL:
    """Compile ``backward_warp_host.cpp`` (the kernel's header, for the CPU) and load it."""
    cxx = cxx or os.environ.get("CXX") or shutil.which("g++") or shutil.which("c++")
    if not cxx:
        raise RuntimeError("no C++ compiler (g++/c++) found to build the host warp")
    key = hashlib.sha256((source_sha256() + HOST_SOURCE.read_text()).encode()).hexdigest()[:16]
    out_dir = Path(out_dir or Path(tempfile.gettempdir()) / "filmrt-warp-host")
    out_dir.mkdir(parents=True, exist_ok=True)
    lib = out_dir / f"backward_warp_host-{key}.so"
    with _host_lock:
        if not lib.exists():
            with atomic_path(lib) as tmp:  # the compiler writes beside lib; renamed over it on success
                _compile_host(cxx, tmp)
    return ctypes.CDLL(str(lib))


def _compile_host(cxx: str, out: Path) -> None:
    cmd = [cxx, "-O2", "-std=c++17", "-ffp-contract=off", "-shared", "-fPIC", f"-I{KERNEL_DIR}", str(HOST_SOURCE),
           "-o", str(out)]  # fmt: skip
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode != 0:
        raise RuntimeError(f"host build of the warp failed:\n{r.stderr.strip()}")


def host_warp(lib: ctypes.CDLL, image, flow):
    """Run the host build on numpy arrays: image (N,C,H,W) float32/float16, flow (N,2,H,W)."""
    image = np.ascontiguousarray(image)
    flow = np.ascontiguousarray(flow)
    n, c, h, w = image.shape
    if flow.shape != (n, 2, h, w):
        raise ValueError(f"flow must be {(n, 2, h, w)}, got {flow.shape}")
    fn = getattr(lib, kernel_name(image.dtype.name, flow.dtype.name).replace("_warp_", "_warp_host_"))
    out = np.empty_like(image)
    ptr = ctypes.c_void_p
    fn.argtypes = [ptr, ptr, ctypes.c_int, ctypes.c_int, ctypes.c_int, ctypes.c_int, ptr]
    fn.restype = None
    fn(image.ctypes.data, flow.ctypes.data, n, c, h, w, out.ctypes.data)
    return out


# --------------------------------------------------------------------------- CUDA driver (run time)
class CudaError(RuntimeError):
    pass


class _Driver:
    """The few CUDA driver calls the launcher needs, through ctypes."""

    def __init__(self, library: str | None = None):
        names = (
            [library]
            if library
            else (["nvcuda.dll"] if sys.platform == "win32" else ["libcuda.so.1", "libcuda.so"])
        )
        last = None
        for n in names:
            try:
                self.lib = ctypes.CDLL(n)
                break
            except OSError as e:
                last = e
        else:
            raise CudaError(f"CUDA driver library not found ({last})")
        L = self.lib
        vp = ctypes.c_void_p
        L.cuInit.argtypes = [ctypes.c_uint]
        L.cuDriverGetVersion.argtypes = [ctypes.POINTER(ctypes.c_int)]
        L.cuDeviceGet.argtypes = [ctypes.POINTER(ctypes.c_int), ctypes.c_int]
        L.cuDevicePrimaryCtxRetain.argtypes = [ctypes.POINTER(vp), ctypes.c_int]
        L.cuCtxGetCurrent.argtypes = [ctypes.POINTER(vp)]
        L.cuCtxSetCurrent.argtypes = [vp]
        L.cuModuleLoadData.argtypes = [ctypes.POINTER(vp), ctypes.c_char_p]
        L.cuModuleGetFunction.argtypes = [ctypes.POINTER(vp), vp, ctypes.c_char_p]
        L.cuLaunchKernel.argtypes = [vp] + [ctypes.c_uint] * 7 + [vp, ctypes.POINTER(vp), ctypes.POINTER(vp)]
        L.cuGetErrorString.argtypes = [ctypes.c_int, ctypes.POINTER(ctypes.c_char_p)]
        self.check(L.cuInit(0), "cuInit")
        self._ctx: dict[int, ctypes.c_void_p] = {}

    def check(self, rc: int, what: str) -> None:
        if rc != 0:
            s = ctypes.c_char_p()
            self.lib.cuGetErrorString(rc, ctypes.byref(s))
            msg = s.value.decode() if s.value else "unknown error"
            raise CudaError(f"{what} failed: CUDA error {rc} ({msg})")

    def version(self) -> int:
        v = ctypes.c_int()
        self.check(self.lib.cuDriverGetVersion(ctypes.byref(v)), "cuDriverGetVersion")
        return v.value

    def make_current(self, device_index: int) -> ctypes.c_void_p | None:
        """Make the device's primary context (the one PyTorch uses) current on this thread;
        returns the previously current context when it was another one (to restore), else None."""
        ctx = self._ctx.get(device_index)
        if ctx is None:
            dev = ctypes.c_int()
            self.check(self.lib.cuDeviceGet(ctypes.byref(dev), device_index), "cuDeviceGet")
            ctx = ctypes.c_void_p()
            self.check(
                self.lib.cuDevicePrimaryCtxRetain(ctypes.byref(ctx), dev.value), "cuDevicePrimaryCtxRetain"
            )
            self._ctx[device_index] = ctx
        cur = ctypes.c_void_p()
        self.check(self.lib.cuCtxGetCurrent(ctypes.byref(cur)), "cuCtxGetCurrent")
        if cur.value != ctx.value:
            self.check(self.lib.cuCtxSetCurrent(ctx), "cuCtxSetCurrent")
            return cur
        return None

    def restore(self, prev: ctypes.c_void_p | None) -> None:
        if prev is not None:
            self.check(self.lib.cuCtxSetCurrent(prev), "cuCtxSetCurrent")

    def load(self, ptx: str) -> ctypes.c_void_p:
        mod = ctypes.c_void_p()
        self.check(self.lib.cuModuleLoadData(ctypes.byref(mod), ptx.encode() + b"\0"), "cuModuleLoadData")
        return mod

    def function(self, module: ctypes.c_void_p, name: str) -> ctypes.c_void_p:
        fn = ctypes.c_void_p()
        self.check(
            self.lib.cuModuleGetFunction(ctypes.byref(fn), module, name.encode()), "cuModuleGetFunction"
        )
        return fn

    def launch(self, fn, grid, block, stream: int, args: list) -> None:
        params = (ctypes.c_void_p * len(args))(*[ctypes.cast(ctypes.byref(a), ctypes.c_void_p) for a in args])
        self.check(
            self.lib.cuLaunchKernel(fn, *grid, *block, 0, ctypes.c_void_p(stream), params, None),
            "cuLaunchKernel(BackwardWarp)",
        )


@functools.lru_cache(maxsize=1)
def _driver() -> _Driver:
    return _Driver()


def nvrtc_ptx(arch: int) -> str:
    """Compile the kernel with NVRTC (the libnvrtc shipped with PyTorch's CUDA wheels or the
    toolkit) for ``compute_<arch>``: PTX of the ISA the local CUDA version understands."""
    lib = None
    for n in ("libnvrtc.so.13", "libnvrtc.so.12", "libnvrtc.so.11.2", "libnvrtc.so", "nvrtc64_120_0.dll"):
        try:
            lib = ctypes.CDLL(n)
            break
        except OSError:
            continue
    if lib is None:
        raise CudaError("NVRTC (libnvrtc) not found: cannot compile the warp kernel for this driver")
    header = HEADER.read_text()
    src = SOURCE.read_text().replace('#include "backward_warp.h"', header)
    vp = ctypes.c_void_p
    prog = vp()

    def check(rc, what):
        if rc != 0:
            raise CudaError(f"NVRTC {what} failed with code {rc}")

    check(
        lib.nvrtcCreateProgram(ctypes.byref(prog), src.encode(), b"backward_warp.cu", 0, None, None), "create"
    )
    opts = [f"--gpu-architecture=compute_{arch}".encode(), b"--fmad=false", b"-std=c++14"]
    arr = (ctypes.c_char_p * len(opts))(*opts)
    rc = lib.nvrtcCompileProgram(prog, len(opts), arr)
    if rc != 0:
        size = ctypes.c_size_t()
        lib.nvrtcGetProgramLogSize(prog, ctypes.byref(size))
        log = ctypes.create_string_buffer(size.value)
        lib.nvrtcGetProgramLog(prog, log)
        lib.nvrtcDestroyProgram(ctypes.byref(prog))
        raise CudaError(f"NVRTC could not compile the warp kernel:\n{log.value.decode(errors='replace')}")
    size = ctypes.c_size_t()
    check(lib.nvrtcGetPTXSize(prog, ctypes.byref(size)), "GetPTXSize")
    buf = ctypes.create_string_buffer(size.value)
    check(lib.nvrtcGetPTX(prog, buf), "GetPTX")
    lib.nvrtcDestroyProgram(ctypes.byref(prog))
    return f"{HASH_PREFIX}{source_sha256()}\n" + buf.value.decode()


def ptx_for_device(arch: int, driver_version: int | None) -> str:
    """The PTX to use on a device of compute capability ``arch`` (e.g. 90) under a driver:
    the committed one when the driver can load its ISA, else an NVRTC build.
    ``FILMRT_WARP_PTX=nvrtc`` forces NVRTC, ``=committed`` forces the committed PTX."""
    mode = os.environ.get("FILMRT_WARP_PTX", "auto")
    if mode != "nvrtc":
        ptx = committed_ptx(arch)
        if (
            mode == "committed"
            or driver_version is None
            or driver_version >= min_driver_for_isa(ptx_isa_version(ptx))
        ):
            return ptx
    return nvrtc_ptx(min(arch, max(ARCHS)) if arch >= 80 else arch)


# --------------------------------------------------------------------------- PyTorch launcher
_functions: dict[tuple[int, str], ctypes.c_void_p] = {}
_fn_lock = threading.Lock()


def _function(device_index: int, name: str):
    drv = _driver()
    key = (device_index, name)
    fn = _functions.get(key)
    if fn is None:
        with _fn_lock:
            fn = _functions.get(key)
            if fn is None:
                prev = drv.make_current(device_index)
                try:
                    major, minor = torch.cuda.get_device_capability(device_index)
                    arch = 10 * major + minor
                    ptx = ptx_for_device(arch, drv.version())
                    try:
                        mod = drv.load(ptx)
                    except CudaError:
                        if os.environ.get("FILMRT_WARP_PTX") == "committed":
                            raise
                        mod = drv.load(nvrtc_ptx(min(arch, max(ARCHS))))  # e.g. unsupported PTX version
                    for n in ("f32_f32", "f16_f32", "f16_f16", "f32_f16"):
                        _functions[(device_index, f"filmrt_backward_warp_{n}")] = drv.function(
                            mod, f"filmrt_backward_warp_{n}"
                        )
                finally:
                    drv.restore(prev)
                fn = _functions[key]
    return drv, fn


def kernel_args(image_ptr: int, flow_ptr: int, n: int, c: int, h: int, w: int, out_ptr: int) -> list:
    """ctypes values of the kernel's arguments, in order: (image, flow, N, C, H, W, out)."""
    p, i = ctypes.c_void_p, ctypes.c_int
    return [p(image_ptr), p(flow_ptr), i(n), i(c), i(h), i(w), p(out_ptr)]


def warp_cuda(image, flow):
    """BackwardWarp of CUDA tensors with the kernel, on the current stream (not differentiable:
    with autograd recording it defers to ``warp_grid_sample``). Same contract as
    :func:`filmrt.warp.backward_warp`. bfloat16 images also go to grid_sample (no kernel)."""
    if (
        image.dim() != 4
        or flow.dim() != 4
        or image.shape[0] != flow.shape[0]
        or flow.shape[1] != 2
        or image.shape[-2:] != flow.shape[-2:]
    ):
        raise ValueError(
            f"warp needs image (N,C,H,W) and flow (N,2,H,W) of the same N, H, W; "
            f"got {tuple(image.shape)} and {tuple(flow.shape)}"
        )
    if (
        not image.is_cuda
        or image.dtype not in (torch.float32, torch.float16)
        or (torch.is_grad_enabled() and (image.requires_grad or flow.requires_grad))
    ):
        return warp_grid_sample(image, flow)
    if flow.dtype not in (torch.float32, torch.float16):
        flow = flow.float()
    flow = flow.to(image.device).contiguous()
    image = image.contiguous()
    out = torch.empty_like(image, memory_format=torch.contiguous_format)
    launch_into(image, flow, out, torch.cuda.current_stream(image.device).cuda_stream)
    return out


def launch_into(image, flow, out, stream: int) -> None:
    """Launch the kernel on contiguous CUDA tensors (image/out float32 or float16 alike, flow
    float32 or float16) on the raw CUDA stream handle ``stream``. No checks beyond shapes."""
    n, c, h, w = image.shape
    if tuple(out.shape) != (n, c, h, w) or tuple(flow.shape) != (n, 2, h, w):
        raise ValueError(
            f"shapes: image {tuple(image.shape)}, flow {tuple(flow.shape)}, out {tuple(out.shape)}"
        )
    if out.numel() == 0:
        return
    dev = image.device.index if image.device.index is not None else torch.cuda.current_device()
    drv, fn = _function(dev, kernel_name(str(image.dtype), str(flow.dtype)))
    grid, block = launch_config(n, h, w)
    args = kernel_args(image.data_ptr(), flow.data_ptr(), n, c, h, w, out.data_ptr())
    prev = drv.make_current(dev)  # normally already current (PyTorch's device): no switch
    try:
        drv.launch(fn, grid, block, int(stream), args)
    finally:
        drv.restore(prev)


def available() -> tuple[bool, str]:
    """Can :func:`warp_cuda` run here? (ok, reason when not)."""
    if not torch.cuda.is_available():
        return False, "PyTorch sees no CUDA GPU"
    major, _ = torch.cuda.get_device_capability()
    if major < 8:
        return False, f"the warp kernel's PTX targets compute capability >= 8.0 (this GPU: {major}.x)"
    try:
        _driver()
    except (CudaError, OSError, AttributeError) as e:
        return False, str(e)
    return True, ""


def _main(argv: list[str] | None = None) -> int:
    import argparse

    p = argparse.ArgumentParser(
        prog="python -m filmrt.engine.cuda.warp_kernel", description=__doc__.split("\n")[0]
    )
    p.add_argument("--regenerate", action="store_true", help="recompile the committed PTX with nvcc")
    p.add_argument("--check", action="store_true", help="exit 1 if the committed PTX is out of date")
    args = p.parse_args(argv)
    if args.regenerate:
        for path in regenerate_ptx():
            print(f"wrote {path}")
    state = ptx_up_to_date()
    for a, ok in state.items():
        print(f"sm_{a}: {'up to date' if ok else 'OUT OF DATE'}")
    return 0 if (not args.check or all(state.values())) else 1


if __name__ == "__main__":
    sys.exit(_main())

"""The BackwardWarp kernel (engine/cuda/kernels): sources, committed PTX, and its arithmetic.

Without a GPU, the kernel's math is checked through the host build of the same header
(``backward_warp_host.cpp``, compiled here with g++) against the golden fixture and against
``filmrt.warp.warp_grid_sample``. The GPU tests at the end run the PTX itself and skip without CUDA.
"""

from __future__ import annotations

import re
import shutil
import subprocess

import numpy as np
import pytest
import torch

from filmrt.engine.cuda import warp_kernel as wk
from filmrt.warp import warp_grid_sample

ENTRY_POINTS = [f"filmrt_backward_warp_{i}_{f}" for i in ("f32", "f16") for f in ("f32", "f16")]
needs_cxx = pytest.mark.skipif(not (shutil.which("g++") or shutil.which("c++")), reason="no C++ compiler")
needs_gpu = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU (PyTorch sees none)")


@pytest.fixture(scope="module")
def host(tmp_path_factory):
    if not (shutil.which("g++") or shutil.which("c++")):
        pytest.skip("no C++ compiler to build the host warp")
    return wk.build_host_library(tmp_path_factory.mktemp("warp-host"))


def _fixture(shared):
    d = np.load(shared / "fixtures" / "warp" / "warp_io.npz")
    nchw = lambda a: np.ascontiguousarray(a.transpose(0, 3, 1, 2))  # noqa: E731
    return nchw(d["image"]), nchw(d["flow"]), nchw(d["warped"])


def _torch_ref(image: np.ndarray, flow: np.ndarray) -> np.ndarray:
    return warp_grid_sample(torch.from_numpy(image), torch.from_numpy(flow)).numpy()


# ----------------------------------------------------------------- sources and committed PTX
def test_committed_ptx_matches_sources_for_every_arch():
    want = wk.source_sha256()
    for arch in wk.ARCHS:
        ptx = wk.ptx_path(arch).read_text()
        assert wk.ptx_source_hash(ptx) == want, (
            f"sm_{arch} PTX is stale: run `python -m filmrt.engine.cuda.warp_kernel --regenerate`"
        )
        assert re.search(rf"^\.target sm_{arch}\b", ptx, re.M)
        for name in ENTRY_POINTS:
            assert re.search(rf"^\.visible \.entry {name}\(", ptx, re.M), name
        # (image, flow, N, C, H, W, out): two pointers, four int32, one pointer
        params = re.search(rf"\.entry {ENTRY_POINTS[0]}\((.*?)\)", ptx, re.S).group(1)
        kinds = re.findall(r"\.param \.(u64|u32|b32|s32)", params)
        assert kinds == ["u64", "u64", "u32", "u32", "u32", "u32", "u64"], kinds
    assert wk.ptx_up_to_date() == {a: True for a in wk.ARCHS}


def test_source_hash_changes_with_the_source(tmp_path, monkeypatch):
    h0 = wk.source_sha256()
    src = tmp_path / "backward_warp.cu"
    src.write_text(wk.SOURCE.read_text() + "\n// edit\n")
    monkeypatch.setattr(wk, "SOURCE", src)
    assert wk.source_sha256() != h0
    assert not any(wk.ptx_up_to_date().values())


@pytest.mark.skipif(wk.find_nvcc() is None, reason="nvcc not installed")
def test_nvcc_produces_ptx_for_sm80_to_sm90():
    for arch in wk.ARCHS:
        ptx = wk.compile_ptx(arch)
        assert wk.ptx_source_hash(ptx) == wk.source_sha256()
        assert re.search(rf"^\.target sm_{arch}\b", ptx, re.M)
        assert all(f".entry {n}(" in ptx for n in ENTRY_POINTS)
        committed = wk.ptx_path(arch).read_text()
        build_id = lambda s: re.search(r"Compiler Build ID: (\S+)", s).group(1)  # noqa: E731
        if build_id(ptx) == build_id(committed):
            # same compiler: the committed file is exactly what the sources compile to
            assert ptx == committed, f"sm_{arch}: committed PTX differs from a fresh nvcc build"


@pytest.mark.skipif(shutil.which("ptxas") is None, reason="ptxas (CUDA toolkit) not installed")
def test_committed_ptx_assembles_for_its_arch_without_spills(tmp_path):
    # ptxas does what the driver's JIT does when it loads the PTX (and TensorRT when it loads an
    # AOT plugin): assemble it for the GPU. No spills; <= 64 registers keeps 256-thread blocks at
    # >= 50% occupancy.
    for arch in wk.ARCHS:
        r = subprocess.run(
            ["ptxas", "-v", f"-arch=sm_{arch}", str(wk.ptx_path(arch)), "-o", str(tmp_path / f"k{arch}.cubin")],
            capture_output=True,
            text=True,
        )
        assert r.returncode == 0, r.stderr
        assert (tmp_path / f"k{arch}.cubin").stat().st_size > 0
        regs = [int(x) for x in re.findall(r"Used (\d+) registers", r.stderr)]
        assert len(regs) == len(ENTRY_POINTS) and max(regs) <= 64, r.stderr
        assert "0 bytes spill stores" in r.stderr and not re.search(r"[1-9]\d* bytes spill", r.stderr)


@pytest.mark.skipif(wk.find_nvcc() is None, reason="nvcc not installed")
def test_cuda_source_compiles_to_an_object_without_cuda_headers(tmp_path):
    # NVRTC compiles the same file at run time on old drivers: it must need no CUDA header.
    src = wk.SOURCE.read_text()
    assert "#include <" not in src and "#include <" not in wk.HEADER.read_text().replace("#include <math.h>", "")
    r = subprocess.run(
        [wk.find_nvcc(), "-c", "-arch=sm_80", f"-I{wk.KERNEL_DIR}", str(wk.SOURCE), "-o", str(tmp_path / "k.o")],
        capture_output=True,
        text=True,
    )
    assert r.returncode == 0, r.stderr


# ----------------------------------------------------------------- pure helpers
def test_launch_config_covers_the_frame_and_respects_limits():
    grid, block = wk.launch_config(2, 2160, 3840)
    assert block == (32, 8, 1) and grid == (120, 270, 2)
    grid, _ = wk.launch_config(1, 37, 53)
    assert grid == (2, 5, 1)
    grid, _ = wk.launch_config(100000, 8, 8)
    assert grid[2] == 65535  # grid-stride loop over n covers the rest


def test_kernel_names_and_isa_policy(monkeypatch):
    assert wk.kernel_name("float32") == "filmrt_backward_warp_f32_f32"
    assert wk.kernel_name(str(torch.float16), str(torch.float32)) == "filmrt_backward_warp_f16_f32"
    assert wk.kernel_name("float16", "float16") == "filmrt_backward_warp_f16_f16"
    with pytest.raises(ValueError):
        wk.kernel_name("bfloat16")
    isa = wk.ptx_isa_version(wk.committed_ptx(90))
    assert wk.min_driver_for_isa((9, 0)) == 13000 and wk.min_driver_for_isa((8, 4)) == 12040
    # a new enough driver loads the committed PTX; an older one gets an NVRTC build
    monkeypatch.setattr(wk, "nvrtc_ptx", lambda arch: f"nvrtc:{arch}")
    monkeypatch.delenv("FILMRT_WARP_PTX", raising=False)
    assert wk.ptx_for_device(90, wk.min_driver_for_isa(isa)) == wk.committed_ptx(90)
    assert wk.ptx_for_device(86, wk.min_driver_for_isa(isa) - 10) == "nvrtc:86"
    assert wk.ptx_for_device(120, 1) == "nvrtc:90"
    assert wk.committed_ptx(120) == wk.committed_ptx(90)
    with pytest.raises(ValueError):
        wk.committed_ptx(75)
    monkeypatch.setenv("FILMRT_WARP_PTX", "committed")
    assert wk.ptx_for_device(90, 1) == wk.committed_ptx(90)
    monkeypatch.setenv("FILMRT_WARP_PTX", "nvrtc")
    assert wk.ptx_for_device(90, 99999) == "nvrtc:90"


def test_fast_warp_uses_the_kernel_only_with_a_gpu_and_registers_nothing():
    from filmrt.engine.cuda import fast as cuda_fast
    from filmrt.warp import warp_impls

    before = warp_impls()
    ok, why = wk.available()
    fast = cuda_fast.apply(torch.nn.Identity(), torch.device("cuda"), "warp")
    assert (fast.warp is wk.warp_cuda) == ok and (fast.applied == ["warp"]) == ok
    if not ok:
        assert why and fast.skipped["warp"] == why
    assert warp_impls() == before and "cuda_kernel" not in warp_impls()  # chosen per call, never registered


# ----------------------------------------------------------------- the kernel's math, on the CPU
def test_host_build_matches_reference_fixture(host, shared):
    image, flow, warped = _fixture(shared)
    out = wk.host_warp(host, image, flow)
    assert out.dtype == np.float32 and out.shape == warped.shape
    assert np.abs(out - warped).max() <= 1e-5
    h, w = image.shape[-2:]
    assert np.abs(flow[:, 0]).max() > w and np.abs(flow[:, 1]).max() > h  # far out of frame
    # float16 storage, float32 coordinates
    out16 = wk.host_warp(host, image.astype(np.float16), flow)
    assert out16.dtype == np.float16
    assert np.abs(out16.astype(np.float32) - warped).max() <= 2e-3
    # float16 flow (coordinates still computed in float32 after the load)
    flow16 = flow.astype(np.float16)
    ref = _torch_ref(image, flow16.astype(np.float32))
    assert np.abs(wk.host_warp(host, image, flow16) - ref).max() <= 1e-5


@pytest.mark.parametrize(
    "shape,scale",
    [((2, 3, 17, 29), 5.0), ((1, 8, 64, 64), 40.0), ((3, 1, 1, 9), 3.0), ((1, 2, 7, 1), 3.0), ((2, 4, 33, 20), 1e5)],
)
def test_host_build_matches_grid_sample_on_random_inputs(host, shape, scale):
    g = np.random.default_rng(sum(shape))
    n, c, h, w = shape
    image = g.random(shape, dtype=np.float32)
    flow = (g.standard_normal((n, 2, h, w)) * scale).astype(np.float32)
    flow[:, :, :2] = np.float32(1e6)  # rows of far out-of-frame samples
    flow[:, 0, -1] = np.float32(-1e6)
    ref = _torch_ref(image, flow)
    assert np.abs(wk.host_warp(host, image, flow) - ref).max() <= 2e-5
    ref16 = warp_grid_sample(torch.from_numpy(image).half(), torch.from_numpy(flow)).float().numpy()
    out16 = wk.host_warp(host, image.astype(np.float16), flow).astype(np.float32)
    assert np.abs(out16 - ref16).max() <= 1e-3  # at most one float16 rounding step apart


def test_host_build_integer_shift_and_non_finite_flows(host):
    g = np.random.default_rng(0)
    image = g.random((1, 2, 5, 6), dtype=np.float32)
    flow = np.zeros((1, 2, 5, 6), np.float32)
    flow[:, 0] = 2.0
    out = wk.host_warp(host, image, flow)
    assert np.array_equal(out[..., :-2], image[..., 2:])
    assert np.array_equal(out[..., -1], image[..., -1])
    # inf clamps to the border and NaN to pixel 0: the kernel never reads outside the image
    flow[0, 0, 0, 0] = np.inf
    flow[0, 1, 0, 1] = -np.inf
    flow[0, 0, 1, 1] = np.nan
    flow[0, 1, 1, 1] = np.nan
    out = wk.host_warp(host, image, flow)
    assert np.isfinite(out).all()
    assert np.array_equal(out[0, :, 0, 0], image[0, :, 0, -1])
    assert np.array_equal(out[0, :, 1, 1], image[0, :, 0, 0])


def test_host_build_4k_frame_far_out_flows(host):
    g = np.random.default_rng(4)
    n, c, h, w = 1, 2, 2160, 3840
    image = g.random((n, c, h, w), dtype=np.float32)
    flow = (g.standard_normal((n, 2, h, w), dtype=np.float32) * 300).astype(np.float32)
    flow[:, :, ::97] *= 100  # every 97th row far outside the frame
    out = wk.host_warp(host, image, flow)
    ref = _torch_ref(image, flow)
    # grid_sample goes through normalised [-1, 1] coordinates and back, which costs it up to
    # ~W * 2^-24 px of position error; the kernel uses pixel positions directly.
    assert np.abs(out - ref).max() <= 1e-3
    assert np.abs(out - ref).mean() <= 1e-4
    # against float64 positions the kernel is at least as exact as float32 grid_sample
    ref64 = warp_grid_sample(torch.from_numpy(image).double(), torch.from_numpy(flow).double()).numpy()
    assert np.abs(out - ref64).max() <= np.abs(ref - ref64).max()
    # an exact 1-px shift on a 3840-wide frame does not blur (float32 coordinates)
    flow = np.zeros((n, 2, h, w), np.float32)
    flow[:, 0] = 1.0
    out16 = wk.host_warp(host, image.astype(np.float16), flow)
    assert np.array_equal(out16[..., :-1], image.astype(np.float16)[..., 1:])


# ----------------------------------------------------------------- on a GPU (skip without one)
@needs_gpu
@pytest.mark.gpu
def test_gpu_kernel_matches_fixture_and_host_build(host, shared):
    image, flow, warped = _fixture(shared)
    for dt in (torch.float32, torch.float16):
        img = torch.from_numpy(image).to("cuda", dt)
        out = wk.warp_cuda(img, torch.from_numpy(flow).cuda())
        assert out.dtype == dt
        tol = 1e-5 if dt == torch.float32 else 2e-3
        assert (out.float().cpu() - torch.from_numpy(warped)).abs().max().item() <= tol
        host_out = wk.host_warp(host, img.cpu().numpy(), flow)
        # -fmad=false on the GPU, -ffp-contract=off on the host: the same float32 arithmetic
        assert np.array_equal(out.cpu().numpy(), host_out)


@needs_gpu
@pytest.mark.gpu
def test_gpu_kernel_4k_far_out_and_scoped_choice():
    from filmrt.warp import backward_warp, use_warp_impl

    assert wk.available()[0]
    g = torch.Generator(device="cuda").manual_seed(0)
    img = torch.rand(2, 3, 2160, 3840, device="cuda", generator=g)
    flow = torch.randn(2, 2, 2160, 3840, device="cuda", generator=g) * 300
    flow[:, :, ::97] *= 100
    ref = warp_grid_sample(img, flow)
    with use_warp_impl(wk.warp_cuda):  # the kernel, for this block only
        out = backward_warp(img, flow)
    assert (out - ref).abs().max().item() <= 1e-3
    assert torch.equal(backward_warp(img, flow), ref)  # outside the block: the reference again
    with use_warp_impl("grid_sample"):
        assert torch.equal(backward_warp(img, flow), ref)
    out16 = wk.warp_cuda(img.half(), flow)
    assert (out16.float() - warp_grid_sample(img.half(), flow).float()).abs().max().item() <= 2e-3


# ----------------------------------------------------------------- the ctypes launcher, on a stand-in driver
# A tiny C library with the CUDA driver entry points the launcher calls. Its cuLaunchKernel unpacks
# kernelParams exactly as the driver does (an array of pointers to each argument's value) and runs
# the host build of the named kernel on those pointers: on the CPU, "device pointers" are host
# pointers. This checks the launcher's argument marshalling, module/function lookup, context
# handling and error reporting without a GPU.
FAKE_LIBCUDA = r"""
#include <cstring>
#include <string>
extern "C" {
void filmrt_backward_warp_host_f32_f32(const void*, const void*, int, int, int, int, void*);
void filmrt_backward_warp_host_f16_f32(const void*, const void*, int, int, int, int, void*);
void filmrt_backward_warp_host_f16_f16(const void*, const void*, int, int, int, int, void*);
void filmrt_backward_warp_host_f32_f16(const void*, const void*, int, int, int, int, void*);
static std::string ptx;
static void* current = 0;
static unsigned last[8];
static void* last_stream = 0;
int cuInit(unsigned) { return 0; }
int cuDriverGetVersion(int* v) { *v = 13000; return 0; }
int cuDeviceGet(int* d, int i) { *d = i; return 0; }
int cuDevicePrimaryCtxRetain(void** c, int d) { *c = (void*)(long)(0x1000 + d); return 0; }
int cuCtxGetCurrent(void** c) { *c = current; return 0; }
int cuCtxSetCurrent(void* c) { current = c; return 0; }
int cuModuleLoadData(void** m, const void* image) {
    ptx = (const char*)image; *m = &ptx; return ptx.find(".entry") == std::string::npos ? 218 : 0;
}
int cuModuleGetFunction(void** f, void*, const char* name) {
    if (ptx.find(std::string(".entry ") + name + "(") == std::string::npos) return 500;
    *f = strdup(name); return 0;
}
int cuLaunchKernel(void* f, unsigned gx, unsigned gy, unsigned gz, unsigned bx, unsigned by, unsigned bz,
                   unsigned shm, void* stream, void** params, void** extra) {
    unsigned v[8] = {gx, gy, gz, bx, by, bz, shm, (unsigned)(current != 0)};
    memcpy(last, v, sizeof v); last_stream = stream;
    if (extra) return 1;
    const void* img = *(void**)params[0]; const void* flow = *(void**)params[1];
    int n = *(int*)params[2], c = *(int*)params[3], h = *(int*)params[4], w = *(int*)params[5];
    void* out = *(void**)params[6];
    std::string k((const char*)f);
    if (k == "filmrt_backward_warp_f32_f32") filmrt_backward_warp_host_f32_f32(img, flow, n, c, h, w, out);
    else if (k == "filmrt_backward_warp_f16_f32") filmrt_backward_warp_host_f16_f32(img, flow, n, c, h, w, out);
    else if (k == "filmrt_backward_warp_f16_f16") filmrt_backward_warp_host_f16_f16(img, flow, n, c, h, w, out);
    else if (k == "filmrt_backward_warp_f32_f16") filmrt_backward_warp_host_f32_f16(img, flow, n, c, h, w, out);
    else return 98;
    return 0;
}
int cuGetErrorString(int e, const char** s) { *s = e == 500 ? "CUDA_ERROR_NOT_FOUND" : "fake error"; return 0; }
void fake_last_launch(unsigned* out, void** stream) { memcpy(out, last, sizeof last); *stream = last_stream; }
}
"""


@pytest.fixture(scope="module")
def fake_driver(tmp_path_factory):
    if not shutil.which("g++"):
        pytest.skip("no g++ to build the stand-in driver")
    d = tmp_path_factory.mktemp("fake-cuda")
    (d / "fake_cuda.cpp").write_text(FAKE_LIBCUDA)
    lib = d / "libfakecuda.so"
    r = subprocess.run(
        ["g++", "-O1", "-shared", "-fPIC", "-ffp-contract=off", f"-I{wk.KERNEL_DIR}", str(d / "fake_cuda.cpp"),
         str(wk.HOST_SOURCE), "-o", str(lib)],
        capture_output=True,
        text=True,
    )
    assert r.returncode == 0, r.stderr
    return wk._Driver(str(lib))


def test_launcher_marshals_kernel_arguments(fake_driver, shared):
    import ctypes

    drv = fake_driver
    assert drv.version() == 13000
    drv.make_current(0)
    assert drv.make_current(0) is None  # already current: no switch, nothing to restore
    prev = drv.make_current(1)  # another device: switches and hands back the previous context
    assert prev is not None
    drv.restore(prev)
    assert drv.make_current(0) is None
    mod = drv.load(wk.committed_ptx(90))
    image, flow, warped = _fixture(shared)
    for img in (image, image.astype(np.float16)):
        name = wk.kernel_name(img.dtype.name, "float32")
        fn = drv.function(mod, name)
        out = np.zeros_like(img)
        n, c, h, w = img.shape
        grid, block = wk.launch_config(n, h, w)
        drv.launch(fn, grid, block, 0xABC, wk.kernel_args(img.ctypes.data, flow.ctypes.data, n, c, h, w, out.ctypes.data))
        tol = 1e-5 if img.dtype == np.float32 else 2e-3
        assert np.abs(out.astype(np.float32) - warped).max() <= tol
        rec = (ctypes.c_uint * 8)()
        stream = ctypes.c_void_p()
        drv.lib.fake_last_launch(rec, ctypes.byref(stream))
        assert tuple(rec[:6]) == (*grid, *block) and rec[6] == 0 and rec[7] == 1
        assert stream.value == 0xABC
    with pytest.raises(wk.CudaError, match="cuModuleGetFunction.*NOT_FOUND"):
        drv.function(mod, "no_such_kernel")
    with pytest.raises(wk.CudaError, match="cuModuleLoadData"):
        drv.load("not ptx")

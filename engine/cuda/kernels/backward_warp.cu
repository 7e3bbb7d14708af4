// filmrt BackwardWarp CUDA kernels (see backward_warp.h for the contract and the math).
//
// One thread per output pixel (n, y, x), looping over the C channels: the flow is read once and
// the four bilinear weights computed once per pixel; consecutive threads (x) read consecutive flow
// values and write consecutive outputs (coalesced). Launch: block (32, 8, 1) =
// FILMRT_WARP_BLOCK_X x FILMRT_WARP_BLOCK_Y, grid (ceil(W/32), ceil(H/8), N). Every loop is
// grid-stride, so a smaller grid (e.g. N > 65535) is still correct.
//
// Kernel arguments, in the order TensorRT's ahead-of-time plugin launches them (tensor inputs,
// then scalar extra arguments, then tensor outputs):
//   (const T* image, const F* flow, int N, int C, int H, int W, T* out)
// Names: filmrt_backward_warp_<image dtype>_<flow dtype>, dtypes f32 / f16. float16 is handled as
// raw 16-bit storage with PTX conversions, so the source needs no CUDA header (nvcc and NVRTC).
#include "backward_warp.h"

#define FILMRT_WARP_BLOCK_X 32
#define FILMRT_WARP_BLOCK_Y 8
#define FILMRT_WARP_BLOCK (FILMRT_WARP_BLOCK_X * FILMRT_WARP_BLOCK_Y)

namespace filmrt {

typedef unsigned short half_bits;

__device__ __forceinline__ float half_to_float(half_bits h) {
    float f;
    asm("cvt.f32.f16 %0, %1;" : "=f"(f) : "h"(h));
    return f;
}

__device__ __forceinline__ half_bits float_to_half(float f) {
    half_bits h;
    asm("cvt.rn.f16.f32 %0, %1;" : "=h"(h) : "f"(f));
    return h;
}

struct LoadF32 {
    __device__ __forceinline__ float operator()(const float* p, i64 i) const { return __ldg(p + i); }
};
struct LoadF16 {
    __device__ __forceinline__ float operator()(const half_bits* p, i64 i) const {
        return half_to_float(__ldg(p + i));
    }
};
struct StoreF32 {
    __device__ __forceinline__ void operator()(float* p, i64 i, float v) const { p[i] = v; }
};
struct StoreF16 {
    __device__ __forceinline__ void operator()(half_bits* p, i64 i, float v) const { p[i] = float_to_half(v); }
};

template <typename TI, typename TF, typename LoadI, typename LoadF, typename Store>
__device__ __forceinline__ void warp_grid(const TI* __restrict__ image, const TF* __restrict__ flow, int N, int C,
                                          int H, int W, TI* __restrict__ out) {
    for (int n = blockIdx.z; n < N; n += gridDim.z)
        for (int y = blockIdx.y * blockDim.y + threadIdx.y; y < H; y += gridDim.y * blockDim.y)
            for (int x = blockIdx.x * blockDim.x + threadIdx.x; x < W; x += gridDim.x * blockDim.x)
                warp_pixel(image, flow, out, n, y, x, C, H, W, LoadI(), LoadF(), Store());
}

}  // namespace filmrt

using filmrt::half_bits;

extern "C" __global__ void __launch_bounds__(FILMRT_WARP_BLOCK)
filmrt_backward_warp_f32_f32(const float* image, const float* flow, int N, int C, int H, int W, float* out) {
    filmrt::warp_grid<float, float, filmrt::LoadF32, filmrt::LoadF32, filmrt::StoreF32>(image, flow, N, C, H, W, out);
}

extern "C" __global__ void __launch_bounds__(FILMRT_WARP_BLOCK)
filmrt_backward_warp_f16_f32(const half_bits* image, const float* flow, int N, int C, int H, int W, half_bits* out) {
    filmrt::warp_grid<half_bits, float, filmrt::LoadF16, filmrt::LoadF32, filmrt::StoreF16>(image, flow, N, C, H, W,
                                                                                           out);
}

extern "C" __global__ void __launch_bounds__(FILMRT_WARP_BLOCK)
filmrt_backward_warp_f16_f16(const half_bits* image, const half_bits* flow, int N, int C, int H, int W,
                             half_bits* out) {
    filmrt::warp_grid<half_bits, half_bits, filmrt::LoadF16, filmrt::LoadF16, filmrt::StoreF16>(image, flow, N, C, H,
                                                                                               W, out);
}

extern "C" __global__ void __launch_bounds__(FILMRT_WARP_BLOCK)
filmrt_backward_warp_f32_f16(const float* image, const half_bits* flow, int N, int C, int H, int W, float* out) {
    filmrt::warp_grid<float, half_bits, filmrt::LoadF32, filmrt::LoadF16, filmrt::StoreF32>(image, flow, N, C, H, W,
                                                                                           out);
}

// Host (CPU) build of the BackwardWarp math in backward_warp.h, for tests and the benchmark's
// CPU check: the same per-pixel arithmetic as the CUDA kernel, compiled by a plain C++ compiler
// (built with -ffp-contract=off, matching nvcc -fmad=false used for the PTX). float16 storage is
// _Float16 (round-to-nearest-even on store, like cvt.rn.f16.f32 on the GPU).
//
// Same arguments as the kernels: (image, flow, N, C, H, W, out), contiguous NCHW.
#include "backward_warp.h"

namespace {

template <typename T>
struct Load {
    float operator()(const T* p, filmrt::i64 i) const { return (float)p[i]; }
};
template <typename T>
struct Store {
    void operator()(T* p, filmrt::i64 i, float v) const { p[i] = (T)v; }
};

template <typename TI, typename TF>
void warp_all(const TI* image, const TF* flow, int N, int C, int H, int W, TI* out) {
    for (int n = 0; n < N; ++n)
        for (int y = 0; y < H; ++y)
            for (int x = 0; x < W; ++x)
                filmrt::warp_pixel(image, flow, out, n, y, x, C, H, W, Load<TI>(), Load<TF>(), Store<TI>());
}

}  // namespace

extern "C" {

void filmrt_backward_warp_host_f32_f32(const float* image, const float* flow, int N, int C, int H, int W, float* out) {
    warp_all(image, flow, N, C, H, W, out);
}

void filmrt_backward_warp_host_f16_f32(const _Float16* image, const float* flow, int N, int C, int H, int W,
                                       _Float16* out) {
    warp_all(image, flow, N, C, H, W, out);
}

void filmrt_backward_warp_host_f16_f16(const _Float16* image, const _Float16* flow, int N, int C, int H, int W,
                                       _Float16* out) {
    warp_all(image, flow, N, C, H, W, out);
}

void filmrt_backward_warp_host_f32_f16(const float* image, const _Float16* flow, int N, int C, int H, int W,
                                       float* out) {
    warp_all(image, flow, N, C, H, W, out);
}

}  // extern "C"

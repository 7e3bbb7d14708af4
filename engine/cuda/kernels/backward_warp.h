// filmrt BackwardWarp: per-pixel math shared by the CUDA kernel and a host (CPU) build.
//
// warp(image, flow)[n, c, y, x] = bilinear(image[n, c], x + dx[n, y, x], y + dy[n, y, x])
//
// image: (N, C, H, W) contiguous, float32 or float16 storage; flow: (N, 2, H, W) contiguous,
// channel 0 = dx, channel 1 = dy, in pixels; out: like image. The sample position is clamped to
// [0, W-1] x [0, H-1] (border replication), exactly like grid_sample(bilinear, border,
// align_corners=True). Coordinates and weights are always float32: float16 cannot address pixels
// exactly beyond 2048. Offsets are 64-bit, so N*C*H*W may exceed 2^31 (4K frames, many channels).
//
// Everything here is `__host__ __device__` so that the same arithmetic is compiled by nvcc for the
// GPU and by a plain C++ compiler for the CPU test build (engine/kernels/backward_warp_host.cpp).
#ifndef FILMRT_BACKWARD_WARP_H
#define FILMRT_BACKWARD_WARP_H

#if !defined(__CUDACC_RTC__)
#include <math.h>
#endif

#if defined(__CUDACC__) || defined(__CUDACC_RTC__)
#define FILMRT_HD __host__ __device__ __forceinline__
#else
#define FILMRT_HD inline
#endif

namespace filmrt {

typedef long long i64;

// Bilinear taps of one sample position along one axis: indices i0 <= i1 and the weight of i1.
struct Taps {
    i64 i0, i1;
    float w1;
};

// Clamp a float32 position to [0, n-1] and split it into its two taps. NaN clamps to 0 (fmaxf
// returns the non-NaN operand), so no input can make the kernel read out of bounds.
FILMRT_HD Taps border_taps(float pos, int n) {
    const float hi = (float)(n - 1);
    float p = fminf(fmaxf(pos, 0.0f), hi);
    float f = floorf(p);
    Taps t;
    t.i0 = (i64)f;
    t.i1 = t.i0 + 1 < (i64)n ? t.i0 + 1 : (i64)(n - 1);
    t.w1 = p - f;
    return t;
}

// Sample position of output pixel (x, y) displaced by (dx, dy) pixels, in float32.
FILMRT_HD float sample_pos(int i, float d) { return (float)i + d; }

// The four bilinear weights and offsets (within one H*W plane) of one output pixel.
struct Bilinear {
    i64 o00, o01, o10, o11;  // (y0,x0) (y0,x1) (y1,x0) (y1,x1)
    float w00, w01, w10, w11;
};

FILMRT_HD Bilinear bilinear_at(int x, int y, float dx, float dy, int H, int W) {
    Taps tx = border_taps(sample_pos(x, dx), W);
    Taps ty = border_taps(sample_pos(y, dy), H);
    const float wx0 = 1.0f - tx.w1, wy0 = 1.0f - ty.w1;
    Bilinear b;
    b.o00 = ty.i0 * W + tx.i0;
    b.o01 = ty.i0 * W + tx.i1;
    b.o10 = ty.i1 * W + tx.i0;
    b.o11 = ty.i1 * W + tx.i1;
    b.w00 = wy0 * wx0;
    b.w01 = wy0 * tx.w1;
    b.w10 = ty.w1 * wx0;
    b.w11 = ty.w1 * tx.w1;
    return b;
}

// Weighted sum of the four taps of one plane, accumulated in float32 in a fixed order.
FILMRT_HD float blend(const Bilinear& b, float v00, float v01, float v10, float v11) {
    return b.w00 * v00 + b.w01 * v01 + b.w10 * v10 + b.w11 * v11;
}

// One output pixel (n, y, x) for every channel. LOAD(ptr, i) -> float, STORE(ptr, i, float):
// storage conversions (float32 identity, float16 round-to-nearest-even).
template <typename TI, typename TF, typename LoadI, typename LoadF, typename Store>
FILMRT_HD void warp_pixel(const TI* image, const TF* flow, TI* out, int n, int y, int x, int C, int H, int W,
                          LoadI load_i, LoadF load_f, Store store) {
    const i64 hw = (i64)H * (i64)W;
    const i64 pix = (i64)y * W + x;
    const TF* fl = flow + (i64)n * 2 * hw;
    const float dx = load_f(fl, pix);
    const float dy = load_f(fl, hw + pix);
    const Bilinear b = bilinear_at(x, y, dx, dy, H, W);
    i64 plane = (i64)n * C * hw;
    for (int c = 0; c < C; ++c, plane += hw) {
        const TI* src = image + plane;
        float v = blend(b, load_i(src, b.o00), load_i(src, b.o01), load_i(src, b.o10), load_i(src, b.o11));
        store(out + plane, pix, v);
    }
}

}  // namespace filmrt

#endif  // FILMRT_BACKWARD_WARP_H

// cpu_exp.h — exp(x) for the CPU backend's softmax loops, eight or sixteen lanes at a time. libm's expf costs about
// 4.7 ns per call on the x86-64 baseline and made the vocabulary-wide cross-entropy exp-bound; this one is
// Cephes' expf (x = n ln2 + r with |r| <= ln2/2, exp(r) by a degree-6 polynomial, 2^n put into the exponent
// bits; relative error below 1e-7) in GCC/Clang vector types, so the same source compiles to SSE2 on the
// baseline and to AVX2 (and AVX-512) in target clones. No step uses a fused multiply-add (the library is built with
// -ffp-contract=off), so every lane, the scalar tail and every clone give bit-identical results: a machine's
// results never depend on which clone it picks.
// Below -87.33 the result is 0, above 88 it is +inf (libm gives 0 and inf from about -103 and 88.7; the results
// in between are below FLT_MIN or above 1.6e38, where no caller's result changes by more than a denormal); NaN propagates.
// exp_sum and row_max are the softmax building blocks; they are inlined into each caller's target clones.
#pragma once

#include "cpu_common.h"

#include <cstdint>
#include <cstring>
#include <limits>

namespace lp::cpu {

namespace exp_detail {
constexpr float kLog2e = 1.44269504088896341f;
constexpr float kLn2Hi = 0.693359375f;      // ln 2 split so that n * kLn2Hi is exact for |n| < 2^9
constexpr float kLn2Lo = -2.12194440e-4f;
constexpr float kUnderflow = -87.33f;       // exp(x) < FLT_MIN below: returned as 0
constexpr float kOverflow = 88.0f;          // 2^n must stay a finite f32 (n <= 127): returned as +inf above
constexpr float kP0 = 1.9875691500e-4f, kP1 = 1.3981999507e-3f, kP2 = 8.3334519073e-3f, kP3 = 4.1665795894e-2f, kP4 = 1.6666665459e-1f,
                kP5 = 5.0000001201e-1f;
}  // namespace exp_detail

// The scalar form, step for step what every vector lane computes (used for row tails).
inline float exp_poly(float x) {
    using namespace exp_detail;
    const bool under = x < kUnderflow, over = x > kOverflow;
    const float v = under ? kUnderflow : over ? kOverflow : x;
    const float t = v * kLog2e + 0.5f;
    int32_t n = static_cast<int32_t>(t);            // truncation, then floor: n = round(v log2 e)
    if (static_cast<float>(n) > t) n -= 1;
    const float fn = static_cast<float>(n);
    const float r = v - fn * kLn2Hi - fn * kLn2Lo;
    float p = kP0;
    p = p * r + kP1;
    p = p * r + kP2;
    p = p * r + kP3;
    p = p * r + kP4;
    p = p * r + kP5;
    p = p * r * r + r + 1.0f;
    const int32_t bits = (n + 127) << 23;
    float scale;
    std::memcpy(&scale, &bits, sizeof scale);
    return under ? 0.0f : over ? std::numeric_limits<float>::infinity() : p * scale;
}

#if defined(__GNUC__)
#define LP_CPU_HAS_VEC8 1
// For every file that includes this one: the vector types are only passed to and returned from always-inlined
// helpers, never across a real call, so GCC's note that their calling convention differs with AVX does not apply.
#pragma GCC diagnostic ignored "-Wpsabi"
typedef float f32x8 __attribute__((vector_size(32)));
typedef int32_t i32x8 __attribute__((vector_size(32)));

typedef float f32x16 __attribute__((vector_size(64)));
typedef int32_t i32x16 __attribute__((vector_size(64)));

// The lanes of a V (f32x8 or f32x16) from p, and back (any alignment).
template <class V>
LP_CPU_INLINE V load_lanes(const float* p) {
    V v;
    std::memcpy(&v, p, sizeof v);
    return v;
}

template <class V>
LP_CPU_INLINE void store_lanes(float* p, V v) { std::memcpy(p, &v, sizeof v); }

LP_CPU_INLINE f32x8 load8(const float* p) { return load_lanes<f32x8>(p); }
LP_CPU_INLINE void store8(float* p, f32x8 v) { store_lanes(p, v); }

// exp_poly on every lane of F (f32x8 or f32x16; I the matching integer vector).
template <class F, class I>
LP_CPU_INLINE F exp_poly_lanes(F x) {
    using namespace exp_detail;
    const I under = x < kUnderflow, over = x > kOverflow;
    const F v = under ? F{} + kUnderflow : over ? F{} + kOverflow : x;
    const F t = v * kLog2e + 0.5f;
    I n = __builtin_convertvector(t, I);
    n = __builtin_convertvector(n, F) > t ? n - 1 : n;
    const F fn = __builtin_convertvector(n, F);
    const F r = v - fn * kLn2Hi - fn * kLn2Lo;
    F p = F{} + kP0;
    p = p * r + kP1;
    p = p * r + kP2;
    p = p * r + kP3;
    p = p * r + kP4;
    p = p * r + kP5;
    p = p * r * r + r + 1.0f;
    const I bits = (n + 127) << 23;
    F scale;
    std::memcpy(&scale, &bits, sizeof scale);
    return under ? F{} : over ? F{} + std::numeric_limits<float>::infinity() : p * scale;
}

LP_CPU_INLINE f32x8 exp_poly8(f32x8 x) { return exp_poly_lanes<f32x8, i32x8>(x); }
LP_CPU_INLINE f32x16 exp_poly16(f32x16 x) { return exp_poly_lanes<f32x16, i32x16>(x); }
#endif

// Elements summed in f32 per lane before the lane's f64 accumulator takes them (32 terms per lane).
constexpr int64_t kExpSumBlock = 256;

// sum_j exp(row[j] - shift) over j < n; with kStore each term is also written to out[j] (out may alias row).
// Element j goes to lane j % 8, summed in f32 within blocks of kExpSumBlock elements and in f64 across blocks,
// and the lanes are added in a fixed order: the same bits for every thread count, machine and target clone.
// kWide takes sixteen elements a step (for an AVX-512 target: GCC lowers 64-byte vectors poorly to AVX2, where the
// eight-lane step is the faster); both give the same bits.
template <bool kStore, bool kWide = false>
LP_CPU_INLINE double exp_sum(const float* row, float shift, float* out, int64_t n) {
    double lanes[8] = {0, 0, 0, 0, 0, 0, 0, 0};
    const int64_t n8 = n - n % 8;
    for (int64_t b = 0; b < n8; b += kExpSumBlock) {
        const int64_t end = b + kExpSumBlock < n8 ? b + kExpSumBlock : n8;
#if LP_CPU_HAS_VEC8
        // kWide: sixteen elements a step, their halves added to the eight lane sums one after the other (the order
        // of eight elements a step).
        f32x8 acc = {};
        int64_t j = b;
        for (; kWide && j + 16 <= end; j += 16) {
            const f32x16 e = exp_poly16(load_lanes<f32x16>(row + j) - shift);
            if (kStore) store_lanes(out + j, e);
            acc += __builtin_shufflevector(e, e, 0, 1, 2, 3, 4, 5, 6, 7);
            acc += __builtin_shufflevector(e, e, 8, 9, 10, 11, 12, 13, 14, 15);
        }
        for (; j < end; j += 8) {
            const f32x8 e = exp_poly8(load8(row + j) - shift);
            if (kStore) store8(out + j, e);
            acc += e;
        }
        for (int k = 0; k < 8; ++k) lanes[k] += acc[k];
#else
        float acc[8] = {0, 0, 0, 0, 0, 0, 0, 0};
        for (int64_t j = b; j < end; j += 8)
            for (int k = 0; k < 8; ++k) {
                const float e = exp_poly(row[j + k] - shift);
                if (kStore) out[j + k] = e;
                acc[k] += e;
            }
        for (int k = 0; k < 8; ++k) lanes[k] += acc[k];
#endif
    }
    for (int64_t j = n8; j < n; ++j) {
        const float e = exp_poly(row[j] - shift);
        if (kStore) out[j] = e;
        lanes[j % 8] += e;
    }
    return ((lanes[0] + lanes[1]) + (lanes[2] + lanes[3])) + ((lanes[4] + lanes[5]) + (lanes[6] + lanes[7]));
}

// max_j row[j] over j < n, n >= 1 (a NaN in row[0] propagates; elsewhere exp_sum carries it into the sum).
LP_CPU_INLINE float row_max(const float* row, int64_t n) {
    float mx = row[0];
    int64_t j = 1;
#if LP_CPU_HAS_VEC8
    if (n >= 16) {
        f32x8 m = load8(row);
        for (j = 8; j + 8 <= n; j += 8) {
            const f32x8 v = load8(row + j);
            m = v > m ? v : m;
        }
        for (int k = 0; k < 8; ++k) mx = m[k] > mx ? m[k] : mx;
    }
#endif
    for (; j < n; ++j) mx = row[j] > mx ? row[j] : mx;
    return mx;
}

}  // namespace lp::cpu

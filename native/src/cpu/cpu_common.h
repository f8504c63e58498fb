// cpu_common.h — helpers shared by the CPU backend's op files: typed tensor access, the row-major
// SGEMM wrapper over OpenBLAS, bf16 -> f32 staging of weights, and the OpenMP conventions.
// Determinism: every reduction of ours sums in an order fixed by the shapes alone (never by the thread
// count); GEMMs are split by shape and thread count (sgemm below). Results are bit-identical from run to run
// for a fixed OMP_NUM_THREADS.
#pragma once

#include "../common/backend.h"
#include "../common/lp_scalar.h"

#include <cblas.h>
#include <omp.h>

#include <algorithm>
#include <climits>
#include <cstdint>
#include <initializer_list>
#include <string>

// A function compiled twice, for the x86-64 baseline and for AVX2, the copy chosen once at load time (GNU ifunc).
// Used for the vectorisable loops (exponentials, dropout draws); each one is written so every copy gives the same bits.
// LP_CPU_CLONES_512 adds an AVX-512 copy, for the loops that gain from it: the dropout hash (native 64-bit multiplies)
// and the vocabulary-wide cross-entropy rows (sixteen exponentials a step). The library is built with
// -ffp-contract=off, so that copy does no multiply-add contraction and rounds as the others do. (The short-row loops of
// SwiGLU and attention stay without it: their eight-lane selects cost more as AVX-512 mask moves, about 15% on SwiGLU.)
#if defined(__GNUC__) && defined(__x86_64__) && defined(__linux__)
#define LP_CPU_CLONES __attribute__((target_clones("avx2", "default")))
#define LP_CPU_CLONES_512 __attribute__((target_clones("arch=x86-64-v4", "avx2", "default")))
#else
#define LP_CPU_CLONES
#define LP_CPU_CLONES_512
#endif

#if defined(__GNUC__)
#define LP_CPU_INLINE __attribute__((always_inline)) inline
#else
#define LP_CPU_INLINE __forceinline
#endif

namespace lp::cpu {

// Elementwise loops below this many elements run on one thread (the fork costs more).
constexpr int64_t kParallelMin = 16384;

inline float* f32(const lp_tensor& t) { return static_cast<float*>(t.data); }
inline const int32_t* i32(const lp_tensor& t) { return static_cast<const int32_t*>(t.data); }
inline uint16_t* u16(const lp_tensor& t) { return static_cast<uint16_t*>(t.data); }

// Row i of a (rows, cols) f32|bf16 matrix converted to f32 into dst (cols elements).
inline void load_row_f32(const lp_tensor& t, int64_t row, int64_t cols, float* dst) {
    if (t.dtype == LP_F32) {
        const float* src = f32(t) + row * cols;
        for (int64_t j = 0; j < cols; ++j) dst[j] = src[j];
    } else {
        const uint16_t* src = u16(t) + row * cols;
        for (int64_t j = 0; j < cols; ++j) dst[j] = bf16_to_f32(src[j]);
    }
}

// Rows [r0, r1) of a (rows, cols) f32|bf16 matrix as f32: a pointer into t when it is f32, else
// the rows converted into `stage` (at least (r1-r0)*cols floats).
inline const float* rows_f32(const lp_tensor& t, int64_t r0, int64_t r1, int64_t cols, float* stage) {
    if (t.dtype == LP_F32) return f32(t) + r0 * cols;
    const uint16_t* src = u16(t) + r0 * cols;
    const int64_t n = (r1 - r0) * cols;
#pragma omp parallel for schedule(static) if (n >= kParallelMin)
    for (int64_t i = 0; i < n; ++i) stage[i] = bf16_to_f32(src[i]);
    return stage;
}

// A size handed to BLAS (32-bit blasint); larger sizes are a valid request OpenBLAS cannot take.
inline blasint blas_int(int64_t v) {
    if (v > INT_MAX) fail(LP_ERR_UNSUPPORTED, "a GEMM dimension or leading dimension of " + std::to_string(v) + " exceeds the 32-bit BLAS interface");
    return static_cast<blasint>(v);
}

// Every size a coming SGEMM will take fits the BLAS interface (call before a parallel region:
// nothing may throw inside one).
inline void check_blas(std::initializer_list<int64_t> sizes) {
    for (int64_t v : sizes) blas_int(v);
}

inline int max_threads() { return omp_get_max_threads(); }

// One SGEMM on the calling thread (OpenBLAS itself is kept single-threaded: see sgemm below).
inline void sgemm_serial(bool ta, bool tb, int64_t m, int64_t n, int64_t k, float alpha, const float* a, int64_t lda, const float* b, int64_t ldb,
                         float beta, float* c, int64_t ldc) {
    cblas_sgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans, blas_int(m), blas_int(n), blas_int(k), alpha, a, blas_int(lda),
                b, blas_int(ldb), beta, c, blas_int(ldc));
}

// GEMMs with fewer multiply-adds than this run on one thread (splitting costs more than it saves).
constexpr double kGemmParallelMin = 262144.0;
// Block boundaries of a split GEMM fall on multiples of this many rows or columns (OpenBLAS micro-tile widths divide it).
constexpr int64_t kGemmSplitAlign = 16;

// Row-major C (m,n) = alpha * op(A) * op(B) + beta * C with leading dimensions lda, ldb, ldc.
// beta == 0 means C is not read (OpenBLAS writes zeros first, so NaNs in C do not propagate).
// Threading: the backend has one thread pool, OpenMP's. OpenBLAS runs single-threaded (set when the
// library loads), and this wrapper splits C into one block of rows (or of columns, when C is wider than
// tall) per OpenMP thread. Two pools on two cores made each wait for the other's spinning threads:
// an SGEMM right after an OpenMP loop ran at half speed. Each element of C is still one OpenBLAS dot
// product over all of k, and the split depends on the shape and the thread count only, so results are
// reproducible for a fixed thread count. Called inside a parallel region, it runs on the calling thread.
inline void sgemm(bool ta, bool tb, int64_t m, int64_t n, int64_t k, float alpha, const float* a, int64_t lda, const float* b, int64_t ldb, float beta,
                  float* c, int64_t ldc) {
    check_blas({m, n, k, lda, ldb, ldc});
    const bool split_m = m >= n;
    const int64_t extent = split_m ? m : n;
    const int64_t parts = std::min<int64_t>(omp_in_parallel() ? 1 : max_threads(), (extent + kGemmSplitAlign - 1) / kGemmSplitAlign);
    if (parts <= 1 || double(m) * double(n) * double(k) < kGemmParallelMin) {
        sgemm_serial(ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
        return;
    }
    // Block p covers [bound(p), bound(p + 1)) of the split dimension.
    auto bound = [&](int64_t p) { return p == parts ? extent : (extent * p / parts) / kGemmSplitAlign * kGemmSplitAlign; };
#pragma omp parallel for schedule(static, 1) num_threads(int(parts))
    for (int64_t p = 0; p < parts; ++p) {
        const int64_t lo = bound(p), hi = bound(p + 1);
        if (hi <= lo) continue;
        if (split_m) {
            // Rows [lo, hi) of C: rows of op(A).
            const float* ab = ta ? a + lo : a + lo * lda;
            sgemm_serial(ta, tb, hi - lo, n, k, alpha, ab, lda, b, ldb, beta, c + lo * ldc, ldc);
        } else {
            // Columns [lo, hi) of C: columns of op(B).
            const float* bb = tb ? b + lo * ldb : b + lo;
            sgemm_serial(ta, tb, m, hi - lo, k, alpha, a, lda, bb, ldb, beta, c + lo, ldc);
        }
    }
}

// Double-precision sums with four interleaved partial sums (fixed order, so deterministic).
inline double sum_f64(const float* x, int64_t n) {
    double s0 = 0, s1 = 0, s2 = 0, s3 = 0;
    int64_t j = 0;
    for (; j + 4 <= n; j += 4) {
        s0 += x[j];
        s1 += x[j + 1];
        s2 += x[j + 2];
        s3 += x[j + 3];
    }
    for (; j < n; ++j) s0 += x[j];
    return (s0 + s1) + (s2 + s3);
}

inline double sumsq_f64(const float* x, int64_t n) {
    double s0 = 0, s1 = 0, s2 = 0, s3 = 0;
    int64_t j = 0;
    for (; j + 4 <= n; j += 4) {
        s0 += double(x[j]) * x[j];
        s1 += double(x[j + 1]) * x[j + 1];
        s2 += double(x[j + 2]) * x[j + 2];
        s3 += double(x[j + 3]) * x[j + 3];
    }
    for (; j < n; ++j) s0 += double(x[j]) * x[j];
    return (s0 + s1) + (s2 + s3);
}

inline double dot_f64(const float* x, const float* y, int64_t n) {
    double s0 = 0, s1 = 0, s2 = 0, s3 = 0;
    int64_t j = 0;
    for (; j + 4 <= n; j += 4) {
        s0 += double(x[j]) * y[j];
        s1 += double(x[j + 1]) * y[j + 1];
        s2 += double(x[j + 2]) * y[j + 2];
        s3 += double(x[j + 3]) * y[j + 3];
    }
    for (; j < n; ++j) s0 += double(x[j]) * y[j];
    return (s0 + s1) + (s2 + s3);
}

// Runs body(begin, end) over [0, count) split into one contiguous range per OpenMP thread (all on the calling
// thread below kParallelMin). For elementwise work, whose result does not depend on the split.
template <class F>
void parallel_ranges(int64_t count, F&& body) {
    if (count < kParallelMin) {
        body(int64_t(0), count);
        return;
    }
#pragma omp parallel
    {
        const int64_t t = omp_get_thread_num(), threads = omp_get_num_threads();
        body(count * t / threads, count * (t + 1) / threads);
    }
}

// Ids/indices must lie in [0, limit): checked before any parallel loop reads them.
inline void check_indices(const int32_t* idx, int64_t n, int64_t limit, const char* name) {
    for (int64_t i = 0; i < n; ++i)
        if (idx[i] < 0 || idx[i] >= limit)
            fail(LP_ERR_INVALID_ARGUMENT, std::string(name) + "[" + std::to_string(i) + "]=" + std::to_string(idx[i]) + " is outside [0," + std::to_string(limit) + ")");
}

}  // namespace lp::cpu

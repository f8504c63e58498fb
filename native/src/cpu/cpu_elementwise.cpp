// cpu_elementwise.cpp — the CPU's elementwise helpers (add, mul, axpy, dtype conversion) and the
// compaction gathers (rows and columns, any dtype, copied by element size).
#include "cpu_common.h"

#include <cstring>

namespace lp::backend {

using namespace lp::cpu;

void add(lp_context* ctx, const lp_tensor& a, const lp_tensor& b, const lp_tensor& out) {
    const int64_t n = numel(a);
    const float* pa = f32(a);
    const float* pb = f32(b);
    float* po = f32(out);  // may alias a or b
#pragma omp parallel for schedule(static) if (n >= kParallelMin)
    for (int64_t i = 0; i < n; ++i) po[i] = pa[i] + pb[i];
}

void mul(lp_context* ctx, const lp_tensor& a, const lp_tensor& b, const lp_tensor& out) {
    const int64_t n = numel(a);
    const float* pa = f32(a);
    const float* pb = f32(b);
    float* po = f32(out);  // may alias a or b
#pragma omp parallel for schedule(static) if (n >= kParallelMin)
    for (int64_t i = 0; i < n; ++i) po[i] = pa[i] * pb[i];
}

void axpy(lp_context* ctx, float alpha, const lp_tensor& x, const lp_tensor& y) {
    const int64_t n = numel(x);
    const float* px = f32(x);
    float* py = f32(y);
#pragma omp parallel for schedule(static) if (n >= kParallelMin)
    for (int64_t i = 0; i < n; ++i) py[i] += alpha * px[i];
}

namespace {

// Reads element i of a float tensor of any float dtype as f32 (exact: f16 and bf16 fit in f32).
inline float read_float(const void* p, int32_t dtype, int64_t i) {
    switch (dtype) {
        case LP_F32: return static_cast<const float*>(p)[i];
        case LP_F16: return f16_to_f32(static_cast<const uint16_t*>(p)[i]);
        default: return bf16_to_f32(static_cast<const uint16_t*>(p)[i]);
    }
}

// Writes v rounded to nearest even into element i of a float tensor of any float dtype.
inline void write_float(void* p, int32_t dtype, int64_t i, float v) {
    switch (dtype) {
        case LP_F32: static_cast<float*>(p)[i] = v; break;
        case LP_F16: static_cast<uint16_t*>(p)[i] = f32_to_f16(v); break;
        default: static_cast<uint16_t*>(p)[i] = f32_to_bf16(v); break;
    }
}

}  // namespace

void convert(lp_context* ctx, const lp_tensor& src, const lp_tensor& dst) {
    const int64_t n = numel(src);
    if (src.dtype == dst.dtype) {
        std::memcpy(dst.data, src.data, size_t(n) * dtype_size(src.dtype));
        return;
    }
    const void* s = src.data;
    void* d = dst.data;
    const int32_t sd = src.dtype, dd = dst.dtype;
#pragma omp parallel for schedule(static) if (n >= kParallelMin)
    for (int64_t i = 0; i < n; ++i) write_float(d, dd, i, read_float(s, sd, i));
}

namespace {

// dst[r, k] = src[r, idx[k]] for a (R, C) source and an (R, K) destination of element type T.
template <class T>
void gather_cols_typed(const T* src, const int32_t* idx, T* dst, int64_t R, int64_t C, int64_t K) {
#pragma omp parallel for schedule(static) if (R * K >= kParallelMin)
    for (int64_t r = 0; r < R; ++r) {
        const T* s = src + r * C;
        T* d = dst + r * K;
        for (int64_t k = 0; k < K; ++k) d[k] = s[idx[k]];
    }
}

}  // namespace

void gather_rows(lp_context* ctx, const lp_tensor& src, const lp_tensor& idx, const lp_tensor& dst) {
    const int64_t R = src.ne[0], C = src.ndim == 2 ? src.ne[1] : 1, K = idx.ne[0];
    const int32_t* id = i32(idx);  // (K)
    check_indices(id, K, R, "idx");
    const size_t row_bytes = size_t(C) * dtype_size(src.dtype);
    const char* s = static_cast<const char*>(src.data);  // (R, C)
    char* d = static_cast<char*>(dst.data);              // (K, C)
#pragma omp parallel for schedule(static) if (K * C >= kParallelMin)
    for (int64_t k = 0; k < K; ++k) std::memcpy(d + size_t(k) * row_bytes, s + size_t(id[k]) * row_bytes, row_bytes);
}

void gather_cols(lp_context* ctx, const lp_tensor& src, const lp_tensor& idx, const lp_tensor& dst) {
    const int64_t R = src.ne[0], C = src.ndim == 2 ? src.ne[1] : 1, K = idx.ne[0];
    const int32_t* id = i32(idx);  // (K)
    check_indices(id, K, C, "idx");
    if (dtype_size(src.dtype) == 4)
        gather_cols_typed(static_cast<const uint32_t*>(src.data), id, static_cast<uint32_t*>(dst.data), R, C, K);
    else
        gather_cols_typed(static_cast<const uint16_t*>(src.data), id, static_cast<uint16_t*>(dst.data), R, C, K);
}

}  // namespace lp::backend

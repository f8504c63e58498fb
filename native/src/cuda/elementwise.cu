// elementwise.cu — the elementwise helpers of the model engine on the CUDA backend:
//   add:     out = a + b            (f32; out may alias a or b)
//   mul:     out = a * b            (f32; out may alias a or b)
//   axpy:    y += alpha * x         (f32)
//   convert: dst = src              (f32/f16/bf16, round to nearest even through lp_scalar.h, so
//                                    the bits equal those of the CPU backend)
#include "cuda_common.cuh"

namespace lp::cuda {
namespace {

constexpr int kThreads = 256;

__global__ void add_forward_kernel(const float* a, const float* b, float* out, int64_t n) {  // (n)
    for (int64_t i = grid_thread_index(); i < n; i += grid_thread_count())
        out[i] = a[i] + b[i];
}

__global__ void mul_forward_kernel(const float* a, const float* b, float* out, int64_t n) {  // (n)
    for (int64_t i = grid_thread_index(); i < n; i += grid_thread_count())
        out[i] = a[i] * b[i];
}

__global__ void axpy_forward_kernel(float alpha, const float* x, float* y, int64_t n) {  // (n)
    for (int64_t i = grid_thread_index(); i < n; i += grid_thread_count())
        y[i] += alpha * x[i];
}

__device__ __forceinline__ float load_float(const void* p, int32_t dtype, int64_t i) {
    if (dtype == LP_F16) return lp::f16_to_f32(static_cast<const uint16_t*>(p)[i]);
    if (dtype == LP_BF16) return lp::bf16_to_f32(static_cast<const uint16_t*>(p)[i]);
    return static_cast<const float*>(p)[i];
}

__device__ __forceinline__ void store_float(void* p, int32_t dtype, int64_t i, float v) {
    if (dtype == LP_F16) {
        static_cast<uint16_t*>(p)[i] = lp::f32_to_f16(v);
    } else if (dtype == LP_BF16) {
        static_cast<uint16_t*>(p)[i] = lp::f32_to_bf16(v);
    } else {
        static_cast<float*>(p)[i] = v;
    }
}

// The dtype branches are uniform across the grid.
__global__ void convert_forward_kernel(const void* src, int32_t src_dtype, void* dst, int32_t dst_dtype, int64_t n) {  // (n)
    for (int64_t i = grid_thread_index(); i < n; i += grid_thread_count())
        store_float(dst, dst_dtype, i, load_float(src, src_dtype, i));
}

}  // namespace
}  // namespace lp::cuda

namespace lp::backend {

using namespace lp::cuda;

void add(lp_context* ctx, const lp_tensor& a, const lp_tensor& b, const lp_tensor& out) {
    const int64_t n = numel(out);
    LP_LAUNCH(add_forward_kernel, blocks_for(n, kThreads), kThreads, 0, stream(ctx))(
        static_cast<const float*>(a.data), static_cast<const float*>(b.data), static_cast<float*>(out.data), n);
    LP_CHECK_LAUNCH(add_forward_kernel);
}

void mul(lp_context* ctx, const lp_tensor& a, const lp_tensor& b, const lp_tensor& out) {
    const int64_t n = numel(out);
    LP_LAUNCH(mul_forward_kernel, blocks_for(n, kThreads), kThreads, 0, stream(ctx))(
        static_cast<const float*>(a.data), static_cast<const float*>(b.data), static_cast<float*>(out.data), n);
    LP_CHECK_LAUNCH(mul_forward_kernel);
}

void axpy(lp_context* ctx, float alpha, const lp_tensor& x, const lp_tensor& y) {
    const int64_t n = numel(y);
    LP_LAUNCH(axpy_forward_kernel, blocks_for(n, kThreads), kThreads, 0, stream(ctx))(alpha, static_cast<const float*>(x.data), static_cast<float*>(y.data), n);
    LP_CHECK_LAUNCH(axpy_forward_kernel);
}

void convert(lp_context* ctx, const lp_tensor& src, const lp_tensor& dst) {
    const int64_t n = numel(dst);
    if (src.dtype == dst.dtype) {
        // Same dtype: a plain copy keeps every bit (NaN payloads included).
        if (src.data != dst.data) copy_d2d(ctx, dst.data, src.data, static_cast<size_t>(n) * dtype_size(dst.dtype));
        return;
    }
    LP_LAUNCH(convert_forward_kernel, blocks_for(n, kThreads), kThreads, 0, stream(ctx))(src.data, src.dtype, dst.data, dst.dtype, n);
    LP_CHECK_LAUNCH(convert_forward_kernel);
}

}  // namespace lp::backend

// cuda_common.cuh — shared by every file of the CUDA backend (real and emulated): the per-context
// state, error checking that turns every CUDA/cuBLAS failure into an lp::Error with the
// expression, file:line and CUDA's own error text, and small device helpers (dtype loads).
#pragma once

#include "cuda_compat.cuh"

#include "../common/backend.h"
#include "../common/lp_scalar.h"

#include <string>

namespace lp::cuda {

// Backend state of one lp_context (ctx->backend).
struct State {
    int device = 0;
    cudaStream_t stream = nullptr;
    cublasHandle_t blas = nullptr;
    int* error_flag = nullptr;  // (1) device int: set by kernels that find bad data (ids out of range)
};

inline State& state(lp_context* ctx) { return *static_cast<State*>(ctx->backend); }
inline cudaStream_t stream(lp_context* ctx) { return state(ctx).stream; }

[[noreturn]] void fail_cuda(cudaError_t err, const char* expr, const char* file, int line);
[[noreturn]] void fail_cublas(cublasStatus_t st, const char* expr, const char* file, int line);

// Reads and clears the device error flag (synchronizes); returns its value.
int take_error_flag(lp_context* ctx);

}  // namespace lp::cuda

#define LP_CUDA_CHECK(expr)                                                    \
    do {                                                                       \
        cudaError_t lp_err_ = (expr);                                          \
        if (lp_err_ != cudaSuccess) ::lp::cuda::fail_cuda(lp_err_, #expr, __FILE__, __LINE__); \
    } while (0)

#define LP_CUBLAS_CHECK(expr)                                                  \
    do {                                                                       \
        cublasStatus_t lp_st_ = (expr);                                        \
        if (lp_st_ != CUBLAS_STATUS_SUCCESS) ::lp::cuda::fail_cublas(lp_st_, #expr, __FILE__, __LINE__); \
    } while (0)

// After every LP_LAUNCH: reports a bad launch configuration or an earlier asynchronous fault.
#define LP_CHECK_LAUNCH(name) LP_CUDA_CHECK(cudaGetLastError())

namespace lp::cuda {

// Element loads of frozen base weights, which may be f32 or bf16 (lp.h "f32|bf16").
__device__ __forceinline__ float load_weight(const void* w, int32_t dtype, int64_t i) {
    if (dtype == LP_BF16) return lp::bf16_to_f32(static_cast<const uint16_t*>(w)[i]);
    return static_cast<const float*>(w)[i];
}

// Activation element types (lp.h "f32|bf16" activations): kernels that read or write activations
// are templates over float and act_bf16 (a bf16 held as its bits, converted with lp_scalar.h's
// round-to-nearest-even, so every backend rounds identically). Arithmetic is always f32.
struct act_bf16 {
    uint16_t bits;
};

__device__ __forceinline__ float to_f32(float v) { return v; }
__device__ __forceinline__ float to_f32(act_bf16 v) { return lp::bf16_to_f32(v.bits); }

template <class T>
__device__ __forceinline__ T from_f32(float v);
template <>
__device__ __forceinline__ float from_f32<float>(float v) { return v; }
template <>
__device__ __forceinline__ act_bf16 from_f32<act_bf16>(float v) { return act_bf16{lp::f32_to_bf16(v)}; }

// Calls f(T{}) with T the element type of an activation dtype (LP_F32 or LP_BF16):
//   with_act_type(x.dtype, [&](auto tag) { using T = decltype(tag); ...kernel<T>... });
template <class F>
void with_act_type(int32_t dtype, F&& f) {
    if (dtype == LP_BF16) f(act_bf16{});
    else f(0.0f);
}

// Grid-stride loops over n elements (1-D grids and blocks):
//   for (int64_t i = grid_thread_index(); i < n; i += grid_thread_count()) ...
__device__ __forceinline__ int64_t grid_thread_index() { return static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; }
__device__ __forceinline__ int64_t grid_thread_count() { return static_cast<int64_t>(gridDim.x) * blockDim.x; }

// Blocks of the grid-stride loops over rows (one block per row, RMSNorm, cross-entropy, LoRA merge):
// about as many 256-thread blocks as a large GPU keeps resident at once (an H100 holds 132 x 8), so
// more rows make each block loop instead of queueing further blocks. Small enough that the tests
// run these loops (and the barriers between their iterations) more than once.
constexpr int64_t kMaxRowBlocks = 1024;

// Blocks of a grid-stride loop over n elements with `threads` per block (capped; the loop covers the rest).
inline unsigned int blocks_for(int64_t n, int threads) {
    int64_t b = (n + threads - 1) / threads;
    return static_cast<unsigned int>(b < 1 ? 1 : (b > 65535 * 32 ? 65535 * 32 : b));
}

}  // namespace lp::cuda

// lora_merge.cu — folding a LoRA adapter into its base weight on the CUDA backend (docs/method.md §4.4):
//   W[i,j] = round(W[i,j] + scale * sum_r B[i,r] A[r,j])
// computed in f32 and rounded once to W's dtype (bf16 with lp_scalar.h's round-to-nearest-even, the
// rounding of every backend). R is small, so one thread per element with B's row in shared memory.
#include "cuda_common.cuh"

namespace lp::cuda {
namespace {

constexpr int kThreads = 256;

// Block (256 columns, row i and every gridDim.y-th row after it); the row of B is staged 256 ranks
// at a time.
__global__ void lora_merge_forward_kernel(void* w,         // (OUT, IN) f32|bf16
                                          int32_t w_dtype,
                                          const float* a,  // (R, IN)
                                          const float* b,  // (OUT, R)
                                          int64_t OUT, int64_t IN, int64_t R, float scale) {
    __shared__ float bs[kThreads];
    const int tid = static_cast<int>(threadIdx.x);
    const int64_t j = static_cast<int64_t>(blockIdx.x) * kThreads + tid;
    for (int64_t i = blockIdx.y; i < OUT; i += gridDim.y) {
        float acc = 0.0f;
        for (int64_t r0 = 0; r0 < R; r0 += kThreads) {
            __syncthreads();  // the previous chunk is no longer read
            bs[tid] = r0 + tid < R ? b[i * R + r0 + tid] : 0.0f;
            __syncthreads();
            if (j < IN) {
                const int64_t chunk = R - r0 < kThreads ? R - r0 : kThreads;
                for (int64_t r = 0; r < chunk; ++r) acc += bs[r] * a[(r0 + r) * IN + j];
            }
        }
        if (j < IN) {
            const int64_t at = i * IN + j;
            const float merged = load_weight(w, w_dtype, at) + scale * acc;
            if (w_dtype == LP_BF16) static_cast<uint16_t*>(w)[at] = lp::f32_to_bf16(merged);
            else static_cast<float*>(w)[at] = merged;
        }
    }
}

}  // namespace
}  // namespace lp::cuda

namespace lp::backend {

using namespace lp::cuda;

void lora_merge(lp_context* ctx, const lp_tensor& w, const lp_tensor& a, const lp_tensor& b, float scale) {
    const int64_t OUT = w.ne[0], IN = w.ne[1], R = a.ne[0];
    const dim3 grid(static_cast<unsigned int>((IN + kThreads - 1) / kThreads), static_cast<unsigned int>(OUT < kMaxRowBlocks ? OUT : kMaxRowBlocks));
    const float* ap = static_cast<const float*>(a.data);
    const float* bp = static_cast<const float*>(b.data);
    LP_LAUNCH(lora_merge_forward_kernel, grid, kThreads, 0, stream(ctx))(w.data, w.dtype, ap, bp, OUT, IN, R, scale);
    LP_CHECK_LAUNCH(lora_merge_forward_kernel);
}

}  // namespace lp::backend

// dropout.cu — dropout of the CUDA backend with the counter-based RNG of lp.h (lp_scalar.h), so
// every backend keeps exactly the same elements:
//   y[i] = x[i] * (u(seed, offset + i) >= p ? 1/(1-p) : 0)
// The op is its own backward (same p, seed, offset applied to dy).
#include "cuda_common.cuh"

namespace lp::cuda {
namespace {

constexpr int kThreads = 256;

// y may alias x: each element is read and written by one thread.
__global__ void dropout_forward_kernel(const float* x,  // (n)
                                       float* y,        // (n)
                                       int64_t n, float p, uint64_t seed, uint64_t offset) {
    for (int64_t i = grid_thread_index(); i < n; i += grid_thread_count())
        y[i] = x[i] * lp::dropout_factor(p, seed, offset, static_cast<uint64_t>(i));
}

}  // namespace
}  // namespace lp::cuda

namespace lp::backend {

using namespace lp::cuda;

void dropout(lp_context* ctx, const lp_tensor& x, const lp_tensor& y, float p, uint64_t seed, uint64_t offset) {
    const int64_t n = numel(x);
    LP_LAUNCH(dropout_forward_kernel, blocks_for(n, kThreads), kThreads, 0, stream(ctx))(
        static_cast<const float*>(x.data), static_cast<float*>(y.data), n, p, seed, offset);
    LP_CHECK_LAUNCH(dropout_forward_kernel);
}

}  // namespace lp::backend

// optimizer.cu — the optimizer sweeps of the CUDA backend, each over a whole gradient arena.
//   adamw_step:           p *= 1 - lr*wd;  m = b1 m + (1-b1) g;  v = b2 v + (1-b2) g^2;
//                         p -= lr * (m / (1-b1^step)) / (sqrt(v / (1-b2^step)) + eps)
//   grad_norm_accumulate: sumsq[0] += sum_i g_i^2, summed in double: per-block partial sums, then
//                         one block adds the partials in a fixed order (deterministic, no atomics)
//   grad_clip:            g *= min(1, max_norm / (sqrt(sumsq[0]) + 1e-6)), sumsq read on the device
#include "cuda_common.cuh"
#include "reduce.cuh"

#include <cmath>

namespace lp::cuda {
namespace {

constexpr int kThreads = 256;
constexpr int64_t kNormBlocks = 512;  // partial sums of the first pass (at most)

__global__ void adamw_step_kernel(float* param,       // (n)
                                  const float* grad,  // (n)
                                  float* m,           // (n)
                                  float* v,           // (n)
                                  int64_t n, float lr, float beta1, float beta2, float eps, float decay, float bias1, float bias2) {
    for (int64_t i = grid_thread_index(); i < n; i += grid_thread_count()) {
        const float g = grad[i];
        const float mi = beta1 * m[i] + (1.0f - beta1) * g;
        const float vi = beta2 * v[i] + (1.0f - beta2) * g * g;
        m[i] = mi;
        v[i] = vi;
        const float p = param[i] * decay;
        param[i] = p - lr * (mi / bias1) / (sqrtf(vi / bias2) + eps);
    }
}

// partial[block] = sum of grad^2 over the block's grid-stride elements, in double.
__global__ void grad_norm_accumulate_partial_kernel(const float* grad,  // (n)
                                                    double* partial,    // (gridDim.x)
                                                    int64_t n) {
    __shared__ double partials[kWarpSize];
    double sum = 0.0;
    for (int64_t i = grid_thread_index(); i < n; i += grid_thread_count()) {
        const double g = grad[i];
        sum += g * g;
    }
    sum = block_sum(sum, partials);
    if (threadIdx.x == 0) partial[blockIdx.x] = sum;
}

// sumsq[0] += sum of the partials; one block.
__global__ void grad_norm_accumulate_kernel(const double* partial,  // (count)
                                            float* sumsq,           // (1)
                                            int64_t count) {
    __shared__ double partials[kWarpSize];
    double sum = 0.0;
    for (int64_t i = threadIdx.x; i < count; i += blockDim.x) sum += partial[i];
    sum = block_sum(sum, partials);
    if (threadIdx.x == 0) sumsq[0] = static_cast<float>(static_cast<double>(sumsq[0]) + sum);
}

__global__ void grad_clip_kernel(float* grad,         // (n)
                                 const float* sumsq,  // (1)
                                 int64_t n, float max_norm) {
    const float factor = max_norm / (sqrtf(sumsq[0]) + 1e-6f);
    if (!(factor < 1.0f)) return;  // nothing to clip (a NaN norm leaves the gradient as it is)
    for (int64_t i = grid_thread_index(); i < n; i += grid_thread_count())
        grad[i] *= factor;
}

}  // namespace
}  // namespace lp::cuda

namespace lp::backend {

using namespace lp::cuda;

void adamw_step(lp_context* ctx, const lp_tensor& param, const lp_tensor& grad, const lp_tensor& m, const lp_tensor& v, float lr, float beta1, float beta2, float eps,
                float weight_decay, int64_t step) {
    const int64_t n = numel(param);
    // Bias corrections in double on the host, as PyTorch does with Python floats.
    const float bias1 = static_cast<float>(1.0 - std::pow(static_cast<double>(beta1), static_cast<double>(step)));
    const float bias2 = static_cast<float>(1.0 - std::pow(static_cast<double>(beta2), static_cast<double>(step)));
    const float decay = 1.0f - lr * weight_decay;
    LP_LAUNCH(adamw_step_kernel, blocks_for(n, kThreads), kThreads, 0, stream(ctx))(
        static_cast<float*>(param.data), static_cast<const float*>(grad.data), static_cast<float*>(m.data), static_cast<float*>(v.data), n, lr, beta1, beta2, eps, decay,
        bias1, bias2);
    LP_CHECK_LAUNCH(adamw_step_kernel);
}

void grad_norm_accumulate(lp_context* ctx, const lp_tensor& grad, const lp_tensor& sumsq) {
    const int64_t n = numel(grad);
    int64_t blocks = static_cast<int64_t>(blocks_for(n, kThreads));
    if (blocks > kNormBlocks) blocks = kNormBlocks;
    double* partial = static_cast<double*>(scratch(ctx, static_cast<size_t>(blocks) * sizeof(double)));
    cudaStream_t s = stream(ctx);
    LP_LAUNCH(grad_norm_accumulate_partial_kernel, static_cast<unsigned int>(blocks), kThreads, 0, s)(static_cast<const float*>(grad.data), partial, n);
    LP_CHECK_LAUNCH(grad_norm_accumulate_partial_kernel);
    LP_LAUNCH(grad_norm_accumulate_kernel, 1, kThreads, 0, s)(partial, static_cast<float*>(sumsq.data), blocks);
    LP_CHECK_LAUNCH(grad_norm_accumulate_kernel);
}

void grad_clip(lp_context* ctx, const lp_tensor& grad, const lp_tensor& sumsq, float max_norm) {
    const int64_t n = numel(grad);
    LP_LAUNCH(grad_clip_kernel, blocks_for(n, kThreads), kThreads, 0, stream(ctx))(static_cast<float*>(grad.data), static_cast<const float*>(sumsq.data), n, max_norm);
    LP_CHECK_LAUNCH(grad_clip_kernel);
}

}  // namespace lp::backend

// cross_entropy.cu — fused softmax + cross-entropy over the vocabulary on the CUDA backend, one
// block per row of logits.
//   forward:  lse = log sum_v exp(z_v)  (one pass: online max m and sum s of exp(z - m) per thread,
//             merged as (m, s) pairs), loss = lse - z[target]  (0 where target == ignore_index)
//   backward: dz_v = dloss * (exp(z_v - lse) - [v == target])  (0 rows where ignored)
//   forward_backward: both in one launch; the row is read once for lse and again (from cache) for dz.
// A target outside [0,V) that is not ignore_index raises the device error flag.
#include "cuda_common.cuh"
#include "reduce.cuh"

#include <cmath>
#include <string>

namespace lp::cuda {
namespace {

constexpr int kMaxThreads = 256;

// The running (max, sum of exp(z - max)) of a set of logits; max = -inf with sum 0 is the empty set.
struct OnlineSum {
    float m;
    float s;
};

__device__ __forceinline__ OnlineSum merge(OnlineSum a, OnlineSum b) {
    const float m = fmaxf(a.m, b.m);
    if (m == -INFINITY) return {m, a.s + b.s};  // 0, or NaN carried from a NaN logit
    return {m, a.s * expf(a.m - m) + b.s * expf(b.m - m)};
}

__device__ __forceinline__ OnlineSum warp_merge(OnlineSum v) {
    for (int offset = kWarpSize / 2; offset > 0; offset >>= 1) {
        OnlineSum other = {__shfl_xor_sync(kFullWarpMask, v.m, offset), __shfl_xor_sync(kFullWarpMask, v.s, offset)};
        v = merge(v, other);
    }
    return v;
}

// log sum exp of the row, returned to every thread of the block.
__device__ __forceinline__ float block_logsumexp(OnlineSum v, float* partial_m, float* partial_s) {
    const int lane = static_cast<int>(threadIdx.x) % kWarpSize;
    const int warp = static_cast<int>(threadIdx.x) / kWarpSize;
    const int warps = static_cast<int>(blockDim.x) / kWarpSize;
    v = warp_merge(v);
    __syncthreads();  // the previous row may still be reading the partials
    if (lane == 0) {
        partial_m[warp] = v.m;
        partial_s[warp] = v.s;
    }
    __syncthreads();
    OnlineSum total = {partial_m[0], partial_s[0]};
    for (int w = 1; w < warps; ++w) total = merge(total, OnlineSum{partial_m[w], partial_s[w]});
    return total.m + logf(total.s);
}

// This thread's online (max, sum of exp) over its strided share of one row of V logits.
__device__ __forceinline__ OnlineSum thread_row_sum(const float* z, int64_t V) {
    OnlineSum acc = {-INFINITY, 0.0f};
    for (int64_t v = threadIdx.x; v < V; v += blockDim.x) {
        const float x = z[v];
        if (x > acc.m) {
            acc.s = acc.s * expf(acc.m - x) + 1.0f;
            acc.m = x;
        } else if (x != -INFINITY) {  // exp(-inf) adds nothing; a NaN falls through and propagates
            acc.s += expf(x - acc.m);
        }
    }
    return acc;
}

__global__ void cross_entropy_forward_kernel(const float* logits,     // (N, V)
                                             const int32_t* targets,  // (N)
                                             float* losses,           // (N)
                                             float* lse,              // (N)
                                             int64_t N, int64_t V, int32_t ignore_index, int* error_flag) {
    __shared__ float partial_m[kWarpSize];
    __shared__ float partial_s[kWarpSize];
    for (int64_t n = blockIdx.x; n < N; n += gridDim.x) {
        const float* z = logits + n * V;
        const float row_lse = block_logsumexp(thread_row_sum(z, V), partial_m, partial_s);
        if (threadIdx.x != 0) continue;
        lse[n] = row_lse;
        const int32_t target = targets[n];
        if (target == ignore_index) {
            losses[n] = 0.0f;
        } else if (target < 0 || target >= V) {
            losses[n] = 0.0f;
            atomicMax(error_flag, 1);
        } else {
            losses[n] = row_lse - z[target];
        }
    }
}

// dlogits may alias logits: each element is read and written by the same thread.
__global__ void cross_entropy_backward_kernel(const float* logits,     // (N, V)
                                              const int32_t* targets,  // (N)
                                              const float* lse,        // (N)
                                              float* dlogits,          // (N, V)
                                              int64_t N, int64_t V, int32_t ignore_index, float dloss, int* error_flag) {
    for (int64_t n = blockIdx.x; n < N; n += gridDim.x) {
        const int32_t target = targets[n];
        float* dz = dlogits + n * V;
        if (target == ignore_index) {
            for (int64_t v = threadIdx.x; v < V; v += blockDim.x) dz[v] = 0.0f;
            continue;
        }
        if ((target < 0 || target >= V) && threadIdx.x == 0) atomicMax(error_flag, 1);
        const float* z = logits + n * V;
        const float row_lse = lse[n];
        for (int64_t v = threadIdx.x; v < V; v += blockDim.x) {
            const float p = expf(z[v] - row_lse);
            dz[v] = dloss * (v == target ? p - 1.0f : p);
        }
    }
}

// Forward and backward in one block per row. dlogits may alias logits: every thread finishes reading the row (and
// thread 0 the target's logit) before the barrier inside block_logsumexp, and only then writes.
__global__ void cross_entropy_forward_backward_kernel(const float* logits,     // (N, V)
                                                      const int32_t* targets,  // (N)
                                                      float* losses,           // (N)
                                                      float* lse,              // (N)
                                                      float* dlogits,          // (N, V)
                                                      int64_t N, int64_t V, int32_t ignore_index, float dloss, int* error_flag) {
    __shared__ float partial_m[kWarpSize];
    __shared__ float partial_s[kWarpSize];
    for (int64_t n = blockIdx.x; n < N; n += gridDim.x) {
        const float* z = logits + n * V;
        float* dz = dlogits + n * V;
        const int32_t target = targets[n];
        const bool ignored = target == ignore_index;
        const bool valid = !ignored && target >= 0 && target < V;
        const float target_logit = threadIdx.x == 0 && valid ? z[target] : 0.0f;
        const float row_lse = block_logsumexp(thread_row_sum(z, V), partial_m, partial_s);
        if (threadIdx.x == 0) {
            lse[n] = row_lse;
            losses[n] = valid ? row_lse - target_logit : 0.0f;
            if (!ignored && !valid) atomicMax(error_flag, 1);
        }
        for (int64_t v = threadIdx.x; v < V; v += blockDim.x) {
            const float p = ignored ? 0.0f : expf(z[v] - row_lse);
            dz[v] = ignored ? 0.0f : dloss * (v == target ? p - 1.0f : p);
        }
    }
}

void check_targets(lp_context* ctx, int64_t V, int32_t ignore_index) {
    if (take_error_flag(ctx))
        fail(LP_ERR_INVALID_ARGUMENT, "targets: a target is outside [0," + std::to_string(V) + ") and is not ignore_index=" + std::to_string(ignore_index));
}

}  // namespace
}  // namespace lp::cuda

namespace lp::backend {

using namespace lp::cuda;

void cross_entropy_forward(lp_context* ctx, const lp_tensor& logits, const lp_tensor& targets, int32_t ignore_index, const lp_tensor& losses, const lp_tensor& lse) {
    const int64_t N = logits.ne[0], V = logits.ne[1];
    State& s = state(ctx);
    LP_LAUNCH(cross_entropy_forward_kernel, row_blocks(N), row_threads(V, kMaxThreads), 0, s.stream)(
        static_cast<const float*>(logits.data), static_cast<const int32_t*>(targets.data), static_cast<float*>(losses.data), static_cast<float*>(lse.data), N, V,
        ignore_index, s.error_flag);
    LP_CHECK_LAUNCH(cross_entropy_forward_kernel);
    check_targets(ctx, V, ignore_index);
}

void cross_entropy_backward(lp_context* ctx, const lp_tensor& logits, const lp_tensor& targets, const lp_tensor& lse, int32_t ignore_index, float dloss, const lp_tensor& dlogits) {
    const int64_t N = logits.ne[0], V = logits.ne[1];
    State& s = state(ctx);
    LP_LAUNCH(cross_entropy_backward_kernel, row_blocks(N), row_threads(V, kMaxThreads), 0, s.stream)(
        static_cast<const float*>(logits.data), static_cast<const int32_t*>(targets.data), static_cast<const float*>(lse.data), static_cast<float*>(dlogits.data), N,
        V, ignore_index, dloss, s.error_flag);
    LP_CHECK_LAUNCH(cross_entropy_backward_kernel);
    check_targets(ctx, V, ignore_index);
}

void cross_entropy_forward_backward(lp_context* ctx, const lp_tensor& logits, const lp_tensor& targets, int32_t ignore_index, float dloss, const lp_tensor& losses,
                                    const lp_tensor& lse, const lp_tensor& dlogits) {
    const int64_t N = logits.ne[0], V = logits.ne[1];
    State& s = state(ctx);
    LP_LAUNCH(cross_entropy_forward_backward_kernel, row_blocks(N), row_threads(V, kMaxThreads), 0, s.stream)(
        static_cast<const float*>(logits.data), static_cast<const int32_t*>(targets.data), static_cast<float*>(losses.data), static_cast<float*>(lse.data),
        static_cast<float*>(dlogits.data), N, V, ignore_index, dloss, s.error_flag);
    LP_CHECK_LAUNCH(cross_entropy_forward_backward_kernel);
    check_targets(ctx, V, ignore_index);
}

}  // namespace lp::backend

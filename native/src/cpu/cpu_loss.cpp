// cpu_loss.cpp — fused softmax + cross-entropy over the vocabulary on the CPU, one row per OpenMP iteration.
// A row's log-sum-exp is max + log(sum exp(l - max)), the exponentials and their sum from cpu_exp.h (eight lanes,
// a fixed summation order: the same bits for every thread count, machine and target clone; libm's expf made these
// loops exp-bound). The fused forward-backward keeps each exponential: the row is in cache and the gradient
// dloss * (e / sum - onehot) costs one multiply per logit instead of a second pass of exponentials.
#include "cpu_common.h"
#include "cpu_exp.h"

#include <cmath>

namespace lp::backend {

using namespace lp::cpu;

namespace {

// Targets in [0, V) or equal to ignore_index, checked before any parallel loop.
void check_targets(const int32_t* t, int64_t N, int64_t V, int32_t ignore_index) {
    for (int64_t n = 0; n < N; ++n)
        if (t[n] != ignore_index && (t[n] < 0 || t[n] >= V))
            fail(LP_ERR_INVALID_ARGUMENT, "targets[" + std::to_string(n) + "]=" + std::to_string(t[n]) + " is outside [0," + std::to_string(V) +
                                              ") and is not ignore_index=" + std::to_string(ignore_index));
}

// True where the AVX-512 copies below run (the features of their x86-64-v4 target): their exponentials then take
// sixteen lanes a step.
const bool kWideExp = [] {
#if defined(__GNUC__) && defined(__x86_64__)
    return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512dq") &&
           __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512cd");
#else
    return false;
#endif
}();

// exp_sum with the step width of the copy that runs; both widths give the same bits.
template <bool kStore>
LP_CPU_INLINE double row_exp_sum(const float* row, float shift, float* out, int64_t n) {
    return kWideExp ? exp_sum<kStore, true>(row, shift, out, n) : exp_sum<kStore, false>(row, shift, out, n);
}

// The per-row kernels, each compiled for the baseline, AVX2 and AVX-512 (picked once at load time).
LP_CPU_CLONES_512 double row_lse(const float* row, int64_t V) {
    const float mx = row_max(row, V);
    return double(mx) + std::log(row_exp_sum<false>(row, mx, nullptr, V));
}

// drow = dloss * exp(row - lse); drow may alias row.
LP_CPU_CLONES_512 void row_softmax_scaled(const float* row, float lse, float dloss, float* drow, int64_t V) {
    row_exp_sum<true>(row, lse, drow, V);
    for (int64_t j = 0; j < V; ++j) drow[j] *= dloss;
}

// log-sum-exp of the row, and drow = dloss * (softmax(row) - onehot(target)) from the same exponentials; drow may alias row.
LP_CPU_CLONES_512 double row_lse_and_gradient(const float* row, int32_t target, float dloss, float* drow, int64_t V) {
    const float mx = row_max(row, V);
    const double sum = row_exp_sum<true>(row, mx, drow, V);
    const float scale = float(double(dloss) / sum);
    const float target_p = float(double(drow[target]) / sum);
    for (int64_t j = 0; j < V; ++j) drow[j] *= scale;
    drow[target] = dloss * (target_p - 1.0f);
    return double(mx) + std::log(sum);
}

}  // namespace

void cross_entropy_forward(lp_context* ctx, const lp_tensor& logits, const lp_tensor& targets, int32_t ignore_index, const lp_tensor& losses, const lp_tensor& lse) {
    const int64_t N = logits.ne[0], V = logits.ne[1];
    const float* l = f32(logits);    // (N, V)
    const int32_t* t = i32(targets);  // (N)
    check_targets(t, N, V, ignore_index);
    float* loss = f32(losses);  // (N)
    float* ls = f32(lse);       // (N)
#pragma omp parallel for schedule(static) if (N * V >= kParallelMin)
    for (int64_t n = 0; n < N; ++n) {
        const float* row = l + n * V;
        const double lse_n = row_lse(row, V);
        ls[n] = float(lse_n);
        loss[n] = t[n] == ignore_index ? 0.0f : float(lse_n - double(row[t[n]]));
    }
}

void cross_entropy_backward(lp_context* ctx, const lp_tensor& logits, const lp_tensor& targets, const lp_tensor& lse, int32_t ignore_index, float dloss,
                            const lp_tensor& dlogits) {
    const int64_t N = logits.ne[0], V = logits.ne[1];
    const float* l = f32(logits);     // (N, V)
    const int32_t* t = i32(targets);  // (N)
    check_targets(t, N, V, ignore_index);
    const float* ls = f32(lse);  // (N)
    float* d = f32(dlogits);     // (N, V), may alias logits
#pragma omp parallel for schedule(static) if (N * V >= kParallelMin)
    for (int64_t n = 0; n < N; ++n) {
        const float* row = l + n * V;
        float* drow = d + n * V;
        if (t[n] == ignore_index) {
            for (int64_t j = 0; j < V; ++j) drow[j] = 0.0f;
            continue;
        }
        const float target_logit = row[t[n]];  // read first: dlogits may alias logits
        row_softmax_scaled(row, ls[n], dloss, drow, V);
        drow[t[n]] = dloss * (exp_poly(target_logit - ls[n]) - 1.0f);
    }
}

void cross_entropy_forward_backward(lp_context* ctx, const lp_tensor& logits, const lp_tensor& targets, int32_t ignore_index, float dloss, const lp_tensor& losses,
                                    const lp_tensor& lse, const lp_tensor& dlogits) {
    const int64_t N = logits.ne[0], V = logits.ne[1];
    const float* l = f32(logits);     // (N, V)
    const int32_t* t = i32(targets);  // (N)
    check_targets(t, N, V, ignore_index);
    float* loss = f32(losses);  // (N)
    float* ls = f32(lse);       // (N)
    float* d = f32(dlogits);    // (N, V), may alias logits
#pragma omp parallel for schedule(static) if (N * V >= kParallelMin)
    for (int64_t n = 0; n < N; ++n) {
        const float* row = l + n * V;
        float* drow = d + n * V;
        if (t[n] == ignore_index) {
            ls[n] = float(row_lse(row, V));
            loss[n] = 0.0f;
            for (int64_t j = 0; j < V; ++j) drow[j] = 0.0f;
            continue;
        }
        const float target_logit = row[t[n]];  // read first: dlogits may alias logits
        const double lse_n = row_lse_and_gradient(row, t[n], dloss, drow, V);
        ls[n] = float(lse_n);
        loss[n] = float(lse_n - double(target_logit));
    }
}

}  // namespace lp::backend

// cpu_loss.cpp — fused softmax + cross-entropy over the vocabulary on the CPU, one row per
// OpenMP iteration. The row's log-sum-exp is max + log(sum exp(l - max)): f32 exponentials summed in double.
#include "cpu_common.h"

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
        float mx = row[0];
        for (int64_t j = 1; j < V; ++j) mx = row[j] > mx ? row[j] : mx;
        double s0 = 0, s1 = 0;
        int64_t j = 0;
        for (; j + 2 <= V; j += 2) {
            s0 += std::exp(row[j] - mx);
            s1 += std::exp(row[j + 1] - mx);
        }
        for (; j < V; ++j) s0 += std::exp(row[j] - mx);
        const double lse_d = double(mx) + std::log(s0 + s1);
        ls[n] = float(lse_d);
        loss[n] = t[n] == ignore_index ? 0.0f : float(lse_d - double(row[t[n]]));
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
        const float lse_n = ls[n];
        const float target_logit = row[t[n]];  // read first: dlogits may alias logits
        for (int64_t j = 0; j < V; ++j) drow[j] = dloss * std::exp(row[j] - lse_n);
        drow[t[n]] = dloss * (std::exp(target_logit - lse_n) - 1.0f);
    }
}

}  // namespace lp::backend

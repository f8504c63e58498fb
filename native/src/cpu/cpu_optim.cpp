// cpu_optim.cpp — the optimizer-side sweeps on the CPU: AdamW over a whole arena, the global
// gradient norm (sum of squares in double over fixed-size chunks, added in chunk order so the
// result does not depend on the thread count) and clipping against the norm kept in memory.
#include "cpu_common.h"

#include <algorithm>
#include <cmath>

namespace lp::backend {

using namespace lp::cpu;

void adamw_step(lp_context* ctx, const lp_tensor& param, const lp_tensor& grad, const lp_tensor& m, const lp_tensor& v, float lr, float beta1, float beta2, float eps,
                float weight_decay, int64_t step) {
    const int64_t n = numel(param);
    float* p = f32(param);
    const float* g = f32(grad);
    float* mp = f32(m);
    float* vp = f32(v);
    // Per element in double, rounded once to f32 per stored value (PyTorch's formula).
    const double b1 = beta1, b2 = beta2, lrd = lr, decay = double(lr) * double(weight_decay), epsd = eps;
    const double bias1 = 1.0 - std::pow(b1, double(step)), bias2 = 1.0 - std::pow(b2, double(step));
#pragma omp parallel for schedule(static) if (n >= kParallelMin)
    for (int64_t i = 0; i < n; ++i) {
        const double gi = g[i];
        double pi = double(p[i]);
        pi -= decay * pi;
        const double mi = b1 * double(mp[i]) + (1.0 - b1) * gi;
        const double vi = b2 * double(vp[i]) + (1.0 - b2) * gi * gi;
        pi -= lrd * (mi / bias1) / (std::sqrt(vi / bias2) + epsd);
        mp[i] = float(mi);
        vp[i] = float(vi);
        p[i] = float(pi);
    }
}

void grad_norm_accumulate(lp_context* ctx, const lp_tensor& grad, const lp_tensor& sumsq) {
    constexpr int64_t kChunk = int64_t(1) << 16;
    const int64_t n = numel(grad);
    const float* g = f32(grad);
    const int64_t chunks = (n + kChunk - 1) / kChunk;
    double* partial = static_cast<double*>(scratch(ctx, size_t(chunks) * sizeof(double)));  // (chunks)
#pragma omp parallel for schedule(static) if (chunks > 1)
    for (int64_t c = 0; c < chunks; ++c) {
        const int64_t i0 = c * kChunk, i1 = std::min(n, i0 + kChunk);
        partial[c] = sumsq_f64(g + i0, i1 - i0);
    }
    double total = 0;
    for (int64_t c = 0; c < chunks; ++c) total += partial[c];
    float* s = f32(sumsq);  // (1)
    s[0] = float(double(s[0]) + total);
}

void grad_clip(lp_context* ctx, const lp_tensor& grad, const lp_tensor& sumsq, float max_norm) {
    const double coef = double(max_norm) / (std::sqrt(double(f32(sumsq)[0])) + 1e-6);
    // min(1, coef); a NaN norm makes coef NaN, which (as in PyTorch) propagates into the gradients.
    if (coef >= 1.0) return;
    const float cf = float(coef);
    const int64_t n = numel(grad);
    float* g = f32(grad);
#pragma omp parallel for schedule(static) if (n >= kParallelMin)
    for (int64_t i = 0; i < n; ++i) g[i] *= cf;
}

}  // namespace lp::backend

// cpu_bias.cpp — projection biases on the CPU (Qwen2 q/k/v, LLaMA attention_bias/mlp_bias):
// y[n,o] += bias[o]*mask[o] after the LoRA linear, and dbias[o] += mask[o] * sum_n dy[n,o].
// The column sums run over rows in ascending order in double, one thread per column block.
#include "cpu_common.h"

#include <algorithm>
#include <vector>

namespace lp::backend {

using namespace lp::cpu;

namespace {

constexpr int64_t kBiasColumnBlock = 64;

}  // namespace

void bias_add(lp_context* ctx, const lp_tensor& y, const lp_tensor& bias, const lp_tensor* mask) {
    const int64_t N = y.ne[0], OUT = y.ne[1];
    std::vector<float> b(static_cast<size_t>(OUT));  // (OUT) bias * mask, in f32
    load_row_f32(bias, 0, OUT, b.data());
    if (mask) {
        const float* m = f32(*mask);  // (OUT)
        for (int64_t o = 0; o < OUT; ++o) b[o] *= m[o];
    }
    float* yp = f32(y);  // (N, OUT)
#pragma omp parallel for schedule(static) if (N * OUT >= kParallelMin)
    for (int64_t n = 0; n < N; ++n) {
        float* row = yp + n * OUT;
        for (int64_t o = 0; o < OUT; ++o) row[o] += b[o];
    }
}

void bias_backward(lp_context* ctx, const lp_tensor& dy, const lp_tensor* mask, const lp_tensor& dbias) {
    const int64_t N = dy.ne[0], OUT = dy.ne[1];
    const float* g = f32(dy);                      // (N, OUT)
    const float* m = mask ? f32(*mask) : nullptr;  // (OUT)
    float* db = f32(dbias);                        // (OUT)
    const int64_t blocks = (OUT + kBiasColumnBlock - 1) / kBiasColumnBlock;
#pragma omp parallel for schedule(static) if (N * OUT >= kParallelMin)
    for (int64_t blk = 0; blk < blocks; ++blk) {
        const int64_t j0 = blk * kBiasColumnBlock, j1 = std::min(OUT, j0 + kBiasColumnBlock);
        double acc[kBiasColumnBlock] = {};
        for (int64_t n = 0; n < N; ++n) {
            const float* gr = g + n * OUT;
            for (int64_t j = j0; j < j1; ++j) acc[j - j0] += gr[j];
        }
        for (int64_t j = j0; j < j1; ++j) db[j] += m ? float(acc[j - j0] * m[j]) : float(acc[j - j0]);
    }
}

}  // namespace lp::backend

// cpu_attention.cpp — causal grouped-query attention on the CPU, forward and backward. Each head
// works on its strided slices of q/k/v (row stride H*D or KVH*D) in blocks of query rows: a block
// only multiplies the keys up to its last row (causal), through OpenBLAS into a (block, T) scratch.
// Heads run in parallel on OpenMP threads (each head's SGEMMs on its own thread) when there are enough of them.
// Softmax rows take their exponentials from cpu_exp.h (vectorised, bit-identical on every machine).
#include "cpu_common.h"
#include "cpu_exp.h"

#include <algorithm>
#include <cmath>
#include <cstring>

namespace lp::backend {

using namespace lp::cpu;

namespace {

constexpr int64_t kQueryBlock = 64;

// Runs task(index, slot) for index in [0, count): in parallel over OpenMP threads (each task's GEMMs on its
// own thread) when count is large enough to feed them, else in order, each GEMM split over the threads.
// `slot` names the calling thread's private scratch.
template <class F>
void for_each_head(int64_t count, F&& task) {
    const int threads = max_threads();
    if (count >= threads && threads > 1) {
#pragma omp parallel for schedule(dynamic, 1)
        for (int64_t i = 0; i < count; ++i) task(i, omp_get_thread_num());
    } else {
        for (int64_t i = 0; i < count; ++i) task(i, 0);
    }
}

// The softmax of a score row's first `len` entries, in place; returns their log-sum-exp.
LP_CPU_CLONES double softmax_row(float* row, int64_t len) {
    const float mx = row_max(row, len);
    const double sum = exp_sum<true>(row, mx, row, len);
    const float inv = float(1.0 / sum);
    for (int64_t j = 0; j < len; ++j) row[j] *= inv;
    return double(mx) + std::log(sum);
}

// row[j] = exp(row[j] - shift) for j < len.
LP_CPU_CLONES void exp_row(float* row, float shift, int64_t len) { exp_sum<true>(row, shift, row, len); }

}  // namespace

void attention_forward(lp_context* ctx, const lp_tensor& q, const lp_tensor& k, const lp_tensor& v, float scale, const lp_tensor& out, const lp_tensor& lse) {
    const int64_t B = q.ne[0], T = q.ne[1], H = q.ne[2], D = q.ne[3], KVH = k.ne[2], rep = H / KVH;
    const int64_t sq = H * D, skv = KVH * D;  // row strides of q/out and k/v
    check_blas({T, D, sq, skv});
    const int64_t bs = std::min(kQueryBlock, T);
    const int slots = max_threads();
    float* s_all = static_cast<float*>(scratch(ctx, size_t(slots) * size_t(bs * T) * sizeof(float)));  // (slots, bs, T)
    const float* qp = f32(q);
    const float* kp = f32(k);
    const float* vp = f32(v);
    float* op = f32(out);
    float* lp_ = f32(lse);  // (B, H, T)

    for_each_head(B * H, [&](int64_t bh, int slot) {
        const int64_t b = bh / H, h = bh % H, g = h / rep;
        const float* Q = qp + (b * T * H + h) * D;    // (T, D) stride sq
        const float* K = kp + (b * T * KVH + g) * D;  // (T, D) stride skv
        const float* V = vp + (b * T * KVH + g) * D;  // (T, D) stride skv
        float* O = op + (b * T * H + h) * D;          // (T, D) stride sq
        float* L = lp_ + (b * H + h) * T;             // (T)
        float* S = s_all + size_t(slot) * size_t(bs * T);
        for (int64_t i0 = 0; i0 < T; i0 += bs) {
            const int64_t i1 = std::min(T, i0 + bs), nb = i1 - i0;
            // S = scale * Q[i0:i1] K[0:i1]^T   (nb, i1)
            sgemm(false, true, nb, i1, D, scale, Q + i0 * sq, sq, K, skv, 0.0f, S, i1);
            for (int64_t r = 0; r < nb; ++r) {
                const int64_t i = i0 + r;
                float* row = S + r * i1;
                L[i] = float(softmax_row(row, i + 1));
                for (int64_t j = i + 1; j < i1; ++j) row[j] = 0.0f;
            }
            // O[i0:i1] = P V[0:i1]
            sgemm(false, false, nb, D, i1, 1.0f, S, i1, V, skv, 0.0f, O + i0 * sq, sq);
        }
    });
}

void attention_backward(lp_context* ctx, const lp_tensor& q, const lp_tensor& k, const lp_tensor& v, const lp_tensor& out, const lp_tensor& lse, const lp_tensor& dout,
                        float scale, const lp_tensor& dq, const lp_tensor& dk, const lp_tensor& dv) {
    const int64_t B = q.ne[0], T = q.ne[1], H = q.ne[2], D = q.ne[3], KVH = k.ne[2], rep = H / KVH;
    const int64_t sq = H * D, skv = KVH * D;
    check_blas({T, D, sq, skv});
    const int64_t bs = std::min(kQueryBlock, T);
    const int slots = max_threads();
    ScratchPlan plan;
    const size_t p_off = plan.add<float>(size_t(slots) * size_t(bs * T));   // (slots, bs, T)
    const size_t dp_off = plan.add<float>(size_t(slots) * size_t(bs * T));  // (slots, bs, T)
    void* base = scratch(ctx, plan.bytes());
    float* p_all = ScratchPlan::at<float>(base, p_off);
    float* dp_all = ScratchPlan::at<float>(base, dp_off);
    const float* qp = f32(q);
    const float* kp = f32(k);
    const float* vp = f32(v);
    const float* op = f32(out);
    const float* lp_ = f32(lse);
    const float* dop = f32(dout);
    float* dqp = f32(dq);
    float* dkp = f32(dk);
    float* dvp = f32(dv);

    // One task per (batch, kv head): it owns dk/dv of that head and sums its rep query heads into
    // them in order, so shared key/value heads need no synchronisation.
    for_each_head(B * KVH, [&](int64_t bg, int slot) {
        const int64_t b = bg / KVH, g = bg % KVH;
        const float* K = kp + (b * T * KVH + g) * D;  // (T, D) stride skv
        const float* V = vp + (b * T * KVH + g) * D;
        float* dK = dkp + (b * T * KVH + g) * D;
        float* dV = dvp + (b * T * KVH + g) * D;
        for (int64_t t = 0; t < T; ++t) {
            std::memset(dK + t * skv, 0, size_t(D) * sizeof(float));
            std::memset(dV + t * skv, 0, size_t(D) * sizeof(float));
        }
        float* P = p_all + size_t(slot) * size_t(bs * T);
        float* dP = dp_all + size_t(slot) * size_t(bs * T);
        for (int64_t h = g * rep; h < (g + 1) * rep; ++h) {
            const float* Q = qp + (b * T * H + h) * D;  // (T, D) stride sq
            const float* O = op + (b * T * H + h) * D;
            const float* dO = dop + (b * T * H + h) * D;
            float* dQ = dqp + (b * T * H + h) * D;
            const float* L = lp_ + (b * H + h) * T;  // (T)
            for (int64_t i0 = 0; i0 < T; i0 += bs) {
                const int64_t i1 = std::min(T, i0 + bs), nb = i1 - i0;
                // P = exp(scale * Q K^T - lse), causal   (nb, i1)
                sgemm(false, true, nb, i1, D, scale, Q + i0 * sq, sq, K, skv, 0.0f, P, i1);
                for (int64_t r = 0; r < nb; ++r) {
                    const int64_t i = i0 + r;
                    float* row = P + r * i1;
                    exp_row(row, L[i], i + 1);
                    for (int64_t j = i + 1; j < i1; ++j) row[j] = 0.0f;
                }
                // dV[0:i1] += P^T dO[i0:i1]
                sgemm(true, false, i1, D, nb, 1.0f, P, i1, dO + i0 * sq, sq, 1.0f, dV, skv);
                // dP = dO[i0:i1] V[0:i1]^T
                sgemm(false, true, nb, i1, D, 1.0f, dO + i0 * sq, sq, V, skv, 0.0f, dP, i1);
                // dS = P (.) (dP - rowsum(dO (.) O))   (into dP)
                for (int64_t r = 0; r < nb; ++r) {
                    const int64_t i = i0 + r;
                    const float di = float(dot_f64(dO + i * sq, O + i * sq, D));
                    const float* prow = P + r * i1;
                    float* drow = dP + r * i1;
                    for (int64_t j = 0; j < i1; ++j) drow[j] = prow[j] * (drow[j] - di);
                }
                // dQ[i0:i1] = scale * dS K[0:i1];  dK[0:i1] += scale * dS^T Q[i0:i1]
                sgemm(false, false, nb, D, i1, scale, dP, i1, K, skv, 0.0f, dQ + i0 * sq, sq);
                sgemm(true, false, i1, D, nb, scale, dP, i1, Q + i0 * sq, sq, 1.0f, dK, skv);
            }
        }
    });
}

}  // namespace lp::backend

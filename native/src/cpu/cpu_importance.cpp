// cpu_importance.cpp — LoRAPrune importance on the CPU (docs/method.md §2.2-2.5): the fused |G (.) W'| row or
// column sums over tiles of W rows (never an (OUT,IN) temporary), the group sum + L2
// normalisation, and the NaN-guarded moving average.
// Determinism: W's row tiles are split into a fixed number of groups (independent of the thread
// count); column sums are kept per group in double and added in group order at the end.
#include "cpu_common.h"

#include <algorithm>
#include <cmath>

namespace lp::backend {

using namespace lp::cpu;

namespace {

constexpr int64_t kMaxTileRows = 64;
constexpr int64_t kTileElems = int64_t(1) << 20;  // f32 elements of one (rows, IN) tile
constexpr int64_t kGroups = 16;

// Sum over j < n of |g[j] * w[j]| (of |w[j]| when g is null), each term rounded to f32 and summed in double in 8
// interleaved partial sums combined pairwise: a fixed order that vectorises (two partial sums made a latency-bound chain).
LP_CPU_CLONES double row_abs_sum(const float* w, const float* g, int64_t n) {
    double s[8] = {};
    int64_t j = 0;
    if (g) {
        for (; j + 8 <= n; j += 8)
            for (int l = 0; l < 8; ++l) s[l] += double(std::fabs(g[j + l] * w[j + l]));
        for (int l = 0; j + l < n; ++l) s[l] += double(std::fabs(g[j + l] * w[j + l]));
    } else {
        for (; j + 8 <= n; j += 8)
            for (int l = 0; l < 8; ++l) s[l] += double(std::fabs(w[j + l]));
        for (int l = 0; j + l < n; ++l) s[l] += double(std::fabs(w[j + l]));
    }
    return ((s[0] + s[4]) + (s[2] + s[6])) + ((s[1] + s[5]) + (s[3] + s[7]));
}

// cs[j] += |g[j] * w[j]| (|w[j]| when g is null) for j < n, in double.
LP_CPU_CLONES void add_abs_columns(double* cs, const float* w, const float* g, int64_t n) {
    if (g) {
        for (int64_t j = 0; j < n; ++j) cs[j] += double(std::fabs(g[j] * w[j]));
    } else {
        for (int64_t j = 0; j < n; ++j) cs[j] += double(std::fabs(w[j]));
    }
}

}  // namespace

void importance_accumulate(lp_context* ctx, const lp_tensor& w, const lp_tensor* a, const lp_tensor* b, const lp_tensor* ga, const lp_tensor* gb, const lp_tensor* gw,
                           float scale, int32_t mode, int32_t axis, const lp_tensor& acc) {
    const int64_t OUT = w.ne[0], IN = w.ne[1], R = a ? a->ne[0] : 1;
    const bool lora = a != nullptr;
    const bool lora_mode = mode == LP_IMPORTANCE_LORA;
    const int64_t tr = std::clamp<int64_t>(kTileElems / IN, 1, std::min(kMaxTileRows, OUT));
    const int64_t tiles = (OUT + tr - 1) / tr;
    const int64_t groups = std::min(tiles, kGroups);
    check_blas({tr, IN, 3 * R});
    const int slots = max_threads();
    // W' is staged unless it is W itself in f32.
    const bool stage_w = lora || w.dtype == LP_BF16;

    ScratchPlan plan;
    const size_t wp_off = plan.add<float>(stage_w ? size_t(slots) * size_t(tr * IN) : 0);       // (slots, tr, IN)   W'
    const size_t g_off = plan.add<float>(lora_mode ? size_t(slots) * size_t(tr * IN) : 0);       // (slots, tr, IN)   G
    const size_t left_off = plan.add<float>(lora_mode ? size_t(slots) * size_t(tr * 3 * R) : 0);  // (slots, tr, 3R)  [gB, B, -gB]
    const size_t right_off = plan.add<float>(lora_mode ? size_t(3 * R * IN) : 0);                // (3R, IN)          [A; gA; gA]
    const size_t col_off = plan.add<double>(axis == 1 ? size_t(groups * IN) : 0);                // (groups, IN)
    void* base = scratch(ctx, plan.bytes());
    float* wp_all = ScratchPlan::at<float>(base, wp_off);
    float* g_all = ScratchPlan::at<float>(base, g_off);
    float* left_all = ScratchPlan::at<float>(base, left_off);
    float* right = ScratchPlan::at<float>(base, right_off);
    double* colsum = ScratchPlan::at<double>(base, col_off);

    const float* ap = lora ? f32(*a) : nullptr;    // (R, IN)
    const float* bp = lora ? f32(*b) : nullptr;    // (OUT, R)
    const float* gbp = lora_mode ? f32(*gb) : nullptr;  // (OUT, R)
    const float* gwp = gw ? f32(*gw) : nullptr;    // (OUT, IN)
    float* accp = f32(acc);                        // (OUT) or (IN)
    if (lora_mode) {
        // G = gB A + B gA - gB gA = [gB, B, -gB] [A; gA; gA]
        const float* gap = f32(*ga);
        for (int64_t r = 0; r < R; ++r)
            for (int64_t j = 0; j < IN; ++j) {
                right[r * IN + j] = ap[r * IN + j];
                right[(R + r) * IN + j] = gap[r * IN + j];
                right[(2 * R + r) * IN + j] = gap[r * IN + j];
            }
    }

    auto run_group = [&](int64_t grp, int slot) {
        const int64_t t0 = grp * tiles / groups, t1 = (grp + 1) * tiles / groups;
        float* wstage = wp_all + size_t(slot) * size_t(tr * IN);
        float* gstage = g_all + size_t(slot) * size_t(tr * IN);
        float* left = left_all + size_t(slot) * size_t(tr * 3 * R);
        double* cs = axis == 1 ? colsum + grp * IN : nullptr;
        if (cs) std::fill(cs, cs + IN, 0.0);
        for (int64_t t = t0; t < t1; ++t) {
            const int64_t i0 = t * tr, i1 = std::min(OUT, i0 + tr), rows = i1 - i0;
            // W' rows [i0, i1)
            const float* wt;
            if (!stage_w) {
                wt = f32(w) + i0 * IN;
            } else {
                for (int64_t i = i0; i < i1; ++i) load_row_f32(w, i, IN, wstage + (i - i0) * IN);
                if (lora) sgemm(false, false, rows, IN, R, scale, bp + i0 * R, R, ap, IN, 1.0f, wstage, IN);
                wt = wstage;
            }
            // G rows [i0, i1) (nullptr: G = 1)
            const float* gt = nullptr;
            if (lora_mode) {
                for (int64_t i = 0; i < rows; ++i)
                    for (int64_t r = 0; r < R; ++r) {
                        const float gbv = gbp[(i0 + i) * R + r];
                        left[i * 3 * R + r] = gbv;
                        left[i * 3 * R + R + r] = bp[(i0 + i) * R + r];
                        left[i * 3 * R + 2 * R + r] = -gbv;
                    }
                sgemm(false, false, rows, IN, 3 * R, 1.0f, left, 3 * R, right, IN, 0.0f, gstage, IN);
                gt = gstage;
            } else if (mode == LP_IMPORTANCE_GRAD) {
                gt = gwp + i0 * IN;
            }
            for (int64_t i = 0; i < rows; ++i) {
                const float* wr = wt + i * IN;
                const float* gr = gt ? gt + i * IN : nullptr;
                if (axis == 0) {
                    accp[i0 + i] = float(double(accp[i0 + i]) + row_abs_sum(wr, gr, IN));
                } else {
                    add_abs_columns(cs, wr, gr, IN);
                }
            }
        }
    };

    const int threads = max_threads();
    if (groups > 1 && threads > 1) {
#pragma omp parallel for schedule(dynamic, 1)
        for (int64_t grp = 0; grp < groups; ++grp) run_group(grp, omp_get_thread_num());
    } else {
        for (int64_t grp = 0; grp < groups; ++grp) run_group(grp, 0);
    }

    if (axis == 1) {
#pragma omp parallel for schedule(static) if (IN * groups >= kParallelMin)
        for (int64_t j = 0; j < IN; ++j) {
            double s = 0;
            for (int64_t grp = 0; grp < groups; ++grp) s += colsum[grp * IN + j];
            accp[j] = float(double(accp[j]) + s);
        }
    }
}

void importance_group_normalize(lp_context* ctx, const lp_tensor& v, int64_t group_size, const lp_tensor& out) {
    const int64_t K = out.ne[0];
    const float* vp = f32(v);  // (K * group_size)
    float* op = f32(out);      // (K)
    double* g = static_cast<double*>(scratch(ctx, size_t(K) * sizeof(double)));  // (K)
#pragma omp parallel for schedule(static) if (K * group_size >= kParallelMin)
    for (int64_t k = 0; k < K; ++k) g[k] = sum_f64(vp + k * group_size, group_size);
    double ss = 0;
    for (int64_t k = 0; k < K; ++k) ss += g[k] * g[k];
    const double denom = std::sqrt(ss) + 1e-8;
    for (int64_t k = 0; k < K; ++k) op[k] = float(double(op[k]) + g[k] / denom);
}

bool importance_ema(lp_context* ctx, const lp_tensor& ema, const lp_tensor& fresh, float decay) {
    const int64_t n = numel(ema);
    float* e = f32(ema);
    const float* f = f32(fresh);
    bool has_nan = false;
#pragma omp parallel for schedule(static) reduction(|| : has_nan) if (n >= kParallelMin)
    for (int64_t i = 0; i < n; ++i) has_nan = has_nan || std::isnan(f[i]);
    if (has_nan) return false;
    const double d = decay, keep = 1.0 - double(decay);
#pragma omp parallel for schedule(static) if (n >= kParallelMin)
    for (int64_t i = 0; i < n; ++i) e[i] = float(d * double(e[i]) + keep * double(f[i]));
    return true;
}

}  // namespace lp::backend

// cpu_linear.cpp — the LoRA linear layer (docs/method.md §1.3) forward and backward, and the LoRA
// merge, on the CPU. The frozen base GEMMs go straight to OpenBLAS; a bf16 W is converted to f32
// a tile of rows at a time, and dropout / mask products are staged in bounded row or column tiles,
// so scratch never grows with OUT x IN or N x IN. The dropout draws are vectorised (target clones of the
// counter-based hash, bit-identical to lp::dropout_factor); the backward draws each tile's factors once and
// applies them to both x (for dA) and the LoRA part of dx.
#include "cpu_common.h"

#include <algorithm>

namespace lp::backend {

using namespace lp::cpu;

namespace {

// Elements of one staging tile (16 MiB of f32).
constexpr int64_t kTileElems = int64_t(1) << 22;

// Rows per tile so that rows * width stays within kTileElems (at least one, at most `total`).
int64_t tile_rows(int64_t width, int64_t total) { return std::clamp<int64_t>(kTileElems / width, 1, total); }

// lp::dropout_factor(p, seed, offset, counter) from the integer draw, in a form the compiler vectorises.
LP_CPU_INLINE float factor_of(uint64_t seed, uint64_t counter, float p, float keep) {
    return (float)(int32_t)dropout_bits(seed, counter) * (1.0f / 16777216.0f) >= p ? keep : 0.0f;
}

// y[e] = x[e] * factor(index0 + e) for e < count: drop(x) over elements [index0, index0 + count). y may alias x.
LP_CPU_CLONES_512 void dropout_span(const float* x, float* y, int64_t count, uint64_t index0, float p, uint64_t seed, uint64_t offset) {
    if (p <= 0.0f) {
        for (int64_t e = 0; e < count; ++e) y[e] = x[e] * 1.0f;
        return;
    }
    const float keep = 1.0f / (1.0f - p);
    const uint64_t base = offset + index0;
    for (int64_t e = 0; e < count; ++e) y[e] = x[e] * factor_of(seed, base + uint64_t(e), p, keep);
}

// f[e] = factor(index0 + e) for e < count: the factors themselves, for a backward that applies them twice.
LP_CPU_CLONES_512 void dropout_factors(float* f, int64_t count, uint64_t index0, float p, uint64_t seed, uint64_t offset) {
    if (p <= 0.0f) {
        for (int64_t e = 0; e < count; ++e) f[e] = 1.0f;
        return;
    }
    const float keep = 1.0f / (1.0f - p);
    const uint64_t base = offset + index0;
    for (int64_t e = 0; e < count; ++e) f[e] = factor_of(seed, base + uint64_t(e), p, keep);
}

// True when every entry of the (OUT) mask is 1: multiplying by it changes no bit, so the mask passes are skipped (the
// scratch they would use is still reserved, so a step's memory does not depend on which units are pruned).
bool mask_is_identity(const lp_tensor& mask) {
    const float* m = f32(mask);
    for (int64_t o = 0; o < mask.ne[0]; ++o)
        if (m[o] != 1.0f) return false;
    return true;
}

// xd = drop(x) for rows [n0, n1) of x (N,IN): element index n*IN + j of x, as lp_op_dropout.
void dropout_rows(const float* x, float* xd, int64_t n0, int64_t n1, int64_t IN, float p, uint64_t seed, uint64_t offset) {
    const int64_t first = n0 * IN;
    parallel_ranges((n1 - n0) * IN, [&](int64_t begin, int64_t end) {
        dropout_span(x + first + begin, xd + begin, end - begin, uint64_t(first + begin), p, seed, offset);
    });
}

}  // namespace

void lora_linear_forward(lp_context* ctx, const lp_tensor& x, const lp_tensor& w, const lp_tensor* a, const lp_tensor* b, const lp_tensor* mask, float scale,
                         float dropout_p, uint64_t seed, uint64_t offset, const lp_tensor& y, const lp_tensor* xa) {
    const int64_t N = x.ne[0], IN = x.ne[1], OUT = w.ne[0], R = a ? a->ne[0] : 1;
    check_blas({N, IN, OUT, R});
    const float* xp = f32(x);  // (N, IN)
    float* yp = f32(y);        // (N, OUT)
    const bool staged_w = w.dtype == LP_BF16;
    const bool staged_x = a && dropout_p > 0.0f;
    const int64_t wrows = tile_rows(IN, OUT), xrows = tile_rows(IN, N);

    ScratchPlan plan;
    const size_t w_off = plan.add<float>(staged_w ? size_t(wrows * IN) : 0);  // (wrows, IN)
    const size_t x_off = plan.add<float>(staged_x ? size_t(xrows * IN) : 0);  // (xrows, IN)
    void* base = scratch(ctx, plan.bytes());
    float* wstage = ScratchPlan::at<float>(base, w_off);
    float* xstage = ScratchPlan::at<float>(base, x_off);

    // y = x W^T, a tile of W rows (= y columns) at a time when W must be converted.
    const int64_t wtile = staged_w ? wrows : OUT;
    for (int64_t o0 = 0; o0 < OUT; o0 += wtile) {
        const int64_t o1 = std::min(OUT, o0 + wtile);
        const float* wt = rows_f32(w, o0, o1, IN, wstage);
        sgemm(false, true, N, o1 - o0, IN, 1.0f, xp, IN, wt, IN, 0.0f, yp + o0, OUT);
    }

    if (a) {
        const float* ap = f32(*a);  // (R, IN)
        const float* bp = f32(*b);  // (OUT, R)
        float* xap = f32(*xa);      // (N, R)
        // xa = drop(x) A^T
        if (!staged_x) {
            sgemm(false, true, N, R, IN, 1.0f, xp, IN, ap, IN, 0.0f, xap, R);
        } else {
            for (int64_t n0 = 0; n0 < N; n0 += xrows) {
                const int64_t n1 = std::min(N, n0 + xrows);
                dropout_rows(xp, xstage, n0, n1, IN, dropout_p, seed, offset);
                sgemm(false, true, n1 - n0, R, IN, 1.0f, xstage, IN, ap, IN, 0.0f, xap + n0 * R, R);
            }
        }
        // y += scale * xa B^T
        sgemm(false, true, N, OUT, R, scale, xap, R, bp, R, 1.0f, yp, OUT);
    }

    if (mask && !mask_is_identity(*mask)) {
        const float* m = f32(*mask);  // (OUT)
#pragma omp parallel for schedule(static) if (N * OUT >= kParallelMin)
        for (int64_t n = 0; n < N; ++n) {
            float* row = yp + n * OUT;
            for (int64_t o = 0; o < OUT; ++o) row[o] *= m[o];
        }
    }
}

void lora_linear_backward(lp_context* ctx, const lp_tensor& dy, const lp_tensor& x, const lp_tensor& w, const lp_tensor* a, const lp_tensor* b, const lp_tensor* mask,
                          const lp_tensor* xa, float scale, float dropout_p, uint64_t seed, uint64_t offset, const lp_tensor* dx, const lp_tensor* da,
                          const lp_tensor* db, const lp_tensor* dw) {
    const int64_t N = x.ne[0], IN = x.ne[1], OUT = w.ne[0], R = a ? a->ne[0] : 1;
    check_blas({N, IN, OUT, R});
    const float* dyp = f32(dy);  // (N, OUT)
    const float* xp = f32(x);    // (N, IN)
    float* dxp = dx ? f32(*dx) : nullptr;  // (N, IN)

    // Phase 1 walks OUT in column tiles of g = dy (.) mask (and row tiles of W): dw, gB, db and
    // the base part of dx. Phase 2 (LoRA only) walks N in row tiles of drop(x): da and dx's LoRA part.
    const bool staged_g = mask != nullptr;  // scratch for g is reserved with any mask, used only with a pruned unit
    const bool apply_mask = mask && !mask_is_identity(*mask);
    const bool staged_w = dx && w.dtype == LP_BF16;
    const int64_t otile = (staged_g || staged_w) ? tile_rows(std::max(N, IN), OUT) : OUT;
    const bool staged_x = a && dropout_p > 0.0f;
    const int64_t xrows = tile_rows(IN, N);

    ScratchPlan plan;
    const size_t g_off = plan.add<float>(staged_g ? size_t(N * otile) : 0);            // (N, otile)
    const size_t w_off = plan.add<float>(staged_w ? size_t(otile * IN) : 0);           // (otile, IN)
    const size_t gb_off = plan.add<float>(a ? size_t(N * R) : 0);                      // (N, R)
    const size_t xd_off = plan.add<float>(staged_x ? size_t(xrows * IN) : 0);          // (xrows, IN)
    const size_t u_off = plan.add<float>(staged_x && dx ? size_t(xrows * IN) : 0);     // (xrows, IN) the tile's dropout factors
    void* base = scratch(ctx, plan.bytes());
    float* gstage = ScratchPlan::at<float>(base, g_off);
    float* wstage = ScratchPlan::at<float>(base, w_off);
    float* gb = ScratchPlan::at<float>(base, gb_off);
    float* xd = ScratchPlan::at<float>(base, xd_off);
    float* u = ScratchPlan::at<float>(base, u_off);

    const float* bp = b ? f32(*b) : nullptr;  // (OUT, R)
    for (int64_t o0 = 0; o0 < OUT; o0 += otile) {
        const int64_t o1 = std::min(OUT, o0 + otile), to = o1 - o0;
        const bool first = o0 == 0;
        // g[:, o0:o1] with its leading dimension
        const float* g = dyp + o0;
        int64_t ldg = OUT;
        if (apply_mask) {
            const float* m = f32(*mask) + o0;
#pragma omp parallel for schedule(static) if (N * to >= kParallelMin)
            for (int64_t n = 0; n < N; ++n)
                for (int64_t o = 0; o < to; ++o) gstage[n * to + o] = dyp[n * OUT + o0 + o] * m[o];
            g = gstage;
            ldg = to;
        }
        // dw[o0:o1] += g^T x
        if (dw) sgemm(true, false, to, IN, N, 1.0f, g, ldg, xp, IN, 1.0f, f32(*dw) + o0 * IN, IN);
        if (a) {
            // gB = g B (summed over the OUT tiles); db[o0:o1] += scale * g^T xa
            sgemm(false, false, N, R, to, 1.0f, g, ldg, bp + o0 * R, R, first ? 0.0f : 1.0f, gb, R);
            sgemm(true, false, to, R, N, scale, g, ldg, f32(*xa), R, 1.0f, f32(*db) + o0 * R, R);
        }
        // dx = g W (base part)
        if (dx) {
            const float* wt = rows_f32(w, o0, o1, IN, wstage);
            sgemm(false, false, N, IN, to, 1.0f, g, ldg, wt, IN, first ? 0.0f : 1.0f, dxp, IN);
        }
    }

    if (!a) return;
    const float* ap = f32(*a);  // (R, IN)
    float* dap = f32(*da);      // (R, IN)
    if (!staged_x) {
        // da += scale * gB^T x;  dx += scale * gB A
        sgemm(true, false, R, IN, N, scale, gb, R, xp, IN, 1.0f, dap, IN);
        if (dx) sgemm(false, false, N, IN, R, scale, gb, R, ap, IN, 1.0f, dxp, IN);
        return;
    }
    for (int64_t n0 = 0; n0 < N; n0 += xrows) {
        const int64_t n1 = std::min(N, n0 + xrows), nr = n1 - n0, count = nr * IN;
        const float* xr = xp + n0 * IN;
        if (!dx) {
            // da += scale * gB^T drop(x)
            dropout_rows(xp, xd, n0, n1, IN, dropout_p, seed, offset);
            sgemm(true, false, R, IN, nr, scale, gb + n0 * R, R, xd, IN, 1.0f, dap, IN);
            continue;
        }
        // The tile's factors (in u), then da += scale * gB^T (x (.) factors)
        parallel_ranges(count, [&](int64_t begin, int64_t end) {
            dropout_factors(u + begin, end - begin, uint64_t(n0 * IN + begin), dropout_p, seed, offset);
            for (int64_t k = begin; k < end; ++k) xd[k] = xr[k] * u[k];
        });
        sgemm(true, false, R, IN, nr, scale, gb + n0 * R, R, xd, IN, 1.0f, dap, IN);
        // dx += (scale * gB A) (.) factors, the product staged in xd (free again)
        sgemm(false, false, nr, IN, R, scale, gb + n0 * R, R, ap, IN, 0.0f, xd, IN);
        float* dxr = dxp + n0 * IN;
        parallel_ranges(count, [&](int64_t begin, int64_t end) {
            for (int64_t k = begin; k < end; ++k) dxr[k] += xd[k] * u[k];
        });
    }
}

void lora_merge(lp_context* ctx, const lp_tensor& w, const lp_tensor& a, const lp_tensor& b, float scale) {
    const int64_t OUT = w.ne[0], IN = w.ne[1], R = a.ne[0];
    check_blas({OUT, IN, R});
    const float* ap = f32(a);  // (R, IN)
    const float* bp = f32(b);  // (OUT, R)
    if (w.dtype == LP_F32) {
        // w += scale * B A: one f32 SGEMM in place.
        sgemm(false, false, OUT, IN, R, scale, bp, R, ap, IN, 1.0f, f32(w), IN);
        return;
    }
    // bf16: each tile of rows is widened to f32, updated, and rounded once back to bf16.
    const int64_t rows = tile_rows(IN, OUT);
    float* stage = static_cast<float*>(scratch(ctx, size_t(rows * IN) * sizeof(float)));  // (rows, IN)
    uint16_t* wp = u16(w);
    for (int64_t o0 = 0; o0 < OUT; o0 += rows) {
        const int64_t o1 = std::min(OUT, o0 + rows), count = (o1 - o0) * IN;
        rows_f32(w, o0, o1, IN, stage);
        sgemm(false, false, o1 - o0, IN, R, scale, bp + o0 * R, R, ap, IN, 1.0f, stage, IN);
        uint16_t* dst = wp + o0 * IN;
#pragma omp parallel for schedule(static) if (count >= kParallelMin)
        for (int64_t e = 0; e < count; ++e) dst[e] = f32_to_bf16(stage[e]);
    }
}

}  // namespace lp::backend

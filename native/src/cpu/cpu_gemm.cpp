// cpu_gemm.cpp — lp_op_gemm on the CPU: 2-D/3-D row-major GEMM with row strides, batch strides
// (0 = broadcast) and transposes, one OpenBLAS SGEMM per batch entry. bf16 operands are staged as
// compact f32 copies in the scratch workspace first.
#include "cpu_common.h"

namespace lp::backend {

using namespace lp::cpu;

namespace {

// One GEMM operand as BLAS sees it: base pointer, leading dimension, batch stride (elements).
struct Operand {
    const float* data;
    int64_t ld, batch_stride;
};

// Geometry of a 2-D or 3-D operand: batch count (1 for 2-D), rows, cols, row and batch strides.
struct Layout {
    int64_t batch, rows, cols, ld, batch_stride;
};

Layout layout_of(const lp_tensor& t) {
    const int r = t.ndim - 2;
    Layout l{t.ndim == 3 ? t.ne[0] : 1, t.ne[r], t.ne[r + 1], t.st[r], t.ndim == 3 ? t.st[0] : 0};
    if (l.rows == 1 || l.ld < l.cols) l.ld = l.cols;  // a single row: its stride is never used
    if (l.batch == 1) l.batch_stride = 0;
    return l;
}

// bf16 operand converted to a compact f32 (batch, rows, cols) copy at `stage`.
Operand stage_bf16(const lp_tensor& t, const Layout& l, float* stage) {
    const uint16_t* src = static_cast<const uint16_t*>(t.data);
    const int64_t batches = l.batch_stride == 0 ? 1 : l.batch;
    const int64_t total = batches * l.rows;
#pragma omp parallel for schedule(static) if (total * l.cols >= kParallelMin)
    for (int64_t br = 0; br < total; ++br) {
        const int64_t bi = br / l.rows, r = br % l.rows;
        const uint16_t* s = src + bi * l.batch_stride + r * l.ld;
        float* d = stage + br * l.cols;
        for (int64_t j = 0; j < l.cols; ++j) d[j] = bf16_to_f32(s[j]);
    }
    return Operand{stage, l.cols, batches == 1 ? 0 : l.rows * l.cols};
}

}  // namespace

void gemm(lp_context* ctx, const lp_tensor& a, const lp_tensor& b, const lp_tensor& c, bool trans_a, bool trans_b, float alpha, float beta) {
    const Layout la = layout_of(a), lb = layout_of(b), lc = layout_of(c);
    const int64_t m = lc.rows, n = lc.cols, k = trans_a ? la.rows : la.cols;
    const int64_t batch = lc.batch;

    Operand oa{static_cast<const float*>(a.data), la.ld, la.batch_stride};
    Operand ob{static_cast<const float*>(b.data), lb.ld, lb.batch_stride};
    if (a.dtype == LP_BF16) {
        ScratchPlan plan;
        const size_t sa = plan.add<float>(size_t((la.batch_stride == 0 ? 1 : la.batch) * la.rows * la.cols));
        const size_t sb = plan.add<float>(size_t((lb.batch_stride == 0 ? 1 : lb.batch) * lb.rows * lb.cols));
        void* base = scratch(ctx, plan.bytes());
        oa = stage_bf16(a, la, ScratchPlan::at<float>(base, sa));
        ob = stage_bf16(b, lb, ScratchPlan::at<float>(base, sb));
    }
    float* cdata = static_cast<float*>(c.data);
    check_blas({m, n, k, oa.ld, ob.ld, lc.ld});

    // Many small products: one single-threaded SGEMM per batch entry on each OpenMP thread.
    // Few or large products: one after the other, each split over the OpenMP threads.
    const bool many_small = batch >= 2 * max_threads() && double(m) * double(n) * double(k) < 64.0 * 64.0 * 64.0 * 8.0;
    if (many_small) {
#pragma omp parallel for schedule(static)
        for (int64_t i = 0; i < batch; ++i)
            sgemm(trans_a, trans_b, m, n, k, alpha, oa.data + i * oa.batch_stride, oa.ld, ob.data + i * ob.batch_stride, ob.ld, beta, cdata + i * lc.batch_stride,
                  lc.ld);
    } else {
        for (int64_t i = 0; i < batch; ++i)
            sgemm(trans_a, trans_b, m, n, k, alpha, oa.data + i * oa.batch_stride, oa.ld, ob.data + i * ob.batch_stride, ob.ld, beta, cdata + i * lc.batch_stride,
                  lc.ld);
    }
}

}  // namespace lp::backend

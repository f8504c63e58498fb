// api_ops_train.cpp — extern "C" entry points of the training, importance and utility ops of lp.h
// (AdamW, gradient norm and clipping, LoRAPrune importance, gathers, LoRA merge, elementwise).
// Each validates every argument exactly as lp.h states, then calls the backend.
#include "api_guard.h"

#include <string>

using namespace lp;
using namespace lp::api;

namespace {

void check_f32_same_shape(const lp_tensor& t, const char* name, const lp_tensor& like, const char* like_name) {
    check_dtype(t, name, {LP_F32});
    check_same_shape(t, name, like, like_name);
}

void check_single(const lp_tensor& t, const char* name) {
    check_dtype(t, name, {LP_F32});
    check_ndim(t, name, 1);
    check_dim(t, name, 0, 1, "a single-element vector");
}

// Rows and columns of a gather operand: a 1-D tensor (R) is (R,1).
struct Rows {
    int64_t rows, cols;
};

Rows rows_of(const lp_tensor& t, const char* name) {
    check_ndim_between(t, name, 1, 2);
    return t.ndim == 1 ? Rows{t.ne[0], 1} : Rows{t.ne[0], t.ne[1]};
}

void check_gather_shape(const lp_tensor& dst, Rows want, const char* rows_what, const char* cols_what) {
    Rows got = rows_of(dst, "dst");
    if (got.rows != want.rows || got.cols != want.cols)
        fail(LP_ERR_SHAPE_MISMATCH, "dst " + shape_string(dst) + " must be (" + std::to_string(want.rows) + "," + std::to_string(want.cols) + ") = (" + rows_what + ", " +
                                        cols_what + ")");
}

}  // namespace

extern "C" {

lp_status lp_op_adamw_step(lp_context_t ctx, const lp_tensor* param, const lp_tensor* grad, const lp_tensor* m, const lp_tensor* v, float lr, float beta1, float beta2,
                           float eps, float weight_decay, int64_t step) {
    LP_API_BODY({
        lp_context* c = check_context(ctx);
        const lp_tensor& tp = need(c, param, "param");
        const lp_tensor& tg = need(c, grad, "grad");
        const lp_tensor& tm = need(c, m, "m");
        const lp_tensor& tv = need(c, v, "v");
        check_dtype(tp, "param", {LP_F32});
        check_f32_same_shape(tg, "grad", tp, "param");
        check_f32_same_shape(tm, "m", tp, "param");
        check_f32_same_shape(tv, "v", tp, "param");
        check_finite(lr, "lr");
        check_finite(beta1, "beta1");
        check_finite(beta2, "beta2");
        check_finite(eps, "eps");
        check_finite(weight_decay, "weight_decay");
        if (lr < 0.0f) fail(LP_ERR_INVALID_ARGUMENT, "lr=" + std::to_string(lr) + " must not be negative");
        if (!(beta1 >= 0.0f && beta1 < 1.0f)) fail(LP_ERR_INVALID_ARGUMENT, "beta1=" + std::to_string(beta1) + " must be in [0, 1)");
        if (!(beta2 >= 0.0f && beta2 < 1.0f)) fail(LP_ERR_INVALID_ARGUMENT, "beta2=" + std::to_string(beta2) + " must be in [0, 1)");
        if (eps < 0.0f) fail(LP_ERR_INVALID_ARGUMENT, "eps=" + std::to_string(eps) + " must not be negative");
        if (weight_decay < 0.0f) fail(LP_ERR_INVALID_ARGUMENT, "weight_decay=" + std::to_string(weight_decay) + " must not be negative");
        if (step < 1) fail(LP_ERR_INVALID_ARGUMENT, "step=" + std::to_string(step) + " must be at least 1 (bias correction is 1-based)");
        check_outputs_disjoint({{&tp, "param"}, {&tm, "m"}, {&tv, "v"}}, {{&tg, "grad"}});
        backend::adamw_step(c, tp, tg, tm, tv, lr, beta1, beta2, eps, weight_decay, step);
    });
}

lp_status lp_op_grad_norm_accumulate(lp_context_t ctx, const lp_tensor* grad, const lp_tensor* sumsq) {
    LP_API_BODY({
        lp_context* c = check_context(ctx);
        const lp_tensor& tg = need(c, grad, "grad");
        const lp_tensor& ts = need(c, sumsq, "sumsq");
        check_dtype(tg, "grad", {LP_F32});
        check_single(ts, "sumsq");
        check_outputs_disjoint({{&ts, "sumsq"}}, {{&tg, "grad"}});
        backend::grad_norm_accumulate(c, tg, ts);
    });
}

lp_status lp_op_grad_clip(lp_context_t ctx, const lp_tensor* grad, const lp_tensor* sumsq, float max_norm) {
    LP_API_BODY({
        lp_context* c = check_context(ctx);
        const lp_tensor& tg = need(c, grad, "grad");
        const lp_tensor& ts = need(c, sumsq, "sumsq");
        check_dtype(tg, "grad", {LP_F32});
        check_single(ts, "sumsq");
        check_finite(max_norm, "max_norm");
        if (!(max_norm > 0.0f)) fail(LP_ERR_INVALID_ARGUMENT, "max_norm=" + std::to_string(max_norm) + " must be positive");
        check_outputs_disjoint({{&tg, "grad"}}, {{&ts, "sumsq"}});
        backend::grad_clip(c, tg, ts, max_norm);
    });
}

lp_status lp_op_importance_accumulate(lp_context_t ctx, const lp_tensor* w, const lp_tensor* a, const lp_tensor* b, const lp_tensor* ga, const lp_tensor* gb,
                                      const lp_tensor* gw, float scale, int32_t mode, int32_t axis, const lp_tensor* acc) {
    LP_API_BODY({
        lp_context* c = check_context(ctx);
        const lp_tensor& tw = need(c, w, "w");
        const lp_tensor* ta = maybe(c, a, "a");
        const lp_tensor* tb = maybe(c, b, "b");
        const lp_tensor* tga = maybe(c, ga, "ga");
        const lp_tensor* tgb = maybe(c, gb, "gb");
        const lp_tensor* tgw = maybe(c, gw, "gw");
        const lp_tensor& tacc = need(c, acc, "acc");
        if (mode != LP_IMPORTANCE_LORA && mode != LP_IMPORTANCE_GRAD && mode != LP_IMPORTANCE_MAGNITUDE)
            fail(LP_ERR_INVALID_ARGUMENT, "mode=" + std::to_string(mode) + " must be 0 (LP_IMPORTANCE_LORA), 1 (LP_IMPORTANCE_GRAD) or 2 (LP_IMPORTANCE_MAGNITUDE)");
        if (axis != 0 && axis != 1) fail(LP_ERR_INVALID_ARGUMENT, "axis=" + std::to_string(axis) + " must be 0 (per output row) or 1 (per input column)");
        check_dtype(tw, "w", {LP_F32, LP_BF16});
        check_ndim(tw, "w", 2);
        if ((ta == nullptr) != (tb == nullptr)) fail(LP_ERR_INVALID_ARGUMENT, std::string(ta ? "b" : "a") + " is NULL but " + (ta ? "a" : "b") + " is not: pass both or neither");
        if (ta) {
            check_dtype(*ta, "a", {LP_F32});
            check_ndim(*ta, "a", 2);
            check_dim(*ta, "a", 1, tw.ne[1], "w.ne[1] (IN)");
            check_dtype(*tb, "b", {LP_F32});
            check_ndim(*tb, "b", 2);
            check_dim(*tb, "b", 0, tw.ne[0], "w.ne[0] (OUT)");
            check_dim(*tb, "b", 1, ta->ne[0], "a.ne[0] (R)");
        }
        if (mode == LP_IMPORTANCE_LORA) {
            if (!ta) fail(LP_ERR_INVALID_ARGUMENT, "a and b are NULL but mode LP_IMPORTANCE_LORA needs them");
            if (!tga) fail(LP_ERR_INVALID_ARGUMENT, "ga is NULL but mode LP_IMPORTANCE_LORA needs it");
            if (!tgb) fail(LP_ERR_INVALID_ARGUMENT, "gb is NULL but mode LP_IMPORTANCE_LORA needs it");
            check_f32_same_shape(*tga, "ga", *ta, "a");
            check_f32_same_shape(*tgb, "gb", *tb, "b");
        } else {
            if (tga) fail(LP_ERR_INVALID_ARGUMENT, "ga must be NULL outside mode LP_IMPORTANCE_LORA");
            if (tgb) fail(LP_ERR_INVALID_ARGUMENT, "gb must be NULL outside mode LP_IMPORTANCE_LORA");
        }
        if (mode == LP_IMPORTANCE_GRAD) {
            if (!tgw) fail(LP_ERR_INVALID_ARGUMENT, "gw is NULL but mode LP_IMPORTANCE_GRAD needs it");
            check_dtype(*tgw, "gw", {LP_F32});
            check_same_shape(*tgw, "gw", tw, "w");
        } else if (tgw) {
            fail(LP_ERR_INVALID_ARGUMENT, "gw must be NULL outside mode LP_IMPORTANCE_GRAD");
        }
        check_finite(scale, "scale");
        check_dtype(tacc, "acc", {LP_F32});
        check_ndim(tacc, "acc", 1);
        check_dim(tacc, "acc", 0, tw.ne[axis], axis == 0 ? "w.ne[0] (OUT, axis 0)" : "w.ne[1] (IN, axis 1)");
        check_outputs_disjoint({{&tacc, "acc"}}, {{&tw, "w"}, {ta, "a"}, {tb, "b"}, {tga, "ga"}, {tgb, "gb"}, {tgw, "gw"}});
        backend::importance_accumulate(c, tw, ta, tb, tga, tgb, tgw, scale, mode, axis, tacc);
    });
}

lp_status lp_op_importance_group_normalize(lp_context_t ctx, const lp_tensor* v, int64_t group_size, const lp_tensor* out) {
    LP_API_BODY({
        lp_context* c = check_context(ctx);
        const lp_tensor& tv = need(c, v, "v");
        const lp_tensor& to = need(c, out, "out");
        check_dtype(tv, "v", {LP_F32});
        check_ndim(tv, "v", 1);
        if (group_size < 1) fail(LP_ERR_INVALID_ARGUMENT, "group_size=" + std::to_string(group_size) + " must be at least 1");
        if (tv.ne[0] % group_size)
            fail(LP_ERR_SHAPE_MISMATCH, "v.ne[0]=" + std::to_string(tv.ne[0]) + " is not a multiple of group_size=" + std::to_string(group_size));
        check_dtype(to, "out", {LP_F32});
        check_ndim(to, "out", 1);
        check_dim(to, "out", 0, tv.ne[0] / group_size, "v.ne[0]/group_size");
        check_outputs_disjoint({{&to, "out"}}, {{&tv, "v"}});
        backend::importance_group_normalize(c, tv, group_size, to);
    });
}

lp_status lp_op_importance_ema(lp_context_t ctx, const lp_tensor* ema, const lp_tensor* fresh, float decay, int32_t* out_applied) {
    LP_API_BODY({
        lp_context* c = check_context(ctx);
        if (!out_applied) fail(LP_ERR_INVALID_ARGUMENT, "out_applied is NULL");
        *out_applied = 0;
        const lp_tensor& te = need(c, ema, "ema");
        const lp_tensor& tf = need(c, fresh, "fresh");
        check_dtype(te, "ema", {LP_F32});
        check_ndim(te, "ema", 1);
        check_f32_same_shape(tf, "fresh", te, "ema");
        check_finite(decay, "decay");
        if (!(decay >= 0.0f && decay <= 1.0f)) fail(LP_ERR_INVALID_ARGUMENT, "decay=" + std::to_string(decay) + " must be in [0, 1]");
        check_outputs_disjoint({{&te, "ema"}}, {{&tf, "fresh"}});
        *out_applied = backend::importance_ema(c, te, tf, decay) ? 1 : 0;
    });
}

lp_status lp_op_gather_rows(lp_context_t ctx, const lp_tensor* src, const lp_tensor* idx, const lp_tensor* dst) {
    LP_API_BODY({
        lp_context* c = check_context(ctx);
        const lp_tensor& ts = need(c, src, "src");
        const lp_tensor& ti = need(c, idx, "idx");
        const lp_tensor& td = need(c, dst, "dst");
        Rows s = rows_of(ts, "src");
        check_dtype(ti, "idx", {LP_I32});
        check_ndim(ti, "idx", 1);
        check_dtype(td, "dst", {ts.dtype});
        check_gather_shape(td, Rows{ti.ne[0], s.cols}, "idx.ne[0] (K)", ts.ndim == 1 ? "1" : "src.ne[1] (C)");
        check_outputs_disjoint({{&td, "dst"}}, {{&ts, "src"}, {&ti, "idx"}});
        backend::gather_rows(c, ts, ti, td);
    });
}

lp_status lp_op_gather_cols(lp_context_t ctx, const lp_tensor* src, const lp_tensor* idx, const lp_tensor* dst) {
    LP_API_BODY({
        lp_context* c = check_context(ctx);
        const lp_tensor& ts = need(c, src, "src");
        const lp_tensor& ti = need(c, idx, "idx");
        const lp_tensor& td = need(c, dst, "dst");
        Rows s = rows_of(ts, "src");
        check_dtype(ti, "idx", {LP_I32});
        check_ndim(ti, "idx", 1);
        check_dtype(td, "dst", {ts.dtype});
        check_gather_shape(td, Rows{s.rows, ti.ne[0]}, "src.ne[0] (R)", "idx.ne[0] (K)");
        check_outputs_disjoint({{&td, "dst"}}, {{&ts, "src"}, {&ti, "idx"}});
        backend::gather_cols(c, ts, ti, td);
    });
}

lp_status lp_op_lora_merge(lp_context_t ctx, const lp_tensor* w, const lp_tensor* a, const lp_tensor* b, float scale) {
    LP_API_BODY({
        lp_context* c = check_context(ctx);
        const lp_tensor& tw = need(c, w, "w");
        const lp_tensor& ta = need(c, a, "a");
        const lp_tensor& tb = need(c, b, "b");
        check_dtype(tw, "w", {LP_F32, LP_BF16});
        check_ndim(tw, "w", 2);
        check_dtype(ta, "a", {LP_F32});
        check_ndim(ta, "a", 2);
        check_dim(ta, "a", 1, tw.ne[1], "w.ne[1] (IN)");
        check_dtype(tb, "b", {LP_F32});
        check_ndim(tb, "b", 2);
        check_dim(tb, "b", 0, tw.ne[0], "w.ne[0] (OUT)");
        check_dim(tb, "b", 1, ta.ne[0], "a.ne[0] (R)");
        check_finite(scale, "scale");
        check_outputs_disjoint({{&tw, "w"}}, {{&ta, "a"}, {&tb, "b"}});
        backend::lora_merge(c, tw, ta, tb, scale);
    });
}

lp_status lp_op_add(lp_context_t ctx, const lp_tensor* a, const lp_tensor* b, const lp_tensor* out) {
    LP_API_BODY({
        lp_context* c = check_context(ctx);
        const lp_tensor& ta = need(c, a, "a");
        const lp_tensor& tb = need(c, b, "b");
        const lp_tensor& to = need(c, out, "out");
        check_dtype(ta, "a", {LP_F32});
        check_f32_same_shape(tb, "b", ta, "a");
        check_f32_same_shape(to, "out", ta, "a");
        check_alias_exact_or_disjoint(to, "out", ta, "a");
        check_alias_exact_or_disjoint(to, "out", tb, "b");
        backend::add(c, ta, tb, to);
    });
}

lp_status lp_op_mul(lp_context_t ctx, const lp_tensor* a, const lp_tensor* b, const lp_tensor* out) {
    LP_API_BODY({
        lp_context* c = check_context(ctx);
        const lp_tensor& ta = need(c, a, "a");
        const lp_tensor& tb = need(c, b, "b");
        const lp_tensor& to = need(c, out, "out");
        check_dtype(ta, "a", {LP_F32});
        check_f32_same_shape(tb, "b", ta, "a");
        check_f32_same_shape(to, "out", ta, "a");
        check_alias_exact_or_disjoint(to, "out", ta, "a");
        check_alias_exact_or_disjoint(to, "out", tb, "b");
        backend::mul(c, ta, tb, to);
    });
}

lp_status lp_op_axpy(lp_context_t ctx, float alpha, const lp_tensor* x, const lp_tensor* y) {
    LP_API_BODY({
        lp_context* c = check_context(ctx);
        const lp_tensor& tx = need(c, x, "x");
        const lp_tensor& ty = need(c, y, "y");
        check_dtype(tx, "x", {LP_F32});
        check_f32_same_shape(ty, "y", tx, "x");
        check_finite(alpha, "alpha");
        check_outputs_disjoint({{&ty, "y"}}, {{&tx, "x"}});
        backend::axpy(c, alpha, tx, ty);
    });
}

lp_status lp_op_convert(lp_context_t ctx, const lp_tensor* src, const lp_tensor* dst) {
    LP_API_BODY({
        lp_context* c = check_context(ctx);
        const lp_tensor& ts = need(c, src, "src");
        const lp_tensor& td = need(c, dst, "dst");
        check_dtype(ts, "src", {LP_F32, LP_F16, LP_BF16});
        check_dtype(td, "dst", {LP_F32, LP_F16, LP_BF16});
        check_same_shape(td, "dst", ts, "src");
        check_outputs_disjoint({{&td, "dst"}}, {{&ts, "src"}});
        backend::convert(c, ts, td);
    });
}

}  // extern "C"

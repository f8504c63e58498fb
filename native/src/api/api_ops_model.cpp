// api_ops_model.cpp — extern "C" entry points of the model ops of lp.h (embedding, RMSNorm, RoPE,
// GEMM, attention, SwiGLU, dropout, LoRA linear, projection bias, cross-entropy). Each validates every argument
// exactly as lp.h states (dtypes, ranks, sizes, aliasing, scalar ranges), then calls the backend.
#include "api_guard.h"
#include "api_widen.h"

#include <string>

using namespace lp;
using namespace lp::api;

namespace {

void check_dropout_p(float p) {
    if (!(p >= 0.0f && p < 1.0f)) fail(LP_ERR_INVALID_ARGUMENT, "dropout_p=" + std::to_string(p) + " must be in [0, 1)");
}

// A (rows, cols) row-major GEMM operand: rows, cols and leading dimension of its last two dims.
struct Matrix {
    int64_t rows, cols, ld;
};

Matrix matrix_of(const lp_tensor& t, const char* name) {
    int r = t.ndim - 2;
    Matrix m{t.ne[r], t.ne[r + 1], t.st[r]};
    if (m.rows > 1 && m.ld < m.cols)
        fail(LP_ERR_SHAPE_MISMATCH, std::string(name) + ".st[" + std::to_string(r) + "]=" + std::to_string(m.ld) + " (row stride) is smaller than " +
                                        ne_name(name, r + 1) + "=" + std::to_string(m.cols));
    return m;
}

// Shared checks of the rope forward and backward entry points.
void check_rope(const lp_tensor& in, const char* in_name, const lp_tensor& out, const char* out_name, const lp_tensor* inv_freq, float theta,
                int64_t pos_offset) {
    check_dtype(in, in_name, {LP_F32, LP_BF16});
    check_ndim(in, in_name, 4);
    if (in.ne[3] % 2) fail(LP_ERR_SHAPE_MISMATCH, ne_name(in_name, 3) + "=" + std::to_string(in.ne[3]) + " (head dim D) must be even");
    check_dtype(out, out_name, {in.dtype});
    check_same_shape(out, out_name, in, in_name);
    check_alias_exact_or_disjoint(out, out_name, in, in_name);
    if (inv_freq) {
        check_dtype(*inv_freq, "inv_freq", {LP_F32});
        check_ndim(*inv_freq, "inv_freq", 1);
        check_dim(*inv_freq, "inv_freq", 0, in.ne[3] / 2, ne_name(in_name, 3) + "/2");
        check_outputs_disjoint({{&out, out_name}}, {{inv_freq, "inv_freq"}});
    } else {
        check_finite(theta, "theta");
        if (!(theta > 0.0f)) fail(LP_ERR_INVALID_ARGUMENT, "theta=" + std::to_string(theta) + " must be positive when inv_freq is NULL");
    }
    if (pos_offset < 0) fail(LP_ERR_INVALID_ARGUMENT, "pos_offset=" + std::to_string(pos_offset) + " must not be negative");
}

// q (B,T,H,D), k and v (B,T,KVH,D) with KVH dividing H; lse (B,H,T).
void check_attention_inputs(const lp_tensor& q, const lp_tensor& k, const lp_tensor& v, float scale) {
    check_dtype(q, "q", {LP_F32, LP_BF16});
    check_ndim(q, "q", 4);
    check_dtype(k, "k", {q.dtype});
    check_ndim(k, "k", 4);
    check_dim(k, "k", 0, q.ne[0], "q.ne[0] (B)");
    check_dim(k, "k", 1, q.ne[1], "q.ne[1] (T)");
    check_dim(k, "k", 3, q.ne[3], "q.ne[3] (D)");
    if (q.ne[2] % k.ne[2])
        fail(LP_ERR_SHAPE_MISMATCH, "k.ne[2]=" + std::to_string(k.ne[2]) + " (KVH) does not divide q.ne[2]=" + std::to_string(q.ne[2]) + " (H)");
    check_dtype(v, "v", {q.dtype});
    check_same_shape(v, "v", k, "k");
    check_finite(scale, "scale");
}

void check_lse(const lp_tensor& lse, const lp_tensor& q) {
    check_dtype(lse, "lse", {LP_F32});
    check_ndim(lse, "lse", 3);
    check_dim(lse, "lse", 0, q.ne[0], "q.ne[0] (B)");
    check_dim(lse, "lse", 1, q.ne[2], "q.ne[2] (H)");
    check_dim(lse, "lse", 2, q.ne[1], "q.ne[1] (T)");
}

// Shapes shared by the LoRA linear forward and backward: x (N,IN), w (OUT,IN), a (R,IN), b (OUT,R),
// mask (OUT), xa (N,R); a, b and xa present together.
void check_lora_linear(const lp_tensor& x, const lp_tensor& w, const lp_tensor* a, const lp_tensor* b, const lp_tensor* mask, const lp_tensor* xa, float scale,
                       float dropout_p) {
    check_dtype(x, "x", {LP_F32, LP_BF16});
    check_ndim(x, "x", 2);
    check_dtype(w, "w", {LP_F32, LP_BF16});
    check_ndim(w, "w", 2);
    check_dim(w, "w", 1, x.ne[1], "x.ne[1] (IN)");
    if ((a == nullptr) != (b == nullptr)) fail(LP_ERR_INVALID_ARGUMENT, std::string(a ? "b" : "a") + " is NULL but " + (a ? "a" : "b") + " is not: pass both or neither");
    if (a) {
        check_dtype(*a, "a", {LP_F32});
        check_ndim(*a, "a", 2);
        check_dim(*a, "a", 1, x.ne[1], "x.ne[1] (IN)");
        check_dtype(*b, "b", {LP_F32});
        check_ndim(*b, "b", 2);
        check_dim(*b, "b", 0, w.ne[0], "w.ne[0] (OUT)");
        check_dim(*b, "b", 1, a->ne[0], "a.ne[0] (R)");
        if (!xa) fail(LP_ERR_INVALID_ARGUMENT, "xa is NULL but a and b are given");
        check_dtype(*xa, "xa", {LP_F32});
        check_ndim(*xa, "xa", 2);
        check_dim(*xa, "xa", 0, x.ne[0], "x.ne[0] (N)");
        check_dim(*xa, "xa", 1, a->ne[0], "a.ne[0] (R)");
    } else if (xa) {
        fail(LP_ERR_INVALID_ARGUMENT, "xa must be NULL when a and b are NULL");
    }
    if (mask) {
        check_dtype(*mask, "mask", {LP_F32});
        check_ndim(*mask, "mask", 1);
        check_dim(*mask, "mask", 0, w.ne[0], "w.ne[0] (OUT)");
    }
    check_finite(scale, "scale");
    check_dropout_p(dropout_p);
}

void check_cross_entropy_inputs(const lp_tensor& logits, const lp_tensor& targets) {
    check_dtype(logits, "logits", {LP_F32});
    check_ndim(logits, "logits", 2);
    check_dtype(targets, "targets", {LP_I32});
    check_ndim(targets, "targets", 1);
    check_dim(targets, "targets", 0, logits.ne[0], "logits.ne[0] (N)");
}

void check_rows_vector(const lp_tensor& t, const char* name, const lp_tensor& rows_of, const char* rows_name) {
    check_dtype(t, name, {LP_F32});
    check_ndim(t, name, 1);
    check_dim(t, name, 0, rows_of.ne[0], ne_name(rows_name, 0) + " (N)");
}

// An (OUT) f32 vector of a projection: its mask, bias gradient.
void check_out_vector(const lp_tensor& t, const char* name, int64_t out, const char* what) {
    check_dtype(t, name, {LP_F32});
    check_ndim(t, name, 1);
    check_dim(t, name, 0, out, what);
}

}  // namespace

extern "C" {

lp_status lp_op_embedding_forward(lp_context_t ctx, const lp_tensor* table, const lp_tensor* ids, const lp_tensor* out) {
    LP_API_BODY({
        lp_context* c = check_context(ctx);
        const lp_tensor& t = need(c, table, "table");
        const lp_tensor& i = need(c, ids, "ids");
        const lp_tensor& o = need(c, out, "out");
        check_dtype(t, "table", {LP_F32, LP_BF16});
        check_ndim(t, "table", 2);
        check_dtype(i, "ids", {LP_I32});
        check_ndim(i, "ids", 1);
        check_dtype(o, "out", {LP_F32});
        check_ndim(o, "out", 2);
        check_dim(o, "out", 0, i.ne[0], "ids.ne[0] (N)");
        check_dim(o, "out", 1, t.ne[1], "table.ne[1] (C)");
        check_outputs_disjoint({{&o, "out"}}, {{&t, "table"}, {&i, "ids"}});
        backend::embedding_forward(c, t, i, o);
    });
}

lp_status lp_op_embedding_backward(lp_context_t ctx, const lp_tensor* dout, const lp_tensor* ids, const lp_tensor* dtable) {
    LP_API_BODY({
        lp_context* c = check_context(ctx);
        const lp_tensor& d = need(c, dout, "dout");
        const lp_tensor& i = need(c, ids, "ids");
        const lp_tensor& t = need(c, dtable, "dtable");
        check_dtype(d, "dout", {LP_F32});
        check_ndim(d, "dout", 2);
        check_dtype(i, "ids", {LP_I32});
        check_ndim(i, "ids", 1);
        check_dim(i, "ids", 0, d.ne[0], "dout.ne[0] (N)");
        check_dtype(t, "dtable", {LP_F32});
        check_ndim(t, "dtable", 2);
        check_dim(t, "dtable", 1, d.ne[1], "dout.ne[1] (C)");
        check_outputs_disjoint({{&t, "dtable"}}, {{&d, "dout"}, {&i, "ids"}});
        backend::embedding_backward(c, d, i, t);
    });
}

lp_status lp_op_rmsnorm_forward(lp_context_t ctx, const lp_tensor* x, const lp_tensor* weight, float eps, const lp_tensor* y, const lp_tensor* rstd) {
    LP_API_BODY({
        lp_context* c = check_context(ctx);
        const lp_tensor& tx = need(c, x, "x");
        const lp_tensor& tw = need(c, weight, "weight");
        const lp_tensor& ty = need(c, y, "y");
        const lp_tensor& tr = need(c, rstd, "rstd");
        check_dtype(tx, "x", {LP_F32});
        check_ndim(tx, "x", 2);
        check_dtype(tw, "weight", {LP_F32});
        check_ndim(tw, "weight", 1);
        check_dim(tw, "weight", 0, tx.ne[1], "x.ne[1] (C)");
        check_dtype(ty, "y", {LP_F32, LP_BF16});
        check_same_shape(ty, "y", tx, "x");
        check_rows_vector(tr, "rstd", tx, "x");
        check_finite(eps, "eps");
        if (eps < 0.0f) fail(LP_ERR_INVALID_ARGUMENT, "eps=" + std::to_string(eps) + " must not be negative");
        if (ty.dtype != tx.dtype) check_no_overlap(ty, "y", tx, "x");  // only an f32 y may alias x
        check_alias_exact_or_disjoint(ty, "y", tx, "x");
        check_outputs_disjoint({{&ty, "y"}, {&tr, "rstd"}}, {{&tw, "weight"}});
        check_no_overlap(tr, "rstd", tx, "x");
        F32Activations f32(c);
        backend::rmsnorm_forward(c, tx, tw, eps, f32.out(ty), tr);
        f32.finish();
    });
}

lp_status lp_op_rmsnorm_backward(lp_context_t ctx, const lp_tensor* dy, const lp_tensor* x, const lp_tensor* weight, const lp_tensor* rstd, const lp_tensor* dx,
                                 const lp_tensor* dweight) {
    LP_API_BODY({
        lp_context* c = check_context(ctx);
        const lp_tensor& tdy = need(c, dy, "dy");
        const lp_tensor& tx = need(c, x, "x");
        const lp_tensor& tw = need(c, weight, "weight");
        const lp_tensor& tr = need(c, rstd, "rstd");
        const lp_tensor& tdx = need(c, dx, "dx");
        const lp_tensor* tdw = maybe(c, dweight, "dweight");
        check_dtype(tx, "x", {LP_F32});
        check_ndim(tx, "x", 2);
        check_dtype(tdy, "dy", {LP_F32});
        check_same_shape(tdy, "dy", tx, "x");
        check_dtype(tw, "weight", {LP_F32});
        check_ndim(tw, "weight", 1);
        check_dim(tw, "weight", 0, tx.ne[1], "x.ne[1] (C)");
        check_rows_vector(tr, "rstd", tx, "x");
        check_dtype(tdx, "dx", {LP_F32});
        check_same_shape(tdx, "dx", tx, "x");
        if (tdw) {
            check_dtype(*tdw, "dweight", {LP_F32});
            check_same_shape(*tdw, "dweight", tw, "weight");
        }
        check_outputs_disjoint({{&tdx, "dx"}, {tdw, "dweight"}}, {{&tdy, "dy"}, {&tx, "x"}, {&tw, "weight"}, {&tr, "rstd"}});
        backend::rmsnorm_backward(c, tdy, tx, tw, tr, tdx, tdw);
    });
}

lp_status lp_op_rope_forward(lp_context_t ctx, const lp_tensor* x, const lp_tensor* y, const lp_tensor* inv_freq, float theta, int64_t pos_offset) {
    LP_API_BODY({
        lp_context* c = check_context(ctx);
        const lp_tensor& tx = need(c, x, "x");
        const lp_tensor& ty = need(c, y, "y");
        const lp_tensor* tf = maybe(c, inv_freq, "inv_freq");
        check_rope(tx, "x", ty, "y", tf, theta, pos_offset);
        F32Activations f32(c);
        const lp_tensor& x32 = f32.in(tx);
        backend::rope_forward(c, x32, f32.out(ty), tf, theta, pos_offset);
        f32.finish();
    });
}

lp_status lp_op_rope_backward(lp_context_t ctx, const lp_tensor* dy, const lp_tensor* dx, const lp_tensor* inv_freq, float theta, int64_t pos_offset) {
    LP_API_BODY({
        lp_context* c = check_context(ctx);
        const lp_tensor& tdy = need(c, dy, "dy");
        const lp_tensor& tdx = need(c, dx, "dx");
        const lp_tensor* tf = maybe(c, inv_freq, "inv_freq");
        check_rope(tdy, "dy", tdx, "dx", tf, theta, pos_offset);
        F32Activations f32(c);
        const lp_tensor& dy32 = f32.in(tdy);
        backend::rope_backward(c, dy32, f32.out(tdx), tf, theta, pos_offset);
        f32.finish();
    });
}

lp_status lp_op_gemm(lp_context_t ctx, const lp_tensor* a, const lp_tensor* b, const lp_tensor* c, int32_t trans_a, int32_t trans_b, float alpha, float beta) {
    LP_API_BODY({
        lp_context* cx = check_context(ctx);
        const lp_tensor& ta = need_strided(cx, a, "a");
        const lp_tensor& tb = need_strided(cx, b, "b");
        const lp_tensor& tc = need_strided(cx, c, "c");
        check_ndim_between(ta, "a", 2, 3);
        check_ndim_between(tb, "b", 2, 3);
        check_ndim_between(tc, "c", 2, 3);
        check_dtype(ta, "a", {LP_F32, LP_BF16});
        check_dtype(tb, "b", {ta.dtype});
        check_dtype(tc, "c", {LP_F32});
        check_finite(alpha, "alpha");
        check_finite(beta, "beta");
        const bool tra = trans_a != 0, trb = trans_b != 0;
        Matrix ma = matrix_of(ta, "a"), mc = matrix_of(tc, "c");
        matrix_of(tb, "b");
        const int ra = ta.ndim - 2, rb = tb.ndim - 2, rc = tc.ndim - 2;
        // op(A) is (M,K), op(B) is (K,N), C is (M,N).
        const int64_t m = mc.rows, n = mc.cols, k = tra ? ma.rows : ma.cols;
        check_dim(ta, "a", tra ? ra + 1 : ra, m, ne_name("c", rc) + " (M)");
        check_dim(tb, "b", trb ? rb + 1 : rb, k, ne_name("a", tra ? ra : ra + 1) + " (K)");
        check_dim(tb, "b", trb ? rb : rb + 1, n, ne_name("c", rc + 1) + " (N)");
        const int64_t batch = tc.ndim == 3 ? tc.ne[0] : 1;
        if (ta.ndim == 3) check_dim(ta, "a", 0, batch, tc.ndim == 3 ? "c.ne[0] (batch)" : std::string("the batch of a 2-D c"));
        if (tb.ndim == 3) check_dim(tb, "b", 0, batch, tc.ndim == 3 ? "c.ne[0] (batch)" : std::string("the batch of a 2-D c"));
        if (batch > 1 && tc.st[0] < (mc.rows - 1) * mc.ld + mc.cols)
            fail(LP_ERR_SHAPE_MISMATCH, "c.st[0]=" + std::to_string(tc.st[0]) + " (batch stride) makes the batches of c overlap: it must be at least " +
                                            std::to_string((mc.rows - 1) * mc.ld + mc.cols));
        check_outputs_disjoint({{&tc, "c"}}, {{&ta, "a"}, {&tb, "b"}});
        backend::gemm(cx, ta, tb, tc, tra, trb, alpha, beta);
    });
}

lp_status lp_op_attention_forward(lp_context_t ctx, const lp_tensor* q, const lp_tensor* k, const lp_tensor* v, float scale, const lp_tensor* out, const lp_tensor* lse) {
    LP_API_BODY({
        lp_context* c = check_context(ctx);
        const lp_tensor& tq = need(c, q, "q");
        const lp_tensor& tk = need(c, k, "k");
        const lp_tensor& tv = need(c, v, "v");
        const lp_tensor& to = need(c, out, "out");
        const lp_tensor& tl = need(c, lse, "lse");
        check_attention_inputs(tq, tk, tv, scale);
        check_dtype(to, "out", {tq.dtype});
        check_same_shape(to, "out", tq, "q");
        check_lse(tl, tq);
        check_outputs_disjoint({{&to, "out"}, {&tl, "lse"}}, {{&tq, "q"}, {&tk, "k"}, {&tv, "v"}});
        F32Activations f32(c);
        backend::attention_forward(c, f32.in(tq), f32.in(tk), f32.in(tv), scale, f32.out(to), tl);
        f32.finish();
    });
}

lp_status lp_op_attention_backward(lp_context_t ctx, const lp_tensor* q, const lp_tensor* k, const lp_tensor* v, const lp_tensor* out, const lp_tensor* lse,
                                   const lp_tensor* dout, float scale, const lp_tensor* dq, const lp_tensor* dk, const lp_tensor* dv) {
    LP_API_BODY({
        lp_context* c = check_context(ctx);
        const lp_tensor& tq = need(c, q, "q");
        const lp_tensor& tk = need(c, k, "k");
        const lp_tensor& tv = need(c, v, "v");
        const lp_tensor& to = need(c, out, "out");
        const lp_tensor& tl = need(c, lse, "lse");
        const lp_tensor& tdo = need(c, dout, "dout");
        const lp_tensor& tdq = need(c, dq, "dq");
        const lp_tensor& tdk = need(c, dk, "dk");
        const lp_tensor& tdv = need(c, dv, "dv");
        check_attention_inputs(tq, tk, tv, scale);
        check_dtype(to, "out", {tq.dtype});
        check_same_shape(to, "out", tq, "q");
        check_lse(tl, tq);
        check_dtype(tdo, "dout", {LP_F32});
        check_same_shape(tdo, "dout", tq, "q");
        check_dtype(tdq, "dq", {LP_F32});
        check_same_shape(tdq, "dq", tq, "q");
        check_dtype(tdk, "dk", {LP_F32});
        check_same_shape(tdk, "dk", tk, "k");
        check_dtype(tdv, "dv", {LP_F32});
        check_same_shape(tdv, "dv", tv, "v");
        check_outputs_disjoint({{&tdq, "dq"}, {&tdk, "dk"}, {&tdv, "dv"}},
                               {{&tq, "q"}, {&tk, "k"}, {&tv, "v"}, {&to, "out"}, {&tl, "lse"}, {&tdo, "dout"}});
        F32Activations f32(c);
        backend::attention_backward(c, f32.in(tq), f32.in(tk), f32.in(tv), f32.in(to), tl, tdo, scale, tdq, tdk, tdv);
    });
}

lp_status lp_op_swiglu_forward(lp_context_t ctx, const lp_tensor* gate, const lp_tensor* up, const lp_tensor* out) {
    LP_API_BODY({
        lp_context* c = check_context(ctx);
        const lp_tensor& tg = need(c, gate, "gate");
        const lp_tensor& tu = need(c, up, "up");
        const lp_tensor& to = need(c, out, "out");
        check_dtype(tg, "gate", {LP_F32, LP_BF16});
        check_ndim(tg, "gate", 2);
        check_dtype(tu, "up", {tg.dtype});
        check_same_shape(tu, "up", tg, "gate");
        check_dtype(to, "out", {tg.dtype});
        check_same_shape(to, "out", tg, "gate");
        check_outputs_disjoint({{&to, "out"}}, {{&tg, "gate"}, {&tu, "up"}});
        F32Activations f32(c);
        backend::swiglu_forward(c, f32.in(tg), f32.in(tu), f32.out(to));
        f32.finish();
    });
}

lp_status lp_op_swiglu_backward(lp_context_t ctx, const lp_tensor* dout, const lp_tensor* gate, const lp_tensor* up, const lp_tensor* dgate, const lp_tensor* dup) {
    LP_API_BODY({
        lp_context* c = check_context(ctx);
        const lp_tensor& tdo = need(c, dout, "dout");
        const lp_tensor& tg = need(c, gate, "gate");
        const lp_tensor& tu = need(c, up, "up");
        const lp_tensor& tdg = need(c, dgate, "dgate");
        const lp_tensor& tdu = need(c, dup, "dup");
        check_dtype(tg, "gate", {LP_F32, LP_BF16});
        check_ndim(tg, "gate", 2);
        check_dtype(tu, "up", {tg.dtype});
        check_same_shape(tu, "up", tg, "gate");
        check_dtype(tdo, "dout", {LP_F32});
        check_same_shape(tdo, "dout", tg, "gate");
        check_dtype(tdg, "dgate", {LP_F32});
        check_same_shape(tdg, "dgate", tg, "gate");
        check_dtype(tdu, "dup", {LP_F32});
        check_same_shape(tdu, "dup", tg, "gate");
        check_outputs_disjoint({{&tdg, "dgate"}, {&tdu, "dup"}}, {{&tdo, "dout"}, {&tg, "gate"}, {&tu, "up"}});
        F32Activations f32(c);
        backend::swiglu_backward(c, tdo, f32.in(tg), f32.in(tu), tdg, tdu);
    });
}

lp_status lp_op_dropout(lp_context_t ctx, const lp_tensor* x, const lp_tensor* y, float p, uint64_t seed, uint64_t offset) {
    LP_API_BODY({
        lp_context* c = check_context(ctx);
        const lp_tensor& tx = need(c, x, "x");
        const lp_tensor& ty = need(c, y, "y");
        check_dtype(tx, "x", {LP_F32});
        check_dtype(ty, "y", {LP_F32});
        check_same_shape(ty, "y", tx, "x");
        if (!(p >= 0.0f && p < 1.0f)) fail(LP_ERR_INVALID_ARGUMENT, "p=" + std::to_string(p) + " must be in [0, 1)");
        check_alias_exact_or_disjoint(ty, "y", tx, "x");
        backend::dropout(c, tx, ty, p, seed, offset);
    });
}

lp_status lp_op_lora_linear_forward(lp_context_t ctx, const lp_tensor* x, const lp_tensor* w, const lp_tensor* a, const lp_tensor* b, const lp_tensor* mask,
                                    float scale, float dropout_p, uint64_t seed, uint64_t offset, const lp_tensor* y, const lp_tensor* xa) {
    LP_API_BODY({
        lp_context* c = check_context(ctx);
        const lp_tensor& tx = need(c, x, "x");
        const lp_tensor& tw = need(c, w, "w");
        const lp_tensor* ta = maybe(c, a, "a");
        const lp_tensor* tb = maybe(c, b, "b");
        const lp_tensor* tm = maybe(c, mask, "mask");
        const lp_tensor& ty = need(c, y, "y");
        const lp_tensor* txa = maybe(c, xa, "xa");
        check_lora_linear(tx, tw, ta, tb, tm, txa, scale, dropout_p);
        check_dtype(ty, "y", {LP_F32, LP_BF16});
        check_ndim(ty, "y", 2);
        check_dim(ty, "y", 0, tx.ne[0], "x.ne[0] (N)");
        check_dim(ty, "y", 1, tw.ne[0], "w.ne[0] (OUT)");
        check_outputs_disjoint({{&ty, "y"}, {txa, "xa"}}, {{&tx, "x"}, {&tw, "w"}, {ta, "a"}, {tb, "b"}, {tm, "mask"}});
        F32Activations f32(c);
        backend::lora_linear_forward(c, f32.in(tx), tw, ta, tb, tm, scale, dropout_p, seed, offset, f32.out(ty), txa);
        f32.finish();
    });
}

lp_status lp_op_lora_linear_backward(lp_context_t ctx, const lp_tensor* dy, const lp_tensor* x, const lp_tensor* w, const lp_tensor* a, const lp_tensor* b,
                                     const lp_tensor* mask, const lp_tensor* xa, float scale, float dropout_p, uint64_t seed, uint64_t offset, const lp_tensor* dx,
                                     const lp_tensor* da, const lp_tensor* db, const lp_tensor* dw) {
    LP_API_BODY({
        lp_context* c = check_context(ctx);
        const lp_tensor& tdy = need(c, dy, "dy");
        const lp_tensor& tx = need(c, x, "x");
        const lp_tensor& tw = need(c, w, "w");
        const lp_tensor* ta = maybe(c, a, "a");
        const lp_tensor* tb = maybe(c, b, "b");
        const lp_tensor* tm = maybe(c, mask, "mask");
        const lp_tensor* txa = maybe(c, xa, "xa");
        const lp_tensor* tdx = maybe(c, dx, "dx");
        const lp_tensor* tda = maybe(c, da, "da");
        const lp_tensor* tdb = maybe(c, db, "db");
        const lp_tensor* tdw = maybe(c, dw, "dw");
        check_lora_linear(tx, tw, ta, tb, tm, txa, scale, dropout_p);
        check_dtype(tdy, "dy", {LP_F32});
        check_ndim(tdy, "dy", 2);
        check_dim(tdy, "dy", 0, tx.ne[0], "x.ne[0] (N)");
        check_dim(tdy, "dy", 1, tw.ne[0], "w.ne[0] (OUT)");
        if ((tda == nullptr) != (ta == nullptr)) fail(LP_ERR_INVALID_ARGUMENT, ta ? "da is NULL but a is given" : "da must be NULL when a is NULL");
        if ((tdb == nullptr) != (tb == nullptr)) fail(LP_ERR_INVALID_ARGUMENT, tb ? "db is NULL but b is given" : "db must be NULL when b is NULL");
        if (tdx) {
            check_dtype(*tdx, "dx", {LP_F32});
            check_same_shape(*tdx, "dx", tx, "x");
        }
        if (tda) {
            check_dtype(*tda, "da", {LP_F32});
            check_same_shape(*tda, "da", *ta, "a");
            check_dtype(*tdb, "db", {LP_F32});
            check_same_shape(*tdb, "db", *tb, "b");
        }
        if (tdw) {
            check_dtype(*tdw, "dw", {LP_F32});
            check_same_shape(*tdw, "dw", tw, "w");
        }
        check_outputs_disjoint({{tdx, "dx"}, {tda, "da"}, {tdb, "db"}, {tdw, "dw"}},
                               {{&tdy, "dy"}, {&tx, "x"}, {&tw, "w"}, {ta, "a"}, {tb, "b"}, {tm, "mask"}, {txa, "xa"}});
        F32Activations f32(c);
        backend::lora_linear_backward(c, tdy, f32.in(tx), tw, ta, tb, tm, txa, scale, dropout_p, seed, offset, tdx, tda, tdb, tdw);
    });
}

lp_status lp_op_bias_add(lp_context_t ctx, const lp_tensor* y, const lp_tensor* bias, const lp_tensor* mask) {
    LP_API_BODY({
        lp_context* c = check_context(ctx);
        const lp_tensor& ty = need(c, y, "y");
        const lp_tensor& tb = need(c, bias, "bias");
        const lp_tensor* tm = maybe(c, mask, "mask");
        check_dtype(ty, "y", {LP_F32, LP_BF16});
        check_ndim(ty, "y", 2);
        check_dtype(tb, "bias", {LP_F32, LP_BF16});
        check_ndim(tb, "bias", 1);
        check_dim(tb, "bias", 0, ty.ne[1], "y.ne[1] (OUT)");
        if (tm) check_out_vector(*tm, "mask", ty.ne[1], "y.ne[1] (OUT)");
        check_outputs_disjoint({{&ty, "y"}}, {{&tb, "bias"}, {tm, "mask"}});
        F32Activations f32(c);
        backend::bias_add(c, f32.out(ty), tb, tm);
        f32.finish();
    });
}

lp_status lp_op_bias_backward(lp_context_t ctx, const lp_tensor* dy, const lp_tensor* mask, const lp_tensor* dbias) {
    LP_API_BODY({
        lp_context* c = check_context(ctx);
        const lp_tensor& tdy = need(c, dy, "dy");
        const lp_tensor* tm = maybe(c, mask, "mask");
        const lp_tensor& tdb = need(c, dbias, "dbias");
        check_dtype(tdy, "dy", {LP_F32});
        check_ndim(tdy, "dy", 2);
        if (tm) check_out_vector(*tm, "mask", tdy.ne[1], "dy.ne[1] (OUT)");
        check_out_vector(tdb, "dbias", tdy.ne[1], "dy.ne[1] (OUT)");
        check_outputs_disjoint({{&tdb, "dbias"}}, {{&tdy, "dy"}, {tm, "mask"}});
        backend::bias_backward(c, tdy, tm, tdb);
    });
}

lp_status lp_op_cross_entropy_forward(lp_context_t ctx, const lp_tensor* logits, const lp_tensor* targets, int32_t ignore_index, const lp_tensor* losses,
                                      const lp_tensor* lse) {
    LP_API_BODY({
        lp_context* c = check_context(ctx);
        const lp_tensor& tl = need(c, logits, "logits");
        const lp_tensor& tt = need(c, targets, "targets");
        const lp_tensor& tlo = need(c, losses, "losses");
        const lp_tensor& tlse = need(c, lse, "lse");
        check_cross_entropy_inputs(tl, tt);
        check_rows_vector(tlo, "losses", tl, "logits");
        check_rows_vector(tlse, "lse", tl, "logits");
        check_outputs_disjoint({{&tlo, "losses"}, {&tlse, "lse"}}, {{&tl, "logits"}, {&tt, "targets"}});
        backend::cross_entropy_forward(c, tl, tt, ignore_index, tlo, tlse);
    });
}

lp_status lp_op_cross_entropy_backward(lp_context_t ctx, const lp_tensor* logits, const lp_tensor* targets, const lp_tensor* lse, int32_t ignore_index, float dloss,
                                       const lp_tensor* dlogits) {
    LP_API_BODY({
        lp_context* c = check_context(ctx);
        const lp_tensor& tl = need(c, logits, "logits");
        const lp_tensor& tt = need(c, targets, "targets");
        const lp_tensor& tlse = need(c, lse, "lse");
        const lp_tensor& td = need(c, dlogits, "dlogits");
        check_cross_entropy_inputs(tl, tt);
        check_rows_vector(tlse, "lse", tl, "logits");
        check_dtype(td, "dlogits", {LP_F32});
        check_same_shape(td, "dlogits", tl, "logits");
        check_finite(dloss, "dloss");
        check_alias_exact_or_disjoint(td, "dlogits", tl, "logits");
        check_outputs_disjoint({{&td, "dlogits"}}, {{&tt, "targets"}, {&tlse, "lse"}});
        backend::cross_entropy_backward(c, tl, tt, tlse, ignore_index, dloss, td);
    });
}

lp_status lp_op_cross_entropy_forward_backward(lp_context_t ctx, const lp_tensor* logits, const lp_tensor* targets, int32_t ignore_index, float dloss,
                                               const lp_tensor* losses, const lp_tensor* lse, const lp_tensor* dlogits) {
    LP_API_BODY({
        lp_context* c = check_context(ctx);
        const lp_tensor& tl = need(c, logits, "logits");
        const lp_tensor& tt = need(c, targets, "targets");
        const lp_tensor& tlo = need(c, losses, "losses");
        const lp_tensor& tlse = need(c, lse, "lse");
        const lp_tensor& td = need(c, dlogits, "dlogits");
        check_cross_entropy_inputs(tl, tt);
        check_rows_vector(tlo, "losses", tl, "logits");
        check_rows_vector(tlse, "lse", tl, "logits");
        check_dtype(td, "dlogits", {LP_F32});
        check_same_shape(td, "dlogits", tl, "logits");
        check_finite(dloss, "dloss");
        check_alias_exact_or_disjoint(td, "dlogits", tl, "logits");
        check_outputs_disjoint({{&tlo, "losses"}, {&tlse, "lse"}, {&td, "dlogits"}}, {{&tt, "targets"}});
        check_outputs_disjoint({{&tlo, "losses"}, {&tlse, "lse"}}, {{&tl, "logits"}});
        backend::cross_entropy_forward_backward(c, tl, tt, ignore_index, dloss, tlo, tlse, td);
    });
}

}  // extern "C"

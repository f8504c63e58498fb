// cpu_layers.cpp — the row-wise model layers on the CPU: embedding, RMSNorm, RoPE, SwiGLU and
// dropout, forward and backward. One OpenMP thread per block of rows; per-row sums in double;
// column reductions (dweight, dtable) run over rows in order inside one thread per column block.
// SwiGLU's sigmoid takes its exponential from cpu_exp.h, eight lanes at a time (libm's made it exp-bound).
#include "cpu_common.h"
#include "cpu_exp.h"

#include <algorithm>
#include <cmath>

namespace lp::backend {

using namespace lp::cpu;

namespace {

constexpr int64_t kColumnBlock = 64;

}  // namespace

// ---- embedding --------------------------------------------------------------------------------

void embedding_forward(lp_context* ctx, const lp_tensor& table, const lp_tensor& ids, const lp_tensor& out) {
    const int64_t N = ids.ne[0], C = out.ne[1], V = table.ne[0];
    const int32_t* id = i32(ids);  // (N)
    check_indices(id, N, V, "ids");
    float* o = f32(out);  // (N, C)
#pragma omp parallel for schedule(static) if (N * C >= kParallelMin)
    for (int64_t n = 0; n < N; ++n) load_row_f32(table, id[n], C, o + n * C);
}

void embedding_backward(lp_context* ctx, const lp_tensor& dout, const lp_tensor& ids, const lp_tensor& dtable) {
    const int64_t N = dout.ne[0], C = dout.ne[1], V = dtable.ne[0];
    const int32_t* id = i32(ids);  // (N)
    check_indices(id, N, V, "ids");
    const float* d = f32(dout);  // (N, C)
    float* dt = f32(dtable);     // (V, C)
    // Each thread owns a block of columns and adds the rows in order: no races, fixed order.
    const int64_t blocks = (C + kColumnBlock - 1) / kColumnBlock;
#pragma omp parallel for schedule(static) if (N * C >= kParallelMin)
    for (int64_t blk = 0; blk < blocks; ++blk) {
        const int64_t j0 = blk * kColumnBlock, j1 = std::min(C, j0 + kColumnBlock);
        for (int64_t n = 0; n < N; ++n) {
            float* row = dt + int64_t(id[n]) * C;
            const float* src = d + n * C;
            for (int64_t j = j0; j < j1; ++j) row[j] += src[j];
        }
    }
}

// ---- rmsnorm ----------------------------------------------------------------------------------

void rmsnorm_forward(lp_context* ctx, const lp_tensor& x, const lp_tensor& weight, float eps, const lp_tensor& y, const lp_tensor& rstd) {
    const int64_t N = x.ne[0], C = x.ne[1];
    const float* xp = f32(x);       // (N, C)
    const float* w = f32(weight);   // (C)
    float* yp = f32(y);             // (N, C), may alias x
    float* r = f32(rstd);           // (N)
#pragma omp parallel for schedule(static) if (N * C >= kParallelMin)
    for (int64_t n = 0; n < N; ++n) {
        const float* xr = xp + n * C;
        float* yr = yp + n * C;
        const float rs = float(1.0 / std::sqrt(sumsq_f64(xr, C) / double(C) + double(eps)));
        r[n] = rs;
        for (int64_t j = 0; j < C; ++j) yr[j] = (xr[j] * rs) * w[j];
    }
}

void rmsnorm_backward(lp_context* ctx, const lp_tensor& dy, const lp_tensor& x, const lp_tensor& weight, const lp_tensor& rstd, const lp_tensor& dx,
                      const lp_tensor* dweight) {
    const int64_t N = x.ne[0], C = x.ne[1];
    const float* g = f32(dy);       // (N, C)
    const float* xp = f32(x);       // (N, C)
    const float* w = f32(weight);   // (C)
    const float* r = f32(rstd);     // (N)
    float* d = f32(dx);             // (N, C)
    // y_j = x_j r w_j with r = (mean(x^2) + eps)^-1/2:
    //   dx_j = r w_j dy_j - x_j r^3 / C * sum_k dy_k w_k x_k
#pragma omp parallel for schedule(static) if (N * C >= kParallelMin)
    for (int64_t n = 0; n < N; ++n) {
        const float* gr = g + n * C;
        const float* xr = xp + n * C;
        float* dr = d + n * C;
        double s0 = 0, s1 = 0;
        int64_t j = 0;
        for (; j + 2 <= C; j += 2) {
            s0 += double(gr[j]) * w[j] * xr[j];
            s1 += double(gr[j + 1]) * w[j + 1] * xr[j + 1];
        }
        for (; j < C; ++j) s0 += double(gr[j]) * w[j] * xr[j];
        const double rs = r[n];
        const float coef = float(rs * rs * rs * (s0 + s1) / double(C));
        const float rf = r[n];
        for (j = 0; j < C; ++j) dr[j] = rf * (w[j] * gr[j]) - coef * xr[j];
    }
    if (!dweight) return;
    float* dw = f32(*dweight);  // (C)
    const int64_t blocks = (C + kColumnBlock - 1) / kColumnBlock;
#pragma omp parallel for schedule(static) if (N * C >= kParallelMin)
    for (int64_t blk = 0; blk < blocks; ++blk) {
        const int64_t j0 = blk * kColumnBlock, j1 = std::min(C, j0 + kColumnBlock);
        double acc[kColumnBlock] = {};
        for (int64_t n = 0; n < N; ++n) {
            const float* gr = g + n * C;
            const float* xr = xp + n * C;
            const double rs = r[n];
            for (int64_t j = j0; j < j1; ++j) acc[j - j0] += double(gr[j]) * xr[j] * rs;
        }
        for (int64_t j = j0; j < j1; ++j) dw[j] = float(double(dw[j]) + acc[j - j0]);
    }
}

// ---- rope -------------------------------------------------------------------------------------

namespace {

// cos/sin table (T, D/2, 2) of the f32 angles (pos_offset + t) * f_i. Without inv_freq,
// f_i = 1.0f / powf(theta, (float)(2i) / (float)D) in f32, exactly how Hugging Face builds
// inv_freq; the f32 angle's cos and sin are rounded from double (the correctly rounded f32 value).
const float* rope_table(lp_context* ctx, int64_t T, int64_t D, const lp_tensor* inv_freq, float theta, int64_t pos_offset) {
    const int64_t half = D / 2;
    float* cs = static_cast<float*>(scratch(ctx, size_t(T * half * 2) * sizeof(float)));
    const float* given = inv_freq ? f32(*inv_freq) : nullptr;  // (D/2)
#pragma omp parallel for schedule(static) if (T * half >= kParallelMin / 8)
    for (int64_t t = 0; t < T; ++t) {
        const float pos = float(pos_offset + t);
        for (int64_t i = 0; i < half; ++i) {
            const float f = given ? given[i] : 1.0f / powf(theta, float(2 * i) / float(D));
            const float angle = pos * f;
            cs[(t * half + i) * 2] = float(std::cos(double(angle)));
            cs[(t * half + i) * 2 + 1] = float(std::sin(double(angle)));
        }
    }
    return cs;
}

// Rotates every head of (B,T,NH,D) by +angle (sign = 1) or -angle (sign = -1).
void rope_apply(const float* in, float* out, const float* cs, int64_t B, int64_t T, int64_t NH, int64_t D, float sign) {
    const int64_t half = D / 2;
    const int64_t rows = B * T;
#pragma omp parallel for schedule(static) if (rows * NH * D >= kParallelMin)
    for (int64_t bt = 0; bt < rows; ++bt) {
        const float* tab = cs + (bt % T) * half * 2;
        for (int64_t h = 0; h < NH; ++h) {
            const float* xi = in + (bt * NH + h) * D;
            float* yo = out + (bt * NH + h) * D;
            for (int64_t i = 0; i < half; ++i) {
                const float c = tab[2 * i], s = sign * tab[2 * i + 1];
                const float x0 = xi[i], x1 = xi[i + half];
                yo[i] = x0 * c - x1 * s;
                yo[i + half] = x1 * c + x0 * s;
            }
        }
    }
}

}  // namespace

void rope_forward(lp_context* ctx, const lp_tensor& x, const lp_tensor& y, const lp_tensor* inv_freq, float theta, int64_t pos_offset) {
    const int64_t B = x.ne[0], T = x.ne[1], NH = x.ne[2], D = x.ne[3];
    const float* cs = rope_table(ctx, T, D, inv_freq, theta, pos_offset);
    rope_apply(f32(x), f32(y), cs, B, T, NH, D, 1.0f);
}

void rope_backward(lp_context* ctx, const lp_tensor& dy, const lp_tensor& dx, const lp_tensor* inv_freq, float theta, int64_t pos_offset) {
    const int64_t B = dy.ne[0], T = dy.ne[1], NH = dy.ne[2], D = dy.ne[3];
    const float* cs = rope_table(ctx, T, D, inv_freq, theta, pos_offset);
    rope_apply(f32(dy), f32(dx), cs, B, T, NH, D, -1.0f);
}

// ---- swiglu -----------------------------------------------------------------------------------

namespace {

// o = silu(g) * u over n elements, silu(g) = g / (1 + exp(-g)) with cpu_exp.h's exponential.
LP_CPU_CLONES void swiglu_forward_span(const float* g, const float* u, float* o, int64_t n) {
    int64_t i = 0;
#if LP_CPU_HAS_VEC8
    for (; i + 8 <= n; i += 8) {
        const f32x8 gv = load8(g + i);
        store8(o + i, gv / (1.0f + exp_poly8(-gv)) * load8(u + i));
    }
#endif
    for (; i < n; ++i) o[i] = g[i] / (1.0f + exp_poly(-g[i])) * u[i];
}

// dg = d * u * silu'(g), du = d * silu(g) over n elements; silu'(g) = s (1 + g (1 - s)) with s = sigmoid(g).
LP_CPU_CLONES void swiglu_backward_span(const float* d, const float* g, const float* u, float* dg, float* du, int64_t n) {
    int64_t i = 0;
#if LP_CPU_HAS_VEC8
    for (; i + 8 <= n; i += 8) {
        const f32x8 gv = load8(g + i), dv = load8(d + i);
        const f32x8 s = 1.0f / (1.0f + exp_poly8(-gv));
        store8(dg + i, dv * load8(u + i) * (s * (1.0f + gv * (1.0f - s))));
        store8(du + i, dv * (gv * s));
    }
#endif
    for (; i < n; ++i) {
        const float s = 1.0f / (1.0f + exp_poly(-g[i]));
        dg[i] = d[i] * u[i] * (s * (1.0f + g[i] * (1.0f - s)));
        du[i] = d[i] * (g[i] * s);
    }
}

}  // namespace

void swiglu_forward(lp_context* ctx, const lp_tensor& gate, const lp_tensor& up, const lp_tensor& out) {
    const float* g = f32(gate);  // (N, F)
    const float* u = f32(up);    // (N, F)
    float* o = f32(out);         // (N, F)
    parallel_ranges(numel(gate), [&](int64_t begin, int64_t end) { swiglu_forward_span(g + begin, u + begin, o + begin, end - begin); });
}

void swiglu_backward(lp_context* ctx, const lp_tensor& dout, const lp_tensor& gate, const lp_tensor& up, const lp_tensor& dgate, const lp_tensor& dup) {
    const float* d = f32(dout);  // (N, F)
    const float* g = f32(gate);  // (N, F)
    const float* u = f32(up);    // (N, F)
    float* dg = f32(dgate);      // (N, F)
    float* du = f32(dup);        // (N, F)
    parallel_ranges(numel(gate), [&](int64_t begin, int64_t end) {
        swiglu_backward_span(d + begin, g + begin, u + begin, dg + begin, du + begin, end - begin);
    });
}

// ---- dropout ----------------------------------------------------------------------------------

void dropout(lp_context* ctx, const lp_tensor& x, const lp_tensor& y, float p, uint64_t seed, uint64_t offset) {
    const int64_t n = numel(x);
    const float* xp = f32(x);
    float* yp = f32(y);  // may alias x
#pragma omp parallel for schedule(static) if (n >= kParallelMin)
    for (int64_t i = 0; i < n; ++i) yp[i] = xp[i] * dropout_factor(p, seed, offset, uint64_t(i));
}

}  // namespace lp::backend

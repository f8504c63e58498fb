// lora_linear.cu — the LoRA linear layer of the CUDA backend (docs/method.md §1.3, lp.h):
//   forward:  y = (x W^T + scale * xa B^T) (.) mask,  xa = drop(x) A^T
//   backward: g = dy (.) mask, gb = g B
//             dx  = g W + scale * (gb A) (.) dropmask/(1-p)   (=)
//             da += scale * gb^T drop(x),  db += scale * g^T xa,  dw += g^T x
// The frozen base GEMMs run on cuBLAS (f32 compute, never TF32). With a bf16 W, cuBLAS wants both
// operands in bf16, so the activation operand (x, or g) is rounded to bf16 in scratch for that
// GEMM only (relative error 2^-9 per activation, inside the conformance suite's bf16 tolerance);
// the LoRA branch, the masks and dw stay f32. The rank-R parts are hand-written:
// the dropout mask is drawn on the fly with the counter RNG of lp.h (lp_scalar.h), the
// up-projection and the mask are fused into one epilogue over the GEMM result, and da/db are
// reduced over N in fixed-size row splits whose partial sums are added in split order: no atomics.
// Activations x and y may be f32 or bf16 (lp.h): the kernels read and write them through to_f32 /
// from_f32; a bf16 y takes the base GEMM's f32 result through the epilogue and is rounded once.
#include "cuda_common.cuh"
#include "reduce.cuh"

#include <climits>
#include <string>
#include <type_traits>

namespace lp::cuda {
namespace {

constexpr int kThreads = 256;
constexpr int kWarps = kThreads / kWarpSize;
constexpr int kDownRows = 4;       // rows of one down-projection block
constexpr int kRankTile = 64;      // ranks of one block (8 per warp) in the down and gradient kernels
constexpr int kRanksPerWarp = kRankTile / kWarps;
constexpr int kUpRows = 8;         // rows of one up-projection block
constexpr int kGradCols = 128;     // columns of one gradient block (4 per lane)
constexpr int kGradColsPerLane = kGradCols / kWarpSize;
constexpr int kGradRows = 32;      // rows staged in shared memory per step of a gradient block
constexpr int64_t kGradTargetBlocks = 256;  // row splits of da/db aim at this many blocks

// The dropout factor of element (n, k) of an (N, K) tensor drawn at (seed, offset).
__device__ __forceinline__ float drop_at(float p, uint64_t seed, uint64_t offset, int64_t n, int64_t K, int64_t k) {
    return lp::dropout_factor(p, seed, offset, static_cast<uint64_t>(n * K + k));
}

// GEMM operands derived from an activation: (in (.) mask) as f32 and/or rounded to bf16.
template <class TI>
__global__ void lora_operand_forward_kernel(const TI* in,       // (N, K) f32 or bf16
                                            const float* mask,  // (K) or null
                                            float* out_f32,     // (N, K) or null
                                            uint16_t* out_bf16, // (N, K) or null
                                            int64_t N, int64_t K) {
    const int64_t n_all = N * K;
    for (int64_t i = grid_thread_index(); i < n_all; i += grid_thread_count()) {
        float v = to_f32(in[i]);
        if (mask) v *= mask[i % K];
        if (out_f32) out_f32[i] = v;
        if (out_bf16) out_bf16[i] = lp::f32_to_bf16(v);
    }
}

// Down projection, out[n, r] = sum_k in[n,k] * mask[k] * drop(n,k) * M(r,k) with M(r,k) at
// m[r*m_rs + k*m_ks]: xa = drop(x) A^T in the forward, gb = (dy (.) mask) B in the backward.
// Block (4 rows, 64 ranks): the rows are staged 256 columns at a time (dropout applied once per
// element), warp w owns ranks w, w+8, ..., each lane a column phase; lanes are summed at the end.
template <class TI>
__global__ void lora_down_forward_kernel(const TI* in,       // (N, K) f32 or bf16
                                         const float* mask,  // (K) or null
                                         const float* m,     // (R, K) through strides
                                         int64_t m_rs, int64_t m_ks,
                                         float* out,         // (N, R)
                                         int64_t N, int64_t K, int R, float p, uint64_t seed, uint64_t offset) {
    __shared__ float xs[kDownRows][kThreads];
    const int tid = static_cast<int>(threadIdx.x);
    const int lane = tid % kWarpSize;
    const int warp = tid / kWarpSize;
    const int64_t n0 = static_cast<int64_t>(blockIdx.x) * kDownRows;
    const int r_first = static_cast<int>(blockIdx.y) * kRankTile + warp;
    float acc[kDownRows][kRanksPerWarp];
    for (int i = 0; i < kDownRows; ++i) {
        for (int t = 0; t < kRanksPerWarp; ++t) acc[i][t] = 0.0f;
    }
    for (int64_t k0 = 0; k0 < K; k0 += kThreads) {
        __syncthreads();  // the previous chunk is no longer read
        const int64_t k = k0 + tid;
        for (int i = 0; i < kDownRows; ++i) {
            const int64_t n = n0 + i;
            float v = 0.0f;
            if (n < N && k < K) {
                v = to_f32(in[n * K + k]);
                if (mask) v *= mask[k];
                v *= drop_at(p, seed, offset, n, K, k);
            }
            xs[i][tid] = v;
        }
        __syncthreads();
        const int chunk = static_cast<int>(K - k0 < kThreads ? K - k0 : kThreads);
        for (int t = 0; t < kRanksPerWarp; ++t) {
            const int r = r_first + t * kWarps;
            if (r >= R) continue;
            const float* mr = m + r * m_rs;
            for (int c = lane; c < chunk; c += kWarpSize) {
                const float mv = mr[(k0 + c) * m_ks];
                for (int i = 0; i < kDownRows; ++i) acc[i][t] += xs[i][c] * mv;
            }
        }
    }
    for (int t = 0; t < kRanksPerWarp; ++t) {
        const int r = r_first + t * kWarps;
        for (int i = 0; i < kDownRows; ++i) {
            const float s = warp_sum(acc[i][t]);
            if (lane == 0 && r < R && n0 + i < N) out[(n0 + i) * R + r] = s;
        }
    }
}

// Up projection fused into the epilogue of the base GEMM, from its f32 result into out (in
// place when out is that f32 result, or rounded into a bf16 out), gemm:
//   out[n, j] = (gemm[n, j] + scale * drop(n,j) * sum_r u[n,r] * M(r,j)) * mask[j]
// with M(r,j) at m[r*m_rs + j*m_ks]: y = (y + scale xa B^T) (.) mask in the forward (p = 0),
// dx += scale (gb A) (.) dropmask/(1-p) in the backward (no mask). R may be 0 (mask only).
// Block (8 rows, 256 columns): the u rows are staged 64 ranks at a time, one column per thread.
template <class TO>
__global__ void lora_up_forward_kernel(const float* gemm,  // (N, K) the GEMM result
                                       TO* out,            // (N, K) f32 (may be gemm) or bf16
                                       const float* u,     // (N, R) or null when R == 0
                                       const float* m,     // (R, K) through strides
                                       int64_t m_rs, int64_t m_ks,
                                       const float* mask,  // (K) or null
                                       int64_t N, int64_t K, int R, float scale, float p, uint64_t seed, uint64_t offset) {
    __shared__ float us[kUpRows][kRankTile];
    const int tid = static_cast<int>(threadIdx.x);
    const int64_t n0 = static_cast<int64_t>(blockIdx.x) * kUpRows;
    const int64_t j = static_cast<int64_t>(blockIdx.y) * kThreads + tid;
    float acc[kUpRows];
    for (int i = 0; i < kUpRows; ++i) acc[i] = 0.0f;
    for (int r0 = 0; r0 < R; r0 += kRankTile) {
        __syncthreads();  // the previous rank chunk is no longer read
        for (int e = tid; e < kUpRows * kRankTile; e += kThreads) {
            const int i = e / kRankTile;
            const int r = r0 + e % kRankTile;
            us[i][e % kRankTile] = (n0 + i < N && r < R) ? u[(n0 + i) * R + r] : 0.0f;
        }
        __syncthreads();
        if (j < K) {
            const int chunk = R - r0 < kRankTile ? R - r0 : kRankTile;
            for (int c = 0; c < chunk; ++c) {
                const float mv = m[(r0 + c) * m_rs + j * m_ks];
                for (int i = 0; i < kUpRows; ++i) acc[i] += us[i][c] * mv;
            }
        }
    }
    if (j >= K) return;
    const float mj = mask ? mask[j] : 1.0f;
    for (int i = 0; i < kUpRows; ++i) {
        const int64_t n = n0 + i;
        if (n >= N) break;
        float lora = scale * acc[i];
        if (p > 0.0f) lora *= drop_at(p, seed, offset, n, K, j);
        out[n * K + j] = from_f32<TO>((gemm[n * K + j] + lora) * mj);
    }
}

// Partial LoRA weight gradient of one row split s:
//   part[s, r, k] = sum_{n in split s} u[n, r] * in[n, k] * mask[k] * drop(n, k)
// da = scale gb^T drop(x) (u = gb, in = x) and db^T = scale xa^T (dy (.) mask) (u = xa, in = dy).
// Block (128 columns, 64 ranks, split): 32 rows of in and u staged per step; lane l owns
// columns l + 32c, warp w ranks w + 8t.
template <class TI>
__global__ void lora_grad_backward_kernel(const float* u,     // (N, R)
                                          const TI* in,       // (N, K) f32 or bf16
                                          const float* mask,  // (K) or null
                                          float* part,        // (S, R, K)
                                          int64_t N, int64_t K, int R, int64_t rows_per_split, float p, uint64_t seed, uint64_t offset) {
    __shared__ float ins[kGradRows][kGradCols];
    __shared__ float uss[kGradRows][kRankTile];
    const int tid = static_cast<int>(threadIdx.x);
    const int lane = tid % kWarpSize;
    const int warp = tid / kWarpSize;
    const int64_t k0 = static_cast<int64_t>(blockIdx.x) * kGradCols;
    const int r0 = static_cast<int>(blockIdx.y) * kRankTile;
    const int64_t n_begin = static_cast<int64_t>(blockIdx.z) * rows_per_split;
    const int64_t n_end = n_begin + rows_per_split < N ? n_begin + rows_per_split : N;
    float acc[kRanksPerWarp][kGradColsPerLane];
    for (int t = 0; t < kRanksPerWarp; ++t) {
        for (int c = 0; c < kGradColsPerLane; ++c) acc[t][c] = 0.0f;
    }
    for (int64_t nb = n_begin; nb < n_end; nb += kGradRows) {
        __syncthreads();  // the previous rows are no longer read
        for (int e = tid; e < kGradRows * kGradCols; e += kThreads) {
            const int i = e / kGradCols;
            const int c = e % kGradCols;
            const int64_t n = nb + i;
            const int64_t k = k0 + c;
            float v = 0.0f;
            if (n < n_end && k < K) {
                v = to_f32(in[n * K + k]);
                if (mask) v *= mask[k];
                v *= drop_at(p, seed, offset, n, K, k);
            }
            ins[i][c] = v;
        }
        for (int e = tid; e < kGradRows * kRankTile; e += kThreads) {
            const int i = e / kRankTile;
            const int r = r0 + e % kRankTile;
            const int64_t n = nb + i;
            uss[i][e % kRankTile] = (n < n_end && r < R) ? u[n * R + r] : 0.0f;
        }
        __syncthreads();
        for (int i = 0; i < kGradRows; ++i) {
            float iv[kGradColsPerLane];
            for (int c = 0; c < kGradColsPerLane; ++c) iv[c] = ins[i][lane + kWarpSize * c];
            for (int t = 0; t < kRanksPerWarp; ++t) {
                if (r0 + warp + kWarps * t >= R) continue;
                const float uv = uss[i][warp + kWarps * t];
                for (int c = 0; c < kGradColsPerLane; ++c) acc[t][c] += uv * iv[c];
            }
        }
    }
    float* ps = part + static_cast<int64_t>(blockIdx.z) * R * K;
    for (int t = 0; t < kRanksPerWarp; ++t) {
        const int r = r0 + warp + kWarps * t;
        if (r >= R) continue;
        for (int c = 0; c < kGradColsPerLane; ++c) {
            const int64_t k = k0 + lane + kWarpSize * c;
            if (k < K) ps[static_cast<int64_t>(r) * K + k] = acc[t][c];
        }
    }
}

// grad[r*g_rs + k*g_ks] += scale * sum_s part[s, r, k], the splits added in order.
__global__ void lora_grad_reduce_backward_kernel(const float* part,  // (S, R, K)
                                                 float* grad,        // (R, K) through strides
                                                 int64_t g_rs, int64_t g_ks,
                                                 int64_t S, int64_t R, int64_t K, float scale) {
    const int64_t n_all = R * K;
    for (int64_t e = grid_thread_index(); e < n_all; e += grid_thread_count()) {
        float total = 0.0f;
        for (int64_t s = 0; s < S; ++s) total += part[s * n_all + e];
        grad[(e / K) * g_rs + (e % K) * g_ks] += scale * total;
    }
}

int as_int(int64_t v, const char* what) {
    if (v > INT_MAX) fail(LP_ERR_UNSUPPORTED, std::string(what) + "=" + std::to_string(v) + " exceeds cuBLAS's 32-bit sizes");
    return static_cast<int>(v);
}

unsigned int grid_of(int64_t n, int64_t per_block) { return static_cast<unsigned int>((n + per_block - 1) / per_block); }

// Sizes of one LoRA linear call.
struct Dims {
    int64_t N, IN, OUT;
    int R;  // 0 without LoRA
};

Dims dims_of(const lp_tensor& x, const lp_tensor& w, const lp_tensor* a) {
    Dims d{x.ne[0], x.ne[1], w.ne[0], 0};
    as_int(d.N, "x.ne[0] (N)");
    as_int(d.IN, "x.ne[1] (IN)");
    as_int(d.OUT, "w.ne[0] (OUT)");
    if (a) d.R = as_int(a->ne[0], "a.ne[0] (R)");
    if (d.R > 65535 * kRankTile) fail(LP_ERR_UNSUPPORTED, "a.ne[0]=" + std::to_string(d.R) + " (R) is too large");
    return d;
}

// Row splits of a da/db reduction over N rows for K columns: a function of the shape only, so the
// summation order (and the result) does not depend on the device.
struct Splits {
    int64_t rows_per_split, count;
};

Splits splits_for(int64_t N, int64_t K, int R) {
    const int64_t tiles = grid_of(K, kGradCols) * static_cast<int64_t>(grid_of(R, kRankTile));
    int64_t want = (kGradTargetBlocks + tiles - 1) / tiles;
    const int64_t max_splits = (N + kGradRows - 1) / kGradRows;
    if (want > max_splits) want = max_splits;
    if (want > 65535) want = 65535;
    if (want < 1) want = 1;
    int64_t rows = (N + want - 1) / want;
    rows = (rows + kGradRows - 1) / kGradRows * kGradRows;
    return Splits{rows, (N + rows - 1) / rows};
}

template <class TI>
void launch_operand(cudaStream_t s, const TI* in, const float* mask, float* out_f32, uint16_t* out_bf16, int64_t N, int64_t K) {
    LP_LAUNCH(lora_operand_forward_kernel<TI>, blocks_for(N * K, kThreads), kThreads, 0, s)(in, mask, out_f32, out_bf16, N, K);
    LP_CHECK_LAUNCH(lora_operand_forward_kernel);
}

template <class TI>
void launch_down(cudaStream_t s, const TI* in, const float* mask, const float* m, int64_t m_rs, int64_t m_ks, float* out, int64_t N, int64_t K, int R, float p,
                 uint64_t seed, uint64_t offset) {
    const dim3 grid(grid_of(N, kDownRows), grid_of(R, kRankTile));
    LP_LAUNCH(lora_down_forward_kernel<TI>, grid, kThreads, 0, s)(in, mask, m, m_rs, m_ks, out, N, K, R, p, seed, offset);
    LP_CHECK_LAUNCH(lora_down_forward_kernel);
}

template <class TO>
void launch_up(cudaStream_t s, const float* gemm, TO* out, const float* u, const float* m, int64_t m_rs, int64_t m_ks, const float* mask, int64_t N, int64_t K, int R, float scale,
               float p, uint64_t seed, uint64_t offset) {
    const dim3 grid(grid_of(N, kUpRows), grid_of(K, kThreads));
    LP_LAUNCH(lora_up_forward_kernel<TO>, grid, kThreads, 0, s)(gemm, out, u, m, m_rs, m_ks, mask, N, K, R, scale, p, seed, offset);
    LP_CHECK_LAUNCH(lora_up_forward_kernel);
}

// grad (R,K through strides) += scale * sum_n u[n,r] * in[n,k] * mask[k] * drop(n,k).
template <class TI>
void launch_grad(cudaStream_t s, const float* u, const TI* in, const float* mask, float* part, const Splits& sp, float* grad, int64_t g_rs, int64_t g_ks, int64_t N,
                 int64_t K, int R, float scale, float p, uint64_t seed, uint64_t offset) {
    const dim3 grid(grid_of(K, kGradCols), grid_of(R, kRankTile), static_cast<unsigned int>(sp.count));
    LP_LAUNCH(lora_grad_backward_kernel<TI>, grid, kThreads, 0, s)(u, in, mask, part, N, K, R, sp.rows_per_split, p, seed, offset);
    LP_CHECK_LAUNCH(lora_grad_backward_kernel);
    LP_LAUNCH(lora_grad_reduce_backward_kernel, blocks_for(static_cast<int64_t>(R) * K, kThreads), kThreads, 0, s)(part, grad, g_rs, g_ks, sp.count, R, K, scale);
    LP_CHECK_LAUNCH(lora_grad_reduce_backward_kernel);
}

cudaDataType_t blas_type(const lp_tensor& w) { return w.dtype == LP_BF16 ? CUDA_R_16BF : CUDA_R_32F; }

// The forward for activation types TX (x) and TY (y).
template <class TX, class TY>
void forward_typed(lp_context* ctx, const lp_tensor& x, const lp_tensor& w, const lp_tensor* a, const lp_tensor* b, const lp_tensor* mask, float scale,
                   float dropout_p, uint64_t seed, uint64_t offset, const lp_tensor& y, const lp_tensor* xa) {
    const Dims d = dims_of(x, w, a);
    cudaStream_t s = stream(ctx);
    const TX* xp = static_cast<const TX*>(x.data);
    const float* mp = mask ? static_cast<const float*>(mask->data) : nullptr;
    TY* yp = static_cast<TY*>(y.data);
    const bool w16 = w.dtype == LP_BF16;
    constexpr bool x16 = std::is_same<TX, act_bf16>::value;
    constexpr bool y16 = std::is_same<TY, act_bf16>::value;

    // Scratch: x in the weight's dtype when it is not already (cuBLAS wants both operands alike),
    // and the f32 GEMM result when y is bf16 (the epilogue rounds it into y once).
    const bool convert_x = w16 != x16;
    ScratchPlan plan;
    const size_t at_x = w16 ? plan.add<uint16_t>(convert_x ? d.N * d.IN : 0) : plan.add<float>(convert_x ? d.N * d.IN : 0);  // (N, IN) in W's dtype
    const size_t at_y = plan.add<float>(y16 ? d.N * d.OUT : 0);                                                            // (N, OUT)
    char* base = convert_x || y16 ? static_cast<char*>(scratch(ctx, plan.bytes())) : nullptr;
    const void* x_gemm = xp;
    if (convert_x) {
        float* x32 = w16 ? nullptr : ScratchPlan::at<float>(base, at_x);
        uint16_t* xb16 = w16 ? ScratchPlan::at<uint16_t>(base, at_x) : nullptr;
        launch_operand(s, xp, nullptr, x32, xb16, d.N, d.IN);
        x_gemm = w16 ? static_cast<const void*>(xb16) : static_cast<const void*>(x32);
    }
    float* acc = y16 ? ScratchPlan::at<float>(base, at_y) : reinterpret_cast<float*>(yp);

    // acc = x W^T, column-major: acc^T (OUT,N) = op_T(W: IN x OUT, ld IN) * x^T (IN x N, ld IN).
    const float one = 1.0f, zero = 0.0f;
    const int N = static_cast<int>(d.N), IN = static_cast<int>(d.IN), OUT = static_cast<int>(d.OUT);
    LP_CUBLAS_CHECK(cublasGemmEx(state(ctx).blas, CUBLAS_OP_T, CUBLAS_OP_N, OUT, N, IN, &one, w.data, blas_type(w), IN, x_gemm, blas_type(w), IN, &zero, acc, CUDA_R_32F,
                                 OUT, CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT));
    if (a) {
        float* xap = static_cast<float*>(xa->data);
        // xa = drop(x) A^T: M(r,k) = A[r, k].
        launch_down(s, xp, nullptr, static_cast<const float*>(a->data), d.IN, 1, xap, d.N, d.IN, d.R, dropout_p, seed, offset);
        // y = (acc + scale xa B^T) (.) mask: M(r,o) = B[o, r].
        launch_up(s, acc, yp, xap, static_cast<const float*>(b->data), 1, d.R, mp, d.N, d.OUT, d.R, scale, 0.0f, 0, 0);
    } else if (mp || y16) {
        launch_up(s, acc, yp, nullptr, nullptr, 0, 0, mp, d.N, d.OUT, 0, scale, 0.0f, 0, 0);
    }
}

// The backward for the activation type TX of x (dy and every gradient are f32).
template <class TX>
void backward_typed(lp_context* ctx, const lp_tensor& dy, const lp_tensor& x, const lp_tensor& w, const lp_tensor* a, const lp_tensor* b, const lp_tensor* mask,
                    const lp_tensor* xa, float scale, float dropout_p, uint64_t seed, uint64_t offset, const lp_tensor* dx, const lp_tensor* da, const lp_tensor* db,
                    const lp_tensor* dw) {
    const Dims d = dims_of(x, w, a);
    cudaStream_t s = stream(ctx);
    const float* dyp = static_cast<const float*>(dy.data);
    const TX* xp = static_cast<const TX*>(x.data);
    const float* mp = mask ? static_cast<const float*>(mask->data) : nullptr;
    const bool bf16 = w.dtype == LP_BF16;
    constexpr bool x16 = std::is_same<TX, act_bf16>::value;

    // Scratch: g = dy (.) mask where a GEMM needs it materialised (f32 for dw and an f32 dx GEMM,
    // bf16 for a bf16 dx GEMM), x widened to f32 for the dw GEMM when it is bf16, gb = g B, and
    // the split partial sums of da and db.
    const bool need_g32 = mp && (dw || (dx && !bf16));
    const bool need_g16 = dx && bf16;
    const bool need_x32 = dw && x16;
    const Splits split_a = a ? splits_for(d.N, d.IN, d.R) : Splits{0, 0};
    const Splits split_b = a ? splits_for(d.N, d.OUT, d.R) : Splits{0, 0};
    ScratchPlan plan;
    const size_t at_g32 = plan.add<float>(need_g32 ? d.N * d.OUT : 0);              // (N, OUT)
    const size_t at_g16 = plan.add<uint16_t>(need_g16 ? d.N * d.OUT : 0);           // (N, OUT)
    const size_t at_x32 = plan.add<float>(need_x32 ? d.N * d.IN : 0);               // (N, IN)
    const size_t at_gb = plan.add<float>(a ? d.N * d.R : 0);                         // (N, R)
    const size_t at_pa = plan.add<float>(split_a.count * d.R * d.IN);                // (S_a, R, IN)
    const size_t at_pb = plan.add<float>(split_b.count * d.R * d.OUT);               // (S_b, R, OUT)
    char* base = static_cast<char*>(scratch(ctx, plan.bytes()));
    float* g32 = need_g32 ? ScratchPlan::at<float>(base, at_g32) : nullptr;
    uint16_t* g16 = need_g16 ? ScratchPlan::at<uint16_t>(base, at_g16) : nullptr;
    if (g32 || g16) launch_operand(s, dyp, mp, g32, g16, d.N, d.OUT);
    const float* g_f32 = g32 ? g32 : dyp;  // g in f32 (dy itself without a mask)

    float* gb = nullptr;
    if (a) {
        const float* bp = static_cast<const float*>(b->data);
        gb = ScratchPlan::at<float>(base, at_gb);
        // gb = (dy (.) mask) B: M(r,o) = B[o, r].
        launch_down(s, dyp, mp, bp, 1, d.R, gb, d.N, d.OUT, d.R, 0.0f, 0, 0);
        // da (R,IN) += scale gb^T drop(x).
        launch_grad(s, gb, xp, nullptr, ScratchPlan::at<float>(base, at_pa), split_a, static_cast<float*>(da->data), d.IN, 1, d.N, d.IN, d.R, scale, dropout_p, seed,
                    offset);
        // db (OUT,R) += scale g^T xa, computed as db^T (R,OUT) = scale xa^T g.
        launch_grad(s, static_cast<const float*>(xa->data), dyp, mp, ScratchPlan::at<float>(base, at_pb), split_b, static_cast<float*>(db->data), 1, d.R, d.N, d.OUT,
                    d.R, scale, 0.0f, 0, 0);
    }
    const float one = 1.0f, zero = 0.0f;
    const int N = static_cast<int>(d.N), IN = static_cast<int>(d.IN), OUT = static_cast<int>(d.OUT);
    if (dx) {
        float* dxp = static_cast<float*>(dx->data);
        // dx = g W, column-major: dx^T (IN,N) = W (IN x OUT, ld IN) * g^T (OUT x N, ld OUT).
        const void* g_gemm = bf16 ? static_cast<const void*>(g16) : static_cast<const void*>(g_f32);
        LP_CUBLAS_CHECK(cublasGemmEx(state(ctx).blas, CUBLAS_OP_N, CUBLAS_OP_N, IN, N, OUT, &one, w.data, blas_type(w), IN, g_gemm, blas_type(w), OUT, &zero, dxp,
                                     CUDA_R_32F, IN, CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT));
        // dx += scale (gb A) (.) dropmask/(1-p): M(r,k) = A[r, k].
        if (a) launch_up(s, dxp, dxp, gb, static_cast<const float*>(a->data), d.IN, 1, nullptr, d.N, d.IN, d.R, scale, dropout_p, seed, offset);
    }
    if (dw) {
        const void* x_gemm = xp;
        if (need_x32) {
            float* x32 = ScratchPlan::at<float>(base, at_x32);
            launch_operand(s, xp, nullptr, x32, nullptr, d.N, d.IN);
            x_gemm = x32;
        }
        // dw += g^T x, column-major: dw^T (IN,OUT) = x^T (IN x N, ld IN) * op_T(g^T: OUT x N, ld OUT).
        LP_CUBLAS_CHECK(cublasGemmEx(state(ctx).blas, CUBLAS_OP_N, CUBLAS_OP_T, IN, OUT, N, &one, x_gemm, CUDA_R_32F, IN, g_f32, CUDA_R_32F, OUT, &one,
                                     static_cast<float*>(dw->data), CUDA_R_32F, IN, CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT));
    }
}

}  // namespace
}  // namespace lp::cuda

namespace lp::backend {

using namespace lp::cuda;

void lora_linear_forward(lp_context* ctx, const lp_tensor& x, const lp_tensor& w, const lp_tensor* a, const lp_tensor* b, const lp_tensor* mask, float scale,
                         float dropout_p, uint64_t seed, uint64_t offset, const lp_tensor& y, const lp_tensor* xa) {
    with_act_type(x.dtype, [&](auto xtag) {
        with_act_type(y.dtype, [&](auto ytag) {
            forward_typed<decltype(xtag), decltype(ytag)>(ctx, x, w, a, b, mask, scale, dropout_p, seed, offset, y, xa);
        });
    });
}

void lora_linear_backward(lp_context* ctx, const lp_tensor& dy, const lp_tensor& x, const lp_tensor& w, const lp_tensor* a, const lp_tensor* b, const lp_tensor* mask,
                          const lp_tensor* xa, float scale, float dropout_p, uint64_t seed, uint64_t offset, const lp_tensor* dx, const lp_tensor* da, const lp_tensor* db,
                          const lp_tensor* dw) {
    with_act_type(x.dtype, [&](auto xtag) {
        backward_typed<decltype(xtag)>(ctx, dy, x, w, a, b, mask, xa, scale, dropout_p, seed, offset, dx, da, db, dw);
    });
}

}  // namespace lp::backend

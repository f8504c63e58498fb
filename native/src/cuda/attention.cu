// attention.cu — causal grouped-query self-attention of the CUDA backend, flash style: tiles of
// queries and keys live in shared memory, the softmax is computed online, no (T,T) matrix is ever
// stored. Query head h reads key/value head h / (H/KVH).
//   forward:  S = scale Q K^T (key <= query), P = softmax(S), O = P V, lse = logsumexp(S) per row
//   backward: P = exp(scale Q K^T - lse), Dr = rowsum(dO (.) O),
//             dV = P^T dO, dP = dO V^T, dS = P (.) (dP - Dr), dQ = scale dS K, dK = scale dS^T Q
// dQ is one block per (query tile, head) walking the key tiles; dK/dV is one block per (key tile,
// key/value head) walking the H/KVH query heads of the group and their query tiles in a fixed
// order, so the head sum is deterministic and needs no atomics.
// Memory: the forward needs only out and lse; the backward adds Dr, (B,H,T) f32 of scratch.
// Head dims up to 128: the tiles of a block (64 rows of D rounded up to 4, plus 4 floats of padding
// against bank conflicts; 33 KiB at D = 128) must fit the 48 KiB a block gets without an opt-in.
#include "cuda_common.cuh"
#include "reduce.cuh"

#include <string>

namespace lp::cuda {
namespace {

constexpr int kWarps = 8;
constexpr int kThreads = kWarps * kWarpSize;
constexpr int kTile = kWarpSize;  // keys (forward, dQ) or queries (dK/dV) of one streamed tile: one per lane
constexpr int kMaxHeadDim = 128;
constexpr int kForwardRows = 4;   // query rows per warp in the forward: 32 per block
constexpr int kBackwardRows = 2;  // query rows (dQ) or key rows (dK/dV) per warp: 16 per block

// Row stride of a shared tile: D rounded up to float4, plus one float4 so that lanes reading
// consecutive rows with float4 loads hit distinct banks.
__host__ __device__ inline int tile_stride(int D) { return (D + 3) / 4 * 4 + 4; }

// Copies `valid` rows of D floats (global row stride `stride`) into a shared tile of `slots` rows;
// rows from `valid` on and the padding columns are zero, so dot products over the padded width are
// exact and rows beyond T contribute nothing. The source is f32 or bf16; the tile is f32.
template <class S>
__device__ __forceinline__ void load_tile(float* tile, const S* src, int64_t stride, int valid, int slots, int D, int ld) {
    for (int e = static_cast<int>(threadIdx.x); e < slots * ld; e += static_cast<int>(blockDim.x)) {
        const int r = e / ld;
        const int c = e - r * ld;
        tile[e] = (r < valid && c < D) ? to_f32(src[r * stride + c]) : 0.0f;
    }
}

// s[i] = rows[i] . col for ROWS consecutive shared rows, over `quads` float4s.
template <int ROWS>
__device__ __forceinline__ void dot_rows(const float* rows, const float* col, int ld, int quads, float (&s)[ROWS]) {
    for (int i = 0; i < ROWS; ++i) s[i] = 0.0f;
    const float4* c4 = reinterpret_cast<const float4*>(col);
    for (int q = 0; q < quads; ++q) {
        const float4 y = c4[q];
        for (int i = 0; i < ROWS; ++i) {
            const float4 x = reinterpret_cast<const float4*>(rows + i * ld)[q];
            s[i] += x.x * y.x + x.y * y.y + x.z * y.z + x.w * y.w;
        }
    }
}

// acc[i][c] += sum_j w[i] of lane j * tile[j][lane + 32c]: the product of a (ROWS x 32) register
// tile spread over the lanes with a (32 x D) shared tile.
template <int ROWS, int DCH>
__device__ __forceinline__ void accumulate_rows(const float (&w)[ROWS], const float* tile, int ld, int D, int lane, float (&acc)[ROWS][DCH]) {
    for (int j = 0; j < kTile; ++j) {
        float wj[ROWS];
        for (int i = 0; i < ROWS; ++i) wj[i] = __shfl_sync(kFullWarpMask, w[i], j);
        for (int c = 0; c < DCH; ++c) {
            const int d = lane + kWarpSize * c;
            const float t = d < D ? tile[j * ld + d] : 0.0f;
            for (int i = 0; i < ROWS; ++i) acc[i][c] += wj[i] * t;
        }
    }
}

// Layout of one (b, head) slice of a (B,T,NH,D) tensor: rows t at `base + t*stride`.
template <class S>
struct HeadRows {
    const S* base;
    int64_t stride;
};

template <class S>
__device__ __forceinline__ HeadRows<S> head_rows(const S* x, int b, int head, int T, int NH, int D) {
    const int64_t stride = static_cast<int64_t>(NH) * D;
    return HeadRows<S>{x + static_cast<int64_t>(b) * T * stride + static_cast<int64_t>(head) * D, stride};
}

// One block per (query tile of 8*ROWS rows, b*H + h); warp w owns rows w*ROWS..w*ROWS+ROWS-1 of
// the tile, lane j the key j of each streamed key tile and the columns d = j + 32c of the output.
// E is the element type of q, k, v and out (f32 or bf16).
template <class E, int ROWS, int DCH>
__global__ void attention_forward_kernel(const E* q,  // (B, T, H, D)
                                         const E* k,  // (B, T, KVH, D)
                                         const E* v,  // (B, T, KVH, D)
                                         E* out,      // (B, T, H, D)
                                         float* lse,      // (B, H, T)
                                         int T, int H, int KVH, int D, float scale) {
    constexpr int BQ = kWarps * ROWS;
    LP_DYNAMIC_SHARED(float, smem);
    const int ld = tile_stride(D);
    const int quads = (D + 3) / 4;
    float* qs = smem;           // (BQ, ld)
    float* kv = smem + BQ * ld;  // (32, ld): the key tile, then the value tile
    const int lane = static_cast<int>(threadIdx.x) % kWarpSize;
    const int warp = static_cast<int>(threadIdx.x) / kWarpSize;
    const int b = static_cast<int>(blockIdx.y) / H;
    const int h = static_cast<int>(blockIdx.y) % H;
    const int kvh = h / (H / KVH);
    const int q0 = static_cast<int>(gridDim.x - 1 - blockIdx.x) * BQ;  // the longest rows start first
    const HeadRows<E> qr = head_rows(q, b, h, T, H, D);
    const HeadRows<E> kr = head_rows(k, b, kvh, T, KVH, D);
    const HeadRows<E> vr = head_rows(v, b, kvh, T, KVH, D);

    load_tile(qs, qr.base + q0 * qr.stride, qr.stride, min(BQ, T - q0), BQ, D, ld);
    float m[ROWS], l[ROWS], o[ROWS][DCH];
    for (int i = 0; i < ROWS; ++i) {
        m[i] = -INFINITY;
        l[i] = 0.0f;
        for (int c = 0; c < DCH; ++c) o[i][c] = 0.0f;
    }
    const int key_end = min(T, q0 + BQ);
    for (int k0 = 0; k0 < key_end; k0 += kTile) {
        const int valid = min(kTile, T - k0);
        __syncthreads();  // the previous value tile is no longer read
        load_tile(kv, kr.base + k0 * kr.stride, kr.stride, valid, kTile, D, ld);
        __syncthreads();
        float s[ROWS];
        dot_rows<ROWS>(qs + warp * ROWS * ld, kv + lane * ld, ld, quads, s);
        const int key = k0 + lane;
        float p[ROWS];
        for (int i = 0; i < ROWS; ++i) {
            const int query = q0 + warp * ROWS + i;
            const bool seen = key <= query && key < T;
            const float si = seen ? s[i] * scale : -INFINITY;
            // Key 0 is in the first tile and seen by every row, so the running max is finite from
            // the first tile on and exp(m - m_new) never sees -inf - -inf.
            const float m_new = fmaxf(m[i], warp_max(si));
            const float alpha = expf(m[i] - m_new);
            p[i] = seen ? expf(si - m_new) : 0.0f;
            l[i] = l[i] * alpha + warp_sum(p[i]);
            m[i] = m_new;
            for (int c = 0; c < DCH; ++c) o[i][c] *= alpha;
        }
        __syncthreads();  // every warp is done with the key tile
        load_tile(kv, vr.base + k0 * vr.stride, vr.stride, valid, kTile, D, ld);
        __syncthreads();
        accumulate_rows<ROWS, DCH>(p, kv, ld, D, lane, o);
    }
    for (int i = 0; i < ROWS; ++i) {
        const int query = q0 + warp * ROWS + i;
        if (query >= T) continue;
        const float inv = 1.0f / l[i];
        E* orow = out + static_cast<int64_t>(b) * T * H * D + (static_cast<int64_t>(query) * H + h) * D;
        for (int c = 0; c < DCH; ++c) {
            const int d = lane + kWarpSize * c;
            if (d < D) orow[d] = from_f32<E>(o[i][c] * inv);
        }
        if (lane == 0) lse[(static_cast<int64_t>(b) * H + h) * T + query] = m[i] + logf(l[i]);
    }
}

// Dr[b,h,t] = sum_d dO[b,t,h,d] * O[b,t,h,d]: one warp per row, rows in (b, t, h) order.
template <class E>
__global__ void attention_backward_rowdot_kernel(const E* out,       // (B, T, H, D) f32 or bf16
                                                 const float* dout,  // (B, T, H, D)
                                                 float* rowdot,      // (B, H, T)
                                                 int64_t rows, int T, int H, int D) {
    const int lane = static_cast<int>(threadIdx.x) % kWarpSize;
    const int warp = static_cast<int>(threadIdx.x) / kWarpSize;
    const int64_t warps = static_cast<int64_t>(blockDim.x) / kWarpSize;
    // The trip count is the same for every warp of the block, so the shuffles stay converged.
    for (int64_t first = blockIdx.x * warps; first < rows; first += static_cast<int64_t>(gridDim.x) * warps) {
        const int64_t row = first + warp;
        float s = 0.0f;
        if (row < rows) {
            const E* o = out + row * D;
            const float* g = dout + row * D;
            for (int d = lane; d < D; d += kWarpSize) s += to_f32(o[d]) * g[d];
        }
        s = warp_sum(s);
        if (row < rows && lane == 0) {
            const int64_t h = row % H;
            const int64_t bt = row / H;
            rowdot[(bt / T * H + h) * T + bt % T] = s;
        }
    }
}

// dQ, one block per (query tile of 8*ROWS rows, b*H + h), walking the key tiles up to the diagonal.
// Per key tile: the value tile gives dP, then the key tile gives P, dS and dQ += dS K.
template <class E, int ROWS, int DCH>
__global__ void attention_backward_dq_kernel(const E* q,           // (B, T, H, D) f32 or bf16
                                             const E* k,           // (B, T, KVH, D)
                                             const E* v,           // (B, T, KVH, D)
                                             const float* dout,    // (B, T, H, D)
                                             const float* lse,     // (B, H, T)
                                             const float* rowdot,  // (B, H, T)
                                             float* dq,            // (B, T, H, D)
                                             int T, int H, int KVH, int D, float scale) {
    constexpr int BQ = kWarps * ROWS;
    LP_DYNAMIC_SHARED(float, smem);
    const int ld = tile_stride(D);
    const int quads = (D + 3) / 4;
    float* qs = smem;             // (BQ, ld)
    float* dos = qs + BQ * ld;    // (BQ, ld)
    float* kv = dos + BQ * ld;    // (32, ld): the value tile, then the key tile
    const int lane = static_cast<int>(threadIdx.x) % kWarpSize;
    const int warp = static_cast<int>(threadIdx.x) / kWarpSize;
    const int b = static_cast<int>(blockIdx.y) / H;
    const int h = static_cast<int>(blockIdx.y) % H;
    const int kvh = h / (H / KVH);
    const int q0 = static_cast<int>(gridDim.x - 1 - blockIdx.x) * BQ;
    const HeadRows<E> qr = head_rows(q, b, h, T, H, D);
    const HeadRows<float> dr = head_rows(dout, b, h, T, H, D);
    const HeadRows<E> kr = head_rows(k, b, kvh, T, KVH, D);
    const HeadRows<E> vr = head_rows(v, b, kvh, T, KVH, D);
    const int rows_valid = min(BQ, T - q0);
    load_tile(qs, qr.base + q0 * qr.stride, qr.stride, rows_valid, BQ, D, ld);
    load_tile(dos, dr.base + q0 * dr.stride, dr.stride, rows_valid, BQ, D, ld);

    const float* lse_bh = lse + (static_cast<int64_t>(b) * H + h) * T;
    const float* dot_bh = rowdot + (static_cast<int64_t>(b) * H + h) * T;
    float row_lse[ROWS], row_dot[ROWS], acc[ROWS][DCH];
    for (int i = 0; i < ROWS; ++i) {
        const int query = q0 + warp * ROWS + i;
        row_lse[i] = query < T ? lse_bh[query] : 0.0f;
        row_dot[i] = query < T ? dot_bh[query] : 0.0f;
        for (int c = 0; c < DCH; ++c) acc[i][c] = 0.0f;
    }
    const int key_end = min(T, q0 + BQ);
    for (int k0 = 0; k0 < key_end; k0 += kTile) {
        const int valid = min(kTile, T - k0);
        __syncthreads();  // the previous key tile is no longer read
        load_tile(kv, vr.base + k0 * vr.stride, vr.stride, valid, kTile, D, ld);
        __syncthreads();
        float dp[ROWS];
        dot_rows<ROWS>(dos + warp * ROWS * ld, kv + lane * ld, ld, quads, dp);
        __syncthreads();  // every warp is done with the value tile
        load_tile(kv, kr.base + k0 * kr.stride, kr.stride, valid, kTile, D, ld);
        __syncthreads();
        float s[ROWS];
        dot_rows<ROWS>(qs + warp * ROWS * ld, kv + lane * ld, ld, quads, s);
        const int key = k0 + lane;
        float ds[ROWS];
        for (int i = 0; i < ROWS; ++i) {
            const int query = q0 + warp * ROWS + i;
            const bool seen = key <= query && key < T && query < T;
            const float p = seen ? expf(s[i] * scale - row_lse[i]) : 0.0f;
            ds[i] = p * (dp[i] - row_dot[i]);
        }
        accumulate_rows<ROWS, DCH>(ds, kv, ld, D, lane, acc);
    }
    for (int i = 0; i < ROWS; ++i) {
        const int query = q0 + warp * ROWS + i;
        if (query >= T) continue;
        float* row = dq + static_cast<int64_t>(b) * T * H * D + (static_cast<int64_t>(query) * H + h) * D;
        for (int c = 0; c < DCH; ++c) {
            const int d = lane + kWarpSize * c;
            if (d < D) row[d] = scale * acc[i][c];
        }
    }
}

// dK and dV, one block per (key tile of 8*ROWS keys, b*KVH + kvh). The block keeps its key and
// value rows in shared memory and walks the query heads of the group, then their query tiles from
// the diagonal on; warp w owns keys w*ROWS.., lane j the query j of each streamed query tile.
// Per query tile: Q gives P, dO gives dV += P^T dO and dP, Q again gives dK += dS^T Q.
template <class E, int ROWS, int DCH>
__global__ void attention_backward_dkdv_kernel(const E* q,           // (B, T, H, D) f32 or bf16
                                               const E* k,           // (B, T, KVH, D)
                                               const E* v,           // (B, T, KVH, D)
                                               const float* dout,    // (B, T, H, D)
                                               const float* lse,     // (B, H, T)
                                               const float* rowdot,  // (B, H, T)
                                               float* dk,            // (B, T, KVH, D)
                                               float* dv,            // (B, T, KVH, D)
                                               int T, int H, int KVH, int D, float scale) {
    constexpr int BK = kWarps * ROWS;
    LP_DYNAMIC_SHARED(float, smem);
    const int ld = tile_stride(D);
    const int quads = (D + 3) / 4;
    float* ks = smem;           // (BK, ld)
    float* vs = ks + BK * ld;   // (BK, ld)
    float* buf = vs + BK * ld;  // (32, ld): the query tile, the dO tile, the query tile again
    const int lane = static_cast<int>(threadIdx.x) % kWarpSize;
    const int warp = static_cast<int>(threadIdx.x) / kWarpSize;
    const int b = static_cast<int>(blockIdx.y) / KVH;
    const int kvh = static_cast<int>(blockIdx.y) % KVH;
    const int group = H / KVH;
    const int k0 = static_cast<int>(blockIdx.x) * BK;  // the first keys see the most queries: they start first
    const HeadRows<E> kr = head_rows(k, b, kvh, T, KVH, D);
    const HeadRows<E> vr = head_rows(v, b, kvh, T, KVH, D);
    const int keys_valid = min(BK, T - k0);
    load_tile(ks, kr.base + k0 * kr.stride, kr.stride, keys_valid, BK, D, ld);
    load_tile(vs, vr.base + k0 * vr.stride, vr.stride, keys_valid, BK, D, ld);

    float acc_k[ROWS][DCH], acc_v[ROWS][DCH];
    for (int i = 0; i < ROWS; ++i) {
        for (int c = 0; c < DCH; ++c) {
            acc_k[i][c] = 0.0f;
            acc_v[i][c] = 0.0f;
        }
    }
    const int query_begin = k0 / kTile * kTile;  // queries before k0 see none of these keys
    for (int r = 0; r < group; ++r) {
        const int h = kvh * group + r;
        const HeadRows<E> qr = head_rows(q, b, h, T, H, D);
        const HeadRows<float> dr = head_rows(dout, b, h, T, H, D);
        const float* lse_bh = lse + (static_cast<int64_t>(b) * H + h) * T;
        const float* dot_bh = rowdot + (static_cast<int64_t>(b) * H + h) * T;
        for (int t0 = query_begin; t0 < T; t0 += kTile) {
            const int valid = min(kTile, T - t0);
            const int query = t0 + lane;
            const float q_lse = query < T ? lse_bh[query] : 0.0f;
            const float q_dot = query < T ? dot_bh[query] : 0.0f;
            __syncthreads();  // the previous query tile is no longer read
            load_tile(buf, qr.base + t0 * qr.stride, qr.stride, valid, kTile, D, ld);
            __syncthreads();
            float s[ROWS];
            dot_rows<ROWS>(ks + warp * ROWS * ld, buf + lane * ld, ld, quads, s);
            float p[ROWS];
            for (int i = 0; i < ROWS; ++i) {
                const int key = k0 + warp * ROWS + i;
                const bool seen = key <= query && query < T && key < T;
                p[i] = seen ? expf(s[i] * scale - q_lse) : 0.0f;
            }
            __syncthreads();
            load_tile(buf, dr.base + t0 * dr.stride, dr.stride, valid, kTile, D, ld);
            __syncthreads();
            accumulate_rows<ROWS, DCH>(p, buf, ld, D, lane, acc_v);
            float dp[ROWS];
            dot_rows<ROWS>(vs + warp * ROWS * ld, buf + lane * ld, ld, quads, dp);
            float ds[ROWS];
            for (int i = 0; i < ROWS; ++i) ds[i] = p[i] * (dp[i] - q_dot);
            __syncthreads();
            load_tile(buf, qr.base + t0 * qr.stride, qr.stride, valid, kTile, D, ld);
            __syncthreads();
            accumulate_rows<ROWS, DCH>(ds, buf, ld, D, lane, acc_k);
        }
    }
    for (int i = 0; i < ROWS; ++i) {
        const int key = k0 + warp * ROWS + i;
        if (key >= T) continue;
        const int64_t at = static_cast<int64_t>(b) * T * KVH * D + (static_cast<int64_t>(key) * KVH + kvh) * D;
        for (int c = 0; c < DCH; ++c) {
            const int d = lane + kWarpSize * c;
            if (d < D) {
                dk[at + d] = scale * acc_k[i][c];
                dv[at + d] = acc_v[i][c];
            }
        }
    }
}

// Sizes of one attention call, checked against the limits of the kernels and the grid.
struct Shape {
    int B, T, H, KVH, D;
};

Shape shape_of(const lp_tensor& q, const lp_tensor& k) {
    const int64_t B = q.ne[0], T = q.ne[1], H = q.ne[2], D = q.ne[3];
    if (D > kMaxHeadDim)
        fail(LP_ERR_UNSUPPORTED, "q.ne[3]=" + std::to_string(D) + " (D): the CUDA attention kernels support head dims up to " + std::to_string(kMaxHeadDim));
    if (B * H > 65535) fail(LP_ERR_UNSUPPORTED, "q.ne[0]*q.ne[2]=" + std::to_string(B * H) + " (B*H): more than 65535 (batch, head) pairs");
    if (T > (1LL << 30)) fail(LP_ERR_UNSUPPORTED, "q.ne[1]=" + std::to_string(T) + " (T) is too long");
    return Shape{static_cast<int>(B), static_cast<int>(T), static_cast<int>(H), static_cast<int>(k.ne[2]), static_cast<int>(D)};
}

size_t tile_bytes(int rows, int D) { return static_cast<size_t>(rows) * tile_stride(D) * sizeof(float); }

template <class E, int DCH>
void forward_with(cudaStream_t s, const Shape& sh, const E* q, const E* k, const E* v, E* out, float* lse, float scale) {
    constexpr int BQ = kWarps * kForwardRows;
    const dim3 grid((sh.T + BQ - 1) / BQ, sh.B * sh.H);
    const auto kernel = attention_forward_kernel<E, kForwardRows, DCH>;
    LP_LAUNCH(kernel, grid, kThreads, tile_bytes(BQ + kTile, sh.D), s)(q, k, v, out, lse, sh.T, sh.H, sh.KVH, sh.D, scale);
    LP_CHECK_LAUNCH(attention_forward_kernel);
}

template <class E, int DCH>
void backward_with(cudaStream_t s, const Shape& sh, const E* q, const E* k, const E* v, const float* dout, const float* lse, const float* rowdot,
                   float* dq, float* dk, float* dv, float scale) {
    constexpr int BR = kWarps * kBackwardRows;
    const dim3 grid_q((sh.T + BR - 1) / BR, sh.B * sh.H);
    const auto dq_kernel = attention_backward_dq_kernel<E, kBackwardRows, DCH>;
    LP_LAUNCH(dq_kernel, grid_q, kThreads, tile_bytes(2 * BR + kTile, sh.D), s)(
        q, k, v, dout, lse, rowdot, dq, sh.T, sh.H, sh.KVH, sh.D, scale);
    LP_CHECK_LAUNCH(attention_backward_dq_kernel);
    const dim3 grid_kv((sh.T + BR - 1) / BR, sh.B * sh.KVH);
    const auto dkdv_kernel = attention_backward_dkdv_kernel<E, kBackwardRows, DCH>;
    LP_LAUNCH(dkdv_kernel, grid_kv, kThreads, tile_bytes(2 * BR + kTile, sh.D), s)(
        q, k, v, dout, lse, rowdot, dk, dv, sh.T, sh.H, sh.KVH, sh.D, scale);
    LP_CHECK_LAUNCH(attention_backward_dkdv_kernel);
}

}  // namespace
}  // namespace lp::cuda

namespace lp::backend {

using namespace lp::cuda;

void attention_forward(lp_context* ctx, const lp_tensor& q, const lp_tensor& k, const lp_tensor& v, float scale, const lp_tensor& out, const lp_tensor& lse) {
    const Shape sh = shape_of(q, k);
    float* lse_out = static_cast<float*>(lse.data);
    cudaStream_t s = stream(ctx);
    with_act_type(q.dtype, [&](auto tag) {
        using E = decltype(tag);
        const E* qp = static_cast<const E*>(q.data);
        const E* kp = static_cast<const E*>(k.data);
        const E* vp = static_cast<const E*>(v.data);
        E* op = static_cast<E*>(out.data);
        if (sh.D <= 32) forward_with<E, 1>(s, sh, qp, kp, vp, op, lse_out, scale);
        else if (sh.D <= 64) forward_with<E, 2>(s, sh, qp, kp, vp, op, lse_out, scale);
        else forward_with<E, 4>(s, sh, qp, kp, vp, op, lse_out, scale);
    });
}

void attention_backward(lp_context* ctx, const lp_tensor& q, const lp_tensor& k, const lp_tensor& v, const lp_tensor& out, const lp_tensor& lse,
                        const lp_tensor& dout, float scale, const lp_tensor& dq, const lp_tensor& dk, const lp_tensor& dv) {
    const Shape sh = shape_of(q, k);
    const int64_t rows = static_cast<int64_t>(sh.B) * sh.T * sh.H;
    float* rowdot = static_cast<float*>(scratch(ctx, static_cast<size_t>(rows) * sizeof(float)));  // (B, H, T)
    cudaStream_t s = stream(ctx);
    const float* dop = static_cast<const float*>(dout.data);
    const float* lsep = static_cast<const float*>(lse.data);
    float* dqp = static_cast<float*>(dq.data);
    float* dkp = static_cast<float*>(dk.data);
    float* dvp = static_cast<float*>(dv.data);
    with_act_type(q.dtype, [&](auto tag) {
        using E = decltype(tag);
        LP_LAUNCH(attention_backward_rowdot_kernel<E>, blocks_for(rows, kThreads / kWarpSize), kThreads, 0, s)(static_cast<const E*>(out.data), dop, rowdot, rows,
                                                                                                               sh.T, sh.H, sh.D);
        LP_CHECK_LAUNCH(attention_backward_rowdot_kernel);
        const E* qp = static_cast<const E*>(q.data);
        const E* kp = static_cast<const E*>(k.data);
        const E* vp = static_cast<const E*>(v.data);
        if (sh.D <= 32) backward_with<E, 1>(s, sh, qp, kp, vp, dop, lsep, rowdot, dqp, dkp, dvp, scale);
        else if (sh.D <= 64) backward_with<E, 2>(s, sh, qp, kp, vp, dop, lsep, rowdot, dqp, dkp, dvp, scale);
        else backward_with<E, 4>(s, sh, qp, kp, vp, dop, lsep, rowdot, dqp, dkp, dvp, scale);
    });
}

}  // namespace lp::backend

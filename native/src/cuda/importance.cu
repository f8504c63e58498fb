// importance.cu — the LoRAPrune importance criterion on the CUDA backend (docs/method.md §2.2-2.5):
//   W' = W + scale B A,  G = gB A + B gA - gB gA (LORA) | gW (GRAD) | 1 (MAGNITUDE),  S = |G (.) W'|
//   acc[i] += sum_j S[i,j] (axis 0)  or  acc[j] += sum_i S[i,j] (axis 1)
// One fused kernel reads each element of W once and forms G and W' from rank-R dot products of
// B/gB rows and A/gA columns staged in shared memory: no (OUT,IN) matrix is ever stored. Each
// (32 x 128) tile writes its row or column sums to a partial buffer in scratch (ceil(IN/128)*OUT
// floats for axis 0, ceil(OUT/32)*IN for axis 1), which a second kernel adds tile by tile in
// order: deterministic, no atomics. Then the group sum with the per-module L2
// normalisation, and the moving average with its all-or-nothing NaN guard (docs/method.md §2.5).
#include "cuda_common.cuh"
#include "reduce.cuh"

namespace lp::cuda {
namespace {

constexpr int kThreads = 256;
constexpr int kWarps = kThreads / kWarpSize;
constexpr int kTileRows = 32;                     // rows of W per block: warp w owns rows w + 8c
constexpr int kTileCols = 128;                    // columns of W per block: lane l owns columns l + 32c
constexpr int kRowsPerThread = kTileRows / kWarps;
constexpr int kColsPerThread = kTileCols / kWarpSize;
constexpr int kRankChunk = 16;                    // ranks staged in shared memory at a time

// Scores of one (32 x 128) tile of W. axis 0: part[blockIdx.x, i] = sum of the tile's columns of
// row i, part (IN tiles, OUT); axis 1: part[blockIdx.y, j] = sum of the tile's rows of column j,
// part (OUT tiles, IN). R = 0 when there is no LoRA (W' = W).
template <int MODE>
__global__ void __launch_bounds__(kThreads, 2)  // at most 128 registers: two blocks per SM
importance_accumulate_kernel(const void* w,    // (OUT, IN) f32|bf16
                             int32_t w_dtype,
                             const float* a,   // (R, IN) or null
                             const float* b,   // (OUT, R) or null
                             const float* ga,  // (R, IN), LORA mode
                             const float* gb,  // (OUT, R), LORA mode
                             const float* gw,  // (OUT, IN), GRAD mode
                             float* part,      // (IN tiles, OUT) axis 0, (OUT tiles, IN) axis 1
                             int64_t OUT, int64_t IN, int R, float scale, int axis) {
    __shared__ float as[kRankChunk][kTileCols];
    __shared__ float gas[kRankChunk][kTileCols];
    __shared__ float bs[kTileRows][kRankChunk + 1];
    __shared__ float gbs[kTileRows][kRankChunk + 1];
    __shared__ float colsum[kWarps][kTileCols];
    const int tid = static_cast<int>(threadIdx.x);
    const int lane = tid % kWarpSize;
    const int warp = tid / kWarpSize;
    const int64_t i0 = static_cast<int64_t>(blockIdx.y) * kTileRows;
    const int64_t j0 = static_cast<int64_t>(blockIdx.x) * kTileCols;
    constexpr bool kLora = MODE == LP_IMPORTANCE_LORA;

    float ba[kRowsPerThread][kColsPerThread];  // (B A)[i, j]
    float g[kRowsPerThread][kColsPerThread];   // (gB A + B gA - gB gA)[i, j]
    for (int ci = 0; ci < kRowsPerThread; ++ci) {
        for (int cj = 0; cj < kColsPerThread; ++cj) {
            ba[ci][cj] = 0.0f;
            g[ci][cj] = 0.0f;
        }
    }
    for (int r0 = 0; r0 < R; r0 += kRankChunk) {
        __syncthreads();  // the previous chunk is no longer read
        for (int e = tid; e < kRankChunk * kTileCols; e += kThreads) {
            const int rr = e / kTileCols;
            const int c = e % kTileCols;
            const bool in_range = r0 + rr < R && j0 + c < IN;
            const int64_t at = (r0 + rr) * IN + j0 + c;
            as[rr][c] = in_range ? a[at] : 0.0f;
            if (kLora) gas[rr][c] = in_range ? ga[at] : 0.0f;
        }
        for (int e = tid; e < kTileRows * kRankChunk; e += kThreads) {
            const int i = e / kRankChunk;
            const int rr = e % kRankChunk;
            const bool in_range = r0 + rr < R && i0 + i < OUT;
            const int64_t at = (i0 + i) * R + r0 + rr;
            bs[i][rr] = in_range ? b[at] : 0.0f;
            if (kLora) gbs[i][rr] = in_range ? gb[at] : 0.0f;
        }
        __syncthreads();
        for (int rr = 0; rr < kRankChunk; ++rr) {
            float av[kColsPerThread], gav[kColsPerThread];
            for (int cj = 0; cj < kColsPerThread; ++cj) {
                av[cj] = as[rr][lane + kWarpSize * cj];
                if (kLora) gav[cj] = gas[rr][lane + kWarpSize * cj];
            }
            for (int ci = 0; ci < kRowsPerThread; ++ci) {
                const float bv = bs[warp + kWarps * ci][rr];
                const float gbv = kLora ? gbs[warp + kWarps * ci][rr] : 0.0f;
                for (int cj = 0; cj < kColsPerThread; ++cj) {
                    ba[ci][cj] += bv * av[cj];
                    if (kLora) g[ci][cj] += gbv * (av[cj] - gav[cj]) + bv * gav[cj];
                }
            }
        }
    }

    float row_sum[kRowsPerThread], col_sum[kColsPerThread];
    for (int cj = 0; cj < kColsPerThread; ++cj) col_sum[cj] = 0.0f;
    for (int ci = 0; ci < kRowsPerThread; ++ci) {
        row_sum[ci] = 0.0f;
        const int64_t i = i0 + warp + kWarps * ci;
        for (int cj = 0; cj < kColsPerThread; ++cj) {
            const int64_t j = j0 + lane + kWarpSize * cj;
            if (i >= OUT || j >= IN) continue;
            const int64_t at = i * IN + j;
            const float wp = load_weight(w, w_dtype, at) + scale * ba[ci][cj];
            float gij = 1.0f;
            if (MODE == LP_IMPORTANCE_LORA) gij = g[ci][cj];
            if (MODE == LP_IMPORTANCE_GRAD) gij = gw[at];
            const float sij = fabsf(gij * wp);
            row_sum[ci] += sij;
            col_sum[cj] += sij;
        }
    }
    if (axis == 0) {
        for (int ci = 0; ci < kRowsPerThread; ++ci) {
            const float s = warp_sum(row_sum[ci]);
            const int64_t i = i0 + warp + kWarps * ci;
            if (lane == 0 && i < OUT) part[static_cast<int64_t>(blockIdx.x) * OUT + i] = s;
        }
    } else {
        for (int cj = 0; cj < kColsPerThread; ++cj) colsum[warp][lane + kWarpSize * cj] = col_sum[cj];
        __syncthreads();
        if (tid < kTileCols && j0 + tid < IN) {
            float s = colsum[0][tid];
            for (int ww = 1; ww < kWarps; ++ww) s += colsum[ww][tid];
            part[static_cast<int64_t>(blockIdx.y) * IN + j0 + tid] = s;
        }
    }
}

// acc[k] += sum_t part[t, k], the tiles added in order.
__global__ void importance_reduce_kernel(const float* part,  // (tiles, n)
                                         float* acc,         // (n)
                                         int64_t tiles, int64_t n) {
    for (int64_t k = grid_thread_index(); k < n; k += grid_thread_count()) {
        float total = 0.0f;
        for (int64_t t = 0; t < tiles; ++t) total += part[t * n + k];
        acc[k] += total;
    }
}

// Sum of group g of v, in element order.
__device__ __forceinline__ float group_sum(const float* v, int64_t g, int64_t group_size) {
    const float* x = v + g * group_size;
    float s = 0.0f;
    for (int64_t i = 0; i < group_size; ++i) s += x[i];
    return s;
}

// One block: ||g||_2 over all groups, then out[k] += g[k] / (||g|| + 1e-8). Each thread forms the
// same groups in both passes, so the second pass sees exactly the values the norm was built from.
__global__ void importance_group_normalize_kernel(const float* v,  // (groups * group_size)
                                                  float* out,      // (groups)
                                                  int64_t groups, int64_t group_size) {
    __shared__ float partials[kWarpSize];
    float sumsq = 0.0f;
    for (int64_t k = threadIdx.x; k < groups; k += blockDim.x) {
        const float s = group_sum(v, k, group_size);
        sumsq += s * s;
    }
    const float denom = sqrtf(block_sum(sumsq, partials)) + 1e-8f;
    for (int64_t k = threadIdx.x; k < groups; k += blockDim.x) out[k] += group_sum(v, k, group_size) / denom;
}

// *flag = 1 when fresh holds a NaN (every writer stores the same value).
__global__ void importance_ema_check_kernel(const float* fresh,  // (n)
                                            int* flag, int64_t n) {
    for (int64_t i = grid_thread_index(); i < n; i += grid_thread_count())
        if (isnan(fresh[i])) *flag = 1;
}

__global__ void importance_ema_forward_kernel(float* ema,          // (n)
                                              const float* fresh,  // (n)
                                              int64_t n, float decay) {
    for (int64_t i = grid_thread_index(); i < n; i += grid_thread_count())
        ema[i] = decay * ema[i] + (1.0f - decay) * fresh[i];
}

template <int MODE>
void launch_accumulate(cudaStream_t s, dim3 grid, const lp_tensor& w, const float* a, const float* b, const float* ga, const float* gb, const float* gw, float* part,
                       int R, float scale, int axis) {
    LP_LAUNCH(importance_accumulate_kernel<MODE>, grid, kThreads, 0, s)(w.data, w.dtype, a, b, ga, gb, gw, part, w.ne[0], w.ne[1], R, scale, axis);
    LP_CHECK_LAUNCH(importance_accumulate_kernel);
}

const float* data_or_null(const lp_tensor* t) { return t ? static_cast<const float*>(t->data) : nullptr; }

}  // namespace
}  // namespace lp::cuda

namespace lp::backend {

using namespace lp::cuda;

void importance_accumulate(lp_context* ctx, const lp_tensor& w, const lp_tensor* a, const lp_tensor* b, const lp_tensor* ga, const lp_tensor* gb, const lp_tensor* gw,
                           float scale, int32_t mode, int32_t axis, const lp_tensor& acc) {
    const int64_t OUT = w.ne[0], IN = w.ne[1];
    const int64_t R = a ? a->ne[0] : 0;
    if (R > (1LL << 30)) fail(LP_ERR_UNSUPPORTED, "a.ne[0]=" + std::to_string(R) + " (R) is too large");
    const int64_t col_tiles = (IN + kTileCols - 1) / kTileCols;
    const int64_t row_tiles = (OUT + kTileRows - 1) / kTileRows;
    if (row_tiles > 65535) fail(LP_ERR_UNSUPPORTED, "w.ne[0]=" + std::to_string(OUT) + " (OUT) exceeds the grid of the importance kernel");
    const int64_t tiles = axis == 0 ? col_tiles : row_tiles;
    const int64_t n = axis == 0 ? OUT : IN;
    float* part = static_cast<float*>(scratch(ctx, static_cast<size_t>(tiles * n) * sizeof(float)));  // (tiles, n)
    cudaStream_t s = stream(ctx);
    const dim3 grid(static_cast<unsigned int>(col_tiles), static_cast<unsigned int>(row_tiles));
    const float *ap = data_or_null(a), *bp = data_or_null(b), *gap = data_or_null(ga), *gbp = data_or_null(gb), *gwp = data_or_null(gw);
    if (mode == LP_IMPORTANCE_LORA) launch_accumulate<LP_IMPORTANCE_LORA>(s, grid, w, ap, bp, gap, gbp, gwp, part, static_cast<int>(R), scale, axis);
    else if (mode == LP_IMPORTANCE_GRAD) launch_accumulate<LP_IMPORTANCE_GRAD>(s, grid, w, ap, bp, gap, gbp, gwp, part, static_cast<int>(R), scale, axis);
    else launch_accumulate<LP_IMPORTANCE_MAGNITUDE>(s, grid, w, ap, bp, gap, gbp, gwp, part, static_cast<int>(R), scale, axis);
    LP_LAUNCH(importance_reduce_kernel, blocks_for(n, kThreads), kThreads, 0, s)(part, static_cast<float*>(acc.data), tiles, n);
    LP_CHECK_LAUNCH(importance_reduce_kernel);
}

void importance_group_normalize(lp_context* ctx, const lp_tensor& v, int64_t group_size, const lp_tensor& out) {
    const int64_t groups = out.ne[0];
    LP_LAUNCH(importance_group_normalize_kernel, 1, kThreads, 0, stream(ctx))(static_cast<const float*>(v.data), static_cast<float*>(out.data), groups, group_size);
    LP_CHECK_LAUNCH(importance_group_normalize_kernel);
}

bool importance_ema(lp_context* ctx, const lp_tensor& ema, const lp_tensor& fresh, float decay) {
    const int64_t n = numel(ema);
    cudaStream_t s = stream(ctx);
    int* flag = static_cast<int*>(scratch(ctx, sizeof(int)));  // (1)
    const float* fp = static_cast<const float*>(fresh.data);
    LP_CUDA_CHECK(cudaMemsetAsync(flag, 0, sizeof(int), s));
    LP_LAUNCH(importance_ema_check_kernel, blocks_for(n, kThreads), kThreads, 0, s)(fp, flag, n);
    LP_CHECK_LAUNCH(importance_ema_check_kernel);
    int found = 0;
    LP_CUDA_CHECK(cudaMemcpyAsync(&found, flag, sizeof(int), cudaMemcpyDeviceToHost, s));
    LP_CUDA_CHECK(cudaStreamSynchronize(s));
    if (found) return false;
    LP_LAUNCH(importance_ema_forward_kernel, blocks_for(n, kThreads), kThreads, 0, s)(static_cast<float*>(ema.data), fp, n, decay);
    LP_CHECK_LAUNCH(importance_ema_forward_kernel);
    return true;
}

}  // namespace lp::backend

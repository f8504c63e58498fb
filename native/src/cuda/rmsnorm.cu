// rmsnorm.cu — RMSNorm of the CUDA backend (LLaMA's pre-norm), one block per row.
//   forward:  rstd = 1/sqrt(mean_c(x^2) + eps),  y = x * rstd * w
//   backward: dot = sum_c dy*w*x,  dx = rstd * (w*dy - x * rstd^2 * dot / C)
//             dweight[c] += sum_n dy[n,c] * x[n,c] * rstd[n]
// dweight is reduced deterministically without float atomics: column partial sums over chunks of
// rows into scratch, then one thread per column adds the chunks in order.
#include "cuda_common.cuh"
#include "reduce.cuh"

namespace lp::cuda {
namespace {

constexpr int kMaxThreads = 256;
constexpr int kColumnTile = 32;           // columns of one dweight block (one per lane)
constexpr int kColumnBlockThreads = 256;  // 8 warps, each walks every 8th row of the chunk
constexpr int64_t kRowsPerChunk = 64;     // rows of one dweight partial sum ...
constexpr int64_t kMaxChunks = 256;       // ... unless that makes more chunks than this

// y may alias x (both f32): each thread reads x[c] and writes y[c] for the same c, after the reduction.
template <class TY>
__global__ void rmsnorm_forward_kernel(const float* x,       // (N, C)
                                       const float* weight,  // (C)
                                       TY* y,                // (N, C) f32 or bf16
                                       float* rstd,          // (N)
                                       int64_t N, int64_t C, float eps) {
    __shared__ float partials[kWarpSize];
    for (int64_t n = blockIdx.x; n < N; n += gridDim.x) {
        const float* xr = x + n * C;
        float sumsq = 0.0f;
        for (int64_t c = threadIdx.x; c < C; c += blockDim.x) sumsq += xr[c] * xr[c];
        sumsq = block_sum(sumsq, partials);
        const float r = 1.0f / sqrtf(sumsq / static_cast<float>(C) + eps);
        if (threadIdx.x == 0) rstd[n] = r;
        TY* yr = y + n * C;
        for (int64_t c = threadIdx.x; c < C; c += blockDim.x) yr[c] = from_f32<TY>(xr[c] * r * weight[c]);
    }
}

__global__ void rmsnorm_backward_kernel(const float* dy,      // (N, C)
                                        const float* x,       // (N, C)
                                        const float* weight,  // (C)
                                        const float* rstd,    // (N)
                                        float* dx,            // (N, C)
                                        int64_t N, int64_t C) {
    __shared__ float partials[kWarpSize];
    for (int64_t n = blockIdx.x; n < N; n += gridDim.x) {
        const float* dyr = dy + n * C;
        const float* xr = x + n * C;
        float dot = 0.0f;
        for (int64_t c = threadIdx.x; c < C; c += blockDim.x) dot += dyr[c] * weight[c] * xr[c];
        dot = block_sum(dot, partials);
        const float r = rstd[n];
        const float coef = r * r * dot / static_cast<float>(C);
        float* dxr = dx + n * C;
        for (int64_t c = threadIdx.x; c < C; c += blockDim.x) dxr[c] = r * (weight[c] * dyr[c] - xr[c] * coef);
    }
}

// partial[chunk, c] = sum over the chunk's rows of dy*x*rstd. Block (column tile, chunk):
// lane = column of the tile, warp = row phase; the 8 warp sums are added in warp order.
__global__ void rmsnorm_backward_dweight_partial_kernel(const float* dy,    // (N, C)
                                                        const float* x,     // (N, C)
                                                        const float* rstd,  // (N)
                                                        float* partial,     // (chunks, C)
                                                        int64_t N, int64_t C, int64_t rows_per_chunk) {
    __shared__ float tile[kColumnBlockThreads / kColumnTile][kColumnTile];
    const int lane = static_cast<int>(threadIdx.x) % kColumnTile;
    const int phase = static_cast<int>(threadIdx.x) / kColumnTile;
    const int phases = static_cast<int>(blockDim.x) / kColumnTile;
    const int64_t c = static_cast<int64_t>(blockIdx.x) * kColumnTile + lane;
    const int64_t row_begin = static_cast<int64_t>(blockIdx.y) * rows_per_chunk;
    const int64_t row_end = row_begin + rows_per_chunk < N ? row_begin + rows_per_chunk : N;
    float sum = 0.0f;
    if (c < C) {
        for (int64_t n = row_begin + phase; n < row_end; n += phases) sum += dy[n * C + c] * x[n * C + c] * rstd[n];
    }
    tile[phase][lane] = sum;
    __syncthreads();
    if (phase == 0 && c < C) {
        float total = tile[0][lane];
        for (int p = 1; p < phases; ++p) total += tile[p][lane];
        partial[static_cast<int64_t>(blockIdx.y) * C + c] = total;
    }
}

// dweight[c] += sum over chunks of partial[chunk, c], in chunk order.
__global__ void rmsnorm_backward_dweight_reduce_kernel(const float* partial,  // (chunks, C)
                                                       float* dweight,        // (C)
                                                       int64_t chunks, int64_t C) {
    for (int64_t c = grid_thread_index(); c < C; c += grid_thread_count()) {
        float total = 0.0f;
        for (int64_t k = 0; k < chunks; ++k) total += partial[k * C + c];
        dweight[c] += total;
    }
}

}  // namespace
}  // namespace lp::cuda

namespace lp::backend {

using namespace lp::cuda;

void rmsnorm_forward(lp_context* ctx, const lp_tensor& x, const lp_tensor& weight, float eps, const lp_tensor& y, const lp_tensor& rstd) {
    const int64_t N = rstd.ne[0], C = weight.ne[0];
    with_act_type(y.dtype, [&](auto tag) {
        using TY = decltype(tag);
        LP_LAUNCH(rmsnorm_forward_kernel<TY>, row_blocks(N), row_threads(C, kMaxThreads), 0, stream(ctx))(
            static_cast<const float*>(x.data), static_cast<const float*>(weight.data), static_cast<TY*>(y.data), static_cast<float*>(rstd.data), N, C, eps);
        LP_CHECK_LAUNCH(rmsnorm_forward_kernel);
    });
}

void rmsnorm_backward(lp_context* ctx, const lp_tensor& dy, const lp_tensor& x, const lp_tensor& weight, const lp_tensor& rstd, const lp_tensor& dx, const lp_tensor* dweight) {
    const int64_t N = rstd.ne[0], C = weight.ne[0];
    const float* dyp = static_cast<const float*>(dy.data);
    const float* xp = static_cast<const float*>(x.data);
    const float* rp = static_cast<const float*>(rstd.data);
    cudaStream_t s = stream(ctx);
    LP_LAUNCH(rmsnorm_backward_kernel, row_blocks(N), row_threads(C, kMaxThreads), 0, s)(
        dyp, xp, static_cast<const float*>(weight.data), rp, static_cast<float*>(dx.data), N, C);
    LP_CHECK_LAUNCH(rmsnorm_backward_kernel);
    if (!dweight) return;

    int64_t chunks = (N + kRowsPerChunk - 1) / kRowsPerChunk;
    if (chunks > kMaxChunks) chunks = kMaxChunks;
    const int64_t rows_per_chunk = (N + chunks - 1) / chunks;
    float* partial = static_cast<float*>(scratch(ctx, static_cast<size_t>(chunks * C) * sizeof(float)));
    const dim3 grid(static_cast<unsigned int>((C + kColumnTile - 1) / kColumnTile), static_cast<unsigned int>(chunks));
    LP_LAUNCH(rmsnorm_backward_dweight_partial_kernel, grid, kColumnBlockThreads, 0, s)(dyp, xp, rp, partial, N, C, rows_per_chunk);
    LP_CHECK_LAUNCH(rmsnorm_backward_dweight_partial_kernel);
    LP_LAUNCH(rmsnorm_backward_dweight_reduce_kernel, blocks_for(C, kMaxThreads), kMaxThreads, 0, s)(partial, static_cast<float*>(dweight->data), chunks, C);
    LP_CHECK_LAUNCH(rmsnorm_backward_dweight_reduce_kernel);
}

}  // namespace lp::backend

// bias.cu — projection biases of the CUDA backend (Qwen2 q/k/v, LLaMA attention_bias/mlp_bias).
//   bias_add:      y[n,o] += bias[o] * mask[o]               (elementwise, grid-stride)
//   bias_backward: dbias[o] += mask[o] * sum_n dy[n,o]       (deterministic, no float atomics:
//                  column partial sums over chunks of rows into scratch, then chunks in order)
#include "cuda_common.cuh"

namespace lp::cuda {
namespace {

constexpr int kThreads = 256;
constexpr int kColumnTile = 32;           // columns of one partial-sum block (one per lane)
constexpr int kColumnBlockThreads = 256;  // 8 warps, each walks every 8th row of the chunk
constexpr int64_t kRowsPerChunk = 64;     // rows of one partial sum ...
constexpr int64_t kMaxChunks = 256;       // ... unless that makes more chunks than this

template <class TY>
__global__ void bias_add_kernel(TY* y,              // (N, OUT) f32 or bf16
                                const void* bias,   // (OUT) f32|bf16
                                int32_t bias_dtype,
                                const float* mask,  // (OUT), nullable
                                int64_t N, int64_t OUT) {
    const int64_t total = N * OUT;
    for (int64_t i = grid_thread_index(); i < total; i += grid_thread_count()) {
        const int64_t o = i % OUT;
        const float b = load_weight(bias, bias_dtype, o);
        y[i] = from_f32<TY>(to_f32(y[i]) + (mask ? b * mask[o] : b));
    }
}

// partial[chunk, o] = sum over the chunk's rows of dy. Block (column tile, chunk): lane = column
// of the tile, warp = row phase; the 8 warp sums are added in warp order.
__global__ void bias_backward_partial_kernel(const float* dy,  // (N, OUT)
                                             float* partial,   // (chunks, OUT)
                                             int64_t N, int64_t OUT, int64_t rows_per_chunk) {
    __shared__ float tile[kColumnBlockThreads / kColumnTile][kColumnTile];
    const int lane = static_cast<int>(threadIdx.x) % kColumnTile;
    const int phase = static_cast<int>(threadIdx.x) / kColumnTile;
    const int phases = static_cast<int>(blockDim.x) / kColumnTile;
    const int64_t o = static_cast<int64_t>(blockIdx.x) * kColumnTile + lane;
    const int64_t row_begin = static_cast<int64_t>(blockIdx.y) * rows_per_chunk;
    const int64_t row_end = row_begin + rows_per_chunk < N ? row_begin + rows_per_chunk : N;
    float sum = 0.0f;
    if (o < OUT) {
        for (int64_t n = row_begin + phase; n < row_end; n += phases) sum += dy[n * OUT + o];
    }
    tile[phase][lane] = sum;
    __syncthreads();
    if (phase == 0 && o < OUT) {
        float total = tile[0][lane];
        for (int p = 1; p < phases; ++p) total += tile[p][lane];
        partial[static_cast<int64_t>(blockIdx.y) * OUT + o] = total;
    }
}

// dbias[o] += mask[o] * (sum over chunks of partial[chunk, o], in chunk order).
__global__ void bias_backward_reduce_kernel(const float* partial,  // (chunks, OUT)
                                            const float* mask,     // (OUT), nullable
                                            float* dbias,          // (OUT)
                                            int64_t chunks, int64_t OUT) {
    for (int64_t o = grid_thread_index(); o < OUT; o += grid_thread_count()) {
        float total = 0.0f;
        for (int64_t k = 0; k < chunks; ++k) total += partial[k * OUT + o];
        dbias[o] += mask ? mask[o] * total : total;
    }
}

}  // namespace
}  // namespace lp::cuda

namespace lp::backend {

using namespace lp::cuda;

void bias_add(lp_context* ctx, const lp_tensor& y, const lp_tensor& bias, const lp_tensor* mask) {
    const int64_t N = y.ne[0], OUT = y.ne[1];
    const float* m = mask ? static_cast<const float*>(mask->data) : nullptr;
    with_act_type(y.dtype, [&](auto tag) {
        using TY = decltype(tag);
        LP_LAUNCH(bias_add_kernel<TY>, blocks_for(N * OUT, kThreads), kThreads, 0, stream(ctx))(static_cast<TY*>(y.data), bias.data, bias.dtype, m, N, OUT);
        LP_CHECK_LAUNCH(bias_add_kernel);
    });
}

void bias_backward(lp_context* ctx, const lp_tensor& dy, const lp_tensor* mask, const lp_tensor& dbias) {
    const int64_t N = dy.ne[0], OUT = dy.ne[1];
    cudaStream_t s = stream(ctx);
    int64_t chunks = (N + kRowsPerChunk - 1) / kRowsPerChunk;
    if (chunks > kMaxChunks) chunks = kMaxChunks;
    const int64_t rows_per_chunk = (N + chunks - 1) / chunks;
    float* partial = static_cast<float*>(scratch(ctx, static_cast<size_t>(chunks * OUT) * sizeof(float)));
    const dim3 grid(static_cast<unsigned int>((OUT + kColumnTile - 1) / kColumnTile), static_cast<unsigned int>(chunks));
    LP_LAUNCH(bias_backward_partial_kernel, grid, kColumnBlockThreads, 0, s)(static_cast<const float*>(dy.data), partial, N, OUT, rows_per_chunk);
    LP_CHECK_LAUNCH(bias_backward_partial_kernel);
    const float* m = mask ? static_cast<const float*>(mask->data) : nullptr;
    LP_LAUNCH(bias_backward_reduce_kernel, blocks_for(OUT, kThreads), kThreads, 0, s)(partial, m, static_cast<float*>(dbias.data), chunks, OUT);
    LP_CHECK_LAUNCH(bias_backward_reduce_kernel);
}

}  // namespace lp::backend

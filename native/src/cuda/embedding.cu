// embedding.cu — token embedding of the CUDA backend.
//   forward:  out[n,c] = table[ids[n],c]            (a gather; bf16 tables are widened to f32)
//   backward: dtable[ids[n],c] += dout[n,c]         (a scatter-add: atomicAdd, since ids repeat)
// An id outside [0,V) raises the context's device error flag; the host reads it after the launch.
#include "cuda_common.cuh"
#include "reduce.cuh"

#include <string>

namespace lp::cuda {
namespace {

constexpr int kMaxThreads = 256;

// One block per token row (grid-stride over rows), threads across the hidden dimension.
__global__ void embedding_forward_kernel(const void* table,  // (V, C) f32|bf16
                                         int32_t table_dtype,
                                         const int32_t* ids,  // (N)
                                         float* out,          // (N, C)
                                         int64_t N, int64_t C, int64_t V, int* error_flag) {
    for (int64_t n = blockIdx.x; n < N; n += gridDim.x) {
        const int32_t id = ids[n];
        float* row = out + n * C;
        if (id < 0 || id >= V) {
            if (threadIdx.x == 0) atomicMax(error_flag, 1);
            continue;
        }
        const int64_t base = static_cast<int64_t>(id) * C;
        for (int64_t c = threadIdx.x; c < C; c += blockDim.x) row[c] = load_weight(table, table_dtype, base + c);
    }
}

__global__ void embedding_backward_kernel(const float* dout,   // (N, C)
                                          const int32_t* ids,  // (N)
                                          float* dtable,       // (V, C)
                                          int64_t N, int64_t C, int64_t V, int* error_flag) {
    for (int64_t n = blockIdx.x; n < N; n += gridDim.x) {
        const int32_t id = ids[n];
        if (id < 0 || id >= V) {
            if (threadIdx.x == 0) atomicMax(error_flag, 1);
            continue;
        }
        const float* src = dout + n * C;
        float* dst = dtable + static_cast<int64_t>(id) * C;
        for (int64_t c = threadIdx.x; c < C; c += blockDim.x) atomicAdd(dst + c, src[c]);
    }
}

void check_ids(lp_context* ctx, int64_t V) {
    if (take_error_flag(ctx)) fail(LP_ERR_INVALID_ARGUMENT, "ids: an id is outside [0," + std::to_string(V) + ")");
}

}  // namespace
}  // namespace lp::cuda

namespace lp::backend {

using namespace lp::cuda;

void embedding_forward(lp_context* ctx, const lp_tensor& table, const lp_tensor& ids, const lp_tensor& out) {
    const int64_t V = table.ne[0], C = table.ne[1], N = ids.ne[0];
    State& s = state(ctx);
    LP_LAUNCH(embedding_forward_kernel, row_blocks(N), row_threads(C, kMaxThreads), 0, s.stream)(
        table.data, table.dtype, static_cast<const int32_t*>(ids.data), static_cast<float*>(out.data), N, C, V, s.error_flag);
    LP_CHECK_LAUNCH(embedding_forward_kernel);
    check_ids(ctx, V);
}

void embedding_backward(lp_context* ctx, const lp_tensor& dout, const lp_tensor& ids, const lp_tensor& dtable) {
    const int64_t V = dtable.ne[0], C = dtable.ne[1], N = ids.ne[0];
    State& s = state(ctx);
    LP_LAUNCH(embedding_backward_kernel, row_blocks(N), row_threads(C, kMaxThreads), 0, s.stream)(
        static_cast<const float*>(dout.data), static_cast<const int32_t*>(ids.data), static_cast<float*>(dtable.data), N, C, V, s.error_flag);
    LP_CHECK_LAUNCH(embedding_backward_kernel);
    check_ids(ctx, V);
}

}  // namespace lp::backend

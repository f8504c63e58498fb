// gather.cu — the compaction gathers of the CUDA backend (structured pruning removes heads and
// channels by copying the kept rows or columns), for any dtype by element size (2 or 4 bytes):
//   gather_rows: dst[k,:] = src[idx[k],:]   src (R,C), idx (K), dst (K,C)
//   gather_cols: dst[:,k] = src[:,idx[k]]   src (R,C), idx (K), dst (R,K)
// An index out of range raises the device error flag; its destination elements are left as they were.
#include "cuda_common.cuh"
#include "reduce.cuh"

#include <string>

namespace lp::cuda {
namespace {

constexpr int kMaxThreads = 256;

// One block per destination row (grid-stride), threads across the C columns.
template <class T>
__global__ void gather_rows_forward_kernel(const T* src,        // (R, C)
                                           const int32_t* idx,  // (K)
                                           T* dst,              // (K, C)
                                           int64_t R, int64_t C, int64_t K, int* error_flag) {
    for (int64_t k = blockIdx.x; k < K; k += gridDim.x) {
        const int32_t r = idx[k];
        if (r < 0 || r >= R) {
            if (threadIdx.x == 0) atomicMax(error_flag, 1);
            continue;
        }
        const T* from = src + static_cast<int64_t>(r) * C;
        T* to = dst + k * C;
        for (int64_t c = threadIdx.x; c < C; c += blockDim.x) to[c] = from[c];
    }
}

// One block per row r of src and dst (grid-stride), threads across the K kept columns.
template <class T>
__global__ void gather_cols_forward_kernel(const T* src,        // (R, C)
                                           const int32_t* idx,  // (K)
                                           T* dst,              // (R, K)
                                           int64_t R, int64_t C, int64_t K, int* error_flag) {
    for (int64_t r = blockIdx.x; r < R; r += gridDim.x) {
        const T* from = src + r * C;
        T* to = dst + r * K;
        for (int64_t k = threadIdx.x; k < K; k += blockDim.x) {
            const int32_t c = idx[k];
            if (c < 0 || c >= C) {
                atomicMax(error_flag, 1);
                continue;
            }
            to[k] = from[c];
        }
    }
}

struct GatherShape {
    int64_t R, C, K;
};

// A 1-D src (R) is a column (R,1).
GatherShape gather_shape(const lp_tensor& src, const lp_tensor& idx) {
    return {src.ne[0], src.ndim == 1 ? 1 : src.ne[1], idx.ne[0]};
}

void check_indices(lp_context* ctx, const char* what, int64_t bound) {
    if (take_error_flag(ctx)) fail(LP_ERR_INVALID_ARGUMENT, std::string("idx: an index is outside [0,") + std::to_string(bound) + ") of src's " + what);
}

}  // namespace
}  // namespace lp::cuda

namespace lp::backend {

using namespace lp::cuda;

void gather_rows(lp_context* ctx, const lp_tensor& src, const lp_tensor& idx, const lp_tensor& dst) {
    const GatherShape g = gather_shape(src, idx);
    State& s = state(ctx);
    const unsigned int blocks = row_blocks(g.K);
    const int threads = row_threads(g.C, kMaxThreads);
    const int32_t* ip = static_cast<const int32_t*>(idx.data);
    const size_t esize = dtype_size(src.dtype);
    if (esize == 4) {
        LP_LAUNCH(gather_rows_forward_kernel<uint32_t>, blocks, threads, 0, s.stream)(
            static_cast<const uint32_t*>(src.data), ip, static_cast<uint32_t*>(dst.data), g.R, g.C, g.K, s.error_flag);
    } else if (esize == 2) {
        LP_LAUNCH(gather_rows_forward_kernel<uint16_t>, blocks, threads, 0, s.stream)(
            static_cast<const uint16_t*>(src.data), ip, static_cast<uint16_t*>(dst.data), g.R, g.C, g.K, s.error_flag);
    } else {
        fail(LP_ERR_INTERNAL, std::string("src: no gather for dtype ") + dtype_name(src.dtype));
    }
    LP_CHECK_LAUNCH(gather_rows_forward_kernel);
    check_indices(ctx, "rows", g.R);
}

void gather_cols(lp_context* ctx, const lp_tensor& src, const lp_tensor& idx, const lp_tensor& dst) {
    const GatherShape g = gather_shape(src, idx);
    State& s = state(ctx);
    const unsigned int blocks = row_blocks(g.R);
    const int threads = row_threads(g.K, kMaxThreads);
    const int32_t* ip = static_cast<const int32_t*>(idx.data);
    const size_t esize = dtype_size(src.dtype);
    if (esize == 4) {
        LP_LAUNCH(gather_cols_forward_kernel<uint32_t>, blocks, threads, 0, s.stream)(
            static_cast<const uint32_t*>(src.data), ip, static_cast<uint32_t*>(dst.data), g.R, g.C, g.K, s.error_flag);
    } else if (esize == 2) {
        LP_LAUNCH(gather_cols_forward_kernel<uint16_t>, blocks, threads, 0, s.stream)(
            static_cast<const uint16_t*>(src.data), ip, static_cast<uint16_t*>(dst.data), g.R, g.C, g.K, s.error_flag);
    } else {
        fail(LP_ERR_INTERNAL, std::string("src: no gather for dtype ") + dtype_name(src.dtype));
    }
    LP_CHECK_LAUNCH(gather_cols_forward_kernel);
    check_indices(ctx, "columns", g.C);
}

}  // namespace lp::backend

// reduce.cuh — warp and block reductions shared by the kernels of the CUDA backend.
// Warp level: an xor butterfly of __shfl_xor_sync, so every lane ends with the same, bit-identical
// value. Block level: one partial per warp in shared memory, then every thread adds the partials
// in warp order; the result is deterministic for a given blockDim and identical in all threads.
//
// Contract of the block_* functions: blockDim.x is a multiple of 32 and at most 1024, blockDim.y
// and blockDim.z are 1, every thread of the block calls them (they contain __syncthreads), and
// `partials` is a __shared__ array of at least 32 elements that the caller does not touch otherwise.
// They may be called repeatedly with the same `partials`: each call starts with a barrier.
#pragma once

#include "cuda_common.cuh"

namespace lp::cuda {

constexpr unsigned int kFullWarpMask = 0xffffffffu;
constexpr int kWarpSize = 32;

template <class T>
__device__ __forceinline__ T warp_sum(T v) {
    for (int offset = kWarpSize / 2; offset > 0; offset >>= 1) v += __shfl_xor_sync(kFullWarpMask, v, offset);
    return v;
}

__device__ __forceinline__ float warp_max(float v) {
    for (int offset = kWarpSize / 2; offset > 0; offset >>= 1) v = fmaxf(v, __shfl_xor_sync(kFullWarpMask, v, offset));
    return v;
}

// Sum of v over the block, returned to every thread.
template <class T>
__device__ __forceinline__ T block_sum(T v, T* partials) {
    const int lane = static_cast<int>(threadIdx.x) % kWarpSize;
    const int warp = static_cast<int>(threadIdx.x) / kWarpSize;
    const int warps = static_cast<int>(blockDim.x) / kWarpSize;
    v = warp_sum(v);
    __syncthreads();  // a previous call may still be reading partials
    if (lane == 0) partials[warp] = v;
    __syncthreads();
    T total = partials[0];
    for (int w = 1; w < warps; ++w) total += partials[w];
    return total;
}

// Threads of a block that works on one row of `cols` elements: the row length rounded up to a
// warp, at most `max_threads` (a multiple of 32).
inline int row_threads(int64_t cols, int max_threads) {
    int64_t t = (cols + kWarpSize - 1) / kWarpSize * kWarpSize;
    return static_cast<int>(t < kWarpSize ? kWarpSize : (t > max_threads ? max_threads : t));
}

// Blocks of a grid-stride loop over `rows` rows: one block per row, at most kMaxRowBlocks.
inline unsigned int row_blocks(int64_t rows) {
    return static_cast<unsigned int>(rows < 1 ? 1 : (rows > kMaxRowBlocks ? kMaxRowBlocks : rows));
}

}  // namespace lp::cuda

// test_barriers.cpp — block barriers of the CUDA emulator: shared-memory reductions and transposes
// with barriers are exact in every barrier order; the same kernels with a __syncthreads missing
// give wrong answers in the orders that expose them; built-in indices of 3-D blocks and grids;
// __syncthreads_count/and/or.
#include "cudaemu_test.h"

#include <cstdint>
#include <vector>

using namespace cudaemu_test;

namespace {

constexpr int kReduceThreads = 256;
constexpr int kTile = 32;

// Tree reduction of one block's 256 ints.
__global__ void block_sum_kernel(const int* in, int* out, int n) {
    __shared__ int s[kReduceThreads];
    const int tid = static_cast<int>(threadIdx.x);
    const int i = static_cast<int>(blockIdx.x * blockDim.x) + tid;
    s[tid] = i < n ? in[i] : 0;
    __syncthreads();
    for (int stride = static_cast<int>(blockDim.x) / 2; stride > 0; stride >>= 1) {
        if (tid < stride) s[tid] += s[tid + stride];
        __syncthreads();
    }
    if (tid == 0) out[blockIdx.x] = s[0];
}

// The same reduction without the barrier inside the loop.
__global__ void block_sum_missing_sync_kernel(const int* in, int* out, int n) {
    __shared__ int s[kReduceThreads];
    const int tid = static_cast<int>(threadIdx.x);
    const int i = static_cast<int>(blockIdx.x * blockDim.x) + tid;
    s[tid] = i < n ? in[i] : 0;
    __syncthreads();
    for (int stride = static_cast<int>(blockDim.x) / 2; stride > 0; stride >>= 1) {
        if (tid < stride) s[tid] += s[tid + stride];
    }
    if (tid == 0) out[blockIdx.x] = s[0];
}

// Transpose of a (rows, cols) matrix through a 32x33 shared tile; blocks of (32, 8) threads.
__global__ void transpose_kernel(const float* in, float* out, int rows, int cols) {
    __shared__ float tile[kTile][kTile + 1];
    const int x = static_cast<int>(blockIdx.x) * kTile + static_cast<int>(threadIdx.x);
    const int y0 = static_cast<int>(blockIdx.y) * kTile;
    for (int j = static_cast<int>(threadIdx.y); j < kTile; j += static_cast<int>(blockDim.y))
        if (x < cols && y0 + j < rows) tile[j][threadIdx.x] = in[(y0 + j) * cols + x];
    __syncthreads();
    const int ox = static_cast<int>(blockIdx.y) * kTile + static_cast<int>(threadIdx.x);
    const int oy0 = static_cast<int>(blockIdx.x) * kTile;
    for (int j = static_cast<int>(threadIdx.y); j < kTile; j += static_cast<int>(blockDim.y))
        if (ox < rows && oy0 + j < cols) out[(oy0 + j) * rows + ox] = tile[threadIdx.x][j];
}

__global__ void transpose_missing_sync_kernel(const float* in, float* out, int rows, int cols) {
    __shared__ float tile[kTile][kTile + 1];
    const int x = static_cast<int>(blockIdx.x) * kTile + static_cast<int>(threadIdx.x);
    const int y0 = static_cast<int>(blockIdx.y) * kTile;
    for (int j = static_cast<int>(threadIdx.y); j < kTile; j += static_cast<int>(blockDim.y))
        if (x < cols && y0 + j < rows) tile[j][threadIdx.x] = in[(y0 + j) * cols + x];
    const int ox = static_cast<int>(blockIdx.y) * kTile + static_cast<int>(threadIdx.x);
    const int oy0 = static_cast<int>(blockIdx.x) * kTile;
    for (int j = static_cast<int>(threadIdx.y); j < kTile; j += static_cast<int>(blockDim.y))
        if (ox < rows && oy0 + j < cols) out[(oy0 + j) * rows + ox] = tile[threadIdx.x][j];
}

// Every thread writes its global linear id and its indices.
__global__ void indices_kernel(unsigned int* out) {
    const unsigned int bx = blockIdx.x + gridDim.x * (blockIdx.y + gridDim.y * blockIdx.z);
    const unsigned int t = threadIdx.x + blockDim.x * (threadIdx.y + blockDim.y * threadIdx.z);
    const unsigned int g = bx * (blockDim.x * blockDim.y * blockDim.z) + t;
    out[4 * g + 0] = g;
    out[4 * g + 1] = threadIdx.x | (threadIdx.y << 8) | (threadIdx.z << 16);
    out[4 * g + 2] = blockIdx.x | (blockIdx.y << 8) | (blockIdx.z << 16);
    out[4 * g + 3] = blockDim.x | (blockDim.y << 8) | (blockDim.z << 16) | (gridDim.x << 24);
}

__global__ void sync_predicates_kernel(int* out) {
    const int tid = static_cast<int>(threadIdx.x);
    const int count = __syncthreads_count(tid % 3 == 0);
    const int all_small = __syncthreads_and(tid < 1000);
    const int all_even = __syncthreads_and(tid % 2 == 0);
    const int any_last = __syncthreads_or(tid == static_cast<int>(blockDim.x) - 1);
    const int any_big = __syncthreads_or(tid > 5000);
    out[tid * 5 + 0] = count;
    out[tid * 5 + 1] = all_small;
    out[tid * 5 + 2] = all_even;
    out[tid * 5 + 3] = any_last;
    out[tid * 5 + 4] = any_big;
}

std::vector<int> block_sums(const std::vector<int>& in, int blocks) {
    std::vector<int> ref(static_cast<size_t>(blocks), 0);
    for (size_t i = 0; i < in.size(); ++i) ref[i / kReduceThreads] += in[i];
    return ref;
}

}  // namespace

CUDAEMU_TEST(barrier_reduction) {
    const int blocks = 40, n = blocks * kReduceThreads - 17;
    std::vector<int> in(static_cast<size_t>(n));
    for (int i = 0; i < n; ++i) in[static_cast<size_t>(i)] = (i * 37) % 101 - 50;
    const std::vector<int> ref = block_sums(in, blocks);
    DeviceArray<int> d_in(in.size()), d_out(static_cast<size_t>(blocks));
    d_in.upload(in);
    int missing_caught = 0;
    for (const Order& o : kOrders) {
        CHECK(cudaemu::set_barrier_order(nullptr, o.order, o.seed));
        LP_LAUNCH(block_sum_kernel, blocks, kReduceThreads, 0, nullptr)(d_in.get(), d_out.get(), n);
        CHECK_CUDA(cudaGetLastError());
        CHECK_MSG(d_out.download() == ref, "with barriers, order %s", o.name);
        LP_LAUNCH(block_sum_missing_sync_kernel, blocks, kReduceThreads, 0, nullptr)(d_in.get(), d_out.get(), n);
        CHECK_CUDA(cudaGetLastError());
        const bool wrong = d_out.download() != ref;
        if (wrong) ++missing_caught;
        NOTE("tree reduction: exact with barriers, %s without the loop barrier (order %s)", wrong ? "WRONG" : "still right", o.name);
        if (o.order != 1) CHECK_MSG(wrong, "a missing barrier must give a wrong sum in order %s", o.name);
    }
    CHECK(missing_caught >= 3);
    cudaemu::set_barrier_order(nullptr, 0, 0);
}

CUDAEMU_TEST(barrier_transpose) {
    const int rows = 70, cols = 45;  // partial tiles on both axes
    std::vector<float> in(static_cast<size_t>(rows * cols));
    for (size_t i = 0; i < in.size(); ++i) in[i] = static_cast<float>(i) * 0.5f - 3.0f;
    std::vector<float> ref(in.size());
    for (int r = 0; r < rows; ++r)
        for (int c = 0; c < cols; ++c) ref[static_cast<size_t>(c * rows + r)] = in[static_cast<size_t>(r * cols + c)];
    DeviceArray<float> d_in(in.size()), d_out(in.size());
    d_in.upload(in);
    const dim3 grid((cols + kTile - 1) / kTile, (rows + kTile - 1) / kTile);
    const dim3 block(kTile, 8);
    for (const Order& o : kOrders) {
        cudaemu::set_barrier_order(nullptr, o.order, o.seed);
        d_out.zero();
        LP_LAUNCH(transpose_kernel, grid, block, 0, nullptr)(d_in.get(), d_out.get(), rows, cols);
        CHECK_CUDA(cudaGetLastError());
        CHECK_MSG(d_out.download() == ref, "transpose with barrier, order %s", o.name);
        d_out.zero();
        LP_LAUNCH(transpose_missing_sync_kernel, grid, block, 0, nullptr)(d_in.get(), d_out.get(), rows, cols);
        CHECK_CUDA(cudaGetLastError());
        const bool wrong = d_out.download() != ref;
        CHECK_MSG(wrong, "a transpose without its barrier must be wrong in order %s", o.name);
        NOTE("transpose %dx%d: exact with the barrier, %s without it (order %s)", rows, cols, wrong ? "wrong" : "RIGHT", o.name);
    }
    cudaemu::set_barrier_order(nullptr, 0, 0);
}

CUDAEMU_TEST(builtin_indices) {
    const dim3 grid(3, 2, 2), block(8, 4, 2);
    const unsigned int threads = block.x * block.y * block.z, total = threads * grid.x * grid.y * grid.z;
    DeviceArray<unsigned int> d_out(4 * total);
    d_out.zero();
    LP_LAUNCH(indices_kernel, grid, block, 0, nullptr)(d_out.get());
    CHECK_CUDA(cudaGetLastError());
    const std::vector<unsigned int> out = d_out.download();
    bool ok = true;
    for (unsigned int g = 0; g < total; ++g) {
        const unsigned int b = g / threads, t = g % threads;
        const unsigned int tx = t % block.x, ty = (t / block.x) % block.y, tz = t / (block.x * block.y);
        const unsigned int bx = b % grid.x, by = (b / grid.x) % grid.y, bz = b / (grid.x * grid.y);
        ok = ok && out[4 * g] == g && out[4 * g + 1] == (tx | (ty << 8) | (tz << 16)) && out[4 * g + 2] == (bx | (by << 8) | (bz << 16)) &&
             out[4 * g + 3] == (block.x | (block.y << 8) | (block.z << 16) | (grid.x << 24));
    }
    CHECK(ok);
    NOTE("threadIdx/blockIdx/blockDim/gridDim of a (3,2,2) grid of (8,4,2) blocks: every thread ran once with CUDA's indices");
}

CUDAEMU_TEST(barrier_predicates) {
    const int threads = 200;
    DeviceArray<int> d_out(static_cast<size_t>(threads) * 5);
    for (const Order& o : kOrders) {
        cudaemu::set_barrier_order(nullptr, o.order, o.seed);
        LP_LAUNCH(sync_predicates_kernel, 1, threads, 0, nullptr)(d_out.get());
        CHECK_CUDA(cudaGetLastError());
        const std::vector<int> out = d_out.download();
        bool ok = true;
        for (int t = 0; t < threads; ++t) {
            const int* r = &out[static_cast<size_t>(t) * 5];
            ok = ok && r[0] == 67 && r[1] == 1 && r[2] == 0 && r[3] == 1 && r[4] == 0;
        }
        CHECK_MSG(ok, "order %s", o.name);
    }
    cudaemu::set_barrier_order(nullptr, 0, 0);
    NOTE("__syncthreads_count/and/or give the block-wide results to every thread in every order");
}

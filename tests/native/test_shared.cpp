// test_shared.cpp — shared memory in the CUDA emulator: dynamic shared memory has the launch's size,
// 16-byte alignment and per-block contents; static __shared__ arrays are per block even while
// blocks run concurrently on several OS threads; the 48 KiB default limit and the opt-in up to
// 227 KiB through cudaFuncSetAttribute.
#include "cudaemu_test.h"

#include <cstdint>
#include <vector>

using namespace cudaemu_test;

namespace {

// Records the alignment of the dynamic buffer and whether it started as the emulator's poison
// (0xff bytes), fills it with the block id in several barrier phases, then verifies it.
__global__ void dynamic_smem_kernel(int* out, int words) {
    LP_DYNAMIC_SHARED(int, smem);
    const int t = static_cast<int>(threadIdx.x);
    const int b = static_cast<int>(blockIdx.x);
    int poisoned = 1;
    for (int i = t; i < words; i += static_cast<int>(blockDim.x)) poisoned &= smem[i] == -1;
    __syncthreads();
    for (int round = 0; round < 4; ++round) {
        for (int i = t; i < words; i += static_cast<int>(blockDim.x)) smem[i] = b * 1000 + round;
        __syncthreads();
        int ok = 1;
        for (int i = (t * 7) % words; i < words; i += static_cast<int>(blockDim.x)) ok &= smem[i] == b * 1000 + round;
        if (!ok) atomicAdd(&out[1], 1);
        __syncthreads();
    }
    if (!poisoned) atomicAdd(&out[2], 1);
    if (t == 0) atomicOr(&out[0], static_cast<int>(reinterpret_cast<uintptr_t>(smem) & 15u));
}

// The same per-block check on a static __shared__ array.
__global__ void static_smem_kernel(int* errors) {
    __shared__ int tile[512];
    __shared__ float scale;
    const int t = static_cast<int>(threadIdx.x);
    const int b = static_cast<int>(blockIdx.x);
    if (t == 0) scale = static_cast<float>(b);
    for (int round = 0; round < 3; ++round) {
        for (int i = t; i < 512; i += static_cast<int>(blockDim.x)) tile[i] = b + round * 100000;
        __syncthreads();
        for (int i = (t * 13) % 512; i < 512; i += static_cast<int>(blockDim.x))
            if (tile[i] != b + round * 100000 || scale != static_cast<float>(b)) atomicAdd(errors, 1);
        __syncthreads();
    }
}

__global__ void large_smem_kernel(double* out, int floats) {
    LP_DYNAMIC_SHARED(float, smem);
    for (int i = static_cast<int>(threadIdx.x); i < floats; i += static_cast<int>(blockDim.x)) smem[i] = static_cast<float>(i);
    __syncthreads();
    double s = 0.0;
    for (int i = static_cast<int>(threadIdx.x); i < floats; i += static_cast<int>(blockDim.x)) s += smem[floats - 1 - i];
    atomicAdd(out, s);
}

}  // namespace

CUDAEMU_TEST(shared_dynamic) {
    const int sizes[] = {4, 1000, 4096, 12288};
    DeviceArray<int> d_out(3);
    for (int words : sizes) {
        d_out.zero();
        LP_LAUNCH(dynamic_smem_kernel, 64, 96, static_cast<size_t>(words) * sizeof(int), nullptr)(d_out.get(), words);
        CHECK_CUDA(cudaGetLastError());
        const std::vector<int> out = d_out.download();
        CHECK_MSG(out[0] == 0, "dynamic shared memory must be 16-byte aligned (%d)", out[0]);
        CHECK_MSG(out[1] == 0, "%d mismatches: dynamic shared memory must be per block", out[1]);
        CHECK_MSG(out[2] == 0, "%d threads saw initialized shared memory", out[2]);
    }
    NOTE("dynamic shared memory of 16 B..48 KiB: 16-byte aligned, starts as 0xff (NaN), per block over 64 blocks on %d host threads",
         cudaemu::thread_count());
}

CUDAEMU_TEST(shared_static_per_block) {
    DeviceArray<int> d_errors(1);
    for (const Order& o : kOrders) {
        cudaemu::set_barrier_order(nullptr, o.order, o.seed);
        d_errors.zero();
        LP_LAUNCH(static_smem_kernel, 200, 128, 0, nullptr)(d_errors.get());
        CHECK_CUDA(cudaGetLastError());
        CHECK_MSG(d_errors.download()[0] == 0, "order %s: blocks saw each other's __shared__ data", o.name);
    }
    cudaemu::set_barrier_order(nullptr, 0, 0);
    CHECK(cudaemu::thread_count() >= 2);
    NOTE("static __shared__ arrays are per block: 200 blocks on %d host threads never see another block's values", cudaemu::thread_count());
}

CUDAEMU_TEST(shared_limits) {
    DeviceArray<double> d_out(1);
    const int floats = 100 * 1024 / 4;
    d_out.zero();
    LP_LAUNCH(large_smem_kernel, 2, 256, static_cast<size_t>(floats) * 4, nullptr)(d_out.get(), floats);
    CHECK(cudaGetLastError() == cudaErrorInvalidValue);
    CHECK(d_out.download()[0] == 0.0);
    NOTE("100 KiB of dynamic shared memory without the attribute: cudaErrorInvalidValue, kernel not run");

    LP_LAUNCH(large_smem_kernel, 2, 256, 48 * 1024, nullptr)(d_out.get(), 48 * 1024 / 4);
    CHECK_CUDA(cudaGetLastError());
    NOTE("48 KiB without the attribute runs");

    CHECK(cudaFuncSetAttribute(large_smem_kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, 228 * 1024) == cudaErrorInvalidValue);
    CHECK(cudaGetLastError() == cudaErrorInvalidValue);
    CHECK_CUDA(cudaFuncSetAttribute(large_smem_kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, 227 * 1024));
    d_out.zero();
    LP_LAUNCH(large_smem_kernel, 2, 256, static_cast<size_t>(floats) * 4, nullptr)(d_out.get(), floats);
    CHECK_CUDA(cudaGetLastError());
    const double expected = 2.0 * (static_cast<double>(floats) - 1.0) * floats / 2.0;
    CHECK_MSG(d_out.download()[0] == expected, "%.1f vs %.1f", d_out.download()[0], expected);
    LP_LAUNCH(large_smem_kernel, 2, 256, 227 * 1024 + 4, nullptr)(d_out.get(), 16);
    CHECK(cudaGetLastError() == cudaErrorInvalidValue);
    NOTE("cudaFuncSetAttribute(MaxDynamicSharedMemorySize): 227 KiB allowed (100 KiB launch runs), 228 KiB rejected, launch above the limit rejected");
}

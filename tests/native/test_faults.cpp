// test_faults.cpp — what the CUDA emulator does with kernels that are undefined behaviour in CUDA:
// a deadlock (half of each warp at __syncthreads, the other half in a shuffle with them), divergent
// __syncthreads, __trap, a shuffle by a lane outside its mask, a bad width and mismatched warp
// collectives all end the launch with cudaErrorLaunchFailure and a message, never a hang; threads
// that exited count as arrived; the next launch runs normally.
#include "cudaemu_test.h"

#include <cstring>
#include <string>
#include <vector>

using namespace cudaemu_test;

namespace {

// Lanes 0-15 of every warp wait at the block barrier, lanes 16-31 in a full-warp shuffle that
// needs lanes 0-15: no thread can continue.
__global__ void deadlock_kernel(int* out) {
    const int lane = static_cast<int>(threadIdx.x) % 32;
    if (lane < 16) {
        __syncthreads();
        out[threadIdx.x] = 1;
    } else {
        out[threadIdx.x] = __shfl_sync(0xffffffffu, lane, 0);
    }
}

__global__ void divergent_barrier_kernel(int* out) {
    if (threadIdx.x < 64) {
        __syncthreads();
        out[threadIdx.x] = 1;
    } else {
        __syncthreads();
        out[threadIdx.x] = 2;
    }
}

__global__ void trap_kernel(int* out) {
    if (blockIdx.x == 3 && threadIdx.x == 5) __trap();
    out[blockIdx.x * blockDim.x + threadIdx.x] = 1;
}

__global__ void lane_outside_mask_kernel(int* out) { out[threadIdx.x] = __shfl_sync(0x0000ffffu, 1, 0); }

__global__ void bad_width_kernel(int* out) { out[threadIdx.x] = __shfl_xor_sync(0xffffffffu, 1, 1, 3); }

__global__ void mismatched_collectives_kernel(int* out) {
    const int lane = static_cast<int>(threadIdx.x) % 32;
    if (lane < 16) out[threadIdx.x] = __shfl_sync(0xffffffffu, lane, 0);
    else out[threadIdx.x] = static_cast<int>(__ballot_sync(0xffffffffu, 1));
}

// Threads 96.. exit early; the rest synchronize twice. Exited threads count as arrived.
__global__ void early_exit_kernel(int* out) {
    __shared__ int s[96];
    const int t = static_cast<int>(threadIdx.x);
    if (t >= 96) return;
    s[t] = t;
    __syncthreads();
    const int v = s[95 - t];
    __syncthreads();
    out[t] = v;
}

__global__ void ok_kernel(int* out) { out[threadIdx.x] = static_cast<int>(threadIdx.x); }

// Launches `kernel` expecting a launch failure whose message contains `text`.
void expect_failure(void (*kernel)(int*), const char* name, unsigned int blocks, unsigned int threads, const char* text) {
    DeviceArray<int> d(static_cast<size_t>(blocks) * threads);
    LP_LAUNCH(kernel, blocks, threads, 0, nullptr)(d.get());
    CHECK_MSG(cudaPeekAtLastError() == cudaErrorLaunchFailure, "%s", name);
    CHECK_MSG(cudaDeviceSynchronize() == cudaErrorLaunchFailure, "%s: the failure stays visible to synchronization", name);
    CHECK(cudaGetLastError() == cudaErrorLaunchFailure);
    CHECK(cudaGetLastError() == cudaSuccess);
    CHECK_CUDA(cudaDeviceSynchronize());
    const std::string message = cudaemu::last_launch_failure();
    CHECK_MSG(message.find(text) != std::string::npos, "%s: message '%s' lacks '%s'", name, message.c_str(), text);
    NOTE("%s -> cudaErrorLaunchFailure: %s", name, message.c_str());

    DeviceArray<int> ok(64);
    LP_LAUNCH(ok_kernel, 1, 64, 0, nullptr)(ok.get());
    CHECK_CUDA(cudaGetLastError());
    CHECK(ok.download()[63] == 63);
}

}  // namespace

CUDAEMU_TEST(fault_deadlock) {
    for (const Order& o : kOrders) {
        cudaemu::set_barrier_order(nullptr, o.order, o.seed);
        expect_failure(deadlock_kernel, "deadlock", 4, 128, "deadlock");
    }
    cudaemu::set_barrier_order(nullptr, 0, 0);
}

CUDAEMU_TEST(fault_divergent_barrier) { expect_failure(divergent_barrier_kernel, "divergent __syncthreads", 2, 128, "divergent barriers"); }

CUDAEMU_TEST(fault_trap) { expect_failure(trap_kernel, "__trap", 8, 32, "__trap"); }

CUDAEMU_TEST(fault_warp_misuse) {
    expect_failure(lane_outside_mask_kernel, "lane outside the mask", 1, 32, "not in the mask");
    expect_failure(bad_width_kernel, "width 3", 1, 32, "width 3");
    expect_failure(mismatched_collectives_kernel, "__shfl_sync against __ballot_sync", 1, 32, "mismatched warp collectives");
}

CUDAEMU_TEST(exited_threads_count_as_arrived) {
    DeviceArray<int> d(128);
    for (const Order& o : kOrders) {
        cudaemu::set_barrier_order(nullptr, o.order, o.seed);
        LP_LAUNCH(early_exit_kernel, 3, 128, 0, nullptr)(d.get());
        CHECK_CUDA(cudaGetLastError());
        const std::vector<int> out = d.download();
        for (int t = 0; t < 96; ++t) CHECK_MSG(out[static_cast<size_t>(t)] == 95 - t, "order %s thread %d", o.name, t);
    }
    cudaemu::set_barrier_order(nullptr, 0, 0);
    NOTE("threads that returned before __syncthreads do not block it");
}

// test_atomics.cpp — atomics of the CUDA emulator from many blocks on several OS threads: integer
// and float totals are exact, atomicMax/Min find the extremes, an atomicCAS loop loses no update,
// atomicExch/Inc and shared-memory atomics behave as CUDA documents.
#include "cudaemu_test.h"

#include <algorithm>
#include <cstdint>
#include <vector>

using namespace cudaemu_test;

namespace {

struct Totals {
    int count;
    unsigned int sum;
    unsigned long long big;
    float fsum;
    double dsum;
    int max;
    int min;
    unsigned int umax;
    int cas_count;
    unsigned int wrap;
};

__device__ int value_of(int i) { return (i * 7919) % 100003 - 50000; }

__global__ void atomics_kernel(Totals* t, int n) {
    const int i = static_cast<int>(blockIdx.x * blockDim.x + threadIdx.x);
    if (i >= n) return;
    atomicAdd(&t->count, 1);
    atomicAdd(&t->sum, static_cast<unsigned int>(i));
    atomicAdd(&t->big, static_cast<unsigned long long>(i) << 20);
    atomicAdd(&t->fsum, 1.0f);
    atomicAdd(&t->dsum, 0.5);
    atomicMax(&t->max, value_of(i));
    atomicMin(&t->min, value_of(i));
    atomicMax(&t->umax, static_cast<unsigned int>(i));
    // An increment built from atomicCAS: retries until no other thread intervened.
    int old = t->cas_count, assumed;
    do {
        assumed = old;
        old = atomicCAS(&t->cas_count, assumed, assumed + 1);
    } while (old != assumed);
    atomicInc(&t->wrap, 99u);
}

// Per-block histogram in shared memory, merged into the global one.
__global__ void histogram_kernel(const int* in, int n, unsigned int* hist) {
    __shared__ unsigned int local[16];
    const int t = static_cast<int>(threadIdx.x);
    if (t < 16) local[t] = 0;
    __syncthreads();
    for (int i = static_cast<int>(blockIdx.x * blockDim.x) + t; i < n; i += static_cast<int>(gridDim.x * blockDim.x)) atomicAdd(&local[in[i] & 15], 1u);
    __syncthreads();
    if (t < 16) atomicAdd(&hist[t], local[t]);
}

__global__ void exch_kernel(int* slot, int* seen) {
    const int mine = static_cast<int>(blockIdx.x * blockDim.x + threadIdx.x) + 1;
    const int prev = atomicExch(slot, mine);
    atomicAdd(&seen[prev], 1);
}

}  // namespace

CUDAEMU_TEST(atomics_many_blocks) {
    const int blocks = 1000, threads = 256, n = blocks * threads - 5;
    Totals init{};
    init.max = INT32_MIN;
    init.min = INT32_MAX;
    DeviceArray<Totals> d_t(1);
    for (const Order& o : kOrders) {
        cudaemu::set_barrier_order(nullptr, o.order, o.seed);
        d_t.upload({init});
        LP_LAUNCH(atomics_kernel, blocks, threads, 0, nullptr)(d_t.get(), n);
        CHECK_CUDA(cudaGetLastError());
        const Totals t = d_t.download()[0];
        int vmax = INT32_MIN, vmin = INT32_MAX;
        unsigned long long big = 0;
        unsigned int sum = 0;
        for (int i = 0; i < n; ++i) {
            vmax = std::max(vmax, (i * 7919) % 100003 - 50000);
            vmin = std::min(vmin, (i * 7919) % 100003 - 50000);
            sum += static_cast<unsigned int>(i);
            big += static_cast<unsigned long long>(i) << 20;
        }
        CHECK_MSG(t.count == n, "order %s: count %d", o.name, t.count);
        CHECK(t.sum == sum);
        CHECK(t.big == big);
        CHECK_MSG(t.fsum == static_cast<float>(n), "fsum %.1f", static_cast<double>(t.fsum));  // integers below 2^24: exact
        CHECK(t.dsum == 0.5 * n);
        CHECK(t.max == vmax && t.min == vmin);
        CHECK(t.umax == static_cast<unsigned int>(n - 1));
        CHECK_MSG(t.cas_count == n, "cas loop %d", t.cas_count);
        CHECK(t.wrap == static_cast<unsigned int>(n % 100));
    }
    cudaemu::set_barrier_order(nullptr, 0, 0);
    NOTE("%d threads on %d host threads: atomicAdd int/unsigned/u64/float/double exact, atomicMax/Min, atomicCAS loop, atomicInc wrap",
         n, cudaemu::thread_count());
}

CUDAEMU_TEST(atomics_shared_and_exch) {
    const int n = 100000;
    std::vector<int> in(static_cast<size_t>(n));
    std::vector<unsigned int> ref(16, 0);
    for (int i = 0; i < n; ++i) {
        in[static_cast<size_t>(i)] = i * 31 + i / 7;
        ++ref[static_cast<size_t>(in[static_cast<size_t>(i)] & 15)];
    }
    DeviceArray<int> d_in(in.size());
    DeviceArray<unsigned int> d_hist(16);
    d_in.upload(in);
    d_hist.zero();
    LP_LAUNCH(histogram_kernel, 37, 128, 0, nullptr)(d_in.get(), n, d_hist.get());
    CHECK_CUDA(cudaGetLastError());
    CHECK(d_hist.download() == ref);
    NOTE("shared-memory histogram with atomicAdd per block, merged with global atomicAdd");

    const int threads = 64 * 128;
    DeviceArray<int> d_slot(1), d_seen(static_cast<size_t>(threads) + 1);
    d_slot.zero();
    d_seen.zero();
    LP_LAUNCH(exch_kernel, 64, 128, 0, nullptr)(d_slot.get(), d_seen.get());
    CHECK_CUDA(cudaGetLastError());
    const std::vector<int> seen = d_seen.download();
    const int last = d_slot.download()[0];
    bool once = last >= 1 && last <= threads;
    for (int v = 0; v <= threads; ++v) once = once && seen[static_cast<size_t>(v)] == (v == last ? 0 : 1);
    CHECK(once);
    NOTE("atomicExch chain: every value but the last was returned exactly once");
}

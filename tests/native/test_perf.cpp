// test_perf.cpp — speed of the CUDA emulator: 1000 blocks of 256 threads with three barriers, the
// same with warp-shuffle reductions (about 12 fiber switches per thread), and a barrier-free
// elementwise kernel over 2^20 elements. Prints the times; fails when the barrier kernel takes
// longer than CUDAEMU_PERF_LIMIT_S seconds (set by CMake per fiber implementation).
#include "cudaemu_test.h"

#include <chrono>
#include <vector>

using namespace cudaemu_test;

#ifndef CUDAEMU_PERF_LIMIT_S
#define CUDAEMU_PERF_LIMIT_S 1.0
#endif
#ifndef CUDAEMU_PERF_FIBERS
#define CUDAEMU_PERF_FIBERS "default"
#endif

namespace {

constexpr int kThreads = 256;

__global__ void three_barriers_kernel(const float* in, float* out) {
    __shared__ float s[kThreads];
    const int t = static_cast<int>(threadIdx.x);
    const int i = static_cast<int>(blockIdx.x) * kThreads + t;
    const float v = in[i];
    s[t] = v;
    __syncthreads();
    const float right = s[(t + 1) % kThreads];
    __syncthreads();
    s[t] = v + right;
    __syncthreads();
    out[i] = s[kThreads - 1 - t];
}

__global__ void shuffle_reduce_kernel(const float* in, float* out) {
    __shared__ float partials[kThreads / 32];
    const int t = static_cast<int>(threadIdx.x);
    const int i = static_cast<int>(blockIdx.x) * kThreads + t;
    float v = in[i];
    for (int offset = 16; offset > 0; offset >>= 1) v += __shfl_xor_sync(0xffffffffu, v, offset);
    if (t % 32 == 0) partials[t / 32] = v;
    __syncthreads();
    float total = 0.0f;
    for (int w = 0; w < kThreads / 32; ++w) total += partials[w];
    out[i] = in[i] / total;
}

__global__ void axpy_kernel(float a, const float* x, float* y, int n) {
    for (int i = static_cast<int>(blockIdx.x * blockDim.x + threadIdx.x); i < n; i += static_cast<int>(gridDim.x * blockDim.x)) y[i] += a * x[i];
}

template <class F>
double seconds(F f) {
    const auto start = std::chrono::steady_clock::now();
    f();
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

}  // namespace

CUDAEMU_TEST(perf) {
    const int blocks = 1000, n = blocks * kThreads;
    std::vector<float> in(static_cast<size_t>(n));
    for (int i = 0; i < n; ++i) in[static_cast<size_t>(i)] = static_cast<float>(i % 1000) + 1.0f;
    DeviceArray<float> d_in(in.size()), d_out(in.size());
    d_in.upload(in);
    std::vector<float> ref(in.size());
    for (int b = 0; b < blocks; ++b)
        for (int t = 0; t < kThreads; ++t) {
            const int u = kThreads - 1 - t;
            ref[static_cast<size_t>(b * kThreads + t)] = in[static_cast<size_t>(b * kThreads + u)] + in[static_cast<size_t>(b * kThreads + (u + 1) % kThreads)];
        }
    LP_LAUNCH(three_barriers_kernel, blocks, kThreads, 0, nullptr)(d_in.get(), d_out.get());  // warm-up: pool, stacks
    CHECK_CUDA(cudaGetLastError());
    std::printf("  %d host threads, %s fibers\n", cudaemu::thread_count(), CUDAEMU_PERF_FIBERS);
    double worst = 0.0;
    for (const Order& o : kOrders) {
        cudaemu::set_barrier_order(nullptr, o.order, o.seed);
        const double t3 = seconds([&] { LP_LAUNCH(three_barriers_kernel, blocks, kThreads, 0, nullptr)(d_in.get(), d_out.get()); });
        CHECK_CUDA(cudaGetLastError());
        CHECK(d_out.download() == ref);
        const double ts = seconds([&] { LP_LAUNCH(shuffle_reduce_kernel, blocks, kThreads, 0, nullptr)(d_in.get(), d_out.get()); });
        CHECK_CUDA(cudaGetLastError());
        worst = t3 > worst ? t3 : worst;
        std::printf("  order %-17s 1000 blocks x 256 threads: 3 barriers %.1f ms, 5 shuffles + 1 barrier %.1f ms\n", o.name, t3 * 1e3, ts * 1e3);
    }
    cudaemu::set_barrier_order(nullptr, 0, 0);

    const int m = 1 << 20;
    DeviceArray<float> x(static_cast<size_t>(m)), y(static_cast<size_t>(m));
    x.zero();
    y.zero();
    LP_LAUNCH(axpy_kernel, m / 256, 256, 0, nullptr)(2.0f, x.get(), y.get(), m);
    const double ta = seconds([&] { LP_LAUNCH(axpy_kernel, m / 256, 256, 0, nullptr)(2.0f, x.get(), y.get(), m); });
    CHECK_CUDA(cudaGetLastError());
    std::printf("  barrier-free axpy over 2^20 elements (4096 blocks x 256): %.1f ms (%.1f ns per CUDA thread)\n", ta * 1e3, ta * 1e9 / m);
    CHECK_MSG(worst < CUDAEMU_PERF_LIMIT_S, "the 3-barrier kernel took %.3f s (limit %.1f s)", worst, CUDAEMU_PERF_LIMIT_S);
    NOTE("slowest 3-barrier launch %.1f ms (limit %.0f ms)", worst * 1e3, CUDAEMU_PERF_LIMIT_S * 1e3);
}

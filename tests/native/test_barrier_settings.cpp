// test_barrier_settings.cpp — the barrier settings a stream carries: its barrier order holds for
// its own launches while another host thread launches on another stream in the other order; the
// record of barrier sites met (passes, the most passes in one block, skipped threads); the
// knockout of one __syncthreads or __syncwarp site, which makes a kernel that needs it wrong; and a
// warp that completes a shuffle running ahead of the rest of its block.
#include "cudaemu_test.h"

#include <atomic>
#include <cstring>
#include <thread>
#include <vector>

using namespace cudaemu_test;

namespace {

constexpr int kSumThreads = 256;
constexpr int kWarpLanes = 32;

// Every thread takes a ticket after a barrier, so the tickets give the order in which the emulator
// resumed the threads: 0, 1, 2, ... forward, n-1, ..., 0 in reverse.
__global__ void resume_order_kernel(int* order_out) {
    __shared__ int next;
    if (threadIdx.x == 0) next = 0;
    __syncthreads();
    const int ticket = atomicAdd(&next, 1);
    order_out[ticket] = static_cast<int>(threadIdx.x);
}

// Tree reduction of one block's 256 ints: one barrier after the loads, one per halving step.
__global__ void tree_sum_kernel(const int* in, int* out) {
    __shared__ int s[kSumThreads];
    const int tid = static_cast<int>(threadIdx.x);
    s[tid] = in[blockIdx.x * blockDim.x + threadIdx.x];
    __syncthreads();
    for (int stride = kSumThreads / 2; stride > 0; stride >>= 1) {
        if (tid < stride) s[tid] += s[tid + stride];
        __syncthreads();
    }
    if (tid == 0) out[blockIdx.x] = s[0];
}

// Each warp reverses its 32 values through shared memory, with a __syncwarp between write and read.
__global__ void warp_reverse_kernel(const int* in, int* out) {
    __shared__ int s[2 * kWarpLanes];
    const int tid = static_cast<int>(threadIdx.x);
    const int lane = tid % kWarpLanes;
    s[tid] = in[tid];
    __syncwarp();
    out[tid] = s[tid - lane + kWarpLanes - 1 - lane];
}

// Two rows per block of 64 threads: each row's sum is a warp shuffle butterfly, then one partial
// per warp in shared memory. The first barrier keeps a warp that is done with row 0 from writing
// its row-1 partial while the other warp still reads the row-0 partials.
__global__ void two_row_sums_kernel(const float* in, float* out) {
    __shared__ float partials[2];
    const int tid = static_cast<int>(threadIdx.x);
    for (int row = 0; row < 2; ++row) {
        float v = in[row * 64 + tid];
        for (int offset = 16; offset > 0; offset >>= 1) v += __shfl_xor_sync(0xffffffffu, v, offset);
        __syncthreads();
        if (tid % kWarpLanes == 0) partials[tid / kWarpLanes] = v;
        __syncthreads();
        out[row * 64 + tid] = partials[0] + partials[1];
    }
}

std::vector<int> iota_order(int n, bool reverse) {
    std::vector<int> v(static_cast<size_t>(n));
    for (int i = 0; i < n; ++i) v[static_cast<size_t>(i)] = reverse ? n - 1 - i : i;
    return v;
}

const cudaemu::BarrierSite* find_site(const std::vector<cudaemu::BarrierSite>& sites, uint64_t max_passes_per_block) {
    for (const cudaemu::BarrierSite& s : sites)
        if (s.max_passes_per_block == max_passes_per_block) return &s;
    return nullptr;
}

}  // namespace

CUDAEMU_TEST(barrier_order_per_stream) {
    constexpr int kThreads = 128, kLaunches = 200;
    cudaStream_t streams[2];
    CHECK_CUDA(cudaStreamCreate(&streams[0]));
    CHECK_CUDA(cudaStreamCreate(&streams[1]));
    CHECK(cudaemu::set_barrier_order(streams[0], 0, 0));
    CHECK(cudaemu::set_barrier_order(streams[1], 1, 0));
    std::atomic<int> wrong[2] = {{0}, {0}};
    auto launches = [&](int which) {
        DeviceArray<int> order(kThreads);
        const std::vector<int> expected = iota_order(kThreads, which == 1);
        for (int i = 0; i < kLaunches; ++i) {
            LP_LAUNCH(resume_order_kernel, 1, kThreads, 0, streams[which])(order.get());
            if (cudaStreamSynchronize(streams[which]) != cudaSuccess || order.download() != expected) ++wrong[which];
        }
    };
    std::thread other(launches, 1);
    launches(0);
    other.join();
    CHECK_MSG(wrong[0] == 0 && wrong[1] == 0, "%d forward and %d reverse launches resumed in the other stream's order", wrong[0].load(), wrong[1].load());
    NOTE("%d launches each from two host threads: forward on one stream, reverse on the other, never mixed", kLaunches);
    CHECK(!cudaemu::set_barrier_order(reinterpret_cast<cudaStream_t>(&wrong[0]), 0, 0));
    CHECK_CUDA(cudaStreamDestroy(streams[0]));
    CHECK_CUDA(cudaStreamDestroy(streams[1]));
}

CUDAEMU_TEST(barrier_site_record_and_knockout) {
    constexpr int kBlocks = 6;
    std::vector<int> in(static_cast<size_t>(kBlocks * kSumThreads));
    for (size_t i = 0; i < in.size(); ++i) in[i] = static_cast<int>(i % 97) - 40;
    std::vector<int> ref(kBlocks, 0);
    for (size_t i = 0; i < in.size(); ++i) ref[i / kSumThreads] += in[i];
    DeviceArray<int> d_in(in.size()), d_out(kBlocks);
    d_in.upload(in);
    cudaStream_t s, other;
    CHECK_CUDA(cudaStreamCreate(&s));
    CHECK_CUDA(cudaStreamCreate(&other));

    (void)cudaemu::take_barrier_sites(s);
    LP_LAUNCH(tree_sum_kernel, kBlocks, kSumThreads, 0, s)(d_in.get(), d_out.get());
    CHECK(d_out.download() == ref);
    const std::vector<cudaemu::BarrierSite> sites = cudaemu::take_barrier_sites(s);
    CHECK(sites.size() == 2);
    const cudaemu::BarrierSite* after_loads = find_site(sites, 1);
    const cudaemu::BarrierSite* loop = find_site(sites, 8);  // log2(256) halving steps
    CHECK(after_loads && after_loads->passes == kBlocks && after_loads->skipped == 0);
    CHECK(loop && loop->passes == 8 * kBlocks && loop->skipped == 0);
    if (!after_loads || !loop) return;
    CHECK(std::strcmp(loop->file.c_str(), "test_barrier_settings.cpp") == 0 && loop->line > after_loads->line);
    CHECK(cudaemu::take_barrier_sites(s).empty());
    NOTE("sites %s:%d (1 pass per block) and %s:%d (8 per block) recorded, record emptied when taken", after_loads->file.c_str(),
         after_loads->line, loop->file.c_str(), loop->line);

    CHECK(cudaemu::set_barrier_knockout(s, loop->file.c_str(), loop->line));
    for (int order = 0; order <= 2; ++order) {
        CHECK(cudaemu::set_barrier_order(s, order, 3));
        LP_LAUNCH(tree_sum_kernel, kBlocks, kSumThreads, 0, s)(d_in.get(), d_out.get());
        // In reverse order the higher threads add first, which a tree sum survives by chance.
        if (order != 1) CHECK_MSG(d_out.download() != ref, "the sum without its loop barrier must be wrong in order %d", order);
    }
    const std::vector<cudaemu::BarrierSite> knocked = cudaemu::take_barrier_sites(s);
    uint64_t skipped = 0, loop_passes = 0;
    for (const cudaemu::BarrierSite& k : knocked) {
        if (k.line != loop->line) continue;
        skipped = k.skipped;
        loop_passes = k.passes;
    }
    CHECK_MSG(skipped == 3ull * kBlocks * kSumThreads * 8 && loop_passes == 0, "skipped %llu, passes %llu", static_cast<unsigned long long>(skipped),
              static_cast<unsigned long long>(loop_passes));
    LP_LAUNCH(tree_sum_kernel, kBlocks, kSumThreads, 0, other)(d_in.get(), d_out.get());
    CHECK_MSG(d_out.download() == ref, "another stream keeps the barrier");
    CHECK(cudaemu::set_barrier_knockout(s, nullptr, 0));
    LP_LAUNCH(tree_sum_kernel, kBlocks, kSumThreads, 0, s)(d_in.get(), d_out.get());
    CHECK_MSG(d_out.download() == ref, "the barrier is back once the knockout is cleared");
    NOTE("knocking out the loop barrier makes the sum wrong (forward, shuffled) and skips every thread's 8 arrivals; other streams unaffected");

    CHECK(!cudaemu::set_barrier_knockout(s, "x.cu", 0));
    CHECK(!cudaemu::set_barrier_knockout(s, "", 3));
    CHECK(!cudaemu::set_barrier_knockout(reinterpret_cast<cudaStream_t>(&skipped), "x.cu", 3));
    CHECK_CUDA(cudaStreamDestroy(s));
    CHECK_CUDA(cudaStreamDestroy(other));
}

CUDAEMU_TEST(warp_sync_knockout) {
    constexpr int kThreads = 2 * kWarpLanes;
    std::vector<int> first(kThreads), second(kThreads), ref(kThreads);
    for (int i = 0; i < kThreads; ++i) {
        first[static_cast<size_t>(i)] = 1000 + i;
        second[static_cast<size_t>(i)] = 2000 + i;
    }
    for (int i = 0; i < kThreads; ++i) ref[static_cast<size_t>(i)] = second[static_cast<size_t>(i - i % kWarpLanes + kWarpLanes - 1 - i % kWarpLanes)];
    DeviceArray<int> d_in(kThreads), d_out(kThreads);
    cudaStream_t s;
    CHECK_CUDA(cudaStreamCreate(&s));
    d_in.upload(second);
    LP_LAUNCH(warp_reverse_kernel, 1, kThreads, 0, s)(d_in.get(), d_out.get());
    CHECK(d_out.download() == ref);
    const std::vector<cudaemu::BarrierSite> sites = cudaemu::take_barrier_sites(s);
    CHECK(sites.size() == 1 && sites[0].passes == 2 && sites[0].max_passes_per_block == 2);
    if (sites.size() != 1) return;
    NOTE("__syncwarp site %s:%d: one completion per warp", sites[0].file.c_str(), sites[0].line);

    CHECK(cudaemu::set_barrier_knockout(s, sites[0].file.c_str(), sites[0].line));
    for (int order = 0; order <= 1; ++order) {
        CHECK(cudaemu::set_barrier_order(s, order, 0));
        d_in.upload(first);  // leaves the first values in shared memory
        LP_LAUNCH(warp_reverse_kernel, 1, kThreads, 0, s)(d_in.get(), d_out.get());
        d_in.upload(second);
        LP_LAUNCH(warp_reverse_kernel, 1, kThreads, 0, s)(d_in.get(), d_out.get());
        CHECK_MSG(d_out.download() != ref, "the reversal without its __syncwarp must read stale values in order %d", order);
    }
    CHECK(cudaemu::take_barrier_sites(s).at(0).skipped == 4u * kThreads);
    NOTE("without the __syncwarp, lanes read their partner's slot before it is written (forward and reverse)");
    CHECK_CUDA(cudaStreamDestroy(s));
}

CUDAEMU_TEST(warp_runs_ahead_after_collective) {
    std::vector<float> in(128), ref(128);
    for (int i = 0; i < 128; ++i) in[static_cast<size_t>(i)] = static_cast<float>(i % 64 + 1) * (i < 64 ? 1.0f : 100.0f);
    for (int i = 0; i < 128; ++i) ref[static_cast<size_t>(i)] = i < 64 ? 2080.0f : 208000.0f;
    DeviceArray<float> d_in(128), d_out(128);
    d_in.upload(in);
    cudaStream_t s;
    CHECK_CUDA(cudaStreamCreate(&s));
    LP_LAUNCH(two_row_sums_kernel, 1, 64, 0, s)(d_in.get(), d_out.get());
    CHECK(d_out.download() == ref);
    int first_line = 0;
    for (const cudaemu::BarrierSite& site : cudaemu::take_barrier_sites(s))
        if (first_line == 0 || site.line < first_line) first_line = site.line;
    CHECK(first_line > 0);
    for (int order = 0; order <= 2; ++order) {
        CHECK(cudaemu::set_barrier_order(s, order, 11));
        CHECK(cudaemu::set_barrier_knockout(s, nullptr, 0));
        LP_LAUNCH(two_row_sums_kernel, 1, 64, 0, s)(d_in.get(), d_out.get());
        CHECK_MSG(d_out.download() == ref, "with both barriers, order %d", order);
        CHECK(cudaemu::set_barrier_knockout(s, "test_barrier_settings.cpp", first_line));
        LP_LAUNCH(two_row_sums_kernel, 1, 64, 0, s)(d_in.get(), d_out.get());
        const bool wrong = d_out.download() != ref;
        if (order != 2) CHECK_MSG(wrong, "without the first barrier the warp that finishes its shuffles first overwrites a partial (order %d)", order);
        NOTE("order %d: the row sums are %s without the barrier before the partials are written", order, wrong ? "wrong" : "right");
    }
    CHECK_CUDA(cudaStreamDestroy(s));
}

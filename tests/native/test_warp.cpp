// test_warp.cpp — warp collectives of the CUDA emulator against CUDA's documented results: the four
// shuffles (widths below 32, source lanes out of range or in a later segment give the caller's own
// value), 64-bit and 16-bit operands, ballot/any/all/activemask, the sm_80 reductions and match,
// divergent groups with disjoint masks, exited lanes, and a warp-shuffle reduction.
#include "cudaemu_test.h"

#include <cstdint>
#include <vector>

using namespace cudaemu_test;

namespace {

constexpr unsigned int kFull = 0xffffffffu;
constexpr int kShflResults = 11;

// out[t * kShflResults + r]: result r of thread t; every lane's operand is v = 100 * warp + lane.
__global__ void shuffles_kernel(int* out, int src, int width, int delta, int lane_mask) {
    const int t = static_cast<int>(threadIdx.x);
    const int v = 100 * (t / 32) + t % 32;
    int* r = out + t * kShflResults;
    r[0] = __shfl_sync(kFull, v, src);
    r[1] = __shfl_sync(kFull, v, src, width);
    r[2] = __shfl_up_sync(kFull, v, static_cast<unsigned int>(delta));
    r[3] = __shfl_up_sync(kFull, v, static_cast<unsigned int>(delta), width);
    r[4] = __shfl_down_sync(kFull, v, static_cast<unsigned int>(delta));
    r[5] = __shfl_down_sync(kFull, v, static_cast<unsigned int>(delta), width);
    r[6] = __shfl_xor_sync(kFull, v, lane_mask);
    r[7] = __shfl_xor_sync(kFull, v, lane_mask, width);
    // 64-bit and floating-point operands travel whole.
    const long long big = (static_cast<long long>(v) << 40) + 7;
    r[8] = static_cast<int>(__shfl_sync(kFull, big, src) >> 40);
    const double d = v + 0.25;
    r[9] = static_cast<int>(__shfl_down_sync(kFull, d, 1u) * 4.0);
    const __nv_bfloat16 h = __float2bfloat16(static_cast<float>(t % 32));
    r[10] = static_cast<int>(__bfloat162float(__shfl_xor_sync(kFull, h, 1)));
}

// Expected results from CUDA's documentation of the shuffles (lane = t % 32, segments of `width`).
int expect_shuffle(int t, int r, int src, int width, int delta, int lane_mask) {
    const int warp = t / 32, lane = t % 32;
    auto value = [&](int l) { return 100 * warp + l; };
    auto idx = [&](int w) { return value((lane / w) * w + src % w); };
    auto up = [&](int w) { return lane % w >= delta ? value(lane - delta) : value(lane); };
    auto down = [&](int w) { return lane % w + delta < w ? value(lane + delta) : value(lane); };
    // Groups may read earlier groups; a lane in a later group gives the caller's own value.
    auto bfly = [&](int w) { return (lane ^ lane_mask) / w > lane / w ? value(lane) : value(lane ^ lane_mask); };
    switch (r) {
        case 0: return idx(32);
        case 1: return idx(width);
        case 2: return up(32);
        case 3: return up(width);
        case 4: return down(32);
        case 5: return down(width);
        case 6: return bfly(32);
        case 7: return bfly(width);
        case 8: return idx(32);
        case 9: return lane + 1 < 32 ? 4 * value(lane + 1) + 1 : 4 * value(lane) + 1;
        case 10: return lane ^ 1;
    }
    return -1;
}

__global__ void votes_kernel(unsigned int* out) {
    const int t = static_cast<int>(threadIdx.x);
    const int lane = t % 32;
    unsigned int* r = out + t * 8;
    r[0] = __ballot_sync(kFull, lane % 3 == 0);
    r[1] = static_cast<unsigned int>(__any_sync(kFull, lane == 17));
    r[2] = static_cast<unsigned int>(__any_sync(kFull, lane > 40));
    r[3] = static_cast<unsigned int>(__all_sync(kFull, lane < 32));
    r[4] = static_cast<unsigned int>(__all_sync(kFull, lane < 31));
    r[5] = __activemask();
    r[6] = __reduce_add_sync(kFull, static_cast<unsigned int>(lane));
    r[7] = static_cast<unsigned int>(__reduce_max_sync(kFull, lane == 9 ? 1000 : -lane));
}

// Lanes 0-15 and 16-31 run different collectives over disjoint masks at the same time.
__global__ void disjoint_masks_kernel(int* out) {
    const int lane = static_cast<int>(threadIdx.x) % 32;
    int v = lane * 3;
    if (lane < 16) {
        v = __shfl_xor_sync(0x0000ffffu, v, 1);
        out[threadIdx.x] = v + static_cast<int>(__ballot_sync(0x0000ffffu, lane % 2 == 0) == 0x5555u) * 1000;
    } else {
        __syncwarp(0xffff0000u);
        v = __shfl_down_sync(0xffff0000u, v, 2, 16);
        out[threadIdx.x] = v + static_cast<int>(__ballot_sync(0xffff0000u, lane >= 24) == 0xff000000u) * 1000;
    }
}

// Lanes 16-31 have exited: the full-mask collectives of lanes 0-15 complete without them.
__global__ void exited_lanes_kernel(int* out) {
    const int lane = static_cast<int>(threadIdx.x) % 32;
    if (lane >= 16) return;
    const int v = __shfl_xor_sync(kFull, lane, 1);
    out[threadIdx.x] = v + 100 * static_cast<int>(__popc(__activemask())) + 10000 * static_cast<int>(__ballot_sync(kFull, 1) == 0xffffu);
}

// Sum of one block's values: xor-butterfly within warps, warp partials through shared memory.
__global__ void warp_reduce_kernel(const float* in, float* out, int* lanes_agree) {
    __shared__ float partials[32];
    const int t = static_cast<int>(threadIdx.x);
    float v = in[blockIdx.x * blockDim.x + t];
    for (int offset = 16; offset > 0; offset >>= 1) v += __shfl_xor_sync(kFull, v, offset);
    const float lane0 = __shfl_sync(kFull, v, 0);
    if (lane0 != v) atomicAdd(lanes_agree, 1);
    if (t % 32 == 0) partials[t / 32] = v;
    __syncthreads();
    if (t < 32) {
        float w = t < static_cast<int>(blockDim.x) / 32 ? partials[t] : 0.0f;
        for (int offset = 16; offset > 0; offset >>= 1) w += __shfl_down_sync(kFull, w, static_cast<unsigned int>(offset));
        if (t == 0) out[blockIdx.x] = w;
    }
}

// A partial last warp (48 threads): the second warp has 16 lanes.
__global__ void partial_warp_kernel(unsigned int* out) {
    const int t = static_cast<int>(threadIdx.x);
    out[t] = __activemask() ^ (__ballot_sync(__activemask(), 1) << 1);
}

}  // namespace

CUDAEMU_TEST(warp_shuffles) {
    struct Case {
        int src, width, delta, lane_mask;
    };
    const Case cases[] = {{5, 8, 3, 4}, {35, 16, 1, 8}, {31, 4, 5, 16}, {0, 1, 0, 1}, {-1, 2, 31, 31}, {17, 32, 16, 3}};
    const int threads = 64;
    DeviceArray<int> d_out(static_cast<size_t>(threads) * kShflResults);
    for (const Order& o : kOrders) {
        cudaemu::set_barrier_order(nullptr, o.order, o.seed);
        for (const Case& c : cases) {
            LP_LAUNCH(shuffles_kernel, 1, threads, 0, nullptr)(d_out.get(), c.src, c.width, c.delta, c.lane_mask);
            CHECK_CUDA(cudaGetLastError());
            const std::vector<int> out = d_out.download();
            for (int t = 0; t < threads; ++t)
                for (int r = 0; r < kShflResults; ++r) {
                    const int got = out[static_cast<size_t>(t * kShflResults + r)];
                    const int want = c.src < 0 && (r == 0 || r == 1 || r == 8) ? got : expect_shuffle(t, r, c.src, c.width, c.delta, c.lane_mask);
                    CHECK_MSG(got == want, "order %s src %d width %d delta %d mask %d: thread %d result %d = %d, want %d", o.name, c.src, c.width,
                              c.delta, c.lane_mask, t, r, got, want);
                }
        }
    }
    cudaemu::set_barrier_order(nullptr, 0, 0);
    NOTE("__shfl/_up/_down/_xor_sync for widths 1..32, out-of-range and later-segment lanes, int/long long/double/bf16 operands");
}

CUDAEMU_TEST(warp_votes) {
    const int threads = 64;
    DeviceArray<unsigned int> d_out(static_cast<size_t>(threads) * 8);
    LP_LAUNCH(votes_kernel, 1, threads, 0, nullptr)(d_out.get());
    CHECK_CUDA(cudaGetLastError());
    const std::vector<unsigned int> out = d_out.download();
    for (int t = 0; t < threads; ++t) {
        const unsigned int* r = &out[static_cast<size_t>(t) * 8];
        CHECK(r[0] == 0x49249249u);
        CHECK(r[1] == 1u && r[2] == 0u && r[3] == 1u && r[4] == 0u);
        CHECK(r[5] == kFull);
        CHECK(r[6] == 496u);
        CHECK(r[7] == 1000u);
    }
    NOTE("__ballot_sync = 0x49249249 for lane %% 3 == 0, __any/__all, __activemask, __reduce_add/max_sync");

    DeviceArray<unsigned int> d_partial(48);
    LP_LAUNCH(partial_warp_kernel, 1, 48, 0, nullptr)(d_partial.get());
    CHECK_CUDA(cudaGetLastError());
    const std::vector<unsigned int> partial = d_partial.download();
    for (int t = 0; t < 48; ++t) CHECK(partial[static_cast<size_t>(t)] == (t < 32 ? (kFull ^ (kFull << 1)) : (0xffffu ^ (0xffffu << 1))));
    NOTE("a 48-thread block: the second warp has 16 lanes (__activemask 0xffff)");
}

CUDAEMU_TEST(warp_divergent_groups) {
    DeviceArray<int> d_out(64);
    for (const Order& o : kOrders) {
        cudaemu::set_barrier_order(nullptr, o.order, o.seed);
        LP_LAUNCH(disjoint_masks_kernel, 1, 64, 0, nullptr)(d_out.get());
        CHECK_CUDA(cudaGetLastError());
        const std::vector<int> out = d_out.download();
        for (int t = 0; t < 64; ++t) {
            const int lane = t % 32;
            int want = 0;
            if (lane < 16) want = (lane ^ 1) * 3 + 1000;
            else want = ((lane % 16) + 2 < 16 ? (lane + 2) * 3 : lane * 3) + 1000;
            CHECK_MSG(out[static_cast<size_t>(t)] == want, "order %s thread %d: %d, want %d", o.name, t, out[static_cast<size_t>(t)], want);
        }

        LP_LAUNCH(exited_lanes_kernel, 1, 64, 0, nullptr)(d_out.get());
        CHECK_CUDA(cudaGetLastError());
        const std::vector<int> ex = d_out.download();
        for (int t = 0; t < 64; ++t)
            if (t % 32 < 16) CHECK_MSG(ex[static_cast<size_t>(t)] == ((t % 32) ^ 1) + 1600 + 10000, "order %s thread %d: %d", o.name, t, ex[static_cast<size_t>(t)]);
    }
    cudaemu::set_barrier_order(nullptr, 0, 0);
    NOTE("lanes 0-15 and 16-31 in different collectives over disjoint masks; collectives of a warp whose other lanes exited");
}

CUDAEMU_TEST(warp_reduction) {
    const int blocks = 64, threads = 256;
    std::vector<float> in(static_cast<size_t>(blocks * threads));
    for (size_t i = 0; i < in.size(); ++i) in[i] = static_cast<float>(static_cast<int>(i % 97) - 48);
    std::vector<float> ref(static_cast<size_t>(blocks), 0.0f);
    for (size_t i = 0; i < in.size(); ++i) ref[i / threads] += in[i];
    DeviceArray<float> d_in(in.size()), d_out(static_cast<size_t>(blocks));
    DeviceArray<int> d_disagree(1);
    d_in.upload(in);
    for (const Order& o : kOrders) {
        cudaemu::set_barrier_order(nullptr, o.order, o.seed);
        d_disagree.zero();
        LP_LAUNCH(warp_reduce_kernel, blocks, threads, 0, nullptr)(d_in.get(), d_out.get(), d_disagree.get());
        CHECK_CUDA(cudaGetLastError());
        CHECK_MSG(d_out.download() == ref, "order %s", o.name);
        CHECK(d_disagree.download()[0] == 0);
    }
    cudaemu::set_barrier_order(nullptr, 0, 0);
    NOTE("warp-shuffle block reduction of 64 blocks x 256 integers-valued floats is exact; all lanes agree after the butterfly");
}

// test_runtime.cpp — the runtime API of the CUDA emulator: bad launch configurations set the last
// error and run nothing; cudaGetLastError clears and Peek keeps; memory alignment, copies, memsets
// and their bounds checks; streams, events, device properties and error strings.
#include "cudaemu_test.h"

#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

using namespace cudaemu_test;

namespace {

__global__ void mark_kernel(int* out) { atomicAdd(out, 1); }

__global__ void scale_kernel(float* x, float a, int n) {
    const int i = static_cast<int>(blockIdx.x * blockDim.x + threadIdx.x);
    if (i < n) x[i] *= a;
}

// Kernels receive their own copy of each argument and may modify it.
__global__ void modify_args_kernel(int n, int* out) {
    n += static_cast<int>(threadIdx.x);
    out[threadIdx.x] = n;
}

}  // namespace

CUDAEMU_TEST(launch_config_errors) {
    DeviceArray<int> d(1);
    d.zero();
    struct Bad {
        dim3 grid, block;
        size_t smem;
        cudaError_t error;
        const char* what;
    };
    const Bad bad[] = {
        {dim3(1), dim3(1025), 0, cudaErrorInvalidConfiguration, "1025 threads"},
        {dim3(1), dim3(32, 32, 2), 0, cudaErrorInvalidConfiguration, "32x32x2 threads"},
        {dim3(1), dim3(1, 1, 65), 0, cudaErrorInvalidConfiguration, "block.z 65"},
        {dim3(0), dim3(32), 0, cudaErrorInvalidConfiguration, "grid.x 0"},
        {dim3(1), dim3(32, 0), 0, cudaErrorInvalidConfiguration, "block.y 0"},
        {dim3(1, 65536), dim3(32), 0, cudaErrorInvalidConfiguration, "grid.y 65536"},
        {dim3(1, 1, 65536), dim3(32), 0, cudaErrorInvalidConfiguration, "grid.z 65536"},
        {dim3(1), dim3(32), 48 * 1024 + 1, cudaErrorInvalidValue, "48 KiB + 1 of dynamic shared memory"},
    };
    for (const Bad& b : bad) {
        LP_LAUNCH(mark_kernel, b.grid, b.block, b.smem, nullptr)(d.get());
        CHECK_MSG(cudaPeekAtLastError() == b.error, "%s", b.what);
        CHECK_MSG(cudaGetLastError() == b.error, "%s", b.what);
        CHECK(cudaGetLastError() == cudaSuccess);
    }
    CHECK(d.download()[0] == 0);
    NOTE("bad configurations (block > 1024, zero dims, grid.y/z > 65535, smem > 48 KiB) report CUDA's errors and run nothing");

    LP_LAUNCH(mark_kernel, dim3(2, 3, 4), dim3(4, 4, 4), 0, nullptr)(d.get());
    CHECK_CUDA(cudaGetLastError());
    CHECK(d.download()[0] == 24 * 64);
    LP_LAUNCH(mark_kernel, dim3(70000), dim3(1), 0, nullptr)(d.get());
    CHECK_CUDA(cudaGetLastError());
    CHECK(d.download()[0] == 24 * 64 + 70000);
    NOTE("a 3-D launch and a grid.x of 70000 run every thread once");

    DeviceArray<int> d_args(8);
    LP_LAUNCH(modify_args_kernel, 1, 8, 0, nullptr)(100, d_args.get());
    CHECK_CUDA(cudaGetLastError());
    const std::vector<int> args = d_args.download();
    for (int t = 0; t < 8; ++t) CHECK(args[static_cast<size_t>(t)] == 100 + t);
    NOTE("every thread gets its own copy of the kernel arguments");
}

CUDAEMU_TEST(memory_api) {
    void* p = nullptr;
    CHECK_CUDA(cudaMalloc(&p, 1000));
    CHECK(reinterpret_cast<uintptr_t>(p) % 256 == 0);
    std::vector<unsigned char> bytes(1000);
    CHECK_CUDA(cudaMemcpy(bytes.data(), p, 1000, cudaMemcpyDeviceToHost));
    bool poisoned = true;
    for (unsigned char c : bytes) poisoned = poisoned && c == 0xff;
    CHECK(poisoned);
    NOTE("cudaMalloc: 256-byte aligned, new memory reads 0xff");

    void* q = nullptr;
    CHECK_CUDA(cudaMalloc(&q, 1000));
    for (size_t i = 0; i < bytes.size(); ++i) bytes[i] = static_cast<unsigned char>(i * 7);
    CHECK_CUDA(cudaMemcpy(p, bytes.data(), 1000, cudaMemcpyHostToDevice));
    CHECK_CUDA(cudaMemcpyAsync(q, p, 1000, cudaMemcpyDeviceToDevice, nullptr));
    CHECK_CUDA(cudaMemsetAsync(static_cast<unsigned char*>(q) + 10, 0x5a, 20, nullptr));
    std::vector<unsigned char> back(1000);
    CHECK_CUDA(cudaMemcpy(back.data(), q, 1000, cudaMemcpyDefault));
    bool same = true;
    for (size_t i = 0; i < back.size(); ++i) same = same && back[i] == ((i >= 10 && i < 30) ? 0x5a : bytes[i]);
    CHECK(same);
    NOTE("cudaMemcpy H2D/D2D/D2H(Default) and cudaMemsetAsync round trip");

    CHECK(cudaMemcpy(back.data(), p, 1001, cudaMemcpyDeviceToHost) == cudaErrorInvalidValue);
    CHECK(cudaMemcpy(static_cast<char*>(p) + 1, bytes.data(), 1000, cudaMemcpyHostToDevice) == cudaErrorInvalidValue);
    CHECK(cudaMemcpy(back.data(), bytes.data(), 10, cudaMemcpyHostToDevice) == cudaErrorInvalidValue);
    CHECK(cudaMemset(back.data(), 0, 10) == cudaErrorInvalidValue);
    CHECK(cudaMemcpy(q, p, 10, static_cast<cudaMemcpyKind>(7)) == cudaErrorInvalidMemcpyDirection);
    CHECK(cudaGetLastError() == cudaErrorInvalidMemcpyDirection);
    NOTE("copies past an allocation's end, host pointers given as device pointers and bad kinds are rejected");

    void* huge = reinterpret_cast<void*>(1);
    CHECK(cudaMalloc(&huge, size_t(1) << 60) == cudaErrorMemoryAllocation);
    CHECK(huge == nullptr);
    CHECK(cudaGetLastError() == cudaErrorMemoryAllocation);
    void* zero = reinterpret_cast<void*>(1);
    CHECK_CUDA(cudaMalloc(&zero, 0));
    CHECK(zero == nullptr);
    CHECK_CUDA(cudaFree(nullptr));
    CHECK(cudaFree(bytes.data()) == cudaErrorInvalidValue);
    CHECK_CUDA(cudaFree(p));
    CHECK(cudaFree(p) == cudaErrorInvalidValue);
    CHECK_CUDA(cudaFree(q));
    (void)cudaGetLastError();
    NOTE("cudaMalloc(2^60) -> cudaErrorMemoryAllocation; cudaFree of nullptr ok, of unknown or freed pointers cudaErrorInvalidValue");

    float* pinned = nullptr;
    CHECK_CUDA(cudaMallocHost(&pinned, 64 * sizeof(float)));
    float* dev = nullptr;
    CHECK_CUDA(cudaMalloc(&dev, 64 * sizeof(float)));
    for (int i = 0; i < 64; ++i) pinned[i] = static_cast<float>(i);
    CHECK_CUDA(cudaMemcpy(dev, pinned, 64 * sizeof(float), cudaMemcpyHostToDevice));
    LP_LAUNCH(scale_kernel, 2, 32, 0, nullptr)(dev, 2.0f, 64);
    CHECK_CUDA(cudaMemcpy(pinned, dev, 64 * sizeof(float), cudaMemcpyDeviceToHost));
    bool scaled = true;
    for (int i = 0; i < 64; ++i) scaled = scaled && pinned[i] == 2.0f * static_cast<float>(i);
    CHECK(scaled);
    CHECK_CUDA(cudaFree(dev));
    CHECK_CUDA(cudaFreeHost(pinned));
    NOTE("cudaMallocHost buffer -> device -> kernel -> back");
}

CUDAEMU_TEST(streams_and_events) {
    cudaStream_t s = nullptr;
    CHECK_CUDA(cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking));
    CHECK(s != nullptr);
    cudaEvent_t start = nullptr, stop = nullptr, untimed = nullptr;
    CHECK_CUDA(cudaEventCreate(&start));
    CHECK_CUDA(cudaEventCreate(&stop));
    CHECK_CUDA(cudaEventCreateWithFlags(&untimed, cudaEventDisableTiming));
    float ms = -1.0f;
    CHECK(cudaEventElapsedTime(&ms, start, stop) == cudaErrorInvalidResourceHandle);
    (void)cudaGetLastError();

    DeviceArray<float> x(1 << 16);
    x.zero();
    CHECK_CUDA(cudaEventRecord(start, s));
    for (int i = 0; i < 10; ++i) LP_LAUNCH(scale_kernel, (1 << 16) / 256, 256, 0, s)(x.get(), 1.5f, 1 << 16);
    CHECK_CUDA(cudaGetLastError());
    CHECK_CUDA(cudaEventRecord(stop, s));
    CHECK_CUDA(cudaEventRecord(untimed, s));
    CHECK_CUDA(cudaStreamWaitEvent(s, stop, 0));
    CHECK_CUDA(cudaEventSynchronize(stop));
    CHECK_CUDA(cudaEventQuery(stop));
    CHECK_CUDA(cudaEventElapsedTime(&ms, start, stop));
    CHECK(ms >= 0.0f);
    CHECK(cudaEventElapsedTime(&ms, start, untimed) == cudaErrorInvalidResourceHandle);
    (void)cudaGetLastError();
    CHECK_CUDA(cudaStreamSynchronize(s));
    CHECK_CUDA(cudaStreamQuery(s));
    CHECK_CUDA(cudaDeviceSynchronize());
    NOTE("events on a stream: 10 launches of 65536 threads took %.3f ms; timing-disabled and unrecorded events are rejected", static_cast<double>(ms));

    CHECK_CUDA(cudaEventDestroy(start));
    CHECK_CUDA(cudaEventDestroy(stop));
    CHECK_CUDA(cudaEventDestroy(untimed));
    CHECK(cudaEventDestroy(start) == cudaErrorInvalidResourceHandle);
    CHECK_CUDA(cudaStreamDestroy(s));
    CHECK(cudaStreamDestroy(s) == cudaErrorInvalidResourceHandle);
    CHECK(cudaStreamSynchronize(s) == cudaErrorInvalidResourceHandle);
    LP_LAUNCH(scale_kernel, 1, 32, 0, s)(x.get(), 1.5f, 32);
    CHECK(cudaGetLastError() == cudaErrorInvalidResourceHandle);
    NOTE("destroyed streams and events are invalid handles, also for launches");
}

CUDAEMU_TEST(device_properties) {
    int count = 0;
    CHECK_CUDA(cudaGetDeviceCount(&count));
    CHECK(count == 1);
    CHECK_CUDA(cudaSetDevice(0));
    CHECK(cudaSetDevice(1) == cudaErrorInvalidDevice);
    CHECK(cudaGetLastError() == cudaErrorInvalidDevice);
    int device = -1;
    CHECK_CUDA(cudaGetDevice(&device));
    CHECK(device == 0);
    cudaDeviceProp prop;
    CHECK_CUDA(cudaGetDeviceProperties(&prop, 0));
    const std::string expected_name = "CUDA emulator (" + std::to_string(cudaemu::thread_count()) + " host threads)";
    CHECK(expected_name == prop.name);
    CHECK(prop.major == 8 && prop.minor == 0 && prop.warpSize == 32 && prop.maxThreadsPerBlock == 1024);
    CHECK(prop.sharedMemPerBlock == 48 * 1024 && prop.sharedMemPerBlockOptin == 227 * 1024);
    CHECK(prop.multiProcessorCount == cudaemu::thread_count());
    CHECK(prop.totalGlobalMem > 0);
    int v = 0;
    CHECK_CUDA(cudaDeviceGetAttribute(&v, cudaDevAttrMultiProcessorCount, 0));
    CHECK(v == cudaemu::thread_count());
    CHECK_CUDA(cudaDeviceGetAttribute(&v, cudaDevAttrMaxSharedMemoryPerBlockOptin, 0));
    CHECK(v == 227 * 1024);
    CHECK(cudaDeviceGetAttribute(&v, cudaDevAttrWarpSize, 3) == cudaErrorInvalidDevice);
    size_t free_bytes = 0, total_bytes = 0;
    CHECK_CUDA(cudaMemGetInfo(&free_bytes, &total_bytes));
    CHECK(total_bytes == prop.totalGlobalMem && free_bytes <= total_bytes);
    (void)cudaGetLastError();
    NOTE("\"%s\", sm_%d%d, %zu MiB, %d SMs", prop.name, prop.major, prop.minor, prop.totalGlobalMem >> 20, prop.multiProcessorCount);

    CHECK(std::strcmp(cudaGetErrorString(cudaErrorInvalidConfiguration), "invalid configuration argument") == 0);
    CHECK(std::strcmp(cudaGetErrorName(cudaErrorLaunchFailure), "cudaErrorLaunchFailure") == 0);
    CHECK(std::strcmp(cudaGetErrorString(cudaSuccess), "no error") == 0);
    CHECK(!cudaemu::set_barrier_order(nullptr, 3, 0));
    CHECK(!cudaemu::set_barrier_order(nullptr, -1, 0));
    NOTE("error names and strings as CUDA's; barrier orders outside 0..2 are refused");
}

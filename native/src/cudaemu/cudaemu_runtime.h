// cudaemu_runtime.h — the CUDA runtime API subset of the emulator (errors, memory, streams,
// events, device properties, function attributes) and kernel launch: LP_LAUNCH runs the grid
// synchronously in stream order, its blocks spread over a pool of OS threads.
#pragma once

#include "cudaemu_types.h"

#include <cstddef>
#include <cstdint>
#include <string>
#include <tuple>
#include <vector>

// ---- errors -------------------------------------------------------------------------------------
// Values as in CUDA's driver_types.h.
enum cudaError {
    cudaSuccess = 0,
    cudaErrorInvalidValue = 1,
    cudaErrorMemoryAllocation = 2,
    cudaErrorInitializationError = 3,
    cudaErrorInvalidConfiguration = 9,
    cudaErrorInvalidSymbol = 13,
    cudaErrorInvalidDevicePointer = 17,
    cudaErrorInvalidMemcpyDirection = 21,
    cudaErrorInsufficientDriver = 35,
    cudaErrorInvalidDeviceFunction = 98,
    cudaErrorNoDevice = 100,
    cudaErrorInvalidDevice = 101,
    cudaErrorInvalidResourceHandle = 400,
    cudaErrorNotReady = 600,
    cudaErrorIllegalAddress = 700,
    cudaErrorLaunchOutOfResources = 701,
    cudaErrorLaunchTimeout = 702,
    cudaErrorAssert = 710,
    cudaErrorHardwareStackError = 714,
    cudaErrorIllegalInstruction = 715,
    cudaErrorMisalignedAddress = 716,
    cudaErrorLaunchFailure = 719,
    cudaErrorNotSupported = 801,
    cudaErrorUnknown = 999,
};
typedef enum cudaError cudaError_t;

const char* cudaGetErrorString(cudaError_t error);
const char* cudaGetErrorName(cudaError_t error);
// The calling host thread's last error: cudaGetLastError returns and clears it, Peek only returns.
cudaError_t cudaGetLastError();
cudaError_t cudaPeekAtLastError();

// ---- device -------------------------------------------------------------------------------------
struct cudaDeviceProp {
    char name[256];
    size_t totalGlobalMem;
    size_t sharedMemPerBlock;
    int regsPerBlock;
    int warpSize;
    size_t memPitch;
    int maxThreadsPerBlock;
    int maxThreadsDim[3];
    int maxGridSize[3];
    int clockRate;
    size_t totalConstMem;
    int major;
    int minor;
    size_t textureAlignment;
    int multiProcessorCount;
    int integrated;
    int canMapHostMemory;
    int concurrentKernels;
    int ECCEnabled;
    int pciBusID;
    int pciDeviceID;
    int pciDomainID;
    int asyncEngineCount;
    int unifiedAddressing;
    int memoryClockRate;
    int memoryBusWidth;
    int l2CacheSize;
    int maxThreadsPerMultiProcessor;
    size_t sharedMemPerMultiprocessor;
    int regsPerMultiprocessor;
    int managedMemory;
    size_t sharedMemPerBlockOptin;
    int maxBlocksPerMultiProcessor;
};

enum cudaDeviceAttr {
    cudaDevAttrMaxThreadsPerBlock = 1,
    cudaDevAttrMaxBlockDimX = 2,
    cudaDevAttrMaxBlockDimY = 3,
    cudaDevAttrMaxBlockDimZ = 4,
    cudaDevAttrMaxGridDimX = 5,
    cudaDevAttrMaxGridDimY = 6,
    cudaDevAttrMaxGridDimZ = 7,
    cudaDevAttrMaxSharedMemoryPerBlock = 8,
    cudaDevAttrWarpSize = 10,
    cudaDevAttrMultiProcessorCount = 16,
    cudaDevAttrComputeCapabilityMajor = 75,
    cudaDevAttrComputeCapabilityMinor = 76,
    cudaDevAttrMaxSharedMemoryPerMultiprocessor = 81,
    cudaDevAttrMaxSharedMemoryPerBlockOptin = 97,
};

cudaError_t cudaGetDeviceCount(int* count);
cudaError_t cudaSetDevice(int device);
cudaError_t cudaGetDevice(int* device);
cudaError_t cudaGetDeviceProperties(cudaDeviceProp* prop, int device);
cudaError_t cudaDeviceGetAttribute(int* value, cudaDeviceAttr attr, int device);
cudaError_t cudaDeviceSynchronize();
cudaError_t cudaMemGetInfo(size_t* free_bytes, size_t* total_bytes);

// ---- memory -------------------------------------------------------------------------------------
enum cudaMemcpyKind {
    cudaMemcpyHostToHost = 0,
    cudaMemcpyHostToDevice = 1,
    cudaMemcpyDeviceToHost = 2,
    cudaMemcpyDeviceToDevice = 3,
    cudaMemcpyDefault = 4,
};

typedef struct CUstream_st* cudaStream_t;
typedef struct CUevent_st* cudaEvent_t;

// Device memory is host memory, 256-byte aligned and filled with 0xff bytes (a NaN in every float
// type) so that reading memory no kernel wrote shows up.
cudaError_t cudaMalloc(void** devPtr, size_t size);
cudaError_t cudaFree(void* devPtr);
cudaError_t cudaMallocHost(void** ptr, size_t size);
cudaError_t cudaFreeHost(void* ptr);
cudaError_t cudaMemcpy(void* dst, const void* src, size_t count, cudaMemcpyKind kind);
cudaError_t cudaMemcpyAsync(void* dst, const void* src, size_t count, cudaMemcpyKind kind, cudaStream_t stream = nullptr);
cudaError_t cudaMemset(void* devPtr, int value, size_t count);
cudaError_t cudaMemsetAsync(void* devPtr, int value, size_t count, cudaStream_t stream = nullptr);

template <class T>
cudaError_t cudaMalloc(T** devPtr, size_t size) {
    return cudaMalloc(reinterpret_cast<void**>(devPtr), size);
}
template <class T>
cudaError_t cudaMallocHost(T** ptr, size_t size) {
    return cudaMallocHost(reinterpret_cast<void**>(ptr), size);
}

// ---- streams and events -------------------------------------------------------------------------
// Work runs when it is issued, so every stream is always idle and events are wall-clock stamps.
enum : unsigned int { cudaStreamDefault = 0, cudaStreamNonBlocking = 1 };
enum : unsigned int { cudaEventDefault = 0, cudaEventBlockingSync = 1, cudaEventDisableTiming = 2 };

cudaError_t cudaStreamCreate(cudaStream_t* stream);
cudaError_t cudaStreamCreateWithFlags(cudaStream_t* stream, unsigned int flags);
cudaError_t cudaStreamDestroy(cudaStream_t stream);
cudaError_t cudaStreamSynchronize(cudaStream_t stream);
cudaError_t cudaStreamQuery(cudaStream_t stream);
cudaError_t cudaStreamWaitEvent(cudaStream_t stream, cudaEvent_t event, unsigned int flags = 0);

cudaError_t cudaEventCreate(cudaEvent_t* event);
cudaError_t cudaEventCreateWithFlags(cudaEvent_t* event, unsigned int flags);
cudaError_t cudaEventDestroy(cudaEvent_t event);
cudaError_t cudaEventRecord(cudaEvent_t event, cudaStream_t stream = nullptr);
cudaError_t cudaEventSynchronize(cudaEvent_t event);
cudaError_t cudaEventQuery(cudaEvent_t event);
cudaError_t cudaEventElapsedTime(float* ms, cudaEvent_t start, cudaEvent_t end);

// ---- kernel attributes --------------------------------------------------------------------------
enum cudaFuncAttribute {
    cudaFuncAttributeMaxDynamicSharedMemorySize = 8,
    cudaFuncAttributePreferredSharedMemoryCarveout = 9,
};

cudaError_t cudaFuncSetAttribute(const void* func, cudaFuncAttribute attr, int value);
template <class F>
cudaError_t cudaFuncSetAttribute(F* func, cudaFuncAttribute attr, int value) {
    return cudaFuncSetAttribute(reinterpret_cast<const void*>(func), attr, value);
}

// ---- emulator controls --------------------------------------------------------------------------
// The barrier settings belong to a stream (nullptr: the default stream), so two host threads that
// launch on their own streams never see each other's order or knockout. They apply to launches that
// start afterwards.
namespace cudaemu {

// Order in which the fibers of a block are resumed in every barrier phase of the launches on
// `stream`: 0 forward, 1 reverse, 2 shuffled by a generator seeded from (seed, block, phase).
// Returns false (and changes nothing) for an unknown order or stream.
bool set_barrier_order(cudaStream_t stream, int order, uint64_t seed);

// Knocks out one barrier site for the launches on `stream`: every __syncthreads* or __syncwarp
// written at `line` of the file named `file` (its name without folders, "attention.cu") returns at
// once, as if that line had no barrier (__syncthreads_count/and/or return the caller's own
// predicate). nullptr restores every barrier. Returns false for a line below 1 or an unknown stream.
bool set_barrier_knockout(cudaStream_t stream, const char* file, int line);

// One barrier site (a __syncthreads* or __syncwarp call in the source) met by launches.
struct BarrierSite {
    std::string file;  // name without folders
    int line = 0;
    uint64_t passes = 0;                // barrier phases it released (per block) or __syncwarp completions
    uint64_t max_passes_per_block = 0;  // the most passes in one block: >= 2 inside a loop that ran twice
    uint64_t skipped = 0;               // threads that went through it while it was knocked out
};

// The barrier sites that launches on `stream` met since the previous call, by file and line; the
// record starts again empty.
std::vector<BarrierSite> take_barrier_sites(cudaStream_t stream);

// Number of OS threads that run blocks (the calling thread included). Fixed at the first launch:
// std::thread::hardware_concurrency(), or the CUDAEMU_THREADS environment variable when set.
int thread_count();

// The message of the calling host thread's last failed launch (deadlock, trap, divergent
// barrier...), empty when none failed; also printed on stderr when it happens.
const char* last_launch_failure();

}  // namespace cudaemu

// ---- launch -------------------------------------------------------------------------------------
namespace cudaemu::detail {

// Runs `run(bound)` in every CUDA thread of the grid; returns (and records as the last error)
// the configuration error or cudaErrorLaunchFailure.
cudaError_t launch_kernel(const void* kernel, const char* name, dim3 grid, dim3 block, size_t smem, cudaStream_t stream,
                          void (*run)(const void*), const void* bound);

template <class... P>
struct BoundKernel {
    void (*kernel)(P...);
    std::tuple<P...> args;
};

// Every CUDA thread calls the kernel with its own copy of the arguments (kernels may modify them).
template <class... P>
void run_bound(const void* bound) {
    const auto& b = *static_cast<const BoundKernel<P...>*>(bound);
    std::apply(b.kernel, b.args);
}

template <class... P>
class Launcher {
public:
    Launcher(void (*kernel)(P...), const char* name, dim3 grid, dim3 block, size_t smem, cudaStream_t stream)
        : kernel_(kernel), name_(name), grid_(grid), block_(block), smem_(smem), stream_(stream) {}

    // Arguments convert to the kernel's parameter types exactly as in a call.
    void operator()(P... args) const {
        const BoundKernel<P...> bound{kernel_, std::tuple<P...>(args...)};
        (void)launch_kernel(reinterpret_cast<const void*>(kernel_), name_, grid_, block_, smem_, stream_, &run_bound<P...>, &bound);
    }

private:
    void (*kernel_)(P...);
    const char* name_;
    dim3 grid_, block_;
    size_t smem_;
    cudaStream_t stream_;
};

template <class... P>
Launcher<P...> make_launcher(void (*kernel)(P...), const char* name, dim3 grid, dim3 block, size_t smem, cudaStream_t stream) {
    return Launcher<P...>(kernel, name, grid, block, smem, stream);
}

}  // namespace cudaemu::detail

// A function template kernel needs its template arguments spelled out: LP_LAUNCH(k<float>, ...).
#define LP_LAUNCH(kernel, grid, block, smem, stream) ::cudaemu::detail::make_launcher(kernel, #kernel, (grid), (block), (smem), (stream))
// 16-byte aligned, per block, of the launch's smem_bytes.
#define LP_DYNAMIC_SHARED(T, name) T* name = reinterpret_cast<T*>(::cudaemu::detail::t_dynamic_smem)

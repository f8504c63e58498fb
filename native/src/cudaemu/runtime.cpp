// runtime.cpp — the CUDA runtime API subset of the emulator: per-thread last error, device memory
// (host memory, tracked so that copies and memsets outside an allocation fail like CUDA's), streams
// and events (work runs when issued, so they only validate and time-stamp), device properties, and
// the barrier settings and met-site records that each stream carries for its launches.
#include "internal.h"

#include <chrono>
#include <cstdlib>
#include <cstring>
#include <map>
#include <mutex>
#include <set>
#include <string>
#include <unistd.h>

namespace cudaemu::detail {

// The barrier settings of one stream and the barrier sites its launches met, by file and line.
struct StreamBarriers {
    std::mutex mutex;
    BarrierSettings settings;
    std::map<std::pair<std::string, int>, cudaemu::BarrierSite> sites;
};

}  // namespace cudaemu::detail

struct CUstream_st {
    unsigned int flags;
    cudaemu::detail::StreamBarriers barriers;
};

struct CUevent_st {
    unsigned int flags;
    bool recorded;
    std::chrono::steady_clock::time_point when;
};

namespace cudaemu::detail {

namespace {

constexpr size_t kAllocAlign = 256;

thread_local cudaError_t t_last_error = cudaSuccess;

// Live allocations by start address, so that a pointer can be resolved to its allocation.
struct Allocations {
    std::mutex mutex;
    std::map<uintptr_t, size_t> device;  // cudaMalloc
    std::map<uintptr_t, size_t> pinned;  // cudaMallocHost
    uint64_t device_bytes = 0;
    std::set<CUstream_st*> streams;
    std::set<CUevent_st*> events;
    StreamBarriers default_stream;
};

Allocations& registry() {
    static Allocations* r = new Allocations();  // outlives every static destructor that may free
    return *r;
}

uint64_t physical_memory() {
    const long pages = sysconf(_SC_PHYS_PAGES);
    const long page = sysconf(_SC_PAGESIZE);
    return pages > 0 && page > 0 ? static_cast<uint64_t>(pages) * static_cast<uint64_t>(page) : 0;
}

uint64_t available_memory() {
#if defined(_SC_AVPHYS_PAGES)
    const long pages = sysconf(_SC_AVPHYS_PAGES);
    const long page = sysconf(_SC_PAGESIZE);
    if (pages > 0 && page > 0) return static_cast<uint64_t>(pages) * static_cast<uint64_t>(page);
#endif
    return physical_memory();
}

// True when [p, p + bytes) lies inside one allocation of `map`. Caller holds the mutex.
bool inside(const std::map<uintptr_t, size_t>& map, const void* p, size_t bytes) {
    const uintptr_t a = reinterpret_cast<uintptr_t>(p);
    auto it = map.upper_bound(a);
    if (it == map.begin()) return false;
    --it;
    return a - it->first <= it->second && bytes <= it->second - (a - it->first);
}

// Device-side pointer of a copy or memset: device memory, or pinned host memory (mapped in CUDA).
bool is_device_range(const void* p, size_t bytes) {
    Allocations& r = registry();
    std::lock_guard<std::mutex> lock(r.mutex);
    return inside(r.device, p, bytes) || inside(r.pinned, p, bytes);
}

cudaError_t allocate(void** ptr, size_t size, bool pinned) {
    if (!ptr) return record_error(cudaErrorInvalidValue);
    *ptr = nullptr;
    if (size == 0) return cudaSuccess;
    if (size > physical_memory() || size > SIZE_MAX - kAllocAlign) return record_error(cudaErrorMemoryAllocation);
    const size_t rounded = (size + kAllocAlign - 1) / kAllocAlign * kAllocAlign;
    void* p = std::aligned_alloc(kAllocAlign, rounded);
    if (!p) return record_error(cudaErrorMemoryAllocation);
    std::memset(p, 0xff, rounded);  // never-written memory reads as NaN in every float type
    Allocations& r = registry();
    std::lock_guard<std::mutex> lock(r.mutex);
    (pinned ? r.pinned : r.device)[reinterpret_cast<uintptr_t>(p)] = size;
    if (!pinned) r.device_bytes += size;
    *ptr = p;
    return cudaSuccess;
}

cudaError_t release(void* ptr, bool pinned) {
    if (!ptr) return cudaSuccess;
    Allocations& r = registry();
    {
        std::lock_guard<std::mutex> lock(r.mutex);
        auto& map = pinned ? r.pinned : r.device;
        auto it = map.find(reinterpret_cast<uintptr_t>(ptr));
        if (it == map.end()) return record_error(cudaErrorInvalidValue);
        if (!pinned) r.device_bytes -= it->second;
        map.erase(it);
    }
    std::free(ptr);
    return cudaSuccess;
}

// A launch failure stays visible to the synchronizing calls until cudaGetLastError clears it, as
// CUDA reports a kernel's fault at the next synchronization.
cudaError_t pending_launch_failure() { return t_last_error == cudaErrorLaunchFailure ? cudaErrorLaunchFailure : cudaSuccess; }

// The barrier state of `stream` (the default stream's for nullptr); nullptr when it is not valid.
StreamBarriers* barriers_of(cudaStream_t stream) {
    Allocations& r = registry();
    std::lock_guard<std::mutex> lock(r.mutex);
    if (!stream) return &r.default_stream;
    return r.streams.count(stream) != 0 ? &stream->barriers : nullptr;
}

bool event_is_valid(cudaEvent_t event) {
    Allocations& r = registry();
    std::lock_guard<std::mutex> lock(r.mutex);
    return event && r.events.count(event) != 0;
}

}  // namespace

cudaError_t record_error(cudaError_t error) {
    if (error != cudaSuccess) t_last_error = error;
    return error;
}

cudaError_t peek_error() { return t_last_error; }

bool stream_is_valid(cudaStream_t stream) {
    if (!stream) return true;
    Allocations& r = registry();
    std::lock_guard<std::mutex> lock(r.mutex);
    return r.streams.count(stream) != 0;
}

bool barrier_settings(cudaStream_t stream, BarrierSettings* out) {
    StreamBarriers* b = barriers_of(stream);
    if (!b) return false;
    std::lock_guard<std::mutex> lock(b->mutex);
    *out = b->settings;
    return true;
}

void record_barrier_sites(cudaStream_t stream, const std::vector<SiteTally>& sites) {
    if (sites.empty()) return;
    StreamBarriers* b = barriers_of(stream);
    if (!b) return;
    std::lock_guard<std::mutex> lock(b->mutex);
    for (const SiteTally& t : sites) {
        const char* name = file_name(t.file);
        cudaemu::BarrierSite& site = b->sites[{name, t.line}];
        site.file = name;
        site.line = t.line;
        site.passes += t.passes;
        if (t.max_passes_per_block > site.max_passes_per_block) site.max_passes_per_block = t.max_passes_per_block;
        site.skipped += t.skipped;
    }
}

const char* file_name(const char* path) {
    const char* slash = std::strrchr(path, '/');
    return slash ? slash + 1 : path;
}

}  // namespace cudaemu::detail

namespace cudaemu {

bool set_barrier_order(cudaStream_t stream, int order, uint64_t seed) {
    if (order < 0 || order > 2) return false;
    detail::StreamBarriers* b = detail::barriers_of(stream);
    if (!b) return false;
    std::lock_guard<std::mutex> lock(b->mutex);
    b->settings.order = order;
    b->settings.seed = seed;
    return true;
}

bool set_barrier_knockout(cudaStream_t stream, const char* file, int line) {
    if (file && (*file == '\0' || line < 1)) return false;
    detail::StreamBarriers* b = detail::barriers_of(stream);
    if (!b) return false;
    std::lock_guard<std::mutex> lock(b->mutex);
    b->settings.knockout_file = file ? file : "";
    b->settings.knockout_line = file ? line : 0;
    return true;
}

std::vector<BarrierSite> take_barrier_sites(cudaStream_t stream) {
    std::vector<BarrierSite> sites;
    detail::StreamBarriers* b = detail::barriers_of(stream);
    if (!b) return sites;
    std::lock_guard<std::mutex> lock(b->mutex);
    for (const auto& entry : b->sites) sites.push_back(entry.second);
    b->sites.clear();
    return sites;
}

}  // namespace cudaemu

using namespace cudaemu::detail;

// ---- errors -------------------------------------------------------------------------------------

const char* cudaGetErrorString(cudaError_t error) {
    switch (error) {
        case cudaSuccess: return "no error";
        case cudaErrorInvalidValue: return "invalid argument";
        case cudaErrorMemoryAllocation: return "out of memory";
        case cudaErrorInitializationError: return "initialization error";
        case cudaErrorInvalidConfiguration: return "invalid configuration argument";
        case cudaErrorInvalidSymbol: return "invalid device symbol";
        case cudaErrorInvalidDevicePointer: return "invalid device pointer";
        case cudaErrorInvalidMemcpyDirection: return "invalid copy direction for memcpy";
        case cudaErrorInsufficientDriver: return "CUDA driver version is insufficient for CUDA runtime version";
        case cudaErrorInvalidDeviceFunction: return "invalid device function";
        case cudaErrorNoDevice: return "no CUDA-capable device is detected";
        case cudaErrorInvalidDevice: return "invalid device ordinal";
        case cudaErrorInvalidResourceHandle: return "invalid resource handle";
        case cudaErrorNotReady: return "device not ready";
        case cudaErrorIllegalAddress: return "an illegal memory access was encountered";
        case cudaErrorLaunchOutOfResources: return "too many resources requested for launch";
        case cudaErrorLaunchTimeout: return "the launch timed out and was terminated";
        case cudaErrorAssert: return "device-side assert triggered";
        case cudaErrorHardwareStackError: return "hardware stack error";
        case cudaErrorIllegalInstruction: return "an illegal instruction was encountered";
        case cudaErrorMisalignedAddress: return "misaligned address";
        case cudaErrorLaunchFailure: return "unspecified launch failure";
        case cudaErrorNotSupported: return "operation not supported";
        case cudaErrorUnknown: return "unknown error";
    }
    return "unrecognized error code";
}

const char* cudaGetErrorName(cudaError_t error) {
    switch (error) {
        case cudaSuccess: return "cudaSuccess";
        case cudaErrorInvalidValue: return "cudaErrorInvalidValue";
        case cudaErrorMemoryAllocation: return "cudaErrorMemoryAllocation";
        case cudaErrorInitializationError: return "cudaErrorInitializationError";
        case cudaErrorInvalidConfiguration: return "cudaErrorInvalidConfiguration";
        case cudaErrorInvalidSymbol: return "cudaErrorInvalidSymbol";
        case cudaErrorInvalidDevicePointer: return "cudaErrorInvalidDevicePointer";
        case cudaErrorInvalidMemcpyDirection: return "cudaErrorInvalidMemcpyDirection";
        case cudaErrorInsufficientDriver: return "cudaErrorInsufficientDriver";
        case cudaErrorInvalidDeviceFunction: return "cudaErrorInvalidDeviceFunction";
        case cudaErrorNoDevice: return "cudaErrorNoDevice";
        case cudaErrorInvalidDevice: return "cudaErrorInvalidDevice";
        case cudaErrorInvalidResourceHandle: return "cudaErrorInvalidResourceHandle";
        case cudaErrorNotReady: return "cudaErrorNotReady";
        case cudaErrorIllegalAddress: return "cudaErrorIllegalAddress";
        case cudaErrorLaunchOutOfResources: return "cudaErrorLaunchOutOfResources";
        case cudaErrorLaunchTimeout: return "cudaErrorLaunchTimeout";
        case cudaErrorAssert: return "cudaErrorAssert";
        case cudaErrorHardwareStackError: return "cudaErrorHardwareStackError";
        case cudaErrorIllegalInstruction: return "cudaErrorIllegalInstruction";
        case cudaErrorMisalignedAddress: return "cudaErrorMisalignedAddress";
        case cudaErrorLaunchFailure: return "cudaErrorLaunchFailure";
        case cudaErrorNotSupported: return "cudaErrorNotSupported";
        case cudaErrorUnknown: return "cudaErrorUnknown";
    }
    return "unrecognized error code";
}

cudaError_t cudaGetLastError() {
    const cudaError_t e = t_last_error;
    t_last_error = cudaSuccess;
    return e;
}

cudaError_t cudaPeekAtLastError() { return t_last_error; }

// ---- device -------------------------------------------------------------------------------------

cudaError_t cudaGetDeviceCount(int* count) {
    if (!count) return record_error(cudaErrorInvalidValue);
    *count = 1;
    return cudaSuccess;
}

cudaError_t cudaSetDevice(int device) { return device == 0 ? cudaSuccess : record_error(cudaErrorInvalidDevice); }

cudaError_t cudaGetDevice(int* device) {
    if (!device) return record_error(cudaErrorInvalidValue);
    *device = 0;
    return cudaSuccess;
}

cudaError_t cudaGetDeviceProperties(cudaDeviceProp* prop, int device) {
    if (!prop) return record_error(cudaErrorInvalidValue);
    if (device != 0) return record_error(cudaErrorInvalidDevice);
    std::memset(prop, 0, sizeof(*prop));
    const std::string name = "CUDA emulator (" + std::to_string(pool_size()) + " host threads)";
    std::strncpy(prop->name, name.c_str(), sizeof(prop->name) - 1);
    prop->totalGlobalMem = physical_memory();
    prop->sharedMemPerBlock = 48 * 1024;
    prop->regsPerBlock = 65536;
    prop->warpSize = 32;
    prop->memPitch = SIZE_MAX;
    prop->maxThreadsPerBlock = 1024;
    prop->maxThreadsDim[0] = 1024;
    prop->maxThreadsDim[1] = 1024;
    prop->maxThreadsDim[2] = 64;
    prop->maxGridSize[0] = 2147483647;
    prop->maxGridSize[1] = 65535;
    prop->maxGridSize[2] = 65535;
    prop->totalConstMem = 64 * 1024;
    prop->major = 8;
    prop->minor = 0;
    prop->textureAlignment = 512;
    prop->multiProcessorCount = static_cast<int>(pool_size());
    prop->integrated = 1;  // device memory is host memory
    prop->canMapHostMemory = 1;
    prop->unifiedAddressing = 1;
    prop->maxThreadsPerMultiProcessor = 1024;  // one block at a time per host thread
    prop->sharedMemPerMultiprocessor = 228 * 1024;
    prop->regsPerMultiprocessor = 65536;
    prop->sharedMemPerBlockOptin = 227 * 1024;
    prop->maxBlocksPerMultiProcessor = 1;
    return cudaSuccess;
}

cudaError_t cudaDeviceGetAttribute(int* value, cudaDeviceAttr attr, int device) {
    if (!value) return record_error(cudaErrorInvalidValue);
    if (device != 0) return record_error(cudaErrorInvalidDevice);
    switch (attr) {
        case cudaDevAttrMaxThreadsPerBlock: *value = 1024; return cudaSuccess;
        case cudaDevAttrMaxBlockDimX: *value = 1024; return cudaSuccess;
        case cudaDevAttrMaxBlockDimY: *value = 1024; return cudaSuccess;
        case cudaDevAttrMaxBlockDimZ: *value = 64; return cudaSuccess;
        case cudaDevAttrMaxGridDimX: *value = 2147483647; return cudaSuccess;
        case cudaDevAttrMaxGridDimY: *value = 65535; return cudaSuccess;
        case cudaDevAttrMaxGridDimZ: *value = 65535; return cudaSuccess;
        case cudaDevAttrMaxSharedMemoryPerBlock: *value = 48 * 1024; return cudaSuccess;
        case cudaDevAttrWarpSize: *value = 32; return cudaSuccess;
        case cudaDevAttrMultiProcessorCount: *value = static_cast<int>(pool_size()); return cudaSuccess;
        case cudaDevAttrComputeCapabilityMajor: *value = 8; return cudaSuccess;
        case cudaDevAttrComputeCapabilityMinor: *value = 0; return cudaSuccess;
        case cudaDevAttrMaxSharedMemoryPerMultiprocessor: *value = 228 * 1024; return cudaSuccess;
        case cudaDevAttrMaxSharedMemoryPerBlockOptin: *value = 227 * 1024; return cudaSuccess;
    }
    return record_error(cudaErrorInvalidValue);
}

cudaError_t cudaDeviceSynchronize() { return pending_launch_failure(); }

cudaError_t cudaMemGetInfo(size_t* free_bytes, size_t* total_bytes) {
    if (!free_bytes || !total_bytes) return record_error(cudaErrorInvalidValue);
    *total_bytes = physical_memory();
    *free_bytes = available_memory();
    return cudaSuccess;
}

// ---- memory -------------------------------------------------------------------------------------

cudaError_t cudaMalloc(void** devPtr, size_t size) { return allocate(devPtr, size, false); }
cudaError_t cudaFree(void* devPtr) { return release(devPtr, false); }
cudaError_t cudaMallocHost(void** ptr, size_t size) { return allocate(ptr, size, true); }
cudaError_t cudaFreeHost(void* ptr) { return release(ptr, true); }

cudaError_t cudaMemcpyAsync(void* dst, const void* src, size_t count, cudaMemcpyKind kind, cudaStream_t stream) {
    if (static_cast<int>(kind) < cudaMemcpyHostToHost || static_cast<int>(kind) > cudaMemcpyDefault) return record_error(cudaErrorInvalidMemcpyDirection);
    if (!stream_is_valid(stream)) return record_error(cudaErrorInvalidResourceHandle);
    if (count == 0) return cudaSuccess;
    if (!dst || !src) return record_error(cudaErrorInvalidValue);
    const bool dst_device = kind == cudaMemcpyHostToDevice || kind == cudaMemcpyDeviceToDevice;
    const bool src_device = kind == cudaMemcpyDeviceToHost || kind == cudaMemcpyDeviceToDevice;
    if ((dst_device && !is_device_range(dst, count)) || (src_device && !is_device_range(src, count))) return record_error(cudaErrorInvalidValue);
    std::memmove(dst, src, count);
    return cudaSuccess;
}

cudaError_t cudaMemcpy(void* dst, const void* src, size_t count, cudaMemcpyKind kind) {
    const cudaError_t e = pending_launch_failure();
    return e != cudaSuccess ? e : cudaMemcpyAsync(dst, src, count, kind, nullptr);
}

cudaError_t cudaMemsetAsync(void* devPtr, int value, size_t count, cudaStream_t stream) {
    if (!stream_is_valid(stream)) return record_error(cudaErrorInvalidResourceHandle);
    if (count == 0) return cudaSuccess;
    if (!devPtr || !is_device_range(devPtr, count)) return record_error(cudaErrorInvalidValue);
    std::memset(devPtr, value & 0xff, count);
    return cudaSuccess;
}

cudaError_t cudaMemset(void* devPtr, int value, size_t count) { return cudaMemsetAsync(devPtr, value, count, nullptr); }

// ---- streams ------------------------------------------------------------------------------------

cudaError_t cudaStreamCreateWithFlags(cudaStream_t* stream, unsigned int flags) {
    if (!stream || flags > cudaStreamNonBlocking) return record_error(cudaErrorInvalidValue);
    auto* s = new CUstream_st();
    s->flags = flags;
    Allocations& r = registry();
    std::lock_guard<std::mutex> lock(r.mutex);
    r.streams.insert(s);
    *stream = s;
    return cudaSuccess;
}

cudaError_t cudaStreamCreate(cudaStream_t* stream) { return cudaStreamCreateWithFlags(stream, cudaStreamDefault); }

cudaError_t cudaStreamDestroy(cudaStream_t stream) {
    Allocations& r = registry();
    {
        std::lock_guard<std::mutex> lock(r.mutex);
        if (!stream || r.streams.erase(stream) == 0) return record_error(cudaErrorInvalidResourceHandle);
    }
    delete stream;
    return cudaSuccess;
}

cudaError_t cudaStreamSynchronize(cudaStream_t stream) {
    if (!stream_is_valid(stream)) return record_error(cudaErrorInvalidResourceHandle);
    return pending_launch_failure();
}

cudaError_t cudaStreamQuery(cudaStream_t stream) {
    if (!stream_is_valid(stream)) return record_error(cudaErrorInvalidResourceHandle);
    return pending_launch_failure();
}

cudaError_t cudaStreamWaitEvent(cudaStream_t stream, cudaEvent_t event, unsigned int flags) {
    if (!stream_is_valid(stream) || !event_is_valid(event)) return record_error(cudaErrorInvalidResourceHandle);
    if (flags != 0) return record_error(cudaErrorInvalidValue);
    return cudaSuccess;
}

// ---- events -------------------------------------------------------------------------------------

cudaError_t cudaEventCreateWithFlags(cudaEvent_t* event, unsigned int flags) {
    if (!event || flags > (cudaEventBlockingSync | cudaEventDisableTiming)) return record_error(cudaErrorInvalidValue);
    auto* e = new CUevent_st{flags, false, {}};
    Allocations& r = registry();
    std::lock_guard<std::mutex> lock(r.mutex);
    r.events.insert(e);
    *event = e;
    return cudaSuccess;
}

cudaError_t cudaEventCreate(cudaEvent_t* event) { return cudaEventCreateWithFlags(event, cudaEventDefault); }

cudaError_t cudaEventDestroy(cudaEvent_t event) {
    Allocations& r = registry();
    {
        std::lock_guard<std::mutex> lock(r.mutex);
        if (!event || r.events.erase(event) == 0) return record_error(cudaErrorInvalidResourceHandle);
    }
    delete event;
    return cudaSuccess;
}

cudaError_t cudaEventRecord(cudaEvent_t event, cudaStream_t stream) {
    if (!event_is_valid(event) || !stream_is_valid(stream)) return record_error(cudaErrorInvalidResourceHandle);
    event->recorded = true;
    event->when = std::chrono::steady_clock::now();
    return cudaSuccess;
}

cudaError_t cudaEventSynchronize(cudaEvent_t event) {
    if (!event_is_valid(event)) return record_error(cudaErrorInvalidResourceHandle);
    return pending_launch_failure();
}

cudaError_t cudaEventQuery(cudaEvent_t event) {
    if (!event_is_valid(event)) return record_error(cudaErrorInvalidResourceHandle);
    return cudaSuccess;
}

cudaError_t cudaEventElapsedTime(float* ms, cudaEvent_t start, cudaEvent_t end) {
    if (!ms) return record_error(cudaErrorInvalidValue);
    if (!event_is_valid(start) || !event_is_valid(end)) return record_error(cudaErrorInvalidResourceHandle);
    if (((start->flags | end->flags) & cudaEventDisableTiming) != 0 || !start->recorded || !end->recorded)
        return record_error(cudaErrorInvalidResourceHandle);
    *ms = std::chrono::duration<float, std::milli>(end->when - start->when).count();
    return cudaSuccess;
}

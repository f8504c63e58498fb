// cuda_device.cu — library, device, context and memory part of the CUDA backend (backend.h), plus
// the error translation of cuda_common.cuh. A context owns one non-blocking stream, a cuBLAS handle
// bound to it and a device int that kernels raise when they find bad data (an id out of range).
// Every operation of a context is queued on its stream; copy_d2h and synchronize wait for it.
#include "cuda_common.cuh"

#include <cstring>
#include <sstream>
#include <string>

#ifndef LP_COMPILER
#define LP_COMPILER "unknown"
#endif

namespace lp::cuda {

namespace {

// Errors after which the CUDA context is corrupt: every later call fails the same way.
bool is_sticky(cudaError_t err) {
    switch (err) {
        case cudaErrorIllegalAddress:
        case cudaErrorLaunchFailure:
        case cudaErrorIllegalInstruction:
        case cudaErrorMisalignedAddress:
        case cudaErrorHardwareStackError:
        case cudaErrorLaunchTimeout:
        case cudaErrorAssert:
            return true;
        default:
            return false;
    }
}

std::string location(const char* expr, const char* file, int line) {
    return std::string(expr) + " failed at " + file + ":" + std::to_string(line) + ": ";
}

}  // namespace

void fail_cuda(cudaError_t err, const char* expr, const char* file, int line) {
    std::string message = location(expr, file, line) + cudaGetErrorName(err) + ": " + cudaGetErrorString(err);
#if defined(LP_CUDA_EMULATED)
    // The emulator says why a launch failed (deadlock at a barrier, divergent barrier, trap).
    const char* launch = err == cudaErrorLaunchFailure ? cudaemu::last_launch_failure() : nullptr;
    if (launch && *launch) message += std::string(" (") + launch + ")";
#endif
    if (is_sticky(err)) fail(LP_ERR_DEVICE_STICKY, message);
    // A non-sticky error is also recorded as the thread's last error: clear it, so that the next
    // LP_CHECK_LAUNCH does not report it a second time.
    (void)cudaGetLastError();
    fail(err == cudaErrorMemoryAllocation ? LP_ERR_OUT_OF_MEMORY : LP_ERR_DEVICE, message);
}

void fail_cublas(cublasStatus_t st, const char* expr, const char* file, int line) {
    std::string message = location(expr, file, line) + cublasGetStatusName(st) + ": " + cublasGetStatusString(st);
    switch (st) {
        case CUBLAS_STATUS_ALLOC_FAILED: fail(LP_ERR_OUT_OF_MEMORY, message);
        case CUBLAS_STATUS_NOT_SUPPORTED:
        case CUBLAS_STATUS_ARCH_MISMATCH: fail(LP_ERR_UNSUPPORTED, message);
        default: fail(LP_ERR_DEVICE, message);
    }
}

int take_error_flag(lp_context* ctx) {
    State& s = state(ctx);
    int flag = 0;
    LP_CUDA_CHECK(cudaMemcpyAsync(&flag, s.error_flag, sizeof(int), cudaMemcpyDeviceToHost, s.stream));
    LP_CUDA_CHECK(cudaStreamSynchronize(s.stream));
    if (flag != 0) LP_CUDA_CHECK(cudaMemsetAsync(s.error_flag, 0, sizeof(int), s.stream));
    return flag;
}

namespace {

// Repeats a 2- or 4-byte pattern over n aligned elements.
template <class T>
__global__ void fill_forward_kernel(T* dst,  // (n)
                                    T pattern, int64_t n) {
    for (int64_t i = grid_thread_index(); i < n; i += grid_thread_count())
        dst[i] = pattern;
}

// Byte-wise fill for a destination that is not aligned to the pattern size (little-endian pattern).
__global__ void fill_bytes_forward_kernel(unsigned char* dst,  // (bytes)
                                          uint32_t pattern, uint32_t pattern_size, int64_t bytes) {
    for (int64_t i = grid_thread_index(); i < bytes; i += grid_thread_count())
        dst[i] = static_cast<unsigned char>(pattern >> (8 * (i % pattern_size)));
}

constexpr int kFillThreads = 256;

// Releases everything a State holds, carrying on past failures; the first one is kept in *first_error.
void destroy_state(State* s, cudaError_t* first_error) {
    auto keep = [&](cudaError_t err) {
        if (err != cudaSuccess && *first_error == cudaSuccess) *first_error = err;
    };
    if (s->stream) keep(cudaStreamSynchronize(s->stream));
    if (s->blas && cublasDestroy(s->blas) != CUBLAS_STATUS_SUCCESS) keep(cudaErrorUnknown);
    if (s->error_flag) keep(cudaFree(s->error_flag));
    if (s->stream) keep(cudaStreamDestroy(s->stream));
    delete s;
}

}  // namespace

}  // namespace lp::cuda

namespace lp::backend {

using namespace lp::cuda;

lp_backend_kind kind() {
#if defined(LP_CUDA_EMULATED)
    return LP_BACKEND_CUDA_EMULATED;
#else
    return LP_BACKEND_CUDA;
#endif
}

std::string build_info() {
    std::ostringstream s;
#if defined(LP_CUDA_EMULATED)
    s << "backend=cudaemu\n"
      << "compiler=" << LP_COMPILER << "\n"
      << "cuda=emulated on the host (src/cudaemu)\n";
#else
#if defined(__clang__)
    const char* host = "clang " __clang_version__;
#elif defined(__GNUC__)
    const char* host = "gcc " __VERSION__;
#else
    const char* host = "unknown";
#endif
    s << "backend=cuda\n"
      << "compiler=" << LP_COMPILER << "\n"
      << "cuda_compiler=nvcc " << __CUDACC_VER_MAJOR__ << "." << __CUDACC_VER_MINOR__ << "." << __CUDACC_VER_BUILD__ << " (host " << host << ")\n";
#if defined(LP_CUDA_VERSION)
    s << "cuda=" << LP_CUDA_VERSION << "\n";
#endif
#if defined(LP_CUDA_ARCHS)
    s << "sm=" << LP_CUDA_ARCHS << "\n";
#endif
    // Informational queries: without a GPU the runtime one fails (cudaErrorNoDevice); its error
    // must not stay behind as the thread's last error, where the next launch check would find it.
    int runtime = 0;
    int driver = 0;
    if (cudaRuntimeGetVersion(&runtime) == cudaSuccess) s << "cuda_runtime=" << runtime / 1000 << "." << (runtime % 1000) / 10 << "\n";
    if (cudaDriverGetVersion(&driver) == cudaSuccess && driver > 0) s << "cuda_driver=" << driver / 1000 << "." << (driver % 1000) / 10 << "\n";
    (void)cudaGetLastError();
#endif
    return s.str();
}

int device_count() {
    int n = 0;
    cudaError_t err = cudaGetDeviceCount(&n);
    // No driver or no GPU is not an error of this call: the answer is zero devices.
    if (err == cudaErrorNoDevice || err == cudaErrorInsufficientDriver) {
        (void)cudaGetLastError();
        return 0;
    }
    LP_CUDA_CHECK(err);
    return n;
}

void device_info(int device, lp_device_info* out) {
    cudaDeviceProp prop;
    LP_CUDA_CHECK(cudaGetDeviceProperties(&prop, device));
    out->backend = kind();
    const size_t name_length = strnlen(prop.name, sizeof(out->name) - 1);
    std::memcpy(out->name, prop.name, name_length);
    out->name[name_length] = '\0';
    out->compute_major = prop.major;
    out->compute_minor = prop.minor;
    out->multiprocessors = prop.multiProcessorCount;
    out->total_memory = prop.totalGlobalMem;
    int previous = 0;
    LP_CUDA_CHECK(cudaGetDevice(&previous));
    LP_CUDA_CHECK(cudaSetDevice(device));
    size_t free_bytes = 0;
    size_t total_bytes = 0;
    cudaError_t err = cudaMemGetInfo(&free_bytes, &total_bytes);
    LP_CUDA_CHECK(cudaSetDevice(previous));
    LP_CUDA_CHECK(err);
    out->free_memory = free_bytes;
    out->total_memory = total_bytes;
}

void context_init(lp_context* ctx) {
    LP_CUDA_CHECK(cudaSetDevice(ctx->device));
    auto* s = new State();
    s->device = ctx->device;
    try {
        LP_CUDA_CHECK(cudaStreamCreateWithFlags(&s->stream, cudaStreamNonBlocking));
        LP_CUBLAS_CHECK(cublasCreate(&s->blas));
        LP_CUBLAS_CHECK(cublasSetStream(s->blas, s->stream));
        LP_CUDA_CHECK(cudaMalloc(reinterpret_cast<void**>(&s->error_flag), sizeof(int)));
        LP_CUDA_CHECK(cudaMemsetAsync(s->error_flag, 0, sizeof(int), s->stream));
    } catch (...) {
        cudaError_t ignored = cudaSuccess;
        destroy_state(s, &ignored);
        throw;
    }
    ctx->backend = s;
}

void context_destroy(lp_context* ctx) {
    if (!ctx->backend) return;
    cudaError_t err = cudaSuccess;
    destroy_state(static_cast<State*>(ctx->backend), &err);
    ctx->backend = nullptr;
    // Everything is released; report a failure only when the device is still usable.
    if (err != cudaSuccess && !is_sticky(err)) fail_cuda(err, "context_destroy", __FILE__, __LINE__);
}

void synchronize(lp_context* ctx) { LP_CUDA_CHECK(cudaStreamSynchronize(stream(ctx))); }

// The emulator keeps barrier settings per stream, and each context has its own stream.
void set_emulation_order(lp_context* ctx, int32_t order, uint64_t seed) {
#if defined(LP_CUDA_EMULATED)
    if (!cudaemu::set_barrier_order(stream(ctx), order, seed))
        fail(LP_ERR_INVALID_ARGUMENT, "order=" + std::to_string(order) + " is not a barrier order of the emulator");
#else
    if (order != 0) fail(LP_ERR_UNSUPPORTED, "order=" + std::to_string(order) + ": only the emulated CUDA backend has barrier orders");
#endif
}

void set_emulation_knockout(lp_context* ctx, const char* file, int32_t line) {
#if defined(LP_CUDA_EMULATED)
    if (!cudaemu::set_barrier_knockout(stream(ctx), file, line)) fail(LP_ERR_INVALID_ARGUMENT, "line=" + std::to_string(line) + " is not a source line");
#else
    fail(LP_ERR_UNSUPPORTED, "only the emulated CUDA backend can knock out a barrier");
#endif
}

std::string take_emulation_barrier_sites(lp_context* ctx) {
#if defined(LP_CUDA_EMULATED)
    std::ostringstream text;
    for (const cudaemu::BarrierSite& s : cudaemu::take_barrier_sites(stream(ctx)))
        text << s.file << ':' << s.line << ' ' << s.passes << ' ' << s.max_passes_per_block << ' ' << s.skipped << '\n';
    return text.str();
#else
    fail(LP_ERR_UNSUPPORTED, "only the emulated CUDA backend records barrier sites");
#endif
}

void* device_alloc(lp_context* ctx, size_t bytes) {
    void* p = nullptr;
    cudaError_t err = cudaMalloc(&p, bytes);
    if (err == cudaErrorMemoryAllocation) {
        (void)cudaGetLastError();
        return nullptr;
    }
    LP_CUDA_CHECK(err);
    return p;
}

void device_free(lp_context* ctx, void* ptr) {
    // Work queued on the stream may still use ptr. After a sticky error the memory is released
    // with the context anyway, so the free must not fail the caller's cleanup.
    cudaError_t err = cudaStreamSynchronize(stream(ctx));
    if (err == cudaSuccess) err = cudaFree(ptr);
    if (err != cudaSuccess && !is_sticky(err)) fail_cuda(err, "cudaFree(ptr)", __FILE__, __LINE__);
}

void copy_h2d(lp_context* ctx, void* dst, const void* src, size_t bytes) {
    LP_CUDA_CHECK(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyHostToDevice, stream(ctx)));
}

void copy_d2h(lp_context* ctx, void* dst, const void* src, size_t bytes) {
    LP_CUDA_CHECK(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToHost, stream(ctx)));
    LP_CUDA_CHECK(cudaStreamSynchronize(stream(ctx)));
}

void copy_d2d(lp_context* ctx, void* dst, const void* src, size_t bytes) {
    LP_CUDA_CHECK(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToDevice, stream(ctx)));
}

void fill(lp_context* ctx, void* dst, size_t bytes, const void* pattern, uint32_t pattern_size) {
    const unsigned char* p = static_cast<const unsigned char*>(pattern);
    bool uniform = true;
    for (uint32_t i = 1; i < pattern_size; ++i) uniform = uniform && p[i] == p[0];
    if (uniform) {
        LP_CUDA_CHECK(cudaMemsetAsync(dst, p[0], bytes, stream(ctx)));
        return;
    }
    cudaStream_t s = stream(ctx);
    const bool aligned = reinterpret_cast<uintptr_t>(dst) % pattern_size == 0;
    if (aligned && pattern_size == 2) {
        uint16_t v;
        std::memcpy(&v, pattern, 2);
        int64_t n = static_cast<int64_t>(bytes / 2);
        LP_LAUNCH(fill_forward_kernel<uint16_t>, blocks_for(n, kFillThreads), kFillThreads, 0, s)(static_cast<uint16_t*>(dst), v, n);
        LP_CHECK_LAUNCH(fill_forward_kernel);
    } else if (aligned && pattern_size == 4) {
        uint32_t v;
        std::memcpy(&v, pattern, 4);
        int64_t n = static_cast<int64_t>(bytes / 4);
        LP_LAUNCH(fill_forward_kernel<uint32_t>, blocks_for(n, kFillThreads), kFillThreads, 0, s)(static_cast<uint32_t*>(dst), v, n);
        LP_CHECK_LAUNCH(fill_forward_kernel);
    } else {
        uint32_t v = 0;
        std::memcpy(&v, pattern, pattern_size);
        int64_t n = static_cast<int64_t>(bytes);
        LP_LAUNCH(fill_bytes_forward_kernel, blocks_for(n, kFillThreads), kFillThreads, 0, s)(static_cast<unsigned char*>(dst), v, pattern_size, n);
        LP_CHECK_LAUNCH(fill_bytes_forward_kernel);
    }
}

}  // namespace lp::backend

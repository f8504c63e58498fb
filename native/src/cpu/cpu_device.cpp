// cpu_device.cpp — library, device and memory part of the CPU backend (backend.h): the host is
// the single "device", buffers are 256-byte aligned host allocations, copies are memcpy and the
// context needs no state of its own because every op runs synchronously on the calling thread.
#include "../common/backend.h"

#include <cblas.h>
#include <omp.h>
#include <sys/sysinfo.h>

#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>
#include <string>

#ifndef LP_COMPILER
#define LP_COMPILER "unknown"
#endif

namespace lp::backend {

namespace {

constexpr size_t kAlignment = 256;

// "model name" of the first processor in /proc/cpuinfo, or "CPU" when the file says nothing.
std::string cpu_model_name() {
    std::ifstream in("/proc/cpuinfo");
    std::string line;
    while (std::getline(in, line)) {
        if (line.compare(0, 10, "model name") != 0) continue;
        size_t colon = line.find(':');
        if (colon == std::string::npos) continue;
        size_t begin = line.find_first_not_of(" \t", colon + 1);
        if (begin == std::string::npos) continue;
        return line.substr(begin);
    }
    return "CPU";
}

// Value in bytes of a "Key:   123 kB" line of /proc/meminfo; 0 when absent.
uint64_t meminfo_bytes(const char* key) {
    std::ifstream in("/proc/meminfo");
    std::string line;
    size_t key_len = std::strlen(key);
    while (std::getline(in, line)) {
        if (line.compare(0, key_len, key) != 0 || line.size() <= key_len || line[key_len] != ':') continue;
        std::istringstream fields(line.substr(key_len + 1));
        uint64_t kib = 0;
        fields >> kib;
        return kib * 1024;
    }
    return 0;
}

}  // namespace

lp_backend_kind kind() { return LP_BACKEND_CPU; }

std::string build_info() {
    std::ostringstream s;
    s << "backend=cpu\n"
      << "compiler=" << LP_COMPILER << "\n"
      << "blas=" << openblas_get_config() << "\n"
      << "openmp_threads=" << omp_get_max_threads() << "\n";
    return s.str();
}

int device_count() { return 1; }

void device_info(int device, lp_device_info* out) {
    int threads = omp_get_max_threads();
    std::string name = cpu_model_name() + " (" + std::to_string(threads) + " threads)";
    out->backend = LP_BACKEND_CPU;
    std::strncpy(out->name, name.c_str(), sizeof(out->name) - 1);
    out->name[sizeof(out->name) - 1] = '\0';
    struct sysinfo si;
    if (sysinfo(&si) == 0) {
        out->total_memory = static_cast<uint64_t>(si.totalram) * si.mem_unit;
        out->free_memory = static_cast<uint64_t>(si.freeram) * si.mem_unit;
    }
    // MemAvailable (free + reclaimable caches) is what an allocation can really get.
    uint64_t available = meminfo_bytes("MemAvailable");
    if (available) out->free_memory = available;
    out->compute_major = 0;
    out->compute_minor = 0;
    out->multiprocessors = threads;
}

// The backend's only thread pool is OpenMP's: OpenBLAS is made single-threaded once, when the library loads, and
// lp::cpu::sgemm splits each large product over the OpenMP threads (cpu_common.h says why).
[[maybe_unused]] const bool blas_single_threaded = [] {
    openblas_set_num_threads(1);
    return true;
}();

// Ops run synchronously on the calling thread: the context carries no backend state.
void context_init(lp_context* ctx) { ctx->backend = nullptr; }

void context_destroy(lp_context* ctx) { ctx->backend = nullptr; }

void synchronize(lp_context* ctx) {}

void set_emulation_order(lp_context* ctx, int32_t order, uint64_t seed) {
    if (order != 0) fail(LP_ERR_UNSUPPORTED, "order=" + std::to_string(order) + ": only the emulated CUDA backend has barrier orders");
}

void set_emulation_knockout(lp_context* ctx, const char* file, int32_t line) {
    fail(LP_ERR_UNSUPPORTED, "only the emulated CUDA backend has barriers to knock out");
}

std::string take_emulation_barrier_sites(lp_context* ctx) { fail(LP_ERR_UNSUPPORTED, "only the emulated CUDA backend records barrier sites"); }

void* device_alloc(lp_context* ctx, size_t bytes) {
    if (bytes == 0 || bytes > SIZE_MAX - kAlignment) return nullptr;
    size_t rounded = (bytes + kAlignment - 1) & ~(kAlignment - 1);
    return std::aligned_alloc(kAlignment, rounded);
}

void device_free(lp_context* ctx, void* ptr) { std::free(ptr); }

void copy_h2d(lp_context* ctx, void* dst, const void* src, size_t bytes) { std::memmove(dst, src, bytes); }

void copy_d2h(lp_context* ctx, void* dst, const void* src, size_t bytes) { std::memmove(dst, src, bytes); }

void copy_d2d(lp_context* ctx, void* dst, const void* src, size_t bytes) { std::memmove(dst, src, bytes); }

void fill(lp_context* ctx, void* dst, size_t bytes, const void* pattern, uint32_t pattern_size) {
    unsigned char* d = static_cast<unsigned char*>(dst);
    if (pattern_size == 1) {
        std::memset(d, *static_cast<const unsigned char*>(pattern), bytes);
        return;
    }
    // Write one pattern, then double the filled prefix with memcpy until the range is covered.
    std::memcpy(d, pattern, pattern_size);
    size_t done = pattern_size;
    while (done < bytes) {
        size_t chunk = done < bytes - done ? done : bytes - done;
        std::memcpy(d + done, d, chunk);
        done += chunk;
    }
}

}  // namespace lp::backend

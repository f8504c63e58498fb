// lp_internal.h — state and helpers shared by the API layer and every backend.
// The C ABI (lp.h) is implemented once in src/api; each backend library links that layer with
// exactly one implementation of backend.h. Errors inside the library are C++ exceptions of type
// lp::Error; the API layer turns them into an lp_status + thread-local message.
#pragma once

#include "loraprune/lp.h"

#include <cstddef>
#include <cstdint>
#include <map>
#include <stdexcept>
#include <string>

namespace lp {

// A status plus a message naming the op, the argument and the reason.
class Error : public std::runtime_error {
public:
    Error(lp_status status, const std::string& message) : std::runtime_error(message), status_(status) {}
    lp_status status() const { return status_; }

private:
    lp_status status_;
};

[[noreturn]] void fail(lp_status status, const std::string& message);

size_t dtype_size(int32_t dtype);  // throws LP_ERR_INVALID_ARGUMENT for an unknown dtype
const char* dtype_name(int32_t dtype);
int64_t numel(const lp_tensor& t);
bool is_contiguous(const lp_tensor& t);
std::string shape_string(const lp_tensor& t);  // "(5,13) f32"

// Process-wide log sink (lp_set_log_callback).
void log(lp_log_level level, const std::string& message);

}  // namespace lp

// The context: common bookkeeping plus the backend's own state.
struct lp_context {
    int32_t device = 0;
    void* backend = nullptr;  // owned by the backend (stream, BLAS handle, ...)
    std::map<uintptr_t, lp_buffer*> buffers;  // live buffers by device address (for bounds checks)
    uint64_t current_bytes = 0;
    uint64_t peak_bytes = 0;
    uint64_t total_allocs = 0;
    void* workspace = nullptr;  // scratch owned by the context, grown on demand
    uint64_t workspace_bytes = 0;

    void note_usage();  // updates peak_bytes from current_bytes + workspace_bytes
    // A device allocation counted in current_bytes (and the peak); throws LP_ERR_OUT_OF_MEMORY naming `what`.
    void* allocate_counted(uint64_t bytes, const std::string& what);
    // Frees an allocate_counted allocation of `bytes` bytes.
    void free_counted(void* p, uint64_t bytes);
};

struct lp_buffer {
    lp_context* ctx = nullptr;
    void* data = nullptr;
    uint64_t bytes = 0;
};

namespace lp {

// Scratch memory of a context, valid until the next call that asks for scratch. Device memory
// on device backends. Grows geometrically; the old block is freed after a synchronize.
void* scratch(lp_context* ctx, size_t bytes);

// Carves aligned pieces out of one scratch request:
//   ScratchPlan plan; auto a = plan.add<float>(n); auto b = plan.add<float>(m);
//   char* base = (char*)scratch(ctx, plan.bytes()); float* pa = plan.at<float>(base, a);
class ScratchPlan {
public:
    template <class T>
    size_t add(size_t count) {
        size_t off = bytes_;
        bytes_ += (count * sizeof(T) + 255) & ~size_t(255);
        return off;
    }
    size_t bytes() const { return bytes_ == 0 ? 256 : bytes_; }
    template <class T>
    static T* at(void* base, size_t offset) { return reinterpret_cast<T*>(static_cast<char*>(base) + offset); }

private:
    size_t bytes_ = 0;
};

}  // namespace lp

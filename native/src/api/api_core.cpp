// api_core.cpp — the non-op half of the C ABI: errors, logging, build info, devices, contexts,
// buffers, scratch workspace, and the argument checks every op entry point uses.
#include "api_guard.h"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <sstream>

#ifndef LP_VERSION
#define LP_VERSION "0.0.0"
#endif
#ifndef LP_GIT_HASH
#define LP_GIT_HASH "unknown"
#endif

namespace {

thread_local std::string g_last_error;

std::mutex g_log_mutex;
lp_log_fn g_log_fn = nullptr;
void* g_log_user = nullptr;

}  // namespace

namespace lp {

void fail(lp_status status, const std::string& message) { throw Error(status, message); }

size_t dtype_size(int32_t dtype) {
    switch (dtype) {
        case LP_F32: return 4;
        case LP_F16: return 2;
        case LP_BF16: return 2;
        case LP_I32: return 4;
        default: fail(LP_ERR_INVALID_ARGUMENT, "unknown dtype " + std::to_string(dtype));
    }
}

const char* dtype_name(int32_t dtype) {
    switch (dtype) {
        case LP_F32: return "f32";
        case LP_F16: return "f16";
        case LP_BF16: return "bf16";
        case LP_I32: return "i32";
        default: return "unknown";
    }
}

int64_t numel(const lp_tensor& t) {
    int64_t n = 1;
    for (int i = 0; i < t.ndim; ++i) n *= t.ne[i];
    return n;
}

bool is_contiguous(const lp_tensor& t) {
    int64_t expect = 1;
    for (int i = t.ndim - 1; i >= 0; --i) {
        if (t.ne[i] != 1 && t.st[i] != expect) return false;
        expect *= t.ne[i];
    }
    return true;
}

std::string shape_string(const lp_tensor& t) {
    std::ostringstream s;
    s << "(";
    for (int i = 0; i < t.ndim; ++i) s << (i ? "," : "") << t.ne[i];
    s << ") " << dtype_name(t.dtype);
    return s.str();
}

void log(lp_log_level level, const std::string& message) {
    std::lock_guard<std::mutex> lock(g_log_mutex);
    if (g_log_fn) g_log_fn(level, message.c_str(), g_log_user);
}

void* scratch(lp_context* ctx, size_t bytes) {
    if (bytes <= ctx->workspace_bytes) return ctx->workspace;
    size_t grown = std::max<size_t>(bytes, ctx->workspace_bytes + ctx->workspace_bytes / 2);
    if (ctx->workspace) {
        backend::device_free(ctx, ctx->workspace);
        ctx->workspace = nullptr;
        ctx->workspace_bytes = 0;
    }
    void* p = backend::device_alloc(ctx, grown);
    if (!p) {
        p = backend::device_alloc(ctx, bytes);
        grown = bytes;
    }
    if (!p) fail(LP_ERR_OUT_OF_MEMORY, "cannot allocate " + std::to_string(bytes) + " bytes of scratch workspace");
    ctx->workspace = p;
    ctx->workspace_bytes = grown;
    ctx->note_usage();
    return p;
}

}  // namespace lp

void lp_context::note_usage() { peak_bytes = std::max(peak_bytes, current_bytes + workspace_bytes); }

void* lp_context::allocate_counted(uint64_t bytes, const std::string& what) {
    void* p = lp::backend::device_alloc(this, bytes);
    if (!p)
        lp::fail(LP_ERR_OUT_OF_MEMORY, "cannot allocate " + std::to_string(bytes) + " bytes" + what + " (" + std::to_string(current_bytes) +
                                           " bytes already live in this context)");
    current_bytes += bytes;
    note_usage();
    return p;
}

void lp_context::free_counted(void* p, uint64_t bytes) {
    current_bytes -= bytes;
    lp::backend::device_free(this, p);
}

namespace lp::api {

void set_last_error(const std::string& message) {
    g_last_error = message;
    lp::log(LP_LOG_DEBUG, message);
}

void clear_last_error() { g_last_error.clear(); }

lp_context* check_context(lp_context_t ctx) {
    if (!ctx) fail(LP_ERR_INVALID_ARGUMENT, "ctx is NULL");
    return ctx;
}

namespace {

// Byte range [lo, hi) covered by a tensor (strides may be 0 for broadcast dims).
void extent(const lp_tensor& t, uintptr_t& lo, uintptr_t& hi) {
    int64_t last = 0;
    for (int i = 0; i < t.ndim; ++i) last += (t.ne[i] - 1) * t.st[i];
    lo = reinterpret_cast<uintptr_t>(t.data);
    hi = lo + static_cast<uintptr_t>((last + 1) * static_cast<int64_t>(dtype_size(t.dtype)));
}

void check_basic(lp_context* ctx, const lp_tensor* t, const char* name) {
    if (!t) fail(LP_ERR_INVALID_ARGUMENT, std::string(name) + " is NULL");
    if (!t->data) fail(LP_ERR_INVALID_ARGUMENT, std::string(name) + ".data is NULL");
    if (t->ndim < 1 || t->ndim > LP_MAX_DIMS)
        fail(LP_ERR_INVALID_ARGUMENT, std::string(name) + ".ndim=" + std::to_string(t->ndim) + " is outside 1.." + std::to_string(LP_MAX_DIMS));
    if (t->dtype < LP_F32 || t->dtype > LP_I32)
        fail(LP_ERR_INVALID_ARGUMENT, std::string(name) + ".dtype=" + std::to_string(t->dtype) + " is not an lp_dtype");
    for (int i = 0; i < t->ndim; ++i) {
        if (t->ne[i] <= 0)
            fail(LP_ERR_INVALID_ARGUMENT, std::string(name) + ".ne[" + std::to_string(i) + "]=" + std::to_string(t->ne[i]) + " must be positive");
        if (t->st[i] < 0)
            fail(LP_ERR_INVALID_ARGUMENT, std::string(name) + ".st[" + std::to_string(i) + "]=" + std::to_string(t->st[i]) + " must not be negative");
    }
    // The byte extent must be computable without overflow before it can be compared to a buffer
    // (sizes and strides are positive / non-negative here, so the checks are divisions).
    const int64_t limit = INT64_MAX / 8;
    int64_t last = 0;
    bool overflow = false;
    for (int i = 0; i < t->ndim && !overflow; ++i) {
        const int64_t span = t->ne[i] - 1, stride = t->st[i];
        if (stride != 0 && span > (limit - last) / stride) overflow = true;
        else last += span * stride;
    }
    overflow = overflow || last + 1 > limit / static_cast<int64_t>(dtype_size(t->dtype)) ||
               static_cast<uint64_t>((last + 1) * static_cast<int64_t>(dtype_size(t->dtype))) > UINTPTR_MAX - reinterpret_cast<uintptr_t>(t->data);
    if (overflow) fail(LP_ERR_INVALID_ARGUMENT, std::string(name) + " " + shape_string(*t) + ": sizes and strides overflow the address space");
    uintptr_t lo, hi;
    extent(*t, lo, hi);
    auto it = ctx->buffers.upper_bound(lo);
    bool inside = false;
    if (it != ctx->buffers.begin()) {
        --it;
        uintptr_t blo = it->first, bhi = blo + it->second->bytes;
        inside = lo >= blo && hi <= bhi;
    }
    if (!inside) {
        std::ostringstream s;
        s << name << ": data range [0x" << std::hex << lo << ", 0x" << hi << std::dec << ") of " << shape_string(*t)
          << " is not inside a live buffer of this context";
        fail(LP_ERR_INVALID_ARGUMENT, s.str());
    }
}

}  // namespace

const lp_tensor& need(lp_context* ctx, const lp_tensor* t, const char* name) {
    check_basic(ctx, t, name);
    if (!is_contiguous(*t)) fail(LP_ERR_SHAPE_MISMATCH, std::string(name) + " " + shape_string(*t) + " must be contiguous");
    return *t;
}

const lp_tensor* maybe(lp_context* ctx, const lp_tensor* t, const char* name) {
    if (!t) return nullptr;
    return &need(ctx, t, name);
}

const lp_tensor& need_strided(lp_context* ctx, const lp_tensor* t, const char* name) {
    check_basic(ctx, t, name);
    if (t->st[t->ndim - 1] != 1 && t->ne[t->ndim - 1] != 1)
        fail(LP_ERR_SHAPE_MISMATCH, std::string(name) + ".st[" + std::to_string(t->ndim - 1) + "]=" + std::to_string(t->st[t->ndim - 1]) + " must be 1");
    return *t;
}

void check_dtype(const lp_tensor& t, const char* name, std::initializer_list<int32_t> allowed) {
    for (int32_t d : allowed)
        if (t.dtype == d) return;
    std::string list;
    for (int32_t d : allowed) list += std::string(list.empty() ? "" : "|") + dtype_name(d);
    fail(LP_ERR_SHAPE_MISMATCH, std::string(name) + ".dtype=" + dtype_name(t.dtype) + " but must be " + list);
}

void check_ndim(const lp_tensor& t, const char* name, int ndim) {
    if (t.ndim != ndim)
        fail(LP_ERR_SHAPE_MISMATCH, std::string(name) + " " + shape_string(t) + " must have " + std::to_string(ndim) + " dims");
}

void check_dim(const lp_tensor& t, const char* name, int dim, int64_t expected, const std::string& what) {
    if (dim >= t.ndim || t.ne[dim] != expected)
        fail(LP_ERR_SHAPE_MISMATCH, std::string(name) + ".ne[" + std::to_string(dim) + "]=" + (dim < t.ndim ? std::to_string(t.ne[dim]) : std::string("(none)")) +
                                        " but " + what + " is " + std::to_string(expected));
}

void check_same_shape(const lp_tensor& a, const char* an, const lp_tensor& b, const char* bn) {
    bool same = a.ndim == b.ndim;
    for (int i = 0; same && i < a.ndim; ++i) same = a.ne[i] == b.ne[i];
    if (!same) fail(LP_ERR_SHAPE_MISMATCH, std::string(an) + " " + shape_string(a) + " and " + bn + " " + shape_string(b) + " must have the same shape");
}

void check_no_overlap(const lp_tensor& a, const char* an, const lp_tensor& b, const char* bn) {
    uintptr_t alo, ahi, blo, bhi;
    extent(a, alo, ahi);
    extent(b, blo, bhi);
    if (alo < bhi && blo < ahi) fail(LP_ERR_INVALID_ARGUMENT, std::string(an) + " and " + bn + " overlap in memory, which this op does not allow");
}

void check_alias_exact_or_disjoint(const lp_tensor& a, const char* an, const lp_tensor& b, const char* bn) {
    if (a.data == b.data) return;
    check_no_overlap(a, an, b, bn);
}

void check_outputs_disjoint(std::initializer_list<Named> outputs, std::initializer_list<Named> inputs) {
    for (auto o = outputs.begin(); o != outputs.end(); ++o) {
        if (!o->t) continue;
        for (const Named& i : inputs)
            if (i.t) check_no_overlap(*o->t, o->name, *i.t, i.name);
        for (auto p = outputs.begin(); p != o; ++p)
            if (p->t) check_no_overlap(*o->t, o->name, *p->t, p->name);
    }
}

std::string ne_name(const char* name, int dim) { return std::string(name) + ".ne[" + std::to_string(dim) + "]"; }

void check_ndim_between(const lp_tensor& t, const char* name, int lo, int hi) {
    if (t.ndim < lo || t.ndim > hi)
        fail(LP_ERR_SHAPE_MISMATCH, std::string(name) + " " + shape_string(t) + " must have " + std::to_string(lo) + " to " + std::to_string(hi) + " dims");
}

void check_finite(float value, const char* name) {
    if (!std::isfinite(value)) fail(LP_ERR_INVALID_ARGUMENT, std::string(name) + "=" + std::to_string(value) + " must be finite");
}

}  // namespace lp::api

using namespace lp;
using namespace lp::api;

extern "C" {

uint32_t lp_get_abi_version(void) { return (uint32_t(LP_ABI_VERSION_MAJOR) << 16) | uint32_t(LP_ABI_VERSION_MINOR); }

const char* lp_get_build_info(void) {
    static const std::string info = [] {
        std::ostringstream s;
        s << "version=" << LP_VERSION << "\n"
          << "git=" << LP_GIT_HASH << "\n"
          << "abi=" << LP_ABI_VERSION_MAJOR << "." << LP_ABI_VERSION_MINOR << "\n";
        try {
            s << backend::build_info();
        } catch (...) {
            s << "backend=unknown\n";
        }
        return s.str();
    }();
    return info.c_str();
}

const char* lp_last_error_message(void) { return g_last_error.c_str(); }

const char* lp_status_string(int32_t status) {
    switch (status) {
        case LP_OK: return "LP_OK";
        case LP_ERR_INVALID_ARGUMENT: return "LP_ERR_INVALID_ARGUMENT";
        case LP_ERR_SHAPE_MISMATCH: return "LP_ERR_SHAPE_MISMATCH";
        case LP_ERR_UNSUPPORTED: return "LP_ERR_UNSUPPORTED";
        case LP_ERR_OUT_OF_MEMORY: return "LP_ERR_OUT_OF_MEMORY";
        case LP_ERR_DEVICE: return "LP_ERR_DEVICE";
        case LP_ERR_DEVICE_STICKY: return "LP_ERR_DEVICE_STICKY";
        case LP_ERR_ABI_MISMATCH: return "LP_ERR_ABI_MISMATCH";
        case LP_ERR_INTERNAL: return "LP_ERR_INTERNAL";
        default: return "LP_ERR_UNKNOWN";
    }
}

lp_status lp_set_log_callback(lp_log_fn fn, void* user) {
    std::lock_guard<std::mutex> lock(g_log_mutex);
    g_log_fn = fn;
    g_log_user = user;
    return LP_OK;
}

lp_status lp_device_count(int32_t* out_count) {
    LP_API_BODY({
        if (!out_count) fail(LP_ERR_INVALID_ARGUMENT, "out_count is NULL");
        *out_count = backend::device_count();
    });
}

lp_status lp_device_get_info(int32_t device, lp_device_info* out_info) {
    LP_API_BODY({
        if (!out_info) fail(LP_ERR_INVALID_ARGUMENT, "out_info is NULL");
        if (out_info->struct_size != (int32_t)sizeof(lp_device_info))
            fail(LP_ERR_ABI_MISMATCH, "out_info->struct_size=" + std::to_string(out_info->struct_size) + " but this library's lp_device_info is " +
                                          std::to_string(sizeof(lp_device_info)) + " bytes");
        int n = backend::device_count();
        if (device < 0 || device >= n) fail(LP_ERR_INVALID_ARGUMENT, "device=" + std::to_string(device) + " but " + std::to_string(n) + " device(s) exist");
        int32_t size = out_info->struct_size;
        std::memset(out_info, 0, sizeof(*out_info));
        out_info->struct_size = size;
        backend::device_info(device, out_info);
    });
}

lp_status lp_context_create(int32_t device, lp_context_t* out_ctx) {
    LP_API_BODY({
        if (!out_ctx) fail(LP_ERR_INVALID_ARGUMENT, "out_ctx is NULL");
        *out_ctx = nullptr;
        int n = backend::device_count();
        if (device < 0 || device >= n) fail(LP_ERR_INVALID_ARGUMENT, "device=" + std::to_string(device) + " but " + std::to_string(n) + " device(s) exist");
        auto* ctx = new lp_context();
        ctx->device = device;
        try {
            backend::context_init(ctx);
        } catch (...) {
            delete ctx;
            throw;
        }
        *out_ctx = ctx;
    });
}

lp_status lp_context_destroy(lp_context_t ctx) {
    LP_API_BODY({
        if (!ctx) return;
        for (auto& kv : ctx->buffers) {
            backend::device_free(ctx, kv.second->data);
            delete kv.second;
        }
        ctx->buffers.clear();
        if (ctx->workspace) backend::device_free(ctx, ctx->workspace);
        backend::context_destroy(ctx);
        delete ctx;
    });
}

lp_status lp_context_synchronize(lp_context_t ctx) { LP_API_BODY(backend::synchronize(check_context(ctx))); }

lp_status lp_context_get_memory_stats(lp_context_t ctx, lp_memory_stats* out_stats) {
    LP_API_BODY({
        check_context(ctx);
        if (!out_stats) fail(LP_ERR_INVALID_ARGUMENT, "out_stats is NULL");
        if (out_stats->struct_size != (int32_t)sizeof(lp_memory_stats))
            fail(LP_ERR_ABI_MISMATCH, "out_stats->struct_size=" + std::to_string(out_stats->struct_size) + " but this library's lp_memory_stats is " +
                                          std::to_string(sizeof(lp_memory_stats)) + " bytes");
        out_stats->current_bytes = ctx->current_bytes;
        out_stats->peak_bytes = ctx->peak_bytes;
        out_stats->workspace_bytes = ctx->workspace_bytes;
        out_stats->live_buffers = ctx->buffers.size();
        out_stats->total_allocs = ctx->total_allocs;
    });
}

lp_status lp_context_reset_peak(lp_context_t ctx) {
    LP_API_BODY({
        check_context(ctx);
        ctx->peak_bytes = ctx->current_bytes + ctx->workspace_bytes;
    });
}

lp_status lp_context_set_emulation_order(lp_context_t ctx, int32_t order, uint64_t seed) {
    LP_API_BODY({
        check_context(ctx);
        if (order < 0 || order > 2) fail(LP_ERR_INVALID_ARGUMENT, "order=" + std::to_string(order) + " must be 0 (forward), 1 (reverse) or 2 (shuffled)");
        backend::set_emulation_order(ctx, order, seed);
    });
}

lp_status lp_context_set_emulation_knockout(lp_context_t ctx, const char* site) {
    LP_API_BODY({
        check_context(ctx);
        if (!site || *site == '\0') {
            backend::set_emulation_knockout(ctx, nullptr, 0);
            return;
        }
        const std::string text(site);
        const size_t colon = text.rfind(':');
        char* end = nullptr;
        const long line = colon == std::string::npos ? 0 : std::strtol(text.c_str() + colon + 1, &end, 10);
        if (colon == std::string::npos || colon == 0 || end == text.c_str() + colon + 1 || *end != '\0' || line < 1 || line > INT32_MAX)
            fail(LP_ERR_INVALID_ARGUMENT, "site=\"" + text + "\" is not \"file:line\" with a line of 1 or more");
        backend::set_emulation_knockout(ctx, text.substr(0, colon).c_str(), static_cast<int32_t>(line));
    });
}

lp_status lp_context_take_emulation_barrier_sites(lp_context_t ctx, const char** out_text) {
    LP_API_BODY({
        check_context(ctx);
        if (!out_text) fail(LP_ERR_INVALID_ARGUMENT, "out_text is NULL");
        thread_local std::string sites;
        sites = backend::take_emulation_barrier_sites(ctx);
        *out_text = sites.c_str();
    });
}

lp_status lp_buffer_alloc(lp_context_t ctx, uint64_t bytes, lp_buffer_t* out_buf) {
    LP_API_BODY({
        check_context(ctx);
        if (!out_buf) fail(LP_ERR_INVALID_ARGUMENT, "out_buf is NULL");
        *out_buf = nullptr;
        if (bytes == 0) fail(LP_ERR_INVALID_ARGUMENT, "bytes=0: a buffer must hold at least one byte");
        void* p = ctx->allocate_counted(bytes, "");
        auto* buf = new lp_buffer{ctx, p, bytes};
        ctx->buffers[reinterpret_cast<uintptr_t>(p)] = buf;
        ctx->total_allocs++;
        *out_buf = buf;
    });
}

lp_status lp_buffer_free(lp_buffer_t buf) {
    LP_API_BODY({
        if (!buf) return;
        lp_context* ctx = buf->ctx;
        ctx->buffers.erase(reinterpret_cast<uintptr_t>(buf->data));
        ctx->free_counted(buf->data, buf->bytes);
        delete buf;
    });
}

lp_status lp_buffer_get_data(lp_buffer_t buf, void** out_data) {
    LP_API_BODY({
        if (!buf) fail(LP_ERR_INVALID_ARGUMENT, "buf is NULL");
        if (!out_data) fail(LP_ERR_INVALID_ARGUMENT, "out_data is NULL");
        *out_data = buf->data;
    });
}

lp_status lp_buffer_get_size(lp_buffer_t buf, uint64_t* out_bytes) {
    LP_API_BODY({
        if (!buf) fail(LP_ERR_INVALID_ARGUMENT, "buf is NULL");
        if (!out_bytes) fail(LP_ERR_INVALID_ARGUMENT, "out_bytes is NULL");
        *out_bytes = buf->bytes;
    });
}

namespace {
void check_range(lp_buffer_t buf, const char* name, uint64_t offset, uint64_t bytes) {
    if (!buf) fail(LP_ERR_INVALID_ARGUMENT, std::string(name) + " is NULL");
    if (offset > buf->bytes || bytes > buf->bytes - offset)
        fail(LP_ERR_INVALID_ARGUMENT, std::string(name) + ": range [" + std::to_string(offset) + ", " + std::to_string(offset + bytes) + ") is outside the buffer of " +
                                          std::to_string(buf->bytes) + " bytes");
}
}  // namespace

lp_status lp_buffer_upload(lp_buffer_t dst, uint64_t dst_offset, const void* src, uint64_t bytes) {
    LP_API_BODY({
        check_range(dst, "dst", dst_offset, bytes);
        if (!src && bytes) fail(LP_ERR_INVALID_ARGUMENT, "src is NULL");
        if (bytes) backend::copy_h2d(dst->ctx, static_cast<char*>(dst->data) + dst_offset, src, bytes);
    });
}

lp_status lp_buffer_download(lp_buffer_t src, uint64_t src_offset, void* dst, uint64_t bytes) {
    LP_API_BODY({
        check_range(src, "src", src_offset, bytes);
        if (!dst && bytes) fail(LP_ERR_INVALID_ARGUMENT, "dst is NULL");
        if (bytes) backend::copy_d2h(src->ctx, dst, static_cast<const char*>(src->data) + src_offset, bytes);
    });
}

lp_status lp_buffer_copy(lp_buffer_t dst, uint64_t dst_offset, lp_buffer_t src, uint64_t src_offset, uint64_t bytes) {
    LP_API_BODY({
        check_range(dst, "dst", dst_offset, bytes);
        check_range(src, "src", src_offset, bytes);
        if (dst->ctx != src->ctx) fail(LP_ERR_INVALID_ARGUMENT, "dst and src belong to different contexts");
        if (bytes) backend::copy_d2d(dst->ctx, static_cast<char*>(dst->data) + dst_offset, static_cast<const char*>(src->data) + src_offset, bytes);
    });
}

lp_status lp_buffer_fill(lp_buffer_t buf, uint64_t offset, uint64_t bytes, const void* pattern, uint32_t pattern_size) {
    LP_API_BODY({
        check_range(buf, "buf", offset, bytes);
        if (!pattern) fail(LP_ERR_INVALID_ARGUMENT, "pattern is NULL");
        if (pattern_size != 1 && pattern_size != 2 && pattern_size != 4)
            fail(LP_ERR_INVALID_ARGUMENT, "pattern_size=" + std::to_string(pattern_size) + " must be 1, 2 or 4");
        if (bytes % pattern_size) fail(LP_ERR_INVALID_ARGUMENT, "bytes=" + std::to_string(bytes) + " is not a multiple of pattern_size=" + std::to_string(pattern_size));
        if (bytes) backend::fill(buf->ctx, static_cast<char*>(buf->data) + offset, bytes, pattern, pattern_size);
    });
}

}  // extern "C"

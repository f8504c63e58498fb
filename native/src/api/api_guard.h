// api_guard.h — the try/catch shell of every extern "C" entry point and the argument checks the
// op entry points share. Nothing thrown inside the library crosses the C ABI: LP_API_BODY turns
// lp::Error, std::bad_alloc and anything else into an lp_status plus a thread-local message.
#pragma once

#include "../common/backend.h"

#include <initializer_list>
#include <new>
#include <string>

namespace lp::api {

void set_last_error(const std::string& message);
void clear_last_error();

// Runs body() and maps exceptions to a status; `fn` names the entry point in the message.
template <class F>
lp_status guarded(const char* fn, F&& body) {
    try {
        clear_last_error();
        body();
        return LP_OK;
    } catch (const lp::Error& e) {
        set_last_error(std::string(fn) + ": " + e.what());
        return e.status();
    } catch (const std::bad_alloc&) {
        set_last_error(std::string(fn) + ": host out of memory");
        return LP_ERR_OUT_OF_MEMORY;
    } catch (const std::exception& e) {
        set_last_error(std::string(fn) + ": internal error: " + e.what());
        return LP_ERR_INTERNAL;
    } catch (...) {
        set_last_error(std::string(fn) + ": internal error: unknown exception");
        return LP_ERR_INTERNAL;
    }
}

#define LP_API_BODY(...) return ::lp::api::guarded(__func__, [&]() { __VA_ARGS__; })

// ---- argument checks (each throws lp::Error naming the argument) ------------------------------

lp_context* check_context(lp_context_t ctx);

// A required tensor: non-null, known dtype, 1..4 dims, positive sizes, contiguous, and its whole
// extent inside one live buffer of ctx. Returns the descriptor by reference.
const lp_tensor& need(lp_context* ctx, const lp_tensor* t, const char* name);
// A nullable tensor: nullptr stays nullptr, otherwise the same checks as need().
const lp_tensor* maybe(lp_context* ctx, const lp_tensor* t, const char* name);
// Like need() but allows a non-contiguous layout with unit last stride (lp_op_gemm operands).
const lp_tensor& need_strided(lp_context* ctx, const lp_tensor* t, const char* name);

void check_dtype(const lp_tensor& t, const char* name, std::initializer_list<int32_t> allowed);
void check_ndim(const lp_tensor& t, const char* name, int ndim);
// t.ne[dim] == expected, else "name.ne[dim]=X but <what> is Y".
void check_dim(const lp_tensor& t, const char* name, int dim, int64_t expected, const std::string& what);
void check_same_shape(const lp_tensor& a, const char* an, const lp_tensor& b, const char* bn);
// Fails with LP_ERR_INVALID_ARGUMENT if the byte ranges of a and b overlap (aliasing not allowed).
void check_no_overlap(const lp_tensor& a, const char* an, const lp_tensor& b, const char* bn);
// Overlap allowed only as exact aliasing (same data pointer); a partial overlap fails.
void check_alias_exact_or_disjoint(const lp_tensor& a, const char* an, const lp_tensor& b, const char* bn);

// A tensor argument and its name; a null tensor (an absent nullable argument) is skipped.
struct Named {
    const lp_tensor* t;
    const char* name;
};
// Every output overlaps no input and no other output (the default aliasing rule of lp.h).
void check_outputs_disjoint(std::initializer_list<Named> outputs, std::initializer_list<Named> inputs);
// "name.ne[dim]", for the `what` of check_dim.
std::string ne_name(const char* name, int dim);
void check_ndim_between(const lp_tensor& t, const char* name, int lo, int hi);
// A float argument must be finite (not NaN, not infinite).
void check_finite(float value, const char* name);

}  // namespace lp::api

// api_widen.h — bf16 activations for a backend that computes in f32 only (the cpu backend).
// lp.h lets the activation tensors of some ops be bf16 (DESIGN: the CUDA backend stores them so).
// The CUDA kernels read and write bf16 themselves; for the cpu backend the API layer widens each
// bf16 activation into a temporary f32 tensor, runs the f32 op, and rounds each output back once
// (round to nearest even, as lp_op_convert does). So every backend accepts the same dtypes and
// computes the same function: f32 arithmetic on the bf16 values, one rounding of each output.
// The temporaries are counted in the context's allocator statistics while they live.
#pragma once

#include "../common/backend.h"

#include <deque>

namespace lp::api {

class F32Activations {
public:
    explicit F32Activations(lp_context* ctx) : ctx_(ctx), widen_(backend::kind() == LP_BACKEND_CPU) {}
    F32Activations(const F32Activations&) = delete;
    F32Activations& operator=(const F32Activations&) = delete;

    ~F32Activations() {
        for (Temp& t : temps_)
            if (t.f32.data) ctx_->free_counted(t.f32.data, t.bytes);
    }

    // An input: itself, or a widened f32 copy of a bf16 tensor.
    const lp_tensor& in(const lp_tensor& t) { return get(t, false); }
    // An output (=) or an in-place tensor: an f32 stand-in for a bf16 tensor (holding its values),
    // rounded back into it by finish(). A tensor given to in() and out() gets one stand-in.
    const lp_tensor& out(const lp_tensor& t) { return get(t, true); }

    // Rounds the outputs back into their bf16 tensors. Call after the op succeeded.
    void finish() {
        for (Temp& t : temps_)
            if (t.is_output) backend::convert(ctx_, t.f32, *t.original);
    }

private:
    struct Temp {
        const lp_tensor* original;
        lp_tensor f32;
        size_t bytes;
        bool is_output;
    };

    const lp_tensor& get(const lp_tensor& t, bool is_output) {
        if (!widen_ || t.dtype != LP_BF16) return t;
        for (Temp& e : temps_)
            if (e.original->data == t.data) {
                e.is_output = e.is_output || is_output;
                return e.f32;
            }
        // Recorded before the allocation, so the destructor frees whatever was allocated when anything throws; a
        // deque, so references to earlier stand-ins stay valid.
        Temp& e = temps_.emplace_back(Temp{&t, t, static_cast<size_t>(numel(t)) * sizeof(float), is_output});
        e.f32.dtype = LP_F32;
        e.f32.data = nullptr;
        e.f32.data = ctx_->allocate_counted(e.bytes, " to widen a bf16 activation to f32");
        backend::convert(ctx_, t, e.f32);
        return e.f32;
    }

    lp_context* ctx_;
    bool widen_;
    std::deque<Temp> temps_;
};

}  // namespace lp::api

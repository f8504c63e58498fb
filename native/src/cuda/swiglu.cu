// swiglu.cu — the SwiGLU gate of LLaMA's MLP on the CUDA backend, elementwise over (N, F).
//   forward:  out = silu(g) * u,  silu(g) = g / (1 + exp(-g)) = g * s,  s = 1 / (1 + exp(-g))
//   backward: dgate = dout * u * s * (1 + g * (1 - s)),  dup = dout * silu(g)
#include "cuda_common.cuh"

namespace lp::cuda {
namespace {

constexpr int kThreads = 256;

__device__ __forceinline__ float sigmoid(float g) { return 1.0f / (1.0f + expf(-g)); }

__device__ __forceinline__ float silu(float g) { return g / (1.0f + expf(-g)); }

template <class T>
__global__ void swiglu_forward_kernel(const T* gate,  // (N, F) f32 or bf16
                                      const T* up,    // (N, F)
                                      T* out,         // (N, F)
                                      int64_t n) {
    for (int64_t i = grid_thread_index(); i < n; i += grid_thread_count()) {
        out[i] = from_f32<T>(silu(to_f32(gate[i])) * to_f32(up[i]));
    }
}

template <class T>
__global__ void swiglu_backward_kernel(const float* dout,  // (N, F)
                                       const T* gate,      // (N, F) f32 or bf16
                                       const T* up,        // (N, F)
                                       float* dgate,       // (N, F)
                                       float* dup,         // (N, F)
                                       int64_t n) {
    for (int64_t i = grid_thread_index(); i < n; i += grid_thread_count()) {
        const float g = to_f32(gate[i]);
        const float s = sigmoid(g);
        const float d = dout[i];
        dgate[i] = d * to_f32(up[i]) * s * (1.0f + g * (1.0f - s));
        dup[i] = d * (g * s);
    }
}

}  // namespace
}  // namespace lp::cuda

namespace lp::backend {

using namespace lp::cuda;

void swiglu_forward(lp_context* ctx, const lp_tensor& gate, const lp_tensor& up, const lp_tensor& out) {
    const int64_t n = numel(gate);
    with_act_type(gate.dtype, [&](auto tag) {
        using T = decltype(tag);
        LP_LAUNCH(swiglu_forward_kernel<T>, blocks_for(n, kThreads), kThreads, 0, stream(ctx))(
            static_cast<const T*>(gate.data), static_cast<const T*>(up.data), static_cast<T*>(out.data), n);
        LP_CHECK_LAUNCH(swiglu_forward_kernel);
    });
}

void swiglu_backward(lp_context* ctx, const lp_tensor& dout, const lp_tensor& gate, const lp_tensor& up, const lp_tensor& dgate, const lp_tensor& dup) {
    const int64_t n = numel(gate);
    with_act_type(gate.dtype, [&](auto tag) {
        using T = decltype(tag);
        LP_LAUNCH(swiglu_backward_kernel<T>, blocks_for(n, kThreads), kThreads, 0, stream(ctx))(
            static_cast<const float*>(dout.data), static_cast<const T*>(gate.data), static_cast<const T*>(up.data), static_cast<float*>(dgate.data),
            static_cast<float*>(dup.data), n);
        LP_CHECK_LAUNCH(swiglu_backward_kernel);
    });
}

}  // namespace lp::backend

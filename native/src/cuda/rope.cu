// rope.cu — rotary position embedding of the CUDA backend, Hugging Face rotate-half layout.
// For a row (b, t, h) and i < D/2, with f_i = inv_freq[i] or 1/theta^(2i/D) and the f32 angle
// a = (float)(pos_offset + t) * f_i (as Hugging Face evaluates it):
//   forward:  y[i] = x[i] cos a - x[i+D/2] sin a,   y[i+D/2] = x[i+D/2] cos a + x[i] sin a
//   backward: the rotation by -a (R^T), i.e. the same with sin a negated.
// cos a and sin a are computed once per (t, i) into a (T, D/2) table in scratch, shared by the
// B*NH rows of a position. They are sincospi(a/pi) in double rounded to f32 — the correctly
// rounded f32 sin/cos of the f32 angle, like the CPU's sinf/cosf — because the f32 sincosf keeps
// a Payne-Hanek reduction in local memory for angles above 1e5 (positions reach that far).
#include "cuda_common.cuh"

namespace lp::cuda {
namespace {

constexpr int kThreads = 256;
constexpr double kInvPi = 0.318309886183790671537767526745028724;

// table[t, i] = (cos a, sin a) of position pos_offset + t and frequency i.
__global__ void rope_table_kernel(float* table,           // (T, D/2, 2)
                                  const float* inv_freq,  // (D/2) or nullptr
                                  float theta, int64_t T, int64_t half, int64_t pos_offset) {
    for (int64_t p = grid_thread_index(); p < T * half; p += grid_thread_count()) {
        const int64_t t = p / half;
        const int64_t i = p - t * half;
        const float f = inv_freq ? inv_freq[i] : 1.0f / powf(theta, static_cast<float>(2 * i) / static_cast<float>(2 * half));
        const float angle = static_cast<float>(pos_offset + t) * f;
        double s, c;
        sincospi(static_cast<double>(angle) * kInvPi, &s, &c);
        table[2 * p] = static_cast<float>(c);
        table[2 * p + 1] = static_cast<float>(s);
    }
}

// Rotates the pairs (i, i+D/2) of every row by +a (sign 1) or -a (sign -1). Each thread reads
// and writes the same two elements, so out may alias in.
template <class E>
__device__ __forceinline__ void rope_rotate(const E* in,         // (B, T, NH, D) f32 or bf16
                                            E* out,              // (B, T, NH, D)
                                            const float* table,  // (T, D/2, 2)
                                            int64_t rows, int64_t T, int64_t NH, int64_t half, float sign) {
    const int64_t pairs = rows * half;
    for (int64_t p = grid_thread_index(); p < pairs; p += grid_thread_count()) {
        const int64_t row = p / half;
        const int64_t i = p - row * half;
        const int64_t t = (row / NH) % T;
        const float c = table[2 * (t * half + i)];
        const float s = sign * table[2 * (t * half + i) + 1];
        const int64_t base = row * 2 * half + i;
        const float x1 = to_f32(in[base]);
        const float x2 = to_f32(in[base + half]);
        out[base] = from_f32<E>(x1 * c - x2 * s);
        out[base + half] = from_f32<E>(x2 * c + x1 * s);
    }
}

template <class TX>
__global__ void rope_forward_kernel(const TX* x, TX* y, const float* table, int64_t rows, int64_t T, int64_t NH, int64_t half) {
    rope_rotate(x, y, table, rows, T, NH, half, 1.0f);
}

template <class TX>
__global__ void rope_backward_kernel(const TX* dy, TX* dx, const float* table, int64_t rows, int64_t T, int64_t NH, int64_t half) {
    rope_rotate(dy, dx, table, rows, T, NH, half, -1.0f);
}

void launch_rope(lp_context* ctx, bool forward, const lp_tensor& in, const lp_tensor& out, const lp_tensor* inv_freq, float theta, int64_t pos_offset) {
    const int64_t B = in.ne[0], T = in.ne[1], NH = in.ne[2], half = in.ne[3] / 2;
    const int64_t rows = B * T * NH;
    cudaStream_t s = stream(ctx);
    float* table = static_cast<float*>(scratch(ctx, static_cast<size_t>(T * half * 2) * sizeof(float)));
    LP_LAUNCH(rope_table_kernel, blocks_for(T * half, kThreads), kThreads, 0, s)(
        table, inv_freq ? static_cast<const float*>(inv_freq->data) : nullptr, theta, T, half, pos_offset);
    LP_CHECK_LAUNCH(rope_table_kernel);
    const unsigned int blocks = blocks_for(rows * half, kThreads);
    with_act_type(in.dtype, [&](auto tag) {
        using TX = decltype(tag);
        const TX* src = static_cast<const TX*>(in.data);
        TX* dst = static_cast<TX*>(out.data);
        if (forward) {
            LP_LAUNCH(rope_forward_kernel<TX>, blocks, kThreads, 0, s)(src, dst, table, rows, T, NH, half);
            LP_CHECK_LAUNCH(rope_forward_kernel);
        } else {
            LP_LAUNCH(rope_backward_kernel<TX>, blocks, kThreads, 0, s)(src, dst, table, rows, T, NH, half);
            LP_CHECK_LAUNCH(rope_backward_kernel);
        }
    });
}

}  // namespace
}  // namespace lp::cuda

namespace lp::backend {

void rope_forward(lp_context* ctx, const lp_tensor& x, const lp_tensor& y, const lp_tensor* inv_freq, float theta, int64_t pos_offset) {
    lp::cuda::launch_rope(ctx, true, x, y, inv_freq, theta, pos_offset);
}

void rope_backward(lp_context* ctx, const lp_tensor& dy, const lp_tensor& dx, const lp_tensor* inv_freq, float theta, int64_t pos_offset) {
    lp::cuda::launch_rope(ctx, false, dy, dx, inv_freq, theta, pos_offset);
}

}  // namespace lp::backend

/* lp.h — the LoRAPrune native C ABI, the only public header of the native libraries.
 * Every backend library (loraprune_cpu, loraprune_cuda, loraprune_cudaemu) exports exactly this
 * set of functions, so the managed host can load several side by side and compare them.
 *
 * Conventions
 *  - Every function returns lp_status (0 = ok, negative = error) and writes results through
 *    out-parameters. On error, lp_last_error_message() gives a thread-local message naming the
 *    function, the argument and the reason. No C++ exception, exit or abort crosses this boundary.
 *  - Tensors are passed as lp_tensor descriptors: a device address (a host address on the cpu
 *    backend) inside a buffer of the same context, a dtype and a row-major shape, outermost first
 *    (ne[ndim-1] is the contiguous dimension). Strides are in elements. Every op requires
 *    contiguous tensors except lp_op_gemm, which takes a row stride and a batch stride.
 *    Shapes, dtypes, contiguity and buffer bounds are validated at the boundary in every build.
 *  - Shape legend (as in the op comments): N rows (tokens = B*T), B batch, T sequence, C hidden,
 *    H query heads, KVH key/value heads, D head dim, F MLP width, V vocab, R LoRA rank,
 *    IN/OUT the input/output features of a linear layer.
 *  - GRADIENT RULE: parameter gradients, LoRA gradients and importance accumulators ACCUMULATE
 *    (+=); activation gradients OVERWRITE (=). Each op comment marks its outputs with (=) or (+=).
 *  - Dtypes: activations, LoRA parameters, gradients, optimizer state, importance and the loss are
 *    f32. Frozen base weights (marked "f32|bf16") may be f32 or bf16 on every backend; compute
 *    always accumulates in f32.
 *    ABI 1.5: the activations an op reads or writes in a training step (marked "act", f32|bf16) may
 *    be bf16 on every backend, which is how the CUDA backend stores them (half the memory). The op
 *    computes in f32 on the bf16 values and rounds each bf16 output once (round to nearest even).
 *    The CUDA kernels read and write bf16 directly; the cpu backend widens to f32 temporaries
 *    (counted in the context's memory statistics) and rounds the outputs back. Gradients, lse, rstd
 *    and xa stay f32.
 *  - All ops are asynchronous with respect to the host on device backends (one stream per
 *    context); lp_buffer_download and lp_context_synchronize wait for completion.
 */
#ifndef LORAPRUNE_LP_H
#define LORAPRUNE_LP_H

#include <stddef.h>
#include <stdint.h>

#if defined(_WIN32)
#  if defined(LP_BUILDING_LIBRARY)
#    define LP_API __declspec(dllexport)
#  else
#    define LP_API __declspec(dllimport)
#  endif
#else
#  define LP_API __attribute__((visibility("default")))
#endif

#ifdef __cplusplus
extern "C" {
#endif

/* ABI version: a host refuses a library with another MAJOR. MINOR grows with compatible additions. */
#define LP_ABI_VERSION_MAJOR 1
#define LP_ABI_VERSION_MINOR 5

typedef enum lp_status {
    LP_OK = 0,
    LP_ERR_INVALID_ARGUMENT = -1, /* null pointer, bad value, tensor outside its buffer, ... */
    LP_ERR_SHAPE_MISMATCH = -2,   /* shapes/dtypes/strides of the tensors do not fit together */
    LP_ERR_UNSUPPORTED = -3,      /* valid request this backend/build cannot do */
    LP_ERR_OUT_OF_MEMORY = -4,    /* allocation failed (host or device) */
    LP_ERR_DEVICE = -5,           /* a device call failed; the context is still usable */
    LP_ERR_DEVICE_STICKY = -6,    /* the device is in an unrecoverable state; destroy the context */
    LP_ERR_ABI_MISMATCH = -7,     /* caller and library disagree on a struct layout or version */
    LP_ERR_INTERNAL = -8          /* a bug in the library: please report the message */
} lp_status;

typedef enum lp_dtype {
    LP_F32 = 0,
    LP_F16 = 1,
    LP_BF16 = 2,
    LP_I32 = 3
} lp_dtype;

#define LP_MAX_DIMS 4

/* A view of device memory. Blittable: the managed side declares the identical struct. */
typedef struct lp_tensor {
    void* data;             /* first element; must lie inside a live buffer of the op's context */
    int32_t dtype;          /* lp_dtype */
    int32_t ndim;           /* 1..LP_MAX_DIMS */
    int64_t ne[LP_MAX_DIMS];/* sizes, outermost first; entries >= ndim are ignored */
    int64_t st[LP_MAX_DIMS];/* strides in elements; contiguous: st[ndim-1]=1, st[i]=st[i+1]*ne[i+1] */
} lp_tensor;

typedef struct lp_context* lp_context_t;
typedef struct lp_buffer* lp_buffer_t;

typedef enum lp_backend_kind {
    LP_BACKEND_CPU = 0,
    LP_BACKEND_CUDA = 1,
    LP_BACKEND_CUDA_EMULATED = 2
} lp_backend_kind;

typedef struct lp_device_info {
    int32_t struct_size;     /* caller sets sizeof(lp_device_info); a mismatch is LP_ERR_ABI_MISMATCH */
    int32_t backend;         /* lp_backend_kind */
    char name[128];          /* "AMD EPYC ... (2 threads)", "NVIDIA H100 80GB HBM3", ... */
    uint64_t total_memory;   /* bytes */
    uint64_t free_memory;    /* bytes, as reported by the OS/driver now */
    int32_t compute_major;   /* CUDA compute capability; 0 on cpu */
    int32_t compute_minor;
    int32_t multiprocessors; /* SMs on CUDA, hardware threads on cpu */
    int32_t reserved;
} lp_device_info;

typedef struct lp_memory_stats {
    int32_t struct_size;     /* caller sets sizeof(lp_memory_stats) */
    int32_t reserved;
    uint64_t current_bytes;  /* bytes in live lp_buffers of this context */
    uint64_t peak_bytes;     /* high-water mark of current_bytes + workspace since create/reset */
    uint64_t workspace_bytes;/* bytes held by the context's internal scratch workspace */
    uint64_t live_buffers;   /* number of live lp_buffers */
    uint64_t total_allocs;   /* number of lp_buffer_alloc calls that succeeded */
} lp_memory_stats;

typedef enum lp_log_level { LP_LOG_DEBUG = 0, LP_LOG_INFO = 1, LP_LOG_WARN = 2, LP_LOG_ERROR = 3 } lp_log_level;
typedef void (*lp_log_fn)(int32_t level, const char* message, void* user);

/* ---------------------------------------------------------------------------------------------
 * Library
 * ------------------------------------------------------------------------------------------- */

/* (LP_ABI_VERSION_MAJOR << 16) | LP_ABI_VERSION_MINOR of the library. Never fails. */
LP_API uint32_t lp_get_abi_version(void);
/* Static, library-owned text "key=value" lines: version, git, backend, compiler, cuda, sm list, blas. */
LP_API const char* lp_get_build_info(void);
/* Thread-local, library-owned message of the last failing call on this thread ("" if none). */
LP_API const char* lp_last_error_message(void);
/* Static name of a status code ("LP_ERR_SHAPE_MISMATCH"). */
LP_API const char* lp_status_string(int32_t status);
/* Process-wide log sink (NULL to disable). Messages are library-owned and valid during the call. */
LP_API lp_status lp_set_log_callback(lp_log_fn fn, void* user);

/* ---------------------------------------------------------------------------------------------
 * Devices, contexts, buffers
 * ------------------------------------------------------------------------------------------- */

LP_API lp_status lp_device_count(int32_t* out_count);
LP_API lp_status lp_device_get_info(int32_t device, lp_device_info* out_info);

/* One device, one stream, a BLAS/cuBLAS handle and a scratch workspace. Not thread-safe: use one
 * context per thread. */
LP_API lp_status lp_context_create(int32_t device, lp_context_t* out_ctx);
LP_API lp_status lp_context_destroy(lp_context_t ctx); /* frees every buffer still alive */
LP_API lp_status lp_context_synchronize(lp_context_t ctx);
LP_API lp_status lp_context_get_memory_stats(lp_context_t ctx, lp_memory_stats* out_stats);
LP_API lp_status lp_context_reset_peak(lp_context_t ctx);
/* Barrier order of the emulated CUDA backend: 0 forward, 1 reverse, 2 shuffled (seeded), for every
 * launch of this context (other contexts keep their own). Other backends accept 0 only. Lets tests
 * expose a missing __syncthreads as a wrong answer. */
LP_API lp_status lp_context_set_emulation_order(lp_context_t ctx, int32_t order, uint64_t seed);
/* Emulated CUDA backend only (others: LP_ERR_UNSUPPORTED) (ABI 1.3). Every launch of this context
 * skips the barrier written at `site`, "file:line" of the CUDA sources ("attention.cu:118"), as if
 * that __syncthreads or __syncwarp were deleted; NULL or "" restores it. Lets a test show that some
 * case fails without each barrier. */
LP_API lp_status lp_context_set_emulation_knockout(lp_context_t ctx, const char* site);
/* Emulated CUDA backend only (ABI 1.3): the barrier sites the launches of this context met since
 * the previous call, one line each, sorted: "file:line passes max_passes_per_block skipped\n"
 * (passes: barrier phases released, summed over blocks; skipped: threads that went through a
 * knocked-out site). *out_text is library-owned and valid until this thread's next call. */
LP_API lp_status lp_context_take_emulation_barrier_sites(lp_context_t ctx, const char** out_text);

LP_API lp_status lp_buffer_alloc(lp_context_t ctx, uint64_t bytes, lp_buffer_t* out_buf);
LP_API lp_status lp_buffer_free(lp_buffer_t buf);
/* Device address of the first byte (for lp_tensor.data). 256-byte aligned. */
LP_API lp_status lp_buffer_get_data(lp_buffer_t buf, void** out_data);
LP_API lp_status lp_buffer_get_size(lp_buffer_t buf, uint64_t* out_bytes);
LP_API lp_status lp_buffer_upload(lp_buffer_t dst, uint64_t dst_offset, const void* src, uint64_t bytes);
LP_API lp_status lp_buffer_download(lp_buffer_t src, uint64_t src_offset, void* dst, uint64_t bytes);
LP_API lp_status lp_buffer_copy(lp_buffer_t dst, uint64_t dst_offset, lp_buffer_t src, uint64_t src_offset, uint64_t bytes);
/* Repeats a 1, 2 or 4 byte pattern over [offset, offset+bytes); bytes must be a multiple of it. */
LP_API lp_status lp_buffer_fill(lp_buffer_t buf, uint64_t offset, uint64_t bytes, const void* pattern, uint32_t pattern_size);

/* ---------------------------------------------------------------------------------------------
 * Ops. Outputs are marked (=) overwrite or (+=) accumulate. Unless stated, outputs must not alias
 * inputs. "nullable" arguments may be NULL.
 * ------------------------------------------------------------------------------------------- */

/* out[n,:] = table[ids[n],:].  table (V,C) f32|bf16, ids (N) i32 in [0,V), out (N,C) f32 (=).
 * An id outside [0,V) is LP_ERR_INVALID_ARGUMENT. */
LP_API lp_status lp_op_embedding_forward(lp_context_t ctx, const lp_tensor* table, const lp_tensor* ids, const lp_tensor* out);
/* dtable[ids[n],:] += dout[n,:].  dout (N,C) f32, ids (N) i32, dtable (V,C) f32 (+=). */
LP_API lp_status lp_op_embedding_backward(lp_context_t ctx, const lp_tensor* dout, const lp_tensor* ids, const lp_tensor* dtable);

/* y = x * rstd * weight, rstd = 1/sqrt(mean(x^2) + eps) per row.
 * x (N,C) f32, weight (C) f32, y (N,C) act (=), rstd (N) f32 (=, saved for backward). An f32 y may
 * alias x. */
LP_API lp_status lp_op_rmsnorm_forward(lp_context_t ctx, const lp_tensor* x, const lp_tensor* weight, float eps, const lp_tensor* y, const lp_tensor* rstd);
/* dy (N,C), x (N,C), weight (C), rstd (N) -> dx (N,C) f32 (=), dweight (C) f32 (+=, nullable). */
LP_API lp_status lp_op_rmsnorm_backward(lp_context_t ctx, const lp_tensor* dy, const lp_tensor* x, const lp_tensor* weight, const lp_tensor* rstd, const lp_tensor* dx, const lp_tensor* dweight);

/* Rotary embedding, Hugging Face rotate-half layout: for i < D/2, with angle = (pos_offset+t)*f_i,
 *   y[i]     = x[i] cos - x[i+D/2] sin
 *   y[i+D/2] = x[i+D/2] cos + x[i] sin
 * f_i = inv_freq[i] if inv_freq is given (f32 (D/2), e.g. llama3-scaled), else theta^(-2i/D)
 * computed in f32 as Hugging Face builds inv_freq: 1.0f / powf(theta, (float)(2i) / (float)D).
 * x (B,T,NH,D) act, D even, y (B,T,NH,D) (=) of x's dtype; y may alias x. cos/sin are evaluated
 * in f32 of the f32 angle, as Hugging Face does. */
LP_API lp_status lp_op_rope_forward(lp_context_t ctx, const lp_tensor* x, const lp_tensor* y, const lp_tensor* inv_freq, float theta, int64_t pos_offset);
/* The transpose (rotation by -angle): dx = R^T dy. dy (B,T,NH,D) act, dx (=) of dy's dtype; dx may
 * alias dy. */
LP_API lp_status lp_op_rope_backward(lp_context_t ctx, const lp_tensor* dy, const lp_tensor* dx, const lp_tensor* inv_freq, float theta, int64_t pos_offset);

/* Batched GEMM, row-major: C[b] = alpha * op(A[b]) * op(B[b]) + beta * C[b], op = transpose if
 * trans_* != 0. A, B, C are 2-D (rows, cols) or 3-D (batch, rows, cols); the last stride must be 1,
 * st[ndim-2] is the row stride (leading dimension, >= cols) and a 3-D batch stride may be 0
 * (broadcast A or B over C's batch; a 2-D A or B is broadcast the same way). A and B f32, or both
 * bf16; C f32. C must not overlap A or B. C is not read when beta == 0. */
LP_API lp_status lp_op_gemm(lp_context_t ctx, const lp_tensor* a, const lp_tensor* b, const lp_tensor* c, int32_t trans_a, int32_t trans_b, float alpha, float beta);

/* Causal grouped-query self-attention: query head h reads key/value head h / (H/KVH).
 *   S = scale * Q K^T (causal: key position <= query position), P = softmax(S), O = P V.
 * q (B,T,H,D), k (B,T,KVH,D), v (B,T,KVH,D) act, one dtype; KVH divides H.
 * out (B,T,H,D) (=) of q's dtype; lse (B,H,T) f32 (=) the row log-sum-exp of S, saved for backward. */
LP_API lp_status lp_op_attention_forward(lp_context_t ctx, const lp_tensor* q, const lp_tensor* k, const lp_tensor* v, float scale, const lp_tensor* out, const lp_tensor* lse);
/* dout (B,T,H,D) f32 with the forward's q, k, v, out (act, one dtype), lse -> dq (B,T,H,D) (=),
 * dk, dv (B,T,KVH,D) (=), all f32.
 * dk/dv sum the contributions of the H/KVH query heads that share a key/value head. */
LP_API lp_status lp_op_attention_backward(lp_context_t ctx, const lp_tensor* q, const lp_tensor* k, const lp_tensor* v, const lp_tensor* out, const lp_tensor* lse, const lp_tensor* dout, float scale, const lp_tensor* dq, const lp_tensor* dk, const lp_tensor* dv);

/* out = silu(gate) * up, silu(g) = g / (1 + exp(-g)).  gate, up, out (=) (N,F) act, one dtype. */
LP_API lp_status lp_op_swiglu_forward(lp_context_t ctx, const lp_tensor* gate, const lp_tensor* up, const lp_tensor* out);
/* dout (N,F) f32, gate, up (N,F) act (one dtype) -> dgate (N,F) f32 (=), dup (N,F) f32 (=). */
LP_API lp_status lp_op_swiglu_backward(lp_context_t ctx, const lp_tensor* dout, const lp_tensor* gate, const lp_tensor* up, const lp_tensor* dgate, const lp_tensor* dup);

/* Dropout with a counter-based RNG, identical on every backend. Element i (row-major index) of a
 * tensor drawn at (seed, offset) is kept iff u >= p, where, in uint64 arithmetic,
 *   z = seed + 0x9E3779B97F4A7C15 * (offset + i + 1)
 *   z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9
 *   z = (z ^ (z >> 27)) * 0x94D049BB133111EB
 *   z =  z ^ (z >> 31)
 *   u = (float)(z >> 40) * 2^-24                      (u in [0, 1))
 * Kept elements are scaled by 1/(1-p); p in [0, 1). The op is its own backward: applying it to dy
 * with the same (p, seed, offset) gives dx. x, y same shape f32 (=); y may alias x. */
LP_API lp_status lp_op_dropout(lp_context_t ctx, const lp_tensor* x, const lp_tensor* y, float p, uint64_t seed, uint64_t offset);

/* LoRA linear layer (docs/method.md §1.3):
 *   y  = (x W^T + scale * (drop(x) A^T) B^T) (.) mask
 *   xa = drop(x) A^T                                 (saved for backward)
 * x (N,IN) act; w (OUT,IN) f32|bf16; a (R,IN) f32, b (OUT,R) f32 (both nullable together: plain
 * linear); mask (OUT) f32 (nullable = all ones); drop = lp_op_dropout(p, seed, offset) of x;
 * y (N,OUT) act (=, its own dtype: a bf16 y is the f32 result rounded once);
 * xa (N,R) f32 (=, required when a is given, NULL when a is NULL). */
LP_API lp_status lp_op_lora_linear_forward(lp_context_t ctx, const lp_tensor* x, const lp_tensor* w, const lp_tensor* a, const lp_tensor* b, const lp_tensor* mask, float scale, float dropout_p, uint64_t seed, uint64_t offset, const lp_tensor* y, const lp_tensor* xa);
/* With g = dy (.) mask:
 *   dx  = g W + scale * ((g B) A) (.) dropmask/(1-p)    (N,IN)  (=, nullable)
 *   da += scale * (g B)^T drop(x)                        (R,IN)  (+=)
 *   db += scale * g^T xa                                 (OUT,R) (+=)
 *   dw += g^T x                                          (OUT,IN) f32 (+=, nullable: only for
 *                                                        full fine-tuning or the `grad` criterion)
 * dy (N,OUT) f32; x (N,IN) act, as the forward read it.
 * Same (dropout_p, seed, offset) as the forward; xa is the forward's (NULL exactly when a is).
 * da/db must be NULL exactly when a/b are. */
LP_API lp_status lp_op_lora_linear_backward(lp_context_t ctx, const lp_tensor* dy, const lp_tensor* x, const lp_tensor* w, const lp_tensor* a, const lp_tensor* b, const lp_tensor* mask, const lp_tensor* xa, float scale, float dropout_p, uint64_t seed, uint64_t offset, const lp_tensor* dx, const lp_tensor* da, const lp_tensor* db, const lp_tensor* dw);

/* Projection bias (Qwen2 q/k/v biases, LLaMA attention_bias/mlp_bias), applied after
 * lp_op_lora_linear_forward with the same mask, so the biased projection is
 *   y = (x W^T + scale * (drop(x) A^T) B^T + bias) (.) mask       (masked outputs stay exactly 0)
 * bias_add:      y[n,o] += bias[o] * mask[o]
 *                y (N,OUT) act (+=; a bf16 y is read, added to and rounded again); bias (OUT) f32|bf16;
 *                mask (OUT) f32 (nullable = all ones).
 * bias_backward: dbias[o] += mask[o] * sum_n dy[n,o]   (deterministic: no atomics, a fixed order)
 *                dy (N,OUT) f32; mask (OUT) f32 (nullable = all ones); dbias (OUT) f32 (+=).
 * The bias does not change dx: lp_op_lora_linear_backward with the same dy and mask gives it. */
LP_API lp_status lp_op_bias_add(lp_context_t ctx, const lp_tensor* y, const lp_tensor* bias, const lp_tensor* mask);
LP_API lp_status lp_op_bias_backward(lp_context_t ctx, const lp_tensor* dy, const lp_tensor* mask, const lp_tensor* dbias);

/* Fused softmax + cross-entropy over the vocabulary. logits (N,V) f32, targets (N) i32.
 * losses (N) f32 (=): lse - logits[n, target] (0 where target == ignore_index); lse (N) f32 (=).
 * A target outside [0,V) that is not ignore_index is LP_ERR_INVALID_ARGUMENT. */
LP_API lp_status lp_op_cross_entropy_forward(lp_context_t ctx, const lp_tensor* logits, const lp_tensor* targets, int32_t ignore_index, const lp_tensor* losses, const lp_tensor* lse);
/* dlogits[n,:] = dloss * (softmax(logits[n,:]) - onehot(target[n])), 0 rows where ignored; dloss is
 * dL/dlosses[n] for every row (1/count for a mean). dlogits (N,V) f32 (=); may alias logits. */
LP_API lp_status lp_op_cross_entropy_backward(lp_context_t ctx, const lp_tensor* logits, const lp_tensor* targets, const lp_tensor* lse, int32_t ignore_index, float dloss, const lp_tensor* dlogits);
/* Both in one pass over the logits (ABI 1.4): losses, lse (N) (=) as lp_op_cross_entropy_forward and dlogits (N,V)
 * (=) as lp_op_cross_entropy_backward with the same dloss, each row's exponentials computed once. The training step's
 * loss head: a chunk of rows of logits becomes its gradient while it is still in cache. dlogits may alias logits. */
LP_API lp_status lp_op_cross_entropy_forward_backward(lp_context_t ctx, const lp_tensor* logits, const lp_tensor* targets, int32_t ignore_index, float dloss, const lp_tensor* losses, const lp_tensor* lse, const lp_tensor* dlogits);

/* AdamW (PyTorch semantics, decoupled weight decay, bias correction at 1-based `step`):
 *   p -= lr*wd*p; m = b1 m + (1-b1) g; v = b2 v + (1-b2) g^2;
 *   p -= lr * (m/(1-b1^step)) / (sqrt(v/(1-b2^step)) + eps)
 * param, grad, m, v: same shape f32 (param, m, v updated in place). Sweeps a whole arena at once. */
LP_API lp_status lp_op_adamw_step(lp_context_t ctx, const lp_tensor* param, const lp_tensor* grad, const lp_tensor* m, const lp_tensor* v, float lr, float beta1, float beta2, float eps, float weight_decay, int64_t step);

/* Global gradient norm: sumsq (1) f32 (+=) sum of squares of grad (any shape f32), accumulated in
 * at least double precision internally. Call once per gradient arena. */
LP_API lp_status lp_op_grad_norm_accumulate(lp_context_t ctx, const lp_tensor* grad, const lp_tensor* sumsq);
/* grad *= min(1, max_norm / (sqrt(sumsq) + 1e-6)) in place (PyTorch clip_grad_norm_). sumsq (1)
 * f32 stays on the device: no host round trip. */
LP_API lp_status lp_op_grad_clip(lp_context_t ctx, const lp_tensor* grad, const lp_tensor* sumsq, float max_norm);

/* Importance of one adapted linear (docs/method.md §2.2), fused: never materialises an (OUT,IN) matrix.
 *   W' = W + scale * B A                      (W' = W when a/b are NULL)
 *   G  = gB A + B gA - gB gA                  mode LP_IMPORTANCE_LORA
 *   G  = gW                                   mode LP_IMPORTANCE_GRAD
 *   G  = 1                                    mode LP_IMPORTANCE_MAGNITUDE
 *   S  = |G (.) W'|
 *   acc[i] += sum_j S[i,j]   (axis 0: per output row, acc (OUT))
 *   acc[j] += sum_i S[i,j]   (axis 1: per input column, acc (IN); o_proj and down_proj)
 * w (OUT,IN) f32|bf16; a, ga (R,IN), b, gb (OUT,R) f32; gw (OUT,IN) f32 (GRAD mode only, else NULL);
 * ga, gb (LORA mode only, else NULL; LORA mode also needs a, b); acc f32 (+=). */
typedef enum lp_importance_mode { LP_IMPORTANCE_LORA = 0, LP_IMPORTANCE_GRAD = 1, LP_IMPORTANCE_MAGNITUDE = 2 } lp_importance_mode;
LP_API lp_status lp_op_importance_accumulate(lp_context_t ctx, const lp_tensor* w, const lp_tensor* a, const lp_tensor* b, const lp_tensor* ga, const lp_tensor* gb, const lp_tensor* gw, float scale, int32_t mode, int32_t axis, const lp_tensor* acc);
/* Group sum + per-module L2 normalisation (docs/method.md §2.3):
 *   g[k] = sum_{i<group_size} v[k*group_size + i];   out[k] += g[k] / (||g||_2 + 1e-8)
 * v (n) f32, n a multiple of group_size; out (n/group_size) f32 (+=). */
LP_API lp_status lp_op_importance_group_normalize(lp_context_t ctx, const lp_tensor* v, int64_t group_size, const lp_tensor* out);
/* Moving average with the all-or-nothing NaN guard (docs/method.md §2.5): if any element of fresh is
 * NaN, nothing changes and *out_applied = 0; else ema = decay*ema + (1-decay)*fresh and
 * *out_applied = 1. ema, fresh (n) f32; out_applied is a host pointer (the call synchronises). */
LP_API lp_status lp_op_importance_ema(lp_context_t ctx, const lp_tensor* ema, const lp_tensor* fresh, float decay, int32_t* out_applied);

/* Compaction gathers (no backward: they are applied between steps, never differentiated).
 * gather_rows: dst[k,:] = src[idx[k],:]   src (R,C), idx (K) i32 in [0,R), dst (K,C) (=)
 * gather_cols: dst[:,k] = src[:,idx[k]]   src (R,C), idx (K) i32 in [0,C), dst (R,K) (=)
 * Any dtype; src and dst have the same dtype. A 1-D src (R) is treated as (R,1). */
LP_API lp_status lp_op_gather_rows(lp_context_t ctx, const lp_tensor* src, const lp_tensor* idx, const lp_tensor* dst);
LP_API lp_status lp_op_gather_cols(lp_context_t ctx, const lp_tensor* src, const lp_tensor* idx, const lp_tensor* dst);

/* LoRA merge: w += scale * B A, computed in f32 and rounded once to w's dtype.
 * w (OUT,IN) f32|bf16 (+=), a (R,IN) f32, b (OUT,R) f32. */
LP_API lp_status lp_op_lora_merge(lp_context_t ctx, const lp_tensor* w, const lp_tensor* a, const lp_tensor* b, float scale);

/* Elementwise helpers of the model engine.
 * add:     out = a + b           same shape f32; out may alias a or b.
 * mul:     out = a * b           same shape f32, elementwise; out may alias a or b (ABI 1.2: masks a
 *                                score vector before importance_group_normalize).
 * axpy:    y += alpha * x        same shape f32.
 * convert: dst = src            same shape, any float dtype to any float dtype (round to nearest even). */
LP_API lp_status lp_op_add(lp_context_t ctx, const lp_tensor* a, const lp_tensor* b, const lp_tensor* out);
LP_API lp_status lp_op_mul(lp_context_t ctx, const lp_tensor* a, const lp_tensor* b, const lp_tensor* out);
LP_API lp_status lp_op_axpy(lp_context_t ctx, float alpha, const lp_tensor* x, const lp_tensor* y);
LP_API lp_status lp_op_convert(lp_context_t ctx, const lp_tensor* src, const lp_tensor* dst);

#ifdef __cplusplus
}
#endif

#endif /* LORAPRUNE_LP_H */

// backend.h — what one backend implements. Every library links the API layer (src/api) with
// exactly one implementation of these functions: src/cpu, or src/cuda (built by nvcc for
// loraprune_cuda and by the host compiler against src/cudaemu for loraprune_cudaemu).
// The API layer has already validated shapes, dtypes, contiguity, aliasing rules and buffer
// bounds of every argument; a backend only checks what needs the data (ids out of range, ...).
// Errors are thrown as lp::Error (lp::fail); the API layer converts them to an lp_status.
#pragma once

#include "lp_internal.h"

#include <string>

namespace lp::backend {

// ---- library, devices, memory ---------------------------------------------------------------
lp_backend_kind kind();
std::string build_info();  // backend-specific "key=value" lines (compiler, cuda, sm list, blas)
int device_count();
void device_info(int device, lp_device_info* out);  // struct_size already checked

void context_init(lp_context* ctx);     // sets ctx->backend (stream, handles)
void context_destroy(lp_context* ctx);  // frees ctx->backend; buffers are already freed
void synchronize(lp_context* ctx);
void set_emulation_order(lp_context* ctx, int32_t order, uint64_t seed);
void set_emulation_knockout(lp_context* ctx, const char* file, int32_t line);  // file nullptr: none
std::string take_emulation_barrier_sites(lp_context* ctx);  // lp.h's text

void* device_alloc(lp_context* ctx, size_t bytes);  // nullptr when out of memory; 256-byte aligned
void device_free(lp_context* ctx, void* ptr);       // synchronizes first on device backends
void copy_h2d(lp_context* ctx, void* dst, const void* src, size_t bytes);
void copy_d2h(lp_context* ctx, void* dst, const void* src, size_t bytes);  // synchronous
void copy_d2d(lp_context* ctx, void* dst, const void* src, size_t bytes);
void fill(lp_context* ctx, void* dst, size_t bytes, const void* pattern, uint32_t pattern_size);

// ---- ops (same meaning as lp.h; nullable arguments are pointers) ----------------------------
void embedding_forward(lp_context* ctx, const lp_tensor& table, const lp_tensor& ids, const lp_tensor& out);
void embedding_backward(lp_context* ctx, const lp_tensor& dout, const lp_tensor& ids, const lp_tensor& dtable);

void rmsnorm_forward(lp_context* ctx, const lp_tensor& x, const lp_tensor& weight, float eps, const lp_tensor& y, const lp_tensor& rstd);
void rmsnorm_backward(lp_context* ctx, const lp_tensor& dy, const lp_tensor& x, const lp_tensor& weight, const lp_tensor& rstd, const lp_tensor& dx, const lp_tensor* dweight);

void rope_forward(lp_context* ctx, const lp_tensor& x, const lp_tensor& y, const lp_tensor* inv_freq, float theta, int64_t pos_offset);
void rope_backward(lp_context* ctx, const lp_tensor& dy, const lp_tensor& dx, const lp_tensor* inv_freq, float theta, int64_t pos_offset);

void gemm(lp_context* ctx, const lp_tensor& a, const lp_tensor& b, const lp_tensor& c, bool trans_a, bool trans_b, float alpha, float beta);

void attention_forward(lp_context* ctx, const lp_tensor& q, const lp_tensor& k, const lp_tensor& v, float scale, const lp_tensor& out, const lp_tensor& lse);
void attention_backward(lp_context* ctx, const lp_tensor& q, const lp_tensor& k, const lp_tensor& v, const lp_tensor& out, const lp_tensor& lse, const lp_tensor& dout, float scale, const lp_tensor& dq, const lp_tensor& dk, const lp_tensor& dv);

void swiglu_forward(lp_context* ctx, const lp_tensor& gate, const lp_tensor& up, const lp_tensor& out);
void swiglu_backward(lp_context* ctx, const lp_tensor& dout, const lp_tensor& gate, const lp_tensor& up, const lp_tensor& dgate, const lp_tensor& dup);

void dropout(lp_context* ctx, const lp_tensor& x, const lp_tensor& y, float p, uint64_t seed, uint64_t offset);

void lora_linear_forward(lp_context* ctx, const lp_tensor& x, const lp_tensor& w, const lp_tensor* a, const lp_tensor* b, const lp_tensor* mask, float scale, float dropout_p, uint64_t seed, uint64_t offset, const lp_tensor& y, const lp_tensor* xa);
void lora_linear_backward(lp_context* ctx, const lp_tensor& dy, const lp_tensor& x, const lp_tensor& w, const lp_tensor* a, const lp_tensor* b, const lp_tensor* mask, const lp_tensor* xa, float scale, float dropout_p, uint64_t seed, uint64_t offset, const lp_tensor* dx, const lp_tensor* da, const lp_tensor* db, const lp_tensor* dw);

void bias_add(lp_context* ctx, const lp_tensor& y, const lp_tensor& bias, const lp_tensor* mask);
void bias_backward(lp_context* ctx, const lp_tensor& dy, const lp_tensor* mask, const lp_tensor& dbias);

void cross_entropy_forward(lp_context* ctx, const lp_tensor& logits, const lp_tensor& targets, int32_t ignore_index, const lp_tensor& losses, const lp_tensor& lse);
void cross_entropy_backward(lp_context* ctx, const lp_tensor& logits, const lp_tensor& targets, const lp_tensor& lse, int32_t ignore_index, float dloss, const lp_tensor& dlogits);
void cross_entropy_forward_backward(lp_context* ctx, const lp_tensor& logits, const lp_tensor& targets, int32_t ignore_index, float dloss, const lp_tensor& losses,
                                    const lp_tensor& lse, const lp_tensor& dlogits);

void adamw_step(lp_context* ctx, const lp_tensor& param, const lp_tensor& grad, const lp_tensor& m, const lp_tensor& v, float lr, float beta1, float beta2, float eps, float weight_decay, int64_t step);
void grad_norm_accumulate(lp_context* ctx, const lp_tensor& grad, const lp_tensor& sumsq);
void grad_clip(lp_context* ctx, const lp_tensor& grad, const lp_tensor& sumsq, float max_norm);

void importance_accumulate(lp_context* ctx, const lp_tensor& w, const lp_tensor* a, const lp_tensor* b, const lp_tensor* ga, const lp_tensor* gb, const lp_tensor* gw, float scale, int32_t mode, int32_t axis, const lp_tensor& acc);
void importance_group_normalize(lp_context* ctx, const lp_tensor& v, int64_t group_size, const lp_tensor& out);
bool importance_ema(lp_context* ctx, const lp_tensor& ema, const lp_tensor& fresh, float decay);  // returns applied

void gather_rows(lp_context* ctx, const lp_tensor& src, const lp_tensor& idx, const lp_tensor& dst);
void gather_cols(lp_context* ctx, const lp_tensor& src, const lp_tensor& idx, const lp_tensor& dst);

void lora_merge(lp_context* ctx, const lp_tensor& w, const lp_tensor& a, const lp_tensor& b, float scale);

void add(lp_context* ctx, const lp_tensor& a, const lp_tensor& b, const lp_tensor& out);
void mul(lp_context* ctx, const lp_tensor& a, const lp_tensor& b, const lp_tensor& out);
void axpy(lp_context* ctx, float alpha, const lp_tensor& x, const lp_tensor& y);
void convert(lp_context* ctx, const lp_tensor& src, const lp_tensor& dst);

}  // namespace lp::backend

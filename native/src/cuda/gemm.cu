// gemm.cu — batched GEMM of the CUDA backend on cuBLAS. lp.h's GEMM is row-major,
//   C[b] = alpha * op(A[b]) * op(B[b]) + beta * C[b],
// and cuBLAS is column-major. A row-major (rows, cols) matrix with row stride ld is the
// column-major (cols, rows) matrix with leading dimension ld, i.e. its transpose, so the call is
//   C^T = alpha * op(B)^T * op(A)^T + beta * C^T
// with the operands swapped and each keeping its own transpose flag. Batch strides are st[0] of
// 3-D operands (0 broadcasts a 2-D operand or a 3-D one with stride 0 over C's batch).
// f32 operands use CUBLAS_COMPUTE_32F (never TF32) so results match fp32 references; bf16
// operands (frozen base weights) accumulate in f32 as well; C is always f32.
#include "cuda_common.cuh"

#include <climits>
#include <string>

namespace lp::cuda {
namespace {

// Rows, columns, leading dimension and batch stride of a 2-D or 3-D row-major operand.
struct Matrix {
    int64_t rows, cols, ld, batch_stride, batch;
};

Matrix matrix(const lp_tensor& t) {
    const int d = t.ndim;
    return {t.ne[d - 2], t.ne[d - 1], t.st[d - 2], d == 3 ? t.st[0] : 0, d == 3 ? t.ne[0] : 1};
}

int as_int(int64_t v, const char* what) {
    if (v > INT_MAX) fail(LP_ERR_UNSUPPORTED, std::string(what) + "=" + std::to_string(v) + " exceeds cuBLAS's 32-bit sizes");
    return static_cast<int>(v);
}

}  // namespace
}  // namespace lp::cuda

namespace lp::backend {

using namespace lp::cuda;

void gemm(lp_context* ctx, const lp_tensor& a, const lp_tensor& b, const lp_tensor& c, bool trans_a, bool trans_b, float alpha, float beta) {
    const Matrix A = matrix(a), B = matrix(b), C = matrix(c);
    const int m = as_int(C.cols, "C.cols");  // rows of C^T
    const int n = as_int(C.rows, "C.rows");  // columns of C^T
    const int k = as_int(trans_a ? A.rows : A.cols, "K");
    const cudaDataType_t ab_type = a.dtype == LP_BF16 ? CUDA_R_16BF : CUDA_R_32F;
    LP_CUBLAS_CHECK(cublasGemmStridedBatchedEx(state(ctx).blas, trans_b ? CUBLAS_OP_T : CUBLAS_OP_N, trans_a ? CUBLAS_OP_T : CUBLAS_OP_N, m, n, k, &alpha, b.data, ab_type,
                                               as_int(B.ld, "B.ld"), B.batch_stride, a.data, ab_type, as_int(A.ld, "A.ld"), A.batch_stride, &beta, c.data, CUDA_R_32F,
                                               as_int(C.ld, "C.ld"), C.batch_stride, as_int(C.batch, "batch"), CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT));
}

}  // namespace lp::backend

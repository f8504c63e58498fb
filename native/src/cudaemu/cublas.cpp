// cublas.cpp — the cuBLAS subset of the CUDA emulator on the host BLAS. cuBLAS's argument checks are
// repeated exactly (so a call the emulator accepts is one cuBLAS accepts); 16-bit operands and
// inputs of reduced-precision compute types are converted to f32 (rounded as the tensor cores
// round them) and multiplied with cblas_sgemm in cuBLAS's column-major convention.
#include "internal.h"

#include <cblas.h>

#include <mutex>
#include <set>
#include <vector>

struct cublasContext {
    cudaStream_t stream;
    cublasMath_t math;
    cublasPointerMode_t pointer_mode;
};

namespace {

struct Handles {
    std::mutex mutex;
    std::set<cublasContext*> live;
};

Handles& handles() {
    static Handles* h = new Handles();  // outlives every static destructor that may destroy a handle
    return *h;
}

bool valid(cublasHandle_t handle) {
    Handles& h = handles();
    std::lock_guard<std::mutex> lock(h.mutex);
    return handle && h.live.count(handle) != 0;
}

// How the f32 inputs of a GEMM are rounded before the multiplication.
enum class Rounding { none, tf32, bf16, f16 };

float round_tf32(float x) {
    uint32_t u = lp::float_bits(x);
    if ((u & 0x7f800000u) == 0x7f800000u) return x;  // inf and nan stay
    u += 0xfffu + ((u >> 13) & 1u);                   // nearest even at 10 mantissa bits
    return lp::bits_float(u & ~0x1fffu);
}

float round_input(float x, Rounding r) {
    switch (r) {
        case Rounding::none: return x;
        case Rounding::tf32: return round_tf32(x);
        case Rounding::bf16: return lp::bf16_to_f32(lp::f32_to_bf16(x));
        case Rounding::f16: return lp::f16_to_f32(lp::f32_to_f16(x));
    }
    return x;
}

size_t element_size(cudaDataType_t t) { return t == CUDA_R_32F ? 4 : 2; }

float load(const void* p, cudaDataType_t t, int64_t i) {
    if (t == CUDA_R_32F) return static_cast<const float*>(p)[i];
    const uint16_t h = static_cast<const uint16_t*>(p)[i];
    return t == CUDA_R_16BF ? lp::bf16_to_f32(h) : lp::f16_to_f32(h);
}

void store(void* p, cudaDataType_t t, int64_t i, float v) {
    if (t == CUDA_R_32F) {
        static_cast<float*>(p)[i] = v;
        return;
    }
    static_cast<uint16_t*>(p)[i] = t == CUDA_R_16BF ? lp::f32_to_bf16(v) : lp::f32_to_f16(v);
}

// Packs the column-major rows x cols matrix at p (leading dimension ld) as f32 with ld = rows.
void to_f32(const void* p, cudaDataType_t t, int rows, int cols, int ld, Rounding r, std::vector<float>& out) {
    out.resize(static_cast<size_t>(rows) * cols);
    for (int64_t j = 0; j < cols; ++j)
        for (int64_t i = 0; i < rows; ++i) out[static_cast<size_t>(j * rows + i)] = round_input(load(p, t, j * ld + i), r);
}

bool is_16bit(cudaDataType_t t) { return t == CUDA_R_16F || t == CUDA_R_16BF; }

// The type and compute combinations of cublasGemmEx that the emulator implements (all of cuBLAS's
// for f32/f16/bf16 operands with an f32 compute type); sets the rounding of f32 inputs.
bool supported(cudaDataType_t at, cudaDataType_t bt, cudaDataType_t ct, cublasComputeType_t compute, cublasMath_t math, Rounding* rounding) {
    if (at != bt) return false;
    *rounding = Rounding::none;
    switch (compute) {
        case CUBLAS_COMPUTE_32F:
            if (at == CUDA_R_32F && ct == CUDA_R_32F) {
                if (math == CUBLAS_TF32_TENSOR_OP_MATH) *rounding = Rounding::tf32;
                return true;
            }
            return is_16bit(at) && (ct == CUDA_R_32F || ct == at);
        case CUBLAS_COMPUTE_32F_PEDANTIC: return (at == CUDA_R_32F && ct == CUDA_R_32F) || (is_16bit(at) && (ct == CUDA_R_32F || ct == at));
        case CUBLAS_COMPUTE_32F_FAST_TF32: *rounding = Rounding::tf32; return at == CUDA_R_32F && ct == CUDA_R_32F;
        case CUBLAS_COMPUTE_32F_FAST_16BF: *rounding = Rounding::bf16; return at == CUDA_R_32F && ct == CUDA_R_32F;
        case CUBLAS_COMPUTE_32F_FAST_16F: *rounding = Rounding::f16; return at == CUDA_R_32F && ct == CUDA_R_32F;
        case CUBLAS_COMPUTE_16F:
        case CUBLAS_COMPUTE_64F: return false;
    }
    return false;
}

bool known_type(cudaDataType_t t) { return t == CUDA_R_32F || t == CUDA_R_16F || t == CUDA_R_16BF; }

// Scratch of the calling thread, kept between calls.
thread_local std::vector<float> t_a, t_b, t_c;

cublasStatus_t gemm(cublasHandle_t handle, cublasOperation_t transa, cublasOperation_t transb, int m, int n, int k, const void* alpha_p,
                    const void* A, cudaDataType_t at, int lda, long long stride_a, const void* B, cudaDataType_t bt, int ldb, long long stride_b,
                    const void* beta_p, void* C, cudaDataType_t ct, int ldc, long long stride_c, int batch, cublasComputeType_t compute) {
    if (!valid(handle)) return CUBLAS_STATUS_NOT_INITIALIZED;
    const bool ta = transa != CUBLAS_OP_N, tb = transb != CUBLAS_OP_N;  // CUBLAS_OP_C is OP_T for real types
    if (static_cast<int>(transa) < CUBLAS_OP_N || static_cast<int>(transa) > CUBLAS_OP_C || static_cast<int>(transb) < CUBLAS_OP_N ||
        static_cast<int>(transb) > CUBLAS_OP_C)
        return CUBLAS_STATUS_INVALID_VALUE;
    if (m < 0 || n < 0 || k < 0 || batch < 0) return CUBLAS_STATUS_INVALID_VALUE;
    const int a_rows = ta ? k : m, a_cols = ta ? m : k;  // A as stored
    const int b_rows = tb ? n : k, b_cols = tb ? k : n;
    if (lda < (a_rows > 1 ? a_rows : 1) || ldb < (b_rows > 1 ? b_rows : 1) || ldc < (m > 1 ? m : 1)) return CUBLAS_STATUS_INVALID_VALUE;
    if (!known_type(at) || !known_type(bt) || !known_type(ct)) return CUBLAS_STATUS_NOT_SUPPORTED;
    Rounding rounding = Rounding::none;
    if (!supported(at, bt, ct, compute, handle->math, &rounding)) return CUBLAS_STATUS_NOT_SUPPORTED;
    if (m == 0 || n == 0 || batch == 0) return CUBLAS_STATUS_SUCCESS;
    if (!alpha_p || !beta_p || !C || (k > 0 && (!A || !B))) return CUBLAS_STATUS_INVALID_VALUE;
    const float alpha = *static_cast<const float*>(alpha_p);  // device memory is host memory: both pointer modes read alike
    const float beta = *static_cast<const float*>(beta_p);

    for (int64_t p = 0; p < batch; ++p) {
        void* c = static_cast<unsigned char*>(C) + p * stride_c * static_cast<int64_t>(element_size(ct));
        if (k == 0 || alpha == 0.0f) {  // C = beta C, and C is not read when beta is 0
            for (int64_t j = 0; j < n; ++j)
                for (int64_t i = 0; i < m; ++i) store(c, ct, j * ldc + i, beta == 0.0f ? 0.0f : beta * load(c, ct, j * ldc + i));
            continue;
        }
        const void* a = static_cast<const unsigned char*>(A) + p * stride_a * static_cast<int64_t>(element_size(at));
        const void* b = static_cast<const unsigned char*>(B) + p * stride_b * static_cast<int64_t>(element_size(bt));
        const float* af = static_cast<const float*>(a);
        const float* bf = static_cast<const float*>(b);
        int lda_f = lda, ldb_f = ldb;
        if (at != CUDA_R_32F || rounding != Rounding::none) {
            to_f32(a, at, a_rows, a_cols, lda, rounding, t_a);
            af = t_a.data();
            lda_f = a_rows;
        }
        if (bt != CUDA_R_32F || rounding != Rounding::none) {
            to_f32(b, bt, b_rows, b_cols, ldb, rounding, t_b);
            bf = t_b.data();
            ldb_f = b_rows;
        }
        const CBLAS_TRANSPOSE cta = ta ? CblasTrans : CblasNoTrans, ctb = tb ? CblasTrans : CblasNoTrans;
        if (ct == CUDA_R_32F) {
            cblas_sgemm(CblasColMajor, cta, ctb, m, n, k, alpha, af, lda_f, bf, ldb_f, beta, static_cast<float*>(c), ldc);
            continue;
        }
        t_c.resize(static_cast<size_t>(m) * n);
        if (beta != 0.0f) {
            for (int64_t j = 0; j < n; ++j)
                for (int64_t i = 0; i < m; ++i) t_c[static_cast<size_t>(j * m + i)] = load(c, ct, j * ldc + i);
        }
        cblas_sgemm(CblasColMajor, cta, ctb, m, n, k, alpha, af, lda_f, bf, ldb_f, beta, t_c.data(), m);
        for (int64_t j = 0; j < n; ++j)
            for (int64_t i = 0; i < m; ++i) store(c, ct, j * ldc + i, t_c[static_cast<size_t>(j * m + i)]);
    }
    return CUBLAS_STATUS_SUCCESS;
}

}  // namespace

cublasStatus_t cublasCreate(cublasHandle_t* handle) {
    if (!handle) return CUBLAS_STATUS_INVALID_VALUE;
    auto* h = new cublasContext{nullptr, CUBLAS_DEFAULT_MATH, CUBLAS_POINTER_MODE_HOST};
    Handles& r = handles();
    std::lock_guard<std::mutex> lock(r.mutex);
    r.live.insert(h);
    *handle = h;
    return CUBLAS_STATUS_SUCCESS;
}

cublasStatus_t cublasDestroy(cublasHandle_t handle) {
    Handles& r = handles();
    {
        std::lock_guard<std::mutex> lock(r.mutex);
        if (!handle || r.live.erase(handle) == 0) return CUBLAS_STATUS_NOT_INITIALIZED;
    }
    delete handle;
    return CUBLAS_STATUS_SUCCESS;
}

cublasStatus_t cublasSetStream(cublasHandle_t handle, cudaStream_t stream) {
    if (!valid(handle)) return CUBLAS_STATUS_NOT_INITIALIZED;
    if (!cudaemu::detail::stream_is_valid(stream)) return CUBLAS_STATUS_INVALID_VALUE;
    handle->stream = stream;
    return CUBLAS_STATUS_SUCCESS;
}

cublasStatus_t cublasGetStream(cublasHandle_t handle, cudaStream_t* stream) {
    if (!valid(handle)) return CUBLAS_STATUS_NOT_INITIALIZED;
    if (!stream) return CUBLAS_STATUS_INVALID_VALUE;
    *stream = handle->stream;
    return CUBLAS_STATUS_SUCCESS;
}

cublasStatus_t cublasSetMathMode(cublasHandle_t handle, cublasMath_t mode) {
    if (!valid(handle)) return CUBLAS_STATUS_NOT_INITIALIZED;
    if (mode != CUBLAS_DEFAULT_MATH && mode != CUBLAS_TENSOR_OP_MATH && mode != CUBLAS_PEDANTIC_MATH && mode != CUBLAS_TF32_TENSOR_OP_MATH)
        return CUBLAS_STATUS_INVALID_VALUE;
    handle->math = mode;
    return CUBLAS_STATUS_SUCCESS;
}

cublasStatus_t cublasGetMathMode(cublasHandle_t handle, cublasMath_t* mode) {
    if (!valid(handle)) return CUBLAS_STATUS_NOT_INITIALIZED;
    if (!mode) return CUBLAS_STATUS_INVALID_VALUE;
    *mode = handle->math;
    return CUBLAS_STATUS_SUCCESS;
}

cublasStatus_t cublasSetPointerMode(cublasHandle_t handle, cublasPointerMode_t mode) {
    if (!valid(handle)) return CUBLAS_STATUS_NOT_INITIALIZED;
    if (mode != CUBLAS_POINTER_MODE_HOST && mode != CUBLAS_POINTER_MODE_DEVICE) return CUBLAS_STATUS_INVALID_VALUE;
    handle->pointer_mode = mode;
    return CUBLAS_STATUS_SUCCESS;
}

cublasStatus_t cublasGetPointerMode(cublasHandle_t handle, cublasPointerMode_t* mode) {
    if (!valid(handle)) return CUBLAS_STATUS_NOT_INITIALIZED;
    if (!mode) return CUBLAS_STATUS_INVALID_VALUE;
    *mode = handle->pointer_mode;
    return CUBLAS_STATUS_SUCCESS;
}

cublasStatus_t cublasSetWorkspace(cublasHandle_t handle, void* workspace, size_t bytes) {
    if (!valid(handle)) return CUBLAS_STATUS_NOT_INITIALIZED;
    if (!workspace && bytes > 0) return CUBLAS_STATUS_INVALID_VALUE;
    return CUBLAS_STATUS_SUCCESS;
}

const char* cublasGetStatusName(cublasStatus_t status) {
    switch (status) {
        case CUBLAS_STATUS_SUCCESS: return "CUBLAS_STATUS_SUCCESS";
        case CUBLAS_STATUS_NOT_INITIALIZED: return "CUBLAS_STATUS_NOT_INITIALIZED";
        case CUBLAS_STATUS_ALLOC_FAILED: return "CUBLAS_STATUS_ALLOC_FAILED";
        case CUBLAS_STATUS_INVALID_VALUE: return "CUBLAS_STATUS_INVALID_VALUE";
        case CUBLAS_STATUS_ARCH_MISMATCH: return "CUBLAS_STATUS_ARCH_MISMATCH";
        case CUBLAS_STATUS_MAPPING_ERROR: return "CUBLAS_STATUS_MAPPING_ERROR";
        case CUBLAS_STATUS_EXECUTION_FAILED: return "CUBLAS_STATUS_EXECUTION_FAILED";
        case CUBLAS_STATUS_INTERNAL_ERROR: return "CUBLAS_STATUS_INTERNAL_ERROR";
        case CUBLAS_STATUS_NOT_SUPPORTED: return "CUBLAS_STATUS_NOT_SUPPORTED";
        case CUBLAS_STATUS_LICENSE_ERROR: return "CUBLAS_STATUS_LICENSE_ERROR";
    }
    return "CUBLAS_STATUS_UNKNOWN";
}

const char* cublasGetStatusString(cublasStatus_t status) {
    switch (status) {
        case CUBLAS_STATUS_SUCCESS: return "success";
        case CUBLAS_STATUS_NOT_INITIALIZED: return "the library was not initialized";
        case CUBLAS_STATUS_ALLOC_FAILED: return "the resource allocation failed";
        case CUBLAS_STATUS_INVALID_VALUE: return "an invalid numeric value was used as an argument";
        case CUBLAS_STATUS_ARCH_MISMATCH: return "an absent device architectural feature is required";
        case CUBLAS_STATUS_MAPPING_ERROR: return "an access to GPU memory space failed";
        case CUBLAS_STATUS_EXECUTION_FAILED: return "the GPU program failed to execute";
        case CUBLAS_STATUS_INTERNAL_ERROR: return "an internal operation failed";
        case CUBLAS_STATUS_NOT_SUPPORTED: return "the functionality requested is not supported";
        case CUBLAS_STATUS_LICENSE_ERROR: return "error detected trying to check the license";
    }
    return "unknown error";
}

cublasStatus_t cublasGemmEx(cublasHandle_t handle, cublasOperation_t transa, cublasOperation_t transb, int m, int n, int k, const void* alpha,
                            const void* A, cudaDataType_t Atype, int lda, const void* B, cudaDataType_t Btype, int ldb, const void* beta, void* C,
                            cudaDataType_t Ctype, int ldc, cublasComputeType_t computeType, cublasGemmAlgo_t algo) {
    (void)algo;  // every algorithm computes the same product
    return gemm(handle, transa, transb, m, n, k, alpha, A, Atype, lda, 0, B, Btype, ldb, 0, beta, C, Ctype, ldc, 0, 1, computeType);
}

cublasStatus_t cublasGemmStridedBatchedEx(cublasHandle_t handle, cublasOperation_t transa, cublasOperation_t transb, int m, int n, int k,
                                          const void* alpha, const void* A, cudaDataType_t Atype, int lda, long long int strideA, const void* B,
                                          cudaDataType_t Btype, int ldb, long long int strideB, const void* beta, void* C, cudaDataType_t Ctype,
                                          int ldc, long long int strideC, int batchCount, cublasComputeType_t computeType, cublasGemmAlgo_t algo) {
    (void)algo;
    return gemm(handle, transa, transb, m, n, k, alpha, A, Atype, lda, strideA, B, Btype, ldb, strideB, beta, C, Ctype, ldc, strideC, batchCount,
                computeType);
}

cublasStatus_t cublasSgemm(cublasHandle_t handle, cublasOperation_t transa, cublasOperation_t transb, int m, int n, int k, const float* alpha,
                           const float* A, int lda, const float* B, int ldb, const float* beta, float* C, int ldc) {
    return gemm(handle, transa, transb, m, n, k, alpha, A, CUDA_R_32F, lda, 0, B, CUDA_R_32F, ldb, 0, beta, C, CUDA_R_32F, ldc, 0, 1,
                CUBLAS_COMPUTE_32F);
}

cublasStatus_t cublasSgemmStridedBatched(cublasHandle_t handle, cublasOperation_t transa, cublasOperation_t transb, int m, int n, int k,
                                         const float* alpha, const float* A, int lda, long long int strideA, const float* B, int ldb,
                                         long long int strideB, const float* beta, float* C, int ldc, long long int strideC, int batchCount) {
    return gemm(handle, transa, transb, m, n, k, alpha, A, CUDA_R_32F, lda, strideA, B, CUDA_R_32F, ldb, strideB, beta, C, CUDA_R_32F, ldc, strideC,
                batchCount, CUBLAS_COMPUTE_32F);
}

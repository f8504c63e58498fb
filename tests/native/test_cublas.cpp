// test_cublas.cpp — the cuBLAS subset of the CUDA emulator against a naive column-major loop in
// double: every transpose combination, leading dimensions larger than the rows, batch strides
// (including 0), f32/bf16/f16 operands, bf16 output, alpha/beta (beta = 0 ignores NaN in C), TF32
// rounding, and cuBLAS's argument errors.
#include "cudaemu_test.h"

#include <cmath>
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

using namespace cudaemu_test;

namespace {

uint64_t g_state = 12345;
float next_value() {
    g_state = g_state * 6364136223846793005ull + 1442695040888963407ull;
    return static_cast<float>(static_cast<int>((g_state >> 33) % 2001) - 1000) / 256.0f;
}

// A batch of column-major matrices of `rows` x `cols` (leading dimension ld, batch stride).
struct Mat {
    int rows, cols, ld;
    long long stride;
    int batch;
    std::vector<float> v;  // values as f32 (for 16-bit types, already rounded to the type)
    size_t elements() const { return static_cast<size_t>(stride * (batch - 1) + static_cast<long long>(ld) * (cols - 1) + rows); }
};

float round_to(float x, cudaDataType_t t) {
    if (t == CUDA_R_16BF) return lp::bf16_to_f32(lp::f32_to_bf16(x));
    if (t == CUDA_R_16F) return lp::f16_to_f32(lp::f32_to_f16(x));
    return x;
}

Mat make(int rows, int cols, int ld, long long stride, int batch, cudaDataType_t t) {
    Mat m{rows, cols, ld, stride, batch, {}};
    m.v.resize(m.elements());
    for (float& x : m.v) x = round_to(next_value(), t);
    return m;
}

// Device copy of a matrix in type t.
struct DevMat {
    DevMat(const Mat& m, cudaDataType_t t) : type(t), bytes(m.v.size() * (t == CUDA_R_32F ? 4 : 2)) {
        (void)cudaMalloc(&p, bytes);
        std::vector<unsigned char> host(bytes);
        for (size_t i = 0; i < m.v.size(); ++i) {
            if (t == CUDA_R_32F) {
                std::memcpy(&host[i * 4], &m.v[i], 4);
            } else {
                const uint16_t h = t == CUDA_R_16BF ? lp::f32_to_bf16(m.v[i]) : lp::f32_to_f16(m.v[i]);
                std::memcpy(&host[i * 2], &h, 2);
            }
        }
        (void)cudaMemcpy(p, host.data(), bytes, cudaMemcpyHostToDevice);
    }
    ~DevMat() { (void)cudaFree(p); }
    DevMat(const DevMat&) = delete;
    DevMat& operator=(const DevMat&) = delete;
    std::vector<float> read() const {
        std::vector<unsigned char> host(bytes);
        (void)cudaMemcpy(host.data(), p, bytes, cudaMemcpyDeviceToHost);
        std::vector<float> out(bytes / (type == CUDA_R_32F ? 4 : 2));
        for (size_t i = 0; i < out.size(); ++i) {
            if (type == CUDA_R_32F) {
                std::memcpy(&out[i], &host[i * 4], 4);
            } else {
                uint16_t h;
                std::memcpy(&h, &host[i * 2], 2);
                out[i] = type == CUDA_R_16BF ? lp::bf16_to_f32(h) : lp::f16_to_f32(h);
            }
        }
        return out;
    }
    void* p = nullptr;
    cudaDataType_t type;
    size_t bytes;
};

// C[b] = alpha op(A[b]) op(B[b]) + beta C[b] in double, column-major; entries of C outside the
// m x n matrices keep their values.
std::vector<double> reference(bool ta, bool tb, int m, int n, int k, float alpha, const Mat& A, const Mat& B, float beta, const Mat& C,
                              int batch) {
    std::vector<double> out(C.v.begin(), C.v.end());
    for (int b = 0; b < batch; ++b)
        for (int j = 0; j < n; ++j)
            for (int i = 0; i < m; ++i) {
                double s = 0.0;
                for (int p = 0; p < k; ++p) {
                    const double a = ta ? A.v[static_cast<size_t>(b * A.stride + i * A.ld + p)] : A.v[static_cast<size_t>(b * A.stride + p * A.ld + i)];
                    const double bb = tb ? B.v[static_cast<size_t>(b * B.stride + p * B.ld + j)] : B.v[static_cast<size_t>(b * B.stride + j * B.ld + p)];
                    s += a * bb;
                }
                const size_t c = static_cast<size_t>(b * C.stride + j * C.ld + i);
                out[c] = alpha * s + (beta == 0.0f ? 0.0 : beta * static_cast<double>(C.v[c]));
            }
    return out;
}

// Largest |got - want| / (1 + |want|).
double max_error(const std::vector<float>& got, const std::vector<double>& want) {
    double e = 0.0;
    for (size_t i = 0; i < got.size(); ++i) {
        const double d = std::fabs(static_cast<double>(got[i]) - want[i]) / (1.0 + std::fabs(want[i]));
        e = d > e || std::isnan(d) ? d : e;
    }
    return e;
}

// One strided-batched GEMM case checked against the reference; returns the error.
double run_case(cublasHandle_t h, bool ta, bool tb, int m, int n, int k, int extra_ld, int batch, bool broadcast_a, float alpha, float beta,
                cudaDataType_t ab, cudaDataType_t ct, bool nan_c) {
    const int a_rows = ta ? k : m, a_cols = ta ? m : k, b_rows = tb ? n : k, b_cols = tb ? k : n;
    const int lda = a_rows + extra_ld, ldb = b_rows + 2 * extra_ld, ldc = m + extra_ld;
    const long long sa = broadcast_a ? 0 : static_cast<long long>(lda) * a_cols + 3;
    const long long sb = static_cast<long long>(ldb) * b_cols + 1, sc = static_cast<long long>(ldc) * n + 5;
    const Mat A = make(a_rows, a_cols, lda, sa, broadcast_a ? 1 : batch, ab);
    const Mat B = make(b_rows, b_cols, ldb, sb, batch, ab);
    Mat C = make(m, n, ldc, sc, batch, ct);
    if (nan_c)
        for (float& x : C.v) x = NAN;
    const DevMat dA(A, ab), dB(B, ab), dC(C, ct);
    const cublasStatus_t st = cublasGemmStridedBatchedEx(h, ta ? CUBLAS_OP_T : CUBLAS_OP_N, tb ? CUBLAS_OP_T : CUBLAS_OP_N, m, n, k, &alpha, dA.p, ab, lda, sa,
                                                         dB.p, ab, ldb, sb, &beta, dC.p, ct, ldc, sc, batch, CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT);
    CHECK(st == CUBLAS_STATUS_SUCCESS);
    std::vector<double> want = reference(ta, tb, m, n, k, alpha, A, B, beta, C, batch);
    if (ct != CUDA_R_32F)
        for (size_t i = 0; i < want.size(); ++i)
            if (!std::isnan(want[i])) want[i] = round_to(static_cast<float>(want[i]), ct);
    const std::vector<float> got = dC.read();
    double e = 0.0;
    for (size_t i = 0; i < got.size(); ++i) {
        if (std::isnan(want[i])) {
            if (!std::isnan(got[i])) e = 1.0;  // padding between matrices keeps its NaN
            continue;
        }
        const double d = std::fabs(static_cast<double>(got[i]) - want[i]) / (1.0 + std::fabs(want[i]));
        e = d > e || std::isnan(d) ? d : e;
    }
    return e;
}

const char* type_name(cudaDataType_t t) { return t == CUDA_R_32F ? "f32" : (t == CUDA_R_16BF ? "bf16" : "f16"); }

}  // namespace

CUDAEMU_TEST(cublas_gemm) {
    cublasHandle_t h = nullptr;
    CHECK(cublasCreate(&h) == CUBLAS_STATUS_SUCCESS);
    cudaStream_t s = nullptr;
    CHECK_CUDA(cudaStreamCreate(&s));
    CHECK(cublasSetStream(h, s) == CUBLAS_STATUS_SUCCESS);
    cudaStream_t got_stream = nullptr;
    CHECK(cublasGetStream(h, &got_stream) == CUBLAS_STATUS_SUCCESS && got_stream == s);

    struct Types {
        cudaDataType_t ab, c;
        double tolerance;  // f32 accumulation of at most 13 products of exact inputs; 16-bit C: one rounding of the result
    };
    const Types types[] = {{CUDA_R_32F, CUDA_R_32F, 1e-5}, {CUDA_R_16BF, CUDA_R_32F, 1e-5}, {CUDA_R_16F, CUDA_R_32F, 1e-5},
                           {CUDA_R_16BF, CUDA_R_16BF, 1e-5}, {CUDA_R_16F, CUDA_R_16F, 1e-5}};
    struct Scalars {
        float alpha, beta;
        bool nan_c;
    };
    const Scalars scalars[] = {{1.0f, 0.0f, true}, {0.5f, -2.0f, false}, {0.0f, 1.5f, false}, {-1.25f, 1.0f, false}};
    int cases = 0;
    for (const Types& t : types)
        for (int ta = 0; ta < 2; ++ta)
            for (int tb = 0; tb < 2; ++tb)
                for (const Scalars& sc : scalars)
                    for (int variant = 0; variant < 3; ++variant) {
                        // variant 0: one 5x7x13 product, tight leading dimensions; 1: batch of 3 with
                        // padded leading dimensions; 2: batch of 4 with A broadcast (stride 0), k = 1.
                        const int m = variant == 2 ? 6 : 5, n = 7, k = variant == 2 ? 1 : 13;
                        const int batch = variant == 0 ? 1 : (variant == 1 ? 3 : 4);
                        const double e = run_case(h, ta != 0, tb != 0, m, n, k, variant == 1 ? 3 : 0, batch, variant == 2, sc.alpha, sc.beta, t.ab, t.c, sc.nan_c);
                        // A 16-bit C is rounded once: allow one unit in the last place of the type.
                        const double tol = t.c == CUDA_R_32F ? t.tolerance : (t.c == CUDA_R_16BF ? 1.0 / 128 : 1.0 / 1024);
                        CHECK_MSG(e <= tol, "%s x %s -> %s, op(A)=%c op(B)=%c, alpha %g beta %g, variant %d: error %g", type_name(t.ab), type_name(t.ab),
                                  type_name(t.c), ta ? 'T' : 'N', tb ? 'T' : 'N', static_cast<double>(sc.alpha), static_cast<double>(sc.beta), variant, e);
                        ++cases;
                    }
    NOTE("%d cublasGemmStridedBatchedEx cases (f32/bf16/f16 inputs, f32/bf16/f16 C, N/T x N/T, alpha/beta incl. beta=0 over NaN, "
         "ld > rows, batch strides incl. 0) match the column-major loop",
         cases);

    // cublasGemmEx and the Sgemm entry points on one case.
    {
        const int m = 9, n = 4, k = 6;
        const Mat A = make(k, m, k + 1, 0, 1, CUDA_R_32F), B = make(k, n, k, 0, 1, CUDA_R_32F);
        Mat C = make(m, n, m + 2, 0, 1, CUDA_R_32F);
        const float alpha = 0.75f, beta = 0.5f;
        const std::vector<double> want = reference(true, false, m, n, k, alpha, A, B, beta, C, 1);
        {
            const DevMat dA(A, CUDA_R_32F), dB(B, CUDA_R_32F), dC(C, CUDA_R_32F);
            CHECK(cublasGemmEx(h, CUBLAS_OP_T, CUBLAS_OP_N, m, n, k, &alpha, dA.p, CUDA_R_32F, k + 1, dB.p, CUDA_R_32F, k, &beta, dC.p, CUDA_R_32F, m + 2,
                               CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT_TENSOR_OP) == CUBLAS_STATUS_SUCCESS);
            CHECK(max_error(dC.read(), want) <= 1e-6);
        }
        {
            const DevMat dA(A, CUDA_R_32F), dB(B, CUDA_R_32F), dC(C, CUDA_R_32F);
            CHECK(cublasSgemm(h, CUBLAS_OP_T, CUBLAS_OP_N, m, n, k, &alpha, static_cast<const float*>(dA.p), k + 1, static_cast<const float*>(dB.p), k, &beta,
                              static_cast<float*>(dC.p), m + 2) == CUBLAS_STATUS_SUCCESS);
            CHECK(max_error(dC.read(), want) <= 1e-6);
        }
        {
            const DevMat dA(A, CUDA_R_32F), dB(B, CUDA_R_32F), dC(C, CUDA_R_32F);
            CHECK(cublasSgemmStridedBatched(h, CUBLAS_OP_T, CUBLAS_OP_N, m, n, k, &alpha, static_cast<const float*>(dA.p), k + 1, 0,
                                            static_cast<const float*>(dB.p), k, 0, &beta, static_cast<float*>(dC.p), m + 2, 0, 1) == CUBLAS_STATUS_SUCCESS);
            CHECK(max_error(dC.read(), want) <= 1e-6);
        }
        NOTE("cublasGemmEx, cublasSgemm, cublasSgemmStridedBatched agree with the loop");

        // k = 0: C = beta C.
        const DevMat dC(C, CUDA_R_32F);
        CHECK(cublasGemmEx(h, CUBLAS_OP_N, CUBLAS_OP_N, m, n, 0, &alpha, nullptr, CUDA_R_32F, m, nullptr, CUDA_R_32F, 1, &beta, dC.p, CUDA_R_32F, m + 2,
                           CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT) == CUBLAS_STATUS_SUCCESS);
        const std::vector<double> scaled = reference(false, false, m, n, 0, alpha, A, B, beta, C, 1);
        CHECK(max_error(dC.read(), scaled) == 0.0);
        NOTE("k = 0 scales C by beta");
    }

    // TF32: inputs rounded to 10 mantissa bits, with FAST_TF32 or the TF32 math mode.
    {
        const int m = 3, n = 3, k = 4;
        Mat A = make(m, k, m, 0, 1, CUDA_R_32F), B = make(k, n, k, 0, 1, CUDA_R_32F);
        for (float& x : A.v) x = 1.0f + 1.0f / 4096.0f;  // not representable in TF32: rounds to 1
        Mat C = make(m, n, m, 0, 1, CUDA_R_32F);
        const float alpha = 1.0f, beta = 0.0f;
        const DevMat dA(A, CUDA_R_32F), dB(B, CUDA_R_32F), dC(C, CUDA_R_32F);
        Mat A1 = A;
        for (float& x : A1.v) x = 1.0f;
        const std::vector<double> want_tf32 = reference(false, false, m, n, k, alpha, A1, B, beta, C, 1);
        const std::vector<double> want_f32 = reference(false, false, m, n, k, alpha, A, B, beta, C, 1);
        CHECK(cublasGemmEx(h, CUBLAS_OP_N, CUBLAS_OP_N, m, n, k, &alpha, dA.p, CUDA_R_32F, m, dB.p, CUDA_R_32F, k, &beta, dC.p, CUDA_R_32F, m,
                           CUBLAS_COMPUTE_32F_FAST_TF32, CUBLAS_GEMM_DEFAULT) == CUBLAS_STATUS_SUCCESS);
        CHECK(max_error(dC.read(), want_tf32) <= 1e-7);
        CHECK(cublasSetMathMode(h, CUBLAS_TF32_TENSOR_OP_MATH) == CUBLAS_STATUS_SUCCESS);
        CHECK(cublasSgemm(h, CUBLAS_OP_N, CUBLAS_OP_N, m, n, k, &alpha, static_cast<const float*>(dA.p), m, static_cast<const float*>(dB.p), k, &beta,
                          static_cast<float*>(dC.p), m) == CUBLAS_STATUS_SUCCESS);
        CHECK(max_error(dC.read(), want_tf32) <= 1e-7);
        CHECK(cublasSetMathMode(h, CUBLAS_DEFAULT_MATH) == CUBLAS_STATUS_SUCCESS);
        CHECK(cublasGemmEx(h, CUBLAS_OP_N, CUBLAS_OP_N, m, n, k, &alpha, dA.p, CUDA_R_32F, m, dB.p, CUDA_R_32F, k, &beta, dC.p, CUDA_R_32F, m,
                           CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT) == CUBLAS_STATUS_SUCCESS);
        CHECK(max_error(dC.read(), want_f32) <= 1e-7 && max_error(dC.read(), want_tf32) > 1e-5);
        NOTE("CUBLAS_COMPUTE_32F_FAST_TF32 and CUBLAS_TF32_TENSOR_OP_MATH round f32 inputs to TF32; CUBLAS_COMPUTE_32F does not");
    }

    CHECK(cublasDestroy(h) == CUBLAS_STATUS_SUCCESS);
    CHECK_CUDA(cudaStreamDestroy(s));
}

CUDAEMU_TEST(cublas_errors) {
    cublasHandle_t h = nullptr;
    CHECK(cublasCreate(&h) == CUBLAS_STATUS_SUCCESS);
    DeviceArray<float> a(64), b(64), c(64);
    const float one = 1.0f, zero = 0.0f;
    auto gemm = [&](cublasOperation_t ta, cublasOperation_t tb, int m, int n, int k, int lda, int ldb, int ldc, cudaDataType_t at, cudaDataType_t bt,
                    cudaDataType_t ct, cublasComputeType_t compute, int batch) {
        return cublasGemmStridedBatchedEx(h, ta, tb, m, n, k, &one, a.get(), at, lda, 0, b.get(), bt, ldb, 0, &zero, c.get(), ct, ldc, 0, batch, compute,
                                          CUBLAS_GEMM_DEFAULT);
    };
    const cublasOperation_t N = CUBLAS_OP_N, T = CUBLAS_OP_T;
    const cudaDataType_t F = CUDA_R_32F, BF = CUDA_R_16BF, H = CUDA_R_16F;
    CHECK(gemm(N, N, 4, 4, 4, 4, 4, 4, F, F, F, CUBLAS_COMPUTE_32F, 1) == CUBLAS_STATUS_SUCCESS);
    CHECK(gemm(N, N, 4, 4, 4, 3, 4, 4, F, F, F, CUBLAS_COMPUTE_32F, 1) == CUBLAS_STATUS_INVALID_VALUE);  // lda < m
    CHECK(gemm(T, N, 4, 4, 2, 2, 2, 4, F, F, F, CUBLAS_COMPUTE_32F, 1) == CUBLAS_STATUS_SUCCESS);        // op(A)=T: lda >= k
    CHECK(gemm(T, N, 4, 4, 3, 2, 3, 4, F, F, F, CUBLAS_COMPUTE_32F, 1) == CUBLAS_STATUS_INVALID_VALUE);  // lda < k
    CHECK(gemm(N, T, 4, 4, 4, 4, 3, 4, F, F, F, CUBLAS_COMPUTE_32F, 1) == CUBLAS_STATUS_INVALID_VALUE);  // ldb < n
    CHECK(gemm(N, N, 4, 4, 4, 4, 4, 3, F, F, F, CUBLAS_COMPUTE_32F, 1) == CUBLAS_STATUS_INVALID_VALUE);  // ldc < m
    CHECK(gemm(N, N, -1, 4, 4, 4, 4, 4, F, F, F, CUBLAS_COMPUTE_32F, 1) == CUBLAS_STATUS_INVALID_VALUE);
    CHECK(gemm(N, N, 4, 4, 4, 4, 4, 4, F, F, F, CUBLAS_COMPUTE_32F, -1) == CUBLAS_STATUS_INVALID_VALUE);
    CHECK(gemm(N, N, 0, 4, 4, 1, 4, 1, F, F, F, CUBLAS_COMPUTE_32F, 1) == CUBLAS_STATUS_SUCCESS);  // empty
    CHECK(gemm(static_cast<cublasOperation_t>(3), N, 4, 4, 4, 4, 4, 4, F, F, F, CUBLAS_COMPUTE_32F, 1) == CUBLAS_STATUS_INVALID_VALUE);
    CHECK(gemm(N, N, 4, 4, 4, 4, 4, 4, BF, F, F, CUBLAS_COMPUTE_32F, 1) == CUBLAS_STATUS_NOT_SUPPORTED);  // mixed A/B
    CHECK(gemm(N, N, 4, 4, 4, 4, 4, 4, F, F, BF, CUBLAS_COMPUTE_32F, 1) == CUBLAS_STATUS_NOT_SUPPORTED);  // f32 -> bf16
    CHECK(gemm(N, N, 4, 4, 4, 4, 4, 4, BF, BF, H, CUBLAS_COMPUTE_32F, 1) == CUBLAS_STATUS_NOT_SUPPORTED); // bf16 -> f16
    CHECK(gemm(N, N, 4, 4, 4, 4, 4, 4, BF, BF, F, CUBLAS_COMPUTE_32F_FAST_TF32, 1) == CUBLAS_STATUS_NOT_SUPPORTED);
    CHECK(gemm(N, N, 4, 4, 4, 4, 4, 4, F, F, F, CUBLAS_COMPUTE_16F, 1) == CUBLAS_STATUS_NOT_SUPPORTED);
    CHECK(cublasGemmEx(nullptr, N, N, 4, 4, 4, &one, a.get(), F, 4, b.get(), F, 4, &zero, c.get(), F, 4, CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT) ==
          CUBLAS_STATUS_NOT_INITIALIZED);
    CHECK(cublasDestroy(h) == CUBLAS_STATUS_SUCCESS);
    CHECK(cublasDestroy(h) == CUBLAS_STATUS_NOT_INITIALIZED);
    CHECK(cublasSetStream(h, nullptr) == CUBLAS_STATUS_NOT_INITIALIZED);
    CHECK(std::string(cublasGetStatusName(CUBLAS_STATUS_INVALID_VALUE)) == "CUBLAS_STATUS_INVALID_VALUE");
    NOTE("leading dimensions below the rows of op(A)/op(B)/C, negative sizes or batch, bad ops -> INVALID_VALUE; "
         "unsupported type/compute combinations -> NOT_SUPPORTED; null or destroyed handle -> NOT_INITIALIZED");
}

// test_math.cpp — device types and math of the CUDA emulator, run inside a kernel: bf16/f16
// conversions round to nearest even and agree with lp_scalar.h, 16-bit arithmetic rounds once,
// bit casts and integer intrinsics, sinpi/cospi exact at multiples of 1/2, CUDA's min/max overloads
// and the sizes and alignments of the vector types.
#include "cudaemu_test.h"

#include <cmath>
#include <cstdint>
#include <vector>

using namespace cudaemu_test;

namespace {

constexpr int kResults = 32;

__global__ void math_kernel(float* f, unsigned int* u) {
    // bf16: 1 + 2^-8 is a tie between 1 and 1 + 2^-7 and goes to the even 1; 1 + 3*2^-8 goes up.
    f[0] = __bfloat162float(__float2bfloat16(1.00390625f));
    f[1] = __bfloat162float(__float2bfloat16(1.01171875f));
    f[2] = __bfloat162float(__float2bfloat16_rz(1.01171875f));
    f[3] = __bfloat162float(__float2bfloat16(NAN));
    // f16: 65520 overflows to inf, 2^-24 is the smallest subnormal.
    f[4] = __half2float(__float2half(65520.0f));
    f[5] = __half2float(__float2half(5.9604644775390625e-8f));
    // bf16 arithmetic is computed in float and rounded once.
    const __nv_bfloat16 a = __float2bfloat16(1.0f), b = __float2bfloat16(0.00390625f);
    f[6] = __bfloat162float(a + b);
    f[7] = __bfloat162float(__hmul(__float2bfloat16(3.0f), __float2bfloat16(-0.5f)));
    f[8] = static_cast<float>(__hmax(__float2half(2.0f), __float2half(NAN)));
    f[9] = __low2float(__floats2bfloat162_rn(0.25f, -8.0f)) + __high2float(__floats2bfloat162_rn(0.25f, -8.0f));
    // sin/cos of pi x: exact at multiples of 1/2.
    f[10] = static_cast<float>(sinpi(1.0));
    f[11] = static_cast<float>(cospi(0.5));
    f[12] = static_cast<float>(sinpi(-2.5));
    double s = 0.0, c = 0.0;
    sincospi(1.0 / 6.0, &s, &c);
    f[13] = static_cast<float>(s);
    f[14] = rsqrtf(16.0f);
    f[15] = __expf(0.0f) + __logf(1.0f) + __fdividef(1.0f, 4.0f) + __frcp_rn(2.0f) + __saturatef(3.0f);
    f[16] = static_cast<float>(min(3, -4)) + max(2.5f, -1.0f) + static_cast<float>(max(7u, 3u)) + static_cast<float>(min(-5LL, 2LL));
    f[17] = __uint_as_float(0x3f800000u);
    f[18] = fmaf(2.0f, 3.0f, 1.0f) + __fmaf_rn(1.0f, 1.0f, 1.0f);
    f[19] = (isnan(f[3]) ? 1.0f : 0.0f) + (isinf(f[4]) ? 2.0f : 0.0f) + (isfinite(f[5]) ? 4.0f : 0.0f) + (isnan(f[5]) ? 8.0f : 0.0f);
    u[0] = __float_as_uint(-2.0f);
    u[1] = static_cast<unsigned int>(__clz(1)) | (static_cast<unsigned int>(__clz(0)) << 8);
    u[2] = static_cast<unsigned int>(__popc(0xf0f0u)) | (static_cast<unsigned int>(__ffs(0x50)) << 8) | (static_cast<unsigned int>(__ffs(0)) << 16);
    u[3] = __brev(1u);
    u[4] = static_cast<unsigned int>(__float2int_rn(2.5f)) | (static_cast<unsigned int>(__float2int_rn(3.5f)) << 8) |
           (static_cast<unsigned int>(__float2int_rz(-2.7f) & 0xff) << 16);
    u[5] = __bfloat16_as_ushort(__float2bfloat16(1.0f));
    u[6] = __half_as_ushort(__float2half(1.0f));
    u[7] = min(0xffffffffu, 5);  // mixed signedness compares as unsigned, as in CUDA
    u[8] = __umulhi(0x80000000u, 6u);
    u[9] = static_cast<unsigned int>(__ldg(u + 7));
}

}  // namespace

CUDAEMU_TEST(device_math) {
    DeviceArray<float> d_f(kResults);
    DeviceArray<unsigned int> d_u(kResults);
    d_u.zero();
    LP_LAUNCH(math_kernel, 1, 1, 0, nullptr)(d_f.get(), d_u.get());
    CHECK_CUDA(cudaGetLastError());
    const std::vector<float> f = d_f.download();
    const std::vector<unsigned int> u = d_u.download();
    CHECK(f[0] == 1.0f);
    CHECK(f[1] == 1.015625f);
    CHECK(f[2] == 1.0078125f);
    CHECK(std::isnan(f[3]));
    CHECK(std::isinf(f[4]) && f[4] > 0.0f);
    CHECK(f[5] == 5.9604644775390625e-8f);
    NOTE("__float2bfloat16 rounds to nearest even (ties to even), _rz truncates, NaN stays NaN; __float2half overflows to inf, keeps subnormals");
    CHECK(f[6] == 1.0f);  // 1 + 2^-8 rounds back to 1 in bf16
    CHECK(f[7] == -1.5f);
    CHECK(f[8] == 2.0f);
    CHECK(f[9] == -7.75f);
    NOTE("bf16/f16 arithmetic rounds once to the 16-bit type; __hmax ignores NaN; bfloat162 halves");
    CHECK(f[10] == 0.0f && !std::signbit(f[10]));
    CHECK(f[11] == 0.0f);
    CHECK(f[12] == -1.0f);
    CHECK(std::fabs(f[13] - 0.5f) < 1e-7f);
    NOTE("sinpi(1) = +0, cospi(0.5) = 0, sinpi(-2.5) = -1, sincospi(1/6) = 0.5");
    CHECK(f[14] == 0.25f);
    CHECK(f[15] == 1.0f + 0.0f + 0.25f + 0.5f + 1.0f);
    CHECK(f[16] == -4.0f + 2.5f + 7.0f - 5.0f);
    CHECK(f[17] == 1.0f);
    CHECK(f[18] == 9.0f);
    CHECK(f[19] == 7.0f);
    CHECK(u[0] == 0xc0000000u);
    CHECK(u[1] == (31u | (32u << 8)));
    CHECK(u[2] == (8u | (5u << 8) | (0u << 16)));
    CHECK(u[3] == 0x80000000u);
    CHECK(u[4] == (2u | (4u << 8) | (0xfeu << 16)));
    CHECK(u[5] == lp::f32_to_bf16(1.0f) && u[5] == 0x3f80u);
    CHECK(u[6] == lp::f32_to_f16(1.0f) && u[6] == 0x3c00u);
    CHECK(u[7] == 5u);
    CHECK(u[8] == 3u);
    CHECK(u[9] == 5u);
    NOTE("isnan/isinf/isfinite, rsqrtf, fast intrinsics, min/max overloads, bit casts, __clz/__popc/__ffs/__brev, __float2int_rn (ties to even), __umulhi, __ldg");

    static_assert(sizeof(__nv_bfloat16) == 2 && alignof(__nv_bfloat16) == 2, "bf16");
    static_assert(sizeof(__half2) == 4 && alignof(__nv_bfloat162) == 4, "pairs");
    static_assert(sizeof(float4) == 16 && alignof(float4) == 16 && alignof(int2) == 8 && alignof(double2) == 16, "vectors");
    const float4 v = make_float4(1.0f, 2.0f, 3.0f, 4.0f);
    const dim3 d(7);
    CHECK(v.x + v.w == 5.0f && d.x == 7 && d.y == 1 && d.z == 1);
    NOTE("vector types and dim3 have CUDA's sizes, alignments and defaults");
}

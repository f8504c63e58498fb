// cudaemu_fp16.h — __nv_bfloat16 and __half for the CUDA emulator: 2-byte storage types with
// CUDA's conversions (round to nearest even through lp_scalar.h, so every backend rounds alike),
// arithmetic done in float and rounded once, the pair types and the common intrinsics.
#pragma once

#include "cudaemu_types.h"

#include "../common/lp_scalar.h"

namespace cudaemu::detail {
struct Bits16;
}

struct __nv_bfloat16_raw {
    unsigned short x;
};

struct __half_raw {
    unsigned short x;
};

// Both types keep their bits private as CUDA does; the intrinsics reach them through Bits16.
struct __align__(2) __nv_bfloat16 {
    __nv_bfloat16() = default;
    __host__ __device__ __nv_bfloat16(float f) : bits_(lp::f32_to_bf16(f)) {}
    __host__ __device__ __nv_bfloat16(double f) : bits_(lp::f32_to_bf16(static_cast<float>(f))) {}
    __host__ __device__ __nv_bfloat16(int v) : bits_(lp::f32_to_bf16(static_cast<float>(v))) {}
    __host__ __device__ __nv_bfloat16(unsigned int v) : bits_(lp::f32_to_bf16(static_cast<float>(v))) {}
    __host__ __device__ __nv_bfloat16(long long v) : bits_(lp::f32_to_bf16(static_cast<float>(v))) {}
    __host__ __device__ __nv_bfloat16(unsigned long long v) : bits_(lp::f32_to_bf16(static_cast<float>(v))) {}
    __host__ __device__ __nv_bfloat16(const __nv_bfloat16_raw& r) : bits_(r.x) {}
    __host__ __device__ operator float() const { return lp::bf16_to_f32(bits_); }
    __host__ __device__ operator __nv_bfloat16_raw() const { return __nv_bfloat16_raw{bits_}; }

private:
    friend struct cudaemu::detail::Bits16;
    unsigned short bits_;
};

struct __align__(2) __half {
    __half() = default;
    __host__ __device__ __half(float f) : bits_(lp::f32_to_f16(f)) {}
    __host__ __device__ __half(double f) : bits_(lp::f32_to_f16(static_cast<float>(f))) {}
    __host__ __device__ __half(int v) : bits_(lp::f32_to_f16(static_cast<float>(v))) {}
    __host__ __device__ __half(unsigned int v) : bits_(lp::f32_to_f16(static_cast<float>(v))) {}
    __host__ __device__ __half(long long v) : bits_(lp::f32_to_f16(static_cast<float>(v))) {}
    __host__ __device__ __half(unsigned long long v) : bits_(lp::f32_to_f16(static_cast<float>(v))) {}
    __host__ __device__ __half(const __half_raw& r) : bits_(r.x) {}
    __host__ __device__ operator float() const { return lp::f16_to_f32(bits_); }
    __host__ __device__ operator __half_raw() const { return __half_raw{bits_}; }

private:
    friend struct cudaemu::detail::Bits16;
    unsigned short bits_;
};

struct __align__(4) __nv_bfloat162 {
    __nv_bfloat16 x, y;
};

struct __align__(4) __half2 {
    __half x, y;
};

typedef __nv_bfloat16 nv_bfloat16;
typedef __nv_bfloat162 nv_bfloat162;
typedef __half half;
typedef __half2 half2;

namespace cudaemu::detail {
struct Bits16 {
    static __host__ __device__ unsigned short get(__nv_bfloat16 h) { return h.bits_; }
    static __host__ __device__ unsigned short get(__half h) { return h.bits_; }
    static __host__ __device__ __nv_bfloat16 bf16(unsigned short u) { return __nv_bfloat16(__nv_bfloat16_raw{u}); }
    static __host__ __device__ __half f16(unsigned short u) { return __half(__half_raw{u}); }
};
}  // namespace cudaemu::detail

// ---- bf16 conversions ---------------------------------------------------------------------------
__host__ __device__ __forceinline__ __nv_bfloat16 __float2bfloat16(float f) { return __nv_bfloat16(f); }
__host__ __device__ __forceinline__ __nv_bfloat16 __float2bfloat16_rn(float f) { return __nv_bfloat16(f); }
__host__ __device__ __forceinline__ __nv_bfloat16 __float2bfloat16_rz(float f) {
    return cudaemu::detail::Bits16::bf16(static_cast<unsigned short>(lp::float_bits(f) >> 16));
}
__host__ __device__ __forceinline__ __nv_bfloat16 __double2bfloat16(double f) { return __nv_bfloat16(f); }
__host__ __device__ __forceinline__ float __bfloat162float(__nv_bfloat16 h) { return static_cast<float>(h); }
__host__ __device__ __forceinline__ unsigned short __bfloat16_as_ushort(__nv_bfloat16 h) { return cudaemu::detail::Bits16::get(h); }
__host__ __device__ __forceinline__ short __bfloat16_as_short(__nv_bfloat16 h) { return static_cast<short>(cudaemu::detail::Bits16::get(h)); }
__host__ __device__ __forceinline__ __nv_bfloat16 __ushort_as_bfloat16(unsigned short u) { return cudaemu::detail::Bits16::bf16(u); }
__host__ __device__ __forceinline__ __nv_bfloat16 __short_as_bfloat16(short u) { return cudaemu::detail::Bits16::bf16(static_cast<unsigned short>(u)); }
__host__ __device__ __forceinline__ __nv_bfloat16 __int2bfloat16_rn(int v) { return __nv_bfloat16(static_cast<float>(v)); }
__host__ __device__ __forceinline__ __nv_bfloat162 __float2bfloat162_rn(float f) { return __nv_bfloat162{__nv_bfloat16(f), __nv_bfloat16(f)}; }
__host__ __device__ __forceinline__ __nv_bfloat162 __floats2bfloat162_rn(float a, float b) { return __nv_bfloat162{__nv_bfloat16(a), __nv_bfloat16(b)}; }
__host__ __device__ __forceinline__ __nv_bfloat162 __float22bfloat162_rn(float2 f) { return __nv_bfloat162{__nv_bfloat16(f.x), __nv_bfloat16(f.y)}; }
__host__ __device__ __forceinline__ float2 __bfloat1622float2(__nv_bfloat162 h) { return float2{static_cast<float>(h.x), static_cast<float>(h.y)}; }
__host__ __device__ __forceinline__ __nv_bfloat162 __halves2bfloat162(__nv_bfloat16 a, __nv_bfloat16 b) { return __nv_bfloat162{a, b}; }
__host__ __device__ __forceinline__ __nv_bfloat162 __bfloat162bfloat162(__nv_bfloat16 a) { return __nv_bfloat162{a, a}; }
__host__ __device__ __forceinline__ __nv_bfloat16 __low2bfloat16(__nv_bfloat162 h) { return h.x; }
__host__ __device__ __forceinline__ __nv_bfloat16 __high2bfloat16(__nv_bfloat162 h) { return h.y; }
__host__ __device__ __forceinline__ float __low2float(__nv_bfloat162 h) { return static_cast<float>(h.x); }
__host__ __device__ __forceinline__ float __high2float(__nv_bfloat162 h) { return static_cast<float>(h.y); }

// ---- f16 conversions ----------------------------------------------------------------------------
__host__ __device__ __forceinline__ __half __float2half(float f) { return __half(f); }
__host__ __device__ __forceinline__ __half __float2half_rn(float f) { return __half(f); }
__host__ __device__ __forceinline__ __half __double2half(double f) { return __half(f); }
__host__ __device__ __forceinline__ float __half2float(__half h) { return static_cast<float>(h); }
__host__ __device__ __forceinline__ unsigned short __half_as_ushort(__half h) { return cudaemu::detail::Bits16::get(h); }
__host__ __device__ __forceinline__ short __half_as_short(__half h) { return static_cast<short>(cudaemu::detail::Bits16::get(h)); }
__host__ __device__ __forceinline__ __half __ushort_as_half(unsigned short u) { return cudaemu::detail::Bits16::f16(u); }
__host__ __device__ __forceinline__ __half __short_as_half(short u) { return cudaemu::detail::Bits16::f16(static_cast<unsigned short>(u)); }
__host__ __device__ __forceinline__ __half __int2half_rn(int v) { return __half(static_cast<float>(v)); }
__host__ __device__ __forceinline__ __half2 __float2half2_rn(float f) { return __half2{__half(f), __half(f)}; }
__host__ __device__ __forceinline__ __half2 __floats2half2_rn(float a, float b) { return __half2{__half(a), __half(b)}; }
__host__ __device__ __forceinline__ __half2 __float22half2_rn(float2 f) { return __half2{__half(f.x), __half(f.y)}; }
__host__ __device__ __forceinline__ float2 __half22float2(__half2 h) { return float2{static_cast<float>(h.x), static_cast<float>(h.y)}; }
__host__ __device__ __forceinline__ __half2 __halves2half2(__half a, __half b) { return __half2{a, b}; }
__host__ __device__ __forceinline__ __half2 __half2half2(__half a) { return __half2{a, a}; }
__host__ __device__ __forceinline__ __half __low2half(__half2 h) { return h.x; }
__host__ __device__ __forceinline__ __half __high2half(__half2 h) { return h.y; }
__host__ __device__ __forceinline__ float __low2float(__half2 h) { return static_cast<float>(h.x); }
__host__ __device__ __forceinline__ float __high2float(__half2 h) { return static_cast<float>(h.y); }

// ---- arithmetic, comparisons and intrinsics (both types) ----------------------------------------
// Computed in float and rounded once to the 16-bit type, as the sm_80 instructions round.
#define CUDAEMU_HALF_OPS(H, H2)                                                                                   \
    __host__ __device__ __forceinline__ H operator+(const H& a, const H& b) { return H(static_cast<float>(a) + static_cast<float>(b)); } \
    __host__ __device__ __forceinline__ H operator-(const H& a, const H& b) { return H(static_cast<float>(a) - static_cast<float>(b)); } \
    __host__ __device__ __forceinline__ H operator*(const H& a, const H& b) { return H(static_cast<float>(a) * static_cast<float>(b)); } \
    __host__ __device__ __forceinline__ H operator/(const H& a, const H& b) { return H(static_cast<float>(a) / static_cast<float>(b)); } \
    __host__ __device__ __forceinline__ H operator-(const H& a) { return H(-static_cast<float>(a)); }                                   \
    __host__ __device__ __forceinline__ H operator+(const H& a) { return a; }                                                           \
    __host__ __device__ __forceinline__ H& operator+=(H& a, const H& b) { return a = a + b; }                                           \
    __host__ __device__ __forceinline__ H& operator-=(H& a, const H& b) { return a = a - b; }                                           \
    __host__ __device__ __forceinline__ H& operator*=(H& a, const H& b) { return a = a * b; }                                           \
    __host__ __device__ __forceinline__ H& operator/=(H& a, const H& b) { return a = a / b; }                                           \
    __host__ __device__ __forceinline__ bool operator==(const H& a, const H& b) { return static_cast<float>(a) == static_cast<float>(b); } \
    __host__ __device__ __forceinline__ bool operator!=(const H& a, const H& b) { return static_cast<float>(a) != static_cast<float>(b); } \
    __host__ __device__ __forceinline__ bool operator<(const H& a, const H& b) { return static_cast<float>(a) < static_cast<float>(b); }   \
    __host__ __device__ __forceinline__ bool operator<=(const H& a, const H& b) { return static_cast<float>(a) <= static_cast<float>(b); } \
    __host__ __device__ __forceinline__ bool operator>(const H& a, const H& b) { return static_cast<float>(a) > static_cast<float>(b); }   \
    __host__ __device__ __forceinline__ bool operator>=(const H& a, const H& b) { return static_cast<float>(a) >= static_cast<float>(b); } \
    __host__ __device__ __forceinline__ H __hadd(H a, H b) { return a + b; }                                                            \
    __host__ __device__ __forceinline__ H __hsub(H a, H b) { return a - b; }                                                            \
    __host__ __device__ __forceinline__ H __hmul(H a, H b) { return a * b; }                                                            \
    __host__ __device__ __forceinline__ H __hdiv(H a, H b) { return a / b; }                                                            \
    __host__ __device__ __forceinline__ H __hneg(H a) { return -a; }                                                                    \
    __host__ __device__ __forceinline__ H __habs(H a) { float f = static_cast<float>(a); return H(f < 0.0f ? -f : f); }                \
    __host__ __device__ __forceinline__ H __hfma(H a, H b, H c) {                                                                       \
        return H(static_cast<float>(static_cast<double>(static_cast<float>(a)) * static_cast<float>(b) + static_cast<float>(c))); \
    }                                                                                                                                   \
    __host__ __device__ __forceinline__ H __hmax(H a, H b) {                                                                            \
        const float fa = static_cast<float>(a), fb = static_cast<float>(b);                                                             \
        return fa != fa ? b : (fb != fb ? a : (fa >= fb ? a : b));                                                                      \
    }                                                                                                                                   \
    __host__ __device__ __forceinline__ H __hmin(H a, H b) {                                                                            \
        const float fa = static_cast<float>(a), fb = static_cast<float>(b);                                                             \
        return fa != fa ? b : (fb != fb ? a : (fa <= fb ? a : b));                                                                      \
    }                                                                                                                                   \
    __host__ __device__ __forceinline__ bool __hisnan(H a) { return static_cast<float>(a) != static_cast<float>(a); }                                                           \
    __host__ __device__ __forceinline__ int __hisinf(H a) {                                                                             \
        const float f = static_cast<float>(a);                                                                                          \
        return f == __builtin_inff() ? 1 : (f == -__builtin_inff() ? -1 : 0);                                                           \
    }                                                                                                                                   \
    __host__ __device__ __forceinline__ bool __heq(H a, H b) { return a == b; }                                                         \
    __host__ __device__ __forceinline__ bool __hne(H a, H b) { return a != b; }                                                         \
    __host__ __device__ __forceinline__ bool __hlt(H a, H b) { return a < b; }                                                          \
    __host__ __device__ __forceinline__ bool __hle(H a, H b) { return a <= b; }                                                         \
    __host__ __device__ __forceinline__ bool __hgt(H a, H b) { return a > b; }                                                          \
    __host__ __device__ __forceinline__ bool __hge(H a, H b) { return a >= b; }                                                         \
    __host__ __device__ __forceinline__ H2 __hadd2(H2 a, H2 b) { return H2{a.x + b.x, a.y + b.y}; }                                     \
    __host__ __device__ __forceinline__ H2 __hsub2(H2 a, H2 b) { return H2{a.x - b.x, a.y - b.y}; }                                     \
    __host__ __device__ __forceinline__ H2 __hmul2(H2 a, H2 b) { return H2{a.x * b.x, a.y * b.y}; }                                     \
    __host__ __device__ __forceinline__ H2 __hfma2(H2 a, H2 b, H2 c) { return H2{__hfma(a.x, b.x, c.x), __hfma(a.y, b.y, c.y)}; }      \
    __host__ __device__ __forceinline__ H2 operator+(const H2& a, const H2& b) { return __hadd2(a, b); }                                \
    __host__ __device__ __forceinline__ H2 operator-(const H2& a, const H2& b) { return __hsub2(a, b); }                                \
    __host__ __device__ __forceinline__ H2 operator*(const H2& a, const H2& b) { return __hmul2(a, b); }

CUDAEMU_HALF_OPS(__nv_bfloat16, __nv_bfloat162)
CUDAEMU_HALF_OPS(__half, __half2)

#undef CUDAEMU_HALF_OPS

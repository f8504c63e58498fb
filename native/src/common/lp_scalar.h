// lp_scalar.h — scalar definitions every backend must compute identically: the counter-based
// dropout RNG of lp.h and the bf16/f16 <-> f32 conversions. Host and device code include this one
// file (LP_HD marks the functions __host__ __device__ under nvcc and the CUDA emulator).
#pragma once

#include <cstdint>
#include <cstring>

#if defined(__CUDACC__) || defined(LP_CUDA_EMULATED)
#define LP_HD __host__ __device__ __forceinline__
#else
#define LP_HD inline
#endif

namespace lp {

// The top 24 bits of splitmix64 of the counter-th state: the dropout draw of lp.h as an integer k, u = k 2^-24.
LP_HD uint32_t dropout_bits(uint64_t seed, uint64_t counter) {
    uint64_t z = seed + 0x9E3779B97F4A7C15ull * (counter + 1ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    z = z ^ (z >> 31);
    return (uint32_t)(z >> 40);
}

// The dropout draw of lp.h, u in [0, 1) (k < 2^24, so the conversion is exact).
LP_HD float dropout_uniform(uint64_t seed, uint64_t counter) { return (float)(int32_t)dropout_bits(seed, counter) * (1.0f / 16777216.0f); }

// Keep-and-scale factor of element `index` of a tensor drawn at (seed, offset).
LP_HD float dropout_factor(float p, uint64_t seed, uint64_t offset, uint64_t index) {
    if (p <= 0.0f) return 1.0f;
    return dropout_uniform(seed, offset + index) >= p ? 1.0f / (1.0f - p) : 0.0f;
}

LP_HD uint32_t float_bits(float f) {
    uint32_t u;
    memcpy(&u, &f, 4);
    return u;
}

LP_HD float bits_float(uint32_t u) {
    float f;
    memcpy(&f, &u, 4);
    return f;
}

LP_HD float bf16_to_f32(uint16_t h) { return bits_float((uint32_t)h << 16); }

// Round to nearest even; NaN stays a (quiet) NaN.
LP_HD uint16_t f32_to_bf16(float f) {
    uint32_t u = float_bits(f);
    if ((u & 0x7fffffffu) > 0x7f800000u) return (uint16_t)((u >> 16) | 0x40u);
    u += 0x7fffu + ((u >> 16) & 1u);
    return (uint16_t)(u >> 16);
}

LP_HD float f16_to_f32(uint16_t h) {
    uint32_t sign = (uint32_t)(h & 0x8000u) << 16;
    uint32_t exp = (h >> 10) & 0x1fu;
    uint32_t man = h & 0x3ffu;
    if (exp == 0x1f) return bits_float(sign | 0x7f800000u | (man << 13));  // inf / nan
    if (exp == 0) {
        if (man == 0) return bits_float(sign);
        // subnormal: value = man * 2^-24
        float v = (float)man * (1.0f / 16777216.0f);
        return sign ? -v : v;
    }
    return bits_float(sign | ((exp + 112u) << 23) | (man << 13));
}

// Round to nearest even, overflow to inf, subnormals kept.
LP_HD uint16_t f32_to_f16(float f) {
    uint32_t u = float_bits(f);
    uint32_t sign = (u >> 16) & 0x8000u;
    uint32_t a = u & 0x7fffffffu;
    if (a > 0x7f800000u) return (uint16_t)(sign | 0x7e00u);           // nan
    if (a >= 0x477ff000u) return (uint16_t)(sign | 0x7c00u);          // overflow (>= 65520) -> inf
    if (a < 0x38800000u) {                                            // below 2^-14: subnormal or 0
        if (a < 0x33000000u) return (uint16_t)sign;                   // < 2^-25 rounds to 0
        uint32_t exp = a >> 23;
        uint32_t man = (a & 0x7fffffu) | 0x800000u;
        uint32_t rshift = 126u - exp;                                 // 14..24: units of 2^-24
        uint32_t r = man >> rshift;
        uint32_t rem = man & ((1u << rshift) - 1u);
        uint32_t half = 1u << (rshift - 1u);
        if (rem > half || (rem == half && (r & 1u))) r++;
        return (uint16_t)(sign | r);
    }
    uint32_t r = ((a >> 13) - (112u << 10));
    uint32_t rem = a & 0x1fffu;
    if (rem > 0x1000u || (rem == 0x1000u && (r & 1u))) r++;
    return (uint16_t)(sign | r);
}

}  // namespace lp

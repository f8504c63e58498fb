// cudaemu_types.h — CUDA's declaration qualifiers and built-in types for the host compiler: the
// __global__/__device__/__shared__ family, dim3/uint3 and the vector types (float4, int2, ...) with
// CUDA's sizes and alignments, and their make_* constructors. Part of the CUDA emulator (cudaemu.h).
#pragma once

// Every standard header the emulator needs comes before the qualifier macros below are defined.
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <math.h>
#include <tuple>
#include <type_traits>

#if !defined(__GNUC__)
#error "the CUDA emulator needs GCC or Clang (it uses GNU attributes, builtins and inline assembly)"
#endif

// ---- qualifiers ---------------------------------------------------------------------------------
// One OS thread runs one block at a time and all fibers of that block share the thread, so
// thread_local storage is exactly per-block storage: that is what __shared__ becomes.
#define __global__
#define __device__
#define __host__
#define __forceinline__ inline __attribute__((always_inline))
#define __launch_bounds__(...)
#define __align__(n) __attribute__((aligned(n)))
#define __shared__ static thread_local
#define __constant__

// ---- dim3 / uint3 -------------------------------------------------------------------------------
struct uint3 {
    unsigned int x, y, z;
};

struct dim3 {
    unsigned int x, y, z;
    constexpr dim3(unsigned int vx = 1, unsigned int vy = 1, unsigned int vz = 1) : x(vx), y(vy), z(vz) {}
    constexpr dim3(uint3 v) : x(v.x), y(v.y), z(v.z) {}
    constexpr operator uint3() const { return uint3{x, y, z}; }
};

// ---- vector types -------------------------------------------------------------------------------
// Sizes and alignments as in CUDA's vector_types.h: 2-element types align to their size, 4-element
// types of 4-byte scalars to 16, 3-element types to their scalar.
#define CUDAEMU_VEC2(T, name, align)                                                                 \
    struct __attribute__((aligned(align))) name {                                                  \
        T x, y;                                                                                    \
    };                                                                                             \
    __host__ __device__ __forceinline__ name make_##name(T x, T y) { return name{x, y}; }
#define CUDAEMU_VEC3(T, name)                                                                        \
    struct name {                                                                                  \
        T x, y, z;                                                                                 \
    };                                                                                             \
    __host__ __device__ __forceinline__ name make_##name(T x, T y, T z) { return name{x, y, z}; }
#define CUDAEMU_VEC4(T, name, align)                                                                 \
    struct __attribute__((aligned(align))) name {                                                  \
        T x, y, z, w;                                                                              \
    };                                                                                             \
    __host__ __device__ __forceinline__ name make_##name(T x, T y, T z, T w) { return name{x, y, z, w}; }

CUDAEMU_VEC2(char, char2, 2)
CUDAEMU_VEC2(unsigned char, uchar2, 2)
CUDAEMU_VEC4(char, char4, 4)
CUDAEMU_VEC4(unsigned char, uchar4, 4)
CUDAEMU_VEC2(short, short2, 4)
CUDAEMU_VEC2(unsigned short, ushort2, 4)
CUDAEMU_VEC4(short, short4, 8)
CUDAEMU_VEC4(unsigned short, ushort4, 8)
CUDAEMU_VEC2(int, int2, 8)
CUDAEMU_VEC3(int, int3)
CUDAEMU_VEC4(int, int4, 16)
CUDAEMU_VEC2(unsigned int, uint2, 8)
CUDAEMU_VEC4(unsigned int, uint4, 16)
CUDAEMU_VEC2(float, float2, 8)
CUDAEMU_VEC3(float, float3)
CUDAEMU_VEC4(float, float4, 16)
CUDAEMU_VEC2(long long, longlong2, 16)
CUDAEMU_VEC2(unsigned long long, ulonglong2, 16)
CUDAEMU_VEC2(double, double2, 16)

#undef CUDAEMU_VEC2
#undef CUDAEMU_VEC3
#undef CUDAEMU_VEC4

__host__ __device__ __forceinline__ uint3 make_uint3(unsigned int x, unsigned int y, unsigned int z) { return uint3{x, y, z}; }

static_assert(sizeof(float4) == 16 && alignof(float4) == 16, "float4 layout");
static_assert(sizeof(float2) == 8 && alignof(float2) == 8, "float2 layout");
static_assert(sizeof(float3) == 12 && alignof(float3) == 4, "float3 layout");
static_assert(sizeof(int4) == 16 && alignof(uint4) == 16, "int4 layout");
static_assert(sizeof(double2) == 16 && alignof(double2) == 16, "double2 layout");

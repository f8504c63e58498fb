// cudaemu_device.h — the device-side subset of CUDA for the emulator: the built-in indices (read
// from the state of the fiber that runs the current CUDA thread), __syncthreads and the warp
// collectives (which switch fibers), atomics (real atomics: blocks run on several OS threads) and
// the device math functions and intrinsics mapped to the host.
#pragma once

#include "cudaemu_fp16.h"

#include <cmath>
#include <cstring>
#include <math.h>
#include <type_traits>

namespace cudaemu::detail {

// State of the running CUDA thread. The scheduler writes t_thread_idx before it resumes a fiber;
// the block and launch values are set once per block on the OS thread that runs it.
inline thread_local uint3 t_thread_idx{0, 0, 0};
inline thread_local uint3 t_block_idx{0, 0, 0};
inline thread_local dim3 t_block_dim;
inline thread_local dim3 t_grid_dim;
inline thread_local unsigned char* t_dynamic_smem = nullptr;

enum class BarrierKind : int { sync, count, all, any };

enum class WarpOp : int {
    sync,
    shfl_idx,
    shfl_up,
    shfl_down,
    shfl_xor,
    ballot,
    vote_any,
    vote_all,
    reduce_add,
    reduce_min_u,
    reduce_min_i,
    reduce_max_u,
    reduce_max_i,
    reduce_and,
    reduce_or,
    reduce_xor,
    match_any,
    match_all,
};

// Block barrier of the calling CUDA thread; returns the __syncthreads_count/and/or result.
// `file`/`line` name the call site: threads of a block waiting at different sites are reported.
int block_barrier(const char* file, int line, BarrierKind kind, int predicate);

// Warp collective of the calling CUDA thread over the lanes of `mask`: `value` holds the bits of
// its operand, `arg` the source lane / delta / xor mask, `width` the shuffle segment.
uint64_t warp_collective(unsigned int mask, WarpOp op, uint64_t value, int arg, int width);

// __syncwarp of the calling CUDA thread, written at file:line (which a knockout may name).
void warp_sync(unsigned int mask, const char* file, int line);

// Lanes of the caller's warp that have not exited.
unsigned int active_lanes();

// Ends the launch with cudaErrorLaunchFailure and `message` (a trap in device code).
[[noreturn]] void device_trap(const char* message);

template <class T>
__forceinline__ uint64_t to_bits(T v) {
    static_assert(sizeof(T) <= 8 && std::is_trivially_copyable<T>::value, "warp operand");
    uint64_t b = 0;
    std::memcpy(&b, static_cast<const void*>(&v), sizeof(T));
    return b;
}

template <class T>
__forceinline__ T from_bits(uint64_t b) {
    T v;
    std::memcpy(static_cast<void*>(&v), &b, sizeof(T));
    return v;
}

// Keeps the compiler from caching memory (including function-local statics, i.e. __shared__
// arrays whose address never escapes) in registers across a fiber switch.
__forceinline__ void memory_clobber() { __asm__ __volatile__("" ::: "memory"); }

__forceinline__ int barrier(const char* file, int line, BarrierKind kind, int predicate) {
    memory_clobber();
    const int r = block_barrier(file, line, kind, predicate);
    memory_clobber();
    return r;
}

__forceinline__ uint64_t collective(unsigned int mask, WarpOp op, uint64_t value, int arg, int width) {
    memory_clobber();
    const uint64_t r = warp_collective(mask, op, value, arg, width);
    memory_clobber();
    return r;
}

}  // namespace cudaemu::detail

// ---- built-in variables -------------------------------------------------------------------------
#define threadIdx (static_cast<const ::uint3&>(::cudaemu::detail::t_thread_idx))
#define blockIdx (static_cast<const ::uint3&>(::cudaemu::detail::t_block_idx))
#define blockDim (static_cast<const ::dim3&>(::cudaemu::detail::t_block_dim))
#define gridDim (static_cast<const ::dim3&>(::cudaemu::detail::t_grid_dim))

// Not a constant expression in CUDA either (it is a run-time register there).
extern const int warpSize;

// ---- barriers -----------------------------------------------------------------------------------
#define __syncthreads() ((void)::cudaemu::detail::barrier(__FILE__, __LINE__, ::cudaemu::detail::BarrierKind::sync, 0))
#define __syncthreads_count(pred) ::cudaemu::detail::barrier(__FILE__, __LINE__, ::cudaemu::detail::BarrierKind::count, (pred) ? 1 : 0)
#define __syncthreads_and(pred) ::cudaemu::detail::barrier(__FILE__, __LINE__, ::cudaemu::detail::BarrierKind::all, (pred) ? 1 : 0)
#define __syncthreads_or(pred) ::cudaemu::detail::barrier(__FILE__, __LINE__, ::cudaemu::detail::BarrierKind::any, (pred) ? 1 : 0)

// The call site comes from the defaulted arguments, which the compiler fills in where __syncwarp
// is called (GCC and Clang evaluate __builtin_FILE/__builtin_LINE at the call).
__device__ __forceinline__ void __syncwarp(unsigned int mask = 0xffffffffu, const char* file = __builtin_FILE(), int line = __builtin_LINE()) {
    cudaemu::detail::memory_clobber();
    cudaemu::detail::warp_sync(mask, file, line);
    cudaemu::detail::memory_clobber();
}

// Memory fences: blocks run on different OS threads, so the device-wide fences are real fences.
__device__ __forceinline__ void __threadfence() { __atomic_thread_fence(__ATOMIC_SEQ_CST); }
__device__ __forceinline__ void __threadfence_system() { __atomic_thread_fence(__ATOMIC_SEQ_CST); }
__device__ __forceinline__ void __threadfence_block() { cudaemu::detail::memory_clobber(); }

__device__ __forceinline__ void __trap() { cudaemu::detail::device_trap("__trap() called"); }

// ---- warp collectives ---------------------------------------------------------------------------
// One overload per type that CUDA's shuffles accept (so that argument conversions match CUDA's).
#define CUDAEMU_SHFL(T)                                                                                                         \
    __device__ __forceinline__ T __shfl_sync(unsigned int mask, T var, int srcLane, int width = warpSize) {                    \
        return cudaemu::detail::from_bits<T>(                                                                                 \
            cudaemu::detail::collective(mask, cudaemu::detail::WarpOp::shfl_idx, cudaemu::detail::to_bits(var), srcLane, width)); \
    }                                                                                                                         \
    __device__ __forceinline__ T __shfl_up_sync(unsigned int mask, T var, unsigned int delta, int width = warpSize) {          \
        return cudaemu::detail::from_bits<T>(cudaemu::detail::collective(mask, cudaemu::detail::WarpOp::shfl_up,              \
                                                                         cudaemu::detail::to_bits(var), static_cast<int>(delta), width)); \
    }                                                                                                                         \
    __device__ __forceinline__ T __shfl_down_sync(unsigned int mask, T var, unsigned int delta, int width = warpSize) {        \
        return cudaemu::detail::from_bits<T>(cudaemu::detail::collective(mask, cudaemu::detail::WarpOp::shfl_down,            \
                                                                         cudaemu::detail::to_bits(var), static_cast<int>(delta), width)); \
    }                                                                                                                         \
    __device__ __forceinline__ T __shfl_xor_sync(unsigned int mask, T var, int laneMask, int width = warpSize) {              \
        return cudaemu::detail::from_bits<T>(                                                                                 \
            cudaemu::detail::collective(mask, cudaemu::detail::WarpOp::shfl_xor, cudaemu::detail::to_bits(var), laneMask, width)); \
    }

CUDAEMU_SHFL(int)
CUDAEMU_SHFL(unsigned int)
CUDAEMU_SHFL(long)
CUDAEMU_SHFL(unsigned long)
CUDAEMU_SHFL(long long)
CUDAEMU_SHFL(unsigned long long)
CUDAEMU_SHFL(float)
CUDAEMU_SHFL(double)
CUDAEMU_SHFL(__half)
CUDAEMU_SHFL(__half2)
CUDAEMU_SHFL(__nv_bfloat16)
CUDAEMU_SHFL(__nv_bfloat162)

#undef CUDAEMU_SHFL

__device__ __forceinline__ unsigned int __ballot_sync(unsigned int mask, int predicate) {
    return static_cast<unsigned int>(cudaemu::detail::collective(mask, cudaemu::detail::WarpOp::ballot, predicate != 0, 0, 32));
}
__device__ __forceinline__ int __any_sync(unsigned int mask, int predicate) {
    return static_cast<int>(cudaemu::detail::collective(mask, cudaemu::detail::WarpOp::vote_any, predicate != 0, 0, 32));
}
__device__ __forceinline__ int __all_sync(unsigned int mask, int predicate) {
    return static_cast<int>(cudaemu::detail::collective(mask, cudaemu::detail::WarpOp::vote_all, predicate != 0, 0, 32));
}
__device__ __forceinline__ unsigned int __activemask() { return cudaemu::detail::active_lanes(); }

#define CUDAEMU_REDUCE(name, T, op)                                                                                      \
    __device__ __forceinline__ T name(unsigned int mask, T value) {                                                      \
        return static_cast<T>(cudaemu::detail::collective(mask, cudaemu::detail::WarpOp::op,                            \
                                                          static_cast<uint64_t>(static_cast<unsigned int>(value)), 0, 32)); \
    }
CUDAEMU_REDUCE(__reduce_add_sync, unsigned int, reduce_add)
CUDAEMU_REDUCE(__reduce_add_sync, int, reduce_add)
CUDAEMU_REDUCE(__reduce_min_sync, unsigned int, reduce_min_u)
CUDAEMU_REDUCE(__reduce_min_sync, int, reduce_min_i)
CUDAEMU_REDUCE(__reduce_max_sync, unsigned int, reduce_max_u)
CUDAEMU_REDUCE(__reduce_max_sync, int, reduce_max_i)
CUDAEMU_REDUCE(__reduce_and_sync, unsigned int, reduce_and)
CUDAEMU_REDUCE(__reduce_or_sync, unsigned int, reduce_or)
CUDAEMU_REDUCE(__reduce_xor_sync, unsigned int, reduce_xor)
#undef CUDAEMU_REDUCE

#define CUDAEMU_MATCH(T)                                                                                                \
    __device__ __forceinline__ unsigned int __match_any_sync(unsigned int mask, T value) {                              \
        return static_cast<unsigned int>(                                                                               \
            cudaemu::detail::collective(mask, cudaemu::detail::WarpOp::match_any, cudaemu::detail::to_bits(value), 0, 32)); \
    }                                                                                                                   \
    __device__ __forceinline__ unsigned int __match_all_sync(unsigned int mask, T value, int* pred) {                   \
        const unsigned int r = static_cast<unsigned int>(                                                               \
            cudaemu::detail::collective(mask, cudaemu::detail::WarpOp::match_all, cudaemu::detail::to_bits(value), 0, 32)); \
        *pred = r != 0;                                                                                                 \
        return r;                                                                                                       \
    }
CUDAEMU_MATCH(int)
CUDAEMU_MATCH(unsigned int)
CUDAEMU_MATCH(long)
CUDAEMU_MATCH(unsigned long)
CUDAEMU_MATCH(long long)
CUDAEMU_MATCH(unsigned long long)
CUDAEMU_MATCH(float)
CUDAEMU_MATCH(double)
#undef CUDAEMU_MATCH

// ---- atomics ------------------------------------------------------------------------------------
// Relaxed, like CUDA's atomics; fences are separate (__threadfence).
namespace cudaemu::detail {

template <class T, class F>
__forceinline__ T atomic_update(T* address, F f) {
    T old;
    __atomic_load(address, &old, __ATOMIC_RELAXED);
    T desired = f(old);
    while (!__atomic_compare_exchange(address, &old, &desired, true, __ATOMIC_RELAXED, __ATOMIC_RELAXED)) desired = f(old);
    return old;
}

}  // namespace cudaemu::detail

#define CUDAEMU_ATOMIC_INT(T)                                                                                                         \
    __device__ __forceinline__ T atomicAdd(T* address, T val) { return __atomic_fetch_add(address, val, __ATOMIC_RELAXED); }         \
    __device__ __forceinline__ T atomicSub(T* address, T val) { return __atomic_fetch_sub(address, val, __ATOMIC_RELAXED); }         \
    __device__ __forceinline__ T atomicExch(T* address, T val) { return __atomic_exchange_n(address, val, __ATOMIC_RELAXED); }       \
    __device__ __forceinline__ T atomicAnd(T* address, T val) { return __atomic_fetch_and(address, val, __ATOMIC_RELAXED); }         \
    __device__ __forceinline__ T atomicOr(T* address, T val) { return __atomic_fetch_or(address, val, __ATOMIC_RELAXED); }           \
    __device__ __forceinline__ T atomicXor(T* address, T val) { return __atomic_fetch_xor(address, val, __ATOMIC_RELAXED); }         \
    __device__ __forceinline__ T atomicMax(T* address, T val) {                                                                     \
        return cudaemu::detail::atomic_update(address, [val](T old) { return old > val ? old : val; });                              \
    }                                                                                                                               \
    __device__ __forceinline__ T atomicMin(T* address, T val) {                                                                     \
        return cudaemu::detail::atomic_update(address, [val](T old) { return old < val ? old : val; });                              \
    }                                                                                                                               \
    __device__ __forceinline__ T atomicCAS(T* address, T compare, T val) {                                                          \
        __atomic_compare_exchange_n(address, &compare, val, false, __ATOMIC_RELAXED, __ATOMIC_RELAXED);                              \
        return compare;                                                                                                             \
    }

CUDAEMU_ATOMIC_INT(int)
CUDAEMU_ATOMIC_INT(unsigned int)
CUDAEMU_ATOMIC_INT(unsigned long long)
#undef CUDAEMU_ATOMIC_INT

// CUDA has no atomicAdd/Sub/Exch/And/Or/Xor for signed 64-bit, but does have Min/Max.
__device__ __forceinline__ long long atomicMax(long long* address, long long val) {
    return cudaemu::detail::atomic_update(address, [val](long long old) { return old > val ? old : val; });
}
__device__ __forceinline__ long long atomicMin(long long* address, long long val) {
    return cudaemu::detail::atomic_update(address, [val](long long old) { return old < val ? old : val; });
}
__device__ __forceinline__ unsigned short atomicCAS(unsigned short* address, unsigned short compare, unsigned short val) {
    __atomic_compare_exchange_n(address, &compare, val, false, __ATOMIC_RELAXED, __ATOMIC_RELAXED);
    return compare;
}
__device__ __forceinline__ unsigned int atomicInc(unsigned int* address, unsigned int val) {
    return cudaemu::detail::atomic_update(address, [val](unsigned int old) { return old >= val ? 0u : old + 1u; });
}
__device__ __forceinline__ unsigned int atomicDec(unsigned int* address, unsigned int val) {
    return cudaemu::detail::atomic_update(address, [val](unsigned int old) { return (old == 0u || old > val) ? val : old - 1u; });
}
__device__ __forceinline__ float atomicAdd(float* address, float val) {
    return cudaemu::detail::atomic_update(address, [val](float old) { return old + val; });
}
__device__ __forceinline__ double atomicAdd(double* address, double val) {
    return cudaemu::detail::atomic_update(address, [val](double old) { return old + val; });
}
__device__ __forceinline__ __nv_bfloat16 atomicAdd(__nv_bfloat16* address, __nv_bfloat16 val) {
    return cudaemu::detail::atomic_update(address, [val](__nv_bfloat16 old) { return old + val; });
}
__device__ __forceinline__ __half atomicAdd(__half* address, __half val) {
    return cudaemu::detail::atomic_update(address, [val](__half old) { return old + val; });
}
__device__ __forceinline__ float atomicExch(float* address, float val) {
    float old;
    __atomic_exchange(address, &val, &old, __ATOMIC_RELAXED);
    return old;
}

// ---- math ---------------------------------------------------------------------------------------
// C23 adds sinpi/cospi/rsqrt to the C library: those are templates here, so that where the library
// has them its non-template wins overload resolution, and where it has none, this definition is
// used. glibc declares (noexcept) but does not export the __-prefixed names: they are defined here
// with the same declaration.
#define CUDAEMU_LIBC_NAME template <class = void>
// The standard float functions (expf, logf, sqrtf, powf, tanhf, fmaxf, sincosf, ...) are the
// host's <math.h>.
// The fast intrinsics compute the exact function: they are at least as accurate as the GPU's.
CUDAEMU_LIBC_NAME __device__ __forceinline__ float rsqrtf(float x) { return 1.0f / sqrtf(x); }
CUDAEMU_LIBC_NAME __device__ __forceinline__ double rsqrt(double x) { return 1.0 / sqrt(x); }
__device__ __forceinline__ float rcbrtf(float x) noexcept { return 1.0f / cbrtf(x); }
__device__ __forceinline__ float __expf(float x) noexcept { return expf(x); }
__device__ __forceinline__ float __exp10f(float x) noexcept { return powf(10.0f, x); }
__device__ __forceinline__ float __logf(float x) noexcept { return logf(x); }
__device__ __forceinline__ float __log2f(float x) noexcept { return log2f(x); }
__device__ __forceinline__ float __log10f(float x) noexcept { return log10f(x); }
__device__ __forceinline__ float __powf(float x, float y) noexcept { return powf(x, y); }
__device__ __forceinline__ float __sinf(float x) noexcept { return sinf(x); }
__device__ __forceinline__ float __cosf(float x) noexcept { return cosf(x); }
__device__ __forceinline__ float __tanf(float x) noexcept { return tanf(x); }
__device__ __forceinline__ void __sincosf(float x, float* s, float* c) noexcept {
    *s = sinf(x);
    *c = cosf(x);
}
// sin(pi x) and cos(pi x), exact at multiples of 1/2 like CUDA's: x is reduced exactly to
// f in [-1/4, 1/4] plus a quadrant.
namespace cudaemu::detail {
__forceinline__ void sincospi_reduced(double x, double* s, double* c) {
    const double r = remainder(x, 2.0);  // [-1, 1], exact
    const double q = nearbyint(2.0 * r);
    const double f = r - 0.5 * q;  // exact
    const double sf = sin(3.14159265358979323846 * f), cf = cos(3.14159265358979323846 * f);
    switch ((static_cast<int>(q) % 4 + 4) % 4) {
        case 0: *s = sf, *c = cf; break;
        case 1: *s = cf, *c = -sf; break;
        case 2: *s = -sf, *c = -cf; break;
        default: *s = -cf, *c = sf; break;
    }
    if (*s == 0.0) *s = x < 0.0 ? -0.0 : 0.0;  // sinpi(+-n) = +-0
}
}  // namespace cudaemu::detail
__device__ __forceinline__ void sincospi(double x, double* s, double* c) noexcept { cudaemu::detail::sincospi_reduced(x, s, c); }
CUDAEMU_LIBC_NAME __device__ __forceinline__ double sinpi(double x) {
    double s, c;
    cudaemu::detail::sincospi_reduced(x, &s, &c);
    return s;
}
CUDAEMU_LIBC_NAME __device__ __forceinline__ double cospi(double x) {
    double s, c;
    cudaemu::detail::sincospi_reduced(x, &s, &c);
    return c;
}
__device__ __forceinline__ void sincospif(float x, float* s, float* c) noexcept {
    double sd, cd;
    cudaemu::detail::sincospi_reduced(x, &sd, &cd);
    *s = static_cast<float>(sd);
    *c = static_cast<float>(cd);
}
CUDAEMU_LIBC_NAME __device__ __forceinline__ float sinpif(float x) { return static_cast<float>(sinpi(static_cast<double>(x))); }
CUDAEMU_LIBC_NAME __device__ __forceinline__ float cospif(float x) { return static_cast<float>(cospi(static_cast<double>(x))); }
__device__ __forceinline__ float __fdividef(float x, float y) { return x / y; }
__device__ __forceinline__ float __frcp_rn(float x) { return 1.0f / x; }
__device__ __forceinline__ float __fsqrt_rn(float x) { return sqrtf(x); }
__device__ __forceinline__ float __frsqrt_rn(float x) { return 1.0f / sqrtf(x); }
__device__ __forceinline__ float __fadd_rn(float x, float y) { return x + y; }
__device__ __forceinline__ float __fsub_rn(float x, float y) { return x - y; }
__device__ __forceinline__ float __fmul_rn(float x, float y) { return x * y; }
__device__ __forceinline__ float __fdiv_rn(float x, float y) { return x / y; }
__device__ __forceinline__ float __fmaf_rn(float x, float y, float z) { return fmaf(x, y, z); }
__device__ __forceinline__ double __fma_rn(double x, double y, double z) { return fma(x, y, z); }
__device__ __forceinline__ double __dadd_rn(double x, double y) { return x + y; }
__device__ __forceinline__ double __dmul_rn(double x, double y) { return x * y; }
__device__ __forceinline__ float __saturatef(float x) { return x != x ? 0.0f : (x < 0.0f ? 0.0f : (x > 1.0f ? 1.0f : x)); }

__device__ __forceinline__ int __float2int_rn(float x) { return static_cast<int>(nearbyintf(x)); }
__device__ __forceinline__ int __float2int_rz(float x) { return static_cast<int>(x); }
__device__ __forceinline__ int __float2int_rd(float x) { return static_cast<int>(floorf(x)); }
__device__ __forceinline__ int __float2int_ru(float x) { return static_cast<int>(ceilf(x)); }
__device__ __forceinline__ unsigned int __float2uint_rn(float x) { return static_cast<unsigned int>(nearbyintf(x)); }
__device__ __forceinline__ long long __float2ll_rn(float x) { return static_cast<long long>(nearbyintf(x)); }
__device__ __forceinline__ float __int2float_rn(int x) { return static_cast<float>(x); }
__device__ __forceinline__ float __uint2float_rn(unsigned int x) { return static_cast<float>(x); }
__device__ __forceinline__ float __ll2float_rn(long long x) { return static_cast<float>(x); }
__device__ __forceinline__ int __double2int_rn(double x) { return static_cast<int>(nearbyint(x)); }
__device__ __forceinline__ float __double2float_rn(double x) { return static_cast<float>(x); }

__device__ __forceinline__ unsigned int __float_as_uint(float x) { return cudaemu::detail::from_bits<unsigned int>(cudaemu::detail::to_bits(x)); }
__device__ __forceinline__ int __float_as_int(float x) { return cudaemu::detail::from_bits<int>(cudaemu::detail::to_bits(x)); }
__device__ __forceinline__ float __uint_as_float(unsigned int x) { return cudaemu::detail::from_bits<float>(cudaemu::detail::to_bits(x)); }
__device__ __forceinline__ float __int_as_float(int x) { return cudaemu::detail::from_bits<float>(cudaemu::detail::to_bits(x)); }
__device__ __forceinline__ long long __double_as_longlong(double x) { return cudaemu::detail::from_bits<long long>(cudaemu::detail::to_bits(x)); }
__device__ __forceinline__ double __longlong_as_double(long long x) { return cudaemu::detail::from_bits<double>(cudaemu::detail::to_bits(x)); }

__device__ __forceinline__ int __clz(int x) { return x == 0 ? 32 : __builtin_clz(static_cast<unsigned int>(x)); }
__device__ __forceinline__ int __clzll(long long x) { return x == 0 ? 64 : __builtin_clzll(static_cast<unsigned long long>(x)); }
__device__ __forceinline__ int __popc(unsigned int x) { return __builtin_popcount(x); }
__device__ __forceinline__ int __popcll(unsigned long long x) { return __builtin_popcountll(x); }
__device__ __forceinline__ int __ffs(int x) { return __builtin_ffs(x); }
__device__ __forceinline__ int __ffsll(long long x) { return __builtin_ffsll(x); }
__device__ __forceinline__ unsigned int __brev(unsigned int x) {
    x = ((x >> 1) & 0x55555555u) | ((x & 0x55555555u) << 1);
    x = ((x >> 2) & 0x33333333u) | ((x & 0x33333333u) << 2);
    x = ((x >> 4) & 0x0f0f0f0fu) | ((x & 0x0f0f0f0fu) << 4);
    return __builtin_bswap32(x);
}
__device__ __forceinline__ unsigned int __umulhi(unsigned int x, unsigned int y) {
    return static_cast<unsigned int>((static_cast<unsigned long long>(x) * y) >> 32);
}
__device__ __forceinline__ int __mulhi(int x, int y) { return static_cast<int>((static_cast<long long>(x) * y) >> 32); }
__device__ __forceinline__ unsigned long long __umul64hi(unsigned long long x, unsigned long long y) {
    return static_cast<unsigned long long>((static_cast<unsigned __int128>(x) * y) >> 64);
}

// min/max: the overload set of CUDA's math_functions.hpp (mixed signedness picks the unsigned type).
#define CUDAEMU_MINMAX(R, A, B)                                                                    \
    __host__ __device__ __forceinline__ R min(A a, B b) {                                          \
        return static_cast<R>(a) < static_cast<R>(b) ? static_cast<R>(a) : static_cast<R>(b);      \
    }                                                                                              \
    __host__ __device__ __forceinline__ R max(A a, B b) {                                          \
        return static_cast<R>(a) > static_cast<R>(b) ? static_cast<R>(a) : static_cast<R>(b);      \
    }
CUDAEMU_MINMAX(int, int, int)
CUDAEMU_MINMAX(unsigned int, unsigned int, unsigned int)
CUDAEMU_MINMAX(unsigned int, int, unsigned int)
CUDAEMU_MINMAX(unsigned int, unsigned int, int)
CUDAEMU_MINMAX(long, long, long)
CUDAEMU_MINMAX(unsigned long, unsigned long, unsigned long)
CUDAEMU_MINMAX(unsigned long, long, unsigned long)
CUDAEMU_MINMAX(unsigned long, unsigned long, long)
CUDAEMU_MINMAX(long long, long long, long long)
CUDAEMU_MINMAX(unsigned long long, unsigned long long, unsigned long long)
CUDAEMU_MINMAX(unsigned long long, long long, unsigned long long)
CUDAEMU_MINMAX(unsigned long long, unsigned long long, long long)
#undef CUDAEMU_MINMAX
__host__ __device__ __forceinline__ float min(float a, float b) { return fminf(a, b); }
__host__ __device__ __forceinline__ float max(float a, float b) { return fmaxf(a, b); }
__host__ __device__ __forceinline__ double min(double a, double b) { return fmin(a, b); }
__host__ __device__ __forceinline__ double max(double a, double b) { return fmax(a, b); }
__host__ __device__ __forceinline__ double min(float a, double b) { return fmin(a, b); }
__host__ __device__ __forceinline__ double max(float a, double b) { return fmax(a, b); }
__host__ __device__ __forceinline__ double min(double a, float b) { return fmin(a, b); }
__host__ __device__ __forceinline__ double max(double a, float b) { return fmax(a, b); }

// ---- loads and stores with cache hints: plain accesses on the host ------------------------------
template <class T>
__device__ __forceinline__ T __ldg(const T* p) { return *p; }
template <class T>
__device__ __forceinline__ T __ldcg(const T* p) { return *p; }
template <class T>
__device__ __forceinline__ T __ldca(const T* p) { return *p; }
template <class T>
__device__ __forceinline__ T __ldcs(const T* p) { return *p; }
template <class T>
__device__ __forceinline__ T __ldlu(const T* p) { return *p; }
template <class T>
__device__ __forceinline__ void __stcg(T* p, T v) { *p = v; }
template <class T>
__device__ __forceinline__ void __stcs(T* p, T v) { *p = v; }
template <class T>
__device__ __forceinline__ void __stwb(T* p, T v) { *p = v; }

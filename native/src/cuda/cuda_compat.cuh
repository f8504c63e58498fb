// cuda_compat.cuh — the one include through which src/cuda sees CUDA. Under nvcc it is the real
// runtime, cuBLAS and bf16 headers; under the host compiler (LP_CUDA_EMULATED) it is the CUDA
// emulator of src/cudaemu, which implements the same names for the subset our kernels use.
//
// Kernels are launched only through LP_LAUNCH and declare dynamic shared memory only through
// LP_DYNAMIC_SHARED, the two places where the emulator cannot mimic CUDA syntax:
//   LP_LAUNCH(my_kernel, grid, block, smem_bytes, stream)(arg1, arg2);
//   LP_DYNAMIC_SHARED(float, smem);   // inside a kernel: float* smem of the launch's smem_bytes
#pragma once

#if defined(__CUDACC__)

#include <cublas_v2.h>
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#define LP_LAUNCH(kernel, grid, block, smem, stream) kernel<<<(grid), (block), (smem), (stream)>>>
#define LP_DYNAMIC_SHARED(T, name) extern __shared__ __align__(16) unsigned char name##_raw_[]; T* name = reinterpret_cast<T*>(name##_raw_)

#else

#include "cudaemu.h"

#endif

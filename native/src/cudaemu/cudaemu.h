// cudaemu.h — the CUDA emulator: what src/cuda sees instead of the CUDA toolkit when it is compiled
// by the host C++ compiler (LP_CUDA_EMULATED, through cuda_compat.cuh). Kernels stay ordinary CUDA;
// the threads of a block run as fibers that switch only at barriers and warp collectives, blocks run
// on a pool of OS threads, and the runtime and cuBLAS subsets are implemented on the host.
//   cudaemu_types.h    qualifiers, dim3, vector types
//   cudaemu_fp16.h     __nv_bfloat16, __half
//   cudaemu_device.h   built-in indices, barriers, warp collectives, atomics, math
//   cudaemu_runtime.h  runtime API, LP_LAUNCH, LP_DYNAMIC_SHARED, barrier order
//   cudaemu_cublas.h   cuBLAS GEMMs
#pragma once

#if defined(__CUDACC__)
#error "cudaemu.h is the CUDA emulator for the host compiler; nvcc uses the real CUDA headers"
#endif

#include "cudaemu_types.h"
#include "cudaemu_fp16.h"
#include "cudaemu_device.h"
#include "cudaemu_runtime.h"
#include "cudaemu_cublas.h"

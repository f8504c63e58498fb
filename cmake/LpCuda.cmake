# LpCuda.cmake — the real CUDA backend (loraprune_cuda), built by nvcc when LP_CUDA allows it.
#
# Architectures (CMAKE_CUDA_ARCHITECTURES):
#   80  A100, A30                 (Ampere datacenter)
#   86  RTX 30xx, A10, A40, A6000 (Ampere workstation)
#   89  RTX 40xx, L4, L40         (Ada)
#   90  H100, H200, GH200         (Hopper)
# Each is compiled to SASS; sm_90 also embeds PTX so newer GPUs can JIT it.
#
# Host compiler: CUDA 11.8's nvcc (Debian 12's nvidia-cuda-toolkit) accepts gcc 6 to 11; gcc 12,
# Debian's default, is refused, and clang++-14 as host fails inside libstdc++ 12's headers. So
# g++-11 is taken when present (override with -DCMAKE_CUDA_HOST_COMPILER=... or CUDAHOSTCXX).
# check_language runs a separate CMake project that reads only the CUDAHOSTCXX environment
# variable, so the choice goes there too, before the check.
if(LP_CUDA STREQUAL "OFF")
  return()
endif()

include(CheckLanguage)
if(NOT CMAKE_CUDA_HOST_COMPILER AND "$ENV{CUDAHOSTCXX}" STREQUAL "")
  find_program(LP_CUDA_HOST_CXX NAMES g++-11)
  if(LP_CUDA_HOST_CXX)
    set(CMAKE_CUDA_HOST_COMPILER "${LP_CUDA_HOST_CXX}" CACHE FILEPATH "Host compiler of nvcc")
  endif()
endif()
if(CMAKE_CUDA_HOST_COMPILER)
  set(ENV{CUDAHOSTCXX} "${CMAKE_CUDA_HOST_COMPILER}")
endif()
check_language(CUDA)
if(NOT CMAKE_CUDA_COMPILER)
  if(LP_CUDA STREQUAL "ON")
    message(FATAL_ERROR "LP_CUDA=ON but no working CUDA compiler was found: nvcc is not on the PATH, or it refuses the "
                        "host compiler (CUDA 11.8 needs g++ 11 or older: apt-get install g++-11). The check's output is in "
                        "${CMAKE_BINARY_DIR}/CMakeFiles/CMakeError.log")
  endif()
  message(STATUS "LoRAPrune: nvcc not found, loraprune_cuda is not built (LP_CUDA=AUTO)")
  return()
endif()
if(NOT LP_CUDA_SOURCES)
  message(STATUS "LoRAPrune: no CUDA sources yet, loraprune_cuda is not built")
  return()
endif()

enable_language(CUDA)
find_package(CUDAToolkit REQUIRED)
if(NOT DEFINED CMAKE_CUDA_ARCHITECTURES OR CMAKE_CUDA_ARCHITECTURES STREQUAL "52")
  set(CMAKE_CUDA_ARCHITECTURES "80-real;86-real;89-real;90")
endif()
set(CMAKE_CUDA_STANDARD 17)
set(CMAKE_CUDA_STANDARD_REQUIRED ON)

add_library(loraprune_cuda SHARED ${LP_API_SOURCES} ${LP_CUDA_SOURCES})
lp_backend_library(loraprune_cuda)
target_include_directories(loraprune_cuda PRIVATE "${CMAKE_CURRENT_SOURCE_DIR}/native/src/cuda")
set_target_properties(loraprune_cuda PROPERTIES CUDA_ARCHITECTURES "${CMAKE_CUDA_ARCHITECTURES}" CUDA_SEPARABLE_COMPILATION OFF)
# ptxas resource usage (registers, shared memory, spills) of every kernel goes into the build log;
# build.sh collects it into artifacts/native/ptxas-report.txt and fails on any spill.
target_compile_options(loraprune_cuda PRIVATE
  $<$<COMPILE_LANGUAGE:CUDA>:--Werror=all-warnings -Xptxas=-v,-warn-spills,-warn-lmem-usage --expt-relaxed-constexpr>
  $<$<COMPILE_LANGUAGE:CXX>:-Wall -Wextra -Wno-unused-parameter -Werror>)
string(REPLACE ";" "," LP_CUDA_ARCHS_TEXT "${CMAKE_CUDA_ARCHITECTURES}")  # a ';' would split the definition
target_compile_definitions(loraprune_cuda PRIVATE LP_CUDA_ARCHS="${LP_CUDA_ARCHS_TEXT}" LP_CUDA_VERSION="${CUDAToolkit_VERSION}")
target_link_libraries(loraprune_cuda PRIVATE CUDA::cudart CUDA::cublas)
message(STATUS "LoRAPrune: building loraprune_cuda for ${CMAKE_CUDA_ARCHITECTURES} with nvcc ${CUDAToolkit_VERSION}")

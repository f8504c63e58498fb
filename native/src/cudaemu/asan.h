// asan.h — what the CUDA emulator tells AddressSanitizer when it is built with it (LP_SANITIZE):
// CUDAEMU_ASAN, and poisoning of the part of a block's dynamic shared memory buffer that the launch
// did not ask for, so a kernel reading past its shared memory is reported. No-ops otherwise.
#pragma once

#include <cstddef>

#if defined(__SANITIZE_ADDRESS__)
#define CUDAEMU_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define CUDAEMU_ASAN 1
#endif
#endif

#if defined(CUDAEMU_ASAN)
#include <sanitizer/asan_interface.h>
#include <sanitizer/common_interface_defs.h>
#endif

namespace cudaemu::detail {

// [buffer, buffer + used) becomes addressable, [buffer + used, buffer + capacity) not.
inline void limit_addressable(void* buffer, size_t used, size_t capacity) {
#if defined(CUDAEMU_ASAN)
    __asan_unpoison_memory_region(buffer, capacity);
    __asan_poison_memory_region(static_cast<char*>(buffer) + used, capacity - used);
#else
    (void)buffer, (void)used, (void)capacity;
#endif
}

}  // namespace cudaemu::detail

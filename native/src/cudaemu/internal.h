// internal.h — what the CUDA emulator's own .cpp files share and kernels never see: the per-thread
// last error, stream validity and the size of the block-running thread pool.
#pragma once

#include "cudaemu.h"

#include <string>

namespace cudaemu::detail {

// Records `error` as the calling host thread's last error (unless it is cudaSuccess); returns it.
cudaError_t record_error(cudaError_t error);

// The calling host thread's last error, without clearing it.
cudaError_t peek_error();

// Remembers the message of a failed launch for cudaemu::last_launch_failure().
void set_launch_failure(const std::string& message);

// True for the default stream (nullptr) and for streams created and not yet destroyed.
bool stream_is_valid(cudaStream_t stream);

// OS threads that run blocks, the launching thread included (>= 1).
unsigned pool_size();

}  // namespace cudaemu::detail

// internal.h — what the CUDA emulator's own .cpp files share and kernels never see: the per-thread
// last error, stream validity and barrier settings, and the size of the block-running thread pool.
#pragma once

#include "cudaemu.h"

#include <string>
#include <vector>

namespace cudaemu::detail {

// Records `error` as the calling host thread's last error (unless it is cudaSuccess); returns it.
cudaError_t record_error(cudaError_t error);

// The calling host thread's last error, without clearing it.
cudaError_t peek_error();

// Remembers the message of a failed launch for cudaemu::last_launch_failure().
void set_launch_failure(const std::string& message);

// True for the default stream (nullptr) and for streams created and not yet destroyed.
bool stream_is_valid(cudaStream_t stream);

// Barrier settings of the launches on one stream (cudaemu::set_barrier_order/_knockout).
struct BarrierSettings {
    int order = 0;
    uint64_t seed = 0;
    std::string knockout_file;  // name without folders; empty: no site is knocked out
    int knockout_line = 0;
};

// The settings for a launch on `stream`; false when the stream is not valid.
bool barrier_settings(cudaStream_t stream, BarrierSettings* out);

// A barrier site met by one launch, named by its call's __FILE__ (a path) and line.
struct SiteTally {
    const char* file;
    int line;
    uint64_t passes;
    uint64_t max_passes_per_block;
    uint64_t skipped;
};

// Adds the sites met by a launch on `stream` to that stream's record (cudaemu::take_barrier_sites).
void record_barrier_sites(cudaStream_t stream, const std::vector<SiteTally>& sites);

// The file name of a path, without its folders.
const char* file_name(const char* path);

// OS threads that run blocks, the launching thread included (>= 1).
unsigned pool_size();

}  // namespace cudaemu::detail

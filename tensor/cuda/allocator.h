// The caching device allocator: what it has done, for tests and benchmarks.
//
// cudaMalloc and cudaFree are slow (they can sync the whole device), and a
// training step allocates and frees the same temporaries every time. So a freed
// block is not given back to CUDA: it goes to a free list for its size class and
// the next request of that class reuses it. After the first step of a steady
// loop, no cudaMalloc happens at all.
//
// Size classes: requests round up to a multiple of 512 bytes up to 1 MiB; above
// that, to a quarter of the power of two below the size (at most 25% waste), so
// tensors of nearly the same size share blocks. Blocks are only reused, never
// split or merged. Plain C++ (no CUDA headers), so tests can include it.
//
// CUDA graphs: a captured graph writes the blocks its kernels were given every
// time it is replayed, so those blocks must not go to another tensor while the
// graph lives. Blocks handed out during a capture are recorded; freeing one of
// them (during the capture or later) holds it back until the graph's owner
// releases the blocks.
#pragma once

#include <cstdint>
#include <vector>

namespace aha {
namespace cuda {

struct AllocatorStats {
  int64_t cuda_malloc_calls = 0;   // cudaMalloc calls since the program started
  int64_t bytes_in_use = 0;        // handed out and not yet freed (rounded sizes)
  int64_t peak_bytes_in_use = 0;   // the high-water mark of bytes_in_use since the last reset
  int64_t bytes_cached = 0;        // freed, held in the free lists for reuse
};

AllocatorStats allocator_stats();
void allocator_reset_peak();         // peak_bytes_in_use = bytes_in_use
void allocator_release_cache();      // cudaFree every cached block (after a device sync)
int64_t allocator_round_size(int64_t bytes);  // the size class a request of `bytes` gets

void allocator_begin_graph_capture();               // record every block handed out from now on
std::vector<float*> allocator_end_graph_capture();  // ... until now: the graph's blocks
void allocator_release_graph_blocks(const std::vector<float*>& blocks);  // the graph is gone

}  // namespace cuda
}  // namespace aha

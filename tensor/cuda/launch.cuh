// Launch geometry shared by the CUDA kernels: how many threads a block has and
// how many blocks a grid-stride loop needs. Included by .cu files only.
#pragma once

#include <algorithm>
#include <cstdint>

#include "tensor/cuda/check.h"

namespace aha {
namespace cuda {

// Threads per block for elementwise kernels: 8 warps, enough to hide memory
// latency with several blocks resident per multiprocessor.
constexpr int kThreads = 256;
// A grid-stride loop needs no more blocks than fill the GPU a few times over;
// more only adds scheduling work.
constexpr int kBlocksPerSM = 8;

inline int sm_count() {
  static const int count = [] {
    int device = 0, n = 0;
    AHA_CUDA_CHECK(cudaGetDevice(&device));
    AHA_CUDA_CHECK(cudaDeviceGetAttribute(&n, cudaDevAttrMultiProcessorCount, device));
    return n;
  }();
  return count;
}

// The most shared memory one block may opt in to (cudaFuncSetAttribute with
// cudaFuncAttributeMaxDynamicSharedMemorySize): 227 KB on an H100.
inline int max_shared_bytes_per_block() {
  static const int bytes = [] {
    int device = 0, n = 0;
    AHA_CUDA_CHECK(cudaGetDevice(&device));
    AHA_CUDA_CHECK(cudaDeviceGetAttribute(&n, cudaDevAttrMaxSharedMemoryPerBlockOptin, device));
    return n;
  }();
  return bytes;
}

// Blocks for a grid-stride loop over n items with `threads` threads a block.
inline int grid_for(int64_t n, int threads = kThreads) {
  int64_t needed = (n + threads - 1) / threads;
  int64_t cap = (int64_t)sm_count() * kBlocksPerSM;
  return (int)std::max<int64_t>(1, std::min(needed, cap));
}

// Threads per block for a one-block-per-row kernel over rows of `cols`: a
// power of two giving each thread about `per_thread` elements, from one warp
// (short rows) up to 1024 (vocab-sized rows).
// For the generic row kernels (the register kernels of row_registers.cuh size
// their own teams): forward kernels re-read one array in their second pass and
// take 16: small blocks (256 for rows of 4096), so several rows share a
// multiprocessor and one block's loads overlap another's barrier waits.
// Backward kernels re-read two arrays and take 4: bigger blocks, fewer rows in
// flight, and both arrays' rows still in L2 for the second pass. Measured on an
// H100 at [16384, 4096] (bench/RESULTS.md, before the register kernels):
// softmax 45% -> 64% of copy bandwidth going from 4 to 16, softmax_backward
// 77% -> 60%.
constexpr int64_t kRowElementsPerThread = 16;
constexpr int64_t kRowElementsPerThreadBackward = 4;
inline int row_threads(int64_t cols, int64_t per_thread = kRowElementsPerThread) {
  int threads = 32;
  while (threads < 1024 && threads * per_thread < cols) threads *= 2;
  return threads;
}

// gridDim.y and gridDim.z stop at 65535; kernels loop when there are more.
constexpr int64_t kMaxGridYZ = 65535;
// gridDim.x for one-block-per-row kernels; they loop over rows beyond it.
constexpr int64_t kMaxRowBlocks = 1 << 20;
inline unsigned row_blocks(int64_t rows) {
  return (unsigned)std::max<int64_t>(1, std::min(rows, kMaxRowBlocks));
}

}  // namespace cuda
}  // namespace aha

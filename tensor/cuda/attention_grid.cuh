// The launch shape both fused attentions share (tensor/cuda/attention.cu and
// the tensor-core kernels, tensor/cuda/attention_tc.cu): the tile, the grid,
// and the opt-in to more shared memory. Apart from attention_tc.h so that the
// tile machinery (attention_tiles.cuh) needs only this, not the kernels' entry
// points. Included by .cu files only.
#pragma once

#include <cstdint>

#include "tensor/cuda/check.h"

namespace aha {
namespace cuda {

// The tiling both kernel sets share: tiles of kAttentionTile queries (and
// keys), one block per (batch * head, query tile).
constexpr int kAttentionTile = 64;

inline dim3 attention_grid(int64_t B, int64_t T, int64_t H) {
  return dim3((unsigned)(B * H), (unsigned)((T + kAttentionTile - 1) / kAttentionTile));
}

// Over 48 KB of dynamic shared memory must be opted in to, once per kernel.
template <typename Kernel>
bool allow_shared(Kernel kernel, int bytes) {
  AHA_CUDA_CHECK(cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, bytes));
  return true;
}

}  // namespace cuda
}  // namespace aha

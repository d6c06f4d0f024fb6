// The tensor-core (TF32 WMMA) kernels of the fused causal attention, for head
// dims 32 and 64; tensor/cuda/attention.cu picks them when TF32 is on (the
// user's switch in tensor/ops.h) and keeps its fp32 kernels for the rest.
// Arguments as in tensor/cuda/kernels.h: q, k, v, y, dy, dq, dk, dv [B, T, H*D],
// lse [B, H, T]. The same kernels serve bf16 tensors (causal_attention_bf16 in
// kernels.h; both in tensor/cuda/attention_tc.cu). Included by .cu files only,
// with the launch helpers the attention kernels use.
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

// True for the head dims the tensor-core kernels are compiled for.
bool attention_tc_supports(int64_t D);

void causal_attention_tc(const float* q, const float* k, const float* v, float* y, float* lse, int64_t B,
                         int64_t T, int64_t H, int64_t D);
void causal_attention_backward_tc(const float* q, const float* k, const float* v, const float* y,
                                  const float* lse, const float* dy, float* dq, float* dk, float* dv, int64_t B,
                                  int64_t T, int64_t H, int64_t D);

}  // namespace cuda
}  // namespace aha

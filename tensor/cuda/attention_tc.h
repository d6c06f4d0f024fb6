// The tensor-core (TF32 WMMA) kernels of the fused causal attention, for head
// dims 32 and 64; tensor/cuda/attention.cu picks them when TF32 is on (the
// user's switch in tensor/ops.h) and keeps its fp32 kernels for the rest.
// Arguments as in tensor/cuda/kernels.h: q, k, v, y, dy, dq, dk, dv [B, T, H*D],
// lse [B, H, T]. The same kernels serve bf16 tensors (causal_attention_bf16 in
// kernels.h; both in tensor/cuda/attention_tc.cu). The launch shape both
// attentions share is in tensor/cuda/attention_grid.cuh.
#pragma once

#include <cstdint>

namespace aha {
namespace cuda {

// True for the head dims the tensor-core kernels are compiled for.
bool attention_tc_supports(int64_t D);

void causal_attention_tc(const float* q, const float* k, const float* v, float* y, float* lse, int64_t B,
                         int64_t T, int64_t H, int64_t D);
void causal_attention_backward_tc(const float* q, const float* k, const float* v, const float* y,
                                  const float* lse, const float* dy, float* dq, float* dk, float* dv, int64_t B,
                                  int64_t T, int64_t H, int64_t D);

}  // namespace cuda
}  // namespace aha

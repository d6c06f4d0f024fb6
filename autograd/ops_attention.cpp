// Fused causal self-attention as one differentiable op: the forward and
// backward tensor kernels (tensor/cpu/attention.cpp, tensor/cuda/attention.cu)
// instead of the composition matmul, scale, causal mask, softmax, matmul with
// head permutes around it (model/gpt.cpp attend, kept as the test reference).
#include "autograd/ops.h"

namespace aha {

// Per head h (columns h*D .. h*D + D - 1 of q, k, v [B, T, C]):
//   S = Q K^T / sqrt(D),  P = softmax over keys j <= i,  Y = P V
// Backward (FlashAttention-2, Dao 2023, algorithm 2), P rebuilt from the saved
// log-sum-exp lse_i of each query row:
//   P_ij = exp(S_ij - lse_i),  D_i = sum_d dY_id Y_id
//   dV = P^T dY,  dP = dY V^T,  dS = P o (dP - D),  dQ = dS K / sqrt(D),  dK = dS^T Q / sqrt(D)
Var causal_attention(const Var& q, const Var& k, const Var& v, int n_heads) {
  Tensor lse;  // [B, H, T]
  Tensor y = causal_attention(q.value(), k.value(), v.value(), n_heads, lse);
  return make_result(y, "causal_attention", {q, k, v}, [lse, n_heads](Node& self) {
    Node& nq = *self.parents[0];
    Node& nk = *self.parents[1];
    Node& nv = *self.parents[2];
    Tensor dq, dk, dv;
    causal_attention_backward(nq.value, nk.value, nv.value, self.value, lse, self.grad, n_heads, dq, dk, dv);
    if (nq.requires_grad) accumulate_grad(nq, dq);
    if (nk.requires_grad) accumulate_grad(nk, dk);
    if (nv.requires_grad) accumulate_grad(nv, dv);
  });
}

}  // namespace aha

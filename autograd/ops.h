// Every differentiable op: Var in, Var out. Each is implemented in
// autograd/ops_*.cpp as its forward (a tensor op) and, right beside it, its
// backward closure with the derivative written above it.
#pragma once

#include <vector>

#include "autograd/var.h"

namespace aha {

// matrix products (ops_matmul.cpp): same flags and batching as the tensor op
Var matmul(const Var& a, const Var& b, bool trans_a = false, bool trans_b = false);
// a linear layer, x [.., K] @ w [K, N] + b [N] -> [.., N], as one fused op;
// with a residual r (the output's shape): r + x @ w + b
Var linear(const Var& x, const Var& w, const Var& b, const Var& residual = Var());

// elementwise (ops_elementwise.cpp); b broadcasts over a as in tensor/ops.h
Var add(const Var& a, const Var& b);
Var sub(const Var& a, const Var& b);
Var mul(const Var& a, const Var& b);
Var div(const Var& a, const Var& b);
Var minimum(const Var& a, const Var& b);  // same shape; ties send the gradient to a
Var add_scalar(const Var& a, float s);
Var mul_scalar(const Var& a, float s);
Var neg(const Var& a);
Var clamp(const Var& a, float lo, float hi);  // zero gradient outside [lo, hi]
Var exp(const Var& a);
Var log(const Var& a);
Var tanh(const Var& a);
Var sqrt(const Var& a);
Var relu(const Var& a);
Var gelu(const Var& a);

// reductions (ops_reduce.cpp)
Var sum_last(const Var& a);
Var mean_last(const Var& a);
Var sum_all(const Var& a);
Var mean_all(const Var& a);

// neural-net ops (ops_nn.cpp)
Var softmax(const Var& a);
Var log_softmax(const Var& a);
// y in `out`: bf16 on the bf16 path (x, gamma, beta fp32; x's gradient fp32)
Var layernorm(const Var& x, const Var& gamma, const Var& beta, float eps = 1e-5f, DType out = DType::F32);
Var embedding(const Var& weight, const Tensor& ids);  // ids: float-coded ints, no gradient
// masked mean cross-entropy over rows of logits [N, V]
Var cross_entropy(const Var& logits, const Tensor& targets, const Tensor& mask);
Var token_logprobs(const Var& logits, const Tensor& tokens);  // [N, V] -> [N]

// fused causal self-attention (ops_attention.cpp): q, k, v [B, T, C] with
// n_heads heads interleaved along C -> y [B, T, C]; see tensor/ops.h
Var causal_attention(const Var& q, const Var& k, const Var& v, int n_heads);

// layout (ops_layout.cpp)
Var reshape(const Var& a, const Shape& shape);
Var cast(const Var& a, DType dtype);  // fp32 <-> bf16 (tensor/ops.h "bf16"); the gradient comes back in a's dtype
Var transpose_last2(const Var& a);
Var permute_0213(const Var& a);
Var concat0(const std::vector<Var>& parts);
Var slice0(const Var& a, int64_t start, int64_t end);
Var causal_mask(const Var& scores);  // future keys -> -inf; their gradient is zero

}  // namespace aha

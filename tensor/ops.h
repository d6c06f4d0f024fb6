// Every tensor op: shape checks and dispatch live in tensor/ops_*.cpp, one file
// per family below (each picks the CPU or CUDA kernel by the inputs' device,
// through tensor/dispatch.h); the arithmetic lives in tensor/cpu/*.cpp and,
// mirrored, tensor/cuda/*.cu.
//
// Ops return new tensors on their inputs' device; mixing devices is an error.
// Ops whose name ends in `_` work in place. These are plain functions of
// tensors; the differentiable versions (with backward) are in autograd/.
#pragma once

#include <cstdint>
#include <vector>

#include "tensor/kernel_args.h"  // AdamWParams, SampleStepConfig

namespace aha {

class Tensor;
enum class DType;

// ---- matrix products (tensor/cpu/matmul.cpp, tensor/cuda/matmul.cu) ----
// C[b] = op(A[b]) @ op(B[b]), op(X) = X^T when the flag is set.
// A is [.., M, K] ([.., K, M] if trans_a); B is [.., K, N] ([.., N, K] if trans_b)
// with the same leading (batch) dims as A, or 2-D and shared by every batch.
Tensor matmul(const Tensor& a, const Tensor& b, bool trans_a = false, bool trans_b = false);
// A linear layer's forward in one op: y = x @ w + b, x [.., K], w [K, N],
// b [N] -> [.., N]; with a residual r (y's shape), y = r + x @ w + b, the
// transformer block's "x + f(x)". On CUDA the bias and the residual are added
// in the product's epilogue (cuBLASLt), so y is written once instead of
// written, read and written again for each addition.
Tensor linear(const Tensor& x, const Tensor& w, const Tensor& b, const Tensor& residual = Tensor());
// The same product with both operands bf16 (or both fp32 with out fp32), the
// result in `out`: the bf16 path's backward (see "bf16" below).
Tensor matmul(const Tensor& a, const Tensor& b, bool trans_a, bool trans_b, DType out);
// TF32 on CUDA is on by default; exact float32 for parity tests. No effect on CPU.
void set_tf32(bool enabled);
bool tf32_enabled();

// ---- elementwise (tensor/cpu/elementwise.cpp) ----
// Binary ops broadcast b over a in the three ways a transformer needs:
// b has a's shape; b is [C], a vector over a's last dim; or b has one element.
Tensor add(const Tensor& a, const Tensor& b);
Tensor sub(const Tensor& a, const Tensor& b);
Tensor mul(const Tensor& a, const Tensor& b);
Tensor div(const Tensor& a, const Tensor& b);
Tensor minimum(const Tensor& a, const Tensor& b);   // same shape only
Tensor maximum(const Tensor& a, const Tensor& b);   // same shape only
Tensor greater_equal(const Tensor& a, const Tensor& b);  // 1 where a >= b else 0; same shape
Tensor add_scalar(const Tensor& a, float s);
Tensor mul_scalar(const Tensor& a, float s);
Tensor clamp(const Tensor& a, float lo, float hi);
Tensor clamp_mask(const Tensor& a, float lo, float hi);  // 1 where lo <= a <= hi else 0

// ---- unary math (tensor/cpu/unary.cpp) ----
Tensor exp(const Tensor& a);
Tensor log(const Tensor& a);
Tensor tanh(const Tensor& a);
Tensor sqrt(const Tensor& a);
Tensor relu(const Tensor& a);
Tensor gelu(const Tensor& a);  // tanh form, as GPT-2
// Backward kernels: dx given the forward input x and the upstream gradient dy.
Tensor relu_backward(const Tensor& x, const Tensor& dy);
Tensor gelu_backward(const Tensor& x, const Tensor& dy);

// ---- reductions (tensor/cpu/reduce.cpp) ----
Tensor sum_last(const Tensor& a);    // [.., C] -> [..]
Tensor mean_last(const Tensor& a);   // [.., C] -> [..]
Tensor max_last(const Tensor& a);    // [.., C] -> [..]
Tensor sum_all(const Tensor& a);     // -> []
Tensor mean_all(const Tensor& a);    // -> []
Tensor max_all(const Tensor& a);     // -> []
Tensor sum_rows(const Tensor& a);    // [.., C] -> [C]: the backward of a broadcast vector
// [..] -> [.., size]: each value repeated along a new last dim (backward of *_last).
Tensor expand_last(const Tensor& a, int64_t size);

// ---- softmax family over the last dim (tensor/cpu/softmax.cpp) ----
Tensor softmax(const Tensor& a);
Tensor log_softmax(const Tensor& a);
// dx = y * (dy - sum(dy * y)), y = softmax(x)
Tensor softmax_backward(const Tensor& y, const Tensor& dy);
// dx = dy - exp(y) * sum(dy), y = log_softmax(x)
Tensor log_softmax_backward(const Tensor& y, const Tensor& dy);

// ---- layernorm over the last dim (tensor/cpu/layernorm.cpp) ----
struct LayerNormResult {
  Tensor y;     // [.., C]
  Tensor mean;  // [..]   saved for backward
  Tensor rstd;  // [..]   1 / sqrt(var + eps)
};
// y comes out in `out` (bf16 on the bf16 path); mean and rstd are float32.
LayerNormResult layernorm(const Tensor& x, const Tensor& gamma, const Tensor& beta, float eps, DType out);
LayerNormResult layernorm(const Tensor& x, const Tensor& gamma, const Tensor& beta, float eps);
struct LayerNormGrads {
  Tensor dx, dgamma, dbeta;
};
LayerNormGrads layernorm_backward(const Tensor& dy, const Tensor& x, const Tensor& gamma,
                                  const Tensor& mean, const Tensor& rstd);

// ---- embedding (tensor/cpu/embedding.cpp) ----
// out[.., :] = weight[ids[..], :]; weight [V, C], ids any shape (float-coded ints).
Tensor embedding(const Tensor& weight, const Tensor& ids);
// The scatter-add backward: dweight[v] = sum of dout rows whose id is v. -> [V, C]
Tensor embedding_backward(const Tensor& dout, const Tensor& ids, int64_t vocab_size);

// ---- losses on logits (tensor/cpu/loss.cpp) ----
// Masked mean cross-entropy: sum_i m_i * -log softmax(z_i)[t_i] / max(1, sum_i m_i).
// logits [N, V], targets [N], mask [N] (1 = counted, 0 = ignored) -> []
Tensor cross_entropy(const Tensor& logits, const Tensor& targets, const Tensor& mask);
// dlogits = dloss * m_i * (softmax(z_i) - onehot(t_i)) / max(1, sum m) -> [N, V]
Tensor cross_entropy_backward(const Tensor& logits, const Tensor& targets, const Tensor& mask,
                              float dloss);
// The log-probability of given tokens: out[i] = log softmax(z_i)[t_i]. [N, V], [N] -> [N]
Tensor token_logprobs(const Tensor& logits, const Tensor& tokens);
// dlogits[i] = dout[i] * (onehot(t_i) - softmax(z_i)) -> [N, V]
Tensor token_logprobs_backward(const Tensor& logits, const Tensor& tokens, const Tensor& dout);
// Entropy of each row's softmax, -sum p log p (a metric, no backward). [N, V] -> [N]
Tensor softmax_entropy(const Tensor& logits);

// ---- layout (tensor/cpu/layout.cpp) ----
Tensor transpose_last2(const Tensor& a);        // [.., M, N] -> [.., N, M]
// [A, B, C, D] -> [A, C, B, D]: the attention head split [B,T,H,D]->[B,H,T,D] and its merge.
Tensor permute_0213(const Tensor& a);
Tensor concat0(const std::vector<Tensor>& parts);           // along dim 0
Tensor slice0(const Tensor& a, int64_t start, int64_t end);  // rows [start, end) of dim 0
// Causal mask on scores [.., Tq, Tk]: entries with key j > query i + (Tk - Tq)
// become `fill`. Tq < Tk is the KV-cache case (queries are the last Tq positions).
Tensor causal_mask(const Tensor& scores, float fill);

// ---- fused causal attention (tensor/cpu/attention.cpp) ----
// Causal self-attention of n_heads heads in one op, without the [B, H, T, T]
// scores: q, k, v are [B, T, C] straight out of the q/k/v linear layers, heads
// interleaved along C = H*D (head h is columns h*D .. h*D + D - 1). Per head:
//   y_t = sum_{j<=t} softmax_j(q_t . k_j / sqrt(D)) v_j          -> y [B, T, C]
// lse [B, H, T] (allocated here): the log-sum-exp of each query's scaled
// scores, what the backward needs to rebuild the probabilities.
// CUDA supports head dims D <= 64.
Tensor causal_attention(const Tensor& q, const Tensor& k, const Tensor& v, int n_heads, Tensor& lse);
// The backward (FlashAttention-2, Dao 2023, algorithm 2), given the forward's
// inputs, its y and lse, and dy [B, T, C]; allocates dq, dk, dv [B, T, C].
// Equations at cpu::causal_attention_backward.
void causal_attention_backward(const Tensor& q, const Tensor& k, const Tensor& v, const Tensor& y,
                               const Tensor& lse, const Tensor& dy, int n_heads, Tensor& dq, Tensor& dk,
                               Tensor& dv);

// ---- batched decoding (tensor/cpu/decode.cpp) ----
// Inference only, no backward: sampling is never differentiated (the GRPO
// update recomputes log-probabilities with the training forward). The KV cache
// is preallocated [B, H, Tmax, D] per layer and written in place, so a decode
// step copies nothing but the new position.

// cache[b, h, start + t, :] = the head-h slice of src[b, t, column : column + H*D];
// src [B, Tn, S] (a linear layer's output, maybe a fused q|k|v row), cache [B, H, Tmax, D].
// With `clock` (a [1] tensor, e.g. a step counter), positions start at start + clock[0]:
// a captured CUDA graph (tensor/step_graph.h) advances them without new arguments.
// The same holds for decode_attention's length and sample_step_'s config.step.
void kv_cache_write_(Tensor& cache, const Tensor& src, int64_t column, int64_t start, const Tensor& clock = Tensor());
// Attention of one new query per row over cache positions [pads[b], length):
//   y[b, h] = softmax_j(q[b, h] . k[b, h, j] / sqrt(D)) v[b, h, j]
// q[b, h] is qkv[b, column + h*D : column + (h+1)*D]; qkv [B, S] or [B, 1, S];
// keys, values [B, H, Tmax, D]; pads [B] (float-coded). -> [B, H*D]
Tensor decode_attention(const Tensor& qkv, int64_t column, const Tensor& keys, const Tensor& values,
                        const Tensor& pads, int64_t length, const Tensor& clock = Tensor());
// The bf16 KV cache (GenerateConfig::kv_cache, model/generate.h): half the
// bytes for decode_attention to read, which is what a decode step waits on.
// The cache is not a DType::BF16 tensor (the element type of the training
// path, tensor/tensor.h) but a float tensor [B, H, Tmax, D/2] whose 32-bit
// words each hold two bf16 values:
// element 2i in the low 16 bits, 2i+1 in the high ones (on a little-endian
// machine the bytes are exactly a bf16 array [B, H, Tmax, D]). Its floats are
// bit patterns, not numbers: only copies and gathers may touch them. D must be
// even and is passed explicitly (head_dim), checked against the cache's width.
// Writes round to nearest even (any NaN becomes the quiet NaN 0x7fff on both
// devices); reads widen (bf16 bits << 16) and all math, accumulation and
// softmax stay fp32.
void kv_cache_write_bf16_(Tensor& cache, const Tensor& src, int64_t head_dim, int64_t column, int64_t start,
                          const Tensor& clock = Tensor());
Tensor decode_attention_bf16(const Tensor& qkv, int64_t column, const Tensor& keys, const Tensor& values,
                             int64_t head_dim, const Tensor& pads, int64_t length, const Tensor& clock = Tensor());
// float -> bf16 bits, round to nearest even (NaN -> 0x7fff), and back (exact):
// what the bf16 cache stores and reads, for tests and references.
uint16_t bf16_round(float x);
float bf16_widen(uint16_t bits);
// SampleStepConfig, the settings of one batched sampling step (sample_step_
// below), is in tensor/kernel_args.h.
// The state a batched decode keeps on the device, B0 sequences (see sample_step_).
struct DecodeState {
  Tensor prompt_lengths;  // [B0]
  Tensor done;            // [B0] 1 once a sequence stopped
  Tensor lengths;         // [B0] tokens generated so far
  Tensor tokens, logprobs, policy_logprobs;  // [B0, max_new]
};
// One sampling step for the Bc rows still in the batch (rows [Bc]: their
// sequence numbers in 0..B0-1): draws each live row's token from logits [Bc, V],
// records it in `state` and decides whether the row stops (the rules and
// equations are at cpu::sample_step). Writes next_tokens and next_positions
// [Bc, 1], what the next decode step feeds (0 for stopped rows).
void sample_step_(const Tensor& logits, const Tensor& rows, DecodeState& state, Tensor& next_tokens,
                  Tensor& next_positions, const SampleStepConfig& config, const Tensor& clock = Tensor());
// ---- bf16 (tensor/cpu/bf16.cpp, tensor/cuda/bf16.cu) ----
// The mixed-precision training path (`--dtype bf16`, model/gpt.h) keeps the
// activations that feed matrix products in bf16 and everything else (weights,
// their gradients, optimizer state, the residual stream, every sum) in float32.
// The ops below take bf16 tensors; every other op takes float32 only and
// refuses bf16 with a clear error (Tensor::data()). Math is float32 inside.
//   cast             fp32 -> bf16 rounds to nearest even, bf16 -> fp32 is exact;
//                    a tensor already of `dtype` comes back as it is (no copy).
//   add_             bf16 += bf16 (gradient accumulation), one rounding.
//   linear           x bf16, w and b fp32, rounded to bf16 for the product (as
//                    autocast does); y fp32 with a residual (fp32), else bf16.
//   matmul(.., out)  a, b bf16; float32 accumulation; result fp32 or bf16.
//   sum_rows         bf16 in, fp32 out (a bias gradient).
//   layernorm(.., out)  x fp32 -> y bf16; layernorm_backward takes dy bf16, gives dx fp32.
//   gelu, gelu_backward  bf16 in, bf16 out.
//   causal_attention(+ _backward)  q, k, v, y, dy, dq, dk, dv all bf16.
Tensor cast(const Tensor& x, DType dtype);

// ---- in place (kernels: fill, affine, axpy, add_bf16_ of tensor/cpu/kernels.h) ----
void fill_(Tensor& a, float value);
void add_(Tensor& a, const Tensor& b);           // a += b, same numel and dtype
void mul_scalar_(Tensor& a, float s);            // a *= s
void axpy_(Tensor& a, float alpha, const Tensor& b);  // a += alpha * b

// ---- optimiser kernels (tensor/cpu/optim.cpp) ----
// AdamWParams: tensor/kernel_args.h.
// One AdamW step in place (Loshchilov & Hutter 2019, decoupled weight decay):
//   m = b1 m + (1-b1) g;  v = b2 v + (1-b2) g^2
//   p -= lr * ( (m / (1-b1^t)) / (sqrt(v / (1-b2^t)) + eps) + wd * p )
void adamw_step_(Tensor& param, const Tensor& grad, Tensor& m, Tensor& v, const AdamWParams& hp);
// Sum of squares of all elements, as a device scalar [] (no host sync).
Tensor sum_squares(const Tensor& a);

// ---- multi-tensor optimiser ops (tensor/cpu/optim.cpp, tensor/cuda/optim.cu) ----
// The clipping and the AdamW step of a whole model (a GPT has ~100 parameter
// tensors) in a few launches instead of a few per tensor: on CUDA, each block
// takes a chunk of one tensor of the list. Same arithmetic per element as the
// one-tensor ops; the sum of squares is summed in a fixed order (the same bits
// every run) but not in the one-tensor op's order.
// sum over every tensor of all its elements squared, as a device scalar []
Tensor sum_squares_all(const std::vector<Tensor>& tensors);
void mul_scalar_all_(const std::vector<Tensor>& tensors, float s);  // every tensor *= s, in place
// One AdamW step of every parameter i with its gradient, moments and weight
// decay weight_decay[i] (hp.weight_decay is not read); the shapes as adamw_step_.
void adamw_step_all_(const std::vector<Tensor>& params, const std::vector<Tensor>& grads,
                     const std::vector<Tensor>& m, const std::vector<Tensor>& v,
                     const std::vector<float>& weight_decay, const AdamWParams& hp);

}  // namespace aha

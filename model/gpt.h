// The GPT: a GPT-2-style decoder (Radford et al. 2019) and nothing else.
//
//   x_0 = wte[tokens] + wpe[positions]                         [B, T, C]
//   x_l = x_{l-1} + Attn(LN_1(x_{l-1}));  x_l += MLP(LN_2(x_l))  (pre-LayerNorm blocks)
//   logits = LN_f(x_L) wte^T                                  [B*T, V]  (head tied to wte)
//
// Parameters are autograd Vars, named as in GPT-2 / nanoGPT (the names are the
// checkpoint's tensor names and bench/reference_gpt.py's). Linear weights are
// [in, out], so a layer is y = x W + b.
//
// The pieces of the forward pass are free functions below so that the
// training forward (GPT::forward) and both decoders (model/inference.cpp,
// model/decoder.cpp) run the very same code: transformer_block() is the one
// block of all three, each passing its own attention.
#pragma once

#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "autograd/ops.h"
#include "model/config.h"

namespace aha {

struct GPTBlock {
  Var ln1_gamma, ln1_beta;      // [C]
  Var w_q, b_q;                 // [C, C], [C]
  Var w_k, b_k;
  Var w_v, b_v;
  Var w_attn_out, b_attn_out;   // [C, C], [C]: the residual projection of attention
  Var ln2_gamma, ln2_beta;      // [C]
  Var w_fc, b_fc;               // [C, 4C], [4C]
  Var w_mlp_out, b_mlp_out;     // [4C, C], [C]: the residual projection of the MLP
};

struct NamedParam {
  std::string name;  // e.g. "h.0.attn.q.weight"
  Var var;
};

class GPT {
 public:
  // Every parameter allocated on `device`: zero, or the LayerNorm gains at one.
  // Call init_weights() for a model to train, or load a checkpoint into it.
  explicit GPT(const GPTConfig& config, Device device = Device::CPU);

  // GPT-2 initialisation: weights ~ N(0, 0.02^2), the two residual projections
  // of each block ~ N(0, (0.02 / sqrt(2 L))^2) so the residual stream's
  // variance does not grow with depth, biases 0, LayerNorm gains 1.
  // Draws from `gen` in the order of named_params().
  void init_weights(Generator& gen);

  // tokens [B, T] (float-coded ids, T <= context) -> logits [B*T, V].
  Var forward(const Tensor& tokens) const;
  // The training forward's precision (`--dtype`). fp32: everything float32
  // (TF32 products on CUDA). bf16, mixed precision: what the matrix products
  // and attention read (LayerNorm outputs, q, k, v, attention outputs, the MLP's
  // hidden layer) is stored in bf16, with fp32 math inside each op; the
  // weights, the residual stream, the logits and every gradient of a weight
  // stay float32. Inference (model/inference.h) is float32 either way.
  void set_dtype(DType dtype) { dtype_ = dtype; }
  DType dtype() const { return dtype_; }
  // Masked next-token loss: mean over positions with mask 1 of
  // -log softmax(logits)[target]. tokens, targets, mask all [B, T].
  Var loss(const Tensor& tokens, const Tensor& targets, const Tensor& mask) const;

  const GPTConfig& config() const { return config_; }
  Device device() const { return device_; }
  const std::vector<NamedParam>& named_params() const { return named_; }
  std::vector<Var> params() const;
  // AdamW's weight-decay flags: matrices decay, vectors (biases, LayerNorm) do not.
  std::vector<bool> decay_mask() const;
  int64_t num_params() const;

  // A deep copy (its own parameters): e.g. GRPO's frozen reference model.
  GPT clone() const;
  // Copy every parameter value from `other` (same config) into this model.
  void copy_params_from(const GPT& other);

  Var wte;                  // [V, C] token embedding, also the LM head
  Var wpe;                  // [context, C] learned position embedding
  std::vector<GPTBlock> blocks;
  Var lnf_gamma, lnf_beta;  // [C]

 private:
  GPTConfig config_;
  Device device_;
  DType dtype_ = DType::F32;
  std::vector<NamedParam> named_;
};

// ---- the pieces of the forward pass (shared with model/inference.cpp and model/decoder.cpp) ----

// A block's attention as its caller runs it: h = LN_1(x) [.., C] -> the heads'
// output y [.., C], before the output projection W_o. The training forward
// runs the fused causal op; the decoders also write this step's keys and
// values into their KV cache and attend over all of it.
using Attention = std::function<Var(const Var& h)>;
// One transformer block, pre-LayerNorm (GPT-2 section 2.3), x [.., C] -> [.., C]:
//   x = x + W_o Attn(LN_1(x)) + b_o;   x = x + MLP(LN_2(x))
// The two residual adds happen in the epilogues of W_o's and W_out's products.
// `act` is what LN_1 and LN_2 write (GPT::set_dtype): bf16 makes the
// products of the block read bf16; the residual stream x stays fp32.
Var transformer_block(const GPTBlock& block, const Var& x, const Attention& attention, DType act = DType::F32);

// linear(x, W, b) = x W + b is the fused autograd op (autograd/ops.h).
// x_0 = wte[tokens] + wpe[positions]; tokens, positions [B, T] -> [B, T, C]
Var embed(const GPT& model, const Tensor& tokens, const Tensor& positions);
// [B, T, C] -> [B, H, T, D]
Var split_heads(const Var& x, int n_heads);
// [B, H, T, D] -> [B, T, C]
Var merge_heads(const Var& y);
// Scaled dot-product attention (Vaswani et al. 2017, eq. 1):
//   softmax(q k^T / sqrt(D) + mask) v
// q [B, H, Tq, D] are the last Tq of the Tk positions of k, v [B, H, Tk, D].
// Without `bias` the mask is causal (key j is visible to query i when
// j <= i + Tk - Tq); otherwise `bias` [B, H, Tq, Tk] (0 or -inf) is the whole
// mask. -> [B, H, Tq, D]
Var attend(const Var& q, const Var& k, const Var& v, const Tensor& bias = Tensor());
// MLP(x) = GELU(x W_fc + b_fc) W_out + b_out; x [B, T, C] -> [B, T, C].
// With `residual`: residual + MLP(x), added in the last product's epilogue.
Var mlp(const GPTBlock& block, const Var& x, const Var& residual = Var());
// logits = LN_f(x) wte^T; x [B, T, C] -> [B*T, V]
Var lm_head(const GPT& model, const Var& x);
// The ids 0..T-1 for every row: [B, T] on `device`.
Tensor positions_for(int64_t batch, int64_t length, Device device);

}  // namespace aha

#include "model/gpt.h"

#include <cmath>
#include <stdexcept>

namespace aha {
namespace {

// GPT-2's initialisation scale (Radford et al. 2019; nanoGPT `_init_weights`).
constexpr float kInitStd = 0.02f;
constexpr int kMlpExpansion = 4;  // the MLP's hidden width is 4C

Var parameter(const Shape& shape, Device device, float value = 0.0f) {
  return Var(Tensor::full(shape, value, device), /*requires_grad=*/true);
}

[[noreturn]] void forward_error(const std::string& what) {
  throw std::runtime_error("GPT::forward: " + what);
}

}  // namespace

GPT::GPT(const GPTConfig& config, Device device) : config_(config), device_(device) {
  config.validate();
  const int64_t V = config.vocab_size, C = config.d_model, F = kMlpExpansion * config.d_model;
  wte = parameter(Shape{V, C}, device);
  wpe = parameter(Shape{config.context, C}, device);
  named_.push_back({"wte.weight", wte});
  named_.push_back({"wpe.weight", wpe});
  blocks.resize(config.n_layers);
  for (int l = 0; l < config.n_layers; ++l) {
    GPTBlock& b = blocks[l];
    b.ln1_gamma = parameter(Shape{C}, device, 1.0f);
    b.ln1_beta = parameter(Shape{C}, device);
    b.w_q = parameter(Shape{C, C}, device);
    b.b_q = parameter(Shape{C}, device);
    b.w_k = parameter(Shape{C, C}, device);
    b.b_k = parameter(Shape{C}, device);
    b.w_v = parameter(Shape{C, C}, device);
    b.b_v = parameter(Shape{C}, device);
    b.w_attn_out = parameter(Shape{C, C}, device);
    b.b_attn_out = parameter(Shape{C}, device);
    b.ln2_gamma = parameter(Shape{C}, device, 1.0f);
    b.ln2_beta = parameter(Shape{C}, device);
    b.w_fc = parameter(Shape{C, F}, device);
    b.b_fc = parameter(Shape{F}, device);
    b.w_mlp_out = parameter(Shape{F, C}, device);
    b.b_mlp_out = parameter(Shape{C}, device);
    std::string h = "h." + std::to_string(l) + ".";
    named_.push_back({h + "ln_1.weight", b.ln1_gamma});
    named_.push_back({h + "ln_1.bias", b.ln1_beta});
    named_.push_back({h + "attn.q.weight", b.w_q});
    named_.push_back({h + "attn.q.bias", b.b_q});
    named_.push_back({h + "attn.k.weight", b.w_k});
    named_.push_back({h + "attn.k.bias", b.b_k});
    named_.push_back({h + "attn.v.weight", b.w_v});
    named_.push_back({h + "attn.v.bias", b.b_v});
    named_.push_back({h + "attn.c_proj.weight", b.w_attn_out});
    named_.push_back({h + "attn.c_proj.bias", b.b_attn_out});
    named_.push_back({h + "ln_2.weight", b.ln2_gamma});
    named_.push_back({h + "ln_2.bias", b.ln2_beta});
    named_.push_back({h + "mlp.c_fc.weight", b.w_fc});
    named_.push_back({h + "mlp.c_fc.bias", b.b_fc});
    named_.push_back({h + "mlp.c_proj.weight", b.w_mlp_out});
    named_.push_back({h + "mlp.c_proj.bias", b.b_mlp_out});
  }
  lnf_gamma = parameter(Shape{C}, device, 1.0f);
  lnf_beta = parameter(Shape{C}, device);
  named_.push_back({"ln_f.weight", lnf_gamma});
  named_.push_back({"ln_f.bias", lnf_beta});
}

void GPT::init_weights(Generator& gen) {
  // GPT-2 section 2.3: "scale the weights of residual layers at initialization
  // by a factor of 1/sqrt(N) where N is the number of residual layers" (2 per block).
  const float residual_std = kInitStd / std::sqrt(2.0f * config_.n_layers);
  for (NamedParam& p : named_) {
    Tensor& value = p.var.value();
    if (value.ndim() != 2) continue;  // biases stay 0, LayerNorm gains 1
    bool residual = p.name.find("c_proj.weight") != std::string::npos;
    value.copy_from(Tensor::randn(value.shape(), gen, device_, residual ? residual_std : kInitStd));
  }
}

std::vector<Var> GPT::params() const {
  std::vector<Var> out;
  for (const NamedParam& p : named_) out.push_back(p.var);
  return out;
}

std::vector<bool> GPT::decay_mask() const {
  std::vector<bool> out;
  for (const NamedParam& p : named_) out.push_back(p.var.value().ndim() == 2);
  return out;
}

int64_t GPT::num_params() const {
  int64_t n = 0;
  for (const NamedParam& p : named_) n += p.var.value().numel();
  return n;
}

GPT GPT::clone() const {
  GPT copy(config_, device_);
  copy.dtype_ = dtype_;
  copy.copy_params_from(*this);
  return copy;
}

void GPT::copy_params_from(const GPT& other) {
  if (other.config_ != config_)
    throw std::runtime_error("GPT::copy_params_from: config mismatch (" + other.config_.str() +
                             " into " + config_.str() + ")");
  for (size_t i = 0; i < named_.size(); ++i) named_[i].var.value().copy_from(other.named_[i].var.value());
}

// ---- the pieces of the forward pass ----

Tensor positions_for(int64_t batch, int64_t length, Device device) {
  std::vector<float> ids((size_t)(batch * length));
  for (int64_t r = 0; r < batch; ++r)
    for (int64_t t = 0; t < length; ++t) ids[(size_t)(r * length + t)] = (float)t;
  return Tensor::from_vector(ids, Shape{batch, length}, device);
}

Var embed(const GPT& model, const Tensor& tokens, const Tensor& positions) {
  // Positions come as [B, T] like the tokens (not a shared [T, C] table
  // slice) because elementwise ops broadcast only over the last dim.
  return add(embedding(model.wte, tokens), embedding(model.wpe, positions));  // [B, T, C]
}

Var split_heads(const Var& x, int n_heads) {
  const int64_t B = x.shape()[0], T = x.shape()[1], C = x.shape()[2];
  return permute_0213(reshape(x, Shape{B, T, n_heads, C / n_heads}));  // [B, H, T, D]
}

Var merge_heads(const Var& y) {
  const int64_t B = y.shape()[0], H = y.shape()[1], T = y.shape()[2], D = y.shape()[3];
  return reshape(permute_0213(y), Shape{B, T, H * D});  // [B, T, C]
}

Var attend(const Var& q, const Var& k, const Var& v, const Tensor& bias) {
  const float scale = 1.0f / std::sqrt((float)q.shape()[3]);
  Var scores = mul_scalar(matmul(q, k, false, true), scale);  // [B, H, Tq, Tk]
  Var masked = bias.defined() ? add(scores, Var(bias)) : causal_mask(scores);
  return matmul(softmax(masked), v);  // [B, H, Tq, D]
}

Var mlp(const GPTBlock& block, const Var& x, const Var& residual) {
  return linear(gelu(linear(x, block.w_fc, block.b_fc)), block.w_mlp_out, block.b_mlp_out, residual);
}

Var transformer_block(const GPTBlock& block, const Var& x, const Attention& attention, DType act) {
  const float eps = 1e-5f;
  Var y = attention(layernorm(x, block.ln1_gamma, block.ln1_beta, eps, act));  // [.., C]
  Var out = linear(y, block.w_attn_out, block.b_attn_out, x);                // x + W_o y + b_o
  return mlp(block, layernorm(out, block.ln2_gamma, block.ln2_beta, eps, act), out);  // x + MLP(LN_2(x))
}

Var lm_head(const GPT& model, const Var& x) {
  const int64_t C = x.shape()[-1];
  Var h = layernorm(x, model.lnf_gamma, model.lnf_beta);                  // [B, T, C]
  return matmul(reshape(h, Shape{h.shape().numel() / C, C}), model.wte, false, true);  // [B*T, V]
}

// The training forward: transformer_block() with the fused causal attention.
// With dtype bf16, LN_1 and LN_2 write bf16, so q, k, v, the attention output
// and the MLP's hidden layer are bf16 too (each linear layer's output takes
// its input's dtype); the two residual projections add into the fp32 stream x.
// The head stays fp32: the log-probabilities that GRPO's ratio compares are
// as exact as in the fp32 path, and with a small vocabulary it costs little.
Var GPT::forward(const Tensor& tokens) const {
  if (tokens.ndim() != 2) forward_error("tokens must be [B, T], got " + tokens.shape().str());
  const int64_t B = tokens.size(0), T = tokens.size(1);
  if (T < 1 || T > config_.context)
    forward_error("sequence length " + std::to_string(T) + " is outside [1, context " +
                  std::to_string(config_.context) + "]");
  if (tokens.device() != device_)
    forward_error(std::string("tokens on ") + device_name(tokens.device()) + ", model on " +
                  device_name(device_));
  Var x = embed(*this, tokens, positions_for(B, T, device_));  // [B, T, C], fp32
  for (const GPTBlock& block : blocks) {
    // The fused op: heads stay interleaved in [B, T, C], no [B, H, T, T] scores
    // (attend() above is the same computation composed from primitive ops).
    auto attention = [&](const Var& h) {
      return causal_attention(linear(h, block.w_q, block.b_q), linear(h, block.w_k, block.b_k),
                              linear(h, block.w_v, block.b_v), config_.n_heads);  // [B, T, C]
    };
    x = transformer_block(block, x, attention, dtype_);  // dtype_: what the products read
  }
  return lm_head(*this, x);  // [B*T, V]
}

Var GPT::loss(const Tensor& tokens, const Tensor& targets, const Tensor& mask) const {
  if (targets.shape() != tokens.shape() || mask.shape() != tokens.shape())
    throw std::runtime_error("GPT::loss: tokens " + tokens.shape().str() + ", targets " +
                             targets.shape().str() + " and mask " + mask.shape().str() +
                             " must all be [B, T]");
  const int64_t N = tokens.numel();
  return cross_entropy(forward(tokens), targets.reshape(Shape{N}), mask.reshape(Shape{N}));
}

}  // namespace aha

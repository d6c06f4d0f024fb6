#include "model/inference.h"

#include <algorithm>
#include <cmath>
#include <stdexcept>
#include <string>

namespace aha {
namespace {

[[noreturn]] void inference_error(const char* op, const std::string& what) {
  throw std::runtime_error(std::string(op) + ": " + what);
}

// Position ids of the Tn new cache positions of each row: cache position t of
// row b holds that row's token number t - pads(b). Padding gets id 0 (any
// valid id: padding is never attended to by real tokens). -> [B, Tn]
Tensor new_positions(const GPT& model, const KVCache& cache, int64_t new_tokens, const char* op) {
  const int64_t B = cache.batch(), start = cache.length();
  std::vector<float> ids((size_t)(B * new_tokens));
  for (int64_t b = 0; b < B; ++b) {
    for (int64_t i = 0; i < new_tokens; ++i) {
      int64_t position = start + i - cache.pad(b);
      if (position >= model.config().context)
        inference_error(op, "row " + std::to_string(b) + " would reach position " +
                                std::to_string(position) + ", past the context of " +
                                std::to_string(model.config().context));
      ids[(size_t)(b * new_tokens + i)] = (float)std::max<int64_t>(position, 0);
    }
  }
  return Tensor::from_vector(ids, Shape{B, new_tokens}, model.device());
}

// tokens [B, Tn] at the next Tn cache positions of every row. The block is
// GPT::forward's (transformer_block), its attention appending this step's keys
// and values to the cache and attending over all of the cache. -> logits [B, Tn, V], or [B, V] when only
// the last position is wanted.
Tensor forward_cached(const GPT& model, KVCache& cache, const Tensor& tokens, bool all_positions,
                      const char* op) {
  NoGradGuard no_grad;
  const GPTConfig& config = model.config();
  const int64_t B = tokens.size(0), Tn = tokens.size(1);
  Tensor positions = new_positions(model, cache, Tn, op);
  Tensor bias = cache.any_padding()
                    ? padding_bias(cache.pads(), config.n_heads, cache.length() + Tn, Tn).to(model.device())
                    : Tensor();
  Var x = embed(model, tokens, positions);  // [B, Tn, C]
  for (int l = 0; l < config.n_layers; ++l) {
    const GPTBlock& block = model.blocks[(size_t)l];
    auto attention = [&](const Var& h) {
      Var q = split_heads(linear(h, block.w_q, block.b_q), config.n_heads);  // [B, H, Tn, D]
      Var k = split_heads(linear(h, block.w_k, block.b_k), config.n_heads);
      Var v = split_heads(linear(h, block.w_v, block.b_v), config.n_heads);
      auto [keys, values] = cache.append(l, k.value(), v.value());          // [B, H, Tk, D]
      return merge_heads(attend(q, Var(keys), Var(values), bias));          // [B, Tn, C]
    };
    x = transformer_block(block, x, attention);
  }
  if (!all_positions) return lm_head(model, last_position(x)).value();    // [B, V]
  return lm_head(model, x).value().reshape(Shape{B, Tn, config.vocab_size});  // [B, Tn, V]
}

void check_token(const GPT& model, int token, const char* op, size_t row) {
  if (token < 0 || token >= model.config().vocab_size)
    inference_error(op, "token " + std::to_string(token) + " of row " + std::to_string(row) +
                            " is outside the vocabulary [0, " +
                            std::to_string(model.config().vocab_size) + ")");
}

}  // namespace

// Query i of the new positions sits at cache position qi = Tk - Tn + i; key j
// is visible when it is not in the future (j <= qi) and, for a real query,
// not padding (j >= pads(b)). A padding query sees only padding keys, so no
// row of the softmax is empty and no real value is touched by it.
Tensor padding_bias(const std::vector<int64_t>& pads, int n_heads, int64_t Tk, int64_t Tn) {
  const int64_t B = (int64_t)pads.size();
  std::vector<float> bias((size_t)(B * n_heads * Tn * Tk));
  size_t at = 0;
  for (int64_t b = 0; b < B; ++b) {
    const int64_t pad = pads[(size_t)b];
    for (int h = 0; h < n_heads; ++h) {
      for (int64_t i = 0; i < Tn; ++i) {
        const int64_t qi = Tk - Tn + i;
        for (int64_t j = 0; j < Tk; ++j) {
          bool visible = j <= qi && (qi < pad || j >= pad);
          bias[at++] = visible ? 0.0f : -INFINITY;
        }
      }
    }
  }
  return Tensor::from_vector(bias, Shape{B, n_heads, Tn, Tk});
}

Var last_position(const Var& x) {
  const int64_t B = x.shape()[0], T = x.shape()[1], C = x.shape()[2];
  Var by_time = reshape(permute_0213(reshape(x, Shape{1, B, T, C})), Shape{T, B * C});
  return reshape(slice0(by_time, T - 1, T), Shape{B, 1, C});
}

size_t check_prompts(const GPT& model, const std::vector<std::vector<int>>& prompts, const char* op) {
  size_t longest = 0;
  for (size_t b = 0; b < prompts.size(); ++b) {
    if (prompts[b].empty()) inference_error(op, "prompt " + std::to_string(b) + " is empty");
    if ((int64_t)prompts[b].size() > model.config().context)
      inference_error(op, "prompt " + std::to_string(b) + " has " + std::to_string(prompts[b].size()) +
                              " tokens, more than the context of " +
                              std::to_string(model.config().context));
    for (int token : prompts[b]) check_token(model, token, op, b);
    longest = std::max(longest, prompts[b].size());
  }
  return longest;
}

PrefillResult prefill(const GPT& model, const std::vector<std::vector<int>>& prompts, bool all_positions) {
  const char* op = "prefill";
  if (prompts.empty()) inference_error(op, "no prompts");
  const size_t longest = check_prompts(model, prompts, op);
  const int64_t B = (int64_t)prompts.size(), Tp = (int64_t)longest;
  std::vector<int64_t> pads;
  std::vector<float> ids((size_t)(B * Tp), 0.0f);  // padding holds token 0
  for (int64_t b = 0; b < B; ++b) {
    const std::vector<int>& prompt = prompts[(size_t)b];
    const int64_t pad = Tp - (int64_t)prompt.size();
    pads.push_back(pad);
    for (size_t i = 0; i < prompt.size(); ++i) ids[(size_t)(b * Tp + pad) + i] = (float)prompt[i];
  }
  KVCache cache(model.config(), pads);
  Tensor tokens = Tensor::from_vector(ids, Shape{B, Tp}, model.device());
  Tensor logits = forward_cached(model, cache, tokens, all_positions, op);
  return PrefillResult{std::move(cache), logits};
}

Tensor decode_step(const GPT& model, KVCache& cache, const std::vector<int>& tokens) {
  const char* op = "decode_step";
  if ((int64_t)tokens.size() != cache.batch())
    inference_error(op, std::to_string(tokens.size()) + " tokens for a batch of " +
                            std::to_string(cache.batch()));
  std::vector<float> ids;
  for (size_t b = 0; b < tokens.size(); ++b) {
    check_token(model, tokens[b], op, b);
    ids.push_back((float)tokens[b]);
  }
  Tensor next = Tensor::from_vector(ids, Shape{(int64_t)ids.size(), 1}, model.device());
  return forward_cached(model, cache, next, false, op);
}

}  // namespace aha

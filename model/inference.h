// The inference path: the GPT's forward pass with a KV cache and no autograd
// graph, for generation. It runs the same pieces as GPT::forward
// (model/gpt.h), so its logits equal the training forward's at every position
// (tests/test_model.cpp checks it within 1e-5 on CPU).
//
// Prompts of different lengths share one batch by left padding: row b is
// preceded by pads(b) padding positions (model/kv_cache.h). A padding position
// is never a key of a real token's query, and every real token's position id
// counts from its own first token, so padding changes no result.
#pragma once

#include <vector>

#include "model/gpt.h"
#include "model/kv_cache.h"

namespace aha {

struct PrefillResult {
  KVCache cache;
  // [B, V]: the logits after each prompt's last token (what the first new
  // token is sampled from). With all_positions, [B, Tp, V] for every cache
  // position; row b's prompt is at positions pads(b) .. Tp-1, the rest is padding.
  Tensor logits;
};

// Throws, naming `op` and the prompt, unless every prompt has 1..context
// tokens in the vocabulary. Returns the longest prompt's length.
size_t check_prompts(const GPT& model, const std::vector<std::vector<int>>& prompts, const char* op);

// Runs the prompts (each 1..context tokens) as one left-padded batch [B, Tp].
PrefillResult prefill(const GPT& model, const std::vector<std::vector<int>>& prompts,
                      bool all_positions = false);

// Appends one token to every row of the cache and returns the logits after
// it, [B, V]. A row may not grow past the model's context.
Tensor decode_step(const GPT& model, KVCache& cache, const std::vector<int>& tokens);

// The attention mask of Tn new positions over Tk cache positions with left
// padding, as an additive bias [B, H, Tn, Tk] of 0 (visible) and -inf, on the CPU.
Tensor padding_bias(const std::vector<int64_t>& pads, int n_heads, int64_t Tk, int64_t Tn);

// x [B, T, C] -> [B, 1, C], the last position of every row (one permute,
// because slices run along dim 0 only).
Var last_position(const Var& x);

}  // namespace aha

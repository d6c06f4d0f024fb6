// What a decoder is asked (GenerateConfig) and what it gives back (Completion),
// with the stop rule both decoders share: model/generate.h (the stepwise
// decoder and the entry point) and model/decoder.h (the batched one) include
// this, not each other.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "model/sampler.h"

namespace aha {

// The precision of the batched decoder's KV cache (model/decoder.h). Weights,
// activations and all arithmetic stay fp32 either way; bf16 rounds each cached
// key and value to bfloat16 (8 bits of mantissa) on write, which halves the
// bytes the attention of every decode step reads. A switch, never a default:
// its tokens and log-probs are checked against fp32's in tests/test_model.cpp.
enum class KvCache { Fp32, Bf16 };
const char* kv_cache_name(KvCache precision);  // "fp32", "bf16"
KvCache parse_kv_cache(const std::string& name);  // throws listing the choices

struct GenerateConfig {
  int max_new_tokens = 64;
  SamplingConfig sampling;
  int eos_token = -1;            // stops a row; -1 = none
  std::vector<int> stop_tokens;  // also stop a row (e.g. a newline)
  KvCache kv_cache = KvCache::Fp32;  // bf16: batched decoder only (no top-k / top-p)

  void validate() const;  // throws naming the bad field
};

enum class StopReason {
  Eos,        // sampled eos_token
  StopToken,  // sampled one of stop_tokens
  MaxTokens,  // generated max_new_tokens
  Context,    // the sequence filled the model's context
};
const char* stop_reason_name(StopReason reason);  // "eos", "stop_token", "max_tokens", "context"

// The rule both decoders apply after a row draws its generated-th `token`:
// why the row stops, in this order of precedence, or false when it goes on
// (its next position, prompt + generated - 1, still fits the context).
bool stops(const GenerateConfig& config, int token, int64_t generated, int64_t prompt_length, int64_t context,
           StopReason& reason);

struct Completion {
  std::vector<int> tokens;             // generated tokens; the eos / stop token is included
  std::vector<float> logprobs;         // per token, under the sampling distribution (model/sampler.h)
  std::vector<float> policy_logprobs;  // per token, under softmax(logits / T)
  StopReason stop = StopReason::MaxTokens;
};

}  // namespace aha

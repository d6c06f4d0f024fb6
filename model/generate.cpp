#include "model/generate.h"

#include <algorithm>
#include <stdexcept>
#include <string>

#include "model/decoder.h"
#include "model/inference.h"

namespace aha {

const char* stop_reason_name(StopReason reason) {
  switch (reason) {
    case StopReason::Eos: return "eos";
    case StopReason::StopToken: return "stop_token";
    case StopReason::MaxTokens: return "max_tokens";
    case StopReason::Context: return "context";
  }
  return "unknown";
}

const char* kv_cache_name(KvCache precision) {
  switch (precision) {
    case KvCache::Fp32: return "fp32";
    case KvCache::Bf16: return "bf16";
  }
  return "unknown";
}

KvCache parse_kv_cache(const std::string& name) {
  if (name == "fp32") return KvCache::Fp32;
  if (name == "bf16") return KvCache::Bf16;
  throw std::runtime_error("generate: unknown KV cache precision '" + name + "' (choices: fp32, bf16)");
}

void GenerateConfig::validate() const {
  if (max_new_tokens < 1)
    throw std::runtime_error("generate: max_new_tokens must be >= 1, got " + std::to_string(max_new_tokens));
  if (kv_cache != KvCache::Fp32 && kv_cache != KvCache::Bf16)
    throw std::runtime_error("generate: kv_cache must be fp32 or bf16, got the value " + std::to_string((int)kv_cache));
  sampling.validate();
}

bool stops(const GenerateConfig& config, int token, int64_t generated, int64_t prompt_length, int64_t context,
           StopReason& reason) {
  if (token == config.eos_token) reason = StopReason::Eos;
  else if (std::find(config.stop_tokens.begin(), config.stop_tokens.end(), token) != config.stop_tokens.end())
    reason = StopReason::StopToken;
  else if (generated >= config.max_new_tokens) reason = StopReason::MaxTokens;
  else if (prompt_length + generated > context) reason = StopReason::Context;
  else return false;
  return true;
}

std::vector<Completion> generate_stepwise(const GPT& model, const std::vector<std::vector<int>>& prompts,
                                 const GenerateConfig& config, Generator& gen) {
  config.validate();
  if (config.kv_cache != KvCache::Fp32)
    throw std::runtime_error(std::string("generate: top-k / top-p sampling runs the stepwise decoder, which keeps an "
                             "fp32 KV cache only; the ") + kv_cache_name(config.kv_cache) +
                             " cache needs plain temperature or greedy sampling (or use kv_cache fp32, --kv-cache fp32)");
  std::vector<Completion> completions(prompts.size());
  if (prompts.empty()) return completions;

  PrefillResult start = prefill(model, prompts);
  KVCache& cache = start.cache;
  Tensor logits = start.logits;  // [live, V]
  // live[i]: the prompt index of the cache's row i.
  std::vector<size_t> live(prompts.size());
  for (size_t i = 0; i < live.size(); ++i) live[i] = i;

  while (true) {
    Samples next = sample(logits, config.sampling, gen);
    std::vector<int64_t> keep;           // cache rows that go on
    std::vector<int> fed;                // and the token each is fed
    for (size_t i = 0; i < live.size(); ++i) {
      Completion& c = completions[live[i]];
      const int token = next.tokens[i];
      c.tokens.push_back(token);
      c.logprobs.push_back(next.logprobs[i]);
      c.policy_logprobs.push_back(next.policy_logprobs[i]);
      if (!stops(config, token, (int64_t)c.tokens.size(), (int64_t)prompts[live[i]].size(), model.config().context,
                 c.stop)) {
        keep.push_back((int64_t)i);
        fed.push_back(token);
      }
    }
    if (keep.empty()) break;
    if (keep.size() < live.size()) {
      cache.keep_rows(keep);
      std::vector<size_t> still_live;
      for (int64_t i : keep) still_live.push_back(live[(size_t)i]);
      live = still_live;
    }
    logits = decode_step(model, cache, fed);
  }
  return completions;
}

std::vector<Completion> generate(const GPT& model, const std::vector<std::vector<int>>& prompts,
                                 const GenerateConfig& config, Generator& gen) {
  if (config.sampling.top_k == 0 && config.sampling.top_p >= 1.0f) return generate_batched(model, prompts, config, gen);
  return generate_stepwise(model, prompts, config, gen);
}

}  // namespace aha

#include "model/generate.h"

#include <stdexcept>
#include <string>

#include "model/decoder.h"
#include "model/inference.h"

namespace aha {

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

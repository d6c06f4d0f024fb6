#include "model/generate_config.h"

#include <algorithm>
#include <stdexcept>
#include <string>

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

}  // namespace aha

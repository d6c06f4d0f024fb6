// Autoregressive generation: prefill the prompts, then sample one token per
// row and feed it back, until each row stops. Rows that stop leave the batch
// (the KV cache keeps only the live rows), so a long completion does not make
// the short ones pay for its steps.
#pragma once

#include <string>
#include <vector>

#include "model/gpt.h"
#include "model/sampler.h"

namespace aha {

struct GenerateConfig {
  int max_new_tokens = 64;
  SamplingConfig sampling;
  int eos_token = -1;            // stops a row; -1 = none
  std::vector<int> stop_tokens;  // also stop a row (e.g. a newline)

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

// One completion per prompt, in prompt order. Plain temperature or greedy
// sampling runs the fast batched decoder (model/decoder.h: one seed drawn from
// `gen` per call, none when greedy); a top-k or top-p cut runs
// generate_stepwise. Either way a seed fixes the result.
std::vector<Completion> generate(const GPT& model, const std::vector<std::vector<int>>& prompts,
                                 const GenerateConfig& config, Generator& gen);

// The simple sibling: prefill, then one decode_step (model/inference.h) and
// one host-side sample() per step, with every cut of model/sampler.h. Random
// draws come from `gen`, one per live row per step in row order. The parity
// reference of the batched decoder.
std::vector<Completion> generate_stepwise(const GPT& model, const std::vector<std::vector<int>>& prompts,
                                          const GenerateConfig& config, Generator& gen);

}  // namespace aha

// Autoregressive generation: prefill the prompts, then sample one token per
// row and feed it back, until each row stops. Rows that stop leave the batch
// (the KV cache keeps only the live rows), so a long completion does not make
// the short ones pay for its steps.
#pragma once

#include <string>
#include <vector>

#include "model/generate_config.h"
#include "model/gpt.h"

namespace aha {

// One completion per prompt, in prompt order. Plain temperature or greedy
// sampling runs the fast batched decoder (model/decoder.h: one seed drawn from
// `gen` per call, none when greedy); a top-k or top-p cut runs
// generate_stepwise (fp32 cache only: with kv_cache bf16 it throws). Either
// way a seed fixes the result.
std::vector<Completion> generate(const GPT& model, const std::vector<std::vector<int>>& prompts,
                                 const GenerateConfig& config, Generator& gen);

// The simple sibling: prefill, then one decode_step (model/inference.h) and
// one host-side sample() per step, with every cut of model/sampler.h. Random
// draws come from `gen`, one per live row per step in row order. The parity
// reference of the batched decoder. Its cache is fp32: kv_cache bf16 throws.
std::vector<Completion> generate_stepwise(const GPT& model, const std::vector<std::vector<int>>& prompts,
                                          const GenerateConfig& config, Generator& gen);

}  // namespace aha

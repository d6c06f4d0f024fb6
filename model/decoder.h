// Fast batched sampling: what GRPO's rollouts run. The same model and the same
// sampling rule as generate_stepwise() (model/generate.h), but built for speed:
//
//   - the KV cache is allocated once, [B, H, Tmax, D] per layer, and each step
//     writes its one new position in place (no copy of the cache per step);
//     with GenerateConfig::kv_cache bf16 it holds bfloat16 values, two to a
//     float ([B, H, Tmax, D/2], tensor/ops.h), and attention reads half the bytes;
//   - q, k and v come from one fused [C, 3C] product, and attention of the one
//     new query runs as one kernel over the cache (tensor op decode_attention);
//   - the next token is drawn on the device (sample_step_), which also records
//     it and decides whether the row stops, so a step has no host round trip;
//     the host looks at the stop flags every few steps, and rows that stopped
//     then leave the batch (their cache rows are gathered away);
//   - on CUDA each decode step is captured once per batch size as a CUDA graph
//     and replayed (tensor/step_graph.h): the step reads its position from a
//     device counter, so one capture serves every step.
//
// Sampling is plain temperature sampling or greedy (no top-k / top-p: those
// need a sort and stay in generate_stepwise). Random draws: one 64-bit seed is
// taken from the Generator per call (none when greedy); the draw of sequence r
// at step s is uniform(seed, r * max_new_tokens + s), so results do not depend
// on how the batch shrinks.
#pragma once

#include <vector>

#include "model/generate_config.h"
#include "model/gpt.h"

namespace aha {

// One completion per prompt, in prompt order; GenerateConfig as generate().
// Throws when the sampling config has a top-k or top-p cut.
std::vector<Completion> generate_batched(const GPT& model, const std::vector<std::vector<int>>& prompts,
                                         const GenerateConfig& config, Generator& gen);

// How many decode steps run between two looks at the stop flags (each look
// is a device-to-host copy, a sync).
constexpr int kStopCheckInterval = 8;

}  // namespace aha

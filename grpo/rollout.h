// Rollouts: the "sample, score" half of a GRPO step. B fresh training
// problems, G completions each from the current policy (the KV-cache sampler),
// each scored by the outcome-only reward, classified by style and read claim
// by claim by the trace checker (which only measures: reward/trace.h).
#pragma once

#include <string>
#include <vector>

#include "data/classify.h"
#include "data/task.h"
#include "model/generate.h"
#include "reward/reward.h"
#include "reward/trace.h"

namespace aha {

struct RolloutConfig {
  data::TaskKind task = data::TaskKind::Add;
  std::vector<int> difficulties;  // drawn uniformly; empty = the task's training difficulties
  int prompts = 16;               // B: problems per step
  int group_size = 8;             // G: completions per problem
  int max_new_tokens = 128;
  float temperature = 1.0f;
  KvCache kv_cache = KvCache::Fp32;  // the decoder's cache precision (model/generate.h)
  reward::RewardConfig reward;
};

struct Rollout {
  std::vector<data::Problem> problems;         // [B]
  std::vector<std::vector<int>> prompts;       // [B * G] prompt tokens; problem b's group is rows b*G .. b*G+G-1
  std::vector<Completion> completions;         // [B * G] tokens and old-policy log-probs (pi_old)
  std::vector<std::string> texts;              // [B * G] decoded completions
  std::vector<reward::Reward> rewards;         // [B * G]
  std::vector<data::StyleReport> styles;       // [B * G]
  std::vector<reward::TraceReport> traces;     // [B * G] never read by the update
  int64_t generated_tokens = 0;
  double seconds = 0.0;
};

// Draws every random choice (problems, then the samples) from `rng`.
Rollout rollout(const GPT& policy, const RolloutConfig& config, Generator& rng);

}  // namespace aha

// The settings of a GRPO run (grpo/trainer.h): one plain struct with the
// defaults, its checks, and its JSON form (what a checkpoint records, so that
// --resume continues the very same run).
#pragma once

#include <cstdint>
#include <string>

#include "grpo/objective.h"
#include "grpo/rollout.h"

namespace aha {

// Limits checked by GrpoConfig::validate in 64 bits, before anything is
// allocated: far above any preset (gpu-medium: 32 x 16 = 512 completions,
// 500 eval problems), far below what a mistyped number would ask.
constexpr int64_t kMaxCompletionsPerStep = int64_t(1) << 16;  // prompts x group_size
constexpr int64_t kMaxEvalProblems = int64_t(1) << 20;        // eval_problems

struct GrpoConfig {
  RolloutConfig rollout;            // task, B, G, generation length, temperature, reward
  LossVariant loss = LossVariant::Grpo;
  ObjectiveConfig objective;        // clip range, beta
  bool scale_by_std = true;         // A / std(r): grpo and dapo yes, dr_grpo no
  bool drop_uniform_groups = false; // dapo: groups whose rewards are all equal leave the batch
  int overlong_buffer = 0;          // dapo: soft overlong penalty over the last this many tokens; 0 = off
  int refill_rounds = 0;            // DAPO's dynamic sampling: up to this many more rollouts a step to fill
                                    // the batch with groups whose rewards differ (grpo/dynamic_sampling.h); 0 = off
  int steps = 100;
  int updates_per_batch = 1;        // mu: passes over each batch (mu = 1: pi_old = pi_theta at the first pass)
  int minibatches = 1;              // optimiser steps per pass
  float lr = 1e-4f;
  int warmup_steps = 0;             // linear warmup, then constant
  float weight_decay = 0.0f;
  float beta1 = 0.9f;
  float beta2 = 0.99f;
  float grad_clip = 1.0f;
  DType dtype = DType::F32;         // the update's forward and backward: fp32, or bf16 mixed precision (--dtype)
  int eval_every = 25;              // greedy held-out pass@1 every this many steps (0 = never)
  int eval_problems = 200;          // problems per held-out eval
  int ckpt_every = 50;
  uint64_t seed = 1;

  // The variant's defaults (grpo/objective.h): sets scale_by_std, drop_uniform_groups,
  // overlong_buffer and the clip range for `loss`.
  void apply_variant_defaults();
  void validate() const;  // throws naming the bad field
};
std::string to_json(const GrpoConfig& config);
GrpoConfig grpo_config_from_json(const std::string& json);

}  // namespace aha

// The GRPO training loop (R1-Zero sec. 2.2; DeepSeekMath sec. 4.1.2, Algorithm 1).
//
// One step, in the order grpo_step() runs it:
//   1. sample   B training problems, G completions each from the policy (grpo/rollout.h)
//   2. score    outcome-only rewards: right answer, right format (reward/reward.h)
//   3. advantage  normalise the rewards within each group (grpo/advantage.h)
//   4. update   mu passes over the batch in minibatches: -J(theta) of grpo/objective.h,
//               backward, clip the gradient norm, AdamW
// Every eval_every steps a greedy held-out eval (test split and OOD); every
// ckpt_every steps a checkpoint that --resume continues exactly.
#pragma once

#include <cstdint>
#include <string>

#include "grpo/objective.h"
#include "grpo/rollout.h"
#include "model/gpt.h"

namespace aha {

// log pi(target | prefix) at every position of tokens [N, T]: the training
// forward's logits divided by the sampling temperature (so pi is the very
// distribution the rollout sampled from), gathered at targets [N, T]. -> [N, T]
// With logits_out, also the scaled logits [N*T, V].
Var sequence_logprobs(const GPT& model, const Tensor& tokens, const Tensor& targets, float temperature,
                      Var* logits_out = nullptr);

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

  // The variant's defaults (DESIGN.md): sets scale_by_std, drop_uniform_groups,
  // overlong_buffer and the clip range for `loss`.
  void apply_variant_defaults();
  void validate() const;  // throws naming the bad field
};
std::string to_json(const GrpoConfig& config);
GrpoConfig grpo_config_from_json(const std::string& json);

struct GrpoOptions {
  std::string init_path;    // the base model: the policy's start and the frozen reference
  std::string out_path;     // checkpoint, rewritten atomically every ckpt_every steps and at the end
  std::string log_path;     // JSON Lines, one object per step; "" = none; a resume cuts it back to its step
  std::string resume_path;  // continue this checkpoint's run exactly; "" = start from init_path
  int stop_at = 0;          // stop after this step as if interrupted (0 = run to steps; <= steps)
  bool progress = true;
};

struct GrpoResult {
  int last_step = 0;
  double reward_mean = 0.0;  // of the last step
  double accuracy = 0.0;
  double seconds = 0.0;
};

// Checks the output paths first (model/output_files.h): --out and --log may
// not be the base model or the checkpoint resumed from (but for --resume X
// --out X). A NaN or infinite loss or gradient norm stops the run with an
// error naming the step; the last good checkpoint stays.
GrpoResult train_grpo(const GrpoConfig& config, Device device, const GrpoOptions& options);

}  // namespace aha

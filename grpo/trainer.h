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

#include "grpo/config.h"
#include "model/gpt.h"

namespace aha {

// log pi(target | prefix) at every position of tokens [N, T]: the training
// forward's logits divided by the sampling temperature (so pi is the very
// distribution the rollout sampled from), gathered at targets [N, T]. -> [N, T]
// With logits_out, also the scaled logits [N*T, V].
Var sequence_logprobs(const GPT& model, const Tensor& tokens, const Tensor& targets, float temperature,
                      Var* logits_out = nullptr);

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

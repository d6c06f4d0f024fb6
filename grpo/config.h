// The settings of a GRPO run (grpo/trainer.h), each listed once, in the table
// AHA_GRPO_SETTINGS below: its default, its key in the JSON form (what a
// checkpoint records, so that --resume continues the very same run), the flag
// of `aha grpo` and `aha run` that overrides it, the flag's check and its
// help. Everything else is made from the table: the fields of GrpoConfig, the
// JSON form (grpo/config.cpp), the flags (cli/grpo_options.cpp) and the flags
// --resume refuses (cli/cmd_grpo.cpp). A new setting is one more row.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "grpo/objective.h"
#include "grpo/rollout.h"
#include "model/config.h"

namespace aha {

// Limits checked by GrpoConfig::validate in 64 bits, before anything is
// allocated: far above any preset (gpu-medium: 32 x 16 = 512 completions,
// 500 eval problems), far below what a mistyped number would ask.
constexpr int64_t kMaxCompletionsPerStep = int64_t(1) << 16;  // prompts x group_size
constexpr int64_t kMaxEvalProblems = int64_t(1) << 20;        // eval_problems

// What a flag accepts, as plain data (cli/grpo_options.cpp makes CLI11's check
// of it; grpo/ knows nothing of CLI11):
//   kAny            any value of the setting's type: a number; for a named type
//                   (task, loss variant, KV cache, dtype) one of its names; on|off for a bool
//   kFixed          the same, but a run that does not give the flag gets GrpoConfig's
//                   default whatever the preset, and --help shows it: the run's own
//                   choices (the variant, the seed, the precisions), not the scale's
//   kPositive       an int in [1, 2^30] (a mistyped number would ask for too much), a float > 0
//   kNonNegative    >= 0
//   in_range(a, b)  in [a, b]
struct FlagCheck {
  enum Kind { Any, Fixed, Positive, NonNegative, Range };
  Kind kind = Any;
  double low = 0, high = 0;  // Range: [low, high]
};
constexpr FlagCheck kAny{FlagCheck::Any};
constexpr FlagCheck kFixed{FlagCheck::Fixed};
constexpr FlagCheck kPositive{FlagCheck::Positive};
constexpr FlagCheck kNonNegative{FlagCheck::NonNegative};
constexpr FlagCheck in_range(double low, double high) { return {FlagCheck::Range, low, high}; }

// Every setting of a GRPO run, in the order `aha grpo --help` lists the flags.
// Two kinds of row:
//   OWN(type, field, default, "json key", "--flag", check, "help")
//       a field of GrpoConfig, declared by this row;
//   SUB(field, "json key", "--flag", check, "help")
//       a field of GrpoConfig::rollout (RolloutConfig, grpo/rollout.h; its reward is
//       reward::RewardConfig) or GrpoConfig::objective (ObjectiveConfig, grpo/objective.h),
//       which own their defaults: the rollout and the objective are used alone too.
// A flag not given leaves the preset's value (grpo/presets.cpp), or the variant's for the
// settings apply_variant_defaults sets; kFixed flags excepted. "" = no flag: the preset or
// the variant sets it, and the help is only a comment. Checkpoints written before kv_cache,
// refill_rounds and dtype existed lack them (grpo/config.cpp reads them as the defaults).
// clang-format off
#define AHA_GRPO_SETTINGS(OWN, SUB)                                                                                   \
  SUB(rollout.task, "task", "--task", kAny, "add, mul or countdown (default: the preset's)")                          \
  SUB(rollout.difficulties, "difficulties", "--difficulties", in_range(1, 4),                                         \
      "the task's difficulties for the RL prompts (and, in aha run, the corpus), e.g. 1,2 (default: the preset's)")   \
  OWN(LossVariant, loss, LossVariant::Grpo, "loss", "--loss", kFixed,                                                 \
      "objective variant: grpo (R1), dr_grpo (Liu et al. 2025), dapo (Yu et al. 2025)")                               \
  OWN(uint64_t, seed, 1, "seed", "--seed", kFixed, "the one seed of the run")                                         \
  OWN(int, steps, 100, "steps", "--steps", kPositive, "GRPO steps")                                                   \
  SUB(rollout.prompts, "prompts", "--prompts", kPositive, "B: problems per step")                                     \
  SUB(rollout.group_size, "group_size", "--group-size", in_range(2, 1 << 20), "G: completions per problem (>= 2)")    \
  SUB(rollout.max_new_tokens, "max_new_tokens", "--max-new", kPositive, "generation cap in tokens")                   \
  SUB(rollout.temperature, "temperature", "--temperature", kPositive, "sampling temperature of the rollouts")         \
  SUB(rollout.kv_cache, "kv_cache", "--kv-cache", kFixed,                                                             \
      "KV cache of the rollouts and evals: fp32, or bf16 (half the bytes for attention to read, "                     \
      "keys and values rounded to bfloat16; all math stays fp32)")                                                    \
  OWN(DType, dtype, DType::F32, "dtype", "--dtype", kFixed, kDtypeHelp) /* of the update (GPT::set_dtype) */        \
  OWN(int, updates_per_batch, 1, "updates_per_batch", "--mu", kPositive,                                              \
      "policy updates per batch (R1's mu)") /* mu = 1: pi_old = pi_theta at the first pass */                         \
  OWN(int, minibatches, 1, "minibatches", "--minibatches", kPositive, "optimiser steps per pass over the batch")      \
  OWN(float, lr, 1e-4f, "lr", "--lr", kPositive, "AdamW learning rate")                                               \
  OWN(int, warmup_steps, 0, "warmup_steps", "--warmup", kNonNegative, "linear warmup steps") /* then constant */      \
  SUB(objective.beta, "beta", "--beta", kNonNegative, "KL penalty weight; 0 drops the reference model")               \
  SUB(objective.clip_low, "clip_low", "--clip-low", in_range(0.0, 0.999), "epsilon_low of the clip")                  \
  SUB(objective.clip_high, "clip_high", "--clip-high", kNonNegative, "epsilon_high of the clip")                      \
  OWN(bool, scale_by_std, true, "scale_by_std", "--std-scale", kAny,                                                  \
      "divide advantages by the group's std: on|off (default: the variant's)")                                        \
  OWN(int, refill_rounds, 0, "refill_rounds", "--dynamic-sampling", in_range(0, 64),                                  \
      "DAPO's dynamic sampling: up to this many more rollouts a step, to fill the batch with groups "                 \
      "whose rewards differ (0 = off: dapo then trains on the groups left)") /* grpo/dynamic_sampling.h */            \
  SUB(rollout.reward.format_bonus, "format_bonus", "--format-bonus", kNonNegative,                                    \
      "reward for a well-formed completion")                                                                          \
  OWN(int, eval_every, 25, "eval_every", "--eval-every", kNonNegative,                                                \
      "greedy held-out pass@1 every this many steps (0 = never)")                                                     \
  OWN(int, eval_problems, 200, "eval_problems", "--eval-problems", kPositive,                                         \
      "problems per held-out eval during training")                                                                   \
  OWN(int, ckpt_every, 50, "ckpt_every", "--ckpt-every", kPositive, "checkpoint every this many steps")               \
  OWN(bool, drop_uniform_groups, false, "drop_uniform_groups", "", kAny,                                              \
      "dapo: groups whose rewards are all equal leave the batch")                                                     \
  OWN(int, overlong_buffer, 0, "overlong_buffer", "", kAny,                                                           \
      "dapo: soft overlong penalty over the last this many tokens; 0 = off")                                          \
  OWN(float, weight_decay, 0.0f, "weight_decay", "", kAny, "AdamW's decoupled weight decay")                          \
  OWN(float, beta1, 0.9f, "beta1", "", kAny, "AdamW's first-moment decay")                                            \
  OWN(float, beta2, 0.99f, "beta2", "", kAny, "AdamW's second-moment decay")                                          \
  OWN(float, grad_clip, 1.0f, "grad_clip", "", kAny, "max global L2 norm of the gradient")
// clang-format on

// For code that visits every row the same way, as `config.field`: define
// AHA_GRPO_ROW(field, key, flag, check, help), write AHA_GRPO_ROWS, then
// #undef AHA_GRPO_ROW. An OWN row comes without its type and default.
#define AHA_GRPO_OWN_ROW(type, field, value, key, flag, check, help) AHA_GRPO_ROW(field, key, flag, check, help)
#define AHA_GRPO_ROWS AHA_GRPO_SETTINGS(AHA_GRPO_OWN_ROW, AHA_GRPO_ROW)

struct GrpoConfig {
  RolloutConfig rollout;      // the SUB rows: task, B, G, generation length, temperature, KV cache, reward
  ObjectiveConfig objective;  // the SUB rows: clip range, beta
  // The OWN rows, each `type field = default;`.
#define AHA_GRPO_DECLARE(type, field, value, key, flag, check, help) type field = value;
#define AHA_GRPO_SKIP(field, key, flag, check, help)
  AHA_GRPO_SETTINGS(AHA_GRPO_DECLARE, AHA_GRPO_SKIP)
#undef AHA_GRPO_DECLARE
#undef AHA_GRPO_SKIP

  // The variant's defaults (grpo/objective.h): sets scale_by_std, drop_uniform_groups,
  // overlong_buffer and the clip range for `loss` (and, for dapo, from max_new_tokens).
  void apply_variant_defaults();
  void validate() const;  // throws naming the bad field
};
std::string to_json(const GrpoConfig& config);
GrpoConfig grpo_config_from_json(const std::string& json);

// The table's rows as plain data, in its order: for code that lists the
// settings, such as the flags --resume refuses (cli/cmd_grpo.cpp), and tests.
struct GrpoSetting {
  const char* key;   // in the JSON form
  const char* flag;  // "" = none
  FlagCheck check;
  const char* help;
};
const std::vector<GrpoSetting>& grpo_settings();

}  // namespace aha

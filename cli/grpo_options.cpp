#include "cli/grpo_options.h"

#include <CLI/CLI.hpp>

#include "cli/commands.h"
#include "data/task.h"

namespace aha {

void add_grpo_options(CLI::App* cmd, GrpoArgs& a, bool with_preset) {
  std::string names;
  for (const RunPreset& p : run_presets()) names += (names.empty() ? "" : ", ") + p.name;
  if (with_preset)
    cmd->add_option("--preset", a.preset, "the GRPO settings of this preset (" + names + ")")->capture_default_str();
  cmd->add_option("--task", a.task, "add, mul or countdown (default: the preset's)")
      ->check(CLI::IsMember({"add", "mul", "countdown"}));
  cmd->add_option("--difficulties", a.difficulties,
                  "the task's difficulties for the RL prompts (and, in aha run, the corpus), e.g. 1,2 "
                  "(default: the preset's)")
      ->delimiter(',')
      ->check(CLI::Range(1, 4));
  cmd->add_option("--loss", a.loss, "objective variant: grpo (R1), dr_grpo (Liu et al. 2025), dapo (Yu et al. 2025)")
      ->check(CLI::IsMember({"grpo", "dr_grpo", "dapo"}))
      ->capture_default_str();
  cmd->add_option("--seed", a.seed, "the one seed of the run")->capture_default_str();
  const CLI::Range positive(1, 1 << 30);
  cmd->add_option("--steps", a.steps, "GRPO steps")->check(positive);
  cmd->add_option("--prompts", a.prompts, "B: problems per step")->check(positive);
  cmd->add_option("--group-size", a.group_size, "G: completions per problem (>= 2)")->check(CLI::Range(2, 1 << 20));
  cmd->add_option("--max-new", a.max_new, "generation cap in tokens")->check(positive);
  cmd->add_option("--temperature", a.temperature, "sampling temperature of the rollouts")->check(CLI::PositiveNumber);
  cmd->add_option("--kv-cache", a.kv_cache,
                  "KV cache of the rollouts and evals: fp32, or bf16 (half the bytes for attention to read, "
                  "keys and values rounded to bfloat16; all math stays fp32)")
      ->check(CLI::IsMember({"fp32", "bf16"}))
      ->capture_default_str();
  cmd->add_option("--dtype", a.dtype, kDtypeHelp)->check(CLI::IsMember({"fp32", "bf16"}))->capture_default_str();
  cmd->add_option("--mu", a.mu, "policy updates per batch (R1's mu)")->check(positive);
  cmd->add_option("--minibatches", a.minibatches, "optimiser steps per pass over the batch")->check(positive);
  cmd->add_option("--lr", a.lr, "AdamW learning rate")->check(CLI::PositiveNumber);
  cmd->add_option("--warmup", a.warmup, "linear warmup steps")->check(CLI::NonNegativeNumber);
  cmd->add_option("--beta", a.beta, "KL penalty weight; 0 drops the reference model")->check(CLI::NonNegativeNumber);
  cmd->add_option("--clip-low", a.clip_low, "epsilon_low of the clip")->check(CLI::Range(0.0, 0.999));
  cmd->add_option("--clip-high", a.clip_high, "epsilon_high of the clip")->check(CLI::NonNegativeNumber);
  cmd->add_option("--std-scale", a.std_scale, "divide advantages by the group's std: on|off (default: the variant's)")
      ->check(CLI::IsMember({"on", "off"}));
  cmd->add_option("--dynamic-sampling", a.refill_rounds,
                  "DAPO's dynamic sampling: up to this many more rollouts a step, to fill the batch with groups "
                  "whose rewards differ (0 = off: dapo then trains on the groups left)")
      ->check(CLI::Range(0, 64));
  cmd->add_option("--format-bonus", a.format_bonus, "reward for a well-formed completion")
      ->check(CLI::NonNegativeNumber);
  cmd->add_option("--eval-every", a.eval_every, "greedy held-out pass@1 every this many steps (0 = never)")
      ->check(CLI::NonNegativeNumber);
  cmd->add_option("--eval-problems", a.eval_problems, "problems per held-out eval during training")->check(positive);
  cmd->add_option("--ckpt-every", a.ckpt_every, "checkpoint every this many steps")->check(positive);
}

GrpoConfig make_grpo_config(const GrpoArgs& a) {
  const RunPreset& preset = find_run_preset(a.preset);
  GrpoConfig c = preset.grpo;
  c.rollout.difficulties = a.difficulties.empty() ? preset.difficulties : a.difficulties;
  c.rollout.task = data::parse_task(a.task.empty() ? preset.default_task : a.task);
  c.loss = parse_loss_variant(a.loss);
  if (a.max_new) c.rollout.max_new_tokens = a.max_new;  // before the variant: DAPO's buffer follows it
  c.apply_variant_defaults();
  c.seed = a.seed;
  if (a.steps) c.steps = a.steps;
  if (a.prompts) c.rollout.prompts = a.prompts;
  if (a.group_size) c.rollout.group_size = a.group_size;
  if (a.temperature > 0) c.rollout.temperature = a.temperature;
  c.rollout.kv_cache = parse_kv_cache(a.kv_cache);
  c.dtype = parse_dtype(a.dtype);
  if (a.mu) c.updates_per_batch = a.mu;
  if (a.minibatches) c.minibatches = a.minibatches;
  if (a.lr > 0) c.lr = a.lr;
  if (a.warmup >= 0) c.warmup_steps = a.warmup;
  if (a.beta >= 0) c.objective.beta = a.beta;
  if (a.clip_low >= 0) c.objective.clip_low = a.clip_low;
  if (a.clip_high >= 0) c.objective.clip_high = a.clip_high;
  if (!a.std_scale.empty()) c.scale_by_std = a.std_scale == "on";
  if (a.refill_rounds >= 0) c.refill_rounds = a.refill_rounds;
  if (a.format_bonus >= 0) c.rollout.reward.format_bonus = a.format_bonus;
  if (a.eval_every >= 0) c.eval_every = a.eval_every;
  if (a.eval_problems) c.eval_problems = a.eval_problems;
  if (a.ckpt_every) c.ckpt_every = a.ckpt_every;
  c.validate();
  return c;
}

}  // namespace aha

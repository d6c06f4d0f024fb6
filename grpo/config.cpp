#include "grpo/config.h"

#include <algorithm>
#include <nlohmann/json.hpp>
#include <stdexcept>

#include "data/task.h"
#include "model/metadata_field.h"

namespace aha {

void GrpoConfig::apply_variant_defaults() {
  switch (loss) {
    case LossVariant::Grpo:
      scale_by_std = true;
      drop_uniform_groups = false;
      overlong_buffer = 0;
      objective.clip_low = objective.clip_high = 0.2f;
      break;
    case LossVariant::DrGrpo:
      scale_by_std = false;
      drop_uniform_groups = false;
      overlong_buffer = 0;
      objective.clip_low = objective.clip_high = 0.2f;
      break;
    case LossVariant::Dapo:
      // Yu et al. 2025: clip-higher (0.2 / 0.28), dynamic sampling, soft overlong
      // punishment over the last quarter of the generation budget.
      scale_by_std = true;
      drop_uniform_groups = true;
      overlong_buffer = std::max(1, rollout.max_new_tokens / 4);
      objective.clip_low = 0.2f;
      objective.clip_high = 0.28f;
      break;
  }
}

// Each field with the option that sets it, so a message names both.
void GrpoConfig::validate() const {
  auto positive = [](const char* field, double value) {
    if (!(value > 0)) throw std::runtime_error(std::string("grpo: ") + field + " must be > 0, got " + std::to_string(value));
  };
  positive("prompts (--prompts)", rollout.prompts);
  positive("group_size (--group-size)", rollout.group_size);
  positive("max_new_tokens (--max-new)", rollout.max_new_tokens);
  positive("temperature (--temperature)", rollout.temperature);
  positive("steps (--steps)", steps);
  positive("updates_per_batch (--mu)", updates_per_batch);
  positive("minibatches (--minibatches)", minibatches);
  positive("lr (--lr)", lr);
  positive("grad_clip", grad_clip);
  positive("ckpt_every (--ckpt-every)", ckpt_every);
  positive("eval_problems (--eval-problems)", eval_problems);
  if (rollout.group_size < 2)
    throw std::runtime_error(
        "grpo: group_size (--group-size) must be >= 2 (advantages compare completions of one prompt)");
  // B x G in 64 bits: two large ints overflow an int.
  const int64_t completions = (int64_t)rollout.prompts * rollout.group_size;
  if (completions > kMaxCompletionsPerStep)
    throw std::runtime_error("grpo: --prompts " + std::to_string(rollout.prompts) + " x --group-size " +
                             std::to_string(rollout.group_size) + " = " + std::to_string(completions) +
                             " completions per step, more than the limit " + std::to_string(kMaxCompletionsPerStep));
  if (eval_problems > kMaxEvalProblems)
    throw std::runtime_error("grpo: --eval-problems " + std::to_string(eval_problems) + " is more than the limit " +
                             std::to_string(kMaxEvalProblems));
  if (minibatches > completions)
    throw std::runtime_error("grpo: --minibatches " + std::to_string(minibatches) + " for only " +
                             std::to_string(completions) + " completions (--prompts x --group-size)");
  if (objective.beta < 0) throw std::runtime_error("grpo: beta must be >= 0");
  if (!(objective.clip_low >= 0 && objective.clip_low < 1) || objective.clip_high < 0)
    throw std::runtime_error("grpo: clip_low must be in [0, 1) and clip_high >= 0");
  if (eval_every < 0 || warmup_steps < 0 || weight_decay < 0 || overlong_buffer < 0)
    throw std::runtime_error("grpo: eval_every, warmup_steps, weight_decay and overlong_buffer must be >= 0");
  if (refill_rounds < 0) throw std::runtime_error("grpo: refill_rounds must be >= 0");
  if (overlong_buffer > rollout.max_new_tokens)
    throw std::runtime_error("grpo: overlong_buffer must not exceed max_new_tokens");
}

std::string to_json(const GrpoConfig& c) {
  nlohmann::json j = {{"task", data::task_name(c.rollout.task)},
                      {"difficulties", c.rollout.difficulties},
                      {"prompts", c.rollout.prompts},
                      {"group_size", c.rollout.group_size},
                      {"max_new_tokens", c.rollout.max_new_tokens},
                      {"temperature", c.rollout.temperature},
                      {"kv_cache", kv_cache_name(c.rollout.kv_cache)},
                      {"format_bonus", c.rollout.reward.format_bonus},
                      {"loss", loss_variant_name(c.loss)},
                      {"clip_low", c.objective.clip_low},
                      {"clip_high", c.objective.clip_high},
                      {"beta", c.objective.beta},
                      {"scale_by_std", c.scale_by_std},
                      {"drop_uniform_groups", c.drop_uniform_groups},
                      {"overlong_buffer", c.overlong_buffer},
                      {"refill_rounds", c.refill_rounds},
                      {"steps", c.steps},
                      {"updates_per_batch", c.updates_per_batch},
                      {"minibatches", c.minibatches},
                      {"lr", c.lr},
                      {"warmup_steps", c.warmup_steps},
                      {"weight_decay", c.weight_decay},
                      {"beta1", c.beta1},
                      {"beta2", c.beta2},
                      {"grad_clip", c.grad_clip},
                      {"dtype", dtype_name(c.dtype)},
                      {"eval_every", c.eval_every},
                      {"eval_problems", c.eval_problems},
                      {"ckpt_every", c.ckpt_every},
                      {"seed", std::to_string(c.seed)}};  // a string: JSON readers lose 64-bit integers
  return j.dump();
}

GrpoConfig grpo_config_from_json(const std::string& text) {
  GrpoConfig c;
  try {
    const nlohmann::json j = parse_bounded_json(text);
    c.rollout.task = data::parse_task(j.at("task").get<std::string>());
    c.rollout.difficulties = json_int_list(j, "difficulties");
    c.rollout.prompts = json_int(j, "prompts");
    c.rollout.group_size = json_int(j, "group_size");
    c.rollout.max_new_tokens = json_int(j, "max_new_tokens");
    c.rollout.temperature = json_float(j, "temperature");
    // Runs saved before the switch existed have none: their cache was fp32.
    c.rollout.kv_cache = parse_kv_cache(j.value("kv_cache", std::string("fp32")));
    c.rollout.reward.format_bonus = json_float(j, "format_bonus");
    c.loss = parse_loss_variant(j.at("loss").get<std::string>());
    c.objective.clip_low = json_float(j, "clip_low");
    c.objective.clip_high = json_float(j, "clip_high");
    c.objective.beta = json_float(j, "beta");
    c.scale_by_std = j.at("scale_by_std").get<bool>();
    c.drop_uniform_groups = j.at("drop_uniform_groups").get<bool>();
    c.overlong_buffer = json_int(j, "overlong_buffer");
    // Runs saved before dynamic sampling had none: off.
    c.refill_rounds = j.contains("refill_rounds") ? json_int(j, "refill_rounds") : 0;
    c.steps = json_int(j, "steps");
    c.updates_per_batch = json_int(j, "updates_per_batch");
    c.minibatches = json_int(j, "minibatches");
    c.lr = json_float(j, "lr");
    c.warmup_steps = json_int(j, "warmup_steps");
    c.weight_decay = json_float(j, "weight_decay");
    c.beta1 = json_float(j, "beta1");
    c.beta2 = json_float(j, "beta2");
    c.grad_clip = json_float(j, "grad_clip");
    c.dtype = parse_dtype(j.value("dtype", std::string("fp32")));  // runs saved before the switch: fp32
    c.eval_every = json_int(j, "eval_every");
    c.eval_problems = json_int(j, "eval_problems");
    c.ckpt_every = json_int(j, "ckpt_every");
    c.seed = parse_u64_field("seed", j.at("seed").get<std::string>());
  } catch (const std::exception& e) {
    throw std::runtime_error(std::string("grpo config JSON: ") + e.what());
  }
  c.validate();
  return c;
}

}  // namespace aha

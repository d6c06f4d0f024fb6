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

namespace {

// Each type of setting in the JSON form: a name type (task, loss variant, KV
// cache, dtype) as its name, the seed as a decimal string (JSON readers lose
// 64-bit integers), the rest as JSON numbers, booleans and lists.
nlohmann::json json_value(int value) { return value; }
nlohmann::json json_value(float value) { return value; }
nlohmann::json json_value(bool value) { return value; }
nlohmann::json json_value(uint64_t value) { return std::to_string(value); }
nlohmann::json json_value(const std::vector<int>& value) { return value; }
nlohmann::json json_value(data::TaskKind value) { return data::task_name(value); }
nlohmann::json json_value(LossVariant value) { return loss_variant_name(value); }
nlohmann::json json_value(KvCache value) { return kv_cache_name(value); }
nlohmann::json json_value(DType value) { return dtype_name(value); }

// And back, strictly (model/metadata_field.h): a missing key, 2.5 for an int,
// 1e300 for a float, "-1" for the seed or an unknown name throws naming the key.
void read_json(const nlohmann::json& j, const char* key, int& value) { value = json_int(j, key); }
void read_json(const nlohmann::json& j, const char* key, float& value) { value = json_float(j, key); }
void read_json(const nlohmann::json& j, const char* key, bool& value) { value = j.at(key).get<bool>(); }
void read_json(const nlohmann::json& j, const char* key, uint64_t& value) {
  value = parse_u64_field(key, j.at(key).get<std::string>());
}
void read_json(const nlohmann::json& j, const char* key, std::vector<int>& value) {
  value = json_int_list(j, key);
}
void read_json(const nlohmann::json& j, const char* key, data::TaskKind& value) {
  value = data::parse_task(j.at(key).get<std::string>());
}
void read_json(const nlohmann::json& j, const char* key, LossVariant& value) {
  value = parse_loss_variant(j.at(key).get<std::string>());
}
void read_json(const nlohmann::json& j, const char* key, KvCache& value) {
  value = parse_kv_cache(j.at(key).get<std::string>());
}
void read_json(const nlohmann::json& j, const char* key, DType& value) {
  value = parse_dtype(j.at(key).get<std::string>());
}

// Settings added after checkpoints were first written: a checkpoint without
// one ran with its default (the KV cache and the update were fp32, dynamic
// sampling was off), so a missing key reads as the default.
bool added_later(const std::string& key) { return key == "kv_cache" || key == "refill_rounds" || key == "dtype"; }

}  // namespace

std::string to_json(const GrpoConfig& c) {
  nlohmann::json j = nlohmann::json::object();
#define AHA_GRPO_ROW(field, key, flag, check, help) j[key] = json_value(c.field);
  AHA_GRPO_ROWS
#undef AHA_GRPO_ROW
  return j.dump();
}

GrpoConfig grpo_config_from_json(const std::string& text) {
  GrpoConfig c;
  try {
    const nlohmann::json j = parse_bounded_json(text);
#define AHA_GRPO_ROW(field, key, flag, check, help) \
  if (j.contains(key) || !added_later(key)) read_json(j, key, c.field);
    AHA_GRPO_ROWS
#undef AHA_GRPO_ROW
  } catch (const std::exception& e) {
    throw std::runtime_error(std::string("grpo config JSON: ") + e.what());
  }
  c.validate();
  return c;
}

const std::vector<GrpoSetting>& grpo_settings() {
  static const std::vector<GrpoSetting> settings = {
#define AHA_GRPO_ROW(field, key, flag, check, help) {key, flag, check, help},
      AHA_GRPO_ROWS
#undef AHA_GRPO_ROW
  };
  return settings;
}

}  // namespace aha

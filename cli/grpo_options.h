// The GRPO knobs shared by `aha grpo` and `aha run`: a preset's GrpoConfig
// (grpo/presets.h) with whatever the command line overrides.
#pragma once

#include <string>
#include <vector>

#include "grpo/presets.h"

namespace CLI {
class App;
}

namespace aha {

struct GrpoArgs {
  std::string preset = "cpu-tiny";
  std::string task;  // "" = the preset's default task
  std::string loss = "grpo";
  int steps = 0, prompts = 0, group_size = 0, max_new = 0, mu = 0, minibatches = 0;
  int refill_rounds = -1;  // -1 = the preset's (off)
  int eval_every = -1, eval_problems = 0, ckpt_every = 0, warmup = -1;
  float lr = 0, beta = -1, clip_low = -1, clip_high = -1, temperature = 0, format_bonus = -1;
  std::vector<int> difficulties;  // empty = the preset's
  std::string std_scale;  // "", "on", "off"
  std::string kv_cache = "fp32";  // "fp32", "bf16": the rollouts' KV cache
  std::string dtype = "fp32";     // "fp32", "bf16": the update's forward and backward (GPT::set_dtype)
  uint64_t seed = 1;
};

// Registers --preset (unless the command has its own), --task, --loss and the overrides.
void add_grpo_options(CLI::App* cmd, GrpoArgs& args, bool with_preset);
// The preset's settings, the variant's defaults, then the overrides the user gave.
GrpoConfig make_grpo_config(const GrpoArgs& args);

}  // namespace aha

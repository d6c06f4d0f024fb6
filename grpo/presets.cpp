#include "grpo/presets.h"

#include <stdexcept>

namespace aha {

namespace {
// The 384-token context of gpu-small and gpu-medium less the longest prompt,
// an OOD one ("<bos>use 50 50 50 50 50 to make 200\n", 32 tokens), with room
// to spare: 347 tokens, more than the longest countdown completion of the corpus.
constexpr int kMaxNewTokens = 384 - 37;
}  // namespace

const std::vector<RunPreset>& run_presets() {
  static const std::vector<RunPreset> all = [] {
    std::vector<RunPreset> p;

    // Sized for `make demo`: the whole pipeline within 15 minutes on 2 CPU cores.
    RunPreset tiny;
    tiny.name = "cpu-tiny";
    tiny.default_task = "add";
    // 3-digit sums: a 0.8M-parameter base learns the column method well and
    // the direct answer badly (a carry into the first digit of the answer must
    // be foreseen), so RL has a procedure that works to amplify. (2-digit sums
    // left the base 85-98% right with direct answers: nothing steady to gain.)
    tiny.difficulties = {2};
    // Worked (column) solutions a third as common as direct answers (the
    // corpus default has them at a fifth): with 20% the base learned the
    // column method on some seeds and not on others, and RL could only
    // amplify it where it was there (cpu-tiny on one H100, seeds 1-5: +2,
    // +62, +29, -19, +5 points); with 30% it is learned every time yet the
    // base still answers directly half the time (seeds 1-10: +19.5..+48.5);
    // with 40% and more the base already writes it and RL has little left
    // to gain (+8 at worst). README "The demo".
    tiny.mix = "direct=0.6,steps=0.3";
    tiny.context = 192;       // difficulty-2 add documents fit (the longest, a `correct` one, 166 tokens)
    tiny.pretrain_steps = 2000;
    tiny.grpo.rollout.prompts = 8;
    tiny.grpo.rollout.group_size = 8;
    tiny.grpo.rollout.max_new_tokens = 96;
    tiny.grpo.steps = 100;
    tiny.grpo.lr = 5e-5f;
    tiny.grpo.objective.beta = 0.02f;
    tiny.grpo.eval_every = 20;
    tiny.grpo.eval_problems = 50;
    tiny.grpo.ckpt_every = 20;
    tiny.eval_problems = 200;
    tiny.eval_ks = {1, 4};
    p.push_back(tiny);

    // The aha run: one H100, pretraining included, within 20 minutes.
    // Countdown: a search that checks its hits, where a slip matters.
    RunPreset small;
    small.name = "gpu-small";
    small.default_task = "countdown";
    small.pretrain_steps = 3000;
    small.grpo.rollout.prompts = 32;
    small.grpo.rollout.group_size = 16;
    small.grpo.rollout.max_new_tokens = kMaxNewTokens;
    small.grpo.steps = 200;
    small.grpo.lr = 2e-5f;
    small.grpo.objective.beta = 0.02f;
    small.grpo.eval_every = 25;
    small.grpo.eval_problems = 500;
    small.grpo.ckpt_every = 50;
    small.eval_problems = 500;
    small.eval_ks = {1, 2, 4, 8, 16};
    p.push_back(small);

    RunPreset medium;
    medium.name = "gpu-medium";
    medium.default_task = "countdown";
    medium.pretrain_steps = 5000;
    medium.grpo.rollout.prompts = 32;
    medium.grpo.rollout.group_size = 16;
    medium.grpo.rollout.max_new_tokens = kMaxNewTokens;
    medium.grpo.steps = 300;
    medium.grpo.lr = 1e-5f;
    medium.grpo.objective.beta = 0.02f;
    medium.grpo.eval_every = 25;
    medium.grpo.eval_problems = 500;
    medium.grpo.ckpt_every = 50;
    medium.eval_problems = 1000;
    medium.eval_ks = {1, 2, 4, 8, 16, 32, 64};
    p.push_back(medium);
    return p;
  }();
  return all;
}

const RunPreset& find_run_preset(const std::string& name) {
  std::string names;
  for (const RunPreset& p : run_presets()) {
    if (p.name == name) return p;
    names += (names.empty() ? "" : ", ") + p.name;
  }
  throw std::runtime_error("unknown preset '" + name + "' (presets: " + names + ")");
}

}  // namespace aha

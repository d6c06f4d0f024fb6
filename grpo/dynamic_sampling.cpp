#include "grpo/dynamic_sampling.h"

#include <stdexcept>
#include <string>

#include "grpo/advantage.h"

namespace aha {

double frac_reward_zero_std(const std::vector<float>& rewards, int group_size) {
  if (group_size <= 0 || rewards.size() % (size_t)group_size != 0)
    throw std::runtime_error("frac_reward_zero_std: " + std::to_string(rewards.size()) +
                             " rewards are not whole groups of " + std::to_string(group_size));
  const int groups = (int)(rewards.size() / (size_t)group_size);
  if (groups == 0) return 0.0;
  int uniform = 0;
  for (int g = 0; g < groups; ++g) uniform += group_is_uniform(rewards, group_size, g) ? 1 : 0;
  return (double)uniform / groups;
}

void append_group(Rollout& to, const Rollout& from, int group, int group_size) {
  to.problems.push_back(from.problems[(size_t)group]);
  for (int i = group * group_size; i < (group + 1) * group_size; ++i) {
    const size_t k = (size_t)i;
    to.prompts.push_back(from.prompts[k]);
    to.completions.push_back(from.completions[k]);
    to.texts.push_back(from.texts[k]);
    to.rewards.push_back(from.rewards[k]);
    to.styles.push_back(from.styles[k]);
    to.traces.push_back(from.traces[k]);
    to.generated_tokens += (int64_t)from.completions[k].tokens.size();
  }
}

Rollout refill_batch(const std::function<Rollout()>& draw,
                     const std::function<std::vector<float>(const Rollout&)>& rewards_of, int prompts,
                     int group_size, int max_rounds, RefillStats* stats) {
  if (prompts <= 0 || group_size <= 0 || max_rounds < 0)
    throw std::runtime_error("refill_batch: prompts and group_size must be > 0 and max_rounds >= 0");
  RefillStats s;
  Rollout batch, first;
  // Appends the differing groups of r until the batch is full.
  auto take = [&](const Rollout& r) {
    const std::vector<float> rewards = rewards_of(r);
    const int groups = (int)r.problems.size();
    s.sampled_groups += groups;
    s.generated_tokens += r.generated_tokens;
    s.seconds += r.seconds;
    for (int g = 0; g < groups && (int)batch.problems.size() < prompts; ++g)
      if (!group_is_uniform(rewards, group_size, g)) append_group(batch, r, g, group_size);
  };
  first = draw();
  take(first);
  while ((int)batch.problems.size() < prompts && s.rounds < max_rounds) {
    ++s.rounds;
    take(draw());
  }
  s.kept_groups = (int)batch.problems.size();
  if (batch.problems.empty()) batch = first;
  batch.seconds = s.seconds;
  if (stats) *stats = s;
  return batch;
}

}  // namespace aha

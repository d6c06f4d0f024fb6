// DAPO's dynamic sampling (Yu et al. 2025, arXiv 2503.14476, sec. 3.2 and the
// constraint of eq. 11: 0 < |{o_i correct}| < G). A group whose G rewards are
// all equal has zero advantage for every member: it adds nothing to the
// gradient but still counts in the batch. Dropping such groups (what `dapo`
// does without this) trains on a smaller batch; dynamic sampling instead keeps
// drawing fresh prompts and fills the batch with groups whose rewards differ.
#pragma once

#include <cstdint>
#include <functional>
#include <vector>

#include "grpo/rollout.h"

namespace aha {

// The share of the groups of `rewards` (group after group, G each) whose
// rewards are all equal: R1's zero-advantage groups (logged every step as
// frac_reward_zero_std, for every variant).
double frac_reward_zero_std(const std::vector<float>& rewards, int group_size);

// Appends group g of `from` (its problem and its G rows) to `to`.
void append_group(Rollout& to, const Rollout& from, int group, int group_size);

struct RefillStats {
  int rounds = 0;                // rollouts drawn after the first
  int sampled_groups = 0;        // groups drawn in all, the first rollout's included
  int kept_groups = 0;           // groups whose rewards differ in the returned batch
  int64_t generated_tokens = 0;  // every drawn completion's tokens, discarded ones included
  double seconds = 0.0;          // every rollout's time
};

// The batch of `prompts` groups: `draw()` one rollout of `prompts` problems
// and keep its groups whose rewards (as `rewards_of` gives them: the rewards
// the advantages use) differ; while fewer than `prompts` are kept and at most
// `max_rounds` more times, draw again and append differing groups until the
// batch is full. With none kept at all, the first rollout comes back as it was
// (its groups all uniform: nothing to learn this step, as without refilling).
// Fewer than `prompts` groups may come back when the rounds run out.
Rollout refill_batch(const std::function<Rollout()>& draw,
                     const std::function<std::vector<float>(const Rollout&)>& rewards_of, int prompts,
                     int group_size, int max_rounds, RefillStats* stats);

}  // namespace aha

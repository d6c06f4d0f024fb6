// Group-relative advantages: the "G" of GRPO (DeepSeekMath sec. 4.1.2; R1 eq. 3).
// No value network: each completion is compared with the other completions of
// the same prompt.
#pragma once

#include <vector>

namespace aha {

// rewards [num_groups * group_size], group after group (the G completions of
// one prompt are contiguous). For each group g and member i:
//
//   A_i = (r_i - mean(r_g)) / (std(r_g) + eps)   with scale_by_std (GRPO, DAPO)
//   A_i =  r_i - mean(r_g)                       without (Dr. GRPO, Liu et al. 2025)
//
// std is the population standard deviation (divide by G). A group whose
// rewards are all equal gets A = 0 for every member: it teaches nothing.
// Throws when rewards.size() is not a multiple of group_size.
std::vector<float> group_advantages(const std::vector<float>& rewards, int group_size, bool scale_by_std,
                                    float eps = 1e-4f);

// True when every reward of group g is the same (DAPO drops such groups).
bool group_is_uniform(const std::vector<float>& rewards, int group_size, int group);

// DAPO's soft overlong punishment (Yu et al. 2025, eq. 13), added to the reward:
//   0                                   if |o| <= L_max - L_cache
//   ((L_max - L_cache) - |o|) / L_cache if L_max - L_cache < |o| <= L_max
//   -1                                  if |o| > L_max
// L_max = the generation cap, L_cache = the length of the soft buffer before it.
float overlong_penalty(int length, int max_length, int buffer);

}  // namespace aha

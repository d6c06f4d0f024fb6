#include "grpo/advantage.h"

#include <cmath>
#include <stdexcept>
#include <string>

namespace aha {

// A_i = (r_i - mean(r_g)) / (std(r_g) + eps), or r_i - mean(r_g) without
// scale_by_std, for each group g (grpo/advantage.h).
std::vector<float> group_advantages(const std::vector<float>& rewards, int group_size, bool scale_by_std,
                                    float eps) {
  if (group_size < 1 || rewards.size() % (size_t)group_size != 0)
    throw std::runtime_error("group_advantages: " + std::to_string(rewards.size()) +
                             " rewards do not split into groups of " + std::to_string(group_size));
  std::vector<float> advantages(rewards.size());
  // BEGIN EXERCISE group_advantages: each group's mean and population std, then every member's A_i
  for (size_t start = 0; start < rewards.size(); start += (size_t)group_size) {
    double mean = 0.0;
    for (int i = 0; i < group_size; ++i) mean += rewards[start + i];
    mean /= group_size;
    double var = 0.0;
    for (int i = 0; i < group_size; ++i) var += (rewards[start + i] - mean) * (rewards[start + i] - mean);
    const double std_dev = std::sqrt(var / group_size);
    for (int i = 0; i < group_size; ++i) {
      const double centred = rewards[start + i] - mean;
      // A uniform group has centred == 0 exactly, so A = 0 with or without scaling.
      advantages[start + i] = (float)(scale_by_std ? centred / (std_dev + eps) : centred);
    }
  }
  // END EXERCISE group_advantages
  return advantages;
}

bool group_is_uniform(const std::vector<float>& rewards, int group_size, int group) {
  const size_t start = (size_t)group * (size_t)group_size;
  if (start + (size_t)group_size > rewards.size())
    throw std::runtime_error("group_is_uniform: group " + std::to_string(group) + " is past the end");
  for (int i = 1; i < group_size; ++i)
    if (rewards[start + i] != rewards[start]) return false;
  return true;
}

float overlong_penalty(int length, int max_length, int buffer) {
  if (buffer <= 0 || buffer > max_length)
    throw std::runtime_error("overlong_penalty: buffer " + std::to_string(buffer) + " must be in 1.." +
                             std::to_string(max_length));
  const int soft_start = max_length - buffer;
  if (length <= soft_start) return 0.0f;
  if (length <= max_length) return (float)(soft_start - length) / (float)buffer;
  return -1.0f;
}

}  // namespace aha

// The outcome-only rewards of R1-Zero (R1 sec. 2.2.2), rule-based:
//   accuracy = 1 when the answer block holds the true answer, else 0;
//   format   = format_bonus when the completion is exactly one think block,
//              then one answer block, then the end (reward/parse.h), else 0;
//   total    = accuracy + format.
// Nothing here reads the think block: no step is ever rewarded.
//
// What counts as the true answer:
//   add, mul   - the result as a plain integer ("10063"; not "347*29", not "+10063");
//   countdown  - any expression (reward/expression.h) that evaluates exactly to
//                the target and uses only the given numbers, each at most once.
// Several answer blocks score accuracy 0 (a hedge is not an answer); text
// after the answer block costs the format bonus only.
#pragma once

#include <string>

#include "data/task.h"

namespace aha {
namespace reward {

struct RewardConfig {
  float format_bonus = 0.1f;
};

struct Reward {
  float accuracy = 0;
  float format = 0;
  float total = 0;
};

// Is `answer` (the content of the answer block) right for `problem`?
bool answer_is_correct(const data::Problem& problem, const std::string& answer);

Reward score(const data::Problem& problem, const std::string& completion,
             const RewardConfig& config = RewardConfig());

}  // namespace reward
}  // namespace aha

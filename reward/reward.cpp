#include "reward/reward.h"

#include <algorithm>
#include <stdexcept>
#include <vector>

#include "reward/expression.h"
#include "reward/parse.h"

namespace aha {
namespace reward {

namespace {

// The numbers an expression used, as a multiset, within the numbers given.
bool uses_only_given(std::vector<int64_t> used, std::vector<int64_t> given) {
  std::sort(used.begin(), used.end());
  std::sort(given.begin(), given.end());
  return std::includes(given.begin(), given.end(), used.begin(), used.end());
}

}  // namespace

bool answer_is_correct(const data::Problem& problem, const std::string& answer) {
  switch (problem.task) {
    case data::TaskKind::Add:
    case data::TaskKind::Mul:
      return is_plain_integer(answer) && answer == problem.answer;
    case data::TaskKind::Countdown: {
      const ExpressionValue expr = evaluate_expression(answer);
      return expr.ok && expr.value == problem.target && uses_only_given(expr.numbers, problem.numbers);
    }
  }
  throw std::runtime_error("reward: invalid task kind " + std::to_string((int)problem.task));
}

Reward score(const data::Problem& problem, const std::string& completion, const RewardConfig& config) {
  // BEGIN EXERCISE reward: accuracy and format of the parsed completion, and their sum (reward/reward.h)
  const ParsedCompletion parsed = parse_completion(completion);
  Reward reward;
  reward.accuracy = parsed.has_answer && answer_is_correct(problem, parsed.answer) ? 1.0f : 0.0f;
  reward.format = parsed.well_formed ? config.format_bonus : 0.0f;
  reward.total = reward.accuracy + reward.format;
  return reward;
  // END EXERCISE reward
}

}  // namespace reward
}  // namespace aha

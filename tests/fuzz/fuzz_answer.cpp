// libFuzzer target: any completion text, scored against one problem of each
// task, gives accuracy 0 or 1 and format 0 or the bonus, and never crashes.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>

#include "data/task.h"
#include "reward/parse.h"
#include "reward/reward.h"

namespace {

aha::data::Problem problem_of(aha::data::TaskKind task) {
  aha::Generator rng(1);
  return aha::data::make_problem(task, 3, rng);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const aha::data::Problem problems[] = {problem_of(aha::data::TaskKind::Add),
                                                problem_of(aha::data::TaskKind::Mul),
                                                problem_of(aha::data::TaskKind::Countdown)};
  const std::string completion(reinterpret_cast<const char*>(data), size);
  const aha::reward::ParsedCompletion parsed = aha::reward::parse_completion(completion);
  if (parsed.well_formed && !parsed.has_answer) std::abort();
  for (const aha::data::Problem& problem : problems) {
    const aha::reward::Reward r = aha::reward::score(problem, completion);
    if (r.accuracy != 0.0f && r.accuracy != 1.0f) std::abort();
    if (r.format != 0.0f && r.format != aha::reward::RewardConfig().format_bonus) std::abort();
    if (r.total != r.accuracy + r.format) std::abort();
    if (r.accuracy == 1.0f && !parsed.has_answer) std::abort();
  }
  return 0;
}

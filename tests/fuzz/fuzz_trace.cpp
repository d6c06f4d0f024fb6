// libFuzzer target: the trace checker (reward/trace.h) reads any completion
// against one problem of each task without crashing, and its counts stay
// consistent: corrected <= false <= claims, every claim on a real line, an
// effective correction only with a false claim it corrected.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>

#include "data/task.h"
#include "reward/trace.h"

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
  for (const aha::data::Problem& problem : problems) {
    const aha::reward::TraceReport r = aha::reward::check_trace(problem, completion);
    if (r.corrected_claims > r.false_claims || r.false_claims > (int)r.claims.size()) std::abort();
    for (const aha::reward::Claim& c : r.claims) {
      if (c.line < 0 || c.line >= (int)r.lines.size()) std::abort();
      if (c.corrected && c.holds) std::abort();
    }
    if (r.effective_correction && r.corrected_claims == 0) std::abort();
    if (r.faithful && !r.conclusion) std::abort();
    aha::reward::TraceTotals totals;
    totals.add(r);
    for (const auto& [key, value] : totals.metrics())
      if (value && !(*value >= 0.0)) std::abort();
    (void)aha::reward::annotate_trace(r);
  }
  // The prompt parser takes any text too: a problem or a clear refusal.
  try {
    (void)aha::data::parse_problem(completion);
  } catch (const std::exception&) {
  }
  return 0;
}

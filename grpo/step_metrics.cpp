#include "grpo/step_metrics.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include "data/template.h"

namespace aha {
namespace {

double percentile(std::vector<int> values, double q) {
  if (values.empty()) return 0.0;
  std::sort(values.begin(), values.end());
  const size_t at = (size_t)std::min<double>((double)values.size() - 1, std::floor(q * (double)values.size()));
  return values[at];
}

}  // namespace

void add_prefixed(nlohmann::json& line, const std::string& prefix, const reward::TraceTotals& totals) {
  const nlohmann::json metrics = trace_json(totals);
  for (const auto& item : metrics.items())
    if (item.key() != "completions") line[prefix + item.key()] = item.value();
}

void add_rollout_metrics(nlohmann::json& line, const Rollout& r) {
  const double n = (double)r.completions.size();
  double reward_sum = 0, reward_sq = 0, correct = 0, formatted = 0, truncated = 0, checks = 0, corrections = 0;
  double styles[data::kNumStyles] = {0, 0, 0, 0};
  std::vector<int> lengths;
  for (size_t i = 0; i < r.completions.size(); ++i) {
    reward_sum += r.rewards[i].total;
    reward_sq += (double)r.rewards[i].total * r.rewards[i].total;
    correct += r.rewards[i].accuracy;
    formatted += r.rewards[i].format > 0 ? 1 : 0;
    lengths.push_back((int)r.completions[i].tokens.size());
    const StopReason stop = r.completions[i].stop;
    truncated += stop == StopReason::MaxTokens || stop == StopReason::Context ? 1 : 0;
    styles[(int)r.styles[i].style] += 1;
    checks += r.styles[i].checks;
    corrections += r.styles[i].corrections;
  }
  const double mean = reward_sum / n;
  line["reward_mean"] = mean;
  line["reward_std"] = std::sqrt(std::max(0.0, reward_sq / n - mean * mean));
  line["accuracy"] = correct / n;
  line["format_rate"] = formatted / n;
  line["length_mean"] = (double)r.generated_tokens / n;
  line["length_p50"] = percentile(lengths, 0.5);
  line["length_p90"] = percentile(lengths, 0.9);
  line["length_max"] = *std::max_element(lengths.begin(), lengths.end());
  // Are right answers or wrong ones the long ones? (Dr. GRPO, Liu et al. 2025: GRPO's 1/|o|
  // lets wrong answers grow.) Null when the step had none of that kind.
  double right_tokens = 0, wrong_tokens = 0;
  for (size_t i = 0; i < r.completions.size(); ++i)
    (r.rewards[i].accuracy > 0 ? right_tokens : wrong_tokens) += (double)lengths[i];
  line["length_correct"] = correct > 0 ? nlohmann::json(right_tokens / correct) : nlohmann::json(nullptr);
  line["length_incorrect"] = correct < n ? nlohmann::json(wrong_tokens / (n - correct)) : nlohmann::json(nullptr);
  line["truncated_share"] = truncated / n;
  for (int s = 0; s < data::kNumStyles; ++s)
    line[std::string("style_") + data::style_name((data::Style)s)] = styles[s] / n;
  line["checks_per_completion"] = checks / n;
  line["corrections_per_completion"] = corrections / n;

  // The trace checker's metrics (it only measures: nothing below reaches the reward).
  reward::TraceTotals trace;
  for (const reward::TraceReport& report : r.traces) trace.add(report);
  add_prefixed(line, "trace_", trace);
  // One completion that catches and fixes a slip of its own, if any did; one
  // that then answers right when there is such a one (the aha moment, R1 Table 3).
  const int G = (int)(r.completions.size() / r.problems.size());
  int found = -1, effective = 0;
  for (size_t i = 0; i < r.traces.size(); ++i) {
    if (!r.traces[i].effective_correction) continue;
    ++effective;
    if (found < 0 || (!r.traces[(size_t)found].correct && r.traces[i].correct)) found = (int)i;
  }
  if (found >= 0)
    line["aha_example"] = {{"prompt", data::prompt_text(r.problems[(size_t)found / (size_t)G])},
                           {"completion", r.texts[(size_t)found]},
                           {"correct", r.traces[(size_t)found].correct},
                           {"completions_with_effective_correction", effective}};
}

void add_eval_metrics(nlohmann::json& line, const EvalResult& test, const EvalResult& ood) {
  line["eval_test_pass1"] = test.pass1_greedy;
  line["eval_ood_pass1"] = ood.pass1_greedy;
  line["eval_test_length"] = test.mean_length;
  add_prefixed(line, "eval_trace_", test.trace);
  nlohmann::json samples = nlohmann::json::array();
  for (const EvalSample& s : test.samples)
    samples.push_back({{"prompt", s.prompt}, {"completion", s.greedy}, {"correct", s.greedy_correct}});
  line["eval_samples"] = samples;
  if (test.effective_example)
    line["eval_aha_example"] = {{"prompt", test.effective_example->prompt},
                                {"completion", test.effective_example->greedy},
                                {"correct", test.effective_example->greedy_correct}};
}

}  // namespace aha

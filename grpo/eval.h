// Held-out evaluation of a GPT on one task: the numbers of R1's Table 2 and
// Figures 2-3 at our scale. Used by `aha eval` (base vs RL model) and by the
// GRPO trainer every few steps (greedy-only, the fast mode).
//
// Problems come from the Test split (data/split.h), at the training
// difficulties or at the task's out-of-distribution difficulty; problem i is a
// pure function of (seed, i), so every evaluation with one seed scores the
// very same problems. Each problem gets one greedy completion and, unless in
// greedy-only mode, m = max(ks) sampled completions; pass@k comes from the
// sampled ones with the unbiased estimator of Chen et al. (2021).
#pragma once

#include <array>
#include <cstdint>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "data/task.h"
#include "model/generate.h"
#include "model/gpt.h"
#include "reward/reward.h"
#include "reward/trace.h"

namespace aha {

// The most completions one evaluation keeps, n x (1 + m): 64 times
// gpu-medium's 1000 x 65, far below what a mistyped -n or --k would ask.
constexpr int64_t kMaxEvalCompletions = int64_t(1) << 22;

struct EvalConfig {
  data::TaskKind task = data::TaskKind::Add;
  bool ood = false;             // false: the training difficulties; true: task_spec(task).ood_difficulty (both Test split)
  // Test split only: draw from these difficulties (empty = the task's training difficulties).
  std::vector<int> difficulties;
  int n = 1000;                 // problems
  std::vector<int> ks = {1};    // pass@k for each k; sampled completions per problem m = max(ks);
                                // ks == {1} runs greedy decoding only (fast mode)
  bool sampled = true;          // false: greedy only, whatever ks says
  float temperature = 1.0f;     // of the sampled completions
  int max_new_tokens = 192;
  int batch_size = 256;         // rows (prompts, or copies of a prompt when sampling) per generate() call
  KvCache kv_cache = KvCache::Fp32;  // the decoder's cache precision (model/generate.h)
  uint64_t seed = 1234;         // fixes the problem set and (with batch_size) the samples
  int keep_samples = 16;        // problems whose completions are kept for the report
  reward::RewardConfig reward;

  // Sampled completions per problem: max(ks), or 0 in greedy-only mode.
  int samples_per_problem() const;
  void validate() const;  // throws naming the bad field
};

// One problem's completions as text (what evaluate() decodes and scores).
struct ProblemCompletions {
  data::Problem problem;
  std::string greedy;                // the greedy completion, special tokens written literally
  int greedy_tokens = 0;             // its length in tokens, eos included
  bool greedy_truncated = false;     // it hit max_new_tokens or the context before eos
  std::vector<std::string> sampled;  // m sampled completions (empty in greedy-only mode)
};

struct EvalSample {
  std::string prompt, greedy;
  bool greedy_correct = false;
  std::string greedy_style;
  reward::TraceReport greedy_trace;  // the greedy completion read claim by claim
  std::optional<std::string> sampled;  // the first sampled completion
  std::optional<bool> sampled_correct;
};

struct EvalResult {
  std::string task;                // "add"
  std::string split;               // "test" or "ood"
  int n = 0;
  std::vector<int> difficulties;
  uint64_t seed = 0;

  double pass1_greedy = 0;                 // accuracy of the greedy completions
  std::optional<double> pass1_sampled;     // mean c/m over problems; none in greedy-only mode
  int samples_per_problem = 0;             // m, 0 in greedy-only mode
  std::map<int, double> pass_at_k;         // k -> mean pass@k; empty in greedy-only mode
  double format_rate = 0;                  // greedy completions that are well formed (reward/parse.h)
  double mean_length = 0;                  // greedy completion tokens, eos included
  double truncated_share = 0;              // greedy completions cut by max_new_tokens or the context
  std::array<double, data::kNumStyles> style_share{};  // of the greedy completions (data/classify.h)
  std::array<std::optional<double>, data::kNumStyles> accuracy_by_style;  // none when no completion has the style
  double checks_per_completion = 0;        // "check" lines per greedy completion
  double corrections_per_completion = 0;   // "wait" lines per greedy completion
  std::map<int, std::optional<double>> accuracy_by_difficulty;  // greedy accuracy; none without problems
  reward::TraceTotals trace;                        // the trace checker over the greedy completions
  std::optional<reward::TraceTotals> trace_sampled;  // and over every sampled one; none in greedy-only mode
  std::optional<EvalSample> effective_example;  // the first greedy completion with an effective correction
  double seconds = 0;
  std::vector<EvalSample> samples;

  // The JSON the notebooks read (key names are part of the interface).
  nlohmann::json to_json() const;
  // A short aligned text table of the headline numbers.
  std::string table() const;
};

// The trace checker's metrics as a JSON object (reward/trace.h names and
// orders the keys; a metric without a denominator is null), with the number
// of completions read: the `trace` object of eval JSON.
nlohmann::json trace_json(const reward::TraceTotals& totals);
// One completion's claims, corrections and conclusion, for the trace viewer.
nlohmann::json trace_report_json(const reward::TraceReport& report);

// The unbiased pass@k estimator (Chen et al. 2021, eq. 1) from m samples of
// which c are correct: 1 - C(m-c, k) / C(m, k), the chance that k of the m
// drawn without replacement hold at least one correct. Needs 0 <= c <= m and
// 1 <= k <= m; throws otherwise.
double pass_at_k(int m, int c, int k);

// The problems of an evaluation, problem i drawn from Generator(rng::bits(seed, i)).
std::vector<data::Problem> eval_problems(const EvalConfig& config);

// Scores and aggregates completions into the result (all but `seconds`):
// every per-problem score, style and average lives here, so it can be checked
// on completions written by hand.
EvalResult aggregate(const EvalConfig& config, const std::vector<ProblemCompletions>& completions);

// Generates the completions (model/generate.h) on the model's device and
// aggregates them. `progress`: a line per generate() call, with ETA, on stderr.
EvalResult evaluate(const GPT& model, const EvalConfig& config, bool progress);

}  // namespace aha

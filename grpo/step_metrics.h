// What one GRPO step logs about its rollouts and its held-out evals: the keys
// of the step's JSON Lines object (the notebooks read them by these names).
#pragma once

#include <string>

#include <nlohmann/json.hpp>

#include "grpo/eval.h"
#include "grpo/rollout.h"

namespace aha {

// The trace checker's metrics (eval.h trace_json) as keys of a log line: "trace_false_claim_rate", ...
void add_prefixed(nlohmann::json& line, const std::string& prefix, const reward::TraceTotals& totals);

// Reward, accuracy, format rate, lengths (right and wrong apart), styles, the
// trace metrics and one completion with an effective self-correction, if any.
void add_rollout_metrics(nlohmann::json& line, const Rollout& r);

// The test eval's numbers in the step's log line: pass@1, the trace metrics
// (prefixed "eval_trace_"), the completions of the first fixed problems, and
// the first greedy completion with an effective correction, if any had one.
void add_eval_metrics(nlohmann::json& line, const EvalResult& test, const EvalResult& ood);

}  // namespace aha

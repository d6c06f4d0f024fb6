#include "grpo/objective_case.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <limits>
#include <nlohmann/json.hpp>
#include <set>
#include <stdexcept>
#include <vector>

#include "grpo/advantage.h"
#include "grpo/objective.h"
#include "grpo/trainer.h"

namespace aha {
namespace {

using json = nlohmann::json;
using Rows = std::vector<std::vector<float>>;  // one row per completion, ragged

[[noreturn]] void fail(const std::string& message) { throw std::runtime_error("objective case: " + message); }

// A float as the shortest decimal that reads back as the same float: 0.2, not
// 0.20000000298023224 (the double nearest the float).
double shortest(float x) {
  char text[32];
  for (int digits = 6; digits <= 9; ++digits) {
    std::snprintf(text, sizeof text, "%.*g", digits, (double)x);
    if ((float)std::strtod(text, nullptr) == x) break;
  }
  return std::strtod(text, nullptr);
}

json shortest(const std::vector<float>& xs) {
  json out = json::array();
  for (float x : xs) out.push_back(shortest(x));
  return out;
}

float number(const json& value, const std::string& where) {
  if (!value.is_number()) fail(where + " must be a number, got " + value.dump());
  const double x = value.get<double>();
  if (!std::isfinite(x) || std::abs(x) > 3.4e38) fail(where + " must be a finite float, got " + value.dump());
  return (float)x;
}

std::vector<float> numbers(const json& value, const std::string& where) {
  if (!value.is_array()) fail(where + " must be an array of numbers, got " + value.dump());
  std::vector<float> out;
  for (size_t i = 0; i < value.size(); ++i) out.push_back(number(value[i], where + "[" + std::to_string(i) + "]"));
  return out;
}

// Log-probabilities are <= 0: a probability is at most 1.
Rows logprob_rows(const json& value, const std::string& name) {
  if (!value.is_array()) fail(name + " must be an array of rows (one per completion), got " + value.dump());
  Rows rows;
  for (size_t i = 0; i < value.size(); ++i) {
    rows.push_back(numbers(value[i], name + "[" + std::to_string(i) + "]"));
    for (size_t t = 0; t < rows.back().size(); ++t)
      if (rows.back()[t] > 0.0f)
        fail(name + "[" + std::to_string(i) + "][" + std::to_string(t) + "] = " + json(shortest(rows.back()[t])).dump() +
             " is not a log-probability (must be <= 0)");
  }
  return rows;
}

void same_lengths(const Rows& rows, const Rows& logprobs, const std::string& name) {
  if (rows.size() != logprobs.size())
    fail(name + " has " + std::to_string(rows.size()) + " rows, logprobs " + std::to_string(logprobs.size()));
  for (size_t i = 0; i < rows.size(); ++i)
    if (rows[i].size() != logprobs[i].size())
      fail(name + "[" + std::to_string(i) + "] has " + std::to_string(rows[i].size()) + " tokens, logprobs[" +
           std::to_string(i) + "] " + std::to_string(logprobs[i].size()));
}

// Ragged rows -> [N, T] row-major, 0 past each row's end (and the mask 0 there).
std::vector<float> padded(const Rows& rows, size_t T) {
  std::vector<float> out(rows.size() * T, 0.0f);
  for (size_t i = 0; i < rows.size(); ++i) std::copy(rows[i].begin(), rows[i].end(), out.begin() + i * T);
  return out;
}

// [N, T] -> the ragged rows of the input's lengths (padding dropped).
json ragged(const Tensor& values, const Rows& like) {
  const std::vector<float> flat = values.to_vector();
  const size_t T = flat.size() / like.size();
  json rows = json::array();
  for (size_t i = 0; i < like.size(); ++i)
    rows.push_back(shortest(std::vector<float>(flat.begin() + i * T, flat.begin() + i * T + like[i].size())));
  return rows;
}

}  // namespace

std::string evaluate_objective_case(const std::string& case_json) {
  json c;
  try {
    c = json::parse(case_json);
  } catch (const json::parse_error& e) {
    fail(std::string("not JSON: ") + e.what());
  }
  if (!c.is_object()) fail("must be a JSON object, got " + c.dump());
  const std::set<std::string> known = {"loss",         "rewards",      "group_size", "advantages", "scale_by_std",
                                       "eps",          "logprobs",     "old_logprobs", "ref_logprobs",
                                       "beta",         "clip_low",     "clip_high",  "max_length"};
  for (const auto& field : c.items())
    if (!known.count(field.key())) {
      std::string names;
      for (const std::string& k : known) names += (names.empty() ? "" : ", ") + k;
      fail("unknown field '" + field.key() + "' (fields: " + names + ")");
    }

  // The variant's defaults, from the one place the trainer takes them.
  GrpoConfig config;
  if (c.contains("loss")) {
    if (!c["loss"].is_string()) fail("loss must be a string, got " + c["loss"].dump());
    config.loss = parse_loss_variant(c["loss"].get<std::string>());
  }
  config.apply_variant_defaults();
  if (c.contains("scale_by_std")) {
    if (!c["scale_by_std"].is_boolean()) fail("scale_by_std must be true or false, got " + c["scale_by_std"].dump());
    config.scale_by_std = c["scale_by_std"].get<bool>();
  }
  ObjectiveConfig& objective = config.objective;
  if (c.contains("beta")) objective.beta = number(c["beta"], "beta");
  if (c.contains("clip_low")) objective.clip_low = number(c["clip_low"], "clip_low");
  if (c.contains("clip_high")) objective.clip_high = number(c["clip_high"], "clip_high");

  // R1 eq. 3: one advantage per completion, from the rewards of its group.
  std::vector<float> advantages;
  if (c.contains("rewards") == c.contains("advantages")) fail("give either rewards (with group_size) or advantages");
  if (c.contains("rewards")) {
    const std::vector<float> rewards = numbers(c["rewards"], "rewards");
    if (!c.contains("group_size") || !c["group_size"].is_number_integer() || c["group_size"].get<long long>() < 1 ||
        c["group_size"].get<long long>() > (long long)rewards.size())
      fail("rewards need an integer group_size in 1.." + std::to_string(rewards.size()) + ", got " +
           (c.contains("group_size") ? c["group_size"].dump() : "none"));
    const int group_size = (int)c["group_size"].get<long long>();
    advantages = c.contains("eps") ? group_advantages(rewards, group_size, config.scale_by_std, number(c["eps"], "eps"))
                                   : group_advantages(rewards, group_size, config.scale_by_std);
  } else {
    if (c.contains("group_size") || c.contains("eps") || c.contains("scale_by_std"))
      fail("group_size, eps and scale_by_std shape advantages computed from rewards; here advantages are given");
    advantages = numbers(c["advantages"], "advantages");
  }
  if (advantages.empty()) fail("no completions: rewards or advantages is empty");

  nlohmann::ordered_json out;
  out["loss_variant"] = loss_variant_name(config.loss);
  out["scale_by_std"] = config.scale_by_std;
  out["clip_low"] = shortest(objective.clip_low);
  out["clip_high"] = shortest(objective.clip_high);
  out["beta"] = shortest(objective.beta);
  out["advantages"] = shortest(advantages);
  if (!c.contains("logprobs")) {
    for (const char* field : {"old_logprobs", "ref_logprobs", "max_length"})
      if (c.contains(field)) fail(std::string(field) + " given without logprobs");
    return out.dump();
  }

  const Rows logprobs = logprob_rows(c["logprobs"], "logprobs");
  if (logprobs.size() != advantages.size())
    fail("logprobs has " + std::to_string(logprobs.size()) + " rows, but there are " +
         std::to_string(advantages.size()) + " completions (rewards or advantages)");
  const Rows old_logprobs = c.contains("old_logprobs") ? logprob_rows(c["old_logprobs"], "old_logprobs") : logprobs;
  same_lengths(old_logprobs, logprobs, "old_logprobs");
  Rows ref_logprobs;
  if (c.contains("ref_logprobs")) {
    ref_logprobs = logprob_rows(c["ref_logprobs"], "ref_logprobs");
    same_lengths(ref_logprobs, logprobs, "ref_logprobs");
  } else if (objective.beta != 0.0f) {
    fail("beta = " + json(shortest(objective.beta)).dump() + " needs ref_logprobs (or set beta to 0: no KL term)");
  }

  size_t longest = 0;
  for (const auto& row : logprobs) longest = std::max(longest, row.size());
  if (longest == 0) fail("every row of logprobs is empty: no token to take the objective over");
  int max_length = (int)longest;
  if (c.contains("max_length")) {
    if (!c["max_length"].is_number_integer() || c["max_length"].get<long long>() < (long long)longest ||
        c["max_length"].get<long long>() > std::numeric_limits<int>::max())
      fail("max_length must be an integer >= the longest row (" + std::to_string(longest) + "), got " +
           c["max_length"].dump());
    max_length = (int)c["max_length"].get<long long>();
  }

  const int N = (int)logprobs.size(), T = (int)longest;
  const Shape shape{N, T};
  Rows ones, advantage_rows;
  for (int i = 0; i < N; ++i) {
    ones.emplace_back(logprobs[i].size(), 1.0f);
    advantage_rows.emplace_back(logprobs[i].size(), advantages[i]);  // A_i on every token of o_i
  }
  const std::vector<float> mask = padded(ones, T);
  ObjectiveInputs in;
  in.logprobs = Var(Tensor::from_vector(padded(logprobs, T), shape), true);
  in.old_logprobs = Tensor::from_vector(padded(old_logprobs, T), shape);
  if (!ref_logprobs.empty()) in.ref_logprobs = Tensor::from_vector(padded(ref_logprobs, T), shape);
  in.advantages = Tensor::from_vector(padded(advantage_rows, T), shape);
  in.weights = Tensor::from_vector(token_weights(config.loss, mask, N, max_length), shape);
  in.mask = Tensor::from_vector(mask, shape);

  const ObjectiveTerms terms = grpo_terms(in, objective);
  Var loss = grpo_loss(in, objective);
  loss.backward();
  const ObjectiveStats stats = objective_stats(in, objective);

  out["max_length"] = max_length;
  out["weights"] = ragged(in.weights, logprobs);
  out["ratio"] = ragged(terms.ratio.value(), logprobs);
  out["surrogate"] = ragged(terms.surrogate.value(), logprobs);
  if (objective.beta != 0.0f) out["kl"] = ragged(terms.kl.value(), logprobs);
  out["objective"] = ragged(terms.objective.value(), logprobs);
  out["loss"] = shortest(loss.value().item());
  out["grad"] = ragged(in.logprobs.grad(), logprobs);
  out["stats"] = {{"kl", stats.kl}, {"clip_fraction", stats.clip_fraction}, {"ratio_mean", stats.ratio_mean}};
  return out.dump();
}

}  // namespace aha

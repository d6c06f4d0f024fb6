#include "grpo/objective.h"

#include <cmath>
#include <stdexcept>

namespace aha {

const char* loss_variant_name(LossVariant variant) {
  switch (variant) {
    case LossVariant::Grpo: return "grpo";
    case LossVariant::DrGrpo: return "dr_grpo";
    case LossVariant::Dapo: return "dapo";
  }
  return "?";
}

LossVariant parse_loss_variant(const std::string& name) {
  if (name == "grpo") return LossVariant::Grpo;
  if (name == "dr_grpo") return LossVariant::DrGrpo;
  if (name == "dapo") return LossVariant::Dapo;
  throw std::runtime_error("unknown loss '" + name + "' (choices: grpo, dr_grpo, dapo)");
}

std::vector<float> token_weights(LossVariant variant, const std::vector<float>& mask, int num_rows,
                                 int max_length) {
  if (num_rows <= 0 || mask.size() % (size_t)num_rows != 0)
    throw std::runtime_error("token_weights: a mask of " + std::to_string(mask.size()) + " entries is not " +
                             std::to_string(num_rows) + " rows");
  // BEGIN EXERCISE token_weights: w[i, t] = mask[i, t] * the variant's row weight (grpo/objective.h)
  const size_t T = mask.size() / (size_t)num_rows;
  std::vector<double> lengths((size_t)num_rows, 0.0);
  double total_tokens = 0.0;
  int live_rows = 0;
  for (size_t i = 0; i < (size_t)num_rows; ++i) {
    for (size_t t = 0; t < T; ++t) lengths[i] += mask[i * T + t];
    total_tokens += lengths[i];
    if (lengths[i] > 0) ++live_rows;
  }
  std::vector<float> weights(mask.size(), 0.0f);
  if (live_rows == 0) return weights;
  for (size_t i = 0; i < (size_t)num_rows; ++i) {
    if (lengths[i] == 0) continue;
    double row_weight = 0.0;
    switch (variant) {
      case LossVariant::Grpo: row_weight = 1.0 / (lengths[i] * live_rows); break;
      case LossVariant::DrGrpo: row_weight = 1.0 / ((double)max_length * live_rows); break;
      case LossVariant::Dapo: row_weight = 1.0 / total_tokens; break;
    }
    for (size_t t = 0; t < T; ++t) weights[i * T + t] = (float)(mask[i * T + t] * row_weight);
  }
  return weights;
  // END EXERCISE token_weights
}

namespace {

void check_inputs(const ObjectiveInputs& in, const ObjectiveConfig& config) {
  const Shape& shape = in.logprobs.value().shape();
  auto same = [&](const Tensor& t, const char* name) {
    if (!t.defined() || t.shape() != shape)
      throw ShapeError(std::string("grpo_loss: ") + name + " must have the logprobs' shape " + shape.str() +
                       (t.defined() ? ", got " + t.shape().str() : ", got none"));
  };
  same(in.old_logprobs, "old_logprobs");
  same(in.advantages, "advantages");
  same(in.weights, "weights");
  same(in.mask, "mask");
  if (config.beta != 0.0f) same(in.ref_logprobs, "ref_logprobs (beta > 0 needs the reference)");
  if (!(config.clip_low >= 0 && config.clip_low < 1) || !(config.clip_high >= 0))
    throw std::runtime_error("grpo_loss: clip_low must be in [0, 1) and clip_high >= 0");
}

}  // namespace

ObjectiveTerms grpo_terms(const ObjectiveInputs& in, const ObjectiveConfig& config) {
  check_inputs(in, config);
  // Off the completions every log-prob is set to 0 (new, old and ref alike), so
  // rho = 1 and KL = 0 there: nothing overflows on padding, and mask * x has no
  // gradient where mask = 0.
  // BEGIN EXERCISE grpo_loss: ratio, surrogate, kl (when beta != 0) and objective, per token (grpo/objective.h)
  const Var mask(in.mask);
  const Var logprobs = mul(in.logprobs, mask);
  const Var advantages(in.advantages);
  ObjectiveTerms terms;

  // rho_it = pi_theta / pi_old
  terms.ratio = exp(sub(logprobs, Var(in.old_logprobs)));
  // min(rho A, clip(rho, 1 - eps_low, 1 + eps_high) A): the pessimistic bound
  const Var unclipped = mul(terms.ratio, advantages);
  const Var clipped = mul(clamp(terms.ratio, 1.0f - config.clip_low, 1.0f + config.clip_high), advantages);
  terms.surrogate = minimum(unclipped, clipped);
  terms.objective = terms.surrogate;

  if (config.beta != 0.0f) {
    // KL_it = exp(log pi_ref - log pi_theta) - (log pi_ref - log pi_theta) - 1   (k3, >= 0)
    const Var log_ref_over_new = sub(Var(in.ref_logprobs), logprobs);
    terms.kl = add_scalar(sub(exp(log_ref_over_new), log_ref_over_new), -1.0f);
    terms.objective = sub(terms.surrogate, mul_scalar(terms.kl, config.beta));
  }
  return terms;
  // END EXERCISE grpo_loss
}

Var grpo_loss(const ObjectiveInputs& in, const ObjectiveConfig& config) {
  // J = sum_{i,t} w_it * (surrogate_it - beta KL_it); we minimise -J.
  // BEGIN EXERCISE grpo_loss: -J from grpo_terms' objective and the weights
  return neg(sum_all(mul(grpo_terms(in, config).objective, Var(in.weights))));
  // END EXERCISE grpo_loss
}

ObjectiveStats objective_stats(const ObjectiveInputs& in, const ObjectiveConfig& config) {
  check_inputs(in, config);
  const std::vector<float> logprobs = in.logprobs.value().to_vector(), old = in.old_logprobs.to_vector(),
                           adv = in.advantages.to_vector(), mask = in.mask.to_vector();
  const std::vector<float> ref = config.beta != 0.0f ? in.ref_logprobs.to_vector() : std::vector<float>();
  ObjectiveStats stats;
  double tokens = 0.0;
  for (size_t k = 0; k < mask.size(); ++k) {
    if (mask[k] == 0.0f) continue;
    tokens += 1.0;
    const double ratio = std::exp((double)logprobs[k] - old[k]);
    stats.ratio_mean += ratio;
    // The clip cuts the gradient when it binds in the min: rho above 1 + eps_high
    // with A > 0, or below 1 - eps_low with A < 0.
    if ((adv[k] > 0 && ratio > 1.0 + config.clip_high) || (adv[k] < 0 && ratio < 1.0 - config.clip_low))
      stats.clip_fraction += 1.0;
    if (!ref.empty()) {
      const double d = (double)ref[k] - logprobs[k];
      stats.kl += std::exp(d) - d - 1.0;
    }
  }
  if (tokens > 0) {
    stats.kl /= tokens;
    stats.clip_fraction /= tokens;
    stats.ratio_mean /= tokens;
  }
  return stats;
}

}  // namespace aha

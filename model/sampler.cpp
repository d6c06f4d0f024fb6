#include "model/sampler.h"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <stdexcept>
#include <string>

namespace aha {
namespace {

[[noreturn]] void sampling_error(const std::string& what) {
  throw std::runtime_error("sample: " + what);
}

// One row: logits z [V] -> (token, log q(token), log softmax(z / T)[token]).
// Sums run in double so that mass cut-offs and log-probabilities of rare
// tokens are not lost to float rounding.
void sample_row(const float* z, int64_t V, const SamplingConfig& config, Generator& gen, int64_t row,
                int& token, float& logprob, float& policy_logprob) {
  for (int64_t i = 0; i < V; ++i)
    if (std::isnan(z[i])) sampling_error("logits of row " + std::to_string(row) + " contain NaN");
  const double temperature = config.is_greedy() ? 1.0 : (double)config.temperature;

  // log softmax(z / T) = z/T - max - log sum exp(z/T - max)
  double max = -INFINITY;
  for (int64_t i = 0; i < V; ++i) max = std::max(max, (double)z[i] / temperature);
  if (!std::isfinite(max)) sampling_error("logits of row " + std::to_string(row) + " are all -inf or +inf");
  std::vector<double> p((size_t)V);
  double total = 0.0;
  for (int64_t i = 0; i < V; ++i) total += p[(size_t)i] = std::exp((double)z[i] / temperature - max);
  const double log_total = std::log(total);
  auto policy = [&](int64_t i) { return (double)z[i] / temperature - max - log_total; };

  // Tokens from most to least likely, ties to the lower id (so top-k = 1 is greedy).
  std::vector<int64_t> order((size_t)V);
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](int64_t a, int64_t b) { return z[a] > z[b]; });

  if (config.is_greedy()) {
    token = (int)order[0];
    logprob = 0.0f;  // a deterministic choice has probability 1
    policy_logprob = (float)policy(order[0]);
    return;
  }

  // The kept set is a prefix of `order`: top-k first, then the nucleus of what is left.
  size_t kept = (size_t)V;
  if (config.top_k > 0) kept = std::min(kept, (size_t)config.top_k);
  double kept_mass = 0.0;
  for (size_t r = 0; r < kept; ++r) kept_mass += p[(size_t)order[r]];
  if (config.top_p < 1.0f) {
    double cumulative = 0.0;
    size_t nucleus = 0;
    while (nucleus < kept) {
      cumulative += p[(size_t)order[nucleus++]];
      if (cumulative >= config.top_p * kept_mass) break;  // the smallest prefix with mass >= top_p
    }
    kept = nucleus;
    kept_mass = cumulative;
  }

  // Inverse CDF: the first kept token whose cumulative mass exceeds u.
  const double u = (double)gen.uniform() * kept_mass;
  double cumulative = 0.0;
  size_t chosen = 0;
  for (size_t r = 0; r < kept; ++r) {
    if (p[(size_t)order[r]] == 0.0) break;  // sorted: the rest have probability 0 too
    chosen = r;  // rounding can leave u just above the last sum: then the last possible token
    cumulative += p[(size_t)order[r]];
    if (u < cumulative) break;
  }
  token = (int)order[chosen];
  logprob = (float)(std::log(p[(size_t)token]) - std::log(kept_mass));
  policy_logprob = (float)policy(token);
}

}  // namespace

void SamplingConfig::validate() const {
  if (!(temperature >= 0.0f) || !std::isfinite(temperature))
    sampling_error("temperature must be >= 0 (0 = greedy), got " + std::to_string(temperature));
  if (top_k < 0) sampling_error("top_k must be >= 0 (0 = no cut), got " + std::to_string(top_k));
  if (!(top_p > 0.0f && top_p <= 1.0f))
    sampling_error("top_p must be in (0, 1], got " + std::to_string(top_p));
}

Samples sample(const Tensor& logits, const SamplingConfig& config, Generator& gen) {
  config.validate();
  if (logits.ndim() != 2 || logits.size(1) == 0)
    sampling_error("logits must be [B, V] with V > 0, got " + logits.shape().str());
  const int64_t B = logits.size(0), V = logits.size(1);
  std::vector<float> host = logits.to_vector();
  Samples out;
  out.tokens.resize((size_t)B);
  out.logprobs.resize((size_t)B);
  out.policy_logprobs.resize((size_t)B);
  for (int64_t b = 0; b < B; ++b)
    sample_row(host.data() + b * V, V, config, gen, b, out.tokens[(size_t)b], out.logprobs[(size_t)b],
               out.policy_logprobs[(size_t)b]);
  return out;
}

}  // namespace aha

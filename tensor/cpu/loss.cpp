// Losses and per-token quantities computed straight from logits z [N, V],
// without materialising the softmax: cross-entropy (pretraining), the
// log-probability of chosen tokens (the GRPO ratio and KL), and entropy.
#include <algorithm>
#include <cmath>
#include <limits>

#include "tensor/cpu/kernels.h"
#include "tensor/cpu/token_id.h"

namespace aha {
namespace cpu {

namespace {

// The max of a row and S = sum_j exp(z_j - max), so log sum_j exp(z_j) = max + log S
// and softmax(z)_j = exp(z_j - max) / S.
struct RowStats {
  float max;
  double sum_exp;
  double log_sum_exp() const { return (double)max + std::log(sum_exp); }
  double prob(float z) const { return std::exp((double)(z - max)) / sum_exp; }
};

RowStats row_stats(const float* z, int64_t V) {
  RowStats s{-std::numeric_limits<float>::infinity(), 0.0};
  for (int64_t j = 0; j < V; ++j) s.max = z[j] > s.max ? z[j] : s.max;
  for (int64_t j = 0; j < V; ++j) s.sum_exp += std::exp((double)(z[j] - s.max));
  return s;
}

// max(1, sum_i m_i): the masked mean's denominator; an all-masked batch gives loss 0.
double mask_count(const float* mask, int64_t N) {
  double count = 0.0;
  for (int64_t i = 0; i < N; ++i) count += mask[i];
  return std::max(1.0, count);
}

}  // namespace

// loss = sum_i m_i (log sum_j exp(z_ij) - z_i,t_i) / max(1, sum_i m_i)
// i.e. the masked mean of -log softmax(z_i)[t_i]. Rows with m_i = 0 are not read
// at all, so their targets may be anything (padding).
void cross_entropy(const float* logits, const float* targets, const float* mask, float* loss,
                   int64_t N, int64_t V) {
  double total = 0.0;
  for (int64_t i = 0; i < N; ++i) {
    if (mask[i] == 0.0f) continue;
    const float* z = logits + i * V;
    int64_t t = checked_id("cross_entropy", targets[i], i, V);
    total += (double)mask[i] * (row_stats(z, V).log_sum_exp() - (double)z[t]);
  }
  loss[0] = (float)(total / mask_count(mask, N));
}

// dz_ij = dloss m_i (softmax(z_i)_j - [j = t_i]) / max(1, sum m)
void cross_entropy_backward(const float* logits, const float* targets, const float* mask,
                            float dloss, float* dlogits, int64_t N, int64_t V) {
  double scale = (double)dloss / mask_count(mask, N);
  for (int64_t i = 0; i < N; ++i) {
    float* dz = dlogits + i * V;
    if (mask[i] == 0.0f) {
      for (int64_t j = 0; j < V; ++j) dz[j] = 0.0f;
      continue;
    }
    const float* z = logits + i * V;
    int64_t t = checked_id("cross_entropy_backward", targets[i], i, V);
    RowStats s = row_stats(z, V);
    double row_scale = scale * mask[i];
    for (int64_t j = 0; j < V; ++j)
      dz[j] = (float)(row_scale * (s.prob(z[j]) - (j == t ? 1.0 : 0.0)));
  }
}

// out_i = log softmax(z_i)[t_i] = z_i,t_i - log sum_j exp(z_ij)
void token_logprobs(const float* logits, const float* tokens, float* out, int64_t N, int64_t V) {
  for (int64_t i = 0; i < N; ++i) {
    const float* z = logits + i * V;
    int64_t t = checked_id("token_logprobs", tokens[i], i, V);
    out[i] = (float)((double)z[t] - row_stats(z, V).log_sum_exp());
  }
}

// dz_ij = dout_i ([j = t_i] - softmax(z_i)_j)
void token_logprobs_backward(const float* logits, const float* tokens, const float* dout,
                             float* dlogits, int64_t N, int64_t V) {
  for (int64_t i = 0; i < N; ++i) {
    const float* z = logits + i * V;
    float* dz = dlogits + i * V;
    int64_t t = checked_id("token_logprobs_backward", tokens[i], i, V);
    RowStats s = row_stats(z, V);
    for (int64_t j = 0; j < V; ++j)
      dz[j] = (float)((double)dout[i] * ((j == t ? 1.0 : 0.0) - s.prob(z[j])));
  }
}

// H_i = -sum_j p_j log p_j with p = softmax(z_i). Since log p_j = (z_j - max) - log S:
//   H_i = log S - sum_j p_j (z_j - max)
// Terms with p_j = 0 (e.g. a -inf logit) contribute 0, as in the limit p log p -> 0.
void softmax_entropy(const float* logits, float* out, int64_t N, int64_t V) {
  for (int64_t i = 0; i < N; ++i) {
    const float* z = logits + i * V;
    RowStats s = row_stats(z, V);
    double weighted = 0.0;
    for (int64_t j = 0; j < V; ++j) {
      double p = s.prob(z[j]);
      if (p > 0.0) weighted += p * (double)(z[j] - s.max);
    }
    out[i] = (float)(std::log(s.sum_exp) - weighted);
  }
}

}  // namespace cpu
}  // namespace aha

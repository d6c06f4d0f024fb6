// Losses and per-token quantities computed straight from logits z [N, V],
// without materialising the softmax: cross-entropy (pretraining), the
// log-probability of chosen tokens (the GRPO ratio and KL), and entropy.
// Rows are independent and split across threads; ids are checked first, on one
// thread (an exception must not leave an OpenMP region). A sum over rows (the
// mean loss) is taken afterwards, in row order.
#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

#include "tensor/cpu/fast_math.h"
#include "tensor/cpu/kernels.h"
#include "tensor/cpu/parallel.h"
#include "tensor/cpu/token_id.h"

namespace aha {
namespace cpu {

namespace {

// The row's max and S = sum_j exp(z_j - max), so log sum_j exp(z_j) = max + log S
// and softmax(z)_j = exp(z_j - max) / S. `e` receives exp(z_j - max) (V floats).
struct RowStats {
  float max;
  double sum_exp;
  double log_sum_exp() const { return (double)max + std::log(sum_exp); }
};

RowStats row_stats(const float* z, int64_t V, float* e) {
  RowStats s{max_f32(z, V), 0.0};
#pragma omp simd
  for (int64_t j = 0; j < V; ++j) e[j] = exp_fast(z[j] - s.max);
  s.sum_exp = sum_f64(e, V);
  return s;
}

// The integer ids t_i of rows with mask m_i != 0 (mask may be null: every row),
// checked before any thread starts.
std::vector<int64_t> checked_ids(const char* op, const float* ids, const float* mask, int64_t N,
                                 int64_t V) {
  std::vector<int64_t> out((size_t)N, 0);
  for (int64_t i = 0; i < N; ++i)
    if (!mask || mask[i] != 0.0f) out[(size_t)i] = checked_id(op, ids[i], i, V);
  return out;
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
  std::vector<int64_t> t = checked_ids("cross_entropy", targets, mask, N, V);
  std::vector<double> row_loss((size_t)N, 0.0);
#pragma omp parallel if (N * V >= kParallelMinWork)
  {
    std::vector<float> e((size_t)V);
#pragma omp for schedule(static)
    for (int64_t i = 0; i < N; ++i) {
      if (mask[i] == 0.0f) continue;
      const float* z = logits + i * V;
      row_loss[(size_t)i] =
          (double)mask[i] * (row_stats(z, V, e.data()).log_sum_exp() - (double)z[t[(size_t)i]]);
    }
  }
  double total = 0.0;
  for (int64_t i = 0; i < N; ++i)
    if (mask[i] != 0.0f) total += row_loss[(size_t)i];
  loss[0] = (float)(total / mask_count(mask, N));
}

// dz_ij = dloss m_i (softmax(z_i)_j - [j = t_i]) / max(1, sum m)
void cross_entropy_backward(const float* logits, const float* targets, const float* mask,
                            float dloss, float* dlogits, int64_t N, int64_t V) {
  std::vector<int64_t> t = checked_ids("cross_entropy_backward", targets, mask, N, V);
  double scale = (double)dloss / mask_count(mask, N);
#pragma omp parallel for schedule(static) if (N * V >= kParallelMinWork)
  for (int64_t i = 0; i < N; ++i) {
    float* dz = dlogits + i * V;
    if (mask[i] == 0.0f) {
      std::fill(dz, dz + V, 0.0f);
      continue;
    }
    const float* z = logits + i * V;
    const int64_t ti = t[(size_t)i];
    RowStats s = row_stats(z, V, dz);  // dz_j = exp(z_j - max) for now
    const double e_t = dz[ti];
    const double row_scale = scale * mask[i];
    const double prob_scale = row_scale / s.sum_exp;  // softmax_j = e_j / S
#pragma omp simd
    for (int64_t j = 0; j < V; ++j) dz[j] = (float)(prob_scale * dz[j]);
    dz[ti] = (float)(row_scale * (e_t / s.sum_exp - 1.0));
  }
}

// out_i = log softmax(z_i)[t_i] = z_i,t_i - log sum_j exp(z_ij)
void token_logprobs(const float* logits, const float* tokens, float* out, int64_t N, int64_t V) {
  std::vector<int64_t> t = checked_ids("token_logprobs", tokens, nullptr, N, V);
#pragma omp parallel if (N * V >= kParallelMinWork)
  {
    std::vector<float> e((size_t)V);
#pragma omp for schedule(static)
    for (int64_t i = 0; i < N; ++i) {
      const float* z = logits + i * V;
      out[i] = (float)((double)z[t[(size_t)i]] - row_stats(z, V, e.data()).log_sum_exp());
    }
  }
}

// dz_ij = dout_i ([j = t_i] - softmax(z_i)_j)
void token_logprobs_backward(const float* logits, const float* tokens, const float* dout,
                             float* dlogits, int64_t N, int64_t V) {
  std::vector<int64_t> t = checked_ids("token_logprobs_backward", tokens, nullptr, N, V);
#pragma omp parallel for schedule(static) if (N * V >= kParallelMinWork)
  for (int64_t i = 0; i < N; ++i) {
    const float* z = logits + i * V;
    float* dz = dlogits + i * V;
    const int64_t ti = t[(size_t)i];
    RowStats s = row_stats(z, V, dz);  // dz_j = exp(z_j - max) for now
    const double e_t = dz[ti];
    const double prob_scale = -(double)dout[i] / s.sum_exp;
#pragma omp simd
    for (int64_t j = 0; j < V; ++j) dz[j] = (float)(prob_scale * dz[j]);
    dz[ti] = (float)((double)dout[i] * (1.0 - e_t / s.sum_exp));
  }
}

// H_i = -sum_j p_j log p_j with p = softmax(z_i). Since log p_j = (z_j - max) - log S:
//   H_i = log S - sum_j p_j (z_j - max) = log S - (sum_j e_j (z_j - max)) / S
// Terms with p_j = 0 (e.g. a -inf logit) contribute 0, as in the limit p log p -> 0.
void softmax_entropy(const float* logits, float* out, int64_t N, int64_t V) {
#pragma omp parallel if (N * V >= kParallelMinWork)
  {
    std::vector<float> e((size_t)V), shifted((size_t)V);
#pragma omp for schedule(static)
    for (int64_t i = 0; i < N; ++i) {
      const float* z = logits + i * V;
      RowStats s = row_stats(z, V, e.data());
#pragma omp simd
      for (int64_t j = 0; j < V; ++j) shifted[j] = e[j] > 0.0f ? z[j] - s.max : 0.0f;
      double weighted = dot_f64(e.data(), shifted.data(), V) / s.sum_exp;
      out[i] = (float)(std::log(s.sum_exp) - weighted);
    }
  }
}

}  // namespace cpu
}  // namespace aha

// The masked mean cross-entropy of pretraining, forward and backward, as plain
// loops: the reference for cross_entropy in tensor/cpu/loss.cpp and
// tensor/cuda/loss.cu.
#include <cmath>
#include <cstdint>

#include "tensor/reference/reference.h"

namespace aha {
namespace reference {

// For rows i of logits z [N, V] with target t_i and mask m_i (a weight: 1 counts
// the row, 0 skips it; rows with m_i = 0 are never read, so their targets may be
// padding):
//   lse_i = log sum_j exp(z_ij)           (computed as M + log sum_j exp(z_ij - M), M = max_j z_ij)
//   l_i   = lse_i - z_i,t_i                (= -log softmax(z_i)_t_i)
//   total = sum_i m_i l_i
//   loss  = total / count,   count = max(1, sum_i m_i)   (an all-masked batch gives 0)
void cross_entropy_forward(const float* logits, const float* targets, const float* mask, float* loss,
                           int64_t N, int64_t V) {
  double total = 0.0, count = 0.0;
  for (int64_t i = 0; i < N; ++i) {
    count += mask[i];
    if (mask[i] == 0.0f) continue;
    const float* z = logits + i * V;
    float M = z[0];
    for (int64_t j = 1; j < V; ++j)
      if (z[j] > M) M = z[j];
    double s = 0.0;
    for (int64_t j = 0; j < V; ++j) s += std::exp((double)(z[j] - M));
    const double lse = M + std::log(s);
    const int64_t t = (int64_t)targets[i];
    total += mask[i] * (lse - z[t]);
  }
  if (count < 1.0) count = 1.0;
  loss[0] = (float)(total / count);
}

//   in the forward pass this was: loss = total / count
//   so now we have:   dtotal = dloss / count
//   in the forward pass this was: total = sum_i m_i l_i
//   so now we have:   dl_i = m_i dtotal
//   in the forward pass this was: l_i = lse_i - z_i,t_i
//   so now we have:   dlse_i = dl_i,   dz_i,t_i = -dl_i
//   in the forward pass this was: lse_i = log sum_j exp(z_ij)
//   so now we have:   dz_ij += dlse_i exp(z_ij) / sum_k exp(z_ik) = dlse_i softmax(z_i)_j
//   together:         dz_ij = dloss m_i / count (softmax(z_i)_j - [j = t_i])
void cross_entropy_backward(const float* logits, const float* targets, const float* mask, float dloss,
                            float* dlogits, int64_t N, int64_t V) {
  // BEGIN EXERCISE cross_entropy_backward: dz_ij = dloss m_i / count (softmax(z_i)_j - [j = t_i]), 0 on masked rows
  double count = 0.0;
  for (int64_t i = 0; i < N; ++i) count += mask[i];
  if (count < 1.0) count = 1.0;
  const double dtotal = dloss / count;
  for (int64_t i = 0; i < N; ++i) {
    const float* z = logits + i * V;
    float* dz = dlogits + i * V;
    for (int64_t j = 0; j < V; ++j) dz[j] = 0.0f;
    if (mask[i] == 0.0f) continue;
    const double dl = mask[i] * dtotal;
    float M = z[0];
    for (int64_t j = 1; j < V; ++j)
      if (z[j] > M) M = z[j];
    double s = 0.0;
    for (int64_t j = 0; j < V; ++j) s += std::exp((double)(z[j] - M));
    const int64_t t = (int64_t)targets[i];
    for (int64_t j = 0; j < V; ++j) {
      const double p = std::exp((double)(z[j] - M)) / s;
      dz[j] = (float)(dl * (p - (j == t ? 1.0 : 0.0)));
    }
  }
  // END EXERCISE cross_entropy_backward
}

}  // namespace reference
}  // namespace aha

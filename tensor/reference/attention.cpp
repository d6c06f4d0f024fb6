// Causal self-attention, forward and backward, as plain loops over every
// (batch, head, query, key): the reference for the fused kernels of
// tensor/cpu/attention.cpp (whole [T, T] matrices through Eigen),
// tensor/cuda/attention.cu and tensor/cuda/attention_tc.cu (tiles, never the
// [T, T] matrix), and for the composed attention of autograd/ops_attention.cpp.
// llm.c's attention_forward / attention_backward, with its derivation style.
//
// Layout: q, k, v, y are [B, T, C], C = H*D, the heads interleaved along C as a
// linear layer writes them: head h of position t is q[b, t, h*D .. h*D + D - 1].
#include <cmath>
#include <vector>

#include "tensor/reference/reference.h"

namespace aha {
namespace reference {

// Per batch b, head h, query position t (Vaswani et al. 2017 eq. 1, with GPT's
// causal mask: query t sees keys t2 <= t):
//   s_t2   = (q_t . k_t2) / sqrt(D)                       for t2 <= t
//   a_t2   = exp(s_t2 - max) / sum_{t3<=t} exp(s_t3 - max)   (softmax over t2 <= t)
//   y_t[i] = sum_{t2<=t} a_t2 v_t2[i]
// att[b, h, t, t2] = a_t2, and 0 for t2 > t.
void causal_attention_forward(const float* q, const float* k, const float* v, float* y, float* att,
                              int64_t B, int64_t T, int64_t H, int64_t D) {
  const int64_t C = H * D;
  const float scale = 1.0f / std::sqrt((float)D);
  for (int64_t b = 0; b < B; ++b)
    for (int64_t h = 0; h < H; ++h)
      for (int64_t t = 0; t < T; ++t) {
        const float* q_t = q + (b * T + t) * C + h * D;
        float* a = att + ((b * H + h) * T + t) * T;  // [T]
        float max = -INFINITY;
        for (int64_t t2 = 0; t2 <= t; ++t2) {
          const float* k_t2 = k + (b * T + t2) * C + h * D;
          double dot = 0.0;
          for (int64_t i = 0; i < D; ++i) dot += (double)q_t[i] * k_t2[i];
          a[t2] = (float)dot * scale;  // s_t2, for now
          if (a[t2] > max) max = a[t2];
        }
        double sum = 0.0;
        for (int64_t t2 = 0; t2 <= t; ++t2) {
          a[t2] = std::exp(a[t2] - max);
          sum += a[t2];
        }
        for (int64_t t2 = 0; t2 <= t; ++t2) a[t2] = (float)(a[t2] / sum);
        for (int64_t t2 = t + 1; t2 < T; ++t2) a[t2] = 0.0f;

        float* y_t = y + (b * T + t) * C + h * D;
        for (int64_t i = 0; i < D; ++i) {
          double out = 0.0;
          for (int64_t t2 = 0; t2 <= t; ++t2) out += (double)a[t2] * v[(b * T + t2) * C + h * D + i];
          y_t[i] = (float)out;
        }
      }
}

// Backward, per (b, h, t), the forward's lines in reverse:
//   in the forward pass this was: y_t[i] = sum_t2 a_t2 v_t2[i]
//   so now we have:   da_t2 = sum_i v_t2[i] dy_t[i],   dv_t2[i] += a_t2 dy_t[i]
//   in the forward pass this was: a = softmax(s) over t2 <= t
//   so now we have:   ds_t2 = a_t2 (da_t2 - sum_t3 a_t3 da_t3)   (tensor/reference/softmax.cpp)
//   in the forward pass this was: s_t2 = (q_t . k_t2) / sqrt(D)
//   so now we have:   dq_t[i] += ds_t2 k_t2[i] / sqrt(D),   dk_t2[i] += ds_t2 q_t[i] / sqrt(D)
// A key t2 collects gradient from every query t >= t2, so dk and dv are sums
// over queries; dq, dk, dv are zeroed first.
void causal_attention_backward(const float* q, const float* k, const float* v, const float* att,
                               const float* dy, float* dq, float* dk, float* dv, int64_t B, int64_t T,
                               int64_t H, int64_t D) {
  // BEGIN EXERCISE attention_backward: dq, dk, dv (zeroed first) from the three steps above, per (b, h, t)
  const int64_t C = H * D;
  const float scale = 1.0f / std::sqrt((float)D);
  for (int64_t i = 0; i < B * T * C; ++i) dq[i] = dk[i] = dv[i] = 0.0f;
  std::vector<double> da((size_t)T), ds((size_t)T);
  for (int64_t b = 0; b < B; ++b)
    for (int64_t h = 0; h < H; ++h)
      for (int64_t t = 0; t < T; ++t) {
        const float* a = att + ((b * H + h) * T + t) * T;
        const float* q_t = q + (b * T + t) * C + h * D;
        const float* dy_t = dy + (b * T + t) * C + h * D;
        float* dq_t = dq + (b * T + t) * C + h * D;
        for (int64_t t2 = 0; t2 <= t; ++t2) {
          const float* v_t2 = v + (b * T + t2) * C + h * D;
          float* dv_t2 = dv + (b * T + t2) * C + h * D;
          da[(size_t)t2] = 0.0;
          for (int64_t i = 0; i < D; ++i) {
            da[(size_t)t2] += (double)v_t2[i] * dy_t[i];
            dv_t2[i] += a[t2] * dy_t[i];
          }
        }
        double a_da = 0.0;
        for (int64_t t3 = 0; t3 <= t; ++t3) a_da += a[t3] * da[(size_t)t3];
        for (int64_t t2 = 0; t2 <= t; ++t2) ds[(size_t)t2] = a[t2] * (da[(size_t)t2] - a_da);
        for (int64_t t2 = 0; t2 <= t; ++t2) {
          const float* k_t2 = k + (b * T + t2) * C + h * D;
          float* dk_t2 = dk + (b * T + t2) * C + h * D;
          for (int64_t i = 0; i < D; ++i) {
            dq_t[i] += (float)(ds[(size_t)t2] * k_t2[i] * scale);
            dk_t2[i] += (float)(ds[(size_t)t2] * q_t[i] * scale);
          }
        }
      }
  // END EXERCISE attention_backward
}

}  // namespace reference
}  // namespace aha

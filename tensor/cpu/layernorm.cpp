// Layer normalisation over the last dim (Ba et al. 2016), forward and backward.
#include <cmath>
#include <vector>

#include "tensor/cpu/kernels.h"

namespace aha {
namespace cpu {

// For each row x of C values:
//   mean = sum x / C,  var = sum (x - mean)^2 / C   (biased, as PyTorch)
//   rstd = 1 / sqrt(var + eps),  xhat = (x - mean) rstd,  y = gamma xhat + beta
// mean and rstd are saved for the backward. Two passes (mean, then var) in double:
// the one-pass E[x^2] - E[x]^2 cancels badly when |mean| >> std.
void layernorm(const float* x, const float* gamma, const float* beta, float* y, float* mean,
               float* rstd, int64_t rows, int64_t cols, float eps) {
  for (int64_t r = 0; r < rows; ++r) {
    const float* xr = x + r * cols;
    float* yr = y + r * cols;
    double sum = 0.0;
    for (int64_t c = 0; c < cols; ++c) sum += xr[c];
    double mu = sum / (double)cols;
    double sq = 0.0;
    for (int64_t c = 0; c < cols; ++c) sq += (xr[c] - mu) * (xr[c] - mu);
    double var = sq / (double)cols;
    float rs = (float)(1.0 / std::sqrt(var + (double)eps));
    float m = (float)mu;
    for (int64_t c = 0; c < cols; ++c) yr[c] = (xr[c] - m) * rs * gamma[c] + beta[c];
    mean[r] = m;
    rstd[r] = rs;
  }
}

// With xhat = (x - mean) rstd and g = dy * gamma (the gradient reaching xhat):
//   dx     = rstd (g - mean(g) - xhat mean(g xhat))     (per row, means over C)
//   dgamma = sum over rows of dy xhat,   dbeta = sum over rows of dy
void layernorm_backward(const float* dy, const float* x, const float* gamma, const float* mean,
                        const float* rstd, float* dx, float* dgamma, float* dbeta, int64_t rows,
                        int64_t cols) {
  std::vector<double> dgamma_acc((size_t)cols, 0.0), dbeta_acc((size_t)cols, 0.0);
  for (int64_t r = 0; r < rows; ++r) {
    const float* xr = x + r * cols;
    const float* dyr = dy + r * cols;
    float* dxr = dx + r * cols;
    double g_sum = 0.0, g_xhat_sum = 0.0;
    for (int64_t c = 0; c < cols; ++c) {
      double xhat = (xr[c] - mean[r]) * (double)rstd[r];
      double g = (double)dyr[c] * gamma[c];
      g_sum += g;
      g_xhat_sum += g * xhat;
      dgamma_acc[(size_t)c] += (double)dyr[c] * xhat;
      dbeta_acc[(size_t)c] += dyr[c];
    }
    double g_mean = g_sum / (double)cols, g_xhat_mean = g_xhat_sum / (double)cols;
    for (int64_t c = 0; c < cols; ++c) {
      double xhat = (xr[c] - mean[r]) * (double)rstd[r];
      double g = (double)dyr[c] * gamma[c];
      dxr[c] = (float)(rstd[r] * (g - g_mean - xhat * g_xhat_mean));
    }
  }
  for (int64_t c = 0; c < cols; ++c) {
    dgamma[c] = (float)dgamma_acc[(size_t)c];
    dbeta[c] = (float)dbeta_acc[(size_t)c];
  }
}

}  // namespace cpu
}  // namespace aha

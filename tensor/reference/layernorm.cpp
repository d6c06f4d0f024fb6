// Layer normalisation over the last dim (Ba et al. 2016), forward and
// backward, as plain loops: the reference for tensor/cpu/layernorm.cpp and
// tensor/cuda/layernorm.cu.
#include <cmath>
#include <vector>

#include "tensor/reference/reference.h"

namespace aha {
namespace reference {

// For each row x of C values (C = cols):
//   mean = sum_i x_i / C
//   xm_i = x_i - mean
//   var  = sum_i xm_i^2 / C          (biased, as PyTorch)
//   rstd = 1 / sqrt(var + eps)
//   n_i  = xm_i rstd                 (the normalised x, "xhat")
//   y_i  = gamma_i n_i + beta_i
// mean and rstd are saved for the backward.
void layernorm_forward(const float* x, const float* gamma, const float* beta, float* y, float* mean,
                       float* rstd, int64_t rows, int64_t cols, float eps) {
  for (int64_t r = 0; r < rows; ++r) {
    const float* xr = x + r * cols;
    float* yr = y + r * cols;
    double sum = 0.0;
    for (int64_t i = 0; i < cols; ++i) sum += xr[i];
    const double m = sum / (double)cols;
    double sum_sq = 0.0;
    for (int64_t i = 0; i < cols; ++i) sum_sq += (xr[i] - m) * (xr[i] - m);
    const double var = sum_sq / (double)cols;
    const double rs = 1.0 / std::sqrt(var + (double)eps);
    for (int64_t i = 0; i < cols; ++i) {
      const double n = (xr[i] - m) * rs;
      yr[i] = (float)(gamma[i] * n + beta[i]);
    }
    mean[r] = (float)m;
    rstd[r] = (float)rs;
  }
}

// Backward, one forward line at a time from the last:
//   in the forward pass this was: y_i = gamma_i n_i + beta_i
//   so now we have:   dbeta_i += dy_i,   dgamma_i += n_i dy_i,   dn_i = gamma_i dy_i
//   in the forward pass this was: n_i = xm_i rstd
//   so now we have:   dxm_i = dn_i rstd,   drstd = sum_i dn_i xm_i
//   in the forward pass this was: rstd = (var + eps)^(-1/2)
//   so now we have:   dvar = -1/2 (var + eps)^(-3/2) drstd = -1/2 rstd^3 drstd
//   in the forward pass this was: var = sum_i xm_i^2 / C
//   so now we have:   dxm_i += dvar 2 xm_i / C
//   in the forward pass this was: xm_i = x_i - mean
//   so now we have:   dx_i = dxm_i,   dmean = -sum_i dxm_i
//   in the forward pass this was: mean = sum_i x_i / C
//   so now we have:   dx_i += dmean / C
// (Collected, dx = rstd (dn - mean(dn) - n mean(dn n)): the closed form the
// fast kernels compute.) dgamma and dbeta are summed over rows.
void layernorm_backward(const float* dy, const float* x, const float* gamma, const float* mean,
                        const float* rstd, float* dx, float* dgamma, float* dbeta, int64_t rows,
                        int64_t cols) {
  // BEGIN EXERCISE layernorm_backward: dx, dgamma, dbeta, one forward line at a time from the last
  std::vector<double> dgamma_sum((size_t)cols, 0.0), dbeta_sum((size_t)cols, 0.0);
  std::vector<double> dxm((size_t)cols);
  for (int64_t r = 0; r < rows; ++r) {
    const float* xr = x + r * cols;
    const float* dyr = dy + r * cols;
    float* dxr = dx + r * cols;
    const double m = mean[r], rs = rstd[r];
    double drstd = 0.0;
    for (int64_t i = 0; i < cols; ++i) {
      const double xm = xr[i] - m;
      const double n = xm * rs;
      dbeta_sum[(size_t)i] += dyr[i];
      dgamma_sum[(size_t)i] += n * dyr[i];
      const double dn = (double)gamma[i] * dyr[i];
      dxm[(size_t)i] = dn * rs;
      drstd += dn * xm;
    }
    const double dvar = -0.5 * rs * rs * rs * drstd;
    double dmean = 0.0;
    for (int64_t i = 0; i < cols; ++i) {
      dxm[(size_t)i] += dvar * 2.0 * (xr[i] - m) / (double)cols;
      dmean -= dxm[(size_t)i];
    }
    for (int64_t i = 0; i < cols; ++i) dxr[i] = (float)(dxm[(size_t)i] + dmean / (double)cols);
  }
  for (int64_t i = 0; i < cols; ++i) {
    dgamma[i] = (float)dgamma_sum[(size_t)i];
    dbeta[i] = (float)dbeta_sum[(size_t)i];
  }
  // END EXERCISE layernorm_backward
}

}  // namespace reference
}  // namespace aha

// Layer normalisation over the last dim (Ba et al. 2016), forward and backward.
// Rows are independent (split across threads); the row sums use the fixed-order
// sum_f64 / dot_f64 of tensor/cpu/fast_math.h.
// On the bf16 path (tensor/ops.h "bf16") y, and in the backward dy, are bf16:
// one template per kernel, the element type its only parameter, so the math is
// the same float/double arithmetic; bf16 is widened exactly on load and y
// rounded once on store.
#include <cmath>
#include <vector>

#include "tensor/cpu/fast_math.h"
#include "tensor/cpu/kernels.h"
#include "tensor/cpu/parallel.h"

namespace aha {
namespace cpu {

namespace {

// An element as float (bf16 bits widen exactly), and a float stored as an element.
float value_of(float x) { return x; }
float value_of(uint16_t bits) { return bf16_widen(bits); }
void store(float* p, float v) { *p = v; }
void store(uint16_t* p, float v) { *p = bf16_round(v); }

// For each row x of C values:
//   mean = sum x / C,  var = sum (x - mean)^2 / C   (biased, as PyTorch)
//   rstd = 1 / sqrt(var + eps),  xhat = (x - mean) rstd,  y = gamma xhat + beta
// mean and rstd are saved for the backward. Two passes (mean, then var) in double:
// the one-pass E[x^2] - E[x]^2 cancels badly when |mean| >> std.
// Y is float, or uint16_t for bf16 bits (one rounding of the float y).
template <typename Y>
void layernorm_rows(const float* x, const float* gamma, const float* beta, Y* y, float* mean,
                    float* rstd, int64_t rows, int64_t cols, float eps) {
#pragma omp parallel for schedule(static) if (rows * cols >= kParallelMinWork)
  for (int64_t r = 0; r < rows; ++r) {
    const float* xr = x + r * cols;
    Y* yr = y + r * cols;
    double mu = sum_f64(xr, cols) / (double)cols;
    double lane[8] = {0, 0, 0, 0, 0, 0, 0, 0};  // sum (x - mu)^2, in sum_f64's order
    int64_t c = 0;
    for (; c + 8 <= cols; c += 8)
      for (int l = 0; l < 8; ++l) lane[l] += (xr[c + l] - mu) * (xr[c + l] - mu);
    for (int l = 0; c < cols; ++c, ++l) lane[l] += (xr[c] - mu) * (xr[c] - mu);
    double var = add_lanes(lane) / (double)cols;
    float rs = (float)(1.0 / std::sqrt(var + (double)eps));
    float m = (float)mu;
#pragma omp simd
    for (int64_t k = 0; k < cols; ++k) store(&yr[k], (xr[k] - m) * rs * gamma[k] + beta[k]);
    mean[r] = m;
    rstd[r] = rs;
  }
}

// With xhat = (x - mean) rstd and g = dy * gamma (the gradient reaching xhat):
//   dx     = rstd (g - mean(g) - xhat mean(g xhat))     (per row, means over C)
//   dgamma = sum over rows of dy xhat,   dbeta = sum over rows of dy
// dgamma and dbeta are sums over rows: one thread adds the rows in order, each
// row a vectorised pass over the columns. Then dx, per row (split across
// threads); dx may be dy (in place), hence this order. DY is float, or
// uint16_t for bf16 bits (widened exactly: the float kernel fed the widened dy).
template <typename DY>
void layernorm_backward_rows(const DY* dy, const float* x, const float* gamma, const float* mean,
                             const float* rstd, float* dx, float* dgamma, float* dbeta,
                             int64_t rows, int64_t cols) {
  std::vector<double> dgamma_acc((size_t)cols, 0.0), dbeta_acc((size_t)cols, 0.0);
  for (int64_t r = 0; r < rows; ++r) {
    const float* xr = x + r * cols;
    const DY* dyr = dy + r * cols;
    const double m = mean[r], rs = rstd[r];
    double* dg = dgamma_acc.data();
    double* db = dbeta_acc.data();
#pragma omp simd
    for (int64_t c = 0; c < cols; ++c) {
      dg[c] += (double)value_of(dyr[c]) * ((xr[c] - m) * rs);
      db[c] += value_of(dyr[c]);
    }
  }
  for (int64_t c = 0; c < cols; ++c) {
    dgamma[c] = (float)dgamma_acc[(size_t)c];
    dbeta[c] = (float)dbeta_acc[(size_t)c];
  }
#pragma omp parallel for schedule(static) if (rows * cols >= kParallelMinWork)
  for (int64_t r = 0; r < rows; ++r) {
    const float* xr = x + r * cols;
    const DY* dyr = dy + r * cols;
    float* dxr = dx + r * cols;
    const double m = mean[r], rs = rstd[r];
    double g_lane[8] = {0, 0, 0, 0, 0, 0, 0, 0}, gx_lane[8] = {0, 0, 0, 0, 0, 0, 0, 0};
    int64_t c = 0;
    for (; c + 8 <= cols; c += 8)
      for (int l = 0; l < 8; ++l) {
        double xhat = (xr[c + l] - m) * rs;
        double g = (double)value_of(dyr[c + l]) * gamma[c + l];
        g_lane[l] += g;
        gx_lane[l] += g * xhat;
      }
    for (int l = 0; c < cols; ++c, ++l) {
      double xhat = (xr[c] - m) * rs;
      double g = (double)value_of(dyr[c]) * gamma[c];
      g_lane[l] += g;
      gx_lane[l] += g * xhat;
    }
    double g_mean = add_lanes(g_lane) / (double)cols;
    double g_xhat_mean = add_lanes(gx_lane) / (double)cols;
#pragma omp simd
    for (int64_t k = 0; k < cols; ++k) {
      double xhat = (xr[k] - m) * rs;
      double g = (double)value_of(dyr[k]) * gamma[k];
      dxr[k] = (float)(rs * (g - g_mean - xhat * g_xhat_mean));
    }
  }
}

}  // namespace

void layernorm(const float* x, const float* gamma, const float* beta, float* y, float* mean,
               float* rstd, int64_t rows, int64_t cols, float eps) {
  layernorm_rows(x, gamma, beta, y, mean, rstd, rows, cols, eps);
}

void layernorm_bf16(const float* x, const float* gamma, const float* beta, uint16_t* y, float* mean,
                    float* rstd, int64_t rows, int64_t cols, float eps) {
  layernorm_rows(x, gamma, beta, y, mean, rstd, rows, cols, eps);
}

void layernorm_backward(const float* dy, const float* x, const float* gamma, const float* mean,
                        const float* rstd, float* dx, float* dgamma, float* dbeta, int64_t rows,
                        int64_t cols) {
  layernorm_backward_rows(dy, x, gamma, mean, rstd, dx, dgamma, dbeta, rows, cols);
}

void layernorm_backward_bf16(const uint16_t* dy, const float* x, const float* gamma, const float* mean,
                             const float* rstd, float* dx, float* dgamma, float* dbeta, int64_t rows,
                             int64_t cols) {
  layernorm_backward_rows(dy, x, gamma, mean, rstd, dx, dgamma, dbeta, rows, cols);
}

}  // namespace cpu
}  // namespace aha

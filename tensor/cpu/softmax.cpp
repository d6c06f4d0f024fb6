// Softmax and log-softmax over the last dim, and their backward kernels.
#include <cmath>
#include <limits>

#include "tensor/cpu/kernels.h"

namespace aha {
namespace cpu {

// y_j = exp(x_j - max x) / sum_k exp(x_k - max x)       (softmax)
// y_j = (x_j - max x) - log sum_k exp(x_k - max x)      (log-softmax)
// Subtracting the row max changes nothing mathematically and keeps exp() from
// overflowing on large logits. x, y are [rows, cols].
void softmax(const float* x, float* y, int64_t rows, int64_t cols, bool log) {
  for (int64_t r = 0; r < rows; ++r) {
    const float* xr = x + r * cols;
    float* yr = y + r * cols;
    float max = -std::numeric_limits<float>::infinity();
    for (int64_t c = 0; c < cols; ++c) max = xr[c] > max ? xr[c] : max;
    double sum = 0.0;
    for (int64_t c = 0; c < cols; ++c) sum += std::exp((double)(xr[c] - max));
    if (log) {
      float log_sum = (float)std::log(sum);
      for (int64_t c = 0; c < cols; ++c) yr[c] = (xr[c] - max) - log_sum;
    } else {
      for (int64_t c = 0; c < cols; ++c) yr[c] = (float)(std::exp((double)(xr[c] - max)) / sum);
    }
  }
}

// Given the forward output y and upstream dy:
//   softmax:      dx_j = y_j (dy_j - sum_k dy_k y_k)
//   log-softmax:  dx_j = dy_j - exp(y_j) sum_k dy_k
void softmax_backward(const float* y, const float* dy, float* dx, int64_t rows, int64_t cols,
                      bool log) {
  for (int64_t r = 0; r < rows; ++r) {
    const float* yr = y + r * cols;
    const float* dyr = dy + r * cols;
    float* dxr = dx + r * cols;
    double dot = 0.0;
    for (int64_t c = 0; c < cols; ++c) dot += log ? (double)dyr[c] : (double)dyr[c] * yr[c];
    if (log) {
      for (int64_t c = 0; c < cols; ++c) dxr[c] = dyr[c] - std::exp(yr[c]) * (float)dot;
    } else {
      for (int64_t c = 0; c < cols; ++c) dxr[c] = yr[c] * (dyr[c] - (float)dot);
    }
  }
}

}  // namespace cpu
}  // namespace aha

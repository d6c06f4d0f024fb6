// Softmax and log-softmax over the last dim, forward and backward, as plain
// loops: the reference for tensor/cpu/softmax.cpp and tensor/cuda/softmax.cu.
#include <cmath>

#include "tensor/reference/reference.h"

namespace aha {
namespace reference {

// For each row x of `cols` values:
//   m   = max_j x_j            (softmax(x) = softmax(x - m): exp cannot overflow)
//   e_j = exp(x_j - m)
//   s   = sum_j e_j
//   y_j = e_j / s
void softmax_forward(const float* x, float* y, int64_t rows, int64_t cols) {
  for (int64_t r = 0; r < rows; ++r) {
    const float* xr = x + r * cols;
    float* yr = y + r * cols;
    float m = xr[0];
    for (int64_t j = 1; j < cols; ++j)
      if (xr[j] > m) m = xr[j];
    double s = 0.0;
    for (int64_t j = 0; j < cols; ++j) {
      yr[j] = std::exp(xr[j] - m);  // e_j, for now
      s += yr[j];
    }
    for (int64_t j = 0; j < cols; ++j) yr[j] = (float)(yr[j] / s);
  }
}

// Backward, given the forward's y and the upstream dy (m is a constant: moving
// every x_j by the same amount leaves y unchanged, so no gradient flows to it).
//   in the forward pass this was: y_j = e_j / s
//   so now we have:   de_j = dy_j / s,   ds = -sum_j dy_j e_j / s^2 = -(sum_j dy_j y_j) / s
//   in the forward pass this was: s = sum_j e_j
//   so now we have:   de_j += ds,   i.e. de_j = (dy_j - sum_k dy_k y_k) / s
//   in the forward pass this was: e_j = exp(x_j - m)
//   so now we have:   dx_j = de_j e_j = y_j (dy_j - sum_k dy_k y_k)
void softmax_backward(const float* y, const float* dy, float* dx, int64_t rows, int64_t cols) {
  // BEGIN EXERCISE softmax_backward: for each row, dx_j = y_j (dy_j - sum_k dy_k y_k)
  for (int64_t r = 0; r < rows; ++r) {
    const float* yr = y + r * cols;
    const float* dyr = dy + r * cols;
    float* dxr = dx + r * cols;
    double dot = 0.0;  // sum_k dy_k y_k = -s ds
    for (int64_t k = 0; k < cols; ++k) dot += (double)dyr[k] * yr[k];
    for (int64_t j = 0; j < cols; ++j) dxr[j] = (float)(yr[j] * (dyr[j] - dot));
  }
  // END EXERCISE softmax_backward
}

// y_j = log softmax(x)_j = (x_j - m) - log s, with m and s as above.
void log_softmax_forward(const float* x, float* y, int64_t rows, int64_t cols) {
  for (int64_t r = 0; r < rows; ++r) {
    const float* xr = x + r * cols;
    float* yr = y + r * cols;
    float m = xr[0];
    for (int64_t j = 1; j < cols; ++j)
      if (xr[j] > m) m = xr[j];
    double s = 0.0;
    for (int64_t j = 0; j < cols; ++j) s += std::exp((double)(xr[j] - m));
    const double log_s = std::log(s);
    for (int64_t j = 0; j < cols; ++j) yr[j] = (float)((xr[j] - m) - log_s);
  }
}

//   in the forward pass this was: y_j = (x_j - m) - log s
//   so now we have:   dx_j = dy_j,   dlog_s = -sum_j dy_j
//   in the forward pass this was: log s = log sum_k exp(x_k - m)
//   so now we have:   dx_k += dlog_s e_k / s = dlog_s exp(y_k)
//   together:         dx_k = dy_k - exp(y_k) sum_j dy_j
void log_softmax_backward(const float* y, const float* dy, float* dx, int64_t rows, int64_t cols) {
  for (int64_t r = 0; r < rows; ++r) {
    const float* yr = y + r * cols;
    const float* dyr = dy + r * cols;
    float* dxr = dx + r * cols;
    double dy_sum = 0.0;  // -dlog_s
    for (int64_t j = 0; j < cols; ++j) dy_sum += dyr[j];
    for (int64_t k = 0; k < cols; ++k) dxr[k] = (float)(dyr[k] - std::exp((double)yr[k]) * dy_sum);
  }
}

}  // namespace reference
}  // namespace aha

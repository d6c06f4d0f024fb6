// Softmax and log-softmax over the last dim, and their backward kernels.
// Rows are independent: split across threads (tensor/cpu/parallel.h); within a
// row, exp_fast and the fixed-order sums of tensor/cpu/fast_math.h vectorise.
#include <algorithm>
#include <cmath>

#include "tensor/cpu/fast_math.h"
#include "tensor/cpu/kernels.h"
#include "tensor/cpu/parallel.h"

namespace aha {
namespace cpu {

// y_j = exp(x_j - max x) / sum_k exp(x_k - max x)       (softmax)
// y_j = (x_j - max x) - log sum_k exp(x_k - max x)      (log-softmax)
// Subtracting the row max changes nothing mathematically and keeps exp() from
// overflowing on large logits. x, y are [rows, cols]; y may be x (in place).
// Softmax writes exp(x_j - max) into y, sums it (in double), then divides;
// log-softmax needs x after the sum, so it exponentiates into a small stack
// buffer, one chunk at a time.
void softmax(const float* x, float* y, int64_t rows, int64_t cols, bool log) {
#pragma omp parallel for schedule(static) if (rows * cols >= kParallelMinWork)
  for (int64_t r = 0; r < rows; ++r) {
    const float* xr = x + r * cols;
    float* yr = y + r * cols;
    float max = max_f32(xr, cols);
    if (log) {
      constexpr int64_t kChunk = 256;  // a multiple of 8, so sum_f64's lanes line up
      float e[kChunk];
      double sum = 0.0;
      for (int64_t c0 = 0; c0 < cols; c0 += kChunk) {
        int64_t n = std::min(kChunk, cols - c0);
#pragma omp simd
        for (int64_t c = 0; c < n; ++c) e[c] = exp_fast(xr[c0 + c] - max);
        sum += sum_f64(e, n);
      }
      float log_sum = (float)std::log(sum);
#pragma omp simd
      for (int64_t c = 0; c < cols; ++c) yr[c] = (xr[c] - max) - log_sum;
    } else {
#pragma omp simd
      for (int64_t c = 0; c < cols; ++c) yr[c] = exp_fast(xr[c] - max);
      float sum = (float)sum_f64(yr, cols);
#pragma omp simd
      for (int64_t c = 0; c < cols; ++c) yr[c] = yr[c] / sum;
    }
  }
}

// Given the forward output y and upstream dy:
//   softmax:      dx_j = y_j (dy_j - sum_k dy_k y_k)
//   log-softmax:  dx_j = dy_j - exp(y_j) sum_k dy_k
void softmax_backward(const float* y, const float* dy, float* dx, int64_t rows, int64_t cols,
                      bool log) {
#pragma omp parallel for schedule(static) if (rows * cols >= kParallelMinWork)
  for (int64_t r = 0; r < rows; ++r) {
    const float* yr = y + r * cols;
    const float* dyr = dy + r * cols;
    float* dxr = dx + r * cols;
    if (log) {
      float sum = (float)sum_f64(dyr, cols);
#pragma omp simd
      for (int64_t c = 0; c < cols; ++c) dxr[c] = dyr[c] - exp_fast(yr[c]) * sum;
    } else {
      float dot = (float)dot_f64(dyr, yr, cols);
#pragma omp simd
      for (int64_t c = 0; c < cols; ++c) dxr[c] = yr[c] * (dyr[c] - dot);
    }
  }
}

}  // namespace cpu
}  // namespace aha

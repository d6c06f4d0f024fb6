// Reductions over the last dim, over columns, and their broadcast inverse.
// Sums accumulate in double: a row of a few thousand floats summed in float
// loses digits the tests (and the loss curves) can see.
#include <cmath>
#include <limits>

#include "tensor/cpu/kernels.h"

namespace aha {
namespace cpu {

// a is [rows, cols]; out[r] = sum_c a[r, c], its mean (sum / cols), or max_c a[r, c].
// "all" reductions call this with rows = 1. A mean over zero columns is 0/0 = NaN.
void reduce_last(ReduceOp op, const float* a, float* out, int64_t rows, int64_t cols) {
  for (int64_t r = 0; r < rows; ++r) {
    const float* row = a + r * cols;
    if (op == ReduceOp::Max) {
      float best = -std::numeric_limits<float>::infinity();
      for (int64_t c = 0; c < cols; ++c) best = row[c] > best ? row[c] : best;
      out[r] = best;
      continue;
    }
    double sum = 0.0;
    for (int64_t c = 0; c < cols; ++c) sum += row[c];
    out[r] = (float)(op == ReduceOp::Mean ? sum / (double)cols : sum);
  }
}

// out[c] = sum_r a[r, c]: the gradient of a vector broadcast over rows (a bias).
void sum_rows(const float* a, float* out, int64_t rows, int64_t cols) {
  for (int64_t c = 0; c < cols; ++c) {
    double sum = 0.0;
    for (int64_t r = 0; r < rows; ++r) sum += a[r * cols + c];
    out[c] = (float)sum;
  }
}

// out[r, j] = a[r] for j < size: the backward of a reduction over the last dim.
void expand_last(const float* a, float* out, int64_t rows, int64_t size) {
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t j = 0; j < size; ++j) out[r * size + j] = a[r];
}

// out[0] = sum_i a[i]^2 (the squared global norm, for gradient clipping)
void sum_squares(const float* a, float* out, int64_t n) {
  double sum = 0.0;
  for (int64_t i = 0; i < n; ++i) sum += (double)a[i] * (double)a[i];
  out[0] = (float)sum;
}

}  // namespace cpu
}  // namespace aha

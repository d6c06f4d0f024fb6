// Reductions over the last dim, over columns, and their broadcast inverse.
// Sums accumulate in double: a row of a few thousand floats summed in float
// loses digits the tests (and the loss curves) can see. They run in the fixed
// order of sum_f64 (tensor/cpu/fast_math.h); threads split rows or columns,
// never one sum.
#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

#include "tensor/cpu/fast_math.h"
#include "tensor/cpu/kernels.h"
#include "tensor/cpu/parallel.h"

namespace aha {
namespace cpu {

// a is [rows, cols]; out[r] = sum_c a[r, c], its mean (sum / cols), or max_c a[r, c].
// "all" reductions call this with rows = 1. A mean over zero columns is 0/0 = NaN.
void reduce_last(ReduceOp op, const float* a, float* out, int64_t rows, int64_t cols) {
#pragma omp parallel for schedule(static) if (rows >= 64 && rows * cols >= kParallelMinWork)
  for (int64_t r = 0; r < rows; ++r) {
    const float* row = a + r * cols;
    if (op == ReduceOp::Max) {
      out[r] = max_f32(row, cols);
      continue;
    }
    double sum = sum_f64(row, cols);
    out[r] = (float)(op == ReduceOp::Mean ? sum / (double)cols : sum);
  }
}

namespace {

float value_of(float x) { return x; }
float value_of(uint16_t bits) { return bf16_widen(bits); }

// out[c] = sum_r a[r, c]: the gradient of a vector broadcast over rows (a bias).
// Rows are added in order into a running sum per column; threads take blocks
// of columns, so each column's sum is one thread's, in row order.
// Element is float, or uint16_t for bf16 bits (widened exactly, summed alike).
template <typename Element>
void sum_columns(const Element* a, float* out, int64_t rows, int64_t cols) {
  constexpr int64_t kBlock = 64;  // columns per task: a 256-byte run of each row
  const int64_t blocks = (cols + kBlock - 1) / kBlock;
#pragma omp parallel for schedule(static) if (blocks > 1 && rows * cols >= kParallelMinWork)
  for (int64_t bi = 0; bi < blocks; ++bi) {
    const int64_t c0 = bi * kBlock, width = std::min(kBlock, cols - c0);
    double sum[kBlock] = {};
    for (int64_t r = 0; r < rows; ++r) {
      const Element* row = a + r * cols + c0;
#pragma omp simd
      for (int64_t c = 0; c < width; ++c) sum[c] += value_of(row[c]);
    }
    for (int64_t c = 0; c < width; ++c) out[c0 + c] = (float)sum[c];
  }
}

}  // namespace

void sum_rows(const float* a, float* out, int64_t rows, int64_t cols) { sum_columns(a, out, rows, cols); }

// A bf16 bias gradient: the same sums of the exactly widened values, fp32 out.
void sum_rows_bf16(const uint16_t* a, float* out, int64_t rows, int64_t cols) { sum_columns(a, out, rows, cols); }

// out[r, j] = a[r] for j < size: the backward of a reduction over the last dim.
void expand_last(const float* a, float* out, int64_t rows, int64_t size) {
#pragma omp parallel for schedule(static) if (rows * size >= kParallelMinWork)
  for (int64_t r = 0; r < rows; ++r) std::fill(out + r * size, out + (r + 1) * size, a[r]);
}

// out[0] = sum_i a[i]^2 (the squared global norm, for gradient clipping)
void sum_squares(const float* a, float* out, int64_t n) { out[0] = (float)dot_f64(a, a, n); }

}  // namespace cpu
}  // namespace aha

// Elementwise arithmetic. Binary ops read b against a in one of the three
// broadcasts a transformer needs (tensor/ops.h): b[i], b[i % last] (a bias
// vector over the last dim) or b[0] (one value). Each (op, broadcast) pair gets
// its own plain loop, so the compiler vectorises it (no switch or modulo per
// element); elements are independent, so large tensors are split across threads.
#include <algorithm>

#include "tensor/cpu/kernels.h"
#include "tensor/cpu/parallel.h"

namespace aha {
namespace cpu {

namespace {

// out[i] = f(a[i], b[b_index(i)]) for one broadcast.
template <class F>
void broadcast_map(F f, const float* a, const float* b, float* out, int64_t n, int64_t last,
                   Broadcast bc) {
  switch (bc) {
    case Broadcast::Same: {
#pragma omp parallel for simd schedule(static) if (n >= kParallelMinWork)
      for (int64_t i = 0; i < n; ++i) out[i] = f(a[i], b[i]);
      return;
    }
    case Broadcast::LastDim: {  // a is [rows, last], b is [last]
      int64_t rows = last > 0 ? n / last : 0;
#pragma omp parallel for schedule(static) if (n >= kParallelMinWork)
      for (int64_t r = 0; r < rows; ++r) {
        const float* ar = a + r * last;
        float* outr = out + r * last;
#pragma omp simd
        for (int64_t j = 0; j < last; ++j) outr[j] = f(ar[j], b[j]);
      }
      return;
    }
    case Broadcast::Scalar: {
      const float s = b[0];
#pragma omp parallel for simd schedule(static) if (n >= kParallelMinWork)
      for (int64_t i = 0; i < n; ++i) out[i] = f(a[i], s);
      return;
    }
  }
}

}  // namespace

// out[i] = a[i] (op) b[i], b[i % last] or b[0] (by bc)
void binary(BinaryOp op, const float* a, const float* b, float* out, int64_t n, int64_t last,
            Broadcast bc) {
  switch (op) {
    case BinaryOp::Add:
      return broadcast_map([](float x, float y) { return x + y; }, a, b, out, n, last, bc);
    case BinaryOp::Sub:
      return broadcast_map([](float x, float y) { return x - y; }, a, b, out, n, last, bc);
    case BinaryOp::Mul:
      return broadcast_map([](float x, float y) { return x * y; }, a, b, out, n, last, bc);
    case BinaryOp::Div:
      return broadcast_map([](float x, float y) { return x / y; }, a, b, out, n, last, bc);
    case BinaryOp::Min:
      return broadcast_map([](float x, float y) { return std::min(x, y); }, a, b, out, n, last, bc);
    case BinaryOp::Max:
      return broadcast_map([](float x, float y) { return std::max(x, y); }, a, b, out, n, last, bc);
    case BinaryOp::GreaterEqual:
      return broadcast_map([](float x, float y) { return x >= y ? 1.0f : 0.0f; }, a, b, out, n,
                           last, bc);
  }
}

// out[i] = a[i] * scale + shift  (safe in place: out may be a)
void affine(const float* a, float* out, int64_t n, float scale, float shift) {
#pragma omp parallel for simd schedule(static) if (n >= kParallelMinWork)
  for (int64_t i = 0; i < n; ++i) out[i] = a[i] * scale + shift;
}

// out[i] = min(max(a[i], lo), hi)
void clamp(const float* a, float* out, int64_t n, float lo, float hi) {
#pragma omp parallel for simd schedule(static) if (n >= kParallelMinWork)
  for (int64_t i = 0; i < n; ++i) out[i] = std::min(std::max(a[i], lo), hi);
}

// out[i] = 1 if lo <= a[i] <= hi else 0: where clamp passes the gradient through
void clamp_mask(const float* a, float* out, int64_t n, float lo, float hi) {
#pragma omp parallel for simd schedule(static) if (n >= kParallelMinWork)
  for (int64_t i = 0; i < n; ++i) out[i] = (a[i] >= lo && a[i] <= hi) ? 1.0f : 0.0f;
}

}  // namespace cpu
}  // namespace aha

// Elementwise arithmetic. Binary ops read b against a in one of the three
// broadcasts a transformer needs (tensor/ops.h): b[i], b[i % last] (a bias
// vector over the last dim) or b[0] (one value).
#include <algorithm>

#include "tensor/cpu/kernels.h"

namespace aha {
namespace cpu {

namespace {

// The index into b of a's element i.
inline int64_t b_index(Broadcast bc, int64_t i, int64_t last) {
  switch (bc) {
    case Broadcast::Same: return i;
    case Broadcast::LastDim: return i % last;
    case Broadcast::Scalar: return 0;
  }
  return i;
}

inline float apply(BinaryOp op, float x, float y) {
  switch (op) {
    case BinaryOp::Add: return x + y;
    case BinaryOp::Sub: return x - y;
    case BinaryOp::Mul: return x * y;
    case BinaryOp::Div: return x / y;
    case BinaryOp::Min: return std::min(x, y);
    case BinaryOp::Max: return std::max(x, y);
    case BinaryOp::GreaterEqual: return x >= y ? 1.0f : 0.0f;
  }
  return 0.0f;
}

}  // namespace

// out[i] = a[i] (op) b[b_index(i)]
void binary(BinaryOp op, const float* a, const float* b, float* out, int64_t n, int64_t last,
            Broadcast bc) {
  for (int64_t i = 0; i < n; ++i) out[i] = apply(op, a[i], b[b_index(bc, i, last)]);
}

// out[i] = a[i] * scale + shift  (safe in place: out may be a)
void affine(const float* a, float* out, int64_t n, float scale, float shift) {
  for (int64_t i = 0; i < n; ++i) out[i] = a[i] * scale + shift;
}

// out[i] = min(max(a[i], lo), hi)
void clamp(const float* a, float* out, int64_t n, float lo, float hi) {
  for (int64_t i = 0; i < n; ++i) out[i] = std::min(std::max(a[i], lo), hi);
}

// out[i] = 1 if lo <= a[i] <= hi else 0: where clamp passes the gradient through
void clamp_mask(const float* a, float* out, int64_t n, float lo, float hi) {
  for (int64_t i = 0; i < n; ++i) out[i] = (a[i] >= lo && a[i] <= hi) ? 1.0f : 0.0f;
}

}  // namespace cpu
}  // namespace aha

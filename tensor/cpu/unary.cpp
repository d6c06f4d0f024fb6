// Unary math and the backward kernels of the two activations.
#include <cmath>

#include "tensor/cpu/kernels.h"

namespace aha {
namespace cpu {

namespace {

// GELU, tanh form (Hendrycks & Gimpel 2016, as GPT-2 uses it):
//   gelu(x) = 0.5 x (1 + tanh(u)),  u = sqrt(2/pi) (x + 0.044715 x^3)
constexpr float kGeluScale = 0.7978845608028654f;  // sqrt(2 / pi)
constexpr float kGeluCubic = 0.044715f;

inline float gelu(float x) {
  float u = kGeluScale * (x + kGeluCubic * x * x * x);
  return 0.5f * x * (1.0f + std::tanh(u));
}

inline float apply(UnaryOp op, float x) {
  switch (op) {
    case UnaryOp::Exp: return std::exp(x);
    case UnaryOp::Log: return std::log(x);
    case UnaryOp::Tanh: return std::tanh(x);
    case UnaryOp::Sqrt: return std::sqrt(x);
    case UnaryOp::Relu: return x > 0.0f ? x : 0.0f;
    case UnaryOp::Gelu: return gelu(x);
  }
  return 0.0f;
}

}  // namespace

// out[i] = f(a[i])
void unary(UnaryOp op, const float* a, float* out, int64_t n) {
  for (int64_t i = 0; i < n; ++i) out[i] = apply(op, a[i]);
}

// relu'(x) = 1 if x > 0 else 0 (0 at x = 0, as PyTorch):  dx = dy * relu'(x)
void relu_backward(const float* x, const float* dy, float* dx, int64_t n) {
  for (int64_t i = 0; i < n; ++i) dx[i] = x[i] > 0.0f ? dy[i] : 0.0f;
}

// The exact derivative of the tanh form, t = tanh(u):
//   gelu'(x) = 0.5 (1 + t) + 0.5 x (1 - t^2) sqrt(2/pi) (1 + 3 * 0.044715 x^2)
void gelu_backward(const float* x, const float* dy, float* dx, int64_t n) {
  for (int64_t i = 0; i < n; ++i) {
    float xi = x[i];
    float t = std::tanh(kGeluScale * (xi + kGeluCubic * xi * xi * xi));
    float du_dx = kGeluScale * (1.0f + 3.0f * kGeluCubic * xi * xi);
    float grad = 0.5f * (1.0f + t) + 0.5f * xi * (1.0f - t * t) * du_dx;
    dx[i] = dy[i] * grad;
  }
}

}  // namespace cpu
}  // namespace aha

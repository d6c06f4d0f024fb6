// GELU, the tanh form GPT-2 uses (Hendrycks & Gimpel 2016), forward and
// backward, as plain loops: the reference for tensor/cpu/unary.cpp (which uses
// a vectorised tanh) and tensor/cuda/unary.cu.
#include <cmath>

#include "tensor/reference/reference.h"

namespace aha {
namespace reference {

namespace {
const float kSqrt2OverPi = 0.7978845608028654f;  // sqrt(2 / pi)
const float kCubic = 0.044715f;
}  // namespace

// For each element x:
//   u = sqrt(2/pi) (x + 0.044715 x^3)
//   t = tanh(u)
//   y = 0.5 x (1 + t)
void gelu_forward(const float* x, float* y, int64_t n) {
  for (int64_t i = 0; i < n; ++i) {
    const float u = kSqrt2OverPi * (x[i] + kCubic * x[i] * x[i] * x[i]);
    const float t = std::tanh(u);
    y[i] = 0.5f * x[i] * (1.0f + t);
  }
}

//   in the forward pass this was: y = 0.5 x (1 + t)
//   so now we have:   dx = 0.5 (1 + t) dy,   dt = 0.5 x dy
//   in the forward pass this was: t = tanh(u)
//   so now we have:   du = (1 - t^2) dt
//   in the forward pass this was: u = sqrt(2/pi) (x + 0.044715 x^3)
//   so now we have:   dx += sqrt(2/pi) (1 + 3 * 0.044715 x^2) du
void gelu_backward(const float* x, const float* dy, float* dx, int64_t n) {
  // BEGIN EXERCISE gelu_backward: dx from dy through the three forward lines, last first
  for (int64_t i = 0; i < n; ++i) {
    const float u = kSqrt2OverPi * (x[i] + kCubic * x[i] * x[i] * x[i]);
    const float t = std::tanh(u);
    float g = 0.5f * (1.0f + t) * dy[i];
    const float dt = 0.5f * x[i] * dy[i];
    const float du = (1.0f - t * t) * dt;
    g += kSqrt2OverPi * (1.0f + 3.0f * kCubic * x[i] * x[i]) * du;
    dx[i] = g;
  }
  // END EXERCISE gelu_backward
}

}  // namespace reference
}  // namespace aha

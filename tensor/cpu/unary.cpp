// Unary math and the backward kernels of the two activations; GELU and its
// backward also on bf16 values (the bf16 path, tensor/ops.h "bf16").
// exp, tanh and GELU use the vectorisable exp_fast / tanh_fast of
// tensor/cpu/fast_math.h (within 2 ulp of libm's, which are scalar calls);
// elements are independent, so large tensors are split across threads.
#include <cmath>

#include "tensor/cpu/fast_math.h"
#include "tensor/cpu/kernels.h"
#include "tensor/cpu/parallel.h"

namespace aha {
namespace cpu {

namespace {

// GELU, tanh form (Hendrycks & Gimpel 2016, as GPT-2 uses it):
//   gelu(x) = 0.5 x (1 + tanh(u)),  u = sqrt(2/pi) (x + 0.044715 x^3)
constexpr float kGeluScale = 0.7978845608028654f;  // sqrt(2 / pi)
constexpr float kGeluCubic = 0.044715f;

inline float gelu(float x) {
  float u = kGeluScale * (x + kGeluCubic * x * x * x);
  return 0.5f * x * (1.0f + tanh_fast(u));
}

// The exact derivative of the tanh form, t = tanh(u):
//   gelu'(x) = 0.5 (1 + t) + 0.5 x (1 - t^2) sqrt(2/pi) (1 + 3 * 0.044715 x^2)
inline float gelu_grad(float x) {
  float t = tanh_fast(kGeluScale * (x + kGeluCubic * x * x * x));
  float du_dx = kGeluScale * (1.0f + 3.0f * kGeluCubic * x * x);
  return 0.5f * (1.0f + t) + 0.5f * x * (1.0f - t * t) * du_dx;
}

// out[i] = f(a[i]) for i in [0, n), one loop per function so each vectorises.
template <class F>
void map(F f, const float* a, float* out, int64_t n) {
#pragma omp parallel for simd schedule(static) if (n >= kParallelMinWork)
  for (int64_t i = 0; i < n; ++i) out[i] = f(a[i]);
}

}  // namespace

// out[i] = f(a[i])
void unary(UnaryOp op, const float* a, float* out, int64_t n) {
  switch (op) {
    case UnaryOp::Exp: return map([](float x) { return exp_fast(x); }, a, out, n);
    case UnaryOp::Log: return map([](float x) { return std::log(x); }, a, out, n);
    case UnaryOp::Tanh: return map([](float x) { return tanh_fast(x); }, a, out, n);
    case UnaryOp::Sqrt: return map([](float x) { return std::sqrt(x); }, a, out, n);
    case UnaryOp::Relu: return map([](float x) { return x > 0.0f ? x : 0.0f; }, a, out, n);
    case UnaryOp::Gelu: return map([](float x) { return gelu(x); }, a, out, n);
  }
}

// relu'(x) = 1 if x > 0 else 0 (0 at x = 0, as PyTorch):  dx = dy * relu'(x)
void relu_backward(const float* x, const float* dy, float* dx, int64_t n) {
#pragma omp parallel for simd schedule(static) if (n >= kParallelMinWork)
  for (int64_t i = 0; i < n; ++i) dx[i] = x[i] > 0.0f ? dy[i] : 0.0f;
}

// dx = dy * gelu'(x)
void gelu_backward(const float* x, const float* dy, float* dx, int64_t n) {
#pragma omp parallel for simd schedule(static) if (n >= kParallelMinWork)
  for (int64_t i = 0; i < n; ++i) dx[i] = dy[i] * gelu_grad(x[i]);
}

// The bf16 path: the float formulas above on the exactly widened inputs, the
// result rounded once (bf16_round, tensor/cpu/bf16.cpp) as it is stored.
void gelu_bf16(const uint16_t* a, uint16_t* out, int64_t n) {
#pragma omp parallel for schedule(static) if (n >= kParallelMinWork)
  for (int64_t i = 0; i < n; ++i) out[i] = bf16_round(gelu(bf16_widen(a[i])));
}

void gelu_backward_bf16(const uint16_t* x, const uint16_t* dy, uint16_t* dx, int64_t n) {
#pragma omp parallel for schedule(static) if (n >= kParallelMinWork)
  for (int64_t i = 0; i < n; ++i) dx[i] = bf16_round(bf16_widen(dy[i]) * gelu_grad(bf16_widen(x[i])));
}

}  // namespace cpu
}  // namespace aha

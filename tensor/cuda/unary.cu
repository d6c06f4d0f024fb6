// Unary math and the backward kernels of the two activations. Mirrors
// tensor/cpu/unary.cpp formula for formula (expf, logf, tanhf are the
// full-precision device functions: aha is not built with --use_fast_math).
// GELU and its backward also on bf16 values (the bf16 path, tensor/ops.h "bf16").
#include "tensor/cuda/bf16.cuh"
#include "tensor/cuda/kernels.h"
#include "tensor/cuda/launch.cuh"
#include "tensor/cuda/stream.h"

namespace aha {
namespace cuda {

namespace {

// GELU, tanh form (Hendrycks & Gimpel 2016, as GPT-2 uses it):
//   gelu(x) = 0.5 x (1 + tanh(u)),  u = sqrt(2/pi) (x + 0.044715 x^3)
constexpr float kGeluScale = 0.7978845608028654f;  // sqrt(2 / pi)
constexpr float kGeluCubic = 0.044715f;

__device__ __forceinline__ float gelu(float x) {
  return 0.5f * x * (1.0f + tanhf(kGeluScale * (x + kGeluCubic * x * x * x)));
}

// The exact derivative of the tanh form, t = tanh(u):
//   gelu'(x) = 0.5 (1 + t) + 0.5 x (1 - t^2) sqrt(2/pi) (1 + 3 * 0.044715 x^2)
__device__ __forceinline__ float gelu_grad(float x) {
  float t = tanhf(kGeluScale * (x + kGeluCubic * x * x * x));
  float du_dx = kGeluScale * (1.0f + 3.0f * kGeluCubic * x * x);
  return 0.5f * (1.0f + t) + 0.5f * x * (1.0f - t * t) * du_dx;
}

__device__ __forceinline__ float apply(UnaryOp op, float x) {
  switch (op) {
    case UnaryOp::Exp: return expf(x);
    case UnaryOp::Log: return logf(x);
    case UnaryOp::Tanh: return tanhf(x);
    case UnaryOp::Sqrt: return sqrtf(x);
    case UnaryOp::Relu: return x > 0.0f ? x : 0.0f;
    case UnaryOp::Gelu: return gelu(x);
  }
  return 0.0f;
}

// Grid-stride loop; reads a once, writes out once; the op switch is uniform.
__global__ void unary_kernel(UnaryOp op, const float* a, float* out, long long n) {
  for (long long i = blockIdx.x * (long long)blockDim.x + threadIdx.x; i < n;
       i += (long long)gridDim.x * blockDim.x)
    out[i] = apply(op, a[i]);
}

// Grid-stride loop; reads x and dy once, writes dx once.
__global__ void relu_backward_kernel(const float* x, const float* dy, float* dx, long long n) {
  for (long long i = blockIdx.x * (long long)blockDim.x + threadIdx.x; i < n;
       i += (long long)gridDim.x * blockDim.x)
    dx[i] = x[i] > 0.0f ? dy[i] : 0.0f;
}

// dx = dy * gelu'(x). Grid-stride loop; reads x and dy once, writes dx once.
__global__ void gelu_backward_kernel(const float* x, const float* dy, float* dx, long long n) {
  for (long long i = blockIdx.x * (long long)blockDim.x + threadIdx.x; i < n;
       i += (long long)gridDim.x * blockDim.x)
    dx[i] = dy[i] * gelu_grad(x[i]);
}

// The bf16 path: the float formulas on the exactly widened inputs, each result
// rounded once (bf16.cuh, the CPU's rounding). A thread takes two values (one
// 32-bit word) a step, so a warp reads 128 bytes of each input at once as the
// float kernels do (storage blocks are 512-byte aligned); thread 0 takes the
// last value when n is odd. Grid-stride; each input read once, dx written once.

__global__ void gelu_bf16_kernel(const uint16_t* a, uint16_t* out, long long n) {
  const unsigned int* a2 = reinterpret_cast<const unsigned int*>(a);
  unsigned int* out2 = reinterpret_cast<unsigned int*>(out);
  for (long long i = blockIdx.x * (long long)blockDim.x + threadIdx.x; i < n / 2;
       i += (long long)gridDim.x * blockDim.x)
    out2[i] = bf16_pack(gelu(bf16_low(a2[i])), gelu(bf16_high(a2[i])));
  if (n % 2 == 1 && blockIdx.x == 0 && threadIdx.x == 0)
    out[n - 1] = (uint16_t)bf16_round(gelu(bf16_widen(a[n - 1])));
}

__global__ void gelu_backward_bf16_kernel(const uint16_t* x, const uint16_t* dy, uint16_t* dx,
                                          long long n) {
  const unsigned int* x2 = reinterpret_cast<const unsigned int*>(x);
  const unsigned int* dy2 = reinterpret_cast<const unsigned int*>(dy);
  unsigned int* dx2 = reinterpret_cast<unsigned int*>(dx);
  for (long long i = blockIdx.x * (long long)blockDim.x + threadIdx.x; i < n / 2;
       i += (long long)gridDim.x * blockDim.x) {
    const unsigned int xw = x2[i], dyw = dy2[i];
    dx2[i] = bf16_pack(bf16_low(dyw) * gelu_grad(bf16_low(xw)), bf16_high(dyw) * gelu_grad(bf16_high(xw)));
  }
  if (n % 2 == 1 && blockIdx.x == 0 && threadIdx.x == 0)
    dx[n - 1] = (uint16_t)bf16_round(bf16_widen(dy[n - 1]) * gelu_grad(bf16_widen(x[n - 1])));
}

}  // namespace

// out[i] = f(a[i])
void unary(UnaryOp op, const float* a, float* out, int64_t n) {
  if (n <= 0) return;
  unary_kernel<<<grid_for(n), kThreads, 0, stream()>>>(op, a, out, n);
  AHA_CUDA_CHECK(cudaGetLastError());
}

// dx = dy where x > 0, else 0
void relu_backward(const float* x, const float* dy, float* dx, int64_t n) {
  if (n <= 0) return;
  relu_backward_kernel<<<grid_for(n), kThreads, 0, stream()>>>(x, dy, dx, n);
  AHA_CUDA_CHECK(cudaGetLastError());
}

// dx = dy * gelu'(x)
void gelu_backward(const float* x, const float* dy, float* dx, int64_t n) {
  if (n <= 0) return;
  gelu_backward_kernel<<<grid_for(n), kThreads, 0, stream()>>>(x, dy, dx, n);
  AHA_CUDA_CHECK(cudaGetLastError());
}

void gelu_bf16(const uint16_t* a, uint16_t* out, int64_t n) {
  if (n <= 0) return;
  gelu_bf16_kernel<<<grid_for((n + 1) / 2), kThreads, 0, stream()>>>(a, out, n);
  AHA_CUDA_CHECK(cudaGetLastError());
}

void gelu_backward_bf16(const uint16_t* x, const uint16_t* dy, uint16_t* dx, int64_t n) {
  if (n <= 0) return;
  gelu_backward_bf16_kernel<<<grid_for((n + 1) / 2), kThreads, 0, stream()>>>(x, dy, dx, n);
  AHA_CUDA_CHECK(cudaGetLastError());
}

}  // namespace cuda
}  // namespace aha

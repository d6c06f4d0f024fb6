// Unary math and the backward kernels of the two activations. Mirrors
// tensor/cpu/unary.cpp formula for formula (expf, logf, tanhf are the
// full-precision device functions: aha is not built with --use_fast_math).
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

__device__ __forceinline__ float apply(UnaryOp op, float x) {
  switch (op) {
    case UnaryOp::Exp: return expf(x);
    case UnaryOp::Log: return logf(x);
    case UnaryOp::Tanh: return tanhf(x);
    case UnaryOp::Sqrt: return sqrtf(x);
    case UnaryOp::Relu: return x > 0.0f ? x : 0.0f;
    case UnaryOp::Gelu: return 0.5f * x * (1.0f + tanhf(kGeluScale * (x + kGeluCubic * x * x * x)));
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

// gelu'(x) = 0.5 (1 + t) + 0.5 x (1 - t^2) sqrt(2/pi) (1 + 3 * 0.044715 x^2),  t = tanh(u)
// Grid-stride loop; reads x and dy once, writes dx once.
__global__ void gelu_backward_kernel(const float* x, const float* dy, float* dx, long long n) {
  for (long long i = blockIdx.x * (long long)blockDim.x + threadIdx.x; i < n;
       i += (long long)gridDim.x * blockDim.x) {
    float xi = x[i];
    float t = tanhf(kGeluScale * (xi + kGeluCubic * xi * xi * xi));
    float du_dx = kGeluScale * (1.0f + 3.0f * kGeluCubic * xi * xi);
    float grad = 0.5f * (1.0f + t) + 0.5f * xi * (1.0f - t * t) * du_dx;
    dx[i] = dy[i] * grad;
  }
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

}  // namespace cuda
}  // namespace aha

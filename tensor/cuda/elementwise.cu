// Elementwise arithmetic. Mirrors tensor/cpu/elementwise.cpp: binary ops read b
// against a as b[i], b[i % last] (a bias vector over the last dim) or b[0].
#include "tensor/cuda/kernels.h"
#include "tensor/cuda/launch.cuh"
#include "tensor/cuda/stream.h"

namespace aha {
namespace cuda {

namespace {

// min and max as std::min / std::max on the CPU (the first argument wins ties
// and NaN comparisons), so both backends agree even on NaN.
__device__ __forceinline__ float apply(BinaryOp op, float x, float y) {
  switch (op) {
    case BinaryOp::Add: return x + y;
    case BinaryOp::Sub: return x - y;
    case BinaryOp::Mul: return x * y;
    case BinaryOp::Div: return x / y;
    case BinaryOp::Min: return y < x ? y : x;
    case BinaryOp::Max: return x < y ? y : x;
    case BinaryOp::GreaterEqual: return x >= y ? 1.0f : 0.0f;
  }
  return 0.0f;
}

// Grid-stride loop; a, b (for Same) and out are read and written coalesced, b
// (LastDim) comes from cache after the first row. The broadcast is a template
// parameter so the index arithmetic is chosen at compile time; the op switch is
// the same for every thread (no divergence).
template <Broadcast kBroadcast>
__global__ void binary_kernel(BinaryOp op, const float* a, const float* b, float* out,
                              long long n, long long last) {
  for (long long i = blockIdx.x * (long long)blockDim.x + threadIdx.x; i < n;
       i += (long long)gridDim.x * blockDim.x) {
    long long j = kBroadcast == Broadcast::Same ? i : kBroadcast == Broadcast::LastDim ? i % last : 0;
    out[i] = apply(op, a[i], b[j]);
  }
}

// Grid-stride loop; reads a once, writes out once (out may be a).
__global__ void affine_kernel(const float* a, float* out, long long n, float scale, float shift) {
  for (long long i = blockIdx.x * (long long)blockDim.x + threadIdx.x; i < n;
       i += (long long)gridDim.x * blockDim.x)
    out[i] = a[i] * scale + shift;
}

// Grid-stride loop; reads a once, writes out once. NaN stays NaN, as on the CPU.
__global__ void clamp_kernel(const float* a, float* out, long long n, float lo, float hi) {
  for (long long i = blockIdx.x * (long long)blockDim.x + threadIdx.x; i < n;
       i += (long long)gridDim.x * blockDim.x) {
    float x = a[i];
    x = x < lo ? lo : x;
    out[i] = hi < x ? hi : x;
  }
}

// Grid-stride loop; reads a once, writes out once.
__global__ void clamp_mask_kernel(const float* a, float* out, long long n, float lo, float hi) {
  for (long long i = blockIdx.x * (long long)blockDim.x + threadIdx.x; i < n;
       i += (long long)gridDim.x * blockDim.x)
    out[i] = (a[i] >= lo && a[i] <= hi) ? 1.0f : 0.0f;
}

}  // namespace

// out[i] = a[i] (op) b[i | i % last | 0]
void binary(BinaryOp op, const float* a, const float* b, float* out, int64_t n, int64_t last,
            Broadcast bc) {
  if (n <= 0) return;
  int grid = grid_for(n);
  switch (bc) {
    case Broadcast::Same:
      binary_kernel<Broadcast::Same><<<grid, kThreads, 0, stream()>>>(op, a, b, out, n, last);
      break;
    case Broadcast::LastDim:
      binary_kernel<Broadcast::LastDim><<<grid, kThreads, 0, stream()>>>(op, a, b, out, n, last);
      break;
    case Broadcast::Scalar:
      binary_kernel<Broadcast::Scalar><<<grid, kThreads, 0, stream()>>>(op, a, b, out, n, last);
      break;
  }
  AHA_CUDA_CHECK(cudaGetLastError());
}

// out[i] = a[i] * scale + shift
void affine(const float* a, float* out, int64_t n, float scale, float shift) {
  if (n <= 0) return;
  affine_kernel<<<grid_for(n), kThreads, 0, stream()>>>(a, out, n, scale, shift);
  AHA_CUDA_CHECK(cudaGetLastError());
}

// out[i] = min(max(a[i], lo), hi)
void clamp(const float* a, float* out, int64_t n, float lo, float hi) {
  if (n <= 0) return;
  clamp_kernel<<<grid_for(n), kThreads, 0, stream()>>>(a, out, n, lo, hi);
  AHA_CUDA_CHECK(cudaGetLastError());
}

// out[i] = 1 if lo <= a[i] <= hi else 0
void clamp_mask(const float* a, float* out, int64_t n, float lo, float hi) {
  if (n <= 0) return;
  clamp_mask_kernel<<<grid_for(n), kThreads, 0, stream()>>>(a, out, n, lo, hi);
  AHA_CUDA_CHECK(cudaGetLastError());
}

}  // namespace cuda
}  // namespace aha

// The bf16 element type on the device. Mirrors tensor/cpu/bf16.cpp bit for bit:
// the same rounding (tensor/cuda/bf16.cuh), one rounding per add.
#include "tensor/cuda/bf16.cuh"
#include "tensor/cuda/kernels.h"
#include "tensor/cuda/launch.cuh"
#include "tensor/cuda/stream.h"

namespace aha {
namespace cuda {

namespace {

// Grid-stride loops; each reads its input once and writes its output once.
__global__ void cast_to_bf16_kernel(const float* x, unsigned short* y, long long n) {
  for (long long i = blockIdx.x * (long long)blockDim.x + threadIdx.x; i < n;
       i += (long long)gridDim.x * blockDim.x)
    y[i] = (unsigned short)bf16_round(x[i]);
}

__global__ void cast_to_f32_kernel(const unsigned short* x, float* y, long long n) {
  for (long long i = blockIdx.x * (long long)blockDim.x + threadIdx.x; i < n;
       i += (long long)gridDim.x * blockDim.x)
    y[i] = bf16_widen(x[i]);
}

__global__ void add_bf16_kernel(unsigned short* a, const unsigned short* b, long long n) {
  for (long long i = blockIdx.x * (long long)blockDim.x + threadIdx.x; i < n;
       i += (long long)gridDim.x * blockDim.x)
    a[i] = (unsigned short)bf16_round(bf16_widen(a[i]) + bf16_widen(b[i]));
}

}  // namespace

void cast_to_bf16(const float* x, uint16_t* y, int64_t n) {
  if (n <= 0) return;
  cast_to_bf16_kernel<<<grid_for(n), kThreads, 0, stream()>>>(x, y, n);
  AHA_CUDA_CHECK(cudaGetLastError());
}

void cast_to_f32(const uint16_t* x, float* y, int64_t n) {
  if (n <= 0) return;
  cast_to_f32_kernel<<<grid_for(n), kThreads, 0, stream()>>>(x, y, n);
  AHA_CUDA_CHECK(cudaGetLastError());
}

void add_bf16_(uint16_t* a, const uint16_t* b, int64_t n) {
  if (n <= 0) return;
  add_bf16_kernel<<<grid_for(n), kThreads, 0, stream()>>>(a, b, n);
  AHA_CUDA_CHECK(cudaGetLastError());
}

}  // namespace cuda
}  // namespace aha

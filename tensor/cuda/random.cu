// Fills: constants, 0..n-1, and the counter-based random streams of
// tensor/random.h. Mirrors tensor/cpu/random.cpp: element i draws counter
// offset + i through the same __host__ __device__ functions, so a seed gives the
// same tensor on both backends (uniform bit for bit; normal up to the last bits
// of the device's logf/cosf).
#include "tensor/cuda/kernels.h"
#include "tensor/cuda/launch.cuh"
#include "tensor/cuda/stream.h"
#include "tensor/random.h"

namespace aha {
namespace cuda {

namespace {

// Grid-stride loop, one element per thread per step; coalesced writes.
__global__ void fill_kernel(float* out, long long n, float value) {
  for (long long i = blockIdx.x * (long long)blockDim.x + threadIdx.x; i < n;
       i += (long long)gridDim.x * blockDim.x)
    out[i] = value;
}

// Grid-stride loop; coalesced writes.
__global__ void arange_kernel(float* out, long long n) {
  for (long long i = blockIdx.x * (long long)blockDim.x + threadIdx.x; i < n;
       i += (long long)gridDim.x * blockDim.x)
    out[i] = (float)i;
}

// Grid-stride loop; each thread hashes its own counter, no state is shared.
__global__ void uniform_kernel(float* out, long long n, uint64_t seed, uint64_t offset) {
  for (long long i = blockIdx.x * (long long)blockDim.x + threadIdx.x; i < n;
       i += (long long)gridDim.x * blockDim.x)
    out[i] = rng::uniform(seed, offset + (uint64_t)i);
}

// Grid-stride loop; each thread hashes its own counter, no state is shared.
__global__ void normal_kernel(float* out, long long n, uint64_t seed, uint64_t offset, float std) {
  for (long long i = blockIdx.x * (long long)blockDim.x + threadIdx.x; i < n;
       i += (long long)gridDim.x * blockDim.x)
    out[i] = std * rng::normal(seed, offset + (uint64_t)i);
}

}  // namespace

// out[i] = value
void fill(float* out, int64_t n, float value) {
  if (n <= 0) return;
  fill_kernel<<<grid_for(n), kThreads, 0, stream()>>>(out, n, value);
  AHA_CUDA_CHECK(cudaGetLastError());
}

// out[i] = i
void arange(float* out, int64_t n) {
  if (n <= 0) return;
  arange_kernel<<<grid_for(n), kThreads, 0, stream()>>>(out, n);
  AHA_CUDA_CHECK(cudaGetLastError());
}

// out[i] ~ U[0, 1), drawn as rng::uniform(seed, offset + i)
void fill_uniform(float* out, int64_t n, uint64_t seed, uint64_t offset) {
  if (n <= 0) return;
  uniform_kernel<<<grid_for(n), kThreads, 0, stream()>>>(out, n, seed, offset);
  AHA_CUDA_CHECK(cudaGetLastError());
}

// out[i] ~ N(0, std^2), drawn as std * rng::normal(seed, offset + i)
void fill_normal(float* out, int64_t n, uint64_t seed, uint64_t offset, float std) {
  if (n <= 0) return;
  normal_kernel<<<grid_for(n), kThreads, 0, stream()>>>(out, n, seed, offset, std);
  AHA_CUDA_CHECK(cudaGetLastError());
}

}  // namespace cuda
}  // namespace aha

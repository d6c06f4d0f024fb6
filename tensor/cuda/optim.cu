// The optimiser's elementwise kernels: axpy (gradient accumulation) and AdamW.
// Mirrors tensor/cpu/optim.cpp.
#include <cmath>

#include "tensor/cuda/kernels.h"
#include "tensor/cuda/launch.cuh"
#include "tensor/cuda/stream.h"

namespace aha {
namespace cuda {

namespace {

// a[i] += alpha * b[i]. Grid-stride loop; reads a and b once, writes a once.
__global__ void axpy_kernel(float* a, const float* b, long long n, float alpha) {
  for (long long i = blockIdx.x * (long long)blockDim.x + threadIdx.x; i < n;
       i += (long long)gridDim.x * blockDim.x)
    a[i] += alpha * b[i];
}

// One AdamW step per element (the equations are above adamw() below).
// Grid-stride loop; reads param, grad, m, v once and writes param, m, v once:
// 28 bytes per parameter, all coalesced.
__global__ void adamw_kernel(float* param, const float* grad, float* m, float* v, long long n,
                             float lr, float beta1, float beta2, float eps, float weight_decay,
                             float correction1, float correction2) {
  for (long long i = blockIdx.x * (long long)blockDim.x + threadIdx.x; i < n;
       i += (long long)gridDim.x * blockDim.x) {
    float g = grad[i];
    float mi = beta1 * m[i] + (1.0f - beta1) * g;
    float vi = beta2 * v[i] + (1.0f - beta2) * g * g;
    m[i] = mi;
    v[i] = vi;
    float m_hat = mi / correction1;
    float v_hat = vi / correction2;
    param[i] -= lr * (m_hat / (sqrtf(v_hat) + eps) + weight_decay * param[i]);
  }
}

}  // namespace

void axpy(float* a, const float* b, int64_t n, float alpha) {
  if (n <= 0) return;
  axpy_kernel<<<grid_for(n), kThreads, 0, stream()>>>(a, b, n, alpha);
  AHA_CUDA_CHECK(cudaGetLastError());
}

// One AdamW step (Loshchilov & Hutter 2019, decoupled weight decay), t = hp.step:
//   m = b1 m + (1 - b1) g;   v = b2 v + (1 - b2) g^2
//   p -= lr * ( (m / (1 - b1^t)) / (sqrt(v / (1 - b2^t)) + eps) + wd p )
// The bias corrections are computed once on the host, in double, as on the CPU.
void adamw(float* param, const float* grad, float* m, float* v, int64_t n, const AdamWParams& hp) {
  if (n <= 0) return;
  float correction1 = (float)(1.0 - std::pow((double)hp.beta1, (double)hp.step));
  float correction2 = (float)(1.0 - std::pow((double)hp.beta2, (double)hp.step));
  adamw_kernel<<<grid_for(n), kThreads, 0, stream()>>>(param, grad, m, v, n, hp.lr, hp.beta1,
                                                       hp.beta2, hp.eps, hp.weight_decay,
                                                       correction1, correction2);
  AHA_CUDA_CHECK(cudaGetLastError());
}

}  // namespace cuda
}  // namespace aha

// Softmax and log-softmax over the last dim, and their backward kernels.
// Mirrors tensor/cpu/softmax.cpp.
#include "tensor/cuda/block_reduce.cuh"
#include "tensor/cuda/kernels.h"
#include "tensor/cuda/launch.cuh"
#include "tensor/cuda/stream.h"

namespace aha {
namespace cuda {

namespace {

// y_j = exp(x_j - max x) / sum_k exp(x_k - max x)       (softmax)
// y_j = (x_j - max x) - log sum_k exp(x_k - max x)      (log-softmax)
// One block per row (looping if rows > gridDim.x); threads stride the row. Pass 1
// is the online (max, sum exp) of block_reduce.cuh with warp shuffles, pass 2
// writes y: x is read twice (the second time mostly from L2), y written once.
__global__ void softmax_kernel(const float* x, float* y, long long rows, long long cols, bool log) {
  for (long long r = blockIdx.x; r < rows; r += gridDim.x) {
    const float* xr = x + r * cols;
    float* yr = y + r * cols;
    MaxSumExp s = block_max_sum_exp(xr, cols);
    if (log) {
      float log_sum = logf(s.sum);
      for (long long c = threadIdx.x; c < cols; c += blockDim.x) yr[c] = (xr[c] - s.max) - log_sum;
    } else {
      float inv_sum = 1.0f / s.sum;
      for (long long c = threadIdx.x; c < cols; c += blockDim.x) yr[c] = expf(xr[c] - s.max) * inv_sum;
    }
  }
}

// softmax:      dx_j = y_j (dy_j - sum_k dy_k y_k)
// log-softmax:  dx_j = dy_j - exp(y_j) sum_k dy_k
// One block per row; pass 1 is a block sum (warp shuffles) reading y and dy,
// pass 2 reads them again and writes dx.
__global__ void softmax_backward_kernel(const float* y, const float* dy, float* dx, long long rows,
                                        long long cols, bool log) {
  for (long long r = blockIdx.x; r < rows; r += gridDim.x) {
    const float* yr = y + r * cols;
    const float* dyr = dy + r * cols;
    float* dxr = dx + r * cols;
    float partial = 0.0f;
    for (long long c = threadIdx.x; c < cols; c += blockDim.x)
      partial += log ? dyr[c] : dyr[c] * yr[c];
    float dot = block_sum(partial);
    if (log) {
      for (long long c = threadIdx.x; c < cols; c += blockDim.x) dxr[c] = dyr[c] - expf(yr[c]) * dot;
    } else {
      for (long long c = threadIdx.x; c < cols; c += blockDim.x) dxr[c] = yr[c] * (dyr[c] - dot);
    }
  }
}

}  // namespace

void softmax(const float* x, float* y, int64_t rows, int64_t cols, bool log) {
  if (rows <= 0 || cols <= 0) return;
  softmax_kernel<<<row_blocks(rows), row_threads(cols), 0, stream()>>>(x, y, rows, cols, log);
  AHA_CUDA_CHECK(cudaGetLastError());
}

void softmax_backward(const float* y, const float* dy, float* dx, int64_t rows, int64_t cols,
                      bool log) {
  if (rows <= 0 || cols <= 0) return;
  const int threads = row_threads(cols, kRowElementsPerThreadBackward);
  softmax_backward_kernel<<<row_blocks(rows), threads, 0, stream()>>>(y, dy, dx, rows, cols, log);
  AHA_CUDA_CHECK(cudaGetLastError());
}

}  // namespace cuda
}  // namespace aha

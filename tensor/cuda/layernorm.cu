// Layer normalisation over the last dim (Ba et al. 2016), forward and backward.
// Mirrors tensor/cpu/layernorm.cpp.
#include <algorithm>

#include "tensor/cuda/block_reduce.cuh"
#include "tensor/cuda/kernels.h"
#include "tensor/cuda/launch.cuh"
#include "tensor/cuda/stream.h"

namespace aha {
namespace cuda {

namespace {

// For each row x of C values:
//   mean = sum x / C,  var = sum (x - mean)^2 / C   (biased, as PyTorch)
//   rstd = 1 / sqrt(var + eps),  xhat = (x - mean) rstd,  y = gamma xhat + beta
// One block per row; three strided passes over the row (mean, variance, write):
// two block sums with warp shuffles. Two passes for the variance, as on the CPU:
// E[x^2] - E[x]^2 cancels badly when |mean| >> std. x is read from DRAM once and
// then mostly from cache; y written once.
__global__ void layernorm_kernel(const float* x, const float* gamma, const float* beta, float* y,
                                 float* mean, float* rstd, long long rows, long long cols,
                                 float eps) {
  for (long long r = blockIdx.x; r < rows; r += gridDim.x) {
    const float* xr = x + r * cols;
    float* yr = y + r * cols;
    float partial = 0.0f;
    for (long long c = threadIdx.x; c < cols; c += blockDim.x) partial += xr[c];
    float mu = block_sum(partial) / (float)cols;
    partial = 0.0f;
    for (long long c = threadIdx.x; c < cols; c += blockDim.x) {
      float d = xr[c] - mu;
      partial += d * d;
    }
    float var = block_sum(partial) / (float)cols;
    float rs = rsqrtf(var + eps);
    for (long long c = threadIdx.x; c < cols; c += blockDim.x)
      yr[c] = (xr[c] - mu) * rs * gamma[c] + beta[c];
    if (threadIdx.x == 0) {
      mean[r] = mu;
      rstd[r] = rs;
    }
  }
}

// With xhat = (x - mean) rstd and g = dy * gamma (the gradient reaching xhat):
//   dx = rstd (g - mean(g) - xhat mean(g xhat))     (per row, means over C)
// One block per row: pass 1 reads x and dy for two block sums, pass 2 reads
// them again and writes dx.
__global__ void layernorm_dx_kernel(const float* dy, const float* x, const float* gamma,
                                    const float* mean, const float* rstd, float* dx,
                                    long long rows, long long cols) {
  for (long long r = blockIdx.x; r < rows; r += gridDim.x) {
    const float* xr = x + r * cols;
    const float* dyr = dy + r * cols;
    float* dxr = dx + r * cols;
    const float mu = mean[r], rs = rstd[r];
    // g is the rounded product (__fmul_rn: never fused into a later add), the
    // same value in both passes, so g - mean(g) is exactly 0 when C = 1, as on the CPU.
    float g_partial = 0.0f, g_xhat_partial = 0.0f;
    for (long long c = threadIdx.x; c < cols; c += blockDim.x) {
      float g = __fmul_rn(dyr[c], gamma[c]);
      g_partial += g;
      g_xhat_partial += g * (xr[c] - mu) * rs;
    }
    float g_mean = block_sum(g_partial) / (float)cols;
    float g_xhat_mean = block_sum(g_xhat_partial) / (float)cols;
    for (long long c = threadIdx.x; c < cols; c += blockDim.x) {
      float xhat = (xr[c] - mu) * rs;
      dxr[c] = rs * (__fmul_rn(dyr[c], gamma[c]) - g_mean - xhat * g_xhat_mean);
    }
  }
}

constexpr int kColumnTile = 32;  // columns per block: a warp reads 32 consecutive floats of a row
constexpr int kRowLanes = 8;     // rows a block reads at once

//   dgamma = sum over rows of dy xhat,   dbeta = sum over rows of dy
// Stage 1, block (32, 8), grid (ceil(C / 32), groups): thread (x, y) sums column
// blockIdx.x*32 + x over rows blockIdx.y*8 + y, stepping by groups*8; coalesced
// row reads. The 8 row lanes are added through shared memory in a fixed order
// (deterministic, no atomics); with several groups, stage 2 adds their partials.
__global__ void layernorm_dparams_kernel(const float* dy, const float* x, const float* mean,
                                         const float* rstd, float* dgamma, float* dbeta,
                                         float* partial, long long rows, long long cols) {
  __shared__ float lanes_gamma[kRowLanes][kColumnTile + 1];  // +1: no bank conflicts
  __shared__ float lanes_beta[kRowLanes][kColumnTile + 1];
  long long c = blockIdx.x * (long long)kColumnTile + threadIdx.x;
  float acc_gamma = 0.0f, acc_beta = 0.0f;
  if (c < cols)
    for (long long r = blockIdx.y * (long long)kRowLanes + threadIdx.y; r < rows;
         r += (long long)gridDim.y * kRowLanes) {
      float d = dy[r * cols + c];
      acc_gamma += d * (x[r * cols + c] - mean[r]) * rstd[r];
      acc_beta += d;
    }
  lanes_gamma[threadIdx.y][threadIdx.x] = acc_gamma;
  lanes_beta[threadIdx.y][threadIdx.x] = acc_beta;
  __syncthreads();
  if (threadIdx.y == 0 && c < cols) {
    float sum_gamma = 0.0f, sum_beta = 0.0f;
    for (int y = 0; y < kRowLanes; ++y) {
      sum_gamma += lanes_gamma[y][threadIdx.x];
      sum_beta += lanes_beta[y][threadIdx.x];
    }
    if (gridDim.y == 1) {
      dgamma[c] = sum_gamma;
      dbeta[c] = sum_beta;
    } else {
      partial[(2 * blockIdx.y) * cols + c] = sum_gamma;
      partial[(2 * blockIdx.y + 1) * cols + c] = sum_beta;
    }
  }
}

// Stage 2: thread per column adds the groups' partials in order. Grid-stride;
// coalesced reads across the warp.
__global__ void layernorm_dparams_finish_kernel(const float* partial, float* dgamma, float* dbeta,
                                                int groups, long long cols) {
  for (long long c = blockIdx.x * (long long)blockDim.x + threadIdx.x; c < cols;
       c += (long long)gridDim.x * blockDim.x) {
    float sum_gamma = 0.0f, sum_beta = 0.0f;
    for (int g = 0; g < groups; ++g) {
      sum_gamma += partial[(2 * g) * cols + c];
      sum_beta += partial[(2 * g + 1) * cols + c];
    }
    dgamma[c] = sum_gamma;
    dbeta[c] = sum_beta;
  }
}

}  // namespace

void layernorm(const float* x, const float* gamma, const float* beta, float* y, float* mean,
               float* rstd, int64_t rows, int64_t cols, float eps) {
  if (rows <= 0) return;
  layernorm_kernel<<<row_blocks(rows), row_threads(cols), 0, stream()>>>(x, gamma, beta, y, mean,
                                                                         rstd, rows, cols, eps);
  AHA_CUDA_CHECK(cudaGetLastError());
}

void layernorm_backward(const float* dy, const float* x, const float* gamma, const float* mean,
                        const float* rstd, float* dx, float* dgamma, float* dbeta, int64_t rows,
                        int64_t cols) {
  if (cols <= 0) return;
  if (rows > 0) {
    const int threads = row_threads(cols, kRowElementsPerThreadBackward);
    layernorm_dx_kernel<<<row_blocks(rows), threads, 0, stream()>>>(dy, x, gamma, mean, rstd, dx,
                                                                    rows, cols);
    AHA_CUDA_CHECK(cudaGetLastError());
  }
  const int64_t column_blocks = (cols + kColumnTile - 1) / kColumnTile;
  int64_t groups = std::max<int64_t>(1, (int64_t)sm_count() * kBlocksPerSM / column_blocks);
  groups = std::max<int64_t>(1, std::min<int64_t>({groups, (rows + kRowLanes - 1) / kRowLanes,
                                                   kMaxGridYZ}));
  dim3 block(kColumnTile, kRowLanes);
  dim3 grid((unsigned)column_blocks, (unsigned)groups);
  float* partial = groups > 1 ? alloc(2 * groups * cols) : nullptr;
  layernorm_dparams_kernel<<<grid, block, 0, stream()>>>(dy, x, mean, rstd, dgamma, dbeta, partial,
                                                         rows, cols);
  AHA_CUDA_CHECK(cudaGetLastError());
  if (groups > 1) {
    layernorm_dparams_finish_kernel<<<grid_for(cols), kThreads, 0, stream()>>>(
        partial, dgamma, dbeta, (int)groups, cols);
    AHA_CUDA_CHECK(cudaGetLastError());
    free(partial);  // the next user of this block queues behind the kernel above
  }
}

}  // namespace cuda
}  // namespace aha

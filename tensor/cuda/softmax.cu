// Softmax and log-softmax over the last dim, and their backward kernels.
// Mirrors tensor/cpu/softmax.cpp. Rows that fit in registers (row_registers.cuh:
// cols % 4 == 0, 16-byte aligned, up to 32768 floats forward and 16384
// backward) take the register kernels, which read each input once; the generic
// kernels take the rest. On an H100 at [16384, 4096] the register kernels run
// at 98-101% of copy bandwidth (the generic ones at 64% forward, ~75% backward).
#include "tensor/cuda/block_reduce.cuh"
#include "tensor/cuda/kernels.h"
#include "tensor/cuda/launch.cuh"
#include "tensor/cuda/row_registers.cuh"
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

// Float4s a thread aims to hold: rows of 4096 get 256-thread blocks, so several
// rows share a multiprocessor and one block's loads overlap another's barriers.
constexpr int kTargetFloat4s = 4;
// The most float4s a thread holds: 8 (32 registers) for x alone, 4 each for y and dy.
constexpr int kMaxFloat4s = 8;
constexpr int kMaxFloat4sBackward = 4;

// y_j = exp(x_j - max x) / sum_k exp(x_k - max x)       (softmax)
// y_j = (x_j - max x) - log sum_k exp(x_k - max x)      (log-softmax)
// as softmax_kernel, on a row held in registers. Team per row (row_registers.cuh:
// a warp for rows up to 512 floats, else a block of up to 1024 threads), K
// float4s a thread: one coalesced float4 read of x, a team max and a team sum
// (warp shuffles), one float4 write of y. A row of only -inf gives NaN, as the
// generic kernel does; a NaN anywhere in a row makes the whole row NaN.
template <int K>
__global__ void __launch_bounds__(1024)
    softmax_registers_kernel(const float* x, float* y, long long rows, long long cols,
                             int teams_per_block, bool log) {
  const RowTeam team = row_team(teams_per_block);
  const int cols4 = (int)(cols / 4);
  for (long long r = team.index; r < rows; r += team.count) {
    float v[4 * K];
    load_row<K>(v, x + r * cols, cols4, team, -INFINITY);  // padding: exp(-inf - max) adds 0
    float max = -INFINITY;
#pragma unroll
    for (int i = 0; i < 4 * K; ++i) max = MaxOp{}(max, v[i]);
    max = team_max(max, team);
    float sum = 0.0f;
#pragma unroll
    for (int i = 0; i < 4 * K; ++i) {
      v[i] -= max;
      const float e = expf(v[i]);
      sum += e;
      if (!log) v[i] = e;  // softmax needs e from here on, log-softmax x - max
    }
    sum = team_sum(sum, team);
    const float scale = 1.0f / sum, shift = logf(sum);
#pragma unroll
    for (int i = 0; i < 4 * K; ++i) v[i] = log ? v[i] - shift : v[i] * scale;
    store_row<K>(v, y + r * cols, cols4, team);
  }
}

// softmax:      dx_j = y_j (dy_j - sum_k dy_k y_k)
// log-softmax:  dx_j = dy_j - exp(y_j) sum_k dy_k
// as softmax_backward_kernel, on rows held in registers: team per row as in
// softmax_registers_kernel; one float4 read of y and dy, one team sum, one
// float4 write of dx.
template <int K>
__global__ void __launch_bounds__(1024)
    softmax_backward_registers_kernel(const float* y, const float* dy, float* dx, long long rows,
                                      long long cols, int teams_per_block, bool log) {
  const RowTeam team = row_team(teams_per_block);
  const int cols4 = (int)(cols / 4);
  for (long long r = team.index; r < rows; r += team.count) {
    float yv[4 * K], dyv[4 * K];
    load_row<K>(yv, y + r * cols, cols4, team, 0.0f);  // zeros add nothing to either sum
    load_row<K>(dyv, dy + r * cols, cols4, team, 0.0f);
    float partial = 0.0f;
#pragma unroll
    for (int i = 0; i < 4 * K; ++i) partial += log ? dyv[i] : dyv[i] * yv[i];
    const float dot = team_sum(partial, team);
#pragma unroll
    for (int i = 0; i < 4 * K; ++i)
      yv[i] = log ? dyv[i] - expf(yv[i]) * dot : yv[i] * (dyv[i] - dot);
    store_row<K>(yv, dx + r * cols, cols4, team);
  }
}

}  // namespace

void softmax(const float* x, float* y, int64_t rows, int64_t cols, bool log) {
  if (rows <= 0 || cols <= 0) return;
  const RegisterRow row = register_row(cols, kTargetFloat4s, kMaxFloat4s, {x, y});
  void (*kernel)(const float*, float*, long long, long long, int, bool) = nullptr;
  switch (row.k) {
    case 1: kernel = softmax_registers_kernel<1>; break;
    case 2: kernel = softmax_registers_kernel<2>; break;
    case 4: kernel = softmax_registers_kernel<4>; break;
    case 8: kernel = softmax_registers_kernel<8>; break;
  }
  if (kernel)
    kernel<<<row.blocks(rows), row.threads(), 0, stream()>>>(x, y, rows, cols,
                                                             row.teams_per_block, log);
  else
    softmax_kernel<<<row_blocks(rows), row_threads(cols), 0, stream()>>>(x, y, rows, cols, log);
  AHA_CUDA_CHECK(cudaGetLastError());
}

void softmax_backward(const float* y, const float* dy, float* dx, int64_t rows, int64_t cols,
                      bool log) {
  if (rows <= 0 || cols <= 0) return;
  const RegisterRow row = register_row(cols, kTargetFloat4s, kMaxFloat4sBackward, {y, dy, dx});
  void (*kernel)(const float*, const float*, float*, long long, long long, int, bool) = nullptr;
  switch (row.k) {
    case 1: kernel = softmax_backward_registers_kernel<1>; break;
    case 2: kernel = softmax_backward_registers_kernel<2>; break;
    case 4: kernel = softmax_backward_registers_kernel<4>; break;
  }
  if (kernel) {
    kernel<<<row.blocks(rows), row.threads(), 0, stream()>>>(y, dy, dx, rows, cols,
                                                             row.teams_per_block, log);
  } else {
    const int threads = row_threads(cols, kRowElementsPerThreadBackward);
    softmax_backward_kernel<<<row_blocks(rows), threads, 0, stream()>>>(y, dy, dx, rows, cols, log);
  }
  AHA_CUDA_CHECK(cudaGetLastError());
}

}  // namespace cuda
}  // namespace aha

// Layer normalisation over the last dim (Ba et al. 2016), forward and backward.
// Mirrors tensor/cpu/layernorm.cpp. Rows that fit in registers
// (row_registers.cuh: C % 4 == 0, 16-byte aligned, C up to 16384 forward and
// 8192 backward) take the register kernels, which read each input once; the
// generic kernels take the rest. On an H100 at [16384, 4096]: 98% of copy
// bandwidth forward and 91% backward (generic: 66% and 42%).
// On the bf16 path (tensor/ops.h "bf16") y, and in the backward dy, are bf16:
// each kernel is a template on that element type only, so the math is the
// same float arithmetic; bf16 is widened exactly on load and y rounded once on
// store (tensor/cuda/bf16.cuh, the CPU's rounding).
#include <algorithm>

#include "tensor/cuda/bf16.cuh"
#include "tensor/cuda/block_reduce.cuh"
#include "tensor/cuda/kernels.h"
#include "tensor/cuda/launch.cuh"
#include "tensor/cuda/row_registers.cuh"
#include "tensor/cuda/stream.h"

namespace aha {
namespace cuda {

namespace {

// An element as float (bf16 bits widen exactly), and a float stored as an element.
__device__ __forceinline__ float value_of(float x) { return x; }
__device__ __forceinline__ float value_of(uint16_t bits) { return bf16_widen(bits); }
__device__ __forceinline__ void store(float* p, float v) { *p = v; }
__device__ __forceinline__ void store(uint16_t* p, float v) { *p = (uint16_t)bf16_round(v); }

// load_row / store_row of row_registers.cuh for float rows, and below the same
// for rows of bf16 bits: four values (8 bytes) a step, so a team still reads
// consecutive words. The rows are 8-byte aligned: cols % 4 == 0 and the base
// pointers are 16-byte aligned (register_row checks).
using cuda::load_row;
using cuda::store_row;

template <int K>
__device__ __forceinline__ void load_row(float (&v)[4 * K], const uint16_t* row, int cols4,
                                         const RowTeam& team, float pad) {
#pragma unroll
  for (int k = 0; k < K; ++k) {
    const int i = team.rank + k * team.size;
    float* w = &v[4 * k];
    w[0] = w[1] = w[2] = w[3] = pad;
    if (i < cols4) {
      const uint2 q = reinterpret_cast<const uint2*>(row)[i];  // little-endian: the low half first
      w[0] = bf16_widen(q.x & 0xffffu);
      w[1] = bf16_widen(q.x >> 16);
      w[2] = bf16_widen(q.y & 0xffffu);
      w[3] = bf16_widen(q.y >> 16);
    }
  }
}

template <int K>
__device__ __forceinline__ void store_row(const float (&v)[4 * K], uint16_t* row, int cols4,
                                          const RowTeam& team) {
#pragma unroll
  for (int k = 0; k < K; ++k) {
    const int i = team.rank + k * team.size;
    if (i < cols4)
      reinterpret_cast<uint2*>(row)[i] =
          make_uint2(bf16_round(v[4 * k]) | bf16_round(v[4 * k + 1]) << 16,
                     bf16_round(v[4 * k + 2]) | bf16_round(v[4 * k + 3]) << 16);
  }
}

// For each row x of C values:
//   mean = sum x / C,  var = sum (x - mean)^2 / C   (biased, as PyTorch)
//   rstd = 1 / sqrt(var + eps),  xhat = (x - mean) rstd,  y = gamma xhat + beta
// One block per row; three strided passes over the row (mean, variance, write):
// two block sums with warp shuffles. Two passes for the variance, as on the CPU:
// E[x^2] - E[x]^2 cancels badly when |mean| >> std. x is read from DRAM once and
// then mostly from cache; y written once.
// Y is float, or uint16_t for bf16 bits.
template <typename Y>
__global__ void layernorm_kernel(const float* x, const float* gamma, const float* beta, Y* y,
                                 float* mean, float* rstd, long long rows, long long cols,
                                 float eps) {
  for (long long r = blockIdx.x; r < rows; r += gridDim.x) {
    const float* xr = x + r * cols;
    Y* yr = y + r * cols;
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
      store(&yr[c], (xr[c] - mu) * rs * gamma[c] + beta[c]);
    if (threadIdx.x == 0) {
      mean[r] = mu;
      rstd[r] = rs;
    }
  }
}

// Float4s a thread aims to hold, and the most it may hold (more spills out of
// the 64 registers a 1024-thread block leaves a thread): rows of 4096 get
// 256-thread blocks forward and 512-thread blocks backward, where x, dy, gamma
// and two accumulators take 20 registers a float4.
constexpr int kTargetFloat4s = 4;
constexpr int kMaxFloat4s = 4;
constexpr int kTargetFloat4sBackward = 2;
constexpr int kMaxFloat4sBackward = 2;

//   mean = sum x / C,  var = sum (x - mean)^2 / C
//   rstd = 1 / sqrt(var + eps),  y = gamma (x - mean) rstd + beta
// as layernorm_kernel, on a row held in registers. Team per row
// (row_registers.cuh: a warp for rows up to 512 floats, else a block of up to
// 1024 threads), K float4s a thread: one coalesced float4 read of x, team sums
// (warp shuffles) for the mean and then the variance (still two passes, now
// over registers), one float4 write of y; gamma and beta are read as float4s
// (from cache after the first rows).
template <int K, typename Y>
__global__ void __launch_bounds__(1024)
    layernorm_registers_kernel(const float* x, const float* gamma, const float* beta, Y* y,
                               float* mean, float* rstd, long long rows, long long cols,
                               int teams_per_block, float eps) {
  const RowTeam team = row_team(teams_per_block);
  const int cols4 = (int)(cols / 4);
  for (long long r = team.index; r < rows; r += team.count) {
    float v[4 * K];
    load_row<K>(v, x + r * cols, cols4, team, 0.0f);
    float partial = 0.0f;
#pragma unroll
    for (int i = 0; i < 4 * K; ++i) partial += v[i];  // padding zeros add nothing
    const float mu = team_sum(partial, team) / (float)cols;
    partial = 0.0f;
#pragma unroll
    for (int i = 0; i < 4 * K; ++i) {
      const float d = v[i] - mu;
      if (in_row(i, cols4, team)) partial += d * d;
    }
    const float rs = rsqrtf(team_sum(partial, team) / (float)cols + eps);
#pragma unroll
    for (int k = 0; k < K; ++k) {  // a float4 of gamma and beta at a time: fewer registers
      float g[4], b[4];
      load_float4(g, gamma, team.rank + k * team.size, cols4, 0.0f);
      load_float4(b, beta, team.rank + k * team.size, cols4, 0.0f);
#pragma unroll
      for (int j = 0; j < 4; ++j) v[4 * k + j] = (v[4 * k + j] - mu) * rs * g[j] + b[j];
    }
    store_row<K>(v, y + r * cols, cols4, team);
    if (team.rank == 0) {
      mean[r] = mu;
      rstd[r] = rs;
    }
  }
}

// With xhat = (x - mean) rstd and g = dy * gamma (the gradient reaching xhat):
//   dx = rstd (g - mean(g) - xhat mean(g xhat))     (per row, means over C)
// One block per row: pass 1 reads x and dy for two block sums, pass 2 reads
// them again and writes dx. DY is float, or uint16_t for bf16 bits.
template <typename DY>
__global__ void layernorm_dx_kernel(const DY* dy, const float* x, const float* gamma,
                                    const float* mean, const float* rstd, float* dx,
                                    long long rows, long long cols) {
  for (long long r = blockIdx.x; r < rows; r += gridDim.x) {
    const float* xr = x + r * cols;
    const DY* dyr = dy + r * cols;
    float* dxr = dx + r * cols;
    const float mu = mean[r], rs = rstd[r];
    // g is the rounded product (__fmul_rn: never fused into a later add), the
    // same value in both passes, so g - mean(g) is exactly 0 when C = 1, as on the CPU.
    float g_partial = 0.0f, g_xhat_partial = 0.0f;
    for (long long c = threadIdx.x; c < cols; c += blockDim.x) {
      float g = __fmul_rn(value_of(dyr[c]), gamma[c]);
      g_partial += g;
      g_xhat_partial += g * (xr[c] - mu) * rs;
    }
    float g_mean = block_sum(g_partial) / (float)cols;
    float g_xhat_mean = block_sum(g_xhat_partial) / (float)cols;
    for (long long c = threadIdx.x; c < cols; c += blockDim.x) {
      float xhat = (xr[c] - mu) * rs;
      dxr[c] = rs * (__fmul_rn(value_of(dyr[c]), gamma[c]) - g_mean - xhat * g_xhat_mean);
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
template <typename DY>
__global__ void layernorm_dparams_kernel(const DY* dy, const float* x, const float* mean,
                                         const float* rstd, float* dgamma, float* dbeta,
                                         float* partial, long long rows, long long cols) {
  __shared__ float lanes_gamma[kRowLanes][kColumnTile + 1];  // +1: no bank conflicts
  __shared__ float lanes_beta[kRowLanes][kColumnTile + 1];
  long long c = blockIdx.x * (long long)kColumnTile + threadIdx.x;
  float acc_gamma = 0.0f, acc_beta = 0.0f;
  if (c < cols)
    for (long long r = blockIdx.y * (long long)kRowLanes + threadIdx.y; r < rows;
         r += (long long)gridDim.y * kRowLanes) {
      float d = value_of(dy[r * cols + c]);
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

// With xhat = (x - mean) rstd and g = dy * gamma, for each row
//   dx = rstd (g - mean(g) - xhat mean(g xhat))
// and over the rows  dgamma = sum dy xhat,  dbeta = sum dy  (layernorm_dx_kernel and
// layernorm_dparams_kernel in one).
// Persistent teams (row_registers.cuh: a warp for rows up to 256 floats, else a
// block), one per row-team slot the GPU holds at once; team t takes rows t,
// t + teams, ...: one coalesced float4 read of x and dy into registers, one
// paired team sum (warp shuffles) for both means, one float4 write of dx. Each
// thread keeps dgamma and dbeta of its own columns in registers across its
// rows; at the end the team writes them to partial[2 t] and partial[2 t + 1]
// ([C] each), which layernorm_partials_kernel adds in team order. dy and x are
// read from DRAM once, where the generic path reads them twice.
template <int K, typename DY>
__global__ void __launch_bounds__(1024)
    layernorm_backward_registers_kernel(const DY* dy, const float* x, const float* gamma,
                                        const float* mean, const float* rstd, float* dx,
                                        float* partial, long long rows, long long cols,
                                        int teams_per_block) {
  const RowTeam team = row_team(teams_per_block);
  const int cols4 = (int)(cols / 4);
  float dgamma[4 * K], dbeta[4 * K];
#pragma unroll
  for (int i = 0; i < 4 * K; ++i) dgamma[i] = dbeta[i] = 0.0f;
  for (long long r = team.index; r < rows; r += team.count) {
    float xv[4 * K], dyv[4 * K], gv[4 * K];  // gamma again each row (from L1): fewer registers
    load_row<K>(xv, x + r * cols, cols4, team, 0.0f);  // zeros: padding adds nothing below
    load_row<K>(dyv, dy + r * cols, cols4, team, 0.0f);
    load_row<K>(gv, gamma, cols4, team, 0.0f);
    const float mu = mean[r], rs = rstd[r];
    // g is the rounded product (__fmul_rn: never fused into a later add), the
    // same value in both loops, so g - mean(g) is exactly 0 when C = 1, as on the CPU.
    float2 partial_sums = make_float2(0.0f, 0.0f);  // (sum g, sum g xhat)
#pragma unroll
    for (int i = 0; i < 4 * K; ++i) {
      const float xhat = (xv[i] - mu) * rs, g = __fmul_rn(dyv[i], gv[i]);
      partial_sums.x += g;
      partial_sums.y += g * xhat;
      dgamma[i] += dyv[i] * xhat;
      dbeta[i] += dyv[i];
    }
    const float2 sums = team_sum(partial_sums, team);
    const float g_mean = sums.x / (float)cols, g_xhat_mean = sums.y / (float)cols;
#pragma unroll
    for (int i = 0; i < 4 * K; ++i) {
      const float xhat = (xv[i] - mu) * rs;
      xv[i] = rs * (__fmul_rn(dyv[i], gv[i]) - g_mean - xhat * g_xhat_mean);
    }
    store_row<K>(xv, dx + r * cols, cols4, team);
  }
  store_row<K>(dgamma, partial + (2 * team.index) * cols, cols4, team);
  store_row<K>(dbeta, partial + (2 * team.index + 1) * cols, cols4, team);
}

constexpr int kPartialLanes = 32;  // partials a block adds at once, one per threadIdx.y

// Stage 2 of both paths: dgamma_c = sum_p partial[2 p][c], dbeta_c = sum_p partial[2 p + 1][c].
// Block (32, 32), grid (ceil(C / 32), groups): block (x, g) takes column
// x * 32 + threadIdx.x of the g-th slice of the partials; lane y adds partials
// y, y + 32, ... of the slice (a warp reads 32 consecutive floats of one
// partial), then the 32 lanes' sums are added through shared memory in a fixed
// order (deterministic, no atomics). One group writes dgamma and dbeta; several
// write their sums as partials of their own (`sums`, [2 groups, C]), added by a
// second launch: with thousands of partials and narrow rows (C = 128: 4 column
// tiles) a single group would leave the GPU nearly idle.
__global__ void layernorm_partials_kernel(const float* partial, int parts, long long cols,
                                          float* dgamma, float* dbeta, float* sums) {
  __shared__ float lanes_gamma[kPartialLanes][kColumnTile + 1];  // +1: no bank conflicts
  __shared__ float lanes_beta[kPartialLanes][kColumnTile + 1];
  const long long c = blockIdx.x * (long long)kColumnTile + threadIdx.x;
  const int slice = (parts + gridDim.y - 1) / gridDim.y;
  const int first = blockIdx.y * slice, end = min(parts, first + slice);
  float sum_gamma = 0.0f, sum_beta = 0.0f;
  if (c < cols)
    for (int p = first + threadIdx.y; p < end; p += kPartialLanes) {
      sum_gamma += partial[(2LL * p) * cols + c];
      sum_beta += partial[(2LL * p + 1) * cols + c];
    }
  lanes_gamma[threadIdx.y][threadIdx.x] = sum_gamma;
  lanes_beta[threadIdx.y][threadIdx.x] = sum_beta;
  __syncthreads();
  if (threadIdx.y == 0 && c < cols) {
    for (int y = 1; y < kPartialLanes; ++y) {
      sum_gamma += lanes_gamma[y][threadIdx.x];
      sum_beta += lanes_beta[y][threadIdx.x];
    }
    if (gridDim.y == 1) {
      dgamma[c] = sum_gamma;
      dbeta[c] = sum_beta;
    } else {
      sums[(2LL * blockIdx.y) * cols + c] = sum_gamma;
      sums[(2LL * blockIdx.y + 1) * cols + c] = sum_beta;
    }
  }
}

// Partials one group of layernorm_partials_kernel adds; beyond kPartialsPerGroup
// partials, groups of that many add theirs first.
constexpr int64_t kPartialsPerGroup = 256;  // 8 a lane

// Adds the [2, C] partials of `parts` teams or row groups into dgamma and dbeta.
void add_partials(const float* partial, float* dgamma, float* dbeta, int64_t parts, int64_t cols) {
  const dim3 block(kColumnTile, kPartialLanes);
  const unsigned tiles = (unsigned)((cols + kColumnTile - 1) / kColumnTile);
  if (parts <= kPartialsPerGroup) {
    layernorm_partials_kernel<<<tiles, block, 0, stream()>>>(partial, (int)parts, cols, dgamma,
                                                             dbeta, nullptr);
    AHA_CUDA_CHECK(cudaGetLastError());
    return;
  }
  const int64_t groups = std::min<int64_t>((parts + kPartialsPerGroup - 1) / kPartialsPerGroup,
                                           kMaxGridYZ);
  float* sums = alloc(2 * groups * cols);
  layernorm_partials_kernel<<<dim3(tiles, (unsigned)groups), block, 0, stream()>>>(
      partial, (int)parts, cols, nullptr, nullptr, sums);
  AHA_CUDA_CHECK(cudaGetLastError());
  add_partials(sums, dgamma, dbeta, groups, cols);
  free(sums);  // the next user of this block queues behind the kernels above
}

// Rows a team takes at the least: its partial (2C floats written, then read)
// then costs at most a sixth of its rows' own traffic (3C floats a row).
constexpr int64_t kMinRowsPerTeam = 8;

// The fused register path; false (nothing launched) when the rows do not fit.
template <typename DY>
bool layernorm_backward_registers(const DY* dy, const float* x, const float* gamma,
                                  const float* mean, const float* rstd, float* dx, float* dgamma,
                                  float* dbeta, int64_t rows, int64_t cols) {
  const RegisterRow row =
      register_row(cols, kTargetFloat4sBackward, kMaxFloat4sBackward, {dy, x, gamma, dx});
  void (*kernel)(const DY*, const float*, const float*, const float*, const float*, float*,
                 float*, long long, long long, int) = nullptr;
  switch (row.k) {
    case 1: kernel = layernorm_backward_registers_kernel<1, DY>; break;
    case 2: kernel = layernorm_backward_registers_kernel<2, DY>; break;
  }
  if (!kernel || rows <= 0) return false;
  // As many blocks as the GPU holds at once (one wave, so every team has about
  // the same rows), fewer when the rows would leave teams with too few rows.
  int blocks_per_sm = 0;
  AHA_CUDA_CHECK(cudaOccupancyMaxActiveBlocksPerMultiprocessor(&blocks_per_sm, kernel,
                                                               row.threads(), 0));
  const int64_t rows_per_block = row.teams_per_block * kMinRowsPerTeam;
  const int64_t blocks =
      std::max<int64_t>(1, std::min<int64_t>((int64_t)std::max(1, blocks_per_sm) * sm_count(),
                                             (rows + rows_per_block - 1) / rows_per_block));
  const int64_t teams = blocks * row.teams_per_block;
  float* partial = alloc(2 * teams * cols);
  kernel<<<(unsigned)blocks, row.threads(), 0, stream()>>>(dy, x, gamma, mean, rstd, dx, partial,
                                                           rows, cols, row.teams_per_block);
  AHA_CUDA_CHECK(cudaGetLastError());
  add_partials(partial, dgamma, dbeta, teams, cols);
  free(partial);  // the next user of this block queues behind the kernels above
  return true;
}

template <typename Y>
void layernorm_rows(const float* x, const float* gamma, const float* beta, Y* y, float* mean,
                    float* rstd, int64_t rows, int64_t cols, float eps) {
  if (rows <= 0) return;
  const RegisterRow row = register_row(cols, kTargetFloat4s, kMaxFloat4s, {x, gamma, beta, y});
  void (*kernel)(const float*, const float*, const float*, Y*, float*, float*, long long,
                 long long, int, float) = nullptr;
  switch (row.k) {
    case 1: kernel = layernorm_registers_kernel<1, Y>; break;
    case 2: kernel = layernorm_registers_kernel<2, Y>; break;
    case 4: kernel = layernorm_registers_kernel<4, Y>; break;
  }
  if (kernel)
    kernel<<<row.blocks(rows), row.threads(), 0, stream()>>>(x, gamma, beta, y, mean, rstd, rows,
                                                             cols, row.teams_per_block, eps);
  else
    layernorm_kernel<<<row_blocks(rows), row_threads(cols), 0, stream()>>>(x, gamma, beta, y, mean,
                                                                           rstd, rows, cols, eps);
  AHA_CUDA_CHECK(cudaGetLastError());
}

template <typename DY>
void layernorm_backward_rows(const DY* dy, const float* x, const float* gamma, const float* mean,
                             const float* rstd, float* dx, float* dgamma, float* dbeta,
                             int64_t rows, int64_t cols) {
  if (cols <= 0) return;
  if (layernorm_backward_registers(dy, x, gamma, mean, rstd, dx, dgamma, dbeta, rows, cols))
    return;
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
    add_partials(partial, dgamma, dbeta, groups, cols);
    free(partial);  // the next user of this block queues behind the kernel above
  }
}

}  // namespace

void layernorm(const float* x, const float* gamma, const float* beta, float* y, float* mean,
               float* rstd, int64_t rows, int64_t cols, float eps) {
  layernorm_rows(x, gamma, beta, y, mean, rstd, rows, cols, eps);
}

void layernorm_bf16(const float* x, const float* gamma, const float* beta, uint16_t* y, float* mean,
                    float* rstd, int64_t rows, int64_t cols, float eps) {
  layernorm_rows(x, gamma, beta, y, mean, rstd, rows, cols, eps);
}

void layernorm_backward(const float* dy, const float* x, const float* gamma, const float* mean,
                        const float* rstd, float* dx, float* dgamma, float* dbeta, int64_t rows,
                        int64_t cols) {
  layernorm_backward_rows(dy, x, gamma, mean, rstd, dx, dgamma, dbeta, rows, cols);
}

void layernorm_backward_bf16(const uint16_t* dy, const float* x, const float* gamma, const float* mean,
                             const float* rstd, float* dx, float* dgamma, float* dbeta, int64_t rows,
                             int64_t cols) {
  layernorm_backward_rows(dy, x, gamma, mean, rstd, dx, dgamma, dbeta, rows, cols);
}

}  // namespace cuda
}  // namespace aha

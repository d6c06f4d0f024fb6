// Layout copies (docs/ARCHITECTURE.md: tensors are always contiguous, so a
// transpose is a copy) and the causal mask of attention scores. Mirrors tensor/cpu/layout.cpp.
#include <algorithm>

#include "tensor/cuda/kernels.h"
#include "tensor/cuda/launch.cuh"
#include "tensor/cuda/stream.h"

namespace aha {
namespace cuda {

namespace {

constexpr int kTile = 32;      // transpose tile: 32 x 32 floats
constexpr int kTileRows = 8;   // block (32, 8): each thread moves 4 elements of a tile
constexpr int kRowsPerBlock = 8;  // block (32, 8) for row copies: one warp per row

// out[b, n, m] = a[b, m, n]. Block (32, 8) moves one 32x32 tile through shared
// memory: reads a's tile row by row (coalesced), writes out's tile row by row
// (coalesced); the +1 column of padding keeps the column reads of the tile off
// a single shared-memory bank. Grid (ceil(N/32), ceil(M/32), batches), looping
// over batches beyond gridDim.z.
__global__ void transpose_kernel(const float* a, float* out, long long batch, long long M,
                                 long long N) {
  __shared__ float tile[kTile][kTile + 1];
  const long long m0 = blockIdx.y * (long long)kTile, n0 = blockIdx.x * (long long)kTile;
  for (long long b = blockIdx.z; b < batch; b += gridDim.z) {
    const float* ab = a + b * M * N;
    float* ob = out + b * M * N;
    for (int y = threadIdx.y; y < kTile; y += kTileRows) {
      long long m = m0 + y, n = n0 + threadIdx.x;
      if (m < M && n < N) tile[y][threadIdx.x] = ab[m * N + n];
    }
    __syncthreads();
    for (int y = threadIdx.y; y < kTile; y += kTileRows) {
      long long n = n0 + y, m = m0 + threadIdx.x;
      if (m < M && n < N) ob[n * M + m] = tile[threadIdx.x][y];
    }
    __syncthreads();  // the tile is reused for the next batch
  }
}

// out[a, c, b, :] = in[a, b, c, :]   [A, B, C, D] -> [A, C, B, D]
// Block (32, 8), one warp per output row (a, c, b), grid-stride over rows; lanes
// copy the D contiguous floats, so reads and writes are coalesced. The row index
// is split into (a, c, b) once per row, not per element.
__global__ void permute_0213_kernel(const float* in, float* out, long long A, long long B,
                                    long long C, long long D) {
  const long long rows = A * C * B;
  for (long long row = blockIdx.x * (long long)kRowsPerBlock + threadIdx.y; row < rows;
       row += (long long)gridDim.x * kRowsPerBlock) {
    long long b = row % B, c = (row / B) % C, a = row / (B * C);
    const float* src = in + ((a * B + b) * C + c) * D;
    float* dst = out + row * D;
    for (long long d = threadIdx.x; d < D; d += blockDim.x) dst[d] = src[d];
  }
}

// out[b, i, j] = j > i + (Tk - Tq) ? fill : scores[b, i, j]
// Block (32, 8), one warp per row (b, i) of Tk scores, grid-stride over rows;
// coalesced reads and writes.
__global__ void causal_mask_kernel(const float* scores, float* out, long long batch, long long Tq,
                                   long long Tk, float fill) {
  const long long rows = batch * Tq, offset = Tk - Tq;
  for (long long row = blockIdx.x * (long long)kRowsPerBlock + threadIdx.y; row < rows;
       row += (long long)gridDim.x * kRowsPerBlock) {
    long long i = row % Tq;
    const float* src = scores + row * Tk;
    float* dst = out + row * Tk;
    for (long long j = threadIdx.x; j < Tk; j += blockDim.x) dst[j] = j > i + offset ? fill : src[j];
  }
}

}  // namespace

void transpose_last2(const float* a, float* out, int64_t batch, int64_t M, int64_t N) {
  if (batch <= 0 || M <= 0 || N <= 0) return;
  dim3 block(kTile, kTileRows);
  dim3 grid((unsigned)((N + kTile - 1) / kTile), (unsigned)((M + kTile - 1) / kTile),
            (unsigned)std::min<int64_t>(batch, kMaxGridYZ));
  if ((M + kTile - 1) / kTile > kMaxGridYZ)
    throw std::runtime_error("cuda::transpose_last2: M = " + std::to_string(M) +
                             " needs more than 65535 tiles of 32 rows");
  transpose_kernel<<<grid, block, 0, stream()>>>(a, out, batch, M, N);
  AHA_CUDA_CHECK(cudaGetLastError());
}

void permute_0213(const float* a, float* out, int64_t A, int64_t B, int64_t C, int64_t D) {
  int64_t rows = A * B * C;
  if (rows <= 0 || D <= 0) return;
  dim3 block(32, kRowsPerBlock);
  permute_0213_kernel<<<grid_for(rows, kRowsPerBlock), block, 0, stream()>>>(a, out, A, B, C, D);
  AHA_CUDA_CHECK(cudaGetLastError());
}

void causal_mask(const float* scores, float* out, int64_t batch, int64_t Tq, int64_t Tk,
                 float fill) {
  int64_t rows = batch * Tq;
  if (rows <= 0 || Tk <= 0) return;
  dim3 block(32, kRowsPerBlock);
  causal_mask_kernel<<<grid_for(rows, kRowsPerBlock), block, 0, stream()>>>(scores, out, batch, Tq,
                                                                            Tk, fill);
  AHA_CUDA_CHECK(cudaGetLastError());
}

}  // namespace cuda
}  // namespace aha

// Reductions over the last dim, over columns, and their broadcast inverse.
// Mirrors tensor/cpu/reduce.cpp. Like the CPU, sums accumulate in double: a sum
// of tens of millions of floats keeps its digits, and the order of the additions
// (a tree here, a loop there) then changes nothing the tests can see. Every
// reduction ends in a fixed order (no atomics), so a result is the same from
// run to run, and nothing syncs with the host.
#include <algorithm>

#include "tensor/cuda/bf16.cuh"
#include "tensor/cuda/block_reduce.cuh"
#include "tensor/cuda/kernels.h"
#include "tensor/cuda/launch.cuh"
#include "tensor/cuda/stream.h"

namespace aha {
namespace cuda {

namespace {

// What a row reduction computes: sum, mean, max, or sum of squares.
enum class RowReduction { Sum, Mean, Max, SumSquares };

template <RowReduction kKind>
__device__ __forceinline__ double load(const float* row, long long c) {
  double x = row[c];
  return kKind == RowReduction::SumSquares ? x * x : x;
}

template <RowReduction kKind>
__device__ __forceinline__ double combine_values(double a, double b) {
  if (kKind == RowReduction::Max) return b > a ? b : a;  // skips NaN, as the CPU loop
  return a + b;
}

template <RowReduction kKind>
__device__ __forceinline__ double identity_value() {
  return kKind == RowReduction::Max ? -INFINITY : 0.0;
}

template <RowReduction kKind>
struct CombineOp {
  __device__ double operator()(double a, double b) const { return combine_values<kKind>(a, b); }
};

template <RowReduction kKind>
__device__ __forceinline__ float finish_value(double acc, long long cols) {
  return (float)(kKind == RowReduction::Mean ? acc / (double)cols : acc);
}

// Stage 1. grid (chunks, rows): block (chunk, row) reduces the columns
// chunk*blockDim.x + threadIdx.x, stepping by chunks*blockDim.x: coalesced reads
// of a once, in double, then a warp-shuffle block reduction. With one chunk a
// row the result is final; otherwise a per-chunk partial goes to `partial`.
template <RowReduction kKind>
__global__ void reduce_rows_kernel(const float* a, float* out, double* partial, long long rows,
                                   long long cols) {
  const int chunks = gridDim.x;
  for (long long r = blockIdx.y; r < rows; r += gridDim.y) {
    const float* row = a + r * cols;
    double acc = identity_value<kKind>();
    for (long long c = blockIdx.x * (long long)blockDim.x + threadIdx.x; c < cols;
         c += (long long)chunks * blockDim.x)
      acc = combine_values<kKind>(acc, load<kKind>(row, c));
    acc = block_reduce(acc, CombineOp<kKind>{}, identity_value<kKind>());
    if (threadIdx.x == 0) {
      if (chunks == 1) out[r] = finish_value<kKind>(acc, cols);
      else partial[r * chunks + blockIdx.x] = acc;
    }
  }
}

// Stage 2 (only when a row was split into chunks): one block per row reduces
// its `chunks` partials in a fixed order and writes the final value.
template <RowReduction kKind>
__global__ void reduce_partials_kernel(const double* partial, float* out, long long rows,
                                       int chunks, long long cols) {
  for (long long r = blockIdx.x; r < rows; r += gridDim.x) {
    double acc = identity_value<kKind>();
    for (int i = threadIdx.x; i < chunks; i += blockDim.x)
      acc = combine_values<kKind>(acc, partial[r * chunks + i]);
    acc = block_reduce(acc, CombineOp<kKind>{}, identity_value<kKind>());
    if (threadIdx.x == 0) out[r] = finish_value<kKind>(acc, cols);
  }
}

// Rows are split into chunks only when there are too few rows to fill the GPU
// (sum_all, sum_squares of a big tensor); each chunk then gets at least a few
// elements per thread.
template <RowReduction kKind>
void reduce_rows(const float* a, float* out, int64_t rows, int64_t cols) {
  if (rows <= 0) return;
  const int threads = row_threads(cols);
  const int64_t target_blocks = (int64_t)sm_count() * 2;  // 2 blocks of up to 1024 threads per SM
  const int64_t min_per_thread = 8;
  int64_t chunks = std::min((target_blocks + rows - 1) / rows,
                            (cols + threads * min_per_thread - 1) / (threads * min_per_thread));
  chunks = std::max<int64_t>(chunks, 1);
  dim3 grid((unsigned)chunks, (unsigned)std::min<int64_t>(rows, kMaxGridYZ));
  if (chunks == 1) {
    reduce_rows_kernel<kKind><<<grid, threads, 0, stream()>>>(a, out, nullptr, rows, cols);
    AHA_CUDA_CHECK(cudaGetLastError());
    return;
  }
  // Partials in a temporary from the caching allocator (2 floats per double);
  // freeing it right after the launch is safe: the next user queues behind us.
  float* scratch = alloc(2 * rows * chunks);
  double* partial = reinterpret_cast<double*>(scratch);
  reduce_rows_kernel<kKind><<<grid, threads, 0, stream()>>>(a, out, partial, rows, cols);
  AHA_CUDA_CHECK(cudaGetLastError());
  reduce_partials_kernel<kKind><<<row_blocks(rows), 256, 0, stream()>>>(partial, out, rows,
                                                                         (int)chunks, cols);
  AHA_CUDA_CHECK(cudaGetLastError());
  free(scratch);
}

constexpr int kColumnTile = 32;  // columns per block: one warp reads 32 consecutive floats
constexpr int kRowLanes = 8;     // rows a block reads at once

__device__ __forceinline__ double value_of(float x) { return x; }
__device__ __forceinline__ double value_of(unsigned short bits) { return bf16_widen(bits); }

// Stage 1 of sum_rows. Block (32, 8), grid (ceil(cols / 32), groups): thread
// (x, y) sums column blockIdx.x*32 + x over rows blockIdx.y*8 + y, stepping by
// groups*8. A warp reads 32 consecutive floats of one row (coalesced), each
// element once. The 8 row lanes are summed through shared memory in a fixed order.
// Element: float, or unsigned short for bf16 bits (widened exactly, summed alike).
template <typename Element>
__global__ void sum_columns_kernel(const Element* a, float* out, double* partial, long long rows,
                                   long long cols) {
  __shared__ double lanes[kRowLanes][kColumnTile + 1];  // +1: no bank conflicts
  long long c = blockIdx.x * (long long)kColumnTile + threadIdx.x;
  double acc = 0.0;
  if (c < cols)
    for (long long r = blockIdx.y * (long long)kRowLanes + threadIdx.y; r < rows;
         r += (long long)gridDim.y * kRowLanes)
      acc += value_of(a[r * cols + c]);
  lanes[threadIdx.y][threadIdx.x] = acc;
  __syncthreads();
  if (threadIdx.y == 0 && c < cols) {
    double sum = 0.0;
    for (int y = 0; y < kRowLanes; ++y) sum += lanes[y][threadIdx.x];
    if (gridDim.y == 1) out[c] = (float)sum;
    else partial[blockIdx.y * cols + c] = sum;
  }
}

// Stage 2 of sum_rows: thread per column adds the `groups` partials in order.
// Grid-stride over columns; reads coalesced across the warp.
__global__ void sum_column_partials_kernel(const double* partial, float* out, int groups,
                                           long long cols) {
  for (long long c = blockIdx.x * (long long)blockDim.x + threadIdx.x; c < cols;
       c += (long long)gridDim.x * blockDim.x) {
    double sum = 0.0;
    for (int g = 0; g < groups; ++g) sum += partial[g * cols + c];
    out[c] = (float)sum;
  }
}

// out[c] = sum_r a[r, c]: one stage when the column blocks alone fill the GPU,
// else two (each row group's partial sums, then each column's partials in order).
template <typename Element>
void sum_columns(const Element* a, float* out, int64_t rows, int64_t cols) {
  if (cols <= 0) return;
  const int64_t column_blocks = (cols + kColumnTile - 1) / kColumnTile;
  const int64_t target_blocks = (int64_t)sm_count() * kBlocksPerSM;
  int64_t groups = std::max<int64_t>(1, target_blocks / column_blocks);
  groups = std::min<int64_t>({groups, (rows + kRowLanes - 1) / kRowLanes, kMaxGridYZ});
  groups = std::max<int64_t>(groups, 1);
  dim3 block(kColumnTile, kRowLanes);
  dim3 grid((unsigned)column_blocks, (unsigned)groups);
  if (groups == 1) {
    sum_columns_kernel<<<grid, block, 0, stream()>>>(a, out, nullptr, rows, cols);
    AHA_CUDA_CHECK(cudaGetLastError());
    return;
  }
  float* scratch = alloc(2 * groups * cols);
  double* partial = reinterpret_cast<double*>(scratch);
  sum_columns_kernel<<<grid, block, 0, stream()>>>(a, out, partial, rows, cols);
  AHA_CUDA_CHECK(cudaGetLastError());
  sum_column_partials_kernel<<<grid_for(cols), kThreads, 0, stream()>>>(partial, out, (int)groups,
                                                                         cols);
  AHA_CUDA_CHECK(cudaGetLastError());
  free(scratch);
}

// Grid-stride over out; the value a[i / size] is read from cache by the `size`
// threads that share it; writes coalesced.
__global__ void expand_last_kernel(const float* a, float* out, long long rows, long long size) {
  long long n = rows * size;
  for (long long i = blockIdx.x * (long long)blockDim.x + threadIdx.x; i < n;
       i += (long long)gridDim.x * blockDim.x)
    out[i] = a[i / size];
}

}  // namespace

// a is [rows, cols]: out[r] = sum, mean (sum / cols) or max over the row.
void reduce_last(ReduceOp op, const float* a, float* out, int64_t rows, int64_t cols) {
  switch (op) {
    case ReduceOp::Sum: return reduce_rows<RowReduction::Sum>(a, out, rows, cols);
    case ReduceOp::Mean: return reduce_rows<RowReduction::Mean>(a, out, rows, cols);
    case ReduceOp::Max: return reduce_rows<RowReduction::Max>(a, out, rows, cols);
  }
}

// out[0] = sum_i a[i]^2, left on the device (gradient clipping needs no host sync).
void sum_squares(const float* a, float* out, int64_t n) {
  reduce_rows<RowReduction::SumSquares>(a, out, 1, n);
}

// out[c] = sum_r a[r, c]
void sum_rows(const float* a, float* out, int64_t rows, int64_t cols) { sum_columns(a, out, rows, cols); }

// The same sums over the exactly widened bf16 values, fp32 out (a bias gradient).
void sum_rows_bf16(const uint16_t* a, float* out, int64_t rows, int64_t cols) { sum_columns(a, out, rows, cols); }

// out[r, j] = a[r] for j < size
void expand_last(const float* a, float* out, int64_t rows, int64_t size) {
  if (rows <= 0 || size <= 0) return;
  expand_last_kernel<<<grid_for(rows * size), kThreads, 0, stream()>>>(a, out, rows, size);
  AHA_CUDA_CHECK(cudaGetLastError());
}

}  // namespace cuda
}  // namespace aha

// Token embedding: a gather of weight rows by id, and its scatter-add backward.
// Mirrors tensor/cpu/embedding.cpp.
#include "tensor/cuda/kernels.h"
#include "tensor/cuda/launch.cuh"
#include "tensor/cuda/stream.h"
#include "tensor/cuda/token_id.cuh"

namespace aha {
namespace cuda {

namespace {

constexpr int kRowsPerBlock = 8;  // block (32, 8): one warp per output row

// out[i, :] = weight[ids[i], :]. A bad id (not an integer in [0, V)), where
// the CPU throws, fills its output row with NaN instead.
// Block (32, 8), one warp per row i (grid-stride over rows); lanes stride the C
// columns, so both the weight row read and the out row write are coalesced.
__global__ void embedding_kernel(const float* weight, const float* ids, float* out, long long n,
                                 long long C, long long V) {
  for (long long i = blockIdx.x * (long long)kRowsPerBlock + threadIdx.y; i < n;
       i += (long long)gridDim.x * kRowsPerBlock) {
    float id = ids[i];
    float* out_row = out + i * C;
    if (!valid_id(id, V)) {
      for (long long c = threadIdx.x; c < C; c += blockDim.x) out_row[c] = NAN;
      continue;
    }
    const float* w_row = weight + (long long)id * C;
    for (long long c = threadIdx.x; c < C; c += blockDim.x) out_row[c] = w_row[c];
  }
}

// dweight[ids[i], :] += dout[i, :], after dweight was zeroed. Block (32, 8),
// one warp per row i of dout (coalesced reads), float atomicAdd into dweight
// because two rows may share an id. The order of those additions varies from
// run to run, so a repeated id's row can differ in its last bits between runs
// (the CPU kernel is the bit-exact reference). A bad id adds nothing: its
// forward row was already NaN.
__global__ void embedding_backward_kernel(const float* dout, const float* ids, float* dweight,
                                          long long n, long long C, long long V) {
  for (long long i = blockIdx.x * (long long)kRowsPerBlock + threadIdx.y; i < n;
       i += (long long)gridDim.x * kRowsPerBlock) {
    float id = ids[i];
    if (!valid_id(id, V)) continue;
    const float* d_row = dout + i * C;
    float* w_row = dweight + (long long)id * C;
    for (long long c = threadIdx.x; c < C; c += blockDim.x) atomicAdd(&w_row[c], d_row[c]);
  }
}

}  // namespace

void embedding(const float* weight, const float* ids, float* out, int64_t n, int64_t C, int64_t V) {
  if (n <= 0 || C <= 0) return;
  dim3 block(32, kRowsPerBlock);
  embedding_kernel<<<grid_for(n, kRowsPerBlock), block, 0, stream()>>>(weight, ids, out, n, C, V);
  AHA_CUDA_CHECK(cudaGetLastError());
}

void embedding_backward(const float* dout, const float* ids, float* dweight, int64_t n, int64_t C,
                        int64_t V) {
  fill(dweight, V * C, 0.0f);
  if (n <= 0 || C <= 0) return;
  dim3 block(32, kRowsPerBlock);
  embedding_backward_kernel<<<grid_for(n, kRowsPerBlock), block, 0, stream()>>>(dout, ids, dweight,
                                                                                n, C, V);
  AHA_CUDA_CHECK(cudaGetLastError());
}

}  // namespace cuda
}  // namespace aha

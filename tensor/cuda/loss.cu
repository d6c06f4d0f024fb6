// Losses and per-token quantities computed straight from logits z [N, V],
// without materialising the softmax: cross-entropy (pretraining), the
// log-probability of chosen tokens (the GRPO ratio and KL), and entropy.
// Mirrors tensor/cpu/loss.cpp. Every row kernel is one block per row of V
// logits and reads the row once, as float4s, keeping online softmax statistics
// per thread (SoftmaxStats), then one block reduction (warp shuffles). The
// backward kernels also keep the row in shared memory (a vocabulary row of
// 50257 floats is 201 KB; an H100 block may have 227 KB) and write dz from
// there: one DRAM read and one write per logit. Longer rows take generic
// backward kernels that re-read the row. A bad target id, where the CPU throws,
// makes that row's output NaN (token_id.cuh).
#include <cstdint>

#include "tensor/cuda/block_reduce.cuh"
#include "tensor/cuda/kernels.h"
#include "tensor/cuda/launch.cuh"
#include "tensor/cuda/stream.h"
#include "tensor/cuda/token_id.cuh"

namespace aha {
namespace cuda {

namespace {

constexpr int kReduceThreads = 256;
// Logits a thread aims to take in the forward row kernels: a row of 50257
// gets a 512-thread block, and a multiprocessor holds several, so one block's
// loads overlap another's reduction (on an H100 at [2048, 50257]: 92% of copy
// bandwidth, 77% with 1024-thread blocks).
constexpr int64_t kForwardElementsPerThread = 128;
// Float4 loads a thread issues before it uses any: 64 bytes in flight each.
constexpr int kLoadsInFlight = 4;
// Shared memory the staged kernels leave for their static arrays (block_reduce's).
constexpr int kStaticSharedReserve = 1024;

// Online softmax statistics of part of a row z (Milakov & Gimelshein 2018,
// extended by the entropy's sum), with e_j = exp(z_j - max):
//   max,   sum = sum_j e_j,   weighted = sum_j e_j (z_j - max)
// so log sum_j exp(z_j) = max + log(sum) and the entropy is
// log(sum) - weighted / sum. When the max grows from m to M, every e_j scales
// by c = exp(m - M) and z_j - M = (z_j - m) + (m - M), so
//   sum <- c sum,   weighted <- c (weighted + (m - M) sum).
struct SoftmaxStats {
  float max;
  float sum;
  float weighted;
};

__device__ __forceinline__ SoftmaxStats rescaled(SoftmaxStats s, float new_max) {
  // Nothing seen yet (sum 0, or NaN): nothing to scale, and no exp(-inf - -inf) = NaN.
  if (s.max == -INFINITY) return {new_max, s.sum, s.weighted};
  const float c = expf(s.max - new_max);
  return {new_max, c * s.sum, c * (s.weighted + (s.max - new_max) * s.sum)};
}

// Adds four logits: one max and at most one rescale for the four. A -inf logit
// adds nothing (e = 0, and p log p -> 0 for the entropy); a NaN one makes the
// sum NaN, as add_value does.
__device__ __forceinline__ SoftmaxStats add_float4(SoftmaxStats s, float4 q) {
  const float m = MaxOp{}(MaxOp{}(q.x, q.y), MaxOp{}(q.z, q.w));
  if (m == -INFINITY) {  // all four -inf or NaN
    if (isnan(q.x + q.y + q.z + q.w)) s.sum = NAN;
    return s;
  }
  if (m > s.max) s = rescaled(s, m);
  const float z[4] = {q.x, q.y, q.z, q.w};
#pragma unroll
  for (int j = 0; j < 4; ++j) {
    const float e = expf(z[j] - s.max);
    s.sum += e;
    if (e > 0.0f) s.weighted += e * (z[j] - s.max);
  }
  return s;
}

__device__ __forceinline__ SoftmaxStats combine_stats(SoftmaxStats a, SoftmaxStats b) {
  const float m = MaxOp{}(a.max, b.max);
  a = rescaled(a, m);
  b = rescaled(b, m);
  return {m, a.sum + b.sum, a.weighted + b.weighted};
}

struct CombineStatsOp {
  __device__ SoftmaxStats operator()(SoftmaxStats a, SoftmaxStats b) const {
    return combine_stats(a, b);
  }
};

__device__ __forceinline__ SoftmaxStats shfl_xor(SoftmaxStats s, int offset) {
  return {cuda::shfl_xor(s.max, offset), cuda::shfl_xor(s.sum, offset),
          cuda::shfl_xor(s.weighted, offset)};
}

// log sum_j exp(z_j) = max + log(sum)
__device__ __forceinline__ float log_sum_exp(SoftmaxStats s) { return s.max + logf(s.sum); }

// A row of V floats at z, split for float4 loads: `head` scalars (0 to 3) until
// z + head is 16-byte aligned, `body4` float4s, then scalars from `tail` to V
// (0 to 3). With V odd, row i starts at any 4-byte offset.
struct RowParts {
  int head;
  long long body4;
  long long tail;
};

__device__ __forceinline__ RowParts row_parts(const float* z, long long V) {
  const long long to_aligned = (long long)((16 - (uintptr_t)z % 16) % 16 / 4);
  const int head = (int)(to_aligned < V ? to_aligned : V);
  const long long body4 = (V - head) / 4;
  return {head, body4, head + 4 * body4};
}

// The statistics of the row z, returned to every thread of the block. The first
// threads take the head and tail scalars; thread t the float4s t, t + blockDim.x,
// ..., kLoadsInFlight loads issued before any is used. With `staged`, float4 j
// is also kept in staged[j], for this same thread to read back.
__device__ SoftmaxStats row_stats(const float* z, long long V, float4* staged) {
  const RowParts p = row_parts(z, V);
  const float pad = -INFINITY;  // adds nothing
  SoftmaxStats s{-INFINITY, 0.0f, 0.0f};
  if ((int)threadIdx.x < p.head) s = add_float4(s, make_float4(z[threadIdx.x], pad, pad, pad));
  const long long t = p.tail + threadIdx.x;
  if (t < V) s = add_float4(s, make_float4(z[t], pad, pad, pad));
  const float4* body = reinterpret_cast<const float4*>(z + p.head);
  const long long step = blockDim.x;
  for (long long j0 = threadIdx.x; j0 < p.body4; j0 += kLoadsInFlight * step) {
    float4 q[kLoadsInFlight];
#pragma unroll
    for (int u = 0; u < kLoadsInFlight; ++u) {
      const long long j = j0 + u * step;
      q[u] = j < p.body4 ? body[j] : make_float4(pad, pad, pad, pad);
    }
#pragma unroll
    for (int u = 0; u < kLoadsInFlight; ++u) {
      s = add_float4(s, q[u]);
      if (staged && j0 + u * step < p.body4) staged[j0 + u * step] = q[u];
    }
  }
  return block_reduce(s, CombineStatsOp{}, SoftmaxStats{-INFINITY, 0.0f, 0.0f});
}

// dz_j = a (softmax(z)_j - [j = target]) for the row z with statistics s, its
// float4s in staged (each read back by the thread of row_stats that wrote it:
// no barrier needed); head and tail scalars are read again from z (cache).
// dz must have z's alignment modulo 16 bytes, so its body is aligned too.
__device__ void write_softmax_minus_onehot(const float* z, float* dz, long long V, SoftmaxStats s,
                                           float a, long long target, const float4* staged) {
  const RowParts p = row_parts(z, V);
  const float inv_sum = 1.0f / s.sum;
  auto grad = [&](float zj, long long j) {
    return a * (expf(zj - s.max) * inv_sum - (j == target ? 1.0f : 0.0f));
  };
  if ((int)threadIdx.x < p.head) dz[threadIdx.x] = grad(z[threadIdx.x], threadIdx.x);
  const long long t = p.tail + threadIdx.x;
  if (t < V) dz[t] = grad(z[t], t);
  float4* body = reinterpret_cast<float4*>(dz + p.head);
  for (long long j = threadIdx.x; j < p.body4; j += blockDim.x) {
    const float4 q = staged[j];
    const long long c = p.head + 4 * j;
    body[j] = make_float4(grad(q.x, c), grad(q.y, c + 1), grad(q.z, c + 2), grad(q.w, c + 3));
  }
}

// row_loss_i = m_i (log sum_j exp(z_ij) - z_i,t_i), 0 where m_i = 0 (not read at all).
// One block per row (512 threads for a vocabulary row): one float4 pass
// (row_stats), one block reduction.
__global__ void __launch_bounds__(1024)
    cross_entropy_rows_kernel(const float* logits, const float* targets, const float* mask,
                              float* row_loss, long long N, long long V) {
  for (long long i = blockIdx.x; i < N; i += gridDim.x) {
    if (mask[i] == 0.0f) {
      if (threadIdx.x == 0) row_loss[i] = 0.0f;
      continue;
    }
    const float* z = logits + i * V;
    const SoftmaxStats s = row_stats(z, V, nullptr);
    if (threadIdx.x == 0) {
      float t = targets[i];
      row_loss[i] = valid_id(t, V) ? mask[i] * (log_sum_exp(s) - z[(long long)t]) : NAN;
    }
  }
}

// loss = sum_i row_loss_i / max(1, sum_i m_i). One block; strided reads of the
// N row losses and mask values, sums in double, one block reduction each.
__global__ void cross_entropy_finish_kernel(const float* row_loss, const float* mask, float* loss,
                                            long long N) {
  double total = 0.0, count = 0.0;
  for (long long i = threadIdx.x; i < N; i += blockDim.x) {
    total += row_loss[i];
    count += mask[i];
  }
  total = block_sum(total);
  count = block_sum(count);
  if (threadIdx.x == 0) loss[0] = (float)(total / (count > 1.0 ? count : 1.0));
}

// scale = dloss / max(1, sum_i m_i), left on the device for the backward rows.
// One block; strided reads of the mask, a double block sum.
__global__ void mask_scale_kernel(const float* mask, float dloss, float* scale, long long N) {
  double count = 0.0;
  for (long long i = threadIdx.x; i < N; i += blockDim.x) count += mask[i];
  count = block_sum(count);
  if (threadIdx.x == 0) scale[0] = (float)((double)dloss / (count > 1.0 ? count : 1.0));
}

// dz_ij = scale m_i (softmax(z_i)_j - [j = t_i]); a row with m_i = 0 is all zeros.
// The generic kernel, for rows too long for shared memory: one block per row,
// threads striding it; pass 1 is block_max_sum_exp, pass 2 re-reads the row
// (from L2 while it is still there) and writes dz.
__global__ void cross_entropy_backward_kernel(const float* logits, const float* targets,
                                              const float* mask, const float* scale,
                                              float* dlogits, long long N, long long V) {
  for (long long i = blockIdx.x; i < N; i += gridDim.x) {
    float* dz = dlogits + i * V;
    if (mask[i] == 0.0f) {
      for (long long j = threadIdx.x; j < V; j += blockDim.x) dz[j] = 0.0f;
      continue;
    }
    const float* z = logits + i * V;
    MaxSumExp s = block_max_sum_exp(z, V);
    float t = targets[i];
    bool valid = valid_id(t, V);
    long long target = valid ? (long long)t : -1;
    float row_scale = valid ? scale[0] * mask[i] : NAN;
    float inv_sum = 1.0f / s.sum;
    for (long long j = threadIdx.x; j < V; j += blockDim.x)
      dz[j] = row_scale * (expf(z[j] - s.max) * inv_sum - (j == target ? 1.0f : 0.0f));
  }
}

// dz_ij = scale m_i (softmax(z_i)_j - [j = t_i]); a row with m_i = 0 is all zeros.
// One block per row (1024 threads for a vocabulary row, whose 201 KB of
// shared memory leave one block per multiprocessor), the row's float4s kept in
// dynamic shared memory: one float4 pass reading z (row_stats), one block
// reduction, one float4 pass writing dz from shared memory. About 77% of copy
// bandwidth on an H100 at [2048, 50257], whatever the block size: the
// multiprocessor's one block idles while it reduces.
__global__ void __launch_bounds__(1024)
    cross_entropy_backward_staged_kernel(const float* logits, const float* targets,
                                         const float* mask, const float* scale, float* dlogits,
                                         long long N, long long V) {
  extern __shared__ float4 staged[];
  for (long long i = blockIdx.x; i < N; i += gridDim.x) {
    float* dz = dlogits + i * V;
    if (mask[i] == 0.0f) {
      for (long long j = threadIdx.x; j < V; j += blockDim.x) dz[j] = 0.0f;
      continue;
    }
    const float* z = logits + i * V;
    const SoftmaxStats s = row_stats(z, V, staged);
    const float t = targets[i];
    const bool valid = valid_id(t, V);
    const float row_scale = valid ? scale[0] * mask[i] : NAN;
    write_softmax_minus_onehot(z, dz, V, s, row_scale, valid ? (long long)t : -1, staged);
  }
}

// out_i = z_i,t_i - log sum_j exp(z_ij)
// One block per row (512 threads for a vocabulary row): one float4 pass
// (row_stats), one block reduction.
__global__ void __launch_bounds__(1024)
    token_logprobs_kernel(const float* logits, const float* tokens, float* out, long long N,
                          long long V) {
  for (long long i = blockIdx.x; i < N; i += gridDim.x) {
    const float* z = logits + i * V;
    const SoftmaxStats s = row_stats(z, V, nullptr);
    if (threadIdx.x == 0) {
      float t = tokens[i];
      out[i] = valid_id(t, V) ? z[(long long)t] - log_sum_exp(s) : NAN;
    }
  }
}

// dz_ij = dout_i ([j = t_i] - softmax(z_i)_j) = -dout_i (softmax(z_i)_j - [j = t_i])
// As cross_entropy_backward_staged_kernel: the row kept in shared memory.
__global__ void __launch_bounds__(1024)
    token_logprobs_backward_staged_kernel(const float* logits, const float* tokens,
                                          const float* dout, float* dlogits, long long N,
                                          long long V) {
  extern __shared__ float4 staged[];
  for (long long i = blockIdx.x; i < N; i += gridDim.x) {
    const float* z = logits + i * V;
    const SoftmaxStats s = row_stats(z, V, staged);
    const float t = tokens[i];
    const bool valid = valid_id(t, V);
    write_softmax_minus_onehot(z, dlogits + i * V, V, s, valid ? -dout[i] : NAN,
                               valid ? (long long)t : -1, staged);
  }
}

// dz_ij = dout_i ([j = t_i] - softmax(z_i)_j)
// The generic kernel, for rows too long for shared memory: as
// cross_entropy_backward_kernel.
__global__ void token_logprobs_backward_kernel(const float* logits, const float* tokens,
                                               const float* dout, float* dlogits, long long N,
                                               long long V) {
  for (long long i = blockIdx.x; i < N; i += gridDim.x) {
    const float* z = logits + i * V;
    float* dz = dlogits + i * V;
    MaxSumExp s = block_max_sum_exp(z, V);
    float t = tokens[i];
    bool valid = valid_id(t, V);
    long long token = valid ? (long long)t : -1;
    float d = valid ? dout[i] : NAN;
    float inv_sum = 1.0f / s.sum;
    for (long long j = threadIdx.x; j < V; j += blockDim.x)
      dz[j] = d * ((j == token ? 1.0f : 0.0f) - expf(z[j] - s.max) * inv_sum);
  }
}

// H_i = -sum_j p_j log p_j = log S - sum_j p_j (z_j - max), p = softmax(z_i);
// terms with p_j = 0 add nothing (the limit p log p -> 0), as on the CPU.
// One block per row (512 threads for a vocabulary row): one float4 pass
// (row_stats keeps sum_j e_j (z_j - max) as it goes), one block reduction.
__global__ void __launch_bounds__(1024)
    softmax_entropy_kernel(const float* logits, float* out, long long N, long long V) {
  for (long long i = blockIdx.x; i < N; i += gridDim.x) {
    const SoftmaxStats s = row_stats(logits + i * V, V, nullptr);
    if (threadIdx.x == 0) out[i] = logf(s.sum) - s.weighted / s.sum;
  }
}

// Dynamic shared memory for a staged backward kernel's row (its float4s), or
// -1 when the row does not fit or dz is not aligned as z is (modulo 16 bytes).
int64_t staged_bytes(const float* logits, const float* dlogits, int64_t V) {
  const int64_t bytes = V / 4 * (int64_t)sizeof(float4);
  if ((uintptr_t)logits % 16 != (uintptr_t)dlogits % 16) return -1;
  if (bytes > max_shared_bytes_per_block() - kStaticSharedReserve) return -1;
  return bytes;
}

}  // namespace

// loss = sum_i m_i (log sum_j exp(z_ij) - z_i,t_i) / max(1, sum_i m_i)
void cross_entropy(const float* logits, const float* targets, const float* mask, float* loss,
                   int64_t N, int64_t V) {
  if (N <= 0) {
    fill(loss, 1, 0.0f);  // 0 / max(1, 0), as on the CPU
    return;
  }
  float* row_loss = alloc(N);
  const int threads = row_threads(V, kForwardElementsPerThread);
  cross_entropy_rows_kernel<<<row_blocks(N), threads, 0, stream()>>>(logits, targets, mask,
                                                                     row_loss, N, V);
  AHA_CUDA_CHECK(cudaGetLastError());
  cross_entropy_finish_kernel<<<1, kReduceThreads, 0, stream()>>>(row_loss, mask, loss, N);
  AHA_CUDA_CHECK(cudaGetLastError());
  free(row_loss);  // the next user of this block queues behind the kernels above
}

// dz_ij = dloss m_i (softmax(z_i)_j - [j = t_i]) / max(1, sum m)
void cross_entropy_backward(const float* logits, const float* targets, const float* mask,
                            float dloss, float* dlogits, int64_t N, int64_t V) {
  if (N <= 0 || V <= 0) return;
  float* scale = alloc(1);
  mask_scale_kernel<<<1, kReduceThreads, 0, stream()>>>(mask, dloss, scale, N);
  AHA_CUDA_CHECK(cudaGetLastError());
  const int64_t bytes = staged_bytes(logits, dlogits, V);
  if (bytes >= 0) {
    const auto kernel = cross_entropy_backward_staged_kernel;
    AHA_CUDA_CHECK(
        cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, (int)bytes));
    kernel<<<row_blocks(N), row_threads(V), bytes, stream()>>>(logits, targets, mask, scale,
                                                               dlogits, N, V);
  } else {
    const int threads = row_threads(V, kRowElementsPerThreadBackward);
    cross_entropy_backward_kernel<<<row_blocks(N), threads, 0, stream()>>>(logits, targets, mask,
                                                                           scale, dlogits, N, V);
  }
  AHA_CUDA_CHECK(cudaGetLastError());
  free(scale);
}

void token_logprobs(const float* logits, const float* tokens, float* out, int64_t N, int64_t V) {
  if (N <= 0) return;
  const int threads = row_threads(V, kForwardElementsPerThread);
  token_logprobs_kernel<<<row_blocks(N), threads, 0, stream()>>>(logits, tokens, out, N, V);
  AHA_CUDA_CHECK(cudaGetLastError());
}

void token_logprobs_backward(const float* logits, const float* tokens, const float* dout,
                             float* dlogits, int64_t N, int64_t V) {
  if (N <= 0 || V <= 0) return;
  const int64_t bytes = staged_bytes(logits, dlogits, V);
  if (bytes >= 0) {
    const auto kernel = token_logprobs_backward_staged_kernel;
    AHA_CUDA_CHECK(
        cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, (int)bytes));
    kernel<<<row_blocks(N), row_threads(V), bytes, stream()>>>(logits, tokens, dout, dlogits, N,
                                                               V);
  } else {
    const int threads = row_threads(V, kRowElementsPerThreadBackward);
    token_logprobs_backward_kernel<<<row_blocks(N), threads, 0, stream()>>>(logits, tokens, dout,
                                                                            dlogits, N, V);
  }
  AHA_CUDA_CHECK(cudaGetLastError());
}

void softmax_entropy(const float* logits, float* out, int64_t N, int64_t V) {
  if (N <= 0) return;
  const int threads = row_threads(V, kForwardElementsPerThread);
  softmax_entropy_kernel<<<row_blocks(N), threads, 0, stream()>>>(logits, out, N, V);
  AHA_CUDA_CHECK(cudaGetLastError());
}

}  // namespace cuda
}  // namespace aha

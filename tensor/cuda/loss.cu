// Losses and per-token quantities computed straight from logits z [N, V],
// without materialising the softmax: cross-entropy (pretraining), the
// log-probability of chosen tokens (the GRPO ratio and KL), and entropy.
// Mirrors tensor/cpu/loss.cpp. Every row kernel is one block per row of V
// logits (up to 1024 threads striding the row): pass 1 is the online
// (max, sum exp) of block_reduce.cuh with warp shuffles, pass 2 (where there is
// one) re-reads the row, mostly from L2. A bad target id, where the CPU throws,
// makes that row's output NaN (token_id.cuh).
#include "tensor/cuda/block_reduce.cuh"
#include "tensor/cuda/kernels.h"
#include "tensor/cuda/launch.cuh"
#include "tensor/cuda/stream.h"
#include "tensor/cuda/token_id.cuh"

namespace aha {
namespace cuda {

namespace {

constexpr int kReduceThreads = 256;

// log sum_j exp(z_j) = max + log S
__device__ __forceinline__ float log_sum_exp(MaxSumExp s) { return s.max + logf(s.sum); }

// row_loss_i = m_i (log sum_j exp(z_ij) - z_i,t_i), 0 where m_i = 0 (not read at all).
__global__ void cross_entropy_rows_kernel(const float* logits, const float* targets,
                                          const float* mask, float* row_loss, long long N,
                                          long long V) {
  for (long long i = blockIdx.x; i < N; i += gridDim.x) {
    if (mask[i] == 0.0f) {
      if (threadIdx.x == 0) row_loss[i] = 0.0f;
      continue;
    }
    const float* z = logits + i * V;
    MaxSumExp s = block_max_sum_exp(z, V);
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

// out_i = z_i,t_i - log sum_j exp(z_ij)
__global__ void token_logprobs_kernel(const float* logits, const float* tokens, float* out,
                                      long long N, long long V) {
  for (long long i = blockIdx.x; i < N; i += gridDim.x) {
    const float* z = logits + i * V;
    MaxSumExp s = block_max_sum_exp(z, V);
    if (threadIdx.x == 0) {
      float t = tokens[i];
      out[i] = valid_id(t, V) ? z[(long long)t] - log_sum_exp(s) : NAN;
    }
  }
}

// dz_ij = dout_i ([j = t_i] - softmax(z_i)_j)
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
__global__ void softmax_entropy_kernel(const float* logits, float* out, long long N, long long V) {
  for (long long i = blockIdx.x; i < N; i += gridDim.x) {
    const float* z = logits + i * V;
    MaxSumExp s = block_max_sum_exp(z, V);
    float inv_sum = 1.0f / s.sum;
    float partial = 0.0f;
    for (long long j = threadIdx.x; j < V; j += blockDim.x) {
      float p = expf(z[j] - s.max) * inv_sum;
      if (p > 0.0f) partial += p * (z[j] - s.max);
    }
    float weighted = block_sum(partial);
    if (threadIdx.x == 0) out[i] = logf(s.sum) - weighted;
  }
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
  cross_entropy_rows_kernel<<<row_blocks(N), row_threads(V), 0, stream()>>>(logits, targets, mask,
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
  const int threads = row_threads(V, kRowElementsPerThreadBackward);
  cross_entropy_backward_kernel<<<row_blocks(N), threads, 0, stream()>>>(logits, targets, mask,
                                                                         scale, dlogits, N, V);
  AHA_CUDA_CHECK(cudaGetLastError());
  free(scale);
}

void token_logprobs(const float* logits, const float* tokens, float* out, int64_t N, int64_t V) {
  if (N <= 0) return;
  token_logprobs_kernel<<<row_blocks(N), row_threads(V), 0, stream()>>>(logits, tokens, out, N, V);
  AHA_CUDA_CHECK(cudaGetLastError());
}

void token_logprobs_backward(const float* logits, const float* tokens, const float* dout,
                             float* dlogits, int64_t N, int64_t V) {
  if (N <= 0 || V <= 0) return;
  const int threads = row_threads(V, kRowElementsPerThreadBackward);
  token_logprobs_backward_kernel<<<row_blocks(N), threads, 0, stream()>>>(logits, tokens, dout,
                                                                          dlogits, N, V);
  AHA_CUDA_CHECK(cudaGetLastError());
}

void softmax_entropy(const float* logits, float* out, int64_t N, int64_t V) {
  if (N <= 0) return;
  softmax_entropy_kernel<<<row_blocks(N), row_threads(V), 0, stream()>>>(logits, out, N, V);
  AHA_CUDA_CHECK(cudaGetLastError());
}

}  // namespace cuda
}  // namespace aha

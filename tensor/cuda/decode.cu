// Batched decoding with a KV cache held in place: cache writes, one-query
// attention over the cache (fp32, or bf16 two values a word), and the sampling
// step on the device, so a decode step needs no host round trip. Inference
// only. Mirrors tensor/cpu/decode.cpp.
#include "tensor/cuda/bf16.cuh"

#include <algorithm>
#include <cmath>
#include <stdexcept>
#include <string>

#include "tensor/cuda/block_reduce.cuh"
#include "tensor/cuda/kernels.h"
#include "tensor/cuda/launch.cuh"
#include "tensor/cuda/stream.h"
#include "tensor/random.h"

namespace aha {
namespace cuda {

namespace {

// cache[b, h, start + t, d] = src[b, t, column + h*D + d]
// Grid-stride over the B*Tn*H*D copied values with d fastest: both the read of
// src and the write of the cache are coalesced runs of D floats.
__global__ void kv_cache_write_kernel(float* cache, const float* src, long long B, long long H, long long Tmax,
                                      long long D, long long Tn, long long S, long long column, long long start,
                                      const float* clock) {
  if (clock) start += (long long)*clock;
  if (start < 0 || start + Tn > Tmax) return;  // a clock past the cache: nothing to write
  const long long n = B * Tn * H * D;
  for (long long i = blockIdx.x * (long long)blockDim.x + threadIdx.x; i < n; i += (long long)gridDim.x * blockDim.x) {
    const long long d = i % D, h = (i / D) % H, t = (i / (D * H)) % Tn, b = i / (D * H * Tn);
    cache[((b * H + h) * Tmax + start + t) * D + d] = src[(b * Tn + t) * S + column + h * D + d];
  }
}

constexpr int kAttentionThreads = 128;

// Shared floats the decode attention kernels give q: D rounded up to 8, so the
// scores after it start 32-byte aligned and a wide read of q's last floats
// (the compiler may load q 4 at a time) never touches them.
__host__ __device__ inline int q_room(int D) { return (D + 7) / 8 * 8; }

//   s_j = q . k_j / sqrt(D) for j in [pads[b], length),   y = sum_j softmax(s)_j v_j
// One block per (head, row): grid (H, B), 128 threads (or D rounded up to a
// warp when D > 128). q and the scores live in shared memory (q_room(D) + length floats).
// Scores: thread per key, reading the key's D floats as float4 (the cache rows
// of one (b, h) are contiguous, so the block reads one contiguous slab); a block
// max and sum give the softmax. Output: the threads split into groups, each
// group sums over every groups-th key, its threads reading the key's value row
// as float4s (coalesced), and the groups' partial sums add up through shared
// memory in a fixed order.
__global__ void decode_attention_kernel(const float* qkv, long long S, long long column, const float* keys,
                                        const float* values, const float* pads, float* y, long long H,
                                        long long Tmax, int D, long long length, const float* clock) {
  if (clock) length = min(length + (long long)*clock, Tmax);
  extern __shared__ float4 shared4[];  // float4: 16-byte aligned for the float4 reads of q
  float* shared = reinterpret_cast<float*>(shared4);
  float* q = shared;             // [D]
  float* p = shared + q_room(D);  // [length]: scores, then exp(s - max)
  const long long h = blockIdx.x, b = blockIdx.y;
  const long long bh = b * H + h;
  const float* k = keys + bh * Tmax * D;
  const float* v = values + bh * Tmax * D;
  for (int d = threadIdx.x; d < D; d += blockDim.x) q[d] = qkv[b * S + column + h * D + d];
  __syncthreads();
  const long long first = (long long)pads[b];
  const float scale = rsqrtf((float)D);
  float local_max = -INFINITY;
  for (long long j = first + threadIdx.x; j < length; j += blockDim.x) {
    float s = 0.0f;
    if (D % 4 == 0) {
      const float4* k4 = reinterpret_cast<const float4*>(k + j * D);
      const float4* q4 = reinterpret_cast<const float4*>(q);
      for (int d = 0; d < D / 4; ++d) {
        const float4 a = k4[d], c = q4[d];
        s += a.x * c.x + a.y * c.y + a.z * c.z + a.w * c.w;
      }
    } else {
      for (int d = 0; d < D; ++d) s += k[j * D + d] * q[d];
    }
    s *= scale;
    p[j - first] = s;
    local_max = fmaxf(local_max, s);
  }
  const float top = block_max(local_max);
  float local_sum = 0.0f;
  for (long long j = first + threadIdx.x; j < length; j += blockDim.x) {
    const float e = expf(p[j - first] - top);
    p[j - first] = e;
    local_sum += e;
  }
  const float sum = block_sum(local_sum);  // its barriers also publish p
  // Output. With D % 4 == 0 a key's value row is read by D/4 threads, one float4
  // each, so a block of 128 threads has 512 / D keys in flight (8 at D = 64)
  // and each thread's loop is unrolled for more; else one thread per column.
  const bool vector = D % 4 == 0;
  const int lanes = vector ? D / 4 : D;                   // threads per key
  const int groups = max(1, (int)blockDim.x / lanes);     // keys read at once
  const int group = threadIdx.x / lanes, lane = threadIdx.x % lanes;
  float4 acc = make_float4(0.0f, 0.0f, 0.0f, 0.0f);
  if (group < groups) {
    if (vector) {
#pragma unroll 4
      for (long long j = first + group; j < length; j += groups) {
        const float w = p[j - first];
        const float4 x = reinterpret_cast<const float4*>(v + j * D)[lane];
        acc.x += w * x.x, acc.y += w * x.y, acc.z += w * x.z, acc.w += w * x.w;
      }
    } else {
      for (long long j = first + group; j < length; j += groups) acc.x += p[j - first] * v[j * D + lane];
    }
  }
  __syncthreads();  // every thread is done with p: reuse it for the groups' partial sums [groups, D]
  if (group < groups) {
    if (vector) reinterpret_cast<float4*>(p + group * D)[lane] = acc;  // p + group*D: 16-byte aligned (D % 4 == 0)
    else p[group * D + lane] = acc.x;
  }
  __syncthreads();
  for (int d = threadIdx.x; d < D; d += blockDim.x) {
    float total = 0.0f;
    for (int g = 0; g < groups; ++g) total += p[g * D + d];
    y[b * H * D + h * D + d] = first < length ? total / sum : 0.0f;
  }
}

// ---- the bf16 cache: [B, H, Tmax, D/2] floats, each word two bf16 (tensor/ops.h) ----

// bf16_round (tensor/cuda/bf16.cuh): round to nearest even, NaN -> 0x7fff.
// bf16_low / bf16_high (bf16.cuh): the two values of a word, widened exactly.

// The 8 values of a uint4 (16 bytes of a cache row), widened.
__device__ __forceinline__ void widen8(const uint4 u, float x[8]) {
  x[0] = bf16_low(u.x), x[1] = bf16_high(u.x), x[2] = bf16_low(u.y), x[3] = bf16_high(u.y);
  x[4] = bf16_low(u.z), x[5] = bf16_high(u.z), x[6] = bf16_low(u.w), x[7] = bf16_high(u.w);
}

// Element d of a bf16 cache row.
__device__ __forceinline__ float bf16_at(const float* row, int d) {
  const unsigned int word = __float_as_uint(row[d / 2]);
  return d % 2 == 0 ? bf16_low(word) : bf16_high(word);
}

// word i of cache row (b, h, start + t) = bf16(x[2i]) | bf16(x[2i + 1]) << 16, x = src[b, t, column + h*D ..]
// Grid-stride over the B*Tn*H*(D/2) words with i fastest: each thread reads two
// adjacent floats and writes one word, both coalesced.
__global__ void kv_cache_write_bf16_kernel(float* cache, const float* src, long long B, long long H, long long Tmax,
                                           long long D, long long Tn, long long S, long long column,
                                           long long start, const float* clock) {
  if (clock) start += (long long)*clock;
  if (start < 0 || start + Tn > Tmax) return;  // a clock past the cache: nothing to write
  const long long W = D / 2, n = B * Tn * H * W;
  for (long long i = blockIdx.x * (long long)blockDim.x + threadIdx.x; i < n; i += (long long)gridDim.x * blockDim.x) {
    const long long w = i % W, h = (i / W) % H, t = (i / (W * H)) % Tn, b = i / (W * H * Tn);
    const float* x = src + (b * Tn + t) * S + column + h * D + 2 * w;
    cache[((b * H + h) * Tmax + start + t) * W + w] = __uint_as_float(bf16_pack(x[0], x[1]));
  }
}

// decode_attention_kernel reading a bf16 cache: the same block per (head, row),
// the same phases and shared memory (q, then the scores, then the groups'
// partial sums), half the bytes. With D % 8 == 0 rows are read as uint4, 8
// values a load: a thread's key in the scores phase is D/8 loads (the block
// still reads one contiguous slab), and a value row is read by D/8 threads, so
// a block of 128 threads has 1024 / D keys in flight (16 at D = 64). Otherwise
// one value at a time, one thread per column. Every product and sum is fp32.
__global__ void decode_attention_bf16_kernel(const float* qkv, long long S, long long column, const float* keys,
                                             const float* values, const float* pads, float* y, long long H,
                                             long long Tmax, int D, long long length, const float* clock) {
  if (clock) length = min(length + (long long)*clock, Tmax);
  extern __shared__ float4 shared4[];  // float4: 16-byte aligned for the float4 reads of q
  float* shared = reinterpret_cast<float*>(shared4);
  float* q = shared;             // [D]
  float* p = shared + q_room(D);  // [length]: scores, then exp(s - max)
  const long long h = blockIdx.x, b = blockIdx.y;
  const long long bh = b * H + h, W = D / 2;  // W: words per cache row
  const float* k = keys + bh * Tmax * W;
  const float* v = values + bh * Tmax * W;
  for (int d = threadIdx.x; d < D; d += blockDim.x) q[d] = qkv[b * S + column + h * D + d];
  __syncthreads();
  const bool vector = D % 8 == 0;
  const long long first = (long long)pads[b];
  const float scale = rsqrtf((float)D);
  float local_max = -INFINITY;
  for (long long j = first + threadIdx.x; j < length; j += blockDim.x) {
    float s = 0.0f;
    if (vector) {
      const uint4* k8 = reinterpret_cast<const uint4*>(k + j * W);
      const float4* q4 = reinterpret_cast<const float4*>(q);
      for (int c = 0; c < D / 8; ++c) {
        float x[8];
        widen8(k8[c], x);
        const float4 a = q4[2 * c], e = q4[2 * c + 1];
        s += x[0] * a.x + x[1] * a.y + x[2] * a.z + x[3] * a.w + x[4] * e.x + x[5] * e.y + x[6] * e.z + x[7] * e.w;
      }
    } else {
      for (int d = 0; d < D; ++d) s += bf16_at(k + j * W, d) * q[d];
    }
    s *= scale;
    p[j - first] = s;
    local_max = fmaxf(local_max, s);
  }
  const float top = block_max(local_max);
  float local_sum = 0.0f;
  for (long long j = first + threadIdx.x; j < length; j += blockDim.x) {
    const float e = expf(p[j - first] - top);
    p[j - first] = e;
    local_sum += e;
  }
  const float sum = block_sum(local_sum);  // its barriers also publish p
  const int lanes = vector ? D / 8 : D;                   // threads per key
  const int groups = max(1, (int)blockDim.x / lanes);     // keys read at once
  const int group = threadIdx.x / lanes, lane = threadIdx.x % lanes;
  float acc[8] = {0.0f, 0.0f, 0.0f, 0.0f, 0.0f, 0.0f, 0.0f, 0.0f};
  if (group < groups) {
    if (vector) {
#pragma unroll 4
      for (long long j = first + group; j < length; j += groups) {
        const float w = p[j - first];
        float x[8];
        widen8(reinterpret_cast<const uint4*>(v + j * W)[lane], x);
        for (int i = 0; i < 8; ++i) acc[i] += w * x[i];
      }
    } else {
      for (long long j = first + group; j < length; j += groups) acc[0] += p[j - first] * bf16_at(v + j * W, lane);
    }
  }
  __syncthreads();  // every thread is done with p: reuse it for the groups' partial sums [groups, D]
  if (group < groups) {
    if (vector) {  // p + group*D + 8*lane: 16-byte aligned (D % 8 == 0)
      float4* out = reinterpret_cast<float4*>(p + group * D + 8 * lane);
      out[0] = make_float4(acc[0], acc[1], acc[2], acc[3]);
      out[1] = make_float4(acc[4], acc[5], acc[6], acc[7]);
    } else {
      p[group * D + lane] = acc[0];
    }
  }
  __syncthreads();
  for (int d = threadIdx.x; d < D; d += blockDim.x) {
    float total = 0.0f;
    for (int g = 0; g < groups; ++g) total += p[g * D + d];
    y[b * H * D + h * D + d] = first < length ? total / sum : 0.0f;
  }
}

// The (value, index) of the larger logit, the lower index on ties: the
// CPU's "first strict maximum". NaN never wins a comparison.
__device__ __forceinline__ void arg_max_combine(float& value, int& index, float other, int other_index) {
  if (other > value || (other == value && other_index < index)) value = other, index = other_index;
}

constexpr int kSampleRowsPerBlock = 4;

// The sampling step of tensor/cpu/decode.cpp (the equations are there).
// Block (32, 4): one warp per row of logits, lanes stride the V logits. Max and
// argmax and the exp-sum are warp shuffles; the inverse CDF walks the row in
// chunks of 32 with an inclusive warp scan and a ballot for the first id whose
// cumulative mass passes u * sum. Lane 0 then does the row's bookkeeping.
__global__ void sample_step_kernel(const float* logits, const float* rows, const float* prompt_lengths, float* done,
                                   float* lengths, float* tokens, float* logprobs, float* policy_logprobs,
                                   float* next_tokens, float* next_positions, long long Bc, long long V,
                                   SampleStepConfig c, const float* clock) {
  if (clock) c.step += (long long)*clock;
  if (c.step >= c.max_new) return;  // a clock past the records: nothing to draw
  const long long i = blockIdx.x * (long long)kSampleRowsPerBlock + threadIdx.y;
  if (i >= Bc) return;  // whole warps leave together: no block barrier below
  const int lane = threadIdx.x;
  const long long row = (long long)rows[i];
  if (done[row] != 0.0f) {
    if (lane == 0) next_tokens[i] = next_positions[i] = 0.0f;
    return;
  }
  const float* z = logits + i * V;
  const float inv_t = c.greedy ? 1.0f : 1.0f / c.temperature;
  float max = -INFINITY;
  int argmax = 0;
  bool nan = false;
  for (long long j = lane; j < V; j += kWarpSize) {
    nan = nan || isnan(z[j]);
    arg_max_combine(max, argmax, z[j] * inv_t, (int)j);
  }
  for (int offset = kWarpSize / 2; offset > 0; offset /= 2) {
    const float other = __shfl_xor_sync(kFullWarp, max, offset);
    const int other_index = __shfl_xor_sync(kFullWarp, argmax, offset);
    arg_max_combine(max, argmax, other, other_index);
  }
  nan = __any_sync(kFullWarp, nan);
  float sum = 0.0f;
  for (long long j = lane; j < V; j += kWarpSize) sum += expf(z[j] * inv_t - max);
  sum = warp_reduce(sum, SumOp{});
  long long tok = argmax;
  if (!c.greedy) {
    const float target = rng::uniform(c.seed, (uint64_t)(row * c.max_new + c.step)) * sum;
    float running = 0.0f;
    long long last_possible = argmax;
    for (long long base = 0; base < V; base += kWarpSize) {
      const long long j = base + lane;
      const float e = j < V ? expf(z[j] * inv_t - max) : 0.0f;
      float cumulative = e;  // inclusive scan over the chunk
      for (int offset = 1; offset < kWarpSize; offset *= 2) {
        const float before = __shfl_up_sync(kFullWarp, cumulative, offset);
        if (lane >= offset) cumulative += before;
      }
      cumulative += running;
      const unsigned passed = __ballot_sync(kFullWarp, e > 0.0f && target < cumulative);
      const unsigned possible = __ballot_sync(kFullWarp, e > 0.0f);
      if (passed) {
        tok = base + __ffs(passed) - 1;
        last_possible = -1;
        break;
      }
      if (possible) last_possible = base + 31 - __clz(possible);
      running = __shfl_sync(kFullWarp, cumulative, kWarpSize - 1);
    }
    if (last_possible >= 0) tok = last_possible;  // rounding left the target above the total
  }
  if (lane != 0) return;
  if (nan || !isfinite(max)) tok = -1;
  const float policy = tok < 0 ? NAN : z[tok] * inv_t - max - logf(sum);
  const long long count = c.step + 1, at = row * c.max_new + c.step;
  tokens[at] = (float)tok;
  logprobs[at] = c.greedy ? 0.0f : policy;
  policy_logprobs[at] = policy;
  lengths[row] = (float)count;
  bool stop = tok < 0 || tok == c.eos_token || count >= c.max_new || prompt_lengths[row] + count > c.context;
  for (int s = 0; s < c.num_stop_tokens; ++s) stop = stop || tok == c.stop_tokens[s];
  done[row] = stop ? 1.0f : 0.0f;
  next_tokens[i] = stop ? 0.0f : (float)tok;
  next_positions[i] = stop ? 0.0f : prompt_lengths[row] + (float)c.step;
}

}  // namespace

namespace {

// The launch shape both decode attention kernels take: a block per (head, row)
// of at least kAttentionThreads threads (a whole number of warps covering D),
// and shared memory for q and for p, which holds the scores (one float per
// cached position), later the groups' partial sums (partials_per_thread
// floats a thread). With a clock the length is only known on the device: room
// for the whole cache.
struct AttentionLaunch {
  int threads;
  size_t shared;
};

AttentionLaunch attention_launch(const char* op, int64_t D, int64_t Tmax, int64_t length, const float* clock,
                                 int partials_per_thread) {
  const int threads = D <= kAttentionThreads ? kAttentionThreads : (int)((D + kWarpSize - 1) / kWarpSize * kWarpSize);
  const int64_t longest = clock ? Tmax : length;
  const size_t shared = sizeof(float) * (size_t)(q_room((int)D) +
                                                 std::max<int64_t>(longest, partials_per_thread * (int64_t)threads));
  if (shared > 48 * 1024)
    throw std::runtime_error(std::string(op) + ": " + std::to_string(longest) + " cached positions of head size " +
                             std::to_string(D) + " need more than 48 KiB of shared memory");
  return {threads, shared};
}

}  // namespace

void kv_cache_write(float* cache, const float* src, int64_t B, int64_t H, int64_t Tmax, int64_t D, int64_t Tn,
                    int64_t S, int64_t column, int64_t start, const float* clock) {
  const int64_t n = B * Tn * H * D;
  if (n <= 0) return;
  kv_cache_write_kernel<<<grid_for(n), kThreads, 0, stream()>>>(cache, src, B, H, Tmax, D, Tn, S, column, start,
                                                                clock);
  AHA_CUDA_CHECK(cudaGetLastError());
}

void decode_attention(const float* qkv, int64_t S, int64_t column, const float* keys, const float* values,
                      const float* pads, float* y, int64_t B, int64_t H, int64_t Tmax, int64_t D, int64_t length,
                      const float* clock) {
  if (B <= 0 || H <= 0 || D <= 0) return;
  const AttentionLaunch launch = attention_launch("decode_attention", D, Tmax, length, clock, 4);
  const int threads = launch.threads;
  const size_t shared = launch.shared;
  for (int64_t b0 = 0; b0 < B; b0 += kMaxGridYZ) {  // gridDim.y stops at 65535
    const int64_t rows = std::min<int64_t>(kMaxGridYZ, B - b0);
    dim3 grid((unsigned)H, (unsigned)rows);
    decode_attention_kernel<<<grid, threads, shared, stream()>>>(qkv + b0 * S, S, column, keys + b0 * H * Tmax * D,
                                                                 values + b0 * H * Tmax * D, pads + b0,
                                                                 y + b0 * H * D, H, Tmax, (int)D, length, clock);
    AHA_CUDA_CHECK(cudaGetLastError());
  }
}

void kv_cache_write_bf16(float* cache, const float* src, int64_t B, int64_t H, int64_t Tmax, int64_t D, int64_t Tn,
                         int64_t S, int64_t column, int64_t start, const float* clock) {
  const int64_t n = B * Tn * H * (D / 2);
  if (n <= 0) return;
  kv_cache_write_bf16_kernel<<<grid_for(n), kThreads, 0, stream()>>>(cache, src, B, H, Tmax, D, Tn, S, column,
                                                                     start, clock);
  AHA_CUDA_CHECK(cudaGetLastError());
}

void decode_attention_bf16(const float* qkv, int64_t S, int64_t column, const float* keys, const float* values,
                           const float* pads, float* y, int64_t B, int64_t H, int64_t Tmax, int64_t D, int64_t length,
                           const float* clock) {
  if (B <= 0 || H <= 0 || D <= 0) return;
  // D/8 threads per key, D floats of partial sums each: 8 * threads floats.
  const AttentionLaunch launch = attention_launch("decode_attention_bf16", D, Tmax, length, clock, 8);
  const int threads = launch.threads;
  const size_t shared = launch.shared;
  const int64_t W = D / 2;
  for (int64_t b0 = 0; b0 < B; b0 += kMaxGridYZ) {  // gridDim.y stops at 65535
    const int64_t rows = std::min<int64_t>(kMaxGridYZ, B - b0);
    dim3 grid((unsigned)H, (unsigned)rows);
    decode_attention_bf16_kernel<<<grid, threads, shared, stream()>>>(
        qkv + b0 * S, S, column, keys + b0 * H * Tmax * W, values + b0 * H * Tmax * W, pads + b0, y + b0 * H * D, H,
        Tmax, (int)D, length, clock);
    AHA_CUDA_CHECK(cudaGetLastError());
  }
}

void sample_step(const float* logits, const float* rows, const float* prompt_lengths, float* done, float* lengths,
                 float* tokens, float* logprobs, float* policy_logprobs, float* next_tokens, float* next_positions,
                 int64_t Bc, int64_t V, const SampleStepConfig& config, const float* clock) {
  if (Bc <= 0) return;
  dim3 block(kWarpSize, kSampleRowsPerBlock);
  const unsigned blocks = (unsigned)((Bc + kSampleRowsPerBlock - 1) / kSampleRowsPerBlock);
  sample_step_kernel<<<blocks, block, 0, stream()>>>(logits, rows, prompt_lengths, done, lengths, tokens, logprobs,
                                                     policy_logprobs, next_tokens, next_positions, Bc, V, config,
                                                     clock);
  AHA_CUDA_CHECK(cudaGetLastError());
}

}  // namespace cuda
}  // namespace aha

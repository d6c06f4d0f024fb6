// Fused causal self-attention on the GPU, flash-style (FlashAttention-2, Dao
// 2023): the [T, T] scores never leave the multiprocessor. Mirrors
// tensor/cpu/attention.cpp (the equations are there); q, k, v, y [B, T, H*D]
// with the heads interleaved along the last dim, lse [B, H, T].
//
// Every kernel works on 64 x 64 tiles of (query, key) pairs with a 16 x 16 grid
// of threads: thread (ty, tx) holds the 4 x 4 scores of rows ty + 16i and
// columns tx + 16j, and the 4 x N outputs of rows ty + 16i, columns
// tx*N .. tx*N + N - 1 (N = DMAX/16). Each kernel is compiled for DMAX = 16, 32
// or 64 columns and takes any head dim D <= DMAX (shared-memory columns past D
// hold zeros). A row's 16 threads are 16 lanes of one warp, so row max and row
// sum are warp shuffles. Tiles of q, k, v, dy sit in shared memory with rows
// padded to DMAX + 4 floats, so the float4 reads of 8 different rows fall in 8
// different bank groups. Tiles above the diagonal (every key
// after every query) are skipped. Plain fp32 FMAs: the results match the CPU's
// to float rounding. Scores are kept in base 2 (q pre-scaled by log2(e)/sqrt(D)),
// so each exponential is one exp2f.
//
// The backward is deterministic (no atomics): one kernel over query tiles
// computes dQ and D_i, then one over key tiles computes dK and dV, each
// rebuilding P from lse.
//
// While TF32 is on (tensor/ops.h set_tf32, the default) head dims 32 and 64 run
// on the tensor-core kernels of tensor/cuda/attention_tc.cu instead; these fp32
// kernels stay for the other head dims and for exact parity with TF32 off.
#include <cmath>
#include <stdexcept>
#include <string>

#include "tensor/cuda/attention_grid.cuh"
#include "tensor/cuda/attention_tc.h"
#include "tensor/cuda/kernels.h"
#include "tensor/cuda/launch.cuh"
#include "tensor/cuda/stream.h"

namespace aha {
namespace cuda {

namespace {

constexpr int kTile = kAttentionTile;          // queries (and keys) per tile (attention_grid.cuh)
constexpr int kTeam = 16;                      // threads that share a row: a 16 x 16 thread grid
constexpr int kAttentionThreads = kTeam * kTeam;
constexpr int kRows = kTile / kTeam;           // rows (and score columns) per thread: 4
constexpr int kProbStride = kTile + 4;         // shared row stride of a [kTile, kTile] probability tile
constexpr float kLog2e = 1.4426950408889634f;
constexpr float kLn2 = 0.6931471805599453f;

__device__ __forceinline__ float4 load4(const float* p) { return *reinterpret_cast<const float4*>(p); }

__device__ __forceinline__ float dot4(float4 a, float4 b, float acc) {
  return fmaf(a.w, b.w, fmaf(a.z, b.z, fmaf(a.y, b.y, fmaf(a.x, b.x, acc))));
}

__device__ __forceinline__ float component(float4 a, int i) {
  return i == 0 ? a.x : i == 1 ? a.y : i == 2 ? a.z : a.w;
}

// Max and sum over the 16 lanes of a row's team (lanes 0-15 or 16-31 of a warp).
__device__ __forceinline__ float team_max(float x) {
  for (int offset = kTeam / 2; offset > 0; offset /= 2) x = fmaxf(x, __shfl_xor_sync(0xffffffffu, x, offset));
  return x;
}
__device__ __forceinline__ float team_sum(float x) {
  for (int offset = kTeam / 2; offset > 0; offset /= 2) x += __shfl_xor_sync(0xffffffffu, x, offset);
  return x;
}

// tile[r, :] = scale * x[row0 + r, :] for the kTile rows of one head (x points
// at the head's first column, row stride C), 0 past T and in the columns
// D .. DMAX - 1 (so they add nothing to any product). Consecutive threads read
// consecutive columns: D contiguous floats per row.
template <int DMAX>
__device__ void load_tile(float* tile, const float* x, int row0, int T, int C, int D, float scale) {
  for (int i = threadIdx.x; i < kTile * DMAX; i += kAttentionThreads) {
    const int r = i / DMAX, d = i % DMAX;
    tile[r * (DMAX + 4) + d] = row0 + r < T && d < D ? x[(long long)(row0 + r) * C + d] * scale : 0.0f;
  }
}

// The D/16 output columns this thread owns of one shared row.
template <int DMAX>
__device__ __forceinline__ void load_columns(const float* row, int tx, float (&out)[DMAX / kTeam]) {
  constexpr int N = DMAX / kTeam;
  if constexpr (N == 4) {
    const float4 a = load4(row + tx * 4);
    out[0] = a.x, out[1] = a.y, out[2] = a.z, out[3] = a.w;
  } else if constexpr (N == 2) {
    const float2 a = *reinterpret_cast<const float2*>(row + tx * 2);
    out[0] = a.x, out[1] = a.y;
  } else {
    for (int e = 0; e < N; ++e) out[e] = row[tx * N + e];
  }
}

// acc[i, :] += sum_c A[ty + 16i, c] * Bt[c, cols] over the kTile columns of the
// shared [kTile, kTile] tile A and the shared [kTile, D] tile Bt: the second
// product of each kernel (P V, dS K, P^T dY, dS^T Q).
template <int DMAX>
__device__ __forceinline__ void accumulate_product(float (&acc)[kRows][DMAX / kTeam], const float* A, const float* Bt,
                                                   int tx, int ty) {
  constexpr int N = DMAX / kTeam;
#pragma unroll 2
  for (int c = 0; c < kTile; c += 4) {
    float4 a[kRows];
#pragma unroll
    for (int i = 0; i < kRows; ++i) a[i] = load4(A + (ty + kTeam * i) * kProbStride + c);
#pragma unroll
    for (int cc = 0; cc < 4; ++cc) {
      float b[N];
      load_columns<DMAX>(Bt + (c + cc) * (DMAX + 4), tx, b);
#pragma unroll
      for (int i = 0; i < kRows; ++i) {
        const float w = component(a[i], cc);
#pragma unroll
        for (int e = 0; e < N; ++e) acc[i][e] = fmaf(w, b[e], acc[i][e]);
      }
    }
  }
}

// s[i][j] = A[ty + 16i, :] . B[tx + 16j, :] over D: the 4 x 4 scores of this
// thread from two shared [kTile, D] tiles (float4 reads; A's are broadcasts).
template <int DMAX>
__device__ __forceinline__ void tile_scores(float (&s)[kRows][kRows], const float* A, const float* B, int tx,
                                            int ty) {
#pragma unroll
  for (int i = 0; i < kRows; ++i)
#pragma unroll
    for (int j = 0; j < kRows; ++j) s[i][j] = 0.0f;
#pragma unroll 4
  for (int d = 0; d < DMAX; d += 4) {
    float4 a[kRows], b[kRows];
#pragma unroll
    for (int i = 0; i < kRows; ++i) a[i] = load4(A + (ty + kTeam * i) * (DMAX + 4) + d);
#pragma unroll
    for (int j = 0; j < kRows; ++j) b[j] = load4(B + (tx + kTeam * j) * (DMAX + 4) + d);
#pragma unroll
    for (int i = 0; i < kRows; ++i)
#pragma unroll
      for (int j = 0; j < kRows; ++j) s[i][j] = dot4(a[i], b[j], s[i][j]);
  }
}

// Forward. Grid (B*H, query tiles), 256 threads, the last (longest) query
// tiles first; shared: Q, K, V tiles and P (72 KB at D = 64). For each key tile
// up to the diagonal: S = Q K^T in registers, the online softmax (running row
// max m and sum l; earlier output rescaled by 2^(m_old - m_new)), P to shared,
// O += P V. Reads q once and k, v once per query tile (from L2); writes y, lse once.
template <int DMAX>
__global__ void __launch_bounds__(kAttentionThreads)
    causal_attention_kernel(const float* q, const float* k, const float* v, float* y, float* lse, int T, int H,
                            int D) {
  constexpr int N = DMAX / kTeam, DP = DMAX + 4;
  extern __shared__ float4 shared4[];
  float* Qs = reinterpret_cast<float*>(shared4);  // [kTile, DP], times log2(e)/sqrt(D)
  float* Ks = Qs + kTile * DP;
  float* Vs = Ks + kTile * DP;
  float* Ps = Vs + kTile * DP;                    // [kTile, kProbStride]
  const int tx = threadIdx.x % kTeam, ty = threadIdx.x / kTeam;
  const int bh = blockIdx.x, b = bh / H, h = bh % H, C = H * D;
  const int q_tile = gridDim.y - 1 - blockIdx.y, q0 = q_tile * kTile;
  const long long head = (long long)b * T * C + (long long)h * D;
  load_tile<DMAX>(Qs, q + head, q0, T, C, D, rsqrtf((float)D) * kLog2e);
  float m[kRows], l[kRows], o[kRows][N];
#pragma unroll
  for (int i = 0; i < kRows; ++i) {
    m[i] = -INFINITY, l[i] = 0.0f;
#pragma unroll
    for (int e = 0; e < N; ++e) o[i][e] = 0.0f;
  }
  for (int k_tile = 0; k_tile <= q_tile; ++k_tile) {
    const int k0 = k_tile * kTile;
    __syncthreads();  // the previous tile's K, V and P are read
    load_tile<DMAX>(Ks, k + head, k0, T, C, D, 1.0f);
    load_tile<DMAX>(Vs, v + head, k0, T, C, D, 1.0f);
    __syncthreads();
    float s[kRows][kRows];
    tile_scores<DMAX>(s, Qs, Ks, tx, ty);
#pragma unroll
    for (int i = 0; i < kRows; ++i) {
      const int r = q0 + ty + kTeam * i;
      float row_max = -INFINITY;
#pragma unroll
      for (int j = 0; j < kRows; ++j) {
        if (k0 + tx + kTeam * j > r) s[i][j] = -INFINITY;  // a future key (key 0 never is: m stays finite)
        row_max = fmaxf(row_max, s[i][j]);
      }
      const float m_new = fmaxf(m[i], team_max(row_max));
      const float rescale = exp2f(m[i] - m_new);
      float row_sum = 0.0f;
#pragma unroll
      for (int j = 0; j < kRows; ++j) {
        const float p = exp2f(s[i][j] - m_new);
        Ps[(ty + kTeam * i) * kProbStride + tx + kTeam * j] = p;
        row_sum += p;
      }
      l[i] = l[i] * rescale + team_sum(row_sum);
      m[i] = m_new;
#pragma unroll
      for (int e = 0; e < N; ++e) o[i][e] *= rescale;
    }
    __syncthreads();
    accumulate_product<DMAX>(o, Ps, Vs, tx, ty);
  }
#pragma unroll
  for (int i = 0; i < kRows; ++i) {
    const int r = q0 + ty + kTeam * i;
    if (r >= T) continue;
    const float inv_l = 1.0f / l[i];
#pragma unroll
    for (int e = 0; e < N; ++e)
      if (tx * N + e < D) y[head + (long long)r * C + tx * N + e] = o[i][e] * inv_l;
    if (tx == 0) lse[(long long)bh * T + r] = (m[i] + log2f(l[i])) * kLn2;
  }
}

// Backward, part 1: dQ = dS K / sqrt(D), and D_i = dy_i . y_i for part 2.
// Grid (B*H, query tiles), 256 threads; shared: Q, dY, K, V tiles and dS
// (87 KB at D = 64). D_i first (y read once), then for each key tile up to the
// diagonal: S = Q K^T and dP = dY V^T in registers, P = 2^(S - lse),
// dS = P (dP - D_i) to shared, dQ += dS K. Writes dq and D_i once.
template <int DMAX>
__global__ void __launch_bounds__(kAttentionThreads)
    causal_attention_dq_kernel(const float* q, const float* k, const float* v, const float* y, const float* lse,
                               const float* dy, float* dq, float* d_rows, int T, int H, int D) {
  constexpr int N = DMAX / kTeam, DP = DMAX + 4;
  extern __shared__ float4 shared4[];
  float* Qs = reinterpret_cast<float*>(shared4);  // [kTile, DP], times log2(e)/sqrt(D)
  float* dYs = Qs + kTile * DP;
  float* Ks = dYs + kTile * DP;
  float* Vs = Ks + kTile * DP;
  float* dSs = Vs + kTile * DP;                   // [kTile, kProbStride]
  const int tx = threadIdx.x % kTeam, ty = threadIdx.x / kTeam;
  const int bh = blockIdx.x, b = bh / H, h = bh % H, C = H * D;
  const int q_tile = gridDim.y - 1 - blockIdx.y, q0 = q_tile * kTile;
  const long long head = (long long)b * T * C + (long long)h * D;
  load_tile<DMAX>(Qs, q + head, q0, T, C, D, rsqrtf((float)D) * kLog2e);
  load_tile<DMAX>(dYs, dy + head, q0, T, C, D, 1.0f);
  __syncthreads();
  float lse2[kRows], d_row[kRows];  // lse in base 2; D_i
#pragma unroll
  for (int i = 0; i < kRows; ++i) {
    const int r = q0 + ty + kTeam * i;
    float part = 0.0f;
    if (r < T) {
      float g[N];
      load_columns<DMAX>(dYs + (ty + kTeam * i) * DP, tx, g);
#pragma unroll
      for (int e = 0; e < N; ++e)
        if (tx * N + e < D) part = fmaf(g[e], y[head + (long long)r * C + tx * N + e], part);
    }
    d_row[i] = team_sum(part);
    lse2[i] = r < T ? lse[(long long)bh * T + r] * kLog2e : 0.0f;
    if (tx == 0 && r < T) d_rows[(long long)bh * T + r] = d_row[i];
  }
  float acc[kRows][N];
#pragma unroll
  for (int i = 0; i < kRows; ++i)
#pragma unroll
    for (int e = 0; e < N; ++e) acc[i][e] = 0.0f;
  for (int k_tile = 0; k_tile <= q_tile; ++k_tile) {
    const int k0 = k_tile * kTile;
    __syncthreads();  // the previous tile's K and dS are read
    load_tile<DMAX>(Ks, k + head, k0, T, C, D, 1.0f);
    load_tile<DMAX>(Vs, v + head, k0, T, C, D, 1.0f);
    __syncthreads();
    float s[kRows][kRows], dp[kRows][kRows];
    tile_scores<DMAX>(s, Qs, Ks, tx, ty);
    tile_scores<DMAX>(dp, dYs, Vs, tx, ty);
#pragma unroll
    for (int i = 0; i < kRows; ++i) {
      const int r = q0 + ty + kTeam * i;
#pragma unroll
      for (int j = 0; j < kRows; ++j) {
        const int c = k0 + tx + kTeam * j;
        const float p = c <= r && r < T ? exp2f(s[i][j] - lse2[i]) : 0.0f;
        dSs[(ty + kTeam * i) * kProbStride + tx + kTeam * j] = p * (dp[i][j] - d_row[i]);
      }
    }
    __syncthreads();
    accumulate_product<DMAX>(acc, dSs, Ks, tx, ty);
  }
  const float scale = rsqrtf((float)D);
#pragma unroll
  for (int i = 0; i < kRows; ++i) {
    const int r = q0 + ty + kTeam * i;
    if (r >= T) continue;
#pragma unroll
    for (int e = 0; e < N; ++e)
      if (tx * N + e < D) dq[head + (long long)r * C + tx * N + e] = acc[i][e] * scale;
  }
}

// Backward, part 2: dV = P^T dY and dK = dS^T Q / sqrt(D) for one key tile.
// Grid (B*H, key tiles), 256 threads, the first (longest) key tiles first;
// shared: K, V, Q, dY tiles, P^T and dS^T, lse and D_i of the query tile
// (104 KB at D = 64). For each query tile from the diagonal on: S^T = K Q^T and
// dP^T = V dY^T in registers (thread rows are keys, columns queries), P^T and
// dS^T to shared, dV += P^T dY, dK += dS^T Q. Writes dk, dv once.
template <int DMAX>
__global__ void __launch_bounds__(kAttentionThreads)
    causal_attention_dkdv_kernel(const float* q, const float* k, const float* v, const float* lse,
                                 const float* d_rows, const float* dy, float* dk, float* dv, int T, int H,
                                 int D) {
  constexpr int N = DMAX / kTeam, DP = DMAX + 4;
  extern __shared__ float4 shared4[];
  float* Ks = reinterpret_cast<float*>(shared4);  // [kTile, DP]
  float* Vs = Ks + kTile * DP;
  float* Qs = Vs + kTile * DP;                    // times log2(e)/sqrt(D)
  float* dYs = Qs + kTile * DP;
  float* Pts = dYs + kTile * DP;                  // [kTile keys, kProbStride]
  float* dSts = Pts + kTile * kProbStride;
  float* lse2s = dSts + kTile * kProbStride;      // [kTile]
  float* d_rows_s = lse2s + kTile;                // [kTile]
  const int tx = threadIdx.x % kTeam, ty = threadIdx.x / kTeam;
  const int bh = blockIdx.x, b = bh / H, h = bh % H, C = H * D;
  const int k_tile = blockIdx.y, k0 = k_tile * kTile, q_tiles = gridDim.y;
  const long long head = (long long)b * T * C + (long long)h * D;
  load_tile<DMAX>(Ks, k + head, k0, T, C, D, 1.0f);
  load_tile<DMAX>(Vs, v + head, k0, T, C, D, 1.0f);
  float acc_k[kRows][N], acc_v[kRows][N];
#pragma unroll
  for (int i = 0; i < kRows; ++i)
#pragma unroll
    for (int e = 0; e < N; ++e) acc_k[i][e] = acc_v[i][e] = 0.0f;
  for (int q_tile = k_tile; q_tile < q_tiles; ++q_tile) {
    const int q0 = q_tile * kTile;
    __syncthreads();  // the previous tile's Q, dY, P^T, dS^T are read
    load_tile<DMAX>(Qs, q + head, q0, T, C, D, rsqrtf((float)D) * kLog2e);
    load_tile<DMAX>(dYs, dy + head, q0, T, C, D, 1.0f);
    for (int i = threadIdx.x; i < kTile; i += kAttentionThreads) {
      const int r = q0 + i;
      lse2s[i] = r < T ? lse[(long long)bh * T + r] * kLog2e : 0.0f;
      d_rows_s[i] = r < T ? d_rows[(long long)bh * T + r] : 0.0f;
    }
    __syncthreads();
    float st[kRows][kRows], dpt[kRows][kRows];
    tile_scores<DMAX>(st, Ks, Qs, tx, ty);
    tile_scores<DMAX>(dpt, Vs, dYs, tx, ty);
#pragma unroll
    for (int i = 0; i < kRows; ++i) {
      const int c = k0 + ty + kTeam * i;  // key
#pragma unroll
      for (int j = 0; j < kRows; ++j) {
        const int jj = tx + kTeam * j, r = q0 + jj;  // query
        const float p = c <= r && r < T ? exp2f(st[i][j] - lse2s[jj]) : 0.0f;
        Pts[(ty + kTeam * i) * kProbStride + jj] = p;
        dSts[(ty + kTeam * i) * kProbStride + jj] = p * (dpt[i][j] - d_rows_s[jj]);
      }
    }
    __syncthreads();
    accumulate_product<DMAX>(acc_v, Pts, dYs, tx, ty);
    accumulate_product<DMAX>(acc_k, dSts, Qs, tx, ty);
  }
  // Q was scaled by log2(e)/sqrt(D): dS^T (that Q) ln 2 = dS^T Q / sqrt(D).
#pragma unroll
  for (int i = 0; i < kRows; ++i) {
    const int c = k0 + ty + kTeam * i;
    if (c >= T) continue;
#pragma unroll
    for (int e = 0; e < N; ++e) {
      if (tx * N + e >= D) continue;
      dk[head + (long long)c * C + tx * N + e] = acc_k[i][e] * kLn2;
      dv[head + (long long)c * C + tx * N + e] = acc_v[i][e];
    }
  }
}

// Dynamic shared memory of each kernel, in bytes.
template <int DMAX>
constexpr int forward_shared() { return (3 * kTile * (DMAX + 4) + kTile * kProbStride) * (int)sizeof(float); }
template <int DMAX>
constexpr int dq_shared() { return (4 * kTile * (DMAX + 4) + kTile * kProbStride) * (int)sizeof(float); }
template <int DMAX>
constexpr int dkdv_shared() {
  return (4 * kTile * (DMAX + 4) + 2 * kTile * kProbStride + 2 * kTile) * (int)sizeof(float);
}

// Head dims 1..64 run on kernels compiled for the next of 16, 32, 64 columns
// (the columns past D are zeros in shared memory).
template <int DMAX>
void forward(const float* q, const float* k, const float* v, float* y, float* lse, int64_t B, int64_t T,
             int64_t H, int64_t D) {
  static const bool opted_in = allow_shared(causal_attention_kernel<DMAX>, forward_shared<DMAX>());
  (void)opted_in;
  causal_attention_kernel<DMAX><<<attention_grid(B, T, H), kAttentionThreads, forward_shared<DMAX>(), stream()>>>(
      q, k, v, y, lse, (int)T, (int)H, (int)D);
  AHA_CUDA_CHECK(cudaGetLastError());
}

template <int DMAX>
void backward(const float* q, const float* k, const float* v, const float* y, const float* lse, const float* dy,
              float* dq, float* dk, float* dv, int64_t B, int64_t T, int64_t H, int64_t D) {
  static const bool opted_in = allow_shared(causal_attention_dq_kernel<DMAX>, dq_shared<DMAX>()) &&
                               allow_shared(causal_attention_dkdv_kernel<DMAX>, dkdv_shared<DMAX>());
  (void)opted_in;
  float* d_rows = alloc(B * H * T);  // D_i, [B, H, T]; freed in stream order
  causal_attention_dq_kernel<DMAX><<<attention_grid(B, T, H), kAttentionThreads, dq_shared<DMAX>(), stream()>>>(
      q, k, v, y, lse, dy, dq, d_rows, (int)T, (int)H, (int)D);
  AHA_CUDA_CHECK(cudaGetLastError());
  causal_attention_dkdv_kernel<DMAX>
      <<<attention_grid(B, T, H), kAttentionThreads, dkdv_shared<DMAX>(), stream()>>>(q, k, v, lse, d_rows, dy, dk,
                                                                                      dv, (int)T, (int)H, (int)D);
  AHA_CUDA_CHECK(cudaGetLastError());
  free(d_rows);
}

void check_sizes(const char* op, int64_t B, int64_t T, int64_t H, int64_t D) {
  if (D < 1 || D > 64)
    throw std::runtime_error(std::string(op) + " (CUDA): head dim D = " + std::to_string(D) +
                             " is not supported (the kernels take D <= 64)");
  if (B * H > 0x7fffffff || T * H * D > 0x7fffffff)
    throw std::runtime_error(std::string(op) + " (CUDA): B*H = " + std::to_string(B * H) + " or T*C = " +
                             std::to_string(T * H * D) + " exceeds 2^31 - 1");
}

}  // namespace

void causal_attention(const float* q, const float* k, const float* v, float* y, float* lse, int64_t B, int64_t T,
                      int64_t H, int64_t D) {
  check_sizes("causal_attention", B, T, H, D);
  if (cuda::tf32_enabled() && attention_tc_supports(D)) causal_attention_tc(q, k, v, y, lse, B, T, H, D);
  else if (D <= 16) forward<16>(q, k, v, y, lse, B, T, H, D);
  else if (D <= 32) forward<32>(q, k, v, y, lse, B, T, H, D);
  else forward<64>(q, k, v, y, lse, B, T, H, D);
}

void causal_attention_backward(const float* q, const float* k, const float* v, const float* y, const float* lse,
                               const float* dy, float* dq, float* dk, float* dv, int64_t B, int64_t T, int64_t H,
                               int64_t D) {
  check_sizes("causal_attention_backward", B, T, H, D);
  if (cuda::tf32_enabled() && attention_tc_supports(D))
    causal_attention_backward_tc(q, k, v, y, lse, dy, dq, dk, dv, B, T, H, D);
  else if (D <= 16) backward<16>(q, k, v, y, lse, dy, dq, dk, dv, B, T, H, D);
  else if (D <= 32) backward<32>(q, k, v, y, lse, dy, dq, dk, dv, B, T, H, D);
  else backward<64>(q, k, v, y, lse, dy, dq, dk, dv, B, T, H, D);
}

}  // namespace cuda
}  // namespace aha

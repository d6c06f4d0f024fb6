// Fused causal self-attention on the tensor cores: the kernels of
// tensor/cuda/attention.cu (same equations, same tiles, same deterministic
// two-kernel backward), with every product of two tiles done by WMMA in TF32
// (m16n16k8: 10-bit mantissa products, fp32 sums). The softmax statistics
// (row max m, sum l, lse, D_i) and all storage stay fp32, as cuBLAS's TF32 mode
// does for the unfused matmuls. Used only while TF32 is on (tensor/ops.h
// set_tf32) and D is 32 or 64; attention.cu's fp32 kernels do the rest.
//
// A block is 4 warps over one 64-row tile; warp w owns rows 16w .. 16w + 15 of
// it, so its products are 16 x 64 (scores) and 16 x D (outputs). Scores go from
// the accumulator fragments to the warp's own 16 rows of a shared scratch tile,
// where lane (2 row + half) owns row `row`, columns half, half + 2, ... for the
// softmax; the result (P or dS, rounded to TF32) goes back in place as the next
// product's A operand. Tiles that are only B operands sit in shared memory
// already rounded to TF32 (rows padded to D + 4 floats); the warp's own A
// operands (Q, dY; K, V in the dK dV kernel) live in registers for the whole
// kernel. In a diagonal tile warp w's 16 queries see only the first w + 1
// 16-key blocks, so the products skip the blocks past them.
//
// The streamed tiles (K, V; Q, dY) go global -> shared by cp.async, with no
// register staging (which spilled); each thread then scales and rounds the
// elements it copied, in place. The first one is in flight while the kernel
// stages its own rows. (Double-buffering them measured slower: the second
// buffer costs a resident block per multiprocessor, and 3 blocks hide more.)
#include <mma.h>

#include <cmath>
#include <stdexcept>
#include <string>

#include "tensor/cuda/attention_tc.h"
#include "tensor/cuda/kernels.h"
#include "tensor/cuda/launch.cuh"
#include "tensor/cuda/stream.h"

namespace aha {
namespace cuda {

namespace {

using namespace nvcuda;

constexpr int kTile = kAttentionTile;              // queries (and keys) per tile (attention_tc.h)
constexpr int kWarpRows = 16;                      // tile rows per warp: the WMMA M
constexpr int kWarps = kTile / kWarpRows;          // 4
constexpr int kTcThreads = kWarps * 32;
// Blocks resident per multiprocessor the kernels are built for: 3 x 70 KB of
// shared memory, and at most 170 registers per thread (64 K registers).
constexpr int kTcBlocksPerSM = 3;
constexpr int kBlocks = kTile / 16;                // 16-column blocks of a score row
constexpr int kSteps = kTile / 8;                  // k-steps of 8 over a tile's 64 rows
constexpr int kScoreStride = kTile + 4;            // shared row stride of a score tile
constexpr int kPairs = kTile / 2;                  // score columns per lane
constexpr float kLog2e = 1.4426950408889634f;
constexpr float kLn2 = 0.6931471805599453f;

using FragA = wmma::fragment<wmma::matrix_a, 16, 16, 8, wmma::precision::tf32, wmma::row_major>;
using FragBCol = wmma::fragment<wmma::matrix_b, 16, 16, 8, wmma::precision::tf32, wmma::col_major>;
using FragBRow = wmma::fragment<wmma::matrix_b, 16, 16, 8, wmma::precision::tf32, wmma::row_major>;
using FragC = wmma::fragment<wmma::accumulator, 16, 16, 8, float>;

__device__ __forceinline__ float tf32(float x) { return wmma::__float_to_tf32(x); }

// tile[r, :] = scale * x[row0 + r, :] for kTile rows of one head (x points at
// the head's first column, row stride C), 0 past T; rounded to TF32 when it is
// a B operand. Block-wide, float4: D/4 consecutive threads read one row.
template <int D>
__device__ void load_tile(float* tile, int ld, const float* x, int row0, int T, int C, float scale, bool round) {
  constexpr int kVecs = D / 4;
  for (int i = threadIdx.x; i < kTile * kVecs; i += kTcThreads) {
    const int r = i / kVecs, c = (i % kVecs) * 4;
    float4 a = make_float4(0.0f, 0.0f, 0.0f, 0.0f);
    if (row0 + r < T) a = *reinterpret_cast<const float4*>(x + (long long)(row0 + r) * C + c);
    a = make_float4(a.x * scale, a.y * scale, a.z * scale, a.w * scale);
    if (round) a = make_float4(tf32(a.x), tf32(a.y), tf32(a.z), tf32(a.w));
    *reinterpret_cast<float4*>(tile + r * ld + c) = a;
  }
}

__device__ __forceinline__ void cp_async16(float* dst, const float* src) {
  const unsigned d = (unsigned)__cvta_generic_to_shared(dst);
  asm volatile("cp.async.cg.shared.global [%0], [%1], 16;\n" ::"r"(d), "l"(src));
}
__device__ __forceinline__ void cp_async4(float* dst, const float* src) {
  const unsigned d = (unsigned)__cvta_generic_to_shared(dst);
  asm volatile("cp.async.ca.shared.global [%0], [%1], 4;\n" ::"r"(d), "l"(src));
}
__device__ __forceinline__ void cp_async_commit() { asm volatile("cp.async.commit_group;\n" ::); }
__device__ __forceinline__ void cp_async_wait_all() { asm volatile("cp.async.wait_group 0;\n" ::: "memory"); }

// Starts the copy of the two streamed tiles of one step (K and V, or Q and dY;
// rows row0 .. row0 + kTile - 1, row stride D + 4) into shared memory by
// cp.async, zeros past T; finish_tile_pair completes it. Block-wide: D/4
// consecutive threads copy one row, 16 bytes each.
template <int D>
__device__ void issue_tile_pair(float* tile0, const float* x0, float* tile1, const float* x1, int row0, int T,
                                int C) {
  constexpr int kVecs = D / 4, DP = D + 4;
#pragma unroll
  for (int i = threadIdx.x; i < kTile * kVecs; i += kTcThreads) {
    const int r = i / kVecs, c = (i % kVecs) * 4;
    if (row0 + r < T) {
      cp_async16(tile0 + r * DP + c, x0 + (long long)(row0 + r) * C + c);
      cp_async16(tile1 + r * DP + c, x1 + (long long)(row0 + r) * C + c);
    } else {
      *reinterpret_cast<float4*>(tile0 + r * DP + c) = make_float4(0.0f, 0.0f, 0.0f, 0.0f);
      *reinterpret_cast<float4*>(tile1 + r * DP + c) = make_float4(0.0f, 0.0f, 0.0f, 0.0f);
    }
  }
}

// Waits for this thread's copies, then tile0 = tf32(scale0 tile0), tile1 =
// tf32(tile1) over the elements it copied (so no other thread's; a
// __syncthreads must follow before the tiles are read).
template <int D>
__device__ void finish_tile_pair(float* tile0, float scale0, float* tile1) {
  constexpr int kVecs = D / 4, DP = D + 4;
  cp_async_wait_all();
#pragma unroll
  for (int i = threadIdx.x; i < kTile * kVecs; i += kTcThreads) {
    const int r = i / kVecs, c = (i % kVecs) * 4;
    float4* a = reinterpret_cast<float4*>(tile0 + r * DP + c);
    float4* b = reinterpret_cast<float4*>(tile1 + r * DP + c);
    const float4 x = *a, y = *b;
    *a = make_float4(tf32(x.x * scale0), tf32(x.y * scale0), tf32(x.z * scale0), tf32(x.w * scale0));
    *b = make_float4(tf32(y.x), tf32(y.y), tf32(y.z), tf32(y.w));
  }
}

// The warp's 16 rows of a staged tile (row stride ld) as D/8 A fragments.
template <int D>
__device__ void load_a(FragA (&a)[D / 8], const float* rows, int ld) {
#pragma unroll
  for (int s = 0; s < D / 8; ++s) {
    wmma::load_matrix_sync(a[s], rows + s * 8, ld);
#pragma unroll
    for (int t = 0; t < a[s].num_elements; ++t) a[s].x[t] = tf32(a[s].x[t]);
  }
}

// out[:, 16n .. 16n + 15] = A B[16n .. 16n + 15, :]^T for the blocks n in
// [n_begin, n_end): A the warp's 16 x D rows (fragments), B a shared [kTile, D]
// tile; out the warp's scratch rows (stride kScoreStride).
template <int D>
__device__ void warp_scores(float* out, const FragA (&a)[D / 8], const float* B, int n_begin, int n_end) {
#pragma unroll
  for (int n = 0; n < kBlocks; ++n) {
    if (n < n_begin || n >= n_end) continue;
    FragC acc;
    wmma::fill_fragment(acc, 0.0f);
#pragma unroll
    for (int s = 0; s < D / 8; ++s) {
      FragBCol b;
      wmma::load_matrix_sync(b, B + n * 16 * (D + 4) + s * 8, D + 4);
      wmma::mma_sync(acc, a[s], b, acc);
    }
    wmma::store_matrix_sync(out + n * 16, acc, kScoreStride, wmma::mem_row_major);
  }
}

// acc += A[:, 8s .. 8s + 7] B[8s .. 8s + 7, :] for the k-steps s in [s_begin,
// s_end): A the warp's 16 x kTile scratch rows (P or dS), B a shared [kTile, D]
// tile (V, K, dY or Q).
template <int D>
__device__ void warp_product(FragC (&acc)[D / 16], const float* A, const float* B, int s_begin, int s_end) {
#pragma unroll
  for (int s = 0; s < kSteps; ++s) {
    if (s < s_begin || s >= s_end) continue;
    FragA a;
    wmma::load_matrix_sync(a, A + s * 8, kScoreStride);
#pragma unroll
    for (int n = 0; n < D / 16; ++n) {
      FragBRow b;
      wmma::load_matrix_sync(b, B + s * 8 * (D + 4) + n * 16, D + 4);
      wmma::mma_sync(acc[n], a, b, acc[n]);
    }
  }
}

// x[row0 + r, :] = scale * rows[r, :] for the warp's 16 scratch rows, rows past
// T skipped; float4 stores, D/4 consecutive lanes per row.
template <int D>
__device__ void store_rows(float* x, const float* rows, int row0, int T, int C, float scale) {
  constexpr int kVecs = D / 4;
  for (int i = threadIdx.x % 32; i < kWarpRows * kVecs; i += 32) {
    const int r = i / kVecs, c = (i % kVecs) * 4;
    if (row0 + r >= T) continue;
    const float4 a = *reinterpret_cast<const float4*>(rows + r * kScoreStride + c);
    *reinterpret_cast<float4*>(x + (long long)(row0 + r) * C + c) =
        make_float4(a.x * scale, a.y * scale, a.z * scale, a.w * scale);
  }
}

// Forward. Grid (B*H, query tiles), 128 threads, the last (longest) query
// tiles first; shared: the score tile and the K, V tiles (52 KB at D = 64).
// Per key tile up to the diagonal: S = Q K^T (WMMA), the online softmax in
// fp32 (m, l; O rescaled by 2^(m_old - m_new)), P to scratch, P V (WMMA) to
// scratch, added to the lane's O registers. Reads q once and k, v once per
// query tile; key tile 0 is in flight while Q is staged.
template <int D>
__global__ void __launch_bounds__(kTcThreads, kTcBlocksPerSM)
    causal_attention_tc_kernel(const float* q, const float* k, const float* v, float* y, float* lse, int T, int H) {
  constexpr int DP = D + 4, kTileFloats = kTile * DP;
  extern __shared__ float4 shared4[];
  float* Ss = reinterpret_cast<float*>(shared4);  // [kTile, kScoreStride]
  float* Ks = Ss + kTile * kScoreStride;          // [kTile, DP]
  float* Vs = Ks + kTileFloats;
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32, row = lane / 2, half = lane % 2;
  const int bh = blockIdx.x, b = bh / H, h = bh % H, C = H * D;
  const int q_tile = gridDim.y - 1 - blockIdx.y, q0 = q_tile * kTile;
  const int w0 = q0 + warp * kWarpRows, r = w0 + row;  // the warp's first query; this lane's
  const long long head = (long long)b * T * C + (long long)h * D;
  float* Sw = Ss + warp * kWarpRows * kScoreStride;
  float* srow = Sw + row * kScoreStride;
  issue_tile_pair<D>(Ks, k + head, Vs, v + head, 0, T, C);
  cp_async_commit();
  load_tile<D>(Ss, kScoreStride, q + head, q0, T, C, rsqrtf((float)D) * kLog2e, false);
  __syncthreads();
  FragA qa[D / 8];
  load_a<D>(qa, Sw, kScoreStride);
  float m = -INFINITY, l = 0.0f, o[D / 2];
#pragma unroll
  for (int e = 0; e < D / 2; ++e) o[e] = 0.0f;
  for (int k_tile = 0; k_tile <= q_tile; ++k_tile) {
    const int k0 = k_tile * kTile;
    finish_tile_pair<D>(Ks, 1.0f, Vs);
    __syncthreads();  // K, V are in
    const int n_end = k_tile == q_tile ? warp + 1 : kBlocks;
    warp_scores<D>(Sw, qa, Ks, 0, n_end);
    __syncwarp();
    float s[kPairs], row_max = -INFINITY;
#pragma unroll
    for (int j = 0; j < kPairs; ++j) {
      const int c = 2 * j + half;
      s[j] = k0 + c <= r ? srow[c] : -INFINITY;  // a future key (key 0 never is: m stays finite)
      row_max = fmaxf(row_max, s[j]);
    }
    const float m_new = fmaxf(m, fmaxf(row_max, __shfl_xor_sync(0xffffffffu, row_max, 1)));
    const float rescale = exp2f(m - m_new);
    float row_sum = 0.0f;
#pragma unroll
    for (int j = 0; j < kPairs; ++j) {
      const float p = exp2f(s[j] - m_new);
      srow[2 * j + half] = tf32(p);
      row_sum += p;
    }
    l = l * rescale + row_sum + __shfl_xor_sync(0xffffffffu, row_sum, 1);
    m = m_new;
    __syncwarp();
    FragC pv[D / 16];
#pragma unroll
    for (int n = 0; n < D / 16; ++n) wmma::fill_fragment(pv[n], 0.0f);
    warp_product<D>(pv, Sw, Vs, 0, 2 * n_end);
    __syncwarp();  // P is read: P V goes in its place
#pragma unroll
    for (int n = 0; n < D / 16; ++n) wmma::store_matrix_sync(Sw + n * 16, pv[n], kScoreStride, wmma::mem_row_major);
    __syncwarp();
#pragma unroll
    for (int e = 0; e < D / 2; ++e) o[e] = o[e] * rescale + srow[2 * e + half];
    if (k_tile < q_tile) {
      __syncthreads();  // every warp is done with K, V
      issue_tile_pair<D>(Ks, k + head, Vs, v + head, k0 + kTile, T, C);
      cp_async_commit();
    }
  }
  const float inv_l = 1.0f / l;
  __syncwarp();
#pragma unroll
  for (int e = 0; e < D / 2; ++e) srow[2 * e + half] = o[e] * inv_l;
  __syncwarp();
  store_rows<D>(y + head, Sw, w0, T, C, 1.0f);
  if (half == 0 && r < T) lse[(long long)bh * T + r] = (m + log2f(l)) * kLn2;
}

// Backward, part 1: dQ = dS K / sqrt(D), and D_i = dy_i . y_i for part 2.
// Grid (B*H, query tiles), 128 threads; shared: two score tiles (which first
// stage Q and dY) and the K, V tiles (70 KB at D = 64). Per key tile up to the
// diagonal: S = Q K^T and dP = dY V^T (WMMA) to scratch, P = 2^(S - lse) and
// dS = P (dP - D_i) in fp32, dQ += dS K (WMMA, in fragments). Reads y once
// (straight from global: D_i), writes dq, D_i once.
template <int D>
__global__ void __launch_bounds__(kTcThreads, kTcBlocksPerSM)
    causal_attention_dq_tc_kernel(const float* q, const float* k, const float* v, const float* y, const float* lse,
                                  const float* dy, float* dq, float* d_rows, int T, int H) {
  constexpr int DP = D + 4, kTileFloats = kTile * DP;
  extern __shared__ float4 shared4[];
  float* Ss = reinterpret_cast<float*>(shared4);  // [kTile, kScoreStride]: S, then dS
  float* dPs = Ss + kTile * kScoreStride;
  float* Ks = dPs + kTile * kScoreStride;         // [kTile, DP]
  float* Vs = Ks + kTileFloats;
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32, row = lane / 2, half = lane % 2;
  const int bh = blockIdx.x, b = bh / H, h = bh % H, C = H * D;
  const int q_tile = gridDim.y - 1 - blockIdx.y, q0 = q_tile * kTile;
  const int w0 = q0 + warp * kWarpRows, r = w0 + row;
  const long long head = (long long)b * T * C + (long long)h * D;
  float *Sw = Ss + warp * kWarpRows * kScoreStride, *dPw = dPs + warp * kWarpRows * kScoreStride;
  float *srow = Sw + row * kScoreStride, *dprow = dPw + row * kScoreStride;
  issue_tile_pair<D>(Ks, k + head, Vs, v + head, 0, T, C);
  cp_async_commit();
  load_tile<D>(Ss, kScoreStride, q + head, q0, T, C, rsqrtf((float)D) * kLog2e, false);
  load_tile<D>(dPs, kScoreStride, dy + head, q0, T, C, 1.0f, false);
  __syncthreads();
  FragA qa[D / 8], ga[D / 8];  // Q (times log2(e)/sqrt(D)) and dY rows of this warp
  load_a<D>(qa, Sw, kScoreStride);
  load_a<D>(ga, dPw, kScoreStride);
  float part = 0.0f;
  if (r < T) {
    const float* yrow = y + head + (long long)r * C;
#pragma unroll
    for (int e = 0; e < D / 2; ++e) part = fmaf(dprow[2 * e + half], yrow[2 * e + half], part);
  }
  const float d_row = part + __shfl_xor_sync(0xffffffffu, part, 1);
  const float lse2 = r < T ? lse[(long long)bh * T + r] * kLog2e : 0.0f;  // in base 2
  if (half == 0 && r < T) d_rows[(long long)bh * T + r] = d_row;
  FragC acc[D / 16];
#pragma unroll
  for (int n = 0; n < D / 16; ++n) wmma::fill_fragment(acc[n], 0.0f);
  for (int k_tile = 0; k_tile <= q_tile; ++k_tile) {
    const int k0 = k_tile * kTile;
    finish_tile_pair<D>(Ks, 1.0f, Vs);
    __syncthreads();  // K, V are in
    const int n_end = k_tile == q_tile ? warp + 1 : kBlocks;
    warp_scores<D>(Sw, qa, Ks, 0, n_end);
    warp_scores<D>(dPw, ga, Vs, 0, n_end);
    __syncwarp();
#pragma unroll
    for (int j = 0; j < kPairs; ++j) {
      const int c = 2 * j + half;
      const bool seen = k0 + c <= r && r < T;
      srow[c] = seen ? tf32(exp2f(srow[c] - lse2) * (dprow[c] - d_row)) : 0.0f;
    }
    __syncwarp();
    warp_product<D>(acc, Sw, Ks, 0, 2 * n_end);
    if (k_tile < q_tile) {
      __syncthreads();  // every warp is done with K, V
      issue_tile_pair<D>(Ks, k + head, Vs, v + head, k0 + kTile, T, C);
      cp_async_commit();
    }
  }
  __syncwarp();
#pragma unroll
  for (int n = 0; n < D / 16; ++n) wmma::store_matrix_sync(Sw + n * 16, acc[n], kScoreStride, wmma::mem_row_major);
  __syncwarp();
  store_rows<D>(dq + head, Sw, w0, T, C, rsqrtf((float)D));
}

// One query tile's streamed operands of the dK dV kernel: Q (times
// log2(e)/sqrt(D)) and dY [kTile, D + 4], then lse (base 2) and D_i [kTile].
template <int D>
__host__ __device__ constexpr int dkdv_stage_floats() { return 2 * kTile * (D + 4) + 2 * kTile; }

// Starts the copy of query tile q0's stage (see above); finish_dkdv_stage
// completes it (each thread its own elements).
template <int D>
__device__ void issue_dkdv_stage(float* stage, const float* q, const float* dy, const float* lse,
                                 const float* d_rows, int q0, int T, int C) {
  float *Qs = stage, *dYs = Qs + kTile * (D + 4), *lse2s = dYs + kTile * (D + 4), *d_rows_s = lse2s + kTile;
  issue_tile_pair<D>(Qs, q, dYs, dy, q0, T, C);
  const int i = threadIdx.x;
  if (i < kTile) {
    if (q0 + i < T) {
      cp_async4(lse2s + i, lse + q0 + i);
      cp_async4(d_rows_s + i, d_rows + q0 + i);
    } else {
      lse2s[i] = d_rows_s[i] = 0.0f;
    }
  }
  cp_async_commit();
}
template <int D>
__device__ void finish_dkdv_stage(float* stage) {
  float *Qs = stage, *dYs = Qs + kTile * (D + 4), *lse2s = dYs + kTile * (D + 4);
  finish_tile_pair<D>(Qs, rsqrtf((float)D) * kLog2e, dYs);
  if (threadIdx.x < kTile) lse2s[threadIdx.x] *= kLog2e;
}

// Backward, part 2: dV = P^T dY and dK = dS^T Q / sqrt(D) for one key tile.
// Grid (B*H, key tiles), 128 threads, the first (longest) key tiles first;
// shared: the P^T and dS^T score tiles (which first stage K and V) and one
// query tile's stage (Q, dY, lse, D_i; 70 KB at D = 64). Warps own 16 keys.
// Per query tile from the diagonal on: S^T = K Q^T and dP^T = V dY^T (WMMA) to
// scratch, P^T and dS^T in fp32, dV += P^T dY, dK += dS^T Q (WMMA, in
// fragments). Writes dk, dv once.
template <int D>
__global__ void __launch_bounds__(kTcThreads, kTcBlocksPerSM)
    causal_attention_dkdv_tc_kernel(const float* q, const float* k, const float* v, const float* lse,
                                    const float* d_rows, const float* dy, float* dk, float* dv, int T, int H) {
  constexpr int DP = D + 4;
  extern __shared__ float4 shared4[];
  float* Pts = reinterpret_cast<float*>(shared4);  // [kTile keys, kScoreStride]
  float* dSts = Pts + kTile * kScoreStride;
  float* stage = dSts + kTile * kScoreStride;      // dkdv_stage_floats
  float *Qs = stage, *dYs = Qs + kTile * DP, *lse2s = dYs + kTile * DP, *d_rows_s = lse2s + kTile;
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32, row = lane / 2, half = lane % 2;
  const int bh = blockIdx.x, b = bh / H, h = bh % H, C = H * D;
  const int k_tile = blockIdx.y, k0 = k_tile * kTile, q_tiles = gridDim.y;
  const int w0 = k0 + warp * kWarpRows, c = w0 + row;  // the warp's first key; this lane's
  const long long head = (long long)b * T * C + (long long)h * D;
  const float *lse_h = lse + (long long)bh * T, *d_rows_h = d_rows + (long long)bh * T;
  float *Ptw = Pts + warp * kWarpRows * kScoreStride, *dStw = dSts + warp * kWarpRows * kScoreStride;
  float *ptrow = Ptw + row * kScoreStride, *dstrow = dStw + row * kScoreStride;
  issue_dkdv_stage<D>(stage, q + head, dy + head, lse_h, d_rows_h, k0, T, C);
  load_tile<D>(Pts, kScoreStride, k + head, k0, T, C, 1.0f, false);
  load_tile<D>(dSts, kScoreStride, v + head, k0, T, C, 1.0f, false);
  __syncthreads();
  FragA ka[D / 8], va[D / 8];
  load_a<D>(ka, Ptw, kScoreStride);
  load_a<D>(va, dStw, kScoreStride);
  FragC acc_k[D / 16], acc_v[D / 16];
#pragma unroll
  for (int n = 0; n < D / 16; ++n) wmma::fill_fragment(acc_k[n], 0.0f), wmma::fill_fragment(acc_v[n], 0.0f);
  for (int q_tile = k_tile; q_tile < q_tiles; ++q_tile) {
    const int q0 = q_tile * kTile;
    finish_dkdv_stage<D>(stage);
    __syncthreads();  // the stage is in
    // In the diagonal tile warp w's keys are seen only by the queries from 16w on.
    const int n_begin = q_tile == k_tile ? warp : 0;
    warp_scores<D>(Ptw, ka, Qs, n_begin, kBlocks);
    warp_scores<D>(dStw, va, dYs, n_begin, kBlocks);
    __syncwarp();
#pragma unroll
    for (int j = 0; j < kPairs; ++j) {
      const int jj = 2 * j + half, rq = q0 + jj;
      const bool seen = c <= rq && rq < T;
      const float p = seen ? exp2f(ptrow[jj] - lse2s[jj]) : 0.0f;
      dstrow[jj] = seen ? tf32(p * (dstrow[jj] - d_rows_s[jj])) : 0.0f;
      ptrow[jj] = tf32(p);
    }
    __syncwarp();
    warp_product<D>(acc_v, Ptw, dYs, 2 * n_begin, kSteps);
    warp_product<D>(acc_k, dStw, Qs, 2 * n_begin, kSteps);
    if (q_tile + 1 < q_tiles) {
      __syncthreads();  // every warp is done with the stage
      issue_dkdv_stage<D>(stage, q + head, dy + head, lse_h, d_rows_h, q0 + kTile, T, C);
    }
  }
  __syncwarp();
#pragma unroll
  for (int n = 0; n < D / 16; ++n) {
    wmma::store_matrix_sync(Ptw + n * 16, acc_k[n], kScoreStride, wmma::mem_row_major);
    wmma::store_matrix_sync(dStw + n * 16, acc_v[n], kScoreStride, wmma::mem_row_major);
  }
  __syncwarp();
  // Q was scaled by log2(e)/sqrt(D): dS^T (that Q) ln 2 = dS^T Q / sqrt(D).
  store_rows<D>(dk + head, Ptw, w0, T, C, kLn2);
  store_rows<D>(dv + head, dStw, w0, T, C, 1.0f);
}

// Dynamic shared memory of each kernel, in bytes.
template <int D>
constexpr int forward_shared() { return (kTile * kScoreStride + 2 * kTile * (D + 4)) * (int)sizeof(float); }
template <int D>
constexpr int dq_shared() { return (2 * kTile * kScoreStride + 2 * kTile * (D + 4)) * (int)sizeof(float); }
template <int D>
constexpr int dkdv_shared() {
  return (2 * kTile * kScoreStride + dkdv_stage_floats<D>()) * (int)sizeof(float);
}

template <int D>
void forward(const float* q, const float* k, const float* v, float* y, float* lse, int64_t B, int64_t T,
             int64_t H) {
  static const bool opted_in = allow_shared(causal_attention_tc_kernel<D>, forward_shared<D>());
  (void)opted_in;
  causal_attention_tc_kernel<D><<<attention_grid(B, T, H), kTcThreads, forward_shared<D>(), stream()>>>(
      q, k, v, y, lse, (int)T, (int)H);
  AHA_CUDA_CHECK(cudaGetLastError());
}

template <int D>
void backward(const float* q, const float* k, const float* v, const float* y, const float* lse, const float* dy,
              float* dq, float* dk, float* dv, int64_t B, int64_t T, int64_t H) {
  static const bool opted_in = allow_shared(causal_attention_dq_tc_kernel<D>, dq_shared<D>()) &&
                               allow_shared(causal_attention_dkdv_tc_kernel<D>, dkdv_shared<D>());
  (void)opted_in;
  float* d_rows = alloc(B * H * T);  // D_i, [B, H, T]; freed in stream order
  causal_attention_dq_tc_kernel<D><<<attention_grid(B, T, H), kTcThreads, dq_shared<D>(), stream()>>>(
      q, k, v, y, lse, dy, dq, d_rows, (int)T, (int)H);
  AHA_CUDA_CHECK(cudaGetLastError());
  causal_attention_dkdv_tc_kernel<D><<<attention_grid(B, T, H), kTcThreads, dkdv_shared<D>(), stream()>>>(
      q, k, v, lse, d_rows, dy, dk, dv, (int)T, (int)H);
  AHA_CUDA_CHECK(cudaGetLastError());
  free(d_rows);
}

}  // namespace

bool attention_tc_supports(int64_t D) { return D == 32 || D == 64; }

void causal_attention_tc(const float* q, const float* k, const float* v, float* y, float* lse, int64_t B,
                         int64_t T, int64_t H, int64_t D) {
  if (D == 32) forward<32>(q, k, v, y, lse, B, T, H);
  else if (D == 64) forward<64>(q, k, v, y, lse, B, T, H);
  else throw std::runtime_error("causal_attention (CUDA, tensor cores): head dim D = " + std::to_string(D) +
                                " is not 32 or 64");
}

void causal_attention_backward_tc(const float* q, const float* k, const float* v, const float* y,
                                  const float* lse, const float* dy, float* dq, float* dk, float* dv, int64_t B,
                                  int64_t T, int64_t H, int64_t D) {
  if (D == 32) backward<32>(q, k, v, y, lse, dy, dq, dk, dv, B, T, H);
  else if (D == 64) backward<64>(q, k, v, y, lse, dy, dq, dk, dv, B, T, H);
  else throw std::runtime_error("causal_attention_backward (CUDA, tensor cores): head dim D = " +
                                std::to_string(D) + " is not 32 or 64");
}

}  // namespace cuda
}  // namespace aha

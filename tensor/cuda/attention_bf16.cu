// Fused causal self-attention on bf16 tensor cores, for the mixed-precision
// path (tensor/ops.h "bf16"): q, k, v, y, dy, dq, dk, dv are bf16 [B, T, H*D],
// lse stays float32 [B, H, T]. Same equations, tiles and deterministic
// two-kernel backward as attention_tc.cu (and attention.cu, whose comment
// holds the plan), with every product of two tiles done by WMMA in bf16
// (m16n16k16, fp32 accumulators): a bf16 x bf16 product is exact in fp32, so
// S = Q K^T and dP = dY V^T are the fp32 products of the stored values; only
// P and dS are rounded to bf16 to feed the next product (as FlashAttention-2
// does), and the outputs once when stored. The softmax statistics (row max m,
// sum l, lse, D_i) stay fp32. For head dims 32 and 64; tensor/ops.cpp widens
// the rest to the fp32 kernels.
//
// A block is 4 warps over one 64-row tile; warp w owns rows 16w .. 16w + 15.
// Scores go from the accumulator fragments to the warp's rows of an fp32
// scratch tile, where lane (2 row + half) owns row `row`, column pairs
// (4j + 2 half, 4j + 2 half + 1); it writes P (or dS) in bf16 to the warp's
// rows of a bf16 tile, the next product's A operand. The stored values need
// no scaling or rounding (1/sqrt(D) is applied to the fp32 scores), so tiles
// go global -> shared by cp.async, 16 bytes (8 values) a copy, with rows
// padded to D + 8 values (16 bytes: rows stay aligned and spread over banks).
//
// At gpu-small's shape (B 512, T 256, H 6, D 64) on an H100: forward 0.34 ms,
// backward 1.20 ms; widening to the TF32 kernels took 1.26 and 3.78 ms (those
// kernels on fp32 tensors alone: 0.72 and 2.72 ms).
#include <cuda_bf16.h>
#include <mma.h>

#include <cmath>
#include <stdexcept>
#include <string>

#include "tensor/cuda/attention_tc.h"
#include "tensor/cuda/bf16.cuh"
#include "tensor/cuda/kernels.h"
#include "tensor/cuda/stream.h"

namespace aha {
namespace cuda {

namespace {

using namespace nvcuda;
using bf16 = __nv_bfloat16;

constexpr int kTile = kAttentionTile;        // queries (and keys) per tile (attention_tc.h)
constexpr int kWarpRows = 16;                // tile rows per warp: the WMMA M
constexpr int kWarps = kTile / kWarpRows;    // 4
constexpr int kBf16Threads = kWarps * 32;
// Blocks resident per multiprocessor the kernels are built for: 3 for the
// backward (63 and 71 KB of shared memory; at most 170 registers per thread),
// 4 for the forward (45 KB; 128 registers, which it fits without spilling).
constexpr int kBf16BlocksPerSM = 3;
constexpr int kForwardBlocksPerSM = 4;
constexpr int kBlocks = kTile / 16;          // 16-column blocks of a score row = k-steps over a tile
constexpr int kScoreStride = kTile + 4;      // fp32 row stride of a score tile
constexpr int kProbStride = kTile + 8;       // bf16 row stride of a P or dS tile
constexpr int kPairs = kTile / 4;            // column pairs of a score row per lane
constexpr float kLog2e = 1.4426950408889634f;
constexpr float kLn2 = 0.6931471805599453f;

using FragA = wmma::fragment<wmma::matrix_a, 16, 16, 16, bf16, wmma::row_major>;
using FragBCol = wmma::fragment<wmma::matrix_b, 16, 16, 16, bf16, wmma::col_major>;
using FragBRow = wmma::fragment<wmma::matrix_b, 16, 16, 16, bf16, wmma::row_major>;
using FragC = wmma::fragment<wmma::accumulator, 16, 16, 16, float>;

// Two floats as two bf16 in one 32-bit word (the lower column first), rounded
// as tensor/cuda/bf16.cuh rounds every bf16 of aha.
__device__ __forceinline__ unsigned int pack_bf16(float lo, float hi) { return bf16_round(lo) | (bf16_round(hi) << 16); }

__device__ __forceinline__ void cp_async16(void* dst, const void* src) {
  const unsigned d = (unsigned)__cvta_generic_to_shared(dst);
  asm volatile("cp.async.cg.shared.global [%0], [%1], 16;\n" ::"r"(d), "l"(src));
}
__device__ __forceinline__ void cp_async4(void* dst, const void* src) {
  const unsigned d = (unsigned)__cvta_generic_to_shared(dst);
  asm volatile("cp.async.ca.shared.global [%0], [%1], 4;\n" ::"r"(d), "l"(src));
}
__device__ __forceinline__ void cp_async_commit() { asm volatile("cp.async.commit_group;\n" ::); }
__device__ __forceinline__ void cp_async_wait_all() { asm volatile("cp.async.wait_group 0;\n" ::: "memory"); }

// Starts the copy of rows row0 .. row0 + kTile - 1 of one head (x points at
// its first column, row stride C) into a bf16 tile of row stride ld by
// cp.async; rows past T are zeroed (a NaN there would survive P = 0).
// Block-wide: D/8 consecutive threads copy one row, 16 bytes each; the caller
// commits, waits and syncs.
template <int D>
__device__ void issue_tile(bf16* tile, int ld, const bf16* x, int row0, int T, int C) {
  constexpr int kVecs = D / 8;
#pragma unroll
  for (int i = threadIdx.x; i < kTile * kVecs; i += kBf16Threads) {
    const int r = i / kVecs, c = (i % kVecs) * 8;
    bf16* dst = tile + r * ld + c;
    if (row0 + r < T) cp_async16(dst, x + (long long)(row0 + r) * C + c);
    else *reinterpret_cast<uint4*>(dst) = make_uint4(0u, 0u, 0u, 0u);
  }
}

// The warp's 16 rows of a staged tile (row stride ld) as D/16 A fragments.
template <int D>
__device__ void load_a(FragA (&a)[D / 16], const bf16* rows, int ld) {
#pragma unroll
  for (int s = 0; s < D / 16; ++s) wmma::load_matrix_sync(a[s], rows + s * 16, ld);
}

// out[:, 16n .. 16n + 15] = A B[16n .. 16n + 15, :]^T for the blocks n in
// [n_begin, n_end): A the warp's 16 x D rows (fragments), B a shared bf16
// [kTile, D + 8] tile; out the warp's fp32 scratch rows (stride kScoreStride).
template <int D>
__device__ void warp_scores(float* out, const FragA (&a)[D / 16], const bf16* B, int n_begin, int n_end) {
#pragma unroll
  for (int n = 0; n < kBlocks; ++n) {
    if (n < n_begin || n >= n_end) continue;
    FragC acc;
    wmma::fill_fragment(acc, 0.0f);
#pragma unroll
    for (int s = 0; s < D / 16; ++s) {
      FragBCol b;
      wmma::load_matrix_sync(b, B + n * 16 * (D + 8) + s * 16, D + 8);
      wmma::mma_sync(acc, a[s], b, acc);
    }
    wmma::store_matrix_sync(out + n * 16, acc, kScoreStride, wmma::mem_row_major);
  }
}

// acc += A[:, 16s .. 16s + 15] B[16s .. 16s + 15, :] for the k-steps s in
// [s_begin, s_end): A the warp's 16 x kTile bf16 rows (P or dS, stride
// kProbStride), B a shared bf16 [kTile, D + 8] tile (V, K, dY or Q).
template <int D>
__device__ void warp_product(FragC (&acc)[D / 16], const bf16* A, const bf16* B, int s_begin, int s_end) {
#pragma unroll
  for (int s = 0; s < kBlocks; ++s) {
    if (s < s_begin || s >= s_end) continue;
    FragA a;
    wmma::load_matrix_sync(a, A + s * 16, kProbStride);
#pragma unroll
    for (int n = 0; n < D / 16; ++n) {
      FragBRow b;
      wmma::load_matrix_sync(b, B + s * 16 * (D + 8) + n * 16, D + 8);
      wmma::mma_sync(acc[n], a, b, acc[n]);
    }
  }
}

// x[row0 + r, :] = bf16(scale * rows[r, :]) for the warp's 16 fp32 scratch
// rows, rows past T skipped; 16-byte stores, D/8 consecutive lanes per row.
template <int D>
__device__ void store_rows(bf16* x, const float* rows, int row0, int T, int C, float scale) {
  constexpr int kVecs = D / 8;
  for (int i = threadIdx.x % 32; i < kWarpRows * kVecs; i += 32) {
    const int r = i / kVecs, c = (i % kVecs) * 8;
    if (row0 + r >= T) continue;
    const float4 a = *reinterpret_cast<const float4*>(rows + r * kScoreStride + c);
    const float4 b = *reinterpret_cast<const float4*>(rows + r * kScoreStride + c + 4);
    *reinterpret_cast<uint4*>(x + (long long)(row0 + r) * C + c) =
        make_uint4(pack_bf16(a.x * scale, a.y * scale), pack_bf16(a.z * scale, a.w * scale),
                   pack_bf16(b.x * scale, b.y * scale), pack_bf16(b.z * scale, b.w * scale));
  }
}

// Accumulators -> the warp's fp32 scratch rows (stride kScoreStride).
template <int D>
__device__ void store_acc(float* rows, const FragC (&acc)[D / 16]) {
#pragma unroll
  for (int n = 0; n < D / 16; ++n) wmma::store_matrix_sync(rows + n * 16, acc[n], kScoreStride, wmma::mem_row_major);
}

// Forward. Grid (B*H, query tiles), 128 threads, the last (longest) query
// tiles first; shared: the fp32 score tile, the bf16 P tile (which first
// stages Q) and the K, V tiles (45 KB at D = 64). Per key tile up to the
// diagonal: S = Q K^T (WMMA), the online softmax in fp32 on S log2(e)/sqrt(D)
// (m, l; O rescaled by 2^(m_old - m_new)), P to bf16, P V (WMMA) to scratch,
// added to the lane's O registers. Reads q once and k, v once per query tile.
template <int D>
__global__ void __launch_bounds__(kBf16Threads, kForwardBlocksPerSM)
    causal_attention_bf16_kernel(const bf16* q, const bf16* k, const bf16* v, bf16* y, float* lse, int T, int H) {
  constexpr int LD = D + 8;
  extern __shared__ __align__(128) unsigned char shared_bytes[];
  float* Ss = reinterpret_cast<float*>(shared_bytes);         // [kTile, kScoreStride]: S, then P V
  bf16* Ps = reinterpret_cast<bf16*>(Ss + kTile * kScoreStride);  // [kTile, kProbStride]: Q, then P
  bf16* Ks = Ps + kTile * kProbStride;                         // [kTile, LD]
  bf16* Vs = Ks + kTile * LD;
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32, row = lane / 2, half = lane % 2;
  const int bh = blockIdx.x, b = bh / H, h = bh % H, C = H * D;
  const int q_tile = gridDim.y - 1 - blockIdx.y, q0 = q_tile * kTile;
  const int w0 = q0 + warp * kWarpRows, r = w0 + row;  // the warp's first query; this lane's
  const long long head = (long long)b * T * C + (long long)h * D;
  const float scale = rsqrtf((float)D) * kLog2e;  // scores in base 2
  float* Sw = Ss + warp * kWarpRows * kScoreStride;
  float* srow = Sw + row * kScoreStride;
  bf16* Pw = Ps + warp * kWarpRows * kProbStride;
  bf16* prow = Pw + row * kProbStride;
  issue_tile<D>(Ps, LD, q + head, q0, T, C);
  issue_tile<D>(Ks, LD, k + head, 0, T, C);
  issue_tile<D>(Vs, LD, v + head, 0, T, C);
  cp_async_commit();
  cp_async_wait_all();
  __syncthreads();
  FragA qa[D / 16];
  load_a<D>(qa, Ps + warp * kWarpRows * LD, LD);
  float m = -INFINITY, l = 0.0f, o[D / 2];
#pragma unroll
  for (int e = 0; e < D / 2; ++e) o[e] = 0.0f;
  for (int k_tile = 0; k_tile <= q_tile; ++k_tile) {
    const int k0 = k_tile * kTile;
    cp_async_wait_all();
    __syncthreads();  // K, V are in (and, the first time, every warp holds its Q: P may overwrite it)
    const int n_end = k_tile == q_tile ? warp + 1 : kBlocks;
    warp_scores<D>(Sw, qa, Ks, 0, n_end);
    __syncwarp();
    float2 s[kPairs];
    float row_max = -INFINITY;
#pragma unroll
    for (int j = 0; j < kPairs; ++j) {
      const int c = 4 * j + 2 * half;
      const float2 x = *reinterpret_cast<const float2*>(srow + c);
      // a future key is -inf (key 0 never is: m stays finite)
      s[j] = make_float2(k0 + c <= r ? x.x * scale : -INFINITY, k0 + c + 1 <= r ? x.y * scale : -INFINITY);
      row_max = fmaxf(row_max, fmaxf(s[j].x, s[j].y));
    }
    const float m_new = fmaxf(m, fmaxf(row_max, __shfl_xor_sync(0xffffffffu, row_max, 1)));
    const float rescale = exp2f(m - m_new);
    float row_sum = 0.0f;
#pragma unroll
    for (int j = 0; j < kPairs; ++j) {
      const float p0 = exp2f(s[j].x - m_new), p1 = exp2f(s[j].y - m_new);
      *reinterpret_cast<unsigned int*>(prow + 4 * j + 2 * half) = pack_bf16(p0, p1);
      row_sum += p0 + p1;
    }
    l = l * rescale + row_sum + __shfl_xor_sync(0xffffffffu, row_sum, 1);
    m = m_new;
    __syncwarp();
    FragC pv[D / 16];
#pragma unroll
    for (int n = 0; n < D / 16; ++n) wmma::fill_fragment(pv[n], 0.0f);
    warp_product<D>(pv, Pw, Vs, 0, n_end);
    store_acc<D>(Sw, pv);  // the scores are in registers: P V takes their place
    __syncwarp();
#pragma unroll
    for (int e = 0; e < D / 4; ++e) {
      const float2 x = *reinterpret_cast<const float2*>(srow + 4 * e + 2 * half);
      o[2 * e] = o[2 * e] * rescale + x.x;
      o[2 * e + 1] = o[2 * e + 1] * rescale + x.y;
    }
    if (k_tile < q_tile) {
      __syncthreads();  // every warp is done with K, V
      issue_tile<D>(Ks, LD, k + head, k0 + kTile, T, C);
      issue_tile<D>(Vs, LD, v + head, k0 + kTile, T, C);
      cp_async_commit();
    }
  }
  const float inv_l = 1.0f / l;
  __syncwarp();
#pragma unroll
  for (int e = 0; e < D / 4; ++e)
    *reinterpret_cast<float2*>(srow + 4 * e + 2 * half) = make_float2(o[2 * e] * inv_l, o[2 * e + 1] * inv_l);
  __syncwarp();
  store_rows<D>(y + head, Sw, w0, T, C, 1.0f);
  if (half == 0 && r < T) lse[(long long)bh * T + r] = (m + log2f(l)) * kLn2;
}

// Backward, part 1: dQ = dS K / sqrt(D), and D_i = dy_i . y_i for part 2.
// Grid (B*H, query tiles), 128 threads; shared: the fp32 S and dP tiles (dP's
// first stages dY), the bf16 dS tile (which first stages Q) and the K, V
// tiles (63 KB at D = 64). Per key tile up to the diagonal: S = Q K^T and
// dP = dY V^T (WMMA) to scratch, P = 2^(S log2(e)/sqrt(D) - lse log2(e)) and
// dS = P (dP - D_i) in fp32, rounded to bf16, dQ += dS K (WMMA, in
// fragments). Reads y once (straight from global: D_i), writes dq, D_i once.
template <int D>
__global__ void __launch_bounds__(kBf16Threads, kBf16BlocksPerSM)
    causal_attention_dq_bf16_kernel(const bf16* q, const bf16* k, const bf16* v, const bf16* y, const float* lse,
                                    const bf16* dy, bf16* dq, float* d_rows, int T, int H) {
  constexpr int LD = D + 8;
  extern __shared__ __align__(128) unsigned char shared_bytes[];
  float* Ss = reinterpret_cast<float*>(shared_bytes);  // [kTile, kScoreStride]: S, then dQ
  float* dPs = Ss + kTile * kScoreStride;              // [kTile, kScoreStride]: dY, then dP
  bf16* dSs = reinterpret_cast<bf16*>(dPs + kTile * kScoreStride);  // [kTile, kProbStride]: Q, then dS
  bf16* Ks = dSs + kTile * kProbStride;                // [kTile, LD]
  bf16* Vs = Ks + kTile * LD;
  bf16* dYs = reinterpret_cast<bf16*>(dPs);            // [kTile, LD], until the first dP
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32, row = lane / 2, half = lane % 2;
  const int bh = blockIdx.x, b = bh / H, h = bh % H, C = H * D;
  const int q_tile = gridDim.y - 1 - blockIdx.y, q0 = q_tile * kTile;
  const int w0 = q0 + warp * kWarpRows, r = w0 + row;
  const long long head = (long long)b * T * C + (long long)h * D;
  const float scale = rsqrtf((float)D) * kLog2e;
  float *Sw = Ss + warp * kWarpRows * kScoreStride, *dPw = dPs + warp * kWarpRows * kScoreStride;
  float *srow = Sw + row * kScoreStride, *dprow = dPw + row * kScoreStride;
  bf16* dSw = dSs + warp * kWarpRows * kProbStride;
  bf16* dsrow = dSw + row * kProbStride;
  issue_tile<D>(dSs, LD, q + head, q0, T, C);
  issue_tile<D>(dYs, LD, dy + head, q0, T, C);
  issue_tile<D>(Ks, LD, k + head, 0, T, C);
  issue_tile<D>(Vs, LD, v + head, 0, T, C);
  cp_async_commit();
  cp_async_wait_all();
  __syncthreads();
  FragA qa[D / 16], ga[D / 16];  // the Q and dY rows of this warp
  load_a<D>(qa, dSs + warp * kWarpRows * LD, LD);
  load_a<D>(ga, dYs + warp * kWarpRows * LD, LD);
  // D_i over this lane's half of the row: D/2 values, 8 at a time.
  float part = 0.0f;
  if (r < T) {
    const bf16* yrow = y + head + (long long)r * C + half * (D / 2);
    const bf16* dyrow = dYs + (warp * kWarpRows + row) * LD + half * (D / 2);
#pragma unroll
    for (int e = 0; e < D / 2; e += 8) {
      const uint4 yv = *reinterpret_cast<const uint4*>(yrow + e), gv = *reinterpret_cast<const uint4*>(dyrow + e);
      const unsigned int yw[4] = {yv.x, yv.y, yv.z, yv.w}, gw[4] = {gv.x, gv.y, gv.z, gv.w};
#pragma unroll
      for (int t = 0; t < 4; ++t) {
        part = fmaf(bf16_widen(gw[t] & 0xffffu), bf16_widen(yw[t] & 0xffffu), part);
        part = fmaf(bf16_widen(gw[t] >> 16), bf16_widen(yw[t] >> 16), part);
      }
    }
  }
  const float d_row = part + __shfl_xor_sync(0xffffffffu, part, 1);
  const float lse2 = r < T ? lse[(long long)bh * T + r] * kLog2e : 0.0f;  // in base 2
  if (half == 0 && r < T) d_rows[(long long)bh * T + r] = d_row;
  FragC acc[D / 16];
#pragma unroll
  for (int n = 0; n < D / 16; ++n) wmma::fill_fragment(acc[n], 0.0f);
  for (int k_tile = 0; k_tile <= q_tile; ++k_tile) {
    const int k0 = k_tile * kTile;
    cp_async_wait_all();
    __syncthreads();  // K, V are in (and, the first time, every warp is done with the staged Q, dY)
    const int n_end = k_tile == q_tile ? warp + 1 : kBlocks;
    warp_scores<D>(Sw, qa, Ks, 0, n_end);
    warp_scores<D>(dPw, ga, Vs, 0, n_end);
    __syncwarp();
#pragma unroll
    for (int j = 0; j < kPairs; ++j) {
      const int c = 4 * j + 2 * half;
      const float2 sv = *reinterpret_cast<const float2*>(srow + c);
      const float2 dp = *reinterpret_cast<const float2*>(dprow + c);
      const bool seen0 = k0 + c <= r && r < T, seen1 = k0 + c + 1 <= r && r < T;
      const float ds0 = seen0 ? exp2f(sv.x * scale - lse2) * (dp.x - d_row) : 0.0f;
      const float ds1 = seen1 ? exp2f(sv.y * scale - lse2) * (dp.y - d_row) : 0.0f;
      *reinterpret_cast<unsigned int*>(dsrow + c) = pack_bf16(ds0, ds1);
    }
    __syncwarp();
    warp_product<D>(acc, dSw, Ks, 0, n_end);
    if (k_tile < q_tile) {
      __syncthreads();  // every warp is done with K, V
      issue_tile<D>(Ks, LD, k + head, k0 + kTile, T, C);
      issue_tile<D>(Vs, LD, v + head, k0 + kTile, T, C);
      cp_async_commit();
    }
  }
  __syncwarp();
  store_acc<D>(Sw, acc);
  __syncwarp();
  store_rows<D>(dq + head, Sw, w0, T, C, rsqrtf((float)D));
}

// One query tile's streamed operands of the dK dV kernel: Q and dY (bf16
// [kTile, D + 8]), then lse (base 2) and D_i (fp32 [kTile]).
template <int D>
__host__ __device__ constexpr int dkdv_stage_bytes() {
  return 2 * kTile * (D + 8) * (int)sizeof(bf16) + 2 * kTile * (int)sizeof(float);
}

// Starts the copy of query tile q0's stage (see above); finish_dkdv_stage
// completes it (each thread its own elements; a __syncthreads must follow).
template <int D>
__device__ void issue_dkdv_stage(unsigned char* stage, const bf16* q, const bf16* dy, const float* lse,
                                 const float* d_rows, int q0, int T, int C) {
  bf16 *Qs = reinterpret_cast<bf16*>(stage), *dYs = Qs + kTile * (D + 8);
  float *lse2s = reinterpret_cast<float*>(dYs + kTile * (D + 8)), *d_rows_s = lse2s + kTile;
  issue_tile<D>(Qs, D + 8, q, q0, T, C);
  issue_tile<D>(dYs, D + 8, dy, q0, T, C);
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
__device__ void finish_dkdv_stage(unsigned char* stage) {
  float* lse2s = reinterpret_cast<float*>(stage + 2 * kTile * (D + 8) * sizeof(bf16));
  cp_async_wait_all();
  if (threadIdx.x < kTile) lse2s[threadIdx.x] *= kLog2e;
}

// Backward, part 2: dV = P^T dY and dK = dS^T Q / sqrt(D) for one key tile.
// Grid (B*H, key tiles), 128 threads, the first (longest) key tiles first;
// shared: the fp32 S^T and dP^T tiles, the bf16 P^T and dS^T tiles (which
// first stage K and V) and one query tile's stage (Q, dY, lse, D_i; 71 KB at
// D = 64). Warps own 16 keys. Per query tile from the diagonal on: S^T = K Q^T
// and dP^T = V dY^T (WMMA) to scratch, P^T and dS^T in fp32, rounded to bf16,
// dV += P^T dY, dK += dS^T Q (WMMA, in fragments). Writes dk, dv once.
template <int D>
__global__ void __launch_bounds__(kBf16Threads, kBf16BlocksPerSM)
    causal_attention_dkdv_bf16_kernel(const bf16* q, const bf16* k, const bf16* v, const float* lse,
                                      const float* d_rows, const bf16* dy, bf16* dk, bf16* dv, int T, int H) {
  constexpr int LD = D + 8;
  extern __shared__ __align__(128) unsigned char shared_bytes[];
  float* Sts = reinterpret_cast<float*>(shared_bytes);  // [kTile keys, kScoreStride]: S^T, then dK
  float* dPts = Sts + kTile * kScoreStride;             // dP^T, then dV
  bf16* Pts = reinterpret_cast<bf16*>(dPts + kTile * kScoreStride);  // [kTile, kProbStride]: K, then P^T
  bf16* dSts = Pts + kTile * kProbStride;                            // V, then dS^T
  unsigned char* stage = reinterpret_cast<unsigned char*>(dSts + kTile * kProbStride);
  const bf16 *Qs = reinterpret_cast<const bf16*>(stage), *dYs = Qs + kTile * LD;
  const float *lse2s = reinterpret_cast<const float*>(dYs + kTile * LD), *d_rows_s = lse2s + kTile;
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32, row = lane / 2, half = lane % 2;
  const int bh = blockIdx.x, b = bh / H, h = bh % H, C = H * D;
  const int k_tile = blockIdx.y, k0 = k_tile * kTile, q_tiles = gridDim.y;
  const int w0 = k0 + warp * kWarpRows, c = w0 + row;  // the warp's first key; this lane's
  const long long head = (long long)b * T * C + (long long)h * D;
  const float scale = rsqrtf((float)D) * kLog2e;
  const float *lse_h = lse + (long long)bh * T, *d_rows_h = d_rows + (long long)bh * T;
  float *Stw = Sts + warp * kWarpRows * kScoreStride, *dPtw = dPts + warp * kWarpRows * kScoreStride;
  float *strow = Stw + row * kScoreStride, *dptrow = dPtw + row * kScoreStride;
  bf16 *Ptw = Pts + warp * kWarpRows * kProbStride, *dStw = dSts + warp * kWarpRows * kProbStride;
  bf16 *ptrow = Ptw + row * kProbStride, *dstrow = dStw + row * kProbStride;
  issue_tile<D>(Pts, LD, k + head, k0, T, C);
  issue_tile<D>(dSts, LD, v + head, k0, T, C);
  issue_dkdv_stage<D>(stage, q + head, dy + head, lse_h, d_rows_h, k0, T, C);  // commits all
  cp_async_wait_all();
  __syncthreads();
  FragA ka[D / 16], va[D / 16];
  load_a<D>(ka, Pts + warp * kWarpRows * LD, LD);
  load_a<D>(va, dSts + warp * kWarpRows * LD, LD);
  FragC acc_k[D / 16], acc_v[D / 16];
#pragma unroll
  for (int n = 0; n < D / 16; ++n) wmma::fill_fragment(acc_k[n], 0.0f), wmma::fill_fragment(acc_v[n], 0.0f);
  for (int q_tile = k_tile; q_tile < q_tiles; ++q_tile) {
    const int q0 = q_tile * kTile;
    finish_dkdv_stage<D>(stage);
    __syncthreads();  // the stage is in (and, the first time, every warp holds its K, V)
    // In the diagonal tile warp w's keys are seen only by the queries from 16w on.
    const int n_begin = q_tile == k_tile ? warp : 0;
    warp_scores<D>(Stw, ka, Qs, n_begin, kBlocks);
    warp_scores<D>(dPtw, va, dYs, n_begin, kBlocks);
    __syncwarp();
#pragma unroll
    for (int j = 0; j < kPairs; ++j) {
      const int jj = 4 * j + 2 * half, rq = q0 + jj;
      const float2 st = *reinterpret_cast<const float2*>(strow + jj);
      const float2 dpt = *reinterpret_cast<const float2*>(dptrow + jj);
      const bool seen0 = c <= rq && rq < T, seen1 = c <= rq + 1 && rq + 1 < T;
      const float p0 = seen0 ? exp2f(st.x * scale - lse2s[jj]) : 0.0f;
      const float p1 = seen1 ? exp2f(st.y * scale - lse2s[jj + 1]) : 0.0f;
      *reinterpret_cast<unsigned int*>(ptrow + jj) = pack_bf16(p0, p1);
      *reinterpret_cast<unsigned int*>(dstrow + jj) =
          pack_bf16(p0 * (dpt.x - d_rows_s[jj]), p1 * (dpt.y - d_rows_s[jj + 1]));
    }
    __syncwarp();
    warp_product<D>(acc_v, Ptw, dYs, n_begin, kBlocks);
    warp_product<D>(acc_k, dStw, Qs, n_begin, kBlocks);
    if (q_tile + 1 < q_tiles) {
      __syncthreads();  // every warp is done with the stage
      issue_dkdv_stage<D>(stage, q + head, dy + head, lse_h, d_rows_h, q0 + kTile, T, C);
    }
  }
  __syncwarp();
  store_acc<D>(Stw, acc_k);
  store_acc<D>(dPtw, acc_v);
  __syncwarp();
  store_rows<D>(dk + head, Stw, w0, T, C, rsqrtf((float)D));
  store_rows<D>(dv + head, dPtw, w0, T, C, 1.0f);
}

// Dynamic shared memory of each kernel, in bytes.
constexpr int kScoreTileBytes = kTile * kScoreStride * (int)sizeof(float);
constexpr int kProbTileBytes = kTile * kProbStride * (int)sizeof(bf16);
template <int D>
constexpr int tile_bytes() { return kTile * (D + 8) * (int)sizeof(bf16); }
template <int D>
constexpr int forward_shared() { return kScoreTileBytes + kProbTileBytes + 2 * tile_bytes<D>(); }
template <int D>
constexpr int dq_shared() { return 2 * kScoreTileBytes + kProbTileBytes + 2 * tile_bytes<D>(); }
template <int D>
constexpr int dkdv_shared() { return 2 * kScoreTileBytes + 2 * kProbTileBytes + dkdv_stage_bytes<D>(); }

template <int D>
void forward(const bf16* q, const bf16* k, const bf16* v, bf16* y, float* lse, int64_t B, int64_t T, int64_t H) {
  static const bool opted_in = allow_shared(causal_attention_bf16_kernel<D>, forward_shared<D>());
  (void)opted_in;
  causal_attention_bf16_kernel<D><<<attention_grid(B, T, H), kBf16Threads, forward_shared<D>(), stream()>>>(
      q, k, v, y, lse, (int)T, (int)H);
  AHA_CUDA_CHECK(cudaGetLastError());
}

template <int D>
void backward(const bf16* q, const bf16* k, const bf16* v, const bf16* y, const float* lse, const bf16* dy,
              bf16* dq, bf16* dk, bf16* dv, int64_t B, int64_t T, int64_t H) {
  static const bool opted_in = allow_shared(causal_attention_dq_bf16_kernel<D>, dq_shared<D>()) &&
                               allow_shared(causal_attention_dkdv_bf16_kernel<D>, dkdv_shared<D>());
  (void)opted_in;
  float* d_rows = alloc(B * H * T);  // D_i, [B, H, T]; freed in stream order
  causal_attention_dq_bf16_kernel<D><<<attention_grid(B, T, H), kBf16Threads, dq_shared<D>(), stream()>>>(
      q, k, v, y, lse, dy, dq, d_rows, (int)T, (int)H);
  AHA_CUDA_CHECK(cudaGetLastError());
  causal_attention_dkdv_bf16_kernel<D><<<attention_grid(B, T, H), kBf16Threads, dkdv_shared<D>(), stream()>>>(
      q, k, v, lse, d_rows, dy, dk, dv, (int)T, (int)H);
  AHA_CUDA_CHECK(cudaGetLastError());
  free(d_rows);
}

void check_sizes(const char* op, int64_t B, int64_t T, int64_t H, int64_t D) {
  if (!causal_attention_bf16_supports(D))
    throw std::runtime_error(std::string(op) + " (CUDA, bf16): head dim D = " + std::to_string(D) +
                             " is not 32 or 64");
  if (B * H > 0x7fffffff || T * H * D > 0x7fffffff)
    throw std::runtime_error(std::string(op) + " (CUDA, bf16): B*H = " + std::to_string(B * H) + " or T*C = " +
                             std::to_string(T * H * D) + " exceeds 2^31 - 1");
}

const bf16* as_bf16(const uint16_t* x) { return reinterpret_cast<const bf16*>(x); }
bf16* as_bf16(uint16_t* x) { return reinterpret_cast<bf16*>(x); }

}  // namespace

bool causal_attention_bf16_supports(int64_t D) { return D == 32 || D == 64; }

void causal_attention_bf16(const uint16_t* q, const uint16_t* k, const uint16_t* v, uint16_t* y, float* lse,
                           int64_t B, int64_t T, int64_t H, int64_t D) {
  check_sizes("causal_attention", B, T, H, D);
  if (D == 32) forward<32>(as_bf16(q), as_bf16(k), as_bf16(v), as_bf16(y), lse, B, T, H);
  else forward<64>(as_bf16(q), as_bf16(k), as_bf16(v), as_bf16(y), lse, B, T, H);
}

void causal_attention_backward_bf16(const uint16_t* q, const uint16_t* k, const uint16_t* v, const uint16_t* y,
                                    const float* lse, const uint16_t* dy, uint16_t* dq, uint16_t* dk, uint16_t* dv,
                                    int64_t B, int64_t T, int64_t H, int64_t D) {
  check_sizes("causal_attention_backward", B, T, H, D);
  if (D == 32)
    backward<32>(as_bf16(q), as_bf16(k), as_bf16(v), as_bf16(y), lse, as_bf16(dy), as_bf16(dq), as_bf16(dk),
                 as_bf16(dv), B, T, H);
  else
    backward<64>(as_bf16(q), as_bf16(k), as_bf16(v), as_bf16(y), lse, as_bf16(dy), as_bf16(dq), as_bf16(dk),
                 as_bf16(dv), B, T, H);
}

}  // namespace cuda
}  // namespace aha

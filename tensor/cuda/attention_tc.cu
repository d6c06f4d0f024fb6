// Fused causal self-attention on the tensor cores: the kernels of
// tensor/cuda/attention.cu (same equations, same tiles, same deterministic
// two-kernel backward), with every product of two tiles done by WMMA. One set
// of kernels, templated on the element type of the tensors:
//
//   fp32 tensors, TF32 products (m16n16k8: 10-bit mantissa products, fp32
//     sums), as cuBLAS's TF32 mode does for the unfused matmuls. Used only
//     while TF32 is on (tensor/ops.h set_tf32); attention.cu's fp32 kernels do
//     the rest.
//   bf16 tensors, for the mixed-precision path (tensor/ops.h "bf16"): bf16
//     products (m16n16k16, fp32 accumulators). A bf16 x bf16 product is exact
//     in fp32, so S = Q K^T and dP = dY V^T are the fp32 products of the
//     stored values; only P and dS are rounded to bf16 to feed the next
//     product (as FlashAttention-2 does), and the outputs once when stored.
//
// Both for head dims 32 and 64 (tensor/ops_attention.cpp widens bf16 tensors
// of other head dims to the fp32 kernels). The softmax statistics (row max m, sum l,
// lse, D_i) and the scores stay fp32 either way; AttentionElem (with the
// tile machinery, in attention_tiles.cuh) holds everything that differs
// between the two, with the reason.
//
// A block is 4 warps over one 64-row tile; warp w owns rows 16w .. 16w + 15 of
// it, so its products are 16 x 64 (scores) and 16 x D (outputs). Scores go from
// the accumulator fragments to the warp's own 16 rows of an fp32 scratch tile,
// where lane (2 row + half) owns 32 columns of row `row` for the softmax; the
// result (P or dS, rounded) goes to the warp's rows of the next product's A
// operand tile. Tiles that are only B operands sit in shared memory as the
// product reads them (rows padded, so they stay 16-byte aligned and spread
// over banks); the warp's own A operands (Q, dY; K, V in the dK dV kernel)
// live in registers for the whole kernel. In a diagonal tile warp w's 16
// queries see only the first w + 1 16-key blocks, so the products skip the
// blocks past them.
//
// The streamed tiles (K, V; Q, dY) go global -> shared by cp.async, with no
// register staging (which spilled). The first one is in flight while the
// kernel stages its own rows. (Double-buffering them measured slower: the
// second buffer costs a resident block per multiprocessor, and 3 blocks hide
// more.)
//
// At gpu-small's shape (B 512, T 256, H 6, D 64) on an H100 (aha bench ops):
// fp32 (TF32) forward 0.71 ms, backward 2.57 ms; bf16 0.43 and 1.37 ms
// (widening bf16 to the TF32 kernels took about 3x that).
#include <cuda_bf16.h>
#include <mma.h>

#include <cmath>
#include <stdexcept>
#include <string>

#include "tensor/cuda/attention_grid.cuh"
#include "tensor/cuda/attention_tc.h"
#include "tensor/cuda/attention_tiles.cuh"
#include "tensor/cuda/bf16.cuh"
#include "tensor/cuda/kernels.h"
#include "tensor/cuda/launch.cuh"
#include "tensor/cuda/stream.h"

namespace aha {
namespace cuda {

namespace {

using namespace tc;  // the tiles, products and AttentionElem (attention_tiles.cuh)
using namespace nvcuda;

// Forward. Grid (B*H, query tiles), 128 threads, the last (longest) query
// tiles first; shared: the fp32 score tile, the P tile (bf16: which first
// stages Q; TF32: the score tile) and the K, V tiles (D = 64: 52 KB TF32, 45
// KB bf16). Per key tile up to the diagonal: S = Q K^T (WMMA), the online
// softmax in fp32 on S log2(e)/sqrt(D) (m, l; O rescaled by 2^(m_old -
// m_new)), P rounded, P V (WMMA) to scratch, added to the lane's O registers.
// Reads q once and k, v once per query tile; key tile 0 is in flight while Q
// is staged.
template <typename Elem, int D>
__global__ void __launch_bounds__(kTcThreads, AttentionElem<Elem>::kForwardBlocksPerSM)
    causal_attention_tc_kernel(const Elem* q, const Elem* k, const Elem* v, Elem* y, float* lse, int T, int H) {
  using E = AttentionElem<Elem>;
  constexpr int LD = D + E::kPad, SD = E::stage_stride(D);
  extern __shared__ __align__(128) unsigned char shared_bytes[];
  float* Ss = reinterpret_cast<float*>(shared_bytes);             // [kTile, kScoreStride]: S, then P V
  Elem* next = reinterpret_cast<Elem*>(Ss + kTile * kScoreStride);
  Elem* Ps = prob_tile<Elem>(Ss, next);                           // [kTile, kProbStride]: Q, then P
  Elem* Ks = next;                                                // [kTile, LD]
  Elem* Vs = Ks + kTile * LD;
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32, row = lane / 2, half = lane % 2;
  const int bh = blockIdx.x, b = bh / H, h = bh % H, C = H * D;
  const int q_tile = gridDim.y - 1 - blockIdx.y, q0 = q_tile * kTile;
  const int w0 = q0 + warp * kWarpRows, r = w0 + row;  // the warp's first query; this lane's
  const long long head = (long long)b * T * C + (long long)h * D;
  const float scale = rsqrtf((float)D) * kLog2e;  // scores in base 2
  float* Sw = Ss + warp * kWarpRows * kScoreStride;
  float* srow = Sw + row * kScoreStride;
  Elem* Pw = Ps + warp * kWarpRows * E::kProbStride;
  Elem* prow = Pw + row * E::kProbStride;
  issue_tile_pair<D>(Ks, k + head, Vs, v + head, LD, 0, T, C);
  cp_async_commit();
  E::template stage_rows<D>(Ps, SD, q + head, q0, T, C, scale);
  E::rows_staged();
  __syncthreads();
  FragA<Elem> qa[D / E::kK];
  load_a<D>(qa, Ps + warp * kWarpRows * SD, SD);
  float m = -INFINITY, l = 0.0f, o[D / 2];  // o[2j + i]: column E::column(j, i, half)
#pragma unroll
  for (int e = 0; e < D / 2; ++e) o[e] = 0.0f;
  for (int k_tile = 0; k_tile <= q_tile; ++k_tile) {
    const int k0 = k_tile * kTile;
    finish_tile_pair<D>(Ks, 1.0f, Vs);
    __syncthreads();  // K, V are in (and, the first time, every warp holds its Q: P may overwrite it)
    const int n_end = k_tile == q_tile ? warp + 1 : kBlocks;
    warp_scores<D>(Sw, qa, Ks, 0, n_end);
    __syncwarp();
    float2 s[kPairs];
    float row_max = -INFINITY;
#pragma unroll
    for (int j = 0; j < kPairs; ++j) {
      const float2 x = E::load_pair(srow, j, half);
      const int c0 = k0 + E::column(j, 0, half), c1 = k0 + E::column(j, 1, half);
      // a future key is -inf (key 0 never is: m stays finite)
      s[j] = make_float2(c0 <= r ? E::score(x.x, scale) : -INFINITY, c1 <= r ? E::score(x.y, scale) : -INFINITY);
      row_max = fmaxf(row_max, fmaxf(s[j].x, s[j].y));
    }
    const float m_new = fmaxf(m, fmaxf(row_max, __shfl_xor_sync(0xffffffffu, row_max, 1)));
    const float rescale = exp2f(m - m_new);
    float row_sum = 0.0f;
#pragma unroll
    for (int j = 0; j < kPairs; ++j) {
      const float p0 = exp2f(s[j].x - m_new), p1 = exp2f(s[j].y - m_new);
      E::store_probs(prow, j, half, p0, p1);
      row_sum = E::add_pair(row_sum, p0, p1);
    }
    l = l * rescale + row_sum + __shfl_xor_sync(0xffffffffu, row_sum, 1);
    m = m_new;
    __syncwarp();
    FragC<Elem> pv[D / 16];
#pragma unroll
    for (int n = 0; n < D / 16; ++n) wmma::fill_fragment(pv[n], 0.0f);
    warp_product<D>(pv, Pw, Vs, 0, n_end);
    if constexpr (E::kProbInScores) __syncwarp();  // P is read: P V goes in its place
    store_acc<D>(Sw, pv);
    __syncwarp();
#pragma unroll
    for (int j = 0; j < D / 4; ++j) {
      const float2 x = E::load_pair(srow, j, half);
      o[2 * j] = o[2 * j] * rescale + x.x;
      o[2 * j + 1] = o[2 * j + 1] * rescale + x.y;
    }
    if (k_tile < q_tile) {
      __syncthreads();  // every warp is done with K, V
      issue_tile_pair<D>(Ks, k + head, Vs, v + head, LD, k0 + kTile, T, C);
      cp_async_commit();
    }
  }
  const float inv_l = 1.0f / l;
  __syncwarp();
#pragma unroll
  for (int j = 0; j < D / 4; ++j) E::store_pair(srow, j, half, o[2 * j] * inv_l, o[2 * j + 1] * inv_l);
  __syncwarp();
  E::template store_rows<D>(y + head, Sw, w0, T, C, 1.0f);
  if (half == 0 && r < T) lse[(long long)bh * T + r] = (m + log2f(l)) * kLn2;
}

// Backward, part 1: dQ = dS K / sqrt(D), and D_i = dy_i . y_i for part 2.
// Grid (B*H, query tiles), 128 threads; shared: the fp32 S and dP tiles (dP's
// first stages dY), the dS tile (bf16: which first stages Q; TF32: the S tile)
// and the K, V tiles (D = 64: 70 KB TF32, 63 KB bf16). Per key tile up to the
// diagonal: S = Q K^T and dP = dY V^T (WMMA) to scratch, P = 2^(S log2(e)/
// sqrt(D) - lse log2(e)) and dS = P (dP - D_i) in fp32, rounded, dQ += dS K
// (WMMA, in fragments). Reads y once (straight from global: D_i), writes dq,
// D_i once.
template <typename Elem, int D>
__global__ void __launch_bounds__(kTcThreads, AttentionElem<Elem>::kBlocksPerSM)
    causal_attention_dq_tc_kernel(const Elem* q, const Elem* k, const Elem* v, const Elem* y, const float* lse,
                                  const Elem* dy, Elem* dq, float* d_rows, int T, int H) {
  using E = AttentionElem<Elem>;
  constexpr int LD = D + E::kPad, SD = E::stage_stride(D);
  extern __shared__ __align__(128) unsigned char shared_bytes[];
  float* Ss = reinterpret_cast<float*>(shared_bytes);  // [kTile, kScoreStride]: S, then dQ
  float* dPs = Ss + kTile * kScoreStride;              // [kTile, kScoreStride]: dY, then dP
  Elem* next = reinterpret_cast<Elem*>(dPs + kTile * kScoreStride);
  Elem* dSs = prob_tile<Elem>(Ss, next);               // [kTile, kProbStride]: Q, then dS
  Elem* Ks = next;                                     // [kTile, LD]
  Elem* Vs = Ks + kTile * LD;
  Elem* dYs = reinterpret_cast<Elem*>(dPs);            // [kTile, SD], until the first dP
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32, row = lane / 2, half = lane % 2;
  const int bh = blockIdx.x, b = bh / H, h = bh % H, C = H * D;
  const int q_tile = gridDim.y - 1 - blockIdx.y, q0 = q_tile * kTile;
  const int w0 = q0 + warp * kWarpRows, r = w0 + row;
  const long long head = (long long)b * T * C + (long long)h * D;
  const float scale = rsqrtf((float)D) * kLog2e;
  float *Sw = Ss + warp * kWarpRows * kScoreStride, *dPw = dPs + warp * kWarpRows * kScoreStride;
  float *srow = Sw + row * kScoreStride, *dprow = dPw + row * kScoreStride;
  Elem* dSw = dSs + warp * kWarpRows * E::kProbStride;
  Elem* dsrow = dSw + row * E::kProbStride;
  issue_tile_pair<D>(Ks, k + head, Vs, v + head, LD, 0, T, C);
  cp_async_commit();
  E::template stage_rows<D>(dSs, SD, q + head, q0, T, C, scale);
  E::template stage_rows<D>(dYs, SD, dy + head, q0, T, C, 1.0f);
  E::rows_staged();
  __syncthreads();
  FragA<Elem> qa[D / E::kK], ga[D / E::kK];  // the Q and dY rows of this warp
  load_a<D>(qa, dSs + warp * kWarpRows * SD, SD);
  load_a<D>(ga, dYs + warp * kWarpRows * SD, SD);
  const float part =
      r < T ? E::template dot_half<D>(dYs + (warp * kWarpRows + row) * SD, y + head + (long long)r * C, half) : 0.0f;
  const float d_row = part + __shfl_xor_sync(0xffffffffu, part, 1);
  const float lse2 = r < T ? lse[(long long)bh * T + r] * kLog2e : 0.0f;  // in base 2
  if (half == 0 && r < T) d_rows[(long long)bh * T + r] = d_row;
  FragC<Elem> acc[D / 16];
#pragma unroll
  for (int n = 0; n < D / 16; ++n) wmma::fill_fragment(acc[n], 0.0f);
  for (int k_tile = 0; k_tile <= q_tile; ++k_tile) {
    const int k0 = k_tile * kTile;
    finish_tile_pair<D>(Ks, 1.0f, Vs);
    __syncthreads();  // K, V are in (and, the first time, every warp is done with the staged Q, dY)
    const int n_end = k_tile == q_tile ? warp + 1 : kBlocks;
    warp_scores<D>(Sw, qa, Ks, 0, n_end);
    warp_scores<D>(dPw, ga, Vs, 0, n_end);
    __syncwarp();
#pragma unroll
    for (int j = 0; j < kPairs; ++j) {
      const float2 sv = E::load_pair(srow, j, half), dp = E::load_pair(dprow, j, half);
      const bool seen0 = k0 + E::column(j, 0, half) <= r && r < T, seen1 = k0 + E::column(j, 1, half) <= r && r < T;
      const float ds0 = seen0 ? exp2f(E::score(sv.x, scale) - lse2) * (dp.x - d_row) : 0.0f;
      const float ds1 = seen1 ? exp2f(E::score(sv.y, scale) - lse2) * (dp.y - d_row) : 0.0f;
      E::store_probs(dsrow, j, half, ds0, ds1);
    }
    __syncwarp();
    warp_product<D>(acc, dSw, Ks, 0, n_end);
    if (k_tile < q_tile) {
      __syncthreads();  // every warp is done with K, V
      issue_tile_pair<D>(Ks, k + head, Vs, v + head, LD, k0 + kTile, T, C);
      cp_async_commit();
    }
  }
  __syncwarp();
  store_acc<D>(Sw, acc);
  __syncwarp();
  E::template store_rows<D>(dq + head, Sw, w0, T, C, rsqrtf((float)D));
}

// One query tile's streamed operands of the dK dV kernel: Q and dY [kTile, D +
// kPad] (TF32: Q times log2(e)/sqrt(D)), then lse (base 2) and D_i (fp32
// [kTile]).
template <typename Elem, int D>
constexpr int dkdv_stage_bytes() {
  return 2 * kTile * (D + AttentionElem<Elem>::kPad) * (int)sizeof(Elem) + 2 * kTile * (int)sizeof(float);
}

// Starts the copy of query tile q0's stage (see above) and commits it;
// finish_dkdv_stage completes it (each thread its own elements; a
// __syncthreads must follow).
template <int D, typename Elem>
__device__ void issue_dkdv_stage(Elem* stage, const Elem* q, const Elem* dy, const float* lse, const float* d_rows,
                                 int q0, int T, int C) {
  constexpr int LD = D + AttentionElem<Elem>::kPad;
  Elem *Qs = stage, *dYs = Qs + kTile * LD;
  float *lse2s = reinterpret_cast<float*>(dYs + kTile * LD), *d_rows_s = lse2s + kTile;
  issue_tile_pair<D>(Qs, q, dYs, dy, LD, q0, T, C);
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
template <int D, typename Elem>
__device__ void finish_dkdv_stage(Elem* stage) {
  constexpr int LD = D + AttentionElem<Elem>::kPad;
  Elem *Qs = stage, *dYs = Qs + kTile * LD;
  float* lse2s = reinterpret_cast<float*>(dYs + kTile * LD);
  finish_tile_pair<D>(Qs, rsqrtf((float)D) * kLog2e, dYs);
  if (threadIdx.x < kTile) lse2s[threadIdx.x] *= kLog2e;
}

// Backward, part 2: dV = P^T dY and dK = dS^T Q / sqrt(D) for one key tile.
// Grid (B*H, key tiles), 128 threads, the first (longest) key tiles first;
// shared: the fp32 S^T and dP^T tiles, the P^T and dS^T tiles (bf16: which
// first stage K and V; TF32: the S^T and dP^T tiles) and one query tile's
// stage (Q, dY, lse, D_i; D = 64: 70 KB TF32, 71 KB bf16). Warps own 16 keys.
// Per query tile from the diagonal on: S^T = K Q^T and dP^T = V dY^T (WMMA) to
// scratch, P^T and dS^T in fp32, rounded, dV += P^T dY, dK += dS^T Q (WMMA, in
// fragments). Writes dk, dv once.
template <typename Elem, int D>
__global__ void __launch_bounds__(kTcThreads, AttentionElem<Elem>::kBlocksPerSM)
    causal_attention_dkdv_tc_kernel(const Elem* q, const Elem* k, const Elem* v, const float* lse,
                                    const float* d_rows, const Elem* dy, Elem* dk, Elem* dv, int T, int H) {
  using E = AttentionElem<Elem>;
  constexpr int LD = D + E::kPad, SD = E::stage_stride(D);
  extern __shared__ __align__(128) unsigned char shared_bytes[];
  float* Sts = reinterpret_cast<float*>(shared_bytes);  // [kTile keys, kScoreStride]: S^T, then dK
  float* dPts = Sts + kTile * kScoreStride;             // dP^T, then dV
  Elem* next = reinterpret_cast<Elem*>(dPts + kTile * kScoreStride);
  Elem* Pts = prob_tile<Elem>(Sts, next);               // [kTile, kProbStride]: K, then P^T
  Elem* dSts = prob_tile<Elem>(dPts, next);             // V, then dS^T
  Elem* stage = next;                                   // dkdv_stage_bytes
  const Elem *Qs = stage, *dYs = Qs + kTile * LD;
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
  Elem *Ptw = Pts + warp * kWarpRows * E::kProbStride, *dStw = dSts + warp * kWarpRows * E::kProbStride;
  Elem *ptrow = Ptw + row * E::kProbStride, *dstrow = dStw + row * E::kProbStride;
  issue_dkdv_stage<D>(stage, q + head, dy + head, lse_h, d_rows_h, k0, T, C);
  E::template stage_rows<D>(Pts, SD, k + head, k0, T, C, 1.0f);
  E::template stage_rows<D>(dSts, SD, v + head, k0, T, C, 1.0f);
  E::rows_staged();
  __syncthreads();
  FragA<Elem> ka[D / E::kK], va[D / E::kK];
  load_a<D>(ka, Pts + warp * kWarpRows * SD, SD);
  load_a<D>(va, dSts + warp * kWarpRows * SD, SD);
  FragC<Elem> acc_k[D / 16], acc_v[D / 16];
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
      const float2 st = E::load_pair(strow, j, half), dpt = E::load_pair(dptrow, j, half);
      const int j0 = E::column(j, 0, half), j1 = E::column(j, 1, half);
      const bool seen0 = c <= q0 + j0 && q0 + j0 < T, seen1 = c <= q0 + j1 && q0 + j1 < T;
      const float p0 = seen0 ? exp2f(E::score(st.x, scale) - lse2s[j0]) : 0.0f;
      const float p1 = seen1 ? exp2f(E::score(st.y, scale) - lse2s[j1]) : 0.0f;
      const float ds0 = seen0 ? p0 * (dpt.x - d_rows_s[j0]) : 0.0f;
      const float ds1 = seen1 ? p1 * (dpt.y - d_rows_s[j1]) : 0.0f;
      E::store_probs(ptrow, j, half, p0, p1);
      E::store_probs(dstrow, j, half, ds0, ds1);
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
  // TF32's Q was scaled by log2(e)/sqrt(D): dS^T (that Q) ln 2 = dS^T Q / sqrt(D).
  E::template store_rows<D>(dk + head, Stw, w0, T, C, E::kQScaled ? kLn2 : rsqrtf((float)D));
  E::template store_rows<D>(dv + head, dPtw, w0, T, C, 1.0f);
}

// Dynamic shared memory of each kernel, in bytes.
constexpr int kScoreTileBytes = kTile * kScoreStride * (int)sizeof(float);
template <typename Elem>
constexpr int prob_tile_bytes() {
  return AttentionElem<Elem>::kProbInScores ? 0 : kTile * AttentionElem<Elem>::kProbStride * (int)sizeof(Elem);
}
template <typename Elem, int D>
constexpr int tile_bytes() { return kTile * (D + AttentionElem<Elem>::kPad) * (int)sizeof(Elem); }
template <typename Elem, int D>
constexpr int forward_shared() { return kScoreTileBytes + prob_tile_bytes<Elem>() + 2 * tile_bytes<Elem, D>(); }
template <typename Elem, int D>
constexpr int dq_shared() { return 2 * kScoreTileBytes + prob_tile_bytes<Elem>() + 2 * tile_bytes<Elem, D>(); }
template <typename Elem, int D>
constexpr int dkdv_shared() {
  return 2 * kScoreTileBytes + 2 * prob_tile_bytes<Elem>() + dkdv_stage_bytes<Elem, D>();
}

template <typename Elem, int D>
void forward(const Elem* q, const Elem* k, const Elem* v, Elem* y, float* lse, int64_t B, int64_t T, int64_t H) {
  static const bool opted_in = allow_shared(causal_attention_tc_kernel<Elem, D>, forward_shared<Elem, D>());
  (void)opted_in;
  causal_attention_tc_kernel<Elem, D><<<attention_grid(B, T, H), kTcThreads, forward_shared<Elem, D>(), stream()>>>(
      q, k, v, y, lse, (int)T, (int)H);
  AHA_CUDA_CHECK(cudaGetLastError());
}

template <typename Elem, int D>
void backward(const Elem* q, const Elem* k, const Elem* v, const Elem* y, const float* lse, const Elem* dy, Elem* dq,
              Elem* dk, Elem* dv, int64_t B, int64_t T, int64_t H) {
  static const bool opted_in = allow_shared(causal_attention_dq_tc_kernel<Elem, D>, dq_shared<Elem, D>()) &&
                               allow_shared(causal_attention_dkdv_tc_kernel<Elem, D>, dkdv_shared<Elem, D>());
  (void)opted_in;
  float* d_rows = alloc(B * H * T);  // D_i, [B, H, T]; freed in stream order
  causal_attention_dq_tc_kernel<Elem, D><<<attention_grid(B, T, H), kTcThreads, dq_shared<Elem, D>(), stream()>>>(
      q, k, v, y, lse, dy, dq, d_rows, (int)T, (int)H);
  AHA_CUDA_CHECK(cudaGetLastError());
  causal_attention_dkdv_tc_kernel<Elem, D>
      <<<attention_grid(B, T, H), kTcThreads, dkdv_shared<Elem, D>(), stream()>>>(q, k, v, lse, d_rows, dy, dk, dv,
                                                                                   (int)T, (int)H);
  AHA_CUDA_CHECK(cudaGetLastError());
  free(d_rows);
}

void check_bf16_sizes(const char* op, int64_t B, int64_t T, int64_t H, int64_t D) {
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

bool attention_tc_supports(int64_t D) { return D == 32 || D == 64; }

void causal_attention_tc(const float* q, const float* k, const float* v, float* y, float* lse, int64_t B,
                         int64_t T, int64_t H, int64_t D) {
  if (D == 32) forward<float, 32>(q, k, v, y, lse, B, T, H);
  else if (D == 64) forward<float, 64>(q, k, v, y, lse, B, T, H);
  else throw std::runtime_error("causal_attention (CUDA, tensor cores): head dim D = " + std::to_string(D) +
                                " is not 32 or 64");
}

void causal_attention_backward_tc(const float* q, const float* k, const float* v, const float* y,
                                  const float* lse, const float* dy, float* dq, float* dk, float* dv, int64_t B,
                                  int64_t T, int64_t H, int64_t D) {
  if (D == 32) backward<float, 32>(q, k, v, y, lse, dy, dq, dk, dv, B, T, H);
  else if (D == 64) backward<float, 64>(q, k, v, y, lse, dy, dq, dk, dv, B, T, H);
  else throw std::runtime_error("causal_attention_backward (CUDA, tensor cores): head dim D = " +
                                std::to_string(D) + " is not 32 or 64");
}

bool causal_attention_bf16_supports(int64_t D) { return D == 32 || D == 64; }

void causal_attention_bf16(const uint16_t* q, const uint16_t* k, const uint16_t* v, uint16_t* y, float* lse,
                           int64_t B, int64_t T, int64_t H, int64_t D) {
  check_bf16_sizes("causal_attention", B, T, H, D);
  if (D == 32) forward<bf16, 32>(as_bf16(q), as_bf16(k), as_bf16(v), as_bf16(y), lse, B, T, H);
  else forward<bf16, 64>(as_bf16(q), as_bf16(k), as_bf16(v), as_bf16(y), lse, B, T, H);
}

void causal_attention_backward_bf16(const uint16_t* q, const uint16_t* k, const uint16_t* v, const uint16_t* y,
                                    const float* lse, const uint16_t* dy, uint16_t* dq, uint16_t* dk, uint16_t* dv,
                                    int64_t B, int64_t T, int64_t H, int64_t D) {
  check_bf16_sizes("causal_attention_backward", B, T, H, D);
  if (D == 32)
    backward<bf16, 32>(as_bf16(q), as_bf16(k), as_bf16(v), as_bf16(y), lse, as_bf16(dy), as_bf16(dq), as_bf16(dk),
                       as_bf16(dv), B, T, H);
  else
    backward<bf16, 64>(as_bf16(q), as_bf16(k), as_bf16(v), as_bf16(y), lse, as_bf16(dy), as_bf16(dq), as_bf16(dk),
                       as_bf16(dv), B, T, H);
}

}  // namespace cuda
}  // namespace aha

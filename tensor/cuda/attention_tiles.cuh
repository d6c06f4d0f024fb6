// The tile machinery of the tensor-core attention (tensor/cuda/attention_tc.cu):
// the tile sizes, the cp.async loads of global rows into padded shared tiles,
// the WMMA products of a warp's 16 rows, and AttentionElem, everything that
// differs between fp32 (TF32 products) and bf16 tensors, with the reason.
// attention_tc.cu holds the three kernels (forward, dQ, dK dV) written once
// on top of these. Included by attention_tc.cu only.
#pragma once

#include <cuda_bf16.h>
#include <mma.h>

#include "tensor/cuda/attention_grid.cuh"
#include "tensor/cuda/bf16.cuh"

namespace aha {
namespace cuda {
namespace tc {

using namespace nvcuda;
using bf16 = __nv_bfloat16;

constexpr int kTile = kAttentionTile;              // queries (and keys) per tile (attention_grid.cuh)
constexpr int kWarpRows = 16;                      // tile rows per warp: the WMMA M
constexpr int kWarps = kTile / kWarpRows;          // 4
constexpr int kTcThreads = kWarps * 32;
constexpr int kBlocks = kTile / 16;                // 16-column blocks of a score row
constexpr int kScoreStride = kTile + 4;            // fp32 row stride of a score tile
constexpr int kPairs = kTile / 4;                  // column pairs of a score row per lane
constexpr float kLog2e = 1.4426950408889634f;
constexpr float kLn2 = 0.6931471805599453f;

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
// its first column, row stride C) into a tile of row stride ld by cp.async;
// rows past T are zeroed (a NaN there would survive P = 0). Block-wide: 16
// bytes a copy, consecutive threads along a row; the caller commits.
template <int D, typename Elem>
__device__ void issue_tile(Elem* tile, int ld, const Elem* x, int row0, int T, int C) {
  constexpr int kPer = 16 / sizeof(Elem), kVecs = D / kPer;
#pragma unroll
  for (int i = threadIdx.x; i < kTile * kVecs; i += kTcThreads) {
    const int r = i / kVecs, c = (i % kVecs) * kPer;
    Elem* dst = tile + r * ld + c;
    if (row0 + r < T) cp_async16(dst, x + (long long)(row0 + r) * C + c);
    else *reinterpret_cast<uint4*>(dst) = make_uint4(0u, 0u, 0u, 0u);
  }
}

// The same for the two streamed tiles of one step (K and V, or Q and dY),
// element by element together.
template <int D, typename Elem>
__device__ void issue_tile_pair(Elem* tile0, const Elem* x0, Elem* tile1, const Elem* x1, int ld, int row0, int T,
                                int C) {
  constexpr int kPer = 16 / sizeof(Elem), kVecs = D / kPer;
#pragma unroll
  for (int i = threadIdx.x; i < kTile * kVecs; i += kTcThreads) {
    const int r = i / kVecs, c = (i % kVecs) * kPer;
    if (row0 + r < T) {
      cp_async16(tile0 + r * ld + c, x0 + (long long)(row0 + r) * C + c);
      cp_async16(tile1 + r * ld + c, x1 + (long long)(row0 + r) * C + c);
    } else {
      *reinterpret_cast<uint4*>(tile0 + r * ld + c) = make_uint4(0u, 0u, 0u, 0u);
      *reinterpret_cast<uint4*>(tile1 + r * ld + c) = make_uint4(0u, 0u, 0u, 0u);
    }
  }
}

// What the kernels do differently per element type. The scaling of the scores
// by log2(e)/sqrt(D) is the main split: TF32 rounds every operand anyway, so
// it folds the scale into Q (and rounds the streamed tiles in place once they
// land); bf16 would lose bits rounding a scaled Q, so its tiles stay as stored
// and the scale goes on the fp32 scores.
template <typename Elem>
struct AttentionElem;

template <>
struct AttentionElem<float> {
  using Precision = wmma::precision::tf32;
  static constexpr int kK = 8;                     // WMMA k-step
  static constexpr int kPad = 4;                   // operand rows of D + 4 floats
  static constexpr int kBlocksPerSM = 3;           // 3 x 70 KB of shared memory, <= 170 registers
  static constexpr int kForwardBlocksPerSM = 3;
  // P and dS overwrite their scores in the fp32 scratch, which the next
  // product reads directly as tf32 A fragments: no second tile.
  static constexpr bool kProbInScores = true;
  static constexpr int kProbStride = kScoreStride;
  static constexpr bool kQScaled = true;
  // The kernel's own rows (Q, dY; K, V) are staged in the scratch tile.
  __host__ __device__ static constexpr int stage_stride(int) { return kScoreStride; }

  __device__ static float tf32(float x) { return wmma::__float_to_tf32(x); }
  __device__ static float score(float s, float) { return s; }  // Q carries the scale

  // Lane `half` holds every other column of its row: element i of pair j is
  // column 4j + 2i + half. The row sum adds one column at a time.
  __device__ static int column(int j, int i, int half) { return 4 * j + 2 * i + half; }
  __device__ static float2 load_pair(const float* row, int j, int half) {
    return make_float2(row[4 * j + half], row[4 * j + 2 + half]);
  }
  __device__ static void store_pair(float* row, int j, int half, float a, float b) {
    row[4 * j + half] = a;
    row[4 * j + 2 + half] = b;
  }
  __device__ static void store_probs(float* row, int j, int half, float a, float b) {
    store_pair(row, j, half, tf32(a), tf32(b));
  }
  __device__ static float add_pair(float sum, float a, float b) { return sum + a + b; }

  // The own rows are staged unrounded (and Q scaled), rounded as fragments.
  template <class Frag>
  __device__ static void round_a(Frag& a) {
#pragma unroll
    for (int t = 0; t < a.num_elements; ++t) a.x[t] = tf32(a.x[t]);
  }
  // tile[r, :] = scale * x[row0 + r, :], 0 past T; float4, D/4 consecutive
  // threads per row. Plain loads: the scale is applied on the way.
  template <int D>
  __device__ static void stage_rows(float* tile, int ld, const float* x, int row0, int T, int C, float scale) {
    constexpr int kVecs = D / 4;
    for (int i = threadIdx.x; i < kTile * kVecs; i += kTcThreads) {
      const int r = i / kVecs, c = (i % kVecs) * 4;
      float4 a = make_float4(0.0f, 0.0f, 0.0f, 0.0f);
      if (row0 + r < T) a = *reinterpret_cast<const float4*>(x + (long long)(row0 + r) * C + c);
      *reinterpret_cast<float4*>(tile + r * ld + c) = make_float4(a.x * scale, a.y * scale, a.z * scale, a.w * scale);
    }
  }
  __device__ static void rows_staged() {}
  // tile0 = tf32(scale0 tile0), tile1 = tf32(tile1) over the elements this
  // thread copied (issue_tile_pair's; a __syncthreads must follow).
  template <int D>
  __device__ static void round_tile_pair(float* tile0, float scale0, float* tile1) {
    constexpr int kVecs = D / 4, DP = D + kPad;
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
  // dy . y over this lane's half of the row: every other element.
  template <int D>
  __device__ static float dot_half(const float* dy_row, const float* y_row, int half) {
    float part = 0.0f;
#pragma unroll
    for (int e = 0; e < D / 2; ++e) part = fmaf(dy_row[2 * e + half], y_row[2 * e + half], part);
    return part;
  }
  // x[row0 + r, :] = scale * rows[r, :] for the warp's 16 scratch rows, rows
  // past T skipped; float4 stores, D/4 consecutive lanes per row.
  template <int D>
  __device__ static void store_rows(float* x, const float* rows, int row0, int T, int C, float scale) {
    constexpr int kVecs = D / 4;
    for (int i = threadIdx.x % 32; i < kWarpRows * kVecs; i += 32) {
      const int r = i / kVecs, c = (i % kVecs) * 4;
      if (row0 + r >= T) continue;
      const float4 a = *reinterpret_cast<const float4*>(rows + r * kScoreStride + c);
      *reinterpret_cast<float4*>(x + (long long)(row0 + r) * C + c) =
          make_float4(a.x * scale, a.y * scale, a.z * scale, a.w * scale);
    }
  }
};

template <>
struct AttentionElem<bf16> {
  using Precision = bf16;
  static constexpr int kK = 16;                    // WMMA k-step
  static constexpr int kPad = 8;                   // operand rows of D + 8 values (16 bytes)
  // The backward's 63 and 71 KB of shared memory fit 3 blocks (<= 170
  // registers); the forward's 45 KB fit 4 (128 registers, no spills).
  static constexpr int kBlocksPerSM = 3;
  static constexpr int kForwardBlocksPerSM = 4;
  // P and dS are rounded into bf16 tiles of their own (the A operand must be
  // bf16); the fp32 scratch then takes P V, dQ, dK or dV.
  static constexpr bool kProbInScores = false;
  static constexpr int kProbStride = kTile + 8;
  static constexpr bool kQScaled = false;
  // The own rows land by cp.async, as stored, in the bf16 tiles (dY: in the dP
  // scratch, until the first dP).
  __host__ __device__ static constexpr int stage_stride(int D) { return D + kPad; }

  __device__ static float score(float s, float scale) { return s * scale; }

  // Lane `half` holds adjacent column pairs, so P goes out one 32-bit word of
  // two bf16 at a time: element i of pair j is column 4j + 2 half + i. The
  // row sum adds the pair first.
  __device__ static int column(int j, int i, int half) { return 4 * j + 2 * half + i; }
  __device__ static float2 load_pair(const float* row, int j, int half) {
    return *reinterpret_cast<const float2*>(row + 4 * j + 2 * half);
  }
  __device__ static void store_pair(float* row, int j, int half, float a, float b) {
    *reinterpret_cast<float2*>(row + 4 * j + 2 * half) = make_float2(a, b);
  }
  __device__ static void store_probs(bf16* row, int j, int half, float a, float b) {
    *reinterpret_cast<unsigned int*>(row + 4 * j + 2 * half) = bf16_pack(a, b);
  }
  __device__ static float add_pair(float sum, float a, float b) { return sum + (a + b); }

  template <class Frag>
  __device__ static void round_a(Frag&) {}
  template <int D>
  __device__ static void stage_rows(bf16* tile, int ld, const bf16* x, int row0, int T, int C, float) {
    issue_tile<D>(tile, ld, x, row0, T, C);
  }
  __device__ static void rows_staged() {
    cp_async_commit();
    cp_async_wait_all();
  }
  template <int D>
  __device__ static void round_tile_pair(bf16*, float, bf16*) {}
  // dy . y over this lane's half of the row: D/2 contiguous values, 8 at a time.
  template <int D>
  __device__ static float dot_half(const bf16* dy_row, const bf16* y_row, int half) {
    dy_row += half * (D / 2);
    y_row += half * (D / 2);
    float part = 0.0f;
#pragma unroll
    for (int e = 0; e < D / 2; e += 8) {
      const uint4 yv = *reinterpret_cast<const uint4*>(y_row + e), gv = *reinterpret_cast<const uint4*>(dy_row + e);
      const unsigned int yw[4] = {yv.x, yv.y, yv.z, yv.w}, gw[4] = {gv.x, gv.y, gv.z, gv.w};
#pragma unroll
      for (int t = 0; t < 4; ++t) {
        part = fmaf(bf16_low(gw[t]), bf16_low(yw[t]), part);
        part = fmaf(bf16_high(gw[t]), bf16_high(yw[t]), part);
      }
    }
    return part;
  }
  // x[row0 + r, :] = bf16(scale * rows[r, :]) for the warp's 16 fp32 scratch
  // rows, rows past T skipped; 16-byte stores, D/8 consecutive lanes per row.
  template <int D>
  __device__ static void store_rows(bf16* x, const float* rows, int row0, int T, int C, float scale) {
    constexpr int kVecs = D / 8;
    for (int i = threadIdx.x % 32; i < kWarpRows * kVecs; i += 32) {
      const int r = i / kVecs, c = (i % kVecs) * 8;
      if (row0 + r >= T) continue;
      const float4 a = *reinterpret_cast<const float4*>(rows + r * kScoreStride + c);
      const float4 b = *reinterpret_cast<const float4*>(rows + r * kScoreStride + c + 4);
      *reinterpret_cast<uint4*>(x + (long long)(row0 + r) * C + c) =
          make_uint4(bf16_pack(a.x * scale, a.y * scale), bf16_pack(a.z * scale, a.w * scale),
                     bf16_pack(b.x * scale, b.y * scale), bf16_pack(b.z * scale, b.w * scale));
    }
  }
};

template <typename Elem>
using FragA = wmma::fragment<wmma::matrix_a, 16, 16, AttentionElem<Elem>::kK, typename AttentionElem<Elem>::Precision,
                             wmma::row_major>;
template <typename Elem>
using FragBCol = wmma::fragment<wmma::matrix_b, 16, 16, AttentionElem<Elem>::kK,
                                typename AttentionElem<Elem>::Precision, wmma::col_major>;
template <typename Elem>
using FragBRow = wmma::fragment<wmma::matrix_b, 16, 16, AttentionElem<Elem>::kK,
                                typename AttentionElem<Elem>::Precision, wmma::row_major>;
template <typename Elem>
using FragC = wmma::fragment<wmma::accumulator, 16, 16, AttentionElem<Elem>::kK, float>;

// The P (or dS) tile that goes with score tile `scores`: the score tile itself
// where P overwrites S (TF32), else the next free tile, taken from `next`.
template <typename Elem>
__device__ Elem* prob_tile(float* scores, Elem*& next) {
  if constexpr (AttentionElem<Elem>::kProbInScores) {
    return scores;
  } else {
    Elem* tile = next;
    next += kTile * AttentionElem<Elem>::kProbStride;
    return tile;
  }
}

// Waits for this thread's copies of a streamed tile pair, then (TF32) rounds
// the elements it copied; a __syncthreads must follow before they are read.
template <int D, typename Elem>
__device__ void finish_tile_pair(Elem* tile0, float scale0, Elem* tile1) {
  cp_async_wait_all();
  AttentionElem<Elem>::template round_tile_pair<D>(tile0, scale0, tile1);
}

// The warp's 16 rows of a staged tile (row stride ld) as D/k A fragments.
template <int D, typename Elem>
__device__ void load_a(FragA<Elem> (&a)[D / AttentionElem<Elem>::kK], const Elem* rows, int ld) {
  constexpr int kK = AttentionElem<Elem>::kK;
#pragma unroll
  for (int s = 0; s < D / kK; ++s) {
    wmma::load_matrix_sync(a[s], rows + s * kK, ld);
    AttentionElem<Elem>::round_a(a[s]);
  }
}

// out[:, 16n .. 16n + 15] = A B[16n .. 16n + 15, :]^T for the blocks n in
// [n_begin, n_end): A the warp's 16 x D rows (fragments), B a shared [kTile, D]
// tile; out the warp's fp32 scratch rows (stride kScoreStride).
template <int D, typename Elem>
__device__ void warp_scores(float* out, const FragA<Elem> (&a)[D / AttentionElem<Elem>::kK], const Elem* B,
                            int n_begin, int n_end) {
  constexpr int kK = AttentionElem<Elem>::kK, LD = D + AttentionElem<Elem>::kPad;
#pragma unroll
  for (int n = 0; n < kBlocks; ++n) {
    if (n < n_begin || n >= n_end) continue;
    FragC<Elem> acc;
    wmma::fill_fragment(acc, 0.0f);
#pragma unroll
    for (int s = 0; s < D / kK; ++s) {
      FragBCol<Elem> b;
      wmma::load_matrix_sync(b, B + n * 16 * LD + s * kK, LD);
      wmma::mma_sync(acc, a[s], b, acc);
    }
    wmma::store_matrix_sync(out + n * 16, acc, kScoreStride, wmma::mem_row_major);
  }
}

// acc += A[:, 16n .. 16n + 15] B[16n .. 16n + 15, :] for the 16-row blocks n in
// [n_begin, n_end), in k-steps: A the warp's 16 x kTile rows of P or dS, B a
// shared [kTile, D] tile (V, K, dY or Q).
template <int D, typename Elem>
__device__ void warp_product(FragC<Elem> (&acc)[D / 16], const Elem* A, const Elem* B, int n_begin, int n_end) {
  constexpr int kK = AttentionElem<Elem>::kK, LD = D + AttentionElem<Elem>::kPad, kStepsPerBlock = 16 / kK;
#pragma unroll
  for (int s = 0; s < kTile / kK; ++s) {
    if (s < n_begin * kStepsPerBlock || s >= n_end * kStepsPerBlock) continue;
    FragA<Elem> a;
    wmma::load_matrix_sync(a, A + s * kK, AttentionElem<Elem>::kProbStride);
#pragma unroll
    for (int n = 0; n < D / 16; ++n) {
      FragBRow<Elem> b;
      wmma::load_matrix_sync(b, B + s * kK * LD + n * 16, LD);
      wmma::mma_sync(acc[n], a, b, acc[n]);
    }
  }
}

// Accumulators -> the warp's fp32 scratch rows (stride kScoreStride).
template <int D, typename Frag>
__device__ void store_acc(float* rows, const Frag (&acc)[D / 16]) {
#pragma unroll
  for (int n = 0; n < D / 16; ++n) wmma::store_matrix_sync(rows + n * 16, acc[n], kScoreStride, wmma::mem_row_major);
}

}  // namespace tc
}  // namespace cuda
}  // namespace aha

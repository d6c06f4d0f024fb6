// Reductions inside a warp and inside a block, for the row-wise kernels
// (softmax, layernorm, the losses) and the reductions of reduce.cu.
// A warp reduces with register shuffles (no shared memory); a block reduces
// each warp, then one warp reduces the per-warp results through shared memory.
// Included by .cu files only.
#pragma once

#include <cmath>

namespace aha {
namespace cuda {

constexpr int kWarpSize = 32;
constexpr unsigned kFullWarp = 0xffffffffu;

struct SumOp {
  template <typename T>
  __device__ T operator()(T a, T b) const { return a + b; }
};

// The CPU's max (tensor/cpu/reduce.cpp keeps `best` unless row[c] > best), so a
// NaN is skipped the same way on both backends.
struct MaxOp {
  __device__ float operator()(float a, float b) const { return b > a ? b : a; }
};

// Two sums in one reduction (one set of barriers instead of two).
struct PairSumOp {
  __device__ float2 operator()(float2 a, float2 b) const {
    return make_float2(a.x + b.x, a.y + b.y);
  }
};

// The value of the lane `offset` away (lane ^ offset), for each type the
// reductions combine; a struct is shuffled field by field.
__device__ __forceinline__ float shfl_xor(float v, int offset) {
  return __shfl_xor_sync(kFullWarp, v, offset);
}
__device__ __forceinline__ double shfl_xor(double v, int offset) {
  return __shfl_xor_sync(kFullWarp, v, offset);
}
__device__ __forceinline__ float2 shfl_xor(float2 v, int offset) {
  return make_float2(shfl_xor(v.x, offset), shfl_xor(v.y, offset));
}

// After the loop every lane holds the combination of all 32 lanes' values.
template <typename T, typename Op>
__device__ __forceinline__ T warp_reduce(T value, Op op) {
  for (int offset = kWarpSize / 2; offset > 0; offset /= 2)
    value = op(value, shfl_xor(value, offset));
  return value;
}

// Every thread of the block passes a value and gets back the combination of all
// of them. blockDim.x must be a multiple of 32. Safe to call several times in a
// row: the first barrier keeps this call's writes from racing the previous
// call's reads of the same shared slots.
template <typename T, typename Op>
__device__ inline T block_reduce(T value, Op op, T identity) {
  __shared__ T per_warp[kWarpSize];
  __shared__ T result;
  int lane = threadIdx.x % kWarpSize, warp = threadIdx.x / kWarpSize;
  value = warp_reduce(value, op);
  __syncthreads();
  if (lane == 0) per_warp[warp] = value;
  __syncthreads();
  if (warp == 0) {
    int warps = blockDim.x / kWarpSize;
    T w = lane < warps ? per_warp[lane] : identity;
    w = warp_reduce(w, op);
    if (lane == 0) result = w;
  }
  __syncthreads();
  return result;
}

__device__ __forceinline__ float block_sum(float v) { return block_reduce(v, SumOp{}, 0.0f); }
__device__ __forceinline__ double block_sum(double v) { return block_reduce(v, SumOp{}, 0.0); }
__device__ __forceinline__ float block_max(float v) { return block_reduce(v, MaxOp{}, -INFINITY); }
__device__ __forceinline__ float2 block_sum(float2 v) {
  return block_reduce(v, PairSumOp{}, make_float2(0.0f, 0.0f));
}

// A running (max, sum of exp(x - max)) pair: the "online softmax" of Milakov &
// Gimelshein 2018. One pass over a row gives both, instead of a max pass and a
// sum pass. Combining rescales the smaller-max side's sum to the larger max.
struct MaxSumExp {
  float max;
  float sum;
};

__device__ __forceinline__ MaxSumExp combine(MaxSumExp a, MaxSumExp b) {
  if (a.max == -INFINITY) return b;  // an empty side: avoids exp(-inf - -inf) = NaN
  if (b.max == -INFINITY) return a;
  float m = b.max > a.max ? b.max : a.max;
  return {m, a.sum * expf(a.max - m) + b.sum * expf(b.max - m)};
}

__device__ __forceinline__ MaxSumExp add_value(MaxSumExp s, float x) {
  if (x == -INFINITY) return s;  // exp(-inf) = 0 adds nothing (masked attention scores)
  if (x > s.max) return {x, s.sum * expf(s.max - x) + 1.0f};  // expf(-inf) = 0 for the first value
  return {s.max, s.sum + expf(x - s.max)};
}

__device__ __forceinline__ MaxSumExp shfl_xor(MaxSumExp s, int offset) {
  return {shfl_xor(s.max, offset), shfl_xor(s.sum, offset)};
}

struct MaxSumExpOp {
  __device__ MaxSumExp operator()(MaxSumExp a, MaxSumExp b) const { return combine(a, b); }
};

// The (max, sum exp(x - max)) of a whole row, returned to every thread; each
// thread reads the columns threadIdx.x, threadIdx.x + blockDim.x, ...
__device__ inline MaxSumExp block_max_sum_exp(const float* row, long long cols) {
  MaxSumExp s{-INFINITY, 0.0f};
  for (long long c = threadIdx.x; c < cols; c += blockDim.x) s = add_value(s, row[c]);
  return block_reduce(s, MaxSumExpOp{}, MaxSumExp{-INFINITY, 0.0f});
}

}  // namespace cuda
}  // namespace aha

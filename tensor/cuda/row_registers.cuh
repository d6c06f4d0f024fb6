// A row held in registers, for the row-wise kernels of softmax.cu and
// layernorm.cu: each thread loads its share of a row once, as float4s, the
// row's reductions run on those registers, and the output is written from
// them. DRAM sees one read of each input and one write of each output, where
// the generic kernels read a row once per pass.
//
// A row belongs to a team of threads: one warp for short rows (several rows to a
// block), else the whole block. Team thread `rank` holds the float4s rank,
// rank + size, ..., K of them: for each k the team reads consecutive 16-byte
// words, fully coalesced.
//
// It applies when cols % 4 == 0, every row pointer is 16-byte aligned (true of
// each base pointer suffices: rows are cols floats apart) and a row fits in K
// float4s a thread; otherwise the launchers use the generic kernels.
// Included by .cu files only.
#pragma once

#include <cstdint>
#include <initializer_list>

#include "tensor/cuda/block_reduce.cuh"
#include "tensor/cuda/launch.cuh"

namespace aha {
namespace cuda {

// Rows of up to 32 threads * K float4s go to one warp each; a block of this
// many warps then works on as many rows at once.
constexpr int kWarpTeamsPerBlock = 4;

// How a row of cols floats is spread over a team (host side). k = 0: it is not.
struct RegisterRow {
  int k = 0;                // float4s a thread holds: 1, 2, 4 or 8 (a kernel's template K)
  int team_threads = 0;     // a power of two from 32 (one warp) to 1024 (the block)
  int teams_per_block = 0;  // kWarpTeamsPerBlock for warp teams, 1 for block teams
  int cols4 = 0;            // float4s in a row
  int threads() const { return team_threads * teams_per_block; }
  unsigned blocks(int64_t rows) const {
    return row_blocks((rows + teams_per_block - 1) / teams_per_block);
  }
};

// The smallest team giving each thread at most target_k float4s, and the K
// (rounded up to a power of two, so few kernels are compiled) it then needs.
// max_k is what the kernel's registers take: K * 4 floats per array held.
inline RegisterRow register_row(int64_t cols, int target_k, int max_k,
                                std::initializer_list<const void*> pointers) {
  RegisterRow none;
  if (cols <= 0 || cols % 4 != 0) return none;
  for (const void* p : pointers)
    if ((uintptr_t)p % 16 != 0) return none;
  const int64_t cols4 = cols / 4;
  int team = kWarpSize;
  while (team < 1024 && (int64_t)team * target_k < cols4) team *= 2;
  int k = 1;
  while ((int64_t)team * k < cols4 && k <= max_k) k *= 2;
  if (k > max_k) return none;
  RegisterRow row;
  row.k = k;
  row.team_threads = team;
  row.teams_per_block = team == kWarpSize ? kWarpTeamsPerBlock : 1;
  row.cols4 = (int)cols4;
  return row;
}

// The threads sharing a row, as seen by one of them. A warp team w of block b
// takes rows b * teams_per_block + w, then steps by gridDim.x * teams_per_block;
// a block team takes rows b, b + gridDim.x, ... (the same rows for every thread
// of the block, so its barriers are reached by all).
struct RowTeam {
  bool is_warp;
  int rank;         // this thread's place in the team
  int size;         // threads in the team
  long long index;  // the team's number in the grid, also its first row
  long long count;  // teams in the grid, the step to the team's next row
};

__device__ __forceinline__ RowTeam row_team(int teams_per_block) {
  if (teams_per_block == 1)
    return {false, (int)threadIdx.x, (int)blockDim.x, (long long)blockIdx.x, (long long)gridDim.x};
  return {true, (int)(threadIdx.x % kWarpSize), kWarpSize,
          (long long)blockIdx.x * teams_per_block + threadIdx.x / kWarpSize,
          (long long)gridDim.x * teams_per_block};
}

__device__ __forceinline__ float team_sum(float v, const RowTeam& team) {
  return team.is_warp ? warp_reduce(v, SumOp{}) : block_sum(v);
}
__device__ __forceinline__ float2 team_sum(float2 v, const RowTeam& team) {
  return team.is_warp ? warp_reduce(v, PairSumOp{}) : block_sum(v);
}
__device__ __forceinline__ float team_max(float v, const RowTeam& team) {
  return team.is_warp ? warp_reduce(v, MaxOp{}) : block_max(v);
}

// True when register v[i] holds a column of the row (the last float4s of a
// thread may lie past the row's end).
__device__ __forceinline__ bool in_row(int i, int cols4, const RowTeam& team) {
  return team.rank + (i / 4) * team.size < cols4;
}

// Float4 i of a row into v[0..3]; `pad` past the row's end.
__device__ __forceinline__ void load_float4(float* v, const float* row, int i, int cols4,
                                            float pad) {
  const float4 q =
      i < cols4 ? reinterpret_cast<const float4*>(row)[i] : make_float4(pad, pad, pad, pad);
  v[0] = q.x;
  v[1] = q.y;
  v[2] = q.z;
  v[3] = q.w;
}

// This thread's share of a row into v: v[4k + j] = row[4 (rank + k size) + j].
// Float4s past the row's end read as `pad`.
template <int K>
__device__ __forceinline__ void load_row(float (&v)[4 * K], const float* row, int cols4,
                                         const RowTeam& team, float pad) {
#pragma unroll
  for (int k = 0; k < K; ++k) load_float4(&v[4 * k], row, team.rank + k * team.size, cols4, pad);
}

// The inverse of load_row; nothing is stored past the row's end.
template <int K>
__device__ __forceinline__ void store_row(const float (&v)[4 * K], float* row, int cols4,
                                          const RowTeam& team) {
  float4* row4 = reinterpret_cast<float4*>(row);
#pragma unroll
  for (int k = 0; k < K; ++k) {
    const int i = team.rank + k * team.size;
    if (i < cols4) row4[i] = make_float4(v[4 * k], v[4 * k + 1], v[4 * k + 2], v[4 * k + 3]);
  }
}

}  // namespace cuda
}  // namespace aha

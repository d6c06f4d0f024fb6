// Fused causal self-attention, forward and backward: the readable reference
// for tensor/cuda/attention.cu. Each (batch, head) is one independent problem,
// computed with whole [T, T] matrices through Eigen (the CPU has the memory;
// the CUDA kernels never form them). Threads split the B*H problems
// (tensor/cpu/parallel.h), so results do not depend on the thread count.
//
// Layout: q, k, v, y are [B, T, C] with the H heads interleaved along C
// (C = H*D, head h is columns h*D .. h*D + D - 1), as a linear layer writes
// them: a head's [T, D] matrix is a strided view (row stride C), no permute.
#include <cmath>

#include "tensor/cpu/eigen_maps.h"
#include "tensor/cpu/fast_math.h"
#include "tensor/cpu/kernels.h"
#include "tensor/cpu/parallel.h"

namespace aha {
namespace cpu {

namespace {

// Scores S [T, T] -> probabilities in place: P_ij = exp(S_ij - lse_i) for
// j <= i, 0 above the diagonal (exp_fast: the loops vectorise).
void causal_probs_(RowMajor& S, const float* lse) {
  for (int64_t i = 0; i < S.rows(); ++i) {
    float* row = S.row(i).data();
    const float lse_i = lse[i];
#pragma omp simd
    for (int64_t j = 0; j <= i; ++j) row[j] = exp_fast(row[j] - lse_i);
    for (int64_t j = i + 1; j < S.cols(); ++j) row[j] = 0.0f;
  }
}

}  // namespace

// Per head, with S = Q K^T / sqrt(D) and only keys j <= i visible to query i
// (Vaswani et al. 2017 eq. 1 with GPT's causal mask):
//   lse_i = log sum_{j<=i} exp(S_ij)          (subtracting max_j S_ij first)
//   y_i   = sum_{j<=i} exp(S_ij - lse_i) v_j
// lse [B, H, T] is kept for the backward, which rebuilds P from it.
void causal_attention(const float* q, const float* k, const float* v, float* y, float* lse, int64_t B,
                      int64_t T, int64_t H, int64_t D) {
  pin_blocking();
  const int64_t C = H * D;
  const float scale = 1.0f / std::sqrt((float)D);
#pragma omp parallel for schedule(static) if (B * H * T * T * D >= kParallelMinWork)
  for (int64_t bh = 0; bh < B * H; ++bh) {
    const int64_t b = bh / H, h = bh % H, at = b * T * C + h * D;
    ConstMap Q(q + at, T, D, Stride(C)), K(k + at, T, D, Stride(C)), V(v + at, T, D, Stride(C));
    Map Y(y + at, T, D, Stride(C));
    float* row_lse = lse + bh * T;
    RowMajor S = (Q * K.transpose()) * scale;  // [T, T]
    for (int64_t i = 0; i < T; ++i) {
      float* row = S.row(i).data();
      const float max = max_f32(row, i + 1);
#pragma omp simd
      for (int64_t j = 0; j <= i; ++j) row[j] = exp_fast(row[j] - max);
      const double sum = sum_f64(row, i + 1);
      row_lse[i] = max + (float)std::log(sum);
      const float inv_sum = (float)(1.0 / sum);
#pragma omp simd
      for (int64_t j = 0; j <= i; ++j) row[j] *= inv_sum;  // P_ij = exp(S_ij - lse_i)
      for (int64_t j = i + 1; j < T; ++j) row[j] = 0.0f;
    }
    Y.noalias() = S * V;
  }
}

// FlashAttention-2 (Dao 2023) algorithm 2, the backward of the forward above,
// per head with P rebuilt from lse and scale = 1/sqrt(D):
//   P_ij = exp(S_ij - lse_i)  (0 for j > i),   D_i = sum_d dy_id y_id
//   dV = P^T dY,   dP = dY V^T,   dS = P o (dP - D 1^T)
//   dQ = scale dS K,   dK = scale dS^T Q
// D_i = sum_j P_ij dP_ij is the softmax backward's row sum, read off y instead.
// dq, dk, dv [B, T, C] are overwritten.
void causal_attention_backward(const float* q, const float* k, const float* v, const float* y,
                               const float* lse, const float* dy, float* dq, float* dk, float* dv,
                               int64_t B, int64_t T, int64_t H, int64_t D) {
  pin_blocking();
  const int64_t C = H * D;
  const float scale = 1.0f / std::sqrt((float)D);
#pragma omp parallel for schedule(static) if (B * H * T * T * D >= kParallelMinWork)
  for (int64_t bh = 0; bh < B * H; ++bh) {
    const int64_t b = bh / H, h = bh % H, at = b * T * C + h * D;
    ConstMap Q(q + at, T, D, Stride(C)), K(k + at, T, D, Stride(C)), V(v + at, T, D, Stride(C));
    ConstMap Y(y + at, T, D, Stride(C)), dY(dy + at, T, D, Stride(C));
    Map dQ(dq + at, T, D, Stride(C)), dK(dk + at, T, D, Stride(C)), dV(dv + at, T, D, Stride(C));
    RowMajor P = (Q * K.transpose()) * scale;                        // S [T, T]
    causal_probs_(P, lse + bh * T);
    const Eigen::VectorXf Di = dY.cwiseProduct(Y).rowwise().sum();   // [T]
    dV.noalias() = P.transpose() * dY;
    RowMajor dS = dY * V.transpose();                                // dP [T, T]
    dS = P.cwiseProduct(dS.colwise() - Di);
    dQ.noalias() = scale * (dS * K);
    dK.noalias() = scale * (dS.transpose() * Q);
  }
}

}  // namespace cpu
}  // namespace aha

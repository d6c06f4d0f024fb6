// Matrix products on the CPU through Eigen. Our tensors are row-major, so each
// matrix is mapped as a RowMajor Eigen matrix over the tensor's storage (no
// copy); a transpose flag maps the stored matrix and reads it transposed.
//
// Threads: Eigen's own OpenMP GEMM is switched off (its blocking, and so the
// order of the sums, depends on the thread count). Instead we split the work
// into independent products by a rule that depends only on the shapes: one
// product per batch (attention heads, and the [B, T, C] @ W of a linear layer),
// or, for a single large product, tiles of kTile output rows or columns. Each
// thread runs single-threaded Eigen on its share, so the result is the same
// for any number of threads (tensor/cpu/parallel.h). And the blocking inside
// Eigen is pinned (eigen_maps.h pin_blocking), so it is the same on any CPU.
#include <algorithm>
#include <vector>

#include "tensor/cpu/eigen_maps.h"
#include "tensor/cpu/kernels.h"
#include "tensor/cpu/parallel.h"

namespace aha {
namespace cpu {

namespace {

// Output rows or columns per tile of a single (batch 1) product. Tiles split
// C = op(A) op(B) along its longer side; a tile repacks the other operand,
// which costs little next to its 2 * kTile * K * (other side) flops.
constexpr int64_t kTile = 64;

// C = op(A) @ op(B) for one matrix each, single-threaded Eigen. lda, ldb, ldc are
// the row strides of the stored matrices (which may be sub-blocks of larger ones).
void gemm(const float* a, const float* b, float* c, int64_t M, int64_t N, int64_t K, bool trans_a,
          bool trans_b, int64_t lda, int64_t ldb, int64_t ldc) {
  Map C(c, M, N, Stride(ldc));
  ConstMap A(a, trans_a ? K : M, trans_a ? M : K, Stride(lda));
  ConstMap B(b, trans_b ? N : K, trans_b ? K : N, Stride(ldb));
  if (!trans_a && !trans_b) C.noalias() = A * B;
  else if (trans_a && !trans_b) C.noalias() = A.transpose() * B;
  else if (!trans_a && trans_b) C.noalias() = A * B.transpose();
  else C.noalias() = A.transpose() * B.transpose();
}

}  // namespace

// C[b] = op(A[b]) @ op(B[b]),  op(X) = X^T when its flag is set.
// A[b] is stored [M, K] (or [K, M] if trans_a), B[b] is stored [K, N] (or [N, K]
// if trans_b), C[b] is [M, N]. b_shared: one B for every batch (a weight matrix).
void matmul(const float* a, const float* b, float* c, int64_t batch, int64_t M, int64_t N,
            int64_t K, bool trans_a, bool trans_b, bool b_shared) {
  if (M == 0 || N == 0) return;
  if (K == 0) {  // an empty sum: C = 0
    std::fill(c, c + batch * M * N, 0.0f);
    return;
  }
  pin_blocking();
  const int64_t lda = trans_a ? M : K, ldb = trans_b ? K : N;
  const bool parallel = M * N * K * batch >= kParallelMinWork * 64;
  if (batch > 1) {
#pragma omp parallel for schedule(static) if (parallel)
    for (int64_t i = 0; i < batch; ++i) {
      const float* b_i = b_shared ? b : b + i * K * N;
      gemm(a + i * M * K, b_i, c + i * M * N, M, N, K, trans_a, trans_b, lda, ldb, N);
    }
    return;
  }
  // One product: tiles of kTile rows of C (rows of op(A)) or of columns (of op(B)).
  // Row m of op(A) starts at a + m * lda, or at column m (a + m) when transposed.
  const bool split_rows = M >= N;
  const int64_t tiles = parallel ? ((split_rows ? M : N) + kTile - 1) / kTile : 1;
#pragma omp parallel for schedule(static) if (tiles > 1)
  for (int64_t t = 0; t < tiles; ++t) {
    const int64_t start = t * kTile;
    if (tiles == 1) {
      gemm(a, b, c, M, N, K, trans_a, trans_b, lda, ldb, N);
    } else if (split_rows) {
      const int64_t rows = std::min(kTile, M - start);
      const float* a_t = trans_a ? a + start : a + start * lda;
      gemm(a_t, b, c + start * N, rows, N, K, trans_a, trans_b, lda, ldb, N);
    } else {
      const int64_t cols = std::min(kTile, N - start);
      const float* b_t = trans_b ? b + start * ldb : b + start;
      gemm(a, b_t, c + start, M, cols, K, trans_a, trans_b, lda, ldb, N);
    }
  }
}

// y[r, :] = x[r, :] @ w + b (+ residual[r, :]): the product above, then the
// bias (and the residual) on each row.
void linear(const float* x, const float* w, const float* b, const float* residual, float* y, int64_t rows,
            int64_t N, int64_t K) {
  matmul(x, w, y, 1, rows, N, K, false, false, true);
#pragma omp parallel for schedule(static) if (rows * N >= kParallelMinWork)
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t n = 0; n < N; ++n) y[r * N + n] += b[n] + (residual ? residual[r * N + n] : 0.0f);
}

// The bf16 products: the readable reference for tensor/cuda/matmul.cu's tensor
// core versions. bf16 -> float is exact, so widening the operands and running
// the float32 product above sums the same exact products in float32; a bf16
// result is that float32 sum rounded once (to nearest even, as cast does).
void matmul_bf16(const uint16_t* a, const uint16_t* b, void* c, DType out, int64_t batch, int64_t M, int64_t N,
                 int64_t K, bool trans_a, bool trans_b, bool b_shared) {
  std::vector<float> a32((size_t)(batch * M * K)), b32((size_t)((b_shared ? 1 : batch) * K * N));
  cast_to_f32(a, a32.data(), (int64_t)a32.size());
  cast_to_f32(b, b32.data(), (int64_t)b32.size());
  if (out == DType::F32) {
    matmul(a32.data(), b32.data(), static_cast<float*>(c), batch, M, N, K, trans_a, trans_b, b_shared);
    return;
  }
  std::vector<float> c32((size_t)(batch * M * N));
  matmul(a32.data(), b32.data(), c32.data(), batch, M, N, K, trans_a, trans_b, b_shared);
  cast_to_bf16(c32.data(), static_cast<uint16_t*>(c), (int64_t)c32.size());
}

// y = x @ w + b (+ residual) with the sums, the bias and the residual in
// float32; y rounded to bf16 once at the end when there is no residual.
void linear_bf16(const uint16_t* x, const uint16_t* w, const void* b, const float* residual, void* y,
                 int64_t rows, int64_t N, int64_t K) {
  std::vector<float> x32((size_t)(rows * K)), w32((size_t)(K * N));
  cast_to_f32(x, x32.data(), (int64_t)x32.size());
  cast_to_f32(w, w32.data(), (int64_t)w32.size());
  if (residual) {  // y and b float
    linear(x32.data(), w32.data(), static_cast<const float*>(b), residual, static_cast<float*>(y), rows, N, K);
    return;
  }
  std::vector<float> b32((size_t)N), y32((size_t)(rows * N));  // y and b bf16
  cast_to_f32(static_cast<const uint16_t*>(b), b32.data(), N);
  linear(x32.data(), w32.data(), b32.data(), nullptr, y32.data(), rows, N, K);
  cast_to_bf16(y32.data(), static_cast<uint16_t*>(y), (int64_t)y32.size());
}

}  // namespace cpu
}  // namespace aha

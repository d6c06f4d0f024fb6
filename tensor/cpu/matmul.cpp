// Matrix products on the CPU through Eigen. Our tensors are row-major, so each
// matrix is mapped as a RowMajor Eigen matrix over the tensor's storage (no
// copy); a transpose flag maps the stored matrix and reads it transposed.
#include <Eigen/Dense>

#include "tensor/cpu/kernels.h"

namespace aha {
namespace cpu {

namespace {
using RowMajor = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
using ConstMap = Eigen::Map<const RowMajor>;
using Map = Eigen::Map<RowMajor>;
}  // namespace

// C[b] = op(A[b]) @ op(B[b]),  op(X) = X^T when its flag is set.
// A[b] is stored [M, K] (or [K, M] if trans_a), B[b] is stored [K, N] (or [N, K]
// if trans_b), C[b] is [M, N]. b_shared: one B for every batch (a weight matrix).
void matmul(const float* a, const float* b, float* c, int64_t batch, int64_t M, int64_t N,
            int64_t K, bool trans_a, bool trans_b, bool b_shared) {
  for (int64_t i = 0; i < batch; ++i) {
    const float* a_i = a + i * M * K;
    const float* b_i = b_shared ? b : b + i * K * N;
    Map C(c + i * M * N, M, N);
    ConstMap A(a_i, trans_a ? K : M, trans_a ? M : K);
    ConstMap B(b_i, trans_b ? N : K, trans_b ? K : N);
    if (!trans_a && !trans_b) C.noalias() = A * B;
    else if (trans_a && !trans_b) C.noalias() = A.transpose() * B;
    else if (!trans_a && trans_b) C.noalias() = A * B.transpose();
    else C.noalias() = A.transpose() * B.transpose();
  }
}

}  // namespace cpu
}  // namespace aha

// The matrix product and its backward, for every transpose flag and for a
// right-hand matrix that is either batched like `a` or one 2-D matrix shared by
// every batch (a linear layer's weight applied to [B, T, C] activations).
#include "autograd/ops.h"

namespace aha {
namespace {

// Rows of every batch's op(A), stacked: [.., M, K] -> [batch * M, K]. A
// contiguous row-major [.., M, K] is already that matrix, so without trans_a
// this is a view; with trans_a, each [K, M] batch is transposed (one copy).
Tensor stacked_rows(const Tensor& a, bool trans_a) {
  Tensor rows = trans_a ? transpose_last2(a) : a;
  return rows.reshape(Shape{rows.shape().without_last().numel(), rows.size(-1)});
}

}  // namespace

// Y = op(A) @ op(B), op(X) = X or X^T; per batch, op(A) is [M, K], op(B) [K, N].
// With dY [M, N], the chain rule on op(A) and op(B):
//   d op(A) = dY @ op(B)^T          [M, K]
//   d op(B) = op(A)^T @ dY          [K, N]
// and dA = d op(A) (or its transpose when trans_a), likewise dB. Written out:
//   Y = A B:      dA = dY B^T,    dB = A^T dY
//   Y = A^T B:    dA = B dY^T,    dB = A dY
//   Y = A B^T:    dA = dY B,      dB = dY^T A
//   Y = A^T B^T:  dA = B^T dY^T,  dB = dY^T A^T
// A 2-D B shared by every batch gets the sum over batches of its gradient.
Var matmul(const Var& a, const Var& b, bool trans_a, bool trans_b) {
  Tensor y = matmul(a.value(), b.value(), trans_a, trans_b);
  return make_result(y, "matmul", {a, b}, [trans_a, trans_b](Node& self) {
    Node& na = *self.parents[0];
    Node& nb = *self.parents[1];
    const Tensor& A = na.value;
    const Tensor& B = nb.value;
    const Tensor& dY = self.grad;  // [.., M, N]
    bool b_shared = B.ndim() == 2 && A.ndim() > 2;
    if (na.requires_grad) {
      if (!trans_a) {
        accumulate_grad(na, matmul(dY, B, false, !trans_b));      // dY @ op(B)^T
      } else if (!b_shared) {
        accumulate_grad(na, matmul(B, dY, trans_b, true));        // op(B) @ dY^T
      } else {
        // A shared B cannot lead a batched product; transpose dY @ op(B)^T instead.
        accumulate_grad(na, transpose_last2(matmul(dY, B, false, !trans_b)));
      }
    }
    if (nb.requires_grad) {
      if (!b_shared) {
        if (!trans_b) accumulate_grad(nb, matmul(A, dY, !trans_a, false));  // op(A)^T @ dY
        else accumulate_grad(nb, matmul(dY, A, true, trans_a));             // dY^T @ op(A)
      } else {
        // sum_b op(A_b)^T dY_b = [op(A_1); op(A_2); ..]^T [dY_1; dY_2; ..]:
        // one 2-D product over the batches stacked as rows.
        Tensor a_rows = stacked_rows(A, trans_a);  // [batch*M, K]
        Tensor dy_rows = stacked_rows(dY, false);  // [batch*M, N], a view
        if (!trans_b) accumulate_grad(nb, matmul(a_rows, dy_rows, true, false));  // [K, N]
        else accumulate_grad(nb, matmul(dy_rows, a_rows, true, false));           // [N, K]
      }
    }
  });
}

// y = x W + b (+ r), x [.., K] seen as rows X [R, K], W [K, N], b [N]:
//   dX = dY W^T,   dW = X^T dY,   db = sum over rows of dY,   dr = dY
// (matmul's rules for a shared B, and add's for a bias and a residual). One op
// rather than add(r, add(matmul(x, W), b)) so the forward writes y once
// (tensor op linear).
//
// bf16 x (the bf16 path): the forward used bf16(W), so the same rules hold with
// W replaced by bf16(W); each product takes bf16 operands and sums in fp32:
//   dX = bf16(bf16(dY) bf16(W)^T)   bf16, x's dtype: it flows on into the op that made x
//   dW = X^T bf16(dY)               fp32: a weight's gradient (the optimizer's input)
//   db = sum over rows of dY        fp32 sums of dY as it came (fp32 with a residual)
//   dr = dY                         fp32: r and y are the residual stream
// dY is y's dtype: bf16 without a residual, fp32 with one.
Var linear(const Var& x, const Var& w, const Var& b, const Var& residual) {
  const bool has_residual = residual.defined();
  Tensor y = linear(x.value(), w.value(), b.value(), has_residual ? residual.value() : Tensor());
  std::vector<Var> parents = {x, w, b};
  if (has_residual) parents.push_back(residual);
  return make_result(y, "linear", parents, [has_residual](Node& self) {
    Node& nx = *self.parents[0];
    Node& nw = *self.parents[1];
    Node& nb = *self.parents[2];
    const Tensor& X = nx.value;
    const Tensor& W = nw.value;
    const Tensor dY = take_grad(self);  // [.., N]
    if (X.dtype() == DType::BF16) {
      const Tensor dy_bf16 = cast(dY, DType::BF16);
      if (nx.requires_grad)
        accumulate_grad(nx, matmul(dy_bf16, cast(W, DType::BF16), false, true, DType::BF16));
      if (nw.requires_grad) {
        const Tensor x_rows = X.reshape(Shape{X.shape().rows(), X.size(-1)});  // views
        const Tensor dy_rows = dy_bf16.reshape(Shape{dY.shape().rows(), dY.size(-1)});
        accumulate_grad(nw, matmul(x_rows, dy_rows, true, false, DType::F32));
      }
    } else {
      if (nx.requires_grad) accumulate_grad(nx, matmul(dY, W, false, true));
      if (nw.requires_grad) {
        const Tensor x_rows = X.reshape(Shape{X.shape().rows(), X.size(-1)});  // views
        const Tensor dy_rows = dY.reshape(Shape{dY.shape().rows(), dY.size(-1)});
        accumulate_grad(nw, matmul(x_rows, dy_rows, true, false));
      }
    }
    if (nb.requires_grad) accumulate_grad(nb, sum_rows(dY));
    if (has_residual && self.parents[3]->requires_grad) accumulate_grad(*self.parents[3], dY);  // last: may keep dY
  });
}

}  // namespace aha

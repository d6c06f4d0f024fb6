// The neural-net ops: softmax, layernorm, embedding and the losses. Their
// backward passes are fused tensor kernels (tensor/cpu/softmax.cpp,
// layernorm.cpp, embedding.cpp, loss.cpp); the derivative each one computes is
// written above the op here.
#include "autograd/ops.h"

namespace aha {

// y = softmax(a) over the last dim:  da = y * (dy - sum_c(dy * y))
Var softmax(const Var& a) {
  return make_result(softmax(a.value()), "softmax", {a}, [](Node& self) {
    accumulate_grad(*self.parents[0], softmax_backward(self.value, self.grad));
  });
}

// y = log_softmax(a) = a - log sum_c e^a:  da = dy - e^y * sum_c(dy)
Var log_softmax(const Var& a) {
  return make_result(log_softmax(a.value()), "log_softmax", {a}, [](Node& self) {
    accumulate_grad(*self.parents[0], log_softmax_backward(self.value, self.grad));
  });
}

// y = gamma * xhat + beta, xhat = (x - mean) * rstd, rstd = 1/sqrt(var + eps),
// mean and (biased) var over the last dim C. With g = dy * gamma:
//   dx = rstd * (g - mean_c(g) - xhat * mean_c(g * xhat))
//   dgamma = sum over rows of dy * xhat,  dbeta = sum over rows of dy
// With y bf16 (the bf16 path) dy is bf16 too; the kernel widens it and sums in
// float, and dx, dgamma, dbeta come out fp32 like x, gamma, beta.
Var layernorm(const Var& x, const Var& gamma, const Var& beta, float eps, DType out) {
  LayerNormResult r = layernorm(x.value(), gamma.value(), beta.value(), eps, out);
  Tensor mean = r.mean, rstd = r.rstd;  // [..], saved so backward need not recompute them
  return make_result(r.y, "layernorm", {x, gamma, beta}, [mean, rstd](Node& self) {
    Node& nx = *self.parents[0];
    Node& ngamma = *self.parents[1];
    Node& nbeta = *self.parents[2];
    LayerNormGrads g = layernorm_backward(self.grad, nx.value, ngamma.value, mean, rstd);
    if (nx.requires_grad) accumulate_grad(nx, g.dx);
    if (ngamma.requires_grad) accumulate_grad(ngamma, g.dgamma);
    if (nbeta.requires_grad) accumulate_grad(nbeta, g.dbeta);
  });
}

// y[.., :] = W[ids[..], :]:  dW[v] = sum of dy rows whose id is v (a scatter-add;
// a token that appears twice gets both gradients). ids get no gradient.
Var embedding(const Var& weight, const Tensor& ids) {
  return make_result(embedding(weight.value(), ids), "embedding", {weight}, [ids](Node& self) {
    Node& nw = *self.parents[0];
    accumulate_grad(nw, embedding_backward(self.grad, ids, nw.value.size(0)));
  });
}

// L = sum_i m_i * -log softmax(z_i)[t_i] / max(1, sum_i m_i):
//   dz_i = dL * m_i * (softmax(z_i) - onehot(t_i)) / max(1, sum m)
// The kernel takes dL as a host float; it runs with dL = 1 and the result is
// scaled by the device scalar dy, so backward never waits on a host read.
Var cross_entropy(const Var& logits, const Tensor& targets, const Tensor& mask) {
  Tensor loss = cross_entropy(logits.value(), targets, mask);
  return make_result(loss, "cross_entropy", {logits}, [targets, mask](Node& self) {
    Node& nz = *self.parents[0];
    Tensor dz = cross_entropy_backward(nz.value, targets, mask, 1.0f);  // [N, V]
    accumulate_grad(nz, mul(dz, self.grad));  // self.grad has one element: broadcast
  });
}

// y_i = log softmax(z_i)[t_i]:  dz_i = dy_i * (onehot(t_i) - softmax(z_i))
Var token_logprobs(const Var& logits, const Tensor& tokens) {
  Tensor y = token_logprobs(logits.value(), tokens);
  return make_result(y, "token_logprobs", {logits}, [tokens](Node& self) {
    Node& nz = *self.parents[0];
    accumulate_grad(nz, token_logprobs_backward(nz.value, tokens, self.grad));
  });
}

}  // namespace aha

// The neural-net ops: layernorm, embedding and the losses on logits. Shape
// checks, output allocation and backend dispatch; the arithmetic is in
// tensor/cpu/layernorm.cpp, embedding.cpp, loss.cpp and their tensor/cuda/ siblings.
#include <string>
#include <utility>
#include <vector>

#include "tensor/ops_checks.h"

namespace aha {

// ---- layernorm ----

// x, gamma, beta fp32 (on the bf16 path x is the fp32 residual stream); y in
// `out`, computed in float and rounded once; mean and rstd fp32.
LayerNormResult layernorm(const Tensor& x, const Tensor& gamma, const Tensor& beta, float eps, DType out) {
  const char* op = "layernorm";
  Device dev = same_device(op, x, gamma);
  same_device(op, x, beta);
  check_min_dims(op, x, 1);
  if (x.dtype() != DType::F32 || gamma.dtype() != DType::F32 || beta.dtype() != DType::F32)
    shape_error(op, std::string("x, gamma and beta must be fp32 (y may be bf16), got ") + dtype_name(x.dtype()) +
                        ", " + dtype_name(gamma.dtype()) + ", " + dtype_name(beta.dtype()));
  int64_t C = x.shape().last();
  if (gamma.shape() != Shape{C} || beta.shape() != Shape{C})
    shape_error(op, "gamma " + gamma.shape().str() + " and beta " + beta.shape().str() +
                        " must be [" + std::to_string(C) + "] for x " + x.shape().str());
  LayerNormResult r;
  r.y = Tensor::empty(x.shape(), dev, out);
  r.mean = Tensor::empty(x.shape().without_last(), dev);
  r.rstd = Tensor::empty(x.shape().without_last(), dev);
  if (out == DType::BF16)
    AHA_DISPATCH(dev, layernorm_bf16(x.data(), gamma.data(), beta.data(), r.y.data_bf16(), r.mean.data(),
                                     r.rstd.data(), x.shape().rows(), C, eps));
  else AHA_DISPATCH(dev, layernorm(x.data(), gamma.data(), beta.data(), r.y.data(), r.mean.data(),
                                   r.rstd.data(), x.shape().rows(), C, eps));
  return r;
}

LayerNormResult layernorm(const Tensor& x, const Tensor& gamma, const Tensor& beta, float eps) {
  return layernorm(x, gamma, beta, eps, DType::F32);
}

LayerNormGrads layernorm_backward(const Tensor& dy, const Tensor& x, const Tensor& gamma,
                                  const Tensor& mean, const Tensor& rstd) {
  const char* op = "layernorm_backward";
  Device dev = same_device(op, dy, x);
  same_device(op, x, gamma);
  check_same_shape(op, dy, x);
  // dy is y's gradient, fp32 or bf16; dx is x's, fp32 like x.
  if (x.dtype() != DType::F32 || gamma.dtype() != DType::F32 || mean.dtype() != DType::F32 ||
      rstd.dtype() != DType::F32)
    shape_error(op, std::string("x, gamma, mean and rstd must be fp32 (dy may be bf16), got ") +
                        dtype_name(x.dtype()) + ", " + dtype_name(gamma.dtype()) + ", " + dtype_name(mean.dtype()) +
                        ", " + dtype_name(rstd.dtype()));
  int64_t C = x.shape().last(), rows = x.shape().rows();
  if (gamma.numel() != C || mean.numel() != rows || rstd.numel() != rows)
    shape_error(op, "gamma " + gamma.shape().str() + ", mean " + mean.shape().str() + ", rstd " +
                        rstd.shape().str() + " do not fit x " + x.shape().str());
  LayerNormGrads g;
  g.dx = Tensor::empty(x.shape(), dev);
  g.dgamma = Tensor::empty(Shape{C}, dev);
  g.dbeta = Tensor::empty(Shape{C}, dev);
  if (dy.dtype() == DType::BF16)
    AHA_DISPATCH(dev, layernorm_backward_bf16(dy.data_bf16(), x.data(), gamma.data(), mean.data(), rstd.data(),
                                              g.dx.data(), g.dgamma.data(), g.dbeta.data(), rows, C));
  else AHA_DISPATCH(dev, layernorm_backward(dy.data(), x.data(), gamma.data(), mean.data(), rstd.data(),
                                            g.dx.data(), g.dgamma.data(), g.dbeta.data(), rows, C));
  return g;
}

// ---- embedding ----

Tensor embedding(const Tensor& weight, const Tensor& ids) {
  const char* op = "embedding";
  Device dev = same_device(op, weight, ids);
  if (weight.ndim() != 2) shape_error(op, "weight must be [V, C], got " + weight.shape().str());
  if (ids.ndim() >= Shape::kMaxDims) shape_error(op, "ids " + ids.shape().str() + " have too many dims");
  Shape out_shape = ids.shape();
  out_shape.dims[out_shape.ndim++] = weight.size(1);
  Tensor out = Tensor::empty(out_shape, dev);
  AHA_DISPATCH(dev, embedding(weight.data(), ids.data(), out.data(), ids.numel(), weight.size(1), weight.size(0)));
  return out;
}

Tensor embedding_backward(const Tensor& dout, const Tensor& ids, int64_t vocab_size) {
  const char* op = "embedding_backward";
  Device dev = same_device(op, dout, ids);
  if (dout.numel() != ids.numel() * dout.shape().last() || dout.ndim() != ids.ndim() + 1)
    shape_error(op, "dout " + dout.shape().str() + " does not fit ids " + ids.shape().str());
  int64_t C = dout.shape().last();
  Tensor dweight = Tensor::empty(Shape{vocab_size, C}, dev);
  AHA_DISPATCH(dev, embedding_backward(dout.data(), ids.data(), dweight.data(), ids.numel(), C, vocab_size));
  return dweight;
}

// ---- losses on logits ----

Tensor cross_entropy(const Tensor& logits, const Tensor& targets, const Tensor& mask) {
  const char* op = "cross_entropy";
  check_rows_match(op, logits, targets, "targets");
  check_rows_match(op, logits, mask, "mask");
  Tensor loss = Tensor::empty(Shape{}, logits.device());
  AHA_DISPATCH(logits.device(), cross_entropy(logits.data(), targets.data(), mask.data(), loss.data(),
                                              logits.size(0), logits.size(1)));
  return loss;
}

Tensor cross_entropy_backward(const Tensor& logits, const Tensor& targets, const Tensor& mask,
                              float dloss) {
  const char* op = "cross_entropy_backward";
  check_rows_match(op, logits, targets, "targets");
  check_rows_match(op, logits, mask, "mask");
  Tensor dlogits = Tensor::empty(logits.shape(), logits.device());
  AHA_DISPATCH(logits.device(), cross_entropy_backward(logits.data(), targets.data(), mask.data(), dloss,
                                                       dlogits.data(), logits.size(0), logits.size(1)));
  return dlogits;
}

Tensor token_logprobs(const Tensor& logits, const Tensor& tokens) {
  const char* op = "token_logprobs";
  check_rows_match(op, logits, tokens, "tokens");
  Tensor out = Tensor::empty(Shape{logits.size(0)}, logits.device());
  AHA_DISPATCH(logits.device(), token_logprobs(logits.data(), tokens.data(), out.data(), logits.size(0),
                                               logits.size(1)));
  return out;
}

Tensor token_logprobs_backward(const Tensor& logits, const Tensor& tokens, const Tensor& dout) {
  const char* op = "token_logprobs_backward";
  check_rows_match(op, logits, tokens, "tokens");
  check_rows_match(op, logits, dout, "dout");
  Tensor dlogits = Tensor::empty(logits.shape(), logits.device());
  AHA_DISPATCH(logits.device(), token_logprobs_backward(logits.data(), tokens.data(), dout.data(),
                                                        dlogits.data(), logits.size(0), logits.size(1)));
  return dlogits;
}

Tensor softmax_entropy(const Tensor& logits) {
  check_defined("softmax_entropy", logits);
  if (logits.ndim() != 2)
    shape_error("softmax_entropy", "logits must be [N, V], got " + logits.shape().str());
  Tensor out = Tensor::empty(Shape{logits.size(0)}, logits.device());
  AHA_DISPATCH(logits.device(), softmax_entropy(logits.data(), out.data(), logits.size(0), logits.size(1)));
  return out;
}

}  // namespace aha

// Reductions and the softmax family: shape checks, output allocation and
// backend dispatch; the arithmetic is in tensor/cpu/reduce.cpp, softmax.cpp
// and their tensor/cuda/ siblings.
#include <string>
#include <utility>
#include <vector>

#include "tensor/ops_checks.h"

namespace aha {

// ---- reductions ----

Tensor sum_last(const Tensor& a) { return reduce_last_op("sum_last", ReduceOp::Sum, a); }
Tensor mean_last(const Tensor& a) { return reduce_last_op("mean_last", ReduceOp::Mean, a); }
Tensor max_last(const Tensor& a) { return reduce_last_op("max_last", ReduceOp::Max, a); }
Tensor sum_all(const Tensor& a) { return reduce_all_op("sum_all", ReduceOp::Sum, a); }
Tensor mean_all(const Tensor& a) { return reduce_all_op("mean_all", ReduceOp::Mean, a); }
Tensor max_all(const Tensor& a) { return reduce_all_op("max_all", ReduceOp::Max, a); }

Tensor sum_rows(const Tensor& a) {
  check_defined("sum_rows", a);
  check_min_dims("sum_rows", a, 1);
  Tensor out = Tensor::empty(Shape{a.shape().last()}, a.device());  // fp32 for a bf16 a too: a sum
  if (a.dtype() == DType::BF16)
    AHA_DISPATCH(a.device(), sum_rows_bf16(a.data_bf16(), out.data(), a.shape().rows(), a.shape().last()));
  else AHA_DISPATCH(a.device(), sum_rows(a.data(), out.data(), a.shape().rows(), a.shape().last()));
  return out;
}

Tensor expand_last(const Tensor& a, int64_t size) {
  check_defined("expand_last", a);
  if (a.ndim() >= Shape::kMaxDims) shape_error("expand_last", "no room for a new dim in " + a.shape().str());
  Shape out_shape = a.shape();
  out_shape.dims[out_shape.ndim++] = size;
  Tensor out = Tensor::empty(out_shape, a.device());
  AHA_DISPATCH(a.device(), expand_last(a.data(), out.data(), a.numel(), size));
  return out;
}

Tensor sum_squares(const Tensor& a) {
  check_defined("sum_squares", a);
  Tensor out = Tensor::empty(Shape{}, a.device());
  AHA_DISPATCH(a.device(), sum_squares(a.data(), out.data(), a.numel()));
  return out;
}

// ---- softmax family ----

static Tensor softmax_op(const char* op, const Tensor& a, bool log) {
  check_defined(op, a);
  check_min_dims(op, a, 1);
  Tensor out = Tensor::empty(a.shape(), a.device());
  AHA_DISPATCH(a.device(), softmax(a.data(), out.data(), a.shape().rows(), a.shape().last(), log));
  return out;
}

static Tensor softmax_backward_op(const char* op, const Tensor& y, const Tensor& dy, bool log) {
  Device dev = same_device(op, y, dy);
  check_same_shape(op, y, dy);
  check_min_dims(op, y, 1);
  Tensor dx = Tensor::empty(y.shape(), dev);
  AHA_DISPATCH(dev, softmax_backward(y.data(), dy.data(), dx.data(), y.shape().rows(), y.shape().last(), log));
  return dx;
}

Tensor softmax(const Tensor& a) { return softmax_op("softmax", a, false); }
Tensor log_softmax(const Tensor& a) { return softmax_op("log_softmax", a, true); }
Tensor softmax_backward(const Tensor& y, const Tensor& dy) {
  return softmax_backward_op("softmax_backward", y, dy, false);
}
Tensor log_softmax_backward(const Tensor& y, const Tensor& dy) {
  return softmax_backward_op("log_softmax_backward", y, dy, true);
}

}  // namespace aha

// Elementwise and unary ops: shape checks, output allocation and backend
// dispatch; the arithmetic is in tensor/cpu/elementwise.cpp, unary.cpp and
// their tensor/cuda/ siblings.
#include <string>
#include <utility>
#include <vector>

#include "tensor/ops_checks.h"

namespace aha {

// ---- elementwise ----

Tensor add(const Tensor& a, const Tensor& b) { return binary_op("add", BinaryOp::Add, a, b); }
Tensor sub(const Tensor& a, const Tensor& b) { return binary_op("sub", BinaryOp::Sub, a, b); }
Tensor mul(const Tensor& a, const Tensor& b) { return binary_op("mul", BinaryOp::Mul, a, b); }
Tensor div(const Tensor& a, const Tensor& b) { return binary_op("div", BinaryOp::Div, a, b); }
Tensor minimum(const Tensor& a, const Tensor& b) {
  return binary_op("minimum", BinaryOp::Min, a, b, true);
}
Tensor maximum(const Tensor& a, const Tensor& b) {
  return binary_op("maximum", BinaryOp::Max, a, b, true);
}
Tensor greater_equal(const Tensor& a, const Tensor& b) {
  return binary_op("greater_equal", BinaryOp::GreaterEqual, a, b, true);
}

Tensor add_scalar(const Tensor& a, float s) {
  check_defined("add_scalar", a);
  Tensor out = Tensor::empty(a.shape(), a.device());
  AHA_DISPATCH(a.device(), affine(a.data(), out.data(), a.numel(), 1.0f, s));
  return out;
}

Tensor mul_scalar(const Tensor& a, float s) {
  check_defined("mul_scalar", a);
  Tensor out = Tensor::empty(a.shape(), a.device());
  AHA_DISPATCH(a.device(), affine(a.data(), out.data(), a.numel(), s, 0.0f));
  return out;
}

Tensor clamp(const Tensor& a, float lo, float hi) {
  check_defined("clamp", a);
  if (lo > hi) shape_error("clamp", "lo " + std::to_string(lo) + " > hi " + std::to_string(hi));
  Tensor out = Tensor::empty(a.shape(), a.device());
  AHA_DISPATCH(a.device(), clamp(a.data(), out.data(), a.numel(), lo, hi));
  return out;
}

Tensor clamp_mask(const Tensor& a, float lo, float hi) {
  check_defined("clamp_mask", a);
  Tensor out = Tensor::empty(a.shape(), a.device());
  AHA_DISPATCH(a.device(), clamp_mask(a.data(), out.data(), a.numel(), lo, hi));
  return out;
}

// ---- unary ----

Tensor exp(const Tensor& a) { return unary_op("exp", UnaryOp::Exp, a); }
Tensor log(const Tensor& a) { return unary_op("log", UnaryOp::Log, a); }
Tensor tanh(const Tensor& a) { return unary_op("tanh", UnaryOp::Tanh, a); }
Tensor sqrt(const Tensor& a) { return unary_op("sqrt", UnaryOp::Sqrt, a); }
Tensor relu(const Tensor& a) { return unary_op("relu", UnaryOp::Relu, a); }
// A bf16 a (the bf16 path) gives a bf16 result: the float formula, one rounding.
Tensor gelu(const Tensor& a) {
  check_defined("gelu", a);
  if (a.dtype() == DType::F32) return unary_op("gelu", UnaryOp::Gelu, a);
  Tensor out = Tensor::empty(a.shape(), a.device(), DType::BF16);
  AHA_DISPATCH(a.device(), gelu_bf16(a.data_bf16(), out.data_bf16(), a.numel()));
  return out;
}

Tensor relu_backward(const Tensor& x, const Tensor& dy) {
  Device dev = same_device("relu_backward", x, dy);
  check_same_shape("relu_backward", x, dy);
  Tensor dx = Tensor::empty(x.shape(), dev);
  AHA_DISPATCH(dev, relu_backward(x.data(), dy.data(), dx.data(), x.numel()));
  return dx;
}

// x and dy both fp32, or both bf16 (dx bf16, one rounding): a gradient has its value's dtype.
Tensor gelu_backward(const Tensor& x, const Tensor& dy) {
  Device dev = same_device("gelu_backward", x, dy);
  check_same_shape("gelu_backward", x, dy);
  if (x.dtype() != dy.dtype())
    shape_error("gelu_backward", std::string("x is ") + dtype_name(x.dtype()) + " but dy is " +
                                     dtype_name(dy.dtype()) + ": both fp32, or both bf16");
  Tensor dx = Tensor::empty(x.shape(), dev, x.dtype());
  if (x.dtype() == DType::BF16)
    AHA_DISPATCH(dev, gelu_backward_bf16(x.data_bf16(), dy.data_bf16(), dx.data_bf16(), x.numel()));
  else AHA_DISPATCH(dev, gelu_backward(x.data(), dy.data(), dx.data(), x.numel()));
  return dx;
}

}  // namespace aha

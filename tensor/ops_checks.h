// The shape checks and the small dispatch helpers that every tensor op shares,
// for tensor/ops_*.cpp only (users of the tensor layer include tensor/tensor.h).
// The ops are split by family, one file each: ops_matmul.cpp, ops_elementwise.cpp,
// ops_reduce.cpp, ops_nn.cpp, ops_attention.cpp, ops_layout.cpp, ops_inplace.cpp.
// Each decides what shape comes out and which kernel runs; the arithmetic is in
// tensor/cpu/ and tensor/cuda/.
#pragma once

#include <string>

#include "tensor/dispatch.h"
#include "tensor/tensor.h"

namespace aha {

[[noreturn]] inline void shape_error(const std::string& op, const std::string& what) {
  throw ShapeError(op + ": " + what);
}

inline std::string shapes(const Tensor& a, const Tensor& b) {
  return a.shape().str() + " and " + b.shape().str();
}

inline void check_defined(const char* op, const Tensor& a) {
  if (!a.defined()) shape_error(op, "undefined input tensor");
}

// Every input must be on the same device; returns it.
inline Device same_device(const char* op, const Tensor& a, const Tensor& b) {
  check_defined(op, a);
  check_defined(op, b);
  if (a.device() != b.device())
    shape_error(op, std::string("inputs on different devices (") + device_name(a.device()) +
                        " and " + device_name(b.device()) + ")");
  return a.device();
}

inline void check_same_shape(const char* op, const Tensor& a, const Tensor& b) {
  if (a.shape() != b.shape()) shape_error(op, "shapes differ: " + shapes(a, b));
}

inline void check_min_dims(const char* op, const Tensor& a, int ndim) {
  if (a.ndim() < ndim)
    shape_error(op, "needs at least " + std::to_string(ndim) + " dims, got " + a.shape().str());
}

inline Broadcast broadcast_kind(const char* op, const Tensor& a, const Tensor& b) {
  if (a.shape() == b.shape()) return Broadcast::Same;
  if (b.numel() == 1) return Broadcast::Scalar;
  if (b.ndim() == 1 && a.ndim() >= 1 && b.size(0) == a.shape().last()) return Broadcast::LastDim;
  shape_error(op, "cannot broadcast " + b.shape().str() + " over " + a.shape().str() +
                      " (b must match a, be a vector over a's last dim, or be one value)");
}

inline Tensor binary_op(const char* op, BinaryOp kind, const Tensor& a, const Tensor& b,
                        bool same_shape_only = false) {
  Device dev = same_device(op, a, b);
  if (same_shape_only) check_same_shape(op, a, b);
  Broadcast bc = broadcast_kind(op, a, b);
  Tensor out = Tensor::empty(a.shape(), dev);
  AHA_DISPATCH(dev, binary(kind, a.data(), b.data(), out.data(), a.numel(), a.shape().last(), bc));
  return out;
}

inline Tensor unary_op(const char* op, UnaryOp kind, const Tensor& a) {
  check_defined(op, a);
  Tensor out = Tensor::empty(a.shape(), a.device());
  AHA_DISPATCH(a.device(), unary(kind, a.data(), out.data(), a.numel()));
  return out;
}

inline Tensor reduce_last_op(const char* op, ReduceOp kind, const Tensor& a) {
  check_defined(op, a);
  check_min_dims(op, a, 1);
  if (kind == ReduceOp::Max && a.shape().last() == 0) shape_error(op, "max over an empty dim");
  Tensor out = Tensor::empty(a.shape().without_last(), a.device());
  AHA_DISPATCH(a.device(), reduce_last(kind, a.data(), out.data(), a.shape().rows(), a.shape().last()));
  return out;
}

inline Tensor reduce_all_op(const char* op, ReduceOp kind, const Tensor& a) {
  check_defined(op, a);
  if (kind == ReduceOp::Max && a.numel() == 0) shape_error(op, "max of an empty tensor");
  Tensor out = Tensor::empty(Shape{}, a.device());
  AHA_DISPATCH(a.device(), reduce_last(kind, a.data(), out.data(), 1, a.numel()));
  return out;
}

// logits [N, V] with one index/mask value per row [N].
inline void check_rows_match(const char* op, const Tensor& logits, const Tensor& per_row,
                      const char* what) {
  if (logits.ndim() != 2) shape_error(op, "logits must be [N, V], got " + logits.shape().str());
  if (per_row.numel() != logits.size(0))
    shape_error(op, std::string(what) + " " + per_row.shape().str() + " does not match logits " +
                        logits.shape().str() + " (one per row)");
  same_device(op, logits, per_row);
}

}  // namespace aha

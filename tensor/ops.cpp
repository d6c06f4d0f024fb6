// Shape checks, output allocation and backend dispatch for every tensor op.
// The arithmetic is in tensor/cpu/ and tensor/cuda/; this file only decides
// what shape comes out and which kernel runs.
#include <string>
#include <utility>

#include "tensor/dispatch.h"
#include "tensor/tensor.h"

namespace aha {
namespace {

[[noreturn]] void shape_error(const std::string& op, const std::string& what) {
  throw ShapeError(op + ": " + what);
}

std::string shapes(const Tensor& a, const Tensor& b) {
  return a.shape().str() + " and " + b.shape().str();
}

void check_defined(const char* op, const Tensor& a) {
  if (!a.defined()) shape_error(op, "undefined input tensor");
}

// Every input must be on the same device; returns it.
Device same_device(const char* op, const Tensor& a, const Tensor& b) {
  check_defined(op, a);
  check_defined(op, b);
  if (a.device() != b.device())
    shape_error(op, std::string("inputs on different devices (") + device_name(a.device()) +
                        " and " + device_name(b.device()) + ")");
  return a.device();
}

void check_same_shape(const char* op, const Tensor& a, const Tensor& b) {
  if (a.shape() != b.shape()) shape_error(op, "shapes differ: " + shapes(a, b));
}

void check_min_dims(const char* op, const Tensor& a, int ndim) {
  if (a.ndim() < ndim)
    shape_error(op, "needs at least " + std::to_string(ndim) + " dims, got " + a.shape().str());
}

Broadcast broadcast_kind(const char* op, const Tensor& a, const Tensor& b) {
  if (a.shape() == b.shape()) return Broadcast::Same;
  if (b.numel() == 1) return Broadcast::Scalar;
  if (b.ndim() == 1 && a.ndim() >= 1 && b.size(0) == a.shape().last()) return Broadcast::LastDim;
  shape_error(op, "cannot broadcast " + b.shape().str() + " over " + a.shape().str() +
                      " (b must match a, be a vector over a's last dim, or be one value)");
}

Tensor binary_op(const char* op, BinaryOp kind, const Tensor& a, const Tensor& b,
                 bool same_shape_only = false) {
  Device dev = same_device(op, a, b);
  if (same_shape_only) check_same_shape(op, a, b);
  Broadcast bc = broadcast_kind(op, a, b);
  Tensor out = Tensor::empty(a.shape(), dev);
  AHA_DISPATCH(dev, binary(kind, a.data(), b.data(), out.data(), a.numel(), a.shape().last(), bc));
  return out;
}

Tensor unary_op(const char* op, UnaryOp kind, const Tensor& a) {
  check_defined(op, a);
  Tensor out = Tensor::empty(a.shape(), a.device());
  AHA_DISPATCH(a.device(), unary(kind, a.data(), out.data(), a.numel()));
  return out;
}

Tensor reduce_last_op(const char* op, ReduceOp kind, const Tensor& a) {
  check_defined(op, a);
  check_min_dims(op, a, 1);
  if (kind == ReduceOp::Max && a.shape().last() == 0) shape_error(op, "max over an empty dim");
  Tensor out = Tensor::empty(a.shape().without_last(), a.device());
  AHA_DISPATCH(a.device(), reduce_last(kind, a.data(), out.data(), a.shape().rows(), a.shape().last()));
  return out;
}

Tensor reduce_all_op(const char* op, ReduceOp kind, const Tensor& a) {
  check_defined(op, a);
  if (kind == ReduceOp::Max && a.numel() == 0) shape_error(op, "max of an empty tensor");
  Tensor out = Tensor::empty(Shape{}, a.device());
  AHA_DISPATCH(a.device(), reduce_last(kind, a.data(), out.data(), 1, a.numel()));
  return out;
}

// logits [N, V] with one index/mask value per row [N].
void check_rows_match(const char* op, const Tensor& logits, const Tensor& per_row,
                      const char* what) {
  if (logits.ndim() != 2) shape_error(op, "logits must be [N, V], got " + logits.shape().str());
  if (per_row.numel() != logits.size(0))
    shape_error(op, std::string(what) + " " + per_row.shape().str() + " does not match logits " +
                        logits.shape().str() + " (one per row)");
  same_device(op, logits, per_row);
}

}  // namespace

// ---- matrix products ----

namespace {

// The sizes of C[b] = op(A[b]) @ op(B[b]) (tensor/ops.h), checked.
struct MatmulDims {
  int64_t batch, M, N, K;
  bool b_shared;
  Shape out;  // A's batch dims, then [M, N]
};

MatmulDims matmul_dims(const char* op, const Tensor& a, const Tensor& b, bool trans_a, bool trans_b) {
  check_min_dims(op, a, 2);
  check_min_dims(op, b, 2);
  int64_t M = trans_a ? a.size(-1) : a.size(-2);
  int64_t K = trans_a ? a.size(-2) : a.size(-1);
  int64_t Kb = trans_b ? b.size(-1) : b.size(-2);
  int64_t N = trans_b ? b.size(-2) : b.size(-1);
  if (K != Kb)
    shape_error(op, "inner dims differ: " + shapes(a, b) + " (trans_a=" +
                        std::to_string(trans_a) + ", trans_b=" + std::to_string(trans_b) + ")");
  int64_t batch = 1;
  for (int i = 0; i < a.ndim() - 2; ++i) batch *= a.size(i);
  bool b_shared = b.ndim() == 2;
  if (!b_shared) {
    bool same_batch = b.ndim() == a.ndim();
    for (int i = 0; same_batch && i < a.ndim() - 2; ++i) same_batch = a.size(i) == b.size(i);
    if (!same_batch)
      shape_error(op, "batch dims differ: " + shapes(a, b) + " (b must share a's batch dims or be 2-D)");
  }
  Shape out_shape = a.shape();
  out_shape.dims[a.ndim() - 2] = M;
  out_shape.dims[a.ndim() - 1] = N;
  return MatmulDims{batch, M, N, K, b_shared, out_shape};
}

}  // namespace

Tensor matmul(const Tensor& a, const Tensor& b, bool trans_a, bool trans_b) {
  const char* op = "matmul";
  Device dev = same_device(op, a, b);
  const MatmulDims d = matmul_dims(op, a, b, trans_a, trans_b);
  Tensor out = Tensor::empty(d.out, dev);
  if (out.numel() == 0) return out;
  if (d.K == 0) {
    fill_(out, 0.0f);
    return out;
  }
  AHA_DISPATCH(dev, matmul(a.data(), b.data(), out.data(), d.batch, d.M, d.N, d.K, trans_a, trans_b, d.b_shared));
  return out;
}

// The bf16 path's product: bf16 operands, float32 sums, the result rounded
// once to `out` (or kept float32). Two fp32 operands are the op above.
Tensor matmul(const Tensor& a, const Tensor& b, bool trans_a, bool trans_b, DType out) {
  const char* op = "matmul";
  Device dev = same_device(op, a, b);
  if (a.dtype() != b.dtype())
    shape_error(op, std::string("operands of different dtypes (") + dtype_name(a.dtype()) + " and " +
                        dtype_name(b.dtype()) + "): both bf16, or both fp32");
  if (a.dtype() == DType::F32) {
    if (out != DType::F32)
      shape_error(op, std::string("fp32 operands give an fp32 result, not ") + dtype_name(out) +
                          " (cast the operands to bf16 for a bf16 product)");
    return matmul(a, b, trans_a, trans_b);
  }
  const MatmulDims d = matmul_dims(op, a, b, trans_a, trans_b);
  if (d.out.numel() == 0 || d.K == 0) return Tensor::zeros(d.out, dev, out);  // an empty sum is 0
  Tensor c = Tensor::empty(d.out, dev, out);
  void* c_data = out == DType::BF16 ? (void*)c.data_bf16() : (void*)c.data();
  AHA_DISPATCH(dev, matmul_bf16(a.data_bf16(), b.data_bf16(), c_data, out, d.batch, d.M, d.N, d.K, trans_a,
                                trans_b, d.b_shared));
  return c;
}

// With x bf16 (the bf16 path), w and b are rounded to bf16 (as autocast
// does), the residual stays fp32; both are added to the fp32 sums, and y is
// rounded to bf16 only when it feeds another product (no residual): the
// residual stream stays fp32.
Tensor linear(const Tensor& x, const Tensor& w, const Tensor& b, const Tensor& residual) {
  const char* op = "linear";
  Device dev = same_device(op, x, w);
  same_device(op, x, b);
  check_min_dims(op, x, 1);
  const int64_t K = x.size(-1);
  if (w.ndim() != 2 || w.size(0) != K || b.ndim() != 1 || b.size(0) != w.size(1))
    shape_error(op, "x " + x.shape().str() + ", w " + w.shape().str() + ", b " + b.shape().str() +
                        ": needs x [.., K], w [K, N], b [N]");
  const int64_t N = w.size(1), rows = x.shape().rows();
  const bool bf16 = x.dtype() == DType::BF16;
  if (bf16 && (w.dtype() != DType::F32 || b.dtype() != DType::F32 ||
               (residual.defined() && residual.dtype() != DType::F32)))
    shape_error(op, std::string("bf16 x takes fp32 w, b and residual, got w ") + dtype_name(w.dtype()) + ", b " +
                        dtype_name(b.dtype()) + (residual.defined() ? ", residual " : "") +
                        (residual.defined() ? dtype_name(residual.dtype()) : ""));
  const DType y_dtype = bf16 && !residual.defined() ? DType::BF16 : DType::F32;
  Tensor out = Tensor::empty(x.shape().with_last(N), dev, y_dtype);
  if (residual.defined()) {
    same_device(op, x, residual);
    if (residual.shape() != out.shape())
      shape_error(op, "residual " + residual.shape().str() + " must have the output's shape " + out.shape().str());
  }
  if (out.numel() == 0) return out;
  const float* r = residual.defined() ? residual.data() : nullptr;
  if (bf16) {
    // The weight and the bias are rounded to bf16, as autocast does; the bias
    // is then read in y's type (cuBLASLt's epilogue takes it so): bf16 bits, or
    // the rounded values widened back to fp32 when y is the fp32 residual sum.
    const Tensor w_bf16 = cast(w, DType::BF16), b_bf16 = cast(b, DType::BF16);
    const Tensor b_y = cast(b_bf16, y_dtype);
    const bool y16 = y_dtype == DType::BF16;
    void* y = y16 ? (void*)out.data_bf16() : (void*)out.data();
    const void* bias = y16 ? (const void*)b_y.data_bf16() : (const void*)b_y.data();
    AHA_DISPATCH(dev, linear_bf16(x.data_bf16(), w_bf16.data_bf16(), bias, r, y, rows, N, K));
    return out;
  }
  AHA_DISPATCH(dev, linear(x.data(), w.data(), b.data(), r, out.data(), rows, N, K));
  return out;
}

namespace {
bool g_tf32 = true;  // the user-visible TF32 switch (docs/ARCHITECTURE.md: TF32 on CUDA by default)
}

void set_tf32(bool enabled) {
  g_tf32 = enabled;
#if AHA_CUDA
  if (cuda_available()) cuda::set_tf32(enabled);
#endif
}

bool tf32_enabled() { return g_tf32; }

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

// ---- fused causal attention ----

// q, k, v [B, T, C] on one device with C a multiple of n_heads; returns D = C / n_heads.
static int64_t check_attention_inputs(const char* op, const Tensor& q, const Tensor& k, const Tensor& v,
                                      int n_heads) {
  same_device(op, q, k);
  same_device(op, q, v);
  if (q.ndim() != 3) shape_error(op, "q, k, v must be [B, T, C], got q " + q.shape().str());
  if (k.shape() != q.shape() || v.shape() != q.shape())
    shape_error(op, "q " + q.shape().str() + ", k " + k.shape().str() + " and v " + v.shape().str() +
                        " must have one shape");
  if (k.dtype() != q.dtype() || v.dtype() != q.dtype())
    shape_error(op, std::string("q, k and v must have one dtype, got ") + dtype_name(q.dtype()) + ", " +
                        dtype_name(k.dtype()) + " and " + dtype_name(v.dtype()));
  const int64_t C = q.size(2);
  if (n_heads < 1 || C % n_heads != 0)
    shape_error(op, "n_heads " + std::to_string(n_heads) + " does not divide C = " + std::to_string(C));
  return C / n_heads;
}

static Tensor to_f32(const Tensor& t) { return cast(t, DType::F32); }
static Tensor to_bf16(const Tensor& t) { return cast(t, DType::BF16); }

Tensor causal_attention(const Tensor& q, const Tensor& k, const Tensor& v, int n_heads, Tensor& lse) {
  const char* op = "causal_attention";
  const int64_t D = check_attention_inputs(op, q, k, v, n_heads);
  const int64_t B = q.size(0), T = q.size(1);
  // bf16 storage, float32 math. On the GPU, head dims 32 and 64 have native
  // bf16 kernels (tensor/cuda/attention_tc.cu); elsewhere a bf16 call widens
  // q, k, v (exact), runs the float kernels and rounds y once: the reference.
  if (q.dtype() == DType::BF16) {
#if AHA_CUDA
    if (q.device() == Device::CUDA && cuda::causal_attention_bf16_supports(D)) {
      Tensor y = Tensor::empty(q.shape(), q.device(), DType::BF16);
      lse = Tensor::empty(Shape{B, n_heads, T}, q.device());
      if (y.numel() > 0)
        cuda::causal_attention_bf16(q.data_bf16(), k.data_bf16(), v.data_bf16(), y.data_bf16(), lse.data(), B, T,
                                    n_heads, D);
      return y;
    }
#endif
    return to_bf16(causal_attention(to_f32(q), to_f32(k), to_f32(v), n_heads, lse));
  }
  Tensor y = Tensor::empty(q.shape(), q.device());
  lse = Tensor::empty(Shape{B, n_heads, T}, q.device());
  if (y.numel() > 0) AHA_DISPATCH(q.device(), causal_attention(q.data(), k.data(), v.data(), y.data(), lse.data(),
                                                                B, T, n_heads, D));
  return y;
}

void causal_attention_backward(const Tensor& q, const Tensor& k, const Tensor& v, const Tensor& y,
                               const Tensor& lse, const Tensor& dy, int n_heads, Tensor& dq, Tensor& dk,
                               Tensor& dv) {
  const char* op = "causal_attention_backward";
  const int64_t D = check_attention_inputs(op, q, k, v, n_heads);
  const int64_t B = q.size(0), T = q.size(1);
  same_device(op, q, y);
  same_device(op, q, dy);
  same_device(op, q, lse);
  if (y.shape() != q.shape() || dy.shape() != q.shape() || lse.shape() != Shape{B, n_heads, T})
    shape_error(op, "y " + y.shape().str() + ", dy " + dy.shape().str() + " and lse " + lse.shape().str() +
                        " do not fit q " + q.shape().str() + " with " + std::to_string(n_heads) + " heads");
  if (y.dtype() != q.dtype() || dy.dtype() != q.dtype())
    shape_error(op, std::string("y and dy must be ") + dtype_name(q.dtype()) + " like q, got " +
                        dtype_name(y.dtype()) + " and " + dtype_name(dy.dtype()));
  if (q.dtype() == DType::BF16) {  // as in the forward: native on the GPU, else widen and round each gradient once
#if AHA_CUDA
    if (q.device() == Device::CUDA && cuda::causal_attention_bf16_supports(D)) {
      dq = Tensor::empty(q.shape(), q.device(), DType::BF16);
      dk = Tensor::empty(q.shape(), q.device(), DType::BF16);
      dv = Tensor::empty(q.shape(), q.device(), DType::BF16);
      if (q.numel() > 0)
        cuda::causal_attention_backward_bf16(q.data_bf16(), k.data_bf16(), v.data_bf16(), y.data_bf16(), lse.data(),
                                             dy.data_bf16(), dq.data_bf16(), dk.data_bf16(), dv.data_bf16(), B, T,
                                             n_heads, D);
      return;
    }
#endif
    causal_attention_backward(to_f32(q), to_f32(k), to_f32(v), to_f32(y), lse, to_f32(dy), n_heads, dq, dk, dv);
    dq = to_bf16(dq), dk = to_bf16(dk), dv = to_bf16(dv);
    return;
  }
  dq = Tensor::empty(q.shape(), q.device());
  dk = Tensor::empty(q.shape(), q.device());
  dv = Tensor::empty(q.shape(), q.device());
  if (q.numel() > 0)
    AHA_DISPATCH(q.device(), causal_attention_backward(q.data(), k.data(), v.data(), y.data(), lse.data(),
                                                       dy.data(), dq.data(), dk.data(), dv.data(), B, T,
                                                       n_heads, D));
}

// ---- batched decoding ----

// A clock is a [1] tensor on the op's device; returns its pointer (null when undefined).
static const float* clock_data(const char* op, Device dev, const Tensor& clock) {
  if (!clock.defined()) return nullptr;
  if (clock.device() != dev || clock.numel() != 1)
    shape_error(op, "the clock must be one value on the op's device, got " + clock.shape().str());
  return clock.data();
}

// A cache write takes src columns [column, column + width) of rows S wide, to
// cache positions [start, start + Tn) of Tmax.
static void check_cache_write(const char* op, int64_t column, int64_t width, int64_t S, int64_t start, int64_t Tn,
                              int64_t Tmax) {
  if (column < 0 || column + width > S)
    shape_error(op, "columns [" + std::to_string(column) + ", " + std::to_string(column + width) +
                        ") do not fit src rows of " + std::to_string(S));
  if (start < 0 || start + Tn > Tmax)
    shape_error(op, "positions [" + std::to_string(start) + ", " + std::to_string(start + Tn) +
                        ") do not fit a cache of " + std::to_string(Tmax));
}

void kv_cache_write_(Tensor& cache, const Tensor& src, int64_t column, int64_t start, const Tensor& clock) {
  const char* op = "kv_cache_write_";
  Device dev = same_device(op, cache, src);
  if (cache.ndim() != 4 || src.ndim() != 3 || src.size(0) != cache.size(0))
    shape_error(op, "cache must be [B, H, Tmax, D] and src [B, Tn, S], got " + shapes(cache, src));
  const int64_t B = cache.size(0), H = cache.size(1), Tmax = cache.size(2), D = cache.size(3);
  const int64_t Tn = src.size(1), S = src.size(2);
  check_cache_write(op, column, H * D, S, start, Tn, Tmax);
  AHA_DISPATCH(dev, kv_cache_write(cache.data(), src.data(), B, H, Tmax, D, Tn, S, column, start,
                                   clock_data(op, dev, clock)));
}

// A cache read: one query row per cache row (qkv [B, S], its columns
// [column, column + width)), one pad per row, positions [.., length) of Tmax.
static void check_cache_read(const char* op, const Tensor& qkv, const Tensor& pads, int64_t B, int64_t column,
                             int64_t width, int64_t length, int64_t Tmax) {
  const int64_t S = qkv.shape().last();
  if (qkv.numel() != B * S || pads.numel() != B)
    shape_error(op, "qkv " + qkv.shape().str() + " and pads " + pads.shape().str() + " must have " +
                        std::to_string(B) + " rows");
  if (column < 0 || column + width > S)
    shape_error(op, "query columns [" + std::to_string(column) + ", " + std::to_string(column + width) +
                        ") do not fit rows of " + std::to_string(S));
  if (length < 1 || length > Tmax)
    shape_error(op, "length " + std::to_string(length) + " outside [1, " + std::to_string(Tmax) + "]");
}

Tensor decode_attention(const Tensor& qkv, int64_t column, const Tensor& keys, const Tensor& values,
                        const Tensor& pads, int64_t length, const Tensor& clock) {
  const char* op = "decode_attention";
  Device dev = same_device(op, qkv, keys);
  same_device(op, keys, values);
  same_device(op, keys, pads);
  if (keys.ndim() != 4 || values.shape() != keys.shape())
    shape_error(op, "keys and values must both be [B, H, Tmax, D], got " + shapes(keys, values));
  const int64_t B = keys.size(0), H = keys.size(1), Tmax = keys.size(2), D = keys.size(3);
  const int64_t S = qkv.shape().last();
  check_cache_read(op, qkv, pads, B, column, H * D, length, Tmax);
  Tensor y = Tensor::empty(Shape{B, H * D}, dev);
  AHA_DISPATCH(dev, decode_attention(qkv.data(), S, column, keys.data(), values.data(), pads.data(), y.data(), B,
                                     H, Tmax, D, length, clock_data(op, dev, clock)));
  return y;
}

// A bf16 cache [B, H, Tmax, D/2] for head size D: D even and the width D/2.
static void check_bf16_cache(const char* op, const Tensor& cache, int64_t head_dim) {
  if (head_dim < 2 || head_dim % 2 != 0)
    shape_error(op, "a bf16 cache holds two values a word: head_dim must be even and >= 2, got " +
                        std::to_string(head_dim));
  if (cache.ndim() != 4 || cache.size(3) * 2 != head_dim)
    shape_error(op, "a bf16 cache of head_dim " + std::to_string(head_dim) + " must be [B, H, Tmax, " +
                        std::to_string(head_dim / 2) + "], got " + cache.shape().str());
}

void kv_cache_write_bf16_(Tensor& cache, const Tensor& src, int64_t head_dim, int64_t column, int64_t start,
                          const Tensor& clock) {
  const char* op = "kv_cache_write_bf16_";
  Device dev = same_device(op, cache, src);
  check_bf16_cache(op, cache, head_dim);
  if (src.ndim() != 3 || src.size(0) != cache.size(0))
    shape_error(op, "cache must be [B, H, Tmax, D/2] and src [B, Tn, S], got " + shapes(cache, src));
  const int64_t B = cache.size(0), H = cache.size(1), Tmax = cache.size(2), D = head_dim;
  const int64_t Tn = src.size(1), S = src.size(2);
  check_cache_write(op, column, H * D, S, start, Tn, Tmax);
  AHA_DISPATCH(dev, kv_cache_write_bf16(cache.data(), src.data(), B, H, Tmax, D, Tn, S, column, start,
                                        clock_data(op, dev, clock)));
}

Tensor decode_attention_bf16(const Tensor& qkv, int64_t column, const Tensor& keys, const Tensor& values,
                             int64_t head_dim, const Tensor& pads, int64_t length, const Tensor& clock) {
  const char* op = "decode_attention_bf16";
  Device dev = same_device(op, qkv, keys);
  same_device(op, keys, values);
  same_device(op, keys, pads);
  check_bf16_cache(op, keys, head_dim);
  if (values.shape() != keys.shape())
    shape_error(op, "keys and values must both be [B, H, Tmax, D/2], got " + shapes(keys, values));
  const int64_t B = keys.size(0), H = keys.size(1), Tmax = keys.size(2), D = head_dim;
  const int64_t S = qkv.shape().last();
  check_cache_read(op, qkv, pads, B, column, H * D, length, Tmax);
  Tensor y = Tensor::empty(Shape{B, H * D}, dev);
  AHA_DISPATCH(dev, decode_attention_bf16(qkv.data(), S, column, keys.data(), values.data(), pads.data(), y.data(),
                                          B, H, Tmax, D, length, clock_data(op, dev, clock)));
  return y;
}

uint16_t bf16_round(float x) { return cpu::bf16_round(x); }
float bf16_widen(uint16_t bits) { return cpu::bf16_widen(bits); }

// ---- bf16 ----

Tensor cast(const Tensor& x, DType dtype) {
  check_defined("cast", x);
  if (x.dtype() == dtype) return x;
  Tensor y = Tensor::empty(x.shape(), x.device(), dtype);
  if (dtype == DType::BF16) AHA_DISPATCH(x.device(), cast_to_bf16(x.data(), y.data_bf16(), x.numel()));
  else AHA_DISPATCH(x.device(), cast_to_f32(x.data_bf16(), y.data(), x.numel()));
  return y;
}

void sample_step_(const Tensor& logits, const Tensor& rows, DecodeState& state, Tensor& next_tokens,
                  Tensor& next_positions, const SampleStepConfig& config, const Tensor& clock) {
  const char* op = "sample_step_";
  Device dev = same_device(op, logits, rows);
  for (const Tensor* t : std::initializer_list<const Tensor*>{&state.prompt_lengths, &state.done, &state.lengths,
                                                             &state.tokens, &state.logprobs, &state.policy_logprobs,
                                                             &next_tokens, &next_positions})
    same_device(op, logits, *t);
  if (logits.ndim() != 2) shape_error(op, "logits must be [Bc, V], got " + logits.shape().str());
  const int64_t Bc = logits.size(0), B0 = state.done.numel();
  if (rows.numel() != Bc || next_tokens.numel() != Bc || next_positions.numel() != Bc)
    shape_error(op, "rows, next_tokens and next_positions must have the " + std::to_string(Bc) + " rows of the logits");
  if (state.prompt_lengths.numel() != B0 || state.lengths.numel() != B0 ||
      state.tokens.shape() != Shape{B0, config.max_new} || state.logprobs.shape() != state.tokens.shape() ||
      state.policy_logprobs.shape() != state.tokens.shape())
    shape_error(op, "the decode state must hold [B0] counters and [B0, max_new] records, B0 = " + std::to_string(B0));
  if (config.step < 0 || config.step >= config.max_new)
    shape_error(op, "step " + std::to_string(config.step) + " outside [0, max_new " + std::to_string(config.max_new) + ")");
  if (!config.greedy && !(config.temperature > 0.0f))
    shape_error(op, "temperature must be > 0 when sampling, got " + std::to_string(config.temperature));
  if (config.num_stop_tokens < 0 || config.num_stop_tokens > SampleStepConfig::kMaxStopTokens)
    shape_error(op, "at most " + std::to_string(SampleStepConfig::kMaxStopTokens) + " stop tokens");
  AHA_DISPATCH(dev, sample_step(logits.data(), rows.data(), state.prompt_lengths.data(), state.done.data(),
                                state.lengths.data(), state.tokens.data(), state.logprobs.data(),
                                state.policy_logprobs.data(), next_tokens.data(), next_positions.data(), Bc,
                                logits.size(1), config, clock_data(op, dev, clock)));
}

// ---- layout ----

Tensor transpose_last2(const Tensor& a) {
  check_defined("transpose_last2", a);
  check_min_dims("transpose_last2", a, 2);
  Shape out_shape = a.shape();
  std::swap(out_shape.dims[a.ndim() - 1], out_shape.dims[a.ndim() - 2]);
  Tensor out = Tensor::empty(out_shape, a.device());
  int64_t M = a.size(-2), N = a.size(-1);
  int64_t batch = M * N == 0 ? 0 : a.numel() / (M * N);
  AHA_DISPATCH(a.device(), transpose_last2(a.data(), out.data(), batch, M, N));
  return out;
}

Tensor permute_0213(const Tensor& a) {
  check_defined("permute_0213", a);
  if (a.ndim() != 4) shape_error("permute_0213", "needs a 4-D tensor, got " + a.shape().str());
  Tensor out = Tensor::empty(Shape{a.size(0), a.size(2), a.size(1), a.size(3)}, a.device());
  AHA_DISPATCH(a.device(), permute_0213(a.data(), out.data(), a.size(0), a.size(1), a.size(2), a.size(3)));
  return out;
}

Tensor concat0(const std::vector<Tensor>& parts) {
  if (parts.empty()) shape_error("concat0", "no tensors to concatenate");
  const Tensor& first = parts[0];
  check_defined("concat0", first);
  check_min_dims("concat0", first, 1);
  int64_t rows = 0;
  for (const Tensor& p : parts) {
    same_device("concat0", first, p);
    bool fits = p.ndim() == first.ndim();
    for (int i = 1; fits && i < first.ndim(); ++i) fits = p.size(i) == first.size(i);
    if (!fits) shape_error("concat0", "shapes " + shapes(first, p) + " differ beyond dim 0");
    rows += p.size(0);
  }
  Shape out_shape = first.shape();
  out_shape.dims[0] = rows;
  Tensor out = Tensor::empty(out_shape, first.device());
  int64_t offset = 0;
  for (const Tensor& p : parts) {
    if (p.numel() > 0) AHA_DISPATCH(first.device(), copy(out.data() + offset, p.data(), p.numel()));
    offset += p.numel();
  }
  return out;
}

Tensor slice0(const Tensor& a, int64_t start, int64_t end) {
  check_defined("slice0", a);
  check_min_dims("slice0", a, 1);
  if (start < 0 || end < start || end > a.size(0))
    shape_error("slice0", "rows [" + std::to_string(start) + ", " + std::to_string(end) +
                              ") out of range for " + a.shape().str());
  Shape out_shape = a.shape();
  out_shape.dims[0] = end - start;
  Tensor out = Tensor::empty(out_shape, a.device());
  int64_t row = a.size(0) == 0 ? 0 : a.numel() / a.size(0);
  if (out.numel() > 0) AHA_DISPATCH(a.device(), copy(out.data(), a.data() + start * row, out.numel()));
  return out;
}

Tensor causal_mask(const Tensor& scores, float fill) {
  check_defined("causal_mask", scores);
  check_min_dims("causal_mask", scores, 2);
  int64_t Tq = scores.size(-2), Tk = scores.size(-1);
  if (Tq > Tk)
    shape_error("causal_mask", "more queries than keys in " + scores.shape().str());
  Tensor out = Tensor::empty(scores.shape(), scores.device());
  int64_t batch = Tq * Tk == 0 ? 0 : scores.numel() / (Tq * Tk);
  AHA_DISPATCH(scores.device(), causal_mask(scores.data(), out.data(), batch, Tq, Tk, fill));
  return out;
}

// ---- in place ----

void fill_(Tensor& a, float value) {
  check_defined("fill_", a);
  if (a.numel() > 0) AHA_DISPATCH(a.device(), fill(a.data(), a.numel(), value));
}

void axpy_(Tensor& a, float alpha, const Tensor& b) {
  Device dev = same_device("axpy_", a, b);
  if (a.numel() != b.numel()) shape_error("axpy_", "sizes differ: " + shapes(a, b));
  AHA_DISPATCH(dev, axpy(a.data(), b.data(), a.numel(), alpha));
}

void add_(Tensor& a, const Tensor& b) {
  Device dev = same_device("add_", a, b);
  if (a.numel() != b.numel()) shape_error("add_", "sizes differ: " + shapes(a, b));
  if (a.dtype() != b.dtype())
    shape_error("add_", std::string("dtypes differ: ") + dtype_name(a.dtype()) + " += " + dtype_name(b.dtype()));
  if (a.dtype() == DType::BF16) AHA_DISPATCH(dev, add_bf16_(a.data_bf16(), b.data_bf16(), a.numel()));
  else AHA_DISPATCH(dev, axpy(a.data(), b.data(), a.numel(), 1.0f));
}

void mul_scalar_(Tensor& a, float s) {
  check_defined("mul_scalar_", a);
  AHA_DISPATCH(a.device(), affine(a.data(), a.data(), a.numel(), s, 0.0f));
}

void adamw_step_(Tensor& param, const Tensor& grad, Tensor& m, Tensor& v, const AdamWParams& hp) {
  const char* op = "adamw_step_";
  Device dev = same_device(op, param, grad);
  same_device(op, param, m);
  same_device(op, param, v);
  check_same_shape(op, param, grad);
  check_same_shape(op, param, m);
  check_same_shape(op, param, v);
  if (hp.step < 1) shape_error(op, "step must be >= 1 (bias correction), got " + std::to_string(hp.step));
  AHA_DISPATCH(dev, adamw(param.data(), grad.data(), m.data(), v.data(), param.numel(), hp));
}

// ---- multi-tensor optimiser ops ----

// Every tensor defined, float32 and on `dev`; returns their pointers and sizes.
static std::vector<float*> list_data(const char* op, const std::vector<Tensor>& tensors, Device dev,
                                     std::vector<int64_t>& sizes) {
  std::vector<float*> data;
  sizes.clear();
  for (const Tensor& t : tensors) {
    check_defined(op, t);
    if (t.device() != dev) shape_error(op, "tensors on different devices");
    data.push_back(const_cast<Tensor&>(t).data());  // the op says whether it writes
    sizes.push_back(t.numel());
  }
  return data;
}

Tensor sum_squares_all(const std::vector<Tensor>& tensors) {
  const char* op = "sum_squares_all";
  if (tensors.empty()) shape_error(op, "no tensors");
  const Device dev = tensors[0].device();
  std::vector<int64_t> sizes;
  const std::vector<float*> data = list_data(op, tensors, dev, sizes);
  Tensor out = Tensor::empty(Shape{}, dev);
  AHA_DISPATCH(dev, sum_squares_list(std::vector<const float*>(data.begin(), data.end()), sizes, out.data()));
  return out;
}

void mul_scalar_all_(const std::vector<Tensor>& tensors, float s) {
  if (tensors.empty()) return;
  const Device dev = tensors[0].device();
  std::vector<int64_t> sizes;
  const std::vector<float*> data = list_data("mul_scalar_all_", tensors, dev, sizes);
  AHA_DISPATCH(dev, scale_list(data, sizes, s));
}

void adamw_step_all_(const std::vector<Tensor>& params, const std::vector<Tensor>& grads,
                     const std::vector<Tensor>& m, const std::vector<Tensor>& v,
                     const std::vector<float>& weight_decay, const AdamWParams& hp) {
  const char* op = "adamw_step_all_";
  const size_t n = params.size();
  if (grads.size() != n || m.size() != n || v.size() != n || weight_decay.size() != n)
    shape_error(op, "the lists of params, grads, m, v and weight decays differ in length");
  if (hp.step < 1) shape_error(op, "step must be >= 1 (bias correction), got " + std::to_string(hp.step));
  if (n == 0) return;
  const Device dev = params[0].device();
  std::vector<int64_t> sizes;
  const std::vector<float*> p = list_data(op, params, dev, sizes), g = list_data(op, grads, dev, sizes),
                            mm = list_data(op, m, dev, sizes), vv = list_data(op, v, dev, sizes);
  std::vector<AdamWSlot> slots;
  for (size_t i = 0; i < n; ++i) {
    check_same_shape(op, params[i], grads[i]);
    check_same_shape(op, params[i], m[i]);
    check_same_shape(op, params[i], v[i]);
    slots.push_back({p[i], g[i], mm[i], vv[i], params[i].numel(), weight_decay[i]});
  }
  AHA_DISPATCH(dev, adamw_list(slots, hp));
}

}  // namespace aha

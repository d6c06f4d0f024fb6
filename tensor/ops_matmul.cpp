// Matrix products and the fused linear layer (tensor/ops.h "matrix products"):
// shape checks, output allocation and backend dispatch; the arithmetic is in
// tensor/cpu/matmul.cpp and tensor/cuda/matmul.cu.
#include <string>
#include <utility>
#include <vector>

#include "tensor/ops_checks.h"

namespace aha {

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

}  // namespace aha

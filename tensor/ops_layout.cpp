// The bf16 cast and the layout ops (transpose, permute, concat, slice, causal
// mask). Shape checks, output allocation and backend dispatch; the arithmetic
// is in tensor/cpu/bf16.cpp, layout.cpp and their tensor/cuda/ siblings.
#include <string>
#include <utility>
#include <vector>

#include "tensor/ops_checks.h"

namespace aha {

// ---- bf16 ----

Tensor cast(const Tensor& x, DType dtype) {
  check_defined("cast", x);
  if (x.dtype() == dtype) return x;
  Tensor y = Tensor::empty(x.shape(), x.device(), dtype);
  if (dtype == DType::BF16) AHA_DISPATCH(x.device(), cast_to_bf16(x.data(), y.data_bf16(), x.numel()));
  else AHA_DISPATCH(x.device(), cast_to_f32(x.data_bf16(), y.data(), x.numel()));
  return y;
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

}  // namespace aha

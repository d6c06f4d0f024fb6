// Layout ops move numbers without changing them, so each backward moves the
// gradient back the inverse way: un-reshape, un-transpose, un-concatenate.
// cast changes only how each number is stored (fp32 or bf16); its gradient
// goes back in the input's dtype.
#include <cmath>

#include "autograd/ops.h"

namespace aha {

// y = a viewed as `shape` (same storage):  da = dy viewed as a's shape
Var reshape(const Var& a, const Shape& shape) {
  return make_result(a.value().reshape(shape), "reshape", {a}, [](Node& self) {
    Node& na = *self.parents[0];
    const Tensor dx = take_grad(self).reshape(na.value.shape());  // the same storage, no copy
    accumulate_grad(na, dx);
  });
}

// y = a in `dtype` (rounded to bf16, or widened to fp32):  da = dy in a's dtype.
// The rounding's derivative is taken as 1 (the straight-through rule of every
// mixed-precision scheme: rounding is a storage choice, not part of the model).
Var cast(const Var& a, DType dtype) {
  return make_result(cast(a.value(), dtype), "cast", {a}, [](Node& self) {
    Node& na = *self.parents[0];
    accumulate_grad(na, cast(take_grad(self), na.value.dtype()));
  });
}

// y[.., j, i] = a[.., i, j]:  da = transpose_last2(dy)
Var transpose_last2(const Var& a) {
  return make_result(transpose_last2(a.value()), "transpose_last2", {a}, [](Node& self) {
    accumulate_grad(*self.parents[0], transpose_last2(self.grad));
  });
}

// y[a, c, b, d] = x[a, b, c, d]: swapping dims 1 and 2 twice is the identity, so
// dx = permute_0213(dy)
Var permute_0213(const Var& a) {
  return make_result(permute_0213(a.value()), "permute_0213", {a}, [](Node& self) {
    accumulate_grad(*self.parents[0], permute_0213(self.grad));
  });
}

// y = [p_0; p_1; ..] along dim 0:  dp_k = rows of dy from offset_k to offset_k + rows(p_k)
Var concat0(const std::vector<Var>& parts) {
  std::vector<Tensor> values;
  values.reserve(parts.size());
  for (const Var& p : parts) values.push_back(p.value());
  return make_result(concat0(values), "concat0", parts, [](Node& self) {
    int64_t offset = 0;
    for (const auto& parent : self.parents) {
      int64_t rows = parent->value.size(0);
      if (parent->requires_grad) accumulate_grad(*parent, slice0(self.grad, offset, offset + rows));
      offset += rows;
    }
  });
}

// y = a[start:end] along dim 0:  da = dy in rows [start, end), zero elsewhere
Var slice0(const Var& a, int64_t start, int64_t end) {
  return make_result(slice0(a.value(), start, end), "slice0", {a}, [start, end](Node& self) {
    Node& na = *self.parents[0];
    Shape before = na.value.shape(), after = na.value.shape();
    before.dims[0] = start;
    after.dims[0] = na.value.size(0) - end;
    Device dev = na.value.device();
    accumulate_grad(na, concat0({Tensor::zeros(before, dev), self.grad, Tensor::zeros(after, dev)}));
  });
}

// Attention's causal mask: y = scores where key j <= query i (+ Tk - Tq), -inf
// for future keys, so softmax gives them zero weight. The kept entries pass dy
// through; the masked ones are constants, so their gradient is zero, which is
// the same mask applied to dy with fill 0.
Var causal_mask(const Var& scores) {
  return make_result(causal_mask(scores.value(), -INFINITY), "causal_mask", {scores}, [](Node& self) {
    accumulate_grad(*self.parents[0], causal_mask(self.grad, 0.0f));
  });
}

}  // namespace aha
